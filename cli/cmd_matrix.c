/* cmd_matrix.c — `virtlab matrix`: every valid (engine, mmu) x workload for
 * a profile, each run in a forked worker process (so a crashing run cannot
 * take the matrix down, and -j N runs N at once), each stored by its worker
 * in one transaction. Runs are deterministic and independent, so the stored
 * results do not depend on -j. Combinations the profile refuses (vtx on an
 * AMD CPU, EPT on a Pentium 4) or that are not built are skipped and listed.
 * External engines (qemu-*) run only when --engines names them, so the
 * default matrix is the deterministic model alone. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"
#include "virtlab/provenance.h"
#include "virtlab/results.h"

static const char matrix_usage[] =
	"usage: virtlab matrix [--profile P[,P...]] [--engines E,...] [--mmus M,...] [--workloads W,...]\n"
	"                      [--iterations N] [--repeats N] [-j N] [--db FILE] [--tag T] [--dry-run]\n"
	"Run every valid (engine, mmu) x workload combination for a profile and store each run.\n"
	"  --profile P       CPU profile(s), comma-separated, or `all` (default " VL_DEFAULT_PROFILE ")\n"
	"  --engines E,...   engines to run (default: every model engine but trap; external engines such as\n"
	"                    qemu-tcg run only when named here; `all`: every model engine, trap included)\n"
	"  --mmus M,...      MMU modes to run (default: every mode each engine pairs with)\n"
	"  --workloads W,... workloads (default: all but selftest)\n"
	"  --iterations N    iterations for every workload (default: each workload's own)\n"
	"  --repeats N       samples per external-engine run (default: the engine's)\n"
	"  -j N, --jobs N    run N combinations at once, each in its own process (default 1)\n"
	"  --db FILE         results database (default " VL_CLI_DB_DOC ")\n"
	"  --tag T           tag stored with every run (for `virtlab compare`)\n"
	"  --dry-run         list what would run and what is skipped, run nothing\n"
	"A progress bar on a terminal, one line per run otherwise; a summary at the end.\n"
	"Ctrl-C (or SIGTERM) stops it: running workers are stopped (nothing half-stored), the summary\n"
	"says what finished and what did not, exit status 128 + the signal. Killing the matrix kills its workers.\n"
	"Exit status: 0 every run ok, 1 a run failed or could not be stored, 2 bad usage.\n";

#define MATRIX_MAX_LIST 64

struct mx_job {
	const char *engine, *mmu, *workload, *profile;
	const struct vl_profile *pdata;   /* the profile, loaded once by the parent (mx_plan) */
	pid_t pid;
	int fd;                    /* read end of the worker's pipe */
	double t0;
};

/* What a worker reports back (one write, well under PIPE_BUF). */
struct mx_report {
	int status;                /* enum vl_run_status */
	int stored;                /* 1 when the run is in the database */
	int64_t run_id;
	double cycles_per_iter;
	double seconds;
	char reason[512];
};

struct mx_skip { char what[96]; char why[400]; };

struct mx_state {
	struct mx_job *jobs;
	size_t njobs, cap;
	struct mx_skip *skips;
	size_t nskips, skipcap;
	int tty;
	int width;
	size_t done, ok, failed, timeout, refused, crashed, unstored;
	int64_t first_id, last_id;
	double t0;
	char (*failures)[700];
	size_t nfailures;
	size_t interrupted;        /* runs stopped by Ctrl-C / SIGTERM while running */
	int stopping;              /* the signal that stops the matrix, 0 while it runs */
	bool git_memo;             /* vl_prov_git_memo is on: mx_plan primes it per profile */
	struct vl_profile *profs;  /* each --profile, loaded once; workers inherit them */
};

/* Set by SIGINT / SIGTERM: start nothing more, stop the running workers,
 * print what finished and what did not. */
static volatile sig_atomic_t mx_signal;

static void mx_on_signal(int sig)
{
	mx_signal = sig;
}

static double mx_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Split "a,b,c" into at most MATRIX_MAX_LIST names (in place). */
static int mx_split(char *s, const char **out, size_t *n)
{
	*n = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == MATRIX_MAX_LIST)
			return -1;
		out[(*n)++] = t;
	}
	return *n ? 0 : -1;
}

static int mx_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, list[i]))
			return 1;
	return 0;
}

static int mx_add_job(struct mx_state *s, const char *e, const char *m, const char *w, const char *p,
		      const struct vl_profile *pd)
{
	if (s->njobs == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		struct mx_job *nj = realloc(s->jobs, s->cap * sizeof *nj);
		if (!nj)
			return -1;
		s->jobs = nj;
	}
	s->jobs[s->njobs++] = (struct mx_job){ .engine = e, .mmu = m, .workload = w, .profile = p, .pdata = pd, .fd = -1 };
	return 0;
}

static int mx_add_skip(struct mx_state *s, const char *what, const char *why)
{
	if (s->nskips == s->skipcap) {
		s->skipcap = s->skipcap ? 2 * s->skipcap : 16;
		struct mx_skip *ns = realloc(s->skips, s->skipcap * sizeof *ns);
		if (!ns)
			return -1;
		s->skips = ns;
	}
	snprintf(s->skips[s->nskips].what, sizeof s->skips[0].what, "%s", what);
	snprintf(s->skips[s->nskips].why, sizeof s->skips[0].why, "%s", why);
	s->nskips++;
	return 0;
}

/* ---- the worker ---- */

static void mx_worker(const struct mx_job *j, uint64_t iters, unsigned repeats, const char *dbpath, const char *tag, int fd)
{
	struct mx_report rep = { .status = VL_RUN_FAILED };
	struct vl_run_spec spec = {
		.engine = j->engine, .mmu = j->mmu, .workload = j->workload, .profile = j->profile,
		.iterations = iters, .repeats = repeats, .profile_data = j->pdata,
	};
	struct vl_run_result res;
	double t0 = mx_now();
	int rc = vl_run_execute(&spec, &res);
	rep.seconds = mx_now() - t0;
	rep.status = rc == 2 ? VL_RUN_REFUSED : (int)res.status;
	rep.cycles_per_iter = res.cycles_per_iter;
	snprintf(rep.reason, sizeof rep.reason, "%s", res.reason);
	if (rep.status != VL_RUN_REFUSED) {
		char err[1024];
		struct vl_db *db = NULL;
		if (vl_db_open(dbpath, &db, err, sizeof err) == 0) {
			struct vl_db_build b = { vl_build_commit, vl_build_dirty, vl_build_cc, vl_build_version };
			vl_db_set_build(db, &b);
			if (vl_db_store_run(db, &res, tag, &rep.run_id, err, sizeof err) == 0)
				rep.stored = 1;
			vl_db_close(db);
		}
		if (!rep.stored)
			snprintf(rep.reason, sizeof rep.reason, "not stored: %.490s", err);
	}
	vl_run_result_free(&res);
	ssize_t w = write(fd, &rep, sizeof rep);
	(void)w;
	close(fd);
}

/* ---- progress ---- */

static void mx_progress(struct mx_state *s, const struct mx_job *j, const struct mx_report *rep, const char *crash)
{
	char cfg[72], line[1024], res[640];
	vl_an_config_name(j->engine, j->mmu, cfg, sizeof cfg);
	const char *st = crash ? (s->stopping && !strncmp(crash, "interrupted", 11) ? "stopped" : "crashed")
			       : vl_run_status_name[rep->status];
	if (crash)
		snprintf(res, sizeof res, "%s", crash);
	else if (rep->status == VL_RUN_OK && rep->stored)
		snprintf(res, sizeof res, "%.1f cycles/iter  run %lld  %.1fs", rep->cycles_per_iter,
			 (long long)rep->run_id, rep->seconds);
	else
		snprintf(res, sizeof res, "%.600s", rep->reason);
	int digits = snprintf(NULL, 0, "%zu", s->njobs);
	snprintf(line, sizeof line, "[%*zu/%zu] %-14s %-10s %-10s %-8s %s", digits, s->done, s->njobs, cfg, j->workload,
		 j->profile, st, res);
	if (!s->tty) {
		printf("%s\n", line);
		fflush(stdout);
		return;
	}
	/* a terminal: failures stay on screen, the bar redraws on the last line */
	int bad = crash || rep->status != VL_RUN_OK || !rep->stored;
	if (bad)
		printf("\r\033[K%.*s\n", s->width > 1 ? s->width - 1 : 79, line);
	int barw = s->width > 60 ? 30 : 10;
	int fill = (int)(barw * s->done / (s->njobs ? s->njobs : 1));
	char bar[64];
	for (int i = 0; i < barw; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[barw] = '\0';
	double el = mx_now() - s->t0;
	double eta = s->done ? el / s->done * (s->njobs - s->done) : 0;
	char status[512];
	snprintf(status, sizeof status, "[%s] %zu/%zu  ok %zu  failed %zu  %.0fs  eta %.0fs  | %s %s %s", bar, s->done,
		 s->njobs, s->ok, s->done - s->ok, el, eta, cfg, j->workload, st);
	printf("\r\033[K%.*s", s->width > 1 ? s->width - 1 : 79, status);
	fflush(stdout);
}

/* Wait for one worker, account for its report. */
static void mx_reap(struct mx_state *s, size_t *running)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, 0)) < 0 && errno == EINTR)
		if (mx_signal && !s->stopping)
			return;   /* the caller stops the workers first */
	if (pid < 0)
		return;
	struct mx_job *j = NULL;
	for (size_t i = 0; i < s->njobs && !j; i++)
		if (s->jobs[i].pid == pid)
			j = &s->jobs[i];
	if (!j)
		return;
	(*running)--;
	s->done++;
	struct mx_report rep;
	memset(&rep, 0, sizeof rep);
	ssize_t n = read(j->fd, &rep, sizeof rep);
	close(j->fd);
	j->fd = -1;
	j->pid = 0;
	char crash[128] = "", cfg[72];
	vl_an_config_name(j->engine, j->mmu, cfg, sizeof cfg);
	if (n != (ssize_t)sizeof rep && s->stopping) {
		snprintf(crash, sizeof crash, "interrupted (%s) while running; nothing stored", strsignal(s->stopping));
		s->interrupted++;
	} else if (n != (ssize_t)sizeof rep) {
		if (WIFSIGNALED(st))
			snprintf(crash, sizeof crash, "worker killed by signal %d (%s); nothing stored", WTERMSIG(st),
				 strsignal(WTERMSIG(st)));
		else
			snprintf(crash, sizeof crash, "worker exited with status %d without a report; nothing stored",
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		s->crashed++;
	} else {
		switch (rep.status) {
		case VL_RUN_OK:      s->ok += rep.stored; break;
		case VL_RUN_FAILED:  s->failed++; break;
		case VL_RUN_TIMEOUT: s->timeout++; break;
		default:             s->refused++; break;
		}
		if (rep.status != VL_RUN_REFUSED && !rep.stored)
			s->unstored++;
		if (rep.stored) {
			if (!s->first_id || rep.run_id < s->first_id)
				s->first_id = rep.run_id;
			if (rep.run_id > s->last_id)
				s->last_id = rep.run_id;
		}
	}
	if (crash[0] && s->stopping && n != (ssize_t)sizeof rep) {
		/* listed in the interruption summary, not as a failure */
	} else if (crash[0] || rep.status != VL_RUN_OK || !rep.stored) {
		char what[160];
		snprintf(what, sizeof what, "%s %s (%s)", cfg, j->workload, j->profile);
		if (rep.status == VL_RUN_REFUSED && !crash[0]) {
			mx_add_skip(s, what, rep.reason);
		} else {
			char (*nf)[700] = realloc(s->failures, (s->nfailures + 1) * sizeof *nf);
			if (nf) {
				s->failures = nf;
				snprintf(s->failures[s->nfailures++], sizeof nf[0], "%s: %s: %.500s", what,
					 crash[0] ? "crashed" : vl_run_status_name[rep.status], crash[0] ? crash : rep.reason);
			}
		}
	}
	mx_progress(s, j, &rep, crash[0] ? crash : NULL);
}

/* Build the plan (cli/planner.c, the planner plan, advise and sweep use):
 * jobs and skipped configurations. 0, or VL_CLI_USAGE after printing one line. */
static int mx_plan(struct mx_state *s, const char **profiles, size_t nprof, const char **engines, size_t neng,
		   const char **mmus, size_t nmmu, const char **workloads, size_t nwork)
{
	s->profs = calloc(nprof, sizeof *s->profs);
	if (!s->profs)
		return vl_cli_usage_error("matrix", "out of memory");
	for (size_t p = 0; p < nprof; p++) {
		struct vl_profile prof;
		char err[512];
		if (vl_profile_load(profiles[p], &s->profs[p], err, sizeof err))
			return vl_cli_usage_error("matrix", "%s", err);
		prof = s->profs[p];
		if (s->git_memo) {   /* the profile tree's git state, once, inherited by every worker */
			char commit[48];
			int dirty;
			vl_prov_git(prof.path, commit, sizeof commit, &dirty);
		}
		struct vl_cli_conf *conf = NULL;
		size_t nconf = 0;
		if (vl_cli_plan_configs(&prof, engines, neng, mmus, nmmu, false, &conf, &nconf, err, sizeof err))
			return vl_cli_usage_error("matrix", "%s", err);
		for (size_t k = 0; k < nconf; k++) {
			/* names from the registries (static), not the planner's copies */
			const struct vl_engine_ops *eng = vl_engine_find(conf[k].engine);
			const char *mname = NULL;
			for (int m = 0; m < VL_MMU_COUNT; m++)
				if (!strcmp(vl_mmu_name((enum vl_mmu_kind)m), conf[k].mmu))
					mname = vl_mmu_name((enum vl_mmu_kind)m);
			if (conf[k].skip[0]) {
				char what[160], cfg[72];
				vl_an_config_name(conf[k].engine, conf[k].mmu, cfg, sizeof cfg);
				snprintf(what, sizeof what, "%s (%s)", cfg, profiles[p]);
				if (mx_add_skip(s, what, conf[k].skip)) {
					free(conf);
					return vl_cli_usage_error("matrix", "out of memory");
				}
				continue;
			}
			for (size_t w = 0; w < vl_workload_count; w++) {
				const char *wn = vl_workloads[w].name;
				if (nwork ? !mx_in(wn, workloads, nwork) : !vl_cli_plan_default_workload(wn, false))
					continue;
				if (mx_add_job(s, eng->name, mname, wn, profiles[p], &s->profs[p])) {
					free(conf);
					return vl_cli_usage_error("matrix", "out of memory");
				}
			}
		}
		free(conf);
	}
	return 0;
}

/* Every name in list must be one of valid[]; else one line listing them. */
static int mx_check_names(const char *what, const char **list, size_t n, const char *const *valid, size_t nvalid)
{
	for (size_t i = 0; i < n; i++) {
		if (mx_in(list[i], valid, nvalid))
			continue;
		char v[600] = "";
		for (size_t k = 0; k < nvalid; k++) {
			size_t l = strlen(v);
			snprintf(v + l, sizeof v - l, "%s%s", k ? ", " : "", valid[k]);
		}
		return vl_cli_usage_error("matrix", "unknown %s '%s' (valid: %s)", what, list[i], v);
	}
	return 0;
}

int cmd_matrix(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_ENGINES, O_MMUS, O_WORKLOADS, O_ITERS, O_REPEATS, O_DB, O_TAG, O_DRY, O_HELP };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "profiles", required_argument, 0, O_PROFILE },
		{ "engines", required_argument, 0, O_ENGINES }, { "engine", required_argument, 0, O_ENGINES },
		{ "mmus", required_argument, 0, O_MMUS }, { "mmu", required_argument, 0, O_MMUS },
		{ "workloads", required_argument, 0, O_WORKLOADS }, { "workload", required_argument, 0, O_WORKLOADS },
		{ "iterations", required_argument, 0, O_ITERS }, { "repeats", required_argument, 0, O_REPEATS },
		{ "jobs", required_argument, 0, 'j' }, { "db", required_argument, 0, O_DB },
		{ "tag", required_argument, 0, O_TAG }, { "dry-run", no_argument, 0, O_DRY },
		{ "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 }
	};
	char *profile_arg = NULL, *engines_arg = NULL, *mmus_arg = NULL, *workloads_arg = NULL;
	const char *dbpath = vl_data_db(), *tag = NULL;
	uint64_t iters = 0, jobs = 1, repeats = 0;
	int dry = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+hj:", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE:   profile_arg = optarg; break;
		case O_ENGINES:   engines_arg = optarg; break;
		case O_MMUS:      mmus_arg = optarg; break;
		case O_WORKLOADS: workloads_arg = optarg; break;
		case O_DB:        dbpath = optarg; break;
		case O_TAG:       tag = optarg; break;
		case O_DRY:       dry = 1; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &iters) || !iters)
				return vl_cli_usage_error("matrix", "--iterations: expected a positive integer, got '%s'", optarg);
			break;
		case O_REPEATS:
			if (vl_cli_parse_u64(optarg, &repeats) || !repeats || repeats > 10000)
				return vl_cli_usage_error("matrix", "--repeats: expected 1..10000, got '%s'", optarg);
			break;
		case 'j':
			if (vl_cli_parse_u64(optarg, &jobs) || !jobs || jobs > 1024)
				return vl_cli_usage_error("matrix", "-j: expected 1..1024, got '%s'", optarg);
			break;
		case 'h':
		case O_HELP:
			fputs(matrix_usage, stdout);
			return VL_CLI_OK;
		default:
			return vl_cli_bad_option("matrix", argc, argv, optopt);
		}
	}
	if (optind < argc)
		return vl_cli_usage_error("matrix", "unexpected argument '%s' (see virtlab matrix --help)", argv[optind]);

	const char *profiles[MATRIX_MAX_LIST], *engines[MATRIX_MAX_LIST], *mmus[MATRIX_MAX_LIST], *workloads[MATRIX_MAX_LIST];
	size_t nprof = 0, neng = 0, nmmu = 0, nwork = 0;
	char dflt[] = VL_DEFAULT_PROFILE;
	static char allprof[MATRIX_MAX_LIST][128];   /* --profile all: every profile in the profile directory */
	if (profile_arg && !strcmp(profile_arg, "all")) {
		char **names = NULL;
		size_t n = vl_profile_list(&names);
		for (size_t i = 0; i < n && nprof < MATRIX_MAX_LIST; i++) {
			snprintf(allprof[nprof], sizeof allprof[nprof], "%s", names[i]);
			profiles[nprof] = allprof[nprof];
			nprof++;
		}
		vl_profile_list_free(names, n);
		if (!nprof)
			return vl_cli_usage_error("matrix", "--profile all: no profiles in %s", vl_profile_dir());
	} else if (mx_split(profile_arg ? profile_arg : dflt, profiles, &nprof))
		return vl_cli_usage_error("matrix", "--profile: expected a comma-separated list of profiles");
	if (engines_arg && !strcmp(engines_arg, "all")) {   /* every model engine, trap included */
		for (size_t i = 0; i < vl_engine_count && neng < MATRIX_MAX_LIST; i++)
			if (!vl_engines[i]->run_external)
				engines[neng++] = vl_engines[i]->name;
	} else if (engines_arg && mx_split(engines_arg, engines, &neng))
		return vl_cli_usage_error("matrix", "--engines: expected a comma-separated list of engines");
	if (mmus_arg && mx_split(mmus_arg, mmus, &nmmu))
		return vl_cli_usage_error("matrix", "--mmus: expected a comma-separated list of MMU modes");
	if (workloads_arg && mx_split(workloads_arg, workloads, &nwork))
		return vl_cli_usage_error("matrix", "--workloads: expected a comma-separated list of workloads");
	{
		const char *valid[MATRIX_MAX_LIST];
		size_t nv = 0;
		for (size_t i = 0; i < vl_engine_count && nv < MATRIX_MAX_LIST; i++)
			valid[nv++] = vl_engines[i]->name;
		if (mx_check_names("engine", engines, neng, valid, nv))
			return VL_CLI_USAGE;
		nv = 0;
		for (int k = 0; k < VL_MMU_COUNT; k++)
			valid[nv++] = vl_mmu_name((enum vl_mmu_kind)k);
		if (mx_check_names("mmu", mmus, nmmu, valid, nv))
			return VL_CLI_USAGE;
		nv = 0;
		for (size_t i = 0; i < vl_workload_count && nv < MATRIX_MAX_LIST; i++)
			valid[nv++] = vl_workloads[i].name;
		if (mx_check_names("workload", workloads, nwork, valid, nv))
			return VL_CLI_USAGE;
	}

	struct mx_state s = { .tty = isatty(1), .width = 80 };
	struct winsize ws;
	if (s.tty && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		s.width = ws.ws_col;
	if (!dry) {
		vl_prov_git_memo();
		s.git_memo = true;
	}
	int rc = mx_plan(&s, profiles, nprof, engines, neng, mmus, nmmu, workloads, nwork);
	if (rc)
		goto out;
	int model_jobs = 0;
	for (size_t i = 0; i < s.njobs; i++)
		model_jobs |= vl_engine_find(s.jobs[i].engine)->run_external == NULL;
	if (model_jobs && access(vl_guest_image(), R_OK) != 0) {
		rc = vl_cli_usage_error("matrix", "guest image %s not found (build it with `make guest`)", vl_guest_image());
		goto out;
	}
	if (dry) {
		for (size_t i = 0; i < s.njobs; i++) {
			char cfg[72];
			vl_an_config_name(s.jobs[i].engine, s.jobs[i].mmu, cfg, sizeof cfg);
			printf("run  %-14s %-10s %s\n", cfg, s.jobs[i].workload, s.jobs[i].profile);
		}
		for (size_t i = 0; i < s.nskips; i++)
			printf("skip %s: %s\n", s.skips[i].what, s.skips[i].why);
		printf("%zu runs, %zu configurations skipped\n", s.njobs, s.nskips);
		rc = VL_CLI_OK;
		goto out;
	}
	if (!s.njobs) {
		rc = vl_cli_usage_error("matrix", "nothing to run: every selected combination is refused or not built (%zu skipped)",
					s.nskips);
		for (size_t i = 0; i < s.nskips; i++)
			fprintf(stderr, "  skipped %s: %s\n", s.skips[i].what, s.skips[i].why);
		goto out;
	}
	/* check (create, migrate) the database once, before any run is spent;
	 * no connection crosses the fork: each worker opens its own */
	struct vl_db *db = vl_cli_db_open("matrix", dbpath);
	if (!db) {
		rc = VL_CLI_USAGE;
		goto out;
	}
	vl_db_close(db);
	vl_host_detect();   /* once, inherited by every worker */

	if (!s.tty)
		printf("matrix: %zu runs (%zu configurations skipped), -j %llu, database %s\n", s.njobs, s.nskips,
		       (unsigned long long)jobs, dbpath);
	fflush(stdout);
	s.t0 = mx_now();
	size_t next = 0, running = 0;
	pid_t parent = getpid();
	struct sigaction sa = { .sa_handler = mx_on_signal }, old_int, old_term;
	sigemptyset(&sa.sa_mask);   /* no SA_RESTART: waitpid returns EINTR */
	mx_signal = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	while ((next < s.njobs && !s.stopping) || running) {
		if (mx_signal && !s.stopping) {
			/* stop: no new runs; running workers are killed (their open
			 * transaction is rolled back: nothing half-stored) and reaped */
			s.stopping = mx_signal;
			for (size_t i = 0; i < next; i++)
				if (s.jobs[i].pid > 0)
					kill(s.jobs[i].pid, SIGKILL);
		}
		while (!s.stopping && running < jobs && next < s.njobs) {
			struct mx_job *j = &s.jobs[next++];
			int fd[2];
			if (pipe(fd)) {
				fprintf(stderr, "virtlab matrix: pipe: %s\n", strerror(errno));
				break;
			}
			fflush(NULL);
			pid_t pid = fork();
			if (pid == 0) {
				/* the parent decides about Ctrl-C (it reaches the whole
				 * process group); a killed parent takes its workers along */
				signal(SIGINT, SIG_IGN);
				signal(SIGTERM, SIG_DFL);
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != parent)
					_exit(125);
				close(fd[0]);
				/* the worker keeps stdout quiet: the parent reports */
				if (!freopen("/dev/null", "w", stdout))
					_exit(126);
				mx_worker(j, iters, (unsigned)repeats, dbpath, tag, fd[1]);
				_exit(0);
			}
			close(fd[1]);
			if (pid < 0) {
				close(fd[0]);
				fprintf(stderr, "virtlab matrix: fork: %s\n", strerror(errno));
				next--;
				break;
			}
			j->pid = pid;
			j->fd = fd[0];
			j->t0 = mx_now();
			running++;
		}
		if (running)
			mx_reap(&s, &running);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (s.tty)
		printf("\n");
	if (s.stopping) {
		printf("matrix: interrupted (%s): %zu of %zu runs finished, %zu stopped while running, %zu not started\n",
		       strsignal(s.stopping), s.done - s.interrupted, s.njobs, s.interrupted, s.njobs - next);
		for (size_t i = next; i < s.njobs && i < next + 20; i++) {
			char cfg[72];
			vl_an_config_name(s.jobs[i].engine, s.jobs[i].mmu, cfg, sizeof cfg);
			printf("  not started: %s %s (%s)\n", cfg, s.jobs[i].workload, s.jobs[i].profile);
		}
		if (s.njobs - next > 20)
			printf("  ... and %zu more not started\n", s.njobs - next - 20);
	}
	size_t stored = s.ok + s.failed + s.timeout - s.unstored;
	printf("matrix: %zu runs in %.1fs: %zu ok, %zu failed, %zu timeout, %zu crashed, %zu refused; %zu stored in %s",
	       s.njobs, mx_now() - s.t0, s.ok, s.failed, s.timeout, s.crashed, s.refused, stored, dbpath);
	if (s.first_id)
		printf(" (run ids %lld-%lld)", (long long)s.first_id, (long long)s.last_id);
	printf("\n");
	if (s.nskips) {
		printf("skipped or refused (%zu):\n", s.nskips);
		for (size_t i = 0; i < s.nskips; i++)
			printf("  %s: %s\n", s.skips[i].what, s.skips[i].why);
	}
	if (s.nfailures) {
		printf("not ok (%zu):\n", s.nfailures);
		for (size_t i = 0; i < s.nfailures; i++)
			printf("  %s\n", s.failures[i]);
	}
	/* a refusal only discovered by a worker (a broken guest image, say) is
	 * not a skipped configuration: the matrix did not do what was asked */
	rc = s.ok == s.njobs && !s.unstored ? VL_CLI_OK : VL_CLI_FAILED;
	if (s.stopping)
		rc = 128 + s.stopping;   /* as a shell reports a command killed by that signal */
out:
	free(s.profs);
	free(s.jobs);
	free(s.skips);
	free(s.failures);
	return rc;
}
