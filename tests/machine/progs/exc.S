/* exc.S — exceptions and interrupts through the 64-bit IDT (test_cpu_exc.c).
 *
 * Scenario 0 runs every resumable case, each under its own tag (the host
 * finds the log entries by tag and checks them against this file's
 * labels): #DE, #UD (outside the ISA too), #GP at CPL 0 and 3, #PF error
 * codes and CR2, #NP (gate, segment, gate of an exception), INT n and INT3
 * against gate DPL, IST and RSP0 stacks and 16-byte alignment, interrupt
 * vs trap gates, IRETQ to CPL 0 and 3, and the double-fault class rules.
 * Scenarios 1-3 end in a triple fault.
 */
#include "prog.h"

	.text
	.globl main
main:
	SAVE %rsp, 0
	movq scenario(%rip), %rax
	cmpq $1, %rax
	je triple1
	cmpq $2, %rax
	je triple2
	cmpq $3, %rax
	je triple3

	/* the 4 KiB test pages (prog.h) */
	movq $0, PTE(PA_A)
	movq $(PA_B | 5), PTE(PA_B)
	movq $(PA_C | 3), PTE(PA_C)
	movabsq $(0x8000000000000000 | PA_D | 7), %rax
	movq %rax, PTE(PA_D)
	movabsq $((1 << 51) | PA_E | 7), %rax
	movq %rax, PTE(PA_E)
	movq $0, PTE(PA_G)
	movq $0, PTE(BADSTK - 0x1000)
	movq %cr3, %rax
	movq %rax, %cr3
	movb $0xc3, PA_D            /* (never reached: NX) */

	/* 1: #DE with RSP = 8 mod 16 (the frame is 16-byte aligned) */
	STEP 1
	RESUME 1f
	subq $8, %rsp
	SAVE %rsp, 1
	xorl %edx, %edx
	movl $1, %eax
	xorl %ecx, %ecx
L de1
	divl %ecx
1:	addq $8, %rsp
	/* 2: #DE on IDIV overflow */
	STEP 2
	RESUME 1f
	movabsq $0x8000000000000000, %rax
	cqto
	movq $-1, %rcx
L de2
	idivq %rcx
1:
	/* 3-8: #UD */
	STEP 3
	RESUME 1f
L ud_ud2
	ud2
1:	STEP 4
	RESUME 1f
L ud_sse
	movaps %xmm0, %xmm1
1:	STEP 5
	RESUME 1f
L ud_x87
	fld1
1:	STEP 6
	RESUME 1f
L ud_vex
	vzeroupper
1:	STEP 7
	RESUME 1f
L ud_lock
	.byte 0xf0, 0x01, 0xc3       /* LOCK ADD %eax, %ebx: LOCK without a memory destination */
1:	STEP 8
	RESUME 1f
L ud_pushes
	.byte 0x06                  /* PUSH ES: invalid in 64-bit mode */
1:
	/* 9-11: #GP(0) at CPL 0 */
	STEP 9
	RESUME 1f
	movl $0x12345678, %ecx
L gp_msr
	wrmsr
1:	STEP 10
	RESUME 1f
	movabsq $0x0000800000000000, %rbx
L gp_ncload
	movq (%rbx), %rax
1:	STEP 11
	RESUME 1f
L gp_ncjmp
	jmp *%rbx
1:
	/* 120-128: #GP at CPL 3 (and what IRETQ restored afterwards) */
	leaq u_gp(%rip), %rdi
	call enter_user

	/* 130-134: #PF at CPL 0 */
	STEP 130
	RESUME 1f
	movq $(PA_A + 0x10), %rbx
L pf_ka
	movq (%rbx), %rax
1:	STEP 134
	movq $(PA_B + 8), %rbx
	movq $0x1234, %rax
	movq %rax, (%rbx)           /* CR0.WP = 0: a supervisor write to a read-only page succeeds */
	movq (%rbx), %rax
	SAVE %rax, 6
	movq %cr0, %rax
	orq $0x10000, %rax
	movq %rax, %cr0
	STEP 131
	RESUME 1f
	movq $0x5678, %rax
L pf_kb
	movq %rax, (%rbx)
1:	movq %cr0, %rax
	andq $~0x10000, %rax
	movq %rax, %cr0
	STEP 132
	RESUME 1f
	movq $PA_D, %rbx
	jmp *%rbx
1:	STEP 133
	RESUME 1f
	movq $(PA_E + 0x20), %rbx
L pf_ke
	movq (%rbx), %rax
1:
	/* 140-145: #PF at CPL 3 */
	leaq u_pf(%rip), %rdi
	call enter_user

	/* 150-152: #NP */
	GATE 0x40, G_NP
	STEP 150
	RESUME 1f
L np_int
	int $0x40
1:	GATE 0x40, G_INTR
	STEP 151
	RESUME 1f
	movl $NP_SEL, %eax
L np_ds
	movl %eax, %ds
1:	GATE 6, G_NP
	STEP 152
	RESUME 1f
L np_ud
	ud2
1:	GATE 6, G_INTR

	/* 160-163: INT n from CPL 3 against the gate's DPL */
	GATE 0x80, G_INTR3
	leaq u_int(%rip), %rdi
	call enter_user

	/* 170-173: INT3 */
	GATE 3, G_INTR3
	leaq u_bp(%rip), %rdi
	call enter_user
	GATE 3, G_INTR
	leaq u_bp3(%rip), %rdi
	call enter_user
	STEP 173
L bp0
	int3
L bp0_next

	/* 180-181: IST */
	GATE 6, G_INTR, 2
	STEP 180
	RESUME 1f
L ist_ud0
	ud2
1:	leaq u_ist(%rip), %rdi
	call enter_user
	GATE 6, G_INTR

	/* 190: RSP0 = 8 mod 16 */
	movq $(RSP0_TOP - 8), %rax
	movq %rax, tss + TSS_RSP0(%rip)
	leaq u_al(%rip), %rdi
	call enter_user
	movq $RSP0_TOP, %rax
	movq %rax, tss + TSS_RSP0(%rip)

	/* 200-203: interrupt gates clear IF, trap gates do not */
	GATE 0x42, G_TRAP
	GATE 0x83, G_TRAP3
	sti
	STEP 200
	int $0x41
L g41_next
	STEP 201
	int $0x42
L g42_next
	cli
	movq $0x202, user_rflags(%rip)
	leaq u_if(%rip), %rdi
	call enter_user
	movq $0x2, user_rflags(%rip)

	/* 211: IRETQ at CPL 0 with a built frame */
	movq %rsp, %rax
	pushq $KDS
	pushq %rax
	pushq $0x3
	pushq $KCS
	leaq 1f(%rip), %rcx
	pushq %rcx
	iretq
1:	pushfq
	popq %rax
	SAVE %rax, 7
	SAVE %rsp, 8

	/* 220: contributory during contributory: #GP whose gate is not present -> #NP -> #DF */
	GATE 13, G_NP
	STEP 220
	RESUME 1f
	movl $0x12345678, %ecx
L df_wrmsr
	wrmsr
1:	GATE 13, G_INTR

	/* 221, 222, 224: the kernel stack (RSP0) is not mapped */
	movq $BADSTK, %rax
	movq %rax, tss + TSS_RSP0(%rip)
	GATE 0x81, G_INTR3, 2       /* back to the kernel on IST2 */
	GATE 14, G_INTR, 2          /* #PF on IST2: deliverable */
	leaq u_df1(%rip), %rdi      /* 221: #GP then #PF: serial */
	call enter_user
	leaq u_df3(%rip), %rdi      /* 224: #UD then #PF: serial */
	call enter_user
	GATE 14, G_INTR, 0          /* #PF on RSP0: not deliverable */
	leaq u_df2(%rip), %rdi      /* 222: #PF then #PF: #DF */
	call enter_user
	movq $RSP0_TOP, %rax
	movq %rax, tss + TSS_RSP0(%rip)
	GATE 0x81, G_INTR3, 0

	/* 223: #PF whose gate is not present: #PF then #NP: #DF */
	GATE 14, G_NP
	STEP 223
	RESUME 1f
	movq $(PA_A + 0x30), %rbx
L df_pfnp
	movq (%rbx), %rax
1:	GATE 14, G_INTR
	STEP 999
	ret

/* ---- user-mode parts (CPL 3, RSP = USTACK_TOP) ---- */
u_gp:
	STEP 120
	RESUME 1f
L gp_hlt
	hlt
1:	STEP 121
	RESUME 1f
L gp_movcr
	movq %cr0, %rax
1:	STEP 122
	RESUME 1f
L gp_cli
	cli
1:	STEP 123
	RESUME 1f
L gp_wrmsr
	wrmsr
1:	STEP 124
	RESUME 1f
L gp_in
	inb $0x80, %al
1:	STEP 125
	RESUME 1f
L gp_lgdt
	lgdt gdtr(%rip)
1:	STEP 126
	RESUME 1f
L gp_invlpg
	invlpg (%rax)
1:	STEP 127
	RESUME 1f
	movabsq $0xffff000000000000, %rbx
L gp_ncu
	movq (%rbx), %rax
1:	STEP 128                    /* #SS(0): a push with a non-canonical RSP */
	RESUME 1f
	movabsq $0x0000900000000000, %rsp
L ss_push
	pushq %rax
1:	movq $USTACK_TOP, %rsp
	STEP 129                    /* #SS(0): an RBP-based access, non-canonical */
	RESUME 1f
	movabsq $0x0000900000000000, %rbp
L ss_rbp
	movq 8(%rbp), %rax
1:	movl %cs, %eax
	SAVE %rax, 2
	movl %ss, %eax
	SAVE %rax, 3
	SAVE %rsp, 4
	pushfq
	popq %rax
	SAVE %rax, 5
	TO_KERNEL

u_pf:
	STEP 140
	RESUME 1f
	movq $PA_C, %rbx
L pf_uc
	movq (%rbx), %rax
1:	STEP 141
	RESUME 1f
	movq $(PA_A + 0x18), %rbx
L pf_ua
	movq %rax, (%rbx)
1:	STEP 142
	RESUME 1f
	movq $PA_B, %rbx
L pf_ub
	movb %al, (%rbx)
1:	STEP 143
	RESUME 1f
	movq $PA_D, %rbx
	jmp *%rbx
1:	STEP 144
	RESUME 1f
	movq $(PA_A + 0xff8), %rbx
L pf_ua2
	movq (%rbx), %rax
1:	STEP 145
	RESUME 1f
	movq $(PA_G - 4), %rbx
L pf_cross
	movq (%rbx), %rax
1:	TO_KERNEL

u_int:
	STEP 160
L int80
	int $0x80
L int80_next
	STEP 161
	RESUME 1f
L int82
	int $0x82
1:	STEP 162
	RESUME 1f
L int13
	int $13
1:	STEP 163
	RESUME 1f
L int14
	int $14
1:	TO_KERNEL

u_bp:
	STEP 170
L bp1
	int3
L bp1_next
	STEP 171
L bp2
	.byte 0xcd, 0x03            /* INT 3, the two-byte form */
L bp2_next
	TO_KERNEL
u_bp3:
	STEP 172
	RESUME 1f
L bp3
	int3
1:	TO_KERNEL

u_ist:
	STEP 181
	RESUME 1f
L ist_ud3
	ud2
1:	TO_KERNEL

u_al:
	STEP 190
	int $0x80
L al_next
	TO_KERNEL

u_if:
	STEP 202
	int $0x80
L if80_next
	STEP 203
	int $0x83
L if83_next
	TO_KERNEL

u_df1:
	STEP 221
	RESUME 1f
L df_hlt
	hlt
1:	TO_KERNEL
u_df2:
	STEP 222
	RESUME 1f
	movq $PA_A, %rbx
L df_pf
	movq (%rbx), %rax
1:	TO_KERNEL
u_df3:
	STEP 224
	RESUME 1f
L df_ud
	ud2
1:	TO_KERNEL

/* ---- triple faults ---- */
triple1:                        /* #GP -> #NP (gate) -> #DF -> #NP (gate): shutdown */
	GATE 13, G_NP
	GATE 8, G_NP, 1
	movl $0x12345678, %ecx
L tf1
	wrmsr
	movl $0x55, %edi
	jmp rt_exit
triple2:                        /* IDT limit 0: #UD -> #GP -> #GP = #DF -> #GP: shutdown */
	lidt idt0(%rip)
L tf2
	ud2
	movl $0x55, %edi
	jmp rt_exit
triple3:                        /* the same from CPL 3 */
	lidt idt0(%rip)
	leaq u_tf3(%rip), %rdi
	call enter_user
	movl $0x55, %edi
	jmp rt_exit
u_tf3:
L tf3
	ud2

	.data
idt0:
	.word 0
	.quad 0
