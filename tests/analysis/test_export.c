/* test_export.c — export as tidy CSV and as JSON: every metric of a model
 * run is one CSV row (counted from the tables it came from), every raw
 * sample of a real run is a row with its index and unit, values read back
 * bit-exact, a failed run without metrics still appears, fields that need
 * quoting are quoted; JSON carries every column of `run` and the nested
 * groups. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static char dir[512];
static struct vl_db *db;
static int64_t id_model, id_real, id_failed;
static const double samples[] = { 101.25, 99.5, 1e-3, 12345678.875 };

static int setup(void **st)
{
	synth_tmpdir(dir, sizeof dir);
	db = synth_open(dir, "export.db", "cafe");
	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 1000, 4);
	snprintf(r.params, sizeof r.params, "a=1,b=\"2\"");
	id_model = synth_store(db, &r, "t");
	synth_real(&r, "qemu-tcg", "cpuid", "zen4", 1000, samples, 4);
	id_real = synth_store(db, &r, "t");
	synth_free(&r);
	synth_real(&r, "qemu-tcg", "syscall", "zen4", 1000, samples, 0);
	r.nsamples = 0;
	r.status = VL_RUN_FAILED;
	snprintf(r.reason, sizeof r.reason, "guest exit status 3");
	id_failed = synth_store(db, &r, "t");
	synth_free(&r);
	return 0;
}

static int teardown(void **st)
{
	vl_db_close(db);
	synth_rmdir(dir);
	return 0;
}

static char *mem_buf;
static size_t mem_len;

static char *export_tag(enum vl_an_format f, const char *tag)
{
	FILE *m = open_memstream(&mem_buf, &mem_len);
	char err[256];
	struct vl_db_filter all = { .tag = tag };
	assert_int_equal(vl_export(db, &all, f, m, err, sizeof err), 0);
	fclose(m);
	char *out = mem_buf;
	mem_buf = NULL;
	return out;
}

static char *export(enum vl_an_format f)
{
	return export_tag(f, "t");
}

static void test_csv(void **st)
{
	char *csv = export(VL_AN_CSV);
	char *save = NULL;
	char *line = strtok_r(csv, "\n", &save);
	assert_string_equal(line, "run_id,started,git_commit,git_dirty,tag,profile,engine,mmu,workload,params,iterations,"
				  "status,model,kind,name,code,unit,value");
	size_t model_rows = 0, sample_rows = 0, failed_rows = 0, exit_rows = 0, real_headline = 0;
	char prefix[64];
	while ((line = strtok_r(NULL, "\n", &save))) {
		long long id = strtoll(line, NULL, 10);
		const char *kind_etc = NULL;
		/* the fields after "status,model," */
		snprintf(prefix, sizeof prefix, ",ok,1,");
		if (id == id_model) {
			model_rows++;
			assert_non_null(strstr(line, ",\"a=1,b=\"\"2\"\"\",1000,"));   /* RFC 4180 quoting */
			kind_etc = strstr(line, prefix);
			assert_non_null(kind_etc);
			if (!strncmp(kind_etc + strlen(prefix), "exit_count,CPUID,10,count,", 26)) {
				assert_true(strtod(kind_etc + strlen(prefix) + 26, NULL) == 12);   /* seed 4 * 3 */
				exit_rows++;
			}
			if (!strncmp(kind_etc + strlen(prefix), "event,guest_instructions,,count,", 32))
				assert_true(strtod(kind_etc + strlen(prefix) + 32, NULL) == (double)synth_event(4, VL_EV_GUEST_INSNS));
		} else if (id == id_real && strstr(line, ",ok,0,cycles_per_iter,")) {
			/* the run's headline: the median of its samples */
			const char *k = strstr(line, ",ok,0,cycles_per_iter,cycles_per_iter,,cycles,");
			assert_non_null(k);
			assert_true(strtod(k + strlen(",ok,0,cycles_per_iter,cycles_per_iter,,cycles,"), NULL) == 100.375);
			real_headline++;
		} else if (id == id_real) {
			const char *k = strstr(line, ",ok,0,sample,cycles_per_iter,");
			assert_non_null(k);
			k += strlen(",ok,0,sample,cycles_per_iter,");
			int seq = atoi(k);
			assert_true(seq >= 0 && seq < 4);
			const char *unit = strchr(k, ',') + 1;
			assert_int_equal(strncmp(unit, "cycles,", 7), 0);
			assert_true(strtod(unit + 7, NULL) == samples[seq]);   /* bit-exact */
			sample_rows++;
		} else if (id == id_failed) {
			assert_non_null(strstr(line, ",failed,0,run,,,,"));
			failed_rows++;
		} else {
			fail_msg("unexpected row %s", line);
		}
	}
	/* cycles_per_iter + categories + events + 2 exits x (count, cycles) */
	assert_int_equal(model_rows, 1 + VL_CAT_COUNT + VL_EV_COUNT + 4);
	assert_int_equal(exit_rows, 1);
	assert_int_equal(sample_rows, 4);
	assert_int_equal(real_headline, 1);
	assert_int_equal(failed_rows, 1);
	free(csv);
}

static void test_json(void **st)
{
	char *js = export(VL_AN_JSON);
	static const char *const keys[] = { "\"id\":", "\"engine\":\"svm\"", "\"host_kvm\":", "\"host_pmu\":",
		"\"git_commit\":\"cafe\"", "\"compiler\":\"testcc 1.0\"", "\"tag\":\"t\"", "\"console_tail\":",
		"\"exits\":{\"CPUID\":{\"code\":10,\"count\":12,\"cycles\":14400}", "\"samples\":{\"cycles_per_iter\":{\"unit\":\"cycles\",\"values\":[101.25,99.5,0.001,12345678.875]}}",
		"\"status\":\"failed\"", "\"reason\":\"guest exit status 3\"", "\"guest_results\":[{\"workload\":\"cpuid\"",
		"\"params\":\"a=1,b=\\\"2\\\"\"" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strstr(js, keys[i]))
			fail_msg("JSON lacks %s", keys[i]);
	char want[96];
	snprintf(want, sizeof want, "\"guest_instructions\":%llu", (unsigned long long)synth_event(4, VL_EV_GUEST_INSNS));
	assert_non_null(strstr(js, want));
	int depth = 0, objects = 0;
	for (char *p = js; *p; p++) {
		if (*p == '"') {   /* skip strings */
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\')
					p++;
			continue;
		}
		if (*p == '{' && depth == 1)
			objects++;
		depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
	}
	assert_int_equal(depth, 0);
	assert_int_equal(objects, 3);
	free(js);
}

/* bt's callouts and pv's hypercalls come out under their own keys (JSON,
 * as `run --format json`: callouts without a code) and kinds (CSV), never
 * as exits; each engine's real exits stay exits. */
static void test_entries(void **st)
{
	struct vl_run_result r;
	synth_entries(&r, "bt", "syscall", "zen4", 100, 2);
	synth_store(db, &r, "e");
	synth_entries(&r, "pv", "syscall", "zen4", 100, 3);
	synth_store(db, &r, "e");
	char *js = export_tag(VL_AN_JSON, "e");
	static const char *const keys[] = {
		"\"exits\":{\"TRAP_SYSCALL\":{\"code\":20,\"count\":6,\"cycles\":600}}",
		"\"callouts\":{\"BLOCK_EXIT\":{\"count\":2,\"cycles\":200},\"CPUID\":{\"count\":4,\"cycles\":400}}",
		"\"exits\":{\"PAGE_FAULT\":{\"code\":259,\"count\":9,\"cycles\":900}}",
		("\"hypercalls\":{\"read_cr\":{\"code\":5,\"count\":3,\"cycles\":300},"
		 "\"mmu_update\":{\"code\":14,\"count\":6,\"cycles\":600}}"),   /* one key, concatenated on purpose */
		"\"CPUID\":{\"count\":4,\"cycles\":400}},\"hypercalls\":{},", "\"callouts\":{},\"hypercalls\":{\"read_cr\"" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strstr(js, keys[i]))
			fail_msg("JSON lacks %s in %s", keys[i], js);
	free(js);
	char *csv = export_tag(VL_AN_CSV, "e");
	assert_non_null(strstr(csv, ",callout_count,BLOCK_EXIT,0,count,2\n"));
	assert_non_null(strstr(csv, ",callout_cycles,CPUID,4,cycles,400\n"));
	assert_non_null(strstr(csv, ",hypercall_count,mmu_update,14,count,6\n"));
	assert_non_null(strstr(csv, ",exit_count,TRAP_SYSCALL,20,count,6\n"));
	assert_null(strstr(csv, ",exit_count,BLOCK_EXIT,"));
	assert_null(strstr(csv, ",exit_count,read_cr,"));
	free(csv);
}

/* Per-value cycles (schema v5): CSV kind value_cycles (name = the value),
 * JSON "values" with each value's cycles and class; {} for a run without. */
static void test_values(void **st)
{
	struct vl_run_result r;
	struct vl_profile p;
	synth_profile("zen4", &p);
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 100, 2);
	synth_values(&r, &p);
	synth_store(db, &r, "v");
	char *js = export_tag(VL_AN_JSON, "v");
	char want[160];
	snprintf(want, sizeof want, "\"values\":{\"insn.alu\":{\"cycles\":%llu,\"class\":\"sourced\"},",
		 (unsigned long long)r.ctr.field_cycles[VL_PF_insn_alu]);
	if (!strstr(js, want))
		fail_msg("JSON lacks %s in %s", want, js);
	snprintf(want, sizeof want, "\"(none)\":{\"cycles\":%llu,\"class\":\"unpriced\"}",
		 (unsigned long long)r.ctr.field_cycles[VL_PF_NONE]);
	assert_non_null(strstr(js, want));
	free(js);
	char *csv = export_tag(VL_AN_CSV, "v");
	snprintf(want, sizeof want, ",value_cycles,insn.io,,cycles,%llu\n", (unsigned long long)r.ctr.field_cycles[VL_PF_insn_io]);
	assert_non_null(strstr(csv, want));
	free(csv);
	js = export(VL_AN_JSON);   /* the runs without per-value cycles */
	assert_non_null(strstr(js, "\"values\":{},"));
	assert_null(strstr(js, "\"values\":{\""));
	free(js);
	synth_free(&r);
}

static void test_bad_format(void **st)
{
	char err[256];
	assert_int_equal(vl_export(db, NULL, VL_AN_MARKDOWN, stdout, err, sizeof err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_bad_format),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
