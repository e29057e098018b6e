/* native.c — the baseline engine: the guest runs directly on the machine.
 * No VMM: no intercepts, no exception hooks, no callouts, the hardware's own
 * 1-D paging. Every other engine is measured against this one. */
#include <stdio.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"

static int native_check(const struct vl_profile *p, enum vl_mmu_kind mmu, char *why, size_t whylen)
{
	if (mmu != VL_MMU_NATIVE) {
		snprintf(why, whylen, "engine native runs only with mmu native (there is no VMM to virtualize memory)");
		return -1;
	}
	return 0;
}

static int native_attach(struct vl_machine *m, const struct vl_mmu_ops *mmu, void **ctx, char *err, size_t errlen)
{
	m->intercept = 0;
	m->exc_intercept = 0;
	m->intr_intercept = false;
	m->callouts = false;
	m->vmm = NULL;
	m->vmm_ctx = NULL;
	m->nested.enabled = false;
	m->exit_table = NULL;
	m->exit_table_len = 0;
	vl_machine_drop_monitor(m);   /* no VMM: nothing above guest RAM is backed */
	*ctx = NULL;
	return 0;
}

static void native_detach(struct vl_machine *m, void *ctx)
{
}

const struct vl_engine_ops vl_engine_native = {
	.name = "native",
	.desc = "baseline: the guest runs directly on the machine, no VMM",
	.default_mmu = VL_MMU_NATIVE,
	.mmu_mask = VL_MMU_BIT(VL_MMU_NATIVE),
	.check = native_check,
	.attach = native_attach,
	.detach = native_detach,
};
