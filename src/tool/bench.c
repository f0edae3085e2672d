/* bench.c - `vmsync bench`: each figure measured next to its anchor in
 * the same run (the kernel's swap on the same disk, its page migration or a
 * memcpy), repeated, reported as median [min-max] and a ratio.  Nothing
 * here asserts a time. */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "vmsync.h"

#define PAGE VMS_PAGE_SIZE

struct figure figures[NR_FIGURES] = {
	[F_SWAPOUT] = { .name = "swap-out", .unit = "pages/s",
		.anchor = "kernel MADV_PAGEOUT to a swap file" },
	[F_SWAPIN_SEQ] = { .name = "swap-in, sequential", .unit = "pages/s",
		.anchor = "kernel swap-in from the same disk" },
	[F_SWAPIN_RAND] = { .name = "swap-in, random", .unit = "pages/s",
		.anchor = "kernel swap-in from the same disk" },
	[F_MIGRATE] = { .name = "migration", .unit = "pages/s", .anchor = "" },
	[F_ACCESS] = { .name = "guest access, resident", .unit = "GB/s",
		.anchor = "the same 8-byte read loop over a host buffer" },
	[F_ACCESS_PAGE] = { .name = "guest read, by page", .unit = "GB/s",
		.anchor = "the same page-sized memcpy out of a host buffer" },
	[F_FIRST_TOUCH] = { .name = "first-touch fault", .unit = "pages/s",
		.anchor = "a real KVM guest's first touch of fresh RAM "
			  "(the kernel allocates)" },
	[F_INVALIDATE] = { .name = "DONTNEED, 2 vCPUs", .unit = "ns/page",
		.anchor = "kernel MADV_DONTNEED of as much KVM-mapped memory, "
			  "1 GiB" },
	[F_METADATA] = { .name = "metadata per 4 KiB", .unit = "bytes",
		.anchor = "the kernel's: 64 B struct page + PTE + EPT entry" },
	[F_FAULT_SCALE] = { .name = "fault, 2 vCPUs", .unit = "pages/s",
		.anchor = "vmsync's own, with 1 vCPU" },
	[F_ACCESS_SCALE] = { .name = "access, 2 vCPUs", .unit = "GB/s",
		.anchor = "vmsync's own, with 1 vCPU" },
	[F_ZIPF_FULL] = { .name = "zipf, 100% resident", .unit = "ops/s",
		.anchor = "the same loop and seed in a host process" },
	[F_ZIPF_QUARTER] = { .name = "zipf, 25% resident", .unit = "ops/s",
		.anchor = "the same loop in a memory cgroup of 25%, kernel swap" },
	[F_KVM_FAULT] = { .name = "kvm first touch", .unit = "us/fault",
		.anchor = "a bare userfaultfd handler (UFFDIO_ZEROPAGE) for the "
			  "same real guest" },
	[F_KVM_SEQ] = { .name = "kvm refault, seq", .unit = "pages/s",
		.anchor = "the same real guest over kernel swap: MADV_PAGEOUT, "
			  "swap cache dropped" },
	[F_KVM_RAND] = { .name = "kvm refault, random", .unit = "pages/s",
		.anchor = "the same real guest over kernel swap" },
	[F_KVM_REEVICT] = { .name = "kvm re-evict, read", .unit = "pages",
		.anchor = "pages the kernel writes to swap again after the guest "
			  "only read them back" },
	[F_KVM_ZIPF] = { .name = "kvm zipf, 25%", .unit = "ops/s",
		.anchor = "the same real guest, its RAM filled and paged out, "
			  "then a memory cgroup of 25% of it (+ an eighth, "
			  "as our sample ring, and what the process holds "
			  "besides), kernel swap" },
	[F_ZSWAP_REFAULT] = { .name = "zswap tier refault", .unit = "pages/s",
		.anchor = "the kernel's zswap refaulting the same pages in the "
			  "same order" },
	[F_ZSWAP_RATIO] = { .name = "zswap tier ratio", .unit = "x",
		.anchor = "the kernel's zswap: Zswapped / Zswap of the same "
			  "pages" },
	[F_REDIS_OUT] = { .name = "redis tier, swap-out", .unit = "pages/s",
		.anchor = "redis-benchmark SET of 4 KiB values, same server, "
			  "-P 32 -c 1 (vmsync's batch, one connection)" },
	[F_REDIS_IN] = { .name = "redis tier, swap-in", .unit = "pages/s",
		.anchor = "redis-benchmark GET of 4 KiB values, same server, "
			  "-P 32 -c 1 (its read-ahead, one connection)" },
	[F_ZIPF_TIER] = { .name = "zipf 25%, tier", .unit = "ops/s",
		.anchor = "zipf 25%'s: the same loop in a memory cgroup of 25%, "
			  "kernel swap" },
	[F_MPROTECT_P50] = { .name = "mprotect under load", .unit = "us p50",
		.anchor = "the same call in a host process whose 2 threads fault "
			  "over kernel swap (memory cgroup of 25%)" },
	[F_MPROTECT_P99] = { .name = "mprotect under load", .unit = "us p99",
		.anchor = "the same, its 99th percentile" },
	[F_SWAPIN_SCALE] = { .name = "swap-in random, 2 vCPU", .unit = "pages/s",
		.anchor = "vmsync's own, with 1 vCPU" },
	[F_SWAPIN_KERNEL2] = { .name = "swap-in random, 2 thr",
		.unit = "pages/s",
		.anchor = "the kernel's swap-in by 2 threads from the same disk, "
			  "swap cache dropped" },
	[F_DEVICE_SCALE] = { .name = "disk reads, 2 thr", .unit = "reads/s",
		.anchor = "1 thread: random 4 KiB O_DIRECT reads of a file on "
			  "the swap files' disk, the ceiling of 2 vCPU / 1" },
	[F_ZIPF_TIER_KZSWAP] = { .name = "zipf 25%, tier v zswap",
		.unit = "ops/s",
		.anchor = "the same loop in a memory cgroup of 25%, kernel swap "
			  "with its zswap, its pool counted in the 25% (cgroup v1 "
			  "does not charge it)" },
};

double now_s(void)
{
	return tool_now_ns() / 1e9;
}

/* A random order of 0..n-1, the same for vmsync and the anchor. */
static uint64_t *permutation(uint64_t n, uint64_t seed)
{
	uint64_t *p = malloc(n * sizeof(*p));

	if (!p)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		p[i] = i;
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = tool_rand(&seed) % i, t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

void add(struct samples *s, double v)
{
	if (s->n < MAX_REPS)
		s->v[s->n++] = v;
}

/* ---- vmsync's side ---- */

/* One pool and swap area for every repetition, as the kernel's swap file
 * lives across them: a new file would pay its file system's first-write
 * costs in every repetition. */
static int vms_swap_setup(const struct bench_cfg *cfg, uint64_t frames,
			  struct vms_phys **phys)
{
	uint64_t n = cfg->pages;
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { frames } };
	struct vms_swap_backend *be;
	int r;

	if ((r = vms_phys_create(&pc, phys)))
		return r;
	r = vms_swap_file_create(cfg->dir, (n + 64) * PAGE, true, &be);
	if (!r && (r = vms_swap_on(*phys, be, 0, 0)))
		be->release(be);
	if (r) {
		vms_phys_destroy(*phys);
		*phys = NULL;
	}
	return r;
}

static int vms_swap_rep(const struct bench_cfg *cfg, struct vms_phys *phys,
			const uint64_t *order)
{
	uint64_t n = cfg->pages, hva, v;
	struct vms_phys_stats before;
	struct vms_mm *mm;
	int r;

	vms_phys_stats(phys, &before);
	if ((r = vms_mm_create(phys, NULL, &mm)))
		return r;
	r = vms_mmap(mm, 0, n * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva);
	for (uint64_t i = 0; !r && i < n; i++) {
		v = i;
		r = vms_mm_write(mm, hva + i * PAGE, &v, sizeof(v));
	}

	double t = now_s();
	if (!r)
		r = vms_madvise(mm, hva, n * PAGE, VMS_MADV_PAGEOUT);
	if (!r)
		add(&figures[F_SWAPOUT].ours, n / (now_s() - t));

	t = now_s();
	for (uint64_t i = 0; !r && i < n; i++)
		r = vms_mm_read(mm, hva + i * PAGE, &v, sizeof(v));
	if (!r)
		add(&figures[F_SWAPIN_SEQ].ours, n / (now_s() - t));

	/* Clean now, with copies on swap: this PAGEOUT writes nothing. */
	if (!r)
		r = vms_madvise(mm, hva, n * PAGE, VMS_MADV_PAGEOUT);
	t = now_s();
	for (uint64_t i = 0; !r && i < n; i++)
		r = vms_mm_read(mm, hva + order[i] * PAGE, &v, sizeof(v));
	if (!r)
		add(&figures[F_SWAPIN_RAND].ours, n / (now_s() - t));

	struct vms_phys_stats vs;
	vms_phys_stats(phys, &vs);
	if (!r && vs.pswpin - before.pswpin < n) /* the reads were real */
		r = -EIO;
	vms_mm_destroy(mm);
	return r;
}

static int vms_migrate_rep(const struct bench_cfg *cfg)
{
	uint64_t n = cfg->pages, hva, moved, one = 1;
	struct vms_phys_config pc = { .nr_nodes = 2,
				      .node_frames = { n + 64, n + 64 } };
	struct vms_phys *phys;
	struct vms_mm *mm;
	int r;

	if ((r = vms_phys_create(&pc, &phys)))
		return r;
	if ((r = vms_mm_create(phys, NULL, &mm))) {
		vms_phys_destroy(phys);
		return r;
	}
	r = vms_mmap(mm, 0, n * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva);
	for (uint64_t i = 0; !r && i < n; i++)
		r = vms_mm_write(mm, hva + i * PAGE, &one, sizeof(one));
	/* A round trip first: the anchor's buffer is written before it is
	 * timed, so both nodes' frames get their first touch here too. */
	if (!r)
		r = vms_migrate(mm, hva, n * PAGE, 1, &moved);
	if (!r)
		r = vms_migrate(mm, hva, n * PAGE, 0, &moved);
	double t = now_s();
	if (!r)
		r = vms_migrate(mm, hva, n * PAGE, 1, &moved);
	if (!r && moved == n)
		add(&figures[F_MIGRATE].ours, n / (now_s() - t));
	else if (!r)
		r = -EBUSY;
	vms_mm_destroy(mm);
	vms_phys_destroy(phys);
	return r;
}

static int zipf_rep(const struct bench_cfg *cfg, struct vms_phys *full,
		    struct vms_phys *quarter, struct kswap *k, const char *kskip)
{
	double rate;
	int r = vms_zipf_rep(full, cfg->pages, cfg->seed, &rate);

	if (r)
		return r;
	add(&figures[F_ZIPF_FULL].ours, rate);
	if ((r = vms_zipf_rep(quarter, cfg->pages, cfg->seed, &rate)))
		return r;
	add(&figures[F_ZIPF_QUARTER].ours, rate);

	uint8_t *buf = mmap(NULL, cfg->pages * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf != MAP_FAILED) {
		for (uint64_t i = 0; i < cfg->pages; i++)
			bench_fill(buf + i * PAGE, i, BENCH_MIXED);
		add(&figures[F_ZIPF_FULL].theirs,
		    zipf_loop_host(buf, cfg->pages, cfg->seed));
		munmap(buf, cfg->pages * PAGE);
	}
	if (kskip)
		figures[F_ZIPF_QUARTER].theirs.skip = kskip;
	else if (kernel_zipf(cfg, k, false, &rate))
		add(&figures[F_ZIPF_QUARTER].theirs, rate);
	return 0;
}

/* Random swap-in by 1 and 2 vCPUs, and by 2 threads over kernel swap. */
static int swapin_scale_rep(const struct bench_cfg *cfg, struct vms_phys *phys,
			    const struct kswap *k, const char *kskip,
			    const uint64_t *order)
{
	double one, two, theirs;
	int r = vms_swapin_vcpus(phys, cfg->pages, order, 1, &one);

	if (r || (r = vms_swapin_vcpus(phys, cfg->pages, order, 2, &two)))
		return r;
	add(&figures[F_SWAPIN_SCALE].theirs, one);
	add(&figures[F_SWAPIN_SCALE].ours, two);
	double d1 = device_reads(cfg->dir, cfg->pages, order, 1);
	double d2 = device_reads(cfg->dir, cfg->pages, order, 2);
	if (d1 > 0 && d2 > 0) {
		add(&figures[F_DEVICE_SCALE].theirs, d1);
		add(&figures[F_DEVICE_SCALE].ours, d2);
	} else {
		figures[F_DEVICE_SCALE].theirs.skip =
			"O_DIRECT reads refused where the swap files go";
	}
	add(&figures[F_SWAPIN_KERNEL2].ours, two);
	if (kskip)
		figures[F_SWAPIN_KERNEL2].theirs.skip = kskip;
	else if (kernel_swapin2(cfg, k, order, &theirs))
		add(&figures[F_SWAPIN_KERNEL2].theirs, theirs);
	else
		figures[F_SWAPIN_KERNEL2].theirs.skip =
			"the measuring child failed or read too little from disk";
	return 0;
}

/* mprotect's latency while 2 vCPUs fault over swap, and the kernel's. */
static int latency_rep(const struct bench_cfg *cfg, struct vms_phys *quarter,
		       const struct kswap *k, const char *kskip)
{
	double ours[2], theirs[2];
	int r = vms_mprotect_latency(quarter, cfg->pages, cfg->seed, ours);

	if (r)
		return r;
	add(&figures[F_MPROTECT_P50].ours, ours[0]);
	add(&figures[F_MPROTECT_P99].ours, ours[1]);
	if (kskip) {
		figures[F_MPROTECT_P50].theirs.skip = kskip;
		figures[F_MPROTECT_P99].theirs.skip = kskip;
	} else if (kernel_mprotect_latency(cfg, k, theirs)) {
		add(&figures[F_MPROTECT_P50].theirs, theirs[0]);
		add(&figures[F_MPROTECT_P99].theirs, theirs[1]);
	}
	return 0;
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(struct samples *s)
{
	qsort(s->v, s->n, sizeof(double), cmp_double);
	return s->n % 2 ? s->v[s->n / 2]
			: (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

static void print_samples(struct samples *s)
{
	if (!s->n) {
		printf(" %27s", "-");
		return;
	}
	double m = median(s);

	/* Rates in the thousands want no decimals, GB/s want two. */
	if (m >= 100)
		printf(" %9.0f [%7.0f-%7.0f]", m, s->v[0], s->v[s->n - 1]);
	else
		printf(" %9.2f [%7.2f-%7.2f]", m, s->v[0], s->v[s->n - 1]);
}

static void report(const struct bench_cfg *cfg)
{
	printf("\n%-22s %-8s %27s %27s %7s\n", "figure", "unit",
	       "vmsync median [min-max]", "anchor median [min-max]", "ratio");
	for (int i = 0; i < NR_FIGURES; i++) {
		struct figure *f = &figures[i];

		printf("%-22s %-8s", f->name, f->unit);
		print_samples(&f->ours);
		print_samples(&f->theirs);
		if (f->ours.n && f->theirs.n)
			printf(" %7.2f", median(&f->ours) / median(&f->theirs));
		printf("\n");
	}
	printf("\nanchors:\n");
	for (int i = 0; i < NR_FIGURES; i++) {
		struct figure *f = &figures[i];

		/* With figures from other repetitions, one failed. */
		printf("  %-20s %s%s%s\n", f->name, f->anchor,
		       !f->theirs.skip ? ""
		       : f->theirs.n   ? " - a repetition failed: "
				       : " - skipped: ",
		       f->theirs.skip ? f->theirs.skip : "");
	}
	printf("%llu pages (%llu MiB) per figure, %u repetitions after a "
	       "warm-up, seed %llu, swap files in %s\n",
	       (unsigned long long)cfg->pages,
	       (unsigned long long)(cfg->pages * PAGE >> 20), cfg->reps,
	       (unsigned long long)cfg->seed, cfg->dir);
}

/* The table as JSON: per figure, both sides' samples and the ratio. */
static int write_json(const char *path, const struct bench_cfg *cfg)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"vmsync\": \"bench\",\n  \"version\": 1,\n"
		   "  \"pages\": %llu,\n  \"reps\": %u,\n  \"seed\": %llu,\n"
		   "  \"figures\": [\n",
		(unsigned long long)cfg->pages, cfg->reps,
		(unsigned long long)cfg->seed);
	for (int i = 0; i < NR_FIGURES; i++) {
		struct figure *x = &figures[i];
		struct samples *side[2] = { &x->ours, &x->theirs };

		fprintf(f, "    {\"name\": \"%s\", \"unit\": \"%s\", "
			   "\"anchor\": \"%s\"",
			x->name, x->unit, x->anchor);
		for (int k = 0; k < 2; k++) {
			struct samples *sm = side[k];

			fprintf(f, ", \"%s\": ", k ? "anchor_samples" : "vmsync");
			if (!sm->n) {
				fprintf(f, "null");
				continue;
			}
			fprintf(f, "{\"median\": %.6g, \"min\": %.6g, "
				   "\"max\": %.6g, \"n\": %u}",
				median(sm), sm->v[0], sm->v[sm->n - 1], sm->n);
		}
		if (x->ours.n && x->theirs.n)
			fprintf(f, ", \"ratio\": %.4f",
				median(&x->ours) / median(&x->theirs));
		if (x->theirs.skip)
			fprintf(f, ", \"%s\": \"%s\"",
				x->theirs.n ? "failed_repetition" : "skipped",
				x->theirs.skip);
		fprintf(f, "}%s\n", i + 1 < NR_FIGURES ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	int bad = ferror(f);
	return fclose(f) || bad ? -EIO : 0;
}

#define CFG(v) struct bench_cfg *c = (v)

static bool opt_pages(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	return parse_uint(val, 1024, 4194304, &c->pages, why);
}

static bool opt_reps(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	uint64_t v;
	bool ok = parse_uint(val, 1, MAX_REPS, &v, why);

	c->reps = (unsigned)v;
	return ok;
}

static bool opt_quick(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	c->pages = 4096;
	c->reps = 3;
	return true;
}

static bool opt_seed(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	return parse_uint(val, 0, UINT64_MAX, &c->seed, why);
}

static const struct tool_opt opts[] = {
	TOOL_OPT("pages", "N", "pages per figure (1024-4194304; default 32768)",
	  opt_pages),
	TOOL_OPT("reps", "N", "repetitions after one warm-up (1-64; default 5)",
	  opt_reps),
	TOOL_OPT("quick", NULL, "4096 pages, 3 repetitions (a smoke run)", opt_quick),
	TOOL_STR("dir", "PATH", "where the swap files go (default $TMPDIR or /tmp)",
		 struct bench_cfg, dir),
	TOOL_OPT("seed", "N", "seed of the random access order (default 1)", opt_seed),
	TOOL_STR("json", "FILE", "the table as JSON too", struct bench_cfg, json),
	TOOL_OPT("help", NULL, "this help", NULL),
};

static const struct tool_cmd bench_cmd = {
	.name = "bench",
	.intro = "Measures vmsync next to anchors in the same run: its swap next to\n"
		 "the kernel's on the same disk (needs root), migration next to a\n"
		 "memcpy, guest accesses, faults and invalidations next to the host's\n"
		 "own, 2 vCPUs next to 1, the compressed tier next to the kernel's\n"
		 "zswap, the Redis tier next to redis-benchmark.  Ratios are vmsync /\n"
		 "anchor: above 1 is better for rates, worse for ns/page and bytes.\n",
	.opts = opts, .nr_opts = sizeof(opts) / sizeof(opts[0]),
};

int bench_parse_args(int argc, char **argv, struct bench_cfg *cfg,
		     const char **json)
{
	uint64_t given;

	*cfg = (struct bench_cfg){ .pages = 32768, .reps = 5, .seed = 1 };
	cfg->dir = getenv("TMPDIR");
	if (!cfg->dir || !*cfg->dir)
		cfg->dir = "/tmp";
	int r = tool_parse(&bench_cmd, argc, argv, cfg, &given);

	*json = cfg->json;
	return r;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_cfg cfg;
	const char *json;
	int r = bench_parse_args(argc, argv, &cfg, &json);

	if (r)
		return r > 0 ? EXIT_VERIFIED : EXIT_USAGE;

	uint64_t *order = permutation(cfg.pages, cfg.seed);
	if (!order) {
		fprintf(stderr, "vmsync bench: out of memory\n");
		return EXIT_ERROR;
	}
	struct kswap k = { 0 };
	const char *kskip = kswap_setup(&cfg, &k);
	unsigned nodes = vms_numa_nodes();

	figures[F_MIGRATE].anchor = nodes >= 2 ? "kernel move_pages(2)"
					       : "memcpy of the same pages "
						 "(one NUMA node here)";
	if (kvm_unavailable()) {
		figures[F_FIRST_TOUCH].anchor =
			"host first touch of fresh anonymous memory (no real "
			"guest: /dev/kvm does not open)";
		figures[F_INVALIDATE].anchor =
			"kernel MADV_DONTNEED of as much resident memory, 1 GiB "
			"(not KVM-mapped: /dev/kvm does not open)";
	}
	printf("vmsync bench: %llu pages, %u repetitions%s\n",
	       (unsigned long long)cfg.pages, cfg.reps,
	       kskip ? "" : ", kernel swap on a file beside vmsync's");
	struct vms_phys *swap_phys = NULL, *quarter = NULL, *full = NULL;
	struct vms_phys_config pc = { .nr_nodes = 1,
				      .node_frames = { cfg.pages + 1024 } };
	int err = vms_swap_setup(&cfg, cfg.pages + cfg.pages / 8 + 1024,
				 &swap_phys);
	if (!err)
		err = vms_swap_setup(&cfg, cfg.pages / 4, &quarter);
	if (!err)
		err = vms_phys_create(&pc, &full);
	struct tier_bench *tiers = NULL;
	if (!err)
		err = tier_bench_setup(&cfg, &tiers);
	for (unsigned rep = 0; rep <= cfg.reps && !err; rep++) {
		/* Repetition 0 warms up; its samples are dropped. */
		struct figure saved[NR_FIGURES];

		memcpy(saved, figures, sizeof(saved));
		err = vms_swap_rep(&cfg, swap_phys, order);
		if (!err)
			err = vms_migrate_rep(&cfg);
		if (!err)
			err = guest_bench_rep(&cfg);
		err = err ? err : zipf_rep(&cfg, full, quarter, &k, kskip);
		err = err ? err : latency_rep(&cfg, quarter, &k, kskip);
		err = err ? err : swapin_scale_rep(&cfg, swap_phys, &k, kskip,
						   order);
		if (!err)
			err = tier_bench_rep(tiers, &cfg, &k, kskip, order);
		if (!kskip)
			kskip = kernel_swap_rep(&cfg, &k, order);
		kernel_migrate_rep(&cfg);
		if (!err)
			err = kvm_bench_rep(&cfg, &k, kskip);
		if (rep == 0)
			memcpy(figures, saved, sizeof(saved));
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "\r  repetition %u/%u done", rep, cfg.reps);
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\n");
	vms_phys_destroy(swap_phys);
	vms_phys_destroy(quarter);
	vms_phys_destroy(full);
	tier_bench_teardown(tiers);
	kswap_teardown(&k);
	free(order);
	if (err) {
		fprintf(stderr, "vmsync bench: vmsync's side failed: %s\n",
			strerror(-err));
		return EXIT_ERROR;
	}
	if (kskip)
		for (int i = F_SWAPOUT; i <= F_SWAPIN_RAND; i++) {
			figures[i].theirs.skip = kskip;
			figures[i].theirs.n = 0;
		}
	report(&cfg);
	if (json && (err = write_json(json, &cfg))) {
		fprintf(stderr, "vmsync bench: cannot write %s: %s\n", json,
			strerror(-err));
		return EXIT_ERROR;
	}
	return EXIT_VERIFIED;
}
