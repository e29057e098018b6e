/* test_cpu_sys.c — SYSCALL/SYSRET and SWAPGS run by a real guest
 * (tests/machine/progs/sys.S): RCX = next RIP, R11 = RFLAGS, CS/SS from
 * STAR, RFLAGS masked by SFMASK, CPL 0 with the user's RSP; SYSRET's CS/SS
 * with RPL 3 and RFLAGS = (R11 & 0x3C7FD7) | 2; #GP(0) for SYSRET at CPL 3
 * and for a non-canonical RCX (Intel), #UD for both without EFER.SCE (the
 * SCE check comes before the CPL check); SWAPGS exchanges the GS base with
 * KERNEL_GS_BASE and is #GP(0) at CPL 3; exact counts of a round trip.
 * Expected values: SDM Vol. 2 (SYSCALL, SYSRET, SWAPGS) and the image's
 * symbol table. */
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

#define PROG "sys"

static struct vl_profile prof;

static uint64_t S(const char *name) { return gp_sym(PROG, name); }

static void check_fault(struct vl_machine *m, uint64_t tag, unsigned vec, const char *label, uint64_t cs)
{
	struct gp_ent e;
	if (gp_count(m, PROG, tag) != 1)
		fail_msg("tag %llu: %u log entries, expected 1", (unsigned long long)tag, gp_count(m, PROG, tag));
	assert_true(gp_find(m, PROG, tag, 0, &e));
	if (e.vec != vec || e.rip != S(label) || e.cs != cs)
		fail_msg("tag %llu: vec %u rip %#llx cs %#llx; expected vec %u rip %#llx (%s) cs %#llx",
			 (unsigned long long)tag, e.vec, (unsigned long long)e.rip, (unsigned long long)e.cs, vec,
			 (unsigned long long)S(label), label, (unsigned long long)cs);
	if (vec == VL_GP)
		assert_int_equal(e.err, 0);
}

static void test_syscall_sysret_swapgs(void **state)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, "0", 16);
	assert_non_null(m);
	m->max_insns = 1000000;
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest: state %d exit %u (%s), log %u", m->state, m->exit_code, m->diag, gp_nlog(m, PROG));
	assert_int_equal(gp_rd64(m, S("tag")), 999);

	/* SYSCALL from CPL 3 */
	uint64_t ursp = gp_res(m, PROG, 0);
	assert_int_equal(ursp, USTACK_TOP);
	assert_int_equal(gp_res(m, PROG, 1), S("sc1_next"));               /* RCX = next RIP */
	assert_int_equal(gp_res(m, PROG, 2), 0x6c3);                       /* R11 = RFLAGS (RF clear) */
	assert_int_equal(gp_res(m, PROG, 3), (0x6c3 & ~0x257fd5ull) | 2);  /* RFLAGS &= ~SFMASK */
	assert_int_equal(gp_res(m, PROG, 4), KCS);                         /* STAR[47:32] */
	assert_int_equal(gp_res(m, PROG, 5), KCS + 8);                     /* STAR[47:32] + 8 */
	assert_int_equal(gp_res(m, PROG, 6), ursp);                        /* no stack switch */
	assert_int_equal(gp_res(m, PROG, 7), 0xbbbb);                      /* SWAPGS in the entry */
	/* SYSRET back to CPL 3 */
	assert_int_equal(gp_res(m, PROG, 10), (0xff00043a0bull & 0x3c7fd7) | 2);
	assert_int_equal(gp_res(m, PROG, 11), ((uint64_t)UCS32 + 16) | 3);
	assert_int_equal(gp_res(m, PROG, 12), ((uint64_t)UCS32 + 8) | 3);
	assert_int_equal(gp_res(m, PROG, 13), ursp);
	assert_int_equal(gp_res(m, PROG, 14), S("sc1_next"));
	assert_int_equal(gp_res(m, PROG, 15), 0xff00043a0bull);

	/* faults */
	check_fault(m, 2, VL_GP, "sr_nc", KCS);     /* non-canonical RCX: #GP at CPL 0 */
	check_fault(m, 3, VL_GP, "sr_u", UCS);      /* SYSRET at CPL 3 */
	check_fault(m, 8, VL_GP, "swapgs_u", UCS);  /* SWAPGS at CPL 3 */
	check_fault(m, 4, VL_UD, "sc_ud", KCS);     /* EFER.SCE = 0 */
	check_fault(m, 5, VL_UD, "sr_ud", KCS);
	check_fault(m, 6, VL_UD, "sr_ud3", UCS);    /* #UD, not #GP, at CPL 3 */
	assert_int_equal(gp_res(m, PROG, 16) & VL_EFER_SCE, VL_EFER_SCE);
	assert_int_equal(m->cpu.efer & VL_EFER_SCE, VL_EFER_SCE);

	/* SWAPGS at CPL 0 */
	uint64_t gu = S("gs_user"), gk = S("gs_kernel");
	assert_int_equal(gp_res(m, PROG, 20), 0xaaaa);
	assert_int_equal(gp_res(m, PROG, 21), 0xbbbb);
	assert_int_equal(gp_res(m, PROG, 22), gk);
	assert_int_equal(gp_res(m, PROG, 23), gu);
	assert_int_equal(gp_res(m, PROG, 24), gu);   /* swapped back; the CPL 3 SWAPGS changed nothing */
	assert_int_equal(m->cpu.seg[VL_GS].base, gu);
	assert_int_equal(m->cpu.kernel_gs_base, gk);

	/* Region 2: SYSCALL, SWAPGS, SWAPGS, SYSRET and nothing else */
	const struct vl_counters *r = &m->region[2];
	assert_int_equal(r->events[VL_EV_GUEST_INSNS], 4);
	assert_int_equal(r->events[VL_EV_PRIV_TRANSITIONS], 2);
	assert_int_equal(r->events[VL_EV_EXCEPTIONS], 0);
	assert_int_equal(r->cycles[VL_CAT_GUEST], prof.insn_syscall + 2 * prof.insn_swapgs + prof.insn_sysret);
	assert_int_equal(r->cycles[VL_CAT_EXCEPTION] + r->cycles[VL_CAT_WALK], 0);
	assert_int_equal(r->events[VL_EV_DTLB_HITS] + r->events[VL_EV_DTLB_MISSES], 0);
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscall_sysret_swapgs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
