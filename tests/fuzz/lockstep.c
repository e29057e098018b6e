/* lockstep.c — run one guest on two configurations in lockstep and name the
 * first guest instruction after which their guest-visible state differs.
 *
 *   lockstep [--config NAME] [--against NAME] [--max N] [--write-elf OUT] FILE
 *
 * FILE is a guest ELF (e.g. a reproducer of ../shared/repro) or a fuzz input (run
 * through the generator). NAME is "engine/mmu/profile" as fuzz_replay
 * prints it; without --config every virtualized configuration is checked
 * against --against (default: native on the configuration's profile).
 * After each retired guest instruction of the reference machine the other
 * machine runs until it has retired as many (its VMM's exits, hidden faults
 * and emulation run in between), then the general registers, RIP, RFLAGS,
 * run state and console length are compared; guest RAM at the end. The
 * first difference is printed with the instruction, disassembled.
 * Exit 0 when every pair agrees, 1 on a divergence, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "guest_run.h"

#define MAXCFG 32
static const char *const profile_names[] = { "zen4", "skylake-sp", NULL };
static const char *const gpr_name[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

/* First difference of the guest-visible CPU state, or "" */
static void differ(const struct vl_machine *a, const struct vl_machine *b, char *why, size_t n)
{
	why[0] = '\0';
	if (a->state != b->state)
		snprintf(why, n, "state %s vs %s (%.300s)", vl_grun_state_name(a->state), vl_grun_state_name(b->state),
			 a->state != VL_M_RUNNING ? a->diag : b->diag);
	else if (a->cpu.rip != b->cpu.rip)
		snprintf(why, n, "rip %#llx vs %#llx", (unsigned long long)a->cpu.rip, (unsigned long long)b->cpu.rip);
	else if (a->cpu.rflags != b->cpu.rflags)
		snprintf(why, n, "rflags %#llx vs %#llx", (unsigned long long)a->cpu.rflags,
			 (unsigned long long)b->cpu.rflags);
	else if (a->console_len != b->console_len || memcmp(a->console, b->console, a->console_len))
		snprintf(why, n, "console %zu vs %zu bytes", a->console_len, b->console_len);
	else
		for (int i = 0; i < 16; i++)
			if (a->cpu.gpr[i] != b->cpu.gpr[i]) {
				snprintf(why, n, "%s %#llx vs %#llx", gpr_name[i], (unsigned long long)a->cpu.gpr[i],
					 (unsigned long long)b->cpu.gpr[i]);
				break;
			}
}

/* Lockstep a against b; 0 same, 1 divergent, -1 could not start. */
static int lockstep(const struct vl_grun_cfg *ca, const struct vl_grun_cfg *cb, const uint8_t *img, size_t len,
		    uint64_t max)
{
	struct vl_grun a, b;
	char err[256], why[512], dis[256];
	if (vl_grun_start(&a, ca, img, len, max, 1ull << 40, err, sizeof err)) {
		fprintf(stderr, "lockstep: %s: %s\n", ca->name, err);
		return -1;
	}
	if (vl_grun_start(&b, cb, img, len, max, 1ull << 40, err, sizeof err)) {
		fprintf(stderr, "lockstep: %s: %s\n", cb->name, err);
		vl_grun_end(&a);
		return -1;
	}
	int rc = 0;
	uint64_t steps = 0;
	while (a.m->state == VL_M_RUNNING || b.m->state == VL_M_RUNNING) {
		uint64_t rip = a.m->cpu.rip, n = a.m->insns;
		dis[0] = '\0';
		vl_disasm(a.m, rip, 1, dis, sizeof dis);
		dis[strcspn(dis, "\n")] = '\0';
		/* the reference retires one instruction (or stops); an event
		 * delivery retires none: it is a step of its own */
		uint64_t guard = 0;
		do
			vl_machine_step(a.m);
		while (a.m->state == VL_M_RUNNING && a.m->insns == n && a.m->cpu.rip == rip && ++guard < 64);
		while (b.m->state == VL_M_RUNNING && b.m->insns < a.m->insns && ++guard < 100000)
			vl_machine_step(b.m);
		if (a.m->insns == b.m->insns && a.m->insns == n && b.m->state == VL_M_RUNNING)
			vl_machine_step(b.m);       /* an event on both: keep them paired */
		steps++;
		differ(a.m, b.m, why, sizeof why);
		if (!why[0] && a.m->insns != b.m->insns)
			snprintf(why, sizeof why, "retired instructions %llu vs %llu", (unsigned long long)a.m->insns,
				 (unsigned long long)b.m->insns);
		if (why[0]) {
			printf("%s vs %s: first divergence after guest instruction %llu (step %llu)\n  %s\n  %s\n",
			       ca->name, cb->name, (unsigned long long)n + 1, (unsigned long long)steps,
			       dis[0] ? dis : "(not disassembled)", why);
			rc = 1;
			break;
		}
		if (a.m->state != VL_M_RUNNING && b.m->state != VL_M_RUNNING)
			break;
	}
	if (!rc) {
		struct vl_grun_out oa, ob;
		vl_grun_outcome(&a, &oa);
		vl_grun_outcome(&b, &ob);
		if (!vl_grun_same(&oa, &ob, true, why, sizeof why)) {
			printf("%s vs %s: same instruction stream, but at the end: %s\n", ca->name, cb->name, why);
			rc = 1;
		} else {
			printf("%s vs %s: identical over %llu guest instructions (%s)\n", ca->name, cb->name,
			       (unsigned long long)oa.insns, vl_grun_state_name(oa.st));
		}
	}
	vl_grun_end(&a);
	vl_grun_end(&b);
	return rc;
}

int main(int argc, char **argv)
{
	const char *only = NULL, *against = NULL, *file = NULL, *elf_out = NULL;
	uint64_t max = FUZZ_MAX_INSNS;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) only = argv[++i];
		else if (!strcmp(argv[i], "--against") && i + 1 < argc) against = argv[++i];
		else if (!strcmp(argv[i], "--max") && i + 1 < argc) max = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--write-elf") && i + 1 < argc) elf_out = argv[++i];
		else if (argv[i][0] != '-' && !file) file = argv[i];
		else {
			fprintf(stderr, "usage: lockstep [--config NAME] [--against NAME] [--max N] [--write-elf OUT] FILE\n");
			return 2;
		}
	}
	if (!file || !max) {
		fprintf(stderr, "usage: lockstep [--config NAME] [--against NAME] [--max N] [--write-elf OUT] FILE\n");
		return 2;
	}
	static uint8_t in[FUZZ_ELF_MAX];
	FILE *f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "lockstep: cannot open %s\n", file);
		return 2;
	}
	size_t n = fread(in, 1, sizeof in, f);
	fclose(f);
	static struct fuzz_case fc;
	const uint8_t *img = in;
	size_t len = n;
	if (n < 4 || memcmp(in, "\177ELF", 4)) {
		fuzz_gen(in, n, &fc);
		img = fc.elf;
		len = fc.elf_len;
		printf("fuzz input: %s%s\n", fc.desc, fc.diffable ? "" : " (not diffable: timing-dependent)");
	}
	if (elf_out) {                               /* the image, for `virtlab run --image FILE --trace` */
		FILE *o = fopen(elf_out, "wb");
		if (!o || fwrite(img, 1, len, o) != len || fclose(o)) {
			fprintf(stderr, "lockstep: cannot write %s\n", elf_out);
			return 2;
		}
	}

	static struct vl_profile profs[2];
	static struct vl_grun_cfg cfgs[MAXCFG];
	char err[256];
	int ncfg = vl_grun_configs(profile_names, profs, 2, cfgs, MAXCFG, err, sizeof err);
	if (ncfg < 0) {
		fprintf(stderr, "lockstep: %s\n", err);
		return 2;
	}
	int rc = 0, matched = 0;
	for (int i = 0; i < ncfg; i++) {
		if (only ? strcmp(cfgs[i].name, only) != 0 : !strcmp(cfgs[i].eng->name, "native"))
			continue;
		const struct vl_grun_cfg *ref = NULL;
		for (int j = 0; j < ncfg; j++)
			if (against ? !strcmp(cfgs[j].name, against)
				    : (cfgs[j].prof == cfgs[i].prof && !strcmp(cfgs[j].eng->name, "native")))
				ref = &cfgs[j];
		if (!ref) {
			fprintf(stderr, "lockstep: no configuration %s\n", against ? against : "native");
			return 2;
		}
		matched++;
		int r = lockstep(ref, &cfgs[i], img, len, max);
		if (r < 0)
			return 2;
		rc |= r;
	}
	if (!matched) {
		fprintf(stderr, "lockstep: no configuration %s\n", only);
		return 2;
	}
	return rc;
}
