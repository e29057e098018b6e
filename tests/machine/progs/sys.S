/* sys.S — SYSCALL/SYSRET and SWAPGS (test_cpu_sys.c): RCX/R11, STAR
 * selectors, SFMASK, CPL, no stack switch; SYSRET's RFLAGS from R11, its
 * #GP (CPL 3, non-canonical RCX) and #UD without EFER.SCE; SWAPGS at CPL 0
 * (GS base and KERNEL_GS_BASE exchanged) and its #GP at CPL 3; a syscall
 * round trip inside region 2 for exact counts. Results in res[] (indices
 * below), faults in the log by tag.
 */
#include "prog.h"

#define MSR_EFER   0xc0000080
#define MSR_STAR   0xc0000081
#define MSR_LSTAR  0xc0000082
#define MSR_SFMASK 0xc0000084
#define MSR_GSB    0xc0000101
#define MSR_KGSB   0xc0000102

#define STAR_VAL   ((UCS32 << 48) | (KCS << 32))
#define SFMASK_VAL 0x257fd5          /* Linux: CF PF AF ZF SF TF IF DF OF IOPL NT RF AC ID */
#define USER_FL    0x6c3             /* IF DF ZF SF CF (+ bit 1) */
#define SYSRET_R11 0xff00043a0b      /* -> RFLAGS (R11 & 0x3c7fd7) | 2 = 0x43a03 */

/* rax = the value of MSR ecx */
.macro RDMSR64 msr
	movl $\msr, %ecx
	rdmsr
	shlq $32, %rdx
	orq %rdx, %rax
.endm
/* MSR ecx = rax */
.macro WRMSR64 msr
	movl $\msr, %ecx
	movq %rax, %rdx
	shrq $32, %rdx
	wrmsr
.endm

	.text
	.globl main
main:
	movabsq $STAR_VAL, %rax
	WRMSR64 MSR_STAR
	leaq sc_entry(%rip), %rax
	WRMSR64 MSR_LSTAR
	movq $SFMASK_VAL, %rax
	WRMSR64 MSR_SFMASK
	leaq gs_user(%rip), %rax
	WRMSR64 MSR_GSB
	leaq gs_kernel(%rip), %rax
	WRMSR64 MSR_KGSB

	/* 1: SYSCALL from CPL 3 and SYSRET back (res 0-15) */
	movq $USER_FL, user_rflags(%rip)
	leaq u_sys(%rip), %rdi
	call enter_user
	movq $2, user_rflags(%rip)

	/* 2: SYSRET with a non-canonical RCX: #GP(0) at CPL 0 (Intel) */
	STEP 2
	RESUME 1f
	movabsq $0x0000800000000000, %rcx
	movl $2, %r11d
L sr_nc
	sysretq
1:
	/* 3: SYSRET at CPL 3: #GP(0); 8: SWAPGS at CPL 3: #GP(0) */
	leaq u_priv(%rip), %rdi
	call enter_user

	/* 4-6: without EFER.SCE, SYSCALL and SYSRET are #UD (before the CPL check) */
	RDMSR64 MSR_EFER
	SAVE %rax, 16
	andq $~1, %rax
	WRMSR64 MSR_EFER
	STEP 4
	RESUME 1f
L sc_ud
	syscall
1:	STEP 5
	RESUME 1f
L sr_ud
	sysretq
1:	leaq u_nosce(%rip), %rdi
	call enter_user
	movq res + 16 * 8(%rip), %rax
	WRMSR64 MSR_EFER

	/* SWAPGS at CPL 0 (res 20-24) */
	movq %gs:0, %rax
	SAVE %rax, 20
	swapgs
	movq %gs:0, %rax
	SAVE %rax, 21
	RDMSR64 MSR_GSB
	SAVE %rax, 22
	RDMSR64 MSR_KGSB
	SAVE %rax, 23
	swapgs
	RDMSR64 MSR_GSB
	SAVE %rax, 24

	/* 9: a bare SYSCALL/SYSRET round trip inside region 2 */
	leaq sc_fast(%rip), %rax
	WRMSR64 MSR_LSTAR
	leaq u_fast(%rip), %rdi
	call enter_user
	STEP 999
	ret

/* SYSCALL entry: CPL 0, RSP still the user's */
sc_entry:
	SAVE %rcx, 1
	SAVE %r11, 2
	pushfq
	popq %rax
	SAVE %rax, 3
	movl %cs, %eax
	SAVE %rax, 4
	movl %ss, %eax
	SAVE %rax, 5
	SAVE %rsp, 6
	swapgs
	movq %gs:0, %rax
	SAVE %rax, 7
	swapgs
	movabsq $SYSRET_R11, %r11
	sysretq

sc_fast:
	swapgs
	swapgs
	sysretq

/* ---- CPL 3 ---- */
u_sys:
	STEP 1
	movq $0x1111, %rcx
	movq $0x2222, %r11
	SAVE %rsp, 0
L sc1
	syscall
L sc1_next
	pushfq
	popq %rax
	SAVE %rax, 10
	movl %cs, %eax
	SAVE %rax, 11
	movl %ss, %eax
	SAVE %rax, 12
	SAVE %rsp, 13
	SAVE %rcx, 14
	SAVE %r11, 15
	TO_KERNEL

u_priv:
	STEP 3
	RESUME 1f
L sr_u
	sysretq
1:	STEP 8
	RESUME 1f
L swapgs_u
	swapgs
1:	TO_KERNEL

u_nosce:
	STEP 6
	RESUME 1f
L sr_ud3
	sysretq
1:	TO_KERNEL

u_fast:
	MARK_BEGIN 2
L fast_sc
	syscall
	MARK_END
	TO_KERNEL

	.data
	.p2align 4
gs_user:
	.quad 0xaaaa
gs_kernel:
	.quad 0xbbbb
