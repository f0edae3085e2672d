/* phys.c - tests of the physical pools: config checks, node counters,
 * frames taken and given back through an mm, pfn/address, poisoning. */
#define _GNU_SOURCE
#include "test.h"

#include <unistd.h>

#include "host/host.h"

static uint64_t node_free(struct vms_phys *phys, unsigned node)
{
	struct vms_node_info ni;

	CHECK_OK(vms_phys_node_info(phys, node, &ni));
	return ni.free;
}

static void fill(struct vms_mm *mm, uint64_t hva, size_t pages, uint8_t seed)
{
	uint8_t buf[VMS_PAGE_SIZE];

	for (size_t i = 0; i < pages; i++) {
		memset(buf, seed + (int)i, sizeof(buf));
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE, buf,
				      sizeof(buf)));
	}
}

static void test_config_errors(void)
{
	struct vms_phys_config pc = { 0 };
	struct vms_phys *phys = NULL;

	/* No nodes, too many nodes, an empty node: all refused. */
	pc.nr_nodes = 0;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	pc.nr_nodes = VMS_MAX_NODES + 1;
	for (unsigned i = 0; i < VMS_MAX_NODES; i++)
		pc.node_frames[i] = 1;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	pc.nr_nodes = 2;
	pc.node_frames[0] = 4;
	pc.node_frames[1] = 0;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	pc.nr_nodes = 1;
	pc.node_frames[0] = 0;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	CHECK_EQ(vms_phys_create(NULL, &phys), -EINVAL);
	/* A page links its neighbours by 32-bit pfns: 2^32 frames are too
	 * many, in one node or across two. */
	pc.node_frames[0] = 1ull << 32;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	pc.nr_nodes = 2;
	pc.node_frames[0] = pc.node_frames[1] = 1ull << 31;
	CHECK_EQ(vms_phys_create(&pc, &phys), -EINVAL);
	CHECK(phys == NULL, "a failed create must not hand out a pool");

	/* 64 pools alive at most; one more can be had once one goes. */
	struct vms_phys *many[65];
	pc.nr_nodes = 1;
	pc.node_frames[0] = 1;
	for (int i = 0; i < 64; i++)
		CHECK_OK(vms_phys_create(&pc, &many[i]));
	CHECK_EQ(vms_phys_create(&pc, &many[64]), -ENOSPC);
	vms_phys_destroy(many[7]);
	CHECK_OK(vms_phys_create(&pc, &many[7]));
	for (int i = 0; i < 64; i++) {
		struct vms_mm *mm;
		struct vms_page *pg;
		uint64_t hva;

		/* Each page knows its own pool among them. */
		CHECK_OK(vms_mm_create(many[i], NULL, &mm));
		CHECK_OK(vms_mmap(mm, 0, VMS_PAGE_SIZE,
				  VMS_PROT_READ | VMS_PROT_WRITE,
				  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
		uint64_t v = 1000 + i;
		CHECK_OK(vms_mm_write(mm, hva, &v, sizeof(v)));
		CHECK_OK(vms_get_page(mm, hva, false, &pg));
		CHECK_EQ(vms_page_pfn(pg), 0);
		CHECK_EQ(*(uint64_t *)vms_page_address(pg), 1000 + i);
		vms_put_page(pg);
		vms_mm_destroy(mm);
		vms_phys_destroy(many[i]);
	}

	/* An address space keeps page indices in 32 bits: 16 TiB at most. */
	struct vms_mm *mm;
	CHECK_OK(vms_phys_create(&pc, &phys));
	CHECK_EQ(vms_mm_create(phys, &(struct vms_mm_config){
			.va_size = (16ull << 40) + VMS_PAGE_SIZE }, &mm), -EINVAL);
	CHECK_OK(vms_mm_create(phys, &(struct vms_mm_config){
			.va_size = 16ull << 40 }, &mm));
	vms_mm_destroy(mm);
	/* A page keeps its swap slot in 32 bits. */
	struct vms_swap_backend *be;
	CHECK_OK(vms_swap_file_create(NULL, 16 * VMS_PAGE_SIZE, false, &be));
	uint64_t slots = be->nr_slots;
	be->nr_slots = 1ull << 32;
	CHECK_EQ(vms_swap_on(phys, be, 0, 0), -EINVAL);
	be->nr_slots = slots;
	CHECK_OK(vms_swap_on(phys, be, 0, 0));
	vms_phys_destroy(phys);
	phys = NULL;

	/* The largest legal node count works. */
	pc.nr_nodes = VMS_MAX_NODES;
	for (unsigned i = 0; i < VMS_MAX_NODES; i++)
		pc.node_frames[i] = 1;
	CHECK_OK(vms_phys_create(&pc, &phys));
	vms_phys_destroy(phys);
}

static void test_node_info(void)
{
	struct vms_phys_config pc = { .nr_nodes = 3,
				      .node_frames = { 5, 17, 1 } };
	struct vms_phys *phys;
	struct vms_node_info ni;

	CHECK_OK(vms_phys_create(&pc, &phys));
	for (unsigned i = 0; i < 3; i++) {
		CHECK_OK(vms_phys_node_info(phys, i, &ni));
		CHECK_EQ(ni.frames, pc.node_frames[i]);
		CHECK_EQ(ni.free, pc.node_frames[i]);   /* all free at first */
		CHECK(ni.memfd >= 0, "node %u has no memfd", i);
	}
	/* Past the last node. */
	CHECK_EQ(vms_phys_node_info(phys, 3, &ni), -EINVAL);
	CHECK_EQ(vms_phys_node_info(phys, VMS_MAX_NODES, &ni), -EINVAL);
	vms_phys_destroy(phys);
}

static void test_alloc_free_through_mm(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	uint64_t hva;

	t_setup(64, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 16 * VMS_PAGE_SIZE,
			  VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	/* mmap alone takes no frame: memory is faulted in on use. */
	CHECK_EQ(node_free(phys, 0), 64);
	fill(mm, hva, 10, 1);
	CHECK_EQ(node_free(phys, 0), 54);
	/* Touching a present page again takes nothing more. */
	fill(mm, hva, 10, 2);
	CHECK_EQ(node_free(phys, 0), 54);
	/* Give back 4 of them, then the rest. */
	CHECK_OK(vms_madvise(mm, hva, 4 * VMS_PAGE_SIZE, VMS_MADV_DONTNEED));
	CHECK_EQ(node_free(phys, 0), 58);
	CHECK_OK(vms_madvise(mm, hva, 16 * VMS_PAGE_SIZE, VMS_MADV_DONTNEED));
	CHECK_EQ(node_free(phys, 0), 64);
	/* munmap frees too. */
	fill(mm, hva, 3, 3);
	CHECK_EQ(node_free(phys, 0), 61);
	CHECK_OK(vms_munmap(mm, hva, 16 * VMS_PAGE_SIZE));
	CHECK_EQ(node_free(phys, 0), 64);
	t_teardown(phys, mm);
}

static void test_exhaustion(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_page *pg;
	uint64_t hva;
	uint8_t b = 1;

	t_setup(4, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 8 * VMS_PAGE_SIZE,
			  VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	fill(mm, hva, 4, 9);
	CHECK_EQ(node_free(phys, 0), 0);
	/* No frame left: the fault fails cleanly, nothing leaks. */
	CHECK_EQ(vms_mm_write(mm, hva + 4 * VMS_PAGE_SIZE, &b, 1), -ENOMEM);
	CHECK_EQ(vms_get_page(mm, hva + 5 * VMS_PAGE_SIZE, false, &pg),
		 -ENOMEM);
	/* The resident pages are untouched and a freed frame is usable. */
	CHECK_OK(vms_mm_read(mm, hva + 3 * VMS_PAGE_SIZE, &b, 1));
	CHECK_EQ(b, 9 + 3);
	CHECK_OK(vms_madvise(mm, hva, VMS_PAGE_SIZE, VMS_MADV_DONTNEED));
	b = 0x5a;
	CHECK_OK(vms_mm_write(mm, hva + 4 * VMS_PAGE_SIZE, &b, 1));
	CHECK_EQ(node_free(phys, 0), 0);
	t_teardown(phys, mm);
}

static void test_multi_node(void)
{
	struct vms_phys_config pc = { .nr_nodes = 2, .node_frames = { 4, 8 } };
	struct vms_node_info n0, n1;
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_page *pg;
	uint64_t hva;

	CHECK_OK(vms_phys_create(&pc, &phys));
	CHECK_OK(vms_phys_node_info(phys, 0, &n0));
	CHECK_OK(vms_phys_node_info(phys, 1, &n1));
	CHECK(n0.memfd >= 0 && n1.memfd >= 0, "memfds %d %d", n0.memfd,
	      n1.memfd);
	CHECK(n0.memfd != n1.memfd, "nodes share memfd %d", n0.memfd);
	/* Each memfd is as large as its pool. */
	CHECK_EQ(lseek(n0.memfd, 0, SEEK_END), 4 * VMS_PAGE_SIZE);
	CHECK_EQ(lseek(n1.memfd, 0, SEEK_END), 8 * VMS_PAGE_SIZE);

	CHECK_OK(vms_mm_create(phys, NULL, &mm));
	CHECK_OK(vms_mmap(mm, 0, 12 * VMS_PAGE_SIZE,
			  VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	/* Six pages: an mm takes from node 0 first (host.h, phys_alloc);
	 * once it runs out, the rest comes from node 1. */
	fill(mm, hva, 6, 0x40);
	CHECK_EQ(node_free(phys, 0) + node_free(phys, 1), 12 - 6);
	CHECK_EQ(node_free(phys, 0), 0);
	CHECK_EQ(node_free(phys, 1), 6);

	/* A page of node 1: pfns are node-major, so past node 0's frames,
	 * and its bytes are in node 1's memfd at the frame's offset. */
	for (unsigned i = 0; i < 6; i++) {
		uint8_t fbuf[VMS_PAGE_SIZE];
		uint64_t pfn;

		CHECK_OK(vms_get_page(mm, hva + i * VMS_PAGE_SIZE, false, &pg));
		pfn = vms_page_pfn(pg);
		CHECK(pfn < 12, "pfn %" PRIu64 " past the pools", pfn);
		int fd = pfn < 4 ? n0.memfd : n1.memfd;
		off_t off = (off_t)((pfn < 4 ? pfn : pfn - 4) * VMS_PAGE_SIZE);
		CHECK_EQ(pread(fd, fbuf, sizeof(fbuf), off), VMS_PAGE_SIZE);
		CHECK_EQ(fbuf[0], 0x40 + i);
		CHECK_EQ(fbuf[VMS_PAGE_SIZE - 1], 0x40 + i);
		CHECK(memcmp(fbuf, vms_page_address(pg), VMS_PAGE_SIZE) == 0,
		      "memfd and frame differ for pfn %" PRIu64, pfn);
		CHECK_EQ(page_node_id(pg), pfn < 4 ? 0 : 1);
		vms_put_page(pg);
	}
	vms_mm_destroy(mm);
	CHECK_EQ(node_free(phys, 0), 4);
	CHECK_EQ(node_free(phys, 1), 8);
	vms_phys_destroy(phys);
}

static void test_pfn_address(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_page *pg[8];
	uint64_t hva;
	uint8_t buf[64];

	t_setup(32, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, 8 * VMS_PAGE_SIZE,
			  VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	for (unsigned i = 0; i < 8; i++) {
		memset(buf, 0xa0 + i, sizeof(buf));
		CHECK_OK(vms_mm_write(mm, hva + i * VMS_PAGE_SIZE + 100, buf,
				      sizeof(buf)));
		CHECK_OK(vms_get_page(mm, hva + i * VMS_PAGE_SIZE + 7, i & 1,
				      &pg[i]));
	}
	for (unsigned i = 0; i < 8; i++) {
		uint8_t *a = vms_page_address(pg[i]);

		/* The address is the page's, not the hva's offset in it. */
		CHECK_EQ((uintptr_t)a & (VMS_PAGE_SIZE - 1), 0);
		CHECK_EQ(a[100], 0xa0 + i);
		CHECK_EQ(a[163], 0xa0 + i);
		CHECK_EQ(a[164], 0);
		/* One linear frame space: address distance == pfn distance. */
		CHECK_EQ((intptr_t)(a - (uint8_t *)vms_page_address(pg[0])),
			 (int64_t)(vms_page_pfn(pg[i]) - vms_page_pfn(pg[0])) *
				 (int64_t)VMS_PAGE_SIZE);
		CHECK(a == pfn_to_addr(phys, vms_page_pfn(pg[i])),
		      "address of pfn %" PRIu64, vms_page_pfn(pg[i]));
		for (unsigned j = 0; j < i; j++)
			CHECK(vms_page_pfn(pg[j]) != vms_page_pfn(pg[i]),
			      "pages %u and %u share a pfn", j, i);
		/* A getter of the same hva gets the same page. */
		struct vms_page *again;
		CHECK_OK(vms_get_page(mm, hva + i * VMS_PAGE_SIZE, false,
				      &again));
		CHECK(again == pg[i], "second get of page %u differs", i);
		CHECK_EQ(vms_page_pfn(again), vms_page_pfn(pg[i]));
		vms_put_page(again);
	}
	/* Writing through the frame is what the mm reads back. */
	((uint8_t *)vms_page_address(pg[3]))[5] = 0x77;
	CHECK_OK(vms_mm_read(mm, hva + 3 * VMS_PAGE_SIZE + 5, buf, 1));
	CHECK_EQ(buf[0], 0x77);
	for (unsigned i = 0; i < 8; i++)
		vms_put_page(pg[i]);
	t_teardown(phys, mm);
}

static void test_poison(void)
{
#ifdef VMS_DEBUG
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_page *pg;
	uint64_t hva;
	uint8_t buf[VMS_PAGE_SIZE];

	t_setup(8, &phys, &mm);
	CHECK_OK(vms_mmap(mm, 0, VMS_PAGE_SIZE, VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	memset(buf, 0x11, sizeof(buf));
	CHECK_OK(vms_mm_write(mm, hva, buf, sizeof(buf)));
	CHECK_OK(vms_get_page(mm, hva, false, &pg));
	const uint8_t *frame = vms_page_address(pg);
	vms_put_page(pg);
	/* Still mapped: the PTE's reference keeps the bytes. */
	CHECK_EQ(frame[0], 0x11);
	CHECK_OK(vms_madvise(mm, hva, VMS_PAGE_SIZE, VMS_MADV_DONTNEED));
	/* Freed: every byte is poison (the pool stays mapped). */
	for (size_t i = 0; i < VMS_PAGE_SIZE; i++)
		CHECK(frame[i] == PAGE_POISON, "byte %zu is %#x", i, frame[i]);
	/* A new fault of the hva gets zeroes, whichever frame it takes. */
	CHECK_OK(vms_mm_read(mm, hva, buf, sizeof(buf)));
	for (size_t i = 0; i < VMS_PAGE_SIZE; i++)
		CHECK(buf[i] == 0, "byte %zu is %#x after refault", i, buf[i]);
	t_teardown(phys, mm);
#else
	printf("# poison: not a debug build, nothing checked\n");
#endif
}

/* Each test exits on its first failed check, so reaching the end of the
 * list means every test passed. */
int main(void)
{

	T_RUN(test_config_errors);
	T_RUN(test_node_info);
	T_RUN(test_alloc_free_through_mm);
	T_RUN(test_exhaustion);
	T_RUN(test_multi_node);
	T_RUN(test_pfn_address);
	T_RUN(test_poison);
	return T_DONE();
}
