/* decode.h — the machine's x86-64 instruction decoder (CPU half).
 *
 * One decoder serves the interpreter, the VMM's emulator (vl_emulate_one)
 * and the binary translator's length/boundary needs; its lengths are tested
 * against Capstone (tests/machine/test_decode_capstone.c). The set it
 * accepts is the ISA of DESIGN.md: the integer instructions GCC and Clang
 * emit for freestanding C, string instructions, and the listed system
 * instructions. Everything else is refused (#UD in the guest).
 *
 * The decoder is pure: bytes in, a struct vl_insn out. It knows nothing of
 * the machine (modes other than 64-bit are not modelled: the machine runs
 * in long mode, CS.L = 1, from the first instruction).
 */
#ifndef VL_MACHINE_DECODE_H
#define VL_MACHINE_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum vl_op {
#define OP(id, mn, fn, cc, sens, fl) VL_OP_##id,
#include "ops.def"
#undef OP
	VL_OP_COUNT
};

/* Cost classes: which profile [insn] value an instruction is charged. */
enum vl_cclass {
	VL_CC_NONE, VL_CC_ALU, VL_CC_LOAD, VL_CC_STORE, VL_CC_BRANCH, VL_CC_MUL, VL_CC_DIV,
	VL_CC_PUSH_POP, VL_CC_STRING, VL_CC_PUSHF, VL_CC_POPF, VL_CC_CLI_STI, VL_CC_MOV_CR,
	VL_CC_MOV_CR3, VL_CC_INVLPG, VL_CC_CPUID, VL_CC_RDTSC, VL_CC_RDMSR, VL_CC_WRMSR, VL_CC_IO,
	VL_CC_SYSCALL, VL_CC_SYSRET, VL_CC_IRET, VL_CC_SWAPGS, VL_CC_DESC_TABLE, VL_CC_HLT,
	VL_CC_OTHER_SYS, VL_CC_COUNT
};

#define OPF_WRM  0x01u
#define OPF_SYS  0x02u
#define OPF_LOCK 0x04u
#define OPF_PRIV 0x08u
#define OPF_NRET 0x10u

#define VL_NOREG  0xffu   /* base/index absent */
#define VL_RIPREL 0x10u   /* base = RIP (next instruction) */
#define VL_SEG_NONE 0xffu

struct vl_machine;
struct vl_insn;
/* Returns 0, or VL_X_* (cpu.h) */
typedef int (*vl_exec_fn)(struct vl_machine *m, const struct vl_insn *i);

/* A decoded instruction. Register numbers include the REX extension. */
struct vl_insn {
	vl_exec_fn fn;      /* handler (filled by vl_decode from ops.def) */
	uint64_t imm;       /* immediate, sign-extended where the encoding says so;
	                     * branches: the rel displacement; moffs: the offset;
	                     * RET/ENTER: the 16-bit size; callout: the id */
	int32_t disp;       /* memory displacement */
	uint32_t cost;      /* cycles (set when the decode is cached; 0 from vl_decode) */
	uint32_t gen;       /* decode-cache generation (0 from vl_decode) */
	uint16_t op;        /* enum vl_op */
	uint8_t len;        /* bytes, 1..15 */
	uint8_t osz;        /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;        /* address size: 4 or 8 */
	uint8_t seg;        /* VL_FS / VL_GS override, or VL_SEG_NONE */
	uint8_t rep;        /* 0, 0xf2 (REPNE), 0xf3 (REP/REPE) */
	uint8_t lock;       /* LOCK prefix present */
	uint8_t rex;        /* the REX byte (0x40..0x4f), 0 if none */
	uint8_t mod;        /* ModRM.mod (3 = register operand); 0xff: no ModRM */
	uint8_t reg;        /* ModRM.reg | REX.R << 3; for +r opcodes the register; PUSH/POP FS/GS: the segment */
	uint8_t rm;         /* ModRM.rm | REX.B << 3 (register operand when mod == 3) */
	uint8_t base;       /* 0..15, VL_RIPREL or VL_NOREG */
	uint8_t index;      /* 0..15 or VL_NOREG */
	uint8_t scale;      /* log2 of the SIB scale */
	uint8_t imm2;       /* op-specific: condition code (Jcc/SETcc/CMOVcc), ALU operand form,
	                     * MOVZX/MOVSX source size, shift count source, ENTER level */
	uint8_t cclass;     /* enum vl_cclass (before the load/store refinement) */
	uint8_t opf;        /* OPF_* */
	uint8_t sens;       /* enum vl_sens, or VL_SENS_COUNT = never intercepted */
	uint8_t dpos;       /* offset of the displacement in the instruction (0: none) */
	uint8_t ipos;       /* offset of the first immediate byte (0: none); they run to len */
	uint8_t chain;      /* fast core (cpu.c), VL_CHAIN_* (cpu.h): 1 = fn touches only
	                     * registers, RIP and the lazy flags (no memory, devices, events or
	                     * counters) and returns VL_X_OK or, Jcc only, VL_X_FAULT; 2.. = a
	                     * load/store/push/pop the chain may do inline; 0 from vl_decode */
	uint8_t pf;         /* enum vl_pf of the [insn] value `cost` is (cpu.c insn_cost; VL_PF_NONE
	                     * when cost is 0: string and INS/OUTS iterations charge themselves) */
	uint32_t blk;       /* fast core (exec_block.c): index of the decoded block starting here,
	                     * VL_BLK_NONE when none can, 0 not built yet; 0 from vl_decode */
} __attribute__((aligned(64)));   /* one cache line per decode-cache slot (cpu.c) */

/* Decode one instruction from buf[0..avail).
 * Returns the length (1..15) on success;
 *   0  the bytes run out before the instruction ends (fetch more: page crossing);
 *  -1  not an instruction of the model's ISA (#UD);
 *  -2  longer than 15 bytes (#GP(0)). */
int vl_decode(const uint8_t *buf, size_t avail, struct vl_insn *out);

/* Decode modes: which default operand/address size the code segment gives
 * (CS.L and CS.D with EFER.LMA). VL_DMODE_64 is vl_decode. VL_DMODE_32 is
 * 32-bit protected mode and compatibility mode: 40-4F are INC/DEC, default
 * operand and address size 32, disp32 instead of RIP-relative, ES/CS/SS/DS
 * overrides recorded in seg, the 32-bit-only opcodes the model runs (PUSH/POP
 * of ES/SS/DS, PUSHA/POPA, far JMP/CALL ptr16:32); 67h (16-bit addressing),
 * BCD, BOUND, ARPL, LES/LDS, INTO and 66h on near branches are refused. */
enum { VL_DMODE_64 = 0, VL_DMODE_32 = 1 };
int vl_decode_mode(const uint8_t *buf, size_t avail, unsigned mode, struct vl_insn *out);

/* Mnemonic of an op ("add", "mov", ...; Jcc/SETcc/CMOVcc without the condition). */
const char *vl_op_name(unsigned op);
extern const char *const vl_cc_name[16];   /* "o", "no", "b", "ae", "e", ... */

#endif
