/* pv.c — paravirtualization: the guest kernel runs deprivileged at ring 1
 * (engines/hv/vcpu) and, once it has found the VirtLabPV signature, asks
 * the VMM for every privileged operation with a hypercall (SYSCALL at
 * ring 1, guest_abi.h "Paravirtual hypercall ABI") and keeps its virtual
 * IF in a shared page. The VMM dispatches hypercalls through a table,
 * bounces user system calls, exceptions and interrupts to the guest
 * kernel's entry points, and counts every privileged instruction that
 * still reaches it after the switch as a guest bug. See engines/pv/README.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/engine.h"
#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "../hv/vcpu.h"

/* The VMM's entries: hypercalls first (slot = hypercall number, the
 * machine's hypercall_slots: reported under "hypercalls"), then the entries that are not hypercalls (reported
 * as exits, codes from 0x100: this engine's own numbering). */
enum pv_slot {
	PX_HC_BAD = VL_HC_COUNT,   /* a hypercall number outside the table */
	PX_GP_BOOT,                /* privileged instruction emulated before the pv-ops switch */
	PX_GP_UNPARAVIRT,          /* ... after it: a guest bug (event pv_unparavirtualized) */
	PX_GP_GUEST,               /* the guest's own #GP, reflected */
	PX_PF,                     /* every #PF (hidden, tracing or the guest's) */
	PX_EXC,                    /* any other exception, bounced to the guest kernel */
	PX_INTR,                   /* external interrupt (upcall delivered or held) */
	PX_SYSCALL,                /* user SYSCALL: bounced to the guest kernel's entry */
	PX_INTN,                   /* INT n / INT3 */
	PX_IRET,                   /* IRETQ to an RPL 0 frame (#GP at ring 1): boot only */
	PX_CPUID,                  /* the kernel's CPUID, answered with the PV signature */
	PX_COUNT
};
static const struct vl_exit_desc pv_exit_table[PX_COUNT] = {
	[VL_HC_IRET]           = { VL_HC_IRET, "iret" },
	[VL_HC_SET_SHARED]     = { VL_HC_SET_SHARED, "set_shared" },
	[VL_HC_SET_TRAP_TABLE] = { VL_HC_SET_TRAP_TABLE, "set_trap_table" },
	[VL_HC_SET_GDT]        = { VL_HC_SET_GDT, "set_gdt" },
	[VL_HC_LOAD_TR]        = { VL_HC_LOAD_TR, "load_tr" },
	[VL_HC_READ_CR]        = { VL_HC_READ_CR, "read_cr" },
	[VL_HC_WRITE_CR]       = { VL_HC_WRITE_CR, "write_cr" },
	[VL_HC_INVLPG]         = { VL_HC_INVLPG, "invlpg" },
	[VL_HC_RDMSR]          = { VL_HC_RDMSR, "rdmsr" },
	[VL_HC_WRMSR]          = { VL_HC_WRMSR, "wrmsr" },
	[VL_HC_IO]             = { VL_HC_IO, "io" },
	[VL_HC_BLOCK]          = { VL_HC_BLOCK, "block" },
	[VL_HC_HALT]           = { VL_HC_HALT, "halt" },
	[VL_HC_EVENT_UNMASK]   = { VL_HC_EVENT_UNMASK, "event_unmask" },
	[VL_HC_MMU_UPDATE]     = { VL_HC_MMU_UPDATE, "mmu_update" },
	[VL_HC_MMUEXT_OP]      = { VL_HC_MMUEXT_OP, "mmuext_op" },
	[VL_HC_MULTICALL]      = { VL_HC_MULTICALL, "multicall" },
	[PX_HC_BAD]            = { 0xffff, "bad_number" },
	[PX_GP_BOOT]           = { 0x100, "GP_PRIV_BOOT" },
	[PX_GP_UNPARAVIRT]     = { 0x101, "GP_PRIV_UNPARAVIRTUALIZED" },
	[PX_GP_GUEST]          = { 0x102, "GP_REFLECTED" },
	[PX_PF]                = { 0x103, "PAGE_FAULT" },
	[PX_EXC]               = { 0x104, "EXCEPTION" },
	[PX_INTR]              = { 0x105, "INTERRUPT" },
	[PX_SYSCALL]           = { 0x106, "SYSCALL" },
	[PX_INTN]              = { 0x107, "INT_N" },
	[PX_IRET]              = { 0x108, "GP_IRET" },
	[PX_CPUID]             = { 0x109, "CPUID" },
};

struct pv_vmm {
	struct vl_vcpu vcpu;
	const struct vl_mmu_ops *mmu;
	void *mmu_ctx;
	uint64_t shared_pa;        /* guest-physical shared page; 0 = not registered (pv-ops native) */
	uint64_t shared_hpa;       /* ... where it is in machine memory (direct paging: p2m) */
	bool switched;             /* the guest registered its shared page: pv-ops are hypercalls */
	bool aware;                /* the kernel read the PV signature: its SYSCALLs are hypercalls */
	uint64_t unparavirt;       /* privileged instructions that reached the VMM after the switch (whole run) */
	char first[160];           /* the first of them, as a phrase */
};

/* A privileged instruction reached the VMM after the pv-ops switch: a
 * guest bug (the kernel should have asked by hypercall). Counted, and the
 * run fails with the first one named (pv_verdict). */
static void unparavirt(struct pv_vmm *p, const char *what, uint64_t rip)
{
	vl_count(p->vcpu.m, VL_EV_PV_UNPARAVIRT, 1);
	if (!p->unparavirt++)
		snprintf(p->first, sizeof p->first, "%s at rip %#" PRIx64, what, rip);
}

/* What a hypercall handler did. */
enum { HC_RET = 0x100 /* RAX = *ret, back after the SYSCALL */, HC_GONE /* control went elsewhere (IRET, a delivered fault) */ };

/* ---- the shared page ----------------------------------------------------------
 * The guest writes its event mask with plain stores; the VMM reads it at
 * every entry (sync_in) and writes back what it changed (sync_out). The
 * VMM's own accesses to the page are host memory operations, not charged
 * (as the runtime's other structures, engines/hv/README.md). */
static uint8_t *pv_shared(struct pv_vmm *p)
{
	return p->shared_pa ? vl_phys_ptr(p->vcpu.m, p->shared_hpa) : NULL;
}

static void sync_in(struct pv_vmm *p)
{
	uint8_t *s = pv_shared(p);
	struct vl_vcpu *v = &p->vcpu;
	if (!s || vl_vcpu_cpl(v) != 0)
		return;
	bool vif = !s[VL_PVS_MASK];
	if (vif && !v->vif)
		vl_vcpu_set_vif(v, true, false);   /* unmasked with an upcall held: release it */
	else
		v->vif = vif;
}

/* Written with vl_phys_write: the page is guest RAM, and a guest that
 * registered one of its code pages must see decoded code invalidated. */
static void sync_out(struct pv_vmm *p)
{
	uint8_t *s = pv_shared(p), b[VL_PVS_TIME + 8];
	struct vl_vcpu *v = &p->vcpu;
	if (!s)
		return;
	memcpy(b, s, sizeof b);
	b[VL_PVS_MASK] = !v->vif;
	b[VL_PVS_PENDING] = v->held;
	memcpy(b + VL_PVS_CR2, &v->cr2, 8);
	memcpy(b + VL_PVS_TIME, &v->m->tsc, 8);
	if (memcmp(b, s, sizeof b))
		vl_phys_write(v->m, p->shared_hpa, b, sizeof b);
}

/* ---- hypercall handlers ---------------------------------------------------------
 * a[0..4] = RDI, RSI, RDX, R10, R8. RIP is already past the SYSCALL. Return
 * HC_RET with *ret, HC_GONE, or VL_HOOK_STOP. */
typedef int (*pv_hc_fn)(struct pv_vmm *p, const uint64_t a[5], int64_t *ret);

/* Run one operation through the runtime's emulation of the instruction
 * it replaces (ev->len 0: RIP is already the return address), charged
 * the handler's own cost (vmm.cr, vmm.io, ...) but no decode. A fault
 * the operation raises is delivered to the guest (HC_GONE). */
static int hc_emulate(struct pv_vmm *p, struct vl_sens_event *ev, int64_t *ret, int ret_gpr)
{
	struct vl_machine *m = p->vcpu.m;
	uint64_t rip = m->cpu.rip;
	ev->len = 0;
	ev->insn_rip = rip;
	p->vcpu.no_decode = true;      /* the operation comes decoded: no vmm.emulate */
	int rc = vl_vcpu_emulate(&p->vcpu, ev);
	p->vcpu.no_decode = false;
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (m->cpu.rip != rip || vl_vcpu_cpl(&p->vcpu) != 0)
		return HC_GONE;
	*ret = ret_gpr >= 0 ? (int64_t)m->cpu.gpr[ret_gpr] : 0;
	return HC_RET;
}

static int hc_iret(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	(void)a; (void)ret;
	struct vl_machine *m = p->vcpu.m;
	uint64_t saved[3];   /* rax, r11, rcx */
	int rc = vl_vcpu_read(&p->vcpu, m->cpu.gpr[VL_RSP], saved, sizeof saved);
	if (rc < 0)
		return VL_HOOK_STOP;
	if (rc) {
		*ret = -VL_HC_EFAULT;
		return HC_RET;
	}
	m->cpu.gpr[VL_RAX] = saved[0];
	m->cpu.gpr[VL_R11] = saved[1];
	m->cpu.gpr[VL_RCX] = saved[2];
	m->cpu.gpr[VL_RSP] += sizeof saved;
	rc = vl_vcpu_iret(&p->vcpu);
	vl_vcpu_sync(&p->vcpu);
	return rc == VL_HOOK_STOP ? VL_HOOK_STOP : HC_GONE;
}

static int hc_set_shared(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_machine *m = p->vcpu.m;
	if ((a[0] & 0xfff) || a[0] >= m->ram_size || a[0] == 0 || p->switched) {
		*ret = p->switched ? -VL_HC_EPERM : -VL_HC_EINVAL;
		return HC_RET;
	}
	p->shared_pa = a[0];
	p->shared_hpa = p->mmu->gpa_to_hpa ? p->mmu->gpa_to_hpa(m, p->mmu_ctx, a[0]) : a[0];
	p->switched = true;
	/* what the MMU offers: direct paging's batch size and p2m length (0: shadow) */
	uint32_t batch = p->mmu->kind == VL_MMU_DIRECT ? (uint32_t)m->prof->pv_mmu_batch : 0;
	uint64_t frames = p->mmu->kind == VL_MMU_DIRECT ? m->ram_size >> 12 : 0;
	vl_phys_write(m, p->shared_hpa + VL_PVS_MMU_BATCH, &batch, 4);
	vl_phys_write(m, p->shared_hpa + VL_PVS_NR_FRAMES, &frames, 8);
	*ret = 0;
	return HC_RET;   /* sync_out initialises the rest of the page */
}

static int hc_set_dt(struct pv_vmm *p, const uint64_t a[5], int64_t *ret, enum vl_sens cls)
{
	struct vl_sens_event ev = { .cls = cls, .gpr = 0xff, .addr = a[0] };
	return hc_emulate(p, &ev, ret, -1);
}
static int hc_set_trap_table(struct pv_vmm *p, const uint64_t a[5], int64_t *ret) { return hc_set_dt(p, a, ret, VL_SENS_LIDT); }
static int hc_set_gdt(struct pv_vmm *p, const uint64_t a[5], int64_t *ret) { return hc_set_dt(p, a, ret, VL_SENS_LGDT); }

static int hc_load_tr(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_sens_event ev = { .cls = VL_SENS_LTR, .gpr = 0xff, .value = a[0] & 0xffff };
	return hc_emulate(p, &ev, ret, -1);
}

static bool cr_ok(uint64_t cr) { return cr == 0 || cr == 3 || cr == 4 || cr == 8; }

static int hc_read_cr(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	if (!cr_ok(a[0])) {
		*ret = -VL_HC_EINVAL;
		return HC_RET;
	}
	struct vl_sens_event ev = { .cls = VL_SENS_CR_READ, .reg = (uint8_t)a[0], .gpr = VL_RAX };
	return hc_emulate(p, &ev, ret, VL_RAX);
}

static int hc_write_cr(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	if (!cr_ok(a[0])) {
		*ret = -VL_HC_EINVAL;
		return HC_RET;
	}
	p->vcpu.m->cpu.gpr[VL_RAX] = a[1];
	struct vl_sens_event ev = { .cls = VL_SENS_CR_WRITE, .write = 1, .reg = (uint8_t)a[0], .gpr = VL_RAX, .value = a[1] };
	return hc_emulate(p, &ev, ret, -1);
}

static int hc_invlpg(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_sens_event ev = { .cls = VL_SENS_INVLPG, .gpr = 0xff, .addr = a[0] };
	return hc_emulate(p, &ev, ret, -1);
}

static int hc_rdmsr(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_cpu *c = &p->vcpu.m->cpu;
	c->gpr[VL_RCX] = (uint32_t)a[0];
	struct vl_sens_event ev = { .cls = VL_SENS_RDMSR, .gpr = 0xff };
	int rc = hc_emulate(p, &ev, ret, -1);
	if (rc == HC_RET)
		*ret = (int64_t)((c->gpr[VL_RDX] << 32) | (uint32_t)c->gpr[VL_RAX]);
	return rc;
}

static int hc_wrmsr(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_cpu *c = &p->vcpu.m->cpu;
	c->gpr[VL_RCX] = (uint32_t)a[0];
	c->gpr[VL_RAX] = (uint32_t)a[1];
	c->gpr[VL_RDX] = a[1] >> 32;
	struct vl_sens_event ev = { .cls = VL_SENS_WRMSR, .write = 1, .gpr = 0xff };
	return hc_emulate(p, &ev, ret, -1);
}

static int hc_io(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	unsigned size = a[1] & 0xff;
	bool wr = (a[1] & VL_HC_IO_WRITE) != 0;
	if ((size != 1 && size != 2 && size != 4) || a[0] > 0xffff || (a[1] & ~(uint64_t)(0xff | VL_HC_IO_WRITE))) {
		*ret = -VL_HC_EINVAL;
		return HC_RET;
	}
	struct vl_cpu *c = &p->vcpu.m->cpu;
	c->gpr[VL_RAX] = 0;
	struct vl_sens_event ev = { .cls = VL_SENS_IO, .write = wr, .gpr = 0xff, .size = (uint8_t)size,
				    .port = (uint16_t)a[0], .value = wr ? a[2] : 0 };
	return hc_emulate(p, &ev, ret, wr ? -1 : VL_RAX);
}

static int hc_halt(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	(void)a;
	struct vl_sens_event ev = { .cls = VL_SENS_HLT, .gpr = 0xff };
	return hc_emulate(p, &ev, ret, -1);
}

static int hc_block(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	vl_vcpu_set_vif(&p->vcpu, true, false);
	return hc_halt(p, a, ret);
}

/* The guest unmasked with an upcall pending: sync_in has released it; it
 * is delivered before the next guest instruction. */
static int hc_event_unmask(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	(void)p; (void)a;
	*ret = 0;
	return HC_RET;
}

/* Direct paging's hypercalls: the MMU engine validates and applies
 * (mmu/direct); under shadow paging they do not exist (-ENOSYS). */
static int hc_mmu(struct pv_vmm *p, unsigned nr, const uint64_t a[5], int64_t *ret)
{
	*ret = p->mmu->hypercall ? p->mmu->hypercall(p->vcpu.m, p->mmu_ctx, nr, a) : -VL_HC_ENOSYS;
	return *ret == VL_MMU_HC_STOP ? VL_HOOK_STOP : HC_RET;
}
static int hc_mmu_update(struct pv_vmm *p, const uint64_t a[5], int64_t *ret) { return hc_mmu(p, VL_HC_MMU_UPDATE, a, ret); }
static int hc_mmuext_op(struct pv_vmm *p, const uint64_t a[5], int64_t *ret) { return hc_mmu(p, VL_HC_MMUEXT_OP, a, ret); }

/* A batch of MMU hypercalls in one VMM entry: n entries {nr, args[5],
 * result} at a0; each result written back. Only mmu_update and mmuext_op
 * may be batched (others: -EINVAL in their result). */
static int hc_multicall(struct pv_vmm *p, const uint64_t a[5], int64_t *ret)
{
	struct vl_machine *m = p->vcpu.m;
	uint64_t e[VL_MC_MAX][7];
	uint32_t pfec;
	if (!p->mmu->hypercall) {
		*ret = -VL_HC_ENOSYS;
		return HC_RET;
	}
	if (a[1] == 0 || a[1] > VL_MC_MAX) {
		*ret = -VL_HC_EINVAL;
		return HC_RET;
	}
	if (vl_virt_read(m, a[0], e, a[1] * sizeof e[0], VL_ACC_R, &pfec)) {
		*ret = -VL_HC_EFAULT;
		return HC_RET;
	}
	for (uint64_t i = 0; i < a[1]; i++) {
		int64_t r = -VL_HC_EINVAL;
		if (e[i][0] == VL_HC_MMU_UPDATE || e[i][0] == VL_HC_MMUEXT_OP)
			r = p->mmu->hypercall(m, p->mmu_ctx, (unsigned)e[i][0], &e[i][1]);
		if (r == VL_MMU_HC_STOP)
			return VL_HOOK_STOP;
		e[i][6] = (uint64_t)r;
		if (vl_virt_write(m, a[0] + i * sizeof e[0] + 48, &e[i][6], 8, VL_ACC_W, &pfec)) {
			*ret = -VL_HC_EFAULT;
			return HC_RET;
		}
	}
	*ret = 0;
	return HC_RET;
}

static const pv_hc_fn pv_hc_table[VL_HC_COUNT] = {
	[VL_HC_IRET] = hc_iret,
	[VL_HC_SET_SHARED] = hc_set_shared,
	[VL_HC_SET_TRAP_TABLE] = hc_set_trap_table,
	[VL_HC_SET_GDT] = hc_set_gdt,
	[VL_HC_LOAD_TR] = hc_load_tr,
	[VL_HC_READ_CR] = hc_read_cr,
	[VL_HC_WRITE_CR] = hc_write_cr,
	[VL_HC_INVLPG] = hc_invlpg,
	[VL_HC_RDMSR] = hc_rdmsr,
	[VL_HC_WRMSR] = hc_wrmsr,
	[VL_HC_IO] = hc_io,
	[VL_HC_BLOCK] = hc_block,
	[VL_HC_HALT] = hc_halt,
	[VL_HC_EVENT_UNMASK] = hc_event_unmask,
	[VL_HC_MMU_UPDATE] = hc_mmu_update,
	[VL_HC_MMUEXT_OP] = hc_mmuext_op,
	[VL_HC_MULTICALL] = hc_multicall,
};

/* A SYSCALL at ring 1: one hypercall. The transition is the hardware's
 * SYSCALL into the monitor and its IRETQ back (hypercall category), the
 * monitor's entry path is vmm.exit_dispatch, the handler charges its own
 * work (vmm.* through the runtime). Unknown numbers return -ENOSYS. */
static int pv_hypercall(struct pv_vmm *p, unsigned len)
{
	struct vl_machine *m = p->vcpu.m;
	struct vl_cpu *c = &m->cpu;
	uint64_t t0 = m->tsc, back = c->rip + len, fl = c->rflags;
	uint64_t nr = c->gpr[VL_RAX];
	const uint64_t a[5] = { c->gpr[VL_RDI], c->gpr[VL_RSI], c->gpr[VL_RDX], c->gpr[VL_R10], c->gpr[VL_R8] };
	VL_CHARGE(m, VL_CAT_HYPERCALL, insn_syscall);
	VL_CHARGE(m, VL_CAT_HYPERCALL, insn_iret);
	VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
	unsigned slot = nr < VL_HC_COUNT && pv_hc_table[nr] ? (unsigned)nr : PX_HC_BAD;
	int64_t ret = -VL_HC_ENOSYS;
	int rc = HC_RET;
	c->rip = back;
	if (slot != PX_HC_BAD)
		rc = pv_hc_table[slot](p, a, &ret);
	if (rc == HC_RET) {
		c->gpr[VL_RAX] = (uint64_t)ret;
		c->gpr[VL_RCX] = back;          /* as the SYSCALL instruction leaves them */
		c->gpr[VL_R11] = fl;
		rc = VL_HOOK_DONE;
	} else if (rc == HC_GONE) {
		rc = VL_HOOK_DONE;
	}
	vl_count_hypercall(m, slot, m->tsc - t0);
	if (m->trace)
		vl_trace(m, "pv: hypercall %s(%#" PRIx64 ", %#" PRIx64 ") = %" PRId64 " -> rip %#" PRIx64 " cpl %u",
			 pv_exit_table[slot].name, a[0], a[1], ret, c->rip, vl_vcpu_cpl(&p->vcpu));
	return rc;
}

/* The kernel's CPUID: the VMM's table with the PV signature. Modelled as
 * CPUID faulting (a #GP into the monitor: a trap round trip + vmm.cpuid);
 * user CPUID executes natively, as under bt and trap. */
static int pv_cpuid(struct pv_vmm *p, unsigned len)
{
	struct vl_machine *m = p->vcpu.m;
	struct vl_cpu *c = &m->cpu;
	uint64_t t0 = m->tsc;
	uint32_t r[4], leaf = (uint32_t)c->gpr[VL_RAX];
	vl_vcpu_charge_trap(&p->vcpu);
	VL_CHARGE(m, VL_CAT_VMM, vmm_cpuid);
	hv_cpuid_table(m, leaf, (uint32_t)c->gpr[VL_RCX], r);
	if (leaf == VL_CPUID_HV_LEAF) {
		static const char sig[13] = VL_PV_SIGNATURE;
		p->aware = true;
		memcpy(&r[1], sig, 4);
		memcpy(&r[2], sig + 4, 4);
		memcpy(&r[3], sig + 8, 4);
	}
	c->gpr[VL_RAX] = r[0];
	c->gpr[VL_RBX] = r[1];
	c->gpr[VL_RCX] = r[2];
	c->gpr[VL_RDX] = r[3];
	c->rip += len;
	vl_count_exit(m, PX_CPUID, m->tsc - t0);
	return VL_HOOK_DONE;
}

static int pv_intercept(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev)
{
	struct pv_vmm *p = ctx;
	struct vl_vcpu *v = &p->vcpu;
	uint64_t t0 = m->tsc;
	int rc;
	sync_in(p);
	switch (ev->cls) {
	case VL_SENS_SYSCALL:
		if (vl_vcpu_cpl(v) == 0 && p->aware) {
			rc = pv_hypercall(p, ev->len);
			break;
		}
		/* user system call: into the monitor, bounced to the guest kernel's LSTAR;
		 * so is a kernel SYSCALL of a guest that never read the PV signature
		 * (not PV-aware: the instruction keeps its architectural meaning) */
		VL_CHARGE(m, VL_CAT_EXIT, insn_syscall);
		VL_CHARGE(m, VL_CAT_EXIT, insn_iret);
		VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
		rc = vl_vcpu_syscall(v, ev->len);
		vl_count_exit(m, PX_SYSCALL, m->tsc - t0);
		break;
	case VL_SENS_CPUID:
		if (vl_vcpu_cpl(v) != 0)
			return VL_HOOK_PASS;
		rc = pv_cpuid(p, ev->len);
		break;
	case VL_SENS_INTN:
		vl_vcpu_charge_trap(v);
		rc = vl_vcpu_deliver(v, ev->vector, VL_VCPU_SOFT, false, 0, 0, ev->len);
		vl_count_exit(m, PX_INTN, m->tsc - t0);
		break;
	case VL_SENS_IRET: {
		if (vl_vcpu_cpl(v) != 0)
			return VL_HOOK_PASS;          /* user IRET: the hardware's */
		uint64_t fr[2];
		if (vl_vcpu_read(v, m->cpu.gpr[VL_RSP], fr, sizeof fr) == 0 && (fr[1] & 3) == 3) {
			vl_vcpu_to_user(v);       /* IRETQ to ring 3 works at ring 1: the hardware's */
			sync_out(p);
			return VL_HOOK_PASS;
		}
		/* to an RPL 0 frame: #GP at ring 1, emulated (the pv guest uses VL_HC_IRET) */
		vl_vcpu_charge_trap(v);
		VL_CHARGE(m, VL_CAT_VMM, vmm_emulate);
		if (p->switched)
			unparavirt(p, "IRETQ to a kernel frame", m->cpu.rip);
		rc = vl_vcpu_iret(v);
		vl_vcpu_sync(v);
		vl_count_exit(m, PX_IRET, m->tsc - t0);
		break;
	}
	default:
		return VL_HOOK_PASS;
	}
	sync_out(p);
	return rc;
}

static int pv_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct pv_vmm *p = ctx;
	uint64_t t0 = m->tsc, rip = m->cpu.rip;
	int what = VL_VCPU_REFLECT;
	sync_in(p);
	vl_vcpu_charge_trap(&p->vcpu);
	int rc = vl_vcpu_exception(&p->vcpu, vec, has_err, err, cr2, &what);
	unsigned slot = vec == VL_PF ? PX_PF : vec != VL_GP ? PX_EXC : what == VL_VCPU_REFLECT ? PX_GP_GUEST
		       : p->switched ? PX_GP_UNPARAVIRT : PX_GP_BOOT;
	if (slot == PX_GP_UNPARAVIRT)
		unparavirt(p, "a privileged instruction (#GP at ring 1, emulated)", rip);
	else if (slot == PX_GP_BOOT)
		vl_count(m, VL_EV_PV_BOOT_EMULATED, 1);
	vl_count_exit(m, slot, m->tsc - t0);
	sync_out(p);
	if (m->trace)
		vl_trace(m, "pv: %s (vector %u err %#x) at rip %#" PRIx64 " -> rip %#" PRIx64 " cpl %u",
			 pv_exit_table[slot].name, vec, err, rip, m->cpu.rip, vl_vcpu_cpl(&p->vcpu));
	return rc;
}

static int pv_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	struct pv_vmm *p = ctx;
	uint64_t t0 = m->tsc;
	sync_in(p);
	vl_vcpu_charge_trap(&p->vcpu);
	int rc = vl_vcpu_interrupt(&p->vcpu, vec);
	if (!p->vcpu.held && rc != VL_HOOK_STOP)
		vl_count(m, VL_EV_PV_UPCALLS, 1);
	vl_count_exit(m, PX_INTR, m->tsc - t0);
	sync_out(p);
	if (m->trace)
		vl_trace(m, "pv: interrupt %u %s", vec, p->vcpu.held ? "held (events masked: pending set)" : "delivered (upcall)");
	return rc;
}

static const struct vl_vmm_ops pv_hooks = {
	.intercept = pv_intercept,
	.exception = pv_exception,
	.interrupt = pv_interrupt,
};

static int pv_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	(void)p;
	if (mmu != VL_MMU_SHADOW && mmu != VL_MMU_DIRECT) {
		snprintf(why, whylen, "engine pv runs with mmu direct or shadow");
		return -1;
	}
	return 0;
}

static int pv_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	if (!vl_cpu_in_64bit_mode(&m->cpu)) {
		/* DESIGN.md: an unmodified guest runs under pv only where an issue
		 * says so; none does for 32-bit-entry (Multiboot) kernels */
		snprintf(err, errlen, "pv runs only a paravirtualized guest: this one starts outside 64-bit mode "
			 "(a Multiboot kernel without pv-ops: no hypercall ABI; it would run deprivileged unmodified)");
		return VL_ATTACH_REFUSED;
	}
	struct pv_vmm *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "pv: out of memory");
		return -1;
	}
	p->mmu = mmu;
	if (mmu->init && mmu->init(m, VL_VENDOR_NONE, &p->mmu_ctx, err, errlen)) {
		free(p);
		return -1;
	}
	if (vl_vcpu_init(&p->vcpu, m, mmu, p->mmu_ctx, 1, err, errlen)) {
		if (mmu->fini)
			mmu->fini(m, p->mmu_ctx);
		free(p);
		return -1;
	}
	m->intercept = vl_vcpu_intercepts() | VL_SENS_BIT(VL_SENS_CPUID);
	m->callouts = false;
	m->nested.enabled = false;
	m->vmm = &pv_hooks;
	m->vmm_ctx = p;
	m->exit_table = pv_exit_table;
	m->exit_table_len = PX_COUNT;
	m->hypercall_slots = PX_HC_BAD + 1;
	*ctx = p;
	return 0;
}

static void pv_detach(struct vl_machine *m, void *ctx)
{
	struct pv_vmm *p = ctx;
	if (!p)
		return;
	if (p->mmu->fini)
		p->mmu->fini(m, p->mmu_ctx);
	if (m->vmm_ctx == p) {
		m->vmm = NULL;
		m->vmm_ctx = NULL;
	}
	free(p);
}

/* A run whose guest never switched to hypercalls was not paravirtualized;
 * one in which privileged instructions still reached the VMM after the
 * switch ran a kernel that is not fully paravirtualized: both `failed`. */
static int pv_verdict(struct vl_machine *m, void *ctx, char *why, size_t whylen)
{
	struct pv_vmm *p = ctx;
	if (!p)
		return 0;
	if (p->unparavirt) {
		snprintf(why, whylen, "pv: %" PRIu64 " privileged instruction(s) reached the VMM after the pv-ops switch, first: %s",
			 p->unparavirt, p->first);
		return -1;
	}
	if (!p->switched && m->state == VL_M_EXITED && m->exit_code == VL_EXIT_OK) {
		snprintf(why, whylen, "pv: the guest never registered its shared page (pv-ops not switched)");
		return -1;
	}
	return 0;
}

/* The guest's view of RFLAGS (the fuzz oracle and reports read it): IF is
 * the virtual one — the shared page's event mask once the kernel switched,
 * else the runtime's virtual IF. */
static uint64_t pv_guest_rflags(struct vl_machine *m, void *ctx)
{
	(void)m;
	struct pv_vmm *p = ctx;
	struct vl_vcpu v = p->vcpu;
	const uint8_t *s = pv_shared(p);
	if (s && vl_vcpu_cpl(&v) == 0)
		v.vif = !s[VL_PVS_MASK];
	return vl_vcpu_guest_rflags(&v);
}

const struct vl_engine_ops vl_engine_pv = {
	.name = "pv",
	.desc = "paravirtualization: ring-1 kernel with hypercall pv-ops (transparent: the same image as native)",
	.default_mmu = VL_MMU_DIRECT,
	.mmu_mask = VL_MMU_BIT(VL_MMU_DIRECT) | VL_MMU_BIT(VL_MMU_SHADOW),
	.check = pv_check,
	.attach = pv_attach,
	.detach = pv_detach,
	.verdict = pv_verdict,
	.guest_rflags = pv_guest_rflags,
};
