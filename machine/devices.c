/* devices.c — the platform's devices: debug console (port 0xE9), exit
 * device (port 0xF4, QEMU isa-debug-exit), ACPI PM timer, and the local
 * APIC through its x2APIC MSR interface (timer, TPR/PPR, IRR/ISR, EOI).
 *
 * Time is the TSC (= modelled cycles), so every device is deterministic.
 * APIC timer assumption: the timer's input clock ("bus clock") is taken to
 * be the TSC clock, so one timer count = divide-config TSC cycles. Real
 * parts differ (e.g. 100 MHz bus); guests calibrate against the PM timer or
 * TSC anyway, and this keeps the deadline an exact cycle number. */
#include <string.h>

#include "internal.h"

/* x2APIC register numbers (MSR - 0x800 = xAPIC offset >> 4). */
enum {
	APIC_ID = 0x02, APIC_VER = 0x03, APIC_TPR = 0x08, APIC_PPR = 0x0a, APIC_EOI = 0x0b,
	APIC_LDR = 0x0d, APIC_SVR = 0x0f, APIC_ISR0 = 0x10, APIC_TMR0 = 0x18, APIC_IRR0 = 0x20,
	APIC_ESR = 0x28, APIC_LVT_CMCI = 0x2f, APIC_ICR = 0x30, APIC_LVT_TIMER = 0x32,
	APIC_LVT_THERMAL = 0x33, APIC_LVT_PMC = 0x34, APIC_LVT_LINT0 = 0x35, APIC_LVT_LINT1 = 0x36,
	APIC_LVT_ERROR = 0x37, APIC_TMICT = 0x38, APIC_TMCCT = 0x39, APIC_TDCR = 0x3e,
	APIC_SELF_IPI = 0x3f,
};
#define LVT_MASKED    (1u << 16)
#define LVT_PERIODIC  (1u << 17)
#define LVT_MODE      (3u << 17)      /* timer mode: 00 one-shot, 01 periodic, 10 TSC-deadline */
#define LVT_DEADLINE  (2u << 17)
#define SVR_ENABLE    (1u << 8)
#define APIC_BASE_EN   (1ull << 11)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_BSP  (1ull << 8)
#define APIC_VERSION  0x00050014u     /* version 0x14, max LVT 5 (as QEMU's APIC): no CMCI LVT (0x2F: #GP in x2APIC mode, as KVM without MCG_CAP.CMCI_P) */

void vl_dev_reset(struct vl_machine *m)
{
	struct vl_dev_priv *d = &m->priv->dev;

	memset(d, 0, sizeof(*d));
	d->timer_deadline = UINT64_MAX;
	d->apic_lvt_timer = LVT_MASKED;
	for (int i = 0; i < 6; i++)
		d->apic_lvt[i] = LVT_MASKED;
	d->apic_svr = 0xff;
	d->misc_enable = VL_MISC_ENABLE_RESET;
	vl_dev_cpu_reset(m);
}

/* Architectural reset values of CPU-visible platform registers; called
 * again after vl_cpu_reset (which may clear the whole vl_cpu). */
void vl_dev_cpu_reset(struct vl_machine *m)
{
	m->cpu.apic_base = 0xfee00000ull | APIC_BASE_EN | APIC_BASE_BSP;
	if (!m->cpu.pat)
		m->cpu.pat = 0x0007040600070406ull;
}

/* ---- ACPI PM timer -------------------------------------------------------
 * 24-bit counter at 3.579545 MHz: floor(tsc * 3579545 / (mhz * 1e6)). */
static uint32_t pmtimer_read(struct vl_machine *m)
{
	uint64_t hz = m->prof->cpu_mhz ? m->prof->cpu_mhz * 1000000ull : 1000000000ull;
	unsigned __int128 t = (unsigned __int128)m->tsc * VL_PMTIMER_HZ / hz;

	return (uint32_t)(t & 0xffffff);
}

/* ---- 16550 UART (COM1) ------------------------------------------------------
 * Output only, as QEMU's -serial stdio seen by a polling guest: a byte
 * written to THR (DLAB = 0) goes to the console at once, so LSR always
 * reads THRE|TEMT (0x60) and no data ready; IIR reads "no interrupt"
 * (0x01); RBR reads 0; MSR reads 0. IER, LCR, MCR, SCR and the divisor
 * latch read back what was written. No interrupts are raised. */
static uint32_t uart_in(struct vl_machine *m, unsigned reg)
{
	struct vl_dev_priv *d = &m->priv->dev;
	bool dlab = d->uart_lcr & 0x80;
	switch (reg) {
	case 0: return dlab ? d->uart_dll : 0;
	case 1: return dlab ? d->uart_dlm : d->uart_ier;
	case 2: return 0x01;
	case 3: return d->uart_lcr;
	case 4: return d->uart_mcr;
	case 5: return 0x60;
	case 6: return 0;
	default: return d->uart_scr;
	}
}

static void uart_out(struct vl_machine *m, unsigned reg, uint8_t v)
{
	struct vl_dev_priv *d = &m->priv->dev;
	bool dlab = d->uart_lcr & 0x80;
	switch (reg) {
	case 0:
		if (dlab)
			d->uart_dll = v;
		else
			vl_console_putc(m, (char)v);
		break;
	case 1:
		if (dlab)
			d->uart_dlm = v;
		else
			d->uart_ier = v & 0x0f;
		break;
	case 3: d->uart_lcr = v; break;
	case 4: d->uart_mcr = v & 0x1f; break;
	case 7: d->uart_scr = v; break;
	default: break;   /* FCR (2), LSR/MSR (5, 6) are not writable state here */
	}
}

/* ---- fw_cfg (QEMU's firmware configuration device, I/O interface) ------------
 * A 16-bit write to 0x510 selects an item and rewinds it; each byte read
 * from 0x511 returns the next byte of the item (0 past its end, and for
 * items the machine does not provide — as QEMU). Items: signature "QEMU",
 * ID 1 (traditional interface only), RAM size, CPU count and max CPUs 1. */
static uint32_t fwcfg_in(struct vl_machine *m)
{
	struct vl_dev_priv *d = &m->priv->dev;
	uint8_t item[8] = { 0 };
	unsigned n = 0;
	switch (d->fwcfg_key) {
	case 0x00: memcpy(item, "QEMU", 4); n = 4; break;              /* FW_CFG_SIGNATURE */
	case 0x01: item[0] = 1; n = 4; break;                          /* FW_CFG_ID */
	case 0x03: {                                                   /* FW_CFG_RAM_SIZE */
		uint64_t r = m->ram_size;
		memcpy(item, &r, 8);
		n = 8;
		break;
	}
	case 0x05: case 0x0f: item[0] = 1; n = 2; break;               /* FW_CFG_NB_CPUS, FW_CFG_MAX_CPUS */
	default: break;
	}
	uint32_t v = d->fwcfg_off < n ? item[d->fwcfg_off] : 0;
	if (d->fwcfg_off < UINT32_MAX)
		d->fwcfg_off++;
	return v;
}

uint32_t vl_io_in(struct vl_machine *m, uint16_t port, unsigned size)
{
	uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	uint32_t v = 0xffffffffu;    /* nothing decodes the port: the bus floats high */

	vl_count(m, VL_EV_IO_INSNS, 1);
	if (port >= VL_PORT_UART && port < VL_PORT_UART + 8)
		v = uart_in(m, port - VL_PORT_UART);
	else if (port == VL_PORT_FWCFG_DATA)
		v = fwcfg_in(m);
	else if (port == VL_PORT_FWCFG_SEL)
		v = m->priv->dev.fwcfg_key;
	else if (port == VL_PORT_DEBUGCON)
		v = VL_PORT_DEBUGCON;    /* QEMU debugcon reads back 0xE9 (detection) */
	else if (port >= VL_PORT_PMTIMER_DEFAULT && port < VL_PORT_PMTIMER_DEFAULT + 4)
		v = pmtimer_read(m) >> (8 * (port - VL_PORT_PMTIMER_DEFAULT));
	return v & mask;
}

void vl_io_out(struct vl_machine *m, uint16_t port, unsigned size, uint32_t val)
{
	vl_count(m, VL_EV_IO_INSNS, 1);
	if (port >= VL_PORT_UART && port < VL_PORT_UART + 8) {
		uart_out(m, port - VL_PORT_UART, (uint8_t)val);
	} else if (port == VL_PORT_FWCFG_SEL && size >= 2) {
		m->priv->dev.fwcfg_key = (uint16_t)val;
		m->priv->dev.fwcfg_off = 0;
	} else if (port == VL_PORT_DEBUGCON) {
		vl_console_putc(m, (char)(val & 0xff));
	} else if (port == VL_PORT_EXIT) {
		uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
		m->exit_code = val & mask;
		vl_machine_stop(m, VL_M_EXITED, "guest wrote %u to the exit device", val & mask);
	}
}

/* ---- Local APIC ------------------------------------------------------------ */
static int vec_highest(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static uint32_t apic_ppr(const struct vl_dev_priv *d)
{
	int isrv = vec_highest(d->isr);
	uint32_t isr_cls = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (d->apic_tpr & 0xf0) >= isr_cls ? d->apic_tpr & 0xff : isr_cls;
}

static uint64_t apic_div(const struct vl_dev_priv *d)
{
	/* TDCR bits 0,1,3: 000=2 001=4 010=8 011=16 100=32 101=64 110=128 111=1 */
	unsigned code = (d->apic_tdcr & 3) | ((d->apic_tdcr >> 1) & 4);
	return code == 7 ? 1 : 2ull << code;
}

static void apic_set_irr(struct vl_dev_priv *d, unsigned vec)
{
	if (vec >= 16)   /* vectors 0-15 are illegal for the APIC */
		d->irr[vec / 32] |= 1u << (vec % 32);
}

/* Timer expiry(ies) up to m->tsc. Periodic timers catch up one period at a
 * time, each counted as a tick; IRR is a single bit so they coalesce. */
void vl_dev_advance(struct vl_machine *m)
{
	struct vl_dev_priv *d = &m->priv->dev;

	if (d->timer_deadline != UINT64_MAX && m->tsc >= d->timer_deadline) {
		uint64_t period = (uint64_t)d->apic_tmict * apic_div(d);
		/* every expiry up to now, in O(1): a long idle stretch may cover
		 * millions of periods; IRR coalesces them into one request */
		uint64_t k = ((d->apic_lvt_timer & LVT_MODE) == LVT_PERIODIC && period) ? (m->tsc - d->timer_deadline) / period + 1 : 1;

		vl_count(m, VL_EV_TIMER_TICKS, k);
		if (!(d->apic_lvt_timer & LVT_MASKED) && (d->apic_svr & SVR_ENABLE))
			apic_set_irr(d, d->apic_lvt_timer & 0xff);
		if ((d->apic_lvt_timer & LVT_MODE) == LVT_DEADLINE) {
			d->tsc_deadline = 0;   /* SDM 10.5.4.1: the MSR reads 0 once the timer fired */
			d->timer_deadline = UINT64_MAX;
		} else if ((d->apic_lvt_timer & LVT_PERIODIC) && period) {
			d->timer_start = d->timer_deadline + (k - 1) * period;
			d->timer_deadline += k * period;
		} else {
			d->timer_deadline = UINT64_MAX;
		}
	}
}

uint64_t vl_dev_next_event(struct vl_machine *m)
{
	return m->priv->dev.timer_deadline;
}

bool vl_apic_pending(struct vl_machine *m, unsigned *vec)
{
	struct vl_dev_priv *d = &m->priv->dev;
	int v = vec_highest(d->irr);

	if (v < 0 || !(d->apic_svr & SVR_ENABLE) || !(m->cpu.apic_base & APIC_BASE_EN))
		return false;
	if (((uint32_t)v & 0xf0) <= (apic_ppr(d) & 0xf0))
		return false;
	*vec = (unsigned)v;
	return true;
}

void vl_apic_accept(struct vl_machine *m, unsigned vec)
{
	struct vl_dev_priv *d = &m->priv->dev;

	vec &= 0xff;
	d->irr[vec / 32] &= ~(1u << (vec % 32));
	d->isr[vec / 32] |= 1u << (vec % 32);
}

void vl_apic_set_tpr(struct vl_machine *m, uint8_t cr8)
{
	m->priv->dev.apic_tpr = (uint32_t)(cr8 & 0xf) << 4;
	m->cpu.cr8 = cr8 & 0xf;
}

uint8_t vl_apic_get_tpr(struct vl_machine *m)
{
	return (uint8_t)(m->priv->dev.apic_tpr >> 4);
}

static bool apic_x2_enabled(const struct vl_machine *m)
{
	return m->prof->features_x2apic && (m->cpu.apic_base & APIC_BASE_EN) &&
	       (m->cpu.apic_base & APIC_BASE_EXTD);
}

static uint32_t apic_tmcct(const struct vl_machine *m)
{
	const struct vl_dev_priv *d = &m->priv->dev;

	if (d->timer_deadline == UINT64_MAX || m->tsc >= d->timer_deadline ||
	    (d->apic_lvt_timer & LVT_MODE) == LVT_DEADLINE)
		return 0;
	return (uint32_t)((d->timer_deadline - m->tsc + apic_div(d) - 1) / apic_div(d));
}

/* x2APIC RDMSR: #GP (-1) outside x2APIC mode and for write-only /
 * reserved registers, as the SDM's x2APIC register table says. */
/* Register r (x2APIC numbering: MSR - 0x800 = xAPIC offset >> 4). */
static int apic_reg_read(struct vl_machine *m, unsigned r, uint64_t *val)
{
	struct vl_dev_priv *d = &m->priv->dev;

	switch (r) {
	case APIC_ID: *val = 0; return 0;
	case APIC_VER: *val = APIC_VERSION; return 0;
	case APIC_TPR: *val = d->apic_tpr; return 0;
	case APIC_PPR: *val = apic_ppr(d); return 0;
	case APIC_LDR: *val = d->apic_ldr; return 0;
	case APIC_SVR: *val = d->apic_svr; return 0;
	case APIC_ESR: *val = d->apic_esr; return 0;
	case APIC_ICR: *val = 0; return 0;
	case APIC_LVT_TIMER: *val = d->apic_lvt_timer; return 0;
	case APIC_LVT_THERMAL: case APIC_LVT_PMC: case APIC_LVT_LINT0: case APIC_LVT_LINT1:
	case APIC_LVT_ERROR:
		*val = d->apic_lvt[r - APIC_LVT_THERMAL + 1]; return 0;
	case APIC_TMICT: *val = d->apic_tmict; return 0;
	case APIC_TMCCT: *val = apic_tmcct(m); return 0;
	case APIC_TDCR: *val = d->apic_tdcr; return 0;
	default: break;
	}
	if (r >= APIC_ISR0 && r < APIC_ISR0 + 8) { *val = d->isr[r - APIC_ISR0]; return 0; }
	if (r >= APIC_TMR0 && r < APIC_TMR0 + 8) { *val = 0; return 0; }
	if (r >= APIC_IRR0 && r < APIC_IRR0 + 8) { *val = d->irr[r - APIC_IRR0]; return 0; }
	return -1;
}

int vl_apic_rdmsr(struct vl_machine *m, uint32_t msr, uint64_t *val)
{
	if (msr < VL_MSR_X2APIC_FIRST || msr > VL_MSR_X2APIC_LAST || !apic_x2_enabled(m))
		return -1;
	return apic_reg_read(m, msr - VL_MSR_X2APIC_FIRST, val);
}

static int apic_reg_write(struct vl_machine *m, unsigned r, uint64_t val)
{
	struct vl_dev_priv *d = &m->priv->dev;
	uint32_t v = (uint32_t)val;
	int isrv;

	switch (r) {
	case APIC_TPR:
		d->apic_tpr = v & 0xff;
		m->cpu.cr8 = (v >> 4) & 0xf;
		return 0;
	case APIC_EOI:
		if (v)
			return -1;  /* x2APIC: non-zero EOI write #GPs */
		isrv = vec_highest(d->isr);
		if (isrv >= 0)
			d->isr[isrv / 32] &= ~(1u << (isrv % 32));
		return 0;
	case APIC_SVR: d->apic_svr = v & 0x11ff; return 0;
	case APIC_ESR: d->apic_esr = 0; return 0;
	case APIC_ICR: {
		/* uniprocessor: a fixed-mode IPI reaches only this APIC — shorthand
		 * self or all-including-self, or physical destination = our ID 0
		 * (x2APIC: ICR bits 63:32; xAPIC: ICR high bits 31:24) */
		unsigned dm = (v >> 8) & 7, sh = (v >> 18) & 3, logical = (v >> 11) & 1;
		uint32_t dest = (m->cpu.apic_base & APIC_BASE_EXTD) ? (uint32_t)(val >> 32) : d->apic_icr_hi >> 24;
		bool self = sh == 1 || sh == 2 || (sh == 0 && !logical && dest == 0);
		if (dm == 0 && self)
			apic_set_irr(d, v & 0xff);
		if (dm == 4 && self) {
			/* delivery mode NMI (vector ignored): latched until delivered;
			 * a second NMI while one is pending is lost (one latch) */
			m->cpu.nmi_pending = true;
			vl_cpu_kick(m);
		}
		return 0;
	}
	case APIC_ICR + 1:
		if (m->cpu.apic_base & APIC_BASE_EXTD)
			return -1;   /* no ICR high register in x2APIC mode */
		d->apic_icr_hi = v & 0xff000000u;
		return 0;
	case APIC_SELF_IPI:
		if (v & ~0xffu)
			return -1;   /* bits 31:8 reserved (SDM 10.12.11) */
		apic_set_irr(d, v & 0xff); return 0;
	case APIC_LVT_TIMER: {
		/* mode 10b (TSC-deadline) only where CPUID reports it, else bit
		 * 18 is ignored (one-shot), as KVM's timer_mode_mask; 11b is
		 * reserved: kept as its bit 17 */
		uint32_t mode = v & LVT_MODE, old = d->apic_lvt_timer & LVT_MODE;
		if (mode == LVT_MODE || (mode == LVT_DEADLINE && !m->prof->features_tsc_deadline))
			mode &= LVT_PERIODIC;
		if (mode != old && (mode == LVT_DEADLINE || old == LVT_DEADLINE)) {
			/* SDM 10.5.4.1: switching to or from TSC-deadline mode
			 * disarms the timer (the count and the deadline both) */
			d->timer_deadline = UINT64_MAX;
			d->apic_tmict = 0;
			d->tsc_deadline = 0;
		}
		d->apic_lvt_timer = (v & (0xff | LVT_MASKED)) | mode;
		return 0;
	}
	case APIC_LVT_THERMAL: case APIC_LVT_PMC: case APIC_LVT_LINT0: case APIC_LVT_LINT1:
	case APIC_LVT_ERROR:
		d->apic_lvt[r - APIC_LVT_THERMAL + 1] = v & 0x1f7ff; return 0;
	case APIC_TMICT:
		/* Writing the initial count (re)starts the timer; 0 stops it.
		 * Ignored in TSC-deadline mode (SDM 10.5.4.1). */
		if ((d->apic_lvt_timer & LVT_MODE) == LVT_DEADLINE)
			return 0;
		d->apic_tmict = v;
		d->timer_start = m->tsc;
		d->timer_deadline = v ? m->tsc + (uint64_t)v * apic_div(d) : UINT64_MAX;
		return 0;
	case APIC_TDCR: d->apic_tdcr = v & 0xb; return 0;
	default: return -1;   /* read-only or reserved */
	}
}

int vl_apic_wrmsr(struct vl_machine *m, uint32_t msr, uint64_t val)
{
	unsigned r = msr - VL_MSR_X2APIC_FIRST;

	if (msr < VL_MSR_X2APIC_FIRST || msr > VL_MSR_X2APIC_LAST || !apic_x2_enabled(m))
		return -1;
	if (r != APIC_ICR && (val >> 32))
		return -1;     /* reserved high half */
	return apic_reg_write(m, r, val);
}

/* ---- TSC-deadline mode (SDM Vol. 3A 10.5.4.1) --------------------------------
 * IA32_TSC_DEADLINE (0x6E0) exists where CPUID.1:ECX[24] says so
 * (features.tsc_deadline); elsewhere it is #GP like any absent MSR. In
 * TSC-deadline mode a non-zero write arms the timer for the moment the
 * guest-visible TSC reaches the value (at once if it already has), 0
 * disarms; on expiry the interrupt is raised (unless masked) and the MSR
 * reads 0. Outside that mode writes are ignored and reads return 0. The
 * value is kept in the guest's TSC (offset and IA32_TSC writes included)
 * and converted to the model's cycle count when written. Works in xAPIC
 * and x2APIC mode alike (the MSR is not an APIC register). */
int vl_apic_deadline_read(struct vl_machine *m, uint64_t *val)
{
	struct vl_dev_priv *d = &m->priv->dev;

	if (!m->prof->features_tsc_deadline)
		return -1;
	*val = (d->apic_lvt_timer & LVT_MODE) == LVT_DEADLINE ? d->tsc_deadline : 0;
	return 0;
}

int vl_apic_deadline_write(struct vl_machine *m, uint64_t val)
{
	struct vl_dev_priv *d = &m->priv->dev;

	if (!m->prof->features_tsc_deadline)
		return -1;
	if ((d->apic_lvt_timer & LVT_MODE) != LVT_DEADLINE)
		return 0;
	uint64_t now = m->tsc + (uint64_t)m->tsc_offset + (uint64_t)d->tsc_adj;
	d->tsc_deadline = val;
	if (!val)
		d->timer_deadline = UINT64_MAX;
	else
		d->timer_deadline = val <= now ? m->tsc : m->tsc + (val - now);
	vl_cpu_kick(m);   /* an immediate deadline fires before the next instruction */
	return 0;
}

/* ---- xAPIC MMIO ------------------------------------------------------------
 * In xAPIC mode (IA32_APIC_BASE EN = 1, EXTD = 0) the APIC's registers are
 * the 4 KiB page at the APIC base, one 32-bit register per 16 bytes — the
 * same registers as the x2APIC MSRs (offset >> 4 = MSR - 0x800) but with
 * xAPIC semantics: the ID in bits 31:24, any EOI value, no SELF IPI, the
 * destination format register. CPUs without x2APIC (the p4, core2 and
 * nehalem profiles) use only this. Other accesses to the page read 0 and
 * are ignored; bytes outside the register's low dword too. */
bool vl_mmio_frame(const struct vl_machine *m, uint64_t pa)
{
	return (m->cpu.apic_base & APIC_BASE_EN) && !(m->cpu.apic_base & APIC_BASE_EXTD) &&
	       (pa >> 12) == ((m->cpu.apic_base >> 12) & ((1ull << 40) - 1));
}

bool vl_mmio_read(struct vl_machine *m, uint64_t pa, unsigned size, uint64_t *val)
{
	if (!vl_mmio_frame(m, pa))
		return false;
	unsigned off = pa & 0xfff, r = off >> 4;
	uint64_t v = 0;
	if (r == APIC_ID)
		v = 0;                                   /* APIC ID 0 in bits 31:24 */
	else if (r == 0x0e)
		v = 0xffffffffu;                         /* DFR: flat model */
	else if (r != APIC_SELF_IPI && apic_reg_read(m, r, &v) != 0)
		v = 0;
	v &= 0xffffffffu;
	/* bytes 4..15 of a register's 16-byte slot read 0; test before shifting
	 * (a shift by 8 * 8 or more is undefined in C) */
	if ((off & 15) >= 4)
		*val = 0;
	else
		*val = (v >> (8 * (off & 15))) & (size >= 8 ? ~0ull : (1ull << (8 * size)) - 1);
	return true;
}

bool vl_mmio_write(struct vl_machine *m, uint64_t pa, unsigned size, uint64_t val)
{
	if (!vl_mmio_frame(m, pa))
		return false;
	unsigned off = pa & 0xfff, r = off >> 4;
	if ((off & 15) == 0 && size >= 4 && r != APIC_SELF_IPI && r != APIC_ID)
		apic_reg_write(m, r, r == APIC_EOI ? 0 : (uint32_t)val);   /* xAPIC: any EOI value */
	vl_cpu_kick(m);   /* timer, EOI, TPR: interrupts may have changed */
	return true;
}
