/* an_util.c — output helpers shared by analysis/ (escaping, number
 * formats), configuration names and the order tables and figures use. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"
#include "virtlab/results.h"

const struct an_entry_kind an_entry_kinds[AN_NENTRY_KIND] = {
	{ "exit_count", "exit_cycles", "exits", "exit reason", "",
	  "VM exits (vendor exit reason, or the VMM's own trap)", 1 },
	{ "callout_count", "callout_cycles", "callouts", "callout", "callout ",
	  "Callouts from translated code (binary translation)", 0 },
	{ "hypercall_count", "hypercall_cycles", "hypercalls", "hypercall", "hypercall ",
	  "Hypercalls (paravirtualization)", 1 },
};

int an_entry_kind_of(const char *kind)
{
	for (size_t k = 0; k < AN_NENTRY_KIND; k++)
		if (!strcmp(kind, an_entry_kinds[k].count))
			return (int)k;
	return -1;
}

double an_metric_value(const struct vl_db_metric *m, size_t n, const char *kind, const char *name, int64_t code)
{
	double v = 0;
	for (size_t j = 0; j < n; j++)
		if (!strcmp(m[j].kind, kind) && m[j].code == code && !strcmp(m[j].name, name))
			v = m[j].value;
	return v;
}

int vl_an_parse_format(const char *s, enum vl_an_format *f)
{
	static const struct { const char *name; enum vl_an_format f; } fmts[] = {
		{ "table", VL_AN_TEXT }, { "text", VL_AN_TEXT }, { "csv", VL_AN_CSV }, { "json", VL_AN_JSON },
		{ "markdown", VL_AN_MARKDOWN }, { "md", VL_AN_MARKDOWN },
	};
	for (size_t i = 0; s && i < sizeof fmts / sizeof fmts[0]; i++)
		if (!strcmp(s, fmts[i].name)) {
			*f = fmts[i].f;
			return 0;
		}
	return -1;
}

void an_json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as exactly v:
 * 165.89 rather than 165.88999999999999, and still no value changed. */
static void an_shortest(char *buf, size_t n, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

void an_json_num(FILE *out, double v)
{
	char buf[40];
	if (!isfinite(v)) {
		fputs("null", out);
	} else if (v == floor(v) && fabs(v) < 9e15) {
		fprintf(out, "%.0f", v);
	} else {
		an_shortest(buf, sizeof buf, v);
		fputs(buf, out);
	}
}

void an_csv_num(FILE *out, double v)
{
	char buf[40];
	if (!isfinite(v))
		return;   /* an empty field */
	if (v == floor(v) && fabs(v) < 9e15) {
		fprintf(out, "%.0f", v);
		return;
	}
	an_shortest(buf, sizeof buf, v);
	fputs(buf, out);
}

void an_csv_str(FILE *out, const char *s)
{
	s = s ? s : "";
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void an_md_str(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

void an_fmt_cycles(char *buf, size_t n, double v)
{
	if (!isfinite(v))
		snprintf(buf, n, "-");
	else if (fabs(v) >= 1e6)
		snprintf(buf, n, "%.0f", v);
	else if (fabs(v) >= 1 || v == 0)
		snprintf(buf, n, "%.1f", v);
	else
		snprintf(buf, n, "%.3g", v);
}

void an_fmt_ratio(char *buf, size_t n, double r)
{
	if (!isfinite(r))
		snprintf(buf, n, "-");
	else if (r >= 10)
		snprintf(buf, n, "%.1fx", r);
	else if (r >= 0.1)
		snprintf(buf, n, "%.2fx", r);
	else
		snprintf(buf, n, "%.3fx", r);
}

/* ---- configuration names and order ---- */

void vl_an_config_name(const char *engine, const char *mmu, char *buf, size_t n)
{
	if (!strcmp(engine, "native") || !strcmp(mmu, "none") || !strcmp(mmu, "native") || !*mmu)
		snprintf(buf, n, "%s", engine);
	else
		snprintf(buf, n, "%s/%s", engine, mmu);
}

static int an_rank(const char *name, const char *const *order, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, order[i]))
			return (int)i;
	return (int)n;
}

int vl_an_config_cmp(const char *e1, const char *m1, const char *e2, const char *m2)
{
	/* the 2006 comparison's order: native, software VMM, hardware VMMs, paravirtual */
	static const char *const engines[] = { "native", "bt", "vtx", "svm", "pv" };
	static const char *const mmus[] = { "native", "shadow", "nested", "direct", "none" };
	int r1 = an_rank(e1, engines, 5), r2 = an_rank(e2, engines, 5);
	if (r1 != r2)
		return r1 - r2;
	int c = strcmp(e1, e2);
	if (c)
		return c;
	int q1 = an_rank(m1, mmus, 5), q2 = an_rank(m2, mmus, 5);
	if (q1 != q2)
		return q1 - q2;
	return strcmp(m1, m2);
}

int vl_an_workload_cmp(const char *w1, const char *w2)
{
	static const char *const order[] = {
#define W(name, iters, desc) #name,
#include "virtlab/workloads.def"
#undef W
	};
	size_t n = sizeof order / sizeof order[0];
	int r1 = an_rank(w1, order, n), r2 = an_rank(w2, order, n);
	return r1 != r2 ? r1 - r2 : strcmp(w1, w2);
}
