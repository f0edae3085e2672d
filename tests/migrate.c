/* migrate.c - page migration between nodes: contents kept, frames really
 * move, held pages stay, a vCPU reading throughout sees its data, and
 * tiering promotes what the vCPUs use to node 0. */
#define _GNU_SOURCE
#include "test.h"

#include <stdatomic.h>
#include <time.h>

#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define ANON (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define PAGES 256

static void setup2(uint64_t frames0, uint64_t frames1, struct vms_phys **phys,
		   struct vms_mm **mm)
{
	struct vms_phys_config pc = { .nr_nodes = 2,
				      .node_frames = { frames0, frames1 } };

	CHECK_OK(vms_phys_create(&pc, phys));
	CHECK_OK(vms_mm_create(*phys, NULL, mm));
}

static void teardown2(struct vms_phys *phys, struct vms_mm *mm)
{
	vms_mm_destroy(mm);
	vms_phys_drop_caches(phys);
	for (unsigned i = 0; i < 2; i++) {
		struct vms_node_info ni;

		CHECK_OK(vms_phys_node_info(phys, i, &ni));
		CHECK_EQ(ni.free, ni.frames);
	}
	vms_phys_destroy(phys);
}

/* Node of the page at @hva: pfns are node-major. */
static unsigned node_of(struct vms_mm *mm, uint64_t hva, uint64_t frames0)
{
	struct vms_page *p;

	CHECK_OK(vms_get_page(mm, hva, false, &p));
	unsigned node = vms_page_pfn(p) >= frames0;
	vms_put_page(p);
	return node;
}

static void test_move_and_back(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_phys_stats vs;
	uint64_t hva, moved, v;

	setup2(512, 512, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, PAGES * VMS_PAGE_SIZE, RW, ANON, &hva));
	for (uint64_t i = 0; i < PAGES; i++) {
		v = i * 31 + 7;
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE + 8 * (i % 512),
				      &v, 8));
	}
	CHECK_EQ(node_of(mm, hva, 512), 0);
	struct vms_mm_stats a, b;
	vms_mm_stats(mm, &a);
	CHECK_OK(vms_migrate(mm, hva, PAGES * VMS_PAGE_SIZE, 1, &moved));
	CHECK_EQ(moved, PAGES);
	/* Batched: one invalidation per 64 pages, not one per page. */
	vms_mm_stats(mm, &b);
	CHECK_EQ(b.invalidate_start - a.invalidate_start, PAGES / 64);
	CHECK_EQ(b.invalidate_end - a.invalidate_end, PAGES / 64);
	for (uint64_t i = 0; i < PAGES; i++) {
		CHECK_EQ(node_of(mm, hva + i * VMS_PAGE_SIZE, 512), 1);
		CHECK_OK(vms_mm_read(mm, hva + i * VMS_PAGE_SIZE + 8 * (i % 512),
				     &v, 8));
		CHECK_EQ(v, i * 31 + 7);
	}
	/* Already there: nothing moves. */
	CHECK_OK(vms_migrate(mm, hva, PAGES * VMS_PAGE_SIZE, 1, &moved));
	CHECK_EQ(moved, 0);
	/* A page held by get_page stays where it is. */
	struct vms_page *held;
	CHECK_OK(vms_get_page(mm, hva, false, &held));
	CHECK_OK(vms_migrate(mm, hva, VMS_PAGE_SIZE, 0, &moved));
	CHECK_EQ(moved, 0);             /* a batch of one that stays */
	CHECK_OK(vms_migrate(mm, hva, PAGES * VMS_PAGE_SIZE, 0, &moved));
	CHECK_EQ(moved, PAGES - 1);
	CHECK_EQ(vms_page_pfn(held) >= 512, 1);
	vms_put_page(held);
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.pgmigrate, 2 * PAGES - 1);

	CHECK_EQ(vms_migrate(mm, hva, VMS_PAGE_SIZE, 2, &moved), -EINVAL);
	CHECK_EQ(vms_migrate(mm, hva + 1, VMS_PAGE_SIZE, 0, &moved), -EINVAL);
	teardown2(phys, mm);
}

static void test_node_full(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t hva, moved, one = 1;

	setup2(256, 16, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 64 * VMS_PAGE_SIZE, RW, ANON, &hva));
	for (uint64_t i = 0; i < 64; i++)
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE, &one, 8));
	CHECK_EQ(vms_migrate(mm, hva, 64 * VMS_PAGE_SIZE, 1, &moved), -ENOMEM);
	CHECK_EQ(moved, 16);
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t v;

		CHECK_OK(vms_mm_read(mm, hva + i * VMS_PAGE_SIZE, &v, 8));
		CHECK_EQ(v, 1);
	}
	teardown2(phys, mm);
}

struct reader {
	atomic_bool stop;
	atomic_ulong rounds;
};

static int guest_verify(struct vms_vcpu *vcpu, void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		for (uint64_t g = 0; g < PAGES; g++) {
			uint64_t v;

			if (vms_guest_read64(vcpu, (g << VMS_PAGE_SHIFT) + 64, &v))
				return -1;
			if (v != g + 1000)
				return -2;
			if (g % 8 == 0 &&
			    vms_guest_write64(vcpu, (g << VMS_PAGE_SHIFT) + 64,
					      g + 1000))
				return -1;
		}
		atomic_fetch_add(&r->rounds, 1);
	}
	return 0;
}

/* Pages move back and forth under a vCPU that reads and rewrites them. */
static void test_under_vcpu(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vcpu *vcpu;
	struct vms_vm_stats st;
	struct reader r = { 0 };
	uint64_t hva, moved, total = 0;
	int ret;

	setup2(512, 512, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, PAGES * VMS_PAGE_SIZE, RW, ANON, &hva));
	for (uint64_t g = 0; g < PAGES; g++) {
		uint64_t v = g + 1000;

		CHECK_OK(vms_mm_write(mm, hva + g * VMS_PAGE_SIZE + 64, &v, 8));
	}
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	CHECK_OK(t_memslot(vm, 0, 0, PAGES, hva, 0));
	CHECK_OK(vms_vcpu_start(vm, guest_verify, &r, &vcpu));
	for (int i = 0; i < 40; i++) {
		CHECK_OK(vms_migrate(mm, hva, PAGES * VMS_PAGE_SIZE, (i + 1) % 2,
				     &moved));
		total += moved;
	}
	atomic_store(&r.stop, true);
	CHECK_OK(vms_vcpu_join(vcpu, &ret));
	CHECK_EQ(ret, 0);
	vms_vm_stats(vm, &st);
	CHECK_EQ(st.violations, 0);
	printf("    %" PRIu64 " pages moved under %lu vCPU rounds\n", total,
	       atomic_load(&r.rounds));
	CHECK(total >= 20 * PAGES, "only %" PRIu64 " moved", total);
	vms_vm_destroy(vm);
	teardown2(phys, mm);
}

static int guest_touch(struct vms_vcpu *vcpu, void *arg)
{
	struct reader *r = arg;
	uint64_t v;

	while (!atomic_load(&r->stop))
		for (uint64_t g = 0; g < 32; g++)
			if (vms_guest_read64(vcpu, g << VMS_PAGE_SHIFT, &v))
				return -1;
	return 0;
}

/* Tiering: what a vCPU uses comes to node 0 by itself. */
static void test_tiering(void)
{
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vcpu *vcpu;
	struct reader r = { 0 };
	uint64_t hva, moved, one = 1;
	int ret;

	setup2(256, 256, &phys, &mm);
	CHECK_OK(vms_swap_file_create(NULL, 256 * VMS_PAGE_SIZE, true, &be));
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	CHECK_OK(vms_mmap(mm, 0, 32 * VMS_PAGE_SIZE, RW, ANON, &hva));
	for (uint64_t i = 0; i < 32; i++)
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE, &one, 8));
	CHECK_OK(vms_migrate(mm, hva, 32 * VMS_PAGE_SIZE, 1, &moved));
	CHECK_EQ(moved, 32);
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	CHECK_OK(t_memslot(vm, 0, 0, 32, hva, 0));
	CHECK_OK(vms_vcpu_start(vm, guest_touch, &r, &vcpu));
	vms_phys_set_tiering(phys, true);
	/* An eventual state, bounded: 10 s is far more than it needs. */
	unsigned on0 = 0;
	for (int tries = 0; tries < 1000 && on0 < 32; tries++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
		on0 = 0;
		for (uint64_t i = 0; i < 32; i++)
			on0 += node_of(mm, hva + i * VMS_PAGE_SIZE, 256) == 0;
	}
	atomic_store(&r.stop, true);
	CHECK_OK(vms_vcpu_join(vcpu, &ret));
	CHECK_EQ(ret, 0);
	CHECK_EQ(on0, 32);
	vms_vm_destroy(vm);
	teardown2(phys, mm);
}

int main(void)
{
	T_RUN(test_move_and_back);
	T_RUN(test_node_full);
	T_RUN(test_under_vcpu);
	T_RUN(test_tiering);
	return T_DONE();
}
