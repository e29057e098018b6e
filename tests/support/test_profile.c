/* test_profile.c — a struct vl_profile built in code for unit tests. */
#include <string.h>

#include "test_profile.h"

void vl_test_profile(struct vl_profile *p)
{
	memset(p, 0, sizeof(*p));
	/* Every U64 field gets a small distinct nonzero value first, so a
	 * forgotten field is never silently 0; then the ones tests reason
	 * about are set explicitly. */
	{
		uint64_t v = 3;
#define F_STR(s, k)
#define F_BOOL(s, k) p->s##_##k = true;
#define F_U64(s, k) p->s##_##k = v++;
#define F(s, k, kind, need, doc) F_##kind(s, k)
#include "virtlab/profile_fields.def"
#undef F
#undef F_STR
#undef F_BOOL
#undef F_U64
	}
	strcpy(p->cpu_name, "test");
	strcpy(p->cpu_model, "virtlab test CPU");
	strcpy(p->cpu_vendor, "intel");
	p->cpu_year = 2020;
	p->cpu_mhz = 3000;
	p->tlb_l1i_entries = 32;
	p->tlb_l1i_ways = 4;
	p->tlb_l1d_entries = 64;
	p->tlb_l1d_ways = 4;
	p->tlb_l2_entries = 512;
	p->tlb_l2_ways = 4;
	p->tlb_l2_hit = 7;
	p->tlb_walk_ref = 2;
	p->tlb_pwc_entries = 24;
	p->tlb_ntlb_entries = 16;
	strcpy(p->path, "<tests/support/test_profile.c>");
}

void vl_test_profile_amd(struct vl_profile *p)
{
	vl_test_profile(p);
	strcpy(p->cpu_vendor, "amd");
	p->cpu_year = 2022;
	p->features_vmx = false;
	p->features_ept = false;
	p->features_vpid = false;
}

uint64_t vl_test_pf_value(const struct vl_profile *p, unsigned pf)
{
	switch (pf) {
#define F_U64(s, k) case VL_PF_##s##_##k: return p->s##_##k;
#define F_STR(s, k)
#define F_BOOL(s, k)
#define F(s, k, kind, need, doc) F_##kind(s, k)
#include "virtlab/profile_fields.def"
#undef F
#undef F_U64
#undef F_STR
#undef F_BOOL
	default:
		return 0;
	}
}
