/* vm.c - a VM: its link to the host mm, its memslots (gfn -> hva, changed
 * while vCPUs run), its counters.  Translation itself is in mmu.c. */
#define _GNU_SOURCE
#include "guest/guest.h"

#include <stdio.h>
#include <string.h>

#define VM_DEFAULT_MAX_GPA (64ull << 30)
#define VM_DEFAULT_MAX_VCPUS 64

int vms_vm_create(struct vms_mm *mm, const struct vms_vm_config *cfg,
		  struct vms_vm **out)
{
	VMS_HOST_CALL();
	uint64_t max_gpa = cfg && cfg->max_gpa ? cfg->max_gpa : VM_DEFAULT_MAX_GPA;
	unsigned max_vcpus = cfg && cfg->max_vcpus ? cfg->max_vcpus
						   : VM_DEFAULT_MAX_VCPUS;
	struct vms_vm *vm;
	int r;

	if (!mm || !out || !PAGE_ALIGNED(max_gpa) || max_gpa > (1ull << 46) ||
	    max_vcpus > 1024)
		return -EINVAL;
	vm = vms_calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->mm = mm;
	vm->phys = mm->phys;
	vm->max_gfn = max_gpa >> PAGE_SHIFT;
	vm->max_vcpus = max_vcpus;
	vm->vcpus = vms_calloc(max_vcpus, sizeof(*vm->vcpus));
	struct vm_memslots *empty = vms_calloc(1, sizeof(*empty));
	if (!vm->vcpus || !empty) {
		vms_free(empty);
		vms_free(vm->vcpus);
		vms_free(vm);
		return -ENOMEM;
	}
	atomic_init(&vm->slots, empty);
	vms_lock_init(&vm->slots_lock);
	vms_lock_init(&vm->vcpus_lock);
	vms_srcu_init(&vm->srcu);
	r = mmu_init(vm);
	if (r)
		goto fail;
	vm->mn.ops = &mmu_notifier_ops;
	r = vms_mmu_notifier_register(&vm->mn, mm);
	if (r) {
		mmu_destroy(vm);
		goto fail;
	}
	*out = vm;
	return 0;
fail:
	vms_srcu_destroy(&vm->srcu);
	vms_lock_destroy(&vm->vcpus_lock);
	vms_lock_destroy(&vm->slots_lock);
	vms_free(empty);
	vms_free(vm->vcpus);
	vms_free(vm);
	return r;
}

void vms_vm_destroy(struct vms_vm *vm)
{
	VMS_HOST_CALL();
	if (!vm)
		return;
	for (unsigned i = 0; i < vm->max_vcpus; i++)
		VMS_ASSERT(!atomic_load(&vm->vcpus[i]));
	/* release zaps every spte; a no-op when the mm went first. */
	vms_mmu_notifier_unregister(&vm->mn);
	mmu_destroy(vm);
	vms_free(atomic_load(&vm->slots));
	vms_srcu_destroy(&vm->srcu);
	vms_lock_destroy(&vm->vcpus_lock);
	vms_lock_destroy(&vm->slots_lock);
	vms_free(vm->vcpus);
	vms_free(vm);
}

/* ---- memslot lookups ---- */

struct vm_memslot *vm_slot_by_gfn(struct vm_memslots *set, uint64_t gfn)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct vm_memslot *s = set->by_gfn[mid];

		if (gfn < s->gfn)
			hi = mid;
		else if (gfn >= s->gfn + s->npages)
			lo = mid + 1;
		else
			return s;
	}
	return NULL;
}

void vm_for_each_slot_in_hva(struct vm_memslots *set, uint64_t start,
			     uint64_t end,
			     void (*fn)(struct vm_memslot *slot, uint64_t gfn_start,
					uint64_t gfn_end, void *arg),
			     void *arg)
{
	size_t lo = 0, hi = set->n;

	/* Slots from by_hva[lo] on begin at or after end. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (set->by_hva[mid]->hva < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && set->hva_max_end[lo] > start) {
		struct vm_memslot *s = set->by_hva[lo];
		uint64_t e = slot_hva_end(s);

		if (e <= start)
			continue;
		uint64_t hs = s->hva > start ? s->hva : start;
		uint64_t he = e < end ? e : end;
		fn(s, s->gfn + ((hs - s->hva) >> PAGE_SHIFT),
		   s->gfn + ((he - s->hva) >> PAGE_SHIFT), arg);
	}
}

int vms_vm_gpa_to_hva(struct vms_vm *vm, uint64_t gpa, uint64_t *hva)
{
	unsigned idx = vms_srcu_read_lock(&vm->srcu);
	struct vm_memslot *s = vm_slot_by_gfn(atomic_load(&vm->slots),
					      gpa >> PAGE_SHIFT);
	int r = -ENOENT;

	if (s && !s->invalid) {
		*hva = s->hva + (gpa - (s->gfn << PAGE_SHIFT));
		r = 0;
	}
	vms_srcu_read_unlock(&vm->srcu, idx);
	return r;
}

/* ---- memslot updates ---- */

static int cmp_gfn(const void *a, const void *b)
{
	const struct vm_memslot *x = *(struct vm_memslot *const *)a;
	const struct vm_memslot *y = *(struct vm_memslot *const *)b;
	return x->gfn < y->gfn ? -1 : x->gfn > y->gfn;
}

static int cmp_hva(const void *a, const void *b)
{
	const struct vm_memslot *x = *(struct vm_memslot *const *)a;
	const struct vm_memslot *y = *(struct vm_memslot *const *)b;
	return x->hva < y->hva ? -1 : x->hva > y->hva;
}

static void slots_index(struct vm_memslots *set)
{
	for (size_t i = 0; i < set->n; i++)
		set->by_gfn[i] = set->by_hva[i] = &set->slots[i];
	qsort(set->by_gfn, set->n, sizeof(void *), cmp_gfn);
	qsort(set->by_hva, set->n, sizeof(void *), cmp_hva);
	for (size_t i = 0; i < set->n; i++) {
		uint64_t e = slot_hva_end(set->by_hva[i]);

		set->hva_max_end[i] = i && set->hva_max_end[i - 1] > e
					      ? set->hva_max_end[i - 1]
					      : e;
	}
}

/* Publishes @next, waits out the readers of the old set, frees it. */
static void slots_replace_locked(struct vms_vm *vm, struct vm_memslots *next)
{
	vms_assert_held(&vm->slots_lock);
	slots_index(next);
	struct vm_memslots *old = atomic_exchange(&vm->slots, next);
	vms_srcu_synchronize(&vm->srcu);
	vms_free(old);
}

static struct vm_memslot *slot_by_id(struct vm_memslots *set, unsigned id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->slots[i].id == id)
			return &set->slots[i];
	return NULL;
}

static int slot_check(struct vms_vm *vm, struct vm_memslots *cur,
		      unsigned id, uint64_t gfn, uint64_t npages, uint64_t hva)
{
	struct vms_mm *mm = vm->mm;

	if (!PAGE_ALIGNED(hva) || gfn >= vm->max_gfn ||
	    npages > vm->max_gfn - gfn || hva < mm->va_base ||
	    hva >= mm->va_end || npages > (mm->va_end - hva) >> PAGE_SHIFT)
		return -EINVAL;
	for (size_t i = 0; i < cur->n; i++) {
		const struct vm_memslot *s = &cur->slots[i];

		if (s->id != id && gfn < s->gfn + s->npages &&
		    s->gfn < gfn + npages)
			return -EEXIST;
	}
	return 0;
}

static int vm_set_memslot(struct vms_vm *vm, unsigned id, uint64_t gfn,
			  uint64_t npages, uint64_t hva, unsigned flags)
{
	struct vm_memslots *cur, *next;
	struct vm_memslot *old;
	int r = 0;

	if (!vm || id >= VM_MAX_SLOTS || (flags & ~VMS_MEM_READONLY))
		return -EINVAL;
	vms_lock(&vm->slots_lock);
	cur = atomic_load(&vm->slots);
	old = slot_by_id(cur, id);
	if (npages == 0 && !old) {
		r = -ENOENT;
		goto out;
	}
	if (npages) {
		r = slot_check(vm, cur, id, gfn, npages, hva);
		if (!r && old && old->npages != npages)
			r = -EINVAL;
		if (r)
			goto out;
	}
	/* Both sets up front: once faults wait on an invalid slot, the
	 * second stage must not fail. */
	next = vms_malloc(sizeof(*next));
	struct vm_memslots *stage1 = old ? vms_malloc(sizeof(*stage1)) : NULL;
	if (!next || (old && !stage1)) {
		vms_free(next);
		vms_free(stage1);
		r = -ENOMEM;
		goto out;
	}

	if (old) {
		uint64_t gfn0 = old->gfn, gfn1 = old->gfn + old->npages;

		/* Stage 1: faults on the old slot wait, faults in flight on it
		 * finish; then its sptes go (notifiers still see it). */
		*stage1 = *cur;
		slot_by_id(stage1, id)->invalid = true;
		slots_replace_locked(vm, stage1);
		vms_lock(&vm->mmu_lock);
		if (mmu_zap_gfn_range_locked(vm, gfn0, gfn1))
			vcpu_flush_remote_tlbs(vm);
		vms_unlock(&vm->mmu_lock);
		cur = stage1;
	}
	*next = *cur;
	struct vm_memslot *s = slot_by_id(next, id);
	if (npages == 0) {
		*s = next->slots[--next->n];
	} else {
		if (!s)
			s = &next->slots[next->n++];
		*s = (struct vm_memslot){ .id = id, .gfn = gfn, .npages = npages,
					  .hva = hva, .flags = flags };
	}
	slots_replace_locked(vm, next);
out:
	vms_unlock(&vm->slots_lock);
	return r;
}

int vms_vm_set_memslot(struct vms_vm *vm, const struct vms_memslot *m)
{
	VMS_HOST_CALL();
	if (!vm || !m || !PAGE_ALIGNED(m->guest_phys_addr) ||
	    !PAGE_ALIGNED(m->memory_size) || !PAGE_ALIGNED(m->userspace_addr))
		return -EINVAL;
	return vm_set_memslot(vm, m->slot, m->guest_phys_addr >> PAGE_SHIFT,
			      m->memory_size >> PAGE_SHIFT, m->userspace_addr,
			      m->flags);
}

/* ---- counters ---- */

void vm_note_violation(struct vms_vm *vm, const char *what, uint64_t gfn)
{
	if (vms_stat_read(&vm->st_violations) < 8)
		fprintf(stderr, "vmsync: invariant violated: %s (gfn %#llx)\n",
			what, (unsigned long long)gfn);
	vms_stat_inc(&vm->st_violations, 1);
}
