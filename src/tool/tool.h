/* tool.h - the vmsync command's shared pieces: its subcommands and the
 * parsers of sizes and times that every option uses. */
#ifndef VMS_TOOL_H
#define VMS_TOOL_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes of the command. */
#define EXIT_VERIFIED 0
#define EXIT_MISMATCH 1
#define EXIT_USAGE 2
#define EXIT_ERROR 3

int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "64M", "1G", "4096", "4k": bytes.  False with *why set on bad input. */
bool parse_size(const char *s, uint64_t *out, const char **why);
/* "10s", "500ms", "2": nanoseconds (bare numbers are seconds). */
bool parse_time(const char *s, uint64_t *out_ns, const char **why);
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		const char **why);

/*
 * A subcommand's options, one table that drives both its parsing and its
 * usage text (as kvmtool's option tables do).  An entry: --name, its value
 * (NULL: a flag), its help (lines split at '\n'), what parses the value
 * into the command's configuration (false with *why: a one-line refusal),
 * and optional lines after the help (a list made at run time).  Flags and
 * plain strings name the field they set instead; an option with neither
 * ("help") prints the usage.
 */
#include <stdio.h>

#include <stddef.h>

struct tool_opt {
	const char *name, *arg, *help;
	bool (*parse)(void *cfg, char *val, const char **why);
	void (*more_help)(FILE *f);
	/* Without parse: the field (its offset + 1) that takes the value as
	 * it is (a const char *), or for a flag a bool set to @to. */
	size_t field;
	bool to;
};
#define TOOL_OPT(n, a, h, p) { .name = n, .arg = a, .help = h, .parse = p }
#define TOOL_FLAG(n, h, type, f, v) \
	{ .name = n, .help = h, .field = offsetof(type, f) + 1, .to = v }
#define TOOL_STR(n, a, h, type, f) \
	{ .name = n, .arg = a, .help = h, .field = offsetof(type, f) + 1 }
struct tool_cmd {
	const char *name;               /* "run", "bench" */
	const char *intro, *outro;      /* around the options in the usage */
	const struct tool_opt *opts;
	size_t nr_opts;
};
void tool_usage(FILE *f, const struct tool_cmd *cmd);
/* Parses @argv into @cfg.  *@given gets a bit per option index seen (for
 * the checks between options).  0 to run, 1 when --help was printed, -1
 * after a one-line error on stderr. */
int tool_parse(const struct tool_cmd *cmd, int argc, char **argv, void *cfg,
	       uint64_t *given);

/* splitmix64: seeded, the same sequence on every machine. */
uint64_t tool_rand(uint64_t *state);
uint64_t tool_now_ns(void);

/* Zipf-distributed ranks in [0, n), as YCSB draws them (Gray et al.):
 * O(n) once for zeta(n), O(1) a draw.  0 < theta < 1: larger, more
 * skewed. */
struct zipf {
	uint64_t n;
	double theta, zetan, alpha, eta, half;
};
void zipf_init(struct zipf *z, uint64_t n, double theta);
uint64_t zipf_next(struct zipf *z, uint64_t *rng);

#endif /* VMS_TOOL_H */
