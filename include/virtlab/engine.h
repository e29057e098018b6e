/* engine.h — CPU virtualization engines: native, bt, vtx, svm, pv, qemu-*.
 *
 * An engine is a VMM (plus, where the technique has one, the hardware
 * extension it programs). The runner (engines/run.c) knows engines only
 * through this ops table and the registry line in engines/registry.c:
 * a new engine is a new directory plus one line there.
 */
#ifndef VIRTLAB_ENGINE_H
#define VIRTLAB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/mmu.h"
#include "virtlab/profile.h"

struct vl_machine;
struct vl_run_spec;
struct vl_run_result;

struct vl_engine_ops {
	const char *name;                 /* "native", "vtx", ... (CLI and DB key) */
	const char *desc;                 /* one line for `list engines` */
	enum vl_mmu_kind default_mmu;     /* DESIGN.md: native->native, bt->shadow, vtx/svm->nested, pv->direct */
	unsigned mmu_mask;                /* VL_MMU_BIT() of the MMU modes it pairs with */
	/* Hardware assist (vtx, svm): its exits are the vendor's VM exits, each
	 * handled by the VMM's handler for that reason. false: entries into the
	 * VMM are traps of a software VMM (bt, pv, trap) — analysis/depends.c
	 * maps exit names to profile fields by this. */
	bool hw_assist;
	/* Can this engine run with `mmu` on the profile's CPU? 0, or -1 with a
	 * one-line reason ("the Pentium 4 (p4-prescott) has no EPT"). */
	int (*check)(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen);

	/* Model engines: attach to a loaded machine (set intercepts, hooks,
	 * exit table, nested state; init the MMU engine), before the first
	 * instruction. Returns 0 or -1 with reason (the run failed), or
	 * VL_ATTACH_REFUSED with reason when the engine cannot run this guest
	 * at all (bt and a 32-bit entry): the run is `refused`, exit 2. */
	int (*attach)(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen);
	void (*detach)(struct vl_machine *m, void *ctx);
	/* Optional (model engines): called after the run, before detach. An
	 * engine that knows the run's results cannot be trusted (trap: the
	 * guest executed a non-virtualizable instruction) returns -1 with a
	 * one-line reason; the run is then `failed` with it, whatever the
	 * guest's exit status. 0: no objection. */
	int (*verdict)(struct vl_machine *m, void *ctx, char *why, size_t whylen);

	/* External engines (qemu-*): run the whole spec themselves instead of
	 * the machine. NULL for model engines. Fills the result; returns 0 when
	 * a result (of any status) was produced, -1 with reason otherwise. */
	int (*run_external)(const struct vl_run_spec *spec, struct vl_run_result *res, char *err, size_t errlen);

	/* Optional (model engines that keep RFLAGS.IF/IOPL virtual for a
	 * deprivileged kernel, e.g. bt): RFLAGS as the guest sees it now (the
	 * hardware's holds the VMM's IF and IOPL). NULL: the hardware's is the
	 * guest's. For outcome comparison (tests/fuzz) and diagnostics. */
	uint64_t (*guest_rflags)(struct vl_machine *m, void *ctx);

	/* Optional: the default instruction limit (no --max-instructions) is
	 * this many times the run layer's (0 = 1). For an engine whose
	 * guest_instructions count more than the guest's own instructions
	 * (bt: the translated code it executes), so the runaway guard stays
	 * one on the guest's progress. */
	unsigned insn_budget;
};

#define VL_ATTACH_REFUSED (-2)

extern const struct vl_engine_ops *const vl_engines[];
extern const size_t vl_engine_count;
const struct vl_engine_ops *vl_engine_find(const char *name);

#endif
