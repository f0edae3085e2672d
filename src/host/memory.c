/* memory.c - what the host address space's page table holds: faults
 * (mm_get_page: a zeroed frame, a swap-in, a wait for a migration), host
 * accesses (vms_mm_read / write, get / put page) and zapping (mm_zap_range,
 * the PTEs of a range cleared inside one invalidation pair). */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>

/* ---- page table ---- */

#define PTL_CHUNK (1ull << MM_PTL_SHIFT)

/* A page whose PTE went: its swap copy goes too, unless someone (reclaim
 * mid-write, a fault) holds it; they drop it when done. */
static void drop_swapcache(struct vms_phys *phys, struct vms_page *page)
{
	if (!(page_flags(page) & PG_swapcache) || !trylock_page(page))
		return;
	swapcache_put_unused(phys->swap, page, 1, false); /* the PTE's */
	unlock_page(page);
}

/* For the debug build's early_free mutant this runs before the
 * secondaries heard. */
void mm_clear_range(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	struct vms_page *batch[PTL_CHUNK >> PAGE_SHIFT];
	uint64_t slots[PTL_CHUNK >> PAGE_SHIFT];

	while (start < end) {
		uint64_t stop = (start | (PTL_CHUNK - 1)) + 1;
		struct vms_lock *ptl = mm_ptl(mm, start);
		size_t n = 0, ns = 0;

		if (stop > end)
			stop = end;
		vms_lock(ptl);
		for (uint64_t a = start; a < stop; a += PAGE_SIZE) {
			_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, a)];
			uint64_t pte;

			if (!atomic_load_explicit(p, memory_order_relaxed))
				continue;
			pte = atomic_exchange(p, 0);
			if (pte & PTE_PRESENT) {
				struct vms_page *pg =
					pfn_to_page(mm->phys, PTE_PFN(pte));
				pg->mm = NULL;
				batch[n++] = pg;
			} else if (pte & PTE_SWAP) {
				slots[ns++] = PTE_SLOT(pte);
			}
			/* A migration entry: the migrator sees it gone and
			 * drops both frames. */
		}
		vms_unlock(ptl);
		for (size_t i = 0; i < n; i++) {
			drop_swapcache(mm->phys, batch[i]);
			page_put(batch[i]);
		}
		for (size_t i = 0; i < ns; i++)
			swap_free(mm->phys->swap, slots[i]);
		if (n) {
			atomic_fetch_sub_explicit(&mm->st_resident, n,
						  memory_order_relaxed);
			vms_stat_inc(&mm->st_pgfree, n);
		}
		start = stop;
	}
}

static int clear_piece(struct vms_mm *mm, struct mm_vma *vma, uint64_t start,
		       uint64_t end, void *arg)
{
	(void)vma;
	(void)arg;
	mm_clear_range(mm, start, end);
	return 0;
}

/* The early_free mutant's zap: the pages go before the pair starts. */
static bool mutant_early_free(struct vms_mm *mm, uint64_t start, uint64_t end,
			      enum vms_mmu_event event)
{
	struct mm_inval inv;

	mm_walk_vmas(mm, start, end, clear_piece, NULL);
	vms_race_window(VMS_RACE_FREE_BEFORE_START);
	mm_invalidate_start(mm, &inv, start, end, event, true);
	mm_invalidate_end(&inv);
	return true;
}

void mm_zap_range(struct vms_mm *mm, uint64_t start, uint64_t end,
		  enum vms_mmu_event event)
{
	struct mm_inval inv;

	mmap_assert_locked(mm);
	if (!mm_range_has_vma(mm, start, end) ||
	    (VMS_MUTANT_IS(early_free) && mutant_early_free(mm, start, end, event)))
		return;
	mm_invalidate_start(mm, &inv, start, end, event, true);
	mm_walk_vmas(mm, start, end, clear_piece, NULL);
	mm_invalidate_end(&inv);
}

/* Finds or makes the page of @hva and takes a reference: maps a zeroed
 * frame, reads a swapped page back, waits out a migration.  mmap_lock
 * held (read); the VMA allows the access.  With @may_retry, a wait for
 * swap I/O happens without mmap_lock: MM_FAULT_RETRY then says it was
 * dropped and taken again, so the VMA must be looked up anew, and *@out
 * holds the page waited for, referenced, so the next try finds it. */
static int mm_fault_locked(struct vms_mm *mm, uint64_t hva, bool write,
			   bool may_retry, struct vms_page **spare,
			   struct vms_page **out)
{
	mmap_assert_locked(mm);
	_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, hva)];
	struct vms_lock *ptl = mm_ptl(mm, hva);
	uint64_t bits = PTE_ACCESSED | (write ? PTE_DIRTY : 0);
	unsigned spins = 0;

	for (;;) {
		struct vms_page *page;
		uint64_t pte = atomic_load_explicit(p, memory_order_acquire);

		if (pte & PTE_MIGRATION) {
			vms_backoff(&spins);
			continue;
		}
		if (pte & PTE_SWAP) {
			int r = swapin_fault(mm, hva, pte, write, may_retry,
					     out);
			if (r != 1)
				return r;
			continue;
		}
		if (pte & PTE_PRESENT) {
			vms_lock(ptl);
			pte = atomic_load_explicit(p, memory_order_relaxed);
			if (!(pte & PTE_PRESENT)) {
				vms_unlock(ptl);
				continue;
			}
			page = pfn_to_page(mm->phys, PTE_PFN(pte));
			page_get(page);
			if ((pte & bits) != bits)
				atomic_fetch_or(p, bits);
			vms_unlock(ptl);
			if (write && !(page_flags(page) & PG_dirty))
				page_set_flags(page, PG_dirty);
			*out = page;
			return 0;
		}

		/* A frame that needs reclaim, and so may wait for swap
		 * writes, is had without mmap_lock, and the fault starts
		 * over with it as its spare. */
		page = *spare ? *spare
			      : phys_alloc_nowait(mm->phys, mm->alloc_node, true);
		*spare = NULL;
		if (!page && may_retry) {
			mmap_read_unlock(mm);
			*spare = phys_alloc(mm->phys, mm->alloc_node, true);
			mmap_read_lock(mm);
			*out = NULL;
			return *spare ? MM_FAULT_RETRY : -ENOMEM;
		}
		if (!page)
			page = phys_alloc(mm->phys, mm->alloc_node, true);
		if (!page)
			return -ENOMEM;
		vms_lock(ptl);
		if (atomic_load_explicit(p, memory_order_relaxed)) {
			vms_unlock(ptl);
			page_put(page);
			continue;
		}
		page_set_rmap(page, mm, hva);
		if (write)
			page_set_flags(page, PG_dirty);
		page_get(page);         /* the caller's; the PTE has the first */
		atomic_store_explicit(p,
				      (page_to_pfn(mm->phys, page) << PAGE_SHIFT) |
					      PTE_PRESENT | bits,
				      memory_order_release);
		vms_unlock(ptl);
		lru_add(page);
		vms_stat_inc(&mm->st_pgfault, 1);
		vms_stat_inc(&mm->phys->st.pgfault, 1);
		vms_stat_inc(&mm->st_resident, 1);
		*out = page;
		return 0;
	}
}

/*
 * A fault that must wait for swap I/O, or for reclaim to free it a frame,
 * does so without mmap_lock and then starts over (as Linux's
 * FAULT_FLAG_ALLOW_RETRY), so that mapping calls, which take it for
 * writing, never wait behind a disk.  Only the first swap wait may drop
 * it: the next try, finding its page in the swap cache, ends; a frame had
 * without the lock is the next try's (its spare).
 */
int mm_get_page(struct vms_mm *mm, uint64_t hva, bool write,
		struct vms_page **page, bool *writable)
{
	struct vms_page *waited = NULL, *spare = NULL;
	struct mm_vma *vma;
	int r;

	mmap_read_lock(mm);
	for (;;) {
		vma = mm_find_vma(mm, hva);
		if (!vma)
			r = -EFAULT;
		else if (!(vma->prot & VMS_PROT_READ) &&
			 !(vma->prot & VMS_PROT_WRITE))
			r = -EACCES;
		else if (write && !(vma->prot & VMS_PROT_WRITE))
			r = -EACCES;
		else
			r = mm_fault_locked(mm, hva & ~(PAGE_SIZE - 1), write,
					    !waited, &spare, page);
		if (r != MM_FAULT_RETRY)
			break;
		if (*page)
			waited = *page;
	}
	if (!r && writable)
		*writable = vma->prot & VMS_PROT_WRITE;
	mmap_read_unlock(mm);
	if (waited)
		page_put(waited);
	if (spare)
		page_put(spare);        /* the PTE was filled meanwhile */
	return r;
}

int vms_get_page(struct vms_mm *mm, uint64_t hva, bool write,
		 struct vms_page **page)
{
	VMS_HOST_CALL();
	if (!mm || !page)
		return -EINVAL;
	return mm_get_page(mm, hva, write, page, NULL);
}

static int mm_copy(struct vms_mm *mm, uint64_t hva, void *buf, size_t len,
		   bool write)
{
	uint8_t *b = buf;

	if (!mm || (!buf && len))
		return -EINVAL;
	while (len) {
		size_t off = hva & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - off < len ? PAGE_SIZE - off : len;
		struct vms_page *page;
		int r = mm_get_page(mm, hva, write, &page, NULL);

		if (r)
			return r;
		uint8_t *frame = vms_page_address(page);
		if (write)
			memcpy(frame + off, b, n);
		else
			memcpy(b, frame + off, n);
		page_put(page);
		hva += n;
		b += n;
		len -= n;
	}
	return 0;
}

int vms_mm_read(struct vms_mm *mm, uint64_t hva, void *buf, size_t len)
{
	VMS_HOST_CALL();
	return mm_copy(mm, hva, buf, len, false);
}

int vms_mm_write(struct vms_mm *mm, uint64_t hva, const void *buf,
		 size_t len)
{
	VMS_HOST_CALL();
	return mm_copy(mm, hva, (void *)buf, len, true);
}
