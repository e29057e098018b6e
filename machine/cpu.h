/* cpu.h — the interpreter's private toolkit (CPU half): handler return
 * codes, register and memory operand access, lazy flags, condition codes,
 * the intercept call. Included by cpu.c, exec_*.c, exception.c, emulate.c.
 *
 * Handler contract: on entry cpu.rip is the instruction's address. A
 * handler that completes sets cpu.rip to the next RIP (or the branch
 * target) and returns VL_X_OK. A faulting handler leaves architectural
 * state untouched (memory reads first, register/memory writes last) and
 * returns VL_X_FAULT with m->priv->fault filled; the run loop delivers it.
 */
#ifndef VL_MACHINE_CPU_H
#define VL_MACHINE_CPU_H

#include <string.h>

#include "internal.h"
#include "decode.h"

enum {
	VL_X_OK = 0,      /* retired: charge the instruction's cost */
	VL_X_FAULT,       /* exception in m->priv->fault, not delivered yet */
	VL_X_HOOKED,      /* a VMM hook emulated it (exit): retired, no guest cost */
	VL_X_STOP,        /* not retired; machine state or an event changed everything (re-examine) */
	VL_X_AGAIN,       /* interruptible instruction (REP) made progress; RIP unchanged */
};

/* Lazy flag ops */
enum { LF_NONE = 0, LF_ADD, LF_SUB, LF_ADC, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
       LF_SHL, LF_SHR, LF_SAR /* src1 = value, src2 = masked count (non-zero) */ };

#define FL_ARITH (VL_FL_CF | VL_FL_PF | VL_FL_AF | VL_FL_ZF | VL_FL_SF | VL_FL_OF)

static inline struct vl_cpu_priv *cpu_priv(struct vl_machine *m) { return &m->priv->cpu; }

static inline uint64_t sz_mask(unsigned sz)
{
	return sz >= 8 ? ~0ull : (1ull << (8 * sz)) - 1;
}
static inline uint64_t sz_sign(unsigned sz) { return 1ull << (8 * sz - 1); }
static inline int64_t sx(uint64_t v, unsigned sz)
{
	unsigned sh = 64 - 8 * sz;
	return (int64_t)(v << sh) >> sh;
}

/* ---- faults --------------------------------------------------------------- */
static inline int cpu_fault(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err)
{
	struct vl_fault *f = &m->priv->fault;
	f->vec = vec;
	f->has_err = has_err;
	f->err = err;
	f->cr2 = 0;
	return VL_X_FAULT;
}
#define X_UD()     cpu_fault(m, VL_UD, false, 0)
#define X_GP(e)    cpu_fault(m, VL_GP, true, (e))
#define X_DE()     cpu_fault(m, VL_DE, false, 0)

/* ---- lazy flags ----------------------------------------------------------- */
uint64_t cpu_flags_compute(const struct vl_machine *m);   /* the arithmetic bits now */
/* Materialise lazy flags into cpu.rflags (before anyone outside looks). */
static inline void cpu_flags_sync(struct vl_machine *m)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	if (p->lf_op != LF_NONE) {
		m->cpu.rflags = (m->cpu.rflags & ~FL_ARITH) | cpu_flags_compute(m);
		p->lf_op = LF_NONE;
	}
}
static inline void lf_set(struct vl_machine *m, unsigned op, unsigned sz, uint64_t a, uint64_t b, uint64_t r)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	p->lf_op = (uint8_t)op;
	p->lf_sz = (uint8_t)sz;
	p->lf_src1 = a;
	p->lf_src2 = b;
	p->lf_res = r;
}
/* Eager update: the bits in `mask` become `val` (other flags unchanged). */
static inline void flags_set(struct vl_machine *m, uint64_t mask, uint64_t val)
{
	cpu_flags_sync(m);
	m->cpu.rflags = (m->cpu.rflags & ~mask) | (val & mask);
}
bool cpu_cond_slow(struct vl_machine *m, unsigned cc);
static inline bool cpu_cf(struct vl_machine *m)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	switch (p->lf_op) {
	case LF_ADD: return p->lf_res < p->lf_src1;
	case LF_SUB: return p->lf_src1 < p->lf_src2;
	case LF_LOGIC: return false;
	default: return (cpu_flags_compute(m) & VL_FL_CF) != 0;
	}
}
/* Condition code cc (0..15) of Jcc/SETcc/CMOVcc. */
static inline bool cpu_cond(struct vl_machine *m, unsigned cc)
{
	struct vl_cpu_priv *p = cpu_priv(m);
	bool r;
	if (p->lf_op == LF_SUB) {
		uint64_t a = p->lf_src1, b = p->lf_src2;
		switch (cc >> 1) {
		case 1: r = a < b; break;                                   /* B */
		case 2: r = a == b; break;                                  /* E */
		case 3: r = a <= b; break;                                  /* BE */
		case 6: r = sx(a, p->lf_sz) < sx(b, p->lf_sz); break;       /* L */
		case 7: r = sx(a, p->lf_sz) <= sx(b, p->lf_sz); break;      /* LE */
		default: return cpu_cond_slow(m, cc);
		}
		return r ^ (cc & 1);
	}
	if (p->lf_op != LF_NONE && ((cc >> 1) == 2 || (cc >> 1) == 4)) {
		/* E/NE, S/NS after any lazy op: cpu_flags_compute's ZF and SF are
		 * those of the recorded result for every op */
		uint64_t res = p->lf_res;
		r = (cc >> 1) == 2 ? (res & sz_mask(p->lf_sz)) == 0 : (res & sz_sign(p->lf_sz)) != 0;
		return r ^ (cc & 1);
	}
	if (p->lf_op == LF_LOGIC) {
		uint64_t res = p->lf_res;
		bool sf = (res & sz_sign(p->lf_sz)) != 0;
		switch (cc >> 1) {
		case 0: r = false; break;          /* O */
		case 1: r = false; break;          /* B */
		case 2: r = res == 0; break;       /* E */
		case 3: r = res == 0; break;       /* BE */
		case 4: r = sf; break;             /* S */
		case 6: r = sf; break;             /* L */
		case 7: r = res == 0 || sf; break; /* LE */
		default: return cpu_cond_slow(m, cc);
		}
		return r ^ (cc & 1);
	}
	return cpu_cond_slow(m, cc);
}

/* ---- registers ------------------------------------------------------------ */
static inline uint64_t reg_get(const struct vl_machine *m, unsigned r, unsigned sz, uint8_t rex)
{
	switch (sz) {
	case 1:
		if (!rex && r >= 4 && r < 8)
			return (m->cpu.gpr[r - 4] >> 8) & 0xff;
		return m->cpu.gpr[r] & 0xff;
	case 2: return m->cpu.gpr[r] & 0xffff;
	case 4: return m->cpu.gpr[r] & 0xffffffffu;
	default: return m->cpu.gpr[r];
	}
}
static inline void reg_set(struct vl_machine *m, unsigned r, unsigned sz, uint8_t rex, uint64_t v)
{
	uint64_t *g;
	switch (sz) {
	case 1:
		if (!rex && r >= 4 && r < 8) {
			g = &m->cpu.gpr[r - 4];
			*g = (*g & ~0xff00ull) | ((v & 0xff) << 8);
		} else {
			g = &m->cpu.gpr[r];
			*g = (*g & ~0xffull) | (v & 0xff);
		}
		break;
	case 2:
		g = &m->cpu.gpr[r];
		*g = (*g & ~0xffffull) | (v & 0xffff);
		break;
	case 4: m->cpu.gpr[r] = v & 0xffffffffu; break;
	default: m->cpu.gpr[r] = v; break;
	}
}

/* ---- memory --------------------------------------------------------------- */
static inline unsigned cpu_uacc(const struct vl_machine *m)
{
	return m->cpu.cpl == 3 ? VL_ACC_USER : 0;
}

/* Effective address (the offset LEA computes) of the ModRM memory operand. */
static inline uint64_t cpu_eff(const struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t a = (uint64_t)(int64_t)i->disp;
	if (i->base == VL_RIPREL)
		a += m->cpu.rip + i->len;
	else if (i->base != VL_NOREG)
		a += m->cpu.gpr[i->base];
	if (i->index != VL_NOREG)
		a += m->cpu.gpr[i->index] << i->scale;
	return i->asz == 4 ? (uint32_t)a : a;
}
/* Linear address of the ModRM memory operand (FS/GS base added). */
static inline uint64_t cpu_ea(const struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t a = cpu_eff(m, i);
	return i->seg != VL_SEG_NONE ? a + m->cpu.seg[i->seg].base : a;
}
/* Segment base for string/implicit operands (DS: may be overridden by FS/GS). */
static inline uint64_t cpu_segbase(const struct vl_machine *m, const struct vl_insn *i)
{
	return i->seg != VL_SEG_NONE ? m->cpu.seg[i->seg].base : 0;
}

/* Copy sz (1..8) bytes with a fixed-size move per size: a memcpy of a
 * run-time size compiles to a `rep movs` whose start-up dominated every
 * guest load and store (host speed only; the bytes are the same). */
static inline void cpy_sz(void *d, const void *s, unsigned sz)
{
	switch (sz) {
	case 8: memcpy(d, s, 8); break;
	case 4: memcpy(d, s, 4); break;
	case 2: memcpy(d, s, 2); break;
	case 1: memcpy(d, s, 1); break;
	default: memcpy(d, s, sz); break;
	}
}

/* The soft-TLB hit vl_mem_translate_inline would take for an access of sz
 * bytes at va, when the access is plain RAM: in one page, translation in
 * the soft TLB, frame backed and — for a write — holding no decoded or
 * watched code (vl_mem_note_write could call a VMM). No effect; the caller
 * then counts the DTLB hit and refreshes LRU as that hit does (fast core:
 * cpu.c chains, exec_str.c bulk REP). NULL when the access is anything else. */
static inline __attribute__((always_inline)) struct vl_soft_ent *cpu_soft_look_ctx(struct vl_machine *m, uint64_t va, unsigned sz,
						     unsigned acc, uint32_t ctx, uint8_t **host)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	if ((va & 0xfff) + sz > 4096)
		return NULL;
	struct vl_soft_ent *s = &mp->soft[VL_SOFT_IDX(m, acc, va)];
	if (s->vpage != (va >> 12) || s->id != s->ent->id || s->ctx != ctx)
		return NULL;
	uint64_t pa = ((uint64_t)s->frame << 12) | (va & 0xfff);
	if (pa + sz > m->mem_size || ((acc & VL_ACC_W) && mp->code_frames[pa >> 12]))
		return NULL;
	*host = m->mem + pa;
	return s;
}
/* The same, with vl_mem_ctx(m) (ctx: what the caller computed once while
 * nothing could change it: exec_block.c). */
static inline __attribute__((always_inline)) struct vl_soft_ent *cpu_soft_look(struct vl_machine *m, uint64_t va, unsigned sz, unsigned acc,
						 uint8_t **host)
{
	return cpu_soft_look_ctx(m, va, sz, acc, vl_mem_ctx(m), host);
}

/* Read sz (1..8) bytes at linear va. 0 or VL_X_FAULT. */
static inline int mem_rd(struct vl_machine *m, uint64_t va, unsigned sz, uint64_t *v, unsigned acc)
{
	uint64_t pa, x = 0;
	if (__builtin_expect((va & 0xfff) + sz <= 4096, 1)) {
		if (vl_mem_translate_inline(m, va, acc, &pa))
			return VL_X_FAULT;
		if (__builtin_expect(pa + sz <= m->mem_size, 1))
			cpy_sz(&x, m->mem + pa, sz);
		else
			x = vl_mem_unbacked_read(m, pa, sz);
	} else if (vl_mem_read(m, va, &x, sz, acc)) {
		return VL_X_FAULT;
	}
	*v = x & sz_mask(sz);
	return 0;
}
int cpu_emul_write(struct vl_machine *m, uint64_t va, unsigned sz, uint64_t v);
static inline int mem_wr(struct vl_machine *m, uint64_t va, unsigned sz, uint64_t v, unsigned acc)
{
	uint64_t pa;
	if (__builtin_expect(m->priv->cpu.emul, 0))
		return cpu_emul_write(m, va, sz, v);
	if (__builtin_expect((va & 0xfff) + sz <= 4096, 1)) {
		if (vl_mem_translate_inline(m, va, acc | VL_ACC_W, &pa))
			return VL_X_FAULT;
		if (__builtin_expect(pa + sz <= m->mem_size, 1)) {
			cpy_sz(m->mem + pa, &v, sz);
			if (__builtin_expect(m->priv->mem.code_frames[pa >> 12] != 0, 0))
				vl_mem_note_write(m, pa, sz);
		} else {
			vl_mem_unbacked_write(m, pa, sz, v);
		}
		return 0;
	}
	return vl_mem_write(m, va, &v, sz, acc) ? VL_X_FAULT : 0;
}
/* Probe a write (translate with W) without writing: for read-modify-write
 * instructions whose write must not fault after the read committed state. */
static inline int mem_probe_w(struct vl_machine *m, uint64_t va, unsigned sz, unsigned acc)
{
	uint64_t pa;
	if (m->priv->cpu.emul)
		return 0;   /* the VMM's write callback decides */
	if ((va & 0xfff) + sz <= 4096)
		return vl_mem_translate_inline(m, va, acc | VL_ACC_W, &pa) ? VL_X_FAULT : 0;
	if (vl_mem_translate(m, va, acc | VL_ACC_W, &pa) ||
	    vl_mem_translate(m, (va | 0xfff) + 1, acc | VL_ACC_W, &pa))
		return VL_X_FAULT;
	return 0;
}

/* The r/m operand (register or memory) */
static inline int rm_rd(struct vl_machine *m, const struct vl_insn *i, unsigned sz, uint64_t *v)
{
	if (i->mod == 3) {
		*v = reg_get(m, i->rm, sz, i->rex);
		return 0;
	}
	return mem_rd(m, cpu_ea(m, i), sz, v, cpu_uacc(m));
}
static inline int rm_wr(struct vl_machine *m, const struct vl_insn *i, unsigned sz, uint64_t v)
{
	if (i->mod == 3) {
		reg_set(m, i->rm, sz, i->rex, v);
		return 0;
	}
	return mem_wr(m, cpu_ea(m, i), sz, v, cpu_uacc(m));
}

/* Stack */
static inline int push(struct vl_machine *m, unsigned sz, uint64_t v)
{
	uint64_t rsp = m->cpu.gpr[VL_RSP] - sz;
	int rc = mem_wr(m, rsp, sz, v, cpu_uacc(m));
	if (rc) {
		if (m->priv->fault.vec == VL_GP)
			m->priv->fault.vec = VL_SS_FAULT;   /* non-canonical stack address: #SS(0) */
		return rc;
	}
	m->cpu.gpr[VL_RSP] = rsp;
	return 0;
}
static inline int pop_peek(struct vl_machine *m, unsigned sz, uint64_t off, uint64_t *v)
{
	int rc = mem_rd(m, m->cpu.gpr[VL_RSP] + off, sz, v, cpu_uacc(m));
	if (rc && m->priv->fault.vec == VL_GP)
		m->priv->fault.vec = VL_SS_FAULT;
	return rc;
}

/* ---- sensitive instructions ------------------------------------------------
 * Call the VMM's intercept hook if the class is selected. Returns -1 when
 * not intercepted (or the VMM passed): the handler continues; otherwise the
 * VL_X_* code to return. */
int cpu_intercept_slow(struct vl_machine *m, struct vl_sens_event *ev);
static inline int cpu_intercept(struct vl_machine *m, const struct vl_insn *i, struct vl_sens_event *ev)
{
	if (__builtin_expect(!(m->intercept & VL_SENS_BIT(i->sens)), 1))
		return -1;
	ev->cls = (enum vl_sens)i->sens;
	ev->len = i->len;
	ev->insn_rip = m->cpu.rip;
	ev->rep = i->rep != 0;
	return cpu_intercept_slow(m, ev);
}

/* ---- exceptions (exception.c) --------------------------------------------- */
/* Deliver the fault in m->priv->fault (RIP = the faulting instruction). */
void cpu_deliver_fault(struct vl_machine *m);
/* Event kinds for delivery */
enum { EV_EXC = 0, EV_SOFT = 1, EV_INTR = 2 };
/* Deliver vector vec now through the IDT, with #DF / triple-fault rules.
 * cpu.rip is the faulting or interrupted instruction; for EV_SOFT (INT n,
 * INT3: gate DPL checked) the pushed RIP is cpu.rip + soft_len. Returns
 * true when vec itself was delivered, false when a fault was delivered in
 * its place (or the machine stopped): an INT n that faults is not retired. */
bool cpu_deliver(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, int kind, unsigned soft_len);
/* VMCS-layout access rights of a descriptor's low quadword. */
static inline uint16_t desc_attr(uint64_t lo) { return (uint16_t)((lo >> 40) & 0xf0ff); }
/* Load a segment register from the GDT/LDT (MOV Sreg, POP Sreg, IRET, RETF). 0 or VL_X_FAULT. */
int cpu_load_seg(struct vl_machine *m, unsigned sreg, uint16_t sel, unsigned cpl_for_check);
/* Read a descriptor (8 bytes) for selector sel. 0 or VL_X_FAULT (#GP(sel)). */
int cpu_read_desc(struct vl_machine *m, uint16_t sel, uint64_t *lo, uint64_t *hi, bool system16);
/* RFLAGS as software sees it (lazy flags folded in). */
static inline uint64_t cpu_rflags(struct vl_machine *m)
{
	cpu_flags_sync(m);
	return m->cpu.rflags;
}
/* Set RFLAGS to v (arith bits included). */
static inline void cpu_set_rflags(struct vl_machine *m, uint64_t v)
{
	cpu_priv(m)->lf_op = LF_NONE;
	m->cpu.rflags = v | 2;
}

/* Events changed (IF, TPR, devices): re-examine before the next instruction. */
static inline void cpu_kick(struct vl_machine *m) { cpu_priv(m)->events = true; }

/* Decode mode of the current code segment: 64-bit mode (EFER.LMA and CS.L),
 * 32-bit (CS.D: protected or compatibility mode), or VL_DMODE_16 for what
 * the model does not run (real mode, 16-bit code segments). */
#define VL_DMODE_16 2u
#define SEG_ATTR_L VL_SEG_ATTR_L
#define SEG_ATTR_D VL_SEG_ATTR_D
static inline unsigned cpu_dmode(const struct vl_machine *m)
{
	const struct vl_cpu *c = &m->cpu;
	if (vl_cpu_in_64bit_mode(c))
		return VL_DMODE_64;
	if ((c->cr0 & VL_CR0_PE) && (c->seg[VL_CS].attr & SEG_ATTR_D))
		return VL_DMODE_32;
	return VL_DMODE_16;
}

/* Fast core (exec_fast.c): the specialised handler for decoded instruction
 * e, or e->fn when its form has none (identical semantics); *chain as
 * vl_insn.chain (decode.h). */
vl_exec_fn cpu_fast_fn(const struct vl_insn *e, uint8_t *chain);
/* vl_insn.chain kinds: register-only (fn), or a memory form the chain does
 * inline on the soft-TLB fast path (cpu.c chain_mem; else fn as usual);
 * VL_CHAIN_SEQ: register-only, never faults, always continues at rip + len
 * (the chain keeps RIP in a register across those). */
enum { VL_CHAIN_NO = 0, VL_CHAIN_REG, VL_CHAIN_LD8, VL_CHAIN_LD4, VL_CHAIN_ST8, VL_CHAIN_ST4,
       VL_CHAIN_PUSH8, VL_CHAIN_POP8, VL_CHAIN_CALL, VL_CHAIN_RET, VL_CHAIN_SEQ,
       VL_CHAIN_ALUM };   /* ADD..TEST reading (not writing) a memory operand, size 4 or 8 */
int op_jcc(struct vl_machine *m, const struct vl_insn *i);

/* Paging-mode changes */
void cpu_paging_changed(struct vl_machine *m);

#endif
