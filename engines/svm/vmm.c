/* vmm.c — the AMD-V VMM: sets up the VMCB as KVM's svm.c does (shadow
 * paging or NPT) and handles every #VMEXIT it enables through a table
 * indexed by exit code.
 *
 * The VMCB is ordinary machine memory: every field the VMM reads or writes
 * is one memory access (svm_rd/svm_wr), counted as VL_EV_VMCB_ACCESSES and
 * charged svm.vmcb_access. Guest GPRs other than RAX/RSP are the VMM's
 * saved copy (m->cpu.gpr); RAX and RSP live in the VMCB save area.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/engine.h"
#include "../hv/hv.h"
#include "svm_hw.h"

#define SVM_GUEST_ASID 1

struct svm_vmm {
	struct svm_vcpu vcpu;
	struct hv hv;                    /* the shared handlers and the MMU engine (engines/hv) */
	bool v_tpr;
	uint64_t hw_cr3;
	uint64_t unknown_exits;
};

static uint64_t svm_rd(struct svm_vmm *vm, unsigned off, unsigned size)
{
	struct vl_machine *m = vm->vcpu.m;
	vl_count(m, VL_EV_VMCB_ACCESSES, 1);
	VL_CHARGE(m, VL_CAT_VMM, svm_vmcb_access);
	return vmcb_get(m, vm->vcpu.vmcb, off, size);
}

static void svm_wr(struct svm_vmm *vm, unsigned off, unsigned size, uint64_t val)
{
	struct vl_machine *m = vm->vcpu.m;
	vl_count(m, VL_EV_VMCB_ACCESSES, 1);
	VL_CHARGE(m, VL_CAT_VMM, svm_vmcb_access);
	vmcb_set(m, vm->vcpu.vmcb, off, size, val);
}

/* Charge VMM work priced by profile value f (a struct vl_profile member). */
#define svm_charge(vm, f) VL_CHARGE((vm)->vcpu.m, VL_CAT_VMM, f)

/* Advance RIP to the next instruction: nRIP (next-RIP save, APM 15.7.1). */
static void svm_skip(struct svm_vmm *vm)
{
	svm_wr(vm, VMCB_RIP, 8, svm_rd(vm, VMCB_NRIP, 8));
	svm_wr(vm, VMCB_INTERRUPT_SHADOW, 8, 0);
}

static void svm_inject_exception(struct svm_vmm *vm, unsigned vec, bool has_err, uint32_t err)
{
	svm_charge(vm, vmm_exception);
	svm_wr(vm, VMCB_EVENTINJ, 8, vec | (SVM_EVTINJ_TYPE_EXEPT << SVM_EVTINJ_TYPE_SHIFT) |
	       (has_err ? SVM_EVTINJ_VALID_ERR : 0) | SVM_EVTINJ_VALID | ((uint64_t)err << 32));
}

static void svm_sync_cr3(struct svm_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	if (vm->hv.mmu_kind == VL_MMU_SHADOW && m->cpu.cr3 != vm->hw_cr3) {
		vm->hw_cr3 = m->cpu.cr3;
		svm_wr(vm, VMCB_CR3, 8, m->cpu.cr3);
	}
}

static uint64_t svm_get_gpr(struct svm_vmm *vm, unsigned r)
{
	if (r == VL_RAX) return svm_rd(vm, VMCB_RAX, 8);
	if (r == VL_RSP) return svm_rd(vm, VMCB_RSP, 8);
	return vm->vcpu.m->cpu.gpr[r];
}
static void svm_set_gpr(struct svm_vmm *vm, unsigned r, uint64_t v)
{
	if (r == VL_RAX) svm_wr(vm, VMCB_RAX, 8, v);
	else if (r == VL_RSP) svm_wr(vm, VMCB_RSP, 8, v);
	else vm->vcpu.m->cpu.gpr[r] = v;
}

/* ---- guest state as AMD-V keeps it (engines/hv vendor ops) ------------------- */
static uint64_t hv_get_gpr(void *v, unsigned r) { return svm_get_gpr(v, r); }
static void hv_set_gpr(void *v, unsigned r, uint64_t val) { svm_set_gpr(v, r, val); }
static uint64_t hv_get_rip(void *v) { return svm_rd(v, VMCB_RIP, 8); }
static void hv_set_rip(void *v, uint64_t rip) { svm_wr(v, VMCB_RIP, 8, rip); }
static void hv_set_rflags(void *v, uint64_t fl) { svm_wr(v, VMCB_RFLAGS, 8, fl); }
static void hv_set_cr2(void *v, uint64_t cr2) { svm_wr(v, VMCB_CR2, 8, cr2); }
static void hv_inject(void *v, unsigned vec, bool has_err, uint32_t err) { svm_inject_exception(v, vec, has_err, err); }
static void hv_skip(void *v) { svm_skip(v); }
static void hv_sync_cr3(void *v) { svm_sync_cr3(v); }

/* MSRs that live in the VMCB save area */
static void hv_msr_written(void *v, uint32_t msr, uint64_t val)
{
	struct svm_vmm *vm = v;
	static const struct { uint32_t msr; unsigned off; } inv[] = {
		{ VL_MSR_EFER, VMCB_EFER }, { VL_MSR_STAR, VMCB_STAR }, { VL_MSR_LSTAR, VMCB_LSTAR },
		{ VL_MSR_CSTAR, VMCB_CSTAR }, { VL_MSR_SFMASK, VMCB_SFMASK },
		{ VL_MSR_KERNEL_GS_BASE, VMCB_KERNEL_GS_BASE }, { VL_MSR_PAT, VMCB_G_PAT },
		{ VL_MSR_FS_BASE, VMCB_FS + VMCB_SEG_BASE }, { VL_MSR_GS_BASE, VMCB_GS + VMCB_SEG_BASE },
	};
	for (size_t i = 0; i < sizeof inv / sizeof inv[0]; i++)
		if (inv[i].msr == msr)
			svm_wr(vm, inv[i].off, 8, msr == VL_MSR_EFER ? vm->vcpu.m->cpu.efer : val);
}

static const struct hv_vendor_ops svm_hv_ops = {
	.name = "svm", .get_gpr = hv_get_gpr, .set_gpr = hv_set_gpr, .get_rip = hv_get_rip, .set_rip = hv_set_rip,
	.set_rflags = hv_set_rflags, .set_cr2 = hv_set_cr2, .inject_exception = hv_inject, .skip = hv_skip,
	.sync_cr3 = hv_sync_cr3, .msr_written = hv_msr_written,
};

typedef int (*svm_handler)(struct svm_vmm *vm);

static int svm_cpuid(struct svm_vmm *vm) { return hv_cpuid(&vm->hv); }

/* Emulate the instruction at the guest RIP in software (string I/O ...). */
static int svm_emulate(struct svm_vmm *vm) { return hv_emulate(&vm->hv); }

static int svm_ioio(struct svm_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t i1 = svm_rd(vm, VMCB_EXITINFO1, 8);
	unsigned size = (i1 & (4u << SVM_IOIO_SIZE_SHIFT)) ? 4 : (i1 & (2u << SVM_IOIO_SIZE_SHIFT)) ? 2 : 1;
	uint16_t port = (uint16_t)(i1 >> SVM_IOIO_PORT_SHIFT);
	svm_charge(vm, vmm_io);
	if (i1 & SVM_IOIO_STR)
		return svm_emulate(vm);
	uint64_t mask = size == 4 ? 0xffffffffull : size == 2 ? 0xffff : 0xff;
	uint64_t rax = svm_rd(vm, VMCB_RAX, 8);
	if (i1 & SVM_IOIO_TYPE_IN) {
		uint64_t v = vl_io_in(m, port, size) & mask;
		svm_wr(vm, VMCB_RAX, 8, size == 4 ? v : (rax & ~mask) | v);
	} else {
		vl_io_out(m, port, size, (uint32_t)(rax & mask));
	}
	/* completed, also when the exit device ended the run (as natively) */
	svm_wr(vm, VMCB_RIP, 8, svm_rd(vm, VMCB_EXITINFO2, 8));   /* EXITINFO2 = next RIP for IOIO */
	return 0;
}

static int svm_msr(struct svm_vmm *vm)
{
	return hv_msr(&vm->hv, svm_rd(vm, VMCB_EXITINFO1, 8) & 1);
}

static int svm_cr(struct svm_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint32_t code = (uint32_t)svm_rd(vm, VMCB_EXITCODE, 8);
	uint64_t i1 = svm_rd(vm, VMCB_EXITINFO1, 8);
	unsigned cr = code & 15, gpr = i1 & 15;
	bool write = code >= SVM_VMEXIT_CR0_WRITE;
	svm_charge(vm, vmm_cr);
	if (!(i1 & SVM_CR_VALID)) {
		/* SMSW, LMSW, CLTS: no decode assist (APM 15.8.1): the VMM decodes
		 * and executes the instruction itself on the guest's CR0; a new
		 * CR0 then goes the way of MOV to CR0 */
		uint64_t cr0 = m->cpu.cr0;
		int rc = hv_emulate(&vm->hv);
		if (rc || m->cpu.cr0 == cr0)
			return rc;
		uint64_t val = m->cpu.cr0;
		m->cpu.cr0 = cr0;
		hv_cr0_4_write(&vm->hv, 0, val);
		svm_wr(vm, VMCB_CR0, 8, m->cpu.cr0);
		return m->state == VL_M_RUNNING ? 0 : VL_HOOK_STOP;
	}
	if (write) {
		uint64_t val = svm_get_gpr(vm, gpr);
		if (cr == 3) {
			hv_cr3_write(&vm->hv, val);
		} else if (cr == 0 || cr == 4) {
			/* the MMU engine sees every write and may set the hardware
			 * value in m->cpu (shadow paging keeps CR0.WP = 1, as KVM's
			 * svm_set_cr0 does); the VMCB gets the hardware value */
			hv_cr0_4_write(&vm->hv, cr, val);
			svm_wr(vm, cr == 0 ? VMCB_CR0 : VMCB_CR4, 8, cr == 0 ? m->cpu.cr0 : m->cpu.cr4);
		} else if (cr == 8) {
			if (hv_cr8_write(&vm->hv, val)) { svm_inject_exception(vm, VL_GP, true, 0); return 0; }
			svm_wr(vm, VMCB_VINTR, 1, val);
		}
	} else {
		uint64_t val = 0;
		if (cr == 3)
			val = vm->hv.mmu->cr3_read ? vm->hv.mmu->cr3_read(m, vm->hv.mmu_ctx) : svm_rd(vm, VMCB_CR3, 8);
		else if (cr == 0 || cr == 4)
			val = svm_rd(vm, cr == 0 ? VMCB_CR0 : VMCB_CR4, 8);
		else if (cr == 8) {
			val = hv_cr8_read(&vm->hv);
		}
		svm_set_gpr(vm, gpr, val);
	}
	if (m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	svm_skip(vm);
	return 0;
}

static int svm_invlpg(struct svm_vmm *vm)
{
	hv_invlpg(&vm->hv, svm_rd(vm, VMCB_EXITINFO1, 8));
	return 0;
}

static int svm_exception(struct svm_vmm *vm)
{
	unsigned vec = (unsigned)svm_rd(vm, VMCB_EXITCODE, 8) - 0x40u;
	uint32_t err = (uint32_t)svm_rd(vm, VMCB_EXITINFO1, 8);
	bool has_err = vec == VL_DF || (vec >= VL_TS && vec <= VL_PF) || vec == VL_AC;
	svm_charge(vm, vmm_exception);
	if (vec == VL_PF && vm->hv.mmu->page_fault) {
		int rc = hv_page_fault(&vm->hv, svm_rd(vm, VMCB_EXITINFO2, 8), &err, NULL);
		if (rc != VL_HOOK_PASS)
			return rc == VL_HOOK_STOP ? VL_HOOK_STOP : 0;
	}
	/* raised while delivering an event (EXITINTINFO, APM 15.7.2)? */
	return hv_reflect_exception(&vm->hv, vec, has_err, err, (uint32_t)svm_rd(vm, VMCB_EXITINTINFO, 8));
}

static int svm_intr(struct svm_vmm *vm)
{
	unsigned vec = (unsigned)svm_rd(vm, VMCB_EXITINFO1, 8) & 0xff;
	svm_charge(vm, vmm_intr);
	svm_wr(vm, VMCB_EVENTINJ, 8, vec | (SVM_EVTINJ_TYPE_INTR << SVM_EVTINJ_TYPE_SHIFT) | SVM_EVTINJ_VALID);
	return 0;
}

/* The guest's NMI (see svm_hw.c): inject it, as KVM's svm_inject_nmi. */
static int svm_nmi(struct svm_vmm *vm)
{
	svm_charge(vm, vmm_intr);
	svm_wr(vm, VMCB_EVENTINJ, 8, VL_NMI | (SVM_EVTINJ_TYPE_NMI << SVM_EVTINJ_TYPE_SHIFT) | SVM_EVTINJ_VALID);
	return 0;
}

static int svm_hlt(struct svm_vmm *vm)
{
	svm_charge(vm, vmm_hlt);
	svm_skip(vm);
	vm->vcpu.m->cpu.halted = true;   /* block until the next interrupt (re-entered halted) */
	return 0;
}

static int svm_vmmcall(struct svm_vmm *vm)
{
	hv_vmcall(&vm->hv);
	return 0;
}

static int svm_npf(struct svm_vmm *vm)
{
	struct vl_machine *m = vm->vcpu.m;
	uint64_t i1 = svm_rd(vm, VMCB_EXITINFO1, 8), gpa = svm_rd(vm, VMCB_EXITINFO2, 8);
	if (!vm->hv.mmu->nested_fault) {
		vl_machine_stop(m, VL_M_ERROR, "svm VMM: nested page fault at gpa %#" PRIx64 " without a nested MMU", gpa);
		return VL_HOOK_STOP;
	}
	int rc = vm->hv.mmu->nested_fault(m, vm->hv.mmu_ctx, gpa, vm->vcpu.last_gva, (i1 & SVM_NPF_FINAL) != 0,
				       vm->vcpu.last_acc, vm->vcpu.last_npte);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (rc != VL_HOOK_DONE) {
		vl_machine_stop(m, VL_M_ERROR, "svm VMM: nested page fault at gpa %#" PRIx64 " not resolved", gpa);
		return VL_HOOK_STOP;
	}
	return 0;
}

static int svm_shutdown(struct svm_vmm *vm) { return VL_HOOK_STOP; }

static int svm_xsetbv(struct svm_vmm *vm)
{
	svm_inject_exception(vm, VL_GP, true, 0);
	return 0;
}

/* Dense dispatch table over exit codes 0x000..0x08f; NPF (0x400) separately. */
#define SVM_DISPATCH_MAX 0x90
static const svm_handler svm_handlers[SVM_DISPATCH_MAX] = {
	[SVM_VMEXIT_CR0_READ]  = svm_cr, [SVM_VMEXIT_CR3_READ]  = svm_cr,
	[SVM_VMEXIT_CR4_READ]  = svm_cr, [SVM_VMEXIT_CR8_READ]  = svm_cr,
	[SVM_VMEXIT_CR0_WRITE] = svm_cr, [SVM_VMEXIT_CR3_WRITE] = svm_cr,
	[SVM_VMEXIT_CR4_WRITE] = svm_cr, [SVM_VMEXIT_CR8_WRITE] = svm_cr,
	[SVM_VMEXIT_EXCP_PF]   = svm_exception, [SVM_VMEXIT_EXCP_MC] = svm_exception,
	[SVM_VMEXIT_INTR]      = svm_intr,
	[SVM_VMEXIT_NMI]       = svm_nmi,
	[SVM_VMEXIT_CPUID]     = svm_cpuid,
	[SVM_VMEXIT_HLT]       = svm_hlt,
	[SVM_VMEXIT_INVLPG]    = svm_invlpg,
	[SVM_VMEXIT_IOIO]      = svm_ioio,
	[SVM_VMEXIT_MSR]       = svm_msr,
	[SVM_VMEXIT_SHUTDOWN]  = svm_shutdown,
	[SVM_VMEXIT_VMMCALL]   = svm_vmmcall,
	[SVM_VMEXIT_XSETBV]    = svm_xsetbv,
	/* executed as the hardware would without the intercept (KVM: WBINVD
	 * and INVD skipped, RDPMC from the vPMU, MONITOR/MWAIT per the guest's
	 * CPUID): the machine's own semantics, a fault injected */
	[SVM_VMEXIT_RDPMC]     = svm_emulate, [SVM_VMEXIT_WBINVD] = svm_emulate,
	[SVM_VMEXIT_INVD]      = svm_emulate, [SVM_VMEXIT_MONITOR] = svm_emulate,
	[SVM_VMEXIT_MWAIT]     = svm_emulate,
};

static int svm_handle_exit(struct svm_vcpu *vc)
{
	struct svm_vmm *vm = vc->vmm;
	struct vl_machine *m = vc->m;
	VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
	uint64_t code = svm_rd(vm, VMCB_EXITCODE, 8);
	svm_handler h = code < SVM_DISPATCH_MAX ? svm_handlers[code] : code == SVM_VMEXIT_NPF ? svm_npf : NULL;
	if (!h) {
		vm->unknown_exits++;
		vl_machine_stop(m, VL_M_ERROR, "svm VMM: unexpected exit code %#" PRIx64 " (%s) at rip %#" PRIx64,
				code, svm_exit_name((uint32_t)code), m->cpu.rip);
		return VL_HOOK_STOP;
	}
	return h(vm);
}

/* ---- configuration ------------------------------------------------------------ */

static int svm_setup(struct svm_vmm *vm, char *err, size_t errlen)
{
	struct vl_machine *m = vm->vcpu.m;
	const struct vl_profile *p = m->prof;
	bool npt = vm->hv.mmu_kind == VL_MMU_NESTED;
	vm->v_tpr = p->features_tpr_shadow;
	uint64_t vmcb = vl_mem_alloc_page(m);
	uint64_t iopm[3], msrpm[2];
	for (int i = 0; i < 3; i++) iopm[i] = vl_mem_alloc_page(m);
	for (int i = 0; i < 2; i++) msrpm[i] = vl_mem_alloc_page(m);
	/* the allocator hands out consecutive pages; the maps must be contiguous */
	if (!vmcb || !iopm[0] || !msrpm[0] || iopm[1] != iopm[0] + 4096 || iopm[2] != iopm[1] + 4096 ||
	    msrpm[1] != msrpm[0] + 4096) {
		snprintf(err, errlen, "svm: cannot allocate a VMCB and contiguous IOPM/MSRPM in monitor memory");
		return -1;
	}
	vm->vcpu.vmcb = vmcb;
	memset(vl_phys_ptr(m, iopm[0]), 0xff, 3 * 4096);    /* intercept every port */
	memset(vl_phys_ptr(m, msrpm[0]), 0xff, 2 * 4096);   /* and every MSR ... */
	static const uint32_t pass[] = { VL_MSR_FS_BASE, VL_MSR_GS_BASE, VL_MSR_KERNEL_GS_BASE,
					 VL_MSR_STAR, VL_MSR_LSTAR, VL_MSR_CSTAR, VL_MSR_SFMASK };
	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {   /* ... but these (KVM svm.c direct_access_msrs) */
		uint32_t bit = (pass[i] & 0x1fff) * 2;
		uint8_t *b = vl_phys_ptr(m, msrpm[0] + 0x800 + (bit >> 3));
		*b &= (uint8_t)~(3u << (bit & 7));
	}
	uint32_t cr = 0, m1, m2;
	if (!npt)
		cr |= (1u << 3) | (1u << 19);               /* CR3 read + write */
	if (!vm->v_tpr)
		cr |= (1u << 8) | (1u << 24);               /* CR8 read + write */
	cr |= (1u << 16) | (1u << 20);                  /* CR0, CR4 writes (paging bits: MMU) */
	m1 = INTERCEPT_INTR | INTERCEPT_NMI | INTERCEPT_SMI | INTERCEPT_INIT | INTERCEPT_CPUID | INTERCEPT_HLT |
	     INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT | INTERCEPT_SHUTDOWN | INTERCEPT_INVD | INTERCEPT_RDPMC |
	     (npt ? 0 : INTERCEPT_INVLPG);
	m2 = INTERCEPT_VMRUN | INTERCEPT_VMMCALL | INTERCEPT_VMLOAD | INTERCEPT_VMSAVE | INTERCEPT_STGI |
	     INTERCEPT_CLGI | INTERCEPT_SKINIT | INTERCEPT_WBINVD | INTERCEPT_MONITOR | INTERCEPT_MWAIT |
	     INTERCEPT_XSETBV;
	svm_wr(vm, VMCB_INTERCEPT_CR, 4, cr);
	svm_wr(vm, VMCB_INTERCEPT_DR, 4, 0);
	svm_wr(vm, VMCB_INTERCEPT_EXC, 4, (1u << VL_MC) | (npt ? 0 : 1u << VL_PF));
	svm_wr(vm, VMCB_INTERCEPT_MISC1, 4, m1);
	svm_wr(vm, VMCB_INTERCEPT_MISC2, 4, m2);
	svm_wr(vm, VMCB_IOPM_BASE_PA, 8, iopm[0]);
	svm_wr(vm, VMCB_MSRPM_BASE_PA, 8, msrpm[0]);
	svm_wr(vm, VMCB_TSC_OFFSET, 8, 0);
	svm_wr(vm, VMCB_GUEST_ASID, 4, SVM_GUEST_ASID);
	/* Without ASIDs (no profile ships that) flush on every VMRUN. */
	svm_wr(vm, VMCB_TLB_CONTROL, 1, p->features_asid ? TLB_CONTROL_FLUSH_ASID : TLB_CONTROL_FLUSH_ALL_ASID);
	svm_wr(vm, VMCB_VINTR, 4, vm->v_tpr ? V_INTR_MASKING : 0);
	svm_wr(vm, VMCB_NP_ENABLE, 8, npt ? 1 : 0);
	if (npt)
		svm_wr(vm, VMCB_N_CR3, 8, m->nested.root);
	svm_save_guest(&vm->vcpu);   /* guest state = the machine's boot state */
	vm->hw_cr3 = m->cpu.cr3;
	return 0;
}

static int svm_vmm_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	return hv_check_hw(p, mmu, "svm", "amd", p->features_svm, "AMD-V", "features.svm", p->features_npt, "NPT",
			   "features.npt", why, whylen);
}

static int svm_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	struct svm_vmm *vm = calloc(1, sizeof *vm);
	if (!vm) {
		snprintf(err, errlen, "svm: out of memory");
		return -1;
	}
	vm->vcpu.m = m;
	vm->vcpu.vmm = vm;
	vm->vcpu.handle_exit = svm_handle_exit;
	if (hv_attach(&vm->hv, m, &svm_hv_ops, vm, mmu, VL_VENDOR_AMD, err, errlen)) {
		free(vm);
		return -1;
	}
	if (svm_setup(vm, err, errlen))
		goto fail;
	m->vmm = &svm_hw_hooks;
	m->vmm_ctx = &vm->vcpu;
	m->exit_table = svm_exit_table;
	m->exit_table_len = svm_exit_table_len;
	if (svm_vmrun(&vm->vcpu)) {
		snprintf(err, errlen, "%s", m->diag);
		goto fail;
	}
	/* after the first VMRUN the ASID's TLB entries stay valid */
	if (m->prof->features_asid)
		vmcb_set(m, vm->vcpu.vmcb, VMCB_TLB_CONTROL, 1, TLB_CONTROL_DO_NOTHING);
	*ctx = vm;
	return 0;
fail:
	m->vmm = NULL;
	m->vmm_ctx = NULL;
	hv_detach(&vm->hv);
	free(vm);
	return -1;
}

static void svm_detach(struct vl_machine *m, void *ctx)
{
	struct svm_vmm *vm = ctx;
	if (!vm)
		return;
	hv_detach(&vm->hv);
	if (m->vmm_ctx == &vm->vcpu) {
		m->vmm = NULL;
		m->vmm_ctx = NULL;
	}
	free(vm);
}

const struct vl_engine_ops vl_engine_svm = {
	.name = "svm",
	.hw_assist = true,
	.desc = "AMD-V: VMCB in memory, exits by APM code; shadow (1st gen) or NPT (2nd gen)",
	.default_mmu = VL_MMU_NESTED,
	.mmu_mask = VL_MMU_BIT(VL_MMU_SHADOW) | VL_MMU_BIT(VL_MMU_NESTED),
	.check = svm_vmm_check,
	.attach = svm_attach,
	.detach = svm_detach,
};
