/* test_report.c — the report table from a database of synthetic runs:
 * configuration order (native, then vtx, svm, external), workload order of
 * workloads.def, the newest run of each configuration, failed cells, ratios
 * recomputed here from the stored counters, the profile/tag/commit/params
 * selection, and the four output formats read back. */
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

/* cycles per iteration synth_model() gives seed s over `iters` iterations */
static double cpi(uint64_t s, uint64_t iters)
{
	struct vl_run_result r;
	synth_model(&r, "x", "x", "x", "x", iters, s);
	return r.cycles_per_iter;
}

static int setup(void **st)
{
	synth_tmpdir(dir, sizeof dir);
	db = synth_open(dir, "report.db", "aaaa000000000000000000000000000000000001");
	struct vl_run_result r;
	/* deliberately stored out of report order */
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 1000, 30); synth_store(db, &r, NULL);
	synth_model(&r, "vtx", "nested", "cpuid", "zen4", 1000, 20); synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "cpuid", "zen4", 1000, 5); synth_store(db, &r, NULL);
	synth_model(&r, "vtx", "shadow", "cpuid", "zen4", 1000, 40); synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "syscall", "zen4", 1000, 2); synth_store(db, &r, NULL);
	synth_model(&r, "svm", "nested", "syscall", "zen4", 1000, 3); synth_store(db, &r, NULL);
	/* newer native cpuid: the report must use it */
	synth_model(&r, "native", "native", "cpuid", "zen4", 1000, 6); synth_store(db, &r, "newest");
	/* a failed newest run of vtx/shadow syscall */
	synth_model(&r, "vtx", "shadow", "syscall", "zen4", 1000, 9);
	r.status = VL_RUN_FAILED;
	snprintf(r.reason, sizeof r.reason, "guest exited with status 2");
	synth_store(db, &r, NULL);
	const double v[] = { 300, 310, 290 };
	synth_real(&r, "qemu-tcg", "cpuid", "zen4", 1000, v, 3); synth_store(db, &r, NULL); synth_free(&r);
	/* other profile, other params, other commit: never in the default table */
	synth_model(&r, "vtx", "nested", "cpuid", "p4", 1000, 50); synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "cpuid", "zen4", 1000, 70);
	snprintf(r.params, sizeof r.params, "stride=2");
	synth_store(db, &r, NULL);
	struct vl_db_build b = { "bbbb000000000000000000000000000000000002", 0, "cc", "v" };
	vl_db_set_build(db, &b);
	synth_model(&r, "native", "native", "divzero", "zen4", 1000, 11); synth_store(db, &r, "other");
	return 0;
}

static int teardown(void **st)
{
	vl_db_close(db);
	synth_rmdir(dir);
	return 0;
}

static const struct vl_rep_cell *cell(const struct vl_rep_table *t, const char *work, const char *conf)
{
	for (size_t w = 0; w < t->nwork; w++)
		for (size_t c = 0; c < t->nconf; c++)
			if (!strcmp(t->work[w], work) && !strcmp(t->conf[c].name, conf))
				return &t->cell[w * t->nconf + c];
	fail_msg("no cell %s / %s", work, conf);
	return NULL;
}

static void test_table(void **st)
{
	struct vl_rep_table t;
	char err[256];
	struct vl_rep_select sel = { .commit = "aaaa" };
	assert_int_equal(vl_rep_build(db, &sel, &t, err, sizeof err), 0);
	assert_string_equal(t.profile, "zen4");
	assert_int_equal(t.nconf, 5);
	const char *order[] = { "native", "vtx/shadow", "vtx/nested", "svm/nested", "qemu-tcg" };
	for (int i = 0; i < 5; i++)
		assert_string_equal(t.conf[i].name, order[i]);
	assert_int_equal(t.conf[4].model, 0);
	assert_int_equal(t.nwork, 2);
	assert_string_equal(t.work[0], "syscall");   /* workloads.def order, not storage order */
	assert_string_equal(t.work[1], "cpuid");
	const struct vl_rep_cell *n = cell(&t, "cpuid", "native");
	assert_true(n->cycles == cpi(6, 1000));       /* the newer of the two native runs */
	assert_true(n->ratio == 1.0);
	assert_true(cell(&t, "cpuid", "vtx/nested")->ratio == cpi(20, 1000) / cpi(6, 1000));
	assert_true(cell(&t, "cpuid", "svm/nested")->ratio == cpi(30, 1000) / cpi(6, 1000));
	assert_true(cell(&t, "syscall", "svm/nested")->ratio == cpi(3, 1000) / cpi(2, 1000));
	const struct vl_rep_cell *q = cell(&t, "cpuid", "qemu-tcg");
	assert_true(q->cycles == 300);                /* median of 300, 310, 290 */
	assert_int_equal(q->nsamples, 3);
	assert_true(isnan(q->ratio));                 /* host TSC cycles / modelled cycles: no ratio */
	const struct vl_rep_cell *f = cell(&t, "syscall", "vtx/shadow");
	assert_string_equal(f->status, "failed");
	assert_true(isnan(f->cycles) && isnan(f->ratio));
	assert_int_equal(cell(&t, "syscall", "vtx/nested")->present, 0);
	vl_rep_free(&t);
}

static void test_selection(void **st)
{
	struct vl_rep_table t;
	char err[256];
	struct vl_rep_select p4 = { .profile = "p4" };
	assert_int_equal(vl_rep_build(db, &p4, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 1);
	assert_true(isnan(t.cell[0].ratio));          /* no native run on p4 */
	vl_rep_free(&t);
	struct vl_rep_select params = { .params = "stride=2" };
	assert_int_equal(vl_rep_build(db, &params, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 1);
	assert_true(t.cell[0].cycles == cpi(70, 1000));
	vl_rep_free(&t);
	struct vl_rep_select tag = { .tag = "other" };
	assert_int_equal(vl_rep_build(db, &tag, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 1);
	assert_string_equal(t.work[0], "divzero");
	assert_non_null(strstr(t.commits, "bbbb000000"));
	vl_rep_free(&t);
	struct vl_rep_select none = { .profile = "core2" };
	assert_int_equal(vl_rep_build(db, &none, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 0);
	vl_rep_free(&t);
	/* default selection: every commit, newest per configuration -> divzero too */
	struct vl_rep_select all = { 0 };
	assert_int_equal(vl_rep_build(db, &all, &t, err, sizeof err), 0);
	assert_int_equal(t.nwork, 3);
	vl_rep_free(&t);
}

/* A quick run at another iteration count does not replace the matrix
 * result (the workload's default count) unless asked for. */
static void test_iterations(void **st)
{
	struct vl_run_result r;
	struct vl_rep_table t;
	char err[256];
	const struct vl_workload_info *w = vl_workload_find("compute");
	assert_non_null(w);
	synth_model(&r, "native", "native", "compute", "skylake-sp", w->default_iters, 21); synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "compute", "skylake-sp", 10, 22); synth_store(db, &r, NULL);
	struct vl_rep_select def = { .profile = "skylake-sp" };
	assert_int_equal(vl_rep_build(db, &def, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 1);
	assert_true(t.cell[0].cycles == cpi(21, w->default_iters));
	vl_rep_free(&t);
	struct vl_rep_select ten = { .profile = "skylake-sp", .iterations = 10 };
	assert_int_equal(vl_rep_build(db, &ten, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 1);
	assert_true(t.cell[0].cycles == cpi(22, 10));
	vl_rep_free(&t);
	struct vl_rep_select seven = { .profile = "skylake-sp", .iterations = 7 };
	assert_int_equal(vl_rep_build(db, &seven, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 0);
	vl_rep_free(&t);
	/* only non-default counts stored: the newest of them */
	synth_model(&r, "native", "native", "cpuid", "skylake-sp", 10, 23); synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "cpuid", "skylake-sp", 20, 24); synth_store(db, &r, NULL);
	assert_int_equal(vl_rep_build(db, &def, &t, err, sizeof err), 0);
	assert_int_equal(t.nruns, 2);
	for (size_t k = 0; k < t.nwork; k++)
		if (!strcmp(t.work[k], "cpuid"))
			assert_true(t.cell[k * t.nconf].cycles == cpi(24, 20));
	vl_rep_free(&t);
}

static char *mem_buf;
static size_t mem_len;

/* The rendered report, malloc'ed. */
static char *render(const struct vl_rep_table *t, enum vl_an_format f)
{
	FILE *m = open_memstream(&mem_buf, &mem_len);
	vl_rep_print(m, t, f);
	fclose(m);
	char *out = mem_buf;
	mem_buf = NULL;
	return out;
}

static void test_formats(void **st)
{
	struct vl_rep_table t;
	char err[256];
	struct vl_rep_select sel = { .commit = "aaaa" };
	assert_int_equal(vl_rep_build(db, &sel, &t, err, sizeof err), 0);

	/* CSV: header + a row per workload; the numbers read back exactly */
	char *csv = render(&t, VL_AN_CSV);
	char *save = NULL, *line = strtok_r(csv, "\n", &save);
	assert_string_equal(line, "workload,native,native ratio,vtx/shadow,vtx/shadow ratio,vtx/nested,vtx/nested ratio,"
				  "svm/nested,svm/nested ratio,qemu-tcg,qemu-tcg ratio");
	line = strtok_r(NULL, "\n", &save);   /* syscall */
	assert_non_null(line);
	line = strtok_r(NULL, "\n", &save);   /* cpuid */
	char *f[16];
	int nf = 0;
	for (char *p = line; nf < 16; ) {     /* split keeping empty fields */
		f[nf++] = p;
		char *comma = strchr(p, ',');
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	assert_int_equal(nf, 11);
	assert_string_equal(f[0], "cpuid");
	assert_true(strtod(f[1], NULL) == cpi(6, 1000));
	assert_true(strtod(f[6], NULL) == cpi(20, 1000) / cpi(6, 1000));
	assert_true(strtod(f[9], NULL) == 300);
	assert_null(strtok_r(NULL, "\n", &save));
	free(csv);

	/* text: one line per workload, failed cells say so, the * footnote */
	char *txt = render(&t, VL_AN_TEXT);
	assert_non_null(strstr(txt, "qemu-tcg*"));
	assert_non_null(strstr(txt, "median of 3 samples"));
	char *sys = strstr(txt, "\nsyscall ");
	assert_non_null(sys);
	assert_non_null(strstr(sys, "failed"));
	free(txt);

	/* markdown: a table with a separator row and one row per workload */
	char *md = render(&t, VL_AN_MARKDOWN);
	assert_non_null(strstr(md, "| workload | native | vtx/shadow | vtx/nested | svm/nested | qemu-tcg* |\n|---|---:|"));
	assert_non_null(strstr(md, "\n| cpuid | "));
	assert_non_null(strstr(md, "\n| syscall | "));
	free(md);

	/* JSON: configs and cells with exact numbers */
	char *js = render(&t, VL_AN_JSON);
	/* the shortest form that reads back exactly (165.89, not 165.88999999999999) */
	const char *want = "\"vtx/nested\":{\"run_id\":2,\"status\":\"ok\",\"cycles_per_iter\":";
	const char *at = strstr(js, want);
	if (!at)
		fail_msg("JSON lacks %s:\n%s", want, js);
	char *end;
	assert_true(strtod(at + strlen(want), &end) == cpi(20, 1000));
	assert_true(end - (at + strlen(want)) <= 17);
	assert_non_null(strstr(js, "\"status\":\"failed\",\"cycles_per_iter\":null,\"ratio\":null"));
	int depth = 0;
	for (char *p = js; *p; p++)
		depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
	assert_int_equal(depth, 0);
	free(js);
	vl_rep_free(&t);
}

/* `report --entries`: bt's callouts and pv's hypercalls under their own
 * headings (text, JSON, LaTeX labels), per iteration, with cycles each;
 * an exit of bt or pv stays an exit. */
static char *entries(const struct vl_rep_table *t, enum vl_an_format f, int latex)
{
	FILE *m = open_memstream(&mem_buf, &mem_len);
	char err[256];
	assert_int_equal(vl_rep_entries_print(m, db, t, f, latex, err, sizeof err), 0);
	fclose(m);
	char *out = mem_buf;
	mem_buf = NULL;
	return out;
}

static void test_entries(void **st)
{
	struct vl_run_result r;
	synth_entries(&r, "bt", "syscall", "zen5", 10, 2);
	synth_store(db, &r, NULL);
	synth_entries(&r, "pv", "syscall", "zen5", 10, 3);
	synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "syscall", "zen5", 10, 1);
	r.exit_table_len = 0;
	synth_store(db, &r, NULL);
	struct vl_rep_select sel = { .profile = "zen5" };
	struct vl_rep_table t;
	char err[256];
	assert_int_equal(vl_rep_build(db, &sel, &t, err, sizeof err), 0);
	char *s = entries(&t, VL_AN_TEXT, 0);
	const char *ex = strstr(s, "VM exits"), *co = strstr(s, "Callouts"), *hc = strstr(s, "Hypercalls");
	assert_true(ex && co && hc && ex < co && co < hc);
	/* per iteration (count / 10) and cycles each (100 per entry) */
	assert_non_null(strstr(ex, "syscall    bt/shadow      TRAP_SYSCALL                     20           0.6        100.0\n"));
	assert_non_null(strstr(co, "syscall    bt/shadow      CPUID                                         0.4        100.0\n"));
	assert_non_null(strstr(hc, "syscall    pv/shadow      mmu_update                       14           0.6        100.0\n"));
	assert_true(strstr(s, "BLOCK_EXIT") > co && strstr(s, "BLOCK_EXIT") < hc);
	assert_true(strstr(s, "read_cr") > hc);
	assert_true(strstr(s, "PAGE_FAULT") < co);
	free(s);
	s = entries(&t, VL_AN_JSON, 0);
	assert_non_null(strstr(s, "\"callouts\":[{\"workload\":\"syscall\",\"config\":\"bt/shadow\",\"name\":\"CPUID\",\"count\":4,"
				  "\"per_iter\":0.4,\"cycles_each\":100}"));
	assert_non_null(strstr(s, "\"hypercalls\":[{\"workload\":\"syscall\",\"config\":\"pv/shadow\",\"name\":\"mmu_update\","
				  "\"code\":14,"));
	free(s);
	s = entries(&t, VL_AN_TEXT, 1);
	assert_non_null(strstr(s, "\\label{tab:exits-zen5}"));
	assert_non_null(strstr(s, "\\label{tab:callouts-zen5}"));
	assert_non_null(strstr(s, "\\label{tab:hypercalls-zen5}"));
	assert_non_null(strstr(s, "syscall & bt/shadow & \\texttt{CPUID} & 0.4 & 100.0 \\\\\n"
				  " &  & \\texttt{BLOCK\\_EXIT} & 0.2 & 100.0 \\\\\n"));
	free(s);
	vl_rep_free(&t);
	synth_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_iterations),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_entries),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
