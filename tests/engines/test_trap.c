/* test_trap.c — the deprivileged-kernel runtime (engines/hv/vcpu.c) and the
 * trap engine (engines/trap) on small guests under the real machine:
 *   - virtual delivery through the guest's IDT: the frame's layout and
 *     guest-visible values from CPL 1 (virtual 0) and from CPL 3, RSP0 and
 *     IST stacks, error codes incl. the EXT bit and gate faults, INT n gate
 *     DPL, #DF and the triple fault, IRETQ back;
 *   - an interrupt held while the virtual IF is 0 and delivered after an
 *     emulated STI and its one-instruction shadow;
 *   - privileged instructions at ring 1 trapping and being emulated, with
 *     their exact profile costs;
 *   - each sensitive-but-unprivileged class detected, counted by class, and
 *     the first named in the verdict; a clean guest gets no verdict. */
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
#include "../../engines/hv/vcpu.h"

extern const struct vl_engine_ops vl_engine_trap;

#define CODE_PA  0x200000ull
#define HANDLER  (CODE_PA + 0x800)   /* every gate's target: jmp . */
#define IDT_PA   0x9000ull
#define GDT_PA   0xa000ull
#define TSS_PA   0xb000ull
#define RSP0     0x70000ull
#define IST1     0x60000ull
#define KSTACK   0x80000ull
#define SCRATCH  0x7f000ull
#define UNMAPPED 0x80000000ull       /* beyond the loader's 1 GiB identity map */

struct rig {
	struct vl_profile p;
	struct vl_machine *m;
	void *ctx;
	struct vl_vcpu *v;
};

static void gate(struct vl_machine *m, unsigned vec, uint64_t h, unsigned type, unsigned dpl, unsigned ist, bool present)
{
	uint64_t lo = (h & 0xffff) | (0x08ull << 16) | ((uint64_t)ist << 32) | ((uint64_t)type << 40) |
		      ((uint64_t)dpl << 45) | ((uint64_t)present << 47) | (((h >> 16) & 0xffff) << 48);
	vl_phys_write64(m, IDT_PA + vec * 16ull, lo);
	vl_phys_write64(m, IDT_PA + vec * 16ull + 8, h >> 32);
}

/* Boot `code` at CODE_PA under the trap engine, with a Linux-layout GDT, a
 * TSS (RSP0, IST1) and an IDT whose gates all lead to HANDLER. */
static void rig_up(struct rig *r, const uint8_t *code, size_t len)
{
	char err[256] = "";
	uint8_t buf[0x900] = { 0 }, img[VL_MINI_ELF_SIZE(sizeof buf)];
	memset(r, 0, sizeof *r);
	vl_test_profile(&r->p);
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 16, .monitor_mb = 8 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	memcpy(buf, code, len);
	buf[0x800] = 0xeb;   /* HANDLER: jmp . */
	buf[0x801] = 0xfe;
	size_t n = vl_test_mini_elf(img, CODE_PA, buf, sizeof buf, PF_R | PF_X);
	assert_int_equal(vl_machine_load_elf_mem(r->m, img, n, "", err, sizeof err), 0);
	struct vl_machine *m = r->m;
	static const uint64_t gdt[] = {
		0, 0x00af9a000000ffffull /* 0x08 */, 0x00cf92000000ffffull /* 0x10 */,
		0x00cff2000000ffffull /* 0x18 user data */, 0x00affa000000ffffull /* 0x20 user code */,
	};
	for (size_t i = 0; i < 5; i++)
		vl_phys_write64(m, GDT_PA + 8 * i, gdt[i]);
	uint64_t tl = 103 | ((TSS_PA & 0xffffff) << 16) | (0x8bull << 40);
	vl_phys_write64(m, GDT_PA + 0x28, tl);
	vl_phys_write64(m, GDT_PA + 0x30, 0);
	vl_phys_write64(m, TSS_PA + 4, RSP0);
	vl_phys_write64(m, TSS_PA + 36, IST1);
	for (unsigned v = 0; v < 256; v++)
		gate(m, v, HANDLER, 0xe, 0, 0, true);
	gate(m, VL_DF, HANDLER, 0xe, 0, 1, true);
	gate(m, 0x40, HANDLER, 0xf, 0, 1, true);   /* trap gate on IST1 */
	gate(m, 0x80, HANDLER, 0xf, 3, 0, true);   /* INT 0x80 from user */
	gate(m, 0x21, HANDLER, 0xe, 0, 0, false);  /* not present */
	m->cpu.gdtr = (struct vl_dtr){ .base = GDT_PA, .limit = 0x37 };
	m->cpu.idtr = (struct vl_dtr){ .base = IDT_PA, .limit = 0xfff };
	m->cpu.tr = (struct vl_seg){ .sel = 0x28, .base = TSS_PA, .limit = 103, .attr = 0x8b };
	m->cpu.gpr[VL_RSP] = KSTACK;
	m->cpu.gpr[VL_RDI] = SCRATCH;
	assert_int_equal(vl_engine_trap.check(&r->p, VL_MMU_SHADOW, err, sizeof err), 0);
	int rc = vl_engine_trap.attach(m, &vl_mmu_shadow, &r->ctx, err, sizeof err);
	if (rc)
		print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
	r->v = r->ctx;   /* struct vl_vcpu is the trap VMM's first member */
	memset(m->region, 0, sizeof m->region);
}

static void rig_down(struct rig *r)
{
	vl_engine_trap.detach(r->m, r->ctx);
	vl_machine_free(r->m);
}

static uint64_t rd(struct rig *r, uint64_t pa) { return vl_phys_read64(r->m, pa); }
static uint64_t ev(struct rig *r, enum vl_event e) { return r->m->region[0].events[e]; }

static const uint8_t NOP[] = { 0x90 };

/* ---- delivery ------------------------------------------------------------------ */
static void test_deprivileged_boot(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	assert_int_equal(c->cpl, 1);
	assert_int_equal(c->seg[VL_CS].sel, 0x09);
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_CS), 0x08);
	assert_int_equal(vl_vcpu_cpl(r.v), 0);
	assert_int_equal(c->gdtr.base, VL_VCPU_MON_GDT);
	assert_int_equal(c->idtr.base, VL_VCPU_MON_IDT);
	assert_int_equal(c->tr.sel, VL_VCPU_MON_TSS_SEL);
	assert_int_equal(r.v->cr0, VL_CR0_PE | (1ull << 4) | VL_CR0_PG);    /* the guest's: the loader's, no WP ... */
	assert_true(c->cr0 & VL_CR0_WP);                                   /* ... the hardware's has WP (shadow) */
	assert_int_equal(r.v->gdtr.base, GDT_PA);
	assert_int_equal(r.v->tr.sel, 0x28);
	assert_true(c->rflags & VL_FL_IF);                 /* real IF 1 ... */
	assert_false(vl_vcpu_guest_rflags(r.v) & VL_FL_IF); /* ... the guest's 0, as the loader left it */
	assert_int_equal((c->rflags >> 12) & 3, 0);
	rig_down(&r);
}

static void test_frame_from_kernel(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	c->gpr[VL_RSP] = KSTACK + 8;   /* aligned down to 16 by the delivery */
	assert_int_equal(vl_vcpu_deliver(r.v, VL_GP, VL_VCPU_EXC, true, 0x1234, 0, 0), VL_HOOK_DONE);
	assert_int_equal(c->rip, HANDLER);
	assert_int_equal(c->gpr[VL_RSP], KSTACK - 48);
	uint64_t f = KSTACK - 48;
	assert_int_equal(rd(&r, f), 0x1234);               /* error code */
	assert_int_equal(rd(&r, f + 8), CODE_PA);          /* RIP of the faulting instruction */
	assert_int_equal(rd(&r, f + 16), 0x08);            /* guest-visible CS: RPL 0 */
	assert_int_equal(rd(&r, f + 24) & (VL_FL_IF | VL_FL_IOPL | 2), 2);   /* virtual IF 0, IOPL 0 */
	assert_int_equal(rd(&r, f + 32), KSTACK + 8);
	assert_int_equal(rd(&r, f + 40), 0x10);            /* guest-visible SS: RPL 0 */
	assert_int_equal(c->seg[VL_CS].sel, 0x09);
	assert_int_equal(c->cpl, 1);
	assert_int_equal(ev(&r, VL_EV_EXCEPTIONS), 1);
	assert_int_equal(ev(&r, VL_EV_PRIV_TRANSITIONS), 0);
	/* warm (the shadow MMU filled the stack and IDT pages): exactly the reflection's cost */
	uint64_t vmm0 = r.m->region[0].cycles[VL_CAT_VMM];
	c->rip = CODE_PA;
	c->gpr[VL_RSP] = KSTACK + 8;
	assert_int_equal(vl_vcpu_deliver(r.v, VL_GP, VL_VCPU_EXC, true, 0x1234, 0, 0), VL_HOOK_DONE);
	assert_int_equal(r.m->region[0].cycles[VL_CAT_VMM] - vmm0, r.p.vmm_exception);

	/* IRETQ back (the handler dropped the error code): virtual, from the RPL 0 frame */
	c->gpr[VL_RSP] += 8;
	assert_int_equal(vl_vcpu_iret(r.v), VL_HOOK_DONE);
	assert_int_equal(c->rip, CODE_PA);
	assert_int_equal(c->gpr[VL_RSP], KSTACK + 8);
	assert_int_equal(c->seg[VL_CS].sel, 0x09);
	assert_int_equal(c->seg[VL_SS].sel, 0x11);
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_SS), 0x10);
	rig_down(&r);
}

static void to_user(struct rig *r, uint64_t rip, uint64_t rsp)
{
	struct vl_cpu *c = &r->m->cpu;
	c->cpl = 3;
	c->seg[VL_CS] = (struct vl_seg){ .sel = 0x23, .limit = 0xffffffff, .attr = 0xa0fb };
	c->seg[VL_SS] = (struct vl_seg){ .sel = 0x1b, .limit = 0xffffffff, .attr = 0xc0f3 };
	c->rflags = 0x202 | VL_FL_CF;
	c->rip = rip;
	c->gpr[VL_RSP] = rsp;
}

static void test_frame_from_user(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	to_user(&r, 0x400123, 0x5008);
	assert_int_equal(vl_vcpu_deliver(r.v, VL_PF, VL_VCPU_EXC, true, 6, 0xdead000, 0), VL_HOOK_DONE);
	uint64_t f = RSP0 - 48;                            /* the guest TSS's RSP0 */
	assert_int_equal(c->gpr[VL_RSP], f);
	assert_int_equal(rd(&r, f), 6);
	assert_int_equal(rd(&r, f + 8), 0x400123);
	assert_int_equal(rd(&r, f + 16), 0x23);
	assert_int_equal(rd(&r, f + 24), 0x202 | VL_FL_CF | VL_FL_RF);   /* a fault: RF set, as the hardware pushes it */
	assert_int_equal(rd(&r, f + 32), 0x5008);
	assert_int_equal(rd(&r, f + 40), 0x1b);
	assert_int_equal(r.v->cr2, 0xdead000);             /* virtual CR2 */
	assert_int_equal(c->cpl, 1);
	assert_int_equal(c->seg[VL_SS].sel, 1);            /* null SS, RPL 1 ... */
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_SS), 0); /* ... the guest sees the null selector */
	assert_false(vl_vcpu_guest_rflags(r.v) & VL_FL_IF); /* interrupt gate */
	assert_true(c->rflags & VL_FL_IF);
	assert_int_equal(ev(&r, VL_EV_PAGE_FAULTS), 1);
	assert_int_equal(ev(&r, VL_EV_PRIV_TRANSITIONS), 1);

	/* the return to user: IRETQ from the RPL 3 frame */
	c->gpr[VL_RSP] += 8;
	assert_int_equal(vl_vcpu_iret(r.v), VL_HOOK_DONE);
	assert_int_equal(c->cpl, 3);
	assert_int_equal(c->rip, 0x400123);
	assert_int_equal(c->seg[VL_CS].sel, 0x23);
	assert_int_equal(c->rflags, 0x202 | VL_FL_CF | VL_FL_RF);   /* IRETQ loads RF from the image */
	rig_down(&r);
}

static void test_ist_and_trap_gate(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	vl_vcpu_set_vif(r.v, true, false);
	assert_int_equal(vl_vcpu_deliver(r.v, 0x40, VL_VCPU_INTR, false, 0, 0, 0), VL_HOOK_DONE);
	assert_int_equal(c->gpr[VL_RSP], IST1 - 40);       /* IST1, even without a privilege change; no error code */
	assert_int_equal(rd(&r, IST1 - 40), CODE_PA);
	assert_int_equal(rd(&r, IST1 - 8), 0x10);
	assert_true(vl_vcpu_guest_rflags(r.v) & VL_FL_IF); /* trap gate: IF kept */
	assert_int_equal(ev(&r, VL_EV_INTERRUPTS), 1);
	uint64_t vmm0 = r.m->region[0].cycles[VL_CAT_VMM];
	c->rip = CODE_PA;
	c->gpr[VL_RSP] = KSTACK;
	vl_vcpu_set_vif(r.v, true, false);
	assert_int_equal(vl_vcpu_deliver(r.v, 0x40, VL_VCPU_INTR, false, 0, 0, 0), VL_HOOK_DONE);
	assert_int_equal(r.m->region[0].cycles[VL_CAT_VMM] - vmm0, r.p.vmm_intr);
	rig_down(&r);
}

static void test_error_codes(void **state)
{
	struct rig r;
	struct vl_cpu *c;
	/* #DE: no error code, a 5-word frame */
	rig_up(&r, NOP, 1);
	c = &r.m->cpu;
	assert_int_equal(vl_vcpu_deliver(r.v, VL_DE, VL_VCPU_EXC, false, 0, 0, 0), VL_HOOK_DONE);
	assert_int_equal(c->gpr[VL_RSP], KSTACK - 40);
	assert_int_equal(rd(&r, KSTACK - 40), CODE_PA);
	rig_down(&r);
	/* an external interrupt through a not-present gate: #NP(vector*8 + IDT + EXT) */
	rig_up(&r, NOP, 1);
	c = &r.m->cpu;
	assert_int_equal(vl_vcpu_deliver(r.v, 0x21, VL_VCPU_INTR, false, 0, 0, 0), VL_HOOK_DONE);
	assert_int_equal(rd(&r, c->gpr[VL_RSP]), 0x21 * 8 + 2 + 1);
	assert_int_equal(ev(&r, VL_EV_EXCEPTIONS), 1);
	assert_int_equal(ev(&r, VL_EV_INTERRUPTS), 0);
	rig_down(&r);
	/* INT 0x40 from user through a DPL 0 gate: #GP(vector*8 + IDT), no EXT */
	rig_up(&r, NOP, 1);
	c = &r.m->cpu;
	to_user(&r, 0x400000, 0x5000);
	assert_int_equal(vl_vcpu_deliver(r.v, 0x40, VL_VCPU_SOFT, false, 0, 0, 2), VL_HOOK_DONE);
	assert_int_equal(c->gpr[VL_RSP], RSP0 - 48);
	assert_int_equal(rd(&r, RSP0 - 48), 0x40 * 8 + 2);
	assert_int_equal(rd(&r, RSP0 - 40), 0x400000);     /* a fault: RIP of the INT */
	rig_down(&r);
	/* INT 0x80 from user through its DPL 3 gate: RIP + length pushed */
	rig_up(&r, NOP, 1);
	c = &r.m->cpu;
	to_user(&r, 0x400000, 0x5000);
	assert_int_equal(vl_vcpu_deliver(r.v, 0x80, VL_VCPU_SOFT, false, 0, 0, 2), VL_HOOK_DONE);
	assert_int_equal(c->gpr[VL_RSP], RSP0 - 40);
	assert_int_equal(rd(&r, RSP0 - 40), 0x400002);
	rig_down(&r);
}

static void test_double_and_triple_fault(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	/* #PF from user with RSP0 unmapped: the frame write faults -> #DF on IST1 */
	vl_phys_write64(r.m, TSS_PA + 4, UNMAPPED);
	to_user(&r, 0x400000, 0x5000);
	assert_int_equal(vl_vcpu_deliver(r.v, VL_PF, VL_VCPU_EXC, true, 4, 0x1000, 0), VL_HOOK_DONE);
	assert_int_equal(c->gpr[VL_RSP], IST1 - 48);
	assert_int_equal(rd(&r, IST1 - 48), 0);             /* #DF's error code */
	assert_int_equal(rd(&r, IST1 - 32), 0x23);          /* taken from user */
	assert_int_equal(r.m->state, VL_M_RUNNING);
	rig_down(&r);
	/* ... and with IST1 unmapped too: a triple fault stops the machine */
	rig_up(&r, NOP, 1);
	vl_phys_write64(r.m, TSS_PA + 4, UNMAPPED);
	vl_phys_write64(r.m, TSS_PA + 36, UNMAPPED);
	to_user(&r, 0x400000, 0x5000);
	assert_int_equal(vl_vcpu_deliver(r.v, VL_PF, VL_VCPU_EXC, true, 4, 0x1000, 0), VL_HOOK_STOP);
	assert_int_equal(r.m->state, VL_M_TRIPLE_FAULT);
	rig_down(&r);
}

/* ---- the interrupt hold ----------------------------------------------------------- */
static void test_held_interrupt_delivered_after_sti(void **state)
{
	/* 64 NOPs (the timer expires among them, virtual IF 0: held), STI
	 * (#GP at ring 1, emulated: virtual IF 1), one NOP (STI's shadow), jmp . */
	uint8_t code[128];
	size_t n = 0;
	for (int i = 0; i < 64; i++)
		code[n++] = 0x90;
	size_t sti = n;
	code[n++] = 0xfb;
	code[n++] = 0x90;
	size_t loop = n;
	code[n++] = 0xeb;
	code[n++] = 0xfe;
	struct rig r;
	rig_up(&r, code, n);
	struct vl_machine *m = r.m;
	assert_int_equal(vl_msr_write(m, VL_MSR_APIC_BASE, 0xfee00000ull | (1ull << 11) | (1ull << 10)), 0);
	assert_int_equal(vl_apic_wrmsr(m, 0x80f, 0x1ff), 0);   /* SVR: enabled */
	assert_int_equal(vl_apic_wrmsr(m, 0x83e, 0xb), 0);     /* divide by 1 */
	assert_int_equal(vl_apic_wrmsr(m, 0x832, 0x30), 0);    /* one-shot, vector 0x30 */
	assert_int_equal(vl_apic_wrmsr(m, 0x838, 20), 0);      /* expires within the NOPs */
	m->max_insns = 200;
	vl_machine_run(m);
	assert_int_equal(m->state, VL_M_TIMEOUT);
	assert_int_equal(m->cpu.rip, HANDLER);
	assert_int_equal(ev(&r, VL_EV_INTERRUPTS), 1);
	/* the frame: interrupted after STI and the NOP in its shadow, with IF 1 */
	uint64_t f = m->cpu.gpr[VL_RSP];
	assert_int_equal(rd(&r, f), CODE_PA + loop);
	assert_true(rd(&r, f + 16) & VL_FL_IF);
	/* two VMM entries for it: held, then delivered */
	assert_int_equal(m->region[0].exit_count[13 /* INTERRUPT */], 2);
	assert_string_equal(m->exit_table[13].name, "INTERRUPT");
	assert_true(r.v->emulated >= 1);
	(void)sti;
	rig_down(&r);
}

/* ---- trap-and-emulate: privileged instructions and their costs ---------------------- */
static void test_privileged_trap_and_cost(void **state)
{
	/* out %al,$0x80; mov %cr3,%rax; jmp . */
	static const uint8_t code[] = { 0xe6, 0x80, 0x0f, 0x20, 0xd8, 0xeb, 0xfe };
	struct rig r;
	rig_up(&r, code, sizeof code);
	struct vl_machine *m = r.m;
	uint64_t gcr3 = r.v->mmu->cr3_read(m, r.v->mmu_ctx);
	/* warm the shadow for the code page first: the OUT's cost alone after */
	uint8_t b;
	uint32_t pfec;
	while (vl_virt_read(m, CODE_PA, &b, 1, VL_ACC_R, &pfec) == VL_PF)
		assert_int_equal(r.v->mmu->page_fault(m, r.v->mmu_ctx, CODE_PA, &pfec, NULL), VL_HOOK_DONE);
	memset(m->region, 0, sizeof m->region);
	m->max_insns = 1;                     /* the OUT, emulated: retires one instruction */
	vl_machine_run(m);
	assert_int_equal(m->state, VL_M_TIMEOUT);
	assert_int_equal(m->cpu.rip, CODE_PA + 2);
	assert_int_equal(m->region[0].exit_count[1 /* GP_IO */], 1);
	assert_int_equal(m->region[0].cycles[VL_CAT_EXIT], r.p.exception_delivery + r.p.insn_iret);
	assert_int_equal(m->region[0].cycles[VL_CAT_VMM], r.p.vmm_exit_dispatch + r.p.vmm_emulate + r.p.vmm_io);
	assert_int_equal(ev(&r, VL_EV_IO_INSNS), 1);
	assert_int_equal(ev(&r, VL_EV_GUEST_INSNS), 1);
	m->state = VL_M_RUNNING;
	m->max_insns = 2;
	vl_machine_run(m);
	assert_int_equal(m->cpu.rip, CODE_PA + 5);
	assert_int_equal(m->cpu.gpr[VL_RAX], gcr3);          /* the guest's CR3, not the shadow root */
	assert_int_not_equal(m->cpu.cr3 & VL_PTE_ADDR, gcr3 & VL_PTE_ADDR);
	assert_int_equal(m->region[0].exit_count[0 /* GP_CR_ACCESS */], 1);
	rig_down(&r);
}

/* The OUT that ends the run (exit device) retires, as natively: the
 * emulation stops the machine, and the instruction still counts (it was
 * dropped: one guest instruction short of native on every run that ends
 * through an emulated OUT, trap and pv alike). */
static void test_exit_out_retires(void **state)
{
	/* mov $7,%al; out %al,$0xf4 */
	static const uint8_t code[] = { 0xb0, 0x07, 0xe6, 0xf4 };
	struct rig r;
	rig_up(&r, code, sizeof code);
	r.m->max_insns = 100;
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_EXITED);
	assert_int_equal(r.m->exit_code, 7);
	assert_int_equal(ev(&r, VL_EV_GUEST_INSNS), 2);
	assert_int_equal(r.m->insns, 2);
	rig_down(&r);
}

/* ---- redirections --------------------------------------------------------------- */
static void test_syscall_swapgs_sysret(void **state)
{
	struct rig r;
	rig_up(&r, NOP, 1);
	struct vl_cpu *c = &r.m->cpu;
	r.v->star = (0x10ull << 48) | (0x08ull << 32);
	r.v->lstar = CODE_PA + 0x400;
	r.v->sfmask = VL_FL_IF | VL_FL_DF;
	r.v->kernel_gs_base = 0x1111000;
	c->seg[VL_GS].base = 0x2222000;
	to_user(&r, 0x400100, 0x5000);
	c->rflags |= VL_FL_DF;
	assert_int_equal(vl_vcpu_syscall(r.v, 2), VL_HOOK_DONE);
	assert_int_equal(c->rip, CODE_PA + 0x400);                   /* the guest's LSTAR */
	assert_int_equal(c->gpr[VL_RCX], 0x400102);
	assert_int_equal(c->gpr[VL_R11], 0x202 | VL_FL_CF | VL_FL_DF);
	assert_int_equal(c->cpl, 1);
	assert_int_equal(c->seg[VL_CS].sel, 0x09);
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_CS), 0x08);
	assert_int_equal(c->seg[VL_SS].sel, 0x11);
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_SS), 0x10);
	assert_false(vl_vcpu_guest_rflags(r.v) & (VL_FL_IF | VL_FL_DF)); /* SFMASK on the virtual flags */
	assert_true(c->rflags & VL_FL_IF);                          /* the hardware's IF stays 1 */
	/* SWAPGS (#GP at ring 1): the real GS base and the virtual KERNEL_GS_BASE */
	assert_int_equal(vl_vcpu_swapgs(r.v, 3), VL_HOOK_DONE);
	assert_int_equal(c->seg[VL_GS].base, 0x1111000);
	assert_int_equal(r.v->kernel_gs_base, 0x2222000);
	assert_int_equal(c->rip, CODE_PA + 0x403);
	/* SYSRETQ (#GP at ring 1) back to user with R11's flags */
	c->gpr[VL_RCX] = 0x400102;
	assert_int_equal(vl_vcpu_sysret(r.v), VL_HOOK_DONE);
	assert_int_equal(c->cpl, 3);
	assert_int_equal(c->rip, 0x400102);
	assert_int_equal(c->seg[VL_CS].sel, 0x23);
	assert_int_equal(c->seg[VL_SS].sel, 0x1b);
	assert_int_equal(c->rflags, 0x202 | VL_FL_CF | VL_FL_DF);
	assert_int_equal(ev(&r, VL_EV_PRIV_TRANSITIONS), 2);
	rig_down(&r);
}

/* LGDT at ring 1 (#GP, emulated): the shadow GDT gets the new table with
 * DPL 0 code/data at DPL 1; MOV SS with the RPL 0 selector (#GP) loads the
 * RPL 1 copy; an emulated WRMSR that raises #GP is delivered, not retired. */
static void test_lgdt_mov_ss_and_faulting_wrmsr(void **state)
{
	/* lgdt (%rdi); mov $0x10,%eax; mov %eax,%ss; mov $0x12345,%ecx; wrmsr; jmp . */
	static const uint8_t code[] = { 0x0f, 0x01, 0x17, 0xb8, 0x10, 0, 0, 0, 0x8e, 0xd0,
					0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x30, 0xeb, 0xfe };
	struct rig r;
	rig_up(&r, code, sizeof code);
	struct vl_machine *m = r.m;
	/* the new GDT at 0xc000: null, code 0x08, data 0x10 */
	vl_phys_write64(m, 0xc000, 0);
	vl_phys_write64(m, 0xc008, 0x00af9a000000ffffull);
	vl_phys_write64(m, 0xc010, 0x00cf92000000ffffull);
	uint8_t d[10] = { 0x17, 0 };
	uint64_t base = 0xc000;
	memcpy(d + 2, &base, 8);
	vl_phys_write(m, SCRATCH, d, sizeof d);
	m->max_insns = 200;
	vl_machine_run(m);
	assert_int_equal(r.v->gdtr.base, 0xc000);
	assert_int_equal(r.v->gdtr.limit, 0x17);
	assert_int_equal(m->cpu.gdtr.base, VL_VCPU_MON_GDT);                          /* the hardware's stays the monitor's */
	uint64_t lo = vl_phys_read64(m, r.v->gdt_pa + 0x10);
	assert_int_equal((lo >> 45) & 3, 1);                                          /* DPL 0 -> 1 in the shadow */
	assert_int_equal(lo & ~(3ull << 45), 0x00cf92000000ffffull);
	assert_int_equal(m->cpu.seg[VL_SS].sel, 0x11);
	assert_int_equal((m->cpu.seg[VL_SS].attr >> 5) & 3, 1);
	assert_int_equal(vl_vcpu_guest_sel(r.v, VL_SS), 0x10);
	/* the WRMSR's #GP reached the guest's handler, with RIP at the WRMSR */
	assert_int_equal(m->cpu.rip, HANDLER);
	assert_int_equal(rd(&r, m->cpu.gpr[VL_RSP]), 0);
	assert_int_equal(rd(&r, m->cpu.gpr[VL_RSP] + 8), CODE_PA + 15);
	assert_int_equal(m->region[0].exit_count[2 /* GP_MSR */], 1);
	assert_int_equal(m->region[0].exit_count[6 /* GP_DESC_TABLE */], 1);
	assert_int_equal(m->region[0].exit_count[7 /* GP_SEGMENT */], 1);
	/* retired: LGDT, MOV, MOV SS, MOV (the WRMSR faulted) and the handler's jmp loop */
	assert_int_equal(r.v->emulated, 2);
	rig_down(&r);
}

/* ---- divergences ------------------------------------------------------------------ */
struct divcase {
	const char *name;
	uint8_t code[8];
	size_t len;
	enum vl_event event;
	const char *reason;   /* prefix of the verdict */
};

static const struct divcase divcases[] = {
	{ "popf", { 0x68, 0x02, 0x02, 0, 0, 0x9d }, 6, VL_EV_DIV_POPF, "not virtualizable: POPF at CPL 1 ignored IF 0->1 at rip 0x200005" },
	{ "pushf", { 0x9c }, 1, VL_EV_DIV_PUSHF, "not virtualizable: PUSHF at CPL 1 showed IF 1 IOPL 0 (virtual IF 0 IOPL 0) at rip 0x200000" },
	{ "sgdt", { 0x0f, 0x01, 0x07 }, 3, VL_EV_DIV_SGDT, "not virtualizable: SGDT at CPL 1 revealed the monitor's GDT 0xffff800000010000/0xffff (guest's 0xa000/0x37) at rip 0x200000" },
	{ "sidt", { 0x0f, 0x01, 0x0f }, 3, VL_EV_DIV_SIDT, "not virtualizable: SIDT at CPL 1 revealed the monitor's IDT 0xffff800000001000/0xfff (guest's 0x9000/0xfff) at rip 0x200000" },
	{ "sldt", { 0x0f, 0x00, 0x07 }, 3, VL_EV_DIV_SLDT, "not virtualizable: SLDT at CPL 1 revealed LDTR 0x38 (guest's 0) at rip 0x200000" },
	{ "str", { 0x0f, 0x00, 0x0f }, 3, VL_EV_DIV_STR, "not virtualizable: STR at CPL 1 revealed the monitor's TR 0xfff0 (guest's 0x28) at rip 0x200000" },
	{ "smsw", { 0x0f, 0x01, 0x27 }, 3, VL_EV_DIV_SMSW, "not virtualizable: SMSW at CPL 1 revealed CR0 0x11 (virtual 0x19) at rip 0x200000" },
	{ "mov cs", { 0x8c, 0xc8 }, 2, VL_EV_DIV_SEG_READ, "not virtualizable: read of CS at CPL 1 showed 0x9, RPL 1 (guest believes 0x8) at rip 0x200000" },
	{ "mov ss", { 0x8c, 0xd0 }, 2, VL_EV_DIV_SEG_READ, "not virtualizable: read of SS at CPL 1 showed 0x11, RPL 1 (guest believes 0x10) at rip 0x200000" },
};
static const enum vl_event div_events[] = {
	VL_EV_DIV_POPF, VL_EV_DIV_PUSHF, VL_EV_DIV_SGDT, VL_EV_DIV_SIDT, VL_EV_DIV_SLDT, VL_EV_DIV_STR,
	VL_EV_DIV_SMSW, VL_EV_DIV_SEG_READ,
};

/* The case's instruction(s), then out %al,$0xf4 (exit). Monitor state that
 * differs from the guest's where this monitor would otherwise agree: an
 * LDTR of its own (SLDT), the guest's CR0.TS set (SMSW). */
static void run_case(struct rig *r, const uint8_t *code, size_t len)
{
	uint8_t buf[128];
	memcpy(buf, code, len);
	buf[len] = 0xe6;
	buf[len + 1] = 0xf4;
	rig_up(r, buf, len + 2);
	r->m->cpu.ldtr.sel = 0x38;
	r->v->cr0 |= VL_CR0_TS;
	r->m->max_insns = 1000;
	vl_machine_run(r->m);
	assert_int_equal(r->m->state, VL_M_EXITED);
}

static void test_each_class_detected(void **state)
{
	for (size_t k = 0; k < sizeof divcases / sizeof divcases[0]; k++) {
		const struct divcase *dc = &divcases[k];
		struct rig r;
		char why[512] = "";
		run_case(&r, dc->code, dc->len);
		for (size_t e = 0; e < sizeof div_events / sizeof div_events[0]; e++)
			if (ev(&r, div_events[e]) != (div_events[e] == dc->event)) {
				print_error("%s: event %zu counted %llu\n", dc->name, e, (unsigned long long)ev(&r, div_events[e]));
				fail();
			}
		assert_int_equal(ev(&r, VL_EV_DIVERGENCES), 1);
		assert_int_equal(vl_engine_trap.verdict(r.m, r.ctx, why, sizeof why), -1);
		if (strcmp(why, dc->reason)) {
			print_error("%s: verdict \"%s\", expected \"%s\"\n", dc->name, why, dc->reason);
			fail();
		}
		rig_down(&r);
	}
}

static void test_all_classes_first_named(void **state)
{
	uint8_t code[64];
	size_t n = 0;
	for (size_t k = 0; k < sizeof divcases / sizeof divcases[0]; k++) {
		memcpy(code + n, divcases[k].code, divcases[k].len);
		n += divcases[k].len;
	}
	struct rig r;
	char why[512] = "";
	run_case(&r, code, n);
	assert_int_equal(ev(&r, VL_EV_DIVERGENCES), 9);
	assert_int_equal(ev(&r, VL_EV_DIV_SEG_READ), 2);
	/* the POPF sets nothing (ring 1): the PUSHF after it still shows the real IF 1 vs the virtual 0 */
	assert_int_equal(ev(&r, VL_EV_DIV_PUSHF), 1);
	assert_int_equal(vl_engine_trap.verdict(r.m, r.ctx, why, sizeof why), -1);
	assert_string_equal(why, "not virtualizable: POPF at CPL 1 ignored IF 0->1 at rip 0x200005, 8 more");
	rig_down(&r);
}

static void test_clean_guest_no_verdict(void **state)
{
	/* POPF that keeps the virtual IF (0), SMSW of an equal CR0, MOV from DS (RPL 0 loaded as is) */
	static const uint8_t code[] = { 0x6a, 0x02, 0x9d, 0x0f, 0x01, 0x27, 0x8c, 0xd8 };
	struct rig r;
	char why[512] = "";
	rig_up(&r, code, sizeof code);
	uint8_t out[] = { 0xe6, 0xf4 };
	vl_phys_write(r.m, CODE_PA + sizeof code, out, 2);
	r.m->cpu.seg[VL_DS].sel = 0x10;
	r.m->max_insns = 100;
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_EXITED);
	assert_int_equal(ev(&r, VL_EV_DIVERGENCES), 0);
	assert_int_equal(vl_engine_trap.verdict(r.m, r.ctx, why, sizeof why), 0);
	rig_down(&r);
}


/* ---- hostile code at ring 1 --------------------------------------------------------
 * Random bytes as the deprivileged kernel's code (with the privileged and
 * sensitive opcodes over-represented): the run ends in a defined state
 * (running at the limit, exited, timeout, triple fault or a clean error),
 * never a host crash — the sanitizers of `make test` watch the VMM. */
static void test_random_kernel_code(void **state)
{
	static const uint8_t hot[][3] = {
		{ 0x0f, 0x22, 0xd8 }, { 0x0f, 0x20, 0xc0 }, { 0x0f, 0x01, 0x17 }, { 0x0f, 0x01, 0x1f }, { 0x0f, 0x00, 0xd8 },
		{ 0x0f, 0x00, 0x17 }, { 0x0f, 0x30, 0x90 }, { 0x0f, 0x32, 0x90 }, { 0x0f, 0x07, 0x90 }, { 0x0f, 0x01, 0xf8 },
		{ 0x48, 0xcf, 0x90 }, { 0x48, 0xcb, 0x90 }, { 0x8e, 0xd0, 0x90 }, { 0xfa, 0xfb, 0x9d }, { 0xcd, 0x80, 0x90 },
		{ 0xe6, 0x80, 0xec }, { 0x0f, 0x01, 0x07 }, { 0x0f, 0x23, 0xc0 }, { 0x0f, 0x06, 0xf4 }, { 0x0f, 0x01, 0x38 },
	};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int run = 0; run < 150; run++) {
		uint8_t code[96];
		for (size_t i = 0; i < sizeof code;) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			if ((x & 3) == 0 && i + 3 <= sizeof code) {
				memcpy(code + i, hot[(x >> 8) % (sizeof hot / sizeof hot[0])], 3);
				i += 3;
			} else {
				code[i++] = (uint8_t)(x >> 24);
			}
		}
		struct rig r;
		rig_up(&r, code, sizeof code);
		vl_phys_write(r.m, HANDLER, code + 32, 64);   /* the handlers run random code too */
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		for (int g = 0; g < 16; g++)
			r.m->cpu.gpr[g] = (g == VL_RSP) ? KSTACK : (x & 1) ? SCRATCH : x >> (g & 7);
		r.m->max_insns = 3000;
		r.m->max_cycles = 50000000;
		vl_machine_run(r.m);
		enum vl_mstate st = r.m->state;
		assert_true(st == VL_M_EXITED || st == VL_M_TIMEOUT || st == VL_M_TRIPLE_FAULT || st == VL_M_ERROR);
		char why[512];
		vl_engine_trap.verdict(r.m, r.ctx, why, sizeof why);   /* whatever it says, it says it */
		rig_down(&r);
	}
}

static void test_nested_refused(void **state)
{
	struct vl_profile p;
	char why[256] = "";
	vl_test_profile(&p);
	assert_int_equal(vl_engine_trap.check(&p, VL_MMU_NESTED, why, sizeof why), -1);
	assert_non_null(strstr(why, "shadow"));
	assert_int_equal(vl_engine_trap.mmu_mask, VL_MMU_BIT(VL_MMU_SHADOW));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deprivileged_boot),
		cmocka_unit_test(test_frame_from_kernel),
		cmocka_unit_test(test_frame_from_user),
		cmocka_unit_test(test_ist_and_trap_gate),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_double_and_triple_fault),
		cmocka_unit_test(test_held_interrupt_delivered_after_sti),
		cmocka_unit_test(test_privileged_trap_and_cost),
		cmocka_unit_test(test_exit_out_retires),
		cmocka_unit_test(test_syscall_swapgs_sysret),
		cmocka_unit_test(test_lgdt_mov_ss_and_faulting_wrmsr),
		cmocka_unit_test(test_each_class_detected),
		cmocka_unit_test(test_all_classes_first_named),
		cmocka_unit_test(test_clean_guest_no_verdict),
		cmocka_unit_test(test_random_kernel_code),
		cmocka_unit_test(test_nested_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
