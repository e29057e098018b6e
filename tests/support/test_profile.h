/* test_profile.h — a complete struct vl_profile built in code, for unit
 * tests that must not depend on the profiles/ INI files. Values are test values,
 * not claims about any CPU. */
#ifndef VL_TEST_PROFILE_H
#define VL_TEST_PROFILE_H
#include "virtlab/profile.h"

/* Fill *p: vendor intel (or amd), every feature on, small distinct costs,
 * TLBs: L1I 32 entries 4-way, L1D 64 entries 4-way, L2 512 entries 4-way,
 * PWC 24, nested TLB 16 (Bhargava et al. 2008 sizes), walk_ref 2, l2_hit 7. */
void vl_test_profile(struct vl_profile *p);
void vl_test_profile_amd(struct vl_profile *p);
/* The value of U64 field pf (enum vl_pf) read through the
 * profile_fields.def table (an oracle independent of the machine's charge
 * sites); 0 for STR and BOOL fields. */
uint64_t vl_test_pf_value(const struct vl_profile *p, unsigned pf);
#endif
