/* synth.h — synthetic run results and scratch files for the tests of
 * results/ and analysis/ (header-only: tests/support is linked into every
 * test binary, and these helpers need the results library). Counter values
 * follow a formula of a seed, so a test can recompute what it stored. */
#ifndef VL_TEST_SYNTH_H
#define VL_TEST_SYNTH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtlab/counters.h"
#include "virtlab/profile.h"
#include "virtlab/provenance.h"
#include "virtlab/results.h"
#include "virtlab/run.h"

static const struct vl_exit_desc synth_exits[] = {
	{ 10, "CPUID" }, { 30, "IO_INSTRUCTION" }, { 48, "EPT_VIOLATION" },
};

static inline uint64_t synth_event(uint64_t seed, int k) { return seed * 1000 + (uint64_t)k * 7; }
static inline uint64_t synth_cat(uint64_t seed, int k) { return seed * 100000 + (uint64_t)k * 13; }

/* A complete model run: counters from `seed`, exits in slots 0 and 2. */
static inline void synth_model(struct vl_run_result *r, const char *engine, const char *mmu, const char *workload,
			       const char *profile, uint64_t iters, uint64_t seed)
{
	memset(r, 0, sizeof *r);
	snprintf(r->engine, sizeof r->engine, "%s", engine);
	snprintf(r->mmu, sizeof r->mmu, "%s", mmu);
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->profile, sizeof r->profile, "%s", profile);
	r->iterations = iters;
	r->status = VL_RUN_OK;
	r->model = true;
	r->guest_exit = 0;
	r->profile_dirty = -1;   /* provenance unknown unless a test sets it */
	for (int k = 0; k < VL_EV_COUNT; k++)
		r->ctr.events[k] = synth_event(seed, k);
	for (int k = 0; k < VL_CAT_COUNT; k++)
		r->ctr.cycles[k] = synth_cat(seed, k);
	r->exit_table = synth_exits;
	r->exit_table_len = 3;
	r->ctr.exit_count[0] = seed * 3;
	r->ctr.exit_cycles[0] = seed * 3 * 1200;
	r->ctr.exit_count[2] = seed;
	r->ctr.exit_cycles[2] = seed * 2500;
	r->cycles_per_iter = iters ? (double)vl_counters_total(&r->ctr) / iters : 0;
	r->started = 1700000000.0 + seed;
	r->ended = r->started + 0.5;
	r->host_seconds = 0.5;
	r->host_mips = 100;
	r->total_insns = seed * 5000;
	r->total_cycles = seed * 9000;
	r->nresults = 1;
	snprintf(r->results[0].workload, sizeof r->results[0].workload, "%s", workload);
	r->results[0].iters = iters;
	r->results[0].cycles = (uint64_t)r->cycles_per_iter * iters;
}

/* Slot tables shaped as the bt and pv engines shape theirs: bt's callouts
 * first ([callout_lo, callout_hi)), then its traps; pv's hypercalls first
 * (below hypercall_slots, code = hypercall number), then its exits. */
static const struct vl_exit_desc synth_bt_slots[] = {
	{ 0, "BLOCK_EXIT" }, { 4, "CPUID" }, { 20, "TRAP_SYSCALL" },
};
static const struct vl_exit_desc synth_pv_slots[] = {
	{ 5, "read_cr" }, { 14, "mmu_update" }, { 0x103, "PAGE_FAULT" },
};

/* A model run whose three slots are two VMM entries of the engine's own
 * kind (callouts for "bt", hypercalls for "pv") and one exit: counts
 * seed, 2 seed, 3 seed; cycles 100 times that. */
static inline void synth_entries(struct vl_run_result *r, const char *engine, const char *workload,
				 const char *profile, uint64_t iters, uint64_t seed)
{
	int bt = !strcmp(engine, "bt");
	synth_model(r, engine, "shadow", workload, profile, iters, seed);
	r->exit_table = bt ? synth_bt_slots : synth_pv_slots;
	r->exit_table_len = 3;
	if (bt) {
		r->callout_lo = 0;
		r->callout_hi = 2;
	} else {
		r->hypercall_slots = 2;
	}
	for (int k = 0; k < 3; k++) {
		r->ctr.exit_count[k] = seed * (uint64_t)(k + 1);
		r->ctr.exit_cycles[k] = 100 * seed * (uint64_t)(k + 1);
	}
	r->cycles_per_iter = iters ? (double)vl_counters_total(&r->ctr) / iters : 0;
}

/* A real (external-engine) run with n raw samples v[]. */
static inline void synth_real(struct vl_run_result *r, const char *engine, const char *workload, const char *profile,
			      uint64_t iters, const double *v, size_t n)
{
	memset(r, 0, sizeof *r);
	snprintf(r->engine, sizeof r->engine, "%s", engine);
	snprintf(r->mmu, sizeof r->mmu, "none");
	snprintf(r->workload, sizeof r->workload, "%s", workload);
	snprintf(r->profile, sizeof r->profile, "%s", profile);
	r->iterations = iters;
	r->status = VL_RUN_OK;
	r->model = false;
	r->guest_exit = 0;
	r->started = 1700000000.0;
	r->ended = r->started + 1;
	if (!n)
		return;   /* no samples (e.g. a run that failed before the first) */
	r->nsamples = 1;
	snprintf(r->samples[0].metric, sizeof r->samples[0].metric, "cycles_per_iter");
	snprintf(r->samples[0].unit, sizeof r->samples[0].unit, "cycles");
	r->samples[0].n = n;
	r->samples[0].v = malloc(n * sizeof(double));
	memcpy(r->samples[0].v, v, n * sizeof(double));
	double *s = malloc(n * sizeof(double));
	memcpy(s, v, n * sizeof(double));
	for (size_t i = 1; i < n; i++)   /* insertion sort for the median */
		for (size_t j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double t = s[j]; s[j] = s[j - 1]; s[j - 1] = t;
		}
	r->cycles_per_iter = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
}

/* Per-value cycles (counters.h field_cycles) for a model run r, and the
 * effective profile p as the run would carry it (text, SHA-256, path): of
 * the run's modelled cycles T (the sum of its categories), T/2 on
 * insn.alu, T/4 on insn.popf, T/8 on insn.io, T/16 on svm.vmexit, the rest
 * unpriced (VL_PF_NONE). A test changes a value of p first to make it
 * "set". */
static inline void synth_values(struct vl_run_result *r, const struct vl_profile *p)
{
	uint64_t t = vl_counters_total(&r->ctr);
	memset(r->ctr.field_cycles, 0, sizeof r->ctr.field_cycles);
	r->ctr.field_cycles[VL_PF_insn_alu] = t / 2;
	r->ctr.field_cycles[VL_PF_insn_popf] = t / 4;
	r->ctr.field_cycles[VL_PF_insn_io] = t / 8;
	r->ctr.field_cycles[VL_PF_svm_vmexit] = t / 16;
	r->ctr.field_cycles[VL_PF_NONE] = t - t / 2 - t / 4 - t / 8 - t / 16;
	free(r->profile_text);
	r->profile_text = vl_profile_text(p);
	vl_sha256_hex(r->profile_text, strlen(r->profile_text), r->profile_sha256);
	snprintf(r->profile_path, sizeof r->profile_path, "%s", p->path);
}

/* Load a shipped profile (or die in the test). */
static inline void synth_profile(const char *name, struct vl_profile *p)
{
	char err[512];
	if (vl_profile_load(name, p, err, sizeof err)) {
		fprintf(stderr, "vl_profile_load %s: %s\n", name, err);
		abort();
	}
}

static inline void synth_free(struct vl_run_result *r)
{
	for (int i = 0; i < r->nsamples; i++)
		free(r->samples[i].v);
	free(r->console);
	free(r->profile_text);
	r->nsamples = 0;
	r->console = NULL;
	r->profile_text = NULL;
}

/* A fresh scratch directory; returns its path (static storage per call site). */
static inline void synth_tmpdir(char *buf, size_t n)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, n, "%s/vltest.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		abort();
	}
}

static inline void synth_rmdir(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* Open (or die in the test) a database at dir/name with build facts set. */
static inline struct vl_db *synth_open(const char *dir, const char *name, const char *commit)
{
	char path[4200], err[512];
	struct vl_db *db = NULL;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (vl_db_open(path, &db, err, sizeof err)) {
		fprintf(stderr, "vl_db_open %s: %s\n", path, err);
		abort();
	}
	struct vl_db_build b = { commit, 0, "testcc 1.0", "9.9.9" };
	vl_db_set_build(db, &b);
	return db;
}

static inline int64_t synth_store(struct vl_db *db, const struct vl_run_result *r, const char *tag)
{
	char err[512];
	int64_t id = -1;
	if (vl_db_store_run(db, r, tag, &id, err, sizeof err)) {
		fprintf(stderr, "vl_db_store_run: %s\n", err);
		abort();
	}
	return id;
}

#endif
