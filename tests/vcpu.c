/* vcpu.c - tests of vCPUs: remote TLB flushes skip a halted vCPU, host
 * calls made by a guest program, the max_vcpus limit, the guest program's
 * return value, a vCPU run on the caller's threads, access counters. */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>
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
	CHECK_OK(t_memslot(e->vm, 0, GFN, pages, e->hva, 0));
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

/* ---- host calls from a guest program ----
 *
 * A guest program calls the host on its own thread, on pages its vCPU has
 * in its TLB, while another vCPU runs in guest mode: every call returns,
 * with the guest-visible meaning of DESIGN section 3.  Reclaim runs inside
 * the host reads and writes (guest RAM is twice the frames).
 */
#define HC_PAGES 192            /* mapped; memslot 0 has the first 128 */
#define HC_FRAMES 48            /* per node, two nodes */
#define HC_SLOT1_GFN 2048       /* memslot 1: pages 128..191 */

struct hc_ctx {
	struct env *e;
	atomic_int stop;
};

static uint64_t hc_word(uint64_t page, uint64_t round)
{
	return 0x5a00000000000000ull | round << 32 | page;
}

static int hc_spinner(struct vms_vcpu *v, void *arg)
{
	struct hc_ctx *c = arg;
	uint64_t x;

	/* In guest mode with TLB entries: flushes wait for our acks. */
	while (!atomic_load(&c->stop))
		for (uint64_t p = 0; p < 8; p++)
			CHECK_OK(vms_guest_read64(v, GPA(64 + p), &x));
	return 0;
}

static int hc_caller(struct vms_vcpu *v, void *arg)
{
	struct hc_ctx *c = arg;
	struct env *e = c->e;
	uint64_t x, moved, hva = e->hva;

	for (uint64_t p = 0; p < 16; p++)
		CHECK_OK(vms_guest_write64(v, GPA(p), hc_word(p, 1)));

	CHECK_OK(vms_madvise(e->mm, hva, PG, VMS_MADV_DONTNEED));
	CHECK_OK(vms_guest_read64(v, GPA(0), &x));
	CHECK_EQ(x, 0);
	CHECK_OK(vms_madvise(e->mm, hva + PG, PG, VMS_MADV_PAGEOUT));
	CHECK_OK(vms_guest_read64(v, GPA(1), &x));
	CHECK_EQ(x, hc_word(1, 1));

	CHECK_OK(vms_mprotect(e->mm, hva + 2 * PG, PG, VMS_PROT_READ));
	CHECK_OK(vms_guest_read64(v, GPA(2), &x));
	CHECK_EQ(x, hc_word(2, 1));
	CHECK_EQ(vms_guest_write64(v, GPA(2), 7), -EACCES);
	CHECK_EQ(vms_vcpu_exit(v)->reason, VMS_EXIT_EFAULT);
	CHECK_OK(vms_mprotect(e->mm, hva + 2 * PG, PG, RW));
	CHECK_OK(vms_guest_write64(v, GPA(2), hc_word(2, 2)));

	CHECK_OK(vms_migrate(e->mm, hva + 3 * PG, PG, 1, &moved));
	CHECK_OK(vms_guest_read64(v, GPA(3), &x));
	CHECK_EQ(x, hc_word(3, 1));

	/* Memslot 1 moves under the caller's TLB entry. */
	uint64_t old_gpa = HC_SLOT1_GFN * PG, new_gpa = (HC_SLOT1_GFN + 512) * PG;
	CHECK_OK(vms_guest_write64(v, old_gpa, hc_word(128, 1)));
	CHECK_OK(t_memslot(e->vm, 1, HC_SLOT1_GFN + 512, 64,
				    hva + 128 * PG, 0));
	CHECK_EQ(vms_guest_read64(v, old_gpa, &x), -EFAULT);
	CHECK_EQ(vms_vcpu_exit(v)->reason, VMS_EXIT_NO_SLOT);
	CHECK_OK(vms_guest_read64(v, new_gpa, &x));
	CHECK_EQ(x, hc_word(128, 1));

	/* Host writes and reads of all of guest RAM reclaim pages the two
	 * vCPUs map, from inside the calls. */
	for (uint64_t p = 0; p < HC_PAGES; p++) {
		uint64_t w = hc_word(p, 3);

		CHECK_OK(vms_mm_write(e->mm, hva + p * PG, &w, sizeof(w)));
	}
	for (uint64_t p = 0; p < HC_PAGES; p++) {
		CHECK_OK(vms_mm_read(e->mm, hva + p * PG, &x, sizeof(x)));
		CHECK_EQ(x, hc_word(p, 3));
	}
	for (uint64_t p = 0; p < 128; p++) {
		CHECK_OK(vms_guest_read64(v, GPA(p), &x));
		CHECK_EQ(x, hc_word(p, 3));
	}
	atomic_store(&c->stop, 1);
	return 0;
}

static void test_host_calls_from_guest(void)
{
	struct vms_phys_config pc = { .nr_nodes = 2,
				      .node_frames = { HC_FRAMES, HC_FRAMES } };
	struct vms_vm_config cfg = { .max_gpa = 1ull << 24, .max_vcpus = 2 };
	struct vms_swap_backend *be;
	struct hc_ctx c = { 0 };
	struct vms_vcpu *caller, *spinner;
	struct env e;
	int ret;

	CHECK_OK(vms_phys_create(&pc, &e.phys));
	CHECK_OK(vms_mm_create(e.phys, NULL, &e.mm));
	CHECK_OK(vms_swap_file_create(NULL, 1024 * PG, true, &be));
	CHECK_OK(vms_swap_on(e.phys, be, 0, 0));
	CHECK_OK(vms_vm_create(e.mm, &cfg, &e.vm));
	CHECK_OK(vms_mmap(e.mm, 0, HC_PAGES * PG, RW, PA, &e.hva));
	CHECK_OK(t_memslot(e.vm, 0, GFN, 128, e.hva, 0));
	CHECK_OK(t_memslot(e.vm, 1, HC_SLOT1_GFN, 64,
				    e.hva + 128 * PG, 0));
	c.e = &e;
	t_watchdog(60, "a host call from a guest program never returned");
	CHECK_OK(vms_vcpu_start(e.vm, hc_spinner, &c, &spinner));
	CHECK_OK(vms_vcpu_start(e.vm, hc_caller, &c, &caller));
	CHECK_OK(vms_vcpu_join(caller, &ret));
	CHECK_EQ(ret, 0);
	CHECK_OK(vms_vcpu_join(spinner, &ret));
	CHECK_EQ(ret, 0);
	t_watchdog(0, "");
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

/* ---- a vCPU run on the caller's threads ---- */

struct caller_ctx {
	uint64_t write, got;
	atomic_int in, release;
	struct vms_vcpu *v;
	int nested;
};

static int caller_write(struct vms_vcpu *v, void *arg)
{
	struct caller_ctx *c = arg;

	return vms_guest_write64(v, GPA(0), c->write) ? -1 : 7;
}

static int caller_read(struct vms_vcpu *v, void *arg)
{
	struct caller_ctx *c = arg;

	return vms_guest_read64(v, GPA(0), &c->got);
}

/* Stays in the guest program until released; tries a nested run. */
static int caller_hold(struct vms_vcpu *v, void *arg)
{
	struct caller_ctx *c = arg;

	c->nested = vms_vcpu_run(c->v, caller_read, c, NULL);
	atomic_store(&c->in, 1);
	wait_for(&c->release, 1);
	return 0;
}

static void *caller_thread(void *arg)
{
	struct caller_ctx *c = arg;
	int ret = -1;

	CHECK_OK(vms_vcpu_run(c->v, caller_hold, c, &ret));
	CHECK_EQ(ret, 0);
	return NULL;
}

/* Runs on the caller's thread return the program's value; a DONTNEED
 * between runs does not wait for the vCPU, and the next run, on another
 * thread, sees the page gone (the flush it missed is done as it enters);
 * one vCPU runs on one thread at a time; the verbs do not mix with
 * start / join. */
static void test_run_on_caller(void)
{
	struct caller_ctx c = { .write = 0x5eed };
	struct vms_vcpu *t;
	struct env e;
	pthread_t th;
	int ret = 0;

	env_up(&e, 4, 4);
	CHECK_OK(vms_vcpu_create(e.vm, &c.v));
	CHECK_OK(vms_vcpu_run(c.v, caller_write, &c, &ret));
	CHECK_EQ(ret, 7);
	CHECK_OK(vms_vcpu_run(c.v, caller_read, &c, &ret));
	CHECK_EQ(c.got, 0x5eed);
	/* Its TLB holds the page: this flush must not wait for it. */
	CHECK_OK(vms_madvise(e.mm, e.hva, PG, VMS_MADV_DONTNEED));
	c.got = 1;
	CHECK_OK(pthread_create(&th, NULL, caller_thread, &c));
	wait_for(&c.in, 1);
	CHECK_EQ(c.nested, -EBUSY);
	CHECK_EQ(vms_vcpu_run(c.v, caller_read, &c, NULL), -EBUSY);
	CHECK_EQ(vms_vcpu_destroy(c.v), -EBUSY);
	atomic_store(&c.release, 1);
	CHECK_OK(pthread_join(th, NULL));
	CHECK_OK(vms_vcpu_run(c.v, caller_read, &c, NULL));
	CHECK_EQ(c.got, 0);
	CHECK_EQ(vms_vcpu_join(c.v, NULL), -EINVAL);
	CHECK_OK(vms_vcpu_start(e.vm, caller_write, &c, &t));
	CHECK_EQ(vms_vcpu_run(t, caller_read, &c, NULL), -EINVAL);
	CHECK_EQ(vms_vcpu_destroy(t), -EINVAL);
	CHECK_OK(vms_vcpu_join(t, &ret));
	CHECK_EQ(ret, 7);
	CHECK_OK(vms_vcpu_destroy(c.v));
	CHECK_EQ(vms_vcpu_create(NULL, &c.v), -EINVAL);
	env_down(&e);
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
	T_RUN(test_host_calls_from_guest);
	T_RUN(test_run_on_caller);
	return T_DONE();
}
