/* nested.h — the EPT/NPT MMU engine (mmu/nested/nested.c): its ops and two
 * read-only statistics for tests and diagnostics. */
#ifndef VL_MMU_NESTED_H
#define VL_MMU_NESTED_H

#include <stdint.h>

#include "virtlab/mmu.h"

extern const struct vl_mmu_ops vl_mmu_nested;

/* 4K guest-physical pages of RAM mapped so far / nested table pages
 * allocated (root included) / 4K guest-physical pages outside RAM mapped to
 * the unbacked frame, for the engine context that init returned. */
uint64_t vl_nested_mapped_pages(const void *ctx);
uint64_t vl_nested_table_pages(const void *ctx);
uint64_t vl_nested_unassigned_pages(const void *ctx);

#endif
