/* profile.h — a CPU generation's primitive costs and features.
 *
 * Loaded from profiles/<name>.ini with inih. The struct is generated from
 * profile_fields.def, so the loader, validation ("missing value") and the
 * `list profiles` output all come from one table. No engine holds a cycle
 * literal: every cost comes from here.
 */
#ifndef VIRTLAB_PROFILE_H
#define VIRTLAB_PROFILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define VL_PROFILE_STR_MAX 96

struct vl_profile {
#define F_STR(s, k)  char s##_##k[VL_PROFILE_STR_MAX];
#define F_BOOL(s, k) bool s##_##k;
#define F_U64(s, k)  uint64_t s##_##k;
#define F(s, k, kind, need, doc) F_##kind(s, k)
#include "virtlab/profile_fields.def"
#undef F
#undef F_STR
#undef F_BOOL
#undef F_U64
	char path[512];          /* file it came from */
};

/* One index per profile_fields.def line, in table order (the order of
 * vl_profile_describe's values): VL_PF_<section>_<key>. */
enum vl_pf {
#define F(s, k, kind, need, doc) VL_PF_##s##_##k,
#include "virtlab/profile_fields.def"
#undef F
	VL_PF_COUNT
};
/* "section.key" of each field. */
extern const char *const vl_pf_key[VL_PF_COUNT];

/* A U64 field with no line in profile_ranges.def is a cycle cost in
 * [0, VL_PROFILE_COST_MAX]. 10^6 cycles is far above any primitive (the
 * largest, a Pentium 4 VM entry, is 2409), and it keeps sums safe: one modelled
 * event charges a sum of fewer than 100 values (< 10^8), so a 64-bit cycle
 * counter needs more than 10^11 such events to wrap. */
#define VL_PROFILE_COST_MAX 1000000ull

/* Provenance of one value (profiles/README.md): the tag of its line. */
enum vl_prov { VL_PROV_SOURCE, VL_PROV_DERIVED, VL_PROV_ESTIMATE, VL_PROV_UNUSED };
/* VL_PROV_UNUSED (`; unused: why`): a value the model does not read in this
 * profile (the loader accepts it only where it checks that: tlb.l2_ways with
 * tlb.l2_entries = 0); its class is "n/a" and it is left out of the shares. */

/* One field of a loaded profile, for `show profile` and `list profiles
 * --sources`. */
struct vl_profile_value {
	const char *section, *key, *doc;
	bool present;                /* false: a VMX/SVM/EPT/NPT field the profile omits */
	char value[VL_PROFILE_STR_MAX]; /* as loaded; a derived value is the computed number */
	enum vl_prov prov;           /* the line's tag */
	bool on_estimate;            /* derived, but some input is (transitively) an estimate */
	char expr[192];              /* derived: the rule expression */
	char note[512];              /* the text after the tag */
	bool ranged;                 /* numeric: min/max below apply */
	uint64_t min, max;
};

/* The share class a value counts in: sourced, derived (from sourced or
 * derived inputs only) or estimated (an estimate, or derived from one); "n/a"
 * for an unused value, which counts in no share. */
const char *vl_profile_class(const struct vl_profile_value *v);

/* The share class of every field of a loaded profile, for attributing a
 * run's cycles (counters.h field_cycles): cls[i] is vl_profile_class() of
 * field i as the profile's file (p->path) tags it; "set" where p's value
 * differs from the file's (a sweep's or a test's value: no provenance);
 * "" for a field the profile leaves out. 0, or -1 with a one-line reason
 * (the file can no longer be read). The strings are static. */
int vl_profile_classes(const struct vl_profile *p, const char *cls[VL_PF_COUNT], char *err, size_t errlen);

/* Directory holding the shipped profiles: $VIRTLAB_PROFILES, else "profiles"
 * relative to the executable's source tree (see machine/profile.c). */
const char *vl_profile_dir(void);

/* The profile used when --profile is not given. */
#define VL_DEFAULT_PROFILE "zen4"

/* Load profile `name` (a name looked up in vl_profile_dir(), or a path
 * ending in .ini). Returns 0, or -1 with a one-line reason in err. */
int vl_profile_load(const char *name, struct vl_profile *p, char *err, size_t errlen);

/* Load like vl_profile_load and describe every field of profile_fields.def,
 * in table order: *vals is malloc'ed (*n entries), free() it. */
int vl_profile_describe(const char *name, struct vl_profile *p, struct vl_profile_value **vals, size_t *n,
			char *err, size_t errlen);

/* The derivation rules a `derived:` value may call, for help texts:
 * vl_profile_rule(i) for i < vl_profile_nrules(), "NAME(ARGS): meaning". */
size_t vl_profile_nrules(void);
const char *vl_profile_rule(size_t i);

/* List profile names (sorted). Returns count; *names is malloc'ed, free
 * with vl_profile_list_free. */
size_t vl_profile_list(char ***names);
void vl_profile_list_free(char **names, size_t n);

/* The profile's effective values as canonical, loadable .ini text (every
 * field its features need, profile_fields.def order; no comments). What a
 * stored run's profile_sha256 hashes. malloc'ed, or NULL (out of memory). */
char *vl_profile_text(const struct vl_profile *p);

#endif
