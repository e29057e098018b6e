/* rt.S — the runtime every test guest links: entry, own page tables, GDT
 * (Linux layout), TSS (RSP0, IST1, IST2), an IDT whose 256 gates go to
 * logging stubs, user-mode entry/exit, and the exit device.
 *
 * Contract with a test guest: it defines `main` (called at CPL 0 after
 * setup, with `scenario` = the decimal number at the start of the command
 * line); returning from main exits with status 0. Every event delivered to
 * a logging stub appends one LOG_QW-qword entry to `log` (see prog.h);
 * then, if `resume` is set, the handler returns there (and clears it),
 * otherwise a fault (vector < 32 other than #DB/#BP/#OF) ends the run with
 * status VL_EXIT_FAULT + vector, and anything else returns normally.
 */
#include "prog.h"

	.code64
	.section .text.entry, "ax"
	.globl _start
_start:
	movq $KSTACK_TOP, %rsp
	xorl %eax, %eax
1:	movzbl (%rdi), %ecx
	subl $0x30, %ecx
	cmpl $9, %ecx
	ja 2f
	imulq $10, %rax, %rax
	addq %rcx, %rax
	incq %rdi
	jmp 1b
2:	movq %rax, scenario(%rip)
	call rt_setup
	call main
	xorl %edi, %edi
	jmp rt_exit

	.text
/* rt_exit(edi = status): write the exit device; never returns. */
	.globl rt_exit
rt_exit:
	movl %edi, %eax
	outl %eax, $VL_PORT_EXIT
1:	cli
	hlt
	jmp 1b

rt_setup:
	/* page tables: PML4 -> PDPT -> PD of 2 MiB user pages, PD[2] -> PT */
	movq $PML4, %rdi
	xorl %eax, %eax
	movl $4 * 512, %ecx
	cld
	rep stosq
	movq $(PDPT | 7), %rax
	movq %rax, PML4
	movq $(PD | 7), %rax
	movq %rax, PDPT
	xorl %ecx, %ecx
1:	movq %rcx, %rax
	shlq $21, %rax
	orq $0x87, %rax
	cmpl $2, %ecx
	jne 2f
	movq $(PT | 7), %rax
2:	movq %rax, PD(, %rcx, 8)
	incl %ecx
	cmpl $512, %ecx
	jb 1b
	xorl %ecx, %ecx
3:	movq %rcx, %rax
	shlq $12, %rax
	addq $(TP_BASE | 7), %rax
	movq %rax, PT(, %rcx, 8)
	incl %ecx
	cmpl $512, %ecx
	jb 3b
	movq $PML4, %rax
	movq %rax, %cr3

	/* TSS and LDT descriptors (bases below 16 MiB: base << 16 fits the low quadword) */
	leaq tss(%rip), %rax
	shlq $16, %rax
	orq $0x67, %rax
	movabsq $(0x89 << 40), %rdx
	orq %rdx, %rax
	movq %rax, gdt + TSS_SEL(%rip)
	leaq ldt(%rip), %rax
	shlq $16, %rax
	orq $0x0f, %rax
	movabsq $(0x82 << 40), %rdx
	orq %rdx, %rax
	movq %rax, gdt + LDT_SEL(%rip)
	lgdt gdtr(%rip)
	movl $KDS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	/* reload CS through a far return */
	pushq $KCS
	leaq 4f(%rip), %rax
	pushq %rax
	lretq
4:	movq $RSP0_TOP, %rax
	movq %rax, tss + TSS_RSP0(%rip)
	movq $IST1_TOP, %rax
	movq %rax, tss + TSS_IST1(%rip)
	movq $IST2_TOP, %rax
	movq %rax, tss + TSS_IST2(%rip)
	movw $0x68, tss + 0x66(%rip)
	movl $TSS_SEL, %eax
	ltr %ax

	/* IDT: vector v -> stubs + 16 v, interrupt gate DPL 0; #DF on IST1; 0x81 returns to the kernel */
	xorl %ebx, %ebx
5:	movl %ebx, %edi
	movq %rbx, %rsi
	shlq $4, %rsi
	leaq stubs(%rip), %rax
	addq %rax, %rsi
	movl $G_INTR, %edx
	xorl %ecx, %ecx
	call set_gate
	incl %ebx
	cmpl $256, %ebx
	jb 5b
	GATE 8, G_INTR, 1
	GATE_H 0x81, back_to_kernel, G_INTR3
	lidt idtr(%rip)
	ret

/* set_gate(edi = vector, rsi = handler or 0 to keep the current one,
 * edx = attribute byte (type | DPL | P), ecx = IST index). Clobbers rax, rsi, r8. */
	.globl set_gate
set_gate:
	movl %edi, %r8d
	shlq $4, %r8
	leaq idt(%rip), %rax
	addq %rax, %r8
	testq %rsi, %rsi
	jnz 1f
	movzwl (%r8), %esi
	movzwl 6(%r8), %eax
	shll $16, %eax
	orl %eax, %esi
1:	movw %si, (%r8)
	movw $KCS, 2(%r8)
	movb %cl, 4(%r8)
	movb %dl, 5(%r8)
	movq %rsi, %rax
	shrq $16, %rax
	movw %ax, 6(%r8)
	shrq $32, %rax
	movl %eax, 8(%r8)
	movl $0, 12(%r8)
	ret

/* enter_user(rdi = user code): IRETQ to CPL 3 with RFLAGS = user_rflags,
 * RSP = USTACK_TOP. Returns when the user code executes TO_KERNEL. */
	.globl enter_user
enter_user:
	movq %rsp, ksave_rsp(%rip)
	pushq $UDS
	pushq $USTACK_TOP
	pushq user_rflags(%rip)
	pushq $UCS
	pushq %rdi
	iretq
back_to_kernel:
	movl $KDS, %eax
	movl %eax, %ss
	movq ksave_rsp(%rip), %rsp
	incq n_back(%rip)
	ret

/* Logging stubs: 16 bytes each, vector v at stubs + 16 v. */
	.p2align 4
	.globl stubs
stubs:
	.set vnum, 0
	.rept 256
	.p2align 4
	pushq %rax
	movl $vnum, %eax
	jmp common
	.set vnum, vnum + 1
	.endr

common:
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushfq
	popq %r11                       /* RFLAGS in the handler */
	movl %eax, %ebx                 /* vector */
	movq log_n(%rip), %rcx
	cmpq $LOG_MAX, %rcx
	jae log_full
	shlq $7, %rcx
	leaq log(%rip), %rdi
	addq %rcx, %rdi
	movq %rbx, LOG_VEC * 8(%rdi)
	leaq 80(%rsp), %rsi             /* RSP at entry: 10 saved registers above */
	movq %rsi, LOG_ERSP * 8(%rdi)
	xorl %ecx, %ecx
1:	movq (%rsi, %rcx, 8), %rax
	movq %rax, LOG_FRAME * 8(%rdi, %rcx, 8)
	incl %ecx
	cmpl $6, %ecx
	jb 1b
	movq %cr2, %rax
	movq %rax, LOG_CR2 * 8(%rdi)
	movq %r11, LOG_HFL * 8(%rdi)
	movl %cs, %eax
	movq %rax, LOG_HCS * 8(%rdi)
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, LOG_TSC * 8(%rdi)
	movl %ss, %eax
	movq %rax, LOG_HSS * 8(%rdi)
	movq tag(%rip), %rax
	movq %rax, LOG_TAG * 8(%rdi)
	incq log_n(%rip)
	xorl %ecx, %ecx                 /* rcx = 1 when the vector pushed an error code */
	cmpl $32, %ebx
	jae 2f
	movl $ERR_VECS, %eax
	btl %ebx, %eax
	setc %cl
2:	movb %cl, cur_err(%rip)
	movq resume(%rip), %rax
	testq %rax, %rax
	jz 3f
	movq $0, resume(%rip)
	movq %rax, (%rsi, %rcx, 8)      /* the pushed RIP */
	jmp 4f
3:	cmpl $32, %ebx
	jae 4f
	cmpl $1, %ebx
	je 4f
	cmpl $3, %ebx
	je 4f
	cmpl $4, %ebx
	je 4f
	leal VL_EXIT_FAULT(%rbx), %edi
	jmp rt_exit
4:	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	cmpb $0, cur_err(%rip)
	popq %rax
	je 5f
	addq $8, %rsp
5:	iretq
log_full:
	movl $VL_EXIT_LOG_FULL, %edi
	jmp rt_exit

	.data
	.p2align 4
	.globl gdt, gdtr, idt, idtr, tss, ldt
gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08 KCS */
	.quad 0x00cf92000000ffff        /* 0x10 KDS */
	.quad 0x00cffa000000ffff        /* 0x18 32-bit user code */
	.quad 0x00cff2000000ffff        /* 0x20 user data */
	.quad 0x00affa000000ffff        /* 0x28 user code */
	.quad 0, 0                      /* 0x30 TSS (filled in) */
	.quad 0x00cf12000000ffff        /* 0x40 data, not present */
	.quad 0, 0                      /* 0x48 LDT (filled in) */
gdtr:
	.word GDT_LIMIT
	.quad gdt
	.p2align 4
idtr:
	.word 256 * 16 - 1
	.quad idt
	.p2align 4
tss:
	.fill 0x68, 1, 0
	.p2align 4
ldt:
	.quad 0, 0
	.p2align 12
idt:
	.fill 256 * 16, 1, 0
	.globl log, log_n, tag, resume, scenario, res, user_rflags, n_back, ksave_rsp
	.p2align 7
log:
	.fill LOG_MAX * LOG_QW * 8, 1, 0
res:
	.fill 64 * 8, 1, 0
log_n:		.quad 0
tag:		.quad 0
resume:		.quad 0
scenario:	.quad 0
user_rflags:	.quad 0x2
n_back:		.quad 0
ksave_rsp:	.quad 0
cur_err:	.byte 0
