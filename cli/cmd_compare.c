/* cmd_compare.c — `virtlab compare BASE HEAD`: regressions between two sets
 * of runs (analysis/compare.c). Each side names runs in the database by git
 * revision (resolved with `git rev-parse`, so HEAD, main, v1.2 work), by tag
 * (stored with --tag), or by run ids. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/results.h"

static const char compare_usage[] =
	"usage: virtlab compare BASE HEAD [--threshold PCT] [--alpha A] [--profile P]\n"
	"                       [--format table|markdown|json|csv] [--limit N] [--db FILE]\n"
	"Compare the runs of BASE with those of HEAD, configuration by configuration\n"
	"(profile, engine, mmu, workload, params, iterations). Each side is\n"
	"  REV            a git revision (HEAD, main, a hash ...): the runs of that commit\n"
	"  TAG            runs stored with --tag TAG (a name that is a tag in the database wins)\n"
	"  tag:T | commit:REV | id:12,13,20-25   to say which, explicitly\n"
	"Deterministic model counters compare exactly: every change is listed (old, new,\n"
	"relative change); cycles_per_iter beyond the threshold is a regression.\n"
	"Real measurements compare their raw samples: a regression needs a two-sided\n"
	"Mann-Whitney U test with p < alpha AND a median change beyond the threshold.\n"
	"  --threshold PCT  minimum relative cost change that counts, percent (default 5)\n"
	"  --alpha A        significance level for real measurements (default 0.05)\n"
	"  --profile P      compare only runs of this profile (default: all)\n"
	"  --format F       table (default), markdown (for a CI comment), json, csv\n"
	"  --limit N        table/markdown: rows besides regressions (default: table all, markdown 40)\n"
	"  --db FILE        results database (default " VL_CLI_DB_DOC ")\n"
	"Exit status: 0 no regression, 1 a regression, 2 bad usage (or a side with no runs).\n";

struct cmp_side {
	struct vl_db_filter f;
	char label[160];
	char hash[64];
	int64_t *ids;
};

static int cmp_has_tag(struct vl_db *db, const char *tag)
{
	struct vl_db_filter f = { .tag = tag };
	struct vl_db_run *runs = NULL;
	size_t n = 0;
	char err[256];
	int yes = vl_db_query_runs(db, &f, &runs, &n, err, sizeof err) == 0 && n > 0;
	free(runs);
	return yes;
}

/* Resolve one side. 0, or VL_CLI_USAGE after one line on stderr. */
static int cmp_resolve(struct vl_db *db, const char *spec, struct cmp_side *s)
{
	memset(s, 0, sizeof *s);
	if (!strncmp(spec, "id:", 3) || !strncmp(spec, "ids:", 4)) {
		const char *list = strchr(spec, ':') + 1;
		size_t n;
		if (vl_cli_parse_ids(list, &s->ids, &n))
			return vl_cli_usage_error("compare", "'%s': expected id:N[,N|N-M...]", spec);
		s->f.ids = s->ids;
		s->f.nids = n;
		snprintf(s->label, sizeof s->label, "runs %.150s", list);
		return 0;
	}
	if (!strncmp(spec, "tag:", 4)) {
		s->f.tag = spec + 4;
		snprintf(s->label, sizeof s->label, "tag %.150s", spec + 4);
		return 0;
	}
	int explicit_commit = !strncmp(spec, "commit:", 7) || !strncmp(spec, "rev:", 4);
	const char *rev = explicit_commit ? strchr(spec, ':') + 1 : spec;
	if (!explicit_commit && cmp_has_tag(db, spec)) {
		s->f.tag = spec;
		snprintf(s->label, sizeof s->label, "tag %.150s", spec);
		return 0;
	}
	if (vl_cli_resolve_commit(rev, s->hash, sizeof s->hash))
		return vl_cli_usage_error("compare", "'%s' is not a tag in the database, a git revision here, or id:N,...", spec);
	s->f.commit = s->hash;
	if (strncmp(rev, s->hash, strlen(rev)))
		snprintf(s->label, sizeof s->label, "%.100s (%.10s)", rev, s->hash);
	else
		snprintf(s->label, sizeof s->label, "%.10s", s->hash);
	return 0;
}

static int cmp_parse_threshold(const char *s, double *v)
{
	char *end;
	double x = strtod(s, &end);
	if (end == s || (*end && strcmp(end, "%")) || !(x >= 0 && x <= 10000))   /* NaN too */
		return -1;
	*v = x / 100.0;
	return 0;
}

int cmd_compare(int argc, char **argv)
{
	enum { O_THR = 256, O_ALPHA, O_PROFILE, O_FORMAT, O_LIMIT, O_DB, O_HELP };
	static const struct option opts[] = {
		{ "threshold", required_argument, 0, O_THR }, { "alpha", required_argument, 0, O_ALPHA },
		{ "profile", required_argument, 0, O_PROFILE }, { "format", required_argument, 0, O_FORMAT },
		{ "limit", required_argument, 0, O_LIMIT }, { "db", required_argument, 0, O_DB },
		{ "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	struct vl_cmp_opts o = { .threshold = 0.05, .alpha = 0.05 };
	const char *dbpath = vl_data_db();
	enum vl_an_format fmt = VL_AN_TEXT;
	uint64_t limit = 0;
	int have_limit = 0, c;
	optind = 1;
	opterr = 0;
	/* options may follow BASE HEAD: no '+' here, getopt permutes */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_THR:
			if (cmp_parse_threshold(optarg, &o.threshold))
				return vl_cli_usage_error("compare", "--threshold: expected a percentage such as 5 or 2.5%%, got '%s'", optarg);
			break;
		case O_ALPHA: {
			char *end;
			o.alpha = strtod(optarg, &end);
			if (end == optarg || *end || !(o.alpha > 0 && o.alpha < 1))
				return vl_cli_usage_error("compare", "--alpha: expected a number in (0, 1), got '%s'", optarg);
			break;
		}
		case O_PROFILE: o.profile = optarg; break;
		case O_DB:      dbpath = optarg; break;
		case O_LIMIT:
			if (vl_cli_parse_u64(optarg, &limit))
				return vl_cli_usage_error("compare", "--limit: expected a number, got '%s'", optarg);
			have_limit = 1;
			break;
		case O_FORMAT:
			if (vl_an_parse_format(optarg, &fmt))
				return vl_cli_usage_error("compare", "--format: expected table, markdown, json or csv, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(compare_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("compare", argc, argv, optopt);
		}
	}
	if (argc - optind != 2)
		return vl_cli_usage_error("compare", "expected BASE and HEAD (see virtlab compare --help), got %d argument%s",
					  argc - optind, argc - optind == 1 ? "" : "s");
	o.limit = have_limit ? (size_t)limit : fmt == VL_AN_MARKDOWN ? 40 : 0;
	struct vl_db *db = vl_cli_db_open_read("compare", dbpath);
	if (!db)
		return VL_CLI_USAGE;
	struct cmp_side b, h;
	int rc = cmp_resolve(db, argv[optind], &b);
	if (!rc && (rc = cmp_resolve(db, argv[optind + 1], &h)))
		free(b.ids);
	if (rc) {
		vl_db_close(db);
		return rc;
	}
	struct vl_cmp_result r;
	char err[512];
	if (vl_cmp_run(db, &b.f, b.label, &h.f, h.label, &o, &r, err, sizeof err)) {
		rc = vl_cli_usage_error("compare", "%s", err);
	} else {
		vl_cmp_print(stdout, &r, &o, fmt);
		rc = r.nregressed ? VL_CLI_FAILED : VL_CLI_OK;
		vl_cmp_free(&r);
	}
	free(b.ids);
	free(h.ids);
	vl_db_close(db);
	return rc;
}
