/* profile.c — load CPU profiles (profiles/<name>.ini) with inih, table-driven
 * from profile_fields.def: every field's section, key, kind and "need" rule
 * comes from that one table, so validation and listing never drift from the
 * struct.
 */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtlab/profile.h"

enum prof_kind { PK_STR, PK_BOOL, PK_U64 };
enum prof_need { PN_ALWAYS, PN_VMX, PN_SVM, PN_EPT, PN_NPT };

struct prof_field {
	const char *sec, *key, *doc;
	enum prof_kind kind;
	enum prof_need need;
	size_t off;
};

static const struct prof_field prof_fields[] = {
#define F(s, k, kind, need, doc) { #s, #k, doc, PK_##kind, PN_##need, offsetof(struct vl_profile, s##_##k) },
#include "virtlab/profile_fields.def"
#undef F
};
#define PROF_NFIELDS (sizeof prof_fields / sizeof prof_fields[0])
_Static_assert(PROF_NFIELDS == VL_PF_COUNT, "enum vl_pf follows profile_fields.def");

const char *const vl_pf_key[VL_PF_COUNT] = {
#define F(s, k, kind, need, doc) [VL_PF_##s##_##k] = #s "." #k,
#include "virtlab/profile_fields.def"
#undef F
};

/* The parallel range table; a U64 field without a line is a cycle cost. */
static const struct { const char *sec, *key; uint64_t min, max; } prof_ranges[] = {
#define R(s, k, lo, hi) { #s, #k, lo, hi },
#include "virtlab/profile_ranges.def"
#undef R
};

static void prof_range(size_t i, uint64_t *min, uint64_t *max)
{
	*min = 0;
	*max = VL_PROFILE_COST_MAX;
	for (size_t r = 0; r < sizeof prof_ranges / sizeof prof_ranges[0]; r++)
		if (!strcmp(prof_ranges[r].sec, prof_fields[i].sec) && !strcmp(prof_ranges[r].key, prof_fields[i].key)) {
			*min = prof_ranges[r].min;
			*max = prof_ranges[r].max;
		}
}

/* The derivation rules (profiles/README.md "Provenance"): besides + - * /,
 * parentheses, numbers and field references, a derived value may call these.
 * Stated once here, applied only by prof_eval. */
enum prof_rule_id { RULE_NS, RULE_US, RULE_SAME, RULE_SCALED };
static const struct { const char *name, *doc; } prof_rules[] = {
	[RULE_NS] = { "ns", "ns(T): T nanoseconds in cycles at this profile's [cpu] mhz (T * mhz / 1000)" },
	[RULE_US] = { "us", "us(T): T microseconds in cycles at this profile's [cpu] mhz (T * mhz)" },
	[RULE_SAME] = { "same", "same(PROFILE): this field's value on profile PROFILE, with its provenance" },
	[RULE_SCALED] = { "scaled", "scaled(PROFILE, SECTION.KEY): this field's value on PROFILE times the ratio "
				    "SECTION.KEY has here to there (a cost that scales like that one)" },
};
#define PROF_NRULES (sizeof prof_rules / sizeof prof_rules[0])

size_t vl_profile_nrules(void) { return PROF_NRULES; }
const char *vl_profile_rule(size_t i) { return i < PROF_NRULES ? prof_rules[i].doc : NULL; }

/* Per field: what its line said. */
struct prof_fstate {
	bool seen;             /* inih delivered it */
	int line;              /* its line in the file (0: not found by the scan) */
	bool has_prov;
	enum vl_prov tag;
	bool on_est;           /* derived from an estimate (after evaluation) */
	int eval;              /* derived: 0 pending, 1 in progress, 2 done */
	char expr[192];        /* derived: the expression (the value text) */
	char note[512];        /* text after the tag */
};

#define PROF_MAX_DEPTH 4   /* profile -> profile references (same(), P:sec.key) */

struct prof_parse {
	struct vl_profile *p;
	struct prof_fstate f[PROF_NFIELDS];
	int depth;
	char err[512];
};

static int prof_parse_bool(const char *v, bool *out)
{
	static const char *const t[] = { "1", "yes", "true", "on" }, *const f[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, t[i])) { *out = true; return 0; }
		if (!strcasecmp(v, f[i])) { *out = false; return 0; }
	}
	return -1;
}

static int prof_parse_u64(const char *v, uint64_t *out)
{
	char *end;
	if (*v == '\0' || *v == '-' || *v == '+')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || *end != '\0')
		return -1;
	*out = x;
	return 0;
}

static ssize_t prof_find(const char *sec, const char *key)
{
	for (size_t i = 0; i < PROF_NFIELDS; i++)
		if (!strcmp(prof_fields[i].sec, sec) && !strcmp(prof_fields[i].key, key))
			return (ssize_t)i;
	return -1;
}

static const char *const prov_tags[] = { [VL_PROV_SOURCE] = "source:", [VL_PROV_DERIVED] = "derived:",
					 [VL_PROV_ESTIMATE] = "estimate:", [VL_PROV_UNUSED] = "unused:" };
#define PROV_NTAGS (sizeof prov_tags / sizeof prov_tags[0])

/* Copy [b, e) trimmed of blanks into dst (truncated to n). */
static void prof_trim_copy(char *dst, size_t n, const char *b, const char *e)
{
	while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	size_t l = (size_t)(e - b) < n - 1 ? (size_t)(e - b) : n - 1;
	memcpy(dst, b, l);
	dst[l] = '\0';
}

/* The provenance comments, which inih never sees (prof_read_stripped drops
 * them): for each "key = value ; TAG: text" line of a known field, its line
 * number, tag and text. A comment starts at ';' at a line start or after a
 * blank, as in prof_read_stripped. Duplicates keep the first (inih reports
 * them). */
static void prof_scan_provenance(const char *raw, struct prof_parse *pp)
{
	char sec[64] = "";
	int lineno = 0;
	for (const char *line = raw; line && *line;) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		lineno++;
		const char *s = line;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s < end && *s == '[') {
			const char *c = memchr(s, ']', (size_t)(end - s));
			prof_trim_copy(sec, sizeof sec, s + 1, c ? c : end);
		} else if (s < end && *s != ';' && *s != '#') {
			const char *cm = NULL;
			for (const char *c = s; c < end && !cm; c++)
				if (*c == ';' && (c[-1] == ' ' || c[-1] == '\t'))
					cm = c;
			const char *vend = cm ? cm : end, *eq = s;
			while (eq < vend && *eq != '=' && *eq != ':')
				eq++;
			char key[64];
			prof_trim_copy(key, sizeof key, s, eq);
			ssize_t i = eq < vend ? prof_find(sec, key) : -1;
			if (i >= 0 && !pp->f[i].line) {
				struct prof_fstate *f = &pp->f[i];
				f->line = lineno;
				if (cm) {
					char text[sizeof f->note + 16];
					prof_trim_copy(text, sizeof text, cm + 1, end);
					for (size_t t = 0; t < PROV_NTAGS; t++) {
						size_t tl = strlen(prov_tags[t]);
						if (!strncmp(text, prov_tags[t], tl)) {
							f->tag = (enum vl_prov)t;
							prof_trim_copy(f->note, sizeof f->note, text + tl, text + strlen(text));
							f->has_prov = strlen(f->note) > 3;
						}
					}
				}
			}
		}
		line = eol ? eol + 1 : NULL;
	}
}

/* inih callback: returns 0 (stop, error in pp->err) on anything unexpected. */
static int prof_handler(void *user, const char *sec, const char *key, const char *val)
{
	struct prof_parse *pp = user;
	ssize_t idx = prof_find(sec, key);
	if (idx < 0) {
		snprintf(pp->err, sizeof pp->err, "unknown key [%s] %s", sec, key);
		return 0;
	}
	const struct prof_field *f = &prof_fields[idx];
	struct prof_fstate *fs = &pp->f[idx];
	if (fs->seen) {
		snprintf(pp->err, sizeof pp->err, "duplicate [%s] %s", sec, key);
		return 0;
	}
	fs->seen = true;
	if (fs->has_prov && fs->tag == VL_PROV_DERIVED && f->kind != PK_U64) {
		snprintf(pp->err, sizeof pp->err, "[%s] %s: only a number can be derived", sec, key);
		return 0;
	}
	char *dst = (char *)pp->p + f->off;
	switch (f->kind) {
	case PK_STR:
		if (strlen(val) >= VL_PROFILE_STR_MAX) {
			snprintf(pp->err, sizeof pp->err, "[%s] %s: value too long", sec, key);
			return 0;
		}
		strcpy(dst, val);
		break;
	case PK_BOOL:
		if (prof_parse_bool(val, (bool *)dst)) {
			snprintf(pp->err, sizeof pp->err, "[%s] %s: bad boolean '%s' (use 0 or 1)", sec, key, val);
			return 0;
		}
		break;
	case PK_U64: {
		uint64_t v, lo, hi;
		if (prof_parse_u64(val, &v) == 0) {
			prof_range((size_t)idx, &lo, &hi);
			if (v < lo || v > hi) {
				snprintf(pp->err, sizeof pp->err, "[%s] %s = %s out of range [%llu, %llu]", sec, key, val,
					 (unsigned long long)lo, (unsigned long long)hi);
				return 0;
			}
			if (fs->has_prov && fs->tag == VL_PROV_DERIVED) {
				snprintf(pp->err, sizeof pp->err,
					 "[%s] %s: a derived value is its rule, not a number (write the expression)", sec, key);
				return 0;
			}
			*(uint64_t *)dst = v;
		} else if (fs->has_prov && fs->tag == VL_PROV_DERIVED && strlen(val) < sizeof fs->expr) {
			strcpy(fs->expr, val);   /* evaluated once every value is known */
		} else {
			snprintf(pp->err, sizeof pp->err, "[%s] %s: bad number '%s'", sec, key, val);
			return 0;
		}
		break;
	}
	}
	if (!fs->has_prov) {
		snprintf(pp->err, sizeof pp->err,
			 "[%s] %s: no provenance (end the line with '; source: ...', '; derived: ...' or '; estimate: ...')",
			 sec, key);
		return 0;
	}
	return 1;
}

static bool prof_needed(const struct vl_profile *p, enum prof_need n)
{
	switch (n) {
	case PN_ALWAYS: return true;
	case PN_VMX: return p->features_vmx;
	case PN_SVM: return p->features_svm;
	case PN_EPT: return p->features_ept;
	case PN_NPT: return p->features_npt;
	}
	return true;
}

/* $VIRTLAB_PROFILES; else walk up from the executable's directory looking for
 * profiles/<default>.ini (bin/virtlab, build/san/bin/virtlab and test
 * binaries under build/X/tests/area/ all find the repository's profiles/)
 * or share/virtlab/profiles/<default>.ini (installed: PREFIX/bin/virtlab);
 * else ./profiles. */
const char *vl_profile_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("VIRTLAB_PROFILES");
	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		for (int up = 0; slash && up < 6; up++) {
			*slash = '\0';
			char cand[PATH_MAX], probe[PATH_MAX + 32];
			if ((size_t)snprintf(cand, sizeof cand, "%s/profiles", exe[0] ? exe : "") >= sizeof cand)
				break;
			snprintf(probe, sizeof probe, "%s/%s.ini", cand, VL_DEFAULT_PROFILE);
			if (access(probe, R_OK) == 0) {
				snprintf(dir, sizeof dir, "%s", cand);
				return dir;
			}
			/* installed: PREFIX/bin/virtlab -> PREFIX/share/virtlab/profiles */
			if ((size_t)snprintf(cand, sizeof cand, "%s/share/virtlab/profiles", exe) < sizeof cand) {
				snprintf(probe, sizeof probe, "%s/%s.ini", cand, VL_DEFAULT_PROFILE);
				if (access(probe, R_OK) == 0) {
					snprintf(dir, sizeof dir, "%s", cand);
					return dir;
				}
			}
			slash = strrchr(exe, '/');
		}
	}
	return "profiles";
}

static int prof_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t vl_profile_list(char ***names)
{
	size_t n = 0, cap = 0;
	char **v = NULL;
	DIR *d = opendir(vl_profile_dir());
	*names = NULL;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= 4 || strcmp(e->d_name + len - 4, ".ini") || e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				break;
			v = nv;
		}
		v[n] = strndup(e->d_name, len - 4);
		if (v[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, prof_cmp);
	*names = v;
	return n;
}

void vl_profile_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* "unknown profile 'x' (valid: a, b, c)" */
static void prof_unknown(const char *name, char *err, size_t errlen)
{
	char **v;
	size_t n = vl_profile_list(&v);
	int off = snprintf(err, errlen, "unknown profile '%s' (valid:", name);
	for (size_t i = 0; i < n && off > 0 && (size_t)off < errlen; i++)
		off += snprintf(err + off, errlen - off, "%s %s", i ? "," : "", v[i]);
	if (off > 0 && (size_t)off < errlen)
		snprintf(err + off, errlen - off, "%s)", n ? "" : " none found in the profile directory");
	vl_profile_list_free(v, n);
}

#define PROF_FILE_MAX (1u << 20)   /* a profile is a few KiB; refuse anything near this */

/* The file with every comment removed (";" at a line start or after
 * whitespace, to the end of the line), line structure kept. Source comments
 * are long; inih's line buffer is not, and the comments are not data (the
 * provenance scan reads them from *rawp, the file as it is; free both).
 * NULL with errno set on failure. */
static char *prof_read_stripped(const char *path, char **rawp)
{
	*rawp = NULL;
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	size_t cap = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < PROF_FILE_MAX
			     ? (size_t)st.st_size + 1 : PROF_FILE_MAX + 1;
	char *raw = malloc(cap + 1);
	size_t n = raw ? fread(raw, 1, cap, f) : 0;
	int rerr = ferror(f);
	fclose(f);
	if (!raw || rerr || n > PROF_FILE_MAX || (n == cap && cap <= PROF_FILE_MAX)) {
		free(raw);
		errno = !raw ? ENOMEM : rerr ? EIO : EFBIG;
		return NULL;
	}
	raw[n] = '\0';
	char *buf = malloc(n + 1);
	if (!buf) {
		free(raw);
		errno = ENOMEM;
		return NULL;
	}
	size_t o = 0;
	int prev = '\n';
	bool in_comment = false;
	for (size_t i = 0; i < n; i++) {
		char c = raw[i];
		if (c == '\n')
			in_comment = false;
		else if (c == ';' && (prev == '\n' || prev == ' ' || prev == '\t'))
			in_comment = true;
		prev = c;
		if (!in_comment)
			buf[o++] = c;
	}
	buf[o] = '\0';
	*rawp = raw;
	return buf;
}

static int prof_load(const char *name, struct vl_profile *p, int depth, bool lazy, struct prof_parse **ppo,
		     char *err, size_t errlen);

/* ---- derivations: a tiny recursive-descent evaluator ----
 * expr := term {('+'|'-') term};  term := factor {('*'|'/') factor}
 * factor := NUMBER | '(' expr ')' | RULE '(' args ')' | [PROFILE ':'] SECTION '.' KEY
 * Words run over [A-Za-z0-9_.:-], so a binary minus between two references
 * needs blanks around it ("a.b - c.d"; "a.b-c.d" is one unknown name). */
struct prof_ev {
	const char *s;
	struct prof_parse *pp;
	const char *base;      /* the profile's name, for messages */
	size_t self;           /* the field being derived (same() reads it elsewhere) */
	bool on_est;           /* some input is an estimate */
	char *err;
	size_t errlen;
	bool failed;
};

static double prof_ev_expr(struct prof_ev *e);
static int prof_eval_field(struct prof_parse *pp, size_t i, const char *base, char *err, size_t errlen);

static double prof_ev_fail(struct prof_ev *e, const char *fmt, const char *arg)
{
	if (!e->failed)
		snprintf(e->err, e->errlen, fmt, arg);
	e->failed = true;
	return 0;
}

static void prof_ev_blank(struct prof_ev *e)
{
	while (*e->s == ' ' || *e->s == '\t')
		e->s++;
}

static bool prof_ev_word(struct prof_ev *e, char *w, size_t n)
{
	prof_ev_blank(e);
	size_t l = 0;
	if (!((*e->s >= 'a' && *e->s <= 'z') || (*e->s >= 'A' && *e->s <= 'Z')))
		return false;
	while ((*e->s >= 'a' && *e->s <= 'z') || (*e->s >= 'A' && *e->s <= 'Z') || (*e->s >= '0' && *e->s <= '9') ||
	       *e->s == '_' || *e->s == '.' || *e->s == ':' || *e->s == '-') {
		if (l + 1 < n)
			w[l++] = *e->s;
		e->s++;
	}
	w[l] = '\0';
	return true;
}

static bool prof_ev_eat(struct prof_ev *e, char c)
{
	prof_ev_blank(e);
	if (*e->s != c)
		return false;
	e->s++;
	return true;
}

static bool prof_is_est(const struct prof_fstate *f)
{
	/* an unused value is no figure: a value derived from it is an estimate */
	return f->tag == VL_PROV_ESTIMATE || f->tag == VL_PROV_UNUSED || (f->tag == VL_PROV_DERIVED && f->on_est);
}

static double prof_field_num(const struct vl_profile *p, size_t i)
{
	const char *src = (const char *)p + prof_fields[i].off;
	return prof_fields[i].kind == PK_BOOL ? (*(const bool *)src ? 1.0 : 0.0) : (double)*(const uint64_t *)src;
}

/* Field i of another profile: parsed, and only field i (with what it
 * needs) derived there, so that profiles may refer to each other's fields as
 * long as no field depends on itself. */
static double prof_ev_other(struct prof_ev *e, const char *prof, size_t i)
{
	if (e->pp->depth + 1 >= PROF_MAX_DEPTH)
		return prof_ev_fail(e, "derivation chain through profile '%s' too deep (a cycle between profiles?)", prof);
	struct vl_profile *o = calloc(1, sizeof *o);
	struct prof_parse *opp = NULL;
	char oerr[512];
	if (!o)
		return prof_ev_fail(e, "%s", "out of memory");
	double v = 0;
	if (prof_load(prof, o, e->pp->depth + 1, true, &opp, oerr, sizeof oerr)) {
		prof_ev_fail(e, "%s", oerr);
	} else if (!opp->f[i].seen) {
		prof_ev_fail(e, "profile '%s' lacks the referenced value", prof);
	} else if (opp->f[i].tag == VL_PROV_DERIVED && prof_eval_field(opp, i, prof, oerr, sizeof oerr)) {
		char msg[600];
		snprintf(msg, sizeof msg, "profile %.60s: %.200s:%d: %.300s", prof, o->path, opp->f[i].line, oerr);
		prof_ev_fail(e, "%s", msg);
	} else {
		v = prof_field_num(o, i);
		e->on_est |= prof_is_est(&opp->f[i]);
	}
	free(opp);
	free(o);
	return v;
}

/* A reference "sec.key" (this profile) or "prof:sec.key". */
static double prof_ev_ref(struct prof_ev *e, const char *w)
{
	char prof[64] = "", sec[64], key[64];
	const char *colon = strchr(w, ':'), *f = colon ? colon + 1 : w, *dot = strchr(f, '.');
	if (colon)
		prof_trim_copy(prof, sizeof prof, w, colon);
	if (!dot || (colon && !prof[0]))
		return prof_ev_fail(e, "unknown field '%s' (write SECTION.KEY or PROFILE:SECTION.KEY)", w);
	prof_trim_copy(sec, sizeof sec, f, dot);
	prof_trim_copy(key, sizeof key, dot + 1, dot + strlen(dot));
	ssize_t i = prof_find(sec, key);
	if (i < 0 || prof_fields[i].kind == PK_STR)
		return prof_ev_fail(e, "unknown field '%s'", w);
	if (colon)
		return prof_ev_other(e, prof, (size_t)i);
	struct prof_fstate *fs = &e->pp->f[i];
	if (!fs->seen)
		return prof_ev_fail(e, "uses '%s', which this profile lacks", w);
	if (fs->has_prov && fs->tag == VL_PROV_DERIVED && fs->eval != 2) {
		char ferr[512];
		if (fs->eval == 1)
			return prof_ev_fail(e, "derivation cycle through '%s'", w);
		if (prof_eval_field(e->pp, (size_t)i, e->base, ferr, sizeof ferr))
			return prof_ev_fail(e, "%s", ferr);
	}
	e->on_est |= prof_is_est(fs);
	return prof_field_num(e->pp->p, (size_t)i);
}

static double prof_ev_factor(struct prof_ev *e)
{
	prof_ev_blank(e);
	if (e->failed)
		return 0;
	if (prof_ev_eat(e, '(')) {
		double v = prof_ev_expr(e);
		if (!prof_ev_eat(e, ')'))
			return prof_ev_fail(e, "%s", "missing ')'");
		return v;
	}
	if ((*e->s >= '0' && *e->s <= '9') || *e->s == '.') {
		char num[32];
		size_t l = 0;
		int dots = 0;
		while (((*e->s >= '0' && *e->s <= '9') || *e->s == '.') && l + 1 < sizeof num) {
			dots += *e->s == '.';
			num[l++] = *e->s++;
		}
		num[l] = '\0';
		if (dots > 1 || !strcmp(num, "."))
			return prof_ev_fail(e, "bad number '%s'", num);
		return strtod(num, NULL);
	}
	char w[128];
	if (!prof_ev_word(e, w, sizeof w))
		return prof_ev_fail(e, "unexpected '%.1s'", *e->s ? e->s : "end");
	if (!prof_ev_eat(e, '('))
		return prof_ev_ref(e, w);
	size_t r = 0;
	while (r < PROF_NRULES && strcmp(prof_rules[r].name, w))
		r++;
	if (r == PROF_NRULES)
		return prof_ev_fail(e, "unknown rule '%s' (valid: ns, us, same, scaled)", w);
	double v = 0;
	if (r == RULE_SAME || r == RULE_SCALED) {
		char prof[64], ref[128];
		if (!prof_ev_word(e, prof, sizeof prof))
			return prof_ev_fail(e, "%s() takes a profile name", prof_rules[r].name);
		v = prof_ev_other(e, prof, e->self);
		if (r == RULE_SCALED) {
			if (!prof_ev_eat(e, ',') || !prof_ev_word(e, ref, sizeof ref) || strchr(ref, ':'))
				return prof_ev_fail(e, "%s", "scaled() takes a profile name and a field SECTION.KEY");
			char there[200];
			snprintf(there, sizeof there, "%s:%s", prof, ref);
			double here_v = prof_ev_ref(e, ref), there_v = prof_ev_ref(e, there);
			if (!e->failed && there_v == 0)
				return prof_ev_fail(e, "scaled(): '%s' is 0", there);
			if (!e->failed)
				v = v * here_v / there_v;
		}
	} else {
		double t = prof_ev_expr(e);
		ssize_t mhz = prof_find("cpu", "mhz");
		e->on_est |= prof_is_est(&e->pp->f[mhz]);
		v = t * prof_field_num(e->pp->p, (size_t)mhz) / (r == RULE_NS ? 1000.0 : 1.0);
	}
	if (!prof_ev_eat(e, ')'))
		return prof_ev_fail(e, "%s", "missing ')'");
	return v;
}

static double prof_ev_term(struct prof_ev *e)
{
	double v = prof_ev_factor(e);
	for (;;) {
		if (prof_ev_eat(e, '*')) {
			v *= prof_ev_factor(e);
		} else if (prof_ev_eat(e, '/')) {
			double d = prof_ev_factor(e);
			if (d == 0)
				return prof_ev_fail(e, "%s", "division by zero");
			v /= d;
		} else {
			return v;
		}
	}
}

static double prof_ev_expr(struct prof_ev *e)
{
	double v = prof_ev_term(e);
	for (;;) {
		if (prof_ev_eat(e, '+'))
			v += prof_ev_term(e);
		else if (prof_ev_eat(e, '-'))
			v -= prof_ev_term(e);
		else
			return v;
	}
}

/* Evaluate derived field i of pp once (its inputs first), range-check the
 * result and store it. 0, or -1 with "[sec] key: derived: reason" in err. */
static int prof_eval_field(struct prof_parse *pp, size_t i, const char *base, char *err, size_t errlen)
{
	struct prof_fstate *fs = &pp->f[i];
	const struct prof_field *f = &prof_fields[i];
	char why[400] = "";
	fs->eval = 1;
	struct prof_ev e = { .s = fs->expr, .pp = pp, .base = base, .self = i, .err = why, .errlen = sizeof why };
	double v = prof_ev_expr(&e);
	prof_ev_blank(&e);
	if (!e.failed && *e.s)
		prof_ev_fail(&e, "unexpected '%s'", e.s);
	if (e.failed) {
		snprintf(err, errlen, "[%s] %s: derived: %s", f->sec, f->key, why);
		return -1;
	}
	uint64_t lo, hi;
	prof_range(i, &lo, &hi);
	if (!(v >= 0 && v < 18446744073709551616.0) || (uint64_t)(v + 0.5) < lo || (uint64_t)(v + 0.5) > hi) {
		snprintf(err, errlen, "[%s] %s = %s = %.6g out of range [%llu, %llu]", f->sec, f->key, fs->expr, v,
			 (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*(uint64_t *)((char *)pp->p + f->off) = (uint64_t)(v + 0.5);   /* round half up */
	fs->on_est = e.on_est;
	fs->eval = 2;
	return 0;
}

/* TLB geometry the model can build: ways divide entries and do not exceed
 * them (an empty L2 keeps any ways). 0 or -1 with the reason in err. */
static int prof_check_tlbs(const struct vl_profile *p, char *err, size_t errlen)
{
	const struct { const char *name; uint64_t entries, ways; } t[] = {
		{ "l1i", p->tlb_l1i_entries, p->tlb_l1i_ways },
		{ "l1d", p->tlb_l1d_entries, p->tlb_l1d_ways },
		{ "l2", p->tlb_l2_entries, p->tlb_l2_ways },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (t[i].entries == 0)
			continue;
		if (t[i].ways > t[i].entries || t[i].entries % t[i].ways) {
			snprintf(err, errlen,
				 "[tlb] %s_entries = %llu with %s_ways = %llu: entries must be a multiple of ways, ways <= entries",
				 t[i].name, (unsigned long long)t[i].entries, t[i].name, (unsigned long long)t[i].ways);
			return -1;
		}
	}
	return 0;
}

/* `unused:` only where the model provably ignores the value: a second-level
 * TLB's associativity when the profile has no second-level TLB (tlb_init
 * builds nothing for 0 entries). 0 or -1 with the reason in err. */
static int prof_check_unused(const struct prof_parse *pp, const struct vl_profile *p, char *err, size_t errlen)
{
	for (size_t i = 0; i < PROF_NFIELDS; i++) {
		if (!pp->f[i].seen || pp->f[i].tag != VL_PROV_UNUSED)
			continue;
		const struct prof_field *f = &prof_fields[i];
		if (!strcmp(f->sec, "tlb") && !strcmp(f->key, "l2_ways") && p->tlb_l2_entries == 0)
			continue;
		snprintf(err, errlen,
			 "%d: [%s] %s: 'unused:' only for a value the model does not read (here: tlb.l2_ways with tlb.l2_entries = 0)",
			 pp->f[i].line, f->sec, f->key);
		return -1;
	}
	return 0;
}

/* Load profile `name` at reference depth `depth`; on success *ppo (if given)
 * receives the per-field parse state (free it). `lazy` (a profile another one
 * refers to): parse and check presence only; derived values stay pending for
 * the referring evaluation, and the TLB geometry is not checked. */
static int prof_load(const char *name, struct vl_profile *p, int depth, bool lazy, struct prof_parse **ppo,
		     char *err, size_t errlen)
{
	struct prof_parse *pp = NULL;
	char path[sizeof p->path];
	const char *base = name;
	int rc = -1;
	bool by_path = strchr(name, '/') != NULL || (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".ini"));

	if (ppo)
		*ppo = NULL;
	if (by_path) {
		snprintf(path, sizeof path, "%s", name);
		const char *s = strrchr(name, '/');
		base = s ? s + 1 : name;
	} else {
		bool ok = *name != '\0';
		for (const char *c = name; *c; c++)
			if (!(( *c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
				ok = false;
		if ((size_t)snprintf(path, sizeof path, "%s/%s.ini", vl_profile_dir(), name) >= sizeof path)
			ok = false;
		if (!ok || access(path, R_OK) != 0) {
			prof_unknown(name, err, errlen);
			return -1;
		}
	}
	char *raw = NULL, *text = prof_read_stripped(path, &raw);
	if (!text) {
		snprintf(err, errlen, "profile %s: cannot open %s: %s", base, path, strerror(errno));
		return -1;
	}
	pp = calloc(1, sizeof *pp);
	if (!pp) {
		free(text);
		free(raw);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(p, 0, sizeof *p);
	pp->p = p;
	pp->depth = depth;
	prof_scan_provenance(raw, pp);
	free(raw);
	int line = ini_parse_string(text, prof_handler, pp);
	free(text);
	if (line != 0) {
		if (pp->err[0])
			snprintf(err, errlen, "profile %s: %s:%d: %s", base, path, line, pp->err);
		else
			snprintf(err, errlen, "profile %s: %s:%d: syntax error", base, path, line);
		goto out;
	}
	for (size_t i = 0; i < PROF_NFIELDS; i++) {
		if (!pp->f[i].seen && prof_needed(p, prof_fields[i].need)) {
			snprintf(err, errlen, "profile %s: missing [%s] %s", base, prof_fields[i].sec, prof_fields[i].key);
			goto out;
		}
	}
	if (!by_path && strcmp(p->cpu_name, name)) {
		snprintf(err, errlen, "profile %s: [cpu] name is '%s', must match the file name", base, p->cpu_name);
		goto out;
	}
	for (size_t i = 0; i < PROF_NFIELDS && !lazy; i++) {
		char ferr[512];
		if (pp->f[i].seen && pp->f[i].tag == VL_PROV_DERIVED && pp->f[i].eval != 2 &&
		    prof_eval_field(pp, i, base, ferr, sizeof ferr)) {
			snprintf(err, errlen, "profile %s: %s:%d: %s", base, path, pp->f[i].line, ferr);
			goto out;
		}
	}
	char gerr[256];
	if (!lazy && prof_check_unused(pp, p, gerr, sizeof gerr)) {
		snprintf(err, errlen, "profile %s: %s:%s", base, path, gerr);
		goto out;
	}
	if (!lazy && prof_check_tlbs(p, gerr, sizeof gerr)) {
		snprintf(err, errlen, "profile %s: %s: %s", base, path, gerr);
		goto out;
	}
	snprintf(p->path, sizeof p->path, "%s", path);
	rc = 0;
	if (ppo) {
		*ppo = pp;
		pp = NULL;
	}
out:
	free(pp);
	return rc;
}

int vl_profile_load(const char *name, struct vl_profile *p, char *err, size_t errlen)
{
	return prof_load(name, p, 0, false, NULL, err, errlen);
}

const char *vl_profile_class(const struct vl_profile_value *v)
{
	if (v->prov == VL_PROV_SOURCE)
		return "sourced";
	if (v->prov == VL_PROV_DERIVED && !v->on_estimate)
		return "derived";
	if (v->prov == VL_PROV_UNUSED)
		return "n/a";
	return "estimated";
}

int vl_profile_describe(const char *name, struct vl_profile *p, struct vl_profile_value **vals, size_t *n,
			char *err, size_t errlen)
{
	struct prof_parse *pp;
	*vals = NULL;
	*n = 0;
	if (prof_load(name, p, 0, false, &pp, err, errlen))
		return -1;
	struct vl_profile_value *v = calloc(PROF_NFIELDS, sizeof *v);
	if (!v) {
		free(pp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < PROF_NFIELDS; i++) {
		const struct prof_field *f = &prof_fields[i];
		const struct prof_fstate *fs = &pp->f[i];
		const char *src = (const char *)p + f->off;
		v[i].section = f->sec;
		v[i].key = f->key;
		v[i].doc = f->doc;
		v[i].present = fs->seen;
		v[i].prov = fs->tag;
		v[i].on_estimate = fs->tag == VL_PROV_DERIVED && fs->on_est;
		snprintf(v[i].expr, sizeof v[i].expr, "%s", fs->expr);
		snprintf(v[i].note, sizeof v[i].note, "%s", fs->note);
		v[i].ranged = f->kind == PK_U64;
		if (v[i].ranged)
			prof_range(i, &v[i].min, &v[i].max);
		if (!fs->seen)
			continue;
		switch (f->kind) {
		case PK_STR: snprintf(v[i].value, sizeof v[i].value, "%s", src); break;
		case PK_BOOL: snprintf(v[i].value, sizeof v[i].value, "%d", *(const bool *)src ? 1 : 0); break;
		case PK_U64: snprintf(v[i].value, sizeof v[i].value, "%llu", (unsigned long long)*(const uint64_t *)src); break;
		}
	}
	free(pp);
	*vals = v;
	*n = PROF_NFIELDS;
	return 0;
}

int vl_profile_classes(const struct vl_profile *p, const char *cls[VL_PF_COUNT], char *err, size_t errlen)
{
	struct vl_profile file;
	struct vl_profile_value *v;
	size_t n;
	if (vl_profile_describe(p->path, &file, &v, &n, err, errlen))
		return -1;
	for (size_t i = 0; i < PROF_NFIELDS && i < n; i++) {
		const struct prof_field *f = &prof_fields[i];
		const char *a = (const char *)p + f->off, *b = (const char *)&file + f->off;
		bool same;
		switch (f->kind) {
		case PK_STR: same = !strcmp(a, b); break;
		case PK_BOOL: same = *(const bool *)a == *(const bool *)b; break;
		default: same = *(const uint64_t *)a == *(const uint64_t *)b; break;
		}
		cls[i] = !v[i].present ? "" : !same ? "set" : vl_profile_class(&v[i]);
	}
	free(v);
	return 0;
}
