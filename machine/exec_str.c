/* exec_str.c — string instructions (MOVS CMPS STOS LODS SCAS INS OUTS)
 * with REP/REPE/REPNE. A REP instruction runs in slices of at most
 * cpu_priv.rep_chunk iterations; between slices RIP stays on it (VL_X_AGAIN)
 * so interrupts, devices and limits are looked at, as on hardware, where
 * a REP string instruction is interruptible between iterations. Every
 * iteration charges profile insn.string (INS/OUTS: insn.io) itself; the
 * instruction retires once, when the count reaches zero.
 */
#include "cpu.h"

static inline uint64_t cnt_get(const struct vl_machine *m, const struct vl_insn *i)
{
	return i->asz == 4 ? (uint32_t)m->cpu.gpr[VL_RCX] : m->cpu.gpr[VL_RCX];
}
static inline void reg_adv(struct vl_machine *m, const struct vl_insn *i, unsigned r, int64_t d)
{
	uint64_t v = m->cpu.gpr[r] + (uint64_t)d;
	m->cpu.gpr[r] = i->asz == 4 ? (uint32_t)v : v;
}
static inline uint64_t ra(const struct vl_machine *m, const struct vl_insn *i, unsigned r)
{
	return i->asz == 4 ? (uint32_t)m->cpu.gpr[r] : m->cpu.gpr[r];
}
static inline int64_t step(const struct vl_machine *m, const struct vl_insn *i)
{
	return (m->cpu.rflags & VL_FL_DF) ? -(int64_t)i->osz : (int64_t)i->osz;
}

/* Charge n iterations (nothing while the VMM's emulator runs the handler). */
static inline void str_charge(struct vl_machine *m, uint64_t n, unsigned pf, uint64_t each)
{
	if (!m->priv->cpu.emul)
		vl_charge_pf(m, VL_CAT_GUEST, pf, n * each);
}

enum str_kind { S_MOVS, S_CMPS, S_STOS, S_LODS, S_SCAS, S_INS, S_OUTS };

/* One iteration. Returns 0, VL_X_FAULT; *stop for REPE/REPNE termination. */
static inline int str_one(struct vl_machine *m, const struct vl_insn *i, enum str_kind k)
{
	unsigned sz = i->osz, acc = cpu_uacc(m);
	int64_t d = step(m, i);
	uint64_t a, b;
	int rc;

	switch (k) {
	case S_MOVS:
		if ((rc = mem_rd(m, ra(m, i, VL_RSI) + cpu_segbase(m, i), sz, &a, acc)) ||
		    (rc = mem_wr(m, ra(m, i, VL_RDI), sz, a, acc)))
			return rc;
		reg_adv(m, i, VL_RSI, d);
		reg_adv(m, i, VL_RDI, d);
		return 0;
	case S_CMPS:
		if ((rc = mem_rd(m, ra(m, i, VL_RSI) + cpu_segbase(m, i), sz, &a, acc)) ||
		    (rc = mem_rd(m, ra(m, i, VL_RDI), sz, &b, acc)))
			return rc;
		lf_set(m, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
		reg_adv(m, i, VL_RSI, d);
		reg_adv(m, i, VL_RDI, d);
		return 0;
	case S_STOS:
		if ((rc = mem_wr(m, ra(m, i, VL_RDI), sz, reg_get(m, VL_RAX, sz, i->rex), acc)))
			return rc;
		reg_adv(m, i, VL_RDI, d);
		return 0;
	case S_LODS:
		if ((rc = mem_rd(m, ra(m, i, VL_RSI) + cpu_segbase(m, i), sz, &a, acc)))
			return rc;
		reg_set(m, VL_RAX, sz, i->rex, a);
		reg_adv(m, i, VL_RSI, d);
		return 0;
	case S_SCAS:
		if ((rc = mem_rd(m, ra(m, i, VL_RDI), sz, &b, acc)))
			return rc;
		a = reg_get(m, VL_RAX, sz, i->rex);
		lf_set(m, LF_SUB, sz, a, b, (a - b) & sz_mask(sz));
		reg_adv(m, i, VL_RDI, d);
		return 0;
	case S_INS:
		/* the destination is probed before the port is read (a fault must not lose input) */
		if ((rc = mem_probe_w(m, ra(m, i, VL_RDI), sz, acc)))
			return rc;
		a = vl_io_in(m, (uint16_t)m->cpu.gpr[VL_RDX], sz);
		if ((rc = mem_wr(m, ra(m, i, VL_RDI), sz, a, acc)))
			return rc;
		reg_adv(m, i, VL_RDI, d);
		return 0;
	case S_OUTS:
		if ((rc = mem_rd(m, ra(m, i, VL_RSI) + cpu_segbase(m, i), sz, &a, acc)))
			return rc;
		vl_io_out(m, (uint16_t)m->cpu.gpr[VL_RDX], sz, (uint32_t)a);
		reg_adv(m, i, VL_RSI, d);
		return 0;
	}
	return 0;
}

/* Fast core only: up to `max` forward iterations of REP STOS / REP MOVS at
 * once while every element is plain RAM on the soft-TLB fast path — the
 * destination (and source) elements in one page each, the soft TLB holding
 * both translations, RAM frames, no decoded or watched code in the
 * destination frame. Per element it does what str_one's mem_rd/mem_wr do
 * on that path (count the DTLB hit, refresh LRU — in the same order —,
 * copy in order, so overlapping copies repeat as REP MOVS does) and what
 * the loop does (RSI/RDI/RCX). Returns the iterations done (0: none, the
 * element-at-a-time path takes over). */
static uint64_t str_bulk(struct vl_machine *m, const struct vl_insn *i, enum str_kind k, uint64_t max)
{
	unsigned sz = i->osz, acc = cpu_uacc(m);
	uint64_t *g = m->cpu.gpr, dva = g[VL_RDI], sva = g[VL_RSI] + cpu_segbase(m, i);
	uint64_t j = (4096 - (dva & 0xfff)) / sz;
	uint8_t *dh, *sh = NULL;
	struct vl_soft_ent *ds = cpu_soft_look(m, dva, sz, acc | VL_ACC_W, &dh), *ss = NULL;
	if (!ds)
		return 0;
	if (k == S_MOVS) {
		uint64_t js = (4096 - (sva & 0xfff)) / sz;
		if (js < j)
			j = js;
		if (!(ss = cpu_soft_look(m, sva, sz, acc, &sh)))
			return 0;
	}
	if (j > max)
		j = max;
	if (!j)
		return 0;
	struct vl_tlb *dtlb = &m->priv->mem.dtlb;
	uint64_t v = g[VL_RAX];
	/* LRU: per element tlb_touch(source) (MOVS), then tlb_touch(dest) —
	 * done here in closed form. Touching the most recent entry changes
	 * nothing, so STOS (or a MOVS within one entry) bumps at most once; a
	 * MOVS alternating two entries bumps the clock on every touch but a
	 * first one on the entry already most recent, and leaves the source
	 * one stamp below the destination. */
	if (k == S_MOVS && ss->ent != ds->ent) {
		dtlb->clock += 2 * j - (dtlb->mru == ss->ent);
		ss->ent->lru = dtlb->clock - 1;
		ds->ent->lru = dtlb->clock;
		dtlb->mru = ds->ent;
	} else {
		tlb_touch(dtlb, ds->ent);
	}
	/* The bytes, as the element-at-a-time forward copy leaves them. */
	if (k == S_MOVS) {
		if (dh + j * sz <= sh || sh + j * sz <= dh) {
			memcpy(dh, sh, j * sz);
		} else {
			for (uint64_t n = 0; n < j; n++)   /* overlapping: a repeating pattern */
				cpy_sz(dh + n * sz, sh + n * sz, sz);
		}
	} else if (sz == 1 || v == 0) {
		memset(dh, (int)(v & 0xff), j * sz);
	} else if (sz == 8) {
		for (uint64_t n = 0; n < j; n++)
			memcpy(dh + n * 8, &v, 8);
	} else if (sz == 4) {
		for (uint64_t n = 0; n < j; n++)
			memcpy(dh + n * 4, &v, 4);
	} else {
		for (uint64_t n = 0; n < j; n++)
			memcpy(dh + n * 2, &v, 2);
	}
	m->ctr->events[VL_EV_DTLB_HITS] += k == S_MOVS ? 2 * j : j;
	g[VL_RDI] += j * sz;
	if (k == S_MOVS)
		g[VL_RSI] += j * sz;
	g[VL_RCX] -= j;
	return j;
}

/* each: the cycles of one iteration, profile value pf (insn.string, insn.io). */
static int str_exec(struct vl_machine *m, const struct vl_insn *i, enum str_kind k, unsigned pf, uint64_t each)
{
	int rc;
	if (!i->rep) {
		if ((rc = str_one(m, i, k)))
			return rc;
		str_charge(m, 1, pf, each);
		m->cpu.rip += i->len;
		return VL_X_OK;
	}
	bool cond = k == S_CMPS || k == S_SCAS;
	uint64_t n = 0, chunk = m->priv->cpu.rep_chunk;
	/* the fast core's bulk path: 64-bit addressing, forward, not the VMM's emulator */
	bool bulk = (k == S_STOS || k == S_MOVS) && !m->priv->cpu.core_ref && !m->priv->cpu.emul && i->asz == 8 &&
		    !(m->cpu.rflags & VL_FL_DF) && (i->osz == 8 || i->osz == 4 || i->osz == 2 || i->osz == 1);
	while (cnt_get(m, i)) {
		if (n == chunk) {
			str_charge(m, n, pf, each);
			return VL_X_AGAIN;
		}
		if (bulk) {
			uint64_t j = str_bulk(m, i, k, chunk - n < cnt_get(m, i) ? chunk - n : cnt_get(m, i));
			if (j) {
				n += j;
				continue;
			}
		}
		rc = str_one(m, i, k);
		if (rc) {
			str_charge(m, n, pf, each);
			return rc;
		}
		n++;
		reg_adv(m, i, VL_RCX, -1);
		if (m->state != VL_M_RUNNING) {
			str_charge(m, n, pf, each);
			return VL_X_STOP;
		}
		if (cond) {
			bool zf = cpu_cond(m, 4);
			if ((i->rep == 0xf3 && !zf) || (i->rep == 0xf2 && zf))
				break;
		}
	}
	str_charge(m, n ? n : 1, pf, each);
	m->cpu.rip += i->len;
	return VL_X_OK;
}

int op_movs(struct vl_machine *m, const struct vl_insn *i) { return str_exec(m, i, S_MOVS, VL_PF_insn_string, m->prof->insn_string); }
int op_cmps(struct vl_machine *m, const struct vl_insn *i) { return str_exec(m, i, S_CMPS, VL_PF_insn_string, m->prof->insn_string); }
int op_stos(struct vl_machine *m, const struct vl_insn *i) { return str_exec(m, i, S_STOS, VL_PF_insn_string, m->prof->insn_string); }
int op_lods(struct vl_machine *m, const struct vl_insn *i) { return str_exec(m, i, S_LODS, VL_PF_insn_string, m->prof->insn_string); }
int op_scas(struct vl_machine *m, const struct vl_insn *i) { return str_exec(m, i, S_SCAS, VL_PF_insn_string, m->prof->insn_string); }

/* I/O privilege: CPL > IOPL faults. The TSS I/O permission bitmap is not
 * modelled (the guest does port I/O at CPL 0 only); documented in the README. */
static inline bool io_denied(const struct vl_machine *m)
{
	return m->cpu.cpl > ((m->cpu.rflags >> 12) & 3);
}

static int str_io(struct vl_machine *m, const struct vl_insn *i, bool out)
{
	if (io_denied(m))
		return X_GP(0);
	struct vl_insn t = *i;
	if (t.osz == 8)
		t.osz = 4;
	struct vl_sens_event ev = { .write = out, .size = t.osz, .string = 1,
				    .port = (uint16_t)m->cpu.gpr[VL_RDX], .gpr = 0xff };
	int h = cpu_intercept(m, i, &ev);
	if (h >= 0)
		return h;
	cpu_kick(m);
	return str_exec(m, &t, out ? S_OUTS : S_INS, VL_PF_insn_io, m->prof->insn_io);
}
int op_ins(struct vl_machine *m, const struct vl_insn *i) { return str_io(m, i, false); }
int op_outs(struct vl_machine *m, const struct vl_insn *i) { return str_io(m, i, true); }
