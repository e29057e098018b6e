/* shadow.c — shadow page tables: the first-generation hardware-assist (and
 * binary-translation) VMM's MMU. The hardware walks shadow tables in monitor
 * memory that map guest-virtual straight to host-physical; the guest's own
 * tables are read by the VMM in software and kept in step by write-protecting
 * them and tracing every write.
 *
 * Shape (KVM's shadow MMU, arch/x86/kvm/mmu/, reduced to what the model needs):
 *  - one shadow page per (guest table frame, level), shared by every root and
 *    every parent that reaches that guest table; a shadow entry mirrors the
 *    guest entry at the same index (its R/W, U/S and NX bits), so the
 *    hardware's AND over the levels is the guest's;
 *  - guest 2M / 1G pages are shadowed by 4K entries in "direct" shadow pages
 *    (no guest table behind them), so one 4K page-table frame inside a guest
 *    large page can be write-protected on its own;
 *  - reverse maps (guest frame -> shadow leaf entries mapping it) write-protect
 *    a guest frame the moment it becomes a shadowed page table; parent lists
 *    unlink a shadow page when it is torn down;
 *  - the fault handler classifies each #PF by walking the guest tables in
 *    software (vl_walk .software, each reference charged to the VMM):
 *    true (the guest's own tables fault: returned for injection with the
 *    guest's error code), tracing (a write to a shadowed guest page table:
 *    emulated with vl_emulate_one and applied to the shadows), or hidden
 *    (everything else: fill the shadow lazily, set the guest's A/D bits);
 *  - accessed/dirty emulation: A is set in the guest entries on every fill,
 *    and a shadow leaf is writable only once the guest leaf's D is set, so
 *    the first write faults (hidden) and sets D;
 *  - guest CR0.WP = 0 is honoured without ever running the hardware with
 *    WP = 0: the hardware CR0.WP is always 1 (KVM does the same for shadow
 *    paging) and a supervisor write the guest allows but the shadow does not
 *    is emulated;
 *  - guest-physical == host-physical for RAM; a guest mapping of a device
 *    frame (vl_mmio_frame: the xAPIC page) maps through to the machine's
 *    device; anything else outside RAM maps one unbacked host-physical frame
 *    above all memory: reads all ones, writes dropped — what the same access
 *    does natively — and a guest can never reach monitor memory through a
 *    shadow.
 * Everything is deterministic: arrays indexed by frame, lists in insertion
 * order, no hashing, no host addresses in decisions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "shadow.h"

#define PTE_PERM (VL_PTE_RW | VL_PTE_US | VL_PTE_NX)   /* bits a link mirrors from the guest entry */

struct sh_page {
	uint64_t hpa;                /* the shadow table page (monitor memory) */
	uint64_t gfn;                /* guest table frame shadowed; direct: first guest frame mapped */
	struct sh_page *gfn_next;    /* next page shadowing the same guest frame (non-direct) */
	struct sh_page *free_next;
	uint64_t *parents;           /* host-physical addresses of the shadow entries linking it */
	uint32_t nparents, capparents;
	uint8_t level;               /* 4 = PML4 .. 1 = PT */
	bool direct;                 /* maps part of a guest large page: no guest table behind it */
	bool untracked;              /* mirrors a guest table outside RAM: not indexed by frame, never traced */
	bool live;
	uint8_t flood;               /* traced writes since it was last used by a fill */
	int8_t root_slot;            /* index in the root cache, -1 if not a cached root */
};

struct sh_rmap {
	uint64_t *e;                 /* shadow leaf entries (host-physical) mapping the frame */
	uint32_t n, cap;
};

struct sh_root {
	uint64_t gcr3;               /* guest CR3, address bits */
	struct sh_page *sp;          /* NULL = empty slot */
	uint64_t stamp;              /* LRU */
};

struct shadow {
	struct vl_machine *m;
	uint64_t ram_frames, mem_frames, mon_base;
	struct sh_page **by_gfn;     /* [ram_frames] pages shadowing each guest frame */
	uint32_t *wp;                /* [ram_frames] non-direct shadow pages of the frame: > 0 = write-protected */
	struct sh_rmap *rmap;        /* [ram_frames] */
	struct sh_page **by_hpa;     /* [monitor frames] page struct of a shadow table page */
	struct sh_page **all;        /* every struct ever made (freed in fini) */
	uint32_t nall, capall;
	struct sh_page *free;        /* torn-down pages, reused LIFO */
	uint64_t pool_max, pool_used;/* pages taken from monitor memory / allowed */
	struct sh_root roots[SHADOW_ROOT_CACHE];
	uint64_t stamp;
	struct sh_page *cur;         /* current root (NULL after a zap-all: reload before use) */
	/* Guest paging off (a Multiboot kernel's 32-bit entry, KVM's "nonpaging"
	 * mode): the hardware runs with paging on through np_root, a direct
	 * shadow that maps every guest-physical address to itself (RAM; devices
	 * and unbacked frames as for any mapping), filled lazily like the rest. */
	bool nonpaging;
	struct sh_page *np_root;
	uint64_t gcr3, gcr0, gcr4;   /* the guest's view */
	uint64_t unbacked;           /* host frame above all memory: where non-RAM guest frames map */
	unsigned maxphy;
	bool need_flush;             /* a present shadow translation changed: flush the tag */
	bool unsync;                 /* unsync_gfn: a page table left writable for an event delivery */
	uint64_t unsync_gfn;
	bool oom;                    /* the pool ran dry during this operation */
	/* state of one emulation (tracing) */
	uint64_t emu_page, emu_gpa;  /* the faulting va's page and its guest-physical page */
	bool emu_fault;              /* the write callback raised a guest #PF */
	uint32_t emu_pfec;
	uint64_t emu_va;
	bool emu_traced;             /* a write hit a shadowed guest page table */
	/* VMM-owned monitor mappings (map_monitor): the PML4 entry of each
	 * slot of the monitor range that holds any (0 = none), installed in
	 * every root; the tables below are plain monitor pages, not sh_pages */
	uint64_t mon_pml4e[512];
	uint32_t mon_slots;          /* slots in use */
};

/* PML4 slot of va if it is a VMM-owned monitor slot, else -1. */
static int sh_mon_slot(const struct shadow *sh, uint64_t va)
{
	if (!sh->mon_slots || va < VL_MONITOR_BASE || va >= VL_MONITOR_END)
		return -1;
	unsigned slot = (unsigned)(va >> 39) & 511;
	return sh->mon_pml4e[slot] ? (int)slot : -1;
}

/* ---- costs ---------------------------------------------------------------- */
/* Charge MMU-engine work priced by profile value f (a struct vl_profile member). */
#define sh_charge(sh, f) VL_CHARGE((sh)->m, VL_CAT_VMM, f)
/* One software reference to a shadow table entry (cached memory, like a walk ref). */
static void sh_ref(struct shadow *sh) { sh_charge(sh, tlb_walk_ref); }

/* ---- shadow table memory ---------------------------------------------------- */
static uint64_t sh_rd(struct shadow *sh, uint64_t hpa)
{
	uint64_t v;
	memcpy(&v, sh->m->mem + hpa, 8);
	return v;
}
static void sh_wr(struct shadow *sh, uint64_t hpa, uint64_t v) { memcpy(sh->m->mem + hpa, &v, 8); }

static struct sh_page *sh_page_of(struct shadow *sh, uint64_t entry)
{
	uint64_t hpa = entry & VL_PTE_ADDR;
	if (hpa < sh->mon_base || hpa >= sh->m->mem_size)
		return NULL;
	return sh->by_hpa[(hpa - sh->mon_base) >> 12];
}

static bool sh_grow(void **p, uint32_t *cap, size_t elem)
{
	uint32_t nc = *cap ? *cap * 2 : 4;
	void *q = realloc(*p, nc * elem);
	if (!q)
		return false;
	*p = q;
	*cap = nc;
	return true;
}

/* ---- reverse maps: guest frame -> shadow leaves mapping it ---------------------- */
static void rmap_add(struct shadow *sh, uint64_t gfn, uint64_t ent)
{
	struct sh_rmap *r = &sh->rmap[gfn];
	if (r->n == r->cap && !sh_grow((void **)&r->e, &r->cap, sizeof *r->e)) {
		sh->oom = true;   /* host allocation failure: treated like a full pool */
		return;
	}
	r->e[r->n++] = ent;
}

static void rmap_del(struct shadow *sh, uint64_t gfn, uint64_t ent)
{
	struct sh_rmap *r = &sh->rmap[gfn];
	for (uint32_t i = 0; i < r->n; i++)
		if (r->e[i] == ent) {
			r->e[i] = r->e[--r->n];
			return;
		}
}

static void parents_add(struct shadow *sh, struct sh_page *sp, uint64_t ent)
{
	if (sp->nparents == sp->capparents && !sh_grow((void **)&sp->parents, &sp->capparents, sizeof *sp->parents)) {
		sh->oom = true;
		return;
	}
	sp->parents[sp->nparents++] = ent;
}

static void parents_del(struct sh_page *sp, uint64_t ent)
{
	for (uint32_t i = 0; i < sp->nparents; i++)
		if (sp->parents[i] == ent) {
			sp->parents[i] = sp->parents[--sp->nparents];
			return;
		}
}

/* ---- entries ------------------------------------------------------------------ */
static void sh_zap(struct shadow *sh, struct sh_page *sp);

/* Does replacing present entry `old` by `new` need a TLB flush? Not when
 * the frame is the same and no permission is taken away (the hardware
 * re-walks on a permission fault, as real TLBs may). */
static bool sh_needs_flush(uint64_t old, uint64_t new)
{
	if (!(old & VL_PTE_P))
		return false;
	if (!(new & VL_PTE_P) || ((old ^ new) & (VL_PTE_ADDR | VL_PTE_G)))
		return true;
	if ((old & VL_PTE_RW) && !(new & VL_PTE_RW))
		return true;
	if ((old & VL_PTE_US) && !(new & VL_PTE_US))
		return true;
	return !(old & VL_PTE_NX) && (new & VL_PTE_NX);
}

/* Write a leaf (level-1) shadow entry, keeping the reverse maps. */
static void sh_leaf_write(struct shadow *sh, uint64_t ent, uint64_t val)
{
	uint64_t old = sh_rd(sh, ent);
	if (old == val)
		return;
	if (sh_needs_flush(old, val))
		sh->need_flush = true;
	if ((old & VL_PTE_P) && (old & VL_PTE_ADDR) >> 12 < sh->ram_frames)
		rmap_del(sh, (old & VL_PTE_ADDR) >> 12, ent);
	sh_wr(sh, ent, val);
	if ((val & VL_PTE_P) && (val & VL_PTE_ADDR) >> 12 < sh->ram_frames)
		rmap_add(sh, (val & VL_PTE_ADDR) >> 12, ent);
}

/* Clear one shadow entry of a page at `level`: a leaf leaves the reverse
 * map; a link leaves its child's parent list, and a child nothing else
 * reaches (no parent, not a cached root) is torn down. */
static void sh_clear(struct shadow *sh, unsigned level, uint64_t ent)
{
	uint64_t old = sh_rd(sh, ent);
	if (!(old & VL_PTE_P))
		return;
	if (level == 1) {
		sh_leaf_write(sh, ent, 0);
		return;
	}
	sh_wr(sh, ent, 0);
	sh->need_flush = true;
	struct sh_page *child = sh_page_of(sh, old);
	if (!child)
		return;
	parents_del(child, ent);
	if (!child->nparents && child->root_slot < 0)
		sh_zap(sh, child);
}

/* Tear a shadow page down: clear its entries (children only it reached go
 * too), clear every entry linking it, unindex it, return it to the pool.
 * Its guest frame is unprotected once no shadow page mirrors it. */
static void sh_zap(struct shadow *sh, struct sh_page *sp)
{
	if (!sp->live)
		return;
	sh_charge(sh, mmu_shadow_zap);
	sp->live = false;
	for (unsigned i = 0; i < 512; i++)
		if (sh_rd(sh, sp->hpa + i * 8ull) & VL_PTE_P)
			sh_clear(sh, sp->level, sp->hpa + i * 8ull);
	while (sp->nparents) {
		uint64_t ent = sp->parents[--sp->nparents];
		sh_wr(sh, ent, 0);
		sh->need_flush = true;
	}
	if (sp->root_slot >= 0) {
		sh->roots[sp->root_slot].sp = NULL;
		sp->root_slot = -1;
	}
	if (sp == sh->cur)
		sh->cur = NULL;
	if (!sp->direct && !sp->untracked) {
		struct sh_page **pp = &sh->by_gfn[sp->gfn];
		while (*pp && *pp != sp)
			pp = &(*pp)->gfn_next;
		if (*pp)
			*pp = sp->gfn_next;
		sp->gfn_next = NULL;
		sh->wp[sp->gfn]--;
	}
	sp->free_next = sh->free;
	sh->free = sp;
}

/* Write-protect guest frame gfn in every shadow leaf mapping it (it has
 * just become a shadowed page table). */
static void sh_write_protect(struct shadow *sh, uint64_t gfn)
{
	struct sh_rmap *r = &sh->rmap[gfn];
	if (sh->unsync && gfn == sh->unsync_gfn)
		return;   /* left writable until the delivery is over (sh_finish) */
	for (uint32_t i = 0; i < r->n; i++) {
		uint64_t v = sh_rd(sh, r->e[i]);
		if (v & VL_PTE_RW) {
			sh_wr(sh, r->e[i], v & ~(VL_PTE_RW | VL_PTE_D));
			sh->need_flush = true;
			sh_charge(sh, mmu_shadow_fill);
		}
	}
}

/* A zeroed shadow page from the pool (NULL, with sh->oom, when full). */
static struct sh_page *sh_alloc(struct shadow *sh, unsigned level, bool direct, uint64_t gfn)
{
	struct sh_page *sp = sh->free;
	if (sp) {
		sh->free = sp->free_next;
	} else {
		uint64_t hpa = sh->pool_used < sh->pool_max ? vl_mem_alloc_page(sh->m) : 0;
		if (!hpa || (sh->nall == sh->capall && !sh_grow((void **)&sh->all, &sh->capall, sizeof *sh->all)) ||
		    !(sp = calloc(1, sizeof *sp))) {
			sh->oom = true;
			return NULL;
		}
		sh->pool_used++;
		sh->all[sh->nall++] = sp;
		sp->hpa = hpa;
		sh->by_hpa[(hpa - sh->mon_base) >> 12] = sp;
	}
	/* a torn-down page has all entries clear already; a new one is zeroed */
	sh_charge(sh, mmu_shadow_alloc);
	sp->gfn = gfn;
	sp->level = (uint8_t)level;
	sp->direct = direct;
	sp->untracked = !direct && gfn >= sh->ram_frames;
	sp->live = true;
	sp->flood = 0;
	sp->root_slot = -1;
	sp->nparents = 0;
	sp->free_next = NULL;
	sp->gfn_next = NULL;
	if (!direct && !sp->untracked) {
		sp->gfn_next = sh->by_gfn[gfn];
		sh->by_gfn[gfn] = sp;
		if (sh->wp[gfn]++ == 0)
			sh_write_protect(sh, gfn);
	}
	if (level == 4 && sh->mon_slots)   /* a new root: the VMM's monitor mappings */
		for (unsigned i = 0; i < 512; i++)
			if (sh->mon_pml4e[i]) {
				sh_wr(sh, sp->hpa + i * 8ull, sh->mon_pml4e[i]);
				sh_charge(sh, mmu_shadow_fill);
			}
	return sp;
}

/* The shadow page mirroring guest table frame gfn at `level` (made if
 * missing). A guest table outside RAM (a PDE pointing beyond all memory:
 * the guest chooses the frame) is never indexed — the per-frame arrays
 * cover RAM only — and never traced: it reads all ones and drops writes,
 * so it cannot change. Each link to it gets a page of its own. */
static struct sh_page *sh_get(struct shadow *sh, uint64_t gfn, unsigned level)
{
	if (gfn >= sh->ram_frames)
		return sh_alloc(sh, level, false, gfn);
	for (struct sh_page *sp = sh->by_gfn[gfn]; sp; sp = sp->gfn_next)
		if (sp->level == level)
			return sp;
	return sh_alloc(sh, level, false, gfn);
}

/* ---- the guest's view -------------------------------------------------------- */

/* Walk the guest's tables in software as the guest's own MMU would: the
 * guest's CR0.WP (the hardware runs with WP = 1), EFER.NXE and CR4; A/D
 * set in the guest entries on success (emulated A/D). References charged
 * to the VMM by vl_walk. vl_walk reads CR0.WP from the CPU, so the guest's
 * WP is put there for the duration of the call. */
static int sh_gwalk(struct shadow *sh, uint64_t va, unsigned acc, bool set_ad, struct vl_walk_res *r)
{
	struct vl_machine *m = sh->m;
	if (sh->nonpaging) {   /* no guest tables: linear = guest-physical, everything allowed */
		memset(r, 0, sizeof *r);
		r->pa = va;
		r->gpa = va;
		r->page_size = 4096;
		r->perms = VL_PERM_W | VL_PERM_X | VL_PERM_U;
		r->levels = 0;
		return 0;
	}
	struct vl_walk_req rq = {
		.root = sh->gcr3 & VL_PTE_ADDR, .fmt = VL_PT_X86, .acc = acc, .set_ad = set_ad, .software = true,
	};
	uint64_t hw_cr0 = m->cpu.cr0;
	m->cpu.cr0 = (hw_cr0 & ~VL_CR0_WP) | (sh->gcr0 & VL_CR0_WP);
	int rc = vl_walk(m, &rq, va, r);
	m->cpu.cr0 = hw_cr0;
	return rc;
}

/* Guest table frames must be guest RAM: a table in monitor memory would let
 * the guest's walk read VMM structures. Outside RAM and monitor memory the
 * machine reads all ones (a reserved-bit #PF, as natively). Stops the
 * machine and returns -1 on a table in the monitor window. */
static int sh_check_tables(struct shadow *sh, const struct vl_walk_res *r)
{
	for (int i = 0; i < r->levels; i++) {
		uint64_t f = r->pte_pa[i] >> 12;
		if (f >= sh->ram_frames && f < sh->mem_frames) {
			vl_machine_stop(sh->m, VL_M_ERROR, "shadow MMU: guest page table at %#llx is outside guest RAM",
					(unsigned long long)(r->pte_pa[i] & VL_PTE_ADDR));
			return -1;
		}
	}
	return 0;
}

/* The shadow leaf for guest frame `frame` with the guest leaf's bits:
 * writable only if the guest allows it here, the guest leaf is dirty
 * (emulated D) and the frame is not a shadowed page table. */
static uint64_t sh_leaf_val(struct shadow *sh, uint64_t frame, uint64_t bits, bool writable)
{
	uint64_t v = VL_PTE_P | VL_PTE_A | (bits & (VL_PTE_US | VL_PTE_NX | VL_PTE_G));
	if (frame >= sh->ram_frames && vl_mmio_frame(sh->m, frame << 12))
		return v | (frame << 12) | (writable ? VL_PTE_RW | VL_PTE_D : 0);   /* a device: through to it */
	if (frame >= sh->ram_frames)
		return v | sh->unbacked | (writable ? VL_PTE_RW | VL_PTE_D : 0);   /* reads ones, writes dropped */
	v |= frame << 12;
	if (writable && (!sh->wp[frame] || (sh->unsync && frame == sh->unsync_gfn)))
		v |= VL_PTE_RW | VL_PTE_D;
	return v;
}

/* Make (or reuse) the link in entry idx of sp to the wanted child: a
 * mirror of guest table frame gfn (direct = false) or a direct page of
 * base frame gfn, with link permission bits `perms`. Returns the child,
 * or NULL when the pool ran dry. */
static struct sh_page *sh_link(struct shadow *sh, struct sh_page *sp, unsigned idx, uint64_t gfn, bool direct,
			       uint64_t perms, uint64_t *fills)
{
	uint64_t ent = sp->hpa + idx * 8ull, old = sh_rd(sh, ent);
	unsigned level = sp->level - 1u;
	if (old & VL_PTE_P) {
		struct sh_page *c = sh_page_of(sh, old);
		if (c && c->direct == direct && c->gfn == gfn && c->level == level) {
			uint64_t want = (old & ~PTE_PERM) | perms;
			if (want != old) {
				/* any change of an upper-level entry: the page-walk cache
				 * holds upper-level permissions and is not re-walked */
				sh->need_flush = true;
				sh_wr(sh, ent, want);
				sh_charge(sh, mmu_shadow_fill);
				(*fills)++;
			}
			return c;
		}
		sh_clear(sh, sp->level, ent);
	}
	struct sh_page *c = direct ? sh_alloc(sh, level, true, gfn) : sh_get(sh, gfn, level);
	if (!c)
		return NULL;
	sh_wr(sh, ent, c->hpa | VL_PTE_P | VL_PTE_A | perms);
	parents_add(sh, c, ent);
	sh_charge(sh, mmu_shadow_fill);
	(*fills)++;
	return c;
}

/* Fill the shadow path for va from a successful guest walk r: links that
 * mirror the guest's upper entries, direct pages below a guest large page,
 * and the 4K leaf. Returns 0, or -1 when the pool ran dry. */
static int sh_fill(struct shadow *sh, uint64_t va, const struct vl_walk_res *r, uint64_t *nfills)
{
	struct sh_page *sp = sh->cur;
	uint64_t large = 0, fills = 0;   /* the guest's large leaf once below it */
	if (!r->levels)   /* nonpaging: as below a writable, dirty, user guest leaf covering everything */
		large = VL_PTE_P | VL_PTE_RW | VL_PTE_US | VL_PTE_D;

	for (unsigned level = 4; level >= 1; level--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
		int gl = 4 - (int)level;
		sh_ref(sh);
		if (!sp->direct)
			sp->flood = 0;          /* in use as a page table: not flooding */
		if (!large && gl < r->levels) {
			uint64_t ge = r->pte[gl];
			bool last = gl == r->levels - 1;
			if (level == 1) {
				uint64_t v = sh_leaf_val(sh, (ge & VL_PTE_ADDR) >> 12, ge, (ge & VL_PTE_RW) && (ge & VL_PTE_D));
				if (sh_rd(sh, sp->hpa + idx * 8ull) != v) {
					sh_leaf_write(sh, sp->hpa + idx * 8ull, v);
					sh_charge(sh, mmu_shadow_fill);
					fills++;
				}
				break;
			}
			if (!last) {
				sp = sh_link(sh, sp, idx, (ge & VL_PTE_ADDR) >> 12, false, ge & PTE_PERM, &fills);
			} else {
				/* guest 2M (level 2) or 1G (level 3) page: direct pages of 4K entries */
				uint64_t span = 1ull << (9 * (level - 1));   /* 4K frames per guest page */
				large = ge;
				sp = sh_link(sh, sp, idx, ((ge & VL_PTE_ADDR) >> 12) & ~(span - 1), true, ge & PTE_PERM, &fills);
			}
		} else if (level == 1) {
			uint64_t frame = sp->gfn + idx;
			uint64_t v = sh_leaf_val(sh, frame, large & VL_PTE_G, (large & VL_PTE_D) != 0) | VL_PTE_US;
			if (sh_rd(sh, sp->hpa + idx * 8ull) != v) {
				sh_leaf_write(sh, sp->hpa + idx * 8ull, v);
				sh_charge(sh, mmu_shadow_fill);
				fills++;
			}
			break;
		} else {
			uint64_t span = 1ull << (9 * (level - 1));
			sp = sh_link(sh, sp, idx, sp->gfn + idx * span, true, VL_PTE_RW | VL_PTE_US, &fills);
		}
		if (!sp || sh->oom)
			break;
	}
	vl_count(sh->m, VL_EV_SHADOW_FILLS, fills);
	*nfills = fills;
	return (!sp || sh->oom) ? -1 : 0;
}

/* ---- roots and the CR3 cache ---------------------------------------------------- */

static void sh_zap_all(struct shadow *sh)
{
	for (uint32_t i = 0; i < sh->nall; i++)
		if (sh->all[i]->live && sh->all[i]->level == 4)
			sh_zap(sh, sh->all[i]);
	for (uint32_t i = 0; i < sh->nall; i++)   /* anything left (pages orphaned by nothing, e.g. mid-fill) */
		if (sh->all[i]->live)
			sh_zap(sh, sh->all[i]);
	for (unsigned i = 0; i < SHADOW_ROOT_CACHE; i++)
		sh->roots[i].sp = NULL;
	sh->cur = NULL;
	sh->np_root = NULL;
	sh->need_flush = true;
	vl_trace(sh->m, "shadow: pool full, every shadow page torn down");
}

/* Make the root for the guest CR3 in sh->gcr3 current: from the cache
 * (hit) or new (miss: the least recently used root is torn down). count:
 * whether this is a guest CR3 switch to count as a hit or miss. Returns 0,
 * or -1 (machine stopped). */
static int sh_load_root(struct shadow *sh, bool count)
{
	struct vl_machine *m = sh->m;
	uint64_t g = sh->gcr3 & VL_PTE_ADDR;
	int slot = -1, lru = 0;

	if ((g >> 12) >= sh->ram_frames) {
		vl_machine_stop(m, VL_M_ERROR, "shadow MMU: guest CR3 %#llx is outside guest RAM", (unsigned long long)sh->gcr3);
		return -1;
	}
	for (int i = 0; i < SHADOW_ROOT_CACHE; i++) {
		if (sh->roots[i].sp && sh->roots[i].gcr3 == g)
			slot = i;
		if (!sh->roots[i].sp || (sh->roots[lru].sp && sh->roots[i].stamp < sh->roots[lru].stamp))
			lru = i;
	}
	if (slot >= 0) {
		if (count)
			vl_count(m, VL_EV_CR3_CACHE_HITS, 1);
	} else {
		if (count)
			vl_count(m, VL_EV_CR3_CACHE_MISSES, 1);
		if (count && m->trace)
			vl_trace(m, "shadow: CR3 %#llx not in the root cache: new root%s", (unsigned long long)g,
				 sh->roots[lru].sp ? ", least recently used root torn down" : "");
		slot = lru;
		struct sh_page *old = sh->roots[slot].sp;
		if (old) {                    /* evict: the root and what only it reached */
			sh->roots[slot].sp = NULL;
			old->root_slot = -1;
			if (old == sh->cur)
				sh->cur = NULL;
			if (!old->nparents)
				sh_zap(sh, old);
		}
		struct sh_page *sp = sh_get(sh, g >> 12, 4);
		if (!sp) {
			sh_zap_all(sh);
			sh->oom = false;
			sp = sh_get(sh, g >> 12, 4);
			if (!sp) {
				vl_machine_stop(m, VL_M_ERROR, "shadow MMU: no monitor memory for a shadow root");
				return -1;
			}
			slot = 0;
		}
		sh->roots[slot].sp = sp;
		sh->roots[slot].gcr3 = g;
		sp->root_slot = (int8_t)slot;
	}
	sh->roots[slot].stamp = ++sh->stamp;
	sh->cur = sh->roots[slot].sp;
	uint64_t pcid = (sh->gcr4 & VL_CR4_PCIDE) ? (sh->gcr3 & 0xfff) : 0;
	m->cpu.cr3 = sh->cur->hpa | pcid;
	return 0;
}

static void sh_resync(struct shadow *sh, struct sh_page *sp, unsigned idx);

/* The event delivery that wrote page table unsync_gfn natively is over:
 * bring every shadow page mirroring it in step with what was written and
 * write-protect it again (KVM's unsync pages, resynced at the next VMM
 * entry instead of the next CR3 switch or INVLPG). */
static void sh_resync_unsync(struct shadow *sh)
{
	uint64_t gfn = sh->unsync_gfn;
	struct sh_page *list[8];
	unsigned k = 0;
	sh->unsync = false;
	for (struct sh_page *sp = sh->by_gfn[gfn]; sp && k < 8; sp = sp->gfn_next)
		list[k++] = sp;
	for (unsigned j = 0; j < k; j++)
		for (unsigned idx = 0; idx < 512 && list[j]->live; idx++)
			sh_resync(sh, list[j], idx);
	if (sh->wp[gfn])
		sh_write_protect(sh, gfn);
	sh->need_flush = true;
}

/* The nonpaging root current (made if missing). 0, or -1 (machine stopped). */
static int sh_load_np_root(struct shadow *sh)
{
	if (!sh->np_root) {
		sh->np_root = sh_alloc(sh, 4, true, 0);
		if (!sh->np_root) {
			sh_zap_all(sh);
			sh->oom = false;
			sh->np_root = sh_alloc(sh, 4, true, 0);
		}
		if (!sh->np_root) {
			vl_machine_stop(sh->m, VL_M_ERROR, "shadow MMU: no monitor memory for the nonpaging root");
			return -1;
		}
	}
	sh->cur = sh->np_root;
	sh->m->cpu.cr3 = sh->np_root->hpa;
	return 0;
}

/* End of every op: a root torn down meanwhile is rebuilt (the hardware
 * must never walk a freed page), and the TLB of the current tag is flushed
 * if a present shadow translation changed (KVM: kvm_flush_remote_tlbs).
 * Returns 0, or -1 when the machine stopped. */
static int sh_finish(struct shadow *sh)
{
	if (sh->unsync && !sh->m->vectoring.valid)
		sh_resync_unsync(sh);
	if (!sh->cur && sh->m->state == VL_M_RUNNING && (sh->nonpaging ? sh_load_np_root(sh) : sh_load_root(sh, false)))
		return -1;
	if (sh->need_flush) {
		vl_tlb_flush_tag(sh->m, sh->m->tlb_tag);
		sh->need_flush = false;
	}
	return sh->m->state == VL_M_RUNNING ? 0 : -1;
}

/* ---- tracing: guest writes to its page tables ------------------------------------ */

static bool sh_guest_rsvd(struct shadow *sh, uint64_t ge)
{
	uint64_t r = ((1ull << 52) - 1) & ~((1ull << sh->maxphy) - 1);
	if (!(sh->m->cpu.efer & VL_EFER_NXE))
		r |= VL_PTE_NX;
	return (ge & r) != 0;
}

/* Entry idx of guest table frame sp->gfn changed: bring the shadow entry in
 * step. A present, accessed 4K guest leaf is copied (prefetch, as KVM's
 * kvm_mmu_pte_write); anything else is dropped and refilled lazily. A link
 * whose guest entry still points to the same table only takes the new
 * permission bits. */
static void sh_resync(struct shadow *sh, struct sh_page *sp, unsigned idx)
{
	uint64_t ent = sp->hpa + idx * 8ull, old = sh_rd(sh, ent);
	uint64_t ge = vl_phys_read64(sh->m, (sp->gfn << 12) + idx * 8ull);

	sh_charge(sh, mmu_shadow_trace);
	if (sp->level == 1) {
		if ((ge & VL_PTE_P) && (ge & VL_PTE_A) && !sh_guest_rsvd(sh, ge)) {
			uint64_t v = sh_leaf_val(sh, (ge & VL_PTE_ADDR) >> 12, ge, (ge & VL_PTE_RW) && (ge & VL_PTE_D));
			if (v != old) {
				sh_leaf_write(sh, ent, v);
				vl_count(sh->m, VL_EV_SHADOW_FILLS, 1);
			}
		} else {
			sh_clear(sh, 1, ent);
		}
		return;
	}
	if (!(old & VL_PTE_P))
		return;
	if (sp->level == 4 && sh->mon_pml4e[idx])
		return;   /* a VMM-owned monitor slot: the guest's entry there is never used */
	struct sh_page *c = sh_page_of(sh, old);
	if ((ge & VL_PTE_P) && !(ge & VL_PTE_PS) && !sh_guest_rsvd(sh, ge) && c && !c->direct &&
	    c->gfn == (ge & VL_PTE_ADDR) >> 12) {
		uint64_t want = (old & ~PTE_PERM) | (ge & PTE_PERM);
		if (want != old) {
			sh->need_flush = true;   /* upper level: the PWC caches its permissions */
			sh_wr(sh, ent, want);
		}
		return;
	}
	sh_clear(sh, sp->level, ent);
}

/* The guest wrote n bytes at guest-physical gpa (one page): update every
 * shadow page mirroring that frame; tear down pages that are flooded. */
static void sh_trace_write(struct shadow *sh, uint64_t gpa, size_t n)
{
	uint64_t gfn = gpa >> 12;
	unsigned first = (unsigned)(gpa & 0xfff) / 8, last = (unsigned)((gpa & 0xfff) + n - 1) / 8;
	struct sh_page *list[8];
	unsigned k = 0;

	if (gfn >= sh->ram_frames || !sh->by_gfn[gfn])
		return;
	sh->emu_traced = true;
	/* Collect first: a zap below edits the chain. At most 4 levels (+ reuse) per frame. */
	for (struct sh_page *sp = sh->by_gfn[gfn]; sp && k < 8; sp = sp->gfn_next)
		list[k++] = sp;
	for (unsigned i = 0; i < k; i++) {
		struct sh_page *sp = list[i];
		if (!sp->live)
			continue;
		if (sp->root_slot < 0 && ++sp->flood >= SHADOW_FLOOD_WRITES) {
			sh_zap(sh, sp);
			continue;
		}
		for (unsigned e = first; e <= last && e < 512 && sp->live; e++)
			sh_resync(sh, sp, e);
	}
}

/* vl_emulate_one's write callback: the guest's write, translated by the
 * guest's tables (as the guest's MMU would: guest WP, A/D), performed on
 * guest-physical memory and traced; writes outside RAM are dropped (what
 * the machine does with unbacked memory, see sh_leaf_val). A guest fault
 * is recorded and ends the emulation. */
static int sh_emul_write(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n)
{
	struct shadow *sh = ctx;
	const uint8_t *src = data;
	unsigned acc = VL_ACC_W | (m->cpu.cpl == 3 ? VL_ACC_USER : 0);

	while (n) {
		size_t chunk = 4096 - (va & 0xfff);
		uint64_t gpa;
		if (chunk > n)
			chunk = n;
		if ((va >> 12) == sh->emu_page) {
			gpa = sh->emu_gpa | (va & 0xfff);   /* translated by the fault's walk (KVM gpa_available) */
		} else {
			struct vl_walk_res r;
			if (sh_gwalk(sh, va, acc, true, &r)) {
				sh->emu_fault = true;
				sh->emu_pfec = r.status == VL_WALK_PF ? r.pfec : 0;
				sh->emu_va = va;
				return VL_PF;
			}
			if (sh_check_tables(sh, &r))
				return VL_PF;
			gpa = r.pa;
		}
		if ((gpa >> 12) < sh->ram_frames) {
			vl_phys_write(m, gpa, src, chunk);
			sh_trace_write(sh, gpa, chunk);
		}
		src += chunk;
		va += chunk;
		n -= chunk;
	}
	return 0;
}

static const struct vl_emul_ops sh_emul_ops = { .write = sh_emul_write };

/* ---- ops ----------------------------------------------------------------------- */

/* A #PF from the hardware's walk of the shadow. Classify it on the guest's
 * own tables: true -> PASS with the guest's error code; else fill the
 * shadow (hidden) and, for a write the shadow must keep read-only (guest
 * page table, supervisor write under guest WP = 0), emulate
 * the instruction: tracing when it wrote a guest page table. Every #PF is
 * counted exactly once: hidden_faults, tracing_faults, or (true) injected
 * by the VMM. After DONE the VMM reloads RIP/RSP/RFLAGS/RAX from m->cpu
 * (the emulator advanced them). */
static int shadow_page_fault_kind(struct vl_machine *m, struct shadow *sh, uint64_t va, uint32_t *pfec,
				  enum vl_pf_kind *kind)
{
	struct vl_walk_res r;
	unsigned acc = ((*pfec & VL_PFEC_W) ? VL_ACC_W : 0) | ((*pfec & VL_PFEC_U) ? VL_ACC_USER : 0) |
		       ((*pfec & VL_PFEC_I) ? VL_ACC_X : 0);
	uint64_t fills = 0;
	int rc = VL_HOOK_DONE;

	/* Without EFER.NXE and CR4.SMEP a fetch's error code has no I/D bit
	 * (SDM 4.7), yet CR4.SMAP treats fetches and data reads differently:
	 * a non-write fault on the bytes of the instruction at RIP is taken as
	 * its fetch (KVM forces EFER.NX on in the hardware under shadow paging
	 * to learn the same thing). */
	if (!(*pfec & (VL_PFEC_I | VL_PFEC_W)) && (m->cpu.cr4 & VL_CR4_SMAP) && va - m->cpu.rip < 15)
		acc |= VL_ACC_X;
	sh_charge(sh, mmu_shadow_pf);
	if (sh_finish(sh))
		return VL_HOOK_STOP;
	if (sh_mon_slot(sh, va) >= 0) {
		/* the VMM's own mappings (map_monitor) faulted (a permission the
		 * VMM withheld): the guest's tables play no part there */
		*kind = VL_PF_TRUE;
		return VL_HOOK_PASS;
	}
	if (sh_gwalk(sh, va, acc, true, &r)) {
		if (sh_check_tables(sh, &r))
			return VL_HOOK_STOP;
		*pfec = r.pfec;               /* true fault: the guest's own error code */
		*kind = VL_PF_TRUE;
		if (m->trace)
			vl_trace(m, "shadow: true #PF va %#llx error code %#x: injected", (unsigned long long)va, r.pfec);
		return sh_finish(sh) ? VL_HOOK_STOP : VL_HOOK_PASS;
	}
	if (sh_check_tables(sh, &r))
		return VL_HOOK_STOP;

	uint64_t frame = r.pa >> 12;
	bool emulate = (acc & VL_ACC_W) && (!(r.perms & VL_PERM_W) || (frame < sh->ram_frames && sh->wp[frame]));
	if (sh_fill(sh, va, &r, &fills)) {
		/* pool exhausted: start over; the instruction faults again and refills */
		sh_zap_all(sh);
		sh->oom = false;
		vl_count(m, VL_EV_HIDDEN_FAULTS, 1);
		return sh_finish(sh) ? VL_HOOK_STOP : VL_HOOK_DONE;
	}
	if (!emulate) {
		if (!fills)   /* nothing to fill: only stale hardware state can have faulted */
			sh->need_flush = true;
		if (m->trace)
			vl_trace(m, "shadow: hidden #PF va %#llx -> gpa %#llx, %llu shadow entries filled",
				 (unsigned long long)va, (unsigned long long)r.pa, (unsigned long long)fills);
		vl_count(m, VL_EV_HIDDEN_FAULTS, 1);
		return sh_finish(sh) ? VL_HOOK_STOP : VL_HOOK_DONE;
	}
	if (sh_finish(sh))   /* the hardware's view must be current before the emulator reads */
		return VL_HOOK_STOP;
	if (m->vectoring.valid && (r.perms & VL_PERM_W) && frame < sh->ram_frames && sh->wp[frame] &&
	    (!sh->unsync || sh->unsync_gfn == frame)) {
		/* The CPU's own write while delivering an event (the frame pushed
		 * onto a page-table page): there is no instruction to emulate.
		 * Leave the page writable for the delivery, retried by the
		 * machine (the write completes natively), and resync it when the
		 * delivery is over (sh_finish). Tearing the page down instead
		 * (KVM's unprotect) would not hold for a table on the path to the
		 * stack, IDT or GDT: the retry shadows it again. */
		sh->unsync = true;
		sh->unsync_gfn = frame;
		if (sh_fill(sh, va, &r, &fills))
			sh_zap_all(sh), sh->oom = false;
		if (m->trace)
			vl_trace(m, "shadow: event delivery writes page table gpa %#llx: writable until delivered",
				 (unsigned long long)r.pa);
		vl_count(m, VL_EV_HIDDEN_FAULTS, 1);
		return sh_finish(sh) ? VL_HOOK_STOP : VL_HOOK_DONE;
	}

	/* Emulate the write the shadow keeps read-only. */
	uint32_t epfec = 0;
	sh->emu_page = va >> 12;
	sh->emu_gpa = r.pa & ~0xfffull;
	sh->emu_fault = false;
	sh->emu_traced = false;
	sh_charge(sh, vmm_emulate);
	int erc = vl_emulate_one(m, &sh_emul_ops, sh, &epfec);
	sh->emu_page = ~0ull;
	if (m->state != VL_M_RUNNING)
		return VL_HOOK_STOP;
	if (erc == 0) {
		vl_retire_emulated(m);   /* the guest instruction completed in the VMM: retired as natively */
		if (m->trace)
			vl_trace(m, "shadow: %s write at va %#llx (gpa %#llx) emulated", sh->emu_traced ? "traced page-table" : "read-only",
				 (unsigned long long)va, (unsigned long long)r.pa);
		vl_count(m, sh->emu_traced ? VL_EV_TRACE_FAULTS : VL_EV_HIDDEN_FAULTS, 1);
		if (sh->emu_traced)
			*kind = VL_PF_TRACING;
	} else if (erc > 0 && sh->emu_fault) {
		*pfec = sh->emu_pfec;         /* the guest's own fault on the written address */
		*kind = VL_PF_TRUE;
		rc = VL_HOOK_PASS;
	} else if (erc > 0) {
		/* The emulator could not read an operand: the hardware runs the
		 * instruction again; its read faults first and is handled then. */
		vl_count(m, VL_EV_HIDDEN_FAULTS, 1);
	} else if (frame < sh->ram_frames && sh->wp[frame] &&
		   !(sh->cur && sh->cur->gfn == frame)) {
		/* Not emulatable: unprotect the page table (KVM's
		 * reexecute_instruction) and let the guest write it natively. */
		while (sh->by_gfn[frame])
			sh_zap(sh, sh->by_gfn[frame]);
		vl_count(m, VL_EV_HIDDEN_FAULTS, 1);
	} else {
		char why[256];
		snprintf(why, sizeof why, "%.200s", m->diag);   /* m->diag is the destination too */
		vl_machine_stop(m, VL_M_ERROR, "shadow MMU: cannot emulate a write at %#llx (rip %#llx): %s",
				(unsigned long long)va, (unsigned long long)m->cpu.rip, why);
		return VL_HOOK_STOP;
	}
	return sh_finish(sh) ? VL_HOOK_STOP : rc;
}

static int shadow_page_fault(struct vl_machine *m, void *ctx, uint64_t va, uint32_t *pfec, enum vl_pf_kind *kind)
{
	enum vl_pf_kind k = VL_PF_HIDDEN;
	int rc = shadow_page_fault_kind(m, ctx, va, pfec, &k);
	if (rc == VL_HOOK_STOP || m->state != VL_M_RUNNING)
		k = VL_PF_STOPPED;
	if (kind)
		*kind = k;
	return rc;
}

/* mmu.h pt_update: the VMM writes a guest page-table entry (adaptive binary
 * translation's PTE-write callout): the write and the shadow update of a
 * traced write (sh_trace_write: mmu.shadow_trace per shadow entry
 * re-derived, prefetch, flooding), without the fault, the guest walk and
 * the emulation. */
static int shadow_pt_update(struct vl_machine *m, void *ctx, uint64_t pte_gpa, uint64_t val)
{
	struct shadow *sh = ctx;
	if ((pte_gpa & 7) || pte_gpa >= m->ram_size)
		return -1;
	if (sh_finish(sh))
		return -1;
	vl_phys_write64(m, pte_gpa, val);
	sh_trace_write(sh, pte_gpa, 8);
	if (m->trace)
		vl_trace(m, "shadow: VMM page-table write gpa %#llx = %#llx", (unsigned long long)pte_gpa,
			 (unsigned long long)val);
	return sh_finish(sh);
}

/* A monitor table below a monitor PML4 slot: the page entry `ent` points
 * to, made (zeroed monitor page, link P|RW|US|A) when missing. 0 when
 * monitor memory is exhausted. */
static uint64_t sh_mon_table(struct shadow *sh, uint64_t ent)
{
	uint64_t e = sh_rd(sh, ent);
	if (e & VL_PTE_P)
		return e & VL_PTE_ADDR;
	uint64_t pa = vl_mem_alloc_page(sh->m);
	if (!pa)
		return 0;
	sh_wr(sh, ent, pa | VL_PTE_P | VL_PTE_RW | VL_PTE_US | VL_PTE_A);
	sh_charge(sh, mmu_shadow_fill);
	return pa;
}

/* mmu.h map_monitor: a VMM-owned 4K mapping in the monitor range, shared
 * by every root through one PML4 entry per slot. */
static int shadow_map_monitor(struct vl_machine *m, void *ctx, uint64_t va, uint64_t hpa, unsigned perms)
{
	struct shadow *sh = ctx;
	if ((va & 0xfff) || va < VL_MONITOR_BASE || va >= VL_MONITOR_END || (hpa & 0xfff) ||
	    hpa < m->ram_size || hpa >= m->mem_size || sh->by_hpa[(hpa - sh->mon_base) >> 12])
		return -1;   /* not monitor memory, or a shadow page (the VMM's own tables stay unmapped) */
	unsigned slot = (unsigned)(va >> 39) & 511;
	if (!sh->mon_pml4e[slot]) {
		uint64_t pdpt = vl_mem_alloc_page(m);
		if (!pdpt)
			return -1;
		sh->mon_pml4e[slot] = pdpt | VL_PTE_P | VL_PTE_RW | VL_PTE_US | VL_PTE_A;
		sh->mon_slots++;
		for (uint32_t i = 0; i < sh->nall; i++) {   /* every live root, cached or not */
			struct sh_page *sp = sh->all[i];
			if (sp->live && sp->level == 4) {   /* the nonpaging root too (a guest-physical address never reaches the hole) */
				uint64_t old = sh_rd(sh, sp->hpa + slot * 8ull);
				if (old & VL_PTE_P)
					sh_clear(sh, 4, sp->hpa + slot * 8ull);   /* a guest link there (a hostile guest) */
				sh_wr(sh, sp->hpa + slot * 8ull, sh->mon_pml4e[slot]);
				sh_charge(sh, mmu_shadow_fill);
			}
		}
	}
	uint64_t t = sh->mon_pml4e[slot] & VL_PTE_ADDR;
	if (!(t = sh_mon_table(sh, t + ((va >> 30) & 511) * 8)) || !(t = sh_mon_table(sh, t + ((va >> 21) & 511) * 8)))
		return -1;
	uint64_t ent = t + ((va >> 12) & 511) * 8;
	uint64_t v = hpa | VL_PTE_P | VL_PTE_A | ((perms & VL_PERM_W) ? VL_PTE_RW | VL_PTE_D : 0) |
		     ((perms & VL_PERM_U) ? VL_PTE_US : 0) | ((perms & VL_PERM_G) ? VL_PTE_G : 0) |
		     (!(perms & VL_PERM_X) && (m->cpu.efer & VL_EFER_NXE) ? VL_PTE_NX : 0);
	uint64_t old = sh_rd(sh, ent);
	sh_wr(sh, ent, v);
	sh_charge(sh, mmu_shadow_fill);
	if ((old & VL_PTE_P) && old != v)
		vl_tlb_flush_all(m);   /* every tag: the mapping is in every root */
	return sh_finish(sh);
}

static void shadow_cr3_write(struct vl_machine *m, void *ctx, uint64_t cr3)
{
	struct shadow *sh = ctx;
	bool noflush = (sh->gcr4 & VL_CR4_PCIDE) && (cr3 & (1ull << 63));

	sh_charge(sh, mmu_shadow_cr3);
	sh->gcr3 = cr3 & ~(1ull << 63);
	if (sh->nonpaging)
		return;   /* used once the guest turns paging on */
	if (sh_load_root(sh, true))
		return;
	if (!noflush)
		vl_tlb_flush_nonglobal(m);   /* what the guest's MOV to CR3 asks for */
	sh_finish(sh);
}

static uint64_t shadow_cr3_read(struct vl_machine *m, void *ctx)
{
	return ((struct shadow *)ctx)->gcr3;
}

/* Every intercepted CR0/CR4 write, with the guest's value (m->cpu holds it;
 * this sets the hardware value there, the VMM loads it). The shadows do
 * not depend on CR0.WP (the hardware always runs with WP = 1; guest WP = 0
 * supervisor writes are emulated), so a WP change needs no rebuild; a PGE
 * or PCIDE change flushes the TLB as the architecture does. Guest paging
 * off is not supported: a clean stop. */
static void shadow_cr_write(struct vl_machine *m, void *ctx, int cr, uint64_t val)
{
	struct shadow *sh = ctx;
	if (cr == 0) {
		bool was = sh->gcr0 & VL_CR0_PG;
		sh->gcr0 = val;
		m->cpu.cr0 = val | VL_CR0_WP | VL_CR0_PG;   /* the hardware always pages */
		if (was != !!(val & VL_CR0_PG)) {
			/* paging on: the root of the guest's CR3; off: the nonpaging root */
			sh->nonpaging = !(val & VL_CR0_PG);
			sh->cur = NULL;
			sh->need_flush = true;
			if (!sh->nonpaging && sh_load_root(sh, false))
				return;
			sh_finish(sh);
		}
	} else if (cr == 4) {
		if ((sh->gcr4 ^ val) & (VL_CR4_PGE | VL_CR4_PCIDE))
			sh->need_flush = true;
		sh->gcr4 = val;
		m->cpu.cr4 = val;
		if (!(val & VL_CR4_PCIDE))
			m->cpu.cr3 &= ~0xfffull;
		sh_finish(sh);
	}
}

/* INVLPG: drop the shadow leaf for va (the guest may have changed the PTE
 * without a traced write being able to prefetch it), then the hardware
 * TLB entry as the instruction does. */
static void shadow_invlpg(struct vl_machine *m, void *ctx, uint64_t va)
{
	struct shadow *sh = ctx;
	struct sh_page *sp = sh->nonpaging ? NULL : sh->cur;

	sh_charge(sh, mmu_shadow_invlpg);
	for (unsigned level = 4; sp && level >= 1; level--) {
		uint64_t ent = sp->hpa + (((va >> (12 + 9 * (level - 1))) & 511) * 8);
		uint64_t e;
		sh_ref(sh);
		e = sh_rd(sh, ent);
		if (!(e & VL_PTE_P))
			break;
		if (level == 1) {
			sh_clear(sh, 1, ent);
			break;
		}
		sp = sh_page_of(sh, e);
	}
	sh->need_flush = false;   /* the dropped leaf is va's: the INVLPG flush covers it */
	vl_tlb_flush_va(m, va);
	sh_finish(sh);
}

static uint64_t shadow_gpa_to_hpa(struct vl_machine *m, void *ctx, uint64_t gpa)
{
	return gpa < m->ram_size ? gpa : UINT64_MAX;   /* guest-physical == host-physical for RAM */
}

static void shadow_fini(struct vl_machine *m, void *ctx)
{
	struct shadow *sh = ctx;
	if (!sh)
		return;
	for (uint32_t i = 0; i < sh->nall; i++) {
		free(sh->all[i]->parents);
		free(sh->all[i]);
	}
	if (sh->rmap)
		for (uint64_t f = 0; f < sh->ram_frames; f++)
			free(sh->rmap[f].e);
	free(sh->all);
	free(sh->rmap);
	free(sh->by_gfn);
	free(sh->wp);
	free(sh->by_hpa);
	free(sh);
}

static int shadow_init(struct vl_machine *m, enum vl_vendor vendor, void **ctx, char *err, size_t errlen)
{
	struct shadow *sh = calloc(1, sizeof *sh);
	uint32_t r[4];

	*ctx = NULL;
	if (!sh) {
		snprintf(err, errlen, "shadow MMU: out of memory");
		return -1;
	}
	if (!(m->cpu.cr0 & VL_CR0_PE) || ((m->cpu.cr0 & VL_CR0_PG) && !(m->cpu.efer & VL_EFER_LMA))) {
		snprintf(err, errlen, "shadow MMU: the guest must start in long mode with paging on (4-level tables) "
			 "or in protected mode with paging off");
		free(sh);
		return -1;
	}
	sh->m = m;
	sh->ram_frames = m->ram_size >> 12;
	sh->mem_frames = m->mem_size >> 12;
	sh->mon_base = m->ram_size;
	sh->by_gfn = calloc(sh->ram_frames, sizeof *sh->by_gfn);
	sh->wp = calloc(sh->ram_frames, sizeof *sh->wp);
	sh->rmap = calloc(sh->ram_frames, sizeof *sh->rmap);
	sh->by_hpa = calloc(sh->mem_frames - sh->ram_frames + 1, sizeof *sh->by_hpa);
	sh->pool_max = (sh->mem_frames - sh->ram_frames) / SHADOW_POOL_DIVISOR;
	sh->emu_page = ~0ull;
	vl_cpuid(m, 0x80000008u, 0, r);
	sh->maxphy = (r[0] & 0xff) ? (r[0] & 0xff) : 36;
	sh->unbacked = (m->mem_size + 0xfff) & ~0xfffull;
	if (!sh->by_gfn || !sh->wp || !sh->rmap || !sh->by_hpa) {
		snprintf(err, errlen, "shadow MMU: out of host memory");
		shadow_fini(m, sh);
		return -1;
	}
	if (sh->unbacked >> sh->maxphy) {
		snprintf(err, errlen, "shadow MMU: no unbacked physical address below MAXPHYADDR for non-RAM frames");
		shadow_fini(m, sh);
		return -1;
	}
	sh->gcr3 = m->cpu.cr3;
	sh->gcr0 = m->cpu.cr0;
	sh->gcr4 = m->cpu.cr4;
	sh->nonpaging = !(m->cpu.cr0 & VL_CR0_PG);
	if (sh->nonpaging ? sh_load_np_root(sh) : sh_load_root(sh, false)) {
		snprintf(err, errlen, "%s", m->diag);
		shadow_fini(m, sh);
		return -1;
	}
	m->cpu.cr0 |= VL_CR0_WP | VL_CR0_PG;   /* hardware WP always on (guest WP is emulated); paging too */
	vl_tlb_flush_all(m);
	*ctx = sh;
	return 0;
}

const struct vl_mmu_ops vl_mmu_shadow = {
	.name = "shadow",
	.desc = "shadow page tables: write-protected guest tables traced, hidden faults filled lazily, 4-root CR3 cache",
	.kind = VL_MMU_SHADOW,
	.init = shadow_init,
	.fini = shadow_fini,
	.cr3_write = shadow_cr3_write,
	.cr3_read = shadow_cr3_read,
	.cr_write = shadow_cr_write,
	.invlpg = shadow_invlpg,
	.page_fault = shadow_page_fault,
	.pt_update = shadow_pt_update,
	.map_monitor = shadow_map_monitor,
	.gpa_to_hpa = shadow_gpa_to_hpa,
};
