/* test_compare.c — regression comparison on synthetic databases: identical
 * sides; a changed deterministic counter reported with exact old/new/relative
 * values; the cost threshold (regressed / within / improved); real samples
 * judged by Mann–Whitney U plus the minimum effect (shifted: regressed; same
 * distribution: not significant; significant but small: within; too few
 * samples); ok -> failed as a regression; configurations on one side only;
 * nondeterminism within a side; a side without runs; the printed forms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../results/synth.h"
#include "virtlab/analysis.h"

static char dir[512];

static int setup(void **st) { synth_tmpdir(dir, sizeof dir); return 0; }
static int teardown(void **st) { synth_rmdir(dir); return 0; }

static const struct vl_cmp_opts opts = { .threshold = 0.05, .alpha = 0.05 };

static int run_cmp(struct vl_db *db, const char *tb, const char *th, const struct vl_cmp_opts *o, struct vl_cmp_result *r)
{
	struct vl_db_filter b = { .tag = tb }, h = { .tag = th };
	char err[256];
	int rc = vl_cmp_run(db, &b, tb, &h, th, o ? o : &opts, r, err, sizeof err);
	if (rc)
		fprintf(stderr, "vl_cmp_run: %s\n", err);
	return rc;
}

static const struct vl_cmp_entry *find(const struct vl_cmp_result *r, const char *workload, const char *kind, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->e[i].workload, workload) && !strcmp(r->e[i].kind, kind) && (!name || !strcmp(r->e[i].name, name)))
			return &r->e[i];
	return NULL;
}

static void test_identical(void **st)
{
	struct vl_db *db = synth_open(dir, "same.db", "c");
	struct vl_run_result r;
	for (int side = 0; side < 2; side++)
		for (uint64_t s = 1; s <= 4; s++) {
			synth_model(&r, s % 2 ? "vtx" : "native", s % 2 ? "nested" : "native", s < 3 ? "cpuid" : "syscall", "nehalem", 100, s);
			synth_store(db, &r, side ? "head" : "base");
		}
	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	assert_int_equal(c.nkeys, 4);
	assert_int_equal(c.nsame, 4);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.nregressed, 0);
	vl_cmp_free(&c);
	vl_db_close(db);
}

/* A change in a bt callout or a pv hypercall is reported under its own
 * kind (callout_count, hypercall_cycles, ...), never as an exit, and the
 * text names it so. */
static void test_entry_kinds(void **st)
{
	struct vl_db *db = synth_open(dir, "entries.db", "c");
	struct vl_run_result r;
	synth_entries(&r, "bt", "syscall", "zen4", 100, 2);
	synth_store(db, &r, "base");
	r.ctr.exit_count[1] += 5;   /* the CPUID callout */
	r.ctr.exit_cycles[1] += 500;
	synth_store(db, &r, "head");
	synth_entries(&r, "pv", "syscall", "zen4", 100, 2);
	synth_store(db, &r, "base");
	r.ctr.exit_cycles[1] += 7;  /* the mmu_update hypercall */
	synth_store(db, &r, "head");
	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	const struct vl_cmp_entry *e = find(&c, "syscall", "callout_count", "CPUID");
	assert_non_null(e);
	assert_true(e->base == 4 && e->head == 9);
	assert_non_null(find(&c, "syscall", "callout_cycles", "CPUID"));
	e = find(&c, "syscall", "hypercall_cycles", "mmu_update");
	assert_non_null(e);
	assert_true(e->base == 400 && e->head == 407);
	assert_null(find(&c, "syscall", "exit_count", "CPUID"));
	assert_null(find(&c, "syscall", "exit_cycles", "mmu_update"));
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	vl_cmp_print(m, &c, &opts, VL_AN_TEXT);
	fclose(m);
	assert_non_null(strstr(buf, "callout_count CPUID"));
	assert_non_null(strstr(buf, "hypercall_cycles mmu_update (14)"));
	free(buf);
	vl_cmp_free(&c);
	vl_db_close(db);
}

/* Per-value cycles (schema v5): a value whose cycles moved is listed
 * (kind value_cycles, changed); a side stored without them (a run before
 * v5) is not compared against zeros. */
static void test_value_cycles(void **st)
{
	struct vl_db *db = synth_open(dir, "values.db", "c");
	struct vl_profile p;
	synth_profile("zen4", &p);
	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 100, 2);
	synth_values(&r, &p);
	synth_store(db, &r, "base");
	r.ctr.field_cycles[VL_PF_insn_io] += 40;   /* the same total, split otherwise */
	r.ctr.field_cycles[VL_PF_NONE] -= 40;
	synth_store(db, &r, "head");
	synth_free(&r);
	synth_model(&r, "svm", "nested", "syscall", "zen4", 100, 3);
	synth_store(db, &r, "base");                 /* before v5: no per-value cycles */
	synth_values(&r, &p);
	synth_store(db, &r, "head");
	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	const struct vl_cmp_entry *e = find(&c, "cpuid", "value_cycles", "insn.io");
	assert_non_null(e);
	assert_true(e->head - e->base == 40);
	assert_int_equal(e->verdict, VL_CMP_CHANGED);
	assert_non_null(find(&c, "cpuid", "value_cycles", "(none)"));
	assert_null(find(&c, "cpuid", "value_cycles", "insn.alu"));   /* unchanged */
	assert_null(find(&c, "syscall", "value_cycles", NULL));
	assert_int_equal(c.nregressed, 0);
	vl_cmp_free(&c);
	synth_free(&r);
	vl_db_close(db);
}

static void test_model_changes(void **st)
{
	struct vl_db *db = synth_open(dir, "model.db", "c");
	struct vl_run_result b, h;
	/* cpuid: +14% cycles (exit), one event changed, a new exit reason */
	synth_model(&b, "svm", "nested", "cpuid", "zen4", 1000, 10);
	h = b;
	h.ctr.cycles[VL_CAT_EXIT] += 1000000;   /* +1000 of ~7000 cycles per iteration */
	h.ctr.events[VL_EV_EXITS] += 7;
	h.ctr.exit_count[1] = 4;
	h.ctr.exit_cycles[1] = 4000;
	h.cycles_per_iter = (double)vl_counters_total(&h.ctr) / 1000;
	synth_store(db, &b, "base");
	synth_store(db, &h, "head");
	/* syscall: +3% (within), in: -20% (improved) */
	struct vl_run_result b2, h2;
	synth_model(&b2, "svm", "nested", "syscall", "zen4", 1000, 10);
	h2 = b2;
	h2.cycles_per_iter = b2.cycles_per_iter * 1.03;
	synth_store(db, &b2, "base");
	synth_store(db, &h2, "head");
	synth_model(&b2, "svm", "nested", "in", "zen4", 1000, 10);
	h2 = b2;
	h2.cycles_per_iter = b2.cycles_per_iter * 0.8;
	synth_store(db, &b2, "base");
	synth_store(db, &h2, "head");

	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	assert_int_equal(c.nkeys, 3);
	assert_int_equal(c.nsame, 0);
	const struct vl_cmp_entry *e = find(&c, "cpuid", "cycles_per_iter", NULL);
	assert_non_null(e);
	assert_int_equal(e->verdict, VL_CMP_REGRESSED);
	assert_true(e->base == b.cycles_per_iter && e->head == h.cycles_per_iter);
	assert_true(fabs(e->rel - (h.cycles_per_iter - b.cycles_per_iter) / b.cycles_per_iter) < 1e-15);
	assert_true(e->rel > 0.05);
	e = find(&c, "cpuid", "event", "exits");
	assert_non_null(e);
	assert_int_equal(e->verdict, VL_CMP_CHANGED);
	assert_true(e->base == (double)b.ctr.events[VL_EV_EXITS] && e->head == e->base + 7);
	e = find(&c, "cpuid", "cycles", "exit");
	assert_non_null(e);
	assert_true(e->head - e->base == 1000000);
	e = find(&c, "cpuid", "exit_count", "IO_INSTRUCTION");
	assert_non_null(e);
	assert_true(e->base == 0 && e->head == 4 && e->code == 30);
	assert_true(isnan(e->rel));
	/* unchanged counters are not listed */
	assert_null(find(&c, "cpuid", "event", "guest_instructions"));
	assert_int_equal(find(&c, "syscall", "cycles_per_iter", NULL)->verdict, VL_CMP_WITHIN);
	assert_int_equal(find(&c, "in", "cycles_per_iter", NULL)->verdict, VL_CMP_IMPROVED);
	assert_int_equal(c.nregressed, 1);
	assert_int_equal(c.nimproved, 1);
	/* regressions sort first */
	assert_int_equal(c.e[0].verdict, VL_CMP_REGRESSED);
	vl_cmp_free(&c);
	/* a threshold above the change: no regression */
	struct vl_cmp_opts loose = { .threshold = 0.5, .alpha = 0.05 };
	assert_int_equal(run_cmp(db, "base", "head", &loose, &c), 0);
	assert_int_equal(c.nregressed, 0);
	vl_cmp_free(&c);
	vl_db_close(db);
}

/* n pseudo-normal values around mu (deterministic) */
static void noisy(double *v, size_t n, double mu, double sd, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		double s = 0;
		for (int k = 0; k < 12; k++) {   /* Irwin–Hall: sum of 12 uniforms - 6 */
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			s += (double)(x >> 11) / 9007199254740992.0;
		}
		v[i] = mu + sd * (s - 6);
	}
}

static void store_real(struct vl_db *db, const char *w, const double *v, size_t n, const char *tag)
{
	struct vl_run_result r;
	synth_real(&r, "qemu-tcg", w, "zen4", 1000, v, n);
	synth_store(db, &r, tag);
	synth_free(&r);
}

static void test_real_samples(void **st)
{
	struct vl_db *db = synth_open(dir, "real.db", "c");
	double b[10], h[10];
	noisy(b, 10, 100, 2, 1);
	noisy(h, 10, 120, 2, 2);      /* +20%: regressed */
	store_real(db, "cpuid", b, 10, "base");
	store_real(db, "cpuid", h, 10, "head");
	noisy(h, 10, 100, 2, 3);      /* same distribution */
	store_real(db, "syscall", b, 10, "base");
	store_real(db, "syscall", h, 10, "head");
	noisy(b, 10, 100, 0.1, 4);
	noisy(h, 10, 102, 0.1, 5);    /* +2%: significant, below the minimum effect */
	store_real(db, "in", b, 10, "base");
	store_real(db, "in", h, 10, "head");
	store_real(db, "cr8wr", b, 3, "base");   /* 3 vs 3: min p = 0.1 > alpha */
	store_real(db, "cr8wr", h, 3, "head");
	/* pooling: two base runs of ctxsw, 4 + 4 samples, vs 8 head samples +30% */
	noisy(b, 8, 100, 1, 6);
	store_real(db, "ctxsw", b, 4, "base");
	store_real(db, "ctxsw", b + 4, 4, "base");
	noisy(h, 8, 130, 1, 7);
	store_real(db, "ctxsw", h, 8, "head");

	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	const struct vl_cmp_entry *e = find(&c, "cpuid", "sample", "cycles_per_iter");
	assert_non_null(e);
	assert_int_equal(e->verdict, VL_CMP_REGRESSED);
	assert_true(e->p < 0.001);
	assert_int_equal(e->nbase, 10);
	assert_int_equal(find(&c, "syscall", "sample", NULL)->verdict, VL_CMP_NOT_SIGNIFICANT);
	e = find(&c, "in", "sample", NULL);
	assert_int_equal(e->verdict, VL_CMP_WITHIN);
	assert_true(e->p < 0.05 && fabs(e->rel) < 0.05);
	assert_int_equal(find(&c, "cr8wr", "sample", NULL)->verdict, VL_CMP_TOO_FEW);
	e = find(&c, "ctxsw", "sample", NULL);
	assert_int_equal(e->nbase, 8);
	assert_int_equal(e->verdict, VL_CMP_REGRESSED);
	assert_int_equal(c.nregressed, 2);
	vl_cmp_free(&c);
	vl_db_close(db);
}

static void test_status_and_sides(void **st)
{
	struct vl_db *db = synth_open(dir, "status.db", "c");
	struct vl_run_result r;
	synth_model(&r, "vtx", "shadow", "pgfault", "p4", 100, 1);
	synth_store(db, &r, "base");
	r.status = VL_RUN_FAILED;
	synth_store(db, &r, "head");
	synth_model(&r, "vtx", "shadow", "cpuid", "p4", 100, 1);
	synth_store(db, &r, "base");                  /* only in base */
	synth_model(&r, "vtx", "shadow", "cpuid", "p4", 200, 1);
	synth_store(db, &r, "head");                  /* other iterations: only in head */
	/* two base runs of divzero that disagree: nondeterminism */
	synth_model(&r, "vtx", "shadow", "divzero", "p4", 100, 1);
	synth_store(db, &r, "base");
	synth_store(db, &r, "head");
	r.cycles_per_iter += 1;
	synth_store(db, &r, "base");
	struct vl_cmp_result c;
	assert_int_equal(run_cmp(db, "base", "head", NULL, &c), 0);
	const struct vl_cmp_entry *e = find(&c, "pgfault", "status", NULL);
	assert_non_null(e);
	assert_int_equal(e->verdict, VL_CMP_REGRESSED);
	assert_string_equal(e->name, "ok -> failed");
	int ob = 0, oh = 0;
	for (size_t i = 0; i < c.n; i++) {
		ob += c.e[i].verdict == VL_CMP_ONLY_BASE && c.e[i].iterations == 100;
		oh += c.e[i].verdict == VL_CMP_ONLY_HEAD && c.e[i].iterations == 200;
	}
	assert_int_equal(ob, 1);
	assert_int_equal(oh, 1);
	assert_non_null(strstr(c.warnings, "nondeterminism"));
	assert_non_null(strstr(c.warnings, "divzero"));

	/* the printed forms */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	vl_cmp_print(m, &c, &opts, VL_AN_MARKDOWN);
	fclose(m);
	assert_non_null(strstr(buf, "### virtlab compare: `base` → `head`"));
	assert_non_null(strstr(buf, "| **regressed** | vtx/shadow | pgfault | p4 | status ok -> failed |"));
	assert_non_null(strstr(buf, "**1 regression**"));
	free(buf);
	buf = NULL;
	m = open_memstream(&buf, &len);
	vl_cmp_print(m, &c, &opts, VL_AN_JSON);
	fclose(m);
	assert_non_null(strstr(buf, "\"regressions\":1"));
	assert_non_null(strstr(buf, "\"verdict\":\"only in base\""));
	free(buf);
	vl_cmp_free(&c);

	/* a side that selects nothing is an error, not "no regressions" */
	struct vl_db_filter b = { .tag = "base" }, none = { .tag = "nosuch" };
	char err[256];
	assert_int_equal(vl_cmp_run(db, &b, "base", &none, "nosuch", &opts, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "nosuch"));
	vl_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_model_changes),
		cmocka_unit_test(test_entry_kinds),
		cmocka_unit_test(test_value_cycles),
		cmocka_unit_test(test_real_samples),
		cmocka_unit_test(test_status_and_sides),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
