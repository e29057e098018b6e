/* exception.c — exception and interrupt delivery through the 64-bit IDT
 * (SDM Vol. 3 ch. 6): gate checks, privilege change with TSS RSP0..2 and
 * IST stacks, the 16-byte aligned frame, error codes, CR2; the #DF rules
 * (contributory / page-fault classes) and the triple fault, which stops
 * the machine with a diagnostic. Also the descriptor loads the CPU needs
 * (segment registers, far returns) and the public injection entry points.
 *
 * Delivery reads and writes memory first and commits registers last, so a
 * fault during delivery leaves the pre-delivery state for the #DF (or for
 * a VMM that absorbs the nested fault, e.g. a hidden shadow-paging fault on
 * the kernel stack, after which the original event is delivered again —
 * what a VMM does with the IDT-vectoring information of the exit).
 */
#include <inttypes.h>
#include <stdio.h>

#include "cpu.h"

static inline bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}
static inline bool contributory(unsigned v)
{
	return v == VL_DE || (v >= VL_TS && v <= VL_GP);
}

static void note_vec(struct vl_machine *m, unsigned vec)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	p->last_vec[p->last_vec_pos & 7] = vec;
	p->last_rip[p->last_vec_pos & 7] = m->cpu.rip;
	p->last_vec_pos++;
}

static bool exc_intercepted(const struct vl_machine *m, unsigned vec)
{
	return vec < 32 && ((m->exc_intercept >> vec) & 1) && m->vmm && m->vmm->exception && !m->priv->cpu.emul;
}

int cpu_read_desc(struct vl_machine *m, uint16_t sel, uint64_t *lo, uint64_t *hi, bool system16)
{
	uint64_t base, limit;
	if (sel & 4) {
		base = m->cpu.ldtr.base;
		limit = m->cpu.ldtr.attr ? m->cpu.ldtr.limit : 0;
		if (!m->cpu.ldtr.attr)
			return X_GP(sel & ~3u);
	} else {
		base = m->cpu.gdtr.base;
		limit = m->cpu.gdtr.limit;
	}
	uint64_t off = sel & ~7u;
	if (off + (system16 ? 15 : 7) > limit)
		return X_GP(sel & ~3u);
	if (mem_rd(m, base + off, 8, lo, VL_ACC_IMPLICIT))
		return VL_X_FAULT;
	*hi = 0;
	if (system16 && mem_rd(m, base + off + 8, 8, hi, VL_ACC_IMPLICIT))
		return VL_X_FAULT;
	return 0;
}

int cpu_load_seg(struct vl_machine *m, unsigned sreg, uint16_t sel, unsigned cpl)
{
	struct vl_seg *s = &m->cpu.seg[sreg];
	uint64_t lo, hi;
	unsigned rpl = sel & 3;
	int rc;
	if (!(sel & ~3u)) {
		if (sreg == VL_SS && (cpl == 3 || rpl != cpl))
			return X_GP(0);
		s->sel = sel;
		s->attr = 0;   /* null: base kept (FS/GS bases are set through the MSRs in 64-bit mode) */
		return 0;
	}
	if ((rc = cpu_read_desc(m, sel, &lo, &hi, false)))
		return rc;
	unsigned type = (lo >> 40) & 0xf, sbit = (lo >> 44) & 1, dpl = (lo >> 45) & 3, p = (lo >> 47) & 1;
	bool code = type & 8;
	if (sreg == VL_SS) {
		if (rpl != cpl || dpl != cpl || !sbit || code || !(type & 2))
			return X_GP(sel & ~3u);
		if (!p)
			return cpu_fault(m, VL_SS_FAULT, true, sel & ~3u);
	} else {
		if (!sbit || (code && !(type & 2)))
			return X_GP(sel & ~3u);   /* system or execute-only code */
		if ((!code || !(type & 4)) && (dpl < cpl || dpl < rpl))
			return X_GP(sel & ~3u);
		if (!p)
			return cpu_fault(m, VL_NP, true, sel & ~3u);
	}
	uint32_t limit = (uint32_t)((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
	if ((lo >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	s->sel = sel;
	s->base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24);
	s->limit = limit;
	s->attr = desc_attr(lo);
	return 0;
}

/* One delivery attempt. 0, or VL_X_FAULT with the nested fault in priv->fault. */
static int deliver_once(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, int kind, unsigned soft_len)
{
	struct vl_cpu *c = &m->cpu;
	uint32_t ext = kind == EV_SOFT ? 0 : 1;
	uint32_t idt_err = vec * 8 + 2 + ext;
	uint64_t lo, hi, dlo, dhi;

	if ((uint32_t)vec * 16 + 15 > c->idtr.limit)
		return X_GP(idt_err);
	if (mem_rd(m, c->idtr.base + vec * 16, 8, &lo, VL_ACC_IMPLICIT) || mem_rd(m, c->idtr.base + vec * 16 + 8, 8, &hi, VL_ACC_IMPLICIT))
		return VL_X_FAULT;
	unsigned type = (lo >> 40) & 0xf, dpl = (lo >> 45) & 3, p = (lo >> 47) & 1, ist = (lo >> 32) & 7;
	uint16_t sel = (uint16_t)(lo >> 16);
	uint64_t target = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) | (hi << 32);
	if (type != 0xe && type != 0xf)
		return X_GP(idt_err);
	if (kind == EV_SOFT && dpl < c->cpl)
		return X_GP(vec * 8 + 2);
	if (!p)
		return cpu_fault(m, VL_NP, true, idt_err);
	if (!(sel & ~3u))
		return X_GP(ext);
	if (cpu_read_desc(m, sel, &dlo, &dhi, false)) {
		if (m->priv->fault.vec == VL_GP)
			m->priv->fault.err |= ext;
		return VL_X_FAULT;
	}
	unsigned dtype = (dlo >> 40) & 0xf, ds = (dlo >> 44) & 1, ddpl = (dlo >> 45) & 3, dp = (dlo >> 47) & 1;
	unsigned dl = (dlo >> 53) & 1 && !((dlo >> 54) & 1);   /* a 64-bit code segment: L = 1, D = 0 */
	if (!ds || !(dtype & 8) || !dl || ddpl > c->cpl)
		return X_GP((sel & ~3u) | ext);
	if (!dp)
		return cpu_fault(m, VL_NP, true, (sel & ~3u) | ext);
	unsigned ncpl = (dtype & 4) ? c->cpl : ddpl;
	if (!canonical(target))
		return X_GP(ext);

	uint64_t rsp = c->gpr[VL_RSP];
	if (ncpl < c->cpl || ist) {
		unsigned off = ist ? 36 + 8 * (ist - 1) : 4 + 8 * ncpl;
		if (!c->tr.attr || off + 7 > c->tr.limit)
			return cpu_fault(m, VL_TS, true, (c->tr.sel & ~3u) | ext);
		if (mem_rd(m, c->tr.base + off, 8, &rsp, VL_ACC_IMPLICIT))
			return VL_X_FAULT;
		if (!canonical(rsp))
			return cpu_fault(m, VL_SS_FAULT, true, ext);
	}
	rsp &= ~0xfull;
	uint64_t frame[6];
	unsigned n = 0;
	uint64_t fl = cpu_rflags(m);
	if (has_err)
		frame[n++] = err;
	frame[n++] = c->rip + (kind == EV_SOFT ? soft_len : 0);
	frame[n++] = c->seg[VL_CS].sel;
	/* a fault (not a trap, an abort or an interrupt) pushes RFLAGS with RF
	 * set, so the IRET back to the faulting instruction does not re-raise an
	 * instruction breakpoint (SDM Vol. 3A 17.3.1.1) */
	const uint32_t fault_vecs = 1u << VL_DE | 1u << 5 | 1u << VL_UD | 1u << 7 | 1u << VL_TS | 1u << VL_NP |
				    1u << VL_SS_FAULT | 1u << VL_GP | 1u << VL_PF | 1u << 16 | 1u << VL_AC | 1u << 19 | 1u << 20;
	frame[n++] = kind == EV_EXC && vec < 32 && (fault_vecs >> vec & 1) ? fl | VL_FL_RF : fl;
	frame[n++] = c->gpr[VL_RSP];
	frame[n++] = c->seg[VL_SS].sel;
	uint64_t nrsp = rsp - 8ull * n;
	/* pushed as the hardware pushes, SS first: a stack fault's CR2 is the
	 * highest slot that could not be written (RSP - 8) */
	for (unsigned k = n; k-- > 0;) {
		if (mem_wr(m, nrsp + 8ull * k, 8, frame[k], 0)) {
			if (m->priv->fault.vec == VL_GP)
				m->priv->fault = (struct vl_fault){ .vec = VL_SS_FAULT, .has_err = true, .err = ext };
			return VL_X_FAULT;
		}
	}
	/* commit */
	if (ncpl != c->cpl) {
		c->seg[VL_SS] = (struct vl_seg){ .sel = (uint16_t)ncpl, .base = 0, .limit = 0, .attr = 0 };
		vl_count(m, VL_EV_PRIV_TRANSITIONS, 1);
	}
	c->seg[VL_CS] = (struct vl_seg){ .sel = (uint16_t)((sel & ~3u) | ncpl), .base = 0, .limit = 0xffffffff,
					 .attr = desc_attr(dlo) };
	c->cpl = (uint8_t)ncpl;
	c->gpr[VL_RSP] = nrsp;
	c->rip = target;
	fl &= ~(VL_FL_TF | VL_FL_NT | VL_FL_RF | (1ull << 17));
	if (type == 0xe)
		fl &= ~VL_FL_IF;
	c->rflags = fl;
	c->halted = false;
	c->intr_shadow = 0;
	VL_CHARGE(m, VL_CAT_EXCEPTION, exception_delivery);
	if (kind == EV_INTR) {
		vl_count(m, VL_EV_INTERRUPTS, 1);
	} else {
		vl_count(m, VL_EV_EXCEPTIONS, 1);
		if (vec == VL_PF && kind == EV_EXC)
			vl_count(m, VL_EV_PAGE_FAULTS, 1);
	}
	return 0;
}

static void triple_fault(struct vl_machine *m)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	char vecs[160] = "", dis[256] = "";
	size_t l = 0;
	unsigned nv = p->last_vec_pos < 8 ? p->last_vec_pos : 8;
	for (unsigned k = 0; k < nv; k++) {
		unsigned idx = (p->last_vec_pos - nv + k) & 7;
		l += (size_t)snprintf(vecs + l, sizeof vecs - l, "%s%u@%#" PRIx64, k ? " " : "", p->last_vec[idx],
				      p->last_rip[idx]);
		if (l >= sizeof vecs)
			break;
	}
	/* the faulting bytes: where the first of the cascade was raised */
	uint64_t at = nv ? p->last_rip[(p->last_vec_pos - 1) & 7] : m->cpu.rip;
	vl_disasm(m, at, 1, dis, sizeof dis);
	size_t dl = strlen(dis);
	while (dl && (dis[dl - 1] == '\n' || dis[dl - 1] == ' '))
		dis[--dl] = 0;
	if (m->vmm && m->vmm->shutdown)
		m->vmm->shutdown(m, m->vmm_ctx);
	vl_machine_stop(m, VL_M_TRIPLE_FAULT, "triple fault: rip %#" PRIx64 " cpl %u; last vectors (vector@rip): %s; at %s",
			m->cpu.rip, m->cpu.cpl, vecs, dl ? dis : "(bytes unreadable)");
}

/* Offer a fault to the VMM (exception intercept). vi: the event whose
 * delivery raised it (NULL: none), visible to the VMM as m->vectoring for
 * the duration (its exit's IDT-vectoring information / EXITINTINFO); the
 * previous value is restored, as a VMM's reflection may nest a delivery.
 * Returns VL_HOOK_*. */
static int exc_hook(struct vl_machine *m, const struct vl_fault *f, const struct vl_vectoring *vi)
{
	struct vl_vectoring saved = m->vectoring;
	m->vectoring = vi ? *vi : (struct vl_vectoring){ .valid = false };
	cpu_flags_sync(m);
	int rc = m->vmm->exception(m, m->vmm_ctx, f->vec, f->has_err, f->err, f->cr2);
	cpu_kick(m);
	m->vectoring = saved;
	return rc;
}

bool vl_exc_double_fault(unsigned first, unsigned second)
{
	return (contributory(first) && contributory(second)) ||
	       (first == VL_PF && (second == VL_PF || contributory(second)));
}

int vl_event_combine(const struct vl_vectoring *first, unsigned second)
{
	if (!first->valid || first->type != VL_EVT_EXC)
		return (int)second;   /* interrupts and INT n are benign */
	if (first->vec == VL_DF)
		return -1;
	if (vl_exc_double_fault(first->vec, second))
		return VL_DF;
	return (int)second;
}

#define DELIVER_MAX_RETRIES 16

static const char *const exc_name[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP",
	"#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* --trace: one line per event delivered into the guest, with the instruction. */
static void trace_event(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, int kind)
{
	char dis[160] = "", what[48];
	vl_disasm(m, m->cpu.rip, 1, dis, sizeof dis);
	size_t n = strlen(dis);
	if (n && dis[n - 1] == '\n')
		dis[n - 1] = 0;
	if (kind == EV_INTR)
		snprintf(what, sizeof what, "interrupt %u", vec);
	else if (kind == EV_SOFT)
		snprintf(what, sizeof what, "int %u", vec);
	else
		snprintf(what, sizeof what, "trap %s(%u)", vec < 32 && exc_name[vec] ? exc_name[vec] : "?", vec);
	if (vec == VL_PF && kind == EV_EXC)
		vl_trace(m, "%s err=%#x cr2=%#" PRIx64 " cpl=%u  %s", what, err, m->cpu.cr2, m->cpu.cpl, dis);
	else if (has_err)
		vl_trace(m, "%s err=%#x cpl=%u  %s", what, err, m->cpu.cpl, dis);
	else
		vl_trace(m, "%s cpl=%u  %s", what, m->cpu.cpl, dis);
}

/* Deliveries in a row without a retired instruction before the machine
 * gives up. A guest makes progress between events (its handlers retire
 * instructions); one whose handler faults on its first instruction (a
 * handler that is a UD2, an IST stack that faults on IRET...) would
 * otherwise spin in delivery forever: no instruction ever retires, so
 * max_insns never fires, and max_cycles only after billions of
 * deliveries. Such a guest runs forever on hardware: it is a timeout. */
#define STORM_MAX (1u << 20)

/* True (machine stopped) when this delivery extends a storm past STORM_MAX. */
static bool storm(struct vl_machine *m, unsigned vec)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	if (p->storm_insns != m->insns) {
		p->storm_insns = m->insns;
		p->storm_n = 0;
	}
	if (++p->storm_n <= STORM_MAX)
		return false;
	vl_machine_stop(m, VL_M_TIMEOUT, "event storm: %u deliveries without retiring an instruction (vector %u at rip %#" PRIx64 ")",
			STORM_MAX, vec, m->cpu.rip);
	return true;
}

bool cpu_deliver(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, int kind, unsigned soft_len)
{
	int retries = 0;
	bool first = true;   /* still delivering the event we were asked to deliver */

	cpu_flags_sync(m);
	if (__builtin_expect(!(m->cpu.efer & VL_EFER_LMA), 0)) {
		vl_machine_stop(m, VL_M_ERROR, "vector %u at rip %#llx in 32-bit protected mode: legacy-mode "
				"IDT delivery (8-byte gates) is not modelled", vec, (unsigned long long)m->cpu.rip);
		return false;
	}
	if (storm(m, vec))
		return false;
	for (;;) {
		note_vec(m, vec);
		if (__builtin_expect(m->trace != NULL, 0) && !retries)
			trace_event(m, vec, has_err, err, kind);
		uint64_t delivered_before = m->ctr->events[VL_EV_EXCEPTIONS] + m->ctr->events[VL_EV_INTERRUPTS];
		int rc = deliver_once(m, vec, has_err, err, kind, soft_len);
		if (!rc)
			return first;
		struct vl_fault f = m->priv->fault;
		if (f.vec == VL_FAULT_ABORT || m->state != VL_M_RUNNING)
			return false;
		if (exc_intercepted(m, f.vec)) {
			struct vl_vectoring vi = {
				.valid = true, .vec = (uint8_t)vec, .has_err = kind == EV_EXC && has_err, .err = err,
				.type = kind == EV_EXC ? VL_EVT_EXC : kind == EV_SOFT ? VL_EVT_SOFT
				      : vec == VL_NMI ? VL_EVT_NMI : VL_EVT_INTR,   /* APIC vectors are >= 16 */
			};
			int h = exc_hook(m, &f, &vi);
			if (h == VL_HOOK_STOP || m->state != VL_M_RUNNING)
				return false;
			if (h == VL_HOOK_DONE) {
				uint64_t after = m->ctr->events[VL_EV_EXCEPTIONS] + m->ctr->events[VL_EV_INTERRUPTS];
				if (after != delivered_before)
					return false;   /* the VMM reflected the nested fault into the guest itself */
				if (++retries > DELIVER_MAX_RETRIES) {
					vl_machine_stop(m, VL_M_ERROR, "event %u: delivery faulted %d times (vector %u) although the VMM handled each",
							vec, retries, f.vec);
					return false;
				}
				continue;   /* the VMM fixed it (hidden fault): deliver the original event again */
			}
		}
		if (f.vec == VL_PF)
			m->cpu.cr2 = f.cr2;
		/* SDM Vol. 3 Table 6-5 classes apply to exceptions only: INT n /
		 * INT3 (EV_SOFT) and external interrupts are benign, so a fault
		 * while delivering them (e.g. INT 13 through a DPL 0 gate from
		 * CPL 3 -> #GP) is handled serially, never as #DF. */
		if (kind == EV_EXC && vec == VL_DF) {
			note_vec(m, f.vec);
			triple_fault(m);
			return false;
		}
		if (kind == EV_EXC && vl_exc_double_fault(vec, f.vec)) {
			note_vec(m, f.vec);   /* the diagnostic lists the cause of the #DF too */
			vec = VL_DF;
			has_err = true;
			err = 0;
		} else {
			vec = f.vec;
			has_err = f.has_err;
			err = f.err;
		}
		kind = EV_EXC;
		soft_len = 0;
		first = false;
	}
}

void cpu_deliver_fault(struct vl_machine *m)
{
	struct vl_fault f = m->priv->fault;
	if (f.vec == VL_FAULT_ABORT || m->state != VL_M_RUNNING)
		return;
	cpu_kick(m);
	if (exc_intercepted(m, f.vec)) {
		note_vec(m, f.vec);
		int h = exc_hook(m, &f, NULL);
		if (h != VL_HOOK_PASS)
			return;
	}
	if (f.vec == VL_PF)
		m->cpu.cr2 = f.cr2;
	cpu_deliver(m, f.vec, f.has_err, f.err, EV_EXC, 0);
}

/* ---- public entry points (machine.h) -------------------------------------- */
void vl_deliver_exception(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, uint64_t cr2, bool from_hw)
{
	struct vl_fault f = { .vec = vec, .has_err = has_err, .err = err, .cr2 = cr2 };
	cpu_flags_sync(m);
	cpu_kick(m);
	if (from_hw && exc_intercepted(m, vec) && exc_hook(m, &f, NULL) != VL_HOOK_PASS)
		return;
	if (!from_hw && vec != VL_DB && vec != VL_BP && vec != VL_OF)
		cpu_priv(m)->injected_faults++;   /* a fault: the intercepted instruction did not retire */
	if (vec == VL_PF)
		m->cpu.cr2 = cr2;
	cpu_deliver(m, vec & 0xff, has_err, err, EV_EXC, 0);
}

void vl_deliver_interrupt(struct vl_machine *m, unsigned vec)
{
	cpu_flags_sync(m);
	cpu_kick(m);
	vl_apic_accept(m, vec);
	cpu_deliver(m, vec & 0xff, false, 0, EV_INTR, 0);
}

/* SDM Vol. 3A 6.7.1: an NMI is delivered through vector 2 whatever IF
 * says (an external event: no gate DPL check, EXT = 1 in error codes),
 * and further NMIs are blocked until the next IRET. */
void vl_deliver_nmi(struct vl_machine *m)
{
	cpu_flags_sync(m);
	cpu_kick(m);
	m->cpu.nmi_pending = false;
	m->cpu.nmi_blocked = true;
	vl_count(m, VL_EV_NMIS, 1);
	cpu_deliver(m, VL_NMI, false, 0, EV_INTR, 0);
}
