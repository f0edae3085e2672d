/* zswap.c - the compressed tier over a real swap file: every kind of page
 * comes back as written, same-filled pages take one word, incompressible
 * ones go through, the pool keeps its budget by writing its oldest entries
 * back, overwrites and discards leave no stale copy, and threads storing
 * and loading at once lose nothing. */
#define _GNU_SOURCE
#include "test.h"

#include <pthread.h>

#define PAGE VMS_PAGE_SIZE

enum content { C_ZERO, C_WORD, C_TEXT, C_BINARY, C_RANDOM, C_KINDS };

/* Page @n of kind @k, reproducible from @n. */
static void fill(uint8_t *page, enum content k, uint64_t n)
{
	static const char *const words[] = {
		"guest ", "memory ", "page ", "swap ", "the ", "of ", "fault ",
		"notifier ", "shadow ", "and ", "kernel ", "resident ",
	};
	uint64_t s = n * 0x9e3779b97f4a7c15ull + k;
	uint64_t *w = (uint64_t *)page;

	switch (k) {
	case C_ZERO:
		memset(page, 0, PAGE);
		break;
	case C_WORD:
		for (unsigned i = 0; i < PAGE / 8; i++)
			w[i] = 0x0101010101010101ull * (n % 255 + 1);
		break;
	case C_TEXT:
		for (size_t at = 0; at < PAGE;) {
			const char *x = words[t_rand(&s) % 12];
			size_t l = strlen(x);

			memcpy(page + at, x, at + l <= PAGE ? l : PAGE - at);
			at += l;
		}
		break;
	case C_BINARY:
		/* Small integers and pointers, as a heap holds them. */
		for (unsigned i = 0; i < PAGE / 8; i++)
			w[i] = i % 4 ? (t_rand(&s) % 64)
				     : 0x7f0000000000ull + (t_rand(&s) & 0xfff0);
		break;
	default:
		for (unsigned i = 0; i < PAGE / 8; i++)
			w[i] = t_rand(&s);
		break;
	}
}

static struct vms_swap_backend *tier(uint64_t slots, uint64_t pool,
				     int compressor, int level,
				     struct vms_swap_backend **file)
{
	struct vms_zswap_config cfg = { .pool_bytes = pool,
					.compressor = compressor,
					.level = level };
	struct vms_swap_backend *be;

	CHECK_OK(vms_swap_file_create(NULL, slots * PAGE, true, file));
	CHECK_OK(vms_swap_zswap_create(&cfg, *file, &be));
	return be;
}

static int io1(struct vms_swap_backend *be, uint64_t slot, void *buf,
	       bool write)
{
	struct vms_swap_io io = { .write = write, .slot = slot, .buf = buf };
	int r = be->rw(be, &io, 1);

	return r ? r : io.res;
}

static uint8_t *pages(size_t n)
{
	uint8_t *p = aligned_alloc(PAGE, n * PAGE);

	CHECK(p, "out of memory");
	return p;
}

/* Every kind round-trips, in one batch; same-filled pages take no pool
 * bytes and random ones go through to the file. */
static void test_round_trip(void)
{
	for (int comp = VMS_ZSWAP_LZ4; comp <= VMS_ZSWAP_ZSTD; comp++) {
		struct vms_swap_backend *file, *be =
			tier(64, 1 << 20, comp, comp ? 9 : 0, &file);
		uint8_t *in = pages(C_KINDS * 4), *out = pages(C_KINDS * 4);
		struct vms_swap_io io[C_KINDS * 4];
		struct vms_zswap_stats st;

		for (unsigned i = 0; i < C_KINDS * 4; i++) {
			fill(in + i * PAGE, i % C_KINDS, i);
			io[i] = (struct vms_swap_io){ .write = true,
						      .slot = 1 + i,
						      .buf = in + i * PAGE };
		}
		CHECK_OK(be->rw(be, io, C_KINDS * 4));
		for (unsigned i = 0; i < C_KINDS * 4; i++) {
			CHECK_OK(io[i].res);
			io[i] = (struct vms_swap_io){ .slot = 1 + i,
						      .buf = out + i * PAGE };
		}
		memset(out, 0xa5, C_KINDS * 4 * PAGE);
		CHECK_OK(be->rw(be, io, C_KINDS * 4));
		for (unsigned i = 0; i < C_KINDS * 4; i++) {
			CHECK_OK(io[i].res);
			CHECK(!memcmp(in + i * PAGE, out + i * PAGE, PAGE),
			      "page %u (kind %u, %s) came back different", i,
			      i % C_KINDS, comp ? "zstd" : "lz4");
		}
		CHECK_OK(vms_swap_zswap_stats(be, &st));
		CHECK_EQ(st.same_filled, 8);            /* zero and word */
		CHECK_EQ(st.rejects, 4);                /* random */
		CHECK_EQ(st.stored, C_KINDS * 4 - 4);
		CHECK_EQ(st.loads, C_KINDS * 4 - 4);
		CHECK(st.compressed_bytes < 8 * PAGE / 2,
		      "text and binary took %" PRIu64 " bytes",
		      st.compressed_bytes);
		CHECK(st.pool_bytes >= st.compressed_bytes,
		      "pool %" PRIu64 " bytes for %" PRIu64,
		      st.pool_bytes, st.compressed_bytes);
		/* The random pages are in the file, and only there. */
		CHECK_OK(io1(file, 1 + C_RANDOM, out, false));
		CHECK(!memcmp(out, in + C_RANDOM * PAGE, PAGE),
		      "a rejected page is not in the next tier");
		be->release(be);
		free(in);
		free(out);
	}
}

/* A pool of 8 frames under 256 text pages: it never holds more, its
 * oldest entries are the ones written back, and every page comes back. */
static void test_budget_and_writeback_order(void)
{
	enum { N = 256 };
	struct vms_swap_backend *file, *be =
		tier(N + 1, 8 * PAGE, VMS_ZSWAP_LZ4, 0, &file);
	uint8_t *in = pages(N), *out = pages(1);
	struct vms_zswap_stats st;

	for (unsigned i = 0; i < N; i++) {
		fill(in + i * PAGE, C_TEXT, i);
		CHECK_OK(io1(be, 1 + i, in + i * PAGE, true));
		CHECK_OK(vms_swap_zswap_stats(be, &st));
		CHECK(st.pool_bytes <= 8 * PAGE, "pool %" PRIu64 " bytes",
		      st.pool_bytes);
	}
	/* Packed: little of the pool's frames is waste. */
	CHECK(st.compressed_bytes * 3 >= st.pool_bytes * 2,
	      "%" PRIu64 " pages (%" PRIu64 " bytes) in %" PRIu64 " bytes",
	      st.stored, st.compressed_bytes, st.pool_bytes);
	CHECK_EQ(be->held_bytes(be), st.pool_bytes);
	CHECK(st.writebacks > 0 && st.stored > 0 && st.stored < N,
	      "%" PRIu64 " written back, %" PRIu64 " stored", st.writebacks,
	      st.stored);
	/* The first page went to the file; the last is only in the pool. */
	CHECK_OK(io1(file, 1, out, false));
	CHECK(!memcmp(out, in, PAGE), "the oldest page was not written back");
	CHECK_OK(io1(file, N, out, false));
	CHECK(memcmp(out, in + (N - 1) * PAGE, PAGE),
	      "the newest page was written back");
	for (unsigned i = 0; i < N; i++) {
		CHECK_OK(io1(be, 1 + i, out, false));
		CHECK(!memcmp(out, in + i * PAGE, PAGE), "page %u lost", i);
	}
	be->release(be);
	free(in);
	free(out);
}

/* A slot written again holds the new page, in the pool or through it;
 * a discarded slot leaves the pool. */
static void test_overwrite_discard(void)
{
	struct vms_swap_backend *file, *be =
		tier(16, 1 << 20, VMS_ZSWAP_LZ4, 0, &file);
	uint8_t *a = pages(1), *b = pages(1), *out = pages(1);
	struct vms_zswap_stats st;

	fill(a, C_TEXT, 1);
	fill(b, C_RANDOM, 2);
	CHECK_OK(io1(be, 3, a, true));
	CHECK_OK(io1(be, 3, b, true));          /* through: a must go */
	CHECK_OK(io1(be, 3, out, false));
	CHECK(!memcmp(out, b, PAGE), "a stale pooled copy came back");
	CHECK_OK(io1(be, 3, a, true));
	CHECK_OK(io1(be, 3, out, false));
	CHECK(!memcmp(out, a, PAGE), "the file's older copy came back");
	be->discard(be, 3);
	CHECK_OK(vms_swap_zswap_stats(be, &st));
	CHECK_EQ(st.stored, 0);
	CHECK_EQ(st.pool_bytes, 0);
	be->release(be);
	free(a);
	free(b);
	free(out);
}

/* With a pool's frames: the tier's frames are the pool's (its free count
 * falls by them), it reports no heap memory held, and gives them back.
 * When the frames run out, stores go through instead. */
static void test_phys_frames(void)
{
	enum { N = 64 };
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { 24 } };
	struct vms_swap_backend *file, *be;
	struct vms_node_info ni;
	struct vms_zswap_stats st;
	struct vms_phys *phys;
	uint8_t *in = pages(N), *out = pages(1);

	CHECK_OK(vms_phys_create(&pc, &phys));
	CHECK_OK(vms_swap_file_create(NULL, (N + 1) * PAGE, true, &file));
	struct vms_zswap_config cfg = { .pool_bytes = 1 << 20, .phys = phys };
	CHECK_OK(vms_swap_zswap_create(&cfg, file, &be));
	for (unsigned i = 0; i < N; i++) {
		fill(in + i * PAGE, C_TEXT, i);
		CHECK_OK(io1(be, 1 + i, in + i * PAGE, true));
	}
	CHECK_OK(vms_swap_zswap_stats(be, &st));
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.frames - ni.free, st.pool_bytes / PAGE);
	CHECK(st.pool_bytes > 0 && st.pool_bytes <= 24 * PAGE,
	      "pool %" PRIu64, st.pool_bytes);
	CHECK(st.rejects + st.writebacks > 0,
	      "24 frames took %d text pages", N);
	CHECK_EQ(be->held_bytes(be), 0);
	for (unsigned i = 0; i < N; i++) {
		CHECK_OK(io1(be, 1 + i, out, false));
		CHECK(!memcmp(out, in + i * PAGE, PAGE), "page %u lost", i);
	}
	be->release(be);
	CHECK_OK(vms_phys_node_info(phys, 0, &ni));
	CHECK_EQ(ni.free, ni.frames);
	vms_phys_destroy(phys);
	free(in);
	free(out);
}

/* A pool swapping through the tier reports the tier's counters in its
 * vmstat, the same as the tier's own; without one, zeroes. */
static void test_vmstat(void)
{
	enum { N = 64 };
	struct vms_phys_config pc = { .nr_nodes = 1, .node_frames = { 256 } };
	struct vms_swap_backend *file, *be;
	struct vms_zswap_stats st;
	struct vms_phys_stats vs;
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint8_t *in = pages(1);
	uint64_t hva;

	CHECK_OK(vms_phys_create(&pc, &phys));
	vms_phys_stats(phys, &vs);
	CHECK_EQ(vs.zswap.stored + vs.zswap.stores + vs.zswap.pool_bytes, 0);
	CHECK_OK(vms_swap_file_create(NULL, (N + 64) * PAGE, true, &file));
	struct vms_zswap_config cfg = { .pool_bytes = 1 << 20,
					.compressor = VMS_ZSWAP_ZSTD };
	CHECK_OK(vms_swap_zswap_create(&cfg, file, &be));
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	CHECK_OK(vms_mm_create(phys, NULL, &mm));
	CHECK_OK(vms_mmap(mm, 0, N * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	for (unsigned i = 0; i < N; i++) {
		fill(in, C_TEXT, i);
		CHECK_OK(vms_mm_write(mm, hva + i * PAGE, in, PAGE));
	}
	CHECK_OK(vms_madvise(mm, hva, N * PAGE, VMS_MADV_PAGEOUT));
	vms_mm_destroy(mm);
	vms_phys_stats(phys, &vs);
	CHECK_OK(vms_swap_zswap_stats(be, &st));
	CHECK(vs.zswap.stores >= N, "%" PRIu64 " stores", vs.zswap.stores);
	CHECK_EQ(vs.zswap.stores, st.stores);
	CHECK_EQ(vs.zswap.compressor, VMS_ZSWAP_ZSTD);
	CHECK_EQ(vs.zswap.level, 3);
	vms_phys_destroy(phys);
	free(in);
}

static void test_bad_config(void)
{
	struct vms_swap_backend *file, *be;
	struct vms_zswap_config cfg = { .pool_bytes = 1 << 20 };
	struct vms_zswap_stats st;

	CHECK_OK(vms_swap_file_create(NULL, 16 * PAGE, true, &file));
	cfg.pool_bytes = 100;
	CHECK_EQ(vms_swap_zswap_create(&cfg, file, &be), -EINVAL);
	cfg = (struct vms_zswap_config){ .pool_bytes = 1 << 20, .level = 3 };
	CHECK_EQ(vms_swap_zswap_create(&cfg, file, &be), -EINVAL);
	cfg = (struct vms_zswap_config){ .pool_bytes = 1 << 20,
					 .compressor = VMS_ZSWAP_ZSTD,
					 .level = 99 };
	CHECK_EQ(vms_swap_zswap_create(&cfg, file, &be), -EINVAL);
	cfg.compressor = 7;
	CHECK_EQ(vms_swap_zswap_create(&cfg, file, &be), -EINVAL);
	CHECK_EQ(vms_swap_zswap_create(&cfg, NULL, &be), -EINVAL);
	CHECK_EQ(vms_swap_zswap_stats(file, &st), -EINVAL);
	file->release(file);            /* still the caller's */
}

/* Threads each own slots and store, overwrite and load them at once over
 * a pool small enough to write back all the time. */
struct worker {
	struct vms_swap_backend *be;
	unsigned id;
	uint64_t bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *in = pages(1), *out = pages(1);
	uint32_t gen[32] = { 0 };
	uint64_t s = w->id + 1;

	for (unsigned round = 0; round < 3000; round++) {
		unsigned k = (unsigned)(t_rand(&s) % 32);
		uint64_t slot = 1 + w->id * 32 + k;

		if (t_rand(&s) % 2 || !gen[k]) {
			gen[k]++;
			fill(in, (enum content)(gen[k] % C_KINDS),
			     slot * 1000 + gen[k]);
			CHECK_OK(io1(w->be, slot, in, true));
		} else {
			fill(in, (enum content)(gen[k] % C_KINDS),
			     slot * 1000 + gen[k]);
			CHECK_OK(io1(w->be, slot, out, false));
			w->bad += memcmp(in, out, PAGE) != 0;
		}
	}
	free(in);
	free(out);
	return NULL;
}

static void test_threads(void)
{
	struct vms_swap_backend *file, *be =
		tier(4 * 32 + 1, 4 * PAGE, VMS_ZSWAP_LZ4, 0, &file);
	struct worker w[4];
	pthread_t t[4];
	struct vms_zswap_stats st;

	t_watchdog(120, "zswap threads");
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .be = be, .id = i };
		CHECK_EQ(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(w[i].bad, 0);
	}
	t_watchdog(0, "");
	CHECK_OK(vms_swap_zswap_stats(be, &st));
	CHECK(st.writebacks > 0, "no write-back in a pool of 4 frames");
	CHECK(st.pool_bytes <= 4 * PAGE, "pool %" PRIu64, st.pool_bytes);
	be->release(be);
}

int main(void)
{
	T_RUN(test_round_trip);
	T_RUN(test_budget_and_writeback_order);
	T_RUN(test_overwrite_discard);
	T_RUN(test_phys_frames);
	T_RUN(test_vmstat);
	T_RUN(test_bad_config);
	T_RUN(test_threads);
	return T_DONE();
}
