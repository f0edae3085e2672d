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

/* The one-line refusals of every subcommand's options on stderr.  The
 * parsers run getopt_long with optstring ":" (':': a value is missing);
 * @before is optind as it was before the call that refused. */
struct option;
void opt_refused(const char *cmd, int c, char **argv, int before);
void opt_bad_value(const char *cmd, const struct option *lo, int c,
		   const char *value, const char *why);

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
