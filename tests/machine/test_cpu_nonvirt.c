/* test_cpu_nonvirt.c — the behaviours that make x86 not classically
 * virtualizable (Popek & Goldberg; Robin & Irvine 2000), run by a real
 * guest at CPL 3 (tests/machine/progs/nonvirt.S): POPF silently keeps IF
 * and IOPL, and PUSHF, SGDT, SIDT, SLDT, STR, SMSW and MOV from CS/SS
 * reveal the real state — none of them faults. A deprivileged guest kernel
 * run on the machine without help must see exactly this. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/guest_prog.h"
#include "../support/test_profile.h"

#define PROG "nonvirt"

static struct vl_profile prof;

static uint64_t S(const char *name) { return gp_sym(PROG, name); }

/* n bytes of sbuf at off: little-endian value of the first `w`, the rest untouched (0xff) */
static void stored(struct vl_machine *m, unsigned off, unsigned w, uint64_t want, unsigned n)
{
	const uint8_t *b = vl_phys_ptr(m, S("sbuf") + off);
	uint64_t v = 0;
	assert_non_null(b);
	memcpy(&v, b, w < 8 ? w : 8);
	assert_int_equal(v, want);
	for (unsigned k = w; k < n; k++)
		assert_int_equal(b[k], 0xff);
}

static void test_nonvirt_cpl3(void **state)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, "0", 16);
	assert_non_null(m);
	m->max_insns = 100000;
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest: state %d exit %u (%s)", m->state, m->exit_code, m->diag);
	assert_int_equal(gp_rd64(m, S("tag")), 999);

	/* CPL 0 for reference: POPF changes IF and IOPL */
	assert_int_equal(gp_res(m, PROG, 21), 0x3202);

	/* CPL 3, IOPL 0 */
	assert_int_equal(gp_res(m, PROG, 0), 0x202);   /* PUSHF: the real IF and IOPL */
	assert_int_equal(gp_res(m, PROG, 1), 0x203);   /* POPF: CF taken, IF silently kept */
	assert_int_equal(gp_res(m, PROG, 2), 0x202);   /* POPF: IOPL silently kept */
	stored(m, 0, 2, GDT_LIMIT, 2);                  /* SGDT: 10 bytes, the real GDT */
	stored(m, 2, 8, S("gdt"), 14);
	stored(m, 16, 2, 4095, 2);                      /* SIDT */
	stored(m, 18, 8, S("idt"), 14);
	assert_int_equal(gp_res(m, PROG, 3), LDT_SEL);  /* SLDT r32 */
	stored(m, 32, 2, LDT_SEL, 8);                   /* SLDT m16 */
	assert_int_equal(gp_res(m, PROG, 4), TSS_SEL);  /* STR */
	stored(m, 40, 2, TSS_SEL, 8);
	uint64_t cr0 = gp_res(m, PROG, 20);
	assert_int_equal(gp_res(m, PROG, 5) & 0xffff, cr0 & 0xffff);   /* SMSW: PE, ET ... */
	stored(m, 48, 2, cr0 & 0xffff, 8);
	assert_int_equal(gp_res(m, PROG, 6), UCS);      /* MOV from CS: RPL 3 shows */
	assert_int_equal(gp_res(m, PROG, 7), UDS);
	stored(m, 56, 2, UCS, 8);
	/* none of that faulted; CLI did */
	assert_int_equal(gp_count(m, PROG, 1), 0);
	struct gp_ent e;
	assert_int_equal(gp_count(m, PROG, 2), 1);
	assert_true(gp_find(m, PROG, 2, 0, &e));
	assert_int_equal(e.vec, VL_GP);
	assert_int_equal(e.err, 0);
	assert_int_equal(e.rip, S("cli_u"));

	/* CPL 3, IOPL 3: POPF and CLI/STI change IF; IOPL still not */
	assert_int_equal(gp_count(m, PROG, 3), 0);
	assert_int_equal(gp_res(m, PROG, 10), 0x3002);
	assert_int_equal(gp_res(m, PROG, 11), 0x3002);
	assert_int_equal(gp_res(m, PROG, 12), 0x3202);
	assert_int_equal(m->console_len, 1);
	assert_int_equal(m->console[0], 0x55);
	/* CR4.TSD */
	assert_int_equal(gp_count(m, PROG, 4), 1);
	assert_true(gp_find(m, PROG, 4, 0, &e));
	assert_int_equal(e.vec, VL_GP);
	assert_int_equal(e.err, 0);
	assert_int_equal(e.rip, S("rdtsc_u"));
	/* MONITOR/MWAIT at CPL 3: #UD (SDM: CPL > 0, and CPUID does not list them) */
	assert_true(gp_find(m, PROG, 5, 0, &e));
	assert_int_equal(e.vec, VL_UD);
	assert_int_equal(e.rip, S("monitor_u"));
	assert_true(gp_find(m, PROG, 6, 0, &e));
	assert_int_equal(e.vec, VL_UD);
	assert_int_equal(e.rip, S("mwait_u"));
	assert_int_equal(gp_nlog(m, PROG), 4);
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonvirt_cpl3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
