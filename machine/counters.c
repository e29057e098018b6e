/* counters.c — counter names (from events.def) and arithmetic. */
#include "virtlab/counters.h"

const char *const vl_cat_name[VL_CAT_COUNT] = {
	[VL_CAT_GUEST] = "guest", [VL_CAT_WALK] = "walk", [VL_CAT_EXCEPTION] = "exception",
	[VL_CAT_EXIT] = "exit", [VL_CAT_VMM] = "vmm", [VL_CAT_TRANSLATE] = "translate",
	[VL_CAT_HYPERCALL] = "hypercall",
};

const char *const vl_event_name[VL_EV_COUNT] = {
#define X(id, key, doc) [VL_EV_##id] = key,
#include "virtlab/events.def"
#undef X
};

const char *const vl_event_doc[VL_EV_COUNT] = {
#define X(id, key, doc) [VL_EV_##id] = doc,
#include "virtlab/events.def"
#undef X
};

void vl_counters_add(struct vl_counters *dst, const struct vl_counters *src)
{
	for (int i = 0; i < VL_CAT_COUNT; i++)
		dst->cycles[i] += src->cycles[i];
	for (int i = 0; i < VL_PF_SLOTS; i++)
		dst->field_cycles[i] += src->field_cycles[i];
	for (int i = 0; i < VL_EV_COUNT; i++)
		dst->events[i] += src->events[i];
	for (int i = 0; i < VL_MAX_EXIT_SLOTS; i++) {
		dst->exit_count[i] += src->exit_count[i];
		dst->exit_cycles[i] += src->exit_cycles[i];
	}
}
