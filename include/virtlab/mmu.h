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
	 * in *pfec. After DONE the VMM writes back RIP, RSP, RFLAGS (and RAX on
	 * SVM) if they changed: the engine may have emulated the instruction. */
	int (*page_fault)(struct vl_machine *m, void *ctx, uint64_t va, uint32_t *pfec);
	/* An EPT violation / nested page fault. VL_HOOK_DONE after populating. */
	int (*nested_fault)(struct vl_machine *m, void *ctx, uint64_t gpa, uint64_t gva, bool gva_valid, unsigned acc, uint64_t nested_pte);
	/* Paravirtual page-table update(s) (direct paging): validate and apply.
	 * Returns 0, or -1 to fail the hypercall. */
	int (*pt_update)(struct vl_machine *m, void *ctx, uint64_t pte_gpa, uint64_t val);
	/* Guest-physical to host-physical (for VMM emulation of guest memory). */
	uint64_t (*gpa_to_hpa)(struct vl_machine *m, void *ctx, uint64_t gpa);
};

/* Registry (mmu/registry.c). */
extern const struct vl_mmu_ops *const vl_mmus[];
extern const size_t vl_mmu_count;
const struct vl_mmu_ops *vl_mmu_find(const char *name);
const char *vl_mmu_name(enum vl_mmu_kind k);

#endif
