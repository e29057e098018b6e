/* vcpu.h — the virtual CPU of a deprivileged guest kernel: the runtime that
 * trap-and-emulate (engines/trap), binary translation (engines/bt) and
 * paravirtualization (engines/pv) share.
 *
 * Model. The guest kernel believes it runs at CPL 0 (virtual CPL 0); it
 * really runs at ring v->ring (1: see engines/hv/README.md for why). Guest
 * user code runs at ring 3 as it believes. The VMM is host C code: the
 * engine installs struct vl_vmm_ops hooks and calls into this module from
 * them (the exception hook, the interrupt hook, the intercept hook or a
 * callout). The vCPU keeps what the hardware cannot show the guest:
 *   - virtual RFLAGS.IF and IOPL while at virtual CPL 0 (the real IF stays 1
 *     so the VMM keeps the CPU, the real IOPL 0 so CLI/STI/IN/OUT trap);
 *   - virtual CR0/CR2/CR4 (CR3 lives in the MMU engine, cr3_read; CR8 is
 *     the APIC's TPR — the machine's APIC is the guest's virtual APIC, as
 *     under vtx/svm), EFER and the SYSCALL MSRs, KERNEL_GS_BASE, DR0-7;
 *   - virtual GDTR/IDTR/LDTR/TR. The REAL ones are the monitor's: a shadow
 *     GDT (the guest's descriptors with DPL 0 code/data moved to DPL ring,
 *     plus the monitor's TSS), an empty IDT and the monitor's TSS, all in
 *     monitor memory mapped at VL_MONITOR_BASE (read-only to the guest).
 *   - selectors: the guest believes in RPL 0 kernel selectors (0x08, 0x10);
 *     the loaded ones carry RPL ring (0x09, 0x11) and reference the shadow
 *     GDT's DPL-ring copies. vl_vcpu_guest_sel() maps real -> believed.
 * Events reach the guest only virtually: every exception and external
 * interrupt is intercepted and delivered by vl_vcpu_deliver() through the
 * GUEST's IDT, with the frame the CPU would push at CPL 0 (guest-visible
 * CS/SS with RPL 0, virtual IF/IOPL in RFLAGS, error code, CR2 in the
 * virtual CR2), on the guest's TSS RSP0 or IST stack. The real IDT is
 * never used. IRETQ, SYSRET, SYSCALL (to the guest's LSTAR), SWAPGS, far
 * returns and SS loads are redirected the same way.
 *
 * Interrupts while the virtual IF is 0 are held with the machine's
 * interrupt window (VL_HOOK_HOLD) and released when the guest sets it
 * (emulated STI after its shadow, IRET restoring IF, return to user).
 *
 * What every VMM does the same way goes through the shared handlers of
 * hv.h (the MSRs the monitor does not virtualize itself, #PF forwarding to
 * the MMU engine, CR0/CR3/CR4/CR8 and INVLPG), with this CPU as the
 * "vendor": its guest state is m->cpu, an injection is a virtual delivery.
 *
 * Costs. Functions here charge the VMM SOFTWARE they model (profile vmm.*
 * to VL_CAT_VMM: vmm.emulate per emulated instruction plus vmm.cr / io /
 * msr / invlpg / hlt for the device or MMU work; vmm.exception per
 * reflected exception; vmm.intr per interrupt). The transition into the
 * VMM and back is the engine's (trap: a hardware #GP/#PF/interrupt into
 * ring 0 and the IRET back, vl_vcpu_charge_trap(); bt: a callout). The
 * MMU engine charges its own work.
 *
 * Public API (engines may call): vl_vcpu_*. Everything else is private.
 */
#ifndef VIRTLAB_ENGINES_HV_VCPU_H
#define VIRTLAB_ENGINES_HV_VCPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/machine.h"
#include "virtlab/mmu.h"
#include "hv.h"

/* Linear addresses of the monitor's structures (monitor hole, guest_abi.h). */
#define VL_VCPU_MON_GDT   (VL_MONITOR_BASE + 0x10000) /* shadow GDT, VL_VCPU_GDT_PAGES pages (64 KiB: any guest GDT) */
#define VL_VCPU_GDT_PAGES 16u
#define VL_VCPU_MON_IDT   (VL_MONITOR_BASE + 0x1000)  /* empty IDT (all gates not present) */
#define VL_VCPU_MON_TSS   (VL_MONITOR_BASE + 0x2000)  /* the monitor's TSS */
#define VL_VCPU_MON_TSS_SEL 0xfff0                     /* its descriptor: last 16 bytes of the shadow GDT */
#define VL_VCPU_GDT_MAX   VL_VCPU_MON_TSS_SEL           /* guest GDT bytes the shadow can hold */

/* What vl_vcpu_gp() / vl_vcpu_emulate() did (for the engine's exit table). */
enum vl_vcpu_what {
	/* 0 .. VL_SENS_COUNT-1: emulated an instruction of that vl_sens class */
	VL_VCPU_SEG = VL_SENS_COUNT,   /* a segment load / far return with a kernel (RPL 0) selector; STAC / CLAC */
	VL_VCPU_REFLECT,               /* not the VMM's: the #GP was reflected into the guest */
	VL_VCPU_WHAT_COUNT
};

/* Kinds of virtual events (vl_vcpu_deliver). */
enum vl_vcpu_ev { VL_VCPU_EXC = 0, VL_VCPU_INTR = 1, VL_VCPU_SOFT = 2 /* INT n / INT3: RIP + len pushed */ };

struct vl_vcpu {
	struct vl_machine *m;
	const struct vl_mmu_ops *mmu;
	void *mmu_ctx;
	unsigned ring;                 /* real ring of virtual CPL 0 (1) */

	/* virtual state (what the guest believes at virtual CPL 0) */
	bool vif;                      /* RFLAGS.IF at virtual CPL 0 */
	uint8_t viopl;                 /* RFLAGS.IOPL */
	uint64_t cr0, cr2, cr4;
	uint64_t efer, star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t dr[8];
	struct vl_dtr gdtr, idtr;
	struct vl_seg ldtr, tr;        /* guest selectors and descriptors (guest GDT) */

	/* the monitor's hardware structures */
	uint64_t gdt_pa, idt_pa, tss_pa;   /* host-physical frames (mapped by the MMU engine's map_monitor) */
	uint64_t hw_cr0;                   /* CR0 bits the monitor owns (all but PE/PG/WP) */

	/* interrupt hold */
	bool held;                     /* an interrupt waits for virtual IF = 1 */

	/* the shared handlers (hv.h) see this CPU through vendor ops on m->cpu */
	struct hv hv;
	unsigned cur_len;              /* length of the instruction being emulated (hv's skip) */

	bool no_decode;                /* vl_vcpu_emulate runs an operation the VMM was asked for
	                                * (a pv hypercall), not a decoded instruction: no vmm.emulate */
	uint64_t emulated;             /* instructions vl_vcpu_gp emulated (retired for the guest) */
	bool partial;                  /* the last emulation was a REP slice: RIP stays, not retired */
	uint64_t storm_insns;          /* deliveries since m->insns last changed: a guest */
	uint32_t storm_n;              /* whose handlers never retire anything is a timeout */
};

/* Take over a loaded machine whose guest is at CPL 0 (the loader's boot
 * state): the current CPU state becomes the virtual state, the monitor's
 * GDT/IDT/TSS are built and loaded, and the CPU is deprivileged (CPL ring,
 * selectors with RPL ring, real IF 1, IOPL 0). Sets exc_intercept (every
 * vector) and intr_intercept; the engine installs m->vmm and the intercept
 * bits it wants (vl_vcpu_intercepts() at least). mmu must be initialised
 * already (cr3_read works) and offer map_monitor (shadow does; a direct-
 * paging engine for pv must too). The virtual CR0 is m->cpu.cr0 at the
 * call: the MMU engine's init may have changed the hardware's (shadow sets
 * WP), so the engine then stores the guest's boot CR0 in v->cr0.
 * Returns 0, or -1 with a one-line reason. */
int vl_vcpu_init(struct vl_vcpu *v, struct vl_machine *m, const struct vl_mmu_ops *mmu, void *mmu_ctx,
		 unsigned ring, char *err, size_t errlen);

/* The intercept classes the runtime itself needs: SYSCALL (to the guest
 * LSTAR), INT n (through the guest IDT), IRET (virtual IF / frames). */
uint64_t vl_vcpu_intercepts(void);

/* Virtual CPL now: 0 while the real CPL is v->ring, else the real CPL. */
unsigned vl_vcpu_cpl(const struct vl_vcpu *v);
/* RFLAGS as the guest would see it (virtual IF/IOPL at virtual CPL 0). */
uint64_t vl_vcpu_guest_rflags(const struct vl_vcpu *v);
/* The selector the guest believes segment register sreg holds. */
uint16_t vl_vcpu_guest_sel(const struct vl_vcpu *v, unsigned sreg);
/* Guest selector -> the one loaded (RPL 0 -> RPL ring). */
uint16_t vl_vcpu_real_sel(const struct vl_vcpu *v, uint16_t sel);

/* Deliver an event virtually through the guest's IDT, as the CPU would at
 * the current virtual CPL: gate checks (DPL for INT n), stack switch to the
 * guest TSS RSP0 / IST, frame with guest-visible values, CR2 for #PF
 * (cr2), IF cleared for interrupt gates, #DF and triple fault by the SDM's
 * classes (a triple fault stops the machine). RIP is the faulting /
 * interrupted instruction (soft: + len). Charges vmm.exception (EXC, SOFT)
 * or vmm.intr (INTR). Returns VL_HOOK_DONE, or VL_HOOK_STOP. */
int vl_vcpu_deliver(struct vl_vcpu *v, unsigned vec, enum vl_vcpu_ev kind, bool has_err, uint32_t err,
		    uint64_t cr2, unsigned len);

/* The exception hook's body: #PF to the MMU engine (hidden / tracing
 * faults absorbed, true ones delivered with the guest's error code), #GP
 * raised at ring v->ring to vl_vcpu_gp(), everything else delivered
 * virtually. *what (may be NULL) says what happened for #GP. */
int vl_vcpu_exception(struct vl_vcpu *v, unsigned vec, bool has_err, uint32_t err, uint64_t cr2, int *what);

/* A #GP at ring v->ring: decode the instruction at RIP; if it is one that
 * faulted only because the kernel is deprivileged (a privileged or
 * IOPL-sensitive instruction, an SS load or far return with an RPL 0
 * selector) emulate it on the virtual CPU, else deliver the #GP(err) to
 * the guest. *what: the vl_sens class emulated, VL_VCPU_SEG or
 * VL_VCPU_REFLECT. Returns VL_HOOK_DONE or VL_HOOK_STOP. */
int vl_vcpu_gp(struct vl_vcpu *v, uint32_t err, int *what);

/* Emulate one sensitive instruction at virtual CPL 0 from its intercept
 * event (the shape the machine's intercept hook and a binary translator's
 * callout both have): CLI, STI, HLT, IN/OUT (not string), RDMSR, WRMSR, CR
 * reads and writes, INVLPG, CLTS, LMSW, LGDT/LIDT/LLDT/LTR (ev->addr /
 * ev->value), MOV DR, WBINVD, SWAPGS, SYSRET, RDTSC(P), RDPMC. RIP is at
 * the instruction (ev->insn_rip) and is advanced by ev->len. Faults the
 * instruction raises at CPL 0 are delivered to the guest. Returns
 * VL_HOOK_DONE or VL_HOOK_STOP; VL_HOOK_PASS if the class is not one the
 * runtime emulates. */
int vl_vcpu_emulate(struct vl_vcpu *v, const struct vl_sens_event *ev);

/* Redirections. Each sets the real state the hardware would have after the
 * instruction at virtual CPL, RIP included; DONE or STOP. */
int vl_vcpu_syscall(struct vl_vcpu *v, unsigned len);   /* to the guest's LSTAR at virtual CPL 0 */
int vl_vcpu_sysret(struct vl_vcpu *v);                  /* at RIP: SYSRETQ to CPL 3 */
int vl_vcpu_sysret_to(struct vl_vcpu *v, bool to64);    /* SYSRETQ, or SYSRET (no REX.W) to 32-bit code */
int vl_vcpu_iret(struct vl_vcpu *v);                    /* at RIP: IRETQ from virtual CPL 0 */
int vl_vcpu_swapgs(struct vl_vcpu *v, unsigned len);

/* The interrupt hook's body: deliver vec virtually if the guest can take
 * it (virtual CPL 3, or virtual IF 1): VL_HOOK_DONE (it left the APIC's
 * IRR); else VL_HOOK_HOLD (machine.h "Interrupt window": it stays pending
 * until the runtime calls vl_intr_release); VL_HOOK_STOP. */
int vl_vcpu_interrupt(struct vl_vcpu *v, unsigned vec);
/* Set the virtual IF; 1 releases a held interrupt (after `shadow`
 * instructions: 1 for STI, 0 otherwise). */
void vl_vcpu_set_vif(struct vl_vcpu *v, bool on, bool shadow);
/* The guest is about to run user code (an IRET or SYSRET to CPL 3 the
 * hardware performs): at CPL 3 the real IF is the guest's, so a held
 * interrupt is released. */
void vl_vcpu_to_user(struct vl_vcpu *v);

/* Called after every MMU-engine operation that may switch or rebuild the
 * hardware root. A no-op with the shadow engine, which keeps the monitor's
 * mappings (map_monitor) in every root itself. */
void vl_vcpu_sync(struct vl_vcpu *v);

/* Read n bytes of guest memory at va as the guest kernel would (supervisor,
 * through the hardware root; the MMU engine absorbs hidden faults; charged
 * as the runtime's own guest accesses are). Returns 0; 1 when the access
 * is the guest's own fault (nothing delivered: the caller decides, e.g. a
 * hypercall returns -EFAULT); -1 when the machine stopped. (Added for pv's
 * hypercall arguments.) */
int vl_vcpu_read(struct vl_vcpu *v, uint64_t va, void *dst, size_t n);

/* Charge one trap-and-emulate round trip into the VMM and back: the
 * hardware delivery into ring 0 (exception.delivery) and the monitor's
 * IRET back (insn.iret) to VL_CAT_EXIT, the VMM's entry/dispatch
 * (vmm.exit_dispatch) to VL_CAT_VMM. */
void vl_vcpu_charge_trap(struct vl_vcpu *v);

#endif
