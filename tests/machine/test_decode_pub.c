/* test_decode_pub.c — the public decoder (include/virtlab/decode.h) that
 * engines use: hand-checked cases for what a translator needs (RIP-relative
 * operands and where their displacement sits, immediates, direct branch
 * targets, branch kinds, sensitive classes, the callout), then Capstone
 * 4's encoding details as the oracle on random byte strings: wherever both
 * decode with the same length, the displacement offset and size, the
 * immediate offset and size, the RIP-relative flag and the direct branch
 * target must agree (where Capstone is self-consistent). (Lengths themselves are test_decode_capstone's job.) */
#include <capstone/capstone.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/decode.h"
#include "virtlab/machine.h"

#define RIP 0xffffffff80001000ull

static struct vl_decoded d;

static int dec(const uint8_t *b, size_t n)
{
	return vl_decode_insn(b, n, RIP, &d);
}
#define DEC(...) ({ static const uint8_t b_[] = { __VA_ARGS__ }; dec(b_, sizeof b_); })

static void test_cases(void **s)
{
	(void)s;
	/* mov rax, [rip + 0x1234]: 48 8b 05 34 12 00 00 */
	assert_int_equal(DEC(0x48, 0x8b, 0x05, 0x34, 0x12, 0x00, 0x00), 7);
	assert_true(d.mem && d.riprel && d.base == VL_DREG_NONE && d.index == VL_DREG_NONE);
	assert_int_equal(d.disp, 0x1234);
	assert_int_equal(d.disp_off, 3);
	assert_int_equal(d.disp_size, 4);
	assert_int_equal(d.imm_size, 0);
	assert_int_equal(d.kind, VL_DK_PLAIN);
	assert_int_equal(d.rex, 0x48);
	assert_int_equal(d.osz, 8);
	assert_string_equal(d.mnemonic, "mov");
	assert_int_equal(d.sens, VL_SENS_COUNT);

	/* cmp dword [rip - 8], 0x11223344: 81 3d f8 ff ff ff 44 33 22 11 */
	assert_int_equal(DEC(0x81, 0x3d, 0xf8, 0xff, 0xff, 0xff, 0x44, 0x33, 0x22, 0x11), 10);
	assert_true(d.riprel);
	assert_int_equal(d.disp, -8);
	assert_int_equal(d.disp_off, 2);
	assert_int_equal(d.imm_off, 6);
	assert_int_equal(d.imm_size, 4);
	assert_true(d.imm == 0x11223344);

	/* mov [rax + rcx*8 + 0x10], bl with gs: 65 88 5c c8 10 */
	assert_int_equal(DEC(0x65, 0x88, 0x5c, 0xc8, 0x10), 5);
	assert_true(d.mem && !d.riprel);
	assert_int_equal(d.base, VL_RAX);
	assert_int_equal(d.index, VL_RCX);
	assert_int_equal(d.scale, 3);
	assert_int_equal(d.disp_off, 4);
	assert_int_equal(d.disp_size, 1);
	assert_int_equal(d.seg, VL_GS);

	/* movabs rax, imm64 */
	assert_int_equal(DEC(0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8), 10);
	assert_int_equal(d.imm_off, 2);
	assert_int_equal(d.imm_size, 8);
	assert_true(d.imm == 0x0807060504030201ull);
	assert_false(d.has_modrm);

	/* jmp rel32, jne rel8, call rel32, jmp [rip+0], ret, iret, hlt */
	assert_int_equal(DEC(0xe9, 0x00, 0x01, 0x00, 0x00), 5);
	assert_int_equal(d.kind, VL_DK_JMP);
	assert_true(d.has_target && d.target == RIP + 5 + 0x100);
	assert_int_equal(DEC(0x75, 0xfe), 2);
	assert_int_equal(d.kind, VL_DK_JCC);
	assert_int_equal(d.cc, 5);
	assert_string_equal(vl_decode_cc_name(d.cc), "ne");
	assert_true(d.target == RIP);
	assert_int_equal(DEC(0xe8, 0xfb, 0xff, 0xff, 0xff), 5);
	assert_int_equal(d.kind, VL_DK_CALL);
	assert_true(d.target == RIP);
	assert_int_equal(DEC(0xff, 0x25, 0, 0, 0, 0), 6);
	assert_int_equal(d.kind, VL_DK_JMP_IND);
	assert_true(d.riprel && !d.has_target);
	assert_int_equal(DEC(0xff, 0xd0), 2);
	assert_int_equal(d.kind, VL_DK_CALL_IND);
	assert_int_equal(DEC(0xc3), 1);
	assert_int_equal(d.kind, VL_DK_RET);
	assert_int_equal(DEC(0x48, 0xcf), 2);
	assert_int_equal(d.kind, VL_DK_FAR);
	assert_int_equal(d.sens, VL_SENS_IRET);
	assert_int_equal(DEC(0xf4), 1);
	assert_int_equal(d.kind, VL_DK_TRAP);
	assert_true(d.privileged);
	assert_int_equal(d.sens, VL_SENS_HLT);

	/* sensitive but unprivileged: pushf, popf; privileged: mov cr3, rax; lgdt */
	assert_int_equal(DEC(0x9c), 1);
	assert_int_equal(d.sens, VL_SENS_PUSHF);
	assert_false(d.privileged);
	assert_int_equal(DEC(0x9d), 1);
	assert_int_equal(d.sens, VL_SENS_POPF);
	assert_int_equal(DEC(0x0f, 0x22, 0xd8), 3);
	assert_int_equal(d.sens, VL_SENS_CR_WRITE);
	assert_true(d.privileged);
	assert_int_equal(d.reg, 3);
	assert_int_equal(d.rm, VL_RAX);
	assert_int_equal(DEC(0x0f, 0x01, 0x15, 0x10, 0, 0, 0), 7);   /* lgdt [rip + 0x10] */
	assert_int_equal(d.sens, VL_SENS_LGDT);
	assert_true(d.riprel && d.disp_off == 3);

	/* rep movsb, lock add */
	assert_int_equal(DEC(0xf3, 0xa4), 2);
	assert_int_equal(d.rep, 0xf3);
	assert_int_equal(DEC(0xf0, 0x48, 0x01, 0x07), 4);
	assert_true(d.lock && d.mem);

	/* the callout: UD0 C8 + imm32 id */
	assert_int_equal(DEC(0x0f, 0xff, 0xc8, 0x78, 0x56, 0x34, 0x12), VL_CALLOUT_LEN);
	assert_true(d.callout);
	assert_int_equal(d.imm_off, 3);
	assert_int_equal(d.imm_size, 4);
	assert_true(d.imm == 0x12345678);

	/* mov al, [moffs64]: the absolute address is the displacement (as Capstone says) */
	assert_int_equal(DEC(0xa0, 1, 2, 3, 4, 5, 6, 7, 8), 9);
	assert_true(d.mem && !d.riprel && d.base == VL_DREG_NONE && d.index == VL_DREG_NONE);
	assert_int_equal(d.disp_off, 1);
	assert_int_equal(d.disp_size, 8);
	assert_int_equal(d.imm_size, 0);
	assert_true(d.imm == 0x0807060504030201ull);

	/* enter 0x20, 1: two immediates, 3 bytes */
	assert_int_equal(DEC(0xc8, 0x20, 0x00, 0x01), 4);
	assert_int_equal(d.imm_off, 1);
	assert_int_equal(d.imm_size, 3);
	assert_true(d.imm == (0x20 | 1u << 16));

	/* refusals and short input */
	assert_int_equal(DEC(0x0f, 0x0b), 2);               /* ud2 is an instruction */
	assert_int_equal(DEC(0xd9, 0xc0), -1);              /* x87: outside the ISA */
	assert_int_equal(DEC(0x48, 0x8b, 0x05, 0x34), 0);   /* runs out: fetch more */
	static const uint8_t longb[16] = { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
					   0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90 };   /* 16 bytes */
	assert_int_equal(dec(longb, sizeof longb), -2);
}

/* Capstone's x86 encoding detail as the oracle (random strings, fixed seed). */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
	return (uint32_t)rng;
}

static void test_capstone_encoding(void **s)
{
	(void)s;
	csh h;
	cs_insn *ci;
	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h), CS_ERR_OK);
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	ci = cs_malloc(h);
	static const uint8_t pre[] = { 0x48, 0x4c, 0x41, 0x66, 0xf3, 0x65, 0x0f };
	unsigned both = 0, disp = 0, imm = 0, rip = 0, tgt = 0, bad = 0;
	for (unsigned n = 0; n < 400000; n++) {
		uint8_t b[15];
		for (int k = 0; k < 15; k++)
			b[k] = (uint8_t)rnd();
		if (n & 1)
			b[0] = pre[rnd() % sizeof pre];
		int len = dec(b, sizeof b);
		const uint8_t *p = b;
		size_t sz = sizeof b;
		uint64_t addr = RIP;
		if (len <= 0 || !cs_disasm_iter(h, &p, &sz, &addr, ci) || ci->size != (unsigned)len)
			continue;
		both++;
		const cs_x86 *x = &ci->detail->x86;
		bool cs_rip = false;
		for (int k = 0; k < x->op_count; k++)
			if (x->operands[k].type == X86_OP_MEM &&
			    (x->operands[k].mem.base == X86_REG_RIP || x->operands[k].mem.base == X86_REG_EIP))
				cs_rip = true;
		bool ok = true;
		/* Capstone 4 quirks, not ours: a 66h prefix shrinks its disp_size to 2
		 * (no 16-bit displacements exist in 64-bit mode), and with 66h and
		 * F2/REX its immediate size can disagree with its own length (the
		 * immediate is the last field: offset + size must be the length) */
		bool cs_disp16 = x->encoding.disp_size == 2;
		bool cs_io = ci->id == X86_INS_IN || ci->id == X86_INS_OUT ||
			     x->encoding.imm_offset + x->encoding.imm_size != ci->size;
		if ((d.mem || x->encoding.disp_offset) && !cs_disp16) {
			disp++;
			ok = ok && d.disp_off == x->encoding.disp_offset && d.disp_size == x->encoding.disp_size;
		}
		if (d.riprel || cs_rip) {
			rip++;
			ok = ok && d.riprel == cs_rip;
		}
		/* ENTER has two immediates; Capstone reports the first only */
		if ((d.imm_size || x->encoding.imm_offset) && ci->id != X86_INS_ENTER) {
			imm++;
			ok = ok && d.imm_off == x->encoding.imm_offset && (cs_io || d.imm_size == x->encoding.imm_size);
		}
		if (d.has_target) {
			tgt++;
			ok = ok && x->op_count == 1 && x->operands[0].type == X86_OP_IMM &&
			     (uint64_t)x->operands[0].imm == d.target;
		}
		if (!ok && bad++ < 10) {
			char hex[64] = "";
			for (int k = 0; k < len; k++)
				snprintf(hex + 3 * k, sizeof hex - 3 * k, "%02x ", b[k]);
			print_error("%s(%s %s): ours disp %u/%u imm %u/%u rip %d tgt %#llx; capstone disp %u/%u imm %u/%u rip %d\n",
				    hex, ci->mnemonic, ci->op_str, d.disp_off, d.disp_size, d.imm_off, d.imm_size, d.riprel,
				    (unsigned long long)d.target, x->encoding.disp_offset, x->encoding.disp_size,
				    x->encoding.imm_offset, x->encoding.imm_size, cs_rip);
		}
	}
	printf("decode.h vs capstone: %u decoded by both; checked %u displacements, %u immediates, "
	       "%u rip-relative, %u branch targets; %u disagreements\n", both, disp, imm, rip, tgt, bad);
	cs_free(ci, 1);
	cs_close(&h);
	assert_true(both > 100000 && disp > 10000 && imm > 10000 && rip > 1000 && tgt > 1000);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_capstone_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
