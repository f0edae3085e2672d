/* kvm_drive.c - what drives a real KVM guest for `vmsync run --kvm` and
 * kvm-stress alike: vCPU threads that run the guest program's commands
 * and gather its results, and the host's storm on guest RAM (discards as
 * the guest's oracle expects them, page-outs, read-backs, cooling, a
 * memslot that comes, moves and goes, a range made read-only a while). */
#define _GNU_SOURCE
#include "tool/kvm_drive.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tool/tool.h"

static struct kvm_drive *drive_of(struct kvm_vm *vm)
{
	return vm->priv;
}

static void note_mismatches(struct kvm_drive *d, struct kvm_vcpu_mbox *mb)
{
	pthread_mutex_lock(&d->report_lock);
	for (uint64_t i = 0; i < mb->mismatches && i < KVM_MISMATCHES; i++)
		if (d->nr_reported < KVM_DRIVE_REPORTED)
			d->reported[d->nr_reported++] = mb->first[i];
	if (!d->first_mismatch_ns)
		d->first_mismatch_ns = tool_now_ns();
	pthread_mutex_unlock(&d->report_lock);
	atomic_fetch_add(&d->mismatches, mb->mismatches);
	atomic_store(&d->stop, true);
}

/* KVM_RUN to the doorbell; a write refused because the churn had the
 * range read-only waits for the rights to come back and is retried (the
 * guest's instruction restarts), as a VMM would. */
static enum kvm_vcpu_exit run_through_protection(struct kvm_drive *d,
						 struct kvm_vcpu *v)
{
	for (;;) {
		unsigned g0 = atomic_load(&d->wp_gen);
		enum kvm_vcpu_exit e = kvm_vcpu_run(v);
		unsigned g = atomic_load(&d->wp_gen);

		if (e != KVM_VCPU_EFAULT || (!(g0 & 1) && g == g0))
			return e;
		/* Refused under a protection, and the run is over. */
		if (d->deadline_ns && tool_now_ns() >= d->deadline_ns)
			return KVM_VCPU_STOPPED;
		atomic_fetch_add(&d->refused, 1);
		while ((atomic_load(&d->wp_gen) & 1) && !atomic_load(&d->stop))
			sched_yield();
		if (atomic_load(&d->stop))
			return KVM_VCPU_STOPPED;
	}
}

void *kvm_drive_vcpu(void *arg)
{
	struct kvm_vcpu *v = arg;
	struct kvm_drive *d = drive_of(v->vm);
	struct kvm_vcpu_mbox *mb = &v->vm->mbox[v->id];

	for (uint64_t round = 0; !atomic_load(&d->stop); round++) {
		uint64_t chunk = d->workload == KVM_WL_IDLE ? 0 : 4096;

		*mb = (struct kvm_vcpu_mbox){
			.workload = d->workload, .id = v->id,
			.nr_owners = v->vm->nr_vcpus, .write_pct = d->write_pct,
			.seed = d->seed * 1000003 + round * 64 + v->id,
			.ops = chunk, .ram_pages = v->vm->ram_pages,
			.zipf_buckets = mb->zipf_buckets };
		enum kvm_vcpu_exit e = run_through_protection(d, v);

		atomic_fetch_add(&d->reads, mb->reads);
		atomic_fetch_add(&d->writes, mb->writes);
		atomic_fetch_add(&d->zero_reads, mb->zero_reads);
		uint64_t n = atomic_fetch_add(&d->ops, mb->done_ops) +
			     mb->done_ops;
		if (mb->mismatches)
			note_mismatches(d, mb);
		if (e != KVM_VCPU_DONE) {
			if (e != KVM_VCPU_STOPPED) {
				fprintf(stderr, "vmsync: vCPU %u: %s at %#llx\n",
					v->id,
					e == KVM_VCPU_NO_SLOT ? "no memslot"
					: e == KVM_VCPU_EFAULT ? "the host refused an access"
							       : "the guest crashed",
					(unsigned long long)v->exit_gpa);
				d->vcpu_exit = e;
				atomic_store(&d->stop, true);
			}
			break;
		}
		if ((d->ops_limit && n >= d->ops_limit) ||
		    (d->deadline_ns && tool_now_ns() >= d->deadline_ns))
			atomic_store(&d->stop, true);
	}
	return NULL;
}

/* Ends the run: no new command, and the running ones (idle runs until
 * stopped) leave KVM_RUN at a kick.  The mailboxes stay their vCPU
 * threads' alone. */
void kvm_drive_stop(struct kvm_drive *d)
{
	atomic_store(&d->stop, true);
	kvm_vm_kick_all(d->vm);
}

static int advise(struct kvm_drive *d, uint64_t p, uint64_t n, int advice)
{
	return vms_kvm_pager_advise(d->vm->pager,
				    (uintptr_t)d->vm->ram + p * VMS_PAGE_SIZE,
				    n * VMS_PAGE_SIZE, advice);
}

/* A discard (DONTNEED or FREE) as the guest's oracle expects it: the
 * page's count odd while it runs. */
static int discard(struct kvm_drive *d, uint64_t p, uint64_t n, int advice)
{
	struct kvm_tables *t = &d->vm->tables;

	for (uint64_t i = p; i < p + n; i++)
		__atomic_fetch_add(&t->discard[i], 1, __ATOMIC_SEQ_CST);
	int r = advise(d, p, n, advice);
	for (uint64_t i = p; i < p + n; i++)
		__atomic_fetch_add(&t->discard[i], 1, __ATOMIC_SEQ_CST);
	return r;
}

const char *const kvm_host_op_names[KVM_HOST_OPS] = {
	"dontneed", "pageout", "willneed", "cold", "slot-churn", "free",
	"mprotect",
};

static int slot_churn(struct kvm_drive *d, uint64_t x, void *extra,
		      bool *there)
{
	bool drop = *there && (x >> 4) % 3 == 0;
	uint64_t gpa = (3ull << 30) + ((x >> 40) % 8) * (2ull << 20);
	int r = kvm_vm_set_extra_slot(d->vm, gpa, drop ? 0 : 64, extra);

	if (!r)
		*there = !drop;
	return r;
}

/* Read-only for a moment: reads go on, writes wait. */
static int protect_a_while(struct kvm_drive *d, uint64_t p, uint64_t n)
{
	uint8_t *at = d->vm->ram + p * VMS_PAGE_SIZE;
	struct timespec ts = { 0, 100000 };
	int r;

	atomic_fetch_add(&d->wp_gen, 1);
	r = mprotect(at, n * VMS_PAGE_SIZE, PROT_READ) ? -errno : 0;
	nanosleep(&ts, NULL);
	if (mprotect(at, n * VMS_PAGE_SIZE, PROT_READ | PROT_WRITE) && !r)
		r = -errno;
	atomic_fetch_add(&d->wp_gen, 1);
	return r;
}

void *kvm_drive_churn(void *arg)
{
	struct kvm_drive *d = arg;
	uint64_t seed = d->seed ^ 0x5eed, pages = d->vm->ram_pages;
	void *extra = aligned_alloc(VMS_PAGE_SIZE, 64 * VMS_PAGE_SIZE);
	bool there = false;
	int r = extra ? 0 : -ENOMEM;

	/* Its own deadline too: the vCPUs may be waiting for it. */
	while (!r && !atomic_load(&d->stop) && !atomic_load(&d->vm->error) &&
	       (!d->deadline_ns || tool_now_ns() < d->deadline_ns)) {
		uint64_t x = tool_rand(&seed), n = 1 + (x >> 8) % 16;
		uint64_t p = (x >> 16) % (pages - n);
		unsigned op = (unsigned)(x % 8);

		switch (op) {
		case 0:
			/* DONTNEED, or FREE every other time. */
			if ((x >> 5) & 1)
				op = 5;
			if (d->discards)
				r = discard(d, p, n, op ? VMS_MADV_FREE
							: VMS_MADV_DONTNEED);
			break;
		case 1:
		case 2:
			op = 1;
			r = advise(d, p, n, VMS_MADV_PAGEOUT);
			break;
		case 3:
			op = 2;
			r = advise(d, p, n, VMS_MADV_WILLNEED);
			if (r == -EIO)
				r = 0;  /* the page stays swapped */
			break;
		case 4:
			op = 3;
			r = advise(d, p, n, VMS_MADV_COLD);
			break;
		case 5:
			op = 4;
			r = slot_churn(d, x, extra, &there);
			break;
		case 6:
			op = 6;
			r = protect_a_while(d, p, n);
			break;
		default: {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
			continue;
		}
		}
		if ((op != 0 && op != 5) || d->discards)
			atomic_fetch_add(&d->host_ops[op], 1);
	}
	if (there && !r)
		r = kvm_vm_set_extra_slot(d->vm, 0, 0, extra);
	/* The pager failed the VM (and says so): not the host's failure. */
	if (r && atomic_load(&d->vm->error))
		r = 0;
	if (r) {
		fprintf(stderr, "vmsync: host operation failed: %s\n",
			strerror(-r));
		d->host_error = r;
		atomic_store(&d->stop, true);
	}
	free(extra);
	return NULL;
}
