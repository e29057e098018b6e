/* trap.c — classic trap-and-emulate on pre-VT x86, the Popek–Goldberg
 * counterexample. The guest kernel runs deprivileged at ring 1 and
 * executes directly (engines/hv/vcpu.c); privileged instructions raise #GP
 * there and the VMM emulates them on the virtual CPU. The sensitive but
 * unprivileged ones (POPF, PUSHF, SGDT, SIDT, SLDT, STR, SMSW, reads of
 * CS/SS) do not trap: they silently do the wrong thing. The model knows
 * what CPL 0 would have done, so the engine watches those classes through
 * the machine's intercept bits, records each divergence and lets the
 * hardware proceed wrongly (PASS); the run then ends `failed` naming the
 * first one. See engines/trap/README.md. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "../hv/vcpu.h"

/* The VMM's entries (hardware events into ring 0), reported like exits.
 * Codes are this engine's own numbering: trap-and-emulate has no
 * architectural exit reasons, only the vector that entered the VMM. */
enum trap_exit {
	TX_GP_CR, TX_GP_IO, TX_GP_MSR, TX_GP_IF, TX_GP_HLT, TX_GP_INVLPG, TX_GP_DESC, TX_GP_SEG,
	TX_GP_SYS, TX_GP_OTHER, TX_GP_GUEST, TX_PF, TX_EXC, TX_INTR, TX_SYSCALL, TX_INTN, TX_IRET,
	TX_COUNT
};
static const struct vl_exit_desc trap_exit_table[TX_COUNT] = {
	[TX_GP_CR]     = { 0, "GP_CR_ACCESS" },      /* MOV to/from CR, CLTS, LMSW */
	[TX_GP_IO]     = { 1, "GP_IO" },             /* IN/OUT (IOPL 0 < CPL 1) */
	[TX_GP_MSR]    = { 2, "GP_MSR" },            /* RDMSR/WRMSR */
	[TX_GP_IF]     = { 3, "GP_CLI_STI" },        /* CLI/STI (IOPL 0 < CPL 1) */
	[TX_GP_HLT]    = { 4, "GP_HLT" },
	[TX_GP_INVLPG] = { 5, "GP_INVLPG" },
	[TX_GP_DESC]   = { 6, "GP_DESC_TABLE" },     /* LGDT/LIDT/LLDT/LTR */
	[TX_GP_SEG]    = { 7, "GP_SEGMENT" },        /* MOV SS / far return with an RPL 0 selector */
	[TX_GP_SYS]    = { 8, "GP_SYSRET_SWAPGS" },
	[TX_GP_OTHER]  = { 9, "GP_OTHER_PRIV" },     /* MOV DR, WBINVD, RDTSC with TSD, RDPMC */
	[TX_GP_GUEST]  = { 10, "GP_REFLECTED" },     /* the guest's own #GP */
	[TX_PF]        = { 11, "PAGE_FAULT" },       /* every #PF (hidden, tracing or the guest's) */
	[TX_EXC]       = { 12, "EXCEPTION" },        /* any other exception, reflected */
	[TX_INTR]      = { 13, "INTERRUPT" },        /* external interrupt (delivered or held) */
	[TX_SYSCALL]   = { 14, "SYSCALL" },          /* user SYSCALL: into the VMM, redirected to the guest LSTAR */
	[TX_INTN]      = { 15, "INT_N" },            /* INT n / INT3: through the monitor's IDT, reflected */
	[TX_IRET]      = { 16, "GP_IRET" },          /* IRETQ to an RPL 0 frame (#GP at CPL 1) */
};

/* Sensitive-but-unprivileged classes the engine watches. */
enum trap_div { TD_POPF, TD_PUSHF, TD_SGDT, TD_SIDT, TD_SLDT, TD_STR, TD_SMSW, TD_SEG_READ, TD_COUNT };
static const enum vl_event trap_div_event[TD_COUNT] = {
	VL_EV_DIV_POPF, VL_EV_DIV_PUSHF, VL_EV_DIV_SGDT, VL_EV_DIV_SIDT, VL_EV_DIV_SLDT, VL_EV_DIV_STR,
	VL_EV_DIV_SMSW, VL_EV_DIV_SEG_READ,
};

struct trap_vmm {
	struct vl_vcpu vcpu;
	const struct vl_mmu_ops *mmu;
	void *mmu_ctx;
	uint64_t ndiv;                 /* divergences in the whole run */
	uint64_t div[TD_COUNT];
	char first[256];               /* the first, as a phrase */
	uint64_t last_rip, last_insns; /* the last one recorded: an instruction that */
	int last_class;                /* faults after its intercept runs again (count it once) */
};

static const char *const sreg_name[6] = { "ES", "CS", "SS", "DS", "FS", "GS" };

/* Record one divergence: what the real ring did differently from CPL 0. */
static void diverge(struct trap_vmm *t, enum trap_div d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void diverge(struct trap_vmm *t, enum trap_div d, const char *fmt, ...)
{
	struct vl_machine *m = t->vcpu.m;
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (t->last_class == (int)d && t->last_rip == m->cpu.rip && t->last_insns == m->insns)
		return;   /* the same instruction again, after a (hidden) fault on its memory operand */
	t->last_class = (int)d;
	t->last_rip = m->cpu.rip;
	t->last_insns = m->insns;
	t->ndiv++;
	t->div[d]++;
	vl_count(m, VL_EV_DIVERGENCES, 1);
	vl_count(m, trap_div_event[d], 1);
	if (!t->first[0])
		snprintf(t->first, sizeof t->first, "%s at rip %#" PRIx64, what, m->cpu.rip);
	vl_trace(m, "trap: NOT VIRTUALIZABLE: %s at rip %#" PRIx64 " (the hardware proceeds)", what, m->cpu.rip);
}

static unsigned bit(uint64_t v, uint64_t mask) { return (v & mask) != 0; }

/* A sensitive, unprivileged instruction at virtual CPL 0, about to execute
 * at the real ring: compare what it will do with what it would do at CPL 0. */
static void check_sensitive(struct trap_vmm *t, const struct vl_sens_event *ev)
{
	struct vl_vcpu *v = &t->vcpu;
	const struct vl_cpu *c = &v->m->cpu;
	unsigned r = v->ring;
	switch (ev->cls) {
	case VL_SENS_POPF: {
		uint64_t gfl = vl_vcpu_guest_rflags(v);
		if (bit(ev->value, VL_FL_IF) != bit(gfl, VL_FL_IF))
			diverge(t, TD_POPF, "POPF at CPL %u ignored IF %u->%u", r, bit(gfl, VL_FL_IF), bit(ev->value, VL_FL_IF));
		else if (((ev->value ^ gfl) & VL_FL_IOPL))
			diverge(t, TD_POPF, "POPF at CPL %u ignored IOPL %u->%u", r, (unsigned)((gfl >> 12) & 3),
				(unsigned)((ev->value >> 12) & 3));
		break;
	}
	case VL_SENS_PUSHF: {
		uint64_t gfl = vl_vcpu_guest_rflags(v);
		if ((gfl ^ c->rflags) & (VL_FL_IF | VL_FL_IOPL))
			diverge(t, TD_PUSHF, "PUSHF at CPL %u showed IF %u IOPL %u (virtual IF %u IOPL %u)", r,
				bit(c->rflags, VL_FL_IF), (unsigned)((c->rflags >> 12) & 3), bit(gfl, VL_FL_IF),
				(unsigned)((gfl >> 12) & 3));
		break;
	}
	case VL_SENS_SGDT:
	case VL_SENS_SIDT: {
		bool g = ev->cls == VL_SENS_SGDT;
		const struct vl_dtr *hw = g ? &c->gdtr : &c->idtr, *vt = g ? &v->gdtr : &v->idtr;
		if (hw->base != vt->base || hw->limit != vt->limit)
			diverge(t, g ? TD_SGDT : TD_SIDT, "%s at CPL %u revealed the monitor's %s %#" PRIx64 "/%#x (guest's %#" PRIx64 "/%#x)",
				g ? "SGDT" : "SIDT", r, g ? "GDT" : "IDT", hw->base, hw->limit, vt->base, vt->limit);
		break;
	}
	case VL_SENS_SLDT:
		if (c->ldtr.sel != v->ldtr.sel)
			diverge(t, TD_SLDT, "SLDT at CPL %u revealed LDTR %#x (guest's %#x)", r, c->ldtr.sel, v->ldtr.sel);
		break;
	case VL_SENS_STR:
		if (c->tr.sel != v->tr.sel)
			diverge(t, TD_STR, "STR at CPL %u revealed the monitor's TR %#x (guest's %#x)", r, c->tr.sel, v->tr.sel);
		break;
	case VL_SENS_SMSW: {
		/* memory form: 16 bits; register form: the operand size (compared on 32) */
		uint64_t mask = ev->gpr == 0xff ? 0xffffu : 0xffffffffu;
		if ((c->cr0 ^ v->cr0) & mask)
			diverge(t, TD_SMSW, "SMSW at CPL %u revealed CR0 %#" PRIx64 " (virtual %#" PRIx64 ")", r, c->cr0 & mask,
				v->cr0 & mask);
		break;
	}
	case VL_SENS_READ_SEG: {
		unsigned s = ev->reg % 6;
		if (c->seg[s].sel != vl_vcpu_guest_sel(v, s))
			diverge(t, TD_SEG_READ, "read of %s at CPL %u showed %#x, RPL %u (guest believes %#x)", sreg_name[s], r,
				c->seg[s].sel, c->seg[s].sel & 3u, vl_vcpu_guest_sel(v, s));
		break;
	}
	default:
		break;
	}
}

/* The CS of the IRETQ frame at RSP, read as a diagnostic would (quiet: no
 * count, no charge; the hardware has just read it). */
static bool iret_frame_cs(struct vl_machine *m, uint16_t *cs)
{
	uint64_t va = m->cpu.gpr[VL_RSP] + 8;
	struct vl_walk_req rq = { .root = m->cpu.cr3 & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_R, .quiet = true };
	struct vl_walk_res res;
	if (vl_walk(m, &rq, va, &res) != VL_WALK_OK)
		return false;
	const uint8_t *p = vl_phys_ptr(m, res.pa);
	if (!p || (va & 0xfff) > 4094)
		return false;
	memcpy(cs, p, 2);
	return true;
}

static int trap_intercept(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev)
{
	struct trap_vmm *t = ctx;
	struct vl_vcpu *v = &t->vcpu;
	uint64_t t0 = m->tsc;
	int rc;
	switch (ev->cls) {
	case VL_SENS_SYSCALL:
		/* SYSCALL enters the monitor at ring 0 (its own LSTAR); it IRETs to the guest's */
		VL_CHARGE(m, VL_CAT_EXIT, insn_syscall);
		VL_CHARGE(m, VL_CAT_EXIT, insn_iret);
		VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
		rc = vl_vcpu_syscall(v, ev->len);
		vl_count_exit(m, TX_SYSCALL, m->tsc - t0);
		break;
	case VL_SENS_INTN:
		vl_vcpu_charge_trap(v);
		rc = vl_vcpu_deliver(v, ev->vector, VL_VCPU_SOFT, false, 0, 0, ev->len);
		vl_count_exit(m, TX_INTN, m->tsc - t0);
		break;
	case VL_SENS_IRET: {
		uint16_t cs = 0;
		if (vl_vcpu_cpl(v) != 0)
			return VL_HOOK_PASS;      /* user IRET: the hardware's, as natively */
		if (iret_frame_cs(m, &cs) && (cs & 3) == 3) {
			vl_vcpu_to_user(v);       /* the hardware returns to user itself; at CPL 3 IF is real */
			return VL_HOOK_PASS;
		}
		/* to an RPL 0 frame: #GP at the real ring, emulated */
		vl_vcpu_charge_trap(v);
		VL_CHARGE(m, VL_CAT_VMM, vmm_emulate);
		rc = vl_vcpu_iret(v);
		vl_vcpu_sync(v);
		vl_count_exit(m, TX_IRET, m->tsc - t0);
		break;
	}
	default:
		if (vl_vcpu_cpl(v) == 0)
			check_sensitive(t, ev);
		return VL_HOOK_PASS;          /* the hardware proceeds — wrongly, when it diverged */
	}
	if (m->trace)
		vl_trace(m, "trap: %s -> rip %#" PRIx64 " cpl %u", trap_exit_table[ev->cls == VL_SENS_SYSCALL ? TX_SYSCALL :
			 ev->cls == VL_SENS_INTN ? TX_INTN : TX_IRET].name, m->cpu.rip, vl_vcpu_cpl(v));
	return rc;
}

static unsigned gp_slot(int what)
{
	switch (what) {
	case VL_SENS_CR_READ: case VL_SENS_CR_WRITE: case VL_SENS_CLTS: case VL_SENS_LMSW: return TX_GP_CR;
	case VL_SENS_IO: return TX_GP_IO;
	case VL_SENS_RDMSR: case VL_SENS_WRMSR: return TX_GP_MSR;
	case VL_SENS_CLI: case VL_SENS_STI: return TX_GP_IF;
	case VL_SENS_HLT: return TX_GP_HLT;
	case VL_SENS_INVLPG: return TX_GP_INVLPG;
	case VL_SENS_LGDT: case VL_SENS_LIDT: case VL_SENS_LLDT: case VL_SENS_LTR: return TX_GP_DESC;
	case VL_VCPU_SEG: return TX_GP_SEG;
	case VL_SENS_SYSRET: case VL_SENS_SWAPGS: return TX_GP_SYS;
	case VL_SENS_IRET: return TX_IRET;
	case VL_VCPU_REFLECT: return TX_GP_GUEST;
	default: return TX_GP_OTHER;
	}
}

static int trap_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct trap_vmm *t = ctx;
	uint64_t t0 = m->tsc, rip = m->cpu.rip;
	int what = VL_VCPU_REFLECT;
	vl_vcpu_charge_trap(&t->vcpu);
	int rc = vl_vcpu_exception(&t->vcpu, vec, has_err, err, cr2, &what);
	unsigned slot = vec == VL_PF ? TX_PF : vec == VL_GP ? gp_slot(what) : TX_EXC;
	vl_count_exit(m, slot, m->tsc - t0);
	if (m->trace)
		vl_trace(m, "trap: %s (vector %u err %#x) at rip %#" PRIx64 " -> rip %#" PRIx64 " cpl %u",
			 trap_exit_table[slot].name, vec, err, rip, m->cpu.rip, vl_vcpu_cpl(&t->vcpu));
	return rc;
}

static int trap_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	struct trap_vmm *t = ctx;
	uint64_t t0 = m->tsc;
	vl_vcpu_charge_trap(&t->vcpu);
	int rc = vl_vcpu_interrupt(&t->vcpu, vec);
	vl_count_exit(m, TX_INTR, m->tsc - t0);
	if (m->trace)
		vl_trace(m, "trap: interrupt %u %s", vec, t->vcpu.held ? "held (virtual IF 0)" : "delivered through the guest IDT");
	return rc;
}

static const struct vl_vmm_ops trap_hooks = {
	.intercept = trap_intercept,
	.exception = trap_exception,
	.interrupt = trap_interrupt,
};

static int trap_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (mmu != VL_MMU_SHADOW) {
		snprintf(why, whylen, "engine trap runs only with mmu shadow (pre-VT x86 has no nested paging)");
		return -1;
	}
	return 0;
}

static int trap_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	struct trap_vmm *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "trap: out of memory");
		return -1;
	}
	t->mmu = mmu;
	t->last_class = -1;
	if (!vl_cpu_in_64bit_mode(&m->cpu) || !(m->cpu.cr0 & VL_CR0_PG)) {
		/* A Multiboot kernel boots in 32-bit protected mode with paging
		 * off. Its GDT fits the shadow (64 KiB), and the shared vCPU
		 * runtime now handles paging off and 32-bit code for bt, but
		 * trap's own divergence checks and exit table are written for a
		 * 64-bit kernel, and running 32-bit kernel code directly under
		 * trap has not been built or tested: refused. */
		snprintf(err, errlen, "trap: the guest starts in 32-bit protected mode with paging off (a Multiboot kernel?); "
			 "the deprivileged vCPU runtime (engines/hv) runs a 64-bit kernel with paging on only");
		free(t);
		return VL_ATTACH_REFUSED;
	}
	uint64_t boot_cr0 = m->cpu.cr0;   /* the guest's, before the MMU engine sets the hardware's (WP) */
	if (mmu->init && mmu->init(m, VL_VENDOR_NONE, &t->mmu_ctx, err, errlen)) {
		free(t);
		return -1;
	}
	if (vl_vcpu_init(&t->vcpu, m, mmu, t->mmu_ctx, 1, err, errlen)) {
		if (mmu->fini)
			mmu->fini(m, t->mmu_ctx);
		free(t);
		return -1;
	}
	t->vcpu.cr0 = boot_cr0;
	m->intercept = vl_vcpu_intercepts() | VL_SENS_BIT(VL_SENS_POPF) | VL_SENS_BIT(VL_SENS_PUSHF) |
		       VL_SENS_BIT(VL_SENS_SGDT) | VL_SENS_BIT(VL_SENS_SIDT) | VL_SENS_BIT(VL_SENS_SLDT) |
		       VL_SENS_BIT(VL_SENS_STR) | VL_SENS_BIT(VL_SENS_SMSW) | VL_SENS_BIT(VL_SENS_READ_SEG);
	m->callouts = false;
	m->nested.enabled = false;
	m->vmm = &trap_hooks;
	m->vmm_ctx = t;
	m->exit_table = trap_exit_table;
	m->exit_table_len = TX_COUNT;
	*ctx = t;
	return 0;
}

static void trap_detach(struct vl_machine *m, void *ctx)
{
	struct trap_vmm *t = ctx;
	if (!t)
		return;
	if (t->mmu->fini)
		t->mmu->fini(m, t->mmu_ctx);
	if (m->vmm_ctx == t) {
		m->vmm = NULL;
		m->vmm_ctx = NULL;
	}
	free(t);
}

/* The run cannot be trusted once the guest executed a non-virtualizable
 * instruction: `failed`, naming the first divergence. */
static int trap_verdict(struct vl_machine *m, void *ctx, char *why, size_t whylen)
{
	struct trap_vmm *t = ctx;
	if (!t || !t->ndiv)
		return 0;
	if (t->ndiv > 1)
		snprintf(why, whylen, "not virtualizable: %s, %" PRIu64 " more", t->first, t->ndiv - 1);
	else
		snprintf(why, whylen, "not virtualizable: %s", t->first);
	return -1;
}

const struct vl_engine_ops vl_engine_trap = {
	.name = "trap",
	.desc = "classic trap-and-emulate on pre-VT x86 (kernel at ring 1): fails on sensitive unprivileged instructions",
	.default_mmu = VL_MMU_SHADOW,
	.mmu_mask = VL_MMU_BIT(VL_MMU_SHADOW),
	.check = trap_check,
	.attach = trap_attach,
	.detach = trap_detach,
	.verdict = trap_verdict,
};
