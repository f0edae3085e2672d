/* bench_guest.c - `vmsync bench` figures seen from the guest: reads
 * through the soft TLB, first-touch faults, DONTNEED under running vCPUs,
 * 1 against 2 vCPUs, and the metadata kept per page; each with its anchor
 * measured right after it. */
#define _GNU_SOURCE
#include "tool/bench.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "vmsync.h"

#define PAGE VMS_PAGE_SIZE
#define SPIN_PAGES 16               /* where running vCPUs idle */
#define INVAL_PAGES (1ull << 18)    /* 1 GiB */

struct gvm {
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
};

/* A VM with @pages of guest RAM at gfn 0 plus SPIN_PAGES after it, and
 * frames for all of it: these figures measure no swapping. */
static int gvm_up(struct gvm *g, uint64_t pages)
{
	uint64_t all = pages + SPIN_PAGES, hva;
	struct vms_phys_config pc = { .nr_nodes = 1,
				      .node_frames = { all + 64 } };
	struct vms_vm_config vc = { .max_gpa = all * PAGE };
	int r;

	memset(g, 0, sizeof(*g));
	if ((r = vms_phys_create(&pc, &g->phys)) ||
	    (r = vms_mm_create(g->phys, NULL, &g->mm)) ||
	    (r = vms_vm_create(g->mm, &vc, &g->vm)) ||
	    (r = vms_mmap(g->mm, 0, all * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva)))
		return r;
	return vms_vm_set_memslot(g->vm, &(struct vms_memslot){
		.memory_size = all * PAGE, .userspace_addr = hva });
}

static void gvm_down(struct gvm *g)
{
	vms_vm_destroy(g->vm);
	vms_mm_destroy(g->mm);
	vms_phys_destroy(g->phys);
}

enum job_kind { JOB_READ, JOB_READ_PAGE, JOB_TOUCH, JOB_SPIN };

/* One vCPU's part: gfns [first, first + n).  JOB_SPIN first reads its
 * pages (so sptes exist), says so, then reads SPIN_PAGES until told to
 * stop: a vCPU that is in guest mode when the host invalidates. */
struct job {
	enum job_kind kind;
	uint64_t first, n, spin_gfn;
	atomic_bool *stop;
	atomic_int *ready;
	int err;
};

static int guest_job(struct vms_vcpu *v, void *arg)
{
	struct job *j = arg;
	uint64_t x = 0, sink = 0, page[PAGE / 8];
	int err = 0;

	/* The error in a local, as a guest program keeps it in a register. */
	for (uint64_t g = j->first; g < j->first + j->n && !err; g++) {
		if (j->kind == JOB_TOUCH) {
			err = vms_guest_write64(v, g * PAGE, g);
			continue;
		}
		if (j->kind == JOB_READ_PAGE) {
			err = vms_guest_read(v, g * PAGE, page, PAGE);
			sink += page[g % (PAGE / 8)];
			continue;
		}
		for (uint64_t off = 0; off < PAGE && !err; off += 8) {
			err = vms_guest_read64(v, g * PAGE + off, &x);
			sink += x;
		}
	}
	j->err = err;
	if (j->kind == JOB_SPIN) {
		atomic_fetch_add(j->ready, 1);
		while (!atomic_load(j->stop) && !j->err) {
			j->err = vms_guest_read64(
				v, (j->spin_gfn + (x++ % SPIN_PAGES)) * PAGE, &x);
			sink += x;
		}
	}
	return sink == 1 ? 1 : 0;       /* keeps the reads from going away */
}

/* Runs @nv vCPUs splitting [0, pages) between them; wall-clock seconds. */
static int run_jobs(struct gvm *g, enum job_kind kind, uint64_t pages,
		    unsigned nv, double *secs)
{
	struct vms_vcpu *v[2];
	struct job j[2];
	unsigned started = 0;
	int r = 0;

	double t = now_s();
	for (; started < nv && !r; started++) {
		j[started] = (struct job){ .kind = kind,
					   .first = started * pages / nv,
					   .n = pages / nv };
		r = vms_vcpu_start(g->vm, guest_job, &j[started], &v[started]);
	}
	for (unsigned i = 0; i < started; i++) {
		vms_vcpu_join(v[i], NULL);
		if (!r)
			r = j[i].err;
	}
	*secs = now_s() - t;
	return r;
}

/* The anchors of guest reads over host memory: the same 8-byte reads,
 * or with @by_page the same page-sized copies. */
static double host_read_gbs(uint64_t pages, bool by_page)
{
	uint64_t *buf = malloc(pages * PAGE), page[PAGE / 8], sink = 0;

	if (!buf)
		return 0;
	memset(buf, 1, pages * PAGE);
	double t = now_s();
	for (uint64_t g = 0; g < pages; g++) {
		if (by_page) {
			memcpy(page, buf + g * (PAGE / 8), PAGE);
			sink += ((volatile uint64_t *)page)[g % (PAGE / 8)];
			continue;
		}
		for (uint64_t i = g * (PAGE / 8); i < (g + 1) * (PAGE / 8); i++)
			sink += ((volatile uint64_t *)buf)[i];
	}
	double s = now_s() - t;
	free(buf);
	return sink ? pages * PAGE / s / 1e9 : 0;
}

static double host_first_touch(uint64_t pages)
{
	uint8_t *a = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (a == MAP_FAILED)
		return 0;
	double t = now_s();
	for (uint64_t i = 0; i < pages; i++)
		a[i * PAGE] = 1;
	double s = now_s() - t;
	munmap(a, pages * PAGE);
	return pages / s;
}

static double host_dontneed_ns(uint64_t pages)
{
	uint8_t *a = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (a == MAP_FAILED)
		return 0;
	memset(a, 1, pages * PAGE);
	double t = now_s();
	int r = madvise(a, pages * PAGE, MADV_DONTNEED);
	double s = now_s() - t;
	munmap(a, pages * PAGE);
	return r ? 0 : s * 1e9 / pages;
}

/* DONTNEED of every page two running vCPUs have mapped. */
static int invalidation(uint64_t pages, double *ns)
{
	struct gvm g;
	atomic_bool stop = false;
	atomic_int ready = 0;
	struct vms_vcpu *v[2];
	struct job j[2];
	unsigned started = 0;
	uint64_t hva;
	int r = gvm_up(&g, pages);

	for (; !r && started < 2; started++) {
		j[started] = (struct job){ .kind = JOB_SPIN,
					   .first = started * pages / 2,
					   .n = pages / 2, .spin_gfn = pages,
					   .stop = &stop, .ready = &ready };
		r = vms_vcpu_start(g.vm, guest_job, &j[started], &v[started]);
	}
	while (!r && atomic_load(&ready) < 2)
		;
	if (!r)
		r = vms_vm_gpa_to_hva(g.vm, 0, &hva);
	double t = now_s();
	if (!r)
		r = vms_madvise(g.mm, hva, pages * PAGE, VMS_MADV_DONTNEED);
	*ns = (now_s() - t) * 1e9 / pages;
	atomic_store(&stop, true);
	for (unsigned i = 0; i < started; i++)
		vms_vcpu_join(v[i], NULL);
	gvm_down(&g);
	return r;
}

/* The shuffle that scatters the Zipf ranks, the same for both sides. */
static uint64_t *zipf_order(uint64_t n, uint64_t seed)
{
	uint64_t *p = malloc(n * sizeof(*p));

	for (uint64_t i = 0; p && i < n; i++)
		p[i] = i;
	for (uint64_t i = n; p && i > 1; i--) {
		uint64_t j = tool_rand(&seed) % i, t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

double zipf_loop_host(uint8_t *base, uint64_t pages, uint64_t seed)
{
	uint64_t *order = zipf_order(pages, seed), rng = seed, sink = 0;
	uint64_t ops = pages * ZIPF_OPS_PER_PAGE;
	struct zipf z;

	if (!order)
		return 0;
	zipf_init(&z, pages, 0.99);
	double t = now_s();
	for (uint64_t i = 0; i < ops; i++) {
		volatile uint64_t *w =
			(uint64_t *)(base + order[zipf_next(&z, &rng)] * PAGE);

		if (tool_rand(&rng) % 10 < 3)
			*w = i;
		else
			sink += *w;
	}
	double s = now_s() - t;
	free(order);
	return sink != 1 ? ops / s : 0;
}

struct zipf_job {
	uint64_t pages, seed;
	double rate;
	int err;
};

/* Every page (filled by the host) written once more from the vCPU, so
 * that its mapping is in place, untimed; then the loop. */
static int guest_zipf_bench(struct vms_vcpu *v, void *arg)
{
	struct zipf_job *j = arg;
	uint64_t *order = zipf_order(j->pages, j->seed), rng = j->seed, x;
	uint64_t ops = j->pages * ZIPF_OPS_PER_PAGE;
	struct zipf z;

	if (!order) {
		j->err = -ENOMEM;
		return 0;
	}
	for (uint64_t g = 0; g < j->pages && !j->err; g++)
		j->err = vms_guest_write64(v, g * PAGE, g);
	zipf_init(&z, j->pages, 0.99);
	double t = now_s();
	for (uint64_t i = 0; i < ops && !j->err; i++) {
		uint64_t gpa = order[zipf_next(&z, &rng)] * PAGE;

		j->err = tool_rand(&rng) % 10 < 3 ? vms_guest_write64(v, gpa, i)
						  : vms_guest_read64(v, gpa, &x);
	}
	j->rate = ops / (now_s() - t);
	free(order);
	return 0;
}

int vms_zipf_rep(struct vms_phys *phys, uint64_t pages, uint64_t seed,
		 double *ops_per_s)
{
	struct vms_vm_config vc = { .max_gpa = pages * PAGE };
	struct zipf_job j = { .pages = pages, .seed = seed };
	struct vms_mm *mm;
	struct vms_vm *vm = NULL;
	struct vms_vcpu *v;
	uint64_t hva;
	int r;

	if ((r = vms_mm_create(phys, NULL, &mm)))
		return r;
	r = vms_mmap(mm, 0, pages * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva);
	for (uint64_t i = 0; !r && i < pages; i++) {
		uint64_t buf[PAGE / 8];

		bench_fill(buf, i, BENCH_MIXED);
		r = vms_mm_write(mm, hva + i * PAGE, buf, PAGE);
	}
	if (!r && !(r = vms_vm_create(mm, &vc, &vm)) &&
	    !(r = vms_vm_set_memslot(vm, &(struct vms_memslot){
			.memory_size = pages * PAGE, .userspace_addr = hva })) &&
	    !(r = vms_vcpu_start(vm, guest_zipf_bench, &j, &v))) {
		vms_vcpu_join(v, NULL);
		r = j.err;
		*ops_per_s = j.rate;
	}
	vms_vm_destroy(vm);
	vms_mm_destroy(mm);
	return r;
}

/* ---- random swap-in by 1 and 2 vCPUs ---- */

struct swapin_job {
	const uint64_t *order;
	uint64_t n;
	int err;
};

static int guest_swapin(struct vms_vcpu *v, void *arg)
{
	struct swapin_job *j = arg;
	uint64_t x;

	for (uint64_t i = 0; i < j->n && !j->err; i++)
		j->err = vms_guest_read64(v, j->order[i] * PAGE, &x);
	return 0;
}

int vms_swapin_vcpus(struct vms_phys *phys, uint64_t pages,
		     const uint64_t *order, unsigned nv, double *rate)
{
	struct vms_vm_config vc = { .max_gpa = pages * PAGE };
	struct swapin_job j[2];
	struct vms_vcpu *v[2];
	struct vms_phys_stats a, b;
	struct vms_vm *vm = NULL;
	struct vms_mm *mm;
	unsigned started = 0;
	uint64_t hva;
	int r;

	if (nv < 1 || nv > 2 || (r = vms_mm_create(phys, NULL, &mm)))
		return nv < 1 || nv > 2 ? -EINVAL : r;
	r = vms_mmap(mm, 0, pages * PAGE, VMS_PROT_READ | VMS_PROT_WRITE,
		     VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva);
	for (uint64_t i = 0; !r && i < pages; i++)
		r = vms_mm_write(mm, hva + i * PAGE, &i, sizeof(i));
	if (!r)
		r = vms_madvise(mm, hva, pages * PAGE, VMS_MADV_PAGEOUT);
	if (!r)
		r = vms_vm_create(mm, &vc, &vm);
	if (!r)
		r = vms_vm_set_memslot(vm, &(struct vms_memslot){
			.memory_size = pages * PAGE, .userspace_addr = hva });
	vms_phys_stats(phys, &a);
	double t = now_s();
	for (; !r && started < nv; started++) {
		uint64_t share = pages / nv;

		j[started] = (struct swapin_job){
			.order = order + started * share,
			.n = started + 1 < nv ? share : pages - started * share };
		r = vms_vcpu_start(vm, guest_swapin, &j[started], &v[started]);
	}
	for (unsigned i = 0; i < started; i++) {
		vms_vcpu_join(v[i], NULL);
		r = r ? r : j[i].err;
	}
	*rate = pages / (now_s() - t);
	vms_phys_stats(phys, &b);
	if (!r && b.pswpin - a.pswpin < pages)
		r = -EIO;               /* not all from swap: a wrong figure */
	vms_vm_destroy(vm);
	vms_mm_destroy(mm);
	return r;
}

int guest_bench_rep(const struct bench_cfg *cfg)
{
	uint64_t n = cfg->pages;
	struct gvm g;
	double s1, s2, s3;
	int r;

	/* First touch at 1 and 2 vCPUs, then reads of what they touched. */
	if ((r = gvm_up(&g, n)) || (r = run_jobs(&g, JOB_TOUCH, n, 1, &s1)) ||
	    (r = run_jobs(&g, JOB_READ, n, 1, &s2)) ||
	    (r = run_jobs(&g, JOB_READ_PAGE, n, 1, &s3))) {
		gvm_down(&g);
		return r;
	}
	add(&figures[F_ACCESS_PAGE].ours, n * PAGE / s3 / 1e9);
	add(&figures[F_ACCESS_PAGE].theirs, host_read_gbs(n, true));
	add(&figures[F_FIRST_TOUCH].ours, n / s1);
	add(&figures[F_FAULT_SCALE].theirs, n / s1);
	add(&figures[F_ACCESS].ours, n * PAGE / s2 / 1e9);
	add(&figures[F_ACCESS_SCALE].theirs, n * PAGE / s2 / 1e9);
	r = run_jobs(&g, JOB_READ, n, 2, &s2);
	gvm_down(&g);
	if (r || (r = gvm_up(&g, n)) || (r = run_jobs(&g, JOB_TOUCH, n, 2, &s1))) {
		gvm_down(&g);
		return r;
	}
	gvm_down(&g);
	add(&figures[F_FAULT_SCALE].ours, n / s1);
	add(&figures[F_ACCESS_SCALE].ours, n * PAGE / s2 / 1e9);
	add(&figures[F_ACCESS].theirs, host_read_gbs(n, false));

	/* Invalidation at 1 GiB, as a VMM drops a guest's worth of memory
	 * at once; a quick run keeps its own size. */
	uint64_t inval = n >= 32768 ? INVAL_PAGES : n;
	double ns, touch, kvm_ns;
	if ((r = invalidation(inval, &ns)))
		return r;
	add(&figures[F_INVALIDATE].ours, ns);
	/* A real guest's, where /dev/kvm opens; else the host's own. */
	if (kvm_touch_anchors(inval, &touch, &kvm_ns)) {
		add(&figures[F_FIRST_TOUCH].theirs, touch);
		add(&figures[F_INVALIDATE].theirs, kvm_ns);
	} else {
		add(&figures[F_FIRST_TOUCH].theirs, host_first_touch(n));
		add(&figures[F_INVALIDATE].theirs, host_dontneed_ns(inval));
	}

	add(&figures[F_METADATA].ours, (double)vms_metadata_bytes_per_page());
	add(&figures[F_METADATA].theirs, 64 + 8 + 8);
	return 0;
}
