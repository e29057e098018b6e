/* test_paging.c — exhaustive paging permission matrix, in the spirit of
 * kvm-unit-tests x86/access.c: every P/RW/US/NX combination at each of the
 * four levels (4K leaves), at three levels (2M leaves) and two (1G leaves),
 * x user/supervisor x read/write/fetch x CR0.WP x EFER.NXE, checking fault
 * or not, the exact #PF error code, and the A/D bits afterwards.
 *
 * The expected result comes from ref_access(), written from the SDM text
 * (Vol. 3A 4.5 "4-level paging", 4.6 "Access rights", 4.7 "Page-fault
 * exceptions", 4.8 "Accessed and dirty flags") independently of walk.c;
 * SMEP/SMAP (4.6.1: CR4 bits 20/21, EFLAGS.AC, implicit accesses) on the
 * 1G and 2M walks, from a cold TLB and through TLB hits;
 * a handful of cases are also checked against hand-computed constants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/test_profile.h"

#define VA     0x0000008040201000ull          /* index 1 at every level */
#define T_PML4 0x10000ull
#define T_PDPT 0x11000ull
#define T_PD   0x12000ull
#define T_PT   0x13000ull
#define T_DATA 0x14000ull
#define T_2M   0x200000ull
#define T_1G   0x40000000ull

/* Entry flag combination: bit0 P, bit1 RW, bit2 US, bit3 NX. */
#define C_P  1u
#define C_RW 2u
#define C_US 4u
#define C_NX 8u

struct ref_out {
	bool fault;
	uint32_t pfec;
	bool a[4];      /* accessed expected, top level first */
	bool d_leaf;
};

/* The SDM's rules, level by level, for a walk whose leaf is at index
 * nlev-1 (nlev = 4: 4K, 3: 2M, 2: 1G). acc: VL_ACC_* bits. */
/* SMEP/SMAP state for ref_access (SDM Vol. 3A 4.6.1); all zero = neither. */
struct smx { bool smep, smap, ac; };

static struct ref_out ref_access_smx(const unsigned *c, int nlev, unsigned acc, bool wp, bool nxe, struct smx x)
{
	struct ref_out o = { 0 };
	bool user = acc & VL_ACC_USER, write = acc & VL_ACC_W, fetch = acc & VL_ACC_X;
	bool implicit = acc & VL_ACC_IMPLICIT;
	bool all_rw = true, all_us = true, any_nx = false;
	/* 4.7: I/D is set for a fetch when EFER.NXE = 1 or CR4.SMEP = 1 */
	uint32_t base = (write ? 2u : 0) | (user ? 4u : 0) | (fetch && (nxe || x.smep) ? 16u : 0);

	for (int i = 0; i < nlev; i++) {
		/* 4.7: a not-present entry faults with P = 0. */
		if (!(c[i] & C_P)) {
			o.fault = true;
			o.pfec = base;
			return o;
		}
		/* 4.5: with IA32_EFER.NXE = 0, bit 63 is reserved: P = 1, RSVD = 1. */
		if ((c[i] & C_NX) && !nxe) {
			o.fault = true;
			o.pfec = base | 1u | 8u;
			return o;
		}
		all_rw &= (c[i] & C_RW) != 0;
		all_us &= (c[i] & C_US) != 0;
		any_nx |= (c[i] & C_NX) != 0;
	}
	/* 4.6: user-mode address iff U/S = 1 at every level. */
	if (user && !all_us)
		goto prot;
	/* Writes: user needs R/W everywhere; supervisor too when CR0.WP = 1. */
	if (write && !all_rw && (user || wp))
		goto prot;
	/* Fetches: with NXE = 1, XD at any level forbids execution (no SMEP modelled). */
	if (fetch && nxe && any_nx)
		goto prot;
	/* 4.6.1: supervisor-mode accesses to a user-mode address. Fetches:
	 * never with CR4.SMEP. Data: with CR4.SMAP only explicit accesses
	 * with EFLAGS.AC = 1 (implicit ones never), the WP rule above still. */
	if (!user && all_us && fetch && x.smep)
		goto prot;
	if (!user && all_us && !fetch && x.smap && (implicit || !x.ac))
		goto prot;
	for (int i = 0; i < nlev; i++)
		o.a[i] = true;
	o.d_leaf = write;
	return o;
prot:
	o.fault = true;
	o.pfec = base | 1u;
	return o;
}

static struct ref_out ref_access(const unsigned *c, int nlev, unsigned acc, bool wp, bool nxe)
{
	return ref_access_smx(c, nlev, acc, wp, nxe, (struct smx){ 0 });
}

static struct vl_profile prof;

static struct vl_machine *mk_machine(void)
{
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 16, .monitor_mb = 4 };
	char err[200];
	struct vl_machine *m;

	vl_test_profile(&prof);
	/* Tiny TLBs so the full flush before every access is cheap. */
	prof.tlb_l1i_entries = 4;
	prof.tlb_l1d_entries = 4;
	prof.tlb_l2_entries = 0;
	prof.tlb_pwc_entries = 0;
	prof.tlb_ntlb_entries = 0;
	m = vl_machine_new(&cfg, err, sizeof(err));
	assert_non_null(m);
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG;
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA;
	m->cpu.cr3 = T_PML4;
	return m;
}

static uint64_t mk_entry(uint64_t addr, unsigned c, bool ps)
{
	return addr | ((c & C_P) ? 1u : 0) | ((c & C_RW) ? 2u : 0) | ((c & C_US) ? 4u : 0) |
	       ((c & C_NX) ? 1ull << 63 : 0) | (ps ? 0x80u : 0);
}

static const uint64_t tbl_of_level[4] = { T_PML4, T_PDPT, T_PD, T_PT };

/* Program the walk for combination c[0..nlev-1]. */
static void set_tables(struct vl_machine *m, const unsigned *c, int nlev)
{
	for (int i = 0; i < nlev; i++) {
		uint64_t target;
		bool leaf = i == nlev - 1;
		if (!leaf)
			target = tbl_of_level[i + 1];
		else
			target = nlev == 4 ? T_DATA : nlev == 3 ? T_2M : T_1G;
		vl_phys_write64(m, tbl_of_level[i] + 8, mk_entry(target, c[i], leaf && nlev < 4));
	}
}

static int do_access(struct vl_machine *m, unsigned acc)
{
	uint8_t b = 0x5a;

	if (acc & VL_ACC_X)
		return vl_mem_fetch(m, VA, &b, 1, acc & VL_ACC_USER);
	if (acc & VL_ACC_W)
		return vl_mem_write(m, VA, &b, 1, acc & (VL_ACC_USER | VL_ACC_IMPLICIT));
	return vl_mem_read(m, VA, &b, 1, acc & (VL_ACC_USER | VL_ACC_IMPLICIT));
}

static const unsigned accs[6] = {
	VL_ACC_R, VL_ACC_W, VL_ACC_X, VL_ACC_R | VL_ACC_USER, VL_ACC_W | VL_ACC_USER, VL_ACC_X | VL_ACC_USER,
};

static unsigned long run_matrix(struct vl_machine *m, int nlev)
{
	unsigned ncomb = 1u << (4 * nlev);
	unsigned long checked = 0, failures = 0;

	for (unsigned comb = 0; comb < ncomb; comb++) {
		unsigned c[4];
		for (int i = 0; i < nlev; i++)
			c[i] = (comb >> (4 * i)) & 0xf;
		for (int wp = 0; wp < 2; wp++)
		for (int nxe = 0; nxe < 2; nxe++)
		for (int a = 0; a < 6; a++) {
			struct ref_out want = ref_access(c, nlev, accs[a], wp, nxe);
			int rc;

			m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | (wp ? VL_CR0_WP : 0);
			m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | (nxe ? VL_EFER_NXE : 0);
			set_tables(m, c, nlev);
			vl_tlb_flush_all(m);
			rc = do_access(m, accs[a]);
			checked++;
			if ((rc != 0) != want.fault ||
			    (want.fault && (m->priv->fault.vec != VL_PF || m->priv->fault.err != want.pfec ||
					    m->priv->fault.cr2 != VA))) {
				if (failures++ < 10)
					print_error("nlev %d comb %#x wp %d nxe %d acc %#x: rc %d vec %u err %#x, want fault %d err %#x\n",
						    nlev, comb, wp, nxe, accs[a], rc, m->priv->fault.vec,
						    m->priv->fault.err, want.fault, want.pfec);
				continue;
			}
			for (int i = 0; i < nlev; i++) {
				uint64_t e = vl_phys_read64(m, tbl_of_level[i] + 8);
				bool a_bit = e & 0x20, d_bit = e & 0x40;
				bool leaf = i == nlev - 1;
				if (a_bit != want.a[i] || (leaf && d_bit != want.d_leaf) || (!leaf && d_bit)) {
					if (failures++ < 10)
						print_error("nlev %d comb %#x wp %d nxe %d acc %#x level %d: A %d D %d want A %d D %d\n",
							    nlev, comb, wp, nxe, accs[a], i, a_bit, d_bit, want.a[i],
							    leaf && want.d_leaf);
				}
			}
		}
	}
	assert_int_equal(failures, 0);
	return checked;
}

static void test_matrix_4k(void **state)
{
	struct vl_machine *m = mk_machine();
	assert_int_equal(run_matrix(m, 4), 65536ul * 24);
	vl_machine_free(m);
}

static void test_matrix_2m(void **state)
{
	struct vl_machine *m = mk_machine();
	assert_int_equal(run_matrix(m, 3), 4096ul * 24);
	vl_machine_free(m);
}

static void test_matrix_1g(void **state)
{
	struct vl_machine *m = mk_machine();
	assert_int_equal(run_matrix(m, 2), 256ul * 24);
	vl_machine_free(m);
}

/* SMEP/SMAP (SDM Vol. 3A 4.6.1) over every P/RW/US/NX combination of a
 * 1G and a 2M walk x WP x NXE x SMEP x SMAP x EFLAGS.AC x the accesses
 * (supervisor ones also implicit), against ref_access_smx. Each case is
 * run three times: from a flushed TLB (the walk's check), and after an
 * access made with SMEP and SMAP off, or on with EFLAGS.AC = 1, filled the
 * TLBs (the hit path's check: the modelled TLB and, with the host fast
 * path on, the soft TLB), with the fast path on and off. */
static const unsigned smx_accs[8] = {
	VL_ACC_R, VL_ACC_W, VL_ACC_X, VL_ACC_R | VL_ACC_IMPLICIT, VL_ACC_W | VL_ACC_IMPLICIT,
	VL_ACC_R | VL_ACC_USER, VL_ACC_W | VL_ACC_USER, VL_ACC_X | VL_ACC_USER,
};

static unsigned long run_smx_matrix(struct vl_machine *m, int nlev, int warm)
{
	unsigned ncomb = 1u << (4 * nlev);
	unsigned long checked = 0, failures = 0;

	for (unsigned comb = 0; comb < ncomb; comb++) {
		unsigned c[4];
		for (int i = 0; i < nlev; i++)
			c[i] = (comb >> (4 * i)) & 0xf;
		for (unsigned bits = 0; bits < 32; bits++)
		for (int a = 0; a < 8; a++) {
			bool wp = bits & 1, nxe = bits & 2;
			struct smx x = { .smep = bits & 4, .smap = bits & 8, .ac = bits & 16 };
			struct ref_out want = ref_access_smx(c, nlev, smx_accs[a], wp, nxe, x);
			uint64_t cr4 = VL_CR4_PAE | (x.smep ? VL_CR4_SMEP : 0) | (x.smap ? VL_CR4_SMAP : 0);
			int rc;

			m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | (wp ? VL_CR0_WP : 0);
			m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | (nxe ? VL_EFER_NXE : 0);
			set_tables(m, c, nlev);
			vl_tlb_flush_all(m);
			if (warm) {
				/* fill with neither SMEP nor SMAP (warm 1) or with them and
				 * EFLAGS.AC = 1 (warm 2), then switch to the case's state */
				m->cpu.cr4 = warm == 1 ? VL_CR4_PAE : cr4;
				m->cpu.rflags = warm == 1 ? 2 : 2 | VL_FL_AC;
				(void)do_access(m, smx_accs[a]);
				set_tables(m, c, nlev);   /* A/D back to clear: the expected bits are the second access's */
			}
			m->cpu.cr4 = cr4;
			m->cpu.rflags = 2 | (x.ac ? VL_FL_AC : 0);
			rc = do_access(m, smx_accs[a]);
			checked++;
			if ((rc != 0) != want.fault ||
			    (want.fault && (m->priv->fault.vec != VL_PF || m->priv->fault.err != want.pfec))) {
				if (failures++ < 10)
					print_error("smx nlev %d warm %d comb %#x bits %#x acc %#x: rc %d err %#x, want fault %d err %#x\n",
						    nlev, warm, comb, bits, smx_accs[a], rc, m->priv->fault.err,
						    want.fault, want.pfec);
			}
		}
	}
	assert_int_equal(failures, 0);
	return checked;
}

static void test_smep_smap(void **state)
{
	for (int fast = 0; fast < 2; fast++) {
		struct vl_machine *m = mk_machine();
		vl_mem_set_fastpath(m, fast);
		for (int warm = 0; warm < 3; warm++) {
			assert_int_equal(run_smx_matrix(m, 2, warm), 256ul * 32 * 8);
			assert_int_equal(run_smx_matrix(m, 3, warm), 4096ul * 32 * 8);
		}
		vl_machine_free(m);
	}
}

/* Hand-computed spot checks (error codes from the SDM's Figure 4-12). */
static void test_spot_checks(void **state)
{
	struct vl_machine *m = mk_machine();
	const unsigned all = C_P | C_RW | C_US;
	struct { unsigned c[4]; unsigned acc; bool wp, nxe; bool fault; uint32_t pfec; } cases[] = {
		/* user read of a supervisor page: P|U */
		{ { all, all, all, C_P | C_RW }, VL_ACC_USER, true, true, true, 0x5 },
		/* supervisor write to a read-only page, WP = 0: allowed */
		{ { all, all, all, C_P | C_US }, VL_ACC_W, false, true, false, 0 },
		/* same with WP = 1: P|W */
		{ { all, all, all, C_P | C_US }, VL_ACC_W, true, true, true, 0x3 },
		/* user fetch from an NX page with NXE: P|U|I */
		{ { all, all, all, all | C_NX }, VL_ACC_X | VL_ACC_USER, true, true, true, 0x15 },
		/* user write with the PDE not present: W|U */
		{ { all, all, C_RW | C_US, all }, VL_ACC_W | VL_ACC_USER, true, true, true, 0x6 },
		/* NX set in the PML4E while NXE = 0: reserved, P|RSVD */
		{ { all | C_NX, all, all, all }, VL_ACC_R, true, false, true, 0x9 },
		/* supervisor fetch from a not-present PTE, NXE = 1: I */
		{ { all, all, all, C_RW }, VL_ACC_X, true, true, true, 0x10 },
		/* supervisor fetch from an NX page with NXE = 0 at no level: fine */
		{ { all, all, all, all }, VL_ACC_X, true, false, false, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | (cases[i].wp ? VL_CR0_WP : 0);
		m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | (cases[i].nxe ? VL_EFER_NXE : 0);
		set_tables(m, cases[i].c, 4);
		vl_tlb_flush_all(m);
		rc = do_access(m, cases[i].acc);
		assert_int_equal(rc != 0, cases[i].fault);
		if (cases[i].fault)
			assert_int_equal(m->priv->fault.err, cases[i].pfec);
	}
	vl_machine_free(m);
}

/* Reserved bits beyond the permission matrix: MAXPHYADDR bits, PS in a
 * PML4E, bits 20:13 of a 2M leaf, bits 29:13 of a 1G leaf. */
static void test_reserved_bits(void **state)
{
	struct vl_machine *m = mk_machine();
	const unsigned all = C_P | C_RW | C_US;
	unsigned c[4] = { all, all, all, all };
	uint8_t b;
	unsigned maxphy = vl_platform_maxphyaddr(&prof);

	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;

	set_tables(m, c, 4);
	vl_phys_write64(m, T_PT + 8, vl_phys_read64(m, T_PT + 8) | (1ull << maxphy));
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_read(m, VA, &b, 1, 0), -1);
	assert_int_equal(m->priv->fault.err, VL_PFEC_P | VL_PFEC_RSVD);

	set_tables(m, c, 4);
	vl_phys_write64(m, T_PML4 + 8, vl_phys_read64(m, T_PML4 + 8) | 0x80);
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_read(m, VA, &b, 1, VL_ACC_USER), -1);
	assert_int_equal(m->priv->fault.err, VL_PFEC_P | VL_PFEC_RSVD | VL_PFEC_U);

	set_tables(m, c, 3);
	vl_phys_write64(m, T_PD + 8, vl_phys_read64(m, T_PD + 8) | (1ull << 13));
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_write(m, VA, &b, 1, 0), -1);
	assert_int_equal(m->priv->fault.err, VL_PFEC_P | VL_PFEC_RSVD | VL_PFEC_W);

	set_tables(m, c, 2);
	vl_phys_write64(m, T_PDPT + 8, vl_phys_read64(m, T_PDPT + 8) | (1ull << 29));
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_fetch(m, VA, &b, 1, 0), -1);
	assert_int_equal(m->priv->fault.err, VL_PFEC_P | VL_PFEC_RSVD | VL_PFEC_I);

	/* A reserved-bit entry is not "present"-checked for lower levels: a
	 * not-present PTE below a good PDE still reports P = 0. */
	set_tables(m, c, 4);
	vl_phys_write64(m, T_PT + 8, 0);
	vl_tlb_flush_all(m);
	assert_int_equal(vl_mem_read(m, VA, &b, 1, 0), -1);
	assert_int_equal(m->priv->fault.err, 0);
	vl_machine_free(m);
}

/* Non-canonical addresses are #GP(0), not #PF. Paging off: identity. */
static void test_noncanonical_and_paging_off(void **state)
{
	struct vl_machine *m = mk_machine();
	uint64_t v = 0x1122334455667788ull, r = 0;

	assert_int_equal(vl_mem_read(m, 0x0000800000000000ull, &r, 8, 0), -1);
	assert_int_equal(m->priv->fault.vec, VL_GP);
	m->cpu.cr0 = VL_CR0_PE;
	assert_int_equal(vl_mem_write(m, 0x5000, &v, 8, 0), 0);
	assert_int_equal(vl_phys_read64(m, 0x5000), v);
	vl_machine_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spot_checks),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_noncanonical_and_paging_off),
		cmocka_unit_test(test_matrix_1g),
		cmocka_unit_test(test_matrix_2m),
		cmocka_unit_test(test_matrix_4k),
		cmocka_unit_test(test_smep_smap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
