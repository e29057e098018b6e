/* limits.S — guests that never stop or do their worst (test_cpu_limits.c).
 *   1  a jump to itself, forever
 *   2  #UD storm: the handler returns to the UD2 (one IRETQ retires per #UD)
 *   3  #UD storm that retires nothing: the #UD handler (on IST2) is itself a UD2
 *   4  wild jump into WILD (random bytes the host wrote) at CPL 0
 *   5  the same with no IDT (IDT limit 0)
 *   6  the same at CPL 3
 *   7  self-modifying code (res 0-9): must execute the NEW bytes every time
 */
#include "prog.h"

#define WILD     0x600000          /* a 2 MiB user page; the host fills it */
#define CBUF     0x500000          /* code buffer (4 KiB pages of PT) */
#define CALIAS   0x5f0000          /* a second mapping of CBUF's page */

	.text
	.globl main
main:
	movq scenario(%rip), %rax
	cmpq $1, %rax
	je forever
	cmpq $2, %rax
	je storm
	cmpq $3, %rax
	je storm0
	cmpq $4, %rax
	je wild0
	cmpq $5, %rax
	je wild_noidt
	cmpq $6, %rax
	je wild3
	cmpq $7, %rax
	je smc
	ret

forever:
L loop_self
	jmp loop_self

storm:
	GATE_H 6, iret_only, G_INTR
L storm_ud
	ud2
iret_only:
	iretq

storm0:
	GATE_H 6, ud_handler, G_INTR, 2
ud_handler:
	ud2

/* Wild jumps: exceptions 0-31 skip the faulting byte and go on (on IST1,
 * DPL 3), so the random code keeps running until a limit, a triple fault,
 * an exit or a HLT nothing wakes. */
wild_gates:
	xorl %ebx, %ebx
1:	movl %ebx, %edi
	leaq skip_noerr(%rip), %rsi
	leaq skip_err(%rip), %rax
	movl $ERR_VECS, %ecx
	btl %ebx, %ecx
	cmovcq %rax, %rsi
	movl $G_INTR3, %edx
	movl $1, %ecx
	call set_gate
	incl %ebx
	cmpl $32, %ebx
	jb 1b
	ret
skip_err:
	addq $8, %rsp
skip_noerr:
	incq (%rsp)
	iretq

wild0:
	call wild_gates
	movq $WILD, %rax
	jmp *%rax
wild_noidt:
	lidt idt0(%rip)
	movq $WILD, %rax
	jmp *%rax
wild3:
	call wild_gates
	movq $WILD, %rdi
	call enter_user
	ret

/* ---- self-modifying code ---- */
smc:
	/* a: write an instruction, execute it, overwrite it, execute it again */
	movq $CBUF, %rbx
	movl $0x000001b8, (%rbx)        /* mov $1, %eax; ret */
	movw $0xc300, 4(%rbx)
	call *%rbx
	SAVE %rax, 0
	movb $2, 1(%rbx)
	call *%rbx
	SAVE %rax, 1
	/* b: patch an instruction of this page that already ran (its decode is
	 * cached): res 2, 3 = the two iterations */
	xorl %ecx, %ecx
1:
L smc_site
	movl $0x11, %eax
	movq %rax, res + 16(, %rcx, 8)
	movb $0x22, smc_site + 1(%rip)
	incl %ecx
	cmpl $2, %ecx
	jb 1b
	/* c: the store patches the very next instruction (which ran before with
	 * another immediate): res 4 = 0x31 from the second iteration */
	movl $0x30, %ecx
2:	movb %cl, 3f + 1(%rip)
3:	movl $0x44, %eax
	incl %ecx
	cmpl $0x32, %ecx
	jb 2b
	SAVE %rax, 4
	/* d: REP MOVSB copies new code over code that ran */
	leaq tmpl(%rip), %rsi
	movq %rbx, %rdi
	movl $6, %ecx
	rep movsb
	call *%rbx
	SAVE %rax, 5
	/* e: write through a second mapping (CALIAS -> CBUF's frame), execute through the first */
	movq $(CBUF | 7), %rax
	movq %rax, PTE(CALIAS)
	invlpg CALIAS
	movb $0x66, CALIAS + 1
	call *%rbx
	SAVE %rax, 6
	/* f: an instruction that crosses a page boundary; patch its second page */
	movq $(CBUF + 0x1000 - 3), %rdi
	movb $0xb8, (%rdi)              /* mov $0x00000077, %eax at 0x...ffd: imm bytes 1-4 */
	movl $0x77, 1(%rdi)             /* bytes ffe fff | 000 001 */
	movb $0xc3, 5(%rdi)
	call *%rdi
	SAVE %rax, 7
	movb $0x01, CBUF + 0x1000       /* imm byte 2 (second page): 0x00010077 */
	call *%rdi
	SAVE %rax, 8
	STEP 999
	ret

	.data
tmpl:
	.byte 0xb8, 0x88, 0, 0, 0, 0xc3 /* mov $0x88, %eax; ret */
idt0:
	.word 0
	.quad 0
