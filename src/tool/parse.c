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

/* There are no short options.  glibc names an unknown one only in optopt,
 * and leaves optind where it was while letters of the same "-xyz" remain;
 * a long option it always steps past.  @before: optind before the call. */
static void opt_refused(const char *cmd, int c, char **argv, int before)
{
	const char *arg = argv[optind - 1];

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

#define OPT_COL 21              /* where the help starts */
#define OPT_VAL 256             /* getopt values: index + this */

void tool_usage(FILE *f, const struct tool_cmd *cmd)
{
	fprintf(f, "usage: vmsync %s [options]\n\n%s\n", cmd->name, cmd->intro);
	for (size_t i = 0; i < cmd->nr_opts; i++) {
		const struct tool_opt *o = &cmd->opts[i];
		char head[64];
		int n = snprintf(head, sizeof(head), "  --%s%s%s", o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");

		fputs(head, f);
		for (const char *h = o->help; *h;) {
			size_t len = strcspn(h, "\n");

			fprintf(f, "%*s%.*s\n", n < OPT_COL ? OPT_COL - n : 1, "",
				(int)len, h);
			n = 0;
			h += len + (h[len] == '\n');
		}
		if (o->more_help)
			o->more_help(f);
	}
	if (cmd->outro)
		fprintf(f, "\n%s", cmd->outro);
}

int tool_parse(const struct tool_cmd *cmd, int argc, char **argv, void *cfg,
	       uint64_t *given)
{
	struct option lo[64];
	const char *why;
	int c;

	if (cmd->nr_opts >= 64)
		return -1;
	for (size_t i = 0; i < cmd->nr_opts; i++)
		lo[i] = (struct option){ cmd->opts[i].name,
					 cmd->opts[i].arg ? 1 : 0, NULL,
					 OPT_VAL + (int)i };
	lo[cmd->nr_opts] = (struct option){ 0, 0, 0, 0 };
	*given = 0;
	opterr = 0;
	optind = 0;     /* glibc: forget a past parse's "-xyz" too */
	for (int before = 1; (c = getopt_long(argc, argv, ":", lo, NULL)) != -1;
	     before = optind) {
		if (c < OPT_VAL || c >= OPT_VAL + (int)cmd->nr_opts) {
			opt_refused(cmd->name, c, argv, before);
			return -1;
		}
		const struct tool_opt *o = &cmd->opts[c - OPT_VAL];

		*given |= 1ull << (c - OPT_VAL);
		if (!o->parse && !o->field) {
			tool_usage(stdout, cmd);
			return 1;
		}
		if (!o->parse) {
			char *at = (char *)cfg + o->field - 1;

			if (o->arg)
				*(const char **)at = optarg;
			else
				*(bool *)at = o->to;
			continue;
		}
		why = NULL;
		if (!o->parse(cfg, optarg, &why)) {
			fprintf(stderr, "vmsync %s: bad value '%s' for --%s: %s\n",
				cmd->name, optarg ? optarg : "", o->name,
				why ? why : "refused");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmsync %s: unexpected argument '%s'\n",
			cmd->name, argv[optind]);
		return -1;
	}
	return 0;
}
