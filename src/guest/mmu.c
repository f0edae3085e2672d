/* mmu.c - the VM's shadow MMU: the table gfn -> spte, the fault that fills
 * it (seq / in-progress check with range-based retry), and the notifier
 * callbacks through which the host takes translations back.  sptes hold no
 * page references; this protocol is what keeps them from outliving a page.
 */
#define _GNU_SOURCE
#include "guest/guest.h"
#include "guest/vcpu.h"

#include <string.h>
#include <sys/mman.h>

int mmu_init(struct vms_vm *vm)
{
	void *spt = vms_os_mmap(NULL, vm->max_gfn * sizeof(uint64_t),
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (spt == MAP_FAILED)
		return -errno;
	vm->spt = spt;
	vms_lock_init(&vm->mmu_lock);
	return 0;
}

void mmu_destroy(struct vms_vm *vm)
{
	VMS_ASSERT(vm->inv_count == 0);
	munmap(vm->spt, vm->max_gfn * sizeof(uint64_t));
	vms_lock_destroy(&vm->mmu_lock);
}

/* ---- invalidation state ----
 *
 * A fault reads inv_seq before it looks the page up and decides under
 * mmu_lock whether what it found may still be current:
 *
 *   fault                          host
 *   seq = inv_seq                  start: lock; count++; zap;
 *                                         flush if zapped; unlock
 *   page = get_page(hva)           change PTE, free the old frame
 *   lock                           end:   lock; inv_seq++; count--; unlock
 *   retry if a running pair covers hva, or a pair that ended since seq
 *   covered it; else install
 *
 * The seq bump and the count drop happen in one critical section, so a
 * fault never sees the count back at zero without the new seq.  Ended
 * pairs are remembered in a ring; a fault that cannot find every pair it
 * missed there retries.
 */
static bool in_pages(const uint64_t *pages, size_t n, uint64_t hva)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pages[mid] == hva)
			return true;
		if (pages[mid] < hva)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool range_covers(const struct vms_mmu_range *r, uint64_t hva)
{
	if (hva < r->start || hva >= r->end)
		return false;
	return !r->pages || in_pages(r->pages, r->nr_pages, hva);
}

/* The lockless pre-check (as KVM's mmu_invalidate_retry_gfn_unsafe): does
 * a running pair seem to cover @hva?  Then the fault backs off before it
 * looks the page up, a lookup the locked check would throw away. */
static bool mmu_retry_unsafe(struct vms_vm *vm, uint64_t hva)
{
	return hva < atomic_load_explicit(&vm->inv_hi, memory_order_relaxed) &&
	       hva >= atomic_load_explicit(&vm->inv_lo, memory_order_relaxed);
}

static bool mmu_retry_locked(struct vms_vm *vm, unsigned long seq,
			     uint64_t hva)
{
	vms_assert_held(&vm->mmu_lock);
	if (vm->inv_count) {
		if (vm->inv_overflow && hva >= vm->inv_start && hva < vm->inv_end)
			return true;
		for (unsigned i = 0; i < VM_INV_RUNNING; i++)
			if (vm->inv_running[i] &&
			    range_covers(vm->inv_running[i], hva))
				return true;
	}
	unsigned long cur = atomic_load_explicit(&vm->inv_seq,
						 memory_order_relaxed);
	if (cur - seq >= VM_INV_RING)
		return true;
	for (unsigned long s = seq + 1; s - seq <= cur - seq; s++) {
		const struct vm_inv_record *e = &vm->inv_ring[s % VM_INV_RING];

		if (e->seq != s)
			return true;
		if (hva >= e->start && hva < e->end &&
		    (!e->nr_pages || in_pages(e->pages, e->nr_pages, hva)))
			return true;
	}
	return false;
}

struct zap_ctx {
	struct vms_vm *vm;
	uint64_t zapped;
};

uint64_t mmu_zap_gfn_range_locked(struct vms_vm *vm, uint64_t start,
				  uint64_t end)
{
	uint64_t zapped = 0;

	vms_assert_held(&vm->mmu_lock);
	for (uint64_t gfn = start; gfn < end; gfn++) {
		_Atomic uint64_t *p = &vm->spt[gfn];
		uint64_t spte;

		if (!atomic_load_explicit(p, memory_order_relaxed))
			continue;
		spte = atomic_exchange(p, 0);
		if (!(spte & SPTE_PRESENT))
			continue;
		struct vms_page *page = pfn_to_page(vm->phys, SPTE_PFN(spte));
#ifdef VMS_DEBUG
		/* I1: the host frees a frame only after our zap of it. */
		if (atomic_load(&page->flags) & PG_free) {
			vm_note_violation(vm, "spte still mapped a freed frame "
					  "(I1)", gfn);
			continue;
		}
#endif
		/* A write made through the secondary is the page's too. */
		if ((spte & SPTE_DIRTY) && !VMS_MUTANT_IS(no_secondary_dirty))
			page_set_flags(page, PG_dirty);
		zapped++;
	}
	if (zapped)
		vms_stat_inc(&vm->st_zapped, zapped);
	return zapped;
}

static void zap_slot_range(struct vm_memslot *slot, uint64_t gfn_start,
			   uint64_t gfn_end, void *arg)
{
	struct zap_ctx *z = arg;

	(void)slot;
	z->zapped += mmu_zap_gfn_range_locked(z->vm, gfn_start, gfn_end);
}

/* Calls @fn for the memslot pieces under the range: its listed pages, or
 * all of it. */
static void for_each_range_slot(struct vms_vm *vm,
				const struct vms_mmu_range *range,
				void (*fn)(struct vm_memslot *slot, uint64_t gs,
					   uint64_t ge, void *arg),
				void *arg)
{
	struct vm_memslots *slots = atomic_load(&vm->slots);

	if (!range->pages) {
		vm_for_each_slot_in_hva(slots, range->start, range->end, fn, arg);
		return;
	}
	for (size_t i = 0; i < range->nr_pages; i++)
		vm_for_each_slot_in_hva(slots, range->pages[i],
					range->pages[i] + PAGE_SIZE, fn, arg);
}

static uint64_t zap_range_locked(struct vms_vm *vm,
				 const struct vms_mmu_range *range)
{
	vms_assert_held(&vm->mmu_lock);
	struct zap_ctx z = { .vm = vm };

	for_each_range_slot(vm, range, zap_slot_range, &z);
	return z.zapped;
}

/* ---- notifier callbacks ---- */

static struct vms_vm *mn_to_vm(struct vms_mmu_notifier *mn)
{
	return container_of(mn, struct vms_vm, mn);
}

struct range_probe {
	bool any;
};

static void note_slot(struct vm_memslot *slot, uint64_t gs, uint64_t ge,
		      void *arg)
{
	(void)slot;
	(void)gs;
	(void)ge;
	((struct range_probe *)arg)->any = true;
}

/* Runs with the mm's subscription SRCU held, maybe the mmap lock; takes
 * the VM's srcu (memslots) and mmu_lock.  Not blockable: refuses when the
 * range meets a memslot, as a flush would have to wait for vCPUs. */
static int mmu_invalidate_range_start(struct vms_mmu_notifier *mn,
				      const struct vms_mmu_range *range)
{
	struct vms_vm *vm = mn_to_vm(mn);
	unsigned idx = vms_srcu_read_lock(&vm->srcu);
	uint64_t zapped;

	if (!range->blockable) {
		struct range_probe probe = { false };

		for_each_range_slot(vm, range, note_slot, &probe);
		if (probe.any) {
			vms_srcu_read_unlock(&vm->srcu, idx);
			return -EAGAIN;
		}
	}
	vms_lock(&vm->mmu_lock);
	if (vm->inv_count++ == 0 ||
	    range->start < atomic_load_explicit(&vm->inv_lo, memory_order_relaxed))
		atomic_store_explicit(&vm->inv_lo, range->start,
				      memory_order_relaxed);
	if (vm->inv_count == 1 ||
	    range->end > atomic_load_explicit(&vm->inv_hi, memory_order_relaxed))
		atomic_store_explicit(&vm->inv_hi, range->end,
				      memory_order_relaxed);
	unsigned i = 0;
	while (i < VM_INV_RUNNING && vm->inv_running[i])
		i++;
	if (i < VM_INV_RUNNING) {
		vm->inv_running[i] = range;
	} else if (vm->inv_overflow++ == 0) {
		vm->inv_start = range->start;
		vm->inv_end = range->end;
	} else {
		if (range->start < vm->inv_start)
			vm->inv_start = range->start;
		if (range->end > vm->inv_end)
			vm->inv_end = range->end;
	}
	zapped = zap_range_locked(vm, range);
	/* The frames may be freed once we return: no vCPU may still be in
	 * the middle of an access through a stale TLB entry.  Flushed under
	 * the lock, so that a racing invalidation that finds these sptes
	 * gone waits for this flush before it returns. */
	if (zapped)
		vcpu_flush_remote_tlbs(vm);
	vms_unlock(&vm->mmu_lock);
	vms_srcu_read_unlock(&vm->srcu, idx);
	vms_stat_inc(&vm->st_invalidations, 1);
	return 0;
}

static void mmu_invalidate_range_end(struct vms_mmu_notifier *mn,
				     const struct vms_mmu_range *range)
{
	struct vms_vm *vm = mn_to_vm(mn);

	vms_lock(&vm->mmu_lock);
	/* The seq moves before the count drops, in one critical section:
	 * faults read both under this lock. */
	unsigned long seq = atomic_load_explicit(&vm->inv_seq,
						 memory_order_relaxed) + 1;
	struct vm_inv_record *e = &vm->inv_ring[seq % VM_INV_RING];

	e->seq = seq;
	e->start = range->start;
	e->end = range->end;
	e->nr_pages = range->pages && range->nr_pages <= VM_INV_RING_PAGES
			      ? range->nr_pages
			      : 0;
	if (e->nr_pages)
		memcpy(e->pages, range->pages, e->nr_pages * sizeof(uint64_t));
	atomic_store_explicit(&vm->inv_seq, seq, memory_order_release);
	unsigned i = 0;
	while (i < VM_INV_RUNNING && vm->inv_running[i] != range)
		i++;
	if (i < VM_INV_RUNNING)
		vm->inv_running[i] = NULL;
	else
		vm->inv_overflow--;
	VMS_ASSERT(vm->inv_count > 0 && vm->inv_overflow >= 0);
	if (--vm->inv_count == 0) {
		atomic_store_explicit(&vm->inv_lo, 0, memory_order_relaxed);
		atomic_store_explicit(&vm->inv_hi, 0, memory_order_relaxed);
	}
	vms_unlock(&vm->mmu_lock);
}

struct age_ctx {
	struct vms_vm *vm;
	bool clear, young;
};

static void age_slot_range(struct vm_memslot *slot, uint64_t gs, uint64_t ge,
			   void *arg)
{
	struct age_ctx *a = arg;

	(void)slot;
	for (uint64_t gfn = gs; gfn < ge; gfn++) {
		_Atomic uint64_t *p = &a->vm->spt[gfn];
		uint64_t spte = atomic_load_explicit(p, memory_order_relaxed);

		if (!(spte & SPTE_ACCESSED))
			continue;
		a->young = true;
		if (a->clear)
			atomic_fetch_and(p, ~SPTE_ACCESSED);
	}
}

static bool mmu_age(struct vms_mmu_notifier *mn,
		    const struct vms_mmu_range *range, bool clear, bool flush)
{
	struct vms_vm *vm = mn_to_vm(mn);
	struct age_ctx a = { .vm = vm, .clear = clear };
	unsigned idx = vms_srcu_read_lock(&vm->srcu);

	/* A bits are cleared with atomics against vCPU updates; mmu_lock
	 * only keeps the memslot-to-spte view stable against zaps. */
	vms_lock(&vm->mmu_lock);
	for_each_range_slot(vm, range, age_slot_range, &a);
	vms_unlock(&vm->mmu_lock);
	vms_srcu_read_unlock(&vm->srcu, idx);
	if (a.young && flush)
		vcpu_flush_remote_tlbs(vm);
	return a.young;
}

static bool mmu_clear_flush_young(struct vms_mmu_notifier *mn,
				  const struct vms_mmu_range *range)
{
	return mmu_age(mn, range, true, true);
}

static bool mmu_clear_young(struct vms_mmu_notifier *mn,
			    const struct vms_mmu_range *range)
{
	return mmu_age(mn, range, true, false);
}

static bool mmu_test_young(struct vms_mmu_notifier *mn,
			   const struct vms_mmu_range *range)
{
	return mmu_age(mn, range, false, false);
}

/* The mm goes away: every spte goes, and nothing may be installed after. */
static void mmu_release(struct vms_mmu_notifier *mn, struct vms_mm *mm)
{
	struct vms_vm *vm = mn_to_vm(mn);
	uint64_t zapped;

	(void)mm;
	unsigned idx = vms_srcu_read_lock(&vm->srcu);
	struct vm_memslots *slots = atomic_load(&vm->slots);

	/* sptes live only inside memslots: a slot's go when it goes. */
	vms_lock(&vm->mmu_lock);
	zapped = 0;
	for (size_t i = 0; i < slots->n; i++)
		zapped += mmu_zap_gfn_range_locked(
			vm, slots->slots[i].gfn,
			slots->slots[i].gfn + slots->slots[i].npages);
	if (zapped)
		vcpu_flush_remote_tlbs(vm);
	vms_unlock(&vm->mmu_lock);
	vms_srcu_read_unlock(&vm->srcu, idx);
}

const struct vms_mmu_notifier_ops mmu_notifier_ops = {
	.release = mmu_release,
	.invalidate_range_start = mmu_invalidate_range_start,
	.invalidate_range_end = mmu_invalidate_range_end,
	.clear_flush_young = mmu_clear_flush_young,
	.clear_young = mmu_clear_young,
	.test_young = mmu_test_young,
};

/* ---- the fault ---- */

static int fault_exit(struct vms_exit *exit, enum vms_exit_reason reason,
		      int error, uint64_t gfn, uint64_t hva, bool write)
{
	*exit = (struct vms_exit){ .reason = reason, .error = error,
				   .gpa = gfn << PAGE_SHIFT, .hva = hva,
				   .write = write };
	return error;
}

#define FAULT_PRECHECKS 4

int mmu_fault(struct vms_vcpu *vcpu, uint64_t gfn, bool write,
	      struct vms_exit *exit)
{
	struct vms_vm *vm = vcpu->vm;
	unsigned spins = 0, prechecks = 0;

	for (;;) {
		unsigned long seq = atomic_load_explicit(&vm->inv_seq,
							 memory_order_acquire);
		unsigned idx = vms_srcu_read_lock(&vm->srcu);
		struct vm_memslot *slot =
			gfn < vm->max_gfn
				? vm_slot_by_gfn(atomic_load(&vm->slots), gfn)
				: NULL;

		if (!slot) {
			vms_srcu_read_unlock(&vm->srcu, idx);
			return fault_exit(exit, VMS_EXIT_NO_SLOT, -EFAULT, gfn,
					  0, write);
		}
		uint64_t hva = slot->hva + ((gfn - slot->gfn) << PAGE_SHIFT);
		if (slot->invalid) {
			/* Being moved or deleted: wait for the new layout. */
			vms_srcu_read_unlock(&vm->srcu, idx);
			vms_backoff(&spins);
			continue;
		}
		if (write && (slot->flags & VMS_MEM_READONLY)) {
			vms_srcu_read_unlock(&vm->srcu, idx);
			return fault_exit(exit, VMS_EXIT_READONLY, -EACCES, gfn,
					  hva, write);
		}

		/* A few times at most: the union of overlapping pairs may
		 * stay wide while they keep coming. */
		if (prechecks < FAULT_PRECHECKS && mmu_retry_unsafe(vm, hva)) {
			vms_srcu_read_unlock(&vm->srcu, idx);
			prechecks++;
			vms_stat_add_local(&vcpu->st_prechecks, 1);
			vms_backoff(&spins);
			continue;
		}
		struct vms_page *page;
		bool writable;
		int r = mm_get_page(vm->mm, hva, write, &page, &writable);
		if (r) {
			vms_srcu_read_unlock(&vm->srcu, idx);
			return fault_exit(exit,
					  r == -ENOMEM ? VMS_EXIT_NOMEM
					  : r == -EIO  ? VMS_EXIT_IO
						       : VMS_EXIT_EFAULT,
					  r, gfn, hva, write);
		}
		vms_race_window(VMS_RACE_FAULT_AFTER_GUP);

		vms_lock(&vm->mmu_lock);
		if (!VMS_MUTANT_IS(no_retry) && mmu_retry_locked(vm, seq, hva)) {
			vms_unlock(&vm->mmu_lock);
			vms_srcu_read_unlock(&vm->srcu, idx);
			page_put(page);
			vms_stat_add_local(&vcpu->st_retries, 1);
			/* The invalidation that beat us may still run, maybe on
			 * our CPU's twin: poll politely. */
			vms_backoff(&spins);
			continue;
		}
#ifdef VMS_DEBUG
		/* I5: nothing is installed under a running invalidation. */
		if (mmu_retry_locked(vm, atomic_load(&vm->inv_seq), hva))
			vm_note_violation(vm, "spte installed inside a running "
					  "invalidation (I5)", gfn);
#endif
		uint64_t pfn = page_to_pfn(vm->phys, page);
		uint64_t bits = SPTE_PRESENT | SPTE_ACCESSED;
		if (writable && !(slot->flags & VMS_MEM_READONLY))
			bits |= SPTE_WRITE;
		if (write)
			bits |= SPTE_DIRTY;
		uint64_t old = atomic_load_explicit(&vm->spt[gfn],
						    memory_order_relaxed);
		/* Another vCPU may have made it first: keep its dirty bit. */
		if ((old & SPTE_PRESENT) && SPTE_PFN(old) == pfn)
			bits |= old & SPTE_DIRTY;
		VMS_ASSERT(!(old & SPTE_PRESENT) || SPTE_PFN(old) == pfn);
		atomic_store_explicit(
			&vm->spt[gfn],
			SPTE_MAKE(pfn, page_gen(page), bits),
			memory_order_release);
		vms_unlock(&vm->mmu_lock);
		vms_srcu_read_unlock(&vm->srcu, idx);
		/* The spte keeps no reference: the notifier protects it. */
		page_put(page);
		vms_stat_add_local(&vcpu->st_faults, 1);
		return 0;
	}
}
