/* fastcore.S — guests for test_cpu_fastcore.c: the fast execution core
 * (chained register-only instructions, specialised handlers, cached
 * decodes) against the reference core, where they could part ways.
 *   1  self-modifying code in a tight loop: each iteration patches the
 *      immediate of an instruction a few bytes ahead in the same page
 *      (res 0 = the sum of what ran, res 1 = iterations)
 *   2  code whose mapping changes: one virtual page, two frames with
 *      different code; PTE change without INVLPG (the stale ITLB entry
 *      still answers), with INVLPG, MOV CR3 reload, and a CR3 switch to a
 *      second address space (res 0-5)
 *   3  a fast periodic timer while long straight-line register-only code
 *      runs: interrupts land in the middle of chains (rips[] = interrupted
 *      RIPs, res 0 = ticks, res 1-3 = the registers the code computed)
 *   4  the same timer while REP MOVSB / REP STOSQ / REPNE SCASB run: the
 *      string instructions are interrupted between iterations (rips[] and
 *      rcxs[], res 0 = ticks, res 1 = checksum of the copy)
 *   5  a jump to every byte of a page (each a RET) and code on NFR frames
 *      (the decode cache must stay bounded): res 0 = calls made
 *   6  an instruction that crosses a page boundary, run from both cores'
 *      caches, the second page patched between runs (res 0-1)
 *   7  the forms the fast core's decoded blocks (exec_block.c) run as
 *      micro-ops, in a loop under the fast timer: byte registers AH..BH,
 *      16-bit ALU, MOVZX/MOVSX/MOVSXD/CDQE, 1- and 2-byte loads and stores,
 *      MOV imm to memory, ALU read-modify-write on memory, shifts by CL
 *      (count 0 leaves the flags), INC/DEC (CF kept), flags overwritten
 *      before anyone reads them, CALL through memory to another page
 *      (res 0 = ticks, res 1-7 = registers, res 8 = RFLAGS)
 */
#include "prog.h"

#define TVEC     0x40
#define X2_EOI   0x80b
#define X2_SVR   0x80f
#define X2_LVT   0x832
#define X2_TMICT 0x838
#define X2_TDCR  0x83e
#define MSR_APIC_BASE 0x1b

#define CODEV    0x500000          /* the virtual code page of scenario 2 (4 KiB PTE) */
#define FRA      0x501000          /* frame A: mov $1, %eax; ret */
#define FRB      0x502000          /* frame B: mov $2, %eax; ret */
#define ALT      0x700000          /* second address space: PML4, PDPT, PD, PT copies */
#define EVERY    0x503000          /* scenario 5: a page of RETs */
#define FRAMES   0x800000          /* scenario 5: NFR frames, a RET each */
#define NFR      1024
#define XPG      0x504000          /* scenario 6: crossing at XPG + 0x1000 */
#define SRC      0xa00000          /* scenario 4 buffers (2 MiB pages) */
#define DST      0xc00000

.macro X2W msr, val
	movl $\msr, %ecx
	movl $\val, %eax
	xorl %edx, %edx
	wrmsr
.endm

	.text
	.globl main
main:
	movq scenario(%rip), %rax
	cmpq $1, %rax
	je smc_loop
	cmpq $2, %rax
	je remap
	cmpq $3, %rax
	je straight
	cmpq $4, %rax
	je strings
	cmpq $5, %rax
	je every
	cmpq $6, %rax
	je cross
	cmpq $7, %rax
	je forms
	ret

/* ---- 1: self-modifying code in a tight loop ---- */
smc_loop:
	xorl %ebx, %ebx                 /* sum */
	xorl %ecx, %ecx                 /* i */
1:	movl %ecx, %eax
	andl $0x7f, %eax
	movb %al, 2f + 3(%rip)          /* patch the imm8 of the ADD below */
	addq $1, %rbx
2:	addq $0x55, %rbx                /* 48 83 c3 ib */
	incl %ecx
	cmpl $3000, %ecx
	jb 1b
	SAVE %rbx, 0
	SAVE %rcx, 1
	ret

/* ---- 2: code whose mapping changes ---- */
remap:
	movb $0xb8, FRA                 /* b8 01 00 00 00 c3: mov $1, %eax; ret */
	movl $1, FRA + 1
	movb $0xc3, FRA + 5
	movb $0xb8, FRB
	movl $2, FRB + 1
	movb $0xc3, FRB + 5
	movq $(FRA | 7), %rax
	movq %rax, PTE(CODEV)
	invlpg CODEV
	movq $CODEV, %rbx
	call *%rbx
	SAVE %rax, 0                    /* 1 */
	movq $(FRB | 7), %rax
	movq %rax, PTE(CODEV)           /* no INVLPG: the ITLB entry still maps A */
	call *%rbx
	SAVE %rax, 1
	invlpg CODEV
	call *%rbx
	SAVE %rax, 2                    /* 2 */
	movq $(FRA | 7), %rax
	movq %rax, PTE(CODEV)
	movq %cr3, %rax
	movq %rax, %cr3                 /* flush non-global */
	call *%rbx
	SAVE %rax, 3                    /* 1 */
	/* a second address space: copies of PML4, PDPT, PD and PT, CODEV -> B */
	movq $PML4, %rsi
	movq $ALT, %rdi
	movl $4 * 512, %ecx
	cld
	rep movsq
	movq $(ALT + 0x1000 + 7), %rax
	movq %rax, ALT
	movq $(ALT + 0x2000 + 7), %rax
	movq %rax, ALT + 0x1000
	movq $(ALT + 0x3000 + 7), %rax
	movq %rax, ALT + 0x2000 + 16    /* PD[2] -> the PT copy */
	movq $(FRB | 7), %rax
	movq %rax, ALT + 0x3000 + ((CODEV - TP_BASE) >> 12) * 8
	movq $ALT, %rax
	movq %rax, %cr3
	call *%rbx
	SAVE %rax, 4                    /* 2 */
	movq $PML4, %rax
	movq %rax, %cr3
	call *%rbx
	SAVE %rax, 5                    /* 1 */
	ret

/* ---- timer for 3 and 4 ---- */
tmr:
	pushq %rax
	pushq %rcx
	pushq %rdx
	movq n_tick(%rip), %rax
	andl $255, %eax
	movq 24(%rsp), %rdx             /* interrupted RIP */
	movq %rdx, rips(, %rax, 8)
	movq 8(%rsp), %rdx              /* interrupted RCX */
	movq %rdx, rcxs(, %rax, 8)
	incq n_tick(%rip)
	movl $X2_EOI, %ecx
	xorl %eax, %eax
	xorl %edx, %edx
	wrmsr
	popq %rdx
	popq %rcx
	popq %rax
	iretq

timer_on:
	GATE_H TVEC, tmr, G_INTR
	movl $MSR_APIC_BASE, %ecx
	rdmsr
	orl $0xc00, %eax                /* EN | EXTD: x2APIC mode */
	wrmsr
	X2W X2_SVR, 0x1ff
	X2W X2_TDCR, 0xb                /* divide by 1 */
	X2W X2_LVT, (TVEC | 0x20000)    /* periodic */
	X2W X2_TMICT, 601               /* every 601 cycles: a few dozen instructions */
	sti
	ret

timer_off:
	cli
	X2W X2_TMICT, 0
	ret

/* ---- 3: straight-line register code under a fast timer ---- */
straight:
	call timer_on
	movl $1, %eax
	movl $3, %ebx
	movl $7, %edx
	.rept 1500
	addq %rax, %rbx
	xorq %rbx, %rdx
	shlq $3, %rax
	subq %rdx, %rax
	leaq 5(%rax, %rbx, 2), %rax
	cmpq %rdx, %rbx
	.endr
	movq %rax, %r8
	call timer_off
	movq n_tick(%rip), %rax
	SAVE %rax, 0
	SAVE %r8, 1
	SAVE %rbx, 2
	SAVE %rdx, 3
	ret

/* ---- 4: string instructions under a fast timer ---- */
strings:
	movq $SRC, %rdi                 /* a pattern to copy */
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	imull $0x9e3779b1, %eax
	movl %eax, (%rdi, %rcx, 4)
	incl %ecx
	cmpl $4096, %ecx
	jb 1b
	call timer_on
	cld
	movq $SRC, %rsi
	movq $DST, %rdi
	movl $16384, %ecx
	rep movsb
	movq $(DST + 16384), %rdi
	movq $0x1122334455667788, %rax
	movl $2048, %ecx
	rep stosq
	movq $SRC, %rdi
	movb $0xff, SRC + 9000
	xorl %eax, %eax
	notl %eax                       /* al = 0xff */
	movl $16384, %ecx
	repne scasb
	movq %rcx, %r9
	call timer_off
	movq n_tick(%rip), %rax
	SAVE %rax, 0
	xorl %ebx, %ebx                 /* checksum of DST */
	xorl %ecx, %ecx
2:	addq DST(, %rcx, 8), %rbx
	rolq $7, %rbx
	incl %ecx
	cmpl $4096, %ecx
	jb 2b
	SAVE %rbx, 1
	SAVE %r9, 2
	ret

/* ---- 5: every byte of a page; code on many frames ---- */
every:
	movq $EVERY, %rdi
	movl $0xc3, %eax
	movl $4096, %ecx
	cld
	rep stosb
	xorl %ebx, %ebx
1:	leaq EVERY(%rbx), %rax
	call *%rax                      /* a RET at every byte offset */
	incl %ebx
	cmpl $4096, %ebx
	jb 1b
	xorl %ebx, %ebx
2:	movq %rbx, %rax
	shlq $12, %rax
	addq $FRAMES, %rax
	movb $0xc3, (%rax)
	call *%rax
	movb $0x90, (%rax)              /* and rewrite it: NOP, RET */
	movb $0xc3, 1(%rax)
	call *%rax
	incl %ebx
	cmpl $NFR, %ebx
	jb 2b
	addq $4096, %rbx
	SAVE %rbx, 0
	ret

/* ---- 6: a page-crossing instruction ---- */
cross:
	movq $(XPG + 0x1000 - 2), %rdi
	movb $0xb8, (%rdi)              /* mov $imm32, %eax: opcode + 1 imm byte here, 3 on the next page */
	movl $0x33, 1(%rdi)
	movb $0xc3, 5(%rdi)
	xorl %ebx, %ebx
	xorl %ecx, %ecx
1:	call *%rdi
	addq %rax, %rbx
	incl %ecx
	cmpl $50, %ecx
	jb 1b
	SAVE %rbx, 0
	movb $0x02, XPG + 0x1000        /* the second page: 0x00000233 */
	call *%rdi
	SAVE %rax, 1
	ret

/* ---- 7: the block micro-ops' forms under a fast timer ---- */
forms:
	call timer_on
	movl $300, %r15d
	movabsq $0x123456789abcdef1, %rax
	movabsq $0x0fedcba987654321, %rbx
	movl $3, %edx
	xorl %r12d, %r12d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	leaq fbuf(%rip), %rsi
1:	addb %ah, %bl                   /* byte registers, AH..BH */
	xorb $0x5a, %bh
	subw %ax, %dx
	testb $1, %bl
	jz 2f
	incq %rdx
2:	movzbl %bh, %edi
	movsbq %al, %r8
	movswl %dx, %r9d
	movslq %edx, %r10
	cltq
	movb %bl, 3(%rsi)
	movw %dx, 6(%rsi)
	movzbl 3(%rsi), %r11d
	movw 6(%rsi), %cx
	movl $0x77, 8(%rsi)             /* MOV imm to memory */
	movq $-5, 16(%rsi)
	addq %rax, 16(%rsi)             /* read-modify-write */
	xorb %bl, 8(%rsi)
	subw $3, 6(%rsi)
	andl 8(%rsi), %edi
	addq %r11, %r12
	cmpq 16(%rsi), %rax
	adcq $0, %r12                   /* CF of the CMP */
	movl %r15d, %ecx
	andl $7, %ecx                   /* counts 0..7 */
	cmpq %rbx, %rax
	shlq %cl, %rbx                  /* count 0: the CMP's flags stay */
	sets %r11b
	adcq %r11, %r12
	sarl %cl, %edx
	shrq %cl, %r8
	addq $-1, %r13                  /* CF = 1 unless r13 was 0 */
	incq %r14                       /* CF kept */
	adcq $0, %r12
	decl %r9d
	adcq %r9, %r12
	addq %rax, %rbx                 /* flags written and overwritten unread */
	subq %rdx, %rbx
	xorq %r8, %rbx
	shlq $1, %rbx
	call *fptr(%rip)                /* CALL through memory, to another page */
	addq %rax, %r12
	addq %r10, %r13
	rorq $7, %rax
	decl %r15d
	jnz 1b
	call timer_off
	movq n_tick(%rip), %rcx
	SAVE %rcx, 0
	SAVE %rax, 1
	SAVE %rbx, 2
	SAVE %rdx, 3
	SAVE %r12, 4
	SAVE %r13, 5
	SAVE %r14, 6
	SAVE %rdi, 7
	pushfq
	popq %rcx
	SAVE %rcx, 8
	ret

	.balign 4096
ffunc:	leaq 1(%rax, %rbx), %rax
	testq %rax, %rax
	ret

	.data
fptr:	.quad ffunc
fbuf:	.fill 32, 1, 0
	.globl rips, rcxs, n_tick
n_tick:	.quad 0
rips:	.fill 256, 8, 0
rcxs:	.fill 256, 8, 0
