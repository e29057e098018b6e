/* fuzz_target.c — the libFuzzer target (clang -fsanitize=fuzzer,address,undefined;
 * built and run by `make fuzz FUZZ_SECONDS=N`). Each input drives the
 * structure-aware generator (gen.h); the guest runs on every engine × MMU of
 * the registries with the per-case instruction and cycle limits. A host crash
 * or sanitizer report is libFuzzer's finding. With FUZZ_DIFF=1 in the
 * environment a diffable case whose outcome differs from native on the same
 * profile aborts too (the differential oracle); with FUZZ_STRICT=1 so does a
 * run the VMM stopped with an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "guest_run.h"

#define MAXCFG 32
static const char *const profile_names[] = { "zen4", "skylake-sp", NULL };
static struct vl_profile profs[2];
static struct vl_grun_cfg cfgs[MAXCFG];
static int ncfg;
static int opt_diff, opt_strict;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	ncfg = vl_grun_configs(profile_names, profs, 2, cfgs, MAXCFG, err, sizeof err);
	if (ncfg <= 0) {
		fprintf(stderr, "fuzz_target: %s (set VIRTLAB_PROFILES)\n", ncfg < 0 ? err : "no configuration");
		exit(2);
	}
	const char *d = getenv("FUZZ_DIFF"), *s = getenv("FUZZ_STRICT");
	opt_diff = d && *d == '1';
	opt_strict = s && *s == '1';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_case fc;
	static struct vl_grun_out out[MAXCFG];
	fuzz_gen(data, size, &fc);
	uint64_t max_cycles = opt_diff && fc.diffable ? 1ull << 40 : FUZZ_MAX_CYCLES;
	for (int i = 0; i < ncfg; i++) {
		vl_grun(&cfgs[i], fc.elf, fc.elf_len, FUZZ_MAX_INSNS, max_cycles, &out[i]);
		if (opt_strict && out[i].st == VL_M_ERROR) {
			fprintf(stderr, "fuzz_target: %s: VMM stop: %s\n", cfgs[i].name, out[i].diag);
			abort();
		}
	}
	if (!opt_diff || !fc.diffable)
		return 0;
	for (int i = 0; i < ncfg; i++) {
		int nat = -1;
		for (int j = 0; j < ncfg; j++)
			if (cfgs[j].prof == cfgs[i].prof && !strcmp(cfgs[j].eng->name, "native"))
				nat = j;
		char why[256];
		if (nat >= 0 && nat != i && vl_grun_equivalent(&cfgs[i]) && !vl_grun_same(&out[nat], &out[i], vl_grun_counts_guest_insns(&cfgs[i]), why, sizeof why)) {
			fprintf(stderr, "fuzz_target: %s diverges from %s: %s (%s)\n", cfgs[i].name, cfgs[nat].name, why,
				fc.desc);
			abort();
		}
	}
	return 0;
}
