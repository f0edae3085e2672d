/* run.c - `vmsync run`: a VM whose vCPUs write and verify patterns in
 * guest RAM while a host thread discards, protects, remaps and moves that
 * RAM under them.  Here: its setup and teardown, the guest's accesses and
 * the run's course; the options are in run_opts.c, the host's operations
 * in run_churn.c, the live view and summary in run_live.c.  No state is
 * global: everything hangs off one struct run. */
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

void run_fail(struct run *run, int err)
{
	int zero = 0;

	__atomic_compare_exchange_n(&run->error, &zero, err, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	atomic_store(&run->stop, true);
}

bool run_tick(struct run *run, uint64_t ops, uint64_t bytes)
{
	uint64_t n = atomic_fetch_add_explicit(&run->ops, ops, memory_order_relaxed);

	if (bytes)
		atomic_fetch_add_explicit(&run->bytes, bytes, memory_order_relaxed);
	if (run->cfg.ops && n + ops >= run->cfg.ops)
		atomic_store(&run->stop, true);
	return !atomic_load_explicit(&run->stop, memory_order_relaxed);
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
bool guest_io(struct run *run, struct vms_vcpu *v, uint64_t gpa, void *buf,
	      size_t len, bool write)
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
			run_fail(run, e->error ? e->error : -EIO);
			return false;
		}
		atomic_fetch_add_explicit(&run->refused, 1, memory_order_relaxed);
		vms_guest_halt(v, 20000);
		if (atomic_load(&run->stop))
			return false;
	}
}

void note_mismatch(struct run *run, uint64_t gpa, uint64_t want,
		   uint64_t got)
{
	uint64_t n = atomic_fetch_add(&run->mismatches, 1);

	if (n < MAX_REPORTED) {
		pthread_mutex_lock(&run->report_lock);
		run->reported[n] = (struct mismatch){ gpa, want, got };
		pthread_mutex_unlock(&run->report_lock);
	}
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

static int run_setup(struct run *run)
{
	const struct run_cfg *cfg = &run->cfg;
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

	r = vms_phys_create(&pc, &run->phys);
	if (r)
		return r;
	r = run_swap_backend(cfg, run->phys, &be, &run->zswap, &run->swap_engine);
	if (r)
		return 1;               /* said why already */
	r = vms_swap_on(run->phys, be, 0, 0);
	if (r) {
		be->release(be);
		return r;
	}
	r = vms_mm_create(run->phys, NULL, &run->mm);
	if (r)
		return r;
	r = vms_vm_create(run->mm, NULL, &run->vm);
	if (r)
		return r;
	run->nr_chunks = pages / CHUNK_PAGES;
	run->chunks = calloc(run->nr_chunks, sizeof(*run->chunks));
	if (!run->chunks)
		return -ENOMEM;
	for (uint64_t c = 0; c < run->nr_chunks; c++)
		pthread_mutex_init(&run->chunks[c].lock, NULL);
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		struct slot *s = &run->slots[i];

		s->id = i;
		s->npages = pages / NR_SLOTS;
		s->gfn = i * s->npages;
		for (int h = 0; h < 2; h++) {
			r = vms_mmap(run->mm, 0, s->npages * PAGE,
				     VMS_PROT_READ | VMS_PROT_WRITE,
				     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS,
				     &s->home[h]);
			if (r)
				return r;
		}
		atomic_store(&s->hva, s->home[0]);
		r = run_slot_set(run, s, s->npages, s->home[0]);
		if (r)
			return r;
	}
	/* Second homes only hold the place the slots move to. */
	for (unsigned i = 0; i < NR_SLOTS; i++) {
		r = vms_munmap(run->mm, run->slots[i].home[1], run->slots[i].npages * PAGE);
		if (r)
			return r;
	}
	return 0;
}

static void run_teardown(struct run *run)
{
	vms_vm_destroy(run->vm);
	vms_mm_destroy(run->mm);
	vms_phys_destroy(run->phys);
	for (uint64_t c = 0; run->chunks && c < run->nr_chunks; c++)
		pthread_mutex_destroy(&run->chunks[c].lock);
	free(run->chunks);
}

/* The opening lines: what runs, on what. */
static void run_banner(const struct run *run)
{
	const struct run_cfg *c = &run->cfg;
	char tier[64];

	printf("vmsync run: %u vCPUs, %llu MiB guest RAM in %d memslots on "
	       "%llu MiB of host frames (%d nodes), %sswap %llu MiB (%s),\n"
	       "            workload %s (%s pages), host churn %s%s, ",
	       c->vcpus, (unsigned long long)(c->guest_mem >> 20), NR_SLOTS,
	       (unsigned long long)(c->host_mem >> 20), c->nodes,
	       run_tier_words(c, tier, sizeof(tier)),
	       (unsigned long long)(c->swap_size >> 20), run->swap_engine,
	       c->workload->name, content_names[c->content],
	       !c->churn ? "off" : c->workload->discards ? "on"
							 : "on (keeping contents)",
	       c->tiering ? ", tiering" : "");
	run_banner_end(c);
}

void run_banner_end(const struct run_cfg *cfg)
{
	if (cfg->duration_ns)
		printf("%.1f s", cfg->duration_ns / 1e9);
	if (cfg->ops)
		printf("%s%llu ops", cfg->duration_ns ? " or " : "",
		       (unsigned long long)cfg->ops);
	printf(", seed %llu\n", (unsigned long long)cfg->seed);
}

/* Runs the set-up VM to its end: the vCPUs, the host's threads, the
 * watch; the exit code. */
static int run_vm(struct run *run, struct vms_vcpu **vcpus,
		  struct vcpu_arg *args)
{
	struct host_thread churn = { .run = run }, balloon = { .run = run };
	uint64_t rng = run->cfg.seed;
	pthread_t churn_th, balloon_th;
	unsigned started = 0;
	int r = 0;

	run_banner(run);
	uint64_t t0 = tool_now_ns();
	for (; started < run->cfg.vcpus; started++) {
		args[started] = (struct vcpu_arg){ .run = run, .idx = started,
						   .seed = tool_rand(&rng) };
		r = vms_vcpu_start(run->vm, run->cfg.workload->run,
				   &args[started], &vcpus[started]);
		if (r) {
			run_fail(run, r);
			break;
		}
	}
	churn.seed = tool_rand(&rng);
	balloon.seed = tool_rand(&rng);
	bool churn_up = !r && run->cfg.churn &&
			!pthread_create(&churn_th, NULL, host_churn, &churn);
	bool balloon_up = !r && run->cfg.balloon_rate &&
			  !pthread_create(&balloon_th, NULL, host_balloon,
					  &balloon);
	if (!r && ((!churn_up && run->cfg.churn) ||
		   (!balloon_up && run->cfg.balloon_rate)))
		run_fail(run, -EAGAIN);

	struct series series = { 0 };
	run_watch(run, t0, &series);
	atomic_store(&run->stop, true);
	if (churn_up)
		pthread_join(churn_th, NULL);
	if (balloon_up)
		pthread_join(balloon_th, NULL);
	for (unsigned i = 0; i < started; i++)
		vms_vcpu_join(vcpus[i], NULL);
	int rc = run_summary(run, (tool_now_ns() - t0) / 1e9, &series);
	free(series.v);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	struct run *run = calloc(1, sizeof(*run));
	int r = run ? run_parse_args(argc, argv, &run->cfg) : -ENOMEM;

	if (r == -ENOMEM)
		fprintf(stderr, "vmsync run: out of memory\n");
	if (r) {
		free(run);
		return r == -ENOMEM ? EXIT_ERROR
		       : r > 0	    ? EXIT_VERIFIED
				    : EXIT_USAGE;
	}
	if (run->cfg.kvm) {
		r = run_kvm(&run->cfg);
		free(run);
		return r;
	}
	pthread_mutex_init(&run->report_lock, NULL);
	pthread_rwlock_init(&run->layout, NULL);
	struct vms_vcpu **vcpus = calloc(run->cfg.vcpus, sizeof(*vcpus));
	struct vcpu_arg *args = calloc(run->cfg.vcpus, sizeof(*args));
	int rc = EXIT_ERROR;

	if (!vcpus || !args || (r = run_setup(run))) {
		if (r <= 0)
			fprintf(stderr, "vmsync run: setup failed: %s\n",
				strerror(vcpus && args ? -r : ENOMEM));
	} else {
		vms_phys_set_tiering(run->phys, run->cfg.tiering);
		rc = run_vm(run, vcpus, args);
	}
	run_teardown(run);
	pthread_rwlock_destroy(&run->layout);
	pthread_mutex_destroy(&run->report_lock);
	free(vcpus);
	free(args);
	free(run);
	return rc;
}
