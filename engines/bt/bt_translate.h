/* bt_translate.h — the binary translator: one guest basic block (virtual
 * CPL 0 code) in, real x86-64 code for the translation cache out, with the
 * exits the dispatcher chains and the TC -> guest-RIP map that makes
 * exceptions inside translated code precise. Private to engines/bt.
 *
 * The translator is pure: guest bytes come through a fetch callback, the
 * output goes into a buffer whose virtual address (in the monitor hole) is
 * given. It knows the monitor layout below because translated code
 * addresses the virtual CPU state, the scratch slots and the lookup hash
 * table RIP-relatively (all of them sit within +-2 GiB of the TC).
 */
#ifndef VL_BT_TRANSLATE_H
#define VL_BT_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <capstone/capstone.h>

#include "bt_emit.h"

/* ---- Monitor layout (virtual addresses in the hole DESIGN.md reserves:
 * 0xffff800000000000-0xffff87ffffffffff, never touched by the guest) ---- */
#define BT_HOLE_BASE    0xffff800000000000ull   /* = VL_MONITOR_BASE (guest_abi.h) */
#define BT_HOLE_END     0xffff880000000000ull   /* = VL_MONITOR_END, exclusive */
/* The first 512 GiB slot of the hole is the vCPU runtime's (engines/hv:
 * monitor GDT/IDT/TSS); the translator's structures use the second, mapped
 * with the MMU engine's map_monitor into every shadow root. */
#define BT_MON_BASE     (BT_HOLE_BASE + (1ull << 39))
#define BT_VSTATE_VA    (BT_MON_BASE)              /* one page: struct bt_vstate */
#define BT_CONFINE_VA   (BT_MON_BASE + 0x1000)     /* 256-byte table: bits 47..40 of an address -> 1 if in the hole */
#define BT_HASH_VA      (BT_MON_BASE + 0x10000)    /* lookup table, BT_HASH_ENTRIES x 16 bytes */
#define BT_HASH_ENTRIES 65536u                     /* indexed by the low 16 bits of the guest PC */
#define BT_TC_VA        (BT_MON_BASE + 0x200000)   /* the translation cache */

/* Virtual CPU state the translated code reads and writes (offsets into the
 * vstate page). vif holds the guest's RFLAGS.IF bit in place (0 or 0x200),
 * so PUSHF/POPF sequences merge it without shifts; vpend is nonzero while
 * the VMM holds an external interrupt for the guest. */
enum {
	BT_VS_VIF = 0x00, BT_VS_VPEND = 0x08, BT_VS_VCR8 = 0x10,
	BT_VS_S_TGT = 0x18,     /* indirect-jump target of a lookup hit */
	BT_VS_S_ADDR = 0x20,    /* address being checked by the confinement sequence */
	BT_VS_LOOKUPS = 0x28,   /* inline lookups executed (the TC counts them itself) */
	BT_VS_FSBASE = 0x30, BT_VS_GSBASE = 0x38,   /* mirrors of the live FS/GS bases */
	BT_VS_SLOT = 0x40,      /* + 8 * r: register r (0..7) saved by a sequence (RSP's: 32-bit PUSHFD/POPFD) */
	BT_VS_STK = 0x80,       /* one quadword: the stack 32-bit PUSHFD/POPFD's PUSHFQ/POPFQ use (RSP here, the
				 * guest's in its slot), so no guest byte beyond the instruction's own is touched */
	BT_VS_SIZE = 0x88
};

/* ---- Callouts: translated code -> VMM ------------------------------------
 * id = kind. The guest instruction concerned comes from the TC -> guest map
 * at the callout's address; the VMM decodes it there again. One table
 * (bt_callout_name) names them for the results ("callouts": {NAME: ...}). */
#define BT_CALLOUTS(X) \
	X(EXIT,        "BLOCK_EXIT")   /* unchained block exit: the dispatcher (arg: exit index) */ \
	X(LOOKUP_MISS, "LOOKUP_MISS")  /* inline lookup missed: RAX = guest target */ \
	X(INTR_WINDOW, "INTR_WINDOW")  /* virtual IF / CR8 changed with an interrupt held */ \
	X(PRIV,        "PRIV")         /* emulate one privileged guest instruction (by class below) */ \
	X(CPUID,       "CPUID") \
	X(IO,          "IO") \
	X(RDMSR,       "RDMSR") \
	X(WRMSR,       "WRMSR") \
	X(CR_READ,     "CR_READ") \
	X(CR_WRITE,    "CR_WRITE") \
	X(INVLPG,      "INVLPG") \
	X(HLT,         "HLT") \
	X(SWAPGS,      "SWAPGS") \
	X(SYSRET,      "SYSRET") \
	X(IRET,        "IRET") \
	X(DESC,        "DESC")         /* LGDT/LIDT/LLDT/LTR/SGDT/SIDT/SLDT/STR/SMSW/LMSW/CLTS */ \
	X(SEG,         "SEG")          /* segment register reads and loads (MOV Sreg, PUSH/POP Sreg) */ \
	X(INTN,        "INTN")         /* INT n / INT3 / INTO / INT1 / SYSCALL in kernel code */ \
	X(FAULT,       "FAULT")        /* not translatable (bad bytes, #UD): raise it virtually */ \
	X(PTE_WRITE,   "PTE_WRITE")    /* adaptive BT: a hot page-table write, emulated without a fault */ \
	X(CONFINE,     "CONFINE")      /* a memory operand reached the monitor hole: #GP(0) virtually */ \
	X(MARKER,      "MARKER")       /* a region marker (guest_abi.h): free, the VMM switches the counter region */
enum bt_callout {
#define X(id, name) BT_CO_##id,
	BT_CALLOUTS(X)
#undef X
	BT_CO_COUNT
};
extern const char *const bt_callout_name[BT_CO_COUNT];
/* callout id = kind | arg << 8 */
#define BT_CO_ID(kind, arg) ((uint32_t)(kind) | ((uint32_t)(arg) << 8))
#define BT_CO_KIND(id)      ((id) & 0xffu)
#define BT_CO_ARG(id)       ((id) >> 8)

/* ---- A translation ------------------------------------------------------ */
#define BT_MAX_INSNS  32   /* guest instructions per translation unit */
#define BT_MAX_EXITS  2
#define BT_MAX_MAP    (BT_MAX_INSNS * 24)

/* TC -> guest map entry: from TC offset `tc_off` (up to the next entry's),
 * the guest state is that at the start of guest instruction `goff` (offset
 * from the block's guest PC) once the VMM restores the registers in `saved`
 * (bit r: register r, 0..7, is in its slot BT_VS_SLOT + 8r) and subtracts
 * `rsp_delta` from RSP. BT_MAP_ATOMIC: a side effect on virtual state has
 * happened, no rollback is possible; nothing there can fault, and the VMM
 * holds interrupts until the sequence ends. */
#define BT_MAP_ATOMIC 0x1u
#define BT_MAP_EXIT   0x2u   /* an exit stub: the guest state is at exit[goff].target */
struct bt_mapent {
	uint16_t tc_off;
	uint16_t goff;
	uint8_t saved;
	int8_t rsp_delta;
	uint8_t flags;
};

struct bt_exit {
	uint64_t target;     /* guest PC it leaves for */
	uint32_t jmp_off;    /* TC offset of the rel32 to patch when chaining */
	uint32_t stub_off;   /* TC offset of the exit stub (the EXIT callout) */
};

struct bt_block {
	uint64_t gva;        /* guest PC of the first instruction */
	uint32_t glen;       /* guest bytes covered [gva, gva + glen) */
	uint32_t ninsns;     /* guest instructions translated */
	uint64_t tc_va;      /* where the translation starts */
	uint32_t tc_len;     /* bytes emitted (code + stubs) */
	unsigned nexits;
	struct bt_exit exit[BT_MAX_EXITS];
	unsigned nmap;
	struct bt_mapent *map;  /* caller's storage for map_cap entries (BT_MAX_MAP always suffices) */
	unsigned map_cap;
	unsigned ncallouts;  /* callouts emitted (not counting exit stubs) */
	bool m32;            /* guest code decoded as 32-bit code (legacy protected or compatibility mode) */
};

/* Guest code access: copy up to n bytes of guest-virtual memory at va into
 * buf; return how many bytes could be read (0 at an unmapped page). */
typedef size_t (*bt_fetch_fn)(void *arg, uint64_t va, uint8_t *buf, size_t n);
/* Adaptive BT: is the instruction at guest PC `va` a hot page-table write
 * (to be translated as a PTE_WRITE callout)? May be NULL. */
typedef bool (*bt_hot_fn)(void *arg, uint64_t va);

struct bt_xlate_env {
	csh cs;              /* Capstone handle, detail on: CS_MODE_64, or CS_MODE_32 when m32 */
	bt_fetch_fn fetch;
	bt_hot_fn hot;
	void *arg;
	bool confine;        /* emit the monitor-hole check before explicit memory operands */
	unsigned max_insns;  /* 0 = BT_MAX_INSNS */
	bool m32;            /* translate 32-bit guest code (README: "32-bit guest code") */
};

enum bt_xl_rc {
	BT_XL_OK = 0,
	BT_XL_FULL = 1,      /* the TC buffer has no room: flush and translate again */
	BT_XL_NOCODE = 2,    /* the first instruction cannot be fetched (guest #PF) */
};

/* Translate the block at guest PC `gva` into e (whose va says where it
 * lands). Fills *blk (its map into blk->map, which the caller provides with
 * blk->map_cap entries). A first instruction that is not x86 (or not in the
 * model's ISA) still yields a block: a FAULT callout. */
enum bt_xl_rc bt_translate(const struct bt_xlate_env *env, uint64_t gva, struct bt_emit *e, struct bt_block *blk);

/* The map entry covering TC offset `off` of blk (NULL if none). */
const struct bt_mapent *bt_map_find(const struct bt_block *blk, uint32_t off);

/* Open a Capstone handle as the translator needs it. 0 or -1. */
int bt_cs_open(csh *cs);
/* The same for 32-bit guest code (CS_MODE_32). */
int bt_cs_open32(csh *cs);

/* FAULT callout arguments: 0 = #UD for the guest (not an instruction of
 * the model's ISA); BT_FAULT_UNTRANSLATED = a 32-bit instruction the
 * translator does not handle (the VMM stops the run with its name). */
#define BT_FAULT_UNTRANSLATED 1u

/* SEG callout argument: BT_SEG_REFRESH = after a segment load that may have
 * changed the FS or GS base (MOV/POP to FS/GS, LFS/LGS), copied as written
 * just before it: nothing to emulate, the VMM entry itself refreshes the
 * base mirrors the FS/GS-override check reads (bt_sync_out). */
#define BT_SEG_REFRESH 1u

#endif
