/* phys.c - physical memory: pools ("nodes") of 4 KiB frames on memfds,
 * mapped side by side, bound to NUMA nodes where the machine has several,
 * one struct vms_page per frame, free lists, page locks, vmstat. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The pools alive: a page finds its own by where it lies.  An entry is
 * published (end last) before the pool's first page is handed out and
 * cleared before its array is unmapped, so a live page finds its pool and
 * no stale one; creation and destruction take the lock. */
#define PHYS_MAX 64
static struct phys_slot {
	_Atomic(struct vms_page *) first, end;
	_Atomic(struct vms_phys *) phys;
} phys_slots[PHYS_MAX];
static pthread_mutex_t phys_slots_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned phys_slots_used;        /* entries ever used */

struct vms_phys *page_phys(const struct vms_page *page)
{
	unsigned n = atomic_load_explicit(&phys_slots_used,
					  memory_order_acquire);

	for (unsigned i = 0; i < n; i++) {
		struct phys_slot *sl = &phys_slots[i];
		struct vms_page *end = atomic_load_explicit(
			&sl->end, memory_order_acquire);

		if (page < end && page >= atomic_load_explicit(
					   &sl->first, memory_order_relaxed))
			return atomic_load_explicit(&sl->phys,
						    memory_order_relaxed);
	}
	VMS_ASSERT(!"a page of no pool");
	return NULL;
}

static int phys_register(struct vms_phys *phys)
{
	int err = -ENOSPC;

	pthread_mutex_lock(&phys_slots_lock);
	for (unsigned i = 0; i < PHYS_MAX && err; i++) {
		struct phys_slot *sl = &phys_slots[i];

		if (atomic_load_explicit(&sl->end, memory_order_relaxed))
			continue;
		atomic_store_explicit(&sl->phys, phys, memory_order_relaxed);
		atomic_store_explicit(&sl->first, phys->pages,
				      memory_order_relaxed);
		atomic_store_explicit(&sl->end, phys->pages + phys->total_frames,
				      memory_order_release);
		if (i >= atomic_load_explicit(&phys_slots_used,
					      memory_order_relaxed))
			atomic_store_explicit(&phys_slots_used, i + 1,
					      memory_order_release);
		err = 0;
	}
	pthread_mutex_unlock(&phys_slots_lock);
	return err;
}

static void phys_unregister(struct vms_phys *phys)
{
	pthread_mutex_lock(&phys_slots_lock);
	for (unsigned i = 0; i < PHYS_MAX; i++)
		if (atomic_load_explicit(&phys_slots[i].phys,
					 memory_order_relaxed) == phys)
			atomic_store_explicit(&phys_slots[i].end, NULL,
					      memory_order_relaxed);
	pthread_mutex_unlock(&phys_slots_lock);
}

static void phys_unmap(struct vms_phys *phys)
{
	for (unsigned i = 0; i < phys->nr_nodes; i++) {
		if (phys->nodes[i].memfd >= 0)
			close(phys->nodes[i].memfd);
		vms_lock_destroy(&phys->nodes[i].lock);
		vms_lock_destroy(&phys->nodes[i].lru_lock);
	}
	pthread_rwlock_destroy(&phys->mms_lock);
	pthread_mutex_destroy(&phys->kswapd_mu);
	pthread_cond_destroy(&phys->kswapd_cv);
	if (phys->base)
		munmap(phys->base, phys->total_frames << PAGE_SHIFT);
	if (phys->pages)
		munmap(phys->pages,
		       phys->total_frames * sizeof(struct vms_page));
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define MPOL_BIND 2

unsigned vms_numa_nodes(void)
{
	char path[64];
	unsigned n = 0;

	while (n < 64 &&
	       (snprintf(path, sizeof(path), "/sys/devices/system/node/node%u",
			 n),
		access(path, F_OK) == 0))
		n++;
	return n;
}

/*
 * Pool @node lives on NUMA node @node % (NUMA nodes) where the machine has
 * several, so moving a page between pools moves it between real nodes.
 * Then the pool is populated: a frame is physical memory, backed from the
 * start, not a page the kernel faults in at first use.  Both are best
 * effort: a kernel that refuses leaves the pool unbound or lazy.
 */
static void phys_bind_node(void *at, uint64_t bytes, unsigned node)
{
	unsigned nr = vms_numa_nodes();

	if (nr > 1) {
		unsigned long mask = 1ul << (node % nr);

		(void)syscall(SYS_mbind, at, bytes, MPOL_BIND, &mask,
			      sizeof(mask) * 8, 0);
	}
	(void)madvise(at, bytes, MADV_POPULATE_WRITE);
}

int vms_phys_create(const struct vms_phys_config *cfg, struct vms_phys **out)
{
	struct vms_phys *phys;
	uint64_t total = 0;
	int err;

	if (!cfg || !out || cfg->nr_nodes == 0 ||
	    cfg->nr_nodes > VMS_MAX_NODES)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nr_nodes; i++) {
		if (cfg->node_frames[i] == 0 ||
		    cfg->node_frames[i] > PHYS_MAX_FRAMES)
			return -EINVAL;
		total += cfg->node_frames[i];
	}
	/* Links are 32-bit pfns + 1. */
	if (total > PHYS_MAX_FRAMES)
		return -EINVAL;

	phys = vms_calloc(1, sizeof(*phys));
	if (!phys)
		return -ENOMEM;
	phys->nr_nodes = cfg->nr_nodes;
	phys->total_frames = total;
	for (unsigned i = 0; i < cfg->nr_nodes; i++) {
		phys->nodes[i].memfd = -1;
		vms_lock_init(&phys->nodes[i].lock);
		vms_lock_init(&phys->nodes[i].lru_lock);
	}
	pthread_rwlock_init(&phys->mms_lock, NULL);
	pthread_mutex_init(&phys->kswapd_mu, NULL);
	pthread_cond_init(&phys->kswapd_cv, NULL);

	/* One reservation for all frames, each node's memfd mapped into it,
	 * so pfn -> address is one addition. */
	void *base = vms_os_mmap(NULL, total << PAGE_SHIFT, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	phys->base = base;
	void *pages = vms_os_mmap(NULL, total * sizeof(struct vms_page),
			   PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pages == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	phys->pages = pages;

	uint64_t pfn = 0;
	for (unsigned i = 0; i < cfg->nr_nodes; i++) {
		struct phys_node *n = &phys->nodes[i];
		uint64_t bytes = cfg->node_frames[i] << PAGE_SHIFT;

		n->pages = n->active.pages = n->inactive.pages = phys->pages;

		n->memfd = vms_os_memfd("vmsync-node", bytes);
		if (n->memfd < 0) {
			err = n->memfd;
			goto fail;
		}
		void *at = phys->base + (pfn << PAGE_SHIFT);
		if (vms_os_mmap(at, bytes, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_FIXED, n->memfd, 0) == MAP_FAILED) {
			err = -errno;
			goto fail;
		}
		phys_bind_node(at, bytes, i);
		n->first_pfn = pfn;
		n->frames = cfg->node_frames[i];
		n->low = n->frames / 64 + 1;
		n->high = n->frames / 32 + 2;
		/* Highest pfn at the tail: allocation starts low. */
		for (uint64_t f = n->frames; f-- > 0;) {
			struct vms_page *p = &phys->pages[pfn + f];

			atomic_init(&p->flags,
				    PG_free | (i << PG_NODE_SHIFT));
			p->lru_next = page_link_of(phys->pages, n->free_list);
			n->free_list = p;
		}
		atomic_init(&n->nr_free, n->frames);
		pfn += n->frames;
	}
	if ((err = phys_register(phys)))
		goto fail;
	*out = phys;
	return 0;
fail:
	phys_unmap(phys);
	vms_free(phys);
	return err;
}

void vms_phys_destroy(struct vms_phys *phys)
{
	VMS_HOST_CALL();
	if (!phys)
		return;
	kswapd_stop(phys);
	if (phys->swap) {
		vms_phys_drop_caches(phys);     /* orphaned copies hold frames */
		swap_area_destroy(phys->swap, true);
	}
	for (unsigned i = 0; i < phys->nr_nodes; i++)
		VMS_ASSERT(atomic_load(&phys->nodes[i].nr_free) ==
			   phys->nodes[i].frames);
	phys_unregister(phys);
	phys_unmap(phys);
	vms_free(phys);
}

int vms_phys_node_info(struct vms_phys *phys, unsigned node,
		       struct vms_node_info *info)
{
	if (!phys || !info || node >= phys->nr_nodes)
		return -EINVAL;
	info->frames = phys->nodes[node].frames;
	info->free = atomic_load_explicit(&phys->nodes[node].nr_free,
					  memory_order_relaxed);
	info->memfd = phys->nodes[node].memfd;
	return 0;
}

#ifdef VMS_DEBUG
static void lru_check_locked(struct phys_node *n, struct lru_list *l,
			     unsigned node, bool active)
{
	struct vms_page *prev = NULL;
	uint64_t nr = 0;

	vms_assert_held(&n->lru_lock);
	for (struct vms_page *p = l->head; p;
	     prev = p, p = page_link_to(l->pages, p->lru_next)) {
		unsigned f = page_flags(p);

		VMS_ASSERT(++nr <= n->frames);          /* no cycle */
		VMS_ASSERT(page_link_to(l->pages, p->lru_prev) == prev &&
			   page_node_id(p) == node);
		VMS_ASSERT((f & PG_lru) && !(f & PG_free));
		VMS_ASSERT(!!(f & PG_active) == active);
	}
	VMS_ASSERT(l->tail == prev && nr == l->nr);
}

void phys_check(struct vms_phys *phys)
{
	if (!vms_expensive_on())
		return;
	for (unsigned i = 0; i < phys->nr_nodes; i++) {
		struct phys_node *n = &phys->nodes[i];
		uint64_t nr = 0;

		vms_lock(&n->lock);
		for (struct vms_page *p = n->free_list; p;
		     p = page_link_to(n->pages, p->lru_next)) {
			VMS_ASSERT(++nr <= n->frames && page_node_id(p) == i);
			VMS_ASSERT(page_flags(p) == PG_free &&
				   atomic_load(&p->refcount) == 0);
		}
		VMS_ASSERT(nr == atomic_load(&n->nr_free));
		vms_unlock(&n->lock);
		vms_lock(&n->lru_lock);
		lru_check_locked(n, &n->active, i, true);
		lru_check_locked(n, &n->inactive, i, false);
		vms_unlock(&n->lru_lock);
	}
	vms_expensive_count();
}
#else
void phys_check(struct vms_phys *phys)
{
	(void)phys;
}
#endif

static struct vms_page *node_alloc(struct phys_node *n)
{
	struct vms_page *p;

	vms_lock(&n->lock);
	p = n->free_list;
	if (p) {
		n->free_list = page_link_to(n->pages, p->lru_next);
		atomic_fetch_sub_explicit(&n->nr_free, 1, memory_order_relaxed);
	}
	vms_unlock(&n->lock);
	return p;
}

static struct vms_page *page_prep(struct vms_phys *phys, struct vms_page *p,
				   bool zero)
{
	VMS_ASSERT(atomic_load(&p->refcount) == 0);
	VMS_ASSERT(page_flags(p) == PG_free);
	atomic_fetch_and_explicit(&p->flags, ~PG_FLAGS_MASK,
				  memory_order_relaxed);
	atomic_store_explicit(&p->mm, NULL, memory_order_relaxed);
	atomic_store_explicit(&p->index, 0, memory_order_relaxed);
	p->swap = 0;
	p->lru_prev = p->lru_next = 0;
	atomic_store_explicit(&p->refcount, 1, memory_order_release);
	if (zero)
		memset(pfn_to_addr(phys, page_to_pfn(phys, p)), 0, PAGE_SIZE);
	return p;
}

static bool below_low(struct phys_node *n)
{
	return atomic_load_explicit(&n->nr_free, memory_order_relaxed) < n->low;
}

size_t phys_alloc_node_many(struct vms_phys *phys, unsigned node,
			    struct vms_page **out, size_t n)
{
	struct phys_node *nd = &phys->nodes[node];
	size_t got = 0;

	vms_lock(&nd->lock);
	while (got < n && nd->free_list && !vms_fault(VMS_FAULT_FRAME)) {
		out[got] = nd->free_list;
		nd->free_list = page_link_to(nd->pages, out[got++]->lru_next);
	}
	atomic_fetch_sub_explicit(&nd->nr_free, got, memory_order_relaxed);
	vms_unlock(&nd->lock);
	if (got && below_low(nd))
		kswapd_wake(phys);
	for (size_t i = 0; i < got; i++)
		page_prep(phys, out[i], false);
	return got;
}

struct vms_page *phys_alloc_node(struct vms_phys *phys, unsigned node)
{
	struct vms_page *p;

	return phys_alloc_node_many(phys, node, &p, 1) ? p : NULL;
}

/* The first free frame of @node, else of the next nodes in turn. */
static struct vms_page *any_node_alloc(struct vms_phys *phys, unsigned node)
{
	struct vms_page *p = NULL;

	for (unsigned i = 0; i < phys->nr_nodes && !p; i++)
		p = node_alloc(&phys->nodes[(node + i) % phys->nr_nodes]);
	return p;
}

static struct vms_page *alloc_prep(struct vms_phys *phys, struct vms_page *p,
				   bool zero)
{
	if (below_low(&phys->nodes[page_node_id(p)]))
		kswapd_wake(phys);
	return page_prep(phys, p, zero);
}

struct vms_page *phys_alloc_nowait(struct vms_phys *phys, unsigned node,
				   bool zero)
{
	struct vms_page *p = vms_fault(VMS_FAULT_FRAME)
		? NULL : any_node_alloc(phys, node);

	if (!p) {
		kswapd_wake(phys);
		return NULL;
	}
	return alloc_prep(phys, p, zero);
}

struct vms_page *phys_alloc(struct vms_phys *phys, unsigned node, bool zero)
{
	struct vms_page *p = NULL;

	/* Empty everywhere: reclaim here and now ("direct reclaim").  When
	 * that finds nothing, other reclaimers may hold the candidates
	 * isolated or under I/O: wait for them a while (about 200 ms in all)
	 * before saying there is no memory.  But when the swap is full or
	 * failing, waiting frees nothing: a few tries, then no memory. */
	unsigned idle = 0, stuck_tries = 0, spins = 600;
	if (vms_fault(VMS_FAULT_FRAME))
		return NULL;
	while (!(p = any_node_alloc(phys, node))) {
		bool stuck;

		/* Reclaim takes mms_lock, which nests outside page locks. */
		VMS_ASSERT(page_locks_held == 0);
		vms_stat_inc(&phys->st.direct_reclaim, 1);
		if (reclaim_node(phys, -1, 32, &stuck))
			idle = stuck_tries = 0;
		else if (stuck ? ++stuck_tries > 16 : ++idle > 10000)
			break;
		else
			vms_backoff(&spins);    /* a 20 us sleep */
	}
	return p ? alloc_prep(phys, p, zero) : NULL;
}

void page_get(struct vms_page *page)
{
	int was = atomic_fetch_add_explicit(&page->refcount, 1,
					    memory_order_relaxed);

	VMS_ASSERT(was > 0);
	(void)was;
}

bool page_get_unless_zero(struct vms_page *page)
{
	int c = atomic_load_explicit(&page->refcount, memory_order_relaxed);

	while (c > 0)
		if (atomic_compare_exchange_weak(&page->refcount, &c, c + 1))
			return true;
	return false;
}

/* A frame that lost its last reference, made ready for its free list. */
static struct phys_node *phys_free_prep(struct vms_page *page)
{
	struct vms_phys *phys = page_phys(page);

	/* A stale user that checks gen sees the change (I1). */
	atomic_fetch_add_explicit(&page->flags, PG_GEN_ONE,
				  memory_order_release);
#ifdef VMS_DEBUG
	memset(pfn_to_addr(phys, page_to_pfn(phys, page)), PAGE_POISON,
	       PAGE_SIZE);
#endif
	if (page_flags(page) & PG_lru)
		lru_del(page);
	VMS_ASSERT(!(page_flags(page) & (PG_swapcache | PG_locked)));
	/* Nobody else sets the flags of a page without references. */
	unsigned f = atomic_load_explicit(&page->flags, memory_order_relaxed);
	atomic_store_explicit(&page->flags, (f & ~PG_FLAGS_MASK) | PG_free,
			      memory_order_relaxed);
	return &phys->nodes[page_node_id(page)];
}

static void phys_free_locked(struct phys_node *n, struct vms_page *page)
{
	vms_assert_held(&n->lock);
	page->lru_next = page_link_of(n->pages, n->free_list);
	n->free_list = page;
	atomic_fetch_add_explicit(&n->nr_free, 1, memory_order_relaxed);
}

static bool page_put_testzero(struct vms_page *page)
{
	int was = atomic_fetch_sub_explicit(&page->refcount, 1,
					    memory_order_acq_rel);

	VMS_ASSERT(was > 0);
	return was == 1;
}

void page_put(struct vms_page *page)
{
	if (page_put_testzero(page)) {
		struct phys_node *n = phys_free_prep(page);

		vms_lock(&n->lock);
		phys_free_locked(n, page);
		vms_unlock(&n->lock);
	}
}

void page_put_many(struct vms_page **pages, size_t n)
{
	struct vms_lock *held = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!page_put_testzero(pages[i]))
			continue;
		struct phys_node *node = phys_free_prep(pages[i]);

		vms_lock_hold(&held, &node->lock);
		phys_free_locked(node, pages[i]);
	}
	vms_lock_release(&held);
}

void vms_put_page(struct vms_page *page)
{
	page_put(page);
}

void *vms_page_address(struct vms_page *page)
{
	struct vms_phys *phys = page_phys(page);

	return pfn_to_addr(phys, page_to_pfn(phys, page));
}

uint64_t vms_page_pfn(struct vms_page *page)
{
	return page_to_pfn(page_phys(page), page);
}

bool vms_page_dirty(struct vms_page *page)
{
	return atomic_load_explicit(&page->flags, memory_order_relaxed) &
	       PG_dirty;
}

#ifdef VMS_DEBUG
_Thread_local int page_locks_held;
#endif

bool trylock_page(struct vms_page *page)
{
	bool got = !(atomic_fetch_or_explicit(&page->flags, PG_locked,
					      memory_order_acquire) &
		     PG_locked);
#ifdef VMS_DEBUG
	page_locks_held += got;
#endif
	return got;
}

void lock_page(struct vms_page *page)
{
	unsigned spins = 0;

	while (!trylock_page(page))
		vms_backoff(&spins);
}

void unlock_page(struct vms_page *page)
{
	VMS_ASSERT(page_flags(page) & PG_locked);
#ifdef VMS_DEBUG
	VMS_ASSERT(page_locks_held > 0);       /* unlocked where locked */
	page_locks_held--;
#endif
	atomic_fetch_and_explicit(&page->flags, ~PG_locked,
				  memory_order_release);
}

void vms_phys_stats(struct vms_phys *phys, struct vms_phys_stats *st)
{
	const struct phys_stats *s = &phys->st;

	memset(st, 0, sizeof(*st));
	st->nr_nodes = phys->nr_nodes;
	for (unsigned i = 0; i < phys->nr_nodes; i++) {
		struct phys_node *n = &phys->nodes[i];

		st->node[i].frames = n->frames;
		st->node[i].free = atomic_load_explicit(&n->nr_free,
							memory_order_relaxed);
		vms_lock(&n->lru_lock);
		st->node[i].active = n->active.nr;
		st->node[i].inactive = n->inactive.nr;
		vms_unlock(&n->lru_lock);
	}
	if (phys->swap) {
		st->swap_used = swap_used(phys->swap, &st->swap_slots);
		swap_zswap_stats(phys->swap, &st->zswap);
	}
#define C(f) st->f = vms_stat_read((_Atomic uint64_t *)&s->f)
	C(pgfault); C(pgmajfault); C(pswpin); C(pswpout); C(swapcache_hit);
	C(pgscan); C(pgsteal); C(pgactivate); C(pgdeactivate); C(lazyfree);
	C(clean_drop); C(direct_reclaim); C(pgmigrate); C(swap_write_errors);
	C(swap_read_errors);
#undef C
	st->refault = st->pgmajfault + st->swapcache_hit;
}

size_t vms_metadata_bytes_per_page(void)
{
	return sizeof(struct vms_page) + sizeof(uint64_t) /* PTE */ +
	       sizeof(uint64_t) /* spte */;
}
