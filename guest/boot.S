/* boot.S — the two entries (machine 64-bit e_entry, PVH 32-bit), the static
 * boot page tables, trap/interrupt stubs, the SYSCALL entry, the return-to-
 * user paths and the context switch. */
#include "virtlab/guest_abi.h"
#define KOFF 0xffffffff80000000

/* A pv-op jump site (kernel.h "pv-op call sites"): `jmp *pv_ops+off(%rip)`
 * recorded in .pv_sites (kind 1), patched at boot to a direct jump. */
.macro PVOP_JMP off
771:	jmp *pv_ops+\off(%rip)
772:
	.pushsection .pv_sites, "a"
	.balign 8
	.quad 771b
	.byte 772b-771b, \off/8, 1, 0, 0, 0, 0, 0
	.popsection
.endm

	.section .note.pvh, "a"
	.balign 4
	.long 4, 8, 18          /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.quad vl_pvh_entry

	.section .boot.data, "aw"
	.balign 4096
/* Kernel page tables used from the first instruction on: one PD maps
 * physical [0, 1 GiB) with 2 MiB pages; it is reachable at the identity
 * (PML4[0], boot only), the direct map (PML4[273]) and the kernel image
 * (PML4[511], PDPT[510]). */
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt_id + 3
	.fill 272, 8, 0
	.quad boot_pdpt_dm + 3
	.fill 237, 8, 0
	.quad boot_pdpt_k + 3
boot_pdpt_id:
	.quad boot_pd + 3
	.fill 511, 8, 0
boot_pdpt_dm:
	.quad boot_pd + 3
	.fill 511, 8, 0
boot_pdpt_k:
	.fill 510, 8, 0
	.quad boot_pd + 3
	.quad 0
boot_pd:
	.set i, 0
	.rept 512
	.quad (i << 21) | 0x83
	.set i, i + 1
	.endr
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff    /* 0x08 64-bit code */
	.quad 0x00cf92000000ffff    /* 0x10 data */
boot_gdt_desc:
	.word 23
	.quad boot_gdt

	.section .boot.bss, "aw", @nobits
	.balign 16
	.skip 4096
boot_stack_top:

	.section .boot.text, "ax"
	.code32
	.globl vl_pvh_entry
vl_pvh_entry:
	cli
	mov %ebx, %esi              /* hvm_start_info physical address */
	lgdt boot_gdt_desc
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $boot_stack_top, %esp
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax              /* PAE */
	mov %eax, %cr4
	mov $0xC0000080, %ecx
	rdmsr
	or $0x901, %eax             /* LME | NXE | SCE */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax        /* PG | PE */
	mov %eax, %cr0
	ljmp $0x08, $pvh64
	.code64
pvh64:
	mov %esi, %edx              /* rdx = start_info */
	xor %eax, %eax              /* rax = 0: PVH */
	xor %edi, %edi
	xor %esi, %esi
	jmp common64

	.globl vl_entry64
vl_entry64:                         /* the machine: RAX magic, RDI cmdline, RSI RAM */
	xor %edx, %edx
common64:
	cli
	lgdt boot_gdt_desc
	mov $boot_pml4, %ebx
	mov %rbx, %cr3
	mov $0x10, %ebx
	mov %ebx, %ds
	mov %ebx, %es
	mov %ebx, %ss
	/* switch to the kernel's stack and jump high */
	movabs $kstack0_top, %rsp
	mov %rax, %rcx
	movabs $kmain, %rax
	pushq $0x08
	push %rax
	mov %rcx, %rax
	/* kmain(magic, cmdline_phys, ram_bytes, start_info_phys) */
	mov %rdx, %rcx
	mov %rsi, %rdx
	mov %rdi, %rsi
	mov %rax, %rdi
	lretq

	.text
/* ---- trap stubs: every vector pushes (err or 0), vector; then common ---- */
	.macro STUB
	.balign 16
	.if (v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30)
	.else
	pushq $0
	.endif
	pushq $v
	jmp trap_common
	.endm

	.balign 16
	.globl vl_trap_stubs
vl_trap_stubs:
	.set v, 0
	.rept 256
	STUB
	.set v, v + 1
	.endr

	.macro SAVE
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	.endm
	.macro RESTORE
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	.endm

trap_common:
	cld
	SAVE
	mov %rsp, %rdi
	call trap_dispatch
	jmp trap_exit

	.globl trap_exit
trap_exit:                          /* rsp -> struct trapframe */
	testb $3, 0x90(%rsp)            /* cs */
	jz 1f
	PVOP_JMP 8                      /* pv_ops.iret_to_user */
1:	PVOP_JMP 16                     /* pv_ops.iret_to_kernel */

	.globl native_iret_to_kernel
native_iret_to_kernel:
	RESTORE
	add $16, %rsp
	iretq

/* Paravirtual return (user or kernel frame): the VMM performs the IRETQ
 * (VL_HC_IRET); RAX, R11 and RCX travel on the stack because the
 * hypercall's SYSCALL clobbers them. */
	.globl pv_iret_frame
pv_iret_frame:
	RESTORE
	add $16, %rsp
	push %rcx
	push %r11
	push %rax
	mov $VL_HC_IRET, %eax
	syscall
	ud2                             /* the VMM never returns here */

	.globl native_iret_to_user
native_iret_to_user:
	RESTORE
	add $16, %rsp
	iretq

/* SYSCALL: build the same trapframe on the kernel stack (IF is masked by
 * FMASK; single CPU, so no SWAPGS: the stack comes from a global). */
	.globl vl_syscall_entry
vl_syscall_entry:
	mov %rsp, syscall_user_rsp(%rip)
	mov kstack_top(%rip), %rsp
	pushq $0x1b
	pushq syscall_user_rsp(%rip)
	push %r11
	pushq $0x23
	push %rcx
	pushq $0
	pushq $0x100                    /* pseudo-vector: system call */
	SAVE
	mov %rsp, %rdi
	call syscall_dispatch
	PVOP_JMP 0                      /* pv_ops.sysret_to_user */

	.globl native_sysret_to_user
native_sysret_to_user:              /* rsp -> trapframe of a user context */
	mov 0x88(%rsp), %rcx            /* rip */
	movabs $0x00007ffffffff000, %rax
	cmp %rax, %rcx
	jae native_iret_to_user         /* non-canonical risk: use IRET */
	cmpq $0x23, 0x90(%rsp)
	jne native_iret_to_user
	RESTORE
	add $16, %rsp
	pop %rcx                        /* rip */
	add $8, %rsp                    /* cs */
	pop %r11                        /* rflags */
	pop %rsp
	sysretq

	.globl ret_from_fork
ret_from_fork:
	jmp trap_exit

/* vl_switch(&old_ksp, new_ksp): callee-saved registers on the old stack. */
	.globl vl_switch
vl_switch:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, (%rdi)
	mov %rsi, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.globl vl_nop_fn
vl_nop_fn:
	ret

	.bss
	.balign 16
	.skip 16384
	.globl kstack0_top
kstack0_top:
	.globl syscall_user_rsp
syscall_user_rsp: .quad 0

	.section .note.GNU-stack, "", @progbits
