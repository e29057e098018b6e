/* test_devices.c — platform devices and CPU identity: exit port, debug
 * console, ACPI PM timer (monotonic, deterministic, 3.579545 MHz against
 * the profile clock), the x2APIC timer (one-shot and periodic at the
 * programmed TSC, mask, divide; TSC-deadline mode), TPR/PPR/ISR priority
 * and EOI, CPUID and MSRs (#GP cases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../../machine/internal.h"
#include "../support/test_profile.h"

#define X2(reg) (VL_MSR_X2APIC_FIRST + (reg))
#define R_TPR 0x08
#define R_PPR 0x0a
#define R_EOI 0x0b
#define R_SVR 0x0f
#define R_LVT_TIMER 0x32
#define R_TMICT 0x38
#define R_TMCCT 0x39
#define R_TDCR 0x3e

static struct vl_profile prof;

static struct vl_machine *mk(void)
{
	struct vl_machine_config cfg = { .prof = &prof, .ram_mb = 4, .monitor_mb = 1 };
	char err[200];
	struct vl_machine *m;

	vl_test_profile(&prof);
	m = vl_machine_new(&cfg, err, sizeof(err));
	assert_non_null(m);
	return m;
}

/* A machine on prof as the caller set it up (mk() resets prof first). */
static struct vl_machine *mk_keep(void)
{
	struct vl_machine *m = vl_machine_new(&(struct vl_machine_config){ .prof = &prof, .ram_mb = 4, .monitor_mb = 1 },
					      NULL, 0);
	assert_non_null(m);
	return m;
}

static void x2_enable(struct vl_machine *m)
{
	uint64_t base;
	assert_int_equal(vl_msr_read(m, VL_MSR_APIC_BASE, &base), 0);
	assert_int_equal(base & 0xfffff000ull, 0xfee00000ull);
	assert_int_equal(vl_msr_write(m, VL_MSR_APIC_BASE, base | (1ull << 10) | (1ull << 11)), 0);
	assert_int_equal(vl_msr_write(m, X2(R_SVR), 0x1ff), 0);   /* software enable, spurious 0xff */
}

static void test_exit_and_console(void **state)
{
	struct vl_machine *m = mk();

	vl_io_out(m, VL_PORT_DEBUGCON, 1, 'h');
	vl_io_out(m, VL_PORT_DEBUGCON, 1, 'i');
	assert_int_equal(m->console_len, 2);
	assert_string_equal(m->console, "hi");
	assert_int_equal(vl_io_in(m, VL_PORT_DEBUGCON, 1), 0xe9);
	assert_int_equal(vl_io_in(m, 0x80, 1), 0xff);          /* nothing there */
	assert_int_equal(m->state, VL_M_RUNNING);
	vl_io_out(m, VL_PORT_EXIT, 4, 3);
	assert_int_equal(m->state, VL_M_EXITED);
	assert_int_equal(m->exit_code, 3);
	assert_int_equal(m->ctr->events[VL_EV_IO_INSNS], 5);
	vl_machine_free(m);
}

/* Bad input from a guest (issue 11): every value to every UART register,
 * at every access size; fw_cfg with wrong-size selects, unknown keys,
 * reads far past an item's end and data-port writes; writes to the
 * read-only PM timer. Each lands in the documented hardware behaviour
 * (README "Devices"), the machine keeps running. */
static void test_port_nonsense(void **state)
{
	struct vl_machine *m = mk();

	/* UART: only THR writes with DLAB = 0 reach the console */
	for (unsigned sz = 1; sz <= 4; sz *= 2)
		for (unsigned reg = 1; reg < 8; reg++)
			for (unsigned v = 0; v < 256; v++)
				if (reg != 3)   /* LCR below: DLAB would swallow THR */
					vl_io_out(m, (uint16_t)(VL_PORT_UART + reg), sz, v | 0xabcd0000u);
	assert_int_equal(m->console_len, 0);
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 5, 1), 0x60);     /* LSR: THRE|TEMT, no data */
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 2, 1), 0x01);     /* IIR: no interrupt */
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 1, 1), 0x0f);     /* IER keeps bits 3:0 */
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 4, 1), 0x1f);     /* MCR keeps bits 4:0 */
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 0, 1), 0);        /* RBR: nothing received */
	assert_int_equal(vl_io_in(m, VL_PORT_UART + 5, 4), 0x60);     /* wider reads: the byte */
	vl_io_out(m, VL_PORT_UART + 3, 1, 0x83);                      /* DLAB = 1 */
	vl_io_out(m, VL_PORT_UART, 1, 'x');                           /* divisor latch, not THR */
	assert_int_equal(m->console_len, 0);
	assert_int_equal(vl_io_in(m, VL_PORT_UART, 1), 'x');
	vl_io_out(m, VL_PORT_UART + 3, 1, 0x03);
	vl_io_out(m, VL_PORT_UART, 4, 0x12345600u | 'y');             /* a dword: its low byte */
	assert_int_equal(m->console_len, 1);
	assert_int_equal(m->console[0], 'y');

	/* fw_cfg: a byte write cannot select (QEMU's selector is 16-bit) */
	vl_io_out(m, VL_PORT_FWCFG_SEL, 2, 0x0000);
	vl_io_out(m, VL_PORT_FWCFG_SEL, 1, 0x05);
	assert_int_equal(vl_io_in(m, VL_PORT_FWCFG_DATA, 1), 'Q');
	/* unknown keys read 0; reading far past the end stays 0 */
	for (unsigned key = 0x20; key < 0x10000; key += 0x1111) {
		vl_io_out(m, VL_PORT_FWCFG_SEL, 2, key);
		for (int i = 0; i < 64; i++)
			assert_int_equal(vl_io_in(m, VL_PORT_FWCFG_DATA, 1), 0);
	}
	vl_io_out(m, VL_PORT_FWCFG_SEL, 2, 0x05);                    /* CPU count: 1, then zeros */
	assert_int_equal(vl_io_in(m, VL_PORT_FWCFG_DATA, 1), 1);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(vl_io_in(m, VL_PORT_FWCFG_DATA, 1), 0);
	vl_io_out(m, VL_PORT_FWCFG_DATA, 1, 0x55);                   /* data writes are ignored */
	vl_io_out(m, VL_PORT_FWCFG_SEL, 2, 0x05);
	assert_int_equal(vl_io_in(m, VL_PORT_FWCFG_DATA, 1), 1);

	/* PM timer: read-only; writes change nothing */
	m->tsc = 123456789;
	uint32_t t = vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4);
	for (unsigned i = 0; i < 4; i++)
		vl_io_out(m, (uint16_t)(VL_PORT_PMTIMER_DEFAULT + i), 4, 0xffffffffu);
	assert_int_equal(vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4), t);
	assert_int_equal(m->state, VL_M_RUNNING);
	vl_machine_free(m);
}

static void test_pmtimer(void **state)
{
	struct vl_machine *m = mk(), *m2 = mk();
	uint32_t prev = 0, a, b;

	/* Monotonic (mod 2^24) as the TSC advances; identical on two machines. */
	for (int i = 0; i < 1000; i++) {
		m->tsc += 977 * (uint64_t)i;
		m2->tsc = m->tsc;
		a = vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4);
		b = vl_io_in(m2, VL_PORT_PMTIMER_DEFAULT, 4);
		assert_int_equal(a, b);
		assert_true(a < (1u << 24));
		assert_true(a >= prev);
		prev = a;
	}
	/* One modelled second (cpu_mhz * 1e6 cycles) is 3579545 ticks. */
	m->tsc = 1000;
	a = vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4);
	m->tsc += prof.cpu_mhz * 1000000ull;
	b = vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4);
	assert_int_equal((b - a) & 0xffffff, VL_PMTIMER_HZ);
	/* Wraps at 24 bits. */
	m->tsc = (uint64_t)prof.cpu_mhz * 1000000ull * 5;   /* 5 s = 17897725 ticks > 2^24 */
	assert_int_equal(vl_io_in(m, VL_PORT_PMTIMER_DEFAULT, 4), (5ull * VL_PMTIMER_HZ) & 0xffffff);
	vl_machine_free(m);
	vl_machine_free(m2);
}

static void test_apic_requires_x2apic_mode(void **state)
{
	struct vl_machine *m = mk();
	uint64_t v;

	assert_int_equal(vl_msr_read(m, X2(R_TPR), &v), -1);
	x2_enable(m);
	assert_int_equal(vl_msr_read(m, X2(R_TPR), &v), 0);
	assert_int_equal(vl_msr_write(m, X2(R_PPR), 0), -1);   /* read-only */
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 1), -1);   /* non-zero EOI */
	assert_int_equal(vl_msr_read(m, X2(R_EOI), &v), -1);   /* write-only */
	vl_machine_free(m);
	prof.features_x2apic = false;
	m = vl_machine_new(&(struct vl_machine_config){ .prof = &prof, .ram_mb = 4, .monitor_mb = 1 }, NULL, 0);
	assert_int_equal(vl_msr_write(m, VL_MSR_APIC_BASE, 0xfee00000ull | (3ull << 10)), -1);
	vl_machine_free(m);
}

/* Run the device clock to `tsc` the way the CPU loop does. */
static void advance_to(struct vl_machine *m, uint64_t tsc)
{
	while (vl_dev_next_event(m) <= tsc) {
		m->tsc = vl_dev_next_event(m);
		vl_dev_advance(m);
	}
	m->tsc = tsc;
}

static void test_apic_oneshot(void **state)
{
	struct vl_machine *m = mk();
	unsigned vec;
	uint64_t v;

	x2_enable(m);
	m->tsc = 5000;
	assert_int_equal(vl_msr_write(m, X2(R_TDCR), 0xb), 0);          /* divide by 1 */
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), 0x40), 0);    /* one-shot, vector 0x40 */
	assert_int_equal(vl_msr_write(m, X2(R_TMICT), 1000), 0);
	assert_int_equal(vl_dev_next_event(m), 6000);
	advance_to(m, 5999);
	assert_false(vl_apic_pending(m, &vec));
	assert_int_equal(vl_msr_read(m, X2(R_TMCCT), &v), 0);
	assert_int_equal(v, 1);
	advance_to(m, 6000);
	assert_true(vl_apic_pending(m, &vec));
	assert_int_equal(vec, 0x40);
	assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], 1);
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);
	assert_int_equal(vl_msr_read(m, X2(R_TMCCT), &v), 0);
	assert_int_equal(v, 0);
	vl_apic_accept(m, vec);
	assert_false(vl_apic_pending(m, &vec));
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);
	advance_to(m, 100000);
	assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], 1);
	/* Divide by 16: 100 counts = 1600 cycles. */
	assert_int_equal(vl_msr_write(m, X2(R_TDCR), 0x3), 0);
	assert_int_equal(vl_msr_write(m, X2(R_TMICT), 100), 0);
	assert_int_equal(vl_dev_next_event(m), 100000 + 1600);
	/* Masked: the tick is counted, nothing is pending. */
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), 0x40 | (1u << 16)), 0);
	advance_to(m, 200000);
	assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], 2);
	assert_false(vl_apic_pending(m, &vec));
	vl_machine_free(m);
}

static void test_apic_periodic(void **state)
{
	struct vl_machine *m = mk();
	unsigned vec;

	x2_enable(m);
	assert_int_equal(vl_msr_write(m, X2(R_TDCR), 0x0), 0);                     /* divide by 2 */
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), 0x30 | (1u << 17)), 0);  /* periodic */
	assert_int_equal(vl_msr_write(m, X2(R_TMICT), 500), 0);                   /* 1000 cycles */
	for (uint64_t k = 1; k <= 5; k++) {
		assert_int_equal(vl_dev_next_event(m), k * 1000);
		advance_to(m, k * 1000);
		assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], k);
		assert_true(vl_apic_pending(m, &vec));
		vl_apic_accept(m, vec);
		assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);
	}
	/* Writing 0 to the initial count stops it. */
	assert_int_equal(vl_msr_write(m, X2(R_TMICT), 0), 0);
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);
	vl_machine_free(m);
}

/* TSC-deadline mode (SDM Vol. 3A 10.5.4.1): only where the profile has it
 * (CPUID.1:ECX[24]); arm, fire at the exact TSC, MSR reads 0 after; a
 * deadline in the past fires at once; 0 disarms; TMICT ignored; a mode
 * change disarms; the value is in the guest's TSC (offset applied). */
static void test_apic_tsc_deadline(void **state)
{
	struct vl_machine *m;
	uint32_t r[4];
	unsigned vec;
	uint64_t v;
	const uint32_t deadline_mode = 2u << 17;

	vl_test_profile(&prof);
	prof.features_tsc_deadline = false;
	m = vl_machine_new(&(struct vl_machine_config){ .prof = &prof, .ram_mb = 4, .monitor_mb = 1 }, NULL, 0);
	assert_non_null(m);
	x2_enable(m);
	/* absent: CPUID bit clear, MSR #GP, bit 18 of the LVT ignored */
	vl_cpuid(m, 1, 0, r);
	assert_false(r[2] & (1u << 24));
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC_DEADLINE, &v), -1);
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 1), -1);
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), deadline_mode | 0x50), 0);
	assert_int_equal(vl_msr_read(m, X2(R_LVT_TIMER), &v), 0);
	assert_int_equal(v, 0x50);

	vl_machine_free(m);
	prof.features_tsc_deadline = true;   /* the machine keeps its own copy of the profile */
	m = vl_machine_new(&(struct vl_machine_config){ .prof = &prof, .ram_mb = 4, .monitor_mb = 1 }, NULL, 0);
	assert_non_null(m);
	x2_enable(m);
	vl_cpuid(m, 1, 0, r);
	assert_true(r[2] & (1u << 24));
	/* one-shot mode: the MSR reads 0 and ignores writes */
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 5000), 0);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC_DEADLINE, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);

	m->tsc = 1000;
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), deadline_mode | 0x50), 0);
	assert_int_equal(vl_msr_read(m, X2(R_LVT_TIMER), &v), 0);
	assert_int_equal(v, deadline_mode | 0x50);
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 4000), 0);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC_DEADLINE, &v), 0);
	assert_int_equal(v, 4000);
	assert_int_equal(vl_dev_next_event(m), 4000);
	assert_int_equal(vl_msr_write(m, X2(R_TMICT), 10), 0);     /* ignored in this mode */
	assert_int_equal(vl_msr_read(m, X2(R_TMICT), &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vl_dev_next_event(m), 4000);
	assert_int_equal(vl_msr_read(m, X2(R_TMCCT), &v), 0);
	assert_int_equal(v, 0);
	advance_to(m, 3999);
	assert_false(vl_apic_pending(m, &vec));
	advance_to(m, 4000);
	assert_true(vl_apic_pending(m, &vec));
	assert_int_equal(vec, 0x50);
	assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], 1);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC_DEADLINE, &v), 0);
	assert_int_equal(v, 0);                                      /* cleared on expiry */
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);
	vl_apic_accept(m, vec);
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);

	/* a deadline already passed fires at once */
	m->tsc = 10000;
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 9000), 0);
	assert_int_equal(vl_dev_next_event(m), 10000);
	advance_to(m, 10000);
	assert_true(vl_apic_pending(m, &vec));
	vl_apic_accept(m, vec);
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);

	/* 0 disarms; a mode change disarms */
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 20000), 0);
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 0), 0);
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 20000), 0);
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), 0x50), 0);
	assert_int_equal(vl_dev_next_event(m), UINT64_MAX);
	assert_int_equal(vl_msr_write(m, X2(R_LVT_TIMER), deadline_mode | 0x50), 0);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC_DEADLINE, &v), 0);
	assert_int_equal(v, 0);

	/* the deadline is in the guest's TSC: a VMCS/VMCB TSC offset applies */
	m->tsc_offset = 1000000;
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_DEADLINE, 1000000 + 10000 + 500), 0);
	assert_int_equal(vl_dev_next_event(m), 10500);
	m->tsc_offset = 0;
	assert_int_equal(m->ctr->events[VL_EV_TIMER_TICKS], 2);
	vl_machine_free(m);
}

/* TPR / CR8 and in-service priority (SDM Vol. 3A 11.8.3.1). */
static void test_apic_priority(void **state)
{
	struct vl_machine *m = mk();
	unsigned vec;
	uint64_t v;

	x2_enable(m);
	assert_int_equal(vl_msr_write(m, X2(0x3f), 0x45), 0);   /* self IPI: IRR 0x45 */
	vl_apic_set_tpr(m, 5);                                    /* TPR 0x50 blocks class 4 */
	assert_int_equal(vl_apic_get_tpr(m), 5);
	assert_int_equal(vl_msr_read(m, X2(R_TPR), &v), 0);
	assert_int_equal(v, 0x50);
	assert_false(vl_apic_pending(m, &vec));
	vl_apic_set_tpr(m, 4);                                    /* same class: still blocked */
	assert_false(vl_apic_pending(m, &vec));
	assert_int_equal(vl_msr_write(m, X2(R_TPR), 0x30), 0);    /* via the MSR: CR8 follows */
	assert_int_equal(m->cpu.cr8, 3);
	assert_true(vl_apic_pending(m, &vec));
	assert_int_equal(vec, 0x45);
	vl_apic_accept(m, vec);
	assert_int_equal(vl_msr_read(m, X2(R_PPR), &v), 0);
	assert_int_equal(v, 0x40);
	/* In service 0x45: 0x48 (same class) waits, 0x61 preempts. */
	assert_int_equal(vl_msr_write(m, X2(0x3f), 0x48), 0);
	assert_false(vl_apic_pending(m, &vec));
	assert_int_equal(vl_msr_write(m, X2(0x3f), 0x61), 0);
	assert_true(vl_apic_pending(m, &vec));
	assert_int_equal(vec, 0x61);
	vl_apic_accept(m, 0x61);
	assert_false(vl_apic_pending(m, &vec));
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);       /* ends 0x61 */
	assert_false(vl_apic_pending(m, &vec));                   /* 0x45 still in service */
	assert_int_equal(vl_msr_write(m, X2(R_EOI), 0), 0);       /* ends 0x45 */
	assert_true(vl_apic_pending(m, &vec));
	assert_int_equal(vec, 0x48);
	/* Software-disabled APIC presents nothing. */
	assert_int_equal(vl_msr_write(m, X2(R_SVR), 0xff), 0);
	assert_false(vl_apic_pending(m, &vec));
	vl_machine_free(m);
}

static void test_cpuid(void **state)
{
	struct vl_machine *m = mk();
	uint32_t r[4];
	char vendor[13] = { 0 };

	vl_cpuid(m, 0, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	assert_string_equal(vendor, "GenuineIntel");
	assert_true(r[0] >= 7);
	vl_cpuid(m, 1, 0, r);
	assert_true(r[2] & (1u << 21));         /* x2APIC */
	assert_false(r[2] & (1u << 31));        /* not under a hypervisor */
	assert_false(r[2] & (1u << 5));         /* no VMX advertised */
	assert_int_equal((r[0] >> 8) & 0xf, 6); /* family 6 for a 2020 Intel part */
	vl_cpuid(m, 0x80000001, 0, r);
	assert_true(r[3] & (1u << 29));         /* LM */
	assert_true(r[3] & (1u << 20));         /* NX */
	assert_true(r[3] & (1u << 11));         /* SYSCALL */
	assert_true(r[3] & (1u << 26));         /* 1G pages (profile) */
	vl_cpuid(m, 0x80000008, 0, r);
	assert_int_equal(r[0] & 0xff, vl_platform_maxphyaddr(&prof));
	assert_int_equal((r[0] >> 8) & 0xff, 48);
	vl_machine_free(m);

	vl_test_profile_amd(&prof);
	prof.features_gbpages = false;
	prof.features_x2apic = false;
	m = vl_machine_new(&(struct vl_machine_config){ .prof = &prof, .ram_mb = 4, .monitor_mb = 1 }, NULL, 0);
	vl_cpuid(m, 0, 0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	assert_string_equal(vendor, "AuthenticAMD");
	vl_cpuid(m, 1, 0, r);
	assert_false(r[2] & (1u << 21));
	assert_true(((r[0] >> 8) & 0xf) + ((r[0] >> 20) & 0xff) >= 0x17);   /* Zen family */
	vl_cpuid(m, 0x80000001, 0, r);
	assert_false(r[3] & (1u << 26));
	vl_machine_free(m);
}

static void test_msrs(void **state)
{
	struct vl_machine *m = mk();
	uint64_t v;

	m->tsc = 12345;
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC, &v), 0);
	assert_int_equal(v, 12345);
	assert_int_equal(vl_msr_write(m, VL_MSR_LSTAR, 0xffffffff81000000ull), 0);
	assert_int_equal(m->cpu.lstar, 0xffffffff81000000ull);
	assert_int_equal(vl_msr_write(m, VL_MSR_LSTAR, 0x0000800000000000ull), -1);   /* non-canonical */
	assert_int_equal(vl_msr_write(m, VL_MSR_GS_BASE, 0x1234), 0);
	assert_int_equal(m->cpu.seg[VL_GS].base, 0x1234);
	assert_int_equal(vl_msr_write(m, VL_MSR_KERNEL_GS_BASE, 0x5678), 0);
	assert_int_equal(vl_msr_read(m, VL_MSR_KERNEL_GS_BASE, &v), 0);
	assert_int_equal(v, 0x5678);
	assert_int_equal(vl_msr_write(m, VL_MSR_EFER, VL_EFER_SCE | VL_EFER_NXE | VL_EFER_LME), 0);
	assert_int_equal(vl_msr_write(m, VL_MSR_EFER, 1ull << 2), -1);                 /* reserved */
	assert_int_equal(vl_msr_write(m, VL_MSR_PAT, 0x0007040600070406ull), 0);
	assert_int_equal(vl_msr_write(m, VL_MSR_PAT, 0x02), -1);                       /* type 2 reserved */
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC_AUX, 1ull << 32), -1);
	assert_int_equal(vl_msr_read(m, 0xdeadbeef, &v), -1);
	assert_int_equal(vl_msr_write(m, 0x3a, 0), -1);                                /* unknown MSR */
	vl_machine_free(m);
}

/* The MSRs and CPUID bits kvm-unit-tests' msr and tsc_adjust probe:
 * IA32_TSC_ADJUST (SDM Vol. 3B 17.17.3), SYSENTER_CS/ESP/EIP by vendor,
 * IA32_MISC_ENABLE (Intel only), MCG_CAP with no banks; CPUID.7.0:EBX. */
static void test_msrs_kut(void **state)
{
	struct vl_machine *m;
	uint32_t r[4];
	uint64_t v, t0;

	vl_test_profile(&prof);   /* Intel, every feature */
	m = mk_keep();
	vl_cpuid(m, 7, 0, r);
	assert_int_equal(r[1], (1u << 1) | (1u << 7) | (1u << 20));
	vl_cpuid(m, 7, 1, r);
	assert_int_equal(r[1], 0);
	/* TSC_ADJUST: 0 at reset; writing it moves the TSC; writing the TSC moves it */
	m->tsc = 1000;
	assert_int_equal(vl_msr_read(m, 0x3b, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vl_msr_write(m, 0x3b, 500), 0);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC, &v), 0);
	assert_int_equal(v, 1500);
	m->tsc = 2000;
	assert_int_equal(vl_msr_write(m, VL_MSR_TSC, 10000), 0);
	assert_int_equal(vl_msr_read(m, 0x3b, &v), 0);
	assert_int_equal(v, 8000);
	assert_int_equal(vl_msr_read(m, VL_MSR_TSC, &t0), 0);
	assert_int_equal(t0, 10000);
	/* SYSENTER: Intel keeps 64-bit canonical addresses */
	assert_int_equal(vl_msr_write(m, 0x175, 0x0000123456789abcull), 0);
	assert_int_equal(vl_msr_read(m, 0x175, &v), 0);
	assert_int_equal(v, 0x0000123456789abcull);
	assert_int_equal(vl_msr_write(m, 0x176, 0xaaaaaaaaaaaaaaaaull), -1);
	assert_int_equal(vl_msr_write(m, 0x174, 0x1234), 0);
	assert_int_equal(vl_msr_read(m, 0x174, &v), 0);
	assert_int_equal(v, 0x1234);
	/* MISC_ENABLE: reset value, reserved bits #GP, read-only bits kept, bit 22 caps CPUID */
	assert_int_equal(vl_msr_read(m, 0x1a0, &v), 0);
	assert_int_equal(v, 0x1801);
	assert_int_equal(vl_msr_write(m, 0x1a0, v | (1ull << 1)), -1);
	assert_int_equal(vl_msr_write(m, 0x1a0, (1ull << 22) | (1ull << 7)), 0);
	assert_int_equal(vl_msr_read(m, 0x1a0, &v), 0);
	assert_int_equal(v, (1ull << 22) | (1ull << 11) | (1ull << 12));
	vl_cpuid(m, 0, 0, r);
	assert_int_equal(r[0], 2);
	assert_int_equal(vl_msr_write(m, 0x1a0, (1ull << 34)), 0);
	vl_cpuid(m, 0x80000001u, 0, r);
	assert_false(r[3] & (1u << 20));   /* XD disable clears NX */
	/* no machine-check banks */
	assert_int_equal(vl_msr_read(m, 0x179, &v), 0);
	assert_int_equal(v & 0xff, 0);
	assert_int_equal(vl_msr_read(m, 0x400, &v), -1);
	vl_machine_free(m);

	vl_test_profile_amd(&prof);
	prof.features_tsc_adjust = false;
	prof.features_smap = false;
	m = mk_keep();
	vl_cpuid(m, 7, 0, r);
	assert_int_equal(r[1], 1u << 7);
	assert_int_equal(vl_msr_read(m, 0x3b, &v), -1);
	assert_int_equal(vl_msr_write(m, 0x3b, 0), -1);
	/* AMD: SYSENTER_ESP/EIP keep bits 31:0; no IA32_MISC_ENABLE */
	assert_int_equal(vl_msr_write(m, 0x176, 0x0000123456789abcull), 0);
	assert_int_equal(vl_msr_read(m, 0x176, &v), 0);
	assert_int_equal(v, 0x56789abcull);
	assert_int_equal(vl_msr_read(m, 0x1a0, &v), -1);
	assert_int_equal(vl_msr_write(m, 0x1a0, 1), -1);
	vl_machine_free(m);
	vl_test_profile(&prof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_and_console),
		cmocka_unit_test(test_pmtimer),
		cmocka_unit_test(test_port_nonsense),
		cmocka_unit_test(test_apic_requires_x2apic_mode),
		cmocka_unit_test(test_apic_oneshot),
		cmocka_unit_test(test_apic_periodic),
		cmocka_unit_test(test_apic_tsc_deadline),
		cmocka_unit_test(test_apic_priority),
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_msrs),
		cmocka_unit_test(test_msrs_kut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
