/* version.c — build facts (git commit, dirty flag, compiler), set by the
 * Makefile only for this file so a commit does not rebuild everything. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef VL_GIT_COMMIT
#define VL_GIT_COMMIT "unknown"
#endif
#ifndef VL_GIT_DIRTY
#define VL_GIT_DIRTY 0
#endif
#ifndef VL_CC
#define VL_CC "unknown"
#endif
#ifndef VL_VERSION
#define VL_VERSION "0.0.0"
#endif

const char vl_build_commit[] = VL_GIT_COMMIT;
const int vl_build_dirty = VL_GIT_DIRTY;
const char vl_build_cc[] = VL_CC;
const char vl_build_version[] = VL_VERSION;

int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: virtlab version\nPrint the virtlab version, git commit (+dirty) and compiler.\n");
		return VL_CLI_OK;
	}
	if (argc > 1)
		return vl_cli_usage_error("version", "unexpected argument '%s'", argv[1]);
	printf("virtlab %s (commit %s%s, %s)\n", vl_build_version, vl_build_commit,
	       vl_build_dirty ? "+dirty" : "", vl_build_cc);
	return VL_CLI_OK;
}
