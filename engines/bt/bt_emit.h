/* bt_emit.h — the binary translator's x86-64 assembler: the few encodings
 * translated code is made of, written into a translation-cache buffer whose
 * virtual address is known (RIP-relative operands and branch displacements
 * are computed against it). Private to engines/bt.
 *
 * Every helper appends to a struct bt_emit; when the buffer is full the
 * emitter sets `full` and writes nothing more, so a caller checks once at
 * the end (the translator then flushes the cache and retries).
 */
#ifndef VL_BT_EMIT_H
#define VL_BT_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bt_emit {
	uint8_t *buf;      /* host pointer to the TC bytes being written */
	uint64_t va;       /* virtual address of buf[0] (in the monitor hole) */
	size_t cap, len;
	bool full;         /* ran out of room: the contents are not usable */
};

/* Registers by their encoding number (as enum vl_gpr). */
enum { BT_RAX = 0, BT_RCX = 1, BT_RDX = 2, BT_RBX = 3, BT_RSP = 4, BT_RBP = 5, BT_RSI = 6, BT_RDI = 7 };

static inline uint64_t bt_emit_pc(const struct bt_emit *e) { return e->va + e->len; }

void bt_emit_bytes(struct bt_emit *e, const void *p, size_t n);
void bt_emit_u8(struct bt_emit *e, uint8_t b);
void bt_emit_u32(struct bt_emit *e, uint32_t v);
/* Patch a rel32 at buffer offset `at` so that it reaches `target` (the
 * displacement counts from the end of the 4 bytes). */
void bt_emit_patch_rel32(struct bt_emit *e, size_t at, uint64_t target);
/* True when target is reachable by a rel32 ending at `end`. */
bool bt_rel32_ok(uint64_t end, uint64_t target);

/* mov [rip -> target], r64 / mov r64, [rip -> target] */
void bt_emit_store_rip(struct bt_emit *e, unsigned reg, uint64_t target);
void bt_emit_load_rip(struct bt_emit *e, unsigned reg, uint64_t target);
/* lea r64, [rip -> target] */
void bt_emit_lea_rip(struct bt_emit *e, unsigned reg, uint64_t target);
/* movzx ecx, byte [rip -> target] */
void bt_emit_movzx_ecx_byte_rip(struct bt_emit *e, uint64_t target);
/* mov qword [rip -> target], simm32 */
void bt_emit_store_imm_rip(struct bt_emit *e, int32_t imm, uint64_t target);
/* jmp rel32 / jcc rel32; return the buffer offset of the rel32 (for chaining). */
size_t bt_emit_jmp(struct bt_emit *e, uint64_t target);
size_t bt_emit_jcc(struct bt_emit *e, unsigned cc, uint64_t target);
/* jmp qword [rip -> slot] */
void bt_emit_jmp_ind_rip(struct bt_emit *e, uint64_t slot);
/* The callout escape (machine.h VL_CALLOUT_BYTES + imm32 id). */
void bt_emit_callout(struct bt_emit *e, uint32_t id);
/* push simm32 (sign-extended to 64 bits) */
void bt_emit_push_imm(struct bt_emit *e, int32_t imm);
/* mov r64, imm64 */
void bt_emit_mov_imm64(struct bt_emit *e, unsigned reg, uint64_t imm);

#endif
