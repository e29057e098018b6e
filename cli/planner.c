/* planner.c — the one planner: which (engine, mmu) configurations and
 * which workloads a selection means on a profile. `matrix` runs them (and
 * lists the skipped ones with why), `plan` prints them as commands,
 * `advise` expects them as candidates, `sweep` runs them at each value, and
 * `make paper` asks `plan` — so what one of them calls "every
 * configuration" is what all of them call it. Generic over the registries:
 * every engine of vl_engines[] and every mmu of its mmu_mask, each kept or
 * skipped by the engine's own check() on the profile and by whether this
 * build has the mmu. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "virtlab/analysis.h"
#include "virtlab/engine.h"
#include "virtlab/mmu.h"
#include "virtlab/profile.h"

/* Model engines a plain selection leaves out: trap is the Popek-Goldberg
 * counterexample (it fails `sensitive` by design); it runs when named. */
static const char *const plan_engines_named_only[] = { "trap" };
/* Workloads a plain selection leaves out: selftest checks the guest, it
 * measures nothing; a sweep also leaves out sensitive (a correctness
 * check, whose cost no profile value moves meaningfully). */
static const char *const plan_work_not_default[] = { "selftest" };
static const char *const plan_work_not_swept[] = { "sensitive" };

static bool plan_in(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, l[i]))
			return true;
	return false;
}

bool vl_cli_plan_default_workload(const char *name, bool sweep)
{
	if (plan_in(name, plan_work_not_default, sizeof plan_work_not_default / sizeof plan_work_not_default[0]))
		return false;
	return !sweep || !plan_in(name, plan_work_not_swept, sizeof plan_work_not_swept / sizeof plan_work_not_swept[0]);
}

/* Does the selection name (engine, mmu): an entry "engine", or "engine/mmu"? */
static bool plan_selected(const char *engine, const char *mmu, const char *const *sel, size_t nsel)
{
	size_t el = strlen(engine);
	for (size_t i = 0; i < nsel; i++) {
		if (!strcmp(sel[i], engine))
			return true;
		if (!strncmp(sel[i], engine, el) && sel[i][el] == '/' && !strcmp(sel[i] + el + 1, mmu))
			return true;
	}
	return false;
}

static bool plan_engine_named(const char *engine, const char *const *sel, size_t nsel)
{
	size_t el = strlen(engine);
	for (size_t i = 0; i < nsel; i++)
		if (!strncmp(sel[i], engine, el) && (sel[i][el] == '\0' || sel[i][el] == '/'))
			return true;
	return false;
}

int vl_cli_plan_configs(const struct vl_profile *prof, const char *const *sel, size_t nsel, const char *const *mmus,
			size_t nmmu, bool model_only, struct vl_cli_conf **out, size_t *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	struct vl_cli_conf *c = calloc(vl_engine_count * VL_MMU_COUNT + 1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t e = 0; e < vl_engine_count; e++) {
		const struct vl_engine_ops *eng = vl_engines[e];
		bool external = eng->run_external != NULL;
		if (external && model_only)
			continue;   /* real measurements: no cost categories, no shards */
		if (nsel ? !plan_engine_named(eng->name, sel, nsel) : external)
			continue;
		bool named_only = !nsel && plan_in(eng->name, plan_engines_named_only,
						   sizeof plan_engines_named_only / sizeof plan_engines_named_only[0]);
		for (int k = 0; k < VL_MMU_COUNT; k++) {
			if (!(eng->mmu_mask & VL_MMU_BIT(k)))
				continue;
			const char *mname = vl_mmu_name((enum vl_mmu_kind)k);
			if (nsel && !external && !plan_selected(eng->name, mname, sel, nsel))
				continue;
			if (nmmu && !external && !plan_in(mname, mmus, nmmu))
				continue;
			struct vl_cli_conf *x = &c[*n];
			snprintf(x->engine, sizeof x->engine, "%s", eng->name);
			snprintf(x->mmu, sizeof x->mmu, "%s", mname);
			x->external = external;
			x->skip[0] = '\0';
			if (named_only) {
				snprintf(x->skip, sizeof x->skip, "runs only when named (--engines %s)", eng->name);
			} else if (eng->check && eng->check(prof, (enum vl_mmu_kind)k, x->skip, sizeof x->skip)) {
				if (!x->skip[0])
					snprintf(x->skip, sizeof x->skip, "refused on profile %s", prof->cpu_name);
			} else if (!external && k != VL_MMU_NONE) {
				bool built = false;
				for (size_t m = 0; m < vl_mmu_count; m++)
					built |= vl_mmus[m]->kind == (enum vl_mmu_kind)k;
				if (!built)
					snprintf(x->skip, sizeof x->skip, "mmu %s is not built into this virtlab", mname);
			}
			(*n)++;
		}
	}
	*out = c;
	return 0;
}

int vl_cli_expected_configs(const char *profile, const char *const *sel, size_t nsel, const char *const *mmus,
			    size_t nmmu, struct vl_adv_conf **out, size_t *n, char *err, size_t errlen)
{
	struct vl_profile prof;
	*out = NULL;
	*n = 0;
	if (vl_profile_load(profile, &prof, err, errlen))
		return -1;
	struct vl_cli_conf *all = NULL;
	size_t nall = 0;
	if (vl_cli_plan_configs(&prof, sel, nsel, mmus, nmmu, true, &all, &nall, err, errlen))
		return -1;
	struct vl_adv_conf *c = calloc(nall + 1, sizeof *c);
	if (!c) {
		free(all);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nall; i++) {
		if (all[i].skip[0])
			continue;
		snprintf(c[*n].engine, sizeof c[*n].engine, "%s", all[i].engine);
		snprintf(c[*n].mmu, sizeof c[*n].mmu, "%s", all[i].mmu);
		(*n)++;
	}
	free(all);
	*out = c;
	return 0;
}
