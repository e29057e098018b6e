/* test_svm_vmcb.c — the AMD-V hardware model: VMCB layout and exit codes
 * (APM Vol. 2 Appendices B, C), IOPM/MSRPM intercept decisions and the
 * VMRUN consistency checks (VMEXIT_INVALID), on a VMCB in a bare memory
 * array. Oracle: the APM's offsets, codes and rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engines/svm/svm_hw.h"

#define VMCB  0x1000ull
#define IOPM  0x4000ull   /* 3 pages */
#define MSRPM 0x8000ull   /* 2 pages */

static struct vl_machine *fake_machine(void)
{
	struct vl_machine *m = calloc(1, sizeof *m);
	m->mem_size = 64 * 1024;
	m->mem = calloc(1, m->mem_size);
	return m;
}
static void free_machine(struct vl_machine *m) { free(m->mem); free(m); }

static void good_vmcb(struct vl_machine *m)
{
	memset(m->mem + VMCB, 0, 4096);
	vmcb_set(m, VMCB, VMCB_INTERCEPT_MISC1, 4, INTERCEPT_IOIO_PROT | INTERCEPT_MSR_PROT | INTERCEPT_CPUID);
	vmcb_set(m, VMCB, VMCB_INTERCEPT_MISC2, 4, INTERCEPT_VMRUN);
	vmcb_set(m, VMCB, VMCB_IOPM_BASE_PA, 8, IOPM);
	vmcb_set(m, VMCB, VMCB_MSRPM_BASE_PA, 8, MSRPM);
	vmcb_set(m, VMCB, VMCB_GUEST_ASID, 4, 1);
	vmcb_set(m, VMCB, VMCB_CR0, 8, VL_CR0_PE | VL_CR0_PG | VL_CR0_WP);
	vmcb_set(m, VMCB, VMCB_CR4, 8, VL_CR4_PAE);
	vmcb_set(m, VMCB, VMCB_EFER, 8, VL_EFER_LME | VL_EFER_LMA | (1ull << 12) /* SVME */);
	vmcb_set(m, VMCB, VMCB_CS + VMCB_SEG_ATTR, 2, vmcb_attr_from_ar(0xa09b));
	vmcb_set(m, VMCB, VMCB_RFLAGS, 8, 2);
}

static void test_layout_and_codes(void **s)
{
	(void)s;
	/* APM Appendix C */
	assert_int_equal(SVM_VMEXIT_CPUID, 0x72);
	assert_int_equal(SVM_VMEXIT_HLT, 0x78);
	assert_int_equal(SVM_VMEXIT_IOIO, 0x7b);
	assert_int_equal(SVM_VMEXIT_MSR, 0x7c);
	assert_int_equal(SVM_VMEXIT_VMMCALL, 0x81);
	assert_int_equal(SVM_VMEXIT_NPF, 0x400);
	assert_int_equal(SVM_VMEXIT_EXCP_PF, 0x40 + VL_PF);
	assert_int_equal(SVM_VMEXIT_CR8_WRITE, 0x18);
	assert_string_equal(svm_exit_name(0x72), "VMEXIT_CPUID");
	assert_string_equal(svm_exit_name(0x400), "VMEXIT_NPF");
	assert_int_equal(svm_exit_table[svm_exit_slot(0x7b)].code, 0x7b);
	assert_true(svm_exit_slot(0x1234) >= VL_MAX_EXIT_SLOTS);
	/* APM Appendix B: control area and state-save offsets */
	assert_int_equal(VMCB_EXITCODE, 0x70);
	assert_int_equal(VMCB_EVENTINJ, 0xa8);
	assert_int_equal(VMCB_N_CR3, 0xb0);
	assert_int_equal(VMCB_NRIP, 0xc8);
	assert_int_equal(VMCB_RIP, 0x578);
	assert_int_equal(VMCB_RAX, 0x5f8);
	assert_int_equal(VMCB_CR3, 0x550);
	/* attribute packing: 64-bit code segment, G=1 L=1 P=1 S=1 type 0xb */
	assert_int_equal(vmcb_attr_from_ar(0xa09b), 0xa9b);
	assert_int_equal(vmcb_attr_to_ar(0xa9b), 0xa09b);
	/* vmcb_set/get are little-endian fields of the given width */
	struct vl_machine *m = fake_machine();
	vmcb_set(m, VMCB, VMCB_TLB_CONTROL, 1, 0x1ff);
	assert_int_equal(m->mem[VMCB + VMCB_TLB_CONTROL], 0xff);
	assert_int_equal(m->mem[VMCB + VMCB_TLB_CONTROL + 1], 0);
	vmcb_set(m, VMCB, VMCB_EXITINFO1, 8, 0x1122334455667788ull);
	assert_int_equal(m->mem[VMCB + VMCB_EXITINFO1], 0x88);
	assert_true(vmcb_get(m, VMCB, VMCB_EXITINFO1, 4) == 0x55667788u);
	free_machine(m);
}

static void test_iopm(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	good_vmcb(m);
	m->mem[IOPM + 0x608 / 8] |= 1u << (0x608 % 8);
	m->mem[IOPM + 0xffff / 8] |= 0x80;
	assert_true(svm_io_exits(m, VMCB, 0x608, 1));
	assert_false(svm_io_exits(m, VMCB, 0x609, 1));
	assert_true(svm_io_exits(m, VMCB, 0x606, 4));    /* 0x606..0x609 */
	assert_false(svm_io_exits(m, VMCB, 0x604, 4));
	assert_true(svm_io_exits(m, VMCB, 0xffff, 1));
	assert_false(svm_io_exits(m, VMCB, 0xfffe, 1));
	vmcb_set(m, VMCB, VMCB_INTERCEPT_MISC1, 4, 0);     /* IOIO_PROT clear: no I/O intercepts */
	assert_false(svm_io_exits(m, VMCB, 0x608, 1));
	free_machine(m);
}

static void test_msrpm(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	good_vmcb(m);
	uint8_t *pm = m->mem + MSRPM;
	/* two bits per MSR: read = 2n, write = 2n+1 */
	pm[(0x808 * 2) / 8] |= 1u << ((0x808 * 2 + 1) % 8);          /* write x2APIC TPR */
	pm[0x800 + (0x100 * 2) / 8] |= 1u << ((0x100 * 2) % 8);      /* read FS_BASE */
	pm[0x1000 + (0x15 * 2) / 8] |= 1u << ((0x15 * 2) % 8);       /* read 0xc0010015 */
	assert_true(svm_msr_exits(m, VMCB, 0x808, true));
	assert_false(svm_msr_exits(m, VMCB, 0x808, false));
	assert_true(svm_msr_exits(m, VMCB, 0xc0000100, false));
	assert_false(svm_msr_exits(m, VMCB, 0xc0000100, true));
	assert_true(svm_msr_exits(m, VMCB, 0xc0010015, false));
	assert_false(svm_msr_exits(m, VMCB, 0xc0010015, true));
	assert_true(svm_msr_exits(m, VMCB, 0x40000000, false));      /* outside the ranges */
	vmcb_set(m, VMCB, VMCB_INTERCEPT_MISC1, 4, 0);
	assert_false(svm_msr_exits(m, VMCB, 0x40000000, false));     /* MSR_PROT clear: none */
	free_machine(m);
}

static void test_vmrun_checks(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	char why[200];
	good_vmcb(m);
	assert_int_equal(svm_vmrun_check(m, VMCB, why, sizeof why), 0);
	struct { unsigned off, size; uint64_t val; } bad[] = {
		{ VMCB_GUEST_ASID, 4, 0 },
		{ VMCB_INTERCEPT_MISC2, 4, 0 },                                  /* VMRUN intercept clear */
		{ VMCB_CR0, 8, VL_CR0_PE | VL_CR0_PG | (1ull << 29) },          /* NW=1, CD=0 */
		{ VMCB_CR0, 8, VL_CR0_PE | VL_CR0_PG | (1ull << 32) },
		{ VMCB_CR3, 8, 1ull << 52 },
		{ VMCB_CR4, 8, 0 },                                              /* LME+PG without PAE */
		{ VMCB_CR0, 8, VL_CR0_PG },                                      /* LME+PG without PE */
		{ VMCB_EFER, 8, VL_EFER_LME | VL_EFER_LMA | (1ull << 9) },      /* reserved bit */
		{ VMCB_DR7, 8, 1ull << 32 },
		{ VMCB_CS + VMCB_SEG_ATTR, 2, vmcb_attr_from_ar(0xe09b) },      /* L and D */
		{ VMCB_EVENTINJ, 8, SVM_EVTINJ_VALID | (1u << 8) },             /* reserved type 1 */
		{ VMCB_EVENTINJ, 8, SVM_EVTINJ_VALID | (3u << 8) | 2 },         /* NMI as exception */
		{ VMCB_MSRPM_BASE_PA, 8, 60 * 1024 },                           /* map beyond memory */
		{ VMCB_IOPM_BASE_PA, 8, 56 * 1024 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		good_vmcb(m);
		vmcb_set(m, VMCB, bad[i].off, bad[i].size, bad[i].val);
		int rc = svm_vmrun_check(m, VMCB, why, sizeof why);
		if (rc != -1)
			print_error("case %zu (offset %#x) passed the VMRUN checks\n", i, bad[i].off);
		assert_int_equal(rc, -1);
	}
	good_vmcb(m);
	vmcb_set(m, VMCB, VMCB_EVENTINJ, 8, SVM_EVTINJ_VALID | (3u << 8) | VL_PF | SVM_EVTINJ_VALID_ERR);
	assert_int_equal(svm_vmrun_check(m, VMCB, why, sizeof why), 0);
	assert_int_equal(svm_vmrun_check(m, 0x1010, why, sizeof why), -1);   /* unaligned VMCB */
	free_machine(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_and_codes),
		cmocka_unit_test(test_iopm),
		cmocka_unit_test(test_msrpm),
		cmocka_unit_test(test_vmrun_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
