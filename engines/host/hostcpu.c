/* hostcpu.c — identify the host CPU by CPUID (vendor, display family and
 * model as the Intel SDM and AMD APM define them, brand string, hypervisor
 * bit, AMX) and map it to the profile that models it. The map is a table:
 * exact (vendor, family, model range) rows first, then per-vendor stand-ins
 * that say why they stand in. */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>

#include "virtlab/hostcpu.h"

void vl_hostcpu_identify(struct vl_hostcpu *c)
{
	unsigned a = 0, b = 0, cx = 0, d = 0;
	memset(c, 0, sizeof *c);
	__cpuid(0, a, b, cx, d);
	unsigned maxleaf = a;
	memcpy(c->vendor, &b, 4);
	memcpy(c->vendor + 4, &d, 4);
	memcpy(c->vendor + 8, &cx, 4);
	__cpuid(1, a, b, cx, d);
	unsigned fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
	c->stepping = a & 0xf;
	if (fam == 0xf)
		fam += (a >> 20) & 0xff;
	if (fam == 0x6 || fam >= 0xf)
		mod |= ((a >> 16) & 0xf) << 4;
	c->family = fam;
	c->model = mod;
	c->hypervisor = (cx >> 31) & 1;
	if (maxleaf >= 7) {
		__cpuid_count(7, 0, a, b, cx, d);
		c->amx = (d >> 24) & 1;
	}
	__cpuid(0x80000000, a, b, cx, d);
	if (a >= 0x80000004) {
		unsigned r[12];
		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, r[i * 4], r[i * 4 + 1], r[i * 4 + 2], r[i * 4 + 3]);
		memcpy(c->brand, r, 48);
		c->brand[48] = '\0';
		char *s = c->brand;
		while (*s == ' ')
			s++;
		memmove(c->brand, s, strlen(s) + 1);
		for (size_t l = strlen(c->brand); l && c->brand[l - 1] == ' '; l--)
			c->brand[l - 1] = '\0';
	}
}

/* Exact rows: the CPUs a profile was written for. */
static const struct {
	const char *vendor;
	unsigned family, model_lo, model_hi;
	const char *profile, *what;
} hostcpu_exact[] = {
	{ "AuthenticAMD", 0x1a, 0x00, 0xff, "zen5", "AMD family 0x1a: Zen 5" },
	{ "AuthenticAMD", 0x19, 0x10, 0x1f, "zen4", "AMD family 0x19 model 0x10-0x1f: Zen 4 (Genoa)" },
	{ "AuthenticAMD", 0x19, 0xa0, 0xaf, "zen4", "AMD family 0x19 model 0xa0-0xaf: Zen 4 (Bergamo/Siena)" },
	{ "GenuineIntel", 6, 0xcf, 0xcf, "emerald-rapids", "Intel family 6 model 0xcf (207): Emerald Rapids" },
	{ "GenuineIntel", 6, 0x8f, 0x8f, "sapphire-rapids", "Intel family 6 model 0x8f (143): Sapphire Rapids" },
	{ "GenuineIntel", 6, 0x55, 0x55, "skylake-sp", "Intel family 6 model 0x55 (85): Skylake-SP" },
	{ "GenuineIntel", 6, 0x1a, 0x1a, "nehalem", "Intel family 6 model 0x1a (26): Nehalem-EP" },
	{ "GenuineIntel", 6, 0x0f, 0x0f, "core2", "Intel family 6 model 0x0f (15): Core 2 (Merom/Conroe)" },
	{ "GenuineIntel", 0xf, 0x03, 0x06, "p4", "Intel family 0xf model 3-6: Pentium 4 (Prescott)" },
};

int vl_hostcpu_profile(const struct vl_hostcpu *c, char *profile, size_t n, char *why, size_t whylen)
{
	for (size_t i = 0; i < sizeof hostcpu_exact / sizeof hostcpu_exact[0]; i++)
		if (!strcmp(c->vendor, hostcpu_exact[i].vendor) && c->family == hostcpu_exact[i].family &&
		    c->model >= hostcpu_exact[i].model_lo && c->model <= hostcpu_exact[i].model_hi) {
			snprintf(profile, n, "%s", hostcpu_exact[i].profile);
			snprintf(why, whylen, "CPUID %s matches profile %s", hostcpu_exact[i].what, hostcpu_exact[i].profile);
			return 1;
		}
	const char *hv = c->hypervisor ? " (the model a hypervisor presents need not be the real CPU's)" : "";
	if (!strcmp(c->vendor, "GenuineIntel") && c->amx) {
		snprintf(profile, n, "emerald-rapids");
		snprintf(why, whylen, "no profile for Intel family %u model 0x%x%s; CPUID shows AMX, which only Sapphire and "
			 "Emerald Rapids Xeons have: used emerald-rapids, the fleet's Intel CPU (same core family as "
			 "sapphire-rapids)", c->family, c->model, hv);
	} else if (!strcmp(c->vendor, "GenuineIntel")) {
		snprintf(profile, n, "sapphire-rapids");
		snprintf(why, whylen, "no profile for Intel family %u model 0x%x%s: used sapphire-rapids, the nearest "
			 "current Intel server profile", c->family, c->model, hv);
	} else if (!strcmp(c->vendor, "AuthenticAMD")) {
		snprintf(profile, n, c->family > 0x1a ? "zen5" : "zen4");
		snprintf(why, whylen, "no profile for AMD family 0x%x model 0x%x%s: used %s, the nearest AMD profile",
			 c->family, c->model, hv, profile);
	} else {
		snprintf(profile, n, "zen4");
		snprintf(why, whylen, "no profile for vendor '%s'%s: used zen4, the default profile", c->vendor, hv);
	}
	return 0;
}
