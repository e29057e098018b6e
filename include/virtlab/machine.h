/* machine.h — the deterministic x86-64 machine as engines see it.
 *
 * The machine is the hardware: CPU state, host-physical memory, paging
 * (1-D and 2-D walks, TLBs), exceptions and interrupts, devices, the cost
 * model. Engines (engines/...) and MMU engines (mmu/...) are VMM software: they
 * program the hardware through this header and are called back through
 * struct vl_vmm_ops. The interpreter's hot loop never learns which engine
 * runs: an engine sets intercept bitmaps and hooks, and only instructions of
 * an intercepted class take the slow path (STYLE.md: peers behind one ops
 * table).
 *
 * Machine-private details (decoder, decode cache, TLB arrays) live in
 * machine/ headers and are not for engines.
 */
#ifndef VIRTLAB_MACHINE_H
#define VIRTLAB_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/assert.h"
#include "virtlab/counters.h"
#include "virtlab/guest_abi.h"
#include "virtlab/profile.h"

struct vl_machine;

/* ---- CPU state ---------------------------------------------------------- */
enum vl_gpr { VL_RAX, VL_RCX, VL_RDX, VL_RBX, VL_RSP, VL_RBP, VL_RSI, VL_RDI,
	      VL_R8, VL_R9, VL_R10, VL_R11, VL_R12, VL_R13, VL_R14, VL_R15 };
enum vl_sreg { VL_ES, VL_CS, VL_SS, VL_DS, VL_FS, VL_GS };   /* SDM encoding order */

struct vl_seg {
	uint16_t sel;
	uint64_t base;
	uint32_t limit;
	uint16_t attr;     /* VMCS "access rights" layout: type[3:0] S[4] DPL[6:5] P[7] AVL[12] L[13] D/B[14] G[15] */
};
struct vl_dtr { uint64_t base; uint16_t limit; };

/* RFLAGS bits */
#define VL_FL_CF   (1ull << 0)
#define VL_FL_PF   (1ull << 2)
#define VL_FL_AF   (1ull << 4)
#define VL_FL_ZF   (1ull << 6)
#define VL_FL_SF   (1ull << 7)
#define VL_FL_TF   (1ull << 8)
#define VL_FL_IF   (1ull << 9)
#define VL_FL_DF   (1ull << 10)
#define VL_FL_OF   (1ull << 11)
#define VL_FL_IOPL (3ull << 12)
#define VL_FL_NT   (1ull << 14)
#define VL_FL_RF   (1ull << 16)
#define VL_FL_AC   (1ull << 18)
#define VL_FL_ID   (1ull << 21)

/* Control registers and EFER bits the model honours */
#define VL_CR0_PE (1ull << 0)
#define VL_CR0_TS (1ull << 3)
#define VL_CR0_WP (1ull << 16)
#define VL_CR0_PG (1ull << 31)
#define VL_CR4_PSE (1ull << 4)
#define VL_CR4_PAE (1ull << 5)
#define VL_CR4_PGE (1ull << 7)
#define VL_CR4_PCIDE (1ull << 17)
#define VL_CR4_SMEP (1ull << 20)   /* SDM Vol. 3A 4.6: supervisor fetches from user pages fault */
#define VL_CR4_SMAP (1ull << 21)   /* SDM Vol. 3A 4.6: supervisor data accesses to user pages fault unless AC (explicit) */
#define VL_EFER_SCE (1ull << 0)
#define VL_EFER_LME (1ull << 8)
#define VL_EFER_LMA (1ull << 10)
#define VL_EFER_NXE (1ull << 11)

/* MSRs the model implements */
#define VL_MSR_APIC_BASE      0x1b
#define VL_MSR_EFER           0xc0000080
#define VL_MSR_STAR           0xc0000081
#define VL_MSR_LSTAR          0xc0000082
#define VL_MSR_CSTAR          0xc0000083
#define VL_MSR_SFMASK         0xc0000084
#define VL_MSR_FS_BASE        0xc0000100
#define VL_MSR_GS_BASE        0xc0000101
#define VL_MSR_KERNEL_GS_BASE 0xc0000102
#define VL_MSR_TSC_AUX        0xc0000103
#define VL_MSR_TSC            0x10
#define VL_MSR_PAT            0x277
#define VL_MSR_TSC_DEADLINE   0x6e0   /* local APIC timer, TSC-deadline mode (features.tsc_deadline) */
#define VL_MSR_X2APIC_FIRST   0x800   /* x2APIC: 0x800 + (xAPIC offset >> 4) */
#define VL_MSR_X2APIC_LAST    0x8ff

struct vl_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	struct vl_seg seg[6];
	struct vl_seg ldtr, tr;
	struct vl_dtr gdtr, idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;   /* cr3 is the HARDWARE root (a shadow root under shadow paging) */
	uint64_t efer;
	uint64_t dr[8];
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux, pat, apic_base;
	uint8_t cpl;                         /* current privilege level (CS.DPL in long mode) */
	bool halted;                         /* HLT: waiting for an interrupt */
	uint8_t intr_shadow;                 /* blocking for one instruction: 1 = by STI, 2 = by MOV SS (VMX bits) */
	bool nmi_pending;                    /* an NMI latched (local APIC ICR, delivery mode NMI), not yet delivered */
	bool nmi_blocked;                    /* blocking by NMI (SDM 6.7.1): set by NMI delivery, cleared by IRET */
};

#define VL_SEG_ATTR_L 0x2000u   /* vl_seg.attr: CS.L (64-bit code segment) */
#define VL_SEG_ATTR_D 0x4000u   /* vl_seg.attr: CS.D (32-bit default operand size) */

/* 64-bit mode: EFER.LMA and CS.L. A Multiboot kernel starts outside it
 * (32-bit protected mode); the deprivileged engines that need a 64-bit
 * (or a paravirtualized) guest refuse it at attach (VL_ATTACH_REFUSED). */
static inline bool vl_cpu_in_64bit_mode(const struct vl_cpu *c)
{
	return (c->efer & VL_EFER_LMA) && (c->seg[VL_CS].attr & VL_SEG_ATTR_L);
}

/* ---- Sensitive instruction classes (intercept points) --------------------
 * One bit each in vl_machine.intercept. When an instruction of a class
 * whose bit is set is about to execute (after its privilege/#GP checks that
 * precede a VM exit architecturally, i.e. the SDM's "exits take priority
 * over faults that are checked later"), the machine calls
 * vmm->intercept(). The VMM applies its finer rules (I/O bitmap, MSR
 * bitmap, CR masks, ...) and either emulates the instruction (DONE) or
 * declines (PASS: the instruction executes normally).
 */
enum vl_sens {
	VL_SENS_CPUID, VL_SENS_HLT, VL_SENS_INVLPG, VL_SENS_RDTSC, VL_SENS_RDTSCP,
	VL_SENS_RDPMC, VL_SENS_CR_READ, VL_SENS_CR_WRITE, VL_SENS_DR_ACCESS,
	VL_SENS_IO, VL_SENS_RDMSR, VL_SENS_WRMSR, VL_SENS_VMCALL /* VMCALL or VMMCALL */,
	VL_SENS_PUSHF, VL_SENS_POPF, VL_SENS_CLI, VL_SENS_STI, VL_SENS_IRET,
	VL_SENS_INTN /* INT n, INT3, INTO */, VL_SENS_LGDT, VL_SENS_LIDT, VL_SENS_LLDT,
	VL_SENS_LTR, VL_SENS_SGDT, VL_SENS_SIDT, VL_SENS_SLDT, VL_SENS_STR,
	VL_SENS_SMSW, VL_SENS_LMSW, VL_SENS_CLTS, VL_SENS_SWAPGS, VL_SENS_SYSCALL,
	VL_SENS_SYSRET, VL_SENS_WBINVD, VL_SENS_XSETBV, VL_SENS_PAUSE,
	VL_SENS_MWAIT, VL_SENS_MONITOR, VL_SENS_READ_SEG /* MOV r/m,Sreg; PUSH CS.. */,
	VL_SENS_COUNT
};
#define VL_SENS_BIT(c) (1ull << (c))

struct vl_sens_event {
	enum vl_sens cls;
	uint8_t len;       /* instruction length: the VMM advances RIP by it when it emulates */
	uint8_t write;     /* CR/DR write, OUT/OUTS, WRMSR: 1 */
	uint8_t reg;       /* CR/DR number (MOV CR/DR), segment register (READ_SEG) */
	uint8_t gpr;       /* general register operand of MOV CR/DR, 0..15; 0xff = memory/none */
	uint8_t size;      /* I/O access size 1/2/4 */
	uint8_t string;    /* INS/OUTS */
	uint8_t rep;       /* REP prefix */
	uint8_t vector;    /* INT n vector; VMCALL: 0 = VMCALL (Intel), 1 = VMMCALL (AMD); WBINVD: 0, INVD: 1 */
	uint16_t port;     /* I/O port */
	uint64_t addr;     /* INVLPG linear address; memory operand of LGDT/SGDT/... */
	uint64_t value;    /* value written by MOV to CR / LMSW / POPF image, OUT data */
	uint64_t insn_rip; /* RIP of the instruction */
};

/* Hook return values */
enum vl_hook_rc {
	VL_HOOK_PASS = 0,  /* not handled: the hardware proceeds normally */
	VL_HOOK_DONE = 1,  /* the VMM handled it (emulated, fixed a hidden fault, injected): resume at cpu.rip */
	VL_HOOK_STOP = 2,  /* the VMM stops the machine (vl_machine_stop already called) */
	VL_HOOK_HOLD = 3,  /* vmm->interrupt only: hold the interrupt (see "Interrupt window") */
};

/* VMM callbacks. Any may be NULL when its bitmap never selects it.
 * Every callback runs "in the VMM": it charges its own costs
 * (vl_charge with VL_CAT_EXIT / VL_CAT_VMM / ...) and counts its exits. */
struct vl_vmm_ops {
	int (*intercept)(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev);
	/* An exception about to be delivered, vector `vec` selected in
	 * exc_intercept. cr2 is the faulting address for #PF. */
	int (*exception)(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2);
	/* An external interrupt (APIC timer) became deliverable, with
	 * intr_intercept set (RFLAGS.IF = 1, no interrupt shadow, APIC
	 * priority allows it, not held). Returns:
	 *   PASS  the machine delivers it through the IDT now;
	 *   DONE  the VMM delivered it itself (vl_deliver_interrupt, an
	 *         injection on VM entry): the vector must have left the APIC's
	 *         IRR — returning DONE and leaving it pending is a VMM bug, the
	 *         machine stops with VL_M_ERROR (asserted in test builds);
	 *   HOLD  the guest cannot take it now (its VIRTUAL IF is 0): it stays
	 *         pending in the APIC and the machine offers no interrupt until
	 *         the VMM calls vl_intr_release() (see "Interrupt window");
	 *   STOP  the VMM stopped the machine. */
	int (*interrupt)(struct vl_machine *m, void *ctx, unsigned vec);
	/* 2-D walk: the nested dimension faulted (EPT violation / NPF). gpa: the
	 * guest-physical address; gva valid when gva_valid (the fault hit the
	 * final translation, not a guest page-table reference). acc: VL_ACC_*. */
	int (*nested_fault)(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid, unsigned acc, uint64_t nested_pte);
	/* A callout instruction (VL_CALLOUT_*) executed while callouts are enabled. */
	int (*callout)(struct vl_machine *m, void *ctx, uint32_t id);
	/* Triple fault in guest mode: the VMM may record it (VT-x exit reason 2,
	 * SVM VMEXIT_SHUTDOWN); the machine stops either way. */
	void (*shutdown)(struct vl_machine *m, void *ctx);
	/* An NMI became deliverable (pending, no blocking by NMI, no STI/MOV SS
	 * shadow) with nmi_intercept set. The hook consumes it (clears
	 * cpu.nmi_pending) and returns DONE after delivering it itself
	 * (vl_deliver_nmi, an injection on VM entry), or PASS: the machine
	 * delivers it; STOP: the VMM stopped the machine. */
	int (*nmi)(struct vl_machine *m, void *ctx);
};

/* Callout: an instruction only translated code contains, the escape from
 * the translation cache into the VMM (binary translation): UD0 with a fixed
 * ModRM, then a 32-bit callout id, 7 bytes in all.
 * Gating: the machine calls vmm->callout(id) (RIP at the callout) only when
 *   - m->callouts is set, and
 *   - the whole instruction lies in m->callout_gate's linear range
 *     [va_lo, va_hi) (the translation cache, in the monitor hole), and
 *   - the CPU runs at m->callout_gate.cpl (the CPL translated code runs at), and
 *   - when pa_hi != 0: the instruction's bytes come from host-physical
 *     [pa_lo, pa_hi) (the TC's monitor frames; checked with a quiet walk, so
 *     a guest that maps its own page at the TC's linear address is refused).
 * Anywhere else — guest user code, guest kernel memory, the right range at
 * the wrong CPL — it is #UD, as UD0 is on real hardware, so a guest cannot
 * forge a callout. An empty gate (va_lo == va_hi) honours no callout. */
#define VL_CALLOUT_BYTES  { 0x0f, 0xff, 0xc8 } /* UD0 eax,eax (3 bytes) followed by imm32 id: 7 bytes */
#define VL_CALLOUT_LEN    7

struct vl_callout_gate {
	uint64_t va_lo, va_hi;   /* linear range of the translation cache */
	uint64_t pa_lo, pa_hi;   /* host-physical range of its frames; pa_hi 0 = not checked */
	uint8_t cpl;             /* the privilege level translated code runs at */
};

/* ---- Interrupt window ------------------------------------------------------
 * A VMM that virtualizes IF in software (binary translation: the guest
 * kernel runs with the real IF = 1 and a virtual IF in monitor memory)
 * returns VL_HOOK_HOLD from vmm->interrupt while the guest's virtual IF is 0.
 * The machine then sets m->intr_held: the interrupt stays pending in the
 * APIC (IRR), no external interrupt is offered or delivered, and the run
 * goes on. When the guest sets its virtual IF (an emulated STI / POPF /
 * IRET), the VMM calls vl_intr_release(): at the next instruction boundary
 * the machine offers the highest pending interrupt to vmm->interrupt again
 * (VT-x "interrupt-window exiting" in spirit). HLT with an interrupt held
 * stops the run (nothing but the VMM could wake the CPU). Counted:
 * intr_holds (each HOLD). */
void vl_intr_release(struct vl_machine *m);

/* ---- Code-write notification -----------------------------------------------
 * A VMM that keeps translations of guest code (binary translation) watches
 * the host frames that code came from: vl_code_watch(m, frame, true). Every
 * later write to a watched frame — guest stores and string instructions,
 * the walker's A/D updates, vl_phys_write*, the loader — calls
 * m->code_write(m, m->code_write_ctx, frame, off, len) once per frame
 * touched, AFTER the bytes are in memory. It runs in the middle of the
 * writing instruction: it must not change CPU state or stop the machine;
 * it may drop translations (not the one executing — defer that to the next
 * VMM entry) and unwatch frames. Unwatched frames cost nothing beyond the
 * per-frame byte the decode cache already tests on every store.
 * Returns 0, or -1 when frame is outside memory. */
typedef void (*vl_code_write_fn)(struct vl_machine *m, void *ctx, uint64_t frame, unsigned off, unsigned len);
int vl_code_watch(struct vl_machine *m, uint64_t frame, bool on);
bool vl_code_watched(const struct vl_machine *m, uint64_t frame);

/* ---- Memory access kinds ---------------------------------------------- */
#define VL_ACC_R    0x0u
#define VL_ACC_W    0x1u
#define VL_ACC_X    0x2u
#define VL_ACC_USER 0x4u   /* access made at CPL 3 (implicit supervisor accesses leave it clear) */
#define VL_ACC_IMPLICIT 0x8u /* implicit supervisor-mode access (GDT/LDT/IDT/TSS, SDM 4.6): SMAP ignores EFLAGS.AC */

/* #PF error code bits */
#define VL_PFEC_P    (1u << 0)
#define VL_PFEC_W    (1u << 1)
#define VL_PFEC_U    (1u << 2)
#define VL_PFEC_RSVD (1u << 3)
#define VL_PFEC_I    (1u << 4)

/* Exception vectors */
enum { VL_DE = 0, VL_DB = 1, VL_NMI = 2, VL_BP = 3, VL_OF = 4, VL_BR = 5, VL_UD = 6,
       VL_NM = 7, VL_DF = 8, VL_TS = 10, VL_NP = 11, VL_SS_FAULT = 12 /* #SS; VL_SS is the segment */, VL_GP = 13,
       VL_PF = 14, VL_MF = 16, VL_AC = 17, VL_MC = 18, VL_XM = 19 };

/* Page-table entry bits (x86 long mode, SDM Vol. 3 4.5; EPT, SDM 29.3.2) */
#define VL_PTE_P    (1ull << 0)
#define VL_PTE_RW   (1ull << 1)
#define VL_PTE_US   (1ull << 2)
#define VL_PTE_A    (1ull << 5)
#define VL_PTE_D    (1ull << 6)
#define VL_PTE_PS   (1ull << 7)
#define VL_PTE_G    (1ull << 8)
#define VL_PTE_NX   (1ull << 63)
#define VL_PTE_ADDR 0x000ffffffffff000ull
#define VL_EPT_R    (1ull << 0)
#define VL_EPT_W    (1ull << 1)
#define VL_EPT_X    (1ull << 2)

/* ---- Page walks: one walker, parameterised (STYLE.md) -------------------
 * The 1-D walk (native, shadow hardware walk, a VMM's software walk of
 * guest tables) and each dimension of the 2-D walk are vl_walk() with
 * different parameters. */
enum vl_pt_fmt { VL_PT_X86 = 0, VL_PT_EPT = 1 };

#define VL_PERM_W   1u
#define VL_PERM_U   2u
#define VL_PERM_X   4u
#define VL_PERM_G   8u

struct vl_walk_req {
	uint64_t root;        /* physical address of the top-level table */
	enum vl_pt_fmt fmt;   /* x86 long-mode entries, or EPT entries (R/W/X in bits 0..2) */
	unsigned acc;         /* VL_ACC_* of the access being translated */
	bool set_ad;          /* set accessed (and dirty on a write) bits as the hardware does */
	bool nested;          /* 2-D: every table reference and the final address are
	                       * guest-physical, translated through m->nested */
	bool software;        /* a VMM reading tables in software: refs charged to
	                       * VL_CAT_VMM, not counted as hardware walk_refs, no PWC */
	bool quiet;           /* diagnostics (disassembly, traces): no charge, no count,
	                       * no A/D writes, no caches — invisible to the model */
};

enum vl_walk_status { VL_WALK_OK = 0, VL_WALK_PF = 1, VL_WALK_NPF = 2, VL_WALK_BAD = 3 };

struct vl_walk_res {
	enum vl_walk_status status;
	uint64_t pa;          /* final (host-)physical address of va */
	uint64_t gpa;         /* 2-D: guest-physical address of va */
	uint64_t page_size;   /* 4K, 2M or 1G (the smaller of both dimensions in 2-D) */
	unsigned perms;       /* VL_PERM_* effective over all levels */
	uint32_t pfec;        /* VL_WALK_PF: #PF error code */
	int levels;           /* entries read in the (guest) dimension */
	uint64_t pte_pa[4];   /* physical address of the entry read at each level, top first */
	uint64_t pte[4];      /* the entry values */
	/* VL_WALK_NPF: */
	uint64_t npf_gpa;     /* the guest-physical address the nested walk could not translate */
	bool npf_final;       /* true: faulted on the final address; false: on a guest table reference */
	uint64_t npf_entry;   /* the nested entry that faulted (0 when not present) */
	uint32_t refs;        /* memory references this walk made (both dimensions) */
};

int vl_walk(struct vl_machine *m, const struct vl_walk_req *rq, uint64_t va, struct vl_walk_res *res);

/* Nested paging hardware state (EPT / NPT). Engines enable it on VM entry. */
struct vl_nested {
	bool enabled;
	enum vl_pt_fmt fmt;   /* VL_PT_EPT (Intel) or VL_PT_X86 (AMD NPT) */
	uint64_t root;        /* host-physical EPT PML4 / nCR3 */
};

/* ---- Run status --------------------------------------------------------- */
enum vl_mstate {
	VL_M_RUNNING = 0,
	VL_M_EXITED,        /* guest wrote the exit device: exit_code holds the value */
	VL_M_TRIPLE_FAULT,  /* diagnostic in m->diag */
	VL_M_TIMEOUT,       /* max_insns / max_cycles reached */
	VL_M_ERROR,         /* VMM or machine error (entry failure, ...): m->diag */
};

/* ---- Event delivery seen by a VMM ---------------------------------------
 * The event whose delivery raised the fault now offered to the VMM (VMX
 * IDT-vectoring information, SVM EXITINTINFO: both encode the type as
 * below). valid = false when the fault did not interrupt a delivery. */
#define VL_EVT_INTR 0u     /* external interrupt */
#define VL_EVT_NMI  2u     /* NMI */
#define VL_EVT_EXC  3u     /* hardware exception */
#define VL_EVT_SOFT 4u     /* INT n / INT3 / INTO */
struct vl_vectoring {
	bool valid, has_err;
	uint8_t vec, type;
	uint32_t err;
};

/* ---- The machine -------------------------------------------------------- */
struct vl_machine_priv;   /* machine/: TLBs, decode cache, device internals */

struct vl_machine {
	struct vl_cpu cpu;
	const struct vl_profile *prof;

	/* Host-physical memory: guest RAM is [0, ram_size); [ram_size, mem_size)
	 * is monitor memory for VMM structures (shadow tables, EPT, VMCS/VMCB,
	 * translation cache), handed out by vl_mem_alloc_page(). */
	uint8_t *mem;
	uint64_t mem_size;
	uint64_t ram_size;

	/* Time and counters */
	uint64_t tsc;                         /* = total modelled cycles */
	int64_t tsc_offset;                   /* added to guest-visible RDTSC (VMCS TSC offset) */
	struct vl_counters *ctr;              /* = &region[region_id] */
	int region_id;
	struct vl_counters region[VL_MAX_REGIONS];
	uint64_t insns;                       /* all retired instructions, every region */
	uint64_t max_insns, max_cycles;       /* 0 = unlimited */

	/* State */
	enum vl_mstate state;
	uint32_t exit_code;
	bool boot_multiboot;       /* the loaded image was a Multiboot kernel (entered in 32-bit protected mode) */
	char diag[1024];                      /* one-line reason / triple-fault diagnostic */

	/* Engine hook points */
	uint64_t intercept;                   /* VL_SENS_BIT(class) set: call vmm->intercept */
	uint32_t exc_intercept;               /* bit per vector: call vmm->exception before delivery */
	bool intr_intercept;                  /* call vmm->interrupt before delivering an external interrupt */
	bool nmi_intercept;                   /* call vmm->nmi before delivering an NMI (VT-x NMI exiting, SVM NMI intercept) */
	bool callouts;                        /* callout instruction enabled (else #UD) */
	struct vl_callout_gate callout_gate;  /* where callouts are honoured (see VL_CALLOUT_BYTES) */
	bool intr_held;                       /* an interrupt is held (VL_HOOK_HOLD) until vl_intr_release */
	vl_code_write_fn code_write;          /* writes to watched code frames (vl_code_watch) */
	void *code_write_ctx;
	const struct vl_vmm_ops *vmm;
	void *vmm_ctx;
	struct vl_nested nested;
	struct vl_vectoring vectoring;        /* set while vmm->exception runs for a fault during delivery */
	uint16_t tlb_tag;                     /* current VPID / ASID (0 = untagged) */
	const struct vl_exit_desc *exit_table;/* the engine's exit names (for diagnostics / results) */
	size_t exit_table_len;
	size_t hypercall_slots;               /* exit_table[0 .. this) are hypercalls (pv): reported under "hypercalls" */
	size_t callout_lo, callout_hi;        /* exit_table slots [lo, hi) are callouts (binary translation):
	                                       * reported as "callouts", counted with vl_count_callout */

	/* Console (debug port output) */
	char *console;
	size_t console_len, console_cap;

	/* Tracing (run --trace): called for each exit/trap/callout/translation
	 * an engine reports with vl_trace(). NULL = off. */
	void (*trace)(void *arg, const char *line);
	void *trace_arg;
	/* Trace only while this counter region is current (run --trace-region
	 * measured); 0 = every region. Region markers are traced regardless. */
	int trace_region;

	struct vl_machine_priv *priv;
};

/* ---- Lifecycle ---------------------------------------------------------- */
/* Guest RAM sizes a machine accepts (with the default monitor memory):
 * the CLI's --ram-mb range, checked before a run starts. */
#define VL_RAM_MB_MIN 2ull
#define VL_RAM_MB_MAX (64ull * 1024 - 64)

struct vl_machine_config {
	const struct vl_profile *prof;
	uint64_t ram_mb;          /* guest RAM; 0 = VL_DEFAULT_RAM_MB */
	uint64_t monitor_mb;      /* monitor memory above RAM; 0 = default (64) */
	uint64_t max_insns, max_cycles;
};

/* Create a machine in its reset state; returns NULL with reason in err. */
struct vl_machine *vl_machine_new(const struct vl_machine_config *cfg, char *err, size_t errlen);
void vl_machine_free(struct vl_machine *m);
/* Give up monitor memory (an engine with no VMM: native): physical memory
 * then ends at RAM, so guest accesses above it read all ones and writes are
 * dropped, as on every virtualized engine. Before the first instruction. */
void vl_machine_drop_monitor(struct vl_machine *m);

/* Load a static ELF64 (PT_LOAD at p_paddr), set up the DESIGN.md boot state
 * (see guest_abi.h) with `cmdline`. Returns 0, or -1 with a one-line reason
 * (corrupt/unsupported ELF, does not fit in RAM, ...). */
int vl_machine_load_elf(struct vl_machine *m, const char *path, const char *cmdline, char *err, size_t errlen);
int vl_machine_load_elf_mem(struct vl_machine *m, const uint8_t *img, size_t len, const char *cmdline, char *err, size_t errlen);
/* True if the file at path carries a Multiboot v1 header (a foreign guest:
 * its own command line, UART output, success = exit status 0). */
bool vl_image_is_multiboot(const char *path);

/* Run until the machine leaves VL_M_RUNNING. Returns m->state. */
enum vl_mstate vl_machine_run(struct vl_machine *m);
/* Execute at most one instruction (or deliver one event); for tests. */
enum vl_mstate vl_machine_step(struct vl_machine *m);

/* Stop with a state and a printf-style one-line reason. */
void vl_machine_stop(struct vl_machine *m, enum vl_mstate st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- Costs -------------------------------------------------------------- */
/* Charge `cycles` to category `cat`, priced by profile value `pf` (enum
 * vl_pf; counters.h field_cycles): the cycles are a multiple of that one
 * value (n instructions of a class, n page-walk references, ...). A sum of
 * several values is charged as one call per value. */
static inline void vl_charge_pf(struct vl_machine *m, enum vl_cat cat, unsigned pf, uint64_t cycles)
{
	VL_ASSERT((unsigned)cat < VL_CAT_COUNT && pf < VL_PF_SLOTS);
	m->tsc += cycles;
	m->ctr->cycles[cat] += cycles;
	m->ctr->field_cycles[pf] += cycles;
}
/* Charge profile value `f` — a struct vl_profile member, which is also its
 * enum vl_pf suffix (vmm_cpuid: VL_PF_vmm_cpuid, m->prof->vmm_cpuid) — once,
 * or n times, to `cat`: the value and its attribution cannot disagree. */
#define VL_CHARGE(m, cat, f) vl_charge_pf((m), (cat), VL_PF_##f, (m)->prof->f)
#define VL_CHARGE_N(m, cat, f, n) vl_charge_pf((m), (cat), VL_PF_##f, (uint64_t)(n) * (m)->prof->f)
/* Charge cycles no profile value prices (VL_PF_NONE: an HLT's idle wait). */
static inline void vl_charge(struct vl_machine *m, enum vl_cat cat, uint64_t cycles)
{
	vl_charge_pf(m, cat, VL_PF_NONE, cycles);
}
static inline void vl_count(struct vl_machine *m, enum vl_event ev, uint64_t n)
{
	VL_ASSERT((unsigned)ev < VL_EV_COUNT);
	m->ctr->events[ev] += n;
}
/* Count one exit in slot `slot` of m->exit_table, with the cycles it cost.
 * A slot outside the engine's table is an engine bug (an exit it enables
 * but did not name): asserted in test builds, counted as
 * unknown_exit_slots otherwise (the exit itself is still counted). */
static inline void vl_count_exit(struct vl_machine *m, unsigned slot, uint64_t cycles)
{
	if (ALWAYS(slot < m->exit_table_len && slot < VL_MAX_EXIT_SLOTS)) {
		m->ctr->exit_count[slot]++;
		m->ctr->exit_cycles[slot] += cycles;
	} else {
		m->ctr->events[VL_EV_UNKNOWN_EXIT_SLOTS]++;
	}
	m->ctr->events[VL_EV_EXITS]++;
}
/* Count one hypercall (paravirtualization) in the engine's table slot
 * (slot < hypercall_slots; code = hypercall number) with its cycles: reported under
 * "hypercalls", counted as the event `hypercalls`, not as an exit. */
static inline void vl_count_hypercall(struct vl_machine *m, unsigned slot, uint64_t cycles)
{
	if (ALWAYS(slot < m->hypercall_slots && slot < m->exit_table_len && slot < VL_MAX_EXIT_SLOTS)) {
		m->ctr->exit_count[slot]++;
		m->ctr->exit_cycles[slot] += cycles;
	} else {
		m->ctr->events[VL_EV_UNKNOWN_EXIT_SLOTS]++;
	}
	m->ctr->events[VL_EV_HYPERCALLS]++;
}
/* Count one callout (binary translation: translated code entering the VMM)
 * in slot `slot` of m->exit_table (within [callout_lo, callout_hi)): like an
 * exit by name, but not a VM exit (the exits event is not incremented). */
static inline void vl_count_callout(struct vl_machine *m, unsigned slot, uint64_t cycles)
{
	if (ALWAYS(slot < m->exit_table_len && slot < VL_MAX_EXIT_SLOTS)) {
		m->ctr->exit_count[slot]++;
		m->ctr->exit_cycles[slot] += cycles;
	} else {
		m->ctr->events[VL_EV_UNKNOWN_EXIT_SLOTS]++;
	}
}
/* Report one event to the tracer (no-op when tracing is off). */
void vl_trace(struct vl_machine *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Host-physical frame of pa is a device (the local APIC's xAPIC page in
 * xAPIC mode), not memory. The machine's devices are the guest's virtual
 * devices (the VMMs' choice, see the engine READMEs): an MMU engine maps a
 * guest frame that is a device frame through to it (identity), every other
 * non-RAM guest frame to unbacked memory. */
bool vl_mmio_frame(const struct vl_machine *m, uint64_t pa);

/* ---- Memory for VMM software -------------------------------------------
 * Host-physical access (no translation, no TLB). The VMM's reads/writes of
 * its own structures are charged by the VMM, not here. Writes through
 * vl_phys_write invalidate decoded code on the page. */
static inline uint8_t *vl_phys_ptr(struct vl_machine *m, uint64_t pa)
{
	return pa < m->mem_size ? m->mem + pa : NULL;
}
uint64_t vl_phys_read64(struct vl_machine *m, uint64_t pa);
void vl_phys_write64(struct vl_machine *m, uint64_t pa, uint64_t v);
int vl_phys_write(struct vl_machine *m, uint64_t pa, const void *src, size_t n);
/* Allocate a zeroed 4 KiB page of monitor memory; returns its host-physical
 * address, or 0 when monitor memory is exhausted. */
uint64_t vl_mem_alloc_page(struct vl_machine *m);

/* Guest-virtual access as the CPU would make it right now (through the TLB
 * and the current paging mode, counted like any access). Returns 0, or the
 * exception vector (VL_PF with *pfec set) WITHOUT delivering it. Used by
 * VMMs emulating an instruction. */
int vl_virt_read(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc, uint32_t *pfec);
int vl_virt_write(struct vl_machine *m, uint64_t va, const void *src, size_t n, unsigned acc, uint32_t *pfec);

/* ---- TLB control (the hardware's TLB, for VMMs and the interpreter) ----- */
void vl_tlb_flush_all(struct vl_machine *m);             /* everything, global too, all tags */
void vl_tlb_flush_nonglobal(struct vl_machine *m);       /* current tag, non-global (MOV CR3) */
void vl_tlb_flush_tag(struct vl_machine *m, uint16_t tag);/* INVVPID single-context / ASID flush */
void vl_tlb_flush_va(struct vl_machine *m, uint64_t va); /* INVLPG semantics, current tag */

/* ---- Events into the guest ---------------------------------------------
 * Deliver an exception / interrupt through the guest IDT now, as the
 * hardware would (VMM event injection on VM entry uses this). Honours
 * exc_intercept only when `from_hw`. */
void vl_deliver_exception(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, uint64_t cr2, bool from_hw);
/* SDM Vol. 3 Table 6-5 for a VMM reflecting a fault `second` that was
 * raised while delivering `first` (from the exit's vectoring information):
 * the vector to deliver — `second` (handled serially) or VL_DF — or -1: a
 * fault while delivering #DF is a triple fault (shutdown). */
int vl_event_combine(const struct vl_vectoring *first, unsigned second);
/* The same table for two exceptions: does fault `second`, raised while
 * delivering exception `first` (not #DF), make a double fault? Contributory
 * on contributory, or anything but a benign fault after #PF. */
bool vl_exc_double_fault(unsigned first, unsigned second);
void vl_deliver_interrupt(struct vl_machine *m, unsigned vec);
/* Deliver the pending NMI through IDT vector 2 (as an external event, IF
 * not consulted) and set blocking by NMI until the next IRET. */
void vl_deliver_nmi(struct vl_machine *m);
/* The CPU accepted external interrupt vec (APIC IRR -> ISR) without the
 * machine delivering it: for a VMM that delivers it itself, virtually
 * (engines/hv/vcpu.c: through the deprivileged guest's own IDT). */
void vl_apic_accept(struct vl_machine *m, unsigned vec);

/* ---- Devices ------------------------------------------------------------
 * Port I/O and the local APIC as the hardware/platform implements them;
 * VMMs that intercept I/O or APIC MSRs emulate by calling these. */
uint32_t vl_io_in(struct vl_machine *m, uint16_t port, unsigned size);
void vl_io_out(struct vl_machine *m, uint16_t port, unsigned size, uint32_t val);
/* x2APIC MSR access (msr in VL_MSR_X2APIC_FIRST..LAST). Returns 0, or -1 for #GP. */
int vl_apic_rdmsr(struct vl_machine *m, uint32_t msr, uint64_t *val);
int vl_apic_wrmsr(struct vl_machine *m, uint32_t msr, uint64_t val);
/* IA32_TSC_DEADLINE (0x6E0): -1 (#GP) where the profile's CPU lacks TSC-deadline mode */
int vl_apic_deadline_read(struct vl_machine *m, uint64_t *val);
int vl_apic_deadline_write(struct vl_machine *m, uint64_t val);
/* The task-priority register as MOV to/from CR8 sees it (TPR[7:4]), for
 * VMMs that intercept CR8 (no TPR shadow / V_TPR): works in every APIC mode. */
void vl_apic_set_tpr(struct vl_machine *m, uint8_t cr8);
uint8_t vl_apic_get_tpr(struct vl_machine *m);
/* Architectural MSR access (incl. APIC); returns 0 or -1 for #GP. */
int vl_msr_read(struct vl_machine *m, uint32_t msr, uint64_t *val);
int vl_msr_write(struct vl_machine *m, uint32_t msr, uint64_t val);
/* CPUID as the bare CPU answers it (the profile's vendor and features). */
void vl_cpuid(struct vl_machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* ---- The VMM's instruction emulator --------------------------------------
 * Emulate the one guest instruction at cpu.rip in software, as a VMM's
 * emulator does after an exit (KVM's x86 emulator): it decodes with the
 * machine's decoder, reads operands through guest-virtual translation, and
 * hands every memory WRITE to ops->write instead of performing it, so the
 * VMM can validate/trace it (shadow page-table tracing, MMIO). Advances RIP
 * on success. Charges nothing (the VMM charges its emulation cost).
 * Returns 0, VL_PF etc. (not delivered; *pfec set), or -1 if the
 * instruction is not emulatable (reason in m->diag). */
struct vl_emul_ops {
	/* Perform (or refuse) a write of n bytes at guest-virtual va. Return 0
	 * to continue, or an exception vector to fail the emulation. */
	int (*write)(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n);
};
int vl_emulate_one(struct vl_machine *m, const struct vl_emul_ops *ops, void *ctx, uint32_t *pfec);
/* The VMM completed a guest instruction in software OUTSIDE an instruction
 * intercept — a write it emulated on a #PF exit (shadow paging's traced
 * page-table writes) — so the hardware never retired it: count it retired
 * as the hardware would have (guest_instructions and the --max-instructions
 * budget; reaching the limit stops the machine, VL_M_TIMEOUT). No guest
 * cycles (the VMM charged its emulation). Instructions emulated for an
 * intercept (VL_HOOK_DONE) are counted by the CPU: never call it there. */
void vl_retire_emulated(struct vl_machine *m);

/* ---- Diagnostics -------------------------------------------------------- */
/* Disassemble up to `n` instructions at guest-virtual va with Capstone into
 * buf ("addr: bytes  mnemonic ops" lines). Returns bytes written. */
size_t vl_disasm(struct vl_machine *m, uint64_t va, int n, char *buf, size_t buflen);

#endif
