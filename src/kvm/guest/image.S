/* image.S - the flat guest image (runtime.c built by guest.ld), as data
 * of the vmsync library; vm.c copies it into the boot memslot. */
	.section .rodata
	.balign 4096
	.global vms_kvm_guest_image
	.hidden vms_kvm_guest_image
vms_kvm_guest_image:
	.incbin VMS_KVM_GUEST_BIN
	.global vms_kvm_guest_image_end
	.hidden vms_kvm_guest_image_end
vms_kvm_guest_image_end:
	.section .note.GNU-stack,"",@progbits
