/* swap.c - swap: the file backend on both I/O engines, swap-out and
 * swap-in through the mm, PAGEOUT / WILLNEED, clean drops, a full swap
 * area, injected write and read failures, and drop_caches racing swap-in
 * read-ahead under pressure. */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define RW (VMS_PROT_READ | VMS_PROT_WRITE)
#define ANON (VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS)

static uint64_t word(uint64_t hva, uint64_t salt)
{
	return hva * 0x9e3779b97f4a7c15ull ^ salt;
}

static void fill(struct vms_mm *mm, uint64_t hva, uint64_t pages, uint64_t salt)
{
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t a = hva + i * VMS_PAGE_SIZE, v = word(a, salt);

		CHECK_OK(vms_mm_write(mm, a, &v, sizeof(v)));
		CHECK_OK(vms_mm_write(mm, a + VMS_PAGE_SIZE - 8, &v, sizeof(v)));
	}
}

static void verify(struct vms_mm *mm, uint64_t hva, uint64_t pages,
		   uint64_t salt)
{
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t a = hva + i * VMS_PAGE_SIZE, v[2];

		CHECK_OK(vms_mm_read(mm, a, &v[0], 8));
		CHECK_OK(vms_mm_read(mm, a + VMS_PAGE_SIZE - 8, &v[1], 8));
		CHECK(v[0] == word(a, salt) && v[1] == word(a, salt),
		      "page %" PRIu64 ": %#" PRIx64 " %#" PRIx64, i, v[0], v[1]);
	}
}

/* A backend around the file one that fails on request. */
struct faulty {
	struct vms_swap_backend be;
	struct vms_swap_backend *file;
	atomic_int fail_write, fail_read;     /* the -errno to fail with */
};

static int faulty_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		     size_t n)
{
	struct faulty *f = (struct faulty *)be;
	int r = f->file->rw(f->file, io, n);

	for (size_t i = 0; i < n; i++) {
		int e = io[i].write ? atomic_load(&f->fail_write)
				    : atomic_load(&f->fail_read);
		if (e)
			io[i].res = e;
	}
	return r;
}

static void faulty_release(struct vms_swap_backend *be)
{
	struct faulty *f = (struct faulty *)be;

	f->file->release(f->file);
	free(f);
}

static struct faulty *faulty_create(uint64_t slots)
{
	struct faulty *f = calloc(1, sizeof(*f));

	CHECK(f, "out of memory");
	CHECK_OK(vms_swap_file_create(NULL, slots * VMS_PAGE_SIZE, true, &f->file));
	f->be = (struct vms_swap_backend){ .rw = faulty_rw,
					   .release = faulty_release,
					   .nr_slots = slots, .name = "faulty" };
	return f;
}

static void setup(uint64_t frames, struct vms_swap_backend *be,
		  struct vms_phys **phys, struct vms_mm **mm)
{
	t_setup(frames, phys, mm);
	CHECK_OK(vms_swap_on(*phys, be, 0, 0));
}

static void test_file_backend(void)
{
	for (int uring = 0; uring < 2; uring++) {
		struct vms_swap_backend *be;
		static _Alignas(4096) uint8_t buf[10][VMS_PAGE_SIZE];
		static _Alignas(4096) uint8_t back[10][VMS_PAGE_SIZE];
		struct vms_swap_io io[10];

		CHECK_OK(vms_swap_file_create(NULL, 64 * VMS_PAGE_SIZE, uring, &be));
		CHECK_EQ(be->nr_slots, 64);
		printf("    engine: %s\n", vms_swap_file_engine(be));
		if (!uring)
			CHECK(!strncmp(vms_swap_file_engine(be), "pread/pwrite", 12),
			      "%s", vms_swap_file_engine(be));
		for (int i = 0; i < 10; i++) {
			memset(buf[i], 'a' + i, VMS_PAGE_SIZE);
			io[i] = (struct vms_swap_io){ .write = true,
						      .slot = 5 * (uint64_t)i + 1,
						      .buf = buf[i] };
		}
		CHECK_OK(be->rw(be, io, 10));
		for (int i = 0; i < 10; i++) {
			CHECK_EQ(io[i].res, 0);
			io[i].write = false;
			io[i].buf = back[i];
		}
		CHECK_OK(be->rw(be, io, 10));
		for (int i = 0; i < 10; i++)
			CHECK(io[i].res == 0 && !memcmp(buf[i], back[i], VMS_PAGE_SIZE),
			      "slot %d read back wrong", i);
		io[0].slot = 64;
		CHECK_EQ(be->rw(be, io, 1), -EINVAL);
		be->release(be);
	}
	struct vms_swap_backend *be;
	CHECK_EQ(vms_swap_file_create(NULL, VMS_PAGE_SIZE, true, &be), -EINVAL);
	CHECK_EQ(vms_swap_file_create("/nonexistent-dir/x", 1 << 20, true, &be),
		 -ENOENT);
}

/* Guest RAM four times the frames, written and read back whole. */
static void test_overcommit(void)
{
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_phys_stats vs;
	uint64_t hva;

	CHECK_OK(vms_swap_file_create(NULL, 2048 * VMS_PAGE_SIZE, true, &be));
	setup(256, be, &phys, &mm);
	CHECK_EQ(vms_swap_on(phys, be, 0, 0), -EBUSY);
	CHECK_OK(vms_mmap(mm, 0, 1024 * VMS_PAGE_SIZE, RW, ANON, &hva));
	fill(mm, hva, 1024, 1);
	verify(mm, hva, 1024, 1);
	vms_phys_stats(phys, &vs);
	CHECK(vs.pswpout >= 768 && vs.pswpin > 0 && vs.pgmajfault > 0,
	      "out %" PRIu64 " in %" PRIu64, vs.pswpout, vs.pswpin);
	struct vms_mm_stats ms;
	vms_mm_stats(mm, &ms);
	CHECK(ms.resident <= 256, "resident %" PRIu64, ms.resident);
	CHECK_OK(vms_munmap(mm, hva, 1024 * VMS_PAGE_SIZE));
	/* Copies the reclaimer had locked at the munmap go with a sweep. */
	vms_phys_drop_caches(phys);
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.swap_used, 0);
	t_teardown(phys, mm);
}

static void test_pageout_willneed(void)
{
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_phys_stats a, b;
	struct vms_mm_stats ms;
	uint64_t hva;

	CHECK_OK(vms_swap_file_create(NULL, 1024 * VMS_PAGE_SIZE, false, &be));
	setup(1024, be, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 128 * VMS_PAGE_SIZE, RW, ANON, &hva));
	fill(mm, hva, 128, 2);

	vms_phys_stats(phys, &a);
	CHECK_OK(vms_madvise(mm, hva, 128 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_phys_stats(phys, &b);
	vms_mm_stats(mm, &ms);
	CHECK_EQ(ms.resident, 0);
	CHECK_EQ(b.pswpout - a.pswpout, 128);
	CHECK_EQ(b.swap_used, 128);

	/* WILLNEED reads them into the swap cache; the accesses then find
	 * them there, without I/O. */
	CHECK_OK(vms_madvise(mm, hva, 128 * VMS_PAGE_SIZE, VMS_MADV_WILLNEED));
	vms_phys_stats(phys, &a);
	CHECK_EQ(a.pswpin - b.pswpin, 128);
	verify(mm, hva, 128, 2);
	vms_phys_stats(phys, &b);
	CHECK_EQ(b.pswpin, a.pswpin);
	CHECK(b.swapcache_hit - a.swapcache_hit >= 128, "hits %" PRIu64,
	      b.swapcache_hit - a.swapcache_hit);
	CHECK_EQ(b.refault, b.pgmajfault + b.swapcache_hit);

	/* Read back and unchanged, each has a valid copy: a second PAGEOUT
	 * drops them without writing.  A sweep of the swap cache (kswapd
	 * makes one every 10 ms) keeps the copies of mapped pages. */
	vms_phys_drop_caches(phys);
	CHECK_EQ(b.swap_used, 128);
	CHECK_OK(vms_madvise(mm, hva, 128 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_phys_stats(phys, &a);
	CHECK_EQ(a.pswpout, b.pswpout);
	CHECK_EQ(a.clean_drop - b.clean_drop, 128);
	verify(mm, hva, 128, 2);

	/* A page held by get_page is in use: PAGEOUT leaves it. */
	struct vms_page *held;
	CHECK_OK(vms_get_page(mm, hva, false, &held));
	CHECK_OK(vms_madvise(mm, hva, VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_mm_stats(mm, &ms);
	uint64_t before = ms.resident;
	CHECK(before >= 1, "resident %" PRIu64, before);
	vms_put_page(held);
	CHECK_OK(vms_madvise(mm, hva, VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_mm_stats(mm, &ms);
	CHECK_EQ(ms.resident, before - 1);
	t_teardown(phys, mm);
}

/* A small swap area fills: the rest stays resident, nothing is lost. */
static void test_swap_full(void)
{
	struct vms_swap_backend *be;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats ms;
	struct vms_phys_stats vs;
	uint64_t hva;

	CHECK_OK(vms_swap_file_create(NULL, 9 * VMS_PAGE_SIZE, true, &be));
	setup(256, be, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 64 * VMS_PAGE_SIZE, RW, ANON, &hva));
	fill(mm, hva, 64, 3);
	CHECK_OK(vms_madvise(mm, hva, 64 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_mm_stats(mm, &ms);
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.swap_used, 8);        /* slot 0 is never used */
	CHECK_EQ(ms.resident, 64 - 8);
	verify(mm, hva, 64, 3);
	t_teardown(phys, mm);
}

static void test_io_errors(void)
{
	struct faulty *f = faulty_create(512);
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_mm_stats ms;
	struct vms_phys_stats vs;
	uint64_t hva, v;

	setup(256, &f->be, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 64 * VMS_PAGE_SIZE, RW, ANON, &hva));
	fill(mm, hva, 64, 4);

	/* Writes fail: the pages stay, dirty and intact. */
	atomic_store(&f->fail_write, -ENOSPC);
	CHECK_OK(vms_madvise(mm, hva, 64 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_mm_stats(mm, &ms);
	vms_phys_stats(phys, &vs);
	CHECK_EQ(ms.resident, 64);
	CHECK(vs.swap_write_errors >= 1, "no write error counted");
	CHECK_EQ(vs.swap_used, 0);
	verify(mm, hva, 64, 4);
	atomic_store(&f->fail_write, 0);

	/* Reads fail: the access gets -EIO, never zeroes, and works once
	 * the backend does. */
	CHECK_OK(vms_madvise(mm, hva, 64 * VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	vms_mm_stats(mm, &ms);
	CHECK_EQ(ms.resident, 0);
	atomic_store(&f->fail_read, -EIO);
	CHECK_EQ(vms_mm_read(mm, hva, &v, sizeof(v)), -EIO);
	CHECK_EQ(vms_madvise(mm, hva, 64 * VMS_PAGE_SIZE, VMS_MADV_WILLNEED),
		 -EIO);
	vms_phys_stats(phys, &vs);
	CHECK(vs.swap_read_errors >= 2, "read errors %" PRIu64,
	      vs.swap_read_errors);
	atomic_store(&f->fail_read, 0);
	verify(mm, hva, 64, 4);
	t_teardown(phys, mm);
}

/* A vCPU that reads one gpa and reports the exit. */
static int guest_read_exit(struct vms_vcpu *vcpu, void *arg)
{
	uint64_t v;
	int r = vms_guest_read64(vcpu, 0, &v);

	*(uint64_t *)arg = v;
	return r ? (int)vms_vcpu_exit(vcpu)->reason : 0;
}

static void test_guest_io_error(void)
{
	struct faulty *f = faulty_create(64);
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vcpu *vcpu;
	uint64_t hva, v = 0x1234, got;
	int ret;

	setup(64, &f->be, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, VMS_PAGE_SIZE, RW, ANON, &hva));
	CHECK_OK(vms_mm_write(mm, hva, &v, sizeof(v)));
	CHECK_OK(vms_madvise(mm, hva, VMS_PAGE_SIZE, VMS_MADV_PAGEOUT));
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	CHECK_OK(t_memslot(vm, 0, 0, 1, hva, 0));
	atomic_store(&f->fail_read, -EIO);
	CHECK_OK(vms_vcpu_start(vm, guest_read_exit, &got, &vcpu));
	CHECK_OK(vms_vcpu_join(vcpu, &ret));
	CHECK_EQ(ret, VMS_EXIT_IO);
	atomic_store(&f->fail_read, 0);
	CHECK_OK(vms_vcpu_start(vm, guest_read_exit, &got, &vcpu));
	CHECK_OK(vms_vcpu_join(vcpu, &ret));
	CHECK_EQ(ret, 0);
	CHECK_EQ(got, 0x1234);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

/*
 * drop_caches against read-ahead under pressure, with discards.  A fault
 * holds its read-ahead pages locked while it reads them; a DONTNEED then
 * orphans them in the swap cache, and drop_caches waits for their locks.
 * The fault must not wait, meanwhile, for what drop_caches holds (it once
 * entered direct reclaim for its next read-ahead frame).  Contents: each
 * page reads as the last pass's pattern, or zero once discarded.
 */
#define DC_PAGES 512
#define DC_PASSES 200

struct dc_ctx {
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t hva;
	atomic_uint_fast64_t at;        /* the faulter's page */
	atomic_int done;
};

static void *dc_faulter(void *arg)
{
	struct dc_ctx *c = arg;

	for (uint64_t pass = 1; pass <= DC_PASSES; pass++) {
		fill(c->mm, c->hva, DC_PAGES, pass);
		for (uint64_t i = 0; i < DC_PAGES; i++) {
			uint64_t a = c->hva + i * VMS_PAGE_SIZE, v;

			atomic_store(&c->at, i);
			CHECK_OK(vms_mm_read(c->mm, a, &v, sizeof(v)));
			CHECK(v == word(a, pass) || v == 0,
			      "pass %" PRIu64 " page %" PRIu64 ": %#" PRIx64,
			      pass, i, v);
		}
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void *dc_discarder(void *arg)
{
	struct dc_ctx *c = arg;
	uint64_t seed = 7;

	/* Just ahead of the faulter: the pages it reads ahead. */
	while (!atomic_load(&c->done)) {
		uint64_t at = (atomic_load(&c->at) + 1 + t_rand(&seed) % 16) %
			      (DC_PAGES - 8);

		CHECK_OK(vms_madvise(c->mm, c->hva + at * VMS_PAGE_SIZE,
				     8 * VMS_PAGE_SIZE, VMS_MADV_DONTNEED));
	}
	return NULL;
}

static void test_drop_caches_vs_readahead(void)
{
	struct vms_swap_backend *be;
	struct dc_ctx c = { 0 };
	pthread_t f, d;

	CHECK_OK(vms_swap_file_create(NULL, 2 * DC_PAGES * VMS_PAGE_SIZE, true,
				      &be));
	setup(64, be, &c.phys, &c.mm);
	CHECK_OK(vms_mmap(c.mm, 0, DC_PAGES * VMS_PAGE_SIZE, RW, ANON, &c.hva));
	t_watchdog(90, "drop_caches against swap-in read-ahead");
	CHECK_EQ(pthread_create(&f, NULL, dc_faulter, &c), 0);
	CHECK_EQ(pthread_create(&d, NULL, dc_discarder, &c), 0);
	while (!atomic_load(&c.done))
		vms_phys_drop_caches(c.phys);
	pthread_join(f, NULL);
	pthread_join(d, NULL);
	t_watchdog(0, "");
	t_teardown(c.phys, c.mm);
}

int main(void)
{
	T_RUN(test_file_backend);
	T_RUN(test_overcommit);
	T_RUN(test_pageout_willneed);
	T_RUN(test_swap_full);
	T_RUN(test_io_errors);
	T_RUN(test_guest_io_error);
	T_RUN(test_drop_caches_vs_readahead);
	return T_DONE();
}
