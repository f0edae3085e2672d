/* range.pml - vmsync's range-based retry (src/guest/mmu.c), as spin
 * checks it.
 *
 * Two host threads each invalidate a page of two, twice, taking it away
 * and freeing its frame; one vCPU accesses either page, twice, through its
 * TLB, its spte or the shadow fault.  The fault retries only when a
 * running pair covers its page, or a pair that ended since it read seq
 * did: ended pairs are remembered in a ring of RING records, and a fault
 * that missed RING pairs or more (some may be overwritten) retries.  Each
 * fault-in gets a fresh frame, so a stale translation is an access to a
 * freed frame.
 *
 * Safety: no access reaches a freed frame; start/end pair.  Broken
 * variants, each of which spin must refute:
 *   -DNO_RING        the fault checks only the running pairs
 *   -DNO_RING_WRAP   the fault trusts the ring even when pairs fell out
 *   -DRUNNING_EARLY  end drops its running record before the seq moves,
 *                    outside the lock
 *   -DFLUSH_UNLOCKED start flushes after dropping mmu_lock (the bug
 *                    vmsync once had: the other start, finding the spte
 *                    gone, frees the frame under a live TLB entry)
 */

#define NONE 0
#define PAGES 2
#define RING 2
#define ITER 2                  /* invalidations per host thread */
#define FRAMES 7                /* 1-based: 2 initial, a fault-in per unmap */

byte pte[PAGES];                /* host PTEs: frame or NONE */
byte refcnt[FRAMES];
bool freed[FRAMES];
byte next_frame = 3;

bool mmu_lock;
byte seq, in_progress;
byte running[2];                /* per host thread: page + 1 while running */
byte ring_seq[RING], ring_page[RING];
byte spte[PAGES], tlb[PAGES];

byte flush_req, flush_ack;
bool in_guest = true;
byte hosts_done;
bool vcpu_done;

inline lock()   { atomic { !mmu_lock -> mmu_lock = true } }
inline unlock() { mmu_lock = false }

inline put(f) {
	atomic {
		refcnt[f]--;
		if
		:: refcnt[f] == 0 -> freed[f] = true
		:: else -> skip
		fi
	}
}

inline check_requests() {
	if
	:: flush_ack != flush_req ->
		tlb[0] = NONE; tlb[1] = NONE; flush_ack = flush_req
	:: else -> skip
	fi
}

inline access(f) { assert(!freed[f]) }

proctype host(byte me)
{
	byte pg, old, it;
	bool zapped;

again:
	if
	:: pg = 0
	:: pg = 1
	fi;
	/* start: the range is running before its sptes go */
	lock();
	in_progress++;
	running[me] = pg + 1;
	zapped = spte[pg] != NONE;
	spte[pg] = NONE;
#ifdef FLUSH_UNLOCKED
	unlock();
#endif
	/* Flushed under the lock: a second start that finds the spte gone
	 * must not return before this flush is acknowledged. */
	if
	:: zapped -> flush_req++; (!in_guest || flush_ack == flush_req)
	:: else -> skip
	fi;
#ifndef FLUSH_UNLOCKED
	unlock();
#endif

	atomic { old = pte[pg]; pte[pg] = NONE };
	if
	:: old != NONE -> put(old)
	:: else -> skip
	fi;

	/* end: record, seq, running dropped, count: one critical section */
#ifdef RUNNING_EARLY
	running[me] = 0;
#endif
	lock();
	ring_seq[(seq + 1) % RING] = seq + 1;
	ring_page[(seq + 1) % RING] = pg;
	seq++;
	running[me] = 0;
	in_progress--;
	unlock();
	it++;
	if
	:: it < ITER -> goto again
	:: else -> skip
	fi;
	atomic { hosts_done++ }
}

/* Under mmu_lock: may what the fault found for page @p at @mseq be stale? */
inline must_retry(p, mseq, stale) {
	byte s;

	stale = (running[0] == p + 1 || running[1] == p + 1);
#ifndef NO_RING
#ifndef NO_RING_WRAP
	if
	:: seq - mseq >= RING -> stale = true       /* some fell out */
	:: else -> skip
	fi;
#endif
	s = mseq + 1;
	do
	:: s <= seq ->
#ifndef NO_RING_WRAP
		if
		:: ring_seq[s % RING] != s -> stale = true
		:: else -> skip
		fi;
#endif
		if
		:: ring_page[s % RING] == p -> stale = true
		:: else -> skip
		fi;
		s++
	:: else -> break
	od
#endif
}

proctype vcpu()
{
	byte n, mseq, f, p;
	bool stale;

	do
	:: n < 2 ->
		n++;
		if
		:: p = 0
		:: p = 1
		fi;
		check_requests();
		if
		:: tlb[p] != NONE -> access(tlb[p])
		:: tlb[p] == NONE && spte[p] != NONE ->
			atomic { tlb[p] = spte[p] };
			access(tlb[p])
		:: tlb[p] == NONE && spte[p] == NONE ->
			in_guest = false;
retry:
			mseq = seq;
			atomic {
				if
				:: pte[p] == NONE ->
					pte[p] = next_frame; refcnt[next_frame] = 1;
					next_frame++
				:: else -> skip
				fi;
				f = pte[p];
				refcnt[f]++
			}
			lock();
			must_retry(p, mseq, stale);
			if
			:: stale -> unlock(); put(f); goto retry
			:: else -> skip
			fi;
			spte[p] = f;
			unlock();
			put(f);
			in_guest = true;
			check_requests()
		fi
	:: else -> break
	od;
	in_guest = false;
	vcpu_done = true
}

init
{
	pte[0] = 1; refcnt[1] = 1; spte[0] = 1; tlb[0] = 1;
	pte[1] = 2; refcnt[2] = 1; spte[1] = 2; tlb[1] = 2;
	atomic { run host(0); run host(1); run vcpu() };
	(hosts_done == 2 && vcpu_done);
	assert(in_progress == 0 && running[0] == 0 && running[1] == 0)
}
