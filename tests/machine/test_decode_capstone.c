/* test_decode_capstone.c — the decoder (machine/decode.c) against an
 * independent oracle, Capstone 4.0.2:
 *   1. every instruction of every compiled program — the guest image and
 *      its user program (build/guest/guest.elf, uprog.elf) and the harvest programs
 *      programs in tests/machine/isa/ compiled by GCC and Clang at -O0..-Os,
 *      kernel- and user-style (tests/tests.mk) — is walked with Capstone's
 *      instruction boundaries (linear sweep per symbol) and must decode
 *      with Capstone's length;
 *   2. millions of random byte strings (fixed seed, biased toward prefixes,
 *      REX, our opcodes and plausible ModRM bytes, plus fully random ones):
 *      where both decode, the lengths agree; where we refuse what Capstone
 *      decodes, the encoding is in the reviewed refusal list below (each
 *      class with its reason); where we decode what Capstone refuses, the
 *      case is reviewed below too (the callout, hint NOPs); anything else
 *      fails with the bytes and Capstone's text. Every accepted string is
 *      also decoded again from every shorter prefix of its bytes: the
 *      decoder must ask for more bytes (0), never guess, because cpu.c
 *      refetches across a page boundary on 0.
 * Counts per class are printed so a change in the decoder shows up. */
#include <capstone/capstone.h>
#include <dirent.h>
#include <elf.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtlab/machine.h"
#include "../../machine/decode.h"

#ifndef ISA_OBJ_COUNT
#define ISA_OBJ_COUNT 0
#endif

#define RANDOM_STRINGS 6000000u
#define RANDOM_SEED    0x5eed0c0de2024ull
#define MAX_EXAMPLES   12

/* ---- helpers --------------------------------------------------------------- */

static csh cs_fast;   /* no detail: lengths and text only */
static cs_insn *cs_one;
static csh cs_det_h; /* with detail (instruction groups), to classify refusals */
static cs_insn *cs_det;

/* Capstone puts b[0..n) in a vector/FP ISA group (MMX, SSE*, AVX*, 3DNow!, ...). */
static bool cs_simd_group(const uint8_t *b, size_t n)
{
	static const unsigned groups[] = { X86_GRP_3DNOW, X86_GRP_AES, X86_GRP_AVX, X86_GRP_AVX2, X86_GRP_AVX512,
					   X86_GRP_F16C, X86_GRP_FMA, X86_GRP_FMA4, X86_GRP_MMX, X86_GRP_SHA,
					   X86_GRP_SSE1, X86_GRP_SSE2, X86_GRP_SSE3, X86_GRP_SSE41, X86_GRP_SSE42,
					   X86_GRP_SSE4A, X86_GRP_SSSE3, X86_GRP_PCLMUL, X86_GRP_XOP, X86_GRP_FPU };
	const uint8_t *p = b;
	size_t sz = n;
	uint64_t addr = 0;
	if (!cs_disasm_iter(cs_det_h, &p, &sz, &addr, cs_det))
		return false;
	for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++)
		if (cs_insn_group(cs_det_h, cs_det, groups[k]))
			return true;
	return false;
}

static void hex(char *out, size_t outlen, const uint8_t *b, size_t n)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t k = 0; k < n && o + 3 < outlen; k++)
		o += (size_t)snprintf(out + o, outlen - o, "%02x", b[k]);
}

/* Capstone's decode of b[0..n): length (0 = refused), text in txt. */
static int cs_len(const uint8_t *b, size_t n, char *txt, size_t txtlen)
{
	cs_insn *ci = cs_one;
	const uint8_t *p = b;
	size_t sz = n;
	uint64_t addr = 0;
	if (!cs_disasm_iter(cs_fast, &p, &sz, &addr, ci)) {
		if (txt)
			snprintf(txt, txtlen, "(refused)");
		return 0;
	}
	if (txt)
		snprintf(txt, txtlen, "%.31s %.120s", ci->mnemonic, ci->op_str);
	return ci->size;
}

/* Our byte-level view of an encoding, as the SDM lays it out: legacy
 * prefixes, REX (only immediately before the opcode), the opcode map and
 * opcode, and the ModRM byte when one follows. Used to classify refusals. */
struct enc {
	bool p66, p67, lock;
	uint8_t rep, rex;
	int map;            /* 1 = one-byte, 2 = 0F, 3 = 0F 38, 4 = 0F 3A */
	uint8_t opc, modrm;
	bool has_modrm;     /* a byte follows the opcode (ModRM if the opcode takes one) */
	int pfx_end;        /* index of the first opcode byte (0F or the one-byte opcode) */
	int opc_pos;        /* index of the last opcode byte */
};

static void enc_parse(const uint8_t *b, size_t n, struct enc *e)
{
	size_t p = 0;
	memset(e, 0, sizeof *e);
	for (; p < n; p++) {
		uint8_t x = b[p];
		if ((x & 0xf0) == 0x40) { e->rex = x; continue; }
		if (x == 0x66) e->p66 = true;
		else if (x == 0x67) e->p67 = true;
		else if (x == 0xf0) e->lock = true;
		else if (x == 0xf2 || x == 0xf3) e->rep = x;
		else if (x != 0x26 && x != 0x2e && x != 0x36 && x != 0x3e && x != 0x64 && x != 0x65) break;
		e->rex = 0;
	}
	e->map = 1;
	e->pfx_end = (int)p;
	if (p < n && b[p] == 0x0f) {
		p++;
		e->map = 2;
		if (p < n && (b[p] == 0x38 || b[p] == 0x3a)) {
			e->map = b[p] == 0x38 ? 3 : 4;
			p++;
		}
	}
	e->opc_pos = (int)p;
	e->opc = p < n ? b[p] : 0;
	if (p + 1 < n) {
		e->has_modrm = true;
		e->modrm = b[p + 1];
	}
}

/* b without every byte equal to `drop` among the prefixes (LOCK, 66h). */
static size_t strip_prefix(const uint8_t *b, size_t n, uint8_t drop, uint8_t *out)
{
	struct enc e;
	size_t o = 0;
	enc_parse(b, n, &e);
	for (size_t k = 0; k < n; k++)
		if (!((int)k < e.pfx_end && b[k] == drop))
			out[o++] = b[k];
	return o;
}

static bool word_in(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(w, *list))
			return true;
	return false;
}

/* The first word of Capstone's text (the mnemonic; "lock"/"rep"/"bnd" skipped). */
static void mnem(const char *txt, char *out, size_t outlen)
{
	for (;;) {
		size_t k = strcspn(txt, " ");
		if ((k == 4 && (!strncmp(txt, "lock", 4) || !strncmp(txt, "repe", 4))) ||
		    (k == 3 && (!strncmp(txt, "rep", 3) || !strncmp(txt, "bnd", 3))) ||
		    (k == 5 && !strncmp(txt, "repne", 5)) || (k == 7 && !strncmp(txt, "notrack", 7))) {
			txt += k + (txt[k] == ' ');
			continue;
		}
		snprintf(out, outlen, "%.*s", (int)k, txt);
		return;
	}
}

/* ---- the reviewed refusal list -----------------------------------------------
 * Encodings Capstone decodes and the model's decoder refuses (#UD in the
 * guest). Each class says why refusing is right. Classes are tried in
 * order; the LOCK and 66h classes apply only when the same bytes without
 * that prefix are accepted (otherwise the rest of the encoding decides). */
enum { RF_VEX, RF_X87, RF_SIMD, RF_LOCK, RF_BRANCH66, RF_UD, RF_HW_UD, RF_GRP15, RF_VIRT, RF_FAR, RF_SYS, RF_EXT,
       RF_COUNT };

static const struct refusal {
	const char *name, *why;
	const char *const *mnemonics;   /* NULL: matched by encoding */
} refusals[RF_COUNT] = {
	[RF_VEX] = { "vex", "VEX/EVEX/XOP encodings (AVX, AVX-512, BMI1/2, XOP): not in the ISA; C compiled with "
			    "-mgeneral-regs-only and no -mbmi never contains them (C4/C5/62 in 64-bit mode, 8F /1-7)", NULL },
	[RF_X87] = { "x87", "x87 FPU (D8-DF, FWAIT 9B): no floating point in -mgeneral-regs-only code", NULL },
	[RF_SIMD] = { "simd", "MMX/SSE/3DNow! (MM/XMM operands, MXCSR, EMMS): vector ISA excluded by -mgeneral-regs-only", NULL },
	[RF_LOCK] = { "lock", "LOCK on an instruction that is not lockable, or with a register/no memory destination: "
			      "#UD (SDM Vol. 2A, LOCK)", NULL },
	[RF_BRANCH66] = { "branch66", "66h on a near branch (Jcc/JMP/CALL/RET/LOOP/JrCXZ): Intel ignores it, AMD truncates "
				      "RIP to 16 bits; refused so the model never picks one (decode.h, D_F64)", NULL },
	[RF_UD] = { "ud", "UD0 (other than the callout) and UD1: #UD on every CPU, which is what refusing raises",
		    (const char *const[]){ "ud0", "ud1", "ud2b", NULL } },
	[RF_HW_UD] = { "hw-ud", "encodings the SDM makes #UD although Capstone prints them: MOV CR1/CR5-7/CR9-15, "
				"MOV DR8-15 (REX.R), MOV to CS, MOV Sreg 6/7 (SDM Vol. 2B MOV)", NULL },
	[RF_GRP15] = { "grp15", "0F AE with F2/F3/66 other than CLFLUSHOPT: FSGSBASE, PTWRITE, INCSSP, UMONITOR/UMWAIT/"
				"TPAUSE, CLRSSBSY (SDM Vol. 2, group 15); not in the ISA. Capstone 4.0.2 predates most "
				"and prints the unprefixed fence or CLFLUSH", NULL },
	[RF_VIRT] = { "virt", "VT-x/AMD-V instructions other than VMCALL/VMMCALL: the modelled CPU offers no VMX/SVM to "
			      "its guest (engines virtualize from outside)",
		      (const char *const[]){ "vmlaunch", "vmresume", "vmxoff", "vmxon", "vmclear", "vmptrld", "vmptrst",
					     "vmread", "vmwrite", "invept", "invvpid", "vmfunc", "vmrun", "vmload", "vmsave",
					     "stgi", "clgi", "skinit", "invlpga", NULL } },
	[RF_FAR] = { "far-seg", "far CALL/JMP, LSS/LFS/LGS, LAR/LSL/VERR/VERW: not in DESIGN.md's list and never emitted "
				"for 64-bit C (the kernel leaves with LRETQ/IRETQ, which are)",
		     (const char *const[]){ "ljmp", "lcall", "lss", "lfs", "lgs", "lar", "lsl", "verr", "verw", NULL } },
	[RF_SYS] = { "sys", "system instructions outside DESIGN.md's list (ICEBP, SYSENTER/SYSEXIT, RSM, GETSEC, SGX, "
			    "SMAP, FSGSBASE, INVPCID, XSAVE/FXSAVE family, TSX, PKU, cache write-back and "
			    "MONITORX/CLZERO/RDPID): #UD in the modelled CPU",
		     (const char *const[]){ "int1", "sysenter", "sysexit", "rsm", "getsec", "xgetbv", "encls", "enclu",
					    "enclv", "clac", "stac", "rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase",
					    "invpcid", "xsave", "xsave64", "xsavec", "xsavec64", "xsaveopt", "xsaveopt64",
					    "xsaves", "xsaves64", "xrstor", "xrstor64", "xrstors", "xrstors64", "fxsave",
					    "fxsave64", "fxrstor", "fxrstor64", "xbegin", "xend", "xabort", "xtest",
					    "rdpkru", "wrpkru", "clwb", "clflushopt", "pcommit", "monitorx", "mwaitx",
					    "clzero", "rdpid", "ptwrite", "sysexitq", "sysretl", NULL } },
	[RF_EXT] = { "ext-int", "integer extensions outside the baseline ISA (CRC32, ADX, MOVBE, MOVNTI, RDRAND/RDSEED, "
				"VIA PadLock): emitted only with -m flags the project does not use",
		     (const char *const[]){ "crc32", "adcx", "adox", "movbe", "movnti", "rdrand", "rdseed", "xsha1",
					    "xsha256", "xcryptecb", "xcryptcbc", "xcryptctr", "xcryptcfb", "xcryptofb",
					    "montmul", "xstorerng", "xstore", NULL } },
};

/* Which reviewed class does a refused, Capstone-decoded encoding belong to? -1: none. */
static int refusal_class(const uint8_t *b, size_t n, const char *txt)
{
	struct enc e;
	char mn[32];
	uint8_t s[16];
	struct vl_insn in;

	enc_parse(b, n, &e);
	mnem(txt, mn, sizeof mn);
	if (e.map == 1 && (e.opc == 0xc4 || e.opc == 0xc5 || e.opc == 0x62 ||
			   (e.opc == 0x8f && e.has_modrm && ((e.modrm >> 3) & 7) != 0)))
		return RF_VEX;
	if (e.map == 1 && ((e.opc >= 0xd8 && e.opc <= 0xdf) || e.opc == 0x9b))
		return RF_X87;
	if (strstr(txt, "mm") || !strcmp(mn, "ldmxcsr") || !strcmp(mn, "stmxcsr") || (e.map == 2 && e.opc == 0x0f) ||
	    cs_simd_group(b, n))
		return RF_SIMD;
	bool branch = mn[0] == 'j' || !strcmp(mn, "call") || !strcmp(mn, "ret") || !strncmp(mn, "loop", 4);
	if (e.lock) {
		size_t k = strip_prefix(b, n, 0xf0, s);
		memset(s + k, 0x90, sizeof s - k);
		if (vl_decode(s, 15, &in) > 0)
			return RF_LOCK;
		if (e.p66 && branch) {   /* LOCK on a 66h branch: #UD for the LOCK */
			uint8_t s2[16];
			k = strip_prefix(s, k, 0x66, s2);
			memset(s2 + k, 0x90, sizeof s2 - k);
			if (vl_decode(s2, 15, &in) > 0)
				return RF_LOCK;
		}
	}
	if (e.p66 && branch) {
		size_t k = strip_prefix(b, n, 0x66, s);
		memset(s + k, 0x90, sizeof s - k);
		if (vl_decode(s, 15, &in) > 0)
			return RF_BRANCH66;
	}
	if (e.map == 2 && e.opc >= 0x20 && e.opc <= 0x23 && e.has_modrm) {
		unsigned r = ((e.modrm >> 3) & 7) | ((e.rex & 4) ? 8 : 0);
		if (!(e.opc & 1) && !(r == 0 || r == 2 || r == 3 || r == 4 || r == 8))
			return RF_HW_UD;   /* CR */
		if ((e.opc & 1) && r > 7)
			return RF_HW_UD;   /* DR */
	}
	if (e.map == 1 && e.has_modrm && (e.opc == 0x8c || e.opc == 0x8e)) {
		unsigned r = (e.modrm >> 3) & 7;
		if (r > 5 || (e.opc == 0x8e && r == VL_CS))
			return RF_HW_UD;
	}
	if (e.map == 2 && e.opc == 0xae && (e.rep || (e.p66 && e.has_modrm && (e.modrm >> 6) == 3)))
		return RF_GRP15;
	for (int c = 0; c < RF_COUNT; c++)
		if (refusals[c].mnemonics && word_in(mn, refusals[c].mnemonics))
			return c;
	return -1;
}

/* ---- reviewed disagreements where the model decodes -----------------------------
 * Cases where our decode (length r) is right although Capstone refuses the
 * bytes (cs == 0) or measures them differently. */
enum { RV_CALLOUT, RV_HINT_NOP, RV_FENCE_RM, RV_SREG_REXR, RV_CS_67W, RV_PREFIXES, RV_COUNT };
static const char *const reviewed_why[RV_COUNT] = {
	[RV_CALLOUT] = "callout: UD0 C8 + imm32 is the model's escape into the VMM (machine.h VL_CALLOUT_BYTES); "
		       "Capstone prints UD0 without the id",
	[RV_HINT_NOP] = "hint NOP / prefetch space: 0F 0D (AMD APM Vol. 3 PREFETCH/PREFETCHW, all /r), 0F 18-1F "
			"(SDM Vol. 2D Table A-3: prefetch, Reserved-NOP, NOP Ev; CET's RDSSP/ENDBR live there) "
			"execute as NOP; Capstone 4.0.2 rejects several of them",
	[RV_FENCE_RM] = "LFENCE/MFENCE/SFENCE with r/m other than 0: 'the processor ignores the r/m field' "
			"(SDM Vol. 2A LFENCE, MFENCE, SFENCE: any 0F AE E8-EF/F0-F7/F8-FF); Capstone 4.0.2 takes only "
			"E8/F0/F8",
	[RV_SREG_REXR] = "MOV Sreg with REX.R: the reg field names a segment register and REX.R is ignored "
			 "(SDM Vol. 2B MOV; XED and GNU objdump decode it); Capstone 4.0.2 refuses it",
	[RV_CS_67W] = "67h + REX.W on CALL rel32 / RET imm16: the immediate is 4 / 2 bytes whatever the prefixes "
		      "(SDM Vol. 2A CALL 'E8 cd', RET 'C2 iw'; 67h changes only the address size); Capstone 4.0.2 "
		      "sizes it from the prefixes",
	[RV_PREFIXES] = "prefixes without effect (null segment overrides in 64-bit mode, repeats, a REX not "
			"immediately before the opcode, F2/F3 on an instruction that does not use them) or a "
			"mandatory F3 not adjacent to the opcode: Capstone 4.0.2 refuses or mis-sizes some such "
			"combinations; the same instruction with the prefixes reduced decodes to the same op and "
			"Capstone's length matches (SDM Vol. 2A 2.1.1, 2.2.1)",
};

static bool is_string_op(unsigned op)
{
	return op == VL_OP_MOVS || op == VL_OP_CMPS || op == VL_OP_STOS || op == VL_OP_LODS || op == VL_OP_SCAS ||
	       op == VL_OP_INS || op == VL_OP_OUTS;
}

/* The instruction b (decoded by us as *in) with its prefixes reduced to the
 * ones that matter, in the order F0, 64/65, 66, 67, F2/F3, REX. Returns the
 * new length of the prefix-reduced bytes in out (15 bytes filled). */
static size_t reduce_prefixes(const uint8_t *b, size_t n, const struct vl_insn *in, uint8_t *out)
{
	struct enc e;
	size_t o = 0;
	uint8_t seg = 0;
	enc_parse(b, n, &e);
	for (int k = 0; k < e.pfx_end; k++)
		if (b[k] == 0x64 || b[k] == 0x65)
			seg = b[k];
	if (e.lock) out[o++] = 0xf0;
	if (seg) out[o++] = seg;
	if (e.p66) out[o++] = 0x66;
	if (e.p67) out[o++] = 0x67;
	if (e.rep && (!in->rep || is_string_op(in->op) || e.map != 1)) out[o++] = e.rep;
	if (e.rex) out[o++] = e.rex;
	size_t removed = (size_t)e.pfx_end - o;
	for (size_t k = (size_t)e.pfx_end; k < n && o < 15; k++)
		out[o++] = b[k];
	while (o < 16)
		out[o++] = 0x90;
	return removed;
}

/* Which reviewed case is this? -1: none (a failure). */
static int accept_reviewed(const uint8_t *b, size_t n, int r, int cs, const struct vl_insn *in)
{
	struct enc e;
	enc_parse(b, n, &e);
	if (in->op == VL_OP_CALLOUT && r == VL_CALLOUT_LEN)
		return RV_CALLOUT;
	if (!cs && e.map == 2 && (e.opc == 0x0d || (e.opc >= 0x18 && e.opc <= 0x1f)))
		return RV_HINT_NOP;
	if (!cs && in->op == VL_OP_FENCE)
		return RV_FENCE_RM;
	if (!cs && e.map == 1 && (e.opc == 0x8c || e.opc == 0x8e) && (e.rex & 4))
		return RV_SREG_REXR;
	if (cs && e.map == 1 && e.p67 && (e.rex & 8) && (e.opc == 0xe8 || e.opc == 0xc2 || e.opc == 0xca))
		return RV_CS_67W;
	uint8_t red[16];
	struct vl_insn rin;
	size_t removed = reduce_prefixes(b, n, in, red);
	if (removed || !cs) {
		int rr = vl_decode(red, 15, &rin);
		int rc = cs_len(red, 15, NULL, 0);
		if (rr > 0 && rr + (int)removed == r && rc == rr && rin.op == in->op && rin.osz == in->osz &&
		    rin.asz == in->asz && rin.seg == in->seg && rin.lock == in->lock)
			return RV_PREFIXES;
	}
	return -1;
}

/* ---- compiled programs ------------------------------------------------------ */

/* Labels in executable sections of the guest image that are not 64-bit code. */
static const struct { const char *name, *why; } not_code[] = {
	{ "vl_pvh_entry", "32-bit PVH entry (.code32 in guest/boot.S); the machine starts in long mode" },
	{ "boot_pml4", "boot page table (data in .boot)" },
	{ "boot_pdpt_id", "boot page table (data in .boot)" },
	{ "boot_pdpt_dm", "boot page table (data in .boot)" },
	{ "boot_pdpt_k", "boot page table (data in .boot)" },
	{ "boot_pd", "boot page table (data in .boot)" },
	{ "boot_gdt", "boot GDT (data in .boot)" },
	{ "boot_gdt_desc", "boot GDT descriptor (data in .boot)" },
};

struct sweep_stats {
	uint64_t files, regions, insns, skipped_labels, failures, reviewed;
	char mn[512][24];          /* distinct mnemonics seen */
	unsigned nmn;
};

static void note_mnemonic(struct sweep_stats *st, const char *txt)
{
	char m[24];
	mnem(txt, m, sizeof m);
	for (unsigned k = 0; k < st->nmn; k++)
		if (!strcmp(st->mn[k], m))
			return;
	if (st->nmn < 512)
		snprintf(st->mn[st->nmn++], sizeof st->mn[0], "%s", m);
}

static bool seen_mnemonic(const struct sweep_stats *st, const char *m)
{
	for (unsigned k = 0; k < st->nmn; k++)
		if (!strcmp(st->mn[k], m))
			return true;
	return false;
}

static bool all_padding(const uint8_t *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (b[k] != 0 && b[k] != 0x90 && b[k] != 0xcc)
			return false;
	return true;
}

/* Linear sweep of sec[start, end) with Capstone's boundaries; every
 * instruction must decode with Capstone's length. */
static void sweep(struct sweep_stats *st, const char *file, const char *sym, const uint8_t *sec, size_t secsize,
		  size_t start, size_t end)
{
	size_t off = start;
	st->regions++;
	while (off < end) {
		char txt[160], hx[40];
		int cl = cs_len(sec + off, end - off, txt, sizeof txt);
		size_t avail = secsize - off < 15 ? secsize - off : 15;
		struct vl_insn in;
		if (!cl) {
			if (all_padding(sec + off, end - off))
				return;
			int r = vl_decode(sec + off, avail, &in);
			if (r > 0 && accept_reviewed(sec + off, avail, r, 0, &in) >= 0) {
				st->reviewed++;   /* e.g. CET's RDSSP in __builtin_setjmp: a hint NOP */
				st->insns++;
				off += (size_t)r;
				continue;
			}
			hex(hx, sizeof hx, sec + off, avail);
			print_error("%s: %s+%#zx: Capstone cannot decode %s\n", file, sym, off - start, hx);
			st->failures++;
			return;
		}
		int r = vl_decode(sec + off, avail, &in);
		if (r != cl && !(r > 0 && accept_reviewed(sec + off, avail, r, cl, &in) >= 0)) {
			hex(hx, sizeof hx, sec + off, (size_t)cl);
			print_error("%s: %s+%#zx: %s (%s): Capstone length %d, vl_decode %d\n", file, sym, off - start, hx,
				    txt, cl, r);
			st->failures++;
		}
		note_mnemonic(st, txt);
		st->insns++;
		off += (size_t)cl;
	}
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) != NULL &&
		    fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = n > 0 ? (size_t)n : 0;
	}
	fclose(f);
	return buf;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sweep every code symbol of an ELF64 file (executable or relocatable).
 * FUNC symbols cover [value, value + size); other labels in executable
 * sections run to the next symbol of the section (guest asm: boot.S). */
static void sweep_elf(struct sweep_stats *st, const char *path)
{
	size_t len = 0;
	uint8_t *img = read_file(path, &len);
	if (!img) {
		print_error("%s: cannot read\n", path);
		st->failures++;
		return;
	}
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64 || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len) {
		print_error("%s: not an x86-64 ELF64 file\n", path);
		st->failures++;
		free(img);
		return;
	}
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	unsigned nsym_sections = 0;
	st->files++;
	for (unsigned s = 0; s < eh->e_shnum; s++) {
		if (sh[s].sh_type != SHT_SYMTAB || sh[s].sh_link >= eh->e_shnum)
			continue;
		nsym_sections++;
		const Elf64_Sym *sym = (const Elf64_Sym *)(img + sh[s].sh_offset);
		size_t nsym = sh[s].sh_size / sizeof *sym;
		const char *strtab = (const char *)img + sh[sh[s].sh_link].sh_offset;
		for (size_t k = 0; k < nsym; k++) {
			unsigned type = ELF64_ST_TYPE(sym[k].st_info), sec = sym[k].st_shndx;
			const char *name = strtab + sym[k].st_name;
			if (sec == SHN_UNDEF || sec >= eh->e_shnum || (type != STT_FUNC && type != STT_NOTYPE) || !*name)
				continue;
			const Elf64_Shdr *cs = &sh[sec];
			if (cs->sh_type != SHT_PROGBITS || !(cs->sh_flags & SHF_EXECINSTR) || cs->sh_offset + cs->sh_size > len)
				continue;
			uint64_t secbase = eh->e_type == ET_REL ? 0 : cs->sh_addr;
			uint64_t start = sym[k].st_value - secbase, end;
			if (start >= cs->sh_size)
				continue;
			if (type == STT_FUNC && sym[k].st_size) {
				end = start + sym[k].st_size;
			} else {
				bool skip = false;
				for (size_t q = 0; q < sizeof not_code / sizeof not_code[0]; q++)
					skip |= !strcmp(name, not_code[q].name);
				if (skip) {
					st->skipped_labels++;
					continue;
				}
				/* up to the next symbol in the section */
				uint64_t *starts = calloc(nsym, sizeof *starts);
				size_t ns = 0;
				assert_non_null(starts);
				for (size_t q = 0; q < nsym; q++)
					if (sym[q].st_shndx == sec && ELF64_ST_TYPE(sym[q].st_info) != STT_SECTION &&
					    sym[q].st_value - secbase > start)
						starts[ns++] = sym[q].st_value - secbase;
				qsort(starts, ns, sizeof *starts, cmp_u64);
				end = ns ? starts[0] : cs->sh_size;
				free(starts);
			}
			if (end > cs->sh_size)
				end = cs->sh_size;
			sweep(st, base, name, img + cs->sh_offset, cs->sh_size, start, end);
		}
	}
	if (!nsym_sections) {
		print_error("%s: no symbol table (stripped?): cannot find its code\n", path);
		st->failures++;
	}
	free(img);
}

/* Directory of this test binary (the harvest objects are built beside it). */
static void self_dir(char *out, size_t outlen)
{
	ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
	assert_true(n > 0);
	out[n] = 0;
	char *slash = strrchr(out, '/');
	assert_non_null(slash);
	*slash = 0;
}

static void test_compiled_programs(void **state)
{
	static struct sweep_stats st;
	char dir[PATH_MAX], path[PATH_MAX + 512];
	const char *guest = getenv("GUEST") ? getenv("GUEST") : "build/guest/guest.elf";
	unsigned isa_objs = 0;

	memset(&st, 0, sizeof st);
	/* the guest image and the user program linked beside it */
	sweep_elf(&st, guest);
	snprintf(path, sizeof path, "%.*s/uprog.elf",
		 (int)(strrchr(guest, '/') ? strrchr(guest, '/') - guest : 1), strrchr(guest, '/') ? guest : ".");
	sweep_elf(&st, path);
	uint64_t guest_insns = st.insns;

	/* the harvest objects: <testdir>/isa/<compiler>-<opt>-<model>[-x]/<prog>.o */
	self_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/isa", dir);
	DIR *d = opendir(path);
	if (!d) {
		print_error("%s: no harvest objects (tests/tests.mk builds them with the test)\n", path);
		fail();
	}
	struct dirent *v;
	while ((v = readdir(d)) != NULL) {
		if (v->d_name[0] == '.')
			continue;
		char vdir[PATH_MAX + 300];
		if (snprintf(vdir, sizeof vdir, "%s/isa/%s", dir, v->d_name) >= (int)sizeof vdir)
			continue;
		DIR *vd = opendir(vdir);
		if (!vd)
			continue;
		struct dirent *o;
		while ((o = readdir(vd)) != NULL) {
			size_t nl = strlen(o->d_name);
			if (nl < 3 || strcmp(o->d_name + nl - 2, ".o"))
				continue;
			if (snprintf(path, sizeof path, "%s/%s", vdir, o->d_name) >= (int)sizeof path)
				continue;
			sweep_elf(&st, path);
			isa_objs++;
		}
		closedir(vd);
	}
	closedir(d);

	printf("compiled programs: %" PRIu64 " instructions (%" PRIu64 " in the guest image and user program) in %"
	       PRIu64 " files, %" PRIu64 " code regions, %u distinct mnemonics; %" PRIu64
	       " non-code labels skipped; %" PRIu64 " reviewed (Capstone cannot decode); %u harvest objects (expected %u)\n",
	       st.insns, guest_insns, st.files, st.regions, st.nmn, st.skipped_labels, st.reviewed, isa_objs,
	       (unsigned)ISA_OBJ_COUNT);

	/* The harvest must have produced what it is for (else the sweep proves little). */
	static const char *const want[] = {
		"add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test", "inc", "dec", "neg", "not",
		"mul", "imul", "div", "idiv", "shl", "shr", "sar", "rol", "ror", "shld", "shrd", "bt", "bts", "btr",
		"bsf", "bsr", "tzcnt", "lzcnt", "popcnt", "bswap", "movzx", "movsx", "movsxd", "movabs", "lea",
		"cmove", "sete", "cqo", "cdq", "cdqe", "xchg", "xadd", "cmpxchg", "cmpxchg16b", "movsq", "stosq",
		"movsb", "stosb", "push", "pop", "call", "ret", "jmp", "leave", "pause", "mfence", "ud2", "hlt",
		"cli", "sti", "pushfq", "popfq", "lgdt", "lidt", "ltr", "sgdt", "rdmsr", "wrmsr", "cpuid", "rdtsc",
		"rdtscp", "in", "out", "insb", "outsb", "invlpg", "swapgs", "sysret", "iretq", "syscall", "int",
		"int3", "vmcall", "vmmcall", "nop", NULL
	};
	unsigned missing = 0;
	for (const char *const *w = want; *w; w++)
		if (!seen_mnemonic(&st, *w)) {
			print_error("harvest: no '%s' in any compiled program\n", *w);
			missing++;
		}
	assert_int_equal(missing, 0);
	assert_int_equal(isa_objs, ISA_OBJ_COUNT);
	assert_true(isa_objs >= 16 * 6);
	assert_true(guest_insns > 1000);
	assert_int_equal(st.failures, 0);
}

/* ---- random byte strings ----------------------------------------------------- */

static uint64_t rng_state;
static inline uint64_t rnd(void)
{
	/* splitmix64: fixed seed, same strings on every run and host */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t our_map1[256], our_map2[256];
static unsigned n_map1, n_map2;

/* Opcodes for which some ModRM byte gives an accepted decode (the ISA-biased generator draws from them). */
static void collect_opcodes(void)
{
	for (unsigned o = 0; o < 256; o++) {
		bool ok1 = false, ok2 = false;
		for (unsigned mr = 0; mr < 256 && !(ok1 && ok2); mr++) {
			uint8_t b1[16] = { (uint8_t)o, (uint8_t)mr }, b2[16] = { 0x0f, (uint8_t)o, (uint8_t)mr };
			uint8_t b3[16] = { 0xf3, 0x0f, (uint8_t)o, (uint8_t)mr };
			struct vl_insn in;
			ok1 |= vl_decode(b1, 15, &in) > 0;
			ok2 |= vl_decode(b2, 15, &in) > 0 || vl_decode(b3, 15, &in) > 0;
		}
		if (ok1)
			our_map1[n_map1++] = (uint8_t)o;
		if (ok2)
			our_map2[n_map2++] = (uint8_t)o;
	}
}

static const uint8_t legacy[] = { 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65 };

/* Fill b[0..15) with kind 0 = fully random, 1 = prefixes/REX/any opcode,
 * 2 = prefixes/REX/an opcode the model decodes, with a plausible ModRM. */
static void gen(uint8_t *b, int kind)
{
	for (int k = 0; k < 16; k += 8) {
		uint64_t r = rnd();
		memcpy(b + k, &r, 8);
	}
	if (kind == 0)
		return;
	int p = 0;
	uint64_t r = rnd();
	unsigned np = r % 16;
	np = np < 8 ? 0 : np < 12 ? 1 : np < 14 ? 2 : np < 15 ? 3 : 5;
	for (unsigned k = 0; k < np; k++)
		b[p++] = legacy[rnd() % sizeof legacy];
	r = rnd();
	if (r % 10 < 4)
		b[p++] = (uint8_t)(0x40 | ((r >> 8) & 15));
	r = rnd();
	if (kind == 1) {
		unsigned m = r % 20;
		if (m < 11) {
			b[p++] = (uint8_t)(r >> 8);
		} else if (m < 18) {
			b[p++] = 0x0f;
			b[p++] = (uint8_t)(r >> 8);
		} else {
			b[p++] = 0x0f;
			b[p++] = (r >> 8) & 1 ? 0x38 : 0x3a;
			b[p++] = (uint8_t)(r >> 16);
		}
	} else if (r % 3) {
		b[p++] = our_map1[(r >> 8) % n_map1];
	} else {
		b[p++] = 0x0f;
		b[p++] = our_map2[(r >> 8) % n_map2];
	}
	/* ModRM: favour the memory forms with SIB and displacements, and mod 3 */
	r = rnd();
	if (r % 4 == 0)
		b[p] = (uint8_t)((b[p] & 0xf8) | 4);      /* SIB follows */
	else if (r % 4 == 1)
		b[p] = (uint8_t)((b[p] & 0x38) | 5);      /* mod 0 rm 5: RIP-relative */
	else if (r % 4 == 2)
		b[p] |= 0xc0;                             /* register operand */
}

struct rand_stats {
	uint64_t n, kinds[3], agree, both_refuse, too_long, refused[RF_COUNT], reviewed[RV_COUNT], failures;
	uint64_t truncations, memops;
	char example[RF_COUNT][96], rv_example[RV_COUNT][96];
};

static void failure(struct rand_stats *st, const char *what, const uint8_t *b, int r, int cl, const char *txt)
{
	char hx[40];
	st->failures++;
	if (st->failures > MAX_EXAMPLES)
		return;
	hex(hx, sizeof hx, b, 15);
	print_error("%s: %s  vl_decode %d, Capstone %d (%s)\n", what, hx, r, cl, txt);
}

/* Every shorter prefix of an accepted instruction must ask for more bytes,
 * and the full one must decode identically from exactly its bytes. */
static void check_truncations(struct rand_stats *st, const uint8_t *b, int r, const struct vl_insn *full)
{
	struct vl_insn in;
	for (int k = 0; k < r; k++) {
		int t = vl_decode(b, (size_t)k, &in);
		st->truncations++;
		if (t != 0) {
			char msg[64];
			snprintf(msg, sizeof msg, "truncated to %d bytes: decode %d, not 0 (more bytes)", k, t);
			failure(st, msg, b, r, 0, "");
			return;
		}
	}
	if (vl_decode(b, (size_t)r, &in) != r || memcmp(&in, full, sizeof in)) {
		failure(st, "decode from exactly its bytes differs from the decode with 15 available", b, r, 0, "");
	}
}

/* Register number (0..15) of a Capstone general register name at address
 * size asz (4: eax.. r8d.., 8: rax.. r8..); VL_RIPREL for rip/eip; VL_NOREG
 * for none/riz/eiz; -1 for anything else. */
static int cs_gpr(x86_reg reg, unsigned asz)
{
	static const char *const n64[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	static const char *const n32[16] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
					     "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d" };
	if (reg == X86_REG_INVALID || reg == X86_REG_RIZ || reg == X86_REG_EIZ)
		return VL_NOREG;
	if (reg == (asz == 8 ? X86_REG_RIP : X86_REG_EIP))
		return VL_RIPREL;
	const char *name = cs_reg_name(cs_det_h, reg);
	for (int k = 0; name && k < 16; k++)
		if (!strcmp(name, asz == 8 ? n64[k] : n32[k]))
			return k;
	return -1;
}

/* The memory operand as Capstone sees it must be the one we decoded:
 * base, index, scale, displacement and address size (the SIB/REX.X/REX.B/
 * mod-0-RBP/R13 corners, 67h). Instructions with a ModRM memory operand only. */
static void check_memop(struct rand_stats *st, const uint8_t *b, int r, const struct vl_insn *in, const char *txt)
{
	if (in->mod == 3 || in->mod == 0xff || in->op == VL_OP_CALLOUT)
		return;
	const uint8_t *p = b;
	size_t sz = (size_t)r;
	uint64_t addr = 0;
	if (!cs_disasm_iter(cs_det_h, &p, &sz, &addr, cs_det))
		return;
	const cs_x86 *x = &cs_det->detail->x86;
	for (unsigned k = 0; k < x->op_count; k++) {
		if (x->operands[k].type != X86_OP_MEM)
			continue;
		const x86_op_mem *mm = &x->operands[k].mem;
		int base = cs_gpr(mm->base, in->asz), index = cs_gpr(mm->index, in->asz);
		int64_t disp = mm->disp;
		st->memops++;
		if (base != in->base || index != in->index || (index != VL_NOREG && mm->scale != 1 << in->scale) ||
		    (int32_t)disp != in->disp) {
			char msg[200];
			snprintf(msg, sizeof msg, "memory operand: base %d index %d scale %d disp %d, Capstone %d %d %d %" PRId64,
				 in->base, in->index, 1 << in->scale, in->disp, base, index, mm->scale, disp);
			failure(st, msg, b, r, r, txt);
		}
		return;
	}
}

static void one_string(struct rand_stats *st, const uint8_t *b)
{
	struct vl_insn in;
	char txt[160];
	int r = vl_decode(b, 15, &in);
	int cl = cs_len(b, 15, txt, sizeof txt), rv;

	st->n++;
	if (r > 0) {
		if (in.len != r || !in.fn || in.op >= VL_OP_COUNT)
			failure(st, "accepted decode with an inconsistent vl_insn", b, r, cl, txt);
		check_truncations(st, b, r, &in);
		if (r == cl) {
			st->agree++;
			check_memop(st, b, r, &in, txt);
		} else if ((rv = accept_reviewed(b, 15, r, cl, &in)) >= 0) {
			if (!st->reviewed[rv]++) {
				char hx[40];
				hex(hx, sizeof hx, b, (size_t)r);
				snprintf(st->rv_example[rv], sizeof st->rv_example[rv], "%.30s (%d) = %.50s", hx, cl, txt);
			}
		} else {
			failure(st, cl ? "length differs" : "accepted, Capstone refuses", b, r, cl, txt);
		}
		return;
	}
	if (r == -2) {
		st->too_long++;
		if (cl)
			failure(st, "refused as longer than 15 bytes, Capstone decodes", b, r, cl, txt);
		return;
	}
	if (r != -1) {
		failure(st, "vl_decode returned an undocumented value with 15 bytes available", b, r, cl, txt);
		return;
	}
	/* refused: a shorter buffer must not decode either */
	for (int k = 1; k < 15; k++) {
		int t = vl_decode(b, (size_t)k, &in);
		if (t > 0 || t == -2) {
			failure(st, "refused with 15 bytes, accepted (or too long) from fewer", b, t, cl, txt);
			return;
		}
	}
	if (!cl) {
		st->both_refuse++;
		return;
	}
	int c = refusal_class(b, 15, txt);
	if (c < 0) {
		failure(st, "refused, Capstone decodes, not in the reviewed refusal list", b, r, cl, txt);
		return;
	}
	st->refused[c]++;
	if (!st->example[c][0]) {
		char hx[40];
		hex(hx, sizeof hx, b, (size_t)cl);
		snprintf(st->example[c], sizeof st->example[c], "%.30s = %.60s", hx, txt);
	}
}

static void test_random_strings(void **state)
{
	static struct rand_stats st;
	uint8_t b[16];
	clock_t t0 = clock();

	memset(&st, 0, sizeof st);
	collect_opcodes();
	rng_state = RANDOM_SEED;
	for (uint64_t k = 0; k < RANDOM_STRINGS; k++) {
		int kind = k % 8 < 2 ? 0 : k % 8 < 5 ? 1 : 2;
		gen(b, kind);
		st.kinds[kind]++;
		one_string(&st, b);
	}
	uint64_t refused = 0;
	for (int c = 0; c < RF_COUNT; c++)
		refused += st.refused[c];
	printf("random strings: seed %#" PRIx64 ", %" PRIu64 " strings (%" PRIu64 " fully random, %" PRIu64
	       " prefix/REX/any opcode, %" PRIu64 " prefix/REX/model opcode), %.1f s\n",
	       (uint64_t)RANDOM_SEED, st.n, st.kinds[0], st.kinds[1], st.kinds[2],
	       (double)(clock() - t0) / CLOCKS_PER_SEC);
	printf("  both decode, same length: %" PRIu64 "   both refuse: %" PRIu64 " (+%" PRIu64 " over 15 bytes)\n",
	       st.agree, st.both_refuse, st.too_long);
	printf("  decoded by the model, Capstone refuses or differs, reviewed:\n");
	for (int c = 0; c < RV_COUNT; c++)
		printf("    %8" PRIu64 "  %.60s...  e.g. %s\n", st.reviewed[c], reviewed_why[c], st.rv_example[c]);
	printf("  truncated re-decodes: %" PRIu64 ", memory operands compared field by field: %" PRIu64 "\n",
	       st.truncations, st.memops);
	printf("  refused by the model, decoded by Capstone: %" PRIu64 " (reviewed classes)\n", refused);
	for (int c = 0; c < RF_COUNT; c++)
		printf("    %-9s %8" PRIu64 "   e.g. %s\n", refusals[c].name, st.refused[c], st.example[c]);
	printf("  failures: %" PRIu64 "\n", st.failures);
	assert_true(st.n >= 1000000);
	assert_int_equal(st.failures, 0);
}

static int setup(void **state)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs_fast) != CS_ERR_OK)
		return -1;
	cs_one = cs_malloc(cs_fast);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs_det_h) != CS_ERR_OK)
		return -1;
	cs_option(cs_det_h, CS_OPT_DETAIL, CS_OPT_ON);
	cs_det = cs_malloc(cs_det_h);
	return cs_one && cs_det ? 0 : -1;
}

static int teardown(void **state)
{
	cs_free(cs_one, 1);
	cs_free(cs_det, 1);
	cs_close(&cs_fast);
	cs_close(&cs_det_h);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compiled_programs),
		cmocka_unit_test(test_random_strings),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
