/* cmd_report.c — `virtlab report`: the Adams–Agesen style table from the
 * results database (analysis/report.c). */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char report_usage[] =
	"usage: virtlab report [--profile P] [--tag T] [--commit REV] [--params \"k=v ...\"]\n"
	"                      [--iterations N] [--format table|csv|json|markdown|latex] [--db FILE]\n"
	"                      [--depends | --entries | --basis]\n"
	"The comparison table: a row per workload, a column per configuration (native\n"
	"first, then each engine+mmu), cycles per iteration and the ratio to native.\n"
	"Each cell is the newest run of that configuration in the selection at the\n"
	"workload's default iteration count (what `matrix` stores), else the newest\n"
	"at any count: a quick `run --iterations 10` does not replace a matrix result.\n"
	"  --profile P     profile of the runs (default " VL_DEFAULT_PROFILE ")\n"
	"  --tag T         only runs stored with --tag T\n"
	"  --commit REV    only runs of that commit (a git revision such as HEAD or main, or a hash prefix)\n"
	"  --params S      only runs with these guest params (default: runs without)\n"
	"  --iterations N  only runs of N iterations\n"
	"  --format F      table (default), csv, json, markdown, latex (a booktabs table for \\input)\n"
	"  --db FILE       results database (default " VL_CLI_DB_DOC ")\n"
	"Columns marked * are real measurements (median of the raw samples).\n"
	"--depends: after the table (text), or instead of it (json), for each modelled\n"
	"  result the profile values its cycles rest on: exactly, from the cycles the run\n"
	"  stored per profile value (\"by value\", each with its class), or, for a run\n"
	"  stored without them, the cost categories holding its cycles and the profile\n"
	"  fields charged there (\"by category\", include/virtlab/cost_fields.def).\n"
	"--entries: after the table (text, markdown), or instead of it (csv, json, latex), every\n"
	"  VMM entry of each modelled result per iteration, with the cycles each costs, under\n"
	"  its own heading: VM exits, callouts (binary translation), hypercalls (paravirtualization).\n"
	"--basis: after the table (text, markdown), or instead of it (csv, json, latex), for\n"
	"  each modelled result the share of its modelled cycles priced by sourced, derived\n"
	"  and estimated profile values, by values the run set itself (a sweep), unpriced\n"
	"  (no value: an HLT's idle wait), other (n/a, unknown) and unattributed (not covered\n"
	"  by the stored per-value cycles), and its largest estimated values; attribution\n"
	"  exact, partial, or none (a run stored without per-value cycles).\n"
	"Exit status: 0 ok, 1 no runs selected, 2 bad usage.\n";

int cmd_report(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_TAG, O_COMMIT, O_PARAMS, O_ITERS, O_FORMAT, O_DB, O_HELP, O_DEPENDS, O_ENTRIES, O_BASIS };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "tag", required_argument, 0, O_TAG },
		{ "commit", required_argument, 0, O_COMMIT }, { "params", required_argument, 0, O_PARAMS },
		{ "iterations", required_argument, 0, O_ITERS },
		{ "format", required_argument, 0, O_FORMAT }, { "db", required_argument, 0, O_DB },
		{ "help", no_argument, 0, O_HELP }, { "depends", no_argument, 0, O_DEPENDS },
		{ "entries", no_argument, 0, O_ENTRIES }, { "basis", no_argument, 0, O_BASIS }, { 0, 0, 0, 0 }
	};
	struct vl_rep_select sel = { 0 };
	const char *dbpath = vl_data_db(), *commit = NULL;
	enum vl_an_format fmt = VL_AN_TEXT;
	bool depends = false, latex = false, entries = false, basis = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE: sel.profile = optarg; break;
		case O_TAG:     sel.tag = optarg; break;
		case O_COMMIT:  commit = optarg; break;
		case O_PARAMS:  sel.params = optarg; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &sel.iterations) || !sel.iterations)
				return vl_cli_usage_error("report", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_DB:      dbpath = optarg; break;
		case O_DEPENDS: depends = true; break;
		case O_ENTRIES: entries = true; break;
		case O_BASIS:   basis = true; break;
		case O_FORMAT:
			latex = !strcmp(optarg, "latex");
			if (latex)
				fmt = VL_AN_TEXT;
			else if (vl_an_parse_format(optarg, &fmt))
				return vl_cli_usage_error("report", "--format: expected table, csv, json, markdown or latex, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(report_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("report", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("report", "unexpected argument '%s' (see virtlab report --help)", argv[optind]);
	if (depends && latex)
		return vl_cli_usage_error("report", "--depends: only with --format text or json");
	if (depends && fmt != VL_AN_TEXT && fmt != VL_AN_JSON)
		return vl_cli_usage_error("report", "--depends: only with --format text or json");
	if (depends + entries + basis > 1)
		return vl_cli_usage_error("report", "--depends, --entries and --basis exclude each other");
	char hash[64];
	if (commit) {
		if (vl_cli_resolve_commit(commit, hash, sizeof hash))
			return vl_cli_usage_error("report", "--commit: '%s' is neither a git revision here nor a hex hash prefix", commit);
		sel.commit = hash;
	}
	struct vl_db *db = vl_cli_db_open_read("report", dbpath);
	if (!db)
		return VL_CLI_USAGE;
	struct vl_rep_table t;
	char err[512];
	int rc = VL_CLI_OK;
	if (vl_rep_build(db, &sel, &t, err, sizeof err)) {
		fprintf(stderr, "virtlab report: %s\n", err);
		vl_db_close(db);
		return VL_CLI_FAILED;
	}
	struct vl_profile prof;
	if (!t.nruns && vl_profile_load(t.profile, &prof, err, sizeof err)) {
		/* nothing stored under that name, and no such profile either: a typo */
		rc = vl_cli_usage_error("report", "%s", err);
	} else if (!t.nruns) {
		fprintf(stderr, "virtlab report: no runs of profile %s%s%s%s%s in %s (run `virtlab matrix` first)\n", t.profile,
			sel.tag ? " with tag " : "", sel.tag ? sel.tag : "", commit ? " at " : "", commit ? commit : "", dbpath);
		rc = VL_CLI_FAILED;
	} else if (entries && (latex || fmt == VL_AN_JSON || fmt == VL_AN_CSV)) {
		if (vl_rep_entries_print(stdout, db, &t, fmt, latex, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
	} else if (basis && (latex || fmt == VL_AN_JSON || fmt == VL_AN_CSV)) {
		if (vl_rep_basis_print(stdout, db, &t, fmt, latex, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
	} else if (depends && fmt == VL_AN_JSON) {
		if (vl_rep_depends_print(stdout, db, &t, fmt, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
	} else {
		if (latex)
			vl_rep_print_latex(stdout, &t);
		else
			vl_rep_print(stdout, &t, fmt);
		if (depends && vl_rep_depends_print(stdout, db, &t, fmt, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
		if (entries && vl_rep_entries_print(stdout, db, &t, fmt, 0, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
		if (basis && vl_rep_basis_print(stdout, db, &t, fmt, 0, err, sizeof err)) {
			fprintf(stderr, "virtlab report: %s\n", err);
			rc = VL_CLI_FAILED;
		}
	}
	vl_rep_free(&t);
	vl_db_close(db);
	return rc;
}
