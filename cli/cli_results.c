/* cli_results.c — what the subcommands that touch the results database
 * share: opening it (with this build's facts) and turning git revisions and
 * run selections on the command line into database filters. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "virtlab/datadir.h"
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
	char spec[512];
	snprintf(spec, sizeof spec, "%s^{commit}", rev);
	int fd[2];
	if (pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		freopen("/dev/null", "w", stderr);
		execlp("git", "git", "rev-parse", "--verify", "--quiet", spec, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	char buf[128];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			len += (size_t)r;
	close(fd[0]);
	buf[len] = '\0';
	int st;
	waitpid(pid, &st, 0);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strlen(buf) < 40)
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
