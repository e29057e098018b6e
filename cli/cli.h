/* cli.h — what the subcommands of bin/virtlab share: the command table
 * entry, exit codes, argument helpers and result printers.
 *
 * Adding a subcommand: write cli/cmd_NAME.c with `int cmd_NAME(int argc,
 * char **argv)` (argv[0] is the subcommand name; handle --help), declare it
 * below, and add ONE line to the table in cli/main.c.
 */
#ifndef VL_CLI_H
#define VL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtlab/run.h"

/* Exit status of every subcommand (DESIGN.md "The command line"). */
enum { VL_CLI_OK = 0, VL_CLI_FAILED = 1, VL_CLI_USAGE = 2 };

struct vl_cli_cmd {
	const char *name;
	const char *help;                  /* one line for `virtlab --help` */
	int (*fn)(int argc, char **argv);
};

/* ---- subcommands (one line each) ---- */
int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* ---- helpers (cli/util.c) ---- */
/* Print "virtlab CMD: message" as one line on stderr; returns VL_CLI_USAGE. */
int vl_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a decimal/hex unsigned integer (suffixes k, M, G allowed); 0 or -1. */
int vl_cli_parse_u64(const char *s, uint64_t *v);
/* Report an unrecognised option from getopt_long (opterr = 0) as one line. */
int vl_cli_bad_option(const char *cmd, int argc, char **argv, int optopt_val);

/* ---- result output (cli/output.c) ---- */
enum vl_fmt { VL_FMT_TABLE, VL_FMT_JSON, VL_FMT_CSV };
int vl_cli_parse_format(const char *s, enum vl_fmt *f);
void vl_cli_print_result(FILE *out, const struct vl_run_result *res, enum vl_fmt f);
void vl_cli_json_result(FILE *out, const struct vl_run_result *res);   /* one object, no newline */
void vl_cli_csv_header(FILE *out);
void vl_cli_csv_row(FILE *out, const struct vl_run_result *res);
void vl_cli_json_string(FILE *out, const char *s);

/* ---- build facts (cli/version.c) ---- */
extern const char vl_build_commit[];
extern const int vl_build_dirty;
extern const char vl_build_cc[];
extern const char vl_build_version[];

#endif
