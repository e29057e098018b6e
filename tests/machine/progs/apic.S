/* apic.S — the local APIC timer through x2APIC MSRs (test_cpu_apic.c).
 *
 * The timer handler's first instruction is RDTSC, so every tick records
 * the cycle the interrupt was taken (+ the profile's delivery cost) and
 * the interrupted RIP; the arming code records the TSC of its RDTSC, a
 * fixed number of instructions before the WRMSR that starts the timer, so
 * the host can compute each deadline from the profile's costs.
 *   A  one-shot, divide 1, woken from HLT            (res 0; ticks from res 1)
 *   B  one-shot, divide 16, taken in a run of NOPs   (res 2)
 *   C  periodic, divide 1, three ticks, HLT loop     (res 3)
 *   D  CR8 masks the vector's class; lowering CR8 delivers at once (res 4-7)
 *   E  an in-service vector blocks its class until EOI (res 8-10)
 *   F  LVT mask: the timer expires, nothing is delivered (res 11-12)
 *   G  a pending interrupt waits for the instruction after STI
 * Scenario 1: CLI; HLT with nothing armed. Scenario 2: STI; HLT likewise.
 * Scenario 3: HLT with a periodic timer whose vector CR8 masks: runs to the cycle limit.
 */
#include "prog.h"

#define MSR_APIC_BASE 0x1b
#define X2_TPR   0x808
#define X2_EOI   0x80b
#define X2_SVR   0x80f
#define X2_ISR2  0x812
#define X2_IRR2  0x822
#define X2_LVT   0x832
#define X2_TMICT 0x838
#define X2_TMCCT 0x839
#define X2_TDCR  0x83e
#define TVEC     0x40

.macro X2W msr, val
	movl $\msr, %ecx
	movl $\val, %eax
	xorl %edx, %edx
	wrmsr
.endm
/* Start the timer with initial count `cnt`; res[idx] = TSC of the RDTSC,
 * which is followed by exactly 6 ALU instructions and the WRMSR. */
.macro ARM cnt, idx
	rdtsc
	shlq $32, %rdx
	orq %rdx, %rax
	movq %rax, %r12
	movl $\cnt, %eax
	xorl %edx, %edx
	movl $X2_TMICT, %ecx
	wrmsr
	SAVE %r12, \idx
.endm
.macro NOPS n
	.rept \n
	nop
	.endr
.endm

	.text
	.globl main
main:
	movq scenario(%rip), %rax
	cmpq $1, %rax
	je halt_cli
	cmpq $2, %rax
	je halt_sti
	cmpq $3, %rax
	je halt_masked

	GATE_H TVEC, tmr, G_INTR
	movl $MSR_APIC_BASE, %ecx
	rdmsr
	orl $0xc00, %eax                /* EN | EXTD: x2APIC mode */
	wrmsr
	X2W X2_SVR, 0x1ff
	X2W X2_TDCR, 0xb                /* divide by 1 */
	X2W X2_LVT, TVEC                /* one-shot */
	int $TVEC                       /* warm the TLBs on the delivery path (logged as tick 0) */
	sti

	/* A */
	ARM 1000, 0
	hlt
L a_next
	/* B */
	X2W X2_TDCR, 0x3                /* divide by 16 */
	ARM 100, 2
L b_sled
	NOPS 2000
	/* C */
	X2W X2_TDCR, 0xb
	X2W X2_LVT, (TVEC | 0x20000)    /* periodic */
	movq n_tick(%rip), %rbx
	addq $3, %rbx
	ARM 5000, 3
1:	hlt
L c_next
	cmpq %rbx, n_tick(%rip)
	jb 1b
	X2W X2_TMICT, 0                 /* stop */

	/* D */
	X2W X2_LVT, TVEC
	movl $4, %eax
	movq %rax, %cr8                 /* TPR = 0x40: class 4 (vector 0x40) masked */
	movl $X2_TPR, %ecx
	rdmsr
	SAVE %rax, 4
	movq n_tick(%rip), %rax
	SAVE %rax, 5
	X2W X2_TMICT, 100
	NOPS 300
	movl $X2_IRR2, %ecx
	rdmsr
	SAVE %rax, 6
	movq n_tick(%rip), %rax
	SAVE %rax, 7
	xorl %eax, %eax
L d_cr8
	movq %rax, %cr8
L d_next
	NOPS 10

	/* E */
	movb $1, no_eoi(%rip)
	X2W X2_LVT, (TVEC | 0x20000)
	movq n_tick(%rip), %rbx
	X2W X2_TMICT, 2000
1:	cmpq %rbx, n_tick(%rip)         /* the first tick: not EOIed */
	je 1b
	movb $0, no_eoi(%rip)
	NOPS 5000                       /* two periods: IRR set, blocked by ISR */
	movq n_tick(%rip), %rax
	SAVE %rax, 8
	movl $X2_ISR2, %ecx
	rdmsr
	SAVE %rax, 9
	xorl %eax, %eax
	xorl %edx, %edx
	movl $X2_EOI, %ecx
L e_eoi
	wrmsr
L e_next
	NOPS 10
	cli
	X2W X2_TMICT, 0
	movq n_tick(%rip), %rax
	SAVE %rax, 10

	/* F */
	sti
	X2W X2_LVT, (TVEC | 0x10000)    /* masked */
	movq n_tick(%rip), %rax
	SAVE %rax, 11
	X2W X2_TMICT, 100
	NOPS 300
	movq n_tick(%rip), %rax
	SAVE %rax, 12
	movl $X2_IRR2, %ecx
	rdmsr
	SAVE %rax, 13
	cli

	/* G: STI blocks interrupts for one more instruction */
	X2W X2_LVT, TVEC
	X2W X2_TMICT, 10
	NOPS 100                        /* expired while IF = 0: pending */
	sti
	nop
L g_next
	NOPS 10
	cli
	STEP 999
	ret

halt_cli:
	cli
L hlt_cli
	hlt
	movl $0x55, %edi
	jmp rt_exit
halt_sti:
	sti
L hlt_sti
	hlt
	movl $0x55, %edi
	jmp rt_exit

halt_masked:                    /* a periodic timer whose interrupt the TPR blocks: HLT forever */
	GATE_H TVEC, tmr, G_INTR
	movl $MSR_APIC_BASE, %ecx
	rdmsr
	orl $0xc00, %eax
	wrmsr
	X2W X2_SVR, 0x1ff
	X2W X2_TDCR, 0xb
	X2W X2_LVT, (TVEC | 0x20000)
	movl $15, %eax
	movq %rax, %cr8
	X2W X2_TMICT, 1000
	sti
L hlt_masked
	hlt
	movl $0x55, %edi
	jmp rt_exit

/* Timer handler: RDTSC first; ticks[n] = { TSC, interrupted RIP }; EOI unless no_eoi. */
tmr:
	rdtsc
	pushq %rcx
	pushq %rdi
	shlq $32, %rdx
	orq %rdx, %rax
	movq n_tick(%rip), %rcx
	cmpq $32, %rcx
	jae 2f
	leaq ticks(%rip), %rdi
	shlq $4, %rcx
	movq %rax, (%rdi, %rcx)
	movq 16(%rsp), %rax
	movq %rax, 8(%rdi, %rcx)
2:	incq n_tick(%rip)
	cmpb $0, no_eoi(%rip)
	jne 1f
	xorl %eax, %eax
	xorl %edx, %edx
	movl $X2_EOI, %ecx
	wrmsr
1:	popq %rdi
	popq %rcx
	iretq

	.data
	.globl ticks, n_tick
	.p2align 4
ticks:
	.fill 32 * 16, 1, 0
n_tick:
	.quad 0
no_eoi:
	.byte 0
