/* test_decode32_capstone.c — the decoder's 32-bit mode (VL_DMODE_32:
 * protected and compatibility mode) against Capstone 4 in CS_MODE_32:
 *   1. hand-picked encodings whose meaning differs from 64-bit mode decode
 *      to the expected op, operand size and length (INC/DEC 40-4F, PUSH/POP
 *      of segment registers, PUSHA/POPA, far JMP/CALL ptr16:32, disp32
 *      instead of RIP-relative, MOV moffs32, segment overrides);
 *   2. random byte strings (fixed seed, biased toward prefixes and the
 *      opcodes the model runs): where both decode, the lengths agree; where
 *      we decode what Capstone refuses, the test fails (except the reviewed
 *      cases: the callout and hint NOPs, as in test_decode_capstone.c);
 *      every accepted string decodes from no shorter prefix (0 = need more). */
#include <capstone/capstone.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "virtlab/machine.h"
#include "../../machine/decode.h"

#define RANDOM_STRINGS 1500000u

static uint64_t rng = 0x32b17dec0de5eedull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

struct known { const char *what; uint8_t b[15]; unsigned n; unsigned op, osz, len; };

static void test_known(void **state)
{
	(void)state;
	static const struct known k[] = {
		{ "inc eax",             { 0x40 }, 1, VL_OP_INC, 4, 1 },
		{ "dec edi",             { 0x4f }, 1, VL_OP_DEC, 4, 1 },
		{ "inc ax",              { 0x66, 0x40 }, 2, VL_OP_INC, 2, 2 },
		{ "push es",             { 0x06 }, 1, VL_OP_PUSH_SEG, 4, 1 },
		{ "pop ds",              { 0x1f }, 1, VL_OP_POP_SEG, 4, 1 },
		{ "pushad",              { 0x60 }, 1, VL_OP_PUSHA, 4, 1 },
		{ "popa (16)",           { 0x66, 0x61 }, 2, VL_OP_POPA, 2, 2 },
		{ "ljmp $0x8,$0x100000", { 0xea, 0, 0, 0x10, 0, 0x08, 0 }, 7, VL_OP_JMPF, 4, 7 },
		{ "lcall $0x10,$0x1234", { 0x9a, 0x34, 0x12, 0, 0, 0x10, 0 }, 7, VL_OP_CALLF, 4, 7 },
		{ "ljmp *(%eax)",        { 0xff, 0x28 }, 2, VL_OP_JMPF, 4, 2 },
		{ "mov 0x1000,%eax",     { 0xa1, 0, 0x10, 0, 0 }, 5, VL_OP_MOV_AO, 4, 5 },
		{ "mov 0x1000(,),%ecx",  { 0x8b, 0x0d, 0, 0x10, 0, 0 }, 6, VL_OP_MOV_GE, 4, 6 },
		{ "push $imm32",         { 0x68, 1, 2, 3, 4 }, 5, VL_OP_PUSH_I, 4, 5 },
		{ "call rel32",          { 0xe8, 0, 0, 0, 0 }, 5, VL_OP_CALL, 4, 5 },
		{ "lgdtl (%edx)",        { 0x0f, 0x01, 0x12 }, 3, VL_OP_LGDT, 4, 3 },
		{ "mov %eax,%cr0",       { 0x0f, 0x22, 0xc0 }, 3, VL_OP_MOV_TO_CR, 4, 3 },
		{ "mov %ax,%ss (es:)",   { 0x26, 0x8e, 0xd0 }, 3, VL_OP_MOV_SE, 4, 3 },
	};
	for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
		struct vl_insn in;
		int len = vl_decode_mode(k[i].b, k[i].n, VL_DMODE_32, &in);
		if (len != (int)k[i].len || in.op != k[i].op || in.osz != k[i].osz || in.asz != 4) {
			print_error("%s: len %d op %s osz %u asz %u (expected len %u op %s osz %u)\n", k[i].what, len,
				    vl_op_name(in.op), in.osz, in.asz, k[i].len, vl_op_name(k[i].op), k[i].osz);
			fail();
		}
	}
	/* disp32 alone, not RIP-relative; an ES override is recorded */
	struct vl_insn in;
	assert_int_equal(vl_decode_mode((const uint8_t[]){ 0x8b, 0x0d, 0, 0x10, 0, 0 }, 6, VL_DMODE_32, &in), 6);
	assert_int_equal(in.base, VL_NOREG);
	assert_int_equal(in.disp, 0x1000);
	assert_int_equal(vl_decode_mode((const uint8_t[]){ 0x26, 0x8b, 0x00 }, 3, VL_DMODE_32, &in), 3);
	assert_int_equal(in.seg, VL_ES);
	/* refused in 32-bit mode: 16-bit addressing, ARPL, BCD, SWAPGS, SYSRET */
	assert_true(vl_decode_mode((const uint8_t[]){ 0x67, 0x8b, 0x00 }, 3, VL_DMODE_32, &in) < 0);
	assert_true(vl_decode_mode((const uint8_t[]){ 0x63, 0xc0 }, 2, VL_DMODE_32, &in) < 0);
	assert_true(vl_decode_mode((const uint8_t[]){ 0x27 }, 1, VL_DMODE_32, &in) < 0);
	assert_true(vl_decode_mode((const uint8_t[]){ 0x0f, 0x01, 0xf8 }, 3, VL_DMODE_32, &in) < 0);
	assert_true(vl_decode_mode((const uint8_t[]){ 0x0f, 0x07 }, 2, VL_DMODE_32, &in) < 0);
	/* the same bytes in 64-bit mode: 40 is a REX prefix */
	assert_int_equal(vl_decode((const uint8_t[]){ 0x40, 0x90 }, 2, &in), 2);
}

static int cs_len32(csh cs, cs_insn *ci, const uint8_t *b, size_t n)
{
	const uint8_t *p = b;
	size_t sz = n;
	uint64_t addr = 0x1000;
	return cs_disasm_iter(cs, &p, &sz, &addr, ci) ? (int)ci->size : 0;
}

static bool is_string_op(unsigned op)
{
	return op == VL_OP_MOVS || op == VL_OP_CMPS || op == VL_OP_STOS || op == VL_OP_LODS || op == VL_OP_SCAS ||
	       op == VL_OP_INS || op == VL_OP_OUTS;
}

/* The reviewed disagreements of test_decode_capstone.c, in 32-bit mode:
 * the callout (UD0 C8 + imm32, the model's VMM escape), hint NOPs and
 * LFENCE/MFENCE/SFENCE with any r/m (SDM: the r/m field is ignored), which
 * Capstone 4.0.2 refuses; and prefixes without effect (repeated segment
 * overrides, F2/F3 where they select nothing): with the prefixes reduced to
 * the ones that matter, Capstone decodes the same length as we do. */
static bool reviewed32(csh cs, cs_insn *ci, const uint8_t *b, int len, int cslen, const struct vl_insn *in)
{
	if (in->op == VL_OP_CALLOUT && len == VL_CALLOUT_LEN)
		return true;
	if (!cslen && (in->op == VL_OP_NOP || in->op == VL_OP_FENCE))
		return true;
	uint8_t red[16], seg = 0, rep = 0;
	bool lock = false, o16 = false;
	int k = 0;
	for (; k < len; k++) {
		uint8_t x = b[k];
		if (x == 0xf0) lock = true;
		else if (x == 0x66) o16 = true;
		else if (x == 0xf2 || x == 0xf3) rep = x;
		else if (x == 0x26 || x == 0x2e || x == 0x36 || x == 0x3e || x == 0x64 || x == 0x65) seg = x;
		else break;
	}
	size_t o = 0;
	if (lock) red[o++] = 0xf0;
	if (seg) red[o++] = seg;
	if (o16) red[o++] = 0x66;
	if (rep && (is_string_op(in->op) || in->op == VL_OP_POPCNT || in->op == VL_OP_TZCNT || in->op == VL_OP_LZCNT ||
		    in->op == VL_OP_PAUSE))
		red[o++] = rep;
	int removed = k - (int)o;
	if (!removed && cslen)
		return false;
	for (int j = k; j < len && o < 15; j++)
		red[o++] = b[j];
	while (o < 16)
		red[o++] = 0x90;
	struct vl_insn rin;
	int rr = vl_decode_mode(red, 15, VL_DMODE_32, &rin);
	return rr > 0 && rr + removed == len && rin.op == in->op && cs_len32(cs, ci, red, 15) == rr;
}

/* Bytes biased toward what the model decodes. */
static void gen(uint8_t *b)
{
	static const uint8_t pfx[] = { 0x66, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
	unsigned n = 0, np = rnd() % 4 == 0 ? rnd() % 3 : 0;
	for (unsigned k = 0; k < np; k++)
		b[n++] = pfx[rnd() % sizeof pfx];
	if (rnd() % 3 == 0)
		b[n++] = 0x0f;
	while (n < 15)
		b[n++] = (uint8_t)rnd();
}

static void test_random(void **state)
{
	(void)state;
	csh cs;
	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_32, &cs), CS_ERR_OK);
	cs_insn *ci = cs_malloc(cs);
	unsigned both = 0, ours_only = 0, theirs_only = 0, mismatches = 0, prefix_bad = 0;
	for (unsigned r = 0; r < RANDOM_STRINGS; r++) {
		uint8_t b[15];
		gen(b);
		struct vl_insn in;
		int len = vl_decode_mode(b, 15, VL_DMODE_32, &in);
		const uint8_t *p = b;
		size_t sz = 15;
		uint64_t addr = 0x1000;
		bool cs_ok = cs_disasm_iter(cs, &p, &sz, &addr, ci);
		if (len > 0 && cs_ok) {
			both++;
			unsigned csz = ci->size;
			if ((unsigned)len != csz && !reviewed32(cs, ci, b, len, (int)csz, &in) && mismatches++ < 10)
				print_error("length %d vs Capstone %u: %02x %02x %02x %02x %02x %02x\n", len, csz, b[0], b[1], b[2], b[3], b[4], b[5]);
			for (int k = 0; k < len; k++) {
				struct vl_insn t;
				if (vl_decode_mode(b, (size_t)k, VL_DMODE_32, &t) != 0 && prefix_bad++ < 10)
					print_error("prefix of %d bytes of a %d-byte instruction did not ask for more\n", k, len);
			}
		} else if (len > 0) {
			/* reviewed: the callout (0F FF C8) and hint NOPs (0F 18-1F) Capstone 4 may refuse */
			bool reviewed = reviewed32(cs, ci, b, len, 0, &in);
			if (!reviewed && ours_only++ < 10)
				print_error("we decode (%s, %d bytes) what Capstone refuses: %02x %02x %02x %02x\n",
					    vl_op_name(in.op), len, b[0], b[1], b[2], b[3]);
		} else if (cs_ok) {
			theirs_only++;   /* outside the model's ISA (x87, SSE, BCD, ...): #UD in the guest */
		}
	}
	printf("32-bit random strings: %u both decode, %u only Capstone (outside the ISA)\n", both, theirs_only);
	cs_free(ci, 1);
	cs_close(&cs);
	assert_true(both > RANDOM_STRINGS / 10);
	assert_int_equal(mismatches, 0);
	assert_int_equal(ours_only, 0);
	assert_int_equal(prefix_bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
