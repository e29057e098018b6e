/* cmd_bench.c — `virtlab bench`: the speed of the machine itself, and of
 * QEMU TCG on the same image, per guest instruction with start-up removed.
 *
 * Method (README.md "How fast is the model?"): for each system and workload
 * two runs, at n1 and n2 > n1 iterations; speed = extra guest instructions /
 * extra host seconds, so boot, image load and QEMU's process start-up cancel.
 * The seconds are the CPU time (user + sys) of the run's process — the
 * model's forked child, the QEMU process — so other load on a shared host
 * does not count as the system's time; the host wall clock and, for TCG, the
 * guest's own RDTSC over its measured region give the same figure as
 * cross-checks (model_wall_mips, tcg_wall_mips, tcg_rdtsc_mips).
 * The model counts its guest instructions exactly (every region); TCG's
 * extra instructions are taken as the model's instructions per iteration of
 * the same image and workload times (n2 - n1) (the assumption is stated in
 * the README). n2 is calibrated so that the extra work takes about
 * --target seconds; each pair is repeated --reps times, model and TCG pairs
 * interleaved, and the median with min/max is reported. Model runs happen
 * in a forked child each, whose ru_maxrss is the model's peak RSS.
 * Host clocks are read here only: this measures the host, not the model. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#endif

#include "cli.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"

static const char bench_usage[] =
	"usage: virtlab bench [--workloads W,...] [--reps N] [--target S] [--quick] [--iterations N]\n"
	"                     [--engine E] [--mmu M] [--profile P] [--image FILE] [--no-qemu] [--format table|json]\n"
	"Speed of the machine model and of QEMU TCG on the same guest image, per guest instruction\n"
	"with start-up removed: each system runs each workload at two iteration counts n1 < n2, and\n"
	"speed = extra guest instructions / extra host CPU seconds of the run's process (MIPS = guest\n"
	"instructions per host second / 1e6; a modelled cycle is not a host cycle). Wall-clock and\n"
	"(TCG) guest-RDTSC figures are printed beside it. TCG's instruction count is the model's\n"
	"exact count per iteration of the same image and workload. model/TCG is the ratio of host time\n"
	"per guest instruction, measured in the same invocation. Without QEMU the TCG fields are null.\n"
	"  --workloads W,... workloads (default compute,forkwait,pgfault,ctxsw)\n"
	"  --reps N          repetitions of each pair, median and min/max reported (default 5)\n"
	"  --target S        host CPU seconds of extra work per pair and system (default 0.5); n2 is\n"
	"                    calibrated to it\n"
	"  --quick           --reps 3 --target 0.1 (for tests: a rough figure)\n"
	"  --iterations N    n2 = N and n1 = N/10 for every system and workload, no calibration\n"
	"                    (N is the same for every workload: name the workloads, forkwait is slow)\n"
	"  --engine E, --mmu M, --profile P  the model configuration (default native, zen4)\n"
	"  --no-qemu         model only\n"
	"  --format F        table (default) or json (`mips` = model MIPS on compute, per workload\n"
	"                    model_mips, tcg_mips, ratio, spread; peak_rss_kb of a model run)\n";

#define BENCH_MAX_REPS 101
#define BENCH_MAX_WL 16
#define BENCH_ITER_CAP (1ull << 40)   /* the guest's own limit on iters */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One run's host-side facts. */
struct bpoint {
	int rc;                 /* vl_run_execute's return (2 refused) */
	int status;             /* enum vl_run_status */
	uint64_t insns;         /* model: guest instructions, every region */
	double seconds;         /* host wall seconds: model machine run / QEMU boot */
	double cpu;             /* host CPU seconds (user + sys) of the run's process: the model's child, QEMU */
	double region_cycles;   /* QEMU: guest RDTSC over the measured region */
	long maxrss_kb;         /* model: the child's peak RSS */
	char reason[520];
};

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* CPU seconds of every reaped child so far. */
static double children_cpu(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_CHILDREN, &ru))
		return 0;
	return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

/* A model run in a forked child (its own address space, so ru_maxrss is
 * this run's peak). */
static void model_point(const struct vl_run_spec *spec, uint64_t n, struct bpoint *p)
{
	memset(p, 0, sizeof *p);
	p->status = VL_RUN_FAILED;
	int fd[2];
	if (pipe(fd)) {
		snprintf(p->reason, sizeof p->reason, "pipe failed");
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		snprintf(p->reason, sizeof p->reason, "fork failed");
		return;
	}
	if (pid == 0) {
		close(fd[0]);
		struct vl_run_spec s = *spec;
		s.iterations = n;
		struct vl_run_result res;
		struct bpoint q;
		memset(&q, 0, sizeof q);
		q.rc = vl_run_execute(&s, &res);
		q.status = res.status;
		q.insns = res.total_insns;
		q.seconds = res.host_seconds;
		snprintf(q.reason, sizeof q.reason, "%s", res.reason);
		vl_run_result_free(&res);
		ssize_t w = write(fd[1], &q, sizeof q);
		_exit(w == (ssize_t)sizeof q ? 0 : 1);
	}
	close(fd[1]);
	size_t got = 0;
	while (got < sizeof *p) {
		ssize_t r = read(fd[0], (char *)p + got, sizeof *p - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd[0]);
	int st = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	while (wait4(pid, &st, 0, &ru) < 0)
		;
	if (got != sizeof *p) {
		memset(p, 0, sizeof *p);
		p->status = VL_RUN_FAILED;
		snprintf(p->reason, sizeof p->reason, "the model run's process ended without a result (status 0x%x)", st);
		return;
	}
	p->maxrss_kb = ru.ru_maxrss;
	p->cpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

static double host_tsc_hz;   /* tsc_hz(), measured once before the first TCG run */


/* A QEMU TCG boot (one sample). */
static void tcg_point(const struct vl_run_spec *mspec, uint64_t n, struct bpoint *p)
{
	memset(p, 0, sizeof *p);
	struct vl_run_spec s = { .engine = "qemu-tcg", .workload = mspec->workload, .iterations = n,
				 .image = mspec->image, .repeats = 1 };
	struct vl_run_result res;
	double c0 = children_cpu();   /* the QEMU process is this call's only child */
	p->rc = vl_run_execute(&s, &res);
	p->cpu = children_cpu() - c0;
	p->status = res.status;
	p->seconds = res.host_seconds;
	snprintf(p->reason, sizeof p->reason, "%s", res.reason);
	for (int i = 0; i < res.nresults; i++)
		if (!strcmp(res.results[i].workload, mspec->workload))
			p->region_cycles = (double)res.results[i].cycles;
	vl_run_result_free(&res);
}

typedef void (*point_fn)(const struct vl_run_spec *, uint64_t, struct bpoint *);

static bool point_ok(const struct bpoint *p)
{
	return p->rc == 0 && p->status == VL_RUN_OK;
}

/* n2 such that cpu(n2) - cpu(n1) is about `target` seconds: probe at n1 * 8^k
 * until the extra time reaches max(target/8, 50 ms), then extrapolate linearly. */
static int calibrate(point_fn f, const struct vl_run_spec *spec, uint64_t n1, double target, uint64_t *n2,
		     struct bpoint *bad, double *ipi_probe)
{
	struct bpoint a, b;
	f(spec, n1, &a);
	if (!point_ok(&a)) {
		*bad = a;
		return -1;
	}
	uint64_t n = n1;
	double d = 0;
	for (;;) {
		n = n * 8 > BENCH_ITER_CAP ? BENCH_ITER_CAP : n * 8;
		f(spec, n, &b);
		if (!point_ok(&b)) {
			*bad = b;
			return -1;
		}
		d = b.cpu - a.cpu;
		/* QEMU's start-up CPU time varies by ~10-20 ms (and rusage ticks):
		 * extrapolate only from a difference well above that */
		if (d >= (target / 8 > 0.05 ? target / 8 : 0.05) || n == BENCH_ITER_CAP)
			break;
	}
	/* the model's instructions per iteration over [n1, probe]: against the
	 * final [n1, n2] it shows how linear the count is in the iterations */
	*ipi_probe = (double)(b.insns - a.insns) / (double)(n - n1);
	double x = d > 0 ? (double)(n - n1) * target / d : (double)(n - n1);
	if (x < (double)n1)
		x = (double)n1;   /* at least n2 = 2 n1 */
	*n2 = n1 + (x > (double)(BENCH_ITER_CAP - n1) ? BENCH_ITER_CAP - n1 : (uint64_t)x);
	return 0;
}

struct stat3 { double med, min, max; };

/* Median (analysis/stats.c, the one `compare` uses) and range of n samples. */
static struct stat3 stats(const double *v, size_t n)
{
	struct stat3 s = { vl_stats_median(v, n), NAN, NAN };
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || v[i] < s.min)
			s.min = v[i];
		if (i == 0 || v[i] > s.max)
			s.max = v[i];
	}
	return s;
}

/* Host TSC ticks per second, against CLOCK_MONOTONIC over 100 ms: QEMU
 * TCG's guest RDTSC reads the host TSC (no icount), so this converts the
 * guest's own region timing to seconds. 0 where there is no TSC. */
static double tsc_hz(void)
{
#ifdef BENCH_HAVE_TSC
	double t0 = mono();
	unsigned long long c0 = __rdtsc();
	struct timespec ts = { 0, 100000000 };
	while (nanosleep(&ts, &ts))
		;
	unsigned long long c1 = __rdtsc();
	double t1 = mono();
	return t1 > t0 ? (double)(c1 - c0) / (t1 - t0) : 0;
#else
	return 0;
#endif
}

struct wl_bench {
	const char *name;
	uint64_t m_n1, m_n2, t_n1, t_n2;
	double ipi;                           /* model guest instructions per iteration (n1..n2) */
	double ipi_probe;                     /* the same over the calibration probe's range (NAN: none) */
	/* per repetition: model CPU and wall; TCG CPU, guest RDTSC, wall */
	double m_mips[BENCH_MAX_REPS], m_wall[BENCH_MAX_REPS];
	double t_mips[BENCH_MAX_REPS], t_rdtsc[BENCH_MAX_REPS], t_wall[BENCH_MAX_REPS];
	size_t nm, nmw, nt, ntr, ntw;
	long rss_kb;
	bool insns_vary;                      /* the model's count differed between reps: never expected */
	struct stat3 m, mw, t, tr, tw;
	
};

static void json_num(double v)
{
	if (isnan(v))
		fputs("null", stdout);
	else
		printf("%.4f", v);
}

static void json_samples(const double *v, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		printf("%.4f", v[i]);
	}
	putchar(']');
}

/* "2100000" -> "2.1M" for the table */
static const char *human(uint64_t n, char *buf, size_t len)
{
	if (n >= 10000000)
		snprintf(buf, len, "%.0fM", n / 1e6);
	else if (n >= 1000000)
		snprintf(buf, len, "%.1fM", n / 1e6);
	else if (n >= 10000)
		snprintf(buf, len, "%.0fk", n / 1e3);
	else
		snprintf(buf, len, "%llu", (unsigned long long)n);
	return buf;
}

int cmd_bench(int argc, char **argv)
{
	enum { O_PROFILE = 256, O_ITERS, O_IMAGE, O_NOQEMU, O_FORMAT, O_HELP, O_WL, O_REPS, O_TARGET, O_QUICK,
	       O_ENGINE, O_MMU };
	static const struct option opts[] = {
		{ "profile", required_argument, 0, O_PROFILE }, { "iterations", required_argument, 0, O_ITERS },
		{ "image", required_argument, 0, O_IMAGE }, { "no-qemu", no_argument, 0, O_NOQEMU },
		{ "format", required_argument, 0, O_FORMAT }, { "help", no_argument, 0, O_HELP },
		{ "workloads", required_argument, 0, O_WL }, { "reps", required_argument, 0, O_REPS },
		{ "target", required_argument, 0, O_TARGET }, { "quick", no_argument, 0, O_QUICK },
		{ "engine", required_argument, 0, O_ENGINE }, { "mmu", required_argument, 0, O_MMU },
		{ 0, 0, 0, 0 }
	};
	struct vl_run_spec spec = { .engine = "native" };
	bool noqemu = false, quick = false;
	uint64_t fixed = 0, reps = 0;
	double target = 0;
	const char *wlarg = "compute,forkwait,pgfault,ctxsw";
	enum vl_fmt fmt = VL_FMT_TABLE;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROFILE: spec.profile = optarg; break;
		case O_IMAGE:   spec.image = optarg; break;
		case O_ENGINE:  spec.engine = optarg; break;
		case O_MMU:     spec.mmu = optarg; break;
		case O_NOQEMU:  noqemu = true; break;
		case O_QUICK:   quick = true; break;
		case O_WL:      wlarg = optarg; break;
		case O_ITERS:
			if (vl_cli_parse_u64(optarg, &fixed) || fixed < 2 || fixed > BENCH_ITER_CAP)
				return vl_cli_usage_error("bench", "--iterations: expected an integer from 2 to 2^40, got '%s'", optarg);
			break;
		case O_REPS:
			if (vl_cli_parse_u64(optarg, &reps) || !reps || reps > BENCH_MAX_REPS)
				return vl_cli_usage_error("bench", "--reps: expected an integer from 1 to %d, got '%s'",
							  BENCH_MAX_REPS, optarg);
			break;
		case O_TARGET: {
			char *end;
			target = strtod(optarg, &end);
			if (end == optarg || *end || !(target >= 0.001 && target <= 600))
				return vl_cli_usage_error("bench", "--target: expected seconds from 0.001 to 600, got '%s'", optarg);
			break;
		}
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
	if (!reps)
		reps = quick ? 3 : 5;
	if (target == 0)
		target = quick ? 0.1 : 0.5;

	struct wl_bench *wl = calloc(BENCH_MAX_WL, sizeof *wl);
	char *wlbuf = strdup(wlarg);
	if (!wl || !wlbuf) {
		free(wl);
		free(wlbuf);
		fprintf(stderr, "virtlab bench: out of memory\n");
		return VL_CLI_FAILED;
	}
	size_t nwl = 0;
	int rc = VL_CLI_OK;
	char *save = NULL;
	for (char *t = strtok_r(wlbuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		const struct vl_workload_info *w = vl_workload_find(t);
		if (!w) {
			rc = vl_cli_usage_error("bench", "--workloads: unknown workload '%s' (see `virtlab list workloads`)", t);
			goto out;
		}
		if (nwl == BENCH_MAX_WL) {
			rc = vl_cli_usage_error("bench", "--workloads: at most %d", BENCH_MAX_WL);
			goto out;
		}
		wl[nwl].name = w->name;
		/* n1: big enough to run the workload's start (first-touch, first
		 * translation) in both runs of the pair, small against n2 */
		wl[nwl].m_n1 = wl[nwl].t_n1 = w->default_iters / 1000 > 2 ? w->default_iters / 1000 : 2;
		nwl++;
	}
	if (!nwl) {
		rc = vl_cli_usage_error("bench", "--workloads: empty list");
		goto out;
	}

	/* QEMU there? The engine's own check (VIRTLAB_QEMU, PATH) decides. */
	char tcg_note[600] = "";
	if (noqemu)
		snprintf(tcg_note, sizeof tcg_note, "not run (--no-qemu)");
	else if (!vl_engine_find("qemu-tcg"))
		snprintf(tcg_note, sizeof tcg_note, "not run: engine qemu-tcg is not in this build");
	bool tcg = !tcg_note[0];
	host_tsc_hz = tcg ? tsc_hz() : 0;
	double hz = host_tsc_hz;

	const struct vl_engine_ops *eops = vl_engine_find(spec.engine);
	if (eops && eops->run_external) {
		rc = vl_cli_usage_error("bench", "--engine: %s is not a model engine (QEMU TCG is measured beside the model)",
					spec.engine);
		goto out;
	}
	struct vl_run_result probe;
	struct vl_run_spec first = spec;
	first.workload = wl[0].name;
	first.iterations = 1;
	if (vl_run_execute(&first, &probe) == 2) {   /* a bad engine/mmu/profile/image: one line, exit 2 */
		rc = vl_cli_usage_error("bench", "%s", probe.reason);
		vl_run_result_free(&probe);
		goto out;
	}
	char pname[64], ename[32], mname[32];
	snprintf(pname, sizeof pname, "%s", probe.profile);
	snprintf(ename, sizeof ename, "%s", probe.engine);
	snprintf(mname, sizeof mname, "%s", probe.mmu);
	vl_run_result_free(&probe);

	for (size_t i = 0; i < nwl; i++) {
		struct wl_bench *b = &wl[i];
		struct vl_run_spec s = spec;
		s.workload = b->name;
		struct bpoint bad, p1, p2;
		double unused;
		b->ipi_probe = NAN;
		if (fixed) {
			b->m_n1 = b->t_n1 = fixed / 10 ? fixed / 10 : 1;
			b->m_n2 = b->t_n2 = fixed;
		} else if (calibrate(model_point, &s, b->m_n1, target, &b->m_n2, &bad, &b->ipi_probe)) {
			fprintf(stderr, "virtlab bench: model %s: %s: %s\n", b->name, vl_run_status_name[bad.status], bad.reason);
			rc = bad.rc == 2 ? VL_CLI_USAGE : VL_CLI_FAILED;
			goto out;
		}
		if (tcg && !fixed && calibrate(tcg_point, &s, b->t_n1, target, &b->t_n2, &bad, &unused)) {
			if (bad.rc == 2) {   /* refused: QEMU absent — a note, not an error */
				snprintf(tcg_note, sizeof tcg_note, "not run: %s", bad.reason);
			} else {
				snprintf(tcg_note, sizeof tcg_note, "qemu-tcg %s %s: %s", b->name, vl_run_status_name[bad.status],
					 bad.reason);
				rc = VL_CLI_FAILED;
			}
			tcg = false;
		}
		uint64_t ins1 = 0, ins2 = 0;
		for (uint64_t r = 0; r < reps; r++) {
			model_point(&s, b->m_n1, &p1);
			model_point(&s, b->m_n2, &p2);
			if (!point_ok(&p1) || !point_ok(&p2)) {
				struct bpoint *f = point_ok(&p1) ? &p2 : &p1;
				fprintf(stderr, "virtlab bench: model %s: %s: %s\n", b->name, vl_run_status_name[f->status], f->reason);
				rc = VL_CLI_FAILED;
				goto out;
			}
			if (r && (p1.insns != ins1 || p2.insns != ins2))
				b->insns_vary = true;
			ins1 = p1.insns;
			ins2 = p2.insns;
			b->rss_kb = p1.maxrss_kb > b->rss_kb ? p1.maxrss_kb : b->rss_kb;
			b->rss_kb = p2.maxrss_kb > b->rss_kb ? p2.maxrss_kb : b->rss_kb;
			double di = (double)(p2.insns - p1.insns);
			double dt = p2.cpu - p1.cpu;
			if (p2.insns > p1.insns && dt > 0)
				b->m_mips[b->nm++] = di / dt / 1e6;
			dt = p2.seconds - p1.seconds;   /* the same from the host wall clock */
			if (p2.insns > p1.insns && dt > 0)
				b->m_wall[b->nmw++] = di / dt / 1e6;
			b->ipi = (double)(p2.insns - p1.insns) / (double)(b->m_n2 - b->m_n1);
			if (!tcg)
				continue;
			tcg_point(&s, b->t_n1, &p1);
			tcg_point(&s, b->t_n2, &p2);
			if (!point_ok(&p1) || !point_ok(&p2)) {
				struct bpoint *f = point_ok(&p1) ? &p2 : &p1;
				if (f->rc == 2) {
					snprintf(tcg_note, sizeof tcg_note, "not run: %s", f->reason);
				} else {
					snprintf(tcg_note, sizeof tcg_note, "qemu-tcg %s %s: %s", b->name,
						 vl_run_status_name[f->status], f->reason);
					rc = VL_CLI_FAILED;
				}
				tcg = false;
				continue;
			}
			double extra = b->ipi * (double)(b->t_n2 - b->t_n1);
			dt = p2.cpu - p1.cpu;
			if (dt > 0)
				b->t_mips[b->nt++] = extra / dt / 1e6;
			dt = (p2.region_cycles - p1.region_cycles) / hz;   /* guest RDTSC = host TSC under TCG */
			if (hz > 0 && dt > 0)
				b->t_rdtsc[b->ntr++] = extra / dt / 1e6;
			dt = p2.seconds - p1.seconds;   /* the QEMU processes' wall time */
			if (dt > 0)
				b->t_wall[b->ntw++] = extra / dt / 1e6;
		}
		b->m = stats(b->m_mips, b->nm);
		b->mw = stats(b->m_wall, b->nmw);
		b->t = stats(b->t_mips, b->nt);
		b->tr = stats(b->t_rdtsc, b->ntr);
		b->tw = stats(b->t_wall, b->ntw);
	}
	/* TCG stopped partway (absent, failed): no workload keeps TCG figures */
	if (!tcg)
		for (size_t i = 0; i < nwl; i++) {
			wl[i].nt = wl[i].ntr = wl[i].ntw = 0;
			wl[i].t = wl[i].tr = wl[i].tw = stats(NULL, 0);
		}

	long rss = 0;
	for (size_t i = 0; i < nwl; i++)
		rss = wl[i].rss_kb > rss ? wl[i].rss_kb : rss;
	size_t mi = 0;   /* `mips`: compute's, else the first workload's */
	for (size_t i = 0; i < nwl; i++)
		if (!strcmp(wl[i].name, "compute")) {
			mi = i;
			break;
		}
	if (fmt == VL_FMT_JSON) {
		printf("{\"mips\":");
		json_num(wl[mi].m.med);
		printf(",\"mips_workload\":");
		vl_cli_json_string(stdout, wl[mi].name);
		printf(",\"unit\":\"MIPS = guest instructions per host CPU second of the run's process / 1e6, "
		       "start-up removed (n2 - n1)\"");
		printf(",\"engine\":");
		vl_cli_json_string(stdout, ename);
		printf(",\"mmu\":");
		vl_cli_json_string(stdout, mname);
		printf(",\"profile\":");
		vl_cli_json_string(stdout, pname);
		printf(",\"reps\":%llu,\"target_seconds\":%.3f,\"quick\":%s,\"calibrated\":%s,\"peak_rss_kb\":%ld",
		       (unsigned long long)reps, target, quick ? "true" : "false", fixed ? "false" : "true", rss);
		printf(",\"tcg\":%s,\"tcg_note\":", tcg ? "true" : "false");
		if (tcg)
			fputs("null", stdout);
		else
			vl_cli_json_string(stdout, tcg_note);
		printf(",\"tsc_hz\":");
		json_num(tcg && hz > 0 ? hz : NAN);
		printf(",\"clock\":\"host CPU time (user+sys) of the run's process: the model's forked child, the QEMU "
		       "process; *_wall_mips: host wall clock; tcg_rdtsc_mips: the guest's RDTSC over its measured region\"");
		printf(",\"workloads\":{");
		for (size_t i = 0; i < nwl; i++) {
			const struct wl_bench *b = &wl[i];
			printf("%s", i ? "," : "");
			vl_cli_json_string(stdout, b->name);
			printf(":{\"insns_per_iter\":%.3f,\"insns_per_iter_probe\":", b->ipi);
			json_num(b->ipi_probe);
			printf(",\"model_iterations\":[%llu,%llu],\"model_mips\":", (unsigned long long)b->m_n1,
			       (unsigned long long)b->m_n2);
			json_num(b->m.med);
			printf(",\"model_mips_min\":");
			json_num(b->m.min);
			printf(",\"model_mips_max\":");
			json_num(b->m.max);
			printf(",\"model_mips_samples\":");
			json_samples(b->m_mips, b->nm);
			printf(",\"model_wall_mips\":");
			json_num(b->mw.med);
			printf(",\"model_insns_deterministic\":%s,\"model_peak_rss_kb\":%ld", b->insns_vary ? "false" : "true",
			       b->rss_kb);
			if (tcg)
				printf(",\"tcg_iterations\":[%llu,%llu]", (unsigned long long)b->t_n1, (unsigned long long)b->t_n2);
			else
				printf(",\"tcg_iterations\":null");
			printf(",\"tcg_mips\":");
			json_num(b->t.med);
			printf(",\"tcg_mips_min\":");
			json_num(b->t.min);
			printf(",\"tcg_mips_max\":");
			json_num(b->t.max);
			printf(",\"tcg_mips_samples\":");
			if (tcg)
				json_samples(b->t_mips, b->nt);
			else
				fputs("null", stdout);
			printf(",\"tcg_rdtsc_mips\":");
			json_num(b->tr.med);
			printf(",\"tcg_wall_mips\":");
			json_num(b->tw.med);
			printf(",\"ratio\":");
			json_num(b->t.med / b->m.med);
			printf(",\"ratio_min\":");
			json_num(b->t.min / b->m.max);
			printf(",\"ratio_max\":");
			json_num(b->t.max / b->m.min);
			printf("}");
		}
		printf("}}\n");
	} else {
		printf("bench: model %s/%s on %s vs QEMU TCG, same guest image; %llu reps, median (min-max)\n", ename, mname,
		       pname, (unsigned long long)reps);
		printf("MIPS = guest instructions per host CPU second of the run's process, start-up removed:\n"
		       "(I(n2) - I(n1)) / (t(n2) - t(n1)); model/TCG = model time per instruction / TCG time per instruction\n");
		printf("%-9s %9s %13s %22s %13s %24s %9s %20s\n", "workload", "insn/iter", "model n1..n2", "model MIPS",
		       "TCG n1..n2", "TCG MIPS", "TCG rdtsc", "model/TCG time/insn");
		for (size_t i = 0; i < nwl; i++) {
			const struct wl_bench *b = &wl[i];
			char a1[16], a2[16], a3[16], a4[16], mm[64], tm[64], rr[64], mr[32], tr[32];
			snprintf(mr, sizeof mr, "%s..%s", human(b->m_n1, a1, sizeof a1), human(b->m_n2, a2, sizeof a2));
			snprintf(mm, sizeof mm, "%.1f (%.1f-%.1f)", b->m.med, b->m.min, b->m.max);
			if (tcg) {
				snprintf(tr, sizeof tr, "%s..%s", human(b->t_n1, a3, sizeof a3), human(b->t_n2, a4, sizeof a4));
				snprintf(tm, sizeof tm, "%.0f (%.0f-%.0f)", b->t.med, b->t.min, b->t.max);
				snprintf(rr, sizeof rr, "%.1f (%.1f-%.1f)", b->t.med / b->m.med, b->t.min / b->m.max,
					 b->t.max / b->m.min);
			} else {
				snprintf(tr, sizeof tr, "-");
				snprintf(tm, sizeof tm, "-");
				snprintf(rr, sizeof rr, "-");
			}
			char rd[32] = "-";
			if (tcg && !isnan(b->tr.med))
				snprintf(rd, sizeof rd, "%.0f", b->tr.med);
			printf("%-9s %9.1f %13s %22s %13s %24s %9s %20s\n", b->name, b->ipi, mr, mm, tr, tm, rd, rr);
			if (b->insns_vary)
				printf("  note: %s's model instruction count differed between repetitions\n", b->name);
		}
		printf("peak RSS of a model run: %.1f MB (ru_maxrss of the run's process)\n", rss / 1024.0);
		if (!tcg)
			printf("QEMU TCG: %s\n", tcg_note);
		else
			printf("TCG instructions = the model's instructions per iteration x (n2 - n1) (same image and workload).\n"
			       "TCG rdtsc = the same speed from the guest's own RDTSC over its measured region (host TSC, %.3f GHz).\n",
			       hz / 1e9);
	}
out:
	free(wlbuf);
	free(wl);
	return rc;
}
