/* svm_hw.c — the AMD-V hardware model: intercept decisions, #VMEXIT, VMRUN.
 *
 * Costs: #VMEXIT charges profile svm.vmexit and VMRUN svm.vmrun to
 * VL_CAT_EXIT. The processor's own VMCB reads/writes are part of those
 * latencies; VMM accesses are charged in vmm.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "svm_hw.h"


#define G32(off) ((uint32_t)vmcb_get(m, vmcb, (off), 4))
#define G64(off) vmcb_get(m, vmcb, (off), 8)

static const unsigned seg_off[6] = { VMCB_ES, VMCB_CS, VMCB_SS, VMCB_DS, VMCB_FS, VMCB_GS };

static void seg_save(struct vl_machine *m, uint64_t vmcb, unsigned off, const struct vl_seg *s)
{
	vmcb_set(m, vmcb, off + VMCB_SEG_SEL, 2, s->sel);
	vmcb_set(m, vmcb, off + VMCB_SEG_ATTR, 2, vmcb_attr_from_ar(s->attr));
	vmcb_set(m, vmcb, off + VMCB_SEG_LIMIT, 4, s->limit);
	vmcb_set(m, vmcb, off + VMCB_SEG_BASE, 8, s->base);
}
static void seg_load(struct vl_machine *m, uint64_t vmcb, unsigned off, struct vl_seg *s)
{
	s->sel = (uint16_t)vmcb_get(m, vmcb, off + VMCB_SEG_SEL, 2);
	s->attr = vmcb_attr_to_ar((uint16_t)vmcb_get(m, vmcb, off + VMCB_SEG_ATTR, 2));
	s->limit = (uint32_t)vmcb_get(m, vmcb, off + VMCB_SEG_LIMIT, 4);
	s->base = vmcb_get(m, vmcb, off + VMCB_SEG_BASE, 8);
}

void svm_save_guest(struct svm_vcpu *v)
{
	struct vl_machine *m = v->m;
	uint64_t vmcb = v->vmcb;
	struct vl_cpu *c = &m->cpu;
	for (int i = 0; i < 6; i++)
		seg_save(m, vmcb, seg_off[i], &c->seg[i]);
	seg_save(m, vmcb, VMCB_LDTR, &c->ldtr);
	seg_save(m, vmcb, VMCB_TR, &c->tr);
	vmcb_set(m, vmcb, VMCB_GDTR + VMCB_SEG_LIMIT, 4, c->gdtr.limit);
	vmcb_set(m, vmcb, VMCB_GDTR + VMCB_SEG_BASE, 8, c->gdtr.base);
	vmcb_set(m, vmcb, VMCB_IDTR + VMCB_SEG_LIMIT, 4, c->idtr.limit);
	vmcb_set(m, vmcb, VMCB_IDTR + VMCB_SEG_BASE, 8, c->idtr.base);
	vmcb_set(m, vmcb, VMCB_CPL, 1, c->cpl);
	vmcb_set(m, vmcb, VMCB_EFER, 8, c->efer);
	vmcb_set(m, vmcb, VMCB_CR0, 8, c->cr0);
	vmcb_set(m, vmcb, VMCB_CR2, 8, c->cr2);
	vmcb_set(m, vmcb, VMCB_CR3, 8, c->cr3);
	vmcb_set(m, vmcb, VMCB_CR4, 8, c->cr4);
	vmcb_set(m, vmcb, VMCB_DR7, 8, c->dr[7]);
	vmcb_set(m, vmcb, VMCB_DR6, 8, c->dr[6]);
	vmcb_set(m, vmcb, VMCB_RFLAGS, 8, c->rflags);
	vmcb_set(m, vmcb, VMCB_RIP, 8, c->rip);
	vmcb_set(m, vmcb, VMCB_RSP, 8, c->gpr[VL_RSP]);
	vmcb_set(m, vmcb, VMCB_RAX, 8, c->gpr[VL_RAX]);
	vmcb_set(m, vmcb, VMCB_STAR, 8, c->star);
	vmcb_set(m, vmcb, VMCB_LSTAR, 8, c->lstar);
	vmcb_set(m, vmcb, VMCB_CSTAR, 8, c->cstar);
	vmcb_set(m, vmcb, VMCB_SFMASK, 8, c->sfmask);
	vmcb_set(m, vmcb, VMCB_KERNEL_GS_BASE, 8, c->kernel_gs_base);
	vmcb_set(m, vmcb, VMCB_G_PAT, 8, c->pat);
	vmcb_set(m, vmcb, VMCB_INTERRUPT_SHADOW, 8, c->intr_shadow ? 1 : 0);
	/* V_TPR mirrors the guest's TPR (CR8) */
	uint32_t vintr = G32(VMCB_VINTR);
	vmcb_set(m, vmcb, VMCB_VINTR, 4, (vintr & ~V_TPR_MASK) | (uint32_t)(c->cr8 & 0xf));
}

static void svm_load_guest(struct svm_vcpu *v)
{
	struct vl_machine *m = v->m;
	uint64_t vmcb = v->vmcb;
	struct vl_cpu *c = &m->cpu;
	for (int i = 0; i < 6; i++)
		seg_load(m, vmcb, seg_off[i], &c->seg[i]);
	seg_load(m, vmcb, VMCB_LDTR, &c->ldtr);
	seg_load(m, vmcb, VMCB_TR, &c->tr);
	c->gdtr.limit = (uint16_t)vmcb_get(m, vmcb, VMCB_GDTR + VMCB_SEG_LIMIT, 4);
	c->gdtr.base = G64(VMCB_GDTR + VMCB_SEG_BASE);
	c->idtr.limit = (uint16_t)vmcb_get(m, vmcb, VMCB_IDTR + VMCB_SEG_LIMIT, 4);
	c->idtr.base = G64(VMCB_IDTR + VMCB_SEG_BASE);
	c->cpl = (uint8_t)vmcb_get(m, vmcb, VMCB_CPL, 1);
	c->efer = G64(VMCB_EFER);
	c->cr0 = G64(VMCB_CR0);
	c->cr2 = G64(VMCB_CR2);
	c->cr3 = G64(VMCB_CR3);
	c->cr4 = G64(VMCB_CR4);
	c->dr[7] = G64(VMCB_DR7);
	c->dr[6] = G64(VMCB_DR6);
	c->rflags = G64(VMCB_RFLAGS);
	c->rip = G64(VMCB_RIP);
	c->gpr[VL_RSP] = G64(VMCB_RSP);
	c->gpr[VL_RAX] = G64(VMCB_RAX);
	c->star = G64(VMCB_STAR);
	c->lstar = G64(VMCB_LSTAR);
	c->cstar = G64(VMCB_CSTAR);
	c->sfmask = G64(VMCB_SFMASK);
	c->kernel_gs_base = G64(VMCB_KERNEL_GS_BASE);
	c->pat = G64(VMCB_G_PAT);
	c->intr_shadow = (G64(VMCB_INTERRUPT_SHADOW) & 1) ? 1 : 0;
}

static void svm_derive_intercepts(struct svm_vcpu *v)
{
	struct vl_machine *m = v->m;
	uint64_t vmcb = v->vmcb;
	uint32_t cr = G32(VMCB_INTERCEPT_CR), dr = G32(VMCB_INTERCEPT_DR);
	uint32_t m1 = G32(VMCB_INTERCEPT_MISC1), m2 = G32(VMCB_INTERCEPT_MISC2);
	static const struct { uint32_t bit; int word; uint64_t cls; } map[] = {
		{ INTERCEPT_CPUID, 1, VL_SENS_BIT(VL_SENS_CPUID) },
		{ INTERCEPT_HLT, 1, VL_SENS_BIT(VL_SENS_HLT) },
		{ INTERCEPT_INVLPG, 1, VL_SENS_BIT(VL_SENS_INVLPG) },
		{ INTERCEPT_RDTSC, 1, VL_SENS_BIT(VL_SENS_RDTSC) },
		{ INTERCEPT_RDPMC, 1, VL_SENS_BIT(VL_SENS_RDPMC) },
		{ INTERCEPT_PUSHF, 1, VL_SENS_BIT(VL_SENS_PUSHF) },
		{ INTERCEPT_POPF, 1, VL_SENS_BIT(VL_SENS_POPF) },
		{ INTERCEPT_IRET, 1, VL_SENS_BIT(VL_SENS_IRET) },
		{ INTERCEPT_INTN, 1, VL_SENS_BIT(VL_SENS_INTN) },
		{ INTERCEPT_PAUSE, 1, VL_SENS_BIT(VL_SENS_PAUSE) },
		{ INTERCEPT_IOIO_PROT, 1, VL_SENS_BIT(VL_SENS_IO) },
		{ INTERCEPT_MSR_PROT, 1, VL_SENS_BIT(VL_SENS_RDMSR) | VL_SENS_BIT(VL_SENS_WRMSR) },
		{ INTERCEPT_IDTR_READ, 1, VL_SENS_BIT(VL_SENS_SIDT) },
		{ INTERCEPT_GDTR_READ, 1, VL_SENS_BIT(VL_SENS_SGDT) },
		{ INTERCEPT_LDTR_READ, 1, VL_SENS_BIT(VL_SENS_SLDT) },
		{ INTERCEPT_TR_READ, 1, VL_SENS_BIT(VL_SENS_STR) },
		{ INTERCEPT_IDTR_WRITE, 1, VL_SENS_BIT(VL_SENS_LIDT) },
		{ INTERCEPT_GDTR_WRITE, 1, VL_SENS_BIT(VL_SENS_LGDT) },
		{ INTERCEPT_LDTR_WRITE, 1, VL_SENS_BIT(VL_SENS_LLDT) },
		{ INTERCEPT_TR_WRITE, 1, VL_SENS_BIT(VL_SENS_LTR) },
		{ INTERCEPT_RDTSCP, 2, VL_SENS_BIT(VL_SENS_RDTSCP) },
		{ INTERCEPT_WBINVD, 2, VL_SENS_BIT(VL_SENS_WBINVD) },
		{ INTERCEPT_INVD, 1, VL_SENS_BIT(VL_SENS_WBINVD) },   /* the class holds both; the hook tells them apart */
		{ INTERCEPT_MONITOR, 2, VL_SENS_BIT(VL_SENS_MONITOR) },
		{ INTERCEPT_MWAIT, 2, VL_SENS_BIT(VL_SENS_MWAIT) },
		{ INTERCEPT_XSETBV, 2, VL_SENS_BIT(VL_SENS_XSETBV) },
	};
	/* VMCALL/VMMCALL always hooked: VMCALL is #UD on AMD, VMMCALL exits or #UDs */
	uint64_t i = VL_SENS_BIT(VL_SENS_VMCALL) | VL_SENS_BIT(VL_SENS_CR_WRITE) | VL_SENS_BIT(VL_SENS_CR_READ);
	for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
		if ((map[k].word == 1 ? m1 : m2) & map[k].bit)
			i |= map[k].cls;
	if (dr)
		i |= VL_SENS_BIT(VL_SENS_DR_ACCESS);
	if (cr & 1)   /* CR0 read intercept also covers SMSW; CR0 write covers LMSW/CLTS */
		i |= VL_SENS_BIT(VL_SENS_SMSW);
	if (cr & (1u << 16))
		i |= VL_SENS_BIT(VL_SENS_LMSW) | VL_SENS_BIT(VL_SENS_CLTS);
	m->intercept = i;
	m->exc_intercept = G32(VMCB_INTERCEPT_EXC);
	m->intr_intercept = (m1 & INTERCEPT_INTR) != 0;
	m->nmi_intercept = (m1 & INTERCEPT_NMI) != 0;
	m->nested.enabled = (G32(VMCB_NP_ENABLE) & 1) != 0;
	if (m->nested.enabled) {
		m->nested.fmt = VL_PT_X86;
		m->nested.root = G64(VMCB_N_CR3) & ~0xfffull;
	}
	m->tsc_offset = (int64_t)G64(VMCB_TSC_OFFSET);
}

int svm_vmrun(struct svm_vcpu *v)
{
	struct vl_machine *m = v->m;
	uint64_t vmcb = v->vmcb;
	VL_CHARGE(m, VL_CAT_EXIT, svm_vmrun);
	if (svm_vmrun_check(m, vmcb, v->why, sizeof v->why)) {
		vmcb_set(m, vmcb, VMCB_EXITCODE, 8, (uint64_t)(int64_t)-1);   /* VMEXIT_INVALID */
		vl_machine_stop(m, VL_M_ERROR, "AMD-V VMRUN failed: VMEXIT_INVALID (%s)", v->why);
		return -1;
	}
	svm_load_guest(v);
	svm_derive_intercepts(v);
	m->tlb_tag = (uint16_t)G32(VMCB_GUEST_ASID);
	switch (vmcb_get(m, vmcb, VMCB_TLB_CONTROL, 1)) {
	case TLB_CONTROL_FLUSH_ALL_ASID: vl_tlb_flush_all(m); break;
	case TLB_CONTROL_FLUSH_ASID:
	case TLB_CONTROL_FLUSH_ASID_LOCAL: vl_tlb_flush_tag(m, m->tlb_tag); break;
	default: break;
	}
	uint64_t ev = G64(VMCB_EVENTINJ);
	if (ev & SVM_EVTINJ_VALID) {
		unsigned vec = ev & SVM_EVTINJ_VEC_MASK, type = (ev >> SVM_EVTINJ_TYPE_SHIFT) & 7;
		vmcb_set(m, vmcb, VMCB_EVENTINJ, 8, 0);   /* consumed */
		m->cpu.halted = false;
		vl_count(m, VL_EV_INJECTIONS, 1);
		if (type == SVM_EVTINJ_TYPE_INTR)
			vl_deliver_interrupt(m, vec);
		else if (type == SVM_EVTINJ_TYPE_NMI)
			vl_deliver_nmi(m);   /* NMIs blocked in the guest until its IRET */
		else
			vl_deliver_exception(m, vec, (ev & SVM_EVTINJ_VALID_ERR) != 0, (uint32_t)(ev >> 32), m->cpu.cr2, false);
	}
	return 0;
}

/* #VMEXIT: save state, write EXITCODE/EXITINFO, charge, run the VMM, VMRUN. */
static int svm_exit(struct svm_vcpu *v, uint32_t code, uint64_t info1, uint64_t info2, uint64_t nrip)
{
	struct vl_machine *m = v->m;
	uint64_t vmcb = v->vmcb;
	v->exit_tsc = m->tsc;
	svm_save_guest(v);
	vmcb_set(m, vmcb, VMCB_EXITCODE, 8, code == SVM_VMEXIT_INVALID ? ~0ull : code);
	vmcb_set(m, vmcb, VMCB_EXITINFO1, 8, info1);
	vmcb_set(m, vmcb, VMCB_EXITINFO2, 8, info2);
	const struct vl_vectoring *vi = &m->vectoring;   /* the event being delivered, if any (APM 15.7.2) */
	vmcb_set(m, vmcb, VMCB_EXITINTINFO, 8, !vi->valid ? 0 :
		 vi->vec | (uint64_t)vi->type << SVM_EVTINJ_TYPE_SHIFT | (vi->has_err ? SVM_EVTINJ_VALID_ERR : 0) |
		 SVM_EVTINJ_VALID | (uint64_t)vi->err << 32);
	vmcb_set(m, vmcb, VMCB_NRIP, 8, nrip);
	VL_CHARGE(m, VL_CAT_EXIT, svm_vmexit);
	if (m->trace) {
		char dis[160] = "";
		vl_disasm(m, m->cpu.rip, 1, dis, sizeof dis);
		size_t n = strlen(dis);
		if (n && dis[n - 1] == '\n')
			dis[n - 1] = 0;
		vl_trace(m, "svm exit %s(%#x) info1=%#" PRIx64 " info2=%#" PRIx64 " rip=%#" PRIx64 "  %s",
			 svm_exit_name(code), code, info1, info2, m->cpu.rip, dis);
	}
	int rc = v->handle_exit(v);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING) {
		vl_count_exit(m, svm_exit_slot(code), m->tsc - v->exit_tsc);
		if (rc != VL_HOOK_STOP && m->state == VL_M_EXITED) {
			/* the guest ended the run with an instruction the VMM
			 * completed (the exit device): it retires, with the state
			 * the VMM left, as the same instruction does natively */
			svm_load_guest(v);
			return VL_HOOK_DONE;
		}
		return VL_HOOK_STOP;
	}
	int erc = svm_vmrun(v);
	vl_count_exit(m, svm_exit_slot(code), m->tsc - v->exit_tsc);
	return erc ? VL_HOOK_STOP : VL_HOOK_DONE;
}

static int svm_hook_intercept(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev)
{
	struct svm_vcpu *v = ctx;
	uint64_t vmcb = v->vmcb;
	uint32_t m1 = G32(VMCB_INTERCEPT_MISC1), m2 = G32(VMCB_INTERCEPT_MISC2), cr = G32(VMCB_INTERCEPT_CR);
	uint64_t nrip = ev->insn_rip + ev->len, i1 = 0, i2 = 0;
	uint32_t code;
	m->cpu.rip = ev->insn_rip;
	switch (ev->cls) {
	case VL_SENS_CPUID:   code = SVM_VMEXIT_CPUID; break;
	case VL_SENS_HLT:     code = SVM_VMEXIT_HLT; break;
	case VL_SENS_INVLPG:  code = SVM_VMEXIT_INVLPG; i1 = ev->addr; break;   /* decode assist */
	case VL_SENS_RDTSC:   code = SVM_VMEXIT_RDTSC; break;
	case VL_SENS_RDTSCP:  code = SVM_VMEXIT_RDTSCP; break;
	case VL_SENS_RDPMC:   code = SVM_VMEXIT_RDPMC; break;
	case VL_SENS_PUSHF:   code = SVM_VMEXIT_PUSHF; break;
	case VL_SENS_POPF:    code = SVM_VMEXIT_POPF; break;
	case VL_SENS_IRET:    code = SVM_VMEXIT_IRET; break;
	case VL_SENS_INTN:    code = SVM_VMEXIT_SWINT; break;
	case VL_SENS_PAUSE:   code = SVM_VMEXIT_PAUSE; break;
	case VL_SENS_WBINVD:  /* WBINVD or INVD (ev->vector), each with its own intercept bit */
		if (!((ev->vector ? m1 & INTERCEPT_INVD : m2 & INTERCEPT_WBINVD)))
			return VL_HOOK_PASS;
		code = ev->vector ? SVM_VMEXIT_INVD : SVM_VMEXIT_WBINVD;
		break;
	case VL_SENS_MONITOR: code = SVM_VMEXIT_MONITOR; break;
	case VL_SENS_MWAIT:   code = SVM_VMEXIT_MWAIT; break;
	case VL_SENS_XSETBV:  code = SVM_VMEXIT_XSETBV; break;
	case VL_SENS_SIDT:    code = SVM_VMEXIT_IDTR_READ; break;
	case VL_SENS_SGDT:    code = SVM_VMEXIT_GDTR_READ; break;
	case VL_SENS_SLDT:    code = SVM_VMEXIT_LDTR_READ; break;
	case VL_SENS_STR:     code = SVM_VMEXIT_TR_READ; break;
	case VL_SENS_LIDT:    code = SVM_VMEXIT_IDTR_WRITE; break;
	case VL_SENS_LGDT:    code = SVM_VMEXIT_GDTR_WRITE; break;
	case VL_SENS_LLDT:    code = SVM_VMEXIT_LDTR_WRITE; break;
	case VL_SENS_LTR:     code = SVM_VMEXIT_TR_WRITE; break;
	case VL_SENS_VMCALL:
		if (ev->vector != 1 || !(m2 & INTERCEPT_VMMCALL)) {   /* VMCALL, or VMMCALL not intercepted: #UD */
			vl_deliver_exception(m, VL_UD, false, 0, 0, true);
			return VL_HOOK_DONE;
		}
		code = SVM_VMEXIT_VMMCALL;
		break;
	case VL_SENS_DR_ACCESS: {
		uint32_t dr = G32(VMCB_INTERCEPT_DR);
		unsigned bit = (ev->reg & 15) + (ev->write ? 16 : 0);
		if (!((dr >> bit) & 1))
			return VL_HOOK_PASS;
		code = (ev->write ? 0x30u : 0x20u) + (ev->reg & 15);
		i1 = SVM_CR_VALID | (ev->gpr & 15);
		break;
	}
	case VL_SENS_IO:
		if (!svm_io_exits(m, vmcb, ev->port, ev->size))
			return VL_HOOK_PASS;
		code = SVM_VMEXIT_IOIO;
		i1 = (ev->write ? 0 : SVM_IOIO_TYPE_IN) | (ev->string ? SVM_IOIO_STR : 0) | (ev->rep ? SVM_IOIO_REP : 0) |
		     ((uint64_t)(ev->size == 4 ? 4 : ev->size == 2 ? 2 : 1) << SVM_IOIO_SIZE_SHIFT) |
		     (4u << SVM_IOIO_ASIZE_SHIFT) /* A64 */ | ((uint64_t)ev->port << SVM_IOIO_PORT_SHIFT);
		i2 = nrip;
		break;
	case VL_SENS_RDMSR:
	case VL_SENS_WRMSR: {
		bool wr = ev->cls == VL_SENS_WRMSR;
		if (!svm_msr_exits(m, vmcb, (uint32_t)m->cpu.gpr[VL_RCX], wr))
			return VL_HOOK_PASS;
		code = SVM_VMEXIT_MSR;
		i1 = wr;
		break;
	}
	case VL_SENS_CR_WRITE:
		if (!((cr >> (16 + (ev->reg & 15))) & 1)) {
			if (ev->reg == 8 && (G32(VMCB_VINTR) & V_INTR_MASKING))
				/* V_INTR_MASKING: the write lands in V_TPR; the machine's
				 * APIC is the guest's virtual APIC and executes it too */
				vmcb_set(m, vmcb, VMCB_VINTR, 1, ev->value & 0xf);
			return VL_HOOK_PASS;
		}
		code = 0x10u + (ev->reg & 15);
		i1 = SVM_CR_VALID | (ev->gpr & 15);
		break;
	case VL_SENS_CR_READ:
		if (!((cr >> (ev->reg & 15)) & 1))
			return VL_HOOK_PASS;
		code = ev->reg & 15;
		i1 = SVM_CR_VALID | (ev->gpr & 15);
		break;
	case VL_SENS_SMSW:
		code = SVM_VMEXIT_CR0_READ;
		break;
	case VL_SENS_LMSW:
	case VL_SENS_CLTS:
		code = SVM_VMEXIT_CR0_WRITE;
		break;
	default:
		return VL_HOOK_PASS;
	}
	if (code == SVM_VMEXIT_CPUID && !(m1 & INTERCEPT_CPUID))
		return VL_HOOK_PASS;
	return svm_exit(v, code, i1, i2, nrip);
}

static int svm_hook_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct svm_vcpu *v = ctx;
	uint64_t vmcb = v->vmcb;
	if (vec > 31 || !((G32(VMCB_INTERCEPT_EXC) >> vec) & 1))
		return VL_HOOK_PASS;
	/* #PF: EXITINFO1 = error code, EXITINFO2 = faulting address (APM 15.12) */
	return svm_exit(v, 0x40u + vec, has_err ? err : 0, vec == VL_PF ? cr2 : 0, 0);
}

static int svm_hook_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	struct svm_vcpu *v = ctx;
	/* VMEXIT_INTR carries no vector (the interrupt stays pending at the
	 * APIC); the model hands the vector to the VMM in EXITINTINFO-like
	 * form through EXITINFO1 so it can inject it (documented deviation). */
	return svm_exit(v, SVM_VMEXIT_INTR, vec, 0, 0);
}

/* NMI intercept: #VMEXIT code 0x61. On hardware the NMI stays pending
 * (the host takes it after STGI); the machine's NMI is the guest's, so the
 * exit consumes it and the VMM injects it through EVENTINJ type NMI (the
 * same deviation as VMEXIT_INTR). Offered only when the guest's NMI
 * blocking is clear, so no IRET intercept is needed for the window. */
static int svm_hook_nmi(struct vl_machine *m, void *ctx)
{
	m->cpu.nmi_pending = false;
	return svm_exit(ctx, SVM_VMEXIT_NMI, 0, 0, 0);
}

static int svm_hook_nested_fault(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid,
				 unsigned acc, uint64_t npte)
{
	struct svm_vcpu *v = ctx;
	uint64_t i1 = ((npte & 1) ? VL_PFEC_P : 0) | ((acc & VL_ACC_W) ? VL_PFEC_W : 0) |
		      ((acc & VL_ACC_USER) ? VL_PFEC_U : 0) | ((acc & VL_ACC_X) ? VL_PFEC_I : 0) |
		      (gva_valid ? SVM_NPF_FINAL : SVM_NPF_TABLE);
	v->last_acc = acc;
	v->last_npte = npte;
	v->last_gva = gva;
	return svm_exit(v, SVM_VMEXIT_NPF, i1, gpa, 0);
}

static void svm_hook_shutdown(struct vl_machine *m, void *ctx)
{
	struct svm_vcpu *v = ctx;
	v->exit_tsc = m->tsc;
	svm_save_guest(v);
	vmcb_set(m, v->vmcb, VMCB_EXITCODE, 8, SVM_VMEXIT_SHUTDOWN);
	VL_CHARGE(m, VL_CAT_EXIT, svm_vmexit);
	vl_trace(m, "svm exit VMEXIT_SHUTDOWN(0x7f) rip=%#" PRIx64, m->cpu.rip);
	v->handle_exit(v);
	vl_count_exit(m, svm_exit_slot(SVM_VMEXIT_SHUTDOWN), m->tsc - v->exit_tsc);
}

const struct vl_vmm_ops svm_hw_hooks = {
	.intercept = svm_hook_intercept,
	.exception = svm_hook_exception,
	.interrupt = svm_hook_interrupt,
	.nested_fault = svm_hook_nested_fault,
	.shutdown = svm_hook_shutdown,
	.nmi = svm_hook_nmi,
};
