/* cmd_plot.c — `virtlab plot`: gnuplot figures from the results database
 * (analysis/plot.c). */
#include <getopt.h>
#include <string.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char plot_usage[] =
	"usage: virtlab plot [--out DIR] [--figures LIST] [--profile P] [--tag T] [--commit REV]\n"
	"                    [--metric M] [--workload W] [--config C] [--db FILE] [--no-gnuplot]\n"
	"Figures from the results database, PNG and PDF, plus their data (.dat) and\n"
	"gnuplot scripts (.gp) so each can be redrawn or restyled:\n"
	"  nanobench   cycles per iteration per configuration per workload (log scale)\n"
	"  breakdown   cycles per iteration by cost category, per configuration and workload\n"
	"  exits       VM exits per iteration by vendor exit reason, per configuration and workload\n"
	"  history     one metric of one workload across commits (--metric, --workload, --config)\n"
	"  --out DIR       output directory (default results/plots)\n"
	"  --figures LIST  comma-separated subset of the figures above (default: all)\n"
	"  --profile P, --tag T, --commit REV   run selection as for `virtlab report`\n"
	"  --metric M      history: cycles_per_iter (default), an event (e.g. exits, tlb_misses),\n"
	"                  cycles:CATEGORY (e.g. cycles:exit), or exit:NAME (e.g. exit:CPUID)\n"
	"  --workload W    history: the workload (default: the first with runs)\n"
	"  --config C      history: one configuration such as svm/nested (default: all)\n"
	"  --no-gnuplot    write data and scripts only\n"
	"  --db FILE       results database (default " VL_CLI_DB_DOC ")\n"
	"Prints the path of every file it drew. Exit status: 0 ok, 1 a figure could not\n"
	"be drawn or nothing was selected, 2 bad usage.\n";

int cmd_plot(int argc, char **argv)
{
	enum { O_OUT = 256, O_FIGS, O_PROFILE, O_TAG, O_COMMIT, O_METRIC, O_WORKLOAD, O_CONFIG, O_DB, O_NOGP, O_HELP };
	static const struct option opts[] = {
		{ "out", required_argument, 0, O_OUT }, { "figures", required_argument, 0, O_FIGS },
		{ "profile", required_argument, 0, O_PROFILE }, { "tag", required_argument, 0, O_TAG },
		{ "commit", required_argument, 0, O_COMMIT }, { "metric", required_argument, 0, O_METRIC },
		{ "workload", required_argument, 0, O_WORKLOAD }, { "config", required_argument, 0, O_CONFIG },
		{ "db", required_argument, 0, O_DB }, { "no-gnuplot", no_argument, 0, O_NOGP },
		{ "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	static const struct { const char *name; unsigned bit; } figs[] = {
		{ "nanobench", VL_PLOT_NANOBENCH }, { "breakdown", VL_PLOT_BREAKDOWN },
		{ "exits", VL_PLOT_EXITS }, { "history", VL_PLOT_HISTORY },
	};
	struct vl_plot_opts o = { .outdir = "results/plots" };
	const char *dbpath = vl_data_db(), *commit = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_OUT:      o.outdir = optarg; break;
		case O_PROFILE:  o.sel.profile = optarg; break;
		case O_TAG:      o.sel.tag = optarg; break;
		case O_COMMIT:   commit = optarg; break;
		case O_METRIC:   o.metric = optarg; break;
		case O_WORKLOAD: o.workload = optarg; break;
		case O_CONFIG:   o.config = optarg; break;
		case O_DB:       dbpath = optarg; break;
		case O_NOGP:     o.gnuplot = ""; break;
		case O_FIGS: {
			char buf[256];
			snprintf(buf, sizeof buf, "%s", optarg);
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				size_t k = 0;
				while (k < sizeof figs / sizeof figs[0] && strcmp(figs[k].name, t))
					k++;
				if (k == sizeof figs / sizeof figs[0])
					return vl_cli_usage_error("plot", "unknown figure '%s' (valid: nanobench, breakdown, exits, history)", t);
				o.figures |= figs[k].bit;
			}
			if (!o.figures)
				return vl_cli_usage_error("plot", "--figures: expected a comma-separated list");
			break;
		}
		case 'h':
		case O_HELP:
			fputs(plot_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("plot", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("plot", "unexpected argument '%s' (see virtlab plot --help)", argv[optind]);
	char hash[64];
	if (commit) {
		if (vl_cli_resolve_commit(commit, hash, sizeof hash))
			return vl_cli_usage_error("plot", "--commit: '%s' is neither a git revision here nor a hex hash prefix", commit);
		o.sel.commit = hash;
	}
	struct vl_db *db = vl_cli_db_open_read("plot", dbpath);
	if (!db)
		return VL_CLI_USAGE;
	char err[512];
	int rc = vl_plot(db, &o, stdout, err, sizeof err);
	vl_db_close(db);
	struct vl_profile prof;
	char perr[512];
	if (rc < 0 && strstr(err, "no runs selected") && vl_profile_load(o.sel.profile ? o.sel.profile : VL_DEFAULT_PROFILE,
									    &prof, perr, sizeof perr))
		return vl_cli_usage_error("plot", "%s", perr);   /* not a stored profile and no such profile: a typo */
	if (rc < 0) {
		fprintf(stderr, "virtlab plot: %s\n", err);
		return VL_CLI_FAILED;
	}
	return rc ? VL_CLI_FAILED : VL_CLI_OK;
}
