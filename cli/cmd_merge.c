/* cmd_merge.c — `virtlab merge OUT.db SHARD.db...`: fold database shards
 * (e.g. written by the commands of `virtlab plan --shards`) into one
 * database (results/db_merge.c). Every shard is checked before anything is
 * written: a foreign, corrupt or newer-schema file is refused with one line
 * and status 2, and OUT is left as it was. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "virtlab/results.h"

static const char merge_usage[] =
	"usage: virtlab merge OUT.db SHARD.db...\n"
	"Fold the runs of each shard into OUT.db (created if missing): every run OUT does not hold\n"
	"yet, with its metrics and profile texts. Idempotent: a run already in OUT (same\n"
	"configuration, profile, times, host and build) is not copied again.\n"
	"A shard that is not a virtlab database, is corrupt, or has a newer schema than this\n"
	"virtlab is refused before anything is written.\n"
	"Exit status: 0 ok, 2 bad usage or a refused file.\n";

int cmd_merge(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(merge_usage, stdout);
			return VL_CLI_OK;
		}
		if (argv[i][0] == '-' && argv[i][1])
			return vl_cli_usage_error("merge", "unknown option '%s' (see virtlab merge --help)", argv[i]);
	}
	if (argc < 3)
		return vl_cli_usage_error("merge", "expected OUT.db and at least one SHARD.db (see virtlab merge --help)");
	int nsh = argc - 2;
	struct stat so, ss;
	for (int i = 0; i < nsh && stat(argv[1], &so) == 0; i++)   /* folding OUT into itself adds nothing */
		if (stat(argv[i + 2], &ss) == 0 && ss.st_dev == so.st_dev && ss.st_ino == so.st_ino)
			return vl_cli_usage_error("merge", "%s is the output database itself", argv[i + 2]);
	struct vl_db **sh = calloc((size_t)nsh, sizeof *sh);
	if (!sh)
		return vl_cli_usage_error("merge", "out of memory");
	char err[1024];
	int rc = VL_CLI_OK;
	for (int i = 0; i < nsh; i++)
		if (vl_db_open_read(argv[i + 2], &sh[i], err, sizeof err)) {
			rc = vl_cli_usage_error("merge", "%s: %s", argv[i + 2], err);
			goto out;
		}
	struct vl_db *db = vl_cli_db_open("merge", argv[1]);
	if (!db) {
		rc = VL_CLI_USAGE;
		goto out;
	}
	size_t total = 0, dup = 0;
	for (int i = 0; i < nsh; i++) {
		size_t added, present;
		if (vl_db_merge(db, sh[i], &added, &present, err, sizeof err)) {
			fprintf(stderr, "virtlab merge: %s: %s\n", argv[i + 2], err);
			rc = VL_CLI_FAILED;
			break;
		}
		total += added;
		dup += present;
	}
	vl_db_close(db);
	if (rc == VL_CLI_OK)
		printf("merge: %zu runs added to %s from %d shard%s (%zu already there)\n", total, argv[1], nsh,
		       nsh == 1 ? "" : "s", dup);
out:
	for (int i = 0; i < nsh; i++)
		if (sh[i])
			vl_db_close(sh[i]);
	free(sh);
	return rc;
}
