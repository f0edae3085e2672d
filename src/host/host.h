/* host.h - the host side's internals: frames and struct page (phys.c), the
 * address space and its page table (mm.c, mmap.c, memory.c, madvise.c),
 * and the notifier subscription lists (notifier.c).  The guest side uses
 * what is here. */
#ifndef VMS_HOST_H
#define VMS_HOST_H

#include "base/base.h"

/* ---- physical memory ------------------------------------------------ */

enum page_flag {
	PG_dirty = 1u << 0,      /* contents differ from any backing copy */
	PG_lazyfree = 1u << 1,   /* MADV_FREE: may be dropped while clean */
	PG_free = 1u << 2,       /* on a free list (debug checks read this) */
	PG_locked = 1u << 3,     /* I/O, unmapping or migration in progress */
	PG_lru = 1u << 4,        /* on its node's active or inactive list */
	PG_active = 1u << 5,     /* ... the active one */
	PG_swapcache = 1u << 6,  /* in the swap cache at slot page->swap */
	PG_writeback = 1u << 7,  /* being written to its slot */
	PG_error = 1u << 8,      /* its swap read failed: contents invalid */
	PG_readahead = 1u << 9,  /* read ahead, not asked for yet */
};

/*
 * One per frame, 32 bytes (Linux's is 64).  refcount: 0 on the free list;
 * a present PTE holds one reference, the swap cache one, every get (GUP,
 * reclaim isolating it) another; the last put frees the frame.  flags: the
 * PG_* bits, the frame's node (fixed) and its generation, bumped at every
 * free so that a debug check can tell a stale user of the frame (I1).
 * mm/index: the reverse map, the hva as a page index into mm's space
 * (at most 2^32 pages), written under the PTE lock of the hva while
 * mapped; reclaim reads them unlocked and checks the PTE under its lock.
 * lru_prev/lru_next: the node's LRU list under its lru_lock, or the free
 * list under the node lock, as pfn + 1 (0: none).  swap: the slot while
 * PG_swapcache.  The pool is not kept: page_phys finds it by address.
 */
struct vms_page {
	atomic_uint flags;              /* PG_* | node | gen, see PG_NODE_* */
	atomic_int refcount;
	uint32_t lru_prev, lru_next;
	_Atomic(struct vms_mm *) mm;
	_Atomic uint32_t index;
	uint32_t swap;
};
_Static_assert(sizeof(struct vms_page) == 32, "struct vms_page grew");

/* Frames a pool may have: links are 32-bit pfns + 1. */
#define PHYS_MAX_FRAMES (UINT32_MAX - 1ull)

/* Above the PG_* bits in flags: the node, and the generation on top. */
#define PG_FLAGS_MASK 0xfffu
#define PG_NODE_SHIFT 12
#define PG_NODE_MASK (0xfu << PG_NODE_SHIFT)
#define PG_GEN_SHIFT 16
#define PG_GEN_ONE (1u << PG_GEN_SHIFT)
_Static_assert(VMS_MAX_NODES <= 16, "node bits");

/* A link in a list of @pages' frames, and back. */
static inline struct vms_page *page_link_to(struct vms_page *pages,
					    uint32_t link)
{
	return link ? &pages[link - 1] : NULL;
}
static inline uint32_t page_link_of(struct vms_page *pages,
				    const struct vms_page *p)
{
	return p ? (uint32_t)(p - pages) + 1 : 0;
}

struct lru_list {
	struct vms_page *pages;         /* the pool's frames, links index it */
	struct vms_page *head, *tail;   /* head: newest */
	uint64_t nr;
};

/* Invariant: nr_free + allocated == frames; nr on the lists == pages with
 * PG_lru.  phys_check walks them (the expensive tier). */
struct phys_node {
	struct vms_lock lock;           /* protects free_list */
	struct vms_page *pages;         /* the pool's frames, links index it */
	struct vms_page *free_list;
	_Atomic uint64_t nr_free;
	uint64_t first_pfn, frames;
	int memfd;
	struct vms_lock lru_lock;       /* protects the two lists */
	struct lru_list active, inactive;
	uint64_t low, high;             /* free-frame watermarks */
};

/* The expensive tier's walk of @n: the free list holds nr_free pages,
 * each PG_free with no reference, and they are all the node's PG_free
 * frames (so nr_free + allocated == frames); each LRU list holds nr pages,
 * linked both ways, each PG_lru and PG_active as its list says.  Takes the
 * node's locks; a no-op unless the tier is on. */
struct vms_phys;
void phys_check(struct vms_phys *phys);
struct swap_area;

/* Counters of the whole pool, bumped anywhere (relaxed). */
struct phys_stats {
	_Atomic uint64_t pgfault, pgmajfault, pswpin, pswpout, swapcache_hit,
		pgscan, pgsteal, pgactivate, pgdeactivate, lazyfree, clean_drop,
		direct_reclaim, pgmigrate, swap_write_errors, swap_read_errors;
};

struct vms_phys {
	unsigned nr_nodes;
	uint64_t total_frames;
	uint8_t *base;                  /* frame pfn lives at base + pfn*4096 */
	struct vms_page *pages;         /* indexed by pfn */
	struct phys_node nodes[VMS_MAX_NODES];

	_Atomic(struct swap_area *) swap;  /* set once by vms_swap_on */
	/* Reclaim works on pages of any mm without its mmap lock; holding
	 * mms_lock for reading keeps every mm alive, vms_mm_destroy takes it
	 * for writing.  Reclaim and kswapd's sweep hold it for as long as
	 * they hold pages isolated, so vms_phys_drop_caches, writing, sees
	 * them all back. */
	pthread_rwlock_t mms_lock;

	/* The background reclaimer (kswapd). */
	pthread_t kswapd;
	atomic_bool kswapd_running;
	pthread_mutex_t kswapd_mu;      /* with kswapd_cv: its sleep */
	pthread_cond_t kswapd_cv;
	bool kswapd_stop, kswapd_kick;
	atomic_bool tiering;

	/* Swap read-ahead: hits on read-ahead pages since the last major
	 * fault, the window it chose, where it was. */
	atomic_uint ra_hits, ra_window;
	_Atomic uint64_t ra_last_hva;
	uint64_t sweep_cursor;          /* kswapd's, through the swap cache */

	struct phys_stats st;
};

#define PAGE_POISON 0x6b            /* freed frames read as this (debug) */

/* A frame from @node, or from any other node when it has none; when all
 * are empty, reclaims (may sleep, may do I/O).  Returned with refcount 1,
 * contents undefined unless @zero.  NULL when nothing can be had. */
struct vms_page *phys_alloc(struct vms_phys *phys, unsigned node, bool zero);
/* The same from @node only and without reclaim (migration targets). */
struct vms_page *phys_alloc_node(struct vms_phys *phys, unsigned node);
/* Up to @n of them at once, under one lock: how many were had. */
size_t phys_alloc_node_many(struct vms_phys *phys, unsigned node,
			    struct vms_page **out, size_t n);
/* From any node without reclaim, contents undefined unless @zero: for a
 * caller that holds page locks (reclaim takes mms_lock, which nests
 * outside them) and can do without the frame, as read-ahead can, or can
 * wait for one elsewhere, as a fault without mmap_lock.  Wakes kswapd. */
struct vms_page *phys_alloc_nowait(struct vms_phys *phys, unsigned node,
				   bool zero);
void page_get(struct vms_page *page);
/* A reference unless the page is already on its way to the free list. */
bool page_get_unless_zero(struct vms_page *page);
/* Drops a reference; the last one frees the frame. */
void page_put(struct vms_page *page);
/* page_put of @n pages; the freed frames go back to their lists under one
 * lock per run of pages of a node. */
void page_put_many(struct vms_page **pages, size_t n);

/* PG_locked: a bit lock.  lock_page waits (spin, then back off).  A page
 * is unlocked by the thread that locked it; debug builds count the locks
 * each thread holds (page_locks_held), to check the lock order. */
#ifdef VMS_DEBUG
extern _Thread_local int page_locks_held;
#endif
bool trylock_page(struct vms_page *page);
void lock_page(struct vms_page *page);
void unlock_page(struct vms_page *page);

static inline unsigned page_flags(const struct vms_page *page)
{
	return atomic_load_explicit(&((struct vms_page *)page)->flags,
				    memory_order_acquire) & PG_FLAGS_MASK;
}
static inline unsigned page_node_id(const struct vms_page *page)
{
	return (atomic_load_explicit(&((struct vms_page *)page)->flags,
				     memory_order_relaxed) & PG_NODE_MASK) >>
	       PG_NODE_SHIFT;
}
/* The frame's generation, as a debug check compares it (16 bits). */
static inline uint16_t page_gen(const struct vms_page *page)
{
	return (uint16_t)(atomic_load_explicit(
				  &((struct vms_page *)page)->flags,
				  memory_order_acquire) >> PG_GEN_SHIFT);
}
/* The pool @page belongs to (a page has no room to keep it). */
struct vms_phys *page_phys(const struct vms_page *page);

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

/* PTE: 0 = none.  Present: pfn << 12 | PTE_PRESENT | A/D.  Swapped out:
 * slot << 12 | PTE_SWAP.  Being migrated: old pfn << 12 | PTE_MIGRATION
 * (faults wait for the new PTE). */
#define PTE_PRESENT   0x1ull
#define PTE_ACCESSED  0x4ull
#define PTE_DIRTY     0x8ull
#define PTE_SWAP      0x10ull
#define PTE_MIGRATION 0x20ull
#define PTE_PFN(pte)  ((pte) >> PAGE_SHIFT)
#define PTE_SLOT(pte) ((pte) >> PAGE_SHIFT)
#define PTE_MAKE_SWAP(slot) (((uint64_t)(slot) << PAGE_SHIFT) | PTE_SWAP)

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
	 * pair of a mapping operation runs under it.  Writers go first once
	 * waiting, and nobody waits for swap reads under it (faults and
	 * WILLNEED drop it), so mapping calls are not starved.  Never taken
	 * twice by one thread. */
	struct vms_rwlock mmap_lock;
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

/* mmap_lock, named as Linux names it; asserts say "caller holds". */
static inline void mmap_read_lock(struct vms_mm *mm)
{
	vms_read_lock(&mm->mmap_lock);
}
static inline bool mmap_read_trylock(struct vms_mm *mm)
{
	return vms_read_trylock(&mm->mmap_lock);
}
static inline void mmap_read_unlock(struct vms_mm *mm)
{
	vms_read_unlock(&mm->mmap_lock);
}
static inline void mmap_write_lock(struct vms_mm *mm)
{
	vms_write_lock(&mm->mmap_lock);
}
static inline void mmap_write_unlock(struct vms_mm *mm)
{
	vms_write_unlock(&mm->mmap_lock);
}
#define mmap_assert_locked(mm) vms_assert_rw_held(&(mm)->mmap_lock)
#define mmap_assert_write_locked(mm) vms_assert_rw_held_write(&(mm)->mmap_lock)

static inline size_t mm_pte_index(const struct vms_mm *mm, uint64_t hva)
{
	return (hva - mm->va_base) >> PAGE_SHIFT;
}

/* The reverse map as read once: the mm (NULL when unmapped) and, in
 * *@hva, the page's hva there.  Unlocked, it may be a moment old: whoever
 * acts on it checks the PTE under its lock.  The mm must be alive (the
 * caller holds its mmap lock or mms_lock). */
static inline struct vms_mm *page_rmap(const struct vms_page *page,
				       uint64_t *hva)
{
	struct vms_page *p = (struct vms_page *)page;
	struct vms_mm *mm = atomic_load(&p->mm);

	*hva = mm ? mm->va_base + ((uint64_t)atomic_load(&p->index)
				   << PAGE_SHIFT) : 0;
	return mm;
}
/* Under the PTE lock of @hva; @mm NULL unmaps.  Release is enough: who
 * acts on the reverse map takes that lock. */
static inline void page_set_rmap(struct vms_page *page, struct vms_mm *mm,
				 uint64_t hva)
{
	if (mm)
		atomic_store_explicit(&page->index,
				      (uint32_t)mm_pte_index(mm, hva),
				      memory_order_release);
	atomic_store_explicit(&page->mm, mm, memory_order_release);
}
static inline struct vms_lock *mm_ptl(struct vms_mm *mm, uint64_t hva)
{
	return &mm->ptl[(hva >> MM_PTL_SHIFT) % MM_PTL_STRIPES];
}

/* Does any VMA overlap [start, end)?  Caller holds mmap_lock. */
bool mm_range_has_vma(struct vms_mm *mm, uint64_t start, uint64_t end);
/* Clears the PTEs of [start, end): frees their frames and swap slots.
 * Inside an invalidation pair, or where no secondary can map the range. */
void mm_clear_range(struct vms_mm *mm, uint64_t start, uint64_t end);

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

/* ---- reclaim (reclaim.c): LRU lists, aging, eviction, kswapd -------- */

/* A newly mapped page joins its node's active list. */
void lru_add(struct vms_page *page);
/* lru_add of @n pages, taking each node's list lock once per run of pages
 * on that node. */
void lru_add_many(struct vms_page **pages, size_t n);
/* Takes a page off its list (phys_free does, for a page still on one). */
void lru_del(struct vms_page *page);
/* Takes @page off its list with a reference, if it is on one and alive. */
bool lru_isolate(struct vms_page *page);
/* Back on a list, and that reference dropped (which may free it). */
void lru_putback(struct vms_page *page, bool active);
/* Reclaims up to @nr pages of @node (all nodes when node < 0); returns how
 * many were freed, *@stuck when the swap was full or a write failed.  May
 * sleep and do I/O; holds no lock of the caller's mm but its PTE locks. */
uint64_t reclaim_node(struct vms_phys *phys, int node, uint64_t nr,
		      bool *stuck);
/* madvise: reclaim the resident pages of [start, end) now (PAGEOUT), or
 * move them to the inactive lists and clear both MMUs' A bits (COLD). */
void reclaim_range(struct vms_mm *mm, uint64_t start, uint64_t end);
void deactivate_range(struct vms_mm *mm, uint64_t start, uint64_t end);
void kswapd_wake(struct vms_phys *phys);
void *kswapd_main(void *phys);
void kswapd_stop(struct vms_phys *phys);

/* ---- swap (swap.c) -------------------------------------------------- */

/* A swap area over @be.  Both primaries use one: the pool's (vms_swap_on)
 * and each KVM pager's, whose per-page words hold slots as swap PTEs do.
 * @release_backend: destroy hands @be back (else it stays the caller's). */
int swap_area_create(struct vms_swap_backend *be, struct swap_area **out);
void swap_area_destroy(struct swap_area *sa, bool release_backend);
/* A free slot with @page (locked) put in the cache at it, or 0 when swap
 * is full.  Slot 0 is never handed out. */
uint64_t swap_alloc_cache(struct swap_area *sa, struct vms_page *page);
/* A free slot held once, as by one swap PTE, without a cached page; 0
 * when swap is full.  swap_free lets it go. */
uint64_t swap_alloc(struct swap_area *sa);
/* A PTE now holds the slot (dup) or stopped holding it (free). */
void swap_dup(struct swap_area *sa, uint64_t slot);
void swap_free(struct swap_area *sa, uint64_t slot);
/* Adds a locked page to the swap cache at @slot, which a PTE holds (a
 * swap-in): the cache takes a page reference.  False if the slot already
 * has a page there, or no PTE holds it any more. */
bool swapcache_add(struct swap_area *sa, struct vms_page *page, uint64_t slot);
/* Removes the page (locked) from the cache and drops the cache's reference
 * and its hold on the slot. */
void swapcache_del(struct swap_area *sa, struct vms_page *page);
/* Drops a cached page (locked, not under write-back) from the cache: when
 * no swap PTE holds its slot (a copy nobody can ask for) and the page is
 * not mapped clean - such a page keeps its copy, for a drop without I/O,
 * while swap is at most half full - or else, unless @orphans_only, when
 * its copy is good (clean) and nobody but the caller (@held references)
 * and the cache holds the page.  True if it left. */
bool swapcache_put_unused(struct swap_area *sa, struct vms_page *page,
			  int held, bool orphans_only);
/* Drops the cached copies no PTE holds among @n slots from *@cursor on
 * (advanced), waiting for busy pages when @wait.  Such orphans arise when
 * the last PTE goes while someone holds the page locked; reclaim would
 * get to them under pressure, this gets to them sooner.  Returns how many
 * went. */
uint64_t swapcache_sweep(struct swap_area *sa, uint64_t *cursor,
			 uint64_t n, bool wait);
/* The page cached at @slot with a reference taken, or NULL. */
struct vms_page *swapcache_get(struct swap_area *sa, uint64_t slot);
/* Reads / writes pages through @be, each result in its res, injected
 * failures (debug builds) included: at most 64 at once. */
void swap_backend_io(struct vms_swap_backend *be, struct vms_swap_io *io,
		     size_t n);
/* The same through the pool's swap area; counts errors and I/O. */
void swap_io(struct vms_phys *phys, struct vms_swap_io *io, size_t n);
uint64_t swap_used(struct swap_area *sa, uint64_t *slots);
/* The compressed tier's counters when @sa is on one, else zeroes. */
void swap_zswap_stats(struct swap_area *sa, struct vms_zswap_stats *z);

/* The swap-in fault of @hva whose PTE was @pte (a swap entry), mmap_lock
 * held for reading; also reads following swapped pages into the swap
 * cache, as many as recent read-ahead hits say are worth it.  Returns with
 * the page mapped and referenced in *@out, or 1 if the PTE changed
 * meanwhile (look again), or -EIO / -ENOMEM.  With @may_retry it waits for
 * I/O without mmap_lock, takes it again and returns MM_FAULT_RETRY, the
 * page read (not mapped) referenced in *@out: the caller looks the VMA up
 * anew, faults again, then drops that reference. */
#define MM_FAULT_RETRY 2
int swapin_fault(struct vms_mm *mm, uint64_t hva, uint64_t pte, bool write,
		 bool may_retry, struct vms_page **out);
/* MADV_WILLNEED: reads the swapped pages of [start, end) into the cache;
 * mmap_lock held for reading, and dropped during each batch's I/O. */
int swapin_range(struct vms_mm *mm, uint64_t start, uint64_t end);

/* ---- migration (migrate.c) ----------------------------------------- */

/* Moves @page (mapped by its rmap, isolated and locked by the caller) to
 * @node.  0, -EBUSY when it is held elsewhere, -ENOMEM when the node is
 * full. */
int migrate_page_locked(struct vms_page *page, unsigned node);

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

/* start with a list of pages (sorted hvas) instead of every page. */
int mm_invalidate_pages_start(struct vms_mm *mm, struct mm_inval *inv,
			      const uint64_t *pages, size_t n,
			      enum vms_mmu_event event);

/* Aging across the secondaries: true if any reported young.  @pages may
 * be NULL (every page of the range). */
enum mm_young { MM_CLEAR_FLUSH_YOUNG, MM_CLEAR_YOUNG, MM_TEST_YOUNG };
bool mm_notify_young(struct vms_mm *mm, uint64_t start, uint64_t end,
		     const uint64_t *pages, size_t n, enum mm_young how);

/* vms_mm_destroy's first step: ->release for every subscription. */
void mm_notify_release(struct vms_mm *mm);
void mm_subs_init(struct vms_mm *mm);
void mm_subs_destroy(struct vms_mm *mm);

#endif /* VMS_HOST_H */
