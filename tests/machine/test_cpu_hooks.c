/* test_cpu_hooks.c — the machine hooks a software VMM needs (machine.h):
 * callout gating (the callout bytes are #UD outside the translation
 * cache, at the wrong CPL or from the wrong frames), the interrupt window
 * (VL_HOOK_HOLD keeps an interrupt pending until vl_intr_release, with no
 * stop after any number of instructions), code-write notification (guest
 * stores, string stores and vl_phys_write to watched frames, per frame),
 * and the exit-slot invariant of vl_count_exit (assert.h). Guest code is a
 * few bytes on the loader's boot state (identity map, flat GDT). */
#include <elf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtlab/machine.h"
#include "../support/mini_elf.h"
#include "../support/test_profile.h"

#define CODE_PA   0x200000ull
#define IDT_PA    0x210000ull
#define HANDLER   (CODE_PA + 0x100)
#define PD_PA     0x3000ull   /* the loader's boot page directory (guest_abi.h) */
#define WATCH_PA  0x300000ull

static struct vl_profile prof;

/* ---- a recording VMM ------------------------------------------------------- */
static struct {
	unsigned callouts, last_id, ud, intr_calls, writes;
	int intr_rc[8];
	struct { uint64_t frame; unsigned off, len; } w[16];
} rec;

static int h_callout(struct vl_machine *m, void *ctx, uint32_t id)
{
	rec.callouts++;
	rec.last_id = id;
	m->cpu.rip += VL_CALLOUT_LEN;
	return VL_HOOK_DONE;
}

static int h_exception(struct vl_machine *m, void *ctx, unsigned vec, bool has_err, uint32_t err, uint64_t cr2)
{
	if (vec == VL_UD)
		rec.ud++;
	vl_machine_stop(m, VL_M_ERROR, "exception %u", vec);
	return VL_HOOK_STOP;
}

static int h_interrupt(struct vl_machine *m, void *ctx, unsigned vec)
{
	unsigned k = rec.intr_calls++;
	return k < 8 ? rec.intr_rc[k] : VL_HOOK_PASS;
}

static void h_code_write(struct vl_machine *m, void *ctx, uint64_t frame, unsigned off, unsigned len)
{
	if (rec.writes < 16) {
		rec.w[rec.writes].frame = frame;
		rec.w[rec.writes].off = off;
		rec.w[rec.writes].len = len;
	}
	rec.writes++;
}

static const struct vl_vmm_ops rec_ops = {
	.callout = h_callout, .exception = h_exception, .interrupt = h_interrupt,
};

/* A machine running `code` at CODE_PA at CPL 0 under the recording VMM. */
static struct vl_machine *boot(const uint8_t *code, size_t len)
{
	char err[256] = "";
	uint8_t img[VL_MINI_ELF_SIZE(512)];
	vl_test_profile(&prof);
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 8, .monitor_mb = 2 };
	struct vl_machine *m = vl_machine_new(&cfg, err, sizeof err);
	assert_non_null(m);
	assert_true(len <= 512);
	size_t n = vl_test_mini_elf(img, CODE_PA, code, len, PF_R | PF_X);
	assert_int_equal(vl_machine_load_elf_mem(m, img, n, "", err, sizeof err), 0);
	memset(&rec, 0, sizeof rec);
	m->vmm = &rec_ops;
	m->vmm_ctx = NULL;
	m->exc_intercept = 1u << VL_UD;
	m->max_insns = 100000;
	return m;
}

/* Run the code at CODE_PA as CPL 3: user bit on the boot tables' path to it. */
static void to_user(struct vl_machine *m)
{
	uint64_t e;
	e = vl_phys_read64(m, 0x1000); vl_phys_write64(m, 0x1000, e | VL_PTE_US);   /* PML4[0] */
	e = vl_phys_read64(m, 0x2000); vl_phys_write64(m, 0x2000, e | VL_PTE_US);   /* PDPT[0] */
	e = vl_phys_read64(m, PD_PA + 8); vl_phys_write64(m, PD_PA + 8, e | VL_PTE_US);   /* PD[1]: 2..4 MiB */
	vl_tlb_flush_all(m);
	m->cpu.cpl = 3;
	m->cpu.seg[VL_CS].sel = 0x2b;
	m->cpu.seg[VL_CS].attr |= 3u << 5;
}

static const uint8_t callout_code[] = { 0x0f, 0xff, 0xc8, 0x34, 0x12, 0x00, 0x00, 0x90, 0xf4 };

/* One step at the callout: honoured (1) or #UD (0). */
static int try_callout(struct vl_machine *m)
{
	vl_machine_step(m);
	if (rec.ud)
		return 0;
	assert_int_equal(rec.callouts, 1);
	assert_int_equal(rec.last_id, 0x1234);
	assert_true(m->cpu.rip == CODE_PA + VL_CALLOUT_LEN);
	return 1;
}

static void test_callout_gate(void **s)
{
	(void)s;
	const struct vl_callout_gate tc = { .va_lo = CODE_PA, .va_hi = CODE_PA + 0x1000, .cpl = 0 };
	struct vl_machine *m;

	/* callouts off: #UD even inside the gate */
	m = boot(callout_code, sizeof callout_code);
	m->callout_gate = tc;
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);

	/* callouts on, empty gate: kernel code outside any TC gets #UD */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	assert_int_equal(try_callout(m), 0);
	assert_int_equal(rec.callouts, 0);
	vl_machine_free(m);

	/* kernel code outside the TC range (the TC is elsewhere) */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = (struct vl_callout_gate){ .va_lo = CODE_PA + 0x1000, .va_hi = CODE_PA + 0x2000 };
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);

	/* the instruction must lie wholly inside the range */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = (struct vl_callout_gate){ .va_lo = CODE_PA, .va_hi = CODE_PA + 6 };
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);

	/* inside the TC at the TC's CPL: honoured */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = tc;
	assert_int_equal(try_callout(m), 1);
	vl_machine_free(m);

	/* inside the range but at the wrong CPL (the TC runs at CPL 1) */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = tc;
	m->callout_gate.cpl = 1;
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);

	/* user code executing the callout bytes: #UD, even at the TC's addresses */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = tc;
	to_user(m);
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);

	/* host-physical check: the TC's frames elsewhere -> #UD; these frames -> honoured */
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = tc;
	m->callout_gate.pa_lo = m->ram_size;
	m->callout_gate.pa_hi = m->mem_size;
	assert_int_equal(try_callout(m), 0);
	vl_machine_free(m);
	m = boot(callout_code, sizeof callout_code);
	m->callouts = true;
	m->callout_gate = tc;
	m->callout_gate.pa_lo = CODE_PA;
	m->callout_gate.pa_hi = CODE_PA + 0x1000;
	assert_int_equal(try_callout(m), 1);
	vl_machine_free(m);
}

/* The quiet walk of the physical check is invisible: same counters with and without it. */
static void test_callout_gate_invisible(void **s)
{
	(void)s;
	struct vl_counters c[2];
	for (int k = 0; k < 2; k++) {
		struct vl_machine *m = boot(callout_code, sizeof callout_code);
		m->callouts = true;
		m->callout_gate = (struct vl_callout_gate){ .va_lo = CODE_PA, .va_hi = CODE_PA + 0x1000 };
		if (k) {
			m->callout_gate.pa_lo = CODE_PA;
			m->callout_gate.pa_hi = CODE_PA + 0x1000;
		}
		memset(m->region, 0, sizeof m->region);
		assert_int_equal(try_callout(m), 1);
		vl_machine_step(m);   /* the NOP after it */
		c[k] = *m->ctr;
		vl_machine_free(m);
	}
	assert_memory_equal(&c[0], &c[1], sizeof c[0]);
}

/* ---- interrupt window ----------------------------------------------------- */
static struct vl_machine *boot_intr(const uint8_t *code, size_t len)
{
	uint8_t buf[512];
	memset(buf, 0x90, sizeof buf);
	memcpy(buf, code, len);
	static const uint8_t handler[] = { 0xb0, 0x42, 0xe6, 0xf4, 0xf4 };   /* mov al,0x42; out 0xf4,al; hlt */
	memcpy(buf + (HANDLER - CODE_PA), handler, sizeof handler);
	struct vl_machine *m = boot(buf, sizeof buf);
	/* IDT: vector 0x40 -> HANDLER, interrupt gate, CS 0x08 */
	uint64_t lo = (HANDLER & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((HANDLER >> 16) & 0xffff) << 48;
	vl_phys_write64(m, IDT_PA + 0x40 * 16, lo);
	vl_phys_write64(m, IDT_PA + 0x40 * 16 + 8, HANDLER >> 32);
	m->cpu.idtr.base = IDT_PA;
	m->cpu.idtr.limit = 256 * 16 - 1;
	m->cpu.rflags |= VL_FL_IF;
	m->intr_intercept = true;
	/* x2APIC on, software-enabled, a self IPI pending */
	assert_int_equal(vl_msr_write(m, VL_MSR_APIC_BASE, m->cpu.apic_base | (1ull << 10)), 0);
	assert_int_equal(vl_apic_wrmsr(m, 0x80f, 0x1ff), 0);
	assert_int_equal(vl_apic_wrmsr(m, 0x83f, 0x40), 0);
	return m;
}

static void test_intr_hold(void **s)
{
	(void)s;
	static const uint8_t spin[] = { 0xeb, 0xfe };   /* jmp . */
	struct vl_machine *m = boot_intr(spin, sizeof spin);
	rec.intr_rc[0] = VL_HOOK_HOLD;    /* the guest's virtual IF is 0 */
	rec.intr_rc[1] = VL_HOOK_PASS;    /* after release: deliver */
	for (int k = 0; k < 1000; k++)   /* far beyond the old 64-decline limit */
		vl_machine_step(m);
	assert_int_equal(m->state, VL_M_RUNNING);
	assert_int_equal(rec.intr_calls, 1);   /* offered once, then held */
	assert_true(m->intr_held);
	assert_int_equal(m->ctr->events[VL_EV_INTR_HOLDS], 1);
	assert_int_equal(m->ctr->events[VL_EV_INTERRUPTS], 0);
	assert_true(m->cpu.rip == CODE_PA);
	vl_intr_release(m);   /* the guest set its virtual IF */
	assert_false(m->intr_held);
	for (int k = 0; k < 10 && m->state == VL_M_RUNNING; k++)
		vl_machine_step(m);
	assert_int_equal(rec.intr_calls, 2);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 0x42);
	vl_machine_free(m);

	/* HLT with the interrupt held: nothing can wake the CPU -> a clean stop */
	static const uint8_t halt[] = { 0xf4, 0xeb, 0xfe };
	m = boot_intr(halt, sizeof halt);
	rec.intr_rc[0] = VL_HOOK_HOLD;
	vl_machine_run(m);
	assert_int_equal(m->state, VL_M_ERROR);
	assert_non_null(strstr(m->diag, "held"));
	vl_machine_free(m);
}

/* ---- broken invariants: an assertion in test builds, a clean recovery otherwise ----
 * Run fn in a child: with VL_DEBUG (make test) it must die of the
 * assertion's abort(); without, it must return true (the recovery ran). */
static void expect_invariant(bool (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn() ? 0 : 1);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (VL_DEBUG_ON)
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	else
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static bool done_undelivered(void)
{
	static const uint8_t spin[] = { 0xeb, 0xfe };
	struct vl_machine *m = boot_intr(spin, sizeof spin);
	for (int k = 0; k < 8; k++)
		rec.intr_rc[k] = VL_HOOK_DONE;
	for (int k = 0; k < 100 && m->state == VL_M_RUNNING; k++)
		vl_machine_step(m);
	return m->state == VL_M_ERROR && strstr(m->diag, "without delivering") && rec.intr_calls == 1;
}

static bool exit_slot_outside_table(void)
{
	static const struct vl_exit_desc tab[2] = { { 1, "ONE" }, { 2, "TWO" } };
	struct vl_machine *m = boot(callout_code, sizeof callout_code);
	m->exit_table = tab;
	m->exit_table_len = 2;
	vl_count_exit(m, 1, 10);
	bool ok = m->ctr->exit_count[1] == 1 && m->ctr->events[VL_EV_UNKNOWN_EXIT_SLOTS] == 0;
	vl_count_exit(m, 5, 10);   /* in range of the array, outside the table */
	return ok && m->ctr->exit_count[5] == 0 && m->ctr->events[VL_EV_UNKNOWN_EXIT_SLOTS] == 1 &&
	       m->ctr->events[VL_EV_EXITS] == 2;
}

/* DONE is "the VMM delivered it": DONE with the vector still pending is a
 * VMM bug — an assertion in test builds, a clean stop otherwise. */
static void test_intr_done_undelivered(void **s)
{
	(void)s;
	expect_invariant(done_undelivered);
}

/* ---- code-write notification ------------------------------------------------ */
static void test_code_write(void **s)
{
	(void)s;
	static const uint8_t code[] = {
		0x88, 0x07,             /* mov [rdi], al */
		0xf3, 0xaa,             /* rep stosb */
		0x48, 0x89, 0x07,       /* mov [rdi], rax */
		0xf4,
	};
	struct vl_machine *m = boot(code, sizeof code);
	m->code_write = h_code_write;
	assert_int_equal(vl_code_watch(m, WATCH_PA >> 12, true), 0);
	assert_true(vl_code_watched(m, WATCH_PA >> 12));
	assert_false(vl_code_watched(m, (WATCH_PA >> 12) + 1));
	assert_int_equal(vl_code_watch(m, m->mem_size >> 12, true), -1);

	/* a guest byte store */
	m->cpu.gpr[VL_RDI] = WATCH_PA + 0x10;
	vl_machine_step(m);
	assert_int_equal(rec.writes, 1);
	assert_true(rec.w[0].frame == WATCH_PA >> 12);
	assert_int_equal(rec.w[0].off, 0x10);
	assert_int_equal(rec.w[0].len, 1);

	/* a string store across the end of the watched frame: only the watched bytes */
	m->cpu.gpr[VL_RDI] = WATCH_PA + 0xffe;
	m->cpu.gpr[VL_RCX] = 4;
	vl_machine_step(m);
	assert_int_equal(m->cpu.gpr[VL_RCX], 0);
	assert_int_equal(rec.writes, 3);
	assert_int_equal(rec.w[1].off, 0xffe);
	assert_int_equal(rec.w[2].off, 0xfff);

	/* a page-crossing 8-byte store with both frames watched: one call per frame */
	assert_int_equal(vl_code_watch(m, (WATCH_PA >> 12) + 1, true), 0);
	m->cpu.gpr[VL_RDI] = WATCH_PA + 0xffd;
	vl_machine_step(m);
	assert_int_equal(rec.writes, 5);
	assert_true(rec.w[3].frame == WATCH_PA >> 12 && rec.w[3].off == 0xffd && rec.w[3].len == 3);
	assert_true(rec.w[4].frame == (WATCH_PA >> 12) + 1 && rec.w[4].off == 0 && rec.w[4].len == 5);

	/* VMM writes (vl_phys_write*) notify too; unwatched frames never */
	uint8_t buf[16] = { 0 };
	assert_int_equal(vl_phys_write(m, WATCH_PA + 0x100, buf, sizeof buf), 0);
	assert_int_equal(rec.writes, 6);
	assert_true(rec.w[5].off == 0x100 && rec.w[5].len == 16);
	vl_phys_write64(m, WATCH_PA + 0x2000, 1);
	assert_int_equal(rec.writes, 6);
	assert_int_equal(vl_code_watch(m, WATCH_PA >> 12, false), 0);
	vl_phys_write64(m, WATCH_PA + 8, 1);
	assert_int_equal(rec.writes, 6);
	vl_machine_free(m);
}

/* A watched frame that also holds decoded code: self-modifying code still
 * executes the new bytes (both bits of the per-frame byte work together). */
static void test_code_write_and_decode(void **s)
{
	(void)s;
	static const uint8_t code[] = {
		0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0xf4,   /* mov byte [rip+1], 0xf4: CODE_PA+8 becomes HLT */
		0x90, 0xeb, 0xfe,                           /* nop; jmp . (its first byte is rewritten) */
	};
	struct vl_machine *m = boot(code, sizeof code);
	m->code_write = h_code_write;
	assert_int_equal(vl_code_watch(m, CODE_PA >> 12, true), 0);
	vl_machine_run(m);
	/* the store hit the watched code frame, then the new HLT ran (nothing to wake it: a clean stop) */
	assert_int_equal(rec.writes, 1);
	assert_int_equal(rec.w[0].off, 8);
	assert_int_equal(m->state, VL_M_ERROR);
	assert_non_null(strstr(m->diag, "HLT"));
	assert_true(m->cpu.rip == CODE_PA + 9);
	vl_machine_free(m);
}

/* ---- assertions: an exit counted outside the engine's table ------------------ */
static void test_exit_slot_invariant(void **s)
{
	(void)s;
	expect_invariant(exit_slot_outside_table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callout_gate),
		cmocka_unit_test(test_callout_gate_invisible),
		cmocka_unit_test(test_intr_hold),
		cmocka_unit_test(test_intr_done_undelivered),
		cmocka_unit_test(test_code_write),
		cmocka_unit_test(test_code_write_and_decode),
		cmocka_unit_test(test_exit_slot_invariant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
