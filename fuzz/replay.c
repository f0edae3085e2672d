/* replay.c - a fuzz harness without libFuzzer: every file argument, and
 * every file of every directory argument (in name order, dotfiles
 * skipped), is one input.  Built with the normal compiler, so that each
 * `make test` replays the seed corpus and the crash reproducers. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A harness need not have one (libFuzzer's rule too). */
extern int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Feeds one file, in a buffer of exactly its size (so a sanitizer sees a
 * read past the input). */
static int replay_file(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t got = 0;

	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		free(buf);
		return -1;
	}
	printf("replay: %s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	return 0;
}

static int no_dotfiles(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns how many inputs ran, or -1. */
static long replay_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	long n = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) ? -1 : 1;
	int k = scandir(path, &names, no_dotfiles, alphasort);
	if (k < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < k; i++) {
		char *p;

		if (n >= 0 && asprintf(&p, "%s/%s", path, names[i]->d_name) < 0)
			n = -1;
		else if (n >= 0) {
			n = replay_file(p) ? -1 : n + 1;
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return n;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		long n = replay_path(argv[i]);

		if (n < 0)
			return 1;
		total += n;
	}
	printf("replay: %ld inputs, no finding\n", total);
	return 0;
}
