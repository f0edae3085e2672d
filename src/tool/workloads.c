/* workloads.c - the guest programs of `vmsync run`, each with its oracle:
 * verify (patterns in shared chunks, knows of host discards), zipf (skewed
 * random reads and writes), stream (sequential scans), kv (a hash table in
 * guest RAM) and idle (touched once, then left to the host). */
#define _GNU_SOURCE
#include "tool/run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- verify: chunks shared by all vCPUs, taken by trylock ---- */

/* Checks every page of chunk @c holds what it must. */
static bool verify_chunk(struct run *run, struct vms_vcpu *v, uint64_t c,
			 uint64_t *buf, uint64_t *want)
{
	for (uint64_t p = 0; p < CHUNK_PAGES; p++) {
		uint64_t gfn = c * CHUNK_PAGES + p;

		if (!guest_io(run, v, gfn * PAGE, buf, PAGE, false))
			return false;
		pattern(run, want, gfn, run->chunks[c].zero ? 0 : run->chunks[c].gen);
		for (size_t k = 0; k < PAGE / 8; k++)
			if (buf[k] != want[k]) {
				note_mismatch(run, gfn * PAGE + k * 8, want[k], buf[k]);
				break;
			}
	}
	return true;
}

static int guest_verify(struct vms_vcpu *v, void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *run = a->run;
	uint64_t rng = a->seed, buf[PAGE / 8], want[PAGE / 8];
	bool go = true;

	while (go) {
		uint64_t c = tool_rand(&rng) % run->nr_chunks;
		struct chunk *ch = &run->chunks[c];

		if (pthread_mutex_trylock(&ch->lock)) {
			go = !atomic_load(&run->stop);
			continue;
		}
		/* What the last pass (or a discard) left, then a new
		 * generation written and read back. */
		bool ok = verify_chunk(run, v, c, buf, want);
		if (ok) {
			ch->gen++;
			ch->zero = false;
			for (uint64_t p = 0; ok && p < CHUNK_PAGES; p++) {
				uint64_t gfn = c * CHUNK_PAGES + p;

				pattern(run, buf, gfn, ch->gen);
				ok = guest_io(run, v, gfn * PAGE, buf, PAGE, true);
			}
		}
		if (ok)
			ok = verify_chunk(run, v, c, buf, want);
		pthread_mutex_unlock(&ch->lock);
		go = ok && run_tick(run, 1, 3 * CHUNK_PAGES * PAGE);
	}
	return 0;
}

/* ---- the vCPU-private workloads: vCPU i owns gfns i, i+n, i+2n ... ---- */

struct own {
	uint64_t nr;                /* pages this vCPU owns */
	unsigned idx, stride;
};

static struct own own_pages(const struct vcpu_arg *a)
{
	const struct run *run = a->run;
	uint64_t pages = run->cfg.guest_mem / PAGE;
	unsigned n = run->cfg.vcpus;

	return (struct own){ .nr = pages / n + (a->idx < pages % n),
			     .idx = a->idx, .stride = n };
}

static uint64_t own_gfn(const struct own *o, uint64_t i)
{
	return i * o->stride + o->idx;
}

/* The word a page holds at version @ver (0: never written, zero). */
static uint64_t word_of(uint64_t gfn, uint32_t ver)
{
	return ver ? (0xa5ull << 56) | (gfn << 24) | ver : 0;
}

static uint64_t word_gpa(uint64_t gfn)
{
	return gfn * PAGE + (gfn % (PAGE / 8)) * 8;
}

/* A random order of the vCPU's pages: the hot ranks land all over. */
static uint64_t *shuffle(uint64_t n, uint64_t *rng)
{
	uint64_t *p = malloc(n * sizeof(*p));

	for (uint64_t i = 0; p && i < n; i++)
		p[i] = i;
	for (uint64_t i = n; p && i > 1; i--) {
		uint64_t j = tool_rand(rng) % i, t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

/* zipf: skewed random reads (70%) and writes of one word per page. */
static int guest_zipf(struct vms_vcpu *v, void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *run = a->run;
	struct own o = own_pages(a);
	uint64_t rng = a->seed;
	uint32_t *ver = calloc(o.nr, sizeof(*ver));
	uint64_t *order = shuffle(o.nr, &rng);
	struct zipf z;
	bool go = ver && order;

	if (!go)
		run_fail(run, -ENOMEM);
	else
		zipf_init(&z, o.nr, run->cfg.zipf_theta);
	while (go) {
		uint64_t i = order[zipf_next(&z, &rng)], gfn = own_gfn(&o, i);
		uint64_t w;

		if (tool_rand(&rng) % 10 < 3) {
			w = word_of(gfn, ver[i] + 1);
			if (!(go = guest_io(run, v, word_gpa(gfn), &w, 8, true)))
				break;
			ver[i]++;
		} else {
			if (!(go = guest_io(run, v, word_gpa(gfn), &w, 8, false)))
				break;
			if (w != word_of(gfn, ver[i]))
				note_mismatch(run, word_gpa(gfn), word_of(gfn, ver[i]), w);
		}
		go = run_tick(run, 1, 8);
	}
	free(ver);
	free(order);
	return 0;
}

/* stream: whole-page sequential scans, writing a generation, then reading
 * it back on the next scan. */
static int guest_stream(struct vms_vcpu *v, void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *run = a->run;
	struct own o = own_pages(a);
	uint64_t buf[PAGE / 8], want[PAGE / 8];
	bool go = true;

	for (uint32_t gen = 1; go; gen++) {
		for (uint64_t i = 0; go && i < o.nr; i++) {
			uint64_t gfn = own_gfn(&o, i);

			pattern(run, buf, gfn, gen);
			go = guest_io(run, v, gfn * PAGE, buf, PAGE, true) &&
			     run_tick(run, 1, PAGE);
		}
		for (uint64_t i = 0; go && i < o.nr; i++) {
			uint64_t gfn = own_gfn(&o, i);

			if (!(go = guest_io(run, v, gfn * PAGE, buf, PAGE, false)))
				break;
			pattern(run, want, gfn, gen);
			if (memcmp(buf, want, PAGE)) {
				size_t k = 0;

				while (buf[k] == want[k])
					k++;
				note_mismatch(run, gfn * PAGE + k * 8, want[k], buf[k]);
			}
			go = run_tick(run, 1, PAGE);
		}
	}
	return 0;
}

/*
 * kv: an open-addressing hash table living in the vCPU's guest pages
 * (16-byte entries: key + 1, value), Zipf keys, 70% gets.  Entries are
 * never deleted, so a get walks the probe chain to its key or to an empty
 * entry.  The oracle is the value last put for each key.
 */
struct kv_entry {
	uint64_t key1, val;
};

#define KV_PER_PAGE (PAGE / sizeof(struct kv_entry))

static uint64_t kv_gpa(const struct own *o, uint64_t slot)
{
	return own_gfn(o, slot / KV_PER_PAGE) * PAGE +
	       (slot % KV_PER_PAGE) * sizeof(struct kv_entry);
}

static int guest_kv(struct vms_vcpu *v, void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *run = a->run;
	struct own o = own_pages(a);
	uint64_t slots = o.nr * KV_PER_PAGE, keys = slots / 2, rng = a->seed;
	uint64_t *oracle = calloc(keys, sizeof(*oracle));
	struct zipf z;
	bool go = oracle != NULL;

	if (!go)
		run_fail(run, -ENOMEM);
	else
		zipf_init(&z, keys, run->cfg.zipf_theta);
	for (uint64_t puts = 1; go; puts++) {
		uint64_t key = zipf_next(&z, &rng);
		bool put = tool_rand(&rng) % 10 < 3;
		uint64_t s = (key * 0x9e3779b97f4a7c15ull) % slots;
		struct kv_entry e;

		for (;; s = (s + 1) % slots) {
			if (!(go = guest_io(run, v, kv_gpa(&o, s), &e, sizeof(e), false)))
				break;
			if (e.key1 == key + 1 || !e.key1)
				break;
		}
		if (!go)
			break;
		if (put) {
			e = (struct kv_entry){ key + 1, key << 32 | (puts & 0xffffffff) };
			if (!(go = guest_io(run, v, kv_gpa(&o, s), &e, sizeof(e), true)))
				break;
			oracle[key] = e.val;
		} else if ((e.key1 ? e.val : 0) != oracle[key]) {
			note_mismatch(run, kv_gpa(&o, s), oracle[key], e.key1 ? e.val : 0);
		}
		go = run_tick(run, 1, sizeof(e));
	}
	free(oracle);
	return 0;
}

/* idle: every page written once, then mostly asleep (halted, so flushes
 * do not wait for it), waking to check a page now and then: memory the
 * host should reclaim. */
static int guest_idle(struct vms_vcpu *v, void *arg)
{
	struct vcpu_arg *a = arg;
	struct run *run = a->run;
	struct own o = own_pages(a);
	uint64_t buf[PAGE / 8], want[PAGE / 8], rng = a->seed;
	bool go = true;

	for (uint64_t i = 0; go && i < o.nr; i++) {
		pattern(run, buf, own_gfn(&o, i), 1);
		go = guest_io(run, v, own_gfn(&o, i) * PAGE, buf, PAGE, true) &&
		     run_tick(run, 1, PAGE);
	}
	while (go) {
		vms_guest_halt(v, 20000000);
		uint64_t gfn = own_gfn(&o, tool_rand(&rng) % o.nr);

		if (!(go = guest_io(run, v, gfn * PAGE, buf, PAGE, false)))
			break;
		pattern(run, want, gfn, 1);
		if (memcmp(buf, want, PAGE))
			note_mismatch(run, gfn * PAGE, want[0], buf[0]);
		go = run_tick(run, 1, PAGE);
	}
	return 0;
}

const struct workload workloads[] = {
	{ "verify", "patterns in 1 MiB chunks, checked before and after each "
		    "write; the host may discard them", true, guest_verify },
	{ "zipf", "skewed random reads and writes (--zipf-theta)", false,
	  guest_zipf },
	{ "stream", "sequential whole-page scans, write then read back", false,
	  guest_stream },
	{ "kv", "a hash table in guest RAM, Zipf keys, 70% gets", false,
	  guest_kv },
	{ "idle", "touch every page, then sleep: memory to reclaim", false,
	  guest_idle },
};
const size_t nr_workloads = sizeof(workloads) / sizeof(workloads[0]);

const struct workload *workload_find(const char *name)
{
	for (size_t i = 0; i < nr_workloads; i++)
		if (!strcmp(workloads[i].name, name))
			return &workloads[i];
	return NULL;
}
