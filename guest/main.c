/* main.c — kernel entry after boot.S: boot facts (command line, RAM size,
 * PM timer port), console, the command-line parser and workload dispatch. */
#include "kernel.h"
#include "../workloads/footprint.h"

u64 ram_size;
u16 pmtimer_port = VL_PORT_PMTIMER_DEFAULT;
u64 cmd_timer = 200000;
static char cmdline[VL_BOOT_CMDLINE_MAX];

const char *const wl_names[] = {
#define W(name, iters, desc) #name,
#include "virtlab/workloads.def"
#undef W
};
static const u64 wl_default_iters[] = {
#define W(name, iters, desc) iters,
#include "virtlab/workloads.def"
#undef W
};

void kputs(const char *s) { while (*s) pvop_outb(VL_PORT_DEBUGCON, (u8)*s++); }
void kprintf(const char *fmt, ...)
{
	char buf[512];
	va_list ap; va_start(ap, fmt);
	vl_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	kputs(buf);
}

void vl_exit(int status)
{
	pvop_outl(VL_PORT_EXIT, (u32)status);
	for (;;) { pvop_irq_disable(); pvop_halt(); }
}

void panic(const char *fmt, ...)
{
	char buf[512];
	va_list ap; va_start(ap, fmt);
	vl_vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	kprintf("ERROR kernel panic: %s\n", buf);
	vl_exit(VL_EXIT_PANIC);
}

/* hvm_start_info (Xen public/arch-x86/hvm/start_info.h). */
struct hvm_start_info {
	u32 magic, version, flags, nr_modules;
	u64 modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	u32 memmap_entries, reserved;
};
struct hvm_memmap_entry { u64 addr, size; u32 type, reserved; };

static u64 acpi_find_rsdp(void)
{
	for (u64 a = 0xE0000; a < 0x100000; a += 16)
		if (memcmp(DM(a), "RSD PTR ", 8) == 0) return a;
	return 0;
}

/* PM_TMR_BLK from the FADT, or 0. Tables are read through the direct map
 * (all below 1 GiB on QEMU). */
static u16 acpi_pmtimer(u64 rsdp)
{
	if (!rsdp || rsdp >= (1ull << 30)) return 0;
	const u8 *r = DM(rsdp);
	if (memcmp(r, "RSD PTR ", 8)) return 0;
	u64 sdt = *(const u32 *)(r + 16); int xsdt = 0;
	if (r[15] >= 2 && *(const u64 *)(r + 24)) { sdt = *(const u64 *)(r + 24); xsdt = 1; }
	if (!sdt || sdt >= (1ull << 30)) return 0;
	const u8 *h = DM(sdt);
	u32 len = *(const u32 *)(h + 4), esz = xsdt ? 8 : 4;
	for (u32 off = 36; off + esz <= len; off += esz) {
		u64 t = xsdt ? *(const u64 *)(h + off) : *(const u32 *)(h + off);
		if (!t || t >= (1ull << 30)) continue;
		const u8 *f = DM(t);
		if (memcmp(f, "FACP", 4) == 0 && *(const u32 *)(f + 4) >= 80)
			return (u16)*(const u32 *)(f + 76);
	}
	return 0;
}

static int parse_u64(const char *s, u64 *out)
{
	u64 v = 0; int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) { base = 16; s += 2; }
	if (!*s) return -1;
	for (; *s; s++) {
		int d;
		if (*s >= '0' && *s <= '9') d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
		else return -1;
		if (v > (~0ull - (u64)d) / (u64)base) return -1;
		v = v * (u64)base + (u64)d;
	}
	*out = v;
	return 0;
}

static __attribute__((noreturn)) void usage(const char *fmt, const char *arg)
{
	kputs(VL_ERROR_PREFIX); kprintf(fmt, arg); kputs("\n");
	vl_exit(VL_EXIT_USAGE);
}

void kmain(u64 magic, u64 cmd_pa, u64 ram, u64 si_pa)
{
	u64 rsdp = 0;
	int pvh = magic != VL_BOOT_MAGIC;
	/* Boot facts first: the low MiB is still intact. */
	if (pvh) {
		const struct hvm_start_info *si = DM(si_pa);
		cmd_pa = si->cmdline_paddr;
		rsdp = si->rsdp_paddr;
		ram = 0;
		if (si->version >= 1 && si->memmap_paddr)
			for (u32 i = 0; i < si->memmap_entries; i++) {
				const struct hvm_memmap_entry *e = (const struct hvm_memmap_entry *)DM(si->memmap_paddr) + i;
				if (e->type == 1 && e->addr + e->size > ram) ram = e->addr + e->size;
			}
		if (!ram) ram = (u64)VL_DEFAULT_RAM_MB << 20;
		if (!rsdp) rsdp = acpi_find_rsdp();
	}
	if (cmd_pa) {
		const char *c = DM(cmd_pa);
		size_t i = 0;
		for (; i + 1 < sizeof cmdline && c[i]; i++) cmdline[i] = c[i];
		cmdline[i] = 0;
	}
	u16 acpi_port = pvh ? acpi_pmtimer(rsdp) : 0;
	ram_size = ram;
	kprintf("virtlab guest: boot=%s ram=%luMiB cmdline=\"%s\"\n", pvh ? "pvh" : "elf64", ram >> 20, cmdline);

	/* Command line: workload=<name> iters=<n> [pmtimer=0xNNN] [timer=<apic count>]
	 * [fp_pages=<n>] [fp_regions=<n>] (workloads/footprint.h) */
	int widx = -1; u64 iters = 0, v; int have_pm = 0;
	u64 fp_pages = ~0ull, fp_regions = ~0ull;
	char *p = cmdline;
	while (*p) {
		while (*p == ' ') p++;
		if (!*p) break;
		char *tok = p;
		while (*p && *p != ' ') p++;
		if (*p) *p++ = 0;
		char *eq = tok;
		while (*eq && *eq != '=') eq++;
		if (!*eq) usage("bad parameter \"%s\" (expected key=value)", tok);
		*eq = 0;
		const char *val = eq + 1;
		if (!strcmp(tok, "workload")) {
			for (int i = 0; i < WL_COUNT; i++) if (!strcmp(val, wl_names[i])) widx = i;
			if (widx < 0) usage("unknown workload \"%s\"", val);
		} else if (!strcmp(tok, "iters")) {
			if (parse_u64(val, &iters) || iters == 0 || iters > (1ull << 40)) usage("bad iters \"%s\" (a positive integer)", val);
		} else if (!strcmp(tok, "pmtimer")) {
			if (parse_u64(val, &v) || v == 0 || v > 0xfffc) usage("bad pmtimer port \"%s\"", val);
			if (!have_pm) pmtimer_port = (u16)v;
			have_pm = 1;
		} else if (!strcmp(tok, "timer")) {
			if (parse_u64(val, &v) || v < 1000 || v > 0xffffffffu) usage("bad timer count \"%s\" (1000..4294967295)", val);
			cmd_timer = v;
		} else if (!strcmp(tok, "fp_pages")) {
			if (parse_u64(val, &fp_pages) || fp_pages > WL_FP_MAX_PAGES) usage("bad fp_pages \"%s\" (0..65536)", val);
		} else if (!strcmp(tok, "fp_regions")) {
			if (parse_u64(val, &fp_regions) || fp_regions < 1 || fp_regions > WL_FP_MAX_REGIONS)
				usage("bad fp_regions \"%s\" (1..40)", val);
		} else {
			usage("unknown parameter \"%s\"", tok);
		}
	}
	if (widx < 0) usage("%s", "no workload given (workload=<name>)");
	if (!iters) iters = wl_default_iters[widx];
	/* process footprint: the measured host twin's by default (footprint.h) */
	static const struct { const char *w; u64 pages, regions; } fp_def[] = {
		{ "forkwait", WL_FP_FORKWAIT_PAGES, WL_FP_FORKWAIT_REGIONS },
		{ "ctxsw", WL_FP_CTXSW_PAGES, WL_FP_CTXSW_REGIONS },
		{ "pgfault", WL_FP_PGFAULT_PAGES, WL_FP_PGFAULT_REGIONS },
	};
	u64 fp_dp = 0, fp_dr = 1;
	for (unsigned i = 0; i < sizeof fp_def / sizeof fp_def[0]; i++)
		if (!strcmp(wl_names[widx], fp_def[i].w)) { fp_dp = fp_def[i].pages; fp_dr = fp_def[i].regions; }
	if (fp_pages == ~0ull) fp_pages = fp_dp;
	if (fp_regions == ~0ull) fp_regions = fp_pages ? fp_dr : 1;
	if (fp_regions > fp_pages && fp_pages) usage("%s", "fp_regions exceeds fp_pages");
	if (acpi_port) pmtimer_port = acpi_port;   /* ACPI first (guest_abi.h) */

	pv_init();
	trap_init();
	mm_init(ram);
	pv_patch_sites();   /* after every pv-op switch (pv_init; direct paging's in mm_init) */
	apic_init(cmd_timer);
	kprintf("pmtimer=0x%x apic=%s pvops=%s\n", pmtimer_port, apic_x2 ? "x2apic" : "xapic", pv_ops.name);

	if (kbench_run(widx, iters) == 0) vl_exit(VL_EXIT_OK);
	if (proc_spawn_init(user_elf_start, (size_t)(user_elf_end - user_elf_start), (u64)widx, iters,
			    WL_FP_PACK(fp_pages, fp_regions)))
		panic("cannot start the user program");
	proc_start_first();
}
