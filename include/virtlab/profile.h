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

/* Directory holding the shipped profiles: $VIRTLAB_PROFILES, else "profiles"
 * relative to the executable's source tree (see machine/profile.c). */
const char *vl_profile_dir(void);

/* The profile used when --profile is not given. */
#define VL_DEFAULT_PROFILE "zen4"

/* Load profile `name` (a name looked up in vl_profile_dir(), or a path
 * ending in .ini). Returns 0, or -1 with a one-line reason in err. */
int vl_profile_load(const char *name, struct vl_profile *p, char *err, size_t errlen);

/* List profile names (sorted). Returns count; *names is malloc'ed, free
 * with vl_profile_list_free. */
size_t vl_profile_list(char ***names);
void vl_profile_list_free(char **names, size_t n);

/* The profile's effective values as canonical, loadable .ini text (every
 * field its features need, profile_fields.def order; no comments). What a
 * stored run's profile_sha256 hashes. malloc'ed, or NULL (out of memory). */
char *vl_profile_text(const struct vl_profile *p);

#endif
