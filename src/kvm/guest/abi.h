/* abi.h - what the host and the guest program of a real KVM guest share:
 * the guest-physical layout, the mailbox each vCPU reads its command from
 * and writes its results to, and the page contents the workloads check.
 * Plain C for both sides: the guest image is built freestanding. */
#ifndef VMS_KVM_ABI_H
#define VMS_KVM_ABI_H

#include <stdint.h>

/*
 * Guest-physical layout.  The boot memslot (never paged) holds the page
 * tables, the mailbox, the guest image, the stacks and the guest's own
 * tables; the RAM memslot, which the pager manages, starts at 1 GiB.
 * Guest code runs at CPL 3 in 64-bit mode with every gpa mapped at
 * KVM_GVA_BASE + gpa by 2 MiB pages (PVM wants user pages in the lower
 * half).  A write to KVM_DOORBELL_GPA, which no memslot holds, is the
 * guest's only exit: "my command is done".
 */
#define KVM_GVA_BASE      (1ull << 46)
#define KVM_PT_GPA        0x0ull           /* PML4, PDPT, 4 PDs */
#define KVM_MBOX_GPA      0x10000ull       /* 64 KiB */
#define KVM_IMAGE_GPA     0x100000ull      /* up to 1 MiB */
#define KVM_STACK_GPA     0x200000ull      /* KVM_STACK_SIZE per vCPU */
#define KVM_STACK_SIZE    0x10000ull
#define KVM_MAX_VCPUS     16
#define KVM_TABLES_GPA    0x400000ull      /* guest tables, 2 MiB aligned */
#define KVM_RAM_GPA       (1ull << 30)
#define KVM_MAPPED_GPA    (4ull << 30)     /* the page tables map [0, this) */
#define KVM_DOORBELL_GPA  0xfffff000ull
#define KVM_MAX_RAM       (KVM_DOORBELL_GPA - KVM_RAM_GPA - (2ull << 20))

#define KVM_PAGE_WORDS    512

enum kvm_workload {
	KVM_WL_VERIFY = 1,  /* random pages: write a generation, read it back */
	KVM_WL_ZIPF,        /* zipf-popular pages, mostly reads */
	KVM_WL_STREAM,      /* sequential passes, write then read (write_pct
			     * 100: writes only, 0: reads only) */
	KVM_WL_IDLE,        /* touches nothing, spins until told to stop */
};

#define KVM_MISMATCHES 8

struct kvm_mismatch {
	uint64_t gpa, expected, got;
};

/*
 * One per vCPU.  The host writes the command while the vCPU is out of
 * KVM_RUN, and reads the results after the doorbell exit; stop is the one
 * field the host writes while the guest runs.  A vCPU owns the pages
 * whose index is id mod nr_owners: no two vCPUs write one page.
 */
struct kvm_vcpu_mbox {
	/* command */
	uint32_t workload, id, nr_owners, write_pct;
	uint64_t seed, ops, ram_pages, zipf_buckets;
	volatile uint32_t stop;
	uint32_t pad;
	/* results */
	uint64_t done_ops, reads, writes, zero_reads, mismatches;
	struct kvm_mismatch first[KVM_MISMATCHES];
	uint64_t pad2[5];
};

/*
 * The shared tables, at KVM_TABLES_GPA: per RAM page
 *   gen[p]:     the generation the guest last wrote (guest only);
 *   seen[p]:    the host discard count the guest saw at that write (guest);
 *   discard[p]: how often the host discarded the page, bumped before and
 *               after each discard, so that it is odd while one runs (host);
 * then zipf_cdf[zipf_buckets]: cumulative weights in 1/2^32 (host).
 */
struct kvm_tables {
	uint32_t *gen, *seen;
	volatile uint32_t *discard;
	const uint32_t *zipf_cdf;
};

static inline uint64_t kvm_tables_bytes(uint64_t pages, uint64_t buckets)
{
	return 3 * pages * sizeof(uint32_t) + buckets * sizeof(uint32_t);
}

/* Word @i of RAM page @p at generation @gen; generation 0 reads as zero,
 * as a page never written does. */
static inline uint64_t kvm_word(uint64_t p, uint32_t gen, unsigned i)
{
	if (!gen)
		return 0;
	return (p << 24 | (uint64_t)gen << 2) * 0x9e3779b97f4a7c15ull ^ i;
}

#endif /* VMS_KVM_ABI_H */
