/* memslot.c - tests of a VM's memslots: argument checks of
 * vms_vm_set_memslot, and gpa -> hva through many slots as they are added,
 * deleted, moved and aliased. */
#include "test.h"

#define PG VMS_PAGE_SIZE
#define NSLOTS 20
#define STRIDE 16                       /* gfns per slot position */
#define GFN0 100                        /* first slot position */

static void expect_hva(struct vms_vm *vm, uint64_t gpa, uint64_t want)
{
	uint64_t hva = 0;

	CHECK_OK(vms_vm_gpa_to_hva(vm, gpa, &hva));
	CHECK(hva == want, "gpa %#" PRIx64 " -> %#" PRIx64 ", want %#" PRIx64,
	      gpa, hva, want);
}

static void expect_none(struct vms_vm *vm, uint64_t gpa)
{
	uint64_t hva = 0xdead;

	CHECK_EQ(vms_vm_gpa_to_hva(vm, gpa, &hva), -ENOENT);
}

/* hva room for slots: reserved in the mm, never touched. */
static uint64_t reserve(struct vms_mm *mm, size_t pages)
{
	uint64_t hva;

	CHECK_OK(vms_mmap(mm, 0, pages * PG,
			  VMS_PROT_READ | VMS_PROT_WRITE,
			  VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva));
	return hva;
}

static void test_create(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct vms_vm_config bad = { .max_gpa = PG + 1 };

	t_setup(8, &phys, &mm);
	CHECK_EQ(vms_vm_create(NULL, NULL, &vm), -EINVAL);
	CHECK_EQ(vms_vm_create(mm, &bad, &vm), -EINVAL);
	CHECK_OK(vms_vm_create(mm, NULL, &vm));
	/* A new VM has no memory. */
	expect_none(vm, 0);
	expect_none(vm, 1ull << 30);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

static void test_errors(void)
{
	struct vms_vm_config cfg = { .max_gpa = 256 * PG };
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	uint64_t h;

	t_setup(8, &phys, &mm);
	CHECK_OK(vms_vm_create(mm, &cfg, &vm));
	h = reserve(mm, 64);

	CHECK_EQ(t_memslot(vm, 32, 0, 4, h, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, ~0u, 0, 4, h, 0), -EINVAL);
	CHECK_OK(t_memslot(vm, 31, 0, 4, h, 0));
	CHECK_EQ(t_memslot(vm, 1, 8, 4, h + 1, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, 1, 8, 4, h + PG / 2, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, 1, 8, 4, h, 0x2), -EINVAL);
	CHECK_EQ(t_memslot(vm, 1, 8, 4, h, ~0u), -EINVAL);
	/* Past max_gpa: starting there, or running over its end. */
	CHECK_EQ(t_memslot(vm, 1, 256, 1, h, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, 1, 250, 7, h, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, 1, 1, ~0ull, h, 0), -EINVAL);
	CHECK_OK(t_memslot(vm, 1, 250, 6, h, 0));   /* to the end */
	/* hva range outside the mm. */
	CHECK_EQ(t_memslot(vm, 2, 100, 1, 1ull << 60, 0), -EINVAL);
	/* gfn overlaps: inside, across either end, around. */
	CHECK_EQ(t_memslot(vm, 2, 1, 1, h + 8 * PG, 0), -EEXIST);
	CHECK_EQ(t_memslot(vm, 2, 3, 2, h + 8 * PG, 0), -EEXIST);
	CHECK_EQ(t_memslot(vm, 2, 248, 3, h + 8 * PG, 0), -EEXIST);
	CHECK_EQ(t_memslot(vm, 2, 0, 10, h + 8 * PG, 0), -EEXIST);
	/* Touching is no overlap. */
	CHECK_OK(t_memslot(vm, 2, 4, 4, h + 8 * PG, 0));
	/* Moving a slot onto another's gfns. */
	CHECK_EQ(t_memslot(vm, 2, 2, 4, h + 8 * PG, 0), -EEXIST);
	/* Resizing. */
	CHECK_EQ(t_memslot(vm, 2, 4, 5, h + 8 * PG, 0), -EINVAL);
	CHECK_EQ(t_memslot(vm, 2, 4, 3, h + 8 * PG, 0), -EINVAL);
	/* Deleting what is not there. */
	CHECK_EQ(t_memslot(vm, 3, 0, 0, 0, 0), -ENOENT);
	/* In bytes: a size or address that is not whole pages, no slot. */
	struct vms_memslot m = { .slot = 4, .guest_phys_addr = 100 * PG,
				 .memory_size = PG + 1, .userspace_addr = h };
	CHECK_EQ(vms_vm_set_memslot(vm, &m), -EINVAL);
	m.memory_size = PG;
	m.guest_phys_addr = 100 * PG + 8;
	CHECK_EQ(vms_vm_set_memslot(vm, &m), -EINVAL);
	m.guest_phys_addr = 100 * PG;
	CHECK_OK(vms_vm_set_memslot(vm, &m));
	m.memory_size = 0;
	CHECK_OK(vms_vm_set_memslot(vm, &m));
	CHECK_EQ(vms_vm_set_memslot(vm, NULL), -EINVAL);
	CHECK_EQ(t_memslot(vm, 31, 0, 0, 0, 0), 0);
	CHECK_EQ(t_memslot(vm, 31, 0, 0, 0, 0), -ENOENT);

	/* None of the refusals changed the layout. */
	expect_none(vm, 0);                     /* slot 31 deleted */
	expect_hva(vm, 4 * PG + 5, h + 8 * PG + 5);
	expect_hva(vm, 7 * PG + PG - 1, h + 11 * PG + PG - 1);
	expect_none(vm, 8 * PG);
	expect_hva(vm, 250 * PG, h);
	expect_hva(vm, 255 * PG + 9, h + 5 * PG + 9);
	expect_none(vm, 256 * PG);
	expect_none(vm, 249 * PG + PG - 1);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

struct slot {
	unsigned id;
	uint64_t gfn, npages, hva;
	bool live;
};

/* Checks every gpa of [0, end) against the slot table: inside a slot at a
 * few offsets of each page, -ENOENT in the gaps. */
static void check_all(struct vms_vm *vm, const struct slot *s, uint64_t *seed)
{
	const uint64_t end = GFN0 + NSLOTS * STRIDE + 8;

	for (uint64_t gfn = 0; gfn < end; gfn++) {
		const struct slot *hit = NULL;

		for (unsigned i = 0; i < NSLOTS; i++)
			if (s[i].live && gfn >= s[i].gfn &&
			    gfn < s[i].gfn + s[i].npages)
				hit = &s[i];
		uint64_t offs[3] = { 0, PG - 1, t_rand(seed) % PG };
		for (unsigned k = 0; k < 3; k++) {
			uint64_t gpa = gfn * PG + offs[k];

			if (hit)
				expect_hva(vm, gpa,
					   hit->hva + (gfn - hit->gfn) * PG +
						   offs[k]);
			else
				expect_none(vm, gpa);
		}
	}
}

static void shuffle(unsigned *a, unsigned n, uint64_t *seed)
{
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(t_rand(seed) % (i + 1)), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static void test_many_slots(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	struct slot s[NSLOTS];
	unsigned ids[32], order[NSLOTS], hpos[NSLOTS];
	uint64_t seed = 20, room;
	/* Small: tearing a VM down scans its whole shadow table. */
	struct vms_vm_config cfg = { .max_gpa = 1ull << 24 };

	t_setup(8, &phys, &mm);
	CHECK_OK(vms_vm_create(mm, &cfg, &vm));
	room = reserve(mm, 2 * NSLOTS * STRIDE);
	for (unsigned i = 0; i < 32; i++)
		ids[i] = i;
	shuffle(ids, 32, &seed);
	for (unsigned i = 0; i < NSLOTS; i++)
		order[i] = hpos[i] = i;
	shuffle(order, NSLOTS, &seed);
	shuffle(hpos, NSLOTS, &seed);

	/* Slot i sits at gfn position i, at a shuffled hva position, with a
	 * random size that leaves gaps; slots go in in random order. */
	for (unsigned i = 0; i < NSLOTS; i++) {
		s[i] = (struct slot){
			.id = ids[i],
			.gfn = GFN0 + i * STRIDE + t_rand(&seed) % 4,
			.npages = 1 + t_rand(&seed) % (STRIDE - 4),
			.hva = room + hpos[i] * STRIDE * PG,
		};
	}
	for (unsigned k = 0; k < NSLOTS; k++) {
		struct slot *x = &s[order[k]];

		CHECK_OK(t_memslot(vm, x->id, x->gfn, x->npages,
					    x->hva, 0));
		x->live = true;
	}
	check_all(vm, s, &seed);

	/* Delete a quarter of them. */
	for (unsigned k = 0; k < NSLOTS / 4; k++) {
		struct slot *x = &s[order[k]];

		CHECK_OK(t_memslot(vm, x->id, 0, 0, 0, 0));
		x->live = false;
	}
	check_all(vm, s, &seed);

	/* Move some: new hvas in the upper half of the room, and for every
	 * other one a new gfn too (within its own position, so that it
	 * may overlap its old gfns but no other slot's). */
	for (unsigned k = NSLOTS / 4; k < NSLOTS / 2; k++) {
		struct slot *x = &s[order[k]];
		unsigned pos = (unsigned)(x - s);

		x->hva = room + (NSLOTS + hpos[pos]) * STRIDE * PG;
		if (k & 1)
			x->gfn = GFN0 + pos * STRIDE +
				 (STRIDE - x->npages) / 2;
		CHECK_OK(t_memslot(vm, x->id, x->gfn, x->npages,
					    x->hva, 0));
	}
	check_all(vm, s, &seed);

	/* Re-add the deleted ones under their old ids. */
	for (unsigned k = 0; k < NSLOTS / 4; k++) {
		struct slot *x = &s[order[k]];

		CHECK_OK(t_memslot(vm, x->id, x->gfn, x->npages,
					    x->hva, 0));
		x->live = true;
	}
	check_all(vm, s, &seed);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

static void test_alias(void)
{
	struct vms_phys *phys;
	struct vms_mm *mm;
	struct vms_vm *vm;
	uint64_t h;
	struct vms_vm_config cfg = { .max_gpa = 1ull << 24 };

	t_setup(8, &phys, &mm);
	CHECK_OK(vms_vm_create(mm, &cfg, &vm));
	h = reserve(mm, 16);
	/* The same hvas behind two gfn ranges, and a third overlapping
	 * them partly. */
	CHECK_OK(t_memslot(vm, 0, 0, 8, h, 0));
	CHECK_OK(t_memslot(vm, 1, 100, 8, h, VMS_MEM_READONLY));
	CHECK_OK(t_memslot(vm, 2, 200, 8, h + 4 * PG, 0));
	for (uint64_t i = 0; i < 8; i++) {
		expect_hva(vm, i * PG + 3, h + i * PG + 3);
		expect_hva(vm, (100 + i) * PG + 3, h + i * PG + 3);
		expect_hva(vm, (200 + i) * PG, h + (4 + i) * PG);
	}
	/* Deleting one alias leaves the other. */
	CHECK_OK(t_memslot(vm, 0, 0, 0, 0, 0));
	expect_none(vm, 0);
	expect_hva(vm, 100 * PG, h);
	vms_vm_destroy(vm);
	t_teardown(phys, mm);
}

int main(void)
{

	T_RUN(test_create);
	T_RUN(test_errors);
	T_RUN(test_many_slots);
	T_RUN(test_alias);
	return T_DONE();
}
