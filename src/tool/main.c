/* main.c - the vmsync command: dispatches subcommands from a table, and
 * parses the values (sizes, times, counts) their options take. */
#define _GNU_SOURCE
#include "tool/tool.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

static int cmd_help(int argc, char **argv);

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} cmds[] = {
	{ "run", cmd_run, "run a VM whose memory the host churns, and verify it" },
	{ "bench", cmd_bench, "measure swap and migration next to the kernel's" },
	{ "help", cmd_help, "show this help" },
};

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: vmsync <command> [options]\n\n"
	       "vmsync swaps, migrates and discards guest memory without pinning\n"
	       "it, keeping every secondary MMU coherent through MMU notifiers.\n\n"
	       "commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-6s %s\n", cmds[i].name, cmds[i].what);
	printf("\n'vmsync <command> --help' tells a command's options.\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_help(0, NULL);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "vmsync: unknown command '%s' (try 'vmsync help')\n",
		argv[1]);
	return EXIT_USAGE;
}

/* ---- value parsers ---- */

/* The decimal number @s starts with; *end after it. */
static bool parse_number(const char *s, unsigned long long *v, char **end,
			 const char **why)
{
	if (!s || !isdigit((unsigned char)*s)) {
		*why = "not a number";
		return false;
	}
	errno = 0;
	*v = strtoull(s, end, 10);
	if (errno) {
		*why = "too large";
		return false;
	}
	return true;
}

bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		const char **why)
{
	unsigned long long v;
	char *end;

	if (!parse_number(s, &v, &end, why))
		return false;
	if (*end) {
		*why = "not a whole number";
		return false;
	}
	if (v < min || v > max) {
		*why = "out of range";
		return false;
	}
	*out = v;
	return true;
}

/* A number and a unit from @names; the bare number takes names[0]. */
static bool parse_scaled(const char *s, const char *const *names,
			 const uint64_t *scale, size_t n, uint64_t *out,
			 const char **why)
{
	unsigned long long v;
	char *end;

	if (!parse_number(s, &v, &end, why))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(end, names[i]))
			continue;
		if (v > UINT64_MAX / scale[i]) {
			*why = "too large";
			return false;
		}
		*out = v * scale[i];
		return true;
	}
	*why = "unknown unit";
	return false;
}

bool parse_size(const char *s, uint64_t *out, const char **why)
{
	static const char *const names[] = { "", "k", "m", "g", "t",
					     "kib", "mib", "gib", "tib" };
	static const uint64_t scale[] = { 1, 1ull << 10, 1ull << 20, 1ull << 30,
					  1ull << 40, 1ull << 10, 1ull << 20,
					  1ull << 30, 1ull << 40 };

	return parse_scaled(s, names, scale, 9, out, why);
}

bool parse_time(const char *s, uint64_t *out_ns, const char **why)
{
	static const char *const names[] = { "", "s", "ms", "us", "m", "min" };
	static const uint64_t scale[] = { 1000000000ull, 1000000000ull,
					  1000000ull, 1000ull, 60000000000ull,
					  60000000000ull };

	return parse_scaled(s, names, scale, 6, out_ns, why);
}

uint64_t tool_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t tool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	double zeta2 = 1 + pow(0.5, theta);

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (uint64_t i = 1; i <= n; i++)
		z->zetan += 1 / pow((double)i, theta);
	z->alpha = 1 / (1 - theta);
	z->eta = (1 - pow(2.0 / (double)n, 1 - theta)) / (1 - zeta2 / z->zetan);
	z->half = 1 + pow(0.5, theta);
}

uint64_t zipf_next(struct zipf *z, uint64_t *rng)
{
	double u = (double)(tool_rand(rng) >> 11) / (double)(1ull << 53);
	double uz = u * z->zetan;

	if (uz < 1)
		return 0;
	if (uz < z->half)
		return 1 < z->n ? 1 : 0;
	uint64_t r = (uint64_t)((double)z->n *
				pow(z->eta * u - z->eta + 1, z->alpha));
	return r < z->n ? r : z->n - 1;
}

