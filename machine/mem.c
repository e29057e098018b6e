/* mem.c — guest-virtual memory access as the CPU makes it: the modelled
 * TLBs (L1 I / L1 D / unified L2, counted exactly), the walker on a miss
 * (1-D on CR3, or 2-D through m->nested), page-crossing accesses, and the
 * host-side soft TLB that makes repeat hits cheap.
 *
 * The soft TLB is a direct-mapped host cache per access kind (acc & 7) of
 * (4K page, paging context) -> (modelled L1 entry, host frame). It is only
 * a shortcut to the modelled entry the slow path would find: a soft hit
 * does exactly what a modelled L1 hit does (count the hit, refresh the
 * entry's LRU stamp), and it is valid only while that entry still holds
 * the same fill (its id). So it cannot change a modelled count; the test
 * test_tlb_fastpath runs the same sequence with soft_off and compares. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MEM_NPF_RETRIES 8

static unsigned platform_maxphy(const struct vl_profile *p)
{
	extern unsigned vl_platform_maxphyaddr(const struct vl_profile *p);
	return vl_platform_maxphyaddr(p);
}

int vl_mem_priv_init(struct vl_machine *m)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	const struct vl_profile *p = m->prof;

	mp->maxphy = platform_maxphy(p);
	mp->code_frames = calloc(m->mem_size >> 12, 1);
	mp->soft = malloc(sizeof(*mp->soft) * VL_SOFT_KINDS * VL_SOFT_N);
	if (!mp->code_frames || !mp->soft)
		return -1;
	for (size_t i = 0; i < VL_SOFT_KINDS * VL_SOFT_N; i++)
		mp->soft[i].vpage = ~0ull;
	if (tlb_init(&mp->itlb, p->tlb_l1i_entries, p->tlb_l1i_ways) ||
	    tlb_init(&mp->dtlb, p->tlb_l1d_entries, p->tlb_l1d_ways) ||
	    tlb_init(&mp->stlb, p->tlb_l2_entries, p->tlb_l2_ways) ||
	    pwc_init(&mp->pwc, p->tlb_pwc_entries) || pwc_init(&mp->ntlb, p->tlb_ntlb_entries))
		return -1;
	return 0;
}

void vl_mem_priv_free(struct vl_machine *m)
{
	struct vl_mem_priv *mp = &m->priv->mem;

	free(mp->code_frames);
	free(mp->soft);
	tlb_free(&mp->itlb);
	tlb_free(&mp->dtlb);
	tlb_free(&mp->stlb);
	pwc_free(&mp->pwc);
	pwc_free(&mp->ntlb);
	mp->code_frames = NULL;
	mp->soft = NULL;
}

static int mem_fault(struct vl_machine *m, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	m->priv->fault.vec = vec;
	m->priv->fault.has_err = has_err;
	m->priv->fault.err = err;
	m->priv->fault.cr2 = cr2;
	m->priv->fault.noncanon = false;
	return -1;
}

/* A usable entry: permissions pass, and a write finds the leaf dirty. */
static inline bool mem_usable(const struct vl_machine *m, const struct vl_tlb_ent *e, unsigned acc)
{
	if (!walk_perm_ok(e->perms, acc, (m->cpu.cr0 & VL_CR0_WP) != 0, true) ||
	    !walk_smx_ok(m->cpu.cr4, m->cpu.rflags, e->perms, acc))
		return false;
	return !(acc & VL_ACC_W) || e->dirty;
}

/* The modelled path found L1 entry e for an access of kind acc at va: point
 * acc's soft entry at it. When e was just filled (fill), a data access also
 * points the soft entry of its partner kind (read <-> write, same
 * privilege) at e when e is usable for it: the modelled path for (va,
 * partner) would find e and hit, which is all a soft hit does (after a CR3
 * flush a user stack page is then refilled once, not once for the read and
 * again for the write). Only the partner: every kind filled evicts another
 * page's soft entry of that kind. */
static void mem_soft_fill(struct vl_machine *m, uint64_t va, unsigned acc, struct vl_tlb_ent *e, uint64_t pa,
			  bool fill)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	uint64_t frame = pa >> 12;
	unsigned a = acc & 7;

	if (mp->soft_off || !e || frame >= (m->mem_size >> 12) || frame > UINT32_MAX)
		return;
	if ((m->cpu.cr4 & (VL_CR4_SMEP | VL_CR4_SMAP)) && !(acc & VL_ACC_USER) && (e->perms & VL_PERM_U))
		return;   /* SMAP's answer depends on EFLAGS.AC: always the modelled path */
	uint32_t ctx = vl_mem_ctx(m);
	for (int k = 0; k < 2; k++, a ^= VL_ACC_W) {
		if (k && (!fill || (acc & VL_ACC_X) || !mem_usable(m, e, a)))
			break;
		struct vl_soft_ent *s = &mp->soft[VL_SOFT_IDX(m, a, va)];
		s->vpage = va >> 12;
		s->ctx = ctx;
		s->id = e->id;
		s->ent = e;
		s->frame = (uint32_t)frame;
	}
}

/* The nested dimension faulted: the VMM handles it (VM exit), then the
 * access is retried. Returns 0 to retry, -1 when the machine stopped. */
static int mem_npf(struct vl_machine *m, const struct vl_walk_res *r, uint64_t va, unsigned acc)
{
	int rc = VL_HOOK_PASS;

	vl_count(m, VL_EV_NESTED_FAULTS, 1);
	vl_cpu_flags_sync(m);
	if (m->vmm && m->vmm->nested_fault)
		rc = m->vmm->nested_fault(m, m->vmm_ctx, r->npf_gpa, va, r->npf_final, acc, r->npf_entry);
	if (rc == VL_HOOK_DONE)
		return 0;
	if (m->state == VL_M_RUNNING)
		vl_machine_stop(m, VL_M_ERROR, "unhandled nested page fault at gpa %#llx (va %#llx)",
				(unsigned long long)r->npf_gpa, (unsigned long long)va);
	return mem_fault(m, VL_FAULT_ABORT, false, 0, 0);
}

/* Translate one access (no page crossing). The modelled path; counts. */
static int mem_xlate_slow(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	struct vl_cpu *c = &m->cpu;
	bool fetch = acc & VL_ACC_X;
	struct vl_tlb *l1 = fetch ? &mp->itlb : &mp->dtlb;
	uint16_t pcid = (c->cr4 & VL_CR4_PCIDE) ? (uint16_t)(c->cr3 & 0xfff) : 0;
	struct vl_tlb_ent *e, *e2;
	struct vl_walk_req rq;
	struct vl_walk_res r;
	int tries = 0;

	if (!(c->cr0 & VL_CR0_PG)) {
		if (!m->nested.enabled) {
			*pa = va;
			return 0;
		}
		while (walk_nested_only(m, va, acc, &r)) {
			if (r.status != VL_WALK_NPF || ++tries > MEM_NPF_RETRIES)
				goto bad;
			if (mem_npf(m, &r, va, acc))
				return -1;
		}
		*pa = r.pa;
		return 0;
	}
	if ((uint64_t)((int64_t)(va << 16) >> 16) != va) {
		mem_fault(m, VL_GP, true, 0, 0);   /* non-canonical */
		m->priv->fault.noncanon = true;
		return -1;
	}

	e = tlb_lookup(l1, va, m->tlb_tag, pcid);
	if (e && mem_usable(m, e, acc)) {
		vl_count(m, fetch ? VL_EV_ITLB_HITS : VL_EV_DTLB_HITS, 1);
		tlb_touch(l1, e);
		goto hit;
	}
	vl_count(m, fetch ? VL_EV_ITLB_MISSES : VL_EV_DTLB_MISSES, 1);
	if (e)
		tlb_kill(l1, e);   /* stale permissions / clean for a write: refetch */
	e2 = tlb_lookup(&mp->stlb, va, m->tlb_tag, pcid);
	if (e2 && mem_usable(m, e2, acc)) {
		vl_count(m, VL_EV_STLB_HITS, 1);
		VL_CHARGE(m, VL_CAT_WALK, tlb_l2_hit);
		tlb_touch(&mp->stlb, e2);
		e = tlb_insert(l1, va, e2->pfn << e2->page_shift, e2->page_shift, e2->perms, e2->dirty,
			       e2->tag, e2->pcid);
		*pa = (e->pfn << e->page_shift) | (va & ((1ull << e->page_shift) - 1));
		mem_soft_fill(m, va, acc, e, *pa, true);
		return 0;
	}
	if (e2)
		tlb_kill(&mp->stlb, e2);
	vl_count(m, VL_EV_TLB_MISSES, 1);
	rq = (struct vl_walk_req){
		.root = c->cr3 & ~0xfffull & ~(1ull << 63), .fmt = VL_PT_X86, .acc = acc,
		.set_ad = true, .nested = m->nested.enabled,
	};
	while (vl_walk(m, &rq, va, &r)) {
		if (r.status == VL_WALK_PF)
			return mem_fault(m, VL_PF, true, r.pfec, va);
		if (r.status != VL_WALK_NPF || ++tries > MEM_NPF_RETRIES)
			goto bad;
		if (mem_npf(m, &r, va, acc))
			return -1;
	}
	{
		unsigned sh = r.page_size == (1ull << 30) ? 30 : r.page_size == (1ull << 21) ? 21 : 12;
		bool dirty = (acc & VL_ACC_W) || (r.pte[r.levels - 1] & (1ull << 6));
		uint64_t base = r.pa & ~((1ull << sh) - 1);

		if (m->nested.enabled)
			dirty = acc & VL_ACC_W;   /* the guest leaf is not the combined leaf: conservative */
		tlb_insert(&mp->stlb, va, base, sh, r.perms, dirty, m->tlb_tag, pcid);
		e = tlb_insert(l1, va, base, sh, r.perms, dirty, m->tlb_tag, pcid);
		*pa = r.pa;
		mem_soft_fill(m, va, acc, e, r.pa, true);
		return 0;
	}
hit:
	*pa = (e->pfn << e->page_shift) | (va & ((1ull << e->page_shift) - 1));
	mem_soft_fill(m, va, acc, e, *pa, false);
	return 0;
bad:
	if (m->state == VL_M_RUNNING)
		vl_machine_stop(m, VL_M_ERROR, "page walk failed at va %#llx (status %d)",
				(unsigned long long)va, (int)r.status);
	return mem_fault(m, VL_FAULT_ABORT, false, 0, 0);
}

static inline int mem_xlate(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa)
{
	return vl_mem_translate_inline(m, va, acc, pa);
}

int vl_mem_translate(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa)
{
	return vl_mem_translate_inline(m, va, acc, pa);
}

int vl_mem_translate_slow(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa)
{
	return mem_xlate_slow(m, va, acc, pa);
}

static void mem_copy_in(struct vl_machine *m, uint64_t pa, void *dst, size_t n)
{
	uint64_t v;
	if (pa < m->mem_size && n <= m->mem_size - pa)
		memcpy(dst, m->mem + pa, n);
	else if (n <= 8 && vl_mmio_read(m, pa, (unsigned)n, &v))
		memcpy(dst, &v, n);
	else
		memset(dst, 0xff, n);   /* unbacked physical memory reads as all ones */
}

uint64_t vl_mem_unbacked_read(struct vl_machine *m, uint64_t pa, unsigned n)
{
	uint64_t v = 0;
	mem_copy_in(m, pa, &v, n);
	return v;
}

void vl_mem_unbacked_write(struct vl_machine *m, uint64_t pa, unsigned n, uint64_t v)
{
	vl_mmio_write(m, pa, n, v);   /* otherwise dropped */
}

static void mem_copy_out(struct vl_machine *m, uint64_t pa, const void *src, size_t n)
{
	uint64_t f = pa >> 12;

	if (pa >= m->mem_size || n > m->mem_size - pa) {
		if (n <= 8) {
			uint64_t v = 0;
			memcpy(&v, src, n);
			vl_mmio_write(m, pa, (unsigned)n, v);
		}
		return;                 /* writes to unbacked memory are dropped */
	}
	memcpy(m->mem + pa, src, n);
	if (m->priv->mem.code_frames[f] || m->priv->mem.code_frames[(pa + n - 1) >> 12])
		vl_mem_note_write(m, pa, n);
}

/* Read n bytes at va, page by page. */
static int mem_read_acc(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc)
{
	uint8_t *d = dst;

	while (n) {
		size_t chunk = 4096 - (va & 0xfff);
		uint64_t pa;

		if (chunk > n)
			chunk = n;
		if (mem_xlate(m, va, acc, &pa))
			return -1;
		mem_copy_in(m, pa, d, chunk);
		d += chunk;
		va += chunk;
		n -= chunk;
	}
	return 0;
}

int vl_mem_fetch(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc)
{
	return mem_read_acc(m, va, dst, n, (acc & VL_ACC_USER) | VL_ACC_X);
}

int vl_mem_read(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc)
{
	uint64_t pa;

	acc &= VL_ACC_USER | VL_ACC_IMPLICIT;
	if ((va & 0xfff) + n <= 4096) {   /* the common case: one page */
		if (mem_xlate(m, va, acc, &pa))
			return -1;
		if (pa + n <= m->mem_size) {
			memcpy(dst, m->mem + pa, n);
			return 0;
		}
		mem_copy_in(m, pa, dst, n);
		return 0;
	}
	return mem_read_acc(m, va, dst, n, acc);
}

/* Writes translate every page first, so a fault on the second page of a
 * page-crossing write leaves memory unchanged (as the hardware does). */
int vl_mem_write(struct vl_machine *m, uint64_t va, const void *src, size_t n, unsigned acc)
{
	const uint8_t *s = src;
	uint64_t pa, pa2;
	size_t n1;

	acc = (acc & (VL_ACC_USER | VL_ACC_IMPLICIT)) | VL_ACC_W;
	if ((va & 0xfff) + n <= 4096) {
		if (mem_xlate(m, va, acc, &pa))
			return -1;
		mem_copy_out(m, pa, s, n);
		return 0;
	}
	if (n > 4096) {   /* large VMM copies: page by page (not atomic) */
		while (n) {
			size_t chunk = 4096 - (va & 0xfff);
			if (chunk > n)
				chunk = n;
			if (vl_mem_write(m, va, s, chunk, acc))
				return -1;
			s += chunk;
			va += chunk;
			n -= chunk;
		}
		return 0;
	}
	n1 = 4096 - (va & 0xfff);
	if (mem_xlate(m, va, acc, &pa) || mem_xlate(m, va + n1, acc, &pa2))
		return -1;
	mem_copy_out(m, pa, s, n1);
	mem_copy_out(m, pa2, s + n1, n - n1);
	return 0;
}

static int mem_virt_rc(struct vl_machine *m, uint32_t *pfec)
{
	if (pfec)
		*pfec = m->priv->fault.err;
	return m->priv->fault.vec == VL_FAULT_ABORT ? -1 : (int)m->priv->fault.vec;
}

int vl_virt_read(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc, uint32_t *pfec)
{
	int rc = (acc & VL_ACC_X) ? vl_mem_fetch(m, va, dst, n, acc) : vl_mem_read(m, va, dst, n, acc);
	return rc ? mem_virt_rc(m, pfec) : 0;
}

int vl_virt_write(struct vl_machine *m, uint64_t va, const void *src, size_t n, unsigned acc, uint32_t *pfec)
{
	return vl_mem_write(m, va, src, n, acc) ? mem_virt_rc(m, pfec) : 0;
}

void vl_mem_set_fastpath(struct vl_machine *m, bool on)
{
	struct vl_mem_priv *mp = &m->priv->mem;

	mp->soft_off = !on;
	for (size_t i = 0; i < VL_SOFT_KINDS * VL_SOFT_N; i++)
		mp->soft[i].vpage = ~0ull;
}
