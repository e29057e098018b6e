/* results.h — the SQLite results database (results/).
 *
 * The database is the interface between running and analysis: reports,
 * plots, comparison and the paper read only from it. A run is written in
 * one transaction; a run that did not finish has no row.
 */
#ifndef VIRTLAB_RESULTS_H
#define VIRTLAB_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "virtlab/run.h"

#define VL_DEFAULT_DB "results/virtlab.db"

struct vl_db;

/* Open (creating and migrating as needed) the database at path. Refuses a
 * file that is not a virtlab database, or corrupt, without modifying it.
 * Returns 0, or -1 with a one-line reason. */
int vl_db_open(const char *path, struct vl_db **db, char *err, size_t errlen);
void vl_db_close(struct vl_db *db);

/* Open an existing database for reading only (report, compare, export,
 * plot): never creates a file, never writes one (a read-only file, a
 * read-only directory — then opened immutable — work), and runs the full
 * PRAGMA integrity_check, which also catches an index that disagrees with
 * its table (a reader selecting through it would silently miss runs). An
 * older schema is migrated only when the file is writable. 0, or -1 with a
 * one-line reason (missing file, empty, foreign, corrupt, newer). */
int vl_db_open_read(const char *path, struct vl_db **db, char *err, size_t errlen);

/* Store one run (and all its metrics) in one transaction; `tag` may be NULL.
 * Returns 0 and the new run id, or -1 with a reason (nothing written). */
int vl_db_store_run(struct vl_db *db, const struct vl_run_result *res, const char *tag,
		    int64_t *run_id, char *err, size_t errlen);

/* ---- additions (issue 5): schema facts, build and host facts, readers ---- */

/* Current schema version (PRAGMA user_version) and the application_id that
 * marks a file as a virtlab database ("VLAB"). results/README.md lists what
 * each version added; results/db_schema.c holds the migrations. */
#define VL_DB_SCHEMA_VERSION 5
#define VL_DB_APPLICATION_ID 0x564c4142

/* Build facts stored with every run: the git commit the binary was built
 * from (+ dirty working tree), compiler, virtlab version. The CLI sets them
 * from its build; unset, they are stored as "unknown". Strings are copied. */
struct vl_db_build {
	const char *commit;
	int dirty;
	const char *compiler;
	const char *version;
};
void vl_db_set_build(struct vl_db *db, const struct vl_db_build *b);

/* Facts about the host, detected honestly once per process (results/db_host.c):
 * pmu = a hardware cycles counter can be opened with perf_event_open;
 * kvm = /dev/kvm can run a standard (non-paravirtual) guest. `notes` says
 * how each was decided. */
struct vl_host_info {
	char name[64];
	char cpu[128];
	char kernel[160];
	int pmu;
	int kvm;
	char notes[512];
};
const struct vl_host_info *vl_host_detect(void);

/* The open SQLite connection, for readers (results/db_read.c, analysis/). */
struct sqlite3;
struct sqlite3 *vl_db_sqlite(struct vl_db *db);
const char *vl_db_path(const struct vl_db *db);

/* ---- readers ---- */

/* One row of table `run` (the columns analysis needs). */
struct vl_db_run {
	int64_t id;
	char engine[32], mmu[32], workload[32], profile[64];
	char params[256];
	uint64_t iterations;
	char status[16];           /* ok | failed | timeout | refused */
	char reason[512];
	int model;                 /* 1: deterministic model counters; 0: real measurement */
	double cycles_per_iter;
	char git_commit[48];
	int git_dirty;
	char tag[64];              /* "" when none */
	double started, ended;
	char host_name[64];
	/* provenance (schema v3; "" / -1 for older runs) */
	char profile_sha256[65];   /* effective profile: text in table profile_version */
	char guest_sha256[65];
	char profile_commit[48];   /* git HEAD of the profile's tree at run time */
	int profile_dirty;         /* 1 / 0, -1 unknown */
};

/* A run selection; NULL / 0 fields do not filter. Every value is bound. */
struct vl_db_filter {
	const char *profile;
	const char *tag;
	const char *commit;        /* a full hash, or a hex prefix (>= 4 chars) */
	const char *params;        /* exact params string ("" = runs without params) */
	const char *engine, *mmu, *workload;
	const int64_t *ids;        /* explicit run ids */
	size_t nids;
	int ok_only;               /* only status ok */
	int latest;                /* only the newest run of each (engine, mmu, workload, profile, params) */
};

/* The canonical text of a stored profile version (by its SHA-256).
 * 0 and *text malloc'ed; 1 when the database does not hold it; -1 + err. */
int vl_db_profile_text(struct vl_db *db, const char *sha256, char **text, char *err, size_t errlen);

/* Select runs, ordered by id. *runs is malloc'ed (free()). 0, or -1 + err. */
int vl_db_query_runs(struct vl_db *db, const struct vl_db_filter *f, struct vl_db_run **runs, size_t *n,
		     char *err, size_t errlen);

/* One deterministic metric of a run: kind is "cycles" (name = category),
 * "event", "exit_count" / "exit_cycles" (name = vendor exit name, code =
 * vendor code), "callout_count" / "callout_cycles" (bt: name = callout,
 * code = the engine's slot), "hypercall_count" / "hypercall_cycles" (pv:
 * code = hypercall number), plus "cycles_per_iter" (name "cycles_per_iter"). */
struct vl_db_metric {
	char kind[24];
	char name[48];
	int64_t code;              /* -1 when none */
	double value;
	char unit[16];
};
int vl_db_query_metrics(struct vl_db *db, int64_t run_id, struct vl_db_metric **m, size_t *n,
			char *err, size_t errlen);

/* Raw samples of one run, grouped by metric (values in seq order). Free
 * with vl_db_samples_free. */
struct vl_db_samples {
	char metric[48];
	char unit[16];
	size_t n;
	double *v;
};
int vl_db_query_samples(struct vl_db *db, int64_t run_id, struct vl_db_samples **s, size_t *n,
			char *err, size_t errlen);
void vl_db_samples_free(struct vl_db_samples *s, size_t n);

/* Cycles of one run by the profile value that priced them (schema v5,
 * table value_cycles): field "section.key" or "(none)" (no value priced
 * them), class sourced | derived | estimated | set | n/a | unpriced |
 * unknown. Largest first (then by field). A run stored before v5, or by a
 * real engine, has none: *n = 0. 0, or -1 + err. */
struct vl_db_value {
	char field[48];
	double cycles;
	char cls[16];
};
int vl_db_query_values(struct vl_db *db, int64_t run_id, struct vl_db_value **v, size_t *n, char *err, size_t errlen);

/* Fold every run of src (opened with vl_db_open_read: a foreign or newer
 * file is refused there) that db does not hold yet into db, with its
 * metric rows and profile texts, in one transaction (results/db_merge.c).
 * A run's identity is what ran, when, where and from which build, never its
 * id, so merging twice adds nothing. 0 with the counts, or -1 + err
 * (nothing added). */
int vl_db_merge(struct vl_db *db, struct vl_db *src, size_t *added, size_t *present, char *err, size_t errlen);

#endif
