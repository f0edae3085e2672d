/* kvm.h - real KVM guests: the VM on /dev/kvm with its boot and RAM
 * memslots and vCPU threads in KVM_RUN (vm.c), and the pager that keeps a
 * budget of the guest's RAM resident through userfaultfd, the dirty log
 * and a vmsync swap backend (pager.c). */
#ifndef VMS_KVM_H
#define VMS_KVM_H

#include <pthread.h>
#include <signal.h>

#include "base/base.h"
#include "kvm/guest/abi.h"

struct kvm_pager;

/* ---- the VM (vm.c) ---- */

enum kvm_vcpu_exit {
	KVM_VCPU_DONE,        /* the command ended: doorbell */
	KVM_VCPU_STOPPED,     /* kicked out: the VM is stopping */
	KVM_VCPU_EFAULT,      /* the host refused an access (no mapping,
			       * no write right, the pager failed) */
	KVM_VCPU_NO_SLOT,     /* an access to a gpa no memslot holds */
	KVM_VCPU_CRASH,       /* shutdown, failed entry, internal error */
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;        /* mmap of the vCPU fd */
	pthread_t thread;           /* the thread in KVM_RUN, for kicks */
	atomic_bool in_run;
	uint64_t exit_gpa;          /* where the last bad exit happened */
};

struct kvm_vm {
	int kvm_fd, vm_fd;
	size_t run_size;
	uint8_t *boot;              /* the boot memslot's memory */
	uint64_t boot_size;
	uint8_t *ram;               /* guest RAM: pager-managed */
	uint64_t ram_pages;
	struct kvm_tables tables;   /* hvas of the shared tables */
	struct kvm_vcpu_mbox *mbox; /* hva of the mailboxes */
	unsigned nr_vcpus;
	struct kvm_vcpu vcpus[KVM_MAX_VCPUS];
	/* Set once by whoever fails first (a fault handler, a vCPU); the
	 * vCPUs are kicked and leave with it. */
	atomic_int error;
	atomic_bool stopping;
	/* A vCPU waiting for a page in a uffd fault holds KVM's SRCU, so a
	 * memslot change (KVM's slots_lock, then an SRCU grace period) waits
	 * for the fault handlers.  Whoever holds pager page locks across a
	 * call that takes slots_lock (an eviction reading the dirty log)
	 * holds layout_lock for reading; memslot changes hold it for
	 * writing.  Writers first. */
	pthread_rwlock_t layout_lock;
	struct kvm_pager *pager;
	void *priv;                 /* the caller's */
};

/* Why /dev/kvm cannot be used here, or NULL when it can: a sentence. */
const char *kvm_unavailable(void);
/* A VM with @ram_bytes of guest RAM (a multiple of 2 MiB up to
 * KVM_MAX_RAM) and @nr_vcpus vCPUs; the RAM slot logs dirty pages.
 * -ENODEV when KVM cannot be used (kvm_unavailable says why), -EINVAL,
 * -ENOMEM, -errno of the KVM ioctls. */
int kvm_vm_create(uint64_t ram_bytes, unsigned nr_vcpus, uint64_t zipf_theta_milli,
		  struct kvm_vm **out);
void kvm_vm_destroy(struct kvm_vm *vm);
/* Runs @vcpu's mailbox command (filled by the caller) to its doorbell,
 * on the calling thread: KVM_VCPU_DONE, or why it stopped. */
enum kvm_vcpu_exit kvm_vcpu_run(struct kvm_vcpu *vcpu);
/* Fail-stop: the first error sticks, every vCPU leaves KVM_RUN. */
void kvm_vm_fail(struct kvm_vm *vm, int err);
/* Kicks every vCPU out of KVM_RUN (and out of a fault it waits in). */
void kvm_vm_kick_all(struct kvm_vm *vm);
/* KVM_GET_DIRTY_LOG of the RAM slot into @bitmap (a bit per page). */
int kvm_vm_get_dirty_log(struct kvm_vm *vm, uint64_t *bitmap);
/* An extra memslot over @pages pages of @hva at @gpa (@pages 0: delete);
 * the guest never touches it: memslot churn while vCPUs run. */
int kvm_vm_set_extra_slot(struct kvm_vm *vm, uint64_t gpa, uint64_t pages,
			  void *hva);

/* ---- the pager (pager.c) ---- */

struct kvm_pager_config {
	uint64_t host_pages;        /* the resident budget */
	struct vms_swap_backend *backend;   /* owned by the pager */
	unsigned handlers;          /* fault-handling threads; 0: 2 */
};

/* Faults by source: zero (no I/O), backend (a swap read), raced (the
 * page was placed meanwhile by another fault or read-ahead). */
struct kvm_pager_stats {
	uint64_t resident, swapped;
	uint64_t faults_zero, faults_backend, faults_raced;
	uint64_t readahead, evictions, clean_drops, writes, write_errors;
	uint64_t read_errors, discards, harvests, refault_ns_total;
};

int kvm_pager_create(struct kvm_vm *vm, const struct kvm_pager_config *cfg,
		     struct kvm_pager **out);
/* Stops the pager's threads; every vCPU must be out of KVM_RUN for good:
 * closing the uffd with pages away would zero-fill them on next touch. */
void kvm_pager_destroy(struct kvm_pager *pg);
/* The host operations on guest RAM, page index and count:
 * DONTNEED reads as zero afterwards; PAGEOUT evicts now; WILLNEED reads
 * swapped pages back; COLD makes them the first to go. */
int kvm_pager_advise(struct kvm_pager *pg, uint64_t page, uint64_t n,
		     int advice);
void kvm_pager_stats(struct kvm_pager *pg, struct kvm_pager_stats *st);

#endif /* VMS_KVM_H */
