/* test_direct.c — the direct-paging MMU engine (mmu/direct) on a real
 * machine, driven through its ops: the p2m moves every frame; boot mode
 * runs a translated copy of the guest's boot tables with the monitor's
 * mappings; the first base pointer validates and pins a guest tree of
 * machine frames; then each forbidden request is refused with its error
 * code and leaves ALL of memory (guest RAM and monitor memory)
 * byte-identical: a writable mapping of a page table, monitor memory, a
 * frame the guest does not own, an entry in the monitor's L4 slots, a
 * writable page used as a page table, a superpage, unpinning the live
 * root, malformed batches (no entries, too many, an unknown command, a
 * pointer into a page that is no page table); allowed requests apply and
 * count; pin / unpin of a second root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/guest_abi.h"
#include "virtlab/machine.h"
#include "virtlab/mmu.h"
#include "../support/test_profile.h"
#include "../../mmu/direct/direct.h"

#define P   0x1ull
#define RW  0x2ull
#define PS  0x80ull
#define RAM_MB 16
#define BUF_VA 0x400000ull

static const struct vl_mmu_ops *mmu = &vl_mmu_direct;

struct rig {
	struct vl_profile p;
	struct vl_machine *m;
	void *ctx;
	uint64_t l4, l3, l2, l1, buf, data, l4b;   /* machine addresses */
};

static uint64_t M(struct rig *r, uint64_t pa) { return mmu->gpa_to_hpa(r->m, r->ctx, pa); }
static void w64(struct rig *r, uint64_t hpa, uint64_t v) { vl_phys_write64(r->m, hpa, v); }

static void rig_up(struct rig *r)
{
	char err[256] = "";
	memset(r, 0, sizeof *r);
	vl_test_profile(&r->p);
	r->p.pv_mmu_batch = 8;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = RAM_MB };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	struct vl_machine *m = r->m;
	/* boot tables (pseudo-physical): identity 2M pages over RAM at 0x1000.. */
	uint64_t b4 = 0x1000, b3 = 0x2000, b2 = 0x3000;
	memset(m->mem + b4, 0, 3 * 4096);
	vl_phys_write64(m, b4, b3 | P | RW);
	vl_phys_write64(m, b3, b2 | P | RW);
	for (uint64_t i = 0; i < (RAM_MB >> 1); i++)
		vl_phys_write64(m, b2 + i * 8, (i << 21) | P | RW | PS);
	memcpy(m->mem + 0x5000, "boot-marker", 12);
	m->cpu.cr0 = VL_CR0_PE | VL_CR0_PG;
	m->cpu.cr4 = VL_CR4_PAE;
	m->cpu.efer = VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE | VL_EFER_SCE;
	m->cpu.cr3 = b4;
	m->cpu.cpl = 0;
	assert_int_equal(mmu->init(m, VL_VENDOR_NONE, &r->ctx, err, sizeof err), 0);
}

static void rig_down(struct rig *r)
{
	mmu->fini(r->m, r->ctx);
	vl_machine_free(r->m);
}

static uint64_t ev(struct vl_machine *m, enum vl_event e) { return m->ctr->events[e]; }

static int64_t call(struct rig *r, unsigned nr, const uint64_t *req, uint64_t nent, uint64_t n)
{
	if (nent)
		vl_phys_write(r->m, r->buf, req, nent * 16);
	const uint64_t a[5] = { BUF_VA, n, 0, 0, 0 };
	return mmu->hypercall(r->m, r->ctx, nr, a);
}

static void test_p2m_and_boot_copy(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r);
	struct vl_machine *m = r.m;
	for (uint64_t pa = 0; pa < m->ram_size; pa += 4096) {
		uint64_t h = M(&r, pa);
		assert_true(h != pa && h < m->ram_size && !(h & 0xfff));
	}
	/* the domain builder moved the page: the marker is at its machine frame,
	 * and the boot copy maps pseudo-physical 0x5000 there */
	assert_memory_equal(m->mem + M(&r, 0x5000), "boot-marker", 12);
	char got[12];
	uint32_t pfec;
	assert_int_equal(vl_virt_read(m, 0x5000, got, 12, VL_ACC_R, &pfec), 0);
	assert_memory_equal(got, "boot-marker", 12);
	assert_int_equal(mmu->cr3_read(m, r.ctx), 0x1000);
	/* the monitor's mappings are in the boot copy */
	uint64_t mon = vl_mem_alloc_page(m);
	memcpy(m->mem + mon, "monitor", 8);
	assert_int_equal(mmu->map_monitor(m, r.ctx, VL_MONITOR_BASE + 0x3000, mon, 0), 0);
	assert_int_equal(vl_virt_read(m, VL_MONITOR_BASE + 0x3000, got, 8, VL_ACC_R, &pfec), 0);
	assert_memory_equal(got, "monitor", 8);
	/* before the first base pointer nothing is a page table */
	uint64_t req[2] = { M(&r, 0x1000), 0 };
	vl_phys_write(m, M(&r, BUF_VA), req, 16);
	const uint64_t a[5] = { BUF_VA, 1, 0, 0, 0 };
	assert_int_equal(mmu->hypercall(m, r.ctx, VL_HC_MMU_UPDATE, a), -VL_HC_EINVAL);
	rig_down(&r);
}

/* Build a guest tree of machine frames at pseudo 0x100000.. mapping the
 * request buffer at BUF_VA (writable) and load it (boot mode -> direct). */
static void go_direct(struct rig *r)
{
	struct vl_machine *m = r->m;
	uint64_t pa[7];
	for (int i = 0; i < 7; i++) {
		pa[i] = 0x100000 + (uint64_t)i * 4096;
		memset(m->mem + M(r, pa[i]), 0, 4096);
	}
	r->l4 = M(r, pa[0]); r->l3 = M(r, pa[1]); r->l2 = M(r, pa[2]); r->l1 = M(r, pa[3]);
	r->buf = M(r, pa[4]); r->data = M(r, pa[5]); r->l4b = M(r, pa[6]);
	w64(r, r->l4, r->l3 | P | RW);
	w64(r, r->l3, r->l2 | P | RW);
	w64(r, r->l2 + 2 * 8, r->l1 | P | RW);                /* VA 4M.. */
	w64(r, r->l1, r->buf | P | RW);                      /* BUF_VA */
	uint64_t mon = vl_mem_alloc_page(m);
	assert_int_equal(mmu->map_monitor(m, r->ctx, VL_MONITOR_BASE, mon, 0), 0);
	/* the request list is read through the CURRENT root: boot copy, identity of pseudo 4M */
	uint64_t req[2] = { VL_MMUEXT_NEW_BASEPTR, r->l4 };
	vl_phys_write(m, M(r, BUF_VA), req, 16);
	const uint64_t a[5] = { BUF_VA, 1, 0, 0, 0 };
	assert_int_equal(mmu->hypercall(m, r->ctx, VL_HC_MMUEXT_OP, a), 0);
	assert_int_equal(m->cpu.cr3, r->l4);
	assert_int_equal(mmu->cr3_read(m, r->ctx), r->l4);
	assert_int_equal(ev(m, VL_EV_PV_PINNED_ROOTS), 1);
	/* the VMM put its slot in the guest's L4 */
	assert_true(vl_phys_read64(m, r->l4 + DP_MON_SLOT0 * 8) & P);
}

static void test_forbidden_requests(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r);
	go_direct(&r);
	struct vl_machine *m = r.m;
	size_t n = m->mem_size;
	uint8_t *before = malloc(n);
	assert_non_null(before);
	struct { const char *what; unsigned nr; uint64_t req[2]; uint64_t count; int64_t want; } cases[] = {
		{ "writable mapping of a page table", VL_HC_MMU_UPDATE, { r.l1 + 8, r.l2 | P | RW }, 1, -VL_HC_EEXIST },
		{ "writable mapping of the root", VL_HC_MMU_UPDATE, { r.l1 + 8, r.l4 | P | RW }, 1, -VL_HC_EEXIST },
		{ "monitor memory", VL_HC_MMU_UPDATE, { r.l1 + 8, m->ram_size | P }, 1, -VL_HC_EACCES },
		{ "a frame the guest does not own", VL_HC_MMU_UPDATE, { r.l1 + 8, (1ull << 40) | P }, 1, -VL_HC_EPERM },
		{ "the monitor's L4 slots", VL_HC_MMU_UPDATE, { r.l4 + DP_MON_SLOT0 * 8, r.l3 | P | RW }, 1, -VL_HC_EACCES },
		{ "a writable page as a page table", VL_HC_MMU_UPDATE, { r.l2 + 3 * 8, r.buf | P | RW }, 1, -VL_HC_EEXIST },
		{ "a superpage", VL_HC_MMU_UPDATE, { r.l2 + 3 * 8, (2ull << 20) | P | PS }, 1, -VL_HC_EINVAL },
		{ "a pointer into a page that is no page table", VL_HC_MMU_UPDATE, { r.data, 0 }, 1, -VL_HC_EINVAL },
		{ "an update pointer in monitor memory", VL_HC_MMU_UPDATE, { m->ram_size, 0 }, 1, -VL_HC_EACCES },
		{ "an unknown command", VL_HC_MMU_UPDATE, { (r.l1 + 8) | 1, r.data | P }, 1, -VL_HC_EINVAL },
		{ "an empty batch", VL_HC_MMU_UPDATE, { r.l1 + 8, r.data | P }, 0, -VL_HC_EINVAL },
		{ "a batch over the limit", VL_HC_MMU_UPDATE, { r.l1 + 8, r.data | P }, VL_MMU_BATCH_MAX + 1, -VL_HC_EINVAL },
		{ "unpinning the live root", VL_HC_MMUEXT_OP, { VL_MMUEXT_UNPIN, r.l4 }, 1, -VL_HC_EBUSY },
		{ "pinning the root twice", VL_HC_MMUEXT_OP, { VL_MMUEXT_PIN_L4, r.l4 }, 1, -VL_HC_EINVAL },
		{ "a base pointer that is not pinned", VL_HC_MMUEXT_OP, { VL_MMUEXT_NEW_BASEPTR, r.l4b }, 1, -VL_HC_EINVAL },
		{ "an unknown ext op", VL_HC_MMUEXT_OP, { 99, 0 }, 1, -VL_HC_EINVAL },
	};
	uint64_t warm;
	uint32_t pf;
	assert_int_equal(vl_virt_read(m, BUF_VA, &warm, 8, VL_ACC_R, &pf), 0);   /* accessed bits set once */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		vl_phys_write(m, r.buf, cases[i].req, 16);
		memcpy(before, m->mem, n);
		uint64_t ref0 = ev(m, VL_EV_PV_MMU_REFUSALS), cr3 = m->cpu.cr3;
		const uint64_t a[5] = { BUF_VA, cases[i].count, 0, 0, 0 };
		int64_t got = mmu->hypercall(m, r.ctx, cases[i].nr, a);
		if (got != cases[i].want)
			fail_msg("%s: returned %lld, expected %lld", cases[i].what, (long long)got, (long long)cases[i].want);
		if (memcmp(before, m->mem, n))
			fail_msg("%s: memory changed", cases[i].what);
		assert_int_equal(ev(m, VL_EV_PV_MMU_REFUSALS), ref0 + 1);
		assert_int_equal(m->cpu.cr3, cr3);
	}
	/* a batch stops at the first refusal: the entries before it are applied, the count says how many */
	uint64_t two[4] = { r.l1 + 8, r.data | P | RW, r.l1 + 16, r.l1 | P | RW };
	vl_phys_write(m, r.buf, two, 32);
	const uint64_t a2[5] = { BUF_VA, 2, BUF_VA + 64, 0, 0 };
	assert_int_equal(mmu->hypercall(m, r.ctx, VL_HC_MMU_UPDATE, a2), -VL_HC_EEXIST);
	assert_int_equal(vl_phys_read64(m, r.buf + 64), 1);
	assert_int_equal(vl_phys_read64(m, r.l1 + 8), r.data | P | RW);
	assert_int_equal(vl_phys_read64(m, r.l1 + 16), 0);
	free(before);
	rig_down(&r);
}

static void test_allowed_requests(void **state)
{
	(void)state;
	struct rig r;
	rig_up(&r);
	go_direct(&r);
	struct vl_machine *m = r.m;
	uint64_t u0 = ev(m, VL_EV_PV_PTE_UPDATES);
	/* map data writable at BUF_VA + 4K, a page table read-only at + 8K */
	uint64_t req[4] = { r.l1 + 8, r.data | P | RW, r.l1 + 16, r.l2 | P };
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, req, 2, 2), 0);
	assert_int_equal(ev(m, VL_EV_PV_PTE_UPDATES), u0 + 2);
	assert_int_equal(vl_phys_read64(m, r.l1 + 8), r.data | P | RW);
	uint32_t pfec;
	uint64_t v = 0x1234;
	assert_int_equal(vl_virt_write(m, BUF_VA + 4096, &v, 8, VL_ACC_W, &pfec), 0);
	assert_int_equal(vl_phys_read64(m, r.data), 0x1234);
	/* the page now mapped writable cannot become a page table ... */
	uint64_t link[2] = { r.l2 + 3 * 8, r.data | P | RW };
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, link, 1, 1), -VL_HC_EEXIST);
	/* ... until its writable mapping is gone (and then it is validated: all zero but the 0x1234 entry, present? no: bit 0 clear) */
	uint64_t unmap[2] = { r.l1 + 8, 0 };
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, unmap, 1, 1), 0);
	w64(&r, r.data, 0);
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, link, 1, 1), 0);
	/* a second root: pin, refuse to map it writable, unpin */
	w64(&r, r.l4b, r.l3 | P | RW);
	uint64_t pin[2] = { VL_MMUEXT_PIN_L4, r.l4b };
	assert_int_equal(call(&r, VL_HC_MMUEXT_OP, pin, 1, 1), 0);
	uint64_t wr[2] = { r.l1 + 24, r.l4b | P | RW };
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, wr, 1, 1), -VL_HC_EEXIST);
	uint64_t sw[4] = { VL_MMUEXT_NEW_BASEPTR, r.l4b, VL_MMUEXT_UNPIN, r.l4 };
	assert_int_equal(call(&r, VL_HC_MMUEXT_OP, sw, 2, 2), 0);
	assert_int_equal(m->cpu.cr3, r.l4b);
	/* the old root is untyped: it may now be mapped writable */
	uint64_t wr2[2] = { r.l1 + 24, r.l4 | P | RW };
	assert_int_equal(call(&r, VL_HC_MMU_UPDATE, wr2, 1, 1), 0);
	rig_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p2m_and_boot_copy),
		cmocka_unit_test(test_forbidden_requests),
		cmocka_unit_test(test_allowed_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
