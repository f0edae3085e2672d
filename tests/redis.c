/* redis.c - the far-memory tier against a real redis-server the test
 * starts on a unix socket of its own: batches round-trip; a value that is
 * corrupt, stale, missing or another backend's reads as -EIO; discards and
 * release leave no keys; a killed server fails I/O with -EIO and a new one
 * is used again without a new backend; a write that no replica holds does
 * not count.  Skips (77) where redis-server is missing. */
#define _GNU_SOURCE
#include "test.h"
#include "base/base.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/stat.h>

#define PAGE VMS_PAGE_SIZE

static char dir[64], sock[128], url[160];
static pid_t server;

static redisContext *raw(void)
{
	redisContext *c = redisConnectUnix(sock);

	CHECK(c && !c->err, "cannot reach the test's redis-server");
	return c;
}

static bool server_up(void)
{
	redisContext *c = redisConnectUnix(sock);
	redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
	bool up = r && r->type == REDIS_REPLY_STATUS;

	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return up;
}

/* A redis-server of the test's own, without persistence. */
static bool server_start(void)
{
	server = fork();
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);       /* not past the test */

		dup2(null, 1);
		dup2(null, 2);
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", sock, "--save", "", "--appendonly", "no",
		       "--dir", dir, "--daemonize", "no", NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int st;

		if (server_up())
			return true;
		if (waitpid(server, &st, WNOHANG) == server)
			return false;
		usleep(20000);
	}
	return false;
}

static void server_kill(void)
{
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	unlink(sock);
}

static long long keys(void)
{
	redisContext *c = raw();
	redisReply *r = redisCommand(c, "DBSIZE");
	long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	freeReplyObject(r);
	redisFree(c);
	return n;
}

/* The one key of the server (the test writes one slot before). */
static void the_key(char *buf, size_t size)
{
	redisContext *c = raw();
	redisReply *r = redisCommand(c, "KEYS vmsync:*");

	CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1,
	      "want exactly one key");
	snprintf(buf, size, "%s", r->element[0]->str);
	freeReplyObject(r);
	redisFree(c);
}

static void fill(uint8_t *p, uint64_t n)
{
	uint64_t s = n + 1;

	for (unsigned i = 0; i < PAGE / 8; i++)
		((uint64_t *)p)[i] = t_rand(&s);
}

static int io1(struct vms_swap_backend *be, uint64_t slot, void *buf,
	       bool write)
{
	struct vms_swap_io io = { .write = write, .slot = slot, .buf = buf };
	int r = be->rw(be, &io, 1);

	return r ? r : io.res;
}

static void test_round_trip(void)
{
	enum { N = 40 };
	struct vms_swap_backend *be;
	uint8_t *in = aligned_alloc(PAGE, N * PAGE), *out = aligned_alloc(PAGE, N * PAGE);
	struct vms_swap_io io[N];

	CHECK_OK(vms_swap_redis_create(url, 1024 * PAGE, &be));
	for (unsigned i = 0; i < N; i++) {
		fill(in + i * PAGE, i);
		io[i] = (struct vms_swap_io){ .write = true, .slot = 1 + 3 * i,
					      .buf = in + i * PAGE };
	}
	CHECK_OK(be->rw(be, io, N));
	for (unsigned i = 0; i < N; i++) {
		CHECK_OK(io[i].res);
		io[i] = (struct vms_swap_io){ .slot = 1 + 3 * i,
					      .buf = out + i * PAGE };
	}
	CHECK_OK(be->rw(be, io, N));
	for (unsigned i = 0; i < N; i++) {
		CHECK_OK(io[i].res);
		CHECK(!memcmp(in + i * PAGE, out + i * PAGE, PAGE),
		      "page %u came back different", i);
	}
	CHECK_EQ(keys(), N);
	be->discard(be, 1);
	CHECK_EQ(keys(), N - 1);
	be->release(be);
	CHECK_EQ(keys(), 0);
	free(in);
	free(out);
}

/* A value changed behind the backend's back is an error, never data. */
static void test_bad_values(void)
{
	struct vms_swap_backend *be, *other;
	uint8_t *a = aligned_alloc(PAGE, PAGE), *b = aligned_alloc(PAGE, PAGE);
	char key[128], okey[128];
	redisContext *c = raw();
	redisReply *r, *old;

	CHECK_OK(vms_swap_redis_create(url, 64 * PAGE, &be));
	fill(a, 1);
	fill(b, 2);
	CHECK_OK(io1(be, 5, a, true));
	the_key(key, sizeof(key));
	old = redisCommand(c, "GET %s", key);
	CHECK(old && old->type == REDIS_REPLY_STRING, "no value");

	/* Corrupt: one byte of the page flipped. */
	char *v = malloc(old->len);
	memcpy(v, old->str, old->len);
	v[old->len - 100] ^= 1;
	freeReplyObject(redisCommand(c, "SET %s %b", key, v, old->len));
	CHECK_EQ(io1(be, 5, b, false), -EIO);

	/* Stale: the slot written again, the old value put back. */
	CHECK_OK(io1(be, 5, b, true));
	freeReplyObject(redisCommand(c, "SET %s %b", key, old->str, old->len));
	CHECK_EQ(io1(be, 5, b, false), -EIO);

	/* Missing. */
	CHECK_OK(io1(be, 5, a, true));
	CHECK_OK(io1(be, 5, b, false));
	CHECK(!memcmp(a, b, PAGE), "the page came back different");
	freeReplyObject(redisCommand(c, "DEL %s", key));
	CHECK_EQ(io1(be, 5, b, false), -EIO);

	/* Another backend's value under this one's key. */
	CHECK_OK(io1(be, 5, a, true));
	CHECK_OK(vms_swap_redis_create(url, 64 * PAGE, &other));
	CHECK_OK(io1(other, 5, b, true));
	r = redisCommand(c, "KEYS vmsync:*");
	CHECK(r && r->elements == 2, "want two keys");
	snprintf(okey, sizeof(okey), "%s",
		 strcmp(r->element[0]->str, key) ? r->element[0]->str
						 : r->element[1]->str);
	freeReplyObject(r);
	freeReplyObject(redisCommand(c, "COPY %s %s REPLACE", okey, key));
	CHECK_EQ(io1(be, 5, b, false), -EIO);

	other->release(other);
	be->release(be);
	CHECK_EQ(keys(), 0);
	freeReplyObject(old);
	free(v);
	redisFree(c);
	free(a);
	free(b);
}

/* The server killed: I/O fails with -EIO; a new server is used again by
 * the same backend (what the old one held is gone, and reads say so). */
static void test_server_restart(void)
{
	struct vms_swap_backend *be;
	uint8_t *a = aligned_alloc(PAGE, PAGE), *b = aligned_alloc(PAGE, PAGE);

	CHECK_OK(vms_swap_redis_create(url, 64 * PAGE, &be));
	fill(a, 3);
	CHECK_OK(io1(be, 2, a, true));
	server_kill();
	CHECK_EQ(io1(be, 3, a, true), -EIO);
	CHECK_EQ(io1(be, 2, b, false), -EIO);
	CHECK(server_start(), "redis-server did not start again");
	CHECK_EQ(io1(be, 2, b, false), -EIO);           /* gone with it */
	CHECK_OK(io1(be, 3, a, true));
	CHECK_OK(io1(be, 3, b, false));
	CHECK(!memcmp(a, b, PAGE), "the page came back different");
	be->release(be);
	free(a);
	free(b);
}

/* Asked for a replica the server does not have, a write does not count. */
static void test_replicas(void)
{
	struct vms_swap_backend *be;
	uint8_t *a = aligned_alloc(PAGE, PAGE);
	char u[200];

	snprintf(u, sizeof(u), "%s?replicas=1", url);
	CHECK_OK(vms_swap_redis_create(u, 64 * PAGE, &be));
	fill(a, 4);
	CHECK_EQ(io1(be, 2, a, true), -EIO);
	CHECK_EQ(io1(be, 2, a, false), -EIO);
	be->release(be);
	free(a);
}

/* A connection reset, a timeout (the server carried the batch out, its
 * replies come too late) and a short value, at every point of a write and
 * read-back (debug builds): each page written is either stored or -EIO,
 * each read is the page or -EIO, never other data, and the next exchange
 * works again. */
#ifdef VMS_DEBUG
/* One round failing the @nth call of @site (past the calls: none); the
 * calls the round made. */
static uint64_t net_fault_round(struct vms_swap_backend *be,
				enum vms_fault_site site, uint64_t nth,
				uint8_t *in, uint8_t *out)
{
	enum { N = 8 };
	struct vms_swap_io io[N];
	bool stored[N];

	for (unsigned i = 0; i < N; i++) {
		fill(in + i * PAGE, nth * 100 + i);
		io[i] = (struct vms_swap_io){ .write = true, .slot = 1 + i,
					      .buf = in + i * PAGE };
	}
	vms_fault_arm(site, nth, false);
	CHECK_OK(be->rw(be, io, N));
	for (unsigned i = 0; i < N; i++) {
		CHECK(io[i].res == 0 || io[i].res == -EIO, "write: %d",
		      io[i].res);
		stored[i] = !io[i].res;
		io[i] = (struct vms_swap_io){ .slot = 1 + i,
					      .buf = out + i * PAGE };
	}
	CHECK_OK(be->rw(be, io, N));
	uint64_t calls = vms_fault_calls(site);
	CHECK(vms_fault_injected(site) == (nth <= calls), "%s:%" PRIu64
	      " not injected", vms_fault_name(site), nth);
	vms_fault_disarm();
	for (unsigned i = 0; i < N; i++) {
		if (io[i].res) {
			CHECK_EQ(io[i].res, -EIO);
			continue;
		}
		/* Data only for a write that counted. */
		CHECK(stored[i] && !memcmp(out + i * PAGE, in + i * PAGE, PAGE),
		      "page %u after %s:%" PRIu64, i, vms_fault_name(site), nth);
	}
	CHECK_OK(io1(be, 1, in, true));         /* back to normal */
	CHECK_OK(io1(be, 1, out, false));
	CHECK(!memcmp(in, out, PAGE), "no recovery after %s:%" PRIu64,
	      vms_fault_name(site), nth);
	return calls;
}
#endif

static void test_net_faults(void)
{
#ifdef VMS_DEBUG
	static const enum vms_fault_site sites[] = {
		VMS_FAULT_NET, VMS_FAULT_NET_TIMEOUT, VMS_FAULT_NET_SHORT,
	};
	struct vms_swap_backend *be;
	uint8_t *in = aligned_alloc(PAGE, 8 * PAGE);
	uint8_t *out = aligned_alloc(PAGE, 8 * PAGE);

	CHECK_OK(vms_swap_redis_create(url, 64 * PAGE, &be));
	for (unsigned s = 0; s < 3; s++) {
		uint64_t calls = net_fault_round(be, sites[s], UINT64_MAX, in, out);

		CHECK(calls > 0, "%s never reached", vms_fault_name(sites[s]));
		for (uint64_t nth = 1; nth <= calls; nth++)
			net_fault_round(be, sites[s], nth, in, out);
	}
	be->release(be);
	free(in);
	free(out);
#endif
}

static void test_bad_urls(void)
{
	static const char *const bad[] = {
		"redis://", "redis://host", "redis://host:0", "redis://h:99999",
		"http://h:1", "unix:", "redis://h:1?replicas=x", "h:1",
		"redis://h:1?foo=1",
	};
	struct vms_swap_backend *be;
	char u[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(vms_swap_redis_create(bad[i], 64 * PAGE, &be) == -EINVAL,
		      "'%s' accepted", bad[i]);
	CHECK_EQ(vms_swap_redis_create(url, PAGE, &be), -EINVAL);
	snprintf(u, sizeof(u), "unix:%s/none", dir);
	CHECK_EQ(vms_swap_redis_create(u, 64 * PAGE, &be), -ECONNREFUSED);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vmsync-redis-XXXXXX");
	CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(url, sizeof(url), "unix:%s", sock);
	if (!server_start()) {
		rmdir(dir);
		printf("skip: redis-server could not be started (is it "
		       "installed? make test installs it as root)\n");
		return T_SKIP;
	}
	t_watchdog(120, "redis");
	T_RUN(test_round_trip);
	T_RUN(test_bad_values);
	T_RUN(test_server_restart);
	T_RUN(test_replicas);
	T_RUN(test_net_faults);
	T_RUN(test_bad_urls);
	server_kill();
	rmdir(dir);
	return T_DONE();
}
