/* shadow.c - tests of the shadow MMU through one vCPU at a time: guest and
 * host see the same memory, host operations reach the sptes (zap, dirty
 * handover, aging), and every refused access exits with the right reason. */
#define _GNU_SOURCE
#include "test.h"

#include <sched.h>
#include <stdatomic.h>

#include "guest/guest.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define PA (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define GFN 16                          /* slot 0 starts here */
#define GPA(page) ((GFN + (uint64_t)(page)) * PG)
#define MAX_OPS 16

/* A pool, an mm, a VM, and @pages of RW memory behind slot 0 at GFN. */
struct env {
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	uint64_t hva;
	size_t pages;
};

static void env_up(struct env *e, uint64_t frames, size_t pages)
{
	/* A small guest-physical space: teardown scans all of it. */
	struct vms_vm_config cfg = { .max_gpa = 1ull << 24 };

	t_setup(frames, &e->phys, &e->mm);
	CHECK_OK(vms_vm_create(e->mm, &cfg, &e->vm));
	CHECK_OK(vms_mmap(e->mm, 0, pages * PG, RW, PA, &e->hva));
	CHECK_OK(t_memslot(e->vm, 0, GFN, pages, e->hva, 0));
	e->pages = pages;
}

static void env_down(struct env *e)
{
	t_vm_teardown(e->phys, e->mm, e->vm);
}

static uint64_t spte(struct env *e, uint64_t gfn)
{
	return atomic_load(&e->vm->spt[gfn]);
}

/* ---- guest programs: a list of 8-byte accesses, run in order on a new
 * vCPU; each records its result and, when it failed, the exit. */

struct gop {
	bool write;
	uint64_t gpa;
	uint64_t val;
	size_t len;                     /* 0: 8 bytes through read64/write64 */
	uint8_t *buf;
	int r;
	struct vms_exit exit;
};

struct prog {
	size_t n;
	struct gop op[MAX_OPS];
};

static int prog_fn(struct vms_vcpu *v, void *arg)
{
	struct prog *p = arg;

	for (size_t i = 0; i < p->n; i++) {
		struct gop *o = &p->op[i];

		if (o->len && o->write)
			o->r = vms_guest_write(v, o->gpa, o->buf, o->len);
		else if (o->len)
			o->r = vms_guest_read(v, o->gpa, o->buf, o->len);
		else if (o->write)
			o->r = vms_guest_write64(v, o->gpa, o->val);
		else
			o->r = vms_guest_read64(v, o->gpa, &o->val);
		if (o->r)
			o->exit = *vms_vcpu_exit(v);
	}
	return 0x600d;
}

static void run(struct env *e, struct prog *p)
{
	struct vms_vcpu *v;
	int ret = 0;

	CHECK_OK(vms_vcpu_start(e->vm, prog_fn, p, &v));
	CHECK_OK(vms_vcpu_join(v, &ret));
	CHECK_EQ(ret, 0x600d);
}

static struct gop *add(struct prog *p, bool write, uint64_t gpa, uint64_t val)
{
	CHECK(p->n < MAX_OPS, "program too long");
	p->op[p->n] = (struct gop){ .write = write, .gpa = gpa, .val = val };
	return &p->op[p->n++];
}

/* One access on its own vCPU; returns its result. */
static int g_access(struct env *e, bool write, uint64_t gpa, uint64_t *val,
		    struct vms_exit *exit)
{
	struct prog p = { 0 };
	struct gop *o = add(&p, write, gpa, val ? *val : 0);

	run(e, &p);
	if (val)
		*val = o->val;
	if (exit)
		*exit = o->exit;
	return o->r;
}

static uint64_t g_read(struct env *e, uint64_t gpa)
{
	uint64_t v = 0;

	CHECK_OK(g_access(e, false, gpa, &v, NULL));
	return v;
}

static void g_write(struct env *e, uint64_t gpa, uint64_t val)
{
	CHECK_OK(g_access(e, true, gpa, &val, NULL));
}

static uint64_t h_read(struct env *e, uint64_t hva)
{
	uint64_t v;

	CHECK_OK(vms_mm_read(e->mm, hva, &v, sizeof(v)));
	return v;
}

static void h_write(struct env *e, uint64_t hva, uint64_t val)
{
	CHECK_OK(vms_mm_write(e->mm, hva, &val, sizeof(val)));
}

static bool page_dirty(struct env *e, uint64_t hva)
{
	struct vms_page *pg;
	bool d;

	/* A read-only get: it must not mark the page itself. */
	CHECK_OK(vms_get_page(e->mm, hva, false, &pg));
	d = vms_page_dirty(pg);
	vms_put_page(pg);
	return d;
}

/* ---- tests ---- */

static void test_coherence(void)
{
	struct env e;
	uint8_t in[24], out[24];

	env_up(&e, 64, 8);
	/* Guest writes, host reads. */
	g_write(&e, GPA(0) + 8, 0x1122334455667788ull);
	CHECK_EQ(h_read(&e, e.hva + 8), 0x1122334455667788ull);
	/* Host writes a page the guest mapped: the guest sees it. */
	h_write(&e, e.hva + 16, 0xabcdefull);
	CHECK_EQ(g_read(&e, GPA(0) + 16), 0xabcdefull);
	CHECK_EQ(g_read(&e, GPA(0) + 8), 0x1122334455667788ull);
	/* Host writes a page the guest never touched. */
	h_write(&e, e.hva + 3 * PG + 40, 77);
	CHECK_EQ(g_read(&e, GPA(3) + 40), 77);
	/* Fresh guest memory reads zero. */
	CHECK_EQ(g_read(&e, GPA(5)), 0);

	/* An access across a page boundary, both ways. */
	struct prog p = { 0 };
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xc0 + i);
	struct gop *w = add(&p, true, GPA(2) - 10, 0);
	w->len = sizeof(in);
	w->buf = in;
	run(&e, &p);
	CHECK_OK(w->r);
	CHECK_OK(vms_mm_read(e.mm, e.hva + 2 * PG - 10, out, sizeof(out)));
	CHECK(memcmp(in, out, sizeof(in)) == 0, "cross-page guest write");
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0x30 + i);
	CHECK_OK(vms_mm_write(e.mm, e.hva + 2 * PG - 10, in, sizeof(in)));
	memset(&p, 0, sizeof(p));
	struct gop *r = add(&p, false, GPA(2) - 10, 0);
	r->len = sizeof(out);
	r->buf = out;
	run(&e, &p);
	CHECK_OK(r->r);
	CHECK(memcmp(in, out, sizeof(in)) == 0, "cross-page guest read");
	env_down(&e);
}

static void test_dontneed(void)
{
	struct env e;

	env_up(&e, 64, 4);
	g_write(&e, GPA(1), 0x55);
	g_write(&e, GPA(2), 0x66);
	CHECK(spte(&e, GFN + 1) & SPTE_PRESENT, "no spte after a write");
	CHECK_OK(vms_madvise(e.mm, e.hva + PG, PG, VMS_MADV_DONTNEED));
	/* The spte went with the page; the neighbour's stayed. */
	CHECK_EQ(spte(&e, GFN + 1), 0);
	CHECK(spte(&e, GFN + 2) & SPTE_PRESENT, "a neighbour was zapped");
	CHECK_EQ(g_read(&e, GPA(1)), 0);
	CHECK_EQ(g_read(&e, GPA(2)), 0x66);
	/* FREE keeps the data for the guest (nothing reclaims here). */
	CHECK_OK(vms_madvise(e.mm, e.hva + 2 * PG, PG, VMS_MADV_FREE));
	CHECK_EQ(spte(&e, GFN + 2), 0);
	CHECK_EQ(g_read(&e, GPA(2)), 0x66);
	env_down(&e);
}

static void test_dirty_handover(void)
{
	struct env e;
	struct prog p = { 0 };
	uint64_t s;

	env_up(&e, 64, 4);
	/* Read fault: writable (the mapping allows it) but not dirty. */
	add(&p, false, GPA(1), 0);
	run(&e, &p);
	s = spte(&e, GFN + 1);
	CHECK(s & SPTE_PRESENT, "no spte");
	CHECK(s & SPTE_WRITE, "a read fault of RW memory made it read-only");
	CHECK(!(s & SPTE_DIRTY), "a read made the spte dirty");
	/* Read then write on one vCPU: the write sets D through the TLB
	 * fill, with no second fault. */
	struct vms_vm_stats st0, st1;
	vms_vm_stats(e.vm, &st0);
	memset(&p, 0, sizeof(p));
	add(&p, false, GPA(1), 0);
	add(&p, true, GPA(1) + 8, 0xd1d1);
	run(&e, &p);
	CHECK_OK(p.op[1].r);
	vms_vm_stats(e.vm, &st1);
	CHECK_EQ(st1.faults, st0.faults);
	s = spte(&e, GFN + 1);
	CHECK(s & SPTE_DIRTY, "guest write left D clear: %#" PRIx64, s);
	/* Only the secondary knows of the write so far... */
	CHECK(!page_dirty(&e, e.hva + PG), "page dirty before any zap");
	/* ... until a zap hands it over. */
	CHECK_OK(vms_mprotect(e.mm, e.hva + PG, PG, VMS_PROT_READ));
	CHECK_EQ(spte(&e, GFN + 1), 0);
	CHECK(page_dirty(&e, e.hva + PG), "zap lost the dirty bit");
	CHECK_EQ(h_read(&e, e.hva + PG + 8), 0xd1d1);

	/* After FREE cleaned it, a guest write through a fresh read-fault
	 * spte is handed over again by the next zap. */
	CHECK_OK(vms_mprotect(e.mm, e.hva, 4 * PG, RW));
	CHECK_OK(vms_madvise(e.mm, e.hva + PG, PG, VMS_MADV_FREE));
	CHECK(!page_dirty(&e, e.hva + PG), "FREE left the page dirty");
	memset(&p, 0, sizeof(p));
	add(&p, false, GPA(1), 0);
	add(&p, true, GPA(1) + 16, 0xd2d2);
	run(&e, &p);
	CHECK_OK(p.op[1].r);
	CHECK(spte(&e, GFN + 1) & SPTE_DIRTY, "guest write left D clear");
	CHECK_OK(vms_mprotect(e.mm, e.hva + PG, PG, VMS_PROT_READ));
	CHECK_EQ(spte(&e, GFN + 1), 0);
	CHECK(page_dirty(&e, e.hva + PG), "zap after FREE lost the dirty bit");
	CHECK_EQ(h_read(&e, e.hva + PG + 16), 0xd2d2);

	/* A write fault on a fresh page marks both at once. */
	memset(&p, 0, sizeof(p));
	add(&p, true, GPA(3), 0xd3);
	run(&e, &p);
	CHECK(spte(&e, GFN + 3) & SPTE_DIRTY, "write fault, clean spte");
	CHECK(page_dirty(&e, e.hva + 3 * PG), "write fault, clean page");
	env_down(&e);
}

static void test_stats(void)
{
	struct vms_vm_stats a, b;
	struct env e;
	struct prog p = { 0 };
	uint64_t other;

	env_up(&e, 64, 8);
	vms_vm_stats(e.vm, &a);
	CHECK_EQ(a.faults, 0);
	CHECK_EQ(a.invalidations, 0);
	/* Three pages written: three faults; again: none. */
	for (int i = 0; i < 3; i++)
		add(&p, true, GPA(i), 1);
	for (int i = 0; i < 3; i++)
		add(&p, true, GPA(i) + 8, 2);
	run(&e, &p);
	vms_vm_stats(e.vm, &b);
	CHECK_EQ(b.faults - a.faults, 3);
	CHECK_EQ(b.exits, 0);
	/* A DONTNEED over two of them: one invalidation, two zapped, one
	 * flush for the batch. */
	CHECK_OK(vms_madvise(e.mm, e.hva, 2 * PG, VMS_MADV_DONTNEED));
	vms_vm_stats(e.vm, &a);
	CHECK_EQ(a.invalidations - b.invalidations, 1);
	CHECK_EQ(a.zapped - b.zapped, 2);
	CHECK_EQ(a.tlb_flushes - b.tlb_flushes, 1);
	/* One over pages with no spte: invalidated, nothing zapped, no
	 * flush. */
	CHECK_OK(vms_madvise(e.mm, e.hva + 4 * PG, 4 * PG, VMS_MADV_DONTNEED));
	vms_vm_stats(e.vm, &b);
	CHECK_EQ(b.invalidations - a.invalidations, 1);
	CHECK_EQ(b.zapped, a.zapped);
	CHECK_EQ(b.tlb_flushes, a.tlb_flushes);
	/* Memory outside every slot: the VM hears of it but has nothing to
	 * drop. */
	CHECK_OK(vms_mmap(e.mm, 0, PG, RW, PA, &other));
	h_write(&e, other, 1);
	CHECK_OK(vms_munmap(e.mm, other, PG));
	vms_vm_stats(e.vm, &a);
	CHECK_EQ(a.invalidations - b.invalidations, 1);
	CHECK_EQ(a.zapped, b.zapped);
	/* A zapped page refaults once; an exit is counted. */
	CHECK_EQ(g_read(&e, GPA(0)), 0);
	CHECK_EQ(g_access(&e, false, GPA(100), NULL, NULL), -EFAULT);
	vms_vm_stats(e.vm, &b);
	CHECK_EQ(b.faults - a.faults, 1);
	CHECK_EQ(b.exits - a.exits, 1);
	CHECK_EQ(b.guest_reads - a.guest_reads, 2);
	env_down(&e);
}

static void test_mprotect(void)
{
	struct vms_exit ex;
	struct env e;
	uint64_t v = 0x99;

	env_up(&e, 64, 4);
	g_write(&e, GPA(2), 0x1234);
	CHECK_OK(vms_mprotect(e.mm, e.hva + 2 * PG, PG, VMS_PROT_READ));
	/* The write right is taken from the secondary too. */
	CHECK(!(spte(&e, GFN + 2) & SPTE_WRITE), "spte still writable");
	CHECK_EQ(g_read(&e, GPA(2)), 0x1234);
	CHECK(!(spte(&e, GFN + 2) & SPTE_WRITE), "read fault made it writable");
	CHECK_EQ(g_access(&e, true, GPA(2) + 24, &v, &ex), -EACCES);
	CHECK_EQ(ex.reason, VMS_EXIT_EFAULT);
	CHECK_EQ(ex.error, -EACCES);
	CHECK_EQ(ex.gpa, GPA(2) + 24);
	CHECK(ex.write, "exit not marked as a write");
	CHECK_EQ(h_read(&e, e.hva + 2 * PG + 24), 0);
	/* A read-then-write on one vCPU: the read's TLB entry must not let
	 * the write through. */
	struct prog p = { 0 };
	add(&p, false, GPA(2), 0);
	add(&p, true, GPA(2), 0xbad);
	run(&e, &p);
	CHECK_OK(p.op[0].r);
	CHECK_EQ(p.op[1].r, -EACCES);
	CHECK_EQ(h_read(&e, e.hva + 2 * PG), 0x1234);
	/* Neighbours are still writable. */
	g_write(&e, GPA(3), 3);
	/* No access at all. */
	CHECK_OK(vms_mprotect(e.mm, e.hva + 2 * PG, PG, VMS_PROT_NONE));
	CHECK_EQ(g_access(&e, false, GPA(2), NULL, &ex), -EACCES);
	CHECK_EQ(ex.reason, VMS_EXIT_EFAULT);
	CHECK(!ex.write, "exit marked as a write");
	/* Rights back: writes work again. */
	CHECK_OK(vms_mprotect(e.mm, e.hva + 2 * PG, PG, RW));
	g_write(&e, GPA(2), 0x4321);
	CHECK_EQ(h_read(&e, e.hva + 2 * PG), 0x4321);
	env_down(&e);
}

static void test_readonly_slot(void)
{
	struct vms_exit ex;
	struct env e;
	uint64_t v = 5;
	int r;

	env_up(&e, 64, 4);
	/* An alias of the same memory at gfn 64, read-only for the guest. */
	CHECK_OK(t_memslot(e.vm, 1, 64, 4, e.hva, VMS_MEM_READONLY));
	h_write(&e, e.hva + PG, 0xfeed);
	CHECK_EQ(g_read(&e, 65 * PG), 0xfeed);
	CHECK(!(spte(&e, 65) & SPTE_WRITE), "read-only slot, writable spte");
	r = g_access(&e, true, 65 * PG + 8, &v, &ex);
	CHECK(r < 0, "write to a read-only slot returned %d", r);
	CHECK_EQ(ex.error, r);
	CHECK_EQ(ex.reason, VMS_EXIT_READONLY);
	CHECK_EQ(ex.gpa, 65 * PG + 8);
	CHECK(ex.write, "exit not marked as a write");
	CHECK_EQ(h_read(&e, e.hva + PG + 8), 0);
	/* Through the writable alias it works, and the RO view sees it. */
	g_write(&e, GPA(1) + 8, 0xbeef);
	CHECK_EQ(g_read(&e, 65 * PG + 8), 0xbeef);
	env_down(&e);
}

static void test_no_slot(void)
{
	struct vms_exit ex;
	struct env e;
	int r;

	env_up(&e, 64, 4);
	r = g_access(&e, false, GPA(4) + 0x123, NULL, &ex);
	CHECK(r < 0, "read of no slot returned %d", r);
	CHECK_EQ(ex.reason, VMS_EXIT_NO_SLOT);
	CHECK_EQ(ex.error, r);
	CHECK_EQ(ex.gpa, GPA(4) + 0x123);
	CHECK(!ex.write, "exit marked as a write");
	/* Below the slot, and past max_gpa. */
	CHECK(g_access(&e, true, 8, NULL, &ex) < 0, "gpa 8 accepted");
	CHECK_EQ(ex.reason, VMS_EXIT_NO_SLOT);
	CHECK_EQ(ex.gpa, 8);
	CHECK(ex.write, "exit not marked as a write");
	CHECK(g_access(&e, false, 1ull << 40, NULL, &ex) < 0,
	      "gpa past max_gpa accepted");
	CHECK_EQ(ex.reason, VMS_EXIT_NO_SLOT);
	CHECK_EQ(ex.gpa, 1ull << 40);
	/* After deleting the slot, its memory is gone for the guest. */
	g_write(&e, GPA(0), 1);
	CHECK_OK(t_memslot(e.vm, 0, 0, 0, 0, 0));
	CHECK_EQ(spte(&e, GFN), 0);
	CHECK(g_access(&e, false, GPA(0), NULL, &ex) < 0, "deleted slot read");
	CHECK_EQ(ex.reason, VMS_EXIT_NO_SLOT);
	env_down(&e);
}

static void test_munmap_efault(void)
{
	struct vms_exit ex;
	struct env e;

	env_up(&e, 64, 4);
	g_write(&e, GPA(1), 1);
	g_write(&e, GPA(2), 2);
	CHECK_OK(vms_munmap(e.mm, e.hva + PG, PG));
	CHECK_EQ(spte(&e, GFN + 1), 0);
	CHECK_EQ(g_access(&e, false, GPA(1) + 0x238, NULL, &ex), -EFAULT);
	CHECK_EQ(ex.reason, VMS_EXIT_EFAULT);
	CHECK_EQ(ex.error, -EFAULT);
	CHECK_EQ(ex.gpa, GPA(1) + 0x238);
	/* A write likewise. */
	CHECK_EQ(g_access(&e, true, GPA(1) + 8, NULL, &ex), -EFAULT);
	CHECK_EQ(ex.reason, VMS_EXIT_EFAULT);
	CHECK(ex.write, "exit not marked as a write");
	/* An access running into the hole stops at the hole's first byte. */
	struct prog p = { 0 };
	uint8_t buf[32];
	struct gop *o = add(&p, false, GPA(1) - 16, 0);
	o->len = sizeof(buf);
	o->buf = buf;
	run(&e, &p);
	CHECK_EQ(o->r, -EFAULT);
	CHECK_EQ(o->exit.gpa, GPA(1));
	/* The rest of the slot works. */
	CHECK_EQ(g_read(&e, GPA(2)), 2);
	env_down(&e);
}

static void test_mremap_away(void)
{
	struct vms_exit ex;
	struct env e;
	uint64_t n;

	env_up(&e, 64, 4);
	for (int i = 0; i < 4; i++)
		g_write(&e, GPA(i), 0x100 + i);
	/* A neighbour right behind it, so that growing has to move. */
	CHECK_OK(vms_mmap(e.mm, e.hva + 4 * PG, PG, RW,
			  PA | VMS_MAP_FIXED_NOREPLACE, &n));
	CHECK_OK(vms_mremap(e.mm, e.hva, 4 * PG, 8 * PG, VMS_MREMAP_MAYMOVE,
			    0, &n));
	CHECK(n != e.hva, "mremap did not move");
	for (int i = 0; i < 4; i++)
		CHECK_EQ(spte(&e, GFN + i), 0);
	CHECK_EQ(g_access(&e, false, GPA(3), NULL, &ex), -EFAULT);
	CHECK_EQ(ex.reason, VMS_EXIT_EFAULT);
	/* Point the slot at the new place: the data moved with it. */
	CHECK_OK(t_memslot(e.vm, 0, GFN, 4, n, 0));
	for (int i = 0; i < 4; i++)
		CHECK_EQ(g_read(&e, GPA(i)), 0x100 + i);
	e.hva = n;
	env_down(&e);
}

/* MADV_FREE may drop data only until the next write: a guest write after
 * it, made through a read-fault spte the host never saw, survives reclaim
 * (the zap before the eviction hands the dirty bit over). */
static void test_free_then_write_survives_reclaim(void)
{
	struct env e;
	struct prog p = { 0 };

	env_up(&e, 64, 2);
	h_write(&e, e.hva, 0x77);
	h_write(&e, e.hva + PG, 0x88);
	CHECK_OK(vms_madvise(e.mm, e.hva, 2 * PG, VMS_MADV_FREE));
	add(&p, false, GPA(0), 0);
	add(&p, true, GPA(0) + 8, 0x5151);
	run(&e, &p);
	CHECK_OK(p.op[1].r);
	CHECK_OK(vms_madvise(e.mm, e.hva, 2 * PG, VMS_MADV_PAGEOUT));
	CHECK_EQ(h_read(&e, e.hva + 8), 0x5151);
	CHECK_EQ(h_read(&e, e.hva), 0x77);
	CHECK_EQ(g_read(&e, GPA(0) + 8), 0x5151);
	/* The page nobody wrote since: old data or zeroes. */
	uint64_t v = g_read(&e, GPA(1));
	CHECK(v == 0x88 || v == 0, "FREE page reads %#" PRIx64, v);
	env_down(&e);
}

/* Memslot move under a running vCPU. */
struct mover {
	atomic_int phase;
	uint64_t before, after;
};

static int mover_fn(struct vms_vcpu *v, void *arg)
{
	struct mover *m = arg;
	uint64_t x;

	CHECK_OK(vms_guest_read64(v, GPA(0), &m->before));
	atomic_store(&m->phase, 1);
	/* Stay in guest mode with a live TLB entry for GPA(0): the move
	 * must wait for our flush acknowledgement, which the accesses to
	 * the scratch slot give. */
	while (atomic_load(&m->phase) != 2)
		CHECK_OK(vms_guest_read64(v, 1000 * PG, &x));
	CHECK_OK(vms_guest_read64(v, GPA(0), &m->after));
	return 0;
}

static void test_memslot_move(void)
{
	struct mover m = { 0 };
	struct vms_vcpu *v;
	struct env e;
	uint64_t h2, scratch;
	int ret;

	env_up(&e, 64, 2);
	CHECK_OK(vms_mmap(e.mm, 0, 2 * PG, RW, PA, &h2));
	CHECK_OK(vms_mmap(e.mm, 0, PG, RW, PA, &scratch));
	CHECK_OK(t_memslot(e.vm, 1, 1000, 1, scratch, 0));
	h_write(&e, e.hva, 0xaaaa);
	h_write(&e, h2, 0xbbbb);

	CHECK_OK(vms_vcpu_start(e.vm, mover_fn, &m, &v));
	while (atomic_load(&m.phase) != 1)
		sched_yield();
	CHECK_OK(t_memslot(e.vm, 0, GFN, 2, h2, 0));
	atomic_store(&m.phase, 2);
	CHECK_OK(vms_vcpu_join(v, &ret));
	CHECK_EQ(ret, 0);
	CHECK_EQ(m.before, 0xaaaa);
	CHECK_EQ(m.after, 0xbbbb);
	uint64_t hva;
	CHECK_OK(vms_vm_gpa_to_hva(e.vm, GPA(1) + 5, &hva));
	CHECK_EQ(hva, h2 + PG + 5);
	/* Guest writes now land in the new memory, not the old. */
	g_write(&e, GPA(0) + 8, 0xcccc);
	CHECK_EQ(h_read(&e, h2 + 8), 0xcccc);
	CHECK_EQ(h_read(&e, e.hva + 8), 0);
	/* Moving to another gfn: the old gfn is empty. */
	CHECK_OK(t_memslot(e.vm, 0, 200, 2, h2, 0));
	CHECK(g_access(&e, false, GPA(0), NULL, NULL) < 0, "old gfn mapped");
	CHECK_EQ(g_read(&e, 200 * PG + 8), 0xcccc);
	env_down(&e);
}

static void test_clear_young(void)
{
	struct env e;

	env_up(&e, 64, 4);
	g_write(&e, GPA(0), 1);
	CHECK_EQ(g_read(&e, GPA(1)), 0);
	CHECK(spte(&e, GFN) & SPTE_ACCESSED, "no A after a write");
	CHECK(spte(&e, GFN + 1) & SPTE_ACCESSED, "no A after a read");
	CHECK_OK(vms_madvise(e.mm, e.hva + PG, PG, VMS_MADV_COLD));
	/* Aged, not zapped: still present, A cleared only in the range. */
	CHECK(spte(&e, GFN + 1) & SPTE_PRESENT, "COLD zapped the spte");
	CHECK(!(spte(&e, GFN + 1) & SPTE_ACCESSED), "COLD left A set");
	CHECK(spte(&e, GFN) & SPTE_ACCESSED, "COLD cleared A outside");
	/* The next access through a fresh TLB sets it again. */
	CHECK_EQ(g_read(&e, GPA(1)), 0);
	CHECK(spte(&e, GFN + 1) & SPTE_ACCESSED, "access did not set A");
	/* D is not aging's business. */
	CHECK_OK(vms_madvise(e.mm, e.hva, PG, VMS_MADV_COLD));
	CHECK(spte(&e, GFN) & SPTE_DIRTY, "COLD cleared D");
	env_down(&e);
}

static void test_alias_zap(void)
{
	struct env e;

	env_up(&e, 64, 4);
	CHECK_OK(t_memslot(e.vm, 1, 300, 4, e.hva, 0));
	g_write(&e, GPA(2), 0x77);
	CHECK_EQ(g_read(&e, 302 * PG), 0x77);
	CHECK(spte(&e, GFN + 2) & SPTE_PRESENT, "no spte in slot 0");
	CHECK(spte(&e, 302) & SPTE_PRESENT, "no spte in slot 1");
	CHECK_EQ(SPTE_PFN(spte(&e, GFN + 2)), SPTE_PFN(spte(&e, 302)));
	/* One hva, two gfns: the invalidation drops both. */
	CHECK_OK(vms_madvise(e.mm, e.hva + 2 * PG, PG, VMS_MADV_DONTNEED));
	CHECK_EQ(spte(&e, GFN + 2), 0);
	CHECK_EQ(spte(&e, 302), 0);
	CHECK_EQ(g_read(&e, 302 * PG), 0);
	env_down(&e);
}

static void test_nomem(void)
{
	struct vms_exit ex;
	struct env e;
	int r;

	env_up(&e, 3, 8);
	for (int i = 0; i < 3; i++)
		g_write(&e, GPA(i), 1);
	r = g_access(&e, true, GPA(3) + 16, NULL, &ex);
	CHECK_EQ(r, -ENOMEM);
	CHECK_EQ(ex.reason, VMS_EXIT_NOMEM);
	CHECK_EQ(ex.error, -ENOMEM);
	CHECK_EQ(ex.gpa, GPA(3) + 16);
	/* Frames back: it works. */
	CHECK_OK(vms_madvise(e.mm, e.hva, PG, VMS_MADV_DONTNEED));
	g_write(&e, GPA(3), 1);
	env_down(&e);
}

/* The mm may go before the VM: its release drops every spte, and the VM
 * is torn down afterwards without touching the mm. */
static void test_mm_destroyed_first(void)
{
	struct vms_node_info ni;
	struct env e;

	env_up(&e, 16, 4);
	for (int i = 0; i < 4; i++)
		g_write(&e, GPA(i), 1 + i);
	CHECK_OK(vms_phys_node_info(e.phys, 0, &ni));
	CHECK_EQ(ni.free, 12);
	vms_mm_destroy(e.mm);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(spte(&e, GFN + i), 0);
	CHECK_OK(vms_phys_node_info(e.phys, 0, &ni));
	CHECK_EQ(ni.free, 16);
	vms_vm_destroy(e.vm);
	vms_phys_destroy(e.phys);
}

/* An exit's hva is the hva of its gpa, byte for byte, as the gpa is. */
static void test_exit_hva(void)
{
	struct vms_exit ex;
	struct env e;
	uint64_t hva;

	env_up(&e, 64, 4);
	CHECK_OK(vms_munmap(e.mm, e.hva + PG, PG));
	CHECK_EQ(g_access(&e, false, GPA(1) + 0x238, NULL, &ex), -EFAULT);
	CHECK_EQ(ex.gpa, GPA(1) + 0x238);
	CHECK_OK(vms_vm_gpa_to_hva(e.vm, ex.gpa, &hva));
	CHECK(ex.hva == hva, "exit hva %#" PRIx64 ", gpa's hva %#" PRIx64,
	      ex.hva, hva);
	CHECK_OK(t_memslot(e.vm, 1, 64, 1, e.hva, VMS_MEM_READONLY));
	CHECK(g_access(&e, true, 64 * PG + 0x10, NULL, &ex) < 0, "RO write");
	CHECK_EQ(ex.reason, VMS_EXIT_READONLY);
	CHECK_EQ(ex.hva, e.hva + 0x10);
	env_down(&e);
}

int main(void)
{

	T_RUN(test_coherence);
	T_RUN(test_dontneed);
	T_RUN(test_dirty_handover);
	T_RUN(test_stats);
	T_RUN(test_mprotect);
	T_RUN(test_readonly_slot);
	T_RUN(test_no_slot);
	T_RUN(test_munmap_efault);
	T_RUN(test_mremap_away);
	T_RUN(test_free_then_write_survives_reclaim);
	T_RUN(test_memslot_move);
	T_RUN(test_clear_young);
	T_RUN(test_alias_zap);
	T_RUN(test_nomem);
	T_RUN(test_mm_destroyed_first);
	T_RUN(test_exit_hva);
	return T_DONE();
}
