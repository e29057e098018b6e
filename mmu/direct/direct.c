/* direct.c — paravirtual direct paging (Xen PV's MMU, reduced to what the
 * model needs): the hardware walks the guest's own page tables, which hold
 * MACHINE frames; the guest may not write them (they are mapped read-only
 * to it) and changes them with the VL_HC_MMU_UPDATE hypercall, which
 * validates every entry against page types and reference counts:
 *  - machine frames are a rotation of the guest's pseudo-physical frames
 *    (p2m(p) = (p + rot) mod n, rot = n/2 + 1: no frame keeps its number),
 *    applied to guest RAM at init — the domain builder's work;
 *  - every frame has a type (none, L1..L4, writable) and a type count; an
 *    entry referencing a table takes a type reference of the next level
 *    (typing an untyped page validates all its entries, recursively), a
 *    writable leaf takes a writable reference; a page cannot hold two
 *    types at once, so a page table is never mapped writable;
 *  - frames beyond guest RAM are refused (monitor memory: -EACCES; not the
 *    guest's: -EPERM) except device frames (vl_mmio_frame: the xAPIC page,
 *    Xen's I/O-memory permission), as are superpages, global writable leaves and guest
 *    entries in the monitor's L4 slots, which the VMM fills in every L4;
 *  - roots are pinned (VL_MMUEXT_PIN_L4) and loaded by VL_MMUEXT_NEW_BASEPTR;
 *    the live root cannot be unpinned;
 *  - TLB coherence: the guest flushes what it changed (INVLPG / TLB flush
 *    ext ops). For safety the VMM flushes itself before a page that was
 *    mapped writable becomes a page table, or a former page table is mapped
 *    writable, unless a flush happened in between (Xen's TLB-flush filter,
 *    with a global epoch instead of per-CPU timestamps).
 * Until the guest's first NEW_BASEPTR (boot mode: a PV-aware kernel boots
 * like a native one first), the hardware runs on a VMM-built copy of the
 * guest's current tables, translated to machine frames, RAM only.
 * Deterministic: arrays indexed by frame, no hashing. See README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "direct.h"

#define PTE_FLAGS 0x8000000000000fffull   /* NX + low flag bits */

struct dp {
	uint64_t n, rot;              /* frames of guest RAM; p2m rotation */
	uint8_t *type, *pinned;
	uint32_t *count;
	uint64_t *wgen, *pgen;        /* epoch + 1 when the last writable / page-table reference went */
	uint64_t epoch;
	bool boot;
	uint64_t guest_cr3;           /* boot mode: the guest's (pseudo-physical) CR3 */
	uint64_t live;                /* direct mode: machine address of the live root */
	uint64_t mon_l3[DP_MON_SLOTS];
	uint64_t snap_root;
	uint64_t *pool, *snap;        /* free monitor pages; pages of the current boot copy */
	size_t npool, nsnap, cap;
	uint64_t memo_g[DP_SNAP_MEMO], memo_s[DP_SNAP_MEMO];
	unsigned nmemo;
};

static uint64_t p2m(const struct dp *d, uint64_t pa)
{
	return ((((pa >> 12) + d->rot) % d->n) << 12) | (pa & 0xfff);
}

static uint64_t rd(struct vl_machine *m, uint64_t pa) { return vl_phys_read64(m, pa); }

static void flush(struct vl_machine *m, struct dp *d)
{
	vl_tlb_flush_nonglobal(m);
	d->epoch++;
}

/* ---- the monitor's mappings ---------------------------------------------------- */
static uint64_t mon_page(struct vl_machine *m) { return vl_mem_alloc_page(m); }

static void put_mon_slots(struct vl_machine *m, struct dp *d, uint64_t l4, bool on)
{
	for (unsigned s = 0; s < DP_MON_SLOTS; s++)
		if (d->mon_l3[s])
			vl_phys_write64(m, l4 + (DP_MON_SLOT0 + s) * 8, on ? d->mon_l3[s] | VL_PTE_P | VL_PTE_RW | VL_PTE_US : 0);
}

static int dp_map_monitor(struct vl_machine *m, void *ctx, uint64_t va, uint64_t hpa, unsigned perms)
{
	struct dp *d = ctx;
	if (va < VL_MONITOR_BASE || va >= VL_MONITOR_END || (va & 0xfff) || (hpa & 0xfff) || hpa < m->ram_size ||
	    hpa >= m->mem_size)
		return -1;
	unsigned slot = (unsigned)((va >> 39) & 511) - DP_MON_SLOT0;
	bool fresh = !d->mon_l3[slot];
	if (fresh && !(d->mon_l3[slot] = mon_page(m)))
		return -1;
	uint64_t t = d->mon_l3[slot];
	for (int lvl = 3; lvl > 1; lvl--) {
		uint64_t ea = t + ((va >> (12 + 9 * (lvl - 1))) & 511) * 8, e = rd(m, ea);
		if (!(e & VL_PTE_P)) {
			uint64_t p = mon_page(m);
			if (!p)
				return -1;
			e = p | VL_PTE_P | VL_PTE_RW | VL_PTE_US;
			vl_phys_write64(m, ea, e);
		}
		t = e & VL_PTE_ADDR;
	}
	uint64_t leaf = hpa | VL_PTE_P | ((perms & VL_PERM_W) ? VL_PTE_RW : 0) | ((perms & VL_PERM_U) ? VL_PTE_US : 0) |
			((perms & VL_PERM_X) ? 0 : VL_PTE_NX) | ((perms & VL_PERM_G) ? VL_PTE_G : 0);
	vl_phys_write64(m, t + ((va >> 12) & 511) * 8, leaf);
	if (fresh) {
		if (d->boot && d->snap_root)
			put_mon_slots(m, d, d->snap_root, true);
		for (uint64_t f = 0; f < d->n; f++)
			if (d->type[f] == DP_L4 && d->count[f])
				put_mon_slots(m, d, f << 12, true);
	}
	vl_tlb_flush_all(m);
	return 0;
}

/* ---- boot mode: a translated copy of the guest's boot tables --------------------- */
static uint64_t snap_page(struct vl_machine *m, struct dp *d)
{
	uint64_t p = d->npool ? d->pool[--d->npool] : mon_page(m);
	if (!p || d->nsnap >= d->cap)
		return 0;
	memset(vl_phys_ptr(m, p), 0, 4096);
	d->snap[d->nsnap++] = p;
	return p;
}

static void snap_release(struct dp *d)
{
	while (d->nsnap)
		d->pool[d->npool++] = d->snap[--d->nsnap];
	d->nmemo = 0;
	d->snap_root = 0;
}

/* An L1 of 512 4K entries for the guest large page at pseudo base (RAM only). */
static uint64_t snap_leaves(struct vl_machine *m, struct dp *d, uint64_t base, uint64_t fl, uint64_t size)
{
	uint64_t t = snap_page(m, d);
	if (!t)
		return 0;
	for (unsigned j = 0; j < 512; j++) {
		uint64_t pa = base + j * (size / 512);
		if (pa >= m->ram_size)
			continue;
		uint64_t e;
		if (size > (2ull << 20)) {
			e = snap_leaves(m, d, pa, fl, size / 512);
			if (!e)
				return 0;
			e |= (fl & ~VL_PTE_NX) | VL_PTE_P;
		} else {
			e = p2m(d, pa) | fl;
		}
		vl_phys_write64(m, t + j * 8, e);
		VL_CHARGE(m, VL_CAT_VMM, mmu_direct_validate);
	}
	return t;
}

static uint64_t snap_copy(struct vl_machine *m, struct dp *d, uint64_t g, int lvl)
{
	for (unsigned i = 0; i < d->nmemo; i++)
		if (d->memo_g[i] == g)
			return d->memo_s[i];
	uint64_t t = snap_page(m, d);
	if (!t || d->nmemo >= DP_SNAP_MEMO)
		return 0;
	d->memo_g[d->nmemo] = g;
	d->memo_s[d->nmemo++] = t;
	for (unsigned i = 0; i < 512; i++) {
		if (lvl == 4 && i >= DP_MON_SLOT0 && i < DP_MON_SLOT0 + DP_MON_SLOTS)
			continue;
		uint64_t e = rd(m, p2m(d, g) + i * 8), pa = e & VL_PTE_ADDR, ne;
		if (!(e & VL_PTE_P))
			continue;
		uint64_t fl = e & PTE_FLAGS & ~VL_PTE_PS;
		if (lvl > 1 && (e & VL_PTE_PS) && lvl <= 3) {
			uint64_t size = lvl == 3 ? 1ull << 30 : 2ull << 20;
			if ((pa & ~(size - 1)) >= m->ram_size)
				continue;   /* RAM only */
			ne = snap_leaves(m, d, pa & ~(size - 1), fl & ~0x1000ull, size);
			if (!ne)
				continue;
			ne |= (fl & ~VL_PTE_NX) | VL_PTE_P;
		} else if (pa >= m->ram_size) {
			continue;   /* RAM only */
		} else if (lvl > 1) {
			ne = snap_copy(m, d, pa, lvl - 1);
			if (!ne)
				return 0;
			ne |= fl;
		} else {
			ne = p2m(d, pa) | fl;
		}
		vl_phys_write64(m, t + i * 8, ne);
		VL_CHARGE(m, VL_CAT_VMM, mmu_direct_validate);
	}
	if (lvl == 4)
		put_mon_slots(m, d, t, true);
	return t;
}

static int snap_build(struct vl_machine *m, struct dp *d, uint64_t cr3)
{
	snap_release(d);
	uint64_t g = cr3 & VL_PTE_ADDR;
	if (g >= m->ram_size)
		return -1;
	d->snap_root = snap_copy(m, d, g, 4);
	if (m->trace)
		vl_trace(m, "direct: boot copy of root %#llx: %#llx (%zu pages) slot256 %#llx", (unsigned long long)g, (unsigned long long)d->snap_root, d->nsnap, (unsigned long long)rd(m, d->snap_root + 256 * 8));
	if (!d->snap_root)
		return -1;
	m->cpu.cr3 = d->snap_root;
	flush(m, d);
	return 0;
}

/* ---- page types and reference counts ------------------------------------------------ */
static int64_t get_type(struct vl_machine *m, struct dp *d, uint64_t f, int t);
static void put_type(struct vl_machine *m, struct dp *d, uint64_t f);

static bool mon_slot(int lvl, unsigned idx) { return lvl == 4 && idx >= DP_MON_SLOT0 && idx < DP_MON_SLOT0 + DP_MON_SLOTS; }

/* The references entry e (index idx of a level-lvl table) needs. */
static int64_t get_entry(struct vl_machine *m, struct dp *d, int lvl, unsigned idx, uint64_t e)
{
	if (!(e & VL_PTE_P))
		return 0;
	if (mon_slot(lvl, idx))
		return -VL_HC_EACCES;
	if (lvl > 1 && (e & VL_PTE_PS))
		return -VL_HC_EINVAL;   /* superpages: not supported */
	uint64_t pa = e & VL_PTE_ADDR;
	if (lvl == 1 && pa >= m->mem_size && vl_mmio_frame(m, pa)) {
		vl_count(m, VL_EV_PV_MMU_VALIDATIONS, 1);
		return 0;   /* a device frame the guest may use (the xAPIC page): Xen's iomem permission */
	}
	if (pa >= m->ram_size)
		return pa < m->mem_size ? -VL_HC_EACCES : -VL_HC_EPERM;
	vl_count(m, VL_EV_PV_MMU_VALIDATIONS, 1);
	if (lvl > 1)
		return get_type(m, d, pa >> 12, lvl - 1);
	if (e & VL_PTE_RW)
		return (e & VL_PTE_G) ? -VL_HC_EINVAL : get_type(m, d, pa >> 12, DP_W);
	return 0;
}

static void put_entry(struct vl_machine *m, struct dp *d, int lvl, unsigned idx, uint64_t e)
{
	if (!(e & VL_PTE_P) || mon_slot(lvl, idx) || (lvl > 1 && (e & VL_PTE_PS)) || (e & VL_PTE_ADDR) >= m->ram_size)
		return;
	if (lvl > 1 || (e & VL_PTE_RW))
		put_type(m, d, (e & VL_PTE_ADDR) >> 12);
}

static int64_t get_type(struct vl_machine *m, struct dp *d, uint64_t f, int t)
{
	if (d->count[f]) {
		if (d->type[f] != t)
			return -VL_HC_EEXIST;
		d->count[f]++;
		return 0;
	}
	/* the frame changes use: no stale writable (or page-table) translation may survive */
	if ((t != DP_W && d->wgen[f] == d->epoch + 1) || (t == DP_W && d->pgen[f] == d->epoch + 1))
		flush(m, d);
	d->type[f] = (uint8_t)t;
	d->count[f] = 1;
	if (t == DP_W)
		return 0;
	uint64_t base = f << 12;
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = rd(m, base + i * 8);
		if (!(e & VL_PTE_P) || mon_slot(t, i))
			continue;
		VL_CHARGE(m, VL_CAT_VMM, mmu_direct_validate);
		int64_t r = get_entry(m, d, t, i, e);
		if (r < 0) {
			for (unsigned j = 0; j < i; j++)
				put_entry(m, d, t, j, rd(m, base + j * 8));
			d->type[f] = DP_NONE;
			d->count[f] = 0;
			return r;
		}
	}
	if (t == DP_L4)
		put_mon_slots(m, d, base, true);
	return 0;
}

static void put_type(struct vl_machine *m, struct dp *d, uint64_t f)
{
	if (!d->count[f] || --d->count[f])
		return;
	int t = d->type[f];
	d->type[f] = DP_NONE;
	if (t == DP_W) {
		d->wgen[f] = d->epoch + 1;
		return;
	}
	d->pgen[f] = d->epoch + 1;
	uint64_t base = f << 12;
	if (t == DP_L4)
		put_mon_slots(m, d, base, false);
	for (unsigned i = 0; i < 512; i++) {
		uint64_t e = rd(m, base + i * 8);
		if (!(e & VL_PTE_P) || mon_slot(t, i))
			continue;
		VL_CHARGE(m, VL_CAT_VMM, mmu_direct_validate);
		vl_count(m, VL_EV_PV_MMU_VALIDATIONS, 1);
		put_entry(m, d, t, i, e);
	}
}

/* A guest machine address: 0 with *f, or the refusal. */
static int64_t frame_of(struct vl_machine *m, uint64_t pa, uint64_t *f)
{
	if (pa >= m->ram_size)
		return pa < m->mem_size ? -VL_HC_EACCES : -VL_HC_EPERM;
	*f = pa >> 12;
	return 0;
}

/* ---- the hypercalls ---------------------------------------------------------------- */
static int64_t refuse(struct vl_machine *m, int64_t r)
{
	vl_count(m, VL_EV_PV_MMU_REFUSALS, 1);
	return r;
}

static int64_t mmu_update_one(struct vl_machine *m, struct dp *d, uint64_t ptr, uint64_t val)
{
	uint64_t f;
	if ((ptr & 7) != VL_MMU_NORMAL_PT_UPDATE)
		return -VL_HC_EINVAL;
	int64_t r = frame_of(m, ptr & ~7ull, &f);
	if (r)
		return r;
	int t = d->type[f];
	if (!d->count[f] || t < DP_L1 || t > DP_L4)
		return -VL_HC_EINVAL;   /* not a page table */
	unsigned idx = (unsigned)((ptr & 0xff8) / 8);
	uint64_t pa = ptr & ~7ull, old = rd(m, pa);
	if (mon_slot(t, idx))
		return -VL_HC_EACCES;
	VL_CHARGE(m, VL_CAT_VMM, mmu_direct_update);
	if ((r = get_entry(m, d, t, idx, val)))
		return r;
	vl_phys_write64(m, pa, val);
	put_entry(m, d, t, idx, old);
	vl_count(m, VL_EV_PV_PTE_UPDATES, 1);
	return 0;
}

static int64_t base_ptr(struct vl_machine *m, struct dp *d, uint64_t f)
{
	if (d->boot) {
		if (!d->pinned[f]) {
			int64_t r = get_type(m, d, f, DP_L4);
			if (r)
				return r;
			d->pinned[f] = 1;
			vl_count(m, VL_EV_PV_PINNED_ROOTS, 1);
		}
		d->boot = false;
		snap_release(d);
	}
	if (!d->pinned[f])
		return -VL_HC_EINVAL;
	d->live = f << 12;
	m->cpu.cr3 = d->live;
	flush(m, d);
	return 0;
}

static int64_t mmuext_one(struct vl_machine *m, struct dp *d, uint64_t cmd, uint64_t arg)
{
	uint64_t f = 0;
	int64_t r;
	VL_CHARGE(m, VL_CAT_VMM, mmu_direct_ext);
	switch (cmd) {
	case VL_MMUEXT_PIN_L4:
	case VL_MMUEXT_UNPIN:
	case VL_MMUEXT_NEW_BASEPTR:
		if (arg & 0xfff)
			return -VL_HC_EINVAL;
		if ((r = frame_of(m, arg, &f)))
			return r;
		if (cmd == VL_MMUEXT_NEW_BASEPTR)
			return base_ptr(m, d, f);
		if (cmd == VL_MMUEXT_UNPIN) {
			if (d->boot || !d->pinned[f])
				return -VL_HC_EINVAL;
			if ((f << 12) == d->live)
				return -VL_HC_EBUSY;
			d->pinned[f] = 0;
			put_type(m, d, f);
			return 0;
		}
		if (d->boot || d->pinned[f])
			return -VL_HC_EINVAL;   /* boot mode: the first root comes with NEW_BASEPTR */
		if ((r = get_type(m, d, f, DP_L4)))
			return r;
		d->pinned[f] = 1;
		vl_count(m, VL_EV_PV_PINNED_ROOTS, 1);
		return 0;
	case VL_MMUEXT_INVLPG:
		vl_tlb_flush_va(m, arg);
		return 0;
	case VL_MMUEXT_TLB_FLUSH:
		flush(m, d);
		return 0;
	case VL_MMUEXT_GET_P2M: {
		uint64_t len = d->n * 4;
		if ((arg & 3) || arg >= m->ram_size || len > m->ram_size - arg)
			return -VL_HC_EINVAL;
		for (uint64_t k = 0; k < d->n; k++) {
			uint32_t mf = (uint32_t)(p2m(d, k << 12) >> 12);
			vl_phys_write(m, p2m(d, arg + k * 4), &mf, 4);
		}
		return 0;
	}
	default:
		return -VL_HC_EINVAL;
	}
}

static int64_t dp_hypercall(struct vl_machine *m, void *ctx, unsigned nr, const uint64_t a[5])
{
	struct dp *d = ctx;
	uint64_t n = a[1], req[2 * VL_MMU_BATCH_MAX];
	uint32_t pfec;
	if (nr != VL_HC_MMU_UPDATE && nr != VL_HC_MMUEXT_OP)
		return -VL_HC_ENOSYS;
	if (n == 0 || n > VL_MMU_BATCH_MAX)
		return refuse(m, -VL_HC_EINVAL);   /* a malformed batch */
	if (vl_virt_read(m, a[0], req, n * 16, VL_ACC_R, &pfec))
		return refuse(m, -VL_HC_EFAULT);
	if (nr == VL_HC_MMU_UPDATE && d->boot)
		return refuse(m, -VL_HC_EINVAL);   /* nothing is a page table before the first base pointer */
	if (nr == VL_HC_MMU_UPDATE)   /* full: flushed at pv.mmu_batch; short: at a forced flush point */
		vl_count(m, n == m->prof->pv_mmu_batch ? VL_EV_PV_MMU_FULL_BATCHES : VL_EV_PV_MMU_SHORT_BATCHES, 1);
	int64_t r = 0;
	uint64_t i;
	for (i = 0; i < n && !r; i++)
		r = nr == VL_HC_MMU_UPDATE ? mmu_update_one(m, d, req[2 * i], req[2 * i + 1])
					   : mmuext_one(m, d, req[2 * i], req[2 * i + 1]);
	uint64_t done = r ? i - 1 : n;
	if (m->trace)
		vl_trace(m, "direct: %s entries=%llu applied=%llu batch=%u", nr == VL_HC_MMU_UPDATE ? "mmu_update" : "mmuext_op",
			 (unsigned long long)n, (unsigned long long)done, (unsigned)m->prof->pv_mmu_batch);
	if (a[2] && vl_virt_write(m, a[2], &done, 8, VL_ACC_W, &pfec))
		return refuse(m, -VL_HC_EFAULT);
	return r ? refuse(m, r) : 0;
}

/* ---- the remaining ops -------------------------------------------------------------- */
static void dp_cr3_write(struct vl_machine *m, void *ctx, uint64_t val)
{
	struct dp *d = ctx;
	uint64_t f;
	VL_CHARGE(m, VL_CAT_VMM, mmu_direct_ext);
	val &= ~(1ull << 63);   /* the no-flush hint (CR4.PCIDE = 1; the runtime refused it otherwise): not stored */
	if (d->boot) {
		uint64_t old = d->guest_cr3;
		d->guest_cr3 = val;
		if (snap_build(m, d, val) && snap_build(m, d, old) == 0)
			d->guest_cr3 = old;   /* a root outside RAM: the old one stays */
		return;
	}
	/* a MOV to CR3 reaching the VMM in direct mode: a pinned root only */
	if (frame_of(m, val & VL_PTE_ADDR, &f) || base_ptr(m, d, f))
		vl_count(m, VL_EV_PV_MMU_REFUSALS, 1);
}

static uint64_t dp_cr3_read(struct vl_machine *m, void *ctx)
{
	(void)m;
	struct dp *d = ctx;
	return d->boot ? d->guest_cr3 : d->live;
}

static void dp_invlpg(struct vl_machine *m, void *ctx, uint64_t va)
{
	(void)ctx;
	vl_tlb_flush_va(m, va);
}

/* Every #PF is the guest's: the hardware walked its own tables. */
static int dp_page_fault(struct vl_machine *m, void *ctx, uint64_t va, uint32_t *pfec, enum vl_pf_kind *kind)
{
	(void)m; (void)ctx; (void)va; (void)pfec;
	if (kind)
		*kind = VL_PF_TRUE;
	return VL_HOOK_PASS;
}

static uint64_t dp_gpa_to_hpa(struct vl_machine *m, void *ctx, uint64_t gpa)
{
	struct dp *d = ctx;
	return gpa < m->ram_size ? p2m(d, gpa) : gpa;
}

static void dp_fini(struct vl_machine *m, void *ctx)
{
	(void)m;
	struct dp *d = ctx;
	if (!d)
		return;
	free(d->type); free(d->pinned); free(d->count); free(d->wgen); free(d->pgen);
	free(d->pool); free(d->snap);
	free(d);
}

static int dp_init(struct vl_machine *m, enum vl_vendor vendor, void **ctx, char *err, size_t errlen)
{
	(void)vendor;
	struct dp *d = calloc(1, sizeof *d);
	uint64_t n = m->ram_size >> 12;
	if (!d || n < 4 || (m->ram_size & 0xfff)) {
		free(d);
		snprintf(err, errlen, "direct: guest RAM of %llu bytes cannot be paged directly", (unsigned long long)m->ram_size);
		return -1;
	}
	d->n = n;
	d->rot = n / 2 + 1;
	d->cap = 4096;
	d->type = calloc(n, 1);
	d->pinned = calloc(n, 1);
	d->count = calloc(n, sizeof *d->count);
	d->wgen = calloc(n, sizeof *d->wgen);
	d->pgen = calloc(n, sizeof *d->pgen);
	d->pool = calloc(d->cap, sizeof *d->pool);
	d->snap = calloc(d->cap, sizeof *d->snap);
	uint8_t *buf = malloc(m->ram_size);
	if (!d->type || !d->pinned || !d->count || !d->wgen || !d->pgen || !d->pool || !d->snap || !buf) {
		free(buf);
		dp_fini(m, d);
		snprintf(err, errlen, "direct: out of memory");
		return -1;
	}
	/* the domain builder: pseudo frame p of the loaded image moves to machine frame p2m(p) */
	uint64_t cut = (n - d->rot) << 12;
	memcpy(buf + (d->rot << 12), m->mem, cut);
	memcpy(buf, m->mem + cut, m->ram_size - cut);
	vl_phys_write(m, 0, buf, m->ram_size);
	free(buf);
	d->boot = true;
	d->guest_cr3 = m->cpu.cr3;
	if (snap_build(m, d, m->cpu.cr3)) {
		dp_fini(m, d);
		snprintf(err, errlen, "direct: cannot copy the boot page tables (CR3 %#llx)", (unsigned long long)m->cpu.cr3);
		return -1;
	}
	*ctx = d;
	return 0;
}

const struct vl_mmu_ops vl_mmu_direct = {
	.name = "direct",
	.desc = "paravirtual direct paging: guest tables hold machine frames, read-only, updated by validated (batched) hypercalls; pv only",
	.kind = VL_MMU_DIRECT,
	.init = dp_init,
	.fini = dp_fini,
	.cr3_write = dp_cr3_write,
	.cr3_read = dp_cr3_read,
	.invlpg = dp_invlpg,
	.page_fault = dp_page_fault,
	.map_monitor = dp_map_monitor,
	.gpa_to_hpa = dp_gpa_to_hpa,
	.hypercall = dp_hypercall,
};
