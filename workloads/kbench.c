/* kbench.c — the in-kernel nanobenchmarks (in, cr8wr, callret, ptemod,
 * cpuid): each runs its loop between the region markers, timed by RDTSC,
 * and prints one RESULT line. Part of the guest kernel image. */
#include "../guest/kernel.h"

#define PTEMOD_VA 0xffffc90000200000ull   /* a 4 KiB kernel mapping of its own */

static void result(int w, u64 iters, u64 cycles, const char *extra)
{
	kprintf(VL_RESULT_PREFIX "workload=%s iters=%lu cycles=%lu%s\n", wl_names[w], iters, cycles, extra);
}

int kbench_run(int w, u64 n)
{
	u64 t0, t1, i;
	char extra[96] = "";
	switch (w) {
	case WL_in: {
		u16 port = pmtimer_port;
		u32 first = pv_ops.inl(port), last = 0;
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) last = pv_ops.inl(port);
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		vl_snprintf(extra, sizeof extra, " port=0x%x pm_ticks=%u", port, (last - first) & 0xffffff);
		break;
	}
	case WL_cr8wr:
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) pv_ops.write_cr8(i & 15);
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		pv_ops.write_cr8(0);
		break;
	case WL_callret:
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) __asm__ volatile("call vl_nop_fn" ::: "memory");
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		break;
	case WL_cpuid: {
		u32 r[4];
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) pv_ops.cpuid(0, 0, r);
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		break;
	}
	case WL_ptemod: {
		/* Two frames with different contents; each iteration points the PTE
		 * at the other one, flushes it with INVLPG and reads through it. */
		u64 f[2] = { page_alloc(), page_alloc() };
		if (!f[0] || !f[1] || mm_map(kernel_pml4_pa, PTEMOD_VA, f[0], PTE_P | PTE_W)) panic("ptemod: no memory");
		*(u64 *)DM(f[0]) = 0; *(u64 *)DM(f[1]) = 1;
		u64 *pte = pt_walk(kernel_pml4_pa, PTEMOD_VA, 0);
		volatile u64 *va = (volatile u64 *)PTEMOD_VA;
		u64 sum = 0;
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) {
			pv_ops.set_pte(pte, f[(i + 1) & 1] | PTE_P | PTE_W);
			pv_ops.invlpg(PTEMOD_VA);
			sum += *va;
		}
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		if (sum != (n + 1) / 2) { kprintf(VL_ERROR_PREFIX "ptemod: read %lu ones through the remapped page, expected %lu\n", sum, (n + 1) / 2); vl_exit(VL_EXIT_FAIL); }
		vl_snprintf(extra, sizeof extra, " check=%lu", sum);
		break;
	}
	default:
		return -1;
	}
	result(w, n, t1 - t0, extra);
	return 0;
}
