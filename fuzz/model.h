/* model.h - the API harness's reference model of one page of guest RAM:
 * the contents it may hold.  Usually one; more after MADV_FREE (the data,
 * or zeroes once reclaim dropped it) and after a write that failed part
 * way (done or not).  What a read returns rules out the others. */
#ifndef VMS_FUZZ_MODEL_H
#define VMS_FUZZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmsync.h"

#define M_MAX_CAND 8

struct m_page {
	bool mapped;
	int prot;
	unsigned n;                     /* candidates; >= 1 while mapped */
	/* lazy: MADV_FREE and not written since, so it may still become
	 * zeroes; while any candidate is lazy, a zero one is there too. */
	bool lazy[M_MAX_CAND];
	uint8_t *b[M_MAX_CAND];         /* VMS_PAGE_SIZE bytes each */
};

/* A fresh mapping: zeroes. */
void m_map(struct m_page *p, int prot);
void m_unmap(struct m_page *p);
/* @len bytes at @off written; @maybe: or not (a write that failed later
 * on may or may not have copied this part). */
void m_write(struct m_page *p, size_t off, const uint8_t *src, size_t len,
	     bool maybe);
/* MADV_FREE: as it is, or zeroes from any time until the next write. */
void m_lazyfree(struct m_page *p);

/* Where a read disagreed with every candidate: the first differing byte
 * of the candidate that agreed longest. */
struct m_miss {
	size_t at;                      /* offset in the page */
	unsigned cand, n;
	uint8_t want[16], got[16];
	size_t len;                     /* of want and got */
};
/* A read of [off, off+len) returned @got: keeps the candidates that hold
 * it, or returns false with @miss filled and the page unchanged. */
bool m_observe(struct m_page *p, size_t off, const uint8_t *got, size_t len,
	       struct m_miss *miss);
/* Someone took the page for writing (vms_get_page) and saw @got, all of
 * it: that is the page now, and it can no longer turn to zeroes. */
void m_pin_dirty(struct m_page *p, const uint8_t *got);

#endif /* VMS_FUZZ_MODEL_H */
