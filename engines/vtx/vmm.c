/* vmm.c — the VT-x VMM: configures the VMCS as KVM does on the CPU the
 * profile names (first generation: shadow paging; second: EPT + VPID) and
 * handles every exit it enables through a table indexed by exit reason.
 *
 * The VMM touches the VMCS only with VMREAD/VMWRITE (vtx_vmread/
 * vtx_vmwrite): each one is counted and charged from the profile, so
 * "ten vmreads per exit" is measured, not assumed. Guest GPRs other than
 * RSP are the VMM's saved copy (m->cpu.gpr), as in KVM's vcpu->arch.regs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "../hv/hv.h"
#include "vmx_hw.h"

#define VTX_VPID 1

struct vtx_vmm {
	struct vmx_vcpu vcpu;            /* the hardware (first: container_of) */
	struct hv hv;                    /* the shared handlers and the MMU engine (engines/hv) */
	bool tpr_shadow;
	uint64_t hw_cr3;                 /* last GUEST_CR3 written (KVM caches it too) */
	uint64_t boot_cr0, boot_cr4;     /* the guest's CR0/CR4 before the MMU engine set the hardware's */
	uint64_t unknown_exits;
	uint32_t entry_ctl;              /* VM-entry controls as last written (KVM keeps this shadow too) */
};

/* ---- VMREAD / VMWRITE: counted and charged ------------------------------- */
static uint64_t vtx_vmread(struct vtx_vmm *vm, uint32_t enc)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t val = 0;
	vl_count(m, VL_EV_VMREADS, 1);
	VL_CHARGE(m, VL_CAT_VMM, vmx_vmread);
	if (vmcs_vmread(&vm->vcpu.vmcs, enc, &val))
		vl_machine_stop(m, VL_M_ERROR, "vtx VMM: VMREAD of unsupported field %#x", enc);
	return val;
}

static void vtx_vmwrite(struct vtx_vmm *vm, uint32_t enc, uint64_t val)
{
	struct vl_machine *m = vm->vcpu.m;
	vl_count(m, VL_EV_VMWRITES, 1);
	VL_CHARGE(m, VL_CAT_VMM, vmx_vmwrite);
	if (vmcs_vmwrite(&vm->vcpu.vmcs, enc, val))
		vl_machine_stop(m, VL_M_ERROR, "vtx VMM: VMWRITE of unsupported/read-only field %#x", enc);
}

/* Charge VMM work priced by profile value f (a struct vl_profile member). */
#define vtx_charge(vm, f) VL_CHARGE((vm)->vcpu.m, VL_CAT_VMM, f)

/* Advance past the exiting instruction (KVM skip_emulated_instruction):
 * RIP += VM_EXIT_INSTRUCTION_LEN; clear STI/MOV-SS blocking if set. */
static void vtx_skip(struct vtx_vmm *vm)
{
	uint64_t len = vtx_vmread(vm, VMCS_VM_EXIT_INSTRUCTION_LEN);
	uint64_t rip = vtx_vmread(vm, VMCS_GUEST_RIP);
	vtx_vmwrite(vm, VMCS_GUEST_RIP, rip + len);
	uint64_t intr = vtx_vmread(vm, VMCS_GUEST_INTERRUPTIBILITY_INFO);
	if (intr & 3)
		vtx_vmwrite(vm, VMCS_GUEST_INTERRUPTIBILITY_INFO, intr & ~3ull);
}

static void vtx_inject_exception(struct vtx_vmm *vm, unsigned vec, bool has_err, uint32_t err)
{
	vtx_charge(vm, vmm_exception);
	vtx_vmwrite(vm, VMCS_VM_ENTRY_INTR_INFO_FIELD,
		    vec | (INTR_TYPE_HARD_EXCEPTION << INTR_INFO_TYPE_SHIFT) |
		    (has_err ? INTR_INFO_DELIVER_CODE : 0) | INTR_INFO_VALID);
	if (has_err)
		vtx_vmwrite(vm, VMCS_VM_ENTRY_EXCEPTION_ERROR_CODE, err);
}

/* The MMU engine may have switched the hardware root (shadow): mirror it in GUEST_CR3. */
static void vtx_sync_cr3(struct vtx_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	if (vm->hv.mmu_kind == VL_MMU_SHADOW && m->cpu.cr3 != vm->hw_cr3) {
		vm->hw_cr3 = m->cpu.cr3;
		vtx_vmwrite(vm, VMCS_GUEST_CR3, m->cpu.cr3);
	}
}

/* ---- guest state as VT-x keeps it (engines/hv vendor ops) ------------------- */
static uint64_t vtx_get_gpr(struct vtx_vmm *vm, unsigned r)
{
	return r == VL_RSP ? vtx_vmread(vm, VMCS_GUEST_RSP) : vm->vcpu.m->cpu.gpr[r];
}
static void vtx_set_gpr(struct vtx_vmm *vm, unsigned r, uint64_t v)
{
	if (r == VL_RSP)
		vtx_vmwrite(vm, VMCS_GUEST_RSP, v);
	else
		vm->vcpu.m->cpu.gpr[r] = v;
}

static uint64_t hv_get_gpr(void *v, unsigned r) { return vtx_get_gpr(v, r); }
static void hv_set_gpr(void *v, unsigned r, uint64_t val) { vtx_set_gpr(v, r, val); }
static uint64_t hv_get_rip(void *v) { return vtx_vmread(v, VMCS_GUEST_RIP); }
static void hv_set_rip(void *v, uint64_t rip) { vtx_vmwrite(v, VMCS_GUEST_RIP, rip); }
static void hv_set_rflags(void *v, uint64_t fl) { vtx_vmwrite(v, VMCS_GUEST_RFLAGS, fl); }
static void hv_set_cr2(void *v, uint64_t cr2) { ((struct vtx_vmm *)v)->vcpu.m->cpu.cr2 = cr2; }   /* not in the VMCS: loaded before entry */
static void hv_inject(void *v, unsigned vec, bool has_err, uint32_t err) { vtx_inject_exception(v, vec, has_err, err); }
static void hv_skip(void *v) { vtx_skip(v); }
static void hv_sync_cr3(void *v) { vtx_sync_cr3(v); }

/* MSRs that live in the VMCS guest-state area */
static void hv_msr_written(void *v, uint32_t msr, uint64_t val)
{
	struct vtx_vmm *vm = v;
	struct vl_machine *m = vm->vcpu.m;
	if (msr == VL_MSR_EFER) {
		vtx_vmwrite(vm, VMCS_GUEST_IA32_EFER, m->cpu.efer);
		/* IA-32e mode entered or left (engines/hv hv_cr0_4_write): the
		 * "IA-32e mode guest" entry control follows EFER.LMA (KVM enter_lmode) */
		uint32_t want = (m->cpu.efer & VL_EFER_LMA) ? vm->entry_ctl | ENTRY_IA32E_MODE
							    : vm->entry_ctl & ~ENTRY_IA32E_MODE;
		if (want != vm->entry_ctl) {
			vm->entry_ctl = want;
			vtx_vmwrite(vm, VMCS_VM_ENTRY_CONTROLS, want);
		}
	} else if (msr == VL_MSR_PAT)
		vtx_vmwrite(vm, VMCS_GUEST_IA32_PAT, m->cpu.pat);
	else if (msr == VL_MSR_FS_BASE)
		vtx_vmwrite(vm, VMCS_GUEST_FS_BASE, val);
	else if (msr == VL_MSR_GS_BASE)
		vtx_vmwrite(vm, VMCS_GUEST_GS_BASE, val);
}

static const struct hv_vendor_ops vtx_hv_ops = {
	.name = "vtx", .get_gpr = hv_get_gpr, .set_gpr = hv_set_gpr, .get_rip = hv_get_rip, .set_rip = hv_set_rip,
	.set_rflags = hv_set_rflags, .set_cr2 = hv_set_cr2, .inject_exception = hv_inject, .skip = hv_skip,
	.sync_cr3 = hv_sync_cr3, .msr_written = hv_msr_written,
};

/* ---- exit handlers ---------------------------------------------------------- */
typedef int (*vtx_handler)(struct vtx_vmm *vm);

static int vtx_cpuid(struct vtx_vmm *vm) { return hv_cpuid(&vm->hv); }
static int vtx_emulate(struct vtx_vmm *vm) { return hv_emulate(&vm->hv); }

static int vtx_io(struct vtx_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t q = vtx_vmread(vm, VMCS_EXIT_QUALIFICATION);
	unsigned size = (unsigned)(q & 7) + 1;
	uint16_t port = (uint16_t)(q >> 16);
	vtx_charge(vm, vmm_io);
	if (q & IOQ_STRING)
		return vtx_emulate(vm);
	uint64_t mask = size == 4 ? 0xffffffffull : size == 2 ? 0xffff : 0xff;
	if (q & IOQ_IN) {
		uint64_t v = vl_io_in(m, port, size) & mask;
		m->cpu.gpr[VL_RAX] = size == 4 ? v : (m->cpu.gpr[VL_RAX] & ~mask) | v;
	} else {
		vl_io_out(m, port, size, (uint32_t)(m->cpu.gpr[VL_RAX] & mask));
	}
	vtx_skip(vm);   /* completed, also when the exit device ended the run (as natively) */
	return 0;
}

static int vtx_rdmsr(struct vtx_vmm *vm) { return hv_msr(&vm->hv, false); }
static int vtx_wrmsr(struct vtx_vmm *vm) { return hv_msr(&vm->hv, true); }

/* Guest writes CR0/CR4: the guest's value goes to the read shadow; the MMU
 * engine sees every write (its cr_write may set the hardware value in
 * m->cpu, e.g. shadow paging keeps CR0.WP = 1 as KVM's hw_cr0 does), and
 * the guest-state field gets the hardware value. */
static void vtx_set_cr0_4(struct vtx_vmm *vm, unsigned cr, uint64_t val)
{
	struct vl_machine *m = vm->vcpu.m;
	vtx_vmwrite(vm, cr == 0 ? VMCS_CR0_READ_SHADOW : VMCS_CR4_READ_SHADOW, val);
	hv_cr0_4_write(&vm->hv, cr, val);
	vtx_vmwrite(vm, cr == 0 ? VMCS_GUEST_CR0 : VMCS_GUEST_CR4, cr == 0 ? m->cpu.cr0 : m->cpu.cr4);
}

static int vtx_cr_access(struct vtx_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t q = vtx_vmread(vm, VMCS_EXIT_QUALIFICATION);
	unsigned cr = q & 15, type = (q >> 4) & 3, gpr = (q >> 8) & 15;
	vtx_charge(vm, vmm_cr);
	switch (type) {
	case CRQ_ACCESS_MOV_TO_CR: {
		uint64_t val = vtx_get_gpr(vm, gpr);
		if (cr == 0 || cr == 4) {
			vtx_set_cr0_4(vm, cr, val);
		} else if (cr == 3) {
			hv_cr3_write(&vm->hv, val);
		} else if (cr == 8) {
			/* no TPR shadow: the virtual APIC's TPR is written by the VMM */
			if (hv_cr8_write(&vm->hv, val)) { vtx_inject_exception(vm, VL_GP, true, 0); return 0; }
		}
		break;
	}
	case CRQ_ACCESS_MOV_FROM_CR: {
		uint64_t val = 0;
		if (cr == 3) {
			val = vm->hv.mmu->cr3_read ? vm->hv.mmu->cr3_read(m, vm->hv.mmu_ctx) : vtx_vmread(vm, VMCS_GUEST_CR3);
		} else if (cr == 8) {
			val = hv_cr8_read(&vm->hv);
		}
		vtx_set_gpr(vm, gpr, val);
		break;
	}
	case CRQ_ACCESS_CLTS: {
		uint64_t sh = vtx_vmread(vm, VMCS_CR0_READ_SHADOW);
		vtx_set_cr0_4(vm, 0, sh & ~VL_CR0_TS);
		break;
	}
	case CRQ_ACCESS_LMSW: {
		uint64_t sh = vtx_vmread(vm, VMCS_CR0_READ_SHADOW);
		uint64_t src = (q >> 16) & 0xf;
		/* LMSW sets PE but never clears it */
		vtx_set_cr0_4(vm, 0, (sh & ~0xeull) | (src & 0xe) | ((sh | src) & 1));
		break;
	}
	}
	if (m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	vtx_skip(vm);
	return 0;
}

static int vtx_invlpg(struct vtx_vmm *vm)
{
	hv_invlpg(&vm->hv, vtx_vmread(vm, VMCS_EXIT_QUALIFICATION));
	return 0;
}

/* Exception or NMI: with shadow paging the #PF goes to the MMU engine
 * (hidden fault: resume; true fault: inject #PF with CR2). Any other
 * intercepted exception is reflected unchanged. */
static int vtx_exception(struct vtx_vmm *vm)
{
	uint32_t info = (uint32_t)vtx_vmread(vm, VMCS_VM_EXIT_INTR_INFO);
	unsigned vec = info & INTR_INFO_VECTOR_MASK;
	if (((info >> INTR_INFO_TYPE_SHIFT) & 7) == INTR_TYPE_NMI) {
		/* The guest's NMI (the machine's APIC is the guest's): inject it
		 * on this entry, as KVM's vmx_inject_nmi */
		vtx_charge(vm, vmm_intr);
		vtx_vmwrite(vm, VMCS_VM_ENTRY_INTR_INFO_FIELD,
			    VL_NMI | (INTR_TYPE_NMI << INTR_INFO_TYPE_SHIFT) | INTR_INFO_VALID);
		if (vtx_vmread(vm, VMCS_GUEST_ACTIVITY_STATE) == GUEST_ACTIVITY_HLT)
			vtx_vmwrite(vm, VMCS_GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
		return 0;
	}
	uint32_t err = (info & INTR_INFO_DELIVER_CODE) ? (uint32_t)vtx_vmread(vm, VMCS_VM_EXIT_INTR_ERROR_CODE) : 0;
	vtx_charge(vm, vmm_exception);
	if (vec == VL_PF && vm->hv.mmu->page_fault) {
		int rc = hv_page_fault(&vm->hv, vtx_vmread(vm, VMCS_EXIT_QUALIFICATION), &err, NULL);
		if (rc != VL_HOOK_PASS)
			return rc == VL_HOOK_STOP ? VL_HOOK_STOP : 0;
	}
	/* raised while delivering an event (IDT-vectoring information, SDM 27.2.4)? */
	return hv_reflect_exception(&vm->hv, vec, (info & INTR_INFO_DELIVER_CODE) != 0, err,
				    (uint32_t)vtx_vmread(vm, VMCS_IDT_VECTORING_INFO_FIELD));
}

static int vtx_ext_intr(struct vtx_vmm *vm)
{
	uint32_t info = (uint32_t)vtx_vmread(vm, VMCS_VM_EXIT_INTR_INFO);
	vtx_charge(vm, vmm_intr);
	/* The machine's APIC is the guest's virtual APIC: the interrupt is the
	 * guest's, injected on this entry (the machine offers it only when the
	 * guest can take it). */
	vtx_vmwrite(vm, VMCS_VM_ENTRY_INTR_INFO_FIELD,
		    (info & INTR_INFO_VECTOR_MASK) | (INTR_TYPE_EXT_INTR << INTR_INFO_TYPE_SHIFT) | INTR_INFO_VALID);
	if (vtx_vmread(vm, VMCS_GUEST_ACTIVITY_STATE) == GUEST_ACTIVITY_HLT)
		vtx_vmwrite(vm, VMCS_GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	return 0;
}

static int vtx_hlt(struct vtx_vmm *vm)
{
	vtx_charge(vm, vmm_hlt);
	vtx_skip(vm);
	/* Block the vCPU: enter in the HLT activity state; the next interrupt
	 * exit injects and wakes it. */
	vtx_vmwrite(vm, VMCS_GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_HLT);
	return 0;
}

static int vtx_vmcall(struct vtx_vmm *vm)
{
	hv_vmcall(&vm->hv);
	return 0;
}

static int vtx_ept_violation(struct vtx_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t q = vtx_vmread(vm, VMCS_EXIT_QUALIFICATION);
	uint64_t gpa = vtx_vmread(vm, VMCS_GUEST_PHYSICAL_ADDRESS);
	uint64_t gla = (q & EPTQ_LINEAR_VALID) ? vtx_vmread(vm, VMCS_GUEST_LINEAR_ADDRESS) : 0;
	if (!vm->hv.mmu->nested_fault) {
		vl_machine_stop(m, VL_M_ERROR, "vtx VMM: EPT violation at gpa %#" PRIx64 " without a nested MMU", gpa);
		return VL_HOOK_STOP;
	}
	int rc = vm->hv.mmu->nested_fault(m, vm->hv.mmu_ctx, gpa, gla, (q & EPTQ_FINAL_TRANSLATION) != 0,
				       vm->vcpu.last_acc, vm->vcpu.last_npte);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (rc != VL_HOOK_DONE) {
		vl_machine_stop(m, VL_M_ERROR, "vtx VMM: EPT violation at gpa %#" PRIx64 " not resolved (guest touched non-RAM)", gpa);
		return VL_HOOK_STOP;
	}
	return 0;
}

static int vtx_triple_fault(struct vtx_vmm *vm)
{
	return VL_HOOK_STOP;   /* the machine records the diagnostic and stops */
}

/* Other instruction exits a guest may cause under these controls: #UD (as a
 * KVM without the feature would do for XSETBV etc. is wrong; we inject #GP
 * for XSETBV, #UD for the rest). */
static int vtx_xsetbv(struct vtx_vmm *vm)
{
	vtx_inject_exception(vm, VL_GP, true, 0);
	return 0;
}

static const vtx_handler vtx_handlers[VMX_EXIT_REASON_MAX] = {
	[EXIT_REASON_EXCEPTION_NMI]      = vtx_exception,
	[EXIT_REASON_EXTERNAL_INTERRUPT] = vtx_ext_intr,
	[EXIT_REASON_TRIPLE_FAULT]       = vtx_triple_fault,
	[EXIT_REASON_CPUID]              = vtx_cpuid,
	[EXIT_REASON_HLT]                = vtx_hlt,
	[EXIT_REASON_INVLPG]             = vtx_invlpg,
	[EXIT_REASON_VMCALL]             = vtx_vmcall,
	[EXIT_REASON_CR_ACCESS]          = vtx_cr_access,
	[EXIT_REASON_IO_INSTRUCTION]     = vtx_io,
	[EXIT_REASON_MSR_READ]           = vtx_rdmsr,
	[EXIT_REASON_MSR_WRITE]          = vtx_wrmsr,
	[EXIT_REASON_EPT_VIOLATION]      = vtx_ept_violation,
	[EXIT_REASON_XSETBV]             = vtx_xsetbv,
	/* executed as the hardware would without the exit (the guest's CPUID
	 * decides MONITOR/MWAIT, RDPMC faults as on the modelled CPU) */
	[EXIT_REASON_RDPMC]              = vtx_emulate,
	[EXIT_REASON_MONITOR_INSTRUCTION] = vtx_emulate,
	[EXIT_REASON_MWAIT_INSTRUCTION]  = vtx_emulate,
};

/* The VMM's exit entry point (called by the hardware after each VM exit). */
static int vtx_handle_exit(struct vmx_vcpu *vc)
{
	struct vtx_vmm *vm = vc->vmm;
	struct vl_machine *m = vc->m;
	VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
	uint32_t reason = (uint32_t)vtx_vmread(vm, VMCS_VM_EXIT_REASON) & 0xffffu;
	if (reason >= VMX_EXIT_REASON_MAX || !vtx_handlers[reason]) {
		vm->unknown_exits++;
		vl_machine_stop(m, VL_M_ERROR, "vtx VMM: unexpected exit reason %u (%s) at rip %#" PRIx64,
				reason, vmx_exit_reason_name(reason), m->cpu.rip);
		return VL_HOOK_STOP;
	}
	return vtx_handlers[reason](vm);
}

/* ---- configuration ----------------------------------------------------- */

/* Bitmap page helpers (machine memory). */
static void bm_set(struct vl_machine *m, uint64_t page, uint32_t bit, bool on)
{
	uint8_t *p = vl_phys_ptr(m, page + (bit >> 3));
	if (p)
		*p = on ? (uint8_t)(*p | (1u << (bit & 7))) : (uint8_t)(*p & ~(1u << (bit & 7)));
}

/* MSR bitmap pass-through for an MSR (read and write). */
static void msr_passthrough(struct vl_machine *m, uint64_t bm, uint32_t msr)
{
	uint32_t base = msr >= 0xc0000000u ? 1024 : 0;
	bm_set(m, bm + base, msr & 0x1fff, false);
	bm_set(m, bm + base + 2048, msr & 0x1fff, false);
}

/* Configure the VMCS as KVM would for this CPU and MMU mode (README). */
static int vtx_setup(struct vtx_vmm *vm, char *err, size_t errlen)
{
	struct vl_machine *m = vm->vcpu.m;
	const struct vl_profile *p = m->prof;
	bool ept = vm->hv.mmu_kind == VL_MMU_NESTED;
	bool vpid = p->features_vpid;
	vm->tpr_shadow = p->features_tpr_shadow;
	/* a guest entered with paging off (a Multiboot kernel) runs under EPT only
	 * with "unrestricted guest" (Westmere+; KVM's identity-map fallback is not
	 * modelled); under shadow paging the hardware pages through the MMU
	 * engine's nonpaging root */
	bool unrestricted = ept && p->features_unrestricted_guest;
	if (ept && !(vm->boot_cr0 & VL_CR0_PG) && !unrestricted) {
		snprintf(err, errlen, "vtx: a guest that starts with paging off (32-bit Multiboot entry) needs "
			 "unrestricted guest under EPT, which this CPU lacks (--mmu shadow runs it)");
		return -1;
	}

	uint64_t msr_bm = vl_mem_alloc_page(m);
	uint64_t vapic = vm->tpr_shadow ? vl_mem_alloc_page(m) : 0;
	if (!msr_bm || (vm->tpr_shadow && !vapic)) {
		snprintf(err, errlen, "vtx: monitor memory exhausted allocating VMCS pages");
		return -1;
	}
	uint8_t *bm = vl_phys_ptr(m, msr_bm);
	memset(bm, 0xff, 4096);   /* intercept every MSR ... */
	msr_passthrough(m, msr_bm, VL_MSR_FS_BASE);          /* ... except what KVM passes through */
	msr_passthrough(m, msr_bm, VL_MSR_GS_BASE);
	msr_passthrough(m, msr_bm, VL_MSR_KERNEL_GS_BASE);

	vm->vcpu.vmcs.current = true;   /* VMCLEAR + VMPTRLD */
	uint32_t pin = PIN_EXT_INTR_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS;
	uint32_t cpu = CPU_HLT_EXITING | CPU_UNCOND_IO_EXITING | CPU_USE_MSR_BITMAPS | CPU_USE_TSC_OFFSETTING |
		       CPU_MWAIT_EXITING | CPU_MONITOR_EXITING | CPU_RDPMC_EXITING;
	uint32_t sec = 0;
	if (vm->tpr_shadow)
		cpu |= CPU_TPR_SHADOW;
	else
		cpu |= CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING;
	if (!ept)
		cpu |= CPU_INVLPG_EXITING | CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING;
	if (ept)
		sec |= SEC_ENABLE_EPT;
	if (unrestricted)
		sec |= SEC_UNRESTRICTED_GUEST;   /* as KVM (enable_unrestricted_guest) */
	if (vpid)
		sec |= SEC_ENABLE_VPID;
	if (sec)
		cpu |= CPU_ACTIVATE_SECONDARY;
	vtx_vmwrite(vm, VMCS_PIN_BASED_VM_EXEC_CONTROL, pin);
	vtx_vmwrite(vm, VMCS_CPU_BASED_VM_EXEC_CONTROL, cpu);
	vtx_vmwrite(vm, VMCS_SECONDARY_VM_EXEC_CONTROL, sec);
	vtx_vmwrite(vm, VMCS_VM_EXIT_CONTROLS, EXIT_HOST_ADDR_SPACE_SIZE | EXIT_ACK_INTR_ON_EXIT |
		    EXIT_SAVE_IA32_EFER | EXIT_LOAD_IA32_EFER | EXIT_SAVE_IA32_PAT | EXIT_LOAD_IA32_PAT);
	vm->entry_ctl = ENTRY_LOAD_IA32_EFER | ENTRY_LOAD_IA32_PAT | ((m->cpu.efer & VL_EFER_LMA) ? ENTRY_IA32E_MODE : 0);
	vtx_vmwrite(vm, VMCS_VM_ENTRY_CONTROLS, vm->entry_ctl);
	vtx_vmwrite(vm, VMCS_EXCEPTION_BITMAP, (1u << VL_MC) | (ept ? 0 : 1u << VL_PF));
	vtx_vmwrite(vm, VMCS_PAGE_FAULT_ERROR_CODE_MASK, 0);
	vtx_vmwrite(vm, VMCS_PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vtx_vmwrite(vm, VMCS_CR3_TARGET_COUNT, 0);
	vtx_vmwrite(vm, VMCS_MSR_BITMAP, msr_bm);
	vtx_vmwrite(vm, VMCS_TSC_OFFSET, 0);
	vtx_vmwrite(vm, VMCS_VMCS_LINK_POINTER, ~0ull);
	if (vm->tpr_shadow) {
		vtx_vmwrite(vm, VMCS_VIRTUAL_APIC_PAGE_ADDR, vapic);
		vtx_vmwrite(vm, VMCS_TPR_THRESHOLD, 0);
	}
	if (vpid)
		vtx_vmwrite(vm, VMCS_VIRTUAL_PROCESSOR_ID, VTX_VPID);
	if (ept)
		vtx_vmwrite(vm, VMCS_EPT_POINTER, m->nested.root | 6u /* WB */ | (3u << 3) /* 4 levels */);
	/* CR0/CR4 ownership: with shadow paging the VMM owns the paging bits
	 * (PG, WP; PAE, PGE, PSE, PCIDE) so changes reach the MMU engine; with
	 * EPT the guest owns them, except PCIDE/PAE (KVM keeps a few). */
	uint64_t cr0_mask = ept ? 0 : (VL_CR0_PG | VL_CR0_WP | VL_CR0_PE);
	uint64_t cr4_mask = ept ? (VL_CR4_PAE | VL_CR4_PCIDE) : (VL_CR4_PAE | VL_CR4_PGE | VL_CR4_PSE | VL_CR4_PCIDE);
	vtx_vmwrite(vm, VMCS_CR0_GUEST_HOST_MASK, cr0_mask);
	vtx_vmwrite(vm, VMCS_CR4_GUEST_HOST_MASK, cr4_mask);
	vtx_vmwrite(vm, VMCS_CR0_READ_SHADOW, vm->boot_cr0);
	vtx_vmwrite(vm, VMCS_CR4_READ_SHADOW, vm->boot_cr4);
	/* Host state: the VMM's own (never used by the model beyond checks). */
	vtx_vmwrite(vm, VMCS_HOST_CR0, VL_CR0_PE | VL_CR0_PG | VL_CR0_WP);
	vtx_vmwrite(vm, VMCS_HOST_CR4, VL_CR4_PAE);
	vtx_vmwrite(vm, VMCS_HOST_IA32_EFER, VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE | VL_EFER_SCE);
	/* Guest state: the machine's boot state (the loader set it) */
	vmx_save_guest(&vm->vcpu);
	vm->hw_cr3 = m->cpu.cr3;
	return 0;
}

/* ---- engine ops -------------------------------------------------------------- */

static int vtx_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	return hv_check_hw(p, mmu, "vtx", "intel", p->features_vmx, "VT-x", "features.vmx", p->features_ept, "EPT",
			   "features.ept", why, whylen);
}

static int vtx_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	struct vtx_vmm *vm = calloc(1, sizeof *vm);
	if (!vm) {
		snprintf(err, errlen, "vtx: out of memory");
		return -1;
	}
	vm->vcpu.m = m;
	vm->vcpu.vmm = vm;
	vm->vcpu.handle_exit = vtx_handle_exit;
	vm->boot_cr0 = m->cpu.cr0;
	vm->boot_cr4 = m->cpu.cr4;
	if (hv_attach(&vm->hv, m, &vtx_hv_ops, vm, mmu, VL_VENDOR_INTEL, err, errlen)) {
		free(vm);
		return -1;
	}
	if (vtx_setup(vm, err, errlen))
		goto fail;
	m->vmm = &vmx_hw_hooks;
	m->vmm_ctx = &vm->vcpu;
	m->exit_table = vmx_exit_table;
	m->exit_table_len = vmx_exit_table_len;
	if (vmx_vmentry(&vm->vcpu)) {   /* VMLAUNCH */
		snprintf(err, errlen, "%s", m->diag);
		goto fail;
	}
	*ctx = vm;
	return 0;
fail:
	m->vmm = NULL;
	m->vmm_ctx = NULL;
	hv_detach(&vm->hv);
	free(vm);
	return -1;
}

static void vtx_detach(struct vl_machine *m, void *ctx)
{
	struct vtx_vmm *vm = ctx;
	if (!vm)
		return;
	hv_detach(&vm->hv);
	if (m->vmm_ctx == &vm->vcpu) {
		m->vmm = NULL;
		m->vmm_ctx = NULL;
	}
	free(vm);
}

const struct vl_engine_ops vl_engine_vtx = {
	.name = "vtx",
	.hw_assist = true,
	.desc = "Intel VT-x: VMCS, exits by SDM reason; shadow (1st gen) or EPT (2nd gen)",
	.default_mmu = VL_MMU_NESTED,
	.mmu_mask = VL_MMU_BIT(VL_MMU_SHADOW) | VL_MMU_BIT(VL_MMU_NESTED),
	.check = vtx_check,
	.attach = vtx_attach,
	.detach = vtx_detach,
};
