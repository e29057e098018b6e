/* guest_run.h — run an in-memory guest image on one engine × MMU × profile
 * in process (no runner, no database) and capture its guest-visible outcome.
 * Used by the hostile-guest regression tests, the fuzz harness and the
 * differential oracle (tests/fuzz/). Configurations come from the engine and
 * MMU registries, so an engine that lands there is covered automatically. */
#ifndef VL_TEST_GUEST_RUN_H
#define VL_TEST_GUEST_RUN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "virtlab/profile.h"

/* Guest memory of a test machine: small, so a case is cheap. */
#define VL_GRUN_RAM_MB 4
#define VL_GRUN_MONITOR_MB 4

struct vl_grun_cfg {
	const struct vl_engine_ops *eng;
	const struct vl_mmu_ops *mmu;
	const struct vl_profile *prof;
	char name[64];                  /* "svm/shadow/zen4" */
};

/* What a guest can see of its own run, and how it ended. */
struct vl_grun_out {
	enum vl_mstate st;
	uint32_t exit_code;
	char diag[1024];
	uint64_t insns, cycles;
	uint64_t gpr[16], rip, rflags;
	uint64_t ram_hash;              /* FNV-1a over guest RAM */
	uint64_t console_hash;
	size_t console_len;
};

/* A started run: the machine with the engine attached. */
struct vl_grun {
	struct vl_machine *m;
	void *ctx;
	const struct vl_grun_cfg *cfg;
};

/* Load every profile in `names` (NULL-terminated) into profs[] (caller's
 * storage, n entries) and list every model engine × MMU pair of the
 * registries with every loaded profile the engine accepts for the pair.
 * Returns the number of configurations written to out (at most max), or -1
 * with err when a profile does not load. */
int vl_grun_configs(const char *const *names, struct vl_profile *profs, size_t nprofs,
		    struct vl_grun_cfg *out, size_t max, char *err, size_t errlen);

/* Build the machine, load the image, attach engine and MMU. 0, or -1 with
 * err (image refused, attach failed); nothing to end then. */
int vl_grun_start(struct vl_grun *g, const struct vl_grun_cfg *c, const uint8_t *img, size_t len,
		  uint64_t max_insns, uint64_t max_cycles, char *err, size_t errlen);
void vl_grun_outcome(struct vl_grun *g, struct vl_grun_out *o);
void vl_grun_end(struct vl_grun *g);

/* start + run to the end + outcome + end. 0, or -1 with o->diag. */
int vl_grun(const struct vl_grun_cfg *c, const uint8_t *img, size_t len, uint64_t max_insns,
	    uint64_t max_cycles, struct vl_grun_out *o);

/* Is the configuration meant to behave exactly as native? False for
 * engines that diverge by design (DESIGN.md: trap, classic
 * trap-and-emulate, "fails on x86 by design": sensitive-but-unprivileged
 * instructions misbehave), and pv until its open gaps close
 * (see guest_run.c). They are still run, for crashes and stops; the
 * differential oracle leaves them out. */
bool vl_grun_equivalent(const struct vl_grun_cfg *c);
/* Does the configuration's retired-instruction count (m->insns: the
 * --max-instructions budget, guest_instructions) count the guest's own
 * instructions, as native does? False for bt: it counts the translated
 * code the machine executes (DESIGN.md), several instructions per guest
 * instruction. vl_grun_start gives such a configuration VL_GRUN_BT_BUDGET
 * times the budget, so it is not stopped before native would be; the
 * oracle then compares its outcome without the count, and not at all when
 * native itself ran out of budget (where bt stops is not where native
 * does). */
bool vl_grun_counts_guest_insns(const struct vl_grun_cfg *c);
#define VL_GRUN_BT_BUDGET 64

/* Are two outcomes the same for the guest (state, exit code, retired
 * instructions, registers, RAM, console)? Writes the first difference into
 * why. a is the reference (native). insns = false (b's configuration does
 * not count guest instructions, vl_grun_counts_guest_insns): the count is
 * not compared, and a reference that ran out of its instruction budget
 * (timeout) compares equal to anything but a VMM stop. */
bool vl_grun_same(const struct vl_grun_out *a, const struct vl_grun_out *b, bool insns, char *why, size_t whylen);

const char *vl_grun_state_name(enum vl_mstate st);
#endif
