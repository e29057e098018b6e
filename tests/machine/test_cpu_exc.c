/* test_cpu_exc.c — exceptions and interrupts through the 64-bit IDT, run
 * by a real guest (tests/machine/progs/exc.S) on the machine: vectors,
 * error codes, CR2, the pushed frame (SS, RSP, RFLAGS, CS, RIP, error
 * code) and its 16-byte alignment, TSS RSP0 and IST stacks, gate DPL for
 * INT n / INT3, interrupt vs trap gates, IRETQ to CPL 3 and 0, the #DF
 * class rules (SDM Vol. 3 Table 6-5), and the triple fault's diagnostic.
 * Expected values come from the SDM and from the image's symbol table,
 * never from the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/guest_prog.h"
#include "../support/test_profile.h"

#define PROG "exc"
#define NONE (-1)

static struct vl_profile prof;

static void dump_log(struct vl_machine *m)
{
	unsigned n = gp_nlog(m, PROG);
	fprintf(stderr, "state %d exit %u diag: %s\n", m->state, m->exit_code, m->diag);
	for (unsigned k = 0; k < n && k < LOG_MAX; k++) {
		struct gp_ent e;
		gp_log(m, PROG, k, &e);
		fprintf(stderr, "  tag %3llu vec %3u err %#llx rip %#llx cs %#llx fl %#llx rsp %#llx ss %#llx ersp %#llx cr2 %#llx\n",
			(unsigned long long)e.tag, e.vec, (unsigned long long)e.err, (unsigned long long)e.rip,
			(unsigned long long)e.cs, (unsigned long long)e.rflags, (unsigned long long)e.rsp,
			(unsigned long long)e.ss, (unsigned long long)e.ersp, (unsigned long long)e.cr2);
	}
}

static struct vl_machine *run(const char *cmd)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, cmd, 16);
	assert_non_null(m);
	m->max_insns = 2000000;
	vl_machine_run(m);
	return m;
}

/* The one entry tagged `tag`, checked: vector, error code (NONE: the
 * vector pushes none), frame and where the frame was pushed (`top`: the
 * stack top the CPU started from, before the 16-byte alignment). */
static struct gp_ent expect(struct vl_machine *m, uint64_t tag, unsigned vec, long err, uint64_t rip, uint64_t cs,
			    uint64_t rsp, uint64_t ss, uint64_t top)
{
	struct gp_ent e;
	if (gp_count(m, PROG, tag) != 1) {
		dump_log(m);
		fail_msg("tag %llu: %u entries, expected 1", (unsigned long long)tag, gp_count(m, PROG, tag));
	}
	assert_true(gp_find(m, PROG, tag, 0, &e));
	if (e.vec != vec || e.rip != rip || e.cs != cs || e.rsp != rsp || e.ss != ss) {
		dump_log(m);
		fail_msg("tag %llu: vec %u rip %#llx cs %#llx rsp %#llx ss %#llx; expected vec %u rip %#llx cs %#llx rsp %#llx ss %#llx",
			 (unsigned long long)tag, e.vec, (unsigned long long)e.rip, (unsigned long long)e.cs,
			 (unsigned long long)e.rsp, (unsigned long long)e.ss, vec, (unsigned long long)rip,
			 (unsigned long long)cs, (unsigned long long)rsp, (unsigned long long)ss);
	}
	assert_int_equal(e.has_err, err != NONE);
	if (err != NONE)
		assert_int_equal(e.err, (uint64_t)err);
	/* 64-bit frame: 5 or 6 qwords below the 16-byte aligned stack top */
	assert_int_equal(e.ersp, (top & ~0xfull) - (err != NONE ? 48 : 40));
	assert_int_equal(e.hcs, KCS);
	assert_true(e.rflags & 2);
	return e;
}

static uint64_t S(const char *name) { return gp_sym(PROG, name); }

/* Scenario 0: every resumable case. */
static void test_exc_all(void **state)
{
	struct vl_machine *m = run("0");
	if (m->state != VL_M_EXITED || m->exit_code != 0) {
		dump_log(m);
		fail_msg("guest did not finish");
	}
	uint64_t krsp = gp_res(m, PROG, 0);   /* main's RSP: every CPL 0 fault happens there */
	struct gp_ent e;

	/* #DE, from a 16-byte aligned RSP and (all the other CPL 0 cases) from RSP = 8 mod 16 */
	uint64_t r1 = gp_res(m, PROG, 1);
	assert_int_equal(r1 & 0xf, 0);
	assert_int_equal(krsp & 0xf, 8);
	e = expect(m, 1, VL_DE, NONE, S("de1"), KCS, r1, KDS, r1);
	assert_int_equal(e.rflags & (VL_FL_IF | VL_FL_IOPL), 0);
	assert_int_equal(e.hss, KDS);          /* no privilege change: SS unchanged */
	expect(m, 2, VL_DE, NONE, S("de2"), KCS, krsp, KDS, krsp);
	/* #UD: UD2 and encodings outside the ISA */
	expect(m, 3, VL_UD, NONE, S("ud_ud2"), KCS, krsp, KDS, krsp);
	expect(m, 4, VL_UD, NONE, S("ud_sse"), KCS, krsp, KDS, krsp);
	expect(m, 5, VL_UD, NONE, S("ud_x87"), KCS, krsp, KDS, krsp);
	expect(m, 6, VL_UD, NONE, S("ud_vex"), KCS, krsp, KDS, krsp);
	expect(m, 7, VL_UD, NONE, S("ud_lock"), KCS, krsp, KDS, krsp);
	expect(m, 8, VL_UD, NONE, S("ud_pushes"), KCS, krsp, KDS, krsp);
	/* #GP(0) at CPL 0 */
	expect(m, 9, VL_GP, 0, S("gp_msr"), KCS, krsp, KDS, krsp);
	expect(m, 10, VL_GP, 0, S("gp_ncload"), KCS, krsp, KDS, krsp);
	expect(m, 11, VL_GP, 0, S("gp_ncjmp"), KCS, krsp, KDS, krsp);   /* the JMP faults, not the target */

	/* #GP(0) at CPL 3: stack switch to RSP0, user SS:RSP in the frame */
	static const char *const gp3[] = { "gp_hlt", "gp_movcr", "gp_cli", "gp_wrmsr", "gp_in", "gp_lgdt",
					   "gp_invlpg", "gp_ncu" };
	for (unsigned k = 0; k < 8; k++) {
		e = expect(m, 120 + k, VL_GP, 0, S(gp3[k]), UCS, USTACK_TOP, UDS, RSP0_TOP);
		assert_int_equal(e.hss, 0);   /* SS = NULL selector with RPL = new CPL */
	}
	/* #SS(0), not #GP: a non-canonical implicit stack reference (tag 129,
	 * an RBP-based one, is test_exc_ss_rbp) */
	expect(m, 128, VL_SS_FAULT, 0, S("ss_push"), UCS, 0x0000900000000000ull, UDS, RSP0_TOP);
	/* after IRETQ back to CPL 3 */
	assert_int_equal(gp_res(m, PROG, 2), UCS);
	assert_int_equal(gp_res(m, PROG, 3), UDS);
	assert_int_equal(gp_res(m, PROG, 4), USTACK_TOP);
	assert_int_equal(gp_res(m, PROG, 5) & (VL_FL_IF | VL_FL_IOPL | 2), 2);

	/* #PF: error codes and CR2 */
	e = expect(m, 130, VL_PF, 0, S("pf_ka"), KCS, krsp, KDS, krsp);
	assert_int_equal(e.cr2, PA_A + 0x10);
	assert_int_equal(gp_res(m, PROG, 6), 0x1234);   /* CR0.WP = 0 */
	assert_int_equal(gp_count(m, PROG, 134), 0);
	e = expect(m, 131, VL_PF, VL_PFEC_P | VL_PFEC_W, S("pf_kb"), KCS, krsp, KDS, krsp);
	assert_int_equal(e.cr2, PA_B + 8);
	e = expect(m, 132, VL_PF, VL_PFEC_P | VL_PFEC_I, PA_D, KCS, krsp, KDS, krsp);
	assert_int_equal(e.cr2, PA_D);
	e = expect(m, 133, VL_PF, VL_PFEC_P | VL_PFEC_RSVD, S("pf_ke"), KCS, krsp, KDS, krsp);
	assert_int_equal(e.cr2, PA_E + 0x20);
	e = expect(m, 140, VL_PF, VL_PFEC_P | VL_PFEC_U, S("pf_uc"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_C);
	e = expect(m, 141, VL_PF, VL_PFEC_W | VL_PFEC_U, S("pf_ua"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_A + 0x18);
	e = expect(m, 142, VL_PF, VL_PFEC_P | VL_PFEC_W | VL_PFEC_U, S("pf_ub"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_B);
	e = expect(m, 143, VL_PF, VL_PFEC_P | VL_PFEC_U | VL_PFEC_I, PA_D, UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_D);
	e = expect(m, 144, VL_PF, VL_PFEC_U, S("pf_ua2"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_A + 0xff8);
	e = expect(m, 145, VL_PF, VL_PFEC_U, S("pf_cross"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.cr2, PA_G);   /* the first byte that could not be translated */

	/* #NP: a not-present gate for INT n (EXT = 0), a segment, an exception's gate (EXT = 1) */
	expect(m, 150, VL_NP, 0x40 * 8 + 2, S("np_int"), KCS, krsp, KDS, krsp);
	expect(m, 151, VL_NP, NP_SEL, S("np_ds"), KCS, krsp, KDS, krsp);
	expect(m, 152, VL_NP, VL_UD * 8 + 2 + 1, S("np_ud"), KCS, krsp, KDS, krsp);

	/* INT n from CPL 3: DPL 3 gate delivers (the pushed RIP is the next
	 * instruction); DPL 0 gate is #GP(vector * 8 + 2), even for vectors
	 * that are exceptions (no #DF: INT n is not an exception) */
	e = expect(m, 160, 0x80, NONE, S("int80_next"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.hss, 0);
	expect(m, 161, VL_GP, 0x82 * 8 + 2, S("int82"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	expect(m, 162, VL_GP, 13 * 8 + 2, S("int13"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	expect(m, 163, VL_GP, 14 * 8 + 2, S("int14"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	/* INT3 (one byte) and INT 3 (two bytes) */
	expect(m, 170, VL_BP, NONE, S("bp1_next"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(S("bp1_next") - S("bp1"), 1);
	expect(m, 171, VL_BP, NONE, S("bp2_next"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(S("bp2_next") - S("bp2"), 2);
	expect(m, 172, VL_GP, 3 * 8 + 2, S("bp3"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	expect(m, 173, VL_BP, NONE, S("bp0_next"), KCS, krsp, KDS, krsp);

	/* IST: the IST stack at CPL 0 and over RSP0 from CPL 3 */
	expect(m, 180, VL_UD, NONE, S("ist_ud0"), KCS, krsp, KDS, IST2_TOP);
	expect(m, 181, VL_UD, NONE, S("ist_ud3"), UCS, USTACK_TOP, UDS, IST2_TOP);
	/* RSP0 = 8 mod 16: aligned down */
	expect(m, 190, 0x80, NONE, S("al_next"), UCS, USTACK_TOP, UDS, RSP0_TOP - 8);

	/* interrupt gate clears IF in the handler, trap gate does not; the frame keeps it */
	e = expect(m, 200, 0x41, NONE, S("g41_next"), KCS, krsp, KDS, krsp);
	assert_true(e.rflags & VL_FL_IF);
	assert_false(e.hfl & VL_FL_IF);
	e = expect(m, 201, 0x42, NONE, S("g42_next"), KCS, krsp, KDS, krsp);
	assert_true(e.rflags & VL_FL_IF);
	assert_true(e.hfl & VL_FL_IF);
	e = expect(m, 202, 0x80, NONE, S("if80_next"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_int_equal(e.rflags & (VL_FL_IF | VL_FL_IOPL), VL_FL_IF);
	assert_false(e.hfl & VL_FL_IF);
	e = expect(m, 203, 0x83, NONE, S("if83_next"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	assert_true(e.hfl & VL_FL_IF);

	/* IRETQ at CPL 0 from a built frame: RFLAGS (CF) and RSP as given */
	assert_int_equal(gp_res(m, PROG, 7), 0x3);
	assert_int_equal(gp_res(m, PROG, 8), krsp);

	/* #DF (SDM Table 6-5). Contributory then contributory: #GP, its gate
	 * not present (#NP) -> #DF on IST1 with error code 0 */
	expect(m, 220, VL_DF, 0, S("df_wrmsr"), KCS, krsp, KDS, IST1_TOP);
	/* contributory then #PF: serial. #GP at CPL 3, RSP0 not mapped: the
	 * #PF (supervisor write, not present) at the first push, the SS slot */
	e = expect(m, 221, VL_PF, VL_PFEC_W, S("df_hlt"), UCS, USTACK_TOP, UDS, IST2_TOP);
	assert_int_equal(e.cr2, BADSTK - 8);
	/* benign then #PF: serial */
	e = expect(m, 224, VL_PF, VL_PFEC_W, S("df_ud"), UCS, USTACK_TOP, UDS, IST2_TOP);
	assert_int_equal(e.cr2, BADSTK - 8);
	/* #PF then #PF: #DF; CR2 is the second fault's address */
	e = expect(m, 222, VL_DF, 0, S("df_pf"), UCS, USTACK_TOP, UDS, IST1_TOP);
	assert_int_equal(e.cr2, BADSTK - 8);
	assert_int_equal(e.hss, 0);
	/* #PF then contributory (#NP of its gate): #DF; CR2 of the #PF */
	e = expect(m, 223, VL_DF, 0, S("df_pfnp"), KCS, krsp, KDS, IST1_TOP);
	assert_int_equal(e.cr2, PA_A + 0x30);

	/* Counters: every delivery is one exception (the logged ones and the
	 * INT 0x81 returns to the kernel), every delivered #PF one page fault;
	 * no external interrupts. */
	unsigned n = gp_nlog(m, PROG), npf = 0;
	for (unsigned k = 0; k < n; k++) {
		gp_log(m, PROG, k, &e);
		npf += e.vec == VL_PF;
	}
	assert_int_equal(gp_rd64(m, gp_sym(PROG, "tag")), 999);
	assert_int_equal(m->region[0].events[VL_EV_EXCEPTIONS], n + gp_rd64(m, gp_sym(PROG, "n_back")));
	assert_int_equal(m->region[0].events[VL_EV_PAGE_FAULTS], npf);
	assert_int_equal(npf, 12);
	assert_int_equal(m->region[0].events[VL_EV_INTERRUPTS], 0);
	assert_int_equal(m->region[0].cycles[VL_CAT_EXCEPTION],
			 m->region[0].events[VL_EV_EXCEPTIONS] * prof.exception_delivery);
	vl_machine_free(m);
}

/* The triple fault: the machine stops, m->diag names RIP, CPL, the last
 * vectors in order, and the faulting instruction disassembled. */
static void triple(const char *cmd, const char *label, unsigned cpl, const char *vecs, const char *mnemonic)
{
	struct vl_machine *m = run(cmd);
	char want[256];
	uint64_t rip = S(label);
	if (m->state != VL_M_TRIPLE_FAULT) {
		dump_log(m);
		fail_msg("scenario %s: state %d, expected a triple fault", cmd, m->state);
	}
	assert_int_equal(m->cpu.rip, rip);
	snprintf(want, sizeof want, "rip %#llx cpl %u;", (unsigned long long)rip, cpl);
	if (!strstr(m->diag, want))
		fail_msg("diag '%s' lacks '%s'", m->diag, want);
	/* "v@rip v@rip ..." for the cascade */
	char seq[256] = "";
	size_t l = 0;
	for (const char *v = vecs; *v; ) {
		char *end;
		unsigned long vec = strtoul(v, &end, 10);
		l += (size_t)snprintf(seq + l, sizeof seq - l, "%s%lu@%#llx", l ? " " : "", vec, (unsigned long long)rip);
		v = *end ? end + 1 : end;
	}
	if (!strstr(m->diag, seq))
		fail_msg("diag '%s' lacks the cascade '%s'", m->diag, seq);
	snprintf(want, sizeof want, "at %#llx: ", (unsigned long long)rip);
	const char *at = strstr(m->diag, want);
	if (!at || !strstr(at, mnemonic))
		fail_msg("diag '%s' lacks the disassembly '%s%s'", m->diag, want, mnemonic);
	assert_int_equal(m->cpu.cpl, cpl);
	/* nothing ran after: the exit device was never written */
	assert_int_equal(m->exit_code, 0);
	vl_machine_free(m);
}

/* SDM Vol. 3 6.15 (#SS): a non-canonical address in a memory reference
 * whose base is RSP or RBP (an SS-segment reference) is #SS(0), not #GP(0). */
static void test_exc_ss_rbp(void **state)
{
	struct vl_machine *m = run("0");
	expect(m, 129, VL_SS_FAULT, 0, S("ss_rbp"), UCS, USTACK_TOP, UDS, RSP0_TOP);
	vl_machine_free(m);
}

static void test_exc_triple(void **state)
{
	/* #GP -> #NP (its gate) = #DF -> #NP (its gate): shutdown */
	triple("1", "tf1", 0, "13 11 8 11", "wrmsr");
	/* IDT limit 0: #UD -> #GP(6*8+2+1) (serial) -> #GP(13*8+2+1) = #DF -> #GP: shutdown */
	triple("2", "tf2", 0, "6 13 13 8 13", "ud2");
	triple("3", "tf3", 3, "6 13 13 8 13", "ud2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exc_all),
		cmocka_unit_test(test_exc_ss_rbp),
		cmocka_unit_test(test_exc_triple),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
