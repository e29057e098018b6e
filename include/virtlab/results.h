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

/* Store one run (and all its metrics) in one transaction; `tag` may be NULL.
 * Returns 0 and the new run id, or -1 with a reason (nothing written). */
int vl_db_store_run(struct vl_db *db, const struct vl_run_result *res, const char *tag,
		    int64_t *run_id, char *err, size_t errlen);

#endif
