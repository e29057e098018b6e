/* registry.c — every MMU virtualization engine, one line each, and the names
 * of the MMU kinds. "native" is the hardware's own 1-D walk of the guest's
 * tables (no VMM software: every op is NULL). */
#include <string.h>

#include "virtlab/mmu.h"
#include "direct/direct.h"
#include "nested/nested.h"
#include "shadow/shadow.h"

static const struct vl_mmu_ops mmu_native = {
	.name = "native",
	.desc = "the guest's own page tables walked by the hardware (1-D); native engine only",
	.kind = VL_MMU_NATIVE,
};

const struct vl_mmu_ops *const vl_mmus[] = {
	&mmu_native,
	&vl_mmu_shadow,
	&vl_mmu_nested,
	&vl_mmu_direct,
};
const size_t vl_mmu_count = sizeof vl_mmus / sizeof vl_mmus[0];

static const char *const mmu_kind_name[VL_MMU_COUNT] = {
	[VL_MMU_NATIVE] = "native",
	[VL_MMU_SHADOW] = "shadow",
	[VL_MMU_NESTED] = "nested",
	[VL_MMU_DIRECT] = "direct",
	[VL_MMU_NONE]   = "none",
};

const struct vl_mmu_ops *vl_mmu_find(const char *name)
{
	for (size_t i = 0; name && i < vl_mmu_count; i++)
		if (!strcmp(vl_mmus[i]->name, name))
			return vl_mmus[i];
	return NULL;
}

const char *vl_mmu_name(enum vl_mmu_kind k)
{
	return (unsigned)k < VL_MMU_COUNT ? mmu_kind_name[k] : "?";
}
