/* devices.h — platform-half private state for devices. Owned by the platform half. */
#ifndef VL_MACHINE_DEVICES_H
#define VL_MACHINE_DEVICES_H
#include <stdint.h>
struct vl_dev_priv {
	uint32_t apic_lvt_timer, apic_tmict, apic_tdcr;
	uint64_t timer_deadline;      /* TSC of next expiry, UINT64_MAX = off */
	uint64_t timer_start;         /* TSC when the current count was (re)loaded */
	uint32_t apic_tpr, apic_svr, apic_esr, apic_ldr;
	uint32_t apic_lvt[6];         /* CMCI/thermal/perf/LINT0/LINT1/error (stored, never fire) */
	uint32_t irr[8], isr[8];      /* 256-bit vectors */
	/* 16550 UART at 0x3f8: registers that read back (IER, LCR, MCR, SCR, divisor latch) */
	uint8_t uart_ier, uart_lcr, uart_mcr, uart_scr, uart_dll, uart_dlm;
	/* fw_cfg (0x510 selector, 0x511 data): the selected item and the read offset */
	uint16_t fwcfg_key;
	uint32_t apic_icr_hi;         /* xAPIC ICR bits 63:32 (destination in 31:24) */
	int64_t tsc_adj;              /* guest WRMSR IA32_TSC: added to what RDTSC/RDMSR show (the model's TSC never moves) */
	uint32_t fwcfg_off;
	uint64_t tsc_deadline;        /* IA32_TSC_DEADLINE as the guest wrote it (guest TSC); 0 = disarmed */
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;   /* IA32_SYSENTER_* (platform.c) */
	uint64_t misc_enable;         /* IA32_MISC_ENABLE (Intel profiles; platform.c) */
};
#define VL_MISC_ENABLE_RESET 0x1801ull   /* fast strings (0); BTS (11) and PEBS (12) unavailable */
#endif
