/* run.h — one run: (engine, mmu, workload, profile, params) -> result.
 *
 * The runner (engines/run.c) builds the machine, loads the guest, attaches
 * the engine and MMU engine, runs, and fills a vl_run_result that the CLI
 * prints and results/ stores. Producers and consumers meet only here.
 */
#ifndef VIRTLAB_RUN_H
#define VIRTLAB_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/counters.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"

struct vl_machine;

/* What vl_run_spec.progress is told. */
struct vl_run_progress {
	uint64_t insns;            /* guest instructions so far (every region) */
	uint64_t cycles;           /* modelled cycles so far */
	uint64_t max_insns;        /* the run's instruction limit */
	double seconds;            /* host seconds since the machine started */
	bool done;                 /* the machine stopped: clear the line */
};

enum vl_run_status { VL_RUN_OK = 0, VL_RUN_FAILED, VL_RUN_TIMEOUT, VL_RUN_REFUSED };

/* Phases of vl_run_spec.machine_hook */
enum vl_run_hook_phase {
	VL_RUN_HOOK_START,   /* image loaded, engine attached, nothing executed yet */
	VL_RUN_HOOK_END,     /* the machine stopped; counters and state are final */
};
extern const char *const vl_run_status_name[];   /* "ok", "failed", "timeout", "refused" */

struct vl_workload_info { const char *name; uint64_t default_iters; const char *desc; };
extern const struct vl_workload_info vl_workloads[];
extern const size_t vl_workload_count;
const struct vl_workload_info *vl_workload_find(const char *name);

struct vl_run_spec {
	const char *engine;        /* registry name */
	const char *mmu;           /* NULL = the engine's default */
	const char *workload;      /* NULL when image is given */
	const char *profile;       /* NULL = VL_DEFAULT_PROFILE */
	uint64_t iterations;       /* 0 = the workload's default */
	const char *params;        /* extra "key=value ..." for the guest command line, or NULL */
	const char *image;         /* guest ELF; NULL = vl_guest_image() */
	const char *append;        /* Multiboot images: the kernel's arguments (QEMU -append); NULL = none */
	uint64_t max_insns;        /* 0 = default limit */
	uint64_t max_cycles;       /* 0 = default limit */
	uint64_t ram_mb;           /* 0 = VL_DEFAULT_RAM_MB */
	unsigned repeats;          /* external engines: samples to take (0 = default) */
	void (*trace)(void *arg, const char *line);  /* --trace sink, or NULL */
	void *trace_arg;
	int trace_region;          /* trace only inside this region (VL_REGION_MEASURE); 0 = everywhere */
	/* Tests and tools (model engines only; NULL = none): called with the
	 * machine at each vl_run_hook_phase, e.g. to switch a host fast path
	 * off before the run or to read every region's counters after it. */
	void (*machine_hook)(struct vl_machine *m, enum vl_run_hook_phase phase, void *arg);
	void *machine_hook_arg;
	/* Progress of a long model run (NULL = none): called about once a
	 * second from a helper thread while the machine runs (never touches
	 * the model: it only reads the counters), and once with done = true. */
	void (*progress)(void *arg, const struct vl_run_progress *p);
	void *progress_arg;
	const char *events;        /* engine host: comma-separated PAPI presets / libpfm4 names; NULL = cycles, instructions, TLB misses */
	/* The guest command line, set by the runner (engines/hv hv_cmdline, the
	 * one builder) in the resolved spec it hands to external engines, so
	 * QEMU boots exactly what the model boots. NULL from callers. */
	const char *cmdline;
	/* The profile itself, already loaded (a sweep's derived profile, whose
	 * label `profile` names it); NULL = load `profile` by name or path. */
	const struct vl_profile *profile_data;
	/* Fill vl_run_result.pf_class (model runs): vl_profile_classes reads
	 * the profile's file again, about as long as loading it. */
	bool profile_classes;
};

/* One RESULT line from the guest, parsed. */
#define VL_RESULT_MAX_KV 16
struct vl_guest_result {
	char workload[32];
	uint64_t iters;
	uint64_t cycles;           /* guest RDTSC delta */
	int nkv;
	char key[VL_RESULT_MAX_KV][32];
	char val[VL_RESULT_MAX_KV][64];
};

/* A real measurement (QEMU, host-native): every raw sample kept. */
struct vl_sample_set {
	char metric[48];           /* "cycles_per_iter", "seconds", ... */
	char unit[16];             /* "cycles", "s", "ns" */
	size_t n;
	double *v;                 /* malloc'ed */
};

struct vl_run_result {
	/* identity (resolved names, never NULL after vl_run_execute) */
	char engine[32], mmu[32], workload[32], profile[64];
	char params[256];
	uint64_t iterations;
	enum vl_run_status status;
	char reason[512];          /* why failed / timeout / refused ("" when ok) */
	int guest_exit;            /* value the guest wrote to the exit device, -1 if none */
	bool model;                /* true: counters come from the deterministic model */

	/* measured region (VL_REGION_MEASURE) of the model */
	struct vl_counters ctr;
	double cycles_per_iter;    /* measured-region total / iterations (model), or guest-measured (external);
				    * 0 unless status is ok: a run that stopped early did not run them all */
	const struct vl_exit_desc *exit_table;   /* static storage of the engine */
	size_t exit_table_len;
	size_t hypercall_slots;                  /* exit_table[0 .. this) are hypercalls (pv), reported apart */
	size_t callout_lo, callout_hi;           /* slots that are callouts (machine.h), reported apart */

	/* guest output */
	struct vl_guest_result results[8];
	int nresults;
	char *console;             /* full debug-console text, malloc'ed */

	/* real measurements */
	struct vl_sample_set samples[8];
	int nsamples;
	/* real engines: the hardware counters asked for (PAPI). One PAPI could
	 * not count has no sample — never a zero — and says why. */
	struct vl_hw_counter { char name[64]; bool available; char reason[256]; } hw[6];
	int nhw;

	/* host-side facts of this run (not deterministic, never compared exactly) */
	double host_seconds;
	double host_mips;
	uint64_t total_insns;      /* every region */
	uint64_t total_cycles;
	double started, ended;     /* wall clock, seconds since the epoch */

	/* provenance (engines/provenance.c): which cost model, guest and tree
	 * produced these numbers, taken when the run starts */
	char *profile_text;        /* the effective profile, vl_profile_text() (malloc'ed) */
	char profile_sha256[65];   /* SHA-256 of profile_text; "" when no profile was loaded */
	char profile_path[512];    /* file the profile was read from */
	char profile_commit[48];   /* git HEAD of the profile's tree at run time; "" outside git */
	int profile_dirty;         /* 1: that tree differs from HEAD; 0 clean; -1 unknown */
	char guest_sha256[65];     /* SHA-256 of the guest image file; "" when none was read */

	/* model runs with vl_run_spec.profile_classes: the share class of each
	 * profile value the counters' field_cycles attribute cycles to —
	 * vl_profile_classes() of the run's profile (static strings: "sourced",
	 * "derived", "estimated", "n/a", "set", "" absent); all NULL without
	 * the flag or when that failed (the profile's file could not be read
	 * again: the classes are unknown) */
	const char *pf_class[VL_PF_COUNT];
};

/* Execute a run. Always fills res identity and status; returns
 *   0  the run happened (status ok / failed / timeout),
 *   2  refused or bad usage (invalid pair, unknown name, bad image): res->status
 *      = VL_RUN_REFUSED and res->reason holds the one-line reason. */
int vl_run_execute(const struct vl_run_spec *spec, struct vl_run_result *res);
void vl_run_result_free(struct vl_run_result *res);

/* Parse every RESULT line of console text into res->results. */
void vl_run_parse_results(struct vl_run_result *res, const char *console);

/* The engine's slot table holds three kinds of VMM entry, each reported
 * (run output) and stored (results/, exit_reason.kind) apart: pv's
 * hypercalls (slots below hypercall_slots), bt's callouts ([callout_lo,
 * callout_hi)), and exits (the rest). */
enum vl_slot_kind { VL_SLOT_EXIT, VL_SLOT_HYPERCALL, VL_SLOT_CALLOUT };
static inline enum vl_slot_kind vl_run_slot_kind(const struct vl_run_result *r, size_t i)
{
	if (i < r->hypercall_slots)
		return VL_SLOT_HYPERCALL;
	if (i >= r->callout_lo && i < r->callout_hi)
		return VL_SLOT_CALLOUT;
	return VL_SLOT_EXIT;
}
/* "exit", "hypercall", "callout": the stored kind's name. */
static inline const char *vl_slot_kind_name(enum vl_slot_kind k)
{
	return k == VL_SLOT_HYPERCALL ? "hypercall" : k == VL_SLOT_CALLOUT ? "callout" : "exit";
}

/* Default guest image path: $VIRTLAB_GUEST, else found from the executable
 * (the source tree's build/guest/guest.elf, or PREFIX/share/virtlab/guest.elf;
 * include/virtlab/datadir.h), never relative to the current directory. */
const char *vl_guest_image(void);

#endif
