/* direct.h — paravirtual direct paging (mmu/direct/direct.c): sizes and
 * the engine's ops. Reached only through vl_mmu_direct (mmu.h ops). */
#ifndef VL_MMU_DIRECT_H
#define VL_MMU_DIRECT_H

#include "virtlab/mmu.h"

/* Page types (Xen's PGT_*): a machine frame is untyped, one level of page
 * table, or mapped writable; its type count says how many references hold
 * that type. */
enum dp_type { DP_NONE = 0, DP_L1, DP_L2, DP_L3, DP_L4, DP_W };

/* The monitor's L4 slots (guest_abi.h VL_MONITOR_BASE..VL_MONITOR_END):
 * 256..271, present in every typed L4 and refused to guest entries. */
#define DP_MON_SLOT0  256u
#define DP_MON_SLOTS  16u

/* Boot mode: the VMM copy of the guest's boot tables is at most this many
 * table pages (the machine loader's and the guest's boot tables: 1 GiB of
 * 2 MiB pages, copied as 4 KiB pages). */
#define DP_SNAP_MEMO  64u

extern const struct vl_mmu_ops vl_mmu_direct;

#endif
