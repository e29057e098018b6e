/* bt_emit.c — encodings of the translator's own instructions (see bt_emit.h). */
#include <string.h>

#include "bt_emit.h"
#include "virtlab/machine.h"

void bt_emit_bytes(struct bt_emit *e, const void *p, size_t n)
{
	if (e->full || e->len + n > e->cap) {
		e->full = true;
		return;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

void bt_emit_u8(struct bt_emit *e, uint8_t b) { bt_emit_bytes(e, &b, 1); }

void bt_emit_u32(struct bt_emit *e, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	bt_emit_bytes(e, b, 4);
}

bool bt_rel32_ok(uint64_t end, uint64_t target)
{
	int64_t d = (int64_t)(target - end);
	return d >= INT32_MIN && d <= INT32_MAX;
}

void bt_emit_patch_rel32(struct bt_emit *e, size_t at, uint64_t target)
{
	if (e->full || at + 4 > e->len)
		return;
	uint32_t d = (uint32_t)(target - (e->va + at + 4));
	e->buf[at] = (uint8_t)d;
	e->buf[at + 1] = (uint8_t)(d >> 8);
	e->buf[at + 2] = (uint8_t)(d >> 16);
	e->buf[at + 3] = (uint8_t)(d >> 24);
}

/* REX.W [+R] op.. ModRM(00, reg, 101) disp32 [imm of `tail` bytes]:
 * the displacement is relative to the end of the whole instruction. */
static void rip_form(struct bt_emit *e, bool w, const uint8_t *op, size_t oplen, unsigned reg,
		     uint64_t target, size_t tail)
{
	uint8_t rex = (uint8_t)(0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0));
	if (rex != 0x40)
		bt_emit_u8(e, rex);
	bt_emit_bytes(e, op, oplen);
	bt_emit_u8(e, (uint8_t)(((reg & 7) << 3) | 5));
	uint64_t end = bt_emit_pc(e) + 4 + tail;
	bt_emit_u32(e, (uint32_t)(target - end));
}

void bt_emit_store_rip(struct bt_emit *e, unsigned reg, uint64_t target)
{
	static const uint8_t op[] = { 0x89 };
	rip_form(e, true, op, 1, reg, target, 0);
}

void bt_emit_load_rip(struct bt_emit *e, unsigned reg, uint64_t target)
{
	static const uint8_t op[] = { 0x8b };
	rip_form(e, true, op, 1, reg, target, 0);
}

void bt_emit_lea_rip(struct bt_emit *e, unsigned reg, uint64_t target)
{
	static const uint8_t op[] = { 0x8d };
	rip_form(e, true, op, 1, reg, target, 0);
}

void bt_emit_movzx_ecx_byte_rip(struct bt_emit *e, uint64_t target)
{
	static const uint8_t op[] = { 0x0f, 0xb6 };
	rip_form(e, false, op, 2, BT_RCX, target, 0);
}

void bt_emit_store_imm_rip(struct bt_emit *e, int32_t imm, uint64_t target)
{
	static const uint8_t op[] = { 0xc7 };
	rip_form(e, true, op, 1, 0, target, 4);
	bt_emit_u32(e, (uint32_t)imm);
}

size_t bt_emit_jmp(struct bt_emit *e, uint64_t target)
{
	bt_emit_u8(e, 0xe9);
	size_t at = e->len;
	bt_emit_u32(e, (uint32_t)(target - (bt_emit_pc(e) + 4)));
	return at;
}

size_t bt_emit_jcc(struct bt_emit *e, unsigned cc, uint64_t target)
{
	uint8_t op[2] = { 0x0f, (uint8_t)(0x80 | (cc & 15)) };
	bt_emit_bytes(e, op, 2);
	size_t at = e->len;
	bt_emit_u32(e, (uint32_t)(target - (bt_emit_pc(e) + 4)));
	return at;
}

void bt_emit_jmp_ind_rip(struct bt_emit *e, uint64_t slot)
{
	static const uint8_t op[] = { 0xff };
	rip_form(e, false, op, 1, 4, slot, 0);
}

void bt_emit_callout(struct bt_emit *e, uint32_t id)
{
	static const uint8_t co[] = VL_CALLOUT_BYTES;
	_Static_assert(sizeof co + 4 == VL_CALLOUT_LEN, "callout = escape bytes + imm32 id");
	bt_emit_bytes(e, co, sizeof co);
	bt_emit_u32(e, id);
}

void bt_emit_push_imm(struct bt_emit *e, int32_t imm)
{
	bt_emit_u8(e, 0x68);
	bt_emit_u32(e, (uint32_t)imm);
}

void bt_emit_mov_imm64(struct bt_emit *e, unsigned reg, uint64_t imm)
{
	bt_emit_u8(e, (uint8_t)(0x48 | ((reg & 8) ? 1 : 0)));
	bt_emit_u8(e, (uint8_t)(0xb8 | (reg & 7)));
	bt_emit_u32(e, (uint32_t)imm);
	bt_emit_u32(e, (uint32_t)(imm >> 32));
}
