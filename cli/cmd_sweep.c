/* cmd_sweep.c — `virtlab sweep`: one numeric profile value over a range
 * (linear or log steps, or a list); at each value a derived profile (the
 * base profile's file with that one line replaced, so values derived from
 * it follow, loaded through the profile loader so its range checks apply)
 * runs the selected configurations; each run is stored with the label
 * BASE:section.key=VALUE and the tag sweep:ID, its derived profile recorded
 * in full (profile_version). Then the curves, the crossover points and the
 * crossover plot (analysis/sweep.c). Every value is built and checked
 * before the first run: a bad one stores nothing. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char sweep_usage[] =
	"usage: virtlab sweep --param SECTION.KEY=LO:HI:log|lin:N | SECTION.KEY=V1,V2,...\n"
	"                     [--profile P] [--engines E|E/M,...] [--workloads W,...] [--iterations N]\n"
	"                     [--id ID] [--db FILE] [--out DIR] [--format text|csv|json|markdown] [--no-run]\n"
	"Run the configurations at each value of one numeric profile field, print cycles per\n"
	"iteration against the value and every crossover point (where two configurations' curves\n"
	"cross, interpolated), and plot them. e.g. --param svm.vmexit=100:4000:log:12\n"
	"  --param S        LO:HI:log:N (N values, equal ratios) or LO:HI:lin:N (equal steps), rounded\n"
	"                   to integers (profile values are integers); or a comma-separated list\n"
	"  --profile P      the base profile (default " VL_DEFAULT_PROFILE "); its file with the one line\n"
	"                   replaced is the derived profile, so values derived from the field follow\n"
	"  --engines L      engines or engine/mmu configurations (default: every one `matrix` runs)\n"
	"  --workloads W    workloads (default: every one `matrix` runs)\n"
	"  --iterations N   iterations per run (default: each workload's own)\n"
	"  --id ID          sweep id; runs are tagged sweep:ID (default BASE:PARAM-SPEC); runs of the\n"
	"                   same id already stored are reused, not repeated\n"
	"  --out DIR        figure directory (default results/plots): sweep.dat, sweep.gp, .png, .pdf\n"
	"  --no-run         only analyse what the database holds (e.g. after `plan` and `merge`)\n"
	"  --no-report      only run and store (what `plan` commands do): no table, no figure\n"
	"  --db FILE        results database (default " VL_CLI_DB_DOC ")\n"
	"Values outside a field's range are refused by the profile loader (profiles/README.md).\n"
	"Exit status: 0 ok, 1 a run failed, 2 bad usage (nothing stored).\n";

#define SW_MAX_VALUES 256
#define SW_MAX 64

/* The numeric fields of profile_fields.def. */
static const struct { const char *sec, *key; int u64; } sw_fields[] = {
#define F_KIND_U64 1
#define F_KIND_STR 0
#define F_KIND_BOOL 0
#define F(s, k, kind, need, doc) { #s, #k, F_KIND_##kind },
#include "virtlab/profile_fields.def"
#undef F
};

static int sw_dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Parse "sec.key=SPEC" into the field and its values. 0, or a usage error. */
int vl_cli_sweep_values(const char *arg, char *sec, char *key, double *v, size_t *nv, int *logx)
{
	char buf[512];
	*nv = 0;
	*logx = 0;
	if (strlen(arg) >= sizeof buf)
		return vl_cli_usage_error("sweep", "--param: too long");
	snprintf(buf, sizeof buf, "%s", arg);
	char *eq = strchr(buf, '='), *dot = strchr(buf, '.');
	if (!eq || !dot || dot > eq)
		return vl_cli_usage_error("sweep", "--param: expected SECTION.KEY=LO:HI:log|lin:N or SECTION.KEY=V1,V2,..., got '%s'", arg);
	*eq = *dot = '\0';
	snprintf(sec, 32, "%.31s", buf);
	snprintf(key, 32, "%.31s", dot + 1);
	size_t f = 0;
	while (f < sizeof sw_fields / sizeof sw_fields[0] && (strcmp(sw_fields[f].sec, sec) || strcmp(sw_fields[f].key, key)))
		f++;
	if (f == sizeof sw_fields / sizeof sw_fields[0])
		return vl_cli_usage_error("sweep", "--param: unknown profile field '%s.%s' (see virtlab show profile)", sec, key);
	if (!sw_fields[f].u64)
		return vl_cli_usage_error("sweep", "--param: %s.%s is not a numeric field", sec, key);
	char *spec = eq + 1, *end;
	if (strchr(spec, ':')) {
		char *parts[4];
		size_t np = 0;
		for (char *save = NULL, *t = strtok_r(spec, ":", &save); t && np < 4; t = strtok_r(NULL, ":", &save))
			parts[np++] = t;
		if (np != 4 || (strcmp(parts[2], "log") && strcmp(parts[2], "lin")))
			return vl_cli_usage_error("sweep", "--param: a range is LO:HI:log|lin:N, got '%s'", eq + 1);
		errno = 0;
		double lo = strtod(parts[0], &end);
		if (errno || *end || !isfinite(lo))
			return vl_cli_usage_error("sweep", "--param: LO '%s' is not a number", parts[0]);
		double hi = strtod(parts[1], &end);
		if (errno || *end || !isfinite(hi))
			return vl_cli_usage_error("sweep", "--param: HI '%s' is not a number", parts[1]);
		uint64_t n;
		if (vl_cli_parse_u64(parts[3], &n) || n > SW_MAX_VALUES)
			return vl_cli_usage_error("sweep", "--param: N must be 1..%d, got '%s'", SW_MAX_VALUES, parts[3]);
		if (!n)
			return vl_cli_usage_error("sweep", "--param: the range has no points (N = 0)");
		if (hi < lo)
			return vl_cli_usage_error("sweep", "--param: the range has no points (HI %g < LO %g)", hi, lo);
		*logx = !strcmp(parts[2], "log");
		if (*logx && lo <= 0)
			return vl_cli_usage_error("sweep", "--param: a log range needs LO > 0, got %g", lo);
		for (uint64_t i = 0; i < n; i++) {
			double t = n > 1 ? (double)i / (double)(n - 1) : 0;
			v[(*nv)++] = *logx ? lo * pow(hi / lo, t) : lo + t * (hi - lo);
		}
	} else {
		if (!*spec || *spec == ',' || spec[strlen(spec) - 1] == ',' || strstr(spec, ",,"))
			return vl_cli_usage_error("sweep", "--param: an empty value in the list '%s'", spec);
		for (char *save = NULL, *t = strtok_r(spec, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			errno = 0;
			double x = strtod(t, &end);
			if (errno || *end || !isfinite(x))
				return vl_cli_usage_error("sweep", "--param: '%s' is not a number", t);
			if (*nv == SW_MAX_VALUES)
				return vl_cli_usage_error("sweep", "--param: more than %d values", SW_MAX_VALUES);
			v[(*nv)++] = x;
		}
		if (!*nv)
			return vl_cli_usage_error("sweep", "--param: the list has no values");
	}
	/* integers, ascending, once each */
	for (size_t i = 0; i < *nv; i++)
		v[i] = floor(v[i] + 0.5);
	qsort(v, *nv, sizeof *v, sw_dbl_cmp);
	size_t k = 0;
	for (size_t i = 0; i < *nv; i++)
		if (!k || v[i] != v[k - 1])
			v[k++] = v[i];
	*nv = k;
	return 0;
}

/* The base profile's file with the line of [sec] key replaced by value,
 * written to path. 0, or -1 with err. */
static int sw_derive(const char *basepath, const char *base, const char *sec, const char *key, double value,
		     const char *path, char *err, size_t errlen)
{
	FILE *in = fopen(basepath, "r");
	if (!in) {
		snprintf(err, errlen, "cannot read %s: %s", basepath, strerror(errno));
		return -1;
	}
	FILE *out = fopen(path, "w");
	if (!out) {
		fclose(in);
		snprintf(err, errlen, "cannot write %.200s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096], cur[64] = "";
	int found = 0;
	while (fgets(line, sizeof line, in)) {
		const char *p = line + strspn(line, " \t");
		if (*p == '[') {
			size_t l = strcspn(p + 1, "]");
			snprintf(cur, sizeof cur, "%.*s", (int)(l < 63 ? l : 63), p + 1);
		} else if (!strcmp(cur, sec) && !strncmp(p, key, strlen(key)) &&
			   (p[strlen(key)] == ' ' || p[strlen(key)] == '\t' || p[strlen(key)] == '=')) {
			fprintf(out, "%s = %.0f ; estimate: a point of `virtlab sweep` over %s.%s (base profile %s)\n", key,
				value, sec, key, base);
			found = 1;
			continue;
		}
		fputs(line, out);
	}
	fclose(in);
	if (fclose(out)) {
		snprintf(err, errlen, "cannot write %.200s", path);
		return -1;
	}
	if (!found) {
		snprintf(err, errlen, "profile %s has no [%s] %s (its features do not use it)", base, sec, key);
		return -1;
	}
	return 0;
}

int vl_cli_sweep_profiles(const char *base, const char *sec, const char *key, const double *val, size_t nval,
			  struct vl_profile *dprof, char *err, size_t errlen)
{
	struct vl_profile bprof;
	if (vl_profile_load(base, &bprof, err, errlen))
		return -1;
	char tmpdir[512];
	const char *td = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/virtlab-sweep.XXXXXX", td && *td ? td : "/tmp");
	if (!mkdtemp(tmpdir)) {
		snprintf(err, errlen, "cannot create a scratch directory: %s", strerror(errno));
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < nval && !rc; i++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s:%s.%s=%.0f.ini", tmpdir, base, sec, key, val[i]);
		struct vl_profile tmp, *p = dprof ? &dprof[i] : &tmp;
		if (sw_derive(bprof.path, base, sec, key, val[i], path, err, errlen) || vl_profile_load(path, p, err, errlen))
			rc = -1;
		unlink(path);
		/* provenance names where the base came from; the text is the derived one */
		snprintf(p->path, sizeof p->path, "%s", bprof.path);
	}
	rmdir(tmpdir);
	return rc;
}

int cmd_sweep(int argc, char **argv)
{
	enum { O_PARAM = 256, O_PROFILE, O_ENG, O_WORK, O_ITERS, O_ID, O_DB, O_OUT, O_FORMAT, O_NORUN, O_NOREPORT, O_HELP };
	static const struct option opts[] = {
		{ "param", required_argument, 0, O_PARAM }, { "profile", required_argument, 0, O_PROFILE },
		{ "engines", required_argument, 0, O_ENG }, { "workloads", required_argument, 0, O_WORK },
		{ "iterations", required_argument, 0, O_ITERS }, { "id", required_argument, 0, O_ID },
		{ "db", required_argument, 0, O_DB }, { "out", required_argument, 0, O_OUT },
		{ "format", required_argument, 0, O_FORMAT }, { "no-run", no_argument, 0, O_NORUN },
		{ "no-report", no_argument, 0, O_NOREPORT },
		{ "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	const char *param = NULL, *base = VL_DEFAULT_PROFILE, *id = NULL, *dbpath = vl_data_db(), *out = "results/plots";
	char *eng_arg = NULL, *work_arg = NULL;
	uint64_t iters = 0;
	bool norun = false, noreport = false;
	enum vl_an_format fmt = VL_AN_TEXT;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PARAM:   param = optarg; break;
		case O_PROFILE: base = optarg; break;
		case O_ENG:     eng_arg = optarg; break;
		case O_WORK:    work_arg = optarg; break;
		case O_ID:      id = optarg; break;
		case O_DB:      dbpath = optarg; break;
		case O_OUT:     out = optarg; break;
		case O_NORUN:   norun = true; break;
		case O_NOREPORT: noreport = true; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &iters) || !iters)
				return vl_cli_usage_error("sweep", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_FORMAT:
			if (vl_an_parse_format(optarg, &fmt))
				return vl_cli_usage_error("sweep", "--format: expected text, csv, json or markdown, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(sweep_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("sweep", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("sweep", "unexpected argument '%s' (see virtlab sweep --help)", argv[optind]);
	if (vl_cli_check_outdir("sweep", "--out", out) || vl_cli_need_value("sweep", "--id", id))
		return VL_CLI_USAGE;
	if (!param)
		return vl_cli_usage_error("sweep", "--param SECTION.KEY=... is required (see virtlab sweep --help)");
	if (strchr(base, '/') || strchr(base, ':'))
		return vl_cli_usage_error("sweep", "--profile: a shipped profile name, got '%s'", base);

	char sec[32], key[32], pname[80];
	double *val = calloc(SW_MAX_VALUES, sizeof *val);
	size_t nval = 0;
	int logx = 0, rc;
	if (!val)
		return vl_cli_usage_error("sweep", "out of memory");
	if ((rc = vl_cli_sweep_values(param, sec, key, val, &nval, &logx)))
		goto out_val;
	snprintf(pname, sizeof pname, "%s.%s", sec, key);
	struct vl_profile bprof;
	char err[1024];
	if (vl_profile_load(base, &bprof, err, sizeof err)) {
		rc = vl_cli_usage_error("sweep", "%s", err);
		goto out_val;
	}
	if (strlen(base) + strlen(pname) + 2 + 20 >= sizeof ((struct vl_db_run *)0)->profile) {
		rc = vl_cli_usage_error("sweep", "profile and field names too long for a run label");
		goto out_val;
	}
	char tag[256];
	snprintf(tag, sizeof tag, "sweep:%s", id ? id : "");
	if (!id)
		snprintf(tag, sizeof tag, "sweep:%s:%s", base, param);

	/* configurations and workloads */
	const char *ent[SW_MAX], *works[SW_MAX];
	size_t nent = 0, nwork = 0;
	if (eng_arg && vl_cli_split(eng_arg, ent, SW_MAX, &nent)) {
		rc = vl_cli_usage_error("sweep", "--engines: expected a comma-separated list of at most %d", SW_MAX);
		goto out_val;
	}
	for (size_t i = 0; i < nent; i++) {
		char e[32];
		snprintf(e, sizeof e, "%.*s", (int)strcspn(ent[i], "/"), ent[i]);
		const struct vl_engine_ops *eo = vl_engine_find(e);
		if (!eo) {
			rc = vl_cli_usage_error("sweep", "unknown engine '%s' (see virtlab list engines)", e);
			goto out_val;
		}
	}
	struct vl_adv_conf *conf = NULL;
	size_t nconf = 0;
	if (vl_cli_expected_configs(base, ent, nent, NULL, 0, &conf, &nconf, err, sizeof err)) {
		rc = vl_cli_usage_error("sweep", "%s", err);
		goto out_val;
	}
	if (nent) {
		/* each named configuration (engine/mmu) or engine must run here */
		for (size_t j = 0; j < nent; j++) {
			int found = 0;
			for (size_t i = 0; i < nconf; i++) {
				char full[72];
				snprintf(full, sizeof full, "%s/%s", conf[i].engine, conf[i].mmu);
				found |= !strcmp(ent[j], full) || !strcmp(ent[j], conf[i].engine);
			}
			if (!found) {
				rc = vl_cli_usage_error("sweep", "'%s' does not run on profile %s (see virtlab matrix --dry-run --profile %s)",
							ent[j], base, base);
				goto out_conf;
			}
		}
	}
	if (work_arg) {
		if (vl_cli_split(work_arg, works, SW_MAX, &nwork)) {
			rc = vl_cli_usage_error("sweep", "--workloads: expected a comma-separated list of at most %d", SW_MAX);
			goto out_conf;
		}
		for (size_t i = 0; i < nwork; i++)
			if (!vl_workload_find(works[i])) {
				rc = vl_cli_usage_error("sweep", "unknown workload '%s' (see virtlab list workloads)", works[i]);
				goto out_conf;
			}
	} else {
		for (size_t i = 0; i < vl_workload_count && nwork < SW_MAX; i++)
			if (vl_cli_plan_default_workload(vl_workloads[i].name, true))
				works[nwork++] = vl_workloads[i].name;
	}

	/* every derived profile, through the loader, before anything runs */
	struct vl_profile *dprof = calloc(nval, sizeof *dprof);
	if (!dprof) {
		rc = vl_cli_usage_error("sweep", "out of memory");
		goto out_conf;
	}
	if (vl_cli_sweep_profiles(base, sec, key, val, nval, dprof, err, sizeof err)) {
		rc = vl_cli_usage_error("sweep", "%s", err);
		goto out_prof;
	}
	if (!norun && access(vl_guest_image(), R_OK) != 0) {
		rc = vl_cli_usage_error("sweep", "guest image %s not found (build it with `make guest`)", vl_guest_image());
		goto out_prof;
	}
	struct vl_db *db = norun ? vl_cli_db_open_read("sweep", dbpath) : vl_cli_db_open("sweep", dbpath);
	if (!db) {
		rc = VL_CLI_USAGE;
		goto out_prof;
	}
	/* runs already stored for this sweep (label, configuration, workload) are reused */
	struct vl_db_filter f = { .tag = tag, .ok_only = 1 };
	struct vl_db_run *have = NULL;
	size_t nhave = 0;
	if (vl_db_query_runs(db, &f, &have, &nhave, err, sizeof err)) {
		fprintf(stderr, "virtlab sweep: %s\n", err);
		rc = VL_CLI_FAILED;
		goto out_db;
	}
	size_t total = nval * nconf * nwork, done = 0, failed = 0, reused = 0;
	for (size_t i = 0; i < nval && !norun; i++) {
		char label[160];
		snprintf(label, sizeof label, "%s:%s=%.0f", base, pname, val[i]);
		for (size_t k = 0; k < nconf; k++)
			for (size_t w = 0; w < nwork; w++) {
				done++;
				int skip = 0;
				for (size_t h = 0; h < nhave && !skip; h++)
					skip = !strcmp(have[h].profile, label) && !strcmp(have[h].engine, conf[k].engine) &&
					       !strcmp(have[h].mmu, conf[k].mmu) && !strcmp(have[h].workload, works[w]) &&
					       (!iters || have[h].iterations == iters);
				if (skip) {
					reused++;
					continue;
				}
				struct vl_run_spec spec = {
					.engine = conf[k].engine, .mmu = conf[k].mmu, .workload = works[w], .profile = label,
					.iterations = iters, .profile_data = &dprof[i],
				};
				struct vl_run_result res;
				int r = vl_run_execute(&spec, &res);
				char cfg[72];
				vl_an_config_name(conf[k].engine, conf[k].mmu, cfg, sizeof cfg);
				if (r == 2) {
					fprintf(stderr, "[%zu/%zu] %s %s %s: refused: %s\n", done, total, label, cfg, works[w], res.reason);
					failed++;
				} else {
					int64_t rid = 0;
					if (vl_db_store_run(db, &res, tag, &rid, err, sizeof err)) {
						fprintf(stderr, "[%zu/%zu] %s %s %s: not stored: %s\n", done, total, label, cfg, works[w], err);
						failed++;
					} else {
						fprintf(stderr, "[%zu/%zu] %s %-12s %-10s %s %.1f cycles/iter (run %lld)\n", done, total, label,
							cfg, works[w], vl_run_status_name[res.status], res.cycles_per_iter, (long long)rid);
						failed += res.status != VL_RUN_OK;
					}
				}
				vl_run_result_free(&res);
			}
	}
	if (!norun)
		fprintf(stderr, "sweep: %zu runs (%zu reused from the database), %zu not ok; tag %s in %s\n", total, reused,
			failed, tag, dbpath);
	free(have);
	if (noreport) {
		rc = failed ? VL_CLI_FAILED : VL_CLI_OK;
		goto out_db;
	}
	struct vl_sweep_data d;
	if (vl_sweep_load(db, tag, base, pname, logx, &d, err, sizeof err)) {
		fprintf(stderr, "virtlab sweep: %s\n", err);
		rc = VL_CLI_FAILED;
		goto out_db;
	}
	vl_sweep_print(stdout, &d, fmt);
	FILE *log = fmt == VL_AN_TEXT ? stdout : stderr;
	if (fmt == VL_AN_TEXT)
		fputc('\n', stdout);
	int pr = vl_sweep_plot(&d, out, NULL, log, err, sizeof err);
	if (pr < 0)
		fprintf(stderr, "virtlab sweep: %s\n", err);
	rc = failed || pr ? VL_CLI_FAILED : VL_CLI_OK;
	vl_sweep_free(&d);
out_db:
	vl_db_close(db);
out_prof:
	free(dprof);
out_conf:
	free(conf);
out_val:
	free(val);
	return rc;
}
