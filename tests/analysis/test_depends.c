/* test_depends.c — the cost-category -> profile-field table behind
 * `report --depends` (include/virtlab/cost_fields.def, analysis/depends.c):
 * one line per cost category, and every field it names exists in
 * profile_fields.def (a section wildcard matches at least one field; the
 * translate/hypercall sections may not exist before their engines land). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/analysis.h"
#include "virtlab/counters.h"

static const struct { const char *sec, *key; } fields[] = {
#define F(s, k, kind, need, doc) { #s, #k },
#include "virtlab/profile_fields.def"
#undef F
};
#define NF (sizeof fields / sizeof fields[0])

static int field_matches(const char *name)
{
	char sec[32], key[48];
	if (sscanf(name, "%31[a-z0-9_].%47[a-z0-9_*]", sec, key) != 2)
		return -1;
	int n = 0;
	for (size_t i = 0; i < NF; i++)
		n += !strcmp(fields[i].sec, sec) && (!strcmp(key, "*") || !strcmp(fields[i].key, key));
	return n;
}

static void test_every_category_mapped(void **st)
{
	for (int c = 0; c < VL_CAT_COUNT; c++) {
		const char *fl = vl_cost_fields_of(vl_cat_name[c]);
		if (!fl || !*fl)
			fail_msg("cost category '%s' has no line in cost_fields.def", vl_cat_name[c]);
	}
	assert_int_equal(vl_cost_fields_count, VL_CAT_COUNT);
	assert_null(vl_cost_fields_of("nosuch"));
}

static void test_fields_exist(void **st)
{
	for (size_t i = 0; i < vl_cost_fields_count; i++) {
		const char *cat = vl_cost_fields[i].category;
		char buf[256];
		snprintf(buf, sizeof buf, "%s", vl_cost_fields[i].fields);
		for (char *save = NULL, *f = strtok_r(buf, ", ", &save); f; f = strtok_r(NULL, ", ", &save)) {
			int n = field_matches(f);
			if (n <= 0)
				fail_msg("cost_fields.def [%s]: '%s' names no profile field", cat, f);
		}
		assert_true(strlen(vl_cost_fields[i].doc) > 10);
	}
	/* the table is not vacuous: the hardware-assist categories name their fields */
	assert_non_null(strstr(vl_cost_fields_of("exit"), "vmx.vmexit"));
	assert_non_null(strstr(vl_cost_fields_of("exit"), "svm.vmrun"));
	assert_non_null(strstr(vl_cost_fields_of("walk"), "tlb.walk_ref"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_category_mapped),
		cmocka_unit_test(test_fields_exist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
