/* walk.c — the page walker: ONE walker, parameterised (STYLE.md).
 *
 * walk_dim() walks one dimension: x86 long-mode 4-level tables (4K/2M/1G,
 * P/RW/US/NX, reserved bits, CR0.WP, EFER.NXE, A/D) or EPT tables. The 1-D
 * walk is walk_dim() on host-physical tables; the 2-D walk is walk_dim() on
 * the guest's tables where every table reference and the final guest-
 * physical address are themselves translated by walk_dim() on the nested
 * tables (nested_xlate). A cold 4-level x 4-level 4K walk therefore makes
 * 4 x (4 + 1) + 4 = 24 references (Bhargava et al., ASPLOS 2008).
 *
 * Caches (hardware walks only; software walks by a VMM use neither):
 *  - page-walk cache (prof->tlb_pwc_entries): upper-level entries of the
 *    1-D / guest dimension (PML4E, PDPTE, PDE) keyed by the VA prefix, root
 *    and tag; a hit skips the references above and including that level.
 *    Filled after a successful walk (A bits are then set).
 *  - nested TLB (prof->tlb_ntlb_entries): gPA page -> hPA page of complete
 *    nested translations; a hit replaces a whole nested walk.
 * The nested dimension itself has no PWC, so a cold walk is exactly 24.
 *
 * Policy choices (the SDM allows either): A/D bits are written only when
 * the whole translation succeeds (as KVM's paging_tmpl.h); EPT A/D bits are
 * not modelled (EPTP bit 6 clear).
 */
#include <string.h>

#include "internal.h"


/* Parameters of one dimension. */
struct wdim {
	enum vl_pt_fmt fmt;
	uint64_t root;
	bool nested_tables;   /* table addresses are gPAs: translate through m->nested */
	bool nested_dim;      /* this IS the nested dimension (counts NESTED_WALK_REFS) */
	bool software;
	bool quiet;           /* diagnostics: nothing charged, counted, written or cached */
	bool set_ad;
	bool wp, nxe, gbpages;
	bool pge;             /* CR4.PGE: honour the G bit */
	uint16_t pcid;
	uint64_t cr4, rflags; /* SMEP/SMAP and EFLAGS.AC (walk_smx_ok) */
};

/* Outcome of one dimension (before the caller packages it). */
struct wout {
	uint64_t pa;          /* translated address */
	unsigned page_shift;
	unsigned perms;       /* VL_PERM_* | VL_PERM_R */
	uint64_t leaf;        /* leaf entry */
};

static uint64_t walk_addr_mask(struct vl_machine *m)
{
	return ((1ull << m->priv->mem.maxphy) - 1) & ~0xfffull;
}

/* One memory reference of a walk: charge and count it. */
static void walk_ref(struct vl_machine *m, const struct wdim *d, struct vl_walk_res *res)
{
	res->refs++;
	if (d->quiet)
		return;
	if (d->software) {
		VL_CHARGE(m, VL_CAT_VMM, tlb_walk_ref);
		return;
	}
	VL_CHARGE(m, VL_CAT_WALK, tlb_walk_ref);
	vl_count(m, VL_EV_WALK_REFS, 1);
	if (d->nested_dim)
		vl_count(m, VL_EV_NESTED_WALK_REFS, 1);
}

/* Reserved bits of an x86 entry at `level` (4 = PML4E .. 1 = PTE). */
static uint64_t x86_rsvd(struct vl_machine *m, const struct wdim *d, int level, uint64_t e)
{
	uint64_t r = (((1ull << 52) - 1) & ~((1ull << m->priv->mem.maxphy) - 1));

	if (!d->nxe)
		r |= VL_PTE_NX;
	if (level == 4)
		r |= VL_PTE_PS;
	if (level == 3 && !d->gbpages)
		r |= VL_PTE_PS;
	if (level == 3 && (e & VL_PTE_PS))
		r |= 0x3fffe000ull;          /* bits 29:13 of a 1G leaf */
	if (level == 2 && (e & VL_PTE_PS))
		r |= 0x1fe000ull;            /* bits 20:13 of a 2M leaf */
	return e & r;
}

static uint64_t ept_rsvd(struct vl_machine *m, int level, uint64_t e)
{
	uint64_t r = (((1ull << 52) - 1) & ~((1ull << m->priv->mem.maxphy) - 1));

	if (level == 4)
		r |= VL_PTE_PS | 0x78ull;                   /* bit 7 and memory type bits 6:3 */
	if (level == 3 && (e & VL_PTE_PS))
		r |= 0x3ffff000ull;
	if (level == 2 && (e & VL_PTE_PS))
		r |= 0x1ff000ull;
	if ((e & (VL_EPT_R | VL_EPT_W)) == VL_EPT_W)          /* write without read: misconfiguration */
		r |= VL_EPT_W;
	return e & r;
}

/* Permission bits one entry grants. */
static unsigned entry_perms(const struct wdim *d, uint64_t e)
{
	unsigned p = VL_PERM_R;

	if (d->fmt == VL_PT_EPT) {
		p = VL_PERM_U;                 /* EPT has no user/supervisor distinction */
		if (e & VL_EPT_R)
			p |= VL_PERM_R;
		if (e & VL_EPT_W)
			p |= VL_PERM_W;
		if (e & VL_EPT_X)
			p |= VL_PERM_X;
		return p;
	}
	if (e & VL_PTE_RW)
		p |= VL_PERM_W;
	if (e & VL_PTE_US)
		p |= VL_PERM_U;
	if (!d->nxe || !(e & VL_PTE_NX))
		p |= VL_PERM_X;
	return p;
}

static int nested_xlate(struct vl_machine *m, const struct wdim *gd, uint64_t gpa, unsigned acc,
			bool final, uint64_t gva, struct vl_walk_res *res, uint64_t *hpa,
			unsigned *perms, unsigned *shift);

/* Walk one dimension for `va`; on success fills *o. Fault details go into
 * res (status, pfec / npf_*). Table entries read in a non-nested dimension
 * are recorded in res->pte_pa/pte (the guest dimension of a 2-D walk). */
static int walk_dim(struct vl_machine *m, const struct wdim *d, uint64_t va, unsigned acc,
		    struct vl_walk_res *res, struct wout *o)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	uint64_t amask = walk_addr_mask(m), table = d->root & amask;
	uint64_t ent_hpa[4] = { 0 }, ent_val[4] = { 0 };
	unsigned tbl_perm[4] = { 0 };     /* nested perms of each table page (2-D) */
	unsigned perms = VL_PERM_R | VL_PERM_W | VL_PERM_U | VL_PERM_X;
	int level = 4, first = 4, lvl_idx;
	bool use_pwc = !d->software && !d->quiet && !d->nested_dim && mp->pwc.n;
	uint16_t tag = m->tlb_tag;
	uint64_t e = 0;
	unsigned shift = 12;
	unsigned perms_at_first = 0;

	/* Page-walk cache: deepest cached upper-level entry wins. */
	if (use_pwc) {
		struct vl_pwc_ent *pe = pwc_lookup_walk(&mp->pwc, va & ((1ull << 48) - 1),
							d->root | ((uint64_t)d->pcid << 52), tag);
		if (pe) {
			vl_count(m, VL_EV_PWC_HITS, 1);
			perms = pe->perms;
			perms_at_first = perms;
			table = pe->val & amask;
			level = pe->level - 1;
			first = level;
		}
	}

	for (; level >= 1; level--) {
		unsigned idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
		uint64_t eaddr = table + idx * 8ull, hpa = eaddr;
		uint64_t rsvd;
		bool leaf;

		lvl_idx = 4 - level;
		if (d->nested_tables) {
			unsigned np, nsh;
			if (nested_xlate(m, d, eaddr, VL_ACC_R, false, va, res, &hpa, &np, &nsh))
				return -1;
			tbl_perm[lvl_idx] = np;
		}
		walk_ref(m, d, res);
		e = vl_phys_read64(m, hpa);
		ent_hpa[lvl_idx] = hpa;
		ent_val[lvl_idx] = e;
		if (!d->nested_dim) {
			res->pte_pa[lvl_idx] = d->nested_tables ? eaddr : hpa;
			res->pte[lvl_idx] = e;
			res->levels++;
		}
		if (d->fmt == VL_PT_EPT) {
			if (!(e & (VL_EPT_R | VL_EPT_W | VL_EPT_X)))
				goto not_present;
			rsvd = ept_rsvd(m, level, e);
		} else {
			if (!(e & VL_PTE_P))
				goto not_present;
			rsvd = x86_rsvd(m, d, level, e);
		}
		if (rsvd)
			goto reserved;
		perms &= entry_perms(d, e);
		leaf = level == 1 || ((level == 2 || level == 3) && (e & VL_PTE_PS));
		if (leaf) {
			shift = 12 + 9 * (unsigned)(level - 1);
			break;
		}
		table = e & amask;
	}

	/* Permission check on the complete translation. */
	if (d->fmt == VL_PT_EPT || d->nested_dim) {
		/* Nested dimension: accesses are checked as user accesses with WP (NPT) or by R/W/X (EPT). */
		unsigned a = (acc & (VL_ACC_W | VL_ACC_X)) | (d->fmt == VL_PT_X86 ? VL_ACC_USER : 0);
		if (!walk_perm_ok(perms, a, true, true))
			goto npf_perm;
	} else if (!walk_perm_ok(perms, acc, d->wp, d->nxe) || !walk_smx_ok(d->cr4, d->rflags, perms, acc)) {
		res->status = VL_WALK_PF;
		res->pfec = VL_PFEC_P;
		goto pf_bits;
	}

	/* Success: set A on every entry read (and D on the leaf for a write). */
	if (d->set_ad && !d->quiet && d->fmt == VL_PT_X86) {
		for (int l = first; l >= level; l--) {
			int i = 4 - l;
			uint64_t want = ent_val[i] | VL_PTE_A;
			if (l == level && (acc & VL_ACC_W))
				want |= VL_PTE_D;
			if (want == ent_val[i])
				continue;
			if (d->nested_tables && !(tbl_perm[i] & VL_PERM_W)) {
				/* The A/D update is a write to a guest page-table page the nested tables make read-only. */
				unsigned np, nsh;
				uint64_t hpa;
				uint64_t gpa = res->pte_pa[i];
				res->status = VL_WALK_OK;
				if (nested_xlate(m, d, gpa, VL_ACC_W, false, va, res, &hpa, &np, &nsh))
					return -1;
			}
			vl_phys_write64(m, ent_hpa[i], want);
			ent_val[i] = want;
			if (!d->nested_dim)
				res->pte[i] = want;
		}
		e = ent_val[4 - level];
	}

	/* Fill the page-walk cache with the upper-level entries read from memory. */
	if (use_pwc) {
		unsigned p = first < 4 ? perms_at_first : (VL_PERM_R | VL_PERM_W | VL_PERM_U | VL_PERM_X);
		for (int l = first; l > level && l >= 2; l--) {
			int i = 4 - l;
			p &= entry_perms(d, ent_val[i]);
			pwc_insert(&mp->pwc, (va & ((1ull << 48) - 1)) >> (12 + 9 * (unsigned)(l - 1)),
				   d->root | ((uint64_t)d->pcid << 52), tag, (unsigned)l, ent_val[i], p, 0);
		}
	}

	o->page_shift = shift;
	o->pa = (e & amask & ~((1ull << shift) - 1)) | (va & ((1ull << shift) - 1));
	o->perms = perms | ((d->fmt == VL_PT_X86 && d->pge && (e & VL_PTE_G)) ? VL_PERM_G : 0);
	o->leaf = e;
	return 0;

not_present:
	if (d->nested_dim)
		goto npf;
	res->status = VL_WALK_PF;
	res->pfec = 0;
	goto pf_bits;
reserved:
	if (d->nested_dim)
		goto npf;
	res->status = VL_WALK_PF;
	res->pfec = VL_PFEC_P | VL_PFEC_RSVD;
pf_bits:
	if (acc & VL_ACC_W)
		res->pfec |= VL_PFEC_W;
	if (acc & VL_ACC_USER)
		res->pfec |= VL_PFEC_U;
	if ((acc & VL_ACC_X) && (d->nxe || (d->cr4 & VL_CR4_SMEP)))
		res->pfec |= VL_PFEC_I;   /* SDM 4.7: I/D with EFER.NXE or CR4.SMEP */
	return -1;
npf_perm:
	if (!d->nested_dim) {
		/* EPT/NPT format used as a 1-D walk: report as a page fault. */
		res->status = VL_WALK_PF;
		res->pfec = VL_PFEC_P;
		goto pf_bits;
	}
npf:
	res->status = VL_WALK_NPF;
	res->npf_entry = e;
	return -1;
}

/* Translate guest-physical `gpa` through the nested tables (hardware 2-D
 * walk or a VMM's software translation). NTLB first. On failure res holds
 * VL_WALK_NPF with npf_gpa/npf_final. */
static int nested_xlate(struct vl_machine *m, const struct wdim *gd, uint64_t gpa, unsigned acc,
			bool final, uint64_t gva, struct vl_walk_res *res, uint64_t *hpa,
			unsigned *perms, unsigned *shift)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	struct wdim nd = {
		.fmt = m->nested.fmt, .root = m->nested.root, .nested_dim = true,
		.software = gd->software, .quiet = gd->quiet, .set_ad = gd->set_ad && m->nested.fmt == VL_PT_X86,
		.wp = true, .nxe = true, .gbpages = m->prof->features_gbpages,
	};
	bool use_ntlb = !gd->software && !gd->quiet && mp->ntlb.n;
	struct wout o;
	unsigned a = acc & (VL_ACC_W | VL_ACC_X);

	if (use_ntlb) {
		struct vl_pwc_ent *ne = pwc_lookup(&mp->ntlb, gpa >> 12, m->nested.root, m->tlb_tag, 0);
		if (ne && walk_perm_ok(ne->perms, a | (nd.fmt == VL_PT_X86 ? VL_ACC_USER : 0), true, true)) {
			vl_count(m, VL_EV_NTLB_HITS, 1);
			*hpa = ne->val | (gpa & 0xfff);
			*perms = ne->perms;
			*shift = ne->page_shift;
			return 0;
		}
	}
	if (walk_dim(m, &nd, gpa, a, res, &o)) {
		if (res->status == VL_WALK_NPF) {
			res->npf_gpa = gpa;
			res->npf_final = final;
		}
		return -1;
	}
	if (use_ntlb)
		pwc_insert(&mp->ntlb, gpa >> 12, m->nested.root, m->tlb_tag, 0, o.pa & ~0xfffull,
			   o.perms & ~VL_PERM_G, o.page_shift);
	*hpa = o.pa;
	*perms = o.perms & ~VL_PERM_G;
	*shift = o.page_shift;
	return 0;
}

int vl_walk(struct vl_machine *m, const struct vl_walk_req *rq, uint64_t va, struct vl_walk_res *res)
{
	struct wdim d = {
		.fmt = rq->fmt, .root = rq->root, .nested_tables = rq->nested,
		.software = rq->software, .quiet = rq->quiet, .set_ad = rq->set_ad,
		.wp = (m->cpu.cr0 & VL_CR0_WP) != 0, .nxe = (m->cpu.efer & VL_EFER_NXE) != 0,
		.gbpages = m->prof->features_gbpages, .pge = (m->cpu.cr4 & VL_CR4_PGE) != 0,
		.pcid = (m->cpu.cr4 & VL_CR4_PCIDE) ? (uint16_t)(m->cpu.cr3 & 0xfff) : 0,
		.cr4 = m->cpu.cr4, .rflags = m->cpu.rflags,
	};
	struct wout o;

	memset(res, 0, sizeof(*res));
	if (rq->nested && !m->nested.enabled) {
		res->status = VL_WALK_BAD;
		return -1;
	}
	if (walk_dim(m, &d, va, rq->acc, res, &o))
		return -1;
	res->page_size = 1ull << o.page_shift;
	res->perms = o.perms;
	res->pa = o.pa;
	res->gpa = o.pa;
	if (rq->nested) {
		uint64_t hpa;
		unsigned np, nsh;

		if (nested_xlate(m, &d, o.pa, rq->acc, true, va, res, &hpa, &np, &nsh))
			return -1;
		res->pa = hpa;
		if (nsh < o.page_shift)
			res->page_size = 1ull << nsh;
		res->perms = (o.perms & (np | VL_PERM_G | VL_PERM_U)) ;
	}
	res->status = VL_WALK_OK;
	return 0;
}

/* Guest-physical -> host-physical through the nested tables only (paging
 * off in the guest, or a VMM asking). Hardware semantics (NTLB, counted). */
int walk_nested_only(struct vl_machine *m, uint64_t gpa, unsigned acc, struct vl_walk_res *res)
{
	struct wdim d = { .fmt = VL_PT_X86, .set_ad = true };
	uint64_t hpa;
	unsigned np, nsh;

	memset(res, 0, sizeof(*res));
	if (nested_xlate(m, &d, gpa, acc, true, gpa, res, &hpa, &np, &nsh))
		return -1;
	res->status = VL_WALK_OK;
	res->pa = hpa;
	res->gpa = gpa;
	res->page_size = 1ull << nsh;
	res->perms = np | VL_PERM_U;
	return 0;
}
