/* report.c — the comparison table in the style of Adams & Agesen 2006:
 * a row per workload, a column per configuration (native first, then each
 * engine+MMU), cycles per iteration and the ratio to native; as text, CSV,
 * JSON or Markdown. Reads only the database (one run of each configuration
 * in the selection: see vl_rep_build in analysis.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"
#include "virtlab/profile.h"
#include "virtlab/run.h"

static int rep_find_conf(const struct vl_rep_table *t, const char *engine, const char *mmu)
{
	for (size_t i = 0; i < t->nconf; i++)
		if (!strcmp(t->conf[i].engine, engine) && !strcmp(t->conf[i].mmu, mmu))
			return (int)i;
	return -1;
}

static int rep_find_work(const struct vl_rep_table *t, const char *w)
{
	for (size_t i = 0; i < t->nwork; i++)
		if (!strcmp(t->work[i], w))
			return (int)i;
	return -1;
}

static int rep_conf_cmp(const void *a, const void *b)
{
	const struct vl_rep_config *x = a, *y = b;
	return vl_an_config_cmp(x->engine, x->mmu, y->engine, y->mmu);
}

static int rep_work_cmp(const void *a, const void *b)
{
	return vl_an_workload_cmp(a, b);
}

/* Distinct commits of the runs, "abcdef1234" or "abcdef1234+dirty", joined. */
static void rep_commits(struct vl_rep_table *t, const struct vl_db_run *runs, size_t n)
{
	t->commits[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char c[64];
		snprintf(c, sizeof c, "%.10s%s", runs[i].git_commit, runs[i].git_dirty ? "+dirty" : "");
		if (strstr(t->commits, c))
			continue;
		size_t l = strlen(t->commits);
		if (l + strlen(c) + 8 >= sizeof t->commits) {
			snprintf(t->commits + l, sizeof t->commits - l, ", ...");
			break;
		}
		snprintf(t->commits + l, sizeof t->commits - l, "%s%s", l ? ", " : "", c);
	}
}

/* Keep one run per (engine, mmu, workload), in place; runs come in id order.
 * With iters, only runs at that count (the newest); without, the newest at
 * the workload's default count wins over any newer run at another count.
 * Returns the number kept (in the order their configuration first appears). */
static size_t rep_choose(struct vl_db_run *runs, size_t n, uint64_t iters)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vl_db_run *r = &runs[i];
		const struct vl_workload_info *wi = vl_workload_find(r->workload);
		if (iters && (uint64_t)r->iterations != iters)
			continue;
		bool pref = !iters && wi && (uint64_t)r->iterations == wi->default_iters;
		size_t j = 0;
		while (j < kept && (strcmp(runs[j].engine, r->engine) || strcmp(runs[j].mmu, r->mmu) ||
				    strcmp(runs[j].workload, r->workload)))
			j++;
		if (j == kept) {
			runs[kept++] = *r;
			continue;
		}
		bool jpref = !iters && wi && (uint64_t)runs[j].iterations == wi->default_iters;
		if (pref || !jpref)
			runs[j] = *r;   /* newer (ids ascend), and not a default-count run giving way to another count */
	}
	return kept;
}

/* [cpu] mhz of a stored profile version, 0 when unknown. */
static uint64_t rep_profile_mhz(struct vl_db *db, const char *sha)
{
	char *text = NULL, err[256];
	uint64_t mhz = 0;
	if (vl_db_profile_text(db, sha, &text, err, sizeof err) == 0) {
		const char *m = strstr(text, "\nmhz = ");
		if (m)
			mhz = strtoull(m + 7, NULL, 10);
	}
	free(text);
	return mhz;
}

int vl_rep_build(struct vl_db *db, const struct vl_rep_select *sel, struct vl_rep_table *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	struct vl_db_filter f = {
		.profile = sel && sel->profile ? sel->profile : VL_DEFAULT_PROFILE,
		.tag = sel ? sel->tag : NULL,
		.commit = sel ? sel->commit : NULL,
		.params = sel && sel->params ? sel->params : "",
	};
	snprintf(t->profile, sizeof t->profile, "%s", f.profile);
	struct vl_db_run *runs = NULL;
	size_t n = 0;
	if (vl_db_query_runs(db, &f, &runs, &n, err, errlen))
		return -1;
	n = rep_choose(runs, n, sel ? sel->iterations : 0);
	t->nruns = n;
	t->conf = calloc(n ? n : 1, sizeof *t->conf);
	t->work = calloc(n ? n : 1, sizeof *t->work);
	if (!t->conf || !t->work)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		int c = rep_find_conf(t, runs[i].engine, runs[i].mmu);
		if (c < 0) {
			struct vl_rep_config *k = &t->conf[t->nconf++];
			snprintf(k->engine, sizeof k->engine, "%s", runs[i].engine);
			snprintf(k->mmu, sizeof k->mmu, "%s", runs[i].mmu);
			vl_an_config_name(k->engine, k->mmu, k->name, sizeof k->name);
			k->model = runs[i].model;
		} else if (runs[i].model) {
			t->conf[c].model = 1;
		}
		if (rep_find_work(t, runs[i].workload) < 0)
			snprintf(t->work[t->nwork++], sizeof t->work[0], "%s", runs[i].workload);
	}
	qsort(t->conf, t->nconf, sizeof *t->conf, rep_conf_cmp);
	qsort(t->work, t->nwork, sizeof *t->work, rep_work_cmp);
	size_t ncell = t->nconf * t->nwork;
	t->cell = calloc(ncell > 0 ? ncell : 1, sizeof *t->cell);
	if (!t->cell)
		goto oom;
	for (size_t i = 0; i < t->nconf * t->nwork; i++)
		t->cell[i].ratio = NAN, t->cell[i].cycles = NAN;
	for (size_t i = 0; i < n; i++) {
		const struct vl_db_run *r = &runs[i];
		struct vl_rep_cell *cell = &t->cell[rep_find_work(t, r->workload) * t->nconf + rep_find_conf(t, r->engine, r->mmu)];
		cell->present = 1;
		cell->run_id = r->id;
		cell->iterations = r->iterations;
		snprintf(cell->profile_sha256, sizeof cell->profile_sha256, "%s", r->profile_sha256);
		if (!t->mhz && r->model && r->profile_sha256[0])
			t->mhz = rep_profile_mhz(db, r->profile_sha256);
		snprintf(cell->status, sizeof cell->status, "%s", r->status);
		if (!strcmp(r->status, "ok"))
			cell->cycles = r->cycles_per_iter;
		if (!r->model) {
			struct vl_db_samples *s = NULL;
			size_t ns = 0;
			if (vl_db_query_samples(db, r->id, &s, &ns, err, errlen) == 0) {
				for (size_t k = 0; k < ns; k++)
					if (!strcmp(s[k].metric, "cycles_per_iter"))
						cell->nsamples = s[k].n;
				vl_db_samples_free(s, ns);
			}
		}
	}
	int nat = rep_find_conf(t, "native", "native");
	for (size_t w = 0; nat >= 0 && w < t->nwork; w++) {
		double base = t->cell[w * t->nconf + nat].cycles;
		for (size_t c = 0; c < t->nconf; c++) {
			struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			/* a ratio only between like units: a host measurement (host TSC
			 * cycles) over modelled cycles of the profile's CPU is no ratio */
			if (isfinite(base) && base > 0 && isfinite(cell->cycles) && t->conf[c].model == t->conf[nat].model)
				cell->ratio = cell->cycles / base;
		}
	}
	rep_commits(t, runs, n);
	free(runs);
	return 0;
oom:
	free(runs);
	vl_rep_free(t);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void vl_rep_free(struct vl_rep_table *t)
{
	free(t->conf);
	free(t->work);
	free(t->cell);
	memset(t, 0, sizeof *t);
}

/* A cell for people: "2308.0 (9.54x)", "131.0", "failed", "-". */
static void rep_cell_text(const struct vl_rep_table *t, size_t w, size_t c, char *buf, size_t n)
{
	const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
	char cy[32], ra[32];
	if (!cell->present) {
		snprintf(buf, n, "-");
		return;
	}
	if (strcmp(cell->status, "ok")) {
		snprintf(buf, n, "%s", cell->status);
		return;
	}
	an_fmt_cycles(cy, sizeof cy, cell->cycles);
	if (!strcmp(t->conf[c].engine, "native") || !isfinite(cell->ratio)) {
		snprintf(buf, n, "%s", cy);
		return;
	}
	an_fmt_ratio(ra, sizeof ra, cell->ratio);
	snprintf(buf, n, "%s (%s)", cy, ra);
}

static void rep_header_name(const struct vl_rep_table *t, size_t c, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", t->conf[c].name, t->conf[c].model ? "" : "*");
}

/* What the columns are: modelled (the profile's CPU, its clock) or
 * measured on the host; and what the table mixes — iteration counts within
 * a row, versions of the profile — so no reader takes a mix for one experiment. */
static void rep_footnotes(FILE *out, const struct vl_rep_table *t, const char *prefix)
{
	char model[512] = "";
	int measured = 0;
	for (size_t c = 0; c < t->nconf; c++) {
		size_t l = strlen(model);
		if (t->conf[c].model && l + 80 < sizeof model)
			snprintf(model + l, sizeof model - l, "%s%s", l ? ", " : "", t->conf[c].name);
	}
	for (size_t c = 0; c < t->nconf; c++) {
		if (t->conf[c].model)
			continue;
		size_t lo = 0, hi = 0;
		for (size_t w = 0; w < t->nwork; w++) {
			size_t s = t->cell[w * t->nconf + c].nsamples;
			if (!s)
				continue;
			if (!lo || s < lo) lo = s;
			if (s > hi) hi = s;
		}
		char range[48];
		if (hi != lo)
			snprintf(range, sizeof range, "%zu-%zu", lo, hi);
		else
			snprintf(range, sizeof range, "%zu", lo);
		fprintf(out, "%s* %s: measured on the host (%s), median of %s samples; no ratio "
			"to the modelled columns, whose cycles are the %s CPU's", prefix, t->conf[c].name,
			!strncmp(t->conf[c].name, "host", 4) ? "host-native twin processes: TSC ticks, or core cycles where PAPI counts them"
							      : "guest RDTSC: host TSC cycles", range, t->profile);
		if (t->mhz)
			fprintf(out, " at %llu MHz", (unsigned long long)t->mhz);
		fprintf(out, "\n");
		prefix = "";
		measured = 1;
	}
	if (model[0] && measured) {   /* name the modelled columns too */
		fprintf(out, "modelled (the deterministic model of %s", t->profile);
		if (t->mhz)
			fprintf(out, " at %llu MHz", (unsigned long long)t->mhz);
		fprintf(out, "): %s\n", model);
	}
	for (size_t w = 0; w < t->nwork; w++) {
		uint64_t first = 0;
		int mixed = 0;
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (!cell->present)
				continue;
			if (first && cell->iterations != first)
				mixed = 1;
			if (!first)
				first = cell->iterations;
		}
		if (!mixed)
			continue;
		fprintf(out, "%snote: %s mixes iteration counts:", prefix, t->work[w]);
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (cell->present)
				fprintf(out, " %s %llu", t->conf[c].name, (unsigned long long)cell->iterations);
		}
		fprintf(out, " (--iterations N selects one count)\n");
		prefix = "";
	}
	/* versions of the profile behind the cells */
	const char *vers[16];
	size_t nv = 0, cnt[16] = { 0 };
	for (size_t i = 0; i < t->nconf * t->nwork; i++) {
		const struct vl_rep_cell *cell = &t->cell[i];
		if (!cell->present || !cell->profile_sha256[0])
			continue;
		size_t k = 0;
		while (k < nv && strcmp(vers[k], cell->profile_sha256))
			k++;
		if (k == nv && nv < 16)
			vers[nv++] = cell->profile_sha256;
		if (k < nv)
			cnt[k]++;
	}
	if (nv > 1) {
		fprintf(out, "%snote: the cells were made with %zu versions of profile %s (different costs):", prefix, nv, t->profile);
		for (size_t k = 0; k < nv; k++)
			fprintf(out, "%s %.12s (%zu cell%s)", k ? "," : "", vers[k], cnt[k], cnt[k] == 1 ? "" : "s");
		fprintf(out, "; `virtlab compare id:A id:B` names the fields that differ\n");
	}
}

static void rep_text(FILE *out, const struct vl_rep_table *t, int markdown)
{
	char buf[96];
	if (markdown)
		fprintf(out, "**virtlab report** — profile `%s`, newest run of each configuration (%zu runs; commit %s)\n\n"
			"Cycles per iteration (ratio to native).\n\n", t->profile, t->nruns, t->commits[0] ? t->commits : "-");
	else
		fprintf(out, "virtlab report: profile %s, newest run of each configuration (%zu runs; commit %s)\n"
			"cycles per iteration (ratio to native)\n\n", t->profile, t->nruns, t->commits[0] ? t->commits : "-");
	if (!t->nruns) {
		fprintf(out, "no runs selected (try `virtlab matrix`, or another --profile/--tag/--commit)\n");
		return;
	}
	/* column widths */
	size_t *wid = calloc(t->nconf + 1, sizeof *wid);
	if (!wid)
		return;
	wid[0] = strlen("workload");
	for (size_t w = 0; w < t->nwork; w++)
		if (strlen(t->work[w]) > wid[0])
			wid[0] = strlen(t->work[w]);
	for (size_t c = 0; c < t->nconf; c++) {
		rep_header_name(t, c, buf, sizeof buf);
		wid[c + 1] = strlen(buf);
		for (size_t w = 0; w < t->nwork; w++) {
			rep_cell_text(t, w, c, buf, sizeof buf);
			if (strlen(buf) > wid[c + 1])
				wid[c + 1] = strlen(buf);
		}
	}
	if (markdown) {
		fprintf(out, "| workload |");
		for (size_t c = 0; c < t->nconf; c++) {
			rep_header_name(t, c, buf, sizeof buf);
			fputc(' ', out);
			an_md_str(out, buf);
			fprintf(out, " |");
		}
		fprintf(out, "\n|---|");
		for (size_t c = 0; c < t->nconf; c++)
			fprintf(out, "---:|");
		fputc('\n', out);
		for (size_t w = 0; w < t->nwork; w++) {
			fprintf(out, "| %s |", t->work[w]);
			for (size_t c = 0; c < t->nconf; c++) {
				rep_cell_text(t, w, c, buf, sizeof buf);
				fprintf(out, " %s |", buf);
			}
			fputc('\n', out);
		}
		fputc('\n', out);
		rep_footnotes(out, t, "");
	} else {
		fprintf(out, "%-*s", (int)wid[0], "workload");
		for (size_t c = 0; c < t->nconf; c++) {
			rep_header_name(t, c, buf, sizeof buf);
			fprintf(out, "  %*s", (int)wid[c + 1], buf);
		}
		fputc('\n', out);
		for (size_t w = 0; w < t->nwork; w++) {
			fprintf(out, "%-*s", (int)wid[0], t->work[w]);
			for (size_t c = 0; c < t->nconf; c++) {
				rep_cell_text(t, w, c, buf, sizeof buf);
				fprintf(out, "  %*s", (int)wid[c + 1], buf);
			}
			fputc('\n', out);
		}
		rep_footnotes(out, t, "\n");
	}
	free(wid);
}

static void rep_csv(FILE *out, const struct vl_rep_table *t)
{
	fprintf(out, "workload");
	for (size_t c = 0; c < t->nconf; c++) {
		fputc(',', out);
		an_csv_str(out, t->conf[c].name);
		fputc(',', out);
		char h[96];
		snprintf(h, sizeof h, "%s ratio", t->conf[c].name);
		an_csv_str(out, h);
	}
	fputc('\n', out);
	for (size_t w = 0; w < t->nwork; w++) {
		an_csv_str(out, t->work[w]);
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			fputc(',', out);
			an_csv_num(out, cell->cycles);
			fputc(',', out);
			an_csv_num(out, cell->ratio);
		}
		fputc('\n', out);
	}
}

static void rep_json(FILE *out, const struct vl_rep_table *t)
{
	fprintf(out, "{\"profile\":");
	an_json_str(out, t->profile);
	fprintf(out, ",\"runs\":%zu,\"commits\":", t->nruns);
	an_json_str(out, t->commits);
	fprintf(out, ",\"configs\":[");
	for (size_t c = 0; c < t->nconf; c++) {
		fprintf(out, "%s{\"name\":", c ? "," : "");
		an_json_str(out, t->conf[c].name);
		fprintf(out, ",\"engine\":");
		an_json_str(out, t->conf[c].engine);
		fprintf(out, ",\"mmu\":");
		an_json_str(out, t->conf[c].mmu);
		fprintf(out, ",\"model\":%s}", t->conf[c].model ? "true" : "false");
	}
	fprintf(out, "],\"rows\":[");
	for (size_t w = 0; w < t->nwork; w++) {
		fprintf(out, "%s{\"workload\":", w ? "," : "");
		an_json_str(out, t->work[w]);
		fprintf(out, ",\"cells\":{");
		int first = 1;
		for (size_t c = 0; c < t->nconf; c++) {
			const struct vl_rep_cell *cell = &t->cell[w * t->nconf + c];
			if (!cell->present)
				continue;
			fprintf(out, "%s", first ? "" : ",");
			first = 0;
			an_json_str(out, t->conf[c].name);
			fprintf(out, ":{\"run_id\":%lld,\"status\":", (long long)cell->run_id);
			an_json_str(out, cell->status);
			fprintf(out, ",\"cycles_per_iter\":");
			an_json_num(out, cell->cycles);
			fprintf(out, ",\"ratio\":");
			an_json_num(out, cell->ratio);
			fprintf(out, ",\"iterations\":%llu,\"measured\":%s", (unsigned long long)cell->iterations,
				t->conf[c].model ? "false" : "true");
			if (cell->profile_sha256[0]) {
				fprintf(out, ",\"profile_sha256\":");
				an_json_str(out, cell->profile_sha256);
			}
			if (!t->conf[c].model)
				fprintf(out, ",\"samples\":%zu", cell->nsamples);
			fputc('}', out);
		}
		fprintf(out, "}}");
	}
	fprintf(out, "]}\n");
}

void vl_rep_print(FILE *out, const struct vl_rep_table *t, enum vl_an_format f)
{
	switch (f) {
	case VL_AN_TEXT:     rep_text(out, t, 0); break;
	case VL_AN_MARKDOWN: rep_text(out, t, 1); break;
	case VL_AN_CSV:      rep_csv(out, t); break;
	case VL_AN_JSON:     rep_json(out, t); break;
	}
}
