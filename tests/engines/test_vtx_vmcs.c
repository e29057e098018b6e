/* test_vtx_vmcs.c — the VT-x hardware model: VMCS encodings, VMREAD/VMWRITE,
 * exit rules (I/O and MSR bitmaps, CR masks/shadows, CR3 targets, PFEC
 * mask/match) and VM-entry checks, on a hand-made VMCS and a bare memory
 * array (no interpreter needed). Oracle: the SDM's encodings and rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engines/vtx/vmx_hw.h"

static struct vl_machine *fake_machine(void)
{
	struct vl_machine *m = calloc(1, sizeof *m);
	m->mem_size = 64 * 1024;
	m->mem = calloc(1, m->mem_size);
	return m;
}
static void free_machine(struct vl_machine *m) { free(m->mem); free(m); }

static void wr(struct vmcs *v, uint32_t enc, uint64_t val)
{
	if (vmcs_enc_type(enc) == VMCS_T_EXITINFO)
		vmcs_hw_write(v, enc, val);
	else
		assert_int_equal(vmcs_vmwrite(v, enc, val), 0);
}

/* Encodings straight from the SDM (Appendix B), decoded by the bit layout. */
static void test_encoding_layout(void **s)
{
	(void)s;
	assert_int_equal(VMCS_GUEST_RIP, 0x681e);
	assert_int_equal(vmcs_enc_width(VMCS_GUEST_RIP), VMCS_WNAT);
	assert_int_equal(vmcs_enc_type(VMCS_GUEST_RIP), VMCS_T_GUEST);
	assert_int_equal(vmcs_enc_index(VMCS_GUEST_RIP), 15);
	assert_int_equal(vmcs_encode(VMCS_W32, VMCS_T_EXITINFO, 1, 0), 0x4402);   /* VM_EXIT_REASON */
	assert_int_equal(vmcs_encode(VMCS_W64, VMCS_T_CONTROL, 13, 0), 0x201a);   /* EPT_POINTER */
	assert_int_equal(vmcs_encode(VMCS_W16, VMCS_T_CONTROL, 0, 0), 0x0000);    /* VPID */
	assert_int_equal(vmcs_enc_type(VMCS_HOST_RIP), VMCS_T_HOST);
	assert_int_equal(vmcs_enc_width(VMCS_IO_BITMAP_A), VMCS_W64);
	assert_int_equal(vmcs_enc_width(VMCS_GUEST_ES_SELECTOR), VMCS_W16);
	assert_int_equal(vmcs_enc_width(VMCS_PIN_BASED_VM_EXEC_CONTROL), VMCS_W32);
	/* every field: full access type, bit 12 clear, unique encoding, slot round trip */
	for (int i = 0; i < VMCS_NFIELDS; i++) {
		uint32_t e = vmcs_field_encoding(i);
		assert_int_equal(e & 1, 0);
		assert_int_equal(e & (1u << 12), 0);
		assert_int_equal(vmcs_slot_of(e), i);
		assert_int_equal(vmcs_encode(vmcs_enc_width(e), vmcs_enc_type(e), vmcs_enc_index(e), 0), e);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(vmcs_field_encoding(j), e);
	}
	assert_int_equal(vmcs_slot_of(0x6c18), -1);                   /* not a field */
	assert_int_equal(vmcs_slot_of(VMCS_GUEST_RIP | 1), -1);      /* HIGH only exists for 64-bit fields */
	assert_int_equal(vmcs_slot_of(VMCS_TSC_OFFSET | 1), VMCS_SLOT_TSC_OFFSET);
	assert_string_equal(vmx_exit_reason_name(10), "CPUID");
	assert_string_equal(vmx_exit_reason_name(48), "EPT_VIOLATION");
	assert_string_equal(vmx_exit_reason_name(30), "IO_INSTRUCTION");
	assert_int_equal(vmx_exit_table[vmx_exit_slot(28)].code, 28);
}

/* VMREAD/VMWRITE of every field: width truncation, HIGH halves, read-only data. */
static void test_vmread_vmwrite_all(void **s)
{
	(void)s;
	struct vmcs v;
	vmcs_clear(&v);
	for (int i = 0; i < VMCS_NFIELDS; i++) {
		uint32_t e = vmcs_field_encoding(i);
		uint64_t pat = 0x0123456789abcdefull ^ ((uint64_t)i * 0x9e3779b97f4a7c15ull), got = 0;
		uint64_t mask = vmcs_enc_width(e) == VMCS_W16 ? 0xffff : vmcs_enc_width(e) == VMCS_W32 ? 0xffffffff : ~0ull;
		if (vmcs_enc_type(e) == VMCS_T_EXITINFO) {
			assert_int_equal(vmcs_vmwrite(&v, e, pat), VMXERR_READONLY_FIELD);
			vmcs_hw_write(&v, e, pat);
		} else {
			assert_int_equal(vmcs_vmwrite(&v, e, pat), 0);
		}
		assert_int_equal(vmcs_vmread(&v, e, &got), 0);
		assert_true(got == (pat & mask));
		if (vmcs_enc_width(e) == VMCS_W64) {
			assert_int_equal(vmcs_vmread(&v, e | 1, &got), 0);
			assert_true(got == pat >> 32);
			if (vmcs_enc_type(e) != VMCS_T_EXITINFO) {
				assert_int_equal(vmcs_vmwrite(&v, e | 1, 0x55aa55aa), 0);
				assert_int_equal(vmcs_vmread(&v, e, &got), 0);
				assert_true(got == ((0x55aa55aaull << 32) | (pat & 0xffffffffull)));
			}
		}
	}
	uint64_t x;
	assert_int_equal(vmcs_vmread(&v, 0x6c18, &x), VMXERR_UNSUPPORTED_FIELD);
	assert_int_equal(vmcs_vmwrite(&v, 0x6c18, 1), VMXERR_UNSUPPORTED_FIELD);
}

/* A VMCS a correct 64-bit VMM would launch. */
static void good_vmcs(struct vmcs *v)
{
	vmcs_clear(v);
	v->current = true;
	wr(v, VMCS_PIN_BASED_VM_EXEC_CONTROL, PIN_EXT_INTR_EXITING);
	wr(v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_HLT_EXITING | CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS |
	   CPU_TPR_SHADOW | CPU_ACTIVATE_SECONDARY);
	wr(v, VMCS_SECONDARY_VM_EXEC_CONTROL, SEC_ENABLE_EPT | SEC_ENABLE_VPID);
	wr(v, VMCS_VM_ENTRY_CONTROLS, ENTRY_IA32E_MODE | ENTRY_LOAD_IA32_EFER);
	wr(v, VMCS_IO_BITMAP_A, 0x1000);
	wr(v, VMCS_IO_BITMAP_B, 0x2000);
	wr(v, VMCS_MSR_BITMAP, 0x3000);
	wr(v, VMCS_VIRTUAL_APIC_PAGE_ADDR, 0x4000);
	wr(v, VMCS_EPT_POINTER, 0x5000 | 6 | (3 << 3));
	wr(v, VMCS_VIRTUAL_PROCESSOR_ID, 1);
	wr(v, VMCS_VMCS_LINK_POINTER, ~0ull);
	wr(v, VMCS_GUEST_CR0, VL_CR0_PE | VL_CR0_PG | VL_CR0_WP);
	wr(v, VMCS_GUEST_CR4, VL_CR4_PAE);
	wr(v, VMCS_GUEST_IA32_EFER, VL_EFER_LME | VL_EFER_LMA | VL_EFER_SCE);
	wr(v, VMCS_GUEST_CS_AR_BYTES, 0xa09b);   /* 64-bit code, DPL 0 */
	wr(v, VMCS_GUEST_TR_AR_BYTES, 0x8b);     /* busy 64-bit TSS */
	wr(v, VMCS_GUEST_RIP, 0xffffffff80001000ull);
	wr(v, VMCS_GUEST_RFLAGS, 0x2);
}

static void test_entry_checks(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	struct vmcs v;
	char why[200];
	good_vmcs(&v);
	assert_int_equal(vmx_entry_check(m, &v, why, sizeof why), VMX_ENTRY_OK);

	struct { uint32_t enc; uint64_t val; enum vmx_entry_rc want; } cases[] = {
		{ VMCS_CR3_TARGET_COUNT, 5, VMX_ENTRY_FAIL_VALID },
		{ VMCS_VIRTUAL_PROCESSOR_ID, 0, VMX_ENTRY_FAIL_VALID },
		{ VMCS_EPT_POINTER, 0x5000 | 6 | (2 << 3), VMX_ENTRY_FAIL_VALID },      /* 3-level walk */
		{ VMCS_EPT_POINTER, 0x5000 | 5 | (3 << 3), VMX_ENTRY_FAIL_VALID },      /* memory type 5 */
		{ VMCS_TPR_THRESHOLD, 0x10, VMX_ENTRY_FAIL_VALID },
		{ VMCS_TPR_THRESHOLD, 0x1, VMX_ENTRY_FAIL_VALID },                      /* above VTPR = 0 */
		{ VMCS_VIRTUAL_APIC_PAGE_ADDR, 0x4010, VMX_ENTRY_FAIL_VALID },
		{ VMCS_IO_BITMAP_A, 0x1008, VMX_ENTRY_FAIL_VALID },
		{ VMCS_MSR_BITMAP, 64 * 1024, VMX_ENTRY_FAIL_VALID },
		{ VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (1u << 8) | 32, VMX_ENTRY_FAIL_VALID },
		{ VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (3u << 8) | INTR_INFO_DELIVER_CODE | VL_BP, VMX_ENTRY_FAIL_VALID },
		{ VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (2u << 8) | 5, VMX_ENTRY_FAIL_VALID },
		{ VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | (3u << 8) | INTR_INFO_DELIVER_CODE | VL_PF, VMX_ENTRY_OK },
		{ VMCS_VM_ENTRY_INTR_INFO_FIELD, INTR_INFO_VALID | 0x30, VMX_ENTRY_OK },
		{ VMCS_GUEST_CR0, VL_CR0_PE, VMX_ENTRY_FAIL_GUEST },
		{ VMCS_GUEST_CR4, 0, VMX_ENTRY_FAIL_GUEST },
		{ VMCS_GUEST_IA32_EFER, VL_EFER_LME, VMX_ENTRY_FAIL_GUEST },
		{ VMCS_GUEST_CS_AR_BYTES, 0xe09b, VMX_ENTRY_FAIL_GUEST },            /* L and D */
		{ VMCS_GUEST_RIP, 0x0001000000000000ull, VMX_ENTRY_FAIL_GUEST },     /* bits 63:48 differ */
		{ VMCS_GUEST_RIP, 0xfffe800000000000ull, VMX_ENTRY_FAIL_GUEST },
		/* SDM 27.3.1.4 checks bits 63:N (N = 48), not canonicality: the
		 * non-canonical 0x800000000000 enters (the fetch then #GPs) */
		{ VMCS_GUEST_RIP, 0x0000800000000000ull, VMX_ENTRY_OK },
		{ VMCS_GUEST_RIP, 0xffff7fffffffffffull, VMX_ENTRY_OK },
		{ VMCS_GUEST_RFLAGS, 0x0, VMX_ENTRY_FAIL_GUEST },                     /* bit 1 clear */
		{ VMCS_GUEST_RFLAGS, 0x2 | (1ull << 17), VMX_ENTRY_FAIL_GUEST },     /* VM in IA-32e */
		{ VMCS_GUEST_ACTIVITY_STATE, 4, VMX_ENTRY_FAIL_GUEST },
		{ VMCS_GUEST_INTERRUPTIBILITY_INFO, 1, VMX_ENTRY_FAIL_GUEST },       /* STI blocking, IF=0 */
		{ VMCS_VMCS_LINK_POINTER, 0, VMX_ENTRY_FAIL_GUEST },
		{ VMCS_GUEST_TR_AR_BYTES, 0x89, VMX_ENTRY_FAIL_GUEST },              /* available, not busy */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		good_vmcs(&v);
		wr(&v, cases[i].enc, cases[i].val);
		enum vmx_entry_rc rc = vmx_entry_check(m, &v, why, sizeof why);
		if (rc != cases[i].want)
			print_error("case %zu (field %#x = %#llx): got %d want %d (%s)\n", i, cases[i].enc,
				    (unsigned long long)cases[i].val, rc, cases[i].want, why);
		assert_int_equal(rc, cases[i].want);
	}
	/* secondary controls are ignored without "activate secondary controls" */
	good_vmcs(&v);
	wr(&v, VMCS_VIRTUAL_PROCESSOR_ID, 0);
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_HLT_EXITING);
	assert_int_equal(vmx_entry_check(m, &v, why, sizeof why), VMX_ENTRY_OK);
	/* no current VMCS: VMfailInvalid */
	good_vmcs(&v);
	v.current = false;
	assert_int_equal(vmx_entry_check(m, &v, why, sizeof why), VMX_ENTRY_FAIL_INVALID);
	free_machine(m);
}

static void test_io_bitmap(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	struct vmcs v;
	good_vmcs(&v);
	m->mem[0x1000 + 0x70 / 8] |= 1u << (0x70 % 8);            /* port 0x70 in bitmap A */
	m->mem[0x2000 + 0x0001 / 8] |= 1u << 1;                    /* port 0x8001 in bitmap B */
	memset(m->mem + 0x2000 + 0xfff, 0x80, 1);                  /* port 0xffff */
	assert_true(vmx_io_exits(m, &v, 0x70, 1));
	assert_false(vmx_io_exits(m, &v, 0x71, 1));
	assert_true(vmx_io_exits(m, &v, 0x6e, 4));                 /* 0x6e..0x71 covers 0x70 */
	assert_false(vmx_io_exits(m, &v, 0x6c, 4));
	assert_true(vmx_io_exits(m, &v, 0x8001, 1));
	assert_false(vmx_io_exits(m, &v, 0x0001, 1));              /* same bit, bitmap A: clear */
	assert_true(vmx_io_exits(m, &v, 0x7fff, 4));               /* spans into B: 0x8001 */
	assert_true(vmx_io_exits(m, &v, 0xfffe, 4));               /* wraps past 0xffff */
	/* no bitmaps: unconditional I/O exiting decides */
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_UNCOND_IO_EXITING);
	assert_true(vmx_io_exits(m, &v, 0x71, 1));
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, 0);
	assert_false(vmx_io_exits(m, &v, 0x70, 1));
	/* use-I/O-bitmaps takes precedence over unconditional exiting (SDM 25.1.3) */
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_UNCOND_IO_EXITING | CPU_USE_IO_BITMAPS);
	assert_false(vmx_io_exits(m, &v, 0x71, 1));
	free_machine(m);
}

static void test_msr_bitmap(void **s)
{
	(void)s;
	struct vl_machine *m = fake_machine();
	struct vmcs v;
	good_vmcs(&v);
	uint8_t *bm = m->mem + 0x3000;
	bm[0x10 / 8] |= 1u << (0x10 % 8);                         /* read TSC */
	bm[2048 + 0x808 / 8] |= 1u << (0x808 % 8);                /* write x2APIC TPR */
	bm[1024 + 0x100 / 8] |= 1u << 0;                          /* read FS_BASE */
	bm[3072 + 0x82 / 8] |= 1u << (0x82 % 8);                  /* write LSTAR */
	assert_true(vmx_msr_exits(m, &v, 0x10, false));
	assert_false(vmx_msr_exits(m, &v, 0x10, true));
	assert_true(vmx_msr_exits(m, &v, 0x808, true));
	assert_false(vmx_msr_exits(m, &v, 0x808, false));
	assert_true(vmx_msr_exits(m, &v, 0xc0000100, false));
	assert_false(vmx_msr_exits(m, &v, 0xc0000100, true));
	assert_true(vmx_msr_exits(m, &v, 0xc0000082, true));
	assert_false(vmx_msr_exits(m, &v, 0xc0000081, true));
	assert_true(vmx_msr_exits(m, &v, 0x40000000, false));       /* outside both ranges */
	assert_true(vmx_msr_exits(m, &v, 0xc0010000, true));
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, 0);                  /* no MSR bitmaps: all exit */
	assert_true(vmx_msr_exits(m, &v, 0xc0000081, true));
	free_machine(m);
}

static void test_cr_masks(void **s)
{
	(void)s;
	struct vmcs v;
	good_vmcs(&v);
	uint64_t own = VL_CR0_PG | VL_CR0_WP;
	wr(&v, VMCS_CR0_GUEST_HOST_MASK, own);
	wr(&v, VMCS_CR0_READ_SHADOW, VL_CR0_PE | VL_CR0_PG);        /* guest believes WP = 0 */
	/* writes that keep host-owned bits equal to the shadow do not exit */
	assert_false(vmx_cr_write_exits(&v, 0, VL_CR0_PE | VL_CR0_PG | VL_CR0_TS));
	assert_true(vmx_cr_write_exits(&v, 0, VL_CR0_PE | VL_CR0_PG | VL_CR0_WP));   /* sets WP */
	assert_true(vmx_cr_write_exits(&v, 0, VL_CR0_PE));                           /* clears PG */
	/* reads: host-owned bits from the shadow, guest-owned from the real CR0 */
	uint64_t real = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP | VL_CR0_TS;
	assert_true(vmx_cr_read_value(&v, 0, real) == (VL_CR0_PE | VL_CR0_PG | VL_CR0_TS));
	assert_false(vmx_cr_read_exits(&v, 0));
	/* CR4 likewise */
	wr(&v, VMCS_CR4_GUEST_HOST_MASK, VL_CR4_PGE);
	wr(&v, VMCS_CR4_READ_SHADOW, VL_CR4_PAE | VL_CR4_PGE);
	assert_false(vmx_cr_write_exits(&v, 4, VL_CR4_PAE | VL_CR4_PGE | VL_CR4_PSE));
	assert_true(vmx_cr_write_exits(&v, 4, VL_CR4_PAE));
	/* CR3: load exiting with target values */
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_LOAD_EXITING);
	assert_true(vmx_cr_write_exits(&v, 3, 0x5000));
	wr(&v, VMCS_CR3_TARGET_VALUE1, 0x5000);
	assert_true(vmx_cr_write_exits(&v, 3, 0x5000));             /* count 1 only covers value 0 */
	wr(&v, VMCS_CR3_TARGET_COUNT, 2);
	assert_false(vmx_cr_write_exits(&v, 3, 0x5000));
	assert_false(vmx_cr_read_exits(&v, 3));
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_CR3_STORE_EXITING);
	assert_true(vmx_cr_read_exits(&v, 3));
	assert_false(vmx_cr_write_exits(&v, 3, 0x6000));
	/* CR8: load exiting, or TPR shadow */
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING);
	assert_true(vmx_cr_write_exits(&v, 8, 3));
	assert_true(vmx_cr_read_exits(&v, 8));
	wr(&v, VMCS_CPU_BASED_VM_EXEC_CONTROL, CPU_TPR_SHADOW);
	assert_false(vmx_cr_write_exits(&v, 8, 3));
	assert_false(vmx_cr_read_exits(&v, 8));
}

/* SDM 25.2: #PF exits iff bit 14 == ((PFEC & MASK) == MATCH). */
static void test_pfec_mask_match(void **s)
{
	(void)s;
	struct vmcs v;
	good_vmcs(&v);
	/* KVM with shadow paging: bit 14, mask = match = 0: every #PF exits */
	wr(&v, VMCS_EXCEPTION_BITMAP, 1u << VL_PF);
	for (uint32_t e = 0; e < 32; e++)
		assert_true(vmx_pf_exits(&v, e));
	/* bit 14, mask = P, match = 0: only not-present faults exit */
	wr(&v, VMCS_PAGE_FAULT_ERROR_CODE_MASK, VL_PFEC_P);
	assert_true(vmx_pf_exits(&v, VL_PFEC_W | VL_PFEC_U));
	assert_false(vmx_pf_exits(&v, VL_PFEC_P | VL_PFEC_W));
	/* bit 14 clear, mask = P, match = P: the complement -> not-present faults exit */
	wr(&v, VMCS_EXCEPTION_BITMAP, 0);
	wr(&v, VMCS_PAGE_FAULT_ERROR_CODE_MATCH, VL_PFEC_P);
	assert_true(vmx_pf_exits(&v, 0));
	assert_false(vmx_pf_exits(&v, VL_PFEC_P));
	/* bit 14 clear, mask = match = 0: none */
	wr(&v, VMCS_PAGE_FAULT_ERROR_CODE_MASK, 0);
	wr(&v, VMCS_PAGE_FAULT_ERROR_CODE_MATCH, 0);
	for (uint32_t e = 0; e < 32; e++)
		assert_false(vmx_pf_exits(&v, e));
	/* impossible match (match has a bit outside mask): bit 14 set -> none exit */
	wr(&v, VMCS_EXCEPTION_BITMAP, 1u << VL_PF);
	wr(&v, VMCS_PAGE_FAULT_ERROR_CODE_MATCH, VL_PFEC_W);
	for (uint32_t e = 0; e < 32; e++)
		assert_false(vmx_pf_exits(&v, e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding_layout),
		cmocka_unit_test(test_vmread_vmwrite_all),
		cmocka_unit_test(test_entry_checks),
		cmocka_unit_test(test_io_bitmap),
		cmocka_unit_test(test_msr_bitmap),
		cmocka_unit_test(test_cr_masks),
		cmocka_unit_test(test_pfec_mask_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
