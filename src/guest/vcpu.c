/* vcpu.c - vCPU threads running guest programs: guest mode, the soft TLB,
 * guest accesses (TLB -> spte walk -> shadow fault), and remote TLB
 * flushes with their acknowledgements. */
#define _GNU_SOURCE
#include "guest/vcpu.h"

#include <string.h>
#include <time.h>

/* ---- requests and guest mode ---- */

static void vcpu_tlb_flush_local(struct vms_vcpu *v)
{
	if (!v->tlb_used)
		return;
	for (unsigned i = 0; i < VCPU_TLB_SIZE; i++)
		v->f.tlb[i].tag = 0;
	v->tlb_used = false;
}

static inline void vcpu_check_requests(struct vms_vcpu *v)
{
	unsigned long long req = atomic_load_explicit(&v->flush_req,
						      memory_order_acquire);

	if (likely(req == v->f.seen_req))
		return;
	vcpu_tlb_flush_local(v);
	v->f.seen_req = req;
	atomic_store_explicit(&v->flush_ack, req, memory_order_release);
}

static void vcpu_enter_guest(struct vms_vcpu *v)
{
	atomic_store(&v->mode, VCPU_IN_GUEST);
	/* Store mode, then load flush_req: the fence keeps that order. */
	atomic_thread_fence(memory_order_seq_cst);
	vcpu_check_requests(v);
}

/* After this, flushers stop waiting for us: no TLB entry is in use. */
static void vcpu_exit_guest(struct vms_vcpu *v)
{
	atomic_store(&v->mode, VCPU_OUTSIDE_GUEST);
}

/* A host call from the guest program (base.h): out of guest mode for it,
 * and back with the flushes it missed done. */
static bool vcpu_host_call_leave(struct vms_guest_mode *g)
{
	struct vms_vcpu *v = container_of(g, struct vms_vcpu, guest_mode);

	if (atomic_load_explicit(&v->mode, memory_order_relaxed) !=
	    VCPU_IN_GUEST)
		return false;
	vcpu_exit_guest(v);
	return true;
}

static void vcpu_host_call_enter(struct vms_guest_mode *g)
{
	vcpu_enter_guest(container_of(g, struct vms_vcpu, guest_mode));
}

void vcpu_flush_remote_tlbs(struct vms_vm *vm)
{
	unsigned long long target[vm->max_vcpus];
	unsigned idx = vms_srcu_read_lock(&vm->srcu);

	vms_stat_inc(&vm->st_flushes, 1);
	for (unsigned i = 0; i < vm->max_vcpus; i++) {
		struct vms_vcpu *v = atomic_load(&vm->vcpus[i]);

		target[i] = v ? atomic_fetch_add(&v->flush_req, 1) + 1 : 0;
	}
	for (unsigned i = 0; i < vm->max_vcpus && !VMS_MUTANT_IS(no_flush_wait);
	     i++) {
		struct vms_vcpu *v = atomic_load(&vm->vcpus[i]);
		unsigned spins = 0;

		/* A vCPU that came after the requests has an empty TLB. */
		if (!v || !target[i])
			continue;
		while (atomic_load(&v->mode) == VCPU_IN_GUEST &&
		       atomic_load_explicit(&v->flush_ack,
					    memory_order_acquire) < target[i])
			vms_backoff(&spins);
		if (spins)
			vms_stat_inc(&vm->st_flush_waits, 1);
	}
	vms_srcu_read_unlock(&vm->srcu, idx);
}

/* ---- translation ---- */

static struct vms_tlb_entry *vcpu_tlb_miss(struct vms_vcpu *v, uint64_t gfn,
					    bool write)
{
	struct vms_vm *vm = v->vm;
	struct vms_tlb_entry *e = &v->f.tlb[gfn % VCPU_TLB_SIZE];
	uint64_t want = SPTE_ACCESSED | (write ? SPTE_DIRTY : 0);

	vms_stat_add_local(&v->st_tlb_misses, 1);
	for (;;) {
		uint64_t spte = gfn < vm->max_gfn
					? atomic_load_explicit(&vm->spt[gfn],
							       memory_order_acquire)
					: 0;

		if ((spte & SPTE_PRESENT) && (!write || (spte & SPTE_WRITE))) {
			/* Set A/D against the value walked: a zap in between
			 * makes this fail and the walk start over. */
			if ((spte & want) != want) {
				if (!atomic_compare_exchange_strong(
					    &vm->spt[gfn], &spte, spte | want))
					continue;
				spte |= want;
			}
			e->frame = pfn_to_addr(vm->phys, SPTE_PFN(spte));
			e->tag = (gfn + 1) << 1 |
				 ((spte & SPTE_WRITE) && (spte & SPTE_DIRTY)
					  ? TLB_WRITABLE : 0);
#ifdef VMS_DEBUG
			v->tlb_dbg[gfn % VCPU_TLB_SIZE] = (struct vcpu_tlb_dbg){
				.gen = SPTE_GEN(spte),
				.page = pfn_to_page(vm->phys, SPTE_PFN(spte)) };
#endif
			v->tlb_used = true;
			return e;
		}
		/* The fault may sleep on host locks held by an invalidation
		 * that waits for our flush ack: leave guest mode first. */
		vcpu_exit_guest(v);
		int r = mmu_fault(v, gfn, write, &v->exit);
		vcpu_enter_guest(v);
		if (r) {
			vms_stat_add_local(&v->st_exits, 1);
			return NULL;
		}
	}
}

static inline struct vms_tlb_entry *vcpu_translate(struct vms_vcpu *v,
						   uint64_t gfn, bool write)
{
	vcpu_check_requests(v);
	struct vms_tlb_entry *e = &v->f.tlb[gfn % VCPU_TLB_SIZE];

	if (likely(e->tag >> 1 == gfn + 1 && (!write || (e->tag & TLB_WRITABLE))))
		return e;
	return vcpu_tlb_miss(v, gfn, write);
}

/* I1, checked after the access: had the frame been freed meanwhile, its
 * generation would have moved. */
static inline void vcpu_check_stale(struct vms_vcpu *v, uint64_t gfn)
{
#ifdef VMS_DEBUG
	const struct vcpu_tlb_dbg *d = &v->tlb_dbg[gfn % VCPU_TLB_SIZE];
	if (page_gen(d->page) != d->gen)
		vm_note_violation(v->vm, "guest access through a TLB entry "
				  "whose frame was freed (I1)", gfn);
#else
	(void)v;
	(void)gfn;
#endif
}

/* A failed access: the fault spoke of the page, the exit says the byte. */
static int vcpu_exit_at(struct vms_vcpu *v, uint64_t gpa)
{
	v->exit.gpa = gpa;
	if (v->exit.hva)
		v->exit.hva += gpa & (PAGE_SIZE - 1);
	return v->exit.error;
}

static int vcpu_access(struct vms_vcpu *v, uint64_t gpa, void *buf,
		       size_t len, bool write)
{
	uint8_t *b = buf;

	while (len) {
		uint64_t gfn = gpa >> PAGE_SHIFT;
		size_t off = gpa & (PAGE_SIZE - 1);
		size_t n = PAGE_SIZE - off < len ? PAGE_SIZE - off : len;
		struct vms_tlb_entry *e = vcpu_translate(v, gfn, write);

		if (!e)
			return vcpu_exit_at(v, gpa);
		vms_race_window(VMS_RACE_ACCESS_AFTER_TLB);
		if (write)
			memcpy(e->frame + off, b, n);
		else
			memcpy(b, e->frame + off, n);
		vcpu_check_stale(v, gfn);
		gpa += n;
		b += n;
		len -= n;
	}
	return 0;
}

/* The vCPU's own counter of the inline accesses (vmsync.h). */
static inline void vcpu_count(uint64_t *c)
{
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

int vms_guest_read(struct vms_vcpu *v, uint64_t gpa, void *buf, size_t len)
{
	vcpu_count(&v->f.reads);
	return vcpu_access(v, gpa, buf, len, false);
}

int vms_guest_write(struct vms_vcpu *v, uint64_t gpa, const void *buf,
		    size_t len)
{
	vcpu_count(&v->f.writes);
	return vcpu_access(v, gpa, (void *)buf, len, true);
}

/* An aligned word never crosses a page: one translation, one load or
 * store, none of the byte-range loop.  vmsync.h's inline accesses come
 * here for whatever their hit does not cover. */
int vms_guest_access64(struct vms_vcpu *v, uint64_t gpa, uint64_t *val,
		       bool write)
{
	vcpu_count(write ? &v->f.writes : &v->f.reads);
	if (unlikely(gpa & 7))
		return vcpu_access(v, gpa, val, sizeof(*val), write);
	struct vms_tlb_entry *e = vcpu_translate(v, gpa >> PAGE_SHIFT, write);

	if (unlikely(!e))
		return vcpu_exit_at(v, gpa);
	vms_race_window(VMS_RACE_ACCESS_AFTER_TLB);
	/* Relaxed atomics: vCPUs may race on a guest word as CPUs do, and in
	 * C that must not be undefined behaviour (a plain mov on x86). */
	uint64_t *p = (uint64_t *)(e->frame + (gpa & (PAGE_SIZE - 1)));
	if (write)
		__atomic_store_n(p, *val, __ATOMIC_RELAXED);
	else
		*val = __atomic_load_n(p, __ATOMIC_RELAXED);
	vcpu_check_stale(v, gpa >> PAGE_SHIFT);
	return 0;
}

const struct vms_exit *vms_vcpu_exit(const struct vms_vcpu *v)
{
	return &v->exit;
}

unsigned vms_vcpu_id(const struct vms_vcpu *v)
{
	return v->id;
}

void vms_guest_halt(struct vms_vcpu *v, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	vcpu_exit_guest(v);
	nanosleep(&ts, NULL);
	vcpu_enter_guest(v);
}

/* ---- running: on the caller's thread, or on a thread of its own ---- */

/* Runs @fn as the guest program on the calling thread: in guest mode
 * throughout, host calls from it leaving guest mode around them. */
static int vcpu_run_here(struct vms_vcpu *v, vms_guest_fn fn, void *arg)
{
	v->guest_mode = (struct vms_guest_mode){ .leave = vcpu_host_call_leave,
						 .enter = vcpu_host_call_enter };
	vms_guest_self = &v->guest_mode;
	vcpu_enter_guest(v);
	int ret = fn(v, arg);
	vcpu_exit_guest(v);
	vms_guest_self = NULL;
	return ret;
}

static void *vcpu_thread(void *arg)
{
	struct vms_vcpu *v = arg;

	v->ret = vcpu_run_here(v, v->fn, v->arg);
	return NULL;
}

/* Debug builds widen race windows on the out-of-line path only: with
 * them open, every access takes it. */
static bool vcpu_race_windows(void)
{
#ifdef VMS_DEBUG
	return atomic_load(&vms_race_ns) != 0;
#else
	return false;
#endif
}

_Static_assert(offsetof(struct vms_vcpu, f) == 0,
	       "vmsync.h's inline accesses read a vCPU from its first byte");

/* A vCPU in @vm's array, outside guest mode: flushers see it from here. */
static int vcpu_alloc(struct vms_vm *vm, struct vms_vcpu **out)
{
	struct vms_vcpu *v;
	unsigned id;

	v = vms_aligned_alloc(64, (sizeof(*v) + 63) & ~(size_t)63);
	if (!v)
		return -ENOMEM;
	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->f.flush_req = (const unsigned long long *)&v->flush_req;
	v->f.fast = !vcpu_race_windows();
	vms_lock(&vm->vcpus_lock);
	for (id = 0; id < vm->max_vcpus && atomic_load(&vm->vcpus[id]); id++)
		;
	if (id == vm->max_vcpus) {
		vms_unlock(&vm->vcpus_lock);
		vms_free(v);
		return -EINVAL;
	}
	v->id = id;
	atomic_store(&vm->vcpus[id], v);
	vms_unlock(&vm->vcpus_lock);
	*out = v;
	return 0;
}

/* Out of the array, its counters folded into the VM's, freed. */
static void vcpu_free(struct vms_vcpu *v)
{
	struct vms_vm *vm = v->vm;

	atomic_store(&vm->vcpus[v->id], NULL);
	/* Flushers that saw us in the array are done with us after this. */
	vms_srcu_synchronize(&vm->srcu);
	vms_stat_inc(&vm->st_reads, __atomic_load_n(&v->f.reads, __ATOMIC_RELAXED));
	vms_stat_inc(&vm->st_writes, __atomic_load_n(&v->f.writes, __ATOMIC_RELAXED));
	vms_stat_inc(&vm->st_tlb_misses, vms_stat_read(&v->st_tlb_misses));
	vms_stat_inc(&vm->st_faults, vms_stat_read(&v->st_faults));
	vms_stat_inc(&vm->st_retries, vms_stat_read(&v->st_retries));
	vms_stat_inc(&vm->st_prechecks, vms_stat_read(&v->st_prechecks));
	vms_stat_inc(&vm->st_exits, vms_stat_read(&v->st_exits));
	vms_free(v);
}

int vms_vcpu_start(struct vms_vm *vm, vms_guest_fn fn, void *arg,
		   struct vms_vcpu **out)
{
	VMS_HOST_CALL();
	struct vms_vcpu *v;
	int r;

	if (!vm || !fn || !out)
		return -EINVAL;
	if ((r = vcpu_alloc(vm, &v)))
		return r;
	v->fn = fn;
	v->arg = arg;
	v->threaded = true;
	if ((r = vms_os_thread_create(&v->thread, vcpu_thread, v))) {
		vcpu_free(v);
		return r;
	}
	*out = v;
	return 0;
}

int vms_vcpu_join(struct vms_vcpu *v, int *ret)
{
	VMS_HOST_CALL();
	if (!v || !v->threaded)
		return -EINVAL;
	int r = pthread_join(v->thread, NULL);
	if (r)
		return -r;
	if (ret)
		*ret = v->ret;
	vcpu_free(v);
	return 0;
}

int vms_vcpu_create(struct vms_vm *vm, struct vms_vcpu **out)
{
	VMS_HOST_CALL();
	if (!vm || !out)
		return -EINVAL;
	return vcpu_alloc(vm, out);
}

int vms_vcpu_run(struct vms_vcpu *v, vms_guest_fn fn, void *arg, int *ret)
{
	if (!v || !fn || v->threaded)
		return -EINVAL;
	/* One vCPU per thread, one thread per vCPU at a time. */
	if (vms_guest_self || atomic_exchange(&v->running, true))
		return -EBUSY;
	int r = vcpu_run_here(v, fn, arg);

	atomic_store(&v->running, false);
	if (ret)
		*ret = r;
	return 0;
}

int vms_vcpu_destroy(struct vms_vcpu *v)
{
	VMS_HOST_CALL();
	if (!v || v->threaded)
		return -EINVAL;
	if (atomic_load(&v->running))
		return -EBUSY;
	vcpu_free(v);
	return 0;
}

void vms_vm_stats(struct vms_vm *vm, struct vms_vm_stats *st)
{
	unsigned idx = vms_srcu_read_lock(&vm->srcu);

	*st = (struct vms_vm_stats){
		.guest_reads = vms_stat_read(&vm->st_reads),
		.guest_writes = vms_stat_read(&vm->st_writes),
		.tlb_misses = vms_stat_read(&vm->st_tlb_misses),
		.faults = vms_stat_read(&vm->st_faults),
		.fault_retries = vms_stat_read(&vm->st_retries),
		.fault_prechecks = vms_stat_read(&vm->st_prechecks),
		.exits = vms_stat_read(&vm->st_exits),
		.invalidations = vms_stat_read(&vm->st_invalidations),
		.zapped = vms_stat_read(&vm->st_zapped),
		.tlb_flushes = vms_stat_read(&vm->st_flushes),
		.flush_waits = vms_stat_read(&vm->st_flush_waits),
		.violations = vms_stat_read(&vm->st_violations),
	};
	for (unsigned i = 0; i < vm->max_vcpus; i++) {
		struct vms_vcpu *v = atomic_load(&vm->vcpus[i]);

		if (!v)
			continue;
		st->guest_reads += __atomic_load_n(&v->f.reads, __ATOMIC_RELAXED);
		st->guest_writes += __atomic_load_n(&v->f.writes,
						    __ATOMIC_RELAXED);
		st->tlb_misses += vms_stat_read(&v->st_tlb_misses);
		st->faults += vms_stat_read(&v->st_faults);
		st->fault_retries += vms_stat_read(&v->st_retries);
		st->fault_prechecks += vms_stat_read(&v->st_prechecks);
		st->exits += vms_stat_read(&v->st_exits);
	}
	vms_srcu_read_unlock(&vm->srcu, idx);
}
