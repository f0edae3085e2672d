/* bench_latency.c - `vmsync bench`'s mapping-call latency under load:
 * mprotect of a page no one touches, while 2 vCPUs fault over swap (guest
 * RAM four times the frames), next to the same call in a host process
 * whose 2 threads fault over the kernel's swap in a memory cgroup of a
 * quarter of their buffer.  p50 and p99 of each call, in microseconds. */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmsync.h"

#define PAGE VMS_PAGE_SIZE
#define LAT_CALLS 2000              /* mprotect calls timed a side */
#define LAT_GAP_NS 200000           /* between two of them */
#define LAT_WARM_NS 50000000        /* faulting before the first */

/* What the faulting threads share: when to stop, the pages to read. */
struct lat_load {
	atomic_bool stop;
	uint64_t pages;
	uint8_t *buf;                   /* the kernel's side: the buffer */
};

struct lat_vcpu {
	struct lat_load *load;
	uint64_t seed;
	int err;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { 0, (long)ns };

	nanosleep(&ts, NULL);
}

/* Times LAT_CALLS calls of @prot(@arg, protection) alternating read-only
 * and read-write; p50 and p99 in microseconds into @out. */
static int time_calls(int (*prot)(void *arg, int rw), void *arg, double out[2])
{
	uint64_t *ns = malloc(LAT_CALLS * sizeof(*ns));
	int r = 0;

	if (!ns)
		return -ENOMEM;
	nap(LAT_WARM_NS);
	for (unsigned i = 0; i < LAT_CALLS && !r; i++) {
		uint64_t t = tool_now_ns();

		r = prot(arg, i % 2);
		ns[i] = tool_now_ns() - t;
		nap(LAT_GAP_NS);
	}
	qsort(ns, LAT_CALLS, sizeof(*ns), cmp_u64);
	out[0] = ns[LAT_CALLS / 2] / 1e3;
	out[1] = ns[LAT_CALLS * 99 / 100] / 1e3;
	free(ns);
	return r;
}

/* ---- vmsync's side ---- */

static int lat_guest(struct vms_vcpu *v, void *arg)
{
	struct lat_vcpu *c = arg;
	uint64_t rng = c->seed, x;

	while (!atomic_load_explicit(&c->load->stop, memory_order_relaxed) &&
	       !c->err)
		c->err = vms_guest_read64(
			v, tool_rand(&rng) % c->load->pages * PAGE, &x);
	return 0;
}

struct vms_target {
	struct vms_mm *mm;
	uint64_t hva;
};

static int vms_prot(void *arg, int rw)
{
	struct vms_target *t = arg;

	return vms_mprotect(t->mm, t->hva, PAGE,
			    VMS_PROT_READ | (rw ? VMS_PROT_WRITE : 0));
}

int vms_mprotect_latency(struct vms_phys *phys, uint64_t pages, uint64_t seed,
			 double out[2])
{
	struct lat_load load = { .pages = pages };
	struct lat_vcpu c[2] = { { &load, seed, 0 }, { &load, ~seed, 0 } };
	struct vms_vm_config vc = { .max_gpa = pages * PAGE };
	struct vms_vcpu *v[2];
	struct vms_target t;
	struct vms_vm *vm = NULL;
	unsigned started = 0;
	uint64_t ram;
	int r;

	if ((r = vms_mm_create(phys, NULL, &t.mm)))
		return r;
	r = vms_mmap(t.mm, 0, pages * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &ram);
	if (!r)
		r = vms_mmap(t.mm, 0, PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
			     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &t.hva);
	for (uint64_t i = 0; !r && i < pages; i++)
		r = vms_mm_write(t.mm, ram + i * PAGE, &i, sizeof(i));
	if (!r)
		r = vms_vm_create(t.mm, &vc, &vm);
	if (!r)
		r = vms_vm_set_memslot(vm, &(struct vms_memslot){
			.memory_size = pages * PAGE, .userspace_addr = ram });
	for (; !r && started < 2; started++)
		r = vms_vcpu_start(vm, lat_guest, &c[started], &v[started]);
	if (!r)
		r = time_calls(vms_prot, &t, out);
	atomic_store(&load.stop, true);
	for (unsigned i = 0; i < started; i++) {
		vms_vcpu_join(v[i], NULL);
		r = r ? r : c[i].err;
	}
	vms_vm_destroy(vm);
	vms_mm_destroy(t.mm);
	return r;
}

/* ---- the kernel's side ---- */

static void *kernel_reader(void *arg)
{
	struct lat_vcpu *c = arg;
	uint64_t rng = c->seed;
	volatile uint8_t sink = 0;

	while (!atomic_load_explicit(&c->load->stop, memory_order_relaxed))
		sink += c->load->buf[tool_rand(&rng) % c->load->pages * PAGE];
	(void)sink;
	return NULL;
}

static int kernel_prot(void *arg, int rw)
{
	return mprotect(arg, PAGE, PROT_READ | (rw ? PROT_WRITE : 0)) ? -errno
								   : 0;
}

/* In a child in memory cgroup @cg, limited to a quarter of the buffer:
 * the same load over the kernel's swap, p50 and p99 through @fd. */
static int kernel_latency_child(const struct bench_cfg *cfg, const char *cg,
				const void *arg, int fd)
{
	struct lat_load load = { .pages = cfg->pages };
	struct lat_vcpu c[2] = { { &load, cfg->seed, 0 },
				 { &load, ~cfg->seed, 0 } };
	pthread_t th[2];
	double out[2];
	int r;

	(void)arg;
	if (bench_cg_join(cg, cfg->pages / 4 * PAGE))
		return 1;
	load.buf = mmap(NULL, cfg->pages * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *target = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (load.buf == MAP_FAILED || target == MAP_FAILED)
		return 1;
	for (uint64_t i = 0; i < cfg->pages; i++)
		*(uint64_t *)(load.buf + i * PAGE) = i;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, kernel_reader, &c[i]))
			return 1;
	r = time_calls(kernel_prot, target, out);
	atomic_store(&load.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	bench_cg_limit(cg, 1ull << 40);
	if (r)
		return 1;
	return write(fd, out, sizeof(out)) == sizeof(out) ? 0 : 1;
}

bool kernel_mprotect_latency(const struct bench_cfg *cfg,
			     const struct kswap *k, double out[2])
{
	return !bench_child(kernel_latency_child, cfg, k->cg, NULL, out,
			    2 * sizeof(double));
}
