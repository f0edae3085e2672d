/* vcpu.h - a vCPU as the shadow MMU and the flush protocol see it: guest
 * mode, the flush request word and acknowledgement, the soft TLB. */
#ifndef VMS_VCPU_H
#define VMS_VCPU_H

#include "guest/guest.h"

#define VCPU_TLB_SIZE VMS_TLB_SIZE
#define TLB_WRITABLE 1ull           /* in a tag: spte writable and dirty */

/* Filled from a present spte with the A bit (and D when writable) set.
 * Owned by the vCPU thread alone.  Debug builds keep, beside each entry,
 * the page and its generation at install (I1). */
#ifdef VMS_DEBUG
struct vcpu_tlb_dbg {
	uint16_t gen;
	struct vms_page *page;
};
#endif

enum vcpu_mode { VCPU_OUTSIDE_GUEST, VCPU_IN_GUEST };

/*
 * Flush handshake.  A flusher bumps flush_req, then reads mode; the vCPU
 * stores mode = IN_GUEST, then reads flush_req (both sequentially
 * consistent), so either the flusher waits for this vCPU or the vCPU sees
 * the request before its next access.  In guest mode the vCPU polls
 * flush_req before every access; on a change it empties its TLB and
 * stores flush_ack = the request it saw, with release order, so the
 * accesses before it are complete when the flusher reads the ack.
 */
struct vms_vcpu {
	/* First: the part vmsync.h's inline accesses read (its tlb[], the
	 * seen_req, the reads and writes counts are the vCPU thread's). */
	struct vms_vcpu_fast f;
	struct vms_vm *vm;
	unsigned id;
	/* A vCPU of vms_vcpu_start runs @fn on @thread; one of
	 * vms_vcpu_create runs whatever vms_vcpu_run gives it, @running
	 * while it does. */
	bool threaded;
	pthread_t thread;
	vms_guest_fn fn;
	void *arg;
	int ret;
	atomic_bool running;

	_Alignas(64) atomic_int mode;
	atomic_ullong flush_ack;
	_Alignas(64) atomic_ullong flush_req;

	/* vCPU thread only. */
	_Alignas(64) struct vms_guest_mode guest_mode;  /* its vms_guest_self */
	bool tlb_used;
	struct vms_exit exit;
	_Atomic uint64_t st_tlb_misses, st_faults, st_retries, st_prechecks,
		st_exits;
#ifdef VMS_DEBUG
	struct vcpu_tlb_dbg tlb_dbg[VCPU_TLB_SIZE];
#endif
};

#endif /* VMS_VCPU_H */
