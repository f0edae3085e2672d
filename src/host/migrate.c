/* migrate.c - moving pages between nodes: new frame, invalidate, a
 * migration entry while the copy runs (faults wait on it), then the new
 * PTE; vms_migrate over a range. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>

int migrate_page_locked(struct vms_page *old, unsigned node)
{
	VMS_ASSERT(page_flags(old) & PG_locked);
	struct vms_phys *phys = old->phys;
	struct vms_mm *mm = old->mm;
	uint64_t hva = old->hva;
	unsigned f = page_flags(old);

	VMS_ASSERT(f & PG_locked);
	if (!mm || (f & (PG_swapcache | PG_writeback)))
		return -EBUSY;
	if (old->node == node)
		return -EALREADY;
	struct vms_page *new = phys_alloc_node(phys, node);
	if (!new)
		return -ENOMEM;

	struct mm_inval inv;
	struct vms_lock *ptl = mm_ptl(mm, hva);
	_Atomic uint64_t *p = &mm->pt[mm_pte_index(mm, hva)];
	uint64_t old_pfn = page_to_pfn(phys, old);
	uint64_t entry = (old_pfn << PAGE_SHIFT) | PTE_MIGRATION;
	uint64_t pte;

	mm_invalidate_pages_start(mm, &inv, &hva, 1, VMS_EVENT_MIGRATE);
	vms_lock(ptl);
	pte = atomic_load(p);
	/* Held elsewhere (get_page), or moved away meanwhile: leave it. */
	bool ours = (pte & PTE_PRESENT) && PTE_PFN(pte) == old_pfn &&
		    old->mm == mm && atomic_load(&old->refcount) == 2;
	if (ours)
		atomic_store(p, entry);
	vms_unlock(ptl);
	mm_invalidate_end(&inv);
	if (!ours) {
		page_put(new);
		return -EBUSY;
	}

	/* No MMU maps the old frame now; faults wait on the entry. */
	memcpy(pfn_to_addr(phys, page_to_pfn(phys, new)),
	       pfn_to_addr(phys, old_pfn), PAGE_SIZE);
	page_set_flags(new, page_flags(old) & (PG_dirty | PG_lazyfree));

	vms_lock(ptl);
	bool mapped = atomic_load(p) == entry;
	if (mapped) {
		page_get(new);          /* the PTE's; ours stays until the LRU has it */
		new->mm = mm;
		new->hva = hva;
		atomic_store(p, (page_to_pfn(phys, new) << PAGE_SHIFT) |
					(pte & (PTE_ACCESSED | PTE_DIRTY)) |
					PTE_PRESENT);
	}
	old->mm = NULL;
	vms_unlock(ptl);
	/* The old frame loses the PTE's reference either way: a zap of the
	 * entry meanwhile left it to us. */
	page_put(old);
	if (mapped) {
		lru_add(new);
		vms_stat_inc(&phys->st.pgmigrate, 1);
	} else {
		atomic_fetch_sub(&mm->st_resident, 1);
	}
	page_put(new);
	return 0;
}

int vms_migrate(struct vms_mm *mm, uint64_t addr, size_t len, unsigned node,
		uint64_t *moved)
{
	VMS_HOST_CALL();
	uint64_t end, n = 0;
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
		if (p->node == node || !lru_isolate(p))
			continue;
		/* Read without the PTE lock: by now the frame may be freed
		 * and someone else's; then it is not ours to move. */
		if (!trylock_page(p)) {
			lru_putback(p, true);
			continue;
		}
		if (p->mm != mm || p->hva != a) {
			unlock_page(p);
			lru_putback(p, true);
			continue;
		}
		int m = migrate_page_locked(p, node);

		unlock_page(p);
		if (m == 0) {
			page_put(p);            /* the old frame goes */
			n++;
			continue;
		}
		lru_putback(p, true);
		if (m == -ENOMEM)
			r = m;
	}
	pthread_rwlock_unlock(&mm->phys->mms_lock);
	mmap_read_unlock(mm);
	if (moved)
		*moved = n;
	return r;
}
