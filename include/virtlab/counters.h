/* counters.h — exact, deterministic event counts and cycles by category.
 *
 * Every count the tool reports is one of these. The machine charges into
 * the counter set of the current region (see guest_abi.h markers); the run
 * result reports the measured region. Counters are plain integers so that
 * two runs can be compared bit for bit.
 */
#ifndef VIRTLAB_COUNTERS_H
#define VIRTLAB_COUNTERS_H

#include <stdint.h>
#include <stddef.h>

#include "virtlab/profile.h"

/* Cost categories: where a modelled cycle went. JSON keys in vl_cat_name. */
enum vl_cat {
	VL_CAT_GUEST,      /* guest instructions executing (incl. TLB hit latency) */
	VL_CAT_WALK,       /* page-walk references and TLB-miss latency */
	VL_CAT_EXCEPTION,  /* exception / interrupt delivery and IRET-class transitions */
	VL_CAT_EXIT,       /* VM exit + VM entry hardware transitions */
	VL_CAT_VMM,        /* VMM software handling (emulation, shadow maintenance, VMREAD/VMWRITE) */
	VL_CAT_TRANSLATE,  /* binary translator work */
	VL_CAT_HYPERCALL,  /* hypercall transitions (paravirtualization) */
	VL_CAT_COUNT
};

enum vl_event {
#define X(id, key, doc) VL_EV_##id,
#include "virtlab/events.def"
#undef X
	VL_EV_COUNT
};

/* Exit slots: an engine describes its exits in a table of vl_exit_desc and
 * counts by index into that table (a dense slot), so VT-x reasons (0..69)
 * and AMD-V codes (0..0x403) share one fixed-size array. */
#define VL_MAX_EXIT_SLOTS 96

struct vl_exit_desc {
	uint32_t code;      /* vendor number: SDM basic exit reason or APM EXITCODE */
	const char *name;   /* vendor name: "CPUID", "IO_INSTRUCTION", "VMEXIT_CPUID", ... */
};

/* Cycles by the profile value that was charged (enum vl_pf, one slot per
 * profile_fields.def line, plus VL_PF_NONE for cycles no profile value
 * priced: the idle time an HLT waits for its wake-up event). Every charge
 * names its value (machine.h vl_charge_pf), so the slots sum to the sum of
 * `cycles`, and a result can say how much of it rests on sourced, derived
 * and estimated values (vl_profile_classes). */
#define VL_PF_NONE  VL_PF_COUNT
#define VL_PF_SLOTS (VL_PF_COUNT + 1)

struct vl_counters {
	uint64_t cycles[VL_CAT_COUNT];
	uint64_t field_cycles[VL_PF_SLOTS];
	uint64_t events[VL_EV_COUNT];
	uint64_t exit_count[VL_MAX_EXIT_SLOTS];
	uint64_t exit_cycles[VL_MAX_EXIT_SLOTS];   /* exit + entry + handler cycles of that exit */
};

extern const char *const vl_cat_name[VL_CAT_COUNT];   /* "guest", "walk", ... */
extern const char *const vl_event_name[VL_EV_COUNT];  /* "guest_instructions", ... */
extern const char *const vl_event_doc[VL_EV_COUNT];

static inline uint64_t vl_counters_total(const struct vl_counters *c)
{
	uint64_t t = 0;
	for (int i = 0; i < VL_CAT_COUNT; i++)
		t += c->cycles[i];
	return t;
}

/* dst += src, element-wise. */
void vl_counters_add(struct vl_counters *dst, const struct vl_counters *src);

#endif
