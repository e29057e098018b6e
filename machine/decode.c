/* decode.c — x86-64 decoder for the model's ISA: prefixes, REX, the
 * one-byte and 0F opcode maps (with ModRM.reg groups), ModRM/SIB/disp and
 * immediates. Pure: no machine state. Op facts (handler, cost class,
 * sensitive class, flags) come from ops.def; this file only says which
 * encoding is which op (SDM Vol. 2, Appendix A opcode maps).
 */
#include <string.h>

#include "virtlab/machine.h"
#include "decode.h"
#include "virtlab/decode.h"

/* Handlers (exec_*.c), declared from the one table. */
#define OP(id, mn, fn, cc, sens, fl) int fn(struct vl_machine *m, const struct vl_insn *i);
#include "ops.def"
#undef OP

struct opinfo {
	vl_exec_fn fn;
	const char *name;
	uint8_t cclass, sens, opf;
};
#define VL_SENS_NONE VL_SENS_COUNT
static const struct opinfo opinfo[VL_OP_COUNT] = {
#define OP(id, mn, f, cc, s, fl) [VL_OP_##id] = { f, mn, VL_CC_##cc, VL_SENS_##s, fl },
#include "ops.def"
#undef OP
};

const char *vl_op_name(unsigned op)
{
	return op < VL_OP_COUNT ? opinfo[op].name : "?";
}

const char *const vl_cc_name[16] = { "o", "no", "b", "ae", "e", "ne", "be", "a",
				     "s", "ns", "p", "np", "l", "ge", "le", "g" };

/* ---- the maps ------------------------------------------------------------- */
enum imm_kind { I_NONE, I_B, I_W, I_Z, I_V, I_JB, I_JZ, I_ENTER, I_MOFFS, I_UB, I_PTR /* ptr16:16/32 */ };

#define D_M     0x01u   /* ModRM follows */
#define D_BYTE  0x02u   /* 8-bit operand */
#define D_D64   0x04u   /* default operand size 64 (66h gives 16) */
#define D_F64   0x08u   /* operand size 64; 66h refused (near branches) */
#define D_GRP   0x10u   /* op = group number: ModRM.reg selects */
#define D_MEM   0x20u   /* ModRM must address memory */
#define D_REG   0x40u   /* ModRM must be a register */
#define D_OPREG 0x80u   /* register in the opcode's low 3 bits (+REX.B) */

struct dent {
	uint16_t op;     /* VL_OP_* + 1 (0 = invalid), or group number with D_GRP */
	uint8_t imm;
	uint8_t fl;
};
#define E(o, imm, fl) { VL_OP_##o + 1, imm, fl }
#define G(g, imm, fl) { g, imm, (fl) | D_GRP | D_M }

/* Group numbers */
enum { G1B = 1, G1V, G1VB, G1A, G2B1, G2V1, G2BCL, G2VCL, G2BI, G2VI, G3B, G3V, G4, G5, G11B, G11V,
       G6, G8, G9, G15, GNOP, GCOUNT };

#define ALU6(base, o) \
	[base + 0] = E(o, I_NONE, D_M | D_BYTE), [base + 1] = E(o, I_NONE, D_M), \
	[base + 2] = E(o, I_NONE, D_M | D_BYTE), [base + 3] = E(o, I_NONE, D_M), \
	[base + 4] = E(o, I_B, D_BYTE), [base + 5] = E(o, I_Z, 0)

static const struct dent map1[256] = {
	ALU6(0x00, ADD), ALU6(0x08, OR), ALU6(0x10, ADC), ALU6(0x18, SBB),
	ALU6(0x20, AND), ALU6(0x28, SUB), ALU6(0x30, XOR), ALU6(0x38, CMP),
	[0x50] = E(PUSH_R, I_NONE, D_D64 | D_OPREG), [0x51] = E(PUSH_R, I_NONE, D_D64 | D_OPREG),
	[0x52] = E(PUSH_R, I_NONE, D_D64 | D_OPREG), [0x53] = E(PUSH_R, I_NONE, D_D64 | D_OPREG),
	[0x54] = E(PUSH_R, I_NONE, D_D64 | D_OPREG), [0x55] = E(PUSH_R, I_NONE, D_D64 | D_OPREG),
	[0x56] = E(PUSH_R, I_NONE, D_D64 | D_OPREG), [0x57] = E(PUSH_R, I_NONE, D_D64 | D_OPREG),
	[0x58] = E(POP_R, I_NONE, D_D64 | D_OPREG), [0x59] = E(POP_R, I_NONE, D_D64 | D_OPREG),
	[0x5a] = E(POP_R, I_NONE, D_D64 | D_OPREG), [0x5b] = E(POP_R, I_NONE, D_D64 | D_OPREG),
	[0x5c] = E(POP_R, I_NONE, D_D64 | D_OPREG), [0x5d] = E(POP_R, I_NONE, D_D64 | D_OPREG),
	[0x5e] = E(POP_R, I_NONE, D_D64 | D_OPREG), [0x5f] = E(POP_R, I_NONE, D_D64 | D_OPREG),
	[0x63] = E(MOVSXD, I_NONE, D_M),
	[0x68] = E(PUSH_I, I_Z, D_D64), [0x69] = E(IMUL3, I_Z, D_M),
	[0x6a] = E(PUSH_I, I_B, D_D64), [0x6b] = E(IMUL3, I_B, D_M),
	[0x6c] = E(INS, I_NONE, D_BYTE), [0x6d] = E(INS, I_NONE, 0),
	[0x6e] = E(OUTS, I_NONE, D_BYTE), [0x6f] = E(OUTS, I_NONE, 0),
	[0x70] = E(JCC, I_JB, D_F64), [0x71] = E(JCC, I_JB, D_F64), [0x72] = E(JCC, I_JB, D_F64),
	[0x73] = E(JCC, I_JB, D_F64), [0x74] = E(JCC, I_JB, D_F64), [0x75] = E(JCC, I_JB, D_F64),
	[0x76] = E(JCC, I_JB, D_F64), [0x77] = E(JCC, I_JB, D_F64), [0x78] = E(JCC, I_JB, D_F64),
	[0x79] = E(JCC, I_JB, D_F64), [0x7a] = E(JCC, I_JB, D_F64), [0x7b] = E(JCC, I_JB, D_F64),
	[0x7c] = E(JCC, I_JB, D_F64), [0x7d] = E(JCC, I_JB, D_F64), [0x7e] = E(JCC, I_JB, D_F64),
	[0x7f] = E(JCC, I_JB, D_F64),
	[0x80] = G(G1B, I_B, D_BYTE), [0x81] = G(G1V, I_Z, 0), [0x83] = G(G1VB, I_B, 0),
	[0x84] = E(TEST, I_NONE, D_M | D_BYTE), [0x85] = E(TEST, I_NONE, D_M),
	[0x86] = E(XCHG_EG, I_NONE, D_M | D_BYTE), [0x87] = E(XCHG_EG, I_NONE, D_M),
	[0x88] = E(MOV_EG, I_NONE, D_M | D_BYTE), [0x89] = E(MOV_EG, I_NONE, D_M),
	[0x8a] = E(MOV_GE, I_NONE, D_M | D_BYTE), [0x8b] = E(MOV_GE, I_NONE, D_M),
	[0x8c] = E(MOV_ES, I_NONE, D_M), [0x8d] = E(LEA, I_NONE, D_M | D_MEM),
	[0x8e] = E(MOV_SE, I_NONE, D_M), [0x8f] = G(G1A, I_NONE, D_D64),
	[0x90] = E(XCHG_AR, I_NONE, D_OPREG), [0x91] = E(XCHG_AR, I_NONE, D_OPREG),
	[0x92] = E(XCHG_AR, I_NONE, D_OPREG), [0x93] = E(XCHG_AR, I_NONE, D_OPREG),
	[0x94] = E(XCHG_AR, I_NONE, D_OPREG), [0x95] = E(XCHG_AR, I_NONE, D_OPREG),
	[0x96] = E(XCHG_AR, I_NONE, D_OPREG), [0x97] = E(XCHG_AR, I_NONE, D_OPREG),
	[0x98] = E(CBW, I_NONE, 0), [0x99] = E(CWD, I_NONE, 0),
	[0x9c] = E(PUSHF, I_NONE, D_D64), [0x9d] = E(POPF, I_NONE, D_D64),
	[0x9e] = E(SAHF, I_NONE, 0), [0x9f] = E(LAHF, I_NONE, 0),
	[0xa0] = E(MOV_AO, I_MOFFS, D_BYTE), [0xa1] = E(MOV_AO, I_MOFFS, 0),
	[0xa2] = E(MOV_OA, I_MOFFS, D_BYTE), [0xa3] = E(MOV_OA, I_MOFFS, 0),
	[0xa4] = E(MOVS, I_NONE, D_BYTE), [0xa5] = E(MOVS, I_NONE, 0),
	[0xa6] = E(CMPS, I_NONE, D_BYTE), [0xa7] = E(CMPS, I_NONE, 0),
	[0xa8] = E(TEST, I_B, D_BYTE), [0xa9] = E(TEST, I_Z, 0),
	[0xaa] = E(STOS, I_NONE, D_BYTE), [0xab] = E(STOS, I_NONE, 0),
	[0xac] = E(LODS, I_NONE, D_BYTE), [0xad] = E(LODS, I_NONE, 0),
	[0xae] = E(SCAS, I_NONE, D_BYTE), [0xaf] = E(SCAS, I_NONE, 0),
	[0xb0] = E(MOV_RI, I_B, D_BYTE | D_OPREG), [0xb1] = E(MOV_RI, I_B, D_BYTE | D_OPREG),
	[0xb2] = E(MOV_RI, I_B, D_BYTE | D_OPREG), [0xb3] = E(MOV_RI, I_B, D_BYTE | D_OPREG),
	[0xb4] = E(MOV_RI, I_B, D_BYTE | D_OPREG), [0xb5] = E(MOV_RI, I_B, D_BYTE | D_OPREG),
	[0xb6] = E(MOV_RI, I_B, D_BYTE | D_OPREG), [0xb7] = E(MOV_RI, I_B, D_BYTE | D_OPREG),
	[0xb8] = E(MOV_RI, I_V, D_OPREG), [0xb9] = E(MOV_RI, I_V, D_OPREG),
	[0xba] = E(MOV_RI, I_V, D_OPREG), [0xbb] = E(MOV_RI, I_V, D_OPREG),
	[0xbc] = E(MOV_RI, I_V, D_OPREG), [0xbd] = E(MOV_RI, I_V, D_OPREG),
	[0xbe] = E(MOV_RI, I_V, D_OPREG), [0xbf] = E(MOV_RI, I_V, D_OPREG),
	[0xc0] = G(G2BI, I_UB, D_BYTE), [0xc1] = G(G2VI, I_UB, 0),
	[0xc2] = E(RET, I_W, D_F64), [0xc3] = E(RET, I_NONE, D_F64),
	[0xc6] = G(G11B, I_B, D_BYTE), [0xc7] = G(G11V, I_Z, 0),
	[0xc8] = E(ENTER, I_ENTER, D_D64), [0xc9] = E(LEAVE, I_NONE, D_D64),
	[0xca] = E(RETF, I_W, 0), [0xcb] = E(RETF, I_NONE, 0),
	[0xcc] = E(INT3, I_NONE, 0), [0xcd] = E(INT, I_UB, 0), [0xcf] = E(IRET, I_NONE, 0),
	[0xd0] = G(G2B1, I_NONE, D_BYTE), [0xd1] = G(G2V1, I_NONE, 0),
	[0xd2] = G(G2BCL, I_NONE, D_BYTE), [0xd3] = G(G2VCL, I_NONE, 0),
	[0xd7] = E(XLAT, I_NONE, D_BYTE),
	[0xe0] = E(LOOPNE, I_JB, D_F64), [0xe1] = E(LOOPE, I_JB, D_F64), [0xe2] = E(LOOP, I_JB, D_F64),
	[0xe3] = E(JRCXZ, I_JB, D_F64),
	[0xe4] = E(IN_I, I_UB, D_BYTE), [0xe5] = E(IN_I, I_UB, 0),
	[0xe6] = E(OUT_I, I_UB, D_BYTE), [0xe7] = E(OUT_I, I_UB, 0),
	[0xe8] = E(CALL, I_JZ, D_F64), [0xe9] = E(JMP, I_JZ, D_F64), [0xeb] = E(JMP, I_JB, D_F64),
	[0xec] = E(IN_DX, I_NONE, D_BYTE), [0xed] = E(IN_DX, I_NONE, 0),
	[0xee] = E(OUT_DX, I_NONE, D_BYTE), [0xef] = E(OUT_DX, I_NONE, 0),
	[0xf4] = E(HLT, I_NONE, 0), [0xf5] = E(CMC, I_NONE, 0),
	[0xf6] = G(G3B, I_NONE, D_BYTE), [0xf7] = G(G3V, I_NONE, 0),
	[0xf8] = E(CLC, I_NONE, 0), [0xf9] = E(STC, I_NONE, 0), [0xfa] = E(CLI, I_NONE, 0),
	[0xfb] = E(STI, I_NONE, 0), [0xfc] = E(CLD, I_NONE, 0), [0xfd] = E(STD, I_NONE, 0),
	[0xfe] = G(G4, I_NONE, D_BYTE), [0xff] = G(G5, I_NONE, 0),
};

#define CC16(base, o, imm, fl) \
	[base + 0] = E(o, imm, fl), [base + 1] = E(o, imm, fl), [base + 2] = E(o, imm, fl), \
	[base + 3] = E(o, imm, fl), [base + 4] = E(o, imm, fl), [base + 5] = E(o, imm, fl), \
	[base + 6] = E(o, imm, fl), [base + 7] = E(o, imm, fl), [base + 8] = E(o, imm, fl), \
	[base + 9] = E(o, imm, fl), [base + 10] = E(o, imm, fl), [base + 11] = E(o, imm, fl), \
	[base + 12] = E(o, imm, fl), [base + 13] = E(o, imm, fl), [base + 14] = E(o, imm, fl), \
	[base + 15] = E(o, imm, fl)

static const struct dent map2[256] = {
	[0x00] = G(G6, I_NONE, 0),
	/* 0F 01 (group 7) is decoded in code: its register forms are whole ModRM bytes */
	[0x05] = E(SYSCALL, I_NONE, 0), [0x06] = E(CLTS, I_NONE, 0), [0x07] = E(SYSRET, I_NONE, 0),
	[0x08] = E(INVD, I_NONE, 0), [0x09] = E(WBINVD, I_NONE, 0), [0x0b] = E(UD2, I_NONE, 0),
	[0x0d] = E(NOP, I_NONE, D_M | D_MEM),   /* PREFETCH/PREFETCHW */
	[0x18] = G(GNOP, I_NONE, 0),            /* PREFETCHh /0-/3; the rest and mod 3: reserved NOP (SDM Vol. 2D Table A-3) */
	[0x19] = E(NOP, I_NONE, D_M), [0x1a] = E(NOP, I_NONE, D_M), [0x1b] = E(NOP, I_NONE, D_M),
	[0x1c] = E(NOP, I_NONE, D_M), [0x1d] = E(NOP, I_NONE, D_M), [0x1e] = E(NOP, I_NONE, D_M),
	[0x1f] = E(NOP, I_NONE, D_M),           /* NOP Ev; the region marker is recognised below */
	[0x20] = E(MOV_FROM_CR, I_NONE, D_M | D_F64), [0x21] = E(MOV_FROM_DR, I_NONE, D_M | D_F64),
	[0x22] = E(MOV_TO_CR, I_NONE, D_M | D_F64), [0x23] = E(MOV_TO_DR, I_NONE, D_M | D_F64),
	[0x30] = E(WRMSR, I_NONE, 0), [0x31] = E(RDTSC, I_NONE, 0), [0x32] = E(RDMSR, I_NONE, 0),
	[0x33] = E(RDPMC, I_NONE, 0),
	CC16(0x40, CMOV, I_NONE, D_M),
	CC16(0x80, JCC, I_JZ, D_F64),
	CC16(0x90, SETCC, I_NONE, D_M | D_BYTE),
	[0xa0] = E(PUSH_SEG, I_NONE, D_D64), [0xa1] = E(POP_SEG, I_NONE, D_D64),
	[0xa2] = E(CPUID, I_NONE, 0), [0xa3] = E(BT, I_NONE, D_M),
	[0xa4] = E(SHLD, I_UB, D_M), [0xa5] = E(SHLD, I_NONE, D_M),
	[0xa8] = E(PUSH_SEG, I_NONE, D_D64), [0xa9] = E(POP_SEG, I_NONE, D_D64),
	[0xab] = E(BTS, I_NONE, D_M), [0xac] = E(SHRD, I_UB, D_M), [0xad] = E(SHRD, I_NONE, D_M),
	[0xae] = G(G15, I_NONE, 0), [0xaf] = E(IMUL2, I_NONE, D_M),
	[0xb0] = E(CMPXCHG, I_NONE, D_M | D_BYTE), [0xb1] = E(CMPXCHG, I_NONE, D_M),
	[0xb3] = E(BTR, I_NONE, D_M), [0xb6] = E(MOVZX, I_NONE, D_M), [0xb7] = E(MOVZX, I_NONE, D_M),
	[0xb8] = E(POPCNT, I_NONE, D_M),        /* F3 only (checked below) */
	[0xba] = G(G8, I_UB, 0), [0xbb] = E(BTC, I_NONE, D_M),
	[0xbc] = E(BSF, I_NONE, D_M), [0xbd] = E(BSR, I_NONE, D_M),
	[0xbe] = E(MOVSX, I_NONE, D_M), [0xbf] = E(MOVSX, I_NONE, D_M),
	[0xc0] = E(XADD, I_NONE, D_M | D_BYTE), [0xc1] = E(XADD, I_NONE, D_M),
	[0xc7] = G(G9, I_NONE, 0),
	[0xc8] = E(BSWAP, I_NONE, D_OPREG), [0xc9] = E(BSWAP, I_NONE, D_OPREG),
	[0xca] = E(BSWAP, I_NONE, D_OPREG), [0xcb] = E(BSWAP, I_NONE, D_OPREG),
	[0xcc] = E(BSWAP, I_NONE, D_OPREG), [0xcd] = E(BSWAP, I_NONE, D_OPREG),
	[0xce] = E(BSWAP, I_NONE, D_OPREG), [0xcf] = E(BSWAP, I_NONE, D_OPREG),
};

#define GRP8(a, b, c, d, e, f, g, h) { a, b, c, d, e, f, g, h }
#define X0 { 0, 0, 0 }
static const struct dent groups[GCOUNT][8] = {
	[G1B]  = GRP8(E(ADD, I_B, 0), E(OR, I_B, 0), E(ADC, I_B, 0), E(SBB, I_B, 0),
		      E(AND, I_B, 0), E(SUB, I_B, 0), E(XOR, I_B, 0), E(CMP, I_B, 0)),
	[G1V]  = GRP8(E(ADD, I_Z, 0), E(OR, I_Z, 0), E(ADC, I_Z, 0), E(SBB, I_Z, 0),
		      E(AND, I_Z, 0), E(SUB, I_Z, 0), E(XOR, I_Z, 0), E(CMP, I_Z, 0)),
	[G1VB] = GRP8(E(ADD, I_B, 0), E(OR, I_B, 0), E(ADC, I_B, 0), E(SBB, I_B, 0),
		      E(AND, I_B, 0), E(SUB, I_B, 0), E(XOR, I_B, 0), E(CMP, I_B, 0)),
	[G1A]  = GRP8(E(POP_E, I_NONE, D_D64), X0, X0, X0, X0, X0, X0, X0),
#define SHIFTS(imm) GRP8(E(ROL, imm, 0), E(ROR, imm, 0), E(RCL, imm, 0), E(RCR, imm, 0), \
			 E(SHL, imm, 0), E(SHR, imm, 0), E(SHL, imm, 0), E(SAR, imm, 0))
	[G2B1] = SHIFTS(I_NONE), [G2V1] = SHIFTS(I_NONE), [G2BCL] = SHIFTS(I_NONE),
	[G2VCL] = SHIFTS(I_NONE), [G2BI] = SHIFTS(I_UB), [G2VI] = SHIFTS(I_UB),
	[G3B]  = GRP8(E(TEST, I_B, 0), E(TEST, I_B, 0), E(NOT, I_NONE, 0), E(NEG, I_NONE, 0),
		      E(MUL, I_NONE, 0), E(IMUL1, I_NONE, 0), E(DIV, I_NONE, 0), E(IDIV, I_NONE, 0)),
	[G3V]  = GRP8(E(TEST, I_Z, 0), E(TEST, I_Z, 0), E(NOT, I_NONE, 0), E(NEG, I_NONE, 0),
		      E(MUL, I_NONE, 0), E(IMUL1, I_NONE, 0), E(DIV, I_NONE, 0), E(IDIV, I_NONE, 0)),
	[G4]   = GRP8(E(INC, I_NONE, 0), E(DEC, I_NONE, 0), X0, X0, X0, X0, X0, X0),
	[G5]   = GRP8(E(INC, I_NONE, 0), E(DEC, I_NONE, 0), E(CALL_E, I_NONE, D_F64), E(CALLF, I_NONE, D_MEM),
		      E(JMP_E, I_NONE, D_F64), E(JMPF, I_NONE, D_MEM), E(PUSH_E, I_NONE, D_D64), X0),
	[G11B] = GRP8(E(MOV_EI, I_B, 0), X0, X0, X0, X0, X0, X0, X0),
	[G11V] = GRP8(E(MOV_EI, I_Z, 0), X0, X0, X0, X0, X0, X0, X0),
	[G6]   = GRP8(E(SLDT, I_NONE, 0), E(STR, I_NONE, 0), E(LLDT, I_NONE, 0), E(LTR, I_NONE, 0),
		      X0, X0, X0, X0),
	[G8]   = GRP8(X0, X0, X0, X0, E(BT, I_UB, 0), E(BTS, I_UB, 0), E(BTR, I_UB, 0), E(BTC, I_UB, 0)),
	[G9]   = GRP8(X0, E(CMPXCHG16B, I_NONE, D_MEM), X0, X0, X0, X0, X0, X0),
	[G15]  = GRP8(X0, X0, X0, X0, X0, E(NOP, I_NONE, 0), E(NOP, I_NONE, 0), E(NOP, I_NONE, 0)),   /* fences, CLFLUSH: below */
	[GNOP] = GRP8(E(NOP, I_NONE, 0), E(NOP, I_NONE, 0), E(NOP, I_NONE, 0), E(NOP, I_NONE, 0),
		      E(NOP, I_NONE, 0), E(NOP, I_NONE, 0), E(NOP, I_NONE, 0), E(NOP, I_NONE, 0)),
};

/* ---- decoding ---------------------------------------------------------- */

struct dstate {
	const uint8_t *b;
	size_t avail, pos;
	bool m32;          /* VL_DMODE_32: no RIP-relative form */
};

/* Fetch n more bytes as a little-endian value; false when they run out. */
static inline bool take(struct dstate *s, unsigned n, uint64_t *v)
{
	if (s->pos + n > s->avail)
		return false;
	uint64_t x = 0;
	for (unsigned k = 0; k < n; k++)
		x |= (uint64_t)s->b[s->pos + k] << (8 * k);
	s->pos += n;
	*v = x;
	return true;
}

static inline uint64_t sext(uint64_t v, unsigned bytes)
{
	unsigned sh = 64 - 8 * bytes;
	return (uint64_t)((int64_t)(v << sh) >> sh);
}

/* Result codes inside the decoder */
#define R_SHORT 0
#define R_UD   -1
#define R_LONG -2

/* ModRM, SIB and displacement. */
static int decode_modrm(struct dstate *s, struct vl_insn *in, uint8_t modrm)
{
	uint8_t rexr = (in->rex & 4) ? 8 : 0, rexx = (in->rex & 2) ? 8 : 0, rexb = (in->rex & 1) ? 8 : 0;
	uint64_t v;

	in->mod = modrm >> 6;
	in->reg = ((modrm >> 3) & 7) | rexr;
	in->rm = (modrm & 7) | rexb;
	in->base = VL_NOREG;
	in->index = VL_NOREG;
	in->scale = 0;
	in->disp = 0;
	if (in->mod == 3)
		return 1;
	unsigned rm = modrm & 7;
	if (rm == 4) {
		if (!take(s, 1, &v))
			return R_SHORT;
		uint8_t sib = (uint8_t)v;
		unsigned idx = ((sib >> 3) & 7) | rexx, base = sib & 7;
		in->scale = sib >> 6;
		if (idx != 4)
			in->index = (uint8_t)idx;
		if (base == 5 && in->mod == 0) {
			in->dpos = (uint8_t)s->pos;
			if (!take(s, 4, &v))
				return R_SHORT;
			in->disp = (int32_t)(uint32_t)v;
			return 1;
		}
		in->base = (uint8_t)(base | rexb);
	} else if (rm == 5 && in->mod == 0) {
		in->dpos = (uint8_t)s->pos;
		if (!take(s, 4, &v))
			return R_SHORT;
		in->base = s->m32 ? VL_NOREG : VL_RIPREL;   /* 32-bit modes: disp32 alone */
		in->disp = (int32_t)(uint32_t)v;
		return 1;
	} else {
		in->base = (uint8_t)(rm | rexb);
	}
	if (in->mod == 1 || in->mod == 2)
		in->dpos = (uint8_t)s->pos;
	if (in->mod == 1) {
		if (!take(s, 1, &v))
			return R_SHORT;
		in->disp = (int8_t)(uint8_t)v;
	} else if (in->mod == 2) {
		if (!take(s, 4, &v))
			return R_SHORT;
		in->disp = (int32_t)(uint32_t)v;
	}
	return 1;
}

/* 0F 20-23: MOV to/from CR/DR. */
static inline bool two_crdr(bool two, uint8_t opc)
{
	return two && opc >= 0x20 && opc <= 0x23;
}

/* 0F 01: group 7. Memory forms by ModRM.reg, register forms by the whole byte. */
static int decode_grp7(uint8_t modrm, uint16_t *op, uint8_t *fl)
{
	unsigned reg = (modrm >> 3) & 7;
	*fl = D_M;
	if ((modrm >> 6) != 3) {
		static const int16_t memop[8] = { VL_OP_SGDT, VL_OP_SIDT, VL_OP_LGDT, VL_OP_LIDT,
						  VL_OP_SMSW, -1, VL_OP_LMSW, VL_OP_INVLPG };
		if (memop[reg] < 0)
			return R_UD;
		*op = (uint16_t)memop[reg];
		return 1;
	}
	if (reg == 4) { *op = VL_OP_SMSW; return 1; }
	if (reg == 6) { *op = VL_OP_LMSW; return 1; }
	switch (modrm) {
	case 0xc1: *op = VL_OP_VMCALL; return 1;
	case 0xc8: *op = VL_OP_MONITOR; return 1;
	case 0xc9: *op = VL_OP_MWAIT; return 1;
	case 0xca: *op = VL_OP_CLAC; return 1;
	case 0xcb: *op = VL_OP_STAC; return 1;
	case 0xd1: *op = VL_OP_XSETBV; return 1;
	case 0xd9: *op = VL_OP_VMMCALL; return 1;
	case 0xf8: *op = VL_OP_SWAPGS; return 1;
	case 0xf9: *op = VL_OP_RDTSCP; return 1;
	default:   return R_UD;
	}
}

int vl_decode(const uint8_t *buf, size_t avail, struct vl_insn *in)
{
	return vl_decode_mode(buf, avail, VL_DMODE_64, in);
}

/* The opcodes whose meaning in 32-bit modes differs from 64-bit mode (or
 * that exist only there). Returns 1 with *d filled, R_UD, or 0 = use the maps. */
static int decode_m32_special(uint8_t opc, struct vl_insn *in, struct dent *d)
{
	switch (opc) {
	case 0x06: case 0x0e: case 0x16: case 0x1e:   /* PUSH ES/CS/SS/DS */
		*d = (struct dent)E(PUSH_SEG, I_NONE, D_D64);
		in->reg = opc >> 3;
		return 1;
	case 0x07: case 0x17: case 0x1f:              /* POP ES/SS/DS */
		*d = (struct dent)E(POP_SEG, I_NONE, D_D64);
		in->reg = opc >> 3;
		return 1;
	case 0x60: *d = (struct dent)E(PUSHA, I_NONE, D_D64); return 1;
	case 0x61: *d = (struct dent)E(POPA, I_NONE, D_D64); return 1;
	case 0x9a: *d = (struct dent)E(CALLF, I_PTR, 0); return 1;
	case 0xea: *d = (struct dent)E(JMPF, I_PTR, 0); return 1;
	case 0x63:                                    /* ARPL */
	case 0x27: case 0x2f: case 0x37: case 0x3f:   /* BCD */
	case 0x62: case 0xc4: case 0xc5: case 0xce: case 0xd4: case 0xd5: case 0xd6: case 0x82:
		return R_UD;
	}
	if ((opc & 0xf0) == 0x40) {                   /* INC/DEC r32 (REX in 64-bit mode) */
		*d = (struct dent)E(INC, I_NONE, 0);
		if (opc & 8)
			*d = (struct dent)E(DEC, I_NONE, 0);
		in->mod = 3;
		in->rm = opc & 7;
		return 1;
	}
	return 0;
}

int vl_decode_mode(const uint8_t *buf, size_t avail, unsigned mode, struct vl_insn *in)
{
	struct dstate s = { buf, avail > 15 ? 15 : avail, 0, mode == VL_DMODE_32 };
	bool opsz = false, adsz = false;
	uint64_t v;

	memset(in, 0, sizeof *in);
	in->seg = VL_SEG_NONE;
	in->mod = 0xff;
	in->base = VL_NOREG;
	in->index = VL_NOREG;

	/* legacy prefixes and REX; a REX counts only immediately before the opcode */
	uint8_t b;
	for (;;) {
		if (s.pos >= s.avail)
			return avail >= 15 ? R_LONG : R_SHORT;
		b = buf[s.pos];
		if ((b & 0xf0) == 0x40 && !s.m32) {
			in->rex = b;
			s.pos++;
			continue;
		}
		switch (b) {
		case 0x66: opsz = true; break;
		case 0x67: adsz = true; break;
		case 0xf0: in->lock = 1; break;
		case 0xf2: case 0xf3: in->rep = b; break;   /* the last of F2/F3 counts */
		case 0x64: in->seg = VL_FS; break;
		case 0x65: in->seg = VL_GS; break;
		case 0x26: case 0x2e: case 0x36: case 0x3e:          /* null in 64-bit mode */
			if (s.m32)
				in->seg = (uint8_t)((b >> 3) & 3);   /* ES CS SS DS */
			break;
		default: goto prefixes_done;
		}
		s.pos++;
		in->rex = 0;
	}
prefixes_done:
	s.pos++;
	const struct dent *d;
	struct dent tmp;
	bool two = false;
	uint8_t opc = b;
	if (b == 0x0f) {
		if (!take(&s, 1, &v))
			return avail >= 15 ? R_LONG : R_SHORT;
		opc = (uint8_t)v;
		two = true;
		if (opc == 0x01) {
			if (s.pos >= s.avail)
				return avail >= 15 ? R_LONG : R_SHORT;
			uint16_t op;
			uint8_t fl;
			if (decode_grp7(buf[s.pos], &op, &fl) < 0)
				return R_UD;
			tmp.op = (uint16_t)(op + 1);
			tmp.imm = I_NONE;
			tmp.fl = fl;
			d = &tmp;
		} else if (opc == 0xff) {
			/* UD0: only the callout form (machine.h VL_CALLOUT_BYTES) */
			if (s.pos >= s.avail)
				return avail >= 15 ? R_LONG : R_SHORT;
			if (buf[s.pos] != 0xc8 || s.pos != 2)
				return R_UD;   /* no prefix of any kind (a null segment override too): exactly 7 bytes */
			tmp.op = VL_OP_CALLOUT + 1;
			tmp.imm = I_NONE;
			tmp.fl = D_M;
			d = &tmp;
		} else {
			d = &map2[opc];
		}
	} else if (s.m32) {
		int r = decode_m32_special(opc, in, &tmp);
		if (r < 0)
			return R_UD;
		d = r ? &tmp : &map1[opc];
	} else {
		d = &map1[opc];
	}
	if (two && s.m32 && (opc == 0x07 || (opc == 0x01 && (buf[s.pos] == 0xf8))))
		return R_UD;   /* SYSRET, SWAPGS: 64-bit mode only */
	if (!d->op)
		return R_UD;

	uint8_t fl = d->fl, immk = d->imm;
	uint16_t op;
	if (fl & D_M) {
		if (s.pos >= s.avail)
			return avail >= 15 ? R_LONG : R_SHORT;
		uint8_t modrm = buf[s.pos++];
		if (fl & D_GRP) {
			const struct dent *g = &groups[d->op][(modrm >> 3) & 7];
			if (!g->op)
				return R_UD;
			op = (uint16_t)(g->op - 1);
			fl |= g->fl;
			if (g->imm != I_NONE || immk == I_NONE)
				immk = g->imm;
		} else {
			op = (uint16_t)(d->op - 1);
		}
		if (((fl & D_MEM) && (modrm >> 6) == 3) || ((fl & D_REG) && (modrm >> 6) != 3))
			return R_UD;
		if (op == VL_OP_MOV_FROM_CR || op == VL_OP_MOV_TO_CR || op == VL_OP_MOV_FROM_DR || op == VL_OP_MOV_TO_DR)
			modrm |= 0xc0;   /* MOV CR/DR: mod is ignored, always a register (SDM) */
		int r = decode_modrm(&s, in, modrm);
		if (r <= 0)
			return s.pos > 15 ? R_LONG : (avail >= 15 ? R_LONG : r);
	} else {
		op = (uint16_t)(d->op - 1);
	}
	if (fl & D_OPREG)
		in->reg = (opc & 7) | ((in->rex & 1) ? 8 : 0);
	if ((!two && (opc & 0xf0) == 0x70) || (two && ((opc & 0xf0) == 0x80 || (opc & 0xf0) == 0x90 || (opc & 0xf0) == 0x40)))
		in->imm2 = opc & 15;   /* condition code */

	/* mandatory-prefix selections in the 0F map */
	if (two) {
		if (opc == 0xb8) {
			if (in->rep != 0xf3)
				return R_UD;   /* 0F B8 without F3 is JMPE (IA-64); F3 selects POPCNT wherever 66 stands */
			in->rep = 0;
		} else if ((opc == 0xbc || opc == 0xbd) && in->rep == 0xf3) {
			op = opc == 0xbc ? VL_OP_TZCNT : VL_OP_LZCNT;
			in->rep = 0;
		}
		if (op == VL_OP_NOP && opc == 0x1f && in->mod == 2 && in->base == VL_RAX && in->index == VL_NOREG &&
		    ((uint32_t)in->disp & VL_MARK_MAGIC_MASK) == VL_MARK_MAGIC && !in->rex && !opsz && !in->rep)
			op = VL_OP_MARKER;
	}
	/* imm2, op-specific: ALU form (0 = E,G  1 = G,E  2 = E,imm  3 = rAX,imm),
	 * MOVZX/MOVSX source size, shift count source (0 = imm8, 1 = one, 2 = CL) */
	if (!two && opc < 0x40)
		in->imm2 = (opc & 7) < 2 ? 0 : (opc & 7) < 4 ? 1 : 3;
	else if (!two && ((opc >= 0x80 && opc <= 0x83) || opc == 0xf6 || opc == 0xf7))
		in->imm2 = 2;
	else if (!two && (opc == 0xa8 || opc == 0xa9))
		in->imm2 = 3;
	else if (two && (opc == 0xb6 || opc == 0xb7 || opc == 0xbe || opc == 0xbf))
		in->imm2 = (opc & 1) ? 2 : 1;
	if (!two && (opc == 0xd0 || opc == 0xd1))
		in->imm2 = 1;
	else if ((!two && (opc == 0xd2 || opc == 0xd3)) || (two && (opc == 0xa5 || opc == 0xad)))
		in->imm2 = 2;
	if (two && opc == 0xba)
		in->imm2 = 0x80;   /* BT/BTS/BTR/BTC with an imm8 bit offset */
	if (two && (opc == 0xa0 || opc == 0xa1))
		in->reg = VL_FS;
	else if (two && (opc == 0xa8 || opc == 0xa9))
		in->reg = VL_GS;
	if (op == VL_OP_XCHG_AR && in->reg == 0) {
		op = in->rep == 0xf3 ? VL_OP_PAUSE : VL_OP_NOP;   /* 90 (with REX.B it is XCHG r8) */
		in->rep = 0;
	}
	/* group 15 (/5 /6 /7 only, the table says): register forms are LFENCE/MFENCE/SFENCE
	 * (66/F3 select other instructions there); memory /7 is CLFLUSH (66: CLFLUSHOPT) */
	if (two && opc == 0xae) {
		if (in->mod == 3 && !in->rep && !opsz)
			op = VL_OP_FENCE;
		else if (in->mod == 3 || (in->reg & 7) != 7 || in->rep)
			return R_UD;
	}

	/* operand and address size */
	if (s.m32) {
		if (adsz)
			return R_UD;   /* 16-bit addressing: not modelled */
		if ((fl & D_F64) && opsz && !two_crdr(two, opc))
			return R_UD;   /* 66h on near branches (IP truncated to 16 bits): refused */
		in->osz = (fl & D_BYTE) ? 1 : (opsz && !two_crdr(two, opc)) ? 2 : 4;
		in->asz = 4;
	} else if (fl & D_BYTE)
		in->osz = 1;
	else if (fl & D_F64) {
		/* 66h on near branches: Intel ignores it, AMD truncates; refused. MOV CR/DR
		 * ignore 66h and REX.W (SDM Vol. 2B MOV—Move to/from Control/Debug Registers) */
		if (opsz && !two_crdr(two, opc))
			return R_UD;
		in->osz = 8;
	} else if (fl & D_D64)
		in->osz = (in->rex & 8) || !opsz ? 8 : 2;   /* REX.W wins over 66h (SDM Vol. 1 3.6.1, Table 3-4) */
	else
		in->osz = (in->rex & 8) ? 8 : opsz ? 2 : 4;
	if (!s.m32)
		in->asz = adsz ? 4 : 8;

	/* immediates */
	if (immk != I_NONE || op == VL_OP_CALLOUT)
		in->ipos = (uint8_t)s.pos;
	switch (immk) {
	case I_NONE: break;
	case I_B:
		if (!take(&s, 1, &v)) goto short_;
		in->imm = sext(v, 1);
		break;
	case I_UB:
		if (!take(&s, 1, &v)) goto short_;
		in->imm = v;
		break;
	case I_W:
		if (!take(&s, 2, &v)) goto short_;
		in->imm = v;
		break;
	case I_Z: {
		unsigned n = in->osz == 2 ? 2 : in->osz == 1 ? 1 : 4;
		if (!take(&s, n, &v)) goto short_;
		in->imm = sext(v, n);
		break;
	}
	case I_V: {
		unsigned n = in->osz;
		if (!take(&s, n, &v)) goto short_;
		in->imm = v;
		break;
	}
	case I_JB:
		if (!take(&s, 1, &v)) goto short_;
		in->imm = sext(v, 1);
		break;
	case I_JZ:
		if (!take(&s, 4, &v)) goto short_;
		in->imm = sext(v, 4);
		break;
	case I_ENTER:
		if (!take(&s, 2, &v)) goto short_;
		in->imm = v;
		if (!take(&s, 1, &v)) goto short_;
		in->imm2 = (uint8_t)v;
		break;
	case I_MOFFS:
		if (!take(&s, in->asz, &v)) goto short_;
		in->imm = v;
		break;
	case I_PTR:   /* offset (osz bytes), then the selector (in disp) */
		if (!take(&s, in->osz, &v)) goto short_;
		in->imm = v;
		if (!take(&s, 2, &v)) goto short_;
		in->disp = (int32_t)v;
		break;
	}
	if (op == VL_OP_CALLOUT) {
		if (!take(&s, 4, &v)) goto short_;
		in->imm = v;
	}

	const struct opinfo *oi = &opinfo[op];
	/* LOCK: only on the lockable ops with a memory destination (#UD otherwise);
	 * the one-byte ALU forms Gx,Ex and rAX,imm have a register destination */
	if (in->lock && (!(oi->opf & OPF_LOCK) || in->mod == 3 || in->mod == 0xff ||
			 (!two && opc < 0x40 && (opc & 7) >= 2)))
		return R_UD;
	if (op == VL_OP_MOV_TO_CR || op == VL_OP_MOV_FROM_CR) {
		unsigned cr = in->reg;
		if (!(cr == 0 || cr == 2 || cr == 3 || cr == 4 || cr == 8))
			return R_UD;
	}
	if ((op == VL_OP_MOV_FROM_DR || op == VL_OP_MOV_TO_DR) && in->reg > 7)
		return R_UD;
	if ((op == VL_OP_MOV_SE || op == VL_OP_MOV_ES) && (in->reg & 7) > 5)
		return R_UD;
	if (op == VL_OP_MOV_SE && (in->reg & 7) == VL_CS)
		return R_UD;

	in->op = op;
	in->fn = oi->fn;
	in->cclass = oi->cclass;
	in->opf = oi->opf;
	in->sens = oi->sens;
	in->len = (uint8_t)s.pos;
	return (int)s.pos;
short_:
	return avail >= 15 ? R_LONG : R_SHORT;
}

/* ---- the public decoder (include/virtlab/decode.h) ------------------------ */
static enum vl_dkind op_kind(unsigned op)
{
	switch (op) {
	case VL_OP_JMP: return VL_DK_JMP;
	case VL_OP_JCC: case VL_OP_JRCXZ: case VL_OP_LOOP: case VL_OP_LOOPE: case VL_OP_LOOPNE: return VL_DK_JCC;
	case VL_OP_CALL: return VL_DK_CALL;
	case VL_OP_JMP_E: return VL_DK_JMP_IND;
	case VL_OP_CALL_E: return VL_DK_CALL_IND;
	case VL_OP_RET: return VL_DK_RET;
	case VL_OP_IRET: case VL_OP_RETF: case VL_OP_SYSCALL: case VL_OP_SYSRET: case VL_OP_INT: case VL_OP_INT3:
		return VL_DK_FAR;
	case VL_OP_UD2: case VL_OP_HLT: return VL_DK_TRAP;
	default: return VL_DK_PLAIN;
	}
}

int vl_decode_insn(const uint8_t *buf, size_t avail, uint64_t rip, struct vl_decoded *out)
{
	return vl_decode_insn_m(buf, avail, rip, false, out);
}

int vl_decode_insn_m(const uint8_t *buf, size_t avail, uint64_t rip, bool mode32, struct vl_decoded *out)
{
	struct vl_insn in;
	int len = vl_decode_mode(buf, avail, mode32 ? VL_DMODE_32 : VL_DMODE_64, &in);
	memset(out, 0, sizeof *out);
	if (len <= 0)
		return len;
	out->len = in.len;
	out->op = in.op;
	out->mnemonic = vl_op_name(in.op);
	out->kind = op_kind(in.op);
	out->sens = in.sens;
	out->privileged = (in.opf & OPF_PRIV) != 0;
	out->callout = in.op == VL_OP_CALLOUT;
	out->marker = in.op == VL_OP_MARKER;
	out->cc = (in.op == VL_OP_JCC || in.op == VL_OP_SETCC || in.op == VL_OP_CMOV) ? in.imm2 & 15 : 0;
	out->rex = in.rex;
	out->rep = in.rep;
	out->lock = in.lock != 0;
	out->seg = in.seg;
	out->osz = in.osz;
	out->asz = in.asz;
	out->has_modrm = in.mod != 0xff;
	out->mem = out->has_modrm && in.mod != 3;
	out->reg = in.reg;
	out->rm = in.rm;
	out->base = out->mem && in.base != VL_RIPREL ? in.base : VL_DREG_NONE;
	out->index = out->mem ? in.index : VL_DREG_NONE;
	out->scale = in.scale;
	out->riprel = out->mem && in.base == VL_RIPREL;
	out->disp = in.disp;
	out->disp_off = in.dpos;
	out->disp_size = !in.dpos ? 0 : in.mod == 1 ? 1 : 4;
	out->imm_off = in.ipos;
	out->imm_size = in.ipos ? (uint8_t)(in.len - in.ipos) : 0;
	out->imm = in.imm;
	if (in.op == VL_OP_MOV_AO || in.op == VL_OP_MOV_OA) {
		/* moffs: an absolute memory operand (Capstone calls it a displacement) */
		out->mem = true;
		out->disp_off = in.ipos;
		out->disp_size = in.asz;
		out->imm_off = 0;
		out->imm_size = 0;
	}
	if (in.op == VL_OP_ENTER)
		out->imm = in.imm | (uint64_t)in.imm2 << 16;   /* size, then nesting level */
	if (out->kind == VL_DK_JMP || out->kind == VL_DK_JCC || out->kind == VL_DK_CALL) {
		out->has_target = true;
		out->target = rip + in.len + in.imm;
		if (mode32)
			out->target = (uint32_t)out->target;   /* EIP wraps at 4 GiB */
	}
	return len;
}

const char *vl_decode_cc_name(unsigned cc)
{
	return vl_cc_name[cc & 15];
}
