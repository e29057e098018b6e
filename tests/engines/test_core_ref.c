/* test_core_ref.c — the fast execution core and the reference core
 * (VIRTLAB_CORE=ref, vl_cpu_set_core) give bit-identical results.
 *
 * Every workload of workloads.def runs on the real guest ($GUEST, skipped
 * only when it is absent) through vl_run_execute, once with each core, on
 * every shipped profile (p4, core2, zen4 and skylake-sp by name, the rest
 * from the profile directory) and every engine/MMU pair
 * that exists on the profile (a pair the profile's CPU lacks is refused by
 * the runner and skipped: vtx on AMD, svm on Intel, nested on the P4).
 * Small iteration counts and timer=1000 (the guest's fastest timer), so
 * timer interrupts land in the middle of straight-line code and of REP
 * string instructions. Compared: the run's status and reason, every
 * region's struct vl_counters (every cycle category, event and exit slot),
 * the TSC, the retired-instruction total, the final CPU state, the console
 * (hence every RESULT line) and the guest's exit value. The machine is
 * reached through vl_run_spec.machine_hook. */
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
#include "virtlab/profile.h"
#include "virtlab/run.h"
#include "../../machine/internal.h"

static const char *guest;

struct snap {
	bool ref;                            /* input: run the reference core */
	bool ended;
	bool core_was_ref;
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
		vl_cpu_set_core(m, s->ref);
		return;
	}
	s->ended = true;
	s->core_was_ref = vl_cpu_core_ref(m);
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

/* Returns false when the runner refused the combination. */
static bool run(const char *engine, const char *mmu, const char *wl, uint64_t iters, const char *profile,
		bool ref, struct snap *s, struct vl_run_result *res)
{
	memset(s, 0, sizeof *s);
	s->ref = ref;
	struct vl_run_spec spec = { .engine = engine, .mmu = mmu, .workload = wl, .iterations = iters,
				    .params = "timer=1000", .profile = profile, .image = guest,
				    .machine_hook = hook, .machine_hook_arg = s };
	int rc = vl_run_execute(&spec, res);
	if (rc == 2 && res->status == VL_RUN_REFUSED)
		return false;
	assert_int_equal(rc, 0);
	assert_true(s->ended);
	assert_int_equal(s->core_was_ref, ref);   /* the run really used that core */
	assert_non_null(res->console);
	return true;
}

static unsigned compared, refused;

static void same(const char *what, const struct snap *a, const struct snap *b, const struct vl_run_result *ra,
		 const struct vl_run_result *rb)
{
	if (ra->status != rb->status || strcmp(ra->reason, rb->reason))
		fail_msg("%s: status %s (%s) vs %s (%s)", what, vl_run_status_name[ra->status], ra->reason,
			 vl_run_status_name[rb->status], rb->reason);
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		const struct vl_counters *x = &a->region[r], *y = &b->region[r];
		for (int c = 0; c < VL_CAT_COUNT; c++)
			if (x->cycles[c] != y->cycles[c])
				fail_msg("%s: region %d cycles.%s %llu (fast) vs %llu (ref)", what, r, vl_cat_name[c],
					 (unsigned long long)x->cycles[c], (unsigned long long)y->cycles[c]);
		for (int e = 0; e < VL_EV_COUNT; e++)
			if (x->events[e] != y->events[e])
				fail_msg("%s: region %d %s %llu (fast) vs %llu (ref)", what, r, vl_event_name[e],
					 (unsigned long long)x->events[e], (unsigned long long)y->events[e]);
		for (int k = 0; k < VL_MAX_EXIT_SLOTS; k++)
			if (x->exit_count[k] != y->exit_count[k] || x->exit_cycles[k] != y->exit_cycles[k])
				fail_msg("%s: region %d exit slot %d differs", what, r, k);
	}
	assert_memory_equal(a->region, b->region, sizeof a->region);
	if (a->tsc != b->tsc || a->insns != b->insns)
		fail_msg("%s: tsc %llu vs %llu, instructions %llu vs %llu", what, (unsigned long long)a->tsc,
			 (unsigned long long)b->tsc, (unsigned long long)a->insns, (unsigned long long)b->insns);
	assert_memory_equal(a->gpr, b->gpr, sizeof a->gpr);
	assert_int_equal(a->rip, b->rip);
	assert_int_equal(a->rflags, b->rflags);
	assert_int_equal(a->cr3, b->cr3);
	assert_int_equal(a->cr2, b->cr2);
	assert_int_equal(a->cpl, b->cpl);
	assert_int_equal(a->state, b->state);
	if (strcmp(ra->console, rb->console))
		fail_msg("%s: consoles differ:\n--- fast\n%s\n--- ref\n%s", what, ra->console, rb->console);
	assert_int_equal(ra->guest_exit, rb->guest_exit);
	assert_memory_equal(&ra->ctr, &rb->ctr, sizeof ra->ctr);
	assert_int_equal(ra->nresults, rb->nresults);
}

static void check(const char *engine, const char *mmu, const char *wl, uint64_t iters, const char *profile)
{
	struct snap a, b;
	struct vl_run_result ra, rb;
	char what[160];
	snprintf(what, sizeof what, "%s/%s %s %s", engine, mmu, profile, wl);
	if (!run(engine, mmu, wl, iters, profile, false, &a, &ra)) {
		vl_run_result_free(&ra);
		refused++;
		return;
	}
	assert_true(run(engine, mmu, wl, iters, profile, true, &b, &rb));
	same(what, &a, &b, &ra, &rb);
	assert_true(a.insns > 1000);   /* the run did something worth comparing */
	compared++;
	vl_run_result_free(&ra);
	vl_run_result_free(&rb);
}

/* Small: 3 iterations (fewer where the default is smaller) — a few timer
 * ticks land in each run; boot and teardown run the same code anyway. */
static uint64_t small(const struct vl_workload_info *w)
{
	return w->default_iters < 3 ? w->default_iters : 3;
}

static const char *const pairs[][2] = {
	{ "native", "native" }, { "vtx", "shadow" }, { "vtx", "nested" }, { "svm", "shadow" },
	{ "svm", "nested" }, { "bt", "shadow" }, { "pv", "shadow" }, { "pv", "direct" }, { "trap", "shadow" },
};

static void each(const char *profile)
{
	unsigned before = compared;
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++)
		for (size_t k = 0; k < vl_workload_count; k++)
			check(pairs[p][0], pairs[p][1], vl_workloads[k].name, small(&vl_workloads[k]), profile);
	print_message("%-10s %u combinations compared (%u refused so far)\n", profile, compared - before, refused);
	assert_true(compared - before >= 4 * vl_workload_count);   /* native, bt, pv, trap at least */
}

static void test_core_p4(void **state) { each("p4"); }
static void test_core_core2(void **state) { each("core2"); }
static void test_core_zen4(void **state) { each("zen4"); }
static void test_core_skylake(void **state) { each("skylake-sp"); }

/* Every other shipped profile (the profile directory's list): a profile
 * added later is covered without editing this test. */
static void test_core_other_profiles(void **state)
{
	char **names = NULL;
	size_t n = vl_profile_list(&names);
	unsigned others = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(names[i], "p4") || !strcmp(names[i], "core2") || !strcmp(names[i], "zen4") ||
		    !strcmp(names[i], "skylake-sp"))
			continue;
		each(names[i]);
		others++;
	}
	vl_profile_list_free(names, n);
	assert_true(others >= 4);   /* nehalem, sapphire-rapids, zen5, emerald-rapids at least */
}

int main(void)
{
	guest = getenv("GUEST");
	if (!guest || !*guest || access(guest, R_OK)) {
		printf("test_core_ref: no guest image ($GUEST unset or unreadable): skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_core_p4),
		cmocka_unit_test(test_core_core2),
		cmocka_unit_test(test_core_zen4),
		cmocka_unit_test(test_core_skylake),
		cmocka_unit_test(test_core_other_profiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
