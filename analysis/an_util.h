/* an_util.h — helpers the files of analysis/ share: JSON and CSV escaping,
 * number formatting. Nothing outside analysis/ includes it. */
#ifndef VL_ANALYSIS_UTIL_H
#define VL_ANALYSIS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct vl_db_metric;

void an_json_str(FILE *out, const char *s);     /* "..." with JSON escapes */
void an_json_num(FILE *out, double v);          /* integers without a fraction; NAN/inf as null */
/* A number in a CSV field: integers without a fraction, else the shortest
 * form that reads back exactly; NaN/inf as an empty field. */
void an_csv_num(FILE *out, double v);
void an_csv_str(FILE *out, const char *s);      /* quoted only when it must be (RFC 4180) */
void an_md_str(FILE *out, const char *s);       /* Markdown table cell: | and newlines escaped */
/* Cycles for people: "1234.5", "0.25", "12345678". */
void an_fmt_cycles(char *buf, size_t n, double v);
/* A ratio for people: "1.00x", "12.3x", "0.054x". */
void an_fmt_ratio(char *buf, size_t n, double r);

/* gnuplot -e 'fmt="FMT"' NAME.gp in dir (an_gnuplot.c); 0 when NAME.FMT
 * was written, -1 otherwise. */
int an_gnuplot(const char *gnuplot, const char *dir, const char *name, const char *fmt);
/* Keep [A-Za-z0-9_./+:()=-]; anything else becomes '_' (a name from the
 * database must not be able to say `system(...)` to gnuplot). */
void an_safe(const char *s, char *buf, size_t n);

/* The three ways into a VMM as the `metric` view names them (schema v4,
 * exit_reason.kind), in the order every output lists them: exits, bt's
 * callouts, pv's hypercalls. One table, so export, report --entries,
 * report --depends and the exits figure cannot disagree on a kind. */
struct an_entry_kind {
	const char *count, *cycles;   /* metric kinds */
	const char *key;              /* JSON key, CSV kind: "exits" ... */
	const char *word;             /* a table column: "exit reason" ... */
	const char *label;            /* before a name in a figure: "", "callout " ... */
	const char *heading;          /* report --entries text heading */
	int code;                     /* has a code worth printing (callouts: a slot only) */
};
extern const struct an_entry_kind an_entry_kinds[];
#define AN_NENTRY_KIND ((size_t)3)
/* The index in an_entry_kinds of the kind whose count metric is `kind`, or -1. */
int an_entry_kind_of(const char *kind);
/* The value of metric (kind, name, code) in m[] (the last such row), 0 when
 * there is none: the cycles of an entry beside its count. */
double an_metric_value(const struct vl_db_metric *m, size_t n, const char *kind, const char *name, int64_t code);

/* Text escaped for LaTeX (latex.c). */
void an_tex_str(FILE *out, const char *s);

#endif
