/* compare.c — regressions between two sets of runs (BASE and HEAD).
 *
 * Configurations are paired by (profile, engine, mmu, workload, params,
 * iterations). Model runs are deterministic, so every metric is compared
 * exactly: any difference is a real change and is listed with old value,
 * new value and relative change; the headline cost (cycles_per_iter) is
 * judged against the threshold. Real measurements (QEMU) are noisy: their
 * raw samples, pooled over the side's runs of a configuration, are judged
 * like asv does — a regression needs both a significant Mann–Whitney U test
 * (p < alpha) and a median change beyond the threshold (minimum effect). A
 * configuration that ran ok at BASE and fails at HEAD is a regression too.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "an_util.h"
#include "virtlab/analysis.h"

const char *const vl_cmp_verdict_name[] = {
	[VL_CMP_SAME] = "same", [VL_CMP_CHANGED] = "changed", [VL_CMP_IMPROVED] = "improved",
	[VL_CMP_REGRESSED] = "regressed", [VL_CMP_WITHIN] = "within threshold",
	[VL_CMP_NOT_SIGNIFICANT] = "not significant", [VL_CMP_TOO_FEW] = "too few samples",
	[VL_CMP_ONLY_BASE] = "only in base", [VL_CMP_ONLY_HEAD] = "only in head",
	[VL_CMP_PROFILE] = "input changed",
};

/* Runs of one side that share a key. */
struct cmp_group {
	const struct vl_db_run *latest;
	size_t idx[64];            /* every run of the key (first 64) */
	size_t n;
	int disagree;              /* model runs of this key differ in cycles_per_iter */
	int inputs_differ;         /* ... and were made with different profiles or guests */
};

/* Two runs' stored inputs differ (both known: runs from before schema v3
 * have no provenance, and unknown is not a difference). */
static int cmp_inputs_differ(const struct vl_db_run *a, const struct vl_db_run *b)
{
	return (a->profile_sha256[0] && b->profile_sha256[0] && strcmp(a->profile_sha256, b->profile_sha256)) ||
	       (a->guest_sha256[0] && b->guest_sha256[0] && strcmp(a->guest_sha256, b->guest_sha256));
}

static int cmp_same_key(const struct vl_db_run *a, const struct vl_db_run *b)
{
	return !strcmp(a->profile, b->profile) && !strcmp(a->engine, b->engine) && !strcmp(a->mmu, b->mmu) &&
	       !strcmp(a->workload, b->workload) && !strcmp(a->params, b->params) && a->iterations == b->iterations;
}

/* The group of g[0..n) with run's configuration key, or n. */
static size_t cmp_find_group(const struct cmp_group *g, size_t n, const struct vl_db_run *run)
{
	size_t k = 0;
	while (k < n && !cmp_same_key(g[k].latest, run))
		k++;
	return k;
}

/* Group a side's runs by key. *groups malloc'ed. Runs are in id order, so the
 * last one seen is the newest. */
static int cmp_group_runs(const struct vl_db_run *runs, size_t n, struct cmp_group **groups, size_t *ng)
{
	struct cmp_group *g = calloc(n ? n : 1, sizeof *g);
	if (!g)
		return -1;
	size_t cnt = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = cmp_find_group(g, cnt, &runs[i]);
		if (k == cnt)
			cnt++;
		struct cmp_group *x = &g[k];
		if (x->n && runs[i].model && x->latest->model && !strcmp(runs[i].status, "ok") &&
		    !strcmp(x->latest->status, "ok") && runs[i].cycles_per_iter != x->latest->cycles_per_iter) {
			x->disagree = 1;
			x->inputs_differ |= cmp_inputs_differ(&runs[i], x->latest);
		}
		x->latest = &runs[i];
		if (x->n < sizeof x->idx / sizeof x->idx[0])
			x->idx[x->n++] = i;
	}
	*groups = g;
	*ng = cnt;
	return 0;
}

static struct vl_cmp_entry *cmp_add(struct vl_cmp_result *r, const struct vl_db_run *key)
{
	if ((r->n & (r->n - 1)) == 0 || r->n == 0) {   /* grow at powers of two */
		size_t cap = r->n ? 2 * r->n : 16;
		struct vl_cmp_entry *ne = realloc(r->e, cap * sizeof *ne);
		if (!ne)
			return NULL;
		r->e = ne;
	}
	struct vl_cmp_entry *e = &r->e[r->n++];
	memset(e, 0, sizeof *e);
	vl_an_config_name(key->engine, key->mmu, e->config, sizeof e->config);
	snprintf(e->workload, sizeof e->workload, "%s", key->workload);
	snprintf(e->profile, sizeof e->profile, "%s", key->profile);
	e->iterations = key->iterations;
	e->model = key->model;
	e->code = -1;
	e->p = NAN;
	e->rel = NAN;
	return e;
}

static double cmp_rel(double base, double head)
{
	return base != 0 ? (head - base) / fabs(base) : (head == 0 ? 0 : NAN);
}

static enum vl_cmp_verdict cmp_judge_cost(double rel, double thr)
{
	if (isnan(rel))
		return VL_CMP_REGRESSED;   /* from zero cost to some cost */
	return rel > thr ? VL_CMP_REGRESSED : rel < -thr ? VL_CMP_IMPROVED : VL_CMP_WITHIN;
}

static const struct vl_db_metric *cmp_find_metric(const struct vl_db_metric *m, size_t n, const struct vl_db_metric *want)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].code == want->code && !strcmp(m[i].kind, want->kind) && !strcmp(m[i].name, want->name))
			return &m[i];
	return NULL;
}

/* Deterministic: every metric of the two newest runs, exactly. Returns the
 * number of differing metrics, or -1 on a database error. */
static int cmp_model(struct vl_db *db, const struct vl_db_run *b, const struct vl_db_run *h,
		     const struct vl_cmp_opts *o, struct vl_cmp_result *r, char *err, size_t errlen)
{
	struct vl_db_metric *mb = NULL, *mh = NULL;
	size_t nb = 0, nh = 0;
	if (vl_db_query_metrics(db, b->id, &mb, &nb, err, errlen) ||
	    vl_db_query_metrics(db, h->id, &mh, &nh, err, errlen)) {
		free(mb);
		return -1;
	}
	int diffs = 0;
	/* per-value cycles (schema v5) are compared only when both runs stored
	 * them: a run stored without them has an unknown split, not zeros */
	bool vb_any = false, vh_any = false;
	for (size_t i = 0; i < nb; i++)
		vb_any |= !strcmp(mb[i].kind, "value_cycles");
	for (size_t i = 0; i < nh; i++)
		vh_any |= !strcmp(mh[i].kind, "value_cycles");
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: every base metric (absent at head = 0); pass 1: head-only metrics */
		const struct vl_db_metric *src = pass ? mh : mb, *other = pass ? mb : mh;
		size_t ns = pass ? nh : nb, no = pass ? nb : nh;
		for (size_t i = 0; i < ns; i++) {
			if (!(vb_any && vh_any) && !strcmp(src[i].kind, "value_cycles"))
				continue;
			const struct vl_db_metric *x = cmp_find_metric(other, no, &src[i]);
			if (pass && x)
				continue;   /* already compared in pass 0 */
			double vb = pass ? 0 : src[i].value, vh = pass ? src[i].value : (x ? x->value : 0);
			if (vb == vh)
				continue;
			diffs++;
			struct vl_cmp_entry *e = cmp_add(r, h);
			if (!e) {
				free(mb);
				free(mh);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			snprintf(e->kind, sizeof e->kind, "%s", src[i].kind);
			snprintf(e->name, sizeof e->name, "%s", src[i].name);
			e->code = src[i].code;
			e->base = vb;
			e->head = vh;
			e->rel = cmp_rel(vb, vh);
			e->verdict = !strcmp(e->kind, "cycles_per_iter") ? cmp_judge_cost(e->rel, o->threshold) : VL_CMP_CHANGED;
		}
	}
	free(mb);
	free(mh);
	return diffs;
}

/* Pool one metric's raw samples over a group's runs. */
static int cmp_pool(struct vl_db *db, const struct vl_db_run *runs, const struct cmp_group *g, const char *metric,
		    double **v, size_t *n, char *unit, size_t unitlen, char *err, size_t errlen)
{
	*v = NULL;
	*n = 0;
	for (size_t i = 0; i < g->n; i++) {
		const struct vl_db_run *run = &runs[g->idx[i]];
		if (strcmp(run->status, "ok"))
			continue;
		struct vl_db_samples *s = NULL;
		size_t ns = 0;
		if (vl_db_query_samples(db, run->id, &s, &ns, err, errlen))
			return -1;
		for (size_t k = 0; k < ns; k++) {
			if (strcmp(s[k].metric, metric))
				continue;
			double *nv = realloc(*v, (*n + s[k].n + 1) * sizeof *nv);
			if (!nv) {
				vl_db_samples_free(s, ns);
				return -1;
			}
			*v = nv;
			memcpy(*v + *n, s[k].v, s[k].n * sizeof *nv);
			*n += s[k].n;
			if (unit)
				snprintf(unit, unitlen, "%s", s[k].unit);
		}
		vl_db_samples_free(s, ns);
	}
	return 0;
}

/* Smallest two-sided p any outcome can reach with these sample sizes (the
 * exact test's resolution): below alpha or the test cannot say anything. */
static double cmp_min_p(size_t nb, size_t nh)
{
	double c = 1;
	size_t n = nb + nh, k = nb < nh ? nb : nh;
	for (size_t i = 1; i <= k; i++)
		c = c * (double)(n - k + i) / (double)i;
	return 2.0 / c;
}

/* Measured: each sample metric of the newest head run, judged statistically. */
static int cmp_real(struct vl_db *db, const struct vl_db_run *bruns, const struct cmp_group *bg,
		    const struct vl_db_run *hruns, const struct cmp_group *hg, const struct vl_cmp_opts *o,
		    struct vl_cmp_result *r, char *err, size_t errlen)
{
	struct vl_db_samples *hs = NULL;
	size_t nhs = 0;
	if (vl_db_query_samples(db, hg->latest->id, &hs, &nhs, err, errlen))
		return -1;
	int rc = 0;
	for (size_t m = 0; m < nhs && rc == 0; m++) {
		double *vb = NULL, *vh = NULL;
		size_t nb = 0, nh = 0;
		if (cmp_pool(db, bruns, bg, hs[m].metric, &vb, &nb, NULL, 0, err, errlen) ||
		    cmp_pool(db, hruns, hg, hs[m].metric, &vh, &nh, NULL, 0, err, errlen)) {
			free(vb);
			rc = -1;
			break;
		}
		struct vl_cmp_entry *e = cmp_add(r, hg->latest);
		if (!e) {
			free(vb);
			free(vh);
			rc = -1;
			break;
		}
		snprintf(e->kind, sizeof e->kind, "sample");
		snprintf(e->name, sizeof e->name, "%s", hs[m].metric);
		e->nbase = nb;
		e->nhead = nh;
		e->base = vl_stats_median(vb, nb);
		e->head = vl_stats_median(vh, nh);
		e->rel = cmp_rel(e->base, e->head);
		if (nb < 2 || nh < 2 || cmp_min_p(nb, nh) >= o->alpha) {
			e->verdict = VL_CMP_TOO_FEW;
			if (nb && nh)
				e->p = vl_stats_mann_whitney(vh, nh, vb, nb, NULL);
		} else {
			e->p = vl_stats_mann_whitney(vh, nh, vb, nb, NULL);
			e->verdict = e->p < o->alpha ? cmp_judge_cost(e->rel, o->threshold) : VL_CMP_NOT_SIGNIFICANT;
		}
		free(vb);
		free(vh);
	}
	vl_db_samples_free(hs, nhs);
	return rc;
}

static int cmp_entry_order(const void *a, const void *b)
{
	static const int rank[] = {
		[VL_CMP_REGRESSED] = 0, [VL_CMP_IMPROVED] = 1, [VL_CMP_WITHIN] = 2, [VL_CMP_NOT_SIGNIFICANT] = 3,
		[VL_CMP_TOO_FEW] = 4, [VL_CMP_CHANGED] = 5, [VL_CMP_ONLY_BASE] = 6, [VL_CMP_ONLY_HEAD] = 7,
		[VL_CMP_SAME] = 8, [VL_CMP_PROFILE] = -1,   /* the cause first */
	};
	const struct vl_cmp_entry *x = a, *y = b;
	if (rank[x->verdict] != rank[y->verdict])
		return rank[x->verdict] - rank[y->verdict];
	int c = strcmp(x->profile, y->profile);
	if (c)
		return c;
	/* config names sort like their (engine, mmu) pairs for everything we name */
	char e1[72], e2[72];
	snprintf(e1, sizeof e1, "%s", x->config);
	snprintf(e2, sizeof e2, "%s", y->config);
	char *m1 = strchr(e1, '/'), *m2 = strchr(e2, '/');
	if (m1) *m1++ = '\0';
	if (m2) *m2++ = '\0';
	c = vl_an_config_cmp(e1, m1 ? m1 : "native", e2, m2 ? m2 : "native");
	if (c)
		return c;
	c = vl_an_workload_cmp(x->workload, y->workload);
	if (c)
		return c;
	if (x->iterations != y->iterations)
		return x->iterations < y->iterations ? -1 : 1;
	/* the headline first, then the counters in the database's order */
	int hx = strcmp(x->kind, "cycles_per_iter") != 0, hy = strcmp(y->kind, "cycles_per_iter") != 0;
	if (hx != hy)
		return hx - hy;
	c = strcmp(x->kind, y->kind);
	return c ? c : strcmp(x->name, y->name);
}

static void cmp_warn(struct vl_cmp_result *r, const char *side, const struct cmp_group *g)
{
	const struct vl_db_run *k = g->latest;
	size_t l = strlen(r->warnings);
	char cfg[72];
	vl_an_config_name(k->engine, k->mmu, cfg, sizeof cfg);
	if (l + 160 < sizeof r->warnings)
		snprintf(r->warnings + l, sizeof r->warnings - l,
			 g->inputs_differ
			 ? "%s%s runs of %s %s (%s) were made with different profiles or guest images and disagree; the newest is compared"
			 : "%snondeterminism: %s runs of %s %s (%s) disagree in cycles_per_iter; the newest is compared",
			 l ? "; " : "", side, cfg, k->workload, k->profile);
}

/* "section.key = value" pairs of a canonical profile text, in order. */
struct cmp_kv { char key[80]; char val[100]; };

static size_t cmp_parse_profile(const char *text, struct cmp_kv **out)
{
	size_t n = 0, cap = 0;
	char sec[48] = "";
	*out = NULL;
	for (const char *l = text; l && *l; ) {
		const char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		char line[256];
		snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), l);
		l = eol ? eol + 1 : NULL;
		char *eq = strstr(line, " = ");
		if (line[0] == '[') {
			char *rb = strchr(line, ']');
			if (rb)
				*rb = '\0';
			snprintf(sec, sizeof sec, "%.40s", line + 1);
			continue;
		}
		if (!eq)
			continue;
		*eq = '\0';
		char *cmt = strstr(eq + 3, " ;");   /* the value, without its provenance comment */
		if (cmt)
			*cmt = '\0';
		if (n == cap) {
			cap = cap ? 2 * cap : 128;
			struct cmp_kv *nk = realloc(*out, cap * sizeof *nk);
			if (!nk)
				break;
			*out = nk;
		}
		snprintf((*out)[n].key, sizeof (*out)[n].key, "%.40s.%.38s", sec, line);
		snprintf((*out)[n].val, sizeof (*out)[n].val, "%.99s", eq + 3);
		n++;
	}
	return n;
}

static const char *cmp_kv_find(const struct cmp_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return kv[i].val;
	return NULL;
}

static void cmp_note_input(struct vl_cmp_result *r, const char *what)
{
	size_t l = strlen(r->inputs);
	if (strstr(r->inputs, what) || l + strlen(what) + 4 >= sizeof r->inputs)
		return;
	snprintf(r->inputs + l, sizeof r->inputs - l, "%s%s", l ? "; " : "", what);
}

/* A configuration one side has and the other has not (verdict only-in-base
 * or only-in-head). NULL when out of memory. */
static struct vl_cmp_entry *cmp_add_only(struct vl_cmp_result *r, const struct vl_db_run *run, enum vl_cmp_verdict v)
{
	struct vl_cmp_entry *e = cmp_add(r, run);
	if (!e)
		return NULL;
	snprintf(e->kind, sizeof e->kind, "run");
	e->verdict = v;
	return e;
}

static struct vl_cmp_entry *cmp_add_input(struct vl_cmp_result *r, const struct vl_db_run *h, const char *kind,
					  const char *name, const char *vb, const char *vh)
{
	struct vl_cmp_entry *e = cmp_add(r, h);
	if (!e)
		return NULL;
	snprintf(e->kind, sizeof e->kind, "%s", kind);
	snprintf(e->name, sizeof e->name, "%s", name);
	snprintf(e->vbase, sizeof e->vbase, "%s", vb ? vb : "(none)");
	snprintf(e->vhead, sizeof e->vhead, "%s", vh ? vh : "(none)");
	char *end;
	e->base = vb ? strtod(vb, &end) : NAN;
	if (!vb || *end)
		e->base = NAN;
	e->head = vh ? strtod(vh, &end) : NAN;
	if (!vh || *end)
		e->head = NAN;
	e->rel = isnan(e->base) || isnan(e->head) ? NAN : cmp_rel(e->base, e->head);
	e->verdict = VL_CMP_PROFILE;
	e->input_changed = 1;
	return e;
}

/* The inputs of a paired configuration: every profile field whose value
 * differs between the two runs' stored profiles, and the guest image. The
 * counter differences of this configuration are then attributed to them.
 * Returns the number of differences, or -1 on a database error. */
static int cmp_inputs(struct vl_db *db, const struct vl_db_run *b, const struct vl_db_run *h,
		      struct vl_cmp_result *r, char *err, size_t errlen)
{
	int diffs = 0;
	if (b->guest_sha256[0] && h->guest_sha256[0] && strcmp(b->guest_sha256, h->guest_sha256)) {
		char vb[16], vh[16];
		snprintf(vb, sizeof vb, "%.12s", b->guest_sha256);
		snprintf(vh, sizeof vh, "%.12s", h->guest_sha256);
		if (!cmp_add_input(r, h, "guest", "image sha256", vb, vh))
			return -1;
		cmp_note_input(r, "guest image");
		diffs++;
	}
	if (!b->profile_sha256[0] || !h->profile_sha256[0] || !strcmp(b->profile_sha256, h->profile_sha256))
		return diffs;
	char *tb = NULL, *th = NULL;
	int rb = vl_db_profile_text(db, b->profile_sha256, &tb, err, errlen);
	int rh = rb < 0 ? -1 : vl_db_profile_text(db, h->profile_sha256, &th, err, errlen);
	if (rb < 0 || rh < 0) {
		free(tb);
		return -1;
	}
	struct cmp_kv *kb = NULL, *kh = NULL;
	size_t nb = tb ? cmp_parse_profile(tb, &kb) : 0, nh = th ? cmp_parse_profile(th, &kh) : 0;
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		const struct cmp_kv *src = pass ? kh : kb, *oth = pass ? kb : kh;
		size_t ns = pass ? nh : nb, no = pass ? nb : nh;
		for (size_t i = 0; i < ns; i++) {
			const char *o = cmp_kv_find(oth, no, src[i].key);
			if ((pass && o) || (o && !strcmp(o, src[i].val)))
				continue;
			const char *vb = pass ? NULL : src[i].val, *vh = pass ? src[i].val : o;
			if (!cmp_add_input(r, h, "profile", src[i].key, vb, vh)) {
				rc = -1;
				break;
			}
			char what[220];
			snprintf(what, sizeof what, "%s %s -> %s", src[i].key, vb ? vb : "(none)", vh ? vh : "(none)");
			cmp_note_input(r, what);
			diffs++;
		}
	}
	if (!tb || !th) {   /* the hashes differ but a text is missing: say so rather than nothing */
		if (!cmp_add_input(r, h, "profile", "sha256", b->profile_sha256, h->profile_sha256))
			rc = -1;
		cmp_note_input(r, "profile (text not stored)");
		diffs++;
	}
	free(kb);
	free(kh);
	free(tb);
	free(th);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc ? -1 : diffs;
}

int vl_cmp_run(struct vl_db *db, const struct vl_db_filter *base, const char *base_label,
	       const struct vl_db_filter *head, const char *head_label, const struct vl_cmp_opts *o,
	       struct vl_cmp_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	snprintf(r->base_label, sizeof r->base_label, "%s", base_label ? base_label : "base");
	snprintf(r->head_label, sizeof r->head_label, "%s", head_label ? head_label : "head");
	struct vl_db_filter fb = *base, fh = *head;
	if (o->profile)
		fb.profile = fh.profile = o->profile;
	fb.latest = fh.latest = 0;
	fb.ok_only = fh.ok_only = 0;
	struct vl_db_run *rb = NULL, *rh = NULL;
	size_t nb = 0, nh = 0;
	struct cmp_group *gb = NULL, *gh = NULL;
	size_t ngb = 0, ngh = 0;
	int rc = -1;
	if (vl_db_query_runs(db, &fb, &rb, &nb, err, errlen) || vl_db_query_runs(db, &fh, &rh, &nh, err, errlen))
		goto out;
	if (!nb || !nh) {
		snprintf(err, errlen, "%s selects no runs%s", !nb ? r->base_label : r->head_label,
			 o->profile ? " of that profile" : "");
		goto out;
	}
	if (cmp_group_runs(rb, nb, &gb, &ngb) || cmp_group_runs(rh, nh, &gh, &ngh)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ngb; i++)
		if (gb[i].disagree)
			cmp_warn(r, "base", &gb[i]);
	for (size_t i = 0; i < ngh; i++)
		if (gh[i].disagree)
			cmp_warn(r, "head", &gh[i]);
	for (size_t i = 0; i < ngb; i++) {
		size_t j = cmp_find_group(gh, ngh, gb[i].latest);
		if (j == ngh) {
			if (!cmp_add_only(r, gb[i].latest, VL_CMP_ONLY_BASE))
				goto oom;
			continue;
		}
		r->nkeys++;
		const struct vl_db_run *b = gb[i].latest, *h = gh[j].latest;
		int bok = !strcmp(b->status, "ok"), hok = !strcmp(h->status, "ok");
		size_t first = r->n;
		int inputs = cmp_inputs(db, b, h, r, err, errlen);
		if (inputs < 0)
			goto out;
		r->ninput += inputs > 0;
		if (!bok || !hok) {
			if (bok == hok) {
				r->nsame += inputs == 0;   /* failed on both sides: nothing to compare */
				continue;
			}
			struct vl_cmp_entry *e = cmp_add(r, h);
			if (!e)
				goto oom;
			snprintf(e->kind, sizeof e->kind, "status");
			snprintf(e->name, sizeof e->name, "%s -> %s", b->status, h->status);
			e->verdict = bok ? VL_CMP_REGRESSED : VL_CMP_IMPROVED;
			e->input_changed = inputs > 0;
			continue;
		}
		if (b->model && h->model) {
			int d = cmp_model(db, b, h, o, r, err, errlen);
			if (d < 0)
				goto out;
			if (d == 0 && inputs == 0)
				r->nsame++;
		} else if (cmp_real(db, rb, &gb[i], rh, &gh[j], o, r, err, errlen)) {
			goto out;
		}
		for (size_t k = first; inputs > 0 && k < r->n; k++)
			r->e[k].input_changed = 1;   /* attributed to the changed inputs above */
	}
	for (size_t j = 0; j < ngh; j++)
		if (cmp_find_group(gb, ngb, gh[j].latest) == ngb && !cmp_add_only(r, gh[j].latest, VL_CMP_ONLY_HEAD))
			goto oom;
	if (r->n)
		qsort(r->e, r->n, sizeof *r->e, cmp_entry_order);
	for (size_t i = 0; i < r->n; i++) {
		r->nregressed += r->e[i].verdict == VL_CMP_REGRESSED;
		r->nimproved += r->e[i].verdict == VL_CMP_IMPROVED;
		r->nchanged += r->e[i].verdict == VL_CMP_CHANGED;
	}
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	free(gb);
	free(gh);
	free(rb);
	free(rh);
	if (rc)
		vl_cmp_free(r);
	return rc;
}

void vl_cmp_free(struct vl_cmp_result *r)
{
	free(r->e);
	r->e = NULL;
	r->n = 0;
}

/* ---- output ---- */

static void cmp_metric_label(const struct vl_cmp_entry *e, char *buf, size_t n)
{
	if (!strcmp(e->kind, "run"))
		snprintf(buf, n, "run (%llu iterations)", (unsigned long long)e->iterations);
	else if (!strcmp(e->kind, "cycles_per_iter"))
		snprintf(buf, n, "%s", e->kind);
	else if (!strcmp(e->kind, "status"))
		snprintf(buf, n, "status %s", e->name);
	else if (!strcmp(e->kind, "profile") || !strcmp(e->kind, "guest"))
		snprintf(buf, n, "%s %s", e->kind, e->name);
	else if (e->code >= 0)
		snprintf(buf, n, "%s %s (%lld)", e->kind, e->name, (long long)e->code);
	else if (!strcmp(e->kind, "sample"))
		snprintf(buf, n, "%s (median)", e->name);
	else
		snprintf(buf, n, "%s %s", e->kind, e->name);
}

static void cmp_value(const struct vl_cmp_entry *e, double v, char *buf, size_t n)
{
	if (!strcmp(e->kind, "run") || !strcmp(e->kind, "status"))
		snprintf(buf, n, "-");
	else if (e->verdict == VL_CMP_PROFILE)
		snprintf(buf, n, "%s", v == e->base ? e->vbase : e->vhead);
	else if (e->model)
		snprintf(buf, n, "%.10g", v);   /* exact values: show enough digits to see the change */
	else
		an_fmt_cycles(buf, n, v);
}

static void cmp_change(const struct vl_cmp_entry *e, char *buf, size_t n)
{
	if (!strcmp(e->kind, "run") || !strcmp(e->kind, "status") || (e->verdict == VL_CMP_PROFILE && isnan(e->rel)))
		snprintf(buf, n, "-");
	else if (isnan(e->rel))
		snprintf(buf, n, "new");
	else
		snprintf(buf, n, "%+.2f%%", 100 * e->rel);
}

static void cmp_pval(const struct vl_cmp_entry *e, char *buf, size_t n)
{
	if (isnan(e->p))
		snprintf(buf, n, "%s", "");
	else
		snprintf(buf, n, "p=%.3g n=%zu/%zu", e->p, e->nbase, e->nhead);
}

/* The formatted cells of one entry, as the table and markdown show them. */
struct cmp_cells { char metric[128], vb[112], vh[112], ch[32], pv[64]; };

static void cmp_cells(const struct vl_cmp_entry *e, struct cmp_cells *c)
{
	cmp_metric_label(e, c->metric, sizeof c->metric);
	cmp_value(e, e->base, c->vb, sizeof c->vb);
	cmp_value(e, e->head, c->vh, sizeof c->vh);
	cmp_change(e, c->ch, sizeof c->ch);
	cmp_pval(e, c->pv, sizeof c->pv);
}

static void cmp_summary(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o, int md)
{
	const char *b = md ? "**" : "";
	fprintf(out, "%s%zu regression%s%s beyond %.3g%%, %zu improvement%s, %zu changed counter%s; "
		"%zu of %zu paired configurations identical\n", b, r->nregressed, r->nregressed == 1 ? "" : "s", b,
		100 * o->threshold, r->nimproved, r->nimproved == 1 ? "" : "s", r->nchanged, r->nchanged == 1 ? "" : "s",
		r->nsame, r->nkeys);
	if (r->ninput)
		fprintf(out, "%s%zu paired configuration%s ran with a different profile or guest: %s; "
			"their differences are attributed to that, not to the code%s\n", md ? "\n" : "", r->ninput,
			r->ninput == 1 ? "" : "s", r->inputs, md ? "" : " (marked *)");
	if (r->warnings[0])
		fprintf(out, "%swarning: %s\n", md ? "\n" : "", r->warnings);
}

static void cmp_text(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o, size_t limit)
{
	fprintf(out, "virtlab compare: %s -> %s (threshold %.3g%%, alpha %.3g)\n", r->base_label, r->head_label,
		100 * o->threshold, o->alpha);
	cmp_summary(out, r, o, 0);
	int last = -1;
	size_t shown = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct vl_cmp_entry *e = &r->e[i];
		if (limit && shown >= limit && e->verdict != VL_CMP_REGRESSED) {
			fprintf(out, "... %zu more rows (--limit 0 shows all)\n", r->n - i);
			break;
		}
		if ((int)e->verdict != last) {
			fprintf(out, "\n%s:\n", vl_cmp_verdict_name[e->verdict]);
			last = (int)e->verdict;
		}
		struct cmp_cells c;
		if (!strcmp(e->kind, "run")) {   /* a configuration on one side only */
			fprintf(out, "  %-14s %-10s %-8s %llu iterations\n", e->config, e->workload, e->profile,
				(unsigned long long)e->iterations);
			shown++;
			continue;
		}
		cmp_cells(e, &c);
		fprintf(out, "%c %-14s %-10s %-8s %-40s %14s -> %-14s %9s %s\n",
			e->input_changed && e->verdict != VL_CMP_PROFILE ? '*' : ' ', e->config, e->workload, e->profile,
			c.metric, c.vb, c.vh, c.ch, c.pv);
		shown++;
	}
}

static void cmp_markdown(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o, size_t limit)
{
	fprintf(out, "### virtlab compare: `");
	an_md_str(out, r->base_label);
	fprintf(out, "` → `");
	an_md_str(out, r->head_label);
	fprintf(out, "`\n\n");
	cmp_summary(out, r, o, 1);
	if (!r->n) {
		fprintf(out, "\nNo differences.\n");
		return;
	}
	fprintf(out, "\n| verdict | configuration | workload | profile | metric | base | head | change | test |\n"
		"|---|---|---|---|---|--:|--:|--:|---|\n");
	size_t shown = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct vl_cmp_entry *e = &r->e[i];
		if (limit && shown >= limit && e->verdict != VL_CMP_REGRESSED) {
			fprintf(out, "\n… and %zu more rows (`virtlab compare --limit 0` shows all)\n", r->n - i);
			return;
		}
		struct cmp_cells c;
		cmp_cells(e, &c);
		fprintf(out, "| %s%s%s | ", e->verdict == VL_CMP_REGRESSED ? "**" : "", vl_cmp_verdict_name[e->verdict],
			e->verdict == VL_CMP_REGRESSED ? "**" : "");
		an_md_str(out, e->config);
		fprintf(out, " | ");
		an_md_str(out, e->workload);
		fprintf(out, " | ");
		an_md_str(out, e->profile);
		fprintf(out, " | ");
		an_md_str(out, c.metric);
		fprintf(out, " | %s | %s | %s | %s |\n", c.vb, c.vh, c.ch, c.pv);
		shown++;
	}
}

static void cmp_json(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o)
{
	fprintf(out, "{\"base\":");
	an_json_str(out, r->base_label);
	fprintf(out, ",\"head\":");
	an_json_str(out, r->head_label);
	fprintf(out, ",\"threshold\":");
	an_json_num(out, o->threshold);
	fprintf(out, ",\"alpha\":");
	an_json_num(out, o->alpha);
	fprintf(out, ",\"paired\":%zu,\"identical\":%zu,\"regressions\":%zu,\"improvements\":%zu,\"changed\":%zu,"
		"\"warnings\":", r->nkeys, r->nsame, r->nregressed, r->nimproved, r->nchanged);
	an_json_str(out, r->warnings);
	fprintf(out, ",\"inputs_changed\":%zu,\"inputs\":", r->ninput);
	an_json_str(out, r->inputs);
	fprintf(out, ",\"entries\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct vl_cmp_entry *e = &r->e[i];
		fprintf(out, "%s{\"verdict\":", i ? "," : "");
		an_json_str(out, vl_cmp_verdict_name[e->verdict]);
		fprintf(out, ",\"config\":");
		an_json_str(out, e->config);
		fprintf(out, ",\"workload\":");
		an_json_str(out, e->workload);
		fprintf(out, ",\"profile\":");
		an_json_str(out, e->profile);
		fprintf(out, ",\"iterations\":%llu,\"kind\":", (unsigned long long)e->iterations);
		an_json_str(out, e->kind);
		fprintf(out, ",\"name\":");
		an_json_str(out, e->name);
		fprintf(out, ",\"code\":");
		if (e->code >= 0)
			fprintf(out, "%lld", (long long)e->code);
		else
			fprintf(out, "null");
		fprintf(out, ",\"model\":%s,\"base\":", e->model ? "true" : "false");
		an_json_num(out, e->base);
		fprintf(out, ",\"head\":");
		an_json_num(out, e->head);
		fprintf(out, ",\"rel\":");
		an_json_num(out, e->rel);
		fprintf(out, ",\"p\":");
		an_json_num(out, e->p);
		fprintf(out, ",\"n_base\":%zu,\"n_head\":%zu,\"input_changed\":%s", e->nbase, e->nhead,
			e->input_changed ? "true" : "false");
		if (e->verdict == VL_CMP_PROFILE) {
			fprintf(out, ",\"base_value\":");
			an_json_str(out, e->vbase);
			fprintf(out, ",\"head_value\":");
			an_json_str(out, e->vhead);
		}
		fputc('}', out);
	}
	fprintf(out, "]}\n");
}

static void cmp_csv(FILE *out, const struct vl_cmp_result *r)
{
	fprintf(out, "verdict,config,workload,profile,iterations,kind,name,code,base,head,rel,p,n_base,n_head\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct vl_cmp_entry *e = &r->e[i];
		an_csv_str(out, vl_cmp_verdict_name[e->verdict]);
		fputc(',', out);
		an_csv_str(out, e->config);
		fputc(',', out);
		an_csv_str(out, e->workload);
		fputc(',', out);
		an_csv_str(out, e->profile);
		fprintf(out, ",%llu,", (unsigned long long)e->iterations);
		an_csv_str(out, e->kind);
		fputc(',', out);
		an_csv_str(out, e->name);
		fputc(',', out);
		if (e->code >= 0)
			fprintf(out, "%lld", (long long)e->code);
		if (e->verdict == VL_CMP_PROFILE) {
			fputc(',', out);
			an_csv_str(out, e->vbase);
			fputc(',', out);
			an_csv_str(out, e->vhead);
			fputc(',', out);
		} else {
			fputc(',', out);
			an_csv_num(out, e->base);
			fputc(',', out);
			an_csv_num(out, e->head);
			fputc(',', out);
		}
		an_csv_num(out, e->rel);
		fputc(',', out);
		an_csv_num(out, e->p);
		fprintf(out, ",%zu,%zu\n", e->nbase, e->nhead);
	}
}

void vl_cmp_print(FILE *out, const struct vl_cmp_result *r, const struct vl_cmp_opts *o, enum vl_an_format f)
{
	switch (f) {
	case VL_AN_TEXT:     cmp_text(out, r, o, o->limit); break;
	case VL_AN_MARKDOWN: cmp_markdown(out, r, o, o->limit); break;
	case VL_AN_JSON:     cmp_json(out, r, o); break;
	case VL_AN_CSV:      cmp_csv(out, r); break;
	}
}
