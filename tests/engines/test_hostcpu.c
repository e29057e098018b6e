/* test_hostcpu.c — host CPU identification (CPUID, checked against the
 * kernel's /proc/cpuinfo as an independent oracle) and the CPU -> profile
 * map of `virtlab validate`: the fleet's two CPUs match their profiles
 * exactly, anything else gets a stand-in with the reason, and every profile
 * the map names loads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/hostcpu.h"
#include "virtlab/profile.h"

static void map(const char *vendor, unsigned fam, unsigned model, bool amx, bool hv,
		const char *want, int want_exact, const char *why_needle)
{
	struct vl_hostcpu c;
	memset(&c, 0, sizeof c);
	snprintf(c.vendor, sizeof c.vendor, "%s", vendor);
	c.family = fam;
	c.model = model;
	c.amx = amx;
	c.hypervisor = hv;
	char prof[64], why[400];
	int exact = vl_hostcpu_profile(&c, prof, sizeof prof, why, sizeof why);
	if (strcmp(prof, want) || exact != want_exact)
		fail_msg("%s family 0x%x model 0x%x: got %s (exact %d), want %s (exact %d): %s", vendor, fam, model, prof,
			 exact, want, want_exact, why);
	assert_null(strchr(why, '\n'));
	if (why_needle && !strstr(why, why_needle))
		fail_msg("reason '%s' lacks '%s'", why, why_needle);
	struct vl_profile p;
	char err[512];
	if (vl_profile_load(prof, &p, err, sizeof err))
		fail_msg("profile %s named by the map does not load: %s", prof, err);
}

static void test_map(void **st)
{
	/* the fleet (issue 12) */
	map("AuthenticAMD", 0x1a, 0x02, false, true, "zen5", 1, "Zen 5");
	map("GenuineIntel", 6, 207, true, true, "emerald-rapids", 1, "Emerald Rapids");
	/* other profiled CPUs */
	map("GenuineIntel", 6, 0x8f, true, false, "sapphire-rapids", 1, NULL);
	map("GenuineIntel", 6, 0x55, false, false, "skylake-sp", 1, NULL);
	map("AuthenticAMD", 0x19, 0x11, false, false, "zen4", 1, NULL);
	/* a hypervisor's generic CPU model with AMX (this kind of host) */
	map("GenuineIntel", 6, 0xa7, true, true, "emerald-rapids", 0, "AMX");
	map("GenuineIntel", 6, 0xa7, false, true, "sapphire-rapids", 0, "hypervisor");
	map("AuthenticAMD", 0x17, 0x31, false, false, "zen4", 0, "no profile for AMD family 0x17");
	map("HygonGenuine", 0x18, 0, false, false, "zen4", 0, "HygonGenuine");
}

/* The value of "key : value" in /proc/cpuinfo's first processor, or -1. */
static long cpuinfo_num(const char *key)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && (line[kl] == ' ' || line[kl] == '\t')) {
			char *colon = strchr(line, ':');
			v = colon ? strtol(colon + 1, NULL, 0) : -1;
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static void test_identify_matches_kernel(void **st)
{
	struct vl_hostcpu c;
	vl_hostcpu_identify(&c);
	assert_int_equal(strlen(c.vendor), 12);
	long fam = cpuinfo_num("cpu family"), model = cpuinfo_num("model");
	if (fam < 0 || model < 0)
		skip();
	assert_int_equal(c.family, fam);
	assert_int_equal(c.model, model);
	assert_int_equal(c.stepping, cpuinfo_num("stepping"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_identify_matches_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
