/* run_opts.c - the options of `vmsync run`: one table that parses them
 * and writes the usage, and the checks between options after it. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmsync.h"

#define CFG(v) struct run_cfg *c = (v)

static bool opt_vcpus(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	uint64_t v;
	bool ok = parse_uint(val, 1, 64, &v, why);

	c->vcpus = (unsigned)v;
	return ok;
}

static bool opt_guest_mem(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_size(val, &c->guest_mem, why))
		return false;
	if (c->guest_mem < (4ull << 20) || c->guest_mem > (64ull << 30) ||
	    c->guest_mem % (4ull << 20)) {
		*why = "must be a multiple of 4M from 4M to 64G";
		return false;
	}
	return true;
}

static bool opt_host_mem(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_size(val, &c->host_mem, why))
		return false;
	if (c->host_mem < (1ull << 20) || c->host_mem % PAGE) {
		*why = "must be at least 1M, in whole pages";
		return false;
	}
	return true;
}

/* A size if it parses as one, else a path or a Redis URL. */
static bool opt_swap(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_size(val, &c->swap_size, why)) {
		c->swap_path = val;
		return true;
	}
	if (c->swap_size < (1ull << 20)) {
		*why = "a swap size must be at least 1M";
		return false;
	}
	return true;
}

static bool opt_workload(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	c->workload = workload_find(val);
	*why = "no such workload (see --help)";
	return c->workload != NULL;
}

static void workload_list(FILE *f)
{
	for (size_t i = 0; i < nr_workloads; i++)
		fprintf(f, "                       %-7s %s\n", workloads[i].name,
			workloads[i].what);
}

static bool opt_zipf_theta(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	char *end;

	c->zipf_theta = strtod(val, &end);
	*why = "must be a number between 0 and 1";
	return !*end && end != val && c->zipf_theta > 0 && c->zipf_theta < 1;
}

static bool opt_duration(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_time(val, &c->duration_ns, why))
		return false;
	*why = "must be from 1ms to 24h";
	return c->duration_ns >= 1000000ull &&
	       c->duration_ns <= 86400000000000ull;
}

static bool opt_ops(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	return parse_uint(val, 1, UINT64_MAX, &c->ops, why);
}

static bool opt_seed(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	return parse_uint(val, 0, UINT64_MAX, &c->seed, why);
}

/* "--nodes 3" (equal shares of --host-mem) or "--nodes 48M,16M" (the
 * sizes, which then make up the host memory). */
static bool opt_nodes(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	uint64_t n;

	memset(c->node_mem, 0, sizeof(c->node_mem));
	if (!strchr(val, ',') && parse_uint(val, 1, VMS_MAX_NODES, &n, why)) {
		c->nodes = (unsigned)n;
		return true;
	}
	c->nodes = 0;
	for (char *tok = strtok(val, ","); tok; tok = strtok(NULL, ",")) {
		if (c->nodes == VMS_MAX_NODES) {
			*why = "at most 8 nodes";
			return false;
		}
		if (!parse_size(tok, &c->node_mem[c->nodes], why))
			return false;
		/* At most the largest guest RAM: the sum cannot wrap. */
		if (c->node_mem[c->nodes] < (1ull << 20) ||
		    c->node_mem[c->nodes] > (64ull << 30) ||
		    c->node_mem[c->nodes] % PAGE) {
			*why = "a node takes 1M to 64G, in whole pages";
			return false;
		}
		c->nodes++;
	}
	if (!c->nodes)
		*why = "no sizes";
	return c->nodes > 0;
}

/* A size per second: "8M" or "8M/s". */
static bool opt_balloon(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_size(strtok(val, "/"), &c->balloon_rate, why))
		return false;
	*why = "must be more than 0";
	return c->balloon_rate > 0;
}

static bool opt_content(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	for (unsigned k = 0; k < CONTENT_KINDS; k++)
		if (!strcmp(val, content_names[k])) {
			c->content = k;
			return true;
		}
	*why = "mixed, zero, text, binary or random";
	return false;
}

static bool opt_zswap(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	if (!parse_size(val, &c->zswap_bytes, why))
		return false;
	*why = "must be at least 64K, in whole pages";
	return c->zswap_bytes >= (64ull << 10) && !(c->zswap_bytes % PAGE);
}

/* "lz4", "zstd" or "zstd:LEVEL". */
static bool opt_compressor(void *cfg, char *val, const char **why)
{
	CFG(cfg);
	uint64_t level = 0;

	if (!strcmp(val, "lz4")) {
		c->compressor = VMS_ZSWAP_LZ4;
		c->level = 0;
		return true;
	}
	if (strncmp(val, "zstd", 4) ||
	    (val[4] && (val[4] != ':' ||
			!parse_uint(val + 5, 1, 22, &level, why)))) {
		if (!*why || strncmp(val, "zstd:", 5))
			*why = "lz4, zstd or zstd:LEVEL (1-22)";
		return false;
	}
	c->compressor = VMS_ZSWAP_ZSTD;
	c->level = (int)level;
	return true;
}

/* Refused now, not after the run: can it be written? */
static bool writable(const char *path, const char **why)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		*why = strerror(errno);
		return false;
	}
	close(fd);
	return true;
}

static bool opt_json(void *cfg, char *val, const char **why)
{
	((struct run_cfg *)cfg)->json_path = val;
	return writable(val, why);
}

static bool opt_report(void *cfg, char *val, const char **why)
{
	((struct run_cfg *)cfg)->report_path = val;
	return writable(val, why);
}

enum {
	O_VCPUS, O_GUEST_MEM, O_HOST_MEM, O_SWAP, O_WORKLOAD, O_ZIPF_THETA,
	O_DURATION, O_OPS, O_SEED, O_NODES, O_CHURN, O_NO_CHURN, O_BALLOON,
	O_TIERING, O_KVM, O_CONTENT, O_ZSWAP, O_COMPRESSOR, O_JSON, O_REPORT,
	O_QUIET, O_HELP, NR_OPTS
};
#define GIVEN(o) (given & (1ull << (o)))

static const struct tool_opt opts[NR_OPTS] = {
	[O_VCPUS] = TOOL_OPT("vcpus", "N", "vCPU threads (1-64; default 2)", opt_vcpus),
	[O_GUEST_MEM] = TOOL_OPT("guest-mem", "SIZE",
		"guest RAM, K/M/G suffixes (4M-64G, a multiple\n"
		"of 4M; default 256M)", opt_guest_mem),
	[O_HOST_MEM] = TOOL_OPT("host-mem", "SIZE",
		"host frames for it (1M a node up to the guest\n"
		"RAM; default a quarter of it)", opt_host_mem),
	[O_SWAP] = TOOL_OPT("swap", "PATH|SIZE",
		"swap file: a directory to make it in, a new file,\n"
		"or a size (default: in $TMPDIR, as large as guest\n"
		"RAM); or Redis: redis://HOST:PORT, unix:PATH or\n"
		"redis-cluster://HOST:PORT[,...], [?replicas=N]", opt_swap),
	[O_WORKLOAD] = { .name = "workload", .arg = "NAME",
		.help = "the guest program (default verify):",
		.parse = opt_workload, .more_help = workload_list },
	[O_ZIPF_THETA] = TOOL_OPT("zipf-theta", "X",
		"skew of zipf and kv keys, 0 < X < 1 (default 0.99)",
		opt_zipf_theta),
	[O_DURATION] = TOOL_OPT("duration", "TIME",
		"how long, s/ms suffixes (default 10s)", opt_duration),
	[O_OPS] = TOOL_OPT("ops", "N", "stop after N guest operations instead", opt_ops),
	[O_SEED] = TOOL_OPT("seed", "N", "seed of every random choice (default 1)",
		opt_seed),
	[O_NODES] = TOOL_OPT("nodes", "N|SIZE,..",
		"host memory nodes: a count sharing --host-mem,\n"
		"or each node's size (default 2)", opt_nodes),
	[O_CHURN] = TOOL_FLAG("churn", "the host's storm of operations (the default)",
		struct run_cfg, churn, true),
	[O_NO_CHURN] = TOOL_FLAG("no-churn",
		"no host storm: only reclaim acts on guest RAM", struct run_cfg,
		churn, false),
	[O_BALLOON] = TOOL_OPT("balloon", "RATE",
		"a balloon takes RATE of guest RAM a second\n"
		"(e.g. 16M), discarding it (workload verify)", opt_balloon),
	[O_TIERING] = TOOL_FLAG("tiering",
		"the reclaimer moves recently used pages to node 0",
		struct run_cfg, tiering, true),
	[O_KVM] = TOOL_FLAG("kvm",
		"a real KVM guest on /dev/kvm (workloads verify,\n"
		"zipf, stream, idle; up to 16 vCPUs and 2G of\n"
		"guest RAM), its RAM paged by vmsync within\n"
		"--host-mem; --nodes, --balloon, --tiering and\n"
		"--content are for simulated guests only", struct run_cfg, kvm,
		true),
	[O_CONTENT] = TOOL_OPT("content", "KIND",
		"what pages hold: mixed (the default: each page\n"
		"one of the others), zero (a tag word, then\n"
		"zeroes), text, binary (heap-like) or random\n"
		"(simulated guests)", opt_content),
	[O_ZSWAP] = TOOL_OPT("zswap", "SIZE",
		"a compressed tier of SIZE in front of the swap\n"
		"file, its frames out of --host-mem (none by\n"
		"default)", opt_zswap),
	[O_COMPRESSOR] = TOOL_OPT("compressor", "NAME",
		"lz4 (default), zstd or zstd:LEVEL (1-22)", opt_compressor),
	[O_JSON] = TOOL_OPT("json", "FILE",
		"the summary and a time series (every 250 ms) as\n"
		"JSON; the schema is in vmsync(1)", opt_json),
	[O_REPORT] = TOOL_OPT("report", "FILE",
		"a self-contained HTML page with plots over time", opt_report),
	[O_QUIET] = TOOL_FLAG("quiet", "no progress lines", struct run_cfg, quiet,
		true),
	[O_HELP] = TOOL_OPT("help", NULL, "this help", NULL),
};

static const struct tool_cmd run_cmd = {
	.name = "run",
	.intro = "Runs a VM whose vCPUs run a workload in guest RAM, checking every read\n"
		 "against an oracle, while the host swaps, migrates, write-protects,\n"
		 "remaps and moves that RAM under them.\n",
	.outro = "Exit: 0 verified, 1 mismatches, 2 bad usage, 3 error.\n",
	.opts = opts, .nr_opts = NR_OPTS,
};

/* The checks between options, defaults that depend on others: 0, or -1
 * after a one-line error. */
static int run_check(struct run_cfg *cfg, uint64_t given)
{
	if (cfg->ops && !GIVEN(O_DURATION))
		cfg->duration_ns = 0;           /* --ops alone: no time limit */
	if (cfg->node_mem[0]) {
		uint64_t sum = 0;

		for (unsigned i = 0; i < cfg->nodes; i++)
			sum += cfg->node_mem[i];
		if (cfg->host_mem && cfg->host_mem != sum) {
			fprintf(stderr, "vmsync run: --nodes sizes add up to %llu "
				"MiB, not --host-mem\n",
				(unsigned long long)(sum >> 20));
			return -1;
		}
		cfg->host_mem = sum;
	}
	if (cfg->balloon_rate && !cfg->workload->discards) {
		fprintf(stderr, "vmsync run: --balloon takes memory the guest "
			"must know is gone: only --workload verify knows\n");
		return -1;
	}
	if (cfg->kvm && (GIVEN(O_BALLOON) || GIVEN(O_TIERING) ||
			 GIVEN(O_NODES) || GIVEN(O_CONTENT))) {
		fprintf(stderr, "vmsync run: --nodes, --balloon, --tiering and "
			"--content are for simulated guests, not --kvm\n");
		return -1;
	}
	if (cfg->kvm && (cfg->vcpus > 16 || cfg->guest_mem > (2ull << 30) ||
			 !run_kvm_workload_ok(cfg->workload->name))) {
		fprintf(stderr, "vmsync run: --kvm takes up to 16 vCPUs, 2G of "
			"guest RAM and the workloads verify, zipf, stream, idle\n");
		return -1;
	}
	if (!cfg->host_mem)
		cfg->host_mem = cfg->guest_mem / 4;
	if (cfg->zswap_bytes && cfg->zswap_bytes >= cfg->host_mem) {
		fprintf(stderr, "vmsync run: --zswap comes out of --host-mem: it "
			"must be less than its %llu MiB\n",
			(unsigned long long)(cfg->host_mem >> 20));
		return -1;
	}
	if (cfg->host_mem / PAGE < cfg->nodes * 256) {
		fprintf(stderr, "vmsync run: --host-mem is too small for %u "
			"nodes (1M each at least)\n", cfg->nodes);
		return -1;
	}
	if (!cfg->swap_size)
		cfg->swap_size = cfg->guest_mem;
	if (cfg->host_mem > cfg->guest_mem) {
		fprintf(stderr, "vmsync run: --host-mem %llu MiB is more than "
			"--guest-mem %llu MiB\n",
			(unsigned long long)(cfg->host_mem >> 20),
			(unsigned long long)(cfg->guest_mem >> 20));
		return -1;
	}
	return 0;
}

int run_parse_args(int argc, char **argv, struct run_cfg *cfg)
{
	uint64_t given;

	*cfg = (struct run_cfg){ .vcpus = 2, .guest_mem = 256ull << 20,
				 .duration_ns = 10000000000ull, .seed = 1,
				 .workload = &workloads[0], .churn = true,
				 .zipf_theta = 0.99, .nodes = 2 };
	int r = tool_parse(&run_cmd, argc, argv, cfg, &given);

	return r ? r : run_check(cfg, given);
}
