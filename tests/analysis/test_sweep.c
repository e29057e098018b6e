/* test_sweep.c — crossover points: two synthetic lines cross where the
 * algebra says (linear and log interpolation, either direction, a crossing
 * at a sample point, a touch, equal curves, gaps); and a sweep read back
 * from a database of runs labelled BASE:param=VALUE. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static void test_lines(void **st)
{
	/* a = 2x + 10, b = 5x - 20: cross at x = 10 */
	double x[] = { 0, 4, 8, 12, 16 }, a[5], b[5], out[4];
	int dir[4];
	for (int i = 0; i < 5; i++)
		a[i] = 2 * x[i] + 10, b[i] = 5 * x[i] - 20;
	assert_int_equal(vl_sweep_crossings(x, a, b, 5, 0, out, dir, 4), 1);
	assert_true(fabs(out[0] - 10) < 1e-12);
	assert_int_equal(dir[0], 1);   /* b cheaper below 10 */
	assert_int_equal(vl_sweep_crossings(x, b, a, 5, 0, out, dir, 4), 1);
	assert_true(fabs(out[0] - 10) < 1e-12);
	assert_int_equal(dir[0], -1);  /* a (now 5x-20) cheaper below */

	/* log x: a = 100 * log2(x), b = 300 (cross at x = 8), sampled at 1, 4, 16, 64 */
	double lx[] = { 1, 4, 16, 64 }, la[4], lb[4];
	for (int i = 0; i < 4; i++)
		la[i] = 100 * log2(lx[i]), lb[i] = 300;
	assert_int_equal(vl_sweep_crossings(lx, la, lb, 4, 1, out, dir, 4), 1);
	assert_true(fabs(out[0] - 8) < 1e-9);
	/* linear interpolation of the same points gives 4 + 0.5 * 12 = 10 */
	assert_int_equal(vl_sweep_crossings(lx, la, lb, 4, 0, out, dir, 4), 1);
	assert_true(fabs(out[0] - 10) < 1e-9);
}

static void test_edges(void **st)
{
	double x[] = { 1, 2, 3, 4, 5 }, out[8];
	int dir[8];
	/* crossing exactly at a sample */
	double a[] = { 1, 2, 3, 4, 5 }, b[] = { 5, 4, 3, 2, 1 };
	assert_int_equal(vl_sweep_crossings(x, a, b, 5, 0, out, dir, 8), 1);
	assert_true(out[0] == 3);
	assert_int_equal(dir[0], -1);
	/* equal everywhere: nothing */
	assert_int_equal(vl_sweep_crossings(x, a, a, 5, 0, out, dir, 8), 0);
	/* two crossings */
	double c[] = { 0, 10, 0, 10, 10 }, d[] = { 5, 5, 5, 5, 5 };
	size_t n = vl_sweep_crossings(x, c, d, 5, 0, out, dir, 8);
	assert_int_equal(n, 3);
	assert_true(fabs(out[0] - 1.5) < 1e-12 && fabs(out[1] - 2.5) < 1e-12 && fabs(out[2] - 3.5) < 1e-12);
	/* a gap (a missing point) hides the interval around it */
	double e[] = { 0, NAN, 10, 10, 10 }, f[] = { 5, 5, 5, 5, 5 };
	assert_int_equal(vl_sweep_crossings(x, e, f, 5, 0, out, dir, 8), 0);
	/* parallel lines */
	double g[] = { 1, 2, 3, 4, 5 }, h[] = { 2, 3, 4, 5, 6 };
	assert_int_equal(vl_sweep_crossings(x, g, h, 5, 0, out, dir, 8), 0);
	/* cap respected */
	assert_int_equal(vl_sweep_crossings(x, c, d, 5, 0, out, dir, 2), 2);
}

static void put(struct vl_db *db, const char *engine, const char *mmu, const char *label, double cpi, const char *tag)
{
	struct vl_run_result r;
	synth_model(&r, engine, mmu, "cpuid", label, 1000, 1);
	r.cycles_per_iter = cpi;
	synth_store(db, &r, tag);
}

/* stored lines: vtx/shadow = 2v + 100, vtx/nested = v + 400 -> cross at v = 300 */
static void test_from_db(void **st)
{
	char dir[512], err[256];
	synth_tmpdir(dir, sizeof dir);
	struct vl_db *db = synth_open(dir, "sweep.db", "aaaa000000000000000000000000000000000001");
	const double v[] = { 100, 200, 400, 800 };
	for (int i = 3; i >= 0; i--) {   /* stored out of order */
		char label[64];
		snprintf(label, sizeof label, "zen4:vmx.vmexit=%.0f", v[i]);
		put(db, "vtx", "shadow", label, 2 * v[i] + 100, "sweep:t");
		put(db, "vtx", "nested", label, v[i] + 400, "sweep:t");
		put(db, "vtx", "nested", label, 1, "sweep:other");           /* another sweep */
	}
	put(db, "vtx", "nested", "zen4:vmx.vmentry=100", 1, "sweep:t");      /* another field */
	struct vl_sweep_data d;
	assert_int_equal(vl_sweep_load(db, "sweep:t", "zen4", "vmx.vmexit", 0, &d, err, sizeof err), 0);
	assert_int_equal(d.nx, 4);
	assert_true(d.x[0] == 100 && d.x[3] == 800);
	assert_int_equal(d.ncurve, 2);
	assert_string_equal(d.c[0].config, "vtx/shadow");
	assert_true(d.c[0].y[2] == 900);
	assert_int_equal(d.ncross, 1);
	assert_true(fabs(d.cross[0].x - 300) < 1e-9);
	assert_string_equal(d.cross[0].a, "vtx/shadow");
	assert_int_equal(d.cross[0].dir, -1);   /* shadow cheaper below 300 */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	vl_sweep_print(f, &d, VL_AN_TEXT);
	fclose(f);
	assert_non_null(strstr(buf, "cpuid: vtx/shadow = vtx/nested at vmx.vmexit = 300.0 (vtx/shadow cheaper below, vtx/nested above)"));
	free(buf);
	char out[600];
	snprintf(out, sizeof out, "%s/plot", dir);
	f = fopen("/dev/null", "w");
	assert_int_equal(vl_sweep_plot(&d, out, NULL, f, err, sizeof err), 0);
	fclose(f);
	vl_sweep_free(&d);
	assert_int_equal(vl_sweep_load(db, "sweep:none", "zen4", "vmx.vmexit", 0, &d, err, sizeof err), -1);
	vl_db_close(db);
	synth_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_from_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
