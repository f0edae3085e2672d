/* main.c - the vmsync command: dispatches subcommands from a table.  The
 * subcommands and the parsers of their values (parse.c) make up the
 * vmsync-tool library. */
#define _GNU_SOURCE
#include "tool/tool.h"

#include <stdio.h>
#include <string.h>

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
