/* cmd_plot.c — `virtlab plot`: gnuplot figures from the results database
 * (analysis/plot.c). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char plot_usage[] =
	"usage: virtlab plot [FIGURE...] [--out DIR] [--figures LIST] [--profile P] [--tag T] [--commit REV]\n"
	"                    [--metric M] [--workload W] [--config C] [--size column|page|WxH] [--font N]\n"
	"                    [--db FILE] [--no-gnuplot]\n"
	"Figures from the results database, PNG and PDF, plus their data (.dat) and\n"
	"gnuplot scripts (.gp) so each can be redrawn or restyled:\n"
	"  nanobench   cycles per iteration per configuration per workload (log scale)\n"
	"  breakdown   cycles per iteration by cost category, per configuration and workload\n"
	"  exits       VM exits per iteration by vendor exit reason, per configuration and workload\n"
	"  history     one metric of one workload across commits (--metric, --workload, --config)\n"
	"  --out DIR       output directory (default results/plots)\n"
	"  FIGURE...       figures to draw, by name (the same as --figures; default: all)\n"
	"  --figures LIST  comma-separated subset of the figures above (default: all)\n"
	"  --size S        PDF size for a paper: column (3.5 in wide, one column of a two-column\n"
	"                  page), page (7 in, the full text width), or WxH in inches (e.g. 3.3x2.2);\n"
	"                  narrow figures put their legend below; PNG the same at 150 dpi\n"
	"  --font N        font size in points in the PDF (default 8)\n"
	"  --profile P, --tag T, --commit REV   run selection as for `virtlab report`\n"
	"  --metric M      history: cycles_per_iter (default), an event (e.g. exits, tlb_misses),\n"
	"                  cycles:CATEGORY (e.g. cycles:exit), exit:NAME (e.g. exit:CPUID),\n"
	"                  callout:NAME (bt, e.g. callout:SYSRET) or hypercall:NAME (pv, e.g. hypercall:iret)\n"
	"  --workload W    history: the workload (default: the first with runs)\n"
	"  --config C      history: one configuration such as svm/nested (default: all)\n"
	"  --no-gnuplot    write data and scripts only\n"
	"  --db FILE       results database (default " VL_CLI_DB_DOC ")\n"
	"Prints the path of every file it drew. Exit status: 0 ok, 1 a figure could not\n"
	"be drawn or nothing was selected, 2 bad usage.\n";

/* "nanobench,exits" -> figure bits; one usage line and -1 on a bad name. */
static int plot_add_figures(unsigned *bits, const char *list)
{
	static const struct { const char *name; unsigned bit; } figs[] = {
		{ "nanobench", VL_PLOT_NANOBENCH }, { "breakdown", VL_PLOT_BREAKDOWN },
		{ "exits", VL_PLOT_EXITS }, { "history", VL_PLOT_HISTORY },
	};
	char buf[256];
	const char *names[16];
	size_t n;
	snprintf(buf, sizeof buf, "%s", list);
	if (vl_cli_split(buf, names, 16, &n)) {
		vl_cli_usage_error("plot", "--figures: expected a comma-separated list, got '%s'", list);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *t = names[i];
		size_t k = 0;
		while (k < sizeof figs / sizeof figs[0] && strcmp(figs[k].name, t))
			k++;
		if (k == sizeof figs / sizeof figs[0]) {
			vl_cli_usage_error("plot", "unknown figure '%s' (valid: nanobench, breakdown, exits, history)", t);
			return -1;
		}
		*bits |= figs[k].bit;
	}
	return 0;
}

/* --workload and --config name a workload and a configuration (native,
 * ENGINE, or ENGINE/MMU) this build knows or the database holds: a typo is
 * bad usage, not an empty history. One line and -1, else 0. */
static int plot_check_names(struct vl_db *db, const struct vl_plot_opts *o)
{
	if (vl_cli_check_name("plot", db, "workload", o->workload))
		return -1;
	if (!o->config)
		return 0;
	char eng[64];
	const char *slash = strchr(o->config, '/');
	snprintf(eng, sizeof eng, "%.*s", slash ? (int)(slash - o->config) : (int)strlen(o->config), o->config);
	if (vl_cli_check_name("plot", db, "engine", eng) || (slash && vl_cli_check_name("plot", db, "mmu", slash + 1)))
		return -1;
	return 0;
}

int cmd_plot(int argc, char **argv)
{
	enum { O_OUT = 256, O_FIGS, O_PROFILE, O_TAG, O_COMMIT, O_METRIC, O_WORKLOAD, O_CONFIG, O_DB, O_NOGP, O_HELP,
	       O_SIZE, O_FONT };
	static const struct option opts[] = {
		{ "out", required_argument, 0, O_OUT }, { "figures", required_argument, 0, O_FIGS },
		{ "profile", required_argument, 0, O_PROFILE }, { "tag", required_argument, 0, O_TAG },
		{ "commit", required_argument, 0, O_COMMIT }, { "metric", required_argument, 0, O_METRIC },
		{ "workload", required_argument, 0, O_WORKLOAD }, { "config", required_argument, 0, O_CONFIG },
		{ "db", required_argument, 0, O_DB }, { "no-gnuplot", no_argument, 0, O_NOGP },
		{ "help", no_argument, 0, O_HELP }, { "size", required_argument, 0, O_SIZE },
		{ "font", required_argument, 0, O_FONT }, { 0, 0, 0, 0 }
	};
	struct vl_plot_opts o = { .outdir = "results/plots" };
	const char *dbpath = vl_data_db(), *commit = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
		case O_FIGS:
			if (plot_add_figures(&o.figures, optarg))
				return VL_CLI_USAGE;
			if (!o.figures)
				return vl_cli_usage_error("plot", "--figures: expected a comma-separated list");
			break;
		case O_SIZE:
			if (!strcmp(optarg, "column")) {
				o.width_in = 3.5;
			} else if (!strcmp(optarg, "page")) {
				o.width_in = 7.0;
			} else {
				char *x, *end;
				o.width_in = strtod(optarg, &x);
				if (x == optarg || (*x != 'x' && *x != 'X') || (o.height_in = strtod(x + 1, &end), *end) ||
				    !(o.width_in >= 1 && o.width_in <= 40) || !(o.height_in >= 1 && o.height_in <= 40))
					return vl_cli_usage_error("plot", "--size: expected column, page or WxH in inches "
								  "(1..40, e.g. 3.3x2.2), got '%s'", optarg);
			}
			break;
		case O_FONT: {
			uint64_t pt;
			if (vl_cli_parse_u64(optarg, &pt) || pt < 4 || pt > 48)
				return vl_cli_usage_error("plot", "--font: expected a size in points 4..48, got '%s'", optarg);
			o.font_pt = (int)pt;
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
	for (; optind < argc; optind++)   /* figures by name: `virtlab plot nanobench exits` */
		if (plot_add_figures(&o.figures, argv[optind]))
			return VL_CLI_USAGE;
	if (vl_cli_check_outdir("plot", "--out", o.outdir) || vl_cli_need_value("plot", "--metric", o.metric))
		return VL_CLI_USAGE;
	char hash[64];
	if (commit) {
		if (vl_cli_resolve_commit(commit, hash, sizeof hash))
			return vl_cli_usage_error("plot", "--commit: '%s' is neither a git revision here nor a hex hash prefix", commit);
		o.sel.commit = hash;
	}
	struct vl_db *db = vl_cli_db_open_read("plot", dbpath);
	if (!db)
		return VL_CLI_USAGE;
	if (plot_check_names(db, &o)) {
		vl_db_close(db);
		return VL_CLI_USAGE;
	}
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
