/* base.c - locks with owners, the SRCU, back-off waiting and the debug
 * build's race windows.  Nothing here knows about memory or guests. */
#define _GNU_SOURCE
#include "base/base.h"

#include <sched.h>
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

#ifdef VMS_DEBUG
bool vms_lock_held(struct vms_lock *l)
{
	return atomic_load_explicit(&l->held, memory_order_relaxed) &&
	       pthread_equal(atomic_load_explicit(&l->owner,
						  memory_order_relaxed),
			     pthread_self());
}
#endif

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
