/* madvise.c - madvise(2) on the host address space: one entry per advice
 * in a table, each saying what it does to PTEs, pages and secondaries. */
#define _GNU_SOURCE
#include "host/host.h"

/* DONTNEED: the pages go; the range reads as zeroes. */
static int madv_dontneed(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	mm_zap_range(mm, start, end, VMS_EVENT_DISCARD);
	return 0;
}

static int free_piece(struct vms_mm *mm, struct mm_vma *vma, uint64_t start,
		      uint64_t end, void *arg)
{
	(void)vma;
	(void)arg;
	for (uint64_t a = start; a < end; a += PAGE_SIZE) {
		_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, a)];
		struct vms_lock *ptl = mm_ptl(mm, a);

		if (!(atomic_load_explicit(p, memory_order_relaxed) & PTE_PRESENT))
			continue;
		vms_lock(ptl);
		uint64_t pte = atomic_fetch_and(p, ~PTE_DIRTY);
		if (pte & PTE_PRESENT) {
			struct vms_page *pg = pfn_to_page(mm->phys, PTE_PFN(pte));

			page_clear_flags(pg, PG_dirty);
			page_set_flags(pg, PG_lazyfree);
		}
		vms_unlock(ptl);
	}
	return 0;
}

/*
 * FREE: the pages become clean and lazily freeable.  Secondaries are
 * invalidated first: their zap hands a dirty bit over before it is
 * cleared here, and their next write faults again and marks the page dirty
 * anew, so reclaim never drops a page a vCPU wrote after the advice.
 */
static int madv_free(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	struct mm_inval inv;

	mm_invalidate_start(mm, &inv, start, end, VMS_EVENT_DISCARD, true);
	mm_walk_vmas(mm, start, end, free_piece, NULL);
	mm_invalidate_end(&inv);
	return 0;
}

/* COLD: to the inactive lists, both MMUs' accessed bits cleared. */
static int madv_cold(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	deactivate_range(mm, start, end);
	return 0;
}

/* PAGEOUT: reclaim now; pages in use (held by get_page) stay. */
static int madv_pageout(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	reclaim_range(mm, start, end);
	return 0;
}

/* WILLNEED: read swapped pages back into the swap cache. */
static int madv_willneed(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	return swapin_range(mm, start, end);
}

/* The access pattern hints would steer swap read-ahead, which is a fixed
 * window here; they are accepted, as Linux accepts them for anonymous
 * memory it cannot read ahead. */
static int madv_hint(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	(void)mm;
	(void)start;
	(void)end;
	return 0;
}

static const struct madv_op {
	int advice;
	int (*fn)(struct vms_mm *mm, uint64_t start, uint64_t end);
} madv_ops[] = {
	{ VMS_MADV_NORMAL, madv_hint },
	{ VMS_MADV_RANDOM, madv_hint },
	{ VMS_MADV_SEQUENTIAL, madv_hint },
	{ VMS_MADV_WILLNEED, madv_willneed },
	{ VMS_MADV_DONTNEED, madv_dontneed },
	{ VMS_MADV_FREE, madv_free },
	{ VMS_MADV_COLD, madv_cold },
	{ VMS_MADV_PAGEOUT, madv_pageout },
};

int vms_madvise(struct vms_mm *mm, uint64_t addr, size_t len, int advice)
{
	VMS_HOST_CALL();
	const struct madv_op *op = NULL;
	uint64_t end;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(madv_ops); i++)
		if (madv_ops[i].advice == advice)
			op = &madv_ops[i];
	if (!mm || !op || !PAGE_ALIGNED(addr))
		return -EINVAL;
	if (len == 0)
		return 0;
	r = mm_check_range(mm, addr, len, &end);
	int outside = r;
	if (r == -ENOMEM) {
		/* Past the address space is a hole like any other: the
		 * part inside is still advised. */
		end = addr + ((len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
		addr = addr > mm->va_base ? addr : mm->va_base;
		end = end < mm->va_end ? end : mm->va_end;
		if (addr >= end)
			return -ENOMEM;
	} else if (r) {
		return r;
	}
	mmap_read_lock(mm);
	/* Holes give -ENOMEM, but the mapped parts are still advised. */
	int holes = mm_walk_vmas(mm, addr, end, NULL, NULL);
	r = op->fn(mm, addr, end);
	mmap_read_unlock(mm);
	return r ? r : holes ? holes : outside;
}
