/* reclaim.c - page reclaim: per-node active/inactive LRU lists, aging that
 * asks both MMUs (host PTE accessed bits and the secondaries' young
 * callbacks), eviction in batches (one invalidation and one flush per
 * batch), MADV_PAGEOUT / MADV_COLD, and the background reclaimer. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>
#include <time.h>

/* Pages a reclaim round isolates from an LRU tail; what madvise PAGEOUT
 * and COLD hand on at once, as many as one swap I/O takes (fewer, larger
 * writes); the largest batch either makes. */
#define RECLAIM_BATCH 32
#define PAGEOUT_BATCH 64
#define RECLAIM_MAX 64

/* ---- LRU lists ---- */

static struct vms_page *lru_prev(struct lru_list *l, struct vms_page *p)
{
	return page_link_to(l->pages, p->lru_prev);
}

static struct vms_page *lru_next(struct lru_list *l, struct vms_page *p)
{
	return page_link_to(l->pages, p->lru_next);
}

static void list_push_head(struct lru_list *l, struct vms_page *p)
{
	p->lru_prev = 0;
	p->lru_next = page_link_of(l->pages, l->head);
	if (l->head)
		l->head->lru_prev = page_link_of(l->pages, p);
	else
		l->tail = p;
	l->head = p;
	l->nr++;
}

static void list_push_tail(struct lru_list *l, struct vms_page *p)
{
	p->lru_next = 0;
	p->lru_prev = page_link_of(l->pages, l->tail);
	if (l->tail)
		l->tail->lru_next = page_link_of(l->pages, p);
	else
		l->head = p;
	l->tail = p;
	l->nr++;
}

static void list_unlink(struct lru_list *l, struct vms_page *p)
{
	struct vms_page *prev = lru_prev(l, p), *next = lru_next(l, p);

	if (prev)
		prev->lru_next = p->lru_next;
	else
		l->head = next;
	if (next)
		next->lru_prev = p->lru_prev;
	else
		l->tail = prev;
	p->lru_prev = p->lru_next = 0;
	l->nr--;
}

static struct phys_node *page_node(struct vms_page *p)
{
	return &page_phys(p)->nodes[page_node_id(p)];
}

static struct lru_list *page_list_locked(struct vms_page *p)
{
	vms_assert_held(&page_node(p)->lru_lock);
	struct phys_node *n = page_node(p);

	return page_flags(p) & PG_active ? &n->active : &n->inactive;
}

/* Puts @p on a list (head of active, or head or tail of inactive); a page
 * already on one stays where it is. */
static void lru_insert_locked(struct vms_page *p, bool active, bool tail)
{
	struct phys_node *n = page_node(p);

	vms_assert_held(&n->lru_lock);
	if (!(page_flags(p) & PG_lru)) {
		page_set_flags(p, PG_lru | (active ? PG_active : 0));
		if (!active)
			page_clear_flags(p, PG_active);
		if (tail)
			list_push_tail(active ? &n->active : &n->inactive, p);
		else
			list_push_head(active ? &n->active : &n->inactive, p);
	}
}

static void lru_insert(struct vms_page *p, bool active, bool tail)
{
	struct phys_node *n = page_node(p);

	vms_lock(&n->lru_lock);
	lru_insert_locked(p, active, tail);
	vms_unlock(&n->lru_lock);
}

void lru_add(struct vms_page *page)
{
	lru_insert(page, true, false);
}

void lru_add_many(struct vms_page **pages, size_t n)
{
	struct vms_lock *held = NULL;

	for (size_t i = 0; i < n; i++) {
		vms_lock_hold(&held, &page_node(pages[i])->lru_lock);
		lru_insert_locked(pages[i], true, false);
	}
	vms_lock_release(&held);
}

void lru_del(struct vms_page *page)
{
	struct phys_node *n = page_node(page);

	vms_lock(&n->lru_lock);
	if (page_flags(page) & PG_lru) {
		list_unlink(page_list_locked(page), page);
		page_clear_flags(page, PG_lru | PG_active);
	}
	vms_unlock(&n->lru_lock);
}

bool lru_isolate(struct vms_page *p)
{
	struct phys_node *n = page_node(p);
	bool ok = false;

	vms_lock(&n->lru_lock);
	if ((page_flags(p) & PG_lru) && page_get_unless_zero(p)) {
		list_unlink(page_list_locked(p), p);
		page_clear_flags(p, PG_lru);
		ok = true;
	}
	vms_unlock(&n->lru_lock);
	return ok;
}

/* Up to @max pages from the tail of a list, each with a reference. */
static size_t lru_isolate_tail(struct phys_node *n, bool active,
			       struct vms_page **out, size_t max)
{
	struct lru_list *l = active ? &n->active : &n->inactive;
	size_t got = 0, scanned = 0;

	vms_lock(&n->lru_lock);
	for (struct vms_page *p = l->tail, *prev; p && got < max &&
						  scanned < max * 4;
	     p = prev, scanned++) {
		prev = lru_prev(l, p);
		/* refcount 0: being freed; phys_free takes it off. */
		if (!page_get_unless_zero(p))
			continue;
		list_unlink(l, p);
		page_clear_flags(p, PG_lru);
		out[got++] = p;
	}
	vms_unlock(&n->lru_lock);
	return got;
}

void lru_putback(struct vms_page *p, bool active)
{
	lru_insert(p, active, false);
	page_put(p);
}

/* ---- aging ---- */

/* The PTE of @p if it still maps @p, with the PTE lock held; NULL and
 * unlocked otherwise. */
static _Atomic uint64_t *page_pte_lock(struct vms_page *p, struct vms_mm *mm,
				       uint64_t hva, struct vms_lock **ptl)
{
	if (!mm || hva < mm->va_base || hva >= mm->va_end)
		return NULL;
	*ptl = mm_ptl(mm, hva);
	vms_lock(*ptl);
	_Atomic uint64_t *pte = &mm->pt[mm_pte_index(mm, hva)];
	uint64_t v = atomic_load_explicit(pte, memory_order_relaxed);

	if ((v & PTE_PRESENT) &&
	    PTE_PFN(v) == page_to_pfn(mm->phys, p) && p->mm == mm)
		return pte;
	vms_unlock(*ptl);
	return NULL;
}

/* Used since the last look by the host or a secondary?  Clears the host
 * bit; asks the secondaries without clearing theirs, so an active page
 * keeps looking young to them until it is deactivated. */
static bool page_referenced(struct vms_page *p)
{
	uint64_t hva;
	struct vms_mm *mm = page_rmap(p, &hva);
	struct vms_lock *ptl;
	_Atomic uint64_t *pte = page_pte_lock(p, mm, hva, &ptl);

	if (!pte)
		return false;
	bool young = atomic_fetch_and(pte, ~PTE_ACCESSED) & PTE_ACCESSED;
	vms_unlock(ptl);
	return young || (!VMS_MUTANT_IS(blind_aging) &&
			 mm_notify_young(mm, hva, hva + PAGE_SIZE, NULL, 0,
					 MM_TEST_YOUNG));
}

/* A page with its reverse map as read once: mremap or munmap may change
 * the page's, and a sort needs keys that hold still. */
struct rmap_snap {
	struct vms_page *page;
	struct vms_mm *mm;
	uint64_t hva;
};

static int cmp_snap(const void *a, const void *b)
{
	const struct rmap_snap *x = a, *y = b;
	uintptr_t mx = (uintptr_t)x->mm, my = (uintptr_t)y->mm;

	if (mx != my)
		return mx < my ? -1 : 1;
	return x->hva < y->hva ? -1 : x->hva > y->hva;
}

/* Calls @fn once per mm for the run of @pages that belongs to it, sorted
 * by hva, with their hvas.  Unmapped pages come with mm NULL. */
static void for_each_mm_run(struct vms_page **pages, size_t n,
			    void (*fn)(struct vms_mm *mm, struct vms_page **run,
				       uint64_t *hvas, size_t k, void *arg),
			    void *arg)
{
	struct rmap_snap snap[RECLAIM_MAX];
	struct vms_page *run[RECLAIM_MAX];
	uint64_t hvas[RECLAIM_MAX];

	VMS_ASSERT(n <= RECLAIM_MAX);
	for (size_t i = 0; i < n; i++) {
		snap[i].page = pages[i];
		snap[i].mm = page_rmap(pages[i], &snap[i].hva);
	}
	qsort(snap, n, sizeof(*snap), cmp_snap);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && snap[j].mm == snap[i].mm; j++) {
			run[j - i] = snap[j].page;
			hvas[j - i] = snap[j].hva;
		}
		fn(snap[i].mm, run, hvas, j - i, arg);
	}
}

/* Deactivation: both MMUs forget the pages were used, with one flush of
 * the secondaries per mm, so any use from now on shows at eviction. */
static void clear_young_run(struct vms_mm *mm, struct vms_page **run,
			    uint64_t *hvas, size_t k, void *arg)
{
	enum mm_young how = *(enum mm_young *)arg;

	if (!mm)
		return;
	for (size_t i = 0; i < k; i++) {
		struct vms_lock *ptl;
		_Atomic uint64_t *pte = page_pte_lock(run[i], mm, hvas[i], &ptl);

		if (pte) {
			atomic_fetch_and(pte, ~PTE_ACCESSED);
			vms_unlock(ptl);
		}
	}
	mm_notify_young(mm, hvas[0], hvas[k - 1] + PAGE_SIZE, hvas, k, how);
}

static void shrink_active(struct vms_phys *phys, struct phys_node *n)
{
	struct vms_page *pages[RECLAIM_MAX];
	size_t k = lru_isolate_tail(n, true, pages, RECLAIM_BATCH);
	enum mm_young how = MM_CLEAR_FLUSH_YOUNG;

	for_each_mm_run(pages, k, clear_young_run, &how);
	for (size_t i = 0; i < k; i++) {
		lru_insert(pages[i], false, false);
		page_put(pages[i]);
	}
	vms_stat_inc(&phys->st.pgdeactivate, k);
}

/* ---- eviction ---- */

enum evict_action { KEEP, KEEP_ACTIVE, DISCARD, DROP_CLEAN, WRITE };

struct evict_ctx {
	struct vms_phys *phys;
	uint64_t freed;
	bool swap_full, io_error;
};

/* Decides and unmaps one page of the batch; PTE lock held, the pair
 * started (so the secondaries' dirty bits are already the page's). */
static enum evict_action unmap_one_locked(struct evict_ctx *c,
					  struct vms_page *p,
					  _Atomic uint64_t *pte)
{
	struct swap_area *sa = c->phys->swap;
	unsigned f = page_flags(p);
	int expect = 2 + !!(f & PG_swapcache);      /* PTE, ours, cache */
	uint64_t v = atomic_load_explicit(pte, memory_order_relaxed);

	/* Someone holds it (get_page): it is in use, not reclaimable now. */
	if (atomic_load(&p->refcount) != expect)
		return KEEP_ACTIVE;
	bool dirty = (v & PTE_DIRTY) || (f & PG_dirty);
	uint64_t slot = 0;
	enum evict_action a;

	if ((f & PG_lazyfree) && !dirty) {
		a = DISCARD;
	} else if ((f & PG_swapcache) && !dirty) {
		slot = p->swap;
		a = DROP_CLEAN;
	} else {
		if (!sa)
			return KEEP_ACTIVE;
		if (f & PG_swapcache) {
			slot = p->swap;
		} else {
			slot = swap_alloc_cache(sa, p);
			if (!slot) {
				c->swap_full = true;
				return KEEP_ACTIVE;
			}
		}
		a = WRITE;
	}
	if (slot)
		swap_dup(sa, slot);
	atomic_store_explicit(pte, slot ? PTE_MAKE_SWAP(slot) : 0,
			      memory_order_release);
	page_set_rmap(p, NULL, 0);
	if (a == WRITE)
		page_set_flags(p, PG_writeback);
	/* Writes after this point make it dirty again. */
	page_clear_flags(p, PG_dirty | PG_lazyfree);
	return a;
}

/* After the write: the page is free to go unless a fault is waiting to
 * map it back (it holds a reference).  Page locked, ours held. */
static void release_cached(struct evict_ctx *c, struct vms_page *p)
{
	bool gone = swapcache_put_unused(c->phys->swap, p, 1, false);

	unlock_page(p);
	if (gone) {
		c->freed++;
		page_put(p);
	} else {
		lru_putback(p, false);
	}
}

/* A failed write: map the page back, dirty, and forget the slot. */
static void restore_after_error(struct evict_ctx *c, struct vms_mm *mm,
				uint64_t hva, struct vms_page *p)
{
	struct swap_area *sa = c->phys->swap;
	uint64_t slot = p->swap;
	struct vms_lock *ptl = mm_ptl(mm, hva);
	_Atomic uint64_t *pte = &mm->pt[mm_pte_index(mm, hva)];
	bool mapped = false;

	vms_lock(ptl);
	if (atomic_load(pte) == PTE_MAKE_SWAP(slot)) {
		page_get(p);            /* the PTE's again */
		page_set_rmap(p, mm, hva);
		atomic_store(pte, (page_to_pfn(c->phys, p) << PAGE_SHIFT) |
					  PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY);
		atomic_fetch_add(&mm->st_resident, 1);
		mapped = true;
	}
	vms_unlock(ptl);
	if (mapped)
		swap_free(sa, slot);
	/* Dirty: the slot's copy is bad.  If the swap PTE moved (mremap),
	 * the page stays cached for the fault that will come for it. */
	page_set_flags(p, PG_dirty);
	swapcache_put_unused(sa, p, 1, !mapped);
	unlock_page(p);
	lru_putback(p, true);
}

static void evict_run(struct vms_mm *mm, struct vms_page **run,
		      uint64_t *hvas, size_t k, void *arg)
{
	struct evict_ctx *c = arg;
	enum evict_action act[RECLAIM_MAX];
	struct vms_swap_io io[RECLAIM_MAX];
	size_t nio = 0;

	if (!mm) {
		/* In the swap cache only (read ahead, or its PTE went). */
		for (size_t i = 0; i < k; i++) {
			if (page_flags(run[i]) & PG_swapcache) {
				release_cached(c, run[i]);
			} else {
				unlock_page(run[i]);
				page_put(run[i]);
			}
		}
		return;
	}
	struct mm_inval inv;

	mm_invalidate_pages_start(mm, &inv, hvas, k, VMS_EVENT_SWAP);
	for (size_t i = 0; i < k; i++) {
		struct vms_lock *ptl;
		_Atomic uint64_t *pte = page_pte_lock(run[i], mm, hvas[i], &ptl);

		act[i] = KEEP;
		if (!pte) {
			/* Unmapped since the snapshot: a copy nobody needs? */
			if (page_flags(run[i]) & PG_swapcache)
				swapcache_put_unused(c->phys->swap, run[i], 1, true);
			continue;
		}
		act[i] = unmap_one_locked(c, run[i], pte);
		vms_unlock(ptl);
		if (act[i] >= DISCARD)
			atomic_fetch_sub(&mm->st_resident, 1);
	}
	mm_invalidate_end(&inv);

	for (size_t i = 0; i < k; i++) {
		if (act[i] >= DISCARD)
			page_put(run[i]);       /* the PTE's reference */
		if (act[i] == WRITE)
			io[nio++] = (struct vms_swap_io){
				.write = true, .slot = run[i]->swap,
				.buf = pfn_to_addr(c->phys,
						   page_to_pfn(c->phys, run[i])) };
	}
	if (nio)
		swap_io(c->phys, io, nio);

	for (size_t i = 0, w = 0; i < k; i++) {
		struct vms_page *p = run[i];

		switch (act[i]) {
		case KEEP:
		case KEEP_ACTIVE:
			unlock_page(p);
			lru_putback(p, act[i] == KEEP_ACTIVE);
			break;
		case DISCARD:
			vms_stat_inc(&c->phys->st.lazyfree, 1);
			c->freed++;
			if (page_flags(p) & PG_swapcache)
				swapcache_del(c->phys->swap, p);
			unlock_page(p);
			page_put(p);
			break;
		case DROP_CLEAN:
			vms_stat_inc(&c->phys->st.clean_drop, 1);
			release_cached(c, p);
			break;
		case WRITE:
			page_clear_flags(p, PG_writeback);
			if (io[w++].res && !VMS_MUTANT_IS(swallow_write_error)) {
				c->io_error = true;
				restore_after_error(c, mm, hvas[i], p);
			} else {
				release_cached(c, p);
			}
			break;
		}
	}
}

/* Evicts isolated pages: each is locked here or goes back. */
static void evict(struct evict_ctx *c, struct vms_page **pages, size_t n,
		  bool check_referenced)
{
	struct vms_page *victims[RECLAIM_MAX];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct vms_page *p = pages[i];

		if (!trylock_page(p)) {
			lru_putback(p, false);
			continue;
		}
		if (check_referenced && page_referenced(p)) {
			unlock_page(p);
			vms_stat_inc(&c->phys->st.pgactivate, 1);
			lru_putback(p, true);
			continue;
		}
		victims[k++] = p;
	}
	vms_stat_inc(&c->phys->st.pgscan, n);
	uint64_t before = c->freed;
	for_each_mm_run(victims, k, evict_run, c);
	vms_stat_inc(&c->phys->st.pgsteal, c->freed - before);
}

static uint64_t shrink_node(struct vms_phys *phys, struct phys_node *n,
			    uint64_t nr, bool *stuck)
{
	struct evict_ctx c = { .phys = phys };
	struct vms_page *pages[RECLAIM_MAX];

	for (int rounds = 0; c.freed < nr && rounds < 64; rounds++) {
		vms_lock(&n->lru_lock);
		bool refill = n->inactive.nr < n->active.nr ||
			      n->inactive.nr < RECLAIM_BATCH;
		vms_unlock(&n->lru_lock);
		if (refill)
			shrink_active(phys, n);
		size_t k = lru_isolate_tail(n, false, pages, RECLAIM_BATCH);
		if (!k)
			break;
		evict(&c, pages, k, true);
		if (c.swap_full || c.io_error)
			break;
	}
	*stuck = c.swap_full || c.io_error;
	return c.freed;
}

uint64_t reclaim_node(struct vms_phys *phys, int node, uint64_t nr,
		      bool *stuck)
{
	uint64_t freed = 0;

	*stuck = false;
	pthread_rwlock_rdlock(&phys->mms_lock);
	for (unsigned i = 0; i < phys->nr_nodes && freed < nr; i++) {
		bool s;

		if (node >= 0 && (unsigned)node != i)
			continue;
		freed += shrink_node(phys, &phys->nodes[i], nr - freed, &s);
		*stuck |= s;
	}
	pthread_rwlock_unlock(&phys->mms_lock);
	return freed;
}

/* ---- madvise PAGEOUT and COLD ---- */

/* Isolates the mapped pages of [start, end) in batches and hands each
 * batch to @fn.  Caller holds mmap_lock for reading. */
static void for_each_range_batch(struct vms_mm *mm, uint64_t start,
				 uint64_t end,
				 void (*fn)(struct vms_phys *phys,
					    struct vms_page **pages, size_t n))
{
	struct vms_page *pages[RECLAIM_MAX];
	size_t n = 0;

	mmap_assert_locked(mm);
	pthread_rwlock_rdlock(&mm->phys->mms_lock);
	for (uint64_t a = start; a < end; a += PAGE_SIZE) {
		uint64_t pte = atomic_load(&mm->pt[mm_pte_index(mm, a)]);

		if (!(pte & PTE_PRESENT))
			continue;
		struct vms_page *p = pfn_to_page(mm->phys, PTE_PFN(pte));
		if (!lru_isolate(p))
			continue;
		pages[n++] = p;
		if (n == PAGEOUT_BATCH) {
			fn(mm->phys, pages, n);
			n = 0;
		}
	}
	if (n)
		fn(mm->phys, pages, n);
	pthread_rwlock_unlock(&mm->phys->mms_lock);
}

static void pageout_batch(struct vms_phys *phys, struct vms_page **pages,
			  size_t n)
{
	struct evict_ctx c = { .phys = phys };

	evict(&c, pages, n, false);
}

void reclaim_range(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	for_each_range_batch(mm, start, end, pageout_batch);
}

static void cold_batch(struct vms_phys *phys, struct vms_page **pages,
		       size_t n)
{
	enum mm_young how = MM_CLEAR_YOUNG;

	for_each_mm_run(pages, n, clear_young_run, &how);
	for (size_t i = 0; i < n; i++) {
		lru_insert(pages[i], false, true);
		page_put(pages[i]);
	}
	vms_stat_inc(&phys->st.pgdeactivate, n);
}

void deactivate_range(struct vms_mm *mm, uint64_t start, uint64_t end)
{
	for_each_range_batch(mm, start, end, cold_batch);
}

/* ---- tiering and the background reclaimer ---- */

/* Moves recently used pages of node @from to node 0 while it has room. */
static void promote(struct vms_phys *phys, struct phys_node *from)
{
	struct vms_page *pages[RECLAIM_MAX];
	struct phys_node *top = &phys->nodes[0];
	size_t k = lru_isolate_tail(from, true, pages, RECLAIM_BATCH);

	for (size_t i = 0; i < k; i++) {
		struct vms_page *p = pages[i];
		struct vms_mm *mm = p->mm;
		/* Migration entries must not move under us: mremap waits for
		 * the mmap lock, as it does for vms_migrate. */
		bool hot = mm && atomic_load(&top->nr_free) > top->high &&
			   mmap_read_trylock(mm);

		if (hot && !trylock_page(p)) {
			mmap_read_unlock(mm);
			hot = false;
		}
		bool moved = hot && p->mm == mm && page_referenced(p) &&
			     migrate_page_locked(p, 0) == 0;

		if (hot) {
			unlock_page(p);
			mmap_read_unlock(mm);
		}
		if (moved)
			page_put(p);            /* the old frame goes */
		else
			lru_putback(p, true);
	}
}

void *kswapd_main(void *arg)
{
	struct vms_phys *phys = arg;

	pthread_mutex_lock(&phys->kswapd_mu);
	while (!phys->kswapd_stop) {
		if (!phys->kswapd_kick) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&phys->kswapd_cv, &phys->kswapd_mu,
					       &ts);
		}
		phys->kswapd_kick = false;
		if (phys->kswapd_stop)
			break;
		pthread_mutex_unlock(&phys->kswapd_mu);

		bool stuck = false;
		for (unsigned i = 0; i < phys->nr_nodes; i++) {
			struct phys_node *n = &phys->nodes[i];
			uint64_t free = atomic_load(&n->nr_free);

			if (free < n->low) {
				pthread_rwlock_rdlock(&phys->mms_lock);
				shrink_node(phys, n, n->high - free, &stuck);
				pthread_rwlock_unlock(&phys->mms_lock);
			}
			if (i > 0 && atomic_load(&phys->tiering)) {
				pthread_rwlock_rdlock(&phys->mms_lock);
				promote(phys, n);
				pthread_rwlock_unlock(&phys->mms_lock);
			}
		}
		if (phys->swap) {
			pthread_rwlock_rdlock(&phys->mms_lock);
			swapcache_sweep(phys->swap, &phys->sweep_cursor, 1024,
					false);
			pthread_rwlock_unlock(&phys->mms_lock);
		}
		phys_check(phys);
		/* Swap full or failing: do not spin on it. */
		if (stuck) {
			struct timespec ts = { 0, 5000000 };
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&phys->kswapd_mu);
	}
	pthread_mutex_unlock(&phys->kswapd_mu);
	return NULL;
}

void kswapd_wake(struct vms_phys *phys)
{
	if (!atomic_load_explicit(&phys->kswapd_running, memory_order_relaxed))
		return;
	pthread_mutex_lock(&phys->kswapd_mu);
	phys->kswapd_kick = true;
	pthread_cond_signal(&phys->kswapd_cv);
	pthread_mutex_unlock(&phys->kswapd_mu);
}

void kswapd_stop(struct vms_phys *phys)
{
	pthread_mutex_lock(&phys->kswapd_mu);
	bool running = phys->kswapd_running;
	phys->kswapd_stop = true;
	pthread_cond_signal(&phys->kswapd_cv);
	pthread_mutex_unlock(&phys->kswapd_mu);
	if (running)
		pthread_join(phys->kswapd, NULL);
	phys->kswapd_running = false;
}

void vms_phys_set_tiering(struct vms_phys *phys, bool on)
{
	atomic_store(&phys->tiering, on);
}
