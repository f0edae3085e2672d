/* guest.h - the guest side's internals: the VM and its memslots (vm.c),
 * the shadow MMU and its notifier callbacks (mmu.c), vCPUs with soft TLBs
 * and flush requests (vcpu.c). */
#ifndef VMS_GUEST_H
#define VMS_GUEST_H

#include "host/host.h"

/* ---- memslots ---- */

#define VM_MAX_SLOTS 32

struct vm_memslot {
	unsigned id;
	uint64_t gfn, npages, hva;
	unsigned flags;             /* VMS_MEM_READONLY */
	bool invalid;               /* being deleted or moved: faults wait */
};

/* An immutable set, replaced under slots_lock and freed after an SRCU
 * grace period.  by_gfn: sorted by gfn, disjoint.  by_hva: sorted by hva;
 * hva ranges may overlap, so hva_max_end[i] is the largest end among
 * by_hva[0..i], which bounds the backward scan of an hva lookup. */
struct vm_memslots {
	size_t n;
	struct vm_memslot slots[VM_MAX_SLOTS];
	struct vm_memslot *by_gfn[VM_MAX_SLOTS];
	struct vm_memslot *by_hva[VM_MAX_SLOTS];
	uint64_t hva_max_end[VM_MAX_SLOTS];
};

static inline uint64_t slot_hva_end(const struct vm_memslot *s)
{
	return s->hva + (s->npages << PAGE_SHIFT);
}

struct vm_memslot *vm_slot_by_gfn(struct vm_memslots *set, uint64_t gfn);
/* Calls @fn for every slot whose hva range meets [start, end). */
void vm_for_each_slot_in_hva(struct vm_memslots *set, uint64_t start,
			     uint64_t end,
			     void (*fn)(struct vm_memslot *slot, uint64_t gfn_start,
					uint64_t gfn_end, void *arg),
			     void *arg);

/* ---- shadow page table entries ---- */

/* spte: present | writable | accessed | dirty | pfn << 12 | gen << 48.
 * gen (debug builds) is the low 16 bits of the page's generation when the
 * spte was made; a TLB entry carries it to catch use after free (I1). */
#define SPTE_PRESENT  0x1ull
#define SPTE_WRITE    0x2ull
#define SPTE_ACCESSED 0x4ull
#define SPTE_DIRTY    0x8ull
#define SPTE_PFN(s)   (((s) >> PAGE_SHIFT) & ((1ull << 36) - 1))
#define SPTE_GEN(s)   ((uint16_t)((s) >> 48))
#define SPTE_MAKE(pfn, gen, bits) \
	(((uint64_t)(pfn) << PAGE_SHIFT) | ((uint64_t)(gen) << 48) | (bits))

/* Range-based retry remembers the ranges of the last invalidations, and
 * the pages of those that listed few enough. */
#define VM_INV_RING 64
#define VM_INV_RING_PAGES 32
#define VM_INV_RUNNING 16

struct vm_inv_record {
	unsigned long seq;
	uint64_t start, end;
	size_t nr_pages;            /* 0: all of [start, end) */
	uint64_t pages[VM_INV_RING_PAGES];
};

struct vms_vm {
	struct vms_mm *mm;
	struct vms_phys *phys;
	struct vms_mmu_notifier mn;
	uint64_t max_gfn;

	/* The shadow table, indexed by gfn.  Entries change under mmu_lock,
	 * except that a vCPU sets A/D bits with a compare-and-swap against
	 * the value it walked, so a zap (an exchange) never loses them. */
	_Atomic uint64_t *spt;

	/* mmu_lock orders installs against invalidations.  It protects the
	 * invalidation state below; inv_seq is also read without it at the
	 * beginning of a fault.  Whoever zaps sptes flushes the vCPU TLBs
	 * before dropping it: another invalidation that then finds them gone
	 * must not return while a stale TLB entry may still be in use. */
	struct vms_lock mmu_lock;
	long inv_count;             /* pairs between start and end */
	/* Running pairs by pointer (valid until their end); those that found
	 * no room, as one union range, reset when the last of them ends. */
	const struct vms_mmu_range *inv_running[VM_INV_RUNNING];
	long inv_overflow;
	uint64_t inv_start, inv_end;
	atomic_ulong inv_seq;       /* bumped by every end */
	/* For the fault's lockless pre-check (mmu_retry_unsafe): the union
	 * of the running pairs' ranges, [0, 0) when none runs.  Written
	 * under mmu_lock, read without it: a stale value costs one needless
	 * back-off or one wasted lookup, never a wrong install. */
	_Atomic uint64_t inv_lo, inv_hi;
	struct vm_inv_record inv_ring[VM_INV_RING]; /* by seq % ring */

	/* Memslots: readers in an srcu section; writers under slots_lock. */
	struct vms_lock slots_lock;
	_Atomic(struct vm_memslots *) slots;
	struct vms_srcu srcu;       /* memslots and the vcpus array */

	/* vCPUs: slots published with atomics, read under srcu by flushers;
	 * a vCPU is freed after a grace period.  vcpus_lock serialises
	 * start and join. */
	struct vms_lock vcpus_lock;
	unsigned max_vcpus;
	_Atomic(struct vms_vcpu *) *vcpus;

	/* Counters of vCPUs that were joined, and VM-wide ones. */
	_Atomic uint64_t st_reads, st_writes, st_tlb_misses, st_faults,
		st_retries, st_prechecks, st_exits;
	_Atomic uint64_t st_invalidations, st_zapped, st_flushes,
		st_flush_waits, st_violations;
};

/* ---- mmu.c ---- */

int mmu_init(struct vms_vm *vm);
void mmu_destroy(struct vms_vm *vm);
extern const struct vms_mmu_notifier_ops mmu_notifier_ops;

/* The shadow fault: makes the spte of @gfn, for writing when @write.  Runs
 * outside guest mode.  0 or -errno with @exit filled in. */
int mmu_fault(struct vms_vcpu *vcpu, uint64_t gfn, bool write,
	      struct vms_exit *exit);
/* Drops the sptes of gfns [start, end), handing dirty bits to pages.
 * mmu_lock held.  Returns how many were present. */
uint64_t mmu_zap_gfn_range_locked(struct vms_vm *vm, uint64_t start,
				  uint64_t end);

/* ---- vcpu.c ---- */

/* Asks every vCPU to flush its TLB and waits for each one that is in
 * guest mode to acknowledge; may spin.  Called with mmu_lock held after a
 * zap (vCPUs acknowledge without it), or without it after aging. */
void vcpu_flush_remote_tlbs(struct vms_vm *vm);

void vm_note_violation(struct vms_vm *vm, const char *what, uint64_t gfn);

#endif /* VMS_GUEST_H */
