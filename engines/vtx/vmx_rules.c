/* vmx_rules.c — the VT-x hardware's rules as pure functions of the VMCS:
 * which events exit (SDM 25.1-25.3) and the VM-entry checks (SDM 26.2-26.3).
 * No side effects, so unit tests exercise them on a hand-made VMCS. */
#include <inttypes.h>
#include <stdio.h>

#include "vmx_hw.h"

static inline uint64_t F(const struct vmcs *v, enum vmcs_slot s) { return v->field[s]; }

uint32_t vmx_secondary(const struct vmcs *v)
{
	return (F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL) & CPU_ACTIVATE_SECONDARY)
		? (uint32_t)F(v, VMCS_SLOT_SECONDARY_VM_EXEC_CONTROL) : 0;
}

/* ---- exit decisions (SDM 25.1.3) ---------------------------------------- */

/* I/O: unconditional I/O exiting, or one bit per port in bitmap A
 * (0x0000-0x7fff) / B (0x8000-0xffff); an access exits if any byte's port
 * bit is set, or if it wraps past 0xffff. */
bool vmx_io_exits(struct vl_machine *m, const struct vmcs *v, uint16_t port, unsigned size)
{
	uint32_t cpu = (uint32_t)F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL);
	if (!(cpu & CPU_USE_IO_BITMAPS))
		return (cpu & CPU_UNCOND_IO_EXITING) != 0;
	for (unsigned i = 0; i < (size ? size : 1); i++) {
		uint32_t p = (uint32_t)port + i;
		if (p > 0xffff)
			return true;
		uint64_t base = p < 0x8000 ? F(v, VMCS_SLOT_IO_BITMAP_A) : F(v, VMCS_SLOT_IO_BITMAP_B);
		const uint8_t *bm = vl_phys_ptr(m, base + ((p & 0x7fff) >> 3));
		if (!bm || (*bm >> (p & 7)) & 1)
			return true;
	}
	return false;
}

/* MSR bitmap (SDM 24.6.9): read-low at 0, read-high at 1024, write-low at
 * 2048, write-high at 3072; low = 0..0x1fff, high = 0xc0000000..0xc0001fff;
 * any other MSR always exits. */
bool vmx_msr_exits(struct vl_machine *m, const struct vmcs *v, uint32_t msr, bool write)
{
	if (!(F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL) & CPU_USE_MSR_BITMAPS))
		return true;
	uint64_t off;
	if (msr <= 0x1fff)
		off = 0;
	else if (msr >= 0xc0000000u && msr <= 0xc0001fffu)
		off = 1024;
	else
		return true;
	if (write)
		off += 2048;
	uint32_t bit = msr & 0x1fff;
	const uint8_t *bm = vl_phys_ptr(m, F(v, VMCS_SLOT_MSR_BITMAP) + off + (bit >> 3));
	return !bm || ((*bm >> (bit & 7)) & 1);
}

/* MOV to CR0/CR4 exits iff a host-owned bit (mask) differs from the read
 * shadow; MOV to CR3 iff CR3-load exiting and the value is not one of the
 * first CR3_TARGET_COUNT target values; MOV to CR8 iff CR8-load exiting. */
bool vmx_cr_write_exits(const struct vmcs *v, unsigned cr, uint64_t val)
{
	uint32_t cpu = (uint32_t)F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL);
	switch (cr) {
	case 0:
		return ((val ^ F(v, VMCS_SLOT_CR0_READ_SHADOW)) & F(v, VMCS_SLOT_CR0_GUEST_HOST_MASK)) != 0;
	case 4:
		return ((val ^ F(v, VMCS_SLOT_CR4_READ_SHADOW)) & F(v, VMCS_SLOT_CR4_GUEST_HOST_MASK)) != 0;
	case 3: {
		if (!(cpu & CPU_CR3_LOAD_EXITING))
			return false;
		uint64_t n = F(v, VMCS_SLOT_CR3_TARGET_COUNT);
		static const enum vmcs_slot tgt[4] = { VMCS_SLOT_CR3_TARGET_VALUE0, VMCS_SLOT_CR3_TARGET_VALUE1,
						       VMCS_SLOT_CR3_TARGET_VALUE2, VMCS_SLOT_CR3_TARGET_VALUE3 };
		for (uint64_t i = 0; i < n && i < 4; i++)
			if (F(v, tgt[i]) == val)
				return false;
		return true;
	}
	case 8:
		return (cpu & CPU_CR8_LOAD_EXITING) != 0;
	default:
		return true;   /* other CRs are #UD before any exit; be conservative */
	}
}

bool vmx_cr_read_exits(const struct vmcs *v, unsigned cr)
{
	uint32_t cpu = (uint32_t)F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL);
	if (cr == 3)
		return (cpu & CPU_CR3_STORE_EXITING) != 0;
	if (cr == 8)
		return (cpu & CPU_CR8_STORE_EXITING) != 0;
	return false;   /* CR0/CR4 reads never exit: host-owned bits come from the shadow */
}

uint64_t vmx_cr_read_value(const struct vmcs *v, unsigned cr, uint64_t real)
{
	uint64_t mask = cr == 0 ? F(v, VMCS_SLOT_CR0_GUEST_HOST_MASK) : F(v, VMCS_SLOT_CR4_GUEST_HOST_MASK);
	uint64_t sh = cr == 0 ? F(v, VMCS_SLOT_CR0_READ_SHADOW) : F(v, VMCS_SLOT_CR4_READ_SHADOW);
	return (real & ~mask) | (sh & mask);
}

/* #PF (SDM 25.2): with (PFEC & mask) == match the exception bitmap's bit 14
 * decides; otherwise its complement does. */
bool vmx_pf_exits(const struct vmcs *v, uint32_t pfec)
{
	bool bit14 = (F(v, VMCS_SLOT_EXCEPTION_BITMAP) >> VL_PF) & 1;
	bool match = (pfec & F(v, VMCS_SLOT_PAGE_FAULT_ERROR_CODE_MASK)) ==
		     (F(v, VMCS_SLOT_PAGE_FAULT_ERROR_CODE_MATCH) & 0xffffffffu);
	return match ? bit14 : !bit14;
}

/* ---- VM entry checks ------------------------------------------------------ */

static bool canonical(uint64_t a) { return (uint64_t)((int64_t)(a << 16) >> 16) == a; }

#define FAILC(...) do { snprintf(why, whylen, __VA_ARGS__); return VMX_ENTRY_FAIL_VALID; } while (0)
#define FAILG(...) do { snprintf(why, whylen, __VA_ARGS__); return VMX_ENTRY_FAIL_GUEST; } while (0)

enum vmx_entry_rc vmx_entry_check(struct vl_machine *m, const struct vmcs *v, char *why, size_t whylen)
{
	if (!v->current) {
		snprintf(why, whylen, "no current VMCS");
		return VMX_ENTRY_FAIL_INVALID;
	}
	uint32_t cpu = (uint32_t)F(v, VMCS_SLOT_CPU_BASED_VM_EXEC_CONTROL);
	uint32_t sec = vmx_secondary(v);
	uint32_t entry = (uint32_t)F(v, VMCS_SLOT_VM_ENTRY_CONTROLS);

	/* 26.2.1 VM-execution control fields */
	uint32_t pin = (uint32_t)F(v, VMCS_SLOT_PIN_BASED_VM_EXEC_CONTROL);
	if ((pin & PIN_VIRTUAL_NMIS) && !(pin & PIN_NMI_EXITING))
		FAILC("virtual NMIs without NMI exiting");
	if ((cpu & CPU_NMI_WINDOW_EXITING) && !(pin & PIN_VIRTUAL_NMIS))
		FAILC("NMI-window exiting without virtual NMIs");
	if (F(v, VMCS_SLOT_CR3_TARGET_COUNT) > 4)
		FAILC("CR3_TARGET_COUNT %" PRIu64 " > 4", F(v, VMCS_SLOT_CR3_TARGET_COUNT));
	if (cpu & CPU_USE_IO_BITMAPS) {
		uint64_t a = F(v, VMCS_SLOT_IO_BITMAP_A), b = F(v, VMCS_SLOT_IO_BITMAP_B);
		if ((a & 0xfff) || (b & 0xfff) || a + 4096 > m->mem_size || b + 4096 > m->mem_size)
			FAILC("I/O bitmap address not page aligned or beyond memory");
	}
	if (cpu & CPU_USE_MSR_BITMAPS) {
		uint64_t a = F(v, VMCS_SLOT_MSR_BITMAP);
		if ((a & 0xfff) || a + 4096 > m->mem_size)
			FAILC("MSR bitmap address not page aligned or beyond memory");
	}
	if (cpu & CPU_TPR_SHADOW) {
		uint64_t a = F(v, VMCS_SLOT_VIRTUAL_APIC_PAGE_ADDR);
		uint64_t thr = F(v, VMCS_SLOT_TPR_THRESHOLD);
		if (!a || (a & 0xfff) || a + 4096 > m->mem_size)
			FAILC("virtual-APIC page address invalid with use TPR shadow");
		if (thr & ~0xfull)
			FAILC("TPR_THRESHOLD bits 31:4 not zero");
		const uint8_t *vtpr = vl_phys_ptr(m, a + 0x80);
		if (!(sec & SEC_VIRT_APIC_ACCESSES) && vtpr && (thr & 0xf) > (uint64_t)(*vtpr >> 4))
			FAILC("TPR_THRESHOLD above VTPR[7:4]");
	} else if (sec & SEC_VIRT_X2APIC_MODE) {
		FAILC("virtualize x2APIC mode without use TPR shadow");
	}
	if (sec & SEC_ENABLE_VPID && F(v, VMCS_SLOT_VIRTUAL_PROCESSOR_ID) == 0)
		FAILC("enable VPID with VIRTUAL_PROCESSOR_ID 0");
	if (sec & SEC_ENABLE_EPT) {
		uint64_t eptp = F(v, VMCS_SLOT_EPT_POINTER);
		unsigned mt = eptp & 7, wl = (eptp >> 3) & 7;
		if ((mt != 0 && mt != 6) || wl != 3 || (eptp & 0xf80) || (eptp & ~0xfffull) + 4096 > m->mem_size)
			FAILC("EPT_POINTER invalid (%#" PRIx64 ")", eptp);
	}
	if (sec & SEC_UNRESTRICTED_GUEST && !(sec & SEC_ENABLE_EPT))
		FAILC("unrestricted guest without enable EPT");
	/* 26.2.1.3 VM-entry control fields: event injection */
	uint32_t ii = (uint32_t)F(v, VMCS_SLOT_VM_ENTRY_INTR_INFO_FIELD);
	if (ii & INTR_INFO_VALID) {
		unsigned type = (ii >> INTR_INFO_TYPE_SHIFT) & 7, vec = ii & 0xff;
		if (type == 1 || type == 7)
			FAILC("event injection: reserved interruption type %u", type);
		if (type == INTR_TYPE_NMI && vec != VL_NMI)
			FAILC("event injection: NMI with vector %u", vec);
		if (type == INTR_TYPE_HARD_EXCEPTION && vec > 31)
			FAILC("event injection: hardware exception vector %u > 31", vec);
		bool code_ok = type == INTR_TYPE_HARD_EXCEPTION &&
			(vec == VL_DF || (vec >= VL_TS && vec <= VL_PF) || vec == VL_AC);
		if ((ii & INTR_INFO_DELIVER_CODE) && !code_ok)
			FAILC("event injection: deliver error code for vector %u type %u", vec, type);
		if (ii & 0x7ffff000u)
			FAILC("event injection: reserved bits 30:12 set");
	}

	/* 26.3.1 guest state */
	uint64_t cr0 = F(v, VMCS_SLOT_GUEST_CR0), cr4 = F(v, VMCS_SLOT_GUEST_CR4);
	bool ia32e = entry & ENTRY_IA32E_MODE;
	if (!(sec & SEC_UNRESTRICTED_GUEST) && (!(cr0 & VL_CR0_PE) || !(cr0 & VL_CR0_PG)))
		FAILG("GUEST_CR0 %#" PRIx64 " lacks fixed-1 bits PE/PG", cr0);
	if ((cr0 & VL_CR0_PG) && !(cr0 & VL_CR0_PE))
		FAILG("GUEST_CR0.PG without PE");
	if (cr0 >> 32)
		FAILG("GUEST_CR0 bits 63:32 set");
	if (ia32e && (!(cr0 & VL_CR0_PG) || !(cr4 & VL_CR4_PAE)))
		FAILG("IA-32e mode guest requires CR0.PG and CR4.PAE");
	if (entry & ENTRY_LOAD_IA32_EFER) {
		uint64_t efer = F(v, VMCS_SLOT_GUEST_IA32_EFER);
		if (!!(efer & VL_EFER_LMA) != ia32e)
			FAILG("GUEST_IA32_EFER.LMA differs from IA-32e mode guest");
		if ((cr0 & VL_CR0_PG) && !!(efer & VL_EFER_LMA) != !!(efer & VL_EFER_LME))
			FAILG("GUEST_IA32_EFER.LMA differs from LME with paging on");
	}
	uint64_t csar = F(v, VMCS_SLOT_GUEST_CS_AR_BYTES);
	bool csl = ia32e && (csar >> 13 & 1);
	if (csl && (csar >> 14 & 1))
		FAILG("guest CS has both L and D/B set");
	uint64_t rip = F(v, VMCS_SLOT_GUEST_RIP);
	/* SDM 27.3.1.4: with N = 48 linear-address bits, bits 63:N (not
	 * 63:N-1) must be identical — weaker than canonical: a VMM that
	 * skips an instruction ending at 0x7fffffffffff enters with RIP =
	 * 0x800000000000 and the guest's next fetch takes #GP (kvm-unit-tests
	 * hypercall "edge of canonical address space") */
	if (csl && (int64_t)rip >> 48 != 0 && (int64_t)rip >> 48 != -1)
		FAILG("GUEST_RIP %#" PRIx64 ": bits 63:48 not identical", rip);
	if (!csl && (rip >> 32))
		FAILG("GUEST_RIP bits 63:32 set outside 64-bit mode");
	uint64_t fl = F(v, VMCS_SLOT_GUEST_RFLAGS);
	if (!(fl & 2) || (fl & ~0x3f7fd7ull) || (ia32e && (fl & (1ull << 17))))
		FAILG("GUEST_RFLAGS %#" PRIx64 " has reserved bits wrong", fl);
	uint64_t tr = F(v, VMCS_SLOT_GUEST_TR_AR_BYTES);
	if ((tr & 0x80) && ia32e && (tr & 0xf) != 11)
		FAILG("guest TR is not a busy 64-bit TSS (type %u)", (unsigned)(tr & 0xf));
	if (!canonical(F(v, VMCS_SLOT_GUEST_GDTR_BASE)) || !canonical(F(v, VMCS_SLOT_GUEST_IDTR_BASE)))
		FAILG("GDTR/IDTR base not canonical");
	if (F(v, VMCS_SLOT_GUEST_ACTIVITY_STATE) > GUEST_ACTIVITY_WAIT_SIPI)
		FAILG("GUEST_ACTIVITY_STATE %" PRIu64 " invalid", F(v, VMCS_SLOT_GUEST_ACTIVITY_STATE));
	uint64_t intr = F(v, VMCS_SLOT_GUEST_INTERRUPTIBILITY_INFO);
	if (intr & ~0x1full)
		FAILG("GUEST_INTERRUPTIBILITY_INFO reserved bits set");
	if ((intr & 3) == 3)
		FAILG("blocking by STI and by MOV SS both set");
	if ((intr & 1) && !(fl & VL_FL_IF))
		FAILG("blocking by STI with RFLAGS.IF clear");
	if (F(v, VMCS_SLOT_VMCS_LINK_POINTER) != ~0ull)
		FAILG("VMCS_LINK_POINTER is not ~0 (no shadow VMCS in the model)");
	return VMX_ENTRY_OK;
}

