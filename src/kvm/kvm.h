/* kvm.h - vmsync's own real KVM guest (vm.c): the VM on /dev/kvm with its
 * boot and RAM memslots, vCPUs in KVM_RUN on their callers' threads, the
 * guest program's mailbox.  Its RAM is paged by the public pager of
 * pager.c (vms_kvm_pager_*), as a VMM's would be. */
#ifndef VMS_KVM_H
#define VMS_KVM_H

#include <pthread.h>
#include <signal.h>

#include "base/base.h"
#include "kvm/guest/abi.h"


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
	struct vms_kvm_pager *pager;    /* memslot changes go through it */
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
/* An extra memslot over @pages pages of @hva at @gpa (@pages 0: delete);
 * the guest never touches it: memslot churn while vCPUs run. */
int kvm_vm_set_extra_slot(struct kvm_vm *vm, uint64_t gpa, uint64_t pages,
			  void *hva);

/* Pages the VM's RAM through the public pager (vmsync.h), failing the VM
 * when the pager fails. */
int kvm_vm_attach_pager(struct kvm_vm *vm, uint64_t host_bytes,
			struct vms_swap_backend *be);
void kvm_vm_detach_pager(struct kvm_vm *vm);

#endif /* VMS_KVM_H */
