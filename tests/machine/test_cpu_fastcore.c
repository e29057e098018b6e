/* test_cpu_fastcore.c — the fast execution core gives the reference core's
 * results where the two could part ways (tests/machine/progs/fastcore.S and
 * limits.S): self-modifying code in a tight loop, code whose mapping
 * changes (PTE without and with INVLPG, MOV CR3, a CR3 switch), a
 * page-crossing instruction, interrupts landing in the middle of chains of
 * register-only instructions, REP string instructions interrupted by the
 * timer, wild jumps into random bytes, every micro-op form of the decoded
 * blocks (exec_block.c) under the timer. Each scenario runs once per core;
 * compared: every counter of every region, TSC, retired instructions, the
 * registers, RIP, RFLAGS, the machine state and all of guest memory. Then
 * what each scenario must have computed. Bad input: a jump to every byte of
 * a page and code on a thousand frames keep the decode cache and the block
 * cache bounded, with counted flushes, and still give the reference
 * results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/guest_prog.h"
#include "../support/test_profile.h"

#define PROG "fastcore"

static struct vl_profile prof;

struct out {
	struct vl_machine *m;
	enum vl_mstate st;
};

static struct vl_machine *boot(const char *prog, const char *cmd, bool ref, uint64_t cap)
{
	vl_test_profile(&prof);
	struct vl_machine *m = gp_boot(&prof, prog, cmd, 16);
	assert_non_null(m);
	vl_cpu_set_core(m, ref);
	if (cap)
		vl_cpu_set_dcache_cap(m, cap);
	m->max_insns = 5000000;
	m->priv->cpu.rep_chunk = 100;   /* REP slices of 100 iterations: the timer lands inside them often */
	return m;
}

/* Run `cmd` of `prog` on both cores; fail at the first difference. The
 * fast machine is returned in *fast (the caller frees it). */
static void both(const char *prog, const char *cmd, uint64_t cap, struct vl_machine **fast)
{
	struct vl_machine *a = boot(prog, cmd, false, cap), *b = boot(prog, cmd, true, cap);
	enum vl_mstate sa = vl_machine_run(a), sb = vl_machine_run(b);
	assert_false(vl_cpu_core_ref(a));
	assert_true(vl_cpu_core_ref(b));
	if (sa != sb || strcmp(a->diag, b->diag))
		fail_msg("%s %s: state %d (%s) vs %d (%s)", prog, cmd, sa, a->diag, sb, b->diag);
	for (int r = 0; r < VL_MAX_REGIONS; r++) {
		for (int c = 0; c < VL_CAT_COUNT; c++)
			if (a->region[r].cycles[c] != b->region[r].cycles[c])
				fail_msg("%s %s: region %d cycles.%s %llu (fast) vs %llu (ref)", prog, cmd, r, vl_cat_name[c],
					 (unsigned long long)a->region[r].cycles[c], (unsigned long long)b->region[r].cycles[c]);
		for (int e = 0; e < VL_EV_COUNT; e++)
			if (a->region[r].events[e] != b->region[r].events[e])
				fail_msg("%s %s: region %d %s %llu (fast) vs %llu (ref)", prog, cmd, r, vl_event_name[e],
					 (unsigned long long)a->region[r].events[e], (unsigned long long)b->region[r].events[e]);
	}
	assert_memory_equal(a->region, b->region, sizeof a->region);
	assert_int_equal(a->tsc, b->tsc);
	assert_int_equal(a->insns, b->insns);
	assert_memory_equal(a->cpu.gpr, b->cpu.gpr, sizeof a->cpu.gpr);
	assert_int_equal(a->cpu.rip, b->cpu.rip);
	assert_int_equal(a->cpu.rflags, b->cpu.rflags);
	assert_int_equal(a->cpu.cr3, b->cpu.cr3);
	assert_int_equal(a->cpu.cpl, b->cpu.cpl);
	assert_int_equal(a->mem_size, b->mem_size);
	if (memcmp(a->mem, b->mem, a->mem_size)) {
		uint64_t k = 0;
		while (a->mem[k] == b->mem[k])
			k++;
		fail_msg("%s %s: guest memory differs first at %#llx", prog, cmd, (unsigned long long)k);
	}
	assert_true(a->insns > 1000);
	vl_machine_free(b);
	*fast = a;
}

static uint64_t R(struct vl_machine *m, unsigned k) { return gp_res(m, PROG, k); }

static void test_smc_loop(void **state)
{
	struct vl_machine *m;
	both(PROG, "1", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	/* each iteration adds 1 and the immediate it wrote just before: i & 0x7f */
	uint64_t want = 0;
	for (unsigned i = 0; i < 3000; i++)
		want += 1 + (i & 0x7f);
	assert_int_equal(R(m, 0), want);
	assert_int_equal(R(m, 1), 3000);
	vl_machine_free(m);
}

static void test_remap(void **state)
{
	struct vl_machine *m;
	both(PROG, "2", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	assert_int_equal(R(m, 0), 1);
	assert_int_equal(R(m, 1), 1);   /* PTE changed, no INVLPG: the ITLB entry still maps frame A */
	assert_int_equal(R(m, 2), 2);   /* INVLPG */
	assert_int_equal(R(m, 3), 1);   /* back to A, MOV CR3 */
	assert_int_equal(R(m, 4), 2);   /* the other address space */
	assert_int_equal(R(m, 5), 1);
	vl_machine_free(m);
}

/* The interrupted RIPs the handler logged (the first 256). */
static unsigned rips(struct vl_machine *m, uint64_t *out, uint64_t *rcx)
{
	uint64_t n = gp_rd64(m, gp_sym(PROG, "n_tick"));
	unsigned k = n < 256 ? (unsigned)n : 256;
	for (unsigned i = 0; i < k; i++) {
		out[i] = gp_rd64(m, gp_sym(PROG, "rips") + 8 * i);
		rcx[i] = gp_rd64(m, gp_sym(PROG, "rcxs") + 8 * i);
	}
	return k;
}

static void test_intr_mid_chain(void **state)
{
	struct vl_machine *m;
	both(PROG, "3", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	uint64_t r[256], c[256];
	unsigned n = rips(m, r, c);
	assert_true(R(m, 0) >= 20);   /* the timer really fired during the code */
	/* interrupts landed inside the straight-line block, at many places */
	uint64_t lo = gp_sym(PROG, "straight"), hi = gp_sym(PROG, "strings");
	unsigned inside = 0;
	for (unsigned i = 0; i < n; i++)
		inside += r[i] > lo + 40 && r[i] < hi;
	assert_true(inside >= 10);
	vl_machine_free(m);
}

static void test_rep_interrupted(void **state)
{
	struct vl_machine *m;
	both(PROG, "4", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	uint64_t r[256], c[256];
	unsigned n = rips(m, r, c), on_rep = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t b[2];
		memcpy(b, m->mem + r[i], 2);
		/* on a REP/REPNE prefix with the count part-way: interrupted between iterations */
		if ((b[0] == 0xf3 || b[0] == 0xf2) && c[i] > 0 && c[i] < 16384)
			on_rep++;
	}
	assert_true(on_rep >= 20);
	/* REPNE SCASB stopped after the first 0xff byte of SRC (at 9000 at the latest) */
	uint64_t k = 0;
	while (m->mem[0xa00000 + k] != 0xff)
		k++;
	assert_true(k <= 9000);
	assert_int_equal(R(m, 2), 16384 - (k + 1));
	vl_machine_free(m);
}

static void test_every_byte_bounded(void **state)
{
	struct vl_machine *m;
	uint64_t pages, flushes;
	/* a small cap: the thousand frames of code must flush it, counted */
	both(PROG, "5", 64, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	assert_int_equal(R(m, 0), 4096 + 1024);
	vl_cpu_dcache_stats(m, &pages, &flushes);
	assert_true(pages <= 64);
	assert_true(flushes >= 1024 / 64);
	vl_machine_free(m);
	/* default cap: bounded too (1024 pages); the counts do not depend on it */
	struct vl_machine *a = boot(PROG, "5", false, 0), *b = boot(PROG, "5", false, 3);
	assert_int_equal(vl_machine_run(a), VL_M_EXITED);
	assert_int_equal(vl_machine_run(b), VL_M_EXITED);
	vl_cpu_dcache_stats(a, &pages, &flushes);
	assert_true(pages <= 1024);
	assert_memory_equal(a->region, b->region, sizeof a->region);
	assert_int_equal(a->tsc, b->tsc);
	/* the decoded blocks are bounded on their own: 4096 + 1024 one-RET
	 * blocks through a cache of 16 flush it, counted, same counts */
	struct vl_machine *c = boot(PROG, "5", false, 0);
	vl_cpu_set_block_cap(c, 16);
	assert_int_equal(vl_machine_run(c), VL_M_EXITED);
	uint64_t built, bflushes;
	vl_cpu_block_stats(c, &built, &bflushes);
	assert_true(built >= 4096);
	assert_true(bflushes >= 4096 / 16);
	assert_memory_equal(a->region, c->region, sizeof a->region);
	assert_int_equal(a->tsc, c->tsc);
	assert_memory_equal(a->mem, c->mem, a->mem_size);
	vl_machine_free(a);
	vl_machine_free(b);
	vl_machine_free(c);
}

static void test_page_crossing(void **state)
{
	struct vl_machine *m;
	both(PROG, "6", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	assert_int_equal(R(m, 0), 50 * 0x33);
	assert_int_equal(R(m, 1), 0x233);
	vl_machine_free(m);
}

/* limits.S: self-modifying code of every kind (7) and wild jumps into
 * random bytes at CPL 0, without an IDT and at CPL 3 (4-6). */
/* 7: every form exec_block.c runs as a micro-op, interrupted by the timer */
static void test_block_forms(void **state)
{
	struct vl_machine *m;
	both(PROG, "7", 0, &m);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0);
	assert_true(R(m, 0) >= 20);   /* the timer really fired during the loop */
	uint64_t r[256], c[256];
	unsigned n = rips(m, r, c), inside = 0;
	uint64_t lo = gp_sym(PROG, "forms"), hi = gp_sym(PROG, "ffunc");
	for (unsigned i = 0; i < n; i++)
		inside += r[i] > lo + 40 && r[i] < hi;
	assert_true(inside >= 10);
	uint64_t built, flushes;
	vl_cpu_block_stats(m, &built, &flushes);
	assert_true(built >= 5);   /* the fast core really ran them as blocks */
	vl_machine_free(m);
}

static void test_limits_scenarios(void **state)
{
	static const char *const cmds[] = { "7", "4", "5", "6" };
	for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
		struct vl_machine *a = boot("limits", cmds[k], false, 0), *b = boot("limits", cmds[k], true, 0);
		/* the wild page: the same pseudo-random bytes for both */
		uint64_t x = 0x9e3779b97f4a7c15ull;
		for (uint64_t pa = 0x600000; pa < 0x800000; pa++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			a->mem[pa] = b->mem[pa] = (uint8_t)x;
		}
		a->max_insns = b->max_insns = 300000;
		enum vl_mstate sa = vl_machine_run(a), sb = vl_machine_run(b);
		assert_int_equal(sa, sb);
		assert_memory_equal(a->region, b->region, sizeof a->region);
		assert_int_equal(a->tsc, b->tsc);
		assert_memory_equal(a->cpu.gpr, b->cpu.gpr, sizeof a->cpu.gpr);
		assert_int_equal(a->cpu.rip, b->cpu.rip);
		assert_true(memcmp(a->mem, b->mem, a->mem_size) == 0);
		vl_machine_free(a);
		vl_machine_free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smc_loop),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_intr_mid_chain),
		cmocka_unit_test(test_rep_interrupted),
		cmocka_unit_test(test_every_byte_bounded),
		cmocka_unit_test(test_page_crossing),
		cmocka_unit_test(test_block_forms),
		cmocka_unit_test(test_limits_scenarios),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
