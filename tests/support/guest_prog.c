/* guest_prog.c — boot the test guests of tests/machine/progs and read
 * their symbols and logs (see guest_prog.h). */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_prog.h"

#ifndef VL_PROGS_DIR
#define VL_PROGS_DIR "build/guest/progs"
#endif

const char *gp_path(const char *prog, char *buf, size_t n)
{
	const char *dir = getenv("VL_PROGS_DIR");
	snprintf(buf, n, "%s/%s.elf", dir && *dir ? dir : VL_PROGS_DIR, prog);
	return buf;
}

struct vl_machine *gp_boot(const struct vl_profile *p, const char *prog, const char *cmdline, uint64_t ram_mb)
{
	struct vl_machine_config cfg = { .prof = p, .ram_mb = ram_mb ? ram_mb : 16, .monitor_mb = 1 };
	char err[256], path[512];
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	if (!m) {
		fprintf(stderr, "gp_boot: machine: %s\n", err);
		return NULL;
	}
	if (vl_machine_load_elf(m, gp_path(prog, path, sizeof path), cmdline ? cmdline : "", err, sizeof err)) {
		fprintf(stderr, "gp_boot: %s: %s\n", path, err);
		vl_machine_free(m);
		return NULL;
	}
	return m;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (b = malloc((size_t)n)) && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	*len = b ? (size_t)n : 0;
	return b;
}

uint64_t gp_sym(const char *prog, const char *name)
{
	char path[512];
	size_t len;
	uint8_t *b = slurp(gp_path(prog, path, sizeof path), &len);
	uint64_t val = 0;
	bool found = false;
	if (!b || len < sizeof(Elf64_Ehdr))
		goto out;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
	if (eh->e_shoff == 0 || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
		goto out;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
	for (unsigned s = 0; s < eh->e_shnum && !found; s++) {
		if (sh[s].sh_type != SHT_SYMTAB || sh[s].sh_link >= eh->e_shnum)
			continue;
		const Elf64_Shdr *st = &sh[sh[s].sh_link];
		if (sh[s].sh_offset + sh[s].sh_size > len || st->sh_offset + st->sh_size > len)
			continue;
		const Elf64_Sym *sym = (const Elf64_Sym *)(b + sh[s].sh_offset);
		for (size_t k = 0; k < sh[s].sh_size / sizeof *sym; k++) {
			if (sym[k].st_name >= st->sh_size)
				continue;
			const char *nm = (const char *)b + st->sh_offset + sym[k].st_name;
			if (strnlen(nm, st->sh_size - sym[k].st_name) < st->sh_size - sym[k].st_name && !strcmp(nm, name)) {
				val = sym[k].st_value;
				found = true;
				break;
			}
		}
	}
out:
	free(b);
	if (!found) {
		fprintf(stderr, "gp_sym: no symbol '%s' in %s\n", name, path);
		abort();
	}
	return val;
}

uint64_t gp_rd64(struct vl_machine *m, uint64_t pa)
{
	uint64_t v = ~0ull;
	if (pa + 8 <= m->mem_size)
		memcpy(&v, m->mem + pa, 8);
	return v;
}

void gp_wr64(struct vl_machine *m, uint64_t pa, uint64_t v)
{
	vl_phys_write(m, pa, &v, 8);
}

unsigned gp_nlog(struct vl_machine *m, const char *prog)
{
	return (unsigned)gp_rd64(m, gp_sym(prog, "log_n"));
}

void gp_log(struct vl_machine *m, const char *prog, unsigned k, struct gp_ent *e)
{
	uint64_t base = gp_sym(prog, "log") + (uint64_t)k * LOG_QW * 8;
	memset(e, 0, sizeof *e);
	for (unsigned i = 0; i < LOG_QW; i++)
		e->q[i] = gp_rd64(m, base + 8 * i);
	e->vec = (unsigned)e->q[LOG_VEC];
	e->ersp = e->q[LOG_ERSP];
	e->cr2 = e->q[LOG_CR2];
	e->hfl = e->q[LOG_HFL];
	e->hcs = e->q[LOG_HCS];
	e->hss = e->q[LOG_HSS];
	e->tsc = e->q[LOG_TSC];
	e->tag = e->q[LOG_TAG];
	e->has_err = e->vec < 32 && ((ERR_VECS >> e->vec) & 1);
	const uint64_t *f = &e->q[LOG_FRAME];
	if (e->has_err)
		e->err = *f++;
	e->rip = f[0];
	e->cs = f[1];
	e->rflags = f[2];
	e->rsp = f[3];
	e->ss = f[4];
}

bool gp_find(struct vl_machine *m, const char *prog, uint64_t tag, unsigned nth, struct gp_ent *e)
{
	unsigned n = gp_nlog(m, prog);
	for (unsigned k = 0; k < n && k < LOG_MAX; k++) {
		gp_log(m, prog, k, e);
		if (e->tag == tag && nth-- == 0)
			return true;
	}
	return false;
}

unsigned gp_count(struct vl_machine *m, const char *prog, uint64_t tag)
{
	struct gp_ent e;
	unsigned c = 0;
	while (gp_find(m, prog, tag, c, &e))
		c++;
	return c;
}

uint64_t gp_res(struct vl_machine *m, const char *prog, unsigned idx)
{
	return gp_rd64(m, gp_sym(prog, "res") + 8ull * idx);
}
