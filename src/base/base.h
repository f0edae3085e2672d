/* base.h - what every room of vmsync shares: debug assertions, locks that
 * know their owner, an SRCU for lists read under writers, spin-then-back-off
 * waiting, and the hooks of the debug and mutant builds. */
#ifndef VMS_BASE_H
#define VMS_BASE_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmsync.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE_SIZE VMS_PAGE_SIZE
#define PAGE_SHIFT VMS_PAGE_SHIFT
#define PAGE_ALIGNED(x) (((x) & (PAGE_SIZE - 1)) == 0)

/* VMS_DEBUG builds check held locks and invariants, poison freed frames
 * and may widen race windows on request (vms_race_delay). */
#ifdef VMS_DEBUG
void vms_assert_fail(const char *expr, const char *file, int line);
#define VMS_ASSERT(e) \
	((e) ? (void)0 : vms_assert_fail(#e, __FILE__, __LINE__))
#else
#define VMS_ASSERT(e) ((void)0)
#endif

/* ---- mutants: deliberately broken builds the tests must catch, listed
 * in mutants.def.  Production code names each in one hook,
 * VMS_MUTANT_IS(name), a constant false outside its build. */
enum {
	VMS_MUTANT_none,
#define MUTANT(name, test, args, what) VMS_MUTANT_##name,
#include "base/mutants.def"
#undef MUTANT
};
#ifdef VMS_MUTANT
#define VMS_MUTANT_IS(name) (VMS_MUTANT == VMS_MUTANT_##name)
#else
#define VMS_MUTANT_IS(name) 0
#endif

/* ---- a mutex that knows its owner, so code can assert it is held */
struct vms_lock {
	pthread_mutex_t mu;
#ifdef VMS_DEBUG
	_Atomic(pthread_t) owner;
	atomic_bool held;
#endif
};
void vms_lock_init(struct vms_lock *l);
void vms_lock_destroy(struct vms_lock *l);
void vms_lock(struct vms_lock *l);
bool vms_trylock(struct vms_lock *l);
void vms_unlock(struct vms_lock *l);
/* For walks that take one lock per run of neighbours (the PTE lock of
 * their stripe, the list lock of their node): hold @want, letting go of
 * *@held first when it is another; release lets go of the last. */
void vms_lock_hold(struct vms_lock **held, struct vms_lock *want);
void vms_lock_release(struct vms_lock **held);
/* pthread_cond_wait on @l, which the caller holds. */
void vms_cond_wait(pthread_cond_t *cv, struct vms_lock *l);
#ifdef VMS_DEBUG
bool vms_lock_held(struct vms_lock *l);
#define vms_assert_held(l) VMS_ASSERT(vms_lock_held(l))
#else
#define vms_assert_held(l) ((void)(l))
#endif

/* ---- a reader-writer lock, writers first, that knows who holds it:
 * in debug builds each thread keeps the few it holds (at most
 * VMS_RW_HELD at once, none twice), so code can assert it holds one,
 * and for writing. */
struct vms_rwlock {
	pthread_rwlock_t rw;
#ifdef VMS_DEBUG
	_Atomic(pthread_t) writer;
	atomic_bool write_held;
#endif
};
#define VMS_RW_HELD 4
void vms_rwlock_init(struct vms_rwlock *l);
void vms_rwlock_destroy(struct vms_rwlock *l);
void vms_read_lock(struct vms_rwlock *l);
bool vms_read_trylock(struct vms_rwlock *l);
void vms_read_unlock(struct vms_rwlock *l);
void vms_write_lock(struct vms_rwlock *l);
void vms_write_unlock(struct vms_rwlock *l);
#ifdef VMS_DEBUG
bool vms_rwlock_held(const struct vms_rwlock *l);     /* either way */
bool vms_rwlock_held_write(const struct vms_rwlock *l);
#define vms_assert_rw_held(l) VMS_ASSERT(vms_rwlock_held(l))
#define vms_assert_rw_held_write(l) VMS_ASSERT(vms_rwlock_held_write(l))
#else
#define vms_assert_rw_held(l) ((void)(l))
#define vms_assert_rw_held_write(l) ((void)(l))
#endif

/* ---- SRCU: readers never block writers' list updates; a writer's
 * synchronize returns once every reader that could see the old version is
 * gone.  Readers: idx = vms_srcu_read_lock(); ... read_unlock(idx).  Read
 * sections may sleep.  synchronize must not be called inside one. */
struct vms_srcu {
	atomic_long readers[2];
	atomic_uint idx;
	pthread_mutex_t sync_mu;      /* serialises synchronize */
};
void vms_srcu_init(struct vms_srcu *s);
void vms_srcu_destroy(struct vms_srcu *s);
unsigned vms_srcu_read_lock(struct vms_srcu *s);
void vms_srcu_read_unlock(struct vms_srcu *s, unsigned idx);
void vms_srcu_synchronize(struct vms_srcu *s);

/* ---- waiting on another running thread: poll with pause, then yield,
 * then short sleeps.  A sleeping handshake costs ~45 us on these machines,
 * so sleeping comes last.  Call with spins = 0 first, then pass it back. */
static inline void vms_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}
void vms_backoff(unsigned *spins);

uint64_t vms_now_ns(void);

/*
 * Host calls made in guest mode.  A guest program runs on its vCPU's
 * thread in guest mode, where remote TLB flushes wait for its
 * acknowledgement, which it gives only at its next guest access.  A host
 * call it makes (madvise, a memslot change, a host read that reclaims)
 * may flush, or wait for a thread that is flushing: so, as a hypercall
 * exits to the host, the thread leaves guest mode for the call and comes
 * back with the requests it missed served.  vcpu.c sets vms_guest_self on
 * vCPU threads; VMS_HOST_CALL() opens every public call that may block.
 */
struct vms_guest_mode {
	/* Leaves guest mode; false if the thread was not in it (in a fault,
	 * a halt, or a host call already). */
	bool (*leave)(struct vms_guest_mode *g);
	void (*enter)(struct vms_guest_mode *g);
};
extern _Thread_local struct vms_guest_mode *vms_guest_self;

static inline struct vms_guest_mode *vms_host_call_begin(void)
{
	struct vms_guest_mode *g = vms_guest_self;

	return unlikely(g) && g->leave(g) ? g : NULL;
}
static inline void vms_host_call_end(struct vms_guest_mode **g)
{
	if (unlikely(*g))
		(*g)->enter(*g);
}
#define VMS_HOST_CALL()                                                     \
	struct vms_guest_mode *vms_host_call_                              \
		__attribute__((cleanup(vms_host_call_end), unused)) =      \
			vms_host_call_begin()

/* ---- race windows (debug builds): a test sets vms_race_ns and the hot
 * spots sleep up to that long with probability 1/vms_race_odds, so that a
 * race that would need luck needs only time. */
enum vms_race_site {
	VMS_RACE_FAULT_AFTER_GUP,    /* page held, mmu_lock not yet taken */
	VMS_RACE_ACCESS_AFTER_TLB,   /* TLB entry looked up, not yet used */
	VMS_RACE_FREE_BEFORE_START,  /* host between PTE clear and notify */
	VMS_RACE_KVM_HARVEST_MOVE,   /* KVM pager: dirty log read, batch not
				      * yet moved out of guest RAM */
	VMS_RACE_NR
};
#ifdef VMS_DEBUG
extern _Atomic uint64_t vms_race_ns;
extern _Atomic unsigned vms_race_odds;
void vms_race_window(enum vms_race_site site);
#else
#define vms_race_window(site) ((void)0)
#endif

/* ---- the OS's resources (os.c): heap, mappings, memfds, threads.  Each
 * call is a fault-injection site of debug builds, and the heap's live
 * blocks are counted there, so tests see leaks and failed paths. */
void *vms_malloc(size_t size);
void *vms_calloc(size_t n, size_t size);
void *vms_realloc(void *p, size_t size);
void *vms_aligned_alloc(size_t align, size_t size);
void vms_free(void *p);
/* mmap(2); MAP_FAILED with errno set on failure. */
void *vms_os_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  long off);
/* A memfd of @bytes: the fd, or -errno. */
int vms_os_memfd(const char *name, uint64_t bytes);
/* pthread_create: 0 or -errno. */
int vms_os_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/*
 * Fault injection (debug builds).  Every site that can fail for want of a
 * resource or by I/O asks vms_fault(site) first and, told yes, fails the
 * way the real call would.  A test arms a site to fail its nth call from
 * then (nth 0: only count), once or from then on.  Release builds compile
 * the question away.
 */
enum vms_fault_site {
	VMS_FAULT_ALLOC,        /* heap blocks */
	VMS_FAULT_MAP,          /* mappings and memfds of tables and pools */
	VMS_FAULT_THREAD,       /* thread creation: EAGAIN */
	VMS_FAULT_FRAME,        /* a frame: every pool exhausted, reclaim too */
	VMS_FAULT_SWAP_SLOT,    /* a swap slot: the area full */
	VMS_FAULT_SWAP_FILE,    /* the swap file's space: ENOSPC */
	VMS_FAULT_SWAP_WRITE,   /* a page written to swap: EIO */
	VMS_FAULT_SWAP_READ,    /* a page read from swap: EIO */
	VMS_FAULT_SWAP_SHORT,   /* a transfer comes back short */
	VMS_FAULT_UFFD,         /* a userfaultfd ioctl of the KVM pager */
	VMS_FAULT_COMPRESS,     /* the compressed tier's (de)compression */
	VMS_FAULT_NET,          /* a Redis exchange: the connection resets */
	VMS_FAULT_NET_TIMEOUT,  /* ... is sent, its replies not waited for */
	VMS_FAULT_NET_SHORT,    /* a Redis value comes back short */
	VMS_FAULT_NR
};
#ifdef VMS_DEBUG
/* The expensive tier of debug checks: walks of whole structures (free
 * lists, LRU lists, VMA lists) checking what their comments state, after
 * the operations that change them.  Off unless VMS_EXPENSIVE=1 in the
 * environment (the stress tests set it) or a test turns it on. */
extern atomic_bool vms_expensive;
static inline bool vms_expensive_on(void)
{
	return unlikely(atomic_load_explicit(&vms_expensive,
					     memory_order_relaxed));
}
/* Walks done so far: a test can tell the tier ran. */
void vms_expensive_count(void);
uint64_t vms_expensive_walks(void);
#else
#define vms_expensive_on() false
#define vms_expensive_count() ((void)0)
#endif

#ifdef VMS_DEBUG
extern atomic_bool vms_fault_on;
bool vms_fault_hit(enum vms_fault_site site);
static inline bool vms_fault(enum vms_fault_site site)
{
	return unlikely(atomic_load_explicit(&vms_fault_on,
					     memory_order_relaxed)) &&
	       vms_fault_hit(site);
}
void vms_fault_arm(enum vms_fault_site site, uint64_t nth, bool from_then_on);
void vms_fault_disarm(void);
uint64_t vms_fault_calls(enum vms_fault_site site);
uint64_t vms_fault_injected(enum vms_fault_site site);
const char *vms_fault_name(enum vms_fault_site site);
/* Heap blocks allocated through vms_*alloc and not yet freed. */
int64_t vms_heap_live(void);
#else
#define vms_fault(site) false
#endif

/* Counters bumped by many threads, read rarely. */
static inline void vms_stat_inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}
/* A counter only its owner thread bumps: no locked instruction needed. */
static inline void vms_stat_add_local(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}
static inline uint64_t vms_stat_read(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif /* VMS_BASE_H */
