/* cli_results.c — what the subcommands that touch the results database
 * share: opening it (with this build's facts) and turning git revisions and
 * run selections on the command line into database filters. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "virtlab/provenance.h"
#include <sqlite3.h>

#include "virtlab/datadir.h"
#include "virtlab/engine.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"
#include "virtlab/results.h"

/* The default database of an installed virtlab lives in the user's data
 * directory, which may not exist yet: create it (only for the default). */
static void cli_default_db_dir(const char *path)
{
	if (strcmp(path, vl_data_db()))
		return;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *end = strrchr(dir, '/');
	if (!end || end == dir)
		return;
	*end = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			mkdir(dir, 0755);   /* EEXIST is fine; any other failure shows when the database is opened */
			*p = c;
			if (!c)
				break;
		}
	}
}

struct vl_db *vl_cli_db_open(const char *cmd, const char *path)
{
	char err[1024];
	struct vl_db *db = NULL;
	cli_default_db_dir(path);
	if (vl_db_open(path, &db, err, sizeof err)) {
		vl_cli_usage_error(cmd, "database: %s", err);
		return NULL;
	}
	struct vl_db_build b = { vl_build_commit, vl_build_dirty, vl_build_cc, vl_build_version };
	vl_db_set_build(db, &b);
	return db;
}

struct vl_db *vl_cli_db_open_read(const char *cmd, const char *path)
{
	char err[1024];
	struct vl_db *db = NULL;
	if (vl_db_open_read(path, &db, err, sizeof err)) {
		vl_cli_usage_error(cmd, "database: %s", err);
		return NULL;
	}
	return db;
}

int vl_cli_git_rev(const char *rev, char *hash, size_t n)
{
	if (!rev || !*rev || rev[0] == '-')
		return -1;
	char spec[512], buf[128];
	snprintf(spec, sizeof spec, "%s^{commit}", rev);
	const char *const args[] = { "rev-parse", "--verify", "--quiet", spec, NULL };
	if (vl_prov_git_run(".", args, buf, sizeof buf))
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (strlen(buf) < 40)
		return -1;
	snprintf(hash, n, "%s", buf);
	return 0;
}

int vl_cli_parse_ids(const char *s, int64_t **ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	size_t cap = 0;
	const char *p = s;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p))
			goto bad;
		long long a = strtoll(p, &end, 10), b = a;
		if (*end == '-') {
			if (!isdigit((unsigned char)end[1]))
				goto bad;
			b = strtoll(end + 1, &end, 10);
		}
		if (b < a || b - a > 1000000 || (*end && *end != ','))
			goto bad;
		for (long long v = a; v <= b; v++) {
			if (*n == cap) {
				cap = cap ? 2 * cap : 16;
				int64_t *ni = realloc(*ids, cap * sizeof *ni);
				if (!ni)
					goto bad;
				*ids = ni;
			}
			(*ids)[(*n)++] = v;
		}
		p = *end ? end + 1 : end;
	}
	if (*n)
		return 0;
bad:
	free(*ids);
	*ids = NULL;
	*n = 0;
	return -1;
}

int vl_cli_resolve_commit(const char *rev, char *hash, size_t n)
{
	if (vl_cli_git_rev(rev, hash, n) == 0)
		return 0;
	size_t l = strlen(rev);
	if (l < 4 || l > 40 || strspn(rev, "0123456789abcdef") != l)
		return -1;
	snprintf(hash, n, "%s", rev);   /* a hash prefix git does not know here (a database from elsewhere) */
	return 0;
}

int vl_cli_check_name(const char *cmd, struct vl_db *db, const char *what, const char *name)
{
	if (!name)
		return 0;
	char valid[600] = "";
	size_t l = 0;
	int known = 0;
	if (!strcmp(what, "engine")) {
		for (size_t i = 0; i < vl_engine_count; i++, l = strlen(valid)) {
			known |= !strcmp(vl_engines[i]->name, name);
			snprintf(valid + l, sizeof valid - l, "%s%s", l ? ", " : "", vl_engines[i]->name);
		}
	} else if (!strcmp(what, "mmu")) {
		for (int k = 0; k < VL_MMU_COUNT; k++, l = strlen(valid)) {
			known |= !strcmp(vl_mmu_name((enum vl_mmu_kind)k), name);
			snprintf(valid + l, sizeof valid - l, "%s%s", l ? ", " : "", vl_mmu_name((enum vl_mmu_kind)k));
		}
	} else if (!strcmp(what, "workload")) {
		for (size_t i = 0; i < vl_workload_count; i++, l = strlen(valid)) {
			known |= !strcmp(vl_workloads[i].name, name);
			snprintf(valid + l, sizeof valid - l, "%s%s", l ? ", " : "", vl_workloads[i].name);
		}
	} else if (strcmp(what, "profile")) {
		return 0;
	}
	if (known)
		return 0;
	/* a name this build does not know may still be in the database (stored
	 * by another build, or an --image run's basename): then it selects runs */
	static const char *const q[] = { "SELECT 1 FROM run WHERE engine = ? LIMIT 1",
					 "SELECT 1 FROM run WHERE mmu = ? LIMIT 1",
					 "SELECT 1 FROM run WHERE workload = ? LIMIT 1",
					 "SELECT 1 FROM run WHERE profile = ? LIMIT 1" };
	const char *sql = !strcmp(what, "engine") ? q[0] : !strcmp(what, "mmu") ? q[1] :
			  !strcmp(what, "workload") ? q[2] : q[3];
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (db && sqlite3_prepare_v2(vl_db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	if (found)
		return 0;
	if (!strcmp(what, "profile")) {
		/* not stored: a profile the loader knows (a name or a .ini file)
		 * selects nothing yet but is no typo; else the loader's reason */
		struct vl_profile prof;
		char err[512];
		if (!vl_profile_load(name, &prof, err, sizeof err))
			return 0;
		return vl_cli_usage_error(cmd, "%s", err);
	}
	return vl_cli_usage_error(cmd, "unknown %s '%s' (valid: %s)", what, name, valid);
}
