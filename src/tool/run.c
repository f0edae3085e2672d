/* run.c - `vmsync run`: a VM whose vCPUs write and verify patterns in
 * guest RAM while a host thread discards, protects, remaps and moves that
 * RAM under them; prints what happened and a verdict. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmsync.h"

struct run R;

const char *const host_op_names[] = {
	"dontneed", "remap", "free", "mprotect", "cold", "slot-move",
	"slot-readd", "pageout", "willneed", "migrate", "balloon",
};
#define NR_HOST_OPS 10          /* the churn's; the balloon's comes after */
#define OP_BALLOON 10
const size_t nr_host_ops = NR_HOST_OPS + 1;
/* Ops from here on keep contents: any workload takes them. */
#define FIRST_KEEPING_OP 3

void run_fail(int err)
{
	int zero = 0;

	__atomic_compare_exchange_n(&R.error, &zero, err, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	atomic_store(&R.stop, true);
}

bool run_tick(uint64_t ops, uint64_t bytes)
{
	uint64_t n = atomic_fetch_add_explicit(&R.ops, ops, memory_order_relaxed);

	if (bytes)
		atomic_fetch_add_explicit(&R.bytes, bytes, memory_order_relaxed);
	if (R.cfg.ops && n + ops >= R.cfg.ops)
		atomic_store(&R.stop, true);
	return !atomic_load_explicit(&R.stop, memory_order_relaxed);
}

/* ---- the guest's accesses ---- */

static const char *exit_name(enum vms_exit_reason r)
{
	static const char *const names[] = {
#define N(r) [r] = #r
		N(VMS_EXIT_NONE), N(VMS_EXIT_NO_SLOT), N(VMS_EXIT_EFAULT),
		N(VMS_EXIT_READONLY), N(VMS_EXIT_NOMEM), N(VMS_EXIT_IO),
#undef N
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* One access, retried while the host holds the page away (unmapped,
 * read-only or between memslots): those refusals are part of the run. */
bool guest_io(struct vms_vcpu *v, uint64_t gpa, void *buf, size_t len,
	      bool write)
{
	for (unsigned tries = 0;; tries++) {
		int r = write ? vms_guest_write(v, gpa, buf, len)
			      : vms_guest_read(v, gpa, buf, len);
		if (r == 0)
			return true;
		const struct vms_exit *e = vms_vcpu_exit(v);
		if ((e->reason != VMS_EXIT_EFAULT &&
		     e->reason != VMS_EXIT_NO_SLOT) || tries > 200000) {
			fprintf(stderr,
				"vmsync: vCPU %u: access to gpa %#llx refused for "
				"good (%s: %s)\n",
				vms_vcpu_id(v), (unsigned long long)gpa,
				exit_name(e->reason), strerror(-e->error));
			run_fail(e->error ? e->error : -EIO);
			return false;
		}
		atomic_fetch_add_explicit(&R.refused, 1, memory_order_relaxed);
		vms_guest_halt(v, 20000);
		if (atomic_load(&R.stop))
			return false;
	}
}

void note_mismatch(uint64_t gpa, uint64_t want, uint64_t got)
{
	uint64_t n = atomic_fetch_add(&R.mismatches, 1);

	if (n < MAX_REPORTED) {
		pthread_mutex_lock(&R.report_lock);
		R.reported[n] = (struct mismatch){ gpa, want, got };
		pthread_mutex_unlock(&R.report_lock);
	}
}

/* ---- the host's churn ---- */

static struct slot *slot_of_chunk(uint64_t c, uint64_t *hva)
{
	uint64_t gfn = c * CHUNK_PAGES;
	struct slot *s = &R.slots[gfn / R.slots[0].npages];

	*hva = atomic_load(&s->hva) + (gfn - s->gfn) * PAGE;
	return s;
}

/* A discard needs the chunk to itself, to know what it holds after.
 * MADV_FREE counts as one: reclaim may drop the pages. */
static int host_discard(uint64_t c, int how)
{
	struct chunk *ch = &R.chunks[c];
	uint64_t hva, got;
	int r;

	if (pthread_mutex_trylock(&ch->lock))
		return 0;
	pthread_rwlock_rdlock(&R.layout);
	slot_of_chunk(c, &hva);
	if (how == 3) {
		r = vms_madvise(R.mm, hva, CHUNK_PAGES * PAGE, VMS_MADV_FREE);
		if (!r)
			r = vms_madvise(R.mm, hva, CHUNK_PAGES * PAGE,
					VMS_MADV_DONTNEED);
	} else if (how == 0) {
		r = vms_madvise(R.mm, hva, CHUNK_PAGES * PAGE, VMS_MADV_DONTNEED);
	} else {
		r = vms_munmap(R.mm, hva, CHUNK_PAGES * PAGE);
		if (!r)
			r = vms_mmap(R.mm, hva, CHUNK_PAGES * PAGE,
				     VMS_PROT_READ | VMS_PROT_WRITE,
				     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS |
					     VMS_MAP_FIXED,
				     &got);
	}
	if (!r)
		ch->zero = true;
	pthread_rwlock_unlock(&R.layout);
	pthread_mutex_unlock(&ch->lock);
	return r;
}

/* Memslot @s at @hva, or with @npages 0 deleted. */
static int slot_set(const struct slot *s, uint64_t npages, uint64_t hva)
{
	struct vms_memslot m = { .slot = s->id, .guest_phys_addr = s->gfn * PAGE,
				 .memory_size = npages * PAGE,
				 .userspace_addr = hva };

	return vms_vm_set_memslot(R.vm, &m);
}

static int host_slot_move(struct slot *s)
{
	uint64_t to = s->home[!s->at], got, size = s->npages * PAGE;

	pthread_rwlock_wrlock(&R.layout);
	int r = vms_mremap(R.mm, atomic_load(&s->hva), size, size,
			   VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED, to, &got);
	if (!r)
		r = slot_set(s, s->npages, to);
	if (!r) {
		atomic_store(&s->hva, to);
		s->at = !s->at;
	}
	pthread_rwlock_unlock(&R.layout);
	return r;
}

static int host_slot_readd(struct slot *s)
{
	pthread_rwlock_wrlock(&R.layout);
	int r = slot_set(s, 0, 0);

	usleep(100);
	if (!r)
		r = slot_set(s, s->npages, atomic_load(&s->hva));
	pthread_rwlock_unlock(&R.layout);
	return r;
}

static void *host_churn(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;

	while (!atomic_load(&R.stop)) {
		uint64_t x = tool_rand(&rng);
		/* Discards only where the workload's oracle knows of them. */
		unsigned first = R.cfg.workload->discards ? 0 : FIRST_KEEPING_OP;
		unsigned op = first + x % (NR_HOST_OPS - first);
		uint64_t c = (x >> 8) % R.nr_chunks, hva;
		struct slot *s = slot_of_chunk(c, &hva);
		uint64_t len = (1 + (x >> 40) % CHUNK_PAGES) * PAGE;
		int r = 0;

		switch (op) {
		case 0: r = host_discard(c, 0); break;
		case 1: r = host_discard(c, 1); break;
		case 2: r = host_discard(c, 3); break;
		case 3:
			r = vms_mprotect(R.mm, hva, len, VMS_PROT_READ);
			usleep(100);
			if (!r)
				r = vms_mprotect(R.mm, hva, len,
						 VMS_PROT_READ | VMS_PROT_WRITE);
			break;
		case 4: r = vms_madvise(R.mm, hva, len, VMS_MADV_COLD); break;
		case 5: r = host_slot_move(s); break;
		case 6: r = host_slot_readd(s); break;
		case 7: r = vms_madvise(R.mm, hva, len, VMS_MADV_PAGEOUT); break;
		case 8: r = vms_madvise(R.mm, hva, len, VMS_MADV_WILLNEED); break;
		case 9:
			r = vms_migrate(R.mm, hva, len, (x >> 20) % R.cfg.nodes, NULL);
			if (r == -ENOMEM)       /* the node is full: fine */
				r = 0;
			break;
		}
		if (r) {
			fprintf(stderr, "vmsync: host %s failed: %s\n",
				host_op_names[op], strerror(-r));
			run_fail(r);
			break;
		}
		atomic_fetch_add_explicit(&R.host_ops[op], 1,
					  memory_order_relaxed);
		usleep(200);
	}
	return NULL;
}

/* The balloon: a chunk of guest RAM taken (discarded) at the rate asked,
 * whoever else acts on guest RAM meanwhile. */
static void *host_balloon(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;
	uint64_t period = (uint64_t)(CHUNK_PAGES * PAGE * 1e9 /
				     (double)R.cfg.balloon_rate);
	uint64_t next = tool_now_ns();

	while (!atomic_load(&R.stop)) {
		uint64_t now = tool_now_ns();

		if (now < next) {
			uint64_t wait = next - now < 100000000 ? next - now
							       : 100000000;
			struct timespec ts = { 0, (long)wait };

			nanosleep(&ts, NULL);
			continue;
		}
		next += period;
		int r = host_discard(tool_rand(&rng) % R.nr_chunks, 0);
		if (r) {
			fprintf(stderr, "vmsync: balloon failed: %s\n",
				strerror(-r));
			run_fail(r);
			break;
		}
		atomic_fetch_add_explicit(&R.host_ops[OP_BALLOON], 1,
					  memory_order_relaxed);
	}
	return NULL;
}

/* ---- setup, progress, verdict ---- */

int run_swap_backend(const struct run_cfg *cfg, struct vms_phys *phys,
		     struct vms_swap_backend **be,
		     struct vms_swap_backend **tier, const char **engine)
{
	const char *at = cfg->swap_path;
	bool redis = at && (!strncmp(at, "redis://", 8) ||
			    !strncmp(at, "redis-cluster://", 16) ||
			    !strncmp(at, "unix:", 5));
	struct vms_swap_backend *file;
	int r = redis ? vms_swap_redis_create(at, cfg->swap_size, &file)
		      : vms_swap_file_create(at, cfg->swap_size, true, &file);

	*tier = NULL;
	if (r) {
		fprintf(stderr, "vmsync run: swap %s %s: %s\n",
			redis ? "on" : "file in", at ? at : "$TMPDIR",
			r == -ECONNREFUSED ? "the server does not answer"
			: r == -EPROTO ? "not a cluster (CLUSTER SLOTS failed)"
			: r == -EINVAL && redis
				? "not redis://HOST:PORT, unix:PATH or "
				  "redis-cluster://HOST:PORT[,...] "
				  "(?replicas=N)"
				: strerror(-r));
		return r;
	}
	*engine = redis ? file->name : vms_swap_file_engine(file);
	*be = file;
	if (!cfg->zswap_bytes)
		return 0;
	struct vms_zswap_config zc = { .pool_bytes = cfg->zswap_bytes,
				       .compressor = cfg->compressor,
				       .level = cfg->level, .phys = phys };
	r = vms_swap_zswap_create(&zc, file, tier);
	if (r) {
		fprintf(stderr, "vmsync run: the compressed tier: %s\n",
			strerror(-r));
		file->release(file);
		return r;
	}
	*be = *tier;
	return 0;
}

const char *run_tier_words(const struct run_cfg *cfg, char *buf,
			   size_t size)
{
	if (!cfg->zswap_bytes)
		return "";
	bool mib = cfg->zswap_bytes >= (1ull << 20);

	snprintf(buf, size, "a %llu %s compressed tier (%s), then ",
		 (unsigned long long)(cfg->zswap_bytes >> (mib ? 20 : 10)),
		 mib ? "MiB" : "KiB",
		 cfg->compressor == VMS_ZSWAP_ZSTD ? "zstd" : "lz4");
	return buf;
}

void run_zswap_summary(struct vms_swap_backend *tier)
{
	struct vms_zswap_stats z;

	if (!tier || vms_swap_zswap_stats(tier, &z))
		return;
	printf("  compressed tier   %10llu pages (%llu same-filled) in %llu "
	       "KiB of frames, ratio %.2f; %llu stored, %llu loaded, %llu "
	       "rejected, %llu written back\n",
	       (unsigned long long)z.stored, (unsigned long long)z.same_filled,
	       (unsigned long long)(z.pool_bytes >> 10),
	       z.pool_bytes ? (double)z.stored * PAGE / z.pool_bytes : 0.0,
	       (unsigned long long)z.stores, (unsigned long long)z.loads,
	       (unsigned long long)z.rejects,
	       (unsigned long long)z.writebacks);
}

static int run_setup(void)
{
	const struct run_cfg *cfg = &R.cfg;
	uint64_t pages = cfg->guest_mem / PAGE;
	uint64_t frames = cfg->host_mem / PAGE;
	struct vms_phys_config pc = { .nr_nodes = cfg->nodes };

	/* Given sizes, or equal shares of the host memory (the first nodes
	 * take the remainder). */
	for (unsigned i = 0; i < cfg->nodes; i++)
		pc.node_frames[i] = cfg->node_mem[i]
					    ? cfg->node_mem[i] / PAGE
					    : frames / cfg->nodes +
						      (i < frames % cfg->nodes);
	struct vms_swap_backend *be;
	int r;

	r = vms_phys_create(&pc, &R.phys);
	if (r)
		return r;
	r = run_swap_backend(cfg, R.phys, &be, &R.zswap, &R.swap_engine);
	if (r)
		return 1;               /* said why already */
	r = vms_swap_on(R.phys, be, 0, 0);
	if (r) {
		be->release(be);
		return r;
	}
	r = vms_mm_create(R.phys, NULL, &R.mm);
	if (r)
		return r;
	r = vms_vm_create(R.mm, NULL, &R.vm);
	if (r)
		return r;
	R.nr_chunks = pages / CHUNK_PAGES;
	R.chunks = calloc(R.nr_chunks, sizeof(*R.chunks));
	if (!R.chunks)
		return -ENOMEM;
	for (uint64_t c = 0; c < R.nr_chunks; c++)
		pthread_mutex_init(&R.chunks[c].lock, NULL);
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		struct slot *s = &R.slots[i];

		s->id = i;
		s->npages = pages / NR_SLOTS;
		s->gfn = i * s->npages;
		for (int h = 0; h < 2; h++) {
			r = vms_mmap(R.mm, 0, s->npages * PAGE,
				     VMS_PROT_READ | VMS_PROT_WRITE,
				     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS,
				     &s->home[h]);
			if (r)
				return r;
		}
		atomic_store(&s->hva, s->home[0]);
		r = slot_set(s, s->npages, s->home[0]);
		if (r)
			return r;
	}
	/* Second homes only hold the place the slots move to. */
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		r = vms_munmap(R.mm, R.slots[i].home[1], R.slots[i].npages * PAGE);
		if (r)
			return r;
	}
	return 0;
}

static void run_teardown(void)
{
	vms_vm_destroy(R.vm);
	vms_mm_destroy(R.mm);
	vms_phys_destroy(R.phys);
	for (uint64_t c = 0; R.chunks && c < R.nr_chunks; c++)
		pthread_mutex_destroy(&R.chunks[c].lock);
	free(R.chunks);
}

/* ---- the time series and the live view ---- */

static void take_sample(struct sample *x, double t)
{
	struct vms_vm_stats st;
	struct vms_phys_stats vs;

	vms_vm_stats(R.vm, &st);
	vms_phys_stats(R.phys, &vs);
	*x = (struct sample){
		.t = t,
		.ops = atomic_load(&R.ops),
		.bytes = atomic_load(&R.bytes),
		.swap_used = vs.swap_used,
		.faults = st.faults,
		.retries = st.fault_retries,
		.invalidations = st.invalidations,
		.flushes = st.tlb_flushes,
		.pgmajfault = vs.pgmajfault,
		.pswpin = vs.pswpin,
		.pswpout = vs.pswpout,
		.pgmigrate = vs.pgmigrate,
		.zswap = vs.zswap,
	};
	for (unsigned i = 0; i < R.cfg.nodes; i++) {
		x->node_free[i] = vs.node[i].free;
		x->node_resident[i] = vs.node[i].frames - vs.node[i].free;
	}
}

static bool series_add(struct series *s, const struct sample *x)
{
	return report_push((void **)&s->v, &s->n, &s->cap, x, sizeof(*x));
}

/* "a+b+c": one value per node. */
static const char *per_node(char *buf, size_t size, const uint64_t *v)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < R.cfg.nodes && at < size; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s%llu", i ? "+" : "",
				       (unsigned long long)v[i]);
	return buf;
}

/* One status line: on a terminal redrawn in place, elsewhere one line a
 * sample.  Rates are over the last interval. */
static void live_line(const struct sample *a, const struct sample *b,
		      bool tty)
{
	double dt = b->t - a->t;
	char eta[32] = "", res[96], free_[96], zs[96];

	if (dt <= 0)
		return;
	if (R.cfg.duration_ns)
		snprintf(eta, sizeof(eta), "/%.0fs", R.cfg.duration_ns / 1e9);
	printf("%s[%5.1fs%s] ops %7.0f/s  res %s free %s  swap %6llu  "
	       "faults %6.0f/s  in %6.0f/s out %6.0f/s  mig %5.0f/s  "
	       "inval %5.0f/s  flush %5.0f/s  retry %4.0f/s%s%s",
	       tty ? "\r\033[K" : "", b->t, eta, (b->ops - a->ops) / dt,
	       per_node(res, sizeof(res), b->node_resident),
	       per_node(free_, sizeof(free_), b->node_free),
	       (unsigned long long)b->swap_used, (b->faults - a->faults) / dt,
	       (b->pswpin - a->pswpin) / dt, (b->pswpout - a->pswpout) / dt,
	       (b->pgmigrate - a->pgmigrate) / dt,
	       (b->invalidations - a->invalidations) / dt,
	       (b->flushes - a->flushes) / dt, (b->retries - a->retries) / dt,
	       R.zswap ? live_zswap(zs, sizeof(zs), &a->zswap, &b->zswap, dt) : "",
	       tty ? "" : "\n");
	fflush(stdout);
}

int cmd_run(int argc, char **argv)
{
	struct vms_vcpu **vcpus;
	struct vcpu_arg *args;
	uint64_t rng, host_seed;
	pthread_t host;
	int r = run_parse_args(argc, argv, &R.cfg);

	if (r)
		return r > 0 ? EXIT_VERIFIED : EXIT_USAGE;
	if (R.cfg.kvm)
		return run_kvm(&R.cfg);
	pthread_mutex_init(&R.report_lock, NULL);
	pthread_rwlock_init(&R.layout, NULL);
	vcpus = calloc(R.cfg.vcpus, sizeof(*vcpus));
	args = calloc(R.cfg.vcpus, sizeof(*args));
	if (!vcpus || !args || (r = run_setup())) {
		if (r <= 0)
			fprintf(stderr, "vmsync run: setup failed: %s\n",
				strerror(vcpus && args ? -r : ENOMEM));
		run_teardown();
		free(vcpus);
		free(args);
		return EXIT_ERROR;
	}
	vms_phys_set_tiering(R.phys, R.cfg.tiering);
	char tier[64];
	printf("vmsync run: %u vCPUs, %llu MiB guest RAM in %d memslots on "
	       "%llu MiB of host frames (%d nodes), %sswap %llu MiB (%s),\n"
	       "            workload %s (%s pages), host churn %s%s, ",
	       R.cfg.vcpus, (unsigned long long)(R.cfg.guest_mem >> 20), NR_SLOTS,
	       (unsigned long long)(R.cfg.host_mem >> 20), R.cfg.nodes,
	       run_tier_words(&R.cfg, tier, sizeof(tier)),
	       (unsigned long long)(R.cfg.swap_size >> 20), R.swap_engine,
	       R.cfg.workload->name, content_names[R.cfg.content],
	       !R.cfg.churn ? "off" : R.cfg.workload->discards ? "on"
							     : "on (keeping contents)",
	       R.cfg.tiering ? ", tiering" : "");
	if (R.cfg.duration_ns)
		printf("%.1f s", R.cfg.duration_ns / 1e9);
	if (R.cfg.ops)
		printf("%s%llu ops", R.cfg.duration_ns ? " or " : "",
		       (unsigned long long)R.cfg.ops);
	printf(", seed %llu\n", (unsigned long long)R.cfg.seed);

	rng = R.cfg.seed;
	uint64_t t0 = tool_now_ns();
	unsigned started = 0;
	for (; started < R.cfg.vcpus; started++) {
		args[started] = (struct vcpu_arg){ .idx = started,
						   .seed = tool_rand(&rng) };
		r = vms_vcpu_start(R.vm, R.cfg.workload->run, &args[started],
				   &vcpus[started]);
		if (r) {
			run_fail(r);
			break;
		}
	}
	host_seed = tool_rand(&rng);
	uint64_t balloon_seed = tool_rand(&rng);
	pthread_t balloon;
	bool host_up = !r && R.cfg.churn &&
		       !pthread_create(&host, NULL, host_churn, &host_seed);
	bool balloon_up = !r && R.cfg.balloon_rate &&
			  !pthread_create(&balloon, NULL, host_balloon,
					  &balloon_seed);
	if (!r && ((!host_up && R.cfg.churn) ||
		   (!balloon_up && R.cfg.balloon_rate)))
		run_fail(-EAGAIN);

	/* Samples every 250 ms: the time series of --json and --report, and
	 * the live view (redrawn on a terminal, a line a second elsewhere). */
	struct series series = { 0 };
	struct sample cur, last_shown;
	bool tty = isatty(STDOUT_FILENO);
	take_sample(&cur, 0);
	series_add(&series, &cur);
	last_shown = cur;
	while (!atomic_load(&R.stop)) {
		uint64_t now = tool_now_ns();

		if (R.cfg.duration_ns && now - t0 >= R.cfg.duration_ns)
			break;
		uint64_t left = R.cfg.duration_ns ? R.cfg.duration_ns - (now - t0)
						  : 250000000;
		struct timespec ts = { 0, left < 250000000 ? (long)left : 250000000 };
		nanosleep(&ts, NULL);
		take_sample(&cur, (tool_now_ns() - t0) / 1e9);
		if (!series_add(&series, &cur))
			run_fail(-ENOMEM);
		if (!R.cfg.quiet && (tty || cur.t - last_shown.t >= 1)) {
			live_line(&last_shown, &cur, tty);
			last_shown = cur;
		}
	}
	if (tty && !R.cfg.quiet)
		printf("\n");
	atomic_store(&R.stop, true);
	if (host_up)
		pthread_join(host, NULL);
	if (balloon_up)
		pthread_join(balloon, NULL);
	for (unsigned i = 0; i < started; i++)
		vms_vcpu_join(vcpus[i], NULL);
	double secs = (tool_now_ns() - t0) / 1e9;

	/* The last point, unless the last sample was just now: a rate over
	 * a few milliseconds is noise. */
	take_sample(&cur, secs);
	if (secs - series.v[series.n - 1].t >= 0.1)
		series_add(&series, &cur);
	struct vms_vm_stats st;
	struct vms_mm_stats ms;
	vms_vm_stats(R.vm, &st);
	vms_mm_stats(R.mm, &ms);
	uint64_t accesses = st.guest_reads + st.guest_writes;
	printf("\nsummary after %.1f s\n", secs);
	printf("  guest operations  %10llu  (%.0f/s; %llu MiB moved, %.0f MiB/s)\n",
	       (unsigned long long)R.ops, R.ops / secs,
	       (unsigned long long)(R.bytes >> 20), (R.bytes >> 20) / secs);
	printf("  guest accesses    %10llu  (%.0f/s)\n",
	       (unsigned long long)accesses, accesses / secs);
	printf("  shadow faults     %10llu  (%.0f/s), %llu retried\n",
	       (unsigned long long)st.faults, st.faults / secs,
	       (unsigned long long)st.fault_retries);
	printf("  invalidations     %10llu  (%.0f/s), %llu sptes zapped\n",
	       (unsigned long long)st.invalidations, st.invalidations / secs,
	       (unsigned long long)st.zapped);
	printf("  TLB flushes       %10llu  (%.0f/s), %llu waited for a vCPU\n",
	       (unsigned long long)st.tlb_flushes, st.tlb_flushes / secs,
	       (unsigned long long)st.flush_waits);
	printf("  refused accesses  %10llu  (retried until the host gave the "
	       "page back)\n",
	       (unsigned long long)R.refused);
	printf("  host pages        %10llu faulted in, %llu freed, %llu resident\n",
	       (unsigned long long)ms.pgfault, (unsigned long long)ms.pgfree,
	       (unsigned long long)ms.resident);
	struct vms_phys_stats vs;
	vms_phys_stats(R.phys, &vs);
	printf("  swap              %10llu pages out, %llu in (%llu major faults, "
	       "%llu from the swap cache)\n",
	       (unsigned long long)vs.pswpout, (unsigned long long)vs.pswpin,
	       (unsigned long long)vs.pgmajfault,
	       (unsigned long long)vs.swapcache_hit);
	printf("  reclaim           %10llu scanned, %llu freed, %llu dropped clean, "
	       "%llu lazyfree, %llu migrated\n",
	       (unsigned long long)vs.pgscan, (unsigned long long)vs.pgsteal,
	       (unsigned long long)vs.clean_drop, (unsigned long long)vs.lazyfree,
	       (unsigned long long)vs.pgmigrate);
	run_zswap_summary(R.zswap);
	printf("  host operations  ");
	for (size_t i = 0; i < nr_host_ops; i++)
		printf(" %s %llu", host_op_names[i],
		       (unsigned long long)R.host_ops[i]);
	printf("\n");

	int rc;
	if (R.error) {
		printf("verdict: error (%s)\n", strerror(-R.error));
		rc = EXIT_ERROR;
	} else if (R.mismatches || st.violations) {
		printf("verdict: %llu mismatches, %llu invariant violations\n",
		       (unsigned long long)R.mismatches,
		       (unsigned long long)st.violations);
		for (uint64_t i = 0; i < R.mismatches && i < MAX_REPORTED; i++)
			printf("  gfn %#llx offset %#llx: expected %#018llx, got "
			       "%#018llx\n",
			       (unsigned long long)(R.reported[i].gpa / PAGE),
			       (unsigned long long)(R.reported[i].gpa % PAGE),
			       (unsigned long long)R.reported[i].want,
			       (unsigned long long)R.reported[i].got);
		rc = EXIT_MISMATCH;
	} else {
		printf("verdict: verified\n");
		rc = EXIT_VERIFIED;
	}

	struct run_result res = {
		.zswap = R.zswap,
		.seconds = secs, .vm = st, .vmstat = vs, .mm = ms,
		.series = &series,
		.verdict = rc == EXIT_VERIFIED ? "verified"
			   : rc == EXIT_MISMATCH ? "mismatches"
						 : "error" };
	rc = report_run_files(rc, &res);
	free(series.v);
	run_teardown();
	free(vcpus);
	free(args);
	return rc;
}
