/* proc.c — processes (own address spaces, static kernel stacks), the round-
 * robin scheduler, the ELF loader for user programs, fault resolution
 * (demand zero, copy-on-write), user-memory access and system calls. */
#include "kernel.h"
#include "sysnum.h"

#define KSTACK 8192
struct proc procs[MAX_PROCS];
struct proc *current;
u64 kstack_top;
static u8 kstacks[MAX_PROCS][KSTACK] __attribute__((aligned(16)));
static int next_pid = 1;

static u64 stack_top(struct proc *p) { return (u64)kstacks[p - procs] + KSTACK; }

static void switch_to(struct proc *next)
{
	struct proc *prev = current;
	current = next;
	kstack_top = stack_top(next);
	pvop_kernel_rsp0(kstack_top);
	pvop_write_cr3(next->pml4);
	vl_switch(&prev->ksp, next->ksp);
}

/* Round robin: the next runnable process after current, else current if it
 * can still run. Called with interrupts off. */
void schedule(void)
{
	int base = (int)(current - procs);
	for (int k = 1; k <= MAX_PROCS; k++) {
		struct proc *p = &procs[(base + k) % MAX_PROCS];
		if (p->state != P_RUN) continue;
		if (p != current) switch_to(p);
		return;
	}
	panic("no runnable process");
}

void sched_yield(void) { schedule(); }

int vma_add(struct proc *p, u64 start, u64 end)
{
	for (int i = 0; i < MAX_VMAS; i++)
		if (!p->vmas[i].used) { p->vmas[i] = (struct vma){ start, end, 1 }; return 0; }
	return -1;
}

struct vma *vma_find(struct proc *p, u64 va)
{
	for (int i = 0; i < MAX_VMAS; i++)
		if (p->vmas[i].used && va >= p->vmas[i].start && va < p->vmas[i].end) return &p->vmas[i];
	return NULL;
}

/* Resolve a user fault at va: demand-zero inside a VMA, or copy-on-write.
 * 0 resolved, -1 not ours (the caller kills the process or returns EFAULT). */
int handle_user_fault(u64 va, int write)
{
	if (va >= VL_USER_TOP) return -1;
	u64 page = va & ~(PAGE_SIZE - 1);
	u64 *pte = pt_walk(current->pml4, page, 0);
	if (pte && (*pte & PTE_P)) {
		u64 e = *pte;
		if (!write || !(e & PTE_COW)) return -1;
		u64 pa = e & PTE_ADDR;
		if (page_refcount(pa) == 1) {
			pvop_set_pte(pte, (e | PTE_W) & ~PTE_COW);
		} else {
			u64 npa = page_alloc();
			if (!npa) return -1;
			memcpy(DM(npa), DM(pa), PAGE_SIZE);
			pvop_set_pte(pte, npa | ((e | PTE_W) & ~PTE_COW & 0xfff));
			page_unref(pa);
		}
		pvop_invlpg(page);
		return 0;
	}
	if (!vma_find(current, va)) return -1;
	u64 pa = page_alloc();
	if (!pa) return -1;
	if (mm_map(current->pml4, page, pa, PTE_P | PTE_W | PTE_U)) { page_unref(pa); return -1; }
	return 0;
}

/* Kernel pointer to user byte va (faulting it in as the CPU would), or NULL. */
static u8 *user_ptr(u64 va, int write)
{
	if (va >= VL_USER_TOP) return NULL;
	u64 *pte = pt_walk(current->pml4, va, 0);
	if (!pte || !(*pte & PTE_P) || (write && !(*pte & PTE_W))) {
		if (handle_user_fault(va, write)) return NULL;
		pte = pt_walk(current->pml4, va, 0);
		if (!pte) return NULL;
	}
	if (!(*pte & PTE_U)) return NULL;
	return (u8 *)DM((*pte & PTE_ADDR) + (va & 0xfff));
}

static int copy_to_user(u64 dst, const void *src, size_t n)
{
	const u8 *s = src;
	for (size_t i = 0; i < n; i++) { u8 *d = user_ptr(dst + i, 1); if (!d) return -VL_EFAULT; *d = s[i]; }
	return 0;
}

/* Load an ELF64 executable into a fresh address space of p. */
static int elf_load(struct proc *p, const u8 *img, size_t len, u64 *entry)
{
	if (len < 64 || memcmp(img, "\177ELF\2\1", 6)) return -1;
	u64 phoff = *(const u64 *)(img + 32);
	u16 phnum = *(const u16 *)(img + 56), phsz = *(const u16 *)(img + 54);
	*entry = *(const u64 *)(img + 24);
	for (u16 i = 0; i < phnum; i++) {
		const u8 *ph = img + phoff + (u64)i * phsz;
		if (*(const u32 *)ph != 1) continue;
		u32 fl = *(const u32 *)(ph + 4);
		u64 off = *(const u64 *)(ph + 8), va = *(const u64 *)(ph + 16);
		u64 fsz = *(const u64 *)(ph + 32), msz = *(const u64 *)(ph + 40);
		if (va + msz >= VL_USER_TOP || off + fsz > len) return -1;
		for (u64 pg = va & ~(PAGE_SIZE - 1); pg < va + msz; pg += PAGE_SIZE) {
			u64 *pte = pt_walk(p->pml4, pg, 1);
			if (!pte) return -1;
			u64 pa = *pte & PTE_ADDR;
			if (!(*pte & PTE_P)) {
				pa = page_alloc();
				if (!pa) return -1;
			}
			pvop_set_pte(pte, pa | PTE_P | PTE_U | ((fl & 2) ? PTE_W : 0) | (*pte & PTE_W));
			for (u64 b = 0; b < PAGE_SIZE; b++) {
				u64 a = pg + b;
				if (a >= va && a < va + fsz) ((u8 *)DM(pa))[b] = img[off + (a - va)];
			}
		}
	}
	return 0;
}

static struct proc *proc_alloc(void)
{
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i].state == P_FREE) {
			struct proc *p = &procs[i];
			memset(p, 0, sizeof *p);
			p->pid = next_pid++;
			return p;
		}
	return NULL;
}

/* Kernel stack of a new process: its trapframe at the top, under it a
 * vl_switch frame that "returns" to ret_from_fork. */
static void proc_setup_stack(struct proc *p, const struct trapframe *tf)
{
	u64 top = stack_top(p);
	struct trapframe *ntf = (struct trapframe *)(top - sizeof *ntf);
	*ntf = *tf;
	u64 *sp = (u64 *)ntf;
	*--sp = (u64)ret_from_fork;
	for (int i = 0; i < 6; i++) *--sp = 0;
	p->ksp = (u64)sp;
}

int proc_spawn_init(const void *elf, size_t len, u64 a0, u64 a1, u64 a2)
{
	struct proc *p = proc_alloc();
	if (!p) return -1;
	p->pml4 = mm_new_space();
	u64 entry;
	if (!p->pml4 || elf_load(p, elf, len, &entry)) return -1;
	vma_add(p, USER_STACK_TOP - USER_STACK_SIZE, USER_STACK_TOP);
	p->mmap_next = USER_MMAP_BASE;
	struct trapframe tf;
	memset(&tf, 0, sizeof tf);
	tf.rip = entry; tf.cs = 0x23; tf.ss = 0x1b; tf.rflags = 0x202; tf.rsp = USER_STACK_TOP;
	tf.rdi = a0; tf.rsi = a1; tf.rdx = a2;
	proc_setup_stack(p, &tf);
	p->state = P_RUN;
	return 0;
}

void proc_start_first(void)
{
	static struct proc boot;   /* the boot context, never resumed */
	current = &boot;
	switch_to(&procs[0]);
	panic("boot context resumed");
}

void proc_exit(long status)
{
	struct proc *p = current;
	pvop_write_cr3(kernel_pml4_pa);
	mm_free_space(p->pml4);
	p->pml4 = kernel_pml4_pa;
	p->exit_status = status;
	if (p->pid == 1) {
		if (status) kprintf("init exited with status %ld\n", status);
		vl_exit(status ? VL_EXIT_FAIL : VL_EXIT_OK);
	}
	for (int i = 0; i < MAX_PROCS; i++)   /* orphans reap themselves */
		if (procs[i].state != P_FREE && procs[i].ppid == p->pid) {
			procs[i].ppid = 0;
			if (procs[i].state == P_ZOMBIE) procs[i].state = P_FREE;
		}
	struct proc *parent = NULL;
	for (int i = 0; i < MAX_PROCS; i++)
		if (procs[i].state != P_FREE && procs[i].pid == p->ppid && p->ppid) parent = &procs[i];
	if (!parent) p->state = P_FREE;
	else {
		p->state = P_ZOMBIE;
		if (parent->state == P_WAIT) parent->state = P_RUN;
	}
	schedule();
	panic("exited process resumed");
}

void proc_kill(const char *why, struct trapframe *tf)
{
	kprintf("process %d killed (%s)\n", current->pid, why);
	proc_exit(-1);
}

static long sys_fork(struct trapframe *tf)
{
	struct proc *c = proc_alloc();
	if (!c) return -VL_EAGAIN;
	c->pml4 = mm_fork_space(current->pml4);
	if (!c->pml4) { c->state = P_FREE; return -VL_ENOMEM; }
	c->ppid = current->pid;
	c->mmap_next = current->mmap_next;
	memcpy(c->vmas, current->vmas, sizeof c->vmas);
	struct trapframe ctf = *tf;
	ctf.rax = 0;
	proc_setup_stack(c, &ctf);
	c->state = P_RUN;
	return c->pid;
}

static long sys_wait(u64 ustatus)
{
	for (;;) {
		int have = 0;
		for (int i = 0; i < MAX_PROCS; i++) {
			struct proc *c = &procs[i];
			if (c->state == P_FREE || c->ppid != current->pid) continue;
			have = 1;
			if (c->state != P_ZOMBIE) continue;
			if (ustatus && copy_to_user(ustatus, &c->exit_status, sizeof c->exit_status)) return -VL_EFAULT;
			c->state = P_FREE;
			return c->pid;
		}
		if (!have) return -VL_ECHILD;
		current->state = P_WAIT;
		schedule();
	}
}

static long sys_write(u64 fd, u64 buf, u64 len)
{
	if (fd != 1 && fd != 2) return -VL_EBADF;
	if (len > (1u << 20)) return -VL_EINVAL;
	char chunk[128]; size_t n = 0;
	for (u64 i = 0; i < len; i++) {
		u8 *c = user_ptr(buf + i, 0);
		if (!c) return -VL_EFAULT;
		chunk[n++] = (char)*c;
		if (n == sizeof chunk - 1 || i + 1 == len) { chunk[n] = 0; for (size_t k = 0; k < n; k++) pvop_outb(VL_PORT_DEBUGCON, (u8)chunk[k]); n = 0; }
	}
	return (long)len;
}

static long sys_mmap(u64 len)
{
	if (!len || len > (1ull << 30)) return -VL_EINVAL;
	len = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	u64 start = current->mmap_next;
	if (start + len >= USER_STACK_TOP - USER_STACK_SIZE) return -VL_ENOMEM;
	if (vma_add(current, start, start + len)) return -VL_ENOMEM;
	current->mmap_next = start + len + PAGE_SIZE;   /* guard page */
	return (long)start;
}

static long sys_munmap(u64 addr, u64 len)
{
	if ((addr & (PAGE_SIZE - 1)) || !len || len > VL_USER_TOP || addr >= VL_USER_TOP - len) return -VL_EINVAL;
	u64 end = addr + ((len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
	int free_slots = 0;
	for (int i = 0; i < MAX_VMAS; i++) free_slots += !current->vmas[i].used;
	for (int i = 0; i < MAX_VMAS; i++) {
		struct vma *v = &current->vmas[i];
		if (!v->used || v->end <= addr || v->start >= end) continue;
		if (v->start >= addr && v->end <= end) v->used = 0;
		else if (v->start < addr && v->end > end) {
			if (!free_slots) return -VL_ENOMEM;
			u64 oend = v->end;
			v->end = addr;
			vma_add(current, end, oend);
			free_slots--;
		} else if (v->start < addr) v->end = addr;
		else v->start = end;
	}
	for (u64 va = addr; va < end; va += PAGE_SIZE) {
		u64 *pte = pt_walk(current->pml4, va, 0);
		if (!pte || !(*pte & PTE_P)) continue;
		u64 pa = *pte & PTE_ADDR;
		pvop_set_pte(pte, 0);
		pvop_invlpg(va);
		page_unref(pa);
	}
	return 0;
}

long syscall_dispatch(struct trapframe *tf)
{
	long r;
	switch (tf->rax) {
	case SYS_exit: proc_exit((long)tf->rdi); r = 0; break;
	case SYS_getpid: r = current->pid; break;
	case SYS_yield: sched_yield(); r = 0; break;
	case SYS_fork: r = sys_fork(tf); break;
	case SYS_wait: r = sys_wait(tf->rdi); break;
	case SYS_write: r = sys_write(tf->rdi, tf->rsi, tf->rdx); break;
	case SYS_mmap: r = sys_mmap(tf->rsi); break;
	case SYS_munmap: r = sys_munmap(tf->rdi, tf->rsi); break;
	case SYS_ticks: r = (long)timer_ticks; break;
	default: r = -VL_ENOSYS; break;
	}
	tf->rax = (u64)r;
	return r;
}
