/* pvops.c — the pv-ops table: native implementations of every privileged
 * or sensitive operation, their paravirtual (hypercall / shared-page)
 * versions, and hypervisor detection (CPUID 0x40000000): under the
 * VirtLabPV signature the table switches to the paravirtual versions; no
 * caller changes (transparent paravirtualization: one image). */
#include "kernel.h"

static u64 n_read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0,%0" : "=r"(v)); return v; }
static void n_write_cr0(u64 v) { __asm__ volatile("mov %0,%%cr0" ::"r"(v) : "memory"); }
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
static void n_store_gdt(void *d) { __asm__ volatile("sgdt (%0)" ::"r"(d) : "memory"); }
static void n_store_idt(void *d) { __asm__ volatile("sidt (%0)" ::"r"(d) : "memory"); }
static void n_store_ldt(u16 *s) { __asm__ volatile("sldt (%0)" ::"r"(s) : "memory"); }
static void n_store_tr(u16 *s) { __asm__ volatile("str (%0)" ::"r"(s) : "memory"); }
static void n_smsw(u16 *w) { __asm__ volatile("smsw (%0)" ::"r"(w) : "memory"); }
static u16 n_read_cs(void) { u32 v; __asm__ volatile("mov %%cs,%0" : "=r"(v)); return (u16)v; }
static u16 n_read_ss(void) { u32 v; __asm__ volatile("mov %%ss,%0" : "=r"(v)); return (u16)v; }
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
	.write_cr0 = n_write_cr0, .store_gdt = n_store_gdt, .store_idt = n_store_idt, .store_ldt = n_store_ldt,
	.store_tr = n_store_tr, .smsw = n_smsw, .read_cs = n_read_cs, .read_ss = n_read_ss,
	.read_msr = n_read_msr, .write_msr = n_write_msr, .cpuid = n_cpuid,
	.inb = n_inb, .inl = n_inl, .outb = n_outb, .outl = n_outl,
	.set_pte = n_set_pte, .kernel_rsp0 = tss_set_rsp0,
	.name = "native",
	.mmu_flush = n_mmu_flush,
};
static struct pv_ops pv_native_ops;   /* the table as the image has it (pv_init's copy): "still native" when patching */

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
static void p_write_cr0(u64 v) { hc(VL_HC_WRITE_CR, 0, v, 0); }
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
/* The sensitive-but-unprivileged reads: a PV kernel asks what it knows
 * (the tables and TR it loaded, its never-loaded LDT) or the VMM (CR0's
 * low word), and reports its CS/SS with the virtual privilege level (the
 * ring it was deprivileged to reads as 0), instead of executing SGDT,
 * SIDT, SLDT, STR, SMSW or MOV from CS/SS, which reveal the real state. */
struct __attribute__((packed)) pv_dtr { u16 limit; u64 base; };
static u8 pv_kernel_rpl;              /* the ring this kernel runs in under pv (CS RPL at the switch) */
static void p_store_dt(void *d, int idt)
{
	u64 gb, ib;
	u16 gl, il;
	desc_tables(&gb, &gl, &ib, &il);
	struct pv_dtr t = { idt ? il : gl, idt ? ib : gb };
	memcpy(d, &t, sizeof t);
}
static void p_store_gdt(void *d) { p_store_dt(d, 0); }
static void p_store_idt(void *d) { p_store_dt(d, 1); }
static void p_store_ldt(u16 *s) { *s = 0; }              /* the kernel never loads an LDT */
static void p_store_tr(u16 *s) { *s = KERNEL_TSS_SEL; }   /* what trap_init loaded (load_tr) */
static void p_smsw(u16 *w) { *w = (u16)hc(VL_HC_READ_CR, 0, 0, 0); }
static u16 p_virt_rpl(u16 sel) { return (sel & 3) == pv_kernel_rpl ? (u16)(sel & ~3) : sel; }
static u16 p_read_cs(void) { return p_virt_rpl(n_read_cs()); }
static u16 p_read_ss(void) { return p_virt_rpl(n_read_ss()); }
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
	o->read_cr0 = p_read_cr0; o->write_cr0 = p_write_cr0; o->read_cr2 = p_read_cr2; o->read_cr3 = p_read_cr3;
	o->write_cr3 = p_write_cr3; o->read_cr4 = p_read_cr4; o->write_cr4 = p_write_cr4;
	o->read_cr8 = p_read_cr8; o->write_cr8 = p_write_cr8; o->invlpg = p_invlpg;
	o->save_fl = p_save_fl; o->restore_fl = p_restore_fl;
	o->irq_disable = p_irq_disable; o->irq_enable = p_irq_enable;
	o->safe_halt = p_safe_halt; o->halt = p_halt;
	o->load_gdt = p_load_gdt; o->load_idt = p_load_idt; o->load_tr = p_load_tr;
	o->store_gdt = p_store_gdt; o->store_idt = p_store_idt; o->store_ldt = p_store_ldt; o->store_tr = p_store_tr;
	o->smsw = p_smsw; o->read_cs = p_read_cs; o->read_ss = p_read_ss;
	o->read_msr = p_read_msr; o->write_msr = p_write_msr;
	o->inb = p_inb; o->inl = p_inl; o->outb = p_outb; o->outl = p_outl;
	o->name = "hypercall";
	pv_kernel_rpl = (u8)(n_read_cs() & 3);
	int n = 0;
	const void *const *tab = (const void *const *)o, *const *nat = (const void *const *)&pv_native_ops;
	for (size_t k = 0; k < PV_NOPS; k++) n += k != PV_IDX(name) && tab[k] != nat[k];
	return n;
}

/* ---- call-site patching (kernel.h "pv-op call sites") -------------------
 * The native instruction sequence of each pv-op that fits a 6-byte site,
 * with the call site's register convention (arguments RDI, RSI, RDX,
 * result RAX; every one of them is declared clobbered at the site). */
struct pv_insn { u8 len, b[PV_SITE_LEN]; };
static const struct pv_insn pv_native_insn[PV_NOPS] = {
	[PV_IDX(read_cr0)] = { 3, { 0x0f, 0x20, 0xc0 } },        /* mov %cr0,%rax */
	[PV_IDX(write_cr0)] = { 3, { 0x0f, 0x22, 0xc7 } },       /* mov %rdi,%cr0 */
	[PV_IDX(read_cr2)] = { 3, { 0x0f, 0x20, 0xd0 } },        /* mov %cr2,%rax */
	[PV_IDX(read_cr3)] = { 3, { 0x0f, 0x20, 0xd8 } },        /* mov %cr3,%rax */
	[PV_IDX(write_cr3)] = { 3, { 0x0f, 0x22, 0xdf } },       /* mov %rdi,%cr3 */
	[PV_IDX(read_cr4)] = { 3, { 0x0f, 0x20, 0xe0 } },        /* mov %cr4,%rax */
	[PV_IDX(write_cr4)] = { 3, { 0x0f, 0x22, 0xe7 } },       /* mov %rdi,%cr4 */
	[PV_IDX(read_cr8)] = { 4, { 0x44, 0x0f, 0x20, 0xc0 } },  /* mov %cr8,%rax */
	[PV_IDX(write_cr8)] = { 4, { 0x44, 0x0f, 0x22, 0xc7 } }, /* mov %rdi,%cr8 */
	[PV_IDX(invlpg)] = { 3, { 0x0f, 0x01, 0x3f } },          /* invlpg (%rdi) */
	[PV_IDX(save_fl)] = { 2, { 0x9c, 0x58 } },               /* pushfq; pop %rax */
	[PV_IDX(restore_fl)] = { 2, { 0x57, 0x9d } },            /* push %rdi; popfq */
	[PV_IDX(irq_disable)] = { 1, { 0xfa } },                 /* cli */
	[PV_IDX(irq_enable)] = { 1, { 0xfb } },                  /* sti */
	[PV_IDX(safe_halt)] = { 3, { 0xfb, 0xf4, 0xfa } },       /* sti; hlt; cli */
	[PV_IDX(halt)] = { 1, { 0xf4 } },                        /* hlt */
	[PV_IDX(load_gdt)] = { 3, { 0x0f, 0x01, 0x17 } },        /* lgdt (%rdi) */
	[PV_IDX(load_idt)] = { 3, { 0x0f, 0x01, 0x1f } },        /* lidt (%rdi) */
	[PV_IDX(load_tr)] = { 3, { 0x0f, 0x00, 0xdf } },         /* ltr %di */
	[PV_IDX(store_gdt)] = { 3, { 0x0f, 0x01, 0x07 } },       /* sgdt (%rdi) */
	[PV_IDX(store_idt)] = { 3, { 0x0f, 0x01, 0x0f } },       /* sidt (%rdi) */
	[PV_IDX(store_ldt)] = { 3, { 0x0f, 0x00, 0x07 } },       /* sldt (%rdi) */
	[PV_IDX(store_tr)] = { 3, { 0x0f, 0x00, 0x0f } },        /* str (%rdi) */
	[PV_IDX(smsw)] = { 3, { 0x0f, 0x01, 0x27 } },            /* smsw (%rdi) */
	[PV_IDX(read_cs)] = { 2, { 0x8c, 0xc8 } },               /* mov %cs,%eax */
	[PV_IDX(read_ss)] = { 2, { 0x8c, 0xd0 } },               /* mov %ss,%eax */
	[PV_IDX(inb)] = { 3, { 0x89, 0xfa, 0xec } },             /* mov %edi,%edx; in (%dx),%al */
	[PV_IDX(inl)] = { 3, { 0x89, 0xfa, 0xed } },             /* mov %edi,%edx; in (%dx),%eax */
	[PV_IDX(outb)] = { 5, { 0x89, 0xf0, 0x89, 0xfa, 0xee } }, /* mov %esi,%eax; mov %edi,%edx; out %al,(%dx) */
	[PV_IDX(outl)] = { 5, { 0x89, 0xf0, 0x89, 0xfa, 0xef } }, /* ... out %eax,(%dx) */
	/* read_msr, write_msr, cpuid, kernel_rsp0 and the return paths do not
	 * fit: a direct call (jump) to the native function. set_pte fits
	 * (mov %rsi,(%rdi)) but stays a call, as in Linux (native_set_pte is
	 * not patched inline): every kernel PTE write then stays in one
	 * function, which adaptive binary translation (bt) retranslates once
	 * as a PTE-write callout for all of them. */
};
/* One multi-byte NOP of 1..5 bytes (the SDM's recommended forms). */
static const u8 pv_nop[6][5] = { {0}, { 0x90 }, { 0x66, 0x90 }, { 0x0f, 0x1f, 0x00 }, { 0x0f, 0x1f, 0x40, 0x00 },
				 { 0x0f, 0x1f, 0x44, 0x00, 0x00 } };
extern const struct pv_site __pv_sites_start[], __pv_sites_end[];
int pv_patched_sites;

/* Rewrite every recorded site for the table as it now is (guest self-
 * modifying code, once, from kmain after every pv-op switch — pv_init's
 * and direct paging's in mm_init — and before any measured region; the
 * kernel image is mapped writable) and report it on the console. */
void pv_patch_sites(void)
{
	const void *const *tab = (const void *const *)&pv_ops, *const *nat = (const void *const *)&pv_native_ops;
	int n_inline = 0, n_direct = 0;
	for (const struct pv_site *s = __pv_sites_start; s < __pv_sites_end; s++) {
		u8 *p = (u8 *)s->addr, b[PV_SITE_LEN];
		u8 op2 = s->kind == PV_SITE_JMP ? 0x25 : 0x15;
		if (s->len != PV_SITE_LEN || s->op >= PV_NOPS || s->op == PV_IDX(name) || s->kind > PV_SITE_JMP ||
		    p[0] != 0xff || p[1] != op2)
			panic("pv: malformed pv-op site %lu at 0x%lx", (u64)(s - __pv_sites_start), s->addr);
		const struct pv_insn *ni = &pv_native_insn[s->op];
		if (s->kind == PV_SITE_CALL && ni->len && tab[s->op] == nat[s->op]) {
			memcpy(b, ni->b, ni->len);
			if (ni->len < PV_SITE_LEN) memcpy(b + ni->len, pv_nop[PV_SITE_LEN - ni->len], PV_SITE_LEN - ni->len);
			n_inline++;
		} else {
			u32 rel = (u32)((u64)tab[s->op] - (s->addr + PV_SITE_LEN));
			b[0] = 0x2e;   /* CS prefix: one 6-byte CALL/JMP rel32 */
			b[1] = s->kind == PV_SITE_JMP ? 0xe9 : 0xe8;
			memcpy(b + 2, &rel, 4);
			n_direct++;
		}
		memcpy(p, b, PV_SITE_LEN);
	}
	pv_patched_sites = n_inline + n_direct;
	kprintf("pv: pv-ops=%s, patched %d sites (%d native inline, %d direct calls)\n", pv_ops.name, pv_patched_sites,
		n_inline, n_direct);
}

/* Detect a hypervisor. Only VL_PV_SIGNATURE switches the table: the shared
 * page is registered first (the VMM then owns the virtual IF through it). */
void pv_init(void)
{
	u32 r[4];
	pv_native_ops = pv_ops;
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
