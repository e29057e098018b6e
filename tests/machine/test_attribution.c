/* test_attribution.c — the machine attributes every cycle it charges to the
 * profile value that priced it (counters.h field_cycles), on both cores:
 * in every region the slots sum to the categories' cycles and, over all
 * regions, to the TSC; each value's slot holds a whole number of that value;
 * the idle wait of a halted CPU is the one unpriced charge (VL_PF_NONE): it
 * is there when the guest halts for its timer (tests/machine/progs/apic.S)
 * and absent when nothing halts (fastcore.S: chains, decoded blocks and REP
 * strings under a fast timer); and the fast core's chains and blocks
 * attribute exactly what the reference core does instruction by
 * instruction. */
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

static struct vl_profile prof;


static struct vl_machine *run(const char *prog, const char *cmd, bool ref, uint64_t max_cycles)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, prog, cmd, 16);
	assert_non_null(m);
	vl_cpu_set_core(m, ref);
	m->max_insns = 5000000;
	m->max_cycles = max_cycles;
	vl_machine_run(m);
	return m;
}

/* The invariants; returns the unpriced cycles of all regions. */
static uint64_t check(struct vl_machine *m, const char *what)
{
	uint64_t all = 0, none = 0;
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		const struct vl_counters *c = &m->region[r];
		uint64_t cyc = 0, fc = 0;
		for (int k = 0; k < VL_CAT_COUNT; k++)
			cyc += c->cycles[k];
		for (int k = 0; k < VL_PF_SLOTS; k++)
			fc += c->field_cycles[k];
		if (cyc != fc)
			fail_msg("%s: region %d: field_cycles %llu, cycles %llu", what, r, (unsigned long long)fc,
				 (unsigned long long)cyc);
		for (unsigned pf = 0; pf < VL_PF_COUNT; pf++) {
			uint64_t v = vl_test_pf_value(&prof, pf);
			if (c->field_cycles[pf] && (!v || c->field_cycles[pf] % v))
				fail_msg("%s: region %d: %s holds %llu, not a multiple of %llu", what, r, vl_pf_key[pf],
					 (unsigned long long)c->field_cycles[pf], (unsigned long long)v);
		}
		all += fc;
		none += c->field_cycles[VL_PF_NONE];
	}
	if (all != m->tsc)
		fail_msg("%s: field_cycles %llu, TSC %llu", what, (unsigned long long)all, (unsigned long long)m->tsc);
	return none;
}

/* Both cores: the invariants, and the same attribution. */
static uint64_t both(const char *prog, const char *cmd, uint64_t max_cycles, enum vl_mstate want)
{
	char what[64];
	struct vl_machine *a = run(prog, cmd, false, max_cycles), *b = run(prog, cmd, true, max_cycles);
	snprintf(what, sizeof what, "%s %s", prog, cmd);
	if (a->state != want || b->state != want)
		fail_msg("%s: states %d, %d (%s)", what, a->state, b->state, a->diag);
	uint64_t none = check(a, what);
	assert_int_equal(check(b, what), none);
	for (int r = 0; r < VL_MAX_REGIONS; r++)
		assert_memory_equal(a->region[r].field_cycles, b->region[r].field_cycles,
				    sizeof a->region[r].field_cycles);
	vl_machine_free(a);
	vl_machine_free(b);
	return none;
}

static void test_idle_unpriced(void **state)
{
	/* one-shot and periodic timers woken from HLT */
	assert_true(both("apic", "0", 0, VL_M_EXITED) > 0);
	/* halted with the timer's vector masked: idle to the cycle limit, so
	 * 2,000,000 more cycles of limit are 2,000,000 more unpriced cycles */
	uint64_t n1 = both("apic", "3", 2000000, VL_M_TIMEOUT), n2 = both("apic", "3", 4000000, VL_M_TIMEOUT);
	assert_true(n1 > 1000000);
	assert_int_equal(n2 - n1, 2000000);
}

static void test_no_idle(void **state)
{
	static const char *const cmds[] = { "3", "4", "7" };
	for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++)
		assert_int_equal(both("fastcore", cmds[k], 0, VL_M_EXITED), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_unpriced),
		cmocka_unit_test(test_no_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
