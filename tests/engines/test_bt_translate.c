/* test_bt_translate.c — the binary translator (engines/bt/bt_translate.c):
 * for every non-IDENT class, the emitted code disassembled with Capstone
 * (an oracle independent of the emitter) and checked; and translated code
 * executed on the machine model at CPL 1 with the monitor hole mapped, so
 * the sequences are checked by what they do: virtual IF through
 * CLI/STI/PUSHF/POPF with the arithmetic flags kept, the inline lookup's
 * hit and miss, RIP-relative fix-ups, confinement of memory operands to
 * outside the monitor hole, and the TC -> guest-RIP map of a fault raised
 * inside a sequence. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <capstone/capstone.h>

#include "virtlab/machine.h"
#include "../support/mini_elf.h"
#include "../support/test_profile.h"
#include "../../engines/bt/bt_translate.h"

/* ---- translation without a machine ----------------------------------------- */
#define KPC 0xffffffff80200000ull   /* kernel-text guest PC */

struct gcode { uint64_t va; const uint8_t *b; size_t n; };

static size_t fetch(void *arg, uint64_t va, uint8_t *buf, size_t n)
{
	const struct gcode *g = arg;
	if (va < g->va || va >= g->va + g->n)
		return 0;
	size_t off = (size_t)(va - g->va), k = g->n - off < n ? g->n - off : n;
	memcpy(buf, g->b + off, k);
	return k;
}

static uint64_t hot_pc;
static bool hot(void *arg, uint64_t va) { return va == hot_pc; }

static uint8_t tcbuf[65536];
static struct bt_mapent blk_map[BT_MAX_MAP];
static struct bt_block blk = { .map = blk_map, .map_cap = BT_MAX_MAP };
static csh cs;

static int grp_setup(void **st) { return bt_cs_open(&cs) ? -1 : 0; }
static int grp_teardown(void **st) { cs_close(&cs); return 0; }

/* Translate `code` at pc into tcbuf at BT_TC_VA. */
static enum bt_xl_rc xlate(uint64_t pc, const uint8_t *code, size_t n, bool confine, struct bt_emit *e)
{
	static struct gcode g;
	g = (struct gcode){ pc, code, n };
	struct bt_xlate_env env = { .cs = cs, .fetch = fetch, .hot = hot, .arg = &g, .confine = confine };
	*e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	return bt_translate(&env, pc, e, &blk);
}

/* The emitted block disassembled with Capstone. */
struct dis { size_t n; cs_insn *ci; };
static struct dis disas(const struct bt_emit *e)
{
	struct dis d = { 0, NULL };
	d.n = cs_disasm(cs, e->buf, e->len, e->va, 0, &d.ci);
	return d;
}
static void dis_free(struct dis *d) { if (d->n) cs_free(d->ci, d->n); }

/* Callout id at TC address va (the escape bytes then imm32), or -1. */
static int64_t callout_at(const struct bt_emit *e, uint64_t va)
{
	size_t off = (size_t)(va - e->va);
	static const uint8_t co[] = VL_CALLOUT_BYTES;
	if (off + VL_CALLOUT_LEN > e->len || memcmp(e->buf + off, co, sizeof co))
		return -1;
	uint32_t id;
	memcpy(&id, e->buf + off + 3, 4);
	return id;
}

/* Count the callouts of kind k in the emitted bytes (scan at instruction
 * starts: Capstone stops at the UD0 escape, so walk it by hand). */
static unsigned count_callouts(const struct bt_emit *e, unsigned k)
{
	unsigned c = 0;
	size_t off = 0;
	while (off < e->len) {
		int64_t id = callout_at(e, e->va + off);
		if (id >= 0) {
			if (BT_CO_KIND((uint32_t)id) == k)
				c++;
			off += VL_CALLOUT_LEN;
			continue;
		}
		cs_insn *ci;
		size_t n = cs_disasm(cs, e->buf + off, e->len - off, e->va + off, 1, &ci);
		assert_int_equal(n, 1);
		off += ci[0].size;
		cs_free(ci, 1);
	}
	return c;
}

/* Mnemonics of the emitted code up to the first callout, joined by ';'. */
static void mnems(const struct bt_emit *e, char *out, size_t outn)
{
	size_t off = 0, o = 0;
	out[0] = 0;
	while (off < e->len && callout_at(e, e->va + off) < 0) {
		cs_insn *ci;
		if (cs_disasm(cs, e->buf + off, e->len - off, e->va + off, 1, &ci) != 1)
			break;
		o += (size_t)snprintf(out + o, outn - o, "%s%s", o ? ";" : "", ci[0].mnemonic);
		off += ci[0].size;
		cs_free(ci, 1);
	}
}

static void test_ident_copied(void **st)
{
	static const uint8_t code[] = { 0x48, 0x01, 0xd8, 0x48, 0x89, 0xc1, 0x0f, 0x31, 0xc3 };   /* add rax,rbx; mov rcx,rax; rdtsc; ret */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	assert_memory_equal(tcbuf, code, 8);   /* IDENT: the same bytes */
	assert_int_equal(blk.ninsns, 4);
	assert_int_equal(blk.glen, sizeof code);
	assert_int_equal(blk.tc_len, e.len);
	assert_int_equal(blk.nexits, 0);
	const struct bt_mapent *me = bt_map_find(&blk, 6);
	assert_non_null(me);
	assert_int_equal(me->goff, 6);   /* rdtsc */
	assert_int_equal(me->saved, 0);
}

static void test_riprel_absolute(void **st)
{
	/* mov rax, [rip+0x100]; add dword [rip-0x20], 5; ret */
	static const uint8_t code[] = { 0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00,
					0x83, 0x05, 0xe0, 0xff, 0xff, 0xff, 0x05, 0xc3 };
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	struct dis d = disas(&e);
	assert_true(d.n >= 2);
	const cs_x86 *x0 = &d.ci[0].detail->x86, *x1 = &d.ci[1].detail->x86;
	assert_int_equal(d.ci[0].id, X86_INS_MOV);
	assert_int_equal(x0->operands[1].type, X86_OP_MEM);
	assert_int_equal(x0->operands[1].mem.base, X86_REG_INVALID);
	assert_int_equal(x0->operands[1].mem.index, X86_REG_INVALID);
	assert_int_equal((uint64_t)x0->operands[1].mem.disp, KPC + 7 + 0x100);
	assert_int_equal(d.ci[1].id, X86_INS_ADD);
	assert_int_equal(x1->operands[0].mem.base, X86_REG_INVALID);
	assert_int_equal((uint64_t)x1->operands[0].mem.disp, KPC + 14 - 0x20);
	assert_int_equal(x1->operands[1].imm, 5);
	dis_free(&d);
}

static void test_riprel_far_uses_scratch(void **st)
{
	/* at a lower-half PC above 2 GiB: mov eax, [rip+0x10] -> a base register */
	static const uint8_t code[] = { 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00, 0xc3 };
	const uint64_t pc = 0x100000000000ull;
	struct bt_emit e;
	assert_int_equal(xlate(pc, code, sizeof code, false, &e), BT_XL_OK);
	struct dis d = disas(&e);
	/* mov [slot r], r; movabs r, target; mov eax, [r]; mov r, [slot r] */
	assert_true(d.n >= 4);
	assert_int_equal(d.ci[1].id, X86_INS_MOVABS);
	x86_reg r = d.ci[1].detail->x86.operands[0].reg;
	assert_int_not_equal(r, X86_REG_RAX);   /* eax is the destination */
	assert_int_equal((uint64_t)d.ci[1].detail->x86.operands[1].imm, pc + 6 + 0x10);
	assert_int_equal(d.ci[2].detail->x86.operands[1].mem.base, r);
	assert_int_equal(d.ci[2].detail->x86.operands[1].mem.disp, 0);
	dis_free(&d);
}

static void test_jcc_two_exits(void **st)
{
	static const uint8_t code[] = { 0x48, 0x85, 0xc0, 0x74, 0x10 };   /* test rax,rax; je +0x10 */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	assert_int_equal(blk.nexits, 2);
	assert_int_equal(blk.exit[0].target, KPC + 5 + 0x10);
	assert_int_equal(blk.exit[1].target, KPC + 5);
	struct dis d = disas(&e);
	assert_true(d.n >= 3);
	assert_int_equal(d.ci[1].id, X86_INS_JE);
	assert_int_equal(d.ci[1].size, 6);   /* rel32 form, patchable */
	assert_int_equal((uint64_t)d.ci[1].detail->x86.operands[0].imm, BT_TC_VA + blk.exit[0].stub_off);
	assert_int_equal(d.ci[2].id, X86_INS_JMP);
	assert_int_equal((uint64_t)d.ci[2].detail->x86.operands[0].imm, BT_TC_VA + blk.exit[1].stub_off);
	dis_free(&d);
	assert_int_equal(callout_at(&e, BT_TC_VA + blk.exit[0].stub_off), BT_CO_ID(BT_CO_EXIT, 0));
	assert_int_equal(callout_at(&e, BT_TC_VA + blk.exit[1].stub_off), BT_CO_ID(BT_CO_EXIT, 1));
	const struct bt_mapent *me = bt_map_find(&blk, blk.exit[1].stub_off);
	assert_true(me->flags & BT_MAP_EXIT);
	assert_int_equal(me->goff, 1);
}

static void test_loop_rel8(void **st)
{
	static const uint8_t code[] = { 0xe2, 0xfe };   /* loop $ */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	assert_int_equal(blk.nexits, 2);
	assert_int_equal(blk.exit[0].target, KPC + 2);   /* fall-through */
	assert_int_equal(blk.exit[1].target, KPC);       /* taken */
	struct dis d = disas(&e);
	assert_int_equal(d.ci[0].id, X86_INS_LOOP);
	assert_int_equal((uint64_t)d.ci[0].detail->x86.operands[0].imm, BT_TC_VA + 2 + 5);
	dis_free(&d);
}

static void test_call_direct(void **st)
{
	static const uint8_t code[] = { 0xe8, 0x00, 0x10, 0x00, 0x00 };   /* call +0x1000 */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	struct dis d = disas(&e);
	assert_int_equal(d.ci[0].id, X86_INS_PUSH);
	assert_int_equal((uint64_t)d.ci[0].detail->x86.operands[0].imm, KPC + 5);   /* the GUEST return address */
	assert_int_equal(d.ci[1].id, X86_INS_JMP);
	dis_free(&d);
	assert_int_equal(blk.nexits, 1);
	assert_int_equal(blk.exit[0].target, KPC + 5 + 0x1000);
}

static void test_ret_lookup(void **st)
{
	static const uint8_t code[] = { 0xc3 };
	struct bt_emit e;
	char m[512];
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_string_equal(m, "mov;mov;pop;mov;lea;movzx;lea;lea;mov;lea;mov;mov;not;lea;jrcxz");
	assert_int_equal(count_callouts(&e, BT_CO_LOOKUP_MISS), 1);
	assert_int_equal(blk.nexits, 0);
	/* the sequence ends in jmp [rip -> S_TGT] */
	struct dis d = disas(&e);
	assert_int_equal(d.ci[d.n - 1].id, X86_INS_JMP);
	dis_free(&d);
	/* map: at the pop, RAX and RCX are in their slots, RSP not moved yet */
	const struct bt_mapent *me = bt_map_find(&blk, 14);
	assert_int_equal(me->goff, 0);
	assert_int_equal(me->saved, (1u << 0) | (1u << 1));
	assert_int_equal(me->rsp_delta, 0);
	me = bt_map_find(&blk, 15);
	assert_int_equal(me->rsp_delta, 8);
}

static void test_indirect_call(void **st)
{
	static const uint8_t code[] = { 0xff, 0x50, 0x08 };   /* call [rax+8] */
	struct bt_emit e;
	char m[512];
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_true(strncmp(m, "mov;mov;mov;push;mov;lea", 24) == 0);
	struct dis d = disas(&e);
	assert_int_equal(d.ci[2].detail->x86.operands[1].mem.base, X86_REG_RAX);
	assert_int_equal(d.ci[2].detail->x86.operands[1].mem.disp, 8);
	assert_int_equal((uint64_t)d.ci[3].detail->x86.operands[0].imm, KPC + 3);
	dis_free(&d);
}

static void test_virtual_if_sequences(void **st)
{
	struct bt_emit e;
	char m[512];
	static const uint8_t cli[] = { 0xfa, 0xf4 };
	assert_int_equal(xlate(KPC, cli, sizeof cli, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_string_equal(m, "mov");   /* mov qword [rip -> vif], 0; then the HLT callout */
	struct dis d = disas(&e);
	assert_int_equal((uint64_t)d.ci[0].detail->x86.operands[0].mem.disp + d.ci[0].address + d.ci[0].size, BT_VSTATE_VA + BT_VS_VIF);
	assert_int_equal(d.ci[0].detail->x86.operands[1].imm, 0);
	dis_free(&d);
	assert_int_equal(count_callouts(&e, BT_CO_HLT), 1);

	static const uint8_t pushf[] = { 0x9c, 0xc3 };
	assert_int_equal(xlate(KPC, pushf, sizeof pushf, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_true(strncmp(m, "pushfq;pushfq;mov;mov;and;or;mov;mov;popfq;", 43) == 0);

	static const uint8_t popf[] = { 0x9d, 0xc3 };
	assert_int_equal(xlate(KPC, popf, sizeof popf, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_true(strncmp(m, "mov;mov;and;popfq;mov;mov;mov;mov;jrcxz;mov;jrcxz", 49) == 0);
	assert_int_equal(count_callouts(&e, BT_CO_INTR_WINDOW), 1);
	/* after the POPFQ, before vIF is written: no rollback (atomic) */
	assert_int_equal(callout_at(&e, BT_TC_VA), -1);
	bool atomic = false;
	for (unsigned i = 0; i < blk.nmap; i++)
		atomic |= (blk.map[i].flags & BT_MAP_ATOMIC) != 0;
	assert_true(atomic);

	/* STI's shadow: the pending check comes after the next instruction */
	static const uint8_t sti[] = { 0xfb, 0x90, 0xc3 };
	assert_int_equal(xlate(KPC, sti, sizeof sti, false, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_true(strncmp(m, "mov;nop;mov;mov;jrcxz;mov;jrcxz", 31) == 0);
}

static void test_cr8_in_tc(void **st)
{
	static const uint8_t code[] = { 0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f, 0x20, 0xc3, 0xc3 };   /* mov cr8, rax; mov rbx, cr8 */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	struct dis d = disas(&e);
	assert_int_equal(d.ci[0].id, X86_INS_MOV);
	assert_int_equal(d.ci[0].detail->x86.operands[1].reg, X86_REG_RAX);
	assert_int_equal((uint64_t)d.ci[0].detail->x86.operands[0].mem.disp + d.ci[0].address + d.ci[0].size, BT_VSTATE_VA + BT_VS_VCR8);
	dis_free(&d);
	assert_int_equal(count_callouts(&e, BT_CO_CR_WRITE), 0);
	assert_int_equal(count_callouts(&e, BT_CO_CR_READ), 0);
	assert_int_equal(count_callouts(&e, BT_CO_INTR_WINDOW), 1);
}

static void test_callout_classes(void **st)
{
	static const struct { uint8_t b[8]; int n; unsigned k; bool ends; } t[] = {
		{ { 0x0f, 0xa2 }, 2, BT_CO_CPUID, false },
		{ { 0xe4, 0x80 }, 2, BT_CO_IO, false },
		{ { 0xef }, 1, BT_CO_IO, false },
		{ { 0xf3, 0x6e }, 2, BT_CO_IO, false },
		{ { 0x0f, 0x32 }, 2, BT_CO_RDMSR, false },
		{ { 0x0f, 0x30 }, 2, BT_CO_WRMSR, false },
		{ { 0x0f, 0x22, 0xd8 }, 3, BT_CO_CR_WRITE, false },   /* mov cr3, rax */
		{ { 0x0f, 0x20, 0xd0 }, 3, BT_CO_CR_READ, false },    /* mov rax, cr2 */
		{ { 0x0f, 0x01, 0x3f }, 3, BT_CO_INVLPG, false },
		{ { 0xf4 }, 1, BT_CO_HLT, false },
		{ { 0x0f, 0x01, 0xf8 }, 3, BT_CO_SWAPGS, false },
		{ { 0x0f, 0x01, 0x17 }, 3, BT_CO_DESC, false },       /* lgdt [rdi] */
		{ { 0x0f, 0x01, 0x0f }, 3, BT_CO_DESC, false },       /* sidt [rdi] */
		{ { 0x0f, 0x00, 0xd8 }, 3, BT_CO_DESC, false },       /* ltr ax */
		{ { 0x8c, 0xc8 }, 2, BT_CO_SEG, false },              /* mov eax, cs */
		{ { 0x8e, 0xd0 }, 2, BT_CO_SEG, false },              /* mov ss, eax */
		{ { 0x0f, 0x09 }, 2, BT_CO_PRIV, false },             /* wbinvd */
		{ { 0x48, 0x0f, 0x07 }, 3, BT_CO_SYSRET, true },
		{ { 0x48, 0xcf }, 2, BT_CO_IRET, true },
		{ { 0xcd, 0x80 }, 2, BT_CO_INTN, true },
		{ { 0xcc }, 1, BT_CO_INTN, true },
		{ { 0x0f, 0x0b }, 2, BT_CO_FAULT, true },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint8_t code[16];
		memcpy(code, t[i].b, (size_t)t[i].n);
		code[t[i].n] = 0xc3;
		struct bt_emit e;
		assert_int_equal(xlate(KPC, code, (size_t)t[i].n + 1, false, &e), BT_XL_OK);
		int64_t id = callout_at(&e, BT_TC_VA);
		if (id < 0 || BT_CO_KIND((uint32_t)id) != t[i].k)
			fail_msg("entry %zu: expected callout %s first, got %lld", i, bt_callout_name[t[i].k], (long long)id);
		/* the callout's map entry names the guest instruction; after it, the next */
		assert_int_equal(bt_map_find(&blk, 0)->goff, 0);
		if (t[i].ends) {
			assert_int_equal(blk.ninsns, 1);
		} else {
			assert_int_equal(blk.ninsns, 2);
			assert_int_equal(bt_map_find(&blk, VL_CALLOUT_LEN)->goff, t[i].n);
		}
	}
}

static void test_bad_bytes_fault(void **st)
{
	static const uint8_t code[16] = { 0x0f, 0x04 };   /* not an instruction */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	assert_int_equal(BT_CO_KIND((uint32_t)callout_at(&e, BT_TC_VA)), BT_CO_FAULT);
	/* nothing fetchable at all: the dispatcher raises #PF */
	assert_int_equal(xlate(KPC, code, 0, false, &e), BT_XL_NOCODE);
}

static void test_adaptive_pte_write(void **st)
{
	static const uint8_t code[] = { 0x48, 0x89, 0x37, 0xc3 };   /* mov [rdi], rsi; ret */
	struct bt_emit e;
	hot_pc = KPC;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	hot_pc = 0;
	assert_int_equal(BT_CO_KIND((uint32_t)callout_at(&e, BT_TC_VA)), BT_CO_PTE_WRITE);
	assert_int_equal(bt_map_find(&blk, VL_CALLOUT_LEN)->goff, 3);
}

static void test_confine_sequence(void **st)
{
	static const uint8_t code[] = { 0x48, 0x89, 0x37, 0x8b, 0x04, 0x24, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00, 0xc3 };
	/* mov [rdi], rsi; mov eax, [rsp]; mov [0x1000], eax; ret */
	struct bt_emit e;
	char m[512];
	assert_int_equal(xlate(KPC, code, sizeof code, true, &e), BT_XL_OK);
	mnems(&e, m, sizeof m);
	assert_string_equal(m, "mov;mov;lea;mov;movzx;lea;movzx;jrcxz");
	struct dis d = disas(&e);
	assert_int_equal(d.ci[2].detail->x86.operands[1].mem.base, X86_REG_RDI);   /* lea rax, [rdi] */
	dis_free(&d);
	assert_int_equal(count_callouts(&e, BT_CO_CONFINE), 2);   /* [rdi] and [rsp]; [disp32] needs none */
	/* the original store follows, unchanged */
	assert_non_null(memmem(tcbuf, e.len, code, 3));
	/* a RIP-relative operand that lands in the hole is refused statically */
	static const uint8_t hole[] = { 0x48, 0x8b, 0x05, 0x00, 0x00, 0x00, 0x00 };
	uint8_t h2[8];
	memcpy(h2, hole, 7);
	int32_t disp = -0x100;   /* ...reaching back into it */
	memcpy(h2 + 3, &disp, 4);
	h2[7] = 0xc3;
	assert_int_equal(xlate(BT_HOLE_END + 0x10, h2, 8, true, &e), BT_XL_OK);
	assert_int_equal(BT_CO_KIND((uint32_t)callout_at(&e, BT_TC_VA)), BT_CO_CONFINE);
}

/* RSP loaded with an arbitrary value, or moved without touching memory
 * (SUB/ADD/AND imm, LEA, ENTER), is checked after the instruction; moves
 * that touch the new stack top (PUSH/POP/CALL/RET) are not (the fences). */
static void test_confine_rsp_loads(void **st)
{
	static const struct { uint8_t b[8]; int n; unsigned checks; } t[] = {
		{ { 0x48, 0x89, 0xfc }, 3, 1 },                    /* mov rsp, rdi */
		{ { 0x48, 0x8b, 0x27 }, 3, 2 },                    /* mov rsp, [rdi]: the load + the new RSP */
		{ { 0xc9 }, 1, 1 },                                /* leave */
		{ { 0x5c }, 1, 1 },                                /* pop rsp */
		{ { 0x48, 0x87, 0xe0 }, 3, 1 },                    /* xchg rax, rsp */
		{ { 0x48, 0x83, 0xec, 0x28 }, 4, 1 },              /* sub rsp, 0x28 */
		{ { 0x48, 0x81, 0xc4, 0x00, 0x10, 0x00, 0x00 }, 7, 1 },   /* add rsp, 0x1000 */
		{ { 0x48, 0x8d, 0x64, 0x24, 0x08 }, 5, 1 },        /* lea rsp, [rsp+8] */
		{ { 0x48, 0x83, 0xe4, 0xf0 }, 4, 1 },              /* and rsp, -16 */
		{ { 0xc8, 0x10, 0x00, 0x00 }, 4, 1 },              /* enter 0x10, 0 */
		{ { 0x55 }, 1, 0 },                                /* push rbp */
		{ { 0x5d }, 1, 0 },                                /* pop rbp */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint8_t code[16];
		memcpy(code, t[i].b, (size_t)t[i].n);
		code[t[i].n] = 0xf4;   /* hlt: a callout, not a lookup */
		struct bt_emit e;
		assert_int_equal(xlate(KPC, code, (size_t)t[i].n + 1, true, &e), BT_XL_OK);
		unsigned c = count_callouts(&e, BT_CO_CONFINE);
		if (c != t[i].checks)
			fail_msg("entry %zu: %u CONFINE checks, expected %u", i, c, t[i].checks);
	}
}

static void test_block_bound_and_full(void **st)
{
	uint8_t code[200];
	memset(code, 0x90, sizeof code);   /* nops */
	struct bt_emit e;
	assert_int_equal(xlate(KPC, code, sizeof code, false, &e), BT_XL_OK);
	assert_int_equal(blk.ninsns, BT_MAX_INSNS);
	assert_int_equal(blk.nexits, 1);
	assert_int_equal(blk.exit[0].target, KPC + BT_MAX_INSNS);
	/* no room: FULL, never a partial block */
	static struct gcode g;
	g = (struct gcode){ KPC, code, sizeof code };
	struct bt_xlate_env env = { .cs = cs, .fetch = fetch, .arg = &g };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = 16 };
	assert_int_equal(bt_translate(&env, KPC, &e, &blk), BT_XL_FULL);
}

/* ---- translated code executed on the machine --------------------------------- */
#define CODE_PA   0x200000ull
#define STACK_PA  0x300000ull
#define DATA_PA   0x310000ull
#define PT_PA     0x400000ull
#define KSTACK    (0xffffffff80000000ull + STACK_PA + 0x1000)
#define KDATA     (0xffffffff80000000ull + DATA_PA)

struct rig {
	struct vl_profile p;
	struct vl_machine *m;
	uint64_t pt_next;
	uint64_t vstate_pa, confine_pa, hash_pa, tc_pa;
	uint32_t co_id;
	uint64_t co_rip;
	int exc_vec;
	uint64_t exc_rip, exc_cr2;
};
static struct rig R;

static uint64_t pt_alloc(struct rig *r)
{
	uint64_t pa = r->pt_next;
	r->pt_next += 0x1000;
	static const uint8_t z[4096];
	vl_phys_write(r->m, pa, z, sizeof z);
	return pa;
}

static void map4k(struct rig *r, uint64_t va, uint64_t pa, uint64_t fl)
{
	uint64_t t = r->m->cpu.cr3 & VL_PTE_ADDR;
	for (int lvl = 3; lvl > 0; lvl--) {
		uint64_t ea = t + (((va >> (12 + 9 * lvl)) & 511) * 8);
		uint64_t ent = vl_phys_read64(r->m, ea);
		if (!(ent & VL_PTE_P)) {
			ent = pt_alloc(r) | VL_PTE_P | VL_PTE_RW | VL_PTE_US;
			vl_phys_write64(r->m, ea, ent);
		}
		t = ent & VL_PTE_ADDR;
	}
	vl_phys_write64(r->m, t + ((va >> 12) & 511) * 8, (pa & VL_PTE_ADDR) | fl | VL_PTE_P);
}

static int co_hook(struct vl_machine *m, void *ctx, uint32_t id)
{
	R.co_id = id;
	R.co_rip = m->cpu.rip;
	vl_machine_stop(m, VL_M_EXITED, "callout");
	return VL_HOOK_STOP;
}
static int exc_hook(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	R.exc_vec = (int)vec;
	R.exc_rip = m->cpu.rip;
	R.exc_cr2 = cr2;
	vl_machine_stop(m, VL_M_EXITED, "exception");
	return VL_HOOK_STOP;
}
static const struct vl_vmm_ops test_vmm = { .callout = co_hook, .exception = exc_hook };

static int rig_setup(void **st)
{
	char err[256] = "";
	static uint8_t img[VL_MINI_ELF_SIZE(1)];
	static const uint8_t hlt = 0xf4;
	memset(&R, 0, sizeof R);
	vl_test_profile(&R.p);
	struct vl_machine_config cfg = { .prof = &R.p, .ram_mb = 8, .monitor_mb = 4 };
	R.m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(R.m);
	size_t n = vl_test_mini_elf(img, CODE_PA, &hlt, 1, PF_R | PF_X);
	assert_int_equal(vl_machine_load_elf_mem(R.m, img, n, "", err, sizeof err), 0);
	struct vl_machine *m = R.m;
	R.pt_next = PT_PA;
	m->cpu.cr3 = pt_alloc(&R);
	for (uint64_t o = 0; o < 0x200000; o += 0x1000)   /* kernel text/data/stack */
		map4k(&R, 0xffffffff80000000ull + CODE_PA + o, CODE_PA + o, VL_PTE_RW);
	/* the monitor: vstate, confinement table, 1 MiB hash table, 64 KiB TC */
	R.vstate_pa = vl_mem_alloc_page(m);
	R.confine_pa = vl_mem_alloc_page(m);
	map4k(&R, BT_VSTATE_VA, R.vstate_pa, VL_PTE_RW);
	map4k(&R, BT_CONFINE_VA, R.confine_pa, VL_PTE_RW);
	for (unsigned b = 0x80; b <= 0x87; b++) {
		uint8_t one = 1;
		vl_phys_write(m, R.confine_pa + b, &one, 1);
	}
	for (uint64_t o = 0; o < (uint64_t)BT_HASH_ENTRIES * 16; o += 0x1000) {
		uint64_t pa = vl_mem_alloc_page(m);
		assert_int_not_equal(pa, 0);
		if (!o) R.hash_pa = pa;
		assert_int_equal(pa, R.hash_pa + o);   /* contiguous (bump allocator) */
		map4k(&R, BT_HASH_VA + o, pa, VL_PTE_RW);
	}
	for (uint64_t o = 0; o < 0x10000; o += 0x1000) {
		uint64_t pa = vl_mem_alloc_page(m);
		if (!o) R.tc_pa = pa;
		map4k(&R, BT_TC_VA + o, pa, VL_PTE_RW);
	}
	vl_tlb_flush_all(m);
	m->vmm = &test_vmm;
	m->callouts = true;
	m->callout_gate = (struct vl_callout_gate){ .va_lo = BT_TC_VA, .va_hi = BT_TC_VA + 0x10000,
						    .pa_lo = R.tc_pa, .pa_hi = R.tc_pa + 0x10000, .cpl = 1 };
	m->exc_intercept = 0xffffffffu;
	/* run as the deprivileged kernel does: CPL 1, real IF = 1, IOPL 0 */
	m->cpu.cpl = 1;
	m->cpu.seg[VL_CS].sel |= 1;
	m->cpu.seg[VL_CS].attr = (uint16_t)((m->cpu.seg[VL_CS].attr & ~0x60u) | 0x20u);
	m->cpu.rflags = 0x202;
	m->cpu.gpr[VL_RSP] = KSTACK;
	return 0;
}
static int rig_teardown(void **st) { vl_machine_free(R.m); return 0; }

static uint64_t vs_rd(unsigned off) { return vl_phys_read64(R.m, R.vstate_pa + off); }
static void vs_wr(unsigned off, uint64_t v) { vl_phys_write64(R.m, R.vstate_pa + off, v); }

/* Translate `code` at guest PC KPC (+ its bytes in guest memory), put the
 * translation at TC offset tc_off, run it until a callout or exception. */
static void run_tc(const uint8_t *code, size_t n, bool confine, uint64_t tc_off)
{
	struct vl_machine *m = R.m;
	vl_phys_write(m, CODE_PA, code, n);
	static struct gcode g;
	g = (struct gcode){ KPC, code, n };
	struct bt_xlate_env env = { .cs = cs, .fetch = fetch, .arg = &g, .confine = confine };
	struct bt_emit e = { .buf = tcbuf, .va = BT_TC_VA + tc_off, .cap = 0x8000 };
	assert_int_equal(bt_translate(&env, KPC, &e, &blk), BT_XL_OK);
	vl_phys_write(m, R.tc_pa + tc_off, tcbuf, e.len);
	m->state = VL_M_RUNNING;
	m->cpu.rip = BT_TC_VA + tc_off;
	R.co_id = 0xffffffffu;
	R.exc_vec = -1;
	for (int i = 0; i < 1000 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	assert_int_not_equal(m->state, VL_M_RUNNING);
}

static void test_exec_virtual_if(void **st)
{
	struct vl_machine *m = R.m;
	/* stc; cli; pushfq; pop rax; sti; pushfq; pop rbx; hlt */
	static const uint8_t code[] = { 0xf9, 0xfa, 0x9c, 0x58, 0xfb, 0x9c, 0x5b, 0xf4 };
	vs_wr(BT_VS_VIF, 0x200);
	vs_wr(BT_VS_VPEND, 0);
	run_tc(code, sizeof code, false, 0);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(m->cpu.gpr[VL_RAX] & (VL_FL_IF | VL_FL_CF), VL_FL_CF);   /* IF 0 (virtual), CF kept */
	assert_int_equal(m->cpu.gpr[VL_RBX] & (VL_FL_IF | VL_FL_CF), VL_FL_IF | VL_FL_CF);
	assert_int_equal(vs_rd(BT_VS_VIF), 0x200);
	assert_true(m->cpu.rflags & VL_FL_IF);    /* the real IF never moved */
	assert_true(m->cpu.rflags & VL_FL_CF);
	assert_int_equal(m->cpu.gpr[VL_RSP], KSTACK);
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA));
	assert_int_equal(me->goff, 7);   /* the HLT */
}

static void test_exec_popf(void **st)
{
	struct vl_machine *m = R.m;
	/* push 0x201 (IF|CF); popfq; -> vIF = 0x200, CF = 1; then push 0; popfq with an
	 * interrupt held: vIF 0, no window callout; then hlt */
	static const uint8_t code[] = { 0x68, 0x01, 0x02, 0x00, 0x00, 0x9d, 0x6a, 0x00, 0x9d, 0xf4 };
	vs_wr(BT_VS_VIF, 0);
	vs_wr(BT_VS_VPEND, 0);
	m->cpu.gpr[VL_RAX] = 0x1234;
	run_tc(code, 6, false, 0x1000);   /* push; popfq only: the block then falls off at KPC+6 */
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_EXIT);
	assert_int_equal(vs_rd(BT_VS_VIF), 0x200);
	assert_true(m->cpu.rflags & VL_FL_CF);
	assert_int_equal(m->cpu.gpr[VL_RAX], 0x1234);
	assert_int_equal(m->cpu.gpr[VL_RSP], KSTACK);
	/* with an interrupt held, a POPF that sets IF calls out INTR_WINDOW */
	vs_wr(BT_VS_VIF, 0);
	vs_wr(BT_VS_VPEND, 1);
	run_tc(code, sizeof code, false, 0x1000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_INTR_WINDOW);
	assert_int_equal(bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x1000))->goff, 6);   /* after the POPF */
	vs_wr(BT_VS_VPEND, 0);
}

/* A callout (VL_CALLOUT_BYTES with `id`) at TC offset tc_off: what a
 * test's fake translation of a branch target does when entered. */
static void put_callout_stub(uint64_t tc_off, uint32_t id)
{
	static const uint8_t co[] = VL_CALLOUT_BYTES;
	uint8_t stub[VL_CALLOUT_LEN];
	memcpy(stub, co, 3);
	memcpy(stub + 3, &id, 4);
	vl_phys_write(R.m, R.tc_pa + tc_off, stub, sizeof stub);
}

static void test_exec_ret_lookup(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0xc3 };
	const uint64_t target = 0xffffffff80201234ull, target_tc = BT_TC_VA + 0x3000;
	/* a callout waits at the target's "translation" */
	put_callout_stub(0x3000, 0x77);
	/* miss: the entry holds another PC */
	vl_phys_write64(m, R.hash_pa + (target & 0xffff) * 16, 0x8000000000000000ull);
	m->cpu.gpr[VL_RSP] = KSTACK - 8;
	vl_phys_write64(m, STACK_PA + 0x1000 - 8, target);
	m->cpu.gpr[VL_RAX] = 0xaaaa;
	m->cpu.gpr[VL_RCX] = 0xcccc;
	m->cpu.gpr[VL_RDX] = 0xdddd;
	uint64_t before = vs_rd(BT_VS_LOOKUPS);
	run_tc(code, sizeof code, false, 0x2000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_LOOKUP_MISS);
	assert_int_equal(m->cpu.gpr[VL_RAX], target);
	assert_int_equal(m->cpu.gpr[VL_RSP], KSTACK);
	assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 0), 0xaaaa);
	assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 1), 0xcccc);
	assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 2), 0xdddd);
	assert_int_equal(vs_rd(BT_VS_LOOKUPS), before + 1);
	/* hit: the entry names the target */
	vl_phys_write64(m, R.hash_pa + (target & 0xffff) * 16, target);
	vl_phys_write64(m, R.hash_pa + (target & 0xffff) * 16 + 8, target_tc);
	m->cpu.gpr[VL_RSP] = KSTACK - 8;
	m->cpu.gpr[VL_RAX] = 0xaaaa;
	m->cpu.gpr[VL_RCX] = 0xcccc;
	m->cpu.gpr[VL_RDX] = 0xdddd;
	m->cpu.rflags |= VL_FL_ZF;
	run_tc(code, sizeof code, false, 0x2000);
	assert_int_equal(R.co_id, 0x77);
	assert_int_equal(R.co_rip, target_tc);
	assert_int_equal(m->cpu.gpr[VL_RAX], 0xaaaa);
	assert_int_equal(m->cpu.gpr[VL_RCX], 0xcccc);
	assert_int_equal(m->cpu.gpr[VL_RDX], 0xdddd);
	assert_true(m->cpu.rflags & VL_FL_ZF);   /* flags survive the lookup */
	assert_int_equal(m->cpu.gpr[VL_RSP], KSTACK);
	assert_int_equal(vs_rd(BT_VS_LOOKUPS), before + 2);
}

static void test_exec_ret_fault_map(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0xc3 };
	m->cpu.gpr[VL_RSP] = 0xffffffff90000000ull;   /* unmapped stack */
	m->cpu.gpr[VL_RAX] = 0x5555;
	run_tc(code, sizeof code, false, 0x2000);
	assert_int_equal(R.exc_vec, VL_PF);
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.exc_rip - BT_TC_VA - 0x2000));
	assert_non_null(me);
	assert_int_equal(me->goff, 0);   /* the RET */
	assert_int_equal(me->saved, 3);  /* RAX, RCX in their slots: the VMM puts them back */
	assert_int_equal(me->rsp_delta, 0);
	assert_int_equal(vs_rd(BT_VS_SLOT), 0x5555);
	m->cpu.gpr[VL_RSP] = KSTACK;
}

static void test_exec_riprel_and_confine(void **st)
{
	struct vl_machine *m = R.m;
	/* mov rax, [rip -> KDATA]; mov [rdi], rax; hlt   (code at KPC) */
	uint8_t code[] = { 0x48, 0x8b, 0x05, 0, 0, 0, 0, 0x48, 0x89, 0x07, 0xf4 };
	int32_t d = (int32_t)(KDATA - (KPC + 7));
	memcpy(code + 3, &d, 4);
	vl_phys_write64(m, DATA_PA, 0x1122334455667788ull);
	m->cpu.gpr[VL_RDI] = KDATA + 8;
	m->cpu.rflags |= VL_FL_CF;
	run_tc(code, sizeof code, true, 0x4000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(vl_phys_read64(m, DATA_PA + 8), 0x1122334455667788ull);
	assert_true(m->cpu.rflags & VL_FL_CF);
	/* the same store aimed at the monitor's own state: CONFINE, nothing written */
	m->cpu.gpr[VL_RDI] = BT_VSTATE_VA + BT_VS_VIF;
	vs_wr(BT_VS_VIF, 0);
	run_tc(code, sizeof code, true, 0x4000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
	assert_int_equal(vs_rd(BT_VS_VIF), 0);
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x4000));
	assert_int_equal(me->goff, 7);
	assert_int_equal(me->saved, 3);
	/* and an address just above the hole passes */
	m->cpu.gpr[VL_RDI] = BT_HOLE_END;   /* unmapped: #PF, not CONFINE */
	run_tc(code, sizeof code, true, 0x4000);
	assert_int_equal(R.exc_vec, VL_PF);
}

/* A guest page mapped at the top of the hole (the guest may map the hole's
 * slots the monitor does not own): what the gaps below would have reached. */
#define HOLE_TOP_PA  (DATA_PA + 0x2000)
#define ABOVE_PA     (DATA_PA + 0x3000)
static void map_hole_top(void)
{
	static const uint8_t z[4096];
	vl_phys_write(R.m, HOLE_TOP_PA, z, sizeof z);
	vl_phys_write(R.m, ABOVE_PA, z, sizeof z);
	map4k(&R, BT_HOLE_END - 0x1000, HOLE_TOP_PA, VL_PTE_RW);
	map4k(&R, BT_HOLE_END, ABOVE_PA, VL_PTE_RW);
	vl_tlb_flush_all(R.m);
}
static bool hole_top_clean(void)
{
	for (unsigned o = 0; o < 0x1000; o += 8)
		if (vl_phys_read64(R.m, HOLE_TOP_PA + o))
			return false;
	return true;
}

/* Known gap (a), closed: RSP stepped by an immediate into the hole (no
 * memory touched on the way) is caught before the push lands there. */
static void test_exec_rsp_step_into_hole(void **st)
{
	struct vl_machine *m = R.m;
	/* sub rsp, 0x20; push rax; hlt */
	static const uint8_t code[] = { 0x48, 0x83, 0xec, 0x20, 0x50, 0xf4 };
	map_hole_top();
	m->cpu.gpr[VL_RSP] = BT_HOLE_END + 0x10;
	m->cpu.gpr[VL_RAX] = 0xbad;
	run_tc(code, sizeof code, true, 0x5000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
	assert_true(hole_top_clean());
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x5000));
	assert_int_equal(me->goff, 4);   /* after the SUB: the guest state at the PUSH */
	/* a step that stays outside runs on */
	m->cpu.gpr[VL_RSP] = BT_HOLE_END + 0x100;
	m->cpu.gpr[VL_RAX] = 0xbad;   /* (the VMM would have restored it from its slot) */
	run_tc(code, sizeof code, true, 0x5000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(vl_phys_read64(m, ABOVE_PA + 0xd8), 0xbad);
	m->cpu.gpr[VL_RSP] = KSTACK;
}

/* Known gap (b), closed: the target of an indirect JMP/CALL read from
 * memory is confined like any other load. */
static void test_exec_indirect_target_confined(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0xff, 0x27 };   /* jmp [rdi] */
	vl_phys_write64(m, DATA_PA + 0x10, 0xffffffff80205678ull);
	vl_phys_write64(m, R.hash_pa + 0x5678 * 16, 0);
	m->cpu.gpr[VL_RDI] = KDATA + 0x10;
	run_tc(code, sizeof code, true, 0x6000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_LOOKUP_MISS);
	assert_int_equal(m->cpu.gpr[VL_RAX], 0xffffffff80205678ull);
	/* aimed at the monitor's state: CONFINE before the load */
	vs_wr(BT_VS_S_TGT, 0x4242);
	m->cpu.gpr[VL_RDI] = BT_VSTATE_VA + BT_VS_S_TGT;
	m->cpu.gpr[VL_RAX] = 0x1111;
	run_tc(code, sizeof code, true, 0x6000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
	assert_int_equal(bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x6000))->goff, 0);
	/* RIP-relative pointer in the hole: refused at translation */
	uint8_t rr[] = { 0xff, 0x25, 0, 0, 0, 0 };   /* jmp [rip+disp] */
	int32_t d = -0x100;
	memcpy(rr + 2, &d, 4);
	struct bt_emit e;
	static struct gcode g;
	g = (struct gcode){ BT_HOLE_END + 0x10, rr, sizeof rr };
	struct bt_xlate_env env = { .cs = cs, .fetch = fetch, .arg = &g, .confine = true };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	assert_int_equal(bt_translate(&env, BT_HOLE_END + 0x10, &e, &blk), BT_XL_OK);
	assert_int_equal(BT_CO_KIND((uint32_t)callout_at(&e, BT_TC_VA)), BT_CO_CONFINE);
}

/* Known gap (c), closed: REP STOS running down (DF = 1) from above the hole
 * into it is refused before the first element; one that stays above runs. */
static void test_exec_rep_down_into_hole(void **st)
{
	struct vl_machine *m = R.m;
	/* std; rep stosq; cld; hlt */
	static const uint8_t code[] = { 0xfd, 0xf3, 0x48, 0xab, 0xfc, 0xf4 };
	map_hole_top();
	m->cpu.gpr[VL_RAX] = 0x5a5a;
	m->cpu.gpr[VL_RDI] = BT_HOLE_END + 0x10;
	m->cpu.gpr[VL_RCX] = 4;   /* +0x10, +8, +0, -8: the last one in the hole */
	m->cpu.rflags |= VL_FL_ZF;
	run_tc(code, sizeof code, true, 0x7000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
	assert_true(hole_top_clean());
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x7000));
	assert_int_equal(me->goff, 1);             /* the REP STOSQ, RAX/RCX/RDX in their slots */
	assert_int_equal(me->saved, 7);
	assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 1), 4);
	assert_true(m->cpu.rflags & VL_FL_DF);     /* the guest's flags kept */
	assert_true(m->cpu.rflags & VL_FL_ZF);
	/* three elements stay above: executed */
	m->cpu.gpr[VL_RAX] = 0x5a5a;   /* (the VMM restores RAX/RCX/RDX from their slots) */
	m->cpu.gpr[VL_RCX] = 3;
	m->cpu.gpr[VL_RDI] = BT_HOLE_END + 0x10;
	run_tc(code, sizeof code, true, 0x7000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(vl_phys_read64(m, ABOVE_PA), 0x5a5a);
	assert_int_equal(m->cpu.gpr[VL_RCX], 0);
	assert_true(hole_top_clean());
	assert_false(m->cpu.rflags & VL_FL_DF);
}

/* The same walk as a 64-bit FS-override source (std; rep lods qword
 * fs:[rsi]): the elements are RSI + the FS base, so the end check must add
 * the base (before, it looked at RSI alone — here 0x10, below the hole —
 * and let the walk run down from BT_HOLE_END + 0x10 into the hole). */
static void test_exec_fs_rep_down_into_hole(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0xfd, 0xf3, 0x64, 0x48, 0xad, 0xfc, 0xf4 };
	map_hole_top();
	vl_phys_write64(m, ABOVE_PA, 0x1234);
	m->cpu.seg[VL_FS].base = BT_HOLE_END;
	vs_wr(BT_VS_FSBASE, BT_HOLE_END);
	m->cpu.gpr[VL_RSI] = 0x10;
	m->cpu.gpr[VL_RCX] = 4;   /* +0x10, +8, +0, -8: the last one in the hole */
	run_tc(code, sizeof code, true, 0x7000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
	assert_int_equal(m->cpu.gpr[VL_RSI], 0x10);   /* nothing moved */
	m->cpu.gpr[VL_RCX] = 3;   /* three elements stay above: executed */
	m->cpu.gpr[VL_RSI] = 0x10;
	run_tc(code, sizeof code, true, 0x7000);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(m->cpu.gpr[VL_RCX], 0);
	assert_int_equal(m->cpu.gpr[VL_RAX], 0x1234);   /* the last element read: BT_HOLE_END + 0 */
	assert_int_equal(m->cpu.gpr[VL_RSI], (uint64_t)-8);
	m->cpu.seg[VL_FS].base = 0;
	vs_wr(BT_VS_FSBASE, 0);
}

/* Callout gating: the escape bytes outside the TC (here: guest kernel
 * memory, at the same CPL) are #UD, never a VMM entry. */
static void test_exec_forged_callout_ud(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t co[] = VL_CALLOUT_BYTES;
	uint8_t code[VL_CALLOUT_LEN];
	memcpy(code, co, 3);
	uint32_t id = BT_CO_ID(BT_CO_CPUID, 0);
	memcpy(code + 3, &id, 4);
	vl_phys_write(m, CODE_PA + 0x800, code, sizeof code);
	m->state = VL_M_RUNNING;
	m->cpu.rip = KPC + 0x800;
	R.co_id = 0xffffffffu;
	R.exc_vec = -1;
	for (int i = 0; i < 10 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	assert_int_equal(R.exc_vec, VL_UD);
	assert_int_equal(R.co_id, 0xffffffffu);
	assert_int_equal(R.exc_rip, KPC + 0x800);
}

/* ---- 32-bit guest code -------------------------------------------------------
 * A straight-line 32-bit block (INC/DEC short forms, PUSH/POP, PUSH imm8,
 * [disp32] and MOV moffs stores, SIB addressing, [ebp+d8] read-modify-write,
 * REP STOSB, flags) translated with env.m32 and run from the TC as 64-bit
 * code, against the same bytes run by the machine itself in compatibility
 * mode (CS.L = 0, D = 1): every register, the arithmetic flags, ESP and the
 * memory it wrote are the same. */
#define C32_PC   CODE_PA                  /* identity-mapped, below 4 GiB */
#define C32_DATA (DATA_PA + 0x800)
#define C32_SP   (STACK_PA + 0x800)

struct st32 { uint64_t gpr[8]; uint64_t fl; uint8_t data[64], stack[144]; };

static void c32_map(void)
{
	for (uint64_t o = 0; o < 0x200000; o += 0x1000)
		map4k(&R, CODE_PA + o, CODE_PA + o, VL_PTE_RW);
	vl_tlb_flush_all(R.m);
}

static void c32_init(void)
{
	struct vl_machine *m = R.m;
	static const uint64_t init[8] = { 0x11, 5, 0x1000, 0x77, C32_SP, C32_DATA, 0x123, 0x456 };
	for (int r = 0; r < 8; r++)
		m->cpu.gpr[r] = init[r];
	m->cpu.rflags = 0x202;
	static const uint8_t z[64];
	vl_phys_write(m, C32_DATA, z, sizeof z);
	static const uint8_t zs[144];
	vl_phys_write(m, C32_SP - 128, zs, sizeof zs);
	m->state = VL_M_RUNNING;
	R.co_id = 0xffffffffu;
	R.exc_vec = -1;
}

static void c32_save(struct st32 *s)
{
	struct vl_machine *m = R.m;
	for (int r = 0; r < 8; r++)
		s->gpr[r] = (uint32_t)m->cpu.gpr[r];
	s->fl = m->cpu.rflags & 0xcd5;   /* CF PF AF ZF SF OF, DF */
	memcpy(s->data, vl_phys_ptr(m, C32_DATA), sizeof s->data);
	memcpy(s->stack, vl_phys_ptr(m, C32_SP - 128), sizeof s->stack);
}

/* Translate the 32-bit guest code `code` (at C32_PC, CS_MODE_32) into the
 * TC at tc_off (room `cap`): one block into `blk`, its bytes copied into the
 * machine's TC. */
static void xlate32_at(const uint8_t *code, size_t n, uint64_t tc_off, size_t cap)
{
	csh cs32;
	assert_int_equal(bt_cs_open32(&cs32), 0);
	static struct gcode g;
	g = (struct gcode){ C32_PC, code, n };
	struct bt_xlate_env env = { .cs = cs32, .fetch = fetch, .arg = &g, .confine = true, .m32 = true };
	struct bt_emit e = { .buf = tcbuf, .va = BT_TC_VA + tc_off, .cap = cap };
	assert_int_equal(bt_translate(&env, C32_PC, &e, &blk), BT_XL_OK);
	cs_close(&cs32);
	vl_phys_write(R.m, R.tc_pa + tc_off, tcbuf, e.len);
}

/* Run the 32-bit block `code` (ending in HLT) twice from c32_init's
 * state: by the machine itself in compatibility mode at CPL 1 (HLT: #GP)
 * into *ref, and translated (env.m32) from the TC at tc_off into *got,
 * which ends at the HLT callout. `ninsns`: the guest instructions the
 * translation must hold (one block). */
static void c32_both(const uint8_t *code, size_t n, unsigned ninsns, uint64_t tc_off, struct st32 *ref, struct st32 *got)
{
	struct vl_machine *m = R.m;
	c32_map();
	vl_phys_write(m, C32_PC, code, n);
	uint16_t attr = m->cpu.seg[VL_CS].attr;
	c32_init();
	m->cpu.seg[VL_CS].attr = (uint16_t)((attr & ~VL_SEG_ATTR_L) | 0x4000u);
	m->cpu.rip = C32_PC;
	for (int i = 0; i < 200 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	m->cpu.seg[VL_CS].attr = attr;
	assert_int_equal(R.exc_vec, VL_GP);
	assert_int_equal(R.exc_rip, C32_PC + n - 1);
	c32_save(ref);

	xlate32_at(code, n, tc_off, 0x2000);
	assert_int_equal(blk.ninsns, ninsns);
	c32_init();
	m->cpu.rip = BT_TC_VA + tc_off;
	for (int i = 0; i < 2000 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	assert_int_equal(R.exc_vec, -1);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_int_equal(bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - tc_off))->goff, n - 1);
	c32_save(got);
}

static void st32_equal(const struct st32 *got, const struct st32 *ref)
{
	for (int r = 0; r < 8; r++)
		assert_int_equal(got->gpr[r], ref->gpr[r]);
	assert_int_equal(got->fl, ref->fl);
	assert_memory_equal(got->data, ref->data, sizeof ref->data);
	assert_memory_equal(got->stack, ref->stack, sizeof ref->stack);
}

static void test_exec_32bit_block(void **st)
{
	static const uint8_t code[] = {
		0x53,                                     /* push ebx */
		0x40,                                     /* inc eax */
		0x49,                                     /* dec ecx */
		0xa3, 0x00, 0x08, 0x31, 0x00,             /* mov [C32_DATA], eax (moffs) */
		0x89, 0x05, 0x04, 0x08, 0x31, 0x00,       /* mov [C32_DATA+4], eax ([disp32]) */
		0x8b, 0x15, 0x00, 0x08, 0x31, 0x00,       /* mov edx, [C32_DATA] */
		0x8d, 0x74, 0x88, 0x08,                   /* lea esi, [eax+ecx*4+8] */
		0x6a, 0xfe,                               /* push -2 */
		0x5f,                                     /* pop edi */
		0x01, 0x7d, 0x08,                         /* add [ebp+8], edi */
		0x89, 0x74, 0x8d, 0x10,                   /* mov [ebp+ecx*4+16], esi */
		0x5b,                                     /* pop ebx */
		0x57,                                     /* push edi */
		0x89, 0xe0,                               /* mov eax, esp */
		0xbf, 0x20, 0x08, 0x31, 0x00,             /* mov edi, C32_DATA+0x20 */
		0xb9, 0x04, 0x00, 0x00, 0x00,             /* mov ecx, 4 */
		0xb0, 0xaa,                               /* mov al, 0xaa */
		0xf3, 0xaa,                               /* rep stosb */
		0x39, 0xd6,                               /* cmp esi, edx */
		0xf4,                                     /* hlt */
	};
	assert_int_equal(C32_DATA, 0x310800);
	/* the machine itself in compatibility mode, and translated (CS_MODE_32)
	 * and run from the TC as 64-bit code */
	struct st32 ref, got;
	c32_both(code, sizeof code, 20, 0x4000, &ref, &got);
	assert_true(blk.m32);
	st32_equal(&got, &ref);
	assert_int_equal(ref.gpr[VL_RSP], C32_SP - 4);   /* the 32-bit stack moved by 4 per slot */
	assert_int_equal(ref.data[0x20], 0xaa);
	R.m->cpu.gpr[VL_RSP] = KSTACK;
}

/* PUSHAD, PUSHFD, ENTER (levels 0, 1, 3), LEAVE, POPFD, POPAD in 32-bit
 * code: registers, flags (DF too), the stack the machine writes; the
 * virtual IF takes POPFD's IF (0) where the machine at CPL 1 keeps the
 * real one, and PUSHFD shows the virtual IF. */
static void test_exec_32bit_stack_ops(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = {
		0x60,                                     /* pushad */
		0xb8, 0x78, 0x56, 0x34, 0x12,             /* mov eax, 0x12345678 */
		0x05, 0x00, 0x00, 0x00, 0x90,             /* add eax, 0x90000000: SF */
		0x9c,                                     /* pushfd */
		0xc8, 0x10, 0x00, 0x00,                   /* enter 16, 0 */
		0xc8, 0x08, 0x00, 0x01,                   /* enter 8, 1 */
		0x89, 0x6d, 0xf8,                         /* mov [ebp-8], ebp (a local the next ENTER copies) */
		0xc8, 0x04, 0x00, 0x03,                   /* enter 4, 3 */
		0x8b, 0x5d, 0xf8,                         /* mov ebx, [ebp-8] (copied frame pointer) */
		0xc9, 0xc9, 0xc9,                         /* leave x3 */
		0x5a,                                     /* pop edx: the flags image */
		0x68, 0xd5, 0x0c, 0x00, 0x00,             /* push 0xcd5: CF PF AF ZF SF OF DF, IF 0 */
		0x9d,                                     /* popfd */
		0xc7, 0x44, 0x24, 0x1c, 0xef, 0xcd, 0xab, 0x00,   /* mov dword [esp+28], 0xabcdef (POPAD's EAX) */
		0x89, 0x54, 0x24, 0x10,                   /* mov [esp+16], edx (POPAD's EBX) */
		0x61,                                     /* popad */
		0xf4,                                     /* hlt */
	};
	struct st32 ref, got;
	vs_wr(BT_VS_VIF, 0x200);   /* as the machine's real IF */
	vs_wr(BT_VS_VPEND, 0);
	c32_both(code, sizeof code, 19, 0x4000, &ref, &got);
	st32_equal(&got, &ref);
	assert_int_equal(got.gpr[VL_RAX], 0xabcdef);
	assert_int_equal(got.gpr[VL_RSP], C32_SP);
	assert_int_equal(got.fl, 0xcd5);
	assert_int_equal(got.gpr[VL_RBX] & (VL_FL_IF | VL_FL_SF), VL_FL_IF | VL_FL_SF);   /* PUSHFD's image */
	assert_int_equal(vs_rd(BT_VS_VIF), 0);          /* POPFD cleared the virtual IF */
	assert_true(m->cpu.rflags & VL_FL_IF);          /* the real IF never moved */
	/* with the virtual IF 0, PUSHFD shows IF 0 (the machine would show 1) */
	vs_wr(BT_VS_VIF, 0);
	c32_both(code, sizeof code, 19, 0x4000, &ref, &got);
	assert_int_equal(got.gpr[VL_RBX] & (VL_FL_IF | VL_FL_SF), VL_FL_SF);
	assert_int_equal(ref.gpr[VL_RBX] & VL_FL_IF, VL_FL_IF);
	m->cpu.rflags = 0x202;
	m->cpu.gpr[VL_RSP] = KSTACK;
}

/* PUSH r/m32 (memory: [disp32], [ESP]; register long form) and POP r/m32
 * (into [EAX], [ESP+4] — addressed with the incremented ESP —, ECX, and
 * [disp32]): the machine's registers, memory and stack. */
static void test_exec_32bit_push_pop_rm(void **st)
{
	static const uint8_t code[] = {
		0xb8, 0x10, 0x08, 0x31, 0x00,             /* mov eax, C32_DATA+0x10 */
		0xc7, 0x05, 0x00, 0x08, 0x31, 0x00, 0x78, 0x56, 0x34, 0x12,   /* mov dword [C32_DATA], 0x12345678 */
		0xff, 0x35, 0x00, 0x08, 0x31, 0x00,       /* push dword [C32_DATA] */
		0xff, 0x34, 0x24,                         /* push dword [esp] */
		0xff, 0xf3,                               /* push ebx (FF /6) */
		0xff, 0xf0,                               /* push eax (FF /6) */
		0x8f, 0x00,                               /* pop dword [eax] */
		0x8f, 0x44, 0x24, 0x04,                   /* pop dword [esp+4] */
		0x8f, 0xc1,                               /* pop ecx (8F /0) */
		0x8f, 0x05, 0x04, 0x08, 0x31, 0x00,       /* pop dword [C32_DATA+4] */
		0xf4,                                     /* hlt */
	};
	struct st32 ref, got;
	c32_both(code, sizeof code, 11, 0x4000, &ref, &got);
	st32_equal(&got, &ref);
	assert_int_equal(got.gpr[VL_RSP], C32_SP);
	assert_int_equal(got.gpr[VL_RCX], 0x12345678);
	uint32_t w;
	memcpy(&w, got.data + 4, 4);
	assert_int_equal(w, 0x77);   /* EBX, through [ESP+4] */
	memcpy(&w, got.data + 0x10, 4);
	assert_int_equal(w, C32_DATA + 0x10);
	R.m->cpu.gpr[VL_RSP] = KSTACK;
	R.m->cpu.rflags = 0x202;
}

/* A fault inside POPAD (its last load) and inside PUSHFD's store restarts
 * the instruction: every register as before it (the map restores them). */
static void test_exec_32bit_popad_fault(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0x61, 0xf4 };   /* popad; hlt */
	c32_map();
	vl_phys_write(m, C32_PC, code, sizeof code);
	xlate32_at(code, sizeof code, 0x6000, 0x2000);
	c32_init();
	/* ESP 12 bytes below an unmapped page: EDI, ESI, EBP load, the ESP slot faults */
	const uint64_t top = 0x400000;   /* the end of c32_map's identity mapping */
	m->cpu.gpr[VL_RSP] = top - 12;
	uint64_t before[8];
	memcpy(before, m->cpu.gpr, sizeof before);
	m->cpu.rip = BT_TC_VA + 0x6000;
	for (int i = 0; i < 200 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	assert_int_equal(R.exc_vec, VL_PF);
	assert_int_equal(R.exc_cr2, top);
	const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.exc_rip - BT_TC_VA - 0x6000));
	assert_non_null(me);
	assert_int_equal(me->goff, 0);
	assert_int_equal(me->rsp_delta, 0);
	for (int r = 0; r < 8; r++) {
		uint64_t v = (me->saved & (1u << r)) ? vs_rd(BT_VS_SLOT + 8u * r) : m->cpu.gpr[r];
		assert_int_equal(v, before[r]);
	}
	assert_int_equal(me->saved, 0xef);   /* all but ESP */
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.rflags = 0x202;
}

/* 32-bit RET through the inline lookup: a miss calls out LOOKUP_MISS with
 * EAX = the target and ESP past it; an entry keyed for 64-bit code at the
 * same PC (key = PC) misses too; the 32-bit key (PC + 1) hits and jumps to
 * the entry's TC address with every register and the flags restored. */
static void test_exec_32bit_ret_lookup(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = { 0xc3 };   /* ret */
	const uint64_t target = 0x205678, slot_pa = R.hash_pa + (target & 0xffff) * 16;
	put_callout_stub(0x3000, 0x77);
	c32_map();
	vl_phys_write(m, C32_PC, code, sizeof code);
	xlate32_at(code, sizeof code, 0x6000, 0x2000);
	const uint64_t keys[3] = { 0x8000000000000000ull | ((target + 2) & 0xffff), target, target + 1 };
	for (int k = 0; k < 3; k++) {
		vl_phys_write64(m, slot_pa, keys[k]);
		vl_phys_write64(m, slot_pa + 8, BT_TC_VA + 0x3000);
		c32_init();
		vl_phys_write64(m, C32_SP, target);   /* [ESP] = the return address */
		m->cpu.rflags |= VL_FL_ZF;
		uint64_t before = vs_rd(BT_VS_LOOKUPS);
		m->cpu.rip = BT_TC_VA + 0x6000;
		for (int i = 0; i < 200 && m->state == VL_M_RUNNING; i++)
			vl_machine_step(m);
		assert_int_equal(R.exc_vec, -1);
		assert_int_equal(m->cpu.gpr[VL_RSP], C32_SP + 4);
		assert_int_equal(vs_rd(BT_VS_LOOKUPS), before + 1);
		if (k < 2) {
			assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_LOOKUP_MISS);
			assert_int_equal(m->cpu.gpr[VL_RAX], target);
			assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 0), 0x11);
			assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 1), 5);
			assert_int_equal(vs_rd(BT_VS_SLOT + 8 * 2), 0x1000);
		} else {
			assert_int_equal(R.co_id, 0x77);
			assert_int_equal(R.co_rip, BT_TC_VA + 0x3000);
			assert_int_equal(m->cpu.gpr[VL_RAX], 0x11);
			assert_int_equal(m->cpu.gpr[VL_RCX], 5);
			assert_int_equal(m->cpu.gpr[VL_RDX], 0x1000);
			assert_true(m->cpu.rflags & VL_FL_ZF);
		}
	}
	vl_phys_write64(m, slot_pa, 0x8000000000000000ull);
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.rflags = 0x202;
}

/* String instructions with an FS override in 32-bit code: the source is
 * [ESI] + the FS base. A base outside the hole: MOVSD and REP MOVSB move
 * the machine's bytes; [ESI] + base in the hole, or a REP whose elements
 * walk down into it from above (DF = 1), call out CONFINE before any
 * element moves, with every register as before. */
static void test_exec_32bit_fs_strings(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = {
		0xbe, 0x00, 0x00, 0x31, 0x00,             /* mov esi, 0x310000 (FS base 0x800: C32_DATA) */
		0xbf, 0x10, 0x08, 0x31, 0x00,             /* mov edi, C32_DATA+0x10 */
		0x64, 0xa5,                               /* movsd fs:[esi] -> [edi] */
		0xb9, 0x08, 0x00, 0x00, 0x00,             /* mov ecx, 8 */
		0xf3, 0x64, 0xa4,                         /* rep movsb fs:[esi] -> [edi] */
		0x64, 0xad,                               /* lodsd fs:[esi] */
		0xf4,                                     /* hlt */
	};
	struct st32 ref, got;
	m->cpu.seg[VL_FS].base = 0x800;
	vs_wr(BT_VS_FSBASE, 0x800);
	static const uint8_t pat[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	c32_map();
	vl_phys_write(m, C32_DATA, pat, sizeof pat);
	/* c32_init zeroes the data: the pattern goes in after it, in both runs */
	vl_phys_write(m, C32_PC, code, sizeof code);
	c32_both(code, sizeof code, 7, 0x4000, &ref, &got);
	st32_equal(&got, &ref);

	/* the base in the hole: CONFINE at the MOVSD, nothing moved */
	static const uint8_t one[] = { 0x64, 0xa5, 0xf4 };
	static const uint8_t repdown[] = { 0xfd, 0xf3, 0x64, 0xa4, 0xf4 };   /* std; rep movsb */
	const struct { const uint8_t *b; size_t n; uint64_t base; uint32_t esi, ecx; uint16_t goff; } t[] = {
		{ one, sizeof one, BT_HOLE_BASE + 0x1000, 0x10, 0, 0 },
		/* from above the hole (base + ESI >= its end) down into it */
		{ repdown, sizeof repdown, BT_HOLE_END - 0x100, 0x1000, 0x2000, 1 },
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		xlate32_at(t[k].b, t[k].n, 0x6000, 0x2000);
		c32_init();
		m->cpu.seg[VL_FS].base = t[k].base;
		vs_wr(BT_VS_FSBASE, t[k].base);
		m->cpu.gpr[VL_RSI] = t[k].esi;
		m->cpu.gpr[VL_RCX] = t[k].ecx;
		m->cpu.rip = BT_TC_VA + 0x6000;
		for (int i = 0; i < 200 && m->state == VL_M_RUNNING; i++)
			vl_machine_step(m);
		assert_int_equal(R.exc_vec, -1);
		assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_CONFINE);
		const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x6000));
		assert_int_equal(me->goff, t[k].goff);
		uint64_t rsi = m->cpu.gpr[VL_RSI], rcx = (me->saved & 2) ? vs_rd(BT_VS_SLOT + 8) : m->cpu.gpr[VL_RCX];
		assert_int_equal(rsi, t[k].esi);
		assert_int_equal(rcx, t[k].ecx);
		assert_int_equal(m->cpu.gpr[VL_RDI], 0x456);
	}
	m->cpu.seg[VL_FS].base = 0;
	vs_wr(BT_VS_FSBASE, 0);
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.rflags = 0x202;
}

/* ENTER with 66h (a 16-bit frame on the 32-bit stack; it stopped the run):
 * levels 0, 1 and 3, LEAVE 66h between, as the machine — words stored,
 * only BP takes the frame pointer (EBP's upper half kept). */
static void test_exec_32bit_enter16(void **st)
{
	static const uint8_t code[] = {
		0xbd, 0x40, 0x08, 0x31, 0x00,             /* mov ebp, C32_DATA + 0x40 */
		0xc7, 0x45, 0xfc, 0x44, 0x33, 0x22, 0x11, /* mov dword [ebp-4], 0x11223344 (copied words) */
		0x66, 0xc8, 0x10, 0x00, 0x00,             /* enter 16, 0 (66h) */
		0x66, 0xc9,                               /* leave (66h) */
		0x66, 0xc8, 0x08, 0x00, 0x01,             /* enter 8, 1 (66h) */
		0x89, 0xeb,                               /* mov ebx, ebp */
		0x66, 0xc8, 0x04, 0x00, 0x03,             /* enter 4, 3 (66h): copies [ebp-2], [ebp-4] */
		0x89, 0xe9,                               /* mov ecx, ebp */
		0xf4,                                     /* hlt */
	};
	struct st32 ref, got;
	c32_both(code, sizeof code, 9, 0x4000, &ref, &got);
	st32_equal(&got, &ref);
	assert_int_equal(ref.gpr[VL_RBP] >> 16, C32_DATA >> 16);   /* only BP changed */
}

/* XLAT and POP m32 / m16 with an FS override in 32-bit code (they stopped
 * the run before): as the machine with the base outside the hole; with
 * base + address in the hole, CONFINE before anything moves (ESP, EAX as
 * before). POP's destination is checked at the address the store uses —
 * with ESP + 4 when ESP is its base: `pop fs:[esp-4]` with base + ESP at
 * the hole's start is refused (checked with the old ESP it would look
 * 4 bytes below the hole). */
static void test_exec_32bit_fs_xlat_pop(void **st)
{
	struct vl_machine *m = R.m;
	static const uint8_t code[] = {
		0xbb, 0x00, 0x00, 0x31, 0x00,             /* mov ebx, 0x310000 (FS base 0x800: C32_DATA) */
		0xb8, 0x03, 0x00, 0x00, 0x00,             /* mov eax, 3 */
		0x64, 0xd7,                               /* xlat fs:[ebx + al] */
		0x68, 0x78, 0x56, 0x34, 0x12,             /* push 0x12345678 */
		0x64, 0x8f, 0x05, 0x04, 0x00, 0x31, 0x00, /* pop dword fs:[0x310004] */
		0x66, 0x68, 0xcd, 0xab,                   /* push word 0xabcd */
		0x66, 0x64, 0x8f, 0x43, 0x08,             /* pop word fs:[ebx + 8] */
		0xf4,                                     /* hlt */
	};
	struct st32 ref, got;
	m->cpu.seg[VL_FS].base = 0x800;
	vs_wr(BT_VS_FSBASE, 0x800);
	c32_both(code, sizeof code, 8, 0x4000, &ref, &got);
	st32_equal(&got, &ref);
	uint32_t w;
	memcpy(&w, ref.data + 4, 4);
	assert_int_equal(w, 0x12345678);
	assert_int_equal(ref.data[8] | ref.data[9] << 8, 0xabcd);

	static const uint8_t xlat[] = { 0x64, 0xd7, 0xf4 };
	static const uint8_t popm[] = { 0x64, 0x8f, 0x05, 0x04, 0x00, 0x00, 0x00, 0xf4 };   /* pop dword fs:[4] */
	static const uint8_t popesp[] = { 0x64, 0x8f, 0x44, 0x24, 0xfc, 0xf4 };             /* pop dword fs:[esp-4] */
	const struct { const uint8_t *b; size_t n; uint64_t base; } t[] = {
		{ xlat, sizeof xlat, BT_HOLE_BASE + 0x1000 - C32_DATA },
		{ popm, sizeof popm, BT_HOLE_BASE + 0x1000 },
		{ popesp, sizeof popesp, BT_HOLE_BASE - C32_SP },
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		xlate32_at(t[k].b, t[k].n, 0x6000, 0x2000);
		c32_init();
		m->cpu.gpr[VL_RBX] = C32_DATA;
		m->cpu.seg[VL_FS].base = t[k].base;
		vs_wr(BT_VS_FSBASE, t[k].base);
		m->cpu.rip = BT_TC_VA + 0x6000;
		for (int i = 0; i < 200 && m->state == VL_M_RUNNING; i++)
			vl_machine_step(m);
		if (R.exc_vec != -1 || BT_CO_KIND(R.co_id) != BT_CO_CONFINE)
			fail_msg("case %zu: exception %d, callout %#x (want CONFINE)", k, R.exc_vec, R.co_id);
		const struct bt_mapent *me = bt_map_find(&blk, (uint32_t)(R.co_rip - BT_TC_VA - 0x6000));
		assert_int_equal(me->goff, 0);
		uint64_t rax = (me->saved & 1) ? vs_rd(BT_VS_SLOT) : m->cpu.gpr[VL_RAX];
		assert_int_equal(rax, 0x11);
		assert_int_equal(m->cpu.gpr[VL_RSP], C32_SP);
	}
	m->cpu.seg[VL_FS].base = 0;
	vs_wr(BT_VS_FSBASE, 0);
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.rflags = 0x202;
}

/* Precise state at every point of a translation: the single-instruction
 * block `code` (+ HLT) is stepped one machine instruction at a time from
 * the TC; before each one, the guest state the VMM would rebuild there
 * from the map (registers from their slots, RSP - delta; the real
 * arithmetic flags and DF; the virtual IF) must be the state before the
 * guest instruction (goff 0) or after it (goff = its length), unless the
 * map marks the point atomic (the VMM then holds interrupts). */
struct rstate { uint64_t gpr[8], fl, vif; };

static void rs_init(bool m32, uint64_t image)
{
	struct vl_machine *m = R.m;
	static const uint64_t init[8] = { 0x1111, 0x2222, 0x3333, 0x4444, 0, 0x5555, 0x6666, 0x7777 };
	for (int r = 0; r < 8; r++)
		m->cpu.gpr[r] = init[r];
	m->cpu.gpr[VL_RBP] = m32 ? C32_SP + 0x40 : KSTACK - 0x40;
	m->cpu.gpr[VL_RSP] = m32 ? C32_SP - 0x40 : KSTACK - 0x100;
	m->cpu.rflags = 0x202 | 0xc5;   /* IF, CF PF ZF SF */
	uint64_t sp = m32 ? C32_SP - 0x40 : STACK_PA + 0x1000 - 0x100;
	for (int k = 0; k < 16; k++)
		vl_phys_write64(m, sp + 8u * k, image + (uint64_t)k * 0x10001);
	vs_wr(BT_VS_VIF, 0x200);
	vs_wr(BT_VS_VPEND, 0);
	m->state = VL_M_RUNNING;
	R.co_id = 0xffffffffu;
	R.exc_vec = -1;
}

static void rs_get(struct rstate *s, const struct bt_mapent *me, bool m32)
{
	struct vl_machine *m = R.m;
	for (int r = 0; r < 8; r++)
		s->gpr[r] = me && (me->saved & (1u << r)) ? vs_rd(BT_VS_SLOT + 8u * r) : m->cpu.gpr[r];
	if (me)
		s->gpr[VL_RSP] -= (uint64_t)(int64_t)me->rsp_delta;
	if (m32)
		for (int r = 0; r < 8; r++)
			s->gpr[r] = (uint32_t)s->gpr[r];
	s->fl = m->cpu.rflags & 0xcd5;
	s->vif = vs_rd(BT_VS_VIF);
}

static void check_restartable(const uint8_t *insn, size_t n, bool m32, uint64_t image)
{
	struct vl_machine *m = R.m;
	uint8_t code[16];
	memcpy(code, insn, n);
	code[n] = 0xf4;   /* hlt */
	uint64_t pc = m32 ? C32_PC : KPC;
	if (m32)
		c32_map();
	vl_phys_write(m, CODE_PA, code, n + 1);
	csh h;
	assert_int_equal(m32 ? bt_cs_open32(&h) : bt_cs_open(&h), 0);
	static struct gcode g;
	g = (struct gcode){ pc, code, n + 1 };
	struct bt_xlate_env env = { .cs = h, .fetch = fetch, .arg = &g, .confine = true, .m32 = m32 };
	struct bt_emit e = { .buf = tcbuf, .va = BT_TC_VA + 0x8000, .cap = 0x2000 };
	assert_int_equal(bt_translate(&env, pc, &e, &blk), BT_XL_OK);
	cs_close(&h);
	vl_phys_write(m, R.tc_pa + 0x8000, tcbuf, e.len);
	struct rstate before, after, at;
	rs_init(m32, image);
	rs_get(&before, NULL, m32);
	m->cpu.rip = BT_TC_VA + 0x8000;
	for (int i = 0; i < 500 && m->state == VL_M_RUNNING; i++)
		vl_machine_step(m);
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	rs_get(&after, NULL, m32);
	rs_init(m32, image);
	m->cpu.rip = BT_TC_VA + 0x8000;
	unsigned points = 0;
	for (int i = 0; i < 500 && m->state == VL_M_RUNNING; i++) {
		uint32_t off = (uint32_t)(m->cpu.rip - BT_TC_VA - 0x8000);
		const struct bt_mapent *me = bt_map_find(&blk, off);
		assert_non_null(me);
		if (!(me->flags & (BT_MAP_ATOMIC | BT_MAP_EXIT))) {
			rs_get(&at, me, m32);
			const struct rstate *want = me->goff == 0 ? &before : &after;
			if (me->goff != 0 && me->goff != n)
				fail_msg("TC offset %u maps to guest offset %u", off, me->goff);
			if (memcmp(&at, want, sizeof at))
				fail_msg("TC offset %u (guest offset %u, saved %#x, delta %d): rax %#llx/%#llx rsp %#llx/%#llx "
					 "rbp %#llx/%#llx flags %#llx/%#llx vif %#llx/%#llx", off, me->goff, me->saved, me->rsp_delta,
					 (unsigned long long)at.gpr[0], (unsigned long long)want->gpr[0],
					 (unsigned long long)at.gpr[4], (unsigned long long)want->gpr[4],
					 (unsigned long long)at.gpr[5], (unsigned long long)want->gpr[5],
					 (unsigned long long)at.fl, (unsigned long long)want->fl,
					 (unsigned long long)at.vif, (unsigned long long)want->vif);
			points++;
		}
		vl_machine_step(m);
	}
	assert_int_equal(BT_CO_KIND(R.co_id), BT_CO_HLT);
	assert_true(points >= 2);
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.rflags = 0x202;
}

static void test_exec_map_restartable(void **st)
{
	static const struct { uint8_t b[6]; size_t n; bool m32; } t[] = {
		{ { 0x66, 0x9c }, 2, true },                /* pushfw */
		{ { 0x66, 0x9d }, 2, true },                /* popfw */
		{ { 0x66, 0x60 }, 2, true },                /* pushaw */
		{ { 0x66, 0x61 }, 2, true },                /* popaw */
		{ { 0x66, 0xc9 }, 2, true },                /* leavew */
		{ { 0x66, 0xc8, 0x08, 0x00, 0x03 }, 5, true },   /* enterw 8, 3 */
		{ { 0x66, 0x53 }, 2, true },                /* push bx */
		{ { 0x66, 0x5c }, 2, true },                /* pop sp */
		{ { 0x66, 0x6a, 0xfb }, 3, true },          /* pushw -5 */
		{ { 0x66, 0xff, 0x74, 0x24, 0x02 }, 5, true },   /* push word [esp+2] */
		{ { 0x66, 0x8f, 0x44, 0x24, 0x02 }, 5, true },   /* pop word [esp+2] */
		{ { 0x36, 0x60 }, 2, true },                /* ss pushad */
		{ { 0x3e, 0x9d }, 2, true },                /* ds popfd */
		{ { 0x9c }, 1, true },                      /* pushfd */
		{ { 0x9d }, 1, true },                      /* popfd */
		{ { 0x60 }, 1, true },                      /* pushad */
		{ { 0x61 }, 1, true },                      /* popad */
		{ { 0xc8, 0x08, 0x00, 0x00 }, 4, true },    /* enter 8, 0 */
		{ { 0xc8, 0x08, 0x00, 0x03 }, 4, true },    /* enter 8, 3 */
		{ { 0xc9 }, 1, true },                      /* leave */
		{ { 0xff, 0x74, 0x24, 0x04 }, 4, true },    /* push dword [esp+4] */
		{ { 0x8f, 0x44, 0x24, 0x04 }, 4, true },    /* pop dword [esp+4] */
		{ { 0x8f, 0xc0 }, 2, true },                /* pop eax (8F /0) */
		{ { 0x9c }, 1, false },                     /* pushfq */
		{ { 0x9d }, 1, false },                     /* popfq */
	};
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
		check_restartable(t[k].b, t[k].n, t[k].m32, 0xcd4);   /* images: PF AF ZF SF OF DF, IF 0 */
}

/* 32-bit classes: INC/DEC re-encoded, [disp32] with 67h in the SIB form,
 * CALL pushes 4 bytes through [esp-4], RET loads EAX and calls out
 * LOOKUP_MISS, the far JMP to a 64-bit segment a callout that ends the
 * block; what the model's 32-bit decoder refuses (ARPL) is a FAULT. */
static void mnops(const struct bt_emit *e, char *out, size_t outn)
{
	size_t off = 0, o = 0;
	out[0] = 0;
	while (off < e->len && callout_at(e, e->va + off) < 0 && o < outn) {
		cs_insn *ci;
		if (cs_disasm(cs, e->buf + off, e->len - off, e->va + off, 1, &ci) != 1)
			break;
		o += (size_t)snprintf(out + o, outn - o, "%s%s %s", o ? "; " : "", ci[0].mnemonic, ci[0].op_str);
		off += ci[0].size;
		cs_free(ci, 1);
	}
}

/* FS/GS loads are copied and followed by a SEG callout with arg
 * BT_SEG_REFRESH (the VMM entry refreshes the base mirrors the override
 * check reads), whose map entry is the next instruction's start (the load
 * done); DS/ES loads get none. 64-bit and 32-bit code. */
static unsigned refresh_callouts(const struct bt_emit *e, uint16_t *goff)
{
	unsigned c = 0;
	for (size_t off = 0; off + VL_CALLOUT_LEN <= e->len; off++) {
		int64_t id = callout_at(e, e->va + off);
		if (id >= 0 && (uint32_t)id == BT_CO_ID(BT_CO_SEG, BT_SEG_REFRESH)) {
			c++;
			*goff = bt_map_find(&blk, (uint32_t)off)->goff;
		}
	}
	return c;
}
static void test_seg_load_refresh(void **st)
{
	static const struct { uint8_t b[4]; int n; unsigned want; } t[] = {
		{ { 0x8e, 0xe0 }, 2, 1 },               /* mov fs, eax */
		{ { 0x8e, 0x2b }, 2, 1 },               /* mov gs, [rbx] / [ebx] */
		{ { 0x8e, 0xd8 }, 2, 0 },               /* mov ds, eax */
		{ { 0x0f, 0xa1 }, 2, 1 },               /* pop fs (64-bit; 32-bit: a SEG callout, emulated) */
		{ { 0x0f, 0xa9 }, 2, 1 },               /* pop gs */
	};
	csh cs32;
	assert_int_equal(bt_cs_open32(&cs32), 0);
	for (int m32 = 0; m32 < 2; m32++)
		for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
			if (m32 && t[i].b[0] == 0x0f)
				continue;
			uint8_t code[8];
			memcpy(code, t[i].b, (size_t)t[i].n);
			code[t[i].n] = 0x90;                /* nop */
			code[t[i].n + 1] = 0xf4;            /* hlt */
			static struct gcode g;
			g = (struct gcode){ 0x100000, code, (size_t)t[i].n + 2 };
			struct bt_xlate_env env = { .cs = m32 ? cs32 : cs, .fetch = fetch, .arg = &g, .confine = true, .m32 = m32 };
			struct bt_emit e = { .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
			assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
			uint16_t goff = 0xffff;
			unsigned n = refresh_callouts(&e, &goff);
			if (n != t[i].want || (n && goff != t[i].n))
				fail_msg("m32 %d case %zu: %u refresh callouts (want %u), at goff %u", m32, i, n, t[i].want, goff);
		}
	cs_close(&cs32);
}

/* OUTS from FS/GS: the vCPU runtime's emulation (the IO callout) applies
 * the base (its own hole check looked at RSI alone until it took the base
 * too, engines/hv/README.md; bt's check stays first), so the translator
 * checks the source before the callout: [RSI] + base, and for REP the walk
 * down (64-bit) or the base itself (67h / 32-bit code: ESI wraps at 4 GiB).
 * Without an override nothing is added. */
static void test_outs_fs_checked(void **st)
{
	static const struct { uint8_t b[4]; int n; bool m32; unsigned confines; } t[] = {
		{ { 0x64, 0x6e }, 2, false, 1 },              /* outsb dx, fs:[rsi] */
		{ { 0xf3, 0x64, 0x6e }, 3, false, 2 },        /* rep: + the walk down */
		{ { 0xf3, 0x64, 0x67, 0x6e }, 4, false, 2 },  /* rep, 67h: + the base alone */
		{ { 0x65, 0x6f }, 2, false, 1 },              /* outsd dx, gs:[rsi] */
		{ { 0x6e }, 1, false, 0 },
		{ { 0xf3, 0x6e }, 2, false, 0 },
		{ { 0x64, 0x6e }, 2, true, 1 },               /* 32-bit: [esi] + base */
		{ { 0xf3, 0x64, 0x6e }, 3, true, 2 },         /* + the base alone */
		{ { 0x6e }, 1, true, 0 },
	};
	csh cs32;
	assert_int_equal(bt_cs_open32(&cs32), 0);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint8_t code[8];
		memcpy(code, t[i].b, (size_t)t[i].n);
		code[t[i].n] = 0xf4;   /* hlt */
		static struct gcode g;
		g = (struct gcode){ 0x100000, code, (size_t)t[i].n + 1 };
		struct bt_xlate_env env = { .cs = t[i].m32 ? cs32 : cs, .fetch = fetch, .arg = &g, .confine = true, .m32 = t[i].m32 };
		struct bt_emit e = { .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
		assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
		unsigned io = count_callouts(&e, BT_CO_IO), co = count_callouts(&e, BT_CO_CONFINE);
		if (io != 1 || co != t[i].confines)
			fail_msg("case %zu: %u IO, %u CONFINE callouts (want 1, %u)", i, io, co, t[i].confines);
	}
	cs_close(&cs32);
}

static void test_32bit_classes(void **st)
{
	csh cs32;
	assert_int_equal(bt_cs_open32(&cs32), 0);
	static struct gcode g;
	struct bt_emit e;
	char mn[512];
	static const uint8_t a[] = { 0x40, 0x4b, 0x89, 0x1d, 0x00, 0x10, 0x00, 0x00, 0xe8, 0x10, 0x00, 0x00, 0x00 };
	g = (struct gcode){ 0x100000, a, sizeof a };
	struct bt_xlate_env env = { .cs = cs32, .fetch = fetch, .arg = &g, .confine = true, .m32 = true };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
	mnops(&e, mn, sizeof mn);
	assert_non_null(strstr(mn, "inc eax; dec ebx; mov dword ptr [0x1000], ebx; mov dword ptr [esp - 4], 0x10000d; lea esp, [esp - 4]; jmp"));
	assert_int_equal(blk.nexits, 1);
	assert_int_equal(blk.exit[0].target, 0x10001d);
	assert_int_equal(tcbuf[4], 0x67);   /* the [disp32] store (after FF C0, FF CB) has the address-size prefix */

	static const uint8_t r[] = { 0xc3 };
	g = (struct gcode){ 0x100000, r, sizeof r };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
	assert_int_equal(count_callouts(&e, BT_CO_LOOKUP_MISS), 1);
	mnops(&e, mn, sizeof mn);
	assert_non_null(strstr(mn, "mov eax, dword ptr [esp]; lea esp, [esp + 4]"));

	static const uint8_t fj[] = { 0xea, 0x48, 0x01, 0x40, 0x00, 0x08, 0x00, 0x90 };
	g = (struct gcode){ 0x100000, fj, sizeof fj };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
	assert_int_equal(count_callouts(&e, BT_CO_PRIV), 1);
	assert_int_equal(blk.ninsns, 1);

	static const uint8_t arpl[] = { 0x63, 0xc0 };
	g = (struct gcode){ 0x100000, arpl, sizeof arpl };
	e = (struct bt_emit){ .buf = tcbuf, .va = BT_TC_VA, .cap = sizeof tcbuf };
	assert_int_equal(bt_translate(&env, 0x100000, &e, &blk), BT_XL_OK);
	assert_int_equal(count_callouts(&e, BT_CO_FAULT), 1);
	cs_close(&cs32);
}

int main(void)
{
	const struct CMUnitTest xl[] = {
		cmocka_unit_test(test_ident_copied),
		cmocka_unit_test(test_riprel_absolute),
		cmocka_unit_test(test_riprel_far_uses_scratch),
		cmocka_unit_test(test_jcc_two_exits),
		cmocka_unit_test(test_loop_rel8),
		cmocka_unit_test(test_call_direct),
		cmocka_unit_test(test_ret_lookup),
		cmocka_unit_test(test_indirect_call),
		cmocka_unit_test(test_virtual_if_sequences),
		cmocka_unit_test(test_cr8_in_tc),
		cmocka_unit_test(test_callout_classes),
		cmocka_unit_test(test_bad_bytes_fault),
		cmocka_unit_test(test_adaptive_pte_write),
		cmocka_unit_test(test_confine_sequence),
		cmocka_unit_test(test_confine_rsp_loads),
		cmocka_unit_test(test_block_bound_and_full),
		cmocka_unit_test(test_32bit_classes),
		cmocka_unit_test(test_seg_load_refresh),
		cmocka_unit_test(test_outs_fs_checked),
	};
	const struct CMUnitTest ex[] = {
		cmocka_unit_test(test_exec_virtual_if),
		cmocka_unit_test(test_exec_popf),
		cmocka_unit_test(test_exec_ret_lookup),
		cmocka_unit_test(test_exec_ret_fault_map),
		cmocka_unit_test(test_exec_riprel_and_confine),
		cmocka_unit_test(test_exec_rsp_step_into_hole),
		cmocka_unit_test(test_exec_indirect_target_confined),
		cmocka_unit_test(test_exec_rep_down_into_hole),
		cmocka_unit_test(test_exec_fs_rep_down_into_hole),
		cmocka_unit_test(test_exec_forged_callout_ud),
		cmocka_unit_test(test_exec_32bit_block),
		cmocka_unit_test(test_exec_32bit_stack_ops),
		cmocka_unit_test(test_exec_32bit_push_pop_rm),
		cmocka_unit_test(test_exec_32bit_popad_fault),
		cmocka_unit_test(test_exec_32bit_ret_lookup),
		cmocka_unit_test(test_exec_32bit_fs_strings),
		cmocka_unit_test(test_exec_map_restartable),
		cmocka_unit_test(test_exec_32bit_fs_xlat_pop),
		cmocka_unit_test(test_exec_32bit_enter16),
	};
	int rc = cmocka_run_group_tests_name("bt translator", xl, grp_setup, grp_teardown);
	if (bt_cs_open(&cs))
		return 1;
	rc |= cmocka_run_group_tests_name("bt translated code on the machine", ex, rig_setup, rig_teardown);
	cs_close(&cs);
	return rc;
}
