/* latex.c — the report table as a LaTeX fragment (booktabs), the table the
 * paper inputs: a row per workload, a column per configuration, cycles per
 * iteration and the ratio to native, real measurements marked. Every string
 * from the database is escaped for LaTeX. */
#include <math.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"

void an_tex_str(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '\\': fputs("\\textbackslash{}", out); break;
		case '~':  fputs("\\textasciitilde{}", out); break;
		case '^':  fputs("\\textasciicircum{}", out); break;
		case '&': case '%': case '$': case '#': case '_': case '{': case '}':
			fputc('\\', out);
			fputc(*s, out);
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, out);
		}
	}
}

void vl_rep_print_latex(FILE *out, const struct vl_rep_table *t)
{
	fprintf(out, "%% virtlab report --format latex: profile %s, %zu runs, commit %s\n", t->profile, t->nruns,
		t->commits[0] ? t->commits : "-");
	fputs("\\begin{table}[t]\n\\centering\\small\n\\begin{tabular}{l", out);
	for (size_t c = 0; c < t->nconf; c++)
		fputs("r", out);
	fputs("}\n\\toprule\nworkload", out);
	int measured = 0;
	for (size_t c = 0; c < t->nconf; c++) {
		fputs(" & ", out);
		an_tex_str(out, t->conf[c].name);
		if (!t->conf[c].model) {
			fputs("$^*$", out);
			measured = 1;
		}
	}
	fputs(" \\\\\n\\midrule\n", out);
	for (size_t w = 0; w < t->nwork; w++) {
		an_tex_str(out, t->work[w]);
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			fputs(" & ", out);
			if (!cell->present) {
				fputs("--", out);
				continue;
			}
			if (strcmp(cell->status, "ok")) {
				fputs("\\emph{", out);
				an_tex_str(out, cell->status);
				fputs("}", out);
				continue;
			}
			char cy[32], ra[32];
			an_fmt_cycles(cy, sizeof cy, cell->cycles);
			fputs(cy, out);
			if (strcmp(t->conf[c].engine, "native") && isfinite(cell->ratio)) {
				an_fmt_ratio(ra, sizeof ra, cell->ratio);
				ra[strcspn(ra, "x")] = '\0';
				fprintf(out, " (%s$\\times$)", ra);
			}
		}
		fputs(" \\\\\n", out);
	}
	fputs("\\bottomrule\n\\end{tabular}\n\\caption{Cycles per iteration (ratio to native) on profile ", out);
	an_tex_str(out, t->profile);
	fputs(", newest run of each configuration (commit ", out);
	an_tex_str(out, t->commits[0] ? t->commits : "-");
	fputs(").", out);
	if (measured)
		fputs(" $^*$Real measurement (guest RDTSC, median of the raw samples); other columns: the deterministic model.", out);
	fputs("}\n\\label{tab:report-", out);
	for (const char *p = t->profile; *p; p++)
		fputc(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", *p) ? *p : '-', out);
	fputs("}\n\\end{table}\n", out);
}
