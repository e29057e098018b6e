/* util.c — small argument helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

int vl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "virtlab%s%s: ", cmd && *cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VL_CLI_USAGE;
}

/* Decimal "D[.F]eN" (2e10, 1.5e9) as an exact integer; -1 when it is not
 * one (a fraction left over, overflow) or not of that form. */
static int cli_parse_sci(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	int frac = -1;   /* digits after the point, -1 without one */
	const char *p = s;
	for (; *p && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
		if (frac >= 0)
			frac++;
	}
	if (p == s || (*p != 'e' && *p != 'E') || !p[1])
		return -1;
	char *end;
	errno = 0;
	long e = strtol(p + 1, &end, 10);
	if (errno || *end || e < 0 || e > 30)
		return -1;
	e -= frac > 0 ? frac : 0;
	for (; e < 0; e++) {   /* "1.50e1": trailing fraction digits must be zeros */
		if (x % 10)
			return -1;
		x /= 10;
	}
	for (; e > 0; e--) {
		if (x > UINT64_MAX / 10)
			return -1;
		x *= 10;
	}
	*v = x;
	return 0;
}

int vl_cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	if (!(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) && strpbrk(s, "eE"))
		return cli_parse_sci(s, v);   /* the help texts write limits as 2e10 */
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno)
		return -1;
	uint64_t mul = 1;
	if (*end == 'k' || *end == 'K') mul = 1000, end++;
	else if (*end == 'M') mul = 1000000, end++;
	else if (*end == 'G') mul = 1000000000, end++;
	if (*end != '\0' || (x && mul > UINT64_MAX / x))
		return -1;
	*v = x * mul;
	return 0;
}

int vl_cli_split(char *s, const char **out, size_t max, size_t *n)
{
	*n = 0;
	if (!s || !*s || *s == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return -1;   /* an empty item is a typo, not "leave it out" */
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == max)
			return -1;
		out[(*n)++] = t;
	}
	return 0;
}

int vl_cli_need_value(const char *cmd, const char *opt, const char *arg)
{
	if (arg && !*arg)
		return vl_cli_usage_error(cmd, "%s: expected a name, got an empty string", opt);
	return 0;
}

int vl_cli_check_outdir(const char *cmd, const char *opt, const char *dir)
{
	struct stat st;
	if (vl_cli_need_value(cmd, opt, dir))
		return VL_CLI_USAGE;
	if (dir && stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
		return vl_cli_usage_error(cmd, "%s: %s exists and is not a directory", opt, dir);
	return 0;
}

int vl_cli_bad_option(const char *cmd, int argc, char **argv, int optopt_val)
{
	extern int optind;
	const char *arg = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";
	if (optopt_val && optopt_val != '?' && arg[0] == '-' && arg[1] != '-')
		return vl_cli_usage_error(cmd, "bad or incomplete option '-%c' (see virtlab %s --help)", optopt_val, cmd);
	return vl_cli_usage_error(cmd, "bad or incomplete option '%s' (see virtlab %s --help)", arg, cmd);
}
