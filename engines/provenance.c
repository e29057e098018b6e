/* provenance.c — SHA-256 (libnettle) and a file's git state at run time, for
 * the provenance every stored run carries (include/virtlab/provenance.h). */
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "virtlab/provenance.h"

static void prov_hex(const uint8_t d[SHA256_DIGEST_SIZE], char hex[VL_SHA256_HEX])
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void vl_sha256_hex(const void *data, size_t n, char hex[VL_SHA256_HEX])
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_init(&c);
	sha256_update(&c, n, data);
	sha256_digest(&c, sizeof d, d);
	prov_hex(d, hex);
}

int vl_sha256_file(const char *path, char hex[VL_SHA256_HEX])
{
	hex[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct sha256_ctx c;
	uint8_t buf[65536], d[SHA256_DIGEST_SIZE];
	sha256_init(&c);
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		sha256_update(&c, (size_t)r, buf);
	}
	close(fd);
	sha256_digest(&c, sizeof d, d);
	prov_hex(d, hex);
	return 0;
}

/* Run `git -C dir ARGS...`, stdout into out (truncated to n - 1, trailing
 * newlines kept), stderr discarded. 0 when git exited 0. */
int vl_prov_git_run(const char *dir, const char *const *args, char *out, size_t n)
{
	const char *argv[16] = { "git", "-C", dir };
	int a = 3;
	for (int i = 0; args[i] && a < 15; i++)
		argv[a++] = args[i];
	argv[a] = NULL;
	int fd[2];
	if (pipe(fd))
		return -1;
	fflush(NULL);
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
		int nul = open("/dev/null", O_WRONLY);
		if (nul >= 0)
			dup2(nul, 2);
		/* a caller's GIT_DIR (a hook, a CI step) must not redirect us */
		unsetenv("GIT_DIR");
		unsetenv("GIT_WORK_TREE");
		unsetenv("GIT_INDEX_FILE");
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	close(fd[1]);
	size_t len = 0;
	char sink[4096];
	ssize_t r;
	while ((r = read(fd[0], len + 1 < n ? out + len : sink,
			 len + 1 < n ? n - 1 - len : sizeof sink)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (len + 1 < n)
			len += (size_t)r;
	}
	close(fd[0]);
	if (n)
		out[len] = '\0';
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* vl_prov_git_memo: directories already asked about, and their answers */
#define PROV_MEMO_MAX 16
static struct prov_memo { char dir[4096]; char commit[48]; int dirty; } prov_memo[PROV_MEMO_MAX];
static size_t prov_nmemo;
static int prov_memo_on;

void vl_prov_git_memo(void)
{
	prov_memo_on = 1;
}

static void prov_git_now(const char *dir, char *commit, size_t n, int *dirty);

void vl_prov_git(const char *file, char *commit, size_t n, int *dirty)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", file);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (!prov_memo_on) {
		prov_git_now(dir, commit, n, dirty);
		return;
	}
	for (size_t i = 0; i < prov_nmemo; i++)
		if (!strcmp(prov_memo[i].dir, dir)) {
			snprintf(commit, n, "%s", prov_memo[i].commit);
			*dirty = prov_memo[i].dirty;
			return;
		}
	prov_git_now(dir, commit, n, dirty);
	if (prov_nmemo < PROV_MEMO_MAX) {
		struct prov_memo *m = &prov_memo[prov_nmemo++];
		snprintf(m->dir, sizeof m->dir, "%s", dir);
		snprintf(m->commit, sizeof m->commit, "%s", commit);
		m->dirty = *dirty;
	}
}

static void prov_git_now(const char *dir, char *commit, size_t n, int *dirty)
{
	commit[0] = '\0';
	*dirty = -1;
	char out[128];
	static const char *const head[] = { "rev-parse", "--verify", "--quiet", "HEAD", NULL };
	if (vl_prov_git_run(dir, head, out, sizeof out))
		return;
	out[strcspn(out, "\r\n")] = '\0';
	if (strlen(out) < 40)
		return;
	char st[256];
	static const char *const status[] = { "status", "--porcelain", "--untracked-files=all", "--", ".", NULL };
	if (vl_prov_git_run(dir, status, st, sizeof st))
		return;
	snprintf(commit, n, "%s", out);
	*dirty = st[0] != '\0';
}
