/* model.c - the candidate contents of a page (model.h): kept few by
 * merging equal ones; reads prune them. */
#define _GNU_SOURCE
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG VMS_PAGE_SIZE

static const uint8_t zero_page[PG];

static uint8_t *page_alloc(const uint8_t *from)
{
	uint8_t *b = malloc(PG);

	if (!b) {
		fprintf(stderr, "fuzz model: out of memory\n");
		abort();
	}
	memcpy(b, from, PG);
	return b;
}

static void cand_add(struct m_page *p, const uint8_t *from, bool lazy)
{
	if (p->n == M_MAX_CAND) {
		/* Reads prune the set after every op (api.c): a harness bug. */
		fprintf(stderr, "fuzz model: more than %d candidates\n",
			M_MAX_CAND);
		abort();
	}
	p->b[p->n] = page_alloc(from);
	p->lazy[p->n++] = lazy;
}

static void cand_drop(struct m_page *p, unsigned i)
{
	free(p->b[i]);
	p->n--;
	p->b[i] = p->b[p->n];
	p->lazy[i] = p->lazy[p->n];
}

/* Equal contents are one candidate; lazy if either was (that one allows
 * more). */
static void dedupe(struct m_page *p)
{
	for (unsigned i = 0; i < p->n; i++)
		for (unsigned j = p->n - 1; j > i; j--)
			if (!memcmp(p->b[i], p->b[j], PG)) {
				p->lazy[i] |= p->lazy[j];
				cand_drop(p, j);
			}
}

/* A lazy candidate may still become zeroes. */
static void keep_zero_if_lazy(struct m_page *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->lazy[i]) {
			cand_add(p, zero_page, false);
			dedupe(p);
			return;
		}
}

void m_map(struct m_page *p, int prot)
{
	m_unmap(p);
	p->mapped = true;
	p->prot = prot;
	cand_add(p, zero_page, false);
}

void m_unmap(struct m_page *p)
{
	while (p->n)
		cand_drop(p, p->n - 1);
	p->mapped = false;
}

void m_write(struct m_page *p, size_t off, const uint8_t *src, size_t len,
	     bool maybe)
{
	unsigned n = p->n;

	for (unsigned i = 0; i < n; i++) {
		if (maybe) {
			cand_add(p, p->b[i], false);
			memcpy(p->b[p->n - 1] + off, src, len);
		} else {
			memcpy(p->b[i] + off, src, len);
			p->lazy[i] = false;
		}
	}
	dedupe(p);
}

void m_lazyfree(struct m_page *p)
{
	for (unsigned i = 0; i < p->n; i++)
		p->lazy[i] = true;
	keep_zero_if_lazy(p);
}

bool m_observe(struct m_page *p, size_t off, const uint8_t *got, size_t len,
	       struct m_miss *miss)
{
	bool keep[M_MAX_CAND];
	unsigned kept = 0;

	for (unsigned i = 0; i < p->n; i++) {
		keep[i] = !memcmp(p->b[i] + off, got, len);
		kept += keep[i];
	}
	if (!kept) {
		*miss = (struct m_miss){ .n = p->n };
		for (unsigned i = 0; i < p->n; i++) {
			size_t at = 0;

			while (at < len && p->b[i][off + at] == got[at])
				at++;
			if (i == 0 || at > miss->at) {
				miss->at = at;
				miss->cand = i;
			}
		}
		miss->len = len - miss->at < sizeof(miss->want)
				    ? len - miss->at
				    : sizeof(miss->want);
		memcpy(miss->want, p->b[miss->cand] + off + miss->at, miss->len);
		memcpy(miss->got, got + miss->at, miss->len);
		miss->at += off;
		return false;
	}
	for (unsigned i = p->n; i-- > 0;)
		if (!keep[i])
			cand_drop(p, i);
	keep_zero_if_lazy(p);
	return true;
}

void m_pin_dirty(struct m_page *p, const uint8_t *got)
{
	for (unsigned i = p->n; i-- > 0;)
		if (memcmp(p->b[i], got, PG))
			cand_drop(p, i);
		else
			p->lazy[i] = false;
}
