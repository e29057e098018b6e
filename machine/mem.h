/* mem.h — platform-half private state for memory, TLBs, walks. Owned by the platform half.
 *
 * Modelled TLBs (what the counters report) and the host-side soft TLB (what
 * makes the interpreter fast) live here. The soft TLB only remembers which
 * modelled L1 entry answered a (page, access kind) last time; every access
 * still updates that modelled entry exactly as the slow path would. */
#ifndef VL_MACHINE_MEM_H
#define VL_MACHINE_MEM_H
#include <stdbool.h>
#include <stdint.h>

/* One modelled TLB entry. page_shift is 12, 21 or 30. */
struct vl_tlb_ent {
	uint64_t vpn;          /* va >> page_shift */
	uint64_t pfn;          /* pa >> page_shift */
	uint64_t lru;          /* larger = more recently used */
	uint64_t id;           /* fill stamp (0 = invalid): a soft-TLB or fetch-cache entry that
				  remembers it stays valid while it is unchanged. A refill of
				  the same slot with the identical translation gets its old
				  stamp back (tlb_insert), else a new unique one. */
	uint64_t old_id;       /* the stamp before the last kill (host side) */
	uint16_t tag;          /* VPID / ASID */
	uint16_t pcid;
	uint8_t page_shift;
	uint8_t perms;         /* VL_PERM_* effective over all levels */
	uint8_t dirty;         /* the leaf's D bit was set when filled */
};

struct vl_tlb {
	struct vl_tlb_ent *e;  /* sets * ways */
	unsigned sets, ways;
	uint64_t clock;
	struct vl_tlb_ent *mru;   /* entry holding the highest stamp: re-touching it changes no order */
	/* Host-side index of the valid entries (id != 0), so a flush visits
	 * those only: live[0..nlive) are entry indices, pos[i] is entry i's
	 * place in live. Invisible in every count: the same entries die. */
	uint32_t *live, *pos;
	uint32_t nlive;
	/* Host-side hash index of the valid entries by (vpn, page size), so a
	 * lookup or an INVLPG visits only entries that can match instead of
	 * whole sets (a fully associative L1 is one set of 64-72). Chains hold
	 * entry index + 1 (0 ends); nsize[k] counts valid entries of size
	 * tlb_shifts[k] (sizes with none are not looked for). The lookup still
	 * returns what the scan in way order would (tlb.c). */
	uint32_t *hhead, *hnext, *hprev;
	uint32_t hmask;
	uint32_t nsize[3];
	/* Fully associative only: the valid entries sorted by stamp when last
	 * needed (snap_lru their stamps then). An entry whose stamp is still
	 * the snapshot's was not touched since, and every entry touched or
	 * filled since has a larger stamp: the first such entry in snapshot
	 * order is the LRU victim (tlb_insert), no 64-72-way scan. */
	uint32_t *snap;
	uint64_t *snap_lru;
	uint32_t snap_pos, snap_n;
	uint64_t set_magic;    /* floor(2^64 / sets) + 1 when sets is not a power of two (tlb.c) */
};

/* Page-walk cache / nested TLB entry (fully associative, LRU). */
struct vl_pwc_ent {
	uint64_t key;          /* prefix (va >> shift) or gPA page */
	uint64_t root;         /* root the entry was read under (PWC) */
	uint64_t val;          /* PWC: the cached entry; NTLB: hPA of the page */
	uint64_t lru;
	uint16_t tag;
	uint8_t level;         /* PWC: 4,3,2 = PML4E/PDPTE/PDE; dimension in bit 4 */
	uint8_t perms;         /* PWC: perms accumulated down to this entry; NTLB: nested perms */
	uint8_t valid;
	uint8_t page_shift;    /* NTLB: nested page size */
};

struct vl_pwc {
	struct vl_pwc_ent *e;
	unsigned n;
	uint64_t clock;
	/* Host side, invisible in every count: hash chains of the valid
	 * entries by (key, level, root, tag) (entry index + 1, 0 ends) and a
	 * bitmap of the invalid ones, so a lookup and an insert's match are
	 * one chain, its free slot one word scan (tlb.c). */
	uint32_t *hhead, *hnext, *hprev;
	uint32_t hmask;
	uint64_t *freebits;
	/* the valid entries in stamp order (index + 1): the head is the least
	 * recently used (stamps only change in tlb.c, so the list is cheap) */
	uint32_t *lnext, *lprev;
	uint32_t lhead, ltail;
};

/* Host soft TLB: direct mapped, one array per access kind (VL_SOFT_IDX).
 * 32 bytes an entry; the L1 TLB it points into is implied by the kind. */
#define VL_SOFT_BITS 8
#define VL_SOFT_N (1u << VL_SOFT_BITS)
struct vl_soft_ent {
	uint64_t vpage;        /* va >> 12, ~0 = empty */
	struct vl_tlb_ent *ent;/* the modelled L1 entry */
	uint64_t id;           /* its fill id when cached (stale once they differ) */
	uint32_t ctx;          /* paging context the permission check was made under */
	uint32_t frame;        /* host-physical frame (pa >> 12) */
};

struct vl_mem_priv {
	uint8_t *code_frames;         /* per host frame: VL_CODE_DECODED / VL_CODE_WATCHED (internal.h) */
	uint64_t monitor_next;        /* next free monitor page */
	unsigned maxphy;              /* MAXPHYADDR (CPUID 0x80000008) */
	struct vl_tlb itlb, dtlb, stlb;
	struct vl_pwc pwc, ntlb;
	bool soft_off;                /* disable the host fast path (tests compare counters) */
	struct vl_soft_ent *soft;     /* VL_SOFT_KINDS * VL_SOFT_N */
};

/* ---- Platform-internal functions (tlb.c, walk.c, mem.c) ---------------- */
struct vl_machine;
#define VL_PERM_R 0x10u        /* internal: readable (EPT can deny reads); always set in 1-D */

int tlb_init(struct vl_tlb *t, uint64_t entries, uint64_t ways);
void tlb_free(struct vl_tlb *t);
struct vl_tlb_ent *tlb_lookup(struct vl_tlb *t, uint64_t va, uint16_t tag, uint16_t pcid);
struct vl_tlb_ent *tlb_insert(struct vl_tlb *t, uint64_t va, uint64_t pa, unsigned page_shift,
			      unsigned perms, bool dirty, uint16_t tag, uint16_t pcid);
/* Invalidate entry e (no-op when already invalid). */
void tlb_kill(struct vl_tlb *t, struct vl_tlb_ent *e);
/* LRU refresh. Skipped when e already holds the newest stamp: the relative
 * order, which is all LRU decisions read, is then unchanged. */
static inline void tlb_touch(struct vl_tlb *t, struct vl_tlb_ent *e)
{
	if (t->mru != e) {
		e->lru = ++t->clock;
		t->mru = e;
	}
}
int pwc_init(struct vl_pwc *p, uint64_t entries);
void pwc_free(struct vl_pwc *p);
struct vl_pwc_ent *pwc_lookup(struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level);
struct vl_pwc_ent *pwc_lookup_walk(struct vl_pwc *p, uint64_t va48, uint64_t root, uint16_t tag);
void pwc_insert(struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level,
		uint64_t val, unsigned perms, unsigned page_shift);
void pwc_flush(struct vl_pwc *p, bool all_tags, uint16_t tag);
/* Does an access of kind acc pass the effective permissions perms under the
 * current CR0.WP? (SDM Vol. 3 4.6; no SMEP/SMAP/PKE.) perms already folds
 * EFER.NXE in: the walker reports VL_PERM_X when NXE = 0. */
static inline bool walk_perm_ok(unsigned perms, unsigned acc, bool wp, bool nxe)
{
	bool user = acc & 4u;
	if (user && !(perms & 2u))
		return false;
	if ((acc & 1u) && !(perms & 1u) && (user || wp))
		return false;
	if ((acc & 2u) && !(perms & 4u))   /* walker sets X when EFER.NXE = 0 */
		return false;
	if (!(acc & 2u) && !(perms & VL_PERM_R))
		return false;
	return true;
}
/* SMEP/SMAP (SDM Vol. 3A 4.6.1) for a supervisor-mode access to a page the
 * translation makes user-accessible: instruction fetches fault with
 * CR4.SMEP; data reads and writes fault with CR4.SMAP unless the access is
 * explicit and EFLAGS.AC = 1 (implicit accesses — GDT/LDT/IDT/TSS — fault
 * whatever AC says). Applied beside walk_perm_ok wherever a guest
 * (1-D or guest-dimension) translation is checked: the walk and TLB hits. */
static inline bool walk_smx_ok(uint64_t cr4, uint64_t rflags, unsigned perms, unsigned acc)
{
	if ((acc & VL_ACC_USER) || !(perms & VL_PERM_U))
		return true;
	if (acc & VL_ACC_X)
		return !(cr4 & VL_CR4_SMEP);
	return !(cr4 & VL_CR4_SMAP) || (!(acc & VL_ACC_IMPLICIT) && (rflags & VL_FL_AC));
}
/* Soft-TLB slot for an access: one array per access kind (acc & 7), and a
 * second set of arrays while CR4.SMEP or SMAP is on — whose supervisor
 * kinds never hold a user page (the decision depends on EFLAGS.AC), while
 * the first set's entries stay valid for when both are off again. */
#define VL_SOFT_IDX(m, acc, va) \
	(((((acc) & 7u) | (((m)->cpu.cr4 & (VL_CR4_SMEP | VL_CR4_SMAP)) ? 8u : 0u)) << VL_SOFT_BITS) | \
	 (((va) >> 12) & (VL_SOFT_N - 1)))
#define VL_SOFT_KINDS 16u
/* Guest-physical -> host-physical through m->nested only (guest paging off). */
struct vl_walk_res;
int walk_nested_only(struct vl_machine *m, uint64_t gpa, unsigned acc, struct vl_walk_res *res);
#endif
