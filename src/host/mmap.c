/* mmap.c - the mapping calls of the host address space: the VMA list (a
 * sorted array of few entries) and mmap, munmap, mprotect, mremap, each
 * under mmap_lock for writing.  Every PTE that stops pointing at a frame
 * does so inside an invalidation pair (mm_zap_range, mprotect, mremap). */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>
#include <sys/mman.h>

/* ---- VMA list: a sorted array; there are few VMAs and lookups are
 * binary searches.  All of it under mmap_lock. */

/* Index of the first VMA that ends after @addr (nr_vmas if none). */
static size_t vma_index(struct vms_mm *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (mm->vmas[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The expensive tier: the VMA list is what its comment says, sorted,
 * disjoint, inside the address space and merged. */
static void vma_check_locked(struct vms_mm *mm)
{
	if (!vms_expensive_on())
		return;
	mmap_assert_write_locked(mm);
	for (size_t i = 0; i < mm->nr_vmas; i++) {
		const struct mm_vma *v = &mm->vmas[i];

		(void)v;
		VMS_ASSERT(PAGE_ALIGNED(v->start) && PAGE_ALIGNED(v->end));
		VMS_ASSERT(mm->va_base <= v->start && v->start < v->end &&
			   v->end <= mm->va_end);
		VMS_ASSERT(!i || v[-1].end < v->start ||
			   (v[-1].end == v->start && v[-1].prot != v->prot));
	}
	VMS_ASSERT(mm->nr_vmas <= mm->cap_vmas);
	vms_expensive_count();
}

struct mm_vma *mm_find_vma(struct vms_mm *mm, uint64_t hva)
{
	size_t i = vma_index(mm, hva);

	mmap_assert_locked(mm);
	if (i < mm->nr_vmas && mm->vmas[i].start <= hva)
		return &mm->vmas[i];
	return NULL;
}

static int vma_reserve(struct vms_mm *mm, size_t extra)
{
	if (mm->nr_vmas + extra <= mm->cap_vmas)
		return 0;
	size_t cap = mm->cap_vmas ? mm->cap_vmas * 2 : 16;
	while (cap < mm->nr_vmas + extra)
		cap *= 2;
	struct mm_vma *v = vms_realloc(mm->vmas, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->vmas = v;
	mm->cap_vmas = cap;
	return 0;
}

static void vma_insert_at(struct vms_mm *mm, size_t i, struct mm_vma v)
{
	memmove(&mm->vmas[i + 1], &mm->vmas[i],
		(mm->nr_vmas - i) * sizeof(v));
	mm->vmas[i] = v;
	mm->nr_vmas++;
}

static void vma_delete(struct vms_mm *mm, size_t i, size_t n)
{
	memmove(&mm->vmas[i], &mm->vmas[i + n],
		(mm->nr_vmas - i - n) * sizeof(mm->vmas[0]));
	mm->nr_vmas -= n;
}

/* Makes @addr a VMA boundary.  Needs one free slot (vma_reserve). */
static void vma_split(struct vms_mm *mm, uint64_t addr)
{
	size_t i = vma_index(mm, addr);

	if (i < mm->nr_vmas && mm->vmas[i].start < addr) {
		struct mm_vma tail = mm->vmas[i];

		tail.start = addr;
		mm->vmas[i].end = addr;
		vma_insert_at(mm, i + 1, tail);
	}
}

/* Joins neighbours that touch and have the same rights. */
static void vma_merge(struct vms_mm *mm)
{
	size_t w = 0;

	for (size_t r = 0; r < mm->nr_vmas; r++) {
		if (w && mm->vmas[w - 1].end == mm->vmas[r].start &&
		    mm->vmas[w - 1].prot == mm->vmas[r].prot)
			mm->vmas[w - 1].end = mm->vmas[r].end;
		else
			mm->vmas[w++] = mm->vmas[r];
	}
	mm->nr_vmas = w;
}

static int vma_remove_range(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	if (vma_reserve(mm, 2))
		return -ENOMEM;
	vma_split(mm, start);
	vma_split(mm, end);
	size_t i = vma_index(mm, start), j = i;
	while (j < mm->nr_vmas && mm->vmas[j].end <= end)
		j++;
	vma_delete(mm, i, j - i);
	return 0;
}

/* [start, end) must be a hole. */
static int vma_insert(struct vms_mm *mm, uint64_t start, uint64_t end,
		      int prot)
{
	if (vma_reserve(mm, 1))
		return -ENOMEM;
	vma_insert_at(mm, vma_index(mm, start),
		      (struct mm_vma){ .start = start, .end = end, .prot = prot });
	vma_merge(mm);
	return 0;
}

bool mm_range_has_vma(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_index(mm, start);

	return i < mm->nr_vmas && mm->vmas[i].start < end;
}

int mm_walk_vmas(struct vms_mm *mm, uint64_t start, uint64_t end,
		 int (*fn)(struct vms_mm *mm, struct mm_vma *vma,
			   uint64_t start, uint64_t end, void *arg),
		 void *arg)
{
	uint64_t at = start;
	bool hole = false;

	mmap_assert_locked(mm);
	for (size_t i = vma_index(mm, start);
	     i < mm->nr_vmas && mm->vmas[i].start < end; i++) {
		struct mm_vma *v = &mm->vmas[i];
		uint64_t s = v->start > start ? v->start : start;
		uint64_t e = v->end < end ? v->end : end;

		hole |= s > at;
		at = e;
		if (fn) {
			int r = fn(mm, v, s, e, arg);
			if (r)
				return r;
		}
	}
	return hole || at < end ? -ENOMEM : 0;
}

int mm_check_range(struct vms_mm *mm, uint64_t addr, size_t len,
		   uint64_t *end)
{
	uint64_t e = addr + ((len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));

	if (!PAGE_ALIGNED(addr) || len == 0 || e < addr ||
	    len > UINT64_MAX - PAGE_SIZE)
		return -EINVAL;
	if (addr < mm->va_base || e > mm->va_end)
		return -ENOMEM;
	*end = e;
	return 0;
}

/* ---- mapping calls ---- */

static bool prot_valid(int prot)
{
	return !(prot & ~(VMS_PROT_READ | VMS_PROT_WRITE));
}

/* First hole of @len at or above @from, or 0. */
static uint64_t mm_find_hole(struct vms_mm *mm, uint64_t from, uint64_t len)
{
	uint64_t at = from < mm->va_base ? mm->va_base : from;

	for (size_t i = vma_index(mm, at); i <= mm->nr_vmas; i++) {
		uint64_t limit = i < mm->nr_vmas ? mm->vmas[i].start : mm->va_end;

		if (limit >= at && limit - at >= len)
			return at;
		if (i < mm->nr_vmas && mm->vmas[i].end > at)
			at = mm->vmas[i].end;
	}
	return 0;
}

int vms_mmap(struct vms_mm *mm, uint64_t hint, size_t len, int prot,
	     int flags, uint64_t *addr)
{
	VMS_HOST_CALL();
	const int known = VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS | VMS_MAP_FIXED |
			  VMS_MAP_FIXED_NOREPLACE;
	bool fixed = flags & (VMS_MAP_FIXED | VMS_MAP_FIXED_NOREPLACE);
	uint64_t start, end;
	int r = 0;

	if (!mm || !addr || len == 0 || !prot_valid(prot))
		return -EINVAL;
	if (flags & VMS_MAP_SHARED)
		return -EOPNOTSUPP;
	if ((flags & ~known) || !(flags & VMS_MAP_PRIVATE))
		return -EINVAL;
	if (!(flags & VMS_MAP_ANONYMOUS))
		return -EOPNOTSUPP;
	if (len > mm->va_end - mm->va_base)
		return -ENOMEM;
	len = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

	mmap_write_lock(mm);
	if (fixed) {
		if (!PAGE_ALIGNED(hint)) {
			r = -EINVAL;
			goto out;
		}
		start = hint;
		end = hint + len;
		if (start < mm->va_base || end > mm->va_end || end < start) {
			r = -ENOMEM;
			goto out;
		}
		if (mm_range_has_vma(mm, start, end)) {
			if (flags & VMS_MAP_FIXED_NOREPLACE) {
				r = -EEXIST;
				goto out;
			}
			mm_zap_range(mm, start, end, VMS_EVENT_UNMAP);
			r = vma_remove_range(mm, start, end);
			if (r)
				goto out;
		}
	} else {
		start = 0;
		if (hint && PAGE_ALIGNED(hint) && hint >= mm->va_base &&
		    hint + len <= mm->va_end && hint + len > hint &&
		    !mm_range_has_vma(mm, hint, hint + len))
			start = hint;
		if (!start)
			start = mm_find_hole(mm, mm->va_base, len);
		if (!start) {
			r = -ENOMEM;
			goto out;
		}
		end = start + len;
	}
	r = vma_insert(mm, start, end, prot);
	if (!r)
		*addr = start;
out:
	vma_check_locked(mm);
	mmap_write_unlock(mm);
	return r;
}

int vms_munmap(struct vms_mm *mm, uint64_t addr, size_t len)
{
	VMS_HOST_CALL();
	uint64_t end;
	int r;

	if (!mm)
		return -EINVAL;
	r = mm_check_range(mm, addr, len, &end);
	if (r)
		return -EINVAL;
	mmap_write_lock(mm);
	mm_zap_range(mm, addr, end, VMS_EVENT_UNMAP);
	r = vma_remove_range(mm, addr, end);
	vma_check_locked(mm);
	mmap_write_unlock(mm);
	return r;
}

static int takes_right_away(struct vms_mm *mm, struct mm_vma *vma,
			    uint64_t start, uint64_t end, void *arg)
{
	(void)mm;
	(void)start;
	(void)end;
	return (vma->prot & ~*(int *)arg) ? 1 : 0;
}

int vms_mprotect(struct vms_mm *mm, uint64_t addr, size_t len, int prot)
{
	VMS_HOST_CALL();
	uint64_t end;
	int r;

	if (!mm || !prot_valid(prot))
		return -EINVAL;
	if (len == 0 && PAGE_ALIGNED(addr))
		return 0;
	r = mm_check_range(mm, addr, len, &end);
	if (r)
		return r;
	mmap_write_lock(mm);
	r = mm_walk_vmas(mm, addr, end, NULL, NULL);
	if (r)
		goto out;
	if (vma_reserve(mm, 2)) {
		r = -ENOMEM;
		goto out;
	}
	/* The host PTEs carry no rights of their own (the VMA holds them),
	 * but secondaries cached the old ones: taking one away needs a pair. */
	bool downgrade = mm_walk_vmas(mm, addr, end, takes_right_away, &prot) == 1;
	struct mm_inval inv;

	if (downgrade)
		mm_invalidate_start(mm, &inv, addr, end, VMS_EVENT_PROTECTION,
				    true);
	vma_split(mm, addr);
	vma_split(mm, end);
	for (size_t i = vma_index(mm, addr);
	     i < mm->nr_vmas && mm->vmas[i].start < end; i++)
		mm->vmas[i].prot = prot;
	if (downgrade)
		mm_invalidate_end(&inv);
	vma_merge(mm);
out:
	vma_check_locked(mm);
	mmap_write_unlock(mm);
	return r;
}

/* Moves the PTEs of [from, from+len) to [to, to+len), which is empty. */
static void mm_move_ptes(struct vms_mm *mm, uint64_t from, uint64_t to,
			 uint64_t len)
{
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		_Atomic uint64_t *src = &mm->pt[mm_pte_index(mm, from + off)];
		_Atomic uint64_t *dst = &mm->pt[mm_pte_index(mm, to + off)];
		struct vms_lock *a = mm_ptl(mm, from + off);
		struct vms_lock *b = mm_ptl(mm, to + off);

		if (!atomic_load_explicit(src, memory_order_relaxed))
			continue;
		if (a > b) {
			struct vms_lock *t = a;
			a = b;
			b = t;
		}
		vms_lock(a);
		if (b != a)
			vms_lock(b);
		uint64_t pte = atomic_exchange(src, 0);
		VMS_ASSERT(!atomic_load(dst));
		if (pte & PTE_PRESENT)
			page_set_rmap(pfn_to_page(mm->phys, PTE_PFN(pte)), mm,
				      to + off);
		atomic_store_explicit(dst, pte, memory_order_release);
		if (b != a)
			vms_unlock(b);
		vms_unlock(a);
	}
}

int vms_mremap(struct vms_mm *mm, uint64_t old_addr, size_t old_len,
	       size_t new_len, int flags, uint64_t new_addr, uint64_t *addr)
{
	VMS_HOST_CALL();
	uint64_t old_end, new_start, new_end;
	struct mm_vma *vma;
	int r = 0;

	if (!mm || !addr || !PAGE_ALIGNED(old_addr) || new_len == 0 ||
	    old_len == 0 ||
	    (flags & ~(VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED)) ||
	    ((flags & VMS_MREMAP_FIXED) && !(flags & VMS_MREMAP_MAYMOVE)))
		return -EINVAL;
	if (old_len > UINT64_MAX / 2 || new_len > UINT64_MAX / 2)
		return -EINVAL;
	old_len = (old_len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	new_len = (new_len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	old_end = old_addr + old_len;

	mmap_write_lock(mm);
	vma = mm_find_vma(mm, old_addr);
	if (!vma || vma->end < old_end) {
		r = -EFAULT;
		goto out;
	}
	int prot = vma->prot;

	if (flags & VMS_MREMAP_FIXED) {
		if (!PAGE_ALIGNED(new_addr) || new_addr < mm->va_base ||
		    new_addr + new_len < new_addr ||
		    new_addr + new_len > mm->va_end ||
		    (new_addr < old_end && old_addr < new_addr + new_len)) {
			r = -EINVAL;
			goto out;
		}
		new_start = new_addr;
	} else if (new_len <= old_len) {
		if (new_len < old_len) {
			mm_zap_range(mm, old_addr + new_len, old_end,
				     VMS_EVENT_UNMAP);
			r = vma_remove_range(mm, old_addr + new_len, old_end);
		}
		if (!r)
			*addr = old_addr;
		goto out;
	} else if (vma->end == old_end && old_addr + new_len <= mm->va_end &&
		   !mm_range_has_vma(mm, old_end, old_addr + new_len)) {
		/* Grow in place: the new tail faults in as zeroes. */
		r = vma_insert(mm, old_end, old_addr + new_len, prot);
		if (!r)
			*addr = old_addr;
		goto out;
	} else if (!(flags & VMS_MREMAP_MAYMOVE)) {
		r = -ENOMEM;
		goto out;
	} else {
		new_start = mm_find_hole(mm, mm->va_base, new_len);
		if (!new_start) {
			r = -ENOMEM;
			goto out;
		}
	}
	new_end = new_start + new_len;
	if (vma_reserve(mm, 4)) {
		r = -ENOMEM;
		goto out;
	}

	/* Move: clear the target, then repoint the old PTEs inside one pair
	 * over the old range; pages past the smaller length are dropped. */
	if (mm_range_has_vma(mm, new_start, new_end)) {
		mm_zap_range(mm, new_start, new_end, VMS_EVENT_UNMAP);
		vma_remove_range(mm, new_start, new_end);
	}
	uint64_t keep = old_len < new_len ? old_len : new_len;
	struct mm_inval inv;

	mm_invalidate_start(mm, &inv, old_addr, old_end, VMS_EVENT_UNMAP, true);
	mm_clear_range(mm, old_addr + keep, old_end);
	mm_move_ptes(mm, old_addr, new_start, keep);
	mm_invalidate_end(&inv);
	vma_remove_range(mm, old_addr, old_end);
	r = vma_insert(mm, new_start, new_end, prot);
	if (!r)
		*addr = new_start;
out:
	vma_check_locked(mm);
	mmap_write_unlock(mm);
	return r;
}
