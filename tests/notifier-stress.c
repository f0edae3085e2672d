/* notifier-stress.c - vCPUs write and verify guest RAM against their own
 * oracles while host threads discard, protect, remap and move it under
 * them; checks invariants I1-I5 of doc/design.md.  Seeded, bounded in time. */
#define _GNU_SOURCE
#include "test.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "guest/guest.h"

#define REGIONS 8
#define MAX_VCPUS 8
#define MAGIC 0xa5c3ull

static struct {
	double seconds;
	uint64_t seed;
	unsigned vcpus, host_threads;
	uint64_t region_pages;
	uint64_t race_ns;
	bool oracle_only;         /* fail on guest-visible mismatches alone */
	unsigned overcommit;      /* guest pages per host frame; 0: no swap */
	unsigned zswap;           /* frames of a compressed tier; 0: none */
} opt = { 20, 1, 2, 2, 512, 0, false, 0, 0 };

/*
 * A region: one memslot over one mapping, which lives at one of two homes
 * and moves between them.  Layout changes (move, remap, slot delete) take
 * the lock for writing, other host operations for reading, so that no host
 * thread acts on an hva the region just left.
 */
struct region {
	pthread_rwlock_t lock;
	unsigned slot;
	uint64_t gfn, hva, home[2];
	int at;
};

static struct vms_phys *phys;
static struct vms_swap_backend *zswap;    /* --zswap: the compressed tier */
static struct vms_mm *mm;
static struct vms_vm *vm;
static struct region regions[REGIONS];
static uint64_t total_pages;

/* disc[gfn]: odd while a host operation that zeroes the page runs; bumped
 * before and after.  A vCPU's write is strictly checked only if the epoch
 * it saw before writing is the one it sees after reading back. */
static atomic_ulong *disc;

#define HOST_OPS 11
static atomic_bool host_stop, vcpu_stop;
static atomic_ulong mismatches, host_ops[HOST_OPS];
static uint64_t t_start;
static atomic_ullong first_failure_ns;

static const char *const host_op_names[HOST_OPS] = {
	"dontneed", "free", "mprotect", "remap", "move", "slot-readd",
	"cold", "mremap-shrink-grow", "pageout", "willneed", "migrate",
};

static void note_failure(void)
{
	unsigned long long zero = 0;

	atomic_compare_exchange_strong(&first_failure_ns, &zero,
				       vms_now_ns() - t_start);
}

static uint64_t value_of(uint64_t gfn, uint64_t ver)
{
	return MAGIC << 48 | gfn << 20 | (ver & 0xfffff);
}

static uint64_t gpa_of(uint64_t gfn)
{
	return (gfn << VMS_PAGE_SHIFT) + (gfn % 512) * 8;
}

/* gfn of page @i of region @r. */
static uint64_t region_gfn(unsigned r, uint64_t i)
{
	return regions[r].gfn + i;
}

/* ---- vCPUs ---- */

struct vcpu_ctx {
	unsigned idx;
	uint64_t rng;
	uint64_t *ver;            /* per owned page: 0 = must read zero */
	unsigned long *wepoch;    /* disc epoch seen before the last write */
	uint64_t *gfns;           /* pages this vCPU owns */
	uint64_t nr;
	uint64_t exits[8];
	uint64_t reads, writes;
};

static void report_mismatch(struct vcpu_ctx *c, uint64_t gfn, uint64_t got,
			    uint64_t want, bool strict)
{
	unsigned long n = atomic_fetch_add(&mismatches, 1);

	note_failure();
	if (n < 5)
		fprintf(stderr,
			"MISMATCH vcpu %u gfn %#llx: got %#llx want %#llx%s (%s)\n",
			c->idx, (unsigned long long)gfn, (unsigned long long)got,
			(unsigned long long)want,
			strict || !want ? "" : " or 0",
			(got & 0xffffffffffffull) == 0x6b6b6b6b6b6bull
				? "poisoned frame"
			: got >> 48 != MAGIC ? "lost write"
			: ((got >> 20) & 0xfffffffull) == gfn
				? "stale data: an older write"
				: "another page's data");
}

/* Returns false if the access was refused (and counted). */
static bool access_ok(struct vms_vcpu *v, struct vcpu_ctx *c, int r)
{
	if (r == 0)
		return true;
	const struct vms_exit *e = vms_vcpu_exit(v);

	c->exits[e->reason]++;
	/* Refusals the host operations explain; anything else is a bug. */
	if (e->reason != VMS_EXIT_NO_SLOT && e->reason != VMS_EXIT_EFAULT) {
		fprintf(stderr, "vcpu %u: unexpected exit %d error %d gpa %#llx\n",
			c->idx, e->reason, e->error,
			(unsigned long long)e->gpa);
		atomic_fetch_add(&mismatches, 1);
		note_failure();
	}
	vms_guest_halt(v, 20000);
	return false;
}

static void verify_page(struct vms_vcpu *v, struct vcpu_ctx *c, uint64_t i)
{
	uint64_t gfn = c->gfns[i], got;

	if (!access_ok(v, c, vms_guest_read64(v, gpa_of(gfn), &got)))
		return;
	c->reads++;
	unsigned long e2 = atomic_load(&disc[gfn]);
	bool strict = c->wepoch[i] == e2 && !(e2 & 1);
	uint64_t want = c->ver[i] ? value_of(gfn, c->ver[i]) : 0;

	if (got == want)
		return;
	if (!strict && got == 0) {
		/* Discarded since our write: it reads zero from now on. */
		c->ver[i] = 0;
		c->wepoch[i] = e2;
		return;
	}
	report_mismatch(c, gfn, got, want, strict);
}

static void write_page(struct vms_vcpu *v, struct vcpu_ctx *c, uint64_t i)
{
	uint64_t gfn = c->gfns[i];
	uint64_t ver = (c->ver[i] + 1) & 0xfffff;
	unsigned long e1 = atomic_load(&disc[gfn]);

	if (!ver)
		ver = 1;
	if (!access_ok(v, c, vms_guest_write64(v, gpa_of(gfn),
					       value_of(gfn, ver))))
		return;
	c->writes++;
	c->ver[i] = ver;
	c->wepoch[i] = e1;
}

static int guest_main(struct vms_vcpu *v, void *arg)
{
	struct vcpu_ctx *c = arg;

	while (!atomic_load_explicit(&vcpu_stop, memory_order_relaxed) &&
	       !(atomic_load(&mismatches))) {
		uint64_t r = t_rand(&c->rng);
		uint64_t i = (r >> 8) % c->nr;

		switch (r & 15) {
		case 0: case 1: case 2: case 3:
			write_page(v, c, i);
			break;
		case 4:
			if ((r >> 40) % 64 == 0)
				vms_guest_halt(v, 10000);
			break;
		default:
			verify_page(v, c, i);
		}
	}
	/* Host threads are stopped: every page must now read exactly. */
	for (uint64_t i = 0; i < c->nr && !atomic_load(&mismatches); i++) {
		uint64_t got;
		int r = vms_guest_read64(v, gpa_of(c->gfns[i]), &got);

		CHECK(r == 0, "final read of gfn %#llx failed: %d",
		      (unsigned long long)c->gfns[i], r);
		if (got == (c->ver[i] ? value_of(c->gfns[i], c->ver[i]) : 0))
			continue;
		if (c->wepoch[i] != atomic_load(&disc[c->gfns[i]]) && got == 0)
			continue;
		report_mismatch(c, c->gfns[i], got,
				c->ver[i] ? value_of(c->gfns[i], c->ver[i]) : 0,
				true);
	}
	return 0;
}

/* ---- host threads ---- */

static void disc_bump(unsigned r, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		atomic_fetch_add(&disc[region_gfn(r, i)], 1);
}

static void *host_main(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;

	while (!atomic_load(&host_stop) && !atomic_load(&mismatches)) {
		uint64_t x = t_rand(&rng);
		unsigned r = x % REGIONS;
		unsigned op = (x >> 8) % (opt.overcommit ? HOST_OPS : 8);
		/* Leave a page, so a shrink (op 7) never asks for length 0. */
		uint64_t n = 1 + (x >> 16) % (opt.region_pages > 64
						   ? 64 : opt.region_pages - 1);
		uint64_t first = (x >> 32) % (opt.region_pages - n + 1);
		struct region *g = &regions[r];
		bool layout = op == 3 || op == 4 || op == 5 || op == 7;

		if (layout)
			pthread_rwlock_wrlock(&g->lock);
		else
			pthread_rwlock_rdlock(&g->lock);
		uint64_t hva = g->hva + first * VMS_PAGE_SIZE;
		uint64_t len = n * VMS_PAGE_SIZE;

		switch (op) {
		case 0:
			disc_bump(r, first, n);
			CHECK_OK(vms_madvise(mm, hva, len, VMS_MADV_DONTNEED));
			disc_bump(r, first, n);
			break;
		case 1:
			/* Reclaim may drop lazily freed pages: a discard, but
			 * never of a page written after the advice. */
			disc_bump(r, first, n);
			CHECK_OK(vms_madvise(mm, hva, len, VMS_MADV_FREE));
			disc_bump(r, first, n);
			break;
		case 2:
			CHECK_OK(vms_mprotect(mm, hva, len, VMS_PROT_READ));
			usleep(100);
			CHECK_OK(vms_mprotect(mm, hva, len,
					      VMS_PROT_READ | VMS_PROT_WRITE));
			break;
		case 3: {
			uint64_t got;

			disc_bump(r, first, n);
			CHECK_OK(vms_munmap(mm, hva, len));
			usleep(50);
			CHECK_OK(vms_mmap(mm, hva, len,
					  VMS_PROT_READ | VMS_PROT_WRITE,
					  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS |
						  VMS_MAP_FIXED,
					  &got));
			CHECK_EQ(got, hva);
			disc_bump(r, first, n);
			break;
		}
		case 4: {
			/* mremap the whole region to its other home, then move
			 * the memslot after it: contents must survive. */
			uint64_t to = g->home[!g->at], got;
			uint64_t size = opt.region_pages * VMS_PAGE_SIZE;

			CHECK_OK(vms_mremap(mm, g->hva, size, size,
					    VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED,
					    to, &got));
			CHECK_EQ(got, to);
			CHECK_OK(t_memslot(vm, g->slot, g->gfn,
						    opt.region_pages, to, 0));
			g->hva = to;
			g->at = !g->at;
			break;
		}
		case 5:
			CHECK_OK(t_memslot(vm, g->slot, 0, 0, 0, 0));
			usleep(50);
			CHECK_OK(t_memslot(vm, g->slot, g->gfn,
						    opt.region_pages, g->hva, 0));
			break;
		case 6:
			CHECK_OK(vms_madvise(mm, hva, len, VMS_MADV_COLD));
			break;
		case 8:
			CHECK_OK(vms_madvise(mm, hva, len, VMS_MADV_PAGEOUT));
			break;
		case 9: {
			int w = vms_madvise(mm, hva, len, VMS_MADV_WILLNEED);

			CHECK(w == 0, "WILLNEED: %d", w);
			break;
		}
		case 10: {
			int m = vms_migrate(mm, hva, len, (x >> 60) & 1, NULL);

			/* A full node is not an error of the test. */
			CHECK(m == 0 || m == -ENOMEM, "migrate: %d", m);
			break;
		}
		case 7: {
			/* Shrink the region's tail away and grow it back: the
			 * tail reads zero afterwards. */
			uint64_t size = opt.region_pages * VMS_PAGE_SIZE, got;
			uint64_t keep = size - len;

			disc_bump(r, opt.region_pages - n, n);
			CHECK_OK(vms_mremap(mm, g->hva, size, keep, 0, 0, &got));
			CHECK_OK(vms_mremap(mm, g->hva, keep, size, 0, 0, &got));
			CHECK_EQ(got, g->hva);
			disc_bump(r, opt.region_pages - n, n);
			break;
		}
		}
		pthread_rwlock_unlock(&g->lock);
		atomic_fetch_add(&host_ops[op], 1);
	}
	return NULL;
}

/* ---- setup and verdict ---- */

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--seconds S] [--seed N] [--vcpus N] [--host-threads N]\n"
		"          [--region-pages N] [--race-ns NS] [--oracle-only]\n"
		"          [--overcommit RATIO] [--zswap FRAMES]\n",
		argv0);
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", 1, 0, 's' },     { "seed", 1, 0, 'S' },
		{ "vcpus", 1, 0, 'v' },       { "host-threads", 1, 0, 'h' },
		{ "region-pages", 1, 0, 'p' }, { "race-ns", 1, 0, 'r' },
		{ "oracle-only", 0, 0, 'o' }, { "overcommit", 1, 0, 'O' },
		{ "zswap", 1, 0, 'z' },
		{ 0, 0, 0, 0 }
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		errno = 0;
		switch (c) {
		case 's': opt.seconds = strtod(optarg, &end); break;
		case 'S': opt.seed = strtoull(optarg, &end, 0); break;
		case 'v': opt.vcpus = (unsigned)strtoul(optarg, &end, 0); break;
		case 'h': opt.host_threads = (unsigned)strtoul(optarg, &end, 0); break;
		case 'p': opt.region_pages = strtoull(optarg, &end, 0); break;
		case 'r': opt.race_ns = strtoull(optarg, &end, 0); break;
		case 'O': opt.overcommit = (unsigned)strtoul(optarg, &end, 0); break;
		case 'z': opt.zswap = (unsigned)strtoul(optarg, &end, 0); break;
		case 'o': opt.oracle_only = true; continue;
		default: usage(argv[0]);
		}
		if (errno || *end || end == optarg) {
			fprintf(stderr, "bad value '%s'\n", optarg);
			usage(argv[0]);
		}
	}
	if (opt.seconds <= 0 || opt.vcpus < 1 || opt.vcpus > MAX_VCPUS ||
	    opt.host_threads < 1 || opt.host_threads > 8 ||
	    opt.region_pages < 64 || opt.region_pages > (1 << 16) ||
	    opt.overcommit > 16 || (opt.zswap && !opt.overcommit)) {
		fprintf(stderr, "value out of range\n");
		usage(argv[0]);
	}
}

int main(int argc, char **argv)
{
	struct vcpu_ctx ctx[MAX_VCPUS];
	struct vms_vcpu *vcpus[MAX_VCPUS];
	pthread_t hosts[8];
	uint64_t seeds[8];
	uint64_t rng;

	parse(argc, argv);
	rng = opt.seed;
#ifdef VMS_DEBUG
	/* The expensive tier: whole-structure walks after every change. */
	atomic_store(&vms_expensive, true);
#endif
	if (opt.race_ns) {
#ifdef VMS_DEBUG
		atomic_store(&vms_race_ns, opt.race_ns);
#else
		fprintf(stderr, "--race-ns needs a VMS_DEBUG build; ignored\n");
#endif
	}

	total_pages = REGIONS * opt.region_pages;
	if (opt.overcommit) {
		/* Guest RAM several times the frames, over two nodes, swap
		 * on a real file as large as guest RAM. */
		uint64_t frames = total_pages / opt.overcommit;
		struct vms_phys_config pc = {
			.nr_nodes = 2,
			.node_frames = { frames / 2, frames - frames / 2 } };
		struct vms_swap_backend *be;

		CHECK_OK(vms_phys_create(&pc, &phys));
		CHECK_OK(vms_mm_create(phys, NULL, &mm));
		CHECK_OK(vms_swap_file_create(NULL, total_pages * 2 * VMS_PAGE_SIZE,
					      true, &be));
		if (opt.zswap) {
			/* A compressed tier on the pool's own frames. */
			struct vms_zswap_config zc = {
				.pool_bytes = opt.zswap * VMS_PAGE_SIZE,
				.phys = phys };

			CHECK_OK(vms_swap_zswap_create(&zc, be, &zswap));
			be = zswap;
		}
		CHECK_OK(vms_swap_on(phys, be, 0, 0));
	} else {
		t_setup(total_pages * 2, &phys, &mm);
	}
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	disc = calloc(REGIONS * opt.region_pages * 2, sizeof(*disc));
	CHECK(disc, "out of memory");

	for (unsigned r = 0; r < REGIONS; r++) {
		struct region *g = &regions[r];
		uint64_t size = opt.region_pages * VMS_PAGE_SIZE;

		pthread_rwlock_init(&g->lock, NULL);
		g->slot = r;
		g->gfn = r * opt.region_pages * 2;   /* gaps between slots */
		for (int h = 0; h < 2; h++)
			CHECK_OK(vms_mmap(mm, 0, size,
					  VMS_PROT_READ | VMS_PROT_WRITE,
					  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS,
					  &g->home[h]));
		g->hva = g->home[0];
		CHECK_OK(t_memslot(vm, g->slot, g->gfn,
					    opt.region_pages, g->hva, 0));
	}
	/* Homes 1 only reserve their places (nothing maps without FIXED
	 * after this), and must start empty. */
	for (unsigned r = 0; r < REGIONS; r++)
		CHECK_OK(vms_munmap(mm, regions[r].home[1],
				    opt.region_pages * VMS_PAGE_SIZE));

	for (unsigned v = 0; v < opt.vcpus; v++) {
		struct vcpu_ctx *c = &ctx[v];
		uint64_t per = total_pages / opt.vcpus + 1;

		memset(c, 0, sizeof(*c));
		c->idx = v;
		c->rng = t_rand(&rng);
		c->ver = calloc(per, sizeof(*c->ver));
		c->wepoch = calloc(per, sizeof(*c->wepoch));
		c->gfns = calloc(per, sizeof(*c->gfns));
		CHECK(c->ver && c->wepoch && c->gfns, "out of memory");
		for (uint64_t p = v; p < total_pages; p += opt.vcpus)
			c->gfns[c->nr++] = region_gfn(p / opt.region_pages,
						       p % opt.region_pages);
	}

	t_start = vms_now_ns();
	for (unsigned v = 0; v < opt.vcpus; v++)
		CHECK_OK(vms_vcpu_start(vm, guest_main, &ctx[v], &vcpus[v]));
	for (unsigned h = 0; h < opt.host_threads; h++) {
		seeds[h] = t_rand(&rng);
		CHECK_EQ(pthread_create(&hosts[h], NULL, host_main, &seeds[h]), 0);
	}

	uint64_t deadline = t_start + (uint64_t)(opt.seconds * 1e9);
	while (vms_now_ns() < deadline && !atomic_load(&mismatches) &&
	       !atomic_load(&first_failure_ns)) {
		struct vms_vm_stats st;

		usleep(20000);
		vms_vm_stats(vm, &st);
		if (st.violations && !opt.oracle_only)
			note_failure();
	}
	atomic_store(&host_stop, true);
	for (unsigned h = 0; h < opt.host_threads; h++)
		pthread_join(hosts[h], NULL);
	atomic_store(&vcpu_stop, true);
	for (unsigned v = 0; v < opt.vcpus; v++)
		CHECK_OK(vms_vcpu_join(vcpus[v], NULL));
	double secs = (double)(vms_now_ns() - t_start) / 1e9;

	struct vms_vm_stats st;
	struct vms_mm_stats ms;
	/* I4 is about a quiet system, but the background reclaimer may start
	 * a pair at any time: it makes them holding mms_lock for reading, so
	 * none runs while the test holds it for writing. */
	pthread_rwlock_wrlock(&phys->mms_lock);
	vms_mm_stats(mm, &ms);
	vms_lock(&vm->mmu_lock);
	long running = vm->inv_count;
	vms_unlock(&vm->mmu_lock);
	pthread_rwlock_unlock(&phys->mms_lock);
	vms_vm_stats(vm, &st);
	uint64_t exits[8] = { 0 };
	for (unsigned v = 0; v < opt.vcpus; v++)
		for (int e = 0; e < 8; e++)
			exits[e] += ctx[v].exits[e];

	printf("notifier-stress: seed %llu, %u vCPUs, %u host threads, "
	       "%llu guest pages, %.1f s\n",
	       (unsigned long long)opt.seed, opt.vcpus, opt.host_threads,
	       (unsigned long long)total_pages, secs);
	printf("  guest accesses %llu (%.0f/s), faults %llu, tlb misses %llu\n",
	       (unsigned long long)(st.guest_reads + st.guest_writes),
	       (st.guest_reads + st.guest_writes) / secs,
	       (unsigned long long)st.faults,
	       (unsigned long long)st.tlb_misses);
	printf("  invalidations %llu (%.0f/s), zapped %llu, retries %llu (%.0f/s) "
	       "after a lookup, %llu (%.0f/s) before one (pre-check), "
	       "tlb flushes %llu (%.0f/s), waited %llu\n",
	       (unsigned long long)st.invalidations, st.invalidations / secs,
	       (unsigned long long)st.zapped,
	       (unsigned long long)st.fault_retries, st.fault_retries / secs,
	       (unsigned long long)st.fault_prechecks,
	       st.fault_prechecks / secs,
	       (unsigned long long)st.tlb_flushes, st.tlb_flushes / secs,
	       (unsigned long long)st.flush_waits);
	printf("  exits: no-slot %llu, efault %llu\n",
	       (unsigned long long)exits[VMS_EXIT_NO_SLOT],
	       (unsigned long long)exits[VMS_EXIT_EFAULT]);
	printf("  host ops:");
	for (int i = 0; i < (opt.overcommit ? HOST_OPS : 8); i++)
		printf(" %s %lu", host_op_names[i], atomic_load(&host_ops[i]));
	printf("\n");
	if (opt.overcommit) {
		struct vms_phys_stats vs;

		vms_phys_stats(phys, &vs);
		printf("  swap: out %llu, in %llu (major faults %llu, cache hits %llu), "
		       "lazyfree %llu, clean drops %llu, migrated %llu, direct "
		       "reclaim %llu\n",
		       (unsigned long long)vs.pswpout, (unsigned long long)vs.pswpin,
		       (unsigned long long)vs.pgmajfault,
		       (unsigned long long)vs.swapcache_hit,
		       (unsigned long long)vs.lazyfree,
		       (unsigned long long)vs.clean_drop,
		       (unsigned long long)vs.pgmigrate,
		       (unsigned long long)vs.direct_reclaim);
	}
	if (zswap) {
		struct vms_zswap_stats z;

		CHECK_OK(vms_swap_zswap_stats(zswap, &z));
		printf("  compressed tier: %llu stores, %llu loads, %llu "
		       "rejects, %llu written back, %llu pages in %llu KiB\n",
		       (unsigned long long)z.stores, (unsigned long long)z.loads,
		       (unsigned long long)z.rejects,
		       (unsigned long long)z.writebacks,
		       (unsigned long long)z.stored,
		       (unsigned long long)(z.pool_bytes >> 10));
		CHECK(z.stores > 0 && z.loads > 0, "the tier was not used");
	}

	/* I4: pairs matched, nothing in progress. */
	bool fail = false;
	if (ms.invalidate_start != ms.invalidate_end || running != 0) {
		printf("I4 violated: %llu starts, %llu ends, %ld in progress\n",
		       (unsigned long long)ms.invalidate_start,
		       (unsigned long long)ms.invalidate_end, running);
		fail = true;
	}
	if (st.violations) {
		printf("I1/I5 violated: %llu debug checks failed\n",
		       (unsigned long long)st.violations);
		fail |= !opt.oracle_only;
	}
	if (atomic_load(&mismatches)) {
		printf("I2 violated: %lu mismatches\n", atomic_load(&mismatches));
		fail = true;
	}
	if (fail) {
		printf("caught after %.3f s\n",
		       atomic_load(&first_failure_ns) / 1e9);
		printf("verdict: FAILED\n");
		fflush(stdout);
		/* The state is broken: leave without tearing it down. */
		_exit(1);
	}
	/* I3: nothing pinned: everything can be discarded and comes back. */
	vms_vm_destroy(vm);
	for (unsigned r = 0; r < REGIONS; r++)
		CHECK_OK(vms_madvise(mm, regions[r].hva,
				     opt.region_pages * VMS_PAGE_SIZE,
				     VMS_MADV_DONTNEED));
	vms_mm_stats(mm, &ms);
	CHECK_EQ(ms.resident, 0);
	struct vms_phys_stats vs;
	/* Copies orphaned while someone held their page go on the next
	 * sweep; then every slot must be back. */
	vms_phys_drop_caches(phys);
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.swap_used, 0);
	vms_mm_destroy(mm);
	vms_phys_drop_caches(phys);
	for (unsigned i = 0; i < vs.nr_nodes; i++) {
		struct vms_node_info ni;

		CHECK_OK(vms_phys_node_info(phys, i, &ni));
		CHECK_EQ(ni.free, ni.frames);
	}
	vms_phys_destroy(phys);
#ifdef VMS_DEBUG
	printf("  expensive checks: %llu walks of free lists, LRU lists and "
	       "VMA lists\n", (unsigned long long)vms_expensive_walks());
	CHECK(vms_expensive_walks() > 0, "the expensive tier never ran");
#endif
	for (unsigned v = 0; v < opt.vcpus; v++) {
		free(ctx[v].ver);
		free(ctx[v].wepoch);
		free(ctx[v].gfns);
	}
	free(disc);
	printf("verdict: verified (0 mismatches, 0 violations)\n");
	printf("1 passed, 0 failed\n");
	return 0;
}
