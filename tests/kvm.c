/* kvm.c - tests of real KVM guests piece by piece: the guest runtime and
 * its workloads on plain RAM, the exits a bad access ends in, the pager's
 * fault handling (zero pages, read-ahead runs), its dirty harvest (a page
 * read back is dropped clean, a page written is written again), DONTNEED
 * and the budget.  Skips (77) where /dev/kvm or userfaultfd cannot be
 * used. */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>
#include <sys/mman.h>

#include "kvm/kvm.h"

#define MIB (1ull << 20)

static bool have_uffd = true;

static void command(struct kvm_vm *vm, unsigned id, unsigned workload,
		    unsigned write_pct, uint64_t ops, uint64_t seed)
{
	struct kvm_vcpu_mbox *mb = &vm->mbox[id];

	*mb = (struct kvm_vcpu_mbox){ .workload = workload, .id = id,
				      .nr_owners = vm->nr_vcpus,
				      .write_pct = write_pct, .seed = seed,
				      .ops = ops, .ram_pages = vm->ram_pages,
				      .zipf_buckets = mb->zipf_buckets };
}

/* Runs vCPU @id's command to its end; its mismatches fail the test. */
static void run_checked(struct kvm_vm *vm, unsigned id)
{
	struct kvm_vcpu_mbox *mb = &vm->mbox[id];
	enum kvm_vcpu_exit e = kvm_vcpu_run(&vm->vcpus[id]);

	CHECK_EQ(e, KVM_VCPU_DONE);
	for (uint64_t i = 0; i < mb->mismatches && i < KVM_MISMATCHES; i++)
		fprintf(stderr, "gpa %#" PRIx64 " expected %#" PRIx64
			" got %#" PRIx64 "\n", mb->first[i].gpa,
			mb->first[i].expected, mb->first[i].got);
	CHECK_EQ(mb->mismatches, 0);
	CHECK_EQ(mb->done_ops, mb->ops);
}

/* One command on vCPU 0, to its end, checked. */
static void run_cmd(struct kvm_vm *vm, unsigned workload, unsigned write_pct,
		    uint64_t ops, uint64_t seed)
{
	command(vm, 0, workload, write_pct, ops, seed);
	run_checked(vm, 0);
}

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *v = arg;

	run_checked(v->vm, v->id);
	return NULL;
}

/* Each vCPU on a thread of its own, all at once. */
static void run_all(struct kvm_vm *vm)
{
	pthread_t t[KVM_MAX_VCPUS];

	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, vcpu_thread,
					&vm->vcpus[i]), 0);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		pthread_join(t[i], NULL);
}

/* ---- the guest runtime, on RAM the kernel pages ---- */

static void test_workloads(void)
{
	struct kvm_vm *vm;

	CHECK_OK(kvm_vm_create(8 * MIB, 2, 0, &vm));
	for (unsigned w = KVM_WL_VERIFY; w <= KVM_WL_STREAM; w++) {
		for (unsigned i = 0; i < 2; i++)
			command(vm, i, w, 30, 6000, w * 10 + i);
		run_all(vm);
		CHECK(vm->mbox[0].reads > 0 && vm->mbox[1].writes > 0,
		      "workload %u did nothing", w);
	}
	/* The guest's pages hold what its tables say, seen from the host. */
	for (uint64_t p = 0; p < vm->ram_pages; p++) {
		const uint64_t *w = (const uint64_t *)(vm->ram + p * 4096);

		CHECK(w[7] == kvm_word(p, vm->tables.gen[p], 7),
		      "page %" PRIu64, p);
	}
	kvm_vm_destroy(vm);
}

/* idle runs until told to stop; a command can be stopped while it runs. */
static void *stop_later(void *arg)
{
	struct kvm_vcpu_mbox *mb = arg;

	while (!mb->done_ops)
		sched_yield();
	mb->stop = 1;
	return NULL;
}

static void test_idle_and_stop(void)
{
	struct kvm_vm *vm;
	pthread_t t;

	CHECK_OK(kvm_vm_create(2 * MIB, 1, 0, &vm));
	command(vm, 0, KVM_WL_IDLE, 0, 0, 1);
	CHECK_EQ(pthread_create(&t, NULL, stop_later, &vm->mbox[0]), 0);
	CHECK_EQ(kvm_vcpu_run(&vm->vcpus[0]), KVM_VCPU_DONE);
	pthread_join(t, NULL);
	CHECK(vm->mbox[0].done_ops > 0, "idle ran no op");
	kvm_vm_destroy(vm);
}

/* A gpa no memslot holds is an exit naming it, not a hang. */
static void test_no_slot_exit(void)
{
	struct kvm_vm *vm;

	CHECK_OK(kvm_vm_create(2 * MIB, 1, 0, &vm));
	command(vm, 0, KVM_WL_STREAM, 100, 1, 1);
	vm->mbox[0].ram_pages = vm->ram_pages + 1024;   /* owns pages past RAM */
	vm->mbox[0].ops = vm->ram_pages + 1;
	CHECK_EQ(kvm_vcpu_run(&vm->vcpus[0]), KVM_VCPU_NO_SLOT);
	CHECK_EQ(vm->vcpus[0].exit_gpa & ~0xfffull,
		 KVM_RAM_GPA + (vm->ram_pages << 12));
	kvm_vm_destroy(vm);
}

/* ---- the pager ---- */

static struct kvm_vm *paged_vm(uint64_t ram, unsigned vcpus, uint64_t budget)
{
	struct vms_swap_backend *be;
	struct kvm_vm *vm;

	CHECK_OK(kvm_vm_create(ram, vcpus, 0, &vm));
	CHECK_OK(vms_swap_file_create(NULL, ram + 64 * 4096, true, &be));
	int r = kvm_vm_attach_pager(vm, budget, be);
	if (r == -EPERM || r == -ENOSYS || r == -EINVAL) {
		printf("skip: userfaultfd with UFFDIO_MOVE unavailable: %s\n",
		       strerror(-r));
		be->release(be);
		kvm_vm_destroy(vm);
		have_uffd = false;
		return NULL;
	}
	CHECK_OK(r);
	return vm;
}

/* A paged VM whose every page the guest wrote once. */
static struct kvm_vm *written_vm(uint64_t ram, uint64_t budget)
{
	struct kvm_vm *vm = paged_vm(ram, 1, budget);

	if (vm)
		run_cmd(vm, KVM_WL_STREAM, 100, vm->ram_pages, 1);
	return vm;
}

static void stats(struct kvm_vm *vm, struct vms_kvm_pager_stats *st)
{
	vms_kvm_pager_stats(vm->pager, st);
}

static int advise_all(struct kvm_vm *vm, int advice)
{
	return vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram,
				    vm->ram_pages << 12, advice);
}

/* First touches are zero pages without I/O; after a PAGEOUT a sequential
 * pass comes back in runs that grow, so far fewer faults than pages. */
static void test_zero_and_readahead(void)
{
	struct vms_kvm_pager_stats a, b;
	struct kvm_vm *vm = paged_vm(8 * MIB, 1, 8 * MIB);
	uint64_t pages;

	if (!vm)
		return;
	pages = vm->ram_pages;
	run_cmd(vm, KVM_WL_STREAM, 100, pages, 1);
	stats(vm, &a);
	CHECK_EQ(a.faults_backend, 0);
	CHECK(a.faults_zero > 0 && a.faults_zero < pages / 4,
	      "%" PRIu64 " zero faults for %" PRIu64 " pages", a.faults_zero,
	      pages);
	CHECK_EQ(a.resident, pages);

	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	stats(vm, &b);
	CHECK_EQ(b.resident, 0);
	CHECK_EQ(b.swapped, pages);
	CHECK_EQ(b.writes - a.writes, pages);
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 1);
	stats(vm, &a);
	CHECK(a.faults_backend - b.faults_backend < pages / 4,
	      "%" PRIu64 " backend faults for %" PRIu64 " pages",
	      a.faults_backend - b.faults_backend, pages);
	CHECK(a.readahead > b.readahead, "no read-ahead");
	kvm_vm_destroy(vm);
}

/* Harvest: pages the guest only read back have a good copy and go
 * without a write; pages it wrote are written again. */
static void test_dirty_harvest(void)
{
	struct vms_kvm_pager_stats a, b;
	struct kvm_vm *vm = written_vm(4 * MIB, 4 * MIB);

	if (!vm)
		return;
	uint64_t pages = vm->ram_pages;
	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 2);
	stats(vm, &a);
	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	stats(vm, &b);
	CHECK_EQ(b.evictions - a.evictions, pages);
	CHECK_EQ(b.clean_drops - a.clean_drops, pages);
	CHECK_EQ(b.writes, a.writes);

	run_cmd(vm, KVM_WL_STREAM, 100, pages / 2, 3);
	stats(vm, &a);
	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	stats(vm, &b);
	CHECK_EQ(b.writes - a.writes, pages / 2);
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 4);
	kvm_vm_destroy(vm);
}

/* DONTNEED reads as zeroes, swapped or resident; WILLNEED brings pages
 * back before the guest asks. */
static void test_dontneed_willneed(void)
{
	struct vms_kvm_pager_stats a, b;
	struct kvm_vm *vm = written_vm(4 * MIB, 4 * MIB);

	if (!vm)
		return;
	uint64_t pages = vm->ram_pages;
	CHECK_OK(vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram,
				      pages / 2 * 4096, VMS_MADV_PAGEOUT));
	/* Discard a quarter that is swapped and a quarter that is not,
	 * telling the guest as the oracle wants. */
	uint64_t from = pages / 4, n = pages / 2;
	for (uint64_t p = from; p < from + n; p++)
		vm->tables.discard[p] += 2;
	CHECK_OK(vms_kvm_pager_advise(vm->pager,
				      (uintptr_t)vm->ram + from * 4096,
				      n * 4096, VMS_MADV_DONTNEED));
	stats(vm, &a);
	CHECK_EQ(a.resident + a.swapped, pages - n);
	CHECK_OK(advise_all(vm, VMS_MADV_WILLNEED));
	stats(vm, &b);
	CHECK_EQ(b.swapped, 0);
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 2);
	CHECK_EQ(vm->mbox[0].zero_reads, n);
	stats(vm, &a);
	CHECK_EQ(a.faults_backend, b.faults_backend);   /* all read ahead */
	CHECK_EQ(vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram + 1, 4096,
				      VMS_MADV_DONTNEED), -EINVAL);
	CHECK_EQ(vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram, 4096,
				      VMS_MADV_NORMAL), -EINVAL);
	kvm_vm_destroy(vm);
}

/* FREE: pages written since come back, the others may go as zeroes - and
 * do, at a PAGEOUT, without I/O. */
static void test_free(void)
{
	struct vms_kvm_pager_stats a, b;
	struct kvm_vm *vm = written_vm(4 * MIB, 4 * MIB);

	if (!vm)
		return;
	uint64_t pages = vm->ram_pages;
	for (uint64_t p = 0; p < pages; p++)
		vm->tables.discard[p] += 2;
	CHECK_OK(advise_all(vm, VMS_MADV_FREE));
	run_cmd(vm, KVM_WL_STREAM, 100, pages / 2, 2);
	stats(vm, &a);
	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	stats(vm, &b);
	CHECK_EQ(b.lazyfree - a.lazyfree, pages - pages / 2);
	CHECK_EQ(b.writes - a.writes, pages / 2);
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 3);
	CHECK_EQ(vm->mbox[0].zero_reads, pages - pages / 2);
	kvm_vm_destroy(vm);
}

/* mprotect read-only under the pager: reads work, swapped pages too; a
 * write is an exit naming its gpa, not a hang. */
static void test_write_protect(void)
{
	struct kvm_vm *vm = written_vm(4 * MIB, 4 * MIB);

	if (!vm)
		return;
	uint64_t pages = vm->ram_pages;
	CHECK_OK(vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram,
				      pages / 2 * 4096, VMS_MADV_PAGEOUT));
	CHECK_OK(mprotect(vm->ram, pages * 4096, PROT_READ));
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 2);
	command(vm, 0, KVM_WL_STREAM, 100, 1, 3);
	CHECK_EQ(kvm_vcpu_run(&vm->vcpus[0]), KVM_VCPU_EFAULT);
	CHECK(vm->vcpus[0].exit_gpa == 0 || vm->vcpus[0].exit_gpa == KVM_RAM_GPA,
	      "exit at %#" PRIx64, vm->vcpus[0].exit_gpa);
	CHECK_OK(mprotect(vm->ram, pages * 4096, PROT_READ | PROT_WRITE));
	run_cmd(vm, KVM_WL_STREAM, 100, pages, 4);
	CHECK_EQ(vms_kvm_pager_error(vm->pager), 0);
	kvm_vm_destroy(vm);
}

/* A run of pages placed across an mprotect split (two VMAs: the kernel
 * places only within one, ENOENT otherwise) still comes back whole, by
 * WILLNEED and by faults, and the pager does not fail. */
static void test_place_across_protection(void)
{
	struct vms_kvm_pager_stats st;
	struct kvm_vm *vm = written_vm(4 * MIB, 4 * MIB);

	if (!vm)
		return;
	uint64_t pages = vm->ram_pages;
	uint8_t *split = vm->ram + 8 * 4096;

	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	CHECK_OK(mprotect(split, 8 * 4096, PROT_READ));
	CHECK_OK(advise_all(vm, VMS_MADV_WILLNEED));
	stats(vm, &st);
	CHECK_EQ(st.swapped, 0);
	CHECK_OK(mprotect(split, 8 * 4096, PROT_READ | PROT_WRITE));
	CHECK_OK(advise_all(vm, VMS_MADV_PAGEOUT));
	CHECK_OK(mprotect(split, 8 * 4096, PROT_READ));
	run_cmd(vm, KVM_WL_STREAM, 0, pages, 2);
	CHECK_EQ(vms_kvm_pager_error(vm->pager), 0);
	CHECK_OK(mprotect(split, 8 * 4096, PROT_READ | PROT_WRITE));
	kvm_vm_destroy(vm);
}

/* Two vCPUs over RAM four times the budget: the budget holds, nothing is
 * lost. */
static void test_budget(void)
{
	struct vms_kvm_pager_stats st;
	struct kvm_vm *vm = paged_vm(8 * MIB, 2, 2 * MIB);

	if (!vm)
		return;
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 2; i++)
			command(vm, i, KVM_WL_VERIFY, 50, 3000, round * 2 + i);
		run_all(vm);
	}
	stats(vm, &st);
	CHECK(st.evictions > 0 && st.faults_backend > 0,
	      "%" PRIu64 " evictions", st.evictions);
	/* The guest stopped: the reclaimer gets back within the budget
	 * (faults may overdraw it while the guest runs). */
	for (unsigned i = 0; i < 3000 && st.resident > 512; i++) {
		usleep(10000);
		stats(vm, &st);
	}
	CHECK(st.resident <= 512, "resident %" PRIu64, st.resident);
	/* The reclaimer evicts only pages it sampled first. */
	CHECK(st.samples >= st.evictions, "%" PRIu64 " samples, %" PRIu64
	      " evictions", st.samples, st.evictions);
	kvm_vm_destroy(vm);
}

int main(void)
{
	const char *why = kvm_unavailable();

	if (why) {
		printf("skip: %s\n", why);
		return T_SKIP;
	}
	T_RUN(test_workloads);
	T_RUN(test_idle_and_stop);
	T_RUN(test_no_slot_exit);
	T_RUN(test_zero_and_readahead);
	if (!have_uffd)
		return T_SKIP;
	T_RUN(test_dirty_harvest);
	T_RUN(test_dontneed_willneed);
	T_RUN(test_free);
	T_RUN(test_write_protect);
	T_RUN(test_place_across_protection);
	T_RUN(test_budget);
	return T_DONE();
}
