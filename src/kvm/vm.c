/* vm.c - a real VM on /dev/kvm: the boot memslot (page tables, mailbox,
 * the guest image, stacks, tables) and the RAM memslot the pager owns,
 * vCPUs set up for 64-bit CPL 3 code (what PVM runs natively), KVM_RUN
 * until the guest's doorbell, and the kicks that end it early. */
#define _GNU_SOURCE
#include "kvm/kvm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Newer than the installed headers: the exit KVM gives with -EFAULT. */
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
struct kvm_memory_fault_exit {
	uint64_t flags, gpa, size;
};

#define SLOT_BOOT 0
#define SLOT_RAM 1
#define SLOT_EXTRA 2
#define MIB2 (2ull << 20)

/* The guest image (kvm-guest.S includes the flat binary). */
extern const uint8_t vms_kvm_guest_image[], vms_kvm_guest_image_end[];

static int kick_signal_installed;

static void kick_handler(int sig)
{
	(void)sig;              /* only to make KVM_RUN return EINTR */
}

static int open_kvm(int *fd)
{
	*fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (ioctl(*fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
	    ioctl(*fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_MMU) <= 0) {
		close(*fd);
		return -ENOTSUP;
	}
	return 0;
}

const char *kvm_unavailable(void)
{
	static char why[160];
	int fd, r = open_kvm(&fd);

	if (!r) {
		close(fd);
		return NULL;
	}
	if (r == -ENOTSUP)
		return "/dev/kvm has the wrong API version or no KVM_CAP_SYNC_MMU";
	snprintf(why, sizeof(why), "/dev/kvm does not open: %s", strerror(-r));
	return why;
}

static int set_slot(struct kvm_vm *vm, unsigned slot, uint64_t gpa,
		    uint64_t bytes, void *hva, unsigned flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = bytes, .userspace_addr = (uintptr_t)hva,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
}

int kvm_vm_set_extra_slot(struct kvm_vm *vm, uint64_t gpa, uint64_t pages,
			  void *hva)
{
	if (vm->pager)
		return vms_kvm_set_memslot(vm->pager, SLOT_EXTRA, 0, gpa,
					   pages << PAGE_SHIFT, hva);
	return set_slot(vm, SLOT_EXTRA, gpa, pages << PAGE_SHIFT, hva, 0);
}

/* Every gpa below KVM_MAPPED_GPA at KVM_GVA_BASE + gpa, user pages. */
static void build_page_tables(uint8_t *boot)
{
	uint64_t *pml4 = (uint64_t *)(boot + KVM_PT_GPA);
	uint64_t *pdpt = pml4 + 512;
	const uint64_t u = 0x7;                 /* present, write, user */

	pml4[(KVM_GVA_BASE >> 39) & 511] = (KVM_PT_GPA + 0x1000) | u;
	for (uint64_t g = 0; g < KVM_MAPPED_GPA >> 30; g++) {
		uint64_t *pd = pml4 + 512 * (2 + g);

		pdpt[g] = (KVM_PT_GPA + 0x2000 + g * 0x1000) | u;
		for (uint64_t i = 0; i < 512; i++)      /* 2 MiB, A and D */
			pd[i] = ((g << 30) + i * MIB2) | u | 0x80 | 0x60;
	}
}

/* Cumulative zipf weights of ranks 1..n in units of 2^-32. */
static void build_zipf(uint32_t *cdf, uint64_t n, double theta)
{
	double sum = 0, acc = 0;

	for (uint64_t r = 1; r <= n; r++)
		sum += 1.0 / pow((double)r, theta);
	for (uint64_t r = 1; r <= n; r++) {
		acc += 1.0 / pow((double)r, theta) / sum;
		double v = acc * 4294967296.0;

		cdf[r - 1] = v >= 4294967295.0 ? 0xffffffffu : (uint32_t)v;
	}
	cdf[n - 1] = 0xffffffffu;
}

static int vcpu_setup(struct kvm_vm *vm, struct kvm_vcpu *v,
		      struct kvm_cpuid2 *cpuid)
{
	struct kvm_sregs sr;
	struct kvm_regs regs = { 0 };

	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, v->id);
	if (v->fd < 0)
		return -errno;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) ||
	    ioctl(v->fd, KVM_GET_SREGS, &sr))
		return -errno;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff,
				    .selector = 0x33, .type = 0xb,
				    .present = 1, .dpl = 3, .s = 1, .l = 1,
				    .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff,
				    .selector = 0x2b, .type = 0x3,
				    .present = 1, .dpl = 3, .db = 1, .s = 1,
				    .g = 1 };
	sr.cs = code;
	sr.ss = sr.ds = sr.es = sr.fs = sr.gs = data;
	sr.cr0 = 0x80050033;    /* PG, AM, WP, NE, ET, MP, PE */
	sr.cr4 = 0x20;          /* PAE */
	sr.efer = 0xd01;        /* LMA, LME, NXE, SCE */
	sr.cr3 = KVM_PT_GPA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sr))
		return -errno;
	regs.rflags = 0x2;
	regs.rip = KVM_GVA_BASE + KVM_IMAGE_GPA;
	regs.rsp = KVM_GVA_BASE + KVM_STACK_GPA + (v->id + 1) * KVM_STACK_SIZE;
	regs.rdi = v->id;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		return -errno;
	return 0;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	for (unsigned n = 64; n <= 1024; n *= 2) {
		struct kvm_cpuid2 *c =
			vms_calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		vms_free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

int kvm_vm_create(uint64_t ram_bytes, unsigned nr_vcpus,
		  uint64_t zipf_theta_milli, struct kvm_vm **out)
{
	uint64_t pages = ram_bytes >> PAGE_SHIFT;
	uint64_t buckets = pages / (nr_vcpus ? nr_vcpus : 1) + 1;
	struct kvm_vm *vm;
	int r;

	if (!out || !ram_bytes || ram_bytes % MIB2 || ram_bytes > KVM_MAX_RAM ||
	    !nr_vcpus || nr_vcpus > KVM_MAX_VCPUS)
		return -EINVAL;
	uint64_t tables = (kvm_tables_bytes(pages, buckets) + MIB2 - 1) &
			  ~(MIB2 - 1);
	if (KVM_TABLES_GPA + tables > KVM_RAM_GPA)
		return -EINVAL;
	if (!kick_signal_installed) {
		struct sigaction sa = { .sa_handler = kick_handler };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);   /* no SA_RESTART */
		kick_signal_installed = 1;
	}
	vm = vms_calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->vm_fd = -1;
	for (unsigned i = 0; i < KVM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
	r = open_kvm(&vm->kvm_fd);
	if (r) {
		vm->kvm_fd = -1;
		r = r == -ENOTSUP || r == -ENOENT ? -ENODEV : r;
		goto fail;
	}
	vm->boot_size = KVM_TABLES_GPA + tables;
	vm->ram_pages = pages;
	vm->nr_vcpus = nr_vcpus;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	r = vm->vm_fd < 0 ? -errno : 0;
	if (!r) {
		long sz = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
		r = sz <= 0 ? -errno : 0;
		vm->run_size = (size_t)sz;
	}
	if (r)
		goto fail;
	vm->boot = vms_os_mmap(NULL, vm->boot_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/* RAM: private anonymous memory in 4 KiB pages, so that UFFDIO_MOVE
	 * can take pages away and userfaultfd give them back one by one. */
	vm->ram = vms_os_mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->boot == MAP_FAILED || vm->ram == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	madvise(vm->ram, ram_bytes, MADV_NOHUGEPAGE);

	size_t image = (size_t)(vms_kvm_guest_image_end - vms_kvm_guest_image);
	VMS_ASSERT(image <= KVM_STACK_GPA - KVM_IMAGE_GPA);
	memcpy(vm->boot + KVM_IMAGE_GPA, vms_kvm_guest_image, image);
	build_page_tables(vm->boot);
	vm->mbox = (struct kvm_vcpu_mbox *)(vm->boot + KVM_MBOX_GPA);
	uint32_t *tab = (uint32_t *)(vm->boot + KVM_TABLES_GPA);
	vm->tables = (struct kvm_tables){ .gen = tab, .seen = tab + pages,
					  .discard = tab + 2 * pages,
					  .zipf_cdf = tab + 3 * pages };
	build_zipf(tab + 3 * pages, buckets,
		   zipf_theta_milli ? (double)zipf_theta_milli / 1000 : 0.99);
	for (unsigned i = 0; i < nr_vcpus; i++)
		vm->mbox[i].zipf_buckets = buckets;

	r = set_slot(vm, SLOT_BOOT, 0, vm->boot_size, vm->boot, 0);
	if (!r)
		r = set_slot(vm, SLOT_RAM, KVM_RAM_GPA, ram_bytes, vm->ram,
			     KVM_MEM_LOG_DIRTY_PAGES);
	struct kvm_cpuid2 *cpuid = r ? NULL : supported_cpuid(vm->kvm_fd);
	if (!r && !cpuid)
		r = -errno ? -errno : -ENOMEM;
	for (unsigned i = 0; !r && i < nr_vcpus; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].id = i;
		r = vcpu_setup(vm, &vm->vcpus[i], cpuid);
	}
	vms_free(cpuid);
	if (r)
		goto fail;
	*out = vm;
	return 0;
fail:
	kvm_vm_destroy(vm);
	return r;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	if (!vm)
		return;
	if (vm->pager)
		kvm_vm_detach_pager(vm);
	for (unsigned i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = &vm->vcpus[i];

		VMS_ASSERT(!atomic_load(&v->in_run));
		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->boot && vm->boot != MAP_FAILED)
		munmap(vm->boot, vm->boot_size);
	if (vm->ram && vm->ram != MAP_FAILED)
		munmap(vm->ram, vm->ram_pages << PAGE_SHIFT);
	vms_free(vm);
}

void kvm_vm_kick_all(struct kvm_vm *vm)
{
	atomic_store(&vm->stopping, true);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct kvm_vcpu *v = &vm->vcpus[i];

		/* immediate_exit covers a thread about to enter KVM_RUN. */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (atomic_load(&v->in_run))
			pthread_kill(v->thread, SIGUSR1);
	}
}

void kvm_vm_fail(struct kvm_vm *vm, int err)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&vm->error, &none, err))
		fprintf(stderr, "vmsync: kvm: %s; stopping the guest\n",
			strerror(-err));
	kvm_vm_kick_all(vm);
}

static void vm_pager_failed(void *arg, int err)
{
	kvm_vm_fail(arg, err);
}

int kvm_vm_attach_pager(struct kvm_vm *vm, uint64_t host_bytes,
			struct vms_swap_backend *be)
{
	struct vms_kvm_pager_config cfg = {
		.ram = { .vm_fd = vm->vm_fd, .slot = SLOT_RAM, .hva = vm->ram,
			 .bytes = vm->ram_pages << PAGE_SHIFT },
		.host_bytes = host_bytes, .backend = be,
		.fail = vm_pager_failed, .fail_arg = vm,
	};

	if (vm->pager)
		return -EBUSY;
	return vms_kvm_pager_create(&cfg, &vm->pager);
}

void kvm_vm_detach_pager(struct kvm_vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		VMS_ASSERT(!atomic_load(&vm->vcpus[i].in_run));
	vms_kvm_pager_destroy(vm->pager);
	vm->pager = NULL;
}

static enum kvm_vcpu_exit vcpu_bad_exit(struct kvm_vcpu *v,
					enum kvm_vcpu_exit why, uint64_t gpa)
{
	v->exit_gpa = gpa;
	return why;
}

enum kvm_vcpu_exit kvm_vcpu_run(struct kvm_vcpu *v)
{
	struct kvm_vm *vm = v->vm;
	enum kvm_vcpu_exit why;

	v->thread = pthread_self();
	atomic_store(&v->in_run, true);
	for (;;) {
		if (atomic_load(&vm->stopping)) {
			why = KVM_VCPU_STOPPED;
			break;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0,
						 __ATOMIC_SEQ_CST);
				continue;
			}
			/* The host would not give KVM the page: unmapped,
			 * read-only for a write, or the pager failed it. */
			const struct kvm_memory_fault_exit *mf =
				(const void *)&v->run->hw;

			why = vcpu_bad_exit(v, KVM_VCPU_EFAULT,
					    v->run->exit_reason ==
							    KVM_EXIT_MEMORY_FAULT
						    ? mf->gpa
						    : 0);
			break;
		}
		struct kvm_run *run = v->run;

		if (run->exit_reason == KVM_EXIT_MMIO &&
		    (run->mmio.phys_addr & ~0xfffull) == KVM_DOORBELL_GPA &&
		    run->mmio.is_write) {
			why = KVM_VCPU_DONE;
			break;
		}
		if (run->exit_reason == KVM_EXIT_MMIO) {
			why = vcpu_bad_exit(v, KVM_VCPU_NO_SLOT,
					    run->mmio.phys_addr);
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		why = vcpu_bad_exit(v, KVM_VCPU_CRASH, run->exit_reason);
		break;
	}
	atomic_store(&v->in_run, false);
	return why;
}
