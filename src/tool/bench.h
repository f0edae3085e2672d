/* bench.h - what the parts of `vmsync bench` share: its configuration,
 * the figures with their samples, and the guest-side measurements
 * (bench_guest.c) that bench.c runs next to the swap ones. */
#ifndef VMS_TOOL_BENCH_H
#define VMS_TOOL_BENCH_H

#include "tool/tool.h"
#include "vmsync.h"

#define MAX_REPS 64

struct bench_cfg {
	uint64_t pages;
	unsigned reps;
	uint64_t seed;
	const char *dir;            /* where both swap files go */
	const char *json;           /* --json, or NULL */
};

/* One value per repetition, vmsync's or the anchor's. */
struct samples {
	double v[MAX_REPS];
	unsigned n;
	const char *skip;           /* why there are none */
};

struct figure {
	const char *name, *unit, *anchor;
	struct samples ours, theirs;
};

enum {
	F_SWAPOUT, F_SWAPIN_SEQ, F_SWAPIN_RAND, F_MIGRATE, F_ACCESS,
	F_FIRST_TOUCH, F_INVALIDATE, F_METADATA, F_FAULT_SCALE, F_ACCESS_SCALE,
	F_ZIPF_FULL, F_ZIPF_QUARTER, F_KVM_FAULT, F_KVM_SEQ, F_KVM_RAND,
	F_KVM_REEVICT, F_KVM_ZIPF, F_ZSWAP_REFAULT, F_ZSWAP_RATIO, F_REDIS_OUT,
	F_REDIS_IN, F_ZIPF_TIER, F_ZIPF_TIER_KZSWAP, F_MPROTECT_P50,
	F_MPROTECT_P99, F_SWAPIN_SCALE, F_SWAPIN_KERNEL2, F_DEVICE_SCALE,
	F_ACCESS_PAGE, NR_FIGURES
};

extern struct figure figures[NR_FIGURES];

/* Parses `vmsync bench`'s options into @cfg and *@json (NULL: none).  0 to
 * run, 1 when --help was printed, -1 after a one-line error on stderr. */
int bench_parse_args(int argc, char **argv, struct bench_cfg *cfg,
		     const char **json);

void add(struct samples *s, double v);
double now_s(void);

/* One repetition of the guest-side figures, vmsync's side and anchors;
 * 0 or -errno. */
int guest_bench_rep(const struct bench_cfg *cfg);

/* The zipf loop: 4 accesses a page of [0, pages), Zipf ranks through a
 * seeded shuffle, 30% writes of one word.  Over @base (a host buffer) it
 * returns ops/s; vms_zipf_rep runs it in a vCPU over a VM whose frames
 * come from @phys. */
#define ZIPF_OPS_PER_PAGE 4
double zipf_loop_host(uint8_t *base, uint64_t pages, uint64_t seed);
int vms_zipf_rep(struct vms_phys *phys, uint64_t pages, uint64_t seed,
		 double *ops_per_s);

/* ---- the kernel's side (bench_kernel.c) ---- */

/* The kernel's swap for anchors: a swap file swapped on, and a memory
 * cgroup (v1) for the measuring children. */
struct kswap {
	char file[256], cg[256];
	bool on;
};
/* Sets up the kernel's swap and cgroup for the anchors (@k); why not, or
 * NULL.  Teardown undoes what setup did. */
const char *kswap_setup(const struct bench_cfg *cfg, struct kswap *k);
void kswap_teardown(struct kswap *k);
/* One repetition of the kernel's swap anchors (swap-out, sequential and
 * random swap-in, the same steps as vmsync's); why it failed, or NULL. */
const char *kernel_swap_rep(const struct bench_cfg *cfg, struct kswap *k,
			    const uint64_t *order);
/* The disk's own random 4 KiB O_DIRECT reads at @threads (1 or 2) of a
 * file of @pages in @dir, in @order: reads/s, or 0 where they fail. */
double device_reads(const char *dir, uint64_t pages, const uint64_t *order,
		    unsigned threads);
/* move_pages(2) between two NUMA nodes, or a memcpy where there is one. */
void kernel_migrate_rep(const struct bench_cfg *cfg);
long bench_vmstat(const char *key);
int bench_write_file(const char *path, const char *val);
/* Joins memory cgroup @cg, limited to @limit bytes unless 0. */
int bench_cg_join(const char *cg, uint64_t limit);
int bench_cg_limit(const char *cg, uint64_t limit);
/* What @cg's pages take now, in bytes. */
int bench_cg_usage(const char *cg, uint64_t *bytes);
/* Squeezes @cg for a moment, so that what its pages swapped out is read
 * back from the disk, not the swap cache. */
int bench_drop_swap_cache(const char *cg);

typedef int (*bench_child_fn)(const struct bench_cfg *cfg, const char *cg,
			      const void *arg, int fd);
/* Runs @fn in a child process, which writes @len bytes of results to @fd:
 * 0 with them in @out, the child's exit status when not 0, or -1. */
int bench_child(bench_child_fn fn, const struct bench_cfg *cfg,
		const char *cg, const void *arg, void *out, size_t len);
/* The zipf loop in a child in @k's cgroup limited to a quarter of its
 * pages (bench_fill's mixed content), less the kernel's zswap pool when
 * @count_pool (cgroup v1 does not charge it); false when it failed. */
bool kernel_zipf(const struct bench_cfg *cfg, const struct kswap *k,
		 bool count_pool, double *rate);
/* A /proc/meminfo value in kB, or -1. */
long bench_meminfo_kb(const char *key);

/* What the figures that care about contents write into page @i: `vmsync
 * run`'s mixed content (a quarter each of zero-tailed, text, binary and
 * random pages), or its compressible three quarters, which every
 * compressed tier keeps in memory. */
enum { BENCH_MIXED = 1, BENCH_COMPRESSIBLE };
void bench_fill(void *page, uint64_t i, int content);

/* Random swap-in of the bench's pages, paged out, by @nv vCPUs (1, 2)
 * splitting @order over a VM on @phys (with swap); pages/s. */
int vms_swapin_vcpus(struct vms_phys *phys, uint64_t pages,
		     const uint64_t *order, unsigned nv, double *rate);
/* The same by 2 threads of a child in @k's cgroup, over kernel swap. */
bool kernel_swapin2(const struct bench_cfg *cfg, const struct kswap *k,
		    const uint64_t *order, double *rate);

/* mprotect of an untouched page while 2 vCPUs (bench_latency.c), or 2
 * threads of a host process in @k's cgroup, fault over swap on a quarter
 * of the bench's pages: p50 and p99 in microseconds into @out. */
int vms_mprotect_latency(struct vms_phys *phys, uint64_t pages, uint64_t seed,
			 double out[2]);
bool kernel_mprotect_latency(const struct bench_cfg *cfg,
			     const struct kswap *k, double out[2]);

/* The tiers' figures (bench_tier.c): vmsync's compressed tier next to the
 * kernel's zswap (enabled for its anchors only, then set back), its Redis
 * tier next to redis-benchmark on a redis-server started for them, and
 * zipf at 25% through the compressed tier.  Setup skips figures, saying
 * why, where a part is missing; its errors are vmsync's. */
struct tier_bench;
int tier_bench_setup(const struct bench_cfg *cfg, struct tier_bench **out);
int tier_bench_rep(struct tier_bench *t, const struct bench_cfg *cfg,
		   const struct kswap *k, const char *kskip,
		   const uint64_t *order);
void tier_bench_teardown(struct tier_bench *t);

/* One repetition of the real-KVM-guest figures (bench_kvm.c): vmsync's
 * pager next to a bare userfaultfd handler and to the kernel's swap of
 * the same guest (@kskip: why the latter cannot be had, or NULL).  Skips
 * the figures, saying why, without /dev/kvm.  0 or -errno. */
int kvm_bench_rep(const struct bench_cfg *cfg, const struct kswap *k,
		  const char *kskip);
/* A real guest's first touch of @pages (pages/s) and DONTNEED of them
 * while KVM maps them (ns a page); false where /dev/kvm does not open. */
bool kvm_touch_anchors(uint64_t pages, double *touch_per_s,
		       double *dontneed_ns);

#endif /* VMS_TOOL_BENCH_H */
