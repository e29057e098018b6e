/* pvmmu.c — direct paging on the guest side (engine pv with mmu/direct,
 * guest_abi.h "Direct paging"). Only when the VMM offers it
 * (VL_PVS_MMU_BATCH != 0 in the shared page); natively nothing here runs.
 *
 * After the switch the kernel's "physical" addresses are MACHINE frames:
 * the direct map maps machine frame m at DM(m), the page allocator hands
 * out machine frames, so page tables written by the unchanged mm.c/proc.c
 * code hold machine frames and reading them back needs no translation.
 * The p2m table (pseudo -> machine) is used once, at the switch: for the
 * kernel image (mapped at KOFF + pseudo-physical, as linked) and to hand
 * the rest of RAM to the allocator.
 *
 * Page-table pages are read-only in the direct map; pv_ops.set_pte writes
 * an entry of a typed (read-only) page table as a queued mmu_update, and
 * an entry of a page table not yet typed (a new address space being built
 * by fork or exec) as a plain store; such a tree is made read-only and
 * pinned, in one batch, before its first load into CR3 (Linux's xen_pgd_pin).
 * Queued updates are flushed when the queue holds the profile's batch size,
 * before any non-lazy operation, and before returning to user mode;
 * clearing updates (munmap, exit) and the INVLPGs behind them wait for
 * such a barrier, so munmap of n pages costs n/32 multicalls, not n.
 * mm_new_space, mm_fork_space and mm_free_space are redirected here by a
 * jump patched over their first bytes at the switch (static-call style), so
 * the native code path is byte-for-byte what it was. */
#include "kernel.h"

int pv_direct;                     /* 1: the VMM offered direct paging */
static u32 batch;
static u64 nframes;
static u32 *p2m;                   /* pseudo frame -> machine frame (kernel-image VA) */
static u8 *pst;                    /* per machine frame: page-table level | PST_RO | PST_PIN */
#define PST_LVL 7
#define PST_RO 8
#define PST_PIN 16
static u64 dm_l1[VL_MMU_BATCH_MAX];  /* machine address of the direct map's L1 for frames [i*512, i*512+512) */
static u64 cur_root;
static int lazy;

static struct { u64 ptr, val; } q[VL_MMU_BATCH_MAX];
static struct { u64 cmd, arg; } qx[32];
static unsigned nq, nqx;
static struct { u64 nr, a[5]; long result; } mc[2];
static u64 stat_updates, stat_hcalls;

static long hc3(long nr, u64 a0, u64 a1, u64 a2)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "rcx", "r11", "memory");
	return r;
}

void pvd_flush(void)
{
	long r = 0;
	if (!nq && !nqx) return;
	if (nq && nqx) {
		mc[0].nr = VL_HC_MMU_UPDATE; mc[0].a[0] = (u64)q; mc[0].a[1] = nq; mc[0].a[2] = 0;
		mc[1].nr = VL_HC_MMUEXT_OP; mc[1].a[0] = (u64)qx; mc[1].a[1] = nqx; mc[1].a[2] = 0;
		r = hc3(VL_HC_MULTICALL, (u64)mc, 2, 0);
		if (!r) r = mc[0].result ? mc[0].result : mc[1].result;
	} else if (nq) {
		r = hc3(VL_HC_MMU_UPDATE, (u64)q, nq, 0);
	} else {
		r = hc3(VL_HC_MMUEXT_OP, (u64)qx, nqx, 0);
	}
	stat_updates += nq; stat_hcalls++;
	if (r) panic("pv direct paging: the VMM refused a batch of %u updates / %u ops: %ld", nq, nqx, r);
	nq = nqx = 0;
}

static void q_upd(u64 ptr, u64 val)
{
	q[nq].ptr = ptr; q[nq].val = val;
	if (++nq == batch) pvd_flush();
}

static void q_ext(u64 cmd, u64 arg)
{
	qx[nqx].cmd = cmd; qx[nqx].arg = arg;
	if (++nqx == sizeof qx / sizeof qx[0]) pvd_flush();
}

static u64 ext1(u64 cmd, u64 arg)
{
	pvd_flush();
	q_ext(cmd, arg);
	long r = hc3(VL_HC_MMUEXT_OP, (u64)qx, 1, 0);
	nqx = 0;
	return (u64)r;
}

/* The direct map's entry for machine frame f: read-only (a page table) or writable. */
static void dm_prot(u64 f, int ro)
{
	q_upd(dm_l1[f >> 9] + (f & 511) * 8, (f << 12) | PTE_P | (ro ? 0 : PTE_W));
	q_ext(VL_MMUEXT_INVLPG, (u64)DM(f << 12));
	if (ro) pst[f] |= PST_RO; else pst[f] = 0;
}

static void d_set_pte(u64 *ptep, u64 v)
{
	u64 c = DM_PA(ptep), cf = c >> 12;
	u8 st = pst[cf];
	int lvl = st & PST_LVL;
	if (lvl > 1 && (v & PTE_P) && !(v & PTE_PS)) {
		u64 ch = (v & PTE_ADDR) >> 12;
		if (ch < nframes && !(pst[ch] & PST_LVL)) {
			pst[ch] = (u8)(lvl - 1);
			if (st & PST_RO) dm_prot(ch, 1);   /* linked into a typed table: read-only first */
		}
	}
	if (!(st & PST_RO)) { *(volatile u64 *)ptep = v; return; }
	q_upd(c, v);
	if (v && !lazy) pvd_flush();
}

static void d_invlpg(u64 va)
{
	/* behind queued clears (munmap, exit): queued too, applied at the next
	 * barrier (return to user, CR3 load, a non-clearing update) */
	if (nq || nqx) q_ext(VL_MMUEXT_INVLPG, va);
	else ext1(VL_MMUEXT_INVLPG, va);
}

/* Make the not-yet-typed page tables of a tree read-only, then pin it. */
static void ro_tree(u64 t, int lvl)
{
	u64 *e = DM(t);
	int top = lvl == 4 ? 256 : 512;
	for (int i = 0; i < top; i++) {
		if (!(e[i] & PTE_P) || (e[i] & PTE_PS)) continue;
		u64 ch = (e[i] & PTE_ADDR) >> 12;
		if (lvl > 2) ro_tree(ch << 12, lvl - 1);
		if (!(pst[ch] & PST_RO)) dm_prot(ch, 1);
	}
}

static void pin_root(u64 root)
{
	u64 f = root >> 12;
	if (pst[f] & PST_PIN) return;
	pst[f] = (u8)((pst[f] & ~PST_LVL) | 4);
	ro_tree(root, 4);
	if (!(pst[f] & PST_RO)) dm_prot(f, 1);
	pvd_flush();
	long r = (long)ext1(VL_MMUEXT_PIN_L4, root);
	if (r) panic("pv direct paging: pinning root 0x%lx refused: %ld", root, r);
	pst[f] |= PST_PIN;
}

static void d_write_cr3(u64 root)
{
	pvd_flush();
	pin_root(root);
	long r = (long)ext1(VL_MMUEXT_NEW_BASEPTR, root);
	if (r) panic("pv direct paging: new base pointer 0x%lx refused: %ld", root, r);
	cur_root = root;
}

static u64 d_read_cr3(void) { return cur_root; }

/* ---- address spaces (mm.c's, redirected here) ------------------------------ */
static u64 d_new_space(void)
{
	u64 pa = page_alloc();
	if (!pa) return 0;
	u64 *n = DM(pa), *k = DM(kernel_pml4_pa);
	for (int i = 256 + 16; i < 512; i++) n[i] = k[i];   /* 256..271: the monitor's slots */
	pst[pa >> 12] = 4;
	return pa;
}

static int d_fork_level(u64 *src, u64 *dst, int lvl)
{
	for (int i = 0; i < 512; i++) {
		u64 e = src[i];
		if (!(e & PTE_P)) continue;
		if (lvl == 0) {
			if (e & (PTE_W | PTE_COW)) { e = (e & ~PTE_W) | PTE_COW; pv_ops.set_pte(&src[i], e); }
			page_ref(e & PTE_ADDR);
			pv_ops.set_pte(&dst[i], e);
			continue;
		}
		u64 pa = page_alloc();
		if (!pa) return -1;
		pv_ops.set_pte(&dst[i], pa | (e & 0xfff));
		if (d_fork_level(DM(e & PTE_ADDR), DM(pa), lvl - 1)) return -1;
	}
	return 0;
}

static void d_free_space(u64 pml4_pa);
static u64 d_fork_space(u64 parent)
{
	u64 child = d_new_space();
	if (!child) return 0;
	u64 *s = DM(parent), *d = DM(child);
	lazy = 1;   /* the parent's entries losing W: queued, one batch per pv.mmu_batch */
	for (int i = 0; i < 256; i++) {
		u64 e = s[i];
		if (!(e & PTE_P)) continue;
		u64 pa = page_alloc();
		if (!pa || (pv_ops.set_pte(&d[i], pa | (e & 0xfff)), d_fork_level(DM(e & PTE_ADDR), DM(pa), 2))) {
			lazy = 0; pvd_flush(); d_free_space(child); return 0;
		}
	}
	q_ext(VL_MMUEXT_TLB_FLUSH, 0);   /* parent's PTEs lost W */
	lazy = 0;
	pvd_flush();
	return child;
}

/* Unpin (the VMM untypes the tree), make its table pages writable again,
 * release data and table pages. Never the live root. */
static u64 rel[1024];
static unsigned nrel;
static void rel_flush(void)
{
	pvd_flush();
	for (unsigned i = 0; i < nrel; i++) page_unref(rel[i]);
	nrel = 0;
}
static void d_free_level(u64 *t, int lvl)
{
	for (int i = 0; i < 512; i++) {
		u64 e = t[i];
		if (!(e & PTE_P)) continue;
		u64 pa = e & PTE_ADDR;
		if (!lvl) { page_unref(pa); continue; }
		d_free_level(DM(pa), lvl - 1);
		if (pst[pa >> 12] & PST_RO) dm_prot(pa >> 12, 0); else pst[pa >> 12] = 0;
		if (nrel == sizeof rel / sizeof rel[0]) rel_flush();
		rel[nrel++] = pa;
	}
}
static void d_free_space(u64 pml4_pa)
{
	u64 f = pml4_pa >> 12;
	pvd_flush();
	if (pst[f] & PST_PIN) {
		long r = (long)ext1(VL_MMUEXT_UNPIN, pml4_pa);
		if (r) panic("pv direct paging: unpin 0x%lx refused: %ld", pml4_pa, r);
	}
	lazy = 1;
	u64 *t = DM(pml4_pa);
	for (int i = 0; i < 256; i++) {
		u64 e = t[i];
		if (!(e & PTE_P)) continue;
		u64 pa = e & PTE_ADDR;
		d_free_level(DM(pa), 2);
		if (pst[pa >> 12] & PST_RO) dm_prot(pa >> 12, 0); else pst[pa >> 12] = 0;
		if (nrel == sizeof rel / sizeof rel[0]) rel_flush();
		rel[nrel++] = pa;
	}
	if (pst[f] & PST_RO) dm_prot(f, 0); else pst[f] = 0;
	lazy = 0;
	rel_flush();
	page_unref(pml4_pa);
}

/* The validator, once per boot (outside any measured region): each
 * forbidden request must come back with its error code and change nothing;
 * and a pseudo-physical frame written where a machine frame belongs (a
 * missed translation) maps another page. The kernel panics if the VMM
 * accepts any of them; the line is checked by tests/e2e/pv.sh. */
#define PROBE_VA 0xffffc90000200000ull
static long upd1(u64 ptr, u64 val, u64 n)
{
	q[0].ptr = ptr; q[0].val = val;
	return hc3(VL_HC_MMU_UPDATE, (u64)q, n, 0);
}
static void pvd_probe(void)
{
	u64 l4 = kernel_pml4_pa >> 12, mon = (VL_MONITOR_BASE >> 39) & 511;
	u64 *k = DM(kernel_pml4_pa);
	u64 dm_l4 = dm_l1[l4 >> 9] + (l4 & 511) * 8, saved = k[mon];
	u64 data = page_alloc();
	u64 dm_data = dm_l1[(data >> 12) >> 9] + ((data >> 12) & 511) * 8;
	long e[8];
	e[0] = upd1(dm_l4, kernel_pml4_pa | PTE_P | PTE_W, 1);                    /* writable mapping of a page table */
	e[1] = upd1(dm_data, (nframes << 12) | PTE_P | PTE_W, 1);                  /* monitor memory (just above RAM) */
	e[2] = upd1(kernel_pml4_pa + mon * 8, data | PTE_P | PTE_W, 1);           /* an entry in the monitor's L4 slots */
	e[3] = upd1(dm_data, (1ull << 45) | PTE_P, 1);                             /* a frame the guest does not own */
	e[4] = (long)ext1(VL_MMUEXT_UNPIN, kernel_pml4_pa);                        /* unpinning the live root */
	e[5] = upd1(dm_data, data | PTE_P | PTE_W, 0);                             /* malformed batch: no entries */
	e[6] = upd1(dm_data, data | PTE_P | PTE_W, VL_MMU_BATCH_MAX + 1);          /* ... too many */
	e[7] = upd1(dm_data | 1, data | PTE_P | PTE_W, 1);                         /* ... an unknown command */
	const long want[8] = { -VL_HC_EEXIST, -VL_HC_EACCES, -VL_HC_EACCES, -VL_HC_EPERM, -VL_HC_EBUSY,
			       -VL_HC_EINVAL, -VL_HC_EINVAL, -VL_HC_EINVAL };
	for (int i = 0; i < 8; i++)
		if (e[i] != want[i]) panic("pv direct paging: forbidden request %d returned %ld, expected %ld", i, e[i], want[i]);
	if (k[mon] != saved || *(volatile u64 *)DM(data) != 0) panic("pv direct paging: a refused request changed memory");
	/* a missed translation: the pseudo-physical number of `data` maps another page */
	*(volatile u64 *)DM(data) = 0x5649525446524d45ull;
	u64 pseudo = 0;
	while (pseudo < nframes && p2m[pseudo] != (data >> 12)) pseudo++;
	if (mm_map(kernel_pml4_pa, PROBE_VA, pseudo << 12, PTE_P)) panic("pv direct paging: probe mapping refused");
	u64 wrong = *(volatile u64 *)PROBE_VA;
	mm_map(kernel_pml4_pa, PROBE_VA, data, PTE_P);
	pv_ops.invlpg(PROBE_VA);
	u64 right = *(volatile u64 *)PROBE_VA;
	mm_map(kernel_pml4_pa, PROBE_VA, 0, 0);
	pv_ops.invlpg(PROBE_VA);
	if (wrong == right || right != 0x5649525446524d45ull) panic("pv direct paging: pseudo/machine frames not told apart");
	page_unref(data);
	kprintf("pv: direct paging validator: writable_pt=%ld monitor=%ld monitor_slot=%ld not_owned=%ld unpin_live=%ld "
		"batch_empty=%ld batch_big=%ld bad_cmd=%ld pseudo_frame=other_page machine_frame=ok\n",
		e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
}

static void patch_jmp(void *from, void *to)
{
	u8 *p = from;
	int rel32 = (int)((u64)to - ((u64)p + 5));
	p[0] = 0xE9;
	memcpy(p + 1, &rel32, 4);
}

void pvd_iret_frame(void);
__asm__(".text\n.globl pvd_iret_frame\npvd_iret_frame:\n\tcall pvd_flush\n\tjmp pv_iret_frame\n");

/* Announced by pv_init from the shared page. */
void pvd_offer(u32 b, u64 frames)
{
	if (!b) return;   /* shadow paging: plain PTE stores */
	/* the direct map of machine RAM has one L2 (1 GiB), as the native kernel's reach */
	if (b > VL_MMU_BATCH_MAX || !frames || frames > 512ull * 512)
		panic("pv: direct paging offered with batch %u for %lu frames; this kernel pages at most %llu frames (1 GiB) directly",
		      b, frames, 512ull * 512);
	batch = b;
	nframes = frames;
	pv_direct = 1;
	/* the paging pv-ops, switched here with the others (before any call-site
	 * patching reads the table); nothing calls them before mm_init, which
	 * builds what they rely on */
	pv_ops.set_pte = d_set_pte;
	pv_ops.invlpg = d_invlpg;
	pv_ops.write_cr3 = d_write_cr3;
	pv_ops.read_cr3 = d_read_cr3;
	pv_ops.sysret_to_user = pvd_iret_frame;
	pv_ops.iret_to_user = pvd_iret_frame;
	pv_ops.iret_to_kernel = pvd_iret_frame;
	pv_ops.mmu_flush = pvd_flush;
}

/* The switch (from mm_init, in boot mode: the VMM's copy of the boot
 * tables maps pseudo-physical DM and kernel image). Builds the kernel's
 * tables in machine frames — direct map of machine RAM in 4K pages, the
 * kernel image at KOFF + pseudo — loads them (the VMM validates and pins
 * them), then gives every other frame to the allocator as a machine frame. */
static u64 bump;
static u64 take(u64 pages) { u64 pa = bump; bump += pages * PAGE_SIZE; memset(DM(pa), 0, pages * PAGE_SIZE); return pa; }
#define M(pa) ((u64)p2m[(pa) >> 12] << 12)

void pvd_mm_init(u64 ram, u64 start)
{
	extern char _pvmmu_end[];
	u64 n = nframes;
	start = PA(_pvmmu_end);   /* this code and its data stay */
	if (n != ram >> 12) panic("pv direct paging: %lu frames offered for %lu bytes of RAM", n, ram);
	bump = start;
	u64 p2m_pa = take((n * 4 + PAGE_SIZE - 1) / PAGE_SIZE), pst_pa = take((n + PAGE_SIZE - 1) / PAGE_SIZE);
	if (hc3(VL_HC_MMUEXT_OP, (u64)(qx[0].cmd = VL_MMUEXT_GET_P2M, qx[0].arg = p2m_pa, qx), 1, 0))
		panic("pv direct paging: no p2m table");
	u64 ndm = (n + 511) / 512, ndm2 = (ndm + 511) / 512;
	u64 l4 = take(1), l3dm = take(1), l2dm = take(ndm2), l1dm = take(ndm), l3k = take(1), l2k = take(1);
	u64 nk = 1;
	while ((bump >> 12) + nk > nk * 512) nk++;
	u64 l1k = take(nk);
	if (nk > 512 || ndm2 > 1) panic("pv direct paging: RAM too large");
	u64 kend = bump >> 12;
	p2m = (u32 *)(p2m_pa + KOFF);
	pst = (u8 *)(pst_pa + KOFF);
	u8 *ps = DM(pst_pa);
	const u32 *pm = DM(p2m_pa);
#define MB(pa) ((u64)pm[(pa) >> 12] << 12)
	for (u64 p = l4 >> 12; p < kend; p++) ps[pm[p]] = PST_RO;   /* every table page: read-only */
	ps[pm[l4 >> 12]] |= 4 | PST_PIN; ps[pm[l3dm >> 12]] |= 3; ps[pm[l3k >> 12]] |= 3;
	for (u64 i = 0; i < ndm2; i++) ps[pm[(l2dm >> 12) + i]] |= 2;
	ps[pm[l2k >> 12]] |= 2;
	for (u64 i = 0; i < ndm; i++) ps[pm[(l1dm >> 12) + i]] |= 1;
	for (u64 i = 0; i < nk; i++) ps[pm[(l1k >> 12) + i]] |= 1;
	u64 *t4 = DM(l4), *t3 = DM(l3dm), *t2 = DM(l2dm), *tk3 = DM(l3k), *tk2 = DM(l2k);
	t4[(VL_DIRECT_MAP >> 39) & 511] = MB(l3dm) | PTE_P | PTE_W;
	t4[511] = MB(l3k) | PTE_P | PTE_W;
	t3[0] = MB(l2dm) | PTE_P | PTE_W;
	for (u64 i = 0; i < ndm; i++) {
		u64 l1 = l1dm + i * PAGE_SIZE, *t1 = DM(l1);
		t2[i] = MB(l1) | PTE_P | PTE_W;
		dm_l1[i] = MB(l1);
		for (u64 j = 0; j < 512 && i * 512 + j < n; j++) {
			u64 mf = i * 512 + j;
			t1[j] = (mf << 12) | PTE_P | ((ps[mf] & PST_RO) ? 0 : PTE_W);
		}
	}
	tk3[510] = MB(l2k) | PTE_P | PTE_W;
	for (u64 i = 0; i < nk; i++) {
		u64 l1 = l1k + i * PAGE_SIZE, *t1 = DM(l1);
		tk2[i] = MB(l1) | PTE_P | PTE_W;
		for (u64 j = 0; j < 512 && i * 512 + j < kend; j++) {
			u64 mf = pm[i * 512 + j];
			t1[j] = (mf << 12) | PTE_P | ((ps[mf] & PST_RO) ? 0 : PTE_W);
		}
	}
	/* redirect the address-space code, switch the pv-ops, load the new root */
	extern u64 mm_new_space(void); extern u64 mm_fork_space(u64); extern void mm_free_space(u64);
	patch_jmp((void *)mm_new_space, (void *)d_new_space);
	patch_jmp((void *)mm_fork_space, (void *)d_fork_space);
	patch_jmp((void *)mm_free_space, (void *)d_free_space);
	kernel_pml4_pa = cur_root = MB(l4);
	qx[0].cmd = VL_MMUEXT_NEW_BASEPTR; qx[0].arg = cur_root;
	long r = hc3(VL_HC_MMUEXT_OP, (u64)qx, 1, 0);
	if (r) panic("pv direct paging: the VMM refused the kernel's tables: %ld", r);
	/* from here DM(x) is machine frame x; the rest of RAM goes to the allocator */
	for (u64 p = n; p-- > kend;)
		if (p2m[p]) mm_free_push((u64)p2m[p] << 12);   /* machine frame 0 stays unused: 0 ends the free list */
	pvd_probe();
	kprintf("pv: direct paging: %lu frames, p2m rotated (pseudo 0x%lx -> machine 0x%lx), mmu_batch=%u, kernel tables %lu pages\n",
		n, start, (u64)p2m[start >> 12] << 12, batch, kend - (l4 >> 12));
}
