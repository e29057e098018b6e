/* sweep.c — parameter sweeps read back from the database: cycles per
 * iteration of each configuration against one profile value, the crossover
 * points where two configurations' curves cross (interpolated), as text,
 * CSV, JSON or Markdown, and the crossover plot. A sweep's runs carry the
 * profile label BASE:section.key=VALUE (cli/cmd_sweep.c stores them; the
 * derived profile itself is in profile_version), so the value of a run is
 * read from its label, never from the command that made it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "an_util.h"
#include "virtlab/analysis.h"

size_t vl_sweep_crossings(const double *x, const double *a, const double *b, size_t n, int logx, double *out,
			  int *dir, size_t cap)
{
	size_t k = 0;
	int differ = 0;
	for (size_t i = 0; i < n; i++)
		differ |= isfinite(a[i]) && isfinite(b[i]) && a[i] != b[i];
	if (!differ)
		return 0;
	for (size_t i = 0; i < n && k < cap; i++) {
		if (!isfinite(a[i]) || !isfinite(b[i]))
			continue;
		double d0 = a[i] - b[i];
		if (d0 == 0) {
			/* equal at a sample: once per run of equal points */
			if (i > 0 && isfinite(a[i - 1]) && isfinite(b[i - 1]) && a[i - 1] == b[i - 1])
				continue;
			/* a crossing only when they differ on both sides with opposite signs, else a touch */
			size_t j = i + 1;
			while (j < n && isfinite(a[j]) && isfinite(b[j]) && a[j] == b[j])
				j++;
			double before = i > 0 && isfinite(a[i - 1]) && isfinite(b[i - 1]) ? a[i - 1] - b[i - 1] : 0;
			double after = j < n && isfinite(a[j]) && isfinite(b[j]) ? a[j] - b[j] : 0;
			if (!before && !after)
				continue;   /* equal from the first point or to the last: no side to compare */
			out[k] = x[i];
			if (dir)
				dir[k] = before < 0 && after > 0 ? -1 : before > 0 && after < 0 ? 1 : 0;
			if (dir && !dir[k] && (!before || !after))
				dir[k] = before ? (before < 0 ? -1 : 1) : (after > 0 ? -1 : 1);
			k++;
			continue;
		}
		if (i + 1 >= n || !isfinite(a[i + 1]) || !isfinite(b[i + 1]))
			continue;
		double d1 = a[i + 1] - b[i + 1];
		if (d1 == 0 || (d0 < 0) == (d1 < 0))
			continue;
		double t = d0 / (d0 - d1);
		if (logx && x[i] > 0 && x[i + 1] > 0)
			out[k] = exp(log(x[i]) + t * (log(x[i + 1]) - log(x[i])));
		else
			out[k] = x[i] + t * (x[i + 1] - x[i]);
		if (dir)
			dir[k] = d0 < 0 ? -1 : 1;
		k++;
	}
	return k;
}

void vl_sweep_free(struct vl_sweep_data *d)
{
	for (size_t i = 0; i < d->ncurve; i++)
		free(d->c[i].y);
	free(d->c);
	free(d->x);
	free(d->cross);
	memset(d, 0, sizeof *d);
}

static int sw_dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int sw_curve_cmp(const void *a, const void *b)
{
	const struct vl_sweep_curve *x = a, *y = b;
	int c = vl_an_workload_cmp(x->workload, y->workload);
	return c ? c : vl_an_config_cmp(x->engine, x->mmu, y->engine, y->mmu);
}

/* The swept value of a model run whose profile label is PREFIX + VALUE
 * (prefix "BASE:section.key=", pl its length): 1 and *v, else 0. */
static int sw_run_value(const struct vl_db_run *r, const char *prefix, size_t pl, double *v)
{
	char *end;
	if (!r->model || strncmp(r->profile, prefix, pl))
		return 0;
	*v = strtod(r->profile + pl, &end);
	return !*end && isfinite(*v);
}

int vl_sweep_load(struct vl_db *db, const char *tag, const char *base, const char *param, int logx,
		  struct vl_sweep_data *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	snprintf(d->base, sizeof d->base, "%s", base);
	snprintf(d->param, sizeof d->param, "%s", param);
	snprintf(d->tag, sizeof d->tag, "%s", tag);
	d->logx = logx;
	struct vl_db_filter f = { .tag = tag, .ok_only = 1 };
	struct vl_db_run *runs = NULL;
	size_t n = 0;
	if (vl_db_query_runs(db, &f, &runs, &n, err, errlen))
		return -1;
	char prefix[160];
	snprintf(prefix, sizeof prefix, "%s:%s=", base, param);
	size_t pl = strlen(prefix);
	double *val = calloc(n + 1, sizeof *val);
	if (!val)
		goto oom;
	/* the values */
	for (size_t i = 0; i < n; i++) {
		double v;
		if (!sw_run_value(&runs[i], prefix, pl, &v))
			continue;
		size_t k = 0;
		while (k < d->nx && val[k] != v)
			k++;
		if (k == d->nx)
			val[d->nx++] = v;
	}
	if (!d->nx) {
		snprintf(err, errlen, "no ok runs of sweep %s (%s on %s) in %s", tag, param, base, vl_db_path(db));
		free(val);
		free(runs);
		return -1;
	}
	qsort(val, d->nx, sizeof *val, sw_dbl_cmp);
	d->x = val;
	d->c = calloc(n, sizeof *d->c);
	if (!d->c)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		double v;
		if (!sw_run_value(&runs[i], prefix, pl, &v))
			continue;
		size_t c = 0;
		while (c < d->ncurve && (strcmp(d->c[c].engine, runs[i].engine) || strcmp(d->c[c].mmu, runs[i].mmu) ||
					 strcmp(d->c[c].workload, runs[i].workload)))
			c++;
		if (c == d->ncurve) {
			struct vl_sweep_curve *cv = &d->c[d->ncurve++];
			snprintf(cv->engine, sizeof cv->engine, "%s", runs[i].engine);
			snprintf(cv->mmu, sizeof cv->mmu, "%s", runs[i].mmu);
			snprintf(cv->workload, sizeof cv->workload, "%s", runs[i].workload);
			vl_an_config_name(cv->engine, cv->mmu, cv->config, sizeof cv->config);
			cv->y = malloc(d->nx * sizeof *cv->y);
			if (!cv->y)
				goto oom;
			for (size_t k = 0; k < d->nx; k++)
				cv->y[k] = NAN;
		}
		size_t k = 0;
		while (d->x[k] != v)
			k++;
		d->c[c].y[k] = runs[i].cycles_per_iter;   /* ids ascend: the newest wins */
	}
	free(runs);
	runs = NULL;
	qsort(d->c, d->ncurve, sizeof *d->c, sw_curve_cmp);
	/* crossovers of every pair of one workload */
	size_t cap = 0;
	for (size_t i = 0; i < d->ncurve; i++)
		for (size_t j = i + 1; j < d->ncurve && !strcmp(d->c[i].workload, d->c[j].workload); j++) {
			double xs[64];
			int dirs[64];
			size_t m = vl_sweep_crossings(d->x, d->c[i].y, d->c[j].y, d->nx, logx, xs, dirs, 64);
			for (size_t k = 0; k < m; k++) {
				if (d->ncross == cap) {
					cap = cap ? 2 * cap : 16;
					struct vl_sweep_cross *nc = realloc(d->cross, cap * sizeof *nc);
					if (!nc)
						goto oom;
					d->cross = nc;
				}
				struct vl_sweep_cross *x = &d->cross[d->ncross++];
				snprintf(x->workload, sizeof x->workload, "%s", d->c[i].workload);
				snprintf(x->a, sizeof x->a, "%s", d->c[i].config);
				snprintf(x->b, sizeof x->b, "%s", d->c[j].config);
				x->x = xs[k];
				x->dir = dirs[k];
			}
		}
	return 0;
oom:
	free(runs);
	vl_sweep_free(d);
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void sw_cross_text(const struct vl_sweep_data *d, const struct vl_sweep_cross *x, char *buf, size_t n)
{
	char v[32];
	an_fmt_cycles(v, sizeof v, x->x);
	if (x->dir < 0)
		snprintf(buf, n, "%s: %s = %s at %s = %s (%s cheaper below, %s above)", x->workload, x->a, x->b, d->param, v,
			 x->a, x->b);
	else if (x->dir > 0)
		snprintf(buf, n, "%s: %s = %s at %s = %s (%s cheaper below, %s above)", x->workload, x->a, x->b, d->param, v,
			 x->b, x->a);
	else
		snprintf(buf, n, "%s: %s = %s at %s = %s (touch)", x->workload, x->a, x->b, d->param, v);
}

void vl_sweep_print(FILE *out, const struct vl_sweep_data *d, enum vl_an_format f)
{
	if (f == VL_AN_JSON) {
		fputs("{\"base\": ", out);
		an_json_str(out, d->base);
		fputs(", \"param\": ", out);
		an_json_str(out, d->param);
		fputs(", \"tag\": ", out);
		an_json_str(out, d->tag);
		fprintf(out, ", \"scale\": \"%s\", \"values\": [", d->logx ? "log" : "lin");
		for (size_t k = 0; k < d->nx; k++) {
			fputs(k ? ", " : "", out);
			an_json_num(out, d->x[k]);
		}
		fputs("],\n \"curves\": [", out);
		for (size_t i = 0; i < d->ncurve; i++) {
			fprintf(out, "%s\n  {\"workload\": ", i ? "," : "");
			an_json_str(out, d->c[i].workload);
			fputs(", \"config\": ", out);
			an_json_str(out, d->c[i].config);
			fputs(", \"cycles_per_iter\": [", out);
			for (size_t k = 0; k < d->nx; k++) {
				fputs(k ? ", " : "", out);
				an_json_num(out, d->c[i].y[k]);
			}
			fputs("]}", out);
		}
		fputs("],\n \"crossovers\": [", out);
		for (size_t i = 0; i < d->ncross; i++) {
			const struct vl_sweep_cross *x = &d->cross[i];
			fprintf(out, "%s\n  {\"workload\": ", i ? "," : "");
			an_json_str(out, x->workload);
			fputs(", \"a\": ", out);
			an_json_str(out, x->a);
			fputs(", \"b\": ", out);
			an_json_str(out, x->b);
			fputs(", \"value\": ", out);
			an_json_num(out, x->x);
			fputs(", \"cheaper_below\": ", out);
			an_json_str(out, x->dir < 0 ? x->a : x->dir > 0 ? x->b : "");
			fputs("}", out);
		}
		fputs("]}\n", out);
		return;
	}
	if (f == VL_AN_CSV) {
		fputs("workload,config,param,value,cycles_per_iter\n", out);
		for (size_t i = 0; i < d->ncurve; i++)
			for (size_t k = 0; k < d->nx; k++) {
				an_csv_str(out, d->c[i].workload);
				fputc(',', out);
				an_csv_str(out, d->c[i].config);
				fprintf(out, ",%s,", d->param);
				an_json_num(out, d->x[k]);
				fputc(',', out);
				if (isfinite(d->c[i].y[k]))
					an_json_num(out, d->c[i].y[k]);
				fputc('\n', out);
			}
		return;
	}
	int md = f == VL_AN_MARKDOWN;
	fprintf(out, "%ssweep of %s on %s (%zu values, %s steps; tag %s): cycles per iteration\n", md ? "**" : "", d->param,
		d->base, d->nx, d->logx ? "log" : "linear", d->tag);
	for (size_t i = 0; i < d->ncurve;) {
		size_t j = i;
		while (j < d->ncurve && !strcmp(d->c[j].workload, d->c[i].workload))
			j++;
		fprintf(out, "\n%s%s%s\n", md ? "**" : "", d->c[i].workload, md ? "**\n" : "");
		if (md) {
			fprintf(out, "| %s |", d->param);
			for (size_t c = i; c < j; c++)
				fprintf(out, " %s |", d->c[c].config);
			fputs("\n|---:|", out);
			for (size_t c = i; c < j; c++)
				fputs("---:|", out);
			fputc('\n', out);
		} else {
			fprintf(out, "%14s", d->param);
			for (size_t c = i; c < j; c++)
				fprintf(out, " %14s", d->c[c].config);
			fputc('\n', out);
		}
		for (size_t k = 0; k < d->nx; k++) {
			char v[32];
			an_fmt_cycles(v, sizeof v, d->x[k]);
			fprintf(out, md ? "| %s |" : "%14s", v);
			for (size_t c = i; c < j; c++) {
				char y[32] = "-";
				if (isfinite(d->c[c].y[k]))
					an_fmt_cycles(y, sizeof y, d->c[c].y[k]);
				fprintf(out, md ? " %s |" : " %14s", y);
			}
			fputc('\n', out);
		}
		i = j;
	}
	fprintf(out, "\n%scrossovers (%zu)%s\n", md ? "**" : "", d->ncross, md ? "**\n" : ":");
	for (size_t i = 0; i < d->ncross; i++) {
		char buf[800];
		sw_cross_text(d, &d->cross[i], buf, sizeof buf);
		fprintf(out, "%s%s\n", md ? "- " : "  ", buf);
	}
	if (!d->ncross)
		fprintf(out, "%snone in the swept range\n", md ? "- " : "  ");
}

int vl_sweep_plot(const struct vl_sweep_data *d, const char *dir, const char *gnuplot, FILE *flog, char *err,
		  size_t errlen)
{
	static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
					       "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939" };
	if (mkdir(dir, 0777) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/sweep.dat", dir);
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	/* one block per curve (index i), then one block of crossovers per workload */
	size_t nwork = 0;
	for (size_t i = 0; i < d->ncurve; i++) {
		fprintf(f, "# %s %s\n", d->c[i].workload, d->c[i].config);
		for (size_t k = 0; k < d->nx; k++)
			if (isfinite(d->c[i].y[k]))
				fprintf(f, "%.17g %.17g\n", d->x[k], d->c[i].y[k]);
		fputs("\n\n", f);
		nwork += i == 0 || strcmp(d->c[i].workload, d->c[i - 1].workload);
	}
	fclose(f);
	snprintf(path, sizeof path, "%s/sweep_cross.dat", dir);
	if (!(f = fopen(path, "w"))) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "# workload value cycles_per_iter (of the first curve at the crossing, interpolated)\n");
	for (size_t i = 0; i < d->ncross; i++) {
		const struct vl_sweep_cross *x = &d->cross[i];
		/* y: interpolate curve a at x */
		double y = NAN;
		for (size_t c = 0; c < d->ncurve; c++) {
			if (strcmp(d->c[c].workload, x->workload) || strcmp(d->c[c].config, x->a))
				continue;
			for (size_t k = 0; k + 1 < d->nx; k++)
				if (d->x[k] <= x->x && x->x <= d->x[k + 1] && isfinite(d->c[c].y[k]) && isfinite(d->c[c].y[k + 1])) {
					double t = d->x[k + 1] > d->x[k] ? (x->x - d->x[k]) / (d->x[k + 1] - d->x[k]) : 0;
					if (d->logx && d->x[k] > 0)
						t = (log(x->x) - log(d->x[k])) / (log(d->x[k + 1]) - log(d->x[k]));
					y = d->c[c].y[k] + t * (d->c[c].y[k + 1] - d->c[c].y[k]);
					break;
				}
		}
		char w[64];
		an_safe(x->workload, w, sizeof w);
		fprintf(f, "%s %.17g %.17g\n", w, x->x, y);
	}
	fclose(f);
	snprintf(path, sizeof path, "%s/sweep.gp", dir);
	if (!(f = fopen(path, "w"))) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	int cols = nwork <= 3 ? (int)nwork : 3, rows = (int)((nwork + (size_t)cols - 1) / (size_t)cols);
	char param[80];
	an_safe(d->param, param, sizeof param);
	if (cols < 1)
		cols = rows = 1;
	fprintf(f, "# sweep.gp — cycles per iteration against %s, a panel per workload, crossovers marked\n"
		   "# written by `virtlab sweep`; data in sweep.dat (a block per curve) and sweep_cross.dat\n"
		   "# redraw: gnuplot sweep.gp (PNG)  or  gnuplot -e 'fmt=\"pdf\"' sweep.gp\n"
		   "if (!exists(\"fmt\")) fmt = \"png\"\n"
		   "if (fmt eq \"png\") set terminal pngcairo noenhanced size %d,%d font \"sans,9\"\n"
		   "if (fmt eq \"pdf\") set terminal pdfcairo noenhanced size %.2fin,%.2fin font \"sans,7\"\n"
		   "set output \"sweep.\".fmt\nset grid lc rgb \"#d0d0d0\"\nset key top left box opaque\n"
		   "set xlabel \"%s\"\nset ylabel \"cycles per iteration\"\n%s"
		   "set multiplot layout %d,%d\n",
		param, 420 * cols, 320 * rows, 420 * cols / 110.0, 320 * rows / 110.0, param, d->logx ? "set logscale x\n" : "",
		rows, cols);
	for (size_t i = 0; i < d->ncurve;) {
		size_t j = i;
		while (j < d->ncurve && !strcmp(d->c[j].workload, d->c[i].workload))
			j++;
		char w[64];
		an_safe(d->c[i].workload, w, sizeof w);
		fprintf(f, "set title \"%s\"\nplot ", w);
		for (size_t c = i; c < j; c++) {
			char cf[80];
			an_safe(d->c[c].config, cf, sizeof cf);
			fprintf(f, "%s\"sweep.dat\" index %zu using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"%s\" title \"%s\"",
				c > i ? ", \\\n     " : "", c, palette[(c - i) % (sizeof palette / sizeof palette[0])], cf);
		}
		size_t nx = 0;
		for (size_t k = 0; k < d->ncross; k++)
			nx += !strcmp(d->cross[k].workload, d->c[i].workload);
		if (nx)
			fprintf(f, ", \\\n     \"sweep_cross.dat\" using ((strcol(1) eq \"%s\") ? $2 : NaN):3 with points pt 6 ps 2.2 "
				   "lw 2 lc rgb \"black\" title \"crossover\"", w);
		fputs("\n", f);
		i = j;
	}
	fputs("unset multiplot\n", f);
	fclose(f);
	fprintf(flog, "%s/sweep.dat\n%s/sweep_cross.dat\n%s/sweep.gp\n", dir, dir, dir);
	const char *gp = gnuplot ? gnuplot : "gnuplot";
	int rc = 0;
	if (*gp) {
		static const char *const fmts[] = { "png", "pdf" };
		for (int i = 0; i < 2; i++) {
			if (an_gnuplot(gp, dir, "sweep", fmts[i])) {
				fprintf(flog, "sweep: gnuplot could not draw %s/sweep.%s\n", dir, fmts[i]);
				rc = 1;
			} else {
				fprintf(flog, "%s/sweep.%s\n", dir, fmts[i]);
			}
		}
	}
	return rc;
}
