/* depends.c — which profile values a report result depends on most: each
 * cost category's share of the run's cycles (from the database), mapped to
 * the profile fields charged in that category (include/virtlab/cost_fields.def).
 * The model is a sum of (count x profile value) per category, so a category's
 * share is the share of the result that moves with its fields. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/engine.h"
#include "virtlab/analysis.h"
#include "virtlab/results.h"

const struct vl_cost_fields vl_cost_fields[] = {
#define CF(cat, fields, doc) { #cat, fields, doc },
#include "virtlab/cost_fields.def"
#undef CF
};
const size_t vl_cost_fields_count = sizeof vl_cost_fields / sizeof vl_cost_fields[0];

#define DEP_MIN_SHARE 0.01   /* categories below 1% of a cell's cycles are left out */
#define DEP_MAX_EXITS 3      /* exit reasons named per cell */

const char *vl_cost_fields_of(const char *category)
{
	for (size_t i = 0; i < vl_cost_fields_count; i++)
		if (!strcmp(vl_cost_fields[i].category, category))
			return vl_cost_fields[i].fields;
	return NULL;
}

/* The VMM handler value an exit reason charges besides vmm.exit_dispatch,
 * by a word of the exit's name; first match wins, so the more specific
 * words come first. Two sets of names:
 * - hardware assist (vtx, svm): the vendor's exit names (SDM, APM), each
 *   exit handled by the VMM's handler for that reason (engines/hv);
 * - the software VMMs (bt's TRAP_* slots, pv, trap — any engine but vtx and
 *   svm): each entry is a trap into the VMM (vl_vcpu_charge_trap:
 *   vmm.exit_dispatch), then the vCPU runtime: a user SYSCALL is only
 *   redirected to the guest kernel (the dispatch is all), exceptions and
 *   INT n are delivered through the guest IDT (vmm.exception), interrupts
 *   vmm.intr, a #GP of a privileged instruction is decoded and emulated
 *   (vmm.emulate, then that instruction's handler; pv's paravirtual guest
 *   is not decoded: the handler only). Their other names (pv's CPUID) fall
 *   back to the hardware words.
 * engines/bt, engines/pv and engines/trap READMEs ("Costs") say the same. */
enum { DEP_HW = 1, DEP_SW = 2, DEP_ANY = 3 };
/* Hardware assist (the registry's hw_assist: vtx, svm) or a software VMM
 * (bt, pv, trap, any other). */
static int dep_engine_class(const char *engine)
{
	const struct vl_engine_ops *e = vl_engine_find(engine);
	return e && e->hw_assist ? DEP_HW : DEP_SW;
}
static const struct { int who; const char *word, *fields; } dep_exit_fields[] = {
	{ DEP_SW, "mmu_update", "mmu.direct_update, mmu.direct_validate" },
	{ DEP_SW, "mmuext_op", "mmu.direct_ext, mmu.direct_validate" },
	{ DEP_SW, "multicall", "mmu.direct_update, mmu.direct_ext, mmu.direct_validate" },
	{ DEP_SW, "REFLECTED", "vmm.exception" },
	{ DEP_SW, "GP_CR", "vmm.emulate, vmm.cr, mmu.shadow_cr3" }, { DEP_SW, "GP_IO", "vmm.emulate, vmm.io" },
	{ DEP_SW, "GP_MSR", "vmm.emulate, vmm.msr" }, { DEP_SW, "GP_HLT", "vmm.emulate, vmm.hlt" },
	{ DEP_SW, "GP_INVLPG", "vmm.emulate, vmm.invlpg, mmu.shadow_invlpg" }, { DEP_SW, "GP_PRIV", "vmm.*" },
	{ DEP_SW, "GP_", "vmm.emulate" },
	{ DEP_SW, "SYSCALL", "vmm.exit_dispatch" }, { DEP_SW, "PAGE_FAULT", "vmm.exception, mmu.*" },
	{ DEP_SW, "INT_N", "vmm.exception" }, { DEP_SW, "EXCEPTION", "vmm.exception" },
	{ DEP_SW, "INTERRUPT", "vmm.intr" },
	{ DEP_ANY, "EPT_VIOLATION", "mmu.nested_fault, mmu.nested_alloc" }, { DEP_ANY, "NPF", "mmu.nested_fault, mmu.nested_alloc" },
	{ DEP_ANY, "EXCP_PF", "vmm.exception, mmu.shadow_*" }, { DEP_ANY, "EXCEPTION", "vmm.exception, mmu.shadow_*" },
	{ DEP_ANY, "CPUID", "vmm.cpuid" }, { DEP_ANY, "MSR", "vmm.msr" }, { DEP_ANY, "IOIO", "vmm.io" },
	{ DEP_ANY, "IO_INSTRUCTION", "vmm.io" }, { DEP_ANY, "INVLPG", "vmm.invlpg, mmu.shadow_invlpg" },
	{ DEP_ANY, "CR", "vmm.cr, mmu.shadow_cr3" }, { DEP_ANY, "HLT", "vmm.hlt" }, { DEP_ANY, "INTR", "vmm.intr" },
	{ DEP_ANY, "INTERRUPT", "vmm.intr" }, { DEP_ANY, "VMCALL", "vmm.vmcall" }, { DEP_ANY, "VMMCALL", "vmm.vmcall" },
};

const char *vl_dep_exit_handler(const char *engine, const char *reason)
{
	int who = dep_engine_class(engine);
	for (size_t i = 0; i < sizeof dep_exit_fields / sizeof dep_exit_fields[0]; i++)
		if ((dep_exit_fields[i].who & who) && strstr(reason, dep_exit_fields[i].word))
			return dep_exit_fields[i].fields;
	return "vmm.emulate";
}

/* Which fields of a category a run's engine can be charged, as a table:
 * a field (prefix) listed here applies only to the engines the row names
 * — the other vendor's hardware section never, and in `exit` the software
 * VMMs' trap (exception.delivery / insn.syscall + insn.iret,
 * vl_vcpu_charge_trap) never for vtx/svm, whose exit is the hardware's
 * VM exit and entry alone (engines/vtx, engines/svm "Costs"). */
static const struct { const char *category, *prefix; int who; const char *engine; } dep_field_rules[] = {
	{ NULL, "vmx.", DEP_HW, "vtx" },
	{ NULL, "svm.", DEP_HW, "svm" },
	{ "exit", "exception.delivery", DEP_SW, NULL },
	{ "exit", "insn.", DEP_SW, NULL },
};

/* The fields of category (a cost_fields.def line) that engine's runs can
 * be charged (dep_field_rules), into buf. */
static const char *dep_fields_for(const char *fields, const char *category, const char *engine, char *buf, size_t n)
{
	size_t o = 0;
	int who = dep_engine_class(engine);
	buf[0] = '\0';
	for (const char *p = fields; p && *p;) {
		const char *end = strstr(p, ", ");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool skip = false;
		for (size_t r = 0; r < sizeof dep_field_rules / sizeof dep_field_rules[0]; r++)
			if ((!dep_field_rules[r].category || !strcmp(dep_field_rules[r].category, category)) &&
			    !strncmp(p, dep_field_rules[r].prefix, strlen(dep_field_rules[r].prefix)))
				skip |= !(dep_field_rules[r].who & who) ||
					(dep_field_rules[r].engine && strcmp(dep_field_rules[r].engine, engine));
		if (!skip && o + len + 3 < n) {
			o += (size_t)snprintf(buf + o, n - o, "%s%.*s", o ? ", " : "", (int)len, p);
		}
		p = end ? end + 2 : NULL;
	}
	return buf;
}

struct dep_cat { const char *name; double cycles; };
struct dep_exit { const char *name; double count; };

static int dep_cat_cmp(const void *a, const void *b)
{
	const struct dep_cat *x = a, *y = b;
	return x->cycles < y->cycles ? 1 : x->cycles > y->cycles ? -1 : strcmp(x->name, y->name);
}

static int dep_exit_cmp(const void *a, const void *b)
{
	const struct dep_exit *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->name, y->name);
}

/* One cell: its categories (largest first, >= DEP_MIN_SHARE) and top exits;
 * with exact per-value cycles (b->exact), the values themselves instead of
 * the categories' field lists. */
#define DEP_MAX_VALUES 8     /* values named per cell (text) */
static void dep_cell(FILE *out, const char *work, const struct vl_rep_config *cf, int64_t run_id,
		     const struct vl_db_metric *m, size_t n, const struct vl_basis *b, enum vl_an_format f, bool first)
{
	const char *conf = cf->name;
	char fb[256];
	struct dep_cat cat[16];
	struct dep_exit ex[DEP_MAX_EXITS + 1], co[DEP_MAX_EXITS + 1], hc[DEP_MAX_EXITS + 1];
	size_t ncat = 0, nex = 0, nco = 0, nhc = 0;
	double total = 0, cpi = NAN;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(m[i].kind, "cycles") && ncat < sizeof cat / sizeof cat[0] && m[i].value > 0) {
			cat[ncat++] = (struct dep_cat){ m[i].name, m[i].value };
			total += m[i].value;
		} else if (!strcmp(m[i].kind, "cycles_per_iter")) {
			cpi = m[i].value;
		}
	}
	/* the most frequent VMM entries of each kind (bt's callouts and pv's
	 * hypercalls apart from exits, as stored) */
	struct dep_exit *tops[AN_NENTRY_KIND] = { ex, co, hc };
	size_t *ntops[AN_NENTRY_KIND] = { &nex, &nco, &nhc };
	for (size_t i = 0; i < n; i++) {
		int k = an_entry_kind_of(m[i].kind);
		if (m[i].value <= 0 || k < 0)
			continue;
		struct dep_exit *to = tops[k];
		size_t *nto = ntops[k];
		to[*nto < DEP_MAX_EXITS ? (*nto)++ : DEP_MAX_EXITS] = (struct dep_exit){ m[i].name, m[i].value };
		qsort(to, *nto, sizeof to[0], dep_exit_cmp);   /* keep the largest DEP_MAX_EXITS */
	}
	qsort(cat, ncat, sizeof cat[0], dep_cat_cmp);
	/* iterations of the measured region: total cycles / cycles per iteration */
	double iters = isfinite(cpi) && cpi > 0 ? total / cpi : NAN;
	if (f == VL_AN_JSON) {
		fprintf(out, "%s\n  {\"workload\": ", first ? "" : ",");
		an_json_str(out, work);
		fputs(", \"config\": ", out);
		an_json_str(out, conf);
		fprintf(out, ", \"run_id\": %lld, \"attribution\": \"%s\", \"values\": [", (long long)run_id,
			b->exact ? "exact" : "category");
		for (size_t i = 0; b->exact && i < b->nv; i++) {
			fprintf(out, "%s{\"field\": ", i ? ", " : "");
			an_json_str(out, b->v[i].field);
			fputs(", \"class\": ", out);
			an_json_str(out, b->v[i].cls);
			fputs(", \"cycles\": ", out);
			an_json_num(out, b->v[i].cycles);
			fprintf(out, ", \"share\": %.6f}", b->v[i].cycles / b->total);
		}
		fputs("], \"categories\": [", out);
		for (size_t i = 0; i < ncat; i++) {
			fprintf(out, "%s{\"category\": \"%s\", \"share\": %.6f, \"fields\": ", i ? ", " : "", cat[i].name,
				cat[i].cycles / total);
			const char *fl = vl_cost_fields_of(cat[i].name);
			an_json_str(out, fl ? dep_fields_for(fl, cat[i].name, cf->engine, fb, sizeof fb) : "");
			fputc('}', out);
		}
		fputs("], \"exits\": [", out);
		for (size_t i = 0; i < nex; i++) {
			fprintf(out, "%s{\"reason\": ", i ? ", " : "");
			an_json_str(out, ex[i].name);
			fprintf(out, ", \"count\": %.0f, \"handler\": ", ex[i].count);
			an_json_str(out, vl_dep_exit_handler(cf->engine, ex[i].name));
			fputc('}', out);
		}
		fputs("], \"callouts\": [", out);
		for (size_t i = 0; i < nco; i++) {
			fprintf(out, "%s{\"name\": ", i ? ", " : "");
			an_json_str(out, co[i].name);
			fprintf(out, ", \"count\": %.0f}", co[i].count);
		}
		fputs("], \"hypercalls\": [", out);
		for (size_t i = 0; i < nhc; i++) {
			fprintf(out, "%s{\"name\": ", i ? ", " : "");
			an_json_str(out, hc[i].name);
			fprintf(out, ", \"count\": %.0f}", hc[i].count);
		}
		fputs("]}", out);
		return;
	}
	fprintf(out, "%-10s %-14s", work, conf);
	bool any = false;
	if (b->exact) {
		fputs(" by value:", out);
		for (size_t i = 0, k = 0; i < b->nv && k < DEP_MAX_VALUES; i++) {
			double share = b->v[i].cycles / b->total;
			if (share < DEP_MIN_SHARE)
				continue;
			fprintf(out, "%s%s %.1f%% (%s)", k++ ? "; " : " ", b->v[i].field, 100 * share, b->v[i].cls);
			any = true;
		}
		ncat = 0;   /* the categories' field lists are the approximation the values replace */
	} else if (b->nv && b->total > 0) {
		fprintf(out, " by category (values stored cover %.1f%%):", 100 * (1 - b->cycles[VL_BASIS_UNATTRIBUTED] / b->total));
	} else {
		fputs(" by category:", out);
	}
	for (size_t i = 0; i < ncat; i++) {
		double share = cat[i].cycles / total;
		if (share < DEP_MIN_SHARE)
			continue;
		const char *fl = vl_cost_fields_of(cat[i].name);
		fprintf(out, "%s%s %.1f%% [%s]", any ? "; " : " ", cat[i].name, 100 * share,
			fl ? dep_fields_for(fl, cat[i].name, cf->engine, fb, sizeof fb) : "?");
		any = true;
	}
	if (!any)
		fputs(" (no cycles recorded)", out);
	for (size_t i = 0; i < nex; i++)
		if (isfinite(iters) && iters > 0)
			fprintf(out, "%s%s %.2f [%s]", i ? ", " : "; exits/iter: ", ex[i].name, ex[i].count / iters,
				vl_dep_exit_handler(cf->engine, ex[i].name));
		else
			fprintf(out, "%s%s %.0f [%s]", i ? ", " : "; exits: ", ex[i].name, ex[i].count,
				vl_dep_exit_handler(cf->engine, ex[i].name));
	/* callouts and hypercalls: counted apart, their costs are in the
	 * translate (bt.*) and hypercall (pv.*) categories above */
	const struct { const char *what; const struct dep_exit *e; size_t n; } more[] = {
		{ "callouts", co, nco }, { "hypercalls", hc, nhc },
	};
	for (size_t k = 0; k < 2; k++)
		for (size_t i = 0; i < more[k].n; i++) {
			bool per = isfinite(iters) && iters > 0;
			fprintf(out, "%s", i ? ", " : "; ");
			if (!i)
				fprintf(out, "%s%s: ", more[k].what, per ? "/iter" : "");
			fprintf(out, per ? "%s %.2f" : "%s %.0f", more[k].e[i].name,
				per ? more[k].e[i].count / iters : more[k].e[i].count);
		}
	fputc('\n', out);
}

int vl_rep_depends_print(FILE *out, struct vl_db *db, const struct vl_rep_table *t, enum vl_an_format f, char *err,
			 size_t errlen)
{
	if (f == VL_AN_JSON)
	{
		fputs("{\"profile\": ", out);
		an_json_str(out, t->profile);
		fputs(", \"depends\": [", out);
	}
	else
		fprintf(out, "\nProfile values behind each result (profile %s): share of the cell's modelled cycles\n"
			     "by value: on each profile value (its class), exact, from the per-value cycles the run stored;\n"
			     "by category: by cost category [the profile fields charged there], for a run stored without\n"
			     "them (or whose stored values do not cover every cycle). Shares under 1%% left out.\n", t->profile);
	bool first = true;
	for (size_t w = 0; w < t->nwork; w++) {
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (!cell->present || !t->conf[c].model || strcmp(cell->status, "ok"))
				continue;
			struct vl_db_metric *m = NULL;
			size_t n = 0;
			if (vl_db_query_metrics(db, cell->run_id, &m, &n, err, errlen))
				return -1;
			struct vl_basis b;
			if (vl_basis_read(db, cell->run_id, &b, err, errlen)) {
				free(m);
				return -1;
			}
			dep_cell(out, t->work[w], &t->conf[c], cell->run_id, m, n, &b, f, first);
			first = false;
			vl_basis_free(&b);
			free(m);
		}
	}
	if (f == VL_AN_JSON)
		fputs("]}\n", out);
	return 0;
}
