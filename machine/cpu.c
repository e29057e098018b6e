/* cpu.c — the interpreter: reset, the decode cache, the run loop (fetch,
 * decode once, execute, charge, count), events (device time, interrupts,
 * HLT, limits), lazy flags, and the intercept call into the VMM.
 *
 * Counting contract (see machine/README.md): per retired instruction the
 * loop counts guest_instructions and charges the instruction's profile cost
 * to the guest category; the platform counts the instruction fetch's ITLB
 * access (one vl_mem_translate_inline per executed instruction) and every
 * data access. Nothing here depends on the host: the decode cache and the
 * soft TLB are invisible in every count.
 */
#include <stdio.h>
#include <stdlib.h>

#include "block.h"

/* ---- decode cache ---------------------------------------------------------
 * Per host-physical frame that held executed code: 4096 decoded slots
 * indexed by the byte offset, validated by a per-frame generation that any
 * write to the frame bumps (self-modifying code, loader, VMM writes). Pages
 * are calloc'ed lazily (mmap-backed: untouched slots cost no memory). An
 * instruction that crosses a page boundary is decoded every time. */
struct vl_dpage {
	struct vl_insn ins[4096];   /* first: 64-byte aligned slots, one cache line each */
	uint32_t gen;
	void *raw;                  /* the allocation (dpage_new) */
};
_Static_assert(sizeof(struct vl_insn) == 64, "decode slots are one cache line");

/* A zeroed page of decodes, its slots aligned to cache lines (calloc: the
 * slots never touched cost no host memory). */
static struct vl_dpage *dpage_new(void)
{
	void *raw = calloc(1, sizeof(struct vl_dpage) + 64);
	if (!raw)
		return NULL;
	struct vl_dpage *dp = (struct vl_dpage *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
	dp->raw = raw;
	return dp;
}
static void dpage_free(struct vl_dpage *dp)
{
	if (dp)
		free(dp->raw);
}
struct vl_dcache {
	struct vl_dpage **pages;
	uint64_t nframes;
	/* Bounded memory: at most `cap` pages of decodes; allocating one more
	 * first drops them all (counted in `flushes`, a host statistic that no
	 * modelled counter sees — a dropped decode is decoded again). A guest
	 * that runs code on every frame, or every byte of a page, or rewrites
	 * its code in a loop, cannot grow the cache past cap pages. */
	uint64_t npages, cap, flushes;
};
#define VL_DCACHE_CAP 1024   /* pages of 4096 decoded slots */

void vl_dcache_invalidate_frame(struct vl_machine *m, uint64_t frame)
{
	struct vl_dcache *dc = m->priv->cpu.dcache;
	if (dc && frame < dc->nframes && dc->pages[frame])
		dc->pages[frame]->gen++;
}

int vl_cpu_priv_init(struct vl_machine *m)
{
	struct vl_dcache *dc = calloc(1, sizeof *dc);
	if (!dc)
		return -1;
	dc->nframes = m->mem_size >> 12;
	dc->pages = calloc(dc->nframes, sizeof *dc->pages);
	if (!dc->pages) {
		free(dc);
		return -1;
	}
	dc->cap = VL_DCACHE_CAP;
	m->priv->cpu.dcache = dc;
	if (cpu_blk_init(m)) {
		free(dc->pages);
		free(dc);
		m->priv->cpu.dcache = NULL;
		return -1;
	}
	const char *core = getenv("VIRTLAB_CORE");
	m->priv->cpu.core_ref = core && !strcmp(core, "ref");
	return 0;
}

static void dcache_drop_all(struct vl_dcache *dc)
{
	for (uint64_t f = 0; f < dc->nframes; f++)
		if (dc->pages[f])
			dc->pages[f]->gen++;
}

void vl_cpu_set_core(struct vl_machine *m, bool ref)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	if (p->core_ref == ref)
		return;
	p->core_ref = ref;
	if (p->dcache)
		dcache_drop_all(p->dcache);   /* cached slots hold the other core's handlers */
	p->fc_vpage = ~0ull;
}

bool vl_cpu_core_ref(const struct vl_machine *m)
{
	return m->priv->cpu.core_ref;
}

void vl_cpu_dcache_stats(const struct vl_machine *m, uint64_t *pages, uint64_t *flushes)
{
	const struct vl_dcache *dc = m->priv->cpu.dcache;
	*pages = dc ? dc->npages : 0;
	*flushes = dc ? dc->flushes : 0;
}

void vl_cpu_set_dcache_cap(struct vl_machine *m, uint64_t cap)
{
	if (m->priv->cpu.dcache)
		m->priv->cpu.dcache->cap = cap ? cap : 1;
}

void vl_cpu_priv_free(struct vl_machine *m)
{
	struct vl_dcache *dc = m->priv->cpu.dcache;
	cpu_blk_free(m);
	if (!dc)
		return;
	for (uint64_t f = 0; f < dc->nframes; f++)
		dpage_free(dc->pages[f]);
	free(dc->pages);
	free(dc);
	m->priv->cpu.dcache = NULL;
}

void vl_cpu_reset(struct vl_machine *m)
{
	struct vl_cpu *c = &m->cpu;
	struct vl_cpu_priv *p = &m->priv->cpu;
	memset(c, 0, sizeof *c);
	c->rflags = 0x2;
	c->cr0 = 0x60000010ull;    /* CD NW ET (SDM 9.1.1 power-up) */
	c->rip = 0xfff0;
	c->seg[VL_CS] = (struct vl_seg){ .sel = 0xf000, .base = 0xffff0000ull, .limit = 0xffff, .attr = 0x9b };
	for (int s = 0; s < 6; s++)
		if (s != VL_CS)
			c->seg[s] = (struct vl_seg){ .sel = 0, .base = 0, .limit = 0xffff, .attr = 0x93 };
	c->idtr.limit = 0xffff;
	c->gdtr.limit = 0xffff;
	c->dr[6] = 0xffff0ff0ull;
	c->dr[7] = 0x400;
	p->lf_op = LF_NONE;
	p->events = true;
	p->next_event = 0;
	p->last_vec_pos = 0;
	p->rep_chunk = 4096;
	p->vendor_intel = m->prof && !strcmp(m->prof->cpu_vendor, "intel");
	p->fc_vpage = ~0ull;
	p->emul = false;
	p->dmode = 0xff;   /* unknown: the first event check sets it (and drops stale decodes) */
}

/* Cycles an instruction is charged when it retires: exactly one profile
 * [insn] value, whose enum vl_pf goes to *pf (counters.h field_cycles);
 * VL_PF_NONE with 0 cycles for the string and INS/OUTS instructions, whose
 * handlers charge every iteration themselves (exec_str.c). */
static uint32_t insn_cost(const struct vl_profile *pr, const struct vl_insn *i, uint8_t *pf)
{
	unsigned f;
	uint64_t c;
#define PF(k) (f = VL_PF_insn_##k, c = pr->insn_##k)
	switch (i->cclass) {
	case VL_CC_ALU:
		if (i->mod == 3 || i->mod == 0xff || i->op == VL_OP_LEA || i->op == VL_OP_NOP)
			PF(alu);
		else if (i->opf & OPF_WRM)
			PF(store);
		else
			PF(load);
		break;
	case VL_CC_LOAD:       PF(load); break;
	case VL_CC_STORE:      PF(store); break;
	case VL_CC_BRANCH:     PF(branch); break;
	case VL_CC_MUL:        PF(mul); break;
	case VL_CC_DIV:        PF(div); break;
	case VL_CC_PUSH_POP:   PF(push_pop); break;
	case VL_CC_PUSHF:      PF(pushf); break;
	case VL_CC_POPF:       PF(popf); break;
	case VL_CC_CLI_STI:    PF(cli_sti); break;
	case VL_CC_MOV_CR:
		if (i->op == VL_OP_MOV_TO_CR && i->reg == 3)
			PF(mov_cr3);
		else
			PF(mov_cr);
		break;
	case VL_CC_INVLPG:     PF(invlpg); break;
	case VL_CC_CPUID:      PF(cpuid); break;
	case VL_CC_RDTSC:      PF(rdtsc); break;
	case VL_CC_RDMSR:      PF(rdmsr); break;
	case VL_CC_WRMSR:      PF(wrmsr); break;
	case VL_CC_IO:
		if (i->op == VL_OP_INS || i->op == VL_OP_OUTS)
			f = VL_PF_NONE, c = 0;   /* charged per iteration by the handler */
		else
			PF(io);
		break;
	case VL_CC_SYSCALL:    PF(syscall); break;
	case VL_CC_SYSRET:     PF(sysret); break;
	case VL_CC_IRET:       PF(iret); break;
	case VL_CC_SWAPGS:     PF(swapgs); break;
	case VL_CC_DESC_TABLE: PF(desc_table); break;
	case VL_CC_HLT:        PF(hlt); break;
	case VL_CC_OTHER_SYS:  PF(other_sys); break;
	case VL_CC_STRING:     /* charged per iteration by the handler */
	default:               f = VL_PF_NONE, c = 0; break;
	}
#undef PF
	*pf = (uint8_t)f;
	return c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
}
_Static_assert(VL_PF_NONE <= UINT8_MAX, "vl_insn.pf holds every enum vl_pf");

/* ---- lazy flags -------------------------------------------------------------- */
uint64_t cpu_flags_compute(const struct vl_machine *m)
{
	const struct vl_cpu_priv *p = &m->priv->cpu;
	if (p->lf_op == LF_NONE)
		return m->cpu.rflags & FL_ARITH;   /* before lf_sz is read: it is 0 until a first lazy op */
	unsigned sz = p->lf_sz;
	uint64_t mask = sz_mask(sz), sign = sz_sign(sz);
	uint64_t a = p->lf_src1, b = p->lf_src2, r = p->lf_res & mask, f = 0;
	bool cf = false, of = false, af = false;
	switch (p->lf_op) {
	case LF_ADD:
		cf = r < a;
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	case LF_ADC: {
		bool cin = (m->cpu.rflags & VL_FL_CF) != 0;   /* carry-in parked in rflags by alu() */
		cf = cin ? r <= a : r < a;
		of = ((a ^ r) & (b ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	}
	case LF_SUB:
		cf = a < b;
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	case LF_SBB: {
		bool cin = (m->cpu.rflags & VL_FL_CF) != 0;
		cf = cin ? a <= b : a < b;
		of = ((a ^ b) & (a ^ r) & sign) != 0;
		af = ((a ^ b ^ r) & 0x10) != 0;
		break;
	}
	case LF_LOGIC:
		break;
	case LF_INC:
		cf = (m->cpu.rflags & VL_FL_CF) != 0;
		of = r == sign;
		af = (r & 0xf) == 0;
		break;
	case LF_DEC:
		cf = (m->cpu.rflags & VL_FL_CF) != 0;
		of = r == sign - 1;
		af = (r & 0xf) == 0xf;
		break;
	/* shifts (exec_int.c op_shift): OF is defined for count 1 only; the
	 * formula below is used for every count. AF is undefined: 0. */
	case LF_SHL: {
		unsigned bits = 8 * sz;
		cf = b <= bits ? (a >> (bits - b)) & 1 : 0;
		of = ((r & sign) != 0) ^ cf;
		break;
	}
	case LF_SHR:
		cf = b <= 8u * sz ? (a >> (b - 1)) & 1 : 0;
		of = (a & sign) != 0;
		break;
	case LF_SAR: {
		unsigned bits = 8 * sz;
		cf = (uint64_t)(sx(a, sz) >> (b - 1 < bits ? b - 1 : bits - 1)) & 1;
		of = false;
		break;
	}
	}
	if (cf) f |= VL_FL_CF;
	if (of) f |= VL_FL_OF;
	if (af) f |= VL_FL_AF;
	if (!r) f |= VL_FL_ZF;
	if (r & sign) f |= VL_FL_SF;
	if (!__builtin_parity((unsigned)(r & 0xff))) f |= VL_FL_PF;
	return f;
}

bool cpu_cond_slow(struct vl_machine *m, unsigned cc)
{
	uint64_t f = cpu_flags_compute(m);
	bool cf = f & VL_FL_CF, zf = f & VL_FL_ZF, sf = f & VL_FL_SF, of = f & VL_FL_OF, pf = f & VL_FL_PF;
	bool r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return r ^ (cc & 1);
}

void vl_cpu_kick(struct vl_machine *m)
{
	cpu_kick(m);
}

/* machine.h "Interrupt window": the guest's virtual IF became 1. */
void vl_intr_release(struct vl_machine *m)
{
	m->intr_held = false;
	cpu_kick(m);   /* offer the pending interrupt at the next instruction boundary */
}

/* For the platform: a nested-fault exit is about to save guest state. */
void vl_cpu_flags_sync(struct vl_machine *m)
{
	cpu_flags_sync(m);
	cpu_kick(m);   /* a VM exit mid-instruction: the VMM may change anything */
}

/* ---- intercepts ------------------------------------------------------------------ */
int cpu_intercept_slow(struct vl_machine *m, struct vl_sens_event *ev)
{
	if (m->priv->cpu.emul || !m->vmm || !m->vmm->intercept)
		return -1;
	cpu_flags_sync(m);
	uint64_t faults = m->priv->cpu.injected_faults;
	int rc = m->vmm->intercept(m, m->vmm_ctx, ev);
	cpu_kick(m);
	if (rc == VL_HOOK_PASS)
		return -1;
	if (rc != VL_HOOK_DONE)
		return VL_X_STOP;
	/* Retired as natively, or not: the VMM injected a fault for it, or
	 * left RIP on it (the guest runs it again, e.g. after the MMU engine
	 * took a hidden fault of the VMM's emulation) */
	if (m->priv->cpu.injected_faults != faults || m->cpu.rip == ev->insn_rip)
		return VL_X_AGAIN;
	return VL_X_HOOKED;
}

/* ---- events -------------------------------------------------------------------- */
/* Before the next instruction: devices, limits, interrupts, HLT. Returns
 * true when the loop must stop (machine left VL_M_RUNNING). */
static bool cpu_events(struct vl_machine *m)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	struct vl_cpu *c = &m->cpu;
	bool idled = false;
	p->fc_vpage = ~0ull;   /* the paging context or CPL may have changed */
	for (;;) {
		p->events = false;
		if (m->state != VL_M_RUNNING)
			return true;
		if (m->tsc >= vl_dev_next_event(m))
			vl_dev_advance(m);
		if (m->max_cycles && m->tsc >= m->max_cycles) {
			vl_machine_stop(m, VL_M_TIMEOUT, "reached --max-cycles (%llu modelled cycles)",
					(unsigned long long)m->max_cycles);
			return true;
		}
		unsigned vec;
		if (c->intr_shadow) {
			p->events = true;   /* look again after the next instruction */
		} else if (c->nmi_pending && !c->nmi_blocked) {
			/* NMI: ahead of external interrupts, whatever IF says; wakes HLT */
			c->halted = false;
			if (m->nmi_intercept && m->vmm && m->vmm->nmi) {
				cpu_flags_sync(m);
				int rc = m->vmm->nmi(m, m->vmm_ctx);
				if (rc == VL_HOOK_DONE && NEVER(m->state == VL_M_RUNNING && c->nmi_pending && !c->nmi_blocked)) {
					vl_machine_stop(m, VL_M_ERROR, "NMI: the VMM returned DONE without delivering it");
					return true;
				}
				if (rc != VL_HOOK_PASS)
					continue;
			}
			vl_deliver_nmi(m);
			continue;
		} else if ((c->rflags & VL_FL_IF) && !m->intr_held && vl_apic_pending(m, &vec)) {
			bool was_halted = c->halted;
			c->halted = false;
			if (m->intr_intercept && m->vmm && m->vmm->interrupt) {
				cpu_flags_sync(m);
				int rc = m->vmm->interrupt(m, m->vmm_ctx, vec);
				if (rc == VL_HOOK_HOLD) {
					/* machine.h "Interrupt window": pending until vl_intr_release */
					c->halted = was_halted;
					m->intr_held = true;
					vl_count(m, VL_EV_INTR_HOLDS, 1);
					continue;
				}
				if (rc == VL_HOOK_DONE) {
					unsigned again;
					if (NEVER(m->state == VL_M_RUNNING && vl_apic_pending(m, &again) && again == vec &&
						  !m->intr_held)) {
						vl_machine_stop(m, VL_M_ERROR, "interrupt %u: the VMM returned DONE without delivering it", vec);
						return true;
					}
					continue;
				}
				if (rc != VL_HOOK_PASS)
					continue;   /* STOP: the loop sees the state */
			}
			vl_deliver_interrupt(m, vec);
			continue;
		}
		if (c->halted && m->intr_held) {
			vl_machine_stop(m, VL_M_ERROR, "HLT at rip %#llx with an interrupt held by the VMM: nothing can wake the CPU",
					(unsigned long long)c->rip);
			return true;
		}
		if (c->halted) {
			uint64_t dev = vl_dev_next_event(m), lim = m->max_cycles ? m->max_cycles : UINT64_MAX;
			if (!(c->rflags & VL_FL_IF) || dev == UINT64_MAX) {
				vl_machine_stop(m, VL_M_ERROR, "HLT at rip %#llx with %s: nothing can wake the CPU",
						(unsigned long long)c->rip,
						(c->rflags & VL_FL_IF) ? "no timer armed" : "interrupts disabled");
				return true;
			}
			/* After one idle wake-up that delivered nothing (the timer's
			 * vector masked by its LVT, the TPR or an in-service vector), no
			 * later expiry can deliver either: only the CPU could change
			 * that, and it is halted. Sleep to the cycle limit. */
			uint64_t wake = idled ? lim : (dev < lim ? dev : lim);
			if (wake == UINT64_MAX) {
				vl_machine_stop(m, VL_M_ERROR, "HLT at rip %#llx: the timer's interrupt is masked, nothing can wake the CPU",
						(unsigned long long)c->rip);
				return true;
			}
			if (wake > m->tsc)
				vl_charge(m, VL_CAT_GUEST, wake - m->tsc);   /* idle: the TSC runs on */
			idled = true;
			continue;
		}
		if (__builtin_expect(p->tf_step, 0)) {
			/* the single-stepped instruction retired: #DB (trap, DR6.BS) before the next */
			p->tf_step = false;
			if (m->insns != p->tf_insns) {
				c->dr[6] |= 1ull << 14;
				m->priv->fault = (struct vl_fault){ .vec = VL_DB };
				cpu_deliver_fault(m);
				continue;
			}
		}
		if (__builtin_expect((c->rflags & VL_FL_TF) != 0, 0)) {
			p->tf_step = true;   /* look again after this instruction */
			p->tf_insns = m->insns;
			p->events = true;
		}
		p->next_event = vl_dev_next_event(m);
		if (m->max_cycles && m->max_cycles < p->next_event)
			p->next_event = m->max_cycles;
		/* last, after any delivery above: the code segment of the next instruction */
		unsigned mode = cpu_dmode(m);
		if (__builtin_expect(mode != p->dmode, 0)) {
			if (mode == VL_DMODE_16) {
				vl_machine_stop(m, VL_M_ERROR, "%s at rip %#llx: 16-bit code is not modelled",
						(m->cpu.cr0 & VL_CR0_PE) ? "16-bit code segment" : "real mode",
						(unsigned long long)m->cpu.rip);
				return true;
			}
			dcache_drop_all(p->dcache);   /* the same bytes decode differently now */
			p->dmode = (uint8_t)mode;
		}
		return false;
	}
}

/* ---- fetch and decode --------------------------------------------------------- */
/* Decode-cache page of host frame `frame` (allocated on first use), or NULL. */
static struct vl_dpage *dcache_page(struct vl_machine *m, uint64_t frame)
{
	struct vl_dcache *dc = m->priv->cpu.dcache;
	struct vl_dpage *dp;
	if (frame >= dc->nframes)
		return NULL;
	dp = dc->pages[frame];
	if (!dp) {
		if (dc->npages >= dc->cap) {
			for (uint64_t f = 0; f < dc->nframes; f++) {
				dpage_free(dc->pages[f]);
				dc->pages[f] = NULL;
			}
			dc->npages = 0;
			dc->flushes++;
			cpu_blk_reset(m);   /* blocks point at the freed slots */
			m->priv->cpu.fc_vpage = ~0ull;   /* it pointed into a freed page */
		}
		dp = dpage_new();
		if (!dp)
			return NULL;   /* host out of memory: run uncached */
		dp->gen = 1;
		dc->pages[frame] = dp;
		dc->npages++;
		vl_mem_mark_code(m, frame);
	}
	return dp;
}

/* Decode at host-physical pa (cpu.rip's translation) into slot e of dp, or
 * into tmp when the instruction crosses a page or dp is NULL. */
static const struct vl_insn *cpu_decode(struct vl_machine *m, uint64_t pa, struct vl_dpage *dp, struct vl_insn *tmp)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	uint8_t buf[16];
	size_t off = pa & 0xfff, avail = 4096 - off;
	if (avail > 15)
		avail = 15;
	for (size_t k = 0; k < avail; k++)
		buf[k] = pa + k < m->mem_size ? m->mem[pa + k] : 0xff;
	int len = vl_decode_mode(buf, avail, p->dmode, tmp);
	bool cross = false;
	if (len == 0) {   /* runs into the next page: fetch it (a second ITLB access) */
		uint64_t pa2, va2 = (m->cpu.rip | 0xfff) + 1;
		p->fc_vpage = ~0ull;   /* another ITLB entry becomes the most recent */
		if (vl_mem_translate(m, va2, VL_ACC_X | cpu_uacc(m), &pa2))
			return NULL;
		for (size_t k = avail; k < 15; k++)
			buf[k] = pa2 + (k - avail) < m->mem_size ? m->mem[pa2 + k - avail] : 0xff;
		len = vl_decode_mode(buf, 15, p->dmode, tmp);
		cross = true;
	}
	if (len == -2 || len == 0) {
		cpu_fault(m, VL_GP, true, 0);   /* longer than 15 bytes */
		return NULL;
	}
	if (len < 0) {
		cpu_fault(m, VL_UD, false, 0);
		return NULL;
	}
	tmp->cost = insn_cost(m->prof, tmp, &tmp->pf);
	if (cross || !dp)
		return tmp;
	struct vl_insn *e = &dp->ins[off];
	*e = *tmp;
	e->gen = dp->gen;
	if (!p->core_ref)
		e->fn = cpu_fast_fn(e, &e->chain);
	return e;
}

/* Fetch through the translation and the decode cache, remembering the page
 * in the fetch cache (the slow half of cpu_fetch). */
static __attribute__((noinline)) const struct vl_insn *cpu_fetch_slow(struct vl_machine *m, struct vl_insn *tmp)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	uint64_t rip = m->cpu.rip, pa;
	struct vl_dpage *dp;

	if ((rip >> 12) == p->fc_vpage && p->fc_ent->id == p->fc_id) {
		/* cached page, stale decode (self-modifying code): counted as a hit */
		m->ctr->events[VL_EV_ITLB_HITS]++;
		tlb_touch(&m->priv->mem.itlb, p->fc_ent);
		return cpu_decode(m, (p->fc_frame << 12) | (rip & 0xfff), p->fc_dp, tmp);
	}
	unsigned acc = VL_ACC_X | cpu_uacc(m);
	if (__builtin_expect(vl_mem_translate_inline(m, rip, acc, &pa), 0))
		return NULL;
	dp = dcache_page(m, pa >> 12);
	/* remember the page if the soft TLB holds it (it does unless the fast path is off) */
	struct vl_mem_priv *mp = &m->priv->mem;
	const struct vl_soft_ent *s = &mp->soft[VL_SOFT_IDX(m, acc, rip)];
	if (dp && !mp->soft_off && s->vpage == (rip >> 12) && s->id == s->ent->id && s->frame == (pa >> 12)) {
		p->fc_vpage = rip >> 12;
		p->fc_ent = s->ent;
		p->fc_id = s->id;
		p->fc_frame = pa >> 12;
		p->fc_dp = dp;
	} else {
		p->fc_vpage = ~0ull;
	}
	if (dp) {
		struct vl_insn *e = &dp->ins[pa & 0xfff];
		if (e->gen == dp->gen)
			return e;
	}
	return cpu_decode(m, pa, dp, tmp);
}

/* The decoded instruction at cpu.rip, or NULL with a fault in priv->fault.
 * `tmp` holds instructions that are not cached (page-crossing, unbacked).
 * The common case, inlined into the loop: same page as the last fetch, the
 * decode cached — the modelled ITLB hit counted as the soft TLB would. */
static inline const struct vl_insn *cpu_fetch(struct vl_machine *m, struct vl_insn *tmp)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	uint64_t rip = m->cpu.rip;

	if (__builtin_expect((rip >> 12) == p->fc_vpage && p->fc_ent->id == p->fc_id, 1)) {
		struct vl_dpage *dp = p->fc_dp;
		struct vl_insn *e = &dp->ins[rip & 0xfff];
		if (__builtin_expect(e->gen == dp->gen, 1)) {
			m->ctr->events[VL_EV_ITLB_HITS]++;
			tlb_touch(&m->priv->mem.itlb, p->fc_ent);
			return e;
		}
	}
	return cpu_fetch_slow(m, tmp);
}

/* ---- the loop ------------------------------------------------------------------ */
/* Execute one instruction (events already looked at). */
static inline void cpu_exec_insn(struct vl_machine *m, const struct vl_insn *i, uint64_t insn_limit);
static inline void cpu_exec_one(struct vl_machine *m, uint64_t insn_limit)
{
	struct vl_insn tmp;
	const struct vl_insn *i = cpu_fetch(m, &tmp);
	if (__builtin_expect(i == NULL, 0)) {
		cpu_deliver_fault(m);
		return;
	}
	cpu_exec_insn(m, i, insn_limit);
}

/* Execute fetched instruction i: the handler, then retire, charge or
 * deliver its fault. */
static inline void cpu_exec_insn(struct vl_machine *m, const struct vl_insn *i, uint64_t insn_limit)
{
	uint8_t shadow = m->cpu.intr_shadow;
	int rc = i->fn(m, i);
	if (__builtin_expect(rc == VL_X_OK, 1)) {
		vl_charge_pf(m, VL_CAT_GUEST, i->pf, i->cost);
	} else if (rc == VL_X_FAULT) {
		struct vl_fault *f = &m->priv->fault;
		if (f->noncanon && i->mod < 3 && (i->base == VL_RSP || i->base == VL_RBP))
			f->vec = VL_SS_FAULT;   /* a stack-segment reference: #SS(0), not #GP(0) (SDM 3.3.7.1) */
		cpu_deliver_fault(m);
		return;
	} else if (rc != VL_X_HOOKED) {
		return;   /* VL_X_STOP, VL_X_AGAIN: not retired */
	}
	m->ctr->events[VL_EV_GUEST_INSNS]++;
	if (__builtin_expect(shadow, 0))
		m->cpu.intr_shadow = 0;
	if (__builtin_expect(++m->insns >= insn_limit, 0)) {
		vl_machine_stop(m, VL_M_TIMEOUT, "reached --max-instructions (%llu)", (unsigned long long)m->max_insns);
		m->priv->cpu.events = true;
	}
}

/* The fast core's chain: after an instruction, while nothing is due (no
 * event, the TSC before the next device deadline, the machine running, no
 * interrupt shadow), run the next cached instructions of the same page
 * without going back through the event check. Instructions marked
 * vl_insn.chain (registers, RIP and lazy flags only: exec_fast.c) retire
 * with their counts kept in locals — ITLB hits, guest instructions, guest
 * cycles, the TSC, m->insns — which nothing can read before they are added
 * to memory: that happens before any other instruction runs, before a
 * fault is delivered and before the loop looks at events. The chain starts
 * only when the page's ITLB entry is already the most recently used, so
 * each fetch's LRU refresh (tlb_touch) would be a no-op and is left out. Every
 * other instruction goes through cpu_exec_one as in the reference core.
 * The same checks as the reference loop, in the same order, decide where
 * the chain ends; the counts added are the same sums, so every counter is
 * bit-identical (tests/engines/test_core_ref.c). */
static inline void chain_flush(struct vl_machine *m, uint64_t nf, uint64_t n, uint64_t cyc, uint64_t pa)
{
	struct vl_counters *ctr = m->ctr;
	if (pa)
		cpu_blk_pend(m, pa);   /* the blocks' instructions to their profile values */
	ctr->events[VL_EV_ITLB_HITS] += nf;
	ctr->events[VL_EV_GUEST_INSNS] += n;
	ctr->cycles[VL_CAT_GUEST] += cyc;
	m->tsc += cyc;
	m->insns += n;
}

/* The soft-TLB hit of vl_mem_translate_inline for a chained memory access,
 * only when the whole access is plain RAM: in one page, the soft TLB holds
 * the translation, the frame is backed and — for a store — holds no
 * decoded or watched code (vl_mem_note_write could call a VMM). chain_look
 * has no effect; chain_hit then counts the DTLB hit and refreshes LRU
 * exactly as that hit does. */
static inline __attribute__((always_inline)) struct vl_soft_ent *chain_look(struct vl_machine *m, uint64_t va, unsigned sz, unsigned acc, uint8_t **host)
{
	return cpu_soft_look(m, va, sz, acc, host);
}
static inline void chain_hit(struct vl_machine *m, struct vl_soft_ent *s)
{
	m->ctr->events[VL_EV_DTLB_HITS]++;
	tlb_touch(&m->priv->mem.dtlb, s->ent);
}
static inline __attribute__((always_inline)) bool chain_soft(struct vl_machine *m, uint64_t va, unsigned sz, unsigned acc, uint8_t **host)
{
	struct vl_soft_ent *s = chain_look(m, va, sz, acc, host);
	if (!s)
		return false;
	chain_hit(m, s);
	return true;
}
static inline bool chain_canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* A VL_CHAIN_LD8 .. VL_CHAIN_RET instruction done inline: what its handler
 * (exec_fast.c, exec_int.c op_call/op_ret) does when the access hits plain
 * RAM and nothing faults — same operands, same order. false: nothing done
 * (the handler then runs as usual). */
static inline __attribute__((always_inline)) bool chain_mem(struct vl_machine *m, const struct vl_insn *e, uint64_t *rip)
{
	uint64_t *g = m->cpu.gpr, v = 0;
	unsigned acc = cpu_uacc(m);
	uint8_t *h;
	struct vl_soft_ent *s;
	switch (e->chain) {
	case VL_CHAIN_LD8:
		if (!chain_soft(m, cpu_ea(m, e), 8, acc, &h))
			return false;
		memcpy(&v, h, 8);
		g[e->reg] = v;
		break;
	case VL_CHAIN_LD4:
		if (!chain_soft(m, cpu_ea(m, e), 4, acc, &h))
			return false;
		memcpy(&v, h, 4);
		g[e->reg] = v;
		break;
	case VL_CHAIN_ST8:
		if (!chain_soft(m, cpu_ea(m, e), 8, acc | VL_ACC_W, &h))
			return false;
		memcpy(h, &g[e->reg], 8);
		break;
	case VL_CHAIN_ST4:
		if (!chain_soft(m, cpu_ea(m, e), 4, acc | VL_ACC_W, &h))
			return false;
		v = (uint32_t)g[e->reg];
		memcpy(h, &v, 4);
		break;
	case VL_CHAIN_PUSH8:
		v = g[e->reg];   /* PUSH RSP pushes the old value */
		if (!chain_soft(m, g[VL_RSP] - 8, 8, acc | VL_ACC_W, &h))
			return false;
		memcpy(h, &v, 8);
		g[VL_RSP] -= 8;
		break;
	case VL_CHAIN_POP8:
		if (!chain_soft(m, g[VL_RSP], 8, acc, &h))
			return false;
		memcpy(&v, h, 8);
		g[VL_RSP] += 8;
		g[e->reg] = v;   /* POP RSP: the popped value wins */
		break;
	case VL_CHAIN_CALL: {   /* op_call, 64-bit: target checked before the push */
		uint64_t ret = *rip + e->len, t = ret + e->imm;
		if (!chain_canonical(t) || !chain_soft(m, g[VL_RSP] - 8, 8, acc | VL_ACC_W, &h))
			return false;
		memcpy(h, &ret, 8);
		g[VL_RSP] -= 8;
		m->cpu.rip = *rip = t;
		return true;
	}
	case VL_CHAIN_RET:      /* op_ret, 64-bit, no imm16: the read counts even when the target faults */
		if (!(s = chain_look(m, g[VL_RSP], 8, acc, &h)))
			return false;
		memcpy(&v, h, 8);
		if (!chain_canonical(v))
			return false;   /* #GP: the handler reads again and faults */
		chain_hit(m, s);
		g[VL_RSP] += 8;
		m->cpu.rip = *rip = v;
		return true;
	case VL_CHAIN_ALUM: {   /* exec_int.c alu(): forms 1 (reg, [mem]) and CMP/TEST 0, 2 ([mem], reg/imm) */
		unsigned sz = e->osz;
		uint64_t mask = sz == 8 ? ~0ull : 0xffffffffull, a, b, r;
		if (!chain_soft(m, cpu_ea(m, e), sz, acc, &h))
			return false;
		if (sz == 8)
			memcpy(&v, h, 8);
		else
			memcpy(&v, h, 4);
		if (e->imm2 == 1) {
			a = g[e->reg] & mask;
			b = v;
		} else {
			a = v;
			b = e->imm2 ? e->imm & mask : g[e->reg] & mask;
		}
		unsigned lf;
		switch (e->op) {
		case VL_OP_ADD: r = a + b; lf = LF_ADD; break;
		case VL_OP_SUB: case VL_OP_CMP: r = a - b; lf = LF_SUB; break;
		case VL_OP_OR: r = a | b; lf = LF_LOGIC; break;
		case VL_OP_AND: case VL_OP_TEST: r = a & b; lf = LF_LOGIC; break;
		default: r = a ^ b; lf = LF_LOGIC; break;   /* VL_OP_XOR */
		}
		r &= mask;
		if (e->op != VL_OP_CMP && e->op != VL_OP_TEST)
			g[e->reg] = r;   /* form 1; a 32-bit write zero-extends */
		lf_set(m, lf, sz, a, b, r);
		break;
	}
	default:
		return false;
	}
	m->cpu.rip = *rip += e->len;
	return true;
}

static __attribute__((noinline)) void cpu_chain(struct vl_machine *m, uint64_t insn_limit)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	struct vl_tlb *itlb = &m->priv->mem.itlb;
	uint64_t n = 0, cyc = 0;   /* pending: retirements, cycles */
	uint64_t pa = 0;           /* pending: the blocks' retirements per profile value (block.h vl_blk_run.pa) */
	/* 1: the fetch of the instruction at rip, the first since the last
	 * flush, was counted already (a new page's fetch, below): the pending
	 * ITLB hits are n - 1 once it retired here, and it counts none itself
	 * when it goes through the generic path */
	uint64_t fetched = 0;
reload:
	/* What only a non-chain instruction (or an event) can change, in locals.
	 * The chain runs only while the ITLB entry of the page is already the
	 * most recently used one: every fetch's tlb_touch is then a no-op (chain
	 * instructions touch the DTLB at most), so the loop leaves it out. */
	if (m->tsc >= p->next_event || m->cpu.intr_shadow)
		goto out;
	if (p->fc_vpage != (m->cpu.rip >> 12) || p->fc_ent->id != p->fc_id || itlb->mru != p->fc_ent)
		goto newpage;
setup:;
	const uint64_t vpage = p->fc_vpage, budget = p->next_event - m->tsc;
	const uint64_t left = insn_limit > m->insns ? insn_limit - m->insns : 0;
	struct vl_tlb_ent *const ent = p->fc_ent;
	struct vl_dpage *const dp = p->fc_dp;
	const uint32_t gen = dp->gen;
	uint64_t rip = m->cpu.rip;   /* = m->cpu.rip: kept in a register across VL_CHAIN_SEQ */
	const uint32_t ctx = vl_mem_ctx(m);   /* only non-chain instructions change these */
	uint64_t *const fc = m->ctr->field_cycles;   /* (a marker switches m->ctr) */
	const unsigned uacc = cpu_uacc(m);
	for (;;) {
		if ((rip >> 12) != vpage)
			goto pagechg;
		struct vl_insn *e = &dp->ins[rip & 0xfff];
		if (e->gen != gen || cyc >= budget)
			break;
		/* a decoded block (exec_block.c), when all of it fits before the
		 * next deadline and the instruction limit: the checks below for each
		 * of its instructions would all pass, and its sums are theirs */
		const struct vl_blk *b = cpu_blk_get(m, e, (unsigned)(rip & 0xfff), gen);
		if (b && cyc + b->cyc_last < budget && n + b->n <= left) {
			struct vl_blk_run r = { .n = n, .cyc = cyc, .pa = pa, .budget = budget, .left = left, .ins = dp->ins,
						.vpage = vpage, .gen = gen, .ctx = ctx, .uacc = uacc };
			int bail = cpu_blk_exec(m, b, &rip, &r, NULL);
			n = r.n;
			cyc = r.cyc;
			pa = r.pa;
			if (__builtin_expect(!bail, 1)) {
				if (__builtin_expect(n >= left, 0))
					break;
				continue;
			}
			/* the instruction at rip needs its handler: as below */
			e = &dp->ins[rip & 0xfff];
			goto generic;
		}
		uint8_t k = e->chain;
		if (k == VL_CHAIN_SEQ) {
			e->fn(m, e);      /* VL_X_OK; it sets cpu.rip to the same rip + len */
			rip += e->len;
		} else if (k == VL_CHAIN_REG) {
			if (__builtin_expect(e->fn(m, e) != VL_X_OK, 0)) {
				chain_flush(m, n + 1 - fetched, n, cyc, pa);   /* Jcc to a non-canonical target: #GP */
				cpu_deliver_fault(m);
				return;
			}
			rip = m->cpu.rip;
		} else if (!k || !chain_mem(m, e, &rip)) {
			/* any other instruction: what cpu_exec_one does after a fetch-cache
			 * hit (the fetch's checks are the ones above), counts in memory */
		generic:
			chain_flush(m, n - (n ? fetched : 0), n, cyc, pa);
			if (!(fetched && !n)) {
				m->ctr->events[VL_EV_ITLB_HITS]++;
				tlb_touch(itlb, ent);
			}
			n = cyc = fetched = pa = 0;
			cpu_exec_insn(m, e, insn_limit);
			if (m->state != VL_M_RUNNING || p->events || m->tsc >= p->next_event)
				return;
			goto reload;
		}
		n++;
		cyc += e->cost;
		fc[e->pf] += e->cost;
		if (__builtin_expect(n >= left, 0))
			break;
	}
out:
	chain_flush(m, n - (n ? fetched : 0), n, cyc, pa);
	if (n && m->insns >= insn_limit) {
		vl_machine_stop(m, VL_M_TIMEOUT, "reached --max-instructions (%llu)", (unsigned long long)m->max_insns);
		p->events = true;
	}
	return;
pagechg:
	/* RIP left the page: what the run loop would do next — the event check
	 * (nothing is flagged: p->events is false inside a chain), then
	 * cpu_exec_one: the fetch through the translation — and, when the new
	 * page can chain, go on here with that fetch counted */
	if (n) {
		chain_flush(m, n - fetched, n, cyc, pa);
		if (m->insns >= insn_limit) {
			vl_machine_stop(m, VL_M_TIMEOUT, "reached --max-instructions (%llu)", (unsigned long long)m->max_insns);
			p->events = true;
			return;
		}
		n = cyc = fetched = pa = 0;
	}
	if (m->tsc >= p->next_event)
		return;
newpage: {
	struct vl_insn tmp;
	const struct vl_insn *i = cpu_fetch(m, &tmp);
	if (__builtin_expect(i == NULL, 0)) {
		cpu_deliver_fault(m);
		return;
	}
	/* the fetch may have called the VMM (a hidden fault of the shadow MMU, a
	 * nested fault): it runs this instruction whatever happened, but looks
	 * at events before the next one */
	if (i == &tmp || p->events || m->state != VL_M_RUNNING || m->tsc >= p->next_event ||
	    p->fc_vpage != (m->cpu.rip >> 12) || p->fc_ent->id != p->fc_id || itlb->mru != p->fc_ent) {
		cpu_exec_insn(m, i, insn_limit);
		if (m->state != VL_M_RUNNING || p->events || m->tsc >= p->next_event)
			return;
		goto reload;
	}
	fetched = 1;
	goto setup;
}
}

enum vl_mstate vl_machine_run(struct vl_machine *m)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	uint64_t insn_limit = m->max_insns ? m->max_insns : UINT64_MAX;
	p->events = true;
	if (p->core_ref) {
		/* the reference core: one instruction at a time */
		while (m->state == VL_M_RUNNING) {
			if (__builtin_expect(p->events || m->tsc >= p->next_event, 0)) {
				if (cpu_events(m))
					break;
			}
			cpu_exec_one(m, insn_limit);
		}
	} else {
		while (m->state == VL_M_RUNNING) {
			if (__builtin_expect(p->events || m->tsc >= p->next_event, 0)) {
				if (cpu_events(m))
					break;
			}
			cpu_exec_one(m, insn_limit);
			if (__builtin_expect(m->state == VL_M_RUNNING && !p->events, 1))
				cpu_chain(m, insn_limit);
		}
	}
	cpu_flags_sync(m);
	cpu_blk_sync(m);
	return m->state;
}

enum vl_mstate vl_machine_step(struct vl_machine *m)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	if (m->state != VL_M_RUNNING)
		return m->state;
	p->events = true;
	uint64_t before = m->ctr->events[VL_EV_INTERRUPTS];
	if (cpu_events(m)) {
		cpu_flags_sync(m);
		return m->state;
	}
	if (m->ctr->events[VL_EV_INTERRUPTS] == before)
		cpu_exec_one(m, m->max_insns ? m->max_insns : UINT64_MAX);
	cpu_flags_sync(m);
	p->events = true;
	return m->state;
}

/* ---- the VMM's emulator -------------------------------------------------------- */
void vl_retire_emulated(struct vl_machine *m)
{
	m->ctr->events[VL_EV_GUEST_INSNS]++;
	if (m->max_insns && ++m->insns >= m->max_insns) {
		vl_machine_stop(m, VL_M_TIMEOUT, "reached --max-instructions (%llu)", (unsigned long long)m->max_insns);
		m->priv->cpu.events = true;
	} else if (!m->max_insns) {
		m->insns++;
	}
}

int cpu_emul_write(struct vl_machine *m, uint64_t va, unsigned sz, uint64_t v)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	int vec = p->emul_write ? p->emul_write(m, p->emul_ctx, va, &v, sz) : 0;
	if (vec) {
		/* CR2: the faulting byte the write left in the fault record (a
		 * write may cross into a second page), else the write's address */
		uint64_t cr2 = m->priv->fault.cr2;
		if (cr2 < va || cr2 - va >= sz)
			cr2 = va;
		int rc = cpu_fault(m, (unsigned)vec, vec == VL_PF || vec == VL_GP, m->priv->fault.err);
		m->priv->fault.cr2 = cr2;
		return rc;
	}
	return 0;
}

int vl_emulate_one(struct vl_machine *m, const struct vl_emul_ops *ops, void *ctx, uint32_t *pfec)
{
	struct vl_cpu_priv *p = &m->priv->cpu;
	uint8_t buf[15];
	struct vl_insn in;
	unsigned acc = VL_ACC_X | cpu_uacc(m);
	uint64_t rip = m->cpu.rip;
	size_t n = 15, first = 4096 - (rip & 0xfff);
	int rc;

	/* fetch what the instruction can span: the rest of this page, the next only if needed */
	if (vl_mem_fetch(m, rip, buf, first < n ? first : n, acc))
		goto fault;
	/* 32-bit code decodes as such; a running machine never executes 16-bit
	 * code (cpu_events stops it), so anything else is 64-bit as before */
	unsigned mode = cpu_dmode(m) == VL_DMODE_32 ? VL_DMODE_32 : VL_DMODE_64;
	int len = vl_decode_mode(buf, first < n ? first : n, mode, &in);
	if (len == 0) {
		if (vl_mem_fetch(m, rip + first, buf + first, n - first, acc))
			goto fault;
		len = vl_decode_mode(buf, n, mode, &in);
	}
	if (len <= 0) {
		snprintf(m->diag, sizeof m->diag, "emulator: undecodable instruction at %#llx", (unsigned long long)rip);
		return -1;
	}
	if (in.op == VL_OP_CALLOUT || in.op == VL_OP_MARKER || in.op == VL_OP_HLT) {
		snprintf(m->diag, sizeof m->diag, "emulator: will not emulate %s at %#llx", vl_op_name(in.op),
			 (unsigned long long)rip);
		return -1;
	}
	cpu_flags_sync(m);
	p->emul = true;
	p->emul_write = ops ? ops->write : NULL;
	p->emul_ctx = ctx;
	rc = in.fn(m, &in);
	p->emul = false;
	p->emul_write = NULL;
	cpu_flags_sync(m);
	if (rc == VL_X_FAULT)
		goto fault;
	return 0;   /* VL_X_AGAIN: RIP unchanged, the guest re-executes the rest */
fault:
	if (m->priv->fault.vec == VL_FAULT_ABORT)
		return -1;
	if (pfec)
		*pfec = m->priv->fault.err;
	if (m->priv->fault.vec == VL_PF)
		m->cpu.cr2 = m->priv->fault.cr2;
	return (int)m->priv->fault.vec;
}
