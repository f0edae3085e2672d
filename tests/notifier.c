/* notifier.c - tests of MMU notifiers seen from a subscriber: which host
 * operations send start/end pairs, with what event and range, and when;
 * register/unregister/release; aging; interval subscriptions. */
#include "test.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define PA (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)
#define MAX_PAIRS 8
#define MAX_LIST 64

/* A range as a callback saw it, with its page list copied (the list lives
 * only during the call). */
struct rec {
	struct vms_mmu_range r;
	uint64_t pages[MAX_LIST];
};

/* A secondary MMU that only records what it is told. */
struct tsub {
	struct vms_mmu_notifier mn;
	struct vms_mm *mm;
	int starts, ends, releases, clear_young, clear_flush_young;
	int open;                       /* starts not yet ended */
	struct rec range[MAX_PAIRS];
	bool bad_end, bad_range;
	/* Pages [young_base, young_base + 64 pages) that clear_young got. */
	uint64_t young_base, young_mask;
	/* Probe of the page the operation frees: checked at start. */
	const uint8_t *probe;
	uint8_t probe_val;
	bool probe_bad;
	uint64_t pgfree_at_start, pgfree_at_end;
};

static struct tsub *to_tsub(struct vms_mmu_notifier *mn)
{
	return (struct tsub *)((char *)mn - offsetof(struct tsub, mn));
}

/* A range is well formed: page aligned, not empty, of our mm; a page
 * list (optional) sorted, aligned, inside it. */
static bool range_ok(const struct tsub *t, const struct vms_mmu_range *r)
{
	if (r->mm != t->mm || r->start >= r->end || (r->start & (PG - 1)) ||
	    (r->end & (PG - 1)))
		return false;
	for (size_t i = 0; r->pages && i < r->nr_pages; i++)
		if ((r->pages[i] & (PG - 1)) || r->pages[i] < r->start ||
		    r->pages[i] >= r->end ||
		    (i && r->pages[i] <= r->pages[i - 1]))
			return false;
	return !r->pages || r->nr_pages > 0;
}

static void record(struct rec *rec, const struct vms_mmu_range *r)
{
	rec->r = *r;
	if (r->pages) {
		size_t n = r->nr_pages < MAX_LIST ? r->nr_pages : MAX_LIST;

		memcpy(rec->pages, r->pages, n * sizeof(uint64_t));
		rec->r.pages = rec->pages;
		rec->r.nr_pages = n;
	}
}

/* Does the range say the page of @hva changes? */
static bool covers(const struct vms_mmu_range *r, uint64_t hva)
{
	if (hva < r->start || hva >= r->end)
		return false;
	for (size_t i = 0; r->pages && i < r->nr_pages; i++)
		if (r->pages[i] == hva)
			return true;
	return !r->pages;
}

static int t_start(struct vms_mmu_notifier *mn,
		   const struct vms_mmu_range *r)
{
	struct tsub *t = to_tsub(mn);
	struct vms_mm_stats st;

	if (t->starts < MAX_PAIRS)
		record(&t->range[t->starts], r);
	t->starts++;
	t->open++;
	if (!range_ok(t, r) || !r->blockable)
		t->bad_range = true;
	/* Nothing of the range may be freed yet. */
	vms_mm_stats(t->mm, &st);
	t->pgfree_at_start = st.pgfree;
	if (t->probe) {
		for (size_t i = 0; i < PG; i++)
			if (t->probe[i] != t->probe_val)
				t->probe_bad = true;
	}
	return 0;
}

static void t_end(struct vms_mmu_notifier *mn, const struct vms_mmu_range *r)
{
	struct tsub *t = to_tsub(mn);
	struct vms_mm_stats st;

	/* An end pairs with the last start that is still open (the mm runs
	 * its pairs one after another here), with the same range. */
	if (t->open <= 0 || t->starts > MAX_PAIRS ||
	    r->start != t->range[t->starts - 1].r.start ||
	    r->end != t->range[t->starts - 1].r.end ||
	    r->event != t->range[t->starts - 1].r.event ||
	    r->nr_pages != t->range[t->starts - 1].r.nr_pages)
		t->bad_end = true;
	t->ends++;
	t->open--;
	vms_mm_stats(t->mm, &st);
	t->pgfree_at_end = st.pgfree;
}

static void t_release(struct vms_mmu_notifier *mn, struct vms_mm *mm)
{
	struct tsub *t = to_tsub(mn);

	if (mm != t->mm)
		t->bad_range = true;
	t->releases++;
}

static bool t_clear_young(struct vms_mmu_notifier *mn,
			  const struct vms_mmu_range *r)
{
	struct tsub *t = to_tsub(mn);

	t->clear_young++;
	if (!range_ok(t, r))
		t->bad_range = true;
	for (unsigned i = 0; i < 64; i++)
		if (covers(r, t->young_base + i * PG))
			t->young_mask |= 1ull << i;
	return false;
}

static bool t_clear_flush_young(struct vms_mmu_notifier *mn,
				const struct vms_mmu_range *r)
{
	to_tsub(mn)->clear_flush_young++;
	return false;
}

static const struct vms_mmu_notifier_ops t_ops = {
	.release = t_release,
	.invalidate_range_start = t_start,
	.invalidate_range_end = t_end,
	.clear_young = t_clear_young,
	.clear_flush_young = t_clear_flush_young,
};

static void sub_register(struct tsub *t, struct vms_mm *mm)
{
	memset(t, 0, sizeof(*t));
	t->mn.ops = &t_ops;
	t->mm = mm;
	CHECK_OK(vms_mmu_notifier_register(&t->mn, mm));
	CHECK(t->mn.mm == mm, "register did not set mn.mm");
}

static void sub_reset(struct tsub *t)
{
	t->starts = t->ends = t->clear_young = t->clear_flush_young = 0;
	t->young_mask = 0;
	t->bad_end = t->bad_range = t->probe_bad = false;
	t->probe = NULL;
}

static uint64_t map(struct vms_mm *mm, size_t len)
{
	uint64_t hva;

	CHECK_OK(vms_mmap(mm, 0, len, RW, PA, &hva));
	return hva;
}

static void touch(struct vms_mm *mm, uint64_t hva, size_t pages, uint8_t v)
{
	static uint8_t buf[PG];

	memset(buf, v, sizeof(buf));
	for (size_t i = 0; i < pages; i++)
		CHECK_OK(vms_mm_write(mm, hva + i * PG, buf, PG));
}

/* After one host operation: exactly @pairs pairs, all ended, and pair
 * @which has @event and covers every page of [start, end). */
static void expect_pair(struct tsub *t, int pairs, int which,
			enum vms_mmu_event event, uint64_t start, uint64_t end)
{
	const struct vms_mmu_range *r = &t->range[which].r;

	CHECK_EQ(t->starts, pairs);
	CHECK_EQ(t->ends, pairs);
	CHECK_EQ(t->open, 0);
	CHECK(!t->bad_end, "an end did not match its start");
	CHECK(!t->bad_range, "a range was malformed");
	CHECK_EQ(r->event, event);
	for (uint64_t a = start; a < end; a += PG)
		CHECK(covers(r, a),
		      "range [%#" PRIx64 ", %#" PRIx64 ") (%zu listed) misses "
		      "%#" PRIx64, r->start, r->end, r->nr_pages, a);
}

static void test_pairs_per_operation(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats st;
	struct tsub t;
	uint64_t a, b;

	t_setup(128, &phys, &mm);
	sub_register(&t, mm);
	a = map(mm, 16 * PG);
	touch(mm, a, 16, 1);

	sub_reset(&t);
	CHECK_OK(vms_munmap(mm, a + 14 * PG, 2 * PG));
	expect_pair(&t, 1, 0, VMS_EVENT_UNMAP, a + 14 * PG, a + 16 * PG);

	sub_reset(&t);
	CHECK_OK(vms_madvise(mm, a, 2 * PG, VMS_MADV_DONTNEED));
	expect_pair(&t, 1, 0, VMS_EVENT_DISCARD, a, a + 2 * PG);

	sub_reset(&t);
	CHECK_OK(vms_madvise(mm, a + 2 * PG, 3 * PG, VMS_MADV_FREE));
	expect_pair(&t, 1, 0, VMS_EVENT_DISCARD, a + 2 * PG, a + 5 * PG);

	sub_reset(&t);
	CHECK_OK(vms_mprotect(mm, a + 5 * PG, PG, VMS_PROT_READ));
	expect_pair(&t, 1, 0, VMS_EVENT_PROTECTION, a + 5 * PG, a + 6 * PG);
	/* Read to none takes a right away too. */
	sub_reset(&t);
	CHECK_OK(vms_mprotect(mm, a + 5 * PG, PG, VMS_PROT_NONE));
	expect_pair(&t, 1, 0, VMS_EVENT_PROTECTION, a + 5 * PG, a + 6 * PG);
	/* Giving rights back invalidates nothing. */
	sub_reset(&t);
	CHECK_OK(vms_mprotect(mm, a + 5 * PG, PG, VMS_PROT_READ));
	CHECK_OK(vms_mprotect(mm, a + 5 * PG, PG, RW));
	CHECK_EQ(t.starts, 0);
	CHECK_EQ(t.ends, 0);
	/* A refused mprotect (hole in the range) sends nothing. */
	CHECK_EQ(vms_mprotect(mm, a + 12 * PG, 4 * PG, VMS_PROT_READ), -ENOMEM);
	CHECK_EQ(t.starts, 0);

	/* mremap moving away: the old range is invalidated. */
	sub_reset(&t);
	CHECK_OK(vms_mremap(mm, a + 6 * PG, 2 * PG, 3 * PG, VMS_MREMAP_MAYMOVE,
			    0, &b));
	CHECK(b != a + 6 * PG, "mremap did not move");
	expect_pair(&t, 1, 0, VMS_EVENT_UNMAP, a + 6 * PG, a + 8 * PG);
	/* mremap shrinking: the tail is. */
	sub_reset(&t);
	CHECK_OK(vms_mremap(mm, b, 3 * PG, PG, 0, 0, &b));
	expect_pair(&t, 1, 0, VMS_EVENT_UNMAP, b + PG, b + 3 * PG);

	/* MAP_FIXED over a mapping. */
	sub_reset(&t);
	CHECK_OK(vms_mmap(mm, a + 8 * PG, 2 * PG, RW, PA | VMS_MAP_FIXED, &b));
	expect_pair(&t, 1, 0, VMS_EVENT_UNMAP, a + 8 * PG, a + 10 * PG);

	vms_mm_stats(mm, &st);
	CHECK_EQ(st.invalidate_start, st.invalidate_end);
	CHECK(st.invalidate_start >= 8, "mm counted %" PRIu64 " pairs",
	      st.invalidate_start);
	vms_mmu_notifier_unregister(&t.mn);
	t_teardown(phys, mm);
}

/* The frame the page of @hva sits on; the pool stays mapped, so the test
 * may read it after the page is gone. */
static const uint8_t *frame_of(struct vms_mm *mm, uint64_t hva)
{
	struct vms_page *pg;
	const uint8_t *f;

	CHECK_OK(vms_get_page(mm, hva, false, &pg));
	f = vms_page_address(pg);
	vms_put_page(pg);
	return f;
}

static void test_start_before_free(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats st;
	struct tsub t;
	uint64_t a, b;

	t_setup(64, &phys, &mm);
	sub_register(&t, mm);
	a = map(mm, 8 * PG);
	touch(mm, a, 8, 0x5c);

	/* DONTNEED of resident pages: at start nothing is freed and the
	 * bytes are intact; between start and end all of them are freed. */
	sub_reset(&t);
	t.probe = frame_of(mm, a + PG);
	t.probe_val = 0x5c;
	vms_mm_stats(mm, &st);
	CHECK_OK(vms_madvise(mm, a, 4 * PG, VMS_MADV_DONTNEED));
	CHECK_EQ(t.starts, 1);
	CHECK(!t.probe_bad, "the frame changed before start");
	CHECK_EQ(t.pgfree_at_start, st.pgfree);
	CHECK_EQ(t.pgfree_at_end, st.pgfree + 4);

	/* munmap likewise. */
	sub_reset(&t);
	t.probe = frame_of(mm, a + 5 * PG);
	t.probe_val = 0x5c;
	vms_mm_stats(mm, &st);
	CHECK_OK(vms_munmap(mm, a + 4 * PG, 2 * PG));
	CHECK(!t.probe_bad, "the frame changed before start");
	CHECK_EQ(t.pgfree_at_start, st.pgfree);
	CHECK_EQ(t.pgfree_at_end, st.pgfree + 2);

	/* MAP_FIXED over resident pages. */
	sub_reset(&t);
	t.probe = frame_of(mm, a + 7 * PG);
	t.probe_val = 0x5c;
	vms_mm_stats(mm, &st);
	CHECK_OK(vms_mmap(mm, a + 6 * PG, 2 * PG, RW, PA | VMS_MAP_FIXED, &b));
	CHECK(!t.probe_bad, "the frame changed before start");
	CHECK_EQ(t.pgfree_at_start, st.pgfree);
	CHECK_EQ(t.pgfree_at_end, st.pgfree + 2);

	vms_mmu_notifier_unregister(&t.mn);
	t_teardown(phys, mm);
}

static void test_register_unregister(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mmu_notifier bare = { 0 };
	struct tsub t, u;
	uint64_t a;

	t_setup(32, &phys, &mm);
	CHECK_EQ(vms_mmu_notifier_register(&bare, mm), -EINVAL);   /* no ops */
	sub_register(&t, mm);
	CHECK_EQ(vms_mmu_notifier_register(&t.mn, mm), -EBUSY);
	sub_register(&u, mm);

	/* Both subscribers hear the same pair. */
	a = map(mm, 4 * PG);
	touch(mm, a, 4, 2);
	CHECK_OK(vms_madvise(mm, a, PG, VMS_MADV_DONTNEED));
	CHECK_EQ(t.starts, 1);
	CHECK_EQ(u.starts, 1);

	vms_mmu_notifier_unregister(&t.mn);
	CHECK_EQ(t.releases, 1);
	CHECK(t.mn.mm == NULL, "unregister left mn.mm set");
	CHECK_EQ(u.releases, 0);
	/* Gone: no more callbacks, and a second unregister is a no-op. */
	CHECK_OK(vms_madvise(mm, a + PG, PG, VMS_MADV_DONTNEED));
	CHECK_EQ(t.starts, 1);
	CHECK_EQ(u.starts, 2);
	vms_mmu_notifier_unregister(&t.mn);
	CHECK_EQ(t.releases, 1);
	/* May register again after unregistering. */
	CHECK_OK(vms_mmu_notifier_register(&t.mn, mm));
	CHECK_OK(vms_munmap(mm, a, 4 * PG));
	CHECK_EQ(t.starts, 2);

	/* mm teardown releases both still registered, once each. */
	t_teardown(phys, mm);
	CHECK_EQ(t.releases, 2);
	CHECK_EQ(u.releases, 1);
	CHECK_EQ(t.starts, t.ends);
	CHECK_EQ(u.starts, u.ends);
	/* A later unregister does nothing (the mm is gone). */
	vms_mmu_notifier_unregister(&u.mn);
	vms_mmu_notifier_unregister(&t.mn);
	CHECK_EQ(t.releases, 2);
	CHECK_EQ(u.releases, 1);
}

static void test_cold_clear_young(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct tsub t;
	uint64_t a;
	uint8_t b;

	t_setup(32, &phys, &mm);
	sub_register(&t, mm);
	a = map(mm, 8 * PG);
	touch(mm, a, 8, 3);
	sub_reset(&t);
	t.young_base = a;
	CHECK_OK(vms_madvise(mm, a + 2 * PG, 3 * PG, VMS_MADV_COLD));
	/* Every resident page of the range aged, none outside it. */
	CHECK(t.clear_young >= 1, "COLD called no clear_young");
	CHECK(!t.bad_range, "a clear_young range was malformed");
	CHECK_EQ(t.young_mask, 0x1c);
	/* Aging is no invalidation: the pages stay mapped, data intact. */
	CHECK_EQ(t.starts, 0);
	CHECK_OK(vms_mm_read(mm, a + 3 * PG, &b, 1));
	CHECK_EQ(b, 3);
	/* Other hints do not age. */
	int calls = t.clear_young;
	CHECK_OK(vms_madvise(mm, a, PG, VMS_MADV_WILLNEED));
	CHECK_OK(vms_madvise(mm, a, PG, VMS_MADV_NORMAL));
	CHECK_EQ(t.clear_young, calls);
	vms_mmu_notifier_unregister(&t.mn);
	t_teardown(phys, mm);
}

/* ---- interval subscriptions ---- */

struct tiv {
	struct vms_interval_notifier *iv;
	struct vms_mm *mm;
	int calls;
	struct vms_mmu_range last;
	unsigned long last_seq;
	const uint8_t *probe;
	bool probe_bad;
};

static bool tiv_invalidate(struct vms_interval_notifier *iv,
			   const struct vms_mmu_range *r,
			   unsigned long cur_seq)
{
	struct tiv *t = vms_interval_priv(iv);

	t->calls++;
	t->last = *r;
	t->last_seq = cur_seq;
	/* Called before any PTE of the interval changes. */
	if (t->probe && t->probe[0] != 0x6d)
		t->probe_bad = true;
	vms_interval_set_seq(iv, cur_seq);
	return true;
}

static const struct vms_interval_notifier_ops tiv_ops = {
	.invalidate = tiv_invalidate,
};

static void test_interval(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_interval_notifier *iv;
	struct tiv t = { 0 };
	unsigned long seq, seq2;
	uint64_t a;

	t_setup(64, &phys, &mm);
	a = map(mm, 16 * PG);
	touch(mm, a, 16, 0x6d);
	CHECK_EQ(vms_interval_notifier_insert(mm, a, 0, &tiv_ops, &t, &iv),
		 -EINVAL);
	CHECK_EQ(vms_interval_notifier_insert(mm, a, PG, NULL, &t, &iv),
		 -EINVAL);
	t.mm = mm;
	CHECK_OK(vms_interval_notifier_insert(mm, a + 4 * PG, 4 * PG, &tiv_ops,
					      &t, &iv));
	t.iv = iv;
	CHECK(vms_interval_priv(iv) == &t, "priv lost");

	/* A reader's sequence, then an invalidation inside the interval. */
	seq = vms_interval_read_begin(iv);
	CHECK(!vms_interval_read_retry(iv, seq), "retry with nothing run");
	t.probe = frame_of(mm, a + 6 * PG);
	CHECK_OK(vms_madvise(mm, a + 6 * PG, 4 * PG, VMS_MADV_DONTNEED));
	CHECK_EQ(t.calls, 1);
	CHECK(!t.probe_bad, "page freed before ->invalidate");
	t.probe = NULL;
	CHECK(t.last.start <= a + 6 * PG && t.last.end >= a + 10 * PG,
	      "range [%#" PRIx64 ", %#" PRIx64 ")", t.last.start, t.last.end);
	CHECK_EQ(t.last.event, VMS_EVENT_DISCARD);
	CHECK(t.last_seq & 1, "cur_seq %lu is even", t.last_seq);
	CHECK(vms_interval_read_retry(iv, seq), "stale seq not retried");
	/* A new read section after it ended is current. */
	seq2 = vms_interval_read_begin(iv);
	CHECK(!vms_interval_read_retry(iv, seq2), "fresh seq retried");

	/* Outside the interval, on either side: no call, no retry. */
	CHECK_OK(vms_madvise(mm, a, 4 * PG, VMS_MADV_DONTNEED));
	CHECK_OK(vms_munmap(mm, a + 8 * PG, 8 * PG));
	CHECK_EQ(t.calls, 1);
	CHECK(!vms_interval_read_retry(iv, seq2), "retry after outside op");

	/* Other operations overlapping it: one call each, seq moves on. */
	CHECK_OK(vms_mprotect(mm, a + 7 * PG, PG, VMS_PROT_READ));
	CHECK_EQ(t.calls, 2);
	CHECK_EQ(t.last.event, VMS_EVENT_PROTECTION);
	CHECK(t.last_seq & 1, "cur_seq %lu is even", t.last_seq);
	CHECK(vms_interval_read_retry(iv, seq2), "mprotect did not retry");
	seq = vms_interval_read_begin(iv);
	CHECK_OK(vms_munmap(mm, a, 16 * PG));
	CHECK_EQ(t.calls, 3);
	CHECK_EQ(t.last.event, VMS_EVENT_UNMAP);
	CHECK(vms_interval_read_retry(iv, seq), "munmap did not retry");

	/* Removed: no more calls. */
	vms_interval_notifier_remove(iv);
	a = map(mm, 16 * PG);
	touch(mm, a, 16, 1);
	CHECK_OK(vms_munmap(mm, a, 16 * PG));
	CHECK_EQ(t.calls, 3);
	t_teardown(phys, mm);
}

int main(void)
{

	T_RUN(test_pairs_per_operation);
	T_RUN(test_start_before_free);
	T_RUN(test_register_unregister);
	T_RUN(test_cold_clear_young);
	T_RUN(test_interval);
	return T_DONE();
}
