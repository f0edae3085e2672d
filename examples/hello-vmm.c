/* hello-vmm.c - the smallest VMM on vmsync, to start from.
 *
 * Guest RAM of 4 MiB lives in a host address space over a pool of half as
 * many frames, with a swap file behind it: vmsync swaps guest memory while
 * the guest runs, without pinning it, and the VM's shadow MMU follows every
 * change through MMU notifiers.  One vCPU writes every guest page; the host
 * then pages all of it out; a second vCPU reads it back and checks it.
 *
 *   cc hello-vmm.c $(pkg-config --cflags --libs vmsync) -o hello-vmm
 *
 * Prints what the host swapped and "verified", or why it failed (exit 1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <vmsync.h>

#define GUEST_PAGES 1024u

/* The word the guest keeps in each page. */
static uint64_t word(uint64_t gfn)
{
	return gfn * 0x9e3779b97f4a7c15ull + 1;
}

/* Guest programs run on their vCPU's thread; a failed access says why in
 * vms_vcpu_exit().  @arg: non-NULL to check instead of write. */
static int guest(struct vms_vcpu *vcpu, void *arg)
{
	for (uint64_t gfn = 0; gfn < GUEST_PAGES; gfn++) {
		uint64_t gpa = gfn * VMS_PAGE_SIZE, v;

		if (!arg) {
			if (vms_guest_write64(vcpu, gpa, word(gfn)))
				return 2;
		} else if (vms_guest_read64(vcpu, gpa, &v)) {
			return 2;
		} else if (v != word(gfn)) {
			return 3;
		}
	}
	return 0;
}

/* Runs one vCPU over @vm to its end: 0, or what went wrong. */
static const char *run_vcpu(struct vms_vm *vm, void *arg)
{
	struct vms_vcpu *vcpu;
	int ret = 0;

	if (vms_vcpu_start(vm, guest, arg, &vcpu) || vms_vcpu_join(vcpu, &ret))
		return "cannot run a vCPU";
	return ret == 3 ? "the guest read back other data"
	       : ret   ? "a guest access failed"
		       : NULL;
}

int main(void)
{
	struct vms_phys_config pc = { .nr_nodes = 1,
				      .node_frames = { GUEST_PAGES / 2 } };
	size_t ram = (size_t)GUEST_PAGES * VMS_PAGE_SIZE;
	struct vms_swap_backend *swap;
	struct vms_phys *phys = NULL;
	struct vms_mm *mm = NULL;
	struct vms_vm *vm = NULL;
	struct vms_phys_stats st;
	const char *what = NULL;
	uint64_t hva;
	int r;

	if ((r = vms_phys_create(&pc, &phys)))
		what = "vms_phys_create";
	/* An unnamed file in $TMPDIR (or /tmp), a slot per guest page. */
	else if ((r = vms_swap_file_create(NULL, ram + 64 * VMS_PAGE_SIZE, true,
					   &swap)))
		what = "vms_swap_file_create";
	else if ((r = vms_swap_on(phys, swap, 0, 0)))
		what = "vms_swap_on";
	else if ((r = vms_mm_create(phys, NULL, &mm)))
		what = "vms_mm_create";
	else if ((r = vms_mmap(mm, 0, ram, VMS_PROT_READ | VMS_PROT_WRITE,
			       VMS_MAP_PRIVATE | VMS_MAP_ANONYMOUS, &hva)))
		what = "vms_mmap";
	else if ((r = vms_vm_create(mm, NULL, &vm)))
		what = "vms_vm_create";
	else if ((r = vms_vm_set_memslot(vm, &(struct vms_memslot){
			  .slot = 0, .guest_phys_addr = 0, .memory_size = ram,
			  .userspace_addr = hva })))
		what = "vms_vm_set_memslot";
	if (what) {
		fprintf(stderr, "hello-vmm: %s: %s\n", what, strerror(-r));
		goto out;
	}

	/* Twice the RAM the pool has: reclaim swaps as the guest writes. */
	const char *bad = run_vcpu(vm, NULL);
	if (!bad && (r = vms_madvise(mm, hva, ram, VMS_MADV_PAGEOUT)))
		bad = "PAGEOUT failed";
	if (!bad)
		bad = run_vcpu(vm, "check");
	vms_phys_stats(phys, &st);
	printf("hello-vmm: %u guest pages on %u frames: %" PRIu64
	       " written to swap, %" PRIu64 " read back\n", GUEST_PAGES,
	       GUEST_PAGES / 2, st.pswpout, st.pswpin);
	if (bad) {
		fprintf(stderr, "hello-vmm: %s\n", bad);
		r = -1;
	} else {
		printf("verified\n");
	}
out:
	vms_vm_destroy(vm);
	vms_mm_destroy(mm);
	vms_phys_destroy(phys);
	return r ? 1 : 0;
}
