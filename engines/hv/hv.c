/* hv.c — the shared hypervisor handlers (hv.h): what vtx, svm and the
 * software VMMs do the same way, once. Vendor differences (where guest
 * state lives, how an event is injected, how RIP advances) come in through
 * struct hv_vendor_ops, each op charging what it costs on its hardware. */
#include <stdio.h>
#include <string.h>

#include "virtlab/guest_abi.h"
#include "hv.h"

/* Charge VMM work priced by profile value f (a struct vl_profile member). */
#define hv_charge(hv, f) VL_CHARGE((hv)->m, VL_CAT_VMM, f)

int hv_check_hw(const struct vl_profile *p, enum vl_mmu_kind mmu, const char *engine, const char *vendor,
		bool has_hw, const char *hw, const char *hw_key, bool has_nested, const char *nested,
		const char *nested_key, char *why, size_t whylen)
{
	if (strcmp(p->cpu_vendor, vendor) != 0 || !has_hw) {
		snprintf(why, whylen, "%s (%s) has no %s: %s needs an %s CPU with %s", p->cpu_name, p->cpu_model, hw, engine,
			 !strcmp(vendor, "intel") ? "Intel" : "AMD", hw_key);
		return -1;
	}
	if (mmu == VL_MMU_NESTED && !has_nested) {
		snprintf(why, whylen, "%s (%s) has no %s: %s+nested needs %s", p->cpu_name, p->cpu_model, nested, engine,
			 nested_key);
		return -1;
	}
	if (mmu != VL_MMU_NESTED && mmu != VL_MMU_SHADOW) {
		snprintf(why, whylen, "%s pairs with the shadow or nested MMU, not %s", engine, vl_mmu_name(mmu));
		return -1;
	}
	return 0;
}

int hv_attach(struct hv *hv, struct vl_machine *m, const struct hv_vendor_ops *vo, void *vendor,
	      const struct vl_mmu_ops *mmu, enum vl_vendor fmt, char *err, size_t errlen)
{
	/* every vendor op is required (hv.h): a missing one is a VMM bug */
	VL_ASSERT(vo && vo->name && vo->get_gpr && vo->set_gpr && vo->get_rip && vo->set_rip && vo->set_rflags &&
		  vo->set_cr2 && vo->inject_exception && vo->skip && vo->sync_cr3 && vo->msr_written);
	memset(hv, 0, sizeof *hv);
	hv->m = m;
	hv->vo = vo;
	hv->vendor = vendor;
	hv->mmu = mmu;
	hv->mmu_kind = mmu->kind;
	hv->guest_cr0 = m->cpu.cr0;   /* before the MMU engine sets the hardware's */
	if (mmu->init && mmu->init(m, fmt, &hv->mmu_ctx, err, errlen))
		return -1;
	return 0;
}

void hv_detach(struct hv *hv)
{
	if (hv->mmu && hv->mmu->fini)
		hv->mmu->fini(hv->m, hv->mmu_ctx);
	hv->mmu_ctx = NULL;
}

/* ---- CPUID ---------------------------------------------------------------------- */
void hv_cpuid_table(struct vl_machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	memset(out, 0, 4 * sizeof out[0]);
	if (leaf == VL_CPUID_HV_LEAF) {
		static const char sig[13] = VL_HVM_SIGNATURE;
		out[0] = VL_CPUID_HV_LEAF;
		memcpy(&out[1], &sig[0], 4);
		memcpy(&out[2], &sig[4], 4);
		memcpy(&out[3], &sig[8], 4);
	} else if ((leaf & 0xffffff00u) != VL_CPUID_HV_LEAF) {
		vl_cpuid(m, leaf, subleaf, out);
		if (leaf == 1)
			out[2] |= 1u << 31;   /* "running under a hypervisor" */
	}   /* other hypervisor leaves: zero */
}

int hv_cpuid(struct hv *hv)
{
	const struct hv_vendor_ops *vo = hv->vo;
	uint32_t r[4];
	uint32_t leaf = (uint32_t)vo->get_gpr(hv->vendor, VL_RAX), sub = (uint32_t)vo->get_gpr(hv->vendor, VL_RCX);
	hv_charge(hv, vmm_cpuid);
	hv_cpuid_table(hv->m, leaf, sub, r);
	vo->set_gpr(hv->vendor, VL_RAX, r[0]);
	vo->set_gpr(hv->vendor, VL_RBX, r[1]);
	vo->set_gpr(hv->vendor, VL_RCX, r[2]);
	vo->set_gpr(hv->vendor, VL_RDX, r[3]);
	vo->skip(hv->vendor);
	return 0;
}

/* ---- MSRs ------------------------------------------------------------------------ */
int hv_msr(struct hv *hv, bool write)
{
	struct vl_machine *m = hv->m;
	const struct hv_vendor_ops *vo = hv->vo;
	uint32_t msr = (uint32_t)vo->get_gpr(hv->vendor, VL_RCX);
	bool apic = msr >= VL_MSR_X2APIC_FIRST && msr <= VL_MSR_X2APIC_LAST;
	hv_charge(hv, vmm_msr);
	if (write) {
		uint64_t val = (vo->get_gpr(hv->vendor, VL_RDX) << 32) | (uint32_t)vo->get_gpr(hv->vendor, VL_RAX);
		int rc = apic ? vl_apic_wrmsr(m, msr, val) : vl_msr_write(m, msr, val);
		if (rc) {
			vo->inject_exception(hv->vendor, VL_GP, true, 0);
			return 0;
		}
		if (msr == VL_MSR_EFER) {
			/* paging off under shadow paging runs with the hardware's PG = 1: an
			 * LME the hardware saw would claim IA-32e mode without LMA */
			hv->lme_hidden = hv->mmu_kind == VL_MMU_SHADOW && !(hv->guest_cr0 & VL_CR0_PG) &&
					 (m->cpu.efer & VL_EFER_LME);
			if (hv->lme_hidden)
				m->cpu.efer &= ~VL_EFER_LME;
		}
		vo->msr_written(hv->vendor, msr, val);
	} else {
		uint64_t val = 0;
		int rc = apic ? vl_apic_rdmsr(m, msr, &val) : vl_msr_read(m, msr, &val);
		if (rc) {
			vo->inject_exception(hv->vendor, VL_GP, true, 0);
			return 0;
		}
		if (msr == VL_MSR_EFER && hv->lme_hidden)
			val |= VL_EFER_LME;   /* the guest reads what it wrote */
		vo->set_gpr(hv->vendor, VL_RAX, (uint32_t)val);
		vo->set_gpr(hv->vendor, VL_RDX, val >> 32);
	}
	if (m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	vo->skip(hv->vendor);
	return 0;
}

/* ---- instruction emulation -------------------------------------------------------- */
static int hv_emul_write(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n)
{
	uint32_t pfec = 0;
	return vl_virt_write(m, va, data, n, m->cpu.cpl == 3 ? VL_ACC_W | VL_ACC_USER : VL_ACC_W, &pfec);
}

int hv_emulate(struct hv *hv)
{
	struct vl_machine *m = hv->m;
	const struct hv_vendor_ops *vo = hv->vo;
	static const struct vl_emul_ops ops = { .write = hv_emul_write };
	uint32_t pfec = 0;
	hv_charge(hv, vmm_emulate);
	m->cpu.rip = vo->get_rip(hv->vendor);
	m->cpu.gpr[VL_RAX] = vo->get_gpr(hv->vendor, VL_RAX);
	uint64_t cr2 = m->cpu.cr2;
	int rc = vl_emulate_one(m, &ops, hv, &pfec);
	if (rc < 0) {
		char why[sizeof m->diag];
		snprintf(why, sizeof why, "%s", m->diag);   /* vl_machine_stop rewrites m->diag */
		vl_machine_stop(m, VL_M_ERROR, "%s VMM: cannot emulate instruction at %#llx: %s", vo->name,
				(unsigned long long)m->cpu.rip, why);
		return VL_HOOK_STOP;
	}
	if (rc == VL_PF) {
		/* the emulator set m->cpu.cr2; the guest's CR2 changes only if the
		 * fault is the guest's own (then set_cr2, wherever the vendor keeps it) */
		uint64_t va = m->cpu.cr2;
		m->cpu.cr2 = cr2;
		if (hv->mmu->page_fault) {
			int h = hv_page_fault(hv, va, &pfec, NULL);
			if (h != VL_HOOK_PASS)
				return h == VL_HOOK_STOP ? VL_HOOK_STOP : 0;
		} else {
			vo->set_cr2(hv->vendor, va);
		}
	}
	if (rc > 0) {
		vo->inject_exception(hv->vendor, (unsigned)rc, rc == VL_PF || rc == VL_GP, rc == VL_PF ? pfec : 0);
		return 0;
	}
	vo->set_rip(hv->vendor, m->cpu.rip);
	vo->set_gpr(hv->vendor, VL_RAX, m->cpu.gpr[VL_RAX]);
	return 0;
}

int hv_reflect_exception(struct hv *hv, unsigned vec, bool has_err, uint32_t err, uint32_t idt_info)
{
	struct vl_machine *m = hv->m;
	if (idt_info & (1u << 31)) {
		struct vl_vectoring first = { .valid = true, .vec = (uint8_t)idt_info, .type = (uint8_t)((idt_info >> 8) & 7) };
		int to = vl_event_combine(&first, vec);
		if (to < 0) {
			vl_machine_stop(m, VL_M_TRIPLE_FAULT, "triple fault (shutdown): vector %u while delivering #DF at rip %#llx",
					vec, (unsigned long long)m->cpu.rip);
			return VL_HOOK_STOP;
		}
		if (to == VL_DF) {
			vec = VL_DF;
			has_err = true;
			err = 0;
		}
	}
	hv->vo->inject_exception(hv->vendor, vec, has_err, err);
	return 0;
}

/* ---- #PF ------------------------------------------------------------------------------- */
int hv_page_fault(struct hv *hv, uint64_t va, uint32_t *err, enum vl_pf_kind *kind)
{
	struct vl_machine *m = hv->m;
	const struct hv_vendor_ops *vo = hv->vo;
	uint64_t rip = m->cpu.rip, rsp = m->cpu.gpr[VL_RSP], fl = m->cpu.rflags, rax = m->cpu.gpr[VL_RAX];
	int rc = hv->mmu->page_fault(m, hv->mmu_ctx, va, err, kind);
	vo->sync_cr3(hv->vendor);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (rc == VL_HOOK_DONE) {
		/* the MMU may have emulated the instruction (a traced page-table
		 * write): write back what the emulator changed */
		if (m->cpu.rip != rip)
			vo->set_rip(hv->vendor, m->cpu.rip);
		if (m->cpu.gpr[VL_RSP] != rsp)
			vo->set_gpr(hv->vendor, VL_RSP, m->cpu.gpr[VL_RSP]);
		if (m->cpu.rflags != fl)
			vo->set_rflags(hv->vendor, m->cpu.rflags);
		if (m->cpu.gpr[VL_RAX] != rax)
			vo->set_gpr(hv->vendor, VL_RAX, m->cpu.gpr[VL_RAX]);
		return VL_HOOK_DONE;
	}
	vo->set_cr2(hv->vendor, va);
	return VL_HOOK_PASS;
}

/* ---- control registers, INVLPG, VMCALL -------------------------------------------------- */
void hv_cr3_write(struct hv *hv, uint64_t val)
{
	hv->mmu->cr3_write(hv->m, hv->mmu_ctx, val);
	hv->vo->sync_cr3(hv->vendor);
}

void hv_cr0_4_write(struct hv *hv, unsigned cr, uint64_t val)
{
	struct vl_machine *m = hv->m;
	if (cr == 0 && ((hv->guest_cr0 ^ val) & VL_CR0_PG)) {
		uint64_t efer = m->cpu.efer | (hv->lme_hidden ? VL_EFER_LME : 0);
		bool lma = (val & VL_CR0_PG) && (efer & VL_EFER_LME);
		hv->lme_hidden = false;
		m->cpu.efer = lma ? efer | VL_EFER_LMA : efer & ~VL_EFER_LMA;
		hv->vo->msr_written(hv->vendor, VL_MSR_EFER, m->cpu.efer);
	}
	if (cr == 0)
		hv->guest_cr0 = val;
	if (cr == 0)
		m->cpu.cr0 = val;
	else
		m->cpu.cr4 = val;
	if (hv->mmu->cr_write)
		hv->mmu->cr_write(m, hv->mmu_ctx, (int)cr, val);
	hv->vo->sync_cr3(hv->vendor);
}

int hv_cr8_write(struct hv *hv, uint64_t val)
{
	if (val > 15)
		return -1;
	vl_apic_set_tpr(hv->m, (uint8_t)val);
	hv->m->cpu.cr8 = val;
	return 0;
}

uint64_t hv_cr8_read(struct hv *hv)
{
	return vl_apic_get_tpr(hv->m) & 15;
}

void hv_invlpg(struct hv *hv, uint64_t va)
{
	struct vl_machine *m = hv->m;
	hv_charge(hv, vmm_invlpg);
	if (hv->mmu->invlpg)
		hv->mmu->invlpg(m, hv->mmu_ctx, va);
	else
		vl_tlb_flush_va(m, va);
	hv->vo->sync_cr3(hv->vendor);
	hv->vo->skip(hv->vendor);
}

void hv_vmcall(struct hv *hv)
{
	hv_charge(hv, vmm_vmcall);
	hv->vo->set_gpr(hv->vendor, VL_RAX, (uint64_t)-1000);   /* -KVM_ENOSYS: no hypercalls under hardware assist */
	hv->vo->skip(hv->vendor);
}

/* ---- the guest command line ----------------------------------------------------------- */
int hv_cmdline(char *buf, size_t n, const char *workload, uint64_t iters, const char *params)
{
	bool wl = workload && *workload, pa = params && *params;
	int k = snprintf(buf, n, "%s%s%siters=%llu%s%s", wl ? "workload=" : "", wl ? workload : "", wl ? " " : "",
			 (unsigned long long)iters, pa ? " " : "", pa ? params : "");
	if (k < 0 || (size_t)k >= n) {
		if (n)
			buf[0] = '\0';
		return -1;
	}
	return k;
}
