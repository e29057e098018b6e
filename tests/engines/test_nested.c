/* test_nested.c — the EPT/NPT MMU engine (mmu/nested) on a real machine:
 * init programs m->nested (EPT format for Intel, x86 format for AMD, root
 * in monitor memory); lazy population through nested faults (one 4K page
 * per fault, the documented choice) counted exactly; on the tables the
 * engine built, a fully cold 4-level x 4-level 4K walk makes exactly 24
 * references and warm ones fewer (1 with PWC and nested TLB, 4 after
 * INVLPG, 5 for the next page); guest-physical addresses outside RAM map
 * to unbacked memory (ones / dropped, never monitor memory), only beyond
 * MAXPHYADDR is refused (the VMM stops with a reason); handler costs; the
 * same through the real vtx and svm VMMs (EPT_VIOLATION / VMEXIT_NPF exits,
 * the EPT pointer / N_CR3 holding the engine's root). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "virtlab/mmu.h"
#include "../support/mini_elf.h"
#include "../support/test_profile.h"
#include "../../mmu/nested/nested.h"
#include "../../engines/vtx/vmx_hw.h"
#include "../../engines/svm/svm_hw.h"

extern const struct vl_engine_ops vl_engine_vtx, vl_engine_svm;

#define G_PML4  0x10000ull
#define G_PDPT  0x11000ull
#define G_PD    0x12000ull
#define G_PT    0x13000ull
#define G_DATA  0x20000ull
#define VA      0x0000008040201000ull   /* index 1 at every level */
#define VA2M    0x0000008040400000ull   /* PD index 2: a guest 2M page */

static const struct vl_mmu_ops *mmu = &vl_mmu_nested;

struct rig {
	struct vl_profile p;
	struct vl_machine *m;
	void *ctx;
	unsigned calls;        /* nested faults the "VMM" forwarded */
	uint64_t last_gpa;
};

/* A minimal VMM: every nested fault is an exit forwarded to the engine. */
static int fwd_nested_fault(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid,
			    unsigned acc, uint64_t npte)
{
	struct rig *r = ctx;
	r->calls++;
	r->last_gpa = gpa;
	return mmu->nested_fault(m, r->ctx, gpa, gva, gva_valid, acc, npte);
}
static const struct vl_vmm_ops fwd_ops = { .nested_fault = fwd_nested_fault };

static void rig_up(struct rig *r, bool amd, uint64_t pwc, uint64_t ntlb)
{
	char err[256] = "";
	memset(r, 0, sizeof *r);
	if (amd) vl_test_profile_amd(&r->p); else vl_test_profile(&r->p);
	r->p.tlb_pwc_entries = pwc;
	r->p.tlb_ntlb_entries = ntlb;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 16, .monitor_mb = 4 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	struct vl_machine *m = r->m;
	/* guest tables (guest-physical; the engine maps gPA -> same hPA) */
	vl_phys_write64(m, G_PML4 + 8, G_PDPT | 7);
	vl_phys_write64(m, G_PDPT + 8, G_PD | 7);
	vl_phys_write64(m, G_PD + 8, G_PT | 7);
	vl_phys_write64(m, G_PD + 16, 0x400000 | 0x87);   /* 2M page at gPA 4 MiB */
	for (uint64_t i = 0; i < 16; i++) {
		vl_phys_write64(m, G_PT + (1 + i) * 8, (G_DATA + i * 0x1000) | 7);
		vl_phys_write64(m, G_DATA + i * 0x1000, 0x5000 + i);
	}
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP;
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;
	m->cpu.cr3 = G_PML4;
	assert_int_equal(mmu->init(m, amd ? VL_VENDOR_AMD : VL_VENDOR_INTEL, &r->ctx, err, sizeof err), 0);
	m->vmm = &fwd_ops;
	m->vmm_ctx = r;
}

static void rig_down(struct rig *r)
{
	r->m->vmm = NULL;
	mmu->fini(r->m, r->ctx);
	vl_machine_free(r->m);
}

static void zero_counters(struct vl_machine *m) { memset(m->region, 0, sizeof m->region); }
static uint64_t ev(struct vl_machine *m, enum vl_event e) { return m->ctr->events[e]; }

static uint64_t rd(struct rig *r, uint64_t va)
{
	uint64_t v = 0;
	uint32_t pfec = 0;
	assert_int_equal(vl_virt_read(r->m, va, &v, 8, VL_ACC_R, &pfec), 0);
	return v;
}

/* ---- init ---------------------------------------------------------------------- */
static void test_init(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++) {
		struct rig r;
		rig_up(&r, amd, 24, 16);
		assert_true(r.m->nested.enabled);
		assert_int_equal(r.m->nested.fmt, amd ? VL_PT_X86 : VL_PT_EPT);
		assert_true(r.m->nested.root >= r.m->ram_size && r.m->nested.root < r.m->mem_size);
		assert_int_equal(r.m->nested.root & 0xfff, 0);
		assert_int_equal(vl_nested_table_pages(r.ctx), 1);
		assert_int_equal(vl_nested_mapped_pages(r.ctx), 0);
		for (int i = 0; i < 512; i++)   /* nothing mapped up front: lazy */
			assert_int_equal(vl_phys_read64(r.m, r.m->nested.root + i * 8), 0);
		rig_down(&r);
	}
}

/* ---- lazy population: one 4K gPA page per nested fault ----------------------------- */
static void test_lazy_population(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++) {
		struct rig r;
		rig_up(&r, amd, 24, 16);
		struct vl_machine *m = r.m;
		zero_counters(m);
		assert_true(rd(&r, VA) == 0x5000);
		/* the 4 guest table pages and the data page, each faulted once */
		assert_int_equal(r.calls, 5);
		assert_int_equal(ev(m, VL_EV_NESTED_FAULTS), 5);
		assert_int_equal(r.last_gpa, G_DATA);
		assert_int_equal(vl_nested_mapped_pages(r.ctx), 5);
		assert_int_equal(vl_nested_table_pages(r.ctx), 4);   /* root + one PDPT, PD, PT (all below 2 MiB) */
		/* populated: no more faults */
		assert_true(rd(&r, VA) == 0x5000);
		assert_int_equal(r.calls, 5);
		/* the next guest page: its data page only */
		assert_true(rd(&r, VA + 0x1000) == 0x5001);
		assert_int_equal(r.calls, 6);
		assert_int_equal(vl_nested_mapped_pages(r.ctx), 6);
		/* a guest 2M page is mapped 4K by 4K in the nested dimension: two
		 * pieces, two faults, and a 4K effective page size */
		assert_int_equal(rd(&r, VA2M + 0x3000), 0);
		assert_int_equal(rd(&r, VA2M + 0x5000), 0);
		assert_int_equal(r.calls, 8);
		struct vl_walk_req rq = { .root = G_PML4, .fmt = VL_PT_X86, .acc = VL_ACC_R, .nested = true };
		struct vl_walk_res res;
		assert_int_equal(vl_walk(m, &rq, VA2M + 0x3000, &res), 0);
		assert_int_equal(res.page_size, 4096);
		assert_int_equal(res.pa, 0x403000);
		/* the leaf format: EPT R|W|X + WB, NPT P|RW|US (+A/D) */
		uint64_t t = m->nested.root;
		for (int l = 4; l > 1; l--)
			t = vl_phys_read64(m, t + ((G_DATA >> (12 + 9 * (l - 1))) & 511) * 8) & 0x000ffffffffff000ull;
		uint64_t leaf = vl_phys_read64(m, t + ((G_DATA >> 12) & 511) * 8);
		assert_true((leaf & 0x000ffffffffff000ull) == G_DATA);   /* identity gPA -> hPA */
		assert_true((leaf & 0xfff) == (amd ? 0x67u : 0x37u));
		rig_down(&r);
	}
}

/* ---- exact reference counts on the engine's tables ----------------------------------- */
static void check_refs(bool amd)
{
	struct rig r;
	rig_up(&r, amd, 24, 16);
	struct vl_machine *m = r.m;
	const struct vl_profile *p = &r.p;
	rd(&r, VA);
	rd(&r, VA + 0x1000);                   /* populate both data pages */
	/* fully cold: TLBs, PWC and nested TLB empty */
	vl_tlb_flush_all(m);
	zero_counters(m);
	assert_true(rd(&r, VA) == 0x5000);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 24);
	assert_int_equal(ev(m, VL_EV_NESTED_WALK_REFS), 20);
	assert_int_equal(ev(m, VL_EV_NESTED_FAULTS), 0);
	assert_int_equal(ev(m, VL_EV_TLB_MISSES), 1);
	assert_int_equal(ev(m, VL_EV_PWC_HITS), 0);
	assert_int_equal(ev(m, VL_EV_NTLB_HITS), 0);
	assert_true(m->ctr->cycles[VL_CAT_WALK] == 24 * p->tlb_walk_ref);
	assert_true(m->ctr->cycles[VL_CAT_VMM] == 0);
	/* warm, same page: a TLB hit, no walk */
	zero_counters(m);
	rd(&r, VA);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 0);
	assert_int_equal(ev(m, VL_EV_DTLB_HITS), 1);
	/* next page: PWC gives the guest PDE, NTLB the PT's gPA; the PTE read
	 * plus a cold nested walk of the new data page */
	zero_counters(m);
	assert_true(rd(&r, VA + 0x1000) == 0x5001);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 1 + 4);
	assert_int_equal(ev(m, VL_EV_PWC_HITS), 1);
	assert_int_equal(ev(m, VL_EV_NTLB_HITS), 1);
	/* after INVLPG (drops the page and the PWC, not the nested TLB): the
	 * 4 guest references, every gPA from the nested TLB */
	vl_tlb_flush_va(m, VA);
	zero_counters(m);
	rd(&r, VA);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 4);
	assert_int_equal(ev(m, VL_EV_NESTED_WALK_REFS), 0);
	assert_int_equal(ev(m, VL_EV_NTLB_HITS), 5);
	/* the hardware alone, on the same tables: cold 24, then 1 */
	struct vl_walk_req rq = { .root = G_PML4, .fmt = VL_PT_X86, .acc = VL_ACC_R, .set_ad = true, .nested = true };
	struct vl_walk_res res;
	vl_tlb_flush_all(m);
	assert_int_equal(vl_walk(m, &rq, VA, &res), 0);
	assert_int_equal(res.refs, 24);
	assert_int_equal(vl_walk(m, &rq, VA, &res), 0);
	assert_int_equal(res.refs, 1);
	rig_down(&r);

	/* without PWC and nested TLB every walk is cold */
	rig_up(&r, amd, 0, 0);
	m = r.m;
	rd(&r, VA);
	vl_tlb_flush_va(m, VA);
	zero_counters(m);
	rd(&r, VA);
	assert_int_equal(ev(m, VL_EV_WALK_REFS), 24);
	rig_down(&r);
}
static void test_refs_ept(void **s) { (void)s; check_refs(false); }
static void test_refs_npt(void **s) { (void)s; check_refs(true); }

/* ---- guest-physical addresses outside RAM ------------------------------------------------ */
/* Mapped to an unbacked host frame above all memory (reads ones, writes
 * dropped: the native machine's unbacked memory), never to monitor memory;
 * only an address beyond MAXPHYADDR is refused. */
static void test_non_ram(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, false, 24, 16);
	struct vl_machine *m = r.m;
	uint64_t mon = m->ram_size + 0x300000, before = vl_phys_read64(m, mon);   /* a frame no engine uses here */
	assert_int_equal(mmu->nested_fault(m, r.ctx, 1ull << 52, 0, true, VL_ACC_R, 0), VL_HOOK_PASS);
	assert_int_equal(vl_nested_unassigned_pages(r.ctx), 0);
	assert_true(mmu->gpa_to_hpa(m, r.ctx, 0x12345) == 0x12345);
	assert_true(mmu->gpa_to_hpa(m, r.ctx, m->ram_size) == UINT64_MAX);
	/* guest PTEs pointing at a monitor-memory gPA and at the xAPIC page */
	const uint64_t va_mon = (VA & ~0x1fffffull) + 20 * 0x1000, va_apic = va_mon + 0x1000;
	vl_phys_write64(m, G_PT + 20 * 8, mon | 7);
	vl_phys_write64(m, G_PT + 21 * 8, 0xfee00000ull | 7);
	uint64_t v = 0;
	uint32_t pfec = 0;
	assert_int_equal(vl_virt_read(m, va_mon, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == ~0ull);                       /* reads as unbacked memory */
	v = 0x1234;
	assert_int_equal(vl_virt_write(m, va_mon, &v, 8, VL_ACC_W, &pfec), 0);
	assert_true(vl_phys_read64(m, mon) == before);   /* monitor memory untouched */
	assert_int_equal(vl_virt_read(m, va_mon, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == ~0ull);                       /* the write was dropped */
	assert_int_equal(vl_virt_write(m, va_apic + 0xf0, &v, 4, VL_ACC_W, &pfec), 0);
	assert_int_equal(vl_nested_unassigned_pages(r.ctx), 2);
	assert_int_equal(m->state, VL_M_RUNNING);
	/* the leaf never points into guest RAM or monitor memory */
	struct vl_walk_req rq = { .root = G_PML4, .fmt = VL_PT_X86, .acc = VL_ACC_R, .nested = true };
	struct vl_walk_res res;
	assert_int_equal(vl_walk(m, &rq, va_mon, &res), 0);
	assert_true(res.gpa == mon && res.pa >= m->mem_size);
	rig_down(&r);
}

/* ---- VMM costs of a nested fault ---------------------------------------------------------- */
static void test_costs(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, false, 24, 16);
	struct vl_machine *m = r.m;
	const struct vl_profile *p = &r.p;
	zero_counters(m);
	assert_int_equal(mmu->nested_fault(m, r.ctx, G_DATA + 0x10, VA, true, VL_ACC_R, 0), VL_HOOK_DONE);
	/* empty root: PDPT, PD, PT allocated; 4 entries read */
	assert_true(m->ctr->cycles[VL_CAT_VMM] == p->mmu_nested_fault + 3 * p->mmu_nested_alloc + 4 * p->tlb_walk_ref);
	zero_counters(m);
	assert_int_equal(mmu->nested_fault(m, r.ctx, G_DATA + 0x1000, VA, true, VL_ACC_W, 0), VL_HOOK_DONE);
	assert_true(m->ctr->cycles[VL_CAT_VMM] == p->mmu_nested_fault + 4 * p->tlb_walk_ref);
	assert_int_equal(vl_nested_mapped_pages(r.ctx), 2);
	/* a fault on a page already mapped changes nothing */
	assert_int_equal(mmu->nested_fault(m, r.ctx, G_DATA, VA, true, VL_ACC_R, 0), VL_HOOK_DONE);
	assert_int_equal(vl_nested_mapped_pages(r.ctx), 2);
	assert_int_equal(vl_nested_table_pages(r.ctx), 4);
	rig_down(&r);
}

/* ---- through the real VMMs ------------------------------------------------------------------- */
#define CODE_PA 0x200000ull

static size_t make_elf(uint8_t *buf)
{
	static const uint8_t code[] = { 0xf4 };
	return vl_test_mini_elf(buf, CODE_PA, code, sizeof code, PF_R | PF_X);
}

static uint64_t exits_named(struct vl_machine *m, const char *name)
{
	for (size_t i = 0; i < m->exit_table_len; i++)
		if (!strcmp(m->exit_table[i].name, name))
			return m->ctr->exit_count[i];
	return 0;
}

static void vmm_case(bool amd)
{
	struct vl_profile p;
	char err[256] = "";
	uint8_t img[512];
	void *ectx = NULL;
	if (amd) vl_test_profile_amd(&p); else vl_test_profile(&p);
	struct vl_machine_config cfg = { .prof = &p, .ram_mb = 8, .monitor_mb = 4 };
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(m);
	size_t n = make_elf(img);
	assert_int_equal(vl_machine_load_elf_mem(m, img, n, "", err, sizeof err), 0);
	const struct vl_engine_ops *e = amd ? &vl_engine_svm : &vl_engine_vtx;
	assert_int_equal(e->check(&p, VL_MMU_NESTED, err, sizeof err), 0);
	int rc = e->attach(m, mmu, &ectx, err, sizeof err);
	if (rc) print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
	assert_true(m->nested.enabled);
	assert_int_equal(m->nested.fmt, amd ? VL_PT_X86 : VL_PT_EPT);
	struct vl_vmm_ops const *hooks = m->vmm;
	assert_non_null(hooks->nested_fault);
	memset(m->region, 0, sizeof m->region);
	/* the loader's tables: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 (2M pages);
	 * reading the code page faults in those three and the data page */
	uint8_t b = 0;
	uint32_t pfec = 0;
	assert_int_equal(vl_virt_read(m, CODE_PA, &b, 1, VL_ACC_R, &pfec), 0);
	assert_int_equal(b, 0xf4);
	const char *npf = amd ? "VMEXIT_NPF" : "EPT_VIOLATION";
	assert_int_equal(exits_named(m, npf), 4);
	assert_int_equal(m->ctr->events[VL_EV_NESTED_FAULTS], 4);
	assert_int_equal(m->ctr->events[VL_EV_EXITS], 4);
	uint64_t per = amd ? p.svm_vmexit + p.svm_vmrun : p.vmx_vmexit + p.vmx_vmentry;
	assert_true(m->ctr->cycles[VL_CAT_EXIT] == 4 * per);
	assert_true(m->ctr->cycles[VL_CAT_VMM] >= 4 * (p.vmm_exit_dispatch + p.mmu_nested_fault));
	/* a guest mapping of a gPA outside RAM: one more nested fault, then it
	 * reads as unbacked memory */
	vl_phys_write64(m, 0x3000 + 100 * 8, (m->ram_size + (1ull << 21)) | 0x83);
	assert_int_equal(vl_virt_read(m, 100ull << 21, &b, 1, VL_ACC_R, &pfec), 0);
	assert_int_equal(b, 0xff);
	assert_int_equal(exits_named(m, npf), 5);
	/* a nested fault the engine refuses (beyond MAXPHYADDR; the hardware
	 * cannot produce one, so the hook is called directly): the VMM stops
	 * the run with the gPA in its reason */
	assert_int_equal(hooks->nested_fault(m, m->vmm_ctx, 1ull << 52, 0, false, VL_ACC_R, 0), VL_HOOK_STOP);
	assert_int_equal(m->state, VL_M_ERROR);
	assert_non_null(strstr(m->diag, amd ? "nested page fault at gpa 0x10000000000000" : "EPT violation at gpa 0x10000000000000"));
	e->detach(m, ectx);
	vl_machine_free(m);
}
static void test_vtx_ept(void **s) { (void)s; vmm_case(false); }
static void test_svm_npt(void **s) { (void)s; vmm_case(true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_lazy_population),
		cmocka_unit_test(test_refs_ept),
		cmocka_unit_test(test_refs_npt),
		cmocka_unit_test(test_non_ram),
		cmocka_unit_test(test_costs),
		cmocka_unit_test(test_vtx_ept),
		cmocka_unit_test(test_svm_npt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
