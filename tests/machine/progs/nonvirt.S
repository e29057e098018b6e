/* nonvirt.S — x86's non-virtualizable behaviours at CPL 3 (test_cpu_nonvirt.c):
 * POPF at CPL > IOPL leaves IF (and IOPL) unchanged without a fault;
 * PUSHF, SGDT, SIDT, SLDT, STR, SMSW and MOV from CS/SS reveal the real
 * state without a fault. For contrast: CLI at CPL 3 with IOPL 0 is #GP(0),
 * and with IOPL 3 both POPF and CLI change IF and OUT works; with CR4.TSD
 * RDTSC is #GP(0). Results in res[] (below),
 * stored areas in sbuf (pre-filled with 0xff to show the exact width).
 */
#include "prog.h"

	.text
	.globl main
main:
	movl $LDT_SEL, %eax
	lldt %ax
	movq %cr0, %rax
	SAVE %rax, 20
	/* CPL 0: POPF changes IF and IOPL */
	pushq $0x3202
	popfq
	pushfq
	popq %rax
	SAVE %rax, 21
	pushq $0x2
	popfq

	movq $0x202, user_rflags(%rip)   /* IF = 1, IOPL = 0 */
	leaq u_iopl0(%rip), %rdi
	call enter_user
	movq $0x3202, user_rflags(%rip)  /* IF = 1, IOPL = 3 */
	leaq u_iopl3(%rip), %rdi
	call enter_user
	movq $0x2, user_rflags(%rip)
	/* CR4.TSD: RDTSC is #GP(0) at CPL 3 */
	movq %cr4, %rax
	orq $4, %rax
	movq %rax, %cr4
	leaq u_tsd(%rip), %rdi
	call enter_user
	movq %cr4, %rax
	andq $~4, %rax
	movq %rax, %cr4
	STEP 999
	ret

u_tsd:
	STEP 4
	RESUME 1f
L rdtsc_u
	rdtsc
1:	STEP 5                          /* MONITOR/MWAIT at CPL 3: #UD */
	RESUME 1f
	leaq sbuf(%rip), %rax
	xorl %ecx, %ecx
	xorl %edx, %edx
L monitor_u
	monitor
1:	STEP 6
	RESUME 1f
	xorl %eax, %eax
L mwait_u
	mwait
1:	TO_KERNEL

u_iopl0:
	STEP 1
	pushfq
	popq %rax
	SAVE %rax, 0
	pushq $0x3                      /* CF set, IF clear */
L popf_if
	popfq
	pushfq
	popq %rax
	SAVE %rax, 1
	pushq $0x3202                   /* IOPL 3 */
	popfq
	pushfq
	popq %rax
	SAVE %rax, 2
	sgdt sbuf(%rip)
	sidt sbuf + 16(%rip)
	movq $-1, %rax
	sldt %eax
	SAVE %rax, 3
	sldt sbuf + 32(%rip)
	movq $-1, %rax
	str %eax
	SAVE %rax, 4
	str sbuf + 40(%rip)
	movq $-1, %rax
	smsw %eax
	SAVE %rax, 5
	smsw sbuf + 48(%rip)
	movq $-1, %rax
	movl %cs, %eax
	SAVE %rax, 6
	movl %ss, %eax
	SAVE %rax, 7
	movw %cs, sbuf + 56(%rip)
	STEP 2
	RESUME 1f
L cli_u
	cli
1:	TO_KERNEL

u_iopl3:
	STEP 3
	pushq $0x3002                   /* IF clear */
	popfq
	pushfq
	popq %rax
	SAVE %rax, 10
	sti
	cli                             /* no fault with IOPL 3 */
	pushfq
	popq %rax
	SAVE %rax, 11
	movb $0x55, %al                 /* port I/O is allowed with IOPL 3 */
	outb %al, $VL_PORT_DEBUGCON
	pushq $0x202                    /* IOPL 0 from CPL 3: unchanged */
	popfq
	pushfq
	popq %rax
	SAVE %rax, 12
	TO_KERNEL

	.data
	.globl sbuf
	.p2align 4
sbuf:
	.fill 64, 1, 0xff
