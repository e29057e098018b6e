/* block.h — decoded blocks of the fast core (exec_block.c, used by
 * cpu.c cpu_chain). CPU half, private.
 *
 * A block is a run of consecutive cached decodes of one host frame, from
 * a slot to the first unconditional control transfer (JMP, CALL, RET:
 * included) or the first instruction it has no micro-op for (excluded), at
 * most VL_BLK_MAXU instructions — a Jcc inside it leaves it when taken (a
 * side exit retiring the instructions up to the Jcc) — translated into an array of micro-ops with
 * their operands pre-resolved and each handler's address in the op (direct
 * threading: every handler ends in its own indirect jump). Blocks hold
 * nothing that depends on the virtual address (RIP-relative operands and
 * branch targets are computed from the page's virtual base at run time) or
 * on the CPL (read per block run), so they are cached per decode slot:
 * vl_insn.blk of the first instruction, valid while the frame's decode
 * generation is the one the block was built from. */
#ifndef VL_MACHINE_BLOCK_H
#define VL_MACHINE_BLOCK_H

#include "cpu.h"

#define VL_BLK_MAXU 32
/* Attribution (counters.h field_cycles): a block holds only instructions
 * priced by one of VL_BLK_LANES [insn] values (block_lane_pf: alu, load,
 * store, branch, push_pop) at the cost the block cache saw when it was made
 * (vl_blkc.lane_cost); each op carries how many instructions before it each
 * value priced, one byte per value (at most VL_BLK_MAXU), so a run adds the
 * retired prefix's counts in one 64-bit add and turns them into cycles now
 * and then (exec_block.c blk_drain). */
#define VL_BLK_LANES 5
#define VL_BLK_NONE 0xffffffffu   /* vl_insn.blk: no block can start here (this generation) */

struct vl_uop {
	const void *lbl;      /* handler (a label of cpu_blk_exec) */
	uint64_t imm;         /* immediate (already truncated to the operand size) / branch displacement */
	int32_t disp;         /* memory operand displacement */
	uint32_t cyc;         /* cycles of the instructions before this one in the block */
	uint16_t off;         /* page offset of the instruction */
	uint8_t len, d, s;    /* length; destination and source register */
	uint8_t base, index, scale, seg, asz;   /* memory operand as vl_insn */
	uint8_t kind;         /* UK_* (exec_block.c) */
	uint8_t sz;           /* operand size */
	uint8_t op;           /* ALU op (UK_ALUM) */
	uint8_t form;         /* ALU operand form (UK_ALUM: vl_insn.imm2) */
	uint8_t dh, sh;       /* byte registers AH..BH: 8 (bits 15:8 of d / s), else 0 */
	uint8_t wm;           /* UK_ALUM: writes its memory operand */
	uint8_t ssz, sgn;     /* UK_MOVX*: source size, sign-extend */
	uint8_t npf[VL_BLK_LANES];   /* instructions before this one priced by each lane's value */
};

struct vl_blk {
	const struct vl_insn *slot;   /* first instruction's decode slot */
	uint32_t gen;                 /* the frame's decode generation it was built from */
	uint32_t n;                   /* instructions (micro-ops) */
	uint32_t cyc;                 /* cycles of all n */
	uint32_t cyc_last;            /* cycles of the first n - 1 */
	uint8_t open;                 /* ended at a slot not decoded yet: rebuilt once it is (cpu_blk_get) */
	uint32_t epoch;               /* the block cache's epoch it was built in */
	/* the blocks that followed last time on the same page: [0] at the
	 * address after the block, [1] anywhere else (a taken branch, a call or
	 * return); a hint, checked like vl_insn.blk before use */
	const struct vl_blk *link[2];
	struct vl_uop u[VL_BLK_MAXU + 1];   /* + the end op */
};

/* Block cache: a fixed array (bounded host memory); when full, every block
 * is dropped (`flushes`) and indices restart. */
struct vl_blkc {
	struct vl_blk *b;     /* b[0] unused: index 0 = not built */
	uint32_t cap, used;    /* cap <= the array's size (vl_cpu_set_block_cap) */
	uint32_t epoch;        /* + 1 at every flush: a block of an older epoch is stale */
	uint64_t flushes, built;
	uint32_t lane_cost[VL_BLK_LANES];   /* the cycles of each lane's value (cpu_blk_init) */
};

int cpu_blk_init(struct vl_machine *m);
void cpu_blk_free(struct vl_machine *m);
/* Drop every block (the decode cache freed its pages). */
void cpu_blk_reset(struct vl_machine *m);
const struct vl_blk *cpu_blk_build(struct vl_machine *m, struct vl_insn *e, unsigned off, uint32_t gen);

/* The block starting at decode slot e (page offset off, valid, generation
 * gen), or NULL. */
static inline const struct vl_blk *cpu_blk_get(struct vl_machine *m, struct vl_insn *e, unsigned off, uint32_t gen)
{
	uint32_t x = e->blk;
	if (x == VL_BLK_NONE)
		return NULL;
	const struct vl_blkc *bc = m->priv->cpu.blkc;
	if (x && x < bc->used) {
		const struct vl_blk *b = &bc->b[x];
		/* an open block runs as it is until the slot after it is decoded,
		 * then it is rebuilt longer */
		if (b->slot == e && b->gen == gen && (!b->open || e[b->u[b->n].off - off].gen != gen))
			return b;
	}
	return cpu_blk_build(m, e, off, gen);
}

/* The chain's state a block run continues (cpu.c cpu_chain): pending
 * retirements and cycles, and what bounds them. */
struct vl_blk_run {
	uint64_t n, cyc;        /* in/out: pending instructions and cycles */
	uint64_t pa;            /* in/out: pending attribution of the blocks' instructions (exec_block.c
	                         * npf_get): the caller hands it to cpu_blk_drain with the cycles */
	uint64_t budget, left;  /* the chain runs an instruction while cyc < budget, stops at n == left */
	struct vl_insn *ins;    /* the page's decode slots */
	uint64_t vpage;
	uint32_t gen, ctx;      /* decode generation; vl_mem_ctx(m) */
	unsigned uacc;          /* cpu_uacc(m) */
};

/* Run block b from its start with *rip = its address (the chain checked
 * that its cycles and instructions fit: all of its instructions would pass
 * the chain's checks), then, while they fit too, the blocks that follow on
 * the same page (already built, same generation). Adds their retirements
 * and cycles to r->n and r->cyc. Returns 0 with *rip the next RIP, or 1:
 * the instruction at *rip needs the generic path (memory access not on the
 * soft TLB's plain-RAM fast path, or a fault), nothing of it done, the
 * ones before it counted. cpu.rip = *rip on return. With tabp (and nothing
 * else) it only returns its handler table in *tabp (the builder's labels). */
/* Add the instructions counted in pa (vl_blk_run.pa) to the profile values
 * that price them (counters.h field_cycles of ctr). */
void cpu_blk_drain(const struct vl_blkc *bc, struct vl_counters *ctr, uint64_t pa);
/* A pa: the retired instructions of each lane in bytes 0..VL_BLK_LANES-1,
 * their total in the top byte (BLK_UNIT each), the bound of every lane. A
 * block exit adds at most VL_BLK_MAXU: a pa reaching BLK_DRAIN_AT goes to
 * field_cycles before the next, so no byte overflows. */
#define BLK_UNIT (1ull << 56)
#define BLK_DRAIN_AT ((256 - VL_BLK_MAXU) * BLK_UNIT)
/* Keep pa (the current region's) pending in the CPU; it reaches field_cycles
 * when the pending counts fill, the region changes, or cpu_blk_sync. */
static inline void cpu_blk_pend(struct vl_machine *m, uint64_t pa)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	if (p->blk_pa_ctr != m->ctr || (p->blk_pa >> 56) + (pa >> 56) >= 256 - VL_BLK_MAXU) {
		if (p->blk_pa)
			cpu_blk_drain(p->blkc, p->blk_pa_ctr, p->blk_pa);
		p->blk_pa = 0;
		p->blk_pa_ctr = m->ctr;
	}
	p->blk_pa += pa;
}
/* Every pending count into field_cycles (before anyone reads them). */
static inline void cpu_blk_sync(struct vl_machine *m)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	if (p->blk_pa)
		cpu_blk_drain(p->blkc, p->blk_pa_ctr, p->blk_pa);
	p->blk_pa = 0;
}

int cpu_blk_exec(struct vl_machine *m, const struct vl_blk *b, uint64_t *rip, struct vl_blk_run *r,
		 const void *const **tabp);

#endif
