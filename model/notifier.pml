/* notifier.pml - the MMU-notifier protocol of vmsync, as spin checks it.
 *
 * One host thread takes a page away (invalidate start, unmap, free, end),
 * one vCPU keeps accessing the page through its TLB, its spte, or the
 * shadow fault (seq / in-progress check and retry).  Safety: no access ever
 * reaches a freed frame, and start/end pair (in_progress back to 0).
 * Broken variants, each of which spin must refute:
 *   -DSEQ_AFTER_UNLOCK   end bumps seq after dropping mmu_lock
 *   -DCOUNT_BEFORE_SEQ   end drops the count before the seq, unlocked
 *   -DNO_RETRY           the fault installs without the check
 *   -DNO_FLUSH_WAIT      start does not wait for the vCPU's ack
 */

#define NONE 0
byte pte = 1;                   /* host PTE: frame 1 mapped, 2 unused */
byte refcnt[3];                 /* frame 1: the PTE's reference */
bool freed[3];

bool mmu_lock;
byte seq, in_progress;
byte spte = 1;                  /* the shadow entry, the TLB: frame 1 */
byte tlb = 1;

byte flush_req, flush_ack;
bool in_guest = true;
bool host_done, vcpu_done;

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

/* The vCPU's check of its request word, at every entry and access. */
inline check_requests() {
	if
	:: flush_ack != flush_req -> tlb = NONE; flush_ack = flush_req
	:: else -> skip
	fi
}

inline access(f) { assert(!freed[f]) }

proctype host()
{
	bool zapped;

	/* start */
	lock();
	in_progress++;
	zapped = spte != NONE;
	spte = NONE;
	unlock();
	if
	:: zapped ->
		flush_req++;
#ifndef NO_FLUSH_WAIT
		(!in_guest || flush_ack == flush_req)
#endif
	:: else -> skip
	fi;

	/* the page table change, and the frame goes */
	byte old;
	atomic { old = pte; pte = NONE };
	put(old);

	/* end */
#if defined(SEQ_AFTER_UNLOCK)
	lock(); in_progress--; unlock(); seq++;
#elif defined(COUNT_BEFORE_SEQ)
	in_progress--; lock(); seq++; unlock();
#else
	lock(); seq++; in_progress--; unlock();
#endif
	host_done = true
}

proctype vcpu()
{
	byte n, mseq, p;

	do
	:: n < 3 ->
		n++;
		check_requests();
		if
		:: tlb != NONE -> access(tlb)
		:: tlb == NONE && spte != NONE ->
			atomic { tlb = spte };
			access(tlb)
		:: tlb == NONE && spte == NONE ->
			/* the fault, outside guest mode */
			in_guest = false;
retry:
			mseq = seq;
			atomic {        /* get_user_pages: fault in, take a ref */
				if
				:: pte == NONE -> pte = 2; refcnt[2] = 1
				:: else -> skip
				fi;
				p = pte;
				refcnt[p]++
			}
			lock();
#ifndef NO_RETRY
			if
			:: in_progress > 0 || seq != mseq ->
				unlock(); put(p); goto retry
			:: else -> skip
			fi;
#endif
			spte = p;
			unlock();
			put(p);
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
	refcnt[1] = 1;
	atomic { run host(); run vcpu() };
	(host_done && vcpu_done);
	assert(in_progress == 0)
}
