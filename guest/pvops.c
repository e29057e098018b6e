/* pvops.c — the pv-ops table: native implementations of every privileged
 * or sensitive operation, their paravirtual (hypercall / shared-page)
 * versions, and hypervisor detection (CPUID 0x40000000): under the
 * VirtLabPV signature the table switches to the paravirtual versions; no
 * caller changes (transparent paravirtualization: one image). */
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
static void n_mmu_flush(void) { }
extern void tss_set_rsp0(u64 rsp0);

struct pv_ops pv_ops = {
	.sysret_to_user = native_sysret_to_user,
	.iret_to_user = native_iret_to_user,
	.iret_to_kernel = native_iret_to_kernel,
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
	.mmu_flush = n_mmu_flush,
};

int pv_hypervisor;
int pv_switched;

/* ---- paravirtual versions (guest_abi.h "Paravirtual hypercall ABI") ---- */
static u8 pv_shared[4096] __attribute__((aligned(4096)));   /* this vCPU's shared page */
#define PVS8(off) (*(volatile u8 *)(pv_shared + (off)))
#define PVS64(off) (*(volatile u64 *)(pv_shared + (off)))

static long hc(long nr, u64 a0, u64 a1, u64 a2)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "rcx", "r11", "memory");
	return r;
}
static u64 p_read_cr0(void) { return (u64)hc(VL_HC_READ_CR, 0, 0, 0); }
static u64 p_read_cr2(void) { return PVS64(VL_PVS_CR2); }
static u64 p_read_cr3(void) { return (u64)hc(VL_HC_READ_CR, 3, 0, 0); }
static void p_write_cr3(u64 v) { hc(VL_HC_WRITE_CR, 3, v, 0); }
static u64 p_read_cr4(void) { return (u64)hc(VL_HC_READ_CR, 4, 0, 0); }
static void p_write_cr4(u64 v) { hc(VL_HC_WRITE_CR, 4, v, 0); }
static u64 p_read_cr8(void) { return (u64)hc(VL_HC_READ_CR, 8, 0, 0); }
static void p_write_cr8(u64 v) { hc(VL_HC_WRITE_CR, 8, v, 0); }
static void p_invlpg(u64 va) { hc(VL_HC_INVLPG, va, 0, 0); }
/* Event mask = the virtual IF, in memory: no VMM entry. An upcall that
 * arrived while masked is pending; unmasking asks for it. */
static u64 p_save_fl(void) { return PVS8(VL_PVS_MASK) ? 0x2 : 0x202; }
static void p_irq_disable(void) { PVS8(VL_PVS_MASK) = 1; __asm__ volatile("" ::: "memory"); }
static void p_irq_enable(void)
{
	__asm__ volatile("" ::: "memory");
	PVS8(VL_PVS_MASK) = 0;
	if (PVS8(VL_PVS_PENDING))
		hc(VL_HC_EVENT_UNMASK, 0, 0, 0);
}
static void p_restore_fl(u64 f) { if (f & 0x200) p_irq_enable(); else p_irq_disable(); }
static void p_safe_halt(void) { hc(VL_HC_BLOCK, 0, 0, 0); PVS8(VL_PVS_MASK) = 1; }
static void p_halt(void) { hc(VL_HC_HALT, 0, 0, 0); }
static void p_load_gdt(const void *d) { hc(VL_HC_SET_GDT, (u64)d, 0, 0); }
static void p_load_idt(const void *d) { hc(VL_HC_SET_TRAP_TABLE, (u64)d, 0, 0); }
static void p_load_tr(u16 s) { hc(VL_HC_LOAD_TR, s, 0, 0); }
static u64 p_read_msr(u32 m) { return (u64)hc(VL_HC_RDMSR, m, 0, 0); }
static void p_write_msr(u32 m, u64 v) { hc(VL_HC_WRMSR, m, v, 0); }
static u8 p_inb(u16 p) { return (u8)hc(VL_HC_IO, p, 1, 0); }
static u32 p_inl(u16 p) { return (u32)hc(VL_HC_IO, p, 4, 0); }
static void p_outb(u16 p, u8 v) { hc(VL_HC_IO, p, 1 | VL_HC_IO_WRITE, v); }
static void p_outl(u16 p, u32 v) { hc(VL_HC_IO, p, 4 | VL_HC_IO_WRITE, v); }

/* Switch every privileged entry to its paravirtual version. CPUID stays
 * the instruction (unprivileged: the VMM answers the kernel's; guest
 * README); set_pte and kernel_rsp0 are plain memory writes under shadow
 * paging (direct paging will make set_pte a hypercall). Returns the number
 * of entries switched. */
static int pv_switch(void)
{
	struct pv_ops *o = &pv_ops;
	o->sysret_to_user = pv_iret_frame; o->iret_to_user = pv_iret_frame; o->iret_to_kernel = pv_iret_frame;
	o->read_cr0 = p_read_cr0; o->read_cr2 = p_read_cr2; o->read_cr3 = p_read_cr3;
	o->write_cr3 = p_write_cr3; o->read_cr4 = p_read_cr4; o->write_cr4 = p_write_cr4;
	o->read_cr8 = p_read_cr8; o->write_cr8 = p_write_cr8; o->invlpg = p_invlpg;
	o->save_fl = p_save_fl; o->restore_fl = p_restore_fl;
	o->irq_disable = p_irq_disable; o->irq_enable = p_irq_enable;
	o->safe_halt = p_safe_halt; o->halt = p_halt;
	o->load_gdt = p_load_gdt; o->load_idt = p_load_idt; o->load_tr = p_load_tr;
	o->read_msr = p_read_msr; o->write_msr = p_write_msr;
	o->inb = p_inb; o->inl = p_inl; o->outb = p_outb; o->outl = p_outl;
	o->name = "hypercall";
	return 25;
}

/* Detect a hypervisor. Only VL_PV_SIGNATURE switches the table: the shared
 * page is registered first (the VMM then owns the virtual IF through it). */
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
		long rc = hc(VL_HC_SET_SHARED, PA(pv_shared), 0, 0);
		if (rc) {
			kprintf("pv: VirtLabPV hypervisor refused the shared page (%ld); native ops kept\n", rc);
			return;
		}
		int n = pv_switch();
		pv_switched = 1;
		kprintf("pv: VirtLabPV hypervisor detected: pv-ops=hypercall entries=%d\n", n);
		/* direct paging offered (mmu/direct): mm_init switches to it */
		pvd_offer(*(volatile u32 *)(pv_shared + VL_PVS_MMU_BATCH), *(volatile u64 *)(pv_shared + VL_PVS_NR_FRAMES));
		/* The ABI's error paths, once per boot (outside any measured
		 * region): a VMM that crashes or accepts these is caught here. */
		long e[4] = { hc(VL_HC_COUNT + 1000, 0, 0, 0), hc(VL_HC_READ_CR, 5, 0, 0),
			      hc(VL_HC_IO, 0x10000, 1, 0), hc(VL_HC_SET_SHARED, PA(pv_shared), 0, 0) };
		if (e[0] != -VL_HC_ENOSYS || e[1] != -VL_HC_EINVAL || e[2] != -VL_HC_EINVAL || e[3] != -VL_HC_EPERM)
			panic("pv: hypercall error paths returned %ld %ld %ld %ld", e[0], e[1], e[2], e[3]);
	} else {
		pv_hypervisor = 2;
		for (int i = 0; i < 12; i++) if (sig[i] < 32 || sig[i] > 126) sig[i] = '.';
		kprintf("pv: hypervisor signature \"%s\" (native ops)\n", sig);
	}
}
