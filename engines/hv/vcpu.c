/* vcpu.c — the deprivileged guest kernel's virtual CPU (vcpu.h): monitor
 * structures, virtual event delivery through the guest's IDT, and the
 * emulation of what a deprivileged kernel cannot do itself. Shared by the
 * trap, bt and pv engines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/decode.h"
#include "vcpu.h"

#define CR0_ET (1ull << 4)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR4_TSD (1ull << 2)
#define CR0_GUEST_HW (VL_CR0_PE | VL_CR0_PG | VL_CR0_WP)   /* CR0 bits the hardware takes from the guest (via the MMU engine) */

static inline bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* Is the guest in 64-bit mode (virtual EFER.LMA and its CS.L)? Else it
 * runs 32-bit code: legacy protected mode or compatibility mode (an engine
 * that runs such code keeps the guest's CS attributes in m->cpu while the
 * VMM works, engines/bt). */
static bool guest64(const struct vl_vcpu *v)
{
	return (v->efer & VL_EFER_LMA) && (v->m->cpu.seg[VL_CS].attr & VL_SEG_ATTR_L);
}

/* A fault the virtual CPU raises (delivered to the guest, never to the host). */
struct vfault {
	unsigned vec;
	bool has_err;
	uint32_t err;
	uint64_t cr2;
};
static int vf(struct vfault *f, unsigned vec, bool has_err, uint32_t err)
{
	*f = (struct vfault){ .vec = vec, .has_err = has_err, .err = err };
	return 1;
}

/* ---- charging ------------------------------------------------------------ */
/* Charge VMM work priced by profile value f (a struct vl_profile member). */
#define vmm(v, f) VL_CHARGE((v)->m, VL_CAT_VMM, f)

void vl_vcpu_charge_trap(struct vl_vcpu *v)
{
	VL_CHARGE(v->m, VL_CAT_EXIT, exception_delivery);
	VL_CHARGE(v->m, VL_CAT_EXIT, insn_iret);
	vmm(v, vmm_exit_dispatch);
}

/* ---- views: virtual CPL, flags, selectors ---------------------------------- */
unsigned vl_vcpu_cpl(const struct vl_vcpu *v)
{
	return v->m->cpu.cpl == v->ring ? 0 : v->m->cpu.cpl;
}

uint64_t vl_vcpu_guest_rflags(const struct vl_vcpu *v)
{
	uint64_t fl = v->m->cpu.rflags;
	if (vl_vcpu_cpl(v) != 0)
		return fl;
	return (fl & ~(VL_FL_IF | VL_FL_IOPL)) | (v->vif ? VL_FL_IF : 0) | ((uint64_t)v->viopl << 12);
}

uint16_t vl_vcpu_guest_sel(const struct vl_vcpu *v, unsigned sreg)
{
	uint16_t s = v->m->cpu.seg[sreg].sel;
	return (s & 3) == v->ring ? (uint16_t)(s & ~3u) : s;
}

uint16_t vl_vcpu_real_sel(const struct vl_vcpu *v, uint16_t sel)
{
	return (sel & 3) == 0 ? (uint16_t)(sel | v->ring) : sel;
}

/* The hardware RFLAGS for guest-visible flags fl at virtual CPL 0: IOPL 0
 * (CLI/STI/IN/OUT trap), IF 1 (a held interrupt waits in the machine's
 * interrupt window). */
static uint64_t hw_flags(const struct vl_vcpu *v, uint64_t fl)
{
	fl &= ~(VL_FL_IF | VL_FL_IOPL);
	return fl | VL_FL_IF | 2;
}

/* A guest descriptor as the shadow GDT holds it: code and data at DPL 0
 * move to DPL ring (system descriptors unchanged). */
static uint64_t shadow_desc(const struct vl_vcpu *v, uint64_t lo)
{
	if (((lo >> 44) & 1) && ((lo >> 45) & 3) == 0)
		lo |= (uint64_t)v->ring << 45;
	return lo;
}
static uint16_t desc_attr(uint64_t lo) { return (uint16_t)((lo >> 40) & 0xf0ff); }

/* ---- the monitor mapping ------------------------------------------------------
 * The MMU engine keeps it in every root (mmu.h map_monitor): nothing to
 * re-establish after a root switch. Kept as a hook for MMU engines that
 * may need one. */
void vl_vcpu_sync(struct vl_vcpu *v)
{
	(void)v;
}

/* Rebuild the shadow GDT from the guest's (v->gdtr): DPL-adjusted copies at
 * the same indices, the monitor's TSS descriptor at VL_VCPU_MON_TSS_SEL.
 * 0, or 1 with a fault reading the guest's table. */
static int g_read(struct vl_vcpu *v, uint64_t va, void *dst, size_t n, struct vfault *f);
static int shadow_gdt_build(struct vl_vcpu *v, struct vfault *f)
{
	struct vl_machine *m = v->m;
	uint8_t *g = vl_phys_ptr(m, v->gdt_pa);
	size_t n = (size_t)v->gdtr.limit + 1;
	uint64_t *d;
	if (n > VL_VCPU_GDT_MAX) {
		vl_machine_stop(m, VL_M_ERROR, "vcpu: guest GDT of %zu bytes; the shadow GDT holds at most %d", n,
				VL_VCPU_GDT_MAX);
		return -1;
	}
	if (!(d = calloc(VL_VCPU_GDT_MAX / 8, 8))) {   /* 64 KiB: not on the stack */
		vl_machine_stop(m, VL_M_ERROR, "vcpu: out of host memory");
		return -1;
	}
	int rc = g_read(v, v->gdtr.base, d, n, f);
	if (rc) {
		free(d);
		return rc;
	}
	for (size_t i = 0; i < (n + 7) / 8; i++)
		d[i] = shadow_desc(v, d[i]);
	memset(g, 0, VL_VCPU_GDT_MAX);
	memcpy(g, d, n);
	free(d);
	VL_CHARGE(m, VL_CAT_VMM, vmm_emulate);   /* copying and adjusting the table */
	return 0;
}

/* ---- guest memory at virtual CPL 0 --------------------------------------------
 * Supervisor accesses through the current hardware root; the MMU engine
 * absorbs hidden faults. Split at page boundaries so a fault's address is
 * exact. 0, or 1 with the fault the guest must see, or -1 (machine stopped). */
static int g_access_k(struct vl_vcpu *v, uint64_t va, void *buf, size_t n, unsigned acc, struct vfault *f)
{
	struct vl_machine *m = v->m;
	uint8_t *b = buf;
	while (n) {
		size_t chunk = 4096 - (va & 0xfff);
		if (chunk > n)
			chunk = n;
		for (int tries = 0;; tries++) {
			uint32_t pfec = 0;
			int rc = (acc & VL_ACC_W) ? vl_virt_write(m, va, b, chunk, acc, &pfec)
						  : vl_virt_read(m, va, b, chunk, acc, &pfec);
			if (!rc)
				break;
			if (m->state != VL_M_RUNNING)
				return -1;
			if (rc != VL_PF)
				return vf(f, (unsigned)rc, rc == VL_GP || rc == VL_SS_FAULT, 0);
			if (tries >= 8) {
				vl_machine_stop(m, VL_M_ERROR, "vcpu: the MMU engine resolved a fault at %#" PRIx64 " 8 times in a row without effect", va);
				return -1;
			}
			int h = v->mmu && v->mmu->page_fault ? v->mmu->page_fault(m, v->mmu_ctx, va, &pfec, NULL) : VL_HOOK_PASS;
			vl_vcpu_sync(v);
			if (h == VL_HOOK_STOP || m->state != VL_M_RUNNING)
				return -1;
			if (h != VL_HOOK_DONE) {
				vf(f, VL_PF, true, pfec);
				f->cr2 = va;
				return 1;
			}
		}
		va += chunk;
		b += chunk;
		n -= chunk;
	}
	return 0;
}
static int g_access(struct vl_vcpu *v, uint64_t va, void *buf, size_t n, bool write, struct vfault *f)
{
	return g_access_k(v, va, buf, n, write ? VL_ACC_W : VL_ACC_R, f);
}
/* The guest's instruction bytes, read as the CPU fetches them (NX, SMEP;
 * SMAP does not apply to fetches). */
static int g_fetch(struct vl_vcpu *v, uint64_t va, void *dst, size_t n, struct vfault *f)
{
	return g_access_k(v, va, dst, n, VL_ACC_X, f);
}
static int g_read(struct vl_vcpu *v, uint64_t va, void *dst, size_t n, struct vfault *f)
{
	return g_access(v, va, dst, n, false, f);
}
static int g_write(struct vl_vcpu *v, uint64_t va, const void *src, size_t n, struct vfault *f)
{
	uint8_t tmp[64];
	if (n > sizeof tmp)
		return vl_machine_stop(v->m, VL_M_ERROR, "vcpu: internal write of %zu bytes", n), -1;
	memcpy(tmp, src, n);
	return g_access(v, va, tmp, n, true, f);
}

int vl_vcpu_read(struct vl_vcpu *v, uint64_t va, void *dst, size_t n)
{
	struct vfault f;
	return g_read(v, va, dst, n, &f);
}

/* Descriptor lo of guest selector sel (GDT or LDT). 0, or 1 with #GP(sel). */
static int g_desc(struct vl_vcpu *v, uint16_t sel, uint64_t *lo, uint64_t *hi, bool sys16, struct vfault *f)
{
	uint64_t base = v->gdtr.base, limit = v->gdtr.limit, off = sel & ~7u;
	if (sel & 4) {
		if (!v->ldtr.attr)
			return vf(f, VL_GP, true, sel & ~3u);
		base = v->ldtr.base;
		limit = v->ldtr.limit;
	}
	if (off + (sys16 ? 15 : 7) > limit)
		return vf(f, VL_GP, true, sel & ~3u);
	uint64_t d[2] = { 0, 0 };
	int rc = g_read(v, base + off, d, sys16 ? 16 : 8, f);
	*lo = d[0];
	if (hi)
		*hi = d[1];
	return rc;
}

/* ---- the held interrupt ---------------------------------------------------------
 * The machine's interrupt window (machine.h): vmm->interrupt returns
 * VL_HOOK_HOLD while the guest's virtual IF is 0 (the vector stays pending
 * in the APIC), vl_intr_release() when the guest can take it. */
static void hold(struct vl_vcpu *v)
{
	v->held = true;
}
static void release(struct vl_vcpu *v)
{
	if (!v->held)
		return;
	v->held = false;
	vl_intr_release(v->m);
}

void vl_vcpu_set_vif(struct vl_vcpu *v, bool on, bool shadow)
{
	v->vif = on;
	if (on && v->held) {
		if (shadow)
			v->m->cpu.intr_shadow = 1;
		release(v);
	}
}

void vl_vcpu_to_user(struct vl_vcpu *v)
{
	release(v);
}

/* ---- virtual delivery ----------------------------------------------------------- */
static int deliver_once(struct vl_vcpu *v, unsigned vec, enum vl_vcpu_ev kind, bool has_err, uint32_t err,
			uint64_t cr2, unsigned len, struct vfault *f)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	unsigned vcpl = vl_vcpu_cpl(v);
	uint32_t ext = kind == VL_VCPU_SOFT ? 0 : 1;
	uint32_t idt_err = vec * 8 + 2 + ext;
	uint64_t gate[2], lo;
	int rc;

	if ((uint32_t)vec * 16 + 15 > v->idtr.limit)
		return vf(f, VL_GP, true, idt_err);
	if ((rc = g_read(v, v->idtr.base + vec * 16ull, gate, 16, f)))
		return rc;
	unsigned type = (gate[0] >> 40) & 0xf, dpl = (gate[0] >> 45) & 3, p = (gate[0] >> 47) & 1;
	unsigned ist = (gate[0] >> 32) & 7;
	uint16_t sel = (uint16_t)(gate[0] >> 16);
	uint64_t target = (gate[0] & 0xffff) | (((gate[0] >> 48) & 0xffff) << 16) | (gate[1] << 32);
	if (type != 0xe && type != 0xf)
		return vf(f, VL_GP, true, idt_err);
	if (kind == VL_VCPU_SOFT && dpl < vcpl)
		return vf(f, VL_GP, true, vec * 8 + 2);
	if (!p)
		return vf(f, VL_NP, true, idt_err);
	if (!(sel & ~3u))
		return vf(f, VL_GP, true, ext);
	if ((rc = g_desc(v, sel, &lo, NULL, false, f))) {
		if (rc > 0 && f->vec == VL_GP)
			f->err |= ext;
		return rc;
	}
	unsigned dtype = (lo >> 40) & 0xf, ds = (lo >> 44) & 1, ddpl = (lo >> 45) & 3, dp = (lo >> 47) & 1;
	if (!ds || !(dtype & 8) || !((lo >> 53) & 1) || ((lo >> 54) & 1) || ddpl > vcpl)   /* 64-bit code: L = 1, D = 0 */
		return vf(f, VL_GP, true, (sel & ~3u) | ext);
	if (!dp)
		return vf(f, VL_NP, true, (sel & ~3u) | ext);
	unsigned ncpl = (dtype & 4) ? vcpl : ddpl;
	if (!canonical(target))
		return vf(f, VL_GP, true, ext);

	uint64_t rsp = c->gpr[VL_RSP];
	if (ncpl < vcpl || ist) {
		unsigned off = ist ? 36 + 8 * (ist - 1) : 4 + 8 * ncpl;
		if (!v->tr.attr || off + 7 > v->tr.limit)
			return vf(f, VL_TS, true, (v->tr.sel & ~3u) | ext);
		if ((rc = g_read(v, v->tr.base + off, &rsp, 8, f)))
			return rc;
		if (!canonical(rsp))
			return vf(f, VL_SS_FAULT, true, ext);
	}
	rsp &= ~0xfull;
	uint64_t frame[6], gfl = vl_vcpu_guest_rflags(v);
	unsigned n = 0;
	if (has_err)
		frame[n++] = err;
	frame[n++] = c->rip + (kind == VL_VCPU_SOFT ? len : 0);
	frame[n++] = vl_vcpu_guest_sel(v, VL_CS);
	/* a fault pushes RFLAGS with RF set, as the hardware (machine/exception.c,
	 * SDM Vol. 3A 17.3.1.1); traps, aborts, INT n and interrupts with RF clear */
	const uint32_t fault_vecs = 1u << VL_DE | 1u << 5 | 1u << VL_UD | 1u << 7 | 1u << VL_TS | 1u << VL_NP |
				    1u << VL_SS_FAULT | 1u << VL_GP | 1u << VL_PF | 1u << 16 | 1u << VL_AC | 1u << 19 | 1u << 20;
	frame[n++] = kind == VL_VCPU_EXC && vec < 32 && (fault_vecs >> vec & 1) ? gfl | VL_FL_RF : gfl & ~VL_FL_RF;
	frame[n++] = c->gpr[VL_RSP];
	frame[n++] = vl_vcpu_guest_sel(v, VL_SS);
	uint64_t nrsp = rsp - 8ull * n;
	/* the frame is the CPU's own write during an event delivery: a
	 * page-table page under it stays writable until the delivery is over
	 * (the shadow MMU's unsync, as for a hardware delivery), there is no
	 * instruction to emulate */
	struct vl_vectoring vsave = m->vectoring;
	m->vectoring = (struct vl_vectoring){ .valid = true, .vec = (uint8_t)vec,
					      .has_err = has_err, .err = err,
					      .type = (uint8_t)(kind == VL_VCPU_SOFT ? VL_EVT_SOFT : kind == VL_VCPU_EXC ? VL_EVT_EXC : VL_EVT_INTR) };
	rc = g_write(v, nrsp, frame, 8ull * n, f);
	m->vectoring = vsave;
	if (rc) {
		if (rc > 0 && f->vec == VL_GP)
			*f = (struct vfault){ .vec = VL_SS_FAULT, .has_err = true, .err = ext };
		return rc;
	}

	/* commit: the real state the hardware would have at virtual CPL ncpl */
	unsigned rcpl = ncpl == 0 ? v->ring : ncpl;
	if (ncpl != vcpl) {
		c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)rcpl, .base = 0, .limit = 0, .attr = 0 };
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	}
	c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel & ~3u) | rcpl), .base = 0, .limit = 0xffffffff,
					 .attr = desc_attr(shadow_desc(v, lo)) };
	c->cpl = (uint8_t)rcpl;
	c->gpr[VL_RSP] = nrsp;
	c->rip = target;
	uint64_t nfl = gfl & ~(VL_FL_TF | VL_FL_NT | VL_FL_RF | (1ull << 17));
	if (type == 0xe)
		nfl &= ~VL_FL_IF;
	if (ncpl == 0) {
		v->vif = (nfl & VL_FL_IF) != 0;
		v->viopl = (uint8_t)((nfl >> 12) & 3);
		c->rflags = hw_flags(v, nfl);
	} else {
		c->rflags = nfl;
	}
	c->halted = false;
	c->intr_shadow = 0;
	if (kind == VL_VCPU_INTR) {
		vl_count(m, VL_EV_INTERRUPTS, 1);
		vmm(v, vmm_intr);
	} else {
		vl_count(m, VL_EV_EXCEPTIONS, 1);
		vmm(v, vmm_exception);
		if (vec == VL_PF && kind == VL_VCPU_EXC) {
			v->cr2 = cr2;
			vl_count(m, VL_EV_PAGE_FAULTS, 1);
		}
	}
	return 0;
}

/* Deliveries in a row without a retired instruction before the run stops
 * as a timeout (the machine's own guard, machine/exception.c, for events
 * it delivers itself): a guest whose handler faults on its first
 * instruction would otherwise spin in the VMM forever. */
#define VCPU_STORM_MAX (1u << 20)

int vl_vcpu_deliver(struct vl_vcpu *v, unsigned vec, enum vl_vcpu_ev kind, bool has_err, uint32_t err,
		    uint64_t cr2, unsigned len)
{
	struct vl_machine *m = v->m;
	if (!(v->efer & VL_EFER_LMA)) {
		/* as the machine (machine/README.md): 8-byte gates and 32-bit
		 * frames are not modelled; a clean stop, never a wrong delivery */
		vl_machine_stop(m, VL_M_ERROR, "vcpu: event delivery in legacy protected mode (vector %u at rip %#" PRIx64
				") is not modelled", vec, m->cpu.rip);
		return VL_HOOK_STOP;
	}
	if (v->storm_insns != m->insns) {
		v->storm_insns = m->insns;
		v->storm_n = 0;
	}
	if (++v->storm_n > VCPU_STORM_MAX) {
		vl_machine_stop(m, VL_M_TIMEOUT, "event storm: %u virtual deliveries without retiring an instruction (vector %u at rip %#" PRIx64 ")",
				VCPU_STORM_MAX, vec, m->cpu.rip);
		return VL_HOOK_STOP;
	}
	for (int depth = 0; depth < 8; depth++) {
		struct vfault f;
		if (m->trace) {
			char c2[40] = "";
			if (vec == VL_PF && kind == VL_VCPU_EXC)
				snprintf(c2, sizeof c2, " cr2=%#" PRIx64, cr2);
			vl_trace(m, "vcpu: deliver %s %u err=%#x%s virtual cpl %u rip %#" PRIx64 " through the guest IDT",
				 kind == VL_VCPU_INTR ? "interrupt" : kind == VL_VCPU_SOFT ? "int" : "exception", vec,
				 has_err ? err : 0, c2, vl_vcpu_cpl(v), m->cpu.rip);
		}
		int rc = deliver_once(v, vec, kind, has_err, err, cr2, len, &f);
		if (rc == 0)
			return VL_HOOK_DONE;
		if (rc < 0 || m->state != VL_M_RUNNING)
			return VL_HOOK_STOP;
		/* a fault while delivering: the SDM's classes (Vol. 3 Table 6-5),
		 * exceptions only; soft and external events are benign */
		if (kind == VL_VCPU_EXC && vec == VL_DF) {
			vl_machine_stop(m, VL_M_TRIPLE_FAULT,
					"triple fault (virtual, deprivileged kernel): vector %u while delivering #DF at rip %#" PRIx64 " virtual cpl %u",
					f.vec, m->cpu.rip, vl_vcpu_cpl(v));
			return VL_HOOK_STOP;
		}
		if (kind == VL_VCPU_EXC && vl_exc_double_fault(vec, f.vec)) {
			vec = VL_DF;
			has_err = true;
			err = 0;
		} else {
			vec = f.vec;
			has_err = f.has_err;
			err = f.err;
			cr2 = f.cr2;
		}
		kind = VL_VCPU_EXC;
		len = 0;
	}
	vl_machine_stop(m, VL_M_ERROR, "vcpu: event delivery nested 8 deep");
	return VL_HOOK_STOP;
}

static int deliver_fault(struct vl_vcpu *v, const struct vfault *f)
{
	return vl_vcpu_deliver(v, f->vec, VL_VCPU_EXC, f->has_err, f->err, f->cr2, 0);
}
/* 1 = fault raised (deliver it), -1 = stopped. Returns the hook code. */
static int after(struct vl_vcpu *v, int rc, const struct vfault *f)
{
	if (rc < 0 || v->m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (rc > 0)
		return deliver_fault(v, f);
	return VL_HOOK_DONE;
}

/* ---- redirections: SYSCALL, SYSRET, IRET, far return, SWAPGS, SS ---------------------- */
int vl_vcpu_syscall(struct vl_vcpu *v, unsigned len)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	if (!(v->efer & VL_EFER_SCE))
		return vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
	/* from compatibility mode: to CSTAR on AMD, #UD on Intel (as the machine) */
	bool compat = !(c->seg[VL_CS].attr & VL_SEG_ATTR_L);
	if (!(v->efer & VL_EFER_LMA) || (compat && !strcmp(m->prof->cpu_vendor, "intel")))
		return vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
	uint64_t fl = vl_vcpu_guest_rflags(v);
	uint16_t sel = (uint16_t)(v->star >> 32);
	unsigned r = v->ring;
	c->gpr[VL_RCX] = compat ? (uint32_t)(c->rip + len) : c->rip + len;
	c->gpr[VL_R11] = fl & ~VL_FL_RF;
	c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel & 0xfffc) | r), .base = 0, .limit = 0xffffffff,
					 .attr = (uint16_t)(0xa09b | (r << 5)) };
	c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)(((sel + 8) & 0xfffc) | r), .base = 0, .limit = 0xffffffff,
					 .attr = (uint16_t)(0xc093 | (r << 5)) };
	uint64_t nfl = (fl & ~v->sfmask & ~VL_FL_RF) | 2;
	if (c->cpl != r)
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	c->cpl = (uint8_t)r;
	v->vif = (nfl & VL_FL_IF) != 0;
	v->viopl = (uint8_t)((nfl >> 12) & 3);
	c->rflags = hw_flags(v, nfl);
	c->rip = compat ? v->cstar : v->lstar;
	return VL_HOOK_DONE;
}

int vl_vcpu_sysret(struct vl_vcpu *v)
{
	return vl_vcpu_sysret_to(v, true);
}

int vl_vcpu_sysret_to(struct vl_vcpu *v, bool to64)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	if (!(v->efer & VL_EFER_SCE))
		return vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
	if (to64 && !canonical(c->gpr[VL_RCX]))
		return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, 0, 0, 0);
	uint16_t sel = (uint16_t)(v->star >> 48);
	if (to64)
		c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel + 16) | 3), .base = 0, .limit = 0xffffffff, .attr = 0xa0fb };
	else   /* SYSRET without REX.W: to 32-bit code (compatibility mode) */
		c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)(sel | 3), .base = 0, .limit = 0xffffffff, .attr = 0xc0fb };
	c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)((sel + 8) | 3), .base = 0, .limit = 0xffffffff, .attr = 0xc0f3 };
	c->rflags = (c->gpr[VL_R11] & 0x3c7fd7ull) | 2;
	c->cpl = 3;
	c->rip = to64 ? c->gpr[VL_RCX] : (uint32_t)c->gpr[VL_RCX];
	vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	release(v);   /* at CPL 3 the hardware IF is the guest's: nothing is held any more */
	if (c->rflags & VL_FL_TF) {   /* single-step follows TF at the end of SYSRET: #DB (trap) before the next instruction */
		v->dr[6] |= 1ull << 14;
		return vl_vcpu_deliver(v, VL_DB, VL_VCPU_EXC, false, 0, 0, 0);
	}
	return VL_HOOK_DONE;
}

/* Load a segment register with guest selector sel at virtual CPL `ncpl`
 * (the SS / CS checks of a far return or MOV SS). 0 or 1 (fault). */
static int load_seg(struct vl_vcpu *v, unsigned sreg, uint16_t sel, unsigned ncpl, struct vfault *f)
{
	struct vl_cpu *c = &v->m->cpu;
	unsigned rcpl = ncpl == 0 ? v->ring : ncpl;
	uint64_t lo;
	int rc;
	if (!(sel & ~3u)) {
		if (sreg == VL_SS && (ncpl == 3 || (sel & 3) != ncpl))
			return vf(f, VL_GP, true, 0);
		c->seg[sreg] = (struct vl_seg){ .sel = (uint16_t)(sreg == VL_SS ? rcpl : sel), .base = c->seg[sreg].base };
		return 0;
	}
	if ((rc = g_desc(v, sel, &lo, NULL, false, f)))
		return rc;
	unsigned type = (lo >> 40) & 0xf, s = (lo >> 44) & 1, dpl = (lo >> 45) & 3, p = (lo >> 47) & 1;
	bool code = type & 8;
	if (sreg == VL_SS) {
		if ((sel & 3) != ncpl || dpl != ncpl || !s || code || !(type & 2))
			return vf(f, VL_GP, true, sel & ~3u);
		if (!p)
			return vf(f, VL_SS_FAULT, true, sel & ~3u);
	} else if (sreg == VL_CS) {
		if (!s || !code || ((type & 4) ? dpl > (sel & 3u) : dpl != (sel & 3u)))
			return vf(f, VL_GP, true, sel & ~3u);
		if (!p)
			return vf(f, VL_NP, true, sel & ~3u);
		unsigned l = (lo >> 53) & 1, d = (lo >> 54) & 1;
		if ((l && d) || (!l && !d) || (l && !(v->efer & VL_EFER_LMA)))
			return vf(f, VL_GP, true, sel & ~3u);   /* L = D = 1 is reserved, 16-bit code is not modelled (#GP, as the machine) */
	} else {
		if (!s || (code && !(type & 2)) || ((!code || !(type & 4)) && (dpl < ncpl || dpl < (sel & 3u))))
			return vf(f, VL_GP, true, sel & ~3u);
		if (!p)
			return vf(f, VL_NP, true, sel & ~3u);
	}
	uint32_t limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
	if ((lo >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	uint16_t rsel = (sel & 3) == ncpl ? (uint16_t)((sel & ~3u) | rcpl) : sel;
	c->seg[sreg] = (struct vl_seg){ .sel = rsel,
					.base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24),
					.limit = limit, .attr = desc_attr(shadow_desc(v, lo)) };
	return 0;
}

/* Return from virtual CPL 0 to (rip, cs) [and (rsp, ss)]: what IRETQ/RETF
 * do at CPL 0 with guest selectors. 0 or 1 (fault). */
static int far_return(struct vl_vcpu *v, uint64_t rip, uint16_t cs, uint64_t rsp, uint16_t ss, bool load_ss,
		      struct vfault *f)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	unsigned rpl = cs & 3;
	int rc;
	if (!(cs & ~3u))
		return vf(f, VL_GP, true, 0);
	if (load_ss && !(ss & ~3u) && rpl == 3)
		return vf(f, VL_GP, true, 0);
	struct vl_seg save_cs = c->seg[VL_CS], save_ss = c->seg[VL_SS];
	if ((rc = load_seg(v, VL_CS, cs, rpl, f)))
		return rc;
	if (!(c->seg[VL_CS].attr & VL_SEG_ATTR_L)) {
		rip = (uint32_t)rip;   /* to 32-bit code (compatibility mode) */
	} else if (!canonical(rip)) {
		c->seg[VL_CS] = save_cs;
		return vf(f, VL_GP, true, 0);
	}
	if (load_ss && (rc = load_seg(v, VL_SS, ss, rpl, f))) {
		c->seg[VL_CS] = save_cs;
		c->seg[VL_SS] = save_ss;
		return rc;
	}
	c->cpl = (uint8_t)(rpl == 0 ? v->ring : rpl);
	c->gpr[VL_RSP] = rsp;
	c->rip = rip;
	if (rpl > 0) {
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
		for (int sr = 0; sr < 6; sr++) {
			struct vl_seg *g = &c->seg[sr];
			if (sr == VL_CS || sr == VL_SS)
				continue;
			bool conforming_code = (g->attr & 0x1c) == 0x1c;
			if (g->attr && !conforming_code && ((g->attr >> 5) & 3) < rpl)
				*g = (struct vl_seg){ .base = g->base };
		}
	}
	return 0;
}

/* Far JMP at virtual CPL 0 to guest selector sel (a code segment of DPL
 * 0 or conforming; no gates: #GP, as the machine), switching between
 * 64-bit and compatibility mode by the descriptor's L bit. 0 or 1 (fault). */
static int far_jump(struct vl_vcpu *v, uint64_t rip, uint16_t sel, struct vfault *f)
{
	struct vl_cpu *c = &v->m->cpu;
	if (!(sel & ~3u) || (sel & 3))
		return vf(f, VL_GP, true, sel & ~3u);
	struct vl_seg save_cs = c->seg[VL_CS];
	int rc = load_seg(v, VL_CS, sel, 0, f);
	if (rc)
		return rc;
	if (!(c->seg[VL_CS].attr & VL_SEG_ATTR_L)) {
		rip = (uint32_t)rip;
	} else if (!canonical(rip)) {
		c->seg[VL_CS] = save_cs;
		return vf(f, VL_GP, true, 0);
	}
	c->rip = rip;
	return 0;
}

/* IRET of operand size w (8: IRETQ, 4: IRETD, 2) at virtual CPL 0, as
 * the machine's: 64-bit mode pops SS:RSP always, 32-bit code (m32, ESP)
 * only on a return to an outer level. */
static int iret_w(struct vl_vcpu *v, unsigned w, bool m32)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	struct vfault f;
	uint64_t fr[5] = { 0 };
	uint8_t raw[40];
	if (c->rflags & VL_FL_NT)
		return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, 0, 0, 0);
	uint64_t sp = m32 ? (uint32_t)c->gpr[VL_RSP] : c->gpr[VL_RSP];
	int rc = g_read(v, sp, raw, (m32 ? 3 : 5) * w, &f);   /* 64-bit mode: the whole frame at once */
	if (rc)
		return after(v, rc, &f);
	for (unsigned k = 0; k < 3; k++)
		memcpy(&fr[k], raw + k * w, w);
	bool with_ss = !m32 || (fr[1] & 3) != 0;
	if (with_ss) {
		if (m32 && (rc = g_read(v, sp + 3 * w, raw + 3 * w, 2 * w, &f)))
			return after(v, rc, &f);
		for (unsigned k = 3; k < 5; k++)
			memcpy(&fr[k], raw + k * w, w);
	} else {
		fr[3] = m32 ? (uint32_t)(sp + 3 * w) : sp + 3 * w;
	}
	if (w < 8)
		fr[0] = w == 4 ? (uint32_t)fr[0] : (uint16_t)fr[0];
	uint64_t gfl = vl_vcpu_guest_rflags(v);
	if ((rc = far_return(v, fr[0], (uint16_t)fr[1], fr[3], (uint16_t)fr[4], with_ss, &f)))
		return after(v, rc, &f);
	if (w == 2)
		fr[2] = (gfl & ~0xffffull) | (fr[2] & 0xffff);   /* the upper flags stay */
	m->cpu.nmi_blocked = false;   /* IRET ends blocking by NMI (SDM 6.7.1) */
	uint64_t chg = 0x3f7fd5ull;   /* every flag IRET at CPL 0 may load (VM/VIF/VIP stay clear) */
	uint64_t nfl = ((gfl & ~chg) | (fr[2] & chg)) & ~(1ull << 17);
	if (c->cpl == v->ring) {
		v->vif = (nfl & VL_FL_IF) != 0;
		v->viopl = (uint8_t)((nfl >> 12) & 3);
		if (v->vif)
			release(v);
		c->rflags = hw_flags(v, nfl);
	} else {
		release(v);
		c->rflags = nfl | 2;
	}
	return VL_HOOK_DONE;
}

int vl_vcpu_iret(struct vl_vcpu *v)
{
	return iret_w(v, 8, false);
}

int vl_vcpu_swapgs(struct vl_vcpu *v, unsigned len)
{
	struct vl_cpu *c = &v->m->cpu;
	uint64_t t = c->seg[VL_GS].base;
	c->seg[VL_GS].base = v->kernel_gs_base;
	v->kernel_gs_base = t;
	c->rip += len;
	return VL_HOOK_DONE;
}

/* ---- this CPU as hv.h's "vendor" ------------------------------------------------
 * The deprivileged guest's state is the hardware's (m->cpu); an injected
 * exception is delivered virtually right away; skip advances RIP past the
 * instruction being emulated (v->cur_len). */
static uint64_t hvo_get_gpr(void *p, unsigned r) { return ((struct vl_vcpu *)p)->m->cpu.gpr[r & 15]; }
static void hvo_set_gpr(void *p, unsigned r, uint64_t val) { ((struct vl_vcpu *)p)->m->cpu.gpr[r & 15] = val; }
static uint64_t hvo_get_rip(void *p) { return ((struct vl_vcpu *)p)->m->cpu.rip; }
static void hvo_set_rip(void *p, uint64_t rip) { ((struct vl_vcpu *)p)->m->cpu.rip = rip; }
static void hvo_set_rflags(void *p, uint64_t fl) { ((struct vl_vcpu *)p)->m->cpu.rflags = fl; }
static void hvo_set_cr2(void *p, uint64_t cr2) { (void)p; (void)cr2; /* the virtual delivery sets the virtual CR2 */ }
static void hvo_inject(void *p, unsigned vec, bool has_err, uint32_t err)
{
	vl_vcpu_deliver(p, vec, VL_VCPU_EXC, has_err, err, 0, 0);
}
static void hvo_skip(void *p)
{
	struct vl_vcpu *v = p;
	v->m->cpu.rip += v->cur_len;
}
static void hvo_sync_cr3(void *p) { vl_vcpu_sync(p); }
static void hvo_msr_written(void *p, uint32_t msr, uint64_t val) { (void)p; (void)msr; (void)val; }

static const struct hv_vendor_ops vcpu_hv_ops = {
	.name = "vcpu",
	.get_gpr = hvo_get_gpr, .set_gpr = hvo_set_gpr, .get_rip = hvo_get_rip, .set_rip = hvo_set_rip,
	.set_rflags = hvo_set_rflags, .set_cr2 = hvo_set_cr2, .inject_exception = hvo_inject, .skip = hvo_skip,
	.sync_cr3 = hvo_sync_cr3, .msr_written = hvo_msr_written,
};

/* ---- emulation of privileged instructions at virtual CPL 0 --------------------- */
/* An instruction emulated for the guest after a #GP (not an intercept, so
 * the CPU did not count it) retired: counted like one the hardware retired
 * (guest_instructions, and --max-instructions). */
static void retire(struct vl_vcpu *v)
{
	v->emulated++;
	vl_retire_emulated(v->m);
}

static int gp0(struct vl_vcpu *v)
{
	return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, 0, 0, 0);
}

/* The MSRs the monitor keeps virtual (the hardware's belong to it: SYSCALL
 * enters the monitor). 1 = not one of them (hv_msr: the machine's MSRs and
 * APIC are the guest's), 0 = read, -1 = #GP. */
static int msr_read(struct vl_vcpu *v, uint32_t msr, uint64_t *val)
{
	switch (msr) {
	case VL_MSR_EFER: *val = v->efer; return 0;
	case VL_MSR_STAR: *val = v->star; return 0;
	case VL_MSR_LSTAR: *val = v->lstar; return 0;
	case VL_MSR_CSTAR: *val = v->cstar; return 0;
	case VL_MSR_SFMASK: *val = v->sfmask; return 0;
	case VL_MSR_KERNEL_GS_BASE: *val = v->kernel_gs_base; return 0;
	default: return 1;
	}
}

static int msr_write(struct vl_vcpu *v, uint32_t msr, uint64_t val)
{
	switch (msr) {
	case VL_MSR_EFER:
		if (val & ~(VL_EFER_SCE | VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE))
			return -1;
		if ((v->cr0 & VL_CR0_PG) && ((val ^ v->efer) & VL_EFER_LME))
			return -1;   /* LME changes only with paging off */
		v->efer = (val & ~VL_EFER_LMA) | (v->efer & VL_EFER_LMA);
		if ((v->efer & VL_EFER_LMA) && ((v->m->cpu.efer ^ v->efer) & VL_EFER_NXE))   /* the walker's NX bit: the guest's */
			v->m->cpu.efer = (v->m->cpu.efer & ~VL_EFER_NXE) | (v->efer & VL_EFER_NXE);
		return 0;
	case VL_MSR_STAR: v->star = val; return 0;
	case VL_MSR_LSTAR:
	case VL_MSR_CSTAR:
	case VL_MSR_KERNEL_GS_BASE:
		if (!canonical(val))
			return -1;
		*(msr == VL_MSR_LSTAR ? &v->lstar : msr == VL_MSR_CSTAR ? &v->cstar : &v->kernel_gs_base) = val;
		return 0;
	case VL_MSR_SFMASK: v->sfmask = val & 0xffffffffu; return 0;
	default: return 1;
	}
}

/* Must-be-zero bits of a CR3 value: 63..MAXPHYADDR, as the hardware
 * checks them (machine/exec_sys.c op_mov_to_cr) — except bit 63 with the
 * guest's CR4.PCIDE = 1, the no-flush hint. */
static uint64_t cr3_rsvd(struct vl_vcpu *v)
{
	uint32_t r[4];
	vl_cpuid(v->m, 0x80000008u, 0, r);
	unsigned mp = (r[0] & 0xff) ? (r[0] & 0xff) : 36;
	uint64_t rsvd = mp >= 64 ? 0 : ~((1ull << mp) - 1);
	if (v->cr4 & VL_CR4_PCIDE)
		rsvd &= ~(1ull << 63);
	return rsvd;
}

static int cr_write(struct vl_vcpu *v, unsigned cr, uint64_t val)
{
	struct vl_machine *m = v->m;
	switch (cr) {
	case 0:
	{
		if ((val >> 32) || ((val & VL_CR0_PG) && !(val & VL_CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
			return -1;
		if (!(val & VL_CR0_PG) && guest64(v))
			return -1;   /* paging off in 64-bit mode */
		if ((val & VL_CR0_PG) && !(v->cr0 & VL_CR0_PG) && (v->efer & VL_EFER_LME) && !(v->cr4 & VL_CR4_PAE))
			return -1;   /* IA-32e activation needs PAE */
		uint64_t old = v->cr0;
		v->cr0 = val | CR0_ET;
		hv_cr0_4_write(&v->hv, 0, v->cr0);   /* the MMU engine sets the hardware's paging bits */
		m->cpu.cr0 = (m->cpu.cr0 & CR0_GUEST_HW) | (v->hw_cr0 & ~CR0_GUEST_HW);
		if ((old ^ v->cr0) & VL_CR0_PG) {
			/* IA-32e mode (de)activation, virtually: the hardware runs a
			 * paging-off guest with PG = 1 through the MMU engine's
			 * nonpaging root, in legacy mode (LME/LMA clear) as vtx/shadow */
			bool lma = (v->cr0 & VL_CR0_PG) && (v->efer & VL_EFER_LME);
			v->efer = lma ? v->efer | VL_EFER_LMA : v->efer & ~VL_EFER_LMA;
			/* SCE on in the hardware: a user SYSCALL must reach the VMM */
			m->cpu.efer = lma ? v->efer | VL_EFER_SCE : v->efer & ~(VL_EFER_LME | VL_EFER_LMA);
		}
		return 0;
	}
	case 2:
		v->cr2 = val;
		return 0;
	case 3:
		if (val & cr3_rsvd(v))
			return -1;
		hv_cr3_write(&v->hv, val);
		return 0;
	case 4: {
		uint64_t ok = 0x1ull | 0x2ull | CR4_TSD | 0x8ull | VL_CR4_PSE | VL_CR4_PAE | 0x40ull | VL_CR4_PGE |
			      (1ull << 8) | (1ull << 9) | (1ull << 10) | VL_CR4_PCIDE |
			      (m->prof->features_smep ? VL_CR4_SMEP : 0) | (m->prof->features_smap ? VL_CR4_SMAP : 0);
		uint64_t gcr3 = v->mmu->cr3_read(m, v->mmu_ctx);
		if ((val & ~ok) || (!(val & VL_CR4_PAE) && (v->efer & VL_EFER_LMA)) ||
		    ((val & VL_CR4_PCIDE) && !(v->efer & VL_EFER_LMA)) ||
		    ((val & VL_CR4_PCIDE) && !(v->cr4 & VL_CR4_PCIDE) && (gcr3 & 0xfff)) ||
		    ((val & VL_CR4_PCIDE) && !m->prof->features_pcid))
			return -1;
		v->cr4 = val;
		hv_cr0_4_write(&v->hv, 4, val);
		return 0;
	}
	case 8:
		return hv_cr8_write(&v->hv, val);
	default:
		return -2;   /* #UD: no such control register */
	}
}

static uint64_t cr_read(struct vl_vcpu *v, unsigned cr)
{
	switch (cr) {
	case 0: return v->cr0;
	case 2: return v->cr2;
	case 3: return v->mmu->cr3_read(v->m, v->mmu_ctx);
	case 4: return v->cr4;
	default: return hv_cr8_read(&v->hv);
	}
}

/* LLDT / LTR with guest selector sel. 0, 1 (fault). */
static int load_sys(struct vl_vcpu *v, uint16_t sel, bool tr, struct vfault *f)
{
	uint64_t lo, hi;
	int rc;
	struct vl_seg *s = tr ? &v->tr : &v->ldtr;
	if (!(sel & ~3u)) {
		if (tr)
			return vf(f, VL_GP, true, 0);
		*s = (struct vl_seg){ 0 };
		v->m->cpu.ldtr = (struct vl_seg){ 0 };
		return 0;
	}
	if (sel & 4)
		return vf(f, VL_GP, true, sel & ~3u);
	if ((rc = g_desc(v, sel, &lo, &hi, true, f)))
		return rc;
	unsigned type = (lo >> 40) & 0xf, sbit = (lo >> 44) & 1, p = (lo >> 47) & 1;
	if (sbit || (tr ? type != 9 : type != 2))
		return vf(f, VL_GP, true, sel & ~3u);
	if (!p)
		return vf(f, VL_NP, true, sel & ~3u);
	uint64_t base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | ((hi & 0xffffffffu) << 32);
	uint32_t limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
	if ((lo >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	if (tr) {
		uint64_t busy = lo | (2ull << 40);   /* mark the guest's TSS busy, as LTR does */
		if ((rc = g_write(v, v->gdtr.base + (sel & ~7u), &busy, 8, f)))
			return rc;
		type = 11;
		uint64_t off = sel & ~7u;
		if (off + 8 <= VL_VCPU_GDT_MAX)
			memcpy(vl_phys_ptr(v->m, v->gdt_pa) + off, &busy, 8);
	}
	*s = (struct vl_seg){ .sel = sel, .base = base, .limit = limit,
			      .attr = (uint16_t)((desc_attr(lo) & ~0xfu) | type) };
	if (!tr)
		v->m->cpu.ldtr = *s;   /* the shadow GDT holds the guest's LDT descriptor at the same index */
	return 0;
}

static void set_gpr(struct vl_machine *m, unsigned r, unsigned size, uint64_t val)
{
	uint64_t *g = &m->cpu.gpr[r];
	switch (size) {
	case 1: *g = (*g & ~0xffull) | (val & 0xff); break;
	case 2: *g = (*g & ~0xffffull) | (val & 0xffff); break;
	default: *g = (uint32_t)val; break;
	}
}

/* INS/OUTS (REP or not) at virtual CPL 0, at c->rip: the machine's
 * emulator performs it (vl_emulate_one) with the I/O privilege of CPL 0
 * (IOPL lent as 3 for the call: CPL 0 <= any IOPL), through the hardware
 * root so the MMU engine fills hidden faults, at most one REP slice per
 * call (a slice leaves RIP on the instruction, which the guest executes
 * again: an endless REP is a guest timeout, never a VMM loop). The monitor
 * hole is mapped in that root but not in the guest's tables: an element
 * there is a not-present #PF, as the guest's own tables give natively;
 * the elements before it are done first (RCX and RSI/RDI then point at
 * it). *partial: RIP stays on the instruction (not retired yet).
 * Returns a hook code. */
static int sio_write(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n)
{
	uint32_t pfec = 0;
	return vl_virt_write(m, va, data, n, VL_ACC_W, &pfec);   /* supervisor: virtual CPL 0 */
}

/* 32-bit addressing (67h, or 32-bit code): the elements of a string
 * instruction are at base + (o +- j * sz) mod 2^32, j = 0, 1, ... — with a
 * segment base (an override) they may reach the monitor hole. Returns the
 * first j whose element overlaps the hole, UINT64_MAX if none does. The
 * offsets whose element overlaps it form one interval [lo, hi] of
 * [0, 2^32) (the hole, 8 TiB, is wider than the 4 GiB the offsets span),
 * and the walk visits the offsets = o (mod sz) in order, wrapping. */
static uint64_t hole_step32(uint64_t base, uint32_t o, uint64_t sz, bool down)
{
	const uint64_t span = VL_MONITOR_END - 1 - (VL_MONITOR_BASE - sz + 1);   /* bad linear: [MB - sz + 1, ME - 1] */
	const uint64_t s = VL_MONITOR_BASE - sz + 1 - base;                     /* bad offsets: (x - s) mod 2^64 <= span */
	uint64_t lo, hi;
	if (s <= 0xffffffffull) {
		lo = s;
		hi = 0xffffffffull;
	} else if (s > UINT64_MAX - span) {   /* the interval wraps through offset 0 */
		lo = 0;
		hi = s + span;
		if (hi > 0xffffffffull)
			hi = 0xffffffffull;
	} else {
		return UINT64_MAX;
	}
	if (o >= lo && o <= hi)
		return 0;
	uint64_t m = sz - 1;   /* sz = 1, 2, 4: divides 2^32 */
	if (!down) {
		uint64_t t = lo + ((o - lo) & m);   /* the first bad offset the walk visits */
		return t <= hi ? (uint32_t)(t - o) / sz : UINT64_MAX;
	}
	uint64_t back = (hi - o) & m;
	if (back > hi || hi - back < lo)
		return UINT64_MAX;
	return (uint32_t)(o - (hi - back)) / sz;
}

static int string_io(struct vl_vcpu *v, const struct vl_sens_event *ev, bool *partial)
{
	static const struct vl_emul_ops sio_ops = { .write = sio_write };
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	uint8_t ib[15];
	struct vfault f;
	int rc;
	*partial = false;
	size_t first = 4096 - (c->rip & 0xfff);
	if ((rc = g_read(v, c->rip, ib, first < 15 ? first : 15, &f)))
		return after(v, rc, &f);
	/* the address size and the source's segment as the machine's emulator
	 * will take them (its decoder, in the guest's mode): OUTS reads
	 * seg:[RSI], the override's base added (FS/GS; in 32-bit code also
	 * ES/CS/SS/DS); INS writes ES:[RDI], which no override changes */
	struct vl_decoded d;
	bool m32 = !guest64(v), a32 = m32;
	uint64_t base = 0;
	if (vl_decode_insn_m(ib, first < 15 ? first : 15, c->rip, m32, &d) > 0) {
		a32 = d.asz == 4;
		if (ev->write && d.seg < 6)
			base = c->seg[d.seg].base;
	} else {
		for (size_t i = 0; i < 15 && (ib[i] == 0x67 || ib[i] == 0x66 || ib[i] == 0xf2 || ib[i] == 0xf3 ||
					      ib[i] == 0x2e || ib[i] == 0x36 || ib[i] == 0x3e || ib[i] == 0x26 ||
					      ib[i] == 0x64 || ib[i] == 0x65); i++)
			a32 |= ib[i] == 0x67;
	}
	uint64_t rip = c->rip, sz = ev->size;
	uint64_t reg = c->gpr[ev->write ? VL_RSI : VL_RDI];
	uint64_t n = ev->rep ? (a32 ? (uint32_t)c->gpr[VL_RCX] : c->gpr[VL_RCX]) : 1;
	bool down = (c->rflags & VL_FL_DF) != 0;
	/* k = elements done before the first one in the hole (n: none) */
	uint64_t k = n, hole_va;
	if (!a32) {
		uint64_t a = reg + base;
		if (n && a + sz > VL_MONITOR_BASE && a < VL_MONITOR_END)
			k = 0;
		else if (n && down && a >= VL_MONITOR_END && (a - VL_MONITOR_END) / sz + 1 < n)
			k = (a - VL_MONITOR_END) / sz + 1;
		hole_va = down ? a - k * sz : a + k * sz;
	} else {
		uint32_t o = (uint32_t)reg;
		if (n) {
			uint64_t j = hole_step32(base, o, sz, down);
			k = j < n ? j : n;
		}
		hole_va = base + (uint32_t)(down ? o - (uint32_t)(k * sz) : o + (uint32_t)(k * sz));
	}
	if (k == 0 && n) {
		vf(&f, VL_PF, true, ev->write ? 0 : VL_PFEC_W);
		f.cr2 = hole_va;
		return deliver_fault(v, &f);
	}
	if (k < n)
		c->gpr[VL_RCX] = k;   /* the elements before the hole */
	uint64_t fl = c->rflags, cr2 = c->cr2;
	for (int tries = 0;; tries++) {
		uint32_t pfec = 0;
		c->rflags |= VL_FL_IOPL;
		rc = vl_emulate_one(m, &sio_ops, v, &pfec);
		c->rflags = (c->rflags & ~VL_FL_IOPL) | (fl & VL_FL_IOPL);
		uint64_t va = c->cr2;
		c->cr2 = cr2;
		if (rc < 0 || m->state != VL_M_RUNNING) {
			if (m->state == VL_M_RUNNING)
				vl_machine_stop(m, VL_M_ERROR, "vcpu: string I/O at rip %#" PRIx64 ": %s", rip, m->diag);
			return VL_HOOK_STOP;
		}
		if (k < n) {   /* the count the guest sees: what is left of its own */
			uint64_t left = ev->rep ? c->gpr[VL_RCX] : 0;
			c->gpr[VL_RCX] = (n - k) + left;
			if (!rc && left == 0) {   /* all before the hole done: fault on it */
				c->rip = rip;
				vf(&f, VL_PF, true, ev->write ? 0 : VL_PFEC_W);
				f.cr2 = hole_va;
				return deliver_fault(v, &f);
			}
		}
		if (rc == 0) {
			*partial = c->rip == rip;
			return VL_HOOK_DONE;
		}
		if (rc != VL_PF)
			return vl_vcpu_deliver(v, (unsigned)rc, VL_VCPU_EXC, rc == VL_GP || rc == VL_SS_FAULT, 0, 0, 0);
		if (tries >= 8) {
			vl_machine_stop(m, VL_M_ERROR, "vcpu: the MMU engine resolved a fault at %#" PRIx64 " 8 times in a row without effect", va);
			return VL_HOOK_STOP;
		}
		int h = v->mmu && v->mmu->page_fault ? v->mmu->page_fault(m, v->mmu_ctx, va, &pfec, NULL) : VL_HOOK_PASS;
		vl_vcpu_sync(v);
		if (h == VL_HOOK_STOP || m->state != VL_M_RUNNING)
			return VL_HOOK_STOP;
		if (h != VL_HOOK_DONE) {
			vf(&f, VL_PF, true, pfec);
			f.cr2 = va;
			return deliver_fault(v, &f);
		}
		if (k < n)
			c->gpr[VL_RCX] = c->gpr[VL_RCX] - (n - k);   /* back to the slice before the hole */
	}
}

int vl_vcpu_emulate(struct vl_vcpu *v, const struct vl_sens_event *ev)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	struct vfault f;
	uint64_t val;
	int rc;

	if (!v->no_decode)
		vmm(v, vmm_emulate);
	switch (ev->cls) {
	case VL_SENS_CLI:
		v->vif = false;
		break;
	case VL_SENS_STI:
		c->rip += ev->len;
		vl_vcpu_set_vif(v, true, true);
		goto done_noadv;
	case VL_SENS_HLT:
		vmm(v, vmm_hlt);
		if (!v->vif) {
			vl_machine_stop(m, VL_M_ERROR, "HLT at rip %#" PRIx64 " with the virtual IF 0: nothing can wake the vCPU", c->rip);
			return VL_HOOK_STOP;
		}
		c->rip += ev->len;
		c->halted = true;
		goto done_noadv;
	case VL_SENS_IO:
		vmm(v, vmm_io);
		if (ev->string) {
			bool partial;
			rc = string_io(v, ev, &partial);
			v->partial = partial;
			return rc;
		}
		if (ev->write)
			vl_io_out(m, ev->port, ev->size, (uint32_t)ev->value);
		else
			set_gpr(m, VL_RAX, ev->size, vl_io_in(m, ev->port, ev->size));
		break;
	case VL_SENS_RDMSR:
		if ((rc = msr_read(v, (uint32_t)c->gpr[VL_RCX], &val)) > 0)
			goto shared;
		vmm(v, vmm_msr);
		if (rc)
			return gp0(v);
		c->gpr[VL_RAX] = (uint32_t)val;
		c->gpr[VL_RDX] = val >> 32;
		break;
	case VL_SENS_WRMSR:
		if ((rc = msr_write(v, (uint32_t)c->gpr[VL_RCX], (c->gpr[VL_RDX] << 32) | (uint32_t)c->gpr[VL_RAX])) > 0)
			goto shared;
		vmm(v, vmm_msr);
		if (rc)
			return gp0(v);
		break;
	case VL_SENS_CR_READ:
		vmm(v, vmm_cr);
		c->gpr[ev->gpr & 15] = cr_read(v, ev->reg);
		break;
	case VL_SENS_CR_WRITE:
		vmm(v, vmm_cr);
		rc = cr_write(v, ev->reg, c->gpr[ev->gpr & 15]);
		vl_vcpu_sync(v);
		if (m->state != VL_M_RUNNING)
			return VL_HOOK_STOP;
		if (rc == -2)
			return vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
		if (rc)
			return gp0(v);
		break;
	case VL_SENS_INVLPG:
		v->cur_len = ev->len;
		hv_invlpg(&v->hv, ev->addr);   /* vmm.invlpg, the MMU engine, RIP advanced */
		goto done_noadv;
	case VL_SENS_CLTS:
		v->cr0 &= ~VL_CR0_TS;
		break;
	case VL_SENS_LMSW:
		v->cr0 = (v->cr0 & ~0xeull) | (ev->value & 0xe) | ((v->cr0 | ev->value) & 1);
		break;
	case VL_SENS_LGDT:
	case VL_SENS_LIDT: {
		uint8_t d[10] = { 0 };
		bool m32 = !guest64(v);   /* outside 64-bit mode: limit and a 32-bit base */
		if ((rc = g_read(v, ev->addr, d, m32 ? 6 : 10, &f)))
			return after(v, rc, &f);
		struct vl_dtr t = { .limit = (uint16_t)(d[0] | d[1] << 8) };
		memcpy(&t.base, d + 2, 8);
		if (!canonical(t.base))
			return gp0(v);
		if (ev->cls == VL_SENS_LIDT) {
			v->idtr = t;
			break;
		}
		struct vl_dtr old = v->gdtr;
		v->gdtr = t;
		if ((rc = shadow_gdt_build(v, &f))) {
			v->gdtr = old;
			return after(v, rc, &f);
		}
		break;
	}
	case VL_SENS_LLDT:
	case VL_SENS_LTR:
		if ((rc = load_sys(v, (uint16_t)ev->value, ev->cls == VL_SENS_LTR, &f)))
			return after(v, rc, &f);
		break;
	case VL_SENS_DR_ACCESS:
		if (ev->write) {
			if ((ev->reg == 6 || ev->reg == 7) && (c->gpr[ev->gpr & 15] >> 32))
				return gp0(v);
			v->dr[ev->reg & 7] = c->gpr[ev->gpr & 15];
		} else {
			c->gpr[ev->gpr & 15] = v->dr[ev->reg & 7];
		}
		break;
	case VL_SENS_WBINVD:
		break;
	case VL_SENS_SWAPGS:
		return vl_vcpu_swapgs(v, ev->len);
	case VL_SENS_SYSRET:
		return vl_vcpu_sysret(v);
	case VL_SENS_RDTSC:
	case VL_SENS_RDTSCP: {
		uint64_t t = m->tsc + (uint64_t)m->tsc_offset;
		c->gpr[VL_RAX] = (uint32_t)t;
		c->gpr[VL_RDX] = t >> 32;
		if (ev->cls == VL_SENS_RDTSCP)
			c->gpr[VL_RCX] = (uint32_t)c->tsc_aux;
		break;
	}
	case VL_SENS_RDPMC:
		return gp0(v);   /* no performance counters are modelled: #GP at any CPL */
	default:
		return VL_HOOK_PASS;
	}
	c->rip += ev->len;
done_noadv:
	return m->state == VL_M_RUNNING ? VL_HOOK_DONE : VL_HOOK_STOP;
shared:   /* an MSR the monitor does not virtualize: the shared handler (vmm.msr, #GP, RIP) */
	v->cur_len = ev->len;
	if (hv_msr(&v->hv, ev->cls == VL_SENS_WRMSR) == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	return VL_HOOK_DONE;
}

/* Effective address of a decoded memory operand (the machine's cpu_ea). */
static uint64_t insn_ea(const struct vl_machine *m, const struct vl_decoded *d, uint64_t rip)
{
	uint64_t a = (uint64_t)(int64_t)d->disp;
	if (d->riprel)
		a += rip + d->len;
	else if (d->base != VL_DREG_NONE)
		a += m->cpu.gpr[d->base];
	if (d->index != VL_DREG_NONE)
		a += m->cpu.gpr[d->index] << d->scale;
	if (d->asz == 4)
		a = (uint32_t)a;
	/* an override's base, as the machine applies it (FS/GS; ES/CS/SS/DS in
	 * 32-bit code, where its decoder names them) */
	return d->seg < 6 ? a + m->cpu.seg[d->seg].base : a;
}

/* A 16-bit r/m operand (selector of LLDT/LTR/MOV SS, LMSW's value). */
static int insn_rm16(struct vl_vcpu *v, const struct vl_decoded *d, uint64_t rip, uint64_t *val, struct vfault *f)
{
	if (!d->mem) {
		*val = v->m->cpu.gpr[d->rm] & 0xffff;
		return 0;
	}
	uint16_t w = 0;
	int rc = g_read(v, insn_ea(v->m, d, rip), &w, 2, f);
	*val = w;
	return rc;
}

/* The opcode bytes, past the legacy prefixes and REX (of an instruction
 * the decoder accepted): what tells MOV to Sreg, RETF, MOV to/from DR and
 * IN from OUT apart, which the decoder reports only by mnemonic / class. */
static const uint8_t *opcode(const uint8_t *b)
{
	while (*b == 0x66 || *b == 0x67 || *b == 0xf0 || *b == 0xf2 || *b == 0xf3 || *b == 0x2e ||
	       *b == 0x36 || *b == 0x3e || *b == 0x26 || *b == 0x64 || *b == 0x65)
		b++;
	if ((*b & 0xf0) == 0x40)
		b++;
	return b;
}

/* STAC / CLAC (0F 01 CB / CA) at virtual CPL 0 with SMAP in the profile:
 * set / clear the guest's EFLAGS.AC, which is the hardware's (the machine
 * checks SMAP against it: CPL 1 is a supervisor level, SDM Vol. 3A 4.6).
 * The hardware raises #UD for them at CPL 1; at a virtual CPL > 0 or
 * without SMAP the guest gets that #UD, as it would natively.
 * 1: emulated (RIP advanced, retired), 0: not STAC/CLAC. */
static int stac_clac(struct vl_vcpu *v, const uint8_t *op, unsigned len, int *what)
{
	struct vl_machine *m = v->m;
	if (op[0] != 0x0f || op[1] != 0x01 || (op[2] != 0xca && op[2] != 0xcb))
		return 0;
	if (!m->prof->features_smap || vl_vcpu_cpl(v) != 0)
		return vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0), 1;
	vmm(v, vmm_emulate);
	m->cpu.rflags = op[2] == 0xcb ? m->cpu.rflags | VL_FL_AC : m->cpu.rflags & ~VL_FL_AC;
	m->cpu.rip += len;
	*what = VL_VCPU_SEG;
	retire(v);
	return 1;
}

int vl_vcpu_gp(struct vl_vcpu *v, uint32_t err, int *what)
{
	struct vl_machine *m = v->m;
	struct vl_cpu *c = &m->cpu;
	struct vl_decoded d;
	struct vfault f;
	uint8_t buf[16] = { 0 };
	uint64_t rip = c->rip;
	size_t first = 4096 - (rip & 0xfff);
	int rc, len;
	int dummy;
	if (!what)
		what = &dummy;
	*what = VL_VCPU_REFLECT;

	if (first > 15)
		first = 15;
	if ((rc = g_fetch(v, rip, buf, first, &f)))
		return after(v, rc, &f);
	bool m32 = !guest64(v);
	len = vl_decode_insn_m(buf, first, rip, m32, &d);
	if (len == 0) {
		if ((rc = g_fetch(v, rip + first, buf + first, 15 - first, &f)))
			return after(v, rc, &f);
		len = vl_decode_insn_m(buf, 15, rip, m32, &d);
	}
	if (len <= 0)
		return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, err, 0, 0);
	const uint8_t *op = opcode(buf);
	if (stac_clac(v, op, (unsigned)d.len, what))
		return m->state == VL_M_RUNNING ? VL_HOOK_DONE : VL_HOOK_STOP;

	struct vl_sens_event ev = { .cls = (enum vl_sens)d.sens, .len = d.len, .gpr = 0xff, .insn_rip = rip };
	switch (d.sens) {
	case VL_SENS_CLI: case VL_SENS_STI: case VL_SENS_HLT: case VL_SENS_RDMSR: case VL_SENS_WRMSR:
	case VL_SENS_CLTS: case VL_SENS_WBINVD: case VL_SENS_SWAPGS: case VL_SENS_RDPMC:
	case VL_SENS_RDTSC: case VL_SENS_RDTSCP:
		break;
	case VL_SENS_SYSRET:
		if (!(d.rex & 8)) {   /* to compatibility mode */
			uint64_t exc0 = m->ctr->events[VL_EV_EXCEPTIONS];
			vmm(v, vmm_emulate);
			*what = VL_SENS_SYSRET;
			rc = vl_vcpu_sysret_to(v, false);
			if (rc == VL_HOOK_DONE && m->ctr->events[VL_EV_EXCEPTIONS] == exc0)
				retire(v);
			return rc;
		}
		break;
	case VL_SENS_IO:   /* E4-E7 imm8 port, EC-EF DX, 6C-6F INS/OUTS; odd = word/dword */
		ev.write = (op[0] & 0xf6) == 0xe6 || (op[0] & 0xfe) == 0x6e;
		ev.string = (op[0] & 0xfc) == 0x6c;
		ev.size = (uint8_t)(!(op[0] & 1) ? 1 : d.osz == 2 ? 2 : 4);
		ev.port = d.imm_size ? (uint16_t)d.imm : (uint16_t)c->gpr[VL_RDX];
		ev.value = c->gpr[VL_RAX] & (ev.size == 4 ? 0xffffffffu : ev.size == 2 ? 0xffffu : 0xffu);
		ev.rep = d.rep != 0;
		break;
	case VL_SENS_CR_READ: case VL_SENS_CR_WRITE:
		ev.reg = d.reg;
		ev.gpr = d.rm;
		ev.write = d.sens == VL_SENS_CR_WRITE;
		ev.value = c->gpr[d.rm & 15];
		break;
	case VL_SENS_DR_ACCESS:   /* 0F 21 from, 0F 23 to */
		ev.reg = d.reg == 4 || d.reg == 5 ? (uint8_t)(d.reg + 2) : d.reg;
		ev.gpr = d.rm;
		ev.write = op[1] == 0x23;
		ev.value = c->gpr[d.rm & 15];
		break;
	case VL_SENS_INVLPG: case VL_SENS_LGDT: case VL_SENS_LIDT:
		ev.addr = insn_ea(m, &d, rip);
		break;
	case VL_SENS_LLDT: case VL_SENS_LTR: case VL_SENS_LMSW:
		if ((rc = insn_rm16(v, &d, rip, &ev.value, &f)))
			return after(v, rc, &f);
		break;
	case VL_SENS_IRET:
		vmm(v, vmm_emulate);
		*what = VL_SENS_IRET;
		rc = iret_w(v, d.osz, m32);   /* IRETQ, or IRETD (32-bit code; 64-bit code without REX.W) */
		retire(v);
		return rc;
	default:
		if (op[0] == 0x8e && (d.reg & 7) == VL_SS) {   /* MOV SS with an RPL 0 selector (DS/ES/FS/GS loads succeed on the shadow GDT) */
			uint64_t sel;
			if ((rc = insn_rm16(v, &d, rip, &sel, &f)) || (rc = load_seg(v, VL_SS, (uint16_t)sel, 0, &f)))
				return after(v, rc, &f);
			c->intr_shadow = 1;
			c->rip += d.len;
			vmm(v, vmm_emulate);
			*what = VL_VCPU_SEG;
			goto emulated;
		}
		if ((m32 && (op[0] == 0x07 || op[0] == 0x17 || op[0] == 0x1f)) || (op[0] == 0x0f && (op[1] == 0xa1 || op[1] == 0xa9))) {
			/* POP ES/SS/DS (32-bit code), POP FS/GS: the selector read
			 * from the stack top (d.osz bytes, ESP in 32-bit code), the
			 * load with virtual CPL 0's checks (#GP/#SS/#NP with the
			 * selector, as the hardware), then ESP/RSP moves; POP SS
			 * blocks interrupts for one instruction, as MOV SS */
			unsigned sreg = op[0] == 0x0f ? (op[1] == 0xa1 ? VL_FS : VL_GS) : (unsigned)(op[0] >> 3);
			unsigned w = d.osz;
			uint64_t sp = m32 ? (uint32_t)c->gpr[VL_RSP] : c->gpr[VL_RSP], sel = 0;
			if ((rc = g_read(v, sp, &sel, w, &f)) || (rc = load_seg(v, sreg, (uint16_t)sel, 0, &f)))
				return after(v, rc, &f);
			c->gpr[VL_RSP] = m32 ? (uint32_t)(sp + w) : sp + w;
			if (sreg == VL_SS)
				c->intr_shadow = 1;
			c->rip += d.len;
			vmm(v, vmm_emulate);
			*what = VL_VCPU_SEG;
			goto emulated;
		}
		if ((op[0] == 0xca || op[0] == 0xcb) && (d.osz == 8 || d.osz == 4)) {   /* RETF to an RPL 0 code selector */
			uint64_t fr[2] = { 0, 0 };
			unsigned w = d.osz;   /* 8, or 4: RETF in 32-bit code, or without REX.W in 64-bit code */
			uint64_t sp = m32 ? (uint32_t)c->gpr[VL_RSP] : c->gpr[VL_RSP];
			if ((rc = g_read(v, sp, &fr[0], w, &f)) || (rc = g_read(v, sp + w, &fr[1], w, &f)))
				return after(v, rc, &f);
			uint16_t cs = (uint16_t)fr[1];
			uint64_t adj = op[0] == 0xca ? (d.imm & 0xffff) : 0;
			if ((cs & 3) != 0)   /* to an outer level the hardware does it itself: this #GP is the guest's */
				return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, err, 0, 0);
			if ((rc = far_return(v, fr[0], cs, sp + 2 * w + adj, 0, false, &f)))
				return after(v, rc, &f);
			vmm(v, vmm_emulate);
			*what = VL_VCPU_SEG;
			goto emulated;
		}
		if (((op[0] == 0x9a && m32) || (op[0] == 0xff && d.mem && (d.reg & 7) == 3)) && d.osz != 2) {
			/* far CALL (ptr16:32, m16:32/64): the far JMP's segment load,
			 * then CS (the guest's selector) and the return address
			 * pushed, CS first, as the machine (a push fault: nothing
			 * loaded) */
			uint64_t off = 0, ret = rip + (uint64_t)d.len;
			uint16_t sel = 0, gcs = vl_vcpu_guest_sel(v, VL_CS);
			unsigned w = d.osz;
			if (op[0] == 0x9a) {
				uint32_t o32;
				memcpy(&o32, op + 1, 4);
				memcpy(&sel, op + 5, 2);
				off = o32;
			} else {
				uint64_t ea = insn_ea(m, &d, rip);
				if ((rc = g_read(v, ea, &off, w, &f)) || (rc = g_read(v, ea + w, &sel, 2, &f)))
					return after(v, rc, &f);
			}
			if (m32)
				ret = (uint32_t)ret;
			struct vl_seg save_cs = c->seg[VL_CS];
			uint64_t sp = m32 ? (uint32_t)c->gpr[VL_RSP] : c->gpr[VL_RSP];
			if ((rc = far_jump(v, off, sel, &f)))
				return after(v, rc, &f);
			uint64_t cs64 = gcs;
			if ((rc = g_write(v, sp - w, &cs64, w, &f)) || (rc = g_write(v, sp - 2 * w, &ret, w, &f))) {
				c->seg[VL_CS] = save_cs;
				c->rip = rip;
				return after(v, rc, &f);
			}
			c->gpr[VL_RSP] = m32 ? (uint32_t)(sp - 2 * w) : sp - 2 * w;
			vmm(v, vmm_emulate);
			*what = VL_VCPU_SEG;
			goto emulated;
		}
		if ((op[0] == 0xea && m32) || (op[0] == 0xff && d.mem && (d.reg & 7) == 5)) {   /* far JMP (ptr16:32, m16:32/64) */
			uint64_t off = 0;
			uint16_t sel = 0;
			if (op[0] == 0xea) {
				uint32_t o32;
				memcpy(&o32, op + 1, 4);
				memcpy(&sel, op + 5, 2);
				off = o32;
			} else {
				unsigned w = d.osz == 8 ? 8 : 4;
				uint64_t ea = insn_ea(m, &d, rip);
				if ((rc = g_read(v, ea, &off, w, &f)) || (rc = g_read(v, ea + w, &sel, 2, &f)))
					return after(v, rc, &f);
			}
			if ((rc = far_jump(v, off, sel, &f)))
				return after(v, rc, &f);
			vmm(v, vmm_emulate);
			*what = VL_VCPU_SEG;
			goto emulated;
		}
		return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, err, 0, 0);
	}
	*what = ev.cls;
	uint64_t exc = m->ctr->events[VL_EV_EXCEPTIONS];
	rc = vl_vcpu_emulate(v, &ev);
	if (rc == VL_HOOK_STOP && m->state == VL_M_EXITED) {   /* an OUT to the exit device ended the run: */
		retire(v);                                    /* it retired, as it does natively */
		return rc;
	}
	if (rc == VL_HOOK_PASS)
		return vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, err, 0, 0);
	if (rc == VL_HOOK_DONE && m->ctr->events[VL_EV_EXCEPTIONS] == exc && !v->partial)   /* retired (it raised no fault) */
		retire(v);
	v->partial = false;
	return rc;
emulated:
	retire(v);
	return VL_HOOK_DONE;
}

/* ---- hooks' bodies ----------------------------------------------------------------- */
int vl_vcpu_exception(struct vl_vcpu *v, unsigned vec, bool has_err, uint32_t err, uint64_t cr2, int *what)
{
	struct vl_machine *m = v->m;
	int rc;
	if (what)
		*what = VL_VCPU_REFLECT;
	if (vec == VL_PF && v->mmu->page_fault) {
		uint32_t pfec = err;
		rc = hv_page_fault(&v->hv, cr2, &pfec, NULL);   /* absorbed (hidden / tracing) or the guest's */
		if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
			return VL_HOOK_STOP;
		if (rc == VL_HOOK_DONE)
			return VL_HOOK_DONE;
		return vl_vcpu_deliver(v, VL_PF, VL_VCPU_EXC, true, pfec, cr2, 0);
	}
	if (vec == VL_GP && m->cpu.cpl == v->ring) {
		rc = vl_vcpu_gp(v, err, what);
		vl_vcpu_sync(v);
		return rc;
	}
	if (vec == VL_UD && m->cpu.cpl == v->ring) {   /* STAC / CLAC: #UD at the deprivileged level */
		uint8_t b[3] = { 0, 0, 0 };
		struct vfault f;
		int dummy;
		if (g_fetch(v, m->cpu.rip, b, 3, &f) == 0 && stac_clac(v, b, 3, what ? what : &dummy))
			return m->state == VL_M_RUNNING ? VL_HOOK_DONE : VL_HOOK_STOP;
	}
	return vl_vcpu_deliver(v, vec, VL_VCPU_EXC, has_err, err, cr2, 0);
}

int vl_vcpu_interrupt(struct vl_vcpu *v, unsigned vec)
{
	if (vl_vcpu_cpl(v) == 0 && !v->vif) {
		vmm(v, vmm_intr);
		hold(v);
		return VL_HOOK_HOLD;
	}
	vl_apic_accept(v->m, vec);
	return vl_vcpu_deliver(v, vec, VL_VCPU_INTR, false, 0, 0, 0);
}

uint64_t vl_vcpu_intercepts(void)
{
	return VL_SENS_BIT(VL_SENS_SYSCALL) | VL_SENS_BIT(VL_SENS_INTN) | VL_SENS_BIT(VL_SENS_IRET);
}

/* ---- setup ------------------------------------------------------------------------ */
int vl_vcpu_init(struct vl_vcpu *v, struct vl_machine *m, const struct vl_mmu_ops *mmu, void *mmu_ctx,
		 unsigned ring, char *err, size_t errlen)
{
	struct vl_cpu *c = &m->cpu;
	memset(v, 0, sizeof *v);
	v->m = m;
	v->mmu = mmu;
	v->mmu_ctx = mmu_ctx;
	v->ring = ring;
	v->hv = (struct hv){ .m = m, .vo = &vcpu_hv_ops, .vendor = v, .mmu = mmu, .mmu_ctx = mmu_ctx,
			     .mmu_kind = mmu ? mmu->kind : VL_MMU_NONE };
	if (ring < 1 || ring > 2) {
		snprintf(err, errlen, "vcpu: the deprivileged kernel runs at ring 1 or 2, not %u", ring);
		return -1;
	}
	if (!mmu || !mmu->cr3_write || !mmu->cr3_read || !mmu->map_monitor) {
		snprintf(err, errlen, "vcpu: a deprivileged kernel needs an MMU engine that maps the monitor into every root (map_monitor: shadow)");
		return -1;
	}
	if (c->cpl != 0 || !(c->cr0 & VL_CR0_PG)) {
		snprintf(err, errlen, "vcpu: the guest must be loaded at CPL 0 with paging on");
		return -1;
	}
	/* the monitor's pages: GDT, IDT, TSS and the tables mapping them */
	v->gdt_pa = vl_mem_alloc_page(m);
	for (unsigned i = 1; i < VL_VCPU_GDT_PAGES; i++)   /* contiguous: the shadow GDT is written as one array */
		if (vl_mem_alloc_page(m) != v->gdt_pa + 4096ull * i)
			v->gdt_pa = 0;
	v->idt_pa = vl_mem_alloc_page(m);
	v->tss_pa = vl_mem_alloc_page(m);
	if (!v->gdt_pa || !v->idt_pa || !v->tss_pa) {
		snprintf(err, errlen, "vcpu: no (contiguous) monitor memory for the monitor's GDT/IDT/TSS");
		return -1;
	}
	/* read-only, supervisor, not executable, in every root: the hardware
	 * reads descriptors there; the guest may not write them */
	for (unsigned i = 0; i < VL_VCPU_GDT_PAGES; i++)
		if (mmu->map_monitor(m, mmu_ctx, VL_VCPU_MON_GDT + 4096ull * i, v->gdt_pa + 4096ull * i, 0)) {
			snprintf(err, errlen, "vcpu: the MMU engine could not map the monitor's GDT");
			return -1;
		}
	if (mmu->map_monitor(m, mmu_ctx, VL_VCPU_MON_IDT, v->idt_pa, 0) ||
	    mmu->map_monitor(m, mmu_ctx, VL_VCPU_MON_TSS, v->tss_pa, 0)) {
		snprintf(err, errlen, "vcpu: the MMU engine could not map the monitor's GDT/IDT/TSS");
		return -1;
	}
	/* the monitor's TSS descriptor (64-bit available TSS, 104 bytes), loaded busy */
	uint64_t b = VL_VCPU_MON_TSS;
	uint64_t tlo = 103 | ((b & 0xffffff) << 16) | (0x8bull << 40) | (((b >> 24) & 0xff) << 56), thi = b >> 32;
	vl_phys_write64(m, v->gdt_pa + VL_VCPU_MON_TSS_SEL, tlo);
	vl_phys_write64(m, v->gdt_pa + VL_VCPU_MON_TSS_SEL + 8, thi);

	/* the loader's state becomes the virtual state */
	v->vif = (c->rflags & VL_FL_IF) != 0;
	v->viopl = (uint8_t)((c->rflags >> 12) & 3);
	v->cr0 = c->cr0;
	v->cr2 = c->cr2;
	v->cr4 = c->cr4;
	v->efer = c->efer;
	v->star = c->star;
	v->lstar = c->lstar;
	v->cstar = c->cstar;
	v->sfmask = c->sfmask;
	v->kernel_gs_base = c->kernel_gs_base;
	memcpy(v->dr, c->dr, sizeof v->dr);
	v->gdtr = c->gdtr;
	v->idtr = c->idtr;
	v->ldtr = c->ldtr;
	v->tr = c->tr;
	v->hw_cr0 = c->cr0;   /* the monitor keeps the boot CR0's other bits (TS, MP, NE, ...) for itself */
	vl_vcpu_sync(v);
	struct vfault f;
	int rc = shadow_gdt_build(v, &f);
	if (rc) {
		snprintf(err, errlen, "vcpu: cannot read the guest's boot GDT at %#" PRIx64 " (vector %u)", v->gdtr.base, f.vec);
		return -1;
	}

	/* deprivilege: monitor tables, ring `ring`, IOPL 0, IF 1 */
	c->gdtr = (struct vl_dtr){ .base = VL_VCPU_MON_GDT, .limit = 0xffff };
	c->idtr = (struct vl_dtr){ .base = VL_VCPU_MON_IDT, .limit = 0xfff };
	c->tr = (struct vl_seg){ .sel = VL_VCPU_MON_TSS_SEL, .base = VL_VCPU_MON_TSS, .limit = 103, .attr = 0x8b };
	for (int s = 0; s < 6; s++) {
		struct vl_seg *g = &c->seg[s];
		if ((g->sel & ~3u) && (g->sel & 3) == 0) {
			g->sel |= (uint16_t)ring;
			g->attr = (uint16_t)((g->attr & ~0x60u) | (ring << 5));
		} else if (s == VL_SS && !(g->sel & ~3u)) {
			g->sel = (uint16_t)ring;
		}
	}
	c->cpl = (uint8_t)ring;
	c->rflags = hw_flags(v, c->rflags);
	m->exc_intercept = 0xffffffffu;
	m->intr_intercept = true;
	vl_tlb_flush_all(m);
	return 0;
}
