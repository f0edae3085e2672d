/* vmsync.h - the public API of vmsync, a user-space guest-memory manager.
 *
 * A host address space (vms_mm) maps host virtual addresses (hva) of guest
 * RAM onto frames of physical pools (vms_phys).  Secondary MMUs - the shadow
 * MMU of a VM (vms_vm), device translation caches - hold no page references;
 * they stay coherent through MMU notifiers.  Every function returns 0 or a
 * negative errno and never exits the process.
 *
 * Threads: every function may be called from any thread unless its comment
 * says otherwise.  The vms_guest_* accessors run only on the thread of the
 * vCPU they name.  A guest program may call the host functions too: its
 * vCPU leaves guest mode for the call, as a hypercall exits to the host,
 * so that no TLB flush waits for it meanwhile, and it flushes its own TLB
 * before its next guest access.
 */
#ifndef VMSYNC_H
#define VMSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the library exports; everything else in it is hidden. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define VMS_API __attribute__((visibility("default")))
#else
#define VMS_API
#endif

#define VMS_PAGE_SHIFT 12
#define VMS_PAGE_SIZE (1UL << VMS_PAGE_SHIFT)

struct vms_phys;
struct vms_mm;
struct vms_page;
struct vms_vm;
struct vms_vcpu;

/* ------------------------------------------------------------------ */
/* Physical memory: pools ("nodes") of 4 KiB frames backed by memfd.   */

#define VMS_MAX_NODES 8

struct vms_phys_config {
	unsigned nr_nodes;                    /* 1..VMS_MAX_NODES */
	uint64_t node_frames[VMS_MAX_NODES];  /* frames per node, each >= 1;
					       * in all below 2^32 */
};

/* Creates the pools, backed by real memory at once (populated memfds).
 * -EINVAL for a bad config, -ENOSPC when 64 pools are alive already, -ENOMEM / -errno of memfd_create, ftruncate or
 * mmap when the memory cannot be had. */
VMS_API
int vms_phys_create(const struct vms_phys_config *cfg, struct vms_phys **out);
/* Frees the pools.  Every mm built on them must be destroyed first. */
VMS_API
void vms_phys_destroy(struct vms_phys *phys);

/* How many NUMA nodes the machine has (sysfs node0, node1, ...); pool i
 * is bound to NUMA node i % that number when it is more than one. */
VMS_API
unsigned vms_numa_nodes(void);

/* Bytes vmsync keeps per 4 KiB frame it manages: its struct page (32),
 * the host PTE and one shadow PTE (8 each). */
VMS_API
size_t vms_metadata_bytes_per_page(void);

struct vms_node_info {
	uint64_t frames;    /* size of the pool */
	uint64_t free;      /* frames on the free list now */
	int memfd;          /* the backing memfd, for mapping elsewhere */
};
VMS_API
int vms_phys_node_info(struct vms_phys *phys, unsigned node,
		       struct vms_node_info *info);

/* ------------------------------------------------------------------ */
/* Host address space.                                                 */

struct vms_mm_config {
	uint64_t va_base;   /* first usable hva, page aligned; 0: a default */
	uint64_t va_size;   /* bytes of hva space, at most 16 TiB; 0: a
			     * default (64 GiB) */
};

/* Creates an empty address space whose frames come from @phys. */
VMS_API
int vms_mm_create(struct vms_phys *phys, const struct vms_mm_config *cfg,
		  struct vms_mm **out);
/* Tears the address space down: every notifier subscription gets
 * ->release first (secondaries must drop all their mappings there), then
 * every page is freed.  Interval subscriptions must have been removed.  No
 * other call on @mm may run concurrently or follow. */
VMS_API
void vms_mm_destroy(struct vms_mm *mm);

#define VMS_PROT_NONE  0x0
#define VMS_PROT_READ  0x1
#define VMS_PROT_WRITE 0x2

#define VMS_MAP_SHARED          0x01    /* refused: -EOPNOTSUPP */
#define VMS_MAP_PRIVATE         0x02
#define VMS_MAP_FIXED           0x10
#define VMS_MAP_ANONYMOUS       0x20
#define VMS_MAP_FIXED_NOREPLACE 0x100000

/* mmap(2) for private anonymous memory.  -EOPNOTSUPP for what vmsync
 * does not map (VMS_MAP_SHARED, a file: no VMS_MAP_ANONYMOUS); -EINVAL without
 * VMS_MAP_PRIVATE, for any other flag, for rights beyond read and write, or
 * @len 0.  Without FIXED, @hint is a hint.  FIXED
 * replaces what was there (an unmap inside a notifier pair); FIXED_NOREPLACE
 * gives -EEXIST instead.  -ENOMEM when no hole fits.  *@addr gets the
 * hva. */
VMS_API
int vms_mmap(struct vms_mm *mm, uint64_t hint, size_t len, int prot,
	     int flags, uint64_t *addr);
/* munmap(2): -EINVAL for an unaligned @addr, @len 0 or a range outside the
 * address space; holes in the range are not an error. */
VMS_API
int vms_munmap(struct vms_mm *mm, uint64_t addr, size_t len);

#define VMS_MREMAP_MAYMOVE 1
#define VMS_MREMAP_FIXED   2

/* mremap(2) for private anonymous memory: the old range must lie in one
 * mapping (-EFAULT), grows in place when it can, else moves with MAYMOVE
 * (-ENOMEM without).  Pages move with their contents; secondaries see an
 * invalidation of the old range. */
VMS_API
int vms_mremap(struct vms_mm *mm, uint64_t old_addr, size_t old_len,
	       size_t new_len, int flags, uint64_t new_addr, uint64_t *addr);
/* mprotect(2): -ENOMEM when part of the range is not mapped (nothing
 * changed then), -EINVAL for bad arguments.  Taking a right away
 * invalidates the range first. */
VMS_API
int vms_mprotect(struct vms_mm *mm, uint64_t addr, size_t len, int prot);

enum vms_advice {
	VMS_MADV_NORMAL = 0,
	VMS_MADV_RANDOM = 1,
	VMS_MADV_SEQUENTIAL = 2,
	VMS_MADV_WILLNEED = 3,
	VMS_MADV_DONTNEED = 4,
	VMS_MADV_FREE = 8,
	VMS_MADV_COLD = 20,
	VMS_MADV_PAGEOUT = 21,
};

/* madvise(2).  DONTNEED: the range reads as zeroes afterwards.  FREE: the
 * contents may be dropped by reclaim until the next write through any MMU.
 * COLD: the pages go to the inactive list and both MMUs' accessed bits are
 * cleared, so reclaim takes them first.  PAGEOUT: the pages are reclaimed
 * now (written to swap, or dropped when clean or lazily freed).  WILLNEED:
 * swapped-out pages are read back.  Without a swap area only lazily freed
 * pages can go, and WILLNEED has nothing to read, as on Linux.  -EINVAL for unknown advice or bad arguments; -ENOMEM when
 * part of the range is unmapped (the mapped parts are still advised); -EIO
 * from WILLNEED when a swap read failed. */
VMS_API
int vms_madvise(struct vms_mm *mm, uint64_t addr, size_t len, int advice);

/* Host access to guest RAM, through the mm as a CPU would: faults in
 * missing pages, reading swapped ones back.  -EFAULT for an unmapped byte,
 * -EACCES for a protection violation, -ENOMEM when no frame can be had,
 * -EIO when a swap read failed (as SIGBUS).  A partial copy may have
 * happened when an error is returned. */
VMS_API
int vms_mm_read(struct vms_mm *mm, uint64_t hva, void *buf, size_t len);
VMS_API
int vms_mm_write(struct vms_mm *mm, uint64_t hva, const void *buf,
		 size_t len);

/* get_user_pages for one page: faults the page in (for writing when
 * @write) and returns it with a reference held, so it is neither freed nor
 * reused until vms_put_page.  Holding a page does not keep it mapped: a
 * munmap or DONTNEED still removes it from the mm.  Errors as
 * vms_mm_read. */
VMS_API
int vms_get_page(struct vms_mm *mm, uint64_t hva, bool write,
		 struct vms_page **page);
VMS_API
void vms_put_page(struct vms_page *page);
/* The frame's bytes, valid while the reference is held. */
VMS_API
void *vms_page_address(struct vms_page *page);
/* Global frame number: node-major, stable for the life of the pools. */
VMS_API
uint64_t vms_page_pfn(struct vms_page *page);
/* Is the page marked dirty (written by the host or, handed over by a zap,
 * by a secondary MMU)? */
VMS_API
bool vms_page_dirty(struct vms_page *page);

/* ------------------------------------------------------------------ */
/* MMU notifiers.                                                      */

enum vms_mmu_event {
	VMS_EVENT_UNMAP,       /* munmap, mremap away, MAP_FIXED over */
	VMS_EVENT_PROTECTION,  /* mprotect took a right away */
	VMS_EVENT_DISCARD,     /* DONTNEED, FREE */
	VMS_EVENT_SWAP,        /* reclaim or PAGEOUT unmapping for swap-out */
	VMS_EVENT_MIGRATE,     /* the frame is being moved */
	VMS_EVENT_RELEASE,     /* the mm is going away */
};

struct vms_mmu_range {
	struct vms_mm *mm;
	uint64_t start, end;        /* [start, end), page aligned hvas */
	/* NULL: every page of [start, end).  Else only these pages (sorted
	 * hvas, all inside [start, end)) change: reclaim and migration batch
	 * scattered pages into one call.  A subscriber may treat the whole
	 * range as changing; that is only slower. */
	const uint64_t *pages;
	size_t nr_pages;
	enum vms_mmu_event event;
	bool blockable;             /* false: callbacks must not sleep */
};

struct vms_mmu_notifier;

/* The ops of a subscription.  Every callback runs in the thread doing the
 * host operation, inside an SRCU-style read section of the mm's
 * subscription list: unregister waits for callbacks in flight.  None runs
 * with an mm spinlock held; the mm's mmap lock may be held (read or write),
 * so a callback must not call back into the mm's mapping operations. */
struct vms_mmu_notifier_ops {
	/* The mm is going away (vms_mm_destroy) or the subscription is being
	 * unregistered.  Drop every mapping of the mm and stop using it: after
	 * release returns the frames may be freed.  Runs at most once per
	 * subscription.  May sleep. */
	void (*release)(struct vms_mmu_notifier *sub, struct vms_mm *mm);

	/* Before the host clears, downgrades or repoints any present PTE in
	 * the range.  The secondary must drop its translations of the range
	 * and, until the matching end, install none for it: once start
	 * returns, the frames may be freed or rewritten.  Pairs with exactly
	 * one invalidate_range_end with the same range.  With !blockable it
	 * must not sleep and may return -EAGAIN instead, in which case no end
	 * follows; it returns 0 otherwise.  May sleep when blockable. */
	int (*invalidate_range_start)(struct vms_mmu_notifier *sub,
				      const struct vms_mmu_range *range);
	/* After the page table change of the matching start.  May sleep. */
	void (*invalidate_range_end)(struct vms_mmu_notifier *sub,
				     const struct vms_mmu_range *range);

	/* Aging.  Report whether the secondary accessed any page of the range
	 * since the last clear and clear that state; clear_flush_young also
	 * flushes the secondary's TLBs so the next access is seen, clear_young
	 * does not (cheaper, can miss accesses through stale TLB entries).
	 * test_young only reports.  Called from reclaim without the mmap lock;
	 * must not sleep long. */
	bool (*clear_flush_young)(struct vms_mmu_notifier *sub,
				  const struct vms_mmu_range *range);
	bool (*clear_young)(struct vms_mmu_notifier *sub,
			    const struct vms_mmu_range *range);
	bool (*test_young)(struct vms_mmu_notifier *sub,
			   const struct vms_mmu_range *range);
};

/* A subscription: embed it in the secondary's own struct. */
struct vms_mmu_notifier {
	const struct vms_mmu_notifier_ops *ops;
	struct vms_mm *mm;       /* set by register */
	bool released;           /* set once ->release ran; internal */
};

/* Subscribes @sub (zero-initialised, then ops set by the caller) to @mm.
 * -EINVAL without ops, -EBUSY if already registered. */
VMS_API
int vms_mmu_notifier_register(struct vms_mmu_notifier *sub, struct vms_mm *mm);
/* Unsubscribes: runs ->release (unless it ran already) and returns once
 * no callback of @sub is in flight, so @sub may be freed afterwards. */
VMS_API
void vms_mmu_notifier_unregister(struct vms_mmu_notifier *sub);

/* Interval subscriptions: one range of an mm, for a secondary that reads a
 * sequence instead of keeping its own counters.  The pattern is
 *
 *	again:
 *	  seq = vms_interval_read_begin(sub);
 *	  look the pages up (vms_get_page ...), may sleep
 *	  lock(driver lock);
 *	  if (vms_interval_read_retry(sub, seq)) { unlock; put pages; goto again; }
 *	  install the translations; unlock;
 *
 * and ->invalidate, called before any PTE of the interval changes, takes the
 * same driver lock, calls vms_interval_set_seq(sub, cur_seq), drops the
 * translations.  The sequence is odd while an invalidation of the mm that
 * overlaps the interval runs, so read_begin waits for it to end. */
struct vms_interval_notifier;
struct vms_interval_notifier_ops {
	/* Returns false (only when !range->blockable) if it would sleep. */
	bool (*invalidate)(struct vms_interval_notifier *sub,
			   const struct vms_mmu_range *range,
			   unsigned long cur_seq);
};

/* Subscribes [@start, @start + @len) of @mm: ->invalidate runs for every
 * change of a PTE in it from now on.  @priv is the caller's
 * (vms_interval_priv).  -EINVAL for a NULL @mm, @ops, ops->invalidate or
 * @out, a @start or @len not a multiple of 4 KiB, @len 0 or a range that
 * wraps; -ENOMEM. */
VMS_API
int vms_interval_notifier_insert(struct vms_mm *mm, uint64_t start,
				 uint64_t len,
				 const struct vms_interval_notifier_ops *ops,
				 void *priv, struct vms_interval_notifier **out);
/* Unsubscribes and frees @sub, waiting for an invalidation in flight to
 * end first; NULL is a no-op.  Not from inside ->invalidate. */
VMS_API
void vms_interval_notifier_remove(struct vms_interval_notifier *sub);
/* The @priv given to insert. */
VMS_API
void *vms_interval_priv(struct vms_interval_notifier *sub);
/* The interval's sequence, for read_retry: waits (spinning politely) while
 * an invalidation that covers the interval runs, so the value returned is
 * one no invalidation is in the middle of.  Takes no lock; call it before
 * looking pages up, without the driver lock held. */
VMS_API
unsigned long vms_interval_read_begin(struct vms_interval_notifier *sub);
/* True when an invalidation of the interval began since read_begin gave
 * @seq: what was looked up may be stale, so drop it and start again.
 * Call it with the driver lock held that ->invalidate takes around its
 * vms_interval_set_seq, and install translations under that same lock
 * only when it says false: then no invalidation can pass unseen. */
VMS_API
bool vms_interval_read_retry(struct vms_interval_notifier *sub,
			     unsigned long seq);
/* From ->invalidate only, under the driver lock: records @cur_seq, which
 * makes every read_retry of an earlier sequence say true. */
VMS_API
void vms_interval_set_seq(struct vms_interval_notifier *sub,
			  unsigned long cur_seq);

/* ------------------------------------------------------------------ */
/* Swap: a backend stores page copies in numbered slots.                */

struct vms_swap_io {
	bool write;
	uint64_t slot;
	void *buf;                /* one page */
	int res;                  /* set by the backend: 0 or -errno */
};

/* A place for page copies.  rw performs @n reads and writes (in any order,
 * possibly at once) and returns when all are done, each result in its
 * res; it may be called from several threads at once.  discard says a
 * slot's copy is no longer needed (may be NULL).  release frees the
 * backend. */
struct vms_swap_backend {
	int (*rw)(struct vms_swap_backend *be, struct vms_swap_io *io, size_t n);
	void (*discard)(struct vms_swap_backend *be, uint64_t slot);
	void (*release)(struct vms_swap_backend *be);
	/* Optional: bytes of memory the backend holds in this process that
	 * no frame pool counts (a compressed tier's heap pool).  Whoever
	 * keeps a memory budget over the backend counts them in it. */
	uint64_t (*held_bytes)(struct vms_swap_backend *be);
	uint64_t nr_slots;                  /* 2 .. 2^32 - 1 */
	const char *name;
};

/* A backend on a real file.  @path: a file to create, or a directory to
 * make an unnamed one in (NULL: $TMPDIR, else /tmp).  @bytes: its size,
 * rounded down to pages.  The file is unlinked at once and opened O_DIRECT
 * where the file system allows.  I/O goes through io_uring when the kernel
 * allows it and @use_uring, else pread/pwrite.  Buffers must be 4 KiB
 * aligned (frames are). */
VMS_API
int vms_swap_file_create(const char *path, uint64_t bytes, bool use_uring,
			 struct vms_swap_backend **out);
/* The I/O engine the backend ended up with: "io_uring" or "pread/pwrite",
 * with ", O_DIRECT" when the file bypasses the page cache. */
VMS_API
const char *vms_swap_file_engine(struct vms_swap_backend *be);

/* A backend on Redis, for memory beyond this machine's: @url is
 * "redis://HOST:PORT", "unix:PATH" or "redis-cluster://HOST:PORT[,...]"
 * (nodes of a Redis Cluster), optionally followed by "?replicas=N" (a
 * write counts only once WAIT says, within 1 s, that N replicas hold it;
 * a cluster's default is 1); @bytes of slots.  Writes and reads of a batch are
 * pipelined over a few connections per node.  On a cluster a key goes to
 * the master of its hash slot; MOVED and ASK are followed, and a failed
 * node, MOVED or CLUSTERDOWN refreshes the slot map and retries for up to
 * 30 s (a failover is waited out: the call blocks meanwhile).  Each value carries a header (area, slot, generation,
 * checksum): a value that is missing, another backend's, stale or corrupt
 * reads as -EIO, never as data.  A failed write or read is -EIO for its
 * pages (the slot of a failed write reads as -EIO until written again:
 * the server may hold either value); a connection that failed is made
 * again at its next use.  Release
 * deletes the backend's keys.  -EINVAL for a bad URL, -ECONNREFUSED when
 * the server does not answer now, -EPROTO when a cluster's node gives no
 * slot map, -ENOMEM. */
VMS_API
int vms_swap_redis_create(const char *url, uint64_t bytes,
			  struct vms_swap_backend **out);

/* The compressed tier, in front of another backend (as zswap is in front
 * of a swap device), with the same slots.  A page written is kept as one
 * word when it is same-filled (a zero page above all), compressed into
 * the pool when it compresses to at most 3/4 of a page, else written
 * through to @next.  The pool holds at most @pool_bytes of frames, size
 * classes packed into them; a store that would pass that first writes the
 * oldest entries back to @next, in batches.  A read decompresses and keeps
 * the entry: the slot's copy stays good until the slot is written again
 * or discarded.  The tier owns @next from here on and releases it with
 * itself; on error @next stays the caller's.  -EINVAL for a bad
 * configuration, -ENOMEM. */
#define VMS_ZSWAP_LZ4 0                 /* the default */
#define VMS_ZSWAP_ZSTD 1
struct vms_zswap_config {
	uint64_t pool_bytes;            /* at least a page */
	int compressor;                 /* VMS_ZSWAP_LZ4 or VMS_ZSWAP_ZSTD */
	int level;                      /* zstd's, 1..22 (0: 3); LZ4: 0 */
	/* Where the pool's frames come from: free frames of @phys, taken
	 * without reclaim (a store runs inside reclaim), so the pool comes
	 * out of the same frames as the guest's pages; a store that finds
	 * none writes older entries back or goes through.  NULL: the heap,
	 * which the backend's held_bytes reports (the KVM pager counts it
	 * against its budget). */
	struct vms_phys *phys;
};
VMS_API
int vms_swap_zswap_create(const struct vms_zswap_config *cfg,
			  struct vms_swap_backend *next,
			  struct vms_swap_backend **out);

struct vms_zswap_stats {
	uint64_t stored;                /* pages in the tier now */
	uint64_t same_filled;           /* of them, kept as one word */
	uint64_t pool_bytes;            /* frames the pool holds now */
	uint64_t compressed_bytes;      /* what the compressed pages take */
	uint64_t stores, loads;         /* pages the tier took, gave back */
	uint64_t rejects;               /* written through: compressed worse
					 * than 3/4 of a page, or no room */
	uint64_t writebacks;            /* oldest entries moved to @next */
	uint64_t writeback_errors;      /* ... that @next failed (kept) */
	int compressor, level;          /* as configured (zstd: 0 -> 3) */
};
/* -EINVAL when @be is not a compressed tier. */
VMS_API
int vms_swap_zswap_stats(struct vms_swap_backend *be,
			 struct vms_zswap_stats *st);

/* Gives @phys a swap area on @be (owned by phys from here on, released with
 * it) and starts its background reclaimer, which keeps free frames of each
 * node between the watermarks (frames; 0: defaults of 1/64 and 1/32 of the
 * node).  -EBUSY if phys has one already, -EINVAL for a bad backend or
 * watermarks, -ENOMEM, -EAGAIN if the thread cannot start; on any error
 * @be stays the caller's. */
VMS_API
int vms_swap_on(struct vms_phys *phys, struct vms_swap_backend *be,
		uint64_t low_watermark, uint64_t high_watermark);

/* Drops the swap-cache copies that no PTE needs any more, waiting for
 * pages under I/O (like Linux's drop_caches).  The copy of a page that is
 * mapped stays while swap is at most half full: it lets reclaim drop the
 * page without writing it, as long as nobody writes to it.  The background reclaimer
 * does the same a slice at a time; this is for a caller that wants it now
 * (a test counting slots, a tool about to report). */
VMS_API
void vms_phys_drop_caches(struct vms_phys *phys);

/* ------------------------------------------------------------------ */
/* Migration and tiering.                                              */

/* Moves the resident pages of [addr, addr+len) to @node, up to 64 at a
 * time: new frames, one invalidation for the batch, copy, repoint.
 * Accessors meanwhile wait and then see the data.  *@moved (may be NULL) gets how many moved; pages busy elsewhere
 * (held by get_page, under I/O) stay.  -EINVAL for a bad node or range,
 * -ENOMEM when the node has no frame left (the pages moved so far stay
 * moved). */
VMS_API
int vms_migrate(struct vms_mm *mm, uint64_t addr, size_t len, unsigned node,
		uint64_t *moved);
/* Tiering: the background reclaimer also moves pages that either MMU used
 * recently from other nodes to node 0. */
VMS_API
void vms_phys_set_tiering(struct vms_phys *phys, bool on);

/* ------------------------------------------------------------------ */
/* vmstat.                                                             */

struct vms_phys_stats {
	struct {
		uint64_t frames, free, active, inactive;
	} node[VMS_MAX_NODES];
	unsigned nr_nodes;
	uint64_t swap_slots, swap_used;
	uint64_t pgfault;        /* pages faulted in (zero-filled) */
	uint64_t pgmajfault;     /* faults that read swap */
	uint64_t pswpin, pswpout;/* pages read from / written to swap */
	uint64_t swapcache_hit;  /* swap faults served from the swap cache */
	uint64_t pgscan, pgsteal;/* reclaim: pages looked at, pages freed */
	uint64_t pgactivate, pgdeactivate;
	uint64_t lazyfree;       /* MADV_FREE pages dropped clean */
	uint64_t clean_drop;     /* clean pages dropped with a swap copy */
	uint64_t direct_reclaim; /* allocations that had to reclaim */
	uint64_t pgmigrate;      /* pages moved between nodes */
	uint64_t swap_write_errors, swap_read_errors;
	uint64_t refault;        /* faults on evicted pages: pgmajfault +
				  * swapcache_hit */
	struct vms_zswap_stats zswap; /* the compressed tier's, when swap
				       * is on one; else zeroes */
};
VMS_API
void vms_phys_stats(struct vms_phys *phys, struct vms_phys_stats *st);

/* ------------------------------------------------------------------ */
/* Virtual machines.                                                   */

struct vms_vm_config {
	uint64_t max_gpa;       /* guest-physical space; 0: 64 GiB */
	unsigned max_vcpus;     /* 0: 64 */
};

/* Creates a VM whose memory is @mm's: registers its shadow MMU as a
 * notifier of @mm. */
VMS_API
int vms_vm_create(struct vms_mm *mm, const struct vms_vm_config *cfg,
		  struct vms_vm **out);
/* Every vCPU must have been joined. */
VMS_API
void vms_vm_destroy(struct vms_vm *vm);

#define VMS_MEM_READONLY 0x1

/* A memslot, as struct kvm_userspace_memory_region: guest-physical bytes
 * [guest_phys_addr, guest_phys_addr + memory_size) at the hvas from
 * userspace_addr on.  All three are multiples of 4 KiB. */
struct vms_memslot {
	uint32_t slot;              /* its id, below 32 */
	uint32_t flags;             /* VMS_MEM_READONLY */
	uint64_t guest_phys_addr;
	uint64_t memory_size;       /* 0 deletes the slot */
	uint64_t userspace_addr;
};

/* KVM_SET_USER_MEMORY_REGION: adds slot @m->slot, or with memory_size 0
 * deletes it; a new guest_phys_addr or userspace_addr for an existing slot
 * moves it (its size must stay, -EINVAL).  Safe while vCPUs run:
 * translations of the old layout are gone before it returns, and a vCPU
 * touching the slot meanwhile waits for the new one.  -EINVAL for a NULL
 * argument, an address or size not a multiple of 4 KiB, an id of 32 or
 * more, an unknown flag, or ranges outside max_gpa / the mm; -EEXIST when
 * the guest range overlaps another slot; -ENOENT to delete a slot that
 * does not exist; -ENOMEM.  The hva range need not be mapped yet. */
VMS_API
int vms_vm_set_memslot(struct vms_vm *vm, const struct vms_memslot *m);

/* gpa -> hva through the memslots: -ENOENT when no slot holds it. */
VMS_API
int vms_vm_gpa_to_hva(struct vms_vm *vm, uint64_t gpa, uint64_t *hva);

/* ------------------------------------------------------------------ */
/* vCPUs.                                                              */

enum vms_exit_reason {
	VMS_EXIT_NONE = 0,
	VMS_EXIT_NO_SLOT,     /* gpa in no memslot (an MMIO exit) */
	VMS_EXIT_EFAULT,      /* host refused: hva unmapped or no access */
	VMS_EXIT_READONLY,    /* write to a VMS_MEM_READONLY memslot (a write to
			       * a read-only mapping is EFAULT, -EACCES) */
	VMS_EXIT_NOMEM,       /* no frame could be had */
	VMS_EXIT_IO,          /* the page's swap copy could not be read */
};

struct vms_exit {
	enum vms_exit_reason reason;
	int error;        /* the -errno the access returned */
	uint64_t gpa;     /* the guest address that stopped the access */
	uint64_t hva;     /* its hva, when a slot held it */
	bool write;
};

typedef int (*vms_guest_fn)(struct vms_vcpu *vcpu, void *arg);

/* A vCPU runs its guest program on a thread of its own (start / join) or
 * on threads of the VMM's (create / run / destroy), as a VMM's vCPU loop
 * calls KVM_RUN.  Either way the program is in guest mode while it runs:
 * its accesses go through the vCPU's soft TLB, and every TLB flush waits
 * for it to acknowledge; out of it (between runs, in a halt, in a host
 * call) flushes do not wait for it. */

/* Starts a vCPU thread running @fn(vcpu, arg) as its guest program.
 * -EINVAL for a NULL argument or past max_vcpus, -ENOMEM, -errno of
 * pthread_create. */
VMS_API
int vms_vcpu_start(struct vms_vm *vm, vms_guest_fn fn, void *arg,
		   struct vms_vcpu **out);
/* Waits for the guest program to return, stores its value in *@ret (when
 * non-NULL) and frees the vCPU.  -EINVAL for NULL or a vCPU of
 * vms_vcpu_create, -errno of pthread_join (the vCPU is not freed). */
VMS_API
int vms_vcpu_join(struct vms_vcpu *vcpu, int *ret);

/* A vCPU without a thread, for vms_vcpu_run.  -EINVAL for a NULL argument
 * or past max_vcpus, -ENOMEM. */
VMS_API
int vms_vcpu_create(struct vms_vm *vm, struct vms_vcpu **out);
/* Runs @fn(vcpu, arg) on the calling thread as the vCPU's guest program,
 * and returns when it does, its value in *@ret (when non-NULL).  Call it
 * again for the next stretch of guest execution, from this thread or
 * another: the flushes the vCPU missed meanwhile are done as it enters.
 * -EINVAL for NULL or a vCPU of vms_vcpu_start, -EBUSY when the vCPU runs
 * already or this thread is in a guest program. */
VMS_API
int vms_vcpu_run(struct vms_vcpu *vcpu, vms_guest_fn fn, void *arg, int *ret);
/* Frees a vCPU of vms_vcpu_create.  -EINVAL for NULL or a vCPU of
 * vms_vcpu_start (join it), -EBUSY while it runs. */
VMS_API
int vms_vcpu_destroy(struct vms_vcpu *vcpu);
VMS_API
unsigned vms_vcpu_id(const struct vms_vcpu *vcpu);

/* Guest accesses, from the vCPU's guest program only.  0, or with the
 * reason in vms_vcpu_exit(): -EFAULT (no memslot holds @gpa, or its hva is
 * not mapped), -EACCES (a write to a read-only memslot or mapping),
 * -ENOMEM (no frame could be had), -EIO (the page's swap copy could not be
 * read). */
VMS_API
int vms_guest_read(struct vms_vcpu *vcpu, uint64_t gpa, void *buf,
		   size_t len);
VMS_API
int vms_guest_write(struct vms_vcpu *vcpu, uint64_t gpa, const void *buf,
		    size_t len);

/* The 8-byte accesses: inline for a hit in the vCPU's soft TLB, as
 * mmu_notifier.h inlines its checks, and out of line (vms_guest_access64)
 * for everything else: a miss, a pending flush, an unaligned address.  A
 * vCPU begins with this structure, stable for libvmsync.so.1:
 *   tlb[]: the soft TLB, direct mapped by gfn % VMS_TLB_SIZE; an entry's
 *          tag is (gfn + 1) << 1, | 1 when a write may go through it,
 *          0 when empty; frame is the page's bytes;
 *   flush_req / seen_req: a remote flush bumps *flush_req; while it is not
 *          the seen_req the vCPU acted on, no entry may be used;
 *   reads / writes: the access counts (vms_vm_stats), the vCPU's own;
 *   fast: 0 while the library's debug race windows are open, which only
 *          the out-of-line path has.
 * Read and written by the vCPU's own thread only, but for *flush_req. */
#define VMS_TLB_SIZE 512
struct vms_tlb_entry {
	uint64_t tag;
	uint8_t *frame;
};
struct vms_vcpu_fast {
	const unsigned long long *flush_req;
	unsigned long long seen_req;
	uint64_t reads, writes;
	unsigned char fast;
	struct vms_tlb_entry tlb[VMS_TLB_SIZE];
};

VMS_API
int vms_guest_access64(struct vms_vcpu *vcpu, uint64_t gpa, uint64_t *val,
		       bool write);

/* The TLB entry that serves an 8-byte access at @gpa now, or NULL. */
static inline struct vms_tlb_entry *vms_tlb_hit(struct vms_vcpu *vcpu,
						uint64_t gpa, bool write)
{
	struct vms_vcpu_fast *f = (struct vms_vcpu_fast *)vcpu;
	uint64_t gfn = gpa >> VMS_PAGE_SHIFT;
	struct vms_tlb_entry *e = &f->tlb[gfn % VMS_TLB_SIZE];

	if ((gpa & 7) || !f->fast ||
	    __atomic_load_n(f->flush_req, __ATOMIC_ACQUIRE) != f->seen_req ||
	    (e->tag | (write ? 0 : 1)) != ((gfn + 1) << 1 | 1))
		return (struct vms_tlb_entry *)0;
	return e;
}

static inline int vms_guest_read64(struct vms_vcpu *vcpu, uint64_t gpa,
				   uint64_t *val)
{
	struct vms_vcpu_fast *f = (struct vms_vcpu_fast *)vcpu;
	struct vms_tlb_entry *e = vms_tlb_hit(vcpu, gpa, false);

	if (!e)
		return vms_guest_access64(vcpu, gpa, val, false);
	/* Relaxed: vCPUs may race on a guest word as CPUs do. */
	*val = __atomic_load_n((uint64_t *)(e->frame +
					    (gpa & (VMS_PAGE_SIZE - 1))),
			       __ATOMIC_RELAXED);
	__atomic_store_n(&f->reads, f->reads + 1, __ATOMIC_RELAXED);
	return 0;
}

static inline int vms_guest_write64(struct vms_vcpu *vcpu, uint64_t gpa,
				    uint64_t val)
{
	struct vms_vcpu_fast *f = (struct vms_vcpu_fast *)vcpu;
	struct vms_tlb_entry *e = vms_tlb_hit(vcpu, gpa, true);

	if (!e)
		return vms_guest_access64(vcpu, gpa, &val, true);
	__atomic_store_n((uint64_t *)(e->frame + (gpa & (VMS_PAGE_SIZE - 1))),
			 val, __ATOMIC_RELAXED);
	__atomic_store_n(&f->writes, f->writes + 1, __ATOMIC_RELAXED);
	return 0;
}
/* The last failed access. */
VMS_API
const struct vms_exit *vms_vcpu_exit(const struct vms_vcpu *vcpu);
/* Halts the vCPU for @ns nanoseconds: it leaves guest mode, so TLB
 * flushes do not wait for it meanwhile. */
VMS_API
void vms_guest_halt(struct vms_vcpu *vcpu, uint64_t ns);

/* ------------------------------------------------------------------ */
/* Counters: the vmstat of vmsync.  Read with relaxed loads while the
 * system runs; each value is exact once it is quiet. */

struct vms_vm_stats {
	uint64_t guest_reads, guest_writes;   /* accessor calls */
	uint64_t tlb_misses;                  /* soft TLB misses */
	uint64_t faults;                      /* shadow faults (missing spte) */
	uint64_t fault_retries;               /* faults redone after a race */
	uint64_t fault_prechecks;             /* ... found before the lookup,
					       * by the lockless pre-check */
	uint64_t invalidations;               /* invalidate_range_start calls */
	uint64_t zapped;                      /* sptes dropped */
	uint64_t tlb_flushes;                 /* remote flushes requested */
	uint64_t flush_waits;                 /* vCPU acks waited for */
	uint64_t exits;                       /* accesses that failed */
	uint64_t violations;                  /* debug invariant checks failed */
};
VMS_API
void vms_vm_stats(struct vms_vm *vm, struct vms_vm_stats *st);

struct vms_mm_stats {
	uint64_t pgfault;            /* pages faulted in (allocated) */
	uint64_t pgfree;             /* pages freed by unmap/discard */
	uint64_t invalidate_start;   /* notifier pairs started */
	uint64_t invalidate_end;
	uint64_t resident;           /* present PTEs now */
};
VMS_API
void vms_mm_stats(struct vms_mm *mm, struct vms_mm_stats *st);

/* ------------------------------------------------------------------ */
/* Real KVM guests: vmsync pages the RAM of a KVM VM that a VMM owns.  */

/*
 * The VMM keeps its VM, vCPUs and memslots; it hands vmsync one memslot's
 * guest RAM, and vmsync keeps at most a budget of it resident (plus the
 * samples below, an eighth of it at most): candidates for eviction are
 * moved out of guest RAM (the kernel's MMU notifiers zap KVM's
 * translations) and wait there as samples; one the guest touches comes
 * straight back, the others are written to a swap backend when KVM's
 * dirty log says they changed since their copy.  A vCPU that touches a
 * page that is away waits in KVM_RUN while a vmsync thread brings it back
 * through userfaultfd.
 *
 * The RAM must be private anonymous memory of the calling process, page
 * aligned, in 4 KiB pages (MADV_NOHUGEPAGE), and its memslot must have
 * KVM_MEM_LOG_DIRTY_PAGES.  Its contents when the pager is created are
 * dropped: the guest starts from zeroes.  Needs userfaultfd with
 * UFFDIO_MOVE (Linux 6.8) for the calling user.
 */
struct vms_kvm_pager;

struct vms_kvm_ram {
	int vm_fd;          /* the VM (KVM_CREATE_VM) */
	unsigned slot;      /* the memslot over the RAM */
	void *hva;          /* its userspace_addr */
	uint64_t bytes;     /* its memory_size */
};

struct vms_kvm_pager_config {
	struct vms_kvm_ram ram;
	/* The budget: resident guest pages, and what the backend holds in
	 * memory (its held_bytes: a compressed tier's heap pool). */
	uint64_t host_bytes;
	/* Where evicted pages go; the pager owns it once created. */
	struct vms_swap_backend *backend;
	unsigned handlers;                  /* fault threads, 0..4; 0: 2 */
	/* Fail-stop.  Called once, on a pager thread, with the first error
	 * that leaves a page unreachable (a swap read, a userfaultfd call,
	 * the dirty log failed): the VMM must stop its vCPUs (a signal takes
	 * one out of KVM_RUN, even while it waits for a page) and not run
	 * them again.  A page is never handed to the guest as zeroes in its
	 * place.  May be NULL. */
	void (*fail)(void *arg, int err);
	void *fail_arg;
};

/* Starts paging: registers the RAM with userfaultfd, starts the fault
 * threads and the reclaimer.  -EINVAL for a bad config, -EPERM / -ENOSYS
 * when userfaultfd cannot be had, -errno of KVM_GET_DIRTY_LOG (-ENOENT:
 * no dirty log on the slot) or of thread creation.  On error the backend
 * stays the caller's. */
VMS_API
int vms_kvm_pager_create(const struct vms_kvm_pager_config *cfg,
			 struct vms_kvm_pager **out);
/* Stops the pager and frees it and its backend.  Every vCPU of the VM
 * must be stopped for good first: with the userfaultfd gone, a page that
 * lived only in vmsync's store would read as zeroes. */
VMS_API
void vms_kvm_pager_destroy(struct vms_kvm_pager *pg);
/* The first error that stopped the pager (see fail), or 0. */
VMS_API
int vms_kvm_pager_error(struct vms_kvm_pager *pg);

/* madvise(2) on the paged RAM, [hva, hva+len) inside it: DONTNEED (reads
 * as zeroes afterwards), FREE (the old data, or zeroes once evicted, but
 * never zeroes after a later write), PAGEOUT (evicted now), WILLNEED
 * (swapped pages come back now), COLD (the first to go).  Blocks while a
 * fault holds one of the pages.  -EINVAL for other advice or a range
 * outside the RAM, -EIO when WILLNEED could not read a page (it stays
 * swapped), -errno of KVM_GET_DIRTY_LOG for FREE; a userfaultfd call that
 * fails in WILLNEED fails the pager (see fail) and returns its -errno. */
VMS_API
int vms_kvm_pager_advise(struct vms_kvm_pager *pg, uint64_t hva, size_t len,
			 int advice);

/* KVM_SET_USER_MEMORY_REGION of another memslot of the VM while the pager
 * runs (add, move, delete): every such change must go through here, or it
 * may wait forever for a vCPU that waits for the pager.  -EBUSY for the
 * paged slot itself, -errno of the ioctl. */
VMS_API
int vms_kvm_set_memslot(struct vms_kvm_pager *pg, unsigned slot,
			unsigned flags, uint64_t gpa, uint64_t bytes,
			void *hva);

/* Faults by source: zero (no I/O), backend (a swap read), raced (placed
 * meanwhile by another fault or by read-ahead). */
struct vms_kvm_pager_stats {
	uint64_t resident, swapped;           /* pages now */
	uint64_t faults_zero, faults_backend, faults_raced;
	uint64_t readahead;                   /* pages placed after a fault's */
	uint64_t evictions, clean_drops;      /* clean: no write needed */
	uint64_t writes, write_errors, read_errors;
	uint64_t discards, harvests;          /* DONTNEED pages, dirty logs */
	uint64_t fault_ns;                    /* time in zero and backend
					       * faults */
	/* Aging: pages moved out of guest RAM as candidates for eviction,
	 * and of those, the ones the guest touched (moved back, no I/O). */
	uint64_t samples, faults_sampled;
	uint64_t lazyfree;                    /* MADV_FREE pages gone as zeroes */
	/* Time faults waited for the reclaimer before they placed pages,
	 * with the budget overdrawn by more than a couple of runs. */
	uint64_t throttled_ns;
	struct vms_zswap_stats zswap;         /* as in struct vms_phys_stats */
};
VMS_API
void vms_kvm_pager_stats(struct vms_kvm_pager *pg,
			 struct vms_kvm_pager_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VMSYNC_H */
