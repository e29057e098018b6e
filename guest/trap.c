/* trap.c — GDT/TSS/IDT, exception and interrupt dispatch, the local APIC
 * timer (x2APIC MSRs when CPUID.1:ECX[21], else the xAPIC MMIO page), and
 * the legacy PIC (remapped and masked). */
#include "kernel.h"

static u64 gdt[7];
static u8 tss[104] __attribute__((aligned(16)));
static u64 idt[512] __attribute__((aligned(16)));
struct __attribute__((packed)) dtr { u16 limit; u64 base; };
volatile u64 timer_ticks;
int apic_x2;
static volatile u32 *apic_mmio;

static struct dtr gdtr_loaded, idtr_loaded;   /* what trap_init loaded (the `sensitive` workload compares SGDT/SIDT) */

void tss_set_rsp0(u64 rsp0) { memcpy(tss + 4, &rsp0, 8); }

void desc_tables(u64 *gdt_base, u16 *gdt_limit, u64 *idt_base, u16 *idt_limit)
{
	*gdt_base = gdtr_loaded.base; *gdt_limit = gdtr_loaded.limit;
	*idt_base = idtr_loaded.base; *idt_limit = idtr_loaded.limit;
}

void trap_init(void)
{
	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull;  /* 0x08 kernel code */
	gdt[2] = 0x00cf92000000ffffull;  /* 0x10 kernel data */
	gdt[3] = 0x00cff2000000ffffull;  /* 0x18 user data (SYSRET SS = 0x18|3) */
	gdt[4] = 0x00affa000000ffffull;  /* 0x20 user code 64 (SYSRET CS = 0x20|3) */
	u64 b = (u64)tss;
	gdt[5] = (sizeof tss - 1) | ((b & 0xffffff) << 16) | (0x89ull << 40) | (((b >> 24) & 0xff) << 56);
	gdt[6] = b >> 32;
	u16 iomap = sizeof tss;
	memcpy(tss + 102, &iomap, 2);
	struct dtr g = { sizeof gdt - 1, (u64)gdt };
	pvop_load_gdt(&g);
	gdtr_loaded = g;
	pvop_load_tr(KERNEL_TSS_SEL);
	for (int v = 0; v < 256; v++) {
		u64 h = (u64)vl_trap_stubs + 16u * (u64)v;
		u64 dpl = 0;
		idt[2 * v] = (h & 0xffff) | (0x08ull << 16) | ((0x8eull | dpl) << 40) | (((h >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
	struct dtr i = { sizeof idt - 1, (u64)idt };
	pvop_load_idt(&i);
	idtr_loaded = i;
	/* SYSCALL/SYSRET */
	pvop_write_msr(0xC0000081, (0x10ull << 48) | (0x08ull << 32));   /* STAR */
	pvop_write_msr(0xC0000082, (u64)vl_syscall_entry);               /* LSTAR */
	pvop_write_msr(0xC0000084, 0x47700);   /* FMASK: IF TF DF AC NT IOPL */
	pvop_write_msr(0xC0000080, pvop_read_msr(0xC0000080) | 1 | (1 << 11));
	/* legacy PIC: remap to 0xF0/0xF8 and mask everything */
	static const u8 seq[][2] = { {0x20, 0x11}, {0xA0, 0x11}, {0x21, 0xF0}, {0xA1, 0xF8},
		{0x21, 4}, {0xA1, 2}, {0x21, 1}, {0xA1, 1}, {0x21, 0xff}, {0xA1, 0xff} };
	for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) pvop_outb(seq[k][0], seq[k][1]);
}

static void apic_write(u32 reg, u32 v)
{
	if (apic_x2) pvop_write_msr(0x800 + (reg >> 4), v);
	else apic_mmio[reg / 4] = v;
}

void apic_eoi(void) { apic_write(0xB0, 0); }

#define APIC_MMIO_VA 0xffffc90000000000ull   /* vmalloc-like area, PML4[402] */

void apic_init(u64 count)
{
	u32 r[4];
	pvop_cpuid(1, 0, r);
	u64 base = pvop_read_msr(0x1B);
	if (r[2] & (1u << 21)) {
		apic_x2 = 1;   /* xAPIC enabled first: disabled -> x2APIC is not a legal transition */
		pvop_write_msr(0x1B, base | (1 << 11));
		pvop_write_msr(0x1B, base | (1 << 11) | (1 << 10));
	} else {
		pvop_write_msr(0x1B, base | (1 << 11));
		if (mm_map(kernel_pml4_pa, APIC_MMIO_VA, base & ~0xfffull, PTE_P | PTE_W | 0x18 /* PCD|PWT */))
			panic("cannot map the APIC");
		apic_mmio = (volatile u32 *)APIC_MMIO_VA;
	}
	apic_write(0xF0, 0x1FF);                   /* spurious vector 0xFF, enabled */
	apic_write(0x3E0, 0x3);                    /* divide by 16 */
	apic_write(0x320, 0x20 | (1u << 17));      /* periodic, vector 0x20 */
	apic_write(0x380, (u32)count);
}

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "?15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* User #DE: the kernel skips the faulting DIV/IDIV (register or simple
 * memory forms are decoded: optional REX, F6/F7, ModRM with mod=3) and
 * resumes with quotient RAX = 0 and remainder RDX = 0. */
static int fix_divide(struct trapframe *tf)
{
	u64 rip = tf->rip;
	if (rip >= VL_USER_TOP - 16) return -1;
	u64 *pte = pt_walk(current->pml4, rip, 0);
	if (!pte || !(*pte & PTE_P) || ((rip & 0xfff) > 0xff0)) return -1;
	const u8 *b = (const u8 *)DM((*pte & PTE_ADDR) + (rip & 0xfff));
	int n = 0;
	if ((b[n] & 0xf0) == 0x40) n++;
	if (b[n] != 0xF6 && b[n] != 0xF7) return -1;
	u8 modrm = b[n + 1];
	if ((modrm >> 6) != 3 || ((modrm >> 3) & 7) < 6) return -1;
	tf->rip += (u64)n + 2;
	tf->rax = 0; tf->rdx = 0;
	return 0;
}

void trap_dispatch(struct trapframe *tf)
{
	int user = (tf->cs & 3) == 3;
	u64 v = tf->vec;
	if (v == 0x20) {
		timer_ticks++;
		apic_eoi();
		if (user && current) { current->ticks++; schedule(); }
		return;
	}
	if (v == 0xFF) return;                 /* spurious */
	if (v == 14) {
		u64 cr2 = pvop_read_cr2();
		if (user && handle_user_fault(cr2, (tf->err & 2) != 0) == 0) return;
		if (user) { kprintf("process %d: page fault at 0x%lx (rip 0x%lx err 0x%lx)\n", current->pid, cr2, tf->rip, tf->err); proc_kill("page fault", tf); return; }
		panic("kernel page fault at 0x%lx rip 0x%lx err 0x%lx", cr2, tf->rip, tf->err);
	}
	if (v == 0 && user && fix_divide(tf) == 0) return;
	if (v < 32) {
		if (user) { kprintf("process %d: %s at rip 0x%lx err 0x%lx\n", current->pid, exc_names[v] ? exc_names[v] : "exception", tf->rip, tf->err); proc_kill(exc_names[v] ? exc_names[v] : "exception", tf); return; }
		panic("%s in the kernel at rip 0x%lx err 0x%lx cr2 0x%lx", exc_names[v] ? exc_names[v] : "exception", tf->rip, tf->err, pvop_read_cr2());
	}
	if (v >= 0xF0) return;                 /* masked legacy PIC: ignore */
	kprintf("unexpected interrupt vector %lu\n", v);
	apic_eoi();
}
