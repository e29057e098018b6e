/* pvops.c — the pv-ops table: native implementations of every privileged
 * or sensitive operation, and hypervisor detection (CPUID 0x40000000). A
 * paravirtual engine later replaces entries with hypercall versions; no
 * caller changes. */
#include "kernel.h"

static u64 n_read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0,%0" : "=r"(v)); return v; }
static u64 n_read_cr2(void) { u64 v; __asm__ volatile("mov %%cr2,%0" : "=r"(v)); return v; }
static u64 n_read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3,%0" : "=r"(v)); return v; }
static void n_write_cr3(u64 v) { __asm__ volatile("mov %0,%%cr3" ::"r"(v) : "memory"); }
static u64 n_read_cr4(void) { u64 v; __asm__ volatile("mov %%cr4,%0" : "=r"(v)); return v; }
static void n_write_cr4(u64 v) { __asm__ volatile("mov %0,%%cr4" ::"r"(v) : "memory"); }
static u64 n_read_cr8(void) { u64 v; __asm__ volatile("mov %%cr8,%0" : "=r"(v)); return v; }
static void n_write_cr8(u64 v) { __asm__ volatile("mov %0,%%cr8" ::"r"(v) : "memory"); }
static void n_invlpg(u64 va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static u64 n_save_fl(void) { u64 f; __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory"); return f; }
static void n_restore_fl(u64 f) { __asm__ volatile("pushq %0; popfq" ::"r"(f) : "memory", "cc"); }
static void n_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
static void n_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static void n_safe_halt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }
static void n_halt(void) { __asm__ volatile("hlt" ::: "memory"); }
static void n_load_gdt(const void *d) { __asm__ volatile("lgdt (%0)" ::"r"(d) : "memory"); }
static void n_load_idt(const void *d) { __asm__ volatile("lidt (%0)" ::"r"(d) : "memory"); }
static void n_load_tr(u16 s) { __asm__ volatile("ltr %0" ::"r"(s) : "memory"); }
static u64 n_read_msr(u32 m) { u32 lo, hi; __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(m)); return ((u64)hi << 32) | lo; }
static void n_write_msr(u32 m, u64 v) { __asm__ volatile("wrmsr" ::"c"(m), "a"((u32)v), "d"((u32)(v >> 32)) : "memory"); }
static void n_cpuid(u32 leaf, u32 sub, u32 r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static u8 n_inb(u16 p) { u8 v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static u32 n_inl(u16 p) { u32 v; __asm__ volatile("inl %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static void n_outb(u16 p, u8 v) { __asm__ volatile("outb %0,%1" ::"a"(v), "Nd"(p)); }
static void n_outl(u16 p, u32 v) { __asm__ volatile("outl %0,%1" ::"a"(v), "Nd"(p)); }
static void n_set_pte(u64 *ptep, u64 v) { *(volatile u64 *)ptep = v; }
extern void tss_set_rsp0(u64 rsp0);

struct pv_ops pv_ops = {
	.sysret_to_user = native_sysret_to_user,
	.iret_to_user = native_iret_to_user,
	.read_cr0 = n_read_cr0, .read_cr2 = n_read_cr2, .read_cr3 = n_read_cr3,
	.write_cr3 = n_write_cr3, .read_cr4 = n_read_cr4, .write_cr4 = n_write_cr4,
	.read_cr8 = n_read_cr8, .write_cr8 = n_write_cr8, .invlpg = n_invlpg,
	.save_fl = n_save_fl, .restore_fl = n_restore_fl,
	.irq_disable = n_irq_disable, .irq_enable = n_irq_enable,
	.safe_halt = n_safe_halt, .halt = n_halt,
	.load_gdt = n_load_gdt, .load_idt = n_load_idt, .load_tr = n_load_tr,
	.read_msr = n_read_msr, .write_msr = n_write_msr, .cpuid = n_cpuid,
	.inb = n_inb, .inl = n_inl, .outb = n_outb, .outl = n_outl,
	.set_pte = n_set_pte, .kernel_rsp0 = tss_set_rsp0,
	.name = "native",
};

int pv_hypervisor;

/* Detect a hypervisor. Only VL_PV_SIGNATURE would switch entries to
 * hypercalls (engines/pv, a later issue); for now it is reported only. */
void pv_init(void)
{
	u32 r[4];
	pv_ops.cpuid(1, 0, r);
	if (!(r[2] & (1u << 31))) return;
	pv_ops.cpuid(VL_CPUID_HV_LEAF, 0, r);
	char sig[13];
	memcpy(sig, &r[1], 4); memcpy(sig + 4, &r[2], 4); memcpy(sig + 8, &r[3], 4);
	sig[12] = 0;
	if (memcmp(sig, VL_PV_SIGNATURE, 12) == 0) {
		pv_hypervisor = 1;
		kprintf("pv: VirtLabPV hypervisor detected (hypercall pv-ops not yet enabled; native ops kept)\n");
	} else {
		pv_hypervisor = 2;
		for (int i = 0; i < 12; i++) if (sig[i] < 32 || sig[i] > 126) sig[i] = '.';
		kprintf("pv: hypervisor signature \"%s\" (native ops)\n", sig);
	}
}
