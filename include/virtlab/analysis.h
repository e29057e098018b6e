/* analysis.h — reports, regression comparison, plots and export, all read
 * from the results database only (analysis/). The CLI's report, compare,
 * plot and export subcommands are thin wrappers over these.
 */
#ifndef VIRTLAB_ANALYSIS_H
#define VIRTLAB_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "virtlab/results.h"

enum vl_an_format { VL_AN_TEXT, VL_AN_CSV, VL_AN_JSON, VL_AN_MARKDOWN };
/* "table" (or "text", its old name), "csv", "json", "markdown" (or "md"). 0 or -1. */
int vl_an_parse_format(const char *s, enum vl_an_format *f);

/* ---- statistics (analysis/stats.c) ---- */
double vl_stats_median(const double *v, size_t n);          /* NAN when n == 0 */
double vl_stats_mean(const double *v, size_t n);
double vl_stats_stddev(const double *v, size_t n);          /* sample (n - 1) */
/* Two-sided Mann–Whitney U test of x against y (ties get mid-ranks).
 * Exact (enumeration of every assignment of the pooled ranks, ties
 * included) when C(nx+ny, nx) <= 200000, else the normal approximation
 * with tie correction and continuity correction. *u = U statistic of x.
 * Returns the p-value, or NAN when either side is empty. */
double vl_stats_mann_whitney(const double *x, size_t nx, const double *y, size_t ny, double *u);

/* ---- configurations: names and the order reports use ---- */
/* "native" for the native engine; the engine alone when its mmu is "none"
 * (external engines) or "native"; else "engine/mmu". */
void vl_an_config_name(const char *engine, const char *mmu, char *buf, size_t n);
/* Order: native, then bt, vtx, svm, pv (mmu: shadow, nested, direct),
 * then any other engine (qemu-*) by name. <0, 0, >0 like strcmp. */
int vl_an_config_cmp(const char *e1, const char *m1, const char *e2, const char *m2);
/* Workload order of workloads.def; unknown names after, by name. */
int vl_an_workload_cmp(const char *w1, const char *w2);

/* ---- the report table (analysis/report.c) ---- */
struct vl_rep_cell {
	int present;               /* a run exists for this (workload, config) */
	int64_t run_id;
	char status[16];
	double cycles;             /* cycles per iteration (ok runs) */
	double ratio;              /* cycles / native cycles of the workload; NAN without native */
	size_t nsamples;           /* raw samples behind a real measurement */
	uint64_t iterations;       /* of the run shown */
	char profile_sha256[65];   /* effective profile of the run ("" unknown) */
};
struct vl_rep_config {
	char name[72], engine[32], mmu[32];
	int model;                 /* 1: model counters; 0: real measurement */
};
struct vl_rep_table {
	size_t nconf, nwork;
	struct vl_rep_config *conf;
	char (*work)[32];
	struct vl_rep_cell *cell;  /* cell[w * nconf + c] */
	size_t nruns;
	char profile[64];
	char commits[256];         /* distinct commits of the runs (short, +dirty) */
	uint64_t mhz;              /* the profile's clock (from the stored profile text), 0 unknown */
};
struct vl_rep_select {
	const char *profile;       /* NULL = VL_DEFAULT_PROFILE */
	const char *tag;
	const char *commit;        /* full hash or prefix */
	const char *params;        /* NULL = runs without params ("") */
	uint64_t iterations;       /* 0: prefer runs at the workload's default iteration count */
};
/* One run per (engine, mmu, workload) in the selection: with `iterations`,
 * the newest run at that count; without, the newest run at the workload's
 * default count (what `matrix` stores), else the newest at any count — so a
 * quick `run --iterations 10` does not replace a matrix result. 0 or -1. */
int vl_rep_build(struct vl_db *db, const struct vl_rep_select *sel, struct vl_rep_table *t, char *err, size_t errlen);
void vl_rep_free(struct vl_rep_table *t);
void vl_rep_print(FILE *out, const struct vl_rep_table *t, enum vl_an_format f);

/* ---- regression comparison (analysis/compare.c) ---- */
enum vl_cmp_verdict {
	VL_CMP_SAME,               /* deterministic and identical */
	VL_CMP_CHANGED,            /* a deterministic counter changed (information) */
	VL_CMP_IMPROVED,           /* cost down beyond the threshold (and significant if measured) */
	VL_CMP_REGRESSED,          /* cost up beyond the threshold (and significant if measured) */
	VL_CMP_WITHIN,             /* cost changed, but less than the threshold */
	VL_CMP_NOT_SIGNIFICANT,    /* measured: Mann–Whitney p >= alpha */
	VL_CMP_TOO_FEW,            /* measured: too few samples to tell */
	VL_CMP_ONLY_BASE, VL_CMP_ONLY_HEAD,
	VL_CMP_PROFILE,            /* a profile value (or the guest image) differs: the cause of the changes */
};
extern const char *const vl_cmp_verdict_name[];

struct vl_cmp_entry {
	char config[72], workload[32], profile[64];
	uint64_t iterations;
	char kind[24];             /* cycles_per_iter | cycles | event | exit_/callout_/hypercall_count|cycles | sample */
	char name[48];
	int64_t code;              /* vendor exit code, or -1 */
	int model;
	double base, head;         /* values (measured: medians) */
	double rel;                /* (head - base) / base; NAN when base == 0 */
	double p;                  /* measured: Mann–Whitney p; NAN otherwise */
	size_t nbase, nhead;       /* samples (measured) */
	enum vl_cmp_verdict verdict;
	char vbase[100], vhead[100];   /* kind "profile" / "guest": the values as text */
	int input_changed;         /* this configuration ran with a different profile or guest at HEAD */
};
struct vl_cmp_opts {
	double threshold;          /* relative cost change that counts, e.g. 0.05 */
	double alpha;              /* significance level for measured samples, e.g. 0.05 */
	const char *profile;       /* NULL = every profile */
	size_t limit;              /* text/markdown: rows shown besides regressions (0 = all) */
};
struct vl_cmp_result {
	struct vl_cmp_entry *e;
	size_t n;
	size_t nkeys, nsame, nregressed, nimproved, nchanged;
	char base_label[160], head_label[160];
	char warnings[1024];       /* e.g. nondeterminism: runs of one side disagree */
	size_t ninput;             /* paired configurations whose profile or guest differs */
	char inputs[512];          /* what differs, e.g. "insn.load 4 -> 5; guest image" */
};
/* Compare the runs selected by base and head. Configurations are paired by
 * (profile, engine, mmu, workload, params, iterations). 0, or -1 with err
 * (e.g. a side selects no runs). */
int vl_cmp_run(struct vl_db *db, const struct vl_db_filter *base, const char *base_label,
	       const struct vl_db_filter *head, const char *head_label, const struct vl_cmp_opts *o,
	       struct vl_cmp_result *r, char *err, size_t errlen);
void vl_cmp_print(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o, enum vl_an_format f);
void vl_cmp_free(struct vl_cmp_result *r);

/* ---- export (analysis/export.c) ---- */
/* csv: one tidy row per (run, metric) — run identity, then kind, name,
 * code, unit, value; every raw sample is a row. json: an array of run
 * objects with every column of `run` and nested cycles, events, exits,
 * samples, guest_results. 0 or -1. */
int vl_export(struct vl_db *db, const struct vl_db_filter *f, enum vl_an_format fmt, FILE *out, char *err, size_t errlen);

/* ---- plots (analysis/plot.c) ---- */
enum {
	VL_PLOT_NANOBENCH = 1u << 0,   /* log-scale grouped bars: cycles/iteration per config per workload */
	VL_PLOT_BREAKDOWN = 1u << 1,   /* stacked cycles by category per config, one panel per workload */
	VL_PLOT_EXITS     = 1u << 2,   /* stacked exits per iteration by reason, one panel per config */
	VL_PLOT_HISTORY   = 1u << 3,   /* a metric across commits */
	VL_PLOT_ALL       = 0xf,
};
struct vl_plot_opts {
	struct vl_rep_select sel;
	const char *outdir;
	unsigned figures;
	const char *metric;        /* history: "cycles_per_iter" (default), an event, "cycles:<category>", "exit:<NAME>", "callout:<NAME>", "hypercall:<NAME>" */
	const char *workload;      /* history: default the first workload with data */
	const char *config;        /* history: one configuration name, or NULL = every configuration */
	const char *gnuplot;       /* program; NULL = "gnuplot"; "" = write data and scripts only */
	/* Figures for papers: the PDF at this size in inches (0 = sized to
	 * the data) and font in points (0 = 8); a narrow figure (under 5 in)
	 * puts its legend below the plot so it fits. PNG: the same at 150 dpi. */
	double width_in, height_in;
	int font_pt;
};
/* Write data files and .gp scripts into outdir and run gnuplot on them;
 * each produced file is named on `log`, one per line. 0; 1 when a figure
 * could not be drawn (reason on log); -1 with err on a hard error. */
int vl_plot(struct vl_db *db, const struct vl_plot_opts *o, FILE *log, char *err, size_t errlen);

/* ---- what a result depends on (analysis/depends.c) ---- */
/* Cost category -> the profile fields charged there (cost_fields.def). */
struct vl_cost_fields { const char *category, *fields, *doc; };
extern const struct vl_cost_fields vl_cost_fields[];
extern const size_t vl_cost_fields_count;
const char *vl_cost_fields_of(const char *category);   /* NULL if unknown */
/* The handler value an exit `reason` of `engine` charges besides
 * vmm.exit_dispatch (a hardware-assist vendor's exit, or a software VMM's
 * trap slot), as profile fields; "vmm.emulate" when no word matches. */
const char *vl_dep_exit_handler(const char *engine, const char *reason);
/* For every model cell of t with an ok run: the cost categories holding at
 * least 1% of its cycles, largest first, each with its profile fields, and
 * the run's most frequent exit reasons (text), or every category's share
 * (JSON: one object). 0, or -1 with err. */
int vl_rep_depends_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, char *err,
			 size_t errlen);


/* ---- mode selection (analysis/advise.c) ---- */
/* A workload mix: weights w_i over workloads; a mix's cost in a
 * configuration is sum_i w_i * cycles_i / native_i (the slowdown of a job
 * that spends fraction w_i of its native time in workload i), so the
 * weights need native runs. Weights are normalised to sum 1. */
#define VL_ADV_MAX_MIX 32
struct vl_adv_mix {
	size_t n;
	char work[VL_ADV_MAX_MIX][32];
	double w[VL_ADV_MAX_MIX];
};
/* "forkwait=0.3,compute=0.7" -> mix (names not checked here). 0, or -1
 * with a one-line reason (a weight that does not parse, is negative or not
 * finite, a duplicate, no positive weight). */
int vl_adv_parse_mix(const char *s, struct vl_adv_mix *m, char *err, size_t errlen);

/* A configuration the caller expects (the CLI: every engine x MMU the
 * registry would run for the profile, as `matrix` plans it). */
struct vl_adv_conf { char engine[32], mmu[32]; };

/* One decision: a workload (or "mix") on a profile. */
struct vl_adv_row {
	char profile[64], workload[32];
	int decided;               /* every expected configuration has an ok run */
	char best[72], runner[72]; /* configuration names; runner "" with one candidate */
	char best_engine[32], best_mmu[32];
	double best_cost, runner_cost;   /* cycles/iteration; a mix: slowdown vs native */
	double margin;             /* (runner - best) / best; NAN without a runner-up */
	char category[16];         /* the cost category where the runner-up loses most */
	double category_delta;     /* runner - best in that category (same unit as cost) */
	size_t ncand;              /* configurations compared */
	char missing[512];         /* configurations without a stored run, ", "-joined (for people) */
	/* the same, structurally (for `advise --run`): each run that is not
	 * stored, on this row's profile; iterations 0 = the workload's default */
#define VL_ADV_MAX_NEED 64
	struct vl_adv_need { char engine[32], mmu[32], workload[32]; uint64_t iterations; } need[VL_ADV_MAX_NEED];
	size_t nneed;
	size_t need_dropped;       /* more missing runs than need[] holds */
	char failed[512];          /* configurations whose newest run was not ok */
	int64_t best_run, runner_run;   /* run ids (0 for a mix) */
};
struct vl_adv_opts {
	struct vl_rep_select sel;  /* profile, tag, commit, params, iterations (as report) */
	const struct vl_adv_conf *expect; size_t nexpect;   /* NULL: the stored model configurations */
	const char *const *workloads; size_t nwork;         /* NULL: every workload stored */
	const struct vl_adv_mix *mix;                       /* a mix instead of per-workload rows */
};
/* Rows for one profile appended to *rows (realloc'ed; *n updated). The
 * native engine is the baseline, never a candidate; only model runs are
 * candidates (a real measurement has no cost categories). 0, or -1 + err. */
int vl_adv_build(struct vl_db *db, const struct vl_adv_opts *o, struct vl_adv_row **rows, size_t *n, char *err,
		 size_t errlen);
void vl_adv_print(FILE *out, const struct vl_adv_row *rows, size_t n, enum vl_an_format f);
/* The mode map (profiles x workloads, each cell coloured by the best
 * configuration, labelled with it and the margin) as modemap.dat,
 * modemap.gp and, with gnuplot (NULL = "gnuplot", "" = none), PNG and PDF,
 * into dir; each image written is named on log. 0, 1 when gnuplot failed,
 * -1 + err. */
int vl_adv_modemap(const struct vl_adv_row *rows, size_t n, const char *dir, const char *gnuplot, FILE *log,
		   char *err, size_t errlen);


/* ---- parameter sweeps (analysis/sweep.c) ---- */
/* Where curves a and b, sampled at the same ascending x[0..n), cross: each
 * sign change of a - b, interpolated linearly (in log x when logx and both
 * ends are > 0); a run of points where they are equal counts once, at its
 * first point; curves equal everywhere do not cross. Up to cap crossings
 * into out (and, when dir is not NULL, dir[k] = -1 when a is the cheaper one
 * below the crossing, +1 when b is, 0 for a touch). Returns how many. */
size_t vl_sweep_crossings(const double *x, const double *a, const double *b, size_t n, int logx, double *out,
			  int *dir, size_t cap);

/* A sweep's runs are stored with profile label "BASE:section.key=VALUE"
 * (the derived profile itself, in full, in profile_version) and tag
 * "sweep:ID". */
struct vl_sweep_curve {
	char config[72], engine[32], mmu[32], workload[32];
	double *y;                 /* cycles/iteration at each value; NAN when missing or not ok */
};
struct vl_sweep_cross {
	char workload[32], a[72], b[72];
	double x;
	int dir;                   /* -1: a cheaper below x; +1: b cheaper below x; 0: touch */
};
struct vl_sweep_data {
	char base[64], param[64], tag[128];
	int logx;
	size_t nx, ncurve, ncross;
	double *x;                 /* the values, ascending */
	struct vl_sweep_curve *c;  /* workload order, then report configuration order */
	struct vl_sweep_cross *cross;
};
/* Read the ok model runs of tag whose profile label is BASE:param=VALUE,
 * newest per (configuration, workload, value), into curves, and compute the
 * crossovers of every pair of configurations of each workload. logx: the
 * sweep was logarithmic (interpolate in log x). 0, or -1 + err (no runs). */
int vl_sweep_load(struct vl_db *db, const char *tag, const char *base, const char *param, int logx,
		  struct vl_sweep_data *d, char *err, size_t errlen);
void vl_sweep_free(struct vl_sweep_data *d);
/* Per workload a table (value x configuration), then the crossovers. */
void vl_sweep_print(FILE *out, const struct vl_sweep_data *d, enum vl_an_format f);
/* sweep.dat / sweep.gp (+ .png/.pdf with gnuplot; NULL = "gnuplot", "" =
 * none) in dir: cycles per iteration against the parameter, a panel per
 * workload, a line per configuration, crossovers marked. 0, 1 when gnuplot
 * failed, -1 + err. */
int vl_sweep_plot(const struct vl_sweep_data *d, const char *dir, const char *gnuplot, FILE *log, char *err,
		  size_t errlen);

/* Every VMM entry of each ok model cell of t, per iteration and with the
 * cycles each costs, under its own heading: VM exits, callouts (bt),
 * hypercalls (pv) — exit_reason.kind (analysis/entries.c, `report
 * --entries`). Text or markdown (a section per kind that occurs), CSV,
 * JSON ({"profile", "exits": [...], "callouts": [...], "hypercalls": [...]}),
 * or with latex a booktabs table per kind that occurs (the paper's entry
 * tables, tab:exits-P, tab:callouts-P, tab:hypercalls-P). 0, or -1 + err. */
int vl_rep_entries_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, int latex,
			 char *err, size_t errlen);

/* ---- what a result rests on (analysis/basis.c, `report --basis`) ---- */
/* A run's modelled cycles (the sum of its cost categories) split by the
 * class of the profile value that priced them (results.h value_cycles,
 * schema v5): sourced, derived, estimated; set (a value the run changed,
 * a sweep's); unpriced (no value priced them: an HLT's idle wait); other
 * (a value stored as n/a or unknown); unattributed (cycles the stored
 * values do not cover). The seven sum to `total`. */
enum { VL_BASIS_SOURCED, VL_BASIS_DERIVED, VL_BASIS_ESTIMATED, VL_BASIS_SET, VL_BASIS_UNPRICED, VL_BASIS_OTHER,
       VL_BASIS_UNATTRIBUTED, VL_BASIS_NCLASS };
extern const char *const vl_basis_class_name[VL_BASIS_NCLASS];
struct vl_basis {
	double total;                       /* modelled cycles of the run */
	double cycles[VL_BASIS_NCLASS];
	struct vl_db_value *v;              /* the stored values, largest first (malloc'ed) */
	size_t nv;                          /* 0: the run stored no per-value cycles */
	int exact;                          /* values cover every modelled cycle, some priced by a value */
};
/* Read run_id's basis. 0, or -1 + err. Free with vl_basis_free. */
int vl_basis_read(struct vl_db *db, int64_t run_id, struct vl_basis *b, char *err, size_t errlen);
void vl_basis_free(struct vl_basis *b);
/* "exact", "partial" (values stored, but not covering every cycle, or
 * none priced), "none" (no per-value cycles stored). */
const char *vl_basis_state(const struct vl_basis *b);
/* For every ok model cell of t: the shares of its modelled cycles by
 * class and its largest estimated values. Text or markdown, CSV (one row
 * per cell; shares as fractions, empty without values), JSON ({"profile",
 * "basis": [...]}), or with latex a booktabs table (tab:basis-P, the
 * paper's). 0, or -1 + err. */
int vl_rep_basis_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, int latex,
		       char *err, size_t errlen);

/* The report table as a LaTeX fragment (booktabs table environment, for
 * \input; analysis/latex.c): `report --format latex`, the paper's table. */
void vl_rep_print_latex(FILE *out, const struct vl_rep_table *t);

#endif
