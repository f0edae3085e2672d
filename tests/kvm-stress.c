/* kvm-stress.c - a real KVM guest on vmsync's pager under a storm: vCPUs
 * run the verify workload (every read checked in the guest) over RAM four
 * times the resident budget, while the host discards, pages out, reads
 * ahead, cools pages and churns a memslot.  At the end the host reads all
 * of guest RAM back against the guest's own tables.  Seeded and bounded;
 * skips (77) where /dev/kvm or userfaultfd cannot be used.
 *
 *   --seconds N   how long (20)       --seed N      host and guest seeds (1)
 *   --vcpus N     (2)                 --ram-mib N   guest RAM (32)
 *   --overcommit N  RAM / budget (4)  --race-ns N   widen race windows
 *   --inject SITE:N  fail the Nth call of a fault site (debug builds): the
 *                 run must then stop with that error and no lost data */
#define _GNU_SOURCE
#include "test.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "kvm/kvm.h"

struct opts {
	unsigned seconds, vcpus, ram_mib, overcommit;
	uint64_t seed, race_ns;
	const char *inject;
};

struct run {
	struct opts o;
	struct kvm_vm *vm;
	struct vms_kvm_pager *pg;
	atomic_bool done;
	uint64_t t0, deadline;
	_Atomic uint64_t reads, writes, zero_reads, mismatches, host_ops;
};

static void report_mismatches(struct run *r, struct kvm_vcpu_mbox *mb,
			      unsigned id)
{
	double after = (double)(vms_now_ns() - r->t0) / 1e9;

	for (uint64_t i = 0; i < mb->mismatches && i < KVM_MISMATCHES; i++)
		fprintf(stderr, "MISMATCH vcpu %u gpa %#" PRIx64 " expected %#"
			PRIx64 " got %#" PRIx64 " (after %.2f s)\n", id,
			mb->first[i].gpa, mb->first[i].expected,
			mb->first[i].got, after);
	atomic_store(&r->done, true);
}

static void *vcpu_main(void *arg)
{
	struct kvm_vcpu *v = arg;
	struct run *r = (struct run *)v->vm->priv;
	struct kvm_vcpu_mbox *mb = &v->vm->mbox[v->id];

	for (uint64_t round = 0; !atomic_load(&r->done); round++) {
		*mb = (struct kvm_vcpu_mbox){
			.workload = KVM_WL_VERIFY, .id = v->id,
			.nr_owners = r->o.vcpus, .write_pct = 40,
			.seed = r->o.seed * 1000003 + round * 64 + v->id,
			.ops = 4096, .ram_pages = v->vm->ram_pages,
			.zipf_buckets = mb->zipf_buckets };
		enum kvm_vcpu_exit e = kvm_vcpu_run(v);

		atomic_fetch_add(&r->reads, mb->reads);
		atomic_fetch_add(&r->writes, mb->writes);
		atomic_fetch_add(&r->zero_reads, mb->zero_reads);
		if (mb->mismatches) {
			atomic_fetch_add(&r->mismatches, mb->mismatches);
			report_mismatches(r, mb, v->id);
		}
		if (e != KVM_VCPU_DONE) {
			if (e != KVM_VCPU_STOPPED)
				fprintf(stderr, "vcpu %u: exit %d at %#" PRIx64
					"\n", v->id, e, v->exit_gpa);
			break;
		}
		if (vms_now_ns() > r->deadline || atomic_load(&r->done))
			break;
	}
	return NULL;
}

static int advise(struct run *r, uint64_t p, uint64_t n, int advice)
{
	return vms_kvm_pager_advise(r->pg, (uintptr_t)r->vm->ram + p * VMS_PAGE_SIZE,
				    n * VMS_PAGE_SIZE, advice);
}

/* The host's discard, as the guest's oracle expects it: the count odd
 * while it runs. */
static void discard(struct run *r, uint64_t p, uint64_t n)
{
	struct kvm_tables *t = &r->vm->tables;

	for (uint64_t i = p; i < p + n; i++)
		__atomic_fetch_add(&t->discard[i], 1, __ATOMIC_SEQ_CST);
	CHECK_OK(advise(r, p, n, VMS_MADV_DONTNEED));
	for (uint64_t i = p; i < p + n; i++)
		__atomic_fetch_add(&t->discard[i], 1, __ATOMIC_SEQ_CST);
}

static void *host_main(void *arg)
{
	struct run *r = arg;
	uint64_t seed = r->o.seed, pages = r->vm->ram_pages;
	void *extra = aligned_alloc(VMS_PAGE_SIZE, 64 * VMS_PAGE_SIZE);
	bool slot_there = false;

	CHECK(extra, "out of memory");
	while (!atomic_load(&r->done) && vms_now_ns() < r->deadline &&
	       !atomic_load(&r->vm->error)) {
		uint64_t x = t_rand(&seed), n = 1 + (x >> 8) % 16;
		uint64_t p = (x >> 16) % (pages - n);

		switch (x % 8) {
		case 0:
			discard(r, p, n);
			break;
		case 1:
		case 2:
			CHECK_OK(advise(r, p, n, VMS_MADV_PAGEOUT));
			break;
		case 3: {
			int e = advise(r, p, n, VMS_MADV_WILLNEED);

			CHECK(e == 0 || e == -EIO, "willneed: %d", e);
			break;
		}
		case 4:
			CHECK_OK(advise(r, p, n, VMS_MADV_COLD));
			break;
		case 5:
			/* A memslot comes, moves and goes while vCPUs run. */
			CHECK_OK(kvm_vm_set_extra_slot(
				r->vm, (3ull << 30) + ((x >> 40) % 8) * (1 << 21),
				slot_there && (x >> 4) % 3 == 0 ? 0 : 64, extra));
			slot_there = !(slot_there && (x >> 4) % 3 == 0);
			break;
		default: {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			break;
		}
		}
		atomic_fetch_add(&r->host_ops, 1);
	}
	if (slot_there)
		CHECK_OK(kvm_vm_set_extra_slot(r->vm, 0, 0, extra));
	free(extra);
	return NULL;
}

/* Every page, read by the host through the pager, against the guest's
 * tables: its last generation, or zero after a discard since. */
static uint64_t host_check(struct run *r)
{
	struct kvm_tables *t = &r->vm->tables;
	uint64_t bad = 0;

	for (uint64_t p = 0; p < r->vm->ram_pages; p++) {
		const volatile uint64_t *w =
			(const volatile uint64_t *)(r->vm->ram + p * VMS_PAGE_SIZE);
		bool discarded = t->discard[p] != t->seen[p];

		for (unsigned i = 0; i < KVM_PAGE_WORDS; i++) {
			uint64_t want = kvm_word(p, t->gen[p], i), got = w[i];

			if (got == want || (discarded && got == 0 &&
					    (i == 0 || w[0] == 0)))
				continue;
			if (bad++ < 8)
				fprintf(stderr, "MISMATCH host page %" PRIu64
					" word %u expected %#" PRIx64 " got %#"
					PRIx64 "\n", p, i, want, got);
			break;
		}
	}
	return bad;
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "seconds", 1, 0, 's' }, { "seed", 1, 0, 'S' },
		{ "vcpus", 1, 0, 'v' }, { "ram-mib", 1, 0, 'm' },
		{ "overcommit", 1, 0, 'o' }, { "race-ns", 1, 0, 'r' },
		{ "inject", 1, 0, 'i' }, { 0, 0, 0, 0 }
	};
	int c;

	*o = (struct opts){ .seconds = 20, .vcpus = 2, .ram_mib = 32,
			    .overcommit = 4, .seed = 1 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long long v = optarg ? strtoull(optarg, NULL, 0) : 0;

		switch (c) {
		case 's': o->seconds = (unsigned)v; break;
		case 'S': o->seed = v; break;
		case 'v': o->vcpus = (unsigned)v; break;
		case 'm': o->ram_mib = (unsigned)v; break;
		case 'o': o->overcommit = (unsigned)v; break;
		case 'r': o->race_ns = v; break;
		case 'i': o->inject = optarg; break;
		default: exit(2);
		}
	}
	CHECK(o->vcpus >= 1 && o->vcpus <= KVM_MAX_VCPUS && o->ram_mib >= 2 &&
	      o->ram_mib % 2 == 0 && o->overcommit >= 1 && o->seconds >= 1,
	      "bad options");
}

/* --inject SITE:N: that call fails, and from then on. */
static int arm_injection(const char *spec)
{
#ifdef VMS_DEBUG
	char name[32];
	unsigned long long nth;

	CHECK(sscanf(spec, "%31[a-z-]:%llu", name, &nth) == 2 && nth,
	      "--inject wants SITE:N");
	for (int s = 0; s < VMS_FAULT_NR; s++)
		if (!strcmp(vms_fault_name(s), name)) {
			vms_fault_arm(s, nth, true);
			return s;
		}
	CHECK(0, "no fault site '%s'", name);
#else
	(void)spec;
	printf("skip: --inject needs a debug build\n");
	exit(T_SKIP);
#endif
	return -1;
}

int main(int argc, char **argv)
{
	struct run r = { 0 };
	const char *why = kvm_unavailable();
	struct vms_swap_backend *be;
	pthread_t vt[KVM_MAX_VCPUS], ht;

	parse(argc, argv, &r.o);
	if (why) {
		printf("skip: %s\n", why);
		return T_SKIP;
	}
	uint64_t ram = (uint64_t)r.o.ram_mib << 20, pages = ram >> 12;
	CHECK_OK(kvm_vm_create(ram, r.o.vcpus, 0, &r.vm));
	CHECK_OK(vms_swap_file_create(NULL, (pages + 64) * VMS_PAGE_SIZE, true,
				      &be));
	uint64_t budget = pages / r.o.overcommit;
	int e = kvm_vm_attach_pager(r.vm, budget * VMS_PAGE_SIZE, be);
	if (e == -EPERM || e == -ENOSYS || e == -EINVAL) {
		printf("skip: userfaultfd with UFFDIO_MOVE unavailable: %s\n",
		       strerror(-e));
		return T_SKIP;
	}
	CHECK_OK(e);
	r.pg = r.vm->pager;
	r.vm->priv = &r;
#ifdef VMS_DEBUG
	atomic_store(&vms_race_ns, r.o.race_ns);
#endif
	int site = r.o.inject ? arm_injection(r.o.inject) : -1;
	uint64_t t0 = r.t0 = vms_now_ns();

	r.deadline = t0 + (uint64_t)r.o.seconds * 1000000000ull;
	t_watchdog(r.o.seconds + 60, "kvm-stress: the guest or the host hung");
	for (unsigned i = 0; i < r.o.vcpus; i++)
		CHECK_EQ(pthread_create(&vt[i], NULL, vcpu_main,
					&r.vm->vcpus[i]), 0);
	CHECK_EQ(pthread_create(&ht, NULL, host_main, &r), 0);
	pthread_join(ht, NULL);
	for (unsigned i = 0; i < r.o.vcpus; i++)
		pthread_join(vt[i], NULL);
	atomic_store(&r.done, true);
	double secs = (double)(vms_now_ns() - t0) / 1e9;
	int err = atomic_load(&r.vm->error);
#ifdef VMS_DEBUG
	atomic_store(&vms_race_ns, 0);
	vms_fault_disarm();
#endif
	/* Even after a fail-stop no page may be lost: the handlers still
	 * serve the host's reads. */
	uint64_t host_bad = host_check(&r);
	struct vms_kvm_pager_stats st;

	vms_kvm_pager_stats(r.pg, &st);
	printf("kvm-stress: %.1f s, %u vCPUs, %" PRIu64 " pages on a budget of %"
	       PRIu64 "\n", secs, r.o.vcpus, pages, budget);
	printf("  guest: %" PRIu64 " verified page reads, %" PRIu64
	       " writes, %" PRIu64 " discarded pages read as zero\n",
	       r.reads, r.writes, r.zero_reads);
	printf("  pager: %" PRIu64 " evictions (%" PRIu64 " written, %" PRIu64
	       " clean drops), %.0f refaults/s, faults zero %" PRIu64
	       " backend %" PRIu64 " raced %" PRIu64 ", read-ahead %" PRIu64
	       ", mean fault %.1f us\n",
	       st.evictions, st.writes, st.clean_drops,
	       (double)(st.faults_zero + st.faults_backend) / secs,
	       st.faults_zero, st.faults_backend, st.faults_raced, st.readahead,
	       st.faults_zero + st.faults_backend
		       ? (double)st.fault_ns / 1e3 /
				 (double)(st.faults_zero + st.faults_backend)
		       : 0.0);
	printf("  host: %" PRIu64 " operations; mismatches: guest %" PRIu64
	       ", host check %" PRIu64 "\n", r.host_ops, r.mismatches, host_bad);
	kvm_vm_destroy(r.vm);
	t_watchdog(0, "");
	if (r.mismatches || host_bad)
		return 1;
	if (site >= 0) {
		/* A page that cannot be had stops the run with the error; a
		 * write that failed leaves its page resident, and it goes on. */
		if (site != VMS_FAULT_SWAP_WRITE)
			CHECK(err != 0, "an injected %s failure did not stop "
			      "the run", r.o.inject);
		printf("  %s: %s\n", r.o.inject,
		       err ? strerror(-err) : "the run went on");
		t_passed++;
		return T_DONE();
	}
	CHECK(err == 0, "the pager failed: %s", strerror(-err));
	CHECK(st.evictions > 0 && st.faults_backend > 0,
	      "nothing was paged: %" PRIu64 " evictions", st.evictions);
	t_passed++;
	return T_DONE();
}
