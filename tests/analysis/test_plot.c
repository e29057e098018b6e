/* test_plot.c — figures from a synthetic database: the data files hold the
 * stored numbers (cycles per iteration; categories and exits per iteration
 * recomputed here from the counters, with each bar's total; history oldest
 * commit first), exits get a panel per workload and none for a workload
 * with next to no exits, no two series of a figure share a style, names
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

/* 14 exit reasons: more than the palette's 12 colours */
static const struct vl_exit_desc many_exits[] = {
	{ 0, "R00" }, { 1, "R01" }, { 2, "R02" }, { 3, "R03" }, { 4, "R04" }, { 5, "R05" }, { 6, "R06" },
	{ 7, "R07" }, { 8, "R08" }, { 9, "R09" }, { 10, "R10" }, { 11, "R11" }, { 12, "R12" }, { 13, "R13" },
};

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
	/* next to no exits: 3 + 1 per 100000 iterations, no panel */
	synth_model(&r, "svm", "nested", "in", "zen4", 100000, 1);
	synth_store(db, &r, NULL);
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
	/* 14 exit reasons on another profile, R00 the most frequent */
	synth_model(&r, "vtx", "shadow", "cpuid", "nehalem", 1, 1);
	r.exit_table = many_exits;
	r.exit_table_len = 14;
	for (int i = 0; i < 14; i++)
		r.ctr.exit_count[i] = 100 - (uint64_t)i;
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
	char *gp;
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "", .workload = "syscall" };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	fclose(log);

	/* nanobench: a row per workload, a column per configuration */
	char *d = slurp("nanobench.dat");
	assert_non_null(d);
	assert_non_null(strstr(d, "\"workload\" \"native\" \"svm/nested\" \"qemu-tcg (measured)\"\n"));
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
	assert_true(fabs(strtod(p, &p) - cpi(20)) < 1e-9 * cpi(20));   /* the total column, printed above the bar */
	free(d);

	/* exits: a block per workload, a bar for svm/nested only (native has
	 * none); CPUID = 3 * seed per 100 iterations, then the total */
	d = slurp("exits.dat");
	assert_non_null(d);
	assert_null(strstr(d, "\"native\""));
	snprintf(want, sizeof want, "# cpuid\n\"config\" \"CPUID\" \"EPT_VIOLATION\" \"total\"\n\"svm/nested\" %.17g %.17g %.17g\n",
		 11 * 3 / 100.0, 11 / 100.0, 11 * 4 / 100.0);
	if (!strstr(d, want))
		fail_msg("exits.dat:\n%s\nwanted %s", d, want);
	/* `in` (4 exits per 100000 iterations) has no block, and is named */
	assert_null(strstr(d, "# in\n"));
	assert_non_null(strstr(d, "# no panel (under 0.01 exits per iteration in every configuration): in\n"));
	free(d);
	gp = slurp("exits.gp");
	assert_non_null(gp);
	assert_non_null(strstr(gp, "\\nno panel, under 0.01 exits per iteration: in\""));
	/* the labels read the data with pseudo-column 0 as the bar's position:
	 * that only holds when the header line is not counted as a point */
	char *auto_hdr = strstr(gp, "set key autotitle columnheader"), *labels = strstr(gp, "with labels");
	assert_non_null(auto_hdr);
	assert_non_null(labels);
	assert_true(auto_hdr < labels);
	free(gp);

	/* history: two commits in the order first measured, + marks the dirty one */
	d = slurp("history.dat");
	assert_non_null(d);
	char *a = strstr(d, "0 \"1111111111\" \"1111111111\""), *b = strstr(d, "1 \"2222222222+\" \"2222222222+\"");
	assert_non_null(a);
	assert_non_null(b);
	snprintf(want, sizeof want, "1 \"2222222222+\" \"2222222222+\" ? %.17g\n", cpi(20));   /* native not rerun there */
	if (!strstr(d, want))
		fail_msg("history.dat lacks %s:\n%s", want, d);
	free(d);
	gp = slurp("history.gp");
	assert_non_null(strstr(gp, "'history.dat'"));
	/* a shape and a size per configuration: equal values nest, not hide */
	assert_non_null(strstr(gp, "using 1:4:xtic(2) with linespoints lw 2 pt 6 ps 1.50 lc rgb \"#9400d3\""));
	assert_non_null(strstr(gp, "using 1:5:xtic(2) with linespoints lw 2 pt 4 ps 1.00 lc rgb \"#009e73\""));
	free(gp);
	/* no images without gnuplot */
	char path[700];
	struct stat sb;
	snprintf(path, sizeof path, "%s/nanobench.png", out);
	assert_int_not_equal(stat(path, &sb), 0);
}

/* The style clauses (from " lc rgb" to the end of the clause) of one
 * `plot` command of a script, in order. */
static size_t styles(const char *plot, char st[][80], size_t max)
{
	const char *end = plot;   /* the first newline not continued by a backslash */
	while ((end = strchr(end, '\n')) && end[-1] == '\\')
		end++;
	if (!end)
		end = plot + strlen(plot);
	size_t n = 0;
	for (const char *p = plot; n < max && (p = strstr(p, " lc rgb ")) && p < end; p++) {
		size_t l = strcspn(p, ",\n");
		const char *t = strstr(p, " title");   /* history: the style precedes the title */
		if (t && (size_t)(t - p) < l)
			l = (size_t)(t - p);
		snprintf(st[n++], 80, "%.*s", (int)l, p);
	}
	return n;
}

static void test_distinct_styles(void **st)
{
	struct vl_plot_opts o = { .outdir = out, .gnuplot = "", .sel = { .profile = "nehalem" },
				  .figures = VL_PLOT_EXITS };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	fclose(log);
	char *gp = slurp("exits.gp");
	assert_non_null(gp);
	/* the panel's plot command: 14 series, no two alike (gnuplot's own
	 * cycle would repeat the first colour at the ninth), R00 first */
	char *panel = strstr(gp, "plot 'exits.dat' index 0 using 2:xtic(1)");
	assert_non_null(panel);
	char s[20][80];
	size_t n = styles(panel, s, 20);
	assert_int_equal(n, 14);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s[i], s[j]))
				fail_msg("series %zu and %zu share the style%s", j, i, s[i]);
	assert_non_null(strstr(s[12], "fs pattern"));   /* past the palette: hatched */
	/* the legend shows every series once, in the series' own style, the
	 * top of the stack first (the last series), over cells of at most 12 */
	size_t seen = 0, cells = 0;
	int prev = 99;
	for (const char *p = gp; (p = strstr(p, "\nplot")); p++) {
		const char *q = p + 5;
		if (strncmp(q, " 'exits.dat' index 0 using (NaN):", 33))
			continue;
		cells++;
		char l[20][80];
		size_t nl = styles(q, l, 20);
		assert_true(nl >= 1 && nl <= 12);
		for (size_t k = 0; k < nl; k++, seen++) {
			q = strstr(q, "using (NaN):");
			int col = atoi(q + 12);
			q++;
			assert_int_equal(col, prev == 99 ? 15 : prev - 1);   /* series 14 (column 15) first */
			assert_string_equal(l[k], s[col - 2]);
			prev = col;
		}
	}
	assert_int_equal(seen, 14);
	assert_int_equal(cells, 2);
	char *d = slurp("exits.dat");
	assert_non_null(strstr(d, "\"config\" \"R00\" \"R01\""));
	free(d);
	free(gp);
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

/* The exits figure stacks every VMM entry: bt's callouts and pv's
 * hypercalls are there, named as such, beside each engine's own exits. */
static void test_entries(void **st)
{
	struct vl_run_result r;
	synth_entries(&r, "bt", "syscall", "zen5", 10, 2);
	synth_store(db, &r, NULL);
	synth_entries(&r, "pv", "syscall", "zen5", 10, 3);
	synth_store(db, &r, NULL);
	struct vl_plot_opts o = { .sel = { .profile = "zen5" }, .outdir = out, .gnuplot = "", .figures = VL_PLOT_EXITS };
	char err[256];
	FILE *log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	fclose(log);
	char *d = slurp("exits.dat");
	assert_non_null(d);
	/* columns by total, most first: PAGE_FAULT 0.9, TRAP_SYSCALL and
	 * hypercall mmu_update 0.6, callout CPUID 0.4, hypercall read_cr 0.3,
	 * callout BLOCK_EXIT 0.2 (per iteration, 10 iterations) */
	const char *hdr = "\"config\" \"PAGE_FAULT\" \"TRAP_SYSCALL\" \"hypercall mmu_update\" \"callout CPUID\""
			  " \"hypercall read_cr\" \"callout BLOCK_EXIT\" \"total\"\n";
	if (!strstr(d, hdr))
		fail_msg("exits.dat lacks %s:\n%s", hdr, d);
	char want[200];
	snprintf(want, sizeof want, "\"bt/shadow\" 0 %.17g 0 %.17g 0 %.17g %.17g\n", 0.6, 0.4, 0.2, 1.2);
	if (!strstr(d, want))
		fail_msg("exits.dat lacks %s:\n%s", want, d);
	free(d);
	o.figures = VL_PLOT_HISTORY;
	o.workload = "syscall";
	o.config = "pv/shadow";
	o.metric = "hypercall:mmu_update";
	log = fopen("/dev/null", "w");
	assert_int_equal(vl_plot(db, &o, log, err, sizeof err), 0);
	fclose(log);
	d = slurp("history.dat");
	snprintf(want, sizeof want, " %.17g\n", 0.6);
	if (!strstr(d, want))
		fail_msg("history.dat lacks %s:\n%s", want, d);
	free(d);
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
		cmocka_unit_test(test_distinct_styles),
		cmocka_unit_test(test_history_metric),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_gnuplot_images),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
