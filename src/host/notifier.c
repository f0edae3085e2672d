/* notifier.c - MMU notifier subscriptions of an mm and interval
 * subscriptions: registering while others run, the start/end pairs the mm
 * issues, aging calls and release. */
#define _GNU_SOURCE
#include "host/host.h"

#include <string.h>

/* An immutable snapshot of the subscriptions; replaced, never edited. */
struct mm_subs {
	size_t nr_mn, nr_iv;
	struct vms_mmu_notifier **mn;
	struct vms_interval_notifier **iv;
};

/*
 * invalidate_seq: set by ->invalidate (through vms_interval_set_seq, under
 * the driver's lock) to the mm's odd iv_seq of the pair that covers the
 * interval; read_retry compares it with what read_begin returned.
 */
struct vms_interval_notifier {
	struct vms_mm *mm;
	uint64_t start, end;
	const struct vms_interval_notifier_ops *ops;
	void *priv;
	atomic_ulong invalidate_seq;
};

static struct mm_subs *subs_alloc(size_t nr_mn, size_t nr_iv)
{
	struct mm_subs *s = vms_calloc(1, sizeof(*s) + (nr_mn + nr_iv) * sizeof(void *));

	if (!s)
		return NULL;
	s->nr_mn = nr_mn;
	s->nr_iv = nr_iv;
	s->mn = (struct vms_mmu_notifier **)(s + 1);
	s->iv = (struct vms_interval_notifier **)(s->mn + nr_mn);
	return s;
}

void mm_subs_init(struct vms_mm *mm)
{
	vms_srcu_init(&mm->srcu);
	vms_lock_init(&mm->subs_lock);
	/* NULL reads as empty (subs_get), so a failed calloc is harmless. */
	atomic_init(&mm->subs, subs_alloc(0, 0));
}

void mm_subs_destroy(struct vms_mm *mm)
{
	struct mm_subs *s = atomic_load(&mm->subs);

	VMS_ASSERT(!s || s->nr_iv == 0);
	vms_free(s);
	vms_lock_destroy(&mm->subs_lock);
	vms_srcu_destroy(&mm->srcu);
}

static const struct mm_subs empty_subs;

static const struct mm_subs *subs_get(struct vms_mm *mm)
{
	struct mm_subs *s = atomic_load(&mm->subs);

	return s ? s : &empty_subs;
}

/* Publishes @next and waits until no pair uses the old snapshot.  Caller
 * holds subs_lock. */
static void subs_replace_locked(struct vms_mm *mm, struct mm_subs *next)
{
	vms_assert_held(&mm->subs_lock);
	struct mm_subs *old = atomic_exchange(&mm->subs, next);

	vms_srcu_synchronize(&mm->srcu);
	vms_free(old);
}

/* Copies @src into @dst leaving @mn_out / @iv_out behind (either NULL). */
static void subs_copy(struct mm_subs *dst, const struct mm_subs *src,
		      const void *mn_out, const void *iv_out)
{
	size_t n = 0, m = 0;

	for (size_t i = 0; i < src->nr_mn; i++)
		if (src->mn[i] != mn_out)
			dst->mn[n++] = src->mn[i];
	for (size_t i = 0; i < src->nr_iv; i++)
		if (src->iv[i] != iv_out)
			dst->iv[m++] = src->iv[i];
	dst->nr_mn = n;
	dst->nr_iv = m;
}

/* Drops one subscription from the snapshot.  Cannot fail, and the old
 * snapshot must stay in use until the new one is out, so without memory it
 * waits for some. */
static void subs_remove_locked(struct vms_mm *mm, const void *mn_out,
			       const void *iv_out)
{
	vms_assert_held(&mm->subs_lock);
	const struct mm_subs *cur = subs_get(mm);
	struct mm_subs *next;
	unsigned spins = 512;

	while (!(next = subs_alloc(cur->nr_mn, cur->nr_iv)))
		vms_backoff(&spins);
	subs_copy(next, cur, mn_out, iv_out);
	subs_replace_locked(mm, next);
}

int vms_mmu_notifier_register(struct vms_mmu_notifier *sub, struct vms_mm *mm)
{
	VMS_HOST_CALL();
	if (!sub || !mm || !sub->ops)
		return -EINVAL;
	vms_lock(&mm->subs_lock);
	if (sub->mm) {
		vms_unlock(&mm->subs_lock);
		return -EBUSY;
	}
	const struct mm_subs *cur = subs_get(mm);
	struct mm_subs *next = subs_alloc(cur->nr_mn + 1, cur->nr_iv);

	if (!next) {
		vms_unlock(&mm->subs_lock);
		return -ENOMEM;
	}
	subs_copy(next, cur, NULL, NULL);
	next->mn[next->nr_mn++] = sub;
	sub->mm = mm;
	sub->released = false;
	/* Returns once every pair in flight has ended: from here on each pair
	 * reaches @sub at start and at end. */
	subs_replace_locked(mm, next);
	vms_unlock(&mm->subs_lock);
	return 0;
}

void vms_mmu_notifier_unregister(struct vms_mmu_notifier *sub)
{
	VMS_HOST_CALL();
	struct vms_mm *mm = sub ? sub->mm : NULL;

	if (!mm)
		return;
	/* Release first, while invalidations still reach @sub: after it the
	 * secondary maps nothing, so pages freed once it is gone are safe. */
	if (!sub->released && sub->ops->release) {
		unsigned idx = vms_srcu_read_lock(&mm->srcu);
		sub->ops->release(sub, mm);
		vms_srcu_read_unlock(&mm->srcu, idx);
	}
	sub->released = true;

	vms_lock(&mm->subs_lock);
	subs_remove_locked(mm, sub, NULL);
	vms_unlock(&mm->subs_lock);
	sub->mm = NULL;
}

void mm_notify_release(struct vms_mm *mm)
{
	vms_lock(&mm->subs_lock);
	const struct mm_subs *cur = subs_get(mm);

	for (size_t i = 0; i < cur->nr_mn; i++) {
		struct vms_mmu_notifier *sub = cur->mn[i];

		if (!sub->released && sub->ops->release)
			sub->ops->release(sub, mm);
		sub->released = true;
		sub->mm = NULL;
	}
	VMS_ASSERT(cur->nr_iv == 0);
	vms_unlock(&mm->subs_lock);
}

/* ---- invalidation pairs ---- */

static bool overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

static void iv_end(struct vms_mm *mm)
{
	vms_lock(&mm->iv_lock);
	VMS_ASSERT(mm->iv_active > 0);
	if (--mm->iv_active == 0)
		atomic_fetch_add(&mm->iv_seq, 1);       /* even: idle */
	vms_unlock(&mm->iv_lock);
}

/* The interval half of a start; false if one refused (!blockable). */
static bool iv_start(struct vms_mm *mm, struct mm_inval *inv)
{
	const struct mm_subs *s = inv->subs;
	unsigned long cur;
	size_t i;

	for (i = 0; i < s->nr_iv; i++)
		if (overlaps(s->iv[i]->start, s->iv[i]->end, inv->range.start,
			     inv->range.end))
			break;
	if (i == s->nr_iv)
		return true;
	vms_lock(&mm->iv_lock);
	if (mm->iv_active++ == 0)
		atomic_fetch_add(&mm->iv_seq, 1);       /* odd: running */
	cur = atomic_load(&mm->iv_seq);
	vms_unlock(&mm->iv_lock);
	inv->intervals = true;
	for (; i < s->nr_iv; i++) {
		struct vms_interval_notifier *iv = s->iv[i];

		if (overlaps(iv->start, iv->end, inv->range.start,
			     inv->range.end) &&
		    !iv->ops->invalidate(iv, &inv->range, cur)) {
			VMS_ASSERT(!inv->range.blockable);
			return false;
		}
	}
	return true;
}

static int invalidate_start(struct vms_mm *mm, struct mm_inval *inv);

/* The ends of the subscriptions that started, and the pair's read side. */
static void invalidate_finish(struct mm_inval *inv)
{
	for (size_t i = 0; i < inv->started; i++) {
		struct vms_mmu_notifier *sub = inv->subs->mn[i];

		if (sub->ops->invalidate_range_end)
			sub->ops->invalidate_range_end(sub, &inv->range);
	}
	if (inv->intervals)
		iv_end(inv->range.mm);
	vms_srcu_read_unlock(&inv->range.mm->srcu, inv->srcu_idx);
}

int mm_invalidate_start(struct vms_mm *mm, struct mm_inval *inv,
			uint64_t start, uint64_t end, enum vms_mmu_event event,
			bool blockable)
{
	inv->range = (struct vms_mmu_range){ .mm = mm, .start = start,
					     .end = end, .event = event,
					     .blockable = blockable };
	return invalidate_start(mm, inv);
}

int mm_invalidate_pages_start(struct vms_mm *mm, struct mm_inval *inv,
			      const uint64_t *pages, size_t n,
			      enum vms_mmu_event event)
{
	VMS_ASSERT(n > 0);
	inv->range = (struct vms_mmu_range){ .mm = mm, .start = pages[0],
					     .end = pages[n - 1] + PAGE_SIZE,
					     .pages = pages, .nr_pages = n,
					     .event = event, .blockable = true };
	return invalidate_start(mm, inv);
}

static int invalidate_start(struct vms_mm *mm, struct mm_inval *inv)
{
	bool blockable __attribute__((unused)) = inv->range.blockable;

	inv->srcu_idx = vms_srcu_read_lock(&mm->srcu);
	inv->subs = (struct mm_subs *)subs_get(mm);
	inv->started = 0;
	inv->intervals = false;

	bool ok = iv_start(mm, inv);
	for (size_t i = 0; ok && i < inv->subs->nr_mn; i++) {
		struct vms_mmu_notifier *sub = inv->subs->mn[i];

		if (sub->ops->invalidate_range_start &&
		    sub->ops->invalidate_range_start(sub, &inv->range)) {
			VMS_ASSERT(!blockable);
			ok = false;
			break;
		}
		inv->started++;
	}
	if (ok) {
		vms_stat_inc(&mm->st_inv_start, 1);
		return 0;
	}
	/* Back out: those that started see their end, as if it completed. */
	invalidate_finish(inv);
	return -EAGAIN;
}

void mm_invalidate_end(struct mm_inval *inv)
{
	struct vms_mm *mm = inv->range.mm;

	VMS_ASSERT(inv->started == inv->subs->nr_mn);
	invalidate_finish(inv);
	vms_stat_inc(&mm->st_inv_end, 1);
}

/* ---- aging ---- */

bool mm_notify_young(struct vms_mm *mm, uint64_t start, uint64_t end,
		     const uint64_t *pages, size_t n, enum mm_young how)
{
	const struct vms_mmu_range range = { .mm = mm, .start = start,
					     .end = end, .pages = pages,
					     .nr_pages = n, .blockable = true };
	unsigned idx = vms_srcu_read_lock(&mm->srcu);
	const struct mm_subs *s = subs_get(mm);
	bool young = false;

	for (size_t i = 0; i < s->nr_mn; i++) {
		struct vms_mmu_notifier *sub = s->mn[i];
		const struct vms_mmu_notifier_ops *ops = sub->ops;
		bool (*fn)(struct vms_mmu_notifier *,
			   const struct vms_mmu_range *) =
			how == MM_CLEAR_FLUSH_YOUNG ? ops->clear_flush_young
			: how == MM_CLEAR_YOUNG     ? ops->clear_young
						    : ops->test_young;

		if (fn)
			young |= fn(sub, &range);
	}
	vms_srcu_read_unlock(&mm->srcu, idx);
	return young;
}

/* ---- interval subscriptions ---- */

int vms_interval_notifier_insert(struct vms_mm *mm, uint64_t start,
				 uint64_t len,
				 const struct vms_interval_notifier_ops *ops,
				 void *priv, struct vms_interval_notifier **out)
{
	VMS_HOST_CALL();
	if (!mm || !ops || !ops->invalidate || !out || len == 0 ||
	    !PAGE_ALIGNED(start) || !PAGE_ALIGNED(len) || start + len < start)
		return -EINVAL;
	struct vms_interval_notifier *iv = vms_calloc(1, sizeof(*iv));

	if (!iv)
		return -ENOMEM;
	iv->mm = mm;
	iv->start = start;
	iv->end = start + len;
	iv->ops = ops;
	iv->priv = priv;

	vms_lock(&mm->subs_lock);
	const struct mm_subs *cur = subs_get(mm);
	struct mm_subs *next = subs_alloc(cur->nr_mn, cur->nr_iv + 1);

	if (!next) {
		vms_unlock(&mm->subs_lock);
		vms_free(iv);
		return -ENOMEM;
	}
	subs_copy(next, cur, NULL, NULL);
	next->iv[next->nr_iv++] = iv;
	/* Even, so read_begin does not wait until a pair covers us; set
	 * before publishing, so that a pair's odd value is never undone. */
	atomic_store(&iv->invalidate_seq, atomic_load(&mm->iv_seq) & ~1ul);
	subs_replace_locked(mm, next);
	vms_unlock(&mm->subs_lock);
	*out = iv;
	return 0;
}

void vms_interval_notifier_remove(struct vms_interval_notifier *iv)
{
	VMS_HOST_CALL();
	if (!iv)
		return;
	struct vms_mm *mm = iv->mm;

	vms_lock(&mm->subs_lock);
	subs_remove_locked(mm, NULL, iv);
	vms_unlock(&mm->subs_lock);
	vms_free(iv);
}

void *vms_interval_priv(struct vms_interval_notifier *iv)
{
	return iv->priv;
}

unsigned long vms_interval_read_begin(struct vms_interval_notifier *iv)
{
	VMS_HOST_CALL();
	unsigned spins = 0;

	for (;;) {
		unsigned long seq = atomic_load(&iv->invalidate_seq);

		/* A pair covering us still runs while our seq is the mm's
		 * current odd one. */
		if (!(seq & 1) || seq != atomic_load(&iv->mm->iv_seq))
			return seq;
		vms_backoff(&spins);
	}
}

bool vms_interval_read_retry(struct vms_interval_notifier *iv,
			     unsigned long seq)
{
	return atomic_load(&iv->invalidate_seq) != seq;
}

void vms_interval_set_seq(struct vms_interval_notifier *iv,
			  unsigned long cur_seq)
{
	atomic_store(&iv->invalidate_seq, cur_seq);
}
