/* run.h - what `vmsync run` shares between its setup and churn (run.c)
 * and its guest programs (workloads.c): the run's state, the guest's view
 * of its RAM, the oracles' reporting. */
#ifndef VMS_TOOL_RUN_H
#define VMS_TOOL_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "tool/tool.h"
#include "vmsync.h"

struct workload;


#define PAGE VMS_PAGE_SIZE
#define CHUNK_PAGES 256              /* what one vCPU pass touches */
#define NR_SLOTS 4
#define MAX_REPORTED 5

struct run_cfg {
	unsigned vcpus;
	uint64_t guest_mem;
	uint64_t host_mem;          /* frames, in bytes; 0: guest_mem / 4 */
	const char *swap_path;      /* file or directory; NULL: $TMPDIR */
	uint64_t swap_size;         /* 0: guest_mem */
	uint64_t duration_ns;       /* 0 with ops set */
	uint64_t ops;               /* stop after this many guest ops; 0: none */
	uint64_t seed;
	const struct workload *workload;
	double zipf_theta;          /* skew of zipf and kv: 0 < theta < 1 */
	unsigned nodes;             /* host memory nodes, 1..VMS_MAX_NODES */
	uint64_t node_mem[VMS_MAX_NODES];   /* bytes each; 0: an equal share */
	uint64_t balloon_rate;      /* bytes/s the balloon takes; 0: none */
	const char *json_path;      /* --json FILE */
	const char *report_path;    /* --report FILE */
	bool quiet;
	bool churn;                 /* the host's storm of operations */
	bool tiering;
	bool kvm;                   /* a real KVM guest (run_kvm.c) */
	unsigned content;           /* --content: CONTENT_* */
	uint64_t zswap_bytes;       /* --zswap: the compressed tier's pool */
	int compressor, level;      /* --compressor: VMS_ZSWAP_*, zstd level */
};


/*
 * A chunk of guest RAM and what it must hold.  A vCPU pass and a host
 * discard each own a chunk by trylock (a vCPU must never block in guest
 * mode: a flush could be waiting for it).  zero: discarded since the last
 * pass; else the pages hold pattern(gfn, gen).
 */
struct chunk {
	pthread_mutex_t lock;
	uint32_t gen;
	bool zero;
};

/* A memslot over one mapping that moves between two homes. */
struct slot {
	unsigned id;
	uint64_t gfn, npages, home[2];
	_Atomic uint64_t hva;
	int at;
};

struct mismatch {
	uint64_t gpa, want, got;
};

/* One point of the time series: counters as they stood at t (cumulative;
 * rates are differences). */
struct sample {
	double t;
	uint64_t ops, bytes;
	uint64_t node_free[VMS_MAX_NODES], node_resident[VMS_MAX_NODES];
	uint64_t swap_used;
	uint64_t faults, retries, invalidations, flushes;
	uint64_t pgmajfault, pswpin, pswpout, pgmigrate;
	struct vms_zswap_stats zswap;
};

struct series {
	struct sample *v;
	size_t n, cap;
};

/* The host's operations on guest RAM (run_churn.c): the churn draws all
 * but the balloon's, which counts its own. */
enum {
	OP_DONTNEED, OP_REMAP, OP_FREE, OP_MPROTECT, OP_COLD, OP_SLOT_MOVE,
	OP_SLOT_READD, OP_PAGEOUT, OP_WILLNEED, OP_MIGRATE, OP_BALLOON,
	NR_HOST_OPS
};
struct run;
struct host_pick;
struct host_op {
	const char *name;
	int (*fn)(struct run *run, const struct host_pick *p);
};
extern const struct host_op churn_ops[NR_HOST_OPS];

struct run {
	struct run_cfg cfg;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct slot slots[NR_SLOTS];
	/* Slot moves and re-adds take it for writing, discards for reading:
	 * a discard must find a chunk where its slot says it is. */
	pthread_rwlock_t layout;
	struct chunk *chunks;
	uint64_t nr_chunks;
	atomic_bool stop;
	_Atomic uint64_t ops, bytes, refused, mismatches, host_ops[NR_HOST_OPS];
	pthread_mutex_t report_lock;
	struct mismatch reported[MAX_REPORTED];
	int error;                          /* first fatal error, -errno */
	const char *swap_engine;
	struct vms_swap_backend *zswap;     /* the compressed tier, or NULL */
};

/* A guest program; every one checks what it reads against an oracle. */
struct workload {
	const char *name, *what;
	/* May the host discard its memory (DONTNEED, remap, FREE)?  Only a
	 * workload whose oracle knows of discards (verify) says yes; for the
	 * others the churn keeps to operations that preserve contents. */
	bool discards;
	vms_guest_fn run;           /* arg: struct vcpu_arg */
};

struct vcpu_arg {
	struct run *run;
	unsigned idx;               /* 0 .. vcpus-1 */
	uint64_t seed;
};

extern const struct workload workloads[];
extern const size_t nr_workloads;
const struct workload *workload_find(const char *name);

/* Parses `vmsync run`'s options into @cfg, defaults filled in.  0 to run,
 * 1 when --help was printed, -1 after a one-line error on stderr.  --json
 * and --report files are created to prove they can be written. */
int run_parse_args(int argc, char **argv, struct run_cfg *cfg);

/* One page-sized access, retried while the host holds the page away
 * (unmapped, read-only, between memslots); false on a real error, which
 * then ends the run. */
bool guest_io(struct run *run, struct vms_vcpu *v, uint64_t gpa, void *buf,
	      size_t len, bool write);
void note_mismatch(struct run *run, uint64_t gpa, uint64_t want,
		   uint64_t got);
/* Ends the run with its first fatal error, -errno. */
void run_fail(struct run *run, int err);
/* Counts guest operations; true while the run goes on. */
bool run_tick(struct run *run, uint64_t ops, uint64_t bytes);
/* The guest page's contents for generation @gen (0: zeroes), of the
 * kind --content chose (content.c); mixed gives each gfn one of the
 * others. */
enum { CONTENT_MIXED, CONTENT_ZERO, CONTENT_TEXT, CONTENT_BINARY,
       CONTENT_RANDOM, CONTENT_KINDS };
extern const char *const content_names[CONTENT_KINDS];
/* The same for a @kind given (pattern's is --content's). */
void content_fill(uint64_t *page, uint64_t gfn, uint32_t gen, unsigned kind);
void pattern(const struct run *run, uint64_t *page, uint64_t gfn,
	     uint32_t gen);

/* The swap of --swap (a file) behind the compressed tier of --zswap,
 * whose frames come from @phys (NULL: the heap); a line on stderr when
 * it cannot be made.  *@tier is the compressed tier or NULL, @engine what
 * the file's I/O goes through. */
int run_swap_backend(const struct run_cfg *cfg, struct vms_phys *phys,
		     struct vms_swap_backend **be,
		     struct vms_swap_backend **tier, const char **engine);
/* "a 32 MiB compressed tier (lz4), then " with --zswap, else "". */
const char *run_tier_words(const struct run_cfg *cfg, char *buf,
			   size_t size);
/* The compressed tier's line of the summary. */
void run_zswap_summary(struct vms_swap_backend *tier);
/* The live line's compressed tier between samples @a and @b, @dt s apart
 * ("" without one): pages held, their ratio, loads and writebacks a
 * second. */
const char *live_zswap(char *buf, size_t size, const struct vms_zswap_stats *a,
		       const struct vms_zswap_stats *b, double dt);

/* The host's threads (run_churn.c): the churn, the balloon. */
struct host_thread {
	struct run *run;
	uint64_t seed;
};
void *host_churn(void *arg);
void *host_balloon(void *arg);
/* Memslot @s at @hva, or with @npages 0 deleted. */
int run_slot_set(struct run *run, const struct slot *s, uint64_t npages,
		 uint64_t hva);

/* What the run shows (run_live.c): samples every 250 ms into @series and
 * the live line until the run ends or its time is up; then the summary,
 * the verdict and the files asked for, the exit code. */
void run_watch(struct run *run, uint64_t t0, struct series *series);
int run_summary(struct run *run, double secs, struct series *series);

/* The end of both kinds of run's opening line: how long, the seed. */
void run_banner_end(const struct run_cfg *cfg);

/* `vmsync run --kvm` (run_kvm.c): the exit code of the run. */
int run_kvm(const struct run_cfg *cfg);
/* Has the real guest program this workload? */
bool run_kvm_workload_ok(const char *name);

/* What a run leaves behind (report.c): the machine-readable record and
 * the self-contained HTML page.  0 or -errno. */
struct run_result {
	const struct run *run;
	double seconds;
	const char *verdict;        /* "verified", "mismatches", "error" */
	struct vms_vm_stats vm;
	struct vms_phys_stats vmstat;
	struct vms_mm_stats mm;
	const struct series *series;
	struct vms_swap_backend *zswap;     /* or NULL */
};
/* A page or record written to an open file from what @ctx points at. */
typedef void (*report_body_fn)(FILE *f, const void *ctx);
/* Writes --json with @json and --report with @html (where asked for),
 * each whole, a line on stderr for one that fails.  Returns @rc, or
 * EXIT_ERROR for a verified run whose file failed. */
int report_files(const struct run_cfg *cfg, int rc, report_body_fn json,
		 report_body_fn html, const void *ctx);
/* The record's "zswap" member (a line, comma-ended) for a compressed
 * tier; nothing for NULL. */
void report_zswap_json(FILE *f, struct vms_swap_backend *tier);
/* The tier's rows of a page's totals table; nothing for NULL. */
void report_zswap_rows(FILE *f, struct vms_swap_backend *tier);
/* The same for a simulated run. */
int report_run_files(int rc, const struct run_result *res);

/* The pieces of an HTML page, for the KVM run's page too: a plot of
 * lines over a time series (n points of @stride bytes, each starting
 * with its time in seconds as a double), a line being a level or, with
 * @rate, the rate of a cumulative counter. */
struct plot_series {
	const void *v;
	size_t n, stride;
};
struct plot_line {
	const char *label, *color;
	double (*get)(const void *point, unsigned arg);
	unsigned arg;
	bool rate;
};
/* Appends the @size bytes at @x to the growing array *@v (*@n used of
 * *@cap); false when memory ran out. */
bool report_push(void **v, size_t *n, size_t *cap, const void *x,
		 size_t size);
/* A get that reads the uint64_t at offset @off of the point. */
double report_u64(const void *point, unsigned off);
void report_plot(FILE *f, const char *title, const char *unit,
		 const struct plot_series *s, const struct plot_line *lines,
		 size_t nl);
void report_page_begin(FILE *f, const char *verdict);
/* A row of the totals table; a rate too when @seconds > 0. */
void report_total_row(FILE *f, const char *name, uint64_t v, double seconds);

#endif /* VMS_TOOL_RUN_H */
