/* cmd_bench.c — `virtlab bench`: the speed of the machine itself. Runs the
 * guest's CPU-bound `compute` workload on the native engine (every counter
 * and modelled TLB is always on in the model) and prints guest MIPS; where
 * QEMU is installed and the qemu-tcg engine is registered, runs the same
 * image under TCG in the same invocation and prints the ratio. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/engine.h"

static const char bench_usage[] =
	"usage: virtlab bench [--profile P] [--iterations N] [--image FILE] [--no-qemu] [--format table|json]\n"
	"Speed of the machine model: run the `compute` workload on the native engine\n"
	"and print guest MIPS (guest instructions retired per host second, all regions).\n"
	"With qemu-system-x86_64 installed and the qemu-tcg engine built, also time the\n"
	"same image under QEMU TCG and print model/TCG wall-time ratio.\n"
	"  --iterations N  compute iterations (default 1000000)\n"
	"  --format F      table (default) or json (an object with at least `mips`)\n";

static bool have_qemu(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char *dup = strdup(path), *save = NULL;
	bool found = false;
	for (char *d = strtok_r(dup, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char p[4096];
		snprintf(p, sizeof p, "%s/qemu-system-x86_64", d);
		found = access(p, X_OK) == 0;
	}
	free(dup);
	return found;
}

int cmd_bench(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_ITERS, O_IMAGE, O_NOQEMU, O_FORMAT, O_HELP };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "iterations", required_argument, 0, O_ITERS },
		{ "image", required_argument, 0, O_IMAGE }, { "no-qemu", no_argument, 0, O_NOQEMU },
		{ "format", required_argument, 0, O_FORMAT }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	struct vl_run_spec spec = { .engine = "native", .workload = "compute", .iterations = 1000000 };
	bool noqemu = false;
	enum vl_fmt fmt = VL_FMT_TABLE;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE: spec.profile = optarg; break;
		case O_IMAGE:   spec.image = optarg; break;
		case O_NOQEMU:  noqemu = true; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &spec.iterations) || !spec.iterations)
				return vl_cli_usage_error("bench", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_FORMAT:
			if (vl_cli_parse_format(optarg, &fmt) || fmt == VL_FMT_CSV)
				return vl_cli_usage_error("bench", "--format: expected table or json, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(bench_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("bench", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);

	struct vl_run_result res, q;
	memset(&q, 0, sizeof q);
	if (vl_run_execute(&spec, &res) == 2) {
		vl_cli_usage_error("bench", "%s", res.reason);
		vl_run_result_free(&res);
		return VL_CLI_USAGE;
	}
	if (res.status != VL_RUN_OK) {
		fprintf(stderr, "virtlab bench: %s: %s\n", vl_run_status_name[res.status], res.reason);
		vl_run_result_free(&res);
		return VL_CLI_FAILED;
	}
	uint64_t meas = res.ctr.events[VL_EV_GUEST_INSNS];
	bool qran = false;
	if (!noqemu && vl_engine_find("qemu-tcg") && have_qemu()) {
		struct vl_run_spec qs = spec;
		qs.engine = "qemu-tcg";
		qs.mmu = NULL;
		qs.repeats = 1;
		qran = vl_run_execute(&qs, &q) == 0 && q.status == VL_RUN_OK && q.host_seconds > 0;
		if (!qran)
			fprintf(stderr, "virtlab bench: qemu-tcg run did not complete: %s\n", q.reason);
	}
	double ratio = qran ? res.host_seconds / q.host_seconds : 0;
	if (fmt == VL_FMT_JSON) {
		printf("{\"mips\":%.3f,\"instructions\":%llu,\"seconds\":%.6f,\"cycles\":%llu,"
		       "\"measured_instructions\":%llu,\"setup_instructions\":%llu,"
		       "\"workload\":\"compute\",\"iterations\":%llu,\"profile\":",
		       res.host_mips, (unsigned long long)res.total_insns, res.host_seconds,
		       (unsigned long long)res.total_cycles, (unsigned long long)meas,
		       (unsigned long long)(res.total_insns - meas), (unsigned long long)res.iterations);
		vl_cli_json_string(stdout, res.profile);
		if (qran)
			printf(",\"qemu_tcg\":{\"seconds\":%.6f,\"ratio\":%.4f}", q.host_seconds, ratio);
		printf("}\n");
	} else {
		printf("bench: compute x %llu on native/%s\n", (unsigned long long)res.iterations, res.profile);
		printf("  guest instructions  %llu (measured loop %llu, boot+setup %llu)\n",
		       (unsigned long long)res.total_insns, (unsigned long long)meas,
		       (unsigned long long)(res.total_insns - meas));
		printf("  modelled cycles     %llu\n", (unsigned long long)res.total_cycles);
		printf("  host time           %.3f s\n", res.host_seconds);
		printf("  speed               %.1f MIPS (guest instructions per host second)\n", res.host_mips);
		if (qran)
			printf("  qemu-tcg            %.3f s for the same image: model/TCG wall-time ratio %.2f\n",
			       q.host_seconds, ratio);
		else
			printf("  qemu-tcg            not run (%s)\n", noqemu ? "--no-qemu" :
			       !vl_engine_find("qemu-tcg") ? "engine qemu-tcg not built" :
			       !have_qemu() ? "qemu-system-x86_64 not installed" : "run failed");
	}
	vl_run_result_free(&res);
	vl_run_result_free(&q);
	return VL_CLI_OK;
}
