/* vcpu.c - tests of vCPUs: remote TLB flushes skip a halted vCPU, the
 * max_vcpus limit, the guest program's return value, access counters. */
#define _GNU_SOURCE
#include "test.h"

#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "guest/vcpu.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define PA (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define GFN 16
#define GPA(page) ((GFN + (uint64_t)(page)) * PG)

struct env {
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	uint64_t hva;
};

static void env_up(struct env *e, size_t pages, unsigned max_vcpus)
{
	struct vms_vm_config cfg = { .max_gpa = 1ull << 24,
				     .max_vcpus = max_vcpus };

	t_setup(64, &e->phys, &e->mm);
	CHECK_OK(vms_vm_create(e->mm, &cfg, &e->vm));
	CHECK_OK(vms_mmap(e->mm, 0, pages * PG, RW, PA, &e->hva));
	CHECK_OK(vms_vm_set_memslot(e->vm, 0, GFN, pages, e->hva, 0));
}

static void env_down(struct env *e)
{
	t_vm_teardown(e->phys, e->mm, e->vm);
}

static void wait_for(atomic_int *flag, int val)
{
	while (atomic_load(flag) != val)
		sched_yield();
}

/* ---- a flush does not wait for a halted vCPU ---- */

struct halt_ctx {
	atomic_int h_ready, r_ready, stop, woke;
	uint64_t h_after, r_after;
};

static int halter(struct vms_vcpu *v, void *arg)
{
	struct halt_ctx *c = arg;

	CHECK_OK(vms_guest_write64(v, GPA(0), 0xa0));
	atomic_store(&c->h_ready, 1);
	vms_guest_halt(v, 2000000000ull);
	atomic_store(&c->woke, 1);
	/* Our TLB entry for GPA(0) was dropped while we slept. */
	CHECK_OK(vms_guest_read64(v, GPA(0), &c->h_after));
	return 1;
}

static int runner(struct vms_vcpu *v, void *arg)
{
	struct halt_ctx *c = arg;
	uint64_t x;

	CHECK_OK(vms_guest_write64(v, GPA(1), 0xb0));
	atomic_store(&c->r_ready, 1);
	/* In guest mode with a TLB entry for GPA(1): the flush of the
	 * DONTNEED waits for us, and our accesses acknowledge it. */
	while (!atomic_load(&c->stop))
		CHECK_OK(vms_guest_read64(v, GPA(1), &x));
	CHECK_OK(vms_guest_read64(v, GPA(1), &c->r_after));
	return 2;
}

static void test_flush_skips_halted(void)
{
	struct halt_ctx c = { 0 };
	struct vms_vm_stats s0, s1;
	struct vms_vcpu *h, *r;
	struct env e;
	int ret;

	env_up(&e, 2, 4);
	CHECK_OK(vms_vcpu_start(e.vm, halter, &c, &h));
	CHECK_OK(vms_vcpu_start(e.vm, runner, &c, &r));
	wait_for(&c.h_ready, 1);
	wait_for(&c.r_ready, 1);
	/* Make sure the halter is really out of guest mode. */
	while (atomic_load(&h->mode) != VCPU_OUTSIDE_GUEST)
		sched_yield();
	vms_vm_stats(e.vm, &s0);
	CHECK_OK(vms_madvise(e.mm, e.hva, 2 * PG, VMS_MADV_DONTNEED));
	/* Returned while the halter still sleeps: it was not waited for. */
	CHECK_EQ(atomic_load(&c.woke), 0);
	vms_vm_stats(e.vm, &s1);
	CHECK_EQ(s1.zapped - s0.zapped, 2);
	CHECK(s1.tlb_flushes > s0.tlb_flushes, "the DONTNEED flushed nothing");
	atomic_store(&c.stop, 1);
	CHECK_OK(vms_vcpu_join(r, &ret));
	CHECK_EQ(ret, 2);
	CHECK_EQ(atomic_load(&c.woke), 0);
	CHECK_OK(vms_vcpu_join(h, &ret));
	CHECK_EQ(ret, 1);
	CHECK_EQ(atomic_load(&c.woke), 1);
	/* Both see the discarded pages as zeroes. */
	CHECK_EQ(c.r_after, 0);
	CHECK_EQ(c.h_after, 0);
	env_down(&e);
}

/* ---- max_vcpus, ids, return values ---- */

struct park {
	atomic_int go;
	int value;
};

static int parked(struct vms_vcpu *v, void *arg)
{
	struct park *p = arg;

	/* Halted, so that nothing waits for this vCPU meanwhile. */
	while (!atomic_load(&p->go))
		vms_guest_halt(v, 100000);
	return p->value + (int)vms_vcpu_id(v);
}

static void test_max_vcpus(void)
{
	struct park p = { .value = 1000 };
	struct vms_vcpu *v[3], *extra;
	struct env e;
	int ret;

	env_up(&e, 1, 2);
	CHECK_OK(vms_vcpu_start(e.vm, parked, &p, &v[0]));
	CHECK_OK(vms_vcpu_start(e.vm, parked, &p, &v[1]));
	CHECK(vms_vcpu_id(v[0]) < 2 && vms_vcpu_id(v[1]) < 2 &&
		      vms_vcpu_id(v[0]) != vms_vcpu_id(v[1]),
	      "ids %u %u", vms_vcpu_id(v[0]), vms_vcpu_id(v[1]));
	CHECK_EQ(vms_vcpu_start(e.vm, parked, &p, &extra), -EINVAL);
	CHECK_EQ(vms_vcpu_start(e.vm, parked, &p, &extra), -EINVAL);
	/* A joined vCPU frees its place. */
	unsigned id0 = vms_vcpu_id(v[0]);
	atomic_store(&p.go, 1);
	CHECK_OK(vms_vcpu_join(v[0], &ret));
	CHECK_EQ(ret, 1000 + (int)id0);
	CHECK_OK(vms_vcpu_start(e.vm, parked, &p, &v[2]));
	CHECK_EQ(vms_vcpu_id(v[2]), id0);
	CHECK_OK(vms_vcpu_join(v[1], NULL));
	CHECK_OK(vms_vcpu_join(v[2], &ret));
	CHECK_EQ(ret, 1000 + (int)id0);
	env_down(&e);
}

static int give_back(struct vms_vcpu *v, void *arg)
{
	return *(int *)arg;
}

static void test_join_value(void)
{
	int vals[] = { 0, 1, -5, 123456, -EFAULT };
	struct vms_vcpu *v[5];
	struct env e;
	int ret;

	env_up(&e, 1, 8);
	for (int i = 0; i < 5; i++)
		CHECK_OK(vms_vcpu_start(e.vm, give_back, &vals[i], &v[i]));
	for (int i = 4; i >= 0; i--) {
		ret = 0x7777;
		CHECK_OK(vms_vcpu_join(v[i], &ret));
		CHECK_EQ(ret, vals[i]);
	}
	CHECK_EQ(vms_vcpu_start(e.vm, NULL, NULL, &v[0]), -EINVAL);
	CHECK_EQ(vms_vcpu_join(NULL, &ret), -EINVAL);
	env_down(&e);
}

/* ---- counters ---- */

struct counted {
	int rounds;
	int reads, writes;              /* calls made, counted by the guest */
};

static int counter_fn(struct vms_vcpu *v, void *arg)
{
	struct counted *c = arg;
	uint8_t buf[24] = { 0 };
	uint64_t x;

	for (int i = 0; i < c->rounds; i++) {
		uint64_t gpa = GPA(i % 4) + 8 * (uint64_t)(i % 16);

		CHECK_OK(vms_guest_write64(v, gpa, (uint64_t)i));
		CHECK_OK(vms_guest_read64(v, gpa, &x));
		/* Across a page boundary: still one call each. */
		CHECK_OK(vms_guest_write(v, GPA(2) - 12, buf, sizeof(buf)));
		CHECK_OK(vms_guest_read(v, GPA(2) - 12, buf, sizeof(buf)));
		c->writes += 2;
		c->reads += 2;
	}
	/* A failed access is a call too. */
	CHECK(vms_guest_read64(v, GPA(100), &x) < 0, "no-slot read worked");
	c->reads++;
	return 0;
}

static void test_counters(void)
{
	struct counted c[2] = { { .rounds = 300 }, { .rounds = 170 } };
	struct vms_vm_stats st;
	struct vms_vcpu *v[2];
	struct env e;

	env_up(&e, 4, 4);
	for (int i = 0; i < 2; i++)
		CHECK_OK(vms_vcpu_start(e.vm, counter_fn, &c[i], &v[i]));
	for (int i = 0; i < 2; i++)
		CHECK_OK(vms_vcpu_join(v[i], NULL));
	vms_vm_stats(e.vm, &st);
	CHECK_EQ(c[0].reads, 2 * 300 + 1);
	CHECK_EQ(st.guest_reads, c[0].reads + c[1].reads);
	CHECK_EQ(st.guest_writes, c[0].writes + c[1].writes);
	CHECK_EQ(st.exits, 2);
	/* Joined vCPUs count once: a later vCPU adds only its own. */
	c[0] = (struct counted){ .rounds = 10 };
	CHECK_OK(vms_vcpu_start(e.vm, counter_fn, &c[0], &v[0]));
	CHECK_OK(vms_vcpu_join(v[0], NULL));
	struct vms_vm_stats st2;
	vms_vm_stats(e.vm, &st2);
	CHECK_EQ(st2.guest_reads - st.guest_reads, 21);
	CHECK_EQ(st2.guest_writes - st.guest_writes, 20);
	env_down(&e);
}

int main(void)
{

	T_RUN(test_max_vcpus);
	T_RUN(test_join_value);
	T_RUN(test_counters);
	T_RUN(test_flush_skips_halted);
	return T_DONE();
}
