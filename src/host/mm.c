/* mm.c - the host address space as a whole: its creation (page table, PTE
 * locks, mmap_lock), teardown and counters.  Its mapping calls and VMA list
 * live in mmap.c, its faults, accesses and zapping in memory.c, as Linux
 * keeps mm/mmap.c apart from mm/memory.c. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>
#include <sys/mman.h>

#define MM_DEFAULT_BASE (1ull << 32)
#define MM_DEFAULT_SIZE (64ull << 30)

int vms_mm_create(struct vms_phys *phys, const struct vms_mm_config *cfg,
		  struct vms_mm **out)
{
	uint64_t base = cfg && cfg->va_base ? cfg->va_base : MM_DEFAULT_BASE;
	uint64_t size = cfg && cfg->va_size ? cfg->va_size : MM_DEFAULT_SIZE;
	struct vms_mm *mm;

	if (!phys || !out || !PAGE_ALIGNED(base) || !PAGE_ALIGNED(size) ||
	    size > (1ull << 44) || base + size < base)
		return -EINVAL;
	mm = vms_calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->phys = phys;
	mm->va_base = base;
	mm->va_end = base + size;
	void *pt = vms_os_mmap(NULL, (size >> PAGE_SHIFT) * sizeof(uint64_t),
			PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pt == MAP_FAILED) {
		int err = -errno;
		vms_free(mm);
		return err;
	}
	mm->pt = pt;
	/* Writers first: a waiting mapping call holds new faults back. */
	vms_rwlock_init(&mm->mmap_lock);
	for (unsigned i = 0; i < MM_PTL_STRIPES; i++)
		vms_lock_init(&mm->ptl[i]);
	vms_lock_init(&mm->iv_lock);
	mm_subs_init(mm);
	*out = mm;
	return 0;
}

void vms_mm_destroy(struct vms_mm *mm)
{
	VMS_HOST_CALL();
	if (!mm)
		return;
	mm_notify_release(mm);
	/* No secondary maps anything now: free without a pair.  Reclaim,
	 * which reaches pages without the mmap lock, waits meanwhile. */
	pthread_rwlock_wrlock(&mm->phys->mms_lock);
	for (size_t i = 0; i < mm->nr_vmas; i++)
		mm_clear_range(mm, mm->vmas[i].start, mm->vmas[i].end);
	pthread_rwlock_unlock(&mm->phys->mms_lock);
	mm_subs_destroy(mm);
	munmap(mm->pt, ((mm->va_end - mm->va_base) >> PAGE_SHIFT) *
			       sizeof(uint64_t));
	for (unsigned i = 0; i < MM_PTL_STRIPES; i++)
		vms_lock_destroy(&mm->ptl[i]);
	vms_lock_destroy(&mm->iv_lock);
	vms_rwlock_destroy(&mm->mmap_lock);
	vms_free(mm->vmas);
	vms_free(mm);
}

void vms_mm_stats(struct vms_mm *mm, struct vms_mm_stats *st)
{
	st->pgfault = vms_stat_read(&mm->st_pgfault);
	st->pgfree = vms_stat_read(&mm->st_pgfree);
	st->invalidate_start = vms_stat_read(&mm->st_inv_start);
	st->invalidate_end = vms_stat_read(&mm->st_inv_end);
	st->resident = vms_stat_read(&mm->st_resident);
}
