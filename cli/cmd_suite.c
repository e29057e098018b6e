/* cmd_suite.c — `virtlab suite kvm-unit-tests DIR`: run a standard test
 * suite's kernels on one configuration (or every valid one) and report
 * PASS / FAIL / SKIP per test and configuration, as upstream's runner
 * prints them, or as TAP. Every test that ran is stored as a run.
 *
 * DIR/unittests.cfg is read as upstream writes it: [name] sections with
 * file, test_args (or extra_params' -append), smp, arch, accel. Single-CPU
 * x86_64 entries run; the others are SKIPs with the reason. qemu_params
 * (a QEMU CPU model, memory size) are not applied: on the model the
 * profile is the CPU — an entry whose qemu_params pin the other vendor
 * ("vendor=GenuineIntel" for msr, "vendor=AuthenticAMD" for syscall) is a
 * SKIP on the model engines, with that reason (run it with `run --image`
 * to see the other vendor's behaviour). Exit status (kvm-unit-tests' report_summary): 0 PASS,
 * 38 (77 >> 1, "everything skipped") SKIP, anything else FAIL. */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/engine.h"
#include "virtlab/results.h"
#include "virtlab/mmu.h"

#define SUITE_MAX_TESTS 256
#define KUT_EXIT_SKIP   38   /* report_summary(): 77 >> 1 when every test skipped */

struct suite_test {
	char name[64], file[128], args[512], arch[16], accel[16];
	unsigned smp;
	char vendor[16];   /* qemu_params' "vendor=": the CPU vendor the entry is meant for */
};

static const char suite_usage[] =
	"usage: virtlab suite kvm-unit-tests DIR [--engine E [--mmu M]] [--profile P] [--matrix]\n"
	"                    [--tests NAME,...] [--max-instructions N] [--tap] [--db FILE | --no-db]\n"
	"Run the kvm-unit-tests kernels listed in DIR/unittests.cfg (single-CPU x86_64 entries)\n"
	"on one configuration (default native) or on every valid one (--matrix, incl. qemu-tcg),\n"
	"and report PASS / FAIL / SKIP per test and configuration.\n"
	"  --engine E, --mmu M   the configuration (default native; --mmu: the engine's default)\n"
	"  --profile P           CPU profile (default " VL_DEFAULT_PROFILE ")\n"
	"  --matrix              every engine x MMU pair the profile allows, and qemu-tcg\n"
	"  --tests A,B           only these entries of unittests.cfg\n"
	"  --max-instructions N  per test on the model (default: run's default)\n"
	"  --tap                 TAP version 13 instead of upstream's PASS/FAIL/SKIP lines\n"
	"  --db FILE / --no-db   where the runs go (default " VL_CLI_DB_DOC ")\n"
	"Exit status: 0 nothing failed, 1 a test failed, 2 bad usage.\n";

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Copy v without one level of surrounding quotes. */
static void unquote(char *dst, size_t n, const char *v)
{
	size_t l = strlen(v);
	if (l >= 2 && (v[0] == '\'' || v[0] == '"') && v[l - 1] == v[0])
		snprintf(dst, n, "%.*s", (int)(l - 2), v + 1);
	else
		snprintf(dst, n, "%s", v);
}

/* The value of -append in an extra_params string ('...' or "..." or a word). */
static void extra_append(char *dst, size_t n, const char *v)
{
	const char *a = strstr(v, "-append");
	if (!a)
		return;
	a = a + 7;
	while (isspace((unsigned char)*a))
		a++;
	if (*a == '\'' || *a == '"') {
		const char *e = strchr(a + 1, *a);
		snprintf(dst, n, "%.*s", (int)(e ? e - a - 1 : (long)strlen(a + 1)), a + 1);
	} else {
		size_t k = strcspn(a, " \t");
		snprintf(dst, n, "%.*s", (int)k, a);
	}
}

/* Parse DIR/unittests.cfg. Returns the count, or -1 with a message. */
static int suite_parse(const char *path, struct suite_test *t, int max)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		vl_cli_usage_error("suite", "%s: cannot open (is DIR a kvm-unit-tests build?)", path);
		return -1;
	}
	char line[1024];
	int n = -1;
	while (fgets(line, sizeof line, f)) {
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e)
				continue;
			if (n + 1 >= max)
				break;
			n++;
			memset(&t[n], 0, sizeof t[n]);
			t[n].smp = 1;
			snprintf(t[n].name, sizeof t[n].name, "%.*s", (int)(e - s - 1), s + 1);
			continue;
		}
		char *eq = strchr(s, '=');
		if (n < 0 || !eq)
			continue;
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		if (!strcmp(k, "file"))
			snprintf(t[n].file, sizeof t[n].file, "%s", v);
		else if (!strcmp(k, "test_args"))
			unquote(t[n].args, sizeof t[n].args, v);
		else if (!strcmp(k, "extra_params"))
			extra_append(t[n].args, sizeof t[n].args, v);
		else if (!strcmp(k, "smp"))
			t[n].smp = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(k, "arch"))
			snprintf(t[n].arch, sizeof t[n].arch, "%s", v);
		else if (!strcmp(k, "accel"))
			snprintf(t[n].accel, sizeof t[n].accel, "%s", v);
		else if (!strcmp(k, "qemu_params") && strstr(v, "vendor=")) {
			const char *vp = strstr(v, "vendor=") + 7;
			snprintf(t[n].vendor, sizeof t[n].vendor, "%.*s", (int)strcspn(vp, ", \t\""), vp);
		}
	}
	fclose(f);
	return n + 1;
}

static bool name_in(const char *list, const char *name)
{
	if (!list)
		return true;
	size_t l = strlen(name);
	for (const char *p = list; *p; ) {
		size_t k = strcspn(p, ",");
		if (k == l && !strncmp(p, name, l))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

struct suite_cfg { const char *engine, *mmu; };

struct suite_out {
	bool tap;
	unsigned n, pass, fail, skip;
};

static void suite_report(struct suite_out *o, const char *verdict, const char *test, const struct suite_cfg *c,
			 const char *profile, const char *why)
{
	o->n++;
	char where[128];
	snprintf(where, sizeof where, "%s/%s %s", c->engine, c->mmu ? c->mmu : "default", profile);
	if (!strcmp(verdict, "PASS"))
		o->pass++;
	else if (!strcmp(verdict, "SKIP"))
		o->skip++;
	else
		o->fail++;
	if (o->tap) {
		if (!strcmp(verdict, "SKIP"))
			printf("ok %u - %s [%s] # SKIP %s\n", o->n, test, where, why);
		else
			printf("%s %u - %s [%s]%s%s\n", strcmp(verdict, "PASS") ? "not ok" : "ok", o->n, test, where,
			       why && *why ? " # " : "", why && *why ? why : "");
	} else {
		printf("%s %s [%s]%s%s%s\n", verdict, test, where, why && *why ? " (" : "", why && *why ? why : "",
		       why && *why ? ")" : "");
	}
	fflush(stdout);
}

/* The reason an entry is not run here, or NULL. */
static const char *suite_skip_reason(const struct suite_test *t, const char *dir, char *buf, size_t n)
{
	char path[1024];
	if (t->smp > 1) {
		snprintf(buf, n, "needs %u CPUs", t->smp);
		return buf;
	}
	if (t->arch[0] && strcmp(t->arch, "x86_64")) {
		snprintf(buf, n, "arch %s (the kernels here are x86_64)", t->arch);
		return buf;
	}
	if (t->accel[0] && strcmp(t->accel, "tcg")) {
		snprintf(buf, n, "needs accel %s", t->accel);
		return buf;
	}
	if (!t->file[0]) {
		snprintf(buf, n, "no file in unittests.cfg");
		return buf;
	}
	snprintf(path, sizeof path, "%s/%s", dir, t->file);
	if (access(path, R_OK)) {
		snprintf(buf, n, "%s not in %s", t->file, dir);
		return buf;
	}
	return NULL;
}

int cmd_suite(int argc, char **argv)
{
	enum { O_ENGINE = 256, O_MMU, O_PROFILE, O_MATRIX, O_TAP, O_DB, O_NODB, O_TESTS, O_MAXI, O_HELP };
	static const struct option opts[] = {
		{ "engine", required_argument, 0, O_ENGINE }, { "mmu", required_argument, 0, O_MMU },
		{ "profile", required_argument, 0, O_PROFILE }, { "matrix", no_argument, 0, O_MATRIX },
		{ "tap", no_argument, 0, O_TAP }, { "db", required_argument, 0, O_DB },
		{ "no-db", no_argument, 0, O_NODB }, { "tests", required_argument, 0, O_TESTS },
		{ "max-instructions", required_argument, 0, O_MAXI }, { "help", no_argument, 0, O_HELP },
		{ 0, 0, 0, 0 }
	};
	const char *engine = NULL, *mmu = NULL, *profile = VL_DEFAULT_PROFILE, *db = vl_data_db(), *only = NULL;
	bool matrix = false, nodb = false;
	uint64_t maxi = 0;
	struct suite_out out = { 0 };
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_ENGINE:  engine = optarg; break;
		case O_MMU:     mmu = optarg; break;
		case O_PROFILE: profile = optarg; break;
		case O_MATRIX:  matrix = true; break;
		case O_TAP:     out.tap = true; break;
		case O_DB:      db = optarg; break;
		case O_NODB:    nodb = true; break;
		case O_TESTS:   only = optarg; break;
		case O_MAXI:
			if (vl_cli_parse_u64(optarg, &maxi) || !maxi)
				return vl_cli_usage_error("suite", "--max-instructions: expected a positive integer, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(suite_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("suite", argc, argv, optopt);
		}
	}
	if (argc - optind != 2)
		return vl_cli_usage_error("suite", "expected: suite kvm-unit-tests DIR (see virtlab suite --help)");
	if (strcmp(argv[optind], "kvm-unit-tests"))
		return vl_cli_usage_error("suite", "unknown suite '%s' (valid: kvm-unit-tests)", argv[optind]);
	if (matrix && (engine || mmu))
		return vl_cli_usage_error("suite", "--matrix runs every configuration: give it without --engine/--mmu");
	const char *dir = argv[optind + 1];
	char cfgpath[1024];
	snprintf(cfgpath, sizeof cfgpath, "%s/unittests.cfg", dir);
	static struct suite_test tests[SUITE_MAX_TESTS];
	int nt = suite_parse(cfgpath, tests, SUITE_MAX_TESTS);
	if (nt < 0)
		return VL_CLI_USAGE;
	if (only) {
		for (const char *p = only; *p; ) {
			size_t k = strcspn(p, ",");
			bool found = false;
			for (int i = 0; i < nt; i++)
				found |= strlen(tests[i].name) == k && !strncmp(tests[i].name, p, k);
			if (!found)
				return vl_cli_usage_error("suite", "--tests: no entry '%.*s' in %s", (int)k, p, cfgpath);
			p += k + (p[k] == ',');
		}
	}

	/* configurations */
	struct suite_cfg cfgs[64];
	size_t ncfg = 0;
	if (!matrix) {
		cfgs[ncfg++] = (struct suite_cfg){ engine ? engine : "native", mmu };
	} else {
		for (size_t e = 0; e < vl_engine_count && ncfg < 63; e++) {
			const struct vl_engine_ops *eo = vl_engines[e];
			if (eo->run_external) {
				if (!strcmp(eo->name, "qemu-tcg"))
					cfgs[ncfg++] = (struct suite_cfg){ eo->name, NULL };
				continue;
			}
			for (int k = 0; k < VL_MMU_COUNT && ncfg < 63; k++)
				if (eo->mmu_mask & VL_MMU_BIT(k))
					cfgs[ncfg++] = (struct suite_cfg){ eo->name, vl_mmu_name((enum vl_mmu_kind)k) };
		}
	}

	struct vl_db *dbh = NULL;
	if (!nodb && access(db, F_OK) == 0 && !(dbh = vl_cli_db_open("suite", db)))
		return VL_CLI_USAGE;
	if (out.tap)
		printf("TAP version 13\n");
	int rc = VL_CLI_OK;
	struct vl_profile pr;
	char perr[256];
	const char *pvendor = vl_profile_load(profile, &pr, perr, sizeof perr) ? NULL : pr.cpu_vendor;
	for (size_t ci = 0; ci < ncfg; ci++) {
		bool probed = !matrix;
		for (int i = 0; i < nt; i++) {
			struct suite_test *t = &tests[i];
			if (!name_in(only, t->name))
				continue;
			char why[256];
			if (suite_skip_reason(t, dir, why, sizeof why)) {
				suite_report(&out, "SKIP", t->name, &cfgs[ci], profile, why);
				continue;
			}
			if (t->vendor[0] && pvendor && strncmp(cfgs[ci].engine, "qemu", 4) &&
			    strcmp(t->vendor, !strcmp(pvendor, "amd") ? "AuthenticAMD" : "GenuineIntel")) {
				/* the entry pins a CPU model of the other vendor (msr: GenuineIntel,
				 * syscall: AuthenticAMD); on the model the profile is the CPU */
				snprintf(why, sizeof why, "unittests.cfg pins a vendor=%s CPU model (qemu_params); profile %s is %s",
					 t->vendor, profile, pvendor);
				suite_report(&out, "SKIP", t->name, &cfgs[ci], profile, why);
				continue;
			}
			char image[1024];
			snprintf(image, sizeof image, "%s/%s", dir, t->file);
			struct vl_run_spec spec = { .engine = cfgs[ci].engine, .mmu = cfgs[ci].mmu, .profile = profile,
						    .image = image, .append = t->args, .max_insns = maxi };
			struct vl_run_result res;
			int r = vl_run_execute(&spec, &res);
			if (r == 2 || res.status == VL_RUN_REFUSED) {
				if (!probed) {   /* --matrix: a pair this profile does not allow is left out */
					printf("# %s/%s %s left out: %s\n", cfgs[ci].engine,
					       cfgs[ci].mmu ? cfgs[ci].mmu : "default", profile, res.reason);
					vl_run_result_free(&res);
					break;
				}
				suite_report(&out, "SKIP", t->name, &cfgs[ci], profile, res.reason);
				vl_run_result_free(&res);
				continue;
			}
			probed = true;
			/* the run is named after the test, not the kernel file */
			snprintf(res.workload, sizeof res.workload, "%s", t->name);
			if (res.status == VL_RUN_OK && res.console && strstr(res.console, " (skipped)") &&
			    !strncmp(t->file, "vmexit", 6))
				suite_report(&out, "SKIP", t->name, &cfgs[ci], profile,
					     "the benchmark skipped itself: the CPU lacks what it needs");
			else if (res.status == VL_RUN_OK)
				suite_report(&out, "PASS", t->name, &cfgs[ci], profile, "");
			else if (res.status == VL_RUN_FAILED && res.guest_exit == KUT_EXIT_SKIP)
				suite_report(&out, "SKIP", t->name, &cfgs[ci], profile, "all of its tests skipped");
			else {
				suite_report(&out, "FAIL", t->name, &cfgs[ci], profile, res.reason);
				rc = VL_CLI_FAILED;
			}
			if (!nodb) {
				char err[512];
				int64_t id = 0;
				if (!dbh && !(dbh = vl_cli_db_open("suite", db)))
					rc = VL_CLI_FAILED;
				else if (vl_db_store_run(dbh, &res, "kvm-unit-tests", &id, err, sizeof err)) {
					fprintf(stderr, "virtlab suite: storing in %s: %s\n", db, err);
					rc = VL_CLI_FAILED;
				}
			}
			vl_run_result_free(&res);
		}
	}
	if (out.tap)
		printf("1..%u\n", out.n);
	else
		printf("SUMMARY: %u results: %u PASS, %u FAIL, %u SKIP\n", out.n, out.pass, out.fail, out.skip);
	vl_db_close(dbh);
	return rc;
}
