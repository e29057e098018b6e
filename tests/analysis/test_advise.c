/* test_advise.c — mode selection from a database of runs with known cost
 * categories: the best configuration, runner-up, margin and deciding
 * category a hand computation gives; missing and failed configurations;
 * a weighted mix; the --mix parser's refusals; the mode map renders. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static char dir[512];
static struct vl_db *db;

/* A model run whose cycles by category are given (guest, walk, exception,
 * exit, vmm), over 1000 iterations. */
static void put(const char *engine, const char *mmu, const char *workload, uint64_t guest, uint64_t walk, uint64_t exc,
		uint64_t ex, uint64_t vmm, int ok)
{
	struct vl_run_result r;
	synth_model(&r, engine, mmu, workload, "zen4", 1000, 1);
	memset(r.ctr.cycles, 0, sizeof r.ctr.cycles);
	r.ctr.cycles[VL_CAT_GUEST] = guest;
	r.ctr.cycles[VL_CAT_WALK] = walk;
	r.ctr.cycles[VL_CAT_EXCEPTION] = exc;
	r.ctr.cycles[VL_CAT_EXIT] = ex;
	r.ctr.cycles[VL_CAT_VMM] = vmm;
	r.cycles_per_iter = (double)vl_counters_total(&r.ctr) / 1000;
	if (!ok) {
		r.status = VL_RUN_FAILED;
		snprintf(r.reason, sizeof r.reason, "guest exited with status 3");
	}
	synth_store(db, &r, NULL);
}

static int setup(void **st)
{
	synth_tmpdir(dir, sizeof dir);
	db = synth_open(dir, "advise.db", "aaaa000000000000000000000000000000000001");
	/* cpuid: native 1/iter; shadow 6/iter; nested 4.6/iter -> nested by
	 * 30.43%, shadow's extra cost in vmm (+1.5/iter; exit equal, walk -0.1) */
	put("native", "native", "cpuid", 1000, 0, 0, 0, 0, 1);
	put("svm", "shadow", "cpuid", 1000, 0, 0, 3000, 2000, 1);
	put("svm", "nested", "cpuid", 1000, 100, 0, 3000, 500, 1);
	/* syscall: native 2; shadow 3 (exception 1); nested's newest run failed */
	put("native", "native", "syscall", 2000, 0, 0, 0, 0, 1);
	put("svm", "shadow", "syscall", 2000, 0, 1000, 0, 0, 1);
	put("svm", "nested", "syscall", 2000, 0, 0, 0, 0, 1);
	put("svm", "nested", "syscall", 2000, 0, 0, 0, 0, 0);
	/* ptemod: only shadow stored */
	put("svm", "shadow", "ptemod", 5000, 0, 0, 0, 0, 1);
	/* another profile's run never counts for zen4 */
	struct vl_run_result r;
	synth_model(&r, "svm", "shadow", "ptemod", "p4", 1000, 1);
	r.cycles_per_iter = 1;
	synth_store(db, &r, NULL);
	return 0;
}

static int teardown(void **st)
{
	vl_db_close(db);
	synth_rmdir(dir);
	return 0;
}

static const struct vl_adv_conf expect[] = { { "native", "native" }, { "svm", "shadow" }, { "svm", "nested" } };

static const struct vl_adv_row *row_of(const struct vl_adv_row *rows, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].workload, w))
			return &rows[i];
	fail_msg("no row %s", w);
	return NULL;
}

static void test_decisions(void **st)
{
	static const char *const works[] = { "cpuid", "syscall", "ptemod", "forkwait" };
	struct vl_adv_opts o = { .sel = { .profile = "zen4" }, .expect = expect, .nexpect = 3, .workloads = works, .nwork = 4 };
	struct vl_adv_row *rows = NULL;
	size_t n = 0;
	char err[256];
	assert_int_equal(vl_adv_build(db, &o, &rows, &n, err, sizeof err), 0);
	assert_int_equal(n, 4);

	const struct vl_adv_row *r = row_of(rows, n, "cpuid");
	assert_true(r->decided);
	assert_string_equal(r->best, "svm/nested");
	assert_string_equal(r->runner, "svm/shadow");
	assert_string_equal(r->best_engine, "svm");
	assert_string_equal(r->best_mmu, "nested");
	assert_true(fabs(r->best_cost - 4.6) < 1e-9);
	assert_true(fabs(r->runner_cost - 6.0) < 1e-9);
	assert_true(fabs(r->margin - (6.0 - 4.6) / 4.6) < 1e-9);
	assert_string_equal(r->category, "vmm");
	assert_true(fabs(r->category_delta - 1.5) < 1e-9);
	assert_int_equal(r->ncand, 2);
	assert_string_equal(r->missing, "");

	/* the newest nested run failed: left out, shadow decided alone */
	r = row_of(rows, n, "syscall");
	assert_true(r->decided);
	assert_string_equal(r->best, "svm/shadow");
	assert_string_equal(r->runner, "");
	assert_true(isnan(r->margin));
	assert_string_equal(r->failed, "svm/nested");

	/* nested never ran: undecided, named */
	r = row_of(rows, n, "ptemod");
	assert_false(r->decided);
	assert_string_equal(r->missing, "svm/nested");
	assert_string_equal(r->best, "svm/shadow");   /* the stored one, but not a decision */

	r = row_of(rows, n, "forkwait");
	assert_false(r->decided);
	assert_string_equal(r->missing, "svm/shadow, svm/nested");
	assert_string_equal(r->best, "");

	/* without expectations: whatever model configurations are stored */
	free(rows);
	rows = NULL;
	n = 0;
	struct vl_adv_opts o2 = { .sel = { .profile = "zen4" } };
	assert_int_equal(vl_adv_build(db, &o2, &rows, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);   /* cpuid, syscall, ptemod */
	/* nested is stored (cpuid), so its absence on ptemod still undecides */
	assert_false(row_of(rows, n, "ptemod")->decided);
	assert_string_equal(row_of(rows, n, "ptemod")->missing, "svm/nested");
	assert_true(row_of(rows, n, "cpuid")->decided);

	/* printed forms carry the numbers */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	vl_adv_print(f, rows, n, VL_AN_JSON);
	fclose(f);
	assert_non_null(strstr(buf, "\"best\": \"svm/nested\", \"best_cost\": 4.6000000000000005") ||
			strstr(buf, "\"best\": \"svm/nested\", \"best_cost\": 4.5999999999999996") ||
			strstr(buf, "\"best\": \"svm/nested\", \"best_cost\": 4.6"));
	assert_non_null(strstr(buf, "\"deciding_category\": \"vmm\""));
	free(buf);
	f = open_memstream(&buf, &len);
	vl_adv_print(f, rows, n, VL_AN_TEXT);
	fclose(f);
	assert_non_null(strstr(buf, "30.4%"));
	assert_non_null(strstr(buf, "vmm (+1.5)"));
	free(buf);
	free(rows);
}

/* mix cpuid=1,syscall=3 (normalised 0.25/0.75): shadow 0.25*6/1 + 0.75*3/2
 * = 2.625; nested failed on syscall -> shadow alone */
static void test_mix(void **st)
{
	struct vl_adv_mix m;
	char err[256];
	assert_int_equal(vl_adv_parse_mix("cpuid=1,syscall=3", &m, err, sizeof err), 0);
	assert_int_equal(m.n, 2);
	assert_true(fabs(m.w[0] - 0.25) < 1e-12 && fabs(m.w[1] - 0.75) < 1e-12);
	struct vl_adv_opts o = { .sel = { .profile = "zen4" }, .expect = expect, .nexpect = 3, .mix = &m };
	struct vl_adv_row *rows = NULL;
	size_t n = 0;
	assert_int_equal(vl_adv_build(db, &o, &rows, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].workload, "mix");
	assert_true(rows[0].decided);
	assert_string_equal(rows[0].best, "svm/shadow");
	assert_true(fabs(rows[0].best_cost - 2.625) < 1e-9);
	assert_non_null(strstr(rows[0].failed, "svm/nested (syscall)"));
	free(rows);

	/* cpuid only: nested 4.6 vs shadow 6 -> the same margin as the workload row */
	assert_int_equal(vl_adv_parse_mix("cpuid=2", &m, err, sizeof err), 0);
	rows = NULL;
	n = 0;
	assert_int_equal(vl_adv_build(db, &o, &rows, &n, err, sizeof err), 0);
	assert_string_equal(rows[0].best, "svm/nested");
	assert_true(fabs(rows[0].margin - (6.0 - 4.6) / 4.6) < 1e-9);
	assert_string_equal(rows[0].category, "vmm");
	free(rows);

	/* ptemod has no native run: the mix cannot be decided */
	assert_int_equal(vl_adv_parse_mix("ptemod=1", &m, err, sizeof err), 0);
	rows = NULL;
	n = 0;
	assert_int_equal(vl_adv_build(db, &o, &rows, &n, err, sizeof err), 0);
	assert_false(rows[0].decided);
	assert_non_null(strstr(rows[0].missing, "native (ptemod)"));
	free(rows);
}

static void test_mix_parse_errors(void **st)
{
	static const char *const bad[] = { "", "cpuid", "cpuid=", "=1", "cpuid=x", "cpuid=-1", "cpuid=0",
					   "cpuid=1,cpuid=2", "cpuid=1e999", "cpuid=nan", "cpuid=0.5x" };
	struct vl_adv_mix m;
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(vl_adv_parse_mix(bad[i], &m, err, sizeof err), -1);
		assert_non_null(strstr(err, "--mix"));
		assert_null(strchr(err, '\n'));
	}
}

static void test_modemap(void **st)
{
	static const char *const works[] = { "cpuid", "ptemod" };
	struct vl_adv_opts o = { .sel = { .profile = "zen4" }, .expect = expect, .nexpect = 3, .workloads = works, .nwork = 2 };
	struct vl_adv_row *rows = NULL;
	size_t n = 0;
	char err[256], out[600], path[700];
	assert_int_equal(vl_adv_build(db, &o, &rows, &n, err, sizeof err), 0);
	snprintf(out, sizeof out, "%s/map", dir);
	FILE *log = fopen("/dev/null", "w");
	int rc = vl_adv_modemap(rows, n, out, NULL, log, err, sizeof err);
	fclose(log);
	assert_int_equal(rc, 0);
	struct stat sb;
	snprintf(path, sizeof path, "%s/modemap.png", out);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size > 1000);
	snprintf(path, sizeof path, "%s/modemap.dat", out);
	FILE *d = fopen(path, "r");
	assert_non_null(d);
	char line[256];
	int cells = 0, nested = 0, undecided = 0;
	while (fgets(line, sizeof line, d)) {
		if (line[0] == '#')
			continue;
		cells++;
		nested += strstr(line, "svm/nested\\n+30%") != NULL;
		undecided += strstr(line, " -1 \"undecided\"") != NULL;
	}
	fclose(d);
	assert_int_equal(cells, 2);
	assert_int_equal(nested, 1);
	assert_int_equal(undecided, 1);
	free(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_mix),
		cmocka_unit_test(test_mix_parse_errors),
		cmocka_unit_test(test_modemap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
