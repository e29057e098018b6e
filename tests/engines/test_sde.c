/* test_sde.c — the model's counters as PAPI Software-Defined Events: a model
 * run in this process, then PAPI (as any PAPI user would) reads
 * sde:::virtlab::... and must see exactly the run's counters — the values
 * `virtlab run --format json` reports for the same (deterministic) run. No
 * PMU is needed: SDEs are software counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <papi.h>

#include "virtlab/counters.h"
#include "virtlab/run.h"

static const char *guest;

/* Read `n` SDE names through PAPI into v[]. */
static void papi_read_names(const char *const *names, int n, long long *v)
{
	int es = PAPI_NULL;
	assert_int_equal(PAPI_create_eventset(&es), PAPI_OK);
	for (int i = 0; i < n; i++) {
		int rc = PAPI_add_named_event(es, names[i]);
		if (rc != PAPI_OK)
			fail_msg("PAPI_add_named_event(%s): %s", names[i], PAPI_strerror(rc));
	}
	assert_int_equal(PAPI_start(es), PAPI_OK);
	assert_int_equal(PAPI_read(es, v), PAPI_OK);
	long long dummy[16];
	assert_int_equal(PAPI_stop(es, dummy), PAPI_OK);
	PAPI_cleanup_eventset(es);
	PAPI_destroy_eventset(&es);
}

/* The integer after "\"key\":" in json (the first occurrence after `from`). */
static long long json_int(const char *json, const char *from, const char *key)
{
	const char *p = from ? strstr(json, from) : json;
	assert_non_null(p);
	char pat[96];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = strstr(p, pat);
	if (!p)
		fail_msg("JSON lacks %s", pat);
	return strtoll(p + strlen(pat), NULL, 10);
}

static char *cli_json(const char *args)
{
	const char *bin = getenv("VIRTLAB");
	if (!bin || access(bin, X_OK))
		return NULL;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "%s run %s --no-db --format json", bin, args);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - 1 - len, f)) > 0)
		len += n;
	buf[len] = '\0';
	assert_int_equal(pclose(f), 0);
	return buf;
}

static void test_sde_matches_run(void **st)
{
	if (!guest)
		skip();
	/* vtx/nested cpuid: exits, walks and several cost categories are nonzero */
	struct vl_run_spec s = { .engine = "vtx", .mmu = "nested", .workload = "cpuid", .profile = "sapphire-rapids",
				 .iterations = 40, .image = guest };
	struct vl_run_result r;
	assert_int_equal(vl_run_execute(&s, &r), 0);
	assert_int_equal(r.status, VL_RUN_OK);

	const char *names[] = { "sde:::virtlab::guest_instructions", "sde:::virtlab::exits", "sde:::virtlab::walk_refs",
				"sde:::virtlab::cycles::total", "sde:::virtlab::cycles::exit", "sde:::virtlab::cycles::guest",
				"sde:::virtlab::iterations", "sde:::virtlab::exits::CPUID" };
	long long v[8];
	papi_read_names(names, 8, v);
	const struct vl_counters *c = &r.ctr;
	assert_true(c->events[VL_EV_EXITS] > 0);
	assert_int_equal(v[0], c->events[VL_EV_GUEST_INSNS]);
	assert_int_equal(v[1], c->events[VL_EV_EXITS]);
	assert_int_equal(v[2], c->events[VL_EV_WALK_REFS]);
	assert_int_equal(v[3], vl_counters_total(c));
	assert_int_equal(v[4], c->cycles[VL_CAT_EXIT]);
	assert_int_equal(v[5], c->cycles[VL_CAT_GUEST]);
	assert_int_equal(v[6], 40);
	uint64_t cpuid_exits = 0;
	for (size_t i = 0; i < r.exit_table_len; i++)
		if (!strcmp(r.exit_table[i].name, "CPUID"))
			cpuid_exits = c->exit_count[i];
	assert_true(cpuid_exits >= 40);
	assert_int_equal(v[7], cpuid_exits);

	/* every event key is readable and equal */
	for (int i = 0; i < VL_EV_COUNT; i++) {
		char name[96];
		snprintf(name, sizeof name, "sde:::virtlab::%s", vl_event_name[i]);
		const char *one[] = { name };
		long long x = -1;
		papi_read_names(one, 1, &x);
		if ((uint64_t)x != c->events[i])
			fail_msg("%s: PAPI read %lld, the run counted %llu", name, x, (unsigned long long)c->events[i]);
	}

	/* the same values the CLI's JSON reports for this run */
	char *json = cli_json("--engine vtx --mmu nested --workload cpuid --profile sapphire-rapids --iterations 40");
	if (json) {
		assert_int_equal(json_int(json, "\"events\"", "guest_instructions"), v[0]);
		assert_int_equal(json_int(json, "\"events\"", "exits"), v[1]);
		assert_int_equal(json_int(json, "\"events\"", "walk_refs"), v[2]);
		assert_int_equal(json_int(json, "\"cycles\"", "total"), v[3]);
		assert_int_equal(json_int(json, "\"cycles\"", "exit"), v[4]);
		assert_int_equal(json_int(json, "\"exits\"", "count"), v[7]);   /* the only exit reason of the run */
		free(json);
	}
	vl_run_result_free(&r);

	/* a second, different run replaces the values (instantaneous counters) */
	struct vl_run_spec s2 = { .engine = "native", .workload = "compute", .profile = "sapphire-rapids",
				  .iterations = 100, .image = guest };
	assert_int_equal(vl_run_execute(&s2, &r), 0);
	papi_read_names(names, 8, v);
	assert_int_equal(v[0], r.ctr.events[VL_EV_GUEST_INSNS]);
	assert_int_equal(v[1], 0);   /* native: no exits */
	assert_int_equal(v[6], 100);
	assert_int_equal(v[7], 0);
	vl_run_result_free(&r);
}

int main(void)
{
	const char *g = getenv("GUEST");
	if (g && access(g, R_OK) == 0)
		guest = g;
	else if (access("build/guest/guest.elf", R_OK) == 0)
		guest = "build/guest/guest.elf";
	/* the model registers its SDEs before PAPI starts, as an embedding program would */
	struct vl_run_spec s = { .engine = "native", .workload = "compute", .iterations = 1, .image = guest };
	struct vl_run_result r;
	if (guest) {
		vl_run_execute(&s, &r);
		vl_run_result_free(&r);
	}
	if (PAPI_library_init(PAPI_VER_CURRENT) != PAPI_VER_CURRENT) {
		fprintf(stderr, "PAPI cannot initialise\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sde_matches_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
