/* cli.c - fuzz harness of the command's option parsers.  The input, split
 * at NUL bytes, is the argument list of `vmsync run` and of `vmsync bench`
 * and a few values for parse_size, parse_time and parse_uint.  An accepted
 * configuration must keep every rule the usage states; a refusal returns
 * -1 after one line on stderr; a parse gives the same twice over (getopt
 * and strtok keep state between calls).
 *
 * --json and --report create their files: each input runs in a private
 * directory, emptied after it, with every '/' of the input turned into
 * '_', so that no path can lead out of it. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tool/bench.h"
#include "tool/run.h"

#define MAX_ARGS 24
#define MAX_VALUES 8
#define OUT_SIZE 8192

static FILE *report;            /* the real stderr, for findings */
static char out_buf[2][OUT_SIZE];
static FILE *caught[2];         /* stdout and stderr while a parser runs */

static void remove_work_dir(void);

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(report, "fuzz-cli: ");
	va_start(ap, fmt);
	vfprintf(report, fmt, ap);
	va_end(ap);
	fprintf(report, "\n");
	remove_work_dir();
	abort();
}

/* ---- running a parser ---- */

/* What a parser made of one argument list, kept past the list. */
struct outcome {
	int r;
	char err[OUT_SIZE];             /* what it printed on stderr */
	size_t out_len;                 /* and how much on stdout */
	struct run_cfg run;
	struct bench_cfg bench;
	char json[256], report[256], swap[256], dir[256];
};

static void keep_str(char *dst, const char *src)
{
	snprintf(dst, 256, "%s", src ? src : "(none)");
}

/* Runs the parser of `vmsync run` or `vmsync bench` on a fresh copy of
 * the list (parsers write into it, and a copy freed at once lets a
 * sanitizer see a parser keep a pointer into a past one), with stdout and
 * stderr caught.  Swapping the stdio streams leaves file descriptor 2 to
 * sanitizer reports. */
static void run_parser(bool bench, char *const *args, int n,
		       struct outcome *o)
{
	size_t total = 0;
	char **argv = malloc((n + 2) * sizeof(*argv));
	const char *name = bench ? "bench" : "run";

	for (int i = 0; i < n; i++)
		total += strlen(args[i]) + 1;
	char *blob = malloc(total + 1), *at = blob;
	if (!argv || !blob)
		fail("out of memory");
	argv[0] = (char *)name;
	for (int i = 0; i < n; i++) {
		argv[i + 1] = at;
		at = stpcpy(at, args[i]) + 1;
	}
	argv[n + 1] = NULL;

	FILE *saved_out = stdout, *saved_err = stderr;
	for (int i = 0; i < 2; i++)
		rewind(caught[i]);
	stdout = caught[0];
	stderr = caught[1];
	memset(o, 0, sizeof(*o));
	if (bench) {
		const char *json;

		o->r = bench_parse_args(n + 1, argv, &o->bench, &json);
		if (!o->r) {
			keep_str(o->json, json);
			keep_str(o->dir, o->bench.dir);
		}
	} else {
		o->r = run_parse_args(n + 1, argv, &o->run);
		if (!o->r) {
			keep_str(o->json, o->run.json_path);
			keep_str(o->report, o->run.report_path);
			keep_str(o->swap, o->run.swap_path);
		}
	}
	fflush(stdout);
	fflush(stderr);
	o->out_len = (size_t)ftell(caught[0]);
	size_t err_len = (size_t)ftell(caught[1]);
	stdout = saved_out;
	stderr = saved_err;
	if (err_len >= OUT_SIZE)
		fail("%s: more than %d bytes on stderr", name, OUT_SIZE);
	memcpy(o->err, out_buf[1], err_len);
	o->err[err_len] = 0;
	free(blob);
	free(argv);
}

/* ---- what the parsers promise ---- */

/* Does the input say "(null)" itself?  Else a message saying it printed a
 * NULL string.  Has it a newline?  Else a message of two lines is two. */
static bool input_says_null, input_has_newline;

static void check_refusal(const char *name, const struct outcome *o)
{
	char prefix[32];
	const char *nl = strchr(o->err, '\n');

	snprintf(prefix, sizeof(prefix), "vmsync %s: ", name);
	if (o->r == 1) {
		if (!o->out_len || *o->err)
			fail("%s --help: %zu bytes of usage, stderr '%s'", name,
			     o->out_len, o->err);
		return;
	}
	if (o->r != -1)
		fail("%s parser returned %d", name, o->r);
	if (strncmp(o->err, prefix, strlen(prefix)) || !nl ||
	    (nl[1] && !input_has_newline) ||
	    (strstr(o->err, "(null)") && !input_says_null))
		fail("%s refused with '%s', not one line '%s...'", name, o->err,
		     prefix);
}

static bool is_page_multiple(uint64_t v)
{
	return !(v % VMS_PAGE_SIZE);
}

static void check_run(const struct outcome *o)
{
	const struct run_cfg *c = &o->run;
	const uint64_t M = 1ull << 20;

	if (o->r) {
		check_refusal("run", o);
		return;
	}
	if (*o->err || o->out_len)
		fail("run: accepted, yet printed '%s'", o->err);
	if (c->vcpus < 1 || c->vcpus > 64)
		fail("run: %u vCPUs", c->vcpus);
	if (c->guest_mem < 4 * M || c->guest_mem > (64ull << 30) ||
	    c->guest_mem % (4 * M))
		fail("run: guest_mem %#llx", (unsigned long long)c->guest_mem);
	if (c->host_mem < M || !is_page_multiple(c->host_mem) ||
	    c->host_mem > c->guest_mem)
		fail("run: host_mem %#llx for guest_mem %#llx",
		     (unsigned long long)c->host_mem,
		     (unsigned long long)c->guest_mem);
	if (c->nodes < 1 || c->nodes > VMS_MAX_NODES ||
	    c->host_mem / VMS_PAGE_SIZE < c->nodes * 256ull)
		fail("run: %u nodes on host_mem %#llx", c->nodes,
		     (unsigned long long)c->host_mem);
	if (c->node_mem[0]) {
		/* Sizes given: each at least 1M in pages, adding up to host_mem. */
		unsigned __int128 sum = 0;

		for (unsigned i = 0; i < c->nodes; i++) {
			if (c->node_mem[i] < M || !is_page_multiple(c->node_mem[i]))
				fail("run: node %u of %#llx bytes", i,
				     (unsigned long long)c->node_mem[i]);
			sum += c->node_mem[i];
		}
		if (sum != c->host_mem)
			fail("run: node sizes add up to %#llx%016llx, host_mem is "
			     "%#llx", (unsigned long long)(sum >> 64),
			     (unsigned long long)sum,
			     (unsigned long long)c->host_mem);
	}
	for (unsigned i = c->node_mem[0] ? c->nodes : 0; i < VMS_MAX_NODES; i++)
		if (c->node_mem[i])
			fail("run: node_mem[%u] set beyond %u nodes", i, c->nodes);
	if (c->duration_ns ? c->duration_ns < 1000000ull ||
				     c->duration_ns > 86400000000000ull
			   : !c->ops)
		fail("run: duration %llu ns with %llu ops",
		     (unsigned long long)c->duration_ns,
		     (unsigned long long)c->ops);
	if (c->swap_size < M)
		fail("run: swap_size %#llx", (unsigned long long)c->swap_size);
	if (c->workload < workloads || c->workload >= workloads + nr_workloads)
		fail("run: workload not one of the table");
	if (!(c->zipf_theta > 0 && c->zipf_theta < 1))
		fail("run: zipf_theta %g", c->zipf_theta);
	if (c->balloon_rate && !c->workload->discards)
		fail("run: balloon with workload %s", c->workload->name);
	if ((c->json_path && access(o->json, W_OK)) ||
	    (c->report_path && access(o->report, W_OK)))
		fail("run: --json '%s' / --report '%s' accepted but not there",
		     o->json, o->report);
}

static void check_bench(const struct outcome *o)
{
	const struct bench_cfg *c = &o->bench;

	if (o->r) {
		check_refusal("bench", o);
		return;
	}
	if (*o->err || o->out_len)
		fail("bench: accepted, yet printed '%s'", o->err);
	if (c->pages < 1024 || c->pages > 4194304 || c->reps < 1 ||
	    c->reps > MAX_REPS)
		fail("bench: %llu pages, %u reps", (unsigned long long)c->pages,
		     c->reps);
}

/* Two parses of the same list agree.  Paths point into each parse's own
 * copy: they are compared as the strings kept. */
static void check_same(const char *name, const struct outcome *a,
		       const struct outcome *b)
{
	const struct run_cfg *x = &a->run, *y = &b->run;
	bool same = a->r == b->r && !strcmp(a->err, b->err) &&
		    a->out_len == b->out_len;

	if (same && !a->r)
		same = x->vcpus == y->vcpus && x->guest_mem == y->guest_mem &&
		       x->host_mem == y->host_mem &&
		       x->swap_size == y->swap_size &&
		       x->duration_ns == y->duration_ns && x->ops == y->ops &&
		       x->seed == y->seed && x->workload == y->workload &&
		       !memcmp(&x->zipf_theta, &y->zipf_theta,
			       sizeof(x->zipf_theta)) &&
		       x->nodes == y->nodes &&
		       !memcmp(x->node_mem, y->node_mem, sizeof(x->node_mem)) &&
		       x->balloon_rate == y->balloon_rate &&
		       x->quiet == y->quiet && x->churn == y->churn &&
		       x->tiering == y->tiering &&
		       a->bench.pages == b->bench.pages &&
		       a->bench.reps == b->bench.reps &&
		       a->bench.seed == b->bench.seed &&
		       !strcmp(a->json, b->json) &&
		       !strcmp(a->report, b->report) &&
		       !strcmp(a->swap, b->swap) && !strcmp(a->dir, b->dir);
	if (!same)
		fail("%s: the same arguments parsed twice differ: %d '%s' vs "
		     "%d '%s'", name, a->r, a->err, b->r, b->err);
}

/* ---- the value parsers against a reference ---- */

struct unit {
	const char *name;
	uint64_t scale;
};

/* Digits, then one of @units (any case); the value must not overflow. */
static bool ref_scaled(const char *s, const struct unit *units, size_t n,
		       uint64_t *out)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(s, units[i].name)) {
			if (v > UINT64_MAX / units[i].scale)
				return false;
			*out = v * units[i].scale;
			return true;
		}
	return false;
}

static void check_value(const char *what, const char *s, bool ok, uint64_t v,
			const char *why, bool ref_ok, uint64_t ref)
{
	if (ok != ref_ok || (ok && v != ref))
		fail("%s('%s') = %d, %llu; want %d, %llu", what, s, ok,
		     (unsigned long long)v, ref_ok, (unsigned long long)ref);
	if (!ok && (!why || !*why))
		fail("%s('%s') refused without a reason", what, s);
}

static void check_values(const char *s)
{
	static const struct unit sizes[] = {
		{ "", 1 }, { "k", 1ull << 10 }, { "m", 1ull << 20 },
		{ "g", 1ull << 30 }, { "t", 1ull << 40 }, { "kib", 1ull << 10 },
		{ "mib", 1ull << 20 }, { "gib", 1ull << 30 },
		{ "tib", 1ull << 40 },
	};
	static const struct unit times[] = {
		{ "", 1000000000ull }, { "s", 1000000000ull }, { "ms", 1000000ull },
		{ "us", 1000ull }, { "m", 60000000000ull },
		{ "min", 60000000000ull },
	};
	static const uint64_t ranges[][2] = {
		{ 0, UINT64_MAX }, { 1, 64 }, { 1024, 4194304 }, { 1, VMS_MAX_NODES },
	};
	const char *why = NULL;
	uint64_t v = 0, ref = 0;
	bool ok, ref_ok;

	ok = parse_size(s, &v, &why);
	ref_ok = ref_scaled(s, sizes, sizeof(sizes) / sizeof(sizes[0]), &ref);
	check_value("parse_size", s, ok, v, why, ref_ok, ref);
	why = NULL;
	ok = parse_time(s, &v, &why);
	ref_ok = ref_scaled(s, times, sizeof(times) / sizeof(times[0]), &ref);
	check_value("parse_time", s, ok, v, why, ref_ok, ref);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		why = NULL;
		ok = parse_uint(s, ranges[i][0], ranges[i][1], &v, &why);
		ref_ok = ref_scaled(s, sizes, 1, &ref) && ref >= ranges[i][0] &&
			 ref <= ranges[i][1];
		check_value("parse_uint", s, ok, v, why, ref_ok, ref);
	}
}

/* ---- the harness ---- */

/* Empties the working directory of what --json and --report made. */
static bool clean_dir(void)
{
	DIR *d = opendir(".");
	struct dirent *e;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(e->d_name);
	closedir(d);
	return true;
}

static char work_dir[4096];
static int home = -1;           /* the directory we were started in */

static void enter_work_dir(void)
{
	if (chdir(work_dir))
		fail("cannot enter %s", work_dir);
}

static void leave_work_dir(void)
{
	if (fchdir(home))
		fail("cannot go back from %s", work_dir);
}

/* At exit, and before a finding aborts. */
static void remove_work_dir(void)
{
	if (!*work_dir || chdir(work_dir))
		return;
	clean_dir();
	if (fchdir(home) == 0)
		rmdir(work_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int fd = dup(2);

	(void)argc;
	(void)argv;
	report = fd >= 0 ? fdopen(fd, "w") : NULL;
	home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(work_dir, sizeof(work_dir), "%s/vmsync-fuzz-cli.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!report || home < 0 || !mkdtemp(work_dir)) {
		perror("fuzz-cli: setting up");
		abort();
	}
	setvbuf(report, NULL, _IONBF, 0);
	atexit(remove_work_dir);
	for (int i = 0; i < 2; i++) {
		caught[i] = fmemopen(out_buf[i], OUT_SIZE, "w");
		if (!caught[i]) {
			perror("fuzz-cli: fmemopen");
			abort();
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;
	char *args[MAX_ARGS];
	int n = 0;
	char *copy = malloc(size + 1);

	if (!copy)
		fail("out of memory");
	memcpy(copy, data, size);
	copy[size] = 0;
	input_says_null = memmem(data, size, "(null)", 6);
	input_has_newline = memchr(data, '\n', size);
	for (size_t i = 0; i < size; i++)
		if (copy[i] == '/')
			copy[i] = '_';
	/* NUL ends a string; so does the end of the input. */
	for (char *s = copy; s < copy + size && n < MAX_ARGS;
	     s += strlen(s) + 1)
		args[n++] = s;

	enter_work_dir();
	for (int bench = 0; bench < 2; bench++) {
		run_parser(bench, args, n, &a);
		run_parser(bench, args, n, &b);
		check_same(bench ? "bench" : "run", &a, &b);
		if (bench)
			check_bench(&a);
		else
			check_run(&a);
	}
	for (int i = 0; i < n && i < MAX_VALUES; i++)
		check_values(args[i]);
	if (!clean_dir())
		fail("cannot empty %s", work_dir);
	leave_work_dir();
	free(copy);
	return 0;
}
