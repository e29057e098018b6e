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
