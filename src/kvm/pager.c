/* pager.c - the pager of a real KVM guest's RAM: a budget of resident
 * pages kept by a reclaimer that samples the clock's candidates out of
 * guest RAM (UFFDIO_MOVE: the kernel's MMU notifiers zap KVM's sptes)
 * and writes the ones the guest did not touch meanwhile to a vmsync swap
 * backend, when KVM's dirty log says they changed since their copy; fault
 * handlers that put pages back through userfaultfd a run at a time; the
 * host's advice (DONTNEED, PAGEOUT, WILLNEED, COLD). */
#define _GNU_SOURCE
#include "host/host.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Newer than the installed headers (Linux 6.8). */
#ifndef UFFDIO_MOVE
struct uffdio_move {
	uint64_t dst, src, len, mode;
	int64_t move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES (1ull << 1)
#define UFFD_FEATURE_MOVE (1ull << 16)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1ull << 15)
#endif

/*
 * The pager's page table: one word per RAM page.  LOCK serialises
 * everything that changes a page's state (fault handlers, the reclaimer,
 * advice); the state says where the contents are:
 *   ZERO      not in guest RAM, reads as zeroes (never touched, discarded);
 *   RESIDENT  in guest RAM, and in the slot too while SLOT is set and the
 *             page is not DIRTY;
 *   SWAPPED   only in the slot;
 *   SAMPLED   out of guest RAM in the sample ring at sample_pos[p],
 *             still in memory (and in the slot, as RESIDENT).
 * DIRTY (the dirty log saw a guest write since the copy or since the
 * MADV_FREE that set LAZY) may be set by a harvest at any time; YOUNG
 * (touched since the clock hand passed) by a fault.  Every other change
 * happens under LOCK.  Invariant: resident == pages in state RESIDENT or
 * SAMPLED (a sample is still in memory), swapped == pages in state
 * SWAPPED, and a slot is used by exactly one page (pager_check, on a quiet
 * pager).
 */
#define PP_LOCK   (1ull << 0)
#define PP_STATE  (3ull << 1)
#define PP_ZERO   (0ull << 1)
#define PP_RES    (1ull << 1)
#define PP_SWAP   (2ull << 1)
#define PP_SAMPLED (3ull << 1)
#define PP_DIRTY  (1ull << 3)
#define PP_YOUNG  (1ull << 4)
#define PP_LAZY   (1ull << 5)       /* MADV_FREE: may go as zeroes while
				     * no write follows (no DIRTY) */
#define PP_SLOT_SHIFT 12
#define PP_SLOT(w) ((w) >> PP_SLOT_SHIFT)

#define RUN_MAX 32                  /* pages per eviction or fault run */

struct vms_kvm_pager {
	int vm_fd;
	unsigned slot;
	uint8_t *ram;
	uint64_t pages, budget;
	void (*fail_fn)(void *arg, int err);
	void *fail_arg;
	atomic_int error;               /* the first failure, sticky */

	/* A vCPU waiting for a page in a uffd fault holds KVM's SRCU, so a
	 * memslot change (KVM's slots_lock, then an SRCU grace period)
	 * waits for the fault handlers.  An eviction, which holds page
	 * locks across reading the dirty log (slots_lock), holds
	 * layout_lock for reading; memslot changes through the pager hold
	 * it for writing.  Writers first. */
	pthread_rwlock_t layout_lock;
	_Atomic uint64_t *pp;
#ifdef VMS_DEBUG
	uint16_t *unlocked_at;          /* the line that last changed the
					 * state in pp[p] */
#endif
	int uffd;
	struct vms_swap_backend *be;

	/* Slots: one held per page word that names it (as a swap PTE
	 * holds one); their copies are discarded as they go. */
	struct swap_area *sa;

	/* One eviction at a time: it owns the staging area, where pages sit
	 * between the move out of guest RAM and the write. */
	struct vms_lock evict_lock;
	uint8_t *staging;

	/* Harvests of the dirty log are serialised: a page's DIRTY is
	 * complete once the harvest that follows a move returned. */
	struct vms_lock harvest_lock;
	uint64_t *dirty_bitmap;

	/* Read-ahead: where the last fault run ended, its window. */
	_Atomic uint64_t ra_next;
	atomic_uint ra_window;

	/* The sample ring (see "sampling"): positions count up, place
	 * pos % RING_MAX holds the page ring_at[] says, moved there at
	 * ring_ns[] with the dirty state ring_dirty[] it had then.  head,
	 * tail and the ns/dirty arrays under evict_lock; ring_at[] is also
	 * cleared by a fault that moves its page back or by a DONTNEED
	 * (page lock held), only once the place is empty: the reclaimer
	 * passes a free place and may fill it again.  sample_pos[] under
	 * the page's lock.  tail - head <= ring_cap. */
	uint8_t *ring;
	_Atomic uint64_t *ring_at;
	uint64_t *ring_ns, *sample_pos;
	bool *ring_dirty;
	uint64_t ring_head, ring_tail, ring_cap;

	uint64_t clock_hand;            /* reclaimer thread only */
	atomic_bool stop;
	pthread_t reclaimer, handlers[4];
	unsigned nr_handlers;
	pthread_mutex_t kick_mu;
	pthread_cond_t kick_cv;

	_Atomic uint64_t resident, swapped;
	struct {
		_Atomic uint64_t faults_zero, faults_backend, faults_raced,
			readahead, evictions, clean_drops, writes, write_errors,
			read_errors, discards, harvests, refault_ns, samples,
			faults_sampled, lazyfree, throttled_ns;
	} st;
};

/* Fail-stop: the first error sticks and the VMM hears of it once, to
 * stop its vCPUs; pages stay where they are. */
static void pager_fail(struct vms_kvm_pager *pg, int err)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&pg->error, &none, err) &&
	    pg->fail_fn)
		pg->fail_fn(pg->fail_arg, err);
}

/* ---- page locks ---- */

static uint64_t pp_lock(struct vms_kvm_pager *pg, uint64_t p)
{
	unsigned spins = 0;

	for (;;) {
		uint64_t w = atomic_fetch_or(&pg->pp[p], PP_LOCK);

		if (!(w & PP_LOCK))
			return w;
		vms_backoff(&spins);
	}
}

static bool pp_trylock(struct vms_kvm_pager *pg, uint64_t p, uint64_t *w)
{
	*w = atomic_fetch_or(&pg->pp[p], PP_LOCK);
	return !(*w & PP_LOCK);
}

/* Sets the new state and drops the lock; DIRTY and YOUNG bits set
 * meanwhile by others are kept unless @clear names them. */
static void pp_unlock_at(struct vms_kvm_pager *pg, uint64_t p, uint64_t w,
			 uint64_t clear, unsigned line)
{
	uint64_t cur = atomic_load(&pg->pp[p]);

#ifdef VMS_DEBUG
	if ((cur ^ w) & PP_STATE)
		pg->unlocked_at[p] = (uint16_t)line;
#else
	(void)line;
#endif

	VMS_ASSERT(cur & PP_LOCK);
	while (!atomic_compare_exchange_weak(
		&pg->pp[p], &cur,
		(w & ~(PP_LOCK | PP_DIRTY | PP_YOUNG)) |
			((cur | w) & (PP_DIRTY | PP_YOUNG) & ~clear)))
		;
}

/* Debug builds remember where each page's state last changed. */
#define pp_unlock(pg, p, w, clear) pp_unlock_at(pg, p, w, clear, __LINE__)

static uint64_t pp_make(uint64_t state, uint64_t slot)
{
	return state | slot << PP_SLOT_SHIFT;
}

/* ---- slots: a swap area of the same kind as the pool's ---- */

static void slot_free(struct vms_kvm_pager *pg, uint64_t slot)
{
	if (slot)
		swap_free(pg->sa, slot);
}

/* ---- the dirty log ---- */

/* Hands every guest write KVM logged since the last harvest to its page
 * as DIRTY.  Returns 0 or -errno of KVM_GET_DIRTY_LOG. */
static int harvest(struct vms_kvm_pager *pg)
{
	struct kvm_dirty_log log = { .slot = pg->slot,
				     .dirty_bitmap = pg->dirty_bitmap };

	vms_lock(&pg->harvest_lock);
	int r = ioctl(pg->vm_fd, KVM_GET_DIRTY_LOG, &log) ? -errno : 0;

	for (uint64_t i = 0; !r && i < (pg->pages + 63) / 64; i++) {
		uint64_t bits = pg->dirty_bitmap[i];

		while (bits) {
			uint64_t p = i * 64 + (uint64_t)__builtin_ctzll(bits);

			bits &= bits - 1;
			atomic_fetch_or(&pg->pp[p], PP_DIRTY);
		}
	}
	vms_unlock(&pg->harvest_lock);
	vms_stat_inc(&pg->st.harvests, 1);
	return r;
}

/* ---- userfaultfd ---- */

/* One uffd ioctl: 0 or -errno (a fault-injection site). */
static int uffd_ioctl(struct vms_kvm_pager *pg, unsigned long req, void *arg)
{
	if (vms_fault(VMS_FAULT_UFFD))
		return -EFAULT;
	return ioctl(pg->uffd, req, arg) ? -errno : 0;
}

/* Places @n pages of @src at page @p of guest RAM (NULL: zeroes), waking
 * whoever faulted there; *@placed says how many went, failure or not.
 * EAGAIN (the mm is changing) is retried from where it stopped; ENOENT
 * on a run is a run across two VMAs (an mprotect split guest RAM), so it
 * goes on a page at a time.  0 or -errno. */
static int uffd_place(struct vms_kvm_pager *pg, uint64_t p, uint64_t n,
		      const uint8_t *src, uint64_t *placed)
{
	uint64_t done = 0;
	unsigned spins = 0;
	bool single = false;
	int r = 0;

	while (done < n && !r) {
		uint64_t dst = (uintptr_t)pg->ram + ((p + done) << PAGE_SHIFT);
		uint64_t len = (single ? 1 : n - done) << PAGE_SHIFT;
		int64_t got;

		if (src) {
			/* Write-protected (resolved by the kernel at the first
			 * write): else shadow paging would map a read fault
			 * writable and log a write that never happened. */
			struct uffdio_copy c = {
				.dst = dst, .len = len,
				.src = (uintptr_t)src + (done << PAGE_SHIFT),
				.mode = UFFDIO_COPY_MODE_WP };
			r = uffd_ioctl(pg, UFFDIO_COPY, &c);
			got = r ? c.copy : (int64_t)len;
		} else {
			struct uffdio_zeropage z = { .range = { dst, len } };
			r = uffd_ioctl(pg, UFFDIO_ZEROPAGE, &z);
			got = r ? z.zeropage : (int64_t)len;
		}
		if (got > 0) {
			done += (uint64_t)got >> PAGE_SHIFT;
			single = false;
			r = 0;
		} else if (r == -EAGAIN && !atomic_load(&pg->stop)) {
			vms_backoff(&spins);
			r = 0;
		} else if (r == -ENOENT && !single && len > PAGE_SIZE) {
			single = true;
			r = 0;
		} else if (r == -EEXIST) {
			/* Present already: only what we placed.  Wake. */
			struct uffdio_range w = { dst, PAGE_SIZE };

			ioctl(pg->uffd, UFFDIO_WAKE, &w);
			done++;
			r = 0;
		}
	}
	*placed = done;
	return r;
}

/* ---- eviction ---- */

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;

	for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Moves @n locked resident pages at @pages (ascending) out of guest RAM to
 * @dst, a run of contiguous pages at a time; moved[i] says which went
 * (from then on the guest cannot write them: a touch faults, and waits
 * for the page lock or finds them sampled). */
static void move_out(struct vms_kvm_pager *pg, const uint64_t *pages,
		     size_t n, uint8_t *const *dst, bool *moved)
{
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && pages[j] == pages[j - 1] + 1 &&
				dst[j] == dst[j - 1] + PAGE_SIZE;
		     j++)
			;
		struct uffdio_move m = {
			.dst = (uintptr_t)dst[i],
			.src = (uintptr_t)pg->ram + (pages[i] << PAGE_SHIFT),
			.len = (j - i) << PAGE_SHIFT,
			.mode = UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
		};
		uint64_t got = j - i;
		unsigned char before[RUN_MAX], after[RUN_MAX];
		bool seen = !mincore(dst[i], m.len, before);

		if (uffd_ioctl(pg, UFFDIO_MOVE, &m))
			got = m.move > 0 ? (uint64_t)m.move >> PAGE_SHIFT : 0;
		/* What moved is what arrived (the places start empty): a
		 * count that missed a page would leave it recorded as in
		 * guest RAM while it is not. */
		seen = seen && !mincore(dst[i], m.len, after);
		for (size_t k = i; k < j; k++)
			moved[k] = seen ? !(before[k - i] & 1) &&
						  (after[k - i] & 1)
					: k < i + got;
	}
}

/*
 * The second half of every eviction: @n locked pages, out of guest RAM
 * with their contents at bufs[i] and dirty[i] final.  A clean page with
 * a copy is dropped, a page of zeroes needs no slot, the rest are written;
 * a page whose write failed goes back, dirty.  Unlocks them all.
 */
static void write_out_locked(struct vms_kvm_pager *pg, const uint64_t *pages,
			     const uint64_t *words, uint8_t *const *bufs,
			     const bool *dirty, size_t n)
{
	struct vms_swap_io io[RUN_MAX];
	uint64_t next[RUN_MAX];
	size_t nio = 0, io_of[RUN_MAX];

	VMS_ASSERT(n <= RUN_MAX);
	for (size_t i = 0; i < n; i++) {
		uint64_t slot = PP_SLOT(words[i]);

		io_of[i] = SIZE_MAX;
		if ((atomic_load(&pg->pp[pages[i]]) & PP_LAZY) && !dirty[i]) {
			/* Freed and not written since: it goes as zeroes. */
			slot_free(pg, slot);
			next[i] = pp_make(PP_ZERO, 0);
			vms_stat_inc(&pg->st.lazyfree, 1);
		} else if (!dirty[i] && slot) {
			next[i] = pp_make(PP_SWAP, slot);
			vms_stat_inc(&pg->st.clean_drops, 1);
		} else if (page_is_zero(bufs[i])) {
			/* Same-filled with zeroes: no I/O, no slot. */
			slot_free(pg, slot);
			next[i] = pp_make(PP_ZERO, 0);
		} else {
			if (!slot)
				slot = swap_alloc(pg->sa);
			next[i] = pp_make(PP_SWAP, slot);
			if (slot) {
				io_of[i] = nio;
				io[nio++] = (struct vms_swap_io){
					.write = true, .slot = slot,
					.buf = bufs[i] };
			} else {
				io_of[i] = SIZE_MAX - 1;        /* swap full */
			}
		}
	}
	if (nio)
		swap_backend_io(pg->be, io, nio);
	for (size_t i = 0; i < n; i++) {
		uint64_t p = pages[i];
		bool failed = io_of[i] == SIZE_MAX - 1 ||
			      (io_of[i] < nio && io[io_of[i]].res);

		if (failed) {
			if (io_of[i] < nio) {
				vms_stat_inc(&pg->st.write_errors, 1);
				slot_free(pg, PP_SLOT(next[i]));
			}
			uint64_t placed;
			int r = uffd_place(pg, p, 1, bufs[i], &placed);
			if (r)
				pager_fail(pg, r);
			pp_unlock(pg, p, pp_make(PP_RES, 0) | PP_DIRTY, PP_LAZY);
			continue;
		}
		if (io_of[i] < nio)
			vms_stat_inc(&pg->st.writes, 1);
		atomic_fetch_sub(&pg->resident, 1);
		if ((next[i] & PP_STATE) == PP_SWAP)
			atomic_fetch_add(&pg->swapped, 1);
		vms_stat_inc(&pg->st.evictions, 1);
		pp_unlock(pg, p, next[i], PP_DIRTY | PP_YOUNG | PP_LAZY);
	}
}

/* Written: its copy is stale, or it has none (the no_writeback mutant
 * trusts any copy); a lazily freed page only when written since. */
static bool needs_write(struct vms_kvm_pager *pg, uint64_t p)
{
	uint64_t w = atomic_load(&pg->pp[p]);

	if (w & PP_LAZY)
		return w & PP_DIRTY;
	if (VMS_MUTANT_IS(kvm_no_writeback))
		return !PP_SLOT(w);
	return (w & PP_DIRTY) || !PP_SLOT(w);
}

/*
 * PAGEOUT: evicts locked resident pages (ascending) now and unlocks them,
 * layout_lock held for reading (the dirty log takes KVM's slots_lock):
 * harvest the dirty log, move the batch out, harvest again, write.
 * Skipping the second harvest would trust a copy the guest overwrote
 * between the first and the move.
 */
static void evict_locked(struct vms_kvm_pager *pg, const uint64_t *pages,
			 uint64_t *words, size_t n)
{
	uint64_t moved_pages[RUN_MAX], moved_words[RUN_MAX];
	uint8_t *dst[RUN_MAX] = { NULL }, *bufs[RUN_MAX];
	bool moved[RUN_MAX] = { false }, dirty[RUN_MAX];
	size_t k = 0;
	int r, again = 0;

	VMS_ASSERT(n <= RUN_MAX);
	vms_lock(&pg->evict_lock);
	for (size_t i = 0; i < n; i++)
		dst[i] = pg->staging + (i << PAGE_SHIFT);
	r = harvest(pg);
	vms_race_window(VMS_RACE_KVM_HARVEST_MOVE);
	if (r)
		pager_fail(pg, r);      /* no dirty log: fail-stop */
	else
		move_out(pg, pages, n, dst, moved);
	if (!r && !VMS_MUTANT_IS(kvm_single_harvest))
		again = harvest(pg);
	if (again)
		pager_fail(pg, again);
	for (size_t i = 0; i < n; i++) {
		if (!moved[i]) {
			pp_unlock(pg, pages[i], words[i], 0);
			continue;
		}
		moved_pages[k] = pages[i];
		moved_words[k] = atomic_load(&pg->pp[pages[i]]);
		bufs[k] = dst[i];
		/* The log failed after the move: no copy can be trusted. */
		dirty[k++] = again || needs_write(pg, pages[i]);
	}
	write_out_locked(pg, moved_pages, moved_words, bufs, dirty, k);
	madvise(pg->staging, n << PAGE_SHIFT, MADV_DONTNEED);
	vms_unlock(&pg->evict_lock);
}

/* ---- sampling: which pages the guest uses ----
 *
 * The reclaimer does not evict the clock's candidates at once: it moves
 * them out of guest RAM into the sample ring, where they stay in memory.
 * A guest touch faults, and the handler moves the page straight back
 * (young: the guest uses it; no I/O, no copy).  What was not touched by
 * the time it reaches the ring's head is cold and is evicted from there.
 * A page's dirty state for that eviction comes from a harvest after its
 * move, as for PAGEOUT.
 */
#define RING_MAX 1024
#define RING_FREE UINT64_MAX
#define RING_AGE_NS 10000000ull     /* a sample's chance to be touched */

static uint8_t *ring_page(struct vms_kvm_pager *pg, uint64_t pos)
{
	return pg->ring + ((pos % RING_MAX) << PAGE_SHIFT);
}

#ifdef VMS_DEBUG
/* A sample's copy is in the ring where its page word says: reading a
 * ring page that is not would wait for a fault nobody resolves. */
static bool ring_holds(struct vms_kvm_pager *pg, uint64_t pos)
{
	unsigned char v = 0;

	return !mincore(ring_page(pg, pos), PAGE_SIZE, &v) && (v & 1);
}
#endif

/* Samples locked resident pages (ascending): out to the ring's tail,
 * harvested first (the kvm_single_harvest mutant trusts only this). */
static size_t sample_locked(struct vms_kvm_pager *pg, const uint64_t *pages,
			    const uint64_t *words, size_t n)
{
	uint8_t *dst[RUN_MAX] = { NULL };
	bool moved[RUN_MAX] = { false };
	size_t k = 0;
	int r = harvest(pg);

	vms_race_window(VMS_RACE_KVM_HARVEST_MOVE);
	for (size_t i = 0; i < n; i++)
		dst[i] = ring_page(pg, pg->ring_tail + i);
	if (!r)
		move_out(pg, pages, n, dst, moved);
	else
		pager_fail(pg, r);
	uint64_t now = vms_now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t w = words[i];

		if (!r && moved[i]) {
			uint64_t pos = pg->ring_tail + i;

			/* A resident page is never a hole (ALLOW_SRC_HOLES
			 * would count one as moved). */
			VMS_ASSERT(ring_holds(pg, pos));
			pg->ring_dirty[pos % RING_MAX] =
				(atomic_load(&pg->pp[pages[i]]) & PP_DIRTY) != 0;
			pg->ring_ns[pos % RING_MAX] = now;
			atomic_store(&pg->ring_at[pos % RING_MAX], pages[i]);
			pg->sample_pos[pages[i]] = pos;
			w = (w & ~PP_STATE) | PP_SAMPLED;
			k++;
		} else {
			atomic_store(&pg->ring_at[(pg->ring_tail + i) % RING_MAX],
				     RING_FREE);
		}
		pp_unlock(pg, pages[i], w, 0);
	}
	pg->ring_tail += n;
	vms_stat_inc(&pg->st.samples, k);
	return k;
}

/* Evicts up to RUN_MAX of the oldest samples (aged, or all of them when
 * @force), from the ring's head.  Returns how many ring places it freed. */
static size_t evict_samples(struct vms_kvm_pager *pg, bool force)
{
	uint64_t pages[RUN_MAX], words[RUN_MAX], now = vms_now_ns();
	uint8_t *bufs[RUN_MAX];
	bool dirty[RUN_MAX];
	size_t n = 0, freed = 0;

	while (pg->ring_head < pg->ring_tail && n < RUN_MAX) {
		uint64_t pos = pg->ring_head, at = pos % RING_MAX;
		uint64_t p = atomic_load(&pg->ring_at[at]), w;

		if (p != RING_FREE) {
			if (!force && now - pg->ring_ns[at] < RING_AGE_NS)
				break;
			/* A fault may hold it (moving it back): later. */
			if (!pp_trylock(pg, p, &w))
				break;
			if ((w & PP_STATE) != PP_SAMPLED ||
			    pg->sample_pos[p] != pos) {
				pp_unlock(pg, p, w, 0);
			} else {
				VMS_ASSERT(ring_holds(pg, pos));
				pages[n] = p;
				words[n] = w;
				bufs[n] = ring_page(pg, pos);
				dirty[n++] = pg->ring_dirty[at];
			}
		}
		pg->ring_head++;
		freed++;
	}
	if (n && !VMS_MUTANT_IS(kvm_single_harvest)) {
		int r = harvest(pg);

		if (r)
			pager_fail(pg, r);
		for (size_t i = 0; i < n; i++)
			dirty[i] = r || needs_write(pg, pages[i]);
	}
	write_out_locked(pg, pages, words, bufs, dirty, n);
	for (size_t i = 0; i < n; i++)
		madvise(bufs[i], PAGE_SIZE, MADV_DONTNEED);
	return freed;
}

/* A fault on a sampled page: back into guest RAM, young.  Page locked. */
static int sample_return_locked(struct vms_kvm_pager *pg, uint64_t p)
{
	uint64_t pos = pg->sample_pos[p];
	struct uffdio_move m = {
		.dst = (uintptr_t)pg->ram + (p << PAGE_SHIFT),
		.src = (uintptr_t)ring_page(pg, pos),
		.len = PAGE_SIZE,
	};
	VMS_ASSERT(ring_holds(pg, pos));
	int r = uffd_ioctl(pg, UFFDIO_MOVE, &m);

	/* UFFDIO_MOVE takes writable mappings only (EINVAL into a range the
	 * VMM made read-only meanwhile) and gives up on a busy page (EAGAIN,
	 * EBUSY): then the page is copied back instead. */
	if (r == -EINVAL || r == -EAGAIN || r == -EBUSY) {
		uint64_t placed;

		r = uffd_place(pg, p, 1, ring_page(pg, pos), &placed);
		if (!r)
			madvise(ring_page(pg, pos), PAGE_SIZE, MADV_DONTNEED);
	}
	if (!r)
		atomic_store(&pg->ring_at[pos % RING_MAX], RING_FREE);
	return r;
}

/* Up to RUN_MAX cold resident pages, locked and ascending: a clock that
 * gives pages touched since its last pass a second chance. */
static size_t pick_victims(struct vms_kvm_pager *pg, uint64_t *pages,
			   uint64_t *words, size_t want)
{
	size_t n = 0;

	for (uint64_t scanned = 0; scanned < 2 * pg->pages && n < want;
	     scanned++) {
		uint64_t p = pg->clock_hand;
		uint64_t w = atomic_load(&pg->pp[p]);

		pg->clock_hand = (p + 1) % pg->pages;
		if (p == 0 && n)
			break;          /* keep each batch ascending */
		if ((w & PP_STATE) != PP_RES || (w & PP_LOCK))
			continue;
		if (w & PP_YOUNG) {
			atomic_fetch_and(&pg->pp[p], ~PP_YOUNG);
			continue;
		}
		if (!pp_trylock(pg, p, &w))
			continue;
		if ((w & PP_STATE) != PP_RES || (w & PP_YOUNG)) {
			pp_unlock(pg, p, w, 0);
			continue;
		}
		pages[n] = p;
		words[n++] = w;
	}
	return n;
}

/* The budget holds the resident pages and what the backend holds of
 * ours in memory (a compressed tier's pool). */
static bool over_budget(struct vms_kvm_pager *pg, uint64_t slack)
{
	uint64_t held = pg->be->held_bytes ? pg->be->held_bytes(pg->be) : 0;

	return atomic_load(&pg->resident) + (held >> PAGE_SHIFT) >
	       pg->budget + slack;
}

static void *reclaimer_main(void *arg)
{
	struct vms_kvm_pager *pg = arg;
	uint64_t pages[RUN_MAX], words[RUN_MAX];

	while (!atomic_load(&pg->stop)) {
		if (!over_budget(pg, 0)) {
			struct timespec ts;

			pthread_mutex_lock(&pg->kick_mu);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 2000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (!atomic_load(&pg->stop))
				pthread_cond_timedwait(&pg->kick_cv,
						       &pg->kick_mu, &ts);
			pthread_mutex_unlock(&pg->kick_mu);
			continue;
		}
		uint64_t errors = vms_stat_read(&pg->st.write_errors);
		size_t n;

		/* Cold samples go first; the ring full, the oldest go
		 * anyway; else the clock's candidates become samples. */
		pthread_rwlock_rdlock(&pg->layout_lock);
		vms_lock(&pg->evict_lock);
		bool full = pg->ring_tail - pg->ring_head + RUN_MAX > pg->ring_cap;
		n = evict_samples(pg, full);
		if (!n && !full) {
			n = pick_victims(pg, pages, words, RUN_MAX);
			/* None moved (write-protected by the VMM, pinned):
			 * no progress, so do not spin. */
			if (n)
				n = sample_locked(pg, pages, words, n);
		}
		vms_unlock(&pg->evict_lock);
		pthread_rwlock_unlock(&pg->layout_lock);
		if (!n || vms_stat_read(&pg->st.write_errors) != errors) {
			/* Nothing to do yet, or swap failing: do not spin. */
			struct timespec ts = { 0, n ? 1000000 : 200000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void kick_reclaimer(struct vms_kvm_pager *pg)
{
	pthread_mutex_lock(&pg->kick_mu);
	pthread_cond_signal(&pg->kick_cv);
	pthread_mutex_unlock(&pg->kick_mu);
}

/* ---- faults ---- */

/* How many pages to bring in from @p: doubling while each fault comes
 * where the last run ended, one page after a jump. */
static unsigned readahead_window(struct vms_kvm_pager *pg, uint64_t p)
{
	unsigned w = atomic_load(&pg->ra_window);

	w = atomic_load(&pg->ra_next) == p ? (w < RUN_MAX ? 2 * w : RUN_MAX)
					   : 1;
	atomic_store(&pg->ra_window, w);
	return w;
}

/* Locks the pages after @p in the same state as it, up to @max in all. */
static size_t gather_run(struct vms_kvm_pager *pg, uint64_t p, uint64_t state,
			 uint64_t *words, size_t max)
{
	size_t n = 1;

	while (n < max && p + n < pg->pages) {
		uint64_t w;

		if (!pp_trylock(pg, p + n, &w))
			break;
		if ((w & PP_STATE) != state) {
			pp_unlock(pg, p + n, w, 0);
			break;
		}
		words[n++] = w;
	}
	return n;
}

/* Reads the run's slots into @buf; the first page's failure fails the
 * run (returns -EIO), a later one just ends it.  Returns how many pages
 * are good. */
static int read_run(struct vms_kvm_pager *pg, const uint64_t *words, size_t n,
		    uint8_t *buf, size_t *good)
{
	struct vms_swap_io io[RUN_MAX];

	for (size_t i = 0; i < n; i++)
		io[i] = (struct vms_swap_io){ .slot = PP_SLOT(words[i]),
					      .buf = buf + (i << PAGE_SHIFT) };
	swap_backend_io(pg->be, io, n);
	*good = 0;
	while (*good < n && !io[*good].res)
		(*good)++;
	if (*good < n)
		vms_stat_inc(&pg->st.read_errors, 1);
	return *good ? 0 : io[0].res;
}

/* Places the first *@good pages of a fault's run (words[] their states)
 * from @src (NULL: zeroes), counted first: the woken guest runs on, and
 * what it sees must be in the counters already.  On failure *@good says
 * how many were placed, and the count of the rest is undone. */
static int place_run(struct vms_kvm_pager *pg, uint64_t p,
		     const uint64_t *words, size_t *good, const uint8_t *src)
{
	uint64_t swapped = 0, placed;

	for (size_t i = 0; i < *good; i++)
		swapped += (words[i] & PP_STATE) == PP_SWAP;
	atomic_fetch_add(&pg->resident, *good);
	atomic_fetch_sub(&pg->swapped, swapped);
	if (*good > 1)
		vms_stat_inc(&pg->st.readahead, *good - 1);
	int r = uffd_place(pg, p, *good, src, &placed);
	if (r) {
		for (size_t i = placed; i < *good; i++)
			atomic_fetch_add(&pg->swapped,
					 (words[i] & PP_STATE) == PP_SWAP);
		atomic_fetch_sub(&pg->resident, *good - placed);
		*good = placed;
	}
	return r;
}

/* A fault that adds to a budget already overdrawn by more than a couple
 * of eviction runs waits for the reclaimer a bounded while, as
 * memory.high throttles an allocating task: bounded, for the reclaimer
 * may be unable to write (then the budget gives, not the guest). */
static void throttle(struct vms_kvm_pager *pg)
{
	uint64_t slack = pg->budget / 32 > 2 * RUN_MAX ? pg->budget / 32
						       : 2 * RUN_MAX;

	for (unsigned i = 0; i < 50 && !atomic_load(&pg->stop) &&
			     over_budget(pg, slack);
	     i++) {
		struct timespec ts = { 0, 200000 };

		kick_reclaimer(pg);
		nanosleep(&ts, NULL);
		vms_stat_inc(&pg->st.throttled_ns, 200000);
	}
}

static void handle_fault(struct vms_kvm_pager *pg, uint64_t addr, uint8_t *buf)
{
	uint64_t p = (addr - (uintptr_t)pg->ram) >> PAGE_SHIFT;
	uint64_t words[RUN_MAX], t0 = vms_now_ns();
	size_t n, good;
	int r = 0;

	if (addr < (uintptr_t)pg->ram || p >= pg->pages) {
		/* Staging and the ring are read only where pages sit: a
		 * fault there is a pager bug.  Fail-stop, never zeroes. */
		pager_fail(pg, -EFAULT);
		return;
	}
	uint64_t st = atomic_load(&pg->pp[p]) & PP_STATE;

	if (st == PP_ZERO || st == PP_SWAP)
		throttle(pg);
	words[0] = pp_lock(pg, p);
	switch (words[0] & PP_STATE) {
	case PP_RES: {
		/* Placed already (another vCPU's fault, read-ahead). */
		struct uffdio_range w = { addr & ~(PAGE_SIZE - 1), PAGE_SIZE };

#ifdef VMS_DEBUG
		unsigned char in = 1;

		/* Else the guest would fault here for ever. */
		if (!mincore((void *)(uintptr_t)w.start, PAGE_SIZE, &in) &&
		    !(in & 1)) {
			fprintf(stderr, "pager: page %" PRIu64 " resident but "
				"not in guest RAM (word %#" PRIx64 ", state set "
				"at pager.c:%u)\n", p, words[0],
				pg->unlocked_at[p]);
			VMS_ASSERT(!"a resident page is away");
		}
#endif
		ioctl(pg->uffd, UFFDIO_WAKE, &w);
		vms_stat_inc(&pg->st.faults_raced, 1);
		pp_unlock(pg, p, words[0], 0);
		return;
	}
	case PP_SAMPLED:
		/* Touched while sampled: the guest uses it.  Back at once,
		 * without I/O (and not counted as a refault). */
		n = 1;
		vms_stat_inc(&pg->st.faults_sampled, 1);
		r = sample_return_locked(pg, p);
		good = !r;
		t0 = 0;
		break;
	case PP_ZERO:
		n = good = gather_run(pg, p, PP_ZERO, words,
				      readahead_window(pg, p));
		vms_stat_inc(&pg->st.faults_zero, 1);
		r = place_run(pg, p, words, &good, NULL);
		break;
	default:
		n = gather_run(pg, p, PP_SWAP, words, readahead_window(pg, p));
		vms_stat_inc(&pg->st.faults_backend, 1);
		r = read_run(pg, words, n, buf, &good);
		if (r && VMS_MUTANT_IS(kvm_zero_fill))
			buf = NULL, good = 1, r = 0;    /* zeroes instead */
		if (!r)
			r = place_run(pg, p, words, &good, buf);
		break;
	}
	if (r) {
		/* Never a zero page for a page that had contents: the guest
		 * stops, the pages not placed stay where they are. */
		pager_fail(pg, r);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t w = words[i];

		if (i < good)
			w = (w & ~PP_STATE) | PP_RES | (i ? 0 : PP_YOUNG);
		pp_unlock(pg, p + i, w, 0);
	}
	atomic_store(&pg->ra_next, p + (good ? good : 1));
	if (t0)
		vms_stat_inc(&pg->st.refault_ns, vms_now_ns() - t0);
	if (over_budget(pg, 0))
		kick_reclaimer(pg);
}

static void *handler_main(void *arg)
{
	struct vms_kvm_pager *pg = arg;
	uint8_t *buf = vms_aligned_alloc(PAGE_SIZE, RUN_MAX * PAGE_SIZE);
	struct uffd_msg msg[16];

	if (!buf) {
		pager_fail(pg, -ENOMEM);
		return NULL;
	}
	while (!atomic_load(&pg->stop)) {
		struct pollfd pfd = { .fd = pg->uffd, .events = POLLIN };

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t got = read(pg->uffd, msg, sizeof(msg));

		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			pager_fail(pg, -errno);
			break;
		}
		for (size_t i = 0; i < (size_t)got / sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				handle_fault(pg, msg[i].arg.pagefault.address,
					     buf);
	}
	vms_free(buf);
	return NULL;
}

/* ---- the pager's life ---- */

static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev >= 0) {
			fd = ioctl(dev, _IO(0xAA, 0x00), O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	return fd < 0 ? -errno : fd;
}

static int uffd_register(int uffd, void *at, uint64_t bytes, uint64_t mode)
{
	struct uffdio_register reg = {
		.range = { (uintptr_t)at, bytes },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

static void pager_free(struct vms_kvm_pager *pg)
{
	if (pg->uffd >= 0)
		close(pg->uffd);
	if (pg->staging && pg->staging != MAP_FAILED)
		munmap(pg->staging, RUN_MAX * PAGE_SIZE);
	if (pg->ring && pg->ring != MAP_FAILED)
		munmap(pg->ring, RING_MAX * PAGE_SIZE);
	vms_free(pg->ring_at);
	vms_free(pg->ring_ns);
	vms_free(pg->ring_dirty);
	vms_free(pg->sample_pos);
	vms_free(pg->pp);
#ifdef VMS_DEBUG
	vms_free(pg->unlocked_at);
#endif
	vms_free(pg->dirty_bitmap);
	if (pg->sa)
		swap_area_destroy(pg->sa, false);
	vms_lock_destroy(&pg->evict_lock);
	vms_lock_destroy(&pg->harvest_lock);
	pthread_rwlock_destroy(&pg->layout_lock);
	pthread_mutex_destroy(&pg->kick_mu);
	pthread_cond_destroy(&pg->kick_cv);
	vms_free(pg);
}

static void pager_stop_threads(struct vms_kvm_pager *pg, unsigned handlers,
			       bool reclaimer)
{
	atomic_store(&pg->stop, true);
	kick_reclaimer(pg);
	if (reclaimer)
		pthread_join(pg->reclaimer, NULL);
	for (unsigned i = 0; i < handlers; i++)
		pthread_join(pg->handlers[i], NULL);
}

int vms_kvm_pager_create(const struct vms_kvm_pager_config *cfg,
			 struct vms_kvm_pager **out)
{
	VMS_HOST_CALL();
	struct vms_kvm_pager *pg;
	int r;

	if (!cfg || !out || !cfg->backend || cfg->backend->nr_slots < 2 ||
	    !cfg->backend->rw || cfg->handlers > 4 || cfg->ram.vm_fd < 0 ||
	    !cfg->ram.hva || !PAGE_ALIGNED((uintptr_t)cfg->ram.hva) ||
	    !cfg->ram.bytes || !PAGE_ALIGNED(cfg->ram.bytes) ||
	    cfg->host_bytes < PAGE_SIZE)
		return -EINVAL;
	pg = vms_calloc(1, sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	pg->vm_fd = cfg->ram.vm_fd;
	pg->slot = cfg->ram.slot;
	pg->ram = cfg->ram.hva;
	pg->pages = cfg->ram.bytes >> PAGE_SHIFT;
	pg->budget = cfg->host_bytes >> PAGE_SHIFT;
	if (pg->budget > pg->pages)
		pg->budget = pg->pages;
	pg->fail_fn = cfg->fail;
	pg->fail_arg = cfg->fail_arg;
	pg->be = cfg->backend;
	pg->nr_handlers = cfg->handlers ? cfg->handlers : 2;
	pg->uffd = -1;
	atomic_init(&pg->ra_window, 1);
	vms_lock_init(&pg->evict_lock);
	vms_lock_init(&pg->harvest_lock);
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&pg->layout_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&pg->kick_mu, NULL);
	pthread_cond_init(&pg->kick_cv, NULL);
	pg->pp = vms_calloc(pg->pages, sizeof(*pg->pp));
	bool short_of_memory = false;
#ifdef VMS_DEBUG
	pg->unlocked_at = vms_calloc(pg->pages, sizeof(*pg->unlocked_at));
	short_of_memory = !pg->unlocked_at;
#endif
	pg->dirty_bitmap = vms_calloc((pg->pages + 63) / 64, 8);
	pg->staging = vms_os_mmap(NULL, RUN_MAX * PAGE_SIZE,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pg->ring = vms_os_mmap(NULL, RING_MAX * PAGE_SIZE,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	pg->ring_at = vms_calloc(RING_MAX, sizeof(*pg->ring_at));
	pg->ring_ns = vms_calloc(RING_MAX, sizeof(*pg->ring_ns));
	pg->ring_dirty = vms_calloc(RING_MAX, sizeof(*pg->ring_dirty));
	pg->sample_pos = vms_calloc(pg->pages, sizeof(*pg->sample_pos));
	/* Samples wait in memory: an eighth of the budget at most. */
	pg->ring_cap = pg->budget / 8 > RING_MAX ? RING_MAX
		       : pg->budget / 8 < 2 * RUN_MAX ? 2 * RUN_MAX
						      : pg->budget / 8;
	if (short_of_memory || swap_area_create(pg->be, &pg->sa) || !pg->pp ||
	    !pg->dirty_bitmap ||
	    pg->staging == MAP_FAILED || pg->ring == MAP_FAILED ||
	    !pg->ring_at || !pg->ring_ns || !pg->ring_dirty || !pg->sample_pos)
		r = -ENOMEM;
	else
		r = uffd_open();
	if (r < 0)
		goto fail;
	pg->uffd = r;
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MOVE |
					      UFFD_FEATURE_WP_ASYNC };
	r = ioctl(pg->uffd, UFFDIO_API, &api) ? -errno : 0;
	/* Nothing of the guest's is in its RAM before we place it: every
	 * first touch comes to a handler (ZERO). */
	if (!r && madvise(pg->ram, pg->pages << PAGE_SHIFT, MADV_DONTNEED))
		r = -errno;
	if (!r)
		r = uffd_register(pg->uffd, pg->ram, pg->pages << PAGE_SHIFT,
				  UFFDIO_REGISTER_MODE_MISSING |
					  UFFDIO_REGISTER_MODE_WP);
	if (!r)
		r = uffd_register(pg->uffd, pg->staging, RUN_MAX * PAGE_SIZE,
				  UFFDIO_REGISTER_MODE_MISSING |
					  UFFDIO_REGISTER_MODE_WP);
	if (!r)
		r = uffd_register(pg->uffd, pg->ring, RING_MAX * PAGE_SIZE,
				  UFFDIO_REGISTER_MODE_MISSING |
					  UFFDIO_REGISTER_MODE_WP);
	/* The dirty log must be on, and starts clean. */
	if (!r)
		r = harvest(pg);
	if (r)
		goto fail;
	r = vms_os_thread_create(&pg->reclaimer, reclaimer_main, pg);
	if (r)
		goto fail;
	for (unsigned i = 0; i < pg->nr_handlers; i++) {
		r = vms_os_thread_create(&pg->handlers[i], handler_main, pg);
		if (r) {
			pager_stop_threads(pg, i, true);
			goto fail;
		}
	}
	*out = pg;
	return 0;
fail:
	pager_free(pg);
	return r;
}

/* The page table's invariant, once no thread changes it (debug builds);
 * a pager that failed may have stopped half-way through a change. */
static void pager_check(struct vms_kvm_pager *pg)
{
#ifdef VMS_DEBUG
	uint64_t res = 0, swp = 0, nslots = 0;

	if (pg->sa) {
		swap_used(pg->sa, &nslots);
		nslots++;                       /* slots 1 .. nslots - 1 */
	}
	uint8_t *used = nslots ? vms_calloc(nslots, 1) : NULL;

	if (atomic_load(&pg->error) || (nslots && !used)) {
		vms_free(used);
		return;
	}
	for (uint64_t p = 0; p < pg->pages; p++) {
		uint64_t w = atomic_load(&pg->pp[p]), s = PP_SLOT(w);

		VMS_ASSERT(!(w & PP_LOCK));
		/* A sample is still in memory: it counts as resident. */
		res += (w & PP_STATE) == PP_RES || (w & PP_STATE) == PP_SAMPLED;
		swp += (w & PP_STATE) == PP_SWAP;
		VMS_ASSERT((w & PP_STATE) != PP_SWAP || s);
		if (s) {
			VMS_ASSERT(s < nslots && !used[s]);
			used[s] = 1;
		}
	}
	VMS_ASSERT(res == atomic_load(&pg->resident));
	VMS_ASSERT(swp == atomic_load(&pg->swapped));
	vms_free(used);
#else
	(void)pg;
#endif
}

void vms_kvm_pager_destroy(struct vms_kvm_pager *pg)
{
	VMS_HOST_CALL();
	if (!pg)
		return;
	pager_stop_threads(pg, pg->nr_handlers, true);
	pager_check(pg);
	/* The caller's vCPUs are gone for good: now the uffd may close. */
	swap_area_destroy(pg->sa, true);
	pg->sa = NULL;
	pager_free(pg);
}

int vms_kvm_pager_error(struct vms_kvm_pager *pg)
{
	return pg ? atomic_load(&pg->error) : -EINVAL;
}

int vms_kvm_set_memslot(struct vms_kvm_pager *pg, unsigned slot,
			unsigned flags, uint64_t gpa, uint64_t bytes, void *hva)
{
	VMS_HOST_CALL();
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = bytes, .userspace_addr = (uintptr_t)hva,
	};

	if (!pg)
		return -EINVAL;
	if (slot == pg->slot)
		return -EBUSY;          /* the paged RAM stays where it is */
	pthread_rwlock_wrlock(&pg->layout_lock);
	int e = ioctl(pg->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) ? -errno : 0;
	pthread_rwlock_unlock(&pg->layout_lock);
	return e;
}

/* ---- advice ---- */

/* DONTNEED: the pages go, slots too; the range reads as zeroes. */
static int advise_dontneed(struct vms_kvm_pager *pg, uint64_t page, uint64_t n)
{
	uint64_t *words = vms_malloc(n * sizeof(*words));

	if (!words)
		return -ENOMEM;
	for (uint64_t i = 0; i < n; i++)
		words[i] = pp_lock(pg, page + i);
	int r = madvise(pg->ram + (page << PAGE_SHIFT), n << PAGE_SHIFT,
			MADV_DONTNEED) ? -errno : 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w = words[i];

		if (!r) {
			if ((w & PP_STATE) == PP_SAMPLED) {
				/* Its place in the ring is let go unread, emptied
				 * first: once free, the reclaimer may pass it and
				 * fill it with another sample. */
				uint64_t pos = pg->sample_pos[page + i];

				madvise(ring_page(pg, pos), PAGE_SIZE,
					MADV_DONTNEED);
				atomic_store(&pg->ring_at[pos % RING_MAX],
					     RING_FREE);
			}
			if ((w & PP_STATE) == PP_RES ||
			    (w & PP_STATE) == PP_SAMPLED)
				atomic_fetch_sub(&pg->resident, 1);
			if ((w & PP_STATE) == PP_SWAP)
				atomic_fetch_sub(&pg->swapped, 1);
			slot_free(pg, PP_SLOT(w));
			w = pp_make(PP_ZERO, 0);
		}
		pp_unlock(pg, page + i, w, r ? 0 : PP_DIRTY | PP_YOUNG);
	}
	vms_stat_inc(&pg->st.discards, n);
	vms_free(words);
	return r;
}

/* FREE: what the guest wrote so far may go as zeroes, until it writes
 * again.  The harvest first, so that DIRTY then means "written since". */
static int advise_free(struct vms_kvm_pager *pg, uint64_t page, uint64_t n)
{
	pthread_rwlock_rdlock(&pg->layout_lock);
	int r = harvest(pg);

	for (uint64_t p = page; !r && p < page + n; p++) {
		uint64_t w = pp_lock(pg, p), st = w & PP_STATE;

		if (st == PP_RES || st == PP_SAMPLED)
			w |= PP_LAZY;
		pp_unlock(pg, p, w, st == PP_RES || st == PP_SAMPLED ? PP_DIRTY : 0);
	}
	pthread_rwlock_unlock(&pg->layout_lock);
	return r;
}

/* PAGEOUT: the resident pages go now, in runs. */
static int advise_pageout(struct vms_kvm_pager *pg, uint64_t page, uint64_t n)
{
	uint64_t pages[RUN_MAX], words[RUN_MAX];
	size_t k = 0;

	pthread_rwlock_rdlock(&pg->layout_lock);
	for (uint64_t p = page; p < page + n; p++) {
		uint64_t w = pp_lock(pg, p);

		if ((w & PP_STATE) != PP_RES) {
			pp_unlock(pg, p, w, 0);
			continue;
		}
		pages[k] = p;
		words[k++] = w;
		if (k == RUN_MAX) {
			evict_locked(pg, pages, words, k);
			k = 0;
		}
	}
	if (k)
		evict_locked(pg, pages, words, k);
	pthread_rwlock_unlock(&pg->layout_lock);
	return 0;
}

/* WILLNEED: swapped pages come back now, as faults would bring them. */
static int advise_willneed(struct vms_kvm_pager *pg, uint64_t page, uint64_t n)
{
	uint8_t *buf = vms_aligned_alloc(PAGE_SIZE, RUN_MAX * PAGE_SIZE);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t p = page; p < page + n && !r;) {
		uint64_t words[RUN_MAX];
		uint64_t placed = 0;
		size_t k, good;

		words[0] = pp_lock(pg, p);
		if ((words[0] & PP_STATE) != PP_SWAP) {
			pp_unlock(pg, p, words[0], 0);
			p++;
			continue;
		}
		uint64_t left = page + n - p;
		k = gather_run(pg, p, PP_SWAP, words,
			       left < RUN_MAX ? left : RUN_MAX);
		r = read_run(pg, words, k, buf, &good);
		/* A read that failed leaves the page swapped; a placement
		 * that failed is the pager's failure, as in a fault. */
		if (r)
			good = 0;
		else if ((r = uffd_place(pg, p, good, buf, &placed)))
			pager_fail(pg, r);
		if (r)
			good = placed;
		for (size_t i = 0; i < k; i++) {
			uint64_t w = words[i];

			if (i < good) {
				atomic_fetch_add(&pg->resident, 1);
				atomic_fetch_sub(&pg->swapped, 1);
				w = (w & ~PP_STATE) | PP_RES;
			}
			pp_unlock(pg, p + i, w, 0);
		}
		p += k;
	}
	vms_free(buf);
	if (over_budget(pg, 0))
		kick_reclaimer(pg);
	return r;
}

int vms_kvm_pager_advise(struct vms_kvm_pager *pg, uint64_t hva, size_t len,
			 int advice)
{
	VMS_HOST_CALL();
	uint64_t base = (uintptr_t)(pg ? pg->ram : NULL);

	if (!pg || !len || !PAGE_ALIGNED(hva) || hva < base ||
	    hva - base >= pg->pages << PAGE_SHIFT ||
	    len > (pg->pages << PAGE_SHIFT) - (hva - base))
		return -EINVAL;
	uint64_t page = (hva - base) >> PAGE_SHIFT;
	uint64_t n = (len + PAGE_SIZE - 1) >> PAGE_SHIFT;

	switch (advice) {
	case VMS_MADV_DONTNEED:
		return advise_dontneed(pg, page, n);
	case VMS_MADV_FREE:
		return advise_free(pg, page, n);
	case VMS_MADV_PAGEOUT:
		return advise_pageout(pg, page, n);
	case VMS_MADV_WILLNEED:
		return advise_willneed(pg, page, n);
	case VMS_MADV_COLD:
		for (uint64_t p = page; p < page + n; p++)
			atomic_fetch_and(&pg->pp[p], ~PP_YOUNG);
		return 0;
	default:
		return -EINVAL;
	}
}

void vms_kvm_pager_stats(struct vms_kvm_pager *pg,
			 struct vms_kvm_pager_stats *st)
{
	*st = (struct vms_kvm_pager_stats){
		.resident = atomic_load(&pg->resident),
		.swapped = atomic_load(&pg->swapped),
		.faults_zero = vms_stat_read(&pg->st.faults_zero),
		.faults_backend = vms_stat_read(&pg->st.faults_backend),
		.faults_raced = vms_stat_read(&pg->st.faults_raced),
		.readahead = vms_stat_read(&pg->st.readahead),
		.evictions = vms_stat_read(&pg->st.evictions),
		.clean_drops = vms_stat_read(&pg->st.clean_drops),
		.writes = vms_stat_read(&pg->st.writes),
		.write_errors = vms_stat_read(&pg->st.write_errors),
		.read_errors = vms_stat_read(&pg->st.read_errors),
		.discards = vms_stat_read(&pg->st.discards),
		.harvests = vms_stat_read(&pg->st.harvests),
		.fault_ns = vms_stat_read(&pg->st.refault_ns),
		.samples = vms_stat_read(&pg->st.samples),
		.faults_sampled = vms_stat_read(&pg->st.faults_sampled),
		.lazyfree = vms_stat_read(&pg->st.lazyfree),
		.throttled_ns = vms_stat_read(&pg->st.throttled_ns),
	};
	swap_zswap_stats(pg->sa, &st->zswap);
}
