/* test_hvm_hooks.c — vtx and svm attached to a real machine (platform:
 * memory, devices, CPUID, MSRs, APIC), driven through the hook points the
 * interpreter calls (vmm->intercept with a decoded sensitive event), so the
 * exit path is tested without running guest code: CPUID answers and the
 * hypervisor leaf, I/O exits reading the PM timer, CR8 with and without TPR
 * shadow / V_TPR, CR3 writes reaching the MMU and GUEST_CR3 / VMCB CR3,
 * VMREAD/VMWRITE and VMCB-access counting, exit counts and exit-latency
 * charging, and VM entries that fail the vendor's checks stopping the run
 * (VMfailValid, INVALID_STATE, VMEXIT_INVALID) instead of crashing. */
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

static size_t make_elf(uint8_t *buf)
{
	static const uint8_t code[] = { 0xf4 };   /* hlt: never executed */
	return vl_test_mini_elf(buf, CODE_PA, code, sizeof code, PF_R | PF_X);
}

/* Stub MMU standing in for shadow paging: records CR3 switches. */
static uint64_t stub_cr3;
static int stub_init(struct vl_machine *m, enum vl_vendor v, void **ctx, char *e, size_t n) { *ctx = NULL; return 0; }
static void stub_cr3_write(struct vl_machine *m, void *ctx, uint64_t cr3) { stub_cr3 = cr3; m->cpu.cr3 = cr3 + 0x1000; /* "shadow root" */ }
static uint64_t stub_cr3_read(struct vl_machine *m, void *ctx) { return stub_cr3; }
static const struct vl_mmu_ops stub_mmu = {
	.name = "stub", .kind = VL_MMU_SHADOW, .init = stub_init, .cr3_write = stub_cr3_write, .cr3_read = stub_cr3_read,
};

struct rig { struct vl_profile p; struct vl_machine *m; void *ctx; const struct vl_engine_ops *e; bool amd; };

static void rig_up(struct rig *r, bool amd, bool tpr_shadow)
{
	char err[256] = "";
	uint8_t img[512];
	if (amd) vl_test_profile_amd(&r->p); else vl_test_profile(&r->p);
	r->p.features_tpr_shadow = tpr_shadow;
	r->amd = amd;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 8, .monitor_mb = 4 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	if (!r->m) print_error("machine: %s\n", err);
	assert_non_null(r->m);
	size_t n = make_elf(img);
	assert_int_equal(vl_machine_load_elf_mem(r->m, img, n, "", err, sizeof err), 0);
	r->e = amd ? &vl_engine_svm : &vl_engine_vtx;
	assert_int_equal(r->e->check(&r->p, VL_MMU_SHADOW, err, sizeof err), 0);
	int rc = r->e->attach(r->m, &stub_mmu, &r->ctx, err, sizeof err);
	if (rc) print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
	memset(r->m->region, 0, sizeof r->m->region);   /* count from here */
}

static void rig_down(struct rig *r)
{
	r->e->detach(r->m, r->ctx);
	vl_machine_free(r->m);
}

static int hook(struct rig *r, struct vl_sens_event ev)
{
	ev.insn_rip = r->m->cpu.rip;
	return r->m->vmm->intercept(r->m, r->m->vmm_ctx, &ev);
}

static uint64_t exits_named(struct vl_machine *m, const char *name)
{
	for (size_t i = 0; i < m->exit_table_len; i++)
		if (!strcmp(m->exit_table[i].name, name))
			return m->ctr->exit_count[i];
	return 0;
}

static void test_cpuid_exit(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++) {
		struct rig r;
		rig_up(&r, amd, true);
		struct vl_machine *m = r.m;
		uint64_t rip = m->cpu.rip;
		m->cpu.gpr[VL_RAX] = VL_CPUID_HV_LEAF;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CPUID, .len = 2 }), VL_HOOK_DONE);
		assert_memory_equal(&m->cpu.gpr[VL_RBX], "Virt", 4);
		assert_memory_equal(&m->cpu.gpr[VL_RCX], "LabH", 4);
		assert_memory_equal(&m->cpu.gpr[VL_RDX], "VM\0\0", 4);
		assert_true(m->cpu.rip == rip + 2);
		m->cpu.gpr[VL_RAX] = 1;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CPUID, .len = 2 }), VL_HOOK_DONE);
		uint32_t bare[4];
		vl_cpuid(m, 1, 0, bare);
		assert_true(m->cpu.gpr[VL_RCX] == (bare[2] | (1u << 31)));   /* hypervisor bit added */
		assert_true(m->cpu.gpr[VL_RDX] == bare[3]);
		assert_int_equal(exits_named(m, amd ? "VMEXIT_CPUID" : "CPUID"), 2);
		assert_int_equal(m->ctr->events[VL_EV_EXITS], 2);
		/* cycles: each exit is one exit + one entry of the profile, counted in its slot */
		uint64_t per = amd ? r.p.svm_vmexit + r.p.svm_vmrun : r.p.vmx_vmexit + r.p.vmx_vmentry;
		assert_true(m->ctr->cycles[VL_CAT_EXIT] == 2 * per);
		assert_true(m->ctr->cycles[VL_CAT_VMM] >= 2 * (r.p.vmm_exit_dispatch + r.p.vmm_cpuid));
		if (amd) {
			assert_true(m->ctr->events[VL_EV_VMCB_ACCESSES] > 0);
			assert_int_equal(m->ctr->events[VL_EV_VMREADS], 0);
		} else {
			/* per CPUID exit: reason, instruction length, RIP, interruptibility; write RIP */
			assert_int_equal(m->ctr->events[VL_EV_VMREADS], 8);
			assert_int_equal(m->ctr->events[VL_EV_VMWRITES], 2);
		}
		rig_down(&r);
	}
}

static void test_io_exit(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++) {
		struct rig r;
		rig_up(&r, amd, true);
		struct vl_machine *m = r.m;
		uint64_t rip = m->cpu.rip;
		m->cpu.gpr[VL_RAX] = ~0ull;
		m->tsc += 1000000;   /* let the PM timer advance */
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_IO, .len = 1, .size = 4,
							 .port = VL_PORT_PMTIMER_DEFAULT }), VL_HOOK_DONE);
		assert_true(m->cpu.gpr[VL_RAX] >> 32 == 0);                  /* 32-bit IN zero-extends */
		assert_true(m->cpu.gpr[VL_RAX] == vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4));
		assert_true(m->cpu.rip == rip + 1);
		assert_int_equal(exits_named(m, amd ? "VMEXIT_IOIO" : "IO_INSTRUCTION"), 1);
		/* OUT to the exit device ends the run from inside the VMM; the
		 * OUT itself completes (RIP past it: it retires, as natively) */
		m->cpu.gpr[VL_RAX] = 0;
		rip = m->cpu.rip;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_IO, .len = 2, .size = 1, .write = 1,
							 .port = VL_PORT_EXIT }), VL_HOOK_DONE);
		assert_int_equal(m->state, VL_M_EXITED);
		assert_true(m->cpu.rip == rip + 2);
		assert_int_equal(exits_named(m, amd ? "VMEXIT_IOIO" : "IO_INSTRUCTION"), 2);
		rig_down(&r);
	}
}

static void test_cr8(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++)
		for (int tpr = 0; tpr < 2; tpr++) {
			struct rig r;
			rig_up(&r, amd, tpr);
			struct vl_machine *m = r.m;
			m->cpu.gpr[VL_RBX] = 7;
			int rc = hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 4, .write = 1, .reg = 8,
								 .gpr = VL_RBX, .value = 7 });
			if (tpr) {
				assert_int_equal(rc, VL_HOOK_PASS);    /* stays in guest mode */
				assert_int_equal(m->ctr->events[VL_EV_EXITS], 0);
			} else {
				assert_int_equal(rc, VL_HOOK_DONE);    /* the VMM emulated it */
				assert_int_equal(vl_apic_get_tpr(m), 7);
				assert_int_equal(exits_named(m, amd ? "VMEXIT_CR8_WRITE" : "CR_ACCESS"), 1);
				m->cpu.gpr[VL_RCX] = 0;
				assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_READ, .len = 4, .reg = 8,
										  .gpr = VL_RCX }), VL_HOOK_DONE);
				assert_int_equal(m->cpu.gpr[VL_RCX], 7);
				assert_int_equal(m->ctr->events[VL_EV_EXITS], 2);
			}
			rig_down(&r);
		}
}

static void test_cr3_shadow(void **s)
{
	(void)s;
	for (int amd = 0; amd < 2; amd++) {
		struct rig r;
		rig_up(&r, amd, true);
		struct vl_machine *m = r.m;
		m->cpu.gpr[VL_RDX] = 0x123000;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 3, .write = 1, .reg = 3,
							 .gpr = VL_RDX, .value = 0x123000 }), VL_HOOK_DONE);
		assert_true(stub_cr3 == 0x123000);
		assert_true(m->cpu.cr3 == 0x124000);   /* the shadow root survives the VM entry */
		m->cpu.gpr[VL_RSI] = 0;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_READ, .len = 3, .reg = 3, .gpr = VL_RSI }),
				 VL_HOOK_DONE);
		assert_true(m->cpu.gpr[VL_RSI] == 0x123000);   /* the guest sees its own CR3 */
		assert_int_equal(m->ctr->events[VL_EV_EXITS], 2);
		rig_down(&r);
	}
}

static void test_vtx_entry_failures(void **s)
{
	(void)s;
	struct { enum vmcs_slot slot; uint64_t val; const char *want; } c[] = {
		{ VMCS_SLOT_CR3_TARGET_COUNT, 9, "VMfailValid" },
		{ VMCS_SLOT_VMCS_LINK_POINTER, 0, "INVALID_STATE" },
	};
	for (size_t i = 0; i < 2; i++) {
		struct rig r;
		rig_up(&r, false, true);
		struct vmx_vcpu *vc = r.m->vmm_ctx;
		vc->vmcs.field[c[i].slot] = c[i].val;
		r.m->cpu.gpr[VL_RAX] = 0;
		assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CPUID, .len = 2 }), VL_HOOK_STOP);
		assert_int_equal(r.m->state, VL_M_ERROR);
		assert_non_null(strstr(r.m->diag, c[i].want));
		rig_down(&r);
	}
}

static void test_svm_vmrun_invalid(void **s)
{
	(void)s;
	struct rig r;
	rig_up(&r, true, true);
	struct svm_vcpu *v = r.m->vmm_ctx;
	vmcb_set(r.m, v->vmcb, VMCB_GUEST_ASID, 4, 0);
	r.m->cpu.gpr[VL_RAX] = 0;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CPUID, .len = 2 }), VL_HOOK_STOP);
	assert_int_equal(r.m->state, VL_M_ERROR);
	assert_non_null(strstr(r.m->diag, "VMEXIT_INVALID"));
	assert_true(vmcb_get(r.m, v->vmcb, VMCB_EXITCODE, 8) == ~0ull);
	rig_down(&r);
}

static void test_check_refusals(void **s)
{
	(void)s;
	struct vl_profile p;
	char why[256];
	vl_test_profile(&p);
	p.features_ept = false;
	assert_int_equal(vl_engine_vtx.check(&p, VL_MMU_NESTED, why, sizeof why), -1);
	assert_non_null(strstr(why, "no EPT"));
	assert_int_equal(vl_engine_vtx.check(&p, VL_MMU_SHADOW, why, sizeof why), 0);
	assert_int_equal(vl_engine_svm.check(&p, VL_MMU_SHADOW, why, sizeof why), -1);   /* Intel CPU */
	vl_test_profile_amd(&p);
	assert_int_equal(vl_engine_vtx.check(&p, VL_MMU_SHADOW, why, sizeof why), -1);
	assert_int_equal(vl_engine_svm.check(&p, VL_MMU_NESTED, why, sizeof why), 0);
	p.features_npt = false;
	assert_int_equal(vl_engine_svm.check(&p, VL_MMU_NESTED, why, sizeof why), -1);
	assert_non_null(strstr(why, "no NPT"));
	assert_int_equal(vl_engine_svm.check(&p, VL_MMU_DIRECT, why, sizeof why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_refusals),
		cmocka_unit_test(test_cpuid_exit),
		cmocka_unit_test(test_io_exit),
		cmocka_unit_test(test_cr8),
		cmocka_unit_test(test_cr3_shadow),
		cmocka_unit_test(test_vtx_entry_failures),
		cmocka_unit_test(test_svm_vmrun_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
