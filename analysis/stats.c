/* stats.c — the statistics that judge real (noisy) measurements: median,
 * mean, standard deviation, and the two-sided Mann–Whitney U test (as asv
 * uses it, together with a minimum effect size, in analysis/compare.c).
 * Deterministic model counters never come here: they compare exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/analysis.h"

#define MWU_EXACT_MAX 200000.0   /* enumerate at most this many rank assignments */

static int st_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double vl_stats_median(const double *v, size_t n)
{
	if (!n)
		return NAN;
	double *s = malloc(n * sizeof *s);
	if (!s)
		return NAN;
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, st_cmp_double);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

double vl_stats_mean(const double *v, size_t n)
{
	if (!n)
		return NAN;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	return sum / n;
}

double vl_stats_stddev(const double *v, size_t n)
{
	if (n < 2)
		return NAN;
	double m = vl_stats_mean(v, n), ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (v[i] - m) * (v[i] - m);
	return sqrt(ss / (n - 1));
}

struct st_item { double v; int from_x; };

static int st_cmp_item(const void *a, const void *b)
{
	return st_cmp_double(&((const struct st_item *)a)->v, &((const struct st_item *)b)->v);
}

static double st_choose(size_t n, size_t k)
{
	double c = 1;
	for (size_t i = 1; i <= k; i++) {
		c = c * (double)(n - k + i) / (double)i;
		if (c > 1e18)
			return c;
	}
	return c;
}

/* Exact two-sided p: of all C(n, nx) ways to give nx of the pooled
 * (mid-)ranks to x, the fraction whose rank sum lies at least as far from
 * its mean as the observed one. Ranks are doubled to stay integral. */
static double st_exact_p(const long *rank2, size_t n, size_t nx, long obs2)
{
	long total2 = 0;
	for (size_t i = 0; i < n; i++)
		total2 += rank2[i];
	/* mean of x's doubled rank sum = nx * total2 / n; compare |sum*n - nx*total2| */
	long long dev_obs = llabs((long long)obs2 * (long long)n - (long long)nx * total2);
	size_t idx[64];
	for (size_t i = 0; i < nx; i++)
		idx[i] = i;
	double count = 0, extreme = 0;
	for (;;) {
		long s = 0;
		for (size_t i = 0; i < nx; i++)
			s += rank2[idx[i]];
		long long dev = llabs((long long)s * (long long)n - (long long)nx * total2);
		count++;
		if (dev >= dev_obs)
			extreme++;
		/* next combination in lexicographic order */
		size_t i = nx;
		while (i > 0 && idx[i - 1] == n - nx + i - 1)
			i--;
		if (i == 0)
			break;
		idx[i - 1]++;
		for (size_t j = i; j < nx; j++)
			idx[j] = idx[j - 1] + 1;
	}
	return extreme / count;
}

double vl_stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny, double *u)
{
	if (u)
		*u = NAN;
	if (!nx || !ny)
		return NAN;
	size_t n = nx + ny;
	struct st_item *it = malloc(n * sizeof *it);
	long *rank2 = malloc(n * sizeof *rank2);
	if (!it || !rank2) {
		free(it);
		free(rank2);
		return NAN;
	}
	for (size_t i = 0; i < nx; i++)
		it[i] = (struct st_item){ x[i], 1 };
	for (size_t i = 0; i < ny; i++)
		it[nx + i] = (struct st_item){ y[i], 0 };
	qsort(it, n, sizeof *it, st_cmp_item);
	/* mid-ranks, doubled: a tie group covering ranks a..b gets a+b */
	long obs2 = 0;
	double tie_term = 0;
	for (size_t i = 0; i < n; ) {
		size_t j = i;
		while (j + 1 < n && it[j + 1].v == it[i].v)
			j++;
		long r2 = (long)(i + 1) + (long)(j + 1);
		for (size_t k = i; k <= j; k++) {
			rank2[k] = r2;
			if (it[k].from_x)
				obs2 += r2;
		}
		double t = (double)(j - i + 1);
		tie_term += t * t * t - t;
		i = j + 1;
	}
	double r1 = obs2 / 2.0;
	double u1 = r1 - nx * (nx + 1) / 2.0;
	if (u)
		*u = u1;
	double p;
	size_t small = nx < ny ? nx : ny;
	if (st_choose(n, small) <= MWU_EXACT_MAX && small <= 64) {
		/* enumerate the smaller side's assignments; its rank sum is as extreme iff x's is */
		if (nx <= ny) {
			p = st_exact_p(rank2, n, nx, obs2);
		} else {
			long total2 = (long)n * (long)(n + 1);
			p = st_exact_p(rank2, n, ny, total2 - obs2);
		}
	} else {
		double mu = nx * (double)ny / 2.0;
		double var = nx * (double)ny / 12.0 * ((n + 1) - tie_term / ((double)n * (n - 1)));
		if (var <= 0) {
			p = 1.0;   /* every value tied */
		} else {
			double d = fabs(u1 - mu) - 0.5;   /* continuity correction */
			if (d < 0)
				d = 0;
			p = erfc(d / sqrt(var) / M_SQRT2);
		}
	}
	free(it);
	free(rank2);
	return p > 1 ? 1 : p;
}
