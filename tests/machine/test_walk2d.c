/* test_walk2d.c — the two-dimensional (nested) walk: 24 references on a
 * fully cold 4-level x 4-level 4K walk (Bhargava et al., ASPLOS 2008:
 * nm + n + m), fewer once the page-walk cache and nested TLB are warm,
 * nested faults with the right guest-physical address on a guest table
 * reference and on the final address, EPT and NPT formats, software walks
 * charged to the VMM, and the 1-D walk's PWC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/test_profile.h"

#define OFF     0x800000ull      /* hPA = gPA + OFF */
#define G_PML4  0x10000ull
#define G_PDPT  0x11000ull
#define G_PD    0x12000ull
#define G_PT    0x13000ull
#define G_DATA  0x20000ull
#define VA      0x0000008040201000ull   /* index 1 at every level */

static struct vl_profile prof;

static uint64_t nested_flags(enum vl_pt_fmt fmt)
{
	return fmt == VL_PT_EPT ? 0x7 : 0x7;   /* EPT R|W|X ; NPT P|RW|US */
}

/* Map gPA -> hPA with a 4K nested leaf; intermediate tables from monitor memory. */
static void nmap(struct vl_machine *m, uint64_t gpa, uint64_t hpa, uint64_t leaf_flags)
{
	uint64_t t = m->nested.root;

	for (int l = 4; l > 1; l--) {
		uint64_t ea = t + ((gpa >> (12 + 9 * (l - 1))) & 511) * 8;
		uint64_t e = vl_phys_read64(m, ea);
		if (!e) {
			uint64_t n = vl_mem_alloc_page(m);
			assert_true(n != 0);
			e = n | nested_flags(m->nested.fmt);
			vl_phys_write64(m, ea, e);
		}
		t = e & 0x000ffffffffff000ull;
	}
	vl_phys_write64(m, t + ((gpa >> 12) & 511) * 8, hpa | leaf_flags);
}

static uint64_t nleaf_addr(struct vl_machine *m, uint64_t gpa)
{
	uint64_t t = m->nested.root;
	for (int l = 4; l > 1; l--)
		t = vl_phys_read64(m, t + ((gpa >> (12 + 9 * (l - 1))) & 511) * 8) & 0x000ffffffffff000ull;
	return t + ((gpa >> 12) & 511) * 8;
}

static struct vl_machine *mk(enum vl_pt_fmt fmt, uint64_t pwc, uint64_t ntlb)
{
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 32, .monitor_mb = 4 };
	char err[200];
	struct vl_machine *m;

	vl_test_profile(&prof);
	prof.tlb_pwc_entries = pwc;
	prof.tlb_ntlb_entries = ntlb;
	m = vl_machine_new(&cfg, err, sizeof(err));
	assert_non_null(m);
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP;
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;
	m->cpu.cr3 = G_PML4;
	m->nested.enabled = true;
	m->nested.fmt = fmt;
	m->nested.root = vl_mem_alloc_page(m);
	/* Guest tables (guest-physical), stored at hPA = gPA + OFF. */
	vl_phys_write64(m, OFF + G_PML4 + 8, G_PDPT | 7);
	vl_phys_write64(m, OFF + G_PDPT + 8, G_PD | 7);
	vl_phys_write64(m, OFF + G_PD + 8, G_PT | 7);
	for (uint64_t i = 0; i < 16; i++)
		vl_phys_write64(m, OFF + G_PT + (1 + i) * 8, (G_DATA + i * 0x1000) | 7);
	/* Nested: identity + OFF for the first 1 MiB of guest-physical memory. */
	for (uint64_t g = 0; g < 0x100000; g += 0x1000)
		nmap(m, g, g + OFF, fmt == VL_PT_EPT ? 0x7 : 0x7);
	return m;
}

static struct vl_walk_req req2d(unsigned acc)
{
	return (struct vl_walk_req){ .root = G_PML4, .fmt = VL_PT_X86, .acc = acc, .set_ad = true, .nested = true };
}

static void check_24_cold(enum vl_pt_fmt fmt, uint64_t pwc, uint64_t ntlb)
{
	struct vl_machine *m = mk(fmt, pwc, ntlb);
	struct vl_walk_req rq = req2d(VL_ACC_R);
	struct vl_walk_res r;

	memset(m->ctr, 0, sizeof(*m->ctr));
	assert_int_equal(vl_walk(m, &rq, VA + 0x123, &r), 0);
	assert_int_equal(r.status, VL_WALK_OK);
	assert_int_equal(r.refs, 24);
	assert_int_equal(m->ctr->events[VL_EV_WALK_REFS], 24);
	assert_int_equal(m->ctr->events[VL_EV_NESTED_WALK_REFS], 20);
	assert_int_equal(m->ctr->events[VL_EV_PWC_HITS], 0);
	assert_int_equal(m->ctr->events[VL_EV_NTLB_HITS], 0);
	assert_int_equal(m->ctr->cycles[VL_CAT_WALK], 24 * prof.tlb_walk_ref);
	assert_int_equal(r.gpa, G_DATA + 0x123);
	assert_int_equal(r.pa, G_DATA + OFF + 0x123);
	assert_int_equal(r.page_size, 4096);
	assert_int_equal(r.levels, 4);
	assert_int_equal(r.pte_pa[0], G_PML4 + 8);   /* guest-physical addresses of the guest entries */
	assert_int_equal(r.pte_pa[3], G_PT + 8);
	/* Guest A bits were set (through the nested translation). */
	assert_true(vl_phys_read64(m, OFF + G_PT + 8) & 0x20);
	vl_machine_free(m);
}

static void test_cold_24_ept(void **state) { check_24_cold(VL_PT_EPT, 24, 16); }
static void test_cold_24_npt(void **state) { check_24_cold(VL_PT_X86, 24, 16); }
static void test_cold_24_nocache(void **state) { check_24_cold(VL_PT_EPT, 0, 0); }

/* Warm walks: the PWC holds the guest PDE, the NTLB holds gPA->hPA of
 * the guest PT page and of the data page. */
static void test_warm_fewer(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_R);
	struct vl_walk_res r;

	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 24);
	memset(m->ctr, 0, sizeof(*m->ctr));
	/* Same page: PWC hit (PDE) -> PT gPA via NTLB -> 1 ref -> data gPA via NTLB. */
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 1);
	assert_int_equal(m->ctr->events[VL_EV_PWC_HITS], 1);
	assert_int_equal(m->ctr->events[VL_EV_NTLB_HITS], 2);
	assert_int_equal(r.pa, G_DATA + OFF);
	/* Neighbouring page: PTE read + a cold nested walk of the new data page. */
	memset(m->ctr, 0, sizeof(*m->ctr));
	assert_int_equal(vl_walk(m, &rq, VA + 0x1000, &r), 0);
	assert_int_equal(r.refs, 1 + 4);
	assert_int_equal(m->ctr->events[VL_EV_NESTED_WALK_REFS], 4);
	assert_int_equal(r.pa, G_DATA + 0x1000 + OFF);
	/* Without caches a warm walk is as expensive as a cold one. */
	vl_machine_free(m);
	m = mk(VL_PT_EPT, 0, 0);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 24);
	vl_machine_free(m);
}

/* A missing nested entry for a guest page-table page: NPF on the guest
 * table reference, gpa = the guest entry's guest-physical address. */
static void test_npf_table_ref(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_R);
	struct vl_walk_res r;

	vl_phys_write64(m, nleaf_addr(m, G_PD), 0);
	assert_int_equal(vl_walk(m, &rq, VA, &r), -1);
	assert_int_equal(r.status, VL_WALK_NPF);
	assert_false(r.npf_final);
	assert_int_equal(r.npf_gpa, G_PD + 8);
	assert_int_equal(r.npf_entry, 0);
	/* 2 guest levels (5 each) + the nested walk that faulted (4). */
	assert_int_equal(r.refs, 14);
	vl_machine_free(m);
}

/* A missing nested entry for the data page: NPF on the final address. */
static void test_npf_final(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_W);
	struct vl_walk_res r;

	vl_phys_write64(m, nleaf_addr(m, G_DATA), 0);
	assert_int_equal(vl_walk(m, &rq, VA + 0x10, &r), -1);
	assert_int_equal(r.status, VL_WALK_NPF);
	assert_true(r.npf_final);
	assert_int_equal(r.npf_gpa, G_DATA + 0x10);
	/* EPT read-only data page: a write violates, a read does not. */
	vl_phys_write64(m, nleaf_addr(m, G_DATA), (G_DATA + OFF) | 0x1);
	vl_tlb_flush_all(m);
	assert_int_equal(vl_walk(m, &rq, VA, &r), -1);
	assert_int_equal(r.status, VL_WALK_NPF);
	assert_true(r.npf_final);
	assert_int_equal(r.npf_entry, (G_DATA + OFF) | 0x1);
	rq.acc = VL_ACC_R;
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	vl_machine_free(m);
}

/* The walker's A/D write to a guest page-table page that the nested
 * tables map read-only is a nested fault (write) on that entry's gPA. */
static void test_npf_ad_write(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_R);
	struct vl_walk_res r;

	vl_phys_write64(m, nleaf_addr(m, G_PT), (G_PT + OFF) | 0x5);   /* R|X, no W */
	assert_int_equal(vl_walk(m, &rq, VA, &r), -1);
	assert_int_equal(r.status, VL_WALK_NPF);
	assert_false(r.npf_final);
	assert_int_equal(r.npf_gpa, G_PT + 8);
	assert_false(vl_phys_read64(m, OFF + G_PT + 8) & 0x20);       /* A not set */
	/* Once the guest PTE's A bit is set, no write is needed: the walk succeeds. */
	vl_phys_write64(m, OFF + G_PT + 8, vl_phys_read64(m, OFF + G_PT + 8) | 0x20);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	vl_machine_free(m);
}

/* A guest #PF inside a 2-D walk is a #PF, not an NPF. */
static void test_guest_pf_in_2d(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_R | VL_ACC_USER);
	struct vl_walk_res r;

	vl_phys_write64(m, OFF + G_PT + 8, G_DATA | 3);   /* supervisor page */
	assert_int_equal(vl_walk(m, &rq, VA, &r), -1);
	assert_int_equal(r.status, VL_WALK_PF);
	assert_int_equal(r.pfec, VL_PFEC_P | VL_PFEC_U);
	vl_machine_free(m);
}

/* The VMM's nested_fault hook populates the mapping; vl_mem_read retries. */
static int hook_calls;
static uint64_t hook_gpa;
static int fix_npf(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid,
		   unsigned acc, uint64_t npte)
{
	hook_calls++;
	hook_gpa = gpa;
	nmap(m, gpa & ~0xfffull, (gpa & ~0xfffull) + OFF, 0x7);
	vl_tlb_flush_all(m);
	return VL_HOOK_DONE;
}

static void test_mem_npf_hook(void **state)
{
	static const struct vl_vmm_ops ops = { .nested_fault = fix_npf };
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	uint64_t v = 0xabcdef, r = 0;

	vl_phys_write64(m, OFF + G_DATA + 8, v);
	vl_phys_write64(m, nleaf_addr(m, G_DATA), 0);
	m->vmm = &ops;
	hook_calls = 0;
	assert_int_equal(vl_mem_read(m, VA + 8, &r, 8, 0), 0);
	assert_int_equal(r, v);
	assert_int_equal(hook_calls, 1);
	assert_int_equal(hook_gpa, G_DATA + 8);
	assert_int_equal(m->ctr->events[VL_EV_NESTED_FAULTS], 1);
	/* Without a hook the machine stops with a reason and no exception. */
	m->vmm = NULL;
	vl_phys_write64(m, nleaf_addr(m, G_DATA + 0x1000), 0);
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_read(m, VA + 0x1000, &r, 8, 0), -1);
	assert_int_equal(m->priv->fault.vec, VL_FAULT_ABORT);
	assert_int_equal(m->state, VL_M_ERROR);
	vl_machine_free(m);
}

/* A software walk (a VMM reading tables) is charged to VL_CAT_VMM and is
 * not a hardware walk reference; it uses neither PWC nor NTLB. */
static void test_software_walk(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = req2d(VL_ACC_R);
	struct vl_walk_res r;

	rq.software = true;
	memset(m->ctr, 0, sizeof(*m->ctr));
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 24);
	assert_int_equal(m->ctr->events[VL_EV_WALK_REFS], 0);
	assert_int_equal(m->ctr->cycles[VL_CAT_WALK], 0);
	assert_int_equal(m->ctr->cycles[VL_CAT_VMM], 48 * prof.tlb_walk_ref);
	vl_machine_free(m);
}

/* 1-D: 4 references cold, 1 with the PDE in the page-walk cache; a CR3
 * reload (non-global flush) empties the PWC. */
static void test_1d_pwc(void **state)
{
	struct vl_machine *m = mk(VL_PT_EPT, 24, 16);
	struct vl_walk_req rq = { .root = OFF + 0x30000, .fmt = VL_PT_X86, .acc = VL_ACC_R, .set_ad = true };
	struct vl_walk_res r;

	m->nested.enabled = false;
	m->cpu.cr3 = OFF + 0x30000;
	vl_phys_write64(m, OFF + 0x30000 + 8, (OFF + 0x31000) | 7);
	vl_phys_write64(m, OFF + 0x31000 + 8, (OFF + 0x32000) | 7);
	vl_phys_write64(m, OFF + 0x32000 + 8, (OFF + 0x33000) | 7);
	vl_phys_write64(m, OFF + 0x33000 + 8, (OFF + 0x40000) | 7);
	vl_phys_write64(m, OFF + 0x33000 + 16, (OFF + 0x41000) | 7);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 4);
	assert_int_equal(vl_walk(m, &rq, VA + 0x1000, &r), 0);
	assert_int_equal(r.refs, 1);
	assert_int_equal(r.pa, OFF + 0x41000);
	vl_tlb_flush_nonglobal(m);
	assert_int_equal(vl_walk(m, &rq, VA, &r), 0);
	assert_int_equal(r.refs, 4);
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_24_ept),
		cmocka_unit_test(test_cold_24_npt),
		cmocka_unit_test(test_cold_24_nocache),
		cmocka_unit_test(test_warm_fewer),
		cmocka_unit_test(test_npf_table_ref),
		cmocka_unit_test(test_npf_final),
		cmocka_unit_test(test_npf_ad_write),
		cmocka_unit_test(test_guest_pf_in_2d),
		cmocka_unit_test(test_mem_npf_hook),
		cmocka_unit_test(test_software_walk),
		cmocka_unit_test(test_1d_pwc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
