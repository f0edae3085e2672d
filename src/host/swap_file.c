/* swap_file.c - a swap backend on a real file: slot n at offset n*4096,
 * O_DIRECT (a swap that filled the page cache would not free memory),
 * batches submitted through io_uring when the kernel allows it, pread and
 * pwrite otherwise; freed slots are punched out of the file. */
#define _GNU_SOURCE
#include "host/host.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef VMS_HAVE_LIBURING
#include <liburing.h>
#endif

#define RING_ENTRIES 64

struct swap_file {
	struct vms_swap_backend be;
	int fd;
	bool uring;
	bool direct;                    /* O_DIRECT took */
#ifdef VMS_HAVE_LIBURING
	pthread_mutex_t ring_mu;        /* one submitter at a time */
	struct io_uring ring;
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

#ifdef VMS_HAVE_LIBURING
static int file_rw_uring(struct swap_file *f, struct vms_swap_io *io, size_t n)
{
	int err = 0;

	pthread_mutex_lock(&f->ring_mu);
	for (size_t at = 0; at < n && !err;) {
		size_t batch = n - at < RING_ENTRIES ? n - at : RING_ENTRIES;

		for (size_t i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
			struct vms_swap_io *x = &io[at + i];
			off_t off = (off_t)(x->slot << PAGE_SHIFT);

			if (x->write)
				io_uring_prep_write(sqe, f->fd, x->buf, PAGE_SIZE, off);
			else
				io_uring_prep_read(sqe, f->fd, x->buf, PAGE_SIZE, off);
			io_uring_sqe_set_data(sqe, x);
		}
		int r = io_uring_submit_and_wait(&f->ring, (unsigned)batch);
		if (r < 0) {
			err = r;
			break;
		}
		for (size_t got = 0; got < batch; got++) {
			struct io_uring_cqe *cqe;

			r = io_uring_wait_cqe(&f->ring, &cqe);
			if (r < 0) {
				err = r;
				break;
			}
			struct vms_swap_io *x = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&f->ring, cqe);
			/* A short transfer finishes the slow way. */
			x->res = res < 0 ? res
				 : res == PAGE_SIZE ? 0
						    : file_rw_one(f->fd, x, (size_t)res);
		}
		at += batch;
	}
	pthread_mutex_unlock(&f->ring_mu);
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
	if (f->uring)
		return file_rw_uring(f, io, n);
#endif
	for (size_t i = 0; i < n; i++)
		io[i].res = file_rw_one(f->fd, &io[i], 0);
	return 0;
}

static void file_discard(struct vms_swap_backend *be, uint64_t slot)
{
	struct swap_file *f = container_of(be, struct swap_file, be);

	/* Only a hint: a file system that cannot punch keeps the bytes. */
	(void)fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(slot << PAGE_SHIFT), PAGE_SIZE);
}

static void file_release(struct vms_swap_backend *be)
{
	struct swap_file *f = container_of(be, struct swap_file, be);

#ifdef VMS_HAVE_LIBURING
	if (f->uring)
		io_uring_queue_exit(&f->ring);
	pthread_mutex_destroy(&f->ring_mu);
#endif
	close(f->fd);
	free(f);
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
	int r = posix_fallocate(fd, 0, (off_t)(slots * PAGE_SIZE));
	if (r == EOPNOTSUPP || r == EINVAL)
		r = ftruncate(fd, (off_t)(slots * PAGE_SIZE)) ? errno : 0;
	struct swap_file *f = r ? NULL : calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return r ? -r : -ENOMEM;
	}
	f->fd = fd;
	f->direct = direct;
	f->be = (struct vms_swap_backend){ .rw = file_rw,
					   .discard = file_discard,
					   .release = file_release,
					   .nr_slots = slots,
					   .name = "file" };
#ifdef VMS_HAVE_LIBURING
	pthread_mutex_init(&f->ring_mu, NULL);
	f->uring = use_uring && io_uring_queue_init(RING_ENTRIES, &f->ring, 0) == 0;
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
