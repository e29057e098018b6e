/* test_depends.c — the cost-category -> profile-field table behind
 * `report --depends` (include/virtlab/cost_fields.def, analysis/depends.c):
 * one line per cost category, and every field it names exists in
 * profile_fields.def (a section wildcard matches at least one field; the
 * translate/hypercall sections may not exist before their engines land);
 * and the handler named beside each exit reason: the vendor's handler for
 * vtx/svm exits, the trap path's for the software VMMs' slots (bt TRAP_*,
 * pv, trap), whose SYSCALL charges vmm.exit_dispatch only. */
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
	size_t kl = strlen(key);
	int n = 0;
	for (size_t i = 0; i < NF; i++)   /* "key" exactly, or "prefix*" (shadow_*, *) */
		n += !strcmp(fields[i].sec, sec) &&
		     (key[kl - 1] == '*' ? !strncmp(fields[i].key, key, kl - 1) : !strcmp(fields[i].key, key));
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

/* Exit names as the engines store them (engines/{vtx,svm,bt,pv,trap}) and
 * the handler fields the model charges for each besides the dispatch
 * (engines/hv/vcpu.c: vl_vcpu_charge_trap, vl_vcpu_deliver, vl_vcpu_emulate). */
static const struct { const char *engine, *reason, *want; } handlers[] = {
	{ "vtx", "CPUID", "vmm.cpuid" },
	{ "vtx", "EPT_VIOLATION", "mmu.nested_fault, mmu.nested_alloc" },
	{ "vtx", "EXCEPTION_NMI", "vmm.exception, mmu.shadow_*" },
	{ "vtx", "CR_ACCESS", "vmm.cr, mmu.shadow_cr3" },
	{ "vtx", "IO_INSTRUCTION", "vmm.io" },
	{ "vtx", "EXTERNAL_INTERRUPT", "vmm.intr" },
	{ "vtx", "RDTSC", "vmm.emulate" },
	{ "svm", "VMEXIT_EXCP_PF", "vmm.exception, mmu.shadow_*" },
	{ "svm", "VMEXIT_NPF", "mmu.nested_fault, mmu.nested_alloc" },
	{ "svm", "VMEXIT_IOIO", "vmm.io" },
	{ "svm", "VMEXIT_MSR", "vmm.msr" },
	{ "svm", "VMEXIT_VMMCALL", "vmm.vmcall" },
	{ "bt", "TRAP_SYSCALL", "vmm.exit_dispatch" },
	{ "bt", "TRAP_PAGE_FAULT", "vmm.exception, mmu.*" },
	{ "bt", "TRAP_EXCEPTION", "vmm.exception" },
	{ "bt", "TRAP_INT_N", "vmm.exception" },
	{ "bt", "TRAP_INTERRUPT", "vmm.intr" },
	{ "pv", "SYSCALL", "vmm.exit_dispatch" },
	{ "pv", "PAGE_FAULT", "vmm.exception, mmu.*" },
	{ "pv", "GP_REFLECTED", "vmm.exception" },
	{ "pv", "GP_PRIV_BOOT", "vmm.*" },
	{ "pv", "CPUID", "vmm.cpuid" },
	{ "pv", "INT_N", "vmm.exception" },
	{ "trap", "SYSCALL", "vmm.exit_dispatch" },
	{ "trap", "GP_CR_ACCESS", "vmm.emulate, vmm.cr, mmu.shadow_cr3" },
	{ "trap", "GP_IO", "vmm.emulate, vmm.io" },
	{ "trap", "GP_MSR", "vmm.emulate, vmm.msr" },
	{ "trap", "GP_HLT", "vmm.emulate, vmm.hlt" },
	{ "trap", "GP_INVLPG", "vmm.emulate, vmm.invlpg, mmu.shadow_invlpg" },
	{ "trap", "GP_SYSRET_SWAPGS", "vmm.emulate" },
	{ "trap", "GP_IRET", "vmm.emulate" },
	{ "trap", "INTERRUPT", "vmm.intr" },
};

static void test_exit_handlers(void **st)
{
	for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
		const char *got = vl_dep_exit_handler(handlers[i].engine, handlers[i].reason);
		if (strcmp(got, handlers[i].want))
			fail_msg("%s exit %s: handler '%s', want '%s'", handlers[i].engine, handlers[i].reason, got,
				 handlers[i].want);
		char buf[256];
		snprintf(buf, sizeof buf, "%s", got);
		for (char *save = NULL, *f = strtok_r(buf, ", ", &save); f; f = strtok_r(NULL, ", ", &save))
			if (field_matches(f) <= 0)
				fail_msg("%s exit %s: '%s' names no profile field", handlers[i].engine, handlers[i].reason, f);
	}
	/* a software VMM's SYSCALL is not the hardware engines' (they have no such exit name) */
	assert_string_equal(vl_dep_exit_handler("vtx", "SYSCALL"), "vmm.emulate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_category_mapped),
		cmocka_unit_test(test_fields_exist),
		cmocka_unit_test(test_exit_handlers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
