/* output.c — a run result as JSON (DESIGN.md "The command line": those keys
 * are a contract, more may be added, none renamed), CSV, or a table for
 * people. Counters are the measured region only. */
#include <string.h>

#include "../analysis/an_util.h"
#include "cli.h"
#include "virtlab/counters.h"

int vl_cli_parse_format(const char *s, enum vl_fmt *f)
{
	static const char *const names[] = { "table", "json", "csv" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*f = (enum vl_fmt)i;
			return 0;
		}
	return -1;
}

void vl_cli_json_string(FILE *out, const char *s)
{
	an_json_str(out, s);   /* one JSON escaper for the CLI and analysis/ */
}

static void json_num(FILE *out, double v)
{
	an_json_num(out, v);   /* integers without a fraction, else the shortest exact form */
}


/* Exits, hypercalls and callouts (run.h vl_run_slot_kind), each reported
 * in its own section. */

/* The used slots of one kind as table rows under `header` (printed only
 * when one is used; callouts have no vendor code). Returns whether any was. */
static bool table_slots(FILE *out, const struct vl_run_result *r, enum vl_slot_kind kind, const char *header)
{
	const struct vl_counters *c = &r->ctr;
	bool any = false;
	for (size_t i = 0; i < r->exit_table_len && i < VL_MAX_EXIT_SLOTS; i++) {
		if (!c->exit_count[i] || vl_run_slot_kind(r, i) != kind)
			continue;
		if (!any)
			fputs(header, out);
		any = true;
		fprintf(out, "  %-28s ", r->exit_table[i].name);
		if (kind == VL_SLOT_CALLOUT)
			fprintf(out, "      ");
		else
			fprintf(out, "%6u", r->exit_table[i].code);
		fprintf(out, " %10llu %11llu %12.1f\n", (unsigned long long)c->exit_count[i],
			(unsigned long long)c->exit_cycles[i], (double)c->exit_cycles[i] / c->exit_count[i]);
	}
	return any;
}

/* The used slots of one kind as JSON members NAME:{[code,]count,cycles}. */
static void json_slots(FILE *out, const struct vl_run_result *r, enum vl_slot_kind kind, bool with_code)
{
	const struct vl_counters *c = &r->ctr;
	bool first = true;
	for (size_t i = 0; i < r->exit_table_len && i < VL_MAX_EXIT_SLOTS; i++) {
		if (!c->exit_count[i] || vl_run_slot_kind(r, i) != kind)
			continue;
		fprintf(out, "%s", first ? "" : ",");
		vl_cli_json_string(out, r->exit_table[i].name);
		if (with_code)
			fprintf(out, ":{\"code\":%u,", r->exit_table[i].code);
		else
			fputs(":{", out);
		fprintf(out, "\"count\":%llu,\"cycles\":%llu}", (unsigned long long)c->exit_count[i],
			(unsigned long long)c->exit_cycles[i]);
		first = false;
	}
}

/* ---- attribution: the measured region's cycles by the profile value that
 * priced them (counters.h field_cycles) and by that value's share class
 * (run.h pf_class). */
enum { PV_SOURCED, PV_DERIVED, PV_ESTIMATED, PV_SET, PV_UNPRICED, PV_UNKNOWN, PV_N };
static const char *const pv_name[PV_N] = { "sourced", "derived", "estimated", "set", "unpriced", "unknown" };

/* The share a slot's cycles count in: its value's class; unpriced for
 * VL_PF_NONE; unknown when the classes could not be had, or for a class
 * that is no share ("n/a", a value the profile leaves out). */
static int pv_bucket(const struct vl_run_result *r, unsigned pf)
{
	if (pf == VL_PF_NONE)
		return PV_UNPRICED;
	const char *c = r->pf_class[pf];
	for (int k = 0; c && k < PV_UNPRICED; k++)
		if (!strcmp(c, pv_name[k]))
			return k;
	return PV_UNKNOWN;
}

/* The class name a slot is printed with. */
static const char *pv_class(const struct vl_run_result *r, unsigned pf)
{
	if (pf == VL_PF_NONE)
		return "unpriced";
	const char *c = r->pf_class[pf];
	return !c ? "unknown" : !c[0] ? "absent" : c;
}

/* The slots with cycles, most cycles first (then in table order); returns how many. */
static size_t pv_sorted(const struct vl_counters *c, unsigned idx[VL_PF_SLOTS])
{
	size_t n = 0;
	for (unsigned pf = 0; pf < VL_PF_SLOTS; pf++) {
		if (!c->field_cycles[pf])
			continue;
		size_t k = n++;
		for (; k > 0 && c->field_cycles[idx[k - 1]] < c->field_cycles[pf]; k--)
			idx[k] = idx[k - 1];
		idx[k] = pf;
	}
	return n;
}

static void pv_shares(const struct vl_run_result *r, uint64_t share[PV_N])
{
	memset(share, 0, PV_N * sizeof share[0]);
	for (unsigned pf = 0; pf < VL_PF_SLOTS; pf++)
		share[pv_bucket(r, pf)] += r->ctr.field_cycles[pf];
}

static void json_attribution(FILE *out, const struct vl_run_result *r)
{
	unsigned idx[VL_PF_SLOTS];
	size_t n = pv_sorted(&r->ctr, idx);
	fprintf(out, ",\"profile_values\":{");
	for (size_t k = 0; k < n; k++) {
		fprintf(out, "%s", k ? "," : "");
		vl_cli_json_string(out, idx[k] == VL_PF_NONE ? "(none)" : vl_pf_key[idx[k]]);
		fprintf(out, ":{\"cycles\":%llu,\"class\":", (unsigned long long)r->ctr.field_cycles[idx[k]]);
		vl_cli_json_string(out, pv_class(r, idx[k]));
		fputc('}', out);
	}
	uint64_t share[PV_N];
	pv_shares(r, share);
	fprintf(out, "},\"provenance\":{");
	for (int k = 0; k < PV_N; k++)
		fprintf(out, "%s\"%s\":%llu", k ? "," : "", pv_name[k], (unsigned long long)share[k]);
	fputc('}', out);
}

/* One line of shares, and the values of the estimated share that weigh most. */
static void table_attribution(FILE *out, const struct vl_run_result *r)
{
	uint64_t share[PV_N], total = 0;
	pv_shares(r, share);
	for (int k = 0; k < PV_N; k++)
		total += share[k];
	if (!total)
		return;
	fprintf(out, "\ncost basis        ");
	bool first = true;
	for (int k = 0; k < PV_N; k++) {
		if (!share[k] && k != PV_SOURCED && k != PV_DERIVED && k != PV_ESTIMATED)
			continue;
		fprintf(out, "%s%.1f%% %s", first ? "" : ", ", 100.0 * share[k] / total, pv_name[k]);
		first = false;
	}
	fprintf(out, " (profile values' provenance)\n");
	unsigned idx[VL_PF_SLOTS];
	size_t n = pv_sorted(&r->ctr, idx), shown = 0;
	for (size_t k = 0; k < n && shown < 3; k++) {
		if (pv_bucket(r, idx[k]) != PV_ESTIMATED)
			continue;
		fprintf(out, "%s%s %.1f%%", shown ? ", " : "  top estimated   ", vl_pf_key[idx[k]],
			100.0 * r->ctr.field_cycles[idx[k]] / total);
		shown++;
	}
	if (shown)
		fputc('\n', out);
}

static void json_str_or_null(FILE *out, const char *s)
{
	if (s && *s)
		vl_cli_json_string(out, s);
	else
		fputs("null", out);
}

void vl_cli_json_result(FILE *out, const struct vl_run_result *r)
{
	const struct vl_counters *c = &r->ctr;
	fprintf(out, "{\"engine\":");      vl_cli_json_string(out, r->engine);
	fprintf(out, ",\"mmu\":");         vl_cli_json_string(out, r->mmu);
	fprintf(out, ",\"workload\":");    vl_cli_json_string(out, r->workload);
	fprintf(out, ",\"profile\":");     vl_cli_json_string(out, r->profile);
	fprintf(out, ",\"params\":");      vl_cli_json_string(out, r->params);
	fprintf(out, ",\"iterations\":%llu", (unsigned long long)r->iterations);
	fprintf(out, ",\"status\":");      vl_cli_json_string(out, vl_run_status_name[r->status]);
	fprintf(out, ",\"reason\":");      vl_cli_json_string(out, r->reason);
	fprintf(out, ",\"guest_exit\":%d", r->guest_exit);
	fprintf(out, ",\"console\":");     vl_cli_json_string(out, r->console ? r->console : "");
	fprintf(out, ",\"model\":%s", r->model ? "true" : "false");
	fprintf(out, ",\"measured\":%s", r->model ? "false" : "true");   /* a real row: samples, not model counters */
	fprintf(out, ",\"cycles_per_iter\":");
	if (r->status == VL_RUN_OK)
		json_num(out, r->cycles_per_iter);
	else
		fputs("null", out);   /* a run that stopped early has no per-iteration figure */
	fprintf(out, ",\"cycles\":{\"total\":%llu", (unsigned long long)vl_counters_total(c));
	for (int i = 0; i < VL_CAT_COUNT; i++)
		fprintf(out, ",\"%s\":%llu", vl_cat_name[i], (unsigned long long)c->cycles[i]);
	fprintf(out, "},\"exits\":{");
	json_slots(out, r, VL_SLOT_EXIT, true);
	fprintf(out, "},\"hypercalls\":{");
	json_slots(out, r, VL_SLOT_HYPERCALL, true);
	fprintf(out, "},\"callouts\":{");
	json_slots(out, r, VL_SLOT_CALLOUT, false);
	fprintf(out, "},\"events\":{");
	for (int i = 0; i < VL_EV_COUNT; i++)
		fprintf(out, "%s\"%s\":%llu", i ? "," : "", vl_event_name[i], (unsigned long long)c->events[i]);
	fprintf(out, "},\"guest_results\":[");
	for (int i = 0; i < r->nresults; i++) {
		const struct vl_guest_result *g = &r->results[i];
		fprintf(out, "%s{\"workload\":", i ? "," : "");
		vl_cli_json_string(out, g->workload);
		fprintf(out, ",\"iters\":%llu,\"cycles\":%llu", (unsigned long long)g->iters, (unsigned long long)g->cycles);
		for (int k = 0; k < g->nkv; k++) {
			fputc(',', out);
			vl_cli_json_string(out, g->key[k]);
			fputc(':', out);
			vl_cli_json_string(out, g->val[k]);
		}
		fputc('}', out);
	}
	fprintf(out, "],\"samples\":{");
	for (int i = 0; i < r->nsamples; i++) {
		const struct vl_sample_set *s = &r->samples[i];
		fprintf(out, "%s", i ? "," : "");
		vl_cli_json_string(out, s->metric);
		fprintf(out, ":{\"unit\":");
		vl_cli_json_string(out, s->unit);
		fprintf(out, ",\"values\":[");
		for (size_t k = 0; k < s->n; k++) {
			fprintf(out, "%s", k ? "," : "");
			json_num(out, s->v[k]);
		}
		fprintf(out, "]}");
	}
	fprintf(out, "}");
	if (!r->model) {
		/* real engines: each hardware counter asked for, counted or not and why */
		bool all = r->nhw > 0;
		for (int i = 0; i < r->nhw; i++)
			all &= r->hw[i].available;
		fprintf(out, ",\"counters\":{\"available\":%s,\"events\":{", all ? "true" : "false");
		for (int i = 0; i < r->nhw; i++) {
			fprintf(out, "%s", i ? "," : "");
			vl_cli_json_string(out, r->hw[i].name);
			fprintf(out, ":{\"available\":%s,\"reason\":", r->hw[i].available ? "true" : "false");
			vl_cli_json_string(out, r->hw[i].reason);
			fputc('}', out);
		}
		fprintf(out, "}}");
	} else {
		json_attribution(out, r);
	}
	fprintf(out, ",\"total\":{\"instructions\":%llu,\"cycles\":%llu}",
		(unsigned long long)r->total_insns, (unsigned long long)r->total_cycles);
	fprintf(out, ",\"host\":{\"seconds\":");
	json_num(out, r->host_seconds);
	fprintf(out, ",\"mips\":");
	json_num(out, r->host_mips);
	fprintf(out, "}");
	/* provenance: which cost model and guest produced the numbers */
	fprintf(out, ",\"profile_sha256\":");
	json_str_or_null(out, r->profile_sha256);
	fprintf(out, ",\"guest_sha256\":");
	json_str_or_null(out, r->guest_sha256);
	fprintf(out, ",\"profile_path\":");
	json_str_or_null(out, r->profile_path);
	fprintf(out, ",\"profile_commit\":");
	json_str_or_null(out, r->profile_commit);
	fprintf(out, ",\"profile_dirty\":%s}", r->profile_dirty < 0 ? "null" : r->profile_dirty ? "true" : "false");
}

void vl_cli_csv_header(FILE *out)
{
	fprintf(out, "engine,mmu,workload,profile,iterations,status,cycles_per_iter,cycles_total");
	for (int i = 0; i < VL_CAT_COUNT; i++)
		fprintf(out, ",cycles_%s", vl_cat_name[i]);
	for (int i = 0; i < VL_EV_COUNT; i++)
		fprintf(out, ",%s", vl_event_name[i]);
	fprintf(out, ",host_seconds,host_mips\n");
}

void vl_cli_csv_row(FILE *out, const struct vl_run_result *r)
{
	const struct vl_counters *c = &r->ctr;
	char cpi[48] = "";
	if (r->status == VL_RUN_OK)
		snprintf(cpi, sizeof cpi, "%.3f", r->cycles_per_iter);
	fprintf(out, "%s,%s,%s,%s,%llu,%s,%s,%llu", r->engine, r->mmu, r->workload, r->profile,
		(unsigned long long)r->iterations, vl_run_status_name[r->status], cpi,
		(unsigned long long)vl_counters_total(c));
	for (int i = 0; i < VL_CAT_COUNT; i++)
		fprintf(out, ",%llu", (unsigned long long)c->cycles[i]);
	for (int i = 0; i < VL_EV_COUNT; i++)
		fprintf(out, ",%llu", (unsigned long long)c->events[i]);
	fprintf(out, ",%.6f,%.3f\n", r->host_seconds, r->host_mips);
}

/* Which profile (its effective values' hash, the tree it came from) and
 * guest image produced the numbers above. */
static void table_provenance(FILE *out, const struct vl_run_result *r)
{
	if (r->profile_sha256[0]) {
		fprintf(out, "\nprofile           %s sha256 %.16s", r->profile, r->profile_sha256);
		if (r->profile_commit[0])
			fprintf(out, " (tree %.10s%s)", r->profile_commit, r->profile_dirty > 0 ? ", modified" : "");
		else
			fprintf(out, " (%s, not in a git tree)", r->profile_path);
		fputc('\n', out);
	}
	if (r->guest_sha256[0])
		fprintf(out, "guest image       sha256 %.16s\n", r->guest_sha256);
}

static void table_result(FILE *out, const struct vl_run_result *r)
{
	const struct vl_counters *c = &r->ctr;
	uint64_t total = vl_counters_total(c);
	fprintf(out, "%s / %s  workload %s  profile %s  iterations %llu%s%s\n", r->engine, r->mmu, r->workload,
		r->profile, (unsigned long long)r->iterations, r->params[0] ? "  params " : "", r->params);
	fprintf(out, "status            %s%s%s\n", vl_run_status_name[r->status], r->reason[0] ? ": " : "", r->reason);
	/* per-iteration figures only from a run that did all its iterations */
	bool whole = r->status == VL_RUN_OK && r->iterations;
	if (whole)
		fprintf(out, "cycles/iteration  %.1f\n", r->cycles_per_iter);
	else
		fprintf(out, "cycles/iteration  - (the run did not complete its %llu iterations: no per-iteration figure)\n",
			(unsigned long long)r->iterations);
	for (int i = 0; i < r->nresults; i++)
		fprintf(out, "guest RDTSC       %.1f cycles/iteration (%llu cycles over %llu iterations)\n",
			r->results[i].iters ? (double)r->results[i].cycles / r->results[i].iters : 0.0,
			(unsigned long long)r->results[i].cycles, (unsigned long long)r->results[i].iters);
	if (!r->model) {
		/* a real system: no model counters, only what was measured */
		for (int i = 0; i < r->nsamples; i++) {
			const struct vl_sample_set *s = &r->samples[i];
			double lo = 0, hi = 0, sum = 0;
			for (size_t k = 0; k < s->n; k++) {
				sum += s->v[k];
				if (!k || s->v[k] < lo) lo = s->v[k];
				if (!k || s->v[k] > hi) hi = s->v[k];
			}
			fprintf(out, "sample %-18s n=%zu  min %.1f  mean %.1f  max %.1f %s\n", s->metric, s->n, lo,
				s->n ? sum / s->n : 0.0, hi, s->unit);
		}
		for (int i = 0; i < r->nhw; i++)
			if (!r->hw[i].available)
				fprintf(out, "counter %-17s unavailable: %s\n", r->hw[i].name, r->hw[i].reason);
		fprintf(out, "\nhost              %.3f s (real execution: no model counters)\n", r->host_seconds);
		return;
	}
	fprintf(out, "\ncost breakdown (measured region)     cycles      %%   per iter\n");
	for (int i = 0; i < VL_CAT_COUNT; i++) {
		if (!c->cycles[i])
			continue;
		fprintf(out, "  %-12s %24llu %6.1f", vl_cat_name[i], (unsigned long long)c->cycles[i],
			total ? 100.0 * c->cycles[i] / total : 0.0);
		if (whole)
			fprintf(out, " %10.1f\n", (double)c->cycles[i] / r->iterations);
		else
			fprintf(out, " %10s\n", "-");
	}
	fprintf(out, "  %-12s %24llu\n", "total", (unsigned long long)total);
	table_attribution(out, r);
	table_slots(out, r, VL_SLOT_HYPERCALL, "\nhypercalls (measured region)     code      count      cycles  cycles/call\n");
	table_slots(out, r, VL_SLOT_CALLOUT, "\ncallouts (measured region)                   count      cycles  cycles/callout\n");
	bool any = table_slots(out, r, VL_SLOT_EXIT, "\nexits (measured region)          code      count      cycles  cycles/exit\n");
	if (!any)
		fprintf(out, "\nexits             none\n");
	fprintf(out, "\nevents (measured region, nonzero)\n");
	for (int i = 0; i < VL_EV_COUNT; i++) {
		if (!c->events[i])
			continue;
		fprintf(out, "  %-20s %16llu", vl_event_name[i], (unsigned long long)c->events[i]);
		if (whole)
			fprintf(out, " %12.2f/iter\n", (double)c->events[i] / r->iterations);
		else
			fputc('\n', out);
	}
	if (r->status != VL_RUN_OK && r->console && r->console[0]) {
		/* the last lines of the guest console tell why */
		const char *start = r->console + strlen(r->console);
		for (int lines = 0; start > r->console && lines <= 10; )
			if (*--start == '\n' && start[1] != '\0')
				lines++;
		fprintf(out, "\nguest console (last lines)\n%s%s", start == r->console ? "" : "  ...\n", start + (*start == '\n'));
		if (r->console[strlen(r->console) - 1] != '\n')
			fputc('\n', out);
	}
	table_provenance(out, r);
	if (r->model)
		fprintf(out, "\nhost              %.3f s, %.1f MIPS (%llu instructions, %llu cycles in all regions)\n",
			r->host_seconds, r->host_mips, (unsigned long long)r->total_insns,
			(unsigned long long)r->total_cycles);
	else
		fprintf(out, "\nhost              %.3f s\n", r->host_seconds);
}

void vl_cli_print_result(FILE *out, const struct vl_run_result *r, enum vl_fmt f)
{
	switch (f) {
	case VL_FMT_JSON:
		vl_cli_json_result(out, r);
		fputc('\n', out);
		break;
	case VL_FMT_CSV:
		vl_cli_csv_header(out);
		vl_cli_csv_row(out, r);
		break;
	case VL_FMT_TABLE:
		table_result(out, r);
		break;
	}
}
