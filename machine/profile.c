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
#include <unistd.h>

#include "virtlab/profile.h"

enum prof_kind { PK_STR, PK_BOOL, PK_U64 };
enum prof_need { PN_ALWAYS, PN_VMX, PN_SVM, PN_EPT, PN_NPT };

struct prof_field {
	const char *sec, *key;
	enum prof_kind kind;
	enum prof_need need;
	size_t off;
};

static const struct prof_field prof_fields[] = {
#define F(s, k, kind, need, doc) { #s, #k, PK_##kind, PN_##need, offsetof(struct vl_profile, s##_##k) },
#include "virtlab/profile_fields.def"
#undef F
};
#define PROF_NFIELDS (sizeof prof_fields / sizeof prof_fields[0])

struct prof_parse {
	struct vl_profile *p;
	bool seen[PROF_NFIELDS];
	char err[256];
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

/* inih callback: returns 0 (stop, error in pp->err) on anything unexpected. */
static int prof_handler(void *user, const char *sec, const char *key, const char *val)
{
	struct prof_parse *pp = user;
	for (size_t i = 0; i < PROF_NFIELDS; i++) {
		const struct prof_field *f = &prof_fields[i];
		if (strcmp(f->sec, sec) || strcmp(f->key, key))
			continue;
		if (pp->seen[i]) {
			snprintf(pp->err, sizeof pp->err, "duplicate [%s] %s", sec, key);
			return 0;
		}
		pp->seen[i] = true;
		char *dst = (char *)pp->p + f->off;
		switch (f->kind) {
		case PK_STR:
			if (strlen(val) >= VL_PROFILE_STR_MAX) {
				snprintf(pp->err, sizeof pp->err, "[%s] %s: value too long", sec, key);
				return 0;
			}
			strcpy(dst, val);
			return 1;
		case PK_BOOL:
			if (prof_parse_bool(val, (bool *)dst)) {
				snprintf(pp->err, sizeof pp->err, "[%s] %s: bad boolean '%s' (use 0 or 1)", sec, key, val);
				return 0;
			}
			return 1;
		case PK_U64:
			if (prof_parse_u64(val, (uint64_t *)dst)) {
				snprintf(pp->err, sizeof pp->err, "[%s] %s: bad number '%s'", sec, key, val);
				return 0;
			}
			return 1;
		}
	}
	snprintf(pp->err, sizeof pp->err, "unknown key [%s] %s", sec, key);
	return 0;
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

/* The file with every comment removed (";" at a line start or after
 * whitespace, to the end of the line), line structure kept. Source comments
 * are long; inih's line buffer is not, and the comments are not data. */
static char *prof_read_stripped(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int c, prev = '\n';
	bool in_comment = false;
	while (buf && (c = fgetc(f)) != EOF) {
		if (c == '\n')
			in_comment = false;
		else if (c == ';' && (prev == '\n' || prev == ' ' || prev == '\t'))
			in_comment = true;
		prev = c;
		if (in_comment)
			continue;
		if (n + 2 > cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
		}
		buf[n++] = (char)c;
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	else
		errno = ENOMEM;
	return buf;
}

int vl_profile_load(const char *name, struct vl_profile *p, char *err, size_t errlen)
{
	struct prof_parse *pp = NULL;
	char path[sizeof p->path];
	const char *base = name;
	int rc = -1;
	bool by_path = strchr(name, '/') != NULL || (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".ini"));

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
	char *text = prof_read_stripped(path);
	if (!text) {
		snprintf(err, errlen, "profile %s: cannot open %s: %s", base, path, strerror(errno));
		return -1;
	}
	pp = calloc(1, sizeof *pp);
	if (!pp) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(p, 0, sizeof *p);
	pp->p = p;
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
		if (!pp->seen[i] && prof_needed(p, prof_fields[i].need)) {
			snprintf(err, errlen, "profile %s: missing [%s] %s", base, prof_fields[i].sec, prof_fields[i].key);
			goto out;
		}
	}
	if (!by_path && strcmp(p->cpu_name, name)) {
		snprintf(err, errlen, "profile %s: [cpu] name is '%s', must match the file name", base, p->cpu_name);
		goto out;
	}
	snprintf(p->path, sizeof p->path, "%s", path);
	rc = 0;
out:
	free(pp);
	return rc;
}
