/* db_read.c — reading runs and their metrics back (for analysis/ and the
 * CLI). Selection clauses are fixed SQL fragments; every value is bound. */
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

#define RUN_COLS "id, engine, mmu, workload, profile, params, iterations, status, reason, model," \
		 " cycles_per_iter, git_commit, git_dirty, coalesce(tag, ''), started, ended, host_name," \
		 " profile_sha256, guest_sha256, profile_commit, coalesce(profile_dirty, -1)"

static void db_row_run(sqlite3_stmt *st, struct vl_db_run *r)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(st, 0);
	db_col_text(st, 1, r->engine, sizeof r->engine);
	db_col_text(st, 2, r->mmu, sizeof r->mmu);
	db_col_text(st, 3, r->workload, sizeof r->workload);
	db_col_text(st, 4, r->profile, sizeof r->profile);
	db_col_text(st, 5, r->params, sizeof r->params);
	r->iterations = (uint64_t)sqlite3_column_int64(st, 6);
	db_col_text(st, 7, r->status, sizeof r->status);
	db_col_text(st, 8, r->reason, sizeof r->reason);
	r->model = sqlite3_column_int(st, 9);
	r->cycles_per_iter = sqlite3_column_type(st, 10) == SQLITE_NULL ? 0 : sqlite3_column_double(st, 10);
	db_col_text(st, 11, r->git_commit, sizeof r->git_commit);
	r->git_dirty = sqlite3_column_int(st, 12);
	db_col_text(st, 13, r->tag, sizeof r->tag);
	r->started = sqlite3_column_double(st, 14);
	r->ended = sqlite3_column_double(st, 15);
	db_col_text(st, 16, r->host_name, sizeof r->host_name);
	db_col_text(st, 17, r->profile_sha256, sizeof r->profile_sha256);
	db_col_text(st, 18, r->guest_sha256, sizeof r->guest_sha256);
	db_col_text(st, 19, r->profile_commit, sizeof r->profile_commit);
	r->profile_dirty = sqlite3_column_int(st, 20);
}

int vl_db_profile_text(struct vl_db *db, const char *sha256, char **text, char *err, size_t errlen)
{
	*text = NULL;
	sqlite3_stmt *st = NULL;
	if (db_prepare(db->h, "SELECT text FROM profile_version WHERE sha256 = ?", &st, err, errlen))
		return -1;
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st), out = 1;
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		*text = strdup(t ? (const char *)t : "");
		out = *text ? 0 : db_fail(NULL, err, errlen, "profile text");
	} else if (rc != SQLITE_DONE) {
		out = db_fail(db->h, err, errlen, "profile text");
	}
	sqlite3_finalize(st);
	return out;
}

/* Append " AND <clause>" fragments for the filter's non-empty fields; the
 * values are bound in the same order by db_bind_filter. */
static void db_where(const struct vl_db_filter *f, char *sql, size_t n)
{
	size_t l = strlen(sql);
#define ADD(cond, frag) do { if (cond) { snprintf(sql + l, n - l, "%s", frag); l = strlen(sql); } } while (0)
	ADD(1, " WHERE 1");
	ADD(f->profile, " AND profile = ?");
	ADD(f->tag, " AND tag = ?");
	ADD(f->commit, " AND substr(git_commit, 1, length(?)) = ?");
	ADD(f->params, " AND params = ?");
	ADD(f->engine, " AND engine = ?");
	ADD(f->mmu, " AND mmu = ?");
	ADD(f->workload, " AND workload = ?");
	ADD(f->ok_only, " AND status = 'ok'");
	ADD(f->ok_only == 0, " AND status <> 'refused'");
	if (f->nids) {
		ADD(1, " AND id IN (");
		for (size_t i = 0; i < f->nids; i++)
			ADD(1, i ? ",?" : "?");
		ADD(1, ")");
	}
#undef ADD
}

static int db_bind_filter(sqlite3_stmt *st, const struct vl_db_filter *f, int i)
{
	if (f->profile) sqlite3_bind_text(st, i++, f->profile, -1, SQLITE_TRANSIENT);
	if (f->tag) sqlite3_bind_text(st, i++, f->tag, -1, SQLITE_TRANSIENT);
	if (f->commit) {
		sqlite3_bind_text(st, i++, f->commit, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, i++, f->commit, -1, SQLITE_TRANSIENT);
	}
	if (f->params) sqlite3_bind_text(st, i++, f->params, -1, SQLITE_TRANSIENT);
	if (f->engine) sqlite3_bind_text(st, i++, f->engine, -1, SQLITE_TRANSIENT);
	if (f->mmu) sqlite3_bind_text(st, i++, f->mmu, -1, SQLITE_TRANSIENT);
	if (f->workload) sqlite3_bind_text(st, i++, f->workload, -1, SQLITE_TRANSIENT);
	for (size_t k = 0; k < f->nids; k++)
		sqlite3_bind_int64(st, i++, f->ids[k]);
	return i;
}

int vl_db_query_runs(struct vl_db *db, const struct vl_db_filter *f, struct vl_db_run **runs, size_t *n,
		     char *err, size_t errlen)
{
	static const struct vl_db_filter none;
	if (!f)
		f = &none;
	*runs = NULL;
	*n = 0;
	size_t cap = 1024 + 2 * f->nids;
	char *where = malloc(cap), *sql = malloc(2 * cap + 512);
	if (!where || !sql) {
		free(where);
		free(sql);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	where[0] = '\0';
	db_where(f, where, cap);
	if (f->latest)
		/* the newest run of each configuration inside the selection */
		snprintf(sql, 2 * cap + 512, "SELECT " RUN_COLS " FROM run WHERE id IN (SELECT max(id) FROM run%s"
			 " GROUP BY engine, mmu, workload, profile, params) ORDER BY id", where);
	else
		snprintf(sql, 2 * cap + 512, "SELECT " RUN_COLS " FROM run%s ORDER BY id", where);
	free(where);
	sqlite3_stmt *st = NULL;
	int rc = db_prepare(db->h, sql, &st, err, errlen);
	free(sql);
	if (rc)
		return -1;
	db_bind_filter(st, f, 1);
	size_t cnt = 0, rcap = 0;
	struct vl_db_run *out = NULL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == rcap) {
			rcap = rcap ? 2 * rcap : 64;
			struct vl_db_run *nr = realloc(out, rcap * sizeof *nr);
			if (!nr) {
				free(out);
				sqlite3_finalize(st);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			out = nr;
		}
		db_row_run(st, &out[cnt++]);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db->h, err, errlen, "query runs");
		sqlite3_finalize(st);
		free(out);
		return -1;
	}
	sqlite3_finalize(st);
	*runs = out;
	*n = cnt;
	return 0;
}

int vl_db_query_metrics(struct vl_db *db, int64_t run_id, struct vl_db_metric **m, size_t *n,
			char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	*m = NULL;
	*n = 0;
	if (db_prepare(db->h, "SELECT kind, name, coalesce(code, -1), value, unit FROM metric WHERE run_id = ?"
			      " ORDER BY CASE kind WHEN 'cycles_per_iter' THEN 0 WHEN 'cycles' THEN 1 WHEN 'event' THEN 2"
			      " WHEN 'exit_count' THEN 3 WHEN 'exit_cycles' THEN 4 WHEN 'callout_count' THEN 5"
			      " WHEN 'callout_cycles' THEN 6 WHEN 'hypercall_count' THEN 7 ELSE 8 END, code, name",
		       &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	size_t cnt = 0, cap = 0;
	struct vl_db_metric *out = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			struct vl_db_metric *nm = realloc(out, cap * sizeof *nm);
			if (!nm) {
				rc = SQLITE_NOMEM;
				break;
			}
			out = nm;
		}
		struct vl_db_metric *x = &out[cnt++];
		db_col_text(st, 0, x->kind, sizeof x->kind);
		db_col_text(st, 1, x->name, sizeof x->name);
		x->code = sqlite3_column_int64(st, 2);
		x->value = sqlite3_column_double(st, 3);
		db_col_text(st, 4, x->unit, sizeof x->unit);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db->h, err, errlen, "query metrics");
		sqlite3_finalize(st);
		free(out);
		return -1;
	}
	sqlite3_finalize(st);
	*m = out;
	*n = cnt;
	return 0;
}

int vl_db_query_samples(struct vl_db *db, int64_t run_id, struct vl_db_samples **s, size_t *n,
			char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	*s = NULL;
	*n = 0;
	if (db_prepare(db->h, "SELECT metric, unit, value FROM sample WHERE run_id = ? ORDER BY metric, seq", &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	struct vl_db_samples *out = NULL;
	size_t cnt = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *metric = (const char *)sqlite3_column_text(st, 0);
		struct vl_db_samples *cur = cnt ? &out[cnt - 1] : NULL;
		if (!cur || strcmp(cur->metric, metric ? metric : "")) {
			struct vl_db_samples *ns = realloc(out, (cnt + 1) * sizeof *ns);
			if (!ns) {
				rc = SQLITE_NOMEM;
				break;
			}
			out = ns;
			cur = &out[cnt++];
			memset(cur, 0, sizeof *cur);
			db_col_text(st, 0, cur->metric, sizeof cur->metric);
			db_col_text(st, 1, cur->unit, sizeof cur->unit);
		}
		double *nv = realloc(cur->v, (cur->n + 1) * sizeof *nv);
		if (!nv) {
			rc = SQLITE_NOMEM;
			break;
		}
		cur->v = nv;
		cur->v[cur->n++] = sqlite3_column_double(st, 2);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db->h, err, errlen, "query samples");
		sqlite3_finalize(st);
		vl_db_samples_free(out, cnt);
		return -1;
	}
	sqlite3_finalize(st);
	*s = out;
	*n = cnt;
	return 0;
}

void vl_db_samples_free(struct vl_db_samples *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].v);
	free(s);
}

int vl_db_query_values(struct vl_db *db, int64_t run_id, struct vl_db_value **v, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	*v = NULL;
	*n = 0;
	if (db_prepare(db->h, "SELECT field, cycles, class FROM value_cycles WHERE run_id = ? ORDER BY cycles DESC, field",
		       &st, err, errlen))
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	size_t cnt = 0, cap = 0;
	struct vl_db_value *out = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 32;
			struct vl_db_value *nv = realloc(out, cap * sizeof *nv);
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			out = nv;
		}
		struct vl_db_value *x = &out[cnt++];
		db_col_text(st, 0, x->field, sizeof x->field);
		x->cycles = sqlite3_column_double(st, 1);
		db_col_text(st, 2, x->cls, sizeof x->cls);
	}
	if (rc != SQLITE_DONE) {
		db_fail(db->h, err, errlen, "query value cycles");
		sqlite3_finalize(st);
		free(out);
		return -1;
	}
	sqlite3_finalize(st);
	*v = out;
	*n = cnt;
	return 0;
}
