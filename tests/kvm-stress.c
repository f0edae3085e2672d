/* kvm-stress.c - a real KVM guest on vmsync's pager under a storm: vCPUs
 * run the verify workload (every read checked in the guest) over RAM four
 * times the resident budget, while the host discards, frees, pages out,
 * reads ahead, cools pages, write-protects ranges a while and churns a
 * memslot.  At the end the host reads all of guest RAM back against the
 * guest's own tables.  Seeded and bounded; skips (77) where /dev/kvm or
 * userfaultfd cannot be used.
 *
 *   --seconds N   how long (20)       --seed N      host and guest seeds (1)
 *   --vcpus N     (2)                 --ram-mib N   guest RAM (32)
 *   --overcommit N  RAM / budget (4)  --race-ns N   widen race windows
 *   --inject SITE:N  fail the Nth call of a fault site (debug builds):
 *                 no data may be lost; a failed read or uffd call must
 *                 stop the run with its error (it runs until it does) */
#define _GNU_SOURCE
#include "test.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>

#include "tool/kvm_drive.h"

struct opts {
	unsigned seconds, vcpus, ram_mib, overcommit;
	uint64_t seed, race_ns;
	const char *inject;
};

struct run {
	struct opts o;
	struct kvm_vm *vm;
	struct kvm_drive d;
};

/* Every page, read by the host through the pager, against the guest's
 * tables: its last generation, or zero after a discard since. */
static uint64_t host_check(const struct run *r)
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
	r.d = (struct kvm_drive){ .vm = r.vm, .workload = KVM_WL_VERIFY,
				  .write_pct = 40, .seed = r.o.seed,
				  .discards = true };
	pthread_mutex_init(&r.d.report_lock, NULL);
	r.vm->priv = &r.d;
#ifdef VMS_DEBUG
	atomic_store(&vms_race_ns, r.o.race_ns);
#endif
	int site = r.o.inject ? arm_injection(r.o.inject) : -1;
	uint64_t t0 = vms_now_ns();

	/* A failing read or uffd call must stop the run, however long the
	 * guest takes to get to the failing call: such a run has no
	 * deadline but the watchdog's. */
	bool fail_stop = site == VMS_FAULT_SWAP_READ || site == VMS_FAULT_UFFD;
	if (!fail_stop)
		r.d.deadline_ns = t0 + (uint64_t)r.o.seconds * 1000000000ull;
	t_watchdog(r.o.seconds + 60, "kvm-stress: the guest or the host hung");
	for (unsigned i = 0; i < r.o.vcpus; i++)
		CHECK_EQ(pthread_create(&vt[i], NULL, kvm_drive_vcpu,
					&r.vm->vcpus[i]), 0);
	CHECK_EQ(pthread_create(&ht, NULL, kvm_drive_churn, &r.d), 0);
	for (unsigned i = 0; i < r.o.vcpus; i++)
		pthread_join(vt[i], NULL);
	kvm_drive_stop(&r.d);
	pthread_join(ht, NULL);
	double secs = (double)(vms_now_ns() - t0) / 1e9;
	int err = atomic_load(&r.vm->error);
#ifdef VMS_DEBUG
	atomic_store(&vms_race_ns, 0);
	vms_fault_disarm();
#endif
	for (unsigned i = 0; i < r.d.nr_reported; i++)
		fprintf(stderr, "MISMATCH gpa %#" PRIx64 " expected %#" PRIx64
			" got %#" PRIx64 " (after %.2f s)\n",
			r.d.reported[i].gpa, r.d.reported[i].expected,
			r.d.reported[i].got,
			(double)(r.d.first_mismatch_ns - t0) / 1e9);
	/* Even after a fail-stop no page may be lost: the handlers still
	 * serve the host's reads. */
	uint64_t host_bad = host_check(&r);
	struct vms_kvm_pager_stats st;
	uint64_t host_ops = 0;

	vms_kvm_pager_stats(r.vm->pager, &st);
	for (unsigned i = 0; i < KVM_HOST_OPS; i++)
		host_ops += r.d.host_ops[i];
	printf("kvm-stress: %.1f s, %u vCPUs, %" PRIu64 " pages on a budget of %"
	       PRIu64 "\n", secs, r.o.vcpus, pages, budget);
	printf("  guest: %" PRIu64 " verified page reads, %" PRIu64
	       " writes, %" PRIu64 " discarded pages read as zero\n",
	       r.d.reads, r.d.writes, r.d.zero_reads);
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
	printf("  aging: %" PRIu64 " pages sampled, %" PRIu64 " of them touched "
	       "and moved back\n", st.samples, st.faults_sampled);
	printf("  host: %" PRIu64 " operations, %" PRIu64 " guest writes "
	       "refused while read-only (then retried); mismatches: guest %"
	       PRIu64 ", host check %" PRIu64 "\n", host_ops, r.d.refused,
	       r.d.mismatches, host_bad);
	kvm_vm_destroy(r.vm);
	t_watchdog(0, "");
	if (r.d.mismatches || host_bad)
		return 1;
	CHECK(!r.d.host_error, "a host operation failed: %s",
	      strerror(-r.d.host_error));
	if (site >= 0) {
		/* A page that cannot be had back stops the run with the
		 * error; a write, a slot or a transfer that failed leaves its
		 * page resident (or finished), and the run goes on. */
		if (fail_stop)
			CHECK(err != 0, "an injected %s failure did not stop "
			      "the run", r.o.inject);
		printf("  %s: %s\n", r.o.inject,
		       err ? strerror(-err) : "the run went on");
		t_passed++;
		return T_DONE();
	}
	CHECK(err == 0, "the pager failed: %s", strerror(-err));
	CHECK_EQ(r.d.vcpu_exit, KVM_VCPU_DONE);
	CHECK(st.evictions > 0 && st.faults_backend > 0,
	      "nothing was paged: %" PRIu64 " evictions", st.evictions);
	t_passed++;
	return T_DONE();
}
