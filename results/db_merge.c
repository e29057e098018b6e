/* db_merge.c — fold a database shard (one `plan` command's output) into
 * another database: every run the target does not hold yet, with its
 * metric rows, and the profile texts those runs name. Idempotent: a run
 * already present (same identity, below) is not copied again, so merging a
 * shard twice, or a shard into itself, adds nothing. Columns are matched by
 * name, so a shard of an older schema (opened, and migrated if writable,
 * by vl_db_open_read) merges into a newer target; a newer or foreign shard
 * was refused when it was opened. (An older shard is always migrated
 * before it gets here — vl_db_open_read refuses one it may not migrate —
 * so exit_reason.kind, v4, is always there to copy.) */
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* A run's identity across databases: what it ran, when, where and from
 * which build. Ids are local to a file and never compared. */
static const char *const merge_key[] = {
	"engine", "mmu", "workload", "profile", "params", "iterations", "status", "started", "ended",
	"git_commit", "host_name", "tag", "cycles_per_iter",
};
#define MERGE_NKEY (sizeof merge_key / sizeof merge_key[0])

/* Tables whose rows belong to a run (column run_id). */
static const char *const merge_child[] = { "event", "cycles", "exit_reason", "sample", "guest_result", "value_cycles" };

/* Column names of table in h, excluding skip (may be NULL). Returns count;
 * names in cols[] (malloc'ed, free each). */
static int merge_columns(sqlite3 *h, const char *table, char cols[][64], int max)
{
	char sql[128];
	snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW && n < max) {
		const unsigned char *c = sqlite3_column_text(st, 1);
		snprintf(cols[n++], 64, "%s", c ? (const char *)c : "");
	}
	sqlite3_finalize(st);
	return n;
}

/* Columns of table present in both files (minus `skip`), ", "-joined. */
static int merge_common(sqlite3 *dst, sqlite3 *src, const char *table, const char *skip, char *list, size_t n,
			int *count)
{
	char a[128][64], b[128][64];
	int na = merge_columns(dst, table, a, 128), nb = merge_columns(src, table, b, 128);
	list[0] = '\0';
	*count = 0;
	if (na < 0 || nb < 0)
		return -1;
	for (int i = 0; i < na; i++) {
		if (skip && !strcmp(a[i], skip))
			continue;
		for (int j = 0; j < nb; j++)
			if (!strcmp(a[i], b[j])) {
				size_t l = strlen(list);
				snprintf(list + l, n - l, "%s\"%s\"", l ? ", " : "", a[i]);
				(*count)++;
				break;
			}
	}
	return 0;
}

int vl_db_merge(struct vl_db *db, struct vl_db *src, size_t *added, size_t *present, char *err, size_t errlen)
{
	sqlite3 *d = db->h, *s = src->h;
	*added = *present = 0;
	char runcols[4096], sql[8192];
	int nrun;
	if (merge_common(d, s, "run", "id", runcols, sizeof runcols, &nrun) || !nrun) {
		snprintf(err, errlen, "%s: no run table", src->path);
		return -1;
	}
	/* the key must exist on both sides */
	char keysql[2048] = "";
	for (size_t k = 0; k < MERGE_NKEY; k++) {
		char q[64];
		snprintf(q, sizeof q, "\"%s\"", merge_key[k]);
		if (!strstr(runcols, q)) {
			snprintf(err, errlen, "%s: run table lacks %s", src->path, merge_key[k]);
			return -1;
		}
		size_t l = strlen(keysql);
		snprintf(keysql + l, sizeof keysql - l, "%s\"%s\" IS ?%zu", k ? " AND " : "", merge_key[k], k + 1);
	}
	sqlite3_stmt *rd = NULL, *find = NULL, *ins = NULL, *srckey = NULL;
	int rc = -1;
	char key_list[1024] = "";
	for (size_t k = 0; k < MERGE_NKEY; k++) {
		size_t l = strlen(key_list);
		snprintf(key_list + l, sizeof key_list - l, "%s\"%s\"", k ? ", " : "", merge_key[k]);
	}
	snprintf(sql, sizeof sql, "SELECT id, %s FROM run ORDER BY id", key_list);
	if (db_prepare(s, sql, &srckey, err, errlen))
		return -1;
	snprintf(sql, sizeof sql, "SELECT id FROM run WHERE %s", keysql);
	if (db_prepare(d, sql, &find, err, errlen))
		goto out;
	snprintf(sql, sizeof sql, "SELECT %s FROM run WHERE id = ?", runcols);
	if (db_prepare(s, sql, &rd, err, errlen))
		goto out;
	{
		char qs[1024] = "";
		for (int i = 0; i < nrun; i++) {
			size_t l = strlen(qs);
			snprintf(qs + l, sizeof qs - l, "%s?", i ? "," : "");
		}
		snprintf(sql, sizeof sql, "INSERT INTO run (%s) VALUES (%s)", runcols, qs);
	}
	if (db_prepare(d, sql, &ins, err, errlen))
		goto out;
	if (sqlite3_exec(d, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(d, err, errlen, "begin");
		goto out;
	}
	while (sqlite3_step(srckey) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(srckey, 0);
		sqlite3_reset(find);
		for (size_t k = 0; k < MERGE_NKEY; k++)
			sqlite3_bind_value(find, (int)k + 1, sqlite3_column_value(srckey, (int)k + 1));
		int fr = sqlite3_step(find);
		if (fr == SQLITE_ROW) {
			(*present)++;
			continue;
		}
		if (fr != SQLITE_DONE) {
			db_fail(d, err, errlen, "find run");
			goto rollback;
		}
		sqlite3_reset(rd);
		sqlite3_bind_int64(rd, 1, sid);
		if (sqlite3_step(rd) != SQLITE_ROW) {
			db_fail(s, err, errlen, "read run");
			goto rollback;
		}
		sqlite3_reset(ins);
		for (int i = 0; i < nrun; i++)
			sqlite3_bind_value(ins, i + 1, sqlite3_column_value(rd, i));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			db_fail(d, err, errlen, "insert run");
			goto rollback;
		}
		int64_t did = sqlite3_last_insert_rowid(d);
		for (size_t t = 0; t < sizeof merge_child / sizeof merge_child[0]; t++) {
			char cols[2048];
			int nc;
			if (merge_common(d, s, merge_child[t], "run_id", cols, sizeof cols, &nc) || !nc)
				continue;
			sqlite3_stmt *cr = NULL, *ci = NULL;
			char q[1024] = "";
			for (int i = 0; i < nc; i++) {
				size_t l = strlen(q);
				snprintf(q + l, sizeof q - l, ",?");
			}
			snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE run_id = ?", cols, merge_child[t]);
			int bad = db_prepare(s, sql, &cr, err, errlen);
			snprintf(sql, sizeof sql, "INSERT INTO %s (run_id, %s) VALUES (?%s)", merge_child[t], cols, q);
			bad = bad || db_prepare(d, sql, &ci, err, errlen);
			if (!bad) {
				sqlite3_bind_int64(cr, 1, sid);
				while (!bad && sqlite3_step(cr) == SQLITE_ROW) {
					sqlite3_reset(ci);
					sqlite3_bind_int64(ci, 1, did);
					for (int i = 0; i < nc; i++)
						sqlite3_bind_value(ci, i + 2, sqlite3_column_value(cr, i));
					if (sqlite3_step(ci) != SQLITE_DONE)
						bad = db_fail(d, err, errlen, merge_child[t]);
				}
			}
			sqlite3_finalize(cr);
			sqlite3_finalize(ci);
			if (bad)
				goto rollback;
		}
		(*added)++;
	}
	/* profile texts (content-addressed: INSERT OR IGNORE is idempotent) */
	{
		char cols[512];
		int nc;
		if (!merge_common(d, s, "profile_version", NULL, cols, sizeof cols, &nc) && nc) {
			sqlite3_stmt *pr = NULL, *pi = NULL;
			char q[256] = "";
			for (int i = 0; i < nc; i++) {
				size_t l = strlen(q);
				snprintf(q + l, sizeof q - l, "%s?", i ? "," : "");
			}
			snprintf(sql, sizeof sql, "SELECT %s FROM profile_version", cols);
			int bad = db_prepare(s, sql, &pr, err, errlen);
			snprintf(sql, sizeof sql, "INSERT OR IGNORE INTO profile_version (%s) VALUES (%s)", cols, q);
			bad = bad || db_prepare(d, sql, &pi, err, errlen);
			while (!bad && sqlite3_step(pr) == SQLITE_ROW) {
				sqlite3_reset(pi);
				for (int i = 0; i < nc; i++)
					sqlite3_bind_value(pi, i + 1, sqlite3_column_value(pr, i));
				if (sqlite3_step(pi) != SQLITE_DONE)
					bad = db_fail(d, err, errlen, "profile_version");
			}
			sqlite3_finalize(pr);
			sqlite3_finalize(pi);
			if (bad)
				goto rollback;
		}
	}
	if (sqlite3_exec(d, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(d, err, errlen, "commit");
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	sqlite3_exec(d, "ROLLBACK", NULL, NULL, NULL);
	*added = 0;
out:
	sqlite3_finalize(srckey);
	sqlite3_finalize(find);
	sqlite3_finalize(rd);
	sqlite3_finalize(ins);
	return rc;
}
