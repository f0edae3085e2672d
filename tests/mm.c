/* mm.c - tests of the host address space: mmap, munmap, mremap, mprotect
 * and madvise as man 2 describes them, host access, stats, get/put page. */
#include "test.h"

#define PG VMS_PAGE_SIZE
#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define PA (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)

static uint64_t map(struct vms_mm *mm, size_t len, int prot)
{
	uint64_t hva = 0;

	CHECK_OK(vms_mmap(mm, 0, len, prot, PA, &hva));
	CHECK(hva && (hva & (PG - 1)) == 0, "bad hva %#" PRIx64, hva);
	return hva;
}

/* Byte i of page p holds a value that tells the page and the tag. */
static uint8_t pat(uint64_t page, size_t i, uint8_t tag)
{
	return (uint8_t)(page * 31 + i * 7 + tag);
}

static void fill(struct vms_mm *mm, uint64_t hva, size_t pages, uint8_t tag)
{
	static uint8_t buf[PG];

	for (size_t p = 0; p < pages; p++) {
		for (size_t i = 0; i < PG; i++)
			buf[i] = pat(p, i, tag);
		CHECK_OK(vms_mm_write(mm, hva + p * PG, buf, PG));
	}
}

/* Page p of [hva, ...) still holds what fill(tag) put at its page @first+p. */
static void expect(struct vms_mm *mm, uint64_t hva, size_t pages,
		   size_t first, uint8_t tag)
{
	static uint8_t buf[PG];

	for (size_t p = 0; p < pages; p++) {
		CHECK_OK(vms_mm_read(mm, hva + p * PG, buf, PG));
		for (size_t i = 0; i < PG; i++)
			CHECK(buf[i] == pat(first + p, i, tag),
			      "page %zu byte %zu: %#x, want %#x", p, i, buf[i],
			      pat(first + p, i, tag));
	}
}

static void expect_zero(struct vms_mm *mm, uint64_t hva, size_t pages)
{
	static uint8_t buf[PG];

	for (size_t p = 0; p < pages; p++) {
		CHECK_OK(vms_mm_read(mm, hva + p * PG, buf, PG));
		for (size_t i = 0; i < PG; i++)
			CHECK(buf[i] == 0, "page %zu byte %zu: %#x, want 0", p,
			      i, buf[i]);
	}
}

/* Page @hva holds what fill(tag) put at its page @page, or only zeroes
 * (a clean MADV_FREE page that reclaim dropped). */
static void expect_old_or_zero(struct vms_mm *mm, uint64_t hva, size_t page,
			       uint8_t tag)
{
	static uint8_t buf[PG];
	bool old = true, zero = true;

	CHECK_OK(vms_mm_read(mm, hva, buf, PG));
	for (size_t i = 0; i < PG; i++) {
		old &= buf[i] == pat(page, i, tag);
		zero &= buf[i] == 0;
	}
	CHECK(old || zero, "page %zu is neither its old data nor zeroes", page);
}

static void expect_fault(struct vms_mm *mm, uint64_t hva, size_t pages)
{
	uint8_t b;

	for (size_t p = 0; p < pages; p++) {
		CHECK_EQ(vms_mm_read(mm, hva + p * PG, &b, 1), -EFAULT);
		CHECK_EQ(vms_mm_read(mm, hva + p * PG + PG - 1, &b, 1),
			 -EFAULT);
	}
}

static void test_mmap_errors(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, b;

	t_setup(64, &phys, &mm);
	CHECK_EQ(vms_mmap(mm, 0, 0, RW, PA, &a), -EINVAL);
	CHECK_EQ(vms_mmap(mm, 0, PG, RW, VMS_MAP_ANONYMOUS, &a), -EINVAL);
	CHECK_EQ(vms_mmap(mm, 0, PG, RW, PA | VMS_MAP_SHARED, &a),
		 -EOPNOTSUPP);
	a = map(mm, 4 * PG, RW);
	CHECK_EQ(vms_mmap(mm, a + 1, PG, RW, PA | VMS_MAP_FIXED, &b), -EINVAL);
	CHECK_EQ(vms_mmap(mm, a + 100, PG, RW, PA | VMS_MAP_FIXED_NOREPLACE,
			  &b),
		 -EINVAL);
	/* NOREPLACE over any part of a mapping, even one page of it. */
	CHECK_EQ(vms_mmap(mm, a, PG, RW, PA | VMS_MAP_FIXED_NOREPLACE, &b),
		 -EEXIST);
	CHECK_EQ(vms_mmap(mm, a + 3 * PG, 2 * PG, RW,
			  PA | VMS_MAP_FIXED_NOREPLACE, &b),
		 -EEXIST);
	/* ... and the mapping refused is still all there. */
	fill(mm, a, 4, 1);
	expect(mm, a, 4, 0, 1);
	/* Next to it, NOREPLACE is fine and lands where asked. */
	CHECK_OK(vms_mmap(mm, a + 4 * PG, PG, RW,
			  PA | VMS_MAP_FIXED_NOREPLACE, &b));
	CHECK_EQ(b, a + 4 * PG);
	t_teardown(phys, mm);
}

static void test_mmap_fresh_and_fixed(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, b, c;

	t_setup(64, &phys, &mm);
	a = map(mm, 8 * PG, RW);
	b = map(mm, 8 * PG, RW);
	/* Two mappings never overlap. */
	CHECK(b >= a + 8 * PG || a >= b + 8 * PG, "a %#" PRIx64 " b %#" PRIx64,
	      a, b);
	expect_zero(mm, a, 8);
	fill(mm, a, 8, 2);
	/* FIXED over the middle: old contents there are gone (zeroes),
	 * the pages around keep theirs. */
	CHECK_OK(vms_mmap(mm, a + 2 * PG, 3 * PG, RW, PA | VMS_MAP_FIXED, &c));
	CHECK_EQ(c, a + 2 * PG);
	expect(mm, a, 2, 0, 2);
	expect_zero(mm, a + 2 * PG, 3);
	expect(mm, a + 5 * PG, 3, 5, 2);
	/* A FIXED mapping with other rights replaces them too. */
	CHECK_OK(vms_mmap(mm, a, PG, VMS_PROT_READ, PA | VMS_MAP_FIXED, &c));
	uint8_t z = 1;
	CHECK_EQ(vms_mm_write(mm, a, &z, 1), -EACCES);
	CHECK_OK(vms_mm_read(mm, a, &z, 1));
	CHECK_EQ(z, 0);
	/* A hint of a free place is taken. */
	CHECK_OK(vms_munmap(mm, b, 8 * PG));
	CHECK_OK(vms_mmap(mm, b + PG, PG, RW, PA, &c));
	CHECK_EQ(c, b + PG);
	t_teardown(phys, mm);
}

static void test_read_write(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, seed = 7;
	static uint8_t in[3 * PG + 100], out[3 * PG + 100];

	t_setup(64, &phys, &mm);
	a = map(mm, 8 * PG, RW);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)t_rand(&seed);
	/* Unaligned start and length, across four pages. */
	CHECK_OK(vms_mm_write(mm, a + PG - 37, in, sizeof(in)));
	CHECK_OK(vms_mm_read(mm, a + PG - 37, out, sizeof(out)));
	CHECK(memcmp(in, out, sizeof(in)) == 0, "round trip differs");
	/* Byte before and after the write stay zero. */
	CHECK_OK(vms_mm_read(mm, a + PG - 38, out, 1));
	CHECK_EQ(out[0], 0);
	CHECK_OK(vms_mm_read(mm, a + PG - 37 + sizeof(in), out, 1));
	CHECK_EQ(out[0], 0);
	/* Shifted read sees the same bytes. */
	CHECK_OK(vms_mm_read(mm, a + 2 * PG, out, 10));
	CHECK(memcmp(out, in + PG + 37, 10) == 0, "shifted read differs");

	/* Unmapped hvas. */
	CHECK_EQ(vms_mm_read(mm, a + 8 * PG, out, 1), -EFAULT);
	CHECK_EQ(vms_mm_write(mm, a + 8 * PG, in, 1), -EFAULT);
	/* A copy running into the hole fails. */
	CHECK_EQ(vms_mm_read(mm, a + 8 * PG - 2, out, 4), -EFAULT);
	t_teardown(phys, mm);
}

static void test_protections(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t r, n, w;
	uint8_t b = 0x33;

	t_setup(64, &phys, &mm);
	r = map(mm, PG, VMS_PROT_READ);
	n = map(mm, PG, VMS_PROT_NONE);
	CHECK_EQ(vms_mm_write(mm, r, &b, 1), -EACCES);
	CHECK_OK(vms_mm_read(mm, r, &b, 1));
	CHECK_EQ(b, 0);
	CHECK_EQ(vms_mm_read(mm, n, &b, 1), -EACCES);
	CHECK_EQ(vms_mm_write(mm, n, &b, 1), -EACCES);
	/* Data survives a trip through PROT_NONE. */
	w = map(mm, 2 * PG, RW);
	fill(mm, w, 2, 3);
	CHECK_OK(vms_mprotect(mm, w, 2 * PG, VMS_PROT_NONE));
	CHECK_EQ(vms_mm_read(mm, w + PG, &b, 1), -EACCES);
	CHECK_OK(vms_mprotect(mm, w, 2 * PG, VMS_PROT_READ));
	expect(mm, w, 2, 0, 3);
	CHECK_EQ(vms_mm_write(mm, w, &b, 1), -EACCES);
	CHECK_OK(vms_mprotect(mm, w + PG, PG, RW));
	/* Only the second page became writable. */
	CHECK_EQ(vms_mm_write(mm, w, &b, 1), -EACCES);
	CHECK_OK(vms_mm_write(mm, w + PG, &b, 1));
	/* Bad prot bits. */
	CHECK_EQ(vms_mprotect(mm, w, PG, 0x80), -EINVAL);
	CHECK_EQ(vms_mprotect(mm, w + 1, PG, RW), -EINVAL);
	t_teardown(phys, mm);
}

static void test_munmap(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats st;
	uint64_t a, b;

	t_setup(64, &phys, &mm);
	a = map(mm, 8 * PG, RW);
	fill(mm, a, 8, 4);
	CHECK_EQ(vms_munmap(mm, a + 1, PG), -EINVAL);
	CHECK_EQ(vms_munmap(mm, a, 0), -EINVAL);
	/* Outside the address space (64 GiB by default). */
	CHECK_EQ(vms_munmap(mm, 1ull << 60, PG), -EINVAL);
	expect(mm, a, 8, 0, 4);
	/* A hole is no error (and touches nothing). */
	b = map(mm, PG, RW);
	CHECK_OK(vms_munmap(mm, b, PG));
	CHECK_OK(vms_munmap(mm, b, PG));
	expect(mm, a, 8, 0, 4);
	/* The middle: both sides stay with their data. */
	CHECK_OK(vms_munmap(mm, a + 3 * PG, 2 * PG));
	expect(mm, a, 3, 0, 4);
	expect_fault(mm, a + 3 * PG, 2);
	expect(mm, a + 5 * PG, 3, 5, 4);
	vms_mm_stats(mm, &st);
	CHECK_EQ(st.resident, 6);
	/* An unaligned length covers the last page entirely. */
	CHECK_OK(vms_munmap(mm, a + 5 * PG, PG + 1));
	expect_fault(mm, a + 5 * PG, 2);
	expect(mm, a + 7 * PG, 1, 7, 4);
	/* A range over mappings and holes. */
	CHECK_OK(vms_munmap(mm, a, 8 * PG));
	expect_fault(mm, a, 8);
	vms_mm_stats(mm, &st);
	CHECK_EQ(st.resident, 0);
	t_teardown(phys, mm);
}

static void test_mprotect_enomem(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a;
	uint8_t b = 9;

	t_setup(64, &phys, &mm);
	a = map(mm, 4 * PG, RW);
	fill(mm, a, 4, 5);
	CHECK_OK(vms_munmap(mm, a + 2 * PG, PG));
	/* Part of the range unmapped: -ENOMEM, and no page changed rights. */
	CHECK_EQ(vms_mprotect(mm, a, 4 * PG, VMS_PROT_READ), -ENOMEM);
	CHECK_OK(vms_mm_write(mm, a, &b, 1));
	CHECK_OK(vms_mm_write(mm, a + PG, &b, 1));
	CHECK_OK(vms_mm_write(mm, a + 3 * PG, &b, 1));
	/* Nor was the hole mapped by it. */
	expect_fault(mm, a + 2 * PG, 1);
	/* Entirely outside any mapping. */
	CHECK_EQ(vms_mprotect(mm, a + 2 * PG, PG, VMS_PROT_READ), -ENOMEM);
	t_teardown(phys, mm);
}

static void test_mremap(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, b, c, n;

	t_setup(128, &phys, &mm);
	/* Shrink: the tail goes, the head keeps its data. */
	a = map(mm, 8 * PG, RW);
	fill(mm, a, 8, 6);
	CHECK_OK(vms_mremap(mm, a, 8 * PG, 5 * PG, 0, 0, &n));
	CHECK_EQ(n, a);
	expect(mm, a, 5, 0, 6);
	expect_fault(mm, a + 5 * PG, 3);

	/* Grow in place: the old pages keep data, the new ones read 0. */
	CHECK_OK(vms_mremap(mm, a, 5 * PG, 7 * PG, 0, 0, &n));
	CHECK_EQ(n, a);
	expect(mm, a, 5, 0, 6);
	expect_zero(mm, a + 5 * PG, 2);

	/* Blocked by a mapping right after: no MAYMOVE -> -ENOMEM, with
	 * nothing changed. */
	CHECK_OK(vms_mmap(mm, a + 7 * PG, PG, RW, PA | VMS_MAP_FIXED, &b));
	fill(mm, b, 1, 7);
	CHECK_EQ(vms_mremap(mm, a, 7 * PG, 9 * PG, 0, 0, &n), -ENOMEM);
	expect(mm, a, 5, 0, 6);
	expect(mm, b, 1, 0, 7);

	/* MAYMOVE: moves with the contents; the old range is gone. */
	CHECK_OK(vms_mremap(mm, a, 7 * PG, 9 * PG, VMS_MREMAP_MAYMOVE, 0, &n));
	CHECK(n != a, "a blocked grow did not move");
	expect(mm, n, 5, 0, 6);
	expect_zero(mm, n + 5 * PG, 4);
	expect_fault(mm, a, 7);
	expect(mm, b, 1, 0, 7);         /* the neighbour is untouched */

	/* FIXED needs MAYMOVE. */
	c = map(mm, 4 * PG, RW);
	CHECK_OK(vms_munmap(mm, c, 4 * PG));
	CHECK_EQ(vms_mremap(mm, n, PG, PG, VMS_MREMAP_FIXED, c, &a), -EINVAL);
	expect(mm, n, 1, 0, 6);
	/* FIXED|MAYMOVE to a chosen place, shrinking on the way. */
	CHECK_OK(vms_mremap(mm, n, 9 * PG, 3 * PG,
			    VMS_MREMAP_FIXED | VMS_MREMAP_MAYMOVE, c, &a));
	CHECK_EQ(a, c);
	expect(mm, c, 3, 0, 6);
	expect_fault(mm, n, 9);
	expect_fault(mm, c + 3 * PG, 1);

	/* The old range must lie in one mapping: two adjacent mappings
	 * (rights differ, so they do not merge) or one running into a
	 * hole give -EFAULT. */
	CHECK_OK(vms_mmap(mm, c + 3 * PG, 2 * PG, VMS_PROT_READ,
			  PA | VMS_MAP_FIXED, &b));
	CHECK_EQ(vms_mremap(mm, c, 5 * PG, 6 * PG, VMS_MREMAP_MAYMOVE, 0, &n),
		 -EFAULT);
	CHECK_EQ(vms_mremap(mm, c + 2 * PG, 2 * PG, PG, 0, 0, &n), -EFAULT);
	CHECK_OK(vms_munmap(mm, c + 3 * PG, 2 * PG));
	CHECK_EQ(vms_mremap(mm, c, 4 * PG, 4 * PG, VMS_MREMAP_MAYMOVE, 0, &n),
		 -EFAULT);
	expect(mm, c, 3, 0, 6);

	/* Move a middle piece: the mapping is split around it. */
	CHECK_OK(vms_mremap(mm, c + PG, PG, 2 * PG, VMS_MREMAP_MAYMOVE, 0, &n));
	expect(mm, c, 1, 0, 6);
	expect_fault(mm, c + PG, 1);
	expect(mm, c + 2 * PG, 1, 2, 6);
	expect(mm, n, 1, 1, 6);
	expect_zero(mm, n + PG, 1);

	/* FIXED onto another mapping replaces it, and onto the same mapping
	 * outside the old range too. */
	b = map(mm, 4 * PG, RW);
	fill(mm, b, 4, 12);
	c = map(mm, 2 * PG, RW);
	fill(mm, c, 2, 13);
	CHECK_OK(vms_mremap(mm, c, 2 * PG, 2 * PG,
			    VMS_MREMAP_FIXED | VMS_MREMAP_MAYMOVE, b + PG, &n));
	CHECK_EQ(n, b + PG);
	expect(mm, b, 1, 0, 12);
	expect(mm, b + PG, 2, 0, 13);
	expect(mm, b + 3 * PG, 1, 3, 12);
	expect_fault(mm, c, 2);
	CHECK_OK(vms_mremap(mm, b, PG, PG,
			    VMS_MREMAP_FIXED | VMS_MREMAP_MAYMOVE, b + 3 * PG,
			    &n));
	expect_fault(mm, b, 1);
	expect(mm, b + PG, 2, 0, 13);
	expect(mm, b + 3 * PG, 1, 0, 12);
	/* FIXED onto the old range itself is refused. */
	CHECK_EQ(vms_mremap(mm, b + PG, 2 * PG, 2 * PG,
			    VMS_MREMAP_FIXED | VMS_MREMAP_MAYMOVE, b + 2 * PG,
			    &n),
		 -EINVAL);
	expect(mm, b + PG, 2, 0, 13);
	t_teardown(phys, mm);
}

static void test_madvise_errors(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a;

	t_setup(64, &phys, &mm);
	a = map(mm, 4 * PG, RW);
	fill(mm, a, 4, 8);
	CHECK_EQ(vms_madvise(mm, a, PG, 5), -EINVAL);   /* not an advice */
	CHECK_EQ(vms_madvise(mm, a, PG, 1234), -EINVAL);
	CHECK_EQ(vms_madvise(mm, a, PG, -1), -EINVAL);
	CHECK_EQ(vms_madvise(mm, a + 1, PG, VMS_MADV_DONTNEED), -EINVAL);
	/* The refused DONTNEED dropped nothing. */
	expect(mm, a, 4, 0, 8);
	/* A range with a hole: -ENOMEM, but the mapped parts are advised. */
	CHECK_OK(vms_munmap(mm, a + PG, PG));
	CHECK_EQ(vms_madvise(mm, a, 4 * PG, VMS_MADV_DONTNEED), -ENOMEM);
	expect_zero(mm, a, 1);
	expect_zero(mm, a + 2 * PG, 2);
	expect_fault(mm, a + PG, 1);
	/* Wholly unmapped. */
	CHECK_EQ(vms_madvise(mm, a + PG, PG, VMS_MADV_DONTNEED), -ENOMEM);
	t_teardown(phys, mm);
}

static void test_madvise_effects(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_page *pg;
	uint64_t a;
	uint8_t b = 0x99;

	t_setup(64, &phys, &mm);
	a = map(mm, 8 * PG, RW);
	fill(mm, a, 8, 9);

	/* Hints that keep data. */
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_COLD));
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_WILLNEED));
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_PAGEOUT));
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_NORMAL));
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_RANDOM));
	CHECK_OK(vms_madvise(mm, a, 8 * PG, VMS_MADV_SEQUENTIAL));
	expect(mm, a, 8, 0, 9);

	/* DONTNEED zeroes exactly the range, rounding the length up. */
	CHECK_OK(vms_madvise(mm, a + 2 * PG, PG + 1, VMS_MADV_DONTNEED));
	expect(mm, a, 2, 0, 9);
	expect_zero(mm, a + 2 * PG, 2);
	expect(mm, a + 4 * PG, 4, 4, 9);

	/* FREE: contents stay (no reclaim here), the page becomes clean. */
	CHECK_OK(vms_get_page(mm, a + 5 * PG, false, &pg));
	CHECK(vms_page_dirty(pg), "a written page is dirty");
	vms_put_page(pg);
	CHECK_OK(vms_madvise(mm, a + 4 * PG, 4 * PG, VMS_MADV_FREE));
	expect(mm, a + 4 * PG, 4, 4, 9);
	CHECK_OK(vms_get_page(mm, a + 5 * PG, false, &pg));
	CHECK(!vms_page_dirty(pg), "FREE left the page dirty");
	vms_put_page(pg);
	/* Pages before the advised range keep their dirty bit. */
	CHECK_OK(vms_get_page(mm, a + PG, false, &pg));
	CHECK(vms_page_dirty(pg), "FREE cleaned a page outside its range");
	vms_put_page(pg);
	/* A write after FREE makes the page dirty again. */
	CHECK_OK(vms_mm_write(mm, a + 5 * PG + 9, &b, 1));
	CHECK_OK(vms_get_page(mm, a + 5 * PG, false, &pg));
	CHECK(vms_page_dirty(pg), "a write after FREE left the page clean");
	CHECK_EQ(((uint8_t *)vms_page_address(pg))[9], 0x99);
	vms_put_page(pg);
	/* So does a write through get_page(write). */
	CHECK_OK(vms_get_page(mm, a + 6 * PG, true, &pg));
	CHECK(vms_page_dirty(pg), "get_page(write) after FREE: clean");
	vms_put_page(pg);
	/* Its neighbours, only read, stay clean. */
	CHECK_OK(vms_get_page(mm, a + 7 * PG, false, &pg));
	CHECK(!vms_page_dirty(pg), "a read made the page dirty");
	vms_put_page(pg);

	/* Reclaim now: the pages written after FREE survive it; the clean
	 * ones hold either their old data or zeroes, nothing else. */
	CHECK_OK(vms_madvise(mm, a + 4 * PG, 4 * PG, VMS_MADV_PAGEOUT));
	expect_old_or_zero(mm, a + 4 * PG, 4, 9);
	expect_old_or_zero(mm, a + 7 * PG, 7, 9);
	CHECK_OK(vms_mm_read(mm, a + 5 * PG + 9, &b, 1));
	CHECK_EQ(b, 0x99);
	CHECK_OK(vms_mm_read(mm, a + 5 * PG + 10, &b, 1));
	CHECK_EQ(b, pat(5, 10, 9));
	expect(mm, a + 6 * PG, 1, 6, 9);
	expect(mm, a, 2, 0, 9);
	t_teardown(phys, mm);
}

static void test_stats(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats s0, s1;
	uint64_t a;
	uint8_t b;

	t_setup(64, &phys, &mm);
	a = map(mm, 10 * PG, RW);
	vms_mm_stats(mm, &s0);
	CHECK_EQ(s0.resident, 0);
	/* Reads fault pages in as much as writes do. */
	fill(mm, a, 3, 1);
	CHECK_OK(vms_mm_read(mm, a + 5 * PG, &b, 1));
	vms_mm_stats(mm, &s1);
	CHECK_EQ(s1.resident, 4);
	CHECK_EQ(s1.pgfault - s0.pgfault, 4);
	/* Touching them again faults nothing new. */
	fill(mm, a, 3, 2);
	vms_mm_stats(mm, &s0);
	CHECK_EQ(s0.pgfault, s1.pgfault);
	CHECK_EQ(s0.resident, 4);
	CHECK_OK(vms_madvise(mm, a, 2 * PG, VMS_MADV_DONTNEED));
	vms_mm_stats(mm, &s1);
	CHECK_EQ(s1.resident, 2);
	CHECK_EQ(s1.pgfree - s0.pgfree, 2);
	CHECK_OK(vms_munmap(mm, a, 10 * PG));
	vms_mm_stats(mm, &s0);
	CHECK_EQ(s0.resident, 0);
	CHECK_EQ(s0.pgfree - s1.pgfree, 2);
	CHECK_EQ(s0.invalidate_start, s0.invalidate_end);
	t_teardown(phys, mm);
}

static void test_get_page_keeps_frame(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_node_info ni;
	struct vms_page *pg;
	uint64_t a;

	t_setup(16, &phys, &mm);
	a = map(mm, 2 * PG, RW);
	fill(mm, a, 1, 10);
	CHECK_OK(vms_get_page(mm, a + 123, false, &pg));
	const uint8_t *frame = vms_page_address(pg);
	CHECK_OK(vms_madvise(mm, a, PG, VMS_MADV_DONTNEED));
	/* Not mapped any more, but not freed: the bytes are still ours. */
	for (size_t i = 0; i < PG; i++)
		CHECK(frame[i] == pat(0, i, 10), "byte %zu changed", i);
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.free, 15);
	/* The hva gets a fresh zero page meanwhile, not the held one. */
	expect_zero(mm, a, 1);
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.free, 14);
	for (size_t i = 0; i < PG; i++)
		CHECK(frame[i] == pat(0, i, 10), "byte %zu reused", i);
	/* Same through munmap. */
	struct vms_page *pg2;
	fill(mm, a + PG, 1, 11);
	CHECK_OK(vms_get_page(mm, a + PG, true, &pg2));
	CHECK_OK(vms_munmap(mm, a + PG, PG));
	CHECK_EQ(((uint8_t *)vms_page_address(pg2))[77], pat(0, 77, 11));
	vms_put_page(pg2);
	vms_put_page(pg);
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.free, 15);          /* both held frames are back */
	expect_zero(mm, a, 1);
	t_teardown(phys, mm);
}

/* A FIXED target must lie in the address space, also when new_addr +
 * new_len wraps around: -EINVAL, and the old mapping stays. */
static void test_mremap_fixed_bounds(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t a, n;
	const int mv = VMS_MREMAP_FIXED | VMS_MREMAP_MAYMOVE;

	t_setup(16, &phys, &mm);
	a = map(mm, PG, RW);
	fill(mm, a, 1, 14);
	CHECK_EQ(vms_mremap(mm, a, PG, PG, mv, 1ull << 60, &n), -EINVAL);
	CHECK_EQ(vms_mremap(mm, a, PG, PG, mv, 0, &n), -EINVAL);
	CHECK_EQ(vms_mremap(mm, a, PG, 2 * PG, mv, -(uint64_t)PG, &n),
		 -EINVAL);
	CHECK_EQ(vms_mremap(mm, a, PG, PG, mv, -(uint64_t)PG, &n), -EINVAL);
	expect(mm, a, 1, 0, 14);
	t_teardown(phys, mm);
}

int main(void)
{

	T_RUN(test_mmap_errors);
	T_RUN(test_mmap_fresh_and_fixed);
	T_RUN(test_read_write);
	T_RUN(test_protections);
	T_RUN(test_munmap);
	T_RUN(test_mprotect_enomem);
	T_RUN(test_mremap);
	T_RUN(test_madvise_errors);
	T_RUN(test_madvise_effects);
	T_RUN(test_stats);
	T_RUN(test_get_page_keeps_frame);
	T_RUN(test_mremap_fixed_bounds);
	return T_DONE();
}
