/* db_write.c — storing one run: the run row and all its metrics in one
 * transaction (BEGIN IMMEDIATE ... COMMIT), every value bound to a prepared
 * statement. A writer killed anywhere before COMMIT leaves nothing behind
 * (SQLite's WAL discards the uncommitted frames); another writer's lock is
 * waited for (busy timeout) and the whole transaction retried if needed.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_internal.h"

#define DB_CONSOLE_TAIL 4096    /* bytes of console kept for a run that was not ok */

static const char db_insert_run[] =
	"INSERT INTO run (engine, mmu, workload, profile, params, iterations, status, reason, guest_exit, model,"
	" cycles_per_iter, total_instructions, total_cycles, host_seconds, host_mips, started, ended,"
	" git_commit, git_dirty, virtlab_version, compiler, host_name, host_cpu, host_kernel, host_pmu, host_kvm,"
	" host_notes, console_tail, tag, profile_sha256, profile_path, profile_commit, profile_dirty, guest_sha256)"
	" VALUES (?,?,?,?,?,?,?,?,?,?, ?,?,?,?,?,?,?, ?,?,?,?,?,?,?,?,?, ?,?,?, ?,?,?,?,?)";

/* The status column's values (the schema's CHECK), indexed by enum
 * vl_run_status. Kept here rather than using engines/run.c's table so the
 * writer does not pull the runner (and the machine) into every program that
 * only stores results. */
static const char *const db_status_name[] = {
	[VL_RUN_OK] = "ok", [VL_RUN_FAILED] = "failed", [VL_RUN_TIMEOUT] = "timeout", [VL_RUN_REFUSED] = "refused",
};

void db_test_hook_in_transaction(void)
{
	const char *f = getenv("VIRTLAB_TEST_STORE_HOOK");
	if (!f || !*f)
		return;
	FILE *m = fopen(f, "w");
	if (m)
		fclose(m);
	sleep(30);
}

/* Counters are uint64; SQLite integers are int64. Counts never get near
 * 2^63, but if one did it is stored as a REAL rather than wrapped. */
static int bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return sqlite3_bind_double(st, i, (double)v);
	return sqlite3_bind_int64(st, i, (int64_t)v);
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_TRANSIENT);
}

/* "" and NULL are stored as NULL: a fact that is not known. */
static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	return s && *s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

/* Step a fully bound statement that returns no rows, then reset it. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static double db_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The run's effective profile, once per distinct text (keyed by its hash). */
static int db_insert_profile(struct vl_db *db, const struct vl_run_result *r)
{
	if (!r->profile_text || !r->profile_sha256[0])
		return SQLITE_OK;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, "INSERT OR IGNORE INTO profile_version (sha256, name, text) VALUES (?,?,?)",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	bind_text(st, 1, r->profile_sha256);
	bind_text(st, 2, r->profile);
	bind_text(st, 3, r->profile_text);
	rc = step_done(st);
	sqlite3_finalize(st);
	return rc;
}

static int db_insert_run_row(struct vl_db *db, const struct vl_run_result *r, const char *tag)
{
	const struct vl_host_info *h = vl_host_detect();
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, db_insert_run, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	double started = r->started > 0 ? r->started : db_now();
	double ended = r->ended >= started ? r->ended : started;
	const char *tail = NULL;
	/* kept for a run that was not ok, and for a guest that prints no RESULT
	 * lines (a Multiboot test kernel: its console is its result) */
	if ((r->status != VL_RUN_OK || r->nresults == 0) && r->console && r->console[0]) {
		size_t len = strlen(r->console);
		tail = len > DB_CONSOLE_TAIL ? r->console + len - DB_CONSOLE_TAIL : r->console;
	}
	int i = 1;
	bind_text(st, i++, r->engine);
	bind_text(st, i++, r->mmu);
	bind_text(st, i++, r->workload);
	bind_text(st, i++, r->profile);
	bind_text(st, i++, r->params);
	bind_u64(st, i++, r->iterations);
	bind_text(st, i++, db_status_name[r->status]);
	bind_text(st, i++, r->reason);
	if (r->guest_exit >= 0)
		sqlite3_bind_int(st, i++, r->guest_exit);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_int(st, i++, r->model ? 1 : 0);
	if (r->status == VL_RUN_OK)
		sqlite3_bind_double(st, i++, r->cycles_per_iter);
	else
		sqlite3_bind_null(st, i++);   /* a number from a run that did not complete is not a result */
	bind_u64(st, i++, r->total_insns);
	bind_u64(st, i++, r->total_cycles);
	sqlite3_bind_double(st, i++, r->host_seconds);
	sqlite3_bind_double(st, i++, r->host_mips);
	sqlite3_bind_double(st, i++, started);
	sqlite3_bind_double(st, i++, ended);
	bind_text(st, i++, db->commit);
	sqlite3_bind_int(st, i++, db->dirty);
	bind_text(st, i++, db->version);
	bind_text(st, i++, db->compiler);
	bind_text(st, i++, h->name);
	bind_text(st, i++, h->cpu);
	bind_text(st, i++, h->kernel);
	sqlite3_bind_int(st, i++, h->pmu);
	sqlite3_bind_int(st, i++, h->kvm);
	/* a real run's hardware counters that could not be counted, with why
	 * (they have no sample rows: never a zero) */
	char notes[sizeof h->notes + 1024];
	snprintf(notes, sizeof notes, "%s", h->notes);
	for (int k = 0; k < r->nhw; k++) {
		size_t l = strlen(notes);
		if (!r->hw[k].available && l < sizeof notes)
			snprintf(notes + l, sizeof notes - l, "; counter %s unavailable: %s", r->hw[k].name, r->hw[k].reason);
	}
	bind_text(st, i++, notes);
	if (tail)
		bind_text(st, i++, tail);
	else
		sqlite3_bind_null(st, i++);
	if (tag && *tag)
		bind_text(st, i++, tag);
	else
		sqlite3_bind_null(st, i++);
	bind_text_or_null(st, i++, r->profile_text ? r->profile_sha256 : NULL);
	bind_text_or_null(st, i++, r->profile_path);
	bind_text_or_null(st, i++, r->profile_commit);
	if (r->profile_dirty >= 0)
		sqlite3_bind_int(st, i++, r->profile_dirty);
	else
		sqlite3_bind_null(st, i++);
	bind_text_or_null(st, i++, r->guest_sha256);
	rc = step_done(st);
	sqlite3_finalize(st);
	return rc;
}

/* The share class of every profile value in the run's effective profile
 * (profile.h vl_profile_classes): the effective text (profile_text, what
 * the run used: a sweep's values included) is loaded back, and compared
 * with the file it came from (profile_path) for each value's provenance.
 * The loader reads files only, so the text goes through a temporary .ini.
 * A run whose runner filled vl_run_result.pf_class (`run`) brings them.
 * 0 with cls[], or -1 when they cannot be had (no profile text or path, the
 * file gone or changed beyond loading): the rows are then class "unknown". */
static int db_value_classes(struct vl_db *db, const struct vl_run_result *r, const char *cls[VL_PF_COUNT])
{
	if (r->pf_class[0]) {   /* the runner has them (vl_run_spec.profile_classes): not read twice */
		memcpy(cls, r->pf_class, sizeof r->pf_class);
		return 0;
	}
	if (!r->profile_text || !r->profile_sha256[0] || !r->profile_path[0])
		return -1;
	if (db->cls_valid && !strcmp(db->cls_sha, r->profile_sha256) && !strcmp(db->cls_path, r->profile_path)) {
		memcpy(cls, db->cls, sizeof db->cls);
		return 0;
	}
	const char *tmp = getenv("TMPDIR");
	char path[4200], err[512];
	snprintf(path, sizeof path, "%s/virtlab-profile-XXXXXX.ini", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemps(path, 4);
	if (fd < 0)
		return -1;
	size_t len = strlen(r->profile_text);
	ssize_t w = write(fd, r->profile_text, len);
	close(fd);
	struct vl_profile *p = malloc(sizeof *p);
	int rc = -1;
	if (p && w == (ssize_t)len && !vl_profile_load(path, p, err, sizeof err)) {
		snprintf(p->path, sizeof p->path, "%s", r->profile_path);
		rc = vl_profile_classes(p, cls, err, sizeof err);
	}
	unlink(path);
	free(p);
	if (rc)
		return -1;
	memcpy(db->cls, cls, sizeof db->cls);
	snprintf(db->cls_sha, sizeof db->cls_sha, "%s", r->profile_sha256);
	snprintf(db->cls_path, sizeof db->cls_path, "%s", r->profile_path);
	db->cls_valid = 1;
	return 0;
}

/* value_cycles (v5): a row per profile value the run's measured region was
 * charged (counters.h field_cycles; slots of 0 cycles have none). */
static int db_insert_value_cycles(struct vl_db *db, const struct vl_run_result *r, int64_t id)
{
	const struct vl_counters *c = &r->ctr;
	size_t any = 0;
	for (int k = 0; k < VL_PF_SLOTS; k++)
		any += c->field_cycles[k] != 0;
	if (!any)
		return SQLITE_OK;
	const char *cls[VL_PF_COUNT];
	bool known = !db_value_classes(db, r, cls);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, "INSERT INTO value_cycles (run_id, field, cycles, class) VALUES (?,?,?,?)", -1,
				    &st, NULL);
	for (int k = 0; rc == SQLITE_OK && k < VL_PF_SLOTS; k++) {
		if (!c->field_cycles[k])
			continue;
		const char *cl = k == VL_PF_NONE ? "unpriced" : known && cls[k][0] ? cls[k] : "unknown";
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, k == VL_PF_NONE ? "(none)" : vl_pf_key[k]);
		bind_u64(st, 3, c->field_cycles[k]);
		bind_text(st, 4, cl);
		rc = step_done(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The metric rows of run `id`. Model counters only for model runs: a real
 * (QEMU) run has no modelled counters, and zeros would be a false claim. */
static int db_insert_metrics(struct vl_db *db, const struct vl_run_result *r, int64_t id)
{
	sqlite3_stmt *ev = NULL, *cy = NULL, *ex = NULL, *sa = NULL, *gr = NULL;
	int rc = sqlite3_prepare_v2(db->h, "INSERT INTO event (run_id, name, value, unit) VALUES (?,?,?,'count')", -1, &ev, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->h, "INSERT INTO cycles (run_id, category, value, unit) VALUES (?,?,?,'cycles')", -1, &cy, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->h, "INSERT INTO exit_reason (run_id, name, code, count, cycles, kind) VALUES (?,?,?,?,?,?)", -1, &ex, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->h, "INSERT INTO sample (run_id, metric, seq, value, unit) VALUES (?,?,?,?,?)", -1, &sa, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->h, "INSERT INTO guest_result (run_id, seq, workload, iters, cycles, extra) VALUES (?,?,?,?,?,?)", -1, &gr, NULL);
	const struct vl_counters *c = &r->ctr;
	if (r->model) {
		for (int k = 0; rc == SQLITE_OK && k < VL_EV_COUNT; k++) {
			sqlite3_bind_int64(ev, 1, id);
			bind_text(ev, 2, vl_event_name[k]);
			bind_u64(ev, 3, c->events[k]);
			rc = step_done(ev);
		}
		for (int k = 0; rc == SQLITE_OK && k < VL_CAT_COUNT; k++) {
			sqlite3_bind_int64(cy, 1, id);
			bind_text(cy, 2, vl_cat_name[k]);
			bind_u64(cy, 3, c->cycles[k]);
			rc = step_done(cy);
		}
		for (size_t k = 0; rc == SQLITE_OK && r->exit_table && k < r->exit_table_len && k < VL_MAX_EXIT_SLOTS; k++) {
			if (!c->exit_count[k] && !c->exit_cycles[k])
				continue;
			sqlite3_bind_int64(ex, 1, id);
			bind_text(ex, 2, r->exit_table[k].name);
			sqlite3_bind_int64(ex, 3, r->exit_table[k].code);
			bind_u64(ex, 4, c->exit_count[k]);
			bind_u64(ex, 5, c->exit_cycles[k]);
			bind_text(ex, 6, vl_slot_kind_name(vl_run_slot_kind(r, k)));
			rc = step_done(ex);
		}
		if (rc == SQLITE_OK)
			rc = db_insert_value_cycles(db, r, id);
	}
	for (int s = 0; rc == SQLITE_OK && s < r->nsamples; s++) {
		const struct vl_sample_set *set = &r->samples[s];
		for (size_t k = 0; rc == SQLITE_OK && k < set->n; k++) {
			sqlite3_bind_int64(sa, 1, id);
			bind_text(sa, 2, set->metric);
			sqlite3_bind_int64(sa, 3, (int64_t)k);
			sqlite3_bind_double(sa, 4, set->v[k]);
			bind_text(sa, 5, set->unit);
			rc = step_done(sa);
		}
	}
	for (int g = 0; rc == SQLITE_OK && g < r->nresults && g < (int)(sizeof r->results / sizeof r->results[0]); g++) {
		const struct vl_guest_result *gres = &r->results[g];
		char extra[VL_RESULT_MAX_KV * 100] = "";
		for (int k = 0; k < gres->nkv && k < VL_RESULT_MAX_KV; k++) {
			size_t l = strlen(extra);
			snprintf(extra + l, sizeof extra - l, "%s%s=%s", l ? " " : "", gres->key[k], gres->val[k]);
		}
		sqlite3_bind_int64(gr, 1, id);
		sqlite3_bind_int(gr, 2, g);
		bind_text(gr, 3, gres->workload);
		bind_u64(gr, 4, gres->iters);
		bind_u64(gr, 5, gres->cycles);
		bind_text(gr, 6, extra);
		rc = step_done(gr);
	}
	sqlite3_finalize(ev);
	sqlite3_finalize(cy);
	sqlite3_finalize(ex);
	sqlite3_finalize(sa);
	sqlite3_finalize(gr);
	return rc;
}

/* One attempt. Returns an SQLite code; on anything but OK the caller rolls back. */
static int db_store_once(struct vl_db *db, const struct vl_run_result *r, const char *tag, int64_t *id)
{
	int rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = db_insert_profile(db, r);
	if (rc != SQLITE_OK)
		return rc;
	rc = db_insert_run_row(db, r, tag);
	if (rc != SQLITE_OK)
		return rc;
	*id = sqlite3_last_insert_rowid(db->h);
	rc = db_insert_metrics(db, r, *id);
	if (rc != SQLITE_OK)
		return rc;
	db_test_hook_in_transaction();
	return sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
}

int vl_db_store_run(struct vl_db *db, const struct vl_run_result *res, const char *tag,
		    int64_t *run_id, char *err, size_t errlen)
{
	int64_t id = 0;
	if ((unsigned)res->status > VL_RUN_REFUSED) {
		snprintf(err, errlen, "run has an invalid status %d", (int)res->status);
		return -1;
	}
	if (!res->engine[0] || !res->workload[0] || !res->profile[0]) {
		snprintf(err, errlen, "run lacks an engine, workload or profile name");
		return -1;
	}
	/* the classes of the run's profile values (value_cycles) are read from
	 * the profile files before the write lock is taken: the transaction
	 * then finds them in the connection's cache */
	const char *cls[VL_PF_COUNT];
	if (res->model)
		(void)db_value_classes(db, res, cls);
	int rc = SQLITE_BUSY;
	char msg[256] = "";
	for (int attempt = 0; attempt < DB_TX_RETRIES; attempt++) {
		rc = db_store_once(db, res, tag, &id);
		if (rc == SQLITE_OK)
			break;
		snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db->h));
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		/* another writer outlasted the busy timeout: back off and retry the whole run */
		struct timespec ts = { 0, 20000000L * (attempt + 1) };
		nanosleep(&ts, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "storing run in %s: %s", db->path, msg[0] ? msg : sqlite3_errstr(rc));
		return -1;
	}
	if (run_id)
		*run_id = id;
	return 0;
}
