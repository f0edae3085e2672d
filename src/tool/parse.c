/* parse.c - the values the command's options take: counts in a range,
 * sizes with K/M/G/T suffixes, times with s/ms/us/min suffixes; and the
 * messages that refuse options. */
#define _GNU_SOURCE
#include "tool/tool.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

void opt_refused(const char *cmd, int c, char **argv, int before)
{
	const char *arg = argv[optind - 1];

	/* There are no short options.  glibc names an unknown one only in
	 * optopt, and leaves optind where it was while letters of the same
	 * "-xyz" remain; a long option it always steps past. */
	if (optind == before || strncmp(arg, "--", 2))
		fprintf(stderr, "vmsync %s: unknown option '-%c'\n", cmd, optopt);
	else if (c == ':')
		fprintf(stderr, "vmsync %s: option '%s' needs a value\n", cmd, arg);
	else if (optopt)
		fprintf(stderr, "vmsync %s: option '%.*s' takes no value\n", cmd,
			(int)strcspn(arg, "="), arg);
	else
		fprintf(stderr, "vmsync %s: unknown option '%s'\n", cmd, arg);
}

void opt_bad_value(const char *cmd, const struct option *lo, int c,
		   const char *value, const char *why)
{
	while (lo->val != c)
		lo++;
	fprintf(stderr, "vmsync %s: bad value '%s' for --%s: %s\n", cmd, value,
		lo->name, why);
}
