/* test_profile.c — the profile loader (machine/profile.c) and the shipped
 * profiles: every profile loads; missing values, unknown keys, bad numbers,
 * duplicates and unknown names are errors; the "need" rule follows the
 * feature flags; every field has a range and out-of-range values (and bad
 * TLB geometry) are refused naming field, value and range; every value line
 * carries provenance (source / derived / estimate), derivations are applied
 * once by the loader and unknown rules or fields are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtlab/profile.h"

static const char *const shipped[] = { "p4", "core2", "nehalem", "skylake-sp", "zen4" };

/* The fields, from the same table the loader uses. */
struct tfield { const char *sec, *key, *need, *kind; };
static const struct tfield tfields[] = {
#define F(s, k, kind, need, doc) { #s, #k, #need, #kind },
#include "virtlab/profile_fields.def"
#undef F
};
#define NTF (sizeof tfields / sizeof tfields[0])

/* The range table, as the loader reads it. */
struct trange { const char *sec, *key; unsigned long long min, max; };
static const struct trange tranges[] = {
#define R(s, k, lo, hi) { #s, #k, lo, hi },
#include "virtlab/profile_ranges.def"
#undef R
};
#define NTR (sizeof tranges / sizeof tranges[0])

static char tmpdir[256];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *b = malloc(n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	return b;
}

static void key_of(const char *line, char *key, size_t n)
{
	while (*line == ' ' || *line == '\t')
		line++;
	size_t i = 0;
	while (line[i] && line[i] != '=' && line[i] != ' ' && line[i] != '\t' && i + 1 < n) {
		key[i] = line[i];
		i++;
	}
	key[i] = '\0';
}

/* Write a variant of profile `base`: drop [sec] key (if drop_sec), replace its
 * value line by `replace` (if given), and append `extra` after [extra_sec]. */
static const char *variant(const char *base, const char *drop_sec, const char *drop_key, const char *replace,
			   const char *extra_sec, const char *extra, const char *outname)
{
	static char out[512];
	char path[512];
	snprintf(path, sizeof path, "%s/%s.ini", vl_profile_dir(), base);
	char *src = slurp(path);
	snprintf(out, sizeof out, "%s/%s", tmpdir, outname);
	FILE *f = fopen(out, "w");
	assert_non_null(f);
	char sec[64] = "";
	for (char *save = NULL, *line = strtok_r(src, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[') {
			snprintf(sec, sizeof sec, "%.*s", (int)(strcspn(line + 1, "]")), line + 1);
			fprintf(f, "%s\n", line);
			if (extra_sec && !strcmp(sec, extra_sec))
				fprintf(f, "%s\n", extra);
			continue;
		}
		char key[64];
		key_of(line, key, sizeof key);
		if (drop_sec && !strcmp(sec, drop_sec) && !strcmp(key, drop_key)) {
			if (replace)
				fprintf(f, "%s\n", replace);
			continue;
		}
		fprintf(f, "%s\n", line);
	}
	fclose(f);
	free(src);
	return out;
}

static void expect_error(const char *path, const char *needle)
{
	struct vl_profile p;
	char err[512] = "";
	assert_int_equal(vl_profile_load(path, &p, err, sizeof err), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
	assert_null(strchr(err, '\n'));
}

static void test_shipped_load(void **st)
{
	char **names;
	size_t n = vl_profile_list(&names);
	assert_true(n >= 5);
	for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
		bool found = false;
		for (size_t k = 0; k < n; k++)
			found |= !strcmp(names[k], shipped[i]);
		if (!found)
			fail_msg("profile %s not shipped", shipped[i]);
	}
	for (size_t k = 0; k < n; k++) {
		struct vl_profile p;
		char err[512] = "";
		if (vl_profile_load(names[k], &p, err, sizeof err))
			fail_msg("profile %s: %s", names[k], err);
		assert_string_equal(p.cpu_name, names[k]);
		assert_true(p.cpu_mhz > 0);
		assert_true(!strcmp(p.cpu_vendor, "intel") || !strcmp(p.cpu_vendor, "amd"));
		/* features consistent with the vendor */
		if (!strcmp(p.cpu_vendor, "intel"))
			assert_false(p.features_svm || p.features_npt || p.features_asid);
		else
			assert_false(p.features_vmx || p.features_ept || p.features_vpid);
		assert_true(p.tlb_l1d_entries > 0 && p.tlb_l1d_ways > 0 && p.tlb_l1d_entries % p.tlb_l1d_ways == 0);
		assert_true(p.tlb_l1i_entries > 0 && p.tlb_l1i_ways > 0 && p.tlb_l1i_entries % p.tlb_l1i_ways == 0);
		assert_true(p.tlb_l2_ways > 0 && p.tlb_l2_entries % p.tlb_l2_ways == 0);
	}
	vl_profile_list_free(names, n);
}

static void test_known_features(void **st)
{
	struct vl_profile p;
	char err[512];
	assert_int_equal(vl_profile_load("p4", &p, err, sizeof err), 0);
	assert_true(p.features_vmx);
	assert_false(p.features_ept);
	assert_false(p.features_vpid);
	assert_int_equal(p.cpu_mhz, 3800);
	assert_int_equal(vl_profile_load("core2", &p, err, sizeof err), 0);
	assert_true(p.features_vmx);
	assert_false(p.features_ept);
	assert_int_equal(vl_profile_load("nehalem", &p, err, sizeof err), 0);
	assert_true(p.features_ept && p.features_vpid);
	assert_int_equal(vl_profile_load(VL_DEFAULT_PROFILE, &p, err, sizeof err), 0);
	assert_true(p.features_svm && p.features_npt && p.features_asid);
}

static void test_unknown_name(void **st)
{
	struct vl_profile p;
	char err[512] = "";
	assert_int_equal(vl_profile_load("pentium9", &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown profile 'pentium9'"));
	for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++)
		assert_non_null(strstr(err, shipped[i]));
	assert_int_equal(vl_profile_load("../etc/passwd", &p, err, sizeof err), -1);
	assert_int_equal(vl_profile_load("", &p, err, sizeof err), -1);
}

/* Every ALWAYS field, dropped, is reported as missing with section and key. */
static void test_missing_each(void **st)
{
	for (size_t i = 0; i < NTF; i++) {
		if (strcmp(tfields[i].need, "ALWAYS"))
			continue;
		char name[64], needle[128];
		snprintf(name, sizeof name, "miss-%zu.ini", i);
		const char *path = variant(VL_DEFAULT_PROFILE, tfields[i].sec, tfields[i].key, NULL, NULL, NULL, name);
		snprintf(needle, sizeof needle, "missing [%s] %s", tfields[i].sec, tfields[i].key);
		expect_error(path, needle);
		unlink(path);
	}
}

/* need VMX/SVM/EPT/NPT: required only when the feature is 1. */
static void test_need_rule(void **st)
{
	static const struct { const char *need, *feat, *with, *without; } rule[] = {
		{ "VMX", "vmx", "nehalem", "zen4" }, { "SVM", "svm", "zen4", "nehalem" },
		{ "EPT", "ept", "nehalem", "p4" },   { "NPT", "npt", "zen4", "p4" },
	};
	for (size_t i = 0; i < NTF; i++) {
		for (size_t r = 0; r < sizeof rule / sizeof rule[0]; r++) {
			if (strcmp(tfields[i].need, rule[r].need))
				continue;
			char needle[128];
			snprintf(needle, sizeof needle, "missing [%s] %s", tfields[i].sec, tfields[i].key);
			/* profile with the feature: dropping the value is an error */
			const char *path = variant(rule[r].with, tfields[i].sec, tfields[i].key, NULL, NULL, NULL, "need-with.ini");
			expect_error(path, needle);
			/* profile without it: the value may be absent */
			path = variant(rule[r].without, tfields[i].sec, tfields[i].key, NULL, NULL, NULL, "need-without.ini");
			struct vl_profile p;
			char err[512];
			if (vl_profile_load(path, &p, err, sizeof err))
				fail_msg("%s without %s: %s", rule[r].without, tfields[i].key, err);
		}
	}
	/* And the rule is live: flipping a feature off in a profile is accepted. */
	const char *path = variant("nehalem", "features", "ept", "ept = 0 ; estimate: test", NULL, NULL, "noept.ini");
	struct vl_profile p;
	char err[512];
	assert_int_equal(vl_profile_load(path, &p, err, sizeof err), 0);
	assert_false(p.features_ept);
}

static void test_bad_values(void **st)
{
	expect_error(variant("zen4", NULL, NULL, NULL, "cpu", "bogus = 1 ; source: test", "unk.ini"), "unknown key [cpu] bogus");
	expect_error(variant("zen4", NULL, NULL, NULL, "tlb", "walkref = 1 ; source: typo", "typo.ini"), "unknown key [tlb] walkref");
	expect_error(variant("zen4", "tlb", "walk_ref", "walk_ref = 1x ; source: test", NULL, NULL, "num.ini"), "bad number");
	expect_error(variant("zen4", "tlb", "walk_ref", "walk_ref = -3 ; source: test", NULL, NULL, "neg.ini"), "bad number");
	expect_error(variant("zen4", "tlb", "walk_ref", "walk_ref = ; source: test", NULL, NULL, "empty.ini"), "bad number");
	expect_error(variant("zen4", "tlb", "walk_ref", "walk_ref = 99999999999999999999999 ; source: test", NULL, NULL, "big.ini"), "bad number");
	expect_error(variant("zen4", "features", "svm", "svm = maybe ; source: test", NULL, NULL, "bool.ini"), "bad boolean");
	expect_error(variant("zen4", NULL, NULL, NULL, "tlb", "l2_hit = 3 ; source: dup", "dup.ini"), "duplicate [tlb] l2_hit");
	/* a section nobody declared */
	char path[512];
	snprintf(path, sizeof path, "%s/newsec.ini", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[nosuchsection]\nfoo = 1 ; source: test\n");
	fclose(f);
	expect_error(path, "unknown key [nosuchsection] foo");
	expect_error("/nonexistent/dir/x.ini", "cannot open");
}

/* Loaded by name, [cpu] name must be the file name. */
static void test_name_mismatch(void **st)
{
	variant("zen4", NULL, NULL, NULL, NULL, NULL, "other.ini");
	char *old = getenv("VIRTLAB_PROFILES") ? strdup(getenv("VIRTLAB_PROFILES")) : NULL;
	setenv("VIRTLAB_PROFILES", tmpdir, 1);
	struct vl_profile p;
	char err[512] = "";
	int rc = vl_profile_load("other", &p, err, sizeof err);
	if (old) {
		setenv("VIRTLAB_PROFILES", old, 1);
		free(old);
	} else {
		unsetenv("VIRTLAB_PROFILES");
	}
	assert_int_equal(rc, -1);
	if (!strstr(err, "must match the file name"))
		fail_msg("%s", err);
}

/* Every value line of every shipped profile carries "; source:",
 * "; derived:", "; estimate:" or "; unused:" with text after it. */
static void test_every_value_sourced(void **st)
{
	char **names;
	size_t n = vl_profile_list(&names);
	assert_true(n > 0);
	int bad = 0, values = 0;
	for (size_t k = 0; k < n; k++) {
		char path[512];
		snprintf(path, sizeof path, "%s/%s.ini", vl_profile_dir(), names[k]);
		char *src = slurp(path);
		int lineno = 0;
		for (char *line = src, *eol; line && *line; line = eol ? eol + 1 : NULL) {
			eol = strchr(line, '\n');
			if (eol)
				*eol = '\0';
			lineno++;
			const char *s = line + strspn(line, " \t");
			if (!*s || *s == ';' || *s == '#' || *s == '[')
				continue;
			values++;
			const char *c = strstr(s, " ; ");
			const char *tag = c ? c + 3 : NULL;
			bool ok = tag && ((!strncmp(tag, "source:", 7) && strlen(tag + 7) > 3) ||
					  (!strncmp(tag, "derived:", 8) && strlen(tag + 8) > 3) ||
					  (!strncmp(tag, "estimate:", 9) && strlen(tag + 9) > 3) ||
					  (!strncmp(tag, "unused:", 7) && strlen(tag + 7) > 3));
			if (!ok) {
				print_error("%s:%d: value without a source comment: %s\n", path, lineno, s);
				bad++;
			}
		}
		free(src);
	}
	vl_profile_list_free(names, n);
	int always = 0;
	for (size_t i = 0; i < NTF; i++)
		always += !strcmp(tfields[i].need, "ALWAYS");
	assert_true(values >= 5 * always);
	assert_int_equal(bad, 0);
}


static void range_of(const struct tfield *f, unsigned long long *lo, unsigned long long *hi)
{
	*lo = 0;
	*hi = VL_PROFILE_COST_MAX;
	for (size_t r = 0; r < NTR; r++)
		if (!strcmp(tranges[r].sec, f->sec) && !strcmp(tranges[r].key, f->key)) {
			*lo = tranges[r].min;
			*hi = tranges[r].max;
		}
}

/* Every range line names a numeric field; every numeric field, one past
 * either bound, is refused with "[sec] key = value out of range [lo, hi]". */
static void test_ranges(void **st)
{
	for (size_t r = 0; r < NTR; r++) {
		bool found = false;
		for (size_t i = 0; i < NTF; i++)
			found |= !strcmp(tfields[i].sec, tranges[r].sec) && !strcmp(tfields[i].key, tranges[r].key) &&
				 !strcmp(tfields[i].kind, "U64");
		if (!found)
			fail_msg("profile_ranges.def: [%s] %s is not a numeric field", tranges[r].sec, tranges[r].key);
		assert_true(tranges[r].min <= tranges[r].max);
	}
	const char *base[] = { "zen4", "skylake-sp" };   /* every field present in one of them */
	int checked = 0;
	for (size_t i = 0; i < NTF; i++) {
		if (strcmp(tfields[i].kind, "U64"))
			continue;
		const char *b = base[strcmp(tfields[i].need, "VMX") == 0 || strcmp(tfields[i].need, "EPT") == 0];
		unsigned long long lo, hi, bad[3];
		int nbad = 0;
		range_of(&tfields[i], &lo, &hi);
		if (lo > 0)
			bad[nbad++] = lo - 1;
		bad[nbad++] = hi + 1;
		bad[nbad++] = 18446744073709551615ull;
		for (int k = 0; k < nbad; k++) {
			char line[160], needle[160];
			snprintf(line, sizeof line, "%s = %llu ; estimate: range test", tfields[i].key, bad[k]);
			snprintf(needle, sizeof needle, "[%s] %s = %llu out of range [%llu, %llu]", tfields[i].sec,
				 tfields[i].key, bad[k], lo, hi);
			expect_error(variant(b, tfields[i].sec, tfields[i].key, line, NULL, NULL, "range.ini"), needle);
			checked++;
		}
	}
	assert_true(checked > 2 * 60);
	/* a cost at its maximum is accepted */
	struct vl_profile p;
	char err[512];
	char line[96];
	snprintf(line, sizeof line, "cpuid = %llu ; estimate: bound", (unsigned long long)VL_PROFILE_COST_MAX);
	assert_int_equal(vl_profile_load(variant("zen4", "vmm", "cpuid", line, NULL, NULL, "max.ini"), &p, err, sizeof err), 0);
	assert_int_equal(p.vmm_cpuid, VL_PROFILE_COST_MAX);
}

/* The mutated profiles of ../shared/repro (issue 15 class 3) as this test
 * builds them: L1 D-TLB of 0 entries (NULL TLB), of 2^64-1 (host memory),
 * a cost of 2^64-1 (sums wrap). */
static void test_repro_profiles(void **st)
{
	expect_error(variant("skylake-sp", "tlb", "l1d_entries", "l1d_entries = 0", NULL, NULL, "r1.ini"),
		     "[tlb] l1d_entries = 0 out of range [1, 4096]");
	expect_error(variant("skylake-sp", "tlb", "l1i_entries", "l1i_entries = 0", NULL, NULL, "r2.ini"),
		     "[tlb] l1i_entries = 0 out of range [1, 4096]");
	expect_error(variant("skylake-sp", "tlb", "l1d_entries", "l1d_entries = 18446744073709551615", NULL, NULL,
			     "r3.ini"), "[tlb] l1d_entries = 18446744073709551615 out of range");
	expect_error(variant("zen4", "vmm", "cpuid", "cpuid = 18446744073709551615", NULL, NULL, "r4.ini"),
		     "[vmm] cpuid = 18446744073709551615 out of range [0, 1000000]");
	expect_error(variant("zen4", "cpu", "mhz", "mhz = 0 ; estimate: test", NULL, NULL, "r5.ini"),
		     "[cpu] mhz = 0 out of range [1, 100000]");
}

static void test_tlb_geometry(void **st)
{
	expect_error(variant("zen4", "tlb", "l1d_ways", "l1d_ways = 7 ; estimate: test", NULL, NULL, "g1.ini"),
		     "l1d_entries = 72 with l1d_ways = 7: entries must be a multiple of ways");
	expect_error(variant("zen4", "tlb", "l1i_ways", "l1i_ways = 128 ; estimate: test", NULL, NULL, "g2.ini"),
		     "l1i_entries = 64 with l1i_ways = 128");
	expect_error(variant("zen4", "tlb", "l2_ways", "l2_ways = 5 ; estimate: test", NULL, NULL, "g3.ini"),
		     "l2_entries = 3072 with l2_ways = 5");
	expect_error(variant("zen4", "tlb", "l2_ways", "l2_ways = 0 ; estimate: test", NULL, NULL, "g4.ini"),
		     "[tlb] l2_ways = 0 out of range [1, 4096]");
	/* no L2 TLB: any ways */
	struct vl_profile p;
	char err[512];
	const char *path = variant("zen4", "tlb", "l2_entries", "l2_entries = 0 ; estimate: no L2", NULL, NULL, "g5.ini");
	if (vl_profile_load(path, &p, err, sizeof err))
		fail_msg("%s", err);
}

/* A value without provenance, with an empty or unknown tag, is refused. */
static void test_provenance_required(void **st)
{
	static const char *const lines[] = {
		"walk_ref = 14", "walk_ref = 14 ; ", "walk_ref = 14 ; source:", "walk_ref = 14 ; source: ab",
		"walk_ref = 14 ; recalled: Agner Fog", "walk_ref = 14 ; see Agner Fog",
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		expect_error(variant("zen4", "tlb", "walk_ref", lines[i], NULL, NULL, "prov.ini"),
			     "[tlb] walk_ref: no provenance");
	expect_error(variant("zen4", "cpu", "vendor", "vendor = amd", NULL, NULL, "prov2.ini"), "[cpu] vendor: no provenance");
	expect_error(variant("zen4", "features", "svm", "svm = 1", NULL, NULL, "prov3.ini"), "[features] svm: no provenance");
	struct vl_profile p;
	char err[512];
	assert_int_equal(vl_profile_load(variant("zen4", "tlb", "walk_ref", "walk_ref = 14 ; estimate: why not",
						 NULL, NULL, "prov4.ini"), &p, err, sizeof err), 0);
}

static const struct vl_profile_value *value_of(const struct vl_profile_value *v, size_t n, const char *sec,
					       const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].section, sec) && !strcmp(v[i].key, key))
			return &v[i];
	fail_msg("no value [%s] %s", sec, key);
	return NULL;
}

/* A small derived profile: every rule and reference form, applied once, with
 * the class following the inputs. */
static void test_derivations(void **st)
{
	struct vl_profile sky, z, p;
	char err[512];
	assert_int_equal(vl_profile_load("skylake-sp", &sky, err, sizeof err), 0);
	assert_int_equal(vl_profile_load("zen4", &z, err, sizeof err), 0);
	/* the base for the derived values below: stated by this test */
	char *path = strdup(variant("zen4", "cpu", "mhz", "mhz = 2000 ; source: test clock", NULL, NULL, "d0.ini"));
	char dir[512];
	snprintf(dir, sizeof dir, "%s/d1.ini", tmpdir);
	FILE *f = fopen(dir, "w");
	assert_non_null(f);
	char *src = slurp(path);
	free(path);
	/* rewrite lines of the copy */
	static const struct { const char *sec, *key, *line; } sub[] = {
		{ "tlb", "l1d_ways", "l1d_ways = tlb.l1d_entries ; derived: fully associative" },
		{ "insn", "io", "io = ns(500) ; derived: 500 ns at this clock" },
		{ "vmm", "io", "io = us(0.25) + insn.io ; derived: chained on a derived value" },
		{ "vmm", "cpuid", "cpuid = vmm.exit_dispatch * 2 ; derived: from an estimate" },
		{ "vmm", "msr", "msr = same(skylake-sp) ; derived: the same handler" },
		{ "vmm", "hlt", "hlt = skylake-sp:vmx.vmexit + (10 - 4) / 3 ; derived: arithmetic" },
		{ "tlb", "pwc_entries", "pwc_entries = 24 ; source: a sourced input" },
		{ "vmm", "intr", "intr = scaled(skylake-sp, vmm.exit_dispatch) ; derived: scales like dispatch" },
		{ "tlb", "ntlb_entries", "ntlb_entries = tlb.pwc_entries / 2 - 0.5 ; derived: rounds half up" },
	};
	char sec[64] = "";
	for (char *save = NULL, *line = strtok_r(src, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[')
			snprintf(sec, sizeof sec, "%.*s", (int)strcspn(line + 1, "]"), line + 1);
		char key[64];
		key_of(line, key, sizeof key);
		const char *out = line;
		for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++)
			if (!strcmp(sec, sub[i].sec) && !strcmp(key, sub[i].key))
				out = sub[i].line;
		fprintf(f, "%s\n", out);
	}
	fclose(f);
	free(src);
	struct vl_profile_value *v;
	size_t n;
	if (vl_profile_describe(dir, &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(n, NTF);
	assert_int_equal(p.tlb_l1d_ways, p.tlb_l1d_entries);
	assert_int_equal(p.insn_io, 1000);                      /* 500 ns at 2000 MHz */
	assert_int_equal(p.vmm_io, 500 + 1000);                 /* us(0.25) = 500, + insn.io once */
	assert_int_equal(p.vmm_cpuid, 2 * z.vmm_exit_dispatch);
	assert_int_equal(p.vmm_msr, sky.vmm_msr);
	assert_int_equal(p.vmm_hlt, sky.vmx_vmexit + 2);
	assert_int_equal(p.tlb_ntlb_entries, 12);               /* 11.5 rounds to 12 */
	assert_int_equal(p.vmm_intr, (sky.vmm_intr * z.vmm_exit_dispatch * 2 + sky.vmm_exit_dispatch) /
					     (2 * sky.vmm_exit_dispatch));   /* rounded half up */
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "intr")), "estimated");
	assert_string_equal(vl_profile_class(value_of(v, n, "tlb", "pwc_entries")), "sourced");
	assert_string_equal(vl_profile_class(value_of(v, n, "tlb", "ntlb_entries")), "derived");
	assert_string_equal(vl_profile_class(value_of(v, n, "insn", "io")), "derived");    /* mhz sourced here */
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "cpuid")), "estimated"); /* input an estimate */
	assert_string_equal(value_of(v, n, "vmm", "cpuid")->expr, "vmm.exit_dispatch * 2");
	assert_true(value_of(v, n, "vmm", "cpuid")->on_estimate);
	char num[32];
	snprintf(num, sizeof num, "%llu", (unsigned long long)p.vmm_io);
	assert_string_equal(value_of(v, n, "vmm", "io")->value, num);
	free(v);
}

static void test_derivation_errors(void **st)
{
	static const struct { const char *line, *needle; } bad[] = {
		{ "cpuid = foo(3) ; derived: test", "[vmm] cpuid: derived: unknown rule 'foo'" },
		{ "cpuid = vmm.nosuch + 1 ; derived: test", "[vmm] cpuid: derived: unknown field 'vmm.nosuch'" },
		{ "cpuid = cpu.model ; derived: test", "unknown field 'cpu.model'" },
		{ "cpuid = nosuchprofile:vmm.cpuid ; derived: test", "unknown profile 'nosuchprofile'" },
		{ "cpuid = skylake-sp:vmm.bogus ; derived: test", "unknown field 'skylake-sp:vmm.bogus'" },
		{ "cpuid = vmm.cpuid + 1 ; derived: test", "derivation cycle through 'vmm.cpuid'" },
		{ "cpuid = vmm.cpuid-1 ; derived: test", "unknown field 'vmm.cpuid-1'" },
		{ "cpuid = 100 ; derived: test", "a derived value is its rule, not a number" },
		{ "cpuid = 5 / (2 - 2) ; derived: test", "division by zero" },
		{ "cpuid = 3 - 5 ; derived: test", "out of range [0, 1000000]" },
		{ "cpuid = 2000 * 1000 ; derived: test", "[vmm] cpuid = 2000 * 1000 = 2e+06 out of range [0, 1000000]" },
		{ "cpuid = (1 + 2 ; derived: test", "missing ')'" },
		{ "cpuid = 1 2 ; derived: test", "unexpected '2'" },
		{ "cpuid = svm.vmexit + vmx.vmexit ; derived: test", "uses 'vmx.vmexit', which this profile lacks" },
		{ "cpuid = ns(100 ; derived: test", "missing ')'" },
		{ "cpuid = same(p4 ; derived: test", "missing ')'" },
		{ "cpuid = 1.2.3 ; derived: test", "bad number '1.2.3'" },
		{ "cpuid = scaled(p4) ; derived: test", "scaled() takes a profile name and a field" },
		{ "cpuid = scaled(p4, vmm.nosuch) ; derived: test", "unknown field 'vmm.nosuch'" },
		{ "cpuid = scaled(p4, tlb.l2_entries) ; derived: test", "scaled(): 'p4:tlb.l2_entries' is 0" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_error(variant("zen4", "vmm", "cpuid", bad[i].line, NULL, NULL, "derr.ini"), bad[i].needle);
	/* two fields deriving from each other */
	const char *p1 = variant("zen4", "vmm", "cpuid", "cpuid = insn.hlt ; derived: test", NULL, NULL, "cyc1.ini");
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s/cyc2.ini", tmpdir);
	assert_int_equal(rename(p1, tmp), 0);
	char *src = slurp(tmp);
	char *at = strstr(src, "\nhlt = ");
	assert_non_null(at);
	FILE *f = fopen(tmp, "w");
	fprintf(f, "%.*s\nhlt = vmm.cpuid ; derived: test2%s", (int)(at - src), src, strchr(at + 1, '\n'));
	fclose(f);
	free(src);
	expect_error(tmp, "derivation cycle");
	/* a string or boolean cannot be derived */
	expect_error(variant("zen4", "features", "svm", "svm = features.npt ; derived: test", NULL, NULL, "db.ini"),
		     "only a number can be derived");
}

/* Shipped profile `prof`'s value sec.key counts in share class `cls`. */
static void expect_class(const char *prof, const char *sec, const char *key, const char *cls)
{
	struct vl_profile p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	if (vl_profile_describe(prof, &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_string_equal(vl_profile_class(value_of(v, n, sec, key)), cls);
	free(v);
}

/* Rules D5-D9 (profiles/SOURCES.md) as the shipped profiles state them, and
 * their forms on a small variant: evaluated once (one rounding, half up, at
 * the end) and a negative round-trip difference refused, not clamped. */
static void test_rules_d5_d9(void **st)
{
	(void)st;
	struct vl_profile sky, spr, z, p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	assert_int_equal(vl_profile_load("skylake-sp", &sky, err, sizeof err), 0);
	assert_int_equal(vl_profile_load("sapphire-rapids", &spr, err, sizeof err), 0);
	assert_int_equal(vl_profile_load("zen4", &z, err, sizeof err), 0);
	/* D5: Sandy Bridge's 784-cycle hardware round trip (F1), split by D1 */
	assert_int_equal(sky.vmx_vmexit + sky.vmx_vmentry, 784);
	assert_int_equal(spr.vmx_vmexit + spr.vmx_vmentry, 784);
	/* D6 on F4's Cascade Lake (2.5 GHz): null hypercall 0.46 us = 1150 cycles
	 * = hardware + ten VMREADs (F2) + dispatch; CPUID +0.08 us, MSR +0.41 us */
	assert_int_equal(sky.cpu_mhz, 2500);
	assert_int_equal(sky.vmx_vmexit + sky.vmx_vmentry + 10 * sky.vmx_vmread + sky.vmm_exit_dispatch, 1150);
	assert_int_equal(sky.vmm_vmcall, 0);
	assert_int_equal(sky.vmm_cpuid, 200);
	assert_int_equal(sky.vmm_msr, 1025);
	assert_int_equal(spr.vmm_exit_dispatch, sky.vmm_exit_dispatch);
	assert_int_equal(spr.vmm_msr, sky.vmm_msr);
	/* D6 on F11's EPYC 9334 (2.7 GHz): RDMSR +35 ns = 94.5 -> 95, port I/O
	 * +380 ns = 1026, CPUID below the hypercall -> the hypercall's 0 */
	assert_int_equal(z.cpu_mhz, 2700);
	assert_int_equal(z.vmm_msr, 95);
	assert_int_equal(z.vmm_io, 1026);
	assert_int_equal(z.vmm_cpuid, 0);
	assert_int_equal(z.vmm_vmcall, 0);
	if (vl_profile_describe("skylake-sp", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	static const char *const d6[][2] = { { "vmx", "vmexit" }, { "vmx", "vmentry" }, { "vmm", "exit_dispatch" },
					     { "vmm", "cpuid" }, { "vmm", "msr" }, { "vmm", "vmcall" },
					     { "mmu", "shadow_alloc" }, { "mmu", "shadow_zap" } };
	for (size_t i = 0; i < sizeof d6 / sizeof d6[0]; i++)
		assert_string_equal(vl_profile_class(value_of(v, n, d6[i][0], d6[i][1])), "derived");
	free(v);
	/* D7 on every shipped profile */
	char **names;
	size_t nn = vl_profile_list(&names);
	for (size_t k = 0; k < nn; k++) {
		if (vl_profile_load(names[k], &p, err, sizeof err))
			fail_msg("%s", err);
		if (p.mmu_shadow_alloc != 512 * p.insn_store || p.mmu_nested_alloc != 512 * p.insn_store ||
		    p.mmu_shadow_zap != 512 * p.insn_load)
			fail_msg("%s: D7 does not hold (alloc %llu, nested %llu, zap %llu; store %llu, load %llu)",
				 names[k], (unsigned long long)p.mmu_shadow_alloc, (unsigned long long)p.mmu_nested_alloc,
				 (unsigned long long)p.mmu_shadow_zap, (unsigned long long)p.insn_store,
				 (unsigned long long)p.insn_load);
	}
	vl_profile_list_free(names, nn);
	/* the forms on a small variant of zen4 (mhz 2700, sourced) */
	const char *f = variant("zen4", "vmm", "msr", "msr = ns(35) + ns(35) ; derived: test: one rounding", NULL, NULL,
				"d6a.ini");
	if (vl_profile_describe(f, &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.vmm_msr, 189);   /* 2 x 94.5 = 189.0; rounding each term would give 190 */
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "msr")), "derived");
	free(v);
	f = variant("zen4", "vmm", "msr", "msr = ns(870 - 460) ; derived: test", NULL, NULL, "d6b.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.vmm_msr, 1107);  /* 410 ns at 2700 MHz = 1107 */
	expect_error(variant("zen4", "vmm", "cpuid", "cpuid = ns(1226 - 1255) ; derived: test", NULL, NULL, "d6c.ini"),
		     "out of range");
	f = variant("zen4", "insn", "store", "store = 3 ; source: test store cost", NULL, NULL, "d7.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.mmu_shadow_alloc, 3 * 512);
	assert_int_equal(p.mmu_nested_alloc, 3 * 512);
	assert_int_equal(p.mmu_shadow_zap, 512 * z.insn_load);
	/* D8: POPF = measured PUSHFQ+POPFQ pair - PUSHF (Xeon 8160: 24.0c; EPYC
	 * 9654: 20.6c with PUSHF 4 -> 16.6 -> 17); D9: a REP element at the
	 * measured L1D bandwidths (Prescott 3.44 and 6.57 B/c -> 1.77 -> 2) */
	assert_int_equal(sky.insn_popf + sky.insn_pushf, 24);
	assert_int_equal(z.insn_pushf, 4);
	assert_int_equal(z.insn_popf, 17);
	assert_int_equal(vl_profile_load("p4", &p, err, sizeof err), 0);
	assert_int_equal(p.insn_string, 2);
	f = variant("zen4", "insn", "popf", "popf = 20.6 - insn.pushf + (8 / 3.44 + 8 / 6.57) / 2 ; derived: test", NULL,
		    NULL, "d8.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.insn_popf, 18);  /* 16.6 + 1.77 = 18.37: one rounding */
	/* D10: the STLB hit is the step of a page-random chase leaving the L1
	 * DTLB's reach (i9-7900X NewMemLat at 4K stride: 23 - 14), derived */
	assert_int_equal(sky.tlb_l2_hit, 9);
	expect_class("skylake-sp", "tlb", "l2_hit", "derived");
	/* D10 on Zen 4 (Threadripper PRO 7995WX: 22 - 17, SOURCES.md N5) and on
	 * Golden Cove (i9-12900K P-core: 22 - 15, N6); zen5 takes zen4's by same() */
	assert_int_equal(z.tlb_l2_hit, 5);
	assert_int_equal(spr.tlb_l2_hit, 7);
	expect_class("zen4", "tlb", "l2_hit", "derived");
	if (vl_profile_describe("zen5", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.tlb_l2_hit, 5);
	assert_string_equal(vl_profile_class(value_of(v, n, "tlb", "l2_hit")), "derived");
	free(v);
	/* D11: an instruction's cost is the difference of two round trips on
	 * one machine that differ by N executions of it, over N (Xeon Gold
	 * 6442Y tscdeadline_immed with and without KVM's two SPEC_CTRL WRMSRs:
	 * (3878 - 3153) / 2 = 362.5 -> 363, SOURCES.md N10); emerald-rapids
	 * takes it by same(); one rounding of the whole expression */
	assert_int_equal(spr.insn_wrmsr, 363);
	expect_class("sapphire-rapids", "insn", "wrmsr", "derived");
	if (vl_profile_describe("emerald-rapids", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.insn_wrmsr, 363);
	assert_string_equal(vl_profile_class(value_of(v, n, "insn", "wrmsr")), "derived");
	free(v);
	f = variant("zen4", "insn", "wrmsr", "wrmsr = (3878 - 3153) / 2 - 0.4 ; derived: test: one rounding", NULL, NULL,
		    "d11.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.insn_wrmsr, 362);  /* 362.1: rounding 362.5 first would give 363 */
	/* N9: Skylake's INVLPG alone, ~200 cycles (not S16's INVPCID increment);
	 * N12: a WRMSR on SKL ~400 cycles */
	assert_int_equal(sky.insn_invlpg, 200);
	assert_int_equal(sky.insn_wrmsr, 400);
	/* D12: Haswell-EP's ring transitions stand for the Skylake-SP core
	 * (Xeon E5 v3: user-to-kernel #PF ~440, IRET to user ~270, N11); sourced
	 * values, the rule named in the note */
	assert_int_equal(sky.exception_delivery, 440);
	assert_int_equal(sky.insn_iret, 270);
	if (vl_profile_describe("skylake-sp", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_non_null(strstr(value_of(v, n, "exception", "delivery")->note, "D12"));
	assert_non_null(strstr(value_of(v, n, "insn", "iret")->note, "D12"));
	free(v);
	/* D17: a Xen PV MMU entry operation is its locked read-modify-writes
	 * (SOURCES.md M1: 7 per mmu_update entry, 2 per validated entry) at the
	 * CPU's measured LOCK ADD [m64] latency (M2) plus the entry's own loads
	 * and stores: Xeon 8160 7 * 18.0 + 3 * 4 + 1 = 139, 2 * 18.0 + 4 = 40;
	 * Prescott 7 * 89.9 + 3 * 4 + 2 = 643.3, 2 * 89.9 + 4 = 183.8; EPYC 9654
	 * 7 * 7.4 + 3 * 4 + 1 = 64.8, 2 * 7.4 + 4 = 18.8; derived everywhere */
	assert_int_equal(sky.mmu_direct_update, 139);
	assert_int_equal(sky.mmu_direct_validate, 40);
	assert_int_equal(z.mmu_direct_update, 65);
	assert_int_equal(z.mmu_direct_validate, 19);
	static const char *const d17[] = { "p4", "core2", "skylake-sp", "zen4" };
	for (size_t k = 0; k < sizeof d17 / sizeof d17[0]; k++) {
		if (vl_profile_describe(d17[k], &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		if (!strcmp(d17[k], "p4")) {
			assert_int_equal(p.mmu_direct_update, 643);
			assert_int_equal(p.mmu_direct_validate, 184);
		}
		assert_string_equal(vl_profile_class(value_of(v, n, "mmu", "direct_update")), "derived");
		assert_string_equal(vl_profile_class(value_of(v, n, "mmu", "direct_validate")), "derived");
		assert_non_null(strstr(value_of(v, n, "mmu", "direct_update")->note, "D17"));
		free(v);
	}
	f = variant("zen4", "insn", "load", "load = 10 ; source: test load cost", NULL, NULL, "d17.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.mmu_direct_update, 83);   /* 51.8 + 30 + 1 = 82.8 */
	assert_int_equal(p.mmu_direct_validate, 25); /* 14.8 + 10 = 24.8 */
	/* D15: the Pentium 4 672 takes the VMX controls the 65 nm NetBurst
	 * VT-x parts report (Linux's tpr_shadow flag on a Pentium D 940 and
	 * Xeon 50xx, SOURCES.md V1-V3): a sourced feature naming the rule */
	if (vl_profile_describe("p4", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.features_tpr_shadow, 1);
	assert_string_equal(vl_profile_class(value_of(v, n, "features", "tpr_shadow")), "sourced");
	assert_non_null(strstr(value_of(v, n, "features", "tpr_shadow")->note, "D15"));
	free(v);
}

/* D21: HLT costs the CPU's C1 exit latency from Linux's intel_idle tables
 * (K1-K3), us() at the profile's clock, derived; where no table exists (p4,
 * core2, zen4) the value stays an estimate. D22: MOV to CR3 is the measured
 * __flush_tlb() taken whole (C4: Haswell Xeon 124 for skylake-sp, Westmere
 * Xeon 108 for nehalem), sourced, the rule named in the note. */
static void test_rules_d21_d22(void **st)
{
	(void)st;
	static const struct { const char *name; unsigned long long hlt; } d21[] = {
		{ "skylake-sp", 5000 },     /* 2 us at 2500 MHz */
		{ "sapphire-rapids", 2600 }, /* 1 us at 2600 MHz */
		{ "emerald-rapids", 2100 },  /* 1 us at 2100 MHz (spr_cstates) */
		{ "nehalem", 8790 },         /* 3 us at 2930 MHz */
	};
	struct vl_profile p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	for (size_t i = 0; i < sizeof d21 / sizeof d21[0]; i++) {
		if (vl_profile_describe(d21[i].name, &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_int_equal(p.insn_hlt, d21[i].hlt);
		assert_string_equal(vl_profile_class(value_of(v, n, "insn", "hlt")), "derived");
		assert_non_null(strstr(value_of(v, n, "insn", "hlt")->note, "D21"));
		free(v);
	}
	static const char *const no_table[] = { "p4", "core2", "zen4" };
	for (size_t i = 0; i < sizeof no_table / sizeof no_table[0]; i++) {
		if (vl_profile_describe(no_table[i], &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_string_equal(vl_profile_class(value_of(v, n, "insn", "hlt")), "estimated");
		free(v);
	}
	static const struct { const char *name; unsigned long long cr3; } d22[] = {
		{ "skylake-sp", 124 }, { "nehalem", 108 },
	};
	for (size_t i = 0; i < sizeof d22 / sizeof d22[0]; i++) {
		if (vl_profile_describe(d22[i].name, &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_int_equal(p.insn_mov_cr3, d22[i].cr3);
		assert_string_equal(vl_profile_class(value_of(v, n, "insn", "mov_cr3")), "sourced");
		assert_non_null(strstr(value_of(v, n, "insn", "mov_cr3")->note, "D22"));
		free(v);
	}
}

/* D2 scaling counts honestly: a value `scaled(skylake-sp, vmm.exit_dispatch)`
 * is derived only when this profile's factor (its vmm.exit_dispatch) is
 * sourced or derived from sourced inputs AND the Skylake-SP value it scales
 * is sourced or derived; else it is estimated. Checked on three variants of
 * core2: the shipped estimated factor, a factor derived from a published
 * figure (here a test literal over Skylake-SP's D6-derived dispatch), and a
 * derived factor with an estimated input. */
static void test_scaled_factor_class(void **st)
{
	(void)st;
	struct vl_profile p, sky;
	struct vl_profile_value *v, *sv, *cv;
	size_t n, sn, cn;
	char err[512];
	if (vl_profile_describe("skylake-sp", &sky, &sv, &sn, err, sizeof err))
		fail_msg("%s", err);
	if (vl_profile_describe("core2", &p, &cv, &cn, err, sizeof err))
		fail_msg("%s", err);
	struct vl_profile_value *pv;
	size_t pn;
	if (vl_profile_describe("p4", &p, &pv, &pn, err, sizeof err))
		fail_msg("%s", err);
	assert_string_equal(vl_profile_class(value_of(pv, pn, "vmm", "exit_dispatch")), "estimated");
	assert_string_not_equal(vl_profile_class(value_of(sv, sn, "vmm", "exit_dispatch")), "estimated");
	/* an [insn] value core2 states as an estimate, for the third variant */
	const char *est = NULL;
	for (size_t i = 0; i < cn && !est; i++)
		if (!strcmp(cv[i].section, "insn") && cv[i].prov == VL_PROV_ESTIMATE)
			est = cv[i].key;
	assert_non_null(est);
	char lines[2][256];
	snprintf(lines[0], sizeof lines[0], "%s",
		 "exit_dispatch = skylake-sp:vmm.exit_dispatch * 1.5 ; derived: test: a factor from published figures");
	snprintf(lines[1], sizeof lines[1],
		 "exit_dispatch = skylake-sp:vmm.exit_dispatch * 1.5 + insn.%s - insn.%s ; derived: test: an estimated input",
		 est, est);
	for (size_t l = 0; l < 2; l++) {
		const char *f = variant("core2", "vmm", "exit_dispatch", lines[l], NULL, NULL, "d2f.ini");
		if (vl_profile_describe(f, &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_int_equal(p.vmm_exit_dispatch, (sky.vmm_exit_dispatch * 3 + 1) / 2);
		int scaled = 0, derived = 0;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(v[i].expr, "scaled(skylake-sp, vmm.exit_dispatch)"))
				continue;
			scaled++;
			const struct vl_profile_value *base = value_of(sv, sn, v[i].section, v[i].key);
			bool want = l == 0 && strcmp(vl_profile_class(base), "estimated");
			derived += want;
			if (strcmp(vl_profile_class(&v[i]), want ? "derived" : "estimated"))
				fail_msg("variant %zu: [%s] %s counts as %s; base %s, factor %s", l, v[i].section, v[i].key,
					 vl_profile_class(&v[i]), vl_profile_class(base),
					 vl_profile_class(value_of(v, n, "vmm", "exit_dispatch")));
			/* the shipped p4 (its factor still an estimate, SOURCES.md D2/D13):
			 * every value it scales the same way is estimated */
			const struct vl_profile_value *pw = value_of(pv, pn, v[i].section, v[i].key);
			if (!strcmp(pw->expr, "scaled(skylake-sp, vmm.exit_dispatch)"))
				assert_string_equal(vl_profile_class(pw), "estimated");
		}
		assert_true(scaled >= 10);
		if (l == 0)
			assert_true(derived >= 2); /* skylake-sp's D6 handlers (cpuid, msr) at least */
		free(v);
	}
	free(sv);
	free(cv);
	free(pv);
}

/* D13 on the shipped profiles: core2's kernel-code factor is Skylake-SP's
 * exit dispatch times the ratio of the published 7-Zip LZMA decompression
 * ratings per MHz (SOURCES.md G1, G2), derived because every input is; the
 * values D2 scales with it follow it; the binary translator of the profiles
 * that scale the Pentium 4's F3 figures does so by the factor ratio. */
static void test_rule_d13(void **st)
{
	(void)st;
	struct vl_profile sky, c2, p4, p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	assert_int_equal(vl_profile_load("skylake-sp", &sky, err, sizeof err), 0);
	assert_int_equal(vl_profile_load("p4", &p4, err, sizeof err), 0);
	if (vl_profile_describe("core2", &c2, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	double want = (double)sky.vmm_exit_dispatch * (2878.0 / 2900.0) / (2536.0 / 2660.0);
	assert_int_equal(c2.vmm_exit_dispatch, (uint64_t)(want + 0.5));
	assert_int_equal(c2.vmm_exit_dispatch, 183);   /* 176 x 0.99241 / 0.95338 = 183.2 */
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "exit_dispatch")), "derived");
	/* a D6-derived Skylake-SP handler scaled by a derived factor is derived */
	assert_int_equal(c2.vmm_msr, (sky.vmm_msr * c2.vmm_exit_dispatch * 2 + sky.vmm_exit_dispatch) /
					     (2 * sky.vmm_exit_dispatch));
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "msr")), "derived");
	/* the Pentium 4's factor is an estimate, so the translator values scaled from it are too */
	assert_string_equal(vl_profile_class(value_of(v, n, "bt", "translate_insn")), "estimated");
	free(v);
	/* nehalem: the Westmere core's 1-thread rating against the same Skylake
	 * run, both p7zip 16.02 (SOURCES.md G1, G20): one version per ratio */
	struct vl_profile nh;
	if (vl_profile_describe("nehalem", &nh, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	want = (double)sky.vmm_exit_dispatch * (2878.0 / 2900.0) / (2149.0 / 2130.0);
	assert_int_equal(nh.vmm_exit_dispatch, (uint64_t)(want + 0.5));
	assert_int_equal(nh.vmm_exit_dispatch, 173);   /* 176 x 0.99241 / 1.00892 = 173.1 */
	const struct vl_profile_value *nd = value_of(v, n, "vmm", "exit_dispatch");
	assert_string_equal(vl_profile_class(nd), "derived");
	assert_non_null(strstr(nd->expr, "(2878 / 2900)"));   /* the Skylake run core2 uses */
	assert_non_null(strstr(nd->note, "G20"));
	assert_int_equal(nh.vmm_msr, (sky.vmm_msr * nh.vmm_exit_dispatch * 2 + sky.vmm_exit_dispatch) /
					     (2 * sky.vmm_exit_dispatch));
	assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "msr")), "derived");
	assert_string_equal(vl_profile_class(value_of(v, n, "bt", "translate_insn")), "estimated");
	free(v);
	/* no same-version pair for the Pentium 4 or Zen 4 (G22): their factors
	 * stay estimates, stated as literals; the CoreMark pair (G30-G35) is
	 * not used because it disagrees with D13 on core2 and nehalem (G36),
	 * and the note says so */
	static const char *const est[] = { "p4", "zen4" };
	for (size_t k = 0; k < sizeof est / sizeof est[0]; k++) {
		if (vl_profile_describe(est[k], &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_string_equal(vl_profile_class(value_of(v, n, "vmm", "exit_dispatch")), "estimated");
		assert_non_null(strstr(value_of(v, n, "vmm", "exit_dispatch")->note, "G22"));
		assert_non_null(strstr(value_of(v, n, "vmm", "exit_dispatch")->note, "G36"));
		free(v);
	}
	static const char *const bt_scaled[] = { "core2", "nehalem", "skylake-sp", "zen4", "sapphire-rapids" };
	for (size_t k = 0; k < sizeof bt_scaled / sizeof bt_scaled[0]; k++) {
		if (vl_profile_describe(bt_scaled[k], &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_string_equal(value_of(v, n, "bt", "translate_insn")->expr, "scaled(p4, vmm.exit_dispatch)");
		assert_string_equal(value_of(v, n, "bt", "callout")->expr, "scaled(p4, vmm.exit_dispatch)");
		double f = (double)p.vmm_exit_dispatch / (double)p4.vmm_exit_dispatch;
		if (p.bt_translate_insn != (uint64_t)(p4.bt_translate_insn * f + 0.5) ||
		    p.bt_callout != (uint64_t)(p4.bt_callout * f + 0.5))
			fail_msg("%s: bt.translate_insn %llu, callout %llu; want p4's %llu, %llu x %llu/%llu", bt_scaled[k],
				 (unsigned long long)p.bt_translate_insn, (unsigned long long)p.bt_callout,
				 (unsigned long long)p4.bt_translate_insn, (unsigned long long)p4.bt_callout,
				 (unsigned long long)p.vmm_exit_dispatch, (unsigned long long)p4.vmm_exit_dispatch);
		free(v);
	}
}

/* The shares of every shipped profile add up, and every source that cites
 * SOURCES.md names an entry that exists there; no source is "recalled". */
/* `unused:` (class n/a, in no share) only where the model provably does not
 * read the value: tlb.l2_ways without an L2 TLB. Anywhere else, and on an L2
 * TLB that exists, the loader refuses it; a value derived from an unused one
 * counts as estimated. */
static void test_unused_values(void **st)
{
	(void)st;
	struct vl_profile p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	/* the shipped Pentium 4 has no L2 TLB: its l2_ways is n/a */
	if (vl_profile_describe("p4", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.tlb_l2_entries, 0);
	const struct vl_profile_value *w = value_of(v, n, "tlb", "l2_ways");
	assert_int_equal(w->prov, VL_PROV_UNUSED);
	assert_string_equal(vl_profile_class(w), "n/a");
	free(v);
	/* refused where the model reads the value */
	expect_error(variant("zen4", "tlb", "l2_ways", "l2_ways = 8 ; unused: test", NULL, NULL, "u1.ini"),
		     "[tlb] l2_ways: 'unused:' only for a value the model does not read");
	expect_error(variant("zen4", "tlb", "walk_ref", "walk_ref = 14 ; unused: test", NULL, NULL, "u2.ini"),
		     "[tlb] walk_ref: 'unused:' only for a value the model does not read");
	expect_error(variant("p4", "tlb", "l1d_ways", "l1d_ways = 64 ; unused: test", NULL, NULL, "u3.ini"),
		     "[tlb] l1d_ways: 'unused:'");
	/* a derived value whose input is unused is an estimate, not derived */
	const char *f = variant("p4", "tlb", "pwc_entries", "pwc_entries = tlb.l2_ways - 1 ; derived: test", NULL, NULL,
				"u4.ini");
	if (vl_profile_describe(f, &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	assert_int_equal(p.tlb_pwc_entries, 0);
	assert_string_equal(vl_profile_class(value_of(v, n, "tlb", "pwc_entries")), "estimated");
	free(v);
}

static void test_shipped_provenance(void **st)
{
	char **names;
	size_t n = vl_profile_list(&names);
	char spath[512];
	snprintf(spath, sizeof spath, "%s/SOURCES.md", vl_profile_dir());
	char *sources = slurp(spath);
	for (size_t k = 0; k < n; k++) {
		struct vl_profile p;
		struct vl_profile_value *v;
		size_t nv, present = 0, s = 0, d = 0, e = 0, u = 0;
		char err[512];
		if (vl_profile_describe(names[k], &p, &v, &nv, err, sizeof err))
			fail_msg("%s", err);
		for (size_t i = 0; i < nv; i++) {
			if (!v[i].present)
				continue;
			present++;
			const char *c = vl_profile_class(&v[i]);
			s += !strcmp(c, "sourced");
			d += !strcmp(c, "derived");
			e += !strcmp(c, "estimated");
			u += !strcmp(c, "n/a");
			if (v[i].prov == VL_PROV_SOURCE && strstr(v[i].note, "recalled"))
				fail_msg("%s [%s] %s: a recalled figure is not a source: %s", names[k], v[i].section,
					 v[i].key, v[i].note);
			for (const char *c2 = v[i].note; (c2 = strstr(c2, "SOURCES.md ")); c2++) {
				char id[16];
				if (sscanf(c2 + 11, "%15[A-Z0-9]", id) != 1)
					continue;
				char want[32], want2[32];
				snprintf(want, sizeof want, "**%s ", id);
				snprintf(want2, sizeof want2, "**%s**", id);
				if (!strstr(sources, want) && !strstr(sources, want2))
					fail_msg("%s [%s] %s cites SOURCES.md %s, which has no entry '%s'", names[k],
						 v[i].section, v[i].key, id, want);
			}
		}
		assert_int_equal(s + d + e + u, present);
		assert_true(present >= 70);
		free(v);
	}
	free(sources);
	vl_profile_list_free(names, n);
}

/* D25 (profiles/SOURCES.md): on the AMD profiles a REP string element is
 * D9's mean of the measured STOSQ/MOVSQ L1D bandwidths (EPYC 9654 0.20,
 * Ryzen 9 9950X 0.10 cycles per 8 bytes), below a cycle, so charged the
 * smallest non-zero cost, 1: a source naming the rule. */
static void test_rule_d25(void **st)
{
	(void)st;
	static const char *const amd[] = { "zen4", "zen5" };
	struct vl_profile p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	for (size_t i = 0; i < sizeof amd / sizeof amd[0]; i++) {
		if (vl_profile_describe(amd[i], &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		assert_int_equal(p.insn_string, 1);
		assert_string_equal(vl_profile_class(value_of(v, n, "insn", "string")), "sourced");
		assert_non_null(strstr(value_of(v, n, "insn", "string")->note, "D25"));
		free(v);
	}
	/* the rule's reason: D9's expression itself rounds Zen 4's 0.20 to 0 */
	const char *f = variant("zen4", "insn", "string",
				"string = (8 / 30.88 + 8 / 56.69) / 2 ; derived: test D9 on the EPYC 9654", NULL, NULL,
				"d25.ini");
	assert_int_equal(vl_profile_load(f, &p, err, sizeof err), 0);
	assert_int_equal(p.insn_string, 0);
}

/* D20 (profiles/SOURCES.md): instruction-table figures for the model's
 * classes. A published range is taken at its middle, one rounding half up,
 * as a derived value (Skylake-X RDPMC 13-16 -> 14.5 -> 15, Nehalem 40-60 ->
 * 50, SOURCES.md I3-I4); a stand-in taken whole is a source that names the
 * rule (Prescott MOV sr, r/m 27 for desc_table, I1); a throughput below a
 * cycle is rounded up to 1 (Zen 5 taken Jcc 0.5, I6). */
static void test_rule_d20(void **st)
{
	(void)st;
	static const struct {
		const char *prof, *key, *cls, *cite;
		uint64_t want;
	} c[] = {
		{ "skylake-sp", "other_sys", "derived", "I4", 15 },
		{ "nehalem", "other_sys", "derived", "I3", 50 },
		{ "p4", "desc_table", "sourced", "I1", 27 },
		{ "p4", "other_sys", "sourced", "I1", 240 },
		{ "core2", "desc_table", "sourced", "I2", 16 },
		{ "zen4", "branch", "sourced", "I5", 1 },
		{ "zen5", "branch", "sourced", "I6", 1 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct vl_profile p;
		struct vl_profile_value *v;
		size_t n;
		char err[512];
		if (vl_profile_describe(c[i].prof, &p, &v, &n, err, sizeof err))
			fail_msg("%s", err);
		const struct vl_profile_value *x = value_of(v, n, "insn", c[i].key);
		assert_non_null(x);
		if (strtoull(x->value, NULL, 10) != c[i].want || strcmp(vl_profile_class(x), c[i].cls) ||
		    !strstr(x->note, c[i].cite))
			fail_msg("%s [insn] %s = %s (%s), want %llu (%s) citing %s", c[i].prof, c[i].key, x->value,
				 vl_profile_class(x), (unsigned long long)c[i].want, c[i].cls, c[i].cite);
		if (!strcmp(c[i].key, "other_sys") || !strcmp(c[i].key, "desc_table"))
			assert_non_null(strstr(x->note, "D20"));
		free(v);
	}
}

/* D23 (profiles/SOURCES.md): IRET to user mode costs at least the
 * instruction table's user-mode IRET on the same core, taken whole as a
 * source naming the rule: the Pentium 4's 325 (Prescott sheet, K20). Cores
 * without an IRET row keep their own value (skylake-sp's D12 figure) or an
 * estimate (core2). */
static void test_rule_d23(void **st)
{
	(void)st;
	struct vl_profile p;
	struct vl_profile_value *v;
	size_t n;
	char err[512];
	if (vl_profile_describe("p4", &p, &v, &n, err, sizeof err))
		fail_msg("%s", err);
	const struct vl_profile_value *x = value_of(v, n, "insn", "iret");
	assert_non_null(x);
	assert_int_equal(p.insn_iret, 325);
	assert_string_equal(vl_profile_class(x), "sourced");
	assert_non_null(strstr(x->note, "K20"));
	assert_non_null(strstr(x->note, "D23"));
	free(v);
	expect_class("core2", "insn", "iret", "estimated");
}

static int setup(void **st)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/vl_test_profile_XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_load),
		cmocka_unit_test(test_known_features),
		cmocka_unit_test(test_unknown_name),
		cmocka_unit_test(test_missing_each),
		cmocka_unit_test(test_need_rule),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_name_mismatch),
		cmocka_unit_test(test_every_value_sourced),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_repro_profiles),
		cmocka_unit_test(test_tlb_geometry),
		cmocka_unit_test(test_provenance_required),
		cmocka_unit_test(test_derivations),
		cmocka_unit_test(test_derivation_errors),
		cmocka_unit_test(test_rules_d5_d9),
		cmocka_unit_test(test_rules_d21_d22),
		cmocka_unit_test(test_shipped_provenance),
		cmocka_unit_test(test_unused_values),
		cmocka_unit_test(test_scaled_factor_class),
		cmocka_unit_test(test_rule_d13),
		cmocka_unit_test(test_rule_d20),
		cmocka_unit_test(test_rule_d25),
		cmocka_unit_test(test_rule_d23),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
