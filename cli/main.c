/* main.c — bin/virtlab: dispatch to a subcommand from one table.
 * Exit status: 0 ok, 1 a run failed, 2 bad usage or an invalid combination. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The subcommand table: ONE line per subcommand (declare it in cli.h). */
static const struct vl_cli_cmd cli_cmds[] = {
	{ "run",     "run one (engine, mmu, workload, profile) combination",  cmd_run },
	{ "list",    "list engines | mmus | workloads | profiles",            cmd_list },
	{ "matrix",  "run every valid (engine, mmu) x workload for a profile", cmd_matrix },
	{ "report",  "the comparison table: cycles/iteration and ratio to native", cmd_report },
	{ "plot",    "gnuplot figures (PNG, PDF) from the results database",  cmd_plot },
	{ "compare", "regressions between two sets of runs (commits, tags, ids)", cmd_compare },
	{ "export",  "runs and metrics as CSV or JSON",                       cmd_export },
	{ "bench",   "speed of the machine itself (guest MIPS)",              cmd_bench },
	{ "show",    "show profile P: every value with its source",           cmd_show },
	{ "advise",  "mode selection: the best engine x MMU per workload and profile", cmd_advise },
	{ "sweep",   "a profile value over a range: curves and crossover points", cmd_sweep },
	{ "plan",    "one self-contained command per run, each into its own shard", cmd_plan },
	{ "merge",   "fold database shards into one database (idempotent)",  cmd_merge },
	{ "version", "version, git commit and compiler of this build",        cmd_version },
	{ "validate", "the model vs this host: host twins beside the native model", cmd_validate },
	{ "suite",   "a standard test suite (kvm-unit-tests): PASS/FAIL/SKIP per configuration", cmd_suite },
};
#define CLI_NCMDS (sizeof cli_cmds / sizeof cli_cmds[0])

static void cli_help(FILE *out)
{
	fprintf(out, "usage: virtlab SUBCOMMAND [OPTIONS]   (virtlab SUBCOMMAND --help for its options)\n\n");
	for (size_t i = 0; i < CLI_NCMDS; i++)
		fprintf(out, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].help);
	fprintf(out, "\nExit status: 0 ok, 1 a run failed, 2 bad usage or an invalid combination.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return vl_cli_usage_error("", "no subcommand (try: virtlab --help)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		cli_help(stdout);
		return VL_CLI_OK;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < CLI_NCMDS; i++) {
		if (strcmp(argv[1], cli_cmds[i].name))
			continue;
		/* `virtlab SUBCOMMAND --version` works everywhere (before a "--") */
		for (int a = 2; a < argc && strcmp(argv[a], "--"); a++)
			if (!strcmp(argv[a], "--version"))
				return cmd_version(1, argv + a);
		return cli_cmds[i].fn(argc - 1, argv + 1);
	}
	char names[512] = "";
	for (size_t i = 0; i < CLI_NCMDS; i++) {
		size_t l = strlen(names);
		snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", cli_cmds[i].name);
	}
	return vl_cli_usage_error("", "unknown subcommand '%s' (valid: %s)", argv[1], names);
}
