/* datadir.c — where virtlab's data lives, found from the executable rather
 * than the current directory: in a source tree (bin/virtlab, build/X/bin/
 * virtlab and test binaries under build/X/tests/ sit below the tree's root)
 * or in an installed prefix (PREFIX/bin/virtlab beside PREFIX/share/virtlab/).
 * Environment variables override each (VIRTLAB_PROFILES, VIRTLAB_GUEST,
 * VIRTLAB_DB); see include/virtlab/datadir.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtlab/datadir.h"

int vl_data_find(const char *rel, char *out, size_t n)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0)
		return -1;
	exe[len] = '\0';
	char *slash = strrchr(exe, '/');
	for (int up = 0; slash && up < 6; up++) {
		*slash = '\0';
		char cand[PATH_MAX + 256];
		if ((size_t)snprintf(cand, sizeof cand, "%s/%s", exe, rel) >= sizeof cand)
			return -1;
		if (access(cand, R_OK) == 0) {
			if ((size_t)snprintf(out, n, "%s", cand) >= n)
				return -1;
			return 0;
		}
		slash = strrchr(exe, '/');
	}
	return -1;
}

const char *vl_data_guest(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("VIRTLAB_GUEST");
	if (e && *e)
		return e;
	if (path[0])
		return path;
	if (vl_data_find(VL_TREE_GUEST, path, sizeof path) && vl_data_find(VL_SHARE_DIR "/guest.elf", path, sizeof path))
		snprintf(path, sizeof path, "%s", VL_TREE_GUEST);   /* neither: say where it was expected */
	return path;
}

const char *vl_data_db(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("VIRTLAB_DB");
	if (e && *e)
		return e;
	if (path[0])
		return path;
	char readme[PATH_MAX];
	if (vl_data_find("results/README.md", readme, sizeof readme) == 0) {
		/* a source tree: its results/ directory */
		snprintf(path, sizeof path, "%.*s/virtlab.db", (int)(strrchr(readme, '/') - readme), readme);
		return path;
	}
	/* installed: the user's data directory (XDG base directories) */
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	if (xdg && *xdg == '/')
		snprintf(path, sizeof path, "%s/virtlab/virtlab.db", xdg);
	else if (home && *home)
		snprintf(path, sizeof path, "%s/.local/share/virtlab/virtlab.db", home);
	else
		snprintf(path, sizeof path, "virtlab.db");
	return path;
}
