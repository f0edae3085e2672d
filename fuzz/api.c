/* api.c - fuzz harness of the public API.  An input is a sequence of
 * operations - mapping calls, host and guest accesses, memslot changes,
 * migration, page references - on a small address space with one VM and
 * one vCPU; each call's return and every byte read is checked against a
 * reference model (model.h).  The first disagreement aborts with the op,
 * the address and the bytes, then the input's ops.
 *
 * The pools and the swap file live for the whole run (they are slow to
 * make); mm, VM and vCPU are made per input, and when they are gone every
 * frame and swap slot must be free again. */
#define _GNU_SOURCE
#include "fuzz.h"
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "vmsync.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define PA (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)

/* A window of 64 pages, so that ops collide, on 64 frames, so that
 * filling it forces reclaim; swap holds all of it several times over.  It
 * straddles a 2 MiB boundary, so that its pages have two PTE locks. */
#define WIN_PAGES 64
#define WIN_BASE ((UINT64_C(1) << 32) + (2u << 20) - 32 * PG)
#define WIN_END (WIN_BASE + WIN_PAGES * PG)
#define NODE_FRAMES 32
#define SWAP_SLOTS 512
#define MAX_GFN 128             /* the VM's guest-physical pages */
#define MAX_SLOT_ID 32          /* ids from here on are refused */
#define MAX_OPS 64
#define MAX_HELD 4              /* vms_get_page references held at once */
#define MAX_IO (3 * PG)         /* longest access */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the input ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

/* The next byte; zeroes once the input is used up. */
static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* ---- state of the input being run ---- */

struct slot {
	bool live;
	uint64_t gfn, npages, hva;
	unsigned flags;
};

static struct vms_phys *phys;   /* for the whole run: see the top */

static struct {
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vcpu *vcpu;
	struct m_page pg[WIN_PAGES];
	struct slot slot[MAX_SLOT_ID];
	struct vms_page *held[MAX_HELD];
	unsigned nheld;
	unsigned op;                    /* the running op's index */
	char log[MAX_OPS + 1][160];     /* what each op did, for a failure */
} S;

/* Appends to the running op's line of the log. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char *line = S.log[S.op];
	size_t used = strlen(line);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + used, sizeof(S.log[0]) - used, fmt, ap);
	va_end(ap);
}

static void print_log(void)
{
	fprintf(stderr, "the input's ops (hvas as +offset into the window):\n");
	for (unsigned i = 0; i <= S.op && i <= MAX_OPS; i++)
		fprintf(stderr, "  #%u %s\n", i, S.log[i]);
}

static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\nfuzz-api: op #%u: ", S.op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	print_log();
	abort();
}

/* An hva for messages: an offset into the window, or absolute. */
static const char *hv(uint64_t a)
{
	static char buf[4][24];
	static unsigned k;
	char *b = buf[k++ % 4];

	if (a >= WIN_BASE - 16 * PG && a < WIN_END + 16 * PG)
		snprintf(b, sizeof(buf[0]), "%s%#" PRIx64, a < WIN_BASE ? "-" : "+",
			 a < WIN_BASE ? WIN_BASE - a : a - WIN_BASE);
	else
		snprintf(b, sizeof(buf[0]), "%#" PRIx64, a);
	return b;
}

/* ---- expected returns: sets of errnos ---- */

static const int errnos[] = { 0, EINVAL, ENOMEM, EEXIST, EFAULT, EACCES,
			      EOPNOTSUPP, ENOENT, EIO, EBUSY };

/* The bit of return value @r (0 or -errno) in a set. */
static unsigned rbit(int r)
{
	for (unsigned i = 0; i < ARRAY_SIZE(errnos); i++)
		if (-r == errnos[i])
			return 1u << i;
	return 1u << 31;
}
#define OK 1u
#define E(e) rbit(-(e))

static void check_ret(const char *call, int got, unsigned want)
{
	note(" -> %d", got);
	if (got == -ENOMEM && !(want & E(ENOMEM)))
		fail("%s returned -ENOMEM: out of frames with swap on (should "
		     "not happen here)", call);
	if (!(rbit(got) & want)) {
		char set[128] = "";

		for (unsigned i = 0; i < ARRAY_SIZE(errnos); i++)
			if (want & (1u << i))
				snprintf(set + strlen(set), sizeof(set) - strlen(set),
					 "%s%s", *set ? " or " : "",
					 i ? strerrorname_np(errnos[i]) : "0");
		fail("%s returned %d (%s), want %s", call, got,
		     got ? strerrorname_np(-got) : "0", set);
	}
}

/* ---- the model: pages of the window ---- */

static struct m_page *page_at(uint64_t hva)
{
	if (hva < WIN_BASE || hva >= WIN_END)
		return NULL;
	return &S.pg[(hva - WIN_BASE) / PG];
}

static bool aligned(uint64_t a)
{
	return !(a & (PG - 1));
}

/* [addr, addr + len rounded up to pages): false when that overflows. */
static bool range_end(uint64_t addr, uint64_t len, uint64_t *end)
{
	if (len > UINT64_MAX - PG)
		return false;
	*end = addr + ((len + PG - 1) & ~(PG - 1));
	return *end >= addr;
}

static bool in_window(uint64_t start, uint64_t end)
{
	return start >= WIN_BASE && end <= WIN_END && start <= end;
}

/* Is no page of [start, end) (inside the window) mapped? */
static bool is_hole(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += PG)
		if (page_at(a)->mapped)
			return false;
	return true;
}

/* Is every page of [start, end) mapped (outside the window: no)? */
static bool all_mapped(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += PG)
		if (!page_at(a) || !page_at(a)->mapped)
			return false;
	return true;
}

static bool hole_fits(uint64_t len)
{
	for (uint64_t a = WIN_BASE; a + len <= WIN_END; a += PG)
		if (is_hole(a, a + len))
			return true;
	return false;
}

/* The mapping (VMA) holding @hva, as vmsync keeps them: neighbours that
 * touch with equal rights are one (mm.c merges them).  False if none. */
static bool vma_of(uint64_t hva, uint64_t *start, uint64_t *end)
{
	struct m_page *p = page_at(hva);

	if (!p || !p->mapped)
		return false;
	*start = hva & ~(PG - 1);
	*end = *start + PG;
	while (*start > WIN_BASE && page_at(*start - PG)->mapped &&
	       page_at(*start - PG)->prot == p->prot)
		*start -= PG;
	while (*end < WIN_END && page_at(*end)->mapped &&
	       page_at(*end)->prot == p->prot)
		*end += PG;
	return true;
}

static void map_range(uint64_t start, uint64_t end, int prot)
{
	for (uint64_t a = start; a < end; a += PG)
		m_map(page_at(a), prot);
}

static void unmap_range(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += PG)
		if (page_at(a))
			m_unmap(page_at(a));
}

/* What a host access to the page of @hva gets: 0 or -errno. */
static int host_access(uint64_t hva, bool write)
{
	struct m_page *p = page_at(hva);

	if (!p || !p->mapped)
		return -EFAULT;
	if (!(p->prot & RW) || (write && !(p->prot & VMS_PROT_WRITE)))
		return -EACCES;
	return 0;
}

static void observe(struct m_page *p, uint64_t hva, const uint8_t *got,
		    size_t len, const char *how)
{
	struct m_miss m;
	char want[64] = "", seen[64] = "";

	if (m_observe(p, hva & (PG - 1), got, len, &m))
		return;
	for (size_t i = 0; i < m.len; i++) {
		snprintf(want + 3 * i, 4, "%02x ", m.want[i]);
		snprintf(seen + 3 * i, 4, "%02x ", m.got[i]);
	}
	fail("%s of %s: wrong bytes at %s: expected %s(candidate %u of %u), "
	     "got %s", how, hv(hva), hv((hva & ~(PG - 1)) + m.at), want, m.cand + 1,
	     m.n, seen);
}

/* A page with several candidates is read whole, now, so that the next
 * changes do not multiply them (model.h); unreadable ones wait. */
static void prune(void)
{
	static uint8_t buf[PG];

	for (unsigned i = 0; i < WIN_PAGES; i++) {
		struct m_page *p = &S.pg[i];
		uint64_t hva = WIN_BASE + i * PG;

		if (!p->mapped || p->n <= 2 || !(p->prot & VMS_PROT_READ))
			continue;
		int r = vms_mm_read(S.mm, hva, buf, PG);
		if (r)
			fail("reading %s back returned %d", hv(hva), r);
		observe(p, hva, buf, PG, "reading back");
	}
}

/* ---- decoding arguments ---- */

/* An hva around the window (4 pages either side), rarely unaligned. */
static uint64_t d_addr(struct in *in)
{
	uint8_t b = u8(in);
	uint64_t a = WIN_BASE - 4 * PG + (uint64_t)(b % (WIN_PAGES + 8)) * PG;

	if (b >= 248)
		a += 1 + u8(in);
	return a;
}

/* A length for the mapping calls: mostly a few pages; now and then
 * unaligned, 0, the window or more, or overflowing. */
static uint64_t d_len(struct in *in)
{
	static const uint64_t odd[] = {
		0, WIN_PAGES * PG, (WIN_PAGES + 1) * PG, SIZE_MAX,
		SIZE_MAX - PG + 2, 1ull << 63, UINT64_MAX / 2 + 1, 1,
	};
	uint8_t b = u8(in);

	switch (b >> 5) {
	case 0: case 1: case 2: case 3:
		return ((b & 7) + 1) * PG;
	case 4: case 5:
		return ((b & 31) + 1) * PG;
	case 6:
		return (uint64_t)(b & 31) * 700;
	default:
		return odd[b & 7];
	}
}

static int d_prot(struct in *in)
{
	static const int prots[] = { RW, RW, RW, VMS_PROT_READ, VMS_PROT_READ,
				     VMS_PROT_NONE, VMS_PROT_READ, 0x4 };

	return prots[u8(in) % 8];
}

static const char *prot_name(int prot)
{
	return prot == RW ? "RW" : prot == VMS_PROT_READ ? "R"
		: prot == VMS_PROT_NONE ? "NONE" : prot == VMS_PROT_WRITE ? "W"
		: "bad";
}

/* An offset into a page for accesses: 0, small, near the end. */
static uint64_t d_off(struct in *in)
{
	uint8_t b = u8(in);

	switch (b >> 6) {
	case 0:
		return 0;
	case 1:
		return b & 63;
	case 2:
		return PG - 1 - (b & 63);
	default:
		return (uint64_t)(b & 63) * 64;
	}
}

/* An access length: bytes to three pages. */
static size_t d_iolen(struct in *in)
{
	static const size_t odd[] = { 0, 8, PG, 2 * PG, MAX_IO, PG - 1, PG + 1,
				      16 };
	uint8_t b = u8(in);

	switch (b >> 6) {
	case 0:
		return 1 + (b & 63);
	case 1:
		return (size_t)(b & 63) * 64 + 1;
	case 2:
		return PG * (1 + (b & 1)) + (b & 62);
	default:
		return odd[b & 7];
	}
}

/* Bytes to write: zeroes (seed 0, to meet zeroed pages), else a pattern
 * of the seed and the op. */
static void d_fill(struct in *in, uint8_t *buf, size_t len)
{
	uint64_t s = u8(in), x = s * 0x9e3779b97f4a7c15ull + S.op + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = s ? (uint8_t)x : 0;
	}
}

/* ---- the vCPU: runs guest accesses posted by the fuzzing thread ---- */

enum gop { G_READ, G_WRITE, G_READ64, G_WRITE64, G_QUIT };

/* One request at a time.  The request fields are written before posted
 * is bumped (release) and read after it is seen (acquire); the reply is
 * written before done is, under mu. */
static struct mailbox {
	atomic_uint posted;
	unsigned seen;                  /* vCPU thread only */
	enum gop op;
	uint64_t gpa, val;
	uint8_t *buf;
	size_t len;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned done;
	int ret;
	struct vms_exit exit;
} mb = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Waiting for a request leaves guest mode (a halt), because a vCPU
 * blocked in guest mode would hold up every TLB flush: the vCPU polls,
 * halted 20 us at a time.  (Spinning in shorter halts, or halting long
 * and being woken by a signal, was no faster.) */
#define POLL_NS 20000

static int guest_main(struct vms_vcpu *v, void *arg)
{
	(void)arg;
	prctl(PR_SET_TIMERSLACK, 1UL);  /* sleep 20 us, not the default 70 */
	for (;;) {
		unsigned n = atomic_load_explicit(&mb.posted, memory_order_acquire);

		if (n == mb.seen) {
			vms_guest_halt(v, POLL_NS);
			continue;
		}
		mb.seen = n;
		int r = 0;
		switch (mb.op) {
		case G_READ:
			r = vms_guest_read(v, mb.gpa, mb.buf, mb.len);
			break;
		case G_WRITE:
			r = vms_guest_write(v, mb.gpa, mb.buf, mb.len);
			break;
		case G_READ64:
			r = vms_guest_read64(v, mb.gpa, &mb.val);
			break;
		case G_WRITE64:
			r = vms_guest_write64(v, mb.gpa, mb.val);
			break;
		case G_QUIT:
			return 0;
		}
		pthread_mutex_lock(&mb.mu);
		mb.ret = r;
		if (r)
			mb.exit = *vms_vcpu_exit(v);
		mb.done = n;
		pthread_cond_signal(&mb.cv);
		pthread_mutex_unlock(&mb.mu);
	}
}

/* Runs one access on the vCPU and waits for it. */
static int guest_call(enum gop op, uint64_t gpa, uint8_t *buf, size_t len,
		      uint64_t *val, struct vms_exit *exit)
{
	unsigned n = atomic_load(&mb.posted) + 1;

	mb.op = op;
	mb.gpa = gpa;
	mb.buf = buf;
	mb.len = len;
	mb.val = val ? *val : 0;
	atomic_store_explicit(&mb.posted, n, memory_order_release);
	if (op == G_QUIT)
		return 0;
	pthread_mutex_lock(&mb.mu);
	while (mb.done != n)
		pthread_cond_wait(&mb.cv, &mb.mu);
	int r = mb.ret;
	if (r)
		*exit = mb.exit;
	if (val)
		*val = mb.val;
	pthread_mutex_unlock(&mb.mu);
	return r;
}

/* ---- memslots in the model ---- */

static struct slot *slot_of_gfn(uint64_t gfn)
{
	for (unsigned i = 0; i < MAX_SLOT_ID; i++)
		if (S.slot[i].live && gfn >= S.slot[i].gfn &&
		    gfn - S.slot[i].gfn < S.slot[i].npages)
			return &S.slot[i];
	return NULL;
}

static uint64_t d_slot_id(struct in *in)
{
	uint8_t b = u8(in);

	return b < 240 ? b % 4 : 28 + b % 8;    /* 32..35: refused */
}

/* ---- operations ---- */

static void op_mmap(struct in *in)
{
	static const int bad_flags[] = { VMS_MAP_ANONYMOUS, VMS_MAP_PRIVATE,
					 PA | VMS_MAP_SHARED, PA | 0x40 };
	uint64_t hint = d_addr(in), len = d_len(in), addr = 0, end = 0;
	int prot = d_prot(in);
	uint8_t f = u8(in);
	int flags = PA;

	switch (f % 8) {
	case 0: case 1: case 2:
		if (f & 0x80)
			hint = 0;
		break;
	case 3: case 4:
		flags |= VMS_MAP_FIXED;
		break;
	case 5:
		flags |= VMS_MAP_FIXED_NOREPLACE;
		break;
	case 6:
		flags |= VMS_MAP_FIXED | VMS_MAP_FIXED_NOREPLACE;
		break;
	default:
		flags = bad_flags[(f >> 3) % 4];
	}
	note("mmap hint=%s len=%#" PRIx64 " prot=%s flags=%#x", hv(hint), len,
	     prot_name(prot), flags);

	const int known = PA | VMS_MAP_FIXED | VMS_MAP_FIXED_NOREPLACE;
	bool fixed = flags & (VMS_MAP_FIXED | VMS_MAP_FIXED_NOREPLACE);
	unsigned want = 0;

	if (!len || (prot & ~RW) || (flags & ~known) ||
	    !(flags & VMS_MAP_PRIVATE))
		want |= E(EINVAL);
	if ((flags & VMS_MAP_SHARED) || !(flags & VMS_MAP_ANONYMOUS))
		want |= E(EOPNOTSUPP);
	if (!want && len > WIN_PAGES * PG)
		want = E(ENOMEM) | (fixed && !aligned(hint) ? E(EINVAL) : 0);
	if (!want) {
		len = (len + PG - 1) & ~(PG - 1);
		if (!fixed)
			want = hole_fits(len) ? OK : E(ENOMEM);
		else if (!aligned(hint))
			want = E(EINVAL);
		else if (!in_window(hint, hint + len))
			want = E(ENOMEM);
		else if ((flags & VMS_MAP_FIXED_NOREPLACE) &&
			 !is_hole(hint, hint + len))
			want = E(EEXIST);
		else
			want = OK;
	}
	int r = vms_mmap(S.mm, hint, len, prot, flags, &addr);
	check_ret("mmap", r, want);
	if (r)
		return;
	note(" @%s", hv(addr));
	end = addr + len;
	if (fixed ? addr != hint
		  : !aligned(addr) || !in_window(addr, end) || !is_hole(addr, end))
		fail("mmap placed [%s, %s): %s", hv(addr), hv(end),
		     fixed ? "not at the fixed address"
			   : "not in a hole of the window");
	map_range(addr, end, prot);
}

static void op_munmap(struct in *in)
{
	uint64_t addr = d_addr(in), len = d_len(in), end = 0;

	note("munmap %s len=%#" PRIx64, hv(addr), len);
	bool ok = aligned(addr) && len && range_end(addr, len, &end) &&
		  in_window(addr, end);
	int r = vms_munmap(S.mm, addr, len);
	check_ret("munmap", r, ok ? OK : E(EINVAL));
	if (!r)
		unmap_range(addr, end);
}

static void op_mprotect(struct in *in)
{
	uint64_t addr = d_addr(in), len = d_len(in), end = 0;
	int prot = d_prot(in);
	unsigned want;

	note("mprotect %s len=%#" PRIx64 " prot=%s", hv(addr), len,
	     prot_name(prot));
	if ((prot & ~RW) || !aligned(addr))
		want = E(EINVAL);
	else if (!len)
		want = OK;
	else if (!range_end(addr, len, &end))
		want = E(EINVAL) | E(ENOMEM);
	else
		want = all_mapped(addr, end) ? OK : E(ENOMEM);
	int r = vms_mprotect(S.mm, addr, len, prot);
	check_ret("mprotect", r, want);
	if (!r)
		for (uint64_t a = addr; a < end; a += PG)
			page_at(a)->prot = prot;
}

static void op_madvise(struct in *in)
{
	static const int advs[] = {
		VMS_MADV_DONTNEED, VMS_MADV_DONTNEED, VMS_MADV_FREE,
		VMS_MADV_FREE, VMS_MADV_COLD, VMS_MADV_PAGEOUT, VMS_MADV_PAGEOUT,
		VMS_MADV_WILLNEED, VMS_MADV_NORMAL, VMS_MADV_SEQUENTIAL,
		VMS_MADV_RANDOM, 5, 9, -1,
	};
	uint64_t addr = d_addr(in), len = d_len(in), end = 0;
	int adv = advs[u8(in) % ARRAY_SIZE(advs)];
	bool valid = adv != 5 && adv != 9 && adv != -1;
	unsigned want;

	note("madvise %s len=%#" PRIx64 " advice=%d", hv(addr), len, adv);
	if (!valid || !aligned(addr))
		want = E(EINVAL);
	else if (!len)
		want = OK;
	else if (!range_end(addr, len, &end))
		want = E(EINVAL) | E(ENOMEM);
	else
		want = all_mapped(addr, end) ? OK : E(ENOMEM);
	int r = vms_madvise(S.mm, addr, len, adv);
	check_ret("madvise", r, want);
	if (r && r != -ENOMEM)
		return;
	/* The mapped parts are advised even when there are holes, and past
	 * the window is a hole. */
	if (addr < WIN_BASE)
		addr = WIN_BASE;
	if (end > WIN_END)
		end = WIN_END;
	for (uint64_t a = addr; a < end; a += PG) {
		struct m_page *p = page_at(a);

		if (!p || !p->mapped)
			continue;
		if (adv == VMS_MADV_DONTNEED)
			m_map(p, p->prot);
		else if (adv == VMS_MADV_FREE)
			m_lazyfree(p);
	}
}

/* mremap: the rules of vmsync.h, with "in one mapping" as vmsync merges
 * mappings (vma_of). */
static void op_mremap(struct in *in)
{
	static const int flag_set[] = {
		0, VMS_MREMAP_MAYMOVE, VMS_MREMAP_MAYMOVE,
		VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED,
		VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED, VMS_MREMAP_FIXED, 4,
		VMS_MREMAP_MAYMOVE,
	};
	uint64_t old = d_addr(in), old_len = d_len(in), new_len = d_len(in);
	int flags = flag_set[u8(in) % 8];
	uint64_t new_addr = d_addr(in), got = 0;
	uint64_t oend = 0, nlen = 0, vs, ve, dst = 0;
	unsigned want = 0;
	enum { SHRINK, GROW, MOVE } how = MOVE;

	note("mremap %s len=%#" PRIx64 " new_len=%#" PRIx64 " flags=%d new=%s",
	     hv(old), old_len, new_len, flags, hv(new_addr));
	if (!aligned(old) || !old_len || !new_len ||
	    (flags & ~(VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED)) ||
	    ((flags & VMS_MREMAP_FIXED) && !(flags & VMS_MREMAP_MAYMOVE)) ||
	    old_len > UINT64_MAX / 2 || new_len > UINT64_MAX / 2)
		want |= E(EINVAL);
	if (!want) {
		range_end(old, old_len, &oend);
		range_end(0, new_len, &nlen);
		if (!vma_of(old, &vs, &ve) || ve < oend)
			want |= E(EFAULT);
		if ((flags & VMS_MREMAP_FIXED) &&
		    (!aligned(new_addr) || !in_window(new_addr, new_addr + nlen) ||
		     new_addr + nlen < new_addr ||
		     (new_addr < oend && old < new_addr + nlen)))
			want |= E(EINVAL);
	}
	if (!want) {
		if (flags & VMS_MREMAP_FIXED)
			dst = new_addr;
		else if (nlen <= oend - old)
			how = SHRINK;
		else if (ve == oend && in_window(old, old + nlen) &&
			 is_hole(oend, old + nlen))
			how = GROW;
		else if (!(flags & VMS_MREMAP_MAYMOVE) || !hole_fits(nlen))
			want = E(ENOMEM);
	}
	int r = vms_mremap(S.mm, old, old_len, new_len, flags, new_addr, &got);
	check_ret("mremap", r, want ? want : OK);
	if (r)
		return;
	note(" @%s", hv(got));
	if (how != MOVE || dst) {
		uint64_t at = how == MOVE ? dst : old;

		if (got != at)
			fail("mremap returned %s, want %s", hv(got), hv(at));
	} else if (!aligned(got) || !in_window(got, got + nlen) ||
		   !is_hole(got, got + nlen)) {
		fail("mremap moved to [%s, %s): not a hole of the window",
		     hv(got), hv(got + nlen));
	}
	int prot = page_at(old)->prot;
	if (how == SHRINK) {
		unmap_range(old + nlen, oend);
		return;
	}
	if (how == GROW) {
		map_range(oend, old + nlen, prot);
		return;
	}
	/* A move: the kept pages go with their contents, the rest of the
	 * new range is zeroes, the old range goes. */
	uint64_t keep = nlen < oend - old ? nlen : oend - old;
	struct m_page moved[WIN_PAGES];

	for (uint64_t off = 0; off < keep; off += PG) {
		moved[off / PG] = *page_at(old + off);
		*page_at(old + off) = (struct m_page){ 0 };
	}
	unmap_range(old, oend);
	unmap_range(got, got + nlen);
	for (uint64_t off = 0; off < nlen; off += PG) {
		if (off < keep)
			*page_at(got + off) = moved[off / PG];
		else
			m_map(page_at(got + off), prot);
	}
}

/* The first page of an access of [hva, hva+len) that faults, with its
 * error; len when none does. */
static size_t host_fault_at(uint64_t hva, size_t len, bool write, int *err)
{
	for (size_t done = 0; done < len;) {
		size_t n = PG - ((hva + done) & (PG - 1));

		*err = host_access(hva + done, write);
		if (*err)
			return done;
		done += n < len - done ? n : len - done;
	}
	*err = 0;
	return len;
}

/* Applies a write of @len bytes at @hva to the model, page by page; the
 * first @sure bytes surely happened, the rest maybe (up to @upto). */
static void model_write(uint64_t hva, const uint8_t *buf, size_t upto,
			bool sure)
{
	for (size_t done = 0; done < upto;) {
		size_t n = PG - ((hva + done) & (PG - 1));

		if (n > upto - done)
			n = upto - done;
		m_write(page_at(hva + done), (hva + done) & (PG - 1), buf + done,
			n, !sure);
		done += n;
	}
}

static void op_host_rw(struct in *in, bool write)
{
	static uint8_t buf[MAX_IO];
	uint64_t hva = d_addr(in) + d_off(in);
	size_t len = d_iolen(in);
	int err;

	if (write)
		d_fill(in, buf, len);
	note("%s %s len=%#zx", write ? "host-write" : "host-read", hv(hva), len);
	size_t ok = host_fault_at(hva, len, write, &err);
	int r = write ? vms_mm_write(S.mm, hva, buf, len)
		      : vms_mm_read(S.mm, hva, buf, len);
	check_ret(write ? "vms_mm_write" : "vms_mm_read", r, rbit(err));
	if (write) {
		model_write(hva, buf, ok, !r);
		return;
	}
	for (size_t done = 0; !r && done < len;) {
		size_t n = PG - ((hva + done) & (PG - 1));

		if (n > len - done)
			n = len - done;
		observe(page_at(hva + done), hva + done, buf + done, n,
			"vms_mm_read");
		done += n;
	}
}

static void op_host_write(struct in *in)
{
	op_host_rw(in, true);
}

static void op_host_read(struct in *in)
{
	op_host_rw(in, false);
}

static void op_slot_set(struct in *in)
{
	unsigned id = (unsigned)d_slot_id(in);
	uint8_t b = u8(in);
	uint64_t gfn = u8(in) % (MAX_GFN + 8);
	/* Bytes, as the call takes them: now and then not whole pages. */
	uint64_t size = b == 255   ? UINT64_MAX & ~(PG - 1)
			: b == 254 ? 0
			: b == 253 ? PG + 8
				   : (1u + b % 16u) * PG;
	uint64_t npages = size / PG;
	uint64_t hva = d_addr(in);
	uint8_t fb = u8(in) % 8;
	unsigned flags = fb < 5 ? 0 : fb < 7 ? VMS_MEM_READONLY : 0x2;
	unsigned want = 0;

	note("memslot %u gfn=%#" PRIx64 " size=%#" PRIx64 " hva=%s flags=%#x",
	     id, gfn, size, hv(hva), flags);
	if (id >= MAX_SLOT_ID || (flags & ~VMS_MEM_READONLY) || size % PG ||
	    !aligned(hva))
		want = E(EINVAL);
	else if (!npages)
		want = S.slot[id].live ? OK : E(ENOENT);
	else {
		if (gfn >= MAX_GFN || npages > MAX_GFN - gfn ||
		    hva < WIN_BASE || hva >= WIN_END ||
		    npages > (WIN_END - hva) / PG ||
		    (S.slot[id].live && S.slot[id].npages != npages))
			want |= E(EINVAL);
		for (unsigned i = 0; i < MAX_SLOT_ID; i++)
			if (i != id && S.slot[i].live &&
			    gfn < S.slot[i].gfn + S.slot[i].npages &&
			    S.slot[i].gfn < gfn + npages)
				want |= E(EEXIST);
	}
	int r = vms_vm_set_memslot(S.vm, &(struct vms_memslot){
		.slot = id, .flags = flags, .guest_phys_addr = gfn * PG,
		.memory_size = size, .userspace_addr = hva });
	check_ret("vms_vm_set_memslot", r, want ? want : OK);
	if (!r)
		S.slot[id] = (struct slot){ .live = npages != 0, .gfn = gfn,
					    .npages = npages, .hva = hva,
					    .flags = flags };
}

static void op_slot_del(struct in *in)
{
	unsigned id = (unsigned)d_slot_id(in);

	note("memslot %u delete", id);
	int r = vms_vm_set_memslot(S.vm, &(struct vms_memslot){ .slot = id });
	check_ret("vms_vm_set_memslot", r,
		  id >= MAX_SLOT_ID ? E(EINVAL)
		  : S.slot[id].live ? OK : E(ENOENT));
	if (!r)
		S.slot[id].live = false;
}

static void op_gpa_to_hva(struct in *in)
{
	uint64_t gpa = (u8(in) % (MAX_GFN + 8)) * PG + d_off(in), hva = 0;
	struct slot *s = slot_of_gfn(gpa / PG);

	note("gpa_to_hva %#" PRIx64, gpa);
	int r = vms_vm_gpa_to_hva(S.vm, gpa, &hva);
	check_ret("vms_vm_gpa_to_hva", r, s ? OK : E(ENOENT));
	if (!r && hva != s->hva + gpa - s->gfn * PG)
		fail("gpa %#" PRIx64 " -> %s, want %s", gpa, hv(hva),
		     hv(s->hva + gpa - s->gfn * PG));
}

/* What a guest access to one page of @gpa gets: VMS_EXIT_NONE, or the
 * exit, its error and the hva.  @alt: a second allowed answer, when two
 * reasons apply and vmsync may report either. */
struct gexit {
	enum vms_exit_reason reason;
	int error;
	uint64_t hva;
};

static void guest_expect(uint64_t gpa, bool write, struct gexit *want,
			 struct gexit *alt)
{
	struct slot *s = slot_of_gfn(gpa / PG);

	*want = *alt = (struct gexit){ VMS_EXIT_NONE, 0, 0 };
	if (!s) {
		*want = (struct gexit){ VMS_EXIT_NO_SLOT, -EFAULT, 0 };
		*alt = *want;
		return;
	}
	uint64_t hva = s->hva + gpa - s->gfn * PG;
	int err = host_access(hva, write);
	struct gexit host = { err ? VMS_EXIT_EFAULT : VMS_EXIT_NONE, err, hva };

	if (write && (s->flags & VMS_MEM_READONLY)) {
		*want = (struct gexit){ VMS_EXIT_READONLY, -EACCES, hva };
		*alt = err ? host : *want;
	} else {
		*want = *alt = host;
	}
}

static bool exit_is(const struct vms_exit *x, const struct gexit *g,
		    uint64_t gpa, bool write)
{
	return x->reason == g->reason && x->error == g->error && x->gpa == gpa &&
	       x->write == write &&
	       (g->reason == VMS_EXIT_NO_SLOT || x->hva == g->hva);
}

static void op_guest(struct in *in, enum gop op)
{
	static uint8_t buf[MAX_IO];
	bool write = op == G_WRITE || op == G_WRITE64;
	bool word = op == G_READ64 || op == G_WRITE64;
	uint64_t gpa = (u8(in) % (MAX_GFN + 8)) * PG;
	size_t len;
	uint64_t val = 0;

	if (word) {
		uint8_t b = u8(in);

		gpa += b & 0x80 ? PG - 1 - (b & 7) : (uint64_t)(b & 0x7f) * 8;
		len = 8;
	} else {
		gpa += d_off(in);
		len = d_iolen(in);
	}
	if (write)
		d_fill(in, buf, len);
	memcpy(&val, buf, sizeof(val));
	note("guest-%s%s %#" PRIx64 " len=%#zx",
	     write ? "write" : "read", word ? "64" : "", gpa, len);

	/* The expected result, page by page. */
	struct gexit want = { VMS_EXIT_NONE, 0, 0 }, alt = want;
	uint64_t fault_gpa = 0;
	size_t ok = 0;
	while (ok < len) {
		size_t n = PG - ((gpa + ok) & (PG - 1));

		guest_expect(gpa + ok, write, &want, &alt);
		if (want.reason != VMS_EXIT_NONE) {
			fault_gpa = gpa + ok;
			break;
		}
		ok += n < len - ok ? n : len - ok;
	}

	struct vms_exit x = { 0 };
	int r = guest_call(op, gpa, buf, len, word ? &val : NULL, &x);
	note(" -> %d", r);
	if (want.reason == VMS_EXIT_NONE && r)
		fail("guest access returned %d, exit %d at gpa %#" PRIx64
		     " hva %s; want success", r, x.reason, x.gpa, hv(x.hva));
	if (want.reason != VMS_EXIT_NONE &&
	    (r != x.error || !(exit_is(&x, &want, fault_gpa, write) ||
			       exit_is(&x, &alt, fault_gpa, write))))
		fail("guest access returned %d, exit reason %d error %d gpa %#"
		     PRIx64 " hva %s write %d; want reason %d error %d gpa %#"
		     PRIx64 " hva %s (or reason %d error %d)",
		     r, x.reason, x.error, x.gpa, hv(x.hva), x.write, want.reason,
		     want.error, fault_gpa, hv(want.hva), alt.reason, alt.error);
	if (word && !write)
		memcpy(buf, &val, sizeof(val));

	/* Apply or check, page by page through the slots. */
	for (size_t done = 0; done < ok;) {
		uint64_t g = gpa + done;
		struct slot *s = slot_of_gfn(g / PG);
		uint64_t hva = s->hva + g - s->gfn * PG;
		size_t n = PG - (g & (PG - 1));

		if (n > ok - done)
			n = ok - done;
		if (write)
			m_write(page_at(hva), hva & (PG - 1), buf + done, n, r);
		else if (!r)
			observe(page_at(hva), hva, buf + done, n, "guest read");
		done += n;
	}
}

static void op_guest_read(struct in *in)
{
	op_guest(in, G_READ);
}

static void op_guest_write(struct in *in)
{
	op_guest(in, G_WRITE);
}

static void op_guest_read64(struct in *in)
{
	op_guest(in, G_READ64);
}

static void op_guest_write64(struct in *in)
{
	op_guest(in, G_WRITE64);
}

static void op_migrate(struct in *in)
{
	uint64_t addr = d_addr(in), len = d_len(in), end = 0, moved = ~0ull;
	uint8_t b = u8(in);
	unsigned node = b % 4 < 3 ? b % 2 : 2 + b % 7;

	note("migrate %s len=%#" PRIx64 " node=%u", hv(addr), len, node);
	bool ok = node < 2 && aligned(addr) && len &&
		  range_end(addr, len, &end) && in_window(addr, end);
	int r = vms_migrate(S.mm, addr, len, node, &moved);
	/* -ENOMEM: the node is full, which is its to say. */
	check_ret("vms_migrate", r, ok ? OK | E(ENOMEM) : E(EINVAL));
	note(" moved %" PRIu64, moved);
	if (moved > (ok ? (end - addr) / PG : 0))
		fail("vms_migrate says it moved %" PRIu64 " pages", moved);
}

static void put_held(unsigned i)
{
	vms_put_page(S.held[i]);
	S.held[i] = S.held[--S.nheld];
}

static void op_get_page(struct in *in)
{
	uint64_t hva = d_addr(in) + d_off(in);
	bool write = u8(in) & 1;
	struct vms_page *page = NULL;

	if (S.nheld == MAX_HELD)
		put_held(0);
	note("get_page %s%s", hv(hva), write ? " write" : "");
	int r = vms_get_page(S.mm, hva, write, &page);
	check_ret("vms_get_page", r, rbit(host_access(hva, write)));
	if (r)
		return;
	S.held[S.nheld++] = page;
	struct m_page *p = page_at(hva);
	const uint8_t *frame = vms_page_address(page);

	if (vms_page_pfn(page) >= 2 * NODE_FRAMES)
		fail("vms_get_page gave pfn %" PRIu64, vms_page_pfn(page));
	observe(p, hva & ~(PG - 1), frame, PG, "the frame of vms_get_page");
	if (write) {
		if (!vms_page_dirty(page))
			fail("a page got for writing is not dirty");
		m_pin_dirty(p, frame);
	}
}

static void op_put_page(struct in *in)
{
	uint8_t b = u8(in);

	note("put_page");
	if (S.nheld)
		put_held(b % S.nheld);
}

static void op_tiering(struct in *in)
{
	bool on = u8(in) & 1;

	note("tiering %s", on ? "on" : "off");
	vms_phys_set_tiering(phys, on);
}

static void op_drop_caches(struct in *in)
{
	(void)in;
	note("drop_caches");
	vms_phys_drop_caches(phys);
}

/* By the first byte of an op, modulo the count: the common ones twice. */
static void (*const ops[])(struct in *in) = {
	op_mmap, op_mmap, op_munmap, op_mremap, op_mprotect, op_madvise,
	op_madvise, op_host_write, op_host_write, op_host_read, op_slot_set,
	op_slot_set, op_slot_del, op_gpa_to_hva, op_guest_read, op_guest_read,
	op_guest_write, op_guest_write, op_guest_read64, op_guest_write64,
	op_migrate, op_get_page, op_put_page, op_tiering, op_drop_caches,
};

/* ---- an input from beginning to end ---- */

static void setup(void)
{
	struct vms_mm_config mc = { .va_base = WIN_BASE,
				    .va_size = WIN_PAGES * PG };
	struct vms_vm_config vc = { .max_gpa = MAX_GFN * PG, .max_vcpus = 1 };
	int r;

	memset(S.slot, 0, sizeof(S.slot));
	S.op = 0;
	S.nheld = 0;
	if ((r = vms_mm_create(phys, &mc, &S.mm)) ||
	    (r = vms_vm_create(S.mm, &vc, &S.vm)) ||
	    (r = vms_vcpu_start(S.vm, guest_main, NULL, &S.vcpu)))
		fail("setting up: %d", r);
}

/* Reads every readable page back; then everything goes, and every frame
 * and slot must be free again. */
static void teardown(void)
{
	static uint8_t buf[PG];
	struct vms_vm_stats st;
	struct vms_mm_stats ms;
	struct vms_phys_stats vs;
	unsigned mapped = 0;
	int ret = -1;

	S.log[S.op][0] = 0;
	note("(end: read back, tear down, count frames)");
	vms_mm_stats(S.mm, &ms);
	for (unsigned i = 0; i < WIN_PAGES; i++)
		mapped += S.pg[i].mapped;
	/* (kswapd may be inside an invalidation pair now: the counts of
	 * starts and ends need not agree.) */
	if (ms.resident > mapped)
		fail("mm stats: %" PRIu64 " pages resident of %u mapped",
		     ms.resident, mapped);
	for (unsigned i = 0; i < WIN_PAGES; i++) {
		uint64_t hva = WIN_BASE + i * PG;

		if (!S.pg[i].mapped || !(S.pg[i].prot & VMS_PROT_READ))
			continue;
		int r = vms_mm_read(S.mm, hva, buf, PG);
		if (r)
			fail("reading %s back returned %d", hv(hva), r);
		observe(&S.pg[i], hva, buf, PG, "reading back");
	}
	while (S.nheld)
		put_held(S.nheld - 1);
	guest_call(G_QUIT, 0, NULL, 0, NULL, NULL);
	if (vms_vcpu_join(S.vcpu, &ret) || ret)
		fail("vms_vcpu_join: guest returned %d", ret);
	vms_vm_stats(S.vm, &st);
	if (st.violations)
		fail("%" PRIu64 " debug invariant checks failed", st.violations);
	vms_vm_destroy(S.vm);
	vms_mm_destroy(S.mm);
	for (unsigned i = 0; i < WIN_PAGES; i++)
		m_unmap(&S.pg[i]);
	vms_phys_set_tiering(phys, false);
	/* drop_caches also waits for pages reclaim and kswapd have taken. */
	vms_phys_drop_caches(phys);
	for (unsigned node = 0; node < 2; node++) {
		struct vms_node_info ni;

		if (vms_phys_node_info(phys, node, &ni) || ni.free != ni.frames)
			fail("node %u: %" PRIu64 " of %" PRIu64 " frames free "
			     "after teardown", node, ni.free, ni.frames);
	}
	vms_phys_stats(phys, &vs);
	if (vs.swap_used)
		fail("%" PRIu64 " swap slots used after teardown", vs.swap_used);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct vms_phys_config pc = { .nr_nodes = 2,
				      .node_frames = { NODE_FRAMES, NODE_FRAMES } };
	struct vms_swap_backend *be;
	int r;

	(void)argc;
	(void)argv;
	if ((r = vms_phys_create(&pc, &phys)) ||
	    (r = vms_swap_file_create(NULL, SWAP_SLOTS * PG, true, &be)) ||
	    (r = vms_swap_on(phys, be, 2, 4))) {
		fprintf(stderr, "fuzz-api: setup failed: %s\n", strerror(-r));
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	setup();
	for (; in.n && S.op < MAX_OPS; S.op++) {
		S.log[S.op][0] = 0;
		ops[u8(&in) % ARRAY_SIZE(ops)](&in);
		prune();
	}
	teardown();
	/* VMS_FUZZ_TRACE=1: what an input did (to read a reproducer). */
	if (getenv("VMS_FUZZ_TRACE"))
		print_log();
	return 0;
}
