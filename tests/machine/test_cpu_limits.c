/* test_cpu_limits.c — guests that never stop, or do their worst, must not
 * take the host with them (tests/machine/progs/limits.S): max_insns and
 * max_cycles stop an endless loop exactly (VL_M_TIMEOUT); #UD storms stop
 * (also one that never retires an instruction, under the run's default
 * limits); wild jumps into random bytes at CPL 0 / CPL 3 / without an IDT
 * end in a defined state, deterministically; self-modifying code executes
 * the new bytes (decode-cache invalidation, incl. REP MOVS writes, a
 * second mapping of the frame and a page-crossing instruction). */
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

#define PROG "limits"
#define WILD 0x600000

/* vl_run_execute's defaults (engines/run.c) */
#define RUN_MAX_INSNS  20000000000ull
#define RUN_MAX_CYCLES 10000000000000ull

static struct vl_profile prof;

static uint64_t S(const char *name) { return gp_sym(PROG, name); }

static struct vl_machine *boot(const char *cmd, uint64_t max_insns, uint64_t max_cycles)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, PROG, cmd, 16);
	assert_non_null(m);
	m->max_insns = max_insns;
	m->max_cycles = max_cycles;
	return m;
}

static void test_limit_insns(void **state)
{
	struct vl_machine *m = boot("1", 100000, 0);
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	assert_int_equal(m->insns, 100000);
	assert_int_equal(m->region[0].events[VL_EV_GUEST_INSNS], 100000);
	assert_int_equal(m->cpu.rip, S("loop_self"));
	assert_non_null(strstr(m->diag, "max-instructions"));
	/* the limit is the total: running again stops at once */
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	assert_int_equal(m->insns, 100000);
	vl_machine_free(m);
}

static void test_limit_cycles(void **state)
{
	struct vl_machine *m = boot("1", 0, 500000);
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	assert_true(m->tsc >= 500000);
	assert_true(m->tsc < 500000 + prof.insn_branch);   /* stopped at the first boundary past the limit */
	assert_int_equal(m->cpu.rip, S("loop_self"));
	assert_non_null(strstr(m->diag, "max-cycles"));
	vl_machine_free(m);
}

/* #UD, handler IRETQ back to the UD2: one retired instruction per #UD */
static void test_ud_storm(void **state)
{
	struct vl_machine *m = boot("2", 50000, 0);
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	uint64_t exc = m->region[0].events[VL_EV_EXCEPTIONS];
	assert_true(exc > 30000);
	assert_true(m->cpu.rip == S("storm_ud") || m->cpu.rip == S("iret_only"));
	vl_machine_free(m);
}

/* #UD whose handler is a UD2: nothing ever retires, so only the cycle
 * limit or the machine's own storm guard can end it. Under the run's
 * default limits it must end promptly, as a timeout. */
static void test_ud_storm_no_progress(void **state)
{
	struct vl_machine *m = boot("3", 0, 3000000);
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	uint64_t insns = m->insns;
	assert_true(m->region[0].events[VL_EV_EXCEPTIONS] >= (3000000 - 200000) / prof.exception_delivery);
	assert_int_equal(m->cpu.rip, S("ud_handler"));
	vl_machine_free(m);

	m = boot("3", RUN_MAX_INSNS, RUN_MAX_CYCLES);
	assert_int_equal(vl_machine_run(m), VL_M_TIMEOUT);
	assert_int_equal(m->insns, insns);
	assert_int_equal(m->cpu.rip, S("ud_handler"));
	assert_true(m->tsc < RUN_MAX_CYCLES / 1000);
	if (!strstr(m->diag, "retir"))
		fail_msg("diag: %s", m->diag);
	vl_machine_free(m);
}

/* xorshift64*: deterministic bytes */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

struct outcome { enum vl_mstate st; uint64_t tsc, insns, rip; uint32_t exit; };

static struct outcome wild(const char *cmd, uint64_t seed)
{
	struct vl_machine *m = boot(cmd, 200000, 20000000);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	uint8_t buf[4096];
	for (unsigned p = 0; p < 16; p++) {   /* 64 KiB of random bytes at WILD */
		for (unsigned k = 0; k < sizeof buf; k += 8) {
			uint64_t r = rnd(&s);
			memcpy(buf + k, &r, 8);
		}
		assert_int_equal(vl_phys_write(m, WILD + p * 4096ull, buf, sizeof buf), 0);
	}
	enum vl_mstate st = vl_machine_run(m);
	assert_int_not_equal(st, VL_M_RUNNING);
	struct outcome o = { st, m->tsc, m->insns, m->cpu.rip, m->exit_code };
	vl_machine_free(m);
	return o;
}

static void test_wild_jumps(void **state)
{
	static const char *const cmds[] = { "4", "5", "6" };
	unsigned by_state[5] = { 0 };
	for (unsigned c = 0; c < 3; c++) {
		for (uint64_t seed = 1; seed <= 16; seed++) {
			struct outcome a = wild(cmds[c], seed), b = wild(cmds[c], seed);
			/* whatever happened, it happened the same way twice */
			assert_int_equal(a.st, b.st);
			assert_int_equal(a.tsc, b.tsc);
			assert_int_equal(a.insns, b.insns);
			assert_int_equal(a.rip, b.rip);
			assert_int_equal(a.exit, b.exit);
			by_state[a.st]++;
		}
	}
	print_message("wild jumps: %u exited, %u triple faults, %u timeouts, %u errors\n", by_state[VL_M_EXITED],
		      by_state[VL_M_TRIPLE_FAULT], by_state[VL_M_TIMEOUT], by_state[VL_M_ERROR]);
}

static void test_self_modifying_code(void **state)
{
	struct vl_machine *m = boot("7", 100000, 0);
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0)
		fail_msg("guest: state %d exit %u (%s)", m->state, m->exit_code, m->diag);
	assert_int_equal(gp_rd64(m, S("tag")), 999);
	assert_int_equal(gp_res(m, PROG, 0), 1);          /* written, executed */
	assert_int_equal(gp_res(m, PROG, 1), 2);          /* overwritten, executed again */
	assert_int_equal(gp_res(m, PROG, 2), 0x11);       /* first run of the instruction */
	assert_int_equal(gp_res(m, PROG, 3), 0x22);       /* after patching its (cached) bytes */
	assert_int_equal(gp_res(m, PROG, 4), 0x31);       /* the store patched the next instruction */
	assert_int_equal(gp_res(m, PROG, 5), 0x88);       /* REP MOVSB wrote the code */
	assert_int_equal(gp_res(m, PROG, 6), 0x66);       /* written through another mapping */
	assert_int_equal(gp_res(m, PROG, 7), 0x77);       /* page-crossing instruction */
	assert_int_equal(gp_res(m, PROG, 8), 0x10077);    /* its second page patched */
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_insns),
		cmocka_unit_test(test_limit_cycles),
		cmocka_unit_test(test_ud_storm),
		cmocka_unit_test(test_ud_storm_no_progress),
		cmocka_unit_test(test_wild_jumps),
		cmocka_unit_test(test_self_modifying_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
