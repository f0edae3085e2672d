/* fault.c - injected failures at every site that can fail (heap, mappings,
 * threads, frames, swap slots, the swap file, swap reads and writes, short
 * transfers): a sweep runs one scenario with the n-th call of a site
 * failing, once or from then on, for n across every call the scenario
 * makes, and checks that each failure comes back as a documented error,
 * that no guest data is lost or corrupted, that nothing leaks (heap
 * blocks, file descriptors, frames, swap slots) and that nothing hangs.
 *
 *   test-fault [--site NAME] [--points N] [--seed S]
 */
#define _GNU_SOURCE
#include "test.h"
#include "base/base.h"

#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define ANON (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define PAGES 256               /* guest RAM, on 2 x 96 frames: overcommit */
#define NODE_FRAMES 96
#define SWAP_PAGES 512
#define WORDS (VMS_PAGE_SIZE / 8)

/*
 * What a page must hold: the pattern of generation gen[p], or, after a
 * write that failed, that of gen[p] or of maybe[p] (the failed write may
 * or may not have landed; a page is all one or all the other).
 */
static uint32_t gen[PAGES], maybe[PAGES];

/* The first quarter of a page is noise, the rest zeroes: pages the
 * compressed tier takes. */
static uint64_t pattern_word(uint64_t page, uint32_t g, uint64_t i)
{
	return g && i < WORDS / 4
		? (page << 40 | (uint64_t)g << 20 | i) * 0x9e3779b97f4a7c15ull
		: 0;
}

static void fill(uint64_t *buf, uint64_t page, uint32_t g)
{
	for (uint64_t i = 0; i < WORDS; i++)
		buf[i] = pattern_word(page, g, i);
}

static bool holds(const uint64_t *buf, uint64_t page, uint32_t g)
{
	for (uint64_t i = 0; i < WORDS; i++)
		if (buf[i] != pattern_word(page, g, i))
			return false;
	return true;
}

static const char *scene;       /* what the scenario runs now, for errors */
static bool faults_stopped;     /* disarmed: every call must succeed now */

static void check_page(const uint64_t *buf, uint64_t page)
{
	CHECK(holds(buf, page, gen[page]) ||
	      (maybe[page] && holds(buf, page, maybe[page])),
	      "%s: page %" PRIu64 " holds neither generation %u nor %u "
	      "(word 0: %#" PRIx64 ")", scene, page, gen[page], maybe[page],
	      buf[0]);
	if (maybe[page]) {      /* now we know which */
		gen[page] = holds(buf, page, gen[page]) ? gen[page] : maybe[page];
		maybe[page] = 0;
	}
}

/* Any failure must have been injected, and be one the API documents. */
static void check_err(int r, const char *what, const int *allowed)
{
	uint64_t injected = 0;

	if (!r)
		return;
	CHECK(!faults_stopped, "%s: %s failed with %d (%s) after the faults "
	      "stopped", scene, what, r, strerror(-r));
	for (unsigned s = 0; s < VMS_FAULT_NR; s++)
		injected += vms_fault_injected(s);
	CHECK(injected, "%s: %s failed with %d (%s), nothing injected", scene,
	      what, r, strerror(-r));
	for (; *allowed; allowed++)
		if (r == *allowed)
			return;
	CHECK(0, "%s: %s failed with %d (%s), not a documented error", scene,
	      what, r, strerror(-r));
}

static const int E_SETUP[] = { -ENOMEM, -EMFILE, -EAGAIN, -ENOSPC, 0 };
static const int E_ACCESS[] = { -ENOMEM, -EIO, 0 };

/* ---- the guest side: one pass over guest RAM on a vCPU thread */

struct pass {
	bool write;
	uint32_t g;             /* generation a write pass writes */
	unsigned failed;
};

static int guest_pass(struct vms_vcpu *v, void *arg)
{
	struct pass *ps = arg;
	static _Thread_local uint64_t buf[WORDS];

	for (uint64_t p = 0; p < PAGES; p++) {
		int r;

		if (ps->write) {
			fill(buf, p, ps->g);
			r = vms_guest_write(v, p * VMS_PAGE_SIZE, buf,
					    VMS_PAGE_SIZE);
			if (!r)
				gen[p] = ps->g, maybe[p] = 0;
			else
				maybe[p] = ps->g;
		} else {
			r = vms_guest_read(v, p * VMS_PAGE_SIZE, buf,
					   VMS_PAGE_SIZE);
			if (!r)
				check_page(buf, p);
		}
		if (r) {
			const struct vms_exit *e = vms_vcpu_exit(v);

			check_err(r, ps->write ? "guest write" : "guest read",
				  E_ACCESS);
			CHECK(e->reason == (r == -EIO ? VMS_EXIT_IO
						      : VMS_EXIT_NOMEM),
			      "%s: access error %d with exit reason %d", scene,
			      r, e->reason);
			ps->failed++;
		}
	}
	return 0;
}

/* Runs a pass on a new vCPU; the vCPU's start may be refused. */
static void run_pass(struct vms_vm *vm, bool write, uint32_t g)
{
	struct pass ps = { .write = write, .g = g };
	struct vms_vcpu *v;
	int ret = -1;
	int r = vms_vcpu_start(vm, guest_pass, &ps, &v);

	check_err(r, "vcpu start", E_SETUP);
	if (r)
		return;
	CHECK_OK(vms_vcpu_join(v, &ret));
	CHECK_EQ(ret, 0);
}

/* The host reads every page back through the mm. */
static void host_verify(struct vms_mm *mm, uint64_t hva)
{
	static uint64_t buf[WORDS];

	for (uint64_t p = 0; p < PAGES; p++) {
		int r = vms_mm_read(mm, hva + p * VMS_PAGE_SIZE, buf,
				    VMS_PAGE_SIZE);

		check_err(r, "host read", E_ACCESS);
		if (!r)
			check_page(buf, p);
	}
}

/* ---- leaks the OS would see */

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	CHECK(d, "cannot list /proc/self/fd: %s", strerror(errno));
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* An interval subscription over guest RAM, as a device driver keeps. */
static bool iv_invalidate(struct vms_interval_notifier *sub,
			  const struct vms_mmu_range *range,
			  unsigned long cur_seq)
{
	vms_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct vms_interval_notifier_ops iv_ops = {
	.invalidate = iv_invalidate,
};

/* The host writes generation @g over the first quarter of guest RAM. */
static void host_pass(struct vms_mm *mm, uint64_t hva, uint32_t g)
{
	static uint64_t buf[WORDS];

	for (uint64_t p = 0; p < PAGES / 4; p++) {
		fill(buf, p, g);
		int r = vms_mm_write(mm, hva + p * VMS_PAGE_SIZE, buf,
				     VMS_PAGE_SIZE);

		check_err(r, "host write", E_ACCESS);
		if (!r)
			gen[p] = g, maybe[p] = 0;
		else
			maybe[p] = g;
	}
}

struct world {
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_interval_notifier *iv;
	uint64_t hva;           /* guest RAM; 0: not mapped */
	bool slot;              /* the memslot maps guest RAM at hva */
};

/* Pools, a swap file, an mm, a VM with one memslot over 256 pages of
 * guest RAM on 192 frames, an interval subscription.  Stops at the first
 * failure: 0 or its error. */
static int setup(struct world *w)
{
	struct vms_phys_config pc = { .nr_nodes = 2,
				      .node_frames = { NODE_FRAMES, NODE_FRAMES } };
	struct vms_swap_backend *be;
	int r;

	r = vms_phys_create(&pc, &w->phys);
	check_err(r, "phys create", E_SETUP);
	if (r)
		return r;
	r = vms_swap_file_create(NULL, SWAP_PAGES * VMS_PAGE_SIZE, true, &be);
	check_err(r, "swap file create", E_SETUP);
	if (r)
		return r;
	/* A compressed tier on a few of the pool's frames, in front. */
	struct vms_zswap_config zc = { .pool_bytes = 8 * VMS_PAGE_SIZE,
				       .phys = w->phys };
	struct vms_swap_backend *tier;

	r = vms_swap_zswap_create(&zc, be, &tier);
	check_err(r, "zswap create", E_SETUP);
	if (r) {
		be->release(be);
		return r;
	}
	be = tier;
	r = vms_swap_on(w->phys, be, 0, 0);
	check_err(r, "swap on", E_SETUP);
	if (r) {
		be->release(be);        /* still ours */
		return r;
	}
	r = vms_mm_create(w->phys, NULL, &w->mm);
	check_err(r, "mm create", E_SETUP);
	if (r)
		return r;
	r = vms_vm_create(w->mm, NULL, &w->vm);
	check_err(r, "vm create", E_SETUP);
	if (r)
		return r;
	r = vms_mmap(w->mm, 0, PAGES * VMS_PAGE_SIZE, RW, ANON, &w->hva);
	check_err(r, "mmap", E_SETUP);
	if (r)
		return r;
	r = vms_interval_notifier_insert(w->mm, w->hva, PAGES * VMS_PAGE_SIZE,
					 &iv_ops, NULL, &w->iv);
	check_err(r, "interval insert", E_SETUP);
	if (r)
		return r;
	r = t_memslot(w->vm, 0, 0, PAGES, w->hva, 0);
	check_err(r, "memslot add", E_SETUP);
	w->slot = !r;
	return r;
}

/* The guest writes everything (reclaim swaps), the host pages it all
 * out, guest and host read it back, half of it migrates, guest and host
 * rewrite parts, the mapping moves (mremap) and the memslot with it, a
 * quarter goes read-only, and a last pass reads it all. */
static void churn(struct world *w)
{
	const size_t len = PAGES * VMS_PAGE_SIZE;
	uint64_t moved, to;
	int r;

	run_pass(w->vm, true, 1);
	r = vms_madvise(w->mm, w->hva, len, VMS_MADV_PAGEOUT);
	check_err(r, "pageout", E_ACCESS);
	run_pass(w->vm, false, 0);
	host_verify(w->mm, w->hva);
	/* -ENOMEM needs no fault: node 1 may be full. */
	r = vms_migrate(w->mm, w->hva, len / 2, 1, &moved);
	check_err(r == -ENOMEM ? 0 : r, "migrate", E_ACCESS);
	run_pass(w->vm, true, 2);
	host_pass(w->mm, w->hva, 3);
	r = vms_madvise(w->mm, w->hva, len, VMS_MADV_WILLNEED);
	check_err(r, "willneed", E_ACCESS);
	r = vms_mremap(w->mm, w->hva, len, len,
		       VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED,
		       w->hva + (1ull << 30), &to);
	check_err(r, "mremap", E_SETUP);
	if (r)
		return;
	w->hva = to;
	r = t_memslot(w->vm, 0, 0, PAGES, w->hva, 0);
	check_err(r, "memslot move", E_SETUP);
	w->slot = !r;
	if (!w->slot)
		return;
	/* A middle quarter read-only: its VMA splits off. */
	r = vms_mprotect(w->mm, w->hva + len / 4, len / 4, VMS_PROT_READ);
	check_err(r, "mprotect", E_SETUP);
	run_pass(w->vm, false, 0);
}

/* Everything goes; nothing may stay behind in the pools or the swap. */
static void teardown(struct world *w)
{
	struct vms_phys_stats vs;

	if (w->iv)
		vms_interval_notifier_remove(w->iv);
	if (w->vm) {
		struct vms_vm_stats st;

		vms_vm_stats(w->vm, &st);
		CHECK_EQ(st.violations, 0);
		vms_vm_destroy(w->vm);
	}
	if (w->mm)
		vms_mm_destroy(w->mm);
	if (!w->phys)
		return;
	vms_phys_drop_caches(w->phys);
	vms_phys_stats(w->phys, &vs);
	for (unsigned i = 0; i < vs.nr_nodes; i++)
		CHECK(vs.node[i].free == vs.node[i].frames,
		      "%s: node %u: %" PRIu64 " of %" PRIu64 " frames free",
		      scene, i, vs.node[i].free, vs.node[i].frames);
	CHECK(vs.swap_used == 0, "%s: %" PRIu64 " swap slots still used",
	      scene, vs.swap_used);
	vms_phys_destroy(w->phys);
}

/* Setup and churn with the faults armed; then, whatever failed, the data
 * is all there once they stop. */
static void scenario(void)
{
	struct world w = { 0 };

	faults_stopped = false;
	memset(gen, 0, sizeof(gen));
	memset(maybe, 0, sizeof(maybe));
	if (!setup(&w))
		churn(&w);
	vms_fault_disarm();
	faults_stopped = true;
	if (w.hva) {
		if (w.slot)
			run_pass(w.vm, false, 0);
		host_verify(w.mm, w.hva);
	}
	teardown(&w);
}

/* One scenario with @site's @nth call failing (from then on when
 * @persist): checks the leaks around it. */
static void run_one(enum vms_fault_site site, uint64_t nth, bool persist)
{
	static char name[96];
	int64_t heap = vms_heap_live();
	unsigned fds = open_fds();

	snprintf(name, sizeof(name), "%s call %" PRIu64 "%s",
		 vms_fault_name(site), nth, persist ? " on" : "");
	scene = name;
	for (unsigned s = 0; s < VMS_FAULT_NR; s++)
		vms_fault_arm(s, s == site ? nth : 0, persist);
	t_watchdog(30, name);
	scenario();
	t_watchdog(0, "");
	vms_fault_disarm();
	CHECK(vms_heap_live() == heap, "%s: %" PRId64 " heap blocks leaked",
	      scene, vms_heap_live() - heap);
	CHECK(open_fds() == fds, "%s: %d file descriptors leaked", scene,
	      (int)open_fds() - (int)fds);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "site", 1, 0, 's' }, { "points", 1, 0, 'p' },
		{ "seed", 1, 0, 'S' }, { 0, 0, 0, 0 }
	};
	const char *only = NULL;
	uint64_t points = 24, seed = 1;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 's')
			only = optarg;
		else if (c == 'p')
			points = strtoull(optarg, NULL, 0);
		else if (c == 'S')
			seed = strtoull(optarg, NULL, 0);
		else
			return 2;
	}

	/* A clean run counts each site's calls. */
	uint64_t calls[VMS_FAULT_NR];
	run_one(VMS_FAULT_NR, 0, false);
	for (unsigned s = 0; s < VMS_FAULT_NR; s++)
		calls[s] = vms_fault_calls(s);
	printf("clean run: alloc %" PRIu64 ", map %" PRIu64 ", thread %"
	       PRIu64 ", frame %" PRIu64 ", swap-slot %" PRIu64 ", swap-file %"
	       PRIu64 ", swap-write %" PRIu64 ", swap-read %" PRIu64
	       ", swap-short %" PRIu64 " calls\n", calls[0], calls[1], calls[2],
	       calls[3], calls[4], calls[5], calls[6], calls[7], calls[8]);

	uint64_t runs = 0, injected = 0;
	for (unsigned s = 0; s < VMS_FAULT_NR; s++) {
		if (only && strcmp(only, vms_fault_name(s)))
			continue;
		/* The KVM pager's own site: kvm-stress --inject sweeps it;
		 * the Redis tier's: test-redis. */
		if (s == VMS_FAULT_UFFD || s == VMS_FAULT_NET ||
		    s == VMS_FAULT_NET_TIMEOUT || s == VMS_FAULT_NET_SHORT)
			continue;
		CHECK(calls[s] > 0, "the scenario never reaches site %s",
		      vms_fault_name(s));
		/* Every call when there are few, else the first ones and
		 * random ones up to a little past the clean run's count (it
		 * varies: reclaim runs in the background). */
		uint64_t site_inj = 0, top = calls[s] + calls[s] / 8 + 1;
		for (uint64_t i = 0; i < points && i < top; i++) {
			uint64_t n = top <= points || i < points / 2
				? i + 1 : 1 + t_rand(&seed) % top;

			/* Failing from then on is slow (reclaim retries
			 * each allocation) and alike for every n: a
			 * quarter of the points. */
			for (int persist = 0; persist < 1 + (i % 4 == 0);
			     persist++) {
				run_one(s, n, persist);
				site_inj += vms_fault_injected(s);
				runs++;
			}
		}
		printf("ok - %s: %" PRIu64 " points, %" PRIu64 " failures "
		       "injected\n", vms_fault_name(s), top < points ? top : points,
		       site_inj);
		fflush(stdout);
		CHECK(site_inj > 0, "site %s never failed", vms_fault_name(s));
		injected += site_inj;
		t_passed++;
	}
	printf("%" PRIu64 " scenarios, %" PRIu64 " failures injected\n", runs,
	       injected);
	return T_DONE();
}
