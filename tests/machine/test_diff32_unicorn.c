/* test_diff32_unicorn.c — the interpreter's 32-bit protected mode against
 * an independent oracle, Unicorn (QEMU's TCG) in UC_MODE_32.
 *
 * Random sequences (fixed seed) of the 32-bit integer instructions a
 * Multiboot kernel's 32-bit code and compilers' 32-bit output use — ALU
 * register/immediate/memory forms, INC/DEC 40-4F, NEG/NOT, shifts by one,
 * MOV/LEA with disp32 and [EBX+disp8], MOVZX/MOVSX, XCHG, SETcc/CMOVcc/Jcc,
 * 16-bit operand size (66h), PUSH/POP, PUSHAD/POPAD, CALL/POP (EIP pushed
 * as 4 bytes) — run on the machine (CR0.PE, paging off, flat 32-bit CS) and
 * on Unicorn from the same state; the eight registers, EIP, the arithmetic
 * flags the SDM defines for these instructions (CF PF ZF SF OF), the data
 * page and the stack page must agree. Flags the SDM leaves undefined (AF
 * after logic ops, SF/ZF/PF after IMUL) are never compared: IMUL is always
 * followed by a CMP that redefines them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <unicorn/unicorn.h>

#include "virtlab/machine.h"
#include "../support/test_profile.h"

#define CODE_BASE  0x10000u
#define DATA_BASE  0x20000u
#define STACK_BASE 0x30000u
#define PAGE       0x1000u
#define EBX_V      (DATA_BASE + 0x800u)
#define SEQS       3000
#define SEQ_LEN    24
#define FLAGS_CMP  (VL_FL_CF | VL_FL_PF | VL_FL_ZF | VL_FL_SF | VL_FL_OF)

static uint64_t rng = 0x3232deadbeefull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static const unsigned dst_regs[6] = { 0, 1, 2, 5, 6, 7 };   /* EAX ECX EDX EBP ESI EDI: EBX, ESP stay put */
static unsigned rdst(void) { return dst_regs[rnd() % 6]; }
static unsigned rsrc(void) { return rnd() % 8; }

struct seq { uint8_t code[SEQ_LEN * 16]; unsigned n; };

static void put(struct seq *s, int n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (int k = 0; k < n; k++)
		s->code[s->n++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}
static void put32(struct seq *s, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		s->code[s->n++] = (uint8_t)(v >> (8 * k));
}
static uint8_t modrm(unsigned mod, unsigned reg, unsigned rm) { return (uint8_t)(mod << 6 | (reg & 7) << 3 | (rm & 7)); }
static uint32_t rimm(void)
{
	static const uint32_t edge[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7f, 0x80, 0xff, 0x8000 };
	return rnd() % 3 ? rnd() : edge[rnd() % 9];
}

static void gen_one(struct seq *s)
{
	unsigned alu = rnd() % 8;   /* ADD OR ADC SBB AND SUB XOR CMP */
	switch (rnd() % 22) {
	case 0: put(s, 2, alu * 8 + 1, modrm(3, rsrc(), rdst())); break;                    /* op r/m32, r32 */
	case 1: put(s, 2, 0x81, modrm(3, alu, rdst())); put32(s, rimm()); break;          /* op r32, imm32 */
	case 2: put(s, 3, 0x83, modrm(3, alu, rdst()), rnd() & 0xff); break;              /* op r32, imm8 */
	case 3: put(s, 2, alu * 8 + 3, modrm(0, rdst(), 5)); put32(s, DATA_BASE + (rnd() % 1020) * 4); break;
	case 4: put(s, 2, alu * 8 + 1, modrm(0, rsrc(), 5)); put32(s, DATA_BASE + (rnd() % 1020) * 4); break;
	case 5: put(s, 1, (rnd() & 1 ? 0x40 : 0x48) + rdst()); break;                        /* INC/DEC r32 */
	case 6: put(s, 2, 0xf7, modrm(3, rnd() & 1 ? 3 : 2, rdst())); break;                  /* NEG/NOT */
	case 7: { static const unsigned sh[3] = { 4, 5, 7 }; put(s, 2, 0xd1, modrm(3, sh[rnd() % 3], rdst())); break; }
	case 8: put(s, 1, 0xb8 + rdst()); put32(s, rimm()); break;                           /* MOV r32, imm32 */
	case 9: put(s, 3, 0x8b, modrm(1, rdst(), 3), (rnd() % 32) * 4 - 64); break;          /* MOV r32, [ebx+d8] */
	case 10: put(s, 3, 0x89, modrm(1, rsrc(), 3), (rnd() % 32) * 4 - 64); break;         /* MOV [ebx+d8], r32 */
	case 11: put(s, 4, 0x8d, modrm(1, rdst(), 4), (rnd() % 4) << 6 | rsrc() << 3 | 3, rnd() & 0xff); break; /* LEA */
	case 12: put(s, 2, 0x50 + rsrc(), 0x58 + rdst()); break;                             /* PUSH; POP */
	case 13: { static const unsigned r8[6] = { 0, 1, 2, 4, 5, 6 };   /* AL CL DL AH CH DH: never BL/BH */
		put(s, 3, 0x0f, 0x90 + rnd() % 16, modrm(3, 0, r8[rnd() % 6])); break; }              /* SETcc r8 */
	case 14: put(s, 3, 0x0f, 0x40 + rnd() % 16, modrm(3, rdst(), rsrc())); break;       /* CMOVcc */
	case 15: put(s, 3, 0x0f, rnd() & 1 ? 0xb6 : 0xbf, modrm(3, rdst(), rnd() % 4)); break; /* MOVZX r8 / MOVSX r16 */
	case 16: { unsigned a = rdst(), b = rdst(); put(s, 2, 0x87, modrm(3, a, b)); break; } /* XCHG */
	case 17: put(s, 2, 0x70 + rnd() % 16, 5); put(s, 1, 0xb8 + rdst()); put32(s, rimm()); break; /* Jcc over a MOV */
	case 18: put(s, 1, 0xe8); put32(s, 0); put(s, 1, 0x58 + rdst()); break;            /* CALL next; POP */
	case 19: put(s, 2, 0x60, 0x61); break;                                               /* PUSHAD; POPAD */
	case 20: put(s, 3, 0x66, alu * 8 + 1, modrm(3, rsrc(), rdst())); break;             /* 16-bit ALU */
	default: put(s, 3, 0x0f, 0xaf, modrm(3, rdst(), rsrc())); put(s, 2, 0x39, modrm(3, rsrc(), rsrc())); break; /* IMUL; CMP */
	}
}

struct st { uint32_t r[8], eip, fl; uint8_t data[PAGE], stack[PAGE]; };

static void run_ours(struct vl_machine *m, const struct seq *s, const struct st *in, struct st *out)
{
	vl_phys_write(m, CODE_BASE, s->code, s->n);
	vl_phys_write(m, DATA_BASE, in->data, PAGE);
	vl_phys_write(m, STACK_BASE, in->stack, PAGE);
	struct vl_cpu *c = &m->cpu;
	for (int k = 0; k < 8; k++)
		c->gpr[k] = in->r[k];
	c->rip = CODE_BASE;
	c->rflags = in->fl | 2;
	m->state = VL_M_RUNNING;
	for (int k = 0; k < 4 * SEQ_LEN && c->rip != CODE_BASE + s->n && m->state == VL_M_RUNNING; k++)
		vl_machine_step(m);
	for (int k = 0; k < 8; k++) {
		assert_true(c->gpr[k] >> 32 == 0);   /* 32-bit results are zero-extended */
		out->r[k] = (uint32_t)c->gpr[k];
	}
	out->eip = (uint32_t)c->rip;
	out->fl = (uint32_t)c->rflags;
	memcpy(out->data, vl_phys_ptr(m, DATA_BASE), PAGE);
	memcpy(out->stack, vl_phys_ptr(m, STACK_BASE), PAGE);
}

static void run_uc(uc_engine *uc, const struct seq *s, const struct st *in, struct st *out)
{
	static const int regs[8] = { UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
				     UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI };
	assert_int_equal(uc_mem_write(uc, CODE_BASE, s->code, s->n), UC_ERR_OK);
	assert_int_equal(uc_ctl_remove_cache(uc, CODE_BASE, CODE_BASE + PAGE), UC_ERR_OK);
	assert_int_equal(uc_mem_write(uc, DATA_BASE, in->data, PAGE), UC_ERR_OK);
	assert_int_equal(uc_mem_write(uc, STACK_BASE, in->stack, PAGE), UC_ERR_OK);
	for (int k = 0; k < 8; k++)
		assert_int_equal(uc_reg_write(uc, regs[k], &in->r[k]), UC_ERR_OK);
	uint32_t fl = in->fl | 2;
	assert_int_equal(uc_reg_write(uc, UC_X86_REG_EFLAGS, &fl), UC_ERR_OK);
	assert_int_equal(uc_emu_start(uc, CODE_BASE, CODE_BASE + s->n, 0, 4 * SEQ_LEN), UC_ERR_OK);
	for (int k = 0; k < 8; k++)
		assert_int_equal(uc_reg_read(uc, regs[k], &out->r[k]), UC_ERR_OK);
	assert_int_equal(uc_reg_read(uc, UC_X86_REG_EIP, &out->eip), UC_ERR_OK);
	assert_int_equal(uc_reg_read(uc, UC_X86_REG_EFLAGS, &out->fl), UC_ERR_OK);
	assert_int_equal(uc_mem_read(uc, DATA_BASE, out->data, PAGE), UC_ERR_OK);
	assert_int_equal(uc_mem_read(uc, STACK_BASE, out->stack, PAGE), UC_ERR_OK);
}

static void test_sequences(void **state)
{
	(void)state;
	struct vl_profile prof;
	char err[200];
	vl_test_profile(&prof);
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 2, .monitor_mb = 1 };
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(m);
	/* 32-bit protected mode, paging off, flat segments (the Multiboot entry state) */
	m->cpu.cr0 = VL_CR0_PE | (1ull << 4);
	m->cpu.cr4 = 0;
	m->cpu.efer = 0;
	m->cpu.seg[VL_CS] = (struct vl_seg){ .sel = 8, .base = 0, .limit = 0xffffffff, .attr = 0xc09b };
	for (int s = 0; s < 6; s++)
		if (s != VL_CS)
			m->cpu.seg[s] = (struct vl_seg){ .sel = 0x10, .base = 0, .limit = 0xffffffff, .attr = 0xc093 };

	uc_engine *uc;
	assert_int_equal(uc_open(UC_ARCH_X86, UC_MODE_32, &uc), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, CODE_BASE, PAGE, UC_PROT_READ | UC_PROT_EXEC), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, DATA_BASE, PAGE, UC_PROT_READ | UC_PROT_WRITE), UC_ERR_OK);
	assert_int_equal(uc_mem_map(uc, STACK_BASE, PAGE, UC_PROT_READ | UC_PROT_WRITE), UC_ERR_OK);

	static struct st in, a, b;
	unsigned bad = 0, insns = 0;
	for (int q = 0; q < SEQS; q++) {
		struct seq s = { .n = 0 };
		for (int k = 0; k < SEQ_LEN; k++)
			gen_one(&s);
		insns += SEQ_LEN;
		for (int k = 0; k < 8; k++)
			in.r[k] = rimm();
		in.r[3] = EBX_V;
		in.r[4] = STACK_BASE + PAGE - 0x100;
		in.fl = rnd() & (uint32_t)FLAGS_CMP;
		for (unsigned k = 0; k < PAGE; k++) {
			in.data[k] = (uint8_t)rnd();
			in.stack[k] = (uint8_t)rnd();
		}
		run_ours(m, &s, &in, &a);
		run_uc(uc, &s, &in, &b);
		bool same = a.eip == b.eip && (a.fl & FLAGS_CMP) == (b.fl & FLAGS_CMP) && !memcmp(a.r, b.r, sizeof a.r) &&
			    !memcmp(a.data, b.data, PAGE) && !memcmp(a.stack, b.stack, PAGE);
		if (!same && bad++ < 5) {
			print_error("sequence %d differs (machine state %d: %s)\n", q, (int)m->state, m->diag);
			for (int k = 0; k < 8; k++)
				if (a.r[k] != b.r[k])
					print_error("  reg %d: machine %#x unicorn %#x\n", k, a.r[k], b.r[k]);
			if (a.eip != b.eip)
				print_error("  eip: machine %#x unicorn %#x\n", a.eip, b.eip);
			if ((a.fl ^ b.fl) & FLAGS_CMP)
				print_error("  flags: machine %#x unicorn %#x\n", (unsigned)(a.fl & FLAGS_CMP), (unsigned)(b.fl & FLAGS_CMP));
			print_error("  code:");
			for (unsigned k = 0; k < s.n; k++)
				print_error(" %02x", s.code[k]);
			print_error("\n");
		}
	}
	printf("32-bit sequences: %d x %d instructions, %u differ\n", SEQS, SEQ_LEN, bad);
	uc_close(uc);
	vl_machine_free(m);
	assert_int_equal(bad, 0);
	assert_true(insns > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_sequences) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
