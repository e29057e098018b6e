/* cmd_list.c — `virtlab list engines|mmus|workloads|profiles|events`. */
#include <string.h>

#include "cli.h"
#include "virtlab/engine.h"
#include "virtlab/hpc.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"
#include "virtlab/run.h"

static const char list_usage[] =
	"usage: virtlab list engines|mmus|workloads|profiles|events\n"
	"List what can be combined in `virtlab run`, with one-line descriptions.\n"
	"  engines    CPU engines, their default and valid MMU modes\n"
	"  mmus       MMU virtualization engines\n"
	"  workloads  guest workloads and their default iterations\n"
	"  profiles   CPU profiles: model, year, virtualization features\n"
	"  events     hardware events this host's PMU can count (PAPI presets and libpfm4 native\n"
	"             names, for `run --engine host --events`); none, with PAPI's reason on stderr,\n"
	"             where the host has no usable PMU\n";

static int list_engines(void)
{
	printf("%-12s %-8s %-28s %s\n", "ENGINE", "DEFAULT", "MMUS", "DESCRIPTION");
	for (size_t i = 0; i < vl_engine_count; i++) {
		const struct vl_engine_ops *e = vl_engines[i];
		char m[64] = "";
		for (int k = 0; k < VL_MMU_COUNT; k++)
			if (e->mmu_mask & VL_MMU_BIT(k)) {
				size_t l = strlen(m);
				snprintf(m + l, sizeof m - l, "%s%s", l ? "," : "", vl_mmu_name(k));
			}
		printf("%-12s %-8s %-28s %s\n", e->name, vl_mmu_name(e->default_mmu), m[0] ? m : "-", e->desc);
	}
	return VL_CLI_OK;
}

static int list_mmus(void)
{
	printf("%-10s %s\n", "MMU", "DESCRIPTION");
	for (size_t i = 0; i < vl_mmu_count; i++)
		printf("%-10s %s\n", vl_mmus[i]->name, vl_mmus[i]->desc);
	return VL_CLI_OK;
}

static const char list_sources_usage[] =
	"       virtlab list profiles --sources [--format table|json]\n"
	"  every profile's values with their provenance and the shares sourced /\n"
	"  derived / estimated per profile (they add up to the profile's value count;\n"
	"  a value the model does not read, class n/a, is listed but in no share)\n";

/* The profile names (vl_profile_list), or 0 after one line saying where
 * none were found. */
static size_t list_profile_names(char ***names)
{
	size_t n = vl_profile_list(names);
	if (n == 0)
		fprintf(stderr, "virtlab list: no profiles in %s\n", vl_profile_dir());
	return n;
}

/* `list profiles --sources`: per profile the values with their provenance and
 * the shares, then a summary table (table) or one JSON object. */
static int list_sources(enum vl_fmt f)
{
	char **names;
	size_t n = list_profile_names(&names);
	int rc = VL_CLI_OK;
	if (n == 0)
		return VL_CLI_FAILED;
	if (f == VL_FMT_JSON) {
		fputs("{\"rules\": [", stdout);
		for (size_t i = 0; i < vl_profile_nrules(); i++) {
			fputs(i ? ", " : "", stdout);
			vl_cli_json_string(stdout, vl_profile_rule(i));
		}
		fputs("],\n\"profiles\": [", stdout);
	}
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		char err[1024];
		if (f == VL_FMT_JSON && !first)
			fputs(",\n", stdout);
		if (f != VL_FMT_JSON && i)
			putchar('\n');
		if (vl_cli_profile_print(stdout, names[i], f, true, err, sizeof err)) {
			fprintf(stderr, "virtlab list: %s\n", err);
			rc = VL_CLI_FAILED;
			if (f == VL_FMT_JSON && !first)
				fputs("null", stdout);
			continue;
		}
		first = false;
	}
	if (f == VL_FMT_JSON) {
		fputs("]}\n", stdout);
	} else {
		printf("\nrules a derived value may use:\n");
		for (size_t i = 0; i < vl_profile_nrules(); i++)
			printf("  %s\n", vl_profile_rule(i));
	}
	vl_profile_list_free(names, n);
	return rc;
}

static int list_workloads(void)
{
	printf("%-10s %10s  %s\n", "WORKLOAD", "ITERS", "DESCRIPTION");
	for (size_t i = 0; i < vl_workload_count; i++)
		printf("%-10s %10llu  %s\n", vl_workloads[i].name, (unsigned long long)vl_workloads[i].default_iters,
		       vl_workloads[i].desc);
	return VL_CLI_OK;
}

static int list_profiles(void)
{
	char **names;
	size_t n = list_profile_names(&names);
	int rc = VL_CLI_OK;
	if (n == 0)
		return VL_CLI_FAILED;
	int w = 12;   /* the name column fits the longest name */
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(names[i]) > w)
			w = (int)strlen(names[i]);
	printf("%-*s %-56s %4s %6s  %s\n", w, "PROFILE", "MODEL", "YEAR", "MHZ", "FEATURES");
	for (size_t i = 0; i < n; i++) {
		struct vl_profile p;
		char err[512];
		if (vl_profile_load(names[i], &p, err, sizeof err)) {
			printf("%-*s (broken: %s)\n", w, names[i], err);
			rc = VL_CLI_FAILED;
			continue;
		}
		char f[128] = "";
		const struct { bool on; const char *n; } feat[] = {
			{ p.features_vmx, "vmx" }, { p.features_svm, "svm" }, { p.features_ept, "ept" },
			{ p.features_npt, "npt" }, { p.features_vpid, "vpid" }, { p.features_asid, "asid" },
			{ p.features_tpr_shadow, "tpr_shadow" }, { p.features_pcid, "pcid" },
			{ p.features_gbpages, "gbpages" }, { p.features_x2apic, "x2apic" },
		};
		for (size_t k = 0; k < sizeof feat / sizeof feat[0]; k++)
			if (feat[k].on) {
				size_t l = strlen(f);
				snprintf(f + l, sizeof f - l, "%s%s", l ? "," : "", feat[k].n);
			}
		printf("%-*s %-56s %4llu %6llu  %s%s\n", w, names[i], p.cpu_model, (unsigned long long)p.cpu_year,
		       (unsigned long long)p.cpu_mhz, f, strcmp(names[i], VL_DEFAULT_PROFILE) ? "" : "  (default)");
	}
	vl_profile_list_free(names, n);
	return rc;
}

static int list_events(void)
{
	char why[512] = "";
	int n = hpc_list(stdout, why, sizeof why);
	if (n < 0) {
		fprintf(stderr, "virtlab list events: %s\n", why);
		return VL_CLI_FAILED;
	}
	if (why[0])   /* no hardware (PMU) event: say why (PAPI's reason) */
		fprintf(stderr, "virtlab list events: %s\n", why);
	return VL_CLI_OK;
}

int cmd_list(int argc, char **argv)
{
	static const struct { const char *what; int (*fn)(void); } kinds[] = {
		{ "engines", list_engines }, { "mmus", list_mmus },
		{ "workloads", list_workloads }, { "profiles", list_profiles },
		{ "events", list_events },
	};
	if (argc < 2)
		return vl_cli_usage_error("list", "what to list? (valid: engines, mmus, workloads, profiles, events)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(list_usage, stdout);
		fputs(list_sources_usage, stdout);
		return VL_CLI_OK;
	}
	if (argc > 2 && !strcmp(argv[1], "profiles")) {
		bool sources = false;
		enum vl_fmt f = VL_FMT_TABLE;
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--sources")) {
				sources = true;
			} else if (!strcmp(argv[i], "--format") || !strncmp(argv[i], "--format=", 9)) {
				const char *v = argv[i][8] == '=' ? argv[i] + 9 : i + 1 < argc ? argv[++i] : "";
				if (vl_cli_parse_format(v, &f) || f == VL_FMT_CSV)
					return vl_cli_usage_error("list", "unknown --format '%s' (valid: table, json)", v);
			} else {
				return vl_cli_usage_error("list", "unexpected argument '%s'", argv[i]);
			}
		}
		if (!sources)
			return vl_cli_usage_error("list", "--format applies to `list profiles --sources`");
		return list_sources(f);
	}
	if (argc > 2)
		return vl_cli_usage_error("list", "unexpected argument '%s'", argv[2]);
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(argv[1], kinds[i].what))
			return kinds[i].fn();
	return vl_cli_usage_error("list", "unknown list '%s' (valid: engines, mmus, workloads, profiles, events)", argv[1]);
}
