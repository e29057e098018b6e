/* entries.c — `report --entries`: every VMM entry of each cell of a report
 * table, per iteration, under its own heading — VM exits (by the vendor's
 * exit reason, or a software VMM's own trap), callouts from translated code
 * (bt) and hypercalls (pv), as the database stores them (exit_reason.kind,
 * schema v4). Text, markdown, CSV, JSON, and LaTeX (the paper's tables:
 * one booktabs table per kind that occurs, the most frequent entries of
 * each cell). Model cells with an ok run only: a real measurement counts no
 * entries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"

#define ENT_LATEX_TOP 4        /* entries per cell in the LaTeX table */
#define ENT_LATEX_MIN 0.01     /* ... and only those at >= 0.01 per iteration */
/* the kinds of entry and their names: an_entry_kinds (an_util.c) */

struct ent_row {
	size_t w, c;                  /* report cell */
	size_t kind;
	char name[48];
	int64_t code;
	double per_iter, cycles_each;
	double count;
};

static int ent_row_cmp(const void *a, const void *b)
{
	const struct ent_row *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->w != y->w)
		return x->w < y->w ? -1 : 1;
	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Every entry of every ok model cell of t, sorted by kind, workload,
 * configuration, most frequent first. */
static int ent_collect(struct vl_db *db, const struct vl_rep_table *t, struct ent_row **rows, size_t *nrows, char *err,
		       size_t errlen)
{
	size_t n = 0, cap = 0;
	struct ent_row *r = NULL;
	for (size_t w = 0; w < t->nwork; w++)
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (!cell->present || !t->conf[c].model || strcmp(cell->status, "ok"))
				continue;
			struct vl_db_metric *m = NULL;
			size_t nm = 0;
			if (vl_db_query_metrics(db, cell->run_id, &m, &nm, err, errlen)) {
				free(r);
				return -1;
			}
			double it = cell->iterations ? (double)cell->iterations : 1;
			for (size_t i = 0; i < nm; i++)
				for (size_t k = 0; k < AN_NENTRY_KIND; k++) {
					if (strcmp(m[i].kind, an_entry_kinds[k].count) || m[i].value <= 0)
						continue;
					double cyc = an_metric_value(m, nm, an_entry_kinds[k].cycles, m[i].name, m[i].code);
					if (n == cap) {
						cap = cap ? 2 * cap : 64;
						struct ent_row *nr = realloc(r, cap * sizeof *nr);
						if (!nr) {
							free(r);
							free(m);
							snprintf(err, errlen, "out of memory");
							return -1;
						}
						r = nr;
					}
					struct ent_row *e = &r[n++];
					*e = (struct ent_row){ .w = w, .c = c, .kind = k, .code = m[i].code, .count = m[i].value,
							       .per_iter = m[i].value / it, .cycles_each = cyc / m[i].value };
					snprintf(e->name, sizeof e->name, "%s", m[i].name);
				}
			free(m);
		}
	if (n)
		qsort(r, n, sizeof *r, ent_row_cmp);
	*rows = r;
	*nrows = n;
	return 0;
}

static void ent_text(FILE *out, const struct vl_rep_table *t, const struct ent_row *r, size_t n, int md)
{
	for (size_t k = 0; k < AN_NENTRY_KIND; k++) {
		size_t any = 0;
		for (size_t i = 0; i < n; i++)
			any += r[i].kind == k;
		if (!any)
			continue;
		if (md)
			fprintf(out, "\n### %s (profile ", an_entry_kinds[k].heading);
		else
			fprintf(out, "\n%s (profile ", an_entry_kinds[k].heading);
		fprintf(out, "%s)\n", t->profile);
		if (md)
			fprintf(out, "\n| workload | configuration | %s | code | per iteration | cycles each |\n"
				     "|---|---|---|---:|---:|---:|\n", an_entry_kinds[k].key);
		else
			fprintf(out, "%-10s %-14s %-28s %6s %13s %12s\n", "workload", "config", an_entry_kinds[k].key, "code",
				"per iter", "cycles each");
		for (size_t i = 0; i < n; i++) {
			if (r[i].kind != k)
				continue;
			char code[24] = "";
			if (an_entry_kinds[k].code)
				snprintf(code, sizeof code, "%lld", (long long)r[i].code);
			if (md) {
				fputs("| ", out);
				an_md_str(out, t->work[r[i].w]);
				fputs(" | ", out);
				an_md_str(out, t->conf[r[i].c].name);
				fputs(" | ", out);
				an_md_str(out, r[i].name);
				fprintf(out, " | %s | %.4g | %.1f |\n", code, r[i].per_iter, r[i].cycles_each);
			} else {
				fprintf(out, "%-10s %-14s %-28s %6s %13.4g %12.1f\n", t->work[r[i].w], t->conf[r[i].c].name,
					r[i].name, code, r[i].per_iter, r[i].cycles_each);
			}
		}
	}
}

static void ent_csv(FILE *out, const struct vl_rep_table *t, const struct ent_row *r, size_t n)
{
	fputs("profile,workload,config,kind,name,code,count,per_iter,cycles_each\n", out);
	for (size_t i = 0; i < n; i++) {
		an_csv_str(out, t->profile);
		fputc(',', out);
		an_csv_str(out, t->work[r[i].w]);
		fputc(',', out);
		an_csv_str(out, t->conf[r[i].c].name);
		fprintf(out, ",%s,", an_entry_kinds[r[i].kind].key);
		an_csv_str(out, r[i].name);
		if (an_entry_kinds[r[i].kind].code)
			fprintf(out, ",%lld,", (long long)r[i].code);
		else
			fputs(",,", out);
		an_csv_num(out, r[i].count);
		fputc(',', out);
		an_csv_num(out, r[i].per_iter);
		fputc(',', out);
		an_csv_num(out, r[i].cycles_each);
		fputc('\n', out);
	}
}

static void ent_json(FILE *out, const struct vl_rep_table *t, const struct ent_row *r, size_t n)
{
	fputs("{\"profile\":", out);
	an_json_str(out, t->profile);
	for (size_t k = 0; k < AN_NENTRY_KIND; k++) {
		fprintf(out, ",\"%s\":[", an_entry_kinds[k].key);
		int first = 1;
		for (size_t i = 0; i < n; i++) {
			if (r[i].kind != k)
				continue;
			fputs(first ? "{\"workload\":" : ",{\"workload\":", out);
			first = 0;
			an_json_str(out, t->work[r[i].w]);
			fputs(",\"config\":", out);
			an_json_str(out, t->conf[r[i].c].name);
			fputs(",\"name\":", out);
			an_json_str(out, r[i].name);
			if (an_entry_kinds[k].code)
				fprintf(out, ",\"code\":%lld", (long long)r[i].code);
			fputs(",\"count\":", out);
			an_json_num(out, r[i].count);
			fputs(",\"per_iter\":", out);
			an_json_num(out, r[i].per_iter);
			fputs(",\"cycles_each\":", out);
			an_json_num(out, r[i].cycles_each);
			fputc('}', out);
		}
		fputc(']', out);
	}
	fputs("}\n", out);
}

/* One booktabs table per kind that occurs: the ENT_LATEX_TOP most frequent
 * entries of each cell at >= ENT_LATEX_MIN per iteration (how many more
 * each cell has is said), labelled tab:KEY-PROFILE. */
static void ent_latex(FILE *out, const struct vl_rep_table *t, const struct ent_row *r, size_t n)
{
	fprintf(out, "%% virtlab report --entries --format latex: profile %s, commit %s\n", t->profile,
		t->commits[0] ? t->commits : "-");
	for (size_t k = 0; k < AN_NENTRY_KIND; k++) {
		size_t any = 0;
		for (size_t i = 0; i < n; i++)
			any += r[i].kind == k && r[i].per_iter >= ENT_LATEX_MIN;
		if (!any)
			continue;
		fputs("\\begin{table}[htbp]\n\\centering\\small\n\\begin{tabular}{lllrr}\n\\toprule\n"
		      "workload & configuration & ", out);
		fputs(an_entry_kinds[k].word, out);
		fputs(" & per iteration & cycles each \\\\\n\\midrule\n", out);
		size_t prev_w = (size_t)-1, prev_c = (size_t)-1, shown = 0, left = 0;
		for (size_t i = 0; i < n; i++) {
			if (r[i].kind != k || r[i].per_iter < ENT_LATEX_MIN)
				continue;
			if (r[i].w != prev_w || r[i].c != prev_c) {   /* a new cell */
				if (left)
					fprintf(out, " & & \\emph{%zu more} & & \\\\\n", left);
				if (prev_w != (size_t)-1 && r[i].w != prev_w)
					fputs("\\addlinespace\n", out);
				shown = left = 0;
				prev_w = r[i].w;
				prev_c = r[i].c;
			}
			if (shown == ENT_LATEX_TOP) {
				left++;
				continue;
			}
			if (!shown) {
				an_tex_str(out, t->work[r[i].w]);
				fputs(" & ", out);
				an_tex_str(out, t->conf[r[i].c].name);
			} else {
				fputs(" & ", out);
			}
			fputs(" & \\texttt{", out);
			an_tex_str(out, r[i].name);
			char cy[32];
			an_fmt_cycles(cy, sizeof cy, r[i].cycles_each);
			fprintf(out, "} & %.3g & %s \\\\\n", r[i].per_iter, cy);
			shown++;
		}
		if (left)
			fprintf(out, " & & \\emph{%zu more} & & \\\\\n", left);
		fputs("\\bottomrule\n\\end{tabular}\n\\caption{", out);
		fputs(k == 0 ? "VM exits" : k == 1 ? "Callouts from translated code (binary translation)"
						   : "Hypercalls (paravirtualization)", out);
		fputs(" per iteration on profile ", out);
		an_tex_str(out, t->profile);
		fprintf(out, ", with the cycles each costs (its transition into and out of the VMM and the handler); the %d most frequent of each "
			     "configuration at %g or more per iteration (commit ", ENT_LATEX_TOP, ENT_LATEX_MIN);
		an_tex_str(out, t->commits[0] ? t->commits : "-");
		fprintf(out, ").}\n\\label{tab:%s-", an_entry_kinds[k].key);
		for (const char *p = t->profile; *p; p++)
			fputc(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", *p) ? *p : '-', out);
		fputs("}\n\\end{table}\n", out);
	}
}

int vl_rep_entries_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, int latex,
			 char *err, size_t errlen)
{
	struct ent_row *r = NULL;
	size_t n = 0;
	if (ent_collect(db, t, &r, &n, err, errlen))
		return -1;
	if (latex)
		ent_latex(out, t, r, n);
	else if (f == VL_AN_JSON)
		ent_json(out, t, r, n);
	else if (f == VL_AN_CSV)
		ent_csv(out, t, r, n);
	else
		ent_text(out, t, r, n, f == VL_AN_MARKDOWN);
	free(r);
	return 0;
}
