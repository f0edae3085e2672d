/* base.c - locks with owners, the SRCU, back-off waiting and the debug
 * build's race windows.  Nothing here knows about memory or guests. */
#define _GNU_SOURCE
#include "base/base.h"

#include <sched.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#ifdef VMS_DEBUG
void vms_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "vmsync: assertion failed: %s (%s:%d)\n", expr, file,
		line);
	abort();
}
#endif

void vms_lock_init(struct vms_lock *l)
{
	pthread_mutex_init(&l->mu, NULL);
#ifdef VMS_DEBUG
	atomic_init(&l->held, false);
#endif
}

void vms_lock_destroy(struct vms_lock *l)
{
	VMS_ASSERT(!atomic_load(&l->held));
	pthread_mutex_destroy(&l->mu);
}

void vms_lock(struct vms_lock *l)
{
	pthread_mutex_lock(&l->mu);
#ifdef VMS_DEBUG
	atomic_store_explicit(&l->owner, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&l->held, true, memory_order_relaxed);
#endif
}

bool vms_trylock(struct vms_lock *l)
{
	if (pthread_mutex_trylock(&l->mu))
		return false;
#ifdef VMS_DEBUG
	atomic_store_explicit(&l->owner, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&l->held, true, memory_order_relaxed);
#endif
	return true;
}

void vms_unlock(struct vms_lock *l)
{
#ifdef VMS_DEBUG
	VMS_ASSERT(vms_lock_held(l));
	atomic_store_explicit(&l->held, false, memory_order_relaxed);
#endif
	pthread_mutex_unlock(&l->mu);
}

void vms_lock_hold(struct vms_lock **held, struct vms_lock *want)
{
	if (*held == want)
		return;
	if (*held)
		vms_unlock(*held);
	vms_lock(want);
	*held = want;
}

void vms_lock_release(struct vms_lock **held)
{
	if (*held)
		vms_unlock(*held);
	*held = NULL;
}

void vms_cond_wait(pthread_cond_t *cv, struct vms_lock *l)
{
#ifdef VMS_DEBUG
	VMS_ASSERT(vms_lock_held(l));
	atomic_store_explicit(&l->held, false, memory_order_relaxed);
#endif
	pthread_cond_wait(cv, &l->mu);
#ifdef VMS_DEBUG
	atomic_store_explicit(&l->owner, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&l->held, true, memory_order_relaxed);
#endif
}

#ifdef VMS_DEBUG
bool vms_lock_held(struct vms_lock *l)
{
	return atomic_load_explicit(&l->held, memory_order_relaxed) &&
	       pthread_equal(atomic_load_explicit(&l->owner,
						  memory_order_relaxed),
			     pthread_self());
}
#endif

/* ---- reader-writer locks ---- */

#ifdef VMS_DEBUG
static _Thread_local const struct vms_rwlock *rw_held[VMS_RW_HELD];

/* @again: a trylock, which may take a lock this thread holds (it does
 * not wait, so it cannot deadlock). */
static void rw_note(const struct vms_rwlock *l, bool again)
{
	unsigned i = 0;

	VMS_ASSERT(again || !vms_rwlock_held(l));       /* would deadlock */
	while (i < VMS_RW_HELD && rw_held[i])
		i++;
	VMS_ASSERT(i < VMS_RW_HELD);
	rw_held[i] = l;
}

static void rw_forget(const struct vms_rwlock *l)
{
	for (unsigned i = 0; i < VMS_RW_HELD; i++)
		if (rw_held[i] == l) {
			rw_held[i] = NULL;
			return;
		}
	VMS_ASSERT(!"unlock of a reader-writer lock not held");
}

bool vms_rwlock_held(const struct vms_rwlock *l)
{
	for (unsigned i = 0; i < VMS_RW_HELD; i++)
		if (rw_held[i] == l)
			return true;
	return false;
}

bool vms_rwlock_held_write(const struct vms_rwlock *l)
{
	return atomic_load_explicit(&l->write_held, memory_order_relaxed) &&
	       pthread_equal(atomic_load_explicit(&l->writer,
						  memory_order_relaxed),
			     pthread_self());
}
#else
#define rw_note(l, again) ((void)(l))
#define rw_forget(l) ((void)(l))
#endif

/* Writers first: a waiting writer holds new readers back, or a stream of
 * overlapping readers would starve it.  So no thread may wait for one it
 * holds, even for reading, which would deadlock (debug builds check). */
void vms_rwlock_init(struct vms_rwlock *l)
{
	pthread_rwlockattr_t attr;

	memset(l, 0, sizeof(*l));
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&l->rw, &attr);
	pthread_rwlockattr_destroy(&attr);
}

void vms_rwlock_destroy(struct vms_rwlock *l)
{
	pthread_rwlock_destroy(&l->rw);
}

void vms_read_lock(struct vms_rwlock *l)
{
	rw_note(l, false);
	pthread_rwlock_rdlock(&l->rw);
}

bool vms_read_trylock(struct vms_rwlock *l)
{
	if (pthread_rwlock_tryrdlock(&l->rw))
		return false;
	rw_note(l, true);
	return true;
}

void vms_read_unlock(struct vms_rwlock *l)
{
	rw_forget(l);
	pthread_rwlock_unlock(&l->rw);
}

void vms_write_lock(struct vms_rwlock *l)
{
	rw_note(l, false);
	pthread_rwlock_wrlock(&l->rw);
#ifdef VMS_DEBUG
	atomic_store_explicit(&l->writer, pthread_self(), memory_order_relaxed);
	atomic_store_explicit(&l->write_held, true, memory_order_relaxed);
#endif
}

void vms_write_unlock(struct vms_rwlock *l)
{
#ifdef VMS_DEBUG
	VMS_ASSERT(vms_rwlock_held_write(l));
	atomic_store_explicit(&l->write_held, false, memory_order_relaxed);
#endif
	rw_forget(l);
	pthread_rwlock_unlock(&l->rw);
}

/*
 * SRCU.  A reader bumps the counter of the current index and checks the
 * index did not move meanwhile; synchronize flips the index and waits for
 * the old counter to drain.  All operations are sequentially consistent:
 * a reader counted in the old index is waited for, and a reader that
 * re-checked after the flip loads the protected pointer after the writer
 * published the new one, so it cannot see the version being retired.
 */
void vms_srcu_init(struct vms_srcu *s)
{
	atomic_init(&s->readers[0], 0);
	atomic_init(&s->readers[1], 0);
	atomic_init(&s->idx, 0);
	pthread_mutex_init(&s->sync_mu, NULL);
}

void vms_srcu_destroy(struct vms_srcu *s)
{
	VMS_ASSERT(atomic_load(&s->readers[0]) == 0 &&
		   atomic_load(&s->readers[1]) == 0);
	pthread_mutex_destroy(&s->sync_mu);
}

unsigned vms_srcu_read_lock(struct vms_srcu *s)
{
	for (;;) {
		unsigned idx = atomic_load(&s->idx) & 1;

		atomic_fetch_add(&s->readers[idx], 1);
		/* Still current: any later flip away from idx waits for us. */
		if ((atomic_load(&s->idx) & 1) == idx)
			return idx;
		atomic_fetch_sub(&s->readers[idx], 1);
	}
}

void vms_srcu_read_unlock(struct vms_srcu *s, unsigned idx)
{
	long was = atomic_fetch_sub(&s->readers[idx], 1);

	VMS_ASSERT(was > 0);
	(void)was;
}

void vms_srcu_synchronize(struct vms_srcu *s)
{
	unsigned spins = 0;

	pthread_mutex_lock(&s->sync_mu);
	unsigned old = atomic_fetch_add(&s->idx, 1) & 1;
	while (atomic_load(&s->readers[old]) != 0)
		vms_backoff(&spins);
	pthread_mutex_unlock(&s->sync_mu);
}

void vms_backoff(unsigned *spins)
{
	unsigned n = (*spins)++;

	if (n < 256) {
		vms_cpu_relax();
	} else if (n < 512) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

_Thread_local struct vms_guest_mode *vms_guest_self;

uint64_t vms_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef VMS_DEBUG
_Atomic uint64_t vms_race_ns;
_Atomic unsigned vms_race_odds = 64;

void vms_race_window(enum vms_race_site site)
{
	static _Thread_local uint64_t rng;
	uint64_t ns = atomic_load_explicit(&vms_race_ns, memory_order_relaxed);

	if (likely(ns == 0))
		return;
	if (!rng)
		rng = (uint64_t)(uintptr_t)&rng ^ vms_now_ns() ^
		      ((uint64_t)site << 32);
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	unsigned odds = atomic_load_explicit(&vms_race_odds,
					     memory_order_relaxed);
	if (odds && rng % odds)
		return;
	struct timespec ts = { 0, (long)(rng % ns) };
	nanosleep(&ts, NULL);
}
#endif
