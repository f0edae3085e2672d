/* swap.c - the swap area of a pool: slot allocation with per-slot use
 * counts, the swap cache (slot -> page while a copy is being written, read
 * or kept), and swap_on, which starts the background reclaimer. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>

#define SWAP_HAS_CACHE 0x80000000u
#define SWAP_DISCARDING 0x40000000u
#define SWAP_COUNT 0x3fffffffu          /* the PTEs' part of map[] */

/*
 * map[slot]: how many PTEs hold the slot, | SWAP_HAS_CACHE while a page
 * is in the cache at it.  A slot is free when its map is 0; between its
 * last user going and the backend's discard of its copy it is
 * SWAP_DISCARDING, so that no new copy is written there first and then
 * punched away.  Everything here is under lock; it is taken after page
 * locks and PTE locks, and nothing that sleeps or frees a page runs
 * under it.
 */
struct swap_area {
	struct vms_swap_backend *be;
	uint64_t nr_slots;
	struct vms_lock lock;
	uint32_t *map;
	struct vms_page **cache;
	uint64_t next;              /* next-fit cursor: slots cluster */
	uint64_t used;
};

int swap_area_create(struct vms_swap_backend *be, struct swap_area **out)
{
	struct swap_area *sa = vms_calloc(1, sizeof(*sa));

	if (!sa)
		return -ENOMEM;
	sa->map = vms_calloc(be->nr_slots, sizeof(*sa->map));
	sa->cache = vms_calloc(be->nr_slots, sizeof(*sa->cache));
	if (!sa->map || !sa->cache) {
		vms_free(sa->map);
		vms_free(sa->cache);
		vms_free(sa);
		return -ENOMEM;
	}
	sa->be = be;
	sa->nr_slots = be->nr_slots;
	sa->next = 1;
	vms_lock_init(&sa->lock);
	*out = sa;
	return 0;
}

int vms_swap_on(struct vms_phys *phys, struct vms_swap_backend *be,
		uint64_t low, uint64_t high)
{
	VMS_HOST_CALL();
	struct swap_area *sa;

	/* A page keeps its slot in 32 bits. */
	if (!phys || !be || !be->rw || be->nr_slots < 2 ||
	    be->nr_slots > UINT32_MAX || (low && high <= low))
		return -EINVAL;
	if (phys->swap)
		return -EBUSY;
	int r = swap_area_create(be, &sa);
	if (r)
		return r;
	for (unsigned i = 0; low && i < phys->nr_nodes; i++) {
		phys->nodes[i].low = low;
		phys->nodes[i].high = high;
	}
	atomic_store(&phys->swap, sa);

	pthread_mutex_lock(&phys->kswapd_mu);
	if (!phys->kswapd_running) {
		r = vms_os_thread_create(&phys->kswapd, kswapd_main, phys);
		phys->kswapd_running = !r;
	}
	pthread_mutex_unlock(&phys->kswapd_mu);
	if (r) {
		/* Nothing swapped yet: undo, and the backend stays the
		 * caller's. */
		atomic_store(&phys->swap, NULL);
		swap_area_destroy(sa, false);
	}
	return r;
}

void swap_area_destroy(struct swap_area *sa, bool release_backend)
{
	if (release_backend && sa->be->release)
		sa->be->release(sa->be);
	vms_lock_destroy(&sa->lock);
	vms_free(sa->map);
	vms_free(sa->cache);
	vms_free(sa);
}

uint64_t swap_used(struct swap_area *sa, uint64_t *slots)
{
	vms_lock(&sa->lock);
	uint64_t used = sa->used;
	vms_unlock(&sa->lock);
	*slots = sa->nr_slots - 1;
	return used;
}

void swap_zswap_stats(struct swap_area *sa, struct vms_zswap_stats *z)
{
	if (vms_swap_zswap_stats(sa->be, z))
		memset(z, 0, sizeof(*z));
}

/* A free slot taken with @map as its use, or 0 when swap is full (or a
 * slot's failure is injected). */
static uint64_t slot_take_locked(struct swap_area *sa, uint32_t map)
{
	uint64_t slot = 0;

	vms_assert_held(&sa->lock);
	if (sa->used >= sa->nr_slots - 1 || vms_fault(VMS_FAULT_SWAP_SLOT))
		return 0;
	for (uint64_t i = 0; i < sa->nr_slots; i++) {
		uint64_t s = sa->next + i;

		if (s >= sa->nr_slots)
			s -= sa->nr_slots - 1;
		if (!sa->map[s]) {
			slot = s;
			break;
		}
	}
	VMS_ASSERT(slot && !sa->cache[slot]);
	sa->map[slot] = map;
	sa->used++;
	sa->next = slot + 1 < sa->nr_slots ? slot + 1 : 1;
	return slot;
}

uint64_t swap_alloc_cache(struct swap_area *sa, struct vms_page *page)
{
	VMS_ASSERT(page_flags(page) & PG_locked);
	vms_lock(&sa->lock);
	/* Slot and cache entry in one step: a reader of a stale swap PTE
	 * must not slip its own page in between. */
	uint64_t slot = slot_take_locked(sa, SWAP_HAS_CACHE);
	if (slot) {
		sa->cache[slot] = page;
		page->swap = slot;
		page_set_flags(page, PG_swapcache);
		page_get(page);
	}
	vms_unlock(&sa->lock);
	return slot;
}

uint64_t swap_alloc(struct swap_area *sa)
{
	vms_lock(&sa->lock);
	uint64_t slot = slot_take_locked(sa, 1);
	vms_unlock(&sa->lock);
	return slot;
}

/* The last user went: the slot's copy can go, then the slot.  True when
 * the caller must call slot_discard after dropping the lock. */
static bool slot_release_locked(struct swap_area *sa, uint64_t slot)
{
	vms_assert_held(&sa->lock);
	if (sa->map[slot])
		return false;
	if (sa->be->discard) {
		sa->map[slot] = SWAP_DISCARDING;
		return true;
	}
	sa->used--;
	return false;
}

static void slot_discard(struct swap_area *sa, uint64_t slot)
{
	sa->be->discard(sa->be, slot);
	vms_lock(&sa->lock);
	VMS_ASSERT(sa->map[slot] == SWAP_DISCARDING);
	sa->map[slot] = 0;
	sa->used--;
	vms_unlock(&sa->lock);
}

void swap_dup(struct swap_area *sa, uint64_t slot)
{
	vms_lock(&sa->lock);
	VMS_ASSERT(sa->map[slot] && !(sa->map[slot] & SWAP_DISCARDING));
	sa->map[slot]++;
	vms_unlock(&sa->lock);
}

void swap_free(struct swap_area *sa, uint64_t slot)
{
	struct vms_page *orphan = NULL;
	bool released;

	vms_lock(&sa->lock);
	VMS_ASSERT(sa->map[slot] & SWAP_COUNT);
	sa->map[slot]--;
	released = slot_release_locked(sa, slot);
	/* Only the cache holds it now: a copy no PTE will ever ask for.
	 * Drop it unless it is locked (its holder looks again) or being
	 * written; other references recheck PG_swapcache under the lock. */
	if (sa->map[slot] == SWAP_HAS_CACHE && sa->cache[slot] &&
	    trylock_page(sa->cache[slot])) {
		orphan = sa->cache[slot];
		if (!(page_flags(orphan) & PG_writeback)) {
			sa->cache[slot] = NULL;
			page_clear_flags(orphan, PG_swapcache);
			sa->map[slot] = 0;
			released = slot_release_locked(sa, slot);
		} else {
			unlock_page(orphan);
			orphan = NULL;
		}
	}
	vms_unlock(&sa->lock);
	if (released)
		slot_discard(sa, slot);
	if (orphan) {
		unlock_page(orphan);
		page_put(orphan);
	}
}

bool swapcache_add(struct swap_area *sa, struct vms_page *page, uint64_t slot)
{
	VMS_ASSERT(page_flags(page) & PG_locked);
	vms_lock(&sa->lock);
	/* Only a slot some PTE holds, and nothing cached there yet. */
	if (sa->cache[slot] || !(sa->map[slot] & SWAP_COUNT)) {
		vms_unlock(&sa->lock);
		return false;
	}
	sa->cache[slot] = page;
	sa->map[slot] |= SWAP_HAS_CACHE;
	page->swap = slot;
	page_set_flags(page, PG_swapcache);
	page_get(page);
	vms_unlock(&sa->lock);
	return true;
}

void swapcache_del(struct swap_area *sa, struct vms_page *page)
{
	uint64_t slot = page->swap;
	bool released;

	VMS_ASSERT(page_flags(page) & PG_locked);
	VMS_ASSERT(page_flags(page) & PG_swapcache);
	vms_lock(&sa->lock);
	VMS_ASSERT(sa->cache[slot] == page);
	sa->cache[slot] = NULL;
	page_clear_flags(page, PG_swapcache);
	sa->map[slot] &= ~SWAP_HAS_CACHE;
	released = slot_release_locked(sa, slot);
	vms_unlock(&sa->lock);
	if (released)
		slot_discard(sa, slot);
	page_put(page);
}

/* A mapped page keeps a good (clean) copy while swap is at most half
 * used, as Linux's vm_swap_full() decides; past that, slots are worth
 * more.  The
 * page lock keeps a page from being mapped meanwhile (every mapping of a
 * cached page holds it); an unmap may still race, and leaves an orphan
 * for the next sweep. */
static bool swapcache_keeps_mapped_locked(struct swap_area *sa,
					  struct vms_page *page)
{
	vms_assert_held(&sa->lock);
	return atomic_load_explicit(&page->mm, memory_order_relaxed) &&
	       !(page_flags(page) & PG_dirty) && sa->used <= sa->nr_slots / 2;
}

bool swapcache_put_unused(struct swap_area *sa, struct vms_page *page,
			  int held, bool orphans_only)
{
	bool drop;

	VMS_ASSERT(page_flags(page) & PG_locked);
	if (!(page_flags(page) & PG_swapcache) ||
	    (page_flags(page) & PG_writeback))
		return false;
	vms_lock(&sa->lock);
	if (!(sa->map[page->swap] & SWAP_COUNT))
		/* No swap PTE can ask for the copy: it goes, whoever else
		 * holds the page (they look at PG_swapcache under the page
		 * lock) - unless the page is mapped and swap has room: then
		 * the copy lets reclaim drop it clean, without a write. */
		drop = !swapcache_keeps_mapped_locked(sa, page);
	else
		/* PTEs hold the slot: the page may go only if its copy there
		 * is good and nobody is about to map it. */
		drop = !orphans_only && !(page_flags(page) & PG_dirty) &&
		       atomic_load(&page->refcount) == 1 + held;
	vms_unlock(&sa->lock);
	if (drop)
		swapcache_del(sa, page);
	return drop;
}

uint64_t swapcache_sweep(struct swap_area *sa, uint64_t *cursor,
			 uint64_t n, bool wait)
{
	uint64_t dropped = 0;

	for (uint64_t i = 0; i < n && i < sa->nr_slots; i++) {
		uint64_t slot = (*cursor + i) % sa->nr_slots;
		struct vms_page *page = NULL;

		vms_lock(&sa->lock);
		/* No reference on a mapped page we would keep anyway: reclaim
		 * counts references to tell a page in use. */
		if (sa->cache[slot] && sa->map[slot] == SWAP_HAS_CACHE &&
		    !swapcache_keeps_mapped_locked(sa, sa->cache[slot])) {
			page = sa->cache[slot];
			page_get(page);
		}
		vms_unlock(&sa->lock);
		if (!page)
			continue;
		if (wait)
			lock_page(page);
		if (wait || trylock_page(page)) {
			/* Rechecked under the page lock: still cached there,
			 * still wanted by no PTE? */
			if (page->swap == slot &&
			    swapcache_put_unused(sa, page, 1, true))
				dropped++;
			unlock_page(page);
		}
		page_put(page);
	}
	*cursor = (*cursor + n) % sa->nr_slots;
	return dropped;
}

void vms_phys_drop_caches(struct vms_phys *phys)
{
	VMS_HOST_CALL();
	struct swap_area *sa = phys ? phys->swap : NULL;
	uint64_t cursor = 0;

	if (!sa)
		return;
	/* Written: reclaim and kswapd's own sweep hold it read while they
	 * have pages isolated, so that when this returns, every page they
	 * were dropping is back too and the counts are final. */
	pthread_rwlock_wrlock(&phys->mms_lock);
	swapcache_sweep(sa, &cursor, sa->nr_slots, true);
	pthread_rwlock_unlock(&phys->mms_lock);
	phys_check(phys);
}

struct vms_page *swapcache_get(struct swap_area *sa, uint64_t slot)
{
	struct vms_page *page;

	vms_lock(&sa->lock);
	page = sa->cache[slot];
	if (page)
		page_get(page);
	vms_unlock(&sa->lock);
	return page;
}

#ifdef VMS_DEBUG
/*
 * Injected I/O errors leave what real ones may: a write that failed put
 * garbage in its slot, a read that failed garbage in its page.  Code that
 * ignored the error would hand the garbage out, and a test would see it.
 * Writes to fail are chosen before the I/O (their buffers swapped for
 * garbage, returned in *saved), reads after.
 */
#define SWAP_IO_MAX 64

static uint64_t swap_io_inject_before(struct vms_swap_io *io, size_t n,
				      void **saved)
{
	static _Thread_local _Alignas(PAGE_SIZE) unsigned char garbage[PAGE_SIZE];
	uint64_t fail = 0;

	VMS_ASSERT(n <= SWAP_IO_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!io[i].write || !vms_fault(VMS_FAULT_SWAP_WRITE))
			continue;
		memset(garbage, PAGE_POISON, sizeof(garbage));
		saved[i] = io[i].buf;
		io[i].buf = garbage;
		fail |= 1ull << i;
	}
	return fail;
}

static void swap_io_inject_after(struct vms_swap_io *io, size_t n,
				 uint64_t fail, void **saved)
{
	for (size_t i = 0; i < n; i++) {
		if (fail & (1ull << i)) {
			io[i].buf = saved[i];
			io[i].res = -EIO;
		} else if (!io[i].write && !io[i].res &&
			   vms_fault(VMS_FAULT_SWAP_READ)) {
			memset(io[i].buf, PAGE_POISON, PAGE_SIZE);
			io[i].res = -EIO;
		}
	}
}
#endif

void swap_backend_io(struct vms_swap_backend *be, struct vms_swap_io *io,
		     size_t n)
{
#ifdef VMS_DEBUG
	void *saved[SWAP_IO_MAX];
	uint64_t fail = swap_io_inject_before(io, n, saved);
#endif
	int r = be->rw(be, io, n);

#ifdef VMS_DEBUG
	swap_io_inject_after(io, n, fail, saved);
#endif
	for (size_t i = 0; i < n; i++)
		if (r && !io[i].res)
			io[i].res = r;
}

void swap_io(struct vms_phys *phys, struct vms_swap_io *io, size_t n)
{
	swap_backend_io(phys->swap->be, io, n);
	for (size_t i = 0; i < n; i++) {
		if (io[i].res)
			vms_stat_inc(io[i].write ? &phys->st.swap_write_errors
						 : &phys->st.swap_read_errors,
				     1);
		else
			vms_stat_inc(io[i].write ? &phys->st.pswpout
						 : &phys->st.pswpin,
				     1);
	}
}

/* ---- swap-in ---- */

#define SWAP_READ_BATCH 32

/* Allocates a locked page for @slot and puts it in the cache; NULL if the
 * slot is cached already or free, or no frame can be had (*nomem).  Only
 * a caller that holds no page lock may @reclaim for the frame. */
static struct vms_page *swapin_prepare(struct vms_mm *mm, uint64_t slot,
				       bool reclaim, bool *nomem)
{
	struct vms_page *page =
		reclaim ? phys_alloc(mm->phys, mm->alloc_node, false)
			: phys_alloc_nowait(mm->phys, mm->alloc_node, false);

	if (!page) {
		*nomem = true;
		return NULL;
	}
	bool locked = trylock_page(page);       /* fresh: nobody else has it */

	VMS_ASSERT(locked);
	(void)locked;
	if (!swapcache_add(mm->phys->swap, page, slot)) {
		unlock_page(page);
		page_put(page);
		return NULL;
	}
	return page;
}

/*
 * Reads pages[0..n) (locked, in the cache) from their slots in one batch.
 * A page whose read failed leaves the cache and is freed (NULL in its
 * place); the others stay locked.  Returns how many failed.
 */
static size_t swapin_read(struct vms_phys *phys, struct vms_page **pages,
			  size_t n)
{
	struct vms_swap_io io[SWAP_READ_BATCH];
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		io[i] = (struct vms_swap_io){
			.write = false, .slot = pages[i]->swap,
			.buf = pfn_to_addr(phys, page_to_pfn(phys, pages[i])) };
	swap_io(phys, io, n);
	for (size_t i = 0; i < n; i++) {
		if (!io[i].res || VMS_MUTANT_IS(swallow_read_error))
			continue;
		/* Never hand out a page whose read failed. */
		page_set_flags(pages[i], PG_error);
		swapcache_del(phys->swap, pages[i]);
		unlock_page(pages[i]);
		page_put(pages[i]);
		pages[i] = NULL;
		failed++;
	}
	return failed;
}

/* Read-ahead pages stay in the cache, unmapped, on the inactive list:
 * a fault maps them without I/O, reclaim drops them if none comes.  The
 * caller's reference goes to the list.  @readahead: not asked for yet. */
static void swapin_park(struct swap_area *sa, struct vms_page *page,
			bool readahead)
{
	if (readahead)
		page_set_flags(page, PG_readahead);
	swapcache_put_unused(sa, page, 1, true);
	unlock_page(page);
	lru_putback(page, false);
}

/* Pages for the swap entries of [hva, end) that have no cached page yet,
 * up to @max, each in the cache and locked.  The first frame may come from
 * reclaim when @reclaim (the caller holds no page lock), the others only
 * from free lists: with frames short, the batch ends early.  *@next: where
 * to go on (@end when even reclaim found no frame). */
static size_t swapin_gather(struct vms_mm *mm, uint64_t hva, uint64_t end,
			    size_t max, bool reclaim, struct vms_page **pages,
			    uint64_t *next)
{
	size_t n = 0;
	bool nomem = false;
	uint64_t a;

	for (a = hva; a < end && n < max; a += PAGE_SIZE) {
		uint64_t pte = atomic_load(&mm->pt[mm_pte_index(mm, a)]);

		if (!(pte & PTE_SWAP))
			continue;
		struct vms_page *p = swapin_prepare(mm, PTE_SLOT(pte),
						    reclaim && n == 0, &nomem);
		if (p)
			pages[n++] = p;
		else if (nomem)
			break;
	}
	if (next)
		*next = nomem && n == 0 ? end : a;
	return n;
}

/*
 * How many pages to read after @hva: hits on the last read-ahead, plus
 * two, rounded up to a power of two, at most a batch; none after a miss
 * that is not next to the last fault.  It shrinks by half at most per
 * fault, so one random access in a scan does not stop the read-ahead.
 */
static unsigned readahead_window(struct vms_phys *phys, uint64_t hva)
{
	unsigned hits = atomic_exchange(&phys->ra_hits, 0);
	uint64_t last = atomic_exchange(&phys->ra_last_hva, hva);
	unsigned pages = hits + 2, prev = atomic_load(&phys->ra_window);

	if (pages == 2) {
		if (hva != last + PAGE_SIZE && hva + PAGE_SIZE != last)
			pages = 1;
	} else {
		unsigned p2 = 4;

		while (p2 < pages)
			p2 *= 2;
		pages = p2;
	}
	if (pages > SWAP_READ_BATCH)
		pages = SWAP_READ_BATCH;
	if (pages < prev / 2)
		pages = prev / 2;
	atomic_store(&phys->ra_window, pages);
	return pages - 1;
}

/* Waits for @page's lock without mmap_lock (held for reading on both
 * sides), keeping our reference for the caller's next try. */
static int swapin_wait_unlocked(struct vms_mm *mm, struct vms_page *page,
				struct vms_page **out)
{
	mmap_read_unlock(mm);
	lock_page(page);
	unlock_page(page);
	mmap_read_lock(mm);
	*out = page;
	return MM_FAULT_RETRY;
}

int swapin_fault(struct vms_mm *mm, uint64_t hva, uint64_t pte, bool write,
		 bool may_retry, struct vms_page **out)
{
	struct vms_phys *phys = mm->phys;
	struct swap_area *sa = phys->swap;
	uint64_t slot = PTE_SLOT(pte);
	struct vms_page *batch[SWAP_READ_BATCH];
	struct vms_page *page = NULL;
	bool nomem = false;

	mmap_assert_locked(mm);
	if (!VMS_MUTANT_IS(no_swapcache))
		page = swapcache_get(sa, slot);
	if (page) {
		/* Counted at the first try only: a retry is the same fault. */
		if (may_retry)
			vms_stat_inc(&phys->st.swapcache_hit, 1);
		if (page_flags(page) & PG_readahead) {
			page_clear_flags(page, PG_readahead);
			atomic_fetch_add(&phys->ra_hits, 1);
		}
		/* Being written or read: wait, then it is uptodate. */
		if (!trylock_page(page)) {
			if (may_retry)
				return swapin_wait_unlocked(mm, page, out);
			lock_page(page);
		}
		if (!(page_flags(page) & PG_swapcache) || page->swap != slot) {
			unlock_page(page);
			page_put(page);
			return 1;
		}
	} else if (VMS_MUTANT_IS(no_swapcache)) {
		/* Mutant: reads the slot whatever the cache holds, so a fault
		 * during writeback sees what the slot held before. */
		page = phys_alloc(phys, mm->alloc_node, false);
		if (!page)
			return -ENOMEM;
		trylock_page(page);
		struct vms_swap_io io = { .slot = slot,
					  .buf = vms_page_address(page) };
		swap_io(phys, &io, 1);
		if (io.res) {
			unlock_page(page);
			page_put(page);
			return -EIO;
		}
	} else {
		page = swapin_prepare(mm, slot, true, &nomem);
		if (!page)
			return nomem ? -ENOMEM : 1;
		batch[0] = page;
		unsigned ahead = readahead_window(phys, hva);
		uint64_t end = hva + (1 + (uint64_t)ahead) * PAGE_SIZE;
		size_t n = 1 + swapin_gather(mm, hva + PAGE_SIZE,
					     end < mm->va_end ? end : mm->va_end,
					     ahead, false, batch + 1, NULL);
		vms_stat_inc(&phys->st.pgmajfault, 1);
		if (may_retry)
			mmap_read_unlock(mm);
		swapin_read(phys, batch, n);
		for (size_t i = 1; i < n; i++)
			if (batch[i])
				swapin_park(sa, batch[i], true);
		if (may_retry) {
			/* Read without mmap_lock: the next try maps it. */
			if (batch[0]) {
				page_get(page);
				swapin_park(sa, page, false);
				*out = page;
			}
			mmap_read_lock(mm);
			return batch[0] ? MM_FAULT_RETRY : -EIO;
		}
		if (!batch[0])
			return -EIO;    /* the page went with its failed read */
	}

	struct vms_lock *ptl = mm_ptl(mm, hva);
	_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, hva)];

	vms_lock(ptl);
	if (atomic_load(p) != pte) {
		vms_unlock(ptl);
		/* Zapped while we read: nobody else will want the copy. */
		if (!VMS_MUTANT_IS(no_swapcache))
			swapcache_put_unused(sa, page, 1, true);
		unlock_page(page);
		page_put(page);
		return 1;
	}
	page_get(page);                 /* the PTE's */
	page_set_rmap(page, mm, hva);
	atomic_store(p, (page_to_pfn(phys, page) << PAGE_SHIFT) | PTE_PRESENT |
				PTE_ACCESSED | (write ? PTE_DIRTY : 0));
	atomic_fetch_add(&mm->st_resident, 1);
	vms_unlock(ptl);
	swap_free(sa, slot);            /* the PTE's hold on the slot */
	if (write) {
		page_set_flags(page, PG_dirty);
		/* The copy on swap is stale from now on: let the slot go. */
		if (page_flags(page) & PG_swapcache)
			swapcache_del(sa, page);
	}
	lru_add(page);
	unlock_page(page);
	*out = page;
	return 0;
}

int swapin_range(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	struct vms_page *batch[SWAP_READ_BATCH];
	struct swap_area *sa = mm->phys->swap;
	int r = 0;

	mmap_assert_locked(mm);
	if (!sa)
		return 0;
	for (uint64_t a = start; a < end;) {
		size_t n = swapin_gather(mm, a, end, SWAP_READ_BATCH, true,
					 batch, &a);

		if (!n)
			continue;
		/* The cache holds the slots: the I/O needs no mmap_lock, and
		 * mapping calls need not wait for it. */
		mmap_read_unlock(mm);
		if (swapin_read(mm->phys, batch, n))
			r = -EIO;
		for (size_t i = 0; i < n; i++)
			if (batch[i])
				swapin_park(sa, batch[i], true);
		mmap_read_lock(mm);
	}
	return r;
}
