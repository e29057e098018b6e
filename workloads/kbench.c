/* kbench.c — the in-kernel nanobenchmarks (in, cr8wr, callret, ptemod,
 * cpuid, sensitive): each runs its loop between the region markers, timed by RDTSC,
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
	char extra[192] = "";
	switch (w) {
	case WL_in: {
		u16 port = pmtimer_port;
		u32 first = pvop_inl(port), last = 0;
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) last = pvop_inl(port);
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		vl_snprintf(extra, sizeof extra, " port=0x%x pm_ticks=%u", port, (last - first) & 0xffffff);
		break;
	}
	case WL_cr8wr:
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) pvop_write_cr8(i & 15);
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		pvop_write_cr8(0);
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
		for (i = 0; i < n; i++) pvop_cpuid(0, 0, r);
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
			pvop_set_pte(pte, f[(i + 1) & 1] | PTE_P | PTE_W);
			pvop_invlpg(PTEMOD_VA);
			sum += *va;
		}
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		if (sum != (n + 1) / 2) { kprintf(VL_ERROR_PREFIX "ptemod: read %lu ones through the remapped page, expected %lu\n", sum, (n + 1) / 2); vl_exit(VL_EXIT_FAIL); }
		vl_snprintf(extra, sizeof extra, " check=%lu", sum);
		break;
	}
	case WL_sensitive: {
		/* Each sensitive-but-unprivileged class once, in this order (POPF
		 * first), through its pv-op as a paravirtualized kernel does: on a
		 * native boot (and under trap, bt, vtx, svm) every site is patched
		 * to the raw instruction inline (POPF, PUSHF, SGDT, ...), so a VMM
		 * that lets one of them run deprivileged is guest-visible in the
		 * RESULT line; under pv the sites call the shared-page / kept-state
		 * versions (pvops.c) and the kernel sees what it would natively. */
		struct __attribute__((packed)) { u16 limit; u64 base; } g = { 0, 0 }, d = { 0, 0 };
		u64 fl_set = 0, fl_clr = 0, gb, ib;
		u16 ldt = 0, tr = 0, msw = 0, gl, il;
		u32 cs = 0, ss = 0;
		u64 cr0 = pvop_read_cr0();
		pvop_write_cr0(cr0 | 8);   /* CR0.TS = 1, for SMSW to show */
		MARK_BEGIN(VL_REGION_MEASURE);
		t0 = rdtsc();
		for (i = 0; i < n; i++) {
			pvop_restore_fl(0x202);        /* POPF IF 0->1 */
			fl_set = pvop_save_fl();
			pvop_restore_fl(0x2);          /* IF 1->0, PUSHF */
			fl_clr = pvop_save_fl();
			pvop_store_gdt(&g);
			pvop_store_idt(&d);
			pvop_store_ldt(&ldt);
			pvop_store_tr(&tr);
			pvop_smsw(&msw);
			cs = pvop_read_cs();
			ss = pvop_read_ss();
		}
		t1 = rdtsc();
		MARK_END(VL_REGION_MEASURE);
		pvop_write_cr0(cr0);       /* TS back as it was */
		pvop_irq_disable();
		desc_tables(&gb, &gl, &ib, &il);
		vl_snprintf(extra, sizeof extra, " popf_if=%lu pushf_if=%lu cs_rpl=%u ss_rpl=%u sgdt=%s sidt=%s sldt=0x%x str=0x%x smsw_ts=%u",
			    (fl_set >> 9) & 1, (fl_clr >> 9) & 1, cs & 3, ss & 3,
			    g.base == gb && g.limit == gl ? "own" : "foreign", d.base == ib && d.limit == il ? "own" : "foreign",
			    ldt, tr, (msw >> 3) & 1);
		break;
	}
	default:
		return -1;
	}
	result(w, n, t1 - t0, extra);
	return 0;
}
