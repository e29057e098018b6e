/* mmu.h — MMU virtualization engines (VMM software): shadow, nested, direct.
 *
 * The hardware offers 1-D walks (root = cpu.cr3) and 2-D walks (guest CR3
 * through m->nested). An MMU engine is the VMM's memory-virtualization
 * strategy on top: shadow page tables the hardware walks instead of the
 * guest's, EPT/NPT tables populated on nested faults, or validated guest
 * tables holding machine frames (paravirtual direct paging).
 *
 * A CPU engine owns the exits; when an exit concerns memory it calls its
 * MMU engine through these ops. Every op charges its own VMM costs.
 */
#ifndef VIRTLAB_MMU_H
#define VIRTLAB_MMU_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct vl_machine;

enum vl_mmu_kind {
	VL_MMU_NATIVE = 0,  /* 1-D, the guest's own tables (native engine only) */
	VL_MMU_SHADOW,
	VL_MMU_NESTED,
	VL_MMU_DIRECT,
	VL_MMU_NONE,        /* engines that ignore the MMU (qemu-*) */
	VL_MMU_COUNT
};
#define VL_MMU_BIT(k) (1u << (k))

/* Which hardware flavour the CPU engine drives; nested uses EPT or NPT formats. */
enum vl_vendor { VL_VENDOR_NONE = 0, VL_VENDOR_INTEL, VL_VENDOR_AMD };

/* What a #PF was, as the MMU engine classified it (page_fault's *kind). */
enum vl_pf_kind {
	VL_PF_HIDDEN = 0,   /* the VMM's own business (shadow fill, emulated A/D or WP = 0 write): absorbed */
	VL_PF_TRACING,      /* a write to a guest page table: emulated and applied to the shadows (absorbed, RIP advanced) */
	VL_PF_TRUE,         /* the guest's own fault: inject #PF with *pfec and CR2 = va */
	VL_PF_STOPPED,      /* the engine stopped the machine */
};

/* Permissions of a VMM-owned monitor mapping (map_monitor): VL_PERM_* of machine.h. */

struct vl_mmu_ops {
	const char *name;          /* "shadow", "nested", ... (CLI and DB key) */
	const char *desc;
	enum vl_mmu_kind kind;
	/* Create the engine's state; called once the guest is loaded and before
	 * it runs. Programs the hardware (cpu.cr3 shadow root, m->nested).
	 * Returns 0 or -1 with a reason. */
	int (*init)(struct vl_machine *m, enum vl_vendor vendor, void **ctx, char *err, size_t errlen);
	void (*fini)(struct vl_machine *m, void *ctx);
	/* Guest wrote CR3 (an intercepted MOV to CR3): switch address space. */
	void (*cr3_write)(struct vl_machine *m, void *ctx, uint64_t guest_cr3);
	/* Guest read CR3 (intercepted MOV from CR3): the value the guest believes in. */
	uint64_t (*cr3_read)(struct vl_machine *m, void *ctx);
	/* Guest wrote CR0/CR4 (every intercepted write; val and m->cpu.cr0/cr4
	 * hold the guest's value). The engine reacts to paging bits (WP, PG,
	 * PGE, PCIDE) and may set the HARDWARE value in m->cpu (shadow paging
	 * keeps CR0.WP = 1); the VMM loads m->cpu's value into the guest state
	 * and keeps the guest's value in its read shadow. */
	void (*cr_write)(struct vl_machine *m, void *ctx, int cr, uint64_t val);
	/* Guest executed INVLPG va (intercepted). */
	void (*invlpg)(struct vl_machine *m, void *ctx, uint64_t va);
	/* A #PF the hardware raised while the guest ran (intercepted #PF):
	 * returns VL_HOOK_DONE if the VMM absorbed it (hidden fault, traced
	 * page-table write emulated), VL_HOOK_PASS if it is the guest's own
	 * (true) fault to be injected with the (possibly corrected) error code
	 * in *pfec, VL_HOOK_STOP if the machine stopped. *kind (when kind is
	 * not NULL) says which: hidden / tracing (both DONE) / true (PASS) /
	 * stopped — what a binary translator needs to decide on adaptation.
	 * After DONE the VMM writes back RIP, RSP, RFLAGS (and RAX on SVM) if
	 * they changed: the engine may have emulated the instruction. */
	int (*page_fault)(struct vl_machine *m, void *ctx, uint64_t va, uint32_t *pfec, enum vl_pf_kind *kind);
	/* An EPT violation / nested page fault. VL_HOOK_DONE after populating. */
	int (*nested_fault)(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid, unsigned acc, uint64_t nested_pte);
	/* A guest page-table write performed by the VMM: the 8-byte entry at
	 * guest-physical pte_gpa becomes val. Paravirtual direct paging:
	 * validate and apply (a hypercall). Shadow: write the guest entry and
	 * bring the shadows in step exactly as a traced write of it would
	 * (adaptive binary translation: a callout emulates a PTE write without
	 * a fault), charging the tracing costs but not the fault/emulation
	 * (mmu.shadow_pf, vmm.emulate, the guest walk). pte_gpa must be 8-byte
	 * aligned guest RAM. Returns 0, or -1 (nothing written). */
	int (*pt_update)(struct vl_machine *m, void *ctx, uint64_t pte_gpa, uint64_t val);
	/* VMM-owned mapping of monitor memory (the translation cache, the
	 * virtual CPU state): 4K page va -> host-physical hpa (monitor memory,
	 * [m->ram_size, m->mem_size)) with VL_PERM_W/U/X/G, in the reserved
	 * range VL_MONITOR_BASE..VL_MONITOR_END (guest_abi.h). Present in EVERY
	 * shadow root, existing and future, across CR3 switches, root evictions
	 * and pool flushes; never in the guest's own tables, and a guest entry
	 * for that range never replaces it. Remapping a va replaces the
	 * mapping (TLB flushed). Returns 0, or -1 (bad arguments, no memory). */
	int (*map_monitor)(struct vl_machine *m, void *ctx, uint64_t va, uint64_t hpa, unsigned perms);
	/* Guest-physical to host-physical (for VMM emulation of guest memory). */
	uint64_t (*gpa_to_hpa)(struct vl_machine *m, void *ctx, uint64_t gpa);
	/* Paravirtual MMU hypercalls (direct paging): VL_HC_MMU_UPDATE and
	 * VL_HC_MMUEXT_OP (guest_abi.h) with the hypercall's arguments a[0..4],
	 * made by the guest kernel. Returns >= 0 or a negative VL_HC_E* for the
	 * guest; VL_MMU_HC_STOP if the machine stopped. NULL: -ENOSYS (shadow). */
	int64_t (*hypercall)(struct vl_machine *m, void *ctx, unsigned nr, const uint64_t a[5]);
};
#define VL_MMU_HC_STOP INT64_MIN

/* Registry (mmu/registry.c). */
extern const struct vl_mmu_ops *const vl_mmus[];
extern const size_t vl_mmu_count;
const struct vl_mmu_ops *vl_mmu_find(const char *name);
const char *vl_mmu_name(enum vl_mmu_kind k);

#endif
