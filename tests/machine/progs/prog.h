/* prog.h — layout and helpers shared by the freestanding test guests in
 * tests/machine/progs/ (assembled with the guest toolchain, linked with
 * prog.ld, loaded with vl_machine_load_elf) and by the host tests that
 * read what they record (tests/support/guest_prog.h).
 *
 * Everything lives below 16 MiB and is identity-mapped by rt.S's own page
 * tables: 2 MiB user pages (P|RW|U) except [TP_BASE, TP_BASE + 2 MiB),
 * which is mapped with 4 KiB pages (PT) that the tests change one by one.
 * The GDT follows Linux's layout so SYSRET's STAR arithmetic works:
 * STAR[47:32] = KCS, STAR[63:48] = 0x18 -> SS 0x23, CS 0x2b.
 */
#ifndef VL_TEST_PROG_H
#define VL_TEST_PROG_H

#include "virtlab/guest_abi.h"

#define KCS        0x08      /* 64-bit code, DPL 0 */
#define KDS        0x10      /* data, DPL 0 */
#define UCS32      0x18      /* 32-bit user code (unused; the SYSRET base) */
#define UDS        0x23      /* 0x20 | 3: user data */
#define UCS        0x2b      /* 0x28 | 3: 64-bit user code */
#define TSS_SEL    0x30      /* 16-byte TSS descriptor */
#define NP_SEL     0x40      /* data segment, DPL 0, not present */
#define LDT_SEL    0x48      /* 16-byte LDT descriptor */
#define GDT_LIMIT  0x57

#define PML4       0x200000
#define PDPT       0x201000
#define PD         0x202000
#define PT         0x203000  /* 4 KiB PTEs of [TP_BASE, TP_BASE + 2 MiB) */
#define TP_BASE    0x400000
#define PTE(va)    (PT + (((va) - TP_BASE) >> 12) * 8)

#define RSP0_TOP   0x300000
#define IST1_TOP   0x310000
#define IST2_TOP   0x320000
#define USTACK_TOP 0x330000
#define KSTACK_TOP 0x340000

/* Pages of the 4 KiB region that exc.S sets up (see there). */
#define PA_A       (TP_BASE + 0x0000)   /* not present */
#define PA_B       (TP_BASE + 0x1000)   /* P|U, read-only */
#define PA_C       (TP_BASE + 0x2000)   /* P|RW, supervisor */
#define PA_D       (TP_BASE + 0x3000)   /* P|RW|U, NX */
#define PA_E       (TP_BASE + 0x4000)   /* P|RW|U with reserved bit 51 */
#define PA_F       (TP_BASE + 0x5000)   /* P|RW|U */
#define PA_G       (TP_BASE + 0x6000)   /* not present (F and G: a page-crossing access) */
#define BADSTK     (TP_BASE + 0x11000)  /* top of a not-present stack page */

/* The TSS fields rt.S uses (offsets in the 64-bit TSS). */
#define TSS_RSP0   4
#define TSS_IST1   0x24
#define TSS_IST2   0x2c

/* Gate attribute bytes (type | DPL | P) */
#define G_INTR     0x8e      /* interrupt gate, DPL 0 */
#define G_INTR3    0xee      /* interrupt gate, DPL 3 */
#define G_TRAP     0x8f      /* trap gate, DPL 0 */
#define G_TRAP3    0xef
#define G_NP       0x0e      /* interrupt gate, not present */

/* Log: one 128-byte entry per delivery through a logging stub. */
#define LOG_MAX    128
#define LOG_VEC    0         /* vector */
#define LOG_ERSP   1         /* RSP at handler entry (points at the pushed frame) */
#define LOG_FRAME  2         /* 6 qwords from LOG_ERSP: [err,] RIP, CS, RFLAGS, RSP, SS */
#define LOG_CR2    8
#define LOG_HFL    9         /* RFLAGS inside the handler */
#define LOG_HCS    10        /* CS inside the handler */
#define LOG_TSC    11
#define LOG_HSS    12
#define LOG_TAG    13        /* the `tag` variable when the event was delivered */
#define LOG_QW     16

/* Vectors with a hardware error code: 8, 10-14, 17, 21, 29, 30 */
#define ERR_VECS   0x60227d00

#define VL_EXIT_LOG_FULL 0xee
#define VL_EXIT_FAULT    0xe0   /* + vector: a fault nobody expected (no resume address) */

#ifdef __ASSEMBLER__
/* Tag the next events (the host finds log entries by tag). */
.macro STEP n
	movq $\n, tag(%rip)
.endm
/* The next fault resumes at `lbl` (instead of re-executing the faulting instruction). */
.macro RESUME lbl
	pushq %rax
	leaq \lbl(%rip), %rax
	movq %rax, resume(%rip)
	popq %rax
.endm
/* set_gate(vec, handler or 0 = keep, attr, ist) */
.macro GATE vec, attr, ist=0
	movl $\vec, %edi
	xorl %esi, %esi
	movl $\attr, %edx
	movl $\ist, %ecx
	call set_gate
.endm
.macro GATE_H vec, handler, attr, ist=0
	movl $\vec, %edi
	leaq \handler(%rip), %rsi
	movl $\attr, %edx
	movl $\ist, %ecx
	call set_gate
.endm
/* Store a register into res[idx] (any CPL: the page is user-writable). */
.macro L name
	.globl \name
\name\():
.endm
/* Region marker (guest_abi.h: nopl disp32(%rax) with the magic; the
 * header's constants carry C suffixes, so the magic is spelled here). */
.macro MARK kind, region
	.byte 0x0f, 0x1f, 0x80
	.long 0x564c0000 | ((\kind) << 8) | (\region)
.endm
.macro MARK_BEGIN region
	MARK 1, \region
.endm
.macro MARK_END
	MARK 2, 0
.endm
.macro SAVE reg, idx
	movq \reg, res + 8 * (\idx)(%rip)
.endm
.macro WRMSR_IMM msr, val
	movl $\msr, %ecx
	movabsq $\val, %rax
	movq %rax, %rdx
	shrq $32, %rdx
	wrmsr
.endm
/* Back to the kernel from user code started with enter_user. */
.macro TO_KERNEL
	int $0x81
.endm
#endif

#endif
