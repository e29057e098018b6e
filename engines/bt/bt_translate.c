/* bt_translate.c — the binary translator (bt_translate.h): Capstone decodes
 * each guest instruction with detail; an instruction is copied (IDENT, with
 * RIP-relative operands rewritten to an absolute form), rewritten into an
 * in-TC sequence on the virtual CPU state, or replaced by a callout.
 *
 * Every emitted sequence keeps the guest's arithmetic flags (only flag-free
 * instructions — MOV, LEA, MOVZX, NOT, JRCXZ, PUSH/POP — run between guest
 * instructions, or the flags are saved by PUSHFQ/POPFQ around them) and
 * records in the block's map how to recover the guest state at each of its
 * instructions, so a fault or an interrupt inside translated code is
 * precise.
 */
#include <string.h>

#include "bt_translate.h"
#include "virtlab/machine.h"

const char *const bt_callout_name[BT_CO_COUNT] = {
#define X(id, name) [BT_CO_##id] = name,
	BT_CALLOUTS(X)
#undef X
};

int bt_cs_open32(csh *cs)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_32, cs) != CS_ERR_OK)
		return -1;
	cs_option(*cs, CS_OPT_DETAIL, CS_OPT_ON);
	return 0;
}

int bt_cs_open(csh *cs)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, cs) != CS_ERR_OK)
		return -1;
	cs_option(*cs, CS_OPT_DETAIL, CS_OPT_ON);
	return 0;
}

/* ---- instruction layout ------------------------------------------------- */
/* Where the parts of a (ModRM-carrying) 64-bit instruction are. */
struct lay {
	int npfx;         /* legacy prefix bytes */
	bool asz32;       /* 67h */
	uint8_t seg;      /* 0x64 (FS), 0x65 (GS) or 0 */
	int rex;          /* index of the REX byte, -1 */
	int op, oplen;    /* opcode bytes */
	int modrm;        /* index of ModRM */
	int sib;          /* index of SIB, -1 */
	int disp, dispsz; /* displacement, 0/1/4 bytes */
	bool riprel;
};

static void layout(const uint8_t *b, int len, struct lay *l, bool m32)
{
	memset(l, 0, sizeof *l);
	int i = 0;
	for (; i < len; i++) {
		uint8_t c = b[i];
		if (c == 0x66 || c == 0xf0 || c == 0xf2 || c == 0xf3 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x26)
			continue;
		if (c == 0x67) { l->asz32 = true; continue; }
		if (c == 0x64 || c == 0x65) { l->seg = c; continue; }
		break;
	}
	l->npfx = i;
	l->rex = -1;
	if (!m32 && i < len && (b[i] & 0xf0) == 0x40)   /* 40-4F: INC/DEC in 32-bit code */
		l->rex = i++;
	l->op = i;
	if (i < len && b[i] == 0x0f)
		l->oplen = (i + 1 < len && (b[i + 1] == 0x38 || b[i + 1] == 0x3a)) ? 3 : 2;
	else
		l->oplen = 1;
	l->modrm = l->op + l->oplen;
	l->sib = -1;
	if (l->modrm >= len)
		return;
	uint8_t m = b[l->modrm], mod = m >> 6, rm = m & 7;
	int p = l->modrm + 1;
	if (mod != 3 && rm == 4)
		l->sib = p++;
	l->disp = p;
	if (mod == 1)
		l->dispsz = 1;
	else if (mod == 2 || (mod == 0 && rm == 5))
		l->dispsz = 4;
	else if (mod == 0 && l->sib >= 0 && (b[l->sib] & 7) == 5)
		l->dispsz = 4;
	l->riprel = mod == 0 && rm == 5;
}

static int32_t rd32(const uint8_t *p) { return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24); }

static bool fits_s32(uint64_t v) { return (int64_t)v == (int64_t)(int32_t)v; }

static bool in_hole(uint64_t va) { return va >= BT_HOLE_BASE && va < BT_HOLE_END; }

/* ---- translation context -------------------------------------------------- */
struct xl {
	const struct bt_xlate_env *env;
	struct bt_emit *e;
	struct bt_block *blk;
	size_t start;        /* e->len at the block's start */
	uint16_t goff;       /* guest offset of the instruction being translated */
	bool ended;
	bool sti_shadow;     /* the previous instruction was STI */
};

static uint64_t slot(unsigned r) { return BT_VSTATE_VA + BT_VS_SLOT + 8u * r; }
static uint64_t vs(unsigned off) { return BT_VSTATE_VA + off; }

/* Record the guest state from here on. */
static void mark(struct xl *x, uint16_t goff, uint8_t saved, int8_t delta, uint8_t flags)
{
	struct bt_block *b = x->blk;
	uint16_t off = (uint16_t)(x->e->len - x->start);
	if (b->nmap) {
		struct bt_mapent *l = &b->map[b->nmap - 1];
		if (l->goff == goff && l->saved == saved && l->rsp_delta == delta && l->flags == flags)
			return;
		if (l->tc_off == off) {
			*l = (struct bt_mapent){ off, goff, saved, delta, flags };
			return;
		}
	}
	if (b->nmap < b->map_cap)
		b->map[b->nmap++] = (struct bt_mapent){ off, goff, saved, delta, flags };
	else
		x->e->full = true;   /* cannot describe it: treat as no room (never with BT_MAX_MAP sized per insn) */
}

static void save(struct xl *x, unsigned r) { bt_emit_store_rip(x->e, r, slot(r)); }
static void restore(struct xl *x, unsigned r) { bt_emit_load_rip(x->e, r, slot(r)); }

static void callout(struct xl *x, enum bt_callout k, uint32_t arg)
{
	bt_emit_callout(x->e, BT_CO_ID(k, arg));
	x->blk->ncallouts++;
}

/* Re-encode the memory operand of an instruction (layout l, bytes b, length
 * len, at guest pc) with a new opcode and reg field, 64-bit operand size:
 *   REX.W [R X B] opcode ModRM [SIB] [disp]
 * A RIP-relative operand becomes the absolute form [disp32] (SIB, no base,
 * no index) — the target must fit in a sign-extended 32-bit value.
 * Returns false if it cannot be expressed that way. */
static bool enc_mem(struct bt_emit *e, const uint8_t *b, int len, uint64_t pc, const struct lay *l,
		    const uint8_t *op, int oplen, unsigned reg)
{
	uint8_t rexo = l->rex >= 0 ? b[l->rex] : 0;
	uint8_t mod = b[l->modrm] >> 6;
	if (l->asz32)
		bt_emit_u8(e, 0x67);
	if (l->riprel) {
		uint64_t target = pc + (uint64_t)len + (uint64_t)(int64_t)rd32(b + l->disp);
		if (!fits_s32(target))
			return false;
		bt_emit_u8(e, (uint8_t)(0x48 | ((reg & 8) ? 4 : 0)));
		bt_emit_bytes(e, op, (size_t)oplen);
		bt_emit_u8(e, (uint8_t)(((reg & 7) << 3) | 4));
		bt_emit_u8(e, 0x25);
		bt_emit_u32(e, (uint32_t)target);
		return true;
	}
	bt_emit_u8(e, (uint8_t)(0x48 | ((reg & 8) ? 4 : 0) | (rexo & 3)));
	bt_emit_bytes(e, op, (size_t)oplen);
	bt_emit_u8(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | (b[l->modrm] & 7)));
	if (l->sib >= 0)
		bt_emit_u8(e, b[l->sib]);
	bt_emit_bytes(e, b + l->disp, (size_t)l->dispsz);
	return true;
}

/* Is the ModRM operand the absolute [disp32] form (SIB, no base, no
 * index)? It lies in the top or bottom 2 GiB, never in the hole. */
static bool abs32_operand(const uint8_t *b, const struct lay *l)
{
	return l->sib >= 0 && (b[l->sib] & 7) == 5 && (b[l->modrm] >> 6) == 0 &&
	       ((b[l->sib] >> 3) & 7) == 4 && !(l->rex >= 0 && (b[l->rex] & 2));
}

/* Store the confinement check's verdict path: RAX holds a linear address
 * (RAX, RCX saved). Leaves RCX = 0 when it is outside the monitor hole. */
static void confine_tail(struct xl *x)
{
	struct bt_emit *e = x->e;
	bt_emit_store_rip(e, BT_RAX, vs(BT_VS_S_ADDR));
	bt_emit_movzx_ecx_byte_rip(e, vs(BT_VS_S_ADDR) + 5);       /* bits 47..40 */
	bt_emit_lea_rip(e, BT_RAX, BT_CONFINE_VA);
	static const uint8_t movzx_tbl[] = { 0x0f, 0xb6, 0x0c, 0x08 }; /* movzx ecx, byte [rax+rcx] */
	bt_emit_bytes(e, movzx_tbl, sizeof movzx_tbl);
	static const uint8_t jrcxz_over[] = { 0xe3, VL_CALLOUT_LEN };
	bt_emit_bytes(e, jrcxz_over, sizeof jrcxz_over);
	callout(x, BT_CO_CONFINE, 0);
}

/* The check before an instruction with an explicit (ModRM) memory operand:
 * compute its linear address with LEA (+ the FS/GS base mirror), look bits
 * 47..40 up in the 256-byte table, call out CONFINE if it is in the hole.
 * A canonical address is in the hole exactly when those bits are 0x80..0x87
 * (a lower-half address has bit 47 clear). */
/* The address check's frame, shared by the 64-bit (confine_modrm) and
 * 32-bit (confine_mem32) forms: RAX and RCX saved; the caller puts the
 * effective address in RAX; confine_leave adds the FS/GS base mirror (seg:
 * the override prefix, 0 for none), looks the address up and restores. */
static void confine_enter(struct xl *x)
{
	mark(x, x->goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, x->goff, 1u << BT_RAX, 0, 0);
	save(x, BT_RCX);
	mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
}

static void confine_leave(struct xl *x, uint8_t seg)
{
	if (seg) {
		bt_emit_load_rip(x->e, BT_RCX, vs(seg == 0x64 ? BT_VS_FSBASE : BT_VS_GSBASE));
		static const uint8_t add[] = { 0x48, 0x8d, 0x04, 0x08 };   /* lea rax, [rax+rcx] */
		bt_emit_bytes(x->e, add, sizeof add);
	}
	confine_tail(x);
	restore(x, BT_RCX);
	mark(x, x->goff, 1u << BT_RAX, 0, 0);
	restore(x, BT_RAX);
	mark(x, x->goff, 0, 0, 0);
}

static void confine_modrm(struct xl *x, const uint8_t *b, int len, uint64_t pc, const struct lay *l)
{
	static const uint8_t lea[] = { 0x8d };
	confine_enter(x);
	enc_mem(x->e, b, len, pc, l, lea, 1, BT_RAX);
	confine_leave(x, l->seg);
}

/* The same for a register holding an address: a string instruction's RSI
 * or RDI (before it, goff = the instruction), or RSP just loaded with an
 * arbitrary value (after the loading instruction, goff = the next one). */
static void confine_reg_at(struct xl *x, unsigned reg, uint16_t goff)
{
	struct bt_emit *e = x->e;
	mark(x, goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, goff, 1u << BT_RAX, 0, 0);
	save(x, BT_RCX);
	mark(x, goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
	uint8_t mov[3] = { 0x48, 0x89, (uint8_t)(0xc0 | ((reg & 7) << 3)) };   /* mov rax, reg */
	bt_emit_bytes(e, mov, 3);
	confine_tail(x);
	restore(x, BT_RCX);
	mark(x, goff, 1u << BT_RAX, 0, 0);
	restore(x, BT_RAX);
	mark(x, goff, 0, 0, 0);
}
static void confine_reg(struct xl *x, unsigned reg) { confine_reg_at(x, reg, x->goff); }

/* The same with an FS/GS override (seg): [reg] + the base mirror ([reg32]
 * zero-extended with 67h, asz32). */
static void confine_reg_seg(struct xl *x, unsigned reg, uint8_t seg, bool asz32)
{
	confine_enter(x);
	uint8_t mov[3] = { 0x48, 0x89, (uint8_t)(0xc0 | ((reg & 7) << 3)) };   /* mov rax, reg / mov eax, reg32 */
	if (asz32)
		bt_emit_bytes(x->e, mov + 1, 2);
	else
		bt_emit_bytes(x->e, mov, 3);
	confine_leave(x, seg);
}

/* An absolute address (MOV moffs) + the base mirror of the override. */
static void confine_abs_seg(struct xl *x, uint64_t a, uint8_t seg)
{
	confine_enter(x);
	bt_emit_mov_imm64(x->e, BT_RAX, a);
	confine_leave(x, seg);
}

/* XLAT: [RBX + AL] ([EBX + AL] with 67h) + the base mirror of an override. */
static void confine_xlat(struct xl *x, bool asz32, uint8_t seg)
{
	confine_enter(x);
	static const uint8_t movzx[] = { 0x0f, 0xb6, 0xc0 };          /* movzx eax, al */
	bt_emit_bytes(x->e, movzx, sizeof movzx);
	static const uint8_t lea64[] = { 0x48, 0x8d, 0x04, 0x03 };    /* lea rax, [rbx+rax] */
	static const uint8_t lea32[] = { 0x8d, 0x04, 0x03 };          /* lea eax, [ebx+eax] */
	if (asz32)
		bt_emit_bytes(x->e, lea32, sizeof lea32);
	else
		bt_emit_bytes(x->e, lea64, sizeof lea64);
	confine_leave(x, seg);
}

/* Does the instruction load FS or GS from a descriptor (MOV Sreg, r/m;
 * POP FS/GS; LFS/LGS)? It is copied as written (the load succeeds on the
 * shadow GDT at ring 1) and may change the segment's base: the base
 * mirror the FS/GS-override check reads is then stale until the next VMM
 * entry, so a SEG callout (BT_SEG_REFRESH) follows it — an override
 * access right after sees the new base. */
static bool loads_fs_gs(const uint8_t *b, const struct lay *l, int len)
{
	uint8_t o0 = l->op < len ? b[l->op] : 0, o1 = l->oplen > 1 ? b[l->op + 1] : 0;
	if (l->oplen == 1 && o0 == 0x8e && l->modrm < len) {
		unsigned r = (b[l->modrm] >> 3) & 7;
		return r == 4 || r == 5;
	}
	return l->oplen == 2 && o0 == 0x0f && (o1 == 0xa1 || o1 == 0xa9 || o1 == 0xb4 || o1 == 0xb5);
}
static void refresh_bases(struct xl *x, uint16_t gnext)
{
	mark(x, gnext, 0, 0, 0);
	callout(x, BT_CO_SEG, BT_SEG_REFRESH);
	mark(x, gnext, 0, 0, 0);
}

/* OUTSB/W/D: log2 of the element size, or -1 for another instruction. */
static int outs_shift(unsigned id)
{
	return id == X86_INS_OUTSB ? 0 : id == X86_INS_OUTSW ? 1 : id == X86_INS_OUTSD ? 2 : -1;
}
static bool has_rep(const uint8_t *b, const struct lay *l)
{
	for (int i = 0; i < l->npfx; i++)
		if (b[i] == 0xf3 || b[i] == 0xf2)
			return true;
	return false;
}

static void confine_rep_down(struct xl *x, unsigned reg, unsigned sh, uint8_t seg);

/* The source of a 64-bit-code string instruction with an FS/GS override
 * (MOVS/CMPS/LODS, and OUTS before its IO callout: the vCPU runtime's
 * emulation applies the base, its own hole check looks at RSI alone):
 * [RSI] + base (ESI with 67h); a REP walking down adds the base in its end
 * check; with 67h ESI wraps at 4 GiB, so the elements lie in [base, base
 * + 4 GiB + 7], which meets the hole only if the base is in it (a
 * canonical base below the hole is in the lower half): the base itself is
 * checked. */
static void confine_src_seg(struct xl *x, const struct lay *l, bool rep, unsigned sh)
{
	confine_reg_seg(x, BT_RSI, l->seg, l->asz32);
	if (rep && l->asz32)
		confine_abs_seg(x, 0, l->seg);
	else if (rep)
		confine_rep_down(x, BT_RSI, sh, l->seg);
}

/* A REP string instruction with DF = 1 walks down from its start register
 * (checked by confine_reg): from above the hole it enters the hole iff
 * element RCX-1 does, i.e. RCX - 1 > (start - BT_HOLE_END) >> sh (sh =
 * log2 of the element size), for a start >= BT_HOLE_END. Calls out CONFINE
 * then (before any element moves). DF = 0 needs no end check: walking up
 * from below the hole crosses non-canonical addresses first (#GP). A start
 * below the hole that wraps past 0 is left to the fences (README). Reads
 * DF with PUSHFQ, so the guest's flags are saved around it. */
static void confine_rep_down(struct xl *x, unsigned reg, unsigned sh, uint8_t seg)
{
	struct bt_emit *e = x->e;
	const uint8_t sv = (1u << BT_RAX) | (1u << BT_RCX) | (1u << BT_RDX);
	mark(x, x->goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, x->goff, 1u << BT_RAX, 0, 0);
	save(x, BT_RCX);
	mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
	save(x, BT_RDX);
	mark(x, x->goff, sv, 0, 0);
	bt_emit_u8(e, 0x9c);                                        /* pushfq */
	mark(x, x->goff, sv, -8, 0);
	uint8_t c[96];
	size_t n = 0, jz_df, jb_low, jz_cnt, jbe_in;
	static const uint8_t head[] = {
		0x48, 0x89, 0xca,                                   /* mov rdx, rcx     count */
		0x31, 0xc9,                                         /* xor ecx, ecx     verdict: outside */
		0xf6, 0x44, 0x24, 0x01, 0x04,                       /* test byte [rsp+1], 4   DF */
		0x74, 0x00,                                         /* jz .v */
	};
	memcpy(c + n, head, sizeof head); n += sizeof head; jz_df = n - 1;
	c[n++] = 0x48; c[n++] = 0x89; c[n++] = (uint8_t)(0xc0 | ((reg & 7) << 3));   /* mov rax, reg */
	if (seg) {   /* add rax, [rip -> the base mirror]: the walk starts at [reg] + base (flags saved) */
		c[n++] = 0x48; c[n++] = 0x03; c[n++] = 0x05;
		uint64_t end = x->e->va + x->e->len + n + 4;
		uint32_t rel = (uint32_t)(vs(seg == 0x64 ? BT_VS_FSBASE : BT_VS_GSBASE) - end);
		for (int i = 0; i < 4; i++)
			c[n++] = (uint8_t)(rel >> (8 * i));
	}
	c[n++] = 0x48; c[n++] = 0xb9;                               /* mov rcx, BT_HOLE_END */
	for (int i = 0; i < 8; i++)
		c[n++] = (uint8_t)(BT_HOLE_END >> (8 * i));
	static const uint8_t mid[] = {
		0x48, 0x29, 0xc8,                                   /* sub rax, rcx     start - end of hole */
		0xb9, 0x00, 0x00, 0x00, 0x00,                       /* mov ecx, 0       (flags kept) */
		0x72, 0x00,                                         /* jb .v            start below it */
	};
	memcpy(c + n, mid, sizeof mid); n += sizeof mid; jb_low = n - 1;
	if (sh) {
		c[n++] = 0x48; c[n++] = 0xc1; c[n++] = 0xe8; c[n++] = (uint8_t)sh;   /* shr rax, sh */
	}
	static const uint8_t tail[] = {
		0x48, 0x85, 0xd2,                                   /* test rdx, rdx */
		0x74, 0x00,                                         /* jz .v            RCX = 0: no element */
		0x48, 0x8d, 0x52, 0xff,                             /* lea rdx, [rdx-1] */
		0x48, 0x39, 0xc2,                                   /* cmp rdx, rax */
		0x76, 0x00,                                         /* jbe .v           the last element stays above */
		0xb9, 0x01, 0x00, 0x00, 0x00,                       /* mov ecx, 1       enters the hole */
	};
	size_t t0 = n;
	memcpy(c + n, tail, sizeof tail); n += sizeof tail;
	jz_cnt = t0 + 4;
	jbe_in = t0 + 13;
	c[jz_df] = (uint8_t)(n - (jz_df + 1));
	c[jb_low] = (uint8_t)(n - (jb_low + 1));
	c[jz_cnt] = (uint8_t)(n - (jz_cnt + 1));
	c[jbe_in] = (uint8_t)(n - (jbe_in + 1));
	bt_emit_bytes(e, c, n);
	bt_emit_u8(e, 0x9d);                                        /* popfq: the guest's flags */
	mark(x, x->goff, sv, 0, 0);
	static const uint8_t jrcxz_over[] = { 0xe3, VL_CALLOUT_LEN };
	bt_emit_bytes(e, jrcxz_over, sizeof jrcxz_over);
	callout(x, BT_CO_CONFINE, 0);
	restore(x, BT_RDX);
	mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
	restore(x, BT_RCX);
	mark(x, x->goff, 1u << BT_RAX, 0, 0);
	restore(x, BT_RAX);
	mark(x, x->goff, 0, 0, 0);
}

/* Does the instruction move RSP without touching memory at the new RSP
 * (load it with an arbitrary value: MOV/POP RSP/XCHG/LEAVE/CMOV/...; or
 * step it by an amount: ADD/SUB/AND, LEA, ENTER)? Then RSP is checked
 * after it. The implicit stack accesses that follow are not checked one by
 * one: the moves left unchecked (PUSH/POP/CALL/RET/RET n) touch memory
 * within 64 KiB of the previous touch, and every monitor page is fenced by
 * far more than 64 KiB of addresses that no guest entry can map (README:
 * "Protection"), so a walk by such steps faults before it reaches one. A
 * step by an immediate touches nothing: a loop of `sub rsp, imm` would
 * jump any fence, hence the check (bounded or not). */
static bool loads_rsp(const cs_insn *ci)
{
	const cs_x86 *d = &ci->detail->x86;
	if (ci->id == X86_INS_LEAVE || ci->id == X86_INS_ENTER)
		return true;
	bool rsp_dst = false;
	for (int i = 0; i < d->op_count; i++)
		if (d->operands[i].type == X86_OP_REG && d->operands[i].reg == X86_REG_RSP &&
		    ((d->operands[i].access & CS_AC_WRITE) || ci->id == X86_INS_XCHG))
			rsp_dst = true;
	if (!rsp_dst)
		return false;
	switch (ci->id) {
	case X86_INS_PUSH: case X86_INS_CALL: case X86_INS_RET:
		return false;
	default:
		return true;
	}
}

/* Copy an instruction, fixing a RIP-relative operand. */
static void ident(struct xl *x, const uint8_t *b, int len, uint64_t pc, const struct lay *l, bool has_modrm_mem)
{
	struct bt_emit *e = x->e;
	mark(x, x->goff, 0, 0, 0);
	if (!has_modrm_mem || !l->riprel) {
		bt_emit_bytes(e, b, (size_t)len);
		return;
	}
	int64_t disp = rd32(b + l->disp);
	uint64_t target = pc + (uint64_t)len + (uint64_t)disp;
	if (fits_s32(target)) {
		/* absolute form: ModRM rm=100 + SIB 0x25 (no base, no index) + disp32 */
		bt_emit_bytes(e, b, (size_t)l->modrm);
		if (l->rex >= 0)
			e->buf[e->len - (size_t)(l->modrm - l->rex)] &= (uint8_t)~2u;   /* REX.X = 0: no index */
		bt_emit_u8(e, (uint8_t)((b[l->modrm] & 0x38) | 4));
		bt_emit_u8(e, 0x25);
		bt_emit_u32(e, (uint32_t)target);
		bt_emit_bytes(e, b + l->disp + 4, (size_t)(len - l->disp - 4));
		return;
	}
	/* far target: base register R (not the reg operand, not touched
	 * implicitly) = target, [R] instead of [rip+disp] */
	cs_regs rr, rw;
	uint8_t nr = 0, nw = 0;
	cs_insn *ci = NULL;
	bool used[8] = { false };
	unsigned regf = ((b[l->modrm] >> 3) & 7) | ((l->rex >= 0 && (b[l->rex] & 4)) ? 8 : 0);
	if (regf < 8)
		used[regf] = true;
	if (cs_disasm(x->env->cs, b, (size_t)len, pc, 1, &ci) == 1 && cs_regs_access(x->env->cs, ci, rr, &nr, rw, &nw) == CS_ERR_OK) {
		static const x86_reg fam[8][4] = {
			{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL }, { X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL },
			{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL }, { X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL },
			{ 0, 0, 0, 0 }, { 0, 0, 0, 0 },
			{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL }, { X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL } };
		for (int r = 0; r < 8; r++)
			for (int k = 0; k < 4; k++) {
				for (int j = 0; j < nr; j++)
					if (fam[r][k] && rr[j] == fam[r][k]) used[r] = true;
				for (int j = 0; j < nw; j++)
					if (fam[r][k] && rw[j] == fam[r][k]) used[r] = true;
			}
	}
	if (ci)
		cs_free(ci, 1);
	static const unsigned cand[] = { BT_RAX, BT_RCX, BT_RDX, BT_RBX, BT_RSI, BT_RDI };
	unsigned r = 8;
	for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++)
		if (!used[cand[k]]) { r = cand[k]; break; }
	if (r == 8) {   /* uses every candidate (cannot happen in the ISA): refuse as #UD */
		callout(x, BT_CO_FAULT, 0);
		x->ended = true;
		return;
	}
	save(x, r);
	mark(x, x->goff, (uint8_t)(1u << r), 0, 0);
	bt_emit_mov_imm64(e, r, target);
	bt_emit_bytes(e, b, (size_t)l->modrm);
	if (l->rex >= 0)
		e->buf[e->len - (size_t)(l->modrm - l->rex)] &= (uint8_t)~3u;   /* no REX.X/B: base is r < 8 */
	bt_emit_u8(e, (uint8_t)((b[l->modrm] & 0x38) | r));             /* mod 00, rm = r */
	bt_emit_bytes(e, b + l->disp + 4, (size_t)(len - l->disp - 4));
	mark(x, (uint16_t)(x->goff + len), (uint8_t)(1u << r), 0, 0);
	restore(x, r);
}

/* The inline lookup: RAX = guest target, RAX and RCX saved; `delta` = the
 * RSP change made since the instruction began. Jumps to the target's
 * translation on a hit; a miss calls out LOOKUP_MISS (the VMM restores the
 * registers and resumes at the target's translation).
 * One table for both code modes, entries at index PC & 0xffff: a 64-bit
 * translation's key is its PC, a 32-bit one's is PC + 1 (m32: RAX holds a
 * zero-extended EIP). A key's low 16 bits thus say its mode (index, or
 * index + 1; an empty entry's are index + 2, bt.c), so a lookup never hits
 * the other mode's translation, nor an empty entry, whatever the target. */
static void lookup(struct xl *x, int8_t delta, bool m32)
{
	struct bt_emit *e = x->e;
	const uint8_t sv2 = (1u << BT_RAX) | (1u << BT_RCX), sv3 = sv2 | (1u << BT_RDX);
	mark(x, x->goff, sv2, delta, 0);
	save(x, BT_RDX);
	mark(x, x->goff, sv3, delta, 0);
	bt_emit_lea_rip(e, BT_RDX, BT_HASH_VA);
	static const uint8_t idx[] = {
		0x0f, 0xb7, 0xc8,              /* movzx ecx, ax          low 16 bits of the PC */
		0x48, 0x8d, 0x0c, 0x09,        /* lea rcx, [rcx+rcx]     16-byte entries */
		0x48, 0x8d, 0x14, 0xca,        /* lea rdx, [rdx+rcx*8]   &table[pc & 0xffff] */
	};
	bt_emit_bytes(e, idx, sizeof idx);
	bt_emit_load_rip(e, BT_RCX, vs(BT_VS_LOOKUPS));
	static const uint8_t inc[] = { 0x48, 0x8d, 0x49, 0x01 };   /* lea rcx, [rcx+1] */
	bt_emit_bytes(e, inc, sizeof inc);
	bt_emit_store_rip(e, BT_RCX, vs(BT_VS_LOOKUPS));
	static const uint8_t cmp[] = {
		0x48, 0x8b, 0x0a,              /* mov rcx, [rdx]         entry's guest PC */
		0x48, 0xf7, 0xd1,              /* not rcx */
		0x48, 0x8d, 0x4c, 0x01, 0x01,  /* lea rcx, [rcx+rax+1]   = target - entry key (m32: +2, key = PC + 1) */
		0xe3, VL_CALLOUT_LEN,          /* jrcxz hit */
	};
	bt_emit_bytes(e, cmp, sizeof cmp);
	if (m32 && !e->full)
		e->buf[e->len - 3] = 0x02;     /* the LEA's disp8 (nothing is written once e->full) */
	callout(x, BT_CO_LOOKUP_MISS, 0);
	static const uint8_t hit[] = { 0x48, 0x8b, 0x4a, 0x08 };   /* mov rcx, [rdx+8]: entry's TC address */
	bt_emit_bytes(e, hit, sizeof hit);
	bt_emit_store_rip(e, BT_RCX, vs(BT_VS_S_TGT));
	restore(x, BT_RDX);
	mark(x, x->goff, sv2, delta, 0);
	restore(x, BT_RCX);
	mark(x, x->goff, 1u << BT_RAX, delta, 0);
	restore(x, BT_RAX);
	mark(x, x->goff, 0, delta, 0);
	bt_emit_jmp_ind_rip(e, vs(BT_VS_S_TGT));
	x->ended = true;
}

/* A block exit to guest PC `target`: jmp rel32 to a stub made at the end. */
static void exit_jmp(struct xl *x, uint64_t target, unsigned cc, bool cond)
{
	struct bt_block *b = x->blk;
	if (b->nexits >= BT_MAX_EXITS) {
		x->e->full = true;
		return;
	}
	size_t at = cond ? bt_emit_jcc(x->e, cc, 0) : bt_emit_jmp(x->e, 0);
	b->exit[b->nexits].target = target;
	b->exit[b->nexits].jmp_off = (uint32_t)(at - x->start);
	b->nexits++;
}

/* The pending-interrupt check after the virtual IF or CR8 changed: call out
 * INTR_WINDOW when the VMM holds an interrupt (and, with `need_if`, the
 * virtual IF is set). */
static void pending_check(struct xl *x, uint16_t goff, bool need_if)
{
	struct bt_emit *e = x->e;
	mark(x, goff, 0, 0, 0);
	save(x, BT_RCX);
	mark(x, goff, 1u << BT_RCX, 0, 0);
	uint8_t skip = (uint8_t)(7 + 2 + VL_CALLOUT_LEN);   /* over the second test and the callout */
	if (need_if) {
		bt_emit_load_rip(e, BT_RCX, vs(BT_VS_VIF));
		uint8_t j[2] = { 0xe3, skip };
		bt_emit_bytes(e, j, 2);
	}
	bt_emit_load_rip(e, BT_RCX, vs(BT_VS_VPEND));
	uint8_t j2[2] = { 0xe3, VL_CALLOUT_LEN };
	bt_emit_bytes(e, j2, 2);
	callout(x, BT_CO_INTR_WINDOW, 0);
	restore(x, BT_RCX);
	mark(x, goff, 0, 0, 0);
}

static bool is_modrm_mem(const cs_insn *ci, const uint8_t *b, const struct lay *l, int len)
{
	const cs_x86 *d = &ci->detail->x86;
	bool mem = false;
	for (int i = 0; i < d->op_count; i++)
		if (d->operands[i].type == X86_OP_MEM)
			mem = true;
	if (!mem || l->modrm >= len)
		return false;
	switch (ci->id) {
	case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSD: case X86_INS_MOVSQ:
	case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD: case X86_INS_STOSQ:
	case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD: case X86_INS_LODSQ:
	case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASD: case X86_INS_SCASQ:
	case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSD: case X86_INS_CMPSQ:
	case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
	case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD:
	case X86_INS_XLATB:
		return false;
	default:
		break;
	}
	uint8_t op0 = b[l->op];
	if (l->oplen == 1 && op0 >= 0xa0 && op0 <= 0xa3)   /* MOV moffs: no ModRM */
		return false;
	return (b[l->modrm] >> 6) != 3;
}

/* The class of a system instruction translated as a callout; BT_CO_COUNT
 * when the instruction is not one. */
static enum bt_callout sys_class(const cs_insn *ci, const uint8_t *b, const struct lay *l, int len, bool *ends)
{
	*ends = false;
	uint8_t o0 = b[l->op], o1 = l->oplen > 1 ? b[l->op + 1] : 0;
	switch (ci->id) {
	case X86_INS_CPUID: return BT_CO_CPUID;
	case X86_INS_IN: case X86_INS_OUT:
	case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
	case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD: return BT_CO_IO;
	case X86_INS_RDMSR: return BT_CO_RDMSR;
	case X86_INS_WRMSR: return BT_CO_WRMSR;
	case X86_INS_INVLPG: return BT_CO_INVLPG;
	case X86_INS_HLT: return BT_CO_HLT;
	case X86_INS_SWAPGS: return BT_CO_SWAPGS;
	case X86_INS_SYSRET: *ends = true; return BT_CO_SYSRET;
	case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ: *ends = true; return BT_CO_IRET;
	case X86_INS_LGDT: case X86_INS_LIDT: case X86_INS_LLDT: case X86_INS_LTR:
	case X86_INS_SGDT: case X86_INS_SIDT: case X86_INS_SLDT: case X86_INS_STR:
	case X86_INS_SMSW: case X86_INS_LMSW: case X86_INS_CLTS: return BT_CO_DESC;
	case X86_INS_INT: case X86_INS_INT3: case X86_INS_INTO: case X86_INS_INT1:
	case X86_INS_SYSCALL: case X86_INS_SYSENTER: *ends = true; return BT_CO_INTN;
	case X86_INS_UD2: *ends = true; return BT_CO_FAULT;
	case X86_INS_WBINVD: case X86_INS_INVD: case X86_INS_RDPMC: case X86_INS_VMCALL: case X86_INS_VMMCALL:
	case X86_INS_MONITOR: case X86_INS_MWAIT: case X86_INS_XSETBV:
	case X86_INS_LAR: case X86_INS_LSL: case X86_INS_VERR: case X86_INS_VERW:
	case X86_INS_STAC: case X86_INS_CLAC:   /* #UD at CPL 1: the VMM sets / clears the guest's AC */
		return BT_CO_PRIV;
	case X86_INS_RETF: case X86_INS_RETFQ: case X86_INS_LJMP: case X86_INS_LCALL:
		*ends = true;   /* a far transfer: the VMM emulates it and dispatches */
		return BT_CO_PRIV;
	case X86_INS_PUSH: case X86_INS_POP: {
		const cs_x86 *d = &ci->detail->x86;
		if (d->op_count == 1 && d->operands[0].type == X86_OP_REG) {
			x86_reg r = d->operands[0].reg;
			bool sreg = r == X86_REG_CS || r == X86_REG_SS || r == X86_REG_DS || r == X86_REG_ES ||
				    r == X86_REG_FS || r == X86_REG_GS;
			/* PUSH Sreg reveals the deprivileged RPL; POP FS/GS loads a
			 * data segment, which succeeds on the shadow GDT at ring 1 */
			if (sreg && (ci->id == X86_INS_PUSH || r == X86_REG_SS))
				return BT_CO_SEG;
		}
		return BT_CO_COUNT;
	}
	case X86_INS_MOV:
		/* MOV from Sreg reveals the deprivileged RPL; MOV to SS needs the
		 * VMM (RPL 0 selector at ring 1); DS/ES/FS/GS loads succeed on the
		 * shadow GDT, as the hardware does them */
		if (l->oplen == 1 && o0 == 0x8c)
			return BT_CO_SEG;
		if (l->oplen == 1 && o0 == 0x8e && l->modrm < len && ((b[l->modrm] >> 3) & 7) == 2)
			return BT_CO_SEG;
		if (l->oplen == 2 && o0 == 0x0f && (o1 == 0x21 || o1 == 0x23))
			return BT_CO_PRIV;      /* MOV DR */
		if (l->oplen == 2 && o0 == 0x0f && (o1 == 0x20 || o1 == 0x22))
			return o1 == 0x22 ? BT_CO_CR_WRITE : BT_CO_CR_READ;
		return BT_CO_COUNT;
	default:
		return BT_CO_COUNT;
	}
}

static bool is_jcc(unsigned id, unsigned *cc)
{
	static const struct { unsigned id, cc; } t[] = {
		{ X86_INS_JO, 0 }, { X86_INS_JNO, 1 }, { X86_INS_JB, 2 }, { X86_INS_JAE, 3 },
		{ X86_INS_JE, 4 }, { X86_INS_JNE, 5 }, { X86_INS_JBE, 6 }, { X86_INS_JA, 7 },
		{ X86_INS_JS, 8 }, { X86_INS_JNS, 9 }, { X86_INS_JP, 10 }, { X86_INS_JNP, 11 },
		{ X86_INS_JL, 12 }, { X86_INS_JGE, 13 }, { X86_INS_JLE, 14 }, { X86_INS_JG, 15 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].id == id) { *cc = t[i].cc; return true; }
	return false;
}

static uint64_t branch_target(const cs_insn *ci)
{
	const cs_x86 *d = &ci->detail->x86;
	return (uint64_t)d->operands[0].imm;
}

/* Pieces the 64-bit (xl_insn) and 32-bit (xl_insn32) translators share. */

/* A region marker (the zero-cost NOP of guest_abi.h): the VMM switches the
 * region (and folds the counts translated code keeps) at exactly this
 * point. False when b is not one. */
static bool xl_marker(struct xl *x, const uint8_t *b, int len)
{
	if (!(len == 7 && b[0] == 0x0f && b[1] == 0x1f && b[2] == 0x80 &&
	      (((uint32_t)rd32(b + 3)) & VL_MARK_MAGIC_MASK) == VL_MARK_MAGIC))
		return false;
	mark(x, x->goff, 0, 0, 0);
	bt_emit_callout(x->e, BT_CO_ID(BT_CO_MARKER, 0));
	mark(x, (uint16_t)(x->goff + len), 0, 0, 0);
	return true;
}

/* Jcc: the taken exit on cc, then the fall-through; ends the block. */
static void xl_jcc(struct xl *x, uint64_t taken, uint64_t next, unsigned cc)
{
	mark(x, x->goff, 0, 0, 0);
	exit_jmp(x, taken, cc, true);
	exit_jmp(x, next, 0, false);
	x->ended = true;
}

/* JECXZ/JRCXZ/LOOPcc (rel8 only; pfx: 0x67 in 32-bit code, so the copy
 * counts ECX there too): the instruction copied with its rel8 turned into a
 * local hop over the fall-through exit to the taken one. Exits: [0]
 * fall-through, [1] taken. */
static void xl_rel8_hop(struct xl *x, const uint8_t *b, int len, uint64_t taken, uint64_t next, int pfx)
{
	mark(x, x->goff, 0, 0, 0);
	if (pfx >= 0)
		bt_emit_u8(x->e, (uint8_t)pfx);
	bt_emit_bytes(x->e, b, (size_t)(len - 1));
	bt_emit_u8(x->e, 5);
	exit_jmp(x, next, 0, false);
	exit_jmp(x, taken, 0, false);
	x->ended = true;
}

/* CLI / STI: the virtual IF in the VMM's state, no exit. STI's
 * one-instruction shadow: the pending check comes after the next
 * instruction (sti; hlt sleeps with the interrupt arriving in the HLT, as on
 * hardware). */
static void xl_cli_sti(struct xl *x, int len, bool sti)
{
	mark(x, x->goff, 0, 0, 0);
	bt_emit_store_imm_rip(x->e, sti ? 0x200 : 0, vs(BT_VS_VIF));
	mark(x, (uint16_t)(x->goff + len), 0, 0, 0);
	if (sti)
		x->sti_shadow = true;
}

/* Translate one decoded guest instruction. */
static void xl_insn(struct xl *x, const cs_insn *ci, const uint8_t *b, int len, uint64_t pc)
{
	struct bt_emit *e = x->e;
	struct lay l;
	layout(b, len, &l, false);
	uint64_t next = pc + (uint64_t)len;
	uint16_t gnext = (uint16_t)(x->goff + len);
	unsigned cc;
	bool ends;

	if (x->env->hot && x->env->hot(x->env->arg, pc)) {   /* adaptive BT */
		mark(x, x->goff, 0, 0, 0);
		callout(x, BT_CO_PTE_WRITE, 0);
		mark(x, gnext, 0, 0, 0);
		return;
	}
	if (xl_marker(x, b, len))
		return;
	if (is_jcc(ci->id, &cc))
		return xl_jcc(x, branch_target(ci), next, cc);
	switch (ci->id) {
	case X86_INS_JMP:
		if (ci->detail->x86.operands[0].type == X86_OP_IMM) {
			mark(x, x->goff, 0, 0, 0);
			exit_jmp(x, branch_target(ci), 0, false);
			x->ended = true;
			return;
		}
		/* fall through: indirect JMP */
		__attribute__((fallthrough));
	case X86_INS_CALL: {
		const cs_x86_op *o = &ci->detail->x86.operands[0];
		bool call = ci->id == X86_INS_CALL;
		if (o->type == X86_OP_IMM) {   /* direct CALL */
			mark(x, x->goff, 0, 0, 0);
			if (fits_s32(next)) {
				bt_emit_push_imm(e, (int32_t)next);
			} else {
				save(x, BT_RAX);
				mark(x, x->goff, 1u << BT_RAX, 0, 0);
				bt_emit_mov_imm64(e, BT_RAX, next);
				bt_emit_u8(e, 0x50);   /* push rax */
				mark(x, x->goff, 1u << BT_RAX, -8, 0);
				restore(x, BT_RAX);
			}
			mark(x, x->goff, 0, -8, 0);
			exit_jmp(x, branch_target(ci), 0, false);
			x->ended = true;
			return;
		}
		/* indirect: RAX = target (read before the push, as the CPU does);
		 * a target loaded from memory is confined like any other load */
		if (o->type == X86_OP_MEM && l.modrm < len && (b[l.modrm] >> 6) != 3) {
			if (l.riprel && l.seg && x->env->confine) {
				/* + the FS/GS base: known only when it runs */
				confine_abs_seg(x, next + (uint64_t)(int64_t)rd32(b + l.disp), l.seg);
			} else if (l.riprel) {
				uint64_t ptr = next + (uint64_t)(int64_t)rd32(b + l.disp);
				if (in_hole(ptr) || in_hole(ptr + 7)) {
					mark(x, x->goff, 0, 0, 0);
					callout(x, BT_CO_CONFINE, 0);
					x->ended = true;
					return;
				}
			} else if (x->env->confine && (!abs32_operand(b, &l) || l.seg)) {
				confine_modrm(x, b, len, pc, &l);
			}
		}
		mark(x, x->goff, 0, 0, 0);
		save(x, BT_RAX);
		mark(x, x->goff, 1u << BT_RAX, 0, 0);
		save(x, BT_RCX);
		mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
		if (o->type == X86_OP_REG) {
			unsigned r = (b[l.modrm] & 7) | ((l.rex >= 0 && (b[l.rex] & 1)) ? 8 : 0);
			uint8_t mov[3] = { (uint8_t)(0x48 | ((r & 8) ? 4 : 0)), 0x89, (uint8_t)(0xc0 | ((r & 7) << 3)) };   /* mov rax, r */
			bt_emit_bytes(e, mov, 3);
		} else {
			/* the load keeps the guest's FS/GS override (the check above
			 * added its base: without it the load went elsewhere) */
			static const uint8_t mov[] = { 0x8b };
			uint64_t ptr = l.riprel ? next + (uint64_t)(int64_t)rd32(b + l.disp) : 0;
			if (l.riprel && !fits_s32(ptr)) {
				/* a RIP-relative pointer beyond +-2 GiB of 0: load it by address */
				bt_emit_mov_imm64(e, BT_RAX, ptr);
				if (l.seg)
					bt_emit_u8(e, l.seg);
				static const uint8_t ld[] = { 0x48, 0x8b, 0x00 };   /* mov rax, [rax] */
				bt_emit_bytes(e, ld, 3);
			} else {
				if (l.seg)
					bt_emit_u8(e, l.seg);
				enc_mem(e, b, len, pc, &l, mov, 1, BT_RAX);
			}
		}
		int8_t delta = 0;
		if (call) {
			if (fits_s32(next)) {
				bt_emit_push_imm(e, (int32_t)next);
			} else {
				bt_emit_mov_imm64(e, BT_RCX, next);
				bt_emit_u8(e, 0x51);   /* push rcx */
			}
			delta = -8;
		}
		lookup(x, delta, false);
		return;
	}
	case X86_INS_RET: {
		mark(x, x->goff, 0, 0, 0);
		save(x, BT_RAX);
		mark(x, x->goff, 1u << BT_RAX, 0, 0);
		save(x, BT_RCX);
		mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
		bt_emit_u8(e, 0x58);   /* pop rax */
		int delta = 8;
		if (ci->detail->x86.op_count == 1 && ci->detail->x86.operands[0].type == X86_OP_IMM) {
			int64_t n = ci->detail->x86.operands[0].imm;
			if (n > 0) {
				/* lea rsp, [rsp + n] */
				mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 8, 0);
				uint8_t lea[4] = { 0x48, 0x8d, 0xa4, 0x24 };
				bt_emit_bytes(e, lea, 4);
				bt_emit_u32(e, (uint32_t)n);
				delta += (int)n;
			}
		}
		if (delta > 127) {   /* the map's delta is 8 bits: such a RET is left to the VMM */
			x->e->full = true;
			return;
		}
		lookup(x, (int8_t)delta, false);
		return;
	}
	case X86_INS_JRCXZ: case X86_INS_JECXZ: case X86_INS_LOOP: case X86_INS_LOOPE: case X86_INS_LOOPNE:
		return xl_rel8_hop(x, b, len, branch_target(ci), next, -1);
	case X86_INS_CLI:
	case X86_INS_STI:
		return xl_cli_sti(x, len, ci->id == X86_INS_STI);
	case X86_INS_PUSHFQ:
		if (l.npfx == 0) {
			mark(x, x->goff, 0, 0, 0);
			bt_emit_u8(e, 0x9c);   /* pushfq: the image slot */
			mark(x, x->goff, 0, -8, 0);
			bt_emit_u8(e, 0x9c);   /* pushfq: the flags, to restore */
			mark(x, x->goff, 0, -16, 0);
			save(x, BT_RAX);
			mark(x, x->goff, 1u << BT_RAX, -16, 0);
			static const uint8_t ld[] = { 0x48, 0x8b, 0x44, 0x24, 0x08 };   /* mov rax, [rsp+8] */
			bt_emit_bytes(e, ld, sizeof ld);
			/* from the AND that clobbers the guest's arithmetic flags to
			 * the POPFQ that brings them back nothing can fault and the
			 * VMM holds interrupts: a restart there would lose them */
			mark(x, x->goff, 1u << BT_RAX, -16, BT_MAP_ATOMIC);
			static const uint8_t andif[] = { 0x48, 0x25, 0xff, 0xfd, 0xff, 0xff };   /* and rax, ~0x200 */
			bt_emit_bytes(e, andif, sizeof andif);
			/* or rax, [rip -> vif] */
			{
				static const uint8_t op[] = { 0x48, 0x0b, 0x05 };
				bt_emit_bytes(e, op, 3);
				bt_emit_u32(e, (uint32_t)(vs(BT_VS_VIF) - (bt_emit_pc(e) + 4)));
			}
			static const uint8_t st[] = { 0x48, 0x89, 0x44, 0x24, 0x08 };   /* mov [rsp+8], rax */
			bt_emit_bytes(e, st, sizeof st);
			restore(x, BT_RAX);
			mark(x, x->goff, 0, -16, BT_MAP_ATOMIC);
			bt_emit_u8(e, 0x9d);   /* popfq: the guest's arithmetic flags back */
			mark(x, gnext, 0, 0, 0);
			return;
		}
		break;
	case X86_INS_POPFQ:
		if (l.npfx == 0) {
			mark(x, x->goff, 0, 0, 0);
			save(x, BT_RAX);
			mark(x, x->goff, 1u << BT_RAX, 0, 0);
			static const uint8_t ld[] = { 0x48, 0x8b, 0x04, 0x24 };   /* mov rax, [rsp] */
			bt_emit_bytes(e, ld, sizeof ld);
			mark(x, x->goff, 1u << BT_RAX, 0, BT_MAP_ATOMIC);         /* the AND clobbers the guest's flags */
			static const uint8_t andif[] = { 0x25, 0x00, 0x02, 0x00, 0x00 };   /* and eax, 0x200 */
			bt_emit_bytes(e, andif, sizeof andif);
			bt_emit_u8(e, 0x9d);   /* popfq: arithmetic flags (IF: ignored at CPL 1 > IOPL) */
			mark(x, gnext, 1u << BT_RAX, 0, BT_MAP_ATOMIC);
			bt_emit_store_rip(e, BT_RAX, vs(BT_VS_VIF));
			mark(x, gnext, 1u << BT_RAX, 0, 0);
			restore(x, BT_RAX);
			pending_check(x, gnext, true);
			return;
		}
		break;
	default:
		break;
	}

	/* MOV to/from CR8: in-TC on the virtual TPR */
	if (ci->id == X86_INS_MOV && l.oplen == 2 && b[l.op] == 0x0f && (b[l.op + 1] == 0x20 || b[l.op + 1] == 0x22)) {
		unsigned crn = ((b[l.modrm] >> 3) & 7) | ((l.rex >= 0 && (b[l.rex] & 4)) ? 8 : 0);
		unsigned gpr = (b[l.modrm] & 7) | ((l.rex >= 0 && (b[l.rex] & 1)) ? 8 : 0);
		if (crn == 8) {
			mark(x, x->goff, 0, 0, 0);
			if (b[l.op + 1] == 0x22) {
				bt_emit_store_rip(e, gpr, vs(BT_VS_VCR8));
				pending_check(x, gnext, true);
			} else {
				bt_emit_load_rip(e, gpr, vs(BT_VS_VCR8));
				mark(x, gnext, 0, 0, 0);
			}
			return;
		}
	}

	enum bt_callout k = sys_class(ci, b, &l, len, &ends);
	if (k == BT_CO_COUNT && (ci->id == X86_INS_PUSHFQ || ci->id == X86_INS_POPFQ ||
				 ci->id == X86_INS_PUSHF || ci->id == X86_INS_POPF))
		k = BT_CO_PRIV;   /* 16-bit PUSHF/POPF: the VMM emulates */
	if (k == BT_CO_IO && l.seg && x->env->confine && outs_shift(ci->id) >= 0)
		confine_src_seg(x, &l, has_rep(b, &l), (unsigned)outs_shift(ci->id));
	if (k != BT_CO_COUNT) {
		mark(x, x->goff, 0, 0, 0);
		callout(x, k, 0);
		mark(x, gnext, 0, 0, 0);
		if (ends)
			x->ended = true;
		return;
	}

	/* IDENT */
	bool mem = is_modrm_mem(ci, b, &l, len);
	bool noaccess = ci->id == X86_INS_LEA || ci->id == X86_INS_NOP ||
			ci->id == X86_INS_PREFETCH || ci->id == X86_INS_PREFETCHW ||
			ci->id == X86_INS_PREFETCHT0 || ci->id == X86_INS_PREFETCHT1 ||
			ci->id == X86_INS_PREFETCHT2 || ci->id == X86_INS_PREFETCHNTA;
	if (mem && !noaccess) {
		if (l.riprel && l.seg && x->env->confine) {
			/* FS/GS + RIP-relative: the target + the base, known only when it runs */
			confine_abs_seg(x, next + (uint64_t)(int64_t)rd32(b + l.disp), l.seg);
		} else if (l.riprel) {
			uint64_t t = next + (uint64_t)(int64_t)rd32(b + l.disp);
			if (in_hole(t) || in_hole(t + 15)) {
				mark(x, x->goff, 0, 0, 0);
				callout(x, BT_CO_CONFINE, 0);
				x->ended = true;
				return;
			}
		} else if (x->env->confine) {
			if (!abs32_operand(b, &l) || l.seg)   /* [disp32] alone lies in the top or bottom 2 GiB */
				confine_modrm(x, b, len, pc, &l);
		}
	} else if (x->env->confine && !noaccess) {
		bool src = false, dst = false;
		unsigned sh = 0;
		switch (ci->id) {
		case X86_INS_MOVSQ: case X86_INS_CMPSQ: sh++; __attribute__((fallthrough));
		case X86_INS_MOVSD: case X86_INS_CMPSD: sh++; __attribute__((fallthrough));
		case X86_INS_MOVSW: case X86_INS_CMPSW: sh++; __attribute__((fallthrough));
		case X86_INS_MOVSB: case X86_INS_CMPSB:
			src = dst = true;
			break;
		case X86_INS_STOSQ: case X86_INS_SCASQ: sh++; __attribute__((fallthrough));
		case X86_INS_STOSD: case X86_INS_SCASD: sh++; __attribute__((fallthrough));
		case X86_INS_STOSW: case X86_INS_SCASW: sh++; __attribute__((fallthrough));
		case X86_INS_STOSB: case X86_INS_SCASB:
			dst = true;
			break;
		case X86_INS_LODSQ: sh++; __attribute__((fallthrough));
		case X86_INS_LODSD: sh++; __attribute__((fallthrough));
		case X86_INS_LODSW: sh++; __attribute__((fallthrough));
		case X86_INS_LODSB:
			src = true;
			break;
		default:
			break;
		}
		bool rep = has_rep(b, &l);
		if (src && l.seg)   /* the override applies to the source only */
			confine_src_seg(x, &l, rep, sh);
		else if (src)
			confine_reg(x, BT_RSI);
		if (dst)
			confine_reg(x, BT_RDI);
		if (ci->id == X86_INS_XLATB)
			confine_xlat(x, l.asz32, l.seg);
		if (rep && !l.asz32) {   /* a 32-bit address never reaches the hole */
			if (src && !l.seg)   /* (with an override: confine_src_seg) */
				confine_rep_down(x, BT_RSI, sh, 0);
			if (dst)
				confine_rep_down(x, BT_RDI, sh, 0);
		}
		uint8_t op0 = l.op < len ? b[l.op] : 0;
		if (l.oplen == 1 && op0 >= 0xa0 && op0 <= 0xa3 && len >= l.op + 9) {   /* MOV moffs64 */
			uint64_t a = 0;
			for (int i = 0; i < 8; i++)
				a |= (uint64_t)b[l.op + 1 + i] << (8 * i);
			if (in_hole(a) && !l.seg) {
				mark(x, x->goff, 0, 0, 0);
				callout(x, BT_CO_CONFINE, 0);
				x->ended = true;
				return;
			}
			if (l.seg)
				confine_abs_seg(x, a, l.seg);
		} else if (l.oplen == 1 && op0 >= 0xa0 && op0 <= 0xa3 && l.seg && len >= l.op + 5) {   /* MOV moffs32 (67h) */
			confine_abs_seg(x, (uint32_t)rd32(b + l.op + 1), l.seg);
		}
	}
	ident(x, b, len, pc, &l, mem);
	if (loads_fs_gs(b, &l, len))
		refresh_bases(x, gnext);
	if (x->env->confine && !x->ended && loads_rsp(ci))
		confine_reg_at(x, BT_RSP, (uint16_t)(x->goff + len));
}

/* ---- 32-bit guest code ---------------------------------------------------
 * Guest code in legacy protected mode or compatibility mode (CS.D = 1) is
 * decoded with Capstone in CS_MODE_32 and translated into 64-bit code for
 * the same translation cache: while it runs the hardware CS is the guest's
 * descriptor with L = 1 (the VMM sets the hidden part, bt.c), so the
 * virtual CPU state, the scratch slots and the exits work as for 64-bit
 * code. The guest's semantics are kept by re-encoding:
 *   - every explicit memory operand gets the address-size prefix 67h: the
 *     effective address is computed in 32 bits and zero-extended, as a
 *     flat 32-bit segment gives it; [disp32] (ModRM mod 00 rm 101, which
 *     67h would make EIP-relative in 64-bit mode) becomes the SIB form
 *     without base or index; string instructions, MOV moffs, XLAT,
 *     JECXZ/LOOP likewise take 67h (ESI/EDI/ECX);
 *   - the stack is 32 bits wide: PUSH/POP/CALL/RET/LEAVE become a 32-bit
 *     store or load at [ESP +- 4] and LEA ESP (67h: ESP wraps at 4 GiB);
 *   - INC/DEC r32 (40-4F, REX in 64-bit mode) become FF /0, FF /1;
 *   - PUSHAD/POPAD and ENTER are stores/loads at [ESP +- d] done before
 *     any register changes (restartable), PUSHFD/POPFD the 64-bit
 *     PUSHFQ/POPFQ rewriting (virtual IF) on a monitor stack; far CALL is
 *     a callout as far JMP;
 *   - what the model's 32-bit decoder refuses (#UD: BCD, BOUND, ARPL,
 *     LES/LDS, INTO, SALC, 82h, 67h, 66h on near branches) is a FAULT
 *     callout (#UD for the guest); the 16-bit (66h) stack forms store and
 *     load words at [ESP +- 2]; POP ES/SS/DS/FS/GS are SEG callouts (the
 *     vCPU runtime pops and loads with virtual CPL 0's checks); what this
 *     translator does not handle (RET n beyond the map's delta, stack
 *     instructions with LOCK/REP) stops the run with its name, never runs
 *     wrongly.
 * Confinement: a 32-bit effective address is below 4 GiB, never in the
 * monitor hole, so no per-access check is needed; only an FS/GS override
 * (whose base, set with WRMSR, may be anything) is checked like 64-bit
 * code's, string sources included. Indirect control flow (RET, JMP/CALL
 * r/m) goes through the inline lookup with 32-bit keys (lookup). */

static bool has_pfx(const uint8_t *b, const struct lay *l, uint8_t p)
{
	for (int i = 0; i < l->npfx; i++)
		if (b[i] == p)
			return true;
	return false;
}

/* Emit a 32-bit memory-operand instruction in 64-bit code: prefixes
 * (minus 67h), 67h, the given opcode bytes, ModRM with reg field `reg`,
 * SIB/disp as the guest wrote them ([disp32] rewritten to the SIB form),
 * then `tail` bytes (the immediate). */
static void enc_mem32(struct bt_emit *e, const uint8_t *b, const struct lay *l, bool prefixes,
		      const uint8_t *op, int oplen, unsigned reg, const uint8_t *tail, int ntail)
{
	if (prefixes)
		for (int i = 0; i < l->npfx; i++)
			if (b[i] != 0x67)
				bt_emit_u8(e, b[i]);
	bt_emit_u8(e, 0x67);
	bt_emit_bytes(e, op, (size_t)oplen);
	uint8_t m = b[l->modrm], mod = m >> 6, rm = m & 7;
	if (mod == 0 && rm == 5) {
		bt_emit_u8(e, (uint8_t)(((reg & 7) << 3) | 4));
		bt_emit_u8(e, 0x25);
		bt_emit_bytes(e, b + l->disp, 4);
	} else {
		bt_emit_u8(e, (uint8_t)((mod << 6) | ((reg & 7) << 3) | rm));
		if (l->sib >= 0)
			bt_emit_u8(e, b[l->sib]);
		bt_emit_bytes(e, b + l->disp, (size_t)l->dispsz);
	}
	if (ntail > 0)
		bt_emit_bytes(e, tail, (size_t)ntail);
}

/* 67 89/8B ModRM(reg, [esp + d8]): mov [esp+d], r32 / mov r32, [esp+d] */
static void esp_mov(struct bt_emit *e, bool store, unsigned reg, int8_t d)
{
	uint8_t c[5] = { 0x67, store ? 0x89 : 0x8b, (uint8_t)((d ? 0x44 : 0x04) | ((reg & 7) << 3)), 0x24, (uint8_t)d };
	bt_emit_bytes(e, c, d ? 5 : 4);   /* mod 01 [esp+d8], or mod 00 [esp] */
}
/* esp_mov with operand size w (2: the 66h form, a 16-bit load keeps the
 * register's upper half, as the guest's 16-bit POP does) */
static void esp_movw(struct bt_emit *e, bool store, unsigned reg, int8_t d, unsigned w)
{
	if (w == 2)
		bt_emit_u8(e, 0x66);
	esp_mov(e, store, reg, d);
}
/* 67 8D 64 24 d8 / 67 8D A4 24 d32: lea esp, [esp + d] (flags kept, ESP wraps) */
static void esp_lea(struct bt_emit *e, int32_t d)
{
	if (d >= -128 && d <= 127) {
		uint8_t c[5] = { 0x67, 0x8d, 0x64, 0x24, (uint8_t)d };
		bt_emit_bytes(e, c, 5);
	} else {
		uint8_t c[4] = { 0x67, 0x8d, 0xa4, 0x24 };
		bt_emit_bytes(e, c, 4);
		bt_emit_u32(e, (uint32_t)d);
	}
}
/* mov dword [esp-4], imm32; lea esp, [esp-4] — a 32-bit PUSH imm (the map
 * entries around it: the store alone is restartable) */
static void push32_imm(struct xl *x, uint32_t imm)
{
	static const uint8_t st[] = { 0x67, 0xc7, 0x44, 0x24, 0xfc };
	bt_emit_bytes(x->e, st, sizeof st);
	bt_emit_u32(x->e, imm);
	esp_lea(x->e, -4);
}

static void untranslated(struct xl *x)
{
	mark(x, x->goff, 0, 0, 0);
	callout(x, BT_CO_FAULT, BT_FAULT_UNTRANSLATED);
	x->ended = true;
}
static void ud32(struct xl *x)
{
	mark(x, x->goff, 0, 0, 0);
	callout(x, BT_CO_FAULT, 0);
	x->ended = true;
}

/* Indirect control flow in 32-bit code: RAX = the guest target (a
 * zero-extended EIP; RAX and RCX saved), `delta` the RSP change: the inline
 * lookup of 64-bit code, keyed for 32-bit translations (lookup). */
static void lookup32(struct xl *x, int8_t delta) { lookup(x, delta, true); }

static void save2(struct xl *x)
{
	mark(x, x->goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, x->goff, 1u << BT_RAX, 0, 0);
	save(x, BT_RCX);
	mark(x, x->goff, (1u << BT_RAX) | (1u << BT_RCX), 0, 0);
}

/* The FS/GS-override check: the linear address (32-bit EA + the base
 * mirror) looked up like 64-bit code's. */
static void confine_mem32(struct xl *x, const uint8_t *b, const struct lay *l)
{
	static const uint8_t lea[] = { 0x8d };
	confine_enter(x);
	enc_mem32(x->e, b, l, false, lea, 1, BT_RAX, NULL, 0);     /* lea eax, [ea32] */
	confine_leave(x, l->seg);                                  /* called for FS/GS overrides only */
}

/* The map's `saved` mask for registers r0..r0+n-1 of `order`. */
static uint8_t savedmask(const unsigned *order, int n)
{
	uint8_t m = 0;
	for (int i = 0; i < n; i++)
		m |= (uint8_t)(1u << order[i]);
	return m;
}

/* PUSHAD: the eight stores below ESP (EAX first, the original ESP fifth),
 * then ESP -= 32: a fault in a store restarts the instruction with nothing
 * changed but memory below ESP, as the machine's PUSHA. */
static void xl_pushad(struct xl *x, uint16_t gnext, unsigned w)
{
	static const unsigned order[8] = { BT_RAX, BT_RCX, BT_RDX, BT_RBX, BT_RSP, BT_RBP, BT_RSI, BT_RDI };
	mark(x, x->goff, 0, 0, 0);
	for (int k = 0; k < 8; k++)   /* PUSHAW (w = 2): the low halves */
		esp_movw(x->e, true, order[k], (int8_t)(-(int)w * (k + 1)), w);
	esp_lea(x->e, -8 * (int32_t)w);
	mark(x, gnext, 0, 0, 0);
}

/* POPAD: the seven registers it loads saved first, then the eight loads in
 * the machine's order (EDI at [ESP] up to EAX at [ESP+28], the saved ESP
 * read and dropped), so a fault in any of them restarts the instruction
 * with every register restored (the map names them), then ESP += 32. */
static void xl_popad(struct xl *x, uint16_t gnext, unsigned w)
{
	static const unsigned order[8] = { BT_RDI, BT_RSI, BT_RBP, BT_RSP, BT_RBX, BT_RDX, BT_RCX, BT_RAX };
	static const unsigned sv[7] = { BT_RDI, BT_RSI, BT_RBP, BT_RBX, BT_RDX, BT_RCX, BT_RAX };
	mark(x, x->goff, 0, 0, 0);
	for (int k = 0; k < 7; k++) {
		save(x, sv[k]);
		mark(x, x->goff, savedmask(sv, k + 1), 0, 0);
	}
	for (int k = 0; k < 8; k++)   /* the ESP slot is read into EBX, which the next load overwrites (POPAW: 16-bit loads) */
		esp_movw(x->e, false, order[k] == BT_RSP ? BT_RBX : order[k], (int8_t)((int)w * k), w);
	esp_lea(x->e, 8 * (int32_t)w);
	mark(x, gnext, 0, 0, 0);
}

/* The RSP switch of 32-bit PUSHFD/POPFD: the guest's RSP into its slot,
 * RSP = the monitor's one-quadword stack (BT_VS_STK), so PUSHFQ/POPFQ
 * touch no guest byte (the guest's instruction moves 4 bytes, PUSHFQ/POPFQ
 * 8) and a fault cannot come from them; the map restores RSP from the slot. */
static void to_mon_stack(struct xl *x)
{
	bt_emit_store_rip(x->e, BT_RSP, slot(BT_RSP));
}
static void lea_mon_stack(struct xl *x, unsigned off)
{
	bt_emit_lea_rip(x->e, BT_RSP, vs(BT_VS_STK) + off);
}

/* PUSHFD: as 64-bit PUSHFQ — the flags image with the virtual IF in place
 * of the real one (IOPL as the hardware shows it, RF and VM clear) —
 * stored at [ESP-4], ESP -= 4. The flags are read on the monitor stack
 * (to_mon_stack); from the AND that clobbers the arithmetic flags to the
 * POPFQ that brings them back nothing can fault and interrupts are held
 * (BT_MAP_ATOMIC), so no guest state is lost. */
static void xl_pushfd(struct xl *x, uint16_t gnext, unsigned w)
{
	struct bt_emit *e = x->e;
	const uint8_t a = 1u << BT_RAX, ar = a | (1u << BT_RSP);
	mark(x, x->goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, x->goff, a, 0, 0);
	to_mon_stack(x);
	mark(x, x->goff, ar, 0, 0);
	lea_mon_stack(x, 8);
	bt_emit_u8(e, 0x9c);                                       /* pushfq (onto BT_VS_STK) */
	static const uint8_t ld[] = { 0x48, 0x8b, 0x04, 0x24 };   /* mov rax, [rsp] */
	bt_emit_bytes(e, ld, sizeof ld);
	mark(x, x->goff, ar, 0, BT_MAP_ATOMIC);
	static const uint8_t andif[] = { 0x25, 0xff, 0xfd, 0xff, 0xff };   /* and eax, ~0x200 */
	bt_emit_bytes(e, andif, sizeof andif);
	static const uint8_t orvif[] = { 0x48, 0x0b, 0x05 };      /* or rax, [rip -> vif] */
	bt_emit_bytes(e, orvif, sizeof orvif);
	bt_emit_u32(e, (uint32_t)(vs(BT_VS_VIF) - (bt_emit_pc(e) + 4)));
	bt_emit_u8(e, 0x9d);                                       /* popfq: the guest's flags back */
	mark(x, x->goff, ar, 0, 0);
	restore(x, BT_RSP);
	mark(x, x->goff, a, 0, 0);
	esp_movw(e, true, BT_RAX, (int8_t)-(int)w, w);             /* mov [esp-4], eax (PUSHFW: ax at [esp-2]): may fault (restart) */
	esp_lea(e, -(int32_t)w);
	mark(x, gnext, a, 0, 0);
	restore(x, BT_RAX);
	mark(x, gnext, 0, 0, 0);
}

/* POPFD: as 64-bit POPFQ — the image from [ESP] (ESP += 4) loaded with a
 * real POPFQ at CPL 1 (IF and IOPL ignored: CPL > IOPL), its IF bit into
 * the virtual IF, then the pending-interrupt check. The POPFQ runs on the
 * monitor stack (to_mon_stack) holding the zero-extended image. */
static void xl_popfd(struct xl *x, uint16_t gnext, unsigned w)
{
	struct bt_emit *e = x->e;
	const uint8_t a = 1u << BT_RAX, ar = a | (1u << BT_RSP);
	mark(x, x->goff, 0, 0, 0);
	save(x, BT_RAX);
	mark(x, x->goff, a, 0, 0);
	if (w == 2) {
		static const uint8_t ldw[] = { 0x67, 0x0f, 0xb7, 0x04, 0x24 };   /* movzx eax, word [esp]: may fault (restart) */
		bt_emit_bytes(e, ldw, sizeof ldw);
	} else {
		esp_mov(e, false, BT_RAX, 0);                      /* mov eax, [esp]: may fault (restart) */
	}
	esp_lea(e, (int32_t)w);
	mark(x, x->goff, a, (int8_t)w, 0);
	to_mon_stack(x);                                           /* the guest's ESP + w */
	mark(x, x->goff, ar, (int8_t)w, 0);
	if (w == 2) {
		/* POPFW changes FLAGS (bits 15:0) only: the current RFLAGS pushed
		 * on the monitor stack, its low word replaced by the image (no
		 * flag changes until the AND below) */
		lea_mon_stack(x, 8);
		bt_emit_u8(e, 0x9c);                               /* pushfq */
		static const uint8_t stw[] = { 0x66, 0x89, 0x04, 0x24 };   /* mov [rsp], ax */
		bt_emit_bytes(e, stw, sizeof stw);
	} else {
		bt_emit_store_rip(e, BT_RAX, vs(BT_VS_STK));
		lea_mon_stack(x, 0);
	}
	mark(x, x->goff, ar, (int8_t)w, BT_MAP_ATOMIC);            /* the AND clobbers the guest's flags */
	static const uint8_t andif[] = { 0x25, 0x00, 0x02, 0x00, 0x00 };   /* and eax, 0x200 */
	bt_emit_bytes(e, andif, sizeof andif);
	bt_emit_u8(e, 0x9d);                                       /* popfq: arithmetic flags, DF, AC, ... */
	mark(x, gnext, ar, 0, BT_MAP_ATOMIC);
	bt_emit_store_rip(e, BT_RAX, vs(BT_VS_VIF));
	mark(x, gnext, ar, 0, 0);
	restore(x, BT_RSP);
	mark(x, gnext, a, 0, 0);
	restore(x, BT_RAX);
	pending_check(x, gnext, true);
}

/* ENTER size, level (32-bit): the machine's order of accesses — [ESP-4] =
 * EBP, the level-1 frame pointers copied from [EBP-4k] to [ESP-4-4k], the
 * new frame pointer at [ESP-4-4*level] — all before a register changes
 * (EBP and EAX, the copy register, saved: a fault restarts the
 * instruction), then EBP = ESP - 4, ESP -= 4 + 4*level + size. */
static void xl_enter(struct xl *x, uint16_t size, unsigned level, uint16_t gnext, unsigned w)
{
	struct bt_emit *e = x->e;
	uint8_t sv = 1u << BT_RBP;
	mark(x, x->goff, 0, 0, 0);
	if (level > 1) {
		save(x, BT_RAX);
		mark(x, x->goff, 1u << BT_RAX, 0, 0);
		sv |= 1u << BT_RAX;
	}
	save(x, BT_RBP);
	mark(x, x->goff, sv, 0, 0);
	/* w = 2 (66h): words, and only BP takes the new frame pointer (the
	 * upper half of EBP kept, as the machine's ENTER with operand size 16) */
	const int iw = (int)w;
	esp_movw(e, true, BT_RBP, (int8_t)-iw, w);                 /* mov [esp-4], ebp */
	for (unsigned k = 1; k < level; k++) {
		if (w == 2)
			bt_emit_u8(e, 0x66);
		uint8_t ld[4] = { 0x67, 0x8b, 0x45, (uint8_t)(-iw * (int)k) };   /* mov eax, [ebp-4k] */
		bt_emit_bytes(e, ld, 4);
		esp_movw(e, true, BT_RAX, (int8_t)(-iw - iw * (int)k), w);   /* mov [esp-4-4k], eax */
	}
	if (w == 2)
		bt_emit_u8(e, 0x66);
	uint8_t frame[5] = { 0x67, 0x8d, 0x6c, 0x24, (uint8_t)-iw };   /* lea ebp, [esp-4] */
	bt_emit_bytes(e, frame, sizeof frame);
	if (level)
		esp_movw(e, true, BT_RBP, (int8_t)(-iw - iw * (int)level), w);   /* mov [esp-4-4*level], ebp */
	esp_lea(e, -(int32_t)(w + w * level + size));
	mark(x, gnext, (uint8_t)(sv & ~(1u << BT_RBP)), 0, 0);
	if (level > 1) {
		restore(x, BT_RAX);
		mark(x, gnext, 0, 0, 0);
	}
}

/* MOVS, CMPS, LODS: the string instructions whose source (DS:[ESI]) an
 * FS/GS override applies to. */
static bool is_src_string(unsigned id)
{
	switch (id) {
	case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSD:
	case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSD:
	case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD:
		return true;
	default:
		return false;
	}
}

/* The FS/GS check of a 32-bit register address: [reg32] + the base. */
static void confine_reg32(struct xl *x, unsigned reg, uint8_t seg)
{
	uint8_t fake[2] = { 0x8b, (uint8_t)(reg & 7) };   /* ModRM mod 00: [reg] (not ESP/EBP: no SIB, no disp) */
	struct lay fl = { .seg = seg, .op = 0, .oplen = 1, .modrm = 1, .sib = -1, .disp = 2, .dispsz = 0 };
	confine_mem32(x, fake, &fl);
}

/* Prefixes a stack instruction may carry here: 66h (16-bit operand) and
 * one segment override (which does not change the stack's SS), at most
 * one of each. */
static bool stack_prefixes_ok(const uint8_t *b, const struct lay *l)
{
	int n66 = 0, nseg = 0;
	for (int i = 0; i < l->npfx; i++) {
		if (b[i] == 0x66)
			n66++;
		else if (b[i] == 0x26 || b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x64 || b[i] == 0x65)
			nseg++;
		else
			return false;
	}
	return n66 <= 1 && nseg <= 1;
}

/* PUSH r/m32 (FF /6): the operand loaded (its address with the ESP before
 * the push) into EAX, stored at [ESP-4], then ESP -= 4. POP r/m32 (8F /0):
 * [ESP] loaded into a register the operand's address does not use, ESP
 * += 4, then the store (its address computed with the new ESP, as the
 * machine's); a fault in it restarts the POP with ESP and the register
 * back. w = 2: the 16-bit forms (66h, copied onto the operand's load or
 * store; a 16-bit load keeps the upper half of the register, as the
 * guest's POP r16 does; POP SP: ESP moves, then SP = the value, as the
 * machine). rreg >= 0: PUSH/POP r (50+r, 58+r, prefixed), no ModRM. */
static void xl_push_pop_rm(struct xl *x, const uint8_t *b, const struct lay *l, bool push, uint16_t gnext,
			   unsigned w, int rreg)
{
	struct bt_emit *e = x->e;
	uint8_t m = rreg >= 0 ? (uint8_t)(0xc0 | rreg) : b[l->modrm];
	bool reg = (m >> 6) == 3;
	unsigned rm = m & 7;
	static const uint8_t ld[] = { 0x8b }, st[] = { 0x89 };
	if (push) {
		if (!reg && l->seg && x->env->confine)
			confine_mem32(x, b, l);
		mark(x, x->goff, 0, 0, 0);
		save(x, BT_RAX);
		mark(x, x->goff, 1u << BT_RAX, 0, 0);
		if (reg) {
			uint8_t mv[2] = { 0x89, (uint8_t)(0xc0 | (rm << 3)) };   /* mov eax, r32 */
			bt_emit_bytes(e, mv, 2);
		} else {
			enc_mem32(e, b, l, true, ld, 1, BT_RAX, NULL, 0);         /* mov eax, [ea32] */
		}
		esp_movw(e, true, BT_RAX, (int8_t)-(int)w, w);
		esp_lea(e, -(int32_t)w);
		mark(x, gnext, 1u << BT_RAX, 0, 0);
		restore(x, BT_RAX);
		mark(x, gnext, 0, 0, 0);
		return;
	}
	/* the value's register: not one the destination address uses */
	bool used[8] = { false };
	if (!reg) {
		if (l->sib >= 0) {
			uint8_t sib = b[l->sib];
			if (((sib >> 3) & 7) != 4)
				used[(sib >> 3) & 7] = true;
			if (!((sib & 7) == 5 && (m >> 6) == 0))
				used[sib & 7] = true;
		} else if (!(rm == 5 && (m >> 6) == 0)) {
			used[rm] = true;
		}
	}
	unsigned t = BT_RAX;
	while (used[t])
		t++;   /* RAX, RCX, RDX or RBX: an address uses at most two registers */
	if (!reg && l->seg && x->env->confine) {
		/* POP m with FS/GS: the destination checked before anything moves,
		 * at the address the store will use — computed with ESP + w when
		 * ESP is its base (a SIB base of 4), + the base mirror */
		static const uint8_t lea[] = { 0x8d };
		confine_enter(x);
		enc_mem32(e, b, l, false, lea, 1, BT_RAX, NULL, 0);             /* lea eax, [ea32] */
		if (l->sib >= 0 && (b[l->sib] & 7) == 4) {
			uint8_t adj[3] = { 0x8d, 0x40, (uint8_t)w };                 /* lea eax, [rax + w] (32 bits: wraps) */
			bt_emit_bytes(e, adj, sizeof adj);
		}
		confine_leave(x, l->seg);
	}
	mark(x, x->goff, 0, 0, 0);
	save(x, t);
	mark(x, x->goff, (uint8_t)(1u << t), 0, 0);
	esp_movw(e, false, t, 0, w);                                      /* mov t, [esp] */
	esp_lea(e, (int32_t)w);
	mark(x, x->goff, (uint8_t)(1u << t), (int8_t)w, 0);
	if (reg && rm == t) {                                             /* POP EAX: the load was it */
		mark(x, gnext, 0, 0, 0);
		return;
	}
	if (reg) {
		if (w == 2)
			bt_emit_u8(e, 0x66);
		uint8_t mv[2] = { 0x89, (uint8_t)(0xc0 | (t << 3) | rm) };   /* mov r32, t (POP ESP: ESP = the value) */
		bt_emit_bytes(e, mv, 2);
	} else {
		enc_mem32(e, b, l, true, st, 1, t, NULL, 0);                 /* mov [ea32], t */
	}
	mark(x, gnext, (uint8_t)(1u << t), 0, 0);
	restore(x, t);
	mark(x, gnext, 0, 0, 0);
}

static void xl_insn32(struct xl *x, const cs_insn *ci, const uint8_t *b, int len, uint64_t pc)
{
	struct bt_emit *e = x->e;
	struct lay l;
	layout(b, len, &l, true);
	uint32_t next = (uint32_t)(pc + (uint64_t)len);
	uint16_t gnext = (uint16_t)(x->goff + len);
	uint8_t o0 = l.op < len ? b[l.op] : 0, o1 = l.oplen > 1 ? b[l.op + 1] : 0;
	bool o16 = has_pfx(b, &l, 0x66);
	unsigned cc;
	bool ends;

	if (xl_marker(x, b, len))
		return;
	/* refused by the model's 32-bit decoder: #UD */
	if (l.asz32 /* 67h: 16-bit addressing */ ||
	    (l.oplen == 1 && (o0 == 0x27 || o0 == 0x2f || o0 == 0x37 || o0 == 0x3f || o0 == 0x62 || o0 == 0x63 ||
			      o0 == 0xc4 || o0 == 0xc5 || o0 == 0xce || o0 == 0xd4 || o0 == 0xd5 || o0 == 0xd6 || o0 == 0x82)))
		return ud32(x);
	bool branch = is_jcc(ci->id, &cc) || ci->id == X86_INS_JMP || ci->id == X86_INS_CALL || ci->id == X86_INS_RET ||
		      ci->id == X86_INS_JECXZ || ci->id == X86_INS_JCXZ || ci->id == X86_INS_LOOP ||
		      ci->id == X86_INS_LOOPE || ci->id == X86_INS_LOOPNE;
	if (branch && o16)
		return ud32(x);   /* 66h on a near branch (Intel and AMD disagree): #UD in the model */
	if (is_jcc(ci->id, &cc))
		return xl_jcc(x, (uint32_t)branch_target(ci), next, cc);
	switch (ci->id) {
	case X86_INS_JMP:
		if (ci->detail->x86.operands[0].type == X86_OP_IMM) {
			mark(x, x->goff, 0, 0, 0);
			exit_jmp(x, (uint32_t)branch_target(ci), 0, false);
			x->ended = true;
			return;
		}
		__attribute__((fallthrough));
	case X86_INS_CALL: {
		const cs_x86_op *o = &ci->detail->x86.operands[0];
		if (o->type == X86_OP_IMM) {   /* CALL rel32: push the guest return address */
			mark(x, x->goff, 0, 0, 0);
			push32_imm(x, next);
			mark(x, x->goff, 0, -4, 0);
			exit_jmp(x, (uint32_t)branch_target(ci), 0, false);
			x->ended = true;
			return;
		}
		if (o->type == X86_OP_MEM && l.seg)
			confine_mem32(x, b, &l);
		save2(x);
		if (o->type == X86_OP_REG) {
			uint8_t mov[2] = { 0x89, (uint8_t)(0xc0 | ((b[l.modrm] & 7) << 3)) };   /* mov eax, r32 */
			bt_emit_bytes(e, mov, 2);
		} else {
			static const uint8_t mov[] = { 0x8b };
			enc_mem32(e, b, &l, true, mov, 1, BT_RAX, NULL, 0);                 /* mov eax, [ea32] */
		}
		int8_t delta = 0;
		if (ci->id == X86_INS_CALL) {
			push32_imm(x, next);
			delta = -4;
		}
		lookup32(x, delta);
		return;
	}
	case X86_INS_RET: {
		int64_t n = ci->detail->x86.op_count == 1 && ci->detail->x86.operands[0].type == X86_OP_IMM ?
			    ci->detail->x86.operands[0].imm & 0xffff : 0;
		if (4 + n > 127)
			return untranslated(x);   /* the map's delta is 8 bits */
		save2(x);
		esp_mov(e, false, BT_RAX, 0);   /* mov eax, [esp] */
		esp_lea(e, (int32_t)(4 + n));
		lookup32(x, (int8_t)(4 + n));
		return;
	}
	case X86_INS_JECXZ: case X86_INS_JCXZ: case X86_INS_LOOP: case X86_INS_LOOPE: case X86_INS_LOOPNE:
		if (ci->id == X86_INS_JCXZ)
			return ud32(x);
		return xl_rel8_hop(x, b, len, (uint32_t)branch_target(ci), next, 0x67);   /* ECX, as in 32-bit code */
	case X86_INS_CLI:
	case X86_INS_STI:
		return xl_cli_sti(x, len, ci->id == X86_INS_STI);
	case X86_INS_LEAVE:
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		mark(x, x->goff, 0, 0, 0);
		save(x, BT_RSP);   /* the map gives ESP back while it holds EBP (a delivery there pushes at ESP) */
		mark(x, x->goff, 1u << BT_RSP, 0, 0);
		{
			static const uint8_t mv[] = { 0x89, 0xec };   /* mov esp, ebp */
			bt_emit_bytes(e, mv, 2);
		}
		esp_movw(e, false, BT_RBP, 0, o16 ? 2 : 4);           /* mov ebp, [esp] (66h: mov bp, [esp]) */
		mark(x, gnext, 0, o16 ? -2 : -4, 0);
		esp_lea(e, o16 ? 2 : 4);
		mark(x, gnext, 0, 0, 0);
		return;
	/* PUSHAD/POPAD/PUSHFD/POPFD and their 16-bit forms (66h: PUSHAW,
	 * POPAW, PUSHFW, POPFW); a segment prefix changes nothing (SS is the
	 * stack's) */
	case X86_INS_PUSHAL: case X86_INS_PUSHAW:
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		return xl_pushad(x, gnext, o16 ? 2 : 4);
	case X86_INS_POPAL: case X86_INS_POPAW:
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		return xl_popad(x, gnext, o16 ? 2 : 4);
	case X86_INS_PUSHFD: case X86_INS_PUSHF:
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		return xl_pushfd(x, gnext, o16 ? 2 : 4);
	case X86_INS_POPFD: case X86_INS_POPF:
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		return xl_popfd(x, gnext, o16 ? 2 : 4);
	case X86_INS_ENTER:
		if (!stack_prefixes_ok(b, &l) || len != l.op + 4)
			return untranslated(x);
		return xl_enter(x, (uint16_t)(b[l.op + 1] | b[l.op + 2] << 8), b[l.op + 3] & 31u, gnext, o16 ? 2 : 4);
	default:
		break;
	}
	if (ci->id == X86_INS_INTO)
		return ud32(x);

	/* MOV to/from CR8 does not exist outside 64-bit mode (no REX.R): the
	 * CR callouts below */
	enum bt_callout k = sys_class(ci, b, &l, len, &ends);
	if (k == BT_CO_IO && l.seg && x->env->confine && outs_shift(ci->id) >= 0) {
		/* OUTS from FS/GS: [ESI] + base, and for REP the base itself (as
		 * MOVS/LODS below; the vCPU runtime's emulation applies the base) */
		confine_reg32(x, BT_RSI, l.seg);
		if (has_rep(b, &l)) {
			uint8_t fake[8] = { 0x8b, 0x05, 0, 0, 0, 0 };   /* [disp32 = 0]: the base alone */
			struct lay fl = { .seg = l.seg, .op = 0, .oplen = 1, .modrm = 1, .sib = -1, .disp = 2, .dispsz = 4 };
			confine_mem32(x, fake, &fl);
		}
	}
	if (k != BT_CO_COUNT) {
		mark(x, x->goff, 0, 0, 0);
		callout(x, k, 0);
		mark(x, gnext, 0, 0, 0);
		if (ends)
			x->ended = true;
		return;
	}
	if (ci->id == X86_INS_POP && ((l.oplen == 1 && (o0 == 0x07 || o0 == 0x1f)) ||
				      (l.oplen == 2 && o0 == 0x0f && (o1 == 0xa1 || o1 == 0xa9)))) {
		/* POP ES/DS/FS/GS: a SEG callout, as POP SS (sys_class): the vCPU
		 * runtime pops the selector (2 or 4 bytes) and loads it with
		 * virtual CPL 0's checks; the VMM entry refreshes the FS/GS base
		 * mirrors (bt_sync_out), as BT_SEG_REFRESH does after a copied load */
		if (!stack_prefixes_ok(b, &l))
			return untranslated(x);
		mark(x, x->goff, 0, 0, 0);
		callout(x, BT_CO_SEG, 0);
		mark(x, gnext, 0, 0, 0);
		return;
	}

	/* the 32-bit stack */
	if (l.oplen == 1 && o0 >= 0x50 && o0 <= 0x5f && !o16 && l.npfx == 0) {
		unsigned r = o0 & 7;
		mark(x, x->goff, 0, 0, 0);
		if (o0 < 0x58) {                 /* PUSH r32: store below ESP, then move ESP */
			esp_mov(e, true, r, -4);
			esp_lea(e, -4);
		} else {                         /* POP r32: load, then move ESP (POP ESP: the load only) */
			esp_mov(e, false, r, 0);
			if (r != BT_RSP) {
				mark(x, gnext, 0, -4, 0);
				esp_lea(e, 4);
			}
		}
		mark(x, gnext, 0, 0, 0);
		return;
	}
	if (l.oplen == 1 && (o0 == 0x68 || o0 == 0x6a) && !o16 && l.npfx == 0) {
		uint32_t imm = o0 == 0x68 ? (uint32_t)rd32(b + l.op + 1) : (uint32_t)(int32_t)(int8_t)b[l.op + 1];
		mark(x, x->goff, 0, 0, 0);
		push32_imm(x, imm);
		mark(x, gnext, 0, 0, 0);
		return;
	}
	/* PUSH/POP r with prefixes (66h: r16; a segment override: no effect) */
	if (l.oplen == 1 && o0 >= 0x50 && o0 <= 0x5f && stack_prefixes_ok(b, &l))
		return xl_push_pop_rm(x, b, &l, o0 < 0x58, gnext, o16 ? 2 : 4, o0 & 7);
	/* PUSH imm16 (66 68 iw, 66 6A ib) */
	if (l.oplen == 1 && (o0 == 0x68 || o0 == 0x6a) && o16 && stack_prefixes_ok(b, &l)) {
		uint16_t imm = o0 == 0x68 ? (uint16_t)(b[l.op + 1] | b[l.op + 2] << 8) : (uint16_t)(int16_t)(int8_t)b[l.op + 1];
		uint8_t st[6] = { 0x66, 0x67, 0xc7, 0x44, 0x24, 0xfe };   /* mov word [esp-2], imm16 */
		mark(x, x->goff, 0, 0, 0);
		bt_emit_bytes(e, st, sizeof st);
		bt_emit_u8(e, (uint8_t)imm);
		bt_emit_u8(e, (uint8_t)(imm >> 8));
		esp_lea(e, -2);
		mark(x, gnext, 0, 0, 0);
		return;
	}
	/* PUSH r/m32 (FF /6), POP r/m32 (8F /0), and their 16-bit forms (66h) */
	if (l.oplen == 1 && l.modrm < len && stack_prefixes_ok(b, &l) &&
	    ((o0 == 0xff && ((b[l.modrm] >> 3) & 7) == 6) || (o0 == 0x8f && ((b[l.modrm] >> 3) & 7) == 0)))
		return xl_push_pop_rm(x, b, &l, o0 == 0xff, gnext, o16 ? 2 : 4, -1);
	if ((l.oplen == 1 && (o0 >= 0x50 && o0 <= 0x5f)) || (l.oplen == 1 && (o0 == 0x68 || o0 == 0x6a || o0 == 0x8f)) ||
	    (ci->id == X86_INS_PUSH || ci->id == X86_INS_POP))
		return untranslated(x);   /* 16-bit pushes, prefixed forms, POP m32 with FS/GS */
	if (l.oplen == 1 && (o0 == 0xea || o0 == 0x9a))
		return untranslated(x);   /* (far JMP/CALL are callouts above) */

	/* INC/DEC r32 (r16 with 66h): FF /0, FF /1 */
	if (l.oplen == 1 && o0 >= 0x40 && o0 <= 0x4f) {
		mark(x, x->goff, 0, 0, 0);
		bt_emit_bytes(e, b, (size_t)l.op);
		uint8_t c[2] = { 0xff, (uint8_t)(0xc0 | ((o0 & 8) ? 0x08 : 0) | (o0 & 7)) };
		bt_emit_bytes(e, c, 2);
		return;
	}

	/* string instructions, XLAT, MOV moffs: 67h (ESI/EDI/ECX, 32-bit offsets) */
	bool str = false;
	switch (ci->id) {
	case X86_INS_MOVSB: case X86_INS_MOVSW: case X86_INS_MOVSD:
	case X86_INS_STOSB: case X86_INS_STOSW: case X86_INS_STOSD:
	case X86_INS_LODSB: case X86_INS_LODSW: case X86_INS_LODSD:
	case X86_INS_SCASB: case X86_INS_SCASW: case X86_INS_SCASD:
	case X86_INS_CMPSB: case X86_INS_CMPSW: case X86_INS_CMPSD:
	case X86_INS_XLATB:
		str = true;
		break;
	default:
		break;
	}
	bool moffs = l.oplen == 1 && o0 >= 0xa0 && o0 <= 0xa3;
	if (str || moffs) {
		if (ci->id == X86_INS_MOVSD && l.oplen != 1)
			return untranslated(x);   /* SSE MOVSD (not in the ISA: Capstone's name clash) */
		if (l.seg && x->env->confine) {
			if (moffs) {
				/* the absolute offset as a [disp32] operand for the check */
				uint8_t fake[8] = { 0x8b, 0x05 };
				memcpy(fake + 2, b + l.op + 1, 4);
				struct lay fl = { .seg = l.seg, .op = 0, .oplen = 1, .modrm = 1, .sib = -1, .disp = 2, .dispsz = 4 };
				confine_mem32(x, fake, &fl);
			} else if (ci->id == X86_INS_XLATB) {
				confine_xlat(x, true, l.seg);   /* base + (EBX + AL) mod 2^32 */
			} else if (!has_pfx(b, &l, 0xf3) && !has_pfx(b, &l, 0xf2)) {
				/* the source element ([ESI] + base; the override does not
				 * apply to ES:[EDI], which lies below 4 GiB) */
				if (is_src_string(ci->id))
					confine_reg32(x, BT_RSI, l.seg);
			} else if (is_src_string(ci->id)) {
				/* REP: ESI wraps at 4 GiB, so every source element lies in
				 * [base, base + 4 GiB + 3]; that window meets the hole only
				 * if base is in it (a canonical base below the hole is in the
				 * lower half: the window stays below 2^47 + 2^33). [ESI] +
				 * base and base itself are checked (README: a base in the
				 * hole's last 4 GiB is refused even if ESI would keep every
				 * element above it) */
				confine_reg32(x, BT_RSI, l.seg);
				uint8_t fake[8] = { 0x8b, 0x05, 0, 0, 0, 0 };   /* [disp32 = 0]: the base alone */
				struct lay fl = { .seg = l.seg, .op = 0, .oplen = 1, .modrm = 1, .sib = -1, .disp = 2, .dispsz = 4 };
				confine_mem32(x, fake, &fl);
			}
		}
		mark(x, x->goff, 0, 0, 0);
		bt_emit_bytes(e, b, (size_t)l.npfx);
		bt_emit_u8(e, 0x67);
		bt_emit_bytes(e, b + l.npfx, (size_t)(len - l.npfx));
		return;
	}

	/* ModRM memory operands: 67h and [disp32] in the SIB form */
	bool mem = is_modrm_mem(ci, b, &l, len);
	if (mem) {
		bool noaccess = ci->id == X86_INS_LEA || ci->id == X86_INS_NOP;
		if (l.seg && !noaccess && x->env->confine)
			confine_mem32(x, b, &l);
		mark(x, x->goff, 0, 0, 0);
		enc_mem32(e, b, &l, true, b + l.op, l.oplen, (b[l.modrm] >> 3) & 7, b + l.disp + l.dispsz,
			  len - (l.disp + l.dispsz));
		if (loads_fs_gs(b, &l, len))   /* MOV FS/GS, m16 */
			refresh_bases(x, gnext);
		return;
	}
	/* register and immediate forms: the same bytes mean the same in 64-bit mode */
	mark(x, x->goff, 0, 0, 0);
	bt_emit_bytes(e, b, (size_t)len);
	if (loads_fs_gs(b, &l, len))   /* MOV FS/GS, r16 */
		refresh_bases(x, gnext);
}

enum bt_xl_rc bt_translate(const struct bt_xlate_env *env, uint64_t gva, struct bt_emit *e, struct bt_block *blk)
{
	struct xl x = { .env = env, .e = e, .blk = blk, .start = e->len };
	unsigned max = env->max_insns ? env->max_insns : BT_MAX_INSNS;
	if (max > BT_MAX_INSNS)
		max = BT_MAX_INSNS;
	struct bt_mapent *map = blk->map;
	unsigned cap = blk->map_cap;
	memset(blk, 0, sizeof *blk);
	blk->map = map;
	blk->map_cap = map ? cap : 0;
	blk->gva = gva;
	blk->m32 = env->m32;
	blk->tc_va = bt_emit_pc(e);
	uint64_t pc = gva;
	cs_insn *ci = cs_malloc(env->cs);
	if (!ci) {
		e->full = true;
		return BT_XL_FULL;
	}
	while (!x.ended && blk->ninsns < max && !e->full) {
		uint8_t buf[16];
		size_t got = env->fetch(env->arg, pc, buf, 15);
		if (got == 0) {
			if (blk->ninsns == 0) {
				cs_free(ci, 1);
				return BT_XL_NOCODE;
			}
			break;   /* end the block before the unreadable instruction */
		}
		const uint8_t *p = buf;
		size_t n = got;
		uint64_t a = pc;
		x.goff = (uint16_t)(pc - gva);
		if (!cs_disasm_iter(env->cs, &p, &n, &a, ci)) {
			if (got < 15 && blk->ninsns > 0)
				break;   /* may continue on a page that is not there: let the dispatcher see */
			if (got < 15) {
				cs_free(ci, 1);
				return BT_XL_NOCODE;
			}
			/* not an instruction: #UD where it is */
			mark(&x, x.goff, 0, 0, 0);
			callout(&x, BT_CO_FAULT, 0);
			x.ended = true;
			blk->ninsns++;
			blk->glen = (uint32_t)(pc - gva + 1);
			break;
		}
		int len = ci->size;
		bool shadow = x.sti_shadow;
		x.sti_shadow = false;
		if (env->m32)
			xl_insn32(&x, ci, buf, len, pc);
		else
			xl_insn(&x, ci, buf, len, pc);
		if (shadow && !x.ended && !x.sti_shadow)
			pending_check(&x, (uint16_t)(x.goff + len), true);
		blk->ninsns++;
		pc += (uint64_t)len;
		if (env->m32 && pc > 0xffffffffull)
			break;   /* EIP wraps at 4 GiB: a new block there */
		blk->glen = (uint32_t)(pc - gva);
	}
	cs_free(ci, 1);
	if (!x.ended) {   /* ran to the length bound: continue at the next guest PC */
		mark(&x, (uint16_t)(pc - gva), 0, 0, 0);
		exit_jmp(&x, pc, 0, false);
	}
	/* exit stubs */
	for (unsigned i = 0; i < blk->nexits; i++) {
		mark(&x, (uint16_t)i, 0, 0, BT_MAP_EXIT);
		blk->exit[i].stub_off = (uint32_t)(e->len - x.start);
		bt_emit_callout(e, BT_CO_ID(BT_CO_EXIT, i));
		bt_emit_patch_rel32(e, x.start + blk->exit[i].jmp_off, blk->tc_va + blk->exit[i].stub_off);
	}
	if (e->full)
		return BT_XL_FULL;
	blk->tc_len = (uint32_t)(e->len - x.start);
	return BT_XL_OK;
}

const struct bt_mapent *bt_map_find(const struct bt_block *blk, uint32_t off)
{
	const struct bt_mapent *best = NULL;
	for (unsigned i = 0; i < blk->nmap; i++) {
		if (blk->map[i].tc_off > off)
			break;
		best = &blk->map[i];
	}
	return best;
}
