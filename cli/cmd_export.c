/* cmd_export.c — `virtlab export`: runs and their metrics as CSV or JSON
 * (analysis/export.c). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/results.h"

static const char export_usage[] =
	"usage: virtlab export [--format csv|json] [--profile P] [--tag T] [--commit REV] [--engine E]\n"
	"                      [--mmu M] [--workload W] [--ids N,...] [--latest] [--out FILE] [--db FILE]\n"
	"Every selected run with all its metrics.\n"
	"  csv   one tidy row per (run, metric): run_id, started, git_commit, git_dirty, tag,\n"
	"        profile, engine, mmu, workload, params, iterations, status, model, kind, name,\n"
	"        code, unit, value; kind is cycles_per_iter, cycles, event, exit_count,\n"
	"        exit_cycles, callout_count, callout_cycles (bt), hypercall_count,\n"
	"        hypercall_cycles (pv), value_cycles (name = the profile value, section.key,\n"
	"        or (none): the cycles it priced) or sample (every raw sample, code = its\n"
	"        index); a run without metrics has one row of kind run\n"
	"  json  an array of runs: every column of the run table plus cycles, events, exits,\n"
	"        callouts, hypercalls (as `run --format json`), values (cycles and class of\n"
	"        each profile value charged), samples and guest_results\n"
	"  --format F    csv (default) or json\n"
	"  --latest      only the newest run of each configuration\n"
	"  --out FILE    write to FILE instead of standard output\n"
	"  --db FILE     results database (default " VL_CLI_DB_DOC ")\n"
	"Exit status: 0 ok, 1 error, 2 bad usage.\n";

/* --out FILE: a regular file (or a new one) is written as FILE.XXXXXX
 * beside it and renamed over FILE only once the export is complete (tmp
 * holds that name); anything else (/dev/stdout, a pipe) is written
 * directly (tmp ""). NULL when it cannot be opened. */
static FILE *exp_out_open(const char *path, char *tmp, size_t n)
{
	struct stat st;
	tmp[0] = '\0';
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return fopen(path, "w");
	if ((size_t)snprintf(tmp, n, "%s.XXXXXX", path) >= n) {
		tmp[0] = '\0';
		return NULL;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		tmp[0] = '\0';
		return NULL;
	}
	mode_t um = umask(0);
	umask(um);
	FILE *f = fchmod(fd, 0666 & ~um) ? NULL : fdopen(fd, "w");   /* as fopen(path, "w") would create it */
	if (!f) {
		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
	}
	return f;
}

int cmd_export(int argc, char **argv)
{
	enum { O_FORMAT = 256, O_PROFILE, O_TAG, O_COMMIT, O_ENGINE, O_MMU, O_WORKLOAD, O_IDS, O_LATEST, O_OUT, O_DB, O_HELP };
	static const struct option opts[] = {
		{ "format", required_argument, 0, O_FORMAT }, { "profile", required_argument, 0, O_PROFILE },
		{ "tag", required_argument, 0, O_TAG }, { "commit", required_argument, 0, O_COMMIT },
		{ "engine", required_argument, 0, O_ENGINE }, { "mmu", required_argument, 0, O_MMU },
		{ "workload", required_argument, 0, O_WORKLOAD }, { "ids", required_argument, 0, O_IDS },
		{ "latest", no_argument, 0, O_LATEST }, { "out", required_argument, 0, O_OUT },
		{ "db", required_argument, 0, O_DB }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	struct vl_db_filter f = { 0 };
	const char *dbpath = vl_data_db(), *commit = NULL, *outpath = NULL;
	enum vl_an_format fmt = VL_AN_CSV;
	int64_t *ids = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE:  f.profile = optarg; break;
		case O_TAG:      f.tag = optarg; break;
		case O_COMMIT:   commit = optarg; break;
		case O_ENGINE:   f.engine = optarg; break;
		case O_MMU:      f.mmu = optarg; break;
		case O_WORKLOAD: f.workload = optarg; break;
		case O_LATEST:   f.latest = 1; break;
		case O_OUT:      outpath = optarg; break;
		case O_DB:       dbpath = optarg; break;
		case O_IDS:
			free(ids);
			if (vl_cli_parse_ids(optarg, &ids, &f.nids))
				return vl_cli_usage_error("export", "--ids: expected N[,N|N-M...], got '%s'", optarg);
			f.ids = ids;
			break;
		case O_FORMAT:
			if (vl_an_parse_format(optarg, &fmt) || (fmt != VL_AN_CSV && fmt != VL_AN_JSON)) {
				free(ids);
				return vl_cli_usage_error("export", "--format: expected csv or json, got '%s'", optarg);
			}
			break;
		case 'h':
		case O_HELP:
			free(ids);
			fputs(export_usage, stdout);
			return VL_CLI_OK;
		default:
			free(ids);
			return vl_cli_bad_option("export", argc, argv, optopt);
		}
	}
	if (optind < argc) {
		free(ids);
		return vl_cli_usage_error("export", "unexpected argument '%s' (see virtlab export --help)", argv[optind]);
	}
	if (vl_cli_need_value("export", "--out", outpath)) {
		free(ids);
		return VL_CLI_USAGE;
	}
	char hash[64];
	if (commit) {
		if (vl_cli_resolve_commit(commit, hash, sizeof hash)) {
			free(ids);
			return vl_cli_usage_error("export", "--commit: '%s' is neither a git revision here nor a hex hash prefix", commit);
		}
		f.commit = hash;
	}
	struct vl_db *db = vl_cli_db_open_read("export", dbpath);
	if (!db) {
		free(ids);
		return VL_CLI_USAGE;
	}
	if (vl_cli_check_name("export", db, "engine", f.engine) || vl_cli_check_name("export", db, "mmu", f.mmu) ||
	    vl_cli_check_name("export", db, "workload", f.workload) || vl_cli_check_name("export", db, "profile", f.profile)) {
		vl_db_close(db);
		free(ids);
		return VL_CLI_USAGE;
	}
	FILE *out = stdout;
	char tmp[4200] = "";
	if (outpath && !(out = exp_out_open(outpath, tmp, sizeof tmp))) {
		vl_db_close(db);
		free(ids);
		return vl_cli_usage_error("export", "--out: cannot write %s", outpath);
	}
	char err[512];
	int rc = VL_CLI_OK;
	if (vl_export(db, &f, fmt, out, err, sizeof err)) {
		fprintf(stderr, "virtlab export: %s\n", err);
		rc = VL_CLI_FAILED;
	}
	if (out != stdout && fclose(out) && rc == VL_CLI_OK) {
		fprintf(stderr, "virtlab export: writing %s failed\n", outpath);
		rc = VL_CLI_FAILED;
	}
	if (tmp[0] && rc == VL_CLI_OK && rename(tmp, outpath)) {
		fprintf(stderr, "virtlab export: writing %s failed: %s\n", outpath, strerror(errno));
		rc = VL_CLI_FAILED;
	}
	if (tmp[0] && rc != VL_CLI_OK)
		unlink(tmp);   /* a failed export leaves no half-written file (and an older one as it was) */
	vl_db_close(db);
	free(ids);
	return rc;
}
