/* provenance.h — what a stored run needs so a reader can tell which cost
 * model, guest and source tree produced it (engines/provenance.c): SHA-256
 * of files and texts (libnettle), and the git state of a file's tree at run
 * time (the binary's own build commit can be older: profiles are read when
 * the run starts, not when virtlab is built).
 */
#ifndef VIRTLAB_PROVENANCE_H
#define VIRTLAB_PROVENANCE_H

#include <stddef.h>

#define VL_SHA256_HEX 65   /* 64 hex digits + NUL */

/* Lower-case hex SHA-256 of n bytes. */
void vl_sha256_hex(const void *data, size_t n, char hex[VL_SHA256_HEX]);
/* Lower-case hex SHA-256 of a file's bytes. 0, or -1 (errno set; hex = ""). */
int vl_sha256_file(const char *path, char hex[VL_SHA256_HEX]);

/* The git state of the tree `file` lives in, now: the HEAD commit (full
 * hash) and whether anything under the file's directory differs from it
 * (modified, staged or untracked). commit = "" and *dirty = -1 when the
 * file is not in a git work tree (or git is not installed). */
void vl_prov_git(const char *file, char *commit, size_t n, int *dirty);
/* Run `git -C dir ARGS...` (args NULL-terminated, at most 12), stdout into
 * out (truncated to n - 1), stderr discarded, the caller's GIT_DIR /
 * GIT_WORK_TREE / GIT_INDEX_FILE ignored. 0 when git exited 0. */
int vl_prov_git_run(const char *dir, const char *const *args, char *out, size_t n);
/* Opt-in memo for a process that starts many runs (matrix): from now on
 * vl_prov_git answers each directory once — two git processes — and then
 * from memory, in this process and in processes forked from it afterwards.
 * The git state is then the one when the directory was first asked about. */
void vl_prov_git_memo(void);

#endif
