/* exec_int.c — integer instructions: moves, ALU, shifts, multiply/divide,
 * bit operations, atomics, stack and control flow. Semantics per the SDM
 * Vol. 2; flags that the SDM leaves undefined keep their old value unless
 * noted. Checked against Unicorn (tests/machine/test_diff_unicorn.c).
 */
#include "cpu.h"

static inline int next(struct vl_machine *m, const struct vl_insn *i)
{
	m->cpu.rip += i->len;
	return VL_X_OK;
}

static inline bool canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* Branch to target (64-bit operand size): #GP(0) if non-canonical. */
static inline int jump(struct vl_machine *m, uint64_t target)
{
	if (!canonical(target))
		return X_GP(0);
	m->cpu.rip = target;
	return VL_X_OK;
}
/* Near branch of instruction i: 64-bit mode as jump(); in 32-bit modes
 * (operand size 4) EIP wraps at 4 GiB (CS limit checks are not modelled). */
static inline int jump_i(struct vl_machine *m, const struct vl_insn *i, uint64_t target)
{
	if (__builtin_expect(i->osz == 4, 0)) {
		m->cpu.rip = (uint32_t)target;
		return VL_X_OK;
	}
	return jump(m, target);
}

/* ---- moves ---------------------------------------------------------------- */
int op_mov_eg(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = rm_wr(m, i, i->osz, reg_get(m, i->reg, i->osz, i->rex));
	return rc ? rc : next(m, i);
}

int op_mov_ge(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, v);
	return next(m, i);
}

int op_mov_ei(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = rm_wr(m, i, i->osz, i->imm & sz_mask(i->osz));
	return rc ? rc : next(m, i);
}

int op_mov_ri(struct vl_machine *m, const struct vl_insn *i)
{
	reg_set(m, i->reg, i->osz, i->rex, i->imm);
	return next(m, i);
}

int op_mov_ao(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, va = (i->asz == 4 ? (uint32_t)i->imm : i->imm) + cpu_segbase(m, i);
	int rc = mem_rd(m, va, i->osz, &v, cpu_uacc(m));
	if (rc)
		return rc;
	reg_set(m, VL_RAX, i->osz, i->rex, v);
	return next(m, i);
}

int op_mov_oa(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = (i->asz == 4 ? (uint32_t)i->imm : i->imm) + cpu_segbase(m, i);
	int rc = mem_wr(m, va, i->osz, reg_get(m, VL_RAX, i->osz, i->rex), cpu_uacc(m));
	return rc ? rc : next(m, i);
}

int op_movzx(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->imm2, &v);
	if (rc)
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, v);
	return next(m, i);
}

int op_movsx(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->imm2, &v);
	if (rc)
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, (uint64_t)sx(v, i->imm2));
	return next(m, i);
}

int op_movsxd(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, 4, &v);
	if (rc)
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, (uint64_t)sx(v, 4));
	return next(m, i);
}

int op_lea(struct vl_machine *m, const struct vl_insn *i)
{
	reg_set(m, i->reg, i->osz, i->rex, cpu_eff(m, i));   /* the offset, no segment base */
	return next(m, i);
}

int op_xchg_eg(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t a, b = reg_get(m, i->reg, i->osz, i->rex);
	int rc = rm_rd(m, i, i->osz, &a);
	if (rc || (rc = rm_wr(m, i, i->osz, b)))
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, a);
	return next(m, i);
}

int op_xchg_ar(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t a = reg_get(m, VL_RAX, i->osz, i->rex), b = reg_get(m, i->reg, i->osz, i->rex);
	reg_set(m, VL_RAX, i->osz, i->rex, b);
	reg_set(m, i->reg, i->osz, i->rex, a);
	return next(m, i);
}

int op_cmov(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);   /* the source is read (and may fault) either way */
	if (rc)
		return rc;
	if (cpu_cond(m, i->imm2))
		reg_set(m, i->reg, i->osz, i->rex, v);
	else if (i->osz == 4)
		m->cpu.gpr[i->reg] &= 0xffffffffu;   /* a 32-bit CMOV zero-extends even when false */
	return next(m, i);
}

int op_setcc(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = rm_wr(m, i, 1, cpu_cond(m, i->imm2));
	return rc ? rc : next(m, i);
}

int op_bswap(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v = m->cpu.gpr[i->reg];
	if (i->osz == 8)
		v = __builtin_bswap64(v);
	else if (i->osz == 4)
		v = __builtin_bswap32((uint32_t)v);
	else
		v = v & ~0xffffull;   /* BSWAP r16 is undefined; hardware gives 0 in the low word */
	m->cpu.gpr[i->reg] = v;
	return next(m, i);
}

int op_cbw(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned half = i->osz / 2;
	reg_set(m, VL_RAX, i->osz, i->rex, (uint64_t)sx(m->cpu.gpr[VL_RAX], half));
	return next(m, i);
}

int op_cwd(struct vl_machine *m, const struct vl_insn *i)
{
	bool neg = (m->cpu.gpr[VL_RAX] & sz_sign(i->osz)) != 0;
	reg_set(m, VL_RDX, i->osz, i->rex, neg ? ~0ull : 0);
	return next(m, i);
}

int op_xlat(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, a = m->cpu.gpr[VL_RBX] + (m->cpu.gpr[VL_RAX] & 0xff);
	if (i->asz == 4)
		a = (uint32_t)a;
	int rc = mem_rd(m, a + cpu_segbase(m, i), 1, &v, cpu_uacc(m));
	if (rc)
		return rc;
	reg_set(m, VL_RAX, 1, 0, v);
	return next(m, i);
}

int op_lahf(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t f = cpu_rflags(m);
	reg_set(m, 4, 1, 0, (f & 0xd5) | 2);   /* AH = SF ZF 0 AF 0 PF 1 CF */
	return next(m, i);
}

int op_sahf(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t ah = (m->cpu.gpr[VL_RAX] >> 8) & 0xff;
	flags_set(m, VL_FL_SF | VL_FL_ZF | VL_FL_AF | VL_FL_PF | VL_FL_CF, ah);
	return next(m, i);
}

/* ---- ALU ------------------------------------------------------------------- */
enum alu_kind { K_ADD, K_OR, K_ADC, K_SBB, K_AND, K_SUB, K_XOR, K_CMP, K_TEST };

/* Binary ALU op in the form i->imm2 says (decode.c). Reads, computes,
 * writes the destination (which may fault), THEN sets the flags. */
static inline int alu(struct vl_machine *m, const struct vl_insn *i, enum alu_kind k)
{
	unsigned sz = i->osz;
	uint64_t mask = sz_mask(sz), a, b, r, va = 0;
	unsigned dst;   /* 0 = r/m, 1 = reg, 2 = rAX */
	bool mem = false;
	int rc;

	switch (i->imm2) {
	case 0:
	case 2:
		b = i->imm2 ? i->imm & mask : reg_get(m, i->reg, sz, i->rex);
		if (i->mod == 3) {
			a = reg_get(m, i->rm, sz, i->rex);
		} else {
			mem = true;
			va = cpu_ea(m, i);
			if ((rc = mem_rd(m, va, sz, &a, cpu_uacc(m))))
				return rc;
		}
		dst = 0;
		break;
	case 1:
		a = reg_get(m, i->reg, sz, i->rex);
		if ((rc = rm_rd(m, i, sz, &b)))
			return rc;
		dst = 1;
		break;
	default:
		a = reg_get(m, VL_RAX, sz, i->rex);
		b = i->imm & mask;
		dst = 2;
		break;
	}
	unsigned lf;
	uint64_t cin = 0;
	switch (k) {
	case K_ADD: r = a + b; lf = LF_ADD; break;
	case K_ADC: cin = cpu_cf(m); r = a + b + cin; lf = LF_ADC; break;
	case K_SUB: case K_CMP: r = a - b; lf = LF_SUB; break;
	case K_SBB: cin = cpu_cf(m); r = a - b - cin; lf = LF_SBB; break;
	case K_OR: r = a | b; lf = LF_LOGIC; break;
	case K_AND: case K_TEST: r = a & b; lf = LF_LOGIC; break;
	default: r = a ^ b; lf = LF_LOGIC; break;
	}
	r &= mask;
	if (k != K_CMP && k != K_TEST) {
		if (dst == 0) {
			if (mem) {
				if ((rc = mem_wr(m, va, sz, r, cpu_uacc(m))))
					return rc;
			} else {
				reg_set(m, i->rm, sz, i->rex, r);
			}
		} else {
			reg_set(m, dst == 1 ? i->reg : VL_RAX, sz, i->rex, r);
		}
	}
	if (lf == LF_ADC || lf == LF_SBB) {
		/* carry-in folded into src2 is not enough for CF/OF; keep it in rflags.CF */
		flags_set(m, VL_FL_CF, cin ? VL_FL_CF : 0);
	}
	lf_set(m, lf, sz, a, b, r);
	return next(m, i);
}

int op_add(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_ADD); }
int op_or(struct vl_machine *m, const struct vl_insn *i)  { return alu(m, i, K_OR); }
int op_adc(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_ADC); }
int op_sbb(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_SBB); }
int op_and(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_AND); }
int op_sub(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_SUB); }
int op_xor(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_XOR); }
int op_cmp(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_CMP); }
int op_test(struct vl_machine *m, const struct vl_insn *i) { return alu(m, i, K_TEST); }

/* Unary read-modify-write on the r/m operand. */
static inline int rmw_rd(struct vl_machine *m, const struct vl_insn *i, uint64_t *va, uint64_t *v)
{
	if (i->mod == 3) {
		*v = reg_get(m, i->rm, i->osz, i->rex);
		return 0;
	}
	*va = cpu_ea(m, i);
	return mem_rd(m, *va, i->osz, v, cpu_uacc(m));
}
static inline int rmw_wr(struct vl_machine *m, const struct vl_insn *i, uint64_t va, uint64_t v)
{
	if (i->mod == 3) {
		reg_set(m, i->rm, i->osz, i->rex, v);
		return 0;
	}
	return mem_wr(m, va, i->osz, v, cpu_uacc(m));
}

static int incdec(struct vl_machine *m, const struct vl_insn *i, bool inc)
{
	uint64_t va = 0, a, r;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc)
		return rc;
	r = (inc ? a + 1 : a - 1) & sz_mask(i->osz);
	if ((rc = rmw_wr(m, i, va, r)))
		return rc;
	bool cf = cpu_cf(m);   /* INC/DEC leave CF alone */
	flags_set(m, VL_FL_CF, cf ? VL_FL_CF : 0);
	lf_set(m, inc ? LF_INC : LF_DEC, i->osz, a, 1, r);
	return next(m, i);
}
int op_inc(struct vl_machine *m, const struct vl_insn *i) { return incdec(m, i, true); }
int op_dec(struct vl_machine *m, const struct vl_insn *i) { return incdec(m, i, false); }

int op_not(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = 0, a;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc || (rc = rmw_wr(m, i, va, ~a & sz_mask(i->osz))))
		return rc;
	return next(m, i);
}

int op_neg(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = 0, a, r;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc)
		return rc;
	r = (0 - a) & sz_mask(i->osz);
	if ((rc = rmw_wr(m, i, va, r)))
		return rc;
	lf_set(m, LF_SUB, i->osz, 0, a, r);
	return next(m, i);
}

/* ---- multiply / divide ----------------------------------------------------- */
static inline uint64_t parity_flags(uint64_t r, unsigned sz)
{
	uint64_t f = 0;
	if (!(r & sz_mask(sz)))
		f |= VL_FL_ZF;
	if (r & sz_sign(sz))
		f |= VL_FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= VL_FL_PF;
	return f;
}

int op_mul(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t b, lo, hi;
	int rc = rm_rd(m, i, sz, &b);
	if (rc)
		return rc;
	uint64_t a = reg_get(m, VL_RAX, sz, i->rex);
	if (sz == 8) {
		unsigned __int128 p = (unsigned __int128)a * b;
		lo = (uint64_t)p;
		hi = (uint64_t)(p >> 64);
	} else {
		uint64_t p = a * b;
		lo = p & sz_mask(sz);
		hi = (p >> (8 * sz)) & sz_mask(sz);
	}
	if (sz == 1) {
		reg_set(m, VL_RAX, 2, 0, lo | hi << 8);
	} else {
		reg_set(m, VL_RAX, sz, i->rex, lo);
		reg_set(m, VL_RDX, sz, i->rex, hi);
	}
	/* CF = OF = high half non-zero; SF ZF PF from the low half (undefined in the
	 * SDM; this is what current Intel parts and QEMU produce), AF cleared */
	uint64_t f = parity_flags(lo, sz) | (hi ? VL_FL_CF | VL_FL_OF : 0);
	flags_set(m, FL_ARITH, f);
	return next(m, i);
}

static int imul_flags(struct vl_machine *m, unsigned sz, uint64_t lo, bool overflow)
{
	flags_set(m, FL_ARITH, parity_flags(lo, sz) | (overflow ? VL_FL_CF | VL_FL_OF : 0));
	return 0;
}

/* Signed product of a and b at size sz: low part, and whether it overflowed. */
static uint64_t imul_sz(uint64_t a, uint64_t b, unsigned sz, uint64_t *hi, bool *ovf)
{
	if (sz == 8) {
		__int128 p = (__int128)(int64_t)a * (int64_t)b;
		*hi = (uint64_t)((unsigned __int128)p >> 64);
		*ovf = p != (__int128)(int64_t)p;
		return (uint64_t)p;
	}
	int64_t p = sx(a, sz) * sx(b, sz);
	*hi = ((uint64_t)p >> (8 * sz)) & sz_mask(sz);
	*ovf = p != sx((uint64_t)p, sz);
	return (uint64_t)p & sz_mask(sz);
}

int op_imul1(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t b, hi;
	bool ovf;
	int rc = rm_rd(m, i, sz, &b);
	if (rc)
		return rc;
	uint64_t lo = imul_sz(reg_get(m, VL_RAX, sz, i->rex), b, sz, &hi, &ovf);
	if (sz == 1) {
		reg_set(m, VL_RAX, 2, 0, lo | hi << 8);
	} else {
		reg_set(m, VL_RAX, sz, i->rex, lo);
		reg_set(m, VL_RDX, sz, i->rex, hi);
	}
	imul_flags(m, sz, lo, ovf);
	return next(m, i);
}

int op_imul2(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t b, hi;
	bool ovf;
	int rc = rm_rd(m, i, i->osz, &b);
	if (rc)
		return rc;
	uint64_t lo = imul_sz(reg_get(m, i->reg, i->osz, i->rex), b, i->osz, &hi, &ovf);
	reg_set(m, i->reg, i->osz, i->rex, lo);
	imul_flags(m, i->osz, lo, ovf);
	return next(m, i);
}

int op_imul3(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t a, hi;
	bool ovf;
	int rc = rm_rd(m, i, i->osz, &a);
	if (rc)
		return rc;
	uint64_t lo = imul_sz(a, i->imm & sz_mask(i->osz), i->osz, &hi, &ovf);
	reg_set(m, i->reg, i->osz, i->rex, lo);
	imul_flags(m, i->osz, lo, ovf);
	return next(m, i);
}

int op_div(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t d;
	int rc = rm_rd(m, i, sz, &d);
	if (rc)
		return rc;
	if (!d)
		return X_DE();
	if (sz == 8) {
		unsigned __int128 n = ((unsigned __int128)m->cpu.gpr[VL_RDX] << 64) | m->cpu.gpr[VL_RAX];
		unsigned __int128 q = n / d;
		if (q >> 64)
			return X_DE();
		m->cpu.gpr[VL_RAX] = (uint64_t)q;
		m->cpu.gpr[VL_RDX] = (uint64_t)(n % d);
	} else {
		uint64_t n = sz == 1 ? (m->cpu.gpr[VL_RAX] & 0xffff)
				     : (reg_get(m, VL_RDX, sz, i->rex) << (8 * sz)) | reg_get(m, VL_RAX, sz, i->rex);
		uint64_t q = n / d, r = n % d;
		if (q > sz_mask(sz))
			return X_DE();
		if (sz == 1) {
			reg_set(m, VL_RAX, 2, 0, q | r << 8);
		} else {
			reg_set(m, VL_RAX, sz, i->rex, q);
			reg_set(m, VL_RDX, sz, i->rex, r);
		}
	}
	return next(m, i);   /* flags undefined: unchanged */
}

int op_idiv(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t du;
	int rc = rm_rd(m, i, sz, &du);
	if (rc)
		return rc;
	if (!du)
		return X_DE();
	if (sz == 8) {
		__int128 n = (__int128)(((unsigned __int128)m->cpu.gpr[VL_RDX] << 64) | m->cpu.gpr[VL_RAX]);
		__int128 d = (int64_t)du;
		if (d == -1 && m->cpu.gpr[VL_RDX] == (1ull << 63) && m->cpu.gpr[VL_RAX] == 0)
			return X_DE();   /* -2^127 / -1 overflows */
		__int128 q = n / d, r = n % d;
		if (q != (__int128)(int64_t)q)
			return X_DE();
		m->cpu.gpr[VL_RAX] = (uint64_t)q;
		m->cpu.gpr[VL_RDX] = (uint64_t)r;
	} else {
		int64_t n = sz == 1 ? sx(m->cpu.gpr[VL_RAX], 2)
				    : (int64_t)((reg_get(m, VL_RDX, sz, i->rex) << (8 * sz)) | reg_get(m, VL_RAX, sz, i->rex));
		if (sz == 4)
			n = (int64_t)((m->cpu.gpr[VL_RDX] << 32) | (m->cpu.gpr[VL_RAX] & 0xffffffffu));
		else if (sz == 2)
			n = sx((reg_get(m, VL_RDX, 2, 0) << 16) | reg_get(m, VL_RAX, 2, 0), 4);
		int64_t d = sx(du, sz);
		if (d == -1 && n == INT64_MIN)
			return X_DE();   /* 32-bit: -2^63 / -1 overflows (and would trap on the host) */
		int64_t q = n / d, r = n % d;
		if (q != sx((uint64_t)q, sz))
			return X_DE();
		if (sz == 1) {
			reg_set(m, VL_RAX, 2, 0, ((uint64_t)q & 0xff) | ((uint64_t)r & 0xff) << 8);
		} else {
			reg_set(m, VL_RAX, sz, i->rex, (uint64_t)q);
			reg_set(m, VL_RDX, sz, i->rex, (uint64_t)r);
		}
	}
	return next(m, i);
}

/* ---- shifts and rotates ---------------------------------------------------- */
int op_shift(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz, bits = 8 * sz;
	uint64_t mask = sz_mask(sz), sign = sz_sign(sz), va = 0, a, r;
	unsigned cnt = i->imm2 == 1 ? 1 : i->imm2 == 2 ? (unsigned)m->cpu.gpr[VL_RCX] : (unsigned)i->imm;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc)
		return rc;
	cnt &= sz == 8 ? 63 : 31;
	if (!cnt) {
		/* count 0: no flag changes, but a 32-bit register destination is still
		 * written and so zero-extended (Bochs, QEMU; SDM Vol. 1 3.4.1.1) */
		if (sz == 4 && i->mod == 3)
			reg_set(m, i->rm, 4, i->rex, a);
		return next(m, i);
	}
	if (i->op == VL_OP_SHL || i->op == VL_OP_SHR || i->op == VL_OP_SAR) {
		/* the common shifts: result now, flags lazily (cpu_flags_compute) */
		unsigned lf;
		if (i->op == VL_OP_SHL) {
			r = cnt < bits ? (a << cnt) & mask : 0;
			lf = LF_SHL;
		} else if (i->op == VL_OP_SHR) {
			r = cnt < bits ? a >> cnt : 0;
			lf = LF_SHR;
		} else {
			r = (uint64_t)(sx(a, sz) >> (cnt < bits ? cnt : bits - 1)) & mask;
			lf = LF_SAR;
		}
		if ((rc = rmw_wr(m, i, va, r)))
			return rc;
		lf_set(m, lf, sz, a, cnt, r);
		return next(m, i);
	}
	bool cf, of;
	uint64_t f = 0, fmask = FL_ARITH;
	switch (i->op) {
	case VL_OP_SHL:
		r = cnt < bits ? (a << cnt) & mask : 0;
		cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
		of = ((r & sign) != 0) ^ cf;
		f = parity_flags(r, sz);
		break;
	case VL_OP_SHR:
		r = cnt < bits ? a >> cnt : 0;
		cf = cnt <= bits ? (a >> (cnt - 1)) & 1 : 0;
		of = (a & sign) != 0;
		f = parity_flags(r, sz);
		break;
	case VL_OP_SAR: {
		int64_t s = sx(a, sz);
		unsigned c = cnt < bits ? cnt : bits - 1;
		r = (uint64_t)(s >> c) & mask;
		cf = (uint64_t)(s >> (cnt - 1 < bits ? cnt - 1 : bits - 1)) & 1;
		of = false;
		f = parity_flags(r, sz);
		break;
	}
	case VL_OP_ROL: {
		unsigned c = cnt % bits;
		r = c ? ((a << c) | (a >> (bits - c))) & mask : a;
		cf = r & 1;
		of = ((r & sign) != 0) ^ cf;
		fmask = VL_FL_CF | VL_FL_OF;
		break;
	}
	case VL_OP_ROR: {
		unsigned c = cnt % bits;
		r = c ? ((a >> c) | (a << (bits - c))) & mask : a;
		cf = (r & sign) != 0;
		of = ((r ^ (r << 1)) & sign) != 0;
		fmask = VL_FL_CF | VL_FL_OF;
		break;
	}
	case VL_OP_RCL:
	case VL_OP_RCR: {
		unsigned c = sz < 4 ? cnt % (bits + 1) : cnt;
		unsigned __int128 w = ((unsigned __int128)(cpu_cf(m) ? 1 : 0) << bits) | a;   /* CF:a, bits+1 wide */
		unsigned __int128 wm = (((unsigned __int128)1) << (bits + 1)) - 1;
		if (c) {
			if (i->op == VL_OP_RCL)
				w = ((w << c) | (w >> (bits + 1 - c))) & wm;
			else
				w = ((w >> c) | (w << (bits + 1 - c))) & wm;
		}
		r = (uint64_t)w & mask;
		cf = (w >> bits) & 1;
		if (i->op == VL_OP_RCL)
			of = ((r & sign) != 0) ^ cf;
		else
			of = ((r ^ (r << 1)) & sign) != 0;
		fmask = VL_FL_CF | VL_FL_OF;
		break;
	}
	default:
		return X_UD();
	}
	if ((rc = rmw_wr(m, i, va, r)))
		return rc;
	f |= (cf ? VL_FL_CF : 0) | (of ? VL_FL_OF : 0);
	flags_set(m, fmask, f);
	return next(m, i);
}

static int shxd(struct vl_machine *m, const struct vl_insn *i, bool left)
{
	unsigned sz = i->osz, bits = 8 * sz;
	uint64_t mask = sz_mask(sz), sign = sz_sign(sz), va = 0, a, r;
	uint64_t b = reg_get(m, i->reg, sz, i->rex);
	unsigned cnt = i->imm2 == 2 ? (unsigned)m->cpu.gpr[VL_RCX] : (unsigned)i->imm;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc)
		return rc;
	cnt &= sz == 8 ? 63 : 31;
	if (!cnt) {
		if (sz == 4 && i->mod == 3)
			reg_set(m, i->rm, 4, i->rex, a);   /* as op_shift: the 32-bit write zero-extends */
		return next(m, i);
	}
	bool cf;
	if (sz == 2) {
		/* counts above 16 are undefined in the SDM; this continues the A:B:A pattern */
		if (left) {
			unsigned __int128 w = (unsigned __int128)a << 32 | (unsigned __int128)b << 16 | a;
			r = (uint64_t)((w << cnt) >> 32) & mask;
			cf = (uint64_t)(w >> (48 - cnt)) & 1;
		} else {
			unsigned __int128 w = (unsigned __int128)a << 32 | (unsigned __int128)b << 16 | a;
			r = (uint64_t)(w >> cnt) & mask;
			cf = (uint64_t)(w >> (cnt - 1)) & 1;
		}
	} else if (left) {
		unsigned __int128 w = ((unsigned __int128)a << bits) | b;
		r = (uint64_t)(w >> (bits - cnt)) & mask;
		cf = (uint64_t)(w >> (2 * bits - cnt)) & 1;
	} else {
		unsigned __int128 w = ((unsigned __int128)b << bits) | a;
		r = (uint64_t)(w >> cnt) & mask;
		cf = (uint64_t)(w >> (cnt - 1)) & 1;
	}
	if ((rc = rmw_wr(m, i, va, r)))
		return rc;
	bool of = ((r ^ a) & sign) != 0;   /* sign changed (defined for count 1) */
	flags_set(m, FL_ARITH, parity_flags(r, sz) | (cf ? VL_FL_CF : 0) | (of ? VL_FL_OF : 0));
	return next(m, i);
}
int op_shld(struct vl_machine *m, const struct vl_insn *i) { return shxd(m, i, true); }
int op_shrd(struct vl_machine *m, const struct vl_insn *i) { return shxd(m, i, false); }

/* ---- bit operations -------------------------------------------------------- */
int op_bt(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz, bits = 8 * sz;
	uint64_t off, va = 0, a, r;
	int rc;
	/* the decoder marks the imm8 forms (0F BA group 8) with imm2 = 0x80; the
	 * register forms address memory beyond the operand by the signed offset */
	if (i->imm2 & 0x80)
		off = i->imm & (bits - 1);
	else
		off = reg_get(m, i->reg, sz, i->rex);
	if (i->mod == 3) {
		a = reg_get(m, i->rm, sz, i->rex);
		off &= bits - 1;
	} else {
		va = cpu_ea(m, i);
		if (!(i->imm2 & 0x80)) {
			int64_t so = sx(off, sz);
			int64_t word = so >= 0 ? so / (int64_t)bits : -((-so + (int64_t)bits - 1) / (int64_t)bits);
			va += (uint64_t)(word * (int64_t)sz);
			off = (uint64_t)(so - word * (int64_t)bits);
		}
		if ((rc = mem_rd(m, va, sz, &a, cpu_uacc(m))))
			return rc;
	}
	bool bit = (a >> off) & 1;
	switch (i->op) {
	case VL_OP_BTS: r = a | (1ull << off); break;
	case VL_OP_BTR: r = a & ~(1ull << off); break;
	case VL_OP_BTC: r = a ^ (1ull << off); break;
	default: r = a; break;
	}
	if (i->op != VL_OP_BT) {
		if (i->mod == 3)
			reg_set(m, i->rm, sz, i->rex, r);
		else if ((rc = mem_wr(m, va, sz, r, cpu_uacc(m))))
			return rc;
	}
	flags_set(m, VL_FL_CF, bit ? VL_FL_CF : 0);
	return next(m, i);
}

/* BSF/BSR with a zero source: the SDM leaves the destination undefined.
 * AMD documents it unchanged; Intel parts (and QEMU) write it back, so a
 * 32-bit destination has its upper half cleared. The profile's vendor picks. */
static void bsx_zero(struct vl_machine *m, const struct vl_insn *i)
{
	if (i->osz == 4 && m->priv->cpu.vendor_intel)
		m->cpu.gpr[i->reg] &= 0xffffffffu;
}

int op_bsf(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	if (v)
		reg_set(m, i->reg, i->osz, i->rex, (uint64_t)__builtin_ctzll(v));
	else
		bsx_zero(m, i);
	flags_set(m, VL_FL_ZF, v ? 0 : VL_FL_ZF);
	return next(m, i);
}

int op_bsr(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	if (v)
		reg_set(m, i->reg, i->osz, i->rex, (uint64_t)(63 - __builtin_clzll(v)));
	else
		bsx_zero(m, i);
	flags_set(m, VL_FL_ZF, v ? 0 : VL_FL_ZF);
	return next(m, i);
}

int op_tzcnt(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, r;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	r = v ? (uint64_t)__builtin_ctzll(v) : 8u * i->osz;
	reg_set(m, i->reg, i->osz, i->rex, r);
	flags_set(m, VL_FL_CF | VL_FL_ZF, (v ? 0 : VL_FL_CF) | (r ? 0 : VL_FL_ZF));
	return next(m, i);
}

int op_lzcnt(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, r;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	r = v ? (uint64_t)(__builtin_clzll(v) - (64 - 8 * i->osz)) : 8u * i->osz;
	reg_set(m, i->reg, i->osz, i->rex, r);
	flags_set(m, VL_FL_CF | VL_FL_ZF, (v ? 0 : VL_FL_CF) | (r ? 0 : VL_FL_ZF));
	return next(m, i);
}

int op_popcnt(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc)
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, (uint64_t)__builtin_popcountll(v));
	flags_set(m, FL_ARITH, v ? 0 : VL_FL_ZF);
	return next(m, i);
}

int op_xadd(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = 0, a, b = reg_get(m, i->reg, i->osz, i->rex), r;
	int rc = rmw_rd(m, i, &va, &a);
	if (rc)
		return rc;
	r = (a + b) & sz_mask(i->osz);
	if (i->mod != 3 && (rc = mem_wr(m, va, i->osz, r, cpu_uacc(m))))
		return rc;
	reg_set(m, i->reg, i->osz, i->rex, a);
	if (i->mod == 3)
		reg_set(m, i->rm, i->osz, i->rex, r);
	lf_set(m, LF_ADD, i->osz, a, b, r);
	return next(m, i);
}

int op_cmpxchg(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz;
	uint64_t va = 0, d, acc = reg_get(m, VL_RAX, sz, i->rex), src = reg_get(m, i->reg, sz, i->rex);
	int rc = rmw_rd(m, i, &va, &d);
	if (rc)
		return rc;
	bool eq = d == acc;
	/* the destination is always written (with its old value when unequal) */
	if ((rc = rmw_wr(m, i, va, eq ? src : d)))
		return rc;
	if (!eq)
		reg_set(m, VL_RAX, sz, i->rex, d);
	lf_set(m, LF_SUB, sz, acc, d, (acc - d) & sz_mask(sz));
	return next(m, i);
}

int op_cmpxchg16b(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t va = cpu_ea(m, i), lo, hi;
	unsigned acc = cpu_uacc(m);
	int rc;
	if (i->osz == 8) {
		if (va & 15)
			return X_GP(0);
		if ((rc = mem_rd(m, va, 8, &lo, acc)) || (rc = mem_rd(m, va + 8, 8, &hi, acc)) ||
		    (rc = mem_probe_w(m, va, 16, acc)))
			return rc;
		bool eq = lo == m->cpu.gpr[VL_RAX] && hi == m->cpu.gpr[VL_RDX];
		uint64_t nlo = eq ? m->cpu.gpr[VL_RBX] : lo, nhi = eq ? m->cpu.gpr[VL_RCX] : hi;
		if ((rc = mem_wr(m, va, 8, nlo, acc)) || (rc = mem_wr(m, va + 8, 8, nhi, acc)))
			return rc;
		if (!eq) {
			m->cpu.gpr[VL_RAX] = lo;
			m->cpu.gpr[VL_RDX] = hi;
		}
		flags_set(m, VL_FL_ZF, eq ? VL_FL_ZF : 0);
	} else {
		uint64_t v;
		if ((rc = mem_rd(m, va, 8, &v, acc)))
			return rc;
		uint64_t cmp = (m->cpu.gpr[VL_RDX] << 32) | (uint32_t)m->cpu.gpr[VL_RAX];
		bool eq = v == cmp;
		uint64_t nv = eq ? (m->cpu.gpr[VL_RCX] << 32) | (uint32_t)m->cpu.gpr[VL_RBX] : v;
		if ((rc = mem_wr(m, va, 8, nv, acc)))
			return rc;
		if (!eq) {
			m->cpu.gpr[VL_RAX] = (uint32_t)v;
			m->cpu.gpr[VL_RDX] = v >> 32;
		}
		flags_set(m, VL_FL_ZF, eq ? VL_FL_ZF : 0);
	}
	return next(m, i);
}

int op_flagop(struct vl_machine *m, const struct vl_insn *i)
{
	switch (i->op) {
	case VL_OP_CLC: flags_set(m, VL_FL_CF, 0); break;
	case VL_OP_STC: flags_set(m, VL_FL_CF, VL_FL_CF); break;
	case VL_OP_CMC: flags_set(m, VL_FL_CF, cpu_cf(m) ? 0 : VL_FL_CF); break;
	case VL_OP_CLD: m->cpu.rflags &= ~VL_FL_DF; break;
	case VL_OP_STD: m->cpu.rflags |= VL_FL_DF; break;
	}
	return next(m, i);
}

/* ---- stack ------------------------------------------------------------------ */
int op_push_r(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = push(m, i->osz, reg_get(m, i->reg, i->osz, i->rex));
	return rc ? rc : next(m, i);
}

int op_pop_r(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = pop_peek(m, i->osz, 0, &v);
	if (rc)
		return rc;
	m->cpu.gpr[VL_RSP] += i->osz;
	reg_set(m, i->reg, i->osz, i->rex, v);   /* POP RSP: the popped value wins */
	return next(m, i);
}

int op_push_i(struct vl_machine *m, const struct vl_insn *i)
{
	int rc = push(m, i->osz, i->imm & sz_mask(i->osz));
	return rc ? rc : next(m, i);
}

int op_push_e(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v;
	int rc = rm_rd(m, i, i->osz, &v);
	if (rc || (rc = push(m, i->osz, v)))
		return rc;
	return next(m, i);
}

int op_pop_e(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, old = m->cpu.gpr[VL_RSP];
	int rc = pop_peek(m, i->osz, 0, &v);
	if (rc)
		return rc;
	/* the destination address is computed with the incremented RSP */
	m->cpu.gpr[VL_RSP] += i->osz;
	if ((rc = rm_wr(m, i, i->osz, v))) {
		m->cpu.gpr[VL_RSP] = old;
		return rc;
	}
	return next(m, i);
}

int op_enter(struct vl_machine *m, const struct vl_insn *i)
{
	unsigned sz = i->osz, level = i->imm2 & 31;
	uint64_t rsp0 = m->cpu.gpr[VL_RSP], rbp0 = m->cpu.gpr[VL_RBP];
	int rc = push(m, sz, reg_get(m, VL_RBP, sz, 0));
	if (rc)
		return rc;
	uint64_t frame = m->cpu.gpr[VL_RSP];
	for (unsigned l = 1; l < level; l++) {
		uint64_t v;
		if ((rc = mem_rd(m, rbp0 - (uint64_t)l * sz, sz, &v, cpu_uacc(m))) || (rc = push(m, sz, v)))
			goto undo;
	}
	if (level && (rc = push(m, sz, frame)))
		goto undo;
	reg_set(m, VL_RBP, sz, 0, frame);
	m->cpu.gpr[VL_RSP] -= i->imm & 0xffff;
	return next(m, i);
undo:
	m->cpu.gpr[VL_RSP] = rsp0;
	return rc;
}

int op_leave(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t v, old = m->cpu.gpr[VL_RSP];
	m->cpu.gpr[VL_RSP] = m->cpu.gpr[VL_RBP];
	int rc = pop_peek(m, i->osz, 0, &v);
	if (rc) {
		m->cpu.gpr[VL_RSP] = old;
		return rc;
	}
	m->cpu.gpr[VL_RSP] += i->osz;
	reg_set(m, VL_RBP, i->osz, 0, v);
	return next(m, i);
}

/* ---- control flow ------------------------------------------------------------ */
int op_jmp(struct vl_machine *m, const struct vl_insn *i)
{
	return jump_i(m, i, m->cpu.rip + i->len + i->imm);
}

int op_jmp_e(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t t;
	int rc = rm_rd(m, i, i->osz, &t);
	return rc ? rc : jump_i(m, i, t);
}

int op_jcc(struct vl_machine *m, const struct vl_insn *i)
{
	if (cpu_cond(m, i->imm2))
		return jump_i(m, i, m->cpu.rip + i->len + i->imm);
	return next(m, i);
}

int op_jrcxz(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t c = i->asz == 4 ? (uint32_t)m->cpu.gpr[VL_RCX] : m->cpu.gpr[VL_RCX];
	if (!c)
		return jump_i(m, i, m->cpu.rip + i->len + i->imm);
	return next(m, i);
}

int op_loop(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t c = m->cpu.gpr[VL_RCX] - 1;
	if (i->asz == 4)
		c = (uint32_t)c;
	bool take = c != 0;
	if (i->op == VL_OP_LOOPE)
		take = take && cpu_cond(m, 4);
	else if (i->op == VL_OP_LOOPNE)
		take = take && cpu_cond(m, 5);
	uint64_t t = m->cpu.rip + i->len + i->imm;
	if (i->osz == 4)
		t = (uint32_t)t;
	if (take && !canonical(t))
		return X_GP(0);
	if (i->asz == 4)
		m->cpu.gpr[VL_RCX] = c;
	else
		m->cpu.gpr[VL_RCX] = c;
	if (take)
		m->cpu.rip = t;
	else
		m->cpu.rip += i->len;
	return VL_X_OK;
}

int op_call(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t ret = m->cpu.rip + i->len, t = ret + i->imm;
	if (i->osz == 4)
		t = (uint32_t)t;
	if (!canonical(t))
		return X_GP(0);
	int rc = push(m, i->osz, ret);
	if (rc)
		return rc;
	m->cpu.rip = t;
	return VL_X_OK;
}

int op_call_e(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t t;
	int rc = rm_rd(m, i, i->osz, &t);
	if (rc)
		return rc;
	if (!canonical(t))
		return X_GP(0);
	if ((rc = push(m, i->osz, m->cpu.rip + i->len)))
		return rc;
	m->cpu.rip = t;
	return VL_X_OK;
}

int op_ret(struct vl_machine *m, const struct vl_insn *i)
{
	uint64_t t;
	int rc = pop_peek(m, i->osz, 0, &t);
	if (rc)
		return rc;
	if (!canonical(t))
		return X_GP(0);
	m->cpu.gpr[VL_RSP] += i->osz + (i->imm & 0xffff);
	m->cpu.rip = t;
	return VL_X_OK;
}

int op_nop(struct vl_machine *m, const struct vl_insn *i)
{
	return next(m, i);
}

int op_ud(struct vl_machine *m, const struct vl_insn *i)
{
	return X_UD();
}
