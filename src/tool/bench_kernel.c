/* bench_kernel.c - the kernel's side of `vmsync bench`: its swap on a file
 * beside vmsync's, memory cgroups (v1) for the measuring children, the
 * children that measure its swap, migration and the zipf loop, and the
 * /proc and sysfs files they read; and the disk's own O_DIRECT reads. */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmsync.h"

#define PAGE VMS_PAGE_SIZE
#define MEMCG_ROOT "/sys/fs/cgroup/memory"
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

long bench_vmstat(const char *key)
{
	char name[64];
	long v, found = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2)
		if (!strcmp(name, key))
			found = v;
	fclose(f);
	return found;
}

int bench_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w = fd < 0 ? -1 : write(fd, val, strlen(val));
	int err = w < 0 ? errno : 0;

	if (fd >= 0)
		close(fd);
	return err ? -err : 0;
}

static long major_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

int bench_cg_usage(const char *cg, uint64_t *bytes)
{
	char path[320];
	unsigned long long v;

	snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", cg);
	FILE *f = fopen(path, "r");
	int n = f ? fscanf(f, "%llu", &v) : -1;

	if (f)
		fclose(f);
	if (n != 1)
		return -EIO;
	*bytes = v;
	return 0;
}

/* The swap cache holds what MADV_PAGEOUT wrote while memory is plentiful;
 * squeezing our cgroup drops it, so touching reads the disk. */
int bench_drop_swap_cache(const char *cg)
{
	char path[320], big[32];

	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cg);
	snprintf(big, sizeof(big), "%llu", 1ull << 40);
	int r = bench_write_file(path, "8388608");
	return bench_write_file(path, big) ? r ? r : -EIO : r;
}

/* In a measuring child: joins memory cgroup @cg (limited to @limit bytes
 * unless 0), maps @n pages and writes each, swapping as the limit says.
 * The buffer, or NULL. */
int bench_cg_join(const char *cg, uint64_t limit)
{
	char path[320], val[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(val, sizeof(val), "%d", getpid());
	int r = bench_write_file(path, val);
	if (r || !limit)
		return r;
	return bench_cg_limit(cg, limit);
}

int bench_cg_limit(const char *cg, uint64_t limit)
{
	char path[320], val[32];

	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", cg);
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	return bench_write_file(path, val);
}

/* ... each page a word, or with @content, all of it (bench_fill). */
static uint8_t *child_join_and_fill(const char *cg, uint64_t n,
				    uint64_t limit, int content)
{
	if (bench_cg_join(cg, limit))
		return NULL;
	uint8_t *buf = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	for (uint64_t i = 0; i < n; i++)
		if (content)
			bench_fill(buf + i * PAGE, i, content);
		else
			*(uint64_t *)(buf + i * PAGE) = i;
	return buf;
}

/* In a child inside memory cgroup @cg: the same steps as vmsync's, with
 * rates written to @fd as three doubles. */
static int kernel_swap_child(const struct bench_cfg *cfg, const char *cg,
			     const void *arg, int fd)
{
	const uint64_t *order = arg;
	uint64_t n = cfg->pages;
	double rate[3] = { 0, 0, 0 };
	volatile uint8_t sink = 0;

	uint8_t *buf = child_join_and_fill(cg, n, 0, 0);
	if (!buf)
		return 1;

	long out0 = bench_vmstat("pswpout");
	double t = now_s();
	if (madvise(buf, n * PAGE, MADV_PAGEOUT))
		return 1;
	/* Until the writes are done, as vmsync's PAGEOUT waits for them. */
	while (bench_vmstat("nr_writeback") > 0)
		usleep(100);
	rate[0] = n / (now_s() - t);
	if (bench_vmstat("pswpout") - out0 < (long)n * 9 / 10)
		return 2;               /* it did not really swap */

	if (bench_drop_swap_cache(cg))
		return 1;
	long maj = major_faults();
	t = now_s();
	for (uint64_t i = 0; i < n; i++)
		sink += buf[i * PAGE];
	rate[1] = n / (now_s() - t);
	long seq_maj = major_faults() - maj;

	if (madvise(buf, n * PAGE, MADV_PAGEOUT))
		return 1;
	while (bench_vmstat("nr_writeback") > 0)
		usleep(100);
	if (bench_drop_swap_cache(cg))
		return 1;
	maj = major_faults();
	t = now_s();
	for (uint64_t i = 0; i < n; i++)
		sink += buf[order[i] * PAGE];
	rate[2] = n / (now_s() - t);
	/* Major faults prove the disk was read (read-ahead takes some
	 * pages in one fault, so not one per page). */
	if (seq_maj < (long)n / 64 || major_faults() - maj < (long)n / 4)
		return 3;
	(void)sink;
	return write(fd, rate, sizeof(rate)) == sizeof(rate) ? 0 : 1;
}

const char *kswap_setup(const struct bench_cfg *cfg, struct kswap *k)
{
	char cmd[600];

	if (geteuid() != 0)
		return "needs root (swapon, memory cgroup)";
	if (access(MEMCG_ROOT "/memory.limit_in_bytes", W_OK))
		return "no cgroup v1 memory controller at " MEMCG_ROOT;
	snprintf(k->file, sizeof(k->file), "%s/vmsync-bench-swap-%d", cfg->dir,
		 getpid());
	snprintf(k->cg, sizeof(k->cg), MEMCG_ROOT "/vmsync-bench-%d", getpid());
	int fd = open(k->file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return "cannot create the kernel's swap file";
	int r = posix_fallocate(fd, 0, (off_t)((cfg->pages + 1024) * PAGE));
	close(fd);
	snprintf(cmd, sizeof(cmd), "mkswap -q '%s' >/dev/null 2>&1", k->file);
	if (r || system(cmd) != 0) {
		unlink(k->file);
		return "mkswap failed";
	}
	if (swapon(k->file, SWAP_FLAG_PREFER | 32767)) {
		unlink(k->file);
		return "swapon refused the file";
	}
	k->on = true;
	if (mkdir(k->cg, 0755))
		return "cannot make a memory cgroup";
	return NULL;
}

void kswap_teardown(struct kswap *k)
{
	if (k->cg[0])
		rmdir(k->cg);
	if (k->on)
		swapoff(k->file);
	if (k->file[0])
		unlink(k->file);
}

int bench_child(bench_child_fn fn, const struct bench_cfg *cfg,
		const char *cg, const void *arg, void *out, size_t len)
{
	int p[2], st = 0;

	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(fn(cfg, cg, arg, p[1]));
	}
	close(p[1]);
	ssize_t got = pid > 0 ? read(p[0], out, len) : -1;
	close(p[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) ? WEXITSTATUS(st) : got == (ssize_t)len ? 0 : -1;
}

const char *kernel_swap_rep(const struct bench_cfg *cfg,
				   struct kswap *k, const uint64_t *order)
{
	double rate[3];
	int st = bench_child(kernel_swap_child, cfg, k->cg, order, rate,
			     sizeof(rate));

	if (st)
		return st == 2 ? "MADV_PAGEOUT wrote too little to swap"
		       : st == 3 ? "too few major faults: the swap-in did not read the disk"
				 : "the measuring child failed";
	add(&figures[F_SWAPOUT].theirs, rate[0]);
	add(&figures[F_SWAPIN_SEQ].theirs, rate[1]);
	add(&figures[F_SWAPIN_RAND].theirs, rate[2]);
	return NULL;
}

/* move_pages(2) between two NUMA nodes, or where there is one, a memcpy
 * of the same pages: the copy is the floor of any migration. */
void kernel_migrate_rep(const struct bench_cfg *cfg)
{
	uint64_t n = cfg->pages;
	uint8_t *a = mmap(NULL, 2 * n * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (a == MAP_FAILED)
		return;
	memset(a, 1, 2 * n * PAGE);
	if (vms_numa_nodes() >= 2) {
		void **pages = malloc(n * sizeof(void *));
		int *nodes = malloc(n * sizeof(int)), *status = malloc(n * sizeof(int));

		for (uint64_t i = 0; pages && nodes && status && i < n; i++) {
			pages[i] = a + i * PAGE;
			nodes[i] = 1;
		}
		double t = now_s();
		if (pages && nodes && status &&
		    syscall(SYS_move_pages, 0, n, pages, nodes, status, 0) == 0)
			add(&figures[F_MIGRATE].theirs, n / (now_s() - t));
		free(pages);
		free(nodes);
		free(status);
	} else {
		double t = now_s();
		for (uint64_t i = 0; i < n; i++)
			memcpy(a + (n + i) * PAGE, a + i * PAGE, PAGE);
		add(&figures[F_MIGRATE].theirs, n / (now_s() - t));
	}
	munmap(a, 2 * n * PAGE);
}

long bench_meminfo_kb(const char *key)
{
	char line[128];
	long v = -1;
	size_t k = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, k) && line[k] == ':')
			v = atol(line + k + 1);
	if (f)
		fclose(f);
	return v;
}

/* Keeps a cgroup's limit at @quarter less what the kernel's zswap pool
 * holds, as vmsync's pool comes out of its frames. */
struct pool_count {
	const char *cg;
	uint64_t quarter;
	atomic_bool stop;
};

static void *pool_count_main(void *arg)
{
	struct pool_count *p = arg;

	while (!atomic_load(&p->stop)) {
		uint64_t pool = (uint64_t)bench_meminfo_kb("Zswap") << 10;

		bench_cg_limit(p->cg, pool + p->quarter / 8 < p->quarter
					      ? p->quarter - pool
					      : p->quarter / 8);
		usleep(1000);
	}
	return NULL;
}

/* The zipf loop as a host process in our memory cgroup squeezed to a
 * quarter of its buffer, over the kernel's swap; ops/s through @fd. */
static int kernel_zipf_child(const struct bench_cfg *cfg, const char *cg,
			     const void *arg, int fd)
{
	uint64_t n = cfg->pages;
	struct pool_count pc = { .cg = cg, .quarter = n / 4 * PAGE };
	pthread_t th;
	bool counting = *(const bool *)arg &&
			!pthread_create(&th, NULL, pool_count_main, &pc);

	if (*(const bool *)arg && !counting)
		return 1;
	uint8_t *buf = child_join_and_fill(cg, n, n / 4 * PAGE, BENCH_MIXED);
	if (!buf)
		return 1;
	double rate = zipf_loop_host(buf, n, cfg->seed);
	if (counting) {
		atomic_store(&pc.stop, true);
		pthread_join(th, NULL);
	}
	bench_cg_limit(cg, 1ull << 40);
	return write(fd, &rate, sizeof(rate)) == sizeof(rate) ? 0 : 1;
}

bool kernel_zipf(const struct bench_cfg *cfg, const struct kswap *k,
		 bool count_pool, double *rate)
{
	return !bench_child(kernel_zipf_child, cfg, k->cg, &count_pool, rate,
			    sizeof(*rate));
}

/* Random swap-in by 2 threads of a child, each half of @order. */
struct kreader {
	uint8_t *buf;
	const uint64_t *order;
	uint64_t n;
};

static void *kernel_swapin_thread(void *arg)
{
	struct kreader *r = arg;
	volatile uint8_t sink = 0;

	for (uint64_t i = 0; i < r->n; i++)
		sink += r->buf[r->order[i] * PAGE];
	(void)sink;
	return NULL;
}

static int kernel_swapin2_child(const struct bench_cfg *cfg, const char *cg,
				const void *arg, int fd)
{
	const uint64_t *order = arg;
	uint64_t n = cfg->pages;
	struct kreader r[2];
	pthread_t th[2];
	double rate;

	uint8_t *buf = child_join_and_fill(cg, n, 0, 0);
	if (!buf || madvise(buf, n * PAGE, MADV_PAGEOUT))
		return 1;
	while (bench_vmstat("nr_writeback") > 0)
		usleep(100);
	if (bench_drop_swap_cache(cg))
		return 1;
	long maj = major_faults();
	double t = now_s();
	for (int i = 0; i < 2; i++) {
		r[i] = (struct kreader){ buf, order + i * (n / 2),
					 i ? n - n / 2 : n / 2 };
		if (pthread_create(&th[i], NULL, kernel_swapin_thread, &r[i]))
			return 1;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rate = n / (now_s() - t);
	if (major_faults() - maj < (long)n / 4)
		return 3;
	return write(fd, &rate, sizeof(rate)) == sizeof(rate) ? 0 : 1;
}

bool kernel_swapin2(const struct bench_cfg *cfg, const struct kswap *k,
		    const uint64_t *order, double *rate)
{
	return !bench_child(kernel_swapin2_child, cfg, k->cg, order, rate,
			    sizeof(*rate));
}

struct dreader {
	int fd;
	const uint64_t *order;
	uint64_t n;
	bool failed;
};

static void *device_reader(void *arg)
{
	struct dreader *r = arg;
	void *buf;

	if (posix_memalign(&buf, PAGE, PAGE)) {
		r->failed = true;
		return NULL;
	}
	for (uint64_t i = 0; i < r->n && !r->failed; i++)
		r->failed = pread(r->fd, buf, PAGE,
				  (off_t)(r->order[i] * PAGE)) != PAGE;
	free(buf);
	return NULL;
}

double device_reads(const char *dir, uint64_t pages, const uint64_t *order,
		    unsigned threads)
{
	char path[4096];
	struct dreader r[2];
	pthread_t th[2];
	unsigned started = 0;
	bool failed = false;
	void *chunk = NULL;

	if (threads < 1 || threads > 2)
		return 0;
	snprintf(path, sizeof(path), "%s/vmsync-bench-disk-XXXXXX",
		 dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	/* Written through once, so the reads find blocks on the disk. */
	if (posix_memalign(&chunk, PAGE, 256 * PAGE)) {
		unlink(path);
		close(fd);
		return 0;
	}
	memset(chunk, 0x5a, 256 * PAGE);
	for (uint64_t at = 0; at < pages && !failed; at += 256)
		failed = pwrite(fd, chunk, 256 * PAGE, (off_t)(at * PAGE)) !=
			 256 * PAGE;
	free(chunk);
	int dfd = failed || fsync(fd) ? -1
		: open(path, O_RDONLY | O_DIRECT);
	unlink(path);
	close(fd);
	if (dfd < 0)
		return 0;
	double t = now_s();
	for (; started < threads; started++) {
		uint64_t share = pages / threads;

		r[started] = (struct dreader){
			dfd, order + started * share,
			started + 1 < threads ? share : pages - started * share,
			false };
		if (pthread_create(&th[started], NULL, device_reader,
				   &r[started]))
			break;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		failed |= r[i].failed;
	}
	double rate = pages / (now_s() - t);
	close(dfd);
	return failed || started < threads ? 0 : rate;
}
