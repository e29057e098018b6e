/* cmd_plan.c — `virtlab plan --shards DIR`: the runs a `matrix` (or, with
 * --param, a `sweep`) would make, as one self-contained shell command per
 * line on stdout, each storing into its own database shard DIR/shard-N.db —
 * so the lines run unchanged under GNU parallel (locally, or over ssh hosts
 * where the same virtlab path exists) or, with --slurm, as a Slurm job
 * array. `virtlab merge OUT.db DIR/shard-*.db` folds the shards back.
 * Selection and validation are the matrix's and the sweep's own, so a plan
 * that prints is a plan whose every command is valid. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

static const char plan_usage[] =
	"usage: virtlab plan --shards DIR [--slurm] [--profile P[,P...]] [--engines E,...] [--mmus M,...]\n"
	"                    [--workloads W,...] [--iterations N] [--tag T] [--param S [--id ID]]\n"
	"Print one self-contained command per run (what `matrix`, or with --param `sweep`, would\n"
	"run), each storing into its own database shard DIR/shard-N.db:\n"
	"  virtlab plan --shards sh --workloads cpuid,forkwait | parallel -j 8\n"
	"  virtlab plan --shards sh ... | parallel -S host1,host2 --workdir . (same virtlab path there)\n"
	"  virtlab plan --shards sh --slurm ... > job.sh && sbatch job.sh\n"
	"  virtlab merge results/virtlab.db sh/shard-*.db\n"
	"  --shards DIR    directory for the shards (created; the commands use absolute paths)\n"
	"  --slurm         print an sbatch script (job array, one task per command) instead\n"
	"  --param S       plan a sweep (see virtlab sweep --help) instead of a matrix; --id as sweep's\n"
	"  other options as `virtlab matrix` (the engine list may name engine/mmu for a sweep)\n"
	"Exit status: 0 ok, 2 bad usage.\n";

#define PL_MAX 64

/* Print s in single quotes for sh (a ' inside becomes '\''). */
static void pl_q(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
	fputc('\'', out);
}

struct pl_cmd { char *text; };

int cmd_plan(int argc, char **argv)
{
	enum { O_SHARDS = 256, O_SLURM, O_PROFILE, O_ENG, O_MMUS, O_WORK, O_ITERS, O_TAG, O_PARAM, O_ID, O_HELP };
	static const struct option opts[] = {
		{ "shards", required_argument, 0, O_SHARDS }, { "slurm", no_argument, 0, O_SLURM },
		{ "profile", required_argument, 0, O_PROFILE }, { "profiles", required_argument, 0, O_PROFILE },
		{ "engines", required_argument, 0, O_ENG }, { "mmus", required_argument, 0, O_MMUS },
		{ "workloads", required_argument, 0, O_WORK }, { "iterations", required_argument, 0, O_ITERS },
		{ "tag", required_argument, 0, O_TAG }, { "param", required_argument, 0, O_PARAM },
		{ "id", required_argument, 0, O_ID }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	const char *shards = NULL, *tag = NULL, *param = NULL, *id = NULL;
	char *prof_arg = NULL, *eng_arg = NULL, *mmu_arg = NULL, *work_arg = NULL;
	uint64_t iters = 0;
	bool slurm = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_SHARDS:  shards = optarg; break;
		case O_SLURM:   slurm = true; break;
		case O_PROFILE: prof_arg = optarg; break;
		case O_ENG:     eng_arg = optarg; break;
		case O_MMUS:    mmu_arg = optarg; break;
		case O_WORK:    work_arg = optarg; break;
		case O_TAG:     tag = optarg; break;
		case O_PARAM:   param = optarg; break;
		case O_ID:      id = optarg; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &iters) || !iters)
				return vl_cli_usage_error("plan", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(plan_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("plan", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("plan", "unexpected argument '%s' (see virtlab plan --help)", argv[optind]);
	if (!shards)
		return vl_cli_usage_error("plan", "--shards DIR is required");
	if (param && tag)
		return vl_cli_usage_error("plan", "--tag: a sweep's runs are tagged sweep:ID (use --id)");
	if (id && !param)
		return vl_cli_usage_error("plan", "--id is for a sweep (--param)");

	const char *profiles[PL_MAX], *ent[PL_MAX], *mmus[PL_MAX], *works[PL_MAX];
	size_t nprof = 0, nent = 0, nmmu = 0, nwork = 0;
	char dflt[] = VL_DEFAULT_PROFILE;
	if (vl_cli_split(prof_arg ? prof_arg : dflt, profiles, PL_MAX, &nprof))
		return vl_cli_usage_error("plan", "--profile: expected a comma-separated list of profiles");
	if (param && nprof != 1)
		return vl_cli_usage_error("plan", "--param: one base profile");
	if (eng_arg && vl_cli_split(eng_arg, ent, PL_MAX, &nent))
		return vl_cli_usage_error("plan", "--engines: expected a comma-separated list");
	if (mmu_arg && vl_cli_split(mmu_arg, mmus, PL_MAX, &nmmu))
		return vl_cli_usage_error("plan", "--mmus: expected a comma-separated list");
	for (size_t i = 0; i < nent; i++) {
		char e[32];
		snprintf(e, sizeof e, "%.*s", (int)strcspn(ent[i], "/"), ent[i]);
		const struct vl_engine_ops *eo = vl_engine_find(e);
		if (!eo)
			return vl_cli_usage_error("plan", "unknown engine '%s' (see virtlab list engines)", e);
		if (eo->run_external)
			return vl_cli_usage_error("plan", "%s is an external engine: plan covers model runs", e);
	}
	for (size_t i = 0; i < nmmu; i++) {
		int ok = 0;
		for (int k = 0; k < VL_MMU_COUNT; k++)
			ok |= !strcmp(mmus[i], vl_mmu_name((enum vl_mmu_kind)k));
		if (!ok)
			return vl_cli_usage_error("plan", "unknown mmu '%s' (see virtlab list mmus)", mmus[i]);
	}
	if (work_arg) {
		if (vl_cli_split(work_arg, works, PL_MAX, &nwork))
			return vl_cli_usage_error("plan", "--workloads: expected a comma-separated list");
		for (size_t i = 0; i < nwork; i++)
			if (!vl_workload_find(works[i]))
				return vl_cli_usage_error("plan", "unknown workload '%s' (see virtlab list workloads)", works[i]);
	} else {
		for (size_t i = 0; i < vl_workload_count && nwork < PL_MAX; i++)
			if (vl_cli_plan_default_workload(vl_workloads[i].name, param != NULL))
				works[nwork++] = vl_workloads[i].name;
	}
	char err[1024];
	/* sweep values, each derived profile checked through the loader */
	double vals[256];
	size_t nval = 0;
	int logx = 0, rc;
	char sec[32], key[32], sweepid[300] = "";
	if (param) {
		if ((rc = vl_cli_sweep_values(param, sec, key, vals, &nval, &logx)))
			return rc;
		if (vl_cli_sweep_profiles(profiles[0], sec, key, vals, nval, NULL, err, sizeof err))
			return vl_cli_usage_error("plan", "%s", err);
		snprintf(sweepid, sizeof sweepid, "%s", id ? id : "");
		if (!id)
			snprintf(sweepid, sizeof sweepid, "%s:%s", profiles[0], param);
	}
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		return vl_cli_usage_error("plan", "cannot find this program's path: %s", strerror(errno));
	self[sl] = '\0';
	/* created here only to name it absolutely; removed again (still empty)
	 * when the plan turns out invalid, so bad usage leaves nothing behind */
	bool made = mkdir(shards, 0777) == 0;
	if (!made && errno != EEXIST)
		return vl_cli_usage_error("plan", "cannot create %s: %s", shards, strerror(errno));
	char sdir[PATH_MAX];
	if (!realpath(shards, sdir)) {
		rc = vl_cli_usage_error("plan", "%s: %s", shards, strerror(errno));
		if (made)
			rmdir(shards);
		return rc;
	}

	/* the commands, into a buffer: nothing is printed unless the whole plan is valid */
	char *buf = NULL;
	size_t blen = 0, n = 0;
	FILE *cmds = open_memstream(&buf, &blen);
	if (!cmds) {
		if (made)
			rmdir(shards);
		return vl_cli_usage_error("plan", "out of memory");
	}
	rc = VL_CLI_OK;
	for (size_t p = 0; p < nprof && rc == VL_CLI_OK; p++) {
		struct vl_adv_conf *conf = NULL;
		size_t nconf = 0;
		if (vl_cli_expected_configs(profiles[p], ent, nent, mmus, nmmu, &conf, &nconf, err, sizeof err)) {
			rc = vl_cli_usage_error("plan", "%s", err);
			break;
		}
		for (size_t k = 0; k < nconf; k++) {
			char full[72];
			snprintf(full, sizeof full, "%s/%s", conf[k].engine, conf[k].mmu);
			for (size_t v = 0; v < (param ? nval : 1); v++)
				for (size_t w = 0; w < nwork; w++) {
					char shard[PATH_MAX + 32], num[64];
					snprintf(shard, sizeof shard, "%s/shard-%05zu.db", sdir, ++n);
					pl_q(cmds, self);
					if (param) {
						char pv[160];
						snprintf(pv, sizeof pv, "%s.%s=%.0f", sec, key, vals[v]);
						fputs(" sweep --param ", cmds);
						pl_q(cmds, pv);
						fputs(" --id ", cmds);
						pl_q(cmds, sweepid);
						fputs(" --engines ", cmds);
						pl_q(cmds, full);
						fputs(" --no-report", cmds);
					} else {
						fputs(" run --engine ", cmds);
						pl_q(cmds, conf[k].engine);
						fputs(" --mmu ", cmds);
						pl_q(cmds, conf[k].mmu);
						if (tag) {
							fputs(" --tag ", cmds);
							pl_q(cmds, tag);
						}
						fputs(" --format csv", cmds);
					}
					fputs(param ? " --workloads " : " --workload ", cmds);
					pl_q(cmds, works[w]);
					fputs(" --profile ", cmds);
					pl_q(cmds, profiles[p]);
					if (iters) {
						snprintf(num, sizeof num, " --iterations %llu", (unsigned long long)iters);
						fputs(num, cmds);
					}
					fputs(" --db ", cmds);
					pl_q(cmds, shard);
					fputc('\n', cmds);
				}
		}
		free(conf);
	}
	fclose(cmds);
	if (rc == VL_CLI_OK && !n)
		rc = vl_cli_usage_error("plan", "nothing to run: the selection is empty on this build and profile");
	if (rc == VL_CLI_OK && slurm) {
		printf("#!/bin/sh\n"
		       "# written by `virtlab plan --slurm`: %zu runs, one array task each, shards in %s\n"
		       "# submit: sbatch THIS_FILE; afterwards: virtlab merge OUT.db %s/shard-*.db\n"
		       "#SBATCH --job-name=virtlab-plan\n#SBATCH --array=1-%zu\n#SBATCH --ntasks=1\n"
		       "#SBATCH --output=%s/slurm-%%A_%%a.out\n"
		       "cmd=$(sed -n \"${SLURM_ARRAY_TASK_ID:?not a Slurm array task}p\" <<'VIRTLAB_PLAN'\n%sVIRTLAB_PLAN\n)\n"
		       "[ -n \"$cmd\" ] || { echo \"no command $SLURM_ARRAY_TASK_ID\" >&2; exit 2; }\n"
		       "eval \"$cmd\"\n",
		       n, sdir, sdir, n, sdir, buf);
	} else if (rc == VL_CLI_OK) {
		fputs(buf, stdout);
	}
	if (rc != VL_CLI_OK && made)
		rmdir(shards);
	free(buf);
	return rc;
}
