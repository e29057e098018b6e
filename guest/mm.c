/* mm.c — physical page allocator (fresh pages in order + a free list of freed pages, per-page reference counts for
 * copy-on-write), the kernel's own 4-level page tables, address spaces:
 * create, fork (COW), free. Every PTE write goes through pv_ops.set_pte. */
#include "kernel.h"

#define MAX_PAGES (1u << 18)             /* 1 GiB of RAM at most (the direct map's reach) */
static u16 refcnt[MAX_PAGES];
static u64 free_head, nfree;
static u64 fresh_next, fresh_end;        /* never-used pages: handed out in order, untouched until then */
u64 kernel_pml4_pa;
extern u64 boot_pml4[];                  /* boot.S, identity-placed (VA = PA) */
extern char _kend[];

u64 mm_free_pages(void) { return nfree; }

u64 page_alloc(void)
{
	u64 pa;
	if (free_head) {
		pa = free_head;
		free_head = *(u64 *)DM(pa);
	} else if (fresh_next < fresh_end) {
		pa = fresh_next;
		fresh_next += PAGE_SIZE;
	} else {
		return 0;
	}
	nfree--;
	refcnt[pa >> 12] = 1;
	memset(DM(pa), 0, PAGE_SIZE);
	return pa;
}

void page_ref(u64 pa) { refcnt[pa >> 12]++; }

void page_unref(u64 pa)
{
	if (!refcnt[pa >> 12]) panic("page_unref of a free page 0x%lx", pa);
	if (--refcnt[pa >> 12]) return;
	*(u64 *)DM(pa) = free_head;
	free_head = pa;
	nfree++;
}

void mm_init(u64 ram)
{
	if (ram > (u64)MAX_PAGES * PAGE_SIZE) ram = (u64)MAX_PAGES * PAGE_SIZE;
	if (pv_direct) { pvd_mm_init(ram, (PA(_kend) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)); return; }
	/* The kernel keeps using the boot tables (static, in the image); drop
	 * the identity mapping of the low half. */
	kernel_pml4_pa = (u64)boot_pml4;
	u64 *pml4 = DM(kernel_pml4_pa);
	pvop_set_pte(&pml4[0], 0);
	pvop_write_cr3(kernel_pml4_pa);
	u64 start = (PA(_kend) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	/* Pages are taken from [start, ram) in order and only freed pages are
	 * linked: RAM nobody allocates is never touched. */
	fresh_next = start;
	fresh_end = ram & ~(u64)(PAGE_SIZE - 1);
	nfree = fresh_end > start ? (fresh_end - start) / PAGE_SIZE : 0;
}

/* Leaf PTE pointer for va in the space rooted at pml4_pa, creating the
 * intermediate tables when `create` (user-accessible for user addresses).
 * NULL when absent (or a large page is in the way). */
u64 *pt_walk(u64 pml4_pa, u64 va, int create)
{
	u64 *t = DM(pml4_pa);
	u64 fl = PTE_P | PTE_W | (va < VL_USER_TOP ? PTE_U : 0);
	for (int lvl = 3; lvl > 0; lvl--) {
		u64 *e = &t[(va >> (12 + 9 * lvl)) & 511];
		if (!(*e & PTE_P)) {
			if (!create) return NULL;
			u64 pa = page_alloc();
			if (!pa) return NULL;
			pvop_set_pte(e, pa | fl);
		}
		if (*e & PTE_PS) return NULL;
		t = DM(*e & PTE_ADDR);
	}
	return &t[(va >> 12) & 511];
}

int mm_map(u64 pml4_pa, u64 va, u64 pa, u64 flags)
{
	u64 *pte = pt_walk(pml4_pa, va, 1);
	if (!pte) return -1;
	pvop_set_pte(pte, pa | flags);
	return 0;
}

/* A new address space: empty user half, kernel half shared (PML4 256..511). */
u64 mm_new_space(void)
{
	u64 pa = page_alloc();
	if (!pa) return 0;
	u64 *n = DM(pa), *k = DM(kernel_pml4_pa);
	for (int i = 256; i < 512; i++) if (k[i]) pvop_set_pte(&n[i], k[i]);
	return pa;
}

/* Recursive copy of a user page-table level for fork: writable pages
 * become read-only + COW in both spaces, every data page gains a reference. */
static int fork_level(u64 *src, u64 *dst, int lvl)
{
	for (int i = 0; i < 512; i++) {
		u64 e = src[i];
		if (!(e & PTE_P)) continue;
		if (lvl == 0) {
			if (e & (PTE_W | PTE_COW)) { e = (e & ~PTE_W) | PTE_COW; pvop_set_pte(&src[i], e); }
			page_ref(e & PTE_ADDR);
			pvop_set_pte(&dst[i], e);
			continue;
		}
		u64 pa = page_alloc();
		if (!pa) return -1;
		pvop_set_pte(&dst[i], pa | (e & 0xfff));
		if (fork_level(DM(e & PTE_ADDR), DM(pa), lvl - 1)) return -1;
	}
	return 0;
}

u64 mm_fork_space(u64 parent)
{
	u64 child = mm_new_space();
	if (!child) return 0;
	u64 *s = DM(parent), *d = DM(child);
	for (int i = 0; i < 256; i++) {
		u64 e = s[i];
		if (!(e & PTE_P)) continue;
		u64 pa = page_alloc();
		if (!pa) { mm_free_space(child); return 0; }
		pvop_set_pte(&d[i], pa | (e & 0xfff));
		if (fork_level(DM(e & PTE_ADDR), DM(pa), 2)) { mm_free_space(child); return 0; }
	}
	pvop_write_cr3(pvop_read_cr3());   /* parent's PTEs lost W */
	return child;
}

static void free_level(u64 *t, int lvl)
{
	for (int i = 0; i < 512; i++) {
		u64 e = t[i];
		if (!(e & PTE_P)) continue;
		if (lvl) free_level(DM(e & PTE_ADDR), lvl - 1);
		page_unref(e & PTE_ADDR);
		pvop_set_pte(&t[i], 0);
	}
}

/* Free the user half and the PML4 page. Never the current CR3. */
void mm_free_space(u64 pml4_pa)
{
	u64 *t = DM(pml4_pa);
	for (int i = 0; i < 256; i++) {
		u64 e = t[i];
		if (!(e & PTE_P)) continue;
		free_level(DM(e & PTE_ADDR), 2);
		page_unref(e & PTE_ADDR);
		pvop_set_pte(&t[i], 0);
	}
	page_unref(pml4_pa);
}

int page_refcount(u64 pa) { return refcnt[pa >> 12]; }

void mm_free_push(u64 pa) { refcnt[pa >> 12] = 1; page_unref(pa); }
