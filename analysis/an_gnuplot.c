/* an_gnuplot.c — draw one standalone gnuplot script (NAME.gp, which picks
 * its terminal from the variable fmt) in a directory, for the figures of
 * advise and sweep. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "an_util.h"

int an_gnuplot(const char *gnuplot, const char *dir, const char *name, const char *fmt)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		if (chdir(dir))
			_exit(126);
		char var[32], script[256];
		snprintf(var, sizeof var, "fmt=\"%s\"", fmt);
		snprintf(script, sizeof script, "%s.gp", name);
		execlp(gnuplot, gnuplot, "-e", var, script, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	char path[4200];
	struct stat sb;
	snprintf(path, sizeof path, "%s/%s.%s", dir, name, fmt);
	return stat(path, &sb) || !sb.st_size ? -1 : 0;
}

void an_safe(const char *s, char *buf, size_t n)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++) {
		unsigned char ch = (unsigned char)*s;
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			 (ch && strchr("_./+:()=-", ch));
		buf[i++] = ok ? (char)ch : '_';
	}
	buf[i] = '\0';
}
