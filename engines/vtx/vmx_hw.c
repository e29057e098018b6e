/* vmx_hw.c — the VT-x hardware model: exit decisions, VM exit, VM entry.
 *
 * Costs: a VM exit charges profile vmx.vmexit and a VM entry vmx.vmentry to
 * VL_CAT_EXIT; the VMM charges its own handler work. Without VPID every VM
 * entry and VM exit flushes the TLB (first-generation VT-x); with VPID the
 * guest's translations survive under tag VIRTUAL_PROCESSOR_ID.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vmx_hw.h"


static inline uint64_t F(const struct vmcs *v, enum vmcs_slot s) { return v->field[s]; }
static inline void W(struct vmcs *v, enum vmcs_slot s, uint64_t x) { v->field[s] = x; }

/* ---- state transfer ----------------------------------------------------- */

static const enum vmcs_slot seg_sel[8] = {
	VMCS_SLOT_GUEST_ES_SELECTOR, VMCS_SLOT_GUEST_CS_SELECTOR, VMCS_SLOT_GUEST_SS_SELECTOR,
	VMCS_SLOT_GUEST_DS_SELECTOR, VMCS_SLOT_GUEST_FS_SELECTOR, VMCS_SLOT_GUEST_GS_SELECTOR,
	VMCS_SLOT_GUEST_LDTR_SELECTOR, VMCS_SLOT_GUEST_TR_SELECTOR };
static const enum vmcs_slot seg_base[8] = {
	VMCS_SLOT_GUEST_ES_BASE, VMCS_SLOT_GUEST_CS_BASE, VMCS_SLOT_GUEST_SS_BASE,
	VMCS_SLOT_GUEST_DS_BASE, VMCS_SLOT_GUEST_FS_BASE, VMCS_SLOT_GUEST_GS_BASE,
	VMCS_SLOT_GUEST_LDTR_BASE, VMCS_SLOT_GUEST_TR_BASE };
static const enum vmcs_slot seg_lim[8] = {
	VMCS_SLOT_GUEST_ES_LIMIT, VMCS_SLOT_GUEST_CS_LIMIT, VMCS_SLOT_GUEST_SS_LIMIT,
	VMCS_SLOT_GUEST_DS_LIMIT, VMCS_SLOT_GUEST_FS_LIMIT, VMCS_SLOT_GUEST_GS_LIMIT,
	VMCS_SLOT_GUEST_LDTR_LIMIT, VMCS_SLOT_GUEST_TR_LIMIT };
static const enum vmcs_slot seg_ar[8] = {
	VMCS_SLOT_GUEST_ES_AR_BYTES, VMCS_SLOT_GUEST_CS_AR_BYTES, VMCS_SLOT_GUEST_SS_AR_BYTES,
	VMCS_SLOT_GUEST_DS_AR_BYTES, VMCS_SLOT_GUEST_FS_AR_BYTES, VMCS_SLOT_GUEST_GS_AR_BYTES,
	VMCS_SLOT_GUEST_LDTR_AR_BYTES, VMCS_SLOT_GUEST_TR_AR_BYTES };

static struct vl_seg *cpu_seg(struct vl_cpu *c, int i)
{
	return i < 6 ? &c->seg[i] : i == 6 ? &c->ldtr : &c->tr;
}

void vmx_save_guest(struct vmx_vcpu *vc)
{
	struct vmcs *v = &vc->vmcs;
	struct vl_cpu *c = &vc->m->cpu;
	for (int i = 0; i < 8; i++) {
		const struct vl_seg *s = cpu_seg(c, i);
		W(v, seg_sel[i], s->sel);
		W(v, seg_base[i], s->base);
		W(v, seg_lim[i], s->limit);
		/* bit 16: unusable (a null data segment) */
		W(v, seg_ar[i], s->attr ? s->attr : 0x10000u);
	}
	W(v, VMCS_SLOT_GUEST_GDTR_BASE, c->gdtr.base);
	W(v, VMCS_SLOT_GUEST_GDTR_LIMIT, c->gdtr.limit);
	W(v, VMCS_SLOT_GUEST_IDTR_BASE, c->idtr.base);
	W(v, VMCS_SLOT_GUEST_IDTR_LIMIT, c->idtr.limit);
	W(v, VMCS_SLOT_GUEST_CR0, c->cr0);
	W(v, VMCS_SLOT_GUEST_CR3, c->cr3);
	W(v, VMCS_SLOT_GUEST_CR4, c->cr4);
	W(v, VMCS_SLOT_GUEST_DR7, c->dr[7]);
	W(v, VMCS_SLOT_GUEST_RSP, c->gpr[VL_RSP]);
	W(v, VMCS_SLOT_GUEST_RIP, c->rip);
	W(v, VMCS_SLOT_GUEST_RFLAGS, c->rflags);
	W(v, VMCS_SLOT_GUEST_IA32_EFER, c->efer);
	/* SDM 27.2: a VM exit stores EFER.LMA into the "IA-32e mode guest" entry
	 * control (a guest that enabled long mode itself under EPT) */
	uint64_t ent = F(v, VMCS_SLOT_VM_ENTRY_CONTROLS);
	W(v, VMCS_SLOT_VM_ENTRY_CONTROLS, (c->efer & VL_EFER_LMA) ? ent | ENTRY_IA32E_MODE : ent & ~ENTRY_IA32E_MODE);
	W(v, VMCS_SLOT_GUEST_IA32_PAT, c->pat);
	/* STI and MOV-SS blocking kept apart; bit 3: blocking by NMI (with
	 * virtual NMIs: virtual-NMI blocking, the guest's own) */
	W(v, VMCS_SLOT_GUEST_INTERRUPTIBILITY_INFO, (c->intr_shadow & 3u) | (c->nmi_blocked ? 8u : 0u));
	W(v, VMCS_SLOT_GUEST_ACTIVITY_STATE, c->halted ? GUEST_ACTIVITY_HLT : GUEST_ACTIVITY_ACTIVE);
}

static void vmx_load_guest(struct vmx_vcpu *vc)
{
	const struct vmcs *v = &vc->vmcs;
	struct vl_cpu *c = &vc->m->cpu;
	for (int i = 0; i < 8; i++) {
		struct vl_seg *s = cpu_seg(c, i);
		s->sel = (uint16_t)F(v, seg_sel[i]);
		s->base = F(v, seg_base[i]);
		s->limit = (uint32_t)F(v, seg_lim[i]);
		s->attr = (F(v, seg_ar[i]) & 0x10000u) ? 0 : (uint16_t)F(v, seg_ar[i]);
	}
	c->gdtr.base = F(v, VMCS_SLOT_GUEST_GDTR_BASE);
	c->gdtr.limit = (uint16_t)F(v, VMCS_SLOT_GUEST_GDTR_LIMIT);
	c->idtr.base = F(v, VMCS_SLOT_GUEST_IDTR_BASE);
	c->idtr.limit = (uint16_t)F(v, VMCS_SLOT_GUEST_IDTR_LIMIT);
	c->cr0 = F(v, VMCS_SLOT_GUEST_CR0);
	c->cr3 = F(v, VMCS_SLOT_GUEST_CR3);
	c->cr4 = F(v, VMCS_SLOT_GUEST_CR4);
	c->dr[7] = F(v, VMCS_SLOT_GUEST_DR7);
	c->gpr[VL_RSP] = F(v, VMCS_SLOT_GUEST_RSP);
	c->rip = F(v, VMCS_SLOT_GUEST_RIP);
	c->rflags = F(v, VMCS_SLOT_GUEST_RFLAGS);
	uint32_t entry = (uint32_t)F(v, VMCS_SLOT_VM_ENTRY_CONTROLS);
	if (entry & ENTRY_LOAD_IA32_EFER)
		c->efer = F(v, VMCS_SLOT_GUEST_IA32_EFER);
	if (entry & ENTRY_LOAD_IA32_PAT)
		c->pat = F(v, VMCS_SLOT_GUEST_IA32_PAT);
	c->cpl = (uint8_t)((c->seg[VL_CS].attr >> 5) & 3);
	c->intr_shadow = (uint8_t)(F(v, VMCS_SLOT_GUEST_INTERRUPTIBILITY_INFO) & 3);
	c->nmi_blocked = (F(v, VMCS_SLOT_GUEST_INTERRUPTIBILITY_INFO) & 8) != 0;
	c->halted = F(v, VMCS_SLOT_GUEST_ACTIVITY_STATE) == GUEST_ACTIVITY_HLT;
}

/* Program the machine's hook points from the controls: which instruction
 * classes, exceptions and interrupts must come to the hardware's exit
 * logic. Classes whose exit depends on a finer rule (bitmaps, masks) are
 * hooked and decided in vmx_hook_intercept. */
static void vmx_derive_intercepts(struct vmx_vcpu *vc)
{
	struct vl_machine *m = vc->m;
	const struct vmcs *v = &vc->vmcs;
	uint32_t pin = (uint32_t)F(v, VMCS_SLOT_PIN_BASED_VM_EXEC_CONTROL);
	uint32_t cpu = (uint32_t)F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL);
	uint32_t sec = vmx_secondary(v);
	uint64_t i = VL_SENS_BIT(VL_SENS_CPUID) | VL_SENS_BIT(VL_SENS_VMCALL) |
		     VL_SENS_BIT(VL_SENS_XSETBV) | VL_SENS_BIT(VL_SENS_RDMSR) | VL_SENS_BIT(VL_SENS_WRMSR) |
		     VL_SENS_BIT(VL_SENS_CR_WRITE) | VL_SENS_BIT(VL_SENS_CR_READ) |
		     VL_SENS_BIT(VL_SENS_CLTS) | VL_SENS_BIT(VL_SENS_LMSW);
	if (F(v, VMCS_SLOT_CR0_GUEST_HOST_MASK))
		i |= VL_SENS_BIT(VL_SENS_SMSW);
	if (cpu & CPU_HLT_EXITING)     i |= VL_SENS_BIT(VL_SENS_HLT);
	if (cpu & CPU_INVLPG_EXITING)  i |= VL_SENS_BIT(VL_SENS_INVLPG);
	if (cpu & CPU_RDTSC_EXITING)   i |= VL_SENS_BIT(VL_SENS_RDTSC) | VL_SENS_BIT(VL_SENS_RDTSCP);
	if (cpu & CPU_RDPMC_EXITING)   i |= VL_SENS_BIT(VL_SENS_RDPMC);
	if (cpu & CPU_MOV_DR_EXITING)  i |= VL_SENS_BIT(VL_SENS_DR_ACCESS);
	if (cpu & (CPU_UNCOND_IO_EXITING | CPU_USE_IO_BITMAPS)) i |= VL_SENS_BIT(VL_SENS_IO);
	if (cpu & CPU_PAUSE_EXITING)   i |= VL_SENS_BIT(VL_SENS_PAUSE);
	if (cpu & CPU_MWAIT_EXITING)   i |= VL_SENS_BIT(VL_SENS_MWAIT);
	if (cpu & CPU_MONITOR_EXITING) i |= VL_SENS_BIT(VL_SENS_MONITOR);
	if (sec & SEC_DESC_TABLE_EXITING)
		i |= VL_SENS_BIT(VL_SENS_LGDT) | VL_SENS_BIT(VL_SENS_LIDT) | VL_SENS_BIT(VL_SENS_SGDT) |
		     VL_SENS_BIT(VL_SENS_SIDT) | VL_SENS_BIT(VL_SENS_LLDT) | VL_SENS_BIT(VL_SENS_LTR) |
		     VL_SENS_BIT(VL_SENS_SLDT) | VL_SENS_BIT(VL_SENS_STR);
	if (sec & SEC_WBINVD_EXITING)  i |= VL_SENS_BIT(VL_SENS_WBINVD);
	m->intercept = i;
	uint32_t exc = (uint32_t)F(v, VMCS_SLOT_EXCEPTION_BITMAP);
	if (F(v, VMCS_SLOT_PAGE_FAULT_ERROR_CODE_MASK) || F(v, VMCS_SLOT_PAGE_FAULT_ERROR_CODE_MATCH))
		exc |= 1u << VL_PF;   /* mask/match may select #PFs either way */
	m->exc_intercept = exc;
	m->intr_intercept = (pin & PIN_EXT_INTR_EXITING) != 0;
	m->nmi_intercept = (pin & PIN_NMI_EXITING) != 0;
	m->nested.enabled = (sec & SEC_ENABLE_EPT) != 0;
	if (m->nested.enabled) {
		m->nested.fmt = VL_PT_EPT;
		m->nested.root = F(v, VMCS_SLOT_EPT_POINTER) & ~0xfffull;
	}
	m->tsc_offset = (cpu & CPU_USE_TSC_OFFSETTING) ? (int64_t)F(v, VMCS_SLOT_TSC_OFFSET) : 0;
}

/* Inject the event in VM_ENTRY_INTR_INFO_FIELD (SDM 26.6): delivered
 * through the guest IDT as if it had occurred right after entry. */
static void vmx_inject(struct vmx_vcpu *vc)
{
	struct vmcs *v = &vc->vmcs;
	struct vl_machine *m = vc->m;
	uint32_t ii = (uint32_t)F(v, VMCS_SLOT_VM_ENTRY_INTR_INFO_FIELD);
	if (!(ii & INTR_INFO_VALID))
		return;
	unsigned vec = ii & INTR_INFO_VECTOR_MASK, type = (ii >> INTR_INFO_TYPE_SHIFT) & 7;
	m->cpu.halted = false;
	vl_count(m, VL_EV_INJECTIONS, 1);
	if (type == INTR_TYPE_EXT_INTR)
		vl_deliver_interrupt(m, vec);
	else if (type == INTR_TYPE_NMI)
		vl_deliver_nmi(m);   /* sets (virtual-)NMI blocking (SDM 26.6.1.2) */
	else
		vl_deliver_exception(m, vec, (ii & INTR_INFO_DELIVER_CODE) != 0,
				     (uint32_t)F(v, VMCS_SLOT_VM_ENTRY_EXCEPTION_ERROR_CODE), m->cpu.cr2, false);
	/* The valid bit is cleared by the next VM exit (SDM 27.2.3); clear it now:
	 * nothing can observe the difference in the model. */
	W(v, VMCS_SLOT_VM_ENTRY_INTR_INFO_FIELD, ii & ~INTR_INFO_VALID);
}

int vmx_vmentry(struct vmx_vcpu *vc)
{
	struct vl_machine *m = vc->m;
	struct vmcs *v = &vc->vmcs;
	enum vmx_entry_rc rc = vmx_entry_check(m, v, vc->why, sizeof vc->why);
	VL_CHARGE(m, VL_CAT_EXIT, vmx_vmentry);
	switch (rc) {
	case VMX_ENTRY_OK:
		break;
	case VMX_ENTRY_FAIL_INVALID:
		vl_machine_stop(m, VL_M_ERROR, "VT-x VM entry: VMfailInvalid (%s)", vc->why);
		return -1;
	case VMX_ENTRY_FAIL_VALID:
		W(v, VMCS_SLOT_VM_INSTRUCTION_ERROR, VMXERR_ENTRY_INVALID_CONTROL);
		vl_machine_stop(m, VL_M_ERROR, "VT-x VM entry: VMfailValid, VM-instruction error 7 (%s)", vc->why);
		return -1;
	case VMX_ENTRY_FAIL_GUEST:
		W(v, VMCS_SLOT_VM_EXIT_REASON, VMX_EXIT_REASON_ENTRY_FAIL | EXIT_REASON_INVALID_STATE);
		vl_machine_stop(m, VL_M_ERROR, "VT-x VM entry failed: exit reason 33 INVALID_STATE (%s)", vc->why);
		return -1;
	}
	vmx_load_guest(vc);
	vmx_derive_intercepts(vc);
	uint32_t sec = vmx_secondary(v);
	if (sec & SEC_ENABLE_VPID) {
		m->tlb_tag = (uint16_t)F(v, VMCS_SLOT_VIRTUAL_PROCESSOR_ID);
	} else {
		m->tlb_tag = 0;
		vl_tlb_flush_all(m);   /* no VPID: entry invalidates all of VPID 0's mappings */
	}
	v->launched = true;
	vmx_inject(vc);
	return 0;
}

/* ---- VM exit ---------------------------------------------------------- */

/* Perform a VM exit: save state, write exit information, charge the
 * hardware latency, run the VMM's handler, re-enter. Returns the hook rc. */
static int vmx_exit(struct vmx_vcpu *vc, uint32_t reason, uint64_t qual, unsigned len,
		    uint32_t intr_info, uint32_t intr_err, uint64_t gla, uint64_t gpa)
{
	struct vl_machine *m = vc->m;
	struct vmcs *v = &vc->vmcs;
	vc->exit_tsc = m->tsc;
	vmx_save_guest(vc);
	W(v, VMCS_SLOT_VM_EXIT_REASON, reason);
	W(v, VMCS_SLOT_EXIT_QUALIFICATION, qual);
	W(v, VMCS_SLOT_VM_EXIT_INSTRUCTION_LEN, len);
	W(v, VMCS_SLOT_VM_EXIT_INTR_INFO, intr_info);
	W(v, VMCS_SLOT_VM_EXIT_INTR_ERROR_CODE, intr_err);
	W(v, VMCS_SLOT_GUEST_LINEAR_ADDRESS, gla);
	W(v, VMCS_SLOT_GUEST_PHYSICAL_ADDRESS, gpa);
	const struct vl_vectoring *vi = &m->vectoring;   /* the event being delivered, if any (SDM 27.2.4) */
	W(v, VMCS_SLOT_IDT_VECTORING_INFO_FIELD, !vi->valid ? 0 :
	  vi->vec | vi->type << INTR_INFO_TYPE_SHIFT | (vi->has_err ? INTR_INFO_DELIVER_CODE : 0) | INTR_INFO_VALID);
	W(v, VMCS_SLOT_IDT_VECTORING_ERROR_CODE, vi->valid ? vi->err : 0);
	W(v, VMCS_SLOT_VM_ENTRY_INTR_INFO_FIELD, F(v, VMCS_SLOT_VM_ENTRY_INTR_INFO_FIELD) & ~INTR_INFO_VALID);
	VL_CHARGE(m, VL_CAT_EXIT, vmx_vmexit);
	if (!(vmx_secondary(v) & SEC_ENABLE_VPID))
		vl_tlb_flush_all(m);   /* no VPID: the exit invalidates the guest's mappings */
	if (m->trace) {
		char dis[160] = "";
		vl_disasm(m, m->cpu.rip, 1, dis, sizeof dis);
		size_t n = strlen(dis);
		if (n && dis[n - 1] == '\n')
			dis[n - 1] = 0;
		vl_trace(m, "vtx exit %s(%u) qual=%#" PRIx64 " rip=%#" PRIx64 "  %s",
			 vmx_exit_reason_name(reason), reason, qual, m->cpu.rip, dis);
	}
	int rc = vc->handle_exit(vc);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING) {
		vl_count_exit(m, vmx_exit_slot(reason), m->tsc - vc->exit_tsc);
		if (rc != VL_HOOK_STOP && m->state == VL_M_EXITED) {
			/* the guest ended the run with an instruction the VMM
			 * completed (the exit device): it retires, with the state
			 * the VMM left, as the same instruction does natively */
			vmx_load_guest(vc);
			return VL_HOOK_DONE;
		}
		return VL_HOOK_STOP;
	}
	int erc = vmx_vmentry(vc);
	vl_count_exit(m, vmx_exit_slot(reason), m->tsc - vc->exit_tsc);
	return erc ? VL_HOOK_STOP : VL_HOOK_DONE;
}

/* Exit qualification for an I/O instruction (SDM Table 27-5). */
static uint64_t io_qual(const struct vl_sens_event *ev)
{
	return (uint64_t)((ev->size ? ev->size : 1) - 1) | (ev->write ? 0 : IOQ_IN) |
	       (ev->string ? IOQ_STRING : 0) | (ev->rep ? IOQ_REP : 0) | ((uint64_t)ev->port << 16);
}

static int vmx_hook_intercept(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev)
{
	struct vmx_vcpu *vc = ctx;
	const struct vmcs *v = &vc->vmcs;
	uint32_t reason;
	uint64_t qual = 0;
	m->cpu.rip = ev->insn_rip;
	switch (ev->cls) {
	case VL_SENS_CPUID:   reason = EXIT_REASON_CPUID; break;
	case VL_SENS_HLT:     reason = EXIT_REASON_HLT; break;
	case VL_SENS_INVLPG:  reason = EXIT_REASON_INVLPG; qual = ev->addr; break;
	case VL_SENS_RDTSC:   reason = EXIT_REASON_RDTSC; break;
	case VL_SENS_RDTSCP:  reason = EXIT_REASON_RDTSCP; break;
	case VL_SENS_RDPMC:   reason = EXIT_REASON_RDPMC; break;
	case VL_SENS_VMCALL:
		if (ev->vector != 0) {   /* VMMCALL is #UD on Intel */
			vl_deliver_exception(m, VL_UD, false, 0, 0, true);
			return VL_HOOK_DONE;
		}
		reason = EXIT_REASON_VMCALL;
		break;
	case VL_SENS_XSETBV:  reason = EXIT_REASON_XSETBV; break;
	case VL_SENS_WBINVD:  reason = EXIT_REASON_WBINVD; break;
	case VL_SENS_PAUSE:   reason = EXIT_REASON_PAUSE_INSTRUCTION; break;
	case VL_SENS_MWAIT:   reason = EXIT_REASON_MWAIT_INSTRUCTION; break;
	case VL_SENS_MONITOR: reason = EXIT_REASON_MONITOR_INSTRUCTION; break;
	case VL_SENS_DR_ACCESS:
		reason = EXIT_REASON_DR_ACCESS;
		qual = ev->reg | (ev->write ? 0 : 1u << 4) | ((uint64_t)(ev->gpr & 15) << 8);
		break;
	case VL_SENS_IO:
		if (!vmx_io_exits(m, v, ev->port, ev->size))
			return VL_HOOK_PASS;
		reason = EXIT_REASON_IO_INSTRUCTION;
		qual = io_qual(ev);
		break;
	case VL_SENS_RDMSR:
	case VL_SENS_WRMSR: {
		bool wr = ev->cls == VL_SENS_WRMSR;
		if (!vmx_msr_exits(m, v, (uint32_t)m->cpu.gpr[VL_RCX], wr))
			return VL_HOOK_PASS;
		reason = wr ? EXIT_REASON_MSR_WRITE : EXIT_REASON_MSR_READ;
		break;
	}
	case VL_SENS_CR_WRITE:
		if (!vmx_cr_write_exits(v, ev->reg, ev->value)) {
			if (ev->reg == 8 && (F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL) & CPU_TPR_SHADOW)) {
				/* TPR shadow: the write goes to VTPR (virtual-APIC page
				 * offset 0x80); the machine's APIC is the guest's virtual
				 * APIC, so the instruction also executes normally. */
				uint8_t *vtpr = vl_phys_ptr(m, F(v, VMCS_SLOT_VIRTUAL_APIC_PAGE_ADDR) + 0x80);
				if (vtpr)
					*vtpr = (uint8_t)((ev->value & 0xf) << 4);
			}
			return VL_HOOK_PASS;
		}
		reason = EXIT_REASON_CR_ACCESS;
		qual = (ev->reg & 15u) | (CRQ_ACCESS_MOV_TO_CR << 4) | ((uint64_t)(ev->gpr & 15) << 8);
		break;
	case VL_SENS_CR_READ:
		if (!vmx_cr_read_exits(v, ev->reg)) {
			if ((ev->reg == 0 || ev->reg == 4) && ev->gpr < 16) {
				uint64_t real = ev->reg == 0 ? m->cpu.cr0 : m->cpu.cr4;
				uint64_t seen = vmx_cr_read_value(v, ev->reg, real);
				if (seen != real) {   /* hardware substitutes shadow bits, no exit */
					m->cpu.gpr[ev->gpr] = seen;
					m->cpu.rip = ev->insn_rip + ev->len;
					VL_CHARGE(m, VL_CAT_GUEST, insn_mov_cr);
					return VL_HOOK_DONE;
				}
			}
			return VL_HOOK_PASS;
		}
		reason = EXIT_REASON_CR_ACCESS;
		qual = (ev->reg & 15u) | (CRQ_ACCESS_MOV_FROM_CR << 4) | ((uint64_t)(ev->gpr & 15) << 8);
		break;
	case VL_SENS_CLTS:
		if (!((F(v, VMCS_SLOT_CR0_GUEST_HOST_MASK) & VL_CR0_TS) && (F(v, VMCS_SLOT_CR0_READ_SHADOW) & VL_CR0_TS)))
			return VL_HOOK_PASS;
		reason = EXIT_REASON_CR_ACCESS;
		qual = CRQ_ACCESS_CLTS << 4;
		break;
	case VL_SENS_LMSW:
		if (!(((ev->value ^ F(v, VMCS_SLOT_CR0_READ_SHADOW)) & F(v, VMCS_SLOT_CR0_GUEST_HOST_MASK)) & 0xf))
			return VL_HOOK_PASS;
		reason = EXIT_REASON_CR_ACCESS;
		qual = (CRQ_ACCESS_LMSW << 4) | ((ev->value & 0xffff) << 16);
		break;
	case VL_SENS_SMSW:
		return VL_HOOK_PASS;   /* TODO: SMSW of host-owned CR0 bits shows the real value */
	case VL_SENS_LGDT: case VL_SENS_LIDT: case VL_SENS_SGDT: case VL_SENS_SIDT:
		reason = EXIT_REASON_GDTR_IDTR;
		break;
	case VL_SENS_LLDT: case VL_SENS_LTR: case VL_SENS_SLDT: case VL_SENS_STR:
		reason = EXIT_REASON_LDTR_TR;
		break;
	default:
		return VL_HOOK_PASS;   /* classes VT-x never exits on (PUSHF, POPF, CLI, SYSCALL ...) */
	}
	return vmx_exit(vc, reason, qual, ev->len, 0, 0, 0, 0);
}

static int vmx_hook_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct vmx_vcpu *vc = ctx;
	const struct vmcs *v = &vc->vmcs;
	if (vec == VL_PF ? !vmx_pf_exits(v, err) : !((F(v, VMCS_SLOT_EXCEPTION_BITMAP) >> vec) & 1))
		return VL_HOOK_PASS;
	unsigned type = (vec == VL_BP || vec == VL_OF) ? INTR_TYPE_SOFT_EXCEPTION
		      : vec == VL_NMI ? INTR_TYPE_NMI : INTR_TYPE_HARD_EXCEPTION;
	uint32_t info = vec | (type << INTR_INFO_TYPE_SHIFT) | (has_err ? INTR_INFO_DELIVER_CODE : 0) | INTR_INFO_VALID;
	return vmx_exit(vc, EXIT_REASON_EXCEPTION_NMI, vec == VL_PF ? cr2 : 0, 0, info, has_err ? err : 0, 0, 0);
}

static int vmx_hook_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	struct vmx_vcpu *vc = ctx;
	/* external-interrupt exiting with "acknowledge interrupt on exit": the
	 * vector arrives in VM_EXIT_INTR_INFO */
	uint32_t info = vec | (INTR_TYPE_EXT_INTR << INTR_INFO_TYPE_SHIFT) | INTR_INFO_VALID;
	return vmx_exit(vc, EXIT_REASON_EXTERNAL_INTERRUPT, 0, 0, info, 0, 0, 0);
}

/* NMI exiting (SDM 25.2): the NMI causes an exit with basic reason 0 and
 * VM_EXIT_INTR_INFO type NMI, vector 2; it is no longer pending. The
 * machine offers it only when the guest's (virtual-)NMI blocking is clear,
 * so NMI-window exiting is never needed (as external interrupts). */
static int vmx_hook_nmi(struct vl_machine *m, void *ctx)
{
	struct vmx_vcpu *vc = ctx;
	m->cpu.nmi_pending = false;
	uint32_t info = VL_NMI | (INTR_TYPE_NMI << INTR_INFO_TYPE_SHIFT) | INTR_INFO_VALID;
	return vmx_exit(vc, EXIT_REASON_EXCEPTION_NMI, 0, 0, info, 0, 0, 0);
}

static int vmx_hook_nested_fault(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid,
				 unsigned acc, uint64_t npte)
{
	struct vmx_vcpu *vc = ctx;
	uint64_t q = (acc & VL_ACC_W) ? EPTQ_WRITE : (acc & VL_ACC_X) ? EPTQ_FETCH : EPTQ_READ;
	q |= (npte & 7) << 3;   /* the entry's R/W/X permissions */
	q |= EPTQ_LINEAR_VALID | (gva_valid ? EPTQ_FINAL_TRANSLATION : 0);
	vc->last_acc = acc;
	vc->last_npte = npte;
	return vmx_exit(vc, EXIT_REASON_EPT_VIOLATION, q, 0, 0, 0, gva, gpa);
}

static void vmx_hook_shutdown(struct vl_machine *m, void *ctx)
{
	struct vmx_vcpu *vc = ctx;
	vc->exit_tsc = m->tsc;
	vmx_save_guest(vc);
	W(&vc->vmcs, VMCS_SLOT_VM_EXIT_REASON, EXIT_REASON_TRIPLE_FAULT);
	VL_CHARGE(m, VL_CAT_EXIT, vmx_vmexit);
	vl_trace(m, "vtx exit TRIPLE_FAULT(2) rip=%#" PRIx64, m->cpu.rip);
	vc->handle_exit(vc);
	vl_count_exit(m, vmx_exit_slot(EXIT_REASON_TRIPLE_FAULT), m->tsc - vc->exit_tsc);
}

const struct vl_vmm_ops vmx_hw_hooks = {
	.intercept = vmx_hook_intercept,
	.exception = vmx_hook_exception,
	.interrupt = vmx_hook_interrupt,
	.nested_fault = vmx_hook_nested_fault,
	.shutdown = vmx_hook_shutdown,
	.nmi = vmx_hook_nmi,
};
