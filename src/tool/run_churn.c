/* run_churn.c - the host's side of `vmsync run`: its storm of operations
 * on guest RAM under the running vCPUs (a table of them, drawn at random),
 * and the balloon, which takes guest RAM at a rate. */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmsync.h"

/* Where an operation acts: a chunk of guest RAM, its slot, and a length
 * within the chunk from its hva; @x the draw, for choices of its own. */
struct host_pick {
	uint64_t x, chunk, hva, len;
	struct slot *slot;
};

static struct slot *slot_of_chunk(struct run *run, uint64_t c, uint64_t *hva)
{
	uint64_t gfn = c * CHUNK_PAGES;
	struct slot *s = &run->slots[gfn / run->slots[0].npages];

	*hva = atomic_load(&s->hva) + (gfn - s->gfn) * PAGE;
	return s;
}

/* A discard needs the chunk to itself, to know what it holds after.
 * MADV_FREE counts as one: reclaim may drop the pages. */
enum discard { DISCARD_DONTNEED, DISCARD_REMAP, DISCARD_FREE };

static int host_discard(struct run *run, uint64_t c, enum discard how)
{
	struct chunk *ch = &run->chunks[c];
	uint64_t hva, got, len = CHUNK_PAGES * PAGE;
	int r;

	if (pthread_mutex_trylock(&ch->lock))
		return 0;
	pthread_rwlock_rdlock(&run->layout);
	slot_of_chunk(run, c, &hva);
	if (how == DISCARD_FREE) {
		r = vms_madvise(run->mm, hva, len, VMS_MADV_FREE);
		if (!r)
			r = vms_madvise(run->mm, hva, len, VMS_MADV_DONTNEED);
	} else if (how == DISCARD_DONTNEED) {
		r = vms_madvise(run->mm, hva, len, VMS_MADV_DONTNEED);
	} else {
		r = vms_munmap(run->mm, hva, len);
		if (!r)
			r = vms_mmap(run->mm, hva, len,
				     VMS_PROT_READ | VMS_PROT_WRITE,
				     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS |
					     VMS_MAP_FIXED,
				     &got);
	}
	if (!r)
		ch->zero = true;
	pthread_rwlock_unlock(&run->layout);
	pthread_mutex_unlock(&ch->lock);
	return r;
}

int run_slot_set(struct run *run, const struct slot *s, uint64_t npages,
		 uint64_t hva)
{
	struct vms_memslot m = { .slot = s->id, .guest_phys_addr = s->gfn * PAGE,
				 .memory_size = npages * PAGE,
				 .userspace_addr = hva };

	return vms_vm_set_memslot(run->vm, &m);
}

/* ---- the operations ---- */

static int op_dontneed(struct run *run, const struct host_pick *p)
{
	return host_discard(run, p->chunk, DISCARD_DONTNEED);
}

static int op_remap(struct run *run, const struct host_pick *p)
{
	return host_discard(run, p->chunk, DISCARD_REMAP);
}

static int op_free(struct run *run, const struct host_pick *p)
{
	return host_discard(run, p->chunk, DISCARD_FREE);
}

static int op_mprotect(struct run *run, const struct host_pick *p)
{
	int r = vms_mprotect(run->mm, p->hva, p->len, VMS_PROT_READ);

	usleep(100);
	return r ? r : vms_mprotect(run->mm, p->hva, p->len,
				    VMS_PROT_READ | VMS_PROT_WRITE);
}

static int op_cold(struct run *run, const struct host_pick *p)
{
	return vms_madvise(run->mm, p->hva, p->len, VMS_MADV_COLD);
}

static int op_slot_move(struct run *run, const struct host_pick *p)
{
	struct slot *s = p->slot;
	uint64_t to = s->home[!s->at], got, size = s->npages * PAGE;

	pthread_rwlock_wrlock(&run->layout);
	int r = vms_mremap(run->mm, atomic_load(&s->hva), size, size,
			   VMS_MREMAP_MAYMOVE | VMS_MREMAP_FIXED, to, &got);
	if (!r)
		r = run_slot_set(run, s, s->npages, to);
	if (!r) {
		atomic_store(&s->hva, to);
		s->at = !s->at;
	}
	pthread_rwlock_unlock(&run->layout);
	return r;
}

static int op_slot_readd(struct run *run, const struct host_pick *p)
{
	struct slot *s = p->slot;

	pthread_rwlock_wrlock(&run->layout);
	int r = run_slot_set(run, s, 0, 0);

	usleep(100);
	if (!r)
		r = run_slot_set(run, s, s->npages, atomic_load(&s->hva));
	pthread_rwlock_unlock(&run->layout);
	return r;
}

static int op_pageout(struct run *run, const struct host_pick *p)
{
	return vms_madvise(run->mm, p->hva, p->len, VMS_MADV_PAGEOUT);
}

static int op_willneed(struct run *run, const struct host_pick *p)
{
	return vms_madvise(run->mm, p->hva, p->len, VMS_MADV_WILLNEED);
}

static int op_migrate(struct run *run, const struct host_pick *p)
{
	int r = vms_migrate(run->mm, p->hva, p->len,
			    (unsigned)((p->x >> 20) % run->cfg.nodes), NULL);

	return r == -ENOMEM ? 0 : r;        /* the node is full: fine */
}

/* The discards come first: the churn draws from FIRST_KEEPING on when
 * the workload's oracle does not know of discards.  The balloon has no
 * operation of the churn's: it only counts here. */
#define FIRST_KEEPING OP_MPROTECT
const struct host_op churn_ops[NR_HOST_OPS] = {
	[OP_DONTNEED] = { "dontneed", op_dontneed },
	[OP_REMAP] = { "remap", op_remap },
	[OP_FREE] = { "free", op_free },
	[OP_MPROTECT] = { "mprotect", op_mprotect },
	[OP_COLD] = { "cold", op_cold },
	[OP_SLOT_MOVE] = { "slot-move", op_slot_move },
	[OP_SLOT_READD] = { "slot-readd", op_slot_readd },
	[OP_PAGEOUT] = { "pageout", op_pageout },
	[OP_WILLNEED] = { "willneed", op_willneed },
	[OP_MIGRATE] = { "migrate", op_migrate },
	[OP_BALLOON] = { "balloon", NULL },
};

void *host_churn(void *arg)
{
	struct host_thread *t = arg;
	struct run *run = t->run;
	uint64_t rng = t->seed;
	/* Discards only where the workload's oracle knows of them. */
	unsigned first = run->cfg.workload->discards ? 0 : FIRST_KEEPING;

	while (!atomic_load(&run->stop)) {
		uint64_t x = tool_rand(&rng);
		unsigned op = first + (unsigned)(x % (OP_BALLOON - first));
		struct host_pick p = { .x = x, .chunk = (x >> 8) % run->nr_chunks,
				       .len = (1 + (x >> 40) % CHUNK_PAGES) * PAGE };

		p.slot = slot_of_chunk(run, p.chunk, &p.hva);
		int r = churn_ops[op].fn(run, &p);
		if (r) {
			fprintf(stderr, "vmsync: host %s failed: %s\n",
				churn_ops[op].name, strerror(-r));
			run_fail(run, r);
			break;
		}
		atomic_fetch_add_explicit(&run->host_ops[op], 1,
					  memory_order_relaxed);
		usleep(200);
	}
	return NULL;
}

/* The balloon: a chunk of guest RAM taken (discarded) at the rate asked,
 * whoever else acts on guest RAM meanwhile. */
void *host_balloon(void *arg)
{
	struct host_thread *t = arg;
	struct run *run = t->run;
	uint64_t rng = t->seed;
	uint64_t period = (uint64_t)(CHUNK_PAGES * PAGE * 1e9 /
				     (double)run->cfg.balloon_rate);
	uint64_t next = tool_now_ns();

	while (!atomic_load(&run->stop)) {
		uint64_t now = tool_now_ns();

		if (now < next) {
			uint64_t wait = next - now < 100000000 ? next - now
							       : 100000000;
			struct timespec ts = { 0, (long)wait };

			nanosleep(&ts, NULL);
			continue;
		}
		next += period;
		int r = host_discard(run, tool_rand(&rng) % run->nr_chunks,
				     DISCARD_DONTNEED);
		if (r) {
			fprintf(stderr, "vmsync: balloon failed: %s\n",
				strerror(-r));
			run_fail(run, r);
			break;
		}
		atomic_fetch_add_explicit(&run->host_ops[OP_BALLOON], 1,
					  memory_order_relaxed);
	}
	return NULL;
}
