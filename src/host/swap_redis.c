/* swap_redis.c - a swap backend on a Redis server (far memory): a slot is
 * a key, written and read in pipelined batches over a few connections.
 * Every value carries a header (magic, area, slot, generation, checksum)
 * so that a value that is missing, another area's, stale or corrupt is an
 * -EIO, never data.  With replicas asked for, a write counts only once
 * WAIT says that many replicas hold it.  A connection that failed is made
 * again at its next use, so the backend comes back with the server. */
#define _GNU_SOURCE
#include "host/host.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RS_CONNS 4
#define RS_MAGIC 0x766d73706167ull          /* "vmspag" */
#define RS_WAIT_MS 5000                     /* for replicas to have a write */
#define RS_TIMEOUT_MS 10000                 /* connect, and each reply */

struct rs_header {
	uint64_t magic, area, slot;
	uint32_t gen, pad;
	uint64_t sum;
};

struct rs_conn {
	redisContext *c;                /* NULL: to be made at next use */
	bool busy;
};

struct swap_redis {
	struct vms_swap_backend be;
	char host[256];
	int port;                       /* 0: @host is a unix socket path */
	unsigned replicas;
	uint64_t area;                  /* this backend's keys among others' */

	/* conns[] and their busy bits under lock; a connection is used by
	 * one call at a time. */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct rs_conn conns[RS_CONNS];
	/* gen[slot]: the generation of the slot's last good write, 0 when
	 * it holds nothing (atomics: writers of a slot are one at a time). */
	_Atomic uint32_t *gen;
	char name[300];
};

#define RS(be) container_of(be, struct swap_redis, be)

static uint64_t page_sum(const uint64_t *w, const struct rs_header *h)
{
	uint64_t s = h->area * 0x9e3779b97f4a7c15ull ^ h->slot ^
		     (uint64_t)h->gen << 32;

	for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
		s = (s ^ w[i]) * 0x100000001b3ull + i;
	return s;
}

static redisContext *rs_connect(const struct swap_redis *r)
{
	struct timeval tv = { RS_TIMEOUT_MS / 1000, RS_TIMEOUT_MS % 1000 * 1000 };
	redisContext *c = r->port ? redisConnectWithTimeout(r->host, r->port, tv)
				  : redisConnectUnixWithTimeout(r->host, tv);

	if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK)
		return c;
	if (c)
		redisFree(c);
	return NULL;
}

/* A library must not die of a server that went away: SIGPIPE is blocked
 * while the thread talks to Redis, and one it raised is taken back. */
struct rs_sig {
	sigset_t old;
	bool pending;
};

static void sigpipe_block(struct rs_sig *g)
{
	sigset_t pipe, now;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
	g->pending = !sigpending(&now) && sigismember(&now, SIGPIPE);
}

static void sigpipe_restore(struct rs_sig *g)
{
	if (!g->pending) {
		sigset_t pipe;
		struct timespec none = { 0, 0 };

		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		while (sigtimedwait(&pipe, NULL, &none) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* A connection for this call, made (again) when it has none; SIGPIPE
 * blocked until conn_put. */
static struct rs_conn *conn_get(struct swap_redis *r, struct rs_sig *g)
{
	struct rs_conn *k = NULL;

	sigpipe_block(g);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		for (unsigned i = 0; i < RS_CONNS && !k; i++)
			if (!r->conns[i].busy)
				k = &r->conns[i];
		if (k)
			break;
		pthread_cond_wait(&r->freed, &r->lock);
	}
	k->busy = true;
	pthread_mutex_unlock(&r->lock);
	if (!k->c)
		k->c = rs_connect(r);
	return k;
}

/* Gives the connection back; one that failed is dropped, to be made
 * again (a pipeline half read cannot be trusted). */
static void conn_put(struct swap_redis *r, struct rs_conn *k, bool failed,
		     struct rs_sig *g)
{
	if (failed && k->c) {
		redisFree(k->c);
		k->c = NULL;
	}
	pthread_mutex_lock(&r->lock);
	k->busy = false;
	pthread_cond_signal(&r->freed);
	pthread_mutex_unlock(&r->lock);
	sigpipe_restore(g);
}

static int key_of(const struct swap_redis *r, uint64_t slot, char *buf,
		  size_t size)
{
	return snprintf(buf, size, "vmsync:%016llx:%llu",
			(unsigned long long)r->area, (unsigned long long)slot);
}

/* Checks a value read for @slot and copies its page out: 0, or -EIO for
 * one that is missing, of another area or slot, stale or corrupt. */
static int value_check(const struct swap_redis *r, uint64_t slot,
		       const redisReply *rep, void *page)
{
	struct rs_header h;

	if (!rep || rep->type != REDIS_REPLY_STRING ||
	    rep->len != sizeof(h) + PAGE_SIZE)
		return -EIO;
	memcpy(&h, rep->str, sizeof(h));
	memcpy(page, rep->str + sizeof(h), PAGE_SIZE);
	if (h.magic != RS_MAGIC || h.area != r->area || h.slot != slot ||
	    h.gen != atomic_load(&r->gen[slot]) || h.gen == 0 ||
	    h.sum != page_sum(page, &h))
		return -EIO;
	return 0;
}

static int redis_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		    size_t n)
{
	struct swap_redis *r = RS(be);
	uint8_t *val = NULL;
	uint32_t gens[64];
	bool writes = false;
	char key[64];

	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (io[i].slot >= be->nr_slots || !io[i].slot)
			return -EINVAL;
		io[i].res = -EIO;
		writes |= io[i].write;
	}
	if (writes && !(val = vms_malloc(sizeof(struct rs_header) + PAGE_SIZE)))
		return -ENOMEM;
	struct rs_sig g;
	struct rs_conn *k = conn_get(r, &g);
	bool failed = !k->c;

	/* The batch, pipelined; then WAIT when writes must reach replicas. */
	for (size_t i = 0; i < n && !failed; i++) {
		key_of(r, io[i].slot, key, sizeof(key));
		if (!io[i].write) {
			failed = redisAppendCommand(k->c, "GET %s", key) != REDIS_OK;
			continue;
		}
		struct rs_header h = { .magic = RS_MAGIC, .area = r->area,
				       .slot = io[i].slot };

		h.gen = atomic_load(&r->gen[io[i].slot]) + 1;
		if (!h.gen)
			h.gen = 1;
		gens[i] = h.gen;
		h.sum = page_sum(io[i].buf, &h);
		memcpy(val, &h, sizeof(h));
		memcpy(val + sizeof(h), io[i].buf, PAGE_SIZE);
		failed = redisAppendCommand(k->c, "SET %s %b", key, val,
					    sizeof(h) + PAGE_SIZE) != REDIS_OK;
	}
	if (!failed && writes && r->replicas)
		failed = redisAppendCommand(k->c, "WAIT %u %u", r->replicas,
					    RS_WAIT_MS) != REDIS_OK;
	bool stored[64] = { false };
	for (size_t i = 0; i < n && !failed; i++) {
		redisReply *rep;

		if (redisGetReply(k->c, (void **)&rep) != REDIS_OK) {
			failed = true;
			break;
		}
		if (io[i].write)
			stored[i] = rep->type == REDIS_REPLY_STATUS &&
				    !strcmp(rep->str, "OK");
		else
			io[i].res = value_check(r, io[i].slot, rep, io[i].buf);
		freeReplyObject(rep);
	}
	bool replicated = true;
	if (!failed && writes && r->replicas) {
		redisReply *rep;

		if (redisGetReply(k->c, (void **)&rep) != REDIS_OK) {
			failed = true;
		} else {
			replicated = rep->type == REDIS_REPLY_INTEGER &&
				     rep->integer >= (long long)r->replicas;
			freeReplyObject(rep);
		}
	}
	/* A write counts once stored (and replicated): only then does the
	 * slot's generation move, so an older value reads as stale. */
	for (size_t i = 0; i < n; i++)
		if (io[i].write && stored[i] && replicated && !failed) {
			atomic_store(&r->gen[io[i].slot], gens[i]);
			io[i].res = 0;
		}
	conn_put(r, k, failed, &g);
	vms_free(val);
	return 0;
}

/* DELs the values of @n slots in one pipeline (best effort: with the
 * generations gone they can no longer be read as data). */
static void del_slots(struct swap_redis *r, const uint64_t *slots, size_t n)
{
	struct rs_sig g;
	struct rs_conn *k = conn_get(r, &g);
	bool failed = !k->c;
	char key[64];

	for (size_t i = 0; i < n && !failed; i++) {
		key_of(r, slots[i], key, sizeof(key));
		failed = redisAppendCommand(k->c, "DEL %s", key) != REDIS_OK;
	}
	for (size_t i = 0; i < n && !failed; i++) {
		redisReply *rep;

		failed = redisGetReply(k->c, (void **)&rep) != REDIS_OK;
		if (!failed)
			freeReplyObject(rep);
	}
	conn_put(r, k, failed, &g);
}

static void redis_discard(struct vms_swap_backend *be, uint64_t slot)
{
	struct swap_redis *r = RS(be);

	if (slot < be->nr_slots && atomic_exchange(&r->gen[slot], 0))
		del_slots(r, &slot, 1);
}

static void redis_release(struct vms_swap_backend *be)
{
	struct swap_redis *r = RS(be);
	uint64_t batch[256];
	size_t n = 0;

	/* Leave the server nothing of ours. */
	for (uint64_t s = 1; s < be->nr_slots; s++) {
		if (atomic_exchange(&r->gen[s], 0))
			batch[n++] = s;
		if (n == 256 || (n && s + 1 == be->nr_slots)) {
			del_slots(r, batch, n);
			n = 0;
		}
	}
	for (unsigned i = 0; i < RS_CONNS; i++)
		if (r->conns[i].c)
			redisFree(r->conns[i].c);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->freed);
	vms_free(r->gen);
	vms_free(r);
}

/* "redis://HOST:PORT" or "unix:PATH", with "?replicas=N" after either. */
static int parse_url(struct swap_redis *r, const char *url)
{
	const char *q = strchr(url, '?');
	size_t len = q ? (size_t)(q - url) : strlen(url);
	char spec[300];

	if (len >= sizeof(spec))
		return -EINVAL;
	memcpy(spec, url, len);
	spec[len] = 0;
	if (q) {
		char *end;
		unsigned long n;

		if (strncmp(q, "?replicas=", 10))
			return -EINVAL;
		n = strtoul(q + 10, &end, 10);
		if (*end || end == q + 10 || n > 16)
			return -EINVAL;
		r->replicas = (unsigned)n;
	}
	if (!strncmp(spec, "unix:", 5)) {
		if (!spec[5] || strlen(spec + 5) >= sizeof(r->host))
			return -EINVAL;
		strcpy(r->host, spec + 5);
		r->port = 0;
		return 0;
	}
	if (strncmp(spec, "redis://", 8))
		return -EINVAL;
	char *colon = strrchr(spec + 8, ':'), *end;

	if (!colon || colon == spec + 8 ||
	    (size_t)(colon - (spec + 8)) >= sizeof(r->host))
		return -EINVAL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || !port || port > 65535)
		return -EINVAL;
	memcpy(r->host, spec + 8, (size_t)(colon - (spec + 8)));
	r->host[colon - (spec + 8)] = 0;
	r->port = (int)port;
	return 0;
}

int vms_swap_redis_create(const char *url, uint64_t bytes,
			  struct vms_swap_backend **out)
{
	VMS_HOST_CALL();
	struct swap_redis *r;
	uint64_t slots = bytes >> PAGE_SHIFT;
	int e;

	if (!url || !out || slots < 2)
		return -EINVAL;
	if (!(r = vms_calloc(1, sizeof(*r))))
		return -ENOMEM;
	if ((e = parse_url(r, url))) {
		vms_free(r);
		return e;
	}
	if (!(r->gen = vms_calloc(slots, sizeof(*r->gen)))) {
		vms_free(r);
		return -ENOMEM;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
			(uint64_t)getpid() << 48 ^ (uintptr_t)r;
	r->area = (seed * 0x9e3779b97f4a7c15ull) ^ (seed >> 29);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->freed, NULL);
	snprintf(r->name, sizeof(r->name), "redis %s", url);
	r->be = (struct vms_swap_backend){
		.rw = redis_rw, .discard = redis_discard,
		.release = redis_release, .nr_slots = slots, .name = r->name,
	};
	/* The server must answer now: a backend that cannot is an error
	 * at the start, not mid-run. */
	struct rs_sig g;

	sigpipe_block(&g);
	redisContext *c = rs_connect(r);
	redisReply *rep = c ? redisCommand(c, "PING") : NULL;
	bool up = rep && rep->type == REDIS_REPLY_STATUS;

	sigpipe_restore(&g);
	if (rep)
		freeReplyObject(rep);
	if (!up) {
		if (c)
			redisFree(c);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->freed);
		vms_free(r->gen);
		vms_free(r);
		return -ECONNREFUSED;
	}
	r->conns[0].c = c;
	*out = &r->be;
	return 0;
}
