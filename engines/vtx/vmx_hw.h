/* vmx_hw.h — the VT-x hardware extension on the machine: VM entry (checks,
 * guest-state load, event injection, VPID/TLB rules), VM exit (the fine
 * exit rules of the controls, guest-state save, exit information), and the
 * machine hooks that turn intercepted events into exits.
 *
 * The VMM (vmm.c) is software on top: it sees only the VMCS (through
 * VMREAD/VMWRITE) and its exit handler is called after each VM exit.
 */
#ifndef VL_VTX_VMX_HW_H
#define VL_VTX_VMX_HW_H

#include "virtlab/machine.h"
#include "vmcs.h"

enum vmx_entry_rc {
	VMX_ENTRY_OK = 0,
	VMX_ENTRY_FAIL_INVALID,   /* VMfailInvalid: no current VMCS */
	VMX_ENTRY_FAIL_VALID,     /* VMfailValid: invalid control field (VM-instruction error 7) */
	VMX_ENTRY_FAIL_GUEST,     /* VM-entry failure: exit reason 33 | bit 31 (invalid guest state) */
};

struct vmx_vcpu {
	struct vl_machine *m;
	struct vmcs vmcs;
	/* Exit handler of the VMM: called in root operation after each VM
	 * exit. Returns 0 to resume the guest (VMRESUME), or VL_HOOK_STOP. */
	int (*handle_exit)(struct vmx_vcpu *v);
	void *vmm;
	/* Exit details the VMCS has no field for, kept for the VMM's MMU calls. */
	unsigned last_acc;           /* VL_ACC_* of an EPT violation */
	uint64_t last_npte;          /* faulting EPT entry */
	uint64_t exit_tsc;           /* m->tsc when the exit began (per-exit cycles) */
	char why[200];               /* last entry-failure reason */
};

/* Pure decisions of the controls (SDM 25.1): true = this event exits. */
bool vmx_io_exits(struct vl_machine *m, const struct vmcs *v, uint16_t port, unsigned size);
bool vmx_msr_exits(struct vl_machine *m, const struct vmcs *v, uint32_t msr, bool write);
bool vmx_cr_write_exits(const struct vmcs *v, unsigned cr, uint64_t val);
bool vmx_cr_read_exits(const struct vmcs *v, unsigned cr);
bool vmx_pf_exits(const struct vmcs *v, uint32_t pfec);
/* Value a MOV from CR0/CR4 returns in non-root operation (host-owned bits from the read shadow). */
uint64_t vmx_cr_read_value(const struct vmcs *v, unsigned cr, uint64_t real);
uint32_t vmx_secondary(const struct vmcs *v);   /* effective secondary controls */

/* Entry checks (SDM 26.2-26.3, the subset the model's state has). */
enum vmx_entry_rc vmx_entry_check(struct vl_machine *m, const struct vmcs *v, char *why, size_t whylen);

/* VM entry (VMLAUNCH/VMRESUME): check, load guest state into m->cpu,
 * derive the machine's intercepts from the controls, apply VPID rules,
 * inject the pending event, charge the entry latency. 0, or -1 with the
 * machine stopped (VL_M_ERROR) and the reason in v->why. */
int vmx_vmentry(struct vmx_vcpu *v);

/* Save guest state from m->cpu into the VMCS (part of every VM exit). */
void vmx_save_guest(struct vmx_vcpu *v);

/* The machine hooks (ctx = struct vmx_vcpu *). */
extern const struct vl_vmm_ops vmx_hw_hooks;

/* Exit table for counters: one slot per basic exit reason. */
extern const struct vl_exit_desc vmx_exit_table[];
extern const size_t vmx_exit_table_len;
unsigned vmx_exit_slot(uint32_t reason);

#endif
