/* shadow.h — sizes and policy constants of the shadow-paging MMU engine
 * (mmu/shadow/shadow.c), in one place (STYLE.md: sizes in one header).
 * The engine itself is reached only through vl_mmu_shadow (mmu.h ops). */
#ifndef VL_MMU_SHADOW_H
#define VL_MMU_SHADOW_H

#include "virtlab/mmu.h"

/* Shadow roots kept across guest CR3 switches: KVM keeps the current root
 * plus KVM_MMU_NUM_PREV_ROOTS = 3 previous ones; the same 4 here. A switch
 * to a guest CR3 whose root is cached is a hit; otherwise the least
 * recently used root is torn down (with every shadow page only it reached)
 * and a new, empty root is built: a miss. */
#define SHADOW_ROOT_CACHE 4

/* Write flooding (KVM detect_write_flooding): a shadow page that takes this
 * many traced writes without being used by a shadow fill in between is torn
 * down and its guest frame unprotected (the guest is reusing a former page
 * table as data). Cached roots are exempt. */
#define SHADOW_FLOOD_WRITES 3

/* The pool of shadow pages may use at most this fraction (1/N) of monitor
 * memory; when it is full every shadow page is torn down and the current
 * root rebuilt (deterministic, counted in shadow_zaps... see README). */
#define SHADOW_POOL_DIVISOR 2

extern const struct vl_mmu_ops vl_mmu_shadow;

#endif
