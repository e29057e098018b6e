/* util.c — small argument helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

int vl_cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
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

int vl_cli_bad_option(const char *cmd, int argc, char **argv, int optopt_val)
{
	extern int optind;
	const char *arg = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";
	if (optopt_val && optopt_val != '?' && arg[0] == '-' && arg[1] != '-')
		return vl_cli_usage_error(cmd, "bad or incomplete option '-%c' (see virtlab %s --help)", optopt_val, cmd);
	return vl_cli_usage_error(cmd, "bad or incomplete option '%s' (see virtlab %s --help)", arg, cmd);
}
