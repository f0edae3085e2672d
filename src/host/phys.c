/* phys.c - physical memory: pools ("nodes") of 4 KiB frames on memfds,
 * mapped side by side, one struct vms_page per frame, free lists. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void phys_unmap(struct vms_phys *phys)
{
	for (unsigned i = 0; i < phys->nr_nodes; i++) {
		if (phys->nodes[i].memfd >= 0)
			close(phys->nodes[i].memfd);
		vms_lock_destroy(&phys->nodes[i].lock);
	}
	if (phys->base)
		munmap(phys->base, phys->total_frames << PAGE_SHIFT);
	if (phys->pages)
		munmap(phys->pages,
		       phys->total_frames * sizeof(struct vms_page));
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
		    cfg->node_frames[i] > (1ull << 34))
			return -EINVAL;
		total += cfg->node_frames[i];
	}
	if (total > (1ull << 35))
		return -EINVAL;

	phys = calloc(1, sizeof(*phys));
	if (!phys)
		return -ENOMEM;
	phys->nr_nodes = cfg->nr_nodes;
	phys->total_frames = total;
	for (unsigned i = 0; i < cfg->nr_nodes; i++) {
		phys->nodes[i].memfd = -1;
		vms_lock_init(&phys->nodes[i].lock);
	}

	/* One reservation for all frames, each node's memfd mapped into it,
	 * so pfn -> address is one addition. */
	void *base = mmap(NULL, total << PAGE_SHIFT, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	phys->base = base;
	void *pages = mmap(NULL, total * sizeof(struct vms_page),
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

		n->memfd = memfd_create("vmsync-node", MFD_CLOEXEC);
		if (n->memfd < 0 || ftruncate(n->memfd, (off_t)bytes) < 0) {
			err = -errno;
			goto fail;
		}
		if (mmap(phys->base + (pfn << PAGE_SHIFT), bytes,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 n->memfd, 0) == MAP_FAILED) {
			err = -errno;
			goto fail;
		}
		n->first_pfn = pfn;
		n->frames = cfg->node_frames[i];
		/* Highest pfn at the tail: allocation starts low. */
		for (uint64_t f = n->frames; f-- > 0;) {
			struct vms_page *p = &phys->pages[pfn + f];

			p->node = (uint16_t)i;
			p->phys = phys;
			atomic_init(&p->flags, PG_free);
			p->next_free = n->free_list;
			n->free_list = p;
		}
		atomic_init(&n->nr_free, n->frames);
		pfn += n->frames;
	}
	*out = phys;
	return 0;
fail:
	phys_unmap(phys);
	free(phys);
	return err;
}

void vms_phys_destroy(struct vms_phys *phys)
{
	if (!phys)
		return;
	for (unsigned i = 0; i < phys->nr_nodes; i++)
		VMS_ASSERT(atomic_load(&phys->nodes[i].nr_free) ==
			   phys->nodes[i].frames);
	phys_unmap(phys);
	free(phys);
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

static struct vms_page *node_alloc(struct phys_node *n)
{
	struct vms_page *p;

	vms_lock(&n->lock);
	p = n->free_list;
	if (p) {
		n->free_list = p->next_free;
		atomic_fetch_sub_explicit(&n->nr_free, 1, memory_order_relaxed);
	}
	vms_unlock(&n->lock);
	return p;
}

struct vms_page *phys_alloc(struct vms_phys *phys, unsigned node, bool zero)
{
	struct vms_page *p = NULL;

	for (unsigned i = 0; i < phys->nr_nodes && !p; i++)
		p = node_alloc(&phys->nodes[(node + i) % phys->nr_nodes]);
	if (!p)
		return NULL;
	VMS_ASSERT(atomic_load(&p->refcount) == 0);
	VMS_ASSERT(atomic_load(&p->flags) == PG_free);
	atomic_store_explicit(&p->flags, 0, memory_order_relaxed);
	p->mm = NULL;
	p->hva = 0;
	atomic_store_explicit(&p->refcount, 1, memory_order_release);
	if (zero)
		memset(pfn_to_addr(phys, page_to_pfn(phys, p)), 0, PAGE_SIZE);
	return p;
}

void page_get(struct vms_page *page)
{
	int was = atomic_fetch_add_explicit(&page->refcount, 1,
					    memory_order_relaxed);

	VMS_ASSERT(was > 0);
	(void)was;
}

static void phys_free(struct vms_page *page)
{
	struct vms_phys *phys = page->phys;
	struct phys_node *n = &phys->nodes[page->node];

	/* A stale user that checks gen sees the change (I1). */
	atomic_fetch_add_explicit(&page->gen, 1, memory_order_release);
#ifdef VMS_DEBUG
	memset(pfn_to_addr(phys, page_to_pfn(phys, page)), PAGE_POISON,
	       PAGE_SIZE);
#endif
	atomic_store_explicit(&page->flags, PG_free, memory_order_relaxed);
	vms_lock(&n->lock);
	page->next_free = n->free_list;
	n->free_list = page;
	atomic_fetch_add_explicit(&n->nr_free, 1, memory_order_relaxed);
	vms_unlock(&n->lock);
}

void page_put(struct vms_page *page)
{
	int was = atomic_fetch_sub_explicit(&page->refcount, 1,
					    memory_order_acq_rel);

	VMS_ASSERT(was > 0);
	if (was == 1)
		phys_free(page);
}

void vms_put_page(struct vms_page *page)
{
	page_put(page);
}

void *vms_page_address(struct vms_page *page)
{
	return pfn_to_addr(page->phys, page_to_pfn(page->phys, page));
}

uint64_t vms_page_pfn(struct vms_page *page)
{
	return page_to_pfn(page->phys, page);
}

bool vms_page_dirty(struct vms_page *page)
{
	return atomic_load_explicit(&page->flags, memory_order_relaxed) &
	       PG_dirty;
}
