/* export.c — runs and every metric out of the database, for other tools:
 * CSV in tidy form (one row per run and metric, every raw sample a row, so
 * pandas/R can pivot it any way) and JSON (one object per run with every
 * column of `run` — the export follows the schema as it grows — and its
 * cycles, events, exits, samples and guest results nested). */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "an_util.h"
#include "virtlab/analysis.h"

static void exp_iso_time(double t, char *buf, size_t n)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void exp_csv_run_prefix(FILE *out, const struct vl_db_run *r)
{
	char ts[32];
	exp_iso_time(r->started, ts, sizeof ts);
	fprintf(out, "%lld,%s,", (long long)r->id, ts);
	an_csv_str(out, r->git_commit);
	fprintf(out, ",%d,", r->git_dirty);
	an_csv_str(out, r->tag);
	fputc(',', out);
	an_csv_str(out, r->profile);
	fputc(',', out);
	an_csv_str(out, r->engine);
	fputc(',', out);
	an_csv_str(out, r->mmu);
	fputc(',', out);
	an_csv_str(out, r->workload);
	fputc(',', out);
	an_csv_str(out, r->params);
	fprintf(out, ",%llu,%s,%d,", (unsigned long long)r->iterations, r->status, r->model);
}

/* The metrics and raw samples of one run (both formats print both): 0, or
 * -1 with nothing left allocated. */
static int exp_fetch(struct vl_db *db, int64_t id, struct vl_db_metric **m, size_t *nm, struct vl_db_samples **s,
		     size_t *ns, char *err, size_t errlen)
{
	if (vl_db_query_metrics(db, id, m, nm, err, errlen))
		return -1;
	if (vl_db_query_samples(db, id, s, ns, err, errlen)) {
		free(*m);
		*m = NULL;
		return -1;
	}
	return 0;
}

static int exp_csv(struct vl_db *db, const struct vl_db_run *runs, size_t n, FILE *out, char *err, size_t errlen)
{
	fprintf(out, "run_id,started,git_commit,git_dirty,tag,profile,engine,mmu,workload,params,iterations,status,model,"
		"kind,name,code,unit,value\n");
	for (size_t i = 0; i < n; i++) {
		struct vl_db_metric *m = NULL;
		struct vl_db_samples *s = NULL;
		size_t nm = 0, ns = 0;
		if (exp_fetch(db, runs[i].id, &m, &nm, &s, &ns, err, errlen))
			return -1;
		if (!nm && !ns) {
			exp_csv_run_prefix(out, &runs[i]);
			fprintf(out, "run,,,,\n");   /* the run itself (e.g. failed), no metrics */
		}
		for (size_t k = 0; k < nm; k++) {
			exp_csv_run_prefix(out, &runs[i]);
			an_csv_str(out, m[k].kind);
			fputc(',', out);
			an_csv_str(out, m[k].name);
			fputc(',', out);
			if (m[k].code >= 0)
				fprintf(out, "%lld", (long long)m[k].code);
			fputc(',', out);
			an_csv_str(out, m[k].unit);
			fputc(',', out);
			an_csv_num(out, m[k].value);
			fputc('\n', out);
		}
		for (size_t k = 0; k < ns; k++)
			for (size_t j = 0; j < s[k].n; j++) {
				exp_csv_run_prefix(out, &runs[i]);
				fprintf(out, "sample,");
				an_csv_str(out, s[k].metric);
				fprintf(out, ",%zu,", j);
				an_csv_str(out, s[k].unit);
				fputc(',', out);
				an_csv_num(out, s[k].v[j]);
				fputc('\n', out);
			}
		free(m);
		vl_db_samples_free(s, ns);
	}
	return 0;
}

/* Every column of one `run` row, as JSON members (no braces). */
static int exp_json_run_columns(sqlite3 *h, int64_t id, FILE *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h, "SELECT * FROM run WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -1;
	}
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		fprintf(out, "%s", c ? "," : "");
		an_json_str(out, sqlite3_column_name(st, c));
		fputc(':', out);
		const char *name = sqlite3_column_name(st, c);
		if ((!strcmp(name, "started") || !strcmp(name, "ended")) && sqlite3_column_type(st, c) != SQLITE_NULL) {
			char ts[32];   /* timestamps as in the CSV: one format everywhere */
			exp_iso_time(sqlite3_column_double(st, c), ts, sizeof ts);
			an_json_str(out, ts);
			continue;
		}
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER: fprintf(out, "%lld", (long long)sqlite3_column_int64(st, c)); break;
		case SQLITE_FLOAT:   an_json_num(out, sqlite3_column_double(st, c)); break;
		case SQLITE_NULL:    fputs("null", out); break;
		default:             an_json_str(out, (const char *)sqlite3_column_text(st, c)); break;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

static int exp_json_guest_results(sqlite3 *h, int64_t id, FILE *out)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h, "SELECT workload, iters, cycles, extra FROM guest_result WHERE run_id = ? ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	fprintf(out, ",\"guest_results\":[");
	for (int i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
		fprintf(out, "%s{\"workload\":", i ? "," : "");
		an_json_str(out, (const char *)sqlite3_column_text(st, 0));
		fprintf(out, ",\"iters\":%lld,\"cycles\":%lld,\"extra\":", (long long)sqlite3_column_int64(st, 1),
			(long long)sqlite3_column_int64(st, 2));
		an_json_str(out, (const char *)sqlite3_column_text(st, 3));
		fputc('}', out);
	}
	fputc(']', out);
	sqlite3_finalize(st);
	return 0;
}

static int exp_json(struct vl_db *db, const struct vl_db_run *runs, size_t n, FILE *out, char *err, size_t errlen)
{
	sqlite3 *h = vl_db_sqlite(db);
	fprintf(out, "[");
	for (size_t i = 0; i < n; i++) {
		struct vl_db_metric *m = NULL;
		struct vl_db_samples *s = NULL;
		size_t nm = 0, ns = 0;
		if (exp_fetch(db, runs[i].id, &m, &nm, &s, &ns, err, errlen))
			return -1;
		fprintf(out, "%s\n{", i ? "," : "");
		if (exp_json_run_columns(h, runs[i].id, out)) {
			snprintf(err, errlen, "reading run %lld: %s", (long long)runs[i].id, sqlite3_errmsg(h));
			free(m);
			vl_db_samples_free(s, ns);
			return -1;
		}
		static const char *const groups[][2] = { { "cycles", "cycles" }, { "events", "event" } };
		for (size_t g = 0; g < 2; g++) {
			fprintf(out, ",\"%s\":{", groups[g][0]);
			int first = 1;
			for (size_t k = 0; k < nm; k++) {
				if (strcmp(m[k].kind, groups[g][1]))
					continue;
				fprintf(out, "%s", first ? "" : ",");
				first = 0;
				an_json_str(out, m[k].name);
				fputc(':', out);
				an_json_num(out, m[k].value);
			}
			fputc('}', out);
		}
		/* VMM entries under their own keys, as `run --format json` prints
		 * them: exits and hypercalls with their code, callouts without */
		for (size_t g = 0; g < AN_NENTRY_KIND; g++) {
			const struct an_entry_kind *ek = &an_entry_kinds[g];
			fprintf(out, ",\"%s\":{", ek->key);
			int first = 1;
			for (size_t k = 0; k < nm; k++) {
				if (strcmp(m[k].kind, ek->count))
					continue;
				double cyc = an_metric_value(m, nm, ek->cycles, m[k].name, m[k].code);
				fprintf(out, "%s", first ? "" : ",");
				first = 0;
				an_json_str(out, m[k].name);
				fputc(':', out);
				fputc('{', out);
				if (ek->code)
					fprintf(out, "\"code\":%lld,", (long long)m[k].code);
				fprintf(out, "\"count\":");
				an_json_num(out, m[k].value);
				fprintf(out, ",\"cycles\":");
				an_json_num(out, cyc);
				fputc('}', out);
			}
			fputc('}', out);
		}
		/* cycles by the profile value that priced them (schema v5), with
		 * its class: {} for a run stored before v5 or a real run */
		{
			struct vl_db_value *v = NULL;
			size_t nv = 0;
			if (vl_db_query_values(db, runs[i].id, &v, &nv, err, errlen)) {
				free(m);
				vl_db_samples_free(s, ns);
				return -1;
			}
			fprintf(out, ",\"values\":{");
			for (size_t k = 0; k < nv; k++) {
				fprintf(out, "%s", k ? "," : "");
				an_json_str(out, v[k].field);
				fprintf(out, ":{\"cycles\":");
				an_json_num(out, v[k].cycles);
				fprintf(out, ",\"class\":");
				an_json_str(out, v[k].cls);
				fputc('}', out);
			}
			fputc('}', out);
			free(v);
		}
		fprintf(out, ",\"samples\":{");
		for (size_t k = 0; k < ns; k++) {
			fprintf(out, "%s", k ? "," : "");
			an_json_str(out, s[k].metric);
			fprintf(out, ":{\"unit\":");
			an_json_str(out, s[k].unit);
			fprintf(out, ",\"values\":[");
			for (size_t j = 0; j < s[k].n; j++) {
				fprintf(out, "%s", j ? "," : "");
				an_json_num(out, s[k].v[j]);
			}
			fprintf(out, "]}");
		}
		fputc('}', out);
		if (exp_json_guest_results(h, runs[i].id, out)) {
			snprintf(err, errlen, "reading guest results: %s", sqlite3_errmsg(h));
			free(m);
			vl_db_samples_free(s, ns);
			return -1;
		}
		fputc('}', out);
		free(m);
		vl_db_samples_free(s, ns);
	}
	fprintf(out, "%s]\n", n ? "\n" : "");
	return 0;
}

int vl_export(struct vl_db *db, const struct vl_db_filter *f, enum vl_an_format fmt, FILE *out, char *err, size_t errlen)
{
	struct vl_db_run *runs = NULL;
	size_t n = 0;
	if (fmt != VL_AN_CSV && fmt != VL_AN_JSON) {
		snprintf(err, errlen, "export writes csv or json");
		return -1;
	}
	if (vl_db_query_runs(db, f, &runs, &n, err, errlen))
		return -1;
	int rc = fmt == VL_AN_CSV ? exp_csv(db, runs, n, out, err, errlen) : exp_json(db, runs, n, out, err, errlen);
	free(runs);
	return rc;
}
