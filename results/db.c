/* db.c — opening the results database: refuse what is not ours, migrate
 * what is older, and set the connection up (WAL, busy timeout, foreign keys).
 *
 * Order matters for "a corrupt or foreign file is never overwritten":
 * nothing that writes (journal mode, migrations) runs until the file has
 * been classified as either empty or a healthy virtlab database of a
 * version we know. A file without the SQLite header is judged from its
 * first bytes without SQLite ever opening it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db_internal.h"

int db_fail(sqlite3 *h, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, h ? sqlite3_errmsg(h) : "out of memory");
	return -1;
}

int db_prepare(sqlite3 *h, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(h, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(h, err, errlen, "prepare");
	return 0;
}

void db_col_text(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* Read one integer from a PRAGMA or SELECT. 0, or the SQLite error code. */
static int db_int(sqlite3 *h, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			*v = 0;
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static bool db_is_damage(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_IOERR || rc == SQLITE_FORMAT;
}

/* The first bytes of an existing, non-empty file must be SQLite's header.
 * Judged with read(2) so a foreign file is never handed to SQLite. */
static int db_check_header(const char *path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";   /* + NUL */
	unsigned char hdr[100];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	ssize_t n = read(fd, hdr, sizeof hdr);
	close(fd);
	if (n != (ssize_t)sizeof hdr || memcmp(hdr, magic, sizeof magic)) {
		snprintf(err, errlen, "%s is not an SQLite database (no SQLite header); refusing to touch it", path);
		return -1;
	}
	return 0;
}

/* Names of the first few tables of a foreign database, for the message. */
static void db_table_names(sqlite3 *h, char *buf, size_t n)
{
	sqlite3_stmt *st = NULL;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(h, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 6",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, "%s%s", l ? ", " : "", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
}

enum db_kind { DB_EMPTY, DB_OURS };

/* Classify an open connection without writing: empty, ours at *ver, or a
 * refusal (foreign, newer, damaged, corrupt) with the reason in err. */
enum db_check { DB_CHECK_NONE, DB_CHECK_QUICK, DB_CHECK_FULL };

static int db_classify(struct vl_db *db, enum db_kind *kind, int64_t *ver, enum db_check check,
		       char *err, size_t errlen)
{
	int64_t app = 0, ntab = 0;
	int rc = db_int(db->h, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = db_int(db->h, "PRAGMA user_version", ver);
	if (rc == SQLITE_OK)
		rc = db_int(db->h, "SELECT count(*) FROM sqlite_master", &ntab);
	if (rc != SQLITE_OK) {
		if (db_is_damage(rc))
			snprintf(err, errlen, "%s is corrupt (%s); refusing to touch it", db->path, sqlite3_errstr(rc));
		else
			snprintf(err, errlen, "%s: %s", db->path, sqlite3_errmsg(db->h));
		return -1;
	}
	if ((uint32_t)app != VL_DB_APPLICATION_ID) {
		if (app == 0 && ntab == 0) {
			*kind = DB_EMPTY;
			return 0;
		}
		char names[256];
		db_table_names(db->h, names, sizeof names);
		snprintf(err, errlen, "%s is an SQLite database but not a virtlab one (application_id 0x%08x, tables: %s); "
			 "refusing to touch it", db->path, (unsigned)(uint32_t)app, names[0] ? names : "none");
		return -1;
	}
	if (*ver > VL_DB_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s has schema version %lld, newer than this virtlab's %d; use a newer virtlab",
			 db->path, (long long)*ver, VL_DB_SCHEMA_VERSION);
		return -1;
	}
	if (*ver < 1) {
		snprintf(err, errlen, "%s is marked as virtlab's but has no schema version; refusing to touch it", db->path);
		return -1;
	}
	if (check != DB_CHECK_NONE) {
		/* quick_check does not compare indexes with their tables; a reader
		 * that selects through an index would silently miss rows, so the
		 * read commands pay for the full check */
		sqlite3_stmt *st = NULL;
		rc = sqlite3_prepare_v2(db->h, check == DB_CHECK_FULL ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)",
					-1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		const unsigned char *t = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		if (!t || strcmp((const char *)t, "ok")) {
			snprintf(err, errlen, "%s is corrupt (%.200s); refusing to touch it", db->path,
				 t ? (const char *)t : sqlite3_errmsg(db->h));
			sqlite3_finalize(st);
			return -1;
		}
		sqlite3_finalize(st);
	}
	*kind = DB_OURS;
	return 0;
}

/* Run a PRAGMA or statement list, retrying while another connection holds
 * a lock the busy handler could not wait out. */
static int db_exec_retry(sqlite3 *h, const char *sql)
{
	int rc = SQLITE_BUSY;
	for (int i = 0; i < DB_TX_RETRIES; i++) {
		rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		struct timespec ts = { 0, 50000000L * (i + 1) };
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* Bring the schema to VL_DB_SCHEMA_VERSION inside one write transaction.
 * The version is re-read under the write lock: another process may have
 * created or migrated the file since we classified it. */
static int db_migrate(struct vl_db *db, char *err, size_t errlen)
{
	if (db_exec_retry(db->h, "BEGIN IMMEDIATE") != SQLITE_OK)
		return db_fail(db->h, err, errlen, "migrate: begin");
	enum db_kind kind;
	int64_t ver = 0;
	if (db_classify(db, &kind, &ver, DB_CHECK_NONE, err, errlen))
		goto fail;
	if (kind == DB_EMPTY)
		ver = 0;
	for (int v = (int)ver; v < VL_DB_SCHEMA_VERSION; v++) {
		char what[64];
		if (sqlite3_exec(db->h, db_migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(what, sizeof what, "migrate to schema v%d", v + 1);
			db_fail(db->h, err, errlen, what);
			goto fail;
		}
	}
	if (ver < VL_DB_SCHEMA_VERSION) {
		/* PRAGMAs take no bound parameters; both values are our constants. */
		char sql[96];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", VL_DB_SCHEMA_VERSION,
			 (int)VL_DB_APPLICATION_ID);
		if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK) {
			db_fail(db->h, err, errlen, "set schema version");
			goto fail;
		}
	}
	if (db_exec_retry(db->h, "COMMIT") != SQLITE_OK) {
		db_fail(db->h, err, errlen, "migrate: commit");
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* A handle for path, not yet open, with this process's build facts (both
 * opens start so); NULL with "out of memory". */
static struct vl_db *db_alloc(const char *path, char *err, size_t errlen)
{
	struct vl_db *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(db->path, sizeof db->path, "%s", path);
	vl_db_set_build(db, NULL);
	return db;
}

int vl_db_open(const char *path, struct vl_db **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path) {
		snprintf(err, errlen, "no database path");
		return -1;
	}
	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (exists && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return -1;
	}
	if (exists && st.st_size > 0 && db_check_header(path, err, errlen))
		return -1;

	struct vl_db *db = db_alloc(path, err, errlen);
	if (!db)
		return -1;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (exists ? 0 : SQLITE_OPEN_CREATE);
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		if (!exists && errno == ENOENT)
			snprintf(err, errlen, "cannot create %s (does its directory exist?)", path);
		else
			db_fail(db->h, err, errlen, path);
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);

	/* One read transaction, so the facts come from one snapshot: another
	 * process may be creating the schema right now. */
	enum db_kind kind;
	int64_t ver = 0;
	sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL);
	int bad = db_classify(db, &kind, &ver, DB_CHECK_QUICK, err, errlen);
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	if (bad)
		goto fail;
	/* From here on the file is empty or a healthy virtlab database: ours to write. */
	sqlite3_stmt *jm = NULL;
	const unsigned char *mode = NULL;
	for (int i = 0; i < DB_TX_RETRIES; i++) {
		sqlite3_finalize(jm);
		jm = NULL;
		if (sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &jm, NULL) == SQLITE_OK &&
		    sqlite3_step(jm) == SQLITE_ROW) {
			mode = sqlite3_column_text(jm, 0);
			break;
		}
		struct timespec ts = { 0, 50000000L * (i + 1) };
		nanosleep(&ts, NULL);
	}
	if (!mode || strcmp((const char *)mode, "wal")) {
		snprintf(err, errlen, "%s: cannot switch to WAL mode (%s)", path, mode ? (const char *)mode : sqlite3_errmsg(db->h));
		sqlite3_finalize(jm);
		goto fail;
	}
	sqlite3_finalize(jm);
	if (sqlite3_exec(db->h, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		db_fail(db->h, err, errlen, "pragma");
		goto fail;
	}
	if ((kind == DB_EMPTY || ver < VL_DB_SCHEMA_VERSION) && db_migrate(db, err, errlen))
		goto fail;
	*out = db;
	return 0;
fail:
	for (char *p = err; errlen && *p; p++)   /* the reason is one line, whatever SQLite said */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	sqlite3_close(db->h);
	free(db);
	return -1;
}

/* "file:" URI of a path, for SQLite's mode=ro / immutable=1: '%', '?' and
 * '#' escaped (a path with them must not become a query string). */
static void db_uri(const char *path, const char *query, char *buf, size_t n)
{
	size_t o = (size_t)snprintf(buf, n, "file:");
	for (const char *p = path; *p && o + 4 < n; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			o += (size_t)snprintf(buf + o, n - o, "%%%02X", (unsigned char)*p);
		else
			buf[o++] = *p;
	}
	if (o < n)
		snprintf(buf + o, n - o, "?%s", query);
}

/* A path that we may not, or are not meant to, write: the file or its
 * directory is not writable for us, or has no write permission bits at all
 * (root may write anyway, but a `chmod 444` database is meant to stay as
 * it is, and SQLite would create its -wal and -shm files beside it). */
static bool db_dir_readonly(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	struct stat fs, ds;
	if (access(dir, W_OK) != 0 || access(path, W_OK) != 0)
		return true;
	return (stat(path, &fs) == 0 && !(fs.st_mode & 0222)) || (stat(dir, &ds) == 0 && !(ds.st_mode & 0222));
}

/* The database has committed pages still in its -wal file. */
static bool db_wal_pending(const char *path)
{
	char wal[4200];
	struct stat st;
	snprintf(wal, sizeof wal, "%s-wal", path);
	return stat(wal, &st) == 0 && st.st_size > 0;
}

static int db_open_ro_once(struct vl_db *db, const char *query, enum db_kind *kind, int64_t *ver,
			   char *err, size_t errlen)
{
	char uri[8400];
	db_uri(db->path, query, uri, sizeof uri);
	if (sqlite3_open_v2(uri, &db->h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return db_fail(db->h, err, errlen, db->path);
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
	sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL);
	int bad = db_classify(db, kind, ver, DB_CHECK_FULL, err, errlen);
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return bad;
}

int vl_db_open_read(const char *path, struct vl_db **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!path || !*path) {
		snprintf(err, errlen, "no database path");
		return -1;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no database at %s (nothing stored yet: `virtlab run` or `virtlab matrix` "
				 "create it; --db FILE names another)", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is %s", path, S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		return -1;
	}
	if (st.st_size == 0) {
		snprintf(err, errlen, "%s is empty: no runs stored", path);
		return -1;
	}
	if (db_check_header(path, err, errlen))
		return -1;
	struct vl_db *db = db_alloc(path, err, errlen);
	if (!db)
		return -1;
	enum db_kind kind = DB_EMPTY;
	int64_t ver = 0;
	/* A read-only place: nobody writes there, so the file can be read as
	 * immutable — SQLite then creates no -wal/-shm beside it (which it
	 * cannot, or must not, do). Unless committed pages wait in a -wal:
	 * then read them through it (needs its -shm), immutable as a last resort. */
	bool ro = db_dir_readonly(path);
	int bad = db_open_ro_once(db, ro && !db_wal_pending(path) ? "immutable=1" : "mode=ro", &kind, &ver, err, errlen);
	if (bad && ro && db_wal_pending(path)) {
		sqlite3_close(db->h);
		db->h = NULL;
		bad = db_open_ro_once(db, "immutable=1", &kind, &ver, err, errlen);
	}
	if (bad)
		goto fail;
	if (kind == DB_EMPTY) {
		snprintf(err, errlen, "%s holds no virtlab tables: no runs stored", path);
		goto fail;
	}
	if (ver < VL_DB_SCHEMA_VERSION) {
		/* an older schema: migrate it when we may write it, as any writer would */
		sqlite3_close(db->h);
		free(db);
		if (access(path, W_OK) == 0 && !db_dir_readonly(path))
			return vl_db_open(path, out, err, errlen);
		snprintf(err, errlen, "%s has schema version %lld and is read-only here; this virtlab reads version %d "
			 "(migrate a writable copy: any `virtlab run --db COPY` does)", path, (long long)ver, VL_DB_SCHEMA_VERSION);
		return -1;
	}
	sqlite3_exec(db->h, "PRAGMA query_only = ON", NULL, NULL, NULL);
	*out = db;
	return 0;
fail:
	for (char *p = err; errlen && *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	sqlite3_close(db->h);
	free(db);
	return -1;
}

void vl_db_close(struct vl_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	free(db);
}

void vl_db_set_build(struct vl_db *db, const struct vl_db_build *b)
{
	snprintf(db->commit, sizeof db->commit, "%s", b && b->commit ? b->commit : "unknown");
	db->dirty = b ? !!b->dirty : 0;
	snprintf(db->compiler, sizeof db->compiler, "%s", b && b->compiler ? b->compiler : "unknown");
	snprintf(db->version, sizeof db->version, "%s", b && b->version ? b->version : "unknown");
}

struct sqlite3 *vl_db_sqlite(struct vl_db *db)
{
	return db->h;
}

const char *vl_db_path(const struct vl_db *db)
{
	return db->path;
}
