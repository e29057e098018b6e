/* test_shadow_vmm.c — the shadow MMU under the real vtx and svm VMMs,
 * driven through the machine's hook points (vmm->exception for #PF,
 * vmm->intercept for MOV CR and INVLPG) as the interpreter calls them:
 * the hardware root in GUEST_CR3 / VMCB CR3 is the shadow root, the
 * hardware CR0 keeps WP while the guest's view (CR0 read shadow) does not,
 * a hidden fault is one #PF exit and nothing injected, a traced page-table
 * write is emulated with RIP written back into the VMCS/VMCB, MOV to/from
 * CR3 switch roots and show the guest its own CR3, INVLPG reaches the
 * engine, and a true fault is injected with CR2 and delivered through
 * the guest's IDT with the guest's error code. Runs the real CPU half
 * (vl_emulate_one, exception delivery). */
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
#include "../support/mini_elf.h"
#include "../support/test_profile.h"
#include "../../mmu/shadow/shadow.h"
#include "../../engines/vtx/vmx_hw.h"
#include "../../engines/svm/svm_hw.h"

extern const struct vl_engine_ops vl_engine_vtx, vl_engine_svm;

#define CODE_PA 0x200000ull   /* mov %rax,(%rdi); hlt */
#define IDT_PA  0x9000ull

static size_t make_elf(uint8_t *buf)
{
	static const uint8_t code[] = { 0x48, 0x89, 0x07, 0xf4 };
	return vl_test_mini_elf(buf, CODE_PA, code, sizeof code, PF_R | PF_X);
}

struct rig { struct vl_profile p; struct vl_machine *m; void *ctx; const struct vl_engine_ops *e; bool amd; };

static void rig_up(struct rig *r, bool amd)
{
	char err[256] = "";
	uint8_t img[512];
	memset(r, 0, sizeof *r);
	if (amd) vl_test_profile_amd(&r->p); else vl_test_profile(&r->p);
	r->amd = amd;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 16, .monitor_mb = 4 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	size_t n = make_elf(img);
	assert_int_equal(vl_machine_load_elf_mem(r->m, img, n, "", err, sizeof err), 0);
	/* an IDT at 0x9000 whose #PF gate (64-bit interrupt gate, CS 0x08)
	 * points at the hlt after the mov */
	uint64_t h = CODE_PA + 3;
	vl_phys_write64(r->m, IDT_PA + VL_PF * 16, (h & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((h >> 16 & 0xffff) << 48));
	vl_phys_write64(r->m, IDT_PA + VL_PF * 16 + 8, h >> 32);
	r->m->cpu.idtr.base = IDT_PA;
	r->m->cpu.idtr.limit = 0xfff;
	r->e = amd ? &vl_engine_svm : &vl_engine_vtx;
	assert_int_equal(r->e->check(&r->p, VL_MMU_SHADOW, err, sizeof err), 0);
	int rc = r->e->attach(r->m, &vl_mmu_shadow, &r->ctx, err, sizeof err);
	if (rc) print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
	memset(r->m->region, 0, sizeof r->m->region);
}

static void rig_down(struct rig *r)
{
	r->e->detach(r->m, r->ctx);
	vl_machine_free(r->m);
}

static uint64_t hw_cr3(struct rig *r)
{
	if (r->amd) {
		struct svm_vcpu *v = r->m->vmm_ctx;
		return vmcb_get(r->m, v->vmcb, VMCB_CR3, 8);
	}
	return ((struct vmx_vcpu *)r->m->vmm_ctx)->vmcs.field[VMCS_SLOT_GUEST_CR3];
}
static uint64_t hw_cr0(struct rig *r)
{
	if (r->amd) {
		struct svm_vcpu *v = r->m->vmm_ctx;
		return vmcb_get(r->m, v->vmcb, VMCB_CR0, 8);
	}
	return ((struct vmx_vcpu *)r->m->vmm_ctx)->vmcs.field[VMCS_SLOT_GUEST_CR0];
}

static uint64_t exits_named(struct vl_machine *m, const char *name)
{
	for (size_t i = 0; i < m->exit_table_len; i++)
		if (!strcmp(m->exit_table[i].name, name))
			return m->ctr->exit_count[i];
	return 0;
}

/* What the CPU does on a guest access: through the TLB/shadow; a #PF is
 * offered to the VMM's exception hook (a #PF exit). Returns the hook's rc,
 * or -1 when the access succeeded without a fault. */
static int access(struct rig *r, uint64_t va, unsigned acc, uint64_t *val)
{
	struct vl_machine *m = r->m;
	uint32_t pfec = 0;
	int rc = (acc & VL_ACC_W) ? vl_virt_write(m, va, val, 8, acc, &pfec) : vl_virt_read(m, va, val, 8, acc, &pfec);
	if (rc == 0)
		return -1;
	assert_int_equal(rc, VL_PF);
	return m->vmm->exception(m, m->vmm_ctx, VL_PF, true, pfec, va);
}

static int hook(struct rig *r, struct vl_sens_event ev)
{
	ev.insn_rip = r->m->cpu.rip;
	return r->m->vmm->intercept(r->m, r->m->vmm_ctx, &ev);
}

static void shadow_case(bool amd)
{
	struct rig r;
	rig_up(&r, amd);
	struct vl_machine *m = r.m;
	const char *pf = amd ? "VMEXIT_EXCP_PF" : "EXCEPTION_NMI";
	uint64_t v = 0;

	/* the hardware root is a shadow root in monitor memory, in the VMCS/VMCB too */
	assert_true(m->cpu.cr3 >= m->ram_size);
	assert_true(hw_cr3(&r) == m->cpu.cr3);
	/* the loader starts the guest with CR0.WP clear; the hardware runs with WP */
	assert_true(hw_cr0(&r) & VL_CR0_WP);
	assert_true(m->cpu.cr0 & VL_CR0_WP);
	if (!amd)
		assert_false(((struct vmx_vcpu *)m->vmm_ctx)->vmcs.field[VMCS_SLOT_CR0_READ_SHADOW] & VL_CR0_WP);

	/* hidden fault: one #PF exit, nothing injected, then the access works */
	vl_phys_write64(m, 0x400000, 0x4444);
	vl_phys_write64(m, 0x600000, 0x6666);
	assert_int_equal(access(&r, 0x400000, VL_ACC_R, &v), VL_HOOK_DONE);
	assert_int_equal(access(&r, 0x400000, VL_ACC_R, &v), -1);
	assert_true(v == 0x4444);
	assert_int_equal(exits_named(m, pf), 1);
	assert_int_equal(m->ctr->events[VL_EV_HIDDEN_FAULTS], 1);
	assert_int_equal(m->ctr->events[VL_EV_INJECTIONS], 0);
	assert_true(m->ctr->cycles[VL_CAT_VMM] >= r.p.vmm_exception + r.p.mmu_shadow_pf);

	/* a traced write: the guest rewrites PDE 2 of the loader's PD (0x3000)
	 * through the identity map, with mov %rax,(%rdi) at CODE_PA */
	m->cpu.rip = CODE_PA;
	m->cpu.gpr[VL_RDI] = 0x3000 + 2 * 8;
	m->cpu.gpr[VL_RAX] = 0x600000 | 0xa3;   /* P|RW|A|PS: 2M at 6 MiB */
	uint64_t newpde = m->cpu.gpr[VL_RAX];
	/* first the code page and the PD's page get into the shadow (read/fetch) */
	assert_int_equal(access(&r, CODE_PA, VL_ACC_X, &v), VL_HOOK_DONE);
	int rc = access(&r, 0x3000 + 2 * 8, VL_ACC_W, &newpde);
	assert_int_equal(rc, VL_HOOK_DONE);
	assert_true(m->cpu.rip == CODE_PA + 3);   /* the VMM wrote the emulator's RIP back: survives VM entry */
	assert_true(vl_phys_read64(m, 0x3000 + 2 * 8) == (0x600000 | 0xa3));
	assert_int_equal(m->ctr->events[VL_EV_TRACE_FAULTS], 1);
	assert_int_equal(access(&r, 0x400000, VL_ACC_R, &v), VL_HOOK_DONE);   /* the link was dropped: refill */
	assert_int_equal(access(&r, 0x400000, VL_ACC_R, &v), -1);
	assert_true(v == 0x6666);                                              /* the shadow follows the guest */
	assert_int_equal(m->ctr->events[VL_EV_INJECTIONS], 0);

	/* MOV to CR3: a new address space (a copy of the boot PML4): a root-cache miss */
	for (int i = 0; i < 512; i++)
		vl_phys_write64(m, 0x8000 + i * 8, vl_phys_read64(m, 0x1000 + i * 8));
	m->cpu.gpr[VL_RBX] = 0x8000;
	uint64_t old_root = m->cpu.cr3;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 3, .write = 1, .reg = 3,
						  .gpr = VL_RBX, .value = 0x8000 }), VL_HOOK_DONE);
	assert_true(m->cpu.cr3 != old_root && m->cpu.cr3 >= m->ram_size);
	assert_true(hw_cr3(&r) == m->cpu.cr3);
	assert_int_equal(m->ctr->events[VL_EV_CR3_CACHE_MISSES], 1);
	m->cpu.gpr[VL_RSI] = 0;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_READ, .len = 3, .reg = 3, .gpr = VL_RSI }),
			 VL_HOOK_DONE);
	assert_true(m->cpu.gpr[VL_RSI] == 0x8000);   /* the guest sees its own CR3 */
	m->cpu.gpr[VL_RBX] = 0x1000;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 3, .write = 1, .reg = 3,
						  .gpr = VL_RBX, .value = 0x1000 }), VL_HOOK_DONE);
	assert_true(m->cpu.cr3 == old_root);
	assert_int_equal(m->ctr->events[VL_EV_CR3_CACHE_HITS], 1);

	/* MOV to CR0 setting then clearing WP: the hardware keeps WP either way */
	uint64_t cr0 = VL_CR0_PE | VL_CR0_PG | (1ull << 4);
	m->cpu.gpr[VL_RCX] = cr0 | VL_CR0_WP;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 3, .write = 1, .reg = 0,
						  .gpr = VL_RCX, .value = cr0 | VL_CR0_WP }), VL_HOOK_DONE);
	assert_true(hw_cr0(&r) & VL_CR0_WP);
	m->cpu.gpr[VL_RCX] = cr0;
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_CR_WRITE, .len = 3, .write = 1, .reg = 0,
						  .gpr = VL_RCX, .value = cr0 }), VL_HOOK_DONE);
	assert_true(hw_cr0(&r) & VL_CR0_WP);
	assert_true(m->cpu.cr0 & VL_CR0_WP);
	if (!amd)
		assert_false(((struct vmx_vcpu *)m->vmm_ctx)->vmcs.field[VMCS_SLOT_CR0_READ_SHADOW] & VL_CR0_WP);

	/* INVLPG reaches the engine: the shadow leaf is dropped, the next access refaults */
	uint64_t hidden = m->ctr->events[VL_EV_HIDDEN_FAULTS];
	assert_int_equal(hook(&r, (struct vl_sens_event){ .cls = VL_SENS_INVLPG, .len = 3, .addr = 0x400000 }), VL_HOOK_DONE);
	assert_int_equal(m->ctr->events[VL_EV_INVLPGS], 1);
	assert_int_equal(access(&r, 0x400000, VL_ACC_R, &v), VL_HOOK_DONE);
	assert_int_equal(m->ctr->events[VL_EV_HIDDEN_FAULTS], hidden + 1);

	/* a true fault (nothing mapped): injected as #PF with CR2 = the address,
	 * delivered through the guest IDT with error code 0 on the stack. The
	 * IDT and stack pages are in the shadow first (their own hidden faults). */
	assert_int_equal(access(&r, IDT_PA, VL_ACC_R, &v), VL_HOOK_DONE);
	v = 0;
	assert_int_equal(access(&r, VL_BOOT_STACK_TOP - 8, VL_ACC_W, &v), VL_HOOK_DONE);
	assert_int_equal(access(&r, VL_BOOT_STACK_TOP - 8, VL_ACC_W, &v), -1);
	const uint64_t bad = 0x0000700000000000ull;
	m->cpu.rip = CODE_PA;
	m->cpu.gpr[VL_RSP] = VL_BOOT_STACK_TOP;
	uint64_t inj = m->ctr->events[VL_EV_INJECTIONS];
	assert_int_equal(access(&r, bad, VL_ACC_R, &v), VL_HOOK_DONE);
	assert_int_equal(m->state, VL_M_RUNNING);
	assert_int_equal(m->ctr->events[VL_EV_INJECTIONS], inj + 1);
	assert_true(m->cpu.cr2 == bad);
	assert_true(m->cpu.rip == CODE_PA + 3);                  /* in the guest's #PF handler */
	assert_true(m->cpu.gpr[VL_RSP] == VL_BOOT_STACK_TOP - 48);
	uint32_t pfec = 0;
	assert_int_equal(vl_virt_read(m, m->cpu.gpr[VL_RSP], &v, 8, VL_ACC_R, &pfec), 0);
	assert_int_equal(v, 0);                                   /* error code: not present, read, supervisor */
	assert_int_equal(vl_virt_read(m, m->cpu.gpr[VL_RSP] + 8, &v, 8, VL_ACC_R, &pfec), 0);
	assert_true(v == CODE_PA);                                /* the faulting RIP */
	rig_down(&r);
}

static void test_vtx_shadow(void **s) { (void)s; shadow_case(false); }
static void test_svm_shadow(void **s) { (void)s; shadow_case(true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vtx_shadow),
		cmocka_unit_test(test_svm_shadow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
