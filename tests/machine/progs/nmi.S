/* nmi.S — NMIs from the local APIC (test_cpu_nmi.c): a self-NMI through
 * the x2APIC ICR (delivery mode NMI, physical destination 0 = this APIC)
 * is taken through IDT vector 2 with IF = 0; a second NMI sent from inside
 * the handler stays pending (blocking by NMI) until the handler's IRET,
 * then is taken before the interrupted instruction runs; a fixed IPI sent
 * with IF = 0 is not taken while the NMI is.
 * nmis[k] = { interrupted RIP, RFLAGS pushed, n_nmi when it was taken }.
 * res 0: n_nmi right after the nested send (still 1: blocked)
 * res 1: n_nmi after the handler's IRET (2)
 * res 2: IRR bit of the fixed IPI's vector while IF = 0 (pending, 1)
 */
#include "prog.h"

#define MSR_APIC_BASE 0x1b
#define X2_SVR   0x80f
#define X2_EOI   0x80b
#define X2_IRR1  0x821
#define X2_ICR   0x830
#define ICR_NMI  0x4400          /* delivery mode NMI (100b << 8) | assert */
#define IVEC     0x30

.macro SELF_NMI
	movl $X2_ICR, %ecx
	movl $ICR_NMI, %eax
	xorl %edx, %edx              /* destination 0: this APIC */
	wrmsr
.endm

	.text
	.globl main
main:
	GATE_H 2, nmi_h, G_INTR
	GATE_H IVEC, ipi_h, G_INTR
	movl $MSR_APIC_BASE, %ecx
	rdmsr
	orl $0xc00, %eax                /* x2APIC mode */
	wrmsr
	movl $X2_SVR, %ecx
	movl $0x1ff, %eax
	xorl %edx, %edx
	wrmsr
	cli
	/* a fixed IPI with IF = 0 stays pending in IRR */
	movl $X2_ICR, %ecx
	movl $(0x4000 | IVEC), %eax
	xorl %edx, %edx
	wrmsr
	movl $X2_IRR1, %ecx
	rdmsr
	shrl $(IVEC - 32), %eax
	andl $1, %eax
	SAVE %rax, 2
	movb $1, nest(%rip)
	SELF_NMI
L a_next
	nop
	movq n_nmi(%rip), %rax
	SAVE %rax, 1
	sti                             /* the fixed IPI is taken after the next instruction */
	nop
L ipi_next
	cli
	STEP 999
	ret

/* NMI handler: log, and on the first entry send a nested NMI, which must
 * wait for the IRET below. */
nmi_h:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rdi
	movq n_nmi(%rip), %rcx
	cmpq $8, %rcx
	jae 1f
	leaq nmis(%rip), %rdi
	imulq $24, %rcx
	movq 32(%rsp), %rax             /* interrupted RIP */
	movq %rax, (%rdi, %rcx)
	movq 48(%rsp), %rax             /* pushed RFLAGS */
	movq %rax, 8(%rdi, %rcx)
	movq n_nmi(%rip), %rax
	movq %rax, 16(%rdi, %rcx)
1:	incq n_nmi(%rip)
	cmpb $0, nest(%rip)
	je 2f
	movb $0, nest(%rip)
	SELF_NMI
	nop
	nop
	movq n_nmi(%rip), %rax
	SAVE %rax, 0
2:	popq %rdi
	popq %rdx
	popq %rcx
	popq %rax
	iretq

ipi_h:
	pushq %rax
	pushq %rcx
	pushq %rdx
	movq 24(%rsp), %rax
	movq %rax, ipi_rip(%rip)
	xorl %eax, %eax
	xorl %edx, %edx
	movl $X2_EOI, %ecx
	wrmsr
	popq %rdx
	popq %rcx
	popq %rax
	iretq

	.data
	.globl nmis, n_nmi, ipi_rip
	.p2align 4
nmis:
	.fill 8 * 24, 1, 0
n_nmi:
	.quad 0
ipi_rip:
	.quad 0
nest:
	.byte 0
