/* test.h - what every vmsync test shares: checks that print context and
 * fail the test, a seeded random generator, and the skip exit code. */
#ifndef VMS_TEST_H
#define VMS_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmsync.h"

#define T_SKIP 77

/* CHECK(cond, fmt, ...): fails the test with file:line and the message. */
#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                           \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			exit(1);                                            \
		}                                                           \
	} while (0)

/* CHECK_EQ(expr, want): integers, printing both on failure. */
#define CHECK_EQ(expr, want)                                                \
	do {                                                                \
		long long got_ = (long long)(expr), want_ = (long long)(want); \
		CHECK(got_ == want_, "got %lld, want %lld", got_, want_);    \
	} while (0)

/* CHECK_OK(call): the call returns 0. */
#define CHECK_OK(call)                                                      \
	do {                                                                \
		int r_ = (call);                                            \
		CHECK(r_ == 0, "returned %d (%s)", r_, strerror(-r_));       \
	} while (0)

/* T_RUN(test_fn): runs one test function (which exits on failure) and
 * says so; T_DONE() ends main with the closing line runners read. */
static unsigned t_passed __attribute__((unused));
#define T_RUN(fn)                                                          \
	do {                                                               \
		fn();                                                      \
		printf("ok - %s\n", #fn);                                  \
		fflush(stdout);                                            \
		t_passed++;                                                \
	} while (0)
#define T_DONE() (printf("%u passed, 0 failed\n", t_passed), 0)

/* t_watchdog(seconds, what): a hang fails the test after @seconds, naming
 * @what; 0 disarms.  It bounds liveness checks, it times no speed. */
static const char *t_watch_what __attribute__((unused));

/* What a hang leaves to go on: every thread's kernel stack (where the
 * kernel shows it) and user stack (by gdb, where the machine has it);
 * async-signal-safe: fork, execve, waitpid. */
extern char **environ;
static void __attribute__((unused)) t_dump_stacks(void)
{
	char pid[24], *at = pid + sizeof(pid) - 1;
	pid_t self = getpid(), child;

	*at = 0;
	do
		*--at = (char)('0' + self % 10);
	while ((self /= 10));
	child = fork();
	if (child == 0) {
		char *argv[] = {
			"sh", "-c",
			"for t in /proc/$1/task/*; do echo \"== $t $(cat $t/comm)\";"
			" cat $t/wchan $t/stack 2>/dev/null; echo; done;"
			" gdb -nx -batch -p $1 -ex 'thread apply all bt'",
			"sh", at, NULL
		};

		dup2(2, 1);
		execve("/bin/sh", argv, environ);
		_exit(127);
	}
	if (child > 0)
		waitpid(child, NULL, 0);
}
static void __attribute__((unused)) t_watch_fire(int sig)
{
	static const char msg[] = "check failed: hung: ";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	(void)!write(2, t_watch_what, strlen(t_watch_what));
	(void)!write(2, "\n", 1);
	t_dump_stacks();
	_exit(1);
}
static inline void t_watchdog(unsigned seconds, const char *what)
{
	t_watch_what = what;
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY);
	signal(SIGALRM, t_watch_fire);
	alarm(seconds);
}

/* vms_vm_set_memslot in the pages the tests count in. */
static inline int t_memslot(struct vms_vm *vm, unsigned id, uint64_t gfn,
			    uint64_t npages, uint64_t hva, unsigned flags)
{
	struct vms_memslot m = { .slot = id, .flags = flags,
				 .guest_phys_addr = gfn * VMS_PAGE_SIZE,
				 .memory_size = npages * VMS_PAGE_SIZE,
				 .userspace_addr = hva };

	return vms_vm_set_memslot(vm, &m);
}

static inline uint64_t t_rand(uint64_t *s)
{
	/* splitmix64: seeded, reproducible across runs and machines. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A pool of @frames frames on one node, and an mm on it. */
static inline void t_setup(uint64_t frames, struct vms_phys **phys,
			   struct vms_mm **mm)
{
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { frames } };

	CHECK_OK(vms_phys_create(&pc, phys));
	CHECK_OK(vms_mm_create(*phys, NULL, mm));
}

static inline void t_teardown(struct vms_phys *phys, struct vms_mm *mm)
{
	struct vms_node_info ni;

	vms_mm_destroy(mm);
	vms_phys_drop_caches(phys);     /* swap-cache copies go lazily */
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.free, ni.frames);   /* nothing leaked, nothing pinned */
	vms_phys_destroy(phys);
}

/* A VM's end: no debug invariant check may have failed, then everything
 * goes and every frame must be back. */
static inline void t_vm_teardown(struct vms_phys *phys, struct vms_mm *mm,
				 struct vms_vm *vm)
{
	struct vms_vm_stats st;

	vms_vm_stats(vm, &st);
	CHECK_EQ(st.violations, 0);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

#endif /* VMS_TEST_H */
