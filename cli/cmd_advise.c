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
	"  --db FILE         results database (default " VL_DEFAULT_DB ")\n"
	"  --tag T           only runs stored with --tag T (and --run stores with it)\n"
	"Exit status: 0 every row decided, 1 a row undecided (missing runs, none ok), 2 bad usage.\n";

#define ADV_MAX 64

static int adv_split(char *s, const char **out, size_t *n)
{
	*n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == ADV_MAX)
			return -1;
		out[(*n)++] = t;
	}
	return *n ? 0 : -1;
}

static int adv_in(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, l[i]))
			return 1;
	return 0;
}

int vl_cli_expected_configs(const char *profile, const char *const *engines, size_t neng, struct vl_adv_conf **out,
			    size_t *n, char *err, size_t errlen)
{
	struct vl_profile prof;
	*out = NULL;
	*n = 0;
	if (vl_profile_load(profile, &prof, err, errlen))
		return -1;
	struct vl_adv_conf *c = calloc(vl_engine_count * VL_MMU_COUNT + 1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t e = 0; e < vl_engine_count; e++) {
		const struct vl_engine_ops *eng = vl_engines[e];
		if (eng->run_external)
			continue;   /* real measurements: no cost categories to decide by */
		if (neng ? !adv_in(eng->name, engines, neng) : !strcmp(eng->name, "trap"))
			continue;
		for (int k = 0; k < VL_MMU_COUNT; k++) {
			if (!(eng->mmu_mask & VL_MMU_BIT(k)))
				continue;
			char why[512];
			if (eng->check && eng->check(&prof, (enum vl_mmu_kind)k, why, sizeof why))
				continue;
			int built = k == VL_MMU_NONE;
			for (size_t m = 0; m < vl_mmu_count; m++)
				built |= vl_mmus[m]->kind == (enum vl_mmu_kind)k;
			if (!built)
				continue;
			snprintf(c[*n].engine, sizeof c[*n].engine, "%s", eng->name);
			snprintf(c[*n].mmu, sizeof c[*n].mmu, "%s", vl_mmu_name((enum vl_mmu_kind)k));
			(*n)++;
		}
	}
	*out = c;
	return 0;
}

/* Run the missing configurations of rows through `matrix` (its output on
 * stderr, so stdout stays the advice). Returns 0, or a CLI status. */
static int adv_run_missing(const struct vl_adv_row *rows, size_t nrows, const struct vl_adv_conf *conf, size_t nconf,
			   const char *profile, const char *dbpath, const char *tag, const char *jobs)
{
	for (size_t c = 0; c < nconf; c++) {
		char name[72], works[2048] = "";
		vl_an_config_name(conf[c].engine, conf[c].mmu, name, sizeof name);
		for (size_t r = 0; r < nrows; r++) {
			const char *m = rows[r].missing;
			size_t l = strlen(name);
			/* the row lists "name" (or "name (workload)" for a mix) */
			for (const char *p = m; (p = strstr(p, name)); p += l) {
				if ((p != m && p[-2] != ',') || (p[l] && p[l] != ',' && p[l] != ' '))
					continue;
				const char *w = rows[r].workload;
				char buf[64];
				if (p[l] == ' ' && p[l + 1] == '(') {
					snprintf(buf, sizeof buf, "%.*s", (int)strcspn(p + l + 2, ")"), p + l + 2);
					w = buf;
				}
				if (!strstr(works, w)) {
					size_t wl = strlen(works);
					snprintf(works + wl, sizeof works - wl, "%s%s", wl ? "," : "", w);
				}
			}
		}
		if (!works[0])
			continue;
		char *argv[16];
		int argc = 0;
		argv[argc++] = "matrix";
		argv[argc++] = "--profile";  argv[argc++] = (char *)profile;
		argv[argc++] = "--engines";  argv[argc++] = (char *)conf[c].engine;
		argv[argc++] = "--mmus";     argv[argc++] = (char *)conf[c].mmu;
		argv[argc++] = "--workloads"; argv[argc++] = works;
		argv[argc++] = "--db";       argv[argc++] = (char *)dbpath;
		argv[argc++] = "-j";         argv[argc++] = (char *)jobs;
		if (tag) {
			argv[argc++] = "--tag";
			argv[argc++] = (char *)tag;
		}
		argv[argc] = NULL;
		fprintf(stderr, "advise: running %s on %s (%s)\n", name, works, profile);
		fflush(stdout);
		int saved = dup(1);
		if (saved < 0 || dup2(2, 1) < 0)
			return vl_cli_usage_error("advise", "cannot redirect matrix output");
		int rc = cmd_matrix(argc, argv);
		fflush(stdout);
		dup2(saved, 1);
		close(saved);
		if (rc == VL_CLI_USAGE)
			return rc;
	}
	return 0;
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
	const char *mix_arg = NULL, *map = NULL, *dbpath = VL_DEFAULT_DB, *tag = NULL, *jobs = "1";
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
	} else if (adv_split(prof_arg ? prof_arg : dflt, profiles, &nprof)) {
		return vl_cli_usage_error("advise", "--profile: expected a comma-separated list of profiles");
	}
	int rc = VL_CLI_OK;
	if (eng_arg && adv_split(eng_arg, engines, &neng)) {
		rc = vl_cli_usage_error("advise", "--engines: expected a comma-separated list of engines");
		goto out_list;
	}
	for (size_t i = 0; i < neng; i++)
		if (!vl_engine_find(engines[i])) {
			rc = vl_cli_usage_error("advise", "unknown engine '%s' (see virtlab list engines)", engines[i]);
			goto out_list;
		}
	if (work_arg) {
		if (adv_split(work_arg, works, &nwork)) {
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
		if (vl_cli_expected_configs(profiles[p], engines, neng, &conf, &nconf, err, sizeof err)) {
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
			/* native runs are the baseline of a mix: run them too, even
			 * when --engines leaves native out of the candidates */
			int has_native = 0;
			for (size_t i = 0; i < nconf; i++)
				has_native |= !strcmp(conf[i].engine, "native");
			struct vl_adv_conf *more = has_native ? conf : realloc(conf, (nconf + 1) * sizeof *conf);
			if (!more) {
				rc = vl_cli_usage_error("advise", "out of memory");
			} else {
				conf = more;
				size_t k = nconf;
				if (!has_native) {
					snprintf(conf[k].engine, sizeof conf[0].engine, "native");
					snprintf(conf[k].mmu, sizeof conf[0].mmu, "native");
					k++;
				}
				int r = adv_run_missing(rows + before, nrows - before, conf, k, profiles[p], dbpath, tag, jobs);
				if (r) {
					rc = r;
				} else {
					nrows = before;
					if (vl_adv_build(db, &o, &rows, &nrows, err, sizeof err)) {
						fprintf(stderr, "virtlab advise: %s\n", err);
						rc = VL_CLI_FAILED;
					}
				}
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
