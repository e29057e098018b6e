/* cmd_show.c — `virtlab show profile P`: every value of a profile with its
 * provenance; and the printer `list profiles --sources` shares. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "virtlab/profile.h"

static const char show_usage[] =
	"usage: virtlab show profile P [--format table|json]\n"
	"Print every value of CPU profile P (a name or an .ini path) with its provenance:\n"
	"  sourced    a publication, manual section or measurement, with the figure\n"
	"  derived    computed by the loader from other values by a stated rule (the\n"
	"             expression is shown); counted as estimated when an input is one\n"
	"  estimated  an estimate, with its reasoning\n"
	"  n/a        a value the model does not read in this profile (`; unused: why`,\n"
	"             e.g. tlb.l2_ways without an L2 TLB): listed, in no share\n"
	"and the shares of each. Rules a derivation may use:\n";

struct prof_counts { size_t total, sourced, derived, estimated, unused; };

static void counts_of(const struct vl_profile_value *v, size_t n, struct prof_counts *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].present)
			continue;
		if (v[i].prov == VL_PROV_UNUSED) {   /* n/a: in no share */
			c->unused++;
			continue;
		}
		c->total++;
		const char *k = vl_profile_class(&v[i]);
		if (!strcmp(k, "sourced"))
			c->sourced++;
		else if (!strcmp(k, "derived"))
			c->derived++;
		else
			c->estimated++;
	}
}

static double pct(size_t a, size_t t) { return t ? 100.0 * (double)a / (double)t : 0.0; }

static const char *const prov_names[] = { [VL_PROV_SOURCE] = "source", [VL_PROV_DERIVED] = "derived",
					  [VL_PROV_ESTIMATE] = "estimate", [VL_PROV_UNUSED] = "unused" };

static void print_table(FILE *out, const char *name, const struct vl_profile *p, const struct vl_profile_value *v,
			size_t n, bool values)
{
	struct prof_counts c;
	counts_of(v, n, &c);
	fprintf(out, "%s — %s (%s)\n", name, p->cpu_model, p->path);
	fprintf(out, "%zu values: %zu sourced (%.1f%%), %zu derived (%.1f%%), %zu estimated (%.1f%%)", c.total,
		c.sourced, pct(c.sourced, c.total), c.derived, pct(c.derived, c.total), c.estimated,
		pct(c.estimated, c.total));
	if (c.unused)
		fprintf(out, "; %zu n/a (not read by the model, in no share)", c.unused);
	fputc('\n', out);
	if (!values)
		return;
	const char *sec = "";
	for (size_t i = 0; i < n; i++) {
		if (!v[i].present)
			continue;
		if (strcmp(sec, v[i].section))
			fprintf(out, "[%s]\n", sec = v[i].section);
		fprintf(out, "  %-14s = %-12s %-9s ", v[i].key, v[i].value, vl_profile_class(&v[i]));
		if (v[i].prov == VL_PROV_DERIVED)
			fprintf(out, "= %s%s; ", v[i].expr, v[i].on_estimate ? " (an input is an estimate)" : "");
		fprintf(out, "%s\n", v[i].note);
	}
}

static void print_json(FILE *out, const char *name, const struct vl_profile *p, const struct vl_profile_value *v,
		       size_t n)
{
	struct prof_counts c;
	counts_of(v, n, &c);
	fputs("{\"name\": ", out);
	vl_cli_json_string(out, name);
	fputs(", \"model\": ", out);
	vl_cli_json_string(out, p->cpu_model);
	fputs(", \"path\": ", out);
	vl_cli_json_string(out, p->path);
	fprintf(out, ", \"counts\": {\"total\": %zu, \"sourced\": %zu, \"derived\": %zu, \"estimated\": %zu, \"n/a\": %zu}",
		c.total, c.sourced, c.derived, c.estimated, c.unused);
	fprintf(out, ", \"shares\": {\"sourced\": %.6f, \"derived\": %.6f, \"estimated\": %.6f}",
		c.total ? (double)c.sourced / (double)c.total : 0.0, c.total ? (double)c.derived / (double)c.total : 0.0,
		c.total ? (double)c.estimated / (double)c.total : 0.0);
	fputs(", \"values\": [", out);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].present)
			continue;
		fprintf(out, "%s\n  {\"section\": \"%s\", \"key\": \"%s\", \"value\": ", first ? "" : ",", v[i].section,
			v[i].key);
		vl_cli_json_string(out, v[i].value);
		fprintf(out, ", \"class\": \"%s\", \"provenance\": \"%s\"", vl_profile_class(&v[i]), prov_names[v[i].prov]);
		if (v[i].prov == VL_PROV_DERIVED) {
			fputs(", \"rule\": ", out);
			vl_cli_json_string(out, v[i].expr);
		}
		if (v[i].ranged)
			fprintf(out, ", \"min\": %llu, \"max\": %llu", (unsigned long long)v[i].min,
				(unsigned long long)v[i].max);
		fputs(", \"note\": ", out);
		vl_cli_json_string(out, v[i].note);
		fputs(", \"meaning\": ", out);
		vl_cli_json_string(out, v[i].doc);
		fputc('}', out);
		first = false;
	}
	fputs("]}", out);
}

int vl_cli_profile_print(FILE *out, const char *name, enum vl_fmt f, bool values, char *err, size_t errlen)
{
	struct vl_profile *p = calloc(1, sizeof *p);
	struct vl_profile_value *v = NULL;
	size_t n = 0;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (vl_profile_describe(name, p, &v, &n, err, errlen)) {
		free(p);
		return -1;
	}
	if (f == VL_FMT_JSON)
		print_json(out, name, p, v, n);
	else
		print_table(out, name, p, v, n, values);
	free(v);
	free(p);
	return 0;
}

int cmd_show(int argc, char **argv)
{
	enum { O_FORMAT = 256, O_HELP };
	static const struct option opts[] = {
		{ "format", required_argument, 0, O_FORMAT }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 },
	};
	enum vl_fmt fmt = VL_FMT_TABLE;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_FORMAT:
			if (vl_cli_parse_format(optarg, &fmt) || fmt == VL_FMT_CSV)
				return vl_cli_usage_error("show", "unknown --format '%s' (valid: table, json)", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(show_usage, stdout);
			for (size_t i = 0; i < vl_profile_nrules(); i++)
				printf("  %s\n", vl_profile_rule(i));
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("show", argc, argv, optopt);
		}
	}
	if (optind >= argc)
		return vl_cli_usage_error("show", "what to show? (valid: profile P)");
	if (strcmp(argv[optind], "profile"))
		return vl_cli_usage_error("show", "unknown item '%s' (valid: profile)", argv[optind]);
	if (optind + 1 >= argc)
		return vl_cli_usage_error("show", "show profile: which profile? (`virtlab list profiles`)");
	if (optind + 2 < argc)
		return vl_cli_usage_error("show", "unexpected argument '%s'", argv[optind + 2]);
	char err[1024];
	if (vl_cli_profile_print(stdout, argv[optind + 1], fmt, true, err, sizeof err))
		return vl_cli_usage_error("show", "%s", err);
	if (fmt == VL_FMT_JSON)
		putchar('\n');
	return VL_CLI_OK;
}
