/* vmcs.h — the VT-x VMCS model: field encodings (SDM Vol. 3 Appendix B),
 * control bits (SDM ch. 24), basic exit reasons (Appendix C).
 *
 * Hardware layer only: nothing here knows the VMM. A VMCS is opaque to
 * software on real CPUs (its memory layout is implementation specific), so
 * the model keeps field values in a host array indexed by a dense slot; the
 * only way in and out for VMM software is VMREAD/VMWRITE by encoding
 * (vmm.c counts and charges each one).
 */
#ifndef VL_VTX_VMCS_H
#define VL_VTX_VMCS_H

#include <stdbool.h>
#include <stdint.h>

/* VMCS_FIELD(name, encoding) — every field the model implements. */
#define VMCS_FIELDS(X) \
	/* 16-bit control */ \
	X(VIRTUAL_PROCESSOR_ID,          0x0000) \
	/* 16-bit guest state */ \
	X(GUEST_ES_SELECTOR,             0x0800) X(GUEST_CS_SELECTOR, 0x0802) \
	X(GUEST_SS_SELECTOR,             0x0804) X(GUEST_DS_SELECTOR, 0x0806) \
	X(GUEST_FS_SELECTOR,             0x0808) X(GUEST_GS_SELECTOR, 0x080a) \
	X(GUEST_LDTR_SELECTOR,           0x080c) X(GUEST_TR_SELECTOR, 0x080e) \
	/* 16-bit host state */ \
	X(HOST_ES_SELECTOR,              0x0c00) X(HOST_CS_SELECTOR,  0x0c02) \
	X(HOST_SS_SELECTOR,              0x0c04) X(HOST_DS_SELECTOR,  0x0c06) \
	X(HOST_FS_SELECTOR,              0x0c08) X(HOST_GS_SELECTOR,  0x0c0a) \
	X(HOST_TR_SELECTOR,              0x0c0c) \
	/* 64-bit control */ \
	X(IO_BITMAP_A,                   0x2000) X(IO_BITMAP_B,       0x2002) \
	X(MSR_BITMAP,                    0x2004) \
	X(VM_EXIT_MSR_STORE_ADDR,        0x2006) X(VM_EXIT_MSR_LOAD_ADDR, 0x2008) \
	X(VM_ENTRY_MSR_LOAD_ADDR,        0x200a) \
	X(TSC_OFFSET,                    0x2010) \
	X(VIRTUAL_APIC_PAGE_ADDR,        0x2012) X(APIC_ACCESS_ADDR,  0x2014) \
	X(EPT_POINTER,                   0x201a) \
	/* 64-bit read-only data */ \
	X(GUEST_PHYSICAL_ADDRESS,        0x2400) \
	/* 64-bit guest state */ \
	X(VMCS_LINK_POINTER,             0x2800) X(GUEST_IA32_DEBUGCTL, 0x2802) \
	X(GUEST_IA32_PAT,                0x2804) X(GUEST_IA32_EFER,   0x2806) \
	/* 64-bit host state */ \
	X(HOST_IA32_PAT,                 0x2c00) X(HOST_IA32_EFER,    0x2c02) \
	/* 32-bit control */ \
	X(PIN_BASED_VM_EXEC_CONTROL,     0x4000) X(CPU_BASED_VM_EXEC_CONTROL, 0x4002) \
	X(EXCEPTION_BITMAP,              0x4004) \
	X(PAGE_FAULT_ERROR_CODE_MASK,    0x4006) X(PAGE_FAULT_ERROR_CODE_MATCH, 0x4008) \
	X(CR3_TARGET_COUNT,              0x400a) X(VM_EXIT_CONTROLS,  0x400c) \
	X(VM_EXIT_MSR_STORE_COUNT,       0x400e) X(VM_EXIT_MSR_LOAD_COUNT, 0x4010) \
	X(VM_ENTRY_CONTROLS,             0x4012) X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014) \
	X(VM_ENTRY_INTR_INFO_FIELD,      0x4016) X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018) \
	X(VM_ENTRY_INSTRUCTION_LEN,      0x401a) X(TPR_THRESHOLD,     0x401c) \
	X(SECONDARY_VM_EXEC_CONTROL,     0x401e) \
	/* 32-bit read-only data */ \
	X(VM_INSTRUCTION_ERROR,          0x4400) X(VM_EXIT_REASON,    0x4402) \
	X(VM_EXIT_INTR_INFO,             0x4404) X(VM_EXIT_INTR_ERROR_CODE, 0x4406) \
	X(IDT_VECTORING_INFO_FIELD,      0x4408) X(IDT_VECTORING_ERROR_CODE, 0x440a) \
	X(VM_EXIT_INSTRUCTION_LEN,       0x440c) X(VMX_INSTRUCTION_INFO, 0x440e) \
	/* 32-bit guest state */ \
	X(GUEST_ES_LIMIT,                0x4800) X(GUEST_CS_LIMIT,    0x4802) \
	X(GUEST_SS_LIMIT,                0x4804) X(GUEST_DS_LIMIT,    0x4806) \
	X(GUEST_FS_LIMIT,                0x4808) X(GUEST_GS_LIMIT,    0x480a) \
	X(GUEST_LDTR_LIMIT,              0x480c) X(GUEST_TR_LIMIT,    0x480e) \
	X(GUEST_GDTR_LIMIT,              0x4810) X(GUEST_IDTR_LIMIT,  0x4812) \
	X(GUEST_ES_AR_BYTES,             0x4814) X(GUEST_CS_AR_BYTES, 0x4816) \
	X(GUEST_SS_AR_BYTES,             0x4818) X(GUEST_DS_AR_BYTES, 0x481a) \
	X(GUEST_FS_AR_BYTES,             0x481c) X(GUEST_GS_AR_BYTES, 0x481e) \
	X(GUEST_LDTR_AR_BYTES,           0x4820) X(GUEST_TR_AR_BYTES, 0x4822) \
	X(GUEST_INTERRUPTIBILITY_INFO,   0x4824) X(GUEST_ACTIVITY_STATE, 0x4826) \
	X(GUEST_SYSENTER_CS,             0x482a) \
	/* 32-bit host state */ \
	X(HOST_IA32_SYSENTER_CS,         0x4c00) \
	/* natural-width control */ \
	X(CR0_GUEST_HOST_MASK,           0x6000) X(CR4_GUEST_HOST_MASK, 0x6002) \
	X(CR0_READ_SHADOW,               0x6004) X(CR4_READ_SHADOW,   0x6006) \
	X(CR3_TARGET_VALUE0,             0x6008) X(CR3_TARGET_VALUE1, 0x600a) \
	X(CR3_TARGET_VALUE2,             0x600c) X(CR3_TARGET_VALUE3, 0x600e) \
	/* natural-width read-only data */ \
	X(EXIT_QUALIFICATION,            0x6400) X(GUEST_LINEAR_ADDRESS, 0x640a) \
	/* natural-width guest state */ \
	X(GUEST_CR0,                     0x6800) X(GUEST_CR3,         0x6802) \
	X(GUEST_CR4,                     0x6804) \
	X(GUEST_ES_BASE,                 0x6806) X(GUEST_CS_BASE,     0x6808) \
	X(GUEST_SS_BASE,                 0x680a) X(GUEST_DS_BASE,     0x680c) \
	X(GUEST_FS_BASE,                 0x680e) X(GUEST_GS_BASE,     0x6810) \
	X(GUEST_LDTR_BASE,               0x6812) X(GUEST_TR_BASE,     0x6814) \
	X(GUEST_GDTR_BASE,               0x6816) X(GUEST_IDTR_BASE,   0x6818) \
	X(GUEST_DR7,                     0x681a) X(GUEST_RSP,         0x681c) \
	X(GUEST_RIP,                     0x681e) X(GUEST_RFLAGS,      0x6820) \
	X(GUEST_PENDING_DBG_EXCEPTIONS,  0x6822) \
	X(GUEST_SYSENTER_ESP,            0x6824) X(GUEST_SYSENTER_EIP, 0x6826) \
	/* natural-width host state */ \
	X(HOST_CR0,                      0x6c00) X(HOST_CR3,          0x6c02) \
	X(HOST_CR4,                      0x6c04) X(HOST_FS_BASE,      0x6c06) \
	X(HOST_GS_BASE,                  0x6c08) X(HOST_TR_BASE,      0x6c0a) \
	X(HOST_GDTR_BASE,                0x6c0c) X(HOST_IDTR_BASE,    0x6c0e) \
	X(HOST_IA32_SYSENTER_ESP,        0x6c10) X(HOST_IA32_SYSENTER_EIP, 0x6c12) \
	X(HOST_RSP,                      0x6c14) X(HOST_RIP,          0x6c16)

/* Encodings as constants: VMCS_GUEST_RIP == 0x681e, ... */
enum vmcs_encoding {
#define X(n, e) VMCS_##n = (e),
	VMCS_FIELDS(X)
#undef X
};
/* Dense slots: VMCS_SLOT_GUEST_RIP, ... */
enum vmcs_slot {
#define X(n, e) VMCS_SLOT_##n,
	VMCS_FIELDS(X)
#undef X
	VMCS_NFIELDS
};

/* Encoding bit fields (SDM Appendix B / 24.11.2). */
enum vmcs_width { VMCS_W16 = 0, VMCS_W64 = 1, VMCS_W32 = 2, VMCS_WNAT = 3 };
enum vmcs_ftype { VMCS_T_CONTROL = 0, VMCS_T_EXITINFO = 1, VMCS_T_GUEST = 2, VMCS_T_HOST = 3 };
static inline unsigned vmcs_enc_high(uint32_t enc)  { return enc & 1u; }
static inline unsigned vmcs_enc_index(uint32_t enc) { return (enc >> 1) & 0x1ffu; }
static inline enum vmcs_ftype vmcs_enc_type(uint32_t enc) { return (enum vmcs_ftype)((enc >> 10) & 3u); }
static inline enum vmcs_width vmcs_enc_width(uint32_t enc) { return (enum vmcs_width)((enc >> 13) & 3u); }
static inline uint32_t vmcs_encode(enum vmcs_width w, enum vmcs_ftype t, unsigned index, unsigned high)
{
	return ((uint32_t)w << 13) | ((uint32_t)t << 10) | ((index & 0x1ffu) << 1) | (high & 1u);
}

/* Pin-based VM-execution controls */
#define PIN_EXT_INTR_EXITING     (1u << 0)
#define PIN_NMI_EXITING          (1u << 3)
#define PIN_VIRTUAL_NMIS         (1u << 5)
#define PIN_PREEMPTION_TIMER     (1u << 6)
/* Primary processor-based VM-execution controls */
#define CPU_INTR_WINDOW_EXITING  (1u << 2)
#define CPU_USE_TSC_OFFSETTING   (1u << 3)
#define CPU_HLT_EXITING          (1u << 7)
#define CPU_INVLPG_EXITING       (1u << 9)
#define CPU_MWAIT_EXITING        (1u << 10)
#define CPU_RDPMC_EXITING        (1u << 11)
#define CPU_RDTSC_EXITING        (1u << 12)
#define CPU_CR3_LOAD_EXITING     (1u << 15)
#define CPU_CR3_STORE_EXITING    (1u << 16)
#define CPU_CR8_LOAD_EXITING     (1u << 19)
#define CPU_CR8_STORE_EXITING    (1u << 20)
#define CPU_TPR_SHADOW           (1u << 21)
#define CPU_NMI_WINDOW_EXITING   (1u << 22)
#define CPU_MOV_DR_EXITING       (1u << 23)
#define CPU_UNCOND_IO_EXITING    (1u << 24)
#define CPU_USE_IO_BITMAPS       (1u << 25)
#define CPU_MONITOR_TRAP_FLAG    (1u << 27)
#define CPU_USE_MSR_BITMAPS      (1u << 28)
#define CPU_MONITOR_EXITING      (1u << 29)
#define CPU_PAUSE_EXITING        (1u << 30)
#define CPU_ACTIVATE_SECONDARY   (1u << 31)
/* Secondary processor-based VM-execution controls */
#define SEC_VIRT_APIC_ACCESSES   (1u << 0)
#define SEC_ENABLE_EPT           (1u << 1)
#define SEC_DESC_TABLE_EXITING   (1u << 2)
#define SEC_ENABLE_RDTSCP        (1u << 3)
#define SEC_VIRT_X2APIC_MODE     (1u << 4)
#define SEC_ENABLE_VPID          (1u << 5)
#define SEC_WBINVD_EXITING       (1u << 6)
#define SEC_UNRESTRICTED_GUEST   (1u << 7)
/* VM-exit controls */
#define EXIT_SAVE_DEBUG_CONTROLS (1u << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE (1u << 9)
#define EXIT_ACK_INTR_ON_EXIT    (1u << 15)
#define EXIT_SAVE_IA32_PAT       (1u << 18)
#define EXIT_LOAD_IA32_PAT       (1u << 19)
#define EXIT_SAVE_IA32_EFER      (1u << 20)
#define EXIT_LOAD_IA32_EFER      (1u << 21)
/* VM-entry controls */
#define ENTRY_LOAD_DEBUG_CONTROLS (1u << 2)
#define ENTRY_IA32E_MODE         (1u << 9)
#define ENTRY_LOAD_IA32_PAT      (1u << 14)
#define ENTRY_LOAD_IA32_EFER     (1u << 15)

/* Interruption-information format (VM-entry and VM-exit, SDM 24.8.3 / 24.9.2) */
#define INTR_INFO_VECTOR_MASK    0xffu
#define INTR_INFO_TYPE_SHIFT     8
#define INTR_TYPE_EXT_INTR       0u
#define INTR_TYPE_NMI            2u
#define INTR_TYPE_HARD_EXCEPTION 3u
#define INTR_TYPE_SOFT_INTR      4u
#define INTR_TYPE_SOFT_EXCEPTION 6u
#define INTR_INFO_DELIVER_CODE   (1u << 11)
#define INTR_INFO_VALID          (1u << 31)

/* Guest activity state */
#define GUEST_ACTIVITY_ACTIVE    0u
#define GUEST_ACTIVITY_HLT       1u
#define GUEST_ACTIVITY_SHUTDOWN  2u
#define GUEST_ACTIVITY_WAIT_SIPI 3u

/* Exit qualification, control-register access (SDM Table 27-3) */
#define CRQ_ACCESS_MOV_TO_CR     0u
#define CRQ_ACCESS_MOV_FROM_CR   1u
#define CRQ_ACCESS_CLTS          2u
#define CRQ_ACCESS_LMSW          3u
/* Exit qualification, I/O (Table 27-5): size-1 [2:0], IN [3], string [4], REP [5], imm [6], port [31:16] */
#define IOQ_IN                   (1u << 3)
#define IOQ_STRING               (1u << 4)
#define IOQ_REP                  (1u << 5)
/* Exit qualification, EPT violation (Table 27-7) */
#define EPTQ_READ                (1u << 0)
#define EPTQ_WRITE               (1u << 1)
#define EPTQ_FETCH               (1u << 2)
#define EPTQ_READABLE            (1u << 3)
#define EPTQ_WRITABLE            (1u << 4)
#define EPTQ_EXECUTABLE          (1u << 5)
#define EPTQ_LINEAR_VALID        (1u << 7)
#define EPTQ_FINAL_TRANSLATION   (1u << 8)

/* VM-instruction error numbers (SDM 30.4) used by the model */
#define VMXERR_ENTRY_INVALID_CONTROL 7
#define VMXERR_ENTRY_INVALID_HOST    8
#define VMXERR_UNSUPPORTED_FIELD     12
#define VMXERR_READONLY_FIELD        13

/* Basic exit reasons (SDM Vol. 3 Appendix C), name as KVM prints them. */
#define VMX_EXIT_REASONS(X) \
	X(EXCEPTION_NMI, 0) X(EXTERNAL_INTERRUPT, 1) X(TRIPLE_FAULT, 2) X(INIT_SIGNAL, 3) \
	X(SIPI_SIGNAL, 4) X(IO_SMI, 5) X(OTHER_SMI, 6) X(INTERRUPT_WINDOW, 7) X(NMI_WINDOW, 8) \
	X(TASK_SWITCH, 9) X(CPUID, 10) X(GETSEC, 11) X(HLT, 12) X(INVD, 13) X(INVLPG, 14) \
	X(RDPMC, 15) X(RDTSC, 16) X(RSM, 17) X(VMCALL, 18) X(VMCLEAR, 19) X(VMLAUNCH, 20) \
	X(VMPTRLD, 21) X(VMPTRST, 22) X(VMREAD, 23) X(VMRESUME, 24) X(VMWRITE, 25) \
	X(VMOFF, 26) X(VMON, 27) X(CR_ACCESS, 28) X(DR_ACCESS, 29) X(IO_INSTRUCTION, 30) \
	X(MSR_READ, 31) X(MSR_WRITE, 32) X(INVALID_STATE, 33) X(MSR_LOAD_FAIL, 34) \
	X(MWAIT_INSTRUCTION, 36) X(MONITOR_TRAP_FLAG, 37) X(MONITOR_INSTRUCTION, 39) \
	X(PAUSE_INSTRUCTION, 40) X(MCE_DURING_VMENTRY, 41) X(TPR_BELOW_THRESHOLD, 43) \
	X(APIC_ACCESS, 44) X(EOI_INDUCED, 45) X(GDTR_IDTR, 46) X(LDTR_TR, 47) \
	X(EPT_VIOLATION, 48) X(EPT_MISCONFIG, 49) X(INVEPT, 50) X(RDTSCP, 51) \
	X(PREEMPTION_TIMER, 52) X(INVVPID, 53) X(WBINVD, 54) X(XSETBV, 55) X(APIC_WRITE, 56) \
	X(RDRAND, 57) X(INVPCID, 58) X(VMFUNC, 59) X(ENCLS, 60) X(RDSEED, 61) \
	X(PML_FULL, 62) X(XSAVES, 63) X(XRSTORS, 64) X(UMWAIT, 67) X(TPAUSE, 68) X(BUS_LOCK, 74)

enum vmx_exit_reason {
#define X(n, c) EXIT_REASON_##n = (c),
	VMX_EXIT_REASONS(X)
#undef X
	VMX_EXIT_REASON_MAX = 75
};
#define VMX_EXIT_REASON_ENTRY_FAIL (1u << 31)   /* bit 31 of VM_EXIT_REASON: VM-entry failure */

/* The VMCS: values by dense slot plus the launch state. */
struct vmcs {
	uint32_t revision_id;
	bool launched;                 /* VMLAUNCH done (VMRESUME from then on) */
	bool current;                  /* VMPTRLD'd: VMREAD/VMWRITE/VM entry allowed */
	uint64_t field[VMCS_NFIELDS];
};

/* Slot of encoding `enc` (the full encoding, or the HIGH half of a 64-bit
 * field); -1 when the model does not implement the field. */
int vmcs_slot_of(uint32_t enc);
const char *vmcs_field_name(int slot);
uint32_t vmcs_field_encoding(int slot);

/* Raw hardware access by encoding. VMREAD of a HIGH encoding returns bits
 * 63:32; values are truncated to the field's width (16/32/64/natural).
 * vmcs_hw_write lets the processor write read-only exit-information fields;
 * vmcs_vmwrite refuses them (VMfailValid 13) as VMWRITE does without the
 * "VMWRITE to any field" capability. Return 0, or the VM-instruction error. */
int vmcs_vmread(const struct vmcs *v, uint32_t enc, uint64_t *val);
int vmcs_vmwrite(struct vmcs *v, uint32_t enc, uint64_t val);
void vmcs_hw_write(struct vmcs *v, uint32_t enc, uint64_t val);
static inline uint64_t vmcs_hw_read(const struct vmcs *v, enum vmcs_slot s) { return v->field[s]; }
void vmcs_clear(struct vmcs *v);   /* VMCLEAR: launch state clear, fields zero */

const char *vmx_exit_reason_name(uint32_t reason);

#endif
