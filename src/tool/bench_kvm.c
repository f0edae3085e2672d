/* bench_kvm.c - the figures of real KVM guests: one guest program, run by
 * vmsync's pager, by a bare userfaultfd handler, and by the kernel's own
 * swap in a memory cgroup (the seed's system itself: KVM's MMU notifier
 * keeps the guest coherent while the kernel swaps its RAM). */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvm/kvm.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define PAGE VMS_PAGE_SIZE

/* Runs one command on vCPU 0 (this thread); its seconds, or -1 when it
 * did not end at its doorbell or a read mismatched. */
static double guest_cmd(struct kvm_vm *vm, unsigned wl, unsigned write_pct,
			uint64_t ops, uint64_t seed)
{
	struct kvm_vcpu_mbox *mb = &vm->mbox[0];

	*mb = (struct kvm_vcpu_mbox){ .workload = wl, .id = 0,
				      .nr_owners = 1, .write_pct = write_pct,
				      .seed = seed, .ops = ops,
				      .ram_pages = vm->ram_pages,
				      .zipf_buckets = mb->zipf_buckets };
	double t = now_s();

	if (kvm_vcpu_run(&vm->vcpus[0]) != KVM_VCPU_DONE || mb->mismatches)
		return -1;
	return now_s() - t;
}

static uint64_t ram_pages(const struct bench_cfg *cfg)
{
	return (cfg->pages + 511) & ~511ull;
}

/* ---- vmsync's pager ---- */

static int paged_vm(const struct bench_cfg *cfg, uint64_t budget_pages,
		    struct kvm_vm **vm)
{
	uint64_t pages = ram_pages(cfg);
	struct vms_swap_backend *be;
	int r = kvm_vm_create(pages * PAGE, 1, 0, vm);

	if (r)
		return r;
	r = vms_swap_file_create(cfg->dir, (pages + 64) * PAGE, true, &be);
	if (!r) {
		r = kvm_vm_attach_pager(*vm, budget_pages * PAGE, be);
		if (r)
			be->release(be);
	}
	if (r)
		kvm_vm_destroy(*vm);
	return r;
}

static int advise_all(struct kvm_vm *vm, int advice)
{
	return vms_kvm_pager_advise(vm->pager, (uintptr_t)vm->ram,
				    vm->ram_pages * PAGE, advice);
}

static int ours(const struct bench_cfg *cfg)
{
	struct vms_kvm_pager_stats a, b;
	uint64_t n = ram_pages(cfg);
	struct kvm_vm *vm;
	double s;
	int r = paged_vm(cfg, n, &vm);

	if (r)
		return r;
	/* First touches in random order: a fault a page, no read-ahead. */
	vms_kvm_pager_stats(vm->pager, &a);
	s = guest_cmd(vm, KVM_WL_VERIFY, 100, n, cfg->seed);
	vms_kvm_pager_stats(vm->pager, &b);
	if (s < 0)
		goto bad;
	add(&figures[F_KVM_FAULT].ours,
	    s * 1e6 / (double)(b.faults_zero - a.faults_zero));

	if (guest_cmd(vm, KVM_WL_STREAM, 100, n, 1) < 0 ||
	    (r = advise_all(vm, VMS_MADV_PAGEOUT)))
		goto bad;
	if ((s = guest_cmd(vm, KVM_WL_STREAM, 0, n, 2)) < 0)
		goto bad;
	add(&figures[F_KVM_SEQ].ours, n / s);
	vms_kvm_pager_stats(vm->pager, &a);
	if ((r = advise_all(vm, VMS_MADV_PAGEOUT)))
		goto bad;
	vms_kvm_pager_stats(vm->pager, &b);
	add(&figures[F_KVM_REEVICT].ours, (double)(b.writes - a.writes));
	if ((s = guest_cmd(vm, KVM_WL_VERIFY, 0, n, cfg->seed + 1)) < 0)
		goto bad;
	add(&figures[F_KVM_RAND].ours, n / s);
	kvm_vm_destroy(vm);

	if ((r = paged_vm(cfg, n / 4, &vm)))
		return r;
	if (guest_cmd(vm, KVM_WL_STREAM, 100, n, 1) < 0 ||
	    (s = guest_cmd(vm, KVM_WL_ZIPF, 10, 4 * n, cfg->seed)) < 0)
		goto bad;
	add(&figures[F_KVM_ZIPF].ours, 4 * n / s);
	kvm_vm_destroy(vm);
	return 0;
bad:
	kvm_vm_destroy(vm);
	return r ? r : -EIO;
}

/* ---- a bare userfaultfd handler: the floor of any user-space pager ---- */

struct bare {
	int uffd;
	atomic_bool stop;
	uint64_t faults;
};

static void *bare_handler(void *arg)
{
	struct bare *b = arg;
	struct uffd_msg msg;

	while (!atomic_load(&b->stop)) {
		struct pollfd pfd = { .fd = b->uffd, .events = POLLIN };

		if (poll(&pfd, 1, 20) <= 0 ||
		    read(b->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		struct uffdio_zeropage z = {
			.range = { msg.arg.pagefault.address & ~(PAGE - 1), PAGE } };
		ioctl(b->uffd, UFFDIO_ZEROPAGE, &z);
		b->faults++;
	}
	return NULL;
}

static void bare_rep(const struct bench_cfg *cfg)
{
	uint64_t n = ram_pages(cfg);
	struct bare b = { .uffd = -1 };
	struct kvm_vm *vm;
	pthread_t t;

	if (kvm_vm_create(n * PAGE, 1, 0, &vm))
		return;
	b.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)vm->ram, n * PAGE },
		.mode = UFFDIO_REGISTER_MODE_MISSING };
	if (b.uffd >= 0 && !ioctl(b.uffd, UFFDIO_API, &api) &&
	    !ioctl(b.uffd, UFFDIO_REGISTER, &reg) &&
	    !pthread_create(&t, NULL, bare_handler, &b)) {
		double s = guest_cmd(vm, KVM_WL_VERIFY, 100, n, cfg->seed);

		atomic_store(&b.stop, true);
		pthread_join(t, NULL);
		if (s > 0 && b.faults)
			add(&figures[F_KVM_FAULT].theirs,
			    s * 1e6 / (double)b.faults);
	}
	kvm_vm_destroy(vm);     /* after the guest: then the uffd may go */
	if (b.uffd >= 0)
		close(b.uffd);
}

/* ---- the kernel's swap of the same guest ---- */

static void wait_writeback(void)
{
	while (bench_vmstat("nr_writeback") > 0)
		usleep(100);
}

/* Each figure goes to the parent as it is measured: a child the
 * cgroup's OOM killer takes still gives those before. */
static bool send(int fd, double v)
{
	return write(fd, &v, sizeof(v)) == sizeof(v);
}

/* In a child in memory cgroup @cg: the same steps as ours over the
 * kernel's swap; the four figures to @fd in turn. */
static int kernel_child(const struct bench_cfg *cfg, const char *cg, int fd)
{
	uint64_t n = ram_pages(cfg);
	double s;
	struct kvm_vm *vm;

	if (bench_cg_join(cg, 0) || kvm_vm_create(n * PAGE, 1, 0, &vm))
		return 1;
	if (guest_cmd(vm, KVM_WL_STREAM, 100, n, 1) < 0 ||
	    madvise(vm->ram, n * PAGE, MADV_PAGEOUT))
		return 2;
	wait_writeback();
	if (bench_drop_swap_cache(cg) || (s = guest_cmd(vm, KVM_WL_STREAM, 0, n, 2)) < 0)
		return 3;
	long w0 = bench_vmstat("pswpout");
	if (!send(fd, n / s) || madvise(vm->ram, n * PAGE, MADV_PAGEOUT))
		return 2;
	wait_writeback();
	if (!send(fd, (double)(bench_vmstat("pswpout") - w0)) ||
	    bench_drop_swap_cache(cg) ||
	    (s = guest_cmd(vm, KVM_WL_VERIFY, 0, n, cfg->seed + 1)) < 0)
		return 3;
	if (!send(fd, n / s))
		return 1;
	kvm_vm_destroy(vm);

	/* The guest fills its RAM, all of it goes to swap, and only then
	 * the limit comes.  Under the limit from the start, the cgroup's OOM
	 * killer took the guest as it filled its RAM, in most repetitions;
	 * set after the fill, the limit could not be had (EBUSY: the kernel
	 * freed none of the pages KVM mapped).  The limit: a quarter of guest
	 * RAM and an eighth of that (what vmsync's pager may hold beside its
	 * budget, in its sample ring), with room for the guest's tables to
	 * grow back, over what the cgroup holds then besides guest RAM (the
	 * process, KVM's own memory).  The zipf starts with every page on
	 * disk, ours with the last quarter streamed still resident. */
	if (kvm_vm_create(n * PAGE, 1, 0, &vm) ||
	    guest_cmd(vm, KVM_WL_STREAM, 100, n, 1) < 0)
		return 1;
	if (madvise(vm->ram, n * PAGE, MADV_PAGEOUT))
		return 2;
	wait_writeback();
	uint64_t rest;
	if (bench_drop_swap_cache(cg) || bench_cg_usage(cg, &rest) ||
	    bench_cg_limit(cg, (n / 4 + n / 32) * PAGE +
				   kvm_tables_bytes(n, n) + rest))
		return 1;
	long in0 = bench_vmstat("pswpin");
	if ((s = guest_cmd(vm, KVM_WL_ZIPF, 10, 4 * n, cfg->seed)) < 0)
		return 3;
	if (bench_vmstat("pswpin") == in0)
		return 4;               /* the limit did not bite */
	kvm_vm_destroy(vm);
	return send(fd, 4 * n / s) ? 0 : 1;
}

/* One repetition of the kernel's side.  The figures that did not come
 * get the reason; those before a failure are kept. */
static void kernel_rep(const struct bench_cfg *cfg, const struct kswap *k)
{
	static const int row[4] = { F_KVM_SEQ, F_KVM_REEVICT, F_KVM_RAND,
				    F_KVM_ZIPF };
	static const char *const why[] = {
		"the measuring child was killed (the cgroup's OOM killer?)",
		"the child could not join or limit its cgroup, or make its VM",
		"MADV_PAGEOUT of the guest's RAM failed",
		"the guest failed over kernel swap",
		"the memory cgroup's limit did not make the kernel swap",
	};
	double v;
	int p[2], st = 0, got = 0;

	if (pipe(p)) {
		for (int i = 0; i < 4; i++)
			figures[row[i]].theirs.skip = "pipe failed";
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(kernel_child(cfg, k->cg, p[1]));
	}
	close(p[1]);
	while (pid > 0 && got < 4 && read(p[0], &v, sizeof(v)) == sizeof(v))
		add(&figures[row[got++]].theirs, v);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	bench_cg_limit(k->cg, 1ull << 40);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;

	for (int i = got; i < 4; i++)
		figures[row[i]].theirs.skip = why[code > 0 && code < 5 ? code : 0];
}

/* The anchors of the simulated first touch and DONTNEED where /dev/kvm
 * opens: a real guest's first touch of fresh RAM (the kernel allocates),
 * then MADV_DONTNEED of that KVM-mapped RAM.  False without KVM. */
bool kvm_touch_anchors(uint64_t pages, double *touch_per_s,
		       double *dontneed_ns)
{
	uint64_t n = (pages + 511) & ~511ull;
	struct kvm_vm *vm;
	double s;

	if (kvm_unavailable() || n * PAGE > KVM_MAX_RAM ||
	    kvm_vm_create(n * PAGE, 1, 0, &vm))
		return false;
	s = guest_cmd(vm, KVM_WL_STREAM, 100, n, 1);
	double t = now_s();
	bool ok = s > 0 && !madvise(vm->ram, n * PAGE, MADV_DONTNEED);
	double d = now_s() - t;
	kvm_vm_destroy(vm);
	if (ok) {
		*touch_per_s = n / s;
		*dontneed_ns = d * 1e9 / n;
	}
	return ok;
}

int kvm_bench_rep(const struct bench_cfg *cfg, const struct kswap *k,
		  const char *kskip)
{
	const char *why = kvm_unavailable();

	if (!why && cfg->pages * PAGE > KVM_MAX_RAM)
		why = "more pages than a guest of vmsync's can have";
	for (int f = F_KVM_FAULT; f <= F_KVM_ZIPF && why; f++)
		figures[f].theirs.skip = why;
	if (why)
		return 0;
	int r = ours(cfg);

	if (r)
		return r;
	bare_rep(cfg);
	if (kskip)
		for (int f = F_KVM_SEQ; f <= F_KVM_ZIPF; f++)
			figures[f].theirs.skip = kskip;
	else
		kernel_rep(cfg, k);
	return 0;
}
