/* an_util.h — helpers the files of analysis/ share: JSON and CSV escaping,
 * number formatting. Nothing outside analysis/ includes it. */
#ifndef VL_ANALYSIS_UTIL_H
#define VL_ANALYSIS_UTIL_H

#include <stdio.h>

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

/* Text escaped for LaTeX (latex.c). */
void an_tex_str(FILE *out, const char *s);

#endif
