/* test_attribution.c — every modelled cycle is attributed to the one
 * profile value that priced it (counters.h field_cycles, machine.h
 * vl_charge_pf), exactly.
 *
 * Every engine × MMU pair the registry allows, on p4 and zen4 (refused
 * pairs skipped), runs a handful of workloads on the real guest ($GUEST,
 * skipped only when absent) at small iteration counts; for each run:
 *   - in every region, the field_cycles slots sum to the cycles of the
 *     categories, and all regions together to the TSC;
 *   - the measured region's slot of each value holds a whole number of
 *     that value (every charge is n × one value), and only values the
 *     profile has (share class sourced / derived / estimated) hold any;
 *   - VL_PF_NONE (unpriced: an HLT's idle wait) is zero: no workload here
 *     idles (tests/machine/test_attribution.c covers the idle case).
 * Two identical runs give identical field_cycles, and one known handler per
 * engine is attributed to its value: cycles == count × value. */
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

#include "../support/test_profile.h"

static const char *guest;


struct ends {
	bool ended;
	struct vl_counters region[VL_MAX_REGIONS];
	uint64_t tsc;
};

static void hook(struct vl_machine *m, enum vl_run_hook_phase phase, void *arg)
{
	struct ends *e = arg;
	if (phase != VL_RUN_HOOK_END)
		return;
	e->ended = true;
	memcpy(e->region, m->region, sizeof e->region);
	e->tsc = m->tsc;
}

static uint64_t sum(const uint64_t *v, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* Count of the measured region's exit/hypercall/callout slots named `name`. */
static uint64_t slot_count(const struct vl_run_result *r, const char *name)
{
	uint64_t n = 0;
	for (size_t i = 0; i < r->exit_table_len && i < VL_MAX_EXIT_SLOTS; i++)
		if (!strcmp(r->exit_table[i].name, name))
			n += r->ctr.exit_count[i];
	return n;
}

/* Run; 1 refused (the registry does not allow the pair), else 0 with every
 * invariant checked. */
static int run_checked(const char *engine, const char *mmu, const char *profile, const char *wl, uint64_t iters,
		       struct vl_run_result *res, struct vl_profile *prof)
{
	struct ends e = { 0 };
	struct vl_run_spec spec = { .engine = engine, .mmu = mmu, .workload = wl, .iterations = iters,
				    .profile = profile, .image = guest, .machine_hook = hook, .machine_hook_arg = &e,
				    .profile_classes = true };
	int rc = vl_run_execute(&spec, res);
	if (rc == 2) {
		vl_run_result_free(res);
		return 1;
	}
	const char *what = res->engine;
	char id[160];
	snprintf(id, sizeof id, "%s/%s %s %s", what, res->mmu, profile, wl);
	assert_int_equal(rc, 0);
	if (res->status != VL_RUN_OK)
		fail_msg("%s: status %s: %s", id, vl_run_status_name[res->status], res->reason);
	assert_true(e.ended);
	char err[256];
	if (vl_profile_load(profile, prof, err, sizeof err))
		fail_msg("%s: %s", id, err);

	/* every region: slots sum to the categories; all regions to the TSC */
	uint64_t all = 0;
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		const struct vl_counters *c = &e.region[r];
		uint64_t cyc = sum(c->cycles, VL_CAT_COUNT), fc = sum(c->field_cycles, VL_PF_SLOTS);
		if (cyc != fc)
			fail_msg("%s: region %d: field_cycles sum %llu, cycles sum %llu", id, r, (unsigned long long)fc,
				 (unsigned long long)cyc);
		if (c->field_cycles[VL_PF_NONE])
			fail_msg("%s: region %d: %llu unpriced cycles, and nothing idles", id, r,
				 (unsigned long long)c->field_cycles[VL_PF_NONE]);
		all += fc;
	}
	if (all != e.tsc)
		fail_msg("%s: all regions' field_cycles %llu, TSC %llu", id, (unsigned long long)all,
			 (unsigned long long)e.tsc);

	/* the measured region (the result): whole multiples of values the profile has */
	const struct vl_counters *c = &res->ctr;
	assert_memory_equal(c, &e.region[VL_REGION_MEASURE], sizeof *c);
	assert_true(sum(c->field_cycles, VL_PF_SLOTS) > 0);
	for (unsigned pf = 0; pf < VL_PF_COUNT; pf++) {
		if (!c->field_cycles[pf])
			continue;
		uint64_t v = vl_test_pf_value(prof, pf);
		if (!v || c->field_cycles[pf] % v)
			fail_msg("%s: %s holds %llu cycles, not a multiple of its value %llu", id, vl_pf_key[pf],
				 (unsigned long long)c->field_cycles[pf], (unsigned long long)v);
		const char *cls = res->pf_class[pf];
		if (!cls || (strcmp(cls, "sourced") && strcmp(cls, "derived") && strcmp(cls, "estimated")))
			fail_msg("%s: %s holds cycles but its class is \"%s\"", id, vl_pf_key[pf], cls ? cls : "(unknown)");
	}
	return 0;
}

static const char *const engines[] = { "native", "bt", "vtx", "svm", "pv", "trap" };
static const char *const mmus[] = { "native", "shadow", "nested", "direct" };
static const char *const profiles[] = { "p4", "zen4" };
static const struct { const char *wl; uint64_t iters; } wls[] = {
	{ "syscall", 40 }, { "pgfault", 12 }, { "cpuid", 40 }, { "in", 20 }, { "ctxsw", 12 },
};

static void test_every_pair(void **state)
{
	unsigned ran = 0, refused = 0;
	struct vl_profile prof;
	for (size_t p = 0; p < sizeof profiles / sizeof *profiles; p++)
		for (size_t e = 0; e < sizeof engines / sizeof *engines; e++)
			for (size_t k = 0; k < sizeof mmus / sizeof *mmus; k++)
				for (size_t w = 0; w < sizeof wls / sizeof *wls; w++) {
					struct vl_run_result res;
					if (run_checked(engines[e], mmus[k], profiles[p], wls[w].wl, wls[w].iters, &res, &prof)) {
						refused++;
						break;   /* the pair is refused whatever the workload */
					}
					ran++;
					vl_run_result_free(&res);
				}
	/* p4: native, bt, vtx/shadow, pv x2, trap (6); zen4: native, bt, svm x2, pv x2, trap (7) */
	printf("test_attribution: %u runs, %u refused pairs\n", ran, refused);
	assert_int_equal(ran, 13 * 5);
}

static void test_identical_runs(void **state)
{
	static const struct { const char *e, *mmu, *prof, *wl; uint64_t it; } c[] = {
		{ "vtx", "shadow", "p4", "ctxsw", 12 },
		{ "svm", "nested", "zen4", "pgfault", 12 },
		{ "bt", "shadow", "zen4", "syscall", 40 },
	};
	struct vl_profile prof;
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		struct vl_run_result a, b;
		assert_int_equal(run_checked(c[i].e, c[i].mmu, c[i].prof, c[i].wl, c[i].it, &a, &prof), 0);
		assert_int_equal(run_checked(c[i].e, c[i].mmu, c[i].prof, c[i].wl, c[i].it, &b, &prof), 0);
		assert_memory_equal(a.ctr.field_cycles, b.ctr.field_cycles, sizeof a.ctr.field_cycles);
		vl_run_result_free(&a);
		vl_run_result_free(&b);
	}
}

/* One known handler per engine, attributed to its value: cycles == count × value. */
static void known(const char *engine, const char *mmu, const char *profile, const char *wl, unsigned pf,
		  const char *slot, bool per_iter)
{
	struct vl_run_result res;
	struct vl_profile prof;
	assert_int_equal(run_checked(engine, mmu, profile, wl, 30, &res, &prof), 0);
	uint64_t n = per_iter ? res.iterations : slot_count(&res, slot), v = vl_test_pf_value(&prof, pf);
	assert_true(n >= 30);
	assert_true(v > 0);
	if (res.ctr.field_cycles[pf] != n * v)
		fail_msg("%s/%s %s %s: %s %llu cycles, want %llu x %llu", engine, mmu, profile, wl, vl_pf_key[pf],
			 (unsigned long long)res.ctr.field_cycles[pf], (unsigned long long)n, (unsigned long long)v);
	vl_run_result_free(&res);
}

static void test_known_exits(void **state)
{
	/* native: the guest's CPUID, one per iteration in the measured region */
	known("native", "native", "zen4", "cpuid", VL_PF_insn_cpuid, NULL, true);
	/* vtx: the CPUID exit's handler */
	known("vtx", "shadow", "p4", "cpuid", VL_PF_vmm_cpuid, "CPUID", false);
	/* svm: every exit is one #VMEXIT */
	known("svm", "nested", "zen4", "cpuid", VL_PF_svm_vmexit, "VMEXIT_CPUID", false);
	/* bt: the CPUID callout's handler */
	known("bt", "shadow", "p4", "cpuid", VL_PF_vmm_cpuid, "CPUID", false);
	/* pv: the trapped CPUID's exit path */
	known("pv", "direct", "zen4", "cpuid", VL_PF_vmm_exit_dispatch, "CPUID", false);
	/* trap: the emulated SYSRET/SWAPGS (#GP) */
	known("trap", "shadow", "p4", "syscall", VL_PF_vmm_emulate, "GP_SYSRET_SWAPGS", false);
}

int main(void)
{
	guest = getenv("GUEST");
	if (!guest || !*guest || access(guest, R_OK)) {
		printf("test_attribution: no guest image ($GUEST unset or unreadable): skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_identical_runs),
		cmocka_unit_test(test_known_exits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
