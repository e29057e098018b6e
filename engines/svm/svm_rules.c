/* svm_rules.c — the AMD-V hardware's rules as pure functions of the VMCB:
 * IOPM/MSRPM intercept decisions and the VMRUN consistency checks (APM
 * 15.5.1). No side effects, so unit tests exercise them on a hand-made VMCB. */
#include <inttypes.h>
#include <stdio.h>

#include "svm_hw.h"

#define G32(off) ((uint32_t)vmcb_get(m, vmcb, (off), 4))
#define G64(off) vmcb_get(m, vmcb, (off), 8)

/* IOPM (APM 15.10.1): 12 KiB, one bit per port; a multi-byte access is
 * intercepted if any of its ports' bits is set. */
bool svm_io_exits(struct vl_machine *m, uint64_t vmcb, uint16_t port, unsigned size)
{
	if (!(G32(VMCB_INTERCEPT_MISC1) & INTERCEPT_IOIO_PROT))
		return false;
	uint64_t iopm = G64(VMCB_IOPM_BASE_PA) & ~0xfffull;
	for (unsigned i = 0; i < (size ? size : 1); i++) {
		uint32_t p = (uint32_t)port + i;   /* bits for ports up to 0x10002 exist (the 3rd page) */
		const uint8_t *b = vl_phys_ptr(m, iopm + (p >> 3));
		if (!b || ((*b >> (p & 7)) & 1))
			return true;
	}
	return false;
}

/* MSRPM (APM 15.11): two bits per MSR (read, write) in three 2 KiB ranges:
 * 0-0x1fff at 0x000, 0xc0000000-0xc0001fff at 0x800, 0xc0010000-0xc0011fff
 * at 0x1000; MSRs outside them are always intercepted. */
bool svm_msr_exits(struct vl_machine *m, uint64_t vmcb, uint32_t msr, bool write)
{
	if (!(G32(VMCB_INTERCEPT_MISC1) & INTERCEPT_MSR_PROT))
		return false;
	uint64_t base;
	if (msr <= 0x1fff)
		base = 0;
	else if (msr >= 0xc0000000u && msr <= 0xc0001fffu)
		base = 0x800;
	else if (msr >= 0xc0010000u && msr <= 0xc0011fffu)
		base = 0x1000;
	else
		return true;
	uint32_t bit = (msr & 0x1fff) * 2 + (write ? 1 : 0);
	const uint8_t *b = vl_phys_ptr(m, (G64(VMCB_MSRPM_BASE_PA) & ~0xfffull) + base + (bit >> 3));
	return !b || ((*b >> (bit & 7)) & 1);
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); return -1; } while (0)

int svm_vmrun_check(struct vl_machine *m, uint64_t vmcb, char *why, size_t whylen)
{
	if (!vmcb || (vmcb & 0xfff) || vmcb + 4096 > m->mem_size)
		FAIL("VMCB address %#" PRIx64 " not a page of memory", vmcb);
	uint64_t cr0 = G64(VMCB_CR0), cr3 = G64(VMCB_CR3), cr4 = G64(VMCB_CR4), efer = G64(VMCB_EFER);
	if (!(cr0 & (1ull << 30)) && (cr0 & (1ull << 29)))
		FAIL("CR0.CD = 0 with CR0.NW = 1");
	if (cr0 >> 32)
		FAIL("CR0[63:32] not zero");
	if (cr3 >> 52)
		FAIL("CR3 MBZ bits 63:52 set");
	if (cr4 >> 32)
		FAIL("CR4 reserved bits set");
	if (G64(VMCB_DR6) >> 32 || G64(VMCB_DR7) >> 32)
		FAIL("DR6/DR7 bits 63:32 not zero");
	if (efer & ~(VL_EFER_SCE | VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE | (1ull << 12) | (1ull << 13) |
		     (1ull << 14) | (1ull << 15)))
		FAIL("EFER reserved bits set (%#" PRIx64 ")", efer);
	bool lme_pg = (efer & VL_EFER_LME) && (cr0 & VL_CR0_PG);
	if (lme_pg && !(cr4 & VL_CR4_PAE))
		FAIL("EFER.LME and CR0.PG with CR4.PAE clear");
	if (lme_pg && !(cr0 & VL_CR0_PE))
		FAIL("EFER.LME and CR0.PG with CR0.PE clear");
	uint16_t csattr = (uint16_t)vmcb_get(m, vmcb, VMCB_CS + VMCB_SEG_ATTR, 2);
	if (lme_pg && (cr4 & VL_CR4_PAE) && (csattr & 0x200) && (csattr & 0x400))
		FAIL("long mode with CS.L and CS.D both set");
	if (!(G32(VMCB_INTERCEPT_MISC2) & INTERCEPT_VMRUN))
		FAIL("VMRUN intercept bit clear");
	if (G32(VMCB_INTERCEPT_MISC1) & INTERCEPT_MSR_PROT) {
		uint64_t a = G64(VMCB_MSRPM_BASE_PA) & ~0xfffull;
		if (a + 8192 > m->mem_size)
			FAIL("MSRPM_BASE_PA beyond memory");
	}
	if (G32(VMCB_INTERCEPT_MISC1) & INTERCEPT_IOIO_PROT) {
		uint64_t a = G64(VMCB_IOPM_BASE_PA) & ~0xfffull;
		if (a + 12288 > m->mem_size)
			FAIL("IOPM_BASE_PA beyond memory");
	}
	if (G32(VMCB_GUEST_ASID) == 0)
		FAIL("guest ASID is 0 (the host's)");
	uint64_t ev = G64(VMCB_EVENTINJ);
	if (ev & SVM_EVTINJ_VALID) {
		unsigned type = (ev >> SVM_EVTINJ_TYPE_SHIFT) & 7, vec = ev & 0xff;
		if (type == 1 || type > 4)
			FAIL("EVENTINJ with reserved type %u", type);
		if (type == SVM_EVTINJ_TYPE_EXEPT && (vec == VL_NMI || vec > 31))
			FAIL("EVENTINJ exception with vector %u", vec);
	}
	if (G32(VMCB_NP_ENABLE) & 1) {
		uint64_t n = G64(VMCB_N_CR3);
		if ((n & ~0xfffull) + 4096 > m->mem_size)
			FAIL("N_CR3 beyond memory");
	}
	return 0;
}

