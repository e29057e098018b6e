/* profile_text.c — a loaded profile as canonical text: the complete set of
 * values a run used, one "key = value" line per field under its [section],
 * in profile_fields.def order. The text is itself a loadable profile
 * (`run --profile saved.ini`), its SHA-256 names the cost model a stored
 * run was made with, and two texts diff field by field (analysis/compare.c).
 * Sources, formulas, file layout and references to other profiles are not
 * part of it: only the values the model read (each line's source: a run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtlab/profile.h"

static int pt_needed(const struct vl_profile *p, const char *need)
{
	if (!strcmp(need, "VMX")) return p->features_vmx;
	if (!strcmp(need, "SVM")) return p->features_svm;
	if (!strcmp(need, "EPT")) return p->features_ept;
	if (!strcmp(need, "NPT")) return p->features_npt;
	return 1;   /* ALWAYS */
}

static void pt_section(FILE *f, char *cur, size_t n, const char *sec)
{
	if (!strcmp(cur, sec))
		return;
	fprintf(f, "%s[%s]\n", cur[0] ? "\n" : "", sec);
	snprintf(cur, n, "%s", sec);
}

char *vl_profile_text(const struct vl_profile *p)
{
	char *buf = NULL, cur[64] = "";
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
/* every line says where its value came from (the loader asks each value
 * for its provenance): a run that used it, as stored in the database */
#define PT_WHY " ; source: the effective value of a stored virtlab run (profile_version)\n"
#define PT_STR(s, k)  fprintf(f, "%s = %s" PT_WHY, #k, p->s##_##k);
#define PT_BOOL(s, k) fprintf(f, "%s = %d" PT_WHY, #k, p->s##_##k ? 1 : 0);
#define PT_U64(s, k)  fprintf(f, "%s = %llu" PT_WHY, #k, (unsigned long long)p->s##_##k);
#define F(s, k, kind, need, ...)                          \
	if (pt_needed(p, #need)) {                        \
		pt_section(f, cur, sizeof cur, #s);       \
		PT_##kind(s, k)                           \
	}
#include "virtlab/profile_fields.def"
#undef F
#undef PT_STR
#undef PT_BOOL
#undef PT_U64
#undef PT_WHY
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
