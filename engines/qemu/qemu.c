/* qemu.c — external real engines: the guest image booted under QEMU
 * (qemu-tcg: TCG, a real dynamic binary translator; qemu-kvm: KVM where the
 * host's /dev/kvm runs standard guests). Each run boots spec->repeats times
 * (default 5), parses the guest's RESULT lines and keeps every raw sample of
 * guest-measured cycles per iteration; the reported value is the median.
 * Host wall-clock time is used only for the hard timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "virtlab/engine.h"
#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "virtlab/run.h"
#include "../hv/hv.h"

#define QEMU_DEFAULT_REPEATS 5
#define QEMU_DEFAULT_TIMEOUT_S 300      /* per boot; $VIRTLAB_QEMU_TIMEOUT overrides */
#define QEMU_CONSOLE_MAX (4u << 20)

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *qemu_binary(void)
{
	const char *e = getenv("VIRTLAB_QEMU");
	return e && *e ? e : "qemu-system-x86_64";
}

/* Is `prog` runnable (absolute path, or found in $PATH)? */
static int have_program(const char *prog)
{
	if (strchr(prog, '/')) return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path) return 0;
	char buf[4096];
	for (const char *p = path; *p; ) {
		const char *c = strchr(p, ':');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog);
		if (n && access(buf, X_OK) == 0) return 1;
		p = c ? c + 1 : p + n;
	}
	return 0;
}

/* Can this host's /dev/kvm run a standard guest? 0, or -1 with the reason. */
static int kvm_usable(char *why, size_t whylen)
{
	struct stat st;
	if (stat("/sys/module/kvm_pvm", &st) == 0) {
		snprintf(why, whylen, "/dev/kvm on this host is the PVM paravirtual backend (kvm_pvm loaded): "
			 "it runs only guests written for it; a standard guest triple-faults on its first interrupt from ring 3");
		return -1;
	}
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		snprintf(why, whylen, "/dev/kvm is missing or not accessible (%s)", strerror(errno));
		return -1;
	}
	FILE *f = fopen("/proc/cpuinfo", "r");
	int hw = 0;
	if (f) {
		char line[8192];
		while (!hw && fgets(line, sizeof line, f))
			if (!strncmp(line, "flags", 5) && (strstr(line, " vmx") || strstr(line, " svm"))) hw = 1;
		fclose(f);
	}
	if (!hw) {
		snprintf(why, whylen, "the host CPU shows no vmx/svm flag: /dev/kvm here is not hardware-assisted KVM "
			 "(a paravirtual backend that cannot run standard guests)");
		return -1;
	}
	return 0;
}

static int qemu_check_tcg(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (!have_program(qemu_binary())) {
		snprintf(why, whylen, "%s not found (install Debian's qemu-system-x86)", qemu_binary());
		return -1;
	}
	return 0;
}

static int qemu_check_kvm(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (qemu_check_tcg(p, mmu, why, whylen)) return -1;
	return kvm_usable(why, whylen);
}

/* One boot. Fills *console (malloc'ed), *exit_value (guest exit device
 * value or -1) and returns 0 done, 1 timeout, -1 could not run (err). */
static int qemu_boot(const char *accel, const struct vl_run_spec *spec, const char *cmdline,
		     char **console, int *exit_value, char *err, size_t errlen)
{
	char mem[32];
	snprintf(mem, sizeof mem, "%lluM", (unsigned long long)(spec->ram_mb ? spec->ram_mb : VL_DEFAULT_RAM_MB));
	/* a Multiboot kernel writes to the UART (kvm-unit-tests), ours to the debug port */
	bool foreign = vl_image_is_multiboot(spec->image);
	const char *argv[] = { qemu_binary(), "-accel", accel, "-kernel", spec->image, "-append", cmdline,
		foreign ? "-serial" : "-debugcon", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-display", "none",
		"-nodefaults", "-no-reboot", "-m", mem, NULL };
	double limit = QEMU_DEFAULT_TIMEOUT_S;
	const char *te = getenv("VIRTLAB_QEMU_TIMEOUT");
	if (te && atof(te) > 0) limit = atof(te);

	int fd[2];
	if (pipe(fd)) { snprintf(err, errlen, "pipe: %s", strerror(errno)); return -1; }
	pid_t pid = fork();
	if (pid < 0) { close(fd[0]); close(fd[1]); snprintf(err, errlen, "fork: %s", strerror(errno)); return -1; }
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0) dup2(devnull, 0);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	int timed_out = 0;
	double t0 = mono();
	if (!buf) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); close(fd[0]); snprintf(err, errlen, "out of memory"); return -1; }
	for (;;) {
		double left = limit - (mono() - t0);
		if (left <= 0) { timed_out = 1; break; }
		struct pollfd pfd = { fd[0], POLLIN, 0 };
		int r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR) continue;
		if (r == 0) continue;
		if (len + 4096 + 1 > cap) {
			if (cap >= QEMU_CONSOLE_MAX) { len = 0; }   /* runaway output: keep the tail */
			else { char *nb = realloc(buf, cap * 2); if (!nb) break; buf = nb; cap *= 2; }
		}
		ssize_t n = read(fd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		len += (size_t)n;
	}
	close(fd[0]);
	buf[len] = '\0';
	int status = 0;
	if (timed_out) kill(pid, SIGKILL);
	else {
		/* EOF: QEMU is exiting; still bound the wait */
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (mono() - t0 > limit) { timed_out = 1; kill(pid, SIGKILL); break; }
			struct timespec ts = { 0, 10000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (timed_out) waitpid(pid, &status, 0);
	*console = buf;
	*exit_value = -1;
	if (!timed_out && WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		if (code == 127 && strstr(buf, "exec ")) { snprintf(err, errlen, "%s", buf); free(buf); *console = NULL; return -1; }
		if (code & 1) *exit_value = code >> 1;   /* isa-debug-exit: (v << 1) | 1 */
	}
	return timed_out ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int first_line(const char *console, const char *prefix, char *out, size_t n)
{
	for (const char *l = console; l && *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		if (!strncmp(l, prefix, strlen(prefix))) { snprintf(out, n, "%.*s", (int)len, l); return 1; }
		l = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* Hand the console to the --trace sink one line at a time. */
static void trace_lines(const struct vl_run_spec *spec, const char *console)
{
	char line[1024];
	for (const char *l = console; l && *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		snprintf(line, sizeof line, "qemu: %.*s", (int)len, l);
		spec->trace(spec->trace_arg, line);
		l = eol ? eol + 1 : NULL;
	}
}

static int qemu_run(const char *accel, const struct vl_run_spec *spec, struct vl_run_result *res, char *err, size_t errlen)
{
	/* the runner's command line (the model boots the same); built here only
	 * when called without the runner, by the same builder */
	char built[VL_BOOT_CMDLINE_MAX];
	const char *cmdline = spec->cmdline;
	/* a Multiboot kernel (its own convention; the runner gives its --append) */
	bool foreign = spec->image && vl_image_is_multiboot(spec->image);
	if (!cmdline && foreign)
		cmdline = spec->append ? spec->append : "";
	if (!cmdline) {
		if (hv_cmdline(built, sizeof built, spec->workload, spec->iterations, spec->params) < 0) {
			snprintf(err, errlen, "guest command line too long");
			return -1;
		}
		cmdline = built;
	}
	unsigned reps = spec->repeats ? spec->repeats : QEMU_DEFAULT_REPEATS;
	double *v = calloc(reps, sizeof *v);
	if (!v) { snprintf(err, errlen, "out of memory"); return -1; }
	size_t nv = 0;
	res->status = VL_RUN_OK;
	res->reason[0] = '\0';
	res->model = false;
	res->started = wall();
	double t0 = mono();
	for (unsigned r = 0; r < reps; r++) {
		char *console = NULL;
		int exitv = -1;
		int rc = qemu_boot(accel, spec, cmdline, &console, &exitv, err, errlen);
		if (rc < 0) { free(v); return -1; }
		free(res->console);
		res->console = console;
		res->guest_exit = exitv;
		vl_run_parse_results(res, console);
		if (spec->trace) trace_lines(spec, console);
		if (rc == 1) {
			res->status = VL_RUN_TIMEOUT;
			snprintf(res->reason, sizeof res->reason, "QEMU killed after the timeout (boot %u of %u)", r + 1, reps);
			break;
		}
		char line[400];
		if (foreign) {   /* its own convention: exit status 0 = success; one boot is the result */
			if (exitv != 0) {
				res->status = VL_RUN_FAILED;
				snprintf(res->reason, sizeof res->reason, "guest exit status %d", exitv);
			}
			break;
		}
		if (exitv != VL_EXIT_OK) {
			res->status = VL_RUN_FAILED;
			if (first_line(console, VL_ERROR_PREFIX, line, sizeof line))
				snprintf(res->reason, sizeof res->reason, "guest exit status %d: %s", exitv, line);
			else
				snprintf(res->reason, sizeof res->reason, "guest exit status %d (no exit-device write: crash or triple fault?)", exitv);
			break;
		}
		const struct vl_guest_result *g = NULL;
		for (int i = 0; i < res->nresults && !g; i++)
			if (!spec->workload || !strcmp(res->results[i].workload, spec->workload)) g = &res->results[i];
		if (!g || !g->iters) {
			res->status = VL_RUN_FAILED;
			snprintf(res->reason, sizeof res->reason, "no RESULT line for workload %s on the console", spec->workload ? spec->workload : "?");
			break;
		}
		v[nv++] = (double)g->cycles / (double)g->iters;
	}
	res->host_seconds = mono() - t0;
	res->ended = wall();
	if (nv) {
		struct vl_sample_set *s = &res->samples[res->nsamples++];
		snprintf(s->metric, sizeof s->metric, "cycles_per_iter");
		snprintf(s->unit, sizeof s->unit, "cycles");
		s->n = nv;
		s->v = v;
		double *sorted = malloc(nv * sizeof *sorted);
		if (sorted) {
			memcpy(sorted, v, nv * sizeof *sorted);
			qsort(sorted, nv, sizeof *sorted, cmp_double);
			res->cycles_per_iter = nv % 2 ? sorted[nv / 2] : (sorted[nv / 2 - 1] + sorted[nv / 2]) / 2;
			free(sorted);
		}
	} else {
		free(v);
	}
	return 0;
}

static int qemu_run_tcg(const struct vl_run_spec *spec, struct vl_run_result *res, char *err, size_t errlen)
{
	return qemu_run("tcg", spec, res, err, errlen);
}

static int qemu_run_kvm(const struct vl_run_spec *spec, struct vl_run_result *res, char *err, size_t errlen)
{
	if (kvm_usable(err, errlen)) return -1;   /* never boot a guest that would hang */
	return qemu_run("kvm", spec, res, err, errlen);
}

const struct vl_engine_ops vl_engine_qemu_tcg = {
	.name = "qemu-tcg",
	.desc = "real: the guest under QEMU TCG (dynamic binary translation), guest-measured cycles",
	.default_mmu = VL_MMU_NONE,
	.mmu_mask = VL_MMU_BIT(VL_MMU_NONE),
	.check = qemu_check_tcg,
	.run_external = qemu_run_tcg,
};

const struct vl_engine_ops vl_engine_qemu_kvm = {
	.name = "qemu-kvm",
	.desc = "real: the guest under QEMU with KVM (only where /dev/kvm runs standard guests)",
	.default_mmu = VL_MMU_NONE,
	.mmu_mask = VL_MMU_BIT(VL_MMU_NONE),
	.check = qemu_check_kvm,
	.run_external = qemu_run_kvm,
};
