/* nested.c — EPT (Intel) / NPT (AMD) paging: the second-generation VMM's MMU.
 *
 * The hardware does the two-dimensional walk itself (machine/walk.c: guest
 * tables, every guest-physical reference translated through m->nested, with
 * the nested TLB and page-walk cache). This engine is the VMM software
 * around it: it builds the nested tables in monitor memory and populates
 * them lazily — each EPT violation / nested page fault on guest RAM maps
 * that one 4 KiB guest-physical page (identity: hPA = gPA).
 *
 * A guest-physical device frame (vl_mmio_frame: the xAPIC page on CPUs
 * without x2APIC) maps through to the machine's device, which is the
 * guest's. Other addresses outside RAM map to
 * one unbacked host-physical frame above all memory: reads return all ones
 * and writes are dropped, exactly what the same access does on the native
 * machine, and monitor memory is never reachable. (A real VMM would emulate
 * each such access as MMIO, one exit each; the machine's retry-after-NPF
 * contract has no way to complete an access in the VMM.) Only an address
 * beyond MAXPHYADDR is refused: PASS, and the VMM stops with its reason.
 *
 * Page size of the nested mapping: 4 KiB, always (KVM without transparent
 * huge pages or hugetlbfs backing). That keeps a cold 4-level x 4-level 4K
 * walk at 24 references (Bhargava et al., ASPLOS 2008), makes lazy
 * population visible page by page, and leaves 2M nested mappings (fewer
 * faults, 19-reference cold walks) as a separate, explicit variant.
 *
 * Formats: EPT entries R|W|X (leaf memory type WB), NPT entries are x86
 * long-mode entries P|RW|US with A (and D on leaves) preset so the
 * hardware never writes back to the nested tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/machine.h"
#include "nested.h"

#define N_ADDR    0x000ffffffffff000ull
#define EPT_RWX   0x7ull
#define EPT_WB    (6ull << 3)        /* leaf memory type: write-back */
#define NPT_PRWU  0x7ull             /* P | RW | US */
#define NPT_A     (1ull << 5)
#define NPT_D     (1ull << 6)

struct nested {
	struct vl_machine *m;
	enum vl_pt_fmt fmt;
	uint64_t root;
	uint64_t unbacked;           /* host frame above all memory: where non-RAM gPAs map */
	unsigned maxphy;
	uint64_t tables;             /* nested table pages allocated (root included) */
	uint64_t mapped;             /* 4K guest-physical pages of RAM mapped */
	uint64_t unassigned;         /* 4K guest-physical pages outside RAM mapped to `unbacked` */
};

static uint64_t nested_nonleaf(const struct nested *n, uint64_t hpa)
{
	return hpa | (n->fmt == VL_PT_EPT ? EPT_RWX : NPT_PRWU | NPT_A);
}

static uint64_t nested_leaf(const struct nested *n, uint64_t hpa)
{
	return hpa | (n->fmt == VL_PT_EPT ? EPT_RWX | EPT_WB : NPT_PRWU | NPT_A | NPT_D);
}

static bool nested_present(const struct nested *n, uint64_t e)
{
	return n->fmt == VL_PT_EPT ? (e & EPT_RWX) != 0 : (e & 1) != 0;
}

/* Map guest-physical page gpa -> host-physical hpa with a 4K leaf, making
 * the missing tables (each charged mmu.nested_alloc; each entry the VMM
 * reads charged tlb.walk_ref). Returns 0, or -1 when monitor memory is
 * exhausted. */
static int nested_map(struct nested *n, uint64_t gpa, uint64_t hpa)
{
	struct vl_machine *m = n->m;
	uint64_t table = n->root;

	for (int level = 4; level > 1; level--) {
		uint64_t ea = table + ((gpa >> (12 + 9 * (level - 1))) & 511) * 8;
		uint64_t e = vl_phys_read64(m, ea);
		VL_CHARGE(m, VL_CAT_VMM, tlb_walk_ref);
		if (!nested_present(n, e)) {
			uint64_t t = vl_mem_alloc_page(m);
			if (!t)
				return -1;
			VL_CHARGE(m, VL_CAT_VMM, mmu_nested_alloc);
			n->tables++;
			e = nested_nonleaf(n, t);
			vl_phys_write64(m, ea, e);
		}
		table = e & N_ADDR;
	}
	uint64_t ea = table + ((gpa >> 12) & 511) * 8;
	VL_CHARGE(m, VL_CAT_VMM, tlb_walk_ref);
	if (!nested_present(n, vl_phys_read64(m, ea)))
		*(gpa < m->ram_size ? &n->mapped : &n->unassigned) += 1;
	vl_phys_write64(m, ea, nested_leaf(n, hpa & N_ADDR));
	return 0;
}

/* EPT violation / NPF: the guest touched guest-physical gpa (a guest table
 * reference or the final address). Guest RAM: map its page (identity);
 * outside RAM: map it to the unbacked frame (see the top of the file);
 * DONE, the access is retried. Beyond MAXPHYADDR: PASS (the VMM stops). */
static int nested_fault(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid,
			unsigned acc, uint64_t npte)
{
	struct nested *n = ctx;

	VL_CHARGE(m, VL_CAT_VMM, mmu_nested_fault);
	if (gpa >> n->maxphy)
		return VL_HOOK_PASS;
	bool dev = gpa >= m->ram_size && vl_mmio_frame(m, gpa);   /* a device: through to it */
	if (nested_map(n, gpa & ~0xfffull, gpa < m->ram_size || dev ? gpa & ~0xfffull : n->unbacked)) {
		vl_machine_stop(m, VL_M_ERROR, "nested MMU: monitor memory exhausted mapping gpa %#llx",
				(unsigned long long)gpa);
		return VL_HOOK_STOP;
	}
	vl_trace(m, "nested: map gpa %#llx%s (%s, gva %#llx%s)", (unsigned long long)(gpa & ~0xfffull),
		 gpa < m->ram_size ? "" : dev ? " (device)" : " (not RAM: unbacked)",
		 gva_valid ? "final address" : "guest table reference", (unsigned long long)gva,
		 (acc & VL_ACC_W) ? ", write" : "");
	return VL_HOOK_DONE;
}

/* The VMM's own gPA -> hPA (KVM: memslots, not the EPT): identity on RAM. */
static uint64_t nested_gpa_to_hpa(struct vl_machine *m, void *ctx, uint64_t gpa)
{
	return gpa < m->ram_size ? gpa : UINT64_MAX;
}

/* CR3 is not intercepted with EPT/NPT; should a VMM forward one anyway,
 * the guest's CR3 is the hardware's. */
static void nested_cr3_write(struct vl_machine *m, void *ctx, uint64_t cr3)
{
	m->cpu.cr3 = cr3;
	vl_tlb_flush_nonglobal(m);
}

static uint64_t nested_cr3_read(struct vl_machine *m, void *ctx)
{
	return m->cpu.cr3;
}

static void nested_fini(struct vl_machine *m, void *ctx)
{
	free(ctx);
}

static int nested_init(struct vl_machine *m, enum vl_vendor vendor, void **ctx, char *err, size_t errlen)
{
	struct nested *n = calloc(1, sizeof *n);

	*ctx = NULL;
	if (!n) {
		snprintf(err, errlen, "nested MMU: out of memory");
		return -1;
	}
	if (vendor != VL_VENDOR_INTEL && vendor != VL_VENDOR_AMD) {
		snprintf(err, errlen, "nested MMU: needs an Intel (EPT) or AMD (NPT) CPU engine");
		free(n);
		return -1;
	}
	n->m = m;
	n->fmt = vendor == VL_VENDOR_INTEL ? VL_PT_EPT : VL_PT_X86;
	n->root = vl_mem_alloc_page(m);
	if (!n->root) {
		snprintf(err, errlen, "nested MMU: no monitor memory for the %s root", vendor == VL_VENDOR_INTEL ? "EPT" : "NPT");
		free(n);
		return -1;
	}
	n->tables = 1;
	uint32_t r[4];
	vl_cpuid(m, 0x80000008u, 0, r);
	n->maxphy = (r[0] & 0xff) ? (r[0] & 0xff) : 36;
	n->unbacked = (m->mem_size + 0xfff) & ~0xfffull;
	if (n->unbacked >> n->maxphy) {
		snprintf(err, errlen, "nested MMU: no unbacked physical address below MAXPHYADDR for non-RAM gPAs");
		free(n);
		return -1;
	}
	/* The CPU engine copies root into the EPT pointer / N_CR3 after init;
	 * until its VM entry turns nested paging on, this is its state. */
	m->nested.enabled = true;
	m->nested.fmt = n->fmt;
	m->nested.root = n->root;
	vl_tlb_flush_all(m);
	*ctx = n;
	return 0;
}

uint64_t vl_nested_mapped_pages(const void *ctx) { return ctx ? ((const struct nested *)ctx)->mapped : 0; }
uint64_t vl_nested_table_pages(const void *ctx) { return ctx ? ((const struct nested *)ctx)->tables : 0; }
uint64_t vl_nested_unassigned_pages(const void *ctx) { return ctx ? ((const struct nested *)ctx)->unassigned : 0; }

const struct vl_mmu_ops vl_mmu_nested = {
	.name = "nested",
	.desc = "EPT (Intel) / NPT (AMD): 2-D hardware walk, nested tables populated lazily, 4K pages",
	.kind = VL_MMU_NESTED,
	.init = nested_init,
	.fini = nested_fini,
	.cr3_write = nested_cr3_write,
	.cr3_read = nested_cr3_read,
	.nested_fault = nested_fault,
	.gpa_to_hpa = nested_gpa_to_hpa,
};
