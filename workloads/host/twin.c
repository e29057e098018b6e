/* twin.c — host-native twins of the guest's user-level workloads (syscall,
 * pgfault, divzero, ctxsw, forkwait, cpuid, compute), one Linux process per
 * sample, started by the `host` engine (engines/host/host.c). Workload names
 * and default iterations come from include/virtlab/workloads.def, the
 * compute kernel from workloads/compute.h — the guest's own sources.
 *
 *   vl-twin WORKLOAD ITERATIONS [EVENT ...]
 *
 * Prints (stdout), each on one line:
 *   RESULT workload=W iters=N ns=<monotonic ns> cycles=<TSC ticks> [key=value ...]
 *   COUNTER <event> <count over the measured region>      (counted events)
 *   NOCOUNTER <event> <PAPI's reason>                      (events PAPI could not count)
 *   FOOTPRINT vmrss_kb= rssanon_kb= rssfile_kb= vmpte_kb= vmsize_kb= regions=   (this process, after the region)
 *   ERROR <text>                                           (then exit 1)
 * Exit 0 ok, 1 the workload failed, 2 usage. The measured region is timed
 * with CLOCK_MONOTONIC and RDTSC right around the loop, as in the guest. */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <x86intrin.h>

#include "virtlab/hpc.h"
#include "../compute.h"

typedef uint64_t u64;

/* The measured region: time and counters accumulate over begin/end pairs
 * (pgfault measures chunk by chunk, as the guest does). */
static struct {
	u64 ns, tsc, t_ns, t_tsc;
	struct hpc_set hpc;
} reg;

static u64 now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

static void region_begin(void)
{
	hpc_begin(&reg.hpc);
	reg.t_ns = now_ns();
	reg.t_tsc = __rdtsc();
}

static void region_end(void)
{
	u64 tsc = __rdtsc(), ns = now_ns();
	reg.tsc += tsc - reg.t_tsc;
	reg.ns += ns - reg.t_ns;
	hpc_end(&reg.hpc);
}

static void result(const char *w, u64 iters, const char *extra)
{
	printf("RESULT workload=%s iters=%llu ns=%llu cycles=%llu%s\n", w, (unsigned long long)iters,
	       (unsigned long long)reg.ns, (unsigned long long)reg.tsc, extra ? extra : "");
}

static long raw_syscall0(long n)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
	return r;
}

static int w_syscall(u64 n)
{
	region_begin();
	for (u64 i = 0; i < n; i++)
		raw_syscall0(SYS_getpid);
	region_end();
	result("syscall", n, NULL);
	return 0;
}

/* First touch of fresh anonymous pages, chunks of at most 256 pages mapped
 * and unmapped outside the measured region (as the guest). */
static int w_pgfault(u64 n)
{
	long pg = sysconf(_SC_PAGESIZE);
	for (u64 done = 0; done < n; ) {
		u64 k = n - done > 256 ? 256 : n - done;
		volatile char *p = mmap(NULL, k * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			printf("ERROR pgfault: mmap of %llu pages failed\n", (unsigned long long)k);
			return 1;
		}
		region_begin();
		for (u64 i = 0; i < k; i++)
			p[i * pg] = 1;
		region_end();
		munmap((void *)p, k * pg);
		done += k;
	}
	result("pgfault", n, NULL);
	return 0;
}

/* #DE: the kernel sends SIGFPE; the handler skips the 2-byte `divl %ecx`
 * and sets EAX = EDX = 0, as the guest kernel does. */
static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uc->uc_mcontext.gregs[REG_RIP] += 2;
	uc->uc_mcontext.gregs[REG_RAX] = 0;
	uc->uc_mcontext.gregs[REG_RDX] = 0;
}

static int w_divzero(u64 n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigfpe;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGFPE, &sa, NULL);
	u64 resumed = 0;
	region_begin();
	for (u64 i = 0; i < n; i++) {
		uint32_t q = 7, d = 0, r = 5;
		__asm__ volatile("divl %2" : "+a"(q), "+d"(r) : "c"(d));   /* F7 F1: 2 bytes */
		resumed += (q == 0 && r == 0);
	}
	region_end();
	if (resumed != n) {
		printf("ERROR divzero: %llu of %llu divisions resumed with quotient 0\n",
		       (unsigned long long)resumed, (unsigned long long)n);
		return 1;
	}
	char extra[48];
	snprintf(extra, sizeof extra, " resumed=%llu", (unsigned long long)resumed);
	result("divzero", n, extra);
	return 0;
}

/* Two processes pinned to one CPU alternating through sched_yield; the
 * shared page counts the switches that really happened (a yield with no
 * other runnable task returns at once). */
static int w_ctxsw(u64 n)
{
	u64 half = (n + 1) / 2;
	int cpu = sched_getcpu();
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set)) {
		printf("ERROR ctxsw: cannot pin to CPU %d\n", cpu);
		return 1;
	}
	volatile long *sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		printf("ERROR ctxsw: shared mapping failed\n");
		return 1;
	}
	sh[0] = 0;   /* who ran last: 1 parent, 2 child */
	sh[1] = 0;   /* switches seen */
	sh[2] = 0;   /* child ready */
	pid_t pid = fork();
	if (pid < 0) {
		printf("ERROR ctxsw: fork failed\n");
		return 1;
	}
	if (pid == 0) {
		sh[2] = 1;
		for (u64 i = 0; i < half; i++) {
			if (sh[0] != 2) { sh[1]++; sh[0] = 2; }
			sched_yield();
		}
		_exit(0);
	}
	while (!sh[2])
		sched_yield();   /* let the child start */
	region_begin();
	for (u64 i = 0; i < half; i++) {
		if (sh[0] != 1) { sh[1]++; sh[0] = 1; }
		sched_yield();
	}
	region_end();
	int st = 0;
	waitpid(pid, &st, 0);
	char extra[48];
	snprintf(extra, sizeof extra, " switches=%ld", sh[1]);
	result("ctxsw", half * 2, extra);
	return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int w_forkwait(u64 n)
{
	region_begin();
	for (u64 i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		int st = 1;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			region_end();
			printf("ERROR forkwait: fork or wait failed\n");
			return 1;
		}
	}
	region_end();
	result("forkwait", n, NULL);
	return 0;
}

static int w_cpuid(u64 n)
{
	region_begin();
	for (u64 i = 0; i < n; i++) {
		uint32_t a = 0, b, c = 0, d;
		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) :: "memory");
	}
	region_end();
	result("cpuid", n, NULL);
	return 0;
}

static int w_compute(u64 n)
{
	static u64 tab[WL_COMPUTE_TAB];
	u64 x = WL_COMPUTE_SEED, sum = 0;
	region_begin();
	for (u64 i = 0; i < n; i++)
		sum += wl_compute_step(&x, tab, i);
	region_end();
	char extra[48];
	snprintf(extra, sizeof extra, " check=%llx", (unsigned long long)sum);
	result("compute", n, extra);
	return 0;
}

/* This process's footprint after the region: what a minimal real process
 * looks like (issue 12 item 5). */
static void footprint(void)
{
	long rss = -1, anon = -1, file = -1, pte = -1, size = -1, regions = 0;
	char line[512];
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f)) {
		sscanf(line, "VmRSS: %ld", &rss);
		sscanf(line, "RssAnon: %ld", &anon);
		sscanf(line, "RssFile: %ld", &file);
		sscanf(line, "VmPTE: %ld", &pte);
		sscanf(line, "VmSize: %ld", &size);
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof line, f))
		regions++;
	if (f)
		fclose(f);
	printf("FOOTPRINT vmrss_kb=%ld rssanon_kb=%ld rssfile_kb=%ld vmpte_kb=%ld vmsize_kb=%ld regions=%ld\n",
	       rss, anon, file, pte, size, regions);
}

static const struct { const char *name; int (*fn)(u64); } twins[] = {
	{ "syscall", w_syscall }, { "pgfault", w_pgfault }, { "divzero", w_divzero }, { "ctxsw", w_ctxsw },
	{ "forkwait", w_forkwait }, { "cpuid", w_cpuid }, { "compute", w_compute },
};

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: vl-twin WORKLOAD ITERATIONS [EVENT ...]\n");
		return 2;
	}
	char *end = NULL;
	u64 n = strtoull(argv[2], &end, 10);
	if (!n || !end || *end) {
		fprintf(stderr, "vl-twin: bad iteration count '%s'\n", argv[2]);
		return 2;
	}
	int (*fn)(u64) = NULL;
	for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++)
		if (!strcmp(twins[i].name, argv[1]))
			fn = twins[i].fn;
	if (!fn) {
		fprintf(stderr, "vl-twin: no host twin for workload '%s'\n", argv[1]);
		return 2;
	}
	hpc_open(&reg.hpc, (const char *const *)argv + 3, argc - 3);
	int rc = fn(n);
	hpc_close(&reg.hpc);
	if (rc == 0) {
		for (int i = 0; i < reg.hpc.n; i++) {
			if (reg.hpc.ok[i])
				printf("COUNTER %s %lld\n", reg.hpc.name[i], reg.hpc.sum[i]);
			else
				printf("NOCOUNTER %s %s\n", reg.hpc.name[i], reg.hpc.why[i]);
		}
		footprint();
	}
	fflush(stdout);
	return rc;
}
