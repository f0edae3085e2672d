/* mmap-lock.c - tests of mmap_lock under faults: a fault waits for its swap
 * read without the lock, so mapping calls do not wait for a disk, and a
 * waiting mapping call holds new faults back, so a stream of faults cannot
 * starve it.  A swap backend whose I/O waits at a gate makes both exact. */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "host/host.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define ANON (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define PAGES 64

/* The file backend, with reads or writes held at a gate while it is shut. */
struct gated {
	struct vms_swap_backend be;
	struct vms_swap_backend *file;
	atomic_bool hold_reads, hold_writes;
	atomic_int waiting;             /* transfers held now */
};

static int gated_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		    size_t n)
{
	struct gated *g = (struct gated *)be;
	bool held = false;

	for (size_t i = 0; i < n; i++)
		held |= io[i].write ? atomic_load(&g->hold_writes)
				    : atomic_load(&g->hold_reads);
	if (held) {
		atomic_fetch_add(&g->waiting, 1);
		while (atomic_load(&g->hold_reads) ||
		       atomic_load(&g->hold_writes))
			sched_yield();
		atomic_fetch_sub(&g->waiting, 1);
	}
	return g->file->rw(g->file, io, n);
}

static void gated_release(struct vms_swap_backend *be)
{
	struct gated *g = (struct gated *)be;

	g->file->release(g->file);
	free(g);
}

struct env {
	struct gated *g;
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t hva;
};

static uint64_t word(uint64_t page)
{
	return 0xfa0170000000ull + page;
}

static void env_up(struct env *e)
{
	e->g = calloc(1, sizeof(*e->g));
	CHECK(e->g, "out of memory");
	CHECK_OK(vms_swap_file_create(NULL, 1024 * PG, true, &e->g->file));
	e->g->be = (struct vms_swap_backend){ .rw = gated_rw,
					      .release = gated_release,
					      .nr_slots = 1024,
					      .name = "gated" };
	t_setup(256, &e->phys, &e->mm);
	CHECK_OK(vms_swap_on(e->phys, &e->g->be, 0, 0));
	CHECK_OK(vms_mmap(e->mm, 0, PAGES * PG, RW, ANON, &e->hva));
	for (uint64_t p = 0; p < PAGES; p++) {
		uint64_t w = word(p);

		CHECK_OK(vms_mm_write(e->mm, e->hva + p * PG, &w, sizeof(w)));
	}
}

static void wait_held(struct gated *g)
{
	while (atomic_load(&g->waiting) == 0)
		sched_yield();
}

static void open_gate(struct gated *g)
{
	atomic_store(&g->hold_reads, false);
	atomic_store(&g->hold_writes, false);
}

struct op {
	struct env *e;
	uint64_t page, val;
	int r;
	atomic_bool done;
};

static void *fault_page(void *arg)
{
	struct op *o = arg;

	CHECK_OK(vms_mm_read(o->e->mm, o->e->hva + o->page * PG, &o->val,
			     sizeof(o->val)));
	atomic_store(&o->done, true);
	return NULL;
}

static void *write_page(void *arg)
{
	struct op *o = arg;

	o->r = vms_mm_write(o->e->mm, o->e->hva + o->page * PG, &o->val,
			    sizeof(o->val));
	atomic_store(&o->done, true);
	return NULL;
}

static void *pageout_page(void *arg)
{
	struct op *o = arg;

	CHECK_OK(vms_madvise(o->e->mm, o->e->hva + o->page * PG, PG,
			     VMS_MADV_PAGEOUT));
	atomic_store(&o->done, true);
	return NULL;
}

static void *protect_page(void *arg)
{
	struct op *o = arg;

	CHECK_OK(vms_mprotect(o->e->mm, o->e->hva + o->page * PG, PG,
			      VMS_PROT_READ));
	atomic_store(&o->done, true);
	return NULL;
}

/* A fault's swap read is held: mapping calls go on meanwhile. */
static void test_fault_reads_without_mmap_lock(void)
{
	struct op f = { 0 };
	struct env e;
	pthread_t t;
	uint64_t at;

	env_up(&e);
	CHECK_OK(vms_madvise(e.mm, e.hva, 8 * PG, VMS_MADV_PAGEOUT));
	atomic_store(&e.g->hold_reads, true);
	f = (struct op){ .e = &e, .page = 3 };
	CHECK_EQ(pthread_create(&t, NULL, fault_page, &f), 0);
	wait_held(e.g);

	t_watchdog(30, "a mapping call waited for a fault's swap read");
	CHECK_OK(vms_mprotect(e.mm, e.hva + 40 * PG, PG, VMS_PROT_READ));
	CHECK_OK(vms_mmap(e.mm, 0, 4 * PG, RW, ANON, &at));
	CHECK_OK(vms_munmap(e.mm, at, 4 * PG));
	t_watchdog(0, "");
	/* ... and the fault was still waiting for its read all along. */
	CHECK_EQ(atomic_load(&e.g->waiting), 1);
	CHECK(!atomic_load(&f.done), "the fault did not wait for its read");

	open_gate(e.g);
	pthread_join(t, NULL);
	CHECK_EQ(f.val, word(3));
	t_teardown(e.phys, e.mm);
}

/*
 * A PAGEOUT holds mmap_lock for reading across its write (held at the
 * gate); an mprotect of page 40 waits for it.  A write fault on page 40
 * that comes after the mprotect queued waits behind it, so it finds the
 * page read-only.
 */
static void test_waiting_writer_goes_first(void)
{
	struct op p, w, f;
	struct env e;
	pthread_t tp, tw, tf;

	env_up(&e);
	atomic_store(&e.g->hold_writes, true);
	p = (struct op){ .e = &e, .page = 5 };
	CHECK_EQ(pthread_create(&tp, NULL, pageout_page, &p), 0);
	wait_held(e.g);

	w = (struct op){ .e = &e, .page = 40 };
	CHECK_EQ(pthread_create(&tw, NULL, protect_page, &w), 0);
	/* Queued once new readers are refused. */
	t_watchdog(30, "a waiting mprotect did not hold new readers back");
	while (mmap_read_trylock(e.mm)) {
		mmap_read_unlock(e.mm);
		sched_yield();
	}
	t_watchdog(0, "");
	CHECK(!atomic_load(&w.done), "mprotect did not wait for the PAGEOUT");

	f = (struct op){ .e = &e, .page = 40, .val = 1 };
	CHECK_EQ(pthread_create(&tf, NULL, write_page, &f), 0);
	open_gate(e.g);
	pthread_join(tp, NULL);
	pthread_join(tw, NULL);
	pthread_join(tf, NULL);
	CHECK(f.r == -EACCES, "a fault passed a waiting mprotect (write: %d)",
	      f.r);
	uint64_t v;
	CHECK_OK(vms_mm_read(e.mm, e.hva + 40 * PG, &v, sizeof(v)));
	CHECK_EQ(v, word(40));
	t_teardown(e.phys, e.mm);
}

int main(void)
{
	T_RUN(test_fault_reads_without_mmap_lock);
	T_RUN(test_waiting_writer_goes_first);
	return T_DONE();
}
