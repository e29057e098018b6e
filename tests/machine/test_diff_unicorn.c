/* test_diff_unicorn.c — instruction semantics against an independent
 * oracle, Unicorn 2.0.1 (QEMU 5.0's TCG x86-64 front end).
 *
 * 100,000 random instruction sequences (fixed seed) drawn from the
 * machine's integer ISA run on Unicorn and on a vl_machine built from
 * vl_test_profile() in long mode with hand-made identity paging (code
 * read-only, data and stack NX). Both single-step; after every instruction
 * the 16 GPRs, RIP and the defined arithmetic flags plus DF must be
 * identical, and at the end of the sequence the two data pages and the
 * stack page too. Exceptions (#DE from DIV/IDIV, #GP from a misaligned
 * CMPXCHG16B) must be raised by both at the same instruction with the same
 * state. Every sequence is written over the code pages (the decode cache
 * must notice); a quarter start just below a page boundary so instructions
 * straddle it, and data accesses straddle the data pages at times.
 *
 * The generator emits what compilers emit and more: ALU ops of every form
 * and width with 8-bit high registers and REX forms, LOCK, INC/DEC/NEG/NOT,
 * MUL/IMUL/DIV/IDIV, shifts and rotates by 1/imm8/CL, SHLD/SHRD, BT/BTS/
 * BTR/BTC, BSF/BSR/TZCNT/LZCNT, MOVZX/MOVSX/MOVSXD, MOV (incl. moffs),
 * CMOVcc/SETcc, XCHG/XADD/CMPXCHG/CMPXCHG8B/16B, LEA, PUSH/POP (incl.
 * memory, 16-bit and REX.W+66h forms), PUSHF/POPF, ENTER/LEAVE, CBW/CWD
 * families, LAHF/SAHF, CLC/STC/CMC/CLD/STD, XLAT, BSWAP, NOPs, string
 * instructions with REP/REPE/REPNE in both directions, and control flow
 * within the sequence: Jcc/JMP rel8/rel32, JrCXZ, LOOP/LOOPE/LOOPNE,
 * CALL/RET (imm16), indirect CALL/JMP through registers and memory tables.
 * Memory operands use every addressing form: base, base+index*scale, index
 * only, absolute, RIP-relative, disp8/disp32, 67h (32-bit addresses with
 * garbage in the registers' upper halves), FS/GS overrides with nonzero
 * bases; the generator emits the MOVs that point the registers at the
 * data. POPCNT, which Unicorn lacks, is checked against its SDM definition
 * in test_popcnt.
 *
 * Flags the SDM leaves undefined are masked per instruction (undefined(),
 * each line citing the SDM); after a step both machines are made to agree
 * on those bits (our values are copied into Unicorn) so an undefined flag
 * never leaks into a later comparison. Where Unicorn itself deviates from
 * the SDM the case is documented and excluded narrowly (unicorn_deviation()
 * for differences accepted under exact conditions; the generator for the
 * encodings Unicorn cannot run: F6/F7 /1, SHLD/SHRD imm8 with a RIP-relative
 * operand, a null segment prefix beside FS/GS). A mismatch prints the
 * sequence disassembled with the failing step marked, the initial registers
 * and the difference; DIFF_TRACE=n prints every step of sequence n. */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../../machine/decode.h"
#include "../support/test_profile.h"

#define SEQUENCES  100000u
#define SEED       0xd1ff0c0ffee2024ull
#define MAX_STEPS  600
#define MAX_REPORT 6

/* Memory layout, the same virtual addresses on both machines (ours identity-maps them). */
#define PAGE       0x1000u
#define CODE_BASE  0x10000ull
#define DATA_BASE  0x20000ull
#define STACK_BASE 0x30000ull
#define CODE_SIZE  (2 * PAGE)             /* two pages: instructions straddle the boundary at times */
#define DATA_SIZE  (2 * PAGE)             /* two pages: accesses straddle the boundary at times */
#define DATA_RW    0x1d00u                 /* random stores land in [0, DATA_RW); pointer slots above */
#define SLOT_BASE  (DATA_BASE + 0x1e00)    /* code pointers for indirect CALL/JMP (never stored to) */
#define NSLOTS     64
#define RSP0       (STACK_BASE + 0x800)
#define FS_BASE_V  0x1000ull
#define GS_BASE_V  0x12345000ull
#define PT_PML4    0x1000ull
#define PT_PDPT    0x2000ull
#define PT_PD      0x3000ull
#define PT_PT      0x4000ull

#define FL_CF 0x001u
#define FL_PF 0x004u
#define FL_AF 0x010u
#define FL_ZF 0x040u
#define FL_SF 0x080u
#define FL_OF 0x800u
#define FL_DF 0x400u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)
#define FL_CMP (FL_ARITH | FL_DF)

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };
#define AH_ 16   /* 8-bit operands 16..19 = AH CH DH BH (encoded 4..7 without REX) */

/* ---- random numbers ---------------------------------------------------------- */
static uint64_t rng;
static inline uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static inline unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }
static inline bool chance(unsigned n) { return rn(n) == 0; }   /* 1 in n */

/* An interesting 64-bit value: small, boundary or random. */
static uint64_t rval(void)
{
	static const uint64_t edge[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
					 0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
					 0x8000000000000000ull, ~0ull, ~0ull - 1, 0x8000000000000001ull };
	switch (rn(8)) {
	case 0: return edge[rn(sizeof edge / sizeof edge[0])];
	case 1: return rn(256);
	case 2: return (uint64_t)-(int64_t)rn(256);
	case 3: return rnd() & 0xffffffffu;
	default: return rnd();
	}
}

/* ---- the generator ----------------------------------------------------------- */
struct mem {
	int base, index, scale;   /* -1 = absent; scale log2 */
	int32_t disp;
	int dsz;                  /* displacement bytes 0/1/4 */
	bool rip, a32;
	int seg;                  /* 0, 0x64, 0x65 */
	size_t disp_at;           /* RIP-relative: where the disp32 was emitted */
	uint64_t target;          /* linear address the operand must reach */
	int label;                /* RIP-relative to a label instead of target (>= 0) */
};

struct gen {
	uint8_t code[PAGE];
	size_t n;
	uint64_t base;            /* address of code[0]: CODE_BASE, or just below the page boundary */
	uint8_t data[DATA_SIZE], stack[PAGE];
	uint64_t gpr[16], rflags;
	unsigned avoid;           /* registers items must not write (bit per register) */
	bool no_stack;            /* subroutine/frame body: no unbalanced push/pop */
	bool no_ctl;              /* body of a loop/skip/subroutine: no control flow */
	bool no_rip;              /* no RIP-relative operand (see t_shxd) */
	int depth;                /* pushes minus pops as generated (keeps RSP inside the stack page) */
	unsigned nslot;
	struct { size_t at; int size; int label; size_t end; } fix[96];
	unsigned nfix;
	struct { unsigned slot; int label; } dfix[NSLOTS];
	unsigned ndfix;
	size_t label[96];
	unsigned nlabel;
	bool bad;                 /* could not be encoded (a rel8 out of range, buffer full): regenerate */
};

static void b1(struct gen *g, uint8_t x)
{
	if (g->n >= sizeof g->code - 16) {
		g->bad = true;
		return;
	}
	g->code[g->n++] = x;
}
static void bn(struct gen *g, uint64_t v, int n)
{
	for (int k = 0; k < n; k++)
		b1(g, (uint8_t)(v >> (8 * k)));
}
static int new_label(struct gen *g)
{
	if (g->nlabel >= sizeof g->label / sizeof g->label[0]) {
		g->bad = true;
		return 0;
	}
	g->label[g->nlabel] = SIZE_MAX;
	return (int)g->nlabel++;
}
static void place(struct gen *g, int l) { g->label[l] = g->n; }
/* A size-byte PC-relative field to label l, relative to `end` bytes after the field start
 * (end = size unless an immediate follows). */
static void fixup(struct gen *g, int l, int size, int end)
{
	if (g->nfix >= sizeof g->fix / sizeof g->fix[0]) {
		g->bad = true;
		return;
	}
	g->fix[g->nfix].at = g->n;
	g->fix[g->nfix].size = size;
	g->fix[g->nfix].label = l;
	g->fix[g->nfix].end = g->n + (size_t)end;
	g->nfix++;
	bn(g, 0, size);
}

static bool reg_ok_dst(const struct gen *g, int r)
{
	int phys = r >= AH_ ? r - AH_ : r;
	return phys != RSP && !(g->avoid & (1u << phys));
}
/* A 64/32/16-bit register; dst: may be written. */
static int pick_reg(struct gen *g, bool dst)
{
	for (;;) {
		int r = (int)rn(16);
		if (!dst || reg_ok_dst(g, r))
			return r;
	}
}
/* An 8-bit register 0..19 compatible with the REX decision so far:
 * rex = 1 REX required (no AH..BH), -1 REX forbidden (no SPL..DIL, R8B..), 0 free. */
static int pick_reg8(struct gen *g, bool dst, int rex)
{
	for (;;) {
		int r = (int)rn(20);
		if (rex > 0 && r >= AH_)
			continue;
		if (rex < 0 && r >= 4 && r < AH_)
			continue;
		if (!dst || reg_ok_dst(g, r))
			return r;
	}
}
static int rex_need8(int r) { return r >= AH_ ? -1 : r >= 4 ? 1 : 0; }

static void mov_imm64(struct gen *g, int r, uint64_t v)
{
	b1(g, (uint8_t)(0x48 | (r >= 8)));
	b1(g, (uint8_t)(0xb8 | (r & 7)));
	bn(g, v, 8);
}
static void mov_imm32(struct gen *g, int r, uint32_t v)   /* mov r32, imm32 (zero-extends) */
{
	if (r >= 8)
		b1(g, 0x41);
	b1(g, (uint8_t)(0xb8 | (r & 7)));
	bn(g, v, 4);
}

/* A memory operand of `size` bytes: an addressing form, its register setup
 * (emitted now), and the target. where: 0 data area, 1 stack (RSP-relative
 * allowed), 2 a given target (*target in, e.g. a pointer slot). */
static void pick_mem(struct gen *g, unsigned size, int where, uint64_t *target, struct mem *mo)
{
	memset(mo, 0, sizeof *mo);
	mo->base = mo->index = -1;
	mo->label = -1;
	uint64_t t;
	if (where == 2) {
		t = *target;
	} else if (where == 1 && chance(3) && !g->no_stack) {
		/* [rsp + disp8]: the stack page (RSP stays near its middle) */
		mo->base = RSP;
		mo->dsz = 1;
		mo->disp = (int32_t)rn(120) - 60;
		*target = 0;
		return;
	} else {
		t = DATA_BASE + (chance(8) ? PAGE - rn(16) : rn(DATA_RW - 16));   /* sometimes across the page boundary */
		if (chance(2))
			t &= ~(uint64_t)(size - 1);
		/* A fault: wholly beyond the data (unmapped). Not partly: a store that
		 * straddles into an unmapped page is split by QEMU, which commits the
		 * mapped part before the #PF; the SDM's faulting instruction changes
		 * nothing (the machine writes nothing). Not the read-only code page
		 * either: Unicorn reports a write-protection fault after completing
		 * the instruction (CMPXCHG8B: RIP advanced, EDX:EAX loaded). */
		if (chance(48))
			t = DATA_BASE + DATA_SIZE + rn(64);
	}
	*target = t;
	mo->target = t;
	/* 0 RIP-relative, 1 absolute, 2-3 index*scale+disp32, 4-7 base+disp, 8-11 base+index*scale+disp */
	unsigned form = rn(12);
	if (form < 1 && !g->no_rip)
		mo->rip = true;
	if (form < 1 && g->no_rip)
		form = 4;
	if (!mo->rip && chance(6))
		mo->seg = chance(2) ? 0x64 : 0x65;
	if (chance(7) && mo->seg != 0x65)
		mo->a32 = true;
	uint64_t segbase = mo->seg == 0x64 ? FS_BASE_V : mo->seg == 0x65 ? GS_BASE_V : 0;
	uint64_t ea = t - segbase;
	if (mo->rip) {
		mo->dsz = 4;
		return;   /* disp patched once the instruction length is known */
	}
	switch (rn(8)) {
	case 0: mo->dsz = 0; break;
	case 1: case 2: case 3: mo->dsz = 1; mo->disp = (int8_t)rnd(); break;
	default: mo->dsz = 4; mo->disp = (int32_t)(rn(0x20000) - 0x10000); break;
	}
	if (form == 1) {
		/* absolute [disp32] (SIB, no base, no index) */
		mo->dsz = 4;
		mo->disp = (int32_t)ea;
		return;
	}
	bool want_base = form >= 4, want_index = form == 2 || form == 3 || form >= 8;
	int avoidsave = (int)g->avoid;
	if (want_index) {
		do mo->index = pick_reg(g, true); while (mo->index == RSP);
		g->avoid |= 1u << mo->index;
		mo->scale = (int)rn(4);
	}
	if (want_base) {
		mo->base = pick_reg(g, true);
		if ((mo->base & 7) == 5 && mo->dsz == 0)
			mo->dsz = 1;
	} else {
		mo->dsz = 4;   /* index*scale + disp32 */
	}
	g->avoid = (unsigned)avoidsave;
	uint64_t iv = 0;
	if (mo->index >= 0) {
		iv = chance(4) ? (uint64_t)-(int64_t)rn(16) : rn(64);
		if (mo->a32)
			iv = (iv & 0xffffffffu) | (rnd() << 32);
	}
	uint64_t bv = ea - (uint64_t)mo->disp - (iv << (mo->index >= 0 ? mo->scale : 0));
	if (mo->base < 0) {
		/* no base: fold the rest into the displacement (must fit 32 bits) */
		mo->disp = (int32_t)(ea - (iv << mo->scale));
		if ((uint64_t)(int64_t)mo->disp != ea - (iv << mo->scale) && !mo->a32) {
			iv = 0;
			mo->disp = (int32_t)ea;
		}
	}
	if (mo->a32)
		bv = (bv & 0xffffffffu) | (rnd() << 32);
	if (mo->index >= 0)
		mov_imm64(g, mo->index, iv);
	if (mo->base >= 0)
		mov_imm64(g, mo->base, bv);
}

/* One instruction. reg: ModRM.reg as a register (0..19) or, with ext, an
 * opcode extension; e_reg: the r/m register (mod 3) when m is NULL; opreg:
 * register in the opcode's low bits (+r forms). */
struct ins {
	uint8_t pfx[4];
	int npfx;
	int osz;                  /* 1 2 4 8: 66h for 2, REX.W for 8 unless now */
	bool now;                 /* operand size 8 without REX.W (PUSH/POP, near branches) */
	bool w_anyway;            /* REX.W although osz is not 8 (e.g. MOVSXD without it is tested too) */
	uint8_t op[3];
	int nop;
	bool modrm;
	int reg;
	bool ext;
	int e_reg;
	struct mem *m;
	int opreg;
	uint64_t imm;
	int immsz;
	bool b_reg, b_e, b_opreg; /* which register operands are 8-bit (AH..BH vs REX rules) */
};

static void emit(struct gen *g, const struct ins *s)
{
	bool need = false, forbid = false;
	uint8_t rex = 0x40;
	if (s->osz == 8 && !s->now)
		rex |= 8;
	if (s->w_anyway)
		rex |= 8;
	if (s->modrm && !s->ext && s->reg < AH_ && s->reg >= 8)
		rex |= 4;
	if (s->m && s->m->index >= 8)
		rex |= 2;
	if (s->m && !s->m->rip && s->m->base >= 8)
		rex |= 1;
	if (!s->m && s->modrm && s->e_reg >= 8 && s->e_reg < AH_)
		rex |= 1;
	if (s->opreg >= 8 && s->opreg < AH_)
		rex |= 1;
	{
		int regs[3] = { s->b_reg && s->modrm && !s->ext ? s->reg : -1, s->b_e && s->modrm && !s->m ? s->e_reg : -1,
				s->b_opreg ? s->opreg : -1 };
		for (int k = 0; k < 3; k++) {
			if (regs[k] >= AH_)
				forbid = true;
			else if (regs[k] >= 4)
				need = true;
		}
	}
	if (rex != 0x40)
		need = true;
	if (need && forbid) {
		g->bad = true;   /* an encoding mistake of the generator, never silently */
		return;
	}
	/* legacy prefixes in random order, sometimes with a null segment override */
	uint8_t p[8];
	int np = 0;
	if (s->osz == 2)
		p[np++] = 0x66;
	if (s->m && s->m->a32)
		p[np++] = 0x67;
	if (s->m && s->m->seg)
		p[np++] = (uint8_t)s->m->seg;
	bool fsgs = s->m && s->m->seg;
	for (int k = 0; k < s->npfx; k++) {
		p[np++] = s->pfx[k];
		fsgs |= s->pfx[k] == 0x64 || s->pfx[k] == 0x65;
	}
	/* A null segment override (ignored in 64-bit mode), but never beside FS/GS:
	 * AMD's APM Vol. 3 1.2.4 keeps 2E/3E/26/36 out of the multiple-prefix
	 * rules (FS/GS stays, as the machine decodes), QEMU lets the last segment
	 * prefix win, the SDM is silent: not compared. */
	if (chance(16) && !fsgs)
		p[np++] = (uint8_t[]){ 0x2e, 0x3e, 0x26, 0x36 }[rn(4)];
	for (int k = np - 1; k > 0; k--) {
		int j = (int)rn((unsigned)k + 1);
		uint8_t t = p[k];
		p[k] = p[j];
		p[j] = t;
	}
	for (int k = 0; k < np; k++)
		b1(g, p[k]);
	if (need || (!forbid && chance(12)))
		b1(g, rex);
	for (int k = 0; k < s->nop; k++)
		b1(g, k == s->nop - 1 && s->opreg >= 0 ? (uint8_t)(s->op[k] | ((s->opreg >= AH_ ? s->opreg - AH_ + 4 : s->opreg) & 7))
						       : s->op[k]);
	if (s->modrm) {
		unsigned regf = (unsigned)(s->ext ? s->reg : (s->reg >= AH_ ? s->reg - AH_ + 4 : s->reg)) & 7;
		struct mem *m = s->m;
		if (!m) {
			unsigned rm = (unsigned)(s->e_reg >= AH_ ? s->e_reg - AH_ + 4 : s->e_reg) & 7;
			b1(g, (uint8_t)(0xc0 | regf << 3 | rm));
		} else if (m->rip) {
			b1(g, (uint8_t)(regf << 3 | 5));
		} else if (m->base < 0) {
			b1(g, (uint8_t)(regf << 3 | 4));
			b1(g, (uint8_t)((m->index >= 0 ? m->scale : 0) << 6 | ((m->index >= 0 ? m->index : 4) & 7) << 3 | 5));
		} else {
			unsigned mod = m->dsz == 0 ? 0 : m->dsz == 1 ? 1 : 2;
			if (m->index >= 0 || (m->base & 7) == 4) {
				b1(g, (uint8_t)(mod << 6 | regf << 3 | 4));
				b1(g, (uint8_t)((m->index >= 0 ? m->scale : 0) << 6 | ((m->index >= 0 ? m->index : 4) & 7) << 3 |
						(m->base & 7)));
			} else {
				b1(g, (uint8_t)(mod << 6 | regf << 3 | (m->base & 7)));
			}
		}
		if (m) {
			if (m->rip)
				m->disp_at = g->n;
			if (m->rip && m->label >= 0)
				fixup(g, m->label, 4, 4 + s->immsz);
			else
				bn(g, (uint64_t)(int64_t)m->disp, m->dsz);
		}
	}
	bn(g, s->imm, s->immsz);
	if (s->m && s->m->rip && s->m->label < 0) {
		uint64_t next = g->base + g->n;
		int64_t d = (int64_t)(s->m->target - next);
		if (s->m->a32)
			d = (int64_t)(int32_t)(uint32_t)(s->m->target - next);
		for (int k = 0; k < 4; k++)
			g->code[s->m->disp_at + k] = (uint8_t)((uint64_t)d >> (8 * k));
	}
}

static void ins_init(struct ins *s, int osz)
{
	memset(s, 0, sizeof *s);
	s->osz = osz;
	s->e_reg = -1;
	s->opreg = -1;
	s->b_reg = s->b_e = s->b_opreg = osz == 1;
}
static int rand_osz(void) { return (int[]){ 1, 2, 4, 8, 4, 8 }[rn(6)]; }
static int rand_osz_v(void) { return (int[]){ 2, 4, 8, 4, 8 }[rn(5)]; }   /* no 8-bit form */

/* The r/m operand: a register (dst: may be written) or memory in the data area. */
static void pick_e(struct gen *g, struct ins *s, struct mem *mo, bool dst, bool allow_mem, int rexhint)
{
	uint64_t t;
	if (allow_mem && chance(2)) {
		pick_mem(g, s->osz == 1 ? 1 : (unsigned)s->osz, 1, &t, mo);
		s->m = mo;
	} else if (s->b_e) {
		s->e_reg = pick_reg8(g, dst, rexhint);
	} else {
		s->e_reg = pick_reg(g, dst);
	}
}
static int rex_of_mem(const struct mem *m)
{
	return m && ((m->base >= 8 && !m->rip) || m->index >= 8) ? 1 : 0;
}

/* ---- templates: one tested instruction (with its setup) each --------------- */
void gen_items(struct gen *g, unsigned n);

static void t_alu(struct gen *g)
{
	struct ins s;
	struct mem mo;
	unsigned op = rn(8);   /* ADD OR ADC SBB AND SUB XOR CMP */
	unsigned form = rn(10);
	int osz = rand_osz();
	ins_init(&s, osz);
	s.modrm = true;
	if (form < 4) {
		/* E,G (00+) or G,E (02+) */
		bool ge = form >= 2;
		s.nop = 1;
		s.op[0] = (uint8_t)(op * 8 + (ge ? 2 : 0) + (osz != 1));
		pick_e(g, &s, &mo, !ge && op != 7, true, 0);
		int rh = s.m ? rex_of_mem(s.m) : s.b_e ? rex_need8(s.e_reg) : 0;
		s.reg = s.b_reg ? pick_reg8(g, ge && op != 7, rh) : pick_reg(g, ge && op != 7);
		if (s.m && !ge && op != 7 && chance(3))
			s.pfx[s.npfx++] = 0xf0;
	} else if (form < 8) {
		/* 80/81/83 /op imm */
		s.ext = true;
		s.reg = (int)op;
		s.nop = 1;
		pick_e(g, &s, &mo, op != 7, true, 0);
		if (osz == 1) {
			s.op[0] = 0x80;
			s.immsz = 1;
		} else if (chance(2)) {
			s.op[0] = 0x83;
			s.immsz = 1;
		} else {
			s.op[0] = 0x81;
			s.immsz = osz == 2 ? 2 : 4;
		}
		s.imm = rval();
		if (s.m && op != 7 && chance(3))
			s.pfx[s.npfx++] = 0xf0;
	} else {
		/* AL/eAX, imm (04+/05+) */
		if (g->avoid & 1)
			return;
		s.modrm = false;
		s.nop = 1;
		s.op[0] = (uint8_t)(op * 8 + 4 + (osz != 1));
		s.immsz = osz == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
	}
	emit(g, &s);
}

static void t_test(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	ins_init(&s, osz);
	unsigned form = rn(3);
	if (form == 0) {
		s.modrm = true;
		s.nop = 1;
		s.op[0] = osz == 1 ? 0x84 : 0x85;
		pick_e(g, &s, &mo, false, true, 0);
		s.reg = s.b_reg ? pick_reg8(g, false, s.m ? rex_of_mem(s.m) : rex_need8(s.e_reg)) : pick_reg(g, false);
	} else if (form == 1) {
		s.modrm = true;
		s.ext = true;
		s.reg = 0;   /* not the /1 alias: the SDM leaves F6/F7 /1 reserved and Unicorn raises #UD */
		s.nop = 1;
		s.op[0] = osz == 1 ? 0xf6 : 0xf7;
		pick_e(g, &s, &mo, false, true, 0);
		s.immsz = osz == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
	} else {
		s.nop = 1;
		s.op[0] = osz == 1 ? 0xa8 : 0xa9;
		s.immsz = osz == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
	}
	emit(g, &s);
}

static void t_unary(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	ins_init(&s, osz);
	s.modrm = true;
	s.ext = true;
	s.nop = 1;
	unsigned k = rn(4);   /* NOT NEG INC DEC */
	if (k < 2) {
		s.op[0] = osz == 1 ? 0xf6 : 0xf7;
		s.reg = 2 + (int)k;
	} else {
		s.op[0] = osz == 1 ? 0xfe : 0xff;
		s.reg = (int)k - 2;
	}
	pick_e(g, &s, &mo, true, true, 0);
	if (s.m && chance(3))
		s.pfx[s.npfx++] = 0xf0;
	emit(g, &s);
}

static void t_muldiv(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	unsigned k = rn(4);   /* MUL IMUL DIV IDIV */
	if (g->avoid & ((1u << RAX) | (1u << RDX)))
		return;
	/* Unicorn cannot run a 32-bit IDIV of EDX:EAX = -2^63 by -1: QEMU 5.0's
	 * helper_idivl divides on the host, which traps (SIGFPE) instead of
	 * raising #DE. So EDX is always set here (and kept by the operand's
	 * setup); test_edges checks that case against the SDM on the machine. */
	bool idiv32 = k == 3 && osz == 4;
	if (idiv32 && chance(5)) {
		uint32_t hi = (uint32_t)rval();
		mov_imm32(g, RDX, hi == 0x80000000u ? 0x80000001u : hi);
	} else if ((k >= 2 && !chance(5)) || idiv32) {
		/* mostly avoid #DE: a zero or sign-extended high half (#DE still when the divisor is 0 or -1/min) */
		if (osz == 1)
			b1(g, k == 2 ? 0x30 : 0x66), b1(g, k == 2 ? 0xe4 : 0x98);   /* xor ah, ah / cbw */
		else if (k == 2)
			b1(g, 0x31), b1(g, 0xd2);                                    /* xor edx, edx */
		else {
			if (osz == 2) b1(g, 0x66);
			if (osz == 8) b1(g, 0x48);
			b1(g, 0x99);                                                 /* cwd / cdq / cqo */
		}
	}
	ins_init(&s, osz);
	s.modrm = true;
	s.ext = true;
	s.nop = 1;
	s.op[0] = osz == 1 ? 0xf6 : 0xf7;
	s.reg = 4 + (int)k;
	if (idiv32)
		g->avoid |= 1u << RDX;
	pick_e(g, &s, &mo, false, true, 0);
	g->avoid &= ~(1u << RDX);
	emit(g, &s);
}

static void t_imul(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz_v();
	ins_init(&s, osz);
	s.modrm = true;
	unsigned k = rn(3);
	if (k == 0) {
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = 0xaf;
	} else {
		s.nop = 1;
		s.op[0] = k == 1 ? 0x6b : 0x69;
		s.immsz = k == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
	}
	pick_e(g, &s, &mo, false, true, 0);
	s.reg = pick_reg(g, true);
	emit(g, &s);
}

/* Set CL to an interesting shift count (unless RCX must be kept). */
static void set_cl(struct gen *g, int osz)
{
	static const uint8_t counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255 };
	if ((g->avoid & (1u << RCX)) || chance(4))
		return;
	(void)osz;
	b1(g, 0xb1);
	b1(g, counts[rn(sizeof counts)]);
}

static void t_shift(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	ins_init(&s, osz);
	s.modrm = true;
	s.ext = true;
	s.nop = 1;
	s.reg = (int)rn(8);   /* ROL ROR RCL RCR SHL SHR SAL(/6) SAR */
	unsigned form = rn(3);
	if (form == 2)
		set_cl(g, osz);
	s.op[0] = (uint8_t)((form == 0 ? 0xc0 : form == 1 ? 0xd0 : 0xd2) + (osz != 1));
	if (form == 0) {
		static const uint8_t counts[] = { 0, 1, 2, 4, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64, 200 };
		s.immsz = 1;
		s.imm = chance(2) ? counts[rn(sizeof counts)] : rn(256);
	}
	pick_e(g, &s, &mo, true, true, 0);
	emit(g, &s);
}

static void t_shxd(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz_v();
	ins_init(&s, osz);
	s.modrm = true;
	s.nop = 2;
	s.op[0] = 0x0f;
	bool cl = chance(2) && !(g->avoid & (1u << RCX)), right = chance(2);
	s.op[1] = (uint8_t)((right ? 0xac : 0xa4) + cl);
	/* Unicorn deviation, excluded: QEMU 5.0 reads SHLD/SHRD's imm8 after
	 * computing a RIP-relative address without counting it (translate.c
	 * do_shiftd: no rip_offset), so its address is 1 byte short. SDM Vol. 2A
	 * 2.2.1.6: RIP-relative is relative to the next instruction. */
	unsigned av = g->avoid;
	g->no_rip = !cl;
	if (cl)
		g->avoid |= 1u << RCX;   /* CL is set after the operand's setup */
	pick_e(g, &s, &mo, true, true, 0);
	g->no_rip = false;
	g->avoid = av;
	s.reg = pick_reg(g, false);
	/* 16-bit counts above 16 leave the result undefined (masked for a
	 * register destination; a memory destination gets a defined count) */
	bool defined_only = osz == 2 && s.m;
	if (cl) {
		if (defined_only) {
			b1(g, 0xb1);
			b1(g, (uint8_t)(rn(17) | (rn(4) << 5)));
		} else {
			set_cl(g, osz);
		}
	} else {
		s.immsz = 1;
		s.imm = defined_only ? rn(17) | (rn(8) << 5) : chance(2) ? rn((unsigned)osz * 8 + 2) : rn(256);
	}
	emit(g, &s);
}

static void t_bitop(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz_v();
	unsigned k = rn(4);   /* BT BTS BTR BTC */
	ins_init(&s, osz);
	s.modrm = true;
	s.nop = 2;
	s.op[0] = 0x0f;
	if (chance(2)) {
		s.op[1] = 0xba;
		s.ext = true;
		s.reg = 4 + (int)k;
		s.immsz = 1;
		s.imm = rn(256);
		pick_e(g, &s, &mo, k != 0, true, 0);
	} else {
		s.op[1] = (uint8_t)(0xa3 + 8 * k);
		/* the bit offset register: with a memory operand a small signed
		 * offset (it addresses beyond the operand, SDM BT "bit base") */
		int off = pick_reg(g, true);
		bool mem = chance(2);
		if (mem) {
			uint64_t t;
			int sv = (int)rn(512) - 128;
			g->avoid |= 1u << off;
			pick_mem(g, (unsigned)osz, 0, &t, &mo);
			g->avoid &= ~(1u << off);
			if (mo.base == off || mo.index == off)
				return;
			mov_imm64(g, off, (uint64_t)(int64_t)sv);
			s.m = &mo;
		} else {
			s.e_reg = pick_reg(g, k != 0);
		}
		s.reg = off;
	}
	if (s.m && k && chance(3))
		s.pfx[s.npfx++] = 0xf0;
	emit(g, &s);
}

static void t_bitscan(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz_v();
	unsigned k = rn(4);   /* BSF BSR TZCNT LZCNT (POPCNT: see test_popcnt, Unicorn lacks it) */
	ins_init(&s, osz);
	s.modrm = true;
	s.nop = 2;
	s.op[0] = 0x0f;
	s.op[1] = k == 4 ? 0xb8 : (k & 1) ? 0xbd : 0xbc;
	if (k >= 2)
		s.pfx[s.npfx++] = 0xf3;
	pick_e(g, &s, &mo, false, true, 0);
	if (!s.m && chance(5)) {
		/* a zero source: xor r32, r32 */
		int z = s.e_reg;
		if (!reg_ok_dst(g, z))
			return;
		if (z >= 8)
			b1(g, 0x45);
		b1(g, 0x31);
		b1(g, (uint8_t)(0xc0 | (z & 7) << 3 | (z & 7)));
	}
	s.reg = pick_reg(g, true);
	emit(g, &s);
}

static void t_movx(struct gen *g)
{
	struct ins s;
	struct mem mo;
	uint64_t t;
	unsigned k = rn(5);   /* MOVZX b/w, MOVSX b/w, MOVSXD */
	int osz = k == 4 ? (int[]){ 8, 8, 4, 2 }[rn(4)] : rand_osz_v();
	ins_init(&s, osz);
	s.modrm = true;
	if (k == 4) {
		s.nop = 1;
		s.op[0] = 0x63;
		pick_e(g, &s, &mo, false, true, 0);
		s.reg = pick_reg(g, true);
		emit(g, &s);
		return;
	}
	bool srcb = !(k & 1);
	s.nop = 2;
	s.op[0] = 0x0f;
	s.op[1] = (uint8_t)((k < 2 ? 0xb6 : 0xbe) + !srcb);
	if (chance(2)) {
		pick_mem(g, srcb ? 1 : 2, 1, &t, &mo);
		s.m = &mo;
		s.reg = pick_reg(g, true);
	} else if (srcb) {
		s.b_e = true;
		s.e_reg = pick_reg8(g, false, osz == 8 ? 1 : 0);
		do s.reg = pick_reg(g, true); while (s.e_reg >= AH_ && s.reg >= 8);   /* AH..BH: no REX at all */
	} else {
		s.e_reg = pick_reg(g, false);
		s.reg = pick_reg(g, true);
	}
	emit(g, &s);
}

static void t_mov(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	ins_init(&s, osz);
	unsigned form = rn(8);
	uint64_t t;
	switch (form) {
	case 0: case 1: case 2: {   /* 88/89 E,G  8A/8B G,E */
		bool ge = form == 2;
		s.modrm = true;
		s.nop = 1;
		s.op[0] = (uint8_t)((ge ? 0x8a : 0x88) + (osz != 1));
		pick_e(g, &s, &mo, !ge, true, 0);
		int rh = s.m ? rex_of_mem(s.m) : s.b_e ? rex_need8(s.e_reg) : 0;
		s.reg = s.b_reg ? pick_reg8(g, ge, rh) : pick_reg(g, ge);
		break;
	}
	case 3:   /* C6/C7 /0 */
		s.modrm = true;
		s.ext = true;
		s.reg = 0;
		s.nop = 1;
		s.op[0] = osz == 1 ? 0xc6 : 0xc7;
		pick_e(g, &s, &mo, true, true, 0);
		s.immsz = osz == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
		break;
	case 4: case 5:   /* B0+r / B8+r */
		s.nop = 1;
		s.op[0] = osz == 1 ? 0xb0 : 0xb8;
		s.opreg = osz == 1 ? pick_reg8(g, true, 0) : pick_reg(g, true);
		s.immsz = osz == 8 ? 8 : osz == 1 ? 1 : osz == 2 ? 2 : 4;
		s.imm = rval();
		break;
	default: {   /* A0-A3: moffs (64-bit, or 32-bit with 67h) */
		if (g->avoid & 1)
			return;
		bool store = chance(2), a32 = chance(4);
		int seg = chance(4) ? (a32 ? 0x64 : (int[]){ 0x64, 0x65 }[rn(2)]) : 0;
		t = DATA_BASE + rn(DATA_RW - 8);
		s.nop = 1;
		s.op[0] = (uint8_t)((store ? 0xa2 : 0xa0) + (osz != 1));
		if (a32)
			s.pfx[s.npfx++] = 0x67;
		if (seg)
			s.pfx[s.npfx++] = (uint8_t)seg;
		s.immsz = a32 ? 4 : 8;
		s.imm = t - (seg == 0x64 ? FS_BASE_V : seg == 0x65 ? GS_BASE_V : 0);
		break;
	}
	}
	emit(g, &s);
}

static void t_lea(struct gen *g)
{
	/* LEA computes, never accesses: registers can hold anything, every form */
	struct ins s;
	struct mem mo;
	uint64_t t;
	int osz = rand_osz_v();
	ins_init(&s, osz);
	s.modrm = true;
	s.nop = 1;
	s.op[0] = 0x8d;
	if (chance(3)) {
		memset(&mo, 0, sizeof mo);
		mo.label = -1;
		mo.base = chance(5) ? -1 : pick_reg(g, false);
		mo.index = chance(3) ? -1 : (int)rn(16);
		if (mo.index == RSP)
			mo.index = -1;
		mo.scale = (int)rn(4);
		mo.dsz = (int[]){ 0, 1, 4 }[rn(3)];
		mo.disp = mo.dsz == 1 ? (int8_t)rnd() : (int32_t)rnd();
		if (mo.dsz == 0)
			mo.disp = 0;
		if (mo.base < 0)
			mo.dsz = 4;
		else if ((mo.base & 7) == 5 && mo.dsz == 0)
			mo.dsz = 1;
		mo.a32 = chance(4);
		mo.rip = mo.base < 0 && mo.index < 0 && chance(2);
		mo.target = CODE_BASE + rn(PAGE);
		if (mo.rip)
			mo.dsz = 4;
	} else {
		pick_mem(g, 1, 0, &t, &mo);   /* a segment override does not change LEA: kept when drawn */
	}
	s.m = &mo;
	s.reg = pick_reg(g, true);
	emit(g, &s);
}

static void t_xchg(struct gen *g)
{
	struct ins s;
	struct mem mo;
	int osz = rand_osz();
	unsigned k = rn(5);   /* XCHG E,G / XCHG rAX,r / XADD / CMPXCHG / CMPXCHG (rAX primed) */
	ins_init(&s, osz);
	if (k == 1) {
		if (osz == 1 || (g->avoid & 1))
			return;
		s.nop = 1;
		s.op[0] = 0x90;
		s.opreg = pick_reg(g, true);
		if (s.opreg == 0 && !chance(4))
			s.opreg = 8;   /* 90 alone is NOP; 41 90 is XCHG r8 */
		emit(g, &s);
		return;
	}
	s.modrm = true;
	if (k == 0) {
		s.nop = 1;
		s.op[0] = osz == 1 ? 0x86 : 0x87;
	} else {
		if ((g->avoid & 1) && k >= 3)
			return;
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = (uint8_t)((k == 2 ? 0xc0 : 0xb0) + (osz != 1));
	}
	pick_e(g, &s, &mo, true, true, 0);
	int rh = s.m ? rex_of_mem(s.m) : s.b_e ? rex_need8(s.e_reg) : 0;
	s.reg = s.b_reg ? pick_reg8(g, true, rh) : pick_reg(g, true);
	if (k == 4 && !s.m && !s.b_e) {
		/* make the comparison succeed: mov rax, r/m */
		if (s.e_reg >= 8)
			b1(g, 0x4c);
		else
			b1(g, 0x48);
		b1(g, 0x89);
		b1(g, (uint8_t)(0xc0 | (s.e_reg & 7) << 3));
	}
	if (s.m && chance(3))
		s.pfx[s.npfx++] = 0xf0;
	emit(g, &s);
}

static void t_cmpxchg16(struct gen *g)
{
	/* CMPXCHG8B / CMPXCHG16B (16B: #GP unless 16-byte aligned) */
	struct ins s;
	struct mem mo;
	uint64_t t;
	bool q = chance(2);
	if (g->avoid & ((1u << RAX) | (1u << RDX) | (1u << RCX) | (1u << RBX)))
		return;
	ins_init(&s, q ? 8 : 4);
	s.modrm = true;
	s.ext = true;
	s.reg = 1;
	s.nop = 2;
	s.op[0] = 0x0f;
	s.op[1] = 0xc7;
	g->avoid |= 0xf;   /* the base/index registers must not be RAX RCX RDX RBX */
	pick_mem(g, 16, 0, &t, &mo);
	g->avoid &= ~0xfu;
	if (!chance(8))
		mo.target &= ~15ull;   /* aligned mostly; pick_mem already emitted the setup for the old target */
	if (mo.target != t) {
		/* recompute with the aligned target: emit a fresh setup */
		uint64_t tt = mo.target;
		g->avoid |= 0xf;
		pick_mem(g, 16, 2, &tt, &mo);
		g->avoid &= ~0xfu;
		t = tt;
	}
	if (chance(2) && t >= DATA_BASE && t + 16 <= DATA_BASE + DATA_RW) {
		/* prime RDX:RAX with the current contents (equal unless stored to before) */
		uint64_t lo, hi;
		memcpy(&lo, g->data + (t - DATA_BASE), 8);
		memcpy(&hi, g->data + (t - DATA_BASE) + 8, 8);
		if (!q) {
			hi = lo >> 32;
			lo &= 0xffffffffu;
		}
		mov_imm64(g, RAX, lo);
		mov_imm64(g, RDX, hi);
	}
	s.m = &mo;
	if (chance(3))
		s.pfx[s.npfx++] = 0xf0;
	emit(g, &s);
}

static void t_cmov_set(struct gen *g)
{
	struct ins s;
	struct mem mo;
	if (chance(2)) {
		int osz = rand_osz_v();
		ins_init(&s, osz);
		s.modrm = true;
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = (uint8_t)(0x40 + rn(16));
		pick_e(g, &s, &mo, false, true, 0);
		s.reg = pick_reg(g, true);
	} else {
		ins_init(&s, 1);
		s.modrm = true;
		s.ext = true;
		s.reg = (int)rn(8);   /* SETcc ignores ModRM.reg */
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = (uint8_t)(0x90 + rn(16));
		pick_e(g, &s, &mo, true, true, 0);
	}
	emit(g, &s);
}

static void t_misc(struct gen *g)
{
	struct ins s;
	unsigned k = rn(14);
	bool acc = !(g->avoid & 1);
	switch (k) {
	case 0: case 1: {   /* BSWAP r32/r64 (r16 is undefined: masked) */
		ins_init(&s, chance(8) ? 2 : chance(2) ? 4 : 8);
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = 0xc8;
		s.opreg = pick_reg(g, true);
		emit(g, &s);
		return;
	}
	case 2:   /* CBW/CWDE/CDQE */
		if (!acc) return;
		ins_init(&s, rand_osz_v());
		s.nop = 1;
		s.op[0] = 0x98;
		emit(g, &s);
		return;
	case 3:   /* CWD/CDQ/CQO */
		if (!acc || (g->avoid & (1u << RDX))) return;
		ins_init(&s, rand_osz_v());
		s.nop = 1;
		s.op[0] = 0x99;
		emit(g, &s);
		return;
	case 4:   /* LAHF */
		if (!acc) return;
		b1(g, 0x9f);
		return;
	case 5:   /* SAHF */
		b1(g, 0x9e);
		return;
	case 6: b1(g, 0xf8); return;                  /* CLC */
	case 7: b1(g, 0xf9); return;                  /* STC */
	case 8: b1(g, 0xf5); return;                  /* CMC */
	case 9: {   /* XLAT: RBX = table, AL = index (FS override at times) */
		if (!acc || (g->avoid & (1u << RBX))) return;
		bool fs = chance(4);
		mov_imm64(g, RBX, DATA_BASE + rn(DATA_RW - 256) - (fs ? FS_BASE_V : 0));
		if (fs)
			b1(g, 0x64);
		if (chance(4)) {
			b1(g, 0x67);   /* EBX + AL, 32-bit */
		}
		b1(g, 0xd7);
		return;
	}
	case 10: {   /* NOPs: 90, 66 90, F3 90 (PAUSE), 0F 1F /0 with an address, 0F 18 hints */
		static const uint8_t nops[][9] = { { 1, 0x90 }, { 2, 0x66, 0x90 }, { 2, 0xf3, 0x90 },
						    { 3, 0x0f, 0x1f, 0x00 }, { 4, 0x0f, 0x1f, 0x40, 0x00 },
						    { 5, 0x0f, 0x1f, 0x44, 0x00, 0x00 }, { 6, 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
						    { 8, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
						    { 4, 0x0f, 0x18, 0x4c, 0x24 } };
		unsigned j = rn(sizeof nops / sizeof nops[0]);
		for (int q = 1; q <= nops[j][0]; q++)
			b1(g, nops[j][q]);
		if (j == 8)
			b1(g, 0x10);
		return;
	}
	case 11: case 12: {   /* INC/DEC on AL..BL and AH..BH (FE /0 /1 without REX) */
		ins_init(&s, 1);
		s.modrm = true;
		s.ext = true;
		s.reg = (int)rn(2);
		s.nop = 1;
		s.op[0] = 0xfe;
		s.e_reg = pick_reg8(g, true, -1);
		emit(g, &s);
		return;
	}
	default:   /* CLD/STD (a later string template sets DF itself) */
		b1(g, chance(2) ? 0xfc : 0xfd);
		return;
	}
}

static void t_push_pop(struct gen *g)
{
	struct ins s;
	struct mem mo;
	uint64_t t;
	if (g->no_stack || g->depth > 100 || g->depth < -100)
		return;
	unsigned k = rn(8);
	bool w16 = chance(6);
	ins_init(&s, w16 ? 2 : 8);
	s.now = true;
	switch (k) {
	case 0: case 1:   /* PUSH r (50+r), sometimes REX.W with 66h: 64-bit */
		s.nop = 1;
		s.op[0] = 0x50;
		s.opreg = pick_reg(g, false);
		if (w16 && chance(2))
			s.w_anyway = true;
		g->depth++;
		break;
	case 2: case 3:   /* POP r (58+r) */
		s.nop = 1;
		s.op[0] = 0x58;
		s.opreg = pick_reg(g, true);
		g->depth--;
		break;
	case 4:   /* PUSH imm8/imm32 */
		s.nop = 1;
		s.op[0] = chance(2) ? 0x6a : 0x68;
		s.immsz = s.op[0] == 0x6a ? 1 : w16 ? 2 : 4;
		s.imm = rval();
		g->depth++;
		break;
	case 5:   /* PUSH r/m (FF /6) */
		s.modrm = true;
		s.ext = true;
		s.reg = 6;
		s.nop = 1;
		s.op[0] = 0xff;
		pick_e(g, &s, &mo, false, true, 0);
		g->depth++;
		break;
	case 6:   /* POP r/m (8F /0): a memory destination addressed after the increment */
		s.modrm = true;
		s.ext = true;
		s.reg = 0;
		s.nop = 1;
		s.op[0] = 0x8f;
		if (chance(2)) {
			pick_mem(g, 8, 1, &t, &mo);
			s.m = &mo;
		} else {
			s.e_reg = pick_reg(g, true);
		}
		g->depth--;
		break;
	default:   /* PUSHF; POPF (64- or 16-bit), or POPF of an image with arithmetic flags and DF */
		if (chance(2)) {
			bool w = chance(3);
			if (w) b1(g, 0x66);
			b1(g, 0x9c);
			if (w) b1(g, 0x66);
			b1(g, 0x9d);
		} else {
			b1(g, 0x68);
			bn(g, (rnd() & (FL_ARITH | FL_DF)) | 2, 4);
			b1(g, 0x9d);
		}
		return;
	}
	emit(g, &s);
}

static void t_string(struct gen *g)
{
	/* MOVS CMPS STOS LODS SCAS, b/w/d/q, with and without REP, both directions, 32-bit addresses */
	if (g->avoid & ((1u << RCX) | (1u << RSI) | (1u << RDI) | 1u))
		return;
	static const uint8_t opc[] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
	unsigned k = rn(5);
	int osz = (int[]){ 1, 2, 4, 8 }[rn(4)];
	bool down = chance(3), a32 = chance(6);
	unsigned n = chance(8) ? 0 : rn(24);
	int rep = k == 3 && chance(2) ? 0 : chance(4) ? 0 : (k == 1 || k == 4) ? (chance(2) ? 0xf3 : 0xf2) : 0xf3;
	unsigned span = (n + 1) * (unsigned)osz;
	uint64_t src = DATA_BASE + (down ? span : 0) + rn(DATA_RW - 2 * span - 16);
	uint64_t dst = DATA_BASE + (down ? span : 0) + rn(DATA_RW - 2 * span - 16);
	if (chance(24) && !down)   /* runs off the end of the data mid-REP: #PF with the iterations done kept */
		dst = DATA_BASE + DATA_SIZE - (uint64_t)osz * rn(n + 1);
	int seg = chance(6) ? 0x64 : 0;
	if (k == 1 || k == 4) {
		/* REPE/REPNE: make some elements equal so the scan stops early */
		if (chance(2))
			memmove(g->data + (dst - DATA_BASE) - (down ? span : 0), g->data + (src - DATA_BASE) - (down ? span : 0),
			       span / 2);
	}
	b1(g, down ? 0xfd : 0xfc);
	uint64_t srcea = src - (seg ? FS_BASE_V : 0);
	if (a32) {
		mov_imm64(g, RSI, (srcea & 0xffffffffu) | (rnd() << 32));
		mov_imm64(g, RDI, (dst & 0xffffffffu) | (rnd() << 32));
		mov_imm64(g, RCX, n | (rnd() << 32));
	} else {
		mov_imm64(g, RSI, srcea);
		mov_imm64(g, RDI, dst);
		mov_imm32(g, RCX, n);
	}
	if (k == 4 && chance(2))
		mov_imm64(g, RAX, 0);   /* SCAS for zero */
	uint8_t p[6];
	int np = 0;
	if (rep) p[np++] = (uint8_t)rep;
	if (a32) p[np++] = 0x67;
	if (osz == 2) p[np++] = 0x66;
	if (seg) p[np++] = (uint8_t)seg;
	for (int q = np - 1; q > 0; q--) {
		int j = (int)rn((unsigned)q + 1);
		uint8_t tt = p[q];
		p[q] = p[j];
		p[j] = tt;
	}
	for (int q = 0; q < np; q++)
		b1(g, p[q]);
	if (osz == 8)
		b1(g, 0x48);
	b1(g, (uint8_t)(opc[k] + (osz != 1)));
}

static void t_enter_leave(struct gen *g)
{
	if (g->no_stack || (g->avoid & (1u << RBP)))
		return;
	unsigned level = chance(2) ? 0 : rn(4);
	uint16_t size = (uint16_t)(rn(16) * 8);
	if (level) {
		b1(g, 0x48);   /* mov rbp, rsp: the display copy reads [rbp - 8*l] in the stack */
		b1(g, 0x89);
		b1(g, 0xe5);
	}
	b1(g, 0xc8);
	bn(g, size, 2);
	b1(g, (uint8_t)level);
	/* a body that keeps RBP and the stack */
	bool ns = g->no_stack, nc = g->no_ctl;
	unsigned av = g->avoid;
	g->no_stack = true;
	g->no_ctl = true;
	g->avoid |= 1u << RBP;
	gen_items(g, rn(3));
	g->no_stack = ns;
	g->no_ctl = nc;
	g->avoid = av;
	b1(g, 0xc9);
}

/* ---- control flow -------------------------------------------------------------- */

static void t_jcc_skip(struct gen *g)
{
	if (g->no_ctl)
		return;
	int l = new_label(g);
	unsigned k = rn(5);
	bool near = chance(2);
	unsigned nskip = 1 + rn(near ? 2 : 4);
	if (k < 3) {
		if (near) {
			b1(g, (uint8_t)(0x70 + rn(16)));
			fixup(g, l, 1, 1);
		} else {
			b1(g, 0x0f);
			b1(g, (uint8_t)(0x80 + rn(16)));
			fixup(g, l, 4, 4);
		}
	} else if (k == 3) {
		b1(g, near ? 0xeb : 0xe9);
		fixup(g, l, near ? 1 : 4, near ? 1 : 4);
	} else {
		/* JRCXZ / JECXZ (67h) */
		if (chance(3))
			b1(g, 0x67);
		b1(g, 0xe3);
		fixup(g, l, 1, 1);
		near = true;
		nskip = 1;
	}
	bool nc = g->no_ctl;
	g->no_ctl = true;
	gen_items(g, nskip);
	g->no_ctl = nc;
	place(g, l);
}

static void t_loop(struct gen *g)
{
	if (g->no_ctl || (g->avoid & (1u << RCX)))
		return;
	unsigned k = rn(4);   /* LOOP LOOPE LOOPNE, DEC+JNZ */
	bool a32 = chance(4);
	mov_imm64(g, RCX, (1 + rn(4)) | (a32 ? rnd() << 32 : 0));
	int l = new_label(g);
	place(g, l);
	bool nc = g->no_ctl;
	unsigned av = g->avoid;
	g->no_ctl = true;
	g->avoid |= 1u << RCX;
	gen_items(g, 1 + rn(3));
	g->no_ctl = nc;
	g->avoid = av;
	if (k == 3) {
		b1(g, 0xff);   /* dec ecx */
		b1(g, 0xc9);
		b1(g, 0x75);
		fixup(g, l, 1, 1);
		return;
	}
	if (a32)
		b1(g, 0x67);
	b1(g, (uint8_t)(0xe2 - k));
	fixup(g, l, 1, 1);
}

static void t_call(struct gen *g)
{
	if (g->no_ctl || g->no_stack)
		return;
	int sub = new_label(g), after = new_label(g);
	unsigned k = rn(5);
	bool retimm = chance(3);
	if (retimm) {
		b1(g, 0x6a);   /* push imm8: popped by RET 8 */
		b1(g, (uint8_t)rnd());
	}
	uint64_t t;
	struct mem mo;
	struct ins s;
	switch (k) {
	case 0: case 1:   /* CALL rel32 */
		b1(g, 0xe8);
		fixup(g, sub, 4, 4);
		break;
	case 2: {   /* LEA r, [rip + sub]; CALL r */
		int r = pick_reg(g, true);
		ins_init(&s, 8);
		s.modrm = true;
		s.nop = 1;
		s.op[0] = 0x8d;
		memset(&mo, 0, sizeof mo);
		mo.base = mo.index = -1;
		mo.rip = true;
		mo.dsz = 4;
		mo.label = sub;
		s.m = &mo;
		s.reg = r;
		emit(g, &s);
		ins_init(&s, 8);
		s.now = true;
		s.modrm = true;
		s.ext = true;
		s.reg = 2;
		s.nop = 1;
		s.op[0] = 0xff;
		s.e_reg = r;
		emit(g, &s);
		break;
	}
	default: {   /* CALL [slot]: any addressing form */
		if (g->nslot >= NSLOTS || g->ndfix >= NSLOTS)
			return;
		unsigned slot = g->nslot++;
		t = SLOT_BASE + 8 * slot;
		pick_mem(g, 8, 2, &t, &mo);
		g->dfix[g->ndfix].slot = slot;
		g->dfix[g->ndfix].label = sub;
		g->ndfix++;
		ins_init(&s, 8);
		s.now = true;
		s.modrm = true;
		s.ext = true;
		s.reg = 2;
		s.nop = 1;
		s.op[0] = 0xff;
		s.m = &mo;
		emit(g, &s);
		break;
	}
	}
	b1(g, 0xe9);
	fixup(g, after, 4, 4);
	place(g, sub);
	bool nc = g->no_ctl, ns = g->no_stack;
	g->no_ctl = true;
	g->no_stack = true;
	gen_items(g, rn(4));
	g->no_ctl = nc;
	g->no_stack = ns;
	if (retimm) {
		b1(g, 0xc2);
		bn(g, 8, 2);
	} else {
		b1(g, 0xc3);
	}
	place(g, after);
}

static void t_jmp_table(struct gen *g)
{
	/* JMP [table + idx*8] (a switch), or JMP r */
	if (g->no_ctl || g->nslot + 2 > NSLOTS || g->ndfix + 2 > NSLOTS)
		return;
	int l0 = new_label(g), l1 = new_label(g), end = new_label(g);
	unsigned slot = g->nslot;
	g->nslot += 2;
	g->dfix[g->ndfix].slot = slot;
	g->dfix[g->ndfix++].label = l0;
	g->dfix[g->ndfix].slot = slot + 1;
	g->dfix[g->ndfix++].label = l1;
	struct ins s;
	struct mem mo;
	uint64_t t = SLOT_BASE + 8 * (slot + rn(2));
	int r = -1;
	if (chance(3)) {
		/* LEA r, [rip + l0/l1]; JMP r */
		r = pick_reg(g, true);
		ins_init(&s, 8);
		s.modrm = true;
		s.nop = 1;
		s.op[0] = 0x8d;
		memset(&mo, 0, sizeof mo);
		mo.base = mo.index = -1;
		mo.rip = true;
		mo.dsz = 4;
		mo.label = chance(2) ? l0 : l1;
		s.m = &mo;
		s.reg = r;
		emit(g, &s);
	} else {
		pick_mem(g, 8, 2, &t, &mo);
	}
	ins_init(&s, 8);
	s.now = true;
	s.modrm = true;
	s.ext = true;
	s.reg = 4;
	s.nop = 1;
	s.op[0] = 0xff;
	if (r >= 0)
		s.e_reg = r;
	else
		s.m = &mo;
	emit(g, &s);
	bool nc = g->no_ctl;
	g->no_ctl = true;
	place(g, l0);
	gen_items(g, rn(2));
	b1(g, 0xe9);
	fixup(g, end, 4, 4);
	place(g, l1);
	gen_items(g, rn(2));
	g->no_ctl = nc;
	place(g, end);
}

struct tmpl { void (*fn)(struct gen *); unsigned weight; const char *name; };
static const struct tmpl templates[] = {
	{ t_alu, 14, "alu" }, { t_test, 3, "test" }, { t_unary, 5, "unary" }, { t_muldiv, 5, "muldiv" },
	{ t_imul, 3, "imul" }, { t_shift, 8, "shift" }, { t_shxd, 3, "shxd" }, { t_bitop, 4, "bitop" },
	{ t_bitscan, 4, "bitscan" }, { t_movx, 4, "movx" }, { t_mov, 6, "mov" }, { t_lea, 5, "lea" },
	{ t_xchg, 5, "xchg" }, { t_cmpxchg16, 1, "cmpxchg8b/16b" }, { t_cmov_set, 5, "cmov/setcc" },
	{ t_misc, 6, "misc" }, { t_push_pop, 5, "push/pop" }, { t_string, 4, "string" },
	{ t_enter_leave, 1, "enter/leave" }, { t_jcc_skip, 5, "jcc/jmp" }, { t_loop, 2, "loop" },
	{ t_call, 2, "call/ret" }, { t_jmp_table, 1, "jmp table" },
};

void gen_items(struct gen *g, unsigned n)
{
	static unsigned total;
	if (!total)
		for (size_t k = 0; k < sizeof templates / sizeof templates[0]; k++)
			total += templates[k].weight;
	for (unsigned i = 0; i < n && !g->bad; i++) {
		if (g->n > sizeof g->code - 400) {
			g->bad = true;
			return;
		}
		unsigned w = rn(total);
		size_t k = 0;
		while (w >= templates[k].weight)
			w -= templates[k++].weight;
		templates[k].fn(g);
	}
}

/* A whole sequence: initial state, code, data. false: regenerate. */
static bool generate(struct gen *g)
{
	memset(g, 0, sizeof *g);
	for (int r = 0; r < 16; r++)
		g->gpr[r] = rval();
	g->gpr[RSP] = RSP0;
	g->rflags = 2 | (rnd() & FL_ARITH);
	g->base = CODE_BASE + (chance(4) ? PAGE - 1 - rn(40) : 0);
	for (unsigned k = 0; k < DATA_SIZE; k += 8) {
		uint64_t v = chance(6) ? 0 : chance(4) ? rval() : rnd();
		memcpy(g->data + k, &v, 8);
	}
	for (unsigned k = 0; k < PAGE; k += 8) {
		uint64_t v = rnd();
		memcpy(g->stack + k, &v, 8);
	}
	gen_items(g, 1 + rn(10));
	if (g->bad)
		return false;
	/* resolve labels (unplaced: the end of the sequence) and code pointers */
	for (unsigned k = 0; k < g->nlabel; k++)
		if (g->label[k] == SIZE_MAX)
			g->label[k] = g->n;
	for (unsigned k = 0; k < g->nfix; k++) {
		int64_t rel = (int64_t)g->label[g->fix[k].label] - (int64_t)g->fix[k].end;
		if (g->fix[k].size == 1 && (rel < -128 || rel > 127))
			return false;
		for (int q = 0; q < g->fix[k].size; q++)
			g->code[g->fix[k].at + (size_t)q] = (uint8_t)((uint64_t)rel >> (8 * q));
	}
	for (unsigned k = 0; k < g->ndfix; k++) {
		uint64_t a = g->base + g->label[g->dfix[k].label];
		memcpy(g->data + (SLOT_BASE - DATA_BASE) + 8 * g->dfix[k].slot, &a, 8);
	}
	return true;
}

/* ---- the SDM's undefined flags ------------------------------------------------------
 * Flags (and register bits) the SDM leaves undefined after instruction i,
 * given the count it executed with. Everything else is compared. */
static uint64_t undefined(const struct vl_insn *i, uint64_t rcx, uint64_t *regmask, int *reg)
{
	unsigned bits = 8u * i->osz;
	unsigned cnt = i->imm2 == 1 ? 1 : i->imm2 == 2 ? (unsigned)rcx : (unsigned)i->imm;
	cnt &= i->osz == 8 ? 63 : 31;
	*regmask = 0;
	*reg = -1;
	switch (i->op) {
	case VL_OP_MUL: case VL_OP_IMUL1: case VL_OP_IMUL2: case VL_OP_IMUL3:
		return FL_SF | FL_ZF | FL_AF | FL_PF;            /* SDM Vol. 2B MUL, IMUL: Flags Affected */
	case VL_OP_DIV: case VL_OP_IDIV:
		return FL_ARITH;                                 /* SDM Vol. 2A DIV, IDIV: all undefined */
	case VL_OP_AND: case VL_OP_OR: case VL_OP_XOR: case VL_OP_TEST:
		return FL_AF;                                    /* SDM AND/OR/XOR/TEST: AF undefined */
	case VL_OP_SHL: case VL_OP_SHR: case VL_OP_SAR:
		if (!cnt)
			return 0;                                    /* SDM SAL/SAR/SHL/SHR: count 0 affects no flag */
		return FL_AF | (cnt != 1 ? FL_OF : 0) |          /* AF undefined; OF only for 1-bit shifts */
		       (i->op != VL_OP_SAR && cnt >= bits ? FL_CF : 0);   /* CF for SHL/SHR count >= size */
	case VL_OP_ROL: case VL_OP_ROR: case VL_OP_RCL: case VL_OP_RCR:
		return cnt > 1 ? FL_OF : 0;                      /* SDM RCL/RCR/ROL/ROR: OF only for 1-bit rotates */
	case VL_OP_SHLD: case VL_OP_SHRD:
		if (!cnt)
			return 0;
		if (cnt > bits) {                                /* SDM SHLD/SHRD: count > size: dest and flags undefined */
			*regmask = 0xffff;
			*reg = i->mod == 3 ? i->rm : -2;
			return FL_ARITH;
		}
		return FL_AF | (cnt != 1 ? FL_OF : 0);
	case VL_OP_BT: case VL_OP_BTS: case VL_OP_BTR: case VL_OP_BTC:
		return FL_OF | FL_SF | FL_AF | FL_PF;            /* SDM BT/BTS/BTR/BTC */
	case VL_OP_BSF: case VL_OP_BSR:
		return FL_CF | FL_OF | FL_SF | FL_AF | FL_PF;    /* SDM BSF/BSR: only ZF defined */
	case VL_OP_TZCNT: case VL_OP_LZCNT:
		return FL_OF | FL_SF | FL_AF | FL_PF;            /* SDM LZCNT/TZCNT: CF and ZF defined */
	case VL_OP_BSWAP:
		if (i->osz == 2) {                               /* SDM BSWAP: 16-bit operand undefined (QEMU swaps 32 bits) */
			*regmask = ~0ull;
			*reg = i->reg;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- Unicorn deviations from the SDM (documented, narrow) ----------------------
 * Each: the SDM's rule, what QEMU 5.0's TCG (Unicorn 2.0.1) does instead, and
 * the exact condition under which the difference is accepted. */
struct state { uint64_t gpr[16], rip, rflags; };
enum { DEV_LOCK_NEG, DEV_CMPXCHG_RAX, DEV_COUNT };
static const char *const deviation_why[DEV_COUNT] = {
	[DEV_LOCK_NEG] = "LOCK NEG m: QEMU's atomic path sets SF ZF PF AF OF from the operand, not the result "
			 "(SDM Vol. 2B NEG: flags 'set according to the result')",
	[DEV_CMPXCHG_RAX] = "CMPXCHG r/m32 that succeeds: QEMU writes EAX back, zero-extending RAX; the SDM writes "
			    "the accumulator only when the comparison fails (SDM Vol. 2A CMPXCHG, Operation)",
};

/* Which documented deviation explains the difference (gdiff: differing
 * registers, fdiff: differing defined flags)? -1: none, a failure. */
static int unicorn_deviation(const struct vl_insn *i, const struct state *os, const struct state *us, unsigned gdiff,
			     uint64_t fdiff)
{
	if (i->op == VL_OP_NEG && i->lock && !gdiff && !(fdiff & ~(uint64_t)(FL_SF | FL_ZF | FL_PF | FL_AF | FL_OF)))
		return DEV_LOCK_NEG;
	if (i->op == VL_OP_CMPXCHG && i->osz == 4 && (os->rflags & FL_ZF) && gdiff == 1u << RAX && !fdiff &&
	    us->gpr[RAX] == (os->gpr[RAX] & 0xffffffffu))
		return DEV_CMPXCHG_RAX;
	return -1;
}

/* ---- the two machines ---------------------------------------------------------- */
struct harness {
	struct vl_profile prof;
	struct vl_machine *m;
	uc_engine *uc;
	uc_hook hintr;
	uc_context *fresh;        /* Unicorn's CPU right after setup (see load) */
	csh cs;
	int our_vec, uc_vec;
	uint64_t vec_count[32];
	uint64_t seqs, steps, faults, insn_count[VL_OP_COUNT], masked_flag_steps, gen_retries, deviations[DEV_COUNT];
	unsigned failures;
	uint64_t tmpl_count[32];
};

static int on_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct harness *h = ctx;
	(void)m;
	(void)has_err;
	(void)err;
	(void)cr2;
	if (h->our_vec < 0)
		h->our_vec = (int)vec;
	return VL_HOOK_DONE;   /* not delivered: RIP stays on the faulting instruction */
}
static const struct vl_vmm_ops hooks = { .exception = on_exception };

static void uc_on_intr(uc_engine *uc, uint32_t intno, void *ctx)
{
	struct harness *h = ctx;
	if (h->uc_vec < 0)
		h->uc_vec = (int)intno;
	uc_emu_stop(uc);
}

static const int uc_gpr[16] = { UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
				UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
				UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
				UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15 };

static void uc_get(struct harness *h, struct state *s)
{
	int ids[18];
	void *ptr[18];
	for (int r = 0; r < 16; r++) {
		ids[r] = uc_gpr[r];
		ptr[r] = &s->gpr[r];
	}
	ids[16] = UC_X86_REG_RIP;
	ptr[16] = &s->rip;
	ids[17] = UC_X86_REG_RFLAGS;
	ptr[17] = &s->rflags;
	assert_int_equal(uc_reg_read_batch(h->uc, ids, ptr, 18), UC_ERR_OK);
}
static void uc_set(struct harness *h, const struct state *s)
{
	int ids[18];
	void *const ptr[18] = { (void *)&s->gpr[0], (void *)&s->gpr[1], (void *)&s->gpr[2], (void *)&s->gpr[3],
				(void *)&s->gpr[4], (void *)&s->gpr[5], (void *)&s->gpr[6], (void *)&s->gpr[7],
				(void *)&s->gpr[8], (void *)&s->gpr[9], (void *)&s->gpr[10], (void *)&s->gpr[11],
				(void *)&s->gpr[12], (void *)&s->gpr[13], (void *)&s->gpr[14], (void *)&s->gpr[15],
				(void *)&s->rip, (void *)&s->rflags };
	for (int r = 0; r < 16; r++)
		ids[r] = uc_gpr[r];
	ids[16] = UC_X86_REG_RIP;
	ids[17] = UC_X86_REG_RFLAGS;
	assert_int_equal(uc_reg_write_batch(h->uc, ids, ptr, 18), UC_ERR_OK);
}
static void our_get(struct harness *h, struct state *s)
{
	memcpy(s->gpr, h->m->cpu.gpr, sizeof s->gpr);
	s->rip = h->m->cpu.rip;
	s->rflags = h->m->cpu.rflags;
}

static void harness_init(struct harness *h)
{
	char err[200];
	memset(h, 0, sizeof *h);
	vl_test_profile(&h->prof);
	struct vl_machine_config cfg = { .prof = &h->prof, .ram_mb = 2, .monitor_mb = 1 };
	h->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(h->m);
	struct vl_machine *m = h->m;
	/* long mode, identity-mapped 4K pages for code (read-only), data and stack (NX) */
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP;
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;
	m->cpu.cr3 = PT_PML4;
	m->cpu.cpl = 0;
	m->cpu.seg[VL_CS] = (struct vl_seg){ .sel = 8, .base = 0, .limit = 0xffffffff, .attr = 0xa09b };
	for (int s = 0; s < 6; s++)
		if (s != VL_CS)
			m->cpu.seg[s] = (struct vl_seg){ .sel = 0x10, .base = 0, .limit = 0xffffffff, .attr = 0xc093 };
	m->cpu.seg[VL_FS].base = FS_BASE_V;
	m->cpu.seg[VL_GS].base = GS_BASE_V;
	vl_phys_write64(m, PT_PML4, PT_PDPT | 3);
	vl_phys_write64(m, PT_PDPT, PT_PD | 3);
	vl_phys_write64(m, PT_PD, PT_PT | 3);
	for (uint64_t a = CODE_BASE; a < CODE_BASE + CODE_SIZE; a += PAGE)
		vl_phys_write64(m, PT_PT + 8 * (a >> 12), a | 1);
	for (uint64_t a = DATA_BASE; a < DATA_BASE + DATA_SIZE; a += PAGE)
		vl_phys_write64(m, PT_PT + 8 * (a >> 12), a | 3 | (1ull << 63));
	vl_phys_write64(m, PT_PT + 8 * (STACK_BASE >> 12), STACK_BASE | 3 | (1ull << 63));
	m->vmm = &hooks;
	m->vmm_ctx = h;
	m->exc_intercept = 0xffffffffu;

	assert_int_equal(uc_open(UC_ARCH_X86, UC_MODE_64, &h->uc), UC_ERR_OK);
	/* a CPU with LZCNT/TZCNT/POPCNT (the machine decodes them unconditionally) */
	assert_int_equal(uc_ctl_set_cpu_model(h->uc, UC_CPU_X86_HASWELL), UC_ERR_OK);
	assert_int_equal(uc_mem_map(h->uc, CODE_BASE, CODE_SIZE, UC_PROT_READ | UC_PROT_EXEC), UC_ERR_OK);
	assert_int_equal(uc_mem_map(h->uc, DATA_BASE, DATA_SIZE, UC_PROT_READ | UC_PROT_WRITE), UC_ERR_OK);
	assert_int_equal(uc_mem_map(h->uc, STACK_BASE, PAGE, UC_PROT_READ | UC_PROT_WRITE), UC_ERR_OK);
	assert_int_equal(uc_hook_add(h->uc, &h->hintr, UC_HOOK_INTR, (void *)uc_on_intr, h, 1, 0), UC_ERR_OK);
	uint64_t fs = FS_BASE_V, gs = GS_BASE_V;
	assert_int_equal(uc_reg_write(h->uc, UC_X86_REG_FS_BASE, &fs), UC_ERR_OK);
	assert_int_equal(uc_reg_write(h->uc, UC_X86_REG_GS_BASE, &gs), UC_ERR_OK);
	assert_int_equal(uc_context_alloc(h->uc, &h->fresh), UC_ERR_OK);
	assert_int_equal(uc_context_save(h->uc, h->fresh), UC_ERR_OK);
	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h->cs), CS_ERR_OK);
}

static void harness_free(struct harness *h)
{
	cs_close(&h->cs);
	uc_context_free(h->fresh);
	uc_close(h->uc);
	vl_machine_free(h->m);
}

/* Load a generated sequence into both machines. */
static void load(struct harness *h, const struct gen *g)
{
	static uint8_t page[CODE_SIZE];
	struct vl_machine *m = h->m;
	memset(page, 0xcc, sizeof page);   /* INT3 around the sequence: both raise #BP if they ever get there */
	memcpy(page + (g->base - CODE_BASE), g->code, g->n);
	vl_phys_write(m, CODE_BASE, page, CODE_SIZE);   /* invalidates the decode cache: tested too */
	vl_phys_write(m, DATA_BASE, g->data, DATA_SIZE);
	vl_phys_write(m, STACK_BASE, g->stack, PAGE);
	assert_int_equal(uc_mem_write(h->uc, CODE_BASE, page, CODE_SIZE), UC_ERR_OK);
	assert_int_equal(uc_mem_write(h->uc, DATA_BASE, g->data, DATA_SIZE), UC_ERR_OK);
	assert_int_equal(uc_mem_write(h->uc, STACK_BASE, g->stack, PAGE), UC_ERR_OK);
	assert_int_equal(uc_ctl_remove_cache(h->uc, CODE_BASE, CODE_BASE + CODE_SIZE), UC_ERR_OK);
	/* QEMU keeps the exception in flight (env->old_exception) when the
	 * interrupt hook stops it: the next #DE would become #DF. Start every
	 * sequence from the CPU as it was set up. */
	assert_int_equal(uc_context_restore(h->uc, h->fresh), UC_ERR_OK);
	memcpy(m->cpu.gpr, g->gpr, sizeof g->gpr);
	m->cpu.rip = g->base;
	m->cpu.rflags = g->rflags;
	m->state = VL_M_RUNNING;
	struct state s;
	memcpy(s.gpr, g->gpr, sizeof s.gpr);
	s.rip = g->base;
	s.rflags = g->rflags;
	uc_set(h, &s);
}

static int uc_err_vec(uc_err e)
{
	switch (e) {
	case UC_ERR_OK: return -1;
	case UC_ERR_READ_UNMAPPED: case UC_ERR_WRITE_UNMAPPED: case UC_ERR_FETCH_UNMAPPED:
	case UC_ERR_READ_PROT: case UC_ERR_WRITE_PROT: case UC_ERR_FETCH_PROT:
		return VL_PF;
	case UC_ERR_INSN_INVALID: return VL_UD;
	default: return 1000 + (int)e;
	}
}

/* Print the sequence disassembled, the failing step marked, the initial state. */
static void report(struct harness *h, const struct gen *g, uint64_t bad_rip, const char *what)
{
	cs_insn *ci = NULL;
	size_t cnt = cs_disasm(h->cs, g->code, g->n, g->base, 0, &ci);
	print_error("---- mismatch in sequence %" PRIu64 " (DIFF_TRACE=%" PRIu64 " traces it): %s\n", h->seqs - 1, h->seqs - 1, what);
	for (size_t k = 0; k < cnt; k++) {
		char hx[48] = "";
		for (size_t b = 0, o = 0; b < ci[k].size && o + 3 < sizeof hx; b++)
			o += (size_t)snprintf(hx + o, sizeof hx - o, "%02x", ci[k].bytes[b]);
		print_error("%s %#" PRIx64 ": %-30s %s %s\n", ci[k].address == bad_rip ? ">>" : "  ", ci[k].address, hx,
			    ci[k].mnemonic, ci[k].op_str);
	}
	if (cnt)
		cs_free(ci, cnt);
	print_error("   initial: rflags=%#" PRIx64 "\n", g->rflags);
	for (int r = 0; r < 16; r += 4)
		print_error("   r%-2d=%016" PRIx64 " r%-2d=%016" PRIx64 " r%-2d=%016" PRIx64 " r%-2d=%016" PRIx64 "\n", r,
			    g->gpr[r], r + 1, g->gpr[r + 1], r + 2, g->gpr[r + 2], r + 3, g->gpr[r + 3]);
}

static const char *const rname[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
				       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

/* Run one sequence on both machines, comparing after every step. */
static int trace_seq = -1;   /* DIFF_TRACE=n: print every step of sequence n (debugging) */

static void run_one(struct harness *h, const struct gen *g)
{
	struct vl_machine *m = h->m;
	uint64_t end = g->base + g->n;
	char why[512];
	load(h, g);
	h->seqs++;
	for (int step = 0; step < MAX_STEPS; step++) {
		uint64_t rip = m->cpu.rip;
		if (rip == end)
			break;
		struct vl_insn in;
		memset(&in, 0, sizeof in);
		if (rip >= g->base && rip < end)
			vl_decode(g->code + (rip - g->base), end - rip < 15 ? end - rip : 15, &in);
		uint64_t rcx = m->cpu.gpr[RCX];

		h->our_vec = h->uc_vec = -1;
		vl_machine_step(m);
		if (m->state != VL_M_RUNNING) {
			snprintf(why, sizeof why, "the machine stopped: %.400s", m->diag);
			report(h, g, rip, why);
			h->failures++;
			return;
		}
		uc_err e = uc_emu_start(h->uc, rip, end, 0, 1);
		struct state us, os;
		uc_get(h, &us);
		/* Unicorn counts each REP iteration as an instruction: finish it */
		for (int it = 0; e == UC_ERR_OK && h->uc_vec < 0 && us.rip == rip && in.rep && it < 100000; it++) {
			e = uc_emu_start(h->uc, rip, end, 0, 1);
			uc_get(h, &us);
		}
		if (h->uc_vec < 0)
			h->uc_vec = uc_err_vec(e);
		our_get(h, &os);
		h->steps++;
		if ((int64_t)h->seqs - 1 == trace_seq) {
			printf("step %d at %#" PRIx64 " %s: vec %d/%d\n", step, rip, vl_op_name(in.op), h->our_vec, h->uc_vec);
			for (int r = 0; r < 16; r++)
				if (os.gpr[r] != us.gpr[r] || r == RAX)
					printf("   %s %016" PRIx64 " / %016" PRIx64 "\n", rname[r], os.gpr[r], us.gpr[r]);
			printf("   rip %#" PRIx64 "/%#" PRIx64 " rflags %#" PRIx64 "/%#" PRIx64 "\n", os.rip, us.rip, os.rflags, us.rflags);
		}
		if (in.op < VL_OP_COUNT)
			h->insn_count[in.op]++;

		if (h->our_vec != h->uc_vec) {
			snprintf(why, sizeof why, "at %#" PRIx64 ": exception %d on the machine (rip %#" PRIx64 "), %d on Unicorn "
				 "(rip %#" PRIx64 ", %s)", rip, h->our_vec, os.rip, h->uc_vec, us.rip, uc_strerror(e));
			report(h, g, rip, why);
			h->failures++;
			return;
		}
		/* what the SDM leaves open after this instruction */
		uint64_t regmask = 0, undef = 0;
		int mreg = -1;
		if (h->our_vec < 0) {
			undef = undefined(&in, rcx, &regmask, &mreg);
			/* SDM BSF/BSR: source 0 (ZF = 1) leaves the destination undefined; the
			 * model does what Intel parts do (the test profile is Intel), and
			 * QEMU too: written back, a 32-bit destination zero-extended. So
			 * the destination is compared exactly. */
			if (mreg == -2)    /* SHLD/SHRD count > size into memory: the generator never emits it */
				mreg = -1;
		}
		unsigned gdiff = 0;
		for (int r = 0; r < 16; r++)
			if ((os.gpr[r] ^ us.gpr[r]) & (r == mreg ? ~regmask : ~0ull))
				gdiff |= 1u << r;
		uint64_t fdiff = (os.rflags ^ us.rflags) & FL_CMP & ~undef;
		bool resync = false;
		if (os.rip != us.rip || gdiff || fdiff) {
			int dev = os.rip != us.rip ? -1 : unicorn_deviation(&in, &os, &us, gdiff, fdiff);
			if (dev < 0) {
				size_t o = 0;
				why[0] = 0;
				if (os.rip != us.rip)
					o += (size_t)snprintf(why + o, sizeof why - o, " rip %#" PRIx64 "/%#" PRIx64, os.rip, us.rip);
				for (int r = 0; r < 16 && o < sizeof why; r++)
					if (gdiff & (1u << r))
						o += (size_t)snprintf(why + o, sizeof why - o, " %s %#" PRIx64 "/%#" PRIx64, rname[r],
								      os.gpr[r], us.gpr[r]);
				if (fdiff && o < sizeof why)
					snprintf(why + o, sizeof why - o, " rflags %#" PRIx64 "/%#" PRIx64 " (differ %#" PRIx64
						 ", undefined %#" PRIx64 ")", os.rflags, us.rflags, fdiff, undef);
				char msg[700];
				snprintf(msg, sizeof msg, "after %s at %#" PRIx64 " (machine/Unicorn):%s", vl_op_name(in.op), rip, why);
				report(h, g, rip, msg);
				h->failures++;
				return;
			}
			h->deviations[dev]++;
			resync = true;
		}
		if (h->our_vec >= 0) {
			h->faults++;
			h->vec_count[h->our_vec & 31]++;
			break;
		}
		/* agree on what the SDM leaves open (and on excluded deviations) before the next instruction */
		if (undef || regmask)
			h->masked_flag_steps++;
		if (resync || ((os.rflags ^ us.rflags) & undef) || (mreg >= 0 && ((os.gpr[mreg] ^ us.gpr[mreg]) & regmask))) {
			us.rflags = (us.rflags & ~(undef | fdiff)) | (os.rflags & (undef | fdiff));
			for (int r = 0; r < 16; r++)
				if (r == mreg || (gdiff & (1u << r)))
					us.gpr[r] = os.gpr[r];
			uc_set(h, &us);
		}
	}
	/* memory */
	static uint8_t ud[PAGE];
	const uint64_t pages[3] = { DATA_BASE, DATA_BASE + PAGE, STACK_BASE };
	for (int p = 0; p < 3; p++) {
		assert_int_equal(uc_mem_read(h->uc, pages[p], ud, PAGE), UC_ERR_OK);
		if (memcmp(ud, m->mem + pages[p], PAGE)) {
			size_t o = 0;
			why[0] = 0;
			for (unsigned k = 0; k < PAGE && o < 400; k++)
				if (ud[k] != m->mem[pages[p] + k])
					o += (size_t)snprintf(why + o, sizeof why - o, " [%#" PRIx64 "] %02x/%02x", pages[p] + k,
							      m->mem[pages[p] + k], ud[k]);
			char msg[700];
			snprintf(msg, sizeof msg, "memory (machine/Unicorn):%s", why);
			report(h, g, ~0ull, msg);
			h->failures++;
			return;
		}
	}
}

static void test_sequences(void **state)
{
	static struct harness h;
	static struct gen g;
	clock_t t0 = clock();
	harness_init(&h);
	rng = SEED;
	if (getenv("DIFF_TRACE"))
		trace_seq = atoi(getenv("DIFF_TRACE"));
	while (h.seqs < SEQUENCES && h.failures < MAX_REPORT) {
		if (!generate(&g)) {
			h.gen_retries++;
			continue;
		}
		run_one(&h, &g);
	}
	printf("semantics vs Unicorn: seed %#" PRIx64 ", %" PRIu64 " sequences, %" PRIu64 " instructions stepped, %" PRIu64
	       " ended in an exception on both, %" PRIu64 " steps with SDM-undefined bits masked, %" PRIu64
	       " regenerated, %.1f s\n",
	       (uint64_t)SEED, h.seqs, h.steps, h.faults, h.masked_flag_steps, h.gen_retries,
	       (double)(clock() - t0) / CLOCKS_PER_SEC);
	printf("  exceptions: #DE %" PRIu64 ", #UD %" PRIu64 ", #GP %" PRIu64 ", #PF %" PRIu64 " (accesses beyond the data, "
	       "REP running off it), #BP %" PRIu64 "\n",
	       h.vec_count[VL_DE], h.vec_count[VL_UD], h.vec_count[VL_GP], h.vec_count[VL_PF], h.vec_count[VL_BP]);
	for (int d = 0; d < DEV_COUNT; d++)
		printf("  Unicorn deviation accepted %" PRIu64 " times: %s\n", h.deviations[d], deviation_why[d]);
	printf("  instructions by op:");
	unsigned col = 0;
	for (unsigned op = 0; op < VL_OP_COUNT; op++) {
		if (!h.insn_count[op])
			continue;
		printf("%s %s %" PRIu64, col++ % 8 ? "," : "\n   ", vl_op_name(op), h.insn_count[op]);
	}
	printf("\n");
	harness_free(&h);
	assert_int_equal(h.failures, 0);
	assert_true(h.seqs >= SEQUENCES);
}

/* Hand-picked corners the random generator reaches rarely, through the same
 * comparison with Unicorn: signed-division overflow at every width (the
 * host's own IDIV traps on INT64_MIN / -1), unsigned overflow, shift and
 * rotate counts at the size boundaries, NEG/INC/DEC at the sign boundary,
 * IMUL overflow, operand sizes at the end of mapped memory, CMPXCHG16B
 * alignment. */
static void test_edges(void **state)
{
	static const struct edge {
		const char *name;
		uint8_t code[16];
		size_t len;
		uint64_t rax, rcx, rdx;
		bool sdm_only;   /* Unicorn cannot run it: the SDM's outcome is #DE with nothing changed */
	} edges[] = {
		{ "idiv cl, -128*256/-1", { 0xf6, 0xf9 }, 2, 0x8000, 0xff, 0, false },
		{ "idiv cx, -2^31/-1", { 0x66, 0xf7, 0xf9 }, 3, 0x0000, 0xffff, 0x8000, false },
		{ "idiv ecx, -2^63/-1 (QEMU's helper traps on the host)", { 0xf7, 0xf9 }, 2, 0, 0xffffffff, 0x80000000, true },
		{ "idiv ecx, -2^31/-1", { 0xf7, 0xf9 }, 2, 0x80000000, 0xffffffff, 0xffffffff, false },
		{ "idiv ecx, -2^31/1", { 0xf7, 0xf9 }, 2, 0x80000000, 1, 0xffffffff, false },
		{ "idiv ecx, (2^31-1)/-1", { 0xf7, 0xf9 }, 2, 0x7fffffff, 0xffffffff, 0, false },
		{ "idiv rcx, -2^127/-1", { 0x48, 0xf7, 0xf9 }, 3, 0, ~0ull, 1ull << 63, false },
		{ "idiv rcx, -2^63/-1", { 0x48, 0xf7, 0xf9 }, 3, 1ull << 63, ~0ull, ~0ull, false },
		{ "idiv rcx, -2^63/1", { 0x48, 0xf7, 0xf9 }, 3, 1ull << 63, 1, ~0ull, false },
		{ "div ecx, edx = ecx", { 0xf7, 0xf1 }, 2, 0, 7, 7, false },
		{ "div rcx, max/1", { 0x48, 0xf7, 0xf1 }, 3, ~0ull, 1, 0, false },
		{ "div rcx, overflow", { 0x48, 0xf7, 0xf1 }, 3, ~0ull, 1, 1, false },
		{ "div cl by 0", { 0xf6, 0xf1 }, 2, 5, 0x100, 0, false },
		{ "imul rcx, INT64_MIN*-1", { 0x48, 0x0f, 0xaf, 0xc1 }, 4, 1ull << 63, ~0ull, 0, false },
		{ "imul ecx, INT32_MIN*-1", { 0x0f, 0xaf, 0xc1 }, 3, 0x80000000, 0xffffffff, 0, false },
		{ "mul rcx, max*max", { 0x48, 0xf7, 0xe1 }, 3, ~0ull, ~0ull, 0, false },
		{ "neg INT64_MIN", { 0x48, 0xf7, 0xd8 }, 3, 1ull << 63, 0, 0, false },
		{ "inc INT32_MAX", { 0xff, 0xc0 }, 2, 0x7fffffff, 0, 0, false },
		{ "dec 0 (16-bit)", { 0x66, 0xff, 0xc8 }, 3, 0, 0, 0, false },
		{ "shl rax, 63", { 0x48, 0xc1, 0xe0, 0x3f }, 4, 3, 0, 0, false },
		{ "shl eax, cl=32 (masked 0)", { 0xd3, 0xe0 }, 2, ~0ull, 32, 0, false },
		{ "shr al, cl=9", { 0xd2, 0xe8 }, 2, 0xff, 9, 0, false },
		{ "sar ax, cl=31", { 0x66, 0xd3, 0xf8 }, 3, 0x8000, 31, 0, false },
		{ "rcl al, cl=9 (mod 9 = 0)", { 0xd2, 0xd0 }, 2, 0x81, 9, 0, false },
		{ "rcr ax, cl=17 (mod 17 = 0)", { 0x66, 0xd3, 0xd8 }, 3, 0x8001, 17, 0, false },
		{ "rcl eax, cl=31", { 0xd3, 0xd0 }, 2, 0x80000001, 31, 0, false },
		{ "rol al, cl=8", { 0xd2, 0xc0 }, 2, 0x81, 8, 0, false },
		{ "ror rax, 1", { 0x48, 0xd1, 0xc8 }, 3, 1, 0, 0, false },
		{ "shld eax, ecx, 31", { 0x0f, 0xa4, 0xc8, 0x1f }, 4, 0x80000001, 0x12345678, 0, false },
		{ "shrd rax, rcx, cl=63", { 0x48, 0x0f, 0xad, 0xc8 }, 4, 0x8000000000000001ull, 63, 0, false },
		{ "bsr ecx = 0x80000000", { 0x0f, 0xbd, 0xc1 }, 3, 0, 0x80000000, 0, false },
		{ "tzcnt rax = 0", { 0xf3, 0x48, 0x0f, 0xbc, 0xc1 }, 5, 5, 0, 0, false },
		{ "lzcnt ax = 1", { 0x66, 0xf3, 0x0f, 0xbd, 0xc1 }, 5, 0, 1, 0, false },
		{ "cqo of INT64_MIN", { 0x48, 0x99 }, 2, 1ull << 63, 0, 5, false },
		{ "movsxd ax, [last word of the data] (a dword read, as QEMU)", { 0x66, 0x63, 0x04, 0x25, 0xfe, 0x1f, 0x02, 0x00 }, 8, 0, 0, 0, false },
		{ "movsxd eax, [last dword of the data]", { 0x63, 0x04, 0x25, 0xfc, 0x1f, 0x02, 0x00 }, 7, 0, 0, 0, false },
		{ "cmpxchg16b misaligned", { 0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x08, 0x00, 0x02, 0x00 }, 9, 0, 0, 0, false },
		{ "cmpxchg16b aligned", { 0x48, 0x0f, 0xc7, 0x0c, 0x25, 0x10, 0x00, 0x02, 0x00 }, 9, 0, 0, 0, false },
	};
	static struct harness h;
	static struct gen g;
	harness_init(&h);
	for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) {
		memset(&g, 0, sizeof g);
		g.base = CODE_BASE;
		g.gpr[RSP] = RSP0;
		g.gpr[RAX] = edges[k].rax;
		g.gpr[RCX] = edges[k].rcx;
		g.gpr[RDX] = edges[k].rdx;
		g.rflags = 2;
		memcpy(g.code, edges[k].code, edges[k].len);
		g.n = edges[k].len;
		unsigned before = h.failures;
		if (edges[k].sdm_only) {
			/* SDM Vol. 2A IDIV: a quotient too large for the destination is #DE */
			load(&h, &g);
			h.our_vec = -1;
			vl_machine_step(h.m);
			if (h.our_vec != VL_DE || h.m->cpu.rip != g.base || h.m->cpu.gpr[RAX] != g.gpr[RAX] ||
			    h.m->cpu.gpr[RDX] != g.gpr[RDX]) {
				print_error("edge case %s: vector %d, rip %#" PRIx64 " (want #DE, nothing changed)\n", edges[k].name,
					    h.our_vec, h.m->cpu.rip);
				h.failures++;
			}
			continue;
		}
		run_one(&h, &g);
		if (h.failures != before)
			print_error("edge case: %s\n", edges[k].name);
	}
	printf("edge cases vs Unicorn: %zu, %" PRIu64 " ended in an exception on both\n", sizeof edges / sizeof edges[0],
	       h.faults);
	harness_free(&h);
	assert_int_equal(h.failures, 0);
}

/* POPCNT has no Unicorn oracle: Unicorn 2.0.1 reports CPUID.01H:ECX.POPCNT = 0
 * on every CPU model and raises #UD for it. Its definition is short enough to
 * be the oracle (SDM Vol. 2B POPCNT: the number of set bits of the source;
 * OF SF ZF AF CF PF cleared, then ZF set iff the source is 0; the 32-bit form
 * zero-extends). Register and memory sources, 16/32/64 bits, every register
 * pair, random and edge values, random initial flags. */
static void test_popcnt(void **state)
{
	static struct harness h;
	static struct gen g;
	unsigned cases = 0;
	harness_init(&h);
	rng = SEED ^ 0x9090;
	for (unsigned k = 0; k < 30000; k++) {
		memset(&g, 0, sizeof g);
		g.base = CODE_BASE + (chance(4) ? PAGE - 1 - rn(16) : 0);
		for (int r = 0; r < 16; r++)
			g.gpr[r] = rval();
		g.gpr[RSP] = RSP0;
		g.rflags = 2 | (rnd() & FL_ARITH);
		int osz = (int[]){ 2, 4, 8 }[rn(3)];
		int dst = pick_reg(&g, true), src = (int)rn(16);
		uint64_t v = rval(), t = DATA_BASE + rn(DATA_RW - 8);
		bool mem = chance(2);
		struct ins s;
		struct mem mo;
		if (mem) {
			memcpy(g.data + (t - DATA_BASE), &v, 8);
			pick_mem(&g, (unsigned)osz, 2, &t, &mo);
		} else if (src != RSP) {
			mov_imm64(&g, src, v);
		} else {
			v = RSP0;
		}
		ins_init(&s, osz);
		s.pfx[s.npfx++] = 0xf3;
		s.modrm = true;
		s.nop = 2;
		s.op[0] = 0x0f;
		s.op[1] = 0xb8;
		s.reg = dst;
		if (mem)
			s.m = &mo;
		else
			s.e_reg = src;
		emit(&g, &s);
		assert_false(g.bad);
		load(&h, &g);
		uint64_t old = 0;
		h.our_vec = -1;
		while (h.m->cpu.rip != g.base + g.n && h.our_vec < 0) {
			old = h.m->cpu.gpr[dst];   /* the setup may write dst: its value just before POPCNT */
			vl_machine_step(h.m);
		}
		assert_int_equal(h.our_vec, -1);
		assert_int_equal(h.m->cpu.rip, g.base + g.n);
		uint64_t sv = v & (osz == 8 ? ~0ull : (1ull << (8 * osz)) - 1);
		uint64_t want = (uint64_t)__builtin_popcountll(sv);
		uint64_t got = h.m->cpu.gpr[dst];
		uint64_t exp = osz == 2 ? (old & ~0xffffull) | want : want;
		if (got != exp || (h.m->cpu.rflags & FL_ARITH) != (sv ? 0 : FL_ZF)) {
			print_error("popcnt case %u: %d-bit source %#" PRIx64 " (%s): %s = %#" PRIx64 " (want %#" PRIx64
				    "), flags %#" PRIx64 "\n", k, 8 * osz, sv, mem ? "memory" : rname[src], rname[dst], got, exp,
				    h.m->cpu.rflags);
			fail();
		}
		cases++;
	}
	printf("popcnt vs the SDM's definition: %u cases\n", cases);
	harness_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_popcnt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
