/* cmd_validate.c — `virtlab validate`: the model checked against this host.
 * Identifies the host CPU by CPUID and picks the profile that models it (or
 * says which stands in and why), runs the host twins (engine host, many
 * processes each) and the model's native engine on that profile for the same
 * workloads — and, when the host is itself a virtual machine, the profile's
 * hardware VMM with nested paging, which is what the host's workloads really
 * run under — then prints measured vs modelled per iteration with the ratio
 * in a common unit and stores every run (tag `validate`). The unit is
 * cycles when PAPI counts core cycles here, else nanoseconds: the model's
 * cycles at the profile's clock, the host's CLOCK_MONOTONIC time. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/hostcpu.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char validate_usage[] =
	"usage: virtlab validate [--profile P] [--workloads W1,W2,...] [--repeats N] [--iterations N]\n"
	"                        [--events E1,...] [--db FILE | --no-db] [--tag T] [--format table|json]\n"
	"Check the model against this host: host twins of the user-level workloads (engine host)\n"
	"beside the model's native engine on the profile that models this CPU.\n"
	"  --profile P        compare with P instead of the profile CPUID identifies\n"
	"  --workloads LIST   workloads with a host twin (default: syscall,pgfault,divzero,ctxsw,forkwait,cpuid,compute)\n"
	"  --repeats N        host twin processes per workload (default 15)\n"
	"  --iterations N     iterations per run (default: each workload's)\n"
	"  --events LIST      hardware events for the twins (as `run --events`)\n"
	"  --db FILE          store the runs there (default " VL_CLI_DB_DOC "); --no-db: do not store\n"
	"  --tag T            tag of the stored runs (default validate)\n"
	"  --format F         table (default) or json\n"
	"Exit status: 0 every run ok, 1 a run failed, 2 bad usage.\n";

static const char *const validate_default_workloads = "syscall,pgfault,divzero,ctxsw,forkwait,cpuid,compute";

struct val_row {
	char workload[32];
	int status;                /* 0 all runs ok */
	char reason[300];
	double meas, meas_lo, meas_hi, meas_tsc;   /* per iteration, in the unit */
	size_t n;
	double native, hw;         /* modelled, in the unit (NAN = not run) */
	int64_t ids[3];
	struct vl_run_result res[3];   /* host, native, hardware VMM; stored once every run was accepted */
	bool have[3];
};

/* Store one run (when a database is open); its id or 0. */
static int64_t val_store(struct vl_db *db, const struct vl_run_result *r, const char *tag, bool *store_failed)
{
	char err[512];
	int64_t id = 0;
	if (db && vl_db_store_run(db, r, tag, &id, err, sizeof err)) {
		fprintf(stderr, "virtlab validate: storing: %s\n", err);
		*store_failed = true;
	}
	return id;
}

static const struct vl_sample_set *val_samples(const struct vl_run_result *r, const char *metric)
{
	for (int i = 0; i < r->nsamples; i++)
		if (!strcmp(r->samples[i].metric, metric))
			return &r->samples[i];
	return NULL;
}

static void val_json_num(FILE *out, double v)
{
	if (isnan(v))
		fprintf(out, "null");
	else
		fprintf(out, "%.6g", v);
}

int cmd_validate(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_WL, O_REPEATS, O_ITERS, O_EVENTS, O_DB, O_NODB, O_TAG, O_FORMAT, O_HELP };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "workloads", required_argument, 0, O_WL },
		{ "repeats", required_argument, 0, O_REPEATS }, { "iterations", required_argument, 0, O_ITERS },
		{ "events", required_argument, 0, O_EVENTS }, { "db", required_argument, 0, O_DB },
		{ "no-db", no_argument, 0, O_NODB }, { "tag", required_argument, 0, O_TAG },
		{ "format", required_argument, 0, O_FORMAT }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	const char *profile_opt = NULL, *wl = validate_default_workloads, *events = NULL;
	const char *dbpath = vl_data_db(), *tag = "validate";
	uint64_t repeats = 15, iters = 0;
	bool nodb = false;
	enum vl_fmt fmt = VL_FMT_TABLE;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE: profile_opt = optarg; break;
		case O_WL:      wl = optarg; break;
		case O_EVENTS:  events = optarg; break;
		case O_DB:      dbpath = optarg; break;
		case O_NODB:    nodb = true; break;
		case O_TAG:     tag = optarg; break;
		case O_REPEATS:
			if (vl_cli_parse_u64(optarg, &repeats) || !repeats || repeats > 10000)
				return vl_cli_usage_error("validate", "--repeats: expected 1..10000, got '%s'", optarg);
			break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &iters) || !iters)
				return vl_cli_usage_error("validate", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_FORMAT:
			if (vl_cli_parse_format(optarg, &fmt) || fmt == VL_FMT_CSV)
				return vl_cli_usage_error("validate", "--format: expected table or json, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(validate_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("validate", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("validate", "unexpected argument '%s' (see virtlab validate --help)", argv[optind]);

	/* the workloads: each must exist and have a host twin (checked by the
	 * engine below; a name check first keeps bad usage at exit 2 before any run) */
	char wlbuf[512];
	const char *wls[32];
	size_t nsplit;
	if (strlen(wl) >= sizeof wlbuf)
		return vl_cli_usage_error("validate", "--workloads: list too long");
	snprintf(wlbuf, sizeof wlbuf, "%s", wl);
	if (vl_cli_split(wlbuf, wls, 32, &nsplit))
		return vl_cli_usage_error("validate", "--workloads: expected a comma-separated list of at most 32, got '%s'", wl);
	int nwl = (int)nsplit;
	for (int i = 0; i < nwl; i++)
		if (!vl_workload_find(wls[i]))
			return vl_cli_usage_error("validate", "--workloads: unknown workload '%s' (see `virtlab list workloads`)", wls[i]);

	/* the CPU and its profile */
	struct vl_hostcpu cpu;
	vl_hostcpu_identify(&cpu);
	char prof_name[64], prof_why[400];
	int exact = vl_hostcpu_profile(&cpu, prof_name, sizeof prof_name, prof_why, sizeof prof_why);
	if (profile_opt) {
		char id_why[400];
		snprintf(id_why, sizeof id_why, "%s", prof_why);
		snprintf(prof_why, sizeof prof_why, "profile %s chosen with --profile (CPUID: %.300s)", profile_opt, id_why);
		snprintf(prof_name, sizeof prof_name, "%s", profile_opt);
		exact = -1;
	}
	struct vl_profile prof;
	char err[512];
	if (vl_profile_load(prof_name, &prof, err, sizeof err))
		return vl_cli_usage_error("validate", "%s", err);
	/* the hardware VMM the host's own workloads run under, when it is a VM */
	const char *hw = NULL;
	if (cpu.hypervisor) {
		if (prof.features_vmx && prof.features_ept)
			hw = "vtx";
		else if (prof.features_svm && prof.features_npt)
			hw = "svm";
	}

	/* an existing database is checked before any run (a foreign or corrupt
	 * file: status 2, untouched); a missing one is created only to store,
	 * so a refused validation leaves no new file behind */
	struct vl_db *db = NULL;
	if (!nodb && access(dbpath, F_OK) == 0 && !(db = vl_cli_db_open("validate", dbpath)))
		return VL_CLI_USAGE;

	struct val_row *rows = calloc((size_t)nwl, sizeof *rows);
	if (!rows) {
		vl_db_close(db);
		return vl_cli_usage_error("validate", "out of memory");
	}
	bool cycles_unit = false, any_failed = false, store_failed = false, refused = false;
	char counters_note[400] = "";
	for (int i = 0; i < nwl && !refused; i++) {
		struct val_row *row = &rows[i];
		snprintf(row->workload, sizeof row->workload, "%s", wls[i]);
		row->native = row->hw = row->meas = row->meas_tsc = NAN;
		struct vl_run_spec hs = { .engine = "host", .workload = wls[i], .profile = prof_name, .iterations = iters,
					  .repeats = (unsigned)repeats, .events = events };
		struct vl_run_result r;
		int rc = vl_run_execute(&hs, &r);
		if (rc == 2) {
			vl_cli_usage_error("validate", "%s", r.reason);
			vl_run_result_free(&r);
			refused = true;
			break;
		}
		if (r.status != VL_RUN_OK) {
			row->status = 1;
			snprintf(row->reason, sizeof row->reason, "host: %s: %.250s", vl_run_status_name[r.status], r.reason);
		} else {
			const struct vl_sample_set *cyc = val_samples(&r, "PAPI_TOT_CYC_per_iter");
			const struct vl_sample_set *ns = val_samples(&r, "ns_per_iter");
			const struct vl_sample_set *tsc = val_samples(&r, "tsc_per_iter");
			if (!tsc && (tsc = val_samples(&r, "cycles_per_iter")) && strcmp(tsc->unit, "tsc"))
				tsc = NULL;   /* without PAPI cycles, cycles_per_iter holds the TSC ticks */
			if (i == 0)
				cycles_unit = cyc != NULL;
			const struct vl_sample_set *m = cycles_unit ? cyc : ns;
			if (m && m->n) {
				row->meas = vl_stats_median(m->v, m->n);
				row->n = m->n;
				row->meas_lo = row->meas_hi = m->v[0];
				for (size_t k = 1; k < m->n; k++) {
					row->meas_lo = fmin(row->meas_lo, m->v[k]);
					row->meas_hi = fmax(row->meas_hi, m->v[k]);
				}
			}
			if (tsc && tsc->n)
				row->meas_tsc = vl_stats_median(tsc->v, tsc->n);
			for (int k = 0; k < r.nhw && !counters_note[0]; k++)
				if (!r.hw[k].available)
					snprintf(counters_note, sizeof counters_note, "%.60s unavailable: %.300s", r.hw[k].name, r.hw[k].reason);
		}
		row->res[0] = r;
		row->have[0] = true;

		/* the model: native, and the hardware VMM when the host is a VM */
		const char *engines[2] = { "native", hw };
		for (int e = 0; e < 2 && engines[e]; e++) {
			struct vl_run_spec ms = { .engine = engines[e], .workload = wls[i], .profile = prof_name,
						  .iterations = iters };
			rc = vl_run_execute(&ms, &r);
			if (rc == 2) {
				vl_cli_usage_error("validate", "%s", r.reason);
				vl_run_result_free(&r);
				refused = true;
				break;
			}
			double v = NAN;
			if (r.status == VL_RUN_OK)
				v = cycles_unit ? r.cycles_per_iter : r.cycles_per_iter * 1000.0 / (double)prof.cpu_mhz;
			else if (!row->status) {
				row->status = 1;
				snprintf(row->reason, sizeof row->reason, "%s: %s: %.250s", engines[e], vl_run_status_name[r.status], r.reason);
			}
			if (e == 0)
				row->native = v;
			else
				row->hw = v;
			row->res[1 + e] = r;
			row->have[1 + e] = true;
		}
		any_failed |= row->status != 0;
	}
	/* store only when every run was accepted: a refusal leaves nothing half-written */
	if (!refused && !nodb && !db && !(db = vl_cli_db_open("validate", dbpath)))
		store_failed = true;   /* the line is printed; the table still is */
	for (int i = 0; i < nwl; i++)
		for (int k = 0; k < 3; k++)
			if (rows[i].have[k]) {
				if (!refused)
					rows[i].ids[k] = val_store(db, &rows[i].res[k], tag, &store_failed);
				vl_run_result_free(&rows[i].res[k]);
			}
	vl_db_close(db);
	if (refused) {
		free(rows);
		return VL_CLI_USAGE;
	}

	const char *unit = cycles_unit ? "cycles" : "ns";
	if (fmt == VL_FMT_JSON) {
		printf("{\"host_cpu\":{\"vendor\":");
		vl_cli_json_string(stdout, cpu.vendor);
		printf(",\"family\":%u,\"model\":%u,\"stepping\":%u,\"brand\":", cpu.family, cpu.model, cpu.stepping);
		vl_cli_json_string(stdout, cpu.brand);
		printf(",\"hypervisor\":%s,\"amx\":%s},\"profile\":", cpu.hypervisor ? "true" : "false", cpu.amx ? "true" : "false");
		vl_cli_json_string(stdout, prof_name);
		printf(",\"profile_match\":\"%s\",\"profile_reason\":", exact > 0 ? "exact" : exact == 0 ? "stand-in" : "chosen");
		vl_cli_json_string(stdout, prof_why);
		printf(",\"profile_mhz\":%llu,\"unit\":\"%s\",\"counters\":{\"cycles\":%s,\"reason\":",
		       (unsigned long long)prof.cpu_mhz, unit, cycles_unit ? "true" : "false");
		vl_cli_json_string(stdout, counters_note);
		printf("},\"hw_engine\":");
		if (hw)
			vl_cli_json_string(stdout, hw);
		else
			printf("null");
		printf(",\"rows\":[");
		for (int i = 0; i < nwl; i++) {
			const struct val_row *row = &rows[i];
			printf("%s{\"workload\":", i ? "," : "");
			vl_cli_json_string(stdout, row->workload);
			printf(",\"status\":\"%s\",\"reason\":", row->status ? "failed" : "ok");
			vl_cli_json_string(stdout, row->reason);
			printf(",\"measured\":");
			val_json_num(stdout, row->meas);
			printf(",\"samples\":%zu,\"measured_min\":", row->n);
			val_json_num(stdout, row->n ? row->meas_lo : NAN);
			printf(",\"measured_max\":");
			val_json_num(stdout, row->n ? row->meas_hi : NAN);
			printf(",\"measured_tsc\":");
			val_json_num(stdout, row->meas_tsc);
			printf(",\"native\":");
			val_json_num(stdout, row->native);
			printf(",\"ratio_native\":");
			val_json_num(stdout, row->meas / row->native);
			printf(",\"hw\":");
			val_json_num(stdout, row->hw);
			printf(",\"ratio_hw\":");
			val_json_num(stdout, row->meas / row->hw);
			printf(",\"run_ids\":[%lld,%lld,%lld]}", (long long)row->ids[0], (long long)row->ids[1], (long long)row->ids[2]);
		}
		printf("]}\n");
	} else {
		printf("host CPU     %s family 0x%x model 0x%x stepping %u \"%s\"%s%s\n", cpu.vendor, cpu.family, cpu.model,
		       cpu.stepping, cpu.brand, cpu.hypervisor ? ", a virtual machine (CPUID hypervisor bit)" : "",
		       cpu.amx ? ", AMX" : "");
		printf("profile      %s (%llu MHz): %s\n", prof_name, (unsigned long long)prof.cpu_mhz, prof_why);
		if (cycles_unit)
			printf("unit         cycles per iteration: PAPI_TOT_CYC on the host, modelled cycles\n");
		else
			printf("unit         ns per iteration: host CLOCK_MONOTONIC; model cycles at the profile's %llu MHz\n"
			       "             (no cycle counter: %s)\n", (unsigned long long)prof.cpu_mhz,
			       counters_note[0] ? counters_note : "PAPI_TOT_CYC not asked for");
		printf("measured     median of each host twin's processes [min-max]; TSC ticks/iter for reference\n");
		if (hw)
			printf("%-10s   the host is a VM: %s/nested models what its workloads run under (a CPUID exits)\n", "", hw);
		printf("\n%-9s %12s %21s %10s %10s %8s", "workload", "measured", "[min-max]", "TSC/iter", "native", "ratio");
		if (hw)
			printf(" %10s %8s", hw, "ratio");
		printf("\n");
		for (int i = 0; i < nwl; i++) {
			const struct val_row *row = &rows[i];
			if (row->status && isnan(row->meas)) {
				printf("%-9s %s\n", row->workload, row->reason);
				continue;
			}
			char range[48];
			snprintf(range, sizeof range, "[%.1f-%.1f]", row->meas_lo, row->meas_hi);
			printf("%-9s %12.1f %21s %10.1f %10.1f %7.2fx", row->workload, row->meas, range, row->meas_tsc,
			       row->native, row->meas / row->native);
			if (hw)
				printf(" %10.1f %7.2fx", row->hw, row->meas / row->hw);
			printf("%s%s\n", row->status ? "  " : "", row->status ? row->reason : "");
		}
		printf("\nratio = measured / modelled (%s per iteration); >1: the host is slower than the model says.\n", unit);
		if (!nodb && !store_failed)
			printf("stored in %s with tag '%s' (`virtlab report --profile %s` shows them beside the model)\n",
			       dbpath, tag, prof_name);
	}
	free(rows);
	if (store_failed)
		return VL_CLI_FAILED;
	return any_failed ? VL_CLI_FAILED : VL_CLI_OK;
}
