/* test_tlb.c — the modelled TLBs: hits, misses and LRU eviction for a
 * known access pattern, the L2 TLB, global vs non-global entries on a CR3
 * reload, INVLPG, VPID/ASID and PCID tags, a write to a clean entry, and
 * the host fast path: the same access sequence with the soft TLB on and
 * off must give bit-identical counters, cycles and page-table contents;
 * the host-side lookup index against the scan that defines the lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/test_profile.h"

#define PML4 0x10000ull
#define PDPT 0x11000ull
#define PD   0x12000ull
#define PT   0x13000ull
#define DATA 0x100000ull         /* page i at va i*4K maps DATA + i*4K */

static struct vl_profile prof;

/* Identity-ish map: va [0, 2 MiB) -> DATA + va with flags per page. */
static struct vl_machine *mk(uint64_t l1d, uint64_t l1d_ways, uint64_t l2, uint64_t l2_ways)
{
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 16, .monitor_mb = 2 };
	char err[200];
	struct vl_machine *m;

	vl_test_profile(&prof);
	prof.tlb_l1d_entries = l1d;
	prof.tlb_l1d_ways = l1d_ways;
	prof.tlb_l2_entries = l2;
	prof.tlb_l2_ways = l2_ways;
	m = vl_machine_new(&cfg, err, sizeof(err));
	assert_non_null(m);
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG | VL_CR0_WP;
	m->cpu.cr4 = VL_CR4_PAE | VL_CR4_PGE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;
	m->cpu.cr3 = PML4;
	vl_phys_write64(m, PML4, PDPT | 7);
	vl_phys_write64(m, PDPT, PD | 7);
	vl_phys_write64(m, PD, PT | 7);
	for (uint64_t i = 0; i < 512; i++)
		vl_phys_write64(m, PT + i * 8, (DATA + i * 4096) | 7);
	/* va 2 MiB: one 2M page */
	vl_phys_write64(m, PD + 8, 0x400000 | 0x87);
	return m;
}

static void rd(struct vl_machine *m, uint64_t page)
{
	uint64_t v;
	assert_int_equal(vl_mem_read(m, page * 4096 + 8, &v, 8, 0), 0);
}

#define EV(m, e) ((m)->ctr->events[VL_EV_##e])

static void test_pattern_lru(void **state)
{
	/* 8 entries, 2-way: 4 sets; page p goes to set p % 4. No L2. */
	struct vl_machine *m = mk(8, 2, 0, 0);

	for (int p = 0; p < 8; p++)
		rd(m, p);
	assert_int_equal(EV(m, DTLB_MISSES), 8);
	assert_int_equal(EV(m, TLB_MISSES), 8);
	assert_int_equal(EV(m, DTLB_HITS), 0);
	assert_int_equal(EV(m, WALK_REFS), 4 + 7 * 1);   /* PWC holds the PDE after the first walk */
	for (int p = 0; p < 8; p++)
		rd(m, p);
	assert_int_equal(EV(m, DTLB_HITS), 8);
	/* Page 8 maps to set 0 {0, 4}: LRU is page 0. */
	rd(m, 8);
	rd(m, 4);
	assert_int_equal(EV(m, DTLB_HITS), 9);
	rd(m, 0);
	assert_int_equal(EV(m, DTLB_MISSES), 10);
	/* Now set 0 holds {8? no: 4, 0}: 8 was LRU after touching 4. */
	rd(m, 4);
	assert_int_equal(EV(m, DTLB_HITS), 10);
	rd(m, 8);
	assert_int_equal(EV(m, DTLB_MISSES), 11);
	vl_machine_free(m);
}

static void test_l2_hit(void **state)
{
	struct vl_machine *m = mk(8, 2, 32, 4);
	uint64_t walk0;

	for (int p = 0; p < 8; p++)
		rd(m, p);
	rd(m, 8);                    /* evicts page 0 from L1, not from L2 */
	walk0 = m->ctr->cycles[VL_CAT_WALK];
	rd(m, 0);
	assert_int_equal(EV(m, DTLB_MISSES), 10);
	assert_int_equal(EV(m, STLB_HITS), 1);
	assert_int_equal(EV(m, TLB_MISSES), 9);
	assert_int_equal(m->ctr->cycles[VL_CAT_WALK] - walk0, prof.tlb_l2_hit);
	vl_machine_free(m);
}

static void test_global_cr3(void **state)
{
	struct vl_machine *m = mk(64, 4, 0, 0);

	vl_phys_write64(m, PT + 1 * 8, (DATA + 4096) | 7 | 0x100);   /* page 1 global */
	rd(m, 1);
	rd(m, 2);
	vl_tlb_flush_nonglobal(m);
	assert_int_equal(EV(m, TLB_FLUSHES), 1);
	rd(m, 1);
	assert_int_equal(EV(m, DTLB_HITS), 1);
	rd(m, 2);
	assert_int_equal(EV(m, DTLB_MISSES), 3);
	/* G is honoured only with CR4.PGE */
	m->cpu.cr4 &= ~VL_CR4_PGE;
	vl_tlb_flush_all(m);
	rd(m, 1);
	vl_tlb_flush_nonglobal(m);
	rd(m, 1);
	assert_int_equal(EV(m, DTLB_MISSES), 5);
	vl_machine_free(m);
}

static void test_invlpg(void **state)
{
	struct vl_machine *m = mk(64, 4, 64, 4);
	uint64_t v;

	rd(m, 1);
	rd(m, 2);
	vl_tlb_flush_va(m, 1 * 4096 + 123);
	assert_int_equal(EV(m, INVLPGS), 1);
	rd(m, 2);
	assert_int_equal(EV(m, DTLB_HITS), 1);
	rd(m, 1);
	assert_int_equal(EV(m, TLB_MISSES), 3);   /* gone from L2 too */
	/* A 2M entry is invalidated through any address inside it. */
	assert_int_equal(vl_mem_read(m, 0x200000, &v, 8, 0), 0);
	assert_int_equal(vl_mem_read(m, 0x3ff000, &v, 8, 0), 0);
	assert_int_equal(EV(m, DTLB_HITS), 2);
	vl_tlb_flush_va(m, 0x250000);
	assert_int_equal(vl_mem_read(m, 0x200000, &v, 8, 0), 0);
	assert_int_equal(EV(m, TLB_MISSES), 5);
	vl_machine_free(m);
}

static void test_tags_pcid(void **state)
{
	struct vl_machine *m = mk(64, 4, 64, 4);

	m->tlb_tag = 1;
	rd(m, 3);
	m->tlb_tag = 2;
	rd(m, 3);
	assert_int_equal(EV(m, TLB_MISSES), 2);
	m->tlb_tag = 1;
	rd(m, 3);
	assert_int_equal(EV(m, DTLB_HITS), 1);
	vl_tlb_flush_tag(m, 1);
	rd(m, 3);
	assert_int_equal(EV(m, TLB_MISSES), 3);
	m->tlb_tag = 2;
	rd(m, 3);                                 /* tag 2 survived */
	assert_int_equal(EV(m, DTLB_HITS), 2);

	/* PCID: entries of PCID 1 survive a switch to PCID 2 and back. */
	m->tlb_tag = 0;
	m->cpu.cr4 |= VL_CR4_PCIDE;
	m->cpu.cr3 = PML4 | 1;
	rd(m, 5);
	m->cpu.cr3 = PML4 | 2;
	rd(m, 5);
	assert_int_equal(EV(m, TLB_MISSES), 5);
	m->cpu.cr3 = PML4 | 1;
	rd(m, 5);
	assert_int_equal(EV(m, DTLB_HITS), 3);
	vl_tlb_flush_nonglobal(m);                /* PCID 1 only */
	m->cpu.cr3 = PML4 | 2;
	rd(m, 5);
	assert_int_equal(EV(m, DTLB_HITS), 4);
	vl_machine_free(m);
}

/* A write through an entry filled by a read of a clean page must set D. */
static void test_write_sets_dirty(void **state)
{
	struct vl_machine *m = mk(64, 4, 64, 4);
	uint64_t v = 1;

	rd(m, 7);
	assert_false(vl_phys_read64(m, PT + 7 * 8) & 0x40);
	assert_int_equal(vl_mem_write(m, 7 * 4096, &v, 8, 0), 0);
	assert_true(vl_phys_read64(m, PT + 7 * 8) & 0x40);
	assert_int_equal(vl_phys_read64(m, DATA + 7 * 4096), 1);
	/* A later write hits. */
	assert_int_equal(vl_mem_write(m, 7 * 4096 + 8, &v, 8, 0), 0);
	assert_int_equal(EV(m, DTLB_HITS), 1);
	vl_machine_free(m);
}

/* Page-crossing accesses touch both pages; a faulting second page leaves
 * memory unchanged for writes. */
static void test_page_crossing(void **state)
{
	struct vl_machine *m = mk(64, 4, 64, 4);
	uint64_t v = 0x1122334455667788ull, r = 0;

	assert_int_equal(vl_mem_write(m, 2 * 4096 - 4, &v, 8, 0), 0);
	assert_int_equal(vl_mem_read(m, 2 * 4096 - 4, &r, 8, 0), 0);
	assert_int_equal(r, v);
	assert_int_equal(vl_phys_read64(m, DATA + 2 * 4096 - 8) >> 32, 0x55667788);
	vl_phys_write64(m, PT + 11 * 8, 0);       /* page 11 not present */
	vl_phys_write64(m, DATA + 11 * 4096 - 8, 0);
	assert_int_equal(vl_mem_write(m, 11 * 4096 - 4, &v, 8, 0), -1);
	assert_int_equal(m->priv->fault.cr2, 11 * 4096);
	assert_int_equal(vl_phys_read64(m, DATA + 11 * 4096 - 8), 0);
	vl_machine_free(m);
}

/* ---- Fast path equivalence ---------------------------------------------- */
static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* big: a fifth of the accesses go to the 2M page at va 2 MiB (one entry
 * for 512 soft-TLB pages), and CR3 reloads flush it with the rest. */
static void run_sequence(struct vl_machine *m, uint64_t seed, int n, bool big)
{
	uint64_t s = seed;

	for (int i = 0; i < n; i++) {
		uint64_t r = lcg(&s), page = r % 40, op = (r >> 8) % 1000, v = r;
		uint64_t va = page * 4096 + ((r >> 16) % 4096);
		if (big && (r >> 30) % 5 == 0)
			va = 0x200000 + ((r >> 3) % 0x200000);
		if (big && op >= 870 && op < 874)
			m->cpu.cr4 &= ~VL_CR4_PGE;   /* the reload below flushes every entry */
		uint8_t buf[8];
		unsigned user = ((r >> 29) & 3) == 0 ? VL_ACC_USER : 0;
		size_t len = 1 + (r >> 20) % 8;

		if (op < 400)
			vl_mem_read(m, va, buf, len, user);
		else if (op < 600)
			vl_mem_write(m, va, &v, len, user);
		else if (op < 850)
			vl_mem_fetch(m, va, buf, len, user);
		else if (op < 870)
			vl_tlb_flush_va(m, va);
		else if (op < 874)
			vl_tlb_flush_nonglobal(m);
		else if (op < 884)
			m->cpu.cr0 ^= VL_CR0_WP;
		else if (op < 894)
			m->tlb_tag = (uint16_t)((r >> 20) % 3);
		else if (op < 940) {   /* change a PTE's permissions and INVLPG it (like a kernel) */
			uint64_t p = (r >> 12) % 40;
			vl_phys_write64(m, PT + p * 8, (DATA + p * 4096) | (5 | ((r >> 24) & 2) | ((r >> 27) & 1) << 8) |
				   ((uint64_t)(((r >> 28) & 7) == 0) << 63));
			if ((r >> 25) & 3)
				vl_tlb_flush_va(m, p * 4096);   /* sometimes stale, as a sloppy kernel */
		} else if (op < 943)
			m->cpu.efer ^= VL_EFER_NXE;
		else if (op < 944)
			vl_tlb_flush_all(m);
		else if (op < 950) {
			m->cpu.cr4 ^= VL_CR4_PCIDE;
			m->cpu.cr3 = PML4 | ((m->cpu.cr4 & VL_CR4_PCIDE) ? (r >> 14) % 3 : 0);
		} else
			vl_mem_read(m, va, buf, len, 0);
	}
}

static void fastpath_exact(uint64_t l1, uint64_t l1w, uint64_t l2, uint64_t l2w, bool big)
{
	struct vl_machine *a = mk(l1, l1w, l2, l2w), *b = mk(l1, l1w, l2, l2w);

	vl_mem_set_fastpath(a, true);
	vl_mem_set_fastpath(b, false);
	run_sequence(a, 42, 200000, big);
	run_sequence(b, 42, 200000, big);
	print_message("dtlb %llu itlb %llu miss %llu\n", (unsigned long long)a->ctr->events[VL_EV_DTLB_HITS], (unsigned long long)a->ctr->events[VL_EV_ITLB_HITS], (unsigned long long)a->ctr->events[VL_EV_TLB_MISSES]);
	assert_true(a->ctr->events[VL_EV_DTLB_HITS] > 10000);
	assert_true(a->ctr->events[VL_EV_ITLB_HITS] > 10000);
	assert_true(a->ctr->events[VL_EV_TLB_MISSES] > 1000);
	for (int i = 0; i < VL_EV_COUNT; i++)
		if (a->ctr->events[i] != b->ctr->events[i])
			fail_msg("%s: fast %llu slow %llu", vl_event_name[i],
				 (unsigned long long)a->ctr->events[i], (unsigned long long)b->ctr->events[i]);
	assert_memory_equal(a->ctr, b->ctr, sizeof(*a->ctr));
	assert_int_equal(a->tsc, b->tsc);
	assert_memory_equal(a->mem, b->mem, 8u << 20);   /* page tables (A/D) and data */
	vl_machine_free(a);
	vl_machine_free(b);
}

static void test_fastpath_exact(void **state)
{
	fastpath_exact(16, 4, 64, 4, false);
}

/* Fully associative L1 (as Zen 4's), a 2M page and full flushes: soft-TLB
 * entries of the 2M entry's pages are revalidated when it is refilled into
 * the same slot (tlb_insert keeps the stamp of an identical translation). */
static void test_fastpath_exact_big(void **state)
{
	fastpath_exact(64, 64, 0, 0, true);
	fastpath_exact(8, 8, 64, 8, true);
}

/* ---- The lookup index against the modelled scan ------------------------ */
/* The modelled lookup written out as the scan of the ways it is defined by
 * (tlb.c): fully associative, one pass over every way, any page size;
 * set-associative, 4K then 2M then 1G, each in its own set; first way wins. */
static struct vl_tlb_ent *scan_lookup(struct vl_tlb *t, uint64_t va, uint16_t tag, uint16_t pcid)
{
	static const unsigned sh[3] = { 12, 21, 30 };

	if (!t->sets)
		return NULL;
	for (int k = 0; k < 3; k++) {
		struct vl_tlb_ent *set = t->e + (t->sets == 1 ? 0 : (size_t)((va >> sh[k]) % t->sets) * t->ways);
		for (unsigned w = 0; w < t->ways; w++) {
			struct vl_tlb_ent *e = &set[w];
			if (e->id && e->vpn == va >> e->page_shift && (t->sets == 1 || e->page_shift == sh[k]) &&
			    e->tag == tag && ((e->perms & VL_PERM_G) || e->pcid == pcid))
				return e;
		}
		if (t->sets == 1)
			return NULL;
	}
	return NULL;
}

/* What a slot held under each stamp it ever had: a stamp must never come
 * back with a different translation (soft-TLB and fetch-cache entries
 * trust the stamp). */
struct stamp_rec { uint64_t id, vpn, pfn; uint16_t tag, pcid; uint8_t sh, perms, dirty; };
static struct stamp_rec *stamps[2][8192];
static size_t nstamps[2][8192];

static void stamp_check(int n, struct vl_tlb *t, struct vl_tlb_ent *e)
{
	struct stamp_rec **stamp = stamps[n];
	size_t *nstamp = nstamps[n];
	size_t slot = (size_t)(e - t->e);
	struct stamp_rec r = { e->id, e->vpn, e->pfn, e->tag, e->pcid, e->page_shift, e->perms, e->dirty };

	assert_true(slot < 8192);
	for (size_t i = 0; i < nstamp[slot]; i++)
		if (stamp[slot][i].id == r.id) {
			assert_true(stamp[slot][i].vpn == r.vpn && stamp[slot][i].pfn == r.pfn &&
				    stamp[slot][i].tag == r.tag && stamp[slot][i].pcid == r.pcid &&
				    stamp[slot][i].sh == r.sh && stamp[slot][i].perms == r.perms &&
				    stamp[slot][i].dirty == r.dirty);
			return;
		}
	stamp[slot] = realloc(stamp[slot], (nstamp[slot] + 1) * sizeof(r));
	assert_non_null(stamp[slot]);
	stamp[slot][nstamp[slot]++] = r;
}

/* Random inserts (three page sizes over a few overlapping addresses, two
 * tags, three PCIDs, global or not: duplicates on purpose), kills and every
 * flush; after each step the index answers as the scan does for many
 * probes, and no stamp is reused for another translation. */
static void index_random(uint64_t l1, uint64_t l1w, uint64_t l2, uint64_t l2w, uint64_t seed)
{
	static const unsigned sh[3] = { 12, 21, 30 };
	struct vl_machine *m = mk(l1, l1w, l2, l2w);
	struct vl_tlb *ts[2] = { &m->priv->mem.dtlb, &m->priv->mem.stlb };
	uint64_t s = seed, probes = 0, hits = 0;

	memset(nstamps, 0, sizeof(nstamps));
	for (int i = 0; i < 20000; i++) {
		uint64_t r = lcg(&s), r2 = lcg(&s);
		int tn = (int)((r >> 3) & 1);
		uint64_t va = ((r >> 4) % 6) << 12 | ((r >> 7) % 3) << 21 | ((r >> 9) % 2) << 30 | (r2 & 0xfff);
		uint16_t tag = (uint16_t)((r >> 10) % 2), pcid = (uint16_t)((r >> 11) % 3);
		unsigned op = (unsigned)((r >> 13) % 100);
		if ((r2 >> 20) % 4 == 0)
			va |= 0xffffff8000000000ull;   /* kernel half: large page numbers (set index) */

		if (!ts[tn]->sets)
			tn = 0;
		struct vl_tlb *t = ts[tn];
		if (op < 55) {
			unsigned k = (unsigned)((r >> 20) % 3);
			unsigned perms = (unsigned)((r >> 22) & 0xf) | VL_PERM_R;
			/* the victim as defined: the set's first invalid way, else its
			 * least recently used entry */
			struct vl_tlb_ent *set = t->e + (size_t)((va >> sh[k]) % t->sets) * t->ways, *want = &set[0];
			for (unsigned w = 0; w < t->ways; w++) {
				if (!set[w].id) {
					want = &set[w];
					break;
				}
				if (set[w].lru < want->lru)
					want = &set[w];
			}
			struct vl_tlb_ent *e = tlb_insert(t, va, ((r2 >> 12) % 4) << 30, sh[k], perms, (r >> 26) & 1, tag, pcid);
			assert_ptr_equal(e, want);
			stamp_check(tn, t, e);
			if ((r >> 30) & 1)   /* touch some entries, as hits do */
				for (int q = 0; q < 3; q++) {
					struct vl_tlb_ent *h = &t->e[lcg(&s) % ((size_t)t->sets * t->ways)];
					if (h->id)
						tlb_touch(t, h);
				}
		} else if (op < 70) {
			struct vl_tlb_ent *e = tlb_lookup(t, va, tag, pcid);
			if (e)
				tlb_kill(t, e);
		} else if (op < 80) {
			m->tlb_tag = tag;
			m->cpu.cr4 = (r >> 27) & 1 ? (m->cpu.cr4 | VL_CR4_PCIDE) : (m->cpu.cr4 & ~VL_CR4_PCIDE);
			m->cpu.cr3 = PML4 | pcid;
			vl_tlb_flush_va(m, va);
		} else if (op < 82) {
			m->tlb_tag = tag;
			vl_tlb_flush_nonglobal(m);
		} else if (op < 83) {
			vl_tlb_flush_tag(m, tag);
		} else if (op == 83 && (r >> 28) % 4 == 0) {
			vl_tlb_flush_all(m);
		}
		for (int p = 0; p < 8; p++) {
			uint64_t q = lcg(&s);
			uint64_t pva = ((q >> 4) % 6) << 12 | ((q >> 7) % 3) << 21 | ((q >> 9) % 2) << 30 | (q & 0xfff);
			uint16_t ptag = (uint16_t)((q >> 10) % 2), ppcid = (uint16_t)((q >> 11) % 3);
			if ((q >> 40) % 4 == 0)
				pva |= 0xffffff8000000000ull;
			for (int n = 0; n < 2; n++) {
				struct vl_tlb_ent *want = scan_lookup(ts[n], pva, ptag, ppcid);
				assert_ptr_equal(tlb_lookup(ts[n], pva, ptag, ppcid), want);
				probes++;
				hits += want != NULL;
			}
		}
	}
	assert_true(hits > probes / 10 && hits < probes - probes / 10);   /* both outcomes exercised */
	for (size_t i = 0; i < 2 * 8192; i++) {
		free(stamps[i / 8192][i % 8192]);
		stamps[i / 8192][i % 8192] = NULL;
	}
	vl_machine_free(m);
}

static void test_index_matches_scan(void **state)
{
	index_random(16, 16, 0, 0, 6);        /* fully associative, often full: the LRU snapshot */
	index_random(64, 64, 0, 0, 1);        /* fully associative L1, no L2 (P4) */
	index_random(72, 72, 3072, 8, 2);     /* Zen 4 */
	index_random(64, 4, 1536, 12, 3);     /* Skylake-SP */
	index_random(8, 2, 16, 16, 4);        /* tiny: constant eviction */
	index_random(6, 3, 12, 4, 5);
}

/* ---- Page-walk cache / nested TLB against the linear model ------------- */
/* The structure as defined (tlb.c): lookup = first valid match in index
 * order, refreshed; insert = first entry that matches or is invalid, else
 * the least recently used; flush = by tag or all. */
struct ref_pwc { struct vl_pwc_ent e[64]; unsigned n; uint64_t clock; };

static int ref_lookup(struct ref_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->e[i].valid && p->e[i].key == key && p->e[i].level == level && p->e[i].root == root &&
		    p->e[i].tag == tag) {
			p->e[i].lru = ++p->clock;
			return (int)i;
		}
	return -1;
}

static void ref_insert(struct ref_pwc *p, uint64_t key, uint64_t root, uint16_t tag, unsigned level, uint64_t val)
{
	struct vl_pwc_ent *v = &p->e[0];
	for (unsigned i = 0; i < p->n; i++) {
		struct vl_pwc_ent *e = &p->e[i];
		if (!e->valid || (e->key == key && e->level == level && e->root == root && e->tag == tag)) {
			v = e;
			break;
		}
		if (e->lru < v->lru)
			v = e;
	}
	*v = (struct vl_pwc_ent){ .key = key, .root = root, .tag = tag, .level = (uint8_t)level, .val = val,
				  .valid = 1, .lru = ++p->clock };
}

static void pwc_random(unsigned n, uint64_t seed)
{
	struct vl_pwc p;
	struct ref_pwc r = { .n = n };
	uint64_t s = seed, hits = 0;

	assert_int_equal(pwc_init(&p, n), 0);
	for (int i = 0; i < 50000; i++) {
		uint64_t x = lcg(&s);
		uint64_t key = (x >> 4) % 8, root = 0x1000 * ((x >> 10) % 2);
		uint16_t tag = (uint16_t)((x >> 12) % 2);
		unsigned level = 2 + (unsigned)((x >> 14) % 3), op = (unsigned)((x >> 20) % 100);
		if (op < 45) {
			struct vl_pwc_ent *e = pwc_lookup(&p, key, root, tag, level);
			int want = ref_lookup(&r, key, root, tag, level);
			assert_int_equal(e ? (int)(e - p.e) : -1, want);
			hits += want >= 0;
		} else if (op < 60) {
			uint64_t va48 = x & ((1ull << 48) - 1);
			struct vl_pwc_ent *e = pwc_lookup_walk(&p, va48, root, tag);
			int want = -1;
			for (unsigned l = 2; l <= 4 && want < 0; l++)
				want = ref_lookup(&r, va48 >> (12 + 9 * (l - 1)), root, tag, l);
			assert_int_equal(e ? (int)(e - p.e) : -1, want);
		} else if (op < 97) {
			pwc_insert(&p, key, root, tag, level, x, 0, 0);
			ref_insert(&r, key, root, tag, level, x);
		} else {
			bool all = op == 99;
			pwc_flush(&p, all, tag);
			for (unsigned k = 0; k < n; k++)
				if (all || r.e[k].tag == tag)
					r.e[k].valid = 0;
		}
		for (unsigned k = 0; k < n; k++) {
			assert_int_equal(p.e[k].valid, r.e[k].valid);
			if (r.e[k].valid)
				assert_true(p.e[k].key == r.e[k].key && p.e[k].lru == r.e[k].lru && p.e[k].val == r.e[k].val);
		}
	}
	assert_true(n == 1 || hits > 1000);   /* both outcomes exercised */
	pwc_free(&p);
}

static void test_pwc_matches_model(void **state)
{
	pwc_random(24, 7);   /* the profiles' PWC */
	pwc_random(16, 8);   /* nested TLB */
	pwc_random(1, 9);
	pwc_random(64, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_lru),
		cmocka_unit_test(test_l2_hit),
		cmocka_unit_test(test_global_cr3),
		cmocka_unit_test(test_invlpg),
		cmocka_unit_test(test_tags_pcid),
		cmocka_unit_test(test_write_sets_dirty),
		cmocka_unit_test(test_page_crossing),
		cmocka_unit_test(test_fastpath_exact),
		cmocka_unit_test(test_fastpath_exact_big),
		cmocka_unit_test(test_index_matches_scan),
		cmocka_unit_test(test_pwc_matches_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
