/* exec_block.c — decoded blocks for the fast core (block.h; run from
 * cpu.c cpu_chain).
 *
 * Each micro-op does exactly what the instruction's handler does for that
 * form (exec_fast.c specialised handlers, exec_int.c op_mov_ri / op_jmp /
 * op_nop, cpu.c chain_mem for the memory forms) — same reads, same writes
 * in the same order, same lazy-flags record, same soft-TLB hit counting —
 * except three things nothing can observe:
 * - cpu.rip is stored once, when the block returns (no micro-op reads it:
 *   RIP-relative addresses and branch targets come from the page's virtual
 *   base and the op's page offset);
 * - the paging context (vl_mem_ctx) and the CPL's access bit are read once
 *   per block run (no micro-op can change them);
 * - a lazy-flags record that a later op of the same block overwrites before
 *   anything can look at it is not written ("dead flags", decided when the
 *   block is built): looking = a flag reader (Jcc), any op that may hand
 *   its instruction to the generic path (every memory form, every control
 *   transfer: the generic handler, a fault delivery or an intercept could
 *   read RFLAGS), and the block's end.
 * Retirement counts, cycles, the TSC and the instruction limit are the
 * caller's (cpu_chain): it runs a block only when all of it fits before
 * the next device deadline and the instruction limit, and adds the block's
 * sums — the same sums the instruction-at-a-time loop adds. Every counter
 * stays bit-identical to the reference core (tests/engines/test_core_ref.c,
 * tests/machine/test_cpu_fastcore.c).
 */
#include <stdlib.h>

#include "block.h"

int op_nop(struct vl_machine *m, const struct vl_insn *i);   /* exec_int.c */
int op_jmp(struct vl_machine *m, const struct vl_insn *i);

enum {
	UK_END = 0, UK_NOP, UK_MOV8, UK_MOV4, UK_MOVI, UK_LEA8, UK_LEA4,
	UK_LD8, UK_LD4, UK_ST8, UK_ST4, UK_PUSH8, UK_POP8, UK_ALUM /* + op (7) */ , UK_ALUM_END = UK_ALUM + 6,
	UK_JMP, UK_CALL, UK_RET, UK_CALLM, UK_MOVXR, UK_MOVXM, UK_INCDEC, UK_STI, UK_LDN, UK_STN, UK_MOVN, UK_SHCL,
	UK_JCC,                    /* + cc (16) */
	UK_ALU = UK_JCC + 16,      /* + ((op * 4 + size index) * 2 + imm) * 2 + live flags: op 0..6 (112) */
	UK_SH = UK_ALU + 112,      /* + ((k * 2 + (sz == 4)) * 2 + live flags: SHL SHR SAR (12) */
	UK_COUNT = UK_SH + 12
};

#define VL_BLK_CAP 8192u   /* blocks (about 1.3 KiB each, touched lazily) */

int cpu_blk_init(struct vl_machine *m)
{
	struct vl_blkc *bc = calloc(1, sizeof *bc);
	if (!bc)
		return -1;
	bc->b = calloc(VL_BLK_CAP, sizeof *bc->b);
	if (!bc->b) {
		free(bc);
		return -1;
	}
	bc->cap = VL_BLK_CAP;
	bc->used = 1;
	const struct vl_profile *pr = m->prof;
	if (pr) {
		const uint64_t lc[VL_BLK_LANES] = { pr->insn_alu, pr->insn_load, pr->insn_store, pr->insn_branch,
						    pr->insn_push_pop };
		for (int j = 0; j < VL_BLK_LANES; j++)   /* clamped as cpu.c insn_cost does */
			bc->lane_cost[j] = lc[j] > UINT32_MAX ? UINT32_MAX : (uint32_t)lc[j];
	}
	m->priv->cpu.blkc = bc;
	return 0;
}

void cpu_blk_free(struct vl_machine *m)
{
	struct vl_blkc *bc = m->priv->cpu.blkc;
	if (!bc)
		return;
	free(bc->b);
	free(bc);
	m->priv->cpu.blkc = NULL;
}

void vl_cpu_block_stats(const struct vl_machine *m, uint64_t *built, uint64_t *flushes)
{
	const struct vl_blkc *bc = m->priv->cpu.blkc;
	*built = bc ? bc->built : 0;
	*flushes = bc ? bc->flushes : 0;
}

void vl_cpu_set_block_cap(struct vl_machine *m, uint32_t cap)
{
	struct vl_blkc *bc = m->priv->cpu.blkc;
	if (!bc)
		return;
	cpu_blk_reset(m);
	bc->cap = cap < 2 ? 2 : cap > VL_BLK_CAP ? VL_BLK_CAP : cap;
}

void cpu_blk_reset(struct vl_machine *m)
{
	struct vl_blkc *bc = m->priv->cpu.blkc;
	if (bc && bc->used > 1) {
		bc->used = 1;   /* an index >= used is never trusted (cpu_blk_get) */
		bc->epoch++;    /* nor a link to an older block */
		bc->flushes++;
	}
}

#define CANON(v) ((uint64_t)((int64_t)((v) << 16) >> 16) == (v))


/* ---- the executor ---------------------------------------------------------- */
#define TR8(x) (x)
#define TR4(x) ((uint64_t)(uint32_t)(x))
#define TR2(x) ((x) & 0xffffull)
#define TR1(x) ((x) & 0xffull)
#define SZI8 0
#define SZI4 1
#define SZI2 2
#define SZI1 3
/* register operands as reg_get / reg_set (byte registers AH..BH: shift 8) */
#define RD8(r, sh) g[r]
#define RD4(r, sh) TR4(g[r])
#define RD2(r, sh) TR2(g[r])
#define RD1(r, sh) ((g[r] >> (sh)) & 0xff)
#define WR8(r, sh, v) (g[r] = (v))
#define WR4(r, sh, v) (g[r] = (v))
#define WR2(r, sh, v) (g[r] = (g[r] & ~0xffffull) | (v))
#define WR1(r, sh, v) (g[r] = (g[r] & ~(0xffull << (sh))) | ((v) << (sh)))
#define SRC_r(SZ) RD##SZ(u->s, u->sh)
#define SRC_i(SZ) u->imm
#define SRCI_r 0
#define SRCI_i 1
#define NEXT                      \
	do {                      \
		u++;              \
		goto *u->lbl;     \
	} while (0)
#define LFSET(OP, SZ, A, B, R)           \
	do {                             \
		p->lf_op = (uint8_t)(OP); \
		p->lf_sz = (uint8_t)(SZ); \
		p->lf_src1 = (A);        \
		p->lf_src2 = (B);        \
		p->lf_res = (R);         \
	} while (0)

/* ALU ops: index, name, C operator, lazy-flags op, writes its destination */
#define ALU_OPS(X)                                   \
	X(0, ADD, +, LF_ADD, 1) X(1, SUB, -, LF_SUB, 1) \
	X(2, AND, &, LF_LOGIC, 1) X(3, OR, |, LF_LOGIC, 1) \
	X(4, XOR, ^, LF_LOGIC, 1) X(5, CMP, -, LF_SUB, 0) X(6, TEST, &, LF_LOGIC, 0)
#define ALU_VARIANTS2(V, IDX, NM, OPR, LF, WB, SZ) \
	V(IDX, NM, OPR, LF, WB, SZ, r, 0) V(IDX, NM, OPR, LF, WB, SZ, r, 1) \
	V(IDX, NM, OPR, LF, WB, SZ, i, 0) V(IDX, NM, OPR, LF, WB, SZ, i, 1)
#define ALU_VARIANTS(V, IDX, NM, OPR, LF, WB) \
	ALU_VARIANTS2(V, IDX, NM, OPR, LF, WB, 8) ALU_VARIANTS2(V, IDX, NM, OPR, LF, WB, 4) \
	ALU_VARIANTS2(V, IDX, NM, OPR, LF, WB, 2) ALU_VARIANTS2(V, IDX, NM, OPR, LF, WB, 1)
#define ALU_TAB1(IDX, NM, OPR, LF, WB, SZ, SRC, FL) \
	[UK_ALU + ((IDX * 4 + SZI##SZ) * 2 + SRCI_##SRC) * 2 + FL] = &&l_alu_##NM##_##SZ##_##SRC##_##FL,
#define ALU_TAB(IDX, NM, OPR, LF, WB) ALU_VARIANTS(ALU_TAB1, IDX, NM, OPR, LF, WB)
#define ALUM_TAB(IDX, NM, OPR, LF, WB) [UK_ALUM + IDX] = &&l_alum_##NM,
/* exec_fast.c falu / exec_int.c alu() on registers */
#define ALU_BODY1(IDX, NM, OPR, LF, WB, SZ, SRC, FL)                    \
	l_alu_##NM##_##SZ##_##SRC##_##FL : {                             \
		uint64_t a = RD##SZ(u->d, u->dh), bb = SRC_##SRC(SZ);    \
		uint64_t r = TR##SZ(a OPR bb);                           \
		if (WB)                                                  \
			WR##SZ(u->d, u->dh, r);                          \
		if (FL)                                                  \
			LFSET(LF, SZ, a, bb, r);                         \
		NEXT;                                                    \
	}
#define ALU_BODY(IDX, NM, OPR, LF, WB) ALU_VARIANTS(ALU_BODY1, IDX, NM, OPR, LF, WB)

#define SH_KINDS(X) X(0, SHL) X(1, SHR) X(2, SAR)
#define SH_TAB1(K, NM, SZ, FL) [UK_SH + (K * 2 + SZI##SZ) * 2 + FL] = &&l_sh_##NM##_##SZ##_##FL,
#define SH_TAB(K, NM) SH_TAB1(K, NM, 8, 0) SH_TAB1(K, NM, 8, 1) SH_TAB1(K, NM, 4, 0) SH_TAB1(K, NM, 4, 1)
/* exec_fast.c fshift, count (u->imm) non-zero and already masked */
#define SH_RES_SHL(SZ) TR##SZ(a << cnt)
#define SH_RES_SHR(SZ) (a >> cnt)
#define SH_RES_SAR(SZ) TR##SZ((uint64_t)(sx(a, SZ) >> cnt))
#define SH_BODY1(K, NM, SZ, FL)                                         \
	l_sh_##NM##_##SZ##_##FL : {                                      \
		unsigned cnt = (unsigned)u->imm;                         \
		uint64_t a = TR##SZ(g[u->d]);                            \
		uint64_t r = SH_RES_##NM(SZ);                            \
		g[u->d] = r;                                             \
		if (FL)                                                  \
			LFSET(LF_##NM, SZ, a, cnt, r);                   \
		NEXT;                                                    \
	}
#define SH_BODY(K, NM) SH_BODY1(K, NM, 8, 0) SH_BODY1(K, NM, 8, 1) SH_BODY1(K, NM, 4, 0) SH_BODY1(K, NM, 4, 1)

#define JCC_LIST(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define JCC_TAB(CC) [UK_JCC + CC] = &&l_jcc_##CC,
/* Jcc: taken leaves the block (a side exit), not taken goes on with the
 * next op (the next instruction) */
#define JCC_BODY(CC)                                                    \
	l_jcc_##CC : {                                                   \
		if (cpu_cond(m, CC)) {                                   \
			uint64_t t = pg + u->off + u->len + u->imm;      \
			if (!CANON(t))                                   \
				goto bail;   /* #GP: op_jcc faults */    \
			nrip = t;                                        \
			goto side;                                       \
		}                                                        \
		NEXT;                                                    \
	}

/* cpu_ea / cpu_eff of the op's memory operand */
static inline __attribute__((always_inline)) uint64_t u_eff(const uint64_t *g, const struct vl_uop *u, uint64_t pg)
{
	uint64_t a = (uint64_t)(int64_t)u->disp;
	if (u->base == VL_RIPREL)
		a += pg + u->off + u->len;
	else if (u->base != VL_NOREG)
		a += g[u->base];
	if (u->index != VL_NOREG)
		a += g[u->index] << u->scale;
	return u->asz == 4 ? (uint32_t)a : a;
}
static inline __attribute__((always_inline)) uint64_t u_ea(const struct vl_machine *m, const uint64_t *g, const struct vl_uop *u,
							   uint64_t pg)
{
	uint64_t a = u_eff(g, u, pg);
	return u->seg != VL_SEG_NONE ? a + m->cpu.seg[u->seg].base : a;
}

/* ---- attribution (block.h VL_BLK_LANES) ------------------------------------- */
static const uint8_t block_lane_pf[VL_BLK_LANES] = {
	VL_PF_insn_alu, VL_PF_insn_load, VL_PF_insn_store, VL_PF_insn_branch, VL_PF_insn_push_pop,
};
/* The lane of an instruction priced by pf at `cost`, or -1: none (it
 * cannot be in a block). */
static int blk_lane(const struct vl_blkc *bc, unsigned pf, uint32_t cost)
{
	for (int j = 0; j < VL_BLK_LANES; j++)
		if (block_lane_pf[j] == pf)
			return cost == bc->lane_cost[j] ? j : -1;
	return -1;
}
/* The k instructions of a block before op u: their counts per lane, one
 * byte each, and k in the top byte (block.h BLK_UNIT). */
_Static_assert(VL_BLK_LANES <= 7, "lanes below the instruction count");
static inline uint64_t npf_get(const struct vl_uop *u, uint64_t k)
{
	uint32_t lo;
	memcpy(&lo, u->npf, 4);
	return lo | (uint64_t)u->npf[4] << 32 | k << 56;
}
/* The retired instructions' cycles counted in pa, to their profile values.
 * With the same cycles to the guest category (cpu.c chain_flush), before
 * anything reads a counter. */
void cpu_blk_drain(const struct vl_blkc *bc, struct vl_counters *ctr, uint64_t pa)
{
	uint64_t *const fc = ctr->field_cycles;
	for (unsigned j = 0; j < VL_BLK_LANES; j++)   /* unrolled, no branch */
		fc[block_lane_pf[j]] += ((pa >> 8 * j) & 0xff) * bc->lane_cost[j];
}

int cpu_blk_exec(struct vl_machine *m, const struct vl_blk *b, uint64_t *ripp, struct vl_blk_run *run,
		 const void *const **tabp)
{
	static const void *const tab[UK_COUNT] = {
		[UK_END] = &&l_end, [UK_NOP] = &&l_nop, [UK_MOV8] = &&l_mov8, [UK_MOV4] = &&l_mov4,
		[UK_MOVI] = &&l_movi, [UK_LEA8] = &&l_lea8, [UK_LEA4] = &&l_lea4, [UK_LD8] = &&l_ld8,
		[UK_LD4] = &&l_ld4, [UK_ST8] = &&l_st8, [UK_ST4] = &&l_st4, [UK_PUSH8] = &&l_push8,
		[UK_POP8] = &&l_pop8, [UK_JMP] = &&l_jmp, [UK_CALL] = &&l_call,
		[UK_RET] = &&l_ret, [UK_CALLM] = &&l_callm, [UK_MOVXR] = &&l_movxr, [UK_MOVXM] = &&l_movxm,
		[UK_INCDEC] = &&l_incdec, [UK_STI] = &&l_sti, [UK_LDN] = &&l_ldn, [UK_STN] = &&l_stn,
		[UK_MOVN] = &&l_movn, [UK_SHCL] = &&l_shcl,
		JCC_LIST(JCC_TAB)
		ALU_OPS(ALU_TAB)
		ALU_OPS(ALUM_TAB)
		SH_KINDS(SH_TAB)
	};
	if (__builtin_expect(tabp != NULL, 0)) {
		*tabp = tab;
		return 0;
	}
	struct vl_cpu_priv *const p = &m->priv->cpu;
	uint64_t *const g = m->cpu.gpr;
	const uint64_t pg = *ripp & ~0xfffull;
	const unsigned uacc = run->uacc;
	const uint32_t ctx = run->ctx;
	const struct vl_blkc *const bc = p->blkc;
	struct vl_tlb *const dtlb = &m->priv->mem.dtlb;
	uint64_t *const dhits = &m->ctr->events[VL_EV_DTLB_HITS];
	const struct vl_uop *u = b->u;
	uint64_t nrip;
	uint8_t *h;
	struct vl_soft_ent *s;

	/* The soft-TLB entries used by this run: nothing inside a run fills,
	 * evicts or flushes a TLB entry, writes a code frame or changes the
	 * paging context, so a page the soft TLB gave plain RAM for stays so
	 * until the run returns (a one-page cache for reads and one for
	 * writes). The DTLB hits are added up in dhn and stored on every
	 * return: no one reads the counter in between. */
	uint64_t rv = ~0ull, wv = ~0ull, dhn = 0;
	uint8_t *rh = NULL, *wh = NULL;
	struct vl_tlb_ent *rent = NULL, *went = NULL, *te;
	const uint64_t ram_pages = m->mem_size >> 12;

/* cpu.c chain_soft: the plain-RAM soft-TLB hit, counted as that hit */
#define SOFT_LOOK(VA, SZ, ACC, V, H, ENT)                                          \
	do {                                                                       \
		uint64_t va_ = (VA);                                               \
		if ((va_ >> 12) == V && (va_ & 0xfff) + (SZ) <= 4096) {            \
			h = H + (va_ & 0xfff);                                     \
			te = ENT;                                                  \
		} else {                                                           \
			s = cpu_soft_look_ctx(m, va_, (SZ), (ACC), ctx, &h);       \
			if (!s)                                                    \
				goto bail;                                         \
			te = s->ent;                                               \
			if (s->frame < ram_pages) {                                \
				V = va_ >> 12;                                     \
				H = h - (va_ & 0xfff);                             \
				ENT = te;                                          \
			}                                                          \
		}                                                                  \
	} while (0)
#define HIT(TE)                         \
	do {                            \
		dhn++;                  \
		tlb_touch(dtlb, (TE));  \
	} while (0)
#define SOFT_R(VA, SZ)                                          \
	do {                                                    \
		SOFT_LOOK(VA, SZ, uacc, rv, rh, rent);          \
		HIT(te);                                        \
	} while (0)
#define SOFT_W(VA, SZ)                                                  \
	do {                                                            \
		SOFT_LOOK(VA, SZ, uacc | VL_ACC_W, wv, wh, went);       \
		HIT(te);                                                \
	} while (0)

	goto *u->lbl;

l_nop:
	NEXT;
l_mov8:
	g[u->d] = g[u->s];
	NEXT;
l_mov4:
	g[u->d] = (uint32_t)g[u->s];
	NEXT;
l_movi:
	g[u->d] = u->imm;
	NEXT;
l_lea8:
	g[u->d] = u_eff(g, u, pg);
	NEXT;
l_lea4:
	g[u->d] = (uint32_t)u_eff(g, u, pg);
	NEXT;
l_ld8: {
	uint64_t v;
	SOFT_R(u_ea(m, g, u, pg), 8);
	memcpy(&v, h, 8);
	g[u->d] = v;
	NEXT;
}
l_ld4: {
	uint32_t v;
	SOFT_R(u_ea(m, g, u, pg), 4);
	memcpy(&v, h, 4);
	g[u->d] = v;
	NEXT;
}
l_st8:
	SOFT_W(u_ea(m, g, u, pg), 8);
	memcpy(h, &g[u->s], 8);
	NEXT;
l_st4: {
	uint32_t v;
	SOFT_W(u_ea(m, g, u, pg), 4);
	v = (uint32_t)g[u->s];
	memcpy(h, &v, 4);
	NEXT;
}
l_push8: {
	uint64_t v = g[u->s];   /* PUSH RSP pushes the old value */
	SOFT_W(g[VL_RSP] - 8, 8);
	memcpy(h, &v, 8);
	g[VL_RSP] -= 8;
	NEXT;
}
l_pop8: {
	uint64_t v;
	SOFT_R(g[VL_RSP], 8);
	memcpy(&v, h, 8);
	g[VL_RSP] += 8;
	g[u->d] = v;   /* POP RSP: the popped value wins */
	NEXT;
}
	/* exec_int.c alu() with a memory operand: forms 0 ([mem], reg), 1 (reg,
	 * [mem]), 2 ([mem], imm); one label per op */
#define ALUM_BODY(IDX, NM, OPR, LF, WB)                                                     \
	l_alum_##NM : {                                                                      \
		unsigned sz = u->sz;                                                         \
		uint64_t mask = sz_mask(sz), va = u_ea(m, g, u, pg), a, bb, r, v = 0;        \
		uint8_t *hw = NULL, *hr;                                                     \
		struct vl_tlb_ent *tr, *tw = NULL;                                           \
		SOFT_LOOK(va, sz, uacc, rv, rh, rent);                                       \
		hr = h;                                                                      \
		tr = te;                                                                     \
		if (WB && u->wm) {   /* the write must be a plain-RAM soft hit too */       \
			SOFT_LOOK(va, sz, uacc | VL_ACC_W, wv, wh, went);                    \
			hw = h;                                                              \
			tw = te;                                                             \
		}                                                                            \
		HIT(tr);   /* mem_rd */                                                      \
		cpy_sz(&v, hr, sz);                                                          \
		uint64_t rr = sz == 1 ? (g[u->d] >> u->dh) & 0xff : g[u->d] & mask;          \
		if (u->form == 1) {                                                          \
			a = rr;                                                              \
			bb = v;                                                              \
		} else {                                                                     \
			a = v;                                                               \
			bb = u->form == 2 ? u->imm & mask : rr;                              \
		}                                                                            \
		r = (a OPR bb) & mask;                                                       \
		if (WB) {                                                                    \
			if (u->form == 1) {                                                  \
				switch (sz) {   /* reg_set(reg) */                           \
				case 1: WR1(u->d, u->dh, r); break;                          \
				case 2: WR2(u->d, 0, r); break;                              \
				default: g[u->d] = r; break;                                 \
				}                                                            \
			} else {   /* mem_wr: the soft hit, then the bytes */               \
				HIT(tw);                                                     \
				cpy_sz(hw, &r, sz);                                          \
			}                                                                    \
		}                                                                            \
		LFSET(LF, sz, a, bb, r);                                                     \
		NEXT;                                                                        \
	}
	ALU_OPS(ALUM_BODY)
l_movxr: {   /* op_movzx / op_movsx / op_movsxd, register source */
	uint64_t v = u->ssz == 1 ? (g[u->s] >> u->sh) & 0xff : u->ssz == 2 ? TR2(g[u->s]) : TR4(g[u->s]);
	if (u->sgn)
		v = (uint64_t)sx(v, u->ssz);
	g[u->d] = u->sz == 4 ? TR4(v) : v;
	NEXT;
}
l_movxm: {   /* the same, memory source (mem_rd) */
	uint64_t v = 0;
	SOFT_R(u_ea(m, g, u, pg), u->ssz);
	cpy_sz(&v, h, u->ssz);
	if (u->sgn)
		v = (uint64_t)sx(v, u->ssz);
	g[u->d] = u->sz == 4 ? TR4(v) : v;
	NEXT;
}
l_incdec: {   /* exec_int.c incdec on a register (size 4 or 8): reads CF */
	uint64_t a = u->sz == 4 ? TR4(g[u->d]) : g[u->d];
	uint64_t r = u->op ? a + 1 : a - 1;
	if (u->sz == 4)
		r = TR4(r);
	g[u->d] = r;
	bool cf = cpu_cf(m);
	flags_set(m, VL_FL_CF, cf ? VL_FL_CF : 0);
	LFSET(u->op ? LF_INC : LF_DEC, u->sz, a, 1, r);
	NEXT;
}
l_ldn: {   /* op_mov_ge, 1 or 2 bytes from memory: mem_rd, reg_set */
	uint64_t v = 0;
	SOFT_R(u_ea(m, g, u, pg), u->sz);
	cpy_sz(&v, h, u->sz);
	if (u->sz == 1)
		WR1(u->d, u->dh, v);
	else
		WR2(u->d, 0, v);
	NEXT;
}
l_stn: {   /* op_mov_eg, 1 or 2 bytes to memory: reg_get, mem_wr */
	uint64_t v = u->sz == 1 ? RD1(u->s, u->sh) : RD2(u->s, 0);
	SOFT_W(u_ea(m, g, u, pg), u->sz);
	cpy_sz(h, &v, u->sz);
	NEXT;
}
l_movn: {   /* MOV between 1- or 2-byte registers */
	if (u->sz == 1) {
		uint64_t v = RD1(u->s, u->sh);
		WR1(u->d, u->dh, v);
	} else {
		uint64_t v = RD2(u->s, 0);
		WR2(u->d, 0, v);
	}
	NEXT;
}
l_shcl: {   /* exec_int.c op_shift, SHL/SHR/SAR of a 4- or 8-byte register by CL */
	unsigned sz = u->sz, cnt = (unsigned)g[VL_RCX] & (sz == 8 ? 63 : 31);
	uint64_t a = sz == 8 ? g[u->d] : TR4(g[u->d]), r;
	if (!cnt) {
		g[u->d] = a;   /* no flag changes; a 32-bit destination is zero-extended */
		NEXT;
	}
	if (u->op == 0)
		r = sz == 8 ? a << cnt : TR4(a << cnt);
	else if (u->op == 1)
		r = a >> cnt;
	else
		r = sz == 8 ? (uint64_t)((int64_t)a >> cnt) : TR4((uint64_t)(sx(a, 4) >> cnt));
	g[u->d] = r;
	if (u->form)   /* live flags */
		LFSET(u->op == 0 ? LF_SHL : u->op == 1 ? LF_SHR : LF_SAR, sz, a, cnt, r);
	NEXT;
}
l_sti: {   /* op_mov_ei to memory (mem_wr of the immediate) */
	SOFT_W(u_ea(m, g, u, pg), u->sz);
	cpy_sz(h, &u->imm, u->sz);
	NEXT;
}
	ALU_OPS(ALU_BODY)
	SH_KINDS(SH_BODY)
	JCC_LIST(JCC_BODY)
l_jmp: {   /* op_jmp, 64-bit */
	uint64_t t = pg + u->off + u->len + u->imm;
	if (!CANON(t))
		goto bail;
	nrip = t;
	goto done;
}
l_call: {   /* op_call, 64-bit: target checked before the push */
	uint64_t ret = pg + u->off + u->len, t = ret + u->imm;
	if (!CANON(t))
		goto bail;
	SOFT_W(g[VL_RSP] - 8, 8);
	memcpy(h, &ret, 8);
	g[VL_RSP] -= 8;
	nrip = t;
	goto done;
}
l_callm: {   /* op_call_e, 64-bit, memory operand: read, target check, push */
	uint64_t t, ret = pg + u->off + u->len;
	struct vl_tlb_ent *tr;
	SOFT_LOOK(u_ea(m, g, u, pg), 8, uacc, rv, rh, rent);
	tr = te;
	memcpy(&t, h, 8);
	if (!CANON(t))
		goto bail;
	SOFT_LOOK(g[VL_RSP] - 8, 8, uacc | VL_ACC_W, wv, wh, went);
	HIT(tr);
	HIT(te);
	memcpy(h, &ret, 8);
	g[VL_RSP] -= 8;
	nrip = t;
	goto done;
}
l_ret: {   /* op_ret, 64-bit, no imm16: the read counts even when the target faults */
	uint64_t v;
	SOFT_LOOK(g[VL_RSP], 8, uacc, rv, rh, rent);
	memcpy(&v, h, 8);
	if (!CANON(v))
		goto bail;   /* #GP: the handler reads again and faults */
	HIT(te);
	g[VL_RSP] += 8;
	nrip = v;
	goto done;
}
side: {
	/* a taken Jcc: it and the ops before it retired */
	unsigned k = (unsigned)(u - b->u) + 1;
	run->n += k;
	run->cyc += u[1].cyc;
	run->pa += npf_get(&u[1], k);   /* in memory: no register held across the ops */
	goto next;
}
l_end:
	nrip = pg + u->off;
done:
	/* the block retired */
	run->n += b->n;
	run->cyc += b->cyc;
	run->pa += npf_get(&b->u[b->n], b->n);
next:
	if (__builtin_expect(run->pa >= BLK_DRAIN_AT, 0)) {
		cpu_blk_drain(bc, m->ctr, run->pa);
		run->pa = 0;
	}
	/* the chain's checks for the next instruction, and the next block when
	 * it is built and all of it fits */
	if ((nrip & ~0xfffull) == pg && run->n < run->left && run->cyc < run->budget) {
		struct vl_insn *e = &run->ins[nrip & 0xfff];
		unsigned k = (nrip & 0xfff) != b->u[b->n].off;
		const struct vl_blk *nb = b->link[k];
		/* a block of this epoch built from slot e in this generation is
		 * the one vl_insn.blk names (a slot's decode, and so its block,
		 * cannot change within a generation) */
		if (!nb || nb->slot != e || nb->gen != run->gen || nb->epoch != bc->epoch) {
			uint32_t x = e->blk;
			nb = NULL;
			if (e->gen == run->gen && x && x < bc->used) {
				const struct vl_blk *c = &bc->b[x];
				if (c->slot == e && c->gen == run->gen)
					((struct vl_blk *)b)->link[k] = nb = c;
			}
		}
		if (nb && run->cyc + nb->cyc_last < run->budget && run->n + nb->n <= run->left) {
			b = nb;
			u = b->u;
			goto *u->lbl;
		}
	}
	*dhits += dhn;
	m->cpu.rip = *ripp = nrip;
	return 0;
bail: {
	*dhits += dhn;
	unsigned k = (unsigned)(u - b->u);
	run->n += k;
	run->cyc += u->cyc;
	run->pa += npf_get(u, k);
	m->cpu.rip = *ripp = pg + u->off;
	return 1;
}
#undef SOFT_LOOK
#undef HIT
#undef SOFT_R
#undef SOFT_W
}

/* ---- the builder ------------------------------------------------------------ */
enum { FX_NONE, FX_WRITE, FX_LOOK, FX_MAYWRITE };   /* what an op does with the lazy flags, for dead-flag analysis */

static int alu_idx(unsigned op)
{
	switch (op) {
	case VL_OP_ADD: return 0;
	case VL_OP_SUB: return 1;
	case VL_OP_AND: return 2;
	case VL_OP_OR: return 3;
	case VL_OP_XOR: return 4;
	case VL_OP_CMP: return 5;
	case VL_OP_TEST: return 6;
	default: return -1;
	}
}

/* The micro-op for decoded instruction e (what cpu_fast_fn / chain_mem or
 * the generic handler do for it), or false when there is none. *fx: its
 * flags effect; *end: a control transfer (the block ends with it). The
 * op's kind for flag-writing ops is the dead-flags variant (+1 if live). */
/* Byte register r as reg_get/reg_set address it: AH..BH (4..7 without
 * REX) are bits 15:8 of RAX..RBX. */
static void breg(const struct vl_insn *e, unsigned sz, unsigned r, uint8_t *reg, uint8_t *sh)
{
	if (sz == 1 && !e->rex && r >= 4 && r < 8) {
		*reg = (uint8_t)(r - 4);
		*sh = 8;
	} else {
		*reg = (uint8_t)r;
		*sh = 0;
	}
}

static bool uop_of(const struct vl_insn *e, struct vl_uop *u, int *fx, bool *end)
{
	unsigned sz = e->osz;
	*fx = FX_NONE;
	*end = false;
	memset(u, 0, sizeof *u);
	u->len = e->len;
	u->disp = e->disp;
	u->base = e->base;
	u->index = e->index;
	u->scale = e->scale;
	u->seg = e->seg;
	u->asz = e->asz;
	u->sz = (uint8_t)sz;
	if (sz != 8 && sz != 4 && sz != 2 && sz != 1)
		return false;
	bool s4 = sz == 4, wide = sz >= 4;
	uint64_t mask = sz_mask(sz);
	switch (e->op) {
	case VL_OP_NOP: case VL_OP_FENCE:
		if (e->fn != op_nop)
			return false;
		u->kind = UK_NOP;
		return true;
	case VL_OP_MOV_RI:
		if (!wide)
			return false;
		u->kind = UK_MOVI;
		u->d = e->reg;
		u->imm = s4 ? (uint32_t)e->imm : e->imm;
		return true;
	case VL_OP_MOV_EI:
		if (e->mod == 3) {
			if (!wide)
				return false;
			u->kind = UK_MOVI;
			u->d = e->rm;
		} else {
			u->kind = UK_STI;
			*fx = FX_LOOK;
		}
		u->imm = e->imm & mask;
		return true;
	case VL_OP_MOV_EG:
		if (!wide) {
			breg(e, sz, e->reg, &u->s, &u->sh);
			if (e->mod == 3) {
				u->kind = UK_MOVN;
				breg(e, sz, e->rm, &u->d, &u->dh);
			} else {
				u->kind = UK_STN;
				*fx = FX_LOOK;
			}
			return true;
		}
		if (e->mod == 3) {
			u->kind = s4 ? UK_MOV4 : UK_MOV8;
			u->d = e->rm;
			u->s = e->reg;
		} else {
			u->kind = s4 ? UK_ST4 : UK_ST8;
			u->s = e->reg;
			*fx = FX_LOOK;
		}
		return true;
	case VL_OP_MOV_GE:
		if (!wide) {
			breg(e, sz, e->reg, &u->d, &u->dh);
			if (e->mod == 3) {
				u->kind = UK_MOVN;
				breg(e, sz, e->rm, &u->s, &u->sh);
			} else {
				u->kind = UK_LDN;
				*fx = FX_LOOK;
			}
			return true;
		}
		if (e->mod == 3) {
			u->kind = s4 ? UK_MOV4 : UK_MOV8;
			u->d = e->reg;
			u->s = e->rm;
		} else {
			u->kind = s4 ? UK_LD4 : UK_LD8;
			u->d = e->reg;
			*fx = FX_LOOK;
		}
		return true;
	case VL_OP_MOVZX: case VL_OP_MOVSX: case VL_OP_MOVSXD:
		if (!wide)
			return false;
		u->ssz = e->op == VL_OP_MOVSXD ? 4 : e->imm2;
		if (u->ssz != 1 && u->ssz != 2 && u->ssz != 4)
			return false;
		u->sgn = e->op != VL_OP_MOVZX;
		u->d = e->reg;
		if (e->mod == 3) {
			u->kind = UK_MOVXR;
			breg(e, u->ssz, e->rm, &u->s, &u->sh);
		} else {
			u->kind = UK_MOVXM;
			*fx = FX_LOOK;
		}
		return true;
	case VL_OP_CBW:   /* CWDE / CDQE: op_cbw */
		if (!wide)
			return false;
		u->kind = UK_MOVXR;
		u->d = u->s = VL_RAX;
		u->ssz = (uint8_t)(sz / 2);
		u->sgn = 1;
		return true;
	case VL_OP_LEA:
		if (!wide)
			return false;
		u->kind = s4 ? UK_LEA4 : UK_LEA8;
		u->d = e->reg;
		return true;
	case VL_OP_INC: case VL_OP_DEC:
		if (!wide || e->mod != 3 || e->lock)
			return false;
		u->kind = UK_INCDEC;
		u->op = e->op == VL_OP_INC;
		u->d = e->rm;
		*fx = FX_LOOK;   /* reads CF (the lazy record before it) */
		return true;
	case VL_OP_ADD: case VL_OP_SUB: case VL_OP_AND: case VL_OP_OR:
	case VL_OP_XOR: case VL_OP_CMP: case VL_OP_TEST: {
		if (e->lock || e->imm2 > 3)
			return false;
		if (e->imm2 < 3 && e->mod != 3) {
			u->kind = (uint8_t)(UK_ALUM + alu_idx(e->op));
			u->op = (uint8_t)e->op;
			u->form = e->imm2;
			u->wm = e->imm2 != 1 && e->op != VL_OP_CMP && e->op != VL_OP_TEST;
			breg(e, sz, e->reg, &u->d, &u->dh);
			u->imm = e->imm;
			*fx = FX_LOOK;   /* may hand over to the generic path before writing its flags */
			return true;
		}
		bool imm = e->imm2 >= 2;
		switch (e->imm2) {
		case 0: breg(e, sz, e->rm, &u->d, &u->dh); breg(e, sz, e->reg, &u->s, &u->sh); break;
		case 1: breg(e, sz, e->reg, &u->d, &u->dh); breg(e, sz, e->rm, &u->s, &u->sh); break;
		case 2: breg(e, sz, e->rm, &u->d, &u->dh); break;
		default: u->d = VL_RAX; break;
		}
		if (imm)
			u->imm = e->imm & mask;
		unsigned szi = sz == 8 ? 0 : sz == 4 ? 1 : sz == 2 ? 2 : 3;
		u->kind = (uint8_t)(UK_ALU + ((alu_idx(e->op) * 4 + szi) * 2 + imm) * 2);
		*fx = FX_WRITE;
		return true;
	}
	case VL_OP_SHL: case VL_OP_SHR: case VL_OP_SAR: {
		if (!wide || e->mod != 3)
			return false;
		if (e->imm2 == 2) {   /* by CL: the count decides whether flags change */
			u->kind = UK_SHCL;
			u->d = e->rm;
			u->op = e->op == VL_OP_SHL ? 0 : e->op == VL_OP_SHR ? 1 : 2;
			*fx = FX_MAYWRITE;
			return true;
		}
		unsigned cnt = e->imm2 == 1 ? 1 : (unsigned)e->imm;
		cnt &= s4 ? 31 : 63;
		u->d = e->rm;
		if (!cnt) {   /* fshift: no flags; a 32-bit destination is still written (zero-extended) */
			u->kind = s4 ? UK_MOV4 : UK_NOP;
			u->s = e->rm;
			return true;
		}
		u->imm = cnt;
		int k = e->op == VL_OP_SHL ? 0 : e->op == VL_OP_SHR ? 1 : 2;
		u->kind = (uint8_t)(UK_SH + (k * 2 + s4) * 2);
		*fx = FX_WRITE;
		return true;
	}
	case VL_OP_JCC:   /* does not end the block: a taken branch is a side exit */
		if (sz != 8)
			return false;   /* 32-bit code: EIP wraps (op_jcc) */
		u->kind = (uint8_t)(UK_JCC + (e->imm2 & 15));
		u->imm = e->imm;
		*fx = FX_LOOK;
		return true;
	case VL_OP_JMP:
		if (sz != 8 || e->fn != op_jmp)
			return false;
		u->kind = UK_JMP;
		u->imm = e->imm;
		*fx = FX_LOOK;
		*end = true;
		return true;
	case VL_OP_CALL:
		if (sz != 8)
			return false;
		u->kind = UK_CALL;
		u->imm = e->imm;
		*fx = FX_LOOK;
		*end = true;
		return true;
	case VL_OP_CALL_E:
		if (sz != 8 || e->mod == 3)
			return false;
		u->kind = UK_CALLM;
		*fx = FX_LOOK;
		*end = true;
		return true;
	case VL_OP_RET:
		if (sz != 8 || (e->imm & 0xffff))
			return false;
		u->kind = UK_RET;
		*fx = FX_LOOK;
		*end = true;
		return true;
	case VL_OP_PUSH_R:
		if (sz != 8)
			return false;
		u->kind = UK_PUSH8;
		u->s = e->reg;
		*fx = FX_LOOK;
		return true;
	case VL_OP_POP_R:
		if (sz != 8)
			return false;
		u->kind = UK_POP8;
		u->d = e->reg;
		*fx = FX_LOOK;
		return true;
	default:
		return false;
	}
}

const struct vl_blk *cpu_blk_build(struct vl_machine *m, struct vl_insn *e, unsigned off, uint32_t gen)
{
	struct vl_blkc *bc = m->priv->cpu.blkc;
	const void *const *tab;
	cpu_blk_exec(m, NULL, NULL, NULL, &tab);
	uint32_t x = e->blk;
	struct vl_blk *b;
	if (x && x != VL_BLK_NONE && x < bc->used && bc->b[x].slot == e && bc->b[x].gen == gen) {
		/* an open block: rebuild it in place once the slot after it is decoded */
		b = &bc->b[x];
		unsigned nxo = b->u[b->n].off;
		if (!b->open || nxo >= 4096 || e[nxo - off].gen != gen)
			return b;
	} else {
		if (bc->used >= bc->cap)
			cpu_blk_reset(m);
		x = bc->used;
		b = &bc->b[x];
	}
	int fx[VL_BLK_MAXU];
	unsigned n = 0;
	uint8_t npf[VL_BLK_LANES] = { 0 };   /* instructions so far per lane */
	uint64_t cyc = 0;
	bool open = false;
	const struct vl_insn *i = e;   /* slots of one page are contiguous, indexed by offset */
	for (;;) {
		if (off >= 4096 || n == VL_BLK_MAXU)
			break;
		if (i->gen != gen) {
			open = true;
			break;
		}
		bool end;
		int lane = blk_lane(bc, i->pf, i->cost);
		if (lane < 0 || cyc + i->cost > UINT32_MAX || !uop_of(i, &b->u[n], &fx[n], &end))
			break;
		b->u[n].off = (uint16_t)off;
		b->u[n].cyc = (uint32_t)cyc;
		memcpy(b->u[n].npf, npf, sizeof npf);
		npf[lane]++;
		cyc += i->cost;
		n++;
		off += i->len;
		i += i->len;
		if (end)
			break;
	}
	if (!n) {
		e->blk = VL_BLK_NONE;   /* this generation of the slot: its decode cannot change */
		return NULL;
	}
	/* dead flags, backwards: live = something may look before the next write */
	bool live = true;
	for (unsigned k = n; k-- > 0;) {
		if (fx[k] == FX_WRITE) {
			b->u[k].kind = (uint8_t)(b->u[k].kind + live);
			live = false;
		} else if (fx[k] == FX_LOOK) {
			live = true;
		} else if (fx[k] == FX_MAYWRITE) {
			b->u[k].form = live;   /* writes its record only if live; what was live before it stays live */
		}
	}
	for (unsigned k = 0; k < n; k++)
		b->u[k].lbl = tab[b->u[k].kind];
	struct vl_uop *end = &b->u[n];
	memset(end, 0, sizeof *end);
	end->kind = UK_END;
	end->lbl = tab[UK_END];
	end->off = (uint16_t)off;   /* where a block without a control transfer continues */
	end->cyc = (uint32_t)cyc;   /* a side exit at op j retires the cycles before op j + 1 */
	memcpy(end->npf, npf, sizeof npf);
	b->slot = e;
	b->gen = gen;
	b->n = n;
	b->cyc = (uint32_t)cyc;
	b->cyc_last = b->u[n - 1].cyc;
	b->open = open;
	b->epoch = bc->epoch;
	b->link[0] = b->link[1] = NULL;
	bc->built++;
	if (x == bc->used)
		bc->used++;
	e->blk = x;
	return b;
}
