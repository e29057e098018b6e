/* cmd_advise.c — `virtlab advise`: mode selection. For each workload (or a
 * weighted mix) and profile, the engine x MMU with the fewest cycles, the
 * runner-up, the margin and the deciding cost category (analysis/advise.c);
 * optionally the mode map figure. The candidates are every configuration
 * the registry would run for the profile (as `matrix` plans it), so a
 * configuration never run is reported missing, not silently left out;
 * `--run` runs the missing ones through `matrix` first. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char advise_usage[] =
	"usage: virtlab advise [--profile P[,P...] | --all] [--workloads W,... | --mix \"W=WEIGHT,...\"]\n"
	"                      [--engines E,...] [--run [-j N]] [--map DIR] [--format text|csv|json|markdown]\n"
	"                      [--db FILE] [--tag T]\n"
	"Mode selection: for each workload and profile, the engine x MMU with the fewest cycles per\n"
	"iteration, the runner-up, the margin ((runner-up - best) / best) and the cost category in\n"
	"which the runner-up loses most. Native is the baseline, never a candidate. The candidates are\n"
	"every model configuration this build would run for the profile (as `matrix` plans it); one\n"
	"with no stored run is listed as missing and the row is undecided — never guessed.\n"
	"  --profile P,...   profiles (default " VL_DEFAULT_PROFILE "); --all: every shipped profile\n"
	"  --workloads W,... workloads (default: every workload `matrix` runs)\n"
	"  --mix S           one weighted mix instead, e.g. forkwait=0.3,compute=0.7: the cost of a\n"
	"                    configuration is sum(weight x cycles / native cycles), the slowdown of a job\n"
	"                    spending that fraction of its native time in each workload (weights normalised)\n"
	"  --engines E,...   only these engines as candidates (trap only when named)\n"
	"  --run             run the missing configurations (through `matrix`, stored in --db) first\n"
	"  -j N              parallel runs for --run (default 1)\n"
	"  --map DIR         also write the mode map (modemap.dat/.gp/.png/.pdf) into DIR\n"
	"  --format F        text (default), csv, json, markdown\n"
	"  --db FILE         results database (default " VL_CLI_DB_DOC ")\n"
	"  --tag T           only runs stored with --tag T (and --run stores with it)\n"
	"Exit status: 0 every row decided, 1 a row undecided (missing runs, none ok), 2 bad usage.\n";

#define ADV_MAX 64

/* Is name an item of the comma-separated list? */
static bool adv_listed(const char *list, const char *name)
{
	size_t l = strlen(name);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, ",");
		if (k == l && !strncmp(p, name, l))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

/* Run the runs rows[] lack (their need[]: engine, mmu, workload,
 * iterations, on the row's profile — matched structurally, never by the
 * text of `missing`) through `matrix`, one matrix per (profile, engine,
 * mmu, iterations) with its workloads; matrix output on stderr, so stdout
 * stays the advice. Returns 0, or a CLI status. */
static int adv_run_missing(const struct vl_adv_row *rows, size_t nrows, const char *dbpath, const char *tag,
			   const char *jobs)
{
	size_t total = 0;
	for (size_t r = 0; r < nrows; r++)
		total += rows[r].nneed;
	bool *done = calloc(total + 1, sizeof *done);
	if (!done)
		return vl_cli_usage_error("advise", "out of memory");
	/* flatten: need i of row r is done[base[r] + i] */
	size_t at = 0;
	int rc = 0;
	for (size_t r = 0; r < nrows && !rc; r++) {
		for (size_t i = 0; i < rows[r].nneed && !rc; i++, at++) {
			if (done[at])
				continue;
			const struct vl_adv_need *x = &rows[r].need[i];
			char works[2048] = "";
			/* every need of the same (profile, engine, mmu, iterations), in any row */
			size_t at2 = at;
			for (size_t r2 = r; r2 < nrows; r2++)
				for (size_t j = r2 == r ? i : 0; j < rows[r2].nneed; j++, at2++) {
					const struct vl_adv_need *y = &rows[r2].need[j];
					if (done[at2] || strcmp(rows[r2].profile, rows[r].profile) || strcmp(y->engine, x->engine) ||
					    strcmp(y->mmu, x->mmu) || y->iterations != x->iterations)
						continue;
					done[at2] = true;
					/* a workload once (several rows may lack the same run) */
					if (!adv_listed(works, y->workload)) {
						size_t wl = strlen(works);
						snprintf(works + wl, sizeof works - wl, "%s%s", wl ? "," : "", y->workload);
					}
				}
			char iters[32];
			snprintf(iters, sizeof iters, "%llu", (unsigned long long)x->iterations);
			char *argv[20];
			int argc = 0;
			argv[argc++] = "matrix";
			argv[argc++] = "--profile";   argv[argc++] = (char *)rows[r].profile;
			argv[argc++] = "--engines";   argv[argc++] = (char *)x->engine;
			argv[argc++] = "--mmus";      argv[argc++] = (char *)x->mmu;
			argv[argc++] = "--workloads"; argv[argc++] = works;
			argv[argc++] = "--db";        argv[argc++] = (char *)dbpath;
			argv[argc++] = "-j";          argv[argc++] = (char *)jobs;
			if (x->iterations) {
				argv[argc++] = "--iterations";
				argv[argc++] = iters;
			}
			if (tag) {
				argv[argc++] = "--tag";
				argv[argc++] = (char *)tag;
			}
			argv[argc] = NULL;
			char name[72];
			vl_an_config_name(x->engine, x->mmu, name, sizeof name);
			fprintf(stderr, "advise: running %s on %s (%s)\n", name, works, rows[r].profile);
			fflush(stdout);
			int saved = dup(1);
			if (saved < 0 || dup2(2, 1) < 0) {
				rc = vl_cli_usage_error("advise", "cannot redirect matrix output");
				break;
			}
			int mrc = cmd_matrix(argc, argv);
			fflush(stdout);
			dup2(saved, 1);
			close(saved);
			if (mrc == VL_CLI_USAGE)
				rc = mrc;
		}
	}
	free(done);
	return rc;
}

int cmd_advise(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_ALL, O_WORK, O_MIX, O_ENG, O_RUN, O_MAP, O_FORMAT, O_DB, O_TAG, O_HELP };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "profiles", required_argument, 0, O_PROFILE },
		{ "all", no_argument, 0, O_ALL }, { "workloads", required_argument, 0, O_WORK },
		{ "workload", required_argument, 0, O_WORK }, { "mix", required_argument, 0, O_MIX },
		{ "engines", required_argument, 0, O_ENG }, { "run", no_argument, 0, O_RUN },
		{ "jobs", required_argument, 0, 'j' }, { "map", required_argument, 0, O_MAP },
		{ "format", required_argument, 0, O_FORMAT }, { "db", required_argument, 0, O_DB },
		{ "tag", required_argument, 0, O_TAG }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	char *prof_arg = NULL, *work_arg = NULL, *eng_arg = NULL;
	const char *mix_arg = NULL, *map = NULL, *dbpath = vl_data_db(), *tag = NULL, *jobs = "1";
	bool all = false, run = false;
	enum vl_an_format fmt = VL_AN_TEXT;
	char err[512];
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hj:", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE: prof_arg = optarg; break;
		case O_ALL:     all = true; break;
		case O_WORK:    work_arg = optarg; break;
		case O_MIX:     mix_arg = optarg; break;
		case O_ENG:     eng_arg = optarg; break;
		case O_RUN:     run = true; break;
		case O_MAP:     map = optarg; break;
		case O_DB:      dbpath = optarg; break;
		case O_TAG:     tag = optarg; break;
		case 'j': {
			uint64_t j;
			if (vl_cli_parse_u64(optarg, &j) || !j || j > 1024)
				return vl_cli_usage_error("advise", "-j: expected 1..1024, got '%s'", optarg);
			jobs = optarg;
			break;
		}
		case O_FORMAT:
			if (vl_an_parse_format(optarg, &fmt))
				return vl_cli_usage_error("advise", "--format: expected text, csv, json or markdown, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(advise_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("advise", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("advise", "unexpected argument '%s' (see virtlab advise --help)", argv[optind]);
	if (vl_cli_check_outdir("advise", "--map", map))
		return VL_CLI_USAGE;
	if (all && prof_arg)
		return vl_cli_usage_error("advise", "--all and --profile exclude each other");
	if (mix_arg && work_arg)
		return vl_cli_usage_error("advise", "--mix and --workloads exclude each other");

	struct vl_adv_mix mix;
	if (mix_arg && vl_adv_parse_mix(mix_arg, &mix, err, sizeof err))
		return vl_cli_usage_error("advise", "%s", err);
	for (size_t i = 0; mix_arg && i < mix.n; i++)
		if (!vl_workload_find(mix.work[i]))
			return vl_cli_usage_error("advise", "--mix: unknown workload '%s' (see virtlab list workloads)", mix.work[i]);

	const char *profiles[ADV_MAX], *works[ADV_MAX], *engines[ADV_MAX];
	size_t nprof = 0, nwork = 0, neng = 0;
	char **plist = NULL;
	size_t nplist = 0;
	char dflt[] = VL_DEFAULT_PROFILE;
	if (all) {
		nplist = vl_profile_list(&plist);
		for (size_t i = 0; i < nplist && nprof < ADV_MAX; i++)
			profiles[nprof++] = plist[i];
		if (!nprof)
			return vl_cli_usage_error("advise", "--all: no profiles found in %s", vl_profile_dir());
	} else if (vl_cli_split(prof_arg ? prof_arg : dflt, profiles, ADV_MAX, &nprof)) {
		return vl_cli_usage_error("advise", "--profile: expected a comma-separated list of profiles");
	}
	int rc = VL_CLI_OK;
	if (eng_arg && vl_cli_split(eng_arg, engines, ADV_MAX, &neng)) {
		rc = vl_cli_usage_error("advise", "--engines: expected a comma-separated list of engines");
		goto out_list;
	}
	for (size_t i = 0; i < neng; i++)
		if (!vl_engine_find(engines[i])) {
			rc = vl_cli_usage_error("advise", "unknown engine '%s' (see virtlab list engines)", engines[i]);
			goto out_list;
		}
	if (work_arg) {
		if (vl_cli_split(work_arg, works, ADV_MAX, &nwork)) {
			rc = vl_cli_usage_error("advise", "--workloads: expected a comma-separated list of workloads");
			goto out_list;
		}
		for (size_t i = 0; i < nwork; i++)
			if (!vl_workload_find(works[i])) {
				rc = vl_cli_usage_error("advise", "unknown workload '%s' (see virtlab list workloads)", works[i]);
				goto out_list;
			}
	} else {
		for (size_t i = 0; i < vl_workload_count && nwork < ADV_MAX; i++)
			if (strcmp(vl_workloads[i].name, "selftest"))
				works[nwork++] = vl_workloads[i].name;
	}
	/* every profile must load before anything runs */
	for (size_t p = 0; p < nprof; p++) {
		struct vl_profile pr;
		if (vl_profile_load(profiles[p], &pr, err, sizeof err)) {
			rc = vl_cli_usage_error("advise", "%s", err);
			goto out_list;
		}
	}
	if (run && access(vl_guest_image(), R_OK) != 0) {
		rc = vl_cli_usage_error("advise", "--run: guest image %s not found (build it with `make guest`)", vl_guest_image());
		goto out_list;
	}
	/* only --run writes: without it the database is read, never created */
	struct vl_db *db = run ? vl_cli_db_open("advise", dbpath) : vl_cli_db_open_read("advise", dbpath);
	if (!db) {
		rc = VL_CLI_USAGE;
		goto out_list;
	}
	struct vl_adv_row *rows = NULL;
	size_t nrows = 0;
	for (size_t p = 0; p < nprof && rc == VL_CLI_OK; p++) {
		struct vl_adv_conf *conf = NULL;
		size_t nconf = 0;
		if (vl_cli_expected_configs(profiles[p], engines, neng, NULL, 0, &conf, &nconf, err, sizeof err)) {
			rc = vl_cli_usage_error("advise", "%s", err);
			break;
		}
		struct vl_adv_opts o = {
			.sel = { .profile = profiles[p], .tag = tag },
			.expect = conf, .nexpect = nconf,
			.workloads = works, .nwork = nwork,
			.mix = mix_arg ? &mix : NULL,
		};
		if (mix_arg) {
			o.workloads = NULL;
			o.nwork = 0;
		}
		size_t before = nrows;
		if (vl_adv_build(db, &o, &rows, &nrows, err, sizeof err)) {
			fprintf(stderr, "virtlab advise: %s\n", err);
			rc = VL_CLI_FAILED;
		} else if (run) {
			/* rows[before..] name the runs they lack; a row holds
			 * VL_ADV_MAX_NEED of them, so repeat while one dropped some */
			for (int round = 0; round < 8 && rc == VL_CLI_OK; round++) {
				size_t need = 0, dropped = 0;
				for (size_t i = before; i < nrows; i++) {
					need += rows[i].nneed;
					dropped += rows[i].need_dropped;
				}
				if (!need)
					break;
				int r = adv_run_missing(rows + before, nrows - before, dbpath, tag, jobs);
				if (r) {
					rc = r;
					break;
				}
				nrows = before;
				if (vl_adv_build(db, &o, &rows, &nrows, err, sizeof err)) {
					fprintf(stderr, "virtlab advise: %s\n", err);
					rc = VL_CLI_FAILED;
				}
				if (!dropped)
					break;
			}
		}
		free(conf);
	}
	if (rc == VL_CLI_OK) {
		vl_adv_print(stdout, rows, nrows, fmt);
		for (size_t i = 0; i < nrows; i++)
			if (!rows[i].decided)
				rc = VL_CLI_FAILED;
		if (map) {
			FILE *log = fmt == VL_AN_TEXT ? stdout : stderr;
			int m = vl_adv_modemap(rows, nrows, map, NULL, log, err, sizeof err);
			if (m < 0) {
				fprintf(stderr, "virtlab advise: %s\n", err);
				rc = VL_CLI_FAILED;
			} else if (m > 0) {
				rc = VL_CLI_FAILED;
			}
		}
	}
	free(rows);
	vl_db_close(db);
out_list:
	vl_profile_list_free(plist, nplist);
	return rc;
}
