/* test_tlb.c — the modelled TLBs: hits, misses and LRU eviction for a
 * known access pattern, the L2 TLB, global vs non-global entries on a CR3
 * reload, INVLPG, VPID/ASID and PCID tags, a write to a clean entry, and
 * the host fast path: the same access sequence with the soft TLB on and
 * off must give bit-identical counters, cycles and page-table contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

static void run_sequence(struct vl_machine *m, uint64_t seed, int n)
{
	uint64_t s = seed;

	for (int i = 0; i < n; i++) {
		uint64_t r = lcg(&s), page = r % 40, op = (r >> 8) % 1000, v = r;
		uint64_t va = page * 4096 + ((r >> 16) % 4096);
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

static void test_fastpath_exact(void **state)
{
	struct vl_machine *a = mk(16, 4, 64, 4), *b = mk(16, 4, 64, 4);

	vl_mem_set_fastpath(a, true);
	vl_mem_set_fastpath(b, false);
	run_sequence(a, 42, 200000);
	run_sequence(b, 42, 200000);
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
	assert_memory_equal(a->mem, b->mem, 4u << 20);   /* page tables (A/D) and data */
	vl_machine_free(a);
	vl_machine_free(b);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
