/* vmcb.h — the AMD-V VMCB as the APM defines it (Vol. 2, Appendix B):
 * control area at offset 0, state-save area at 0x400, one 4 KiB page of
 * machine memory. Intercept bits, exit codes (Appendix C), EVENTINJ.
 *
 * Hardware layer: the processor reads and writes the VMCB page directly
 * (covered by the VMRUN / #VMEXIT latency); VMM software goes through
 * vmcb_rd/vmcb_wr in vmm.c, each charged as one memory access.
 */
#ifndef VL_SVM_VMCB_H
#define VL_SVM_VMCB_H

#include <stdint.h>

#include "virtlab/machine.h"

/* Control area offsets */
#define VMCB_INTERCEPT_CR        0x000   /* 15:0 CRn reads, 31:16 CRn writes */
#define VMCB_INTERCEPT_DR        0x004   /* 15:0 DRn reads, 31:16 DRn writes */
#define VMCB_INTERCEPT_EXC       0x008   /* bit per exception vector */
#define VMCB_INTERCEPT_MISC1     0x00c
#define VMCB_INTERCEPT_MISC2     0x010
#define VMCB_PAUSE_FILTER_THRESH 0x03c
#define VMCB_PAUSE_FILTER_COUNT  0x03e
#define VMCB_IOPM_BASE_PA        0x040
#define VMCB_MSRPM_BASE_PA       0x048
#define VMCB_TSC_OFFSET          0x050
#define VMCB_GUEST_ASID          0x058   /* 32 bits */
#define VMCB_TLB_CONTROL         0x05c   /* 8 bits */
#define VMCB_VINTR               0x060   /* V_TPR 7:0, V_IRQ 8, V_INTR_PRIO 19:16, V_IGN_TPR 20, V_INTR_MASKING 24 */
#define VMCB_VINTR_VECTOR        0x064
#define VMCB_INTERRUPT_SHADOW    0x068   /* bit 0 */
#define VMCB_EXITCODE            0x070
#define VMCB_EXITINFO1           0x078
#define VMCB_EXITINFO2           0x080
#define VMCB_EXITINTINFO         0x088
#define VMCB_NP_ENABLE           0x090   /* bit 0 */
#define VMCB_EVENTINJ            0x0a8
#define VMCB_N_CR3               0x0b0
#define VMCB_CLEAN_BITS          0x0c0
#define VMCB_NRIP                0x0c8
#define VMCB_INSN_BYTES_FETCHED  0x0d0
/* State-save area offsets */
#define VMCB_SAVE                0x400
#define VMCB_ES                  0x400   /* each segment: selector 16, attrib 16, limit 32, base 64 */
#define VMCB_CS                  0x410
#define VMCB_SS                  0x420
#define VMCB_DS                  0x430
#define VMCB_FS                  0x440
#define VMCB_GS                  0x450
#define VMCB_GDTR                0x460
#define VMCB_LDTR                0x470
#define VMCB_IDTR                0x480
#define VMCB_TR                  0x490
#define VMCB_CPL                 0x4cb
#define VMCB_EFER                0x4d0
#define VMCB_CR4                 0x548
#define VMCB_CR3                 0x550
#define VMCB_CR0                 0x558
#define VMCB_DR7                 0x560
#define VMCB_DR6                 0x568
#define VMCB_RFLAGS              0x570
#define VMCB_RIP                 0x578
#define VMCB_RSP                 0x5d8
#define VMCB_RAX                 0x5f8
#define VMCB_STAR                0x600
#define VMCB_LSTAR               0x608
#define VMCB_CSTAR               0x610
#define VMCB_SFMASK              0x618
#define VMCB_KERNEL_GS_BASE      0x620
#define VMCB_CR2                 0x640
#define VMCB_G_PAT               0x668
#define VMCB_SEG_SEL   0
#define VMCB_SEG_ATTR  2
#define VMCB_SEG_LIMIT 4
#define VMCB_SEG_BASE  8

/* Intercept vector 3 (offset 0x00c) */
#define INTERCEPT_INTR      (1u << 0)
#define INTERCEPT_NMI       (1u << 1)
#define INTERCEPT_SMI       (1u << 2)
#define INTERCEPT_INIT      (1u << 3)
#define INTERCEPT_VINTR     (1u << 4)
#define INTERCEPT_CR0_SEL_WRITE (1u << 5)
#define INTERCEPT_IDTR_READ (1u << 6)
#define INTERCEPT_GDTR_READ (1u << 7)
#define INTERCEPT_LDTR_READ (1u << 8)
#define INTERCEPT_TR_READ   (1u << 9)
#define INTERCEPT_IDTR_WRITE (1u << 10)
#define INTERCEPT_GDTR_WRITE (1u << 11)
#define INTERCEPT_LDTR_WRITE (1u << 12)
#define INTERCEPT_TR_WRITE  (1u << 13)
#define INTERCEPT_RDTSC     (1u << 14)
#define INTERCEPT_RDPMC     (1u << 15)
#define INTERCEPT_PUSHF     (1u << 16)
#define INTERCEPT_POPF      (1u << 17)
#define INTERCEPT_CPUID     (1u << 18)
#define INTERCEPT_RSM       (1u << 19)
#define INTERCEPT_IRET      (1u << 20)
#define INTERCEPT_INTN      (1u << 21)
#define INTERCEPT_INVD      (1u << 22)
#define INTERCEPT_PAUSE     (1u << 23)
#define INTERCEPT_HLT       (1u << 24)
#define INTERCEPT_INVLPG    (1u << 25)
#define INTERCEPT_INVLPGA   (1u << 26)
#define INTERCEPT_IOIO_PROT (1u << 27)
#define INTERCEPT_MSR_PROT  (1u << 28)
#define INTERCEPT_TASK_SWITCH (1u << 29)
#define INTERCEPT_FERR_FREEZE (1u << 30)
#define INTERCEPT_SHUTDOWN  (1u << 31)
/* Intercept vector 4 (offset 0x010) */
#define INTERCEPT_VMRUN     (1u << 0)
#define INTERCEPT_VMMCALL   (1u << 1)
#define INTERCEPT_VMLOAD    (1u << 2)
#define INTERCEPT_VMSAVE    (1u << 3)
#define INTERCEPT_STGI      (1u << 4)
#define INTERCEPT_CLGI      (1u << 5)
#define INTERCEPT_SKINIT    (1u << 6)
#define INTERCEPT_RDTSCP    (1u << 7)
#define INTERCEPT_ICEBP     (1u << 8)
#define INTERCEPT_WBINVD    (1u << 9)
#define INTERCEPT_MONITOR   (1u << 10)
#define INTERCEPT_MWAIT     (1u << 11)
#define INTERCEPT_MWAIT_COND (1u << 12)
#define INTERCEPT_XSETBV    (1u << 13)

/* V_INTR fields (offset 0x060) */
#define V_TPR_MASK          0xffu
#define V_IRQ               (1u << 8)
#define V_INTR_MASKING      (1u << 24)

/* TLB_CONTROL */
#define TLB_CONTROL_DO_NOTHING      0
#define TLB_CONTROL_FLUSH_ALL_ASID  1
#define TLB_CONTROL_FLUSH_ASID      3
#define TLB_CONTROL_FLUSH_ASID_LOCAL 7

/* EVENTINJ / EXITINTINFO */
#define SVM_EVTINJ_VEC_MASK   0xffu
#define SVM_EVTINJ_TYPE_SHIFT 8
#define SVM_EVTINJ_TYPE_INTR  0u
#define SVM_EVTINJ_TYPE_NMI   2u
#define SVM_EVTINJ_TYPE_EXEPT 3u
#define SVM_EVTINJ_TYPE_SOFT  4u
#define SVM_EVTINJ_VALID_ERR  (1u << 11)
#define SVM_EVTINJ_VALID      (1u << 31)

/* EXITINFO1 for IOIO (APM 15.10.2) */
#define SVM_IOIO_TYPE_IN   (1u << 0)
#define SVM_IOIO_STR       (1u << 2)
#define SVM_IOIO_REP       (1u << 3)
#define SVM_IOIO_SIZE_SHIFT 4      /* SZ8 bit 4, SZ16 bit 5, SZ32 bit 6 */
#define SVM_IOIO_ASIZE_SHIFT 7     /* A16 bit 7, A32 bit 8, A64 bit 9 */
#define SVM_IOIO_PORT_SHIFT 16
/* EXITINFO1 for NPF (APM 15.25.6): #PF-style error code plus */
#define SVM_NPF_FINAL      (1ull << 32)
#define SVM_NPF_TABLE      (1ull << 33)
/* EXITINFO1 of CR access with decode assists: bit 63 valid, 3:0 GPR */
#define SVM_CR_VALID       (1ull << 63)

/* Exit codes (APM Vol. 2 Appendix C) */
#define SVM_EXIT_CODES(X) \
	X(VMEXIT_CR0_READ, 0x000) X(VMEXIT_CR3_READ, 0x003) X(VMEXIT_CR4_READ, 0x004) \
	X(VMEXIT_CR8_READ, 0x008) X(VMEXIT_CR0_WRITE, 0x010) X(VMEXIT_CR3_WRITE, 0x013) \
	X(VMEXIT_CR4_WRITE, 0x014) X(VMEXIT_CR8_WRITE, 0x018) \
	X(VMEXIT_DR0_READ, 0x020) X(VMEXIT_DR7_READ, 0x027) X(VMEXIT_DR0_WRITE, 0x030) X(VMEXIT_DR7_WRITE, 0x037) \
	X(VMEXIT_EXCP_DE, 0x040) X(VMEXIT_EXCP_DB, 0x041) X(VMEXIT_EXCP_NMI, 0x042) X(VMEXIT_EXCP_BP, 0x043) \
	X(VMEXIT_EXCP_OF, 0x044) X(VMEXIT_EXCP_BR, 0x045) X(VMEXIT_EXCP_UD, 0x046) X(VMEXIT_EXCP_NM, 0x047) \
	X(VMEXIT_EXCP_DF, 0x048) X(VMEXIT_EXCP_TS, 0x04a) X(VMEXIT_EXCP_NP, 0x04b) X(VMEXIT_EXCP_SS, 0x04c) \
	X(VMEXIT_EXCP_GP, 0x04d) X(VMEXIT_EXCP_PF, 0x04e) X(VMEXIT_EXCP_MF, 0x050) X(VMEXIT_EXCP_AC, 0x051) \
	X(VMEXIT_EXCP_MC, 0x052) X(VMEXIT_EXCP_XF, 0x053) \
	X(VMEXIT_INTR, 0x060) X(VMEXIT_NMI, 0x061) X(VMEXIT_SMI, 0x062) X(VMEXIT_INIT, 0x063) \
	X(VMEXIT_VINTR, 0x064) X(VMEXIT_CR0_SEL_WRITE, 0x065) X(VMEXIT_IDTR_READ, 0x066) \
	X(VMEXIT_GDTR_READ, 0x067) X(VMEXIT_LDTR_READ, 0x068) X(VMEXIT_TR_READ, 0x069) \
	X(VMEXIT_IDTR_WRITE, 0x06a) X(VMEXIT_GDTR_WRITE, 0x06b) X(VMEXIT_LDTR_WRITE, 0x06c) \
	X(VMEXIT_TR_WRITE, 0x06d) X(VMEXIT_RDTSC, 0x06e) X(VMEXIT_RDPMC, 0x06f) X(VMEXIT_PUSHF, 0x070) \
	X(VMEXIT_POPF, 0x071) X(VMEXIT_CPUID, 0x072) X(VMEXIT_RSM, 0x073) X(VMEXIT_IRET, 0x074) \
	X(VMEXIT_SWINT, 0x075) X(VMEXIT_INVD, 0x076) X(VMEXIT_PAUSE, 0x077) X(VMEXIT_HLT, 0x078) \
	X(VMEXIT_INVLPG, 0x079) X(VMEXIT_INVLPGA, 0x07a) X(VMEXIT_IOIO, 0x07b) X(VMEXIT_MSR, 0x07c) \
	X(VMEXIT_TASK_SWITCH, 0x07d) X(VMEXIT_FERR_FREEZE, 0x07e) X(VMEXIT_SHUTDOWN, 0x07f) \
	X(VMEXIT_VMRUN, 0x080) X(VMEXIT_VMMCALL, 0x081) X(VMEXIT_VMLOAD, 0x082) X(VMEXIT_VMSAVE, 0x083) \
	X(VMEXIT_STGI, 0x084) X(VMEXIT_CLGI, 0x085) X(VMEXIT_SKINIT, 0x086) X(VMEXIT_RDTSCP, 0x087) \
	X(VMEXIT_ICEBP, 0x088) X(VMEXIT_WBINVD, 0x089) X(VMEXIT_MONITOR, 0x08a) X(VMEXIT_MWAIT, 0x08b) \
	X(VMEXIT_MWAIT_CONDITIONAL, 0x08c) X(VMEXIT_XSETBV, 0x08d) X(VMEXIT_NPF, 0x400) \
	X(VMEXIT_INVALID, 0xffffffffu)

enum svm_exit_code {
#define X(n, c) SVM_##n = (c),
	SVM_EXIT_CODES(X)
#undef X
};

/* Raw access to the VMCB page (hardware side; no charge). */
static inline uint8_t *vmcb_ptr(struct vl_machine *m, uint64_t vmcb, unsigned off)
{
	return vl_phys_ptr(m, vmcb + off);
}
uint64_t vmcb_get(struct vl_machine *m, uint64_t vmcb, unsigned off, unsigned size);
void vmcb_set(struct vl_machine *m, uint64_t vmcb, unsigned off, unsigned size, uint64_t val);

/* Segment attribute conversions: VMCS access-rights layout (machine) <-> VMCB attrib. */
static inline uint16_t vmcb_attr_from_ar(uint16_t ar) { return (uint16_t)((ar & 0xff) | ((ar >> 4) & 0xf00)); }
static inline uint16_t vmcb_attr_to_ar(uint16_t at)   { return (uint16_t)((at & 0xff) | ((at & 0xf00) << 4)); }

const char *svm_exit_name(uint32_t code);

#endif
