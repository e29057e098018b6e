/* cpu_priv.h — CPU-half private state (decode cache, lazy flags, event
 * bookkeeping, last vectors). Owned by the CPU half. */
#ifndef VL_MACHINE_CPU_PRIV_H
#define VL_MACHINE_CPU_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vl_machine;

struct vl_dcache;
struct vl_dpage;
struct vl_tlb_ent;

struct vl_blkc;

struct vl_cpu_priv {
	struct vl_dcache *dcache;     /* decode cache (cpu.c) */
	struct vl_blkc *blkc;         /* decoded blocks of the fast core (exec_block.c) */
	uint64_t blk_pa;              /* blocks' retirements not yet in blk_pa_ctr->field_cycles (block.h) */
	struct vl_counters *blk_pa_ctr;
	/* Lazy arithmetic flags: while lf_op != LF_NONE, CF PF AF ZF SF OF are
	 * a function of (lf_op, lf_sz, lf_src1, lf_src2, lf_res) (and, for
	 * INC/DEC, CF in cpu.rflags). Materialised into cpu.rflags whenever
	 * anything outside the interpreter can look (vl_cpu_flags_sync). */
	uint8_t lf_op, lf_sz;
	uint64_t lf_src1, lf_src2, lf_res;
	/* Re-examine interrupts, devices and limits before the next instruction. */
	bool events;
	uint64_t next_event;          /* m->tsc at which the run loop must look again */
	uint64_t injected_faults;     /* faults a VMM injected (vl_deliver_exception, not from hardware) */
	unsigned last_vec[8];         /* ring of recent vectors for the triple-fault diagnostic */
	unsigned last_vec_pos;
	uint64_t last_rip[8];         /* RIP at which each of those vectors was raised */
	/* Event storm guard (exception.c): deliveries since m->insns last moved. */
	uint64_t storm_insns;
	uint32_t storm_n;
	/* Fetch cache: the page the last instructions came from. Valid while the
	 * modelled ITLB entry keeps its fill (fc_id) and nothing else changed:
	 * every event that can change the paging context or the CPL goes
	 * through cpu_events(), which drops it. A hit does exactly what a
	 * soft-TLB hit does (count the ITLB hit, refresh LRU). */
	uint64_t fc_vpage;            /* va >> 12, or ~0 */
	struct vl_tlb_ent *fc_ent;
	uint64_t fc_id;
	uint64_t fc_frame;
	struct vl_dpage *fc_dp;
	bool vendor_intel;            /* profile cpu.vendor (for the few vendor-defined behaviours) */
	uint64_t rep_chunk;           /* string iterations per slice (REP is interruptible) */
	/* Decode mode (VL_DMODE_*) the decode cache was filled in; cpu_events()
	 * compares it with the CS/EFER state and drops every cached decode when
	 * the mode changed (far jump, CR0.PG, IRET to compatibility mode ...). */
	uint8_t dmode;
	/* Single-step (RFLAGS.TF): tf_step = the instruction started at retired
	 * count tf_insns ran with TF = 1, so a #DB trap follows it (cpu_events,
	 * which TF keeps being called before every instruction). */
	bool tf_step;
	uint64_t tf_insns;
	/* vl_emulate_one in progress: memory writes go to emul_write, no
	 * intercepts, no guest charges (the VMM charges its emulation). */
	bool emul;
	int (*emul_write)(struct vl_machine *m, void *ctx, uint64_t va, const void *data, size_t n);
	void *emul_ctx;
	/* Execution core: false = the fast core (specialised handlers in the
	 * decode cache, exec_fast.c), true = the reference instruction-at-a-time
	 * core (generic handlers only). VIRTLAB_CORE=ref at machine creation,
	 * or vl_cpu_set_core(). Both give bit-identical counters. */
	bool core_ref;
};
#endif
