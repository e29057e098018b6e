/* uprog.c — the user-mode workloads (syscall, pgfault, divzero, ctxsw,
 * forkwait, compute) and the kernel self-tests (selftest), one ELF program
 * entered with (workload index, iterations). Each prints its RESULT line
 * through write(2) and returns the process exit status. */
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include "virtlab/guest_abi.h"
#include "../../guest/sysnum.h"
#include "../compute.h"
#include "../footprint.h"

typedef uint64_t u64;
int vl_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
size_t strlen(const char *s);

enum {
#define W(name, iters, desc) WL_##name,
#include "virtlab/workloads.def"
#undef W
	WL_COUNT
};
static const char *const names[] = {
#define W(name, iters, desc) #name,
#include "virtlab/workloads.def"
#undef W
};

static long sc(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
static inline u64 rdtsc(void) { uint32_t lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
#define MARK_BEGIN() __asm__ volatile(VL_MARK_STR(VL_MARK_DISP(VL_MARK_BEGIN, VL_REGION_MEASURE)) ::: "memory")
#define MARK_END() __asm__ volatile(VL_MARK_STR(VL_MARK_DISP(VL_MARK_END, VL_REGION_MEASURE)) ::: "memory")

static void uprintf(const char *fmt, ...)
{
	char buf[256];
	va_list ap; va_start(ap, fmt);
	int n = vl_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
	sc(SYS_write, 1, (long)buf, n);
}

static char fp_extra[64];   /* " fp_pages=N fp_regions=R" when a footprint was set up */

static void result(int w, u64 iters, u64 cycles, const char *extra)
{
	uprintf(VL_RESULT_PREFIX "workload=%s iters=%lu cycles=%lu%s%s\n", names[w], iters, cycles, extra, fp_extra);
}

/* The process footprint (workloads/footprint.h): `pages` anonymous pages
 * mapped in `regions` mmaps and each touched, before any measured region,
 * so fork, exit and switches handle a process of a real program's shape. */
static long footprint(u64 fp)
{
	u64 pages = fp & 0xffffffffu, regions = fp >> 32;
	if (!pages)
		return 0;
	if (!regions || regions > pages)
		regions = 1;
	for (u64 r = 0; r < regions; r++) {
		u64 k = pages / regions + (r < pages % regions);
		long a = sc(SYS_mmap, 0, (long)(k * 4096), 3);
		if (a < 0) { uprintf(VL_ERROR_PREFIX "footprint: mmap of region %lu (%lu pages) failed (%ld)\n", r, k, a); return 1; }
		for (u64 i = 0; i < k; i++) ((volatile char *)a)[i * 4096] = 1;
	}
	extern int vl_snprintf(char *, size_t, const char *, ...);
	vl_snprintf(fp_extra, sizeof fp_extra, " fp_pages=%lu fp_regions=%lu", pages, regions);
	return 0;
}

static long w_syscall(u64 n)
{
	MARK_BEGIN();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++) sc(SYS_getpid, 0, 0, 0);
	u64 t1 = rdtsc();
	MARK_END();
	result(WL_syscall, n, t1 - t0, "");
	return 0;
}

/* Touch fresh pages of anonymous memory, in chunks of at most 256 pages
 * mapped and unmapped outside the measured region. */
static long w_pgfault(u64 n)
{
	u64 total = 0, done = 0;
	while (done < n) {
		u64 k = n - done > 256 ? 256 : n - done;
		long a = sc(SYS_mmap, 0, (long)(k * 4096), 3);
		if (a < 0) { uprintf(VL_ERROR_PREFIX "pgfault: mmap failed (%ld)\n", a); return 1; }
		volatile char *p = (volatile char *)a;
		MARK_BEGIN();
		u64 t0 = rdtsc();
		for (u64 i = 0; i < k; i++) p[i * 4096] = 1;
		u64 t1 = rdtsc();
		MARK_END();
		total += t1 - t0;
		sc(SYS_munmap, a, (long)(k * 4096), 0);
		done += k;
	}
	result(WL_pgfault, n, total, "");
	return 0;
}

static long w_divzero(u64 n)
{
	u64 resumed = 0;
	MARK_BEGIN();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++) {
		/* divl %ecx with ECX = 0: the kernel skips it, RAX = RDX = 0 */
		uint32_t q = 7, d = 0, r = 5;
		__asm__ volatile("divl %2" : "+a"(q), "+d"(r) : "c"(d));
		resumed += (q == 0 && r == 0);
	}
	u64 t1 = rdtsc();
	MARK_END();
	if (resumed != n) { uprintf(VL_ERROR_PREFIX "divzero: %lu of %lu divisions resumed with quotient 0\n", resumed, n); return 1; }
	char extra[48];
	extern int vl_snprintf(char *, size_t, const char *, ...);
	vl_snprintf(extra, sizeof extra, " resumed=%lu", resumed);
	result(WL_divzero, n, t1 - t0, extra);
	return 0;
}

/* Two processes alternating through yield: the parent's n/2 yields and the
 * child's n/2 yields make n switches. */
static long w_ctxsw(u64 n)
{
	u64 half = (n + 1) / 2;
	long pid = sc(SYS_fork, 0, 0, 0);
	if (pid < 0) { uprintf(VL_ERROR_PREFIX "ctxsw: fork failed (%ld)\n", pid); return 1; }
	if (pid == 0) {
		/* a few yields of slack: if a timer preemption let the child run
		 * ahead before the region, it is still there for the parent's last
		 * yields, so each of the region's yields is a switch */
		for (u64 i = 0; i < half + 8; i++) sc(SYS_yield, 0, 0, 0);
		sc(SYS_exit, 0, 0, 0);
	}
	sc(SYS_yield, 0, 0, 0);   /* let the child start */
	MARK_BEGIN();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < half; i++) sc(SYS_yield, 0, 0, 0);
	u64 t1 = rdtsc();
	MARK_END();
	long st = 0;
	sc(SYS_wait, (long)&st, 0, 0);
	result(WL_ctxsw, half * 2, t1 - t0, "");
	return st != 0;
}

static long w_forkwait(u64 n)
{
	MARK_BEGIN();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++) {
		long pid = sc(SYS_fork, 0, 0, 0);
		if (pid == 0) sc(SYS_exit, 0, 0, 0);
		if (pid < 0) { MARK_END(); uprintf(VL_ERROR_PREFIX "forkwait: fork failed (%ld)\n", pid); return 1; }
		long st = 1;
		if (sc(SYS_wait, (long)&st, 0, 0) != pid || st != 0) { MARK_END(); uprintf(VL_ERROR_PREFIX "forkwait: wait failed\n"); return 1; }
	}
	u64 t1 = rdtsc();
	MARK_END();
	result(WL_forkwait, n, t1 - t0, "");
	return 0;
}

/* Integer kernel (workloads/compute.h): xorshift64 mixed into a small
 * table (loads, stores, shifts, multiply). The checksum is guest-visible output, identical on
 * every engine. */
static long w_compute(u64 n)
{
	static u64 tab[WL_COMPUTE_TAB];
	u64 x = WL_COMPUTE_SEED, sum = 0;
	MARK_BEGIN();
	u64 t0 = rdtsc();
	for (u64 i = 0; i < n; i++)
		sum += wl_compute_step(&x, tab, i);   /* workloads/compute.h: shared with the host twin */
	u64 t1 = rdtsc();
	MARK_END();
	char extra[48];
	extern int vl_snprintf(char *, size_t, const char *, ...);
	vl_snprintf(extra, sizeof extra, " check=%lx", sum);
	result(WL_compute, n, t1 - t0, extra);
	return 0;
}

/* ---- self-tests ---- */
static int t_cow(void)
{
	static volatile long shared = 1;
	long pid = sc(SYS_fork, 0, 0, 0);
	if (pid < 0) return 0;
	if (pid == 0) { shared = 2; sc(SYS_exit, shared == 2 ? 0 : 1, 0, 0); }
	long st = -5;
	if (sc(SYS_wait, (long)&st, 0, 0) != pid) return 0;
	return st == 0 && shared == 1;
}

static int t_demand(void)
{
	long a = sc(SYS_mmap, 0, 16 * 4096, 3);
	if (a < 0) return 0;
	volatile u64 *p = (volatile u64 *)a;
	for (int i = 0; i < 16 * 512; i++) if (p[i]) return 0;
	for (int i = 0; i < 16 * 512; i++) p[i] = (u64)i * 3;
	for (int i = 0; i < 16 * 512; i++) if (p[i] != (u64)i * 3) return 0;
	if (sc(SYS_munmap, a, 16 * 4096, 0)) return 0;
	/* touching it now must kill the toucher, not the kernel */
	long pid = sc(SYS_fork, 0, 0, 0);
	if (pid == 0) { (void)p[0]; sc(SYS_exit, 0, 0, 0); }
	long st = 0;
	if (sc(SYS_wait, (long)&st, 0, 0) != pid || st != -1) return 0;
	/* a fresh mapping is zero again */
	a = sc(SYS_mmap, 0, 4096, 3);
	return a > 0 && ((volatile u64 *)a)[5] == 0;
}

/* Two CPU-bound children that never yield share the CPU only through timer
 * preemption: each counts loop iterations until the same tick deadline. */
static int t_fair(u64 *ca, u64 *cb)
{
	long start = sc(SYS_ticks, 0, 0, 0), deadline = start + 40;
	long pids[2]; u64 cnt[2] = { 0, 0 };
	for (int k = 0; k < 2; k++) {
		pids[k] = sc(SYS_fork, 0, 0, 0);
		if (pids[k] == 0) {
			u64 c = 0;
			for (;;) {
				for (int j = 0; j < 256; j++) __asm__ volatile("" ::: "memory");
				c++;
				if ((c & 63) == 0 && sc(SYS_ticks, 0, 0, 0) >= deadline) break;
			}
			sc(SYS_exit, (long)c, 0, 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		long st = 0, pid = sc(SYS_wait, (long)&st, 0, 0);
		cnt[pid == pids[0] ? 0 : 1] = (u64)st;
	}
	*ca = cnt[0]; *cb = cnt[1];
	return cnt[0] && cnt[1] && cnt[0] < 3 * cnt[1] && cnt[1] < 3 * cnt[0];
}

static int t_badargs(void)
{
	int ok = 1;
	ok &= sc(SYS_write, 1, 0, 10) == -VL_EFAULT;
	ok &= sc(SYS_write, 1, (long)0xffff888000000000ull, 10) == -VL_EFAULT;
	ok &= sc(SYS_write, 1, (long)0xffffffff80100000ull, 10) == -VL_EFAULT;
	ok &= sc(SYS_write, 7, (long)"x", 1) == -VL_EBADF;
	ok &= sc(SYS_wait, 0x10, 0, 0) == -VL_ECHILD;
	ok &= sc(SYS_mmap, 0, 0, 3) == -VL_EINVAL;
	ok &= sc(SYS_munmap, 0x1001, 4096, 0) == -VL_EINVAL;
	ok &= sc(1000, 0, 0, 0) == -VL_ENOSYS;
	ok &= sc(-1, 0, 0, 0) == -VL_ENOSYS;
	/* wait into a kernel address: EFAULT, the child stays waitable */
	long pid = sc(SYS_fork, 0, 0, 0);
	if (pid == 0) sc(SYS_exit, 0, 0, 0);
	ok &= sc(SYS_wait, (long)0xffffffff80100000ull, 0, 0) == -VL_EFAULT;
	ok &= sc(SYS_wait, 0, 0, 0) == pid;
	return ok;
}

static long w_selftest(void)
{
	u64 t0 = rdtsc();
	int cow = t_cow(), dem = t_demand(), bad = t_badargs();
	u64 a = 0, b = 0;
	int fair = t_fair(&a, &b);
	u64 t1 = rdtsc();
	static const char *const ok[2] = { "FAIL", "ok" };
	if (!cow) uprintf(VL_ERROR_PREFIX "selftest cow: child write visible to the parent or child failed\n");
	if (!dem) uprintf(VL_ERROR_PREFIX "selftest demand: demand-zero paging or fault-kill failed\n");
	if (!bad) uprintf(VL_ERROR_PREFIX "selftest badargs: a bad system-call argument was not rejected\n");
	if (!fair) uprintf(VL_ERROR_PREFIX "selftest fair: preempted children counted %lu and %lu\n", a, b);
	uprintf(VL_RESULT_PREFIX "workload=selftest iters=1 cycles=%lu cow=%s demand=%s badargs=%s fair=%s\n",
		t1 - t0, ok[cow], ok[dem], ok[bad], ok[fair]);
	return !(cow && dem && bad && fair);
}

long umain(long w, u64 n, u64 fp)
{
	if (footprint(fp))
		return 1;
	switch (w) {
	case WL_syscall: return w_syscall(n);
	case WL_pgfault: return w_pgfault(n);
	case WL_divzero: return w_divzero(n);
	case WL_ctxsw: return w_ctxsw(n);
	case WL_forkwait: return w_forkwait(n);
	case WL_compute: return w_compute(n);
	case WL_selftest: return w_selftest();
	default:
		uprintf(VL_ERROR_PREFIX "workload %s has no user-mode part\n", w >= 0 && w < WL_COUNT ? names[w] : "?");
		return 2;
	}
}
