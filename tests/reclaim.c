/* reclaim.c - reclaim: aging asks both MMUs, so pages only vCPUs touch
 * stay resident while idle ones go first; MADV_FREE pages are dropped
 * clean, but never one a vCPU wrote after the advice; COLD goes first. */
#define _GNU_SOURCE
#include "test.h"

#include <stdatomic.h>

#include "host/host.h"

#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define ANON (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)

static bool resident(struct vms_mm *mm, uint64_t hva)
{
	return atomic_load(&mm->pt[mm_pte_index(mm, hva)]) & PTE_PRESENT;
}

/* Reads gfns [0, 64) once: a TLB miss walks the shadow table, and the
 * walk sets each spte's accessed bit. */
static int guest_touch_hot(struct vms_vcpu *vcpu, void *arg)
{
	uint64_t v;

	for (uint64_t g = 0; g < 64; g++)
		if (vms_guest_read64(vcpu, g << VMS_PAGE_SHIFT, &v))
			return -1;
	(void)arg;
	return 0;
}

static void run_once(struct vms_vm *vm, vms_guest_fn fn)
{
	struct vms_vcpu *vcpu;
	int ret;

	CHECK_OK(vms_vcpu_create(vm, &vcpu));
	CHECK_OK(vms_vcpu_run(vcpu, fn, NULL, &ret));
	CHECK_EQ(ret, 0);
	CHECK_OK(vms_vcpu_destroy(vcpu));
}

/*
 * 448 pages the host wrote and 64 only a vCPU used, all made cold, then
 * the vCPU uses its 64 again: only its accessed bits tell them apart.
 * Reclaim of 448 must take exactly the host's pages.  No thread runs
 * beside the test's (the vCPU runs on it, and the pool has room enough
 * that the background reclaimer frees nothing), and each page is looked at
 * once: the look of the cold list's 512 pages runs in whole batches, and
 * it stops at the 448th page freed, before any deactivated page could
 * reach the list's tail again.  Under pressure with a vCPU running beside
 * reclaim, which pages go depends on how the two are scheduled; what
 * aging must see does not.
 */
static void test_aging_sees_vcpus(void)
{
	struct vms_swap_backend *be;
	struct vms_phys_stats before, after;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	uint64_t guest, one = 1;
	bool stuck;

	t_setup(1024, &phys, &mm);
	CHECK_OK(vms_swap_file_create(NULL, 1024 * VMS_PAGE_SIZE, true, &be));
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	CHECK_OK(vms_mmap(mm, 0, 512 * VMS_PAGE_SIZE, RW, ANON, &guest));
	for (uint64_t i = 0; i < 448; i++)
		CHECK_OK(vms_mm_write(mm, guest + i * VMS_PAGE_SIZE, &one, 8));
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	CHECK_OK(t_memslot(vm, 0, 0, 64, guest + 448 * VMS_PAGE_SIZE, 0));
	run_once(vm, guest_touch_hot);  /* faults the 64 in */

	CHECK_OK(vms_madvise(mm, guest, 512 * VMS_PAGE_SIZE, VMS_MADV_COLD));
	/* COLD does not flush (nor does Linux's): a new vCPU, whose empty
	 * TLB makes every access walk. */
	run_once(vm, guest_touch_hot);
	vms_phys_stats(phys, &before);
	CHECK_EQ(reclaim_node(phys, 0, 448, &stuck), 448);
	CHECK(!stuck, "reclaim found the swap full or failing");
	vms_phys_stats(phys, &after);

	unsigned hot = 0, idle = 0;
	for (uint64_t i = 0; i < 512; i++)
		*(i < 448 ? &idle : &hot) += resident(mm, guest + i * VMS_PAGE_SIZE);
	printf("    resident after reclaim: vCPU's %u/64, host's %u/448\n", hot,
	       idle);
	CHECK_EQ(hot, 64);
	CHECK_EQ(idle, 0);
	CHECK_EQ(after.pgactivate - before.pgactivate, 64);
	CHECK_EQ(after.pswpout - before.pswpout, 448);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

/* Reads first, so the spte is made writable but clean by a read fault;
 * the write then only sets the spte's dirty bit, with no fault. */
static int guest_write_first(struct vms_vcpu *vcpu, void *arg)
{
	uint64_t v;

	for (uint64_t g = 0; g < 16; g++)
		if (vms_guest_read64(vcpu, g << VMS_PAGE_SHIFT, &v) ||
		    vms_guest_write64(vcpu, g << VMS_PAGE_SHIFT, 0xbeef00 + g))
			return -1;
	(void)arg;
	return 0;
}

/* MADV_FREE, then a vCPU writes 16 of the 256 pages (the write is in the
 * secondary's dirty bit only), then reclaim: 240 read zero, 16 keep the
 * vCPU's data. */
static void test_lazyfree_keeps_vcpu_writes(void)
{
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vcpu *vcpu;
	struct vms_phys_stats vs;
	uint64_t hva, v = 7;
	int ret;

	t_setup(1024, &phys, &mm);
	CHECK_OK(vms_swap_file_create(NULL, 1024 * VMS_PAGE_SIZE, true, &be));
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	CHECK_OK(vms_mmap(mm, 0, 256 * VMS_PAGE_SIZE, RW, ANON, &hva));
	for (uint64_t i = 0; i < 256; i++)
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE, &v, 8));
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	CHECK_OK(t_memslot(vm, 0, 0, 256, hva, 0));
	CHECK_OK(vms_madvise(mm, hva, 256 * VMS_PAGE_SIZE, VMS_MADV_FREE));
	CHECK_OK(vms_vcpu_start(vm, guest_write_first, NULL, &vcpu));
	CHECK_OK(vms_vcpu_join(vcpu, &ret));
	CHECK_EQ(ret, 0);

	CHECK_OK(vms_madvise(mm, hva, 256 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.lazyfree, 240);
	CHECK_EQ(vs.pswpout, 16);
	for (uint64_t i = 0; i < 256; i++) {
		CHECK_OK(vms_mm_read(mm, hva + i * VMS_PAGE_SIZE, &v, 8));
		CHECK(v == (i < 16 ? 0xbeef00 + i : 0),
		      "page %" PRIu64 ": %#" PRIx64, i, v);
	}
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

/* COLD pages are the first reclaim takes. */
static void test_cold_first(void)
{
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { 256 } };
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, b, one = 1;

	CHECK_OK(vms_phys_create(&pc, &phys));
	CHECK_OK(vms_mm_create(phys, NULL, &mm));
	CHECK_OK(vms_swap_file_create(NULL, 1024 * VMS_PAGE_SIZE, true, &be));
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	CHECK_OK(vms_mmap(mm, 0, 128 * VMS_PAGE_SIZE, RW, ANON, &a));
	CHECK_OK(vms_mmap(mm, 0, 160 * VMS_PAGE_SIZE, RW, ANON, &b));
	for (uint64_t i = 0; i < 128; i++)
		CHECK_OK(vms_mm_write(mm, a + i * VMS_PAGE_SIZE, &one, 8));
	CHECK_OK(vms_madvise(mm, a, 64 * VMS_PAGE_SIZE, VMS_MADV_COLD));
	for (uint64_t i = 0; i < 160; i++)
		CHECK_OK(vms_mm_write(mm, b + i * VMS_PAGE_SIZE, &one, 8));
	unsigned cold = 0, warm = 0;
	for (uint64_t i = 0; i < 64; i++) {
		cold += resident(mm, a + i * VMS_PAGE_SIZE);
		warm += resident(mm, a + (64 + i) * VMS_PAGE_SIZE);
	}
	printf("    resident: cold %u/64, not advised %u/64\n", cold, warm);
	CHECK(cold < warm, "cold %u not taken before %u", cold, warm);
	vms_mm_destroy(mm);
	vms_phys_destroy(phys);
}

int main(void)
{
	T_RUN(test_aging_sees_vcpus);
	T_RUN(test_lazyfree_keeps_vcpu_writes);
	T_RUN(test_cold_first);
	return T_DONE();
}
