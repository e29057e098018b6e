/* test_cpu_nmi.c — NMIs seen by a real guest (tests/machine/progs/nmi.S):
 * a self-NMI through the x2APIC ICR is delivered through IDT vector 2
 * with IF = 0, blocks a second NMI until the handler's IRET (SDM Vol. 3A
 * 6.7.1), and the second is then taken before the interrupted instruction;
 * a fixed IPI sent with IF = 0 waits for STI. Counted: nmis. */
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

#define PROG "nmi"

static struct vl_profile prof;

static uint64_t S(const char *name) { return gp_sym(PROG, name); }
static uint64_t nmi_q(struct vl_machine *m, unsigned k, unsigned q) { return gp_rd64(m, S("nmis") + 24ull * k + 8 * q); }

static struct vl_machine *run(void)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, "0", 16);
	assert_non_null(m);
	m->max_insns = 1000000;
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest: state %d exit %u (%s)", m->state, m->exit_code, m->diag);
	assert_int_equal(gp_rd64(m, S("tag")), 999);
	return m;
}

static void test_nmi_self(void **state)
{
	struct vl_machine *m = run();
	assert_int_equal(gp_rd64(m, S("n_nmi")), 2);
	/* first NMI: right after the ICR write, IF = 0 in the pushed RFLAGS */
	assert_int_equal(nmi_q(m, 0, 0), S("a_next"));
	assert_int_equal(nmi_q(m, 0, 1) & VL_FL_IF, 0);
	/* the nested NMI sent in the handler was blocked there ... */
	assert_int_equal(gp_res(m, PROG, 0), 1);
	/* ... and taken right after the IRET, at the same interrupted RIP */
	assert_int_equal(nmi_q(m, 1, 0), S("a_next"));
	assert_int_equal(nmi_q(m, 1, 2), 1);
	assert_int_equal(gp_res(m, PROG, 1), 2);
	/* the fixed IPI waited in IRR with IF = 0, taken after STI's shadow */
	assert_int_equal(gp_res(m, PROG, 2), 1);
	assert_int_equal(gp_rd64(m, S("ipi_rip")), S("ipi_next"));
	assert_int_equal(m->region[0].events[VL_EV_NMIS], 2);
	assert_false(m->cpu.nmi_pending);
	assert_false(m->cpu.nmi_blocked);
	vl_machine_free(m);
}

static void test_nmi_deterministic(void **state)
{
	struct vl_machine *a = run(), *b = run();
	assert_int_equal(a->tsc, b->tsc);
	assert_memory_equal(a->region, b->region, sizeof a->region);
	vl_machine_free(a);
	vl_machine_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nmi_self),
		cmocka_unit_test(test_nmi_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
