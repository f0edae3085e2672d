/* kvm_drive.h - driving a real KVM guest (kvm_drive.c): its vCPU threads
 * and the host's storm, shared by `vmsync run --kvm` and kvm-stress. */
#ifndef VMS_TOOL_KVM_DRIVE_H
#define VMS_TOOL_KVM_DRIVE_H

#include <pthread.h>
#include <stdatomic.h>

#include "kvm/kvm.h"

#define KVM_DRIVE_REPORTED 8
#define KVM_HOST_OPS 7
extern const char *const kvm_host_op_names[KVM_HOST_OPS];

/* Set up by the caller, then vm->priv = the drive; kvm_drive_vcpu runs on
 * a thread per vCPU, kvm_drive_churn on one more.  Everything stops at
 * the deadline, after ops_limit guest ops, at the first mismatch, or on
 * kvm_drive_stop, which also kicks the vCPUs out of KVM_RUN for good. */
struct kvm_drive {
	struct kvm_vm *vm;
	unsigned workload, write_pct;
	uint64_t seed, deadline_ns, ops_limit;
	bool discards;              /* the churn may DONTNEED guest pages */
	atomic_bool stop;
	_Atomic uint64_t ops, reads, writes, zero_reads, mismatches;
	_Atomic uint64_t host_ops[KVM_HOST_OPS];
	/* The churn's write-protection of a range: odd while it stands.  A
	 * guest write refused meanwhile waits for it to end and goes on. */
	atomic_uint wp_gen;
	_Atomic uint64_t refused;
	enum kvm_vcpu_exit vcpu_exit;   /* a vCPU's bad exit, or DONE */
	int host_error;
	pthread_mutex_t report_lock;    /* with the three below */
	struct kvm_mismatch reported[KVM_DRIVE_REPORTED];
	unsigned nr_reported;
	uint64_t first_mismatch_ns;
};

void *kvm_drive_vcpu(void *vcpu);
void *kvm_drive_churn(void *drive);
void kvm_drive_stop(struct kvm_drive *d);

#endif /* VMS_TOOL_KVM_DRIVE_H */
