/* bench_tier.c - the tiers' figures of `vmsync bench`: refaults from
 * vmsync's compressed tier next to the kernel's zswap on the same content,
 * its Redis tier next to redis-benchmark against the same server with the
 * same pipelining, and the zipf loop at 25% resident through the
 * compressed tier next to the kernel's swap and zswap.  The kernel's zswap
 * is switched on for its own anchors only and set back as it was. */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool/run.h"
#include "vmsync.h"

#define PAGE VMS_PAGE_SIZE
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define ZSWAP_PARAM "/sys/module/zswap/parameters/"
/* What the swap path hands a backend at once: reclaim's batch, and the
 * read-ahead of a sequential swap-in. */
#define REDIS_PIPELINE 32

struct tier_bench {
	/* The compressed tier with room for every page, in front of a file;
	 * and a quarter of the pages' frames, any of which its pool may
	 * take, as the kernel's zswap may take any of the cgroup's. */
	struct vms_phys *zphys, *zquarter;
	struct vms_phys *rphys;         /* on the Redis tier, or NULL */
	pid_t server;
	char dir[256], sock[300];
	char kzswap_was[8];             /* the kernel's zswap "enabled" */
};

void bench_fill(void *page, uint64_t i, int content)
{
	unsigned kind = content == BENCH_MIXED ? CONTENT_MIXED
					       : CONTENT_ZERO + (unsigned)(i % 3);

	content_fill(page, i, 1, kind);
}

/* ---- vmsync's side ---- */

/* A pool of @frames with a compressed tier of @pool pages in front of a
 * file of the bench's pages. */
static int zswap_setup(const struct bench_cfg *cfg, uint64_t frames,
		       uint64_t pool, struct vms_phys **phys)
{
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { frames } };
	struct vms_swap_backend *file, *tier;
	int r;

	if ((r = vms_phys_create(&pc, phys)))
		return r;
	struct vms_zswap_config zc = { .pool_bytes = pool * PAGE, .phys = *phys };
	r = vms_swap_file_create(cfg->dir, (cfg->pages + 64) * PAGE, true, &file);
	if (!r && (r = vms_swap_zswap_create(&zc, file, &tier)))
		file->release(file);
	if (!r && (r = vms_swap_on(*phys, tier, 0, 0)))
		tier->release(tier);
	if (r) {
		vms_phys_destroy(*phys);
		*phys = NULL;
	}
	return r;
}

/* @n pages of @content written and paged out: the mm, or NULL (*err). */
static struct vms_mm *paged_out(struct vms_phys *phys, uint64_t n,
				int content, uint64_t *hva, double *out_per_s,
				int *err)
{
	uint64_t buf[PAGE / 8];
	struct vms_mm *mm;
	int r;

	if ((r = vms_mm_create(phys, NULL, &mm))) {
		*err = r;
		return NULL;
	}
	r = vms_mmap(mm, 0, n * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, hva);
	for (uint64_t i = 0; !r && i < n; i++) {
		bench_fill(buf, i, content);
		r = vms_mm_write(mm, *hva + i * PAGE, buf, PAGE);
	}
	double t = now_s();
	if (!r)
		r = vms_madvise(mm, *hva, n * PAGE, VMS_MADV_PAGEOUT);
	*out_per_s = n / (now_s() - t);
	if (r) {
		vms_mm_destroy(mm);
		*err = r;
		return NULL;
	}
	return mm;
}

/* Reads a word of each page in @order (NULL: in turn); pages/s, or 0
 * after an error (*err).  Every read must have come from swap. */
static double refault(struct vms_phys *phys, struct vms_mm *mm, uint64_t hva,
		      uint64_t n, const uint64_t *order, int *err)
{
	struct vms_phys_stats a, b;
	uint64_t v;
	int r = 0;

	vms_phys_stats(phys, &a);
	double t = now_s();
	for (uint64_t i = 0; !r && i < n; i++)
		r = vms_mm_read(mm, hva + (order ? order[i] : i) * PAGE, &v,
				sizeof(v));
	double s = now_s() - t;
	vms_phys_stats(phys, &b);
	if (!r && b.pswpin - a.pswpin < n)
		r = -EIO;               /* not all from swap: a wrong figure */
	*err = r;
	return r ? 0 : n / s;
}

static int zswap_rep(struct tier_bench *t, const struct bench_cfg *cfg,
		     const uint64_t *order)
{
	uint64_t n = cfg->pages, hva;
	struct vms_phys_stats vs;
	double out;
	int r = 0;
	struct vms_mm *mm = paged_out(t->zphys, n, BENCH_COMPRESSIBLE, &hva,
				      &out, &r);

	if (!mm)
		return r;
	vms_phys_stats(t->zphys, &vs);
	if (vs.zswap.stored < n * 9 / 10) {
		vms_mm_destroy(mm);
		return -ENOSPC;         /* the tier did not hold them */
	}
	add(&figures[F_ZSWAP_RATIO].ours,
	    (double)vs.zswap.stored * PAGE / (double)vs.zswap.pool_bytes);
	double rate = refault(t->zphys, mm, hva, n, order, &r);
	vms_mm_destroy(mm);
	if (!r)
		add(&figures[F_ZSWAP_REFAULT].ours, rate);
	return r;
}

static int redis_rep(struct tier_bench *t, const struct bench_cfg *cfg)
{
	uint64_t n = cfg->pages, hva;
	double out;
	int r = 0;
	struct vms_mm *mm = paged_out(t->rphys, n, BENCH_COMPRESSIBLE, &hva,
				      &out, &r);

	if (!mm)
		return r;
	double in = refault(t->rphys, mm, hva, n, NULL, &r);
	vms_mm_destroy(mm);
	if (!r) {
		add(&figures[F_REDIS_OUT].ours, out);
		add(&figures[F_REDIS_IN].ours, in);
	}
	return r;
}

/* ---- the kernel's zswap ---- */

static bool param_read(const char *name, char *buf, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), ZSWAP_PARAM "%s", name);
	if (!(f = fopen(path, "r")))
		return false;
	bool ok = fgets(buf, (int)size, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return ok;
}

static int kzswap_set(const char *val)
{
	return bench_write_file(ZSWAP_PARAM "enabled", val);
}

/* In a child in @cg: the compressible pages paged out into zswap, then
 * refaulted in @arg's order; pages/s and zswap's ratio through @fd. */
static int kzswap_child(const struct bench_cfg *cfg, const char *cg,
			const void *arg, int fd)
{
	const uint64_t *order = arg;
	uint64_t n = cfg->pages;
	volatile uint8_t sink = 0;
	double res[2];

	if (bench_cg_join(cg, 0))
		return 1;
	uint8_t *buf = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (uint64_t i = 0; i < n; i++)
		bench_fill(buf + i * PAGE, i, BENCH_COMPRESSIBLE);
	long out0 = bench_vmstat("zswpout");
	if (madvise(buf, n * PAGE, MADV_PAGEOUT))
		return 1;
	while (bench_vmstat("nr_writeback") > 0)
		usleep(100);
	if (bench_vmstat("zswpout") - out0 < (long)(n * 9 / 10))
		return 2;
	long pool = bench_meminfo_kb("Zswap"), held = bench_meminfo_kb("Zswapped");
	res[1] = pool > 0 ? (double)held / (double)pool : 0;
	long in0 = bench_vmstat("zswpin");
	double t = now_s();
	for (uint64_t i = 0; i < n; i++)
		sink += buf[order[i] * PAGE];
	res[0] = n / (now_s() - t);
	if (bench_vmstat("zswpin") - in0 < (long)(n * 9 / 10))
		return 3;
	(void)sink;
	return write(fd, res, sizeof(res)) == sizeof(res) ? 0 : 1;
}

/* The kernel's zswap anchors, with zswap on for them only; why not, or
 * NULL. */
static const char *kzswap_rep(struct tier_bench *t, const struct bench_cfg *cfg,
			      const struct kswap *k, const uint64_t *order)
{
	double res[2], rate;

	if (kzswap_set("Y"))
		return "cannot switch the kernel's zswap on";
	int st = bench_child(kzswap_child, cfg, k->cg, order, res, sizeof(res));
	bool zipf = kernel_zipf(cfg, k, true, &rate);
	kzswap_set(t->kzswap_was);
	if (st)
		return st == 2 ? "zswap took too few of the pages paged out"
		       : st == 3 ? "too few refaults came from zswap"
				 : "the measuring child failed";
	add(&figures[F_ZSWAP_REFAULT].theirs, res[0]);
	add(&figures[F_ZSWAP_RATIO].theirs, res[1]);
	if (!zipf)
		return "the zipf child failed";
	add(&figures[F_ZIPF_TIER_KZSWAP].theirs, rate);
	return NULL;
}

/* ---- redis-server and redis-benchmark ---- */

static const char *server_start(struct tier_bench *t)
{
	char url[320];
	struct vms_swap_backend *be;

	snprintf(t->dir, sizeof(t->dir), "/tmp/vmsync-bench-redis-XXXXXX");
	if (!mkdtemp(t->dir)) {
		t->dir[0] = 0;
		return "cannot make a directory for redis-server";
	}
	snprintf(t->sock, sizeof(t->sock), "%s/sock", t->dir);
	if ((t->server = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 1);
		dup2(null, 2);
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", t->sock, "--save", "", "--appendonly",
		       "no", "--dir", t->dir, "--daemonize", "no", NULL);
		_exit(127);
	}
	if (t->server < 0)
		return "cannot fork redis-server";
	snprintf(url, sizeof(url), "unix:%s", t->sock);
	for (int i = 0; i < 250; i++) {
		int st;

		if (!vms_swap_redis_create(url, 64 * PAGE, &be)) {
			be->release(be);
			return NULL;
		}
		if (waitpid(t->server, &st, WNOHANG) == t->server) {
			t->server = 0;
			return WIFEXITED(st) && WEXITSTATUS(st) == 127
				       ? "redis-server is not installed"
				       : "redis-server did not start";
		}
		usleep(20000);
	}
	return "redis-server did not answer within 5 s";
}

/* redis-benchmark's requests/s for @test ("set", "get") of 4 KiB values
 * over one connection with vmsync's pipelining, or 0. */
static double redis_benchmark(const struct tier_bench *t, const char *test,
			      uint64_t n)
{
	char cmd[512], line[256];
	double rps = 0;

	snprintf(cmd, sizeof(cmd),
		 "redis-benchmark -s '%s' -t %s -n %llu -r %llu -d %u -P %u "
		 "-c 1 --csv 2>/dev/null", t->sock, test,
		 (unsigned long long)n, (unsigned long long)n, (unsigned)PAGE,
		 REDIS_PIPELINE);
	FILE *p = popen(cmd, "r");

	while (p && fgets(line, sizeof(line), p))
		if (line[0] == '"' && strncasecmp(line + 1, test, strlen(test)) == 0)
			sscanf(line + strlen(test) + 2, ",\"%lf\"", &rps);
	if (p && pclose(p))
		rps = 0;
	return rps;
}

/* ---- the repetitions ---- */

int tier_bench_setup(const struct bench_cfg *cfg, struct tier_bench **out)
{
	struct tier_bench *t = calloc(1, sizeof(*t));
	uint64_t n = cfg->pages;
	char comp[32];
	int r;

	if (!t)
		return -ENOMEM;
	*out = t;
	if ((r = zswap_setup(cfg, n + n / 2 + 1024, n, &t->zphys)) ||
	    (r = zswap_setup(cfg, n / 4, n / 4, &t->zquarter)))
		return r;

	static char anchor[160];
	if (!param_read("enabled", t->kzswap_was, sizeof(t->kzswap_was)) ||
	    !param_read("compressor", comp, sizeof(comp))) {
		figures[F_ZSWAP_REFAULT].theirs.skip =
			"the kernel has no zswap (" ZSWAP_PARAM ")";
	} else {
		snprintf(anchor, sizeof(anchor),
			 "the kernel's zswap (%s, as set here) refaulting the "
			 "same pages in the same order", comp);
		figures[F_ZSWAP_REFAULT].anchor = anchor;
	}
	const char *why = server_start(t);
	figures[F_REDIS_OUT].theirs.skip = figures[F_REDIS_IN].theirs.skip = why;
	if (why)
		return 0;
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { n + 1024 } };
	struct vms_swap_backend *be;
	char url[320];

	snprintf(url, sizeof(url), "unix:%s", t->sock);
	if ((r = vms_phys_create(&pc, &t->rphys)))
		return r;
	if ((r = vms_swap_redis_create(url, (n + 64) * PAGE, &be)))
		return r;
	if ((r = vms_swap_on(t->rphys, be, 0, 0)))
		be->release(be);
	return r;
}

int tier_bench_rep(struct tier_bench *t, const struct bench_cfg *cfg,
		   const struct kswap *k, const char *kskip,
		   const uint64_t *order)
{
	double rate;
	int r;

	if ((r = zswap_rep(t, cfg, order)) ||
	    (r = vms_zipf_rep(t->zquarter, cfg->pages, cfg->seed, &rate)))
		return r;
	add(&figures[F_ZIPF_TIER].ours, rate);
	add(&figures[F_ZIPF_TIER_KZSWAP].ours, rate);
	/* The same anchor as zipf's at 25%, this repetition's. */
	struct samples *q = &figures[F_ZIPF_QUARTER].theirs;
	if (q->n)
		add(&figures[F_ZIPF_TIER].theirs, q->v[q->n - 1]);
	figures[F_ZIPF_TIER].theirs.skip = q->skip;

	const char *why = kskip ? kskip
			  : figures[F_ZSWAP_REFAULT].theirs.skip
				  ? figures[F_ZSWAP_REFAULT].theirs.skip
				  : kzswap_rep(t, cfg, k, order);
	if (why)
		figures[F_ZSWAP_REFAULT].theirs.skip =
			figures[F_ZSWAP_RATIO].theirs.skip =
				figures[F_ZIPF_TIER_KZSWAP].theirs.skip = why;

	if (!t->rphys)
		return 0;
	if ((r = redis_rep(t, cfg)))
		return r;
	double set = redis_benchmark(t, "set", cfg->pages);
	double get = redis_benchmark(t, "get", cfg->pages);
	if (set > 0 && get > 0) {
		add(&figures[F_REDIS_OUT].theirs, set);
		add(&figures[F_REDIS_IN].theirs, get);
	} else {
		figures[F_REDIS_OUT].theirs.skip = figures[F_REDIS_IN].theirs.skip =
			"redis-benchmark failed or is not installed";
	}
	return 0;
}

void tier_bench_teardown(struct tier_bench *t)
{
	if (!t)
		return;
	vms_phys_destroy(t->zphys);
	vms_phys_destroy(t->zquarter);
	vms_phys_destroy(t->rphys);
	if (t->kzswap_was[0])
		kzswap_set(t->kzswap_was);      /* whatever happened */
	if (t->server > 0) {
		kill(t->server, SIGKILL);
		waitpid(t->server, NULL, 0);
	}
	if (t->dir[0]) {
		unlink(t->sock);
		rmdir(t->dir);
	}
	free(t);
}
