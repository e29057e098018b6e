/* db_internal.h — what the files of results/ share: the connection object,
 * the migration table, and small helpers. Nothing outside results/ includes it. */
#ifndef VL_RESULTS_DB_INTERNAL_H
#define VL_RESULTS_DB_INTERNAL_H

#include <sqlite3.h>
#include <stdio.h>

#include "virtlab/profile.h"
#include "virtlab/results.h"

/* How long one statement waits for another writer's lock (busy handler),
 * and how often a whole transaction is retried after SQLITE_BUSY. */
#define DB_BUSY_TIMEOUT_MS 30000
#define DB_TX_RETRIES      20

struct vl_db {
	sqlite3 *h;
	char path[4096];
	char commit[48];
	int dirty;
	char compiler[160];
	char version[32];
	/* the share classes of the last profile stored (value_cycles), by
	 * (profile_sha256, profile_path): a matrix stores many runs of one */
	int cls_valid;
	char cls_sha[65], cls_path[512];
	const char *cls[VL_PF_COUNT];
};

/* Forward migrations: db_migrations[i] takes a database from user_version
 * i to i + 1. Statements separated by ';', run by sqlite3_exec (fixed text,
 * no values). db_schema.c. */
extern const char *const db_migrations[];
extern const int db_migration_count;

/* Rows of exit_reason stored before schema v4 (no `kind`: every row an
 * exit) that were not exits, identified as the engines numbered them from
 * their first commit until v4 (engines/bt/bt.c, engines/pv/pv.c):
 *   bt: every slot but its traps, whose names begin TRAP_, is a callout;
 *   pv: codes below 0x100 (the hypercall numbers) and 0xffff (a number
 *       outside the table) are hypercalls; 0x100 and up are its exits.
 * Every other engine's rows are exits. Text to append a run selection to
 * (" AND run_id = ?" in merge; nothing in the migration: every row). A
 * frozen rule, as a shipped migration is: never edit it. */
#define DB_RECLASSIFY_V3 \
	"UPDATE exit_reason SET kind = CASE" \
	"  WHEN (SELECT engine FROM run WHERE run.id = exit_reason.run_id) = 'bt' AND substr(name, 1, 5) <> 'TRAP_'" \
	"    THEN 'callout'" \
	"  WHEN (SELECT engine FROM run WHERE run.id = exit_reason.run_id) = 'pv' AND (code < 256 OR code = 65535)" \
	"    THEN 'hypercall'" \
	"  ELSE 'exit' END WHERE kind = 'exit'"

/* Fill err with "what: sqlite message" and return -1. */
int db_fail(sqlite3 *h, char *err, size_t errlen, const char *what);

/* Prepare sql; 0 or -1 with err. */
int db_prepare(sqlite3 *h, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);

/* Copy a TEXT column into a fixed buffer ("" for NULL). */
void db_col_text(sqlite3_stmt *st, int col, char *dst, size_t n);

/* Test hook: $VIRTLAB_TEST_STORE_HOOK=FILE makes vl_db_store_run create FILE
 * and sleep (30 s) inside its transaction, so a test can SIGKILL a writer
 * mid-transaction. Does nothing when unset. db_write.c. */
void db_test_hook_in_transaction(void);

#endif
