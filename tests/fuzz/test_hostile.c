/* test_hostile.c — hostile guests (issue 15): each reproducer class that
 * does not need the VMM engines' own fixes, as a few bytes of guest code run
 * on every engine × MMU of the registries (tests/fuzz/guest_run). The oracle
 * is the native engine on the same profile: a virtualized run must end the
 * same way (state and exit code), and no run may crash the host (the test
 * runs under ASan/UBSan in `make test`). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "virtlab/run.h"
#include "../support/mini_elf.h"
#include "guest_run.h"

#define CODE_PA 0x100000ull
#define MAXCFG 32

static const char *const profile_names[] = { "zen4", "skylake-sp", NULL };
static struct vl_profile profs[2];
static struct vl_grun_cfg cfgs[MAXCFG];
static int ncfg;

static int setup(void **state)
{
	char err[256];
	ncfg = vl_grun_configs(profile_names, profs, 2, cfgs, MAXCFG, err, sizeof err);
	if (ncfg < 0) {
		print_error("profiles: %s\n", err);
		return -1;
	}
	return 0;
}

static const struct vl_grun_cfg *native_for(const struct vl_profile *p)
{
	for (int i = 0; i < ncfg; i++)
		if (cfgs[i].prof == p && !strcmp(cfgs[i].eng->name, "native"))
			return &cfgs[i];
	return NULL;
}

/* Run the code on the native engine of profile `pname` (expecting st and,
 * when exited, exit code ex), then on every configuration: each must end as
 * native does on its profile. */
static void run_everywhere(const uint8_t *code, size_t len, const char *pname, enum vl_mstate st, uint32_t ex)
{
	uint8_t img[VL_MINI_ELF_SIZE(2048)];
	assert_true(len <= 2048);
	size_t n = vl_test_mini_elf(img, CODE_PA, code, len, PF_R | PF_W | PF_X);
	const struct vl_profile *want = NULL;
	for (int p = 0; profile_names[p]; p++)
		if (!strcmp(profile_names[p], pname))
			want = &profs[p];
	assert_non_null(want);
	struct vl_grun_out o, nat;
	int checked = 0;

	for (int i = 0; i < ncfg; i++) {
		const struct vl_grun_cfg *c = &cfgs[i];
		const struct vl_grun_cfg *nc = native_for(c->prof);
		assert_non_null(nc);
		assert_int_equal(vl_grun(nc, img, n, 1000, 0, &nat), 0);
		if (c->prof == want) {
			if (nat.st != st || (st == VL_M_EXITED && nat.exit_code != ex))
				fail_msg("native/%s: %s exit %u (%s), want %s exit %u", pname, vl_grun_state_name(nat.st),
					 nat.exit_code, nat.diag, vl_grun_state_name(st), ex);
		}
		assert_int_equal(vl_grun(c, img, n, 1000, 0, &o), 0);
		if (!vl_grun_equivalent(c))
			continue;   /* diverges by design (trap): it must only not crash */
		if (o.st != nat.st || (o.st == VL_M_EXITED && o.exit_code != nat.exit_code))
			fail_msg("%s: %s exit %u (%s); native: %s exit %u (%s)", c->name, vl_grun_state_name(o.st),
				 o.exit_code, o.diag, vl_grun_state_name(nat.st), nat.exit_code, nat.diag);
		if (vl_grun_counts_guest_insns(c) && o.insns != nat.insns)   /* class 11: every engine retires the same guest instructions (bt counts its translation) */
			fail_msg("%s: %llu guest instructions, native %llu", c->name, (unsigned long long)o.insns,
				 (unsigned long long)nat.insns);
		checked++;
	}
	assert_true(checked >= 5);   /* native ×2, vtx and svm × shadow and nested at least */
}

/* run_everywhere, and the engines the oracle leaves out (trap, pv) must
 * end this code as native does too (state and exit code): for outcomes of
 * the shared vCPU runtime (engines/hv) that no divergence by design
 * excuses. */
static void run_all_engines(const uint8_t *code, size_t len, const char *pname, enum vl_mstate st, uint32_t ex)
{
	run_everywhere(code, len, pname, st, ex);
	uint8_t img[VL_MINI_ELF_SIZE(2048)];
	size_t n = vl_test_mini_elf(img, CODE_PA, code, len, PF_R | PF_W | PF_X);
	int checked = 0;
	for (int i = 0; i < ncfg; i++) {
		const struct vl_grun_cfg *c = &cfgs[i];
		if (vl_grun_equivalent(c))
			continue;
		struct vl_grun_out o, nat;
		assert_int_equal(vl_grun(native_for(c->prof), img, n, 1000, 0, &nat), 0);
		assert_int_equal(vl_grun(c, img, n, 1000, 0, &o), 0);
		if (o.st != nat.st || (o.st == VL_M_EXITED && o.exit_code != nat.exit_code))
			fail_msg("%s: %s exit %u (%s); native: %s exit %u (%s)", c->name, vl_grun_state_name(o.st),
				 o.exit_code, o.diag, vl_grun_state_name(nat.st), nat.exit_code, nat.diag);
		checked++;
	}
	assert_true(checked >= 2);   /* trap at least */
}

/* Class 2: a boot PDE points at a page table at physical 1 TiB (beyond all
 * memory), then a load through it. The shadow MMU indexed its per-frame
 * arrays with that frame (heap out of bounds). On zen4 (MAXPHYADDR 52) the
 * all-ones table is a valid walk: the load reads ones and the guest exits 0. */
static void test_shadow_pt_beyond_memory(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0x08, 0x30, 0, 0, 0, 0, 0, 0,         /* mov rax, 0x3008 (boot PD entry 1) */
		0x48, 0xb9, 0x03, 0, 0, 0, 0, 0x01, 0, 0,         /* mov rcx, 0x10000000003 */
		0x48, 0x89, 0x08,                                 /* mov [rax], rcx */
		0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8,               /* mov rax, cr3; mov cr3, rax */
		0x48, 0xb8, 0, 0, 0x20, 0, 0, 0, 0, 0,            /* mov rax, 0x200000 */
		0x48, 0x8b, 0x00,                                 /* mov rax, [rax] */
		0xb0, 0x00, 0xe6, 0xf4,                           /* mov al, 0; out 0xf4, al */
	};
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
}

/* The same with the table in the frame just above guest RAM (the monitor
 * window on virtualized engines) and far above it at the top of MAXPHYADDR. */
static void test_shadow_pt_above_ram(void **state)
{
	uint8_t code[] = {
		0x48, 0xb8, 0x08, 0x30, 0, 0, 0, 0, 0, 0,         /* mov rax, 0x3008 */
		0x48, 0xb9, 0x03, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0,  /* mov rcx, 0xffffffffff003 */
		0x48, 0x89, 0x08,
		0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8,
		0x48, 0xb8, 0, 0, 0x20, 0, 0, 0, 0, 0,
		0x48, 0x8b, 0x00,
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
}

/* Class 4: an xAPIC MMIO read at offset 8 of a register's 16-byte slot
 * shifted a 64-bit value by 64 (UBSan). The guest maps the APIC page with a
 * 2M PDE (0xc0000083) and reads 0xfee00008: zero, then exits 0. */
static void test_apic_mmio_read_high_offset(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0x18, 0x20, 0, 0, 0, 0, 0, 0,         /* mov rax, 0x2018 (boot PDPT entry 3) */
		0x48, 0xb9, 0x83, 0, 0, 0xc0, 0, 0, 0, 0,         /* mov rcx, 0xc0000083 (1G page at 3G) */
		0x48, 0x89, 0x08,
		0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8,
		0x48, 0xb8, 0x08, 0, 0xe0, 0xfe, 0, 0, 0, 0,      /* mov rax, 0xfee00008 */
		0x8b, 0x08,                                       /* mov ecx, [rax] */
		0x85, 0xc9, 0x74, 0x04,                           /* test ecx, ecx; jz +4 */
		0xb0, 0x01, 0xe6, 0xf4,                           /* mov al, 1; out 0xf4, al */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
}

/* Class 6: MOV to CR3 with bits 63:52 set raises #GP (no IDT: triple
 * fault); it was accepted and svm/nested's next VMRUN failed. */
static void test_cr3_mbz_bits(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xb8, 0x00, 0x10, 0, 0, 0, 0, 0, 0x10,      /* mov rax, 0x1000000000001000 */
		0x0f, 0x22, 0xd8,                                 /* mov cr3, rax */
		0x31, 0xc0, 0x0f, 0xa2,                           /* xor eax, eax; cpuid */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_all_engines(code, sizeof code, "zen4", VL_M_TRIPLE_FAULT, 0);
	run_all_engines(code, sizeof code, "skylake-sp", VL_M_TRIPLE_FAULT, 0);
}

/* Bit 63 of MOV to CR3 is the no-flush hint with CR4.PCIDE = 1 (accepted,
 * not stored) and reserved without it. */
static void test_cr3_bit63(void **state)
{
	static const uint8_t with_pcide[] = {
		0x0f, 0x20, 0xe0,                                 /* mov rax, cr4 */
		0x48, 0x0f, 0xba, 0xe8, 0x11,                     /* bts rax, 17 (PCIDE) */
		0x0f, 0x22, 0xe0,                                 /* mov cr4, rax */
		0x0f, 0x20, 0xd8,                                 /* mov rax, cr3 */
		0x48, 0x0f, 0xba, 0xe8, 0x3f,                     /* bts rax, 63 */
		0x0f, 0x22, 0xd8,                                 /* mov cr3, rax */
		0x0f, 0x20, 0xd9,                                 /* mov rcx, cr3 */
		0x48, 0x0f, 0xba, 0xe1, 0x3f,                     /* bt rcx, 63 */
		0x0f, 0x92, 0xc0,                                 /* setc al: 1 if stored */
		0xe6, 0xf4,                                       /* out 0xf4, al */
	};
	static const uint8_t without[] = {
		0x0f, 0x20, 0xd8,                                 /* mov rax, cr3 */
		0x48, 0x0f, 0xba, 0xe8, 0x3f,                     /* bts rax, 63 */
		0x0f, 0x22, 0xd8,                                 /* mov cr3, rax */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_all_engines(with_pcide, sizeof with_pcide, "zen4", VL_M_EXITED, 0);
	run_all_engines(without, sizeof without, "zen4", VL_M_TRIPLE_FAULT, 0);
}

/* Class 10: RAM is 4 MiB; the native engine let the guest write and read
 * back memory above it (the monitor area): every engine must see unbacked
 * memory there, reading all ones (exit status 0xff). */
static void test_native_no_monitor_memory(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xb9, 0x10, 0x00, 0x40, 0, 0, 0, 0, 0,      /* mov rcx, 0x400010 (RAM + 16) */
		0x48, 0xc7, 0x01, 0x05, 0, 0, 0,                  /* mov qword [rcx], 5 */
		0x8a, 0x01,                                       /* mov al, [rcx] */
		0xe6, 0xf4,                                       /* out 0xf4, al */
	};
	_Static_assert(VL_GRUN_RAM_MB == 4, "the code addresses RAM + 16");
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0xff);
}

/* Class 12: a RAM size the machine refuses is a refusal (usage, 2) before
 * the run, not a failed run. */
static void test_ram_size_refused(void **state)
{
	static const uint64_t bad[] = { 1, VL_RAM_MB_MAX + 1, 1ull << 40 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct vl_run_spec s = { .engine = "native", .workload = "cpuid", .ram_mb = bad[i] };
		struct vl_run_result r;
		assert_int_equal(vl_run_execute(&s, &r), 2);
		assert_int_equal(r.status, VL_RUN_REFUSED);
		assert_non_null(strstr(r.reason, "RAM size"));
		vl_run_result_free(&r);
	}
}

/* Class 1: LIDT with an unmapped base, then UD2. Delivering #UD faults
 * (#PF on the IDT), then #PF again: #DF, then a fault during #DF: a triple
 * fault. Under shadow paging the VMM reflected each #PF as a new injection,
 * without end (host stack overflow). */
static void test_fault_during_injection(void **state)
{
	uint8_t code[78];
	memset(code, 0x90, sizeof code);
	static const uint8_t head[] = {
		0x48, 0xb8, 0x40, 0x00, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100040 */
		0x0f, 0x01, 0x18,                                 /* lidt [rax] */
		0x0f, 0x0b,                                       /* ud2 */
	};
	static const uint8_t idtr[] = { 0xff, 0x0f, 0, 0, 0, 0x40, 0, 0, 0, 0 };   /* limit 0xfff, base 1 GiB: unmapped */
	memcpy(code, head, sizeof head);
	memcpy(code + 0x40, idtr, sizeof idtr);
	memcpy(code + 74, (uint8_t[]){ 0xb0, 0x00, 0xe6, 0xf4 }, 4);
	run_everywhere(code, sizeof code, "zen4", VL_M_TRIPLE_FAULT, 0);
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_TRIPLE_FAULT, 0);
}

/* Class 9: string I/O to a mapped page the shadow tables do not hold yet:
 * the VMM's emulation must let the MMU engine fill it (a hidden fault), not
 * inject a #PF (no IDT: a triple fault). */
static void test_string_io_hidden_fault(void **state)
{
	static const uint8_t outs[] = {
		0x48, 0xbe, 0, 0, 0x30, 0, 0, 0, 0, 0,            /* mov rsi, 0x300000 */
		0x66, 0xba, 0xe9, 0x00,                           /* mov dx, 0xe9 */
		0x6f,                                             /* outsd */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	static const uint8_t ins[] = {
		0x48, 0xbf, 0, 0, 0x30, 0, 0, 0, 0, 0,            /* mov rdi, 0x300000 */
		0x66, 0xba, 0xe9, 0x00,
		0x6d,                                             /* insd */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_all_engines(outs, sizeof outs, "zen4", VL_M_EXITED, 0);
	run_all_engines(ins, sizeof ins, "zen4", VL_M_EXITED, 0);
}

/* Issue 8: REP INS/OUTS at CPL 0, up and down (DF = 1), emulated by the
 * deprivileged engines' vCPU runtime (it stopped the run: "string I/O is
 * not emulated"). The guest prints "hello" forwards, then backwards, reads
 * two bytes from the console port with REP INSB and exits with the sum of
 * the console port's byte and the count left (0). */
static void test_rep_string_io(void **state)
{
	uint8_t code[0x120] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xbe, 0x00, 0x01, 0x10, 0, 0, 0, 0, 0,      /* mov rsi, 0x100100 ("hello") */
		0xb9, 0x05, 0, 0, 0,                              /* mov ecx, 5 */
		0x66, 0xba, 0xe9, 0x00,                           /* mov dx, 0xe9 */
		0xf3, 0x6e,                                       /* rep outsb */
		0x48, 0xbe, 0x04, 0x01, 0x10, 0, 0, 0, 0, 0,      /* mov rsi, 0x100104 (the 'o') */
		0xb9, 0x05, 0, 0, 0,                              /* mov ecx, 5 */
		0xfd, 0xf3, 0x6e, 0xfc,                           /* std; rep outsb; cld */
		0x48, 0xbf, 0x10, 0x01, 0x10, 0, 0, 0, 0, 0,      /* mov rdi, 0x100110 */
		0xb9, 0x02, 0, 0, 0,                              /* mov ecx, 2 */
		0xf3, 0x6c,                                       /* rep insb */
		0x8a, 0x04, 0x25, 0x11, 0x01, 0x10, 0x00,         /* mov al, [0x100111] */
		0x00, 0xc8,                                       /* add al, cl */
		0xe6, 0xf4,                                       /* out 0xf4, al */
	};
	_Static_assert(sizeof main_code < 0x100, "code below the data");
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, "hello", 5);
	struct vl_grun_out nat;
	uint8_t img[VL_MINI_ELF_SIZE(2048)];
	size_t n = vl_test_mini_elf(img, CODE_PA, code, sizeof code, PF_R | PF_W | PF_X);
	assert_int_equal(vl_grun(native_for(&profs[0]), img, n, 1000, 0, &nat), 0);
	assert_int_equal(nat.st, VL_M_EXITED);
	assert_int_equal(nat.console_len, 10);   /* "helloolleh" */
	run_all_engines(code, sizeof code, "zen4", VL_M_EXITED, nat.exit_code);
}

/* The gate of a fault names a code segment with L = D = 1 (reserved):
 * delivering the #GP of the far return to it faults again, #DF, a triple
 * fault — the vCPU runtime's virtual delivery took that segment as 64-bit
 * code (fuzz finding, seed 11 case 254, on bt). */
static void test_gate_to_l_and_d(void **state)
{
	uint8_t code[0x520] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xb8, 0x00, 0x01, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100100 (GDTR) */
		0x0f, 0x01, 0x10,                                 /* lgdt [rax] */
		0x48, 0xb8, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100500 (IDTR) */
		0x0f, 0x01, 0x18,                                 /* lidt [rax] */
		0x6a, 0x10,                                       /* push 0x10 */
		0xe8, 0, 0, 0, 0,                                 /* call next */
		0x48, 0x83, 0x04, 0x24, 0x07,                     /* add qword [rsp], 7 */
		0x48, 0xcb,                                       /* retfq to 0x10: L = D = 1 -> #GP(0x10) */
		0xb0, 0x01, 0xe6, 0xf4,
	};
	/* 0x08: 64-bit code (what the loader runs on), 0x10: L = D = 1 */
	static const uint64_t gdt[3] = { 0, 0x00af9a000000ffffull, 0x00ef9a000000ffffull };
	static const uint8_t gdtr[10] = { 0x17, 0x00, 0x10, 0x01, 0x10, 0x00 };   /* base 0x100110 */
	static const uint8_t gate13[16] = { 0x00, 0x02, 0x10, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100200 via 0x10 */
	static const uint8_t idtr[10] = { 0xff, 0x00, 0x00, 0x04, 0x10, 0x00 };
	static const uint8_t handler[] = { 0xb0, 0x02, 0xe6, 0xf4 };
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, gdtr, sizeof gdtr);
	memcpy(code + 0x110, gdt, sizeof gdt);
	memcpy(code + 0x200, handler, sizeof handler);
	memcpy(code + 0x400 + 13 * 16, gate13, sizeof gate13);
	memcpy(code + 0x500, idtr, sizeof idtr);
	run_all_engines(code, sizeof code, "zen4", VL_M_TRIPLE_FAULT, 0);
}

/* Class 9 (svm): a #PF raised while the VMM emulates OUTS reaches the
 * guest with CR2 = the faulting address (it was stale). The #PF handler
 * exits 0 when CR2 is right, 1 otherwise. */
static void test_string_io_fault_cr2(void **state)
{
	uint8_t code[0x510] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xb8, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100500 (IDTR) */
		0x0f, 0x01, 0x18,                                 /* lidt [rax] */
		0x48, 0xbe, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff,      /* mov rsi, 0xffff800000000000 (unmapped) */
		0x66, 0xba, 0xe9, 0x00,                           /* mov dx, 0xe9 */
		0x6f,                                             /* outsd */
		0xeb, 0xfe,                                       /* jmp $ */
	};
	static const uint8_t handler[] = {
		0x0f, 0x20, 0xd0,                                 /* mov rax, cr2 */
		0x48, 0xb9, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff,      /* mov rcx, 0xffff800000000000 */
		0x48, 0x39, 0xc8,                                 /* cmp rax, rcx */
		0x0f, 0x95, 0xc0,                                 /* setne al */
		0xe6, 0xf4,                                       /* out 0xf4, al */
		0xeb, 0xfe,
	};
	static const uint8_t gate14[16] = { 0x00, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100100 */
	static const uint8_t idtr[10] = { 0xff, 0x00, 0x00, 0x04, 0x10, 0x00 };               /* base 0x100400 */
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, handler, sizeof handler);
	memcpy(code + 0x400 + 14 * 16, gate14, sizeof gate14);
	memcpy(code + 0x500, idtr, sizeof idtr);
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_EXITED, 0);
}

/* OUTS with an FS override whose base (WRMSR FS_BASE) puts the source in
 * the monitor hole while RSI / ESI alone is outside it: natively a #PF
 * (nothing is mapped there), CR2 = the base: the monitor's shadow GDT
 * (VL_VCPU_MON_GDT). The vCPU runtime's string-I/O check (engines/hv,
 * used by trap, pv and bt) looked at RSI without the base, so trap and
 * pv read the monitor's GDT through the hardware root
 * and wrote it to the console port (64-bit addressing), and skipped the
 * check altogether with 32-bit addressing (67h). The #PF handler exits 0
 * when CR2 is the base; the #GP handler exits 2 — bt's own
 * check (CONFINE, by design #GP) comes first; reaching the instruction
 * after OUTS exits 3. Nothing may reach the console on any engine. */
static void test_outs_fs_base_into_hole(void **state)
{
	static const uint8_t outs_forms[][4] = {
		{ 0x64, 0x6f },                  /* fs outsd (RSI = 0) */
		{ 0x67, 0x64, 0x6f },            /* addr32 fs outsd (ESI = 0) */
		{ 0xf3, 0x64, 0x6e },            /* rep fs outsb (RCX = 3) */
		{ 0xf3, 0x67, 0x64, 0x6e },      /* rep addr32 fs outsb */
	};
	static const uint8_t lens[] = { 2, 3, 3, 4 };
	for (size_t f = 0; f < sizeof lens; f++) {
		uint8_t code[0x510] = { 0 };
		uint8_t main_code[64];
		static const uint8_t pre[] = {
			0x48, 0xb8, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100500 (IDTR) */
			0x0f, 0x01, 0x18,                                 /* lidt [rax] */
			0xb9, 0x00, 0x01, 0x00, 0xc0,                     /* mov ecx, 0xc0000100 (FS_BASE) */
			0xb8, 0x00, 0x00, 0x01, 0x00,                     /* mov eax, 0x10000 */
			0xba, 0x00, 0x80, 0xff, 0xff,                     /* mov edx, 0xffff8000 */
			0x0f, 0x30,                                       /* wrmsr: FS base = 0xffff800000010000 */
			0x31, 0xf6,                                       /* xor esi, esi */
			0xb9, 0x03, 0, 0, 0,                              /* mov ecx, 3 */
			0x66, 0xba, 0xe9, 0x00,                           /* mov dx, 0xe9 */
		};
		static const uint8_t post[] = { 0xb0, 0x03, 0xe6, 0xf4, 0xeb, 0xfe };   /* exit 3 */
		size_t n = 0;
		memcpy(main_code, pre, sizeof pre);
		n += sizeof pre;
		memcpy(main_code + n, outs_forms[f], lens[f]);
		n += lens[f];
		memcpy(main_code + n, post, sizeof post);
		n += sizeof post;
		static const uint8_t pf_handler[] = {
			0x0f, 0x20, 0xd0,                                 /* mov rax, cr2 */
			0x48, 0xb9, 0, 0, 0x01, 0, 0, 0x80, 0xff, 0xff,   /* mov rcx, 0xffff800000010000 */
			0x48, 0x39, 0xc8,                                 /* cmp rax, rcx */
			0x0f, 0x95, 0xc0,                                 /* setne al */
			0xe6, 0xf4, 0xeb, 0xfe,                           /* out 0xf4, al */
		};
		static const uint8_t gp_handler[] = { 0xb0, 0x02, 0xe6, 0xf4, 0xeb, 0xfe };
		static const uint8_t gate14[16] = { 0x00, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100100 */
		static const uint8_t gate13[16] = { 0x80, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100180 */
		static const uint8_t idtr[10] = { 0xff, 0x00, 0x00, 0x04, 0x10, 0x00 };               /* base 0x100400 */
		memcpy(code, main_code, n);
		memcpy(code + 0x100, pf_handler, sizeof pf_handler);
		memcpy(code + 0x180, gp_handler, sizeof gp_handler);
		memcpy(code + 0x400 + 13 * 16, gate13, sizeof gate13);
		memcpy(code + 0x400 + 14 * 16, gate14, sizeof gate14);
		memcpy(code + 0x500, idtr, sizeof idtr);
		uint8_t img[VL_MINI_ELF_SIZE(2048)];
		size_t isz = vl_test_mini_elf(img, CODE_PA, code, sizeof code, PF_R | PF_W | PF_X);
		int deprivileged = 0;
		for (int i = 0; i < ncfg; i++) {
			const struct vl_grun_cfg *c = &cfgs[i];
			struct vl_grun_out o;
			assert_int_equal(vl_grun(c, img, isz, 1000, 0, &o), 0);
			const char *e = c->eng->name;
			bool bt = !strcmp(e, "bt"), rt = bt || !strcmp(e, "trap") || !strcmp(e, "pv");
			uint32_t want = bt ? 2 : 0;
			if (o.st != VL_M_EXITED || o.exit_code != want || o.console_len != 0)
				fail_msg("form %zu, %s: %s exit %u, %zu console bytes (%s); want exit %u, none", f, c->name,
					 vl_grun_state_name(o.st), o.exit_code, o.console_len, o.diag, want);
			deprivileged += rt && !bt;
		}
		assert_true(deprivileged >= 2);   /* trap and pv ran it */
	}
}

/* Class 7 (vtx): an intercepted OUTS right after MOV SS with IF = 0: the
 * interruptibility state said "blocking by STI" and VM entry failed. */
static void test_movss_shadow_exit(void **state)
{
	static const uint8_t code[] = {
		0x48, 0xbe, 0, 0, 0x10, 0, 0, 0, 0, 0,            /* mov rsi, 0x100000 */
		0x66, 0xba, 0xe9, 0x00,                           /* mov dx, 0xe9 */
		0xb8, 0x10, 0, 0, 0,                              /* mov eax, 0x10 */
		0x8e, 0xd0,                                       /* mov ss, ax */
		0x6f,                                             /* outsd (in the MOV-SS shadow) */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_EXITED, 0);
}

/* Class 5: exits the engines enable with no handler stopped the run
 * ("unexpected exit"; svm: CLTS/LMSW "CR0 access without decode assist",
 * INVD reported as WBINVD). Each must end as natively: RDPMC #GP, MONITOR
 * and MWAIT #UD on these CPUs (no IDT: triple fault), the rest complete. */
static void test_exits_with_handlers(void **state)
{
	static const struct { const char *name; uint8_t code[12]; size_t len; enum vl_mstate st; } c[] = {
		{ "rdpmc", { 0x31, 0xc9, 0x0f, 0x33 }, 4, VL_M_TRIPLE_FAULT },
		{ "monitor", { 0x48, 0x89, 0xe0, 0x31, 0xc9, 0x31, 0xd2, 0x0f, 0x01, 0xc8 }, 10, VL_M_TRIPLE_FAULT },
		{ "mwait", { 0x31, 0xc0, 0x31, 0xc9, 0x0f, 0x01, 0xc9 }, 7, VL_M_TRIPLE_FAULT },
		{ "clts", { 0x0f, 0x06 }, 2, VL_M_EXITED },
		{ "lmsw", { 0x0f, 0x20, 0xc0, 0x0f, 0x01, 0xf0 }, 6, VL_M_EXITED },
		{ "wbinvd", { 0x0f, 0x09 }, 2, VL_M_EXITED },
		{ "invd", { 0x0f, 0x08 }, 2, VL_M_EXITED },
	};
	for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
		uint8_t code[16];
		memcpy(code, c[k].code, c[k].len);
		memcpy(code + c[k].len, (uint8_t[]){ 0xb0, 0x00, 0xe6, 0xf4 }, 4);
		print_message("%s\n", c[k].name);
		run_everywhere(code, c[k].len + 4, "zen4", c[k].st, 0);
		run_everywhere(code, c[k].len + 4, "skylake-sp", c[k].st, 0);
	}
}

/* Found by the fuzz harness: a far return to a code segment with L and D
 * both set is #GP natively; the machine loaded it and the next VM entry
 * failed its guest-state check. */
static void test_far_return_l_and_d(void **state)
{
	uint8_t code[0x120] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xb8, 0x00, 0x01, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100100 (GDTR) */
		0x0f, 0x01, 0x10,                                 /* lgdt [rax] */
		0x6a, 0x08,                                       /* push 0x08 */
		0xe8, 0, 0, 0, 0,                                 /* call next */
		0x48, 0x83, 0x04, 0x24, 0x07,                     /* add qword [rsp], 7 */
		0x48, 0xcb,                                       /* retfq to 0x08: L = D = 1 */
		0xb0, 0x00, 0xe6, 0xf4,
	};
	static const uint64_t gdt[2] = { 0, 0x00ef9a000000ffffull };   /* code: L = 1 and D = 1 */
	static const uint8_t gdtr[10] = { 0x0f, 0x00, 0x10, 0x01, 0x10, 0x00 };   /* base 0x100110 */
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, gdtr, sizeof gdtr);
	memcpy(code + 0x110, gdt, sizeof gdt);
	run_everywhere(code, sizeof code, "zen4", VL_M_TRIPLE_FAULT, 0);
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_TRIPLE_FAULT, 0);
}

/* Class 8: an exception frame pushed onto a page-table page (a leaf table
 * the guest made and used, so the shadow MMU write-protects it): the VMM
 * cannot emulate the CPU's own push and retried the delivery 17 times,
 * then stopped; now the page stays writable until the delivery is over.
 * The #UD handler exits 0. */
static void test_delivery_writes_page_table(void **state)
{
	uint8_t code[0x510] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xb8, 0, 0, 0x20, 0, 0, 0, 0, 0,            /* mov rax, 0x200000 */
		0x48, 0xb9, 0x03, 0, 0x30, 0, 0, 0, 0, 0,         /* mov rcx, 0x300003 */
		0x48, 0x89, 0x08,                                 /* mov [rax], rcx: PT[0] -> 0x300000 */
		0x48, 0xb8, 0x00, 0x38, 0, 0, 0, 0, 0, 0,         /* mov rax, 0x3800 (boot PD entry 0x100) */
		0x48, 0xb9, 0x03, 0, 0x20, 0, 0, 0, 0, 0,         /* mov rcx, 0x200003 */
		0x48, 0x89, 0x08,                                 /* mov [rax], rcx: VA 512M -> PT at 0x200000 */
		0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8,               /* mov rax, cr3; mov cr3, rax */
		0x48, 0xb8, 0, 0, 0, 0x20, 0, 0, 0, 0,            /* mov rax, 0x20000000 */
		0x48, 0x8b, 0x08,                                 /* mov rcx, [rax]: the PT is in use */
		0x48, 0xb8, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100500 (IDTR) */
		0x0f, 0x01, 0x18,                                 /* lidt [rax] */
		0x48, 0xbc, 0x00, 0x08, 0x20, 0, 0, 0, 0, 0,      /* mov rsp, 0x200800: inside the PT page */
		0x0f, 0x0b,                                       /* ud2 */
	};
	static const uint8_t handler[] = { 0xb0, 0x00, 0xe6, 0xf4 };
	static const uint8_t gate6[16] = { 0x00, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100100 */
	static const uint8_t idtr[10] = { 0xff, 0x00, 0x00, 0x04, 0x10, 0x00 };
	_Static_assert(sizeof main_code < 0x100, "code below the handler");
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, handler, sizeof handler);
	memcpy(code + 0x400 + 6 * 16, gate6, sizeof gate6);
	memcpy(code + 0x500, idtr, sizeof idtr);
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_EXITED, 0);
}

/* Class 8 on a table on its own path: RSP inside the boot page directory,
 * which maps the stack, the IDT and the code: tearing its shadow down for
 * the push (KVM's unprotect) does not hold, as the retried delivery shadows
 * it again (found by the fuzz harness, seed1-001708). */
static void test_delivery_writes_own_page_table(void **state)
{
	uint8_t code[0x510] = { 0 };
	static const uint8_t main_code[] = {
		0x48, 0xb8, 0x00, 0x05, 0x10, 0, 0, 0, 0, 0,      /* mov rax, 0x100500 (IDTR) */
		0x0f, 0x01, 0x18,                                 /* lidt [rax] */
		0x48, 0xbc, 0x00, 0x38, 0, 0, 0, 0, 0, 0,         /* mov rsp, 0x3800: PD entries 0xfb..0xff below */
		0x0f, 0x0b,                                       /* ud2 */
	};
	static const uint8_t handler[] = { 0xb0, 0x00, 0xe6, 0xf4 };
	static const uint8_t gate6[16] = { 0x00, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00 };   /* -> 0x100100 */
	static const uint8_t idtr[10] = { 0xff, 0x00, 0x00, 0x04, 0x10, 0x00 };
	memcpy(code, main_code, sizeof main_code);
	memcpy(code + 0x100, handler, sizeof handler);
	memcpy(code + 0x400 + 6 * 16, gate6, sizeof gate6);
	memcpy(code + 0x500, idtr, sizeof idtr);
	run_everywhere(code, sizeof code, "zen4", VL_M_EXITED, 0);
	run_everywhere(code, sizeof code, "skylake-sp", VL_M_EXITED, 0);
}

/* Class 11: a page-table write the shadow VMM emulates (traced) retires
 * like any instruction (run_everywhere compares instruction counts): eight
 * writes into the boot page directory after it has been shadowed. */
static void test_emulated_write_retires(void **state)
{
	uint8_t code[64];
	size_t n = 0;
	static const uint8_t head[] = {
		0x48, 0xb8, 0x00, 0x38, 0, 0, 0, 0, 0, 0,         /* mov rax, 0x3800 (PD entry 0x100) */
		0x48, 0x8b, 0x08,                                 /* mov rcx, [rax] */
	};
	memcpy(code, head, sizeof head);
	n = sizeof head;
	for (int k = 0; k < 8; k++) {
		memcpy(code + n, (uint8_t[]){ 0x48, 0x89, 0x08 }, 3);   /* mov [rax], rcx: a traced write */
		n += 3;
	}
	memcpy(code + n, (uint8_t[]){ 0xb0, 0x00, 0xe6, 0xf4 }, 4);
	n += 4;
	run_everywhere(code, n, "zen4", VL_M_EXITED, 0);
	run_everywhere(code, n, "skylake-sp", VL_M_EXITED, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shadow_pt_beyond_memory),
		cmocka_unit_test(test_shadow_pt_above_ram),
		cmocka_unit_test(test_apic_mmio_read_high_offset),
		cmocka_unit_test(test_cr3_mbz_bits),
		cmocka_unit_test(test_cr3_bit63),
		cmocka_unit_test(test_native_no_monitor_memory),
		cmocka_unit_test(test_ram_size_refused),
		cmocka_unit_test(test_fault_during_injection),
		cmocka_unit_test(test_string_io_hidden_fault),
		cmocka_unit_test(test_rep_string_io),
		cmocka_unit_test(test_gate_to_l_and_d),
		cmocka_unit_test(test_string_io_fault_cr2),
		cmocka_unit_test(test_movss_shadow_exit),
		cmocka_unit_test(test_outs_fs_base_into_hole),
		cmocka_unit_test(test_exits_with_handlers),
		cmocka_unit_test(test_far_return_l_and_d),
		cmocka_unit_test(test_delivery_writes_page_table),
		cmocka_unit_test(test_delivery_writes_own_page_table),
		cmocka_unit_test(test_emulated_write_retires),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
