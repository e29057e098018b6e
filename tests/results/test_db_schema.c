/* test_db_schema.c — opening the results database: a fresh file gets the
 * current schema (user_version, application_id, WAL); a v1 database built
 * here by hand, as the first schema wrote it, is migrated with its data
 * kept, and so is a v2 database (to v3, provenance) and a v3 one (to v4:
 * exit_reason.kind, bt/pv rows reclassified, merged shards keep kinds) and a
 * v4 one (to v5: value_cycles, carried by merge); files that are not ours (random bytes, a text file, a foreign SQLite
 * database, a newer schema, a corrupt virtlab database) are refused with a
 * reason and left byte-for-byte unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "synth.h"

static char dir[512];

static int setup(void **st) { synth_tmpdir(dir, sizeof dir); return 0; }
static int teardown(void **st) { synth_rmdir(dir); return 0; }

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = malloc(len + 1);
	assert_int_equal(fread(b, 1, len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return b;
}

static int64_t q_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void exec_ok(sqlite3 *h, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* vl_db_open must refuse path with a reason containing `needle` and leave
 * the file's bytes exactly as they were. */
static void refused_unchanged(const char *path, const char *needle)
{
	size_t n0, n1;
	unsigned char *before = slurp(path, &n0);
	struct vl_db *db = NULL;
	char err[1024] = "";
	assert_int_equal(vl_db_open(path, &db, err, sizeof err), -1);
	assert_null(db);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, needle))
		fail_msg("reason '%s' lacks '%s'", err, needle);
	unsigned char *after = slurp(path, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
}

static void test_fresh(void **st)
{
	char path[600];
	path_of(path, sizeof path, "fresh.db");
	struct vl_db *db = synth_open(dir, "fresh.db", "c0ffee");
	sqlite3 *h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "PRAGMA application_id"), (int32_t)VL_DB_APPLICATION_ID);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	static const char *const objs[] = { "run", "event", "cycles", "exit_reason", "sample", "guest_result", "metric" };
	for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
		sqlite3_stmt *q;
		assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master WHERE name = ?", -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_text(q, 1, objs[i], -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		if (sqlite3_column_int(q, 0) != 1)
			fail_msg("schema object %s missing", objs[i]);
		sqlite3_finalize(q);
	}
	struct vl_run_result r;
	synth_model(&r, "native", "native", "cpuid", "zen4", 100, 1);
	synth_store(db, &r, NULL);
	vl_db_close(db);
	/* reopening a current database changes nothing and keeps the run */
	db = synth_open(dir, "fresh.db", "c0ffee");
	assert_int_equal(q_int(vl_db_sqlite(db), "SELECT count(*) FROM run"), 1);
	assert_int_equal(q_int(vl_db_sqlite(db), "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	vl_db_close(db);
}

static void test_empty_file_is_initialised(void **st)
{
	char path[600];
	path_of(path, sizeof path, "empty.db");
	FILE *f = fopen(path, "w");
	fclose(f);
	struct vl_db *db = synth_open(dir, "empty.db", "x");
	assert_int_equal(q_int(vl_db_sqlite(db), "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	vl_db_close(db);
}

/* The first schema, as migration 1 shipped it: written out here by hand so
 * the test also catches an edit to a shipped migration. */
static const char v1_schema[] =
	"CREATE TABLE run (id INTEGER PRIMARY KEY, engine TEXT NOT NULL, mmu TEXT NOT NULL, workload TEXT NOT NULL,"
	" profile TEXT NOT NULL, params TEXT NOT NULL DEFAULT '', iterations INTEGER NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('ok','failed','timeout','refused')), reason TEXT NOT NULL DEFAULT '',"
	" guest_exit INTEGER, model INTEGER NOT NULL CHECK (model IN (0,1)), cycles_per_iter REAL,"
	" total_instructions INTEGER, total_cycles INTEGER, host_seconds REAL, host_mips REAL,"
	" started REAL NOT NULL, ended REAL NOT NULL, git_commit TEXT NOT NULL, git_dirty INTEGER NOT NULL,"
	" virtlab_version TEXT NOT NULL, compiler TEXT NOT NULL, host_name TEXT NOT NULL, host_cpu TEXT NOT NULL,"
	" host_kernel TEXT NOT NULL, host_pmu INTEGER NOT NULL, host_kvm INTEGER NOT NULL,"
	" host_notes TEXT NOT NULL DEFAULT '', console_tail TEXT);"
	"CREATE TABLE event (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, name TEXT NOT NULL,"
	" value INTEGER NOT NULL, unit TEXT NOT NULL DEFAULT 'count', PRIMARY KEY (run_id, name)) WITHOUT ROWID;"
	"CREATE TABLE cycles (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, category TEXT NOT NULL,"
	" value INTEGER NOT NULL, unit TEXT NOT NULL DEFAULT 'cycles', PRIMARY KEY (run_id, category)) WITHOUT ROWID;"
	"CREATE TABLE exit_reason (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, name TEXT NOT NULL,"
	" code INTEGER NOT NULL, count INTEGER NOT NULL, cycles INTEGER NOT NULL, PRIMARY KEY (run_id, code, name)) WITHOUT ROWID;"
	"CREATE TABLE sample (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, metric TEXT NOT NULL,"
	" seq INTEGER NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (run_id, metric, seq)) WITHOUT ROWID;"
	"CREATE TABLE guest_result (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
	" workload TEXT NOT NULL, iters INTEGER NOT NULL, cycles INTEGER NOT NULL, extra TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (run_id, seq)) WITHOUT ROWID;"
	"PRAGMA user_version = 1; PRAGMA application_id = 1447838018;";

static void test_migrate_v1(void **st)
{
	char path[600];
	path_of(path, sizeof path, "v1.db");
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, v1_schema);
	exec_ok(h, "INSERT INTO run VALUES (7, 'svm', 'nested', 'cpuid', 'zen4', '', 1000, 'ok', '', 0, 1, 1234.5,"
		   " 99, 88, 0.1, 10.0, 1600000000, 1600000001, 'abcdef0123', 0, '0.0.1', 'gcc', 'h', 'cpu', 'Linux', 0, 0, '', NULL);"
		   "INSERT INTO event VALUES (7, 'exits', 1000, 'count');"
		   "INSERT INTO cycles VALUES (7, 'exit', 1000000, 'cycles');"
		   "INSERT INTO exit_reason VALUES (7, 'VMEXIT_CPUID', 114, 1000, 1000000);");
	assert_int_equal(q_int(h, "PRAGMA application_id"), (int32_t)VL_DB_APPLICATION_ID);
	sqlite3_close(h);

	struct vl_db *db = synth_open(dir, "v1.db", "feed");
	h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	/* v1 data kept, new column present and empty, the v2 view covers old rows */
	assert_int_equal(q_int(h, "SELECT count(*) FROM run WHERE id = 7 AND tag IS NULL AND git_commit = 'abcdef0123'"), 1);
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = 7 AND kind = 'exit_count' AND code = 114"), 1000);
	assert_int_equal(q_int(h, "SELECT count(*) FROM metric WHERE run_id = 7"), 5);
	assert_int_equal(q_int(h, "SELECT count(*) FROM sqlite_master WHERE name = 'run_by_tag'"), 1);
	/* readers and the writer work on the migrated file */
	struct vl_db_filter f = { .tag = "after" };
	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 1000, 2);
	int64_t id = synth_store(db, &r, "after");
	assert_true(id > 7);
	struct vl_db_run *runs;
	size_t n;
	char err[256];
	assert_int_equal(vl_db_query_runs(db, &f, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].id, id);
	free(runs);
	vl_db_close(db);
}

/* Migration 2 as it shipped (the v2 the previous release wrote). */
static const char v2_migration[] =
	"ALTER TABLE run ADD COLUMN tag TEXT;"
	"CREATE INDEX run_by_config ON run(profile, workload, engine, mmu, params);"
	"CREATE INDEX run_by_commit ON run(git_commit);"
	"CREATE INDEX run_by_tag ON run(tag);"
	"CREATE VIEW metric(run_id, kind, name, code, value, unit) AS"
	"  SELECT id, 'cycles_per_iter', 'cycles_per_iter', NULL, cycles_per_iter, 'cycles' FROM run"
	"   WHERE cycles_per_iter IS NOT NULL"
	"  UNION ALL SELECT run_id, 'cycles', category, NULL, value, unit FROM cycles"
	"  UNION ALL SELECT run_id, 'event', name, NULL, value, unit FROM event"
	"  UNION ALL SELECT run_id, 'exit_count', name, code, count, 'count' FROM exit_reason"
	"  UNION ALL SELECT run_id, 'exit_cycles', name, code, cycles, 'cycles' FROM exit_reason;"
	"PRAGMA user_version = 2;";

/* v2 -> v3 (provenance): old runs keep their data with unknown (NULL)
 * provenance; new runs store the profile hash, its text once, the guest
 * hash and the profile tree's git state, and the readers return them. */
static void test_migrate_v2(void **st)
{
	char path[600];
	path_of(path, sizeof path, "v2.db");
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, v1_schema);
	exec_ok(h, v2_migration);
	exec_ok(h, "INSERT INTO run VALUES (5, 'svm', 'nested', 'cpuid', 'zen4', '', 1000, 'ok', '', 0, 1, 1234.5,"
		   " 99, 88, 0.1, 10.0, 1600000000, 1600000001, 'abcdef0123', 0, '0.0.1', 'gcc', 'h', 'cpu', 'Linux', 0, 0, '',"
		   " NULL, 'old');");
	sqlite3_close(h);

	struct vl_db *db = synth_open(dir, "v2.db", "feed");
	h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "SELECT count(*) FROM run WHERE id = 5 AND tag = 'old' AND profile_sha256 IS NULL"
			    " AND guest_sha256 IS NULL AND profile_dirty IS NULL"), 1);
	assert_int_equal(q_int(h, "SELECT count(*) FROM profile_version"), 0);

	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 1000, 2);
	r.profile_text = strdup("[cpu]\nname = zen4\n");
	snprintf(r.profile_sha256, sizeof r.profile_sha256, "%064d", 1);
	snprintf(r.guest_sha256, sizeof r.guest_sha256, "%064d", 2);
	snprintf(r.profile_commit, sizeof r.profile_commit, "%040d", 3);
	r.profile_dirty = 1;
	int64_t id = synth_store(db, &r, "new");
	synth_store(db, &r, "new");   /* the same profile text is kept once */
	assert_int_equal(q_int(h, "SELECT count(*) FROM profile_version"), 1);
	struct vl_db_filter f = { .tag = "new" };
	struct vl_db_run *runs;
	size_t n;
	char err[256], *text = NULL;
	assert_int_equal(vl_db_query_runs(db, &f, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].id, id);
	assert_string_equal(runs[0].profile_sha256, r.profile_sha256);
	assert_string_equal(runs[0].guest_sha256, r.guest_sha256);
	assert_string_equal(runs[0].profile_commit, r.profile_commit);
	assert_int_equal(runs[0].profile_dirty, 1);
	free(runs);
	f.tag = "old";
	assert_int_equal(vl_db_query_runs(db, &f, &runs, &n, err, sizeof err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(runs[0].profile_sha256, "");
	assert_int_equal(runs[0].profile_dirty, -1);
	free(runs);
	assert_int_equal(vl_db_profile_text(db, r.profile_sha256, &text, err, sizeof err), 0);
	assert_string_equal(text, r.profile_text);
	free(text);
	assert_int_equal(vl_db_profile_text(db, "00", &text, err, sizeof err), 1);
	assert_null(text);
	synth_free(&r);
	vl_db_close(db);
}

/* Migration 3 as it shipped. */
static const char v3_migration[] =
	"ALTER TABLE run ADD COLUMN profile_sha256 TEXT;"
	"ALTER TABLE run ADD COLUMN profile_path TEXT;"
	"ALTER TABLE run ADD COLUMN profile_commit TEXT;"
	"ALTER TABLE run ADD COLUMN profile_dirty INTEGER;"
	"ALTER TABLE run ADD COLUMN guest_sha256 TEXT;"
	"CREATE TABLE profile_version (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, text TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX run_by_profile_sha ON run(profile_sha256);"
	"PRAGMA user_version = 3;";

static const char *q_text(sqlite3 *h, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

/* A v3 file as the bt and pv engines' runs left it: every VMM entry an
 * exit row. The migration to v4 gives each its kind: bt's non-TRAP_ slots
 * are callouts, pv's codes below 0x100 and 0xffff hypercalls, the rest (and
 * every row of any other engine, even one named like a callout) exits. */
static void build_v3_with_entries(const char *path)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, v1_schema);
	exec_ok(h, v2_migration);
	exec_ok(h, v3_migration);
	static const char row[] = "1000, 'ok', '', 0, 1, 1234.5, 99, 88, 0.1, 10.0, 1600000000, 1600000001, 'abcdef0123',"
				  " 0, '0.0.1', 'gcc', 'h', 'cpu', 'Linux', 0, 0, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL);";
	char sql[1024];
	snprintf(sql, sizeof sql, "INSERT INTO run VALUES (1, 'bt', 'shadow', 'syscall', 'zen4', '', %s", row);
	exec_ok(h, sql);
	snprintf(sql, sizeof sql, "INSERT INTO run VALUES (2, 'pv', 'shadow', 'syscall', 'zen4', '', %s", row);
	exec_ok(h, sql);
	snprintf(sql, sizeof sql, "INSERT INTO run VALUES (3, 'vtx', 'nested', 'syscall', 'zen4', '', %s", row);
	exec_ok(h, sql);
	exec_ok(h, "INSERT INTO exit_reason VALUES (1, 'BLOCK_EXIT', 0, 50, 5000);"
		   "INSERT INTO exit_reason VALUES (1, 'CPUID', 4, 7, 700);"
		   "INSERT INTO exit_reason VALUES (1, 'TRAP_SYSCALL', 20, 1000, 90000);"
		   "INSERT INTO exit_reason VALUES (2, 'iret', 0, 1000, 80000);"
		   "INSERT INTO exit_reason VALUES (2, 'bad_number', 65535, 1, 100);"
		   "INSERT INTO exit_reason VALUES (2, 'SYSCALL', 262, 1000, 70000);"
		   "INSERT INTO exit_reason VALUES (3, 'CPUID', 10, 3, 300);");
	sqlite3_close(h);
}

static void test_migrate_v3(void **st)
{
	char path[600], buf[64];
	path_of(path, sizeof path, "v3.db");
	build_v3_with_entries(path);
	struct vl_db *db = synth_open(dir, "v3.db", "feed");
	sqlite3 *h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 1 AND code = 0", buf, sizeof buf), "callout");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 1 AND code = 4", buf, sizeof buf), "callout");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 1 AND code = 20", buf, sizeof buf), "exit");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 2 AND code = 0", buf, sizeof buf), "hypercall");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 2 AND code = 65535", buf, sizeof buf),
			    "hypercall");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 2 AND code = 262", buf, sizeof buf), "exit");
	assert_string_equal(q_text(h, "SELECT kind FROM exit_reason WHERE run_id = 3", buf, sizeof buf), "exit");
	/* the metric view names each kind */
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = 1 AND kind = 'callout_count' AND name = 'BLOCK_EXIT'"), 50);
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = 1 AND kind = 'exit_cycles' AND name = 'TRAP_SYSCALL'"),
			 90000);
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = 2 AND kind = 'hypercall_count' AND name = 'iret'"), 1000);
	assert_int_equal(q_int(h, "SELECT count(*) FROM metric WHERE kind = 'exit_count'"), 3);
	/* the kind is constrained */
	assert_int_not_equal(sqlite3_exec(h, "INSERT INTO exit_reason VALUES (3, 'X', 99, 1, 1, 'trap')", NULL, NULL, NULL),
			     SQLITE_OK);
	/* new runs store their kind from the run result (run.h vl_run_slot_kind) */
	struct vl_run_result r;
	synth_entries(&r, "bt", "syscall", "zen4", 1000, 3);
	int64_t id = synth_store(db, &r, NULL);
	synth_entries(&r, "pv", "syscall", "zen4", 1000, 4);
	int64_t id2 = synth_store(db, &r, NULL);
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT group_concat(kind || ':' || name, ',') FROM"
		 " (SELECT kind, name FROM exit_reason WHERE run_id = %lld ORDER BY code)", (long long)id);
	assert_string_equal(q_text(h, sql, buf, sizeof buf), "callout:BLOCK_EXIT,callout:CPUID,exit:TRAP_SYSCALL");
	snprintf(sql, sizeof sql, "SELECT group_concat(kind || ':' || name, ',') FROM"
		 " (SELECT kind, name FROM exit_reason WHERE run_id = %lld ORDER BY code)", (long long)id2);
	assert_string_equal(q_text(h, sql, buf, sizeof buf), "hypercall:read_cr,hypercall:mmu_update,exit:PAGE_FAULT");
	struct vl_db_metric *m;
	size_t n;
	char err[256];
	assert_int_equal(vl_db_query_metrics(db, id2, &m, &n, err, sizeof err), 0);
	int hc = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(m[i].kind, "hypercall_cycles") && m[i].code == 14 && m[i].value == 800)
			hc++;
	assert_int_equal(hc, 1);
	free(m);
	vl_db_close(db);
}

/* Merging a v3 shard (migrated as it is opened) into a v4 database keeps
 * the kinds; merging a v4 shard into a database that another, newer
 * virtlab wrote is refused. */
static void test_merge_v3_shard(void **st)
{
	char path[600], buf[64], err[512];
	path_of(path, sizeof path, "shard-v3.db");
	build_v3_with_entries(path);
	struct vl_db *dst = synth_open(dir, "merged.db", "feed"), *src = NULL;
	assert_int_equal(vl_db_open_read(path, &src, err, sizeof err), 0);
	size_t added, present;
	assert_int_equal(vl_db_merge(dst, src, &added, &present, err, sizeof err), 0);
	assert_int_equal(added, 3);
	assert_int_equal(vl_db_merge(dst, src, &added, &present, err, sizeof err), 0);
	assert_int_equal(added, 0);
	assert_int_equal(present, 3);
	sqlite3 *h = vl_db_sqlite(dst);
	assert_string_equal(q_text(h, "SELECT group_concat(kind, ',') FROM (SELECT e.kind FROM exit_reason e JOIN run r"
				   " ON r.id = e.run_id WHERE r.engine = 'pv' ORDER BY e.code)", buf, sizeof buf),
			    "hypercall,exit,hypercall");
	assert_int_equal(q_int(h, "SELECT count(*) FROM exit_reason e JOIN run r ON r.id = e.run_id"
			       " WHERE r.engine = 'bt' AND e.kind = 'callout'"), 2);
	vl_db_close(src);
	vl_db_close(dst);
	/* a shard one version newer than this virtlab is refused when opened */
	path_of(path, sizeof path, "shard-next.db");
	build_v3_with_entries(path);
	sqlite3 *hh;
	assert_int_equal(sqlite3_open(path, &hh), SQLITE_OK);
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", VL_DB_SCHEMA_VERSION + 1);
	exec_ok(hh, sql);
	sqlite3_close(hh);
	assert_int_equal(vl_db_open_read(path, &src, err, sizeof err), -1);
	assert_non_null(strstr(err, "newer"));
	refused_unchanged(path, "newer");
}

/* Migration 4 as it shipped (its reclassifying UPDATE left out: the file
 * built below has no exit rows before it). */
static const char v4_migration[] =
	"ALTER TABLE exit_reason ADD COLUMN kind TEXT NOT NULL DEFAULT 'exit'"
	"  CHECK (kind IN ('exit','callout','hypercall'));"
	"DROP VIEW metric;"
	"CREATE VIEW metric(run_id, kind, name, code, value, unit) AS"
	"  SELECT id, 'cycles_per_iter', 'cycles_per_iter', NULL, cycles_per_iter, 'cycles' FROM run"
	"   WHERE cycles_per_iter IS NOT NULL"
	"  UNION ALL SELECT run_id, 'cycles', category, NULL, value, unit FROM cycles"
	"  UNION ALL SELECT run_id, 'event', name, NULL, value, unit FROM event"
	"  UNION ALL SELECT run_id, kind || '_count', name, code, count, 'count' FROM exit_reason"
	"  UNION ALL SELECT run_id, kind || '_cycles', name, code, cycles, 'cycles' FROM exit_reason;"
	"PRAGMA user_version = 4;";

/* A v4 file (before value_cycles) with one svm run, its cycles and an exit. */
static void build_v4(const char *path)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, v1_schema);
	exec_ok(h, v2_migration);
	exec_ok(h, v3_migration);
	exec_ok(h, v4_migration);
	exec_ok(h, "INSERT INTO run VALUES (1, 'svm', 'nested', 'cpuid', 'zen4', '', 1000, 'ok', '', 0, 1, 1234.5, 99, 88,"
		   " 0.1, 10.0, 1600000000, 1600000001, 'abcdef0123', 0, '0.0.1', 'gcc', 'h', 'cpu', 'Linux', 0, 0, '', NULL,"
		   " NULL, NULL, NULL, NULL, NULL, NULL);"
		   "INSERT INTO cycles VALUES (1, 'guest', 1000000, 'cycles');"
		   "INSERT INTO cycles VALUES (1, 'exit', 234500, 'cycles');"
		   "INSERT INTO exit_reason VALUES (1, 'VMEXIT_CPUID', 114, 1000, 234500, 'exit');");
	sqlite3_close(h);
}

/* v4 -> v5: table value_cycles, empty for the runs already stored (their
 * attribution is unknown); the metric view keeps every older row and names
 * the new ones value_cycles; a new run stores its per-value cycles; merge
 * carries them (with their class) and merging twice adds nothing. */
static void test_migrate_v4(void **st)
{
	char path[600], err[512], buf[64];
	path_of(path, sizeof path, "v4.db");
	build_v4(path);
	struct vl_db *db = synth_open(dir, "v4.db", "feed");
	sqlite3 *h = vl_db_sqlite(db);
	assert_int_equal(q_int(h, "PRAGMA user_version"), VL_DB_SCHEMA_VERSION);
	assert_int_equal(q_int(h, "SELECT count(*) FROM value_cycles"), 0);
	assert_int_equal(q_int(h, "SELECT count(*) FROM metric WHERE run_id = 1"), 5);   /* cpi, 2 cycles, count, cycles */
	assert_int_equal(q_int(h, "SELECT value FROM metric WHERE run_id = 1 AND kind = 'exit_count'"), 1000);
	/* the class is constrained */
	assert_int_not_equal(sqlite3_exec(h, "INSERT INTO value_cycles VALUES (1, 'insn.alu', 5, 'guess')", NULL, NULL, NULL),
			     SQLITE_OK);
	struct vl_profile p;
	synth_profile("zen4", &p);
	struct vl_run_result r;
	synth_model(&r, "svm", "nested", "cpuid", "zen4", 100, 5);
	synth_values(&r, &p);
	int64_t id = synth_store(db, &r, NULL);
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM metric WHERE run_id = %lld AND kind = 'value_cycles'", (long long)id);
	assert_int_equal(q_int(h, sql), 5);
	vl_db_close(db);
	/* merged into a fresh file: the rows and their classes come along */
	struct vl_db *dst = synth_open(dir, "v4-merged.db", "feed"), *src = NULL;
	assert_int_equal(vl_db_open_read(path, &src, err, sizeof err), 0);
	size_t added, present;
	assert_int_equal(vl_db_merge(dst, src, &added, &present, err, sizeof err), 0);
	assert_int_equal(added, 2);
	assert_int_equal(vl_db_merge(dst, src, &added, &present, err, sizeof err), 0);
	assert_int_equal(added, 0);
	sqlite3 *d = vl_db_sqlite(dst);
	assert_int_equal(q_int(d, "SELECT count(*) FROM value_cycles"), 5);
	snprintf(sql, sizeof sql, "SELECT sum(cycles) FROM value_cycles");
	assert_int_equal(q_int(d, sql), (int64_t)vl_counters_total(&r.ctr));
	assert_string_equal(q_text(d, "SELECT class FROM value_cycles WHERE field = 'insn.alu'", buf, sizeof buf), "sourced");
	assert_string_equal(q_text(d, "SELECT class FROM value_cycles WHERE field = '(none)'", buf, sizeof buf), "unpriced");
	assert_int_equal(q_int(d, "SELECT count(*) FROM value_cycles v JOIN run r ON r.id = v.run_id WHERE r.iterations = 100"), 5);
	vl_db_close(src);
	vl_db_close(dst);
	synth_free(&r);
}

static void test_newer_schema_refused(void **st)
{
	char path[600];
	path_of(path, sizeof path, "future.db");
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, v1_schema);
	exec_ok(h, "PRAGMA user_version = 99");
	sqlite3_close(h);
	refused_unchanged(path, "newer");
}

static void test_foreign_sqlite_refused(void **st)
{
	char path[600];
	path_of(path, sizeof path, "foreign.db");
	sqlite3 *h;
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'ada');");
	sqlite3_close(h);
	refused_unchanged(path, "not a virtlab");
	refused_unchanged(path, "customers");
	/* a foreign database in WAL mode too */
	path_of(path, sizeof path, "foreign-wal.db");
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	exec_ok(h, "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (42);");
	sqlite3_close(h);
	refused_unchanged(path, "not a virtlab");
}

static void test_not_sqlite_refused(void **st)
{
	char path[600];
	path_of(path, sizeof path, "random.db");
	FILE *f = fopen(path, "wb");
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 8192; i++) {   /* xorshift bytes */
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		fputc((int)(x & 0xff), f);
	}
	fclose(f);
	refused_unchanged(path, "not an SQLite database");
	path_of(path, sizeof path, "notes.txt");
	f = fopen(path, "w");
	fputs("results of last week\n", f);
	fclose(f);
	refused_unchanged(path, "not an SQLite database");
	/* SQLite's magic followed by garbage: SQLite itself must call it corrupt */
	path_of(path, sizeof path, "fake.db");
	f = fopen(path, "wb");
	fwrite("SQLite format 3", 1, 16, f);
	for (int i = 0; i < 4096; i++)
		fputc(i * 31 & 0xff, f);
	fclose(f);
	refused_unchanged(path, "corrupt");
}

static void test_corrupt_virtlab_refused(void **st)
{
	char path[600];
	path_of(path, sizeof path, "corrupt.db");
	struct vl_db *db = synth_open(dir, "corrupt.db", "c1");
	for (int i = 0; i < 40; i++) {
		struct vl_run_result r;
		synth_model(&r, "vtx", "nested", "cpuid", "nehalem", 1000, (uint64_t)i + 1);
		synth_store(db, &r, NULL);
	}
	vl_db_close(db);   /* checkpoints the WAL into the file */
	size_t n;
	unsigned char *b = slurp(path, &n);
	assert_true(n > 6 * 4096);
	/* garble the middle of the file: b-tree pages of the metric tables */
	for (size_t i = 2 * 4096; i < 5 * 4096; i++)
		b[i] = (unsigned char)(i * 7 + 3);
	FILE *f = fopen(path, "wb");
	fwrite(b, 1, n, f);
	fclose(f);
	free(b);
	refused_unchanged(path, "corrupt");
}

static void test_bad_paths(void **st)
{
	struct vl_db *db = NULL;
	char err[512];
	assert_int_equal(vl_db_open(dir, &db, err, sizeof err), -1);   /* a directory */
	assert_non_null(strstr(err, "not a regular file"));
	char path[600];
	path_of(path, sizeof path, "no/such/dir/x.db");
	assert_int_equal(vl_db_open(path, &db, err, sizeof err), -1);
	assert_null(db);
	assert_non_null(strstr(err, "x.db"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_empty_file_is_initialised),
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_migrate_v2),
		cmocka_unit_test(test_migrate_v3),
		cmocka_unit_test(test_merge_v3_shard),
		cmocka_unit_test(test_migrate_v4),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_foreign_sqlite_refused),
		cmocka_unit_test(test_not_sqlite_refused),
		cmocka_unit_test(test_corrupt_virtlab_refused),
		cmocka_unit_test(test_bad_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
