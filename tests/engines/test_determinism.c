/* test_determinism.c — the same run twice gives the same counters, bit
 * for bit, and so does a run with the host fast paths off.
 *
 * Every workload of workloads.def runs on the real guest ($GUEST, skipped
 * only when it is absent) through vl_run_execute with the native engine,
 * at small iteration counts, in two timer settings (the guest's default
 * and its fastest, timer=1000, so timer interrupts land all over the
 * workloads), three times each:
 *   A, B   identical runs: every region's struct vl_counters, the TSC, the
 *          retired-instruction total, the final CPU state, the console;
 *   C      vl_mem_set_fastpath(m, false) before the first instruction (soft
 *          TLB off, and with it the interpreter's fetch cache): the same.
 * and the fast-timer set again on a CPU with a tiny DTLB (core2), where
 * walks abound, on one with PCID (skylake-sp), and under engine bt.
 * C is the proof that the host-side fast paths never change a modelled
 * count. The machine is reached through vl_run_spec.machine_hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtlab/machine.h"
#include "virtlab/run.h"
#include "../../machine/internal.h"

static const char *guest;

struct snap {
	bool fastpath_off;                   /* input */
	bool ended;
	struct vl_counters region[VL_MAX_REGIONS];
	uint64_t tsc, insns;
	uint64_t gpr[16], rip, rflags, cr3, cr2;
	uint8_t cpl;
	enum vl_mstate state;
};

static void hook(struct vl_machine *m, enum vl_run_hook_phase phase, void *arg)
{
	struct snap *s = arg;
	if (phase == VL_RUN_HOOK_START) {
		if (s->fastpath_off)
			vl_mem_set_fastpath(m, false);
		return;
	}
	s->ended = true;
	assert_int_equal(m->priv->mem.soft_off, s->fastpath_off);   /* the run really was without it */
	memcpy(s->region, m->region, sizeof s->region);
	s->tsc = m->tsc;
	s->insns = m->insns;
	memcpy(s->gpr, m->cpu.gpr, sizeof s->gpr);
	s->rip = m->cpu.rip;
	s->rflags = m->cpu.rflags;
	s->cr3 = m->cpu.cr3;
	s->cr2 = m->cpu.cr2;
	s->cpl = m->cpu.cpl;
	s->state = m->state;
}

static const char *det_engine = "native";

static void run(const char *wl, uint64_t iters, const char *params, const char *profile, bool fastpath_off,
		struct snap *s, struct vl_run_result *res)
{
	memset(s, 0, sizeof *s);
	s->fastpath_off = fastpath_off;
	struct vl_run_spec spec = { .engine = det_engine, .workload = wl, .iterations = iters, .params = params,
				    .profile = profile, .image = guest, .machine_hook = hook, .machine_hook_arg = s };
	assert_int_equal(vl_run_execute(&spec, res), 0);
	if (res->status != VL_RUN_OK)
		fail_msg("%s (%s): status %s: %s", wl, params ? params : "", vl_run_status_name[res->status], res->reason);
	assert_true(s->ended);
	assert_int_equal(s->state, VL_M_EXITED);
	assert_non_null(res->console);
}

/* Name the first difference, then fail. */
static void same(const char *what, const char *wl, const struct snap *a, const struct snap *b,
		 const struct vl_run_result *ra, const struct vl_run_result *rb)
{
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		const struct vl_counters *x = &a->region[r], *y = &b->region[r];
		for (int c = 0; c < VL_CAT_COUNT; c++)
			if (x->cycles[c] != y->cycles[c])
				fail_msg("%s %s: region %d cycles.%s %llu vs %llu", wl, what, r, vl_cat_name[c],
					 (unsigned long long)x->cycles[c], (unsigned long long)y->cycles[c]);
		for (int e = 0; e < VL_EV_COUNT; e++)
			if (x->events[e] != y->events[e])
				fail_msg("%s %s: region %d %s %llu vs %llu", wl, what, r, vl_event_name[e],
					 (unsigned long long)x->events[e], (unsigned long long)y->events[e]);
		for (int k = 0; k < VL_MAX_EXIT_SLOTS; k++)
			if (x->exit_count[k] != y->exit_count[k] || x->exit_cycles[k] != y->exit_cycles[k])
				fail_msg("%s %s: region %d exit slot %d differs", wl, what, r, k);
	}
	assert_memory_equal(a->region, b->region, sizeof a->region);   /* all of it, padding-free */
	if (a->tsc != b->tsc || a->insns != b->insns)
		fail_msg("%s %s: tsc %llu vs %llu, instructions %llu vs %llu", wl, what, (unsigned long long)a->tsc,
			 (unsigned long long)b->tsc, (unsigned long long)a->insns, (unsigned long long)b->insns);
	assert_memory_equal(a->gpr, b->gpr, sizeof a->gpr);
	assert_int_equal(a->rip, b->rip);
	assert_int_equal(a->rflags, b->rflags);
	assert_int_equal(a->cr3, b->cr3);
	assert_int_equal(a->cr2, b->cr2);
	assert_int_equal(a->cpl, b->cpl);
	if (strcmp(ra->console, rb->console))
		fail_msg("%s %s: consoles differ:\n--- A\n%s\n--- B\n%s", wl, what, ra->console, rb->console);
	assert_memory_equal(&ra->ctr, &rb->ctr, sizeof ra->ctr);
	assert_int_equal(ra->nresults, rb->nresults);
}

static void check_workload(const char *wl, uint64_t iters, const char *params, const char *profile)
{
	struct snap a, b, c;
	struct vl_run_result ra, rb, rc;
	run(wl, iters, params, profile, false, &a, &ra);
	run(wl, iters, params, profile, false, &b, &rb);
	run(wl, iters, params, profile, true, &c, &rc);
	same("run twice", wl, &a, &b, &ra, &rb);
	same("fast path off", wl, &a, &c, &ra, &rc);
	/* the run did something worth comparing */
	assert_true(a.insns > 1000);
	assert_true(a.region[0].events[VL_EV_ITLB_HITS] > 0);
	if (strcmp(wl, "selftest"))   /* selftest has no measured loop */
		assert_true(a.region[VL_REGION_MEASURE].events[VL_EV_GUEST_INSNS] > 0);
	uint64_t intr = 0, exc = 0, walks = 0;
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		intr += a.region[r].events[VL_EV_INTERRUPTS];
		exc += a.region[r].events[VL_EV_EXCEPTIONS];
		walks += a.region[r].events[VL_EV_TLB_MISSES];
	}
	print_message("%-6s %-9s %-10s insns %8llu tsc %9llu interrupts %4llu exceptions %4llu walks %5llu\n",
		      profile ? profile : VL_DEFAULT_PROFILE, wl, params ? params : "", (unsigned long long)a.insns,
		      (unsigned long long)a.tsc, (unsigned long long)intr, (unsigned long long)exc,
		      (unsigned long long)walks);
	vl_run_result_free(&ra);
	vl_run_result_free(&rb);
	vl_run_result_free(&rc);
}

/* Small but not trivial: 20 iterations (fewer where the default is smaller). */
static uint64_t small(const struct vl_workload_info *w)
{
	return w->default_iters < 20 ? w->default_iters : 20;
}

static void test_determinism_default_timer(void **state)
{
	for (size_t k = 0; k < vl_workload_count; k++) {
		const struct vl_workload_info *w = &vl_workloads[k];
		/* selftest's fairness check runs 40 timer ticks: at the default
		 * period that is 10^8 instructions; the fast timer below covers it */
		if (!strcmp(w->name, "selftest"))
			continue;
		check_workload(w->name, small(w), NULL, NULL);
	}
}

static void test_determinism_fast_timer(void **state)
{
	for (size_t k = 0; k < vl_workload_count; k++)
		check_workload(vl_workloads[k].name, small(&vl_workloads[k]), "timer=1000", NULL);
}

/* A CPU with a 16-entry DTLB: evictions, L2 hits and walks everywhere.
 * Core 2 has no x2APIC: the guest programs the xAPIC through MMIO. */
static void test_determinism_small_tlb(void **state)
{
	for (size_t k = 0; k < vl_workload_count; k++)
		check_workload(vl_workloads[k].name, small(&vl_workloads[k]), "timer=1000", "core2");
}

/* A CPU with PCID (the guest's CR3 switches keep TLB entries) and x2APIC. */
static void test_determinism_pcid(void **state)
{
	for (size_t k = 0; k < vl_workload_count; k++)
		check_workload(vl_workloads[k].name, small(&vl_workloads[k]), "timer=1000", "skylake-sp");
}

/* Binary translation (engine bt, shadow paging): translated kernel code,
 * chaining, lookups, callouts, interrupts landing inside translated code
 * (timer=1000) — the same counters every time and with the fast path off. */
static void test_determinism_bt(void **state)
{
	det_engine = "bt";
	for (size_t k = 0; k < vl_workload_count; k++)
		check_workload(vl_workloads[k].name, small(&vl_workloads[k]), "timer=1000", NULL);
	det_engine = "native";
}

int main(void)
{
	guest = getenv("GUEST");
	if (!guest || !*guest || access(guest, R_OK)) {
		printf("test_determinism: no guest image ($GUEST unset or unreadable): skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_determinism_default_timer),
		cmocka_unit_test(test_determinism_fast_timer),
		cmocka_unit_test(test_determinism_small_tlb),
		cmocka_unit_test(test_determinism_pcid),
		cmocka_unit_test(test_determinism_bt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
