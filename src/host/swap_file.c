/* swap_file.c - a swap backend on a real file: slot n at offset n*4096,
 * O_DIRECT (a swap that filled the page cache would not free memory), runs
 * of consecutive slots merged into one vectored transfer, batches
 * submitted through io_uring when the kernel allows it, preadv/pwritev
 * otherwise. */
#define _GNU_SOURCE
#include "host/host.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef VMS_HAVE_LIBURING
#include <liburing.h>
#endif

#define RING_ENTRIES 64

#ifdef VMS_HAVE_LIBURING
/* One ring per thread and backend: a ring shared by threads under a lock
 * was seen to lose completions (a waiter spinning forever in liburing 2.3
 * on kernel 6.18), and per-thread rings need no lock at all. */
struct uring_slot {
	struct io_uring ring;
	struct swap_file *f;
	struct uring_slot *next;        /* under f->rings_mu */
};
#endif

struct swap_file {
	struct vms_swap_backend be;
	int fd;
	bool uring;
	bool direct;                    /* O_DIRECT took */
#ifdef VMS_HAVE_LIBURING
	pthread_key_t key;              /* this thread's uring_slot */
	pthread_mutex_t rings_mu;       /* protects rings */
	struct uring_slot *rings;
#endif
};

/* One page, all of it, or -errno. */
static int file_rw_one(int fd, struct vms_swap_io *io, size_t done)
{
	off_t off = (off_t)(io->slot << PAGE_SHIFT);

	while (done < PAGE_SIZE) {
		ssize_t r = io->write
			? pwrite(fd, (char *)io->buf + done, PAGE_SIZE - done,
				 off + (off_t)done)
			: pread(fd, (char *)io->buf + done, PAGE_SIZE - done,
				off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;    /* past the end: not ours */
		done += (size_t)r;
	}
	return 0;
}

/* The length of the run of I/Os from @io that go the same way to
 * consecutive slots (one vectored transfer), at most @max. */
static size_t run_length(const struct vms_swap_io *io, size_t n, size_t max)
{
	size_t k = 1;

	while (k < n && k < max && io[k].write == io[0].write &&
	       io[k].slot == io[0].slot + k)
		k++;
	return k;
}

/* The iovecs of a run of @k pages; how many.  An injected short transfer
 * asks for about half of it, a multiple of 512 bytes as O_DIRECT needs, so
 * the kernel really moves less and run_done must finish the rest. */
static int run_iov(const struct vms_swap_io *io, size_t k, struct iovec *iov)
{
	size_t bytes = k * PAGE_SIZE;

	if (vms_fault(VMS_FAULT_SWAP_SHORT))
		bytes = (bytes / 2 + 511) / 512 * 512;
	for (size_t i = 0; i < k; i++) {
		size_t left = bytes > i * PAGE_SIZE ? bytes - i * PAGE_SIZE : 0;

		iov[i] = (struct iovec){ io[i].buf,
					 left < PAGE_SIZE ? left : PAGE_SIZE };
	}
	return (int)((bytes + PAGE_SIZE - 1) / PAGE_SIZE);
}

/* A run's result: all of it, or finish page by page (short transfers are
 * legal, if rare). */
static void run_done(int fd, struct vms_swap_io *io, size_t k, ssize_t res)
{
	for (size_t i = 0; i < k; i++) {
		ssize_t mine = res - (ssize_t)(i * PAGE_SIZE);

		if (res < 0)
			io[i].res = (int)res;
		else if (mine >= (ssize_t)PAGE_SIZE ||
			 VMS_MUTANT_IS(ignore_short_io))
			io[i].res = 0;
		else
			io[i].res = file_rw_one(fd, &io[i],
						mine > 0 ? (size_t)mine : 0);
	}
}

#define RUN_MAX 64

#ifdef VMS_HAVE_LIBURING
static void ring_unlink(struct swap_file *f, struct uring_slot *u)
{
	pthread_mutex_lock(&f->rings_mu);
	for (struct uring_slot **pp = &f->rings; *pp; pp = &(*pp)->next)
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	pthread_mutex_unlock(&f->rings_mu);
}

/* A thread that used the backend exits: its ring goes. */
static void ring_destroy(void *arg)
{
	struct uring_slot *u = arg;

	ring_unlink(u->f, u);
	io_uring_queue_exit(&u->ring);
	vms_free(u);
}

/* This thread's ring, made on first use; NULL if the kernel refuses. */
static struct io_uring *thread_ring(struct swap_file *f)
{
	struct uring_slot *u = pthread_getspecific(f->key);

	if (u)
		return &u->ring;
	u = vms_calloc(1, sizeof(*u));
	if (!u || io_uring_queue_init(RING_ENTRIES, &u->ring, 0)) {
		vms_free(u);
		return NULL;
	}
	u->f = f;
	pthread_mutex_lock(&f->rings_mu);
	u->next = f->rings;
	f->rings = u;
	pthread_mutex_unlock(&f->rings_mu);
	if (pthread_setspecific(f->key, u)) {
		ring_destroy(u);
		return NULL;
	}
	return &u->ring;
}

static int file_rw_uring(struct io_uring *ring, int fd, struct vms_swap_io *io,
			 size_t n)
{
	struct iovec iov[RING_ENTRIES][RUN_MAX];
	struct vms_swap_io *first[RING_ENTRIES];
	size_t len[RING_ENTRIES];
	int err = 0;

	for (size_t at = 0; at < n && !err;) {
		unsigned runs = 0;

		while (at < n && runs < RING_ENTRIES) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			size_t k = run_length(&io[at], n - at, RUN_MAX);
			off_t off = (off_t)(io[at].slot << PAGE_SHIFT);

			unsigned nr = (unsigned)run_iov(&io[at], k, iov[runs]);

			if (io[at].write)
				io_uring_prep_writev(sqe, fd, iov[runs], nr, off);
			else
				io_uring_prep_readv(sqe, fd, iov[runs], nr, off);
			io_uring_sqe_set_data(sqe, (void *)(uintptr_t)runs);
			first[runs] = &io[at];
			len[runs++] = k;
			at += k;
		}
		int r = io_uring_submit_and_wait(ring, runs);
		if (r < 0) {
			err = r;
			break;
		}
		for (unsigned got = 0; got < runs; got++) {
			struct io_uring_cqe *cqe;

			r = io_uring_wait_cqe(ring, &cqe);
			if (r < 0) {
				err = r;
				break;
			}
			uintptr_t run = (uintptr_t)io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(ring, cqe);
			run_done(fd, first[run], len[run], res);
		}
	}
	return err;
}
#endif

static int file_rw(struct vms_swap_backend *be, struct vms_swap_io *io,
		   size_t n)
{
	struct swap_file *f = container_of(be, struct swap_file, be);

	for (size_t i = 0; i < n; i++)
		if (io[i].slot >= be->nr_slots)
			return -EINVAL;
#ifdef VMS_HAVE_LIBURING
	struct io_uring *ring = f->uring ? thread_ring(f) : NULL;

	if (ring)
		return file_rw_uring(ring, f->fd, io, n);
#endif
	for (size_t at = 0; at < n;) {
		struct iovec iov[RUN_MAX];
		size_t k = run_length(&io[at], n - at, RUN_MAX);
		off_t off = (off_t)(io[at].slot << PAGE_SHIFT);
		int nr = run_iov(&io[at], k, iov);
		ssize_t r;

		do
			r = io[at].write ? pwritev(f->fd, iov, nr, off)
					 : preadv(f->fd, iov, nr, off);
		while (r < 0 && errno == EINTR);
		run_done(f->fd, &io[at], k, r < 0 ? -errno : r);
		at += k;
	}
	return 0;
}

static void file_release(struct vms_swap_backend *be)
{
	struct swap_file *f = container_of(be, struct swap_file, be);

#ifdef VMS_HAVE_LIBURING
	/* No I/O runs now; rings of threads still alive go here, as their
	 * destructors will not run once the key is deleted. */
	pthread_key_delete(f->key);
	while (f->rings) {
		struct uring_slot *u = f->rings;

		f->rings = u->next;
		io_uring_queue_exit(&u->ring);
		vms_free(u);
	}
	pthread_mutex_destroy(&f->rings_mu);
#endif
	close(f->fd);
	vms_free(f);
}

/* An unnamed file in @dir, so nothing is left behind however we exit. */
static int open_in_dir(const char *dir, int flags)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
			errno != EINVAL))
		return fd;
	char tmpl[4096];
	if (snprintf(tmpl, sizeof(tmpl), "%s/vmsync-swap-XXXXXX", dir) >=
	    (int)sizeof(tmpl)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmpl, O_CLOEXEC | flags);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

/* The file, O_DIRECT where the file system takes it (tmpfs does not). */
static int open_swap(const char *path, bool *direct)
{
	struct stat st;
	bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);

	for (int flags = O_DIRECT;; flags = 0) {
		int fd = dir ? open_in_dir(path, flags)
			     : open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
					  flags, 0600);

		if (fd >= 0) {
			if (!dir)
				unlink(path);   /* ours alone, gone when we are */
			*direct = flags != 0;
			return fd;
		}
		if (errno != EINVAL || !flags)
			return -1;
	}
}

int vms_swap_file_create(const char *path, uint64_t bytes, bool use_uring,
			 struct vms_swap_backend **out)
{
	bool direct;
	int fd;

	if (!out || bytes / PAGE_SIZE < 2 || bytes > (1ull << 44))
		return -EINVAL;
	if (!path) {
		path = getenv("TMPDIR");
		if (!path || !*path)
			path = "/tmp";
	}
	fd = open_swap(path, &direct);
	if (fd < 0)
		return -errno;

	uint64_t slots = bytes / PAGE_SIZE;
	/* Real blocks up front, as mkswap wants them: a full disk shows now,
	 * not as write errors later.  Sparse where fallocate is missing. */
	int r = vms_fault(VMS_FAULT_SWAP_FILE)
		? ENOSPC : posix_fallocate(fd, 0, (off_t)(slots * PAGE_SIZE));
	if (r == EOPNOTSUPP || r == EINVAL)
		r = ftruncate(fd, (off_t)(slots * PAGE_SIZE)) ? errno : 0;
	struct swap_file *f = r ? NULL : vms_calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return r ? -r : -ENOMEM;
	}
	f->fd = fd;
	f->direct = direct;
	/* No discard: a freed slot is overwritten when reused, and punching
	 * 4 KiB holes costs a synchronous device discard each (ext4 mounted
	 * with -o discard), as the kernel's swap avoids without --discard. */
	f->be = (struct vms_swap_backend){ .rw = file_rw,
					   .release = file_release,
					   .nr_slots = slots,
					   .name = "file" };
#ifdef VMS_HAVE_LIBURING
	pthread_mutex_init(&f->rings_mu, NULL);
	if (pthread_key_create(&f->key, ring_destroy)) {
		pthread_mutex_destroy(&f->rings_mu);
		close(fd);
		vms_free(f);
		return -EAGAIN;
	}
	/* The creator's ring tells whether the kernel allows io_uring. */
	f->uring = use_uring && thread_ring(f);
#else
	(void)use_uring;
#endif
	*out = &f->be;
	return 0;
}

const char *vms_swap_file_engine(struct vms_swap_backend *be)
{
	struct swap_file *f = container_of(be, struct swap_file, be);

	if (f->uring)
		return f->direct ? "io_uring, O_DIRECT" : "io_uring";
	return f->direct ? "pread/pwrite, O_DIRECT" : "pread/pwrite";
}
