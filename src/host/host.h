/* host.h - the host side's internals: frames and struct page (phys.c), the
 * address space and its page table (mm.c, madvise.c), and the notifier
 * subscription lists (notifier.c).  The guest side uses what is here. */
#ifndef VMS_HOST_H
#define VMS_HOST_H

#include "base/base.h"

/* ---- physical memory ------------------------------------------------ */

enum page_flag {
	PG_dirty = 1u << 0,      /* contents differ from any backing copy */
	PG_lazyfree = 1u << 1,   /* MADV_FREE: may be dropped while clean */
	PG_free = 1u << 2,       /* on a free list (debug checks read this) */
};

/*
 * One per frame.  refcount: 0 on the free list; a present PTE holds one
 * reference, every vms_get_page another.  The frame is freed when the last
 * reference goes.  gen: bumped at every free, so that a debug check can tell
 * a stale user of the frame (I1).  mm/hva: the reverse map, written under
 * the PTE lock of hva while the page is mapped; next_free shares their
 * room, as a free page has no mapping.
 */
struct vms_page {
	atomic_int refcount;
	atomic_uint flags;
	atomic_uint gen;
	uint16_t node;
	struct vms_phys *phys;
	union {
		struct {
			struct vms_mm *mm;
			uint64_t hva;
		};
		struct vms_page *next_free;   /* under the node's lock */
	};
};

/* Invariant: free + (frames handed out) == frames. */
struct phys_node {
	struct vms_lock lock;           /* protects free_list */
	struct vms_page *free_list;
	_Atomic uint64_t nr_free;
	uint64_t first_pfn, frames;
	int memfd;
};

struct vms_phys {
	unsigned nr_nodes;
	uint64_t total_frames;
	uint8_t *base;                  /* frame pfn lives at base + pfn*4096 */
	struct vms_page *pages;         /* indexed by pfn */
	struct phys_node nodes[VMS_MAX_NODES];
};

#define PAGE_POISON 0x6b            /* freed frames read as this (debug) */

/* A frame from @node, or from any other node when it has none.  Returned
 * with refcount 1, contents undefined unless @zero.  NULL when empty. */
struct vms_page *phys_alloc(struct vms_phys *phys, unsigned node, bool zero);
void page_get(struct vms_page *page);
/* Drops a reference; the last one frees the frame. */
void page_put(struct vms_page *page);

static inline uint64_t page_to_pfn(struct vms_phys *phys,
				   const struct vms_page *page)
{
	return (uint64_t)(page - phys->pages);
}
static inline struct vms_page *pfn_to_page(struct vms_phys *phys,
					   uint64_t pfn)
{
	VMS_ASSERT(pfn < phys->total_frames);
	return &phys->pages[pfn];
}
static inline void *pfn_to_addr(struct vms_phys *phys, uint64_t pfn)
{
	return phys->base + (pfn << PAGE_SHIFT);
}
static inline void page_set_flags(struct vms_page *page, unsigned f)
{
	atomic_fetch_or_explicit(&page->flags, f, memory_order_relaxed);
}
static inline void page_clear_flags(struct vms_page *page, unsigned f)
{
	atomic_fetch_and_explicit(&page->flags, ~f, memory_order_relaxed);
}

/* ---- address space -------------------------------------------------- */

/* PTE: 0 = none.  Present: pfn << 12 | PTE_PRESENT | rights | A/D. */
#define PTE_PRESENT  0x1ull
#define PTE_WRITE    0x2ull
#define PTE_ACCESSED 0x4ull
#define PTE_DIRTY    0x8ull
#define PTE_PFN(pte) ((pte) >> PAGE_SHIFT)

struct mm_vma {
	uint64_t start, end;            /* [start, end), page aligned */
	int prot;
};

/* PTE locks are striped by 2 MiB of hva, like split page-table locks. */
#define MM_PTL_SHIFT 21
#define MM_PTL_STRIPES 256

struct mm_subs;

struct vms_mm {
	struct vms_phys *phys;
	uint64_t va_base, va_end;

	/* mmap_lock: write for changes of the VMA list (mmap, munmap,
	 * mremap, mprotect), read for faults and madvise.  Every invalidation
	 * pair of a mapping operation runs under it. */
	pthread_rwlock_t mmap_lock;
	struct mm_vma *vmas;            /* sorted, disjoint, never adjacent
					 * with equal prot (merged) */
	size_t nr_vmas, cap_vmas;

	/* The page table, one entry per page of [va_base, va_end).  An entry
	 * changes only under its PTE lock, except the A/D bits, which a
	 * holder of the lock or the mmap lock may set atomically. */
	_Atomic uint64_t *pt;
	struct vms_lock ptl[MM_PTL_STRIPES];

	/* Subscriptions: a copy-on-write snapshot read under srcu.  An
	 * invalidation pair keeps one snapshot and its read section from
	 * start to end, so (un)register waits for the pairs in flight. */
	struct vms_srcu srcu;
	struct vms_lock subs_lock;      /* serialises snapshot updates */
	_Atomic(struct mm_subs *) subs;

	/* Interval notifier sequence: odd while a pair runs (iv_active > 0). */
	struct vms_lock iv_lock;        /* protects iv_active, iv_seq writes */
	long iv_active;
	atomic_ulong iv_seq;

	unsigned alloc_node;            /* node new pages come from */

	_Atomic uint64_t st_pgfault, st_pgfree, st_inv_start, st_inv_end,
		st_resident;
};

static inline size_t mm_pte_index(const struct vms_mm *mm, uint64_t hva)
{
	return (hva - mm->va_base) >> PAGE_SHIFT;
}
static inline struct vms_lock *mm_ptl(struct vms_mm *mm, uint64_t hva)
{
	return &mm->ptl[(hva >> MM_PTL_SHIFT) % MM_PTL_STRIPES];
}

/* The VMA holding @hva, or NULL.  Caller holds mmap_lock. */
struct mm_vma *mm_find_vma(struct vms_mm *mm, uint64_t hva);

/* get_user_pages core, mmap_lock taken inside.  *@writable tells whether
 * the mapping allows writes (a secondary may map the page writable). */
int mm_get_page(struct vms_mm *mm, uint64_t hva, bool write,
		struct vms_page **page, bool *writable);

/* Removes the pages of [start, end) from the page table and frees them,
 * inside one invalidation pair.  Caller holds mmap_lock (read or write) and
 * has checked the range lies in the address space. */
void mm_zap_range(struct vms_mm *mm, uint64_t start, uint64_t end,
		  enum vms_mmu_event event);

/* Applies @fn to each VMA piece overlapping [start, end), mmap_lock held by
 * the caller.  Returns -ENOMEM if part of the range is unmapped (after
 * visiting the mapped parts), else 0 or the first error of @fn. */
int mm_walk_vmas(struct vms_mm *mm, uint64_t start, uint64_t end,
		 int (*fn)(struct vms_mm *mm, struct mm_vma *vma,
			   uint64_t start, uint64_t end, void *arg),
		 void *arg);

/* Checks [addr, addr+len) is aligned and inside the address space; rounds
 * len up to pages.  -EINVAL otherwise. */
int mm_check_range(struct vms_mm *mm, uint64_t addr, size_t len,
		   uint64_t *end);

/* ---- notifiers (notifier.c) ---------------------------------------- */

/* One invalidation pair, as the mm runs it. */
struct mm_inval {
	struct vms_mmu_range range;
	struct mm_subs *subs;           /* snapshot used by start and end */
	unsigned srcu_idx;
	size_t started;                 /* subscriptions whose start ran */
	bool intervals;                 /* iv_active was raised */
};

/* start: -EAGAIN only when !blockable and a subscriber refused; then no
 * end must follow (those already started were ended). */
int mm_invalidate_start(struct vms_mm *mm, struct mm_inval *inv,
			uint64_t start, uint64_t end, enum vms_mmu_event event,
			bool blockable);
void mm_invalidate_end(struct mm_inval *inv);

/* Aging across the secondaries: true if any reported young. */
bool mm_notify_clear_young(struct vms_mm *mm, uint64_t start, uint64_t end,
			   bool flush);
bool mm_notify_test_young(struct vms_mm *mm, uint64_t start, uint64_t end);

/* vms_mm_destroy's first step: ->release for every subscription. */
void mm_notify_release(struct vms_mm *mm);
void mm_subs_init(struct vms_mm *mm);
void mm_subs_destroy(struct vms_mm *mm);

#endif /* VMS_HOST_H */
