/* internal.h — the contract between the parts of machine/ (not for engines).
 *
 * Two halves meet here:
 *   CPU     (decode.c, exec*.c, exception.c, dcache.c ...): decoder,
 *           interpreter loop, exception/interrupt delivery, system instructions.
 *   PLATFORM(mem.c, walk.c, tlb.c, devices.c, loader.c, machine.c ...):
 *           physical memory, TLBs, walker, guest-virtual access, devices,
 *           CPUID/MSRs, ELF loader, machine lifecycle.
 * Each half keeps its private state in its own sub-struct, defined in its own
 * header (cpu_priv.h / mem.h / devices.h), so neither edits the other's.
 */
#ifndef VL_MACHINE_INTERNAL_H
#define VL_MACHINE_INTERNAL_H

#include "virtlab/machine.h"
#include "cpu_priv.h"
#include "mem.h"
#include "devices.h"

/* A fault raised by a memory access, not yet delivered. */
struct vl_fault {
	unsigned vec;        /* VL_PF, VL_GP, ... */
	bool has_err;
	uint32_t err;
	uint64_t cr2;        /* #PF linear address */
	bool noncanon;       /* #GP(0) for a non-canonical address (#SS(0) when the base is RSP/RBP) */
};

struct vl_machine_priv {
	struct vl_cpu_priv cpu;   /* owned by the CPU half */
	struct vl_mem_priv mem;   /* owned by the platform half */
	struct vl_dev_priv dev;   /* owned by the platform half */
	struct vl_fault fault;    /* last fault of vl_mem_* (platform writes, CPU delivers) */
};

/* ---- Platform -> CPU: guest-virtual access for the interpreter ----------
 * All go through the modelled TLBs (counting hits/misses exactly) and the
 * current paging mode (1-D on cpu.cr3, or 2-D via m->nested). On a fault
 * they return nonzero and fill m->priv->fault; they never deliver.
 * `acc` carries VL_ACC_USER when the access is made at CPL 3.
 * A write to a frame holding decoded code calls vl_dcache_invalidate_frame. */
/* Format a one-line reason into err (when err and errlen) and return -1:
 * the loaders' (ELF, Multiboot) refusal helper. */
int vl_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int vl_mem_fetch(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc);
int vl_mem_read(struct vl_machine *m, uint64_t va, void *dst, size_t n, unsigned acc);
int vl_mem_write(struct vl_machine *m, uint64_t va, const void *src, size_t n, unsigned acc);
/* Translate for an access without reading (used e.g. for locked RMW and to
 * learn the physical address of code for the decode cache). */
int vl_mem_translate(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa);

/* ---- Platform -> CPU: devices -------------------------------------------
 * vl_dev_next_event(): the TSC at which some device next needs attention
 * (APIC timer expiry), UINT64_MAX if none; the run loop calls
 * vl_dev_advance() once m->tsc reaches it. */
uint64_t vl_dev_next_event(struct vl_machine *m);
void vl_dev_advance(struct vl_machine *m);
/* Highest-priority pending external interrupt that the APIC would present
 * now (respecting TPR/CR8 and in-service priority); false if none. */
bool vl_apic_pending(struct vl_machine *m, unsigned *vec);
/* The CPU accepted vector `vec` (IRR -> ISR). */
void vl_apic_accept(struct vl_machine *m, unsigned vec);
/* CR8 write: TPR = val << 4 (the APIC sees it). */
void vl_apic_set_tpr(struct vl_machine *m, uint8_t cr8);
uint8_t vl_apic_get_tpr(struct vl_machine *m);

/* ---- CPU -> Platform ------------------------------------------------------ */
/* Forget cached decodes of instructions in host-physical frame `frame` (pa >> 12). */
void vl_dcache_invalidate_frame(struct vl_machine *m, uint64_t frame);
/* Device state changed (MMIO write): re-examine interrupts and device
 * deadlines before the next instruction. */
void vl_cpu_kick(struct vl_machine *m);
/* Memory-mapped devices (the xAPIC page) at host-physical addresses
 * outside memory: true if pa is one and the access was made. */
bool vl_mmio_read(struct vl_machine *m, uint64_t pa, unsigned size, uint64_t *val);
bool vl_mmio_write(struct vl_machine *m, uint64_t pa, unsigned size, uint64_t val);
/* An access (n <= 8 bytes) to a host-physical address outside memory:
 * a device, or all ones / dropped. For the interpreter's inline paths. */
uint64_t vl_mem_unbacked_read(struct vl_machine *m, uint64_t pa, unsigned n);
void vl_mem_unbacked_write(struct vl_machine *m, uint64_t pa, unsigned n, uint64_t v);
/* Materialise the CPU's lazy arithmetic flags into cpu.rflags (before a
 * VM exit taken in the middle of an instruction saves guest state). */
void vl_cpu_flags_sync(struct vl_machine *m);
/* Reset CPU state / CPU-private state (called by vl_machine_new and the loader). */
void vl_cpu_reset(struct vl_machine *m);
int vl_cpu_priv_init(struct vl_machine *m);
/* Select the execution core: ref = the reference instruction-at-a-time
 * path (generic handlers), else the fast core. Drops every cached decode.
 * The default comes from the environment: VIRTLAB_CORE=ref. */
void vl_cpu_set_core(struct vl_machine *m, bool ref);
bool vl_cpu_core_ref(const struct vl_machine *m);
/* Decode cache (host-side, invisible in every count): pages of decodes
 * held now, and how often the cap forced dropping them all; the cap in
 * pages (default 1024, i.e. at most ~230 MB of decodes). */
void vl_cpu_dcache_stats(const struct vl_machine *m, uint64_t *pages, uint64_t *flushes);
void vl_cpu_set_dcache_cap(struct vl_machine *m, uint64_t cap);
/* Decoded blocks of the fast core (exec_block.c, host statistics): built
 * since creation, and how often the bounded block cache was emptied; the
 * cap in blocks (default 8192). */
void vl_cpu_block_stats(const struct vl_machine *m, uint64_t *built, uint64_t *flushes);
void vl_cpu_set_block_cap(struct vl_machine *m, uint32_t cap);
void vl_cpu_priv_free(struct vl_machine *m);
int vl_mem_priv_init(struct vl_machine *m);     /* TLB arrays sized by the profile */
void vl_mem_priv_free(struct vl_machine *m);

/* ---- Platform additions (additive; platform half) -------------------------
 * VL_FAULT_ABORT in fault.vec: the access did not complete and there is NO
 * exception to deliver — the machine stopped (unhandled nested fault, VMM
 * stop). The CPU abandons the instruction and checks m->state.
 * Nested faults (EPT violation / NPF) never reach the CPU: vl_mem_* call
 * m->vmm->nested_fault (the VM exit), count VL_EV_NESTED_FAULTS, and retry.
 * Counting owned by the platform (the CPU must not count these again):
 * ITLB/DTLB/STLB hits and misses, TLB_MISSES, WALK_REFS, NESTED_WALK_REFS,
 * PWC_HITS, NTLB_HITS, NESTED_FAULTS (in vl_mem_*), TLB_FLUSHES (in
 * vl_tlb_flush_nonglobal), INVLPGS (in vl_tlb_flush_va), IO_INSNS (in
 * vl_io_in/vl_io_out, once per call), TIMER_TICKS.
 * Instruction fetch: one ITLB access is counted per vl_mem_fetch /
 * vl_mem_translate(VL_ACC_X) call per page touched. A CPU that caches
 * decoded instructions should call vl_mem_translate(va, VL_ACC_X|user)
 * once per executed instruction (that IS the instruction's ITLB access;
 * a soft-TLB hit costs a few loads) and look its decode cache up by pa. */
#define VL_FAULT_ABORT 0x100u
void vl_console_putc(struct vl_machine *m, char c);
/* Host-physical bytes [pa, pa+n) were written: invalidate decoded code there. */
void vl_mem_note_write(struct vl_machine *m, uint64_t pa, size_t n);
/* code_frames bits: the decode cache holds code from the frame (writes
 * invalidate it); a VMM watches the frame (writes call m->code_write). */
#define VL_CODE_DECODED 1u
#define VL_CODE_WATCHED 2u
/* Mark host frame as holding decoded code (so writes to it invalidate). */
static inline void vl_mem_mark_code(struct vl_machine *m, uint64_t frame)
{
	if (frame < (m->mem_size >> 12))
		m->priv->mem.code_frames[frame] |= VL_CODE_DECODED;
}
/* Host fast path (soft TLB) on/off; off = every access takes the modelled
 * slow path (tests compare counters both ways). */
void vl_mem_set_fastpath(struct vl_machine *m, bool on);
void vl_dev_reset(struct vl_machine *m);       /* devices to reset state (incl. vl_dev_cpu_reset) */
void vl_dev_cpu_reset(struct vl_machine *m);   /* APIC_BASE / PAT reset values into m->cpu */
unsigned vl_platform_maxphyaddr(const struct vl_profile *p);

/* ---- Inline soft-TLB hit (platform; additive) -----------------------------
 * vl_mem_translate_inline() is vl_mem_translate() with the host fast path
 * inlined into the caller: a soft-TLB hit counts the modelled L1 hit and
 * refreshes that entry's LRU stamp exactly as the modelled path would;
 * anything else goes to the modelled path. Use it per instruction for the
 * fetch's ITLB access (acc = VL_ACC_X | user) and for data accesses. */
int vl_mem_translate_slow(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa);
/* Paging context a cached permission decision depends on (besides acc). */
static inline uint32_t vl_mem_ctx(const struct vl_machine *m)
{
	uint32_t pcid = (m->cpu.cr4 & VL_CR4_PCIDE) ? (uint32_t)(m->cpu.cr3 & 0xfff) : 0;
	return (uint32_t)m->tlb_tag | pcid << 16 | (uint32_t)((m->cpu.cr0 >> 16) & 1) << 28 |
	       (uint32_t)((m->cpu.efer >> 11) & 1) << 29 | (uint32_t)m->nested.enabled << 30 |
	       (uint32_t)((m->cpu.cr0 >> 31) & 1) << 31;
}
static inline int vl_mem_translate_inline(struct vl_machine *m, uint64_t va, unsigned acc, uint64_t *pa)
{
	struct vl_mem_priv *mp = &m->priv->mem;
	struct vl_soft_ent *s = &mp->soft[VL_SOFT_IDX(m, acc, va)];

	if (__builtin_expect(s->vpage == (va >> 12) && s->id == s->ent->id && s->ctx == vl_mem_ctx(m), 1)) {
		struct vl_tlb *t = (acc & VL_ACC_X) ? &mp->itlb : &mp->dtlb;
		m->ctr->events[(acc & VL_ACC_X) ? VL_EV_ITLB_HITS : VL_EV_DTLB_HITS]++;
		tlb_touch(t, s->ent);
		*pa = ((uint64_t)s->frame << 12) | (va & 0xfff);
		return 0;
	}
	return vl_mem_translate_slow(m, va, acc, pa);
}

#endif
