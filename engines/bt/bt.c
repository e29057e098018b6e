/* bt.c — engine `bt`: full virtualization by binary translation (VMware
 * style). Guest user code (CPL 3) runs directly; the guest kernel is
 * deprivileged to ring 1 (engines/hv/vcpu.c) and never runs as written:
 * every entry to virtual CPL 0 goes through the dispatcher, which looks
 * the guest PC up in the translation cache (translating the block on a
 * miss, bt_translate.c) and resumes the CPU in the TC. Exits of a block
 * are chained to their successors; indirect control flow goes through the
 * inline hash lookup; sensitive instructions are in-TC sequences on the
 * virtual CPU state page or callouts handled here. See README.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "../hv/hv.h"
#include "../hv/vcpu.h"
#include "bt_translate.h"
#include "bt.h"

#define VL_NMI_VECTOR 2u

/* ---- sizes (one place) ---------------------------------------------------- */
#define BT_TC_SIZE      (2u << 20)        /* translation cache bytes */
#define BT_MAX_BLOCKS   16384u            /* translations per TC generation */
#define BT_GMAP_SIZE    32768u            /* guest PC -> block index, open addressing (power of 2) */
#define BT_HOT_SIZE     1024u             /* guest PCs with tracing-fault counts (adaptive BT) */

/* VMM entries, reported like exits (this engine's own numbering): the
 * callout kinds first (bt_callout_name), then the hardware traps into the
 * VMM from guest user code or from translated code. */
enum { BX_SYSCALL = BT_CO_COUNT, BX_INTN, BX_PF, BX_EXC, BX_INTR, BX_COUNT };
static struct vl_exit_desc bt_exit_table[BX_COUNT];

struct bt_link { uint32_t from; uint8_t exit; };

struct bt_tblock {
	struct bt_block b;            /* the translation (map, exits) */
	bool valid;
	uint64_t frame[2];            /* host frames its guest bytes came from (frame[1] = ~0: one) */
	struct bt_link *in;           /* chained exits jumping here */
	uint32_t nin, capin;
};

struct bt_hot { uint64_t pc; uint32_t faults, plain; bool used, hot, banned; };

struct bt_vmm {
	struct vl_vcpu vcpu;
	const struct vl_mmu_ops *mmu;
	void *mmu_ctx;
	struct vl_machine *m;
	csh cs, cs32;                 /* Capstone: 64-bit and 32-bit guest code */
	bool confine;
	/* 32-bit guest code runs translated as 64-bit code: while the CPU is in
	 * the TC the hidden part of CS says L = 1 (and EFER LME/LMA, CR4.PAE
	 * are on); the guest's values are kept here and put back at every VMM
	 * entry (README: "32-bit guest code") */
	bool ovr;
	uint16_t g_cs_attr;
	uint64_t g_efer, g_cr4;

	uint64_t vstate_pa, confine_pa, hash_pa, tc_pa;
	uint32_t tc_used, tc_size;
	uint8_t *scratch;             /* emit buffer (copied into the TC with vl_phys_write) */
	struct bt_mapent scratch_map[BT_MAX_MAP];

	struct bt_tblock *blk;        /* by index; sorted by TC address within a generation */
	uint32_t nblk;
	uint32_t gmap[BT_GMAP_SIZE];  /* block index + 1, 0 = empty */
	struct bt_hot hot[BT_HOT_SIZE];
	uint64_t lookups_seen;        /* vstate counter value already counted */
	uint64_t vcr8_seen;
	/* the interrupt shadow of an emulated MOV/POP SS (a SEG callout): TC
	 * address right after the callout and the guest PC of the shadowed
	 * instruction (ss_shadow_tc 0: none) */
	uint64_t ss_shadow_tc, ss_shadow_gpc;
};

static struct bt_vmm *bt_of(void *ctx) { return ctx; }

uint32_t bt_tc_limit;

static uint64_t vs_rd(struct bt_vmm *b, unsigned off) { return vl_phys_read64(b->m, b->vstate_pa + off); }
static void vs_wr(struct bt_vmm *b, unsigned off, uint64_t v) { vl_phys_write64(b->m, b->vstate_pa + off, v); }

static bool in_tc(const struct bt_vmm *b, uint64_t va) { return va >= BT_TC_VA && va < BT_TC_VA + b->tc_used; }

/* ---- 32-bit guest code: the hardware mode while in the TC ------------------------ */
/* Back to the guest's own CS attributes, EFER and CR4 (every VMM entry:
 * the VMM, the vCPU runtime and the machine's emulator see the guest's
 * mode and decode its code as 32-bit code). */
static void bt_hw_guest(struct bt_vmm *b)
{
	if (!b->ovr)
		return;
	struct vl_cpu *c = &b->m->cpu;
	c->seg[VL_CS].attr = b->g_cs_attr;
	c->efer = b->g_efer;
	c->cr4 = b->g_cr4;
	b->ovr = false;
}
/* The guest's 32-bit code is about to run from the TC: 64-bit mode for
 * the translation (CS.L = 1, D = 0; EFER LME/LMA; CR4.PAE). The guest's
 * selector, its descriptor in its GDT and every register it can read stay
 * as they were; nothing the guest reads shows the change (segment reads
 * and SGDT are callouts emulated with the guest's values). */
static void bt_hw_tc(struct bt_vmm *b)
{
	struct vl_machine *m = b->m;
	struct vl_cpu *c = &m->cpu;
	if (b->ovr || m->state != VL_M_RUNNING || vl_vcpu_cpl(&b->vcpu) != 0 || !in_tc(b, c->rip) || vl_cpu_in_64bit_mode(c))
		return;
	b->g_cs_attr = c->seg[VL_CS].attr;
	b->g_efer = c->efer;
	b->g_cr4 = c->cr4;
	c->seg[VL_CS].attr = (uint16_t)((c->seg[VL_CS].attr | VL_SEG_ATTR_L) & ~0x4000u);
	c->efer |= VL_EFER_LME | VL_EFER_LMA;
	c->cr4 |= VL_CR4_PAE;
	b->ovr = true;
}
/* The guest runs 32-bit code now (valid outside the TC's override). */
static bool bt_guest_m32(const struct bt_vmm *b) { return !vl_cpu_in_64bit_mode(&b->m->cpu); }

/* ---- virtual CPU state shared with translated code ----------------------------- */
/* TC -> vCPU: the virtual IF and CR8 translated code changed, the lookups it counted. */
static void bt_sync_in(struct bt_vmm *b)
{
	struct vl_machine *m = b->m;
	b->vcpu.vif = vs_rd(b, BT_VS_VIF) != 0;
	uint64_t cr8 = vs_rd(b, BT_VS_VCR8) & 15;
	if (cr8 != b->vcr8_seen) {
		vl_apic_set_tpr(m, (uint8_t)cr8);
		b->vcr8_seen = cr8;
	}
	uint64_t n = vs_rd(b, BT_VS_LOOKUPS);
	if (n != b->lookups_seen) {
		vl_count(m, VL_EV_TC_LOOKUPS, n - b->lookups_seen);
		b->lookups_seen = n;
	}
}
/* vCPU -> TC */
static void bt_sync_out(struct bt_vmm *b)
{
	struct vl_machine *m = b->m;
	vs_wr(b, BT_VS_VIF, b->vcpu.vif ? VL_FL_IF : 0);
	vs_wr(b, BT_VS_VPEND, b->vcpu.held);
	uint64_t cr8 = vl_apic_get_tpr(m);
	if (cr8 != b->vcr8_seen) {
		vs_wr(b, BT_VS_VCR8, cr8);
		b->vcr8_seen = cr8;
	}
	vs_wr(b, BT_VS_FSBASE, m->cpu.seg[VL_FS].base);
	vs_wr(b, BT_VS_GSBASE, m->cpu.seg[VL_GS].base);
	bt_hw_tc(b);
}

/* ---- guest code access (the translator's fetch) ----------------------------------- */
/* Guest-virtual va of kernel code -> host-physical, by a software walk of the
 * guest's own tables (the VMM reading them: charged tlb.walk_ref each). */
static bool bt_code_pa(struct bt_vmm *b, uint64_t va, uint64_t *hpa, uint32_t *pfec)
{
	struct vl_machine *m = b->m;
	if (!(b->vcpu.cr0 & VL_CR0_PG)) {   /* guest paging off: linear = guest-physical */
		*hpa = b->mmu->gpa_to_hpa ? b->mmu->gpa_to_hpa(m, b->mmu_ctx, va) : va;
		*pfec = 0;
		return va < m->ram_size && *hpa < m->ram_size;
	}
	uint64_t root = b->mmu->cr3_read ? b->mmu->cr3_read(m, b->mmu_ctx) : m->cpu.cr3;
	struct vl_walk_req rq = { .root = root & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_X, .software = true };
	struct vl_walk_res r;
	if (vl_walk(m, &rq, va, &r) != VL_WALK_OK) {
		*pfec = r.pfec;
		return false;
	}
	*hpa = b->mmu->gpa_to_hpa ? b->mmu->gpa_to_hpa(m, b->mmu_ctx, r.pa) : r.pa;
	return *hpa < m->ram_size;
}

static size_t bt_fetch(void *arg, uint64_t va, uint8_t *buf, size_t n)
{
	struct bt_vmm *b = arg;
	size_t got = 0;
	while (got < n) {
		uint64_t pa;
		uint32_t pfec;
		if (!bt_code_pa(b, va + got, &pa, &pfec))
			break;
		size_t k = 4096 - ((va + got) & 0xfff);
		if (k > n - got)
			k = n - got;
		memcpy(buf + got, b->m->mem + pa, k);
		got += k;
	}
	return got;
}

/* ---- adaptive BT: tracing faults per guest instruction --------------------------- */
static struct bt_hot *bt_hot_slot(struct bt_vmm *b, uint64_t pc, bool make)
{
	uint32_t h = (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 54) & (BT_HOT_SIZE - 1);
	for (uint32_t i = 0; i < BT_HOT_SIZE; i++) {
		struct bt_hot *s = &b->hot[(h + i) & (BT_HOT_SIZE - 1)];
		if (s->used && s->pc == pc)
			return s;
		if (!s->used) {
			if (!make)
				return NULL;
			s->used = true;
			s->pc = pc;
			return s;
		}
	}
	return NULL;   /* table full: that instruction is simply not adapted */
}

static bool bt_is_hot(void *arg, uint64_t pc)
{
	struct bt_hot *s = bt_hot_slot(arg, pc, false);
	return s && s->hot;
}

/* ---- the translation cache ------------------------------------------------------- */
static uint32_t gmap_hash(uint64_t pc) { return (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 40) & (BT_GMAP_SIZE - 1); }

static struct bt_tblock *bt_find(struct bt_vmm *b, uint64_t pc, bool m32)
{
	uint32_t h = gmap_hash(pc);
	for (uint32_t i = 0; i < BT_GMAP_SIZE; i++) {
		uint32_t e = b->gmap[(h + i) & (BT_GMAP_SIZE - 1)];
		if (!e)
			return NULL;
		struct bt_tblock *t = &b->blk[e - 1];
		if (t->valid && t->b.gva == pc && t->b.m32 == m32)   /* keyed by mode too */
			return t;
	}
	return NULL;
}

/* The block whose translation holds TC address va. */
static struct bt_tblock *bt_by_tc(struct bt_vmm *b, uint64_t va)
{
	uint32_t lo = 0, hi = b->nblk;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		const struct bt_block *x = &b->blk[mid].b;
		if (va < x->tc_va)
			hi = mid;
		else if (va >= x->tc_va + x->tc_len)
			lo = mid + 1;
		else
			return &b->blk[mid];
	}
	return NULL;
}

/* The inline lookup's table (bt_translate.c lookup): entry PC & 0xffff
 * holds {key, TC address}; the key is the PC for a 64-bit translation,
 * PC + 1 for a 32-bit one. An empty entry's key is non-canonical with low
 * 16 bits index + 2, so no lookup of either mode can match it (a 64-bit
 * lookup compares with a key whose low bits are the index, a 32-bit one
 * with index + 1), whatever target the guest jumps to. */
static uint64_t hash_key(uint64_t pc, bool m32) { return m32 ? pc + 1 : pc; }
static uint64_t hash_empty(uint64_t idx) { return 0x8000000000000000ull | ((idx + 2) & 0xffff); }
static void hash_reset(struct bt_vmm *b)
{
	for (uint64_t i = 0; i < BT_HASH_ENTRIES; i++)
		vl_phys_write64(b->m, b->hash_pa + i * 16, hash_empty(i));
}

static void hash_clear(struct bt_vmm *b, uint64_t pc, bool m32)
{
	uint64_t e = b->hash_pa + (pc & 0xffff) * 16;
	if (vl_phys_read64(b->m, e) == hash_key(pc, m32))
		vl_phys_write64(b->m, e, hash_empty(pc & 0xffff));
}

/* Drop every translation (TC full or tables full): a new generation. */
static void bt_flush(struct bt_vmm *b)
{
	struct vl_machine *m = b->m;
	b->ss_shadow_tc = 0;   /* its TC addresses are reused */
	for (uint32_t i = 0; i < b->nblk; i++) {
		for (int k = 0; k < 2; k++)
			if (b->blk[i].frame[k] != ~0ull)
				vl_code_watch(m, b->blk[i].frame[k], false);
		free(b->blk[i].in);
		free(b->blk[i].b.map);
	}
	b->nblk = 0;
	b->tc_used = 0;
	memset(b->gmap, 0, sizeof b->gmap);
	hash_reset(b);
	vl_count(m, VL_EV_TC_FLUSHES, 1);
	if (m->trace)
		vl_trace(m, "bt: translation cache flushed");
}

/* A translation stops being used: chained exits into it go back to their
 * stubs, its hash-table entry is cleared. Its bytes stay in the TC (a
 * block may be executing right now; TC space is reclaimed only by a flush). */
static void bt_invalidate(struct bt_vmm *b, struct bt_tblock *t)
{
	struct vl_machine *m = b->m;
	if (!t->valid)
		return;
	t->valid = false;
	for (uint32_t i = 0; i < t->nin; i++) {
		struct bt_tblock *f = &b->blk[t->in[i].from];
		const struct bt_exit *x = &f->b.exit[t->in[i].exit];
		uint64_t at = f->b.tc_va + x->jmp_off;
		uint32_t d = (uint32_t)(f->b.tc_va + x->stub_off - (at + 4));
		vl_phys_write(m, b->tc_pa + (at - BT_TC_VA), &d, 4);
	}
	t->nin = 0;
	hash_clear(b, t->b.gva, t->b.m32);
	vl_count(m, VL_EV_INVALIDATIONS, 1);
}

/* m->code_write: the guest wrote a frame translated code came from. */
static void bt_code_write(struct vl_machine *m, void *ctx, uint64_t frame, unsigned off, unsigned len)
{
	struct bt_vmm *b = ctx;
	unsigned n = 0;
	for (uint32_t i = 0; i < b->nblk; i++) {
		struct bt_tblock *t = &b->blk[i];
		if (t->valid && (t->frame[0] == frame || t->frame[1] == frame)) {
			bt_invalidate(b, t);
			n++;
		}
	}
	vl_code_watch(m, frame, false);
	if (m->trace && n)
		vl_trace(m, "bt: guest wrote code frame %#" PRIx64 " (+%#x, %u bytes): %u translations invalidated",
			 frame << 12, off, len, n);
}

static void bt_trace_block(struct bt_vmm *b, const struct bt_tblock *t)
{
	struct vl_machine *m = b->m;
	uint8_t code[BT_MAX_INSNS * 15];
	size_t n = bt_fetch(b, t->b.gva, code, t->b.glen < sizeof code ? t->b.glen : sizeof code);
	vl_trace(m, "bt: translate %#" PRIx64 ": %u guest instructions (%u bytes) -> %u bytes of TC at %#" PRIx64 ", %u callouts",
		 t->b.gva, t->b.ninsns, t->b.glen, t->b.tc_len, t->b.tc_va, t->b.ncallouts);
	cs_insn *ci = NULL;
	size_t k = cs_disasm(t->b.m32 ? b->cs32 : b->cs, code, n, t->b.gva, 0, &ci);
	for (size_t i = 0; i < k; i++)
		vl_trace(m, "bt:   %#" PRIx64 ": %s %s", ci[i].address, ci[i].mnemonic, ci[i].op_str);
	if (k)
		cs_free(ci, k);
}

/* Translate the block at guest PC pc. NULL with *pfec set when its first
 * instruction cannot be fetched (a #PF for the guest). */
static struct bt_tblock *bt_translate_at(struct bt_vmm *b, uint64_t pc, bool m32, uint32_t *pfec)
{
	struct vl_machine *m = b->m;
	uint64_t pa0;
	if (!bt_code_pa(b, pc, &pa0, pfec))
		return NULL;
	struct bt_xlate_env env = { .cs = m32 ? b->cs32 : b->cs, .fetch = bt_fetch, .hot = m32 ? NULL : bt_is_hot, .arg = b,
				    .confine = b->confine, .m32 = m32 };
	for (int attempt = 0; attempt < 2; attempt++) {
		if (b->nblk >= BT_MAX_BLOCKS || b->nblk >= BT_GMAP_SIZE / 2)
			bt_flush(b);
		struct bt_tblock *t = &b->blk[b->nblk];
		memset(t, 0, sizeof *t);
		t->b.map = b->scratch_map;
		t->b.map_cap = BT_MAX_MAP;
		struct bt_emit e = { .buf = b->scratch, .va = BT_TC_VA + b->tc_used, .cap = b->tc_size - b->tc_used };
		if (e.cap > 65536)
			e.cap = 65536;
		enum bt_xl_rc rc = bt_translate(&env, pc, &e, &t->b);
		if (rc == BT_XL_NOCODE) {
			*pfec = VL_PFEC_I;
			return NULL;
		}
		if (rc == BT_XL_FULL) {
			bt_flush(b);
			continue;
		}
		struct bt_mapent *map = malloc(t->b.nmap * sizeof *map + 1);
		if (!map) {
			vl_machine_stop(m, VL_M_ERROR, "bt: out of host memory");
			return NULL;
		}
		memcpy(map, b->scratch_map, t->b.nmap * sizeof *map);
		t->b.map = map;
		t->b.map_cap = t->b.nmap;
		vl_phys_write(m, b->tc_pa + b->tc_used, b->scratch, e.len);
		b->tc_used += (uint32_t)e.len;
		b->tc_used = (b->tc_used + 15) & ~15u;
		if (b->tc_used > b->tc_size)
			b->tc_used = b->tc_size;
		t->valid = true;
		t->frame[0] = pa0 >> 12;
		t->frame[1] = ~0ull;
		uint64_t last = pc + t->b.glen - 1, pa1;
		uint32_t pf1;
		if ((last >> 12) != (pc >> 12) && bt_code_pa(b, last, &pa1, &pf1))
			t->frame[1] = pa1 >> 12;
		for (int k = 0; k < 2; k++)
			if (t->frame[k] != ~0ull)
				vl_code_watch(m, t->frame[k], true);
		uint32_t idx = b->nblk++;
		uint32_t h = gmap_hash(pc);
		for (uint32_t i = 0;; i++) {
			uint32_t *s = &b->gmap[(h + i) & (BT_GMAP_SIZE - 1)];
			if (!*s || !b->blk[*s - 1].valid || (b->blk[*s - 1].b.gva == pc && b->blk[*s - 1].b.m32 == m32)) {
				*s = idx + 1;
				break;
			}
		}
		VL_CHARGE_N(m, VL_CAT_TRANSLATE, bt_translate_insn, t->b.ninsns);
		vl_count(m, VL_EV_TRANSLATIONS, 1);
		vl_count(m, VL_EV_TRANSLATED_INSNS, t->b.ninsns);
		vl_count(m, VL_EV_TC_BYTES, t->b.tc_len);
		if (m->trace)
			bt_trace_block(b, t);
		return t;
	}
	vl_machine_stop(m, VL_M_ERROR, "bt: block at %#" PRIx64 " does not fit in an empty translation cache", pc);
	return NULL;
}

/* The dispatcher: the guest is at virtual CPL 0 with RIP = a guest PC;
 * resume it in the translation of that PC. Counted as a dispatcher entry. */
static int bt_dispatch(struct bt_vmm *b, struct bt_tblock **out)
{
	struct vl_machine *m = b->m;
	uint64_t pc = m->cpu.rip;
	vl_count(m, VL_EV_DISPATCHES, 1);
	VL_CHARGE(m, VL_CAT_TRANSLATE, bt_dispatch);
	bool m32 = bt_guest_m32(b);
	struct bt_tblock *t = bt_find(b, pc, m32);
	uint32_t pfec = 0;
	if (!t)
		t = bt_translate_at(b, pc, m32, &pfec);
	if (!t) {
		if (m->state != VL_M_RUNNING)
			return VL_HOOK_STOP;
		/* the guest's own instruction-fetch fault */
		return vl_vcpu_deliver(&b->vcpu, VL_PF, VL_VCPU_EXC, true, pfec | VL_PFEC_I, pc, 0);
	}
	m->cpu.rip = t->b.tc_va;
	if (out)
		*out = t;
	return VL_HOOK_DONE;
}

/* After every VMM entry: the guest resumes at virtual CPL 0 only in the TC. */
static int bt_resume(struct bt_vmm *b, int rc)
{
	struct vl_machine *m = b->m;
	for (int i = 0; i < 4 && rc == VL_HOOK_DONE && m->state == VL_M_RUNNING; i++) {
		if (vl_vcpu_cpl(&b->vcpu) != 0 || in_tc(b, m->cpu.rip))
			break;
		rc = bt_dispatch(b, NULL);   /* may deliver a fetch #PF: loop to its handler */
	}
	vl_vcpu_sync(&b->vcpu);
	bt_sync_out(b);
	return m->state == VL_M_RUNNING ? rc : VL_HOOK_STOP;
}

/* Guest state at TC address va, from the block's map: registers back from
 * their slots, RSP undone, RIP = the guest instruction. false when va is not
 * at a restartable point (atomic stretch). */
static bool bt_to_guest(struct bt_vmm *b, uint64_t va)
{
	struct vl_machine *m = b->m;
	struct bt_tblock *t = bt_by_tc(b, va);
	if (!t)
		return false;
	const struct bt_mapent *me = bt_map_find(&t->b, (uint32_t)(va - t->b.tc_va));
	if (!me || (me->flags & BT_MAP_ATOMIC))
		return false;
	if (me->flags & BT_MAP_EXIT) {
		m->cpu.rip = t->b.exit[me->goff].target;
		return true;
	}
	for (unsigned r = 0; r < 8; r++)
		if (me->saved & (1u << r))
			m->cpu.gpr[r] = vs_rd(b, BT_VS_SLOT + 8 * r);
	m->cpu.gpr[VL_RSP] -= (uint64_t)(int64_t)me->rsp_delta;
	if (t->b.m32)
		m->cpu.gpr[VL_RSP] = (uint32_t)m->cpu.gpr[VL_RSP];   /* ESP wraps at 4 GiB */
	m->cpu.rip = t->b.m32 ? (uint32_t)(t->b.gva + me->goff) : t->b.gva + me->goff;
	return true;
}

/* Is TC address va inside the translation of the instruction an emulated
 * MOV/POP SS shadows (its map says "before it": the guest has not
 * finished it)? The machine's own shadow covers one TC instruction; the
 * VMM holds events through the rest, as in an atomic stretch, so an
 * interrupt or NMI comes after the whole guest instruction, as natively.
 * Reads nothing but the map. */
static bool bt_in_ss_shadow(struct bt_vmm *b, uint64_t va)
{
	if (!b->ss_shadow_tc || va < b->ss_shadow_tc)
		return false;
	struct bt_tblock *t = bt_by_tc(b, va);
	if (!t || t != bt_by_tc(b, b->ss_shadow_tc))
		return false;
	const struct bt_mapent *me = bt_map_find(&t->b, (uint32_t)(va - t->b.tc_va));
	uint64_t g = me ? t->b.gva + me->goff : 0;
	if (t->b.m32)
		g = (uint32_t)g;
	return me && !(me->flags & BT_MAP_EXIT) && g == b->ss_shadow_gpc;
}

/* ---- VMM entries ------------------------------------------------------------------- */
static bool bt_guest_insn(struct bt_vmm *b, uint64_t pc, cs_insn **ci);

/* A REP string store is traced once per execution (the MMU emulates it
 * whole): turning it into per-entry page-table updates would cost more.
 * Adaptive BT leaves it alone. */
static bool bt_adaptable(struct bt_vmm *b, uint64_t gpc)
{
	cs_insn *ci = NULL;
	if (!bt_guest_insn(b, gpc, &ci))
		return false;
	bool rep = ci[0].detail->x86.prefix[0] == X86_PREFIX_REP || ci[0].detail->x86.prefix[0] == X86_PREFIX_REPNE;
	cs_free(ci, 1);
	return !rep;
}
/* Callouts are counted by name apart from exits; the hardware traps into
 * the VMM (user SYSCALL, exceptions, interrupts) like the trap engine's. */
static void bt_count(struct bt_vmm *b, unsigned slot, uint64_t t0)
{
	if (slot < BT_CO_COUNT)
		vl_count_callout(b->m, slot, b->m->tsc - t0);
	else
		vl_count_exit(b->m, slot, b->m->tsc - t0);
}

static int bt_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	struct bt_vmm *b = bt_of(ctx);
	uint64_t t0 = m->tsc, rip = m->cpu.rip;
	bt_hw_guest(b);
	bt_sync_in(b);
	vl_vcpu_charge_trap(&b->vcpu);
	b->ss_shadow_tc = 0;
	unsigned slot = vec == VL_PF ? BX_PF : BX_EXC;
	int rc;
	if (!in_tc(b, rip)) {
		/* guest user code (or the VMM's own access on its behalf) */
		rc = vl_vcpu_exception(&b->vcpu, vec, has_err, err, cr2, NULL);
	} else if (vec == VL_PF) {
		uint32_t pfec = err;
		enum vl_pf_kind kind = VL_PF_TRUE;
		rc = b->mmu->page_fault(m, b->mmu_ctx, cr2, &pfec, &kind);
		vl_vcpu_sync(&b->vcpu);
		if (rc == VL_HOOK_DONE && kind == VL_PF_TRACING) {
			/* adaptive BT: count the guest instruction's tracing faults */
			struct bt_tblock *t = bt_by_tc(b, rip);
			const struct bt_mapent *me = t ? bt_map_find(&t->b, (uint32_t)(rip - t->b.tc_va)) : NULL;
			if (me && !(me->flags & (BT_MAP_EXIT | BT_MAP_ATOMIC))) {
				uint64_t gpc = t->b.gva + me->goff;
				struct bt_hot *s = bt_hot_slot(b, gpc, true);
				if (s && !s->faults && !s->hot && !s->banned && !bt_adaptable(b, gpc))   /* first fault: look once */
					s->banned = true;
				if (m->trace)
					vl_trace(m, "bt: tracing fault by guest rip %#" PRIx64 " (%u before, %s)", gpc, s ? s->faults : 0,
						 !s ? "untracked" : s->banned ? "not adaptable" : "counting");
				if (s && !s->hot && !s->banned && ++s->faults >= m->prof->bt_adapt_threshold) {
					s->hot = true;
					bt_invalidate(b, t);   /* retranslated on the next dispatch, with a PTE_WRITE callout */
					vl_count(m, VL_EV_ADAPTATIONS, 1);
					if (m->trace)
						vl_trace(m, "bt: adaptation: guest rip %#" PRIx64 " caused %u tracing faults: retranslated as a PTE_WRITE callout",
							 gpc, s->faults);
				}
			}
		}
		if (rc == VL_HOOK_PASS) {
			if (!bt_to_guest(b, rip)) {
				vl_machine_stop(m, VL_M_ERROR, "bt: #PF at TC %#" PRIx64 " outside any restartable point", rip);
				return VL_HOOK_STOP;
			}
			rc = vl_vcpu_deliver(&b->vcpu, VL_PF, VL_VCPU_EXC, true, pfec, cr2, 0);
		}
	} else {
		if (!bt_to_guest(b, rip)) {
			vl_machine_stop(m, VL_M_ERROR, "bt: exception %u at TC %#" PRIx64 " outside any restartable point", vec, rip);
			return VL_HOOK_STOP;
		}
		rc = vl_vcpu_deliver(&b->vcpu, vec, VL_VCPU_EXC, has_err, err, 0, 0);
	}
	bt_count(b, slot, t0);
	if (m->trace)
		vl_trace(m, "bt: %s vector %u err %#x at rip %#" PRIx64 " -> rip %#" PRIx64, bt_exit_table[slot].name, vec, err, rip, m->cpu.rip);
	return bt_resume(b, rc);
}

static int bt_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	struct bt_vmm *b = bt_of(ctx);
	uint64_t t0 = m->tsc;
	bt_hw_guest(b);
	bt_sync_in(b);
	int rc;
	if (vl_vcpu_cpl(&b->vcpu) == 0 && in_tc(b, m->cpu.rip)) {
		uint64_t save_rip = m->cpu.rip;
		if (!b->vcpu.vif || (vec >> 4) <= vl_apic_get_tpr(m)) {
			b->vcpu.held = true;   /* released by the INTR_WINDOW callout after STI / POPF / MOV CR8 */
			VL_CHARGE(m, VL_CAT_VMM, vmm_intr);
			vl_count(m, VL_EV_INTR_HOLDS, 1);
			bt_sync_out(b);
			bt_count(b, BX_INTR, t0);
			return VL_HOOK_HOLD;
		}
		if (bt_in_ss_shadow(b, save_rip) || !bt_to_guest(b, save_rip)) {   /* inside an atomic stretch or a MOV/POP SS shadow: a few instructions more */
			b->vcpu.held = true;
			bt_sync_out(b);
			vl_intr_release(m);
			return VL_HOOK_HOLD;
		}
	}
	vl_vcpu_charge_trap(&b->vcpu);
	rc = vl_vcpu_interrupt(&b->vcpu, vec);
	bt_count(b, BX_INTR, t0);
	if (m->trace)
		vl_trace(m, "bt: interrupt %u %s", vec, b->vcpu.held ? "held (virtual IF 0)" : "delivered through the guest IDT");
	if (rc == VL_HOOK_HOLD) {
		bt_sync_out(b);
		return rc;
	}
	return bt_resume(b, rc);
}

/* An NMI (nmi_intercept): delivered virtually through the guest's IDT
 * (vector 2, not masked by the virtual IF), blocking further NMIs until
 * the guest's IRET (vl_vcpu_iret), as the CPU does. */
static int bt_nmi(struct vl_machine *m, void *ctx)
{
	struct bt_vmm *b = bt_of(ctx);
	uint64_t t0 = m->tsc;
	bt_hw_guest(b);
	bt_sync_in(b);
	if (vl_vcpu_cpl(&b->vcpu) == 0 && in_tc(b, m->cpu.rip) &&
	    (bt_in_ss_shadow(b, m->cpu.rip) || !bt_to_guest(b, m->cpu.rip))) {
		/* inside an atomic stretch (a few instructions that cannot
		 * fault) or the rest of a MOV/POP SS shadow: the NMI stays
		 * pending and is offered again after the next instruction (the
		 * machine's one-instruction shadow) */
		m->cpu.intr_shadow = 1;
		bt_sync_out(b);
		return VL_HOOK_HOLD;
	}
	m->cpu.nmi_pending = false;
	vl_vcpu_charge_trap(&b->vcpu);
	int rc = vl_vcpu_deliver(&b->vcpu, VL_NMI_VECTOR, VL_VCPU_INTR, false, 0, 0, 0);
	if (rc == VL_HOOK_DONE)
		m->cpu.nmi_blocked = true;
	bt_count(b, BX_INTR, t0);
	if (m->trace)
		vl_trace(m, "bt: NMI delivered through the guest IDT -> rip %#" PRIx64, m->cpu.rip);
	return bt_resume(b, rc);
}

static int bt_intercept(struct vl_machine *m, void *ctx, const struct vl_sens_event *ev)
{
	struct bt_vmm *b = bt_of(ctx);
	struct vl_vcpu *v = &b->vcpu;
	uint64_t t0 = m->tsc;
	int rc;
	bt_hw_guest(b);
	bt_sync_in(b);
	switch (ev->cls) {
	case VL_SENS_SYSCALL:
		VL_CHARGE(m, VL_CAT_EXIT, insn_syscall);
		VL_CHARGE(m, VL_CAT_EXIT, insn_iret);
		VL_CHARGE(m, VL_CAT_VMM, vmm_exit_dispatch);
		rc = vl_vcpu_syscall(v, ev->len);
		bt_count(b, BX_SYSCALL, t0);
		break;
	case VL_SENS_INTN:
		vl_vcpu_charge_trap(v);
		rc = vl_vcpu_deliver(v, ev->vector, VL_VCPU_SOFT, false, 0, 0, ev->len);
		bt_count(b, BX_INTN, t0);
		break;
	case VL_SENS_IRET:
		if (vl_vcpu_cpl(v) != 0)
			return VL_HOOK_PASS;   /* user IRET: the hardware's */
		/* fall through: cannot happen (translated code has no IRETQ) */
		__attribute__((fallthrough));
	default:
		vl_machine_stop(m, VL_M_ERROR, "bt: unexpected intercept class %u at rip %#" PRIx64, (unsigned)ev->cls, m->cpu.rip);
		return VL_HOOK_STOP;
	}
	if (m->trace)
		vl_trace(m, "bt: %s -> rip %#" PRIx64, bt_exit_table[ev->cls == VL_SENS_SYSCALL ? BX_SYSCALL : BX_INTN].name, m->cpu.rip);
	return bt_resume(b, rc);
}

/* Decode the guest instruction at pc with Capstone (for the few callouts
 * the vCPU runtime does not emulate). */
static bool bt_guest_insn(struct bt_vmm *b, uint64_t pc, cs_insn **ci)
{
	uint8_t buf[16];
	size_t n = bt_fetch(b, pc, buf, 15);
	return n && cs_disasm(bt_guest_m32(b) ? b->cs32 : b->cs, buf, n, pc, 1, ci) == 1;
}

/* PTE_WRITE (adaptive BT): emulate the hot guest store, handing an aligned
 * 8-byte write to the MMU's pt_update instead of faulting on the traced page. */
struct ptw { struct bt_vmm *b; int rc; bool plain; };
static int bt_ptw_write(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n)
{
	struct ptw *p = ctx;
	struct bt_vmm *b = p->b;
	const uint8_t *src = data;
	uint64_t root = b->mmu->cr3_read(m, b->mmu_ctx);
	/* a store the hardware (shadow) tables let through would not have
	 * faulted: noted (the callout's caller counts such stores) */
	struct vl_walk_req hq = { .root = m->cpu.cr3 & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_W, .software = true };
	struct vl_walk_res hr;
	if (vl_walk(m, &hq, va, &hr) == VL_WALK_OK && (hr.perms & VL_PERM_W))
		p->plain = true;
	/* every aligned 8-byte entry the store touches: merged and written
	 * through the MMU engine, as a traced write of it would have been */
	while (n) {
		struct vl_walk_req rq = { .root = root & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = VL_ACC_W, .software = true };
		struct vl_walk_res r;
		if (vl_walk(m, &rq, va, &r) != VL_WALK_OK || !(r.perms & VL_PERM_W) || r.pa + 8 > m->ram_size) {
			p->rc = -1;   /* the guest's own fault: let the hardware raise it */
			return VL_PF;
		}
		uint64_t q = r.pa & ~7ull, old = vl_phys_read64(m, q);
		unsigned off = (unsigned)(r.pa & 7), k = 8 - off < n ? 8 - off : (unsigned)n;
		uint8_t e[8];
		memcpy(e, &old, 8);
		memcpy(e + off, src, k);
		uint64_t val;
		memcpy(&val, e, 8);
		if (!b->mmu->pt_update || b->mmu->pt_update(m, b->mmu_ctx, q, val)) {
			p->rc = -1;
			return VL_GP;
		}
		va += k;
		src += k;
		n -= k;
	}
	return 0;
}

/* Make the guest instruction at pc readable through the hardware root
 * before the machine's emulator fetches it: kernel code runs only from the
 * TC, so its pages may have no shadow entries yet (hidden faults, filled
 * by the MMU engine here). false if the guest itself cannot read it. */
static bool bt_prefault(struct bt_vmm *b, uint64_t pc)
{
	struct vl_machine *m = b->m;
	for (uint64_t va = pc; va < pc + 15; va = (va | 0xfff) + 1) {
		for (int tries = 0;; tries++) {
			uint8_t x;
			uint32_t pfec = 0;
			int rc = vl_virt_read(m, va, &x, 1, VL_ACC_R, &pfec);
			if (!rc)
				break;
			enum vl_pf_kind kind;
			if (rc != VL_PF || tries > 4 || b->mmu->page_fault(m, b->mmu_ctx, va, &pfec, &kind) != VL_HOOK_DONE)
				return false;
			vl_vcpu_sync(&b->vcpu);
		}
	}
	return true;
}

/* Instructions that would reveal the real (monitor's) state at ring 1 —
 * MOV r/m, Sreg; PUSH Sreg; SGDT; SIDT; SLDT; STR; SMSW — emulated with the
 * value the guest believes in: the machine's emulator runs the instruction
 * and every byte it stores, or the register it writes, is replaced. */
struct reveal { struct bt_vmm *b; uint8_t val[16]; size_t vlen; uint64_t va; bool started; };
static int bt_reveal_write(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n)
{
	struct reveal *w = ctx;
	uint8_t buf[16];
	if (n > sizeof buf)
		return VL_GP;
	memcpy(buf, data, n);
	if (!w->started) {   /* the emulator may store one operand in pieces (SGDT: limit, then base) */
		w->started = true;
		w->va = va;
	}
	uint64_t off = va - w->va;
	for (size_t i = 0; i < n; i++)
		if (off + i < w->vlen)
			buf[i] = w->val[off + i];
	for (int tries = 0; tries < 4; tries++) {
		uint32_t pfec = 0;
		int rc = vl_virt_write(m, va, buf, n, VL_ACC_W, &pfec);
		if (rc != VL_PF)
			return rc;
		enum vl_pf_kind kind;
		if (w->b->mmu->page_fault(m, w->b->mmu_ctx, va, &pfec, &kind) != VL_HOOK_DONE)
			return VL_PF;
		vl_vcpu_sync(&w->b->vcpu);
	}
	return VL_PF;
}

/* Returns -1 if the instruction at gpc is not one of them. */
static int bt_reveal(struct bt_vmm *b, uint64_t gpc)
{
	struct vl_machine *m = b->m;
	struct vl_vcpu *v = &b->vcpu;
	cs_insn *ci = NULL;
	if (!bt_guest_insn(b, gpc, &ci))
		return -1;
	const cs_x86 *d = &ci[0].detail->x86;
	struct reveal w = { .b = b };
	uint64_t val = 0;
	bool regform = d->op_count >= 1 && d->operands[0].type == X86_OP_REG;
	static const x86_reg order[6] = { X86_REG_ES, X86_REG_CS, X86_REG_SS, X86_REG_DS, X86_REG_FS, X86_REG_GS };
	switch (ci[0].id) {
	case X86_INS_PUSH: case X86_INS_MOV: {
		x86_reg sr = ci[0].id == X86_INS_PUSH ? d->operands[0].reg : d->operands[1].reg;
		unsigned sreg = 6;
		for (unsigned i = 0; i < 6; i++)
			if (order[i] == sr)
				sreg = i;
		if (sreg == 6 || (ci[0].id == X86_INS_MOV && d->operands[1].type != X86_OP_REG)) {
			cs_free(ci, 1);
			return -1;
		}
		val = vl_vcpu_guest_sel(v, sreg);
		regform = regform && ci[0].id == X86_INS_MOV;
		break;
	}
	case X86_INS_SGDT: case X86_INS_SIDT: {
		const struct vl_dtr *t = ci[0].id == X86_INS_SGDT ? &v->gdtr : &v->idtr;
		memcpy(w.val, &t->limit, 2);
		memcpy(w.val + 2, &t->base, 8);
		w.vlen = 10;
		regform = false;
		break;
	}
	case X86_INS_SLDT: val = v->ldtr.sel; break;
	case X86_INS_STR: val = v->tr.sel; break;
	case X86_INS_SMSW: val = v->cr0; break;
	default:
		cs_free(ci, 1);
		return -1;
	}
	if (!w.vlen) {
		memcpy(w.val, &val, 8);
		w.vlen = 8;
	}
	uint8_t modrm = d->modrm, rex = d->rex;
	unsigned osz = (rex & 8) ? 8 : d->prefix[2] == 0x66 ? 2 : 4;
	cs_free(ci, 1);
	static const struct vl_emul_ops ops = { .write = bt_reveal_write };
	uint32_t pfec = 0;
	m->cpu.rip = gpc;
	bt_prefault(b, gpc);
	VL_CHARGE(m, VL_CAT_VMM, vmm_emulate);
	int rc = vl_emulate_one(m, &ops, &w, &pfec);
	if (rc == VL_PF)
		return vl_vcpu_deliver(v, VL_PF, VL_VCPU_EXC, true, pfec, w.va, 0);
	if (rc)
		return vl_vcpu_deliver(v, (unsigned)(rc > 0 ? rc : VL_UD), VL_VCPU_EXC, rc == VL_GP, 0, 0, 0);
	if (regform) {
		unsigned r = (modrm & 7) | ((rex & 1) ? 8 : 0);
		if (osz == 2)
			m->cpu.gpr[r] = (m->cpu.gpr[r] & ~0xffffull) | (val & 0xffff);
		else if (osz == 4)
			m->cpu.gpr[r] = val & 0xffffffffull;
		else
			m->cpu.gpr[r] = val;
	}
	vl_retire_emulated(m);
	return VL_HOOK_DONE;
}

static int bt_callout(struct vl_machine *m, void *ctx, uint32_t id)
{
	struct bt_vmm *b = bt_of(ctx);
	struct vl_vcpu *v = &b->vcpu;
	uint64_t t0 = m->tsc, co_rip = m->cpu.rip;
	unsigned kind = BT_CO_KIND(id);
	bt_hw_guest(b);
	struct bt_tblock *t = bt_by_tc(b, co_rip);
	const struct bt_mapent *me = t ? bt_map_find(&t->b, (uint32_t)(co_rip - t->b.tc_va)) : NULL;
	if (!t || !me || kind >= BT_CO_COUNT) {
		vl_machine_stop(m, VL_M_ERROR, "bt: callout %#x at %#" PRIx64 " outside any translation", id, co_rip);
		return VL_HOOK_STOP;
	}
	bt_sync_in(b);
	if (kind == BT_CO_MARKER) {
		/* a region marker: no VMM work to model (free, as everywhere) */
		uint64_t gpc = t->b.gva + me->goff;
		uint8_t mk[7];
		if (bt_fetch(b, gpc, mk, 7) == 7) {
			uint32_t d;
			memcpy(&d, mk + 3, 4);
			unsigned k2 = (d >> 8) & 0xff, region = d & 0xff;
			if (k2 == VL_MARK_BEGIN && region < VL_MAX_REGIONS)
				m->region_id = (int)region;
			else if (k2 == VL_MARK_END)
				m->region_id = 0;
			m->ctr = &m->region[m->region_id];
		}
		m->cpu.rip = co_rip + VL_CALLOUT_LEN;
		bt_hw_tc(b);
		return VL_HOOK_DONE;
	}
	VL_CHARGE(m, VL_CAT_TRANSLATE, bt_callout);
	vl_count(m, VL_EV_CALLOUTS, 1);
	uint64_t gpc = t->b.gva + me->goff;
	int rc = VL_HOOK_DONE;
	bool cont = false;   /* resume after the callout in the same translation */
	bool ss_load = false;   /* MOV/POP SS emulated (a SEG callout continuing in the block) */
	switch (kind) {
	case BT_CO_EXIT: {
		unsigned xi = BT_CO_ARG(id);
		if (xi >= t->b.nexits) {
			vl_machine_stop(m, VL_M_ERROR, "bt: exit %u of a block with %u exits", xi, t->b.nexits);
			return VL_HOOK_STOP;
		}
		m->cpu.rip = t->b.exit[xi].target;
		uint32_t from = (uint32_t)(t - b->blk);
		struct bt_tblock *to = NULL;
		uint32_t gen = b->nblk;
		rc = bt_dispatch(b, &to);
		/* chain: patch the exit's jump, unless a flush just emptied the TC */
		if (rc == VL_HOOK_DONE && to && t->valid && b->nblk >= gen && from < b->nblk) {
			uint64_t at = t->b.tc_va + t->b.exit[xi].jmp_off;
			uint32_t d = (uint32_t)(to->b.tc_va - (at + 4));
			vl_phys_write(m, b->tc_pa + (at - BT_TC_VA), &d, 4);
			if (to->nin == to->capin) {
				uint32_t nc = to->capin ? to->capin * 2 : 4;
				struct bt_link *nl = realloc(to->in, nc * sizeof *nl);
				if (!nl) {
					vl_machine_stop(m, VL_M_ERROR, "bt: out of host memory");
					return VL_HOOK_STOP;
				}
				to->in = nl;
				to->capin = nc;
			}
			to->in[to->nin++] = (struct bt_link){ from, (uint8_t)xi };
			vl_count(m, VL_EV_CHAIN_LINKS, 1);
		}
		break;
	}
	case BT_CO_LOOKUP_MISS: {
		uint64_t target = m->cpu.gpr[VL_RAX];
		bool from32 = t->b.m32;   /* (t may be flushed by the dispatch) */
		for (unsigned r = 0; r < 3; r++)
			m->cpu.gpr[r] = vs_rd(b, BT_VS_SLOT + 8 * r);
		vl_count(m, VL_EV_TC_LOOKUP_MISSES, 1);
		VL_CHARGE(m, VL_CAT_TRANSLATE, bt_lookup_miss);
		m->cpu.rip = target;
		struct bt_tblock *to = NULL;
		rc = bt_dispatch(b, &to);
		if (rc == VL_HOOK_DONE && to && to->b.m32 == from32) {   /* keyed by mode (hash_key) */
			vl_phys_write64(m, b->hash_pa + (target & 0xffff) * 16, hash_key(target, to->b.m32));
			vl_phys_write64(m, b->hash_pa + (target & 0xffff) * 16 + 8, to->b.tc_va);
		}
		break;
	}
	case BT_CO_INTR_WINDOW:
		m->cpu.rip = co_rip + VL_CALLOUT_LEN;
		if (b->vcpu.vif && b->vcpu.held) {
			b->vcpu.held = false;
			vl_intr_release(m);
		}
		break;
	case BT_CO_CPUID: {
		uint32_t out[4];
		hv_cpuid_table(m, (uint32_t)m->cpu.gpr[VL_RAX], (uint32_t)m->cpu.gpr[VL_RCX], out);   /* the VMMs' one table */
		m->cpu.gpr[VL_RAX] = out[0];
		m->cpu.gpr[VL_RBX] = out[1];
		m->cpu.gpr[VL_RCX] = out[2];
		m->cpu.gpr[VL_RDX] = out[3];
		VL_CHARGE(m, VL_CAT_VMM, vmm_cpuid);
		vl_retire_emulated(m);
		cont = true;
		break;
	}
	case BT_CO_PTE_WRITE: {
		struct ptw p = { b, 0, false };
		static const struct vl_emul_ops ops = { .write = bt_ptw_write };
		uint32_t pfec = 0;
		m->cpu.rip = gpc;
		VL_CHARGE(m, VL_CAT_VMM, vmm_emulate);
		int er = bt_prefault(b, gpc) ? vl_emulate_one(m, &ops, &p, &pfec) : -1;
		if (!er && !p.rc && m->cpu.rip == gpc) {
			/* a REP store made progress without finishing: the callout
			 * runs again for the next slice (interruptible, as the CPU's) */
			m->cpu.rip = co_rip;
			break;
		}
		if (er || p.rc) {
			/* not a PTE store after all: back to plain translation */
			struct bt_hot *s = bt_hot_slot(b, gpc, false);
			if (s) {   /* not a page-table store after all: never adapted again */
				s->hot = false;
				s->banned = true;
			}
			bt_invalidate(b, t);
			m->cpu.rip = gpc;   /* retranslated and re-executed by the dispatcher */
		} else {
			/* an instruction whose stores keep passing the hardware
			 * tables (a copy loop that once wrote a page table) goes
			 * back to plain translation after more of them in a row
			 * than a page table has entries (a sweep over one table
			 * could not make as many): a callout per ordinary store
			 * costs more than the tracing faults it saves. Not a cost:
			 * the architectural 512 entries per table. */
			struct bt_hot *s = bt_hot_slot(b, gpc, false);
			if (s && p.plain && ++s->plain > 512) {
				s->hot = false;
				s->banned = true;
				bt_invalidate(b, t);
			} else if (s && !p.plain) {
				s->plain = 0;
			}
			vl_retire_emulated(m);
			cont = true;
		}
		break;
	}
	case BT_CO_FAULT:
		m->cpu.rip = gpc;
		if (BT_CO_ARG(id) == BT_FAULT_UNTRANSLATED) {
			cs_insn *ci = NULL;
			bool ok = bt_guest_insn(b, gpc, &ci);
			vl_machine_stop(m, VL_M_ERROR, "bt: the 32-bit guest instruction at %#" PRIx64 " (%s %s) is not translated (engines/bt/README.md, known gaps)",
					gpc, ok ? ci[0].mnemonic : "?", ok ? ci[0].op_str : "");
			if (ok)
				cs_free(ci, 1);
			return VL_HOOK_STOP;
		}
		rc = vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
		break;
	case BT_CO_CONFINE:
		for (unsigned r = 0; r < 8; r++)
			if (me->saved & (1u << r))
				m->cpu.gpr[r] = vs_rd(b, BT_VS_SLOT + 8 * r);
		m->cpu.rip = gpc;
		if (m->cpu.gpr[VL_RSP] >= BT_HOLE_BASE && m->cpu.gpr[VL_RSP] < BT_HOLE_END) {
			/* no stack to deliver a fault on: the guest is stopped (the
			 * VMM's own memory is never written for it) */
			vl_machine_stop(m, VL_M_ERROR, "bt: the guest kernel at rip %#" PRIx64 " loaded RSP %#" PRIx64
					" in the monitor's reserved range", gpc, m->cpu.gpr[VL_RSP]);
			return VL_HOOK_STOP;
		}
		if (m->trace)
			vl_trace(m, "bt: guest rip %#" PRIx64 " reached the monitor's memory: #GP(0)", gpc);
		rc = vl_vcpu_deliver(v, VL_GP, VL_VCPU_EXC, true, 0, 0, 0);
		break;
	case BT_CO_INTN: {
		cs_insn *ci = NULL;
		m->cpu.rip = gpc;
		if (!bt_guest_insn(b, gpc, &ci)) {
			rc = vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
			break;
		}
		unsigned vec = VL_UD, len = ci[0].size;
		bool soft = true;
		if (ci[0].id == X86_INS_INT)
			vec = (unsigned)ci[0].detail->x86.operands[0].imm & 0xff;
		else if (ci[0].id == X86_INS_INT3)
			vec = VL_BP;
		else if (ci[0].id == X86_INS_INT1)
			vec = VL_DB;
		else if (ci[0].id == X86_INS_INTO && (m->cpu.rflags & VL_FL_OF))
			vec = VL_OF;
		else if (ci[0].id == X86_INS_INTO)
			soft = false, vec = 0;
		else if (ci[0].id == X86_INS_SYSCALL) {
			/* SYSCALL in kernel code: to LSTAR (CSTAR from compatibility
			 * mode, AMD) at CPL 0, as the hardware (kvm-unit-tests' syscall test) */
			cs_free(ci, 1);
			rc = vl_vcpu_syscall(v, len);
			break;
		} else
			soft = false;   /* SYSENTER: #UD (not modelled) */
		cs_free(ci, 1);
		if (ci && !soft && vec == 0) {   /* INTO without OF: nothing */
			m->cpu.rip = gpc + len;
			break;
		}
		rc = soft ? vl_vcpu_deliver(v, vec, VL_VCPU_SOFT, false, 0, 0, len)
			  : vl_vcpu_deliver(v, VL_UD, VL_VCPU_EXC, false, 0, 0, 0);
		break;
	}
	case BT_CO_SEG:
	case BT_CO_DESC: {
		m->cpu.rip = gpc;
		if (kind == BT_CO_SEG && BT_CO_ARG(id) == BT_SEG_REFRESH) {
			/* after an FS/GS load copied as written (gpc: the next
			 * instruction): nothing to emulate, bt_resume's bt_sync_out
			 * copies the new bases into the mirrors the check reads */
			cont = true;
			break;
		}
		int r2 = bt_reveal(b, gpc);
		if (r2 >= 0) {
			rc = r2;
			cont = rc == VL_HOOK_DONE && m->cpu.rip != gpc && vl_vcpu_cpl(v) == 0 && t->valid;
			break;
		}
	}
		__attribute__((fallthrough));
	default: {
		/* the vCPU runtime decodes the guest instruction at its PC and
		 * emulates it at virtual CPL 0 (CR/MSR/IO/INVLPG/HLT/SWAPGS/SYSRET/
		 * IRET/descriptor tables/segment loads ...) */
		int what = VL_VCPU_REFLECT;
		uint64_t cr4 = v->cr4;
		m->cpu.rip = gpc;
		rc = vl_vcpu_gp(v, 0, &what);
		ss_load = kind == BT_CO_SEG && what == VL_VCPU_SEG && m->cpu.intr_shadow;   /* MOV/POP SS set the shadow */
		if (~cr4 & v->cr4 & VL_CR4_SMEP) {
			/* SMEP on: the translator's fetch check (bt_code_pa) applies it
			 * from now on; translations of user pages made before must go.
			 * The flushed block is left for the dispatcher. */
			bt_flush(b);
			break;
		}
		if (rc == VL_HOOK_DONE && vl_vcpu_cpl(v) == 0 && (kind != BT_CO_SYSRET && kind != BT_CO_IRET)) {
			cs_insn *ci = NULL;
			if (bt_guest_insn(b, gpc, &ci)) {
				if (m->cpu.rip == gpc + ci[0].size && t->valid)
					cont = true;
				cs_free(ci, 1);
			}
		}
		break;
	}
	}
	/* a callout that ends its block (IRET, SYSRET, far transfers, ...) has
	 * no translated code after it: the dispatcher goes on from the guest RIP */
	if (cont && co_rip + VL_CALLOUT_LEN >= t->b.tc_va + (t->b.nexits ? t->b.exit[0].stub_off : t->b.tc_len))
		cont = false;
	/* MOV/POP SS emulated: its shadow over the next guest instruction's
	 * translation (bt_in_ss_shadow) */
	b->ss_shadow_tc = 0;
	if (cont && ss_load) {
		b->ss_shadow_tc = co_rip + VL_CALLOUT_LEN;
		b->ss_shadow_gpc = m->cpu.rip;
	}
	if (cont) {
		m->cpu.rip = co_rip + VL_CALLOUT_LEN;
		if (m->cpu.halted && b->vcpu.held) {   /* HLT with an interrupt waiting for it */
			m->cpu.halted = false;
		}
	}
	bt_count(b, kind, t0);
	if (m->trace && kind == BT_CO_EXIT)
		vl_trace(m, "bt: callout %s of block %#" PRIx64 " to guest %#" PRIx64 " -> rip %#" PRIx64, bt_callout_name[kind],
			 t->b.gva, BT_CO_ARG(id) < t->b.nexits ? t->b.exit[BT_CO_ARG(id)].target : 0, m->cpu.rip);
	else if (m->trace)
		vl_trace(m, "bt: callout %s at guest rip %#" PRIx64 " -> rip %#" PRIx64, bt_callout_name[kind], gpc, m->cpu.rip);
	return bt_resume(b, rc);
}

static const struct vl_vmm_ops bt_hooks = {
	.intercept = bt_intercept,
	.exception = bt_exception,
	.interrupt = bt_interrupt,
	.callout = bt_callout,
	.nmi = bt_nmi,
};

/* ---- engine ops ----------------------------------------------------------------------- */
static int bt_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (mmu != VL_MMU_SHADOW) {
		snprintf(why, whylen, "engine bt runs only with mmu shadow (binary translation needs no hardware assist; nested paging needs guest mode)");
		return -1;
	}
	return 0;
}

static void bt_free(struct bt_vmm *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; i < b->nblk; i++) {
		free(b->blk[i].in);
		free(b->blk[i].b.map);
	}
	free(b->blk);
	free(b->scratch);
	if (b->cs)
		cs_close(&b->cs);
	if (b->cs32)
		cs_close(&b->cs32);
	free(b);
}

/* Monitor pages for the translator: allocated contiguously, mapped with the
 * MMU engine's map_monitor in every shadow root. */
static int bt_map(struct bt_vmm *b, uint64_t va, uint32_t pages, unsigned perms, uint64_t *pa_out, char *err, size_t errlen)
{
	struct vl_machine *m = b->m;
	uint64_t first = 0;
	for (uint32_t i = 0; i < pages; i++) {   /* all frames first: the MMU's own tables come after */
		uint64_t pa = vl_mem_alloc_page(m);
		if (!pa || (i && pa != first + (uint64_t)4096 * i)) {
			snprintf(err, errlen, "bt: monitor memory exhausted (the translator needs %u contiguous pages)", pages);
			return -1;
		}
		if (!i)
			first = pa;
	}
	for (uint32_t i = 0; i < pages; i++)
		if (b->mmu->map_monitor(m, b->mmu_ctx, va + (uint64_t)4096 * i, first + (uint64_t)4096 * i, perms)) {
			snprintf(err, errlen, "bt: the MMU engine refused the monitor mapping at %#" PRIx64, va + (uint64_t)4096 * i);
			return -1;
		}
	*pa_out = first;
	return 0;
}

static int bt_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	struct bt_vmm *b = calloc(1, sizeof *b);
	if (!b || !(b->blk = calloc(BT_MAX_BLOCKS, sizeof *b->blk)) || !(b->scratch = malloc(65536))) {
		snprintf(err, errlen, "bt: out of memory");
		bt_free(b);
		return -1;
	}
	for (unsigned i = 0; i < BT_CO_COUNT; i++)
		bt_exit_table[i] = (struct vl_exit_desc){ i, bt_callout_name[i] };
	bt_exit_table[BX_SYSCALL] = (struct vl_exit_desc){ BX_SYSCALL, "TRAP_SYSCALL" };
	bt_exit_table[BX_INTN] = (struct vl_exit_desc){ BX_INTN, "TRAP_INT_N" };
	bt_exit_table[BX_PF] = (struct vl_exit_desc){ BX_PF, "TRAP_PAGE_FAULT" };
	bt_exit_table[BX_EXC] = (struct vl_exit_desc){ BX_EXC, "TRAP_EXCEPTION" };
	bt_exit_table[BX_INTR] = (struct vl_exit_desc){ BX_INTR, "TRAP_INTERRUPT" };
	b->m = m;
	b->mmu = mmu;
	b->confine = true;
	b->tc_size = bt_tc_limit && bt_tc_limit < BT_TC_SIZE ? bt_tc_limit : BT_TC_SIZE;
	if (bt_cs_open(&b->cs) || bt_cs_open32(&b->cs32)) {
		snprintf(err, errlen, "bt: cannot open Capstone");
		bt_free(b);
		return -1;
	}
	/* 64-bit mode, or 32-bit protected mode with paging off (a Multiboot
	 * kernel's entry); 16-bit code and legacy paging are not translated */
	bool boot64 = vl_cpu_in_64bit_mode(&m->cpu);
	uint64_t boot_cr0 = m->cpu.cr0;
	if (!boot64 && (!(boot_cr0 & VL_CR0_PE) || (boot_cr0 & VL_CR0_PG) || !(m->cpu.seg[VL_CS].attr & 0x4000u))) {
		snprintf(err, errlen, "bt: the guest starts in a mode the translator does not handle (16-bit code or legacy paging)");
		bt_free(b);
		return VL_ATTACH_REFUSED;
	}
	if (!mmu->map_monitor || !mmu->page_fault) {
		snprintf(err, errlen, "bt: MMU engine %s cannot map the monitor", mmu->name);
		bt_free(b);
		return -1;
	}
	if (mmu->init && mmu->init(m, VL_VENDOR_NONE, &b->mmu_ctx, err, errlen)) {
		bt_free(b);
		return -1;
	}
	if (vl_vcpu_init(&b->vcpu, m, mmu, b->mmu_ctx, 1, err, errlen) ||
	    bt_map(b, BT_VSTATE_VA, 1, VL_PERM_W, &b->vstate_pa, err, errlen) ||
	    bt_map(b, BT_CONFINE_VA, 1, 0, &b->confine_pa, err, errlen) ||
	    bt_map(b, BT_HASH_VA, BT_HASH_ENTRIES * 16 / 4096, 0, &b->hash_pa, err, errlen) ||
	    bt_map(b, BT_TC_VA, BT_TC_SIZE / 4096, VL_PERM_X, &b->tc_pa, err, errlen)) {
		if (mmu->fini)
			mmu->fini(m, b->mmu_ctx);
		bt_free(b);
		return -1;
	}
	if (!boot64) {
		/* the guest's view: paging off (the hardware pages through the
		 * shadow MMU's nonpaging root) */
		b->vcpu.cr0 = boot_cr0 | 0x10;   /* ET */
		b->vcpu.hv.guest_cr0 = b->vcpu.cr0;
	}
	for (unsigned x = 0x80; x <= 0x87; x++) {
		uint8_t one = 1;
		vl_phys_write(m, b->confine_pa + x, &one, 1);
	}
	hash_reset(b);
	b->vcr8_seen = ~0ull;
	m->intercept = vl_vcpu_intercepts();
	m->callouts = true;
	m->nmi_intercept = true;
	m->callout_gate = (struct vl_callout_gate){ .va_lo = BT_TC_VA, .va_hi = BT_TC_VA + BT_TC_SIZE,
						    .pa_lo = b->tc_pa, .pa_hi = b->tc_pa + BT_TC_SIZE, .cpl = 1 };
	m->code_write = bt_code_write;
	m->code_write_ctx = b;
	m->nested.enabled = false;
	m->vmm = &bt_hooks;
	m->vmm_ctx = b;
	m->exit_table = bt_exit_table;
	m->exit_table_len = BX_COUNT;
	m->callout_lo = 0;
	m->callout_hi = BT_CO_COUNT;
	*ctx = b;
	/* the boot entry is kernel code: it starts in the TC */
	if (bt_resume(b, VL_HOOK_DONE) != VL_HOOK_DONE) {
		snprintf(err, errlen, "bt: cannot translate the guest's entry at %#" PRIx64 ": %s", m->cpu.rip, m->diag);
		return -1;
	}
	return 0;
}

static void bt_detach(struct vl_machine *m, void *ctx)
{
	struct bt_vmm *b = ctx;
	if (!b)
		return;
	bt_hw_guest(b);
	bt_sync_in(b);
	if (b->mmu->fini)
		b->mmu->fini(m, b->mmu_ctx);
	if (m->vmm_ctx == b) {
		m->vmm = NULL;
		m->vmm_ctx = NULL;
		m->code_write = NULL;
		m->code_write_ctx = NULL;
	}
	bt_free(b);
}

static uint64_t bt_guest_rflags(struct vl_machine *m, void *ctx)
{
	struct bt_vmm *b = bt_of(ctx);
	struct vl_vcpu v = b->vcpu;
	v.vif = vs_rd(b, BT_VS_VIF) != 0;   /* translated code keeps it in the vCPU state page */
	return vl_vcpu_guest_rflags(&v);
}

const struct vl_engine_ops vl_engine_bt = {
	.name = "bt",
	.desc = "binary translation (VMware style): kernel translated at ring 1, user code direct; shadow paging",
	.default_mmu = VL_MMU_SHADOW,
	.mmu_mask = VL_MMU_BIT(VL_MMU_SHADOW),
	.check = bt_check,
	.attach = bt_attach,
	.detach = bt_detach,
	.guest_rflags = bt_guest_rflags,
	/* guest_instructions count the translated code executed: up to ~4
	 * per guest instruction in memory-heavy kernel code (README: forkwait
	 * 4.0 on p4; the confinement check is 11 per access), so the default
	 * runaway limit is 8 times the run layer's (the fuzz oracle gives 64) */
	.insn_budget = 8,
};
