/* test_hvm_guest.c — vtx and svm running real guest code
 * (a byte array in a tiny ELF): CPUID answers and exits, port I/O exits,
 * CR8 with and without TPR shadow / V_TPR, the exit device, and VM entries
 * that fail the vendor's checks (VMfailValid, INVALID_STATE, VMEXIT_INVALID)
 * stopping the run with a reason instead of crashing. The MMU is a stub
 * "shadow" that keeps the loader's identity tables (the test code never
 * faults), so only the CPU engines are under test. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "../support/mini_elf.h"
#include "../support/test_profile.h"
#include "../../engines/vtx/vmx_hw.h"
#include "../../engines/svm/svm_hw.h"

extern const struct vl_engine_ops vl_engine_vtx, vl_engine_svm;

#define CODE_PA 0x200000ull
#define DATA_PA 0x300000ull

static const uint8_t guest_code[] = {
	0xb8, 0x00, 0x00, 0x00, 0x40,              /* mov eax, 0x40000000 */
	0x0f, 0xa2,                                /* cpuid */
	0x89, 0x1c, 0x25, 0x00, 0x00, 0x30, 0x00,  /* mov [0x300000], ebx */
	0xb8, 0x01, 0x00, 0x00, 0x00,              /* mov eax, 1 */
	0x0f, 0xa2,                                /* cpuid */
	0x89, 0x0c, 0x25, 0x04, 0x00, 0x30, 0x00,  /* mov [0x300004], ecx */
	0x66, 0xba, 0x08, 0x06,                    /* mov dx, 0x608 */
	0xed,                                      /* in eax, dx */
	0xb8, 0x05, 0x00, 0x00, 0x00,              /* mov eax, 5 */
	0x44, 0x0f, 0x22, 0xc0,                    /* mov cr8, rax */
	0x44, 0x0f, 0x20, 0xc3,                    /* mov rbx, cr8 */
	0x89, 0x1c, 0x25, 0x08, 0x00, 0x30, 0x00,  /* mov [0x300008], ebx */
	0xb0, 0x00,                                /* mov al, 0 */
	0xe6, 0xf4,                                /* out 0xf4, al: exit device */
	0xf4,                                      /* hlt (not reached) */
};

static size_t make_elf(uint8_t *buf)
{
	return vl_test_mini_elf(buf, CODE_PA, guest_code, sizeof guest_code, PF_R | PF_X | PF_W);
}

/* Stub MMU: the loader's identity map is the "shadow" (no faults occur). */
static int stub_init(struct vl_machine *m, enum vl_vendor v, void **ctx, char *e, size_t n) { *ctx = NULL; return 0; }
static void stub_cr3_write(struct vl_machine *m, void *ctx, uint64_t cr3) { m->cpu.cr3 = cr3; }
static uint64_t stub_cr3_read(struct vl_machine *m, void *ctx) { return m->cpu.cr3; }
static int stub_pf(struct vl_machine *m, void *ctx, uint64_t va, uint32_t *pfec, enum vl_pf_kind *kind) { return VL_HOOK_PASS; }
static const struct vl_mmu_ops stub_mmu = {
	.name = "stub", .kind = VL_MMU_SHADOW, .init = stub_init, .cr3_write = stub_cr3_write,
	.cr3_read = stub_cr3_read, .page_fault = stub_pf,
};

struct rig { struct vl_profile p; struct vl_machine *m; void *ctx; const struct vl_engine_ops *e; };

static void rig_up(struct rig *r, bool amd, bool tpr_shadow)
{
	char err[256] = "";
	uint8_t img[4096];
	if (amd) vl_test_profile_amd(&r->p); else vl_test_profile(&r->p);
	r->p.features_tpr_shadow = tpr_shadow;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 8, .monitor_mb = 4, .max_insns = 10000 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	size_t n = make_elf(img);
	assert_int_equal(vl_machine_load_elf_mem(r->m, img, n, "", err, sizeof err), 0);
	r->e = amd ? &vl_engine_svm : &vl_engine_vtx;
	assert_int_equal(r->e->check(&r->p, VL_MMU_SHADOW, err, sizeof err), 0);
	int rc = r->e->attach(r->m, &stub_mmu, &r->ctx, err, sizeof err);
	if (rc) print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
}

static void rig_down(struct rig *r)
{
	r->e->detach(r->m, r->ctx);
	vl_machine_free(r->m);
}

static uint64_t exits_named(struct vl_machine *m, const char *name)
{
	uint64_t n = 0;
	for (int reg = 0; reg < VL_MAX_REGIONS; reg++)
		for (size_t i = 0; i < m->exit_table_len; i++)
			if (!strcmp(m->exit_table[i].name, name))
				n += m->region[reg].exit_count[i];
	return n;
}
static uint64_t event(struct vl_machine *m, enum vl_event ev)
{
	uint64_t n = 0;
	for (int reg = 0; reg < VL_MAX_REGIONS; reg++)
		n += m->region[reg].events[ev];
	return n;
}

static void check_guest_view(struct vl_machine *m)
{
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	assert_memory_equal(m->mem + DATA_PA, "Virt", 4);            /* VL_HVM_SIGNATURE at 0x40000000 */
	assert_true(m->mem[DATA_PA + 7] & 0x80);                     /* CPUID.1:ECX[31] hypervisor bit */
	assert_int_equal(m->mem[DATA_PA + 8], 5);                    /* CR8 reads back what was written */
}

static void run_case(bool amd, bool tpr, const char *cpuid, const char *io, const char *cr8w, const char *cr8r)
{
	struct rig r;
	rig_up(&r, amd, tpr);
	vl_machine_run(r.m);
	if (r.m->state != VL_M_EXITED)
		print_error("state %d: %s\n", r.m->state, r.m->diag);
	check_guest_view(r.m);
	assert_int_equal(exits_named(r.m, cpuid), 2);
	assert_int_equal(exits_named(r.m, io), 2);                  /* IN 0x608 and OUT 0xf4 */
	if (cr8w) {
		assert_int_equal(exits_named(r.m, cr8w) + (cr8r ? exits_named(r.m, cr8r) : 0), tpr ? 0 : 2);
	}
	assert_int_equal(event(r.m, VL_EV_EXITS), 4 + (tpr ? 0 : 2));
	if (amd) {
		assert_true(event(r.m, VL_EV_VMCB_ACCESSES) > 0);
		assert_int_equal(event(r.m, VL_EV_VMREADS), 0);
	} else {
		assert_true(event(r.m, VL_EV_VMREADS) > 0);
		assert_true(event(r.m, VL_EV_VMWRITES) > 0);
	}
	uint64_t exitc = 0;
	for (int reg = 0; reg < VL_MAX_REGIONS; reg++)
		exitc += r.m->region[reg].cycles[VL_CAT_EXIT];
	uint64_t per = amd ? r.p.svm_vmexit + r.p.svm_vmrun : r.p.vmx_vmexit + r.p.vmx_vmentry;
	/* every exit but the last (the exit device ends the run) re-enters,
	 * and the launch is one more entry: n exits + n entries */
	uint64_t n = event(r.m, VL_EV_EXITS);
	assert_true(exitc == n * per);
	rig_down(&r);
}

static void test_vtx_tpr_shadow(void **s)    { (void)s; run_case(false, true, "CPUID", "IO_INSTRUCTION", "CR_ACCESS", NULL); }
static void test_vtx_no_tpr_shadow(void **s) { (void)s; run_case(false, false, "CPUID", "IO_INSTRUCTION", "CR_ACCESS", NULL); }
static void test_svm_v_tpr(void **s)         { (void)s; run_case(true, true, "VMEXIT_CPUID", "VMEXIT_IOIO", "VMEXIT_CR8_WRITE", "VMEXIT_CR8_READ"); }
static void test_svm_no_v_tpr(void **s)      { (void)s; run_case(true, false, "VMEXIT_CPUID", "VMEXIT_IOIO", "VMEXIT_CR8_WRITE", "VMEXIT_CR8_READ"); }

/* Corrupt the VMCS after launch: the next VM entry fails the SDM's way. */
static void vtx_bad_entry(enum vmcs_slot slot, uint64_t val, const char *want)
{
	struct rig r;
	rig_up(&r, false, true);
	struct vmx_vcpu *vc = r.m->vmm_ctx;
	vc->vmcs.field[slot] = val;
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_ERROR);
	if (!strstr(r.m->diag, want))
		print_error("diag: %s\n", r.m->diag);
	assert_non_null(strstr(r.m->diag, want));
	rig_down(&r);
}
static void test_vtx_entry_fail_control(void **s) { (void)s; vtx_bad_entry(VMCS_SLOT_CR3_TARGET_COUNT, 9, "VMfailValid"); }
static void test_vtx_entry_fail_guest(void **s)   { (void)s; vtx_bad_entry(VMCS_SLOT_VMCS_LINK_POINTER, 0, "INVALID_STATE"); }

static void test_svm_vmrun_invalid(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, true, true);
	struct svm_vcpu *v = r.m->vmm_ctx;
	vmcb_set(r.m, v->vmcb, VMCB_GUEST_ASID, 4, 0);
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_ERROR);
	assert_non_null(strstr(r.m->diag, "VMEXIT_INVALID"));
	assert_true(vmcb_get(r.m, v->vmcb, VMCB_EXITCODE, 8) == ~0ull);
	rig_down(&r);
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vtx_tpr_shadow),
		cmocka_unit_test(test_vtx_no_tpr_shadow),
		cmocka_unit_test(test_svm_v_tpr),
		cmocka_unit_test(test_svm_no_v_tpr),
		cmocka_unit_test(test_vtx_entry_fail_control),
		cmocka_unit_test(test_vtx_entry_fail_guest),
		cmocka_unit_test(test_svm_vmrun_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
