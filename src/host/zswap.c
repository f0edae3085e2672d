/* zswap.c - the compressed tier: a swap backend in front of another, as
 * zswap sits in front of a swap device, keyed by the same slots.  A page
 * written is kept as one word when it is same-filled, compressed into the
 * pool when it compresses to at most ZS_MAX_LEN bytes (3/4 of a page),
 * else written through to the next backend.  The pool is a byte budget of
 * frames carved into size classes (zspages of 1-4 frames, as zsmalloc
 * packs them); a store that would pass the budget first writes the oldest
 * entries back to the next backend, in batches.  A load decompresses and
 * keeps the entry: the slot's copy stays good until the slot is written
 * again or discarded, so a clean page can still go without I/O.  Frames
 * come from a pool's free lists (without reclaim: a store runs inside
 * reclaim) or from the heap.  Lock order: the tier's lock nests inside
 * page locks (swap I/O runs under them) and outside node locks (frames). */
#define _GNU_SOURCE
#include "host/host.h"

#include <lz4.h>
#include <pthread.h>
#include <string.h>
#include <zstd.h>

#define ZS_MAX_LEN (PAGE_SIZE * 3 / 4)  /* worse than this: write through */
#define ZS_CLASS_STEP 64
#define ZS_CLASSES (ZS_MAX_LEN / ZS_CLASS_STEP)
#define ZS_BATCH 32                     /* entries per write-back */
#define ZS_NONE UINT32_MAX

enum zs_kind { ZS_EMPTY, ZS_SAME, ZS_COMP };

/* Frames holding objects of one class back to back, as if they were
 * contiguous (an object may straddle two of them: it is copied in two
 * pieces).  free[] is a stack of free indices. */
struct zspage {
	uint8_t *frame[4];
	struct zspage *next;            /* the class's pages with room */
	uint16_t frames, objs, used, nr_free;
	uint16_t *free;
	bool listed;
};

struct zs_class {
	unsigned size, frames, objs;    /* per zspage */
	struct zspage *avail;
};

/*
 * One per slot.  COMP: @len bytes at object @obj of @page; SAME: the word.
 * Entries stored and not busy are on the age list (older first), linked
 * by slot.  busy: being written back, its copy still here; a write or
 * discard of the slot waits until it is not.
 */
struct zs_entry {
	uint64_t word;
	struct zspage *page;
	uint32_t older, newer;
	uint16_t obj, len;
	uint8_t kind;
	bool busy;
};

struct zswap {
	struct vms_swap_backend be;
	struct vms_swap_backend *next;
	struct vms_phys *phys;          /* frames from its free lists; NULL:
					 * from the heap */
	int compressor, level;
	uint64_t budget;                /* bytes of frames */

	/* Everything below under lock; I/O and (de)compression outside. */
	struct vms_lock lock;
	pthread_cond_t idle;            /* a busy entry became idle */
	struct zs_entry *e;
	uint32_t oldest, newest;
	struct zs_class classes[ZS_CLASSES];
	uint64_t frames, stored_bytes, nr_comp, nr_same;
	struct {
		uint64_t stores, rejects, writebacks, loads, writeback_errors;
	} st;
};

#define ZS(be) container_of(be, struct zswap, be)

/* ---- the pool ---- */

static void class_init(struct zs_class *c, unsigned size)
{
	unsigned best = 1;

	/* The zspage of 1-4 frames that wastes least. */
	for (unsigned k = 2; k <= 4; k++)
		if ((k * PAGE_SIZE) % size * best <
		    (best * PAGE_SIZE) % size * k)
			best = k;
	c->size = size;
	c->frames = best;
	c->objs = best * PAGE_SIZE / size;
	c->avail = NULL;
}

static struct zs_class *class_of(struct zswap *z, unsigned len)
{
	return &z->classes[(len + ZS_CLASS_STEP - 1) / ZS_CLASS_STEP - 1];
}

/* Copies @len bytes between @buf and object @obj of @zp (@out: from the
 * object), in two pieces when it straddles two frames. */
static void obj_copy(const struct zs_class *c, const struct zspage *zp,
		     unsigned obj, void *buf, size_t len, bool out)
{
	size_t off = (size_t)obj * c->size;

	for (size_t done = 0; done < len;) {
		size_t in = (off + done) % PAGE_SIZE;
		size_t n = PAGE_SIZE - in < len - done ? PAGE_SIZE - in
						       : len - done;
		uint8_t *at = zp->frame[(off + done) / PAGE_SIZE] + in;

		if (out)
			memcpy((uint8_t *)buf + done, at, n);
		else
			memcpy(at, (const uint8_t *)buf + done, n);
		done += n;
	}
}

/* A frame for the pool: a free frame of the pool's phys, taken without
 * reclaim (a store runs inside reclaim, under page locks), or heap. */
static uint8_t *frame_get(struct zswap *z)
{
	if (!z->phys)
		return vms_aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	struct vms_page *page = phys_alloc_nowait(z->phys, 0, false);

	return page ? pfn_to_addr(z->phys, page_to_pfn(z->phys, page)) : NULL;
}

static void frame_put(struct zswap *z, uint8_t *frame)
{
	if (!z->phys) {
		vms_free(frame);
		return;
	}
	page_put(pfn_to_page(z->phys, (uint64_t)(frame - z->phys->base) >>
					      PAGE_SHIFT));
}

static void zspage_free(struct zswap *z, struct zspage *zp)
{
	for (unsigned i = 0; i < zp->frames; i++)
		if (zp->frame[i])
			frame_put(z, zp->frame[i]);
	vms_free(zp->free);
	vms_free(zp);
}

/* A free object of @c: on a page with room, or on a new page when the
 * budget allows one.  False when it does not. */
static bool obj_alloc_locked(struct zswap *z, struct zs_class *c,
			     struct zspage **out, uint16_t *obj)
{
	vms_assert_held(&z->lock);
	struct zspage *zp = c->avail;

	if (!zp) {
		if ((z->frames + c->frames) * PAGE_SIZE > z->budget)
			return false;
		bool ok = (zp = vms_calloc(1, sizeof(*zp))) &&
			  (zp->free = vms_calloc(c->objs, sizeof(*zp->free)));

		if (ok)
			zp->frames = (uint16_t)c->frames;
		for (unsigned i = 0; ok && i < c->frames; i++)
			ok = (zp->frame[i] = frame_get(z)) != NULL;
		if (!ok) {
			if (zp)
				zspage_free(z, zp);
			return false;
		}
		zp->objs = (uint16_t)c->objs;
		for (unsigned i = 0; i < c->objs; i++)
			zp->free[zp->nr_free++] = (uint16_t)(c->objs - 1 - i);
		zp->listed = true;
		c->avail = zp;
		z->frames += c->frames;
	}
	*obj = zp->free[--zp->nr_free];
	zp->used++;
	*out = zp;
	if (!zp->nr_free) {
		c->avail = zp->next;
		zp->next = NULL;
		zp->listed = false;
	}
	return true;
}

static void obj_free_locked(struct zswap *z, struct zs_class *c,
			    struct zspage *zp, uint16_t obj)
{
	vms_assert_held(&z->lock);
	zp->free[zp->nr_free++] = obj;
	zp->used--;
	if (!zp->listed) {
		zp->next = c->avail;
		c->avail = zp;
		zp->listed = true;
	}
	if (zp->used)
		return;
	/* Empty: its frames go back. */
	struct zspage **at = &c->avail;

	while (*at != zp)
		at = &(*at)->next;
	*at = zp->next;
	z->frames -= zp->frames;
	zspage_free(z, zp);
}

/* ---- entries and their age ---- */

static void age_unlink_locked(struct zswap *z, uint32_t slot)
{
	vms_assert_held(&z->lock);
	struct zs_entry *e = &z->e[slot];

	if (e->older != ZS_NONE)
		z->e[e->older].newer = e->newer;
	else
		z->oldest = e->newer;
	if (e->newer != ZS_NONE)
		z->e[e->newer].older = e->older;
	else
		z->newest = e->older;
	e->older = e->newer = ZS_NONE;
}

static void age_push_locked(struct zswap *z, uint32_t slot)
{
	vms_assert_held(&z->lock);
	struct zs_entry *e = &z->e[slot];

	e->older = z->newest;
	e->newer = ZS_NONE;
	if (z->newest != ZS_NONE)
		z->e[z->newest].newer = slot;
	else
		z->oldest = slot;
	z->newest = slot;
}

static void wait_idle_locked(struct zswap *z, uint64_t slot)
{
	while (z->e[slot].busy)
		vms_cond_wait(&z->idle, &z->lock);
}

/* Drops the slot's entry, if any (not busy). */
static void entry_drop_locked(struct zswap *z, uint64_t slot)
{
	vms_assert_held(&z->lock);
	struct zs_entry *e = &z->e[slot];

	VMS_ASSERT(!e->busy);
	if (e->kind == ZS_EMPTY)
		return;
	age_unlink_locked(z, (uint32_t)slot);
	if (e->kind == ZS_COMP) {
		obj_free_locked(z, class_of(z, e->len), e->page, e->obj);
		z->stored_bytes -= e->len;
		z->nr_comp--;
	} else {
		z->nr_same--;
	}
	e->kind = ZS_EMPTY;
}

/* ---- compression ---- */

static bool same_filled(const uint8_t *page, uint64_t *word)
{
	const uint64_t *w = (const uint64_t *)page;

	for (unsigned i = 1; i < PAGE_SIZE / 8; i++)
		if (w[i] != w[0])
			return false;
	*word = w[0];
	return true;
}

/* The page in at most ZS_MAX_LEN bytes at @dst, or 0. */
static size_t compress_page(const struct zswap *z, const uint8_t *page,
			    uint8_t *dst)
{
	if (vms_fault(VMS_FAULT_COMPRESS))
		return 0;               /* as incompressible: written through */
	if (z->compressor == VMS_ZSWAP_ZSTD) {
		size_t n = ZSTD_compress(dst, ZS_MAX_LEN, page, PAGE_SIZE,
					 z->level);
		return ZSTD_isError(n) ? 0 : n;
	}
	int n = LZ4_compress_default((const char *)page, (char *)dst,
				     PAGE_SIZE, ZS_MAX_LEN);
	return n > 0 ? (size_t)n : 0;
}

static int decompress_page(const struct zswap *z, const uint8_t *src,
			   size_t len, uint8_t *page)
{
	if (vms_fault(VMS_FAULT_COMPRESS))
		return -EIO;
	if (z->compressor == VMS_ZSWAP_ZSTD) {
		size_t n = ZSTD_decompress(page, PAGE_SIZE, src, len);
		return !ZSTD_isError(n) && n == PAGE_SIZE ? 0 : -EIO;
	}
	return LZ4_decompress_safe((const char *)src, (char *)page, (int)len,
				   PAGE_SIZE) == PAGE_SIZE ? 0 : -EIO;
}

/* The entry's page into @page; lock held, released around the work. */
static int entry_load_locked(struct zswap *z, uint64_t slot, uint8_t *page)
{
	vms_assert_held(&z->lock);
	struct zs_entry *e = &z->e[slot];
	uint8_t tmp[ZS_MAX_LEN];
	size_t len = e->len;

	if (e->kind == ZS_SAME) {
		uint64_t *w = (uint64_t *)page;

		for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
			w[i] = e->word;
		return 0;
	}
	obj_copy(class_of(z, e->len), e->page, e->obj, tmp, len, true);
	vms_unlock(&z->lock);
	int r = decompress_page(z, tmp, len, page);
	vms_lock(&z->lock);
	return r;
}

/* ---- write-back: the oldest entries to the next backend ---- */

/* I/O on the next backend, each result in its res.  Injected failures
 * (debug builds) act where the caller's I/O enters, not again here. */
static void next_io(struct zswap *z, struct vms_swap_io *io, size_t n)
{
	int r = z->next->rw(z->next, io, n);

	for (size_t i = 0; i < n; i++)
		if (r && !io[i].res)
			io[i].res = r;
}

/* Writes back the oldest eighth of the entries (1 to ZS_BATCH of them):
 * room for the next stores without emptying the pool.  Lock held (dropped
 * around the work).  Returns how many left the pool; 0 with none to go or
 * the next backend failing. */
static size_t writeback_locked(struct zswap *z)
{
	vms_assert_held(&z->lock);
	uint64_t want = (z->nr_comp + z->nr_same) / 8;
	uint8_t *bufs = vms_aligned_alloc(PAGE_SIZE, ZS_BATCH * PAGE_SIZE);
	struct vms_swap_io io[ZS_BATCH];
	uint64_t slots[ZS_BATCH];
	size_t n = 0, gone = 0;

	if (!bufs)
		return 0;
	want = want < 1 ? 1 : want > ZS_BATCH ? ZS_BATCH : want;
	while (n < want && z->oldest != ZS_NONE) {
		uint32_t s = z->oldest;

		age_unlink_locked(z, s);
		z->e[s].busy = true;
		slots[n++] = s;
	}
	for (size_t i = 0; i < n; i++) {
		io[i] = (struct vms_swap_io){ .write = true, .slot = slots[i],
					      .buf = bufs + i * PAGE_SIZE };
		io[i].res = entry_load_locked(z, slots[i], io[i].buf);
	}
	vms_unlock(&z->lock);
	struct vms_swap_io out[ZS_BATCH];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!io[i].res && !VMS_MUTANT_IS(zswap_drop_dirty))
			out[k++] = io[i];
	if (k)
		next_io(z, out, k);
	vms_lock(&z->lock);
	for (size_t i = 0, j = 0; i < n; i++) {
		struct zs_entry *e = &z->e[slots[i]];
		int res = io[i].res ? io[i].res
			  : VMS_MUTANT_IS(zswap_drop_dirty) ? 0 : out[j++].res;

		e->busy = false;
		if (res) {
			z->st.writeback_errors++;
			age_push_locked(z, (uint32_t)slots[i]);
			continue;
		}
		entry_drop_locked(z, slots[i]);
		z->st.writebacks++;
		gone++;
	}
	pthread_cond_broadcast(&z->idle);
	vms_free(bufs);
	return gone;
}

/* ---- the backend's calls ---- */

/* Stores one page written at @slot: true if the pool took it (false:
 * write it through).  Lock held. */
static bool store_locked(struct zswap *z, uint64_t slot, const uint8_t *comp,
			 size_t len, bool same, uint64_t word)
{
	vms_assert_held(&z->lock);
	struct zs_entry *e = &z->e[slot];

	wait_idle_locked(z, slot);
	entry_drop_locked(z, slot);
	if (same) {
		e->kind = ZS_SAME;
		e->word = word;
		z->nr_same++;
	} else {
		struct zs_class *c = class_of(z, (unsigned)len);
		struct zspage *zp;
		uint16_t obj;

		while (!obj_alloc_locked(z, c, &zp, &obj))
			if (!writeback_locked(z))
				return false;
		/* The write-back dropped the lock: the slot may have been
		 * stored meanwhile (a caller's own race), last one wins. */
		wait_idle_locked(z, slot);
		entry_drop_locked(z, slot);
		obj_copy(c, zp, obj, (void *)comp, len, false);
		e->kind = ZS_COMP;
		e->page = zp;
		e->obj = obj;
		e->len = (uint16_t)len;
		z->stored_bytes += len;
		z->nr_comp++;
	}
	age_push_locked(z, (uint32_t)slot);
	z->st.stores++;
	return true;
}

static int zswap_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		    size_t n)
{
	struct zswap *z = ZS(be);
	struct vms_swap_io pass[64];
	size_t np = 0, at[64];
	uint8_t comp[ZS_MAX_LEN];

	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (io[i].slot >= be->nr_slots)
			return -EINVAL;
		io[i].res = 0;
	}
	for (size_t i = 0; i < n; i++) {
		bool pooled;

		if (io[i].write) {
			uint64_t word = 0;
			bool same = same_filled(io[i].buf, &word);
			size_t len = same ? 0 : compress_page(z, io[i].buf, comp);

			vms_lock(&z->lock);
			pooled = (same || len) &&
				 store_locked(z, io[i].slot, comp, len, same,
					      word);
			if (!pooled) {
				/* Through to the next tier: no stale copy
				 * may stay here. */
				wait_idle_locked(z, io[i].slot);
				entry_drop_locked(z, io[i].slot);
				z->st.rejects++;
			}
			vms_unlock(&z->lock);
		} else {
			vms_lock(&z->lock);
			wait_idle_locked(z, io[i].slot);
			pooled = z->e[io[i].slot].kind != ZS_EMPTY;
			if (pooled) {
				io[i].res = entry_load_locked(z, io[i].slot,
							      io[i].buf);
				z->st.loads++;
			}
			vms_unlock(&z->lock);
		}
		if (!pooled) {
			at[np] = i;
			pass[np++] = io[i];
		}
	}
	if (np) {
		next_io(z, pass, np);
		for (size_t k = 0; k < np; k++)
			io[at[k]].res = pass[k].res;
	}
	return 0;
}

static void zswap_discard(struct vms_swap_backend *be, uint64_t slot)
{
	struct zswap *z = ZS(be);

	vms_lock(&z->lock);
	wait_idle_locked(z, slot);
	entry_drop_locked(z, slot);
	vms_unlock(&z->lock);
	if (z->next->discard)
		z->next->discard(z->next, slot);
}

static void zswap_release(struct vms_swap_backend *be)
{
	struct zswap *z = ZS(be);

	vms_lock(&z->lock);
	for (uint64_t s = 0; s < be->nr_slots; s++)
		entry_drop_locked(z, s);
	vms_unlock(&z->lock);
	VMS_ASSERT(!z->frames && !z->nr_comp && !z->nr_same);
	if (z->next->release)
		z->next->release(z->next);
	vms_lock_destroy(&z->lock);
	pthread_cond_destroy(&z->idle);
	vms_free(z->e);
	vms_free(z);
}

static uint64_t zswap_held_bytes(struct vms_swap_backend *be)
{
	struct zswap *z = ZS(be);

	vms_lock(&z->lock);
	uint64_t held = z->phys ? 0 : z->frames * PAGE_SIZE;
	vms_unlock(&z->lock);
	return held;
}

int vms_swap_zswap_create(const struct vms_zswap_config *cfg,
			  struct vms_swap_backend *next,
			  struct vms_swap_backend **out)
{
	VMS_HOST_CALL();
	if (!cfg || !next || !out || !next->rw || next->nr_slots < 2 ||
	    next->nr_slots >= ZS_NONE || cfg->pool_bytes < PAGE_SIZE ||
	    (cfg->compressor != VMS_ZSWAP_LZ4 &&
	     cfg->compressor != VMS_ZSWAP_ZSTD) ||
	    (cfg->compressor == VMS_ZSWAP_LZ4 && cfg->level) ||
	    cfg->level < 0 || cfg->level > ZSTD_maxCLevel())
		return -EINVAL;
	struct zswap *z = vms_calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->e = vms_calloc(next->nr_slots, sizeof(*z->e));
	if (!z->e) {
		vms_free(z);
		return -ENOMEM;
	}
	for (uint64_t s = 0; s < next->nr_slots; s++)
		z->e[s].older = z->e[s].newer = ZS_NONE;
	z->oldest = z->newest = ZS_NONE;
	for (unsigned i = 0; i < ZS_CLASSES; i++)
		class_init(&z->classes[i], (i + 1) * ZS_CLASS_STEP);
	z->next = next;
	z->phys = cfg->phys;
	z->compressor = cfg->compressor;
	z->level = cfg->level ? cfg->level : 3;
	z->budget = cfg->pool_bytes & ~(uint64_t)(PAGE_SIZE - 1);
	vms_lock_init(&z->lock);
	pthread_cond_init(&z->idle, NULL);
	z->be = (struct vms_swap_backend){
		.rw = zswap_rw, .discard = zswap_discard,
		.release = zswap_release, .held_bytes = zswap_held_bytes,
		.nr_slots = next->nr_slots,
		.name = cfg->compressor == VMS_ZSWAP_ZSTD ? "zswap (zstd)"
							   : "zswap (lz4)",
	};
	*out = &z->be;
	return 0;
}

int vms_swap_zswap_stats(struct vms_swap_backend *be,
			 struct vms_zswap_stats *st)
{
	if (!be || !st || be->rw != zswap_rw)
		return -EINVAL;
	struct zswap *z = ZS(be);

	vms_lock(&z->lock);
	*st = (struct vms_zswap_stats){
		.stored = z->nr_comp + z->nr_same, .same_filled = z->nr_same,
		.pool_bytes = z->frames * PAGE_SIZE,
		.compressed_bytes = z->stored_bytes,
		.stores = z->st.stores, .rejects = z->st.rejects,
		.writebacks = z->st.writebacks, .loads = z->st.loads,
		.writeback_errors = z->st.writeback_errors,
		.compressor = z->compressor, .level = z->level,
	};
	vms_unlock(&z->lock);
	return 0;
}
