/* os.c - what vmsync asks of the OS for resources: heap blocks, mappings,
 * memfds, threads.  Debug builds count live heap blocks and can make any
 * of these calls, or any other site that asks vms_fault(), fail on
 * purpose: the n-th call of a site, once or from then on, armed by a test
 * or by the environment (VMS_FAULT). */
#define _GNU_SOURCE
#include "base/base.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef VMS_DEBUG
static _Atomic int64_t heap_live;
#define HEAP_COUNT(p, n) \
	((p) ? (void)atomic_fetch_add_explicit(&heap_live, n, \
					       memory_order_relaxed) : (void)0)
#else
#define HEAP_COUNT(p, n) ((void)0)
#endif

void *vms_malloc(size_t size)
{
	void *p = vms_fault(VMS_FAULT_ALLOC) ? NULL : malloc(size);

	HEAP_COUNT(p, 1);
	return p;
}

void *vms_calloc(size_t n, size_t size)
{
	void *p = vms_fault(VMS_FAULT_ALLOC) ? NULL : calloc(n, size);

	HEAP_COUNT(p, 1);
	return p;
}

/* As realloc, but @size 0 is not a free: callers never shrink to 0. */
void *vms_realloc(void *old, size_t size)
{
	void *p = vms_fault(VMS_FAULT_ALLOC) ? NULL : realloc(old, size);

	HEAP_COUNT(p && !old, 1);
	return p;
}

void *vms_aligned_alloc(size_t align, size_t size)
{
	void *p = vms_fault(VMS_FAULT_ALLOC) ? NULL
					     : aligned_alloc(align, size);

	HEAP_COUNT(p, 1);
	return p;
}

void vms_free(void *p)
{
	HEAP_COUNT(p, -1);
	free(p);
}

void *vms_os_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  long off)
{
	if (vms_fault(VMS_FAULT_MAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

int vms_os_memfd(const char *name, uint64_t bytes)
{
	if (vms_fault(VMS_FAULT_MAP))
		return -EMFILE;
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int vms_os_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (vms_fault(VMS_FAULT_THREAD))
		return -EAGAIN;
	return -pthread_create(t, NULL, fn, arg);
}

#ifdef VMS_DEBUG
/* fail_at 0: the site only counts.  Arming resets a site's counts. */
static struct fault_site {
	_Atomic uint64_t calls, injected, fail_at;
	atomic_bool from_then_on;
} sites[VMS_FAULT_NR];

atomic_bool vms_fault_on;

bool vms_fault_hit(enum vms_fault_site site)
{
	struct fault_site *s = &sites[site];
	uint64_t n = atomic_fetch_add(&s->calls, 1) + 1;
	uint64_t at = atomic_load(&s->fail_at);

	if (!at || n < at || (n > at && !atomic_load(&s->from_then_on)))
		return false;
	atomic_fetch_add(&s->injected, 1);
	return true;
}

void vms_fault_arm(enum vms_fault_site site, uint64_t nth, bool from_then_on)
{
	struct fault_site *s = &sites[site];

	atomic_store(&s->fail_at, 0);
	atomic_store(&s->calls, 0);
	atomic_store(&s->injected, 0);
	atomic_store(&s->from_then_on, from_then_on);
	atomic_store(&s->fail_at, nth);
	atomic_store(&vms_fault_on, true);
}

void vms_fault_disarm(void)
{
	atomic_store(&vms_fault_on, false);
	for (unsigned i = 0; i < VMS_FAULT_NR; i++)
		atomic_store(&sites[i].fail_at, 0);
}

uint64_t vms_fault_calls(enum vms_fault_site site)
{
	return atomic_load(&sites[site].calls);
}

uint64_t vms_fault_injected(enum vms_fault_site site)
{
	return atomic_load(&sites[site].injected);
}

const char *vms_fault_name(enum vms_fault_site site)
{
	static const char *const names[VMS_FAULT_NR] = {
		[VMS_FAULT_ALLOC] = "alloc",
		[VMS_FAULT_MAP] = "map",
		[VMS_FAULT_THREAD] = "thread",
		[VMS_FAULT_FRAME] = "frame",
		[VMS_FAULT_SWAP_SLOT] = "swap-slot",
		[VMS_FAULT_SWAP_FILE] = "swap-file",
		[VMS_FAULT_SWAP_WRITE] = "swap-write",
		[VMS_FAULT_SWAP_READ] = "swap-read",
		[VMS_FAULT_SWAP_SHORT] = "swap-short",
		[VMS_FAULT_UFFD] = "uffd",
		[VMS_FAULT_COMPRESS] = "compress",
		[VMS_FAULT_NET] = "net",
		[VMS_FAULT_NET_TIMEOUT] = "net-timeout",
		[VMS_FAULT_NET_SHORT] = "net-short",
	};
	return site < VMS_FAULT_NR ? names[site] : "?";
}

int64_t vms_heap_live(void)
{
	return atomic_load(&heap_live);
}

/*
 * VMS_FAULT="site:n[:on],..." arms sites when the program starts, so that
 * a whole program (vmsync run) can be made to fail and show how it fails.
 * A bad value is reported and ignored: a library does not exit.
 */
atomic_bool vms_expensive;
static _Atomic uint64_t expensive_walks;

void vms_expensive_count(void)
{
	atomic_fetch_add_explicit(&expensive_walks, 1, memory_order_relaxed);
}

uint64_t vms_expensive_walks(void)
{
	return atomic_load(&expensive_walks);
}

__attribute__((constructor)) static void expensive_from_env(void)
{
	const char *env = getenv("VMS_EXPENSIVE");

	atomic_store(&vms_expensive, env && !strcmp(env, "1"));
}

__attribute__((constructor)) static void fault_from_env(void)
{
	const char *env = getenv("VMS_FAULT");
	char buf[256], *save = NULL;

	if (!env || !*env)
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char name[32], on[8] = "";
		unsigned long long nth;
		unsigned s = 0;

		if (sscanf(tok, "%31[a-z-]:%llu:%7s", name, &nth, on) >= 2 &&
		    (!*on || !strcmp(on, "on")))
			while (s < VMS_FAULT_NR && strcmp(vms_fault_name(s), name))
				s++;
		else
			s = VMS_FAULT_NR;
		if (s == VMS_FAULT_NR || !nth) {
			fprintf(stderr, "vmsync: VMS_FAULT: ignoring '%s' (want "
				"site:n[:on], n > 0)\n", tok);
			continue;
		}
		vms_fault_arm(s, nth, *on);
	}
}
#endif
