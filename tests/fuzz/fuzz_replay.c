/* fuzz_replay.c — replay fuzz inputs through the generator on every engine ×
 * MMU without libFuzzer (works with gcc): the corpus smoke test of
 * `make test` (as test_fuzz_corpus) and the figures tool (as fuzz_replay).
 *
 *   fuzz_replay [--diff] [--fork] [--cases N] [--seed S] [--len L]
 *               [--write-corpus DIR] [--verbose] [FILE|DIR ...]
 *
 * Inputs are files (a directory: every file in it, sorted) or, with
 * --cases, N inputs of L bytes from a seeded PRNG (splitmix64): the same
 * seed gives the same cases. Per configuration it prints cases run, guest
 * instructions executed, host crashes (--fork: each run in a child; a
 * signal or sanitizer exit is a crash, the replay goes on), VMM stops
 * (the engine stopped the machine with an error) and divergences (--diff:
 * a diffable case whose outcome differs from native on the same profile).
 * Exit 0 when there was no crash and no divergence, 1 otherwise, 2 usage.
 * Run as test_fuzz_corpus with no arguments: --diff tests/fuzz/corpus, and
 * a VMM stop fails too. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen.h"
#include "guest_run.h"

#define MAXCFG 32
#define MAXIN  4096

static const char *const profile_names[] = { "zen4", "skylake-sp", NULL };

struct stat_row { uint64_t cases, insns, crashes, stops, diffed, divergences; };

static struct vl_profile profs[2];
static struct vl_grun_cfg cfgs[MAXCFG];
static struct stat_row rows[MAXCFG];
static int ncfg;
static bool opt_diff, opt_fork, opt_verbose;
static uint64_t total_cases, reported;

/* Run one configuration; in a child with --fork. Returns 0, or -1 on a
 * host crash (child killed or failed without an outcome). */
static int run_cfg(const struct vl_grun_cfg *c, const struct fuzz_case *fc, uint64_t max_cycles,
		   struct vl_grun_out *o, int *sig)
{
	*sig = 0;
	if (!opt_fork) {
		vl_grun(c, fc->elf, fc->elf_len, FUZZ_MAX_INSNS, max_cycles, o);
		return 0;
	}
	int p[2];
	if (pipe(p))
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		vl_grun(c, fc->elf, fc->elf_len, FUZZ_MAX_INSNS, max_cycles, o);
		ssize_t w = write(p[1], o, sizeof *o);
		_exit(w == (ssize_t)sizeof *o ? 0 : 3);
	}
	close(p[1]);
	size_t got = 0;
	while (got < sizeof *o) {
		ssize_t n = read(p[0], (char *)o + got, sizeof *o - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (got == sizeof *o && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	*sig = WIFSIGNALED(st) ? WTERMSIG(st) : -WEXITSTATUS(st);
	return -1;
}

static int native_index(const struct vl_profile *p)
{
	for (int i = 0; i < ncfg; i++)
		if (cfgs[i].prof == p && !strcmp(cfgs[i].eng->name, "native"))
			return i;
	return -1;
}

static void note(const char *what, const char *name, const char *cfg, const char *why)
{
	if (reported++ < 20 || opt_verbose)
		printf("%s: %s on %s: %s\n", what, name, cfg, why);
}

static void one_case(const uint8_t *in, size_t n, const char *name)
{
	static struct fuzz_case fc;
	struct vl_grun_out out[MAXCFG];
	bool ok[MAXCFG];
	fuzz_gen(in, n, &fc);
	/* the differential runs have no practical cycle limit: a slower engine
	 * must stop at the same instruction as native, not earlier */
	uint64_t max_cycles = opt_diff && fc.diffable ? 1ull << 40 : FUZZ_MAX_CYCLES;
	total_cases++;
	if (opt_verbose)
		printf("case %s: %s%s\n", name, fc.desc, fc.diffable ? ", diffable" : "");
	for (int i = 0; i < ncfg; i++) {
		int sig;
		rows[i].cases++;
		ok[i] = run_cfg(&cfgs[i], &fc, max_cycles, &out[i], &sig) == 0;
		if (!ok[i]) {
			char why[64];
			snprintf(why, sizeof why, sig > 0 ? "killed by signal %d" : "exit status %d", sig > 0 ? sig : -sig);
			rows[i].crashes++;
			note("CRASH", name, cfgs[i].name, why);
			continue;
		}
		rows[i].insns += out[i].insns;
		if (out[i].st == VL_M_ERROR) {
			rows[i].stops++;
			note("VMM stop", name, cfgs[i].name, out[i].diag);
		}
	}
	if (!opt_diff || !fc.diffable)
		return;
	for (int i = 0; i < ncfg; i++) {
		int nat = native_index(cfgs[i].prof);
		if (nat < 0 || nat == i || !ok[i] || !ok[nat] || !vl_grun_equivalent(&cfgs[i]))
			continue;
		char why[256];
		rows[i].diffed++;
		if (!vl_grun_same(&out[nat], &out[i], vl_grun_counts_guest_insns(&cfgs[i]), why, sizeof why)) {
			rows[i].divergences++;
			note("DIVERGENCE", name, cfgs[i].name, why);
		}
	}
}

static int one_file(const char *path)
{
	static uint8_t buf[MAXIN];
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	const char *base = strrchr(path, '/');
	one_case(buf, n, base ? base + 1 : path);
	return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int one_path(const char *path)
{
	struct stat st;
	if (stat(path, &st)) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return one_file(path);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "fuzz_replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "README.md"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **nn = realloc(names, cap * sizeof *names);
			if (!nn)
				break;
			names = nn;
		}
		names[n] = malloc(strlen(path) + strlen(de->d_name) + 2);
		if (!names[n])
			break;
		sprintf(names[n], "%s/%s", path, de->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		rc |= one_file(names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int usage(void)
{
	fprintf(stderr, "usage: fuzz_replay [--diff] [--fork] [--cases N] [--seed S] [--len L] "
			"[--write-corpus DIR] [--verbose] [FILE|DIR ...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t cases = 0, seed = 1, len = 256;
	const char *wdir = NULL;
	const char *self = strrchr(argv[0], '/');
	self = self ? self + 1 : argv[0];
	bool test_mode = !strncmp(self, "test_", 5) && argc == 1;
	int first = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--diff")) opt_diff = true;
		else if (!strcmp(a, "--fork")) opt_fork = true;
		else if (!strcmp(a, "--verbose")) opt_verbose = true;
		else if (!strcmp(a, "--cases") && i + 1 < argc) cases = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--len") && i + 1 < argc) len = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--write-corpus") && i + 1 < argc) wdir = argv[++i];
		else if (a[0] == '-') return usage();
		else { first = i; break; }
	}
	if (len == 0 || len > MAXIN)
		return usage();
	if (test_mode)
		opt_diff = true;

	char err[256];
	ncfg = vl_grun_configs(profile_names, profs, 2, cfgs, MAXCFG, err, sizeof err);
	if (ncfg < 0) {
		fprintf(stderr, "fuzz_replay: %s\n", err);
		return 2;
	}
	int rc = 0;
	if (test_mode) {
		rc |= one_path("tests/fuzz/corpus");
	} else {
		for (int i = first; i < argc; i++)
			rc |= one_path(argv[i]);
	}
	uint64_t s = seed;
	static uint8_t buf[MAXIN];
	for (uint64_t k = 0; k < cases; k++) {
		for (uint64_t j = 0; j < len; j += 8) {
			uint64_t v = splitmix(&s);
			memcpy(buf + j, &v, len - j < 8 ? len - j : 8);
		}
		char name[64];
		snprintf(name, sizeof name, "seed%llu-%06llu", (unsigned long long)seed, (unsigned long long)k);
		if (wdir) {
			char path[512];
			snprintf(path, sizeof path, "%s/%s", wdir, name);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(buf, 1, len, f) != len) {
				fprintf(stderr, "fuzz_replay: %s: cannot write\n", path);
				return 2;
			}
			fclose(f);
		}
		one_case(buf, len, name);
	}
	if (rc)
		return 2;

	uint64_t crashes = 0, div = 0, stops = 0;
	printf("%-26s %10s %14s %8s %10s %8s %12s\n", "configuration", "cases", "guest insns", "crashes",
	       "vmm stops", "diffed", "divergences");
	for (int i = 0; i < ncfg; i++) {
		printf("%-26s %10llu %14llu %8llu %10llu %8llu %12llu\n", cfgs[i].name,
		       (unsigned long long)rows[i].cases, (unsigned long long)rows[i].insns,
		       (unsigned long long)rows[i].crashes, (unsigned long long)rows[i].stops,
		       (unsigned long long)rows[i].diffed, (unsigned long long)rows[i].divergences);
		crashes += rows[i].crashes;
		div += rows[i].divergences;
		stops += rows[i].stops;
	}
	printf("%llu cases x %d configurations: %llu crashes, %llu vmm stops, %llu divergences%s\n",
	       (unsigned long long)total_cases, ncfg, (unsigned long long)crashes, (unsigned long long)stops,
	       (unsigned long long)div, opt_diff ? "" : " (no --diff)");
	if (test_mode && total_cases == 0) {
		fprintf(stderr, "test_fuzz_corpus: tests/fuzz/corpus is empty\n");
		return 1;
	}
	/* the corpus smoke also fails on a VMM stop: none of its cases stops today */
	return crashes || div || (test_mode && stops) ? 1 : 0;
}
