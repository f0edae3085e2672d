/* content.c - what the simulated workloads write into guest pages, by
 * kind (--content), so that a compressed tier's figures mean something:
 * every page is a function of its gfn and generation (the oracles
 * recompute it), made from data generated here, and starts with a tag
 * word (gfn, generation) that tells generations apart whatever the kind. */
#include "tool/run.h"

#include <pthread.h>
#include <string.h>

const char *const content_names[CONTENT_KINDS] = {
	"mixed", "zero", "text", "binary", "random",
};

/* Text and binary pages are slices of a corpus made once: as cheap to
 * make and check as a memcpy, and as compressible as the corpus. */
#define CORPUS (256 << 10)

static uint8_t text[CORPUS], binary[CORPUS];
static pthread_once_t corpus_once = PTHREAD_ONCE_INIT;

/* English-like text: words of a small vocabulary, as logs and documents
 * repeat theirs; and what a heap holds: small integers, lengths, flags
 * and pointers. */
static void corpus_make(void)
{
	static const char *const words[] = {
		"the ", "guest ", "memory ", "of ", "page ", "and ", "host ",
		"to ", "swap ", "a ", "fault ", "in ", "kernel ", "is ",
		"resident ", "notifier ", "shadow ", "table ", "write ",
		"read ", "back ", "cold ", "hot ", "frame ", "slot ", "run ",
		"\n", ", ", ". ", "vCPU ", "0x7f3a ", "error ",
	};
	uint64_t seed = 0x5eed;

	for (size_t at = 0; at < CORPUS;) {
		const char *w = words[tool_rand(&seed) % 32];
		size_t n = strlen(w);

		memcpy(text + at, w, at + n <= CORPUS ? n : CORPUS - at);
		at += n;
	}
	for (size_t k = 0; k < CORPUS / 8; k++) {
		uint64_t x = tool_rand(&seed), v;

		v = k % 4 == 0 ? 0x00007f3a00000000ull | (x & 0xffff0ull)
		    : k % 4 == 1 ? x % 4096
		    : k % 4 == 2 ? x & 0x10101
				 : 0;
		memcpy(binary + k * 8, &v, 8);
	}
}

void pattern(const struct run *run, uint64_t *page, uint64_t gfn,
	     uint32_t gen)
{
	content_fill(page, gfn, gen, run->cfg.content);
}

void content_fill(uint64_t *page, uint64_t gfn, uint32_t gen, unsigned kind)
{
	uint64_t tag = gfn << 32 | gen, seed = tag * 0x9e3779b97f4a7c15ull;

	if (!gen) {
		memset(page, 0, PAGE);
		return;
	}
	if (kind == CONTENT_MIXED)
		kind = CONTENT_ZERO + (unsigned)((gfn * 0xff51afd7ed558ccdull) >>
						 62);
	if (kind == CONTENT_TEXT || kind == CONTENT_BINARY)
		pthread_once(&corpus_once, corpus_make);
	switch (kind) {
	case CONTENT_ZERO:
		memset(page, 0, PAGE);
		break;
	case CONTENT_TEXT:
	case CONTENT_BINARY:
		memcpy(page, (kind == CONTENT_TEXT ? text : binary) +
				     (seed >> 20) % (CORPUS - PAGE) / 8 * 8,
		       PAGE);
		break;
	default:
		for (size_t k = 0; k < PAGE / 8; k++)
			page[k] = tag ^ (k * 0x9e3779b97f4a7c15ull);
		break;
	}
	page[0] = tag;
}
