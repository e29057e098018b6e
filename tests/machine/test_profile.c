/* test_profile.c — the profile loader (machine/profile.c) and the shipped
 * profiles: every profile loads; missing values, unknown keys, bad numbers,
 * duplicates and unknown names are errors; the "need" rule follows the
 * feature flags; and every value line in profiles/NAME.ini cites a source. */
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
struct tfield { const char *sec, *key, *need; };
static const struct tfield tfields[] = {
#define F(s, k, kind, need, doc) { #s, #k, #need },
#include "virtlab/profile_fields.def"
#undef F
};
#define NTF (sizeof tfields / sizeof tfields[0])

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
	assert_int_equal(vl_profile_load("other", &p, err, sizeof err), -1);
	assert_non_null(strstr(err, "must match the file name"));
	if (old) {
		setenv("VIRTLAB_PROFILES", old, 1);
		free(old);
	} else {
		unsetenv("VIRTLAB_PROFILES");
	}
}

/* Every value line of every shipped profile carries "; source:" or
 * "; estimate:" with text after it. */
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
					  (!strncmp(tag, "estimate:", 9) && strlen(tag + 9) > 3));
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
