/* test_cpu_marker.c — region markers (guest_abi.h) run by a real guest
 * (tests/machine/progs/marker.S): the counters of the instructions between
 * two markers land in that region, exactly; a marker is not an instruction
 * and costs nothing — the same code with and without markers retires the
 * same instructions in the same modelled cycles, and the regions of the
 * marked run add up to the unmarked run's totals. */
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

#define PROG "marker"

static struct vl_profile prof;

static struct vl_machine *run(const char *cmd)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, cmd, 16);
	assert_non_null(m);
	m->max_insns = 100000;
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest %s: state %d exit %u (%s)", cmd, m->state, m->exit_code, m->diag);
	assert_int_equal(gp_rd64(m, gp_sym(PROG, "tag")), 999);
	return m;
}

static void test_marker_regions(void **state)
{
	struct vl_machine *m = run("0");
	const struct vl_counters *r = m->region;

	/* 1: 10 NOPs, ADD to memory, MOV from memory */
	assert_int_equal(r[1].events[VL_EV_GUEST_INSNS], 12);
	assert_int_equal(r[1].cycles[VL_CAT_GUEST], 10 * prof.insn_alu + prof.insn_store + prof.insn_load);
	assert_int_equal(r[1].events[VL_EV_EXCEPTIONS], 0);
	/* 2: redundant BEGINs add nothing */
	assert_int_equal(r[2].events[VL_EV_GUEST_INSNS], 3);
	assert_int_equal(r[2].cycles[VL_CAT_GUEST], 3 * prof.insn_alu);
	/* 3: the #UD and its handler belong to the region it happened in */
	assert_int_equal(r[3].events[VL_EV_EXCEPTIONS], 1);
	assert_int_equal(r[3].cycles[VL_CAT_EXCEPTION], prof.exception_delivery);
	assert_true(r[3].events[VL_EV_GUEST_INSNS] > 4);
	/* 4: a NOPL without the magic is an instruction; a magic one of unknown kind is not */
	assert_int_equal(r[4].events[VL_EV_GUEST_INSNS], 1);
	assert_int_equal(r[4].cycles[VL_CAT_GUEST], prof.insn_alu);
	/* 5: INT n retires (it is an instruction, like IRETQ) and delivers */
	assert_int_equal(r[5].events[VL_EV_EXCEPTIONS], 1);
	assert_int_equal(r[5].events[VL_EV_GUEST_INSNS], 2);
	assert_int_equal(r[5].cycles[VL_CAT_GUEST], prof.insn_other_sys + prof.insn_iret);
	assert_int_equal(r[5].cycles[VL_CAT_EXCEPTION], prof.exception_delivery);
	/* nothing else anywhere; BEGIN 9 is out of range and ignored */
	static const struct vl_counters zero;
	assert_memory_equal(&r[6], &zero, sizeof zero);
	assert_memory_equal(&r[7], &zero, sizeof zero);
	assert_int_equal(m->region_id, 0);

	/* every retired instruction is in exactly one region */
	uint64_t sum = 0;
	for (int k = 0; k < VL_MAX_REGIONS; k++)
		sum += r[k].events[VL_EV_GUEST_INSNS];
	assert_int_equal(sum, m->insns);
	vl_machine_free(m);
}

/* With and without markers: same instructions, same cycles, same counts —
 * except that each marker's own fetch is an ITLB access (a hit here: the
 * code page is warm), which costs no cycle. */
static void test_marker_free(void **state)
{
	struct vl_machine *a = run("0"), *b = run("1");
	struct vl_counters sum;
	memset(&sum, 0, sizeof sum);
	for (int k = 0; k < VL_MAX_REGIONS; k++)
		vl_counters_add(&sum, &a->region[k]);
	const unsigned markers = 15;   /* executed by BODY 1 */

	assert_int_equal(a->insns, b->insns);
	assert_int_equal(a->tsc, b->tsc);
	assert_int_equal(sum.events[VL_EV_ITLB_HITS], b->region[0].events[VL_EV_ITLB_HITS] + markers);
	assert_int_equal(sum.events[VL_EV_ITLB_MISSES], b->region[0].events[VL_EV_ITLB_MISSES]);
	sum.events[VL_EV_ITLB_HITS] -= markers;
	assert_memory_equal(&sum, &b->region[0], sizeof sum);
	for (int k = 1; k < VL_MAX_REGIONS; k++)
		assert_int_equal(b->region[k].events[VL_EV_GUEST_INSNS], 0);
	vl_machine_free(a);
	vl_machine_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marker_regions),
		cmocka_unit_test(test_marker_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
