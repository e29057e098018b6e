/* test_cpu_apic.c — the x2APIC timer seen by a real guest
 * (tests/machine/progs/apic.S): enable through IA32_APIC_BASE and SVR,
 * one-shot and periodic LVT timer, initial count and divide, interrupts
 * taken at the exact modelled cycle (the deadline, computed here from the
 * profile's instruction costs), HLT woken by the timer, EOI, TPR/CR8 and
 * in-service masking, the LVT mask; and HLT that nothing can wake stops
 * the machine with a reason. */
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

#define PROG "apic"

static struct vl_profile prof;

static uint64_t S(const char *name) { return gp_sym(PROG, name); }

struct tick { uint64_t tsc, rip; };
static struct tick tick(struct vl_machine *m, unsigned k)
{
	uint64_t a = S("ticks") + 16ull * k;
	return (struct tick){ gp_rd64(m, a), gp_rd64(m, a + 8) };
}
static unsigned nticks(struct vl_machine *m) { return (unsigned)gp_rd64(m, S("n_tick")); }

/* Index of the first tick whose interrupted RIP is `rip`, or -1. */
static int tick_at(struct vl_machine *m, uint64_t rip)
{
	for (unsigned k = 0; k < nticks(m) && k < 32; k++)
		if (tick(m, k).rip == rip)
			return (int)k;
	return -1;
}

static struct vl_machine *boot(const char *cmd)
{
	vl_test_profile(&prof);
	prof.insn_alu = 1;   /* a NOP is one cycle: every cycle is an instruction boundary */
	struct vl_machine *m = gp_boot(&prof, PROG, cmd, 16);
	assert_non_null(m);
	m->max_insns = 1000000;
	return m;
}

/* TSC at which the WRMSR of ARM(cnt, idx) started the timer. */
static uint64_t armed_at(struct vl_machine *m, unsigned idx)
{
	return gp_res(m, PROG, idx) + prof.insn_rdtsc + 6 * prof.insn_alu;
}

static void test_apic_timer(void **state)
{
	struct vl_machine *m = boot("0");
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest: state %d exit %u (%s)", m->state, m->exit_code, m->diag);
	assert_int_equal(gp_rd64(m, S("tag")), 999);
	const uint64_t dl = prof.exception_delivery;
	struct tick t;

	/* A: one-shot, divide 1, count 1000, HLT: taken at exactly the deadline, RIP after HLT */
	t = tick(m, 1);
	assert_int_equal(t.rip, S("a_next"));
	assert_int_equal(t.tsc, armed_at(m, 0) + 1000 + dl);

	/* B: divide 16, count 100, in a run of 1-cycle NOPs: the NOP at the deadline is interrupted */
	uint64_t tw = armed_at(m, 2), deadline = tw + 100 * 16;
	uint64_t sled = tw + prof.insn_wrmsr + prof.insn_store;   /* the SAVE after the WRMSR */
	t = tick(m, 2);
	assert_int_equal(t.tsc, deadline + dl);
	assert_int_equal(t.rip, S("b_sled") + (deadline - sled));

	/* C: periodic, count 5000: three ticks one period apart, each at its deadline */
	tw = armed_at(m, 3);
	for (unsigned k = 1; k <= 3; k++) {
		t = tick(m, 2 + k);
		assert_int_equal(t.rip, S("c_next"));
		assert_int_equal(t.tsc, tw + 5000ull * k + dl);
	}

	/* D: CR8 = 4 -> TPR 0x40 blocks vector 0x40 (pending in IRR); CR8 = 0 delivers it
	 * before the next instruction */
	assert_int_equal(gp_res(m, PROG, 4), 0x40);
	assert_int_equal(gp_res(m, PROG, 7), gp_res(m, PROG, 5));
	assert_int_equal(gp_res(m, PROG, 6) & 1, 1);   /* IRR bit 64 */
	int k = tick_at(m, S("d_next"));
	assert_int_equal(k, (int)gp_res(m, PROG, 7));

	/* E: the first tick is not EOIed: later expiries wait in IRR until EOI,
	 * then one is delivered right after the EOI's WRMSR */
	int k1 = tick_at(m, S("d_next")) + 1;          /* E's first tick */
	assert_int_equal(gp_res(m, PROG, 8), (uint64_t)k1 + 1);   /* none delivered while in service */
	assert_int_equal(gp_res(m, PROG, 9) & 1, 1);   /* ISR bit 64 */
	assert_int_equal(tick_at(m, S("e_next")), k1 + 1);

	/* F: masked LVT: the expiry counts, nothing is requested or delivered */
	assert_int_equal(gp_res(m, PROG, 12), gp_res(m, PROG, 11));
	assert_int_equal(gp_res(m, PROG, 13) & 1, 0);

	/* G: pending at STI, taken after the instruction that follows it */
	assert_int_equal(tick_at(m, S("g_next")), 9);

	/* Counts: every tick but the first (INT 0x40) is an external interrupt:
	 * A 1, B 1, C 3, D 1, E 2 (the two expiries while in service coalesce
	 * in IRR), G 1. Expiries: those plus E's coalesced one and F's masked one. */
	assert_int_equal(nticks(m), 10);
	assert_int_equal(m->region[0].events[VL_EV_INTERRUPTS], 9);
	assert_int_equal(m->region[0].events[VL_EV_TIMER_TICKS], 11);
	vl_machine_free(m);
}

/* The same run twice: identical ticks, counters and TSC (the timer is a function of the TSC). */
static void test_apic_deterministic(void **state)
{
	struct vl_machine *a = boot("0"), *b = boot("0");
	vl_machine_run(a);
	vl_machine_run(b);
	assert_int_equal(a->tsc, b->tsc);
	assert_int_equal(nticks(a), nticks(b));
	for (unsigned k = 0; k < nticks(a) && k < 32; k++) {
		assert_int_equal(tick(a, k).tsc, tick(b, k).tsc);
		assert_int_equal(tick(a, k).rip, tick(b, k).rip);
	}
	assert_memory_equal(a->region, b->region, sizeof a->region);
	vl_machine_free(a);
	vl_machine_free(b);
}

/* HLT that nothing can wake: the machine stops with a reason instead of spinning. */
static void test_apic_hlt_forever(void **state)
{
	struct vl_machine *m = boot("1");
	char want[64];
	assert_int_equal(vl_machine_run(m), VL_M_ERROR);
	snprintf(want, sizeof want, "HLT at rip %#llx", (unsigned long long)S("hlt_cli") + 1);
	if (!strstr(m->diag, want) || !strstr(m->diag, "interrupts disabled"))
		fail_msg("diag: %s", m->diag);
	vl_machine_free(m);

	m = boot("2");
	assert_int_equal(vl_machine_run(m), VL_M_ERROR);
	snprintf(want, sizeof want, "HLT at rip %#llx", (unsigned long long)S("hlt_sti") + 1);
	if (!strstr(m->diag, want) || !strstr(m->diag, "no timer armed"))
		fail_msg("diag: %s", m->diag);
	vl_machine_free(m);

}

/* A CPU halted with a periodic timer running whose vector CR8 masks waits
 * (on hardware: forever); the cycle limit ends it as a timeout, in time
 * independent of the period, with every expiry counted: doubling the limit
 * adds exactly limit / period timer ticks. */
static uint64_t hlt_masked_ticks(uint64_t max_cycles)
{
	struct vl_machine *m = boot("3");
	m->max_cycles = max_cycles;
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	assert_true(m->cpu.halted);
	assert_int_equal(m->tsc, m->max_cycles);
	assert_int_equal(m->cpu.rip, S("hlt_masked") + 1);
	assert_int_equal(m->region[0].events[VL_EV_INTERRUPTS], 0);
	uint64_t ticks = m->region[0].events[VL_EV_TIMER_TICKS];
	vl_machine_free(m);
	return ticks;
}

static void test_apic_hlt_masked_timer(void **state)
{
	uint64_t t1 = hlt_masked_ticks(2000000), t2 = hlt_masked_ticks(4000000);
	assert_true(t1 > 1000);                 /* period 1000 cycles (TMICT 1000, divide by 1) */
	assert_int_equal(t2 - t1, 2000);        /* 2,000,000 more cycles = 2000 more expiries */
	/* a huge limit takes no longer: expiries are counted in O(1) */
	assert_int_equal(hlt_masked_ticks(2000000000000ull) - t1, 1999998000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apic_timer),
		cmocka_unit_test(test_apic_deterministic),
		cmocka_unit_test(test_apic_hlt_forever),
		cmocka_unit_test(test_apic_hlt_masked_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
