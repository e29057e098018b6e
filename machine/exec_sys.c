/* exec_sys.c — system and sensitive instructions: port I/O, flags and
 * interrupt control, software interrupts and returns, SYSCALL/SYSRET,
 * SWAPGS, HLT, CPUID, RDTSC, MSRs, control and debug registers, INVLPG,
 * descriptor tables, segment registers, VMCALL/VMMCALL, callouts, markers.
 *
 * Order inside every handler follows the SDM's priorities for VMX/SVM:
 * privilege (#GP at CPL > 0) and operand faults that precede a VM exit are
 * checked first, then the VMM's intercept hook (cpu_intercept), then the
 * architectural effect. x86's non-virtualizable behaviours are kept as the
 * hardware has them: POPF at CPL > IOPL leaves IF alone silently; PUSHF,
 * SGDT, SIDT, SLDT, STR, SMSW and MOV from CS work at any CPL and reveal
 * the real state.
 */
#include <stdio.h>

#include "cpu.h"

#define PRIV() do { if (m->cpu.cpl) return X_GP(0); } while (0)
#define HOOK(ev) do { int h_ = cpu_intercept(m, i, (ev)); if (h_ >= 0) return h_; } while (0)

static inline int next(struct vl_machine *m, const struct vl_insn *i)
{
	m->cpu.rip += i->len;
	return VL_X_OK;
}
static inline bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}
static inline unsigned iopl(const struct vl_machine *m) { return (m->cpu.rflags >> 12) & 3; }

/* ---- port I/O ----------------------------------------------------------------- */
static int io(struct vl_machine *m, const struct vl_insn *i, bool out, uint16_t port)
{
	unsigned sz = i->osz == 8 ? 4 : i->osz;
	if (m->cpu.cpl > iopl(m))
		return X_GP(0);   /* the TSS I/O bitmap is not modelled */
	struct vl_sens_event ev = { .write = out, .size = (uint8_t)sz, .port = port, .gpr = VL_RAX,
				    .value = out ? m->cpu.gpr[VL_RAX] & sz_mask(sz) : 0 };
	HOOK(&ev);
	if (out)
		vl_io_out(m, port, sz, (uint32_t)(m->cpu.gpr[VL_RAX] & sz_mask(sz)));
	else
		reg_set(m, VL_RAX, sz, 0, vl_io_in(m, port, sz));
	cpu_kick(m);   /* the exit device may have stopped the machine: the loop looks */
	return next(m, i);
}
int op_in(struct vl_machine *m, const struct vl_insn *i)
{
	return io(m, i, false, i->op == VL_OP_IN_I ? (uint16_t)i->imm : (uint16_t)m->cpu.gpr[VL_RDX]);
}
int op_out(struct vl_machine *m, const struct vl_insn *i)
{
	return io(m, i, true, i->op == VL_OP_OUT_I ? (uint16_t)i->imm : (uint16_t)m->cpu.gpr[VL_RDX]);
}

/* ---- flags ---------------------------------------------------------------------- */
int op_pushf(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	uint64_t f = cpu_rflags(m) & ~(VL_FL_RF | (1ull << 17) /* VM */);
	int rc = push(m, i->osz, f & sz_mask(i->osz));
	return rc ? rc : next(m, i);
}

int op_popf(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = pop_peek(m, i->osz, 0, &v);
	if (rc)
		return rc;
	struct vl_sens_event ev = { .value = v, .gpr = 0xff };
	HOOK(&ev);
	uint64_t old = cpu_rflags(m);
	uint64_t chg = FL_ARITH | VL_FL_TF | VL_FL_DF | VL_FL_NT | VL_FL_AC | VL_FL_ID;
	if (m->cpu.cpl == 0)
		chg |= VL_FL_IOPL | VL_FL_IF;
	else if (m->cpu.cpl <= iopl(m))
		chg |= VL_FL_IF;   /* CPL > IOPL: IF silently unchanged (non-virtualizable) */
	if (i->osz == 2)
		chg &= 0xffff;
	m->cpu.gpr[VL_RSP] += i->osz;
	cpu_set_rflags(m, ((old & ~chg) | (v & chg)) & ~VL_FL_RF);
	cpu_kick(m);
	return next(m, i);
}

int op_cli(struct vl_machine *m, const struct vl_insn *i)
{
	if (m->cpu.cpl > iopl(m))
		return X_GP(0);
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	m->cpu.rflags &= ~VL_FL_IF;
	return next(m, i);
}

int op_sti(struct vl_machine *m, const struct vl_insn *i)
{
	if (m->cpu.cpl > iopl(m))
		return X_GP(0);
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	if (!(m->cpu.rflags & VL_FL_IF))
		m->cpu.intr_shadow = 1;   /* interrupts wait one more instruction */
	m->cpu.rflags |= VL_FL_IF;
	cpu_kick(m);
	return next(m, i);
}

/* STAC / CLAC (SDM Vol. 2B): set / clear EFLAGS.AC; #UD without SMAP in
 * CPUID or at CPL > 0 (no VM exit for either on VT-x or AMD-V). */
static int stac_clac(struct vl_machine *m, const struct vl_insn *i, bool set)
{
	if (!m->prof->features_smap || m->cpu.cpl)
		return X_UD();
	m->cpu.rflags = set ? m->cpu.rflags | VL_FL_AC : m->cpu.rflags & ~VL_FL_AC;
	return next(m, i);
}
int op_stac(struct vl_machine *m, const struct vl_insn *i) { return stac_clac(m, i, true); }
int op_clac(struct vl_machine *m, const struct vl_insn *i) { return stac_clac(m, i, false); }

/* ---- software interrupts, returns ------------------------------------------------ */
int op_int(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned vec = i->op == VL_OP_INT3 ? 3 : (unsigned)(i->imm & 0xff);
	struct vl_sens_event ev = { .vector = (uint8_t)vec, .gpr = 0xff };
	HOOK(&ev);
	cpu_kick(m);   /* CPL and stack change: the loop re-examines before the handler */
	/* INT n retires like any instruction (and is counted and charged, as
	 * when a VMM emulates it); one whose delivery faults does not. */
	if (cpu_deliver(m, vec, false, 0, EV_SOFT, i->len))   /* pushes the next RIP */
		return VL_X_OK;
	return VL_X_STOP;
}

/* Return to an outer or the same privilege level: load CS (and SS) from
 * their selectors, set CPL; null data segments the new CPL may not use. */
static int far_return(struct vl_machine *m, uint64_t rip, uint16_t cs, uint64_t rsp, uint16_t ss, bool load_ss)
{
	unsigned rpl = cs & 3;
	uint64_t lo, hi;
	if (rpl < m->cpu.cpl || !(cs & ~3u))
		return X_GP(cs & ~3u);
	int rc = cpu_read_desc(m, cs, &lo, &hi, false);
	if (rc)
		return rc;
	unsigned type = (lo >> 40) & 0xf, s = (lo >> 44) & 1, dpl = (lo >> 45) & 3, p = (lo >> 47) & 1;
	unsigned l = (lo >> 53) & 1, d = (lo >> 54) & 1;
	if (!s || !(type & 8))
		return X_GP(cs & ~3u);                      /* not a code segment */
	if ((type & 4) ? dpl > rpl : dpl != rpl)
		return X_GP(cs & ~3u);
	if (!p)
		return cpu_fault(m, VL_NP, true, cs & ~3u);
	if ((!l && !d) || (l && !(m->cpu.efer & VL_EFER_LMA)) || (l && d))
		return X_GP(cs & ~3u);                      /* 16-bit code is not modelled */
	if (!l)
		rip = (uint32_t)rip;                        /* to 32-bit code (compatibility mode) */
	else if (!canonical(rip))
		return X_GP(0);
	if (load_ss && !(ss & ~3u) && rpl == 3)
		return X_GP(0);                             /* null SS only for CPL < 3 in 64-bit mode */
	unsigned old_cpl = m->cpu.cpl;
	/* SS: validated under the new CPL */
	if (load_ss) {
		if ((rc = cpu_load_seg(m, VL_SS, ss, rpl)))
			return rc;
	}
	m->cpu.seg[VL_CS] = (struct vl_seg){ .sel = cs, .base = 0, .limit = 0xffffffff,
					    .attr = desc_attr(lo) };
	m->cpu.cpl = (uint8_t)rpl;
	m->cpu.gpr[VL_RSP] = rsp;
	m->cpu.rip = rip;
	if (rpl > old_cpl) {
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
		for (int sr = 0; sr < 6; sr++) {
			if (sr == VL_CS || sr == VL_SS)
				continue;
			struct vl_seg *g = &m->cpu.seg[sr];
			unsigned gd = (g->attr >> 5) & 3;
			bool conforming_code = (g->attr & 0x1c) == 0x1c;
			if (g->attr && !conforming_code && gd < rpl) {
				g->sel = 0;
				g->attr = 0;   /* base kept (FS/GS bases come from the MSRs in 64-bit mode) */
			}
		}
	}
	return 0;
}

int op_iret(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t rip, cs, fl, rsp, ss;
	int rc;
	if (m->cpu.rflags & VL_FL_NT)
		return X_GP(0);   /* task return: not in IA-32e mode */
	if ((rc = pop_peek(m, sz, 0, &rip)) || (rc = pop_peek(m, sz, sz, &cs)) ||
	    (rc = pop_peek(m, sz, 2 * sz, &fl)))
		return rc;
	/* 64-bit mode pops SS:RSP always; 32-bit modes only on a return to an outer level */
	bool with_ss = cpu_dmode(m) == VL_DMODE_64 || (cs & 3) > m->cpu.cpl;
	if (with_ss && ((rc = pop_peek(m, sz, 3 * sz, &rsp)) || (rc = pop_peek(m, sz, 4 * sz, &ss))))
		return rc;
	if (!with_ss) {
		rsp = m->cpu.gpr[VL_RSP] + 3 * sz;
		ss = m->cpu.seg[VL_SS].sel;
	}
	struct vl_sens_event ev = { .gpr = 0xff, .value = fl };
	HOOK(&ev);
	if (m->cpu.nmi_blocked) {
		/* IRET ends blocking by NMI even if it faults later (SDM 6.7.1;
		 * VT-x's "NMI unblocking due to IRET" exit-qualification bit) */
		m->cpu.nmi_blocked = false;
		cpu_kick(m);
	}
	unsigned cpl = m->cpu.cpl;
	uint64_t old = cpu_rflags(m);
	if (sz == 4)
		rip = (uint32_t)rip;
	if ((rc = far_return(m, rip, (uint16_t)cs, rsp, (uint16_t)ss, with_ss)))
		return rc;
	uint64_t chg = FL_ARITH | VL_FL_TF | VL_FL_DF | VL_FL_NT | VL_FL_AC | VL_FL_ID | VL_FL_RF;
	if (cpl == 0)
		chg |= VL_FL_IOPL | VL_FL_IF;
	else if (cpl <= ((old >> 12) & 3))
		chg |= VL_FL_IF;
	if (sz == 4)
		chg &= 0xffffffffu;
	cpu_set_rflags(m, (old & ~chg) | (fl & chg));
	cpu_kick(m);
	return VL_X_OK;
}

int op_retf(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t rip, cs, rsp, ss = 0;
	int rc;
	if ((rc = pop_peek(m, sz, 0, &rip)) || (rc = pop_peek(m, sz, sz, &cs)))
		return rc;
	uint64_t adj = i->imm & 0xffff;
	bool outer = (cs & 3) > m->cpu.cpl;
	if (outer && ((rc = pop_peek(m, sz, 2 * sz + adj, &rsp)) || (rc = pop_peek(m, sz, 3 * sz + adj, &ss))))
		return rc;
	if (!outer)
		rsp = m->cpu.gpr[VL_RSP] + 2 * sz + adj;
	else
		rsp += adj;
	if (sz == 4)
		rip = (uint32_t)rip;
	if ((rc = far_return(m, rip, (uint16_t)cs, rsp, (uint16_t)ss, outer)))
		return rc;
	cpu_kick(m);
	return VL_X_OK;
}

/* SYSCALL/SYSRET (SDM Vol. 2): flat segments from STAR, no descriptor reads. */
int op_syscall(struct vl_machine *m, const struct vl_insn *i)
{
	if (!(m->cpu.efer & VL_EFER_SCE))
		return X_UD();
	struct vl_sens_event ev = { .gpr = 0xff };
	int h = cpu_intercept(m, i, &ev);
	if (h >= 0) {   /* a VMM redirected it: single-step follows TF at its end too */
		if (!(m->cpu.rflags & VL_FL_TF))
			cpu_priv(m)->tf_step = false;
		return h;
	}
	struct vl_cpu *c = &m->cpu;
	bool compat = cpu_dmode(m) != VL_DMODE_64;
	if (compat && (!(c->efer & VL_EFER_LMA) || cpu_priv(m)->vendor_intel))
		return X_UD();   /* legacy mode; Intel: compatibility mode too (AMD: CSTAR) */
	uint64_t fl = cpu_rflags(m);
	uint16_t sel = (uint16_t)(c->star >> 32);
	c->gpr[VL_RCX] = compat ? (uint32_t)(c->rip + i->len) : c->rip + i->len;
	c->gpr[VL_R11] = fl & ~VL_FL_RF;
	c->seg[VL_CS] = (struct vl_seg){ .sel = sel & 0xfffc, .base = 0, .limit = 0xffffffff, .attr = 0xa09b };
	c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)(sel + 8), .base = 0, .limit = 0xffffffff, .attr = 0xc093 };
	c->rflags = (fl & ~c->sfmask & ~VL_FL_RF) | 2;
	if (c->cpl != 0)
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	c->cpl = 0;
	c->rip = compat ? c->cstar : c->lstar;
	/* single-step follows TF at the end of SYSCALL: SFMASK may have cleared it */
	if (!(c->rflags & VL_FL_TF))
		cpu_priv(m)->tf_step = false;
	cpu_kick(m);
	return VL_X_OK;
}

int op_sysret(struct vl_machine *m, const struct vl_insn *i)
{
	if (!(m->cpu.efer & VL_EFER_SCE))
		return X_UD();
	PRIV();
	struct vl_cpu *c = &m->cpu;
	bool to64 = i->rex & 8;   /* SYSRETQ; without REX.W to 32-bit code (compatibility mode) */
	if (to64 && !canonical(c->gpr[VL_RCX]))
		return X_GP(0);  /* Intel: #GP at CPL 0 */
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	uint16_t sel = (uint16_t)(c->star >> 48);
	if (to64)
		c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel + 16) | 3), .base = 0, .limit = 0xffffffff, .attr = 0xa0fb };
	else
		c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)(sel | 3), .base = 0, .limit = 0xffffffff, .attr = 0xc0fb };
	c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)((sel + 8) | 3), .base = 0, .limit = 0xffffffff, .attr = 0xc0f3 };
	cpu_set_rflags(m, (c->gpr[VL_R11] & 0x3c7fd7ull) | 2);
	c->cpl = 3;
	c->rip = to64 ? c->gpr[VL_RCX] : (uint32_t)c->gpr[VL_RCX];
	if (c->rflags & VL_FL_TF) {   /* single-step follows TF at the end of SYSRET */
		cpu_priv(m)->tf_step = true;
		cpu_priv(m)->tf_insns = m->insns;
	}
	vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	cpu_kick(m);
	return VL_X_OK;
}

int op_swapgs(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	uint64_t t = m->cpu.seg[VL_GS].base;
	m->cpu.seg[VL_GS].base = m->cpu.kernel_gs_base;
	m->cpu.kernel_gs_base = t;
	return next(m, i);
}

/* ---- HLT, CPUID, RDTSC, RDPMC, MSRs ----------------------------------------------- */
int op_hlt(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	m->cpu.halted = true;
	cpu_kick(m);
	return next(m, i);
}

int op_cpuid(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	uint32_t r[4];
	vl_cpuid(m, (uint32_t)m->cpu.gpr[VL_RAX], (uint32_t)m->cpu.gpr[VL_RCX], r);
	m->cpu.gpr[VL_RAX] = r[0];
	m->cpu.gpr[VL_RBX] = r[1];
	m->cpu.gpr[VL_RCX] = r[2];
	m->cpu.gpr[VL_RDX] = r[3];
	return next(m, i);
}

#define VL_CR4_TSD (1ull << 2)
#define VL_CR4_PCE (1ull << 8)

int op_rdtsc(struct vl_machine *m, const struct vl_insn *i)
{
	if ((m->cpu.cr4 & VL_CR4_TSD) && m->cpu.cpl)
		return X_GP(0);
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	/* the TSC is the modelled cycle count at the start of this instruction */
	uint64_t t = m->tsc + (uint64_t)m->tsc_offset + (uint64_t)m->priv->dev.tsc_adj;
	m->cpu.gpr[VL_RAX] = (uint32_t)t;
	m->cpu.gpr[VL_RDX] = t >> 32;
	if (i->op == VL_OP_RDTSCP)
		m->cpu.gpr[VL_RCX] = (uint32_t)m->cpu.tsc_aux;
	return next(m, i);
}

int op_rdpmc(struct vl_machine *m, const struct vl_insn *i)
{
	if (!(m->cpu.cr4 & VL_CR4_PCE) && m->cpu.cpl)
		return X_GP(0);
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	return X_GP(0);   /* no performance counters are modelled: every counter index is invalid */
}

int op_rdmsr(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	uint64_t v;
	if (vl_msr_read(m, (uint32_t)m->cpu.gpr[VL_RCX], &v))
		return X_GP(0);
	m->cpu.gpr[VL_RAX] = (uint32_t)v;
	m->cpu.gpr[VL_RDX] = v >> 32;
	return next(m, i);
}

int op_wrmsr(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	uint64_t v = (m->cpu.gpr[VL_RDX] << 32) | (uint32_t)m->cpu.gpr[VL_RAX];
	struct vl_sens_event ev = { .write = 1, .value = v, .gpr = 0xff };
	HOOK(&ev);
	if (vl_msr_write(m, (uint32_t)m->cpu.gpr[VL_RCX], v))
		return X_GP(0);
	cpu_kick(m);
	return next(m, i);
}

/* ---- control and debug registers ----------------------------------------------- */
int op_mov_from_cr(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .reg = i->reg, .gpr = i->rm };
	HOOK(&ev);
	uint64_t v;
	switch (i->reg) {
	case 0: v = m->cpu.cr0; break;
	case 2: v = m->cpu.cr2; break;
	case 3: v = m->cpu.cr3; break;
	case 4: v = m->cpu.cr4; break;
	default: v = vl_apic_get_tpr(m); break;   /* CR8 = TPR[7:4] */
	}
	m->cpu.gpr[i->rm] = v;
	return next(m, i);
}

int op_mov_to_cr(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_cpu *c = &m->cpu;
	uint64_t v = i->osz == 4 ? (uint32_t)c->gpr[i->rm] : c->gpr[i->rm];   /* 32-bit modes: the low half */
	/* operand checks that precede a VM exit (SDM 25.1.1: #GP for reserved bits comes first) */
	switch (i->reg) {
	case 0:
		if ((v >> 32) || ((v & VL_CR0_PG) && !(v & VL_CR0_PE)) ||
		    ((v & (1ull << 29)) && !(v & (1ull << 30))))
			return X_GP(0);
		if (!(v & VL_CR0_PG) && (c->efer & VL_EFER_LMA) && cpu_dmode(m) == VL_DMODE_64)
			return X_GP(0);   /* leaving long mode from 64-bit mode (SDM: only from compatibility mode) */
		if ((v & VL_CR0_PG) && !(c->cr0 & VL_CR0_PG) && (c->efer & VL_EFER_LME) &&
		    (!(c->cr4 & VL_CR4_PAE) || (c->seg[VL_CS].attr & SEG_ATTR_L)))
			return X_GP(0);   /* activating IA-32e mode needs PAE and CS.L = 0 (SDM 9.8.5) */
		break;
	case 3: {
		/* bits 63:MAXPHYADDR are reserved (as KVM's kvm_set_cr3), except
		 * bit 63 with CR4.PCIDE = 1: the no-flush hint, never stored */
		uint64_t rsvd = ~((1ull << vl_platform_maxphyaddr(m->prof)) - 1);
		if (c->cr4 & VL_CR4_PCIDE)
			rsvd &= ~(1ull << 63);
		if (v & rsvd)
			return X_GP(0);
		break;
	}
	case 4: {
		uint64_t ok = 0x1ull | 0x2ull | VL_CR4_TSD | 0x8ull | VL_CR4_PSE | VL_CR4_PAE | 0x40ull | VL_CR4_PGE |
			      VL_CR4_PCE | (1ull << 9) | (1ull << 10) | VL_CR4_PCIDE |
			      (m->prof->features_smep ? VL_CR4_SMEP : 0) | (m->prof->features_smap ? VL_CR4_SMAP : 0);
		if ((v & ~ok) || (!(v & VL_CR4_PAE) && (c->efer & VL_EFER_LMA)) || ((v & VL_CR4_PCIDE) && !(c->cr4 & VL_CR4_PCIDE) && (c->cr3 & 0xfff)) ||
		    ((v & VL_CR4_PCIDE) && !m->prof->features_pcid))
			return X_GP(0);
		break;
	}
	case 8:
		if (v > 15)
			return X_GP(0);
		break;
	}
	struct vl_sens_event ev = { .reg = i->reg, .gpr = i->rm, .write = 1, .value = v };
	HOOK(&ev);
	switch (i->reg) {
	case 0: {
		uint64_t old = c->cr0;
		if ((v & VL_CR0_PG) && !(c->efer & VL_EFER_LME)) {
			vl_machine_stop(m, VL_M_ERROR, "CR0.PG without EFER.LME at rip %#llx: 32-bit (non-PAE/PAE) "
					"paging is not modelled", (unsigned long long)c->rip);
			return VL_X_STOP;
		}
		c->cr0 = v | (1ull << 4);   /* ET is hard-wired to 1 */
		if ((old ^ v) & VL_CR0_PG) {   /* IA-32e mode activates / deactivates with paging (SDM 9.8.5) */
			c->efer = (v & VL_CR0_PG) ? c->efer | VL_EFER_LMA : c->efer & ~VL_EFER_LMA;
			vl_tlb_flush_all(m);
		}
		break;
	}
	case 2:
		c->cr2 = v;
		break;
	case 3:
		if ((c->cr4 & VL_CR4_PCIDE) && (v >> 63)) {
			c->cr3 = v & ~(1ull << 63);   /* no flush */
		} else {
			c->cr3 = v & ~(1ull << 63);
			vl_tlb_flush_nonglobal(m);
		}
		break;
	case 4: {
		uint64_t old = c->cr4;
		c->cr4 = v;
		if ((old ^ v) & (VL_CR4_PGE | VL_CR4_PCIDE | VL_CR4_PSE | VL_CR4_PAE))
			vl_tlb_flush_all(m);
		break;
	}
	case 8:
		vl_apic_set_tpr(m, (uint8_t)v);
		break;
	}
	cpu_kick(m);
	return next(m, i);
}

int op_mov_dr(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	unsigned dr = i->reg;
	bool wr = i->op == VL_OP_MOV_TO_DR;
	if (dr == 4 || dr == 5)
		dr += 2;   /* CR4.DE = 0: aliases of DR6/DR7 */
	struct vl_sens_event ev = { .reg = (uint8_t)dr, .gpr = i->rm, .write = wr,
				    .value = wr ? m->cpu.gpr[i->rm] : 0 };
	HOOK(&ev);
	if (wr) {
		if ((dr == 6 || dr == 7) && (m->cpu.gpr[i->rm] >> 32))
			return X_GP(0);
		m->cpu.dr[dr] = m->cpu.gpr[i->rm];
	} else {
		m->cpu.gpr[i->rm] = m->cpu.dr[dr];
	}
	return next(m, i);
}

int op_clts(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	m->cpu.cr0 &= ~VL_CR0_TS;
	return next(m, i);
}

int op_lmsw(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	uint64_t v;
	int rc = rm_rd(m, i, 2, &v);
	if (rc)
		return rc;
	struct vl_sens_event ev = { .value = v, .gpr = i->mod == 3 ? i->rm : 0xff, .addr = i->mod == 3 ? 0 : cpu_ea(m, i) };
	HOOK(&ev);
	/* bits 3:0 (PE MP EM TS); PE can be set but not cleared */
	m->cpu.cr0 = (m->cpu.cr0 & ~0xeull) | (v & 0xe) | ((m->cpu.cr0 | v) & 1);
	return next(m, i);
}

int op_smsw(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = i->mod == 3 ? i->rm : 0xff };
	HOOK(&ev);
	int rc = i->mod == 3 ? rm_wr(m, i, i->osz, m->cpu.cr0 & sz_mask(i->osz)) : rm_wr(m, i, 2, m->cpu.cr0 & 0xffff);
	return rc ? rc : next(m, i);
}

int op_invlpg(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	uint64_t va = cpu_ea(m, i);
	struct vl_sens_event ev = { .addr = va, .gpr = 0xff };
	HOOK(&ev);
	vl_tlb_flush_va(m, va);
	return next(m, i);
}

int op_nop_priv(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	struct vl_sens_event ev = { .gpr = 0xff, .vector = i->op == VL_OP_INVD };   /* WBINVD 0, INVD 1 */
	HOOK(&ev);
	return next(m, i);
}

/* ---- descriptor tables and segments ------------------------------------------------ */
int op_lgdt(struct vl_machine *m, const struct vl_insn *i)
{
	PRIV();
	uint64_t va = cpu_ea(m, i), lim, base;
	bool m64 = cpu_dmode(m) == VL_DMODE_64;
	int rc;
	if ((rc = mem_rd(m, va, 2, &lim, 0)) || (rc = mem_rd(m, va + 2, m64 ? 8 : 4, &base, 0)))
		return rc;
	if (!m64 && i->osz == 2)
		base &= 0xffffff;   /* 16-bit operand size: a 24-bit base */
	struct vl_sens_event ev = { .addr = va, .gpr = 0xff };
	HOOK(&ev);
	if (!canonical(base))
		return X_GP(0);
	struct vl_dtr *t = i->op == VL_OP_LGDT ? &m->cpu.gdtr : &m->cpu.idtr;
	t->base = base;
	t->limit = (uint16_t)lim;
	return next(m, i);
}
int op_lidt(struct vl_machine *m, const struct vl_insn *i) { return op_lgdt(m, i); }

int op_sgdt(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = cpu_ea(m, i);
	struct vl_sens_event ev = { .addr = va, .gpr = 0xff };
	HOOK(&ev);
	const struct vl_dtr *t = i->op == VL_OP_SGDT ? &m->cpu.gdtr : &m->cpu.idtr;
	unsigned bsz = cpu_dmode(m) == VL_DMODE_64 ? 8 : 4;
	int rc;
	if ((rc = mem_probe_w(m, va, 2 + bsz, cpu_uacc(m))) || (rc = mem_wr(m, va, 2, t->limit, cpu_uacc(m))) ||
	    (rc = mem_wr(m, va + 2, bsz, t->base & sz_mask(bsz), cpu_uacc(m))))
		return rc;
	return next(m, i);
}
int op_sidt(struct vl_machine *m, const struct vl_insn *i) { return op_sgdt(m, i); }

/* LLDT / LTR: a 16-byte system descriptor from the GDT. */
static int load_sys_seg(struct vl_machine *m, const struct vl_insn *i, bool tr)
{
	uint64_t sel, lo, hi;
	int rc = rm_rd(m, i, 2, &sel);
	if (rc)
		return rc;
	struct vl_sens_event ev = { .gpr = i->mod == 3 ? i->rm : 0xff, .value = sel };
	HOOK(&ev);
	struct vl_seg *s = tr ? &m->cpu.tr : &m->cpu.ldtr;
	if (!(sel & ~3ull)) {
		if (tr)
			return X_GP(0);
		*s = (struct vl_seg){ 0 };
		return next(m, i);
	}
	if (sel & 4)
		return X_GP((uint32_t)sel & ~3u);   /* must be in the GDT */
	if ((rc = cpu_read_desc(m, (uint16_t)sel, &lo, &hi, true)))
		return rc;
	unsigned type = (lo >> 40) & 0xf, sbit = (lo >> 44) & 1, p = (lo >> 47) & 1;
	if (sbit || (tr ? type != 9 : type != 2))
		return X_GP((uint32_t)sel & ~3u);
	if (!p)
		return cpu_fault(m, VL_NP, true, (uint32_t)sel & ~3u);
	uint64_t base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | ((hi & 0xffffffffu) << 32);
	uint32_t limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
	if ((lo >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	if (tr) {
		/* mark the TSS busy in the GDT (type 9 -> 11) */
		uint64_t da = m->cpu.gdtr.base + (sel & ~7ull);
		if ((rc = mem_wr(m, da, 8, lo | (2ull << 40), VL_ACC_IMPLICIT)))
			return rc;
		type = 11;
	}
	*s = (struct vl_seg){ .sel = (uint16_t)sel, .base = base, .limit = limit,
			      .attr = (uint16_t)((desc_attr(lo) & ~0xfu) | type) };
	return next(m, i);
}
int op_lldt(struct vl_machine *m, const struct vl_insn *i) { PRIV(); return load_sys_seg(m, i, false); }
int op_ltr(struct vl_machine *m, const struct vl_insn *i)  { PRIV(); return load_sys_seg(m, i, true); }

static int store_sel(struct vl_machine *m, const struct vl_insn *i, uint16_t sel)
{
	int rc = i->mod == 3 ? rm_wr(m, i, i->osz, sel) : rm_wr(m, i, 2, sel);
	return rc ? rc : next(m, i);
}
int op_sldt(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = i->mod == 3 ? i->rm : 0xff };
	HOOK(&ev);
	return store_sel(m, i, m->cpu.ldtr.sel);
}
int op_str(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = i->mod == 3 ? i->rm : 0xff };
	HOOK(&ev);
	return store_sel(m, i, m->cpu.tr.sel);
}

int op_mov_from_seg(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sr = i->reg & 7;
	struct vl_sens_event ev = { .reg = (uint8_t)sr, .gpr = i->mod == 3 ? i->rm : 0xff };
	HOOK(&ev);
	return store_sel(m, i, m->cpu.seg[sr].sel);   /* reading CS reveals the real RPL (non-virtualizable) */
}

int op_mov_to_seg(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t sel;
	int rc = rm_rd(m, i, 2, &sel);
	if (rc || (rc = cpu_load_seg(m, i->reg & 7, (uint16_t)sel, m->cpu.cpl)))
		return rc;
	if ((i->reg & 7) == VL_SS)
		m->cpu.intr_shadow = 2;   /* blocking by MOV SS: allowed with IF = 0, unlike STI's */
	cpu_kick(m);
	return next(m, i);
}

int op_push_seg(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .reg = i->reg, .gpr = 0xff };
	HOOK(&ev);
	int rc = push(m, i->osz, m->cpu.seg[i->reg].sel);
	return rc ? rc : next(m, i);
}

int op_pop_seg(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t sel;
	int rc = pop_peek(m, i->osz, 0, &sel);
	if (rc || (rc = cpu_load_seg(m, i->reg, (uint16_t)sel, m->cpu.cpl)))
		return rc;
	m->cpu.gpr[VL_RSP] += i->osz;
	if (i->reg == VL_SS) {
		m->cpu.intr_shadow = 2;   /* POP SS blocks as MOV SS does (SDM Vol. 2B POP) */
		cpu_kick(m);
	}
	return next(m, i);
}

/* ---- virtualization instructions, callouts, markers, hints -------------------- */
int op_vmcall(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .vector = i->op == VL_OP_VMMCALL, .gpr = 0xff };
	HOOK(&ev);
	return X_UD();   /* outside VMX non-root operation / an SVM guest: #UD */
}

int op_monitor(struct vl_machine *m, const struct vl_insn *i)
{
	/* SDM: #UD at CPL > 0 (this #UD takes priority over a VM exit) */
	if (m->cpu.cpl)
		return X_UD();
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	return X_UD();   /* CPUID does not advertise MONITOR/MWAIT */
}
int op_mwait(struct vl_machine *m, const struct vl_insn *i) { return op_monitor(m, i); }

int op_xsetbv(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	return X_UD();   /* CR4.OSXSAVE cannot be set: XSAVE is not modelled */
}

int op_pause(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_sens_event ev = { .gpr = 0xff };
	HOOK(&ev);
	return next(m, i);
}

/* Callout (machine.h): translated code's escape into the VMM. Not a guest
 * instruction: not retired, not charged here (the VMM charges). */
/* The callout gate (machine.h VL_CALLOUT_BYTES): from the translation
 * cache, at the VMM's CPL, from the TC's frames — or not at all. */
static bool callout_allowed(struct vl_machine *m, const struct vl_insn *i)
{
	const struct vl_callout_gate *g = &m->callout_gate;
	uint64_t rip = m->cpu.rip;
	if (!m->callouts || !m->vmm || !m->vmm->callout)
		return false;
	if (rip < g->va_lo || rip >= g->va_hi || g->va_hi - rip < i->len || m->cpu.cpl != g->cpl)
		return false;
	if (!g->pa_hi)
		return true;
	uint64_t pa[2] = { rip, rip + i->len - 1 };
	for (int k = 0; k < 2; k++) {
		if (m->cpu.cr0 & VL_CR0_PG) {
			/* quiet: the gate check is invisible to the model (the fetch counted already) */
			struct vl_walk_req rq = { .root = m->cpu.cr3 & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_X | (m->cpu.cpl == 3 ? VL_ACC_USER : 0),
						  .nested = m->nested.enabled, .quiet = true };
			struct vl_walk_res res;
			if (vl_walk(m, &rq, pa[k], &res) != VL_WALK_OK)
				return false;
			pa[k] = res.pa;
		}
		if (pa[k] < g->pa_lo || pa[k] >= g->pa_hi)
			return false;
	}
	return true;
}

int op_callout(struct vl_machine *m, const struct vl_insn *i)
{
	if (!callout_allowed(m, i))
		return X_UD();
	cpu_flags_sync(m);
	int rc = m->vmm->callout(m, m->vmm_ctx, (uint32_t)i->imm);
	cpu_kick(m);
	if (rc == VL_HOOK_PASS)
		return X_UD();
	return VL_X_STOP;
}

/* Region marker (guest_abi.h): switches the counter region; free, never an exit. */
int op_marker(struct vl_machine *m, const struct vl_insn *i)
{
	uint32_t d = (uint32_t)i->disp;
	unsigned kind = (d >> 8) & 0xff, region = d & 0xff;
	int before = m->region_id;
	if (kind == VL_MARK_BEGIN && region < VL_MAX_REGIONS)
		m->region_id = (int)region;
	else if (kind == VL_MARK_END)
		m->region_id = 0;
	if (m->trace && m->region_id != before) {
		/* where a region begins and ends, whatever --trace-region filters */
		int r = m->region_id ? m->region_id : before;
		char line[160], name[32];
		if (r == VL_REGION_MEASURE)
			snprintf(name, sizeof name, "measured region");
		else
			snprintf(name, sizeof name, "region %d", r);
		snprintf(line, sizeof line, "=== %s %s at rip=0x%llx (%llu instructions, %llu cycles so far) ===", name,
			 m->region_id ? "begins" : "ends", (unsigned long long)m->cpu.rip, (unsigned long long)m->insns,
			 (unsigned long long)m->tsc);
		m->trace(m->trace_arg, line);
	}
	m->ctr = &m->region[m->region_id];
	m->cpu.rip += i->len;
	return VL_X_STOP;   /* not retired: a marker is not part of any workload's instruction count */
}

/* ---- far transfers (JMP/CALL ptr16:32 and m16:32/m16:64) ----------------------
 * Direct to a code segment only (call gates and task switches are not
 * modelled: #GP). The new CS decides the mode: 64-bit with CS.L in IA-32e
 * mode, compatibility / 32-bit protected mode with CS.D. A non-zero CS base
 * outside 64-bit mode is not modelled (the machine stops and says so). */
int op_jmpf(struct vl_machine *m, const struct vl_insn *i)
{
	struct vl_cpu *c = &m->cpu;
	uint64_t off, sel, lo, hi;
	int rc;
	if (i->mod == 0xff) {
		off = i->imm;
		sel = (uint16_t)i->disp;
	} else {
		uint64_t va = cpu_ea(m, i);
		if ((rc = mem_rd(m, va, i->osz, &off, cpu_uacc(m))) || (rc = mem_rd(m, va + i->osz, 2, &sel, cpu_uacc(m))))
			return rc;
	}
	if (!(sel & ~3u))
		return X_GP(0);
	if ((rc = cpu_read_desc(m, (uint16_t)sel, &lo, &hi, false)))
		return rc;
	unsigned type = (lo >> 40) & 0xf, sb = (lo >> 44) & 1, dpl = (lo >> 45) & 3, p = (lo >> 47) & 1;
	unsigned l = (lo >> 53) & 1, d = (lo >> 54) & 1, rpl = sel & 3;
	if (!sb || !(type & 8))
		return X_GP((uint32_t)sel & ~3u);   /* gates, TSS: not modelled */
	if ((type & 4) ? dpl > c->cpl : (rpl > c->cpl || dpl != c->cpl))
		return X_GP((uint32_t)sel & ~3u);
	if (!p)
		return cpu_fault(m, VL_NP, true, (uint32_t)sel & ~3u);
	bool to64 = l && (c->efer & VL_EFER_LMA);
	if (l && d && (c->efer & VL_EFER_LMA))
		return X_GP((uint32_t)sel & ~3u);
	uint64_t base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24);
	uint32_t limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
	if ((lo >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	if (to64 ? !canonical(off) : off > limit)
		return X_GP(0);
	if (!to64 && base) {
		vl_machine_stop(m, VL_M_ERROR, "far %s to %#llx:%#llx: a code segment base (%#llx) is not modelled",
				i->op == VL_OP_CALLF ? "call" : "jump", (unsigned long long)sel, (unsigned long long)off,
				(unsigned long long)base);
		return VL_X_STOP;
	}
	if (i->op == VL_OP_CALLF) {
		uint64_t rsp0 = c->gpr[VL_RSP];
		if ((rc = push(m, i->osz, c->seg[VL_CS].sel)) || (rc = push(m, i->osz, c->rip + i->len))) {
			c->gpr[VL_RSP] = rsp0;
			return rc;
		}
	}
	c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel & ~3u) | c->cpl), .base = 0, .limit = limit,
					  .attr = desc_attr(lo) };
	c->rip = to64 ? off : (uint32_t)off;
	cpu_kick(m);   /* the decode mode may have changed: the loop looks before the next fetch */
	return VL_X_OK;
}

/* PUSHA/PUSHAD, POPA/POPAD (32-bit modes only). */
int op_pusha(struct vl_machine *m, const struct vl_insn *i)
{
	static const unsigned order[8] = { VL_RAX, VL_RCX, VL_RDX, VL_RBX, VL_RSP, VL_RBP, VL_RSI, VL_RDI };
	uint64_t rsp0 = m->cpu.gpr[VL_RSP];
	for (int k = 0; k < 8; k++) {
		uint64_t v = order[k] == VL_RSP ? rsp0 : m->cpu.gpr[order[k]];
		int rc = push(m, i->osz, v & sz_mask(i->osz));
		if (rc) {
			m->cpu.gpr[VL_RSP] = rsp0;
			return rc;
		}
	}
	return next(m, i);
}

int op_popa(struct vl_machine *m, const struct vl_insn *i)
{
	static const unsigned order[8] = { VL_RDI, VL_RSI, VL_RBP, VL_RSP, VL_RBX, VL_RDX, VL_RCX, VL_RAX };
	uint64_t v[8];
	for (int k = 0; k < 8; k++) {
		int rc = pop_peek(m, i->osz, (uint64_t)k * i->osz, &v[k]);
		if (rc)
			return rc;
	}
	for (int k = 0; k < 8; k++)
		if (order[k] != VL_RSP)
			reg_set(m, order[k], i->osz, 0, v[k]);   /* the saved ESP is skipped */
	m->cpu.gpr[VL_RSP] += 8u * i->osz;
	return next(m, i);
}
