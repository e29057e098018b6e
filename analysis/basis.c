/* basis.c — what each result rests on: the share of a modelled result's
 * cycles priced by sourced, derived and estimated profile values, by
 * values the run set itself (a sweep's: no provenance), and cycles no value
 * priced (an HLT's idle wait), from the exact per-value cycles a run stores
 * (schema v5, table value_cycles; `report --basis`), with the largest
 * estimated values by name. `report --depends` uses the same reading
 * (vl_basis_read) to decide whether a run's attribution is exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"
#include "virtlab/results.h"

const char *const vl_basis_class_name[VL_BASIS_NCLASS] = {
	[VL_BASIS_SOURCED] = "sourced", [VL_BASIS_DERIVED] = "derived", [VL_BASIS_ESTIMATED] = "estimated",
	[VL_BASIS_SET] = "set", [VL_BASIS_UNPRICED] = "unpriced", [VL_BASIS_OTHER] = "other",
	[VL_BASIS_UNATTRIBUTED] = "unattributed",
};

/* The basis class of a stored value_cycles class. */
static int basis_class_of(const char *cls)
{
	for (int k = 0; k < VL_BASIS_OTHER; k++)
		if (!strcmp(cls, vl_basis_class_name[k]))
			return k;
	return VL_BASIS_OTHER;   /* n/a (an unused value charged), unknown (provenance unreadable) */
}

int vl_basis_read(struct vl_db *db, int64_t run_id, struct vl_basis *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	struct vl_db_metric *m = NULL;
	size_t n = 0;
	if (vl_db_query_metrics(db, run_id, &m, &n, err, errlen))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].kind, "cycles"))
			b->total += m[i].value;
	free(m);
	if (vl_db_query_values(db, run_id, &b->v, &b->nv, err, errlen))
		return -1;
	double sum = 0, priced = 0;
	for (size_t i = 0; i < b->nv; i++) {
		int k = basis_class_of(b->v[i].cls);
		b->cycles[k] += b->v[i].cycles;
		sum += b->v[i].cycles;
		if (k != VL_BASIS_UNPRICED)
			priced += b->v[i].cycles;
	}
	if (!b->nv)
		return 0;
	/* the categories are the run's modelled cycles; what the values do not
	 * cover is shown as unattributed (a model whose charges do not all name
	 * their value), never spread over the others */
	if (sum > b->total)
		b->total = sum;
	b->cycles[VL_BASIS_UNATTRIBUTED] = b->total - sum;
	b->exact = b->total > 0 && b->cycles[VL_BASIS_UNATTRIBUTED] == 0 && priced > 0;
	return 0;
}

void vl_basis_free(struct vl_basis *b)
{
	free(b->v);
	b->v = NULL;
	b->nv = 0;
}

const char *vl_basis_state(const struct vl_basis *b)
{
	return !b->nv ? "none" : b->exact ? "exact" : "partial";
}

#define BASIS_TOP 3   /* estimated values named per result */

/* The i-th largest estimated value of b (values are stored largest
 * first), or NULL. */
static const struct vl_db_value *basis_top_estimated(const struct vl_basis *b, size_t i)
{
	for (size_t k = 0; k < b->nv; k++)
		if (!strcmp(b->v[k].cls, "estimated") && !i--)
			return &b->v[k];
	return NULL;
}

struct basis_row {
	const char *work;
	const struct vl_rep_config *cf;
	int64_t run_id;
	struct vl_basis b;
};

static void basis_text(FILE *out, const struct vl_rep_table *t, const struct basis_row *r, size_t n, bool md)
{
	if (md) {
		fprintf(out, "\n**Basis of each result** (profile %s): share of its modelled cycles priced by\n"
			     "sourced, derived, estimated profile values, values the run set (a sweep), and unpriced cycles.\n\n",
			t->profile);
		fputs("| workload | config | attribution | sourced | derived | estimated | set | unpriced | other | unattributed |"
		      " largest estimated values |\n|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n", out);
	} else {
		fprintf(out, "\nBasis of each result (profile %s): share of the cell's modelled cycles priced by sourced,\n"
			     "derived and estimated profile values, by values the run set itself (a sweep: no provenance),\n"
			     "and unpriced (no value: an HLT's idle wait); unattributed: cycles the stored values do not cover.\n",
			t->profile);
		fprintf(out, "%-10s %-14s %-8s %8s %8s %9s %6s %8s %6s %7s  %s\n", "workload", "config", "basis", "sourced",
			"derived", "estimated", "set", "unpriced", "other", "unattr.", "largest estimated values");
	}
	for (size_t i = 0; i < n; i++) {
		const struct vl_basis *b = &r[i].b;
		if (md) {
			fputs("| ", out);
			an_md_str(out, r[i].work);
			fputs(" | ", out);
			an_md_str(out, r[i].cf->name);
			fprintf(out, " | %s |", vl_basis_state(b));
		} else {
			fprintf(out, "%-10s %-14s %-8s", r[i].work, r[i].cf->name, vl_basis_state(b));
		}
		if (!b->nv) {
			if (md)
				fputs(" | | | | | | | | no per-value cycles stored |\n", out);
			else
				fputs("  (no per-value cycles stored: a run of a model or schema before per-value attribution)\n", out);
			continue;
		}
		static const int w[VL_BASIS_NCLASS] = { 7, 7, 8, 5, 7, 5, 6 };
		for (int k = 0; k < VL_BASIS_NCLASS; k++) {
			double pct = b->total > 0 ? 100 * b->cycles[k] / b->total : 0;
			if (md)
				fprintf(out, " %.1f%% |", pct);
			else
				fprintf(out, " %*.1f%%", w[k], pct);
		}
		fputs(md ? " " : "  ", out);
		const struct vl_db_value *e;
		for (size_t k = 0; (e = basis_top_estimated(b, k)) && k < BASIS_TOP; k++)
			fprintf(out, "%s%s %.1f%%", k ? ", " : "", e->field, 100 * e->cycles / b->total);
		if (!basis_top_estimated(b, 0))
			fputs(md ? "none" : "(none)", out);
		fputs(md ? " |\n" : "\n", out);
	}
}

static void basis_csv(FILE *out, const struct vl_rep_table *t, const struct basis_row *r, size_t n)
{
	fputs("workload,config,engine,mmu,profile,run_id,attribution,total_cycles", out);
	for (int k = 0; k < VL_BASIS_NCLASS; k++)
		fprintf(out, ",%s", vl_basis_class_name[k]);
	fputs(",top_estimated\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct vl_basis *b = &r[i].b;
		an_csv_str(out, r[i].work);
		fputc(',', out);
		an_csv_str(out, r[i].cf->name);
		fputc(',', out);
		an_csv_str(out, r[i].cf->engine);
		fputc(',', out);
		an_csv_str(out, r[i].cf->mmu);
		fputc(',', out);
		an_csv_str(out, t->profile);
		fprintf(out, ",%lld,%s,", (long long)r[i].run_id, vl_basis_state(b));
		an_csv_num(out, b->total);
		for (int k = 0; k < VL_BASIS_NCLASS; k++) {
			fputc(',', out);
			if (b->nv)   /* shares (0..1); empty without per-value cycles */
				an_csv_num(out, b->total > 0 ? b->cycles[k] / b->total : 0);
		}
		fputc(',', out);
		char top[512] = "";
		const struct vl_db_value *e;
		for (size_t k = 0; (e = basis_top_estimated(b, k)) && k < BASIS_TOP; k++) {
			size_t l = strlen(top);
			snprintf(top + l, sizeof top - l, "%s%s:%.6f", k ? ";" : "", e->field, e->cycles / b->total);
		}
		an_csv_str(out, top);
		fputc('\n', out);
	}
}

static void basis_json(FILE *out, const struct vl_rep_table *t, const struct basis_row *r, size_t n)
{
	fputs("{\"profile\": ", out);
	an_json_str(out, t->profile);
	fputs(", \"basis\": [", out);
	for (size_t i = 0; i < n; i++) {
		const struct vl_basis *b = &r[i].b;
		fprintf(out, "%s\n  {\"workload\": ", i ? "," : "");
		an_json_str(out, r[i].work);
		fputs(", \"config\": ", out);
		an_json_str(out, r[i].cf->name);
		fputs(", \"engine\": ", out);
		an_json_str(out, r[i].cf->engine);
		fputs(", \"mmu\": ", out);
		an_json_str(out, r[i].cf->mmu);
		fprintf(out, ", \"run_id\": %lld, \"attribution\": \"%s\", \"total_cycles\": ", (long long)r[i].run_id,
			vl_basis_state(b));
		an_json_num(out, b->total);
		fputs(", \"shares\": ", out);
		if (!b->nv) {
			fputs("null, \"estimated_values\": []}", out);
			continue;
		}
		fputc('{', out);
		for (int k = 0; k < VL_BASIS_NCLASS; k++)
			fprintf(out, "%s\"%s\": %.6f", k ? ", " : "", vl_basis_class_name[k],
				b->total > 0 ? b->cycles[k] / b->total : 0);
		fputs("}, \"estimated_values\": [", out);
		const struct vl_db_value *e;
		for (size_t k = 0; (e = basis_top_estimated(b, k)); k++) {
			fprintf(out, "%s{\"field\": ", k ? ", " : "");
			an_json_str(out, e->field);
			fputs(", \"cycles\": ", out);
			an_json_num(out, e->cycles);
			fprintf(out, ", \"share\": %.6f}", e->cycles / b->total);
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
}

/* A longtable (package longtable, as the paper's citations table): one row
 * per modelled result can outgrow a page. */
static void basis_latex(FILE *out, const struct vl_rep_table *t, const struct basis_row *r, size_t n)
{
	static const char head[] = "\\toprule\nworkload & configuration & sourced & derived & estimated & set & unpriced"
				   " & largest estimated value \\\\\n\\midrule\n";
	fprintf(out, "%% virtlab report --basis --format latex: profile %s, commit %s (needs \\usepackage{longtable, booktabs})\n",
		t->profile, t->commits[0] ? t->commits : "-");
	fputs("{\\small\n\\begin{longtable}{llrrrrrl}\n\\caption{What each modelled result rests on, profile ", out);
	an_tex_str(out, t->profile);
	fputs(": percent of its modelled cycles priced by sourced, derived and estimated profile values, by values "
	      "the run set itself, and unpriced (no value), with the estimated value that prices the most "
	      "(\\texttt{virtlab report --basis}; -- where the run stored no per-value cycles", out);
	bool partial = false;
	for (size_t i = 0; i < n; i++)
		partial |= r[i].b.nv && !r[i].b.exact;
	if (partial)
		fputs("; where a row sums to less than 100, the rest of its cycles is not attributed to a value", out);
	fputs(").}\\label{tab:basis-", out);
	an_tex_str(out, t->profile);
	fprintf(out, "}\\\\\n%s\\endfirsthead\n%s\\endhead\n", head, head);
	for (size_t i = 0; i < n; i++) {
		const struct vl_basis *b = &r[i].b;
		an_tex_str(out, r[i].work);
		fputs(" & ", out);
		an_tex_str(out, r[i].cf->name);
		static const int col[] = { VL_BASIS_SOURCED, VL_BASIS_DERIVED, VL_BASIS_ESTIMATED, VL_BASIS_SET,
					   VL_BASIS_UNPRICED };
		for (size_t k = 0; k < sizeof col / sizeof col[0]; k++) {
			if (b->nv && b->total > 0)
				fprintf(out, " & %.1f", 100 * b->cycles[col[k]] / b->total);
			else
				fputs(" & --", out);
		}
		fputs(" & ", out);
		const struct vl_db_value *e = basis_top_estimated(b, 0);
		if (e) {
			fputs("\\texttt{", out);
			an_tex_str(out, e->field);
			fprintf(out, "} (%.1f)", 100 * e->cycles / b->total);
		} else {
			fputs("--", out);
		}
		fputs(" \\\\\n", out);
	}
	fputs("\\bottomrule\n\\end{longtable}}\n", out);
}

int vl_rep_basis_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, int latex,
		       char *err, size_t errlen)
{
	struct basis_row *r = calloc(t->nwork * t->nconf + 1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t n = 0;
	int rc = 0;
	for (size_t w = 0; w < t->nwork && !rc; w++)
		for (size_t c = 0; c < t->nconf && !rc; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (!cell->present || !t->conf[c].model || strcmp(cell->status, "ok"))
				continue;
			r[n].work = t->work[w];
			r[n].cf = &t->conf[c];
			r[n].run_id = cell->run_id;
			rc = vl_basis_read(db, cell->run_id, &r[n].b, err, errlen);
			n++;
		}
	if (!rc) {
		if (latex)
			basis_latex(out, t, r, n);
		else if (f == VL_AN_CSV)
			basis_csv(out, t, r, n);
		else if (f == VL_AN_JSON)
			basis_json(out, t, r, n);
		else
			basis_text(out, t, r, n, f == VL_AN_MARKDOWN);
	}
	for (size_t i = 0; i < n; i++)
		vl_basis_free(&r[i].b);
	free(r);
	return rc;
}
