/* test_shadow.c — the shadow-paging MMU engine (mmu/shadow) on a real
 * machine: guest page tables built by hand in guest RAM, the engine driven
 * through its ops and through vl_virt_read/vl_virt_write (which go through
 * the hardware TLB and walker on the shadow root). Covered: hidden fault
 * then hit (with its exact VMM cost), true faults with the guest's error
 * code over every combination of leaf/PDE P, R/W, U/S, NX x read / write /
 * fetch x user / supervisor x CR0.WP against an SDM reference, emulated
 * A/D bits, tracing of guest page-table writes (prefetch and drop), write
 * flooding, INVLPG, the CR3 root cache (hits, misses, LRU eviction, shared
 * kernel half), CR0.WP / CR4.PGE, 2M and 1G guest pages shadowed by 4K
 * entries, frames outside RAM, a full shadow pool; for software VMMs: the
 * #PF classification (hidden / tracing / true), pt_update (a VMM-made
 * guest PTE write: the shadows as a traced write leaves them, without the
 * fault's costs) and VMM-owned monitor mappings present in every root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "virtlab/mmu.h"
#include "../support/test_profile.h"
#include "../../mmu/shadow/shadow.h"

#define P   0x1ull
#define RW  0x2ull
#define US  0x4ull
#define A   0x20ull
#define D   0x40ull
#define PS  0x80ull
#define G   0x100ull
#define NX  (1ull << 63)
#define ADDR 0x000ffffffffff000ull

#define RAM_MB   16
#define DM_BASE  0xffff888000000000ull     /* direct map: 2M pages over all RAM */
#define CODE_PA  0x8000ull
#define CODE_VA  0x0000000000400000ull      /* user, executable */
#define DATA_PA  0x200000ull

struct rig {
	struct vl_profile p;
	struct vl_machine *m;
	void *ctx;
	uint64_t next_table;   /* bump allocator for guest tables */
	uint64_t pml4;
};

static const struct vl_mmu_ops *mmu = &vl_mmu_shadow;

static uint64_t gtable(struct rig *r)
{
	uint64_t pa = r->next_table;
	r->next_table += 0x1000;
	assert_true(r->next_table <= 0x100000);
	memset(r->m->mem + pa, 0, 4096);
	return pa;
}

/* Guest mapping va -> pa as a leaf at `level` (1 = 4K, 2 = 2M, 3 = 1G) in
 * the space rooted at pml4 with leaf flags `fl`; intermediate tables get
 * `up` (made when missing). Writes guest memory directly (setup, before the
 * shadow has seen it). Returns the guest-physical address of the leaf. */
static uint64_t gmap_in(struct rig *r, uint64_t pml4, uint64_t va, uint64_t pa, uint64_t fl, int level, uint64_t up)
{
	uint64_t t = pml4;
	for (int l = 4; l > level; l--) {
		uint64_t ea = t + ((va >> (12 + 9 * (l - 1))) & 511) * 8;
		uint64_t e = vl_phys_read64(r->m, ea);
		if (!(e & P)) {
			e = gtable(r) | up;
			vl_phys_write64(r->m, ea, e);
		}
		t = e & ADDR;
	}
	uint64_t ea = t + ((va >> (12 + 9 * (level - 1))) & 511) * 8;
	vl_phys_write64(r->m, ea, pa | fl | (level > 1 ? PS : 0));
	return ea;
}
static uint64_t gmap(struct rig *r, uint64_t va, uint64_t pa, uint64_t fl, int level)
{
	return gmap_in(r, r->pml4, va, pa, fl, level, P | RW | US);
}

static void rig_up(struct rig *r, uint64_t monitor_mb)
{
	char err[256] = "";
	memset(r, 0, sizeof *r);
	vl_test_profile(&r->p);
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = RAM_MB, .monitor_mb = monitor_mb };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	struct vl_machine *m = r->m;
	r->next_table = 0x10000;
	r->pml4 = gtable(r);
	/* the guest kernel's shape: a direct map of RAM with 2M pages (supervisor, RW) */
	for (uint64_t pa = 0; pa < RAM_MB << 20; pa += 1ull << 21)
		gmap_in(r, r->pml4, DM_BASE + pa, pa, P | RW, 2, P | RW);
	gmap(r, CODE_VA, CODE_PA, P | US, 1);
	static const uint8_t code[] = { 0x48, 0x89, 0x07, 0x48, 0x8b, 0x07 };   /* mov %rax,(%rdi); mov (%rdi),%rax */
	memcpy(m->mem + CODE_PA, code, sizeof code);
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG;          /* WP clear, as the loader's boot state */
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE | VL_EFER_SCE;
	m->cpu.cr3 = r->pml4;
	m->cpu.cpl = 0;
	m->cpu.rip = CODE_VA;
	assert_int_equal(mmu->init(m, VL_VENDOR_INTEL, &r->ctx, err, sizeof err), 0);
}

static void rig_down(struct rig *r)
{
	mmu->fini(r->m, r->ctx);
	vl_machine_free(r->m);
}

static void zero_counters(struct vl_machine *m) { memset(m->region, 0, sizeof m->region); }
static uint64_t ev(struct vl_machine *m, enum vl_event e) { return m->ctr->events[e]; }

struct outcome { int rc; uint32_t pfec; int exits; bool emulated; enum vl_pf_kind kind; };

/* One guest access as the CPU would make it, with the VMM in the loop: a
 * #PF goes to the engine's page_fault (a VM exit); DONE retries unless the
 * engine emulated the instruction (RIP moved); PASS is a true fault.
 * A write runs "mov %rax,(%rdi)" at CODE_VA if the engine emulates it. */
static struct outcome touch(struct rig *r, uint64_t va, unsigned acc, uint64_t *val)
{
	struct vl_machine *m = r->m;
	struct outcome o = { 0 };
	m->cpu.rip = CODE_VA + ((acc & VL_ACC_W) ? 0 : 3);
	m->cpu.gpr[VL_RDI] = va;
	if (acc & VL_ACC_W)
		m->cpu.gpr[VL_RAX] = *val;
	m->cpu.cpl = (acc & VL_ACC_USER) ? 3 : 0;
	for (int i = 0; i < 8; i++) {
		uint32_t pfec = 0;
		uint64_t rip = m->cpu.rip;
		int rc = (acc & VL_ACC_W) ? vl_virt_write(m, va, val, 8, acc, &pfec)
					  : vl_virt_read(m, va, val, (acc & VL_ACC_X) ? 1 : 8, acc, &pfec);
		if (rc == 0)
			goto out;
		assert_int_equal(rc, VL_PF);
		o.exits++;
		int h = mmu->page_fault(m, r->ctx, va, &pfec, &o.kind);
		if (h == VL_HOOK_PASS) {
			o.rc = VL_PF;
			o.pfec = pfec;
			goto out;
		}
		assert_int_equal(h, VL_HOOK_DONE);
		assert_int_equal(m->state, VL_M_RUNNING);
		if (m->cpu.rip != rip) {
			o.emulated = true;
			if (!(acc & VL_ACC_W))
				*val = m->cpu.gpr[VL_RAX];
			goto out;
		}
	}
	fail_msg("no progress on va %#llx acc %u", (unsigned long long)va, acc);
out:
	m->cpu.cpl = 0;
	return o;
}

/* The shadow leaf the hardware would use for va (0 if the path is incomplete). */
static uint64_t shadow_leaf(struct vl_machine *m, uint64_t va)
{
	struct vl_walk_req rq = { .root = m->cpu.cr3 & ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_R, .software = true };
	struct vl_walk_res res;
	struct vl_counters save = *m->ctr;
	uint64_t tsc = m->tsc;
	vl_walk(m, &rq, va, &res);
	*m->ctr = save;
	m->tsc = tsc;
	return res.levels == 4 ? res.pte[3] : 0;
}

static uint64_t gread(struct vl_machine *m, uint64_t pa) { return vl_phys_read64(m, pa); }

/* ---- hidden fault, then hit; exact VMM cost of a cold fill ----------------- */
static void test_hidden_then_hit(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t va = 0x0000008040201000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW | US, 1);
	vl_phys_write64(m, DATA_PA, 0x1122334455667788ull);
	zero_counters(m);
	uint64_t tsc0 = m->tsc;

	uint64_t v = 0;
	struct outcome o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.exits, 1);
	assert_true(v == 0x1122334455667788ull);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 1);
	assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 0);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 4);   /* PML4E, PDPTE, PDE links + the PTE */
	/* emulated A: set on every guest level read; D not (a read) */
	assert_true(gread(m, pte) & A);
	assert_false(gread(m, pte) & D);
	assert_true(gread(m, r.pml4 + ((va >> 39) & 511) * 8) & A);
	/* the shadow leaf maps the data frame read-only until D is set */
	uint64_t sl = shadow_leaf(m, va);
	assert_true((sl & ADDR) == DATA_PA);
	assert_true(sl & US);
	assert_false(sl & RW);
	/* VMM cost: handler + 4 guest references (software walk) + 4 shadow
	 * references + 3 new shadow pages (PDPT, PD, PT) + 4 entries written */
	const struct vl_profile *p = &r.p;
	uint64_t vmm = p->mmu_shadow_pf + 8 * p->tlb_walk_ref + 3 * p->mmu_shadow_alloc + 4 * p->mmu_shadow_fill;
	assert_true(m->ctr->cycles[VL_CAT_VMM] == vmm);
	/* the retry walked the shadow in hardware: 4 references, cold PWC */
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 5);      /* the faulting walk (empty root: 1) + the retry (4) */
	assert_true(m->tsc - tsc0 == vmm + m->ctr->cycles[VL_CAT_WALK]);

	/* hit: no fault, no walk */
	zero_counters(m);
	o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.exits, 0);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 0);
	assert_int_equal(ev(m, VL_EV_DTLB_HITS), 1);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 0);
	/* a neighbouring page in the same guest PT: one more hidden fault, one fill (the leaf) */
	gmap(&r, va + 0x1000, DATA_PA + 0x1000, P | RW | US, 1);
	zero_counters(m);
	o = touch(&r, va + 0x1000, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 1);
	assert_true(m->ctr->cycles[VL_CAT_VMM] == p->mmu_shadow_pf + 8 * p->tlb_walk_ref + p->mmu_shadow_fill);
	rig_down(&r);
}

/* ---- true faults: exhaustive over the permission bits that matter ----------- */

/* SDM Vol. 3 4.6/4.7, re-derived: the #PF error code, or -1 for success. */
static int sdm_pf(uint64_t pde, uint64_t pte, unsigned acc, bool wp)
{
	bool user = acc & VL_ACC_USER, write = acc & VL_ACC_W, fetch = acc & VL_ACC_X;
	uint32_t bits = (write ? VL_PFEC_W : 0) | (user ? VL_PFEC_U : 0) | (fetch ? VL_PFEC_I : 0);
	if (!(pte & P))
		return (int)bits;
	bool w = (pde & RW) && (pte & RW), u = (pde & US) && (pte & US), x = !(pte & NX);
	if ((user && !u) || (write && !w && (user || wp)) || (fetch && !x))
		return (int)(bits | VL_PFEC_P);
	return -1;
}

static void test_true_fault_matrix(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 8);
	struct vl_machine *m = r.m;
	static const unsigned accs[6] = { VL_ACC_R, VL_ACC_W, VL_ACC_X,
					  VL_ACC_R | VL_ACC_USER, VL_ACC_W | VL_ACC_USER, VL_ACC_X | VL_ACC_USER };
	int cases = 0, faults = 0, emulated = 0;

	/* CODE_VA page must be in the shadow before emulations fetch from it */
	uint64_t v;
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X | VL_ACC_USER, &v).rc, 0);
	for (unsigned pdef = 0; pdef < 4; pdef++) {
		uint64_t pde = P | ((pdef & 1) ? RW : 0) | ((pdef & 2) ? US : 0);
		uint64_t pt = gtable(&r);
		uint64_t base = 0x0000010000000000ull + ((uint64_t)pdef << 21);   /* one guest PD entry per PDE combination */
		uint64_t pde_pa = gmap_in(&r, r.pml4, base, pt, 0, 2, P | RW | US);
		vl_phys_write64(m, pde_pa, pt | pde);   /* a non-leaf PDE with these bits */
		for (unsigned leaf = 0; leaf < 16; leaf++) {
			uint64_t pte = ((leaf & 1) ? P : 0) | ((leaf & 2) ? RW : 0) | ((leaf & 4) ? US : 0) | ((leaf & 8) ? NX : 0);
			for (unsigned a = 0; a < 6; a++) {
				for (unsigned wp = 0; wp < 2; wp++) {
					unsigned idx = leaf * 12 + a * 2 + wp;
					uint64_t va = base + idx * 0x1000ull, data = DATA_PA + (idx << 12) % 0x400000;
					vl_phys_write64(m, pt + idx * 8, data | pte);
					vl_phys_write64(m, data, 0xabcd0000ull + idx);
					mmu->cr_write(m, r.ctx, 0, VL_CR0_PE | VL_CR0_PG | (wp ? VL_CR0_WP : 0));
					assert_true(m->cpu.cr0 & VL_CR0_WP);   /* the hardware always runs with WP */
					int want = sdm_pf(pde, pte, accs[a], wp);
					uint64_t val = (accs[a] & VL_ACC_W) ? 0x5a5a000000000000ull + idx : 0;
					struct outcome o = touch(&r, va, accs[a], &val);
					cases++;
					if (want < 0) {
						if (o.rc != 0)
							fail_msg("pde %#llx pte %#llx acc %u wp %u: expected success, got #PF %#x",
								 (unsigned long long)pde, (unsigned long long)pte, accs[a], wp, o.pfec);
						if (accs[a] & VL_ACC_W)
							assert_true(gread(m, data) == 0x5a5a000000000000ull + idx);
						else if (!(accs[a] & VL_ACC_X))
							assert_true(val == 0xabcd0000ull + idx);
						/* emulated A/D in the guest PTE */
						assert_true(gread(m, pt + idx * 8) & A);
						assert_true(!!(gread(m, pt + idx * 8) & D) == !!(accs[a] & VL_ACC_W));
						emulated += o.emulated;
					} else {
						if (o.rc != VL_PF || o.pfec != (uint32_t)want)
							fail_msg("pde %#llx pte %#llx acc %u wp %u: expected #PF %#x, got rc %d pfec %#x",
								 (unsigned long long)pde, (unsigned long long)pte, accs[a], wp, want, o.rc, o.pfec);
						assert_false(gread(m, pt + idx * 8) & A);   /* no A on a faulting walk */
						faults++;
					}
				}
			}
		}
	}
	assert_int_equal(cases, 4 * 16 * 6 * 2);
	assert_int_equal(faults, 604);    /* sdm_pf over the 768 cases: 164 succeed */
	/* of those, the supervisor writes to read-only pages under WP = 0 are emulated */
	assert_int_equal(emulated, 24);
	rig_down(&r);
}

/* ---- accessed / dirty emulation ---------------------------------------------- */
static void test_ad_emulation(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW, 1), v = 0;
	zero_counters(m);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 1);
	assert_true((gread(m, pte) & (A | D)) == A);
	assert_false(shadow_leaf(m, va) & RW);
	/* first write: the read-only shadow leaf faults, the VMM sets D and makes it writable */
	v = 7;
	struct outcome o = touch(&r, va, VL_ACC_W, &v);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.exits, 1);
	assert_false(o.emulated);
	assert_true((gread(m, pte) & (A | D)) == (A | D));
	assert_true(shadow_leaf(m, va) & RW);
	assert_true(gread(m, DATA_PA) == 7);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 2);
	/* second write: no fault */
	v = 8;
	assert_int_equal(touch(&r, va, VL_ACC_W, &v).exits, 0);
	/* a write as the first access: one hidden fault sets A and D together */
	gmap(&r, va + 0x1000, DATA_PA + 0x1000, P | RW, 1);
	assert_int_equal(touch(&r, va + 0x1000, VL_ACC_W, &v).exits, 1);
	assert_true((gread(m, pte + 8) & (A | D)) == (A | D));
	/* the guest clears D (a traced write would; here directly + INVLPG as a guest would) */
	vl_phys_write64(m, pte, DATA_PA | P | RW | A);
	mmu->invlpg(m, r.ctx, va);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 1);
	assert_false(shadow_leaf(m, va) & RW);
	assert_int_equal(touch(&r, va, VL_ACC_W, &v).exits, 1);
	assert_true(gread(m, pte) & D);
	rig_down(&r);
}

/* ---- tracing: writes to guest page tables -------------------------------------- */
static void test_tracing(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW, 1), v = 0;
	vl_phys_write64(m, DATA_PA, 100);
	vl_phys_write64(m, DATA_PA + 0x1000, 101);
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).rc, 0);
	assert_true(v == 100);
	/* the guest PT page is shadowed: its direct-map alias is read-only in the shadow */
	zero_counters(m);
	uint64_t nv = (DATA_PA + 0x1000) | P | RW | A;   /* accessed: the engine prefetches it */
	struct outcome o = touch(&r, DM_BASE + pte, VL_ACC_W, &nv);
	assert_int_equal(o.rc, 0);
	assert_true(o.emulated);
	assert_int_equal(o.exits, 1);
	assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 1);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 0);
	assert_true(gread(m, pte) == nv);                          /* the guest's write landed */
	assert_false(shadow_leaf(m, DM_BASE + pte) & RW);          /* 4K piece of a guest 2M page, write-protected */
	assert_true((shadow_leaf(m, va) & ADDR) == DATA_PA + 0x1000);   /* followed the guest */
	assert_true(m->ctr->cycles[VL_CAT_VMM] >= r.p.vmm_emulate + r.p.mmu_shadow_trace);
	zero_counters(m);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 0);   /* no refault: prefetched, TLB flushed */
	assert_true(v == 101);
	/* a new PTE without A: the shadow entry is dropped, the next access fills it */
	nv = DATA_PA | P | RW;
	o = touch(&r, DM_BASE + pte, VL_ACC_W, &nv);
	assert_true(o.emulated);
	assert_int_equal(shadow_leaf(m, va) & P, 0);
	zero_counters(m);
	o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_true(v == 100);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 1);
	/* the guest clears its PDE: the shadow link goes (and the PT's shadow with it) */
	uint64_t pd = gread(m, r.pml4 + 0 * 8) & ADDR;   /* va is in PML4[0] / PDPT[0] / PD[3] */
	pd = gread(m, pd) & ADDR;
	nv = 0;
	o = touch(&r, DM_BASE + pd + ((va >> 21) & 511) * 8, VL_ACC_W, &nv);
	assert_true(o.emulated);
	o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.rc, VL_PF);
	assert_int_equal(o.pfec, 0);                 /* the guest's own not-present fault */
	/* the former PT frame is no longer a shadowed table: a write to it is native after one hidden fault */
	zero_counters(m);
	nv = 5;
	o = touch(&r, DM_BASE + (pte & ~0xfffull), VL_ACC_W, &nv);
	assert_false(o.emulated);
	assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 0);
	assert_true(shadow_leaf(m, DM_BASE + (pte & ~0xfffull)) & RW);
	rig_down(&r);
}

/* Write flooding: a shadowed table written again and again without being
 * used is torn down; later writes are native. */
static void test_write_flooding(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW, 1), v = 0;
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).rc, 0);
	zero_counters(m);
	for (uint64_t i = 1; i <= 6; i++) {
		uint64_t nv = 0x1000 * i;   /* not present: data words, as a page reused after free */
		touch(&r, DM_BASE + pte + 8 * i, VL_ACC_W, &nv);
	}
	/* writes 1-3 traced; the 3rd floods: the shadow PT is torn down, its frame unprotected */
	assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 3);
	/* write 4: the stale read-only leaf faults once (hidden) and becomes writable; 5, 6 native */
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 1);
	for (uint64_t i = 1; i <= 6; i++)
		assert_true(gread(m, pte + 8 * i) == 0x1000 * i);
	/* using va again re-shadows the PT (and write-protects it again) */
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).rc, 0);
	assert_false(shadow_leaf(m, DM_BASE + pte) & RW);
	rig_down(&r);
}

/* ---- INVLPG -------------------------------------------------------------------- */
static void test_invlpg(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW | A | D, 1), v;
	vl_phys_write64(m, DATA_PA + 0x2000, 77);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 1);
	assert_true(shadow_leaf(m, va) & P);
	zero_counters(m);
	/* the guest changes its PTE (untraced here) and flushes it */
	vl_phys_write64(m, pte, (DATA_PA + 0x2000) | P | RW | A | D);
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 0);   /* stale until INVLPG: as on hardware */
	mmu->invlpg(m, r.ctx, va);
	assert_int_equal(shadow_leaf(m, va) & P, 0);               /* the shadow entry is dropped */
	assert_int_equal(ev(m, VL_EV_INVLPGS), 1);
	assert_true(m->ctr->cycles[VL_CAT_VMM] == r.p.mmu_shadow_invlpg + 4 * r.p.tlb_walk_ref);
	struct outcome o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_true(v == 77);
	assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 1);
	/* INVLPG of an address the shadow does not map: nothing to drop, still a TLB flush */
	mmu->invlpg(m, r.ctx, 0x0000700000000000ull);
	assert_int_equal(ev(m, VL_EV_INVLPGS), 2);
	rig_down(&r);
}

/* ---- the CR3 root cache ----------------------------------------------------------- */
static void test_cr3_cache(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 8);
	struct vl_machine *m = r.m;
	const uint64_t kva = DM_BASE + DATA_PA, uva = 0x0000000000600000ull;
	uint64_t as[6], v;
	/* six address spaces sharing the kernel half (PML4 entries 256..511), each with its own user page */
	for (int i = 0; i < 6; i++) {
		as[i] = gtable(&r);
		for (int k = 256; k < 512; k++)
			vl_phys_write64(m, as[i] + k * 8, gread(m, r.pml4 + k * 8));
		gmap_in(&r, as[i], uva, DATA_PA + 0x1000 * (i + 1), P | RW | US | A | D, 1, P | RW | US);
		vl_phys_write64(m, DATA_PA + 0x1000 * (i + 1), 1000 + i);
	}
	assert_int_equal(touch(&r, kva, VL_ACC_R, &v).rc, 0);   /* kernel half shadowed under the boot root */
	zero_counters(m);
	for (int i = 0; i < 3; i++) {   /* boot root + 3 new: fills the 4-entry cache */
		mmu->cr3_write(m, r.ctx, as[i]);
		assert_true(mmu->cr3_read(m, r.ctx) == as[i]);
		assert_true(m->cpu.cr3 >= m->ram_size);   /* the hardware walks a shadow root in monitor memory */
		struct outcome o = touch(&r, uva, VL_ACC_R, &v);
		assert_true(v == (uint64_t)(1000 + i));
		assert_int_equal(o.exits, 1);
		/* the kernel half is shared: under a new root one fault links PML4[273]
		 * to the existing shadow pages, one fill, no new shadow page */
		uint64_t fills = ev(m, VL_EV_SHADOW_FILLS);
		assert_int_equal(touch(&r, kva, VL_ACC_R, &v).exits, 1);
		assert_int_equal(ev(m, VL_EV_SHADOW_FILLS) - fills, 1);
	}
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_MISSES), 3);
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_HITS), 0);
	assert_int_equal(ev(m, VL_EV_TLB_FLUSHES), 3);
	/* back to as[0] and the boot root: hits, shadows still filled (no faults) */
	uint64_t root0 = 0;
	mmu->cr3_write(m, r.ctx, as[0]);
	root0 = m->cpu.cr3;
	assert_int_equal(touch(&r, uva, VL_ACC_R, &v).exits, 0);
	assert_true(v == 1000);
	mmu->cr3_write(m, r.ctx, r.pml4);
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_HITS), 2);
	/* the same CR3 again (a guest TLB flush): a hit, and a flush */
	mmu->cr3_write(m, r.ctx, r.pml4);
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_HITS), 3);
	/* LRU now: as[1] oldest. as[3], as[4]: misses evicting as[1], as[2] */
	mmu->cr3_write(m, r.ctx, as[3]);
	mmu->cr3_write(m, r.ctx, as[4]);
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_MISSES), 5);
	mmu->cr3_write(m, r.ctx, as[0]);   /* still cached: hit, same root */
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_HITS), 4);
	assert_true(m->cpu.cr3 == root0);
	assert_int_equal(touch(&r, uva, VL_ACC_R, &v).exits, 0);
	mmu->cr3_write(m, r.ctx, as[1]);   /* evicted: miss, rebuilt lazily */
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_MISSES), 6);
	zero_counters(m);
	struct outcome o = touch(&r, uva, VL_ACC_R, &v);
	assert_true(v == 1001);
	assert_int_equal(o.exits, 1);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 4);   /* the new root's user half, from scratch */
	/* the kernel half is reached again through the shared shadow pages: one link */
	o = touch(&r, kva, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 5);
	/* a guest CR3 outside RAM stops the machine with a reason, never a crash */
	mmu->cr3_write(m, r.ctx, m->ram_size + 0x1000);
	assert_int_equal(m->state, VL_M_ERROR);
	assert_non_null(strstr(m->diag, "outside guest RAM"));
	rig_down(&r);
}

/* ---- CR0.WP and CR4.PGE ---------------------------------------------------------- */
static void test_cr_write(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	const uint64_t ro = 0x0000000000600000ull, gva = 0x0000000000800000ull;
	uint64_t v = 1;
	assert_true(m->cpu.cr0 & VL_CR0_WP);   /* forced on at init though the guest's WP is 0 */
	gmap(&r, ro, DATA_PA, P | A | D, 1);
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);
	/* WP = 0: a supervisor write to a read-only page succeeds (emulated) */
	v = 0x77;
	struct outcome o = touch(&r, ro, VL_ACC_W, &v);
	assert_int_equal(o.rc, 0);
	assert_true(o.emulated);
	assert_true(gread(m, DATA_PA) == 0x77);
	/* WP = 1 (no shadow rebuild needed): the same write is the guest's fault */
	mmu->cr_write(m, r.ctx, 0, VL_CR0_PE | VL_CR0_PG | VL_CR0_WP);
	o = touch(&r, ro, VL_ACC_W, &v);
	assert_int_equal(o.rc, VL_PF);
	assert_int_equal(o.pfec, VL_PFEC_P | VL_PFEC_W);
	mmu->cr_write(m, r.ctx, 0, VL_CR0_PE | VL_CR0_PG);
	assert_true(m->cpu.cr0 & VL_CR0_WP);
	/* global pages: the shadow leaf carries G; with PGE its TLB entry survives a CR3 switch */
	gmap(&r, gva, DATA_PA + 0x1000, P | RW | G, 1);
	mmu->cr_write(m, r.ctx, 4, VL_CR4_PAE | VL_CR4_PGE);
	assert_true(m->cpu.cr4 & VL_CR4_PGE);
	assert_int_equal(touch(&r, gva, VL_ACC_R, &v).exits, 1);
	assert_true(shadow_leaf(m, gva) & G);
	assert_int_equal(touch(&r, ro, VL_ACC_R, &v).exits, 0);
	uint64_t other = gtable(&r);   /* an address space mapping neither */
	zero_counters(m);
	mmu->cr3_write(m, r.ctx, other);
	assert_int_equal(touch(&r, gva, VL_ACC_R, &v).exits, 0);   /* global: still in the TLB */
	assert_int_equal(ev(m, VL_EV_DTLB_HITS), 1);
	assert_int_equal(touch(&r, ro, VL_ACC_R, &v).rc, VL_PF);   /* non-global: flushed, unmapped here */
	/* clearing PGE flushes global entries too */
	mmu->cr_write(m, r.ctx, 4, VL_CR4_PAE);
	assert_int_equal(touch(&r, gva, VL_ACC_R, &v).rc, VL_PF);
	/* paging off (KVM's nonpaging mode): the hardware keeps paging through a
	 * direct root that maps every guest-physical address to itself */
	mmu->cr_write(m, r.ctx, 0, VL_CR0_PE);
	assert_int_equal(m->state, VL_M_RUNNING);
	assert_true((m->cpu.cr0 & VL_CR0_PG) && (m->cpu.cr0 & VL_CR0_WP));
	uint64_t pv = 0x5a;
	o = touch(&r, DATA_PA, VL_ACC_W, &pv);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.exits, 1);                 /* one hidden fault fills the identity mapping */
	assert_true(gread(m, DATA_PA) == 0x5a);
	assert_int_equal(touch(&r, DATA_PA, VL_ACC_R, &v).exits, 0);
	/* paging on again: the guest's own tables, where DATA_PA is not a mapped address */
	mmu->cr_write(m, r.ctx, 0, VL_CR0_PE | VL_CR0_PG);
	assert_int_equal(touch(&r, DATA_PA, VL_ACC_R, &v).rc, VL_PF);
	rig_down(&r);
}

/* ---- large guest pages: 4K shadow entries ---------------------------------------- */
static void test_large_pages(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	uint64_t v;
	const uint64_t va2m = 0x0000004000000000ull, va1g = 0x0000008000000000ull;
	gmap(&r, va2m, 0x400000, P | RW | US, 2);
	gmap(&r, va1g, 0, P | RW, 3);
	vl_phys_write64(m, 0x400000 + 0x3000, 33);
	vl_phys_write64(m, 0x800000 + 0x5000, 55);
	zero_counters(m);
	struct outcome o = touch(&r, va2m + 0x3000, VL_ACC_R | VL_ACC_USER, &v);
	assert_int_equal(o.exits, 1);
	assert_true(v == 33);
	/* PML4E, PDPTE links, the PDE's link to a direct PT, its 4K leaf */
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 4);
	struct vl_walk_req rq = { .root = m->cpu.cr3 & ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_R, .software = true };
	struct vl_walk_res res;
	assert_int_equal(vl_walk(m, &rq, va2m + 0x3000, &res), 0);
	assert_int_equal(res.page_size, 4096);
	assert_int_equal(res.pa, 0x403000);
	/* another 4K of the same guest 2M page: one leaf */
	zero_counters(m);
	assert_int_equal(touch(&r, va2m + 0x7000, VL_ACC_R | VL_ACC_USER, &v).exits, 1);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 1);
	/* D on the 2M leaf: a write sets it; the piece becomes writable */
	uint64_t pde = r.pml4;
	for (int l = 4; l > 2; l--)
		pde = gread(m, (pde & ADDR) + ((va2m >> (12 + 9 * (l - 1))) & 511) * 8);
	uint64_t pde_pa = (pde & ADDR) + ((va2m >> 21) & 511) * 8;
	assert_false(gread(m, pde_pa) & D);
	v = 9;
	assert_int_equal(touch(&r, va2m + 0x7000, VL_ACC_W | VL_ACC_USER, &v).exits, 1);
	assert_true(gread(m, pde_pa) & D);
	assert_true(gread(m, 0x407000) == 9);
	/* 1G guest page (supervisor): direct PD + direct PT under the guest PDPTE */
	zero_counters(m);
	o = touch(&r, va1g + 0x805000, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_true(v == 55);
	assert_int_equal(ev(m, VL_EV_SHADOW_FILLS), 4);   /* PML4E link, PDPTE -> direct PD, PDE -> direct PT, leaf */
	assert_int_equal(touch(&r, va1g + 0x805000, VL_ACC_R | VL_ACC_USER, &v).rc, VL_PF);   /* supervisor page */
	rig_down(&r);
}

/* ---- frames outside RAM ---------------------------------------------------------- */
static void test_outside_ram(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	struct vl_machine *m = r.m;
	uint64_t v = 0;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t mon = m->ram_size + 0x300000;   /* a monitor-memory frame the engine does not use here */
	uint64_t before = vl_phys_read64(m, mon);
	gmap(&r, va, mon, P | RW | A | D, 1);
	struct outcome o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.rc, 0);
	assert_true(v == ~0ull);                           /* reads as unbacked memory: all ones */
	v = 0x1234;
	o = touch(&r, va, VL_ACC_W, &v);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.exits, 0);                      /* writable (guest D set), no emulation */
	assert_true(vl_phys_read64(m, mon) == before);     /* monitor memory untouched */
	assert_int_equal(touch(&r, va, VL_ACC_R, &v).rc, 0);
	assert_true(v == ~0ull);                           /* the write was dropped */
	assert_true((shadow_leaf(m, va) & ADDR) >= m->mem_size);
	/* a guest page table in monitor memory: a clean stop */
	gmap(&r, 0x0000000000a00000ull, 0, 0, 2);          /* make the PD entry exist */
	uint64_t pd = gread(m, gread(m, r.pml4) & ADDR) & ADDR;
	vl_phys_write64(m, pd + 5 * 8, (m->ram_size + 0x5000) | P | RW);
	int h;
	uint32_t pfec = 0;
	h = mmu->page_fault(m, r.ctx, 0x0000000000a00000ull, &pfec, NULL);
	assert_int_equal(h, VL_HOOK_STOP);
	assert_int_equal(m->state, VL_M_ERROR);
	assert_non_null(strstr(m->diag, "outside guest RAM"));
	rig_down(&r);
}

/* ---- a full pool: everything torn down, the guest carries on ------------------------ */
static void test_pool_full(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 1);   /* 256 monitor pages: a pool of 127 shadow pages */
	struct vl_machine *m = r.m;
	uint64_t v;
	/* 200 user pages, each in its own guest PT (one 2M region apart) */
	for (uint64_t i = 0; i < 200; i++)
		gmap(&r, 0x0000002000000000ull + (i << 21), DATA_PA + (i % 64) * 0x1000, P | RW | US, 1);
	for (uint64_t i = 0; i < 64; i++)
		vl_phys_write64(m, DATA_PA + i * 0x1000, i);
	for (uint64_t i = 0; i < 200; i++) {
		struct outcome o = touch(&r, 0x0000002000000000ull + (i << 21), VL_ACC_R | VL_ACC_USER, &v);
		assert_int_equal(o.rc, 0);
		assert_true(v == i % 64);
	}
	assert_int_equal(m->state, VL_M_RUNNING);
	/* everything still reads right after the pool was recycled */
	for (uint64_t i = 0; i < 200; i += 7) {
		assert_int_equal(touch(&r, 0x0000002000000000ull + (i << 21), VL_ACC_R | VL_ACC_USER, &v).rc, 0);
		assert_true(v == i % 64);
	}
	rig_down(&r);
}

/* ---- for software VMMs: #PF kinds, pt_update, monitor mappings ----------------- */
static void test_pf_kind(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 4);
	const uint64_t va = 0x0000000000600000ull;
	uint64_t pte = gmap(&r, va, DATA_PA, P | RW, 1), v = 0;
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);   /* the emulator reads the code */
	struct outcome o = touch(&r, va, VL_ACC_R, &v);
	assert_int_equal(o.exits, 1);
	assert_int_equal(o.kind, VL_PF_HIDDEN);
	uint64_t nv = (DATA_PA + 0x1000) | P | RW | A;
	o = touch(&r, DM_BASE + pte, VL_ACC_W, &nv);
	assert_true(o.emulated);
	assert_int_equal(o.kind, VL_PF_TRACING);
	o = touch(&r, 0x0000000000a00000ull, VL_ACC_R, &v);   /* not mapped by the guest */
	assert_int_equal(o.rc, VL_PF);
	assert_int_equal(o.kind, VL_PF_TRUE);
	/* kind may be NULL */
	uint32_t pfec = 0;
	assert_int_equal(mmu->page_fault(r.m, r.ctx, 0x0000000000a00000ull, &pfec, NULL), VL_HOOK_PASS);
	rig_down(&r);
}

/* pt_update leaves guest memory and the shadows exactly as the traced write
 * of the same value does, and costs the tracing part only. */
static void test_pt_update(void **s)
{
	(void)s;
	const uint64_t va = 0x0000000000600000ull;
	uint64_t leaf[2], fills[2], vmm[2], gpte[2], v = 0;
	for (int k = 0; k < 2; k++) {
		struct rig r;
		rig_up(&r, 4);
		struct vl_machine *m = r.m;
		uint64_t pte = gmap(&r, va, DATA_PA, P | RW, 1);
		vl_phys_write64(m, DATA_PA + 0x1000, 101);
		assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);
		assert_int_equal(touch(&r, va, VL_ACC_R, &v).rc, 0);
		assert_int_equal(touch(&r, DM_BASE + pte, VL_ACC_R, &v).rc, 0);   /* the alias shadowed (read-only) */
		zero_counters(m);
		uint64_t nv = (DATA_PA + 0x1000) | P | RW | A;
		if (k == 0) {
			struct outcome o = touch(&r, DM_BASE + pte, VL_ACC_W, &nv);
			assert_int_equal(o.kind, VL_PF_TRACING);
			assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 1);
		} else {
			assert_int_equal(mmu->pt_update(m, r.ctx, pte, nv), 0);
			assert_int_equal(ev(m, VL_EV_TRACE_FAULTS), 0);
			assert_int_equal(ev(m, VL_EV_HIDDEN_FAULTS), 0);
			/* exactly one shadow entry re-derived, nothing else charged */
			assert_true(m->ctr->cycles[VL_CAT_VMM] == r.p.mmu_shadow_trace);
			/* bad arguments: nothing written */
			assert_int_equal(mmu->pt_update(m, r.ctx, pte + 1, 0), -1);
			assert_int_equal(mmu->pt_update(m, r.ctx, m->ram_size, 0), -1);
			assert_true(gread(m, pte) == nv);
		}
		gpte[k] = gread(m, pte);
		leaf[k] = shadow_leaf(m, va);
		fills[k] = ev(m, VL_EV_SHADOW_FILLS);
		vmm[k] = m->ctr->cycles[VL_CAT_VMM];
		assert_int_equal(touch(&r, va, VL_ACC_R, &v).exits, 0);   /* prefetched, TLB flushed */
		assert_true(v == 101);
		rig_down(&r);
	}
	assert_true(gpte[0] == gpte[1]);
	assert_true(leaf[0] == leaf[1] && (leaf[0] & ADDR) == DATA_PA + 0x1000);
	assert_true(fills[0] == fills[1]);
	struct vl_profile p;
	vl_test_profile(&p);
	assert_true(vmm[0] >= vmm[1] + p.mmu_shadow_pf + p.vmm_emulate);   /* the fault and emulation it saves */
}

static void test_map_monitor(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, 8);
	struct vl_machine *m = r.m;
	const uint64_t tc = VL_MONITOR_BASE + 0x123000, tc2 = VL_MONITOR_END - 0x1000;
	uint64_t hpa = vl_mem_alloc_page(m), hpa2 = vl_mem_alloc_page(m), v = 0;
	uint32_t pfec = 0;
	assert_true(hpa && hpa2);
	vl_phys_write64(m, hpa, 0x7c7c7c7c);
	vl_phys_write64(m, hpa2, 0x2d2d);
	/* bad arguments */
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc, DATA_PA, VL_PERM_W), -1);            /* guest RAM */
	assert_int_equal(mmu->map_monitor(m, r.ctx, 0x1000, hpa, VL_PERM_W), -1);            /* outside the range */
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc + 8, hpa, VL_PERM_W), -1);            /* unaligned */
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc, m->cpu.cr3 & ADDR, VL_PERM_W), -1);  /* a shadow table */
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc, hpa, VL_PERM_W | VL_PERM_X), 0);
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc2, hpa2, 0), 0);
	/* mapped now, in the current root, without a fault */
	assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == 0x7c7c7c7c);
	assert_int_equal(vl_virt_read(m, tc2, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == 0x2d2d);
	/* supervisor-only, read-only where asked: the hardware faults, the engine says true */
	assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R | VL_ACC_USER, &pfec), VL_PF);
	enum vl_pf_kind kind = VL_PF_HIDDEN;
	assert_int_equal(mmu->page_fault(m, r.ctx, tc, &pfec, &kind), VL_HOOK_PASS);
	assert_int_equal(kind, VL_PF_TRUE);
	v = 1;
	assert_int_equal(vl_virt_write(m, tc2, &v, 8, VL_ACC_W, &pfec), VL_PF);
	/* never in the guest's own tables */
	for (unsigned k = 256; k < 272; k++)
		assert_true(gread(m, r.pml4 + k * 8) == 0);
	/* a guest CR3 switch to new roots (misses), evicting the boot root: still mapped */
	uint64_t as[5];
	for (int i = 0; i < 5; i++) {
		as[i] = gtable(&r);
		vl_phys_write64(m, as[i], gread(m, r.pml4));   /* CODE_VA: the emulator reads the code */
		for (int k = 272; k < 512; k++)
			vl_phys_write64(m, as[i] + k * 8, gread(m, r.pml4 + k * 8));
		mmu->cr3_write(m, r.ctx, as[i]);
		assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R, &pfec), 0);
		assert_true(v == 0x7c7c7c7c);
	}
	assert_int_equal(ev(m, VL_EV_CR3_CACHE_MISSES), 5);
	/* a hostile guest maps the monitor range in its own tables and writes its
	 * PML4 entry there (traced): the VMM's mapping wins */
	gmap_in(&r, as[4], tc, DATA_PA, P | RW | US, 1, P | RW | US);   /* setup write, not traced */
	uint64_t slot_e = gread(m, as[4] + 256 * 8), nv = slot_e | A;
	assert_int_equal(touch(&r, CODE_VA, VL_ACC_X, &v).rc, 0);   /* the emulator reads the code */
	assert_int_equal(touch(&r, DM_BASE + as[4] + 256 * 8, VL_ACC_W, &nv).rc, 0);
	assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == 0x7c7c7c7c);
	/* remapping replaces the mapping (TLB flushed) */
	assert_int_equal(mmu->map_monitor(m, r.ctx, tc, hpa2, VL_PERM_W), 0);
	assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == 0x2d2d);
	/* back to a cached root made before the remap: the same mapping */
	mmu->cr3_write(m, r.ctx, as[2]);
	assert_int_equal(vl_virt_read(m, tc, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == 0x2d2d);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hidden_then_hit),
		cmocka_unit_test(test_true_fault_matrix),
		cmocka_unit_test(test_ad_emulation),
		cmocka_unit_test(test_tracing),
		cmocka_unit_test(test_write_flooding),
		cmocka_unit_test(test_invlpg),
		cmocka_unit_test(test_cr3_cache),
		cmocka_unit_test(test_cr_write),
		cmocka_unit_test(test_large_pages),
		cmocka_unit_test(test_outside_ram),
		cmocka_unit_test(test_pool_full),
		cmocka_unit_test(test_pf_kind),
		cmocka_unit_test(test_pt_update),
		cmocka_unit_test(test_map_monitor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
