/* svm_hw.h — the AMD-V hardware extension on the machine: VMRUN (consistency
 * checks, state load from the VMCB, ASID/TLB_CONTROL, EVENTINJ), #VMEXIT
 * (the intercept rules: IOPM, MSRPM, CR/DR/exception vectors; EXITCODE,
 * EXITINFO1/2, nRIP), and the machine hooks.
 */
#ifndef VL_SVM_SVM_HW_H
#define VL_SVM_SVM_HW_H

#include <stdbool.h>

#include "vmcb.h"

struct svm_vcpu {
	struct vl_machine *m;
	uint64_t vmcb;            /* host-physical address of the VMCB page */
	/* VMM exit handler, called after each #VMEXIT: 0 = VMRUN again, or VL_HOOK_STOP. */
	int (*handle_exit)(struct svm_vcpu *v);
	void *vmm;
	unsigned last_acc;
	uint64_t last_npte;
	uint64_t last_gva;         /* NPF: the guest-linear address (not in the VMCB; KVM has none) */
	uint64_t exit_tsc;
	char why[200];
};

/* Intercept decisions (pure; read the VMCB and its permission maps). */
bool svm_io_exits(struct vl_machine *m, uint64_t vmcb, uint16_t port, unsigned size);
bool svm_msr_exits(struct vl_machine *m, uint64_t vmcb, uint32_t msr, bool write);

/* VMRUN consistency checks (APM 15.5.1): 0, or -1 with the reason (VMEXIT_INVALID). */
int svm_vmrun_check(struct vl_machine *m, uint64_t vmcb, char *why, size_t whylen);
/* VMRUN: check, load guest state, program the machine, inject EVENTINJ.
 * 0, or -1 with EXITCODE = VMEXIT_INVALID and the machine stopped. */
int svm_vmrun(struct svm_vcpu *v);
/* Save the guest state into the VMCB state-save area (part of #VMEXIT). */
void svm_save_guest(struct svm_vcpu *v);

extern const struct vl_vmm_ops svm_hw_hooks;
extern const struct vl_exit_desc svm_exit_table[];
extern const size_t svm_exit_table_len;
unsigned svm_exit_slot(uint32_t code);

#endif
