/* db_schema.c — the schema, as a list of forward migrations.
 *
 * db_migrations[i] takes a database at PRAGMA user_version i to i + 1; a
 * fresh file runs them all. Never edit a migration that has shipped: add
 * the next one (and bump VL_DB_SCHEMA_VERSION in results.h). Each runs in
 * the one transaction that also sets user_version, so a database is always
 * at exactly one version. History: results/README.md.
 */
#include "db_internal.h"

/* v0 -> v1: runs and their metrics. */
static const char migrate_1[] =
	"CREATE TABLE run ("
	"  id INTEGER PRIMARY KEY,"
	"  engine TEXT NOT NULL,"
	"  mmu TEXT NOT NULL,"
	"  workload TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  params TEXT NOT NULL DEFAULT '',"
	"  iterations INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('ok','failed','timeout','refused')),"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  guest_exit INTEGER,"
	"  model INTEGER NOT NULL CHECK (model IN (0,1)),"   /* 1: deterministic model counters */
	"  cycles_per_iter REAL,"
	"  total_instructions INTEGER,"
	"  total_cycles INTEGER,"
	"  host_seconds REAL,"
	"  host_mips REAL,"
	"  started REAL NOT NULL,"                            /* unix seconds */
	"  ended REAL NOT NULL,"
	"  git_commit TEXT NOT NULL,"
	"  git_dirty INTEGER NOT NULL,"
	"  virtlab_version TEXT NOT NULL,"
	"  compiler TEXT NOT NULL,"
	"  host_name TEXT NOT NULL,"
	"  host_cpu TEXT NOT NULL,"
	"  host_kernel TEXT NOT NULL,"
	"  host_pmu INTEGER NOT NULL,"
	"  host_kvm INTEGER NOT NULL,"
	"  host_notes TEXT NOT NULL DEFAULT '',"
	"  console_tail TEXT"                                 /* last console lines of a run that was not ok */
	");"
	"CREATE TABLE event ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  unit TEXT NOT NULL DEFAULT 'count',"
	"  PRIMARY KEY (run_id, name)) WITHOUT ROWID;"
	"CREATE TABLE cycles ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  category TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  unit TEXT NOT NULL DEFAULT 'cycles',"
	"  PRIMARY KEY (run_id, category)) WITHOUT ROWID;"
	"CREATE TABLE exit_reason ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"                               /* vendor name (SDM / APM) */
	"  code INTEGER NOT NULL,"                            /* vendor number */
	"  count INTEGER NOT NULL,"
	"  cycles INTEGER NOT NULL,"
	"  PRIMARY KEY (run_id, code, name)) WITHOUT ROWID;"
	"CREATE TABLE sample ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  metric TEXT NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  value REAL NOT NULL,"
	"  unit TEXT NOT NULL,"
	"  PRIMARY KEY (run_id, metric, seq)) WITHOUT ROWID;"
	"CREATE TABLE guest_result ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  workload TEXT NOT NULL,"
	"  iters INTEGER NOT NULL,"
	"  cycles INTEGER NOT NULL,"
	"  extra TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;";

/* v1 -> v2: run tags (for `compare`), lookup indexes, one view of every
 * deterministic metric. */
static const char migrate_2[] =
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
	"  UNION ALL SELECT run_id, 'exit_cycles', name, code, cycles, 'cycles' FROM exit_reason;";

/* v2 -> v3: provenance. Each run names the effective profile it used (by
 * the SHA-256 of its canonical text, kept once in profile_version), the
 * guest image's SHA-256, and the git state of the profile's tree at run
 * time (the binary's build commit can be older than the profile it read).
 * Runs stored before v3 have NULLs: their provenance is unknown. */
static const char migrate_3[] =
	"ALTER TABLE run ADD COLUMN profile_sha256 TEXT;"
	"ALTER TABLE run ADD COLUMN profile_path TEXT;"
	"ALTER TABLE run ADD COLUMN profile_commit TEXT;"
	"ALTER TABLE run ADD COLUMN profile_dirty INTEGER;"
	"ALTER TABLE run ADD COLUMN guest_sha256 TEXT;"
	"CREATE TABLE profile_version ("
	"  sha256 TEXT PRIMARY KEY,"                           /* of text */
	"  name TEXT NOT NULL,"                                /* [cpu] name */
	"  text TEXT NOT NULL) WITHOUT ROWID;"                 /* canonical .ini, loadable */
	"CREATE INDEX run_by_profile_sha ON run(profile_sha256);";

/* The metric view as v4 defines it (v5 appends value_cycles to it). */
#define DB_METRIC_VIEW_V4 \
	"CREATE VIEW metric(run_id, kind, name, code, value, unit) AS" \
	"  SELECT id, 'cycles_per_iter', 'cycles_per_iter', NULL, cycles_per_iter, 'cycles' FROM run" \
	"   WHERE cycles_per_iter IS NOT NULL" \
	"  UNION ALL SELECT run_id, 'cycles', category, NULL, value, unit FROM cycles" \
	"  UNION ALL SELECT run_id, 'event', name, NULL, value, unit FROM event" \
	"  UNION ALL SELECT run_id, kind || '_count', name, code, count, 'count' FROM exit_reason" \
	"  UNION ALL SELECT run_id, kind || '_cycles', name, code, cycles, 'cycles' FROM exit_reason"

/* v3 -> v4: what a VMM entry is. exit_reason holds every entry into the
 * VMM that a run counted, and until v3 did not say which kind: a vendor VM
 * exit (vtx, svm; trap's and the software VMMs' own traps), a binary
 * translator's callout from translated code (bt), or a paravirtual guest's
 * hypercall (pv). Column `kind` says so; the metric view names them
 * exit_*, callout_*, hypercall_*. Rows stored before v4 are reclassified by
 * DB_RECLASSIFY_V3 below. */
static const char migrate_4[] =
	"ALTER TABLE exit_reason ADD COLUMN kind TEXT NOT NULL DEFAULT 'exit'"
	"  CHECK (kind IN ('exit','callout','hypercall'));"
	DB_RECLASSIFY_V3 ";"
	"DROP VIEW metric;"
	DB_METRIC_VIEW_V4 ";";

/* v4 -> v5: cycles by the profile value that priced them (counters.h
 * field_cycles): one row per value a run was charged, field "section.key"
 * (profile_fields.def) or "(none)" for cycles no value priced (an HLT's
 * idle wait), with the share class of that value in the run's profile as
 * it was stored: sourced, derived, estimated (machine/profile.c
 * vl_profile_class), set (the run's value differs from its file's: a
 * sweep's), n/a (an unused value), unpriced (the "(none)" row), unknown
 * (the writer could not read the profile's provenance). Runs stored before
 * v5 have no rows: their attribution is unknown, and readers say so. The
 * metric view names them value_cycles. */
static const char migrate_5[] =
	"CREATE TABLE value_cycles ("
	"  run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,"
	"  field TEXT NOT NULL,"                              /* "section.key" or "(none)" */
	"  cycles INTEGER NOT NULL,"
	"  class TEXT NOT NULL CHECK (class IN ('sourced','derived','estimated','set','n/a','unpriced','unknown')),"
	"  PRIMARY KEY (run_id, field)) WITHOUT ROWID;"
	"DROP VIEW metric;"
	DB_METRIC_VIEW_V4
	"  UNION ALL SELECT run_id, 'value_cycles', field, NULL, cycles, 'cycles' FROM value_cycles;";

const char *const db_migrations[] = { migrate_1, migrate_2, migrate_3, migrate_4, migrate_5 };
const int db_migration_count = (int)(sizeof db_migrations / sizeof db_migrations[0]);

_Static_assert(sizeof db_migrations / sizeof db_migrations[0] == VL_DB_SCHEMA_VERSION,
	       "one migration per schema version");
