/* exec_fast.c — specialised handlers for the fast core (cpu.c).
 *
 * When the fast core fills a decode-cache slot, cpu_fast_fn() may replace
 * the instruction's generic handler (exec_int.c) by one specialised for its
 * form: operand size 4 or 8 fixed, register operands known, the memory size
 * a constant. Each specialised handler does exactly what the generic one
 * does for that form — same reads, same writes in the same order, same lazy
 * flags record, same faults — only without the run-time switches on size
 * and form. The reference core (VIRTLAB_CORE=ref) never uses them;
 * tests/engines/test_core_ref.c runs every workload both ways and requires
 * bit-identical counters and state.
 */
#include "cpu.h"

#define FI static inline __attribute__((always_inline))

FI int fnext(struct vl_machine *m, const struct vl_insn *i)
{
	m->cpu.rip += i->len;
	return VL_X_OK;
}

FI uint64_t tr(uint64_t v, unsigned sz) { return sz == 8 ? v : sz == 4 ? (uint32_t)v : v & 0xff; }

/* ---- moves --------------------------------------------------------------- */
#define MOVS(SZ)                                                                         \
	static int f_mov_eg_rr##SZ(struct vl_machine *m, const struct vl_insn *i)        \
	{                                                                                \
		m->cpu.gpr[i->rm] = tr(m->cpu.gpr[i->reg], SZ);                          \
		return fnext(m, i);                                                      \
	}                                                                                \
	static int f_mov_ge_rr##SZ(struct vl_machine *m, const struct vl_insn *i)        \
	{                                                                                \
		m->cpu.gpr[i->reg] = tr(m->cpu.gpr[i->rm], SZ);                          \
		return fnext(m, i);                                                      \
	}                                                                                \
	static int f_mov_ld##SZ(struct vl_machine *m, const struct vl_insn *i)           \
	{                                                                                \
		uint64_t v;                                                              \
		if (mem_rd(m, cpu_ea(m, i), SZ, &v, cpu_uacc(m)))                        \
			return VL_X_FAULT;                                               \
		m->cpu.gpr[i->reg] = v;                                                  \
		return fnext(m, i);                                                      \
	}                                                                                \
	static int f_mov_st##SZ(struct vl_machine *m, const struct vl_insn *i)           \
	{                                                                                \
		int rc = mem_wr(m, cpu_ea(m, i), SZ, tr(m->cpu.gpr[i->reg], SZ), cpu_uacc(m)); \
		return rc ? rc : fnext(m, i);                                            \
	}                                                                                \
	static int f_lea##SZ(struct vl_machine *m, const struct vl_insn *i)              \
	{                                                                                \
		m->cpu.gpr[i->reg] = tr(cpu_eff(m, i), SZ);                              \
		return fnext(m, i);                                                      \
	}
MOVS(8)
MOVS(4)

/* ---- ALU (exec_int.c alu() for ADD SUB AND OR XOR CMP TEST) ---------------
 * Forms (decode.c imm2): 0 r/m,reg  1 reg,r/m  2 r/m,imm  3 rAX,imm; only
 * register r/m operands (mod == 3) are specialised. */
enum { FK_ADD, FK_SUB, FK_AND, FK_OR, FK_XOR, FK_CMP, FK_TEST };

/* A register operand: sz 4 and 8 directly, sz 1 as reg_get/reg_set do
 * (AH..BH without REX). */
FI uint64_t rget(struct vl_machine *m, const struct vl_insn *i, unsigned r, unsigned sz)
{
	return sz == 1 ? reg_get(m, r, 1, i->rex) : tr(m->cpu.gpr[r], sz);
}
FI void rset(struct vl_machine *m, const struct vl_insn *i, unsigned r, unsigned sz, uint64_t v)
{
	if (sz == 1)
		reg_set(m, r, 1, i->rex, v);
	else
		m->cpu.gpr[r] = v;   /* v already truncated: a 32-bit write zero-extends */
}

FI int falu(struct vl_machine *m, const struct vl_insn *i, int k, int form, unsigned sz)
{
	unsigned d;
	uint64_t a, b, r;
	switch (form) {
	case 0: d = i->rm; a = rget(m, i, d, sz); b = rget(m, i, i->reg, sz); break;
	case 1: d = i->reg; a = rget(m, i, d, sz); b = rget(m, i, i->rm, sz); break;
	case 2: d = i->rm; a = rget(m, i, d, sz); b = tr(i->imm, sz); break;
	default: d = VL_RAX; a = rget(m, i, d, sz); b = tr(i->imm, sz); break;
	}
	unsigned lf;
	switch (k) {
	case FK_ADD: r = a + b; lf = LF_ADD; break;
	case FK_SUB: case FK_CMP: r = a - b; lf = LF_SUB; break;
	case FK_OR: r = a | b; lf = LF_LOGIC; break;
	case FK_AND: case FK_TEST: r = a & b; lf = LF_LOGIC; break;
	default: r = a ^ b; lf = LF_LOGIC; break;
	}
	r = tr(r, sz);
	if (k != FK_CMP && k != FK_TEST)
		rset(m, i, d, sz, r);
	lf_set(m, lf, sz, a, b, r);
	return fnext(m, i);
}

#define ALU1(K, F, SZ)                                                                 \
	static int f_alu_##K##_##F##_##SZ(struct vl_machine *m, const struct vl_insn *i) \
	{                                                                              \
		return falu(m, i, K, F, SZ);                                           \
	}
#define ALU_FORMS(K, SZ) ALU1(K, 0, SZ) ALU1(K, 1, SZ) ALU1(K, 2, SZ) ALU1(K, 3, SZ)
#define ALU_KINDS(SZ)                                                                  \
	ALU_FORMS(FK_ADD, SZ) ALU_FORMS(FK_SUB, SZ) ALU_FORMS(FK_AND, SZ) ALU_FORMS(FK_OR, SZ) \
	ALU_FORMS(FK_XOR, SZ) ALU_FORMS(FK_CMP, SZ) ALU_FORMS(FK_TEST, SZ)
ALU_KINDS(8)
ALU_KINDS(4)
ALU_KINDS(1)

#define ALU_ROW(K, SZ) { f_alu_##K##_0_##SZ, f_alu_##K##_1_##SZ, f_alu_##K##_2_##SZ, f_alu_##K##_3_##SZ }
static const vl_exec_fn alu_tab[3][7][4] = {
	{ ALU_ROW(FK_ADD, 8), ALU_ROW(FK_SUB, 8), ALU_ROW(FK_AND, 8), ALU_ROW(FK_OR, 8), ALU_ROW(FK_XOR, 8),
	  ALU_ROW(FK_CMP, 8), ALU_ROW(FK_TEST, 8) },
	{ ALU_ROW(FK_ADD, 4), ALU_ROW(FK_SUB, 4), ALU_ROW(FK_AND, 4), ALU_ROW(FK_OR, 4), ALU_ROW(FK_XOR, 4),
	  ALU_ROW(FK_CMP, 4), ALU_ROW(FK_TEST, 4) },
	{ ALU_ROW(FK_ADD, 1), ALU_ROW(FK_SUB, 1), ALU_ROW(FK_AND, 1), ALU_ROW(FK_OR, 1), ALU_ROW(FK_XOR, 1),
	  ALU_ROW(FK_CMP, 1), ALU_ROW(FK_TEST, 1) },
};

/* ---- shifts by an immediate or 1 on a register (exec_int.c op_shift) ------- */
enum { FS_SHL, FS_SHR, FS_SAR };
FI int fshift(struct vl_machine *m, const struct vl_insn *i, int k, unsigned sz)
{
	unsigned bits = 8 * sz;
	unsigned cnt = i->imm2 == 1 ? 1 : (unsigned)i->imm;
	uint64_t *g = &m->cpu.gpr[i->rm];
	uint64_t a = tr(*g, sz), r;
	cnt &= sz == 8 ? 63 : 31;
	if (!cnt) {
		if (sz == 4)
			*g = a;   /* a 32-bit register destination is still written (zero-extended) */
		return fnext(m, i);
	}
	unsigned lf;
	if (k == FS_SHL) {
		r = tr(a << cnt, sz);   /* cnt < bits: the count is masked to 31 / 63 */
		lf = LF_SHL;
	} else if (k == FS_SHR) {
		r = a >> cnt;
		lf = LF_SHR;
	} else {
		r = tr((uint64_t)(sx(a, sz) >> cnt), sz);
		lf = LF_SAR;
	}
	(void)bits;
	*g = r;
	lf_set(m, lf, sz, a, cnt, r);
	return fnext(m, i);
}
#define SHIFT1(K, SZ)                                                                  \
	static int f_shift_##K##_##SZ(struct vl_machine *m, const struct vl_insn *i)   \
	{                                                                              \
		return fshift(m, i, K, SZ);                                            \
	}
SHIFT1(FS_SHL, 8) SHIFT1(FS_SHR, 8) SHIFT1(FS_SAR, 8)
SHIFT1(FS_SHL, 4) SHIFT1(FS_SHR, 4) SHIFT1(FS_SAR, 4)

/* ---- Jcc with a fixed condition (exec_int.c op_jcc, 64-bit operand size) -- */
#define JCC1(CC)                                                                       \
	static int f_jcc_##CC(struct vl_machine *m, const struct vl_insn *i)           \
	{                                                                              \
		if (cpu_cond(m, CC)) {                                                 \
			uint64_t t = m->cpu.rip + i->len + i->imm;                     \
			if ((uint64_t)((int64_t)(t << 16) >> 16) != t)                 \
				return X_GP(0);                                        \
			m->cpu.rip = t;                                                \
			return VL_X_OK;                                                \
		}                                                                      \
		return fnext(m, i);                                                    \
	}
JCC1(0) JCC1(1) JCC1(2) JCC1(3) JCC1(4) JCC1(5) JCC1(6) JCC1(7)
JCC1(8) JCC1(9) JCC1(10) JCC1(11) JCC1(12) JCC1(13) JCC1(14) JCC1(15)
static const vl_exec_fn jcc_tab[16] = {
	f_jcc_0, f_jcc_1, f_jcc_2, f_jcc_3, f_jcc_4, f_jcc_5, f_jcc_6, f_jcc_7,
	f_jcc_8, f_jcc_9, f_jcc_10, f_jcc_11, f_jcc_12, f_jcc_13, f_jcc_14, f_jcc_15,
};

/* ---- stack (exec_int.c op_push_r / op_pop_r, 64-bit) ---------------------- */
static int f_push_r8(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = push(m, 8, m->cpu.gpr[i->reg]);
	return rc ? rc : fnext(m, i);
}
static int f_pop_r8(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = pop_peek(m, 8, 0, &v);
	if (rc)
		return rc;
	m->cpu.gpr[VL_RSP] += 8;
	m->cpu.gpr[i->reg] = v;   /* POP RSP: the popped value wins */
	return fnext(m, i);
}

/* The handler the fast core runs for decoded instruction e; *chain = the
 * VL_CHAIN_* kind (cpu.h) when that instruction qualifies for vl_insn.chain. */
static vl_exec_fn fast_fn(const struct vl_insn *e, uint8_t *chain);
vl_exec_fn cpu_fast_fn(const struct vl_insn *e, uint8_t *chain)
{
	*chain = 0;
	vl_exec_fn f = fast_fn(e, chain);
	if (e->op == VL_OP_JCC && f == op_jcc)
		*chain = VL_CHAIN_REG;   /* registers, RIP, flags; may fault (#GP, non-canonical target) */
	return f;
}

static vl_exec_fn fast_fn(const struct vl_insn *e, uint8_t *chain)
{
	unsigned sz = e->osz;
	if (sz == 1) {   /* byte ALU on registers only */
		switch (e->op) {
		case VL_OP_ADD: case VL_OP_SUB: case VL_OP_AND: case VL_OP_OR:
		case VL_OP_XOR: case VL_OP_CMP: case VL_OP_TEST:
			break;
		default:
			return e->fn;
		}
	} else if (sz != 8 && sz != 4) {
		return e->fn;
	}
	int s = sz == 8 ? 0 : sz == 4 ? 1 : 2;
	switch (e->op) {
	case VL_OP_JCC:
		if (sz != 8)
			return e->fn;   /* 32-bit code: EIP wraps (op_jcc) */
		*chain = VL_CHAIN_REG;
		return jcc_tab[e->imm2 & 15];
	case VL_OP_CALL:
		if (sz == 8)
			*chain = VL_CHAIN_CALL;
		return e->fn;
	case VL_OP_RET:
		if (sz == 8 && !(e->imm & 0xffff))
			*chain = VL_CHAIN_RET;
		return e->fn;
	case VL_OP_MOV_EG:
		if (e->mod == 3)
			return *chain = VL_CHAIN_SEQ, sz == 8 ? f_mov_eg_rr8 : f_mov_eg_rr4;
		*chain = sz == 8 ? VL_CHAIN_ST8 : VL_CHAIN_ST4;
		return sz == 8 ? f_mov_st8 : f_mov_st4;
	case VL_OP_MOV_GE:
		if (e->mod == 3)
			return *chain = VL_CHAIN_SEQ, sz == 8 ? f_mov_ge_rr8 : f_mov_ge_rr4;
		*chain = sz == 8 ? VL_CHAIN_LD8 : VL_CHAIN_LD4;
		return sz == 8 ? f_mov_ld8 : f_mov_ld4;
	case VL_OP_LEA:
		return *chain = VL_CHAIN_SEQ, sz == 8 ? f_lea8 : f_lea4;
	case VL_OP_ADD: case VL_OP_SUB: case VL_OP_AND: case VL_OP_OR:
	case VL_OP_XOR: case VL_OP_CMP: case VL_OP_TEST: {
		if (e->lock || e->imm2 > 3)
			return e->fn;
		if (e->imm2 < 3 && e->mod != 3) {
			/* memory operand only read: reg op= [mem], CMP/TEST [mem], reg/imm;
			 * the chain does it inline on a soft-TLB hit (cpu.c chain_mem) */
			if (sz != 1 && (e->imm2 == 1 || e->op == VL_OP_CMP || e->op == VL_OP_TEST))
				*chain = VL_CHAIN_ALUM;
			return e->fn;
		}
		int k = e->op == VL_OP_ADD ? FK_ADD : e->op == VL_OP_SUB ? FK_SUB : e->op == VL_OP_AND ? FK_AND
		      : e->op == VL_OP_OR ? FK_OR : e->op == VL_OP_XOR ? FK_XOR : e->op == VL_OP_CMP ? FK_CMP : FK_TEST;
		*chain = VL_CHAIN_SEQ;
		return alu_tab[s][k][e->imm2];
	}
	case VL_OP_SHL: case VL_OP_SHR: case VL_OP_SAR:
		if (e->mod != 3 || e->imm2 == 2)
			return e->fn;
		*chain = VL_CHAIN_SEQ;
		if (e->op == VL_OP_SHL)
			return sz == 8 ? f_shift_FS_SHL_8 : f_shift_FS_SHL_4;
		if (e->op == VL_OP_SHR)
			return sz == 8 ? f_shift_FS_SHR_8 : f_shift_FS_SHR_4;
		return sz == 8 ? f_shift_FS_SAR_8 : f_shift_FS_SAR_4;
	case VL_OP_PUSH_R:
		if (sz != 8)
			return e->fn;
		*chain = VL_CHAIN_PUSH8;
		return f_push_r8;
	case VL_OP_POP_R:
		if (sz != 8)
			return e->fn;
		*chain = VL_CHAIN_POP8;
		return f_pop_r8;
	default:
		return e->fn;
	}
}
