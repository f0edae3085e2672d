/* content.c - what the simulated workloads write into guest pages, by
 * kind (--content), so that a compressed tier's figures mean something:
 * every page is a function of its gfn and generation (the oracles
 * recompute it), made from data generated here, and starts with a tag
 * word (gfn, generation) that tells generations apart whatever the kind. */
#include "tool/run.h"

#include <string.h>

const char *const content_names[CONTENT_KINDS] = {
	"mixed", "zero", "text", "binary", "random",
};

/* English-like text: words of a small vocabulary, as logs and documents
 * repeat theirs. */
static void fill_text(uint8_t *p, uint64_t seed)
{
	static const char *const words[] = {
		"the ", "guest ", "memory ", "of ", "page ", "and ", "host ",
		"to ", "swap ", "a ", "fault ", "in ", "kernel ", "is ",
		"resident ", "notifier ", "shadow ", "table ", "write ",
		"read ", "back ", "cold ", "hot ", "frame ", "slot ", "run ",
		"\n", ", ", ". ", "vCPU ", "0x7f3a ", "error ",
	};
	for (size_t at = 0; at < PAGE;) {
		const char *w = words[tool_rand(&seed) % 32];
		size_t n = strlen(w);

		memcpy(p + at, w, at + n <= PAGE ? n : PAGE - at);
		at += n;
	}
}

/* What a heap holds: small integers, lengths, flags and pointers. */
static void fill_binary(uint64_t *w, uint64_t seed)
{
	for (size_t k = 0; k < PAGE / 8; k++) {
		uint64_t x = tool_rand(&seed);

		w[k] = k % 4 == 0 ? 0x00007f3a00000000ull | (x & 0xffff0ull)
		       : k % 4 == 1 ? x % 4096
		       : k % 4 == 2 ? x & 0x10101
				    : 0;
	}
}

void pattern(uint64_t *page, uint64_t gfn, uint32_t gen)
{
	uint64_t tag = gfn << 32 | gen, seed = tag * 0x9e3779b97f4a7c15ull;
	unsigned kind = R.cfg.content;

	if (!gen) {
		memset(page, 0, PAGE);
		return;
	}
	if (kind == CONTENT_MIXED)
		kind = CONTENT_ZERO + (unsigned)((gfn * 0xff51afd7ed558ccdull) >>
						 62);
	switch (kind) {
	case CONTENT_ZERO:
		memset(page, 0, PAGE);
		break;
	case CONTENT_TEXT:
		fill_text((uint8_t *)page, seed);
		break;
	case CONTENT_BINARY:
		fill_binary(page, seed);
		break;
	default:
		for (size_t k = 0; k < PAGE / 8; k++)
			page[k] = tag ^ (k * 0x9e3779b97f4a7c15ull);
		break;
	}
	page[0] = tag;
}
