/* test_basis.c — `report --basis` and `report --depends` on stored per-value
 * cycles (schema v5, value_cycles; analysis/basis.c, analysis/depends.c):
 * a run whose values cover every modelled cycle is "exact" and its shares
 * by class are the stored cycles' (summing to 1); one whose values cover
 * less is "partial", the rest shown as unattributed, never spread; one
 * stored without values has no shares. The CSV header is stable and each
 * row's shares sum to 1; --depends names the values of an exact run and
 * falls back to the cost categories otherwise, saying which it used. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static char dir[512];
static struct vl_db *db;
static int64_t id_exact, id_partial, id_none, id_set;
static struct vl_run_result exact_run;

static int setup(void **st)
{
	synth_tmpdir(dir, sizeof dir);
	db = synth_open(dir, "basis.db", "abc");
	struct vl_profile p;
	synth_profile("zen4", &p);
	struct vl_run_result r;
	/* exact: insn.alu T/2, insn.popf T/4, insn.io T/8, svm.vmexit T/16, rest unpriced */
	synth_model(&exact_run, "svm", "nested", "cpuid", "zen4", 100, 2);
	synth_values(&exact_run, &p);
	id_exact = synth_store(db, &exact_run, NULL);
	/* partial: 1000 cycles of the unpriced slot missing */
	synth_model(&r, "pv", "direct", "cpuid", "zen4", 100, 3);
	synth_values(&r, &p);
	r.ctr.field_cycles[VL_PF_NONE] -= 1000;
	id_partial = synth_store(db, &r, NULL);
	synth_free(&r);
	/* none: stored without per-value cycles */
	synth_model(&r, "native", "native", "cpuid", "zen4", 100, 1);
	id_none = synth_store(db, &r, NULL);
	/* set: svm.vmexit changed, as a sweep changes it */
	p.svm_vmexit += 7;
	synth_model(&r, "svm", "shadow", "cpuid", "zen4", 100, 4);
	synth_values(&r, &p);
	id_set = synth_store(db, &r, NULL);
	synth_free(&r);
	return 0;
}

static int teardown(void **st)
{
	synth_free(&exact_run);
	vl_db_close(db);
	synth_rmdir(dir);
	return 0;
}

static void test_read_exact(void **st)
{
	struct vl_basis b;
	char err[256];
	assert_int_equal(vl_basis_read(db, id_exact, &b, err, sizeof err), 0);
	double t = (double)vl_counters_total(&exact_run.ctr);
	assert_true(b.total == t);
	assert_true(b.exact);
	assert_string_equal(vl_basis_state(&b), "exact");
	assert_int_equal(b.nv, 5);
	double sum = 0;
	for (int k = 0; k < VL_BASIS_NCLASS; k++)
		sum += b.cycles[k];
	assert_true(sum == t);
	assert_true(b.cycles[VL_BASIS_UNATTRIBUTED] == 0);
	assert_true(b.cycles[VL_BASIS_UNPRICED] == (double)exact_run.ctr.field_cycles[VL_PF_NONE]);
	/* insn.alu is sourced in every shipped profile */
	assert_true(b.cycles[VL_BASIS_SOURCED] >= (double)exact_run.ctr.field_cycles[VL_PF_insn_alu]);
	/* the classes' cycles are the stored values' */
	double est = 0;
	for (size_t i = 0; i < b.nv; i++)
		if (!strcmp(b.v[i].cls, "estimated"))
			est += b.v[i].cycles;
	assert_true(b.cycles[VL_BASIS_ESTIMATED] == est);
	vl_basis_free(&b);
}

static void test_read_partial_none_set(void **st)
{
	struct vl_basis b;
	char err[256];
	assert_int_equal(vl_basis_read(db, id_partial, &b, err, sizeof err), 0);
	assert_false(b.exact);
	assert_string_equal(vl_basis_state(&b), "partial");
	assert_true(b.cycles[VL_BASIS_UNATTRIBUTED] == 1000);
	double sum = 0;
	for (int k = 0; k < VL_BASIS_NCLASS; k++)
		sum += b.cycles[k];
	assert_true(sum == b.total);
	vl_basis_free(&b);
	assert_int_equal(vl_basis_read(db, id_none, &b, err, sizeof err), 0);
	assert_int_equal(b.nv, 0);
	assert_false(b.exact);
	assert_string_equal(vl_basis_state(&b), "none");
	vl_basis_free(&b);
	assert_int_equal(vl_basis_read(db, id_set, &b, err, sizeof err), 0);
	assert_true(b.exact);
	assert_true(b.cycles[VL_BASIS_SET] > 0);
	vl_basis_free(&b);
}

/* Print with f (latex when latex) into a malloc'ed string. */
static char *print_basis(enum vl_an_format f, int latex, int depends)
{
	struct vl_rep_select sel = { .profile = "zen4" };
	struct vl_rep_table t;
	char err[256];
	assert_int_equal(vl_rep_build(db, &sel, &t, err, sizeof err), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	if (depends)
		assert_int_equal(vl_rep_depends_print(out, db, &t, f, err, sizeof err), 0);
	else
		assert_int_equal(vl_rep_basis_print(out, db, &t, f, latex, err, sizeof err), 0);
	fclose(out);
	vl_rep_free(&t);
	return buf;
}

static void test_csv_shares_sum(void **st)
{
	char *s = print_basis(VL_AN_CSV, 0, 0);
	const char *hdr = "workload,config,engine,mmu,profile,run_id,attribution,total_cycles,sourced,derived,estimated,set,"
			  "unpriced,other,unattributed,top_estimated\n";
	assert_memory_equal(s, hdr, strlen(hdr));
	int rows = 0, exact = 0, none = 0;
	for (char *save = NULL, *line = strtok_r(s + strlen(hdr), "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		rows++;
		char *f[16];
		int nf = 0;
		for (char *p = line; nf < 16;) {   /* no quoted fields in these rows */
			f[nf++] = p;
			p = strchr(p, ',');
			if (!p)
				break;
			*p++ = '\0';
		}
		assert_int_equal(nf, 16);
		if (!strcmp(f[6], "none")) {
			none++;
			for (int k = 8; k < 15; k++)
				assert_string_equal(f[k], "");   /* no shares without values */
			continue;
		}
		double sum = 0;
		for (int k = 8; k < 15; k++)
			sum += strtod(f[k], NULL);
		if (fabs(sum - 1) > 1e-9)
			fail_msg("%s %s: shares sum to %.12f", f[0], f[1], sum);
		if (!strcmp(f[6], "exact") && !strcmp(f[1], "svm/nested")) {
			exact++;
			assert_true(fabs(strtod(f[14], NULL)) < 1e-12);   /* nothing unattributed */
			assert_true(fabs(strtod(f[12], NULL) - (double)exact_run.ctr.field_cycles[VL_PF_NONE] /
								     (double)vl_counters_total(&exact_run.ctr)) < 1e-12);
		}
	}
	assert_int_equal(rows, 4);
	assert_int_equal(exact, 1);
	assert_int_equal(none, 1);
	free(s);
}

static void test_json_and_latex(void **st)
{
	char *s = print_basis(VL_AN_JSON, 0, 0);
	assert_non_null(strstr(s, "{\"profile\": \"zen4\", \"basis\": ["));
	assert_non_null(strstr(s, "\"attribution\": \"exact\""));
	assert_non_null(strstr(s, "\"attribution\": \"partial\""));
	assert_non_null(strstr(s, "\"attribution\": \"none\", \"total_cycles\": "));
	assert_non_null(strstr(s, "\"shares\": null"));
	free(s);
	s = print_basis(VL_AN_TEXT, 1, 0);
	assert_non_null(strstr(s, "\\label{tab:basis-zen4}"));
	assert_non_null(strstr(s, "svm/nested & 5"));   /* sourced share of the exact run: insn.alu's 50% and up */
	assert_non_null(strstr(s, "native & -- & --"));
	free(s);
}

static void test_depends_exact_and_fallback(void **st)
{
	char *s = print_basis(VL_AN_TEXT, 0, 1);
	char *line = strstr(s, "\ncpuid      svm/nested");
	assert_non_null(line);
	char *eol = strchr(line + 1, '\n');
	*eol = '\0';
	assert_non_null(strstr(line, "by value: insn.alu 50.0% (sourced); insn.popf 25.0% ("));
	assert_non_null(strstr(line, "(none) "));
	assert_null(strstr(line, "% ["));   /* no category field lists */
	*eol = '\n';
	line = strstr(s, "\ncpuid      native");
	assert_non_null(line);
	assert_true(!strncmp(strstr(line, "native") + 6, "         by category: ", 22));
	line = strstr(s, "\ncpuid      pv/direct");
	assert_non_null(line);
	assert_non_null(strstr(line, "by category (values stored cover "));
	free(s);
	s = print_basis(VL_AN_JSON, 0, 1);
	assert_non_null(strstr(s, "\"config\": \"svm/nested\", \"run_id\": 1, \"attribution\": \"exact\", \"values\": "
				  "[{\"field\": \"insn.alu\", \"class\": \"sourced\""));
	assert_non_null(strstr(s, "\"config\": \"native\", \"run_id\": 3, \"attribution\": \"category\", \"values\": []"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_exact),
		cmocka_unit_test(test_read_partial_none_set),
		cmocka_unit_test(test_csv_shares_sum),
		cmocka_unit_test(test_json_and_latex),
		cmocka_unit_test(test_depends_exact_and_fallback),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
