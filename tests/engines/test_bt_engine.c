/* test_bt_engine.c — engine bt attached (with the shadow MMU) to a machine
 * running small kernel programs (a one-segment image at CPL 0, as the
 * loader boots it): guest kernel code runs only from the translation cache,
 * code coherency (a kernel that rewrites its own code gets the new
 * behaviour, the old translation is invalidated), translation-cache
 * overflow (a tiny cache is flushed and the program still computes the
 * right result), chaining (a warmed loop runs without dispatcher entries),
 * confinement (RSP loaded with a monitor address stops the guest before
 * any push lands there).
 * Callout gating at CPL 3 is tests/machine/test_cpu_hooks.c's; a forged
 * callout in kernel memory is test_bt_translate's. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/engine.h"
#include "virtlab/machine.h"
#include "virtlab/mmu.h"
#include "../support/mini_elf.h"
#include "../support/test_profile.h"
#include "../../engines/bt/bt.h"
#include "../../engines/bt/bt_translate.h"

extern const struct vl_engine_ops vl_engine_bt;
extern const struct vl_engine_ops vl_engine_trap;

#define CODE_PA 0x200000ull

struct rig { struct vl_profile p; struct vl_machine *m; void *ctx; };

/* rig_up's engine (bt, or trap for the shared runtime's #UD path) and the
 * profile's SMEP/SMAP */
static const struct vl_engine_ops *rig_eng = &vl_engine_bt;
static bool rig_smap;

/* Boot `code` at CODE_PA (identity-mapped by the loader) under bt. */
static void rig_up(struct rig *r, const uint8_t *code, size_t n)
{
	char err[256] = "";
	uint8_t *img = malloc(VL_MINI_ELF_SIZE(n));
	assert_non_null(img);
	vl_test_profile(&r->p);
	r->p.features_smep = r->p.features_smap = rig_smap;
	struct vl_machine_config cfg = { .prof = &r->p, .ram_mb = 16, .monitor_mb = 16, .max_insns = 10000000 };
	r->m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(r->m);
	size_t len = vl_test_mini_elf(img, CODE_PA, code, n, PF_R | PF_W | PF_X);
	assert_int_equal(vl_machine_load_elf_mem(r->m, img, len, "", err, sizeof err), 0);
	free(img);
	const struct vl_mmu_ops *sh = vl_mmu_find("shadow");
	assert_non_null(sh);
	int rc = rig_eng->attach(r->m, sh, &r->ctx, err, sizeof err);
	if (rc)
		print_error("attach: %s\n", err);
	assert_int_equal(rc, 0);
	/* the entry already runs from the TC */
	if (rig_eng == &vl_engine_bt)
		assert_true(r->m->cpu.rip >= BT_TC_VA && r->m->cpu.rip < BT_TC_VA + (2u << 20));
	assert_int_equal(r->m->cpu.cpl, 1);
}

static void rig_down(struct rig *r)
{
	rig_eng->detach(r->m, r->ctx);
	vl_machine_free(r->m);
}

static uint64_t ev(struct rig *r, enum vl_event e)
{
	uint64_t n = 0;
	for (int i = 0; i < VL_MAX_REGIONS; i++)
		n += r->m->region[i].events[e];
	return n;
}

/* A kernel that calls f (returns 1), patches f's immediate to 2, calls it
 * again, and writes the exit device. */
static void test_coherency_smc(void **st)
{
	static const uint8_t code[] = {
		0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00,   /* 0x00 mov rsp, 0x300000 */
		0xe8, 0x20, 0x00, 0x00, 0x00,               /* 0x07 call f (0x2c) */
		0x48, 0x89, 0xc3,                           /* 0x0c mov rbx, rax */
		0xc6, 0x05, 0x17, 0x00, 0x00, 0x00, 0x02,   /* 0x0f mov byte [rip+0x17], 2  -> 0x2d (f+1) */
		0xe8, 0x11, 0x00, 0x00, 0x00,               /* 0x16 call f */
		0x48, 0x89, 0xc1,                           /* 0x1b mov rcx, rax */
		0x66, 0xba, 0xf4, 0x00,                     /* 0x1e mov dx, 0xf4 */
		0x31, 0xc0,                                 /* 0x22 xor eax, eax */
		0xef,                                       /* 0x24 out dx, eax */
		0xf4,                                       /* 0x25 hlt */
		0x90, 0x90, 0x90, 0x90, 0x90, 0x90,         /* 0x26 */
		0xb8, 0x01, 0x00, 0x00, 0x00,               /* 0x2c f: mov eax, 1 */
		0xc3,                                       /* 0x31 ret */
	};
	struct rig r;
	rig_up(&r, code, sizeof code);
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_EXITED);
	assert_int_equal(r.m->cpu.gpr[VL_RBX], 1);
	assert_int_equal(r.m->cpu.gpr[VL_RCX], 2);   /* the new code ran */
	assert_true(ev(&r, VL_EV_INVALIDATIONS) >= 1);
	assert_true(ev(&r, VL_EV_TRANSLATIONS) >= 4);
	assert_int_equal(ev(&r, VL_EV_TC_FLUSHES), 0);
	rig_down(&r);
}

/* 200 blocks "add eax, 1; jmp next" walked 5 times: 1000. */
static uint8_t *chain_code(size_t *n)
{
	enum { NB = 200 };
	size_t len = 7 + 2 + 5 + NB * 8 + 2 + 6 + 4 + 1 + 1;
	uint8_t *c = calloc(1, len), *p = c;
	memcpy(p, (uint8_t[]){ 0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00 }, 7); p += 7;   /* mov rsp, 0x300000 */
	memcpy(p, (uint8_t[]){ 0x31, 0xc0 }, 2); p += 2;                                 /* xor eax, eax */
	memcpy(p, (uint8_t[]){ 0xb9, 0x05, 0x00, 0x00, 0x00 }, 5); p += 5;               /* mov ecx, 5 */
	uint8_t *first = p;
	for (int i = 0; i < NB; i++) {
		memcpy(p, (uint8_t[]){ 0x83, 0xc0, 0x01 }, 3); p += 3;                       /* add eax, 1 */
		memcpy(p, (uint8_t[]){ 0xe9, 0, 0, 0, 0 }, 5); p += 5;                       /* jmp next */
	}
	memcpy(p, (uint8_t[]){ 0xff, 0xc9 }, 2); p += 2;                                 /* dec ecx */
	int32_t back = (int32_t)(first - (p + 6));
	p[0] = 0x0f; p[1] = 0x85; memcpy(p + 2, &back, 4); p += 6;                       /* jnz first */
	memcpy(p, (uint8_t[]){ 0x66, 0xba, 0xf4, 0x00 }, 4); p += 4;                     /* mov dx, 0xf4 */
	*p++ = 0xef;                                                                     /* out dx, eax */
	*p++ = 0xf4;
	*n = (size_t)(p - c);
	return c;
}

static void test_tc_overflow_flush(void **st)
{
	size_t n;
	uint8_t *code = chain_code(&n);
	struct rig r;
	bt_tc_limit = 2048;   /* a few dozen blocks */
	rig_up(&r, code, n);
	bt_tc_limit = 0;
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_EXITED);
	assert_int_equal(r.m->exit_code, 1000);   /* out dx, eax wrote the sum */
	assert_true(ev(&r, VL_EV_TC_FLUSHES) >= 5);
	rig_down(&r);
	free(code);
}

static void test_chained_loop(void **st)
{
	size_t n;
	uint8_t *code = chain_code(&n);
	struct rig r;
	rig_up(&r, code, n);
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_EXITED);
	if (r.m->exit_code != 1000)
		fail_msg("exit code %u, rax %llu, rcx %llu, state %d: %s", r.m->exit_code, (unsigned long long)r.m->cpu.gpr[VL_RAX],
			 (unsigned long long)r.m->cpu.gpr[VL_RCX], r.m->state, r.m->diag);
	/* one dispatcher entry per distinct block (the first pass), none for
	 * the 4 warmed passes: every exit was chained */
	uint64_t blocks = ev(&r, VL_EV_TRANSLATIONS);
	assert_true(blocks >= 200);
	if (ev(&r, VL_EV_DISPATCHES) > blocks + 2)   /* + the loop's back edge once */
		fail_msg("dispatches %llu for %llu blocks", (unsigned long long)ev(&r, VL_EV_DISPATCHES), (unsigned long long)blocks);
	assert_true(ev(&r, VL_EV_CHAIN_LINKS) >= 200);
	assert_int_equal(ev(&r, VL_EV_TC_FLUSHES), 0);
	rig_down(&r);
	free(code);
}

/* A kernel with an IDT whose #UD handler writes EAX to the exit device:
 * it jumps to code at `target` (offset in the image) with EAX = 5. */
static uint8_t *ud_image(size_t *n, const uint8_t *tail, size_t tlen, unsigned target)
{
	static uint8_t img[0x200];
	memset(img, 0x90, sizeof img);
	static const uint8_t head[] = {
		0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00,   /* 0x00 mov rsp, 0x300000 */
		0x0f, 0x01, 0x1d, 0x32, 0x00, 0x00, 0x00,   /* 0x07 lidt [rip+0x32] -> 0x40 */
		0xb8, 0x05, 0x00, 0x00, 0x00,               /* 0x0e mov eax, 5 */
		0xe9, 0, 0, 0, 0,                           /* 0x13 jmp target */
	};
	memcpy(img, head, sizeof head);
	int32_t rel = (int32_t)target - 0x18;
	memcpy(img + 0x14, &rel, 4);
	uint16_t limit = 16 * 7 - 1;
	uint64_t base = CODE_PA + 0x100;
	memcpy(img + 0x40, &limit, 2);
	memcpy(img + 0x42, &base, 8);
	static const uint8_t handler[] = { 0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4 };   /* mov dx, 0xf4; out dx, eax; hlt */
	memcpy(img + 0x80, handler, sizeof handler);
	/* gate 6: 64-bit interrupt gate, selector 0x08, offset CODE_PA + 0x80 */
	uint64_t off = CODE_PA + 0x80;
	uint64_t lo = (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | (((off >> 16) & 0xffff) << 48), hi = off >> 32;
	memcpy(img + 0x100 + 6 * 16, &lo, 8);
	memcpy(img + 0x100 + 6 * 16 + 8, &hi, 8);
	memcpy(img + 0x180, tail, tlen);
	*n = sizeof img;
	return img;
}

/* Bad guest code gets the architectural fault, virtually, never a crash:
 * bytes that are no instruction, and a jump into the middle of one (here
 * into the immediate of a MOV, whose bytes read as INC EAX; UD2). */
static void test_garbage_and_mid_instruction(void **st)
{
	static const uint8_t garbage[] = { 0x0f, 0x04, 0x0f, 0x04 };
	static const uint8_t mid[] = { 0xb8, 0xff, 0xc0, 0x0f, 0x0b, 0xf4 };   /* mov eax, 0x0b0fc0ff */
	const struct { const uint8_t *b; size_t n; unsigned target; uint32_t want; } t[] = {
		{ garbage, sizeof garbage, 0x180, 5 },
		{ mid, sizeof mid, 0x181, 6 },
	};
	for (size_t i = 0; i < 2; i++) {
		size_t n;
		uint8_t *img = ud_image(&n, t[i].b, t[i].n, t[i].target);
		struct rig r;
		rig_up(&r, img, n);
		vl_machine_run(r.m);
		if (r.m->state != VL_M_EXITED || r.m->exit_code != t[i].want)
			fail_msg("case %zu: state %d exit %u: %s", i, r.m->state, r.m->exit_code, r.m->diag);
		assert_true(r.m->region[0].exit_count[BT_CO_FAULT] == 1);   /* the #UD came from a FAULT callout */
		rig_down(&r);
	}
}

/* A kernel that points RSP at the monitor's memory (the vCPU state page,
 * the one page translated code may write) and pushes: the load is caught
 * right after it and the guest stopped; the push never happens. */
static void test_rsp_into_monitor(void **st)
{
	uint8_t code[] = {
		0x48, 0xbc, 0, 0, 0, 0, 0, 0, 0, 0,   /* movabs rsp, BT_VSTATE_VA + 0x800 */
		0x50,                                 /* push rax */
		0xf4,
	};
	uint64_t sp = BT_VSTATE_VA + 0x800;
	memcpy(code + 2, &sp, 8);
	struct rig r;
	rig_up(&r, code, sizeof code);
	r.m->cpu.gpr[VL_RAX] = 0x4141414141414141ull;
	vl_machine_run(r.m);
	assert_int_equal(r.m->state, VL_M_ERROR);
	assert_non_null(strstr(r.m->diag, "monitor's reserved range"));
	/* the push's target (offset 0x7f8 of the vCPU state page) untouched;
	 * (RAX itself sits in the page's register slot, saved by the check) */
	for (uint64_t pa = r.m->ram_size + 0x7f8; pa < r.m->mem_size; pa += 4096)
		if (vl_phys_read64(r.m, pa) == 0x4141414141414141ull)
			fail_msg("the guest's push reached monitor memory at %#llx", (unsigned long long)pa);
	rig_down(&r);
}

/* STAC / CLAC and CR4.SMEP/SMAP in deprivileged kernel code: with SMAP in
 * the profile STAC sets and CLAC clears the guest's EFLAGS.AC (PUSHFQ sees
 * it), and MOV CR4 with SMAP is accepted and reaches the machine's
 * CR4; without, STAC is #UD and the CR4 write #GP, as on hardware. Under
 * bt (PRIV callouts) and under trap (the vCPU runtime's #UD path). The
 * IDT sends #UD and #GP to the handler writing EAX (5) to the exit device. */
static void test_stac_clac_cr4_smap(void **st)
{
	static const uint8_t ac[] = {
		0x0f, 0x01, 0xcb,                   /* stac */
		0x9c, 0x5b,                         /* pushfq; pop rbx */
		0x0f, 0x01, 0xca,                   /* clac */
		0x9c, 0x59,                         /* pushfq; pop rcx */
		0x0f, 0x20, 0xe0,                   /* mov rax, cr4 */
		0x48, 0x0d, 0x00, 0x00, 0x20, 0x00, /* or rax, SMAP */
		0x0f, 0x22, 0xe0,                   /* mov cr4, rax */
		0x0f, 0x20, 0xe6,                   /* mov rsi, cr4 */
		0x0f, 0x01, 0xcb,                   /* stac (with CR4.SMAP on) */
		0x9c, 0x5f,                         /* pushfq; pop rdi */
		0x66, 0xba, 0xf4, 0x00,             /* mov dx, 0xf4 */
		0x31, 0xc0, 0xef, 0xf4,             /* xor eax, eax; out dx, eax; hlt */
	};
	static const uint8_t cr4[] = {
		0x0f, 0x20, 0xe1,                   /* mov rcx, cr4 */
		0x48, 0x81, 0xc9, 0x00, 0x00, 0x20, 0x00, /* or rcx, SMAP */
		0x0f, 0x22, 0xe1,                   /* mov cr4, rcx: #GP without SMAP */
		0x31, 0xc0, 0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4,
	};
	const struct vl_engine_ops *engs[] = { &vl_engine_bt, &vl_engine_trap };
	for (size_t e = 0; e < 2; e++) {
		rig_eng = engs[e];
		for (int smap = 1; smap >= 0; smap--) {
			for (int t = 0; t < 2; t++) {
				size_t n;
				uint8_t *img = ud_image(&n, t ? cr4 : ac, t ? sizeof cr4 : sizeof ac, 0x180);
				/* a 14-gate IDT: #GP (13) to the handler too */
				uint16_t limit = 16 * 14 - 1;
				memcpy(img + 0x40, &limit, 2);
				memcpy(img + 0x100 + 13 * 16, img + 0x100 + 6 * 16, 16);
				struct rig r;
				rig_smap = smap;
				rig_up(&r, img, n);
				rig_smap = false;
				vl_machine_run(r.m);
				unsigned want = smap ? 0 : 5;
				if (r.m->state != VL_M_EXITED || r.m->exit_code != want)
					fail_msg("%s smap %d case %d: state %d exit %u: %s", rig_eng->name, smap, t, r.m->state,
						 r.m->exit_code, r.m->diag);
				if (smap && !t) {
					assert_true(r.m->cpu.gpr[VL_RBX] & VL_FL_AC);
					assert_false(r.m->cpu.gpr[VL_RCX] & VL_FL_AC);
					assert_true(r.m->cpu.gpr[VL_RDI] & VL_FL_AC);
					assert_true(r.m->cpu.gpr[VL_RSI] & VL_CR4_SMAP);
					assert_true(r.m->cpu.cr4 & VL_CR4_SMAP);
					assert_true(r.m->cpu.rflags & VL_FL_AC);   /* the hardware's AC is the guest's */
					if (rig_eng == &vl_engine_bt)   /* STAC, CLAC, STAC: PRIV callouts */
						assert_true(r.m->region[0].exit_count[BT_CO_PRIV] >= 3);
				}
				rig_down(&r);
			}
		}
	}
	rig_eng = &vl_engine_bt;
}

/* Rig `code` as kernel code at 0x200 of a ud_image (its boot code jumps
 * there from 0x180) on engine `eng` with CR4.SMAP available, the vectors in
 * `vecs` (a bit each, below 15) routed to the image's #UD handler (EAX 5),
 * and run it; the caller checks and calls rig_down. */
static void run_at_0x200(struct rig *r, const struct vl_engine_ops *eng, const uint8_t *code, size_t len, unsigned vecs)
{
	static const uint8_t jmp[] = { 0xe9, 0x7b, 0x00, 0x00, 0x00 };   /* 0x180: jmp 0x200 */
	static uint8_t img[0x300];
	size_t n;
	memset(img, 0x90, sizeof img);
	const uint8_t *ui = ud_image(&n, jmp, sizeof jmp, 0x180);
	memcpy(img, ui, n);
	assert_true(len <= sizeof img - 0x200);
	memcpy(img + 0x200, code, len);
	uint16_t limit = 16 * 15 - 1;   /* the IDT reaches #PF (14) */
	memcpy(img + 0x40, &limit, 2);
	for (unsigned v = 0; v < 15; v++)
		if (vecs & (1u << v))
			memcpy(img + 0x100 + v * 16, img + 0x100 + 6 * 16, 16);
	rig_eng = eng;
	rig_smap = true;
	rig_up(r, img, sizeof img);
	rig_smap = false;
	vl_machine_run(r->m);
}

/* CR4.SMEP set by the kernel after it ran code on a user page: the next
 * call there is a #PF (instruction fetch), as natively — under bt the
 * earlier translation of that page is gone (the TC is flushed when SMEP
 * comes on), under trap the hardware's SMEP applies at CPL 1. The code at
 * 0x200 sets U on the PML4E, PDPTE and the 2 MiB PDE of 0x400000 (the
 * loader's tables), puts a RET there, calls it, sets SMEP, calls it again.
 * #PF goes to the handler writing EAX (5); 7 means it ran. */
static void test_smep_after_translation(void **st)
{
	static const uint8_t code[] = {
		0x48, 0xc7, 0xc7, 0x00, 0x00, 0x40, 0x00,         /* mov rdi, 0x400000 */
		0xc6, 0x07, 0xc3,                                 /* mov byte [rdi], 0xc3 (ret) */
		0x48, 0x83, 0x0c, 0x25, 0x00, 0x10, 0x00, 0x00, 0x04, /* or qword [0x1000], U */
		0x48, 0x83, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00, 0x04, /* or qword [0x2000], U */
		0x48, 0x83, 0x0c, 0x25, 0x10, 0x30, 0x00, 0x00, 0x04, /* or qword [0x3010], U */
		0x0f, 0x20, 0xdb, 0x0f, 0x22, 0xdb,               /* mov rbx, cr3; mov cr3, rbx */
		0xff, 0xd7,                                       /* call rdi: runs */
		0x0f, 0x20, 0xe1,                                 /* mov rcx, cr4 */
		0x48, 0x0f, 0xba, 0xe9, 0x14,                     /* bts rcx, 20 (SMEP) */
		0x0f, 0x22, 0xe1,                                 /* mov cr4, rcx */
		0xff, 0xd7,                                       /* call rdi: #PF */
		0xb8, 0x07, 0x00, 0x00, 0x00,                     /* mov eax, 7 */
		0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4,               /* mov dx, 0xf4; out dx, eax; hlt */
	};
	const struct vl_engine_ops *engs[] = { &vl_engine_bt, &vl_engine_trap };
	for (size_t e = 0; e < 2; e++) {
		struct rig r;
		run_at_0x200(&r, engs[e], code, sizeof code, 1u << VL_PF);
		if (r.m->state != VL_M_EXITED || r.m->exit_code != 5)
			fail_msg("%s: state %d exit %u: %s", rig_eng->name, r.m->state, r.m->exit_code, r.m->diag);
		if (rig_eng == &vl_engine_bt)
			assert_true(ev(&r, VL_EV_TC_FLUSHES) >= 1);
		rig_down(&r);
	}
	rig_eng = &vl_engine_bt;
}

/* CR4.SMAP on, AC = 0, and a privileged instruction (MOV from CR0) in
 * kernel code on a user page: it runs, as natively (SMAP governs data
 * accesses, not fetches) — the runtime reads the instruction as a fetch.
 * #PF would reach the handler (EAX 5); 9 means it ran. */
static void test_smap_priv_on_user_page(void **st)
{
	static const uint8_t code[] = {
		0x48, 0xc7, 0xc7, 0x00, 0x00, 0x40, 0x00,         /* mov rdi, 0x400000 */
		0xc7, 0x07, 0x0f, 0x20, 0xc0, 0xc3,               /* mov dword [rdi], "mov rax, cr0; ret" */
		0x48, 0x83, 0x0c, 0x25, 0x00, 0x10, 0x00, 0x00, 0x04, /* or qword [0x1000], U */
		0x48, 0x83, 0x0c, 0x25, 0x00, 0x20, 0x00, 0x00, 0x04, /* or qword [0x2000], U */
		0x48, 0x83, 0x0c, 0x25, 0x10, 0x30, 0x00, 0x00, 0x04, /* or qword [0x3010], U */
		0x0f, 0x20, 0xdb, 0x0f, 0x22, 0xdb,               /* mov rbx, cr3; mov cr3, rbx */
		0x0f, 0x20, 0xe1,                                 /* mov rcx, cr4 */
		0x48, 0x0f, 0xba, 0xe9, 0x15,                     /* bts rcx, 21 (SMAP) */
		0x0f, 0x22, 0xe1,                                 /* mov cr4, rcx */
		0x0f, 0x01, 0xca,                                 /* clac */
		0xff, 0xd7,                                       /* call rdi: runs */
		0xb8, 0x09, 0x00, 0x00, 0x00,                     /* mov eax, 9 */
		0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4,               /* mov dx, 0xf4; out dx, eax; hlt */
	};
	const struct vl_engine_ops *engs[] = { &vl_engine_bt, &vl_engine_trap };
	for (size_t e = 0; e < 2; e++) {
		struct rig r;
		run_at_0x200(&r, engs[e], code, sizeof code, 1u << VL_GP | 1u << VL_PF);
		if (r.m->state != VL_M_EXITED || r.m->exit_code != 9)
			fail_msg("%s: state %d exit %u: %s", rig_eng->name, r.m->state, r.m->exit_code, r.m->diag);
		assert_true(r.m->cpu.cr4 & VL_CR4_SMAP);
		rig_down(&r);
	}
	rig_eng = &vl_engine_bt;
}

/* A machine without bt on the test profile (*p, which must outlive it) with
 * `prog` loaded at CODE_PA as a minimal ELF, ready to run. */
static struct vl_machine *bare_machine(struct vl_profile *p, const uint8_t *prog, size_t n)
{
	char err[256] = "";
	vl_test_profile(p);
	struct vl_machine_config cfg = { .prof = p, .ram_mb = 16, .max_insns = 100000 };
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(m);
	uint8_t *elf = malloc(VL_MINI_ELF_SIZE(n));
	assert_non_null(elf);
	size_t len = vl_test_mini_elf(elf, CODE_PA, prog, n, PF_R | PF_W | PF_X);
	assert_int_equal(vl_machine_load_elf_mem(m, elf, len, "", err, sizeof err), 0);
	free(elf);
	return m;
}

/* 32-bit kernel code (compatibility mode, entered by a far JMP through
 * the kernel's own GDT) with the instructions the 32-bit translator
 * rewrites: PUSHAD, PUSHFD (CF through it), ENTER 16, 1 (its frame-pointer
 * copy), LEAVE, POPFD, POPAD (registers back), a far CALL ptr16:32 to
 * 32-bit code that returns with a 32-bit RETF, a far CALL m16:32 to 64-bit
 * code that returns with RETF without REX.W (4-byte frame), an IRETD to
 * the same level (EIP, CS, EFLAGS only); the result 0x1111 (0xdead on a
 * wrong check) goes to the exit device. The machine itself (no engine, CPL
 * 0) gives the same. Source: this file's history (GNU as, .code32/.code64
 * at 0x200000):
 *   mov $0x300000,%rsp; lgdt gdtr(%rip); ljmpl *p32(%rip)
 *   c32: mov $0x2ff000,%esp; mov $0x11..0x77 -> eax,ecx,edx,ebx,ebp,esi,edi;
 *   pushal; stc; pushfl; clc; enter $16,$1; cmp %ebp,-4(%ebp); jne bad;
 *   movl $0xabc,-8(%ebp); leave; popfl; jnc bad; xor eax,ecx,edi,ebp; popal;
 *   cmp $0x22,%ecx / $0x77,%edi / $0x55,%ebp (jne bad); lcall $0x18,$f32;
 *   lcall *p64; pushfl; push $0x18; push $after; iretl;
 *   after: cmp $0x2ff000,%esp; jne bad; out %eax,$0xf4 (dx); hlt
 *   bad: out $0xdead; f32: add $0x100,%eax; lret;  f64 (.code64): add $0x1000,%eax; lret
 *   gdt: null, 0x08 64-bit code, 0x10 data, 0x18 32-bit code; p32 = c32:0x18, p64 = f64:0x08 */
static const uint8_t code32_prog[] = {
		0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00, 0x0f, 0x01, 0x15, 0xba, 0x00,
		0x00, 0x00, 0xff, 0x2d, 0xbe, 0x00, 0x00, 0x00, 0xbc, 0x00, 0xf0, 0x2f,
		0x00, 0xb8, 0x11, 0x00, 0x00, 0x00, 0xb9, 0x22, 0x00, 0x00, 0x00, 0xba,
		0x33, 0x00, 0x00, 0x00, 0xbb, 0x44, 0x00, 0x00, 0x00, 0xbd, 0x55, 0x00,
		0x00, 0x00, 0xbe, 0x66, 0x00, 0x00, 0x00, 0xbf, 0x77, 0x00, 0x00, 0x00,
		0x60, 0xf9, 0x9c, 0xf8, 0xc8, 0x10, 0x00, 0x01, 0x39, 0x6d, 0xfc, 0x75,
		0x47, 0xc7, 0x45, 0xf8, 0xbc, 0x0a, 0x00, 0x00, 0xc9, 0x9d, 0x73, 0x3c,
		0x31, 0xc0, 0x31, 0xc9, 0x31, 0xff, 0x31, 0xed, 0x61, 0x83, 0xf9, 0x22,
		0x75, 0x2e, 0x83, 0xff, 0x77, 0x75, 0x29, 0x83, 0xfd, 0x55, 0x75, 0x24,
		0x9a, 0x9b, 0x00, 0x20, 0x00, 0x18, 0x00, 0xff, 0x1d, 0xd8, 0x00, 0x20,
		0x00, 0x9c, 0x6a, 0x18, 0x68, 0x82, 0x00, 0x20, 0x00, 0xcf, 0x81, 0xfc,
		0x00, 0xf0, 0x2f, 0x00, 0x75, 0x06, 0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4,
		0x66, 0xba, 0xf4, 0x00, 0xb8, 0xad, 0xde, 0x00, 0x00, 0xef, 0xf4, 0x05,
		0x00, 0x01, 0x00, 0x00, 0xcb, 0x05, 0x00, 0x10, 0x00, 0x00, 0xcb, 0x90,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00,
		0x00, 0x9a, 0xaf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00,
		0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, 0x1f, 0x00, 0xa8, 0x00,
		0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x20, 0x00, 0x18, 0x00,
		0xa1, 0x00, 0x20, 0x00, 0x08, 0x00,
};

static void test_32bit_far_call_stack_iretd(void **st)
{
	/* the machine alone */
	struct vl_profile p;
	struct vl_machine *m = bare_machine(&p, code32_prog, sizeof code32_prog);
	vl_machine_run(m);
	if (m->state != VL_M_EXITED || m->exit_code != 0x1111)
		fail_msg("machine: state %d exit %#x: %s", m->state, m->exit_code, m->diag);
	vl_machine_free(m);
	/* under bt */
	struct rig r;
	rig_up(&r, code32_prog, sizeof code32_prog);
	vl_machine_run(r.m);
	if (r.m->state != VL_M_EXITED || r.m->exit_code != 0x1111)
		fail_msg("bt: state %d exit %#x: %s", r.m->state, r.m->exit_code, r.m->diag);
	assert_int_equal(r.m->cpu.gpr[VL_RSP], 0x2ff000);
	assert_int_equal(r.m->cpu.gpr[VL_RBX], 0x44);
	rig_down(&r);
}

/* 32-bit kernel code with the 16-bit (66h) stack forms, prefixed PUSHAD/
 * POPAD/PUSHFD/POPFD and POP of every data segment register, under bt and
 * on the bare machine: the same registers, flags, stack and data bytes and
 * segment selectors (the guest stores them with MOV from Sreg), then a POP
 * into DS/ES/SS/FS of a selector from memory (sel16_sel) that must either
 * load or fault as the hardware does (the exit code: vector << 16 | error
 * code from a 64-bit handler, or 0x600d). Source (GNU as, at 0x200000;
 * data page 0x201000: 0x1234beef, 0xcafef00d; GDT below):
 *   .code64: mov $0x300000,%rsp; lgdt gdtr(%rip); lidt idtr(%rip); ljmpl *p32(%rip)
 *   0x40 #NP: mov $0xb0000,%eax; jmp exc  0x48 #SS: mov $0xc0000,%eax; jmp exc
 *   0x50 #GP: mov $0xd0000,%eax; exc: or (%rsp),%eax; mov $0xf4,%dx; out %eax,%dx; hlt
 *   0x80 .code32: mov $0x2ff000,%esp; mov $0x11111111.. -> eax..edi;
 *   pushw %ax; pushw %sp; pushw $0x5678; pushw $-5; pushw 0x201000;
 *   popw %cx; popw %dx; popw 0x201002; popw %si; popw %bx; pushw %di;
 *   popw 2(%esp); pushw -2(%esp); popw %ax; stc; pushfw; clc; std; popfw;
 *   pushaw; xor eax,ecx,edi; popaw; pushw $0x5a5a; mov %esp,%ebp;
 *   sub $16,%esp; leavew; ss pushal; xor %edx,%edx; ds popal; cs pushfl;
 *   cld; es popfl; push $0x10; pop %es; push $0x20; pop %fs;
 *   mov %fs:0,%eax; push $0x20; pop %gs; mov %gs:4,%ecx; pushw $0x20;
 *   popw %ds; push $0x10; pop %ds; push $0x10; pop %ss; mov %esp,%esp;
 *   mov %ds/%es/%fs/%gs/%ss -> 0x201010..0x201020; mov %esp,0x201024;
 *   pushl 0x201030; 0x14d: nop; pop %ds (the slot); mov $0x600d,%eax; out; hlt */
#define SEG16_SLOT 0x14d
static const uint8_t seg16_prog[] = {
	0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00, 0x0f, 0x01, 0x15, 0xf2, 0x02,
	0x00, 0x00, 0x0f, 0x01, 0x1d, 0x6b, 0x03, 0x00, 0x00, 0xff, 0x2d, 0x6f,
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xb8, 0x00, 0x00, 0x0b, 0x00, 0xeb, 0x0e, 0x00,
	0xb8, 0x00, 0x00, 0x0c, 0x00, 0xeb, 0x06, 0x00, 0xb8, 0x00, 0x00, 0x0d,
	0x00, 0x0b, 0x04, 0x24, 0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbc, 0x00, 0xf0, 0x2f,
	0x00, 0xb8, 0x11, 0x11, 0x11, 0x11, 0xb9, 0x22, 0x22, 0x22, 0x22, 0xba,
	0x33, 0x33, 0x33, 0x33, 0xbb, 0x44, 0x44, 0x44, 0x44, 0xbd, 0x55, 0x55,
	0x55, 0x55, 0xbe, 0x66, 0x66, 0x66, 0x66, 0xbf, 0x77, 0x77, 0x77, 0x77,
	0x66, 0x50, 0x66, 0x54, 0x66, 0x68, 0x78, 0x56, 0x66, 0x6a, 0xfb, 0x66,
	0xff, 0x35, 0x00, 0x10, 0x20, 0x00, 0x66, 0x59, 0x66, 0x5a, 0x66, 0x8f,
	0x05, 0x02, 0x10, 0x20, 0x00, 0x66, 0x5e, 0x66, 0x5b, 0x66, 0x57, 0x66,
	0x8f, 0x44, 0x24, 0x02, 0x66, 0xff, 0x74, 0x24, 0xfe, 0x66, 0x58, 0xf9,
	0x66, 0x9c, 0xf8, 0xfd, 0x66, 0x9d, 0x66, 0x60, 0x31, 0xc0, 0x31, 0xc9,
	0x31, 0xff, 0x66, 0x61, 0x66, 0x68, 0x5a, 0x5a, 0x89, 0xe5, 0x83, 0xec,
	0x10, 0x66, 0xc9, 0x36, 0x60, 0x31, 0xd2, 0x3e, 0x61, 0x2e, 0x9c, 0xfc,
	0x26, 0x9d, 0x6a, 0x10, 0x07, 0x6a, 0x20, 0x0f, 0xa1, 0x64, 0xa1, 0x00,
	0x00, 0x00, 0x00, 0x6a, 0x20, 0x0f, 0xa9, 0x65, 0x8b, 0x0d, 0x04, 0x00,
	0x00, 0x00, 0x66, 0x6a, 0x20, 0x66, 0x1f, 0x6a, 0x10, 0x1f, 0x6a, 0x10,
	0x17, 0x89, 0xe4, 0x8c, 0x1d, 0x10, 0x10, 0x20, 0x00, 0x8c, 0x05, 0x14,
	0x10, 0x20, 0x00, 0x8c, 0x25, 0x18, 0x10, 0x20, 0x00, 0x8c, 0x2d, 0x1c,
	0x10, 0x20, 0x00, 0x8c, 0x15, 0x20, 0x10, 0x20, 0x00, 0x89, 0x25, 0x24,
	0x10, 0x20, 0x00, 0xff, 0x35, 0x30, 0x10, 0x20, 0x00, 0x90, 0x1f, 0xb8,
	0x0d, 0x60, 0x00, 0x00, 0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4,
};

static void seg16_image(uint8_t *img, uint32_t sel, const uint8_t slot[2])
{
	static const uint64_t gdt[10] = {
		0, 0x00af9a000000ffffull,        /* 0x08 64-bit code */
		0x00cf92000000ffffull,           /* 0x10 data */
		0x00cf9a000000ffffull,           /* 0x18 32-bit code */
		0x00cf92201000ffffull,           /* 0x20 data, base 0x201000 */
		0x00cf12000000ffffull,           /* 0x28 data, not present */
		0x00cf98000000ffffull,           /* 0x30 execute-only code */
		0x00cff2000000ffffull,           /* 0x38 data, DPL 3 */
		0x00cf90000000ffffull,           /* 0x40 read-only data */
		0x00cf12000000ffffull,           /* 0x48 data, not present */
	};
	static const uint8_t gdtr[10] = { 0x4f, 0x00, 0x10, 0x03, 0x20 };   /* base 0x200310 */
	static const uint8_t idtr_p32[16] = { 0xdf, 0x00, 0x00, 0x04, 0x20, 0, 0, 0, 0, 0,   /* IDT 0x200400 */
					      0x80, 0x00, 0x20, 0x00, 0x18, 0x00 };             /* p32 = 0x18:0x200080 */
	static const uint32_t data[2] = { 0x1234beef, 0xcafef00d };
	memcpy(img, seg16_prog, sizeof seg16_prog);
	memcpy(img + SEG16_SLOT, slot, 2);
	memcpy(img + 0x300, gdtr, sizeof gdtr);
	memcpy(img + 0x310, gdt, sizeof gdt);
	memcpy(img + 0x380, idtr_p32, sizeof idtr_p32);
	for (unsigned v = 11; v <= 13; v++) {   /* #NP, #SS, #GP -> 0x200040, 48, 50 */
		uint64_t lo = (0x40u + 8 * (v - 11)) | (0x08ull << 16) | (0x8eull << 40) | (0x20ull << 48);
		memcpy(img + 0x400 + 16 * v, &lo, 8);
	}
	memcpy(img + 0x1000, data, sizeof data);
	memcpy(img + 0x1030, &sel, 4);
}

static void test_32bit_seg_pops_and_16bit_stack(void **st)
{
	static const struct { uint32_t sel; uint8_t slot[2]; uint32_t want; } c[] = {
		{ 0x10, { 0x90, 0x1f }, 0x600d },     /* POP DS */
		{ 0x00, { 0x90, 0x07 }, 0x600d },     /* POP ES, null */
		{ 0x20, { 0x0f, 0xa1 }, 0x600d },     /* POP FS */
		{ 0x10, { 0x90, 0x17 }, 0x600d },     /* POP SS */
		{ 0x40, { 0x90, 0x1f }, 0x600d },     /* read-only data into DS */
		{ 0x28, { 0x90, 0x1f }, 0xb0028 },    /* not present: #NP(0x28) */
		{ 0x30, { 0x90, 0x07 }, 0xd0030 },    /* execute-only code: #GP(0x30) */
		{ 0x13, { 0x90, 0x1f }, 0xd0010 },    /* RPL 3 > DPL 0: #GP(0x10) */
		{ 0x11, { 0x0f, 0xa9 }, 0xd0010 },    /* RPL 1 > DPL 0 (GS): #GP(0x10) */
		{ 0x58, { 0x0f, 0xa1 }, 0xd0058 },    /* beyond the GDT limit: #GP(0x58) */
		{ 0x3b, { 0x90, 0x17 }, 0xd0038 },    /* SS: DPL 3 != CPL 0: #GP(0x38) */
		{ 0x40, { 0x90, 0x17 }, 0xd0040 },    /* SS: read-only: #GP(0x40) */
		{ 0x48, { 0x90, 0x17 }, 0xc0048 },    /* SS: not present: #SS(0x48) */
		{ 0x11, { 0x90, 0x17 }, 0xd0010 },    /* SS: RPL 1 != CPL 0: #GP(0x10) */
	};
	static uint8_t img[0x1040];
	for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
		memset(img, 0, sizeof img);
		seg16_image(img, c[k].sel, c[k].slot);
		struct vl_profile p;
		struct vl_machine *m = bare_machine(&p, img, sizeof img);
		vl_machine_run(m);
		if (m->state != VL_M_EXITED || m->exit_code != c[k].want)
			fail_msg("case %zu, machine: state %d exit %#x (want %#x): %s", k, m->state, m->exit_code, c[k].want, m->diag);
		struct rig r;
		rig_up(&r, img, sizeof img);
		vl_machine_run(r.m);
		if (r.m->state != VL_M_EXITED || r.m->exit_code != c[k].want)
			fail_msg("case %zu, bt: state %d exit %#x (want %#x): %s", k, r.m->state, r.m->exit_code, c[k].want, r.m->diag);
		for (unsigned g = 0; g < 8; g++)
			if (r.m->cpu.gpr[g] != m->cpu.gpr[g])
				fail_msg("case %zu: register %u: bt %#" PRIx64 ", machine %#" PRIx64, k, g, r.m->cpu.gpr[g], m->cpu.gpr[g]);
		const uint64_t fl = 0xcd5 | VL_FL_DF;
		assert_int_equal(vl_engine_bt.guest_rflags(r.m, r.ctx) & fl, m->cpu.rflags & fl);
		assert_memory_equal(vl_phys_ptr(r.m, 0x2fe000), vl_phys_ptr(m, 0x2fe000), 0x1000);   /* the stack */
		assert_memory_equal(vl_phys_ptr(r.m, 0x201000), vl_phys_ptr(m, 0x201000), 0x40);     /* data, selectors */
		vl_machine_free(m);
		rig_down(&r);
	}
	/* what the machine stored: the 16-bit pushes and pops, the selectors */
	struct vl_profile p;
	memset(img, 0, sizeof img);
	seg16_image(img, 0x10, c[0].slot);
	struct vl_machine *m = bare_machine(&p, img, sizeof img);
	vl_machine_run(m);
	const uint8_t *dpg = vl_phys_ptr(m, 0x201000);
	uint16_t w[8];
	memcpy(w, dpg + 0x10, sizeof w);
	assert_int_equal(w[0], 0x10);   /* DS */
	assert_int_equal(w[2], 0x10);   /* ES */
	assert_int_equal(w[4], 0x20);   /* FS */
	assert_int_equal(w[6], 0x20);   /* GS */
	assert_int_equal(vl_phys_read64(m, 0x201000), 0xcafef00d5678beefull);   /* popw 0x201002 */
	vl_machine_free(m);
}

/* POP SS blocks interrupts (and NMIs) for one instruction, as MOV SS: in
 * the seg16 program, an NMI raised right after `pop %ss` (0x120) is taken
 * after `mov %esp,%esp` (0x121), with RIP 0x123 in its frame — the NMI
 * handler (64-bit, vector 2) exits with its frame's RIP - 0x200000. Under
 * bt the vCPU runtime emulates POP SS (a SEG callout) and sets the
 * shadow; on the machine POP SS set none before. With `push %eax; nop`
 * in its place the shadowed instruction is two TC instructions (store,
 * LEA): the NMI still comes after the PUSH (RIP 0x122; bt held it through
 * the LEA, bt_in_ss_shadow — before, it was taken before the PUSH). */
static void test_32bit_pop_ss_shadow(void **st)
{
	static uint8_t img[0x1040];
	static const uint8_t nmi_h[] = {
		0x8b, 0x04, 0x24,                   /* mov eax, [rsp] (the frame's RIP) */
		0x2d, 0x00, 0x00, 0x20, 0x00,       /* sub eax, 0x200000 */
		0x66, 0xba, 0xf4, 0x00, 0xef, 0xf4, /* mov dx, 0xf4; out dx, eax; hlt */
	};
	static const struct { uint8_t next[2]; uint32_t want; } c[] = {
		{ { 0x89, 0xe4 }, 0x123 },          /* mov esp, esp (as the program has it) */
		{ { 0x50, 0x90 }, 0x122 },          /* push eax; nop */
	};
	for (int e = 0; e < 4; e++) {
		memset(img, 0, sizeof img);
		seg16_image(img, 0x10, (const uint8_t[2]){ 0x90, 0x1f });
		memcpy(img + 0x60, nmi_h, sizeof nmi_h);
		uint64_t lo = 0x60 | (0x08ull << 16) | (0x8eull << 40) | (0x20ull << 48);
		memcpy(img + 0x400 + 16 * 2, &lo, 8);
		memcpy(img + 0x121, c[e >> 1].next, 2);
		uint32_t want = c[e >> 1].want;
		struct vl_profile p;
		struct rig r;
		struct vl_machine *m;
		if ((e & 1) == 0) {
			m = bare_machine(&p, img, sizeof img);
		} else {
			rig_up(&r, img, sizeof img);
			m = r.m;
		}
		int i = 0;
		while (m->state == VL_M_RUNNING && !m->cpu.intr_shadow && i++ < 100000)
			vl_machine_step(m);
		assert_int_equal(m->state, VL_M_RUNNING);
		m->cpu.nmi_pending = true;
		vl_machine_run(m);
		if (m->state != VL_M_EXITED || m->exit_code != want)
			fail_msg("%s: state %d exit %#x (want %#x: after the shadowed instruction): %s", (e & 1) ? "bt" : "machine",
				 m->state, m->exit_code, want, m->diag);
		if ((e & 1) == 0)
			vl_machine_free(m);
		else
			rig_down(&r);
	}
}

/* An NMI at any point of translated code, atomic stretches included
 * (PUSHFQ's and POPFQ's flag rewriting): a kernel loops over PUSHFQ;
 * POPFQ with an NMI handler (vector 2: inc ebx; iretq) and writes 0x77 +
 * EBX to the exit device; the NMI raised before the k-th instruction, for
 * every k of the loop (from after the LIDT), is taken exactly once and the run
 * ends with 0x78 (an NMI in an atomic stretch stopped the run before). */
static void test_nmi_anywhere(void **st)
{
	static uint8_t img[0x180];
	memset(img, 0x90, sizeof img);
	static const uint8_t head[] = {
		0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00,   /* 0x00 mov rsp, 0x300000 */
		0x0f, 0x01, 0x1d, 0x32, 0x00, 0x00, 0x00,   /* 0x07 lidt [rip+0x32] -> 0x40 */
		0x31, 0xdb,                                 /* 0x0e xor ebx, ebx */
		0xb9, 0x06, 0x00, 0x00, 0x00,               /* 0x10 mov ecx, 6 */
		0x9c,                                       /* 0x15 pushfq */
		0x9d,                                       /* 0x16 popfq */
		0xff, 0xc9,                                 /* 0x17 dec ecx */
		0x75, 0xfa,                                 /* 0x19 jnz 0x15 */
		0xb8, 0x77, 0x00, 0x00, 0x00,               /* 0x1b mov eax, 0x77 */
		0x01, 0xd8,                                 /* 0x20 add eax, ebx */
		0x66, 0xba, 0xf4, 0x00,                     /* 0x22 mov dx, 0xf4 */
		0xef,                                       /* 0x26 out dx, eax */
		0xf4,                                       /* 0x27 hlt */
	};
	memcpy(img, head, sizeof head);
	uint16_t limit = 16 * 3 - 1;
	uint64_t base = CODE_PA + 0x100;
	memcpy(img + 0x40, &limit, 2);
	memcpy(img + 0x42, &base, 8);
	static const uint8_t handler[] = { 0xff, 0xc3, 0x48, 0xcf };   /* inc ebx; iretq */
	memcpy(img + 0x80, handler, sizeof handler);
	uint64_t off = CODE_PA + 0x80;
	uint64_t lo = (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | (((off >> 16) & 0xffff) << 48), hi = off >> 32;
	memcpy(img + 0x100 + 2 * 16, &lo, 8);
	memcpy(img + 0x100 + 2 * 16 + 8, &hi, 8);
	unsigned tried = 0;
	bool late = false;
	for (int k = 20; k < 220; k++) {   /* from after the LIDT */
		struct rig r;
		rig_up(&r, img, sizeof img);
		for (int i = 0; i < k && r.m->state == VL_M_RUNNING; i++)
			vl_machine_step(r.m);
		if (r.m->state != VL_M_RUNNING) {
			rig_down(&r);
			break;
		}
		r.m->cpu.nmi_pending = true;
		vl_machine_run(r.m);
		/* 0x77 once the NMI comes after the ADD (and from then on) */
		if (r.m->state != VL_M_EXITED || r.m->exit_code != (late ? 0x77u : 0x78u)) {
			if (!late && r.m->state == VL_M_EXITED && r.m->exit_code == 0x77 && tried >= 100)
				late = true;
			else
				fail_msg("NMI before step %d: state %d exit %#x: %s", k, r.m->state, r.m->exit_code, r.m->diag);
		}
		tried += !late;
		rig_down(&r);
	}
	assert_true(tried >= 100);
}


/* FS/GS-override accesses never reach monitor memory, whatever way the
 * kernel set the segment's base. A kernel (GDT: 0x08 code, 0x10 data, 0x18
 * data with base R; IDT: #GP -> exit 0xd, #PF -> exit 0xe) writes an FS or
 * GS base with WRMSR, optionally loads the segment from its descriptor
 * (MOV Sreg, r / MOV Sreg, m / POP Sreg: base R, 32 bits), then makes one
 * access through the override; 0x600d means the access went through. The
 * address is in the monitor hole (the shadow GDT, read-only, or the bt
 * vCPU state page, writable); the bare machine (nothing mapped there) has
 * #PF, bt must refuse it (CONFINE: #GP) — and write nothing there. Before
 * the mirror of the base was refreshed after segment loads, a load after
 * the WRMSR left the check using the WRMSR's base: the read returned the
 * monitor's descriptor, the write landed in the vCPU state page; and the
 * override forms with an implicit or RIP-relative address (string source,
 * MOV moffs, XLAT, [RIP + d], JMP [RIP + d]) and XLAT without one were not
 * checked with the base at all: each read monitor memory (the JMP jumped
 * through a pointer the kernel had planted in the shadow GDT). */
#define FSI_LOAD  0x39   /* 6-byte slot: the segment load */
#define FSI_ACC   0x53   /* 8-byte slot: the access */
static const uint8_t fsi_code[] = {
	0x48, 0xc7, 0xc4, 0x00, 0x00, 0x30, 0x00,               /* 0x00 mov rsp, 0x300000 */
	0x0f, 0x01, 0x15, 0x68, 0x00, 0x00, 0x00,               /* 0x07 lgdt [rip] -> 0x76 */
	0x0f, 0x01, 0x1d, 0x6b, 0x00, 0x00, 0x00,               /* 0x0e lidt [rip] -> 0x80 */
	0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,                     /* 0x15 movabs rax, base (WRMSR) */
	0x48, 0x89, 0xc2,                                       /* 0x1f mov rdx, rax */
	0x48, 0xc1, 0xea, 0x20,                                 /* 0x22 shr rdx, 32 */
	0xb9, 0x00, 0x01, 0x00, 0xc0,                           /* 0x26 mov ecx, FS_BASE (patched: GS) */
	0x0f, 0x30,                                             /* 0x2b wrmsr */
	0x48, 0x8d, 0x1d, 0x40, 0x00, 0x00, 0x00,               /* 0x2d lea rbx, [rip] -> 0x74: word 0x18 */
	0xb8, 0x18, 0x00, 0x00, 0x00,                           /* 0x34 mov eax, 0x18 */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90,                     /* 0x39 load slot */
	0x48, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0,                     /* 0x3f movabs rdi, address */
	0x48, 0xb8, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, /* 0x49 movabs rax, 0x4141... */
	0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,         /* 0x53 access slot */
	0xb8, 0x0d, 0x60, 0x00, 0x00,                           /* 0x5b mov eax, 0x600d */
	0x66, 0xba, 0xf4, 0x00,                                 /* 0x60 out: mov dx, 0xf4 */
	0xef, 0xf4,                                             /* 0x64 out dx, eax; hlt */
	0xb8, 0x0d, 0x00, 0x00, 0x00, 0xeb, 0xf3,               /* 0x66 #GP: mov eax, 0xd; jmp out */
	0xb8, 0x0e, 0x00, 0x00, 0x00, 0xeb, 0xec,               /* 0x6d #PF: mov eax, 0xe; jmp out */
	0x18, 0x00,                                             /* 0x74 selector 0x18 */
	0x27, 0x00, 0x00, 0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x76 gdtr: 40 bytes at CODE_PA + 0x200 */
	0xef, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, /* 0x80 idtr: 15 gates at CODE_PA + 0x300 */
};

struct fsi_case {
	const char *what;
	bool gs;                /* GS (and its MSR) instead of FS */
	uint64_t msr_base;      /* the base WRMSR writes */
	uint8_t load[6];        /* the segment load (NOPs: none) */
	uint32_t desc_base;     /* the base of descriptor 0x18 */
	uint64_t addr;          /* RDI */
	uint8_t acc[8];         /* the access (its override prefix patched for GS) */
	bool store;             /* the access writes RAX = 0x4141... */
	unsigned bt_want;       /* bt's exit: 0 = 0xd (CONFINE), else this (the machine's) */
};

static void fsi_gate(uint8_t *img, unsigned vec, uint64_t off)
{
	uint64_t lo = (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | (((off >> 16) & 0xffff) << 48), hi = off >> 32;
	memcpy(img + 0x300 + vec * 16, &lo, 8);
	memcpy(img + 0x300 + vec * 16 + 8, &hi, 8);
}

/* Runs the case on the bare machine (0 engine) or under bt; returns the
 * exit code (0x600d: the access went through), the value read in *rax. */
static unsigned fsi_run(const struct fsi_case *c, bool bt, uint64_t *rax, bool *landed)
{
	static uint8_t img[0x400];
	memset(img, 0, sizeof img);
	memcpy(img, fsi_code, sizeof fsi_code);
	memcpy(img + 0x17, &c->msr_base, 8);
	if (c->gs)
		img[0x27] = 0x01;   /* GS_BASE 0xc0000101 */
	memcpy(img + FSI_LOAD, c->load, 6);
	memcpy(img + 0x41, &c->addr, 8);
	memcpy(img + FSI_ACC, c->acc, 8);
	if (c->gs)
		for (int i = 0; i < 8; i++)
			if (img[FSI_ACC + i] == 0x64)
				img[FSI_ACC + i] = 0x65;
	const uint64_t gdt[5] = {
		0, 0x00af9a000000ffffull, 0x00cf92000000ffffull,
		0x00cf92000000ffffull | ((uint64_t)(c->desc_base & 0xffffff) << 16) | ((uint64_t)(c->desc_base >> 24) << 56),
		CODE_PA + 0x5b,   /* not a descriptor (not present): a code pointer in the shadow GDT, for JMP */
	};
	memcpy(img + 0x200, gdt, sizeof gdt);
	fsi_gate(img, 13, CODE_PA + 0x66);
	fsi_gate(img, 14, CODE_PA + 0x6d);
	struct vl_machine *m;
	struct rig r;
	if (bt) {
		rig_up(&r, img, sizeof img);
		m = r.m;
	} else {
		m = bare_machine(&r.p, img, sizeof img);
	}
	vl_machine_run(m);
	if (m->state != VL_M_EXITED)
		fail_msg("%s (%s): state %d: %s", c->what, bt ? "bt" : "machine", m->state, m->diag);
	unsigned code = m->exit_code;
	*rax = m->cpu.gpr[VL_RSI];
	*landed = false;
	/* the store's target, offset 0x800 of a monitor page (RAX itself sits
	 * in the vCPU state page's register slot, saved by the check) */
	for (uint64_t pa = m->ram_size + 0x800; pa + 8 <= m->mem_size; pa += 4096)
		if (vl_phys_read64(m, pa) == 0x4141414141414141ull)
			*landed = true;
	if (bt)
		rig_down(&r);
	else
		vl_machine_free(m);
	return code;
}

static void test_fs_gs_override_confined(void **st)
{
	const uint64_t R = 0x10000000;                  /* descriptor base */
	const uint64_t gdt1 = VL_MONITOR_BASE + 0x10008; /* the shadow GDT's descriptor 1 (engines/hv/vcpu.h) */
	const uint64_t vsp = BT_VSTATE_VA + 0x800;       /* the bt vCPU state page (writable) */
	const uint64_t M = 1ull << 44;                  /* a WRMSR base that moves the stale check out of the hole */
#define MOVFS_EAX { 0x8e, 0xe0, 0x90, 0x90, 0x90, 0x90 }
#define MOVFS_MEM { 0x8e, 0x23, 0x90, 0x90, 0x90, 0x90 }   /* mov fs, [rbx] */
#define POPFS     { 0x6a, 0x18, 0x0f, 0xa1, 0x90, 0x90 }   /* push 0x18; pop fs */
#define NOLOAD    { 0x90, 0x90, 0x90, 0x90, 0x90, 0x90 }
#define LD_FS     { 0x64, 0x48, 0x8b, 0x07, 0x48, 0x89, 0xc6, 0x90 }   /* mov rax, fs:[rdi]; mov rsi, rax */
#define ST_FS     { 0x64, 0x48, 0x89, 0x07, 0x90, 0x90, 0x90, 0x90 }   /* mov fs:[rdi], rax */
	int bad = 0;
	const struct fsi_case cases[] = {
		{ "MOV FS, r; read", false, 0, MOVFS_EAX, R, gdt1 - R, LD_FS, false, 0 },
		{ "MOV FS, r; write", false, M, MOVFS_EAX, R, vsp - R, ST_FS, true, 0 },
		{ "MOV FS, m; write", false, M, MOVFS_MEM, R, vsp - R, ST_FS, true, 0 },
		{ "POP FS; write", false, M, POPFS, R, vsp - R, ST_FS, true, 0 },
		{ "MOV GS, r; write", true, M, { 0x8e, 0xe8, 0x90, 0x90, 0x90, 0x90 }, R, vsp - R, ST_FS, true, 0 },
		{ "POP GS; read", true, 0, { 0x6a, 0x18, 0x0f, 0xa9, 0x90, 0x90 }, R, gdt1 - R, LD_FS, false, 0 },
		/* the base from WRMSR itself (no load), then the override forms with
		 * implicit addresses: string source, MOV moffs, XLAT (also without one) */
		{ "WRMSR FS; write", false, vsp, NOLOAD, R, 0, ST_FS, true, 0 },
		{ "FS LODSQ", false, gdt1, NOLOAD, R, 0, { 0x48, 0x89, 0xfe, 0x64, 0x48, 0xad, 0x90, 0x90 }, false, 0 },
		{ "FS MOVSQ", false, gdt1, NOLOAD, R, 0, { 0x48, 0x89, 0xfe, 0x64, 0x48, 0xa5, 0x90, 0x90 }, false, 0 },
		{ "FS moffs32", false, gdt1, NOLOAD, R, 0, { 0x64, 0x67, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x90 }, false, 0 },
		{ "FS RIP-relative", false, VL_MONITOR_BASE + 0x10000, NOLOAD, R, 0, { 0x64, 0x48, 0x8b, 0x05, 0, 0, 0, 0 }, false, 0 },
		{ "FS JMP [RIP-relative]", false, VL_MONITOR_BASE + 0x10018, NOLOAD, R, 0, { 0x64, 0xff, 0x25, 0, 0, 0, 0, 0x90 }, false, 0 },
		/* JMP through FS:[RDI], RDI at a pointer the kernel planted in the
		 * shadow GDT, the base moving the check's address out of the hole:
		 * the pointer load dropped the override (it read the monitor's
		 * copy and jumped there); with it the access is #PF, as natively */
		{ "FS JMP [RDI]", false, M, NOLOAD, R, VL_MONITOR_BASE + 0x10020, { 0x64, 0xff, 0x27, 0x90, 0x90, 0x90, 0x90, 0x90 },
		  false, 0xe },
		/* 67h: the address is ESI (RSI's high half ignored), + the base */
		{ "FS LODSD 67h", false, VL_MONITOR_BASE, NOLOAD, R, 0x0000100000010008ull,
		  { 0x48, 0x89, 0xfe, 0x64, 0x67, 0xad, 0x90, 0x90 }, false, 0 },
		{ "FS OUTSB", false, gdt1, NOLOAD, R, 0, { 0x31, 0xf6, 0x66, 0xba, 0x80, 0x00, 0x64, 0x6e }, false, 0 },
		{ "XLAT", false, 0, NOLOAD, R, gdt1, { 0x48, 0x89, 0xfb, 0xd7, 0x90, 0x90, 0x90, 0x90 }, false, 0 },
		{ "FS XLAT", false, gdt1, NOLOAD, R, 0, { 0x48, 0x89, 0xfb, 0x64, 0xd7, 0x90, 0x90, 0x90 }, false, 0 },
		/* the load that moves the base out of the hole: no false CONFINE */
		{ "MOV FS out of the hole; read", false, vsp, MOVFS_EAX, R, CODE_PA - R, LD_FS, false, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fsi_case c1 = cases[i];
		const struct fsi_case *c = &c1;
		if (c1.acc[3] == 0x05 || c1.acc[2] == 0x25) {   /* RIP-relative: the displacement to address 8 (+ base: gdt1) */
			int at = c1.acc[3] == 0x05 ? 4 : 3, ilen = at + 4;
			int32_t d = (int32_t)(8 - (int64_t)(CODE_PA + FSI_ACC + (uint64_t)ilen));
			memcpy(c1.acc + at, &d, 4);
		}
		uint64_t rax_n, rax_b;
		bool landed_n, landed_b;
		unsigned n = fsi_run(c, false, &rax_n, &landed_n);
		unsigned b = fsi_run(c, true, &rax_b, &landed_b);
		if (c->addr == CODE_PA - R) {   /* an ordinary access: bt as the machine */
			if (n != 0x600d || b != 0x600d || rax_n != rax_b)
				bad++, print_error("%s: machine %#x rax %#llx, bt %#x rax %#llx\n", c->what, n, (unsigned long long)rax_n, b,
					 (unsigned long long)rax_b);
			continue;
		}
		if (n != 0xe)   /* nothing mapped at the monitor's addresses natively */
			bad++, print_error("%s: machine exit %#x\n", c->what, n);
		if (b != (c->bt_want ? c->bt_want : 0xd) || landed_b)
			bad++, print_error("%s: bt exit %#x (0x600d: the access reached monitor memory), rax %#llx, %s\n", c->what, b,
				 (unsigned long long)rax_b, landed_b ? "the store landed in monitor memory" : "nothing stored there");
	}
	assert_int_equal(bad, 0);
#undef MOVFS_EAX
#undef MOVFS_MEM
#undef POPFS
#undef NOLOAD
#undef LD_FS
#undef ST_FS
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_coherency_smc),
		cmocka_unit_test(test_chained_loop),
		cmocka_unit_test(test_tc_overflow_flush),
		cmocka_unit_test(test_rsp_into_monitor),
		cmocka_unit_test(test_garbage_and_mid_instruction),
		cmocka_unit_test(test_stac_clac_cr4_smap),
		cmocka_unit_test(test_smep_after_translation),
		cmocka_unit_test(test_smap_priv_on_user_page),
		cmocka_unit_test(test_32bit_far_call_stack_iretd),
		cmocka_unit_test(test_32bit_seg_pops_and_16bit_stack),
		cmocka_unit_test(test_32bit_pop_ss_shadow),
		cmocka_unit_test(test_nmi_anywhere),
		cmocka_unit_test(test_fs_gs_override_confined),
	};
	return cmocka_run_group_tests_name("bt engine", t, NULL, NULL);
}
