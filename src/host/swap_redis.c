/* swap_redis.c - a swap backend on Redis (far memory): a slot is a key,
 * written and read in pipelined batches over a few connections per node.
 * On Redis Cluster the keys' hash slots say which master holds them
 * (keys of 64 neighbouring slots share a hash tag, so a batch goes to few
 * nodes); MOVED and ASK are followed, and a failed connection, MOVED or a
 * cluster that is down refreshes the slot map and retries, for a while,
 * so that a failover is waited out.  Every value carries a header (magic,
 * area, slot, generation, checksum) so that a value that is missing,
 * another area's, stale or corrupt is an -EIO, never data.  With replicas
 * asked for, a write counts only once WAIT says that many hold it. */
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

#define RS_CONNS 4                          /* per node */
#define RS_SEND_EVERY 4                     /* commands of a batch */
#define RS_NODES 32
#define RS_HASH_SLOTS 16384
#define RS_MAGIC 0x766d73706167ull          /* "vmspag" */
#define RS_WAIT_MS 1000                     /* for replicas to have a write */
#define RS_TIMEOUT_MS 10000                 /* connect, and each reply */
#define RS_RETRY_NS 30000000000ull          /* a cluster's failover, at most */
#define RS_MISS_NS 5000000000ull            /* a bad value asked again */

struct rs_header {
	uint64_t magic, area, slot;
	uint32_t gen, pad;
	uint64_t sum;
};

struct rs_conn {
	redisContext *c;                /* NULL: to be made at next use */
	bool busy;
};

struct rs_node {
	char host[256];
	int port;                       /* 0: @host is a unix socket path */
	struct rs_conn conns[RS_CONNS];
};

struct swap_redis {
	struct vms_swap_backend be;
	bool cluster;
	unsigned replicas;
	uint64_t area;                  /* this backend's keys among others' */

	/* nodes[] (they only ever grow), the connections' busy bits and the
	 * slot map under lock; a connection is used by one call at a time.
	 * A node is filled in before nr_nodes counts it, so a reader that
	 * loads nr_nodes may read the nodes below it without the lock. */
	struct vms_lock lock;
	pthread_cond_t freed;
	struct rs_node nodes[RS_NODES];
	atomic_uint nr_nodes;
	uint8_t map[RS_HASH_SLOTS];     /* hash slot -> node (cluster) */
	atomic_uint map_next;           /* the node a refresh asks first */
	/* gen[slot]: the generation of the slot's last good write, 0 when
	 * it holds nothing, or'ed with RS_GEN_UNSURE after a failed one
	 * (atomics: writers of a slot are one at a time). */
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

static redisContext *rs_connect(const struct rs_node *nd)
{
	struct timeval tv = { RS_TIMEOUT_MS / 1000, RS_TIMEOUT_MS % 1000 * 1000 };
	redisContext *c = nd->port
		? redisConnectWithTimeout(nd->host, nd->port, tv)
		: redisConnectUnixWithTimeout(nd->host, tv);

	if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK)
		return c;
	if (c)
		redisFree(c);
	return NULL;
}

/* The node at @host:@port, added if new; -1 when there is no room. */
static int node_find_locked(struct swap_redis *r, const char *host, int port)
{
	vms_assert_held(&r->lock);
	unsigned nr = atomic_load(&r->nr_nodes);

	for (unsigned i = 0; i < nr; i++)
		if (r->nodes[i].port == port && !strcmp(r->nodes[i].host, host))
			return (int)i;
	if (nr == RS_NODES || strlen(host) >= sizeof(r->nodes[0].host))
		return -1;
	struct rs_node *nd = &r->nodes[nr];

	strcpy(nd->host, host);
	nd->port = port;
	atomic_store(&r->nr_nodes, nr + 1);
	return (int)nr;
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

/* A connection to node @n for this call, made (again) when it has none;
 * SIGPIPE blocked until conn_put. */
static struct rs_conn *conn_get(struct swap_redis *r, unsigned n,
				struct rs_sig *g)
{
	struct rs_conn *k = NULL;

	sigpipe_block(g);
	vms_lock(&r->lock);
	for (;;) {
		for (unsigned i = 0; i < RS_CONNS && !k; i++)
			if (!r->nodes[n].conns[i].busy)
				k = &r->nodes[n].conns[i];
		if (k)
			break;
		vms_cond_wait(&r->freed, &r->lock);
	}
	k->busy = true;
	vms_unlock(&r->lock);
	if (!k->c)
		k->c = rs_connect(&r->nodes[n]);
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
	vms_lock(&r->lock);
	k->busy = false;
	pthread_cond_broadcast(&r->freed);
	vms_unlock(&r->lock);
	sigpipe_restore(g);
}

/* ---- the cluster's slot map ---- */

static unsigned crc16(const char *p, size_t n)
{
	unsigned crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (unsigned)(uint8_t)p[i] << 8;
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

/* Redis Cluster's hash slot of @key: of its {tag} when it has one. */
static unsigned hash_slot(const char *key)
{
	const char *open = strchr(key, '{'), *close;

	if (open && (close = strchr(open + 1, '}')) && close > open + 1)
		return crc16(open + 1, (size_t)(close - open - 1)) %
		       RS_HASH_SLOTS;
	return crc16(key, strlen(key)) % RS_HASH_SLOTS;
}

/* Reads CLUSTER SLOTS from the first node that answers, starting from
 * the next one each time (a node just back may be the one confused).
 * 0, or -EIO. */
static int map_refresh(struct swap_redis *r)
{
	unsigned from = atomic_fetch_add(&r->map_next, 1);

	unsigned nr = atomic_load(&r->nr_nodes);

	for (unsigned t = 0; t < nr; t++) {
		unsigned n = (from + t) % nr;
		struct rs_sig g;
		struct rs_conn *k = conn_get(r, n, &g);
		redisReply *rep = k->c ? redisCommand(k->c, "CLUSTER SLOTS")
				       : NULL;
		bool ok = rep && rep->type == REDIS_REPLY_ARRAY &&
			  rep->elements > 0;

		vms_lock(&r->lock);
		for (size_t i = 0; ok && i < rep->elements; i++) {
			redisReply *e = rep->element[i], *m;

			if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
			    (m = e->element[2])->type != REDIS_REPLY_ARRAY ||
			    m->elements < 2 ||
			    m->element[0]->type != REDIS_REPLY_STRING ||
			    m->element[1]->type != REDIS_REPLY_INTEGER)
				continue;
			long long lo = e->element[0]->integer,
				  hi = e->element[1]->integer;
			/* An empty host means the node we asked. */
			const char *host = m->element[0]->len
				? m->element[0]->str : r->nodes[n].host;
			int at = node_find_locked(r, host,
						  (int)m->element[1]->integer);

			for (long long h = lo; at >= 0 && h <= hi &&
					       h < RS_HASH_SLOTS; h++)
				r->map[h] = (uint8_t)at;
		}
		vms_unlock(&r->lock);
		if (rep)
			freeReplyObject(rep);
		conn_put(r, k, !rep, &g);
		if (ok)
			return 0;
	}
	return -EIO;
}

static int key_of(const struct swap_redis *r, uint64_t slot, char *buf,
		  size_t size)
{
	/* 64 neighbouring slots share a hash tag: one node on a cluster. */
	return snprintf(buf, size, "vmsync:{%016llx.%llx}:%llu",
			(unsigned long long)r->area,
			(unsigned long long)(slot >> 6),
			(unsigned long long)slot);
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
	    (h.sum != page_sum(page, &h) && !VMS_MUTANT_IS(skip_checksum)))
		return -EIO;
	return 0;
}

/* ---- batches ---- */

enum rs_op { RS_GET, RS_SET, RS_DEL };

/* One key's command of a batch.  @node: where to send it next (-1: where
 * the slot map says), @asking after an ASK. */
struct rs_item {
	enum rs_op op;
	bool done, asking;
	int node, res;
	uint64_t missed_at;             /* a bad value first read (cluster) */
	uint64_t slot;
	uint32_t gen;                   /* RS_SET: the one it writes */
	void *buf;
};

/* Is an error reply one to retry after (a redirection, a cluster that is
 * failing over)?  ASK names the node to ask, once. */
static bool reply_retry(struct swap_redis *r, const redisReply *rep,
			struct rs_item *it, bool *refresh)
{
	char host[256];
	int port;

	if (!strncmp(rep->str, "ASK ", 4) &&
	    sscanf(rep->str, "ASK %*d %255[^:]:%d", host, &port) == 2) {
		vms_lock(&r->lock);
		it->node = node_find_locked(r, host, port);
		vms_unlock(&r->lock);
		it->asking = it->node >= 0;
		return it->asking;
	}
	if (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "TRYAGAIN", 8) ||
	    !strncmp(rep->str, "CLUSTERDOWN", 11) ||
	    !strncmp(rep->str, "LOADING", 7)) {
		*refresh = true;
		return true;
	}
	return false;
}

/* Writes what the connection has buffered; false when it failed. */
static bool conn_send(struct rs_conn *c)
{
	int done = 0;

	while (!done)
		if (redisBufferWrite(c->c, &done) != REDIS_OK)
			return false;
	return true;
}

/* Sends @k items to node @n in one pipeline (WAIT after writes, when
 * replicas are asked for) and sorts out the replies: an item is done, or
 * stays to be sent again (*refresh: the map may be stale). */
static void node_batch(struct swap_redis *r, unsigned n, struct rs_item **it,
		       size_t k, uint8_t *val, bool *refresh)
{
	struct rs_sig g;
	struct rs_conn *c = conn_get(r, n, &g);
	/* An injected failure is a connection reset before the replies. */
	bool failed = !c->c || vms_fault(VMS_FAULT_NET), writes = false,
	     stored[64] = { false };
	char key[80];

	for (size_t i = 0; i < k && !failed; i++) {
		struct rs_item *x = it[i];

		key_of(r, x->slot, key, sizeof(key));
		if (x->asking)
			failed = redisAppendCommand(c->c, "ASKING") != REDIS_OK;
		if (failed)
			break;
		if (x->op == RS_GET) {
			/* An injected short reply is a real one: the server
			 * sends half the value. */
			failed = (vms_fault(VMS_FAULT_NET_SHORT)
					  ? redisAppendCommand(c->c, "GETRANGE %s 0 %d",
							       key, (int)PAGE_SIZE / 2)
					  : redisAppendCommand(c->c, "GET %s", key)) !=
				 REDIS_OK;
		} else if (x->op == RS_DEL) {
			failed = redisAppendCommand(c->c, "DEL %s", key) != REDIS_OK;
		} else {
			struct rs_header h = { .magic = RS_MAGIC, .area = r->area,
					       .slot = x->slot, .gen = x->gen };

			h.sum = page_sum(x->buf, &h);
			memcpy(val, &h, sizeof(h));
			memcpy(val + sizeof(h), x->buf, PAGE_SIZE);
			failed = redisAppendCommand(c->c, "SET %s %b", key, val,
						    sizeof(h) + PAGE_SIZE) !=
				 REDIS_OK;
			writes = true;
		}
		/* Pages sent as they are made, a few at a time: the server
		 * stores the first while the rest are made.  (GETs are a
		 * few bytes: they go at once.) */
		if (!failed && x->op == RS_SET &&
		    i % RS_SEND_EVERY == RS_SEND_EVERY - 1)
			failed = !conn_send(c);
	}
	if (!failed && writes && r->replicas)
		failed = redisAppendCommand(c->c, "WAIT %u %u", r->replicas,
					    RS_WAIT_MS) != REDIS_OK;
	/* An injected timeout: the server gets the batch and carries it out,
	 * and we give up before its replies, which must then never be read
	 * as another batch's (the connection is dropped). */
	if (!failed && vms_fault(VMS_FAULT_NET_TIMEOUT)) {
		conn_send(c);
		failed = true;
	}
	for (size_t i = 0; i < k && !failed; i++) {
		struct rs_item *x = it[i];
		redisReply *rep;

		if (x->asking) {
			x->asking = false;
			x->node = -1;
			if (redisGetReply(c->c, (void **)&rep) != REDIS_OK) {
				failed = true;
				break;
			}
			freeReplyObject(rep);
		}
		if (redisGetReply(c->c, (void **)&rep) != REDIS_OK) {
			failed = true;
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR &&
		    reply_retry(r, rep, x, refresh)) {
			/* sent again in the next round */
		} else if (x->op == RS_GET) {
			x->res = value_check(r, x->slot, rep, x->buf);
			/* A cluster in flux may answer from a node that just
			 * came back empty and thinks it still owns the slot:
			 * ask again, from a fresh map, before saying -EIO. */
			if (x->res && r->cluster && !x->missed_at)
				x->missed_at = vms_now_ns();
			x->done = !x->res || !r->cluster ||
				  vms_now_ns() - x->missed_at > RS_MISS_NS;
			if (!x->done)
				*refresh = true;
		} else if (x->op == RS_DEL) {
			x->done = true;
		} else if (rep->type == REDIS_REPLY_STATUS &&
			   !strcmp(rep->str, "OK")) {
			stored[i] = true;
		} else {
			x->done = true;         /* refused: -EIO */
		}
		freeReplyObject(rep);
	}
	bool replicated = true;
	if (!failed && writes && r->replicas) {
		redisReply *rep;

		if (redisGetReply(c->c, (void **)&rep) != REDIS_OK) {
			failed = true;
		} else {
			replicated = rep->type == REDIS_REPLY_INTEGER &&
				     rep->integer >= (long long)r->replicas;
			freeReplyObject(rep);
		}
	}
	/* A write counts once stored and replicated: only then does the
	 * slot's generation move, so an older value reads as stale.  One
	 * whose connection failed before WAIT answered is sent again. */
	for (size_t i = 0; i < k && !failed; i++)
		if (stored[i]) {
			it[i]->done = true;
			if (replicated) {
				atomic_store(&r->gen[it[i]->slot], it[i]->gen);
				it[i]->res = 0;
			}
		}
	if (failed)
		*refresh = true;
	conn_put(r, c, failed, &g);
}

/* Where an item goes: the node an ASK named, else the slot map's. */
static unsigned target(struct swap_redis *r, const struct rs_item *it)
{
	char key[80];
	unsigned node = 0;

	if (it->node >= 0)
		return (unsigned)it->node;
	if (r->cluster) {
		key_of(r, it->slot, key, sizeof(key));
		vms_lock(&r->lock);
		node = r->map[hash_slot(key)];
		vms_unlock(&r->lock);
	}
	return node;
}

/* Runs the items to the end: on a cluster, rounds until every one is done
 * or RS_RETRY_NS passed (a failover is waited out); elsewhere one round. */
static void run_items(struct swap_redis *r, struct rs_item *items, size_t n)
{
	uint8_t *val = vms_malloc(sizeof(struct rs_header) + PAGE_SIZE);
	uint64_t deadline = vms_now_ns() + (r->cluster ? RS_RETRY_NS : 0);
	struct rs_item *batch[64];
	bool refresh = false;

	for (unsigned round = 0; val; round++) {
		size_t left = 0;

		for (size_t i = 0; i < n; i++)
			left += !items[i].done;
		if (!left)
			break;
		if (round && (!r->cluster || vms_now_ns() > deadline))
			break;
		if (round && refresh) {
			struct timespec ts = { 0, 100000000 };

			nanosleep(&ts, NULL);
			map_refresh(r);
		}
		refresh = false;
		/* A node's share at a time, in the items' order. */
		bool sent[64] = { false };
		for (size_t i = 0; i < n; i++) {
			if (items[i].done || sent[i])
				continue;
			unsigned node = target(r, &items[i]);
			size_t k = 0;

			for (size_t j = i; j < n && k < 64; j++)
				if (!items[j].done && !sent[j] &&
				    target(r, &items[j]) == node) {
					batch[k++] = &items[j];
					sent[j] = true;
				}
			node_batch(r, node, batch, k, val, &refresh);
		}
	}
	vms_free(val);
}

/* The slot's last write failed: the server may hold the old value or the
 * new one (a timeout), so neither may be read; a header's generation never
 * has this bit. */
#define RS_GEN_UNSURE 0x80000000u

static int redis_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		    size_t n)
{
	struct swap_redis *r = RS(be);
	struct rs_item items[64];

	if (n > 64)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (io[i].slot >= be->nr_slots || !io[i].slot)
			return -EINVAL;
		uint32_t gen = (atomic_load(&r->gen[io[i].slot]) &
				~RS_GEN_UNSURE) + 1;

		items[i] = (struct rs_item){
			.op = io[i].write ? RS_SET : RS_GET, .node = -1,
			.res = -EIO, .slot = io[i].slot,
			.gen = gen & RS_GEN_UNSURE ? 1 : gen, .buf = io[i].buf };
	}
	run_items(r, items, n);
	for (size_t i = 0; i < n; i++) {
		io[i].res = items[i].res;
		if (io[i].write && io[i].res)
			atomic_store(&r->gen[io[i].slot],
				     items[i].gen | RS_GEN_UNSURE);
	}
	return 0;
}

/* DELs the values of @n slots (best effort: with the generations gone
 * they can no longer be read as data). */
static void del_slots(struct swap_redis *r, const uint64_t *slots, size_t n)
{
	struct rs_item items[64];

	for (size_t at = 0; at < n; at += 64) {
		size_t k = n - at < 64 ? n - at : 64;

		for (size_t i = 0; i < k; i++)
			items[i] = (struct rs_item){ .op = RS_DEL, .node = -1,
						     .slot = slots[at + i] };
		run_items(r, items, k);
	}
}

static void redis_discard(struct vms_swap_backend *be, uint64_t slot)
{
	struct swap_redis *r = RS(be);

	if (slot < be->nr_slots && atomic_exchange(&r->gen[slot], 0))
		del_slots(r, &slot, 1);
}

static void redis_free(struct swap_redis *r)
{
	for (unsigned i = 0; i < r->nr_nodes; i++)
		for (unsigned c = 0; c < RS_CONNS; c++)
			if (r->nodes[i].conns[c].c)
				redisFree(r->nodes[i].conns[c].c);
	vms_lock_destroy(&r->lock);
	pthread_cond_destroy(&r->freed);
	vms_free(r->gen);
	vms_free(r);
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
	redis_free(r);
}

/* "HOST:PORT" into a new node. */
static int parse_node(struct swap_redis *r, char *spec)
{
	char *colon = strrchr(spec, ':'), *end;

	if (!colon || colon == spec)
		return -EINVAL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || !port || port > 65535)
		return -EINVAL;
	*colon = 0;
	for (unsigned i = 0; i < r->nr_nodes; i++)
		if (!strcmp(r->nodes[i].host, spec) &&
		    r->nodes[i].port == (int)port)
			return -EINVAL;         /* named twice */
	vms_lock(&r->lock);
	int at = node_find_locked(r, spec, (int)port);
	vms_unlock(&r->lock);
	return at < 0 ? -EINVAL : 0;
}

/* "redis://HOST:PORT", "unix:PATH" or "redis-cluster://HOST:PORT[,...]",
 * then optionally "?replicas=N" (a cluster's default: 1). */
static int parse_url(struct swap_redis *r, const char *url)
{
	const char *q = strchr(url, '?');
	size_t len = q ? (size_t)(q - url) : strlen(url);
	char spec[300];
	int e = 0;

	if (len >= sizeof(spec))
		return -EINVAL;
	memcpy(spec, url, len);
	spec[len] = 0;
	if (!strncmp(spec, "unix:", 5)) {
		if (!spec[5] || strlen(spec + 5) >= sizeof(r->nodes[0].host))
			return -EINVAL;
		strcpy(r->nodes[0].host, spec + 5);
		atomic_store(&r->nr_nodes, 1);
	} else if (!strncmp(spec, "redis://", 8)) {
		e = parse_node(r, spec + 8);
	} else if (!strncmp(spec, "redis-cluster://", 16)) {
		r->cluster = true;
		r->replicas = 1;
		for (char *at = spec + 16, *next; !e && at; at = next) {
			next = strchr(at, ',');
			if (next)
				*next++ = 0;
			e = parse_node(r, at);
		}
	} else {
		return -EINVAL;
	}
	if (e || !q)
		return e;
	char *end;
	unsigned long n;

	if (strncmp(q, "?replicas=", 10))
		return -EINVAL;
	n = strtoul(q + 10, &end, 10);
	if (*end || end == q + 10 || n > 16)
		return -EINVAL;
	r->replicas = (unsigned)n;
	return 0;
}


/* Does the first node (a cluster: any node) answer, and a cluster with
 * its slot map?  0, -ECONNREFUSED, or -EPROTO for a server that is not
 * the cluster it was said to be. */
static int redis_probe(struct swap_redis *r)
{
	bool up = false;

	unsigned nr = r->cluster ? atomic_load(&r->nr_nodes) : 1;

	for (unsigned n = 0; n < nr && !up; n++) {
		struct rs_sig g;
		struct rs_conn *k = conn_get(r, n, &g);
		redisReply *rep = k->c ? redisCommand(k->c, "PING") : NULL;

		up = rep && rep->type == REDIS_REPLY_STATUS;
		if (rep)
			freeReplyObject(rep);
		conn_put(r, k, !up, &g);
	}
	if (!up)
		return -ECONNREFUSED;
	return r->cluster && map_refresh(r) ? -EPROTO : 0;
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
	vms_lock_init(&r->lock);
	pthread_cond_init(&r->freed, NULL);
	if ((e = parse_url(r, url)) ||
	    (!(r->gen = vms_calloc(slots, sizeof(*r->gen))) && (e = -ENOMEM))) {
		redis_free(r);
		return e;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
			(uint64_t)getpid() << 48 ^ (uintptr_t)r;
	r->area = (seed * 0x9e3779b97f4a7c15ull) ^ (seed >> 29);
	snprintf(r->name, sizeof(r->name), "redis %s", url);
	r->be = (struct vms_swap_backend){
		.rw = redis_rw, .discard = redis_discard,
		.release = redis_release, .nr_slots = slots, .name = r->name,
	};
	/* The server must answer now: a backend that cannot is an error
	 * at the start, not mid-run. */
	if ((e = redis_probe(r))) {
		redis_free(r);
		return e;
	}
	*out = &r->be;
	return 0;
}
