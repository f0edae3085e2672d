/* runtime.c - the guest program of vmsync's real KVM guests: built
 * freestanding into a flat image at its guest address, it runs at CPL 3
 * and loops: read the vCPU's command from the mailbox, run the workload,
 * write the results, ring the doorbell.  Every read of guest RAM is
 * checked against what it must hold. */
#include "abi.h"

#define GVA(gpa) ((void *)(KVM_GVA_BASE + (gpa)))

struct ctx {
	struct kvm_vcpu_mbox *mb;
	struct kvm_tables t;
	uint64_t rng, owned;        /* pages this vCPU owns */
};

static uint64_t next_rand(struct ctx *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static volatile uint64_t *ram_page(uint64_t p)
{
	return GVA(KVM_RAM_GPA + (p << 12));
}

static void note_mismatch(struct ctx *c, uint64_t p, unsigned i,
			  uint64_t expected, uint64_t got)
{
	struct kvm_vcpu_mbox *mb = c->mb;

	if (mb->mismatches < KVM_MISMATCHES) {
		mb->first[mb->mismatches].gpa = KVM_RAM_GPA + (p << 12) + i * 8;
		mb->first[mb->mismatches].expected = expected;
		mb->first[mb->mismatches].got = got;
	}
	mb->mismatches++;
}

/* The host's discard count of @p once no discard runs. */
static uint32_t discard_settled(struct ctx *c, uint64_t p)
{
	uint32_t s;

	while ((s = c->t.discard[p]) & 1)
		__asm__ volatile("pause");
	return s;
}

/* A new generation in every word; redone if the host discarded the page
 * meanwhile, so the page is whole when the write ends. */
static void write_page(struct ctx *c, uint64_t p)
{
	volatile uint64_t *w = ram_page(p);
	uint32_t g = c->t.gen[p] + 1, s;

	if (!g)
		g = 1;
	do {
		s = discard_settled(c, p);
		for (unsigned i = 0; i < KVM_PAGE_WORDS; i++)
			w[i] = kvm_word(p, g, i);
	} while (c->t.discard[p] != s);
	c->t.gen[p] = g;
	c->t.seen[p] = s;
	c->mb->writes++;
}

/* Words [from, from+n) must hold the last generation written, or, when
 * the host discarded the page since, the whole page must read zero. */
static void read_page(struct ctx *c, uint64_t p, unsigned from, unsigned n)
{
	volatile uint64_t *w = ram_page(p);
	uint32_t g = c->t.gen[p];

	c->mb->reads++;
	for (unsigned i = from; i < from + n; i++) {
		uint64_t got = w[i], want = kvm_word(p, g, i);

		if (got == want)
			continue;
		if (c->t.discard[p] != c->t.seen[p]) {
			uint32_t s;
			unsigned bad;

			do {
				s = discard_settled(c, p);
				for (bad = 0; bad < KVM_PAGE_WORDS && !w[bad];
				     bad++)
					;
			} while (c->t.discard[p] != s);
			if (bad == KVM_PAGE_WORDS) {
				c->t.gen[p] = 0;
				c->t.seen[p] = s;
				c->mb->zero_reads++;
				return;
			}
		}
		note_mismatch(c, p, i, want, got);
		return;
	}
}

static uint64_t owned_page(struct ctx *c, uint64_t k)
{
	return k * c->mb->nr_owners + c->mb->id;
}

/* A rank drawn from the host's cumulative table: rank 0 the hottest. */
static uint64_t zipf_rank(struct ctx *c)
{
	uint32_t u = (uint32_t)(next_rand(c) >> 32);
	uint64_t lo = 0, hi = c->mb->zipf_buckets - 1;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (c->t.zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo % c->owned;
}

static void run(struct ctx *c)
{
	struct kvm_vcpu_mbox *mb = c->mb;

	for (uint64_t op = 0; (!mb->ops || op < mb->ops) && !mb->stop; op++) {
		uint64_t r = next_rand(c), p;
		int write = (r >> 8) % 100 < mb->write_pct;

		switch (mb->workload) {
		case KVM_WL_VERIFY:
			p = owned_page(c, (r >> 32) % c->owned);
			if (write)
				write_page(c, p);
			else
				read_page(c, p, 0, KVM_PAGE_WORDS);
			break;
		case KVM_WL_ZIPF:
			p = owned_page(c, zipf_rank(c));
			if (write)
				write_page(c, p);
			else
				read_page(c, p, (unsigned)(r % KVM_PAGE_WORDS), 1);
			break;
		case KVM_WL_STREAM:
			/* Passes write then read; write_pct 0 or 100: only
			 * reads or only writes. */
			p = owned_page(c, op % c->owned);
			if (mb->write_pct == 100 ||
			    (mb->write_pct && (op / c->owned) % 2 == 0))
				write_page(c, p);
			else
				read_page(c, p, 0, KVM_PAGE_WORDS);
			break;
		default:                /* idle */
			__asm__ volatile("pause");
			break;
		}
		mb->done_ops = op + 1;
	}
}

void guest_main(uint64_t id);

__attribute__((section(".text.entry"), used, noreturn)) void
guest_main(uint64_t id)
{
	struct kvm_vcpu_mbox *mb = GVA(KVM_MBOX_GPA);

	for (;;) {
		struct ctx c = { .mb = &mb[id] };
		uint64_t pages = c.mb->ram_pages;
		uint32_t *tab = GVA(KVM_TABLES_GPA);

		c.t.gen = tab;
		c.t.seen = tab + pages;
		c.t.discard = tab + 2 * pages;
		c.t.zipf_cdf = tab + 3 * pages;
		c.rng = c.mb->seed * 2 + 1;
		c.owned = (pages - c.mb->id + c.mb->nr_owners - 1) /
			  c.mb->nr_owners;
		if (c.owned)
			run(&c);
		*(volatile uint64_t *)GVA(KVM_DOORBELL_GPA) = id;
	}
}
