/* cmd_run.c — `virtlab run`: one combination, printed and stored. */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/machine.h"
#include "virtlab/guest_abi.h"
#include "virtlab/datadir.h"
#include "virtlab/results.h"

static const char run_usage[] =
	"usage: virtlab run [--engine E] [--mmu M] --workload W [--profile P] [--iterations N]\n"
	"                   [--params \"k=v ...\"] [--image FILE [--append ARGS]] [--max-instructions N] [--max-cycles N]\n"
	"                   [--ram-mb N] [--db FILE | --no-db] [--tag T] [--trace] [--trace-region measured|all]\n"
	"                   [--format table|json|csv] [--events E1,E2,...] [--repeats N]\n"
	"                   [--progress | --no-progress]\n"
	"Run one (engine, mmu, workload, profile) combination on the machine model (or QEMU).\n"
	"  --engine E            CPU engine (default native; `virtlab list engines`)\n"
	"  --mmu M               MMU engine (default: the engine's natural mode)\n"
	"  --workload W          guest workload (`virtlab list workloads`)\n"
	"  --profile P           CPU profile name or .ini path (default " VL_DEFAULT_PROFILE ")\n"
	"  --iterations N        iterations of the measured loop (default: the workload's)\n"
	"  --params \"k=v ...\"    extra guest command-line parameters\n"
	"  --image FILE          guest ELF (default $VIRTLAB_GUEST, else the source tree's\n"
	"                        build/guest/guest.elf, or PREFIX/share/virtlab/guest.elf when installed);\n"
	"                        without --workload any ELF runs with `iters=N` only; a Multiboot v1\n"
	"                        kernel (e.g. kvm-unit-tests *.flat) boots in 32-bit protected mode\n"
	"  --append ARGS         a Multiboot kernel's command line after its name (as QEMU -append)\n"
	"  --max-instructions N  stop with status timeout after N instructions (default 2e10; bt 1.6e11: it counts translated code)\n"
	"  --max-cycles N        stop with status timeout after N modelled cycles (default 1e13)\n"
	"  --db FILE             results database (default " VL_CLI_DB_DOC "); --no-db: do not store\n"
	"  --tag T               tag stored with the run (for `virtlab compare`)\n"
	"  --trace               print every exit, trap, callout, translation as it happens, and\n"
	"                        where the measured region begins and ends\n"
	"  --trace-region R      measured: trace only inside the measured region (implies --trace);\n"
	"                        all (default)\n"
	"  --format F            table (default), json (one object), csv\n"
	"  --progress            progress of a long run on stderr: guest instructions, modelled\n"
	"                        cycles, time to the instruction limit (default: when stderr is a terminal);\n"
	"                        --no-progress: never\n"
	"  --events E1,E2,...    engine host: hardware events to count (PAPI presets or libpfm4 native\n"
	"                        names; default PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_TLB_DM; `virtlab list events`)\n"
	"  --repeats N           real engines (host, qemu-*): samples to take, each a new process\n"
	"Exit status: 0 ok, 1 the run failed or timed out, 2 bad usage / invalid combination.\n";

struct trace_sink { FILE *out; };

/* Numbers people read at a glance: 1234567 -> "1.23e6". */
static void run_sci(char *buf, size_t n, double v)
{
	if (v < 1e5)
		snprintf(buf, n, "%.0f", v);
	else
		snprintf(buf, n, "%.2fe%d", v / __builtin_pow(10, (int)__builtin_log10(v)), (int)__builtin_log10(v));
}

/* --progress: one line, redrawn on a terminal (appended otherwise). A run
 * shorter than a second prints nothing. The model cannot know how many
 * iterations are done, so the time shown is to the instruction limit: an
 * upper bound for a run that finishes, the time left for one that will not. */
static void run_progress(void *arg, const struct vl_run_progress *p)
{
	bool tty = *(const bool *)arg;
	if (p->done) {
		if (tty && p->seconds >= 1)
			fputs("\r\033[K", stderr);
		return;
	}
	char in[32], cy[32], lim[32];
	run_sci(in, sizeof in, (double)p->insns);
	run_sci(cy, sizeof cy, (double)p->cycles);
	run_sci(lim, sizeof lim, (double)p->max_insns);
	double mips = p->seconds > 0 ? p->insns / p->seconds / 1e6 : 0;
	double left = mips > 0 && p->max_insns > p->insns ? (p->max_insns - p->insns) / (mips * 1e6) : 0;
	fprintf(stderr, "%srun: %.0fs  %s guest instructions (%.0f MIPS)  %s modelled cycles  "
		"instruction limit %s in <= %.0fs%s", tty ? "\r\033[K" : "", p->seconds, in, mips, cy, lim, left,
		tty ? "" : "\n");
	fflush(stderr);
}

static void run_trace(void *arg, const char *line)
{
	struct trace_sink *t = arg;
	fprintf(t->out, "trace: %s\n", line);
}

/* Store the run in the (already opened) results database. */
static int run_store(struct vl_db *db, const char *path, const struct vl_run_result *res, const char *tag)
{
	char err[512];
	int64_t id = 0;
	int rc = vl_db_store_run(db, res, tag, &id, err, sizeof err);
	if (rc)
		fprintf(stderr, "virtlab run: storing in %s: %s\n", path, err);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	enum { O_ENGINE = 256, O_MMU, O_WORKLOAD, O_PROFILE, O_ITERS, O_PARAMS, O_IMAGE, O_MAXI, O_MAXC,
	       O_DB, O_NODB, O_TAG, O_TRACE, O_FORMAT, O_RAM, O_HELP, O_PROGRESS, O_NOPROGRESS, O_TRACE_REGION,
	       O_EVENTS, O_REPEATS, O_APPEND };
	static const struct option opts[] = {
		{ "engine", required_argument, 0, O_ENGINE }, { "mmu", required_argument, 0, O_MMU },
		{ "workload", required_argument, 0, O_WORKLOAD }, { "profile", required_argument, 0, O_PROFILE },
		{ "iterations", required_argument, 0, O_ITERS }, { "params", required_argument, 0, O_PARAMS },
		{ "image", required_argument, 0, O_IMAGE }, { "max-instructions", required_argument, 0, O_MAXI },
		{ "max-cycles", required_argument, 0, O_MAXC }, { "db", required_argument, 0, O_DB },
		{ "no-db", no_argument, 0, O_NODB }, { "tag", required_argument, 0, O_TAG },
		{ "trace", no_argument, 0, O_TRACE }, { "format", required_argument, 0, O_FORMAT },
		{ "ram-mb", required_argument, 0, O_RAM }, { "help", no_argument, 0, O_HELP },
		{ "progress", no_argument, 0, O_PROGRESS }, { "no-progress", no_argument, 0, O_NOPROGRESS },
		{ "trace-region", required_argument, 0, O_TRACE_REGION },
		{ "events", required_argument, 0, O_EVENTS }, { "repeats", required_argument, 0, O_REPEATS },
		{ "append", required_argument, 0, O_APPEND },
		{ 0, 0, 0, 0 }
	};
	struct vl_run_spec spec = { .engine = "native" };
	const char *db = vl_data_db(), *tag = NULL;
	bool nodb = false, trace = false;
	int progress = -1;   /* -1: when stderr is a terminal */
	enum vl_fmt fmt = VL_FMT_TABLE;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_ENGINE:   spec.engine = optarg; break;
		case O_MMU:      spec.mmu = optarg; break;
		case O_WORKLOAD: spec.workload = optarg; break;
		case O_PROFILE:  spec.profile = optarg; break;
		case O_PARAMS:   spec.params = optarg; break;
		case O_IMAGE:    spec.image = optarg; break;
		case O_APPEND:   spec.append = optarg; break;
		case O_DB:       db = optarg; break;
		case O_NODB:     nodb = true; break;
		case O_TAG:      tag = optarg; break;
		case O_TRACE:    trace = true; break;
		case O_TRACE_REGION:
			if (!strcmp(optarg, "measured"))
				spec.trace_region = VL_REGION_MEASURE;
			else if (!strcmp(optarg, "all"))
				spec.trace_region = 0;
			else
				return vl_cli_usage_error("run", "--trace-region: expected measured or all, got '%s'", optarg);
			trace = true;
			break;
		case O_PROGRESS:   progress = 1; break;
		case O_NOPROGRESS: progress = 0; break;
		case O_EVENTS:   spec.events = optarg; break;
		case O_REPEATS: {
			uint64_t r = 0;
			if (vl_cli_parse_u64(optarg, &r) || !r || r > 10000)
				return vl_cli_usage_error("run", "--repeats: expected 1..10000, got '%s'", optarg);
			spec.repeats = (unsigned)r;
			break;
		}
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &spec.iterations) || !spec.iterations)
				return vl_cli_usage_error("run", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_MAXI:
			if (vl_cli_parse_u64(optarg, &spec.max_insns) || !spec.max_insns)
				return vl_cli_usage_error("run", "--max-instructions: expected a positive integer, got '%s'", optarg);
			break;
		case O_MAXC:
			if (vl_cli_parse_u64(optarg, &spec.max_cycles) || !spec.max_cycles)
				return vl_cli_usage_error("run", "--max-cycles: expected a positive integer, got '%s'", optarg);
			break;
		case O_RAM:
			if (vl_cli_parse_u64(optarg, &spec.ram_mb) || spec.ram_mb < VL_RAM_MB_MIN || spec.ram_mb > VL_RAM_MB_MAX)
				return vl_cli_usage_error("run", "--ram-mb: expected %llu..%llu, got '%s'",
							  VL_RAM_MB_MIN, VL_RAM_MB_MAX, optarg);
			break;
		case O_FORMAT:
			if (vl_cli_parse_format(optarg, &fmt))
				return vl_cli_usage_error("run", "--format: expected table, json or csv, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(run_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("run", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("run", "unexpected argument '%s' (see virtlab run --help)", argv[optind]);
	if (spec.events && strcmp(spec.engine, "host"))
		return vl_cli_usage_error("run", "--events: only engine host counts hardware events (got engine %s)", spec.engine);
	if (!spec.workload && !spec.image)
		return vl_cli_usage_error("run", "--workload is required (valid: see `virtlab list workloads`), or --image FILE");

	/* An existing database is checked before the run: a foreign or corrupt
	 * file is refused (and left alone) without spending the run. A missing
	 * one is created only once there is a run to store. */
	struct vl_db *dbh = NULL;
	if (!nodb && access(db, F_OK) == 0 && !(dbh = vl_cli_db_open("run", db)))
		return VL_CLI_USAGE;

	struct trace_sink sink = { fmt == VL_FMT_TABLE ? stdout : stderr };
	if (trace) {
		spec.trace = run_trace;
		spec.trace_arg = &sink;
	}
	bool err_tty = isatty(2);
	if (progress == 1 || (progress < 0 && err_tty && !trace)) {
		spec.progress = run_progress;
		spec.progress_arg = &err_tty;
	}
	struct vl_run_result res;
	spec.profile_classes = true;   /* the output's share classes (output.c) */
	int rc = vl_run_execute(&spec, &res);
	if (rc == 2 || res.status == VL_RUN_REFUSED) {
		vl_cli_usage_error("run", "%s", res.reason);
		vl_run_result_free(&res);
		vl_db_close(dbh);
		return VL_CLI_USAGE;
	}
	vl_cli_print_result(stdout, &res, fmt);
	fflush(stdout);
	int out = res.status == VL_RUN_OK ? VL_CLI_OK : VL_CLI_FAILED;
	if (out != VL_CLI_OK)
		fprintf(stderr, "virtlab run: %s: %s\n", vl_run_status_name[res.status], res.reason);
	if (!nodb && !dbh && !(dbh = vl_cli_db_open("run", db)))
		out = VL_CLI_FAILED;
	else if (dbh && run_store(dbh, db, &res, tag))
		out = VL_CLI_FAILED;
	vl_db_close(dbh);
	vl_run_result_free(&res);
	return out;
}
