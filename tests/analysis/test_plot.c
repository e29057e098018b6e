/* test_plot.c — figures from a synthetic database: the data files hold the
 * stored numbers (cycles per iteration; categories and exits per iteration
 * recomputed here from the counters; history oldest commit first), names
 * from the database cannot inject gnuplot commands, a missing gnuplot still
 * leaves data and scripts, and with gnuplot installed every figure comes out
 * as a real PNG and PDF. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static char dir[512], out[600];
static struct vl_db *db;

static int setup(void **st)
{
	synth_tmpdir(dir, sizeof dir);
	snprintf(out, sizeof out, "%s/plots", dir);
	db = synth_open(dir, "plot.db", "1111111111111111111111111111111111111111");
	struct vl_run_result r;
	const char *wl[] = { "syscall", "cpuid", "pgfault" };
	for (int w = 0; w < 3; w++) {
		synth_model(&r, "native", "native", wl[w], "zen4", 100, 1 + w);
		r.exit_table_len = 0;   /* native: no exits */
		synth_store(db, &r, NULL);
		synth_model(&r, "svm", "nested", wl[w], "zen4", 100, 10 + w);
		synth_store(db, &r, NULL);
	}
	const double v[] = { 500, 520, 510 };
	synth_real(&r, "qemu-tcg", "cpuid", "zen4", 100, v, 3);
	synth_store(db, &r, NULL);
	synth_free(&r);
	/* a second commit, later: history has two points */
	struct vl_db_build b = { "2222222222222222222222222222222222222222", 1, "cc", "v" };
	vl_db_set_build(db, &b);
	synth_model(&r, "svm", "nested", "syscall", "zen4", 100, 20);
	r.started += 1000;
	synth_store(db, &r, NULL);
	/* a hostile name on another profile */
	synth_model(&r, "native", "native", "x\"; system(\"touch PWNED\"); \"", "core2", 100, 1);
	synth_store(db, &r, NULL);
	return 0;
}

static int teardown(void **st)
{
	vl_db_close(db);
	synth_rmdir(dir);
	return 0;
}

static char *slurp(const char *name)
{
	char path[700];
	snprintf(path, sizeof path, "%s/%s", out, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = calloc(1, 1 << 20);
	size_t n = fread(b, 1, (1 << 20) - 1, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

static double cpi(uint64_t seed)
{
	struct vl_run_result r;
	synth_model(&r, "x", "x", "x", "x", 100, seed);
	return r.cycles_per_iter;
}

static void test_data_files(void **st)
{
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "", .workload = "syscall" };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	fclose(log);

	/* nanobench: a row per workload, a column per configuration */
	char *d = slurp("nanobench.dat");
	assert_non_null(d);
	assert_non_null(strstr(d, "\"workload\" \"native\" \"svm/nested\" \"qemu-tcg (real)\"\n"));
	char want[256];
	snprintf(want, sizeof want, "\"cpuid\" %.17g %.17g 510\n", cpi(2), cpi(11));
	if (!strstr(d, want))
		fail_msg("nanobench.dat lacks '%s':\n%s", want, d);
	snprintf(want, sizeof want, "\"syscall\" %.17g %.17g ?\n", cpi(1), cpi(20));   /* newest svm/nested syscall */
	assert_non_null(strstr(d, want));
	free(d);

	/* breakdown: per block, categories per iteration sum to cycles per iteration */
	d = slurp("breakdown.dat");
	assert_non_null(d);
	char *line = strstr(d, "\"svm/nested\"");   /* first block: syscall */
	assert_non_null(line);
	double sum = 0;
	char *p = line + strlen("\"svm/nested\"");
	for (int k = 0; k < VL_CAT_COUNT; k++)
		sum += strtod(p, &p);
	assert_true(fabs(sum - cpi(20)) < 1e-9 * cpi(20));
	free(d);

	/* exits: svm/nested only (native has none); CPUID = 3 * seed per 100 iterations */
	d = slurp("exits.dat");
	assert_non_null(d);
	assert_null(strstr(d, "# native"));
	snprintf(want, sizeof want, "\"cpuid\" %.17g %.17g\n", 11 * 3 / 100.0, 11 / 100.0);
	if (!strstr(d, "\"workload\" \"CPUID\" \"EPT_VIOLATION\"\n") || !strstr(d, want))
		fail_msg("exits.dat:\n%s\nwanted %s", d, want);
	free(d);

	/* history: two commits, oldest first, + marks the dirty one */
	d = slurp("history.dat");
	assert_non_null(d);
	char *a = strstr(d, "0 \"1111111111\" \"1111111111\""), *b = strstr(d, "1 \"2222222222+\" \"2222222222+\"");
	assert_non_null(a);
	assert_non_null(b);
	snprintf(want, sizeof want, "1 \"2222222222+\" \"2222222222+\" ? %.17g\n", cpi(20));   /* native not rerun there */
	if (!strstr(d, want))
		fail_msg("history.dat lacks %s:\n%s", want, d);
	free(d);
	char *gp = slurp("history.gp");
	assert_non_null(strstr(gp, "'history.dat'"));
	free(gp);
	/* no images without gnuplot */
	char path[700];
	struct stat sb;
	snprintf(path, sizeof path, "%s/nanobench.png", out);
	assert_int_not_equal(stat(path, &sb), 0);
}

static void test_history_metric(void **st)
{
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "", .figures = VL_PLOT_HISTORY, .workload = "syscall",
				  .config = "svm/nested", .metric = "exit:CPUID" };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	char *d = slurp("history.dat");
	char want[128];
	snprintf(want, sizeof want, "0 \"1111111111\" \"1111111111\" %.17g\n1 \"2222222222+\" \"2222222222+\" %.17g\n",
		 30 / 100.0, 60 / 100.0);
	if (!strstr(d, want))
		fail_msg("history.dat lacks %s:\n%s", want, d);
	free(d);
	/* an unknown metric is reported, not plotted as zeros */
	o.metric = "no_such_metric";
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 1);
	fclose(log);
}

static void test_hostile_names(void **st)
{
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "", .sel = { .profile = "core2" } };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	vl_plot(db, &o, log, err, sizeof err);
	fclose(log);
	static const char *const files[] = { "nanobench.dat", "nanobench.gp", "breakdown.dat", "breakdown.gp", "history.gp" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char *d = slurp(files[i]);
		assert_non_null(d);
		if (strstr(d, "system(\""))
			fail_msg("%s carries a command from the database:\n%s", files[i], d);
		free(d);
	}
	char *d = slurp("nanobench.dat");
	assert_non_null(strstr(d, "\"x__ system(_touch PWNED_)_ _\""));
	free(d);
}

static void test_errors(void **st)
{
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	struct vl_plot_opts none = { .outdir = out, .gnuplot = "", .sel = { .profile = "p4" } };
	assert_int_equal(vl_plot(db, &none, log, err, sizeof err), -1);
	assert_non_null(strstr(err, "no runs"));
	/* gnuplot missing: scripts and data still written, status 1 */
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "/nonexistent/gnuplot", .figures = VL_PLOT_NANOBENCH };
	char path[700];
	snprintf(path, sizeof path, "%s/nanobench.dat", out);
	unlink(path);
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 1);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	fclose(log);
}

static void test_gnuplot_images(void **st)
{
	if (system("gnuplot -e 'set terminal' >/dev/null 2>&1") != 0)
		skip();
	struct vl_plot_opts o = { .outdir = out, .workload = "syscall" };
	char err[256];
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *log = open_memstream(&logbuf, &loglen);
	int rc = vl_plot(db, &o, log, err, sizeof err);
	fclose(log);
	if (rc)
		fail_msg("vl_plot: %d\n%s", rc, logbuf);
	static const char *const figs[] = { "nanobench", "breakdown", "exits", "history" };
	for (size_t i = 0; i < 4; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s.png", figs[i]);
		char *png = slurp(name);
		assert_non_null(png);
		assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
		free(png);
		snprintf(name, sizeof name, "%s.pdf", figs[i]);
		char *pdf = slurp(name);
		assert_non_null(pdf);
		assert_memory_equal(pdf, "%PDF", 4);
		free(pdf);
		char path[700];
		snprintf(path, sizeof path, "%s/%s.png", out, figs[i]);
		assert_non_null(strstr(logbuf, path));   /* every image is named on the log */
	}
	free(logbuf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_files),
		cmocka_unit_test(test_history_metric),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_gnuplot_images),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
