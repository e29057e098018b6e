/* advise.c — mode selection: for each workload (or a weighted mix) and
 * profile, the engine x MMU with the fewest cycles per iteration, the
 * runner-up, the margin and the cost category that decides it; and the
 * "mode map" figure (profiles x workloads coloured by the best mode). Reads
 * only the database, through the report's cell selection (vl_rep_build), so
 * advise and report always agree on which run stands for a configuration.
 * A configuration the caller expects but the database lacks is listed as
 * missing and the row is undecided: a decision is never guessed. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "an_util.h"
#include "virtlab/analysis.h"
#include "virtlab/counters.h"
#include "virtlab/profile.h"

int vl_adv_parse_mix(const char *s, struct vl_adv_mix *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	char buf[2048];
	if (!s || !*s || strlen(s) >= sizeof buf) {
		snprintf(err, errlen, "--mix: expected WORKLOAD=WEIGHT,... (e.g. forkwait=0.3,compute=0.7)");
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	double sum = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (!eq || eq == t || !eq[1]) {
			snprintf(err, errlen, "--mix: '%s' is not WORKLOAD=WEIGHT", t);
			return -1;
		}
		*eq = '\0';
		char *end;
		errno = 0;
		double w = strtod(eq + 1, &end);
		if (errno || *end || !isfinite(w) || w < 0) {
			snprintf(err, errlen, "--mix: weight of %s: expected a number >= 0, got '%s'", t, eq + 1);
			return -1;
		}
		if (strlen(t) >= sizeof m->work[0]) {
			snprintf(err, errlen, "--mix: workload name '%s' too long", t);
			return -1;
		}
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->work[i], t)) {
				snprintf(err, errlen, "--mix: %s named twice", t);
				return -1;
			}
		if (m->n == VL_ADV_MAX_MIX) {
			snprintf(err, errlen, "--mix: more than %d workloads", VL_ADV_MAX_MIX);
			return -1;
		}
		snprintf(m->work[m->n], sizeof m->work[0], "%s", t);
		m->w[m->n++] = w;
		sum += w;
	}
	if (!m->n || !(sum > 0)) {
		snprintf(err, errlen, "--mix: no workload with a positive weight");
		return -1;
	}
	for (size_t i = 0; i < m->n; i++)
		m->w[i] /= sum;
	return 0;
}

/* Cycles per iteration by cost category of one stored run. 0, or -1 + err. */
static int adv_cats(struct vl_db *db, int64_t id, double cat[VL_CAT_COUNT], char *err, size_t errlen)
{
	struct vl_db_filter f = { .ids = &id, .nids = 1 };
	struct vl_db_run *r = NULL;
	size_t nr = 0;
	for (int k = 0; k < VL_CAT_COUNT; k++)
		cat[k] = 0;
	if (vl_db_query_runs(db, &f, &r, &nr, err, errlen))
		return -1;
	uint64_t iters = nr ? r[0].iterations : 0;
	free(r);
	if (!iters) {
		snprintf(err, errlen, "run %lld: no iterations", (long long)id);
		return -1;
	}
	struct vl_db_metric *m = NULL;
	size_t nm = 0;
	if (vl_db_query_metrics(db, id, &m, &nm, err, errlen))
		return -1;
	for (size_t i = 0; i < nm; i++) {
		if (strcmp(m[i].kind, "cycles"))
			continue;
		for (int k = 0; k < VL_CAT_COUNT; k++)
			if (!strcmp(m[i].name, vl_cat_name[k]))
				cat[k] = m[i].value / (double)iters;
	}
	free(m);
	return 0;
}

static void adv_append(char *list, size_t n, const char *s)
{
	size_t l = strlen(list);
	if (l + strlen(s) + 8 >= n) {
		if (!strstr(list, ", ..."))
			snprintf(list + l, n - l, ", ...");
		return;
	}
	snprintf(list + l, n - l, "%s%s", l ? ", " : "", s);
}

struct adv_cand {
	char name[72], engine[32], mmu[32];
	int conf;                  /* index in the table, -1 when nothing is stored */
	int ok;                    /* has a cost */
	double cost, cat[VL_CAT_COUNT];
	int64_t run;
};

/* Pick best and runner-up among the candidates with a cost and fill the row. */
static void adv_decide(struct vl_adv_row *row, struct adv_cand *c, size_t nc)
{
	int b = -1, r = -1;
	for (size_t i = 0; i < nc; i++) {
		if (!c[i].ok)
			continue;
		row->ncand++;
		/* ties go to the earlier configuration in report order */
		if (b < 0 || c[i].cost < c[b].cost) {
			r = b;
			b = (int)i;
		} else if (r < 0 || c[i].cost < c[r].cost) {
			r = (int)i;
		}
	}
	row->margin = NAN;
	row->best_cost = row->runner_cost = row->category_delta = NAN;
	if (b < 0)
		return;
	snprintf(row->best, sizeof row->best, "%s", c[b].name);
	snprintf(row->best_engine, sizeof row->best_engine, "%s", c[b].engine);
	snprintf(row->best_mmu, sizeof row->best_mmu, "%s", c[b].mmu);
	row->best_cost = c[b].cost;
	row->best_run = c[b].run;
	if (r < 0)
		return;
	snprintf(row->runner, sizeof row->runner, "%s", c[r].name);
	row->runner_cost = c[r].cost;
	row->runner_run = c[r].run;
	row->margin = c[b].cost > 0 ? (c[r].cost - c[b].cost) / c[b].cost : NAN;
	if (c[r].cost == c[b].cost) {
		snprintf(row->category, sizeof row->category, "tie");   /* equal cost: nothing decides */
		row->category_delta = 0;
		return;
	}
	int k = 0;
	for (int i = 1; i < VL_CAT_COUNT; i++)
		if (c[r].cat[i] - c[b].cat[i] > c[r].cat[k] - c[b].cat[k])
			k = i;
	snprintf(row->category, sizeof row->category, "%s", vl_cat_name[k]);
	row->category_delta = c[r].cat[k] - c[b].cat[k];
}

static int adv_find_work(const struct vl_rep_table *t, const char *w)
{
	for (size_t i = 0; i < t->nwork; i++)
		if (!strcmp(t->work[i], w))
			return (int)i;
	return -1;
}

static int adv_find_conf(const struct vl_rep_table *t, const char *e, const char *m)
{
	for (size_t i = 0; i < t->nconf; i++)
		if (!strcmp(t->conf[i].engine, e) && !strcmp(t->conf[i].mmu, m))
			return (int)i;
	return -1;
}

static int adv_conf_cmp(const void *a, const void *b)
{
	const struct adv_cand *x = a, *y = b;
	return vl_an_config_cmp(x->engine, x->mmu, y->engine, y->mmu);
}

/* A run the row lacks, recorded structurally (advise --run runs it). */
static void adv_need(struct vl_adv_row *row, const char *engine, const char *mmu, const char *workload, uint64_t iters)
{
	if (row->nneed == VL_ADV_MAX_NEED) {
		row->need_dropped++;
		return;
	}
	struct vl_adv_need *x = &row->need[row->nneed++];
	snprintf(x->engine, sizeof x->engine, "%s", engine);
	snprintf(x->mmu, sizeof x->mmu, "%s", mmu);
	snprintf(x->workload, sizeof x->workload, "%s", workload);
	x->iterations = iters;
}

static struct vl_adv_row *adv_new_row(struct vl_adv_row **rows, size_t *n, const char *profile, const char *w)
{
	struct vl_adv_row *nr = realloc(*rows, (*n + 1) * sizeof **rows);
	if (!nr)
		return NULL;
	*rows = nr;
	struct vl_adv_row *row = &nr[(*n)++];
	memset(row, 0, sizeof *row);
	snprintf(row->profile, sizeof row->profile, "%s", profile);
	snprintf(row->workload, sizeof row->workload, "%s", w);
	return row;
}

int vl_adv_build(struct vl_db *db, const struct vl_adv_opts *o, struct vl_adv_row **rows, size_t *n, char *err,
		 size_t errlen)
{
	struct vl_rep_table t;
	if (vl_rep_build(db, &o->sel, &t, err, errlen))
		return -1;
	int rc = -1;
	/* the candidates: expected configurations, else the stored model ones */
	size_t cap = (o->expect ? o->nexpect : t.nconf) + 1;
	struct adv_cand *c = calloc(cap, sizeof *c);
	size_t nc = 0;
	if (!c)
		goto oom;
	if (o->expect) {
		for (size_t i = 0; i < o->nexpect; i++) {
			if (!strcmp(o->expect[i].engine, "native"))
				continue;
			snprintf(c[nc].engine, sizeof c[nc].engine, "%s", o->expect[i].engine);
			snprintf(c[nc].mmu, sizeof c[nc].mmu, "%s", o->expect[i].mmu);
			nc++;
		}
	} else {
		for (size_t i = 0; i < t.nconf; i++) {
			if (!t.conf[i].model || !strcmp(t.conf[i].engine, "native"))
				continue;
			snprintf(c[nc].engine, sizeof c[nc].engine, "%s", t.conf[i].engine);
			snprintf(c[nc].mmu, sizeof c[nc].mmu, "%s", t.conf[i].mmu);
			nc++;
		}
	}
	qsort(c, nc, sizeof *c, adv_conf_cmp);
	for (size_t i = 0; i < nc; i++) {
		vl_an_config_name(c[i].engine, c[i].mmu, c[i].name, sizeof c[i].name);
		c[i].conf = adv_find_conf(&t, c[i].engine, c[i].mmu);
	}
	int nat = adv_find_conf(&t, "native", "native");

	if (o->mix) {
		struct vl_adv_row *row = adv_new_row(rows, n, t.profile, "mix");
		if (!row)
			goto oom;
		/* native baseline of every workload of the mix */
		double base[VL_ADV_MAX_MIX];
		for (size_t k = 0; k < o->mix->n; k++) {
			int w = adv_find_work(&t, o->mix->work[k]);
			const struct vl_rep_cell *cell = w >= 0 && nat >= 0 ? &t.cell[(size_t)w * t.nconf + (size_t)nat] : NULL;
			base[k] = cell && cell->present && !strcmp(cell->status, "ok") && cell->cycles > 0 ? cell->cycles : NAN;
			if (!isfinite(base[k])) {
				char s[128];
				snprintf(s, sizeof s, "native (%s)", o->mix->work[k]);
				adv_append(cell && cell->present ? row->failed : row->missing, sizeof row->missing, s);
				if (!cell || !cell->present)
					adv_need(row, "native", "native", o->mix->work[k], o->sel.iterations);
			}
		}
		for (size_t i = 0; i < nc; i++) {
			c[i].ok = 1;
			for (size_t k = 0; k < o->mix->n; k++) {
				int w = adv_find_work(&t, o->mix->work[k]);
				const struct vl_rep_cell *cell =
					w >= 0 && c[i].conf >= 0 ? &t.cell[(size_t)w * t.nconf + (size_t)c[i].conf] : NULL;
				char s[128];
				snprintf(s, sizeof s, "%s (%s)", c[i].name, o->mix->work[k]);
				if (!cell || !cell->present) {
					adv_append(row->missing, sizeof row->missing, s);
					adv_need(row, c[i].engine, c[i].mmu, o->mix->work[k], o->sel.iterations);
					c[i].ok = 0;
					continue;
				}
				if (strcmp(cell->status, "ok")) {
					adv_append(row->failed, sizeof row->failed, s);
					c[i].ok = 0;
					continue;
				}
				double cat[VL_CAT_COUNT];
				if (adv_cats(db, cell->run_id, cat, err, errlen))
					goto out;
				if (!isfinite(base[k])) {
					c[i].ok = 0;
					continue;
				}
				c[i].cost += o->mix->w[k] * cell->cycles / base[k];
				for (int q = 0; q < VL_CAT_COUNT; q++)
					c[i].cat[q] += o->mix->w[k] * cat[q] / base[k];
			}
		}
		adv_decide(row, c, nc);
		row->decided = row->best[0] && !row->missing[0];
		rc = 0;
		goto out;
	}

	/* one row per workload */
	size_t nw = o->workloads ? o->nwork : t.nwork;
	for (size_t wi = 0; wi < nw; wi++) {
		const char *wn = o->workloads ? o->workloads[wi] : t.work[wi];
		int w = adv_find_work(&t, wn);
		struct vl_adv_row *row = adv_new_row(rows, n, t.profile, wn);
		if (!row)
			goto oom;
		for (size_t i = 0; i < nc; i++) {
			const struct vl_rep_cell *cell =
				w >= 0 && c[i].conf >= 0 ? &t.cell[(size_t)w * t.nconf + (size_t)c[i].conf] : NULL;
			c[i].ok = 0;
			c[i].run = 0;
			if (!cell || !cell->present) {
				adv_append(row->missing, sizeof row->missing, c[i].name);
				adv_need(row, c[i].engine, c[i].mmu, wn, o->sel.iterations);
				continue;
			}
			if (strcmp(cell->status, "ok")) {
				adv_append(row->failed, sizeof row->failed, c[i].name);
				continue;
			}
			if (adv_cats(db, cell->run_id, c[i].cat, err, errlen))
				goto out;
			c[i].ok = 1;
			c[i].cost = cell->cycles;
			c[i].run = cell->run_id;
		}
		adv_decide(row, c, nc);
		row->decided = row->best[0] && !row->missing[0];
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	free(c);
	vl_rep_free(&t);
	return rc;
}

static void adv_cost(char *buf, size_t n, const struct vl_adv_row *r, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (!strcmp(r->workload, "mix"))
		an_fmt_ratio(buf, n, v);
	else
		an_fmt_cycles(buf, n, v);
}

void vl_adv_print(FILE *out, const struct vl_adv_row *rows, size_t n, enum vl_an_format f)
{
	if (f == VL_AN_JSON) {
		fputs("[", out);
		for (size_t i = 0; i < n; i++) {
			const struct vl_adv_row *r = &rows[i];
			fprintf(out, "%s\n  {\"profile\": ", i ? "," : "");
			an_json_str(out, r->profile);
			fputs(", \"workload\": ", out);
			an_json_str(out, r->workload);
			fprintf(out, ", \"decided\": %s, \"candidates\": %zu, \"best\": ", r->decided ? "true" : "false", r->ncand);
			an_json_str(out, r->best);
			fputs(", \"best_cost\": ", out);
			an_json_num(out, r->best_cost);
			fputs(", \"runner_up\": ", out);
			an_json_str(out, r->runner);
			fputs(", \"runner_up_cost\": ", out);
			an_json_num(out, r->runner_cost);
			fputs(", \"margin\": ", out);
			an_json_num(out, r->margin);
			fputs(", \"deciding_category\": ", out);
			an_json_str(out, r->category);
			fputs(", \"category_delta\": ", out);
			an_json_num(out, r->category_delta);
			fprintf(out, ", \"unit\": \"%s\", \"best_run\": %lld, \"runner_up_run\": %lld, \"missing\": ",
				strcmp(r->workload, "mix") ? "cycles_per_iter" : "slowdown_vs_native", (long long)r->best_run,
				(long long)r->runner_run);
			an_json_str(out, r->missing);
			fputs(", \"failed\": ", out);
			an_json_str(out, r->failed);
			fputs("}", out);
		}
		fputs("\n]\n", out);
		return;
	}
	if (f == VL_AN_CSV) {
		fputs("profile,workload,decided,best,best_cost,runner_up,runner_up_cost,margin,deciding_category,"
		      "category_delta,missing,failed\n", out);
		for (size_t i = 0; i < n; i++) {
			const struct vl_adv_row *r = &rows[i];
			an_csv_str(out, r->profile);
			fputc(',', out);
			an_csv_str(out, r->workload);
			fprintf(out, ",%d,", r->decided);
			an_csv_str(out, r->best);
			fputc(',', out);
			an_json_num(out, r->best_cost);
			fputc(',', out);
			an_csv_str(out, r->runner);
			fputc(',', out);
			an_json_num(out, r->runner_cost);
			fputc(',', out);
			an_json_num(out, r->margin);
			fputc(',', out);
			an_csv_str(out, r->category);
			fputc(',', out);
			an_json_num(out, r->category_delta);
			fputc(',', out);
			an_csv_str(out, r->missing);
			fputc(',', out);
			an_csv_str(out, r->failed);
			fputc('\n', out);
		}
		return;
	}
	int md = f == VL_AN_MARKDOWN;
	if (md)
		fputs("| profile | workload | best | cost | runner-up | cost | margin | decided by |\n"
		      "|---|---|---|---:|---|---:|---:|---|\n", out);
	else
		fprintf(out, "%-16s %-10s %-14s %12s %-14s %12s %8s  %s\n", "profile", "workload", "best", "cost", "runner-up",
			"cost", "margin", "decided by (runner-up's extra cost)");
	for (size_t i = 0; i < n; i++) {
		const struct vl_adv_row *r = &rows[i];
		char bc[32], rc[32], mg[32], why[96];
		adv_cost(bc, sizeof bc, r, r->best_cost);
		adv_cost(rc, sizeof rc, r, r->runner_cost);
		if (isfinite(r->margin))
			snprintf(mg, sizeof mg, 100 * r->margin < 1 ? "%.2f%%" : "%.1f%%", 100 * r->margin);
		else
			snprintf(mg, sizeof mg, "-");
		if (!strcmp(r->category, "tie")) {
			snprintf(why, sizeof why, "tie (equal cost; the first in report order shown)");
		} else if (r->category[0]) {
			char d[32];
			adv_cost(d, sizeof d, r, r->category_delta);
			snprintf(why, sizeof why, "%s (+%s)", r->category, d);
		} else {
			snprintf(why, sizeof why, "%s", r->best[0] ? "only candidate" : "-");
		}
		const char *best = r->decided ? r->best : "undecided";
		if (md)
			fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r->profile, r->workload, best, bc,
				r->runner[0] ? r->runner : "-", rc, mg, why);
		else
			fprintf(out, "%-16s %-10s %-14s %12s %-14s %12s %8s  %s\n", r->profile, r->workload, best, bc,
				r->runner[0] ? r->runner : "-", rc, mg, why);
		if (r->missing[0])
			fprintf(out, md ? "\n_missing: %s (`virtlab advise --run` runs them)_\n\n" :
					  "    missing: %s (`virtlab advise --run` runs them)\n", r->missing);
		if (r->failed[0])
			fprintf(out, md ? "\n_not ok (left out): %s_\n\n" : "    not ok (left out): %s\n", r->failed);
	}
	int mix = n && !strcmp(rows[0].workload, "mix");
	if (!md)
		fprintf(out, "\ncost: %s; margin = (runner-up - best) / best; native is the baseline, not a candidate\n",
			mix ? "the mix's slowdown vs native (sum of weight x ratio to native)" : "cycles per iteration");
}

/* ---- the mode map ---- */

int vl_adv_modemap(const struct vl_adv_row *rows, size_t n, const char *dir, const char *gnuplot, FILE *log,
		   char *err, size_t errlen)
{
	static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
					       "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939" };
	const size_t npal = sizeof palette / sizeof palette[0];
	if (mkdir(dir, 0777) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	/* axes: profiles (y) and workloads (x) in first-seen order; colours: best configurations */
	char (*prof)[64] = calloc(n + 1, sizeof *prof), (*work)[32] = calloc(n + 1, sizeof *work);
	char (*conf)[72] = calloc(n + 1, sizeof *conf);
	size_t np = 0, nw = 0, ncf = 0;
	int rc = -1;
	FILE *d = NULL, *g = NULL;
	if (!prof || !work || !conf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < np && strcmp(prof[k], rows[i].profile); k++)
			;
		if (k == np)
			snprintf(prof[np++], sizeof prof[0], "%s", rows[i].profile);
		for (k = 0; k < nw && strcmp(work[k], rows[i].workload); k++)
			;
		if (k == nw)
			snprintf(work[nw++], sizeof work[0], "%s", rows[i].workload);
		if (!rows[i].decided)
			continue;
		for (k = 0; k < ncf && strcmp(conf[k], rows[i].best); k++)
			;
		if (k == ncf)
			snprintf(conf[ncf++], sizeof conf[0], "%s", rows[i].best);
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/modemap.dat", dir);
	if (!(d = fopen(path, "w"))) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fprintf(d, "# x y colour_index label   (x: workload, y: profile; colour -1 = undecided)\n");
	for (size_t i = 0; i < n; i++) {
		size_t x = 0, y = 0, k = 0;
		while (strcmp(work[x], rows[i].workload))
			x++;
		while (strcmp(prof[y], rows[i].profile))
			y++;
		char b[72] = "undecided", lab[128];
		long col = -1;
		if (rows[i].decided) {
			while (strcmp(conf[k], rows[i].best))
				k++;
			col = (long)k;
			an_safe(rows[i].best, b, sizeof b);
		}
		if (rows[i].decided && isfinite(rows[i].margin))
			snprintf(lab, sizeof lab, 100 * rows[i].margin < 10 ? "%s\\n+%.1f%%" : "%s\\n+%.0f%%", b,
				 100 * rows[i].margin);
		else
			snprintf(lab, sizeof lab, "%s", b);
		fprintf(d, "%zu %zu %ld \"%s\"\n", x, y, col, lab);
	}
	fclose(d);
	d = NULL;
	snprintf(path, sizeof path, "%s/modemap.gp", dir);
	if (!(g = fopen(path, "w"))) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	int w = 160 + 110 * (int)nw, h = 140 + 60 * (int)np;
	fprintf(g, "# modemap.gp — the mode map: best configuration per profile and workload, with the margin\n"
		   "# over the runner-up; written by `virtlab advise --map`; data in modemap.dat\n"
		   "# redraw: gnuplot modemap.gp (PNG)  or  gnuplot -e 'fmt=\"pdf\"' modemap.gp\n"
		   "if (!exists(\"fmt\")) fmt = \"png\"\n"
		   "if (fmt eq \"png\") set terminal pngcairo noenhanced size %d,%d font \"sans,9\"\n"
		   "if (fmt eq \"pdf\") set terminal pdfcairo noenhanced size %.2fin,%.2fin font \"sans,7\"\n"
		   "set output \"modemap.\".fmt\n"
		   "set title \"Mode map: fewest cycles per iteration (label: best, margin over the runner-up)\"\n"
		   "set xrange [-0.5:%zu.5]\nset yrange [-0.5:%zu.5] reverse\n"
		   "set key outside right top\nunset grid\nset tics scale 0\nset style fill solid 0.8 border rgb \"#ffffff\"\n",
		w + 160, h, (w + 160) / 110.0, h / 110.0, nw - 1, np - 1);
	fputs("set xtics (", g);
	for (size_t i = 0; i < nw; i++) {
		char s[64];
		an_safe(work[i], s, sizeof s);
		fprintf(g, "%s\"%s\" %zu", i ? ", " : "", s, i);
	}
	fputs(") rotate by 30 right\nset ytics (", g);
	for (size_t i = 0; i < np; i++) {
		char s[80];
		an_safe(prof[i], s, sizeof s);
		fprintf(g, "%s\"%s\" %zu", i ? ", " : "", s, i);
	}
	fputs(")\n", g);
	fputs("col(i) = i < 0 ? 0xdddddd : (", g);
	for (size_t k = 0; k < ncf; k++)
		fprintf(g, "i == %zu ? 0x%s : ", k, palette[k % npal] + 1);
	fputs("0x000000)\n", g);
	fputs("plot \"modemap.dat\" using 1:2:(0.5):(0.5):(col($3)) with boxxyerror lc rgb variable notitle, \\\n"
	      "     \"\" using 1:2:4 with labels notitle", g);
	for (size_t k = 0; k < ncf; k++) {
		char s[80];
		an_safe(conf[k], s, sizeof s);
		fprintf(g, ", \\\n     NaN with boxes lc rgb \"%s\" title \"%s\"", palette[k % npal], s);
	}
	fputs("\n", g);
	fclose(g);
	g = NULL;
	fprintf(log, "%s/modemap.dat\n%s/modemap.gp\n", dir, dir);
	rc = 0;
	const char *gp = gnuplot ? gnuplot : "gnuplot";
	if (*gp) {
		static const char *const fmts[] = { "png", "pdf" };
		for (int i = 0; i < 2; i++) {
			if (an_gnuplot(gp, dir, "modemap", fmts[i])) {
				fprintf(log, "advise: gnuplot could not draw %s/modemap.%s\n", dir, fmts[i]);
				rc = 1;
			} else {
				fprintf(log, "%s/modemap.%s\n", dir, fmts[i]);
			}
		}
	}
out:
	if (d)
		fclose(d);
	if (g)
		fclose(g);
	free(prof);
	free(work);
	free(conf);
	return rc;
}
