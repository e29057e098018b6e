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

/* Where --db defaults to, for the help texts (include/virtlab/datadir.h). */
#define VL_CLI_DB_DOC "$VIRTLAB_DB, else results/virtlab.db of the source tree,\n" \
	"                        or ~/.local/share/virtlab/virtlab.db when installed"

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
int cmd_show(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_matrix(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_suite(int argc, char **argv);
int cmd_advise(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plan(int argc, char **argv);

/* ---- helpers (cli/util.c) ---- */
/* Print "virtlab CMD: message" as one line on stderr; returns VL_CLI_USAGE. */
int vl_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a decimal/hex unsigned integer (suffixes k, M, G allowed; also an
 * exact decimal in scientific notation, 2e10, 1.5e9); 0 or -1. */
int vl_cli_parse_u64(const char *s, uint64_t *v);
/* Split a comma-separated list in place into out[0..max): 0, or -1 when
 * it is empty, has an empty item ("a,,b", "a,") or more than max items. */
int vl_cli_split(char *s, const char **out, size_t max, size_t *n);
/* An option value that names something (a file, a directory, a metric, an
 * id) given as "": one line, VL_CLI_USAGE; else (NULL too) 0. */
int vl_cli_need_value(const char *cmd, const char *opt, const char *arg);
/* A directory the command will write figures into (created when missing)
 * may not be "" or an existing non-directory: one line, VL_CLI_USAGE;
 * else (NULL too) 0. */
int vl_cli_check_outdir(const char *cmd, const char *opt, const char *dir);
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
/* Profile `name` with every value's provenance (cli/cmd_show.c): a table
 * (shares, then each value if `values`) or one JSON object (no newline).
 * 0, or -1 with the loader's one-line reason in err. */
int vl_cli_profile_print(FILE *out, const char *name, enum vl_fmt f, bool values, char *err, size_t errlen);

/* ---- results database (cli/cli_results.c) ---- */
struct vl_db;
/* Open (create, migrate) the database with this build's facts; on failure
 * one line "virtlab CMD: database: reason" on stderr and NULL. */
struct vl_db *vl_cli_db_open(const char *cmd, const char *path);
/* The same for commands that only read: never creates or writes the file
 * (vl_db_open_read). */
struct vl_db *vl_cli_db_open_read(const char *cmd, const char *path);
/* `git rev-parse --verify REV^{commit}` in the current directory: the full
 * hash, or -1 (not a repository, unknown revision, no git). */
int vl_cli_git_rev(const char *rev, char *hash, size_t n);
/* A revision as git knows it, else a hex hash prefix (>= 4) taken as is. */
int vl_cli_resolve_commit(const char *rev, char *hash, size_t n);
/* A selection name (what: "engine", "mmu", "workload", "profile") must be
 * one this build knows (a profile: one the loader loads) or one stored in
 * the database; else one line naming the valid ones and VL_CLI_USAGE.
 * NULL name: 0. */
int vl_cli_check_name(const char *cmd, struct vl_db *db, const char *what, const char *name);
/* "12,13,20-25" -> malloc'ed ids. 0 or -1. */
int vl_cli_parse_ids(const char *s, int64_t **ids, size_t *n);

/* ---- build facts (cli/version.c) ---- */
extern const char vl_build_commit[];
extern const int vl_build_dirty;
extern const char vl_build_cc[];
extern const char vl_build_version[];


/* ---- the one planner (cli/planner.c): matrix, plan, advise, sweep ---- */
struct vl_adv_conf;
struct vl_profile;
/* One (engine, mmu) of the registry for a profile; skip "" = it runs,
 * else why not (refused by the profile, mmu not built, runs only when named). */
struct vl_cli_conf {
	char engine[32], mmu[32];
	bool external;             /* a real engine (qemu-*, host): mmu ignored */
	char skip[400];
};
/* Every configuration a selection means on prof, in registry order: sel
 * (nsel 0 = every model engine but those run only when named, such as
 * trap) names engines, or single configurations as "engine/mmu"; mmus
 * (nmmu 0 = all) restricts model engines' mmus; model_only leaves real
 * engines out even when named. *out malloc'ed. 0, or -1 + err. */
int vl_cli_plan_configs(const struct vl_profile *prof, const char *const *sel, size_t nsel, const char *const *mmus,
			size_t nmmu, bool model_only, struct vl_cli_conf **out, size_t *n, char *err, size_t errlen);
/* The model configurations of that plan that run on profile (skipped ones
 * left out), as advise's candidates. *out malloc'ed. 0, or -1 + err. */
int vl_cli_expected_configs(const char *profile, const char *const *sel, size_t nsel, const char *const *mmus,
			    size_t nmmu, struct vl_adv_conf **out, size_t *n, char *err, size_t errlen);
/* A workload a selection without --workloads includes (not selftest; for
 * a sweep, not sensitive either). */
bool vl_cli_plan_default_workload(const char *name, bool sweep);


/* ---- sweeps (cli/cmd_sweep.c) ---- */
/* "sec.key=LO:HI:log|lin:N" or "sec.key=V1,V2,..." -> the field (sec, key:
 * 32 bytes each) and its integer values, ascending, once each (v: room for
 * 256). 0, or a usage error already printed (status 2). */
int vl_cli_sweep_values(const char *arg, char *sec, char *key, double *v, size_t *nv, int *logx);
/* The derived profile of each value (the base file with the line replaced)
 * through the profile loader, into dprof[i] (NULL: only check). 0, or -1
 * with the loader's one-line reason. */
int vl_cli_sweep_profiles(const char *base, const char *sec, const char *key, const double *val, size_t nval,
			  struct vl_profile *dprof, char *err, size_t errlen);

#endif
