/* start.S — user program entry: RDI workload index, RSI iterations, RDX process footprint (workloads/footprint.h). */
	.text
	.globl _start
_start:
	and $-16, %rsp
	call umain
	mov %rax, %rdi
	xor %eax, %eax          /* SYS_exit */
	syscall
	ud2

	.section .note.GNU-stack, "", @progbits
