/* test_db_store.c — storing runs and reading them back: every field of a
 * model run (events, cycles by category, exits with vendor codes, guest
 * results, build and host facts, tag), raw samples with units of a real
 * run, failed runs, hostile strings (values are bound, not pasted), the
 * readers' selections; a writer SIGKILLed inside its transaction leaves no
 * rows; concurrent writers all land every run. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "synth.h"

static char dir[512];

static int setup(void **st) { synth_tmpdir(dir, sizeof dir); return 0; }
static int teardown(void **st) { synth_rmdir(dir); return 0; }

static int64_t q_int(sqlite3 *h, const char *sql, int64_t bind)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, bind);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void q_text(sqlite3 *h, const char *sql, int64_t bind, char *out, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	sqlite3_bind_int64(st, 1, bind);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, n, "%s", t ? (const char *)t : "(null)");
	sqlite3_finalize(st);
}

static void test_model_run_round_trip(void **st)
{
	struct vl_db *db = synth_open(dir, "model.db", "0123456789abcdef0123456789abcdef01234567");
	sqlite3 *h = vl_db_sqlite(db);
	struct vl_run_result r;
	synth_model(&r, "vtx", "nested", "cpuid", "nehalem", 1000, 5);
	snprintf(r.params, sizeof r.params, "stride=64");
	r.nresults = 1;
	r.results[0].nkv = 1;
	snprintf(r.results[0].key[0], sizeof r.results[0].key[0], "pages");
	snprintf(r.results[0].val[0], sizeof r.results[0].val[0], "17");
	int64_t id = synth_store(db, &r, "baseline");
	char t[512];

	q_text(h, "SELECT engine || '/' || mmu || '/' || workload || '/' || profile || '/' || params || '/' || status"
		  " || '/' || tag || '/' || git_commit || '/' || git_dirty || '/' || compiler || '/' || virtlab_version"
		  " FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, "vtx/nested/cpuid/nehalem/stride=64/ok/baseline/"
			       "0123456789abcdef0123456789abcdef01234567/0/testcc 1.0/9.9.9");
	assert_int_equal(q_int(h, "SELECT iterations FROM run WHERE id = ?", id), 1000);
	assert_int_equal(q_int(h, "SELECT model FROM run WHERE id = ?", id), 1);
	assert_int_equal(q_int(h, "SELECT console_tail IS NULL FROM run WHERE id = ?", id), 1);
	assert_int_equal(q_int(h, "SELECT started = 1700000005.0 AND ended = 1700000005.5 FROM run WHERE id = ?", id), 1);
	/* cycles_per_iter exactly as given */
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT cycles_per_iter FROM run WHERE id = ?", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, id);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_true(sqlite3_column_double(s, 0) == r.cycles_per_iter);
	sqlite3_finalize(s);

	/* host facts are there and consistent with the host */
	const struct vl_host_info *hi = vl_host_detect();
	q_text(h, "SELECT host_cpu FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, hi->cpu);
	assert_int_equal(q_int(h, "SELECT host_kvm FROM run WHERE id = ?", id), hi->kvm);
	assert_int_equal(q_int(h, "SELECT host_pmu FROM run WHERE id = ?", id), hi->pmu);

	/* every event and category, value by value */
	assert_int_equal(q_int(h, "SELECT count(*) FROM event WHERE run_id = ?", id), VL_EV_COUNT);
	assert_int_equal(q_int(h, "SELECT count(*) FROM cycles WHERE run_id = ?", id), VL_CAT_COUNT);
	for (int k = 0; k < VL_EV_COUNT; k++) {
		sqlite3_stmt *e;
		assert_int_equal(sqlite3_prepare_v2(h, "SELECT value, unit FROM event WHERE run_id = ? AND name = ?", -1, &e, NULL), SQLITE_OK);
		sqlite3_bind_int64(e, 1, id);
		sqlite3_bind_text(e, 2, vl_event_name[k], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(e), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(e, 0), synth_event(5, k));
		assert_string_equal((const char *)sqlite3_column_text(e, 1), "count");
		sqlite3_finalize(e);
	}
	/* exits: only the two non-empty slots, with vendor codes */
	assert_int_equal(q_int(h, "SELECT count(*) FROM exit_reason WHERE run_id = ?", id), 2);
	assert_int_equal(q_int(h, "SELECT count FROM exit_reason WHERE run_id = ? AND code = 10 AND name = 'CPUID'", id), 15);
	assert_int_equal(q_int(h, "SELECT cycles FROM exit_reason WHERE run_id = ? AND code = 48", id), 5 * 2500);
	q_text(h, "SELECT extra FROM guest_result WHERE run_id = ?", id, t, sizeof t);
	assert_string_equal(t, "pages=17");

	/* the readers see the same */
	struct vl_db_metric *m;
	size_t n;
	char err[256];
	assert_int_equal(vl_db_query_metrics(db, id, &m, &n, err, sizeof err), 0);
	assert_int_equal(n, 1 + VL_CAT_COUNT + VL_EV_COUNT + 2 * 2);
	assert_string_equal(m[0].kind, "cycles_per_iter");
	assert_true(m[0].value == r.cycles_per_iter);
	int seen_exit = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(m[i].kind, "cycles") && !strcmp(m[i].name, vl_cat_name[VL_CAT_EXIT]))
			assert_true(m[i].value == (double)synth_cat(5, VL_CAT_EXIT));
		if (!strcmp(m[i].kind, "exit_count") && m[i].code == 48) {
			assert_string_equal(m[i].name, "EPT_VIOLATION");
			assert_true(m[i].value == 5);
			seen_exit = 1;
		}
	}
	assert_true(seen_exit);
	free(m);
	vl_db_close(db);
}

/* value_cycles (v5): a row per value with cycles, with the value's class in
 * the run's effective profile; "set" for a value the run changed, "unpriced"
 * for the (none) slot, "unknown" without a profile to read provenance from;
 * no rows for a run without per-value cycles. */
static void test_value_cycles_round_trip(void **st)
{
	struct vl_db *db = synth_open(dir, "values.db", "abc");
	sqlite3 *h = vl_db_sqlite(db);
	struct vl_profile p, file;
	synth_profile("zen4", &p);
	file = p;
	const char *cls[VL_PF_COUNT];
	char err[512];
	assert_int_equal(vl_profile_classes(&file, cls, err, sizeof err), 0);
	p.svm_vmexit += 1;   /* as a sweep would: no provenance */
	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 100, 2);
	synth_values(&r, &p);
	int64_t id = synth_store(db, &r, NULL);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ?", id), 5);
	assert_int_equal(q_int(h, "SELECT sum(cycles) FROM value_cycles WHERE run_id = ?", id),
			 q_int(h, "SELECT sum(value) FROM cycles WHERE run_id = ?", id));
	struct vl_db_value *v;
	size_t n;
	assert_int_equal(vl_db_query_values(db, id, &v, &n, err, sizeof err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[0].field, "insn.alu");   /* largest first */
	assert_string_equal(v[0].cls, "sourced");
	assert_true(v[0].cycles == (double)r.ctr.field_cycles[VL_PF_insn_alu]);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v[i].field, "insn.popf")) {
			assert_string_equal(v[i].cls, cls[VL_PF_insn_popf]);
			seen |= 1;
		} else if (!strcmp(v[i].field, "insn.io")) {
			assert_string_equal(v[i].cls, cls[VL_PF_insn_io]);
			assert_true(v[i].cycles == (double)r.ctr.field_cycles[VL_PF_insn_io]);
			seen |= 2;
		} else if (!strcmp(v[i].field, "svm.vmexit")) {
			assert_string_equal(v[i].cls, "set");
			assert_string_not_equal(cls[VL_PF_svm_vmexit], "set");
			seen |= 4;
		} else if (!strcmp(v[i].field, "(none)")) {
			assert_string_equal(v[i].cls, "unpriced");
			assert_true(v[i].cycles == (double)r.ctr.field_cycles[VL_PF_NONE]);
			seen |= 8;
		}
	}
	assert_int_equal(seen, 15);
	free(v);
	/* the metric view names them */
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = ? AND kind = 'value_cycles' AND name = 'insn.alu'", id),
			 (int64_t)r.ctr.field_cycles[VL_PF_insn_alu]);
	/* the same profile text again (the writer's class cache): same classes */
	int64_t id2 = synth_store(db, &r, NULL);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ? AND class = 'set'", id2), 1);
	/* the file's own values: nothing is "set" */
	synth_values(&r, &file);
	int64_t id3 = synth_store(db, &r, NULL);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ? AND class = 'set'", id3), 0);
	/* no profile to read provenance from: "unknown", cycles still stored */
	free(r.profile_text);
	r.profile_text = NULL;
	int64_t id4 = synth_store(db, &r, NULL);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ? AND class = 'unknown'", id4), 4);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ? AND class = 'unpriced'", id4), 1);
	/* a run without per-value cycles (stored by a model without them) has no rows */
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 100, 3);
	int64_t id5 = synth_store(db, &r, NULL);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ?", id5), 0);
	assert_int_equal(vl_db_query_values(db, id5, &v, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	free(v);
	synth_free(&r);
	vl_db_close(db);
}

/* Every shipped profile, stored as a run carries it (its canonical text and
 * its file): every value charged gets its file's class — none "set" (the
 * text loses nothing), none "unknown". */
static void test_value_classes_every_profile(void **st)
{
	struct vl_db *db = synth_open(dir, "classes.db", "abc");
	sqlite3 *h = vl_db_sqlite(db);
	char **names;
	size_t np = vl_profile_list(&names);
	assert_true(np >= 8);
	for (size_t i = 0; i < np; i++) {
		struct vl_profile p;
		synth_profile(names[i], &p);
		const char *cls[VL_PF_COUNT];
		char err[512];
		assert_int_equal(vl_profile_classes(&p, cls, err, sizeof err), 0);
		struct vl_run_result r;
		synth_model(&r, "native", "native", "cpuid", names[i], 100, 1);
		synth_values(&r, &p);
		memset(r.ctr.field_cycles, 0, sizeof r.ctr.field_cycles);
		for (int k = 0; k < VL_PF_COUNT; k++)   /* a cycle on every value the profile has */
			r.ctr.field_cycles[k] = cls[k][0] ? (uint64_t)k + 1 : 0;
		int64_t id = synth_store(db, &r, NULL);
		if (q_int(h, "SELECT count(*) FROM value_cycles WHERE run_id = ? AND class IN ('set', 'unknown')", id))
			fail_msg("profile %s: a value stored as set or unknown", names[i]);
		for (int k = 0; k < VL_PF_COUNT; k++) {
			if (!cls[k][0])
				continue;
			char sql[200], got[32];
			snprintf(sql, sizeof sql, "SELECT class FROM value_cycles WHERE run_id = ? AND field = '%s'", vl_pf_key[k]);
			q_text(h, sql, id, got, sizeof got);
			if (strcmp(got, cls[k]))
				fail_msg("profile %s: %s stored as %s, its file says %s", names[i], vl_pf_key[k], got, cls[k]);
		}
		synth_free(&r);
	}
	vl_profile_list_free(names, np);
	vl_db_close(db);
}

static void test_real_run_samples(void **st)
{
	struct vl_db *db = synth_open(dir, "real.db", "c");
	sqlite3 *h = vl_db_sqlite(db);
	const double v[] = { 310.5, 298.25, 305.0, 1e9 + 0.125, 301.0 };
	struct vl_run_result r;
	synth_real(&r, "qemu-tcg", "cpuid", "zen4", 1000, v, 5);
	int64_t id = synth_store(db, &r, NULL);
	/* no modelled counters are claimed for a real run */
	assert_int_equal(q_int(h, "SELECT count(*) FROM event WHERE run_id = ?", id), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM cycles WHERE run_id = ?", id), 0);
	assert_int_equal(q_int(h, "SELECT model FROM run WHERE id = ?", id), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sample WHERE run_id = ? AND unit = 'cycles' AND metric = 'cycles_per_iter'", id), 5);
	struct vl_db_samples *s;
	size_t n;
	char err[256];
	assert_int_equal(vl_db_query_samples(db, id, &s, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].metric, "cycles_per_iter");
	assert_string_equal(s[0].unit, "cycles");
	assert_int_equal(s[0].n, 5);
	for (int i = 0; i < 5; i++)
		assert_true(s[0].v[i] == v[i]);   /* raw, in order, bit-exact */
	vl_db_samples_free(s, n);
	synth_free(&r);
	vl_db_close(db);
}

static void test_failed_run(void **st)
{
	struct vl_db *db = synth_open(dir, "failed.db", "c");
	sqlite3 *h = vl_db_sqlite(db);
	struct vl_run_result r;
	synth_model(&r, "svm", "shadow", "pgfault", "zen4", 100, 3);
	r.status = VL_RUN_FAILED;
	r.guest_exit = 3;
	snprintf(r.reason, sizeof r.reason, "guest exited with status 3: ERROR pgfault: bad page");
	r.console = strdup("boot\nERROR pgfault: bad page\n");
	int64_t id = synth_store(db, &r, NULL);
	char t[512];
	q_text(h, "SELECT status || '|' || reason || '|' || guest_exit FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, "failed|guest exited with status 3: ERROR pgfault: bad page|3");
	assert_int_equal(q_int(h, "SELECT cycles_per_iter IS NULL FROM run WHERE id = ?", id), 1);
	q_text(h, "SELECT console_tail FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, "boot\nERROR pgfault: bad page\n");
	/* ok_only selections skip it; the default selection shows it */
	struct vl_db_run *runs;
	size_t n;
	char err[256];
	struct vl_db_filter ok = { .ok_only = 1 }, all = { 0 };
	assert_int_equal(vl_db_query_runs(db, &ok, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 0);
	free(runs);
	assert_int_equal(vl_db_query_runs(db, &all, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(runs[0].status, "failed");
	free(runs);
	/* an impossible status is refused and nothing is written */
	r.status = (enum vl_run_status)7;
	int64_t id2 = -1;
	assert_int_equal(vl_db_store_run(db, &r, NULL, &id2, err, sizeof err), -1);
	assert_int_equal(q_int(h, "SELECT count(*) FROM run", 0), 1);
	synth_free(&r);
	vl_db_close(db);
}

static void test_hostile_strings_bound(void **st)
{
	struct vl_db *db = synth_open(dir, "hostile.db", "x'); DROP TABLE run; --");
	sqlite3 *h = vl_db_sqlite(db);
	struct vl_run_result r;
	synth_model(&r, "native", "native", "x'); DROP TABLE run; --", "zen4", 10, 1);
	snprintf(r.params, sizeof r.params, "a=\"b\" c='d'");
	const char *tag = "it's \"quoted\"; DELETE FROM event;";
	int64_t id = synth_store(db, &r, tag);
	char t[512];
	q_text(h, "SELECT workload FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, "x'); DROP TABLE run; --");
	q_text(h, "SELECT tag FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, tag);
	q_text(h, "SELECT git_commit FROM run WHERE id = ?", id, t, sizeof t);
	assert_string_equal(t, "x'); DROP TABLE run; --");
	assert_int_equal(q_int(h, "SELECT count(*) FROM event", 0), VL_EV_COUNT);
	/* and the readers bind them too */
	struct vl_db_filter f = { .tag = tag, .workload = "x'); DROP TABLE run; --", .params = "a=\"b\" c='d'" };
	struct vl_db_run *runs;
	size_t n;
	char err[256];
	assert_int_equal(vl_db_query_runs(db, &f, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(runs[0].tag, tag);
	free(runs);
	vl_db_close(db);
}

static void test_selections(void **st)
{
	struct vl_db *db = synth_open(dir, "sel.db", "aaaa1111");
	struct vl_run_result r;
	int64_t ids[6];
	synth_model(&r, "native", "native", "cpuid", "zen4", 10, 1); ids[0] = synth_store(db, &r, "t1");
	synth_model(&r, "native", "native", "cpuid", "zen4", 10, 2); ids[1] = synth_store(db, &r, "t2");
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 10, 3);    ids[2] = synth_store(db, &r, "t1");
	synth_model(&r, "svm", "nested", "cpuid", "p4", 10, 4);      ids[3] = synth_store(db, &r, NULL);
	struct vl_db_build b = { "bbbb2222", 1, "cc", "v" };
	vl_db_set_build(db, &b);
	synth_model(&r, "native", "native", "syscall", "zen4", 10, 5); ids[4] = synth_store(db, &r, NULL);
	synth_model(&r, "native", "native", "cpuid", "zen4", 10, 6);
	snprintf(r.params, sizeof r.params, "k=1");
	ids[5] = synth_store(db, &r, NULL);

	struct vl_db_run *runs;
	size_t n;
	char err[256];
	struct vl_db_filter f = { .profile = "zen4", .latest = 1, .params = "" };
	assert_int_equal(vl_db_query_runs(db, &f, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);   /* native/cpuid (newest: ids[1]), svm/cpuid, native/syscall */
	assert_int_equal(runs[0].id, ids[1]);
	assert_int_equal(runs[1].id, ids[2]);
	assert_int_equal(runs[2].id, ids[4]);
	free(runs);
	struct vl_db_filter ft = { .tag = "t1" };
	assert_int_equal(vl_db_query_runs(db, &ft, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].id, ids[0]);
	assert_int_equal(runs[1].id, ids[2]);
	assert_string_equal(runs[1].tag, "t1");
	free(runs);
	struct vl_db_filter fc = { .commit = "bbbb" };
	assert_int_equal(vl_db_query_runs(db, &fc, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].git_dirty, 1);
	assert_string_equal(runs[0].git_commit, "bbbb2222");
	free(runs);
	int64_t want[] = { ids[5], ids[3] };
	struct vl_db_filter fi = { .ids = want, .nids = 2 };
	assert_int_equal(vl_db_query_runs(db, &fi, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].id, ids[3]);
	assert_string_equal(runs[0].profile, "p4");
	assert_string_equal(runs[1].params, "k=1");
	free(runs);
	vl_db_close(db);
}

static int wait_for_file(const char *path, double seconds)
{
	struct stat sb;
	for (int i = 0; i < seconds * 100; i++) {
		if (stat(path, &sb) == 0)
			return 0;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	return -1;
}

/* A writer SIGKILLed inside its transaction (after the run row and every
 * metric row were inserted, before COMMIT) leaves no row anywhere. */
static void test_sigkill_mid_transaction(void **st)
{
	char hook[600], path[600];
	snprintf(hook, sizeof hook, "%s/in-transaction", dir);
	snprintf(path, sizeof path, "%s/killed.db", dir);
	struct vl_db *db = synth_open(dir, "killed.db", "c");
	struct vl_run_result r;
	synth_model(&r, "native", "native", "cpuid", "zen4", 10, 1);
	synth_store(db, &r, "before");
	vl_db_close(db);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("VIRTLAB_TEST_STORE_HOOK", hook, 1);
		struct vl_db *cdb = synth_open(dir, "killed.db", "c");
		/* a tiny page cache makes SQLite spill the transaction's pages into
		 * the WAL before COMMIT, so the kill leaves uncommitted frames on disk */
		sqlite3_exec(vl_db_sqlite(cdb), "PRAGMA cache_size = 1", NULL, NULL, NULL);
		struct vl_run_result cr;
		synth_model(&cr, "svm", "nested", "cpuid", "zen4", 10, 2);
		synth_store(cdb, &cr, "killed");
		_exit(0);   /* not reached within the test: the hook sleeps 30 s */
	}
	assert_int_equal(wait_for_file(hook, 20), 0);
	/* the uncommitted frames really are in the WAL now */
	char wal[640];
	struct stat sb;
	snprintf(wal, sizeof wal, "%s-wal", path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 0);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	db = synth_open(dir, "killed.db", "c");
	sqlite3 *h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "SELECT count(*) FROM run", 0), 1);
	assert_int_equal(q_int(h, "SELECT count(*) FROM run WHERE tag = 'killed'", 0), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM event", 0), VL_EV_COUNT);
	assert_int_equal(q_int(h, "SELECT count(*) FROM exit_reason", 0), 2);
	assert_int_equal(q_int(h, "SELECT count(*) FROM guest_result", 0), 1);
	/* and the database takes the next run */
	synth_store(db, &r, "after");
	assert_int_equal(q_int(h, "SELECT count(*) FROM run", 0), 2);
	vl_db_close(db);
}

/* Several processes storing into one database at once: every run lands. */
static void test_concurrent_writers(void **st)
{
	enum { WRITERS = 4, RUNS = 25 };
	pid_t pids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			/* every writer opens (and may create) the file itself */
			struct vl_db *db = synth_open(dir, "concurrent.db", "c");
			char tag[16];
			snprintf(tag, sizeof tag, "w%d", w);
			for (int i = 0; i < RUNS; i++) {
				struct vl_run_result r;
				synth_model(&r, "vtx", "nested", "cpuid", "nehalem", 100, (uint64_t)(w * 100 + i + 1));
				synth_store(db, &r, tag);
			}
			vl_db_close(db);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct vl_db *db = synth_open(dir, "concurrent.db", "c");
	sqlite3 *h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "SELECT count(*) FROM run", 0), WRITERS * RUNS);
	assert_int_equal(q_int(h, "SELECT count(DISTINCT tag) FROM run", 0), WRITERS);
	assert_int_equal(q_int(h, "SELECT max(c) - min(c) FROM (SELECT count(*) c FROM run GROUP BY tag)", 0), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM event", 0), WRITERS * RUNS * VL_EV_COUNT);
	vl_db_close(db);
}

static void test_host_facts(void **st)
{
	const struct vl_host_info *h = vl_host_detect();
	struct stat sb;
	assert_true(h->pmu == 0 || h->pmu == 1);
	assert_true(h->kvm == 0 || h->kvm == 1);
	assert_true(h->cpu[0] && h->kernel[0] && h->name[0]);
	assert_non_null(strstr(h->notes, "pmu:"));
	assert_non_null(strstr(h->notes, "kvm:"));
	/* independent facts that force a "no" */
	if (stat("/sys/module/kvm_pvm", &sb) == 0 || stat("/dev/kvm", &sb) != 0)
		assert_int_equal(h->kvm, 0);
	if (stat("/sys/bus/event_source/devices/cpu", &sb) != 0 && stat("/sys/bus/event_source/devices/cpu_core", &sb) != 0)
		assert_int_equal(h->pmu, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_run_round_trip),
		cmocka_unit_test(test_value_cycles_round_trip),
		cmocka_unit_test(test_value_classes_every_profile),
		cmocka_unit_test(test_real_run_samples),
		cmocka_unit_test(test_failed_run),
		cmocka_unit_test(test_hostile_strings_bound),
		cmocka_unit_test(test_selections),
		cmocka_unit_test(test_sigkill_mid_transaction),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_host_facts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
