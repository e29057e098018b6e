/* platform.c — what the bare CPU answers about itself: CPUID (vendor,
 * family/model and features from the profile) and the architectural MSRs.
 *
 * CPUID advertises only what the machine models: long mode, NX, SYSCALL,
 * RDTSCP, PAE/PSE/PGE/PAT, TSC/MSR/APIC/CX8/CMOV, x2APIC, PCID, 1G pages,
 * the APIC timer's TSC-deadline mode, SMEP, SMAP and IA32_TSC_ADJUST when
 * the profile has them. It never advertises VMX/SVM (the machine does
 * not model nested virtualization inside the guest) nor the hypervisor bit
 * (a VMM sets that when it intercepts CPUID). */
#include <string.h>

#include "internal.h"

#define MSR_TSC_ADJUST 0x3bu   /* IA32_TSC_ADJUST (features.tsc_adjust) */
#define MSR_SYSENTER_CS  0x174u
#define MSR_SYSENTER_ESP 0x175u
#define MSR_SYSENTER_EIP 0x176u
#define MSR_MCG_CAP      0x179u
#define MSR_MCG_STATUS   0x17au
#define MSR_MISC_ENABLE  0x1a0u
/* IA32_MISC_ENABLE (SDM Vol. 4 Table 2-2, Intel only): writable bits 0
 * (fast strings), 3 (automatic thermal control), 16 (EIST), 18 (MONITOR
 * FSM), 22 (limit CPUID maxval), 23 (xTPR disable), 34 (XD disable);
 * read-only 7 (performance monitoring available: 0, no PMU), 11 and 12
 * (BTS / PEBS unavailable: 1); every other bit reserved (#GP). Bits 22 and
 * 34 act on CPUID (leaf 0 reports 2; NX cleared from 0x80000001); the rest
 * are stored only (no thermal, SpeedStep or MONITOR modelled). */
#define MISC_ENABLE_RW   ((1ull << 0) | (1ull << 3) | (1ull << 16) | (1ull << 18) | (1ull << 22) | \
			  (1ull << 23) | (1ull << 34))
#define MISC_ENABLE_RO   ((1ull << 7) | (1ull << 11) | (1ull << 12))
#define MISC_LIMIT_CPUID (1ull << 22)
#define MISC_XD_DISABLE  (1ull << 34)

/* Family/model signature: a plausible part for the profile's vendor and
 * year (the profile names the CPU; this only has to look like it). */
struct cpuid_sig { const char *vendor; uint64_t until_year; uint32_t family, model, stepping; unsigned maxphy; };
static const struct cpuid_sig cpuid_sigs[] = {
	{ "intel", 2006, 0xf, 0x4, 0x3, 36 },    /* Pentium 4 Prescott (F/4/3) */
	{ "intel", 2007, 0x6, 0x0f, 0xb, 36 },   /* Core 2 Merom */
	{ "intel", 2009, 0x6, 0x1a, 0x5, 40 },   /* Nehalem-EP */
	{ "intel", 2012, 0x6, 0x2d, 0x7, 46 },   /* Sandy Bridge-EP */
	{ "intel", 2018, 0x6, 0x55, 0x4, 46 },   /* Skylake-SP */
	{ "intel", 9999, 0x6, 0x8f, 0x8, 46 },   /* Sapphire Rapids */
	{ "amd",   2006, 0xf, 0x41, 0x2, 40 },   /* K8 Opteron */
	{ "amd",   2011, 0x10, 0x04, 0x2, 48 },  /* K10 Barcelona/Shanghai */
	{ "amd",   2019, 0x17, 0x31, 0x0, 48 },  /* Zen 2 Rome */
	{ "amd",   2023, 0x19, 0x11, 0x1, 52 },  /* Zen 4 Genoa */
	{ "amd",   9999, 0x1a, 0x02, 0x1, 52 },  /* Zen 5 */
};

static const struct cpuid_sig *cpuid_sig_for(const struct vl_profile *p)
{
	const struct cpuid_sig *last = NULL;

	for (size_t i = 0; i < sizeof(cpuid_sigs) / sizeof(cpuid_sigs[0]); i++) {
		if (strcmp(cpuid_sigs[i].vendor, p->cpu_vendor) != 0)
			continue;
		last = &cpuid_sigs[i];
		if (p->cpu_year <= cpuid_sigs[i].until_year)
			return last;
	}
	return last ? last : &cpuid_sigs[4];
}

unsigned vl_platform_maxphyaddr(const struct vl_profile *p)
{
	return cpuid_sig_for(p)->maxphy;
}

static bool cpuid_is_amd(const struct vl_profile *p)
{
	return strcmp(p->cpu_vendor, "amd") == 0;
}

void vl_cpuid(struct vl_machine *m, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	const struct vl_profile *p = m->prof;
	const struct cpuid_sig *s = cpuid_sig_for(p);
	const char *vend = cpuid_is_amd(p) ? "AuthenticAMD" : "GenuineIntel";
	uint32_t fam = s->family, ext_fam = 0, mod = s->model;

	memset(out, 0, 4 * sizeof(uint32_t));
	if (fam > 0xf) {
		ext_fam = fam - 0xf;
		fam = 0xf;
	}
	switch (leaf) {
	case 0:
		/* IA32_MISC_ENABLE[22] (limit CPUID maxval) caps the basic leaves at 2 */
		out[0] = (m->priv->dev.misc_enable & MISC_LIMIT_CPUID) ? 2 : 7;
		memcpy(&out[1], vend, 4);      /* EBX */
		memcpy(&out[3], vend + 4, 4);  /* EDX */
		memcpy(&out[2], vend + 8, 4);  /* ECX */
		break;
	case 1:
		out[0] = s->stepping | (mod & 0xf) << 4 | fam << 8 | (mod >> 4) << 16 | ext_fam << 20;
		out[1] = 8u << 8 | 1u << 16;   /* CLFLUSH line 64 bytes, 1 logical CPU, APIC ID 0 */
		out[2] = (p->features_pcid ? 1u << 17 : 0) | (p->features_x2apic ? 1u << 21 : 0) |
			 (p->features_tsc_deadline ? 1u << 24 : 0);
		out[3] = 1u << 3 /* PSE */ | 1u << 4 /* TSC */ | 1u << 5 /* MSR */ | 1u << 6 /* PAE */ |
			 1u << 8 /* CX8 */ | 1u << 9 /* APIC */ | 1u << 13 /* PGE */ | 1u << 15 /* CMOV */ |
			 1u << 16 /* PAT */ | 1u << 19 /* CLFLUSH: executed (no caches are modelled: it only retires) */;
		break;
	case 7:                            /* subleaf 0 only (EAX = 0: no further subleaves) */
		if (subleaf == 0)
			out[1] = (p->features_tsc_adjust ? 1u << 1 : 0) | (p->features_smep ? 1u << 7 : 0) |
				 (p->features_smap ? 1u << 20 : 0);
		break;
	case 0x80000000:
		out[0] = 0x80000008;
		if (cpuid_is_amd(p)) {
			memcpy(&out[1], vend, 4);
			memcpy(&out[3], vend + 4, 4);
			memcpy(&out[2], vend + 8, 4);
		}
		break;
	case 0x80000001:
		out[0] = cpuid_is_amd(p) ? (s->stepping | (mod & 0xf) << 4 | fam << 8 |
							       (mod >> 4) << 16 | ext_fam << 20) : 0;
		out[2] = 1u << 0;              /* LAHF/SAHF in 64-bit mode */
		out[3] = 1u << 11 /* SYSCALL */ | ((m->priv->dev.misc_enable & MISC_XD_DISABLE) ? 0 : 1u << 20) /* NX */ |
			 (p->features_gbpages ? 1u << 26 : 0) | 1u << 27 /* RDTSCP */ | 1u << 29 /* LM */;
		break;
	case 0x80000002: case 0x80000003: case 0x80000004: {
		char brand[48] = { 0 };
		size_t bl = strnlen(p->cpu_model, sizeof(brand) - 1);
		memcpy(brand, p->cpu_model, bl);
		memcpy(out, brand + 16 * (leaf - 0x80000002), 16);
		break;
	}
	case 0x80000008:
		out[0] = s->maxphy | 48u << 8;
		break;
	default:
		break;
	}
}

#define EFER_VALID (VL_EFER_SCE | VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE)

static bool pat_valid(uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		unsigned t = (v >> (8 * i)) & 0xff;
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

/* AMD's legacy performance counters (PERF_CTL0-3 / PERF_CTR0-3 at
 * 0xC0010000-7) exist on every AMD64 CPU without a CPUID bit, so guests
 * touch them unconditionally. Counters are not modelled: as KVM with its
 * PMU disabled, they read 0 and writes are ignored. Intel profiles report
 * no architectural PMU (CPUID leaf 0xA absent), so nothing is needed there. */
static bool amd_legacy_pmc(const struct vl_machine *m, uint32_t msr)
{
	return msr >= 0xc0010000u && msr <= 0xc0010007u && !strcmp(m->prof->cpu_vendor, "amd");
}

int vl_msr_read(struct vl_machine *m, uint32_t msr, uint64_t *val)
{
	struct vl_cpu *c = &m->cpu;

	switch (msr) {
	case VL_MSR_APIC_BASE: *val = c->apic_base; return 0;
	case VL_MSR_EFER: *val = c->efer; return 0;
	case VL_MSR_STAR: *val = c->star; return 0;
	case VL_MSR_LSTAR: *val = c->lstar; return 0;
	case VL_MSR_CSTAR: *val = c->cstar; return 0;
	case VL_MSR_SFMASK: *val = c->sfmask; return 0;
	case VL_MSR_FS_BASE: *val = c->seg[VL_FS].base; return 0;
	case VL_MSR_GS_BASE: *val = c->seg[VL_GS].base; return 0;
	case VL_MSR_KERNEL_GS_BASE: *val = c->kernel_gs_base; return 0;
	case VL_MSR_TSC_AUX: *val = c->tsc_aux; return 0;
	case VL_MSR_TSC: *val = m->tsc + (uint64_t)m->tsc_offset + (uint64_t)m->priv->dev.tsc_adj; return 0;
	case MSR_TSC_ADJUST:
		if (!m->prof->features_tsc_adjust) return -1;
		*val = (uint64_t)m->priv->dev.tsc_adj; return 0;
	case VL_MSR_PAT: *val = c->pat; return 0;
	case VL_MSR_TSC_DEADLINE: return vl_apic_deadline_read(m, val);
	case MSR_SYSENTER_CS: *val = m->priv->dev.sysenter_cs; return 0;
	case MSR_SYSENTER_ESP: *val = m->priv->dev.sysenter_esp; return 0;
	case MSR_SYSENTER_EIP: *val = m->priv->dev.sysenter_eip; return 0;
	case MSR_MCG_CAP: *val = 0; return 0;      /* no machine-check banks modelled: count 0 */
	case MSR_MCG_STATUS: *val = 0; return 0;
	case MSR_MISC_ENABLE:
		if (cpuid_is_amd(m->prof)) return -1;
		*val = m->priv->dev.misc_enable; return 0;
	default: break;
	}
	if (msr >= VL_MSR_X2APIC_FIRST && msr <= VL_MSR_X2APIC_LAST)
		return vl_apic_rdmsr(m, msr, val);
	if (amd_legacy_pmc(m, msr)) {
		*val = 0;
		return 0;
	}
	return -1;
}

static bool msr_canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

int vl_msr_write(struct vl_machine *m, uint32_t msr, uint64_t val)
{
	struct vl_cpu *c = &m->cpu;

	switch (msr) {
	case VL_MSR_APIC_BASE: {
		const uint64_t ok = 0xfffff000ull | (1ull << 11) | (1ull << 10) | (1ull << 8);
		if ((val & ~ok) || ((val & (1ull << 10)) && !m->prof->features_x2apic) ||
		    ((val & (1ull << 10)) && !(val & (1ull << 11))))
			return -1;
		c->apic_base = val;
		return 0;
	}
	case VL_MSR_EFER:
		if (val & ~EFER_VALID)
			return -1;
		/* LMA is maintained by the processor (CR0.PG with LME); keep it. */
		c->efer = (val & ~VL_EFER_LMA) | (c->efer & VL_EFER_LMA);
		return 0;
	case VL_MSR_STAR: c->star = val; return 0;
	case VL_MSR_LSTAR:
		if (!msr_canonical(val)) return -1;
		c->lstar = val; return 0;
	case VL_MSR_CSTAR:
		if (!msr_canonical(val)) return -1;
		c->cstar = val; return 0;
	case VL_MSR_SFMASK: c->sfmask = val & 0xffffffffull; return 0;
	case VL_MSR_FS_BASE:
		if (!msr_canonical(val)) return -1;
		c->seg[VL_FS].base = val; return 0;
	case VL_MSR_GS_BASE:
		if (!msr_canonical(val)) return -1;
		c->seg[VL_GS].base = val; return 0;
	case VL_MSR_KERNEL_GS_BASE:
		if (!msr_canonical(val)) return -1;
		c->kernel_gs_base = val; return 0;
	case VL_MSR_TSC_AUX:
		if (val >> 32) return -1;
		c->tsc_aux = val; return 0;
	case VL_MSR_TSC:
		/* The TSC is the model's cycle count and never moves; a guest write
		 * sets the guest-visible difference instead (what the guest reads
		 * next is val plus the cycles since), as IA32_TSC_ADJUST does. */
		m->priv->dev.tsc_adj = (int64_t)(val - m->tsc - (uint64_t)m->tsc_offset);
		return 0;
	case MSR_TSC_ADJUST:
		/* SDM Vol. 3B 17.17.3: the TSC moves by what the adjustment
		 * moves; an IA32_TSC write moves the adjustment (above) — the
		 * one guest-visible difference dev.tsc_adj is this MSR. */
		if (!m->prof->features_tsc_adjust) return -1;
		m->priv->dev.tsc_adj = (int64_t)val; return 0;
	case VL_MSR_PAT:
		if (!pat_valid(val)) return -1;
		c->pat = val; return 0;
	case VL_MSR_TSC_DEADLINE: return vl_apic_deadline_write(m, val);
	case MSR_SYSENTER_CS:
		/* the selector in bits 15:0; 31:16 kept; as VT-x's 32-bit
		 * guest SYSENTER_CS field and AMD's VMCB field */
		m->priv->dev.sysenter_cs = val & 0xffffffffull; return 0;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		/* Intel 64: 64-bit addresses, canonical (SDM Vol. 4, WRMSR #GP);
		 * AMD keeps only bits 31:0 (SYSENTER is legacy-mode only there:
		 * APM Vol. 2 6.1.1 — KVM keeps the high halves in software only
		 * for Intel-compatible guests) */
		if (cpuid_is_amd(m->prof))
			val &= 0xffffffffull;
		else if (!msr_canonical(val))
			return -1;
		*(msr == MSR_SYSENTER_ESP ? &m->priv->dev.sysenter_esp : &m->priv->dev.sysenter_eip) = val;
		return 0;
	case MSR_MCG_STATUS:
		return val ? -1 : 0;                     /* only 0 may be written (SDM 15.3.1.2) */
	case MSR_MISC_ENABLE:
		if (cpuid_is_amd(m->prof) || (val & ~(MISC_ENABLE_RW | MISC_ENABLE_RO)))
			return -1;
		m->priv->dev.misc_enable = (val & MISC_ENABLE_RW) | (m->priv->dev.misc_enable & MISC_ENABLE_RO);
		return 0;
	default: break;
	}
	if (msr >= VL_MSR_X2APIC_FIRST && msr <= VL_MSR_X2APIC_LAST)
		return vl_apic_wrmsr(m, msr, val);
	if (amd_legacy_pmc(m, msr))
		return 0;
	return -1;
}
