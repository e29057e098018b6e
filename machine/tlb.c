/* tlb.c — the modelled TLBs (L1 I, L1 D, unified L2), the page-walk cache
 * and the nested TLB, and the flush operations engines and the CPU call.
 *
 * Every TLB is set-associative with true LRU within a set; entries of all
 * page sizes (4K/2M/1G) share one array, indexed by the page number at their
 * own size (real parts have separate large-page arrays; one array keeps the
 * model small and is documented in machine/README.md). Entries carry the
 * VPID/ASID tag (m->tlb_tag) and, when CR4.PCIDE, the PCID; global entries
 * match any PCID but only their own VPID/ASID. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int tlb_init(struct vl_tlb *t, uint64_t entries, uint64_t ways)
{
	memset(t, 0, sizeof(*t));
	if (entries == 0)
		return 0;
	if (ways == 0 || ways > entries)
		ways = entries;          /* fully associative */
	t->ways = (unsigned)ways;
	t->sets = (unsigned)(entries / ways);
	if (t->sets == 0)
		t->sets = 1;
	size_t n = (size_t)t->sets * t->ways, nb = 16;
	while (nb < 2 * n)
		nb *= 2;
	t->hmask = (uint32_t)(nb - 1);
	if (t->sets & (t->sets - 1))
		t->set_magic = UINT64_MAX / t->sets + 1;
	t->e = calloc(n, sizeof(*t->e));
	t->live = calloc(n, sizeof(*t->live));
	t->pos = calloc(n, sizeof(*t->pos));
	t->hhead = calloc(nb, sizeof(*t->hhead));
	t->hnext = calloc(n, sizeof(*t->hnext));
	t->hprev = calloc(n, sizeof(*t->hprev));
	if (t->sets == 1) {
		t->snap = calloc(n, sizeof(*t->snap));
		t->snap_lru = calloc(n, sizeof(*t->snap_lru));
		if (!t->snap || !t->snap_lru)
			return -1;
	}
	return t->e && t->live && t->pos && t->hhead && t->hnext && t->hprev ? 0 : -1;
}

void tlb_free(struct vl_tlb *t)
{
	free(t->e);
	free(t->live);
	free(t->pos);
	free(t->hhead);
	free(t->hnext);
	free(t->hprev);
	free(t->snap);
	free(t->snap_lru);
	t->snap = NULL;
	t->snap_lru = NULL;
	t->e = NULL;
	t->live = t->pos = NULL;
	t->hhead = t->hnext = t->hprev = NULL;
	t->nlive = 0;
}

static inline void live_add(struct vl_tlb *t, uint32_t i)
{
	t->pos[i] = t->nlive;
	t->live[t->nlive++] = i;
}
static inline void live_del(struct vl_tlb *t, uint32_t i)
{
	uint32_t k = t->pos[i], last = t->live[--t->nlive];
	t->live[k] = last;
	t->pos[last] = k;
}

static const unsigned tlb_shifts[3] = { 12, 21, 30 };

/* ---- The hash index (host side) ----------------------------------------
 * Every valid entry sits on the chain of bucket (vpn, size). A lookup walks
 * the chains of the sizes present; among the entries that match it returns
 * the one the modelled scan meets first: the lowest way of the set (for a
 * set-associative TLB the sizes are scanned 4K, 2M, 1G, each in its own
 * set; a fully associative one is a single pass over every way, any size).
 * So duplicates — a 4K and a 2M entry covering one address, a global and a
 * PCID-tagged entry of one page — resolve exactly as before. */
static inline unsigned sz_idx(unsigned page_shift)
{
	return page_shift == 12 ? 0 : page_shift == 21 ? 1 : 2;
}
static inline uint32_t h_bucket(const struct vl_tlb *t, uint64_t vpn, unsigned k)
{
	return (uint32_t)(((vpn << 2 | k) * 0x9E3779B97F4A7C15ull) >> 40) & t->hmask;
}
static inline void h_link(struct vl_tlb *t, uint32_t i)
{
	const struct vl_tlb_ent *e = &t->e[i];
	unsigned k = sz_idx(e->page_shift);
	uint32_t b = h_bucket(t, e->vpn, k), h = t->hhead[b];

	t->hnext[i] = h;
	t->hprev[i] = 0;
	if (h)
		t->hprev[h - 1] = i + 1;
	t->hhead[b] = i + 1;
	t->nsize[k]++;
}
static inline void h_unlink(struct vl_tlb *t, uint32_t i)
{
	const struct vl_tlb_ent *e = &t->e[i];
	unsigned k = sz_idx(e->page_shift);
	uint32_t n = t->hnext[i], p = t->hprev[i];

	if (p)
		t->hnext[p - 1] = n;
	else
		t->hhead[h_bucket(t, e->vpn, k)] = n;
	if (n)
		t->hprev[n - 1] = p;
	t->nsize[k]--;
}

void tlb_kill(struct vl_tlb *t, struct vl_tlb_ent *e)
{
	if (e->id) {
		uint32_t i = (uint32_t)(e - t->e);
		h_unlink(t, i);
		e->old_id = e->id;
		e->id = 0;
		live_del(t, i);
	}
}

struct vl_tlb_ent *tlb_lookup(struct vl_tlb *t, uint64_t va, uint16_t tag, uint16_t pcid)
{
	struct vl_tlb_ent *best = NULL;

	for (unsigned k = 0; k < 3; k++) {
		if (!t->nsize[k])
			continue;
		unsigned sh = tlb_shifts[k];
		uint64_t vpn = va >> sh;
		for (uint32_t j = t->hhead[h_bucket(t, vpn, k)]; j; j = t->hnext[j - 1]) {
			struct vl_tlb_ent *e = &t->e[j - 1];
			if (e->vpn == vpn && e->page_shift == sh && e->tag == tag &&
			    ((e->perms & VL_PERM_G) || e->pcid == pcid) && (!best || e < best))
				best = e;
		}
		if (best && t->sets != 1)
			return best;   /* set-associative: the first size with a match */
	}
	return best;
}

/* Fully associative and full: the least recently used entry, through the
 * stamp-sorted snapshot (mem.h), rebuilt when no entry of it is unchanged. */
static int snap_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}
static unsigned tlb_lru_full(struct vl_tlb *t)
{
	for (;;) {
		for (; t->snap_pos < t->snap_n; t->snap_pos++) {
			uint32_t k = t->snap[t->snap_pos];
			if (t->e[k].id && t->e[k].lru == t->snap_lru[t->snap_pos])
				return k;
		}
		/* (stamp, way) pairs sorted by stamp: stamps of valid entries are
		 * distinct and below 2^56 in any run, the way fits the low byte */
		uint64_t *keys = t->snap_lru;
		for (unsigned w = 0; w < t->ways; w++)
			keys[w] = t->e[w].lru << 8 | w;
		qsort(keys, t->ways, sizeof(*keys), snap_cmp);
		for (unsigned w = 0; w < t->ways; w++) {
			t->snap[w] = (uint32_t)(keys[w] & 0xff);
			keys[w] >>= 8;
		}
		t->snap_pos = 0;
		t->snap_n = t->ways;
	}
}

/* vpn % sets without a 64-bit division: a mask for a power of two, else
 * the high half of vpn * floor(2^64 / sets) + 1, which is the quotient or
 * one more (vpn < 2^52), corrected once. */
static inline uint64_t tlb_set_of(const struct vl_tlb *t, uint64_t vpn)
{
	if (!t->set_magic)
		return vpn & (t->sets - 1);
	uint64_t q = (uint64_t)(((unsigned __int128)vpn * t->set_magic) >> 64);
	uint64_t r = vpn - q * t->sets;
	return (int64_t)r < 0 ? r + t->sets : r >= t->sets ? r - t->sets : r;
}

/* Insert a translation, evicting the set's least recently used entry. */
struct vl_tlb_ent *tlb_insert(struct vl_tlb *t, uint64_t va, uint64_t pa, unsigned page_shift,
			      unsigned perms, bool dirty, uint16_t tag, uint16_t pcid)
{
	uint64_t vpn = va >> page_shift;
	struct vl_tlb_ent *set, *victim;

	if (!t->sets)
		return NULL;
	set = t->e + (size_t)tlb_set_of(t, vpn) * t->ways;
	/* the first invalid way, else the least recently used (stamps of valid
	 * entries are distinct); the smallest stamp is kept in a register, not
	 * re-read through the candidate (a 72-way scan was latency-bound) */
	uint64_t best = UINT64_MAX;
	unsigned bw = 0;
	if (t->sets == 1 && t->nlive == t->ways && t->ways <= 256 && t->clock < (1ull << 56)) {
		bw = tlb_lru_full(t);
		goto found;
	}
	for (unsigned w = 0; w < t->ways; w++) {
		if (!set[w].id) {
			bw = w;
			break;
		}
		uint64_t l = set[w].lru;
		bool lt = l < best;
		best = lt ? l : best;
		bw = lt ? w : bw;
	}
found:
	victim = &set[bw];
	/* The slot's previous translation, if it is this one, keeps its stamp:
	 * soft-TLB and fetch-cache entries made for it are right again (a
	 * kernel 2M entry that every CR3 write flushes comes back to the same
	 * slot, and the soft entries of its 512 4K pages with it). */
	bool same = victim->vpn == vpn && victim->pfn == pa >> page_shift && victim->page_shift == page_shift &&
		    victim->perms == perms && victim->dirty == dirty && victim->tag == tag && victim->pcid == pcid;
	uint64_t prev = victim->id ? victim->id : victim->old_id;
	if (!victim->id)
		live_add(t, (uint32_t)(victim - t->e));
	else
		h_unlink(t, (uint32_t)(victim - t->e));
	victim->vpn = vpn;
	victim->pfn = pa >> page_shift;
	victim->page_shift = (uint8_t)page_shift;
	victim->perms = (uint8_t)perms;
	victim->dirty = dirty;
	victim->tag = tag;
	victim->pcid = pcid;
	victim->lru = ++t->clock;
	victim->id = same && prev ? prev : victim->lru;
	t->mru = victim;
	h_link(t, (uint32_t)(victim - t->e));
	return victim;
}

/* ---- Page-walk cache and nested TLB (fully associative, LRU) ----------
 * The model: a lookup returns the first valid entry in index order with the
 * key, level, root and tag (and refreshes its stamp); an insert takes the
 * first entry that matches or is invalid, else the least recently used.
 * The hash chains and the free bitmap find exactly those entries without
 * scanning (a nested walk looks up and inserts a dozen times). */
static inline uint32_t pwc_bucket(const struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ull ^ root * 0xC2B2AE3D27D4EB4Full ^
		     ((uint64_t)level << 16 | tag) * 0x165667B19E3779F9ull;
	return (uint32_t)(h >> 40) & p->hmask;
}
static inline void pwc_link(struct vl_pwc *p, uint32_t i)
{
	const struct vl_pwc_ent *e = &p->e[i];
	uint32_t b = pwc_bucket(p, e->key, e->root, e->tag, e->level), h = p->hhead[b];

	p->hnext[i] = h;
	p->hprev[i] = 0;
	if (h)
		p->hprev[h - 1] = i + 1;
	p->hhead[b] = i + 1;
	p->freebits[i / 64] &= ~(1ull << (i % 64));
}
static inline void pwc_unlink(struct vl_pwc *p, uint32_t i)
{
	const struct vl_pwc_ent *e = &p->e[i];
	uint32_t n = p->hnext[i], pr = p->hprev[i];

	if (pr)
		p->hnext[pr - 1] = n;
	else
		p->hhead[pwc_bucket(p, e->key, e->root, e->tag, e->level)] = n;
	if (n)
		p->hprev[n - 1] = pr;
	p->freebits[i / 64] |= 1ull << (i % 64);
}

/* The stamp-order list: out, and in at the tail (newest stamp). */
static inline void pwc_lru_out(struct vl_pwc *p, uint32_t i)
{
	uint32_t n = p->lnext[i], pr = p->lprev[i];

	if (pr)
		p->lnext[pr - 1] = n;
	else
		p->lhead = n;
	if (n)
		p->lprev[n - 1] = pr;
	else
		p->ltail = pr;
}
static inline void pwc_lru_in(struct vl_pwc *p, uint32_t i)
{
	p->lprev[i] = p->ltail;
	p->lnext[i] = 0;
	if (p->ltail)
		p->lnext[p->ltail - 1] = i + 1;
	else
		p->lhead = i + 1;
	p->ltail = i + 1;
}
/* A hit: the entry gets the newest stamp. */
static inline void pwc_touch(struct vl_pwc *p, struct vl_pwc_ent *e)
{
	uint32_t i = (uint32_t)(e - p->e);

	e->lru = ++p->clock;
	if (p->ltail != i + 1) {
		pwc_lru_out(p, i);
		pwc_lru_in(p, i);
	}
}

int pwc_init(struct vl_pwc *p, uint64_t entries)
{
	memset(p, 0, sizeof(*p));
	if (!entries)
		return 0;
	size_t nb = 16;
	while (nb < 2 * entries)
		nb *= 2;
	p->n = (unsigned)entries;
	p->hmask = (uint32_t)(nb - 1);
	p->e = calloc(p->n, sizeof(*p->e));
	p->hhead = calloc(nb, sizeof(*p->hhead));
	p->hnext = calloc(p->n, sizeof(*p->hnext));
	p->hprev = calloc(p->n, sizeof(*p->hprev));
	p->freebits = calloc((p->n + 63) / 64, sizeof(*p->freebits));
	p->lnext = calloc(p->n, sizeof(*p->lnext));
	p->lprev = calloc(p->n, sizeof(*p->lprev));
	if (!p->e || !p->hhead || !p->hnext || !p->hprev || !p->freebits || !p->lnext || !p->lprev)
		return -1;
	for (unsigned i = 0; i < p->n; i++)
		p->freebits[i / 64] |= 1ull << (i % 64);
	return 0;
}

void pwc_free(struct vl_pwc *p)
{
	free(p->e);
	free(p->hhead);
	free(p->hnext);
	free(p->hprev);
	free(p->freebits);
	free(p->lnext);
	free(p->lprev);
	p->e = NULL;
	p->hhead = p->hnext = p->hprev = NULL;
	p->lnext = p->lprev = NULL;
	p->freebits = NULL;
}

/* The first valid entry in index order with this key, level, root and tag. */
static inline struct vl_pwc_ent *pwc_find(struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level)
{
	struct vl_pwc_ent *best = NULL;

	for (uint32_t j = p->hhead[pwc_bucket(p, key, root, tag, level)]; j; j = p->hnext[j - 1]) {
		struct vl_pwc_ent *e = &p->e[j - 1];
		if (e->key == key && e->level == level && e->root == root && e->tag == tag && (!best || e < best))
			best = e;
	}
	return best;
}

struct vl_pwc_ent *pwc_lookup(struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level)
{
	struct vl_pwc_ent *e;

	if (!p->n || !(e = pwc_find(p, key, root, tag, level)))
		return NULL;
	pwc_touch(p, e);
	return e;
}

/* The deepest of levels 2..4 of a walk whose entry is cached, keyed by
 * va48 >> (12 + 9 * (level - 1)): what pwc_lookup for level 2, then 3,
 * then 4 returns first, with the same LRU refresh of that entry only. */
struct vl_pwc_ent *pwc_lookup_walk(struct vl_pwc *p, uint64_t va48, uint64_t root, uint16_t tag)
{
	if (!p->n)
		return NULL;
	for (unsigned l = 2; l <= 4; l++) {
		struct vl_pwc_ent *e = pwc_find(p, va48 >> (12 + 9 * (l - 1)), root, tag, l);
		if (e) {
			pwc_touch(p, e);
			return e;
		}
	}
	return NULL;
}

void pwc_insert(struct vl_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level,
		uint64_t val, unsigned perms, unsigned page_shift)
{
	struct vl_pwc_ent *v, *mt;
	unsigned bi = 0, fi = p->n;

	if (!p->n)
		return;
	/* the first entry that matches or is invalid, else the least recently
	 * used (stamps of valid entries are distinct) */
	for (unsigned w = 0; w < (p->n + 63) / 64; w++)
		if (p->freebits[w]) {
			fi = w * 64 + (unsigned)__builtin_ctzll(p->freebits[w]);
			break;
		}
	mt = pwc_find(p, key, root, tag, level);
	if (mt && (unsigned)(mt - p->e) < fi) {
		bi = (unsigned)(mt - p->e);
	} else if (fi < p->n) {
		bi = fi;
	} else {
		bi = p->lhead - 1;   /* every entry valid: the smallest stamp */
	}
	v = &p->e[bi];
	if (v->valid) {
		pwc_unlink(p, bi);
		pwc_lru_out(p, bi);
	}
	v->key = key;
	v->root = root;
	v->tag = tag;
	v->level = (uint8_t)level;
	v->val = val;
	v->perms = (uint8_t)perms;
	v->page_shift = (uint8_t)page_shift;
	v->valid = 1;
	v->lru = ++p->clock;
	pwc_link(p, bi);
	pwc_lru_in(p, bi);
}

void pwc_flush(struct vl_pwc *p, bool all_tags, uint16_t tag)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->e[i].valid && (all_tags || p->e[i].tag == tag)) {
			pwc_unlink(p, i);
			pwc_lru_out(p, i);
			p->e[i].valid = 0;
		}
}

/* ---- Flushes ----------------------------------------------------------- */
typedef bool (*tlb_pred)(const struct vl_tlb_ent *e, const void *arg);

static inline __attribute__((always_inline)) void tlb_flush_if(struct vl_tlb *t, tlb_pred pred, const void *arg)
{
	/* the valid entries only; backwards, so the swap-remove moves an entry
	 * already looked at into the hole */
	for (uint32_t k = t->nlive; k-- > 0;) {
		uint32_t i = t->live[k];
		if (pred(&t->e[i], arg)) {
			h_unlink(t, i);
			t->e[i].old_id = t->e[i].id;
			t->e[i].id = 0;   /* soft-TLB entries pointing here die with the id */
			live_del(t, i);
		}
	}
}

static inline __attribute__((always_inline)) void tlb_flush_all3(struct vl_machine *m, tlb_pred pred, const void *arg)
{
	tlb_flush_if(&m->priv->mem.itlb, pred, arg);
	tlb_flush_if(&m->priv->mem.dtlb, pred, arg);
	tlb_flush_if(&m->priv->mem.stlb, pred, arg);
}

static bool pred_all(const struct vl_tlb_ent *e, const void *arg) { return true; }

struct flush_arg { uint16_t tag, pcid; bool pcide; uint64_t va; };

static bool pred_nonglobal(const struct vl_tlb_ent *e, const void *arg)
{
	const struct flush_arg *a = arg;
	return e->tag == a->tag && !(e->perms & VL_PERM_G) && (!a->pcide || e->pcid == a->pcid);
}

static bool pred_tag(const struct vl_tlb_ent *e, const void *arg)
{
	return e->tag == ((const struct flush_arg *)arg)->tag;
}

static bool pred_va(const struct vl_tlb_ent *e, const void *arg)
{
	const struct flush_arg *a = arg;
	return e->tag == a->tag && ((e->perms & VL_PERM_G) || e->pcid == a->pcid) &&
	       e->vpn == a->va >> e->page_shift;
}

static struct flush_arg flush_cur(struct vl_machine *m)
{
	struct flush_arg a = { .tag = m->tlb_tag, .pcide = (m->cpu.cr4 & VL_CR4_PCIDE) != 0 };
	a.pcid = a.pcide ? (uint16_t)(m->cpu.cr3 & 0xfff) : 0;
	return a;
}

void vl_tlb_flush_all(struct vl_machine *m)
{
	tlb_flush_all3(m, pred_all, NULL);
	pwc_flush(&m->priv->mem.pwc, true, 0);
	pwc_flush(&m->priv->mem.ntlb, true, 0);
}

/* MOV to CR3 (without the PCID no-flush bit): non-global entries of the
 * current tag (and, with PCIDE, of the PCID now in CR3) and every
 * paging-structure-cache entry of the tag. Counts one TLB flush. */
void vl_tlb_flush_nonglobal(struct vl_machine *m)
{
	struct flush_arg a = flush_cur(m);

	tlb_flush_all3(m, pred_nonglobal, &a);
	pwc_flush(&m->priv->mem.pwc, false, a.tag);
	vl_count(m, VL_EV_TLB_FLUSHES, 1);
}

/* INVVPID single-context / ASID flush: everything of `tag`, global too,
 * and the nested TLB (combined mappings of that guest). */
void vl_tlb_flush_tag(struct vl_machine *m, uint16_t tag)
{
	struct flush_arg a = { .tag = tag };

	tlb_flush_all3(m, pred_tag, &a);
	pwc_flush(&m->priv->mem.pwc, false, tag);
	pwc_flush(&m->priv->mem.ntlb, false, tag);
}

/* INVLPG: the page's entries (any size, global too) for the current tag
 * and PCID, and all paging-structure-cache entries of the tag (the SDM
 * allows invalidating more; this is what the model does). Counts INVLPGS. */
void vl_tlb_flush_va(struct vl_machine *m, uint64_t va)
{
	struct flush_arg a = flush_cur(m);

	a.va = va;
	/* only the index chains of the page at each size: every entry pred_va
	 * matches sits on one of them */
	struct vl_tlb *ts[3] = { &m->priv->mem.itlb, &m->priv->mem.dtlb, &m->priv->mem.stlb };
	for (int n = 0; n < 3; n++) {
		struct vl_tlb *t = ts[n];
		for (unsigned k = 0; k < 3; k++) {
			if (!t->nsize[k])
				continue;
			unsigned sh = tlb_shifts[k];
			uint32_t nx;
			for (uint32_t j = t->hhead[h_bucket(t, va >> sh, k)]; j; j = nx) {
				struct vl_tlb_ent *e = &t->e[j - 1];
				nx = t->hnext[j - 1];
				if (e->page_shift == sh && pred_va(e, &a))
					tlb_kill(t, e);
			}
		}
	}
	pwc_flush(&m->priv->mem.pwc, false, a.tag);
	vl_count(m, VL_EV_INVLPGS, 1);
}
