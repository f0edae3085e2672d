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

/* splitmix64: seeded, the same sequence on every machine. */
uint64_t tool_rand(uint64_t *state);
uint64_t tool_now_ns(void);

#endif /* VMS_TOOL_H */
