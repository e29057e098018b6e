/* test_stats.c — the statistics behind `compare`: median, mean, standard
 * deviation by hand, and the two-sided Mann–Whitney U test against
 * independent oracles: exact p-values counted by hand (2/C(n,k) for complete
 * separation, a tied case enumerated on paper) and the published table of
 * critical values (two-tailed alpha = .05: U = 13 for n1 = n2 = 8, exact
 * path; U = 127 for n1 = n2 = 20, normal approximation). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "virtlab/analysis.h"

static void test_location_and_spread(void **st)
{
	const double odd[] = { 5, 1, 4, 2, 3 }, even[] = { 10, 2, 8, 4 };
	assert_true(vl_stats_median(odd, 5) == 3);
	assert_true(vl_stats_median(even, 4) == 6);
	assert_true(vl_stats_mean(even, 4) == 6);
	/* deviations -4,-2,2,4: sum of squares 40, / 3 */
	assert_true(fabs(vl_stats_stddev(even, 4) - sqrt(40.0 / 3)) < 1e-12);
	assert_true(isnan(vl_stats_median(odd, 0)));
	assert_true(isnan(vl_stats_stddev(odd, 1)));
	/* the input is not reordered */
	assert_true(odd[0] == 5 && odd[4] == 3);
}

static void test_mwu_complete_separation(void **st)
{
	const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 6, 7, 8, 9, 10 };
	double u;
	double p = vl_stats_mann_whitney(x, 5, y, 5, &u);
	assert_true(u == 0);
	assert_true(fabs(p - 2.0 / 252) < 1e-12);          /* C(10,5) = 252 */
	p = vl_stats_mann_whitney(y, 5, x, 5, &u);
	assert_true(u == 25);
	assert_true(fabs(p - 2.0 / 252) < 1e-12);
	const double a[] = { 1, 2, 3 }, b[] = { 4, 5, 6, 7 };
	assert_true(fabs(vl_stats_mann_whitney(a, 3, b, 4, NULL) - 2.0 / 35) < 1e-12);   /* C(7,3) = 35 */
	assert_true(fabs(vl_stats_mann_whitney(b, 4, a, 3, NULL) - 2.0 / 35) < 1e-12);
}

static void test_mwu_ties(void **st)
{
	/* pooled 1,1,2,2,3,3 -> mid-ranks 1.5,1.5,3.5,3.5,5.5,5.5; x's rank sum 6.5
	 * is the minimum; of the 20 subsets, 2 reach 6.5 and 2 reach 14.5: p = 4/20 */
	const double x[] = { 1, 1, 2 }, y[] = { 2, 3, 3 };
	double u;
	assert_true(fabs(vl_stats_mann_whitney(x, 3, y, 3, &u) - 0.2) < 1e-12);
	assert_true(u == 0.5);   /* one tie between x=2 and y=2 counts 1/2 */
	const double same[] = { 7, 7, 7, 7 };
	assert_true(vl_stats_mann_whitney(same, 4, same, 4, NULL) == 1.0);
	assert_true(isnan(vl_stats_mann_whitney(x, 0, y, 3, NULL)));
}

/* x of n values below or among y = 10, 20, ..., 10n so that U = sum of the
 * counts of y below each x: a sample with a chosen U statistic. */
static void make_u(double *x, size_t n, const size_t *counts)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 10.0 * counts[i] + 1 + 0.01 * i;   /* above exactly counts[i] of the y */
}

static void test_mwu_table_n8(void **st)
{
	double y[8], x[8];
	for (int i = 0; i < 8; i++)
		y[i] = 10.0 * (i + 1);
	const size_t c13[8] = { 0, 0, 0, 0, 0, 0, 6, 7 }, c14[8] = { 0, 0, 0, 0, 0, 0, 6, 8 };
	double u;
	make_u(x, 8, c13);
	double p13 = vl_stats_mann_whitney(x, 8, y, 8, &u);
	assert_true(u == 13);
	make_u(x, 8, c14);
	double p14 = vl_stats_mann_whitney(x, 8, y, 8, &u);
	assert_true(u == 14);
	/* the table's critical value: U <= 13 rejects at two-tailed .05, 14 does not */
	if (!(p13 <= 0.05 && p14 > 0.05))
		fail_msg("p(U=13) = %g, p(U=14) = %g", p13, p14);
}

static void test_mwu_table_n20(void **st)
{
	double y[20], x[20];
	for (int i = 0; i < 20; i++)
		y[i] = 10.0 * (i + 1);
	size_t c[20] = { 0 };
	/* U = 127: twelve x above none, then 7, 8, ..., 20 split to sum 127 */
	const size_t tail127[8] = { 13, 14, 15, 16, 17, 17, 17, 18 };   /* = 127 */
	for (int i = 0; i < 8; i++)
		c[12 + i] = tail127[i];
	double u;
	make_u(x, 20, c);
	double p127 = vl_stats_mann_whitney(x, 20, y, 20, &u);
	assert_true(u == 127);
	c[19] = 19;
	make_u(x, 20, c);
	double p128 = vl_stats_mann_whitney(x, 20, y, 20, &u);
	assert_true(u == 128);
	if (!(p127 <= 0.05 && p128 > 0.05))
		fail_msg("p(U=127) = %g, p(U=128) = %g", p127, p128);
	/* symmetric in its arguments */
	assert_true(fabs(vl_stats_mann_whitney(y, 20, x, 20, NULL) - p128) < 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_location_and_spread),
		cmocka_unit_test(test_mwu_complete_separation),
		cmocka_unit_test(test_mwu_ties),
		cmocka_unit_test(test_mwu_table_n8),
		cmocka_unit_test(test_mwu_table_n20),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
