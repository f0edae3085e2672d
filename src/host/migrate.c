/* migrate.c - moving pages between nodes, a batch at a time: new frames,
 * one invalidation round for the batch, migration entries while the copies
 * run (faults wait on them), then the new PTEs; vms_migrate over a range. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>

/* Pages vms_migrate moves under one invalidation round: the flush a round
 * costs every vCPU is shared by the batch, as Linux's migrate_pages_batch
 * shares its TLB flush. */
#define MIGRATE_BATCH 64

/* One page of a batch on its way. */
struct migration {
	struct vms_page *old, *new;
	uint64_t hva, pte;
	size_t at;                      /* its place in the caller's batch */
};

/* 0 if @old can move, else why not. */
static int migrate_check(struct vms_mm *mm, struct vms_page *old,
			 unsigned node)
{
	unsigned f = page_flags(old);

	VMS_ASSERT(f & PG_locked);
	if (old->mm != mm || (f & (PG_swapcache | PG_writeback)))
		return -EBUSY;
	return page_node_id(old) == node ? -EALREADY : 0;
}

/* Puts the migration entry in @m's PTE, if it still maps the old frame
 * and nobody else holds it (get_page); false to leave it where it is. */
static bool migrate_unmap(struct vms_mm *mm, struct migration *m,
			  struct vms_lock **ptl)
{
	_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, m->hva)];
	uint64_t old_pfn = page_to_pfn(mm->phys, m->old);

	vms_lock_hold(ptl, mm_ptl(mm, m->hva));
	m->pte = atomic_load(p);
	bool ours = (m->pte & PTE_PRESENT) && PTE_PFN(m->pte) == old_pfn &&
		    m->old->mm == mm && atomic_load(&m->old->refcount) == 2;
	if (ours)
		atomic_store_explicit(p, (old_pfn << PAGE_SHIFT) | PTE_MIGRATION,
				      memory_order_release);
	return ours;
}

/* After the copy: the new frame in the PTE, unless a zap took the entry
 * meanwhile (then false).  The old frame is unmapped either way; the
 * caller drops the PTE's reference on it, and still holds one on the new. */
static bool migrate_remap(struct vms_mm *mm, struct migration *m,
			  struct vms_lock **ptl)
{
	struct vms_phys *phys = mm->phys;
	struct vms_page *new = m->new;
	_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, m->hva)];
	uint64_t entry = (page_to_pfn(phys, m->old) << PAGE_SHIFT) |
			 PTE_MIGRATION;

	page_set_flags(new, page_flags(m->old) & (PG_dirty | PG_lazyfree));
	vms_lock_hold(ptl, mm_ptl(mm, m->hva));
	bool mapped = atomic_load(p) == entry;
	if (mapped) {
		page_get(new);          /* the PTE's; ours stays until the LRU has it */
		page_set_rmap(new, mm, m->hva);
		atomic_store_explicit(p, (page_to_pfn(phys, new) << PAGE_SHIFT) |
					(m->pte & (PTE_ACCESSED | PTE_DIRTY)) |
					PTE_PRESENT, memory_order_release);
	}
	page_set_rmap(m->old, NULL, 0);
	return mapped;
}

/* Moves @n locked pages of @mm, at ascending hvas, to @node.  res[i] is 0
 * when old[i] moved (the caller drops its reference, and the frame goes),
 * else -EBUSY (held or changed meanwhile), -EALREADY (on @node) or -ENOMEM. */
static void migrate_pages_locked(struct vms_mm *mm, struct vms_page **old,
				 size_t n, unsigned node, int *res)
{
	struct migration m[MIGRATE_BATCH];
	struct vms_page *frames[MIGRATE_BATCH], *mapped[MIGRATE_BATCH],
		*left[MIGRATE_BATCH];
	uint64_t hvas[MIGRATE_BATCH];
	struct vms_lock *ptl = NULL;
	struct mm_inval inv;
	size_t k = 0, moving = 0, nr_mapped = 0, nr_left = 0, got;

	VMS_ASSERT(n <= MIGRATE_BATCH);
	for (size_t i = 0; i < n; i++)
		if (!(res[i] = migrate_check(mm, old[i], node))) {
			m[k] = (struct migration){ .old = old[i], .at = i };
			page_rmap(old[i], &m[k++].hva);
		}
	got = phys_alloc_node_many(mm->phys, node, frames, k);
	for (size_t j = got; j < k; j++)
		res[m[j].at] = -ENOMEM;
	k = got;
	if (!k)
		return;
	for (size_t j = 0; j < k; j++) {
		m[j].new = frames[j];
		hvas[j] = m[j].hva;
	}
	mm_invalidate_pages_start(mm, &inv, hvas, k, VMS_EVENT_MIGRATE);
	for (size_t j = 0; j < k; j++) {
		if (migrate_unmap(mm, &m[j], &ptl)) {
			m[moving++] = m[j];
			continue;
		}
		left[nr_left++] = m[j].new;
		res[m[j].at] = -EBUSY;
	}
	vms_lock_release(&ptl);
	mm_invalidate_end(&inv);
	page_put_many(left, nr_left);   /* new frames of pages left as they were */

	/* No MMU maps the old frames now; faults wait on the entries. */
	for (size_t j = 0; j < moving; j++)
		memcpy(pfn_to_addr(mm->phys, page_to_pfn(mm->phys, m[j].new)),
		       pfn_to_addr(mm->phys, page_to_pfn(mm->phys, m[j].old)),
		       PAGE_SIZE);

	for (size_t j = 0; j < moving; j++) {
		if (migrate_remap(mm, &m[j], &ptl))
			mapped[nr_mapped++] = m[j].new;
		frames[j] = m[j].old;
	}
	vms_lock_release(&ptl);
	/* The old frames lose the PTEs' references: a zap of an entry
	 * meanwhile left it to us. */
	page_put_many(frames, moving);
	atomic_fetch_sub(&mm->st_resident, moving - nr_mapped);
	lru_add_many(mapped, nr_mapped);
	vms_stat_inc(&mm->phys->st.pgmigrate, nr_mapped);
	for (size_t j = 0; j < moving; j++)
		frames[j] = m[j].new;
	page_put_many(frames, moving);
}

int migrate_page_locked(struct vms_page *page, unsigned node)
{
	struct vms_mm *mm = atomic_load(&page->mm);
	int r;

	VMS_ASSERT(page_flags(page) & PG_locked);
	if (!mm)
		return -EBUSY;
	migrate_pages_locked(mm, &page, 1, node, &r);
	return r;
}

/* Ends a batch: the pages that moved go, the others back on their list. */
static int migrate_flush(struct vms_mm *mm, struct vms_page **batch,
			 size_t n, unsigned node, uint64_t *moved)
{
	struct vms_page *gone[MIGRATE_BATCH];
	int res[MIGRATE_BATCH], r = 0;
	size_t nr_gone = 0;

	migrate_pages_locked(mm, batch, n, node, res);
	for (size_t i = 0; i < n; i++) {
		unlock_page(batch[i]);
		if (res[i] == 0) {
			gone[nr_gone++] = batch[i];
			continue;
		}
		lru_putback(batch[i], true);
		if (res[i] == -ENOMEM)
			r = -ENOMEM;
	}
	page_put_many(gone, nr_gone);   /* the old frames go */
	*moved += nr_gone;
	return r;
}

int vms_migrate(struct vms_mm *mm, uint64_t addr, size_t len, unsigned node,
		uint64_t *moved)
{
	VMS_HOST_CALL();
	struct vms_page *batch[MIGRATE_BATCH];
	uint64_t end, n = 0;
	size_t k = 0;
	int r;

	if (moved)
		*moved = 0;
	if (!mm || node >= mm->phys->nr_nodes)
		return -EINVAL;
	r = mm_check_range(mm, addr, len, &end);
	if (r)
		return -EINVAL;
	mmap_read_lock(mm);
	pthread_rwlock_rdlock(&mm->phys->mms_lock);
	for (uint64_t a = addr; a < end && !r; a += PAGE_SIZE) {
		uint64_t pte = atomic_load(&mm->pt[mm_pte_index(mm, a)]);

		if (!(pte & PTE_PRESENT))
			continue;
		struct vms_page *p = pfn_to_page(mm->phys, PTE_PFN(pte));
		if (page_node_id(p) == node || !lru_isolate(p))
			continue;
		/* Read without the PTE lock: by now the frame may be freed
		 * and someone else's; then it is not ours to move. */
		if (!trylock_page(p)) {
			lru_putback(p, true);
			continue;
		}
		uint64_t at;
		if (page_rmap(p, &at) != mm || at != a) {
			unlock_page(p);
			lru_putback(p, true);
			continue;
		}
		batch[k++] = p;
		if (k == MIGRATE_BATCH) {
			r = migrate_flush(mm, batch, k, node, &n);
			k = 0;
		}
	}
	if (k) {
		int f = migrate_flush(mm, batch, k, node, &n);

		r = r ? r : f;
	}
	pthread_rwlock_unlock(&mm->phys->mms_lock);
	mmap_read_unlock(mm);
	if (moved)
		*moved = n;
	return r;
}
