/* host.c — external real engine `host`: host-native twins of the guest's
 * user-level workloads (workloads/host/twin.c), each sample one Linux
 * process, counters through PAPI where the host has a PMU. Every raw sample
 * is kept (ns, TSC ticks and each counted event per iteration); the value
 * reported is the median. Kernel-only workloads are refused with the reason.
 * Host wall-clock time is read for the timeout and host_seconds only; the
 * measurements themselves are taken inside the twin. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "virtlab/engine.h"
#include "virtlab/hpc.h"
#include "virtlab/run.h"

#define HOST_DEFAULT_REPEATS 15
#define HOST_DEFAULT_TIMEOUT_S 120       /* per twin process; $VIRTLAB_HOST_TIMEOUT overrides */
#define HOST_OUTPUT_MAX (1u << 20)

/* Workloads with no host twin, and why (the rest of workloads.def has one). */
static const struct { const char *name, *why; } host_no_twin[] = {
	{ "in", "it reads the ACPI PM timer port with IN in the guest kernel (ring 0): a Linux process cannot execute it" },
	{ "cr8wr", "it writes CR8 in the guest kernel (ring 0): a Linux process cannot execute it" },
	{ "callret", "it is an in-kernel (ring 0) nanobenchmark of the guest" },
	{ "ptemod", "it rewrites a kernel PTE and executes INVLPG in ring 0: a Linux process cannot execute it" },
	{ "selftest", "it is the guest kernel's self-test, not a measurement" },
	{ "sensitive", "it runs the sensitive instructions in the guest kernel to show how each engine treats them (ring 0 state): not a host measurement" },
};

/* Workloads with a twin in workloads/host/twin.c. */
static const char *const host_twins[] = { "syscall", "pgfault", "divzero", "ctxsw", "forkwait", "cpuid", "compute" };

static double host_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double host_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *host_twin_path(void)
{
	const char *e = getenv("VIRTLAB_TWIN");
	return e && *e ? e : "build/host/vl-twin";
}

static int host_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (access(host_twin_path(), X_OK)) {
		snprintf(why, whylen, "host twin program %s not found (build it: make twin)", host_twin_path());
		return -1;
	}
	return 0;
}

/* Run one twin. Fills *out (malloc'ed stdout+stderr) and *status (wait
 * status); returns 0 done, 1 timeout (killed), -1 could not run (err). */
static int host_spawn(const char *const *argv, char **out, int *status, char *err, size_t errlen)
{
	double limit = HOST_DEFAULT_TIMEOUT_S;
	const char *te = getenv("VIRTLAB_HOST_TIMEOUT");
	if (te && atof(te) > 0)
		limit = atof(te);
	int fd[2];
	if (pipe(fd)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);
	int timed_out = 0;
	double t0 = host_mono();
	if (!buf) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(fd[0]);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		double left = limit - (host_mono() - t0);
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd pfd = { fd[0], POLLIN, 0 };
		int r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		if (len + 4096 + 1 > cap) {
			if (cap >= HOST_OUTPUT_MAX) {
				len = 0;   /* runaway output: keep the tail */
			} else {
				char *nb = realloc(buf, cap * 2);
				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
		}
		ssize_t n = read(fd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd[0]);
	buf[len] = '\0';
	if (timed_out)
		kill(pid, SIGKILL);
	/* EOF: the twin is exiting (a forked child may still hold the pipe only
	 * until it exits); the wait is bounded by the same limit */
	while (!timed_out && waitpid(pid, status, WNOHANG) == 0) {
		if (host_mono() - t0 > limit) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (timed_out)
		waitpid(pid, status, 0);
	*out = buf;
	return timed_out;
}

/* Lines starting with `prefix`: the n-th (0-based) one's rest, or NULL. */
static const char *host_line(const char *text, const char *prefix, int nth, char *buf, size_t n)
{
	size_t plen = strlen(prefix);
	for (const char *l = text; l && *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		if (len >= plen && !strncmp(l, prefix, plen) && nth-- == 0) {
			snprintf(buf, n, "%.*s", (int)(len - plen), l + plen);
			return buf;
		}
		l = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static int host_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double host_median(const double *v, size_t n)
{
	double *s = malloc(n * sizeof *s);
	if (!s || !n) {
		free(s);
		return 0;
	}
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, host_cmp);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* Per-rep values: [0] ns/iter, [1] TSC ticks/iter, [2..] each event/iter. */
#define HOST_COLS (2 + HPC_MAX_EVENTS)

/* One twin's output -> row[] (NAN where absent). Returns 0 or -1 with reason. */
static int host_parse(const char *out, const char *workload, int nev, const char *const *ev,
		      double *row, struct vl_run_result *res, char *why, size_t whylen)
{
	char line[512];
	if (!host_line(out, "RESULT ", 0, line, sizeof line)) {
		snprintf(why, whylen, "no RESULT line from the %s twin", workload);
		return -1;
	}
	unsigned long long iters = 0, ns = 0, tsc = 0;
	const char *p;
	if ((p = strstr(line, "iters=")))
		iters = strtoull(p + 6, NULL, 10);
	if ((p = strstr(line, " ns=")))
		ns = strtoull(p + 4, NULL, 10);
	if ((p = strstr(line, " cycles=")))
		tsc = strtoull(p + 8, NULL, 10);
	if (!iters) {
		snprintf(why, whylen, "malformed RESULT line from the %s twin: %.200s", workload, line);
		return -1;
	}
	/* the twin's process footprint (FOOTPRINT k=v ...) joins its RESULT's keys */
	char fpl[256];
	if (host_line(out, "FOOTPRINT ", 0, fpl, sizeof fpl) && res->nresults > 0) {
		struct vl_guest_result *g = &res->results[0];
		char *save = NULL;
		for (char *tok = strtok_r(fpl, " ", &save); tok && g->nkv < VL_RESULT_MAX_KV; tok = strtok_r(NULL, " ", &save)) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue;
			*eq = '\0';
			snprintf(g->key[g->nkv], sizeof g->key[0], "%s", tok);
			snprintf(g->val[g->nkv], sizeof g->val[0], "%s", eq + 1);
			g->nkv++;
		}
	}
	row[0] = (double)ns / iters;
	row[1] = (double)tsc / iters;
	for (int e = 0; e < nev; e++) {
		row[2 + e] = NAN;
		char name[HPC_NAME_MAX + 2];
		snprintf(name, sizeof name, "%s ", ev[e]);
		for (int k = 0; host_line(out, "COUNTER ", k, line, sizeof line); k++)
			if (!strncmp(line, name, strlen(name)))
				row[2 + e] = strtod(line + strlen(name), NULL) / iters;
		for (int k = 0; host_line(out, "NOCOUNTER ", k, line, sizeof line); k++)
			if (!strncmp(line, name, strlen(name)) && !res->hw[e].reason[0])
				snprintf(res->hw[e].reason, sizeof res->hw[e].reason, "%s", line + strlen(name));
	}
	return 0;
}

/* Samples for column c of the per-rep table (only when every rep has it). */
static void host_add_samples(struct vl_run_result *res, const double *tab, unsigned nrep, int c,
			     const char *metric, const char *unit)
{
	if (res->nsamples >= (int)(sizeof res->samples / sizeof res->samples[0]))
		return;
	for (unsigned r = 0; r < nrep; r++)
		if (tab[r * HOST_COLS + c] != tab[r * HOST_COLS + c])   /* NAN */
			return;
	double *v = malloc(nrep * sizeof *v);
	if (!v)
		return;
	for (unsigned r = 0; r < nrep; r++)
		v[r] = tab[r * HOST_COLS + c];
	struct vl_sample_set *s = &res->samples[res->nsamples++];
	snprintf(s->metric, sizeof s->metric, "%s", metric);
	snprintf(s->unit, sizeof s->unit, "%s", unit);
	s->n = nrep;
	s->v = v;
}

static int host_run(const struct vl_run_spec *spec, struct vl_run_result *res, char *err, size_t errlen)
{
	const char *w = spec->workload;
	if (!w) {
		snprintf(err, errlen, "engine host runs the host twins of workloads: --workload is required (no --image)");
		return -1;
	}
	for (size_t i = 0; i < sizeof host_no_twin / sizeof host_no_twin[0]; i++)
		if (!strcmp(w, host_no_twin[i].name)) {
			snprintf(err, errlen, "workload %s has no host twin: %s", w, host_no_twin[i].why);
			return -1;
		}
	size_t t = 0;
	while (t < sizeof host_twins / sizeof host_twins[0] && strcmp(host_twins[t], w))
		t++;
	if (t == sizeof host_twins / sizeof host_twins[0]) {
		snprintf(err, errlen, "workload %s has no host twin (twins: syscall, pgfault, divzero, ctxsw, forkwait, cpuid, compute)", w);
		return -1;
	}
	char evbuf[512];
	const char *ev[HPC_MAX_EVENTS];
	int nev;
	if (spec->events) {
		nev = hpc_parse_list(spec->events, evbuf, sizeof evbuf, ev, err, errlen);
		if (nev < 0)
			return -1;
	} else {
		nev = (int)hpc_default_event_count;
		for (int e = 0; e < nev; e++)
			ev[e] = hpc_default_events[e];
	}
	if (host_check(NULL, VL_MMU_NONE, err, errlen))
		return -1;
	char iters[32];
	snprintf(iters, sizeof iters, "%llu", (unsigned long long)spec->iterations);
	const char *argv[4 + HPC_MAX_EVENTS] = { host_twin_path(), w, iters };
	for (int e = 0; e < nev; e++)
		argv[3 + e] = ev[e];
	res->nhw = nev;
	for (int e = 0; e < nev; e++)
		snprintf(res->hw[e].name, sizeof res->hw[e].name, "%s", ev[e]);

	unsigned reps = spec->repeats ? spec->repeats : HOST_DEFAULT_REPEATS;
	double *tab = calloc((size_t)reps * HOST_COLS, sizeof *tab);
	if (!tab) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	unsigned nrep = 0;
	res->model = false;
	res->status = VL_RUN_OK;
	res->started = host_wall();
	double t0 = host_mono();
	for (unsigned r = 0; r < reps; r++) {
		char *out = NULL;
		int st = 0, rc = host_spawn(argv, &out, &st, err, errlen);
		if (rc < 0) {
			free(tab);
			return -1;
		}
		free(res->console);
		res->console = out;
		vl_run_parse_results(res, out);
		if (spec->trace) {
			char line[600];
			for (int k = 0; host_line(out, "", k, line, sizeof line); k++) {
				char t[640];
				snprintf(t, sizeof t, "host twin %u: %s", r + 1, line);
				spec->trace(spec->trace_arg, t);
			}
		}
		res->guest_exit = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		char line[400];
		if (rc == 1) {
			res->status = VL_RUN_TIMEOUT;
			snprintf(res->reason, sizeof res->reason, "host twin %s killed after the timeout (sample %u of %u)", w, r + 1, reps);
			break;
		}
		if (WIFSIGNALED(st)) {
			res->status = VL_RUN_FAILED;
			snprintf(res->reason, sizeof res->reason, "host twin %s killed by signal %d (%s), sample %u of %u",
				 w, WTERMSIG(st), strsignal(WTERMSIG(st)), r + 1, reps);
			break;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			res->status = VL_RUN_FAILED;
			if (host_line(out, "ERROR ", 0, line, sizeof line))
				snprintf(res->reason, sizeof res->reason, "host twin %s exit status %d: %s", w, res->guest_exit, line);
			else
				snprintf(res->reason, sizeof res->reason, "host twin %s exit status %d: %.300s", w, res->guest_exit, out);
			res->reason[strcspn(res->reason, "\n")] = '\0';
			break;
		}
		if (host_parse(out, w, nev, ev, &tab[nrep * HOST_COLS], res, res->reason, sizeof res->reason)) {
			res->status = VL_RUN_FAILED;
			break;
		}
		nrep++;
	}
	res->host_seconds = host_mono() - t0;
	res->ended = host_wall();
	if (nrep) {
		/* cycles_per_iter: core cycles where PAPI counted them, else TSC
		 * ticks (the clock the guest's RDTSC figure uses); its samples are
		 * stored under the same name as the qemu engines' (report, compare) */
		int cyc_col = -1;
		for (int e = 0; e < nev; e++)
			if (!strcmp(ev[e], "PAPI_TOT_CYC"))
				cyc_col = 2 + e;
		if (cyc_col >= 0)
			for (unsigned r = 0; r < nrep; r++)
				if (isnan(tab[r * HOST_COLS + cyc_col]))
					cyc_col = -1;
		host_add_samples(res, tab, nrep, 0, "ns_per_iter", "ns");
		if (cyc_col >= 0) {
			host_add_samples(res, tab, nrep, cyc_col, "cycles_per_iter", "cycles");
			host_add_samples(res, tab, nrep, 1, "tsc_per_iter", "tsc");
		} else {
			host_add_samples(res, tab, nrep, 1, "cycles_per_iter", "tsc");
		}
		for (int s = 0; s < res->nsamples; s++)
			if (!strcmp(res->samples[s].metric, "cycles_per_iter"))
				res->cycles_per_iter = host_median(res->samples[s].v, res->samples[s].n);
		for (int e = 0; e < nev; e++) {
			int before = res->nsamples;
			char metric[HPC_NAME_MAX + 16];
			snprintf(metric, sizeof metric, "%s_per_iter", ev[e]);
			host_add_samples(res, tab, nrep, 2 + e, metric, "events");
			res->hw[e].available = res->nsamples > before;
			if (!res->hw[e].available && !res->hw[e].reason[0])
				snprintf(res->hw[e].reason, sizeof res->hw[e].reason, "not counted in every sample");
		}
	}
	free(tab);
	return 0;
}

const struct vl_engine_ops vl_engine_host = {
	.name = "host",
	.desc = "real: host-native twins of the user-level workloads as Linux processes (PAPI counters where the host has a PMU)",
	.default_mmu = VL_MMU_NONE,
	.mmu_mask = VL_MMU_BIT(VL_MMU_NONE),
	.check = host_check,
	.run_external = host_run,
};
