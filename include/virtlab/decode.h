/* decode.h — the machine's x86-64 instruction decoder, offered to engines.
 *
 * The same decoder the interpreter runs (machine/decode.c): a binary
 * translator decodes guest code with it, so the translator and the CPU can
 * never disagree on an instruction's length or on what is in the model's
 * ISA. Capstone stays the oracle for lengths (test_decode_capstone) and the
 * disassembler (vl_disasm); this header gives what a translator needs to
 * copy, relocate or rewrite one instruction:
 *   - its length, operation id and mnemonic, its branch kind and direct
 *     branch target, its sensitive class (machine.h enum vl_sens) and
 *     whether it is CPL-0-only;
 *   - the ModRM memory operand: base/index/scale, the RIP-relative flag
 *     and where the 8/32-bit displacement sits in the bytes (to re-encode
 *     a RIP-relative operand at a new address);
 *   - the immediate: value, offset and size in the bytes;
 *   - the prefixes (REX, REP/REPNE, LOCK, FS/GS, operand/address size).
 * Pure: bytes in, a struct out; no machine state.
 */
#ifndef VIRTLAB_DECODE_H
#define VIRTLAB_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Control-flow kind of an instruction (what a translator must rewrite). */
enum vl_dkind {
	VL_DK_PLAIN = 0,   /* falls through to rip + len (an IDENT candidate unless sensitive) */
	VL_DK_JMP,         /* JMP rel8/rel32: target */
	VL_DK_JCC,         /* Jcc, JRCXZ, LOOP/LOOPE/LOOPNE: target or fall through */
	VL_DK_CALL,        /* CALL rel32: target, pushes rip + len */
	VL_DK_JMP_IND,     /* JMP r/m64 */
	VL_DK_CALL_IND,    /* CALL r/m64 */
	VL_DK_RET,         /* RET / RET imm16 */
	VL_DK_FAR,         /* IRET, RETF, SYSCALL, SYSRET, INT n, INT3: leaves by a gate or a far return */
	VL_DK_TRAP,        /* UD2, HLT: never falls through as written */
	VL_DK_COUNT
};

#define VL_DREG_NONE   0xffu   /* base / index absent */

struct vl_decoded {
	uint8_t len;          /* 1..15 */
	uint16_t op;          /* the machine's operation id (ops.def order; stable within a build) */
	const char *mnemonic; /* "add", "mov", "j" (Jcc: + vl_decode_cc_name(cc)) ... */
	enum vl_dkind kind;
	unsigned sens;        /* enum vl_sens (machine.h), or VL_SENS_COUNT: never sensitive */
	bool privileged;      /* #GP(0) at CPL > 0 (checked before any intercept) */
	bool callout;         /* the callout instruction (machine.h VL_CALLOUT_BYTES) */
	bool marker;          /* a region marker (guest_abi.h): not a retired instruction */
	uint8_t cc;           /* condition code (Jcc, SETcc, CMOVcc), 0..15 */
	/* prefixes */
	uint8_t rex;          /* REX byte, 0 if none */
	uint8_t rep;          /* 0, 0xf2, 0xf3 */
	bool lock;
	uint8_t seg;          /* 4 = FS, 5 = GS override (machine.h VL_FS/VL_GS), 0xff none */
	uint8_t osz;          /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;          /* address size: 4 or 8 */
	/* ModRM */
	bool has_modrm;
	bool mem;             /* the ModRM operand addresses memory (mod != 3) */
	uint8_t reg;          /* ModRM.reg with REX.R (or the +r register) */
	uint8_t rm;           /* ModRM.rm with REX.B (register operand when !mem) */
	uint8_t base;         /* 0..15, VL_DREG_NONE; RIP-relative: see riprel */
	uint8_t index;        /* 0..15 or VL_DREG_NONE */
	uint8_t scale;        /* log2 */
	bool riprel;          /* [rip + disp32]: disp is relative to rip + len (asz 4: truncated to 32 bits) */
	int32_t disp;
	uint8_t disp_off;     /* offset of the displacement in the bytes (0: none) */
	uint8_t disp_size;    /* 0, 1 or 4; MOV moffs (A0-A3): 8 (4 with 67h), the
	                       * absolute address then in imm, base/index none */
	/* immediate (for branches: the rel8/rel32; RET: imm16; callout: the id) */
	uint8_t imm_off;      /* offset of the first immediate byte (0: none) */
	uint8_t imm_size;     /* bytes, 0 if none (ENTER: 3) */
	uint64_t imm;         /* sign-extended where the encoding says so */
	/* direct branches (JMP, Jcc, CALL rel): target = rip + len + rel */
	bool has_target;
	uint64_t target;
};

/* Decode the instruction at buf[0..avail), located at linear address rip
 * (only used for the branch target). Returns the length (1..15), or
 *   0  the bytes run out before the instruction ends (fetch more);
 *  -1  not an instruction of the model's ISA (the CPU raises #UD);
 *  -2  longer than 15 bytes (#GP(0)). */
int vl_decode_insn(const uint8_t *buf, size_t avail, uint64_t rip, struct vl_decoded *out);
/* The same in 32-bit code (legacy protected or compatibility mode: CS.D = 1)
 * when mode32, else 64-bit mode (a VMM decoding a 32-bit guest's code). */
int vl_decode_insn_m(const uint8_t *buf, size_t avail, uint64_t rip, bool mode32, struct vl_decoded *out);

/* "o", "no", "b", ... for a condition code 0..15. */
const char *vl_decode_cc_name(unsigned cc);

#endif
