/* hv.h — what every VMM does the same way, written once (STYLE.md "Vendor
 * tables, shared handlers", as KVM's x86.c serves vmx/ and svm/): the
 * VMM's CPUID table (hypervisor leaves 0x40000000..), RDMSR/WRMSR
 * emulation incl. the x2APIC MSRs, instruction emulation with
 * vl_emulate_one, #PF forwarding to the MMU engine (classify, then absorb
 * or inject), CR3/CR8/CR0/CR4 writes reaching the MMU engine and the
 * virtual APIC, INVLPG, VMCALL, attach/detach of the MMU engine — and the
 * guest command line, built once for every engine (model and QEMU).
 *
 * A vendor VMM (engines/vtx, engines/svm; later bt, pv, trap) keeps only
 * what its hardware defines: how an exit is decoded, where guest state
 * lives (VMCS fields read with VMREAD, VMCB memory, or plain m->cpu), how
 * an event is injected, how RIP is advanced. It lends those to the shared
 * handlers through struct hv_vendor_ops; each vendor op charges and counts
 * what it costs on that hardware (a VMREAD, a VMCB access), so a shared
 * handler costs exactly what the vendor's own copy did.
 *
 * Not here: engines/hv/vcpu.[ch] (the deprivileged-kernel runtime of the
 * software VMMs, written separately).
 */
#ifndef VL_ENGINES_HV_H
#define VL_ENGINES_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/machine.h"
#include "virtlab/mmu.h"

/* Guest state and events as the vendor's hardware keeps them. `v` is the
 * vendor VMM (struct hv.vendor). Every op is required. */
struct hv_vendor_ops {
	const char *name;                                    /* "vtx", "svm": diagnostics */
	uint64_t (*get_gpr)(void *v, unsigned r);            /* guest GPR r (VL_RAX..VL_R15) */
	void (*set_gpr)(void *v, unsigned r, uint64_t val);
	uint64_t (*get_rip)(void *v);
	void (*set_rip)(void *v, uint64_t rip);
	void (*set_rflags)(void *v, uint64_t rflags);
	void (*set_cr2)(void *v, uint64_t cr2);              /* before injecting a #PF */
	/* Queue an exception for the next entry (charges vmm.exception). */
	void (*inject_exception)(void *v, unsigned vec, bool has_err, uint32_t err);
	/* Advance past the exiting instruction (and clear the STI/MOV-SS shadow). */
	void (*skip)(void *v);
	/* The MMU engine may have switched the hardware root: reload it. */
	void (*sync_cr3)(void *v);
	/* An MSR write succeeded: mirror MSRs kept in the VMCS/VMCB (EFER, PAT, FS/GS base ...). */
	void (*msr_written)(void *v, uint32_t msr, uint64_t val);
};

struct hv {
	struct vl_machine *m;
	const struct hv_vendor_ops *vo;
	void *vendor;
	const struct vl_mmu_ops *mmu;
	void *mmu_ctx;
	enum vl_mmu_kind mmu_kind;
	uint64_t guest_cr0;      /* the CR0 the guest last wrote (shadow paging: the hardware's PG is always 1) */
	bool lme_hidden;         /* guest EFER.LME set while its paging is off under shadow paging: kept from
	                          * the hardware EFER (KVM vmx_set_efer / svm_set_efer) and shown on RDMSR */
};

/* ---- check / attach / detach ---------------------------------------------------- */
/* A hardware-assist engine's check(): the profile's vendor must be `vendor`
 * with the extension (`has_hw`, named `hw` / `hw_key`), nested paging needs
 * `has_nested` (`nested` / `nested_key`), and only shadow or nested pair
 * with it. Returns 0, or -1 with a one-line reason in why. */
int hv_check_hw(const struct vl_profile *p, enum vl_mmu_kind mmu, const char *engine, const char *vendor,
		bool has_hw, const char *hw, const char *hw_key, bool has_nested, const char *nested,
		const char *nested_key, char *why, size_t whylen);
/* Fill hv and initialise the MMU engine (mmu->init) for `vendor`'s format.
 * Returns 0, or -1 with a reason (nothing to undo). */
int hv_attach(struct hv *hv, struct vl_machine *m, const struct hv_vendor_ops *vo, void *vendor,
	      const struct vl_mmu_ops *mmu, enum vl_vendor fmt, char *err, size_t errlen);
/* The MMU engine's fini; hv may be attached again after. */
void hv_detach(struct hv *hv);

/* ---- CPUID ------------------------------------------------------------------
 * The VMM's CPUID table: leaf 0x40000000 = { max hypervisor leaf,
 * VL_HVM_SIGNATURE }, the other 0x400000xx leaves zero, leaf 1 with the
 * "running under a hypervisor" bit (ECX[31]), everything else the bare CPU's
 * (vl_cpuid). For any VMM that answers CPUID in software. */
void hv_cpuid_table(struct vl_machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
/* CPUID exit: charge vmm.cpuid, answer from the table, skip. Returns 0. */
int hv_cpuid(struct hv *hv);

/* ---- MSRs -------------------------------------------------------------------
 * RDMSR / WRMSR exit (ECX = MSR; EDX:EAX): charge vmm.msr; the x2APIC range
 * through the virtual APIC (vl_apic_*), the rest through the architectural
 * MSRs; #GP injected where the hardware would raise it; skip. Returns 0,
 * or VL_HOOK_STOP when the machine stopped. */
int hv_msr(struct hv *hv, bool write);

/* ---- instruction emulation ----------------------------------------------------
 * Emulate the instruction at the guest RIP (string I/O, ...) with
 * vl_emulate_one: charge vmm.emulate; a fault is injected (a #PF with its
 * CR2) — except a #PF the MMU engine absorbs (the emulator's access hit a
 * page the shadow tables do not hold yet: a hidden fault, filled; the guest
 * runs the instruction again and it exits again); on success RIP (and RAX)
 * are written back. Returns 0, or VL_HOOK_STOP (machine stopped: the
 * instruction is not emulatable). */
int hv_emulate(struct hv *hv);

/* ---- #PF exits (shadow paging) --------------------------------------------------
 * Forward a #PF at va (error code *err) to the MMU engine, which classifies
 * it (mmu.h enum vl_pf_kind, into *kind when not NULL). Absorbed (hidden or
 * tracing): whatever the engine's emulation changed (RIP, RSP, RFLAGS, RAX)
 * is written back, returns VL_HOOK_DONE. The guest's own fault: CR2 is set
 * and *err corrected, returns VL_HOOK_PASS — the caller injects #PF with
 * *err. VL_HOOK_STOP when the machine stopped. */
int hv_page_fault(struct hv *hv, uint64_t va, uint32_t *err, enum vl_pf_kind *kind);

/* Reflect an intercepted exception `vec` into the guest. idt_info is the
 * exit's record of an event whose delivery raised it (VMX IDT-vectoring
 * information, SVM EXITINTINFO low word — the same layout: vector, type
 * << 8, error-code valid bit 11, valid bit 31; 0 = none): the two combine
 * as on hardware (SDM Vol. 3 Table 6-5, vl_event_combine) into #DF, or a
 * shutdown when #DF itself faulted (machine stopped with a triple fault:
 * returns VL_HOOK_STOP). Reflecting the fault alone would fault again
 * without end. Returns 0 after injecting. */
int hv_reflect_exception(struct hv *hv, unsigned vec, bool has_err, uint32_t err, uint32_t idt_info);

/* ---- control registers, INVLPG, VMCALL ------------------------------------------- */
/* Guest MOV to CR3: the MMU engine switches address space; sync_cr3. */
void hv_cr3_write(struct hv *hv, uint64_t val);
/* Guest MOV to CR0/CR4 (val = the guest's value, already in its read
 * shadow): m->cpu gets it, the MMU engine sees it and may set the hardware
 * value in m->cpu (shadow keeps CR0.WP = 1); sync_cr3. The caller loads
 * m->cpu.cr0/cr4 into its guest-state field. A guest CR0.PG change with
 * EFER.LME enters / leaves IA-32e mode: EFER.LMA is set / cleared and
 * mirrored through msr_written(VL_MSR_EFER) (KVM enter_lmode / exit_lmode). */
void hv_cr0_4_write(struct hv *hv, unsigned cr, uint64_t val);
/* Guest MOV to CR8 (no TPR shadow / V_TPR): the virtual APIC's TPR.
 * Returns 0, or -1 when val > 15 (the caller injects #GP(0)). */
int hv_cr8_write(struct hv *hv, uint64_t val);
uint64_t hv_cr8_read(struct hv *hv);
/* INVLPG exit: charge vmm.invlpg, the MMU engine drops va (or the TLB
 * entry when it has no invlpg op), sync_cr3, skip. */
void hv_invlpg(struct hv *hv, uint64_t va);
/* VMCALL / VMMCALL under hardware assist: no hypercalls (RAX = -KVM_ENOSYS), skip. */
void hv_vmcall(struct hv *hv);

/* ---- the guest command line ---------------------------------------------------------
 * The one builder for every engine (the model's loader and QEMU's -append):
 * "workload=W iters=N[ params]" or, with no workload (a bring-your-own
 * image), "iters=N[ params]"; params NULL or "" adds nothing. Returns the
 * length, or -1 when it does not fit in n bytes (buf then holds "").
 */
int hv_cmdline(char *buf, size_t n, const char *workload, uint64_t iters, const char *params);

#endif
