/* kernel.h — the guest kernel's internal interfaces (one header: the kernel
 * is small). Freestanding: no libc. */
#ifndef GUEST_KERNEL_H
#define GUEST_KERNEL_H
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include "virtlab/guest_abi.h"

typedef uint64_t u64; typedef uint32_t u32; typedef uint16_t u16; typedef uint8_t u8;

#define PAGE_SIZE 4096ull
#define KOFF 0xffffffff80000000ull
#define PA(kva) ((u64)(kva) - KOFF)               /* kernel-image VA -> phys */
#define DM(pa) ((void *)((u64)(pa) + VL_DIRECT_MAP)) /* phys -> direct map */
#define DM_PA(p) ((u64)(p) - VL_DIRECT_MAP)

#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_U 4ull
#define PTE_PS 0x80ull
#define PTE_COW 0x200ull                           /* software bit: copy on write */
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

/* Trap frame: SAVE order in boot.S, then vector, error, hardware frame. */
struct trapframe {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vec, err, rip, cs, rflags, rsp, ss;
};
#define VEC_SYSCALL 0x100

/* ---- pv-ops: every privileged or sensitive operation ------------------
 * The first two members are jumped to from boot.S (offsets 0 and 8). */
struct pv_ops {
	void (*sysret_to_user)(void);   /* asm: rsp -> trapframe; never returns */
	void (*iret_to_user)(void);     /* asm: rsp -> trapframe; never returns */
	void (*iret_to_kernel)(void);   /* asm (offset 16): rsp -> trapframe of a kernel context; never returns */
	u64 (*read_cr0)(void);
	void (*write_cr0)(u64);
	u64 (*read_cr2)(void);
	u64 (*read_cr3)(void);
	void (*write_cr3)(u64);
	u64 (*read_cr4)(void);
	void (*write_cr4)(u64);
	u64 (*read_cr8)(void);
	void (*write_cr8)(u64);
	void (*invlpg)(u64 va);
	u64 (*save_fl)(void);
	void (*restore_fl)(u64);
	void (*irq_disable)(void);
	void (*irq_enable)(void);
	void (*safe_halt)(void);        /* sti; hlt (one interrupt), IF off again after */
	void (*halt)(void);
	void (*load_gdt)(const void *desc);
	void (*load_idt)(const void *desc);
	void (*load_tr)(u16 sel);
	void (*store_gdt)(void *desc);  /* SGDT: the 10-byte descriptor the kernel loaded */
	void (*store_idt)(void *desc);  /* SIDT */
	void (*store_ldt)(u16 *sel);    /* SLDT */
	void (*store_tr)(u16 *sel);     /* STR */
	void (*smsw)(u16 *msw);         /* SMSW: CR0[15:0] */
	u16 (*read_cs)(void);           /* the kernel's CS / SS as it sees them (virtual RPL) */
	u16 (*read_ss)(void);
	u64 (*read_msr)(u32 msr);
	void (*write_msr)(u32 msr, u64 v);
	void (*cpuid)(u32 leaf, u32 sub, u32 r[4]);
	u8 (*inb)(u16 port);
	u32 (*inl)(u16 port);
	void (*outb)(u16 port, u8 v);
	void (*outl)(u16 port, u32 v);
	void (*set_pte)(u64 *ptep, u64 val);
	void (*kernel_rsp0)(u64 rsp0);  /* stack for traps from user mode */
	const char *name;               /* "native" */
	void (*mmu_flush)(void);        /* direct paging: apply the queued page-table updates (native: nothing) */
};
extern struct pv_ops pv_ops;

/* ---- pv-op call sites (paravirt patching, as Linux's .parainstructions)
 * pvop_X(...) is a 6-byte `call *pv_ops+off(%rip)` (FF 15 rel32) with the
 * arguments in RDI, RSI, RDX and the result in RAX, recorded in section
 * .pv_sites as { address, length, pv-op index, kind }. pv_patch_sites()
 * (kmain, after pv_init and mm_init switched the table) rewrites every
 * recorded site once, before any measured region: where the pv-op
 * is still its native version and a native instruction sequence fits in
 * the 6 bytes, that sequence padded with one multi-byte NOP (CLI, STI,
 * PUSHF;POP, PUSH;POPF, MOV CR, IN/OUT, ...); otherwise a direct call to
 * the table's entry (2E E8 rel32: the CS prefix, ignored in 64-bit mode,
 * pads the 5-byte call to one 6-byte instruction) — on a PV boot the
 * hypercall / shared-page versions, with no indirect call left. boot.S
 * records its three `jmp *pv_ops+N(%rip)` return paths the same way (kind
 * 1, patched to direct jumps). Callers that still write pv_ops.X(...)
 * call through the table (correct, only not patched). */
struct pv_site { u64 addr; u8 len, op, kind, pad[5]; };
#define PV_SITE_CALL 0
#define PV_SITE_JMP 1
#define PV_SITE_LEN 6
#define PV_IDX(op) (offsetof(struct pv_ops, op) / sizeof(void *))
#define PV_NOPS (sizeof(struct pv_ops) / sizeof(void *))   /* slots, `name` included */
#define PVOP_ASM \
	"771: call *pv_ops+%c[pv_off](%%rip)\n772:\n" \
	".pushsection .pv_sites,\"a\"\n.balign 8\n.quad 771b\n" \
	".byte 772b-771b, %c[pv_idx], 0, 0, 0, 0, 0, 0\n.popsection\n"
#define PVOP_IN(op) [pv_off] "i"(offsetof(struct pv_ops, op)), [pv_idx] "i"(PV_IDX(op))
#define PVOP_CLOB "rcx", "r8", "r9", "r10", "r11", "memory", "cc"
#define PVOP_CALL0(op) ({ unsigned long a_, D_, S_, d_; \
	__asm__ volatile(PVOP_ASM : "=a"(a_), "=D"(D_), "=S"(S_), "=d"(d_) : PVOP_IN(op) : PVOP_CLOB); a_; })
#define PVOP_CALL1(op, x) ({ unsigned long a_, D_ = (unsigned long)(x), S_, d_; \
	__asm__ volatile(PVOP_ASM : "=a"(a_), "+D"(D_), "=S"(S_), "=d"(d_) : PVOP_IN(op) : PVOP_CLOB); a_; })
#define PVOP_CALL2(op, x, y) ({ unsigned long a_, D_ = (unsigned long)(x), S_ = (unsigned long)(y), d_; \
	__asm__ volatile(PVOP_ASM : "=a"(a_), "+D"(D_), "+S"(S_), "=d"(d_) : PVOP_IN(op) : PVOP_CLOB); a_; })
#define PVOP_CALL3(op, x, y, z) ({ unsigned long a_, D_ = (unsigned long)(x), S_ = (unsigned long)(y), \
	d_ = (unsigned long)(z); \
	__asm__ volatile(PVOP_ASM : "=a"(a_), "+D"(D_), "+S"(S_), "+d"(d_) : PVOP_IN(op) : PVOP_CLOB); a_; })
static inline u64 pvop_read_cr0(void) { return PVOP_CALL0(read_cr0); }
static inline void pvop_write_cr0(u64 v) { (void)PVOP_CALL1(write_cr0, v); }
static inline u64 pvop_read_cr2(void) { return PVOP_CALL0(read_cr2); }
static inline u64 pvop_read_cr3(void) { return PVOP_CALL0(read_cr3); }
static inline void pvop_write_cr3(u64 v) { (void)PVOP_CALL1(write_cr3, v); }
static inline u64 pvop_read_cr4(void) { return PVOP_CALL0(read_cr4); }
static inline void pvop_write_cr4(u64 v) { (void)PVOP_CALL1(write_cr4, v); }
static inline u64 pvop_read_cr8(void) { return PVOP_CALL0(read_cr8); }
static inline void pvop_write_cr8(u64 v) { (void)PVOP_CALL1(write_cr8, v); }
static inline void pvop_invlpg(u64 va) { (void)PVOP_CALL1(invlpg, va); }
static inline u64 pvop_save_fl(void) { return PVOP_CALL0(save_fl); }
static inline void pvop_restore_fl(u64 f) { (void)PVOP_CALL1(restore_fl, f); }
static inline void pvop_irq_disable(void) { (void)PVOP_CALL0(irq_disable); }
static inline void pvop_irq_enable(void) { (void)PVOP_CALL0(irq_enable); }
static inline void pvop_safe_halt(void) { (void)PVOP_CALL0(safe_halt); }
static inline void pvop_halt(void) { (void)PVOP_CALL0(halt); }
static inline void pvop_load_gdt(const void *d) { (void)PVOP_CALL1(load_gdt, d); }
static inline void pvop_load_idt(const void *d) { (void)PVOP_CALL1(load_idt, d); }
static inline void pvop_load_tr(u16 s) { (void)PVOP_CALL1(load_tr, s); }
static inline void pvop_store_gdt(void *d) { (void)PVOP_CALL1(store_gdt, d); }
static inline void pvop_store_idt(void *d) { (void)PVOP_CALL1(store_idt, d); }
static inline void pvop_store_ldt(u16 *s) { (void)PVOP_CALL1(store_ldt, s); }
static inline void pvop_store_tr(u16 *s) { (void)PVOP_CALL1(store_tr, s); }
static inline void pvop_smsw(u16 *w) { (void)PVOP_CALL1(smsw, w); }
static inline u16 pvop_read_cs(void) { return (u16)PVOP_CALL0(read_cs); }
static inline u16 pvop_read_ss(void) { return (u16)PVOP_CALL0(read_ss); }
static inline u64 pvop_read_msr(u32 m) { return PVOP_CALL1(read_msr, m); }
static inline void pvop_write_msr(u32 m, u64 v) { (void)PVOP_CALL2(write_msr, m, v); }
static inline void pvop_cpuid(u32 leaf, u32 sub, u32 r[4]) { (void)PVOP_CALL3(cpuid, leaf, sub, r); }
static inline u8 pvop_inb(u16 p) { return (u8)PVOP_CALL1(inb, p); }
static inline u32 pvop_inl(u16 p) { return (u32)PVOP_CALL1(inl, p); }
static inline void pvop_outb(u16 p, u8 v) { (void)PVOP_CALL2(outb, p, v); }
static inline void pvop_outl(u16 p, u32 v) { (void)PVOP_CALL2(outl, p, v); }
static inline void pvop_set_pte(u64 *ptep, u64 v) { (void)PVOP_CALL2(set_pte, ptep, v); }
static inline void pvop_kernel_rsp0(u64 rsp0) { (void)PVOP_CALL1(kernel_rsp0, rsp0); }
extern int pv_patched_sites;           /* sites rewritten by pv_patch_sites (0 before) */
void pv_patch_sites(void);             /* kmain, after every pv-op switch (pv_init, mm_init) */
void pv_init(void);
extern int pv_hypervisor;            /* 0 none, 1 VL_PV_SIGNATURE, 2 other */
extern int pv_switched;              /* 1: pv-ops are the hypercall versions */
void native_iret_to_kernel(void);
void pv_iret_frame(void);            /* boot.S: the hypercall return path (VL_HC_IRET) */
/* direct paging (pvmmu.c) */
extern int pv_direct;                /* 1: the VMM offered direct paging (mmu/direct) */
void pvd_offer(u32 batch, u64 frames);
void pvd_mm_init(u64 ram, u64 start);
void pvd_flush(void);
void mm_free_push(u64 pa);           /* give a free page to the allocator (direct paging's switch) */

/* console / lib */
void kputs(const char *s);
void kprintf(const char *fmt, ...);
int vl_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int vl_snprintf(char *buf, size_t n, const char *fmt, ...);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
__attribute__((noreturn)) void vl_exit(int status);
__attribute__((noreturn)) void panic(const char *fmt, ...);

/* memory */
void mm_init(u64 ram_bytes);
u64 page_alloc(void);                /* zeroed page, phys; 0 when out */
void page_ref(u64 pa);
void page_unref(u64 pa);
int page_refcount(u64 pa);
u64 mm_free_pages(void);
extern u64 kernel_pml4_pa;
u64 *pt_walk(u64 pml4_pa, u64 va, int create);   /* leaf PTE pointer or NULL */
int mm_map(u64 pml4_pa, u64 va, u64 pa, u64 flags);
u64 mm_new_space(void);
u64 mm_fork_space(u64 parent_pml4);
void mm_free_space(u64 pml4_pa);

/* processes */
#define MAX_VMAS 48   /* a process footprint of up to 40 regions (workloads/footprint.h) plus program, stack, workload mappings */
struct vma { u64 start, end; int used; };
enum pstate { P_FREE, P_RUN, P_WAIT, P_ZOMBIE };
struct proc {
	int pid, ppid;
	enum pstate state;
	u64 pml4;
	u64 ksp;
	u64 kstack;                       /* phys of the 2-page kernel stack */
	long exit_status;
	u64 mmap_next;
	struct vma vmas[MAX_VMAS];
	u64 ticks;
};
#define MAX_PROCS 64
extern struct proc procs[MAX_PROCS];
extern struct proc *current;
extern u64 kstack_top;
extern volatile u64 timer_ticks;
void sched_yield(void);
void schedule(void);
int proc_spawn_init(const void *elf, size_t len, u64 arg0, u64 arg1, u64 arg2);
__attribute__((noreturn)) void proc_start_first(void);
__attribute__((noreturn)) void proc_exit(long status);
void proc_kill(const char *why, struct trapframe *tf);
int vma_add(struct proc *p, u64 start, u64 end);
struct vma *vma_find(struct proc *p, u64 va);
int handle_user_fault(u64 va, int write);       /* 0 resolved */
long syscall_dispatch(struct trapframe *tf);

/* traps, apic */
#define KERNEL_TSS_SEL 0x28
void trap_init(void);
void apic_init(u64 count);
void apic_eoi(void);
void desc_tables(u64 *gdt_base, u16 *gdt_limit, u64 *idt_base, u16 *idt_limit);   /* as trap_init loaded them */
extern int apic_x2;

/* boot facts */
extern u64 ram_size;
extern u16 pmtimer_port;
extern u64 cmd_timer;

/* workloads */
int kbench_run(int widx, u64 iters);    /* in-kernel workloads; -1 if not one */
extern const char user_elf_start[], user_elf_end[];

/* asm */
void vl_syscall_entry(void);
void native_sysret_to_user(void);
void native_iret_to_user(void);
void ret_from_fork(void);
void trap_exit(void);
void vl_switch(u64 *old_ksp, u64 new_ksp);
void vl_nop_fn(void);
extern char vl_trap_stubs[];

static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
#define MARK_BEGIN(r) __asm__ volatile(VL_MARK_STR(VL_MARK_DISP(VL_MARK_BEGIN, r)) ::: "memory")
#define MARK_END(r) __asm__ volatile(VL_MARK_STR(VL_MARK_DISP(VL_MARK_END, r)) ::: "memory")

/* Workload indices (workloads.def order; selftest last). */
enum {
#define W(name, iters, desc) WL_##name,
#include "virtlab/workloads.def"
#undef W
	WL_COUNT
};
extern const char *const wl_names[];
#endif
