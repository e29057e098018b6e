/* gen.c — the structure-aware hostile-guest generator (see gen.h).
 *
 * Image layout (physical = virtual, identity-mapped by the boot tables and
 * by the guest's own tables when it builds them):
 *   +0x00000 code: prologue, body, epilogue (out 0xf4)
 *   +0x08000 256 handler stubs of 16 bytes (print the vector on 0xe9, then
 *            exit with it, or drop the error code and IRETQ)
 *   +0x0a000 GDT   +0x0b000 IDT   +0x0c000 TSS
 *   +0x0d000 PML4  +0x0e000 PDPT  +0x0f000 PD  +0x10000 PT (first 2 MiB)
 *   +0x11000 a page of random entries some upper entry may point at
 *   +0x12000 data (RBX points at +0x14000)
 *   +0x1c000 kernel stack top (RSP0), +0x1d000/+0x1e000 IST stacks,
 *   +0x1f000 user stack top
 * Encodings are written by hand (the generator must not depend on an
 * assembler); each helper names the instruction it emits. */
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "../support/mini_elf.h"

#define PF_RWX 7u
#define IMG FUZZ_IMAGE_PA
#define O_CODE 0x00000u
#define O_HAND 0x08000u
#define O_GDT  0x0a000u
#define O_IDT  0x0b000u
#define O_TSS  0x0c000u
#define O_PML4 0x0d000u
#define O_PDPT 0x0e000u
#define O_PD   0x0f000u
#define O_PT   0x10000u
#define O_XTBL 0x11000u
#define O_DATA 0x12000u
#define O_DPTR 0x14000u
#define O_KSTK 0x1c000u
#define O_IST1 0x1d000u
#define O_IST2 0x1e000u
#define O_USTK 0x1f000u
#define CODE_END 0x07f00u          /* room for the epilogue */
#define RAM_END (4ull << 20)       /* guest_run's machines: 4 MiB RAM, 4 MiB monitor */

const char *const fuzz_body_name[FUZZ_BODY_KINDS] = { "bytes", "valid", "system" };

struct rd { const uint8_t *d; size_t n, i; };
static uint8_t u8(struct rd *r) { return r->i < r->n ? r->d[r->i++] : 0; }
static uint32_t u32(struct rd *r) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)u8(r) << (8 * i); return v; }
static uint64_t u64(struct rd *r) { return u32(r) | (uint64_t)u32(r) << 32; }
static unsigned pick(struct rd *r, unsigned n) { return n <= 256 ? u8(r) % n : (u8(r) | (unsigned)u8(r) << 8) % n; }
static bool coin(struct rd *r, unsigned in) { return pick(r, in) == 0; }   /* true with probability 1/in */

struct em { uint8_t *img; uint32_t pos, end; };
static void b1(struct em *e, uint8_t v) { if (e->pos < e->end) e->img[e->pos++] = v; }
static void bn(struct em *e, const uint8_t *v, size_t n) { for (size_t i = 0; i < n; i++) b1(e, v[i]); }
static void b4(struct em *e, uint32_t v) { for (int i = 0; i < 4; i++) b1(e, (uint8_t)(v >> (8 * i))); }
static void b8(struct em *e, uint64_t v) { b4(e, (uint32_t)v); b4(e, (uint32_t)(v >> 32)); }
static void put64(uint8_t *img, uint32_t off, uint64_t v) { memcpy(img + off, &v, 8); }

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

static void mov_imm64(struct em *e, unsigned r, uint64_t v)   /* mov r64, imm64 */
{
	b1(e, 0x48 | (r >> 3));
	b1(e, 0xb8 + (r & 7));
	b8(e, v);
}
static void mov_imm32(struct em *e, unsigned r, uint32_t v)   /* mov r32, imm32 (zero-extends) */
{
	if (r >= 8)
		b1(e, 0x41);
	b1(e, 0xb8 + (r & 7));
	b4(e, v);
}
static void wrmsr_seq(struct em *e, uint32_t msr, uint64_t v)
{
	mov_imm32(e, RCX, msr);
	mov_imm32(e, RAX, (uint32_t)v);
	mov_imm32(e, RDX, (uint32_t)(v >> 32));
	b1(e, 0x0f); b1(e, 0x30);                                  /* wrmsr */
}
static void exit_seq(struct em *e, uint8_t code) { b1(e, 0xb0); b1(e, code); b1(e, 0xe6); b1(e, 0xf4); }

/* ---- operand pools ------------------------------------------------------ */
static uint64_t boundary(struct rd *r)
{
	static const uint64_t v[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
		0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull,
		0x00007fffffffffffull, 0x0000800000000000ull, 0xffff7fffffffffffull, 0xffff800000000000ull,
		0xffffffff80000000ull, RAM_END - 8, RAM_END - 1, RAM_END, RAM_END + 0x1000, 2 * RAM_END - 8,
		2 * RAM_END, 1ull << 40, (1ull << 52) - 0x1000, 1ull << 52, 0xfee00000, 0xfee00008, 0xfee00380,
		IMG, IMG + O_IDT, IMG + O_GDT, IMG + O_PT, IMG + O_PD, IMG + O_DPTR, 0x1000, 0x3000, 0xfff,
		0x1000000000001000ull, 0x8000000000001000ull,
	};
	if (coin(r, 8))
		return u64(r);
	return v[pick(r, sizeof v / sizeof v[0])];
}

/* A page-table entry a hostile guest might write: a frame beyond memory, in
 * the monitor window, the APIC page, one of its own tables, plain RAM;
 * random permission, size, A/D, NX and reserved bits. */
static uint64_t hostile_pte(struct rd *r)
{
	static const uint64_t frames[] = {
		1ull << 40, (1ull << 52) - 0x1000, 1ull << 32, RAM_END, RAM_END + 0x3000, 2 * RAM_END - 0x1000,
		2 * RAM_END, 0xfee00000, IMG + O_PML4, IMG + O_PDPT, IMG + O_PD, IMG + O_PT, IMG + O_XTBL,
		IMG + O_DATA, IMG, 0x200000, 0x1000, 0,
	};
	uint64_t e = frames[pick(r, sizeof frames / sizeof frames[0])];
	if (coin(r, 6))
		e = u64(r) & 0x000ffffffffff000ull;
	e |= u8(r) & 0xe7;                               /* P RW US PWT PCD A D PS (bits 0-2, 5-7) */
	if (coin(r, 3))
		e |= 1;                                  /* mostly present */
	if (coin(r, 4))
		e |= 1ull << 63;                         /* NX */
	if (coin(r, 8))
		e |= 1ull << (51 - pick(r, 8));          /* reserved below 52 on smaller MAXPHYADDR */
	if (coin(r, 8))
		e |= 0x0ff0000000000000ull & u64(r);     /* ignored/protection-key bits */
	return e;
}

static uint32_t msr_pick(struct rd *r, bool *timing)
{
	static const struct { uint32_t msr; bool timing; } v[] = {
		{ 0xc0000080, 0 }, { 0xc0000081, 0 }, { 0xc0000082, 0 }, { 0xc0000083, 0 }, { 0xc0000084, 0 },
		{ 0xc0000100, 0 }, { 0xc0000101, 0 }, { 0xc0000102, 0 }, { 0xc0000103, 0 }, { 0x10, 1 },
		{ 0x1b, 0 }, { 0x277, 0 }, { 0x802, 0 }, { 0x808, 0 }, { 0x80b, 0 }, { 0x832, 1 }, { 0x838, 1 },
		{ 0x839, 1 }, { 0x83e, 0 }, { 0x83f, 1 }, { 0x174, 0 }, { 0x175, 0 }, { 0x176, 0 }, { 0x3a, 0 },
		{ 0x480, 0 }, { 0xc0010114, 0 }, { 0xc0010117, 0 }, { 0x1d9, 0 }, { 0xc1, 1 }, { 0xe7, 1 },
		{ 0xe8, 1 }, { 0x8b, 0 }, { 0x40000000, 0 },
	};
	if (coin(r, 10)) {
		*timing = true;                           /* unknown: may be anything */
		return u32(r);
	}
	unsigned i = pick(r, sizeof v / sizeof v[0]);
	if (v[i].timing)
		*timing = true;
	return v[i].msr;
}

/* ---- body: random valid instructions ---------------------------------- */
static unsigned reg_dst(struct rd *r)   /* any GPR but RSP and RBX (the data pointer) */
{
	unsigned x;
	do
		x = pick(r, 16);
	while (x == RSP || x == RBX);
	return x;
}

static void valid_insn(struct rd *r, struct em *e)
{
	unsigned d = reg_dst(r), s = reg_dst(r);
	uint8_t rex = 0x48 | ((s >> 3) << 2) | (d >> 3);          /* REX.W R=src B=dst */
	int8_t disp = (int8_t)u8(r);
	static const uint8_t alu_rr[] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89, 0x87 };
	switch (pick(r, 24)) {
	case 0: mov_imm64(e, d, boundary(r)); break;
	case 1: b1(e, rex); b1(e, alu_rr[pick(r, sizeof alu_rr)]); b1(e, 0xc0 | (s & 7) << 3 | (d & 7)); break;
	case 2:                                                    /* op r64, [rbx + d8] */
		b1(e, 0x48 | ((d >> 3) << 2)); b1(e, (uint8_t)(alu_rr[pick(r, 9)] + 2)); b1(e, 0x43 | (d & 7) << 3);
		b1(e, (uint8_t)disp); break;
	case 3:                                                    /* op [rbx + d8], r64 (lock sometimes) */
		if (coin(r, 3)) b1(e, 0xf0);
		b1(e, 0x48 | ((s >> 3) << 2)); b1(e, alu_rr[pick(r, sizeof alu_rr)]); b1(e, 0x43 | (s & 7) << 3);
		b1(e, (uint8_t)disp); break;
	case 4: b1(e, 0x48 | (d >> 3)); b1(e, 0xd3); b1(e, 0xc0 | pick(r, 8) << 3 | (d & 7)); break;     /* shift r, cl */
	case 5: b1(e, 0x48 | (d >> 3)); b1(e, 0xc1); b1(e, 0xc0 | pick(r, 8) << 3 | (d & 7)); b1(e, u8(r)); break;
	case 6: b1(e, 0x48 | (d >> 3)); b1(e, 0xf7); b1(e, 0xc0 | (2 + pick(r, 6)) << 3 | (d & 7)); break; /* not neg mul imul div idiv */
	case 7: b1(e, 0x48 | ((d >> 3) << 2) | (s >> 3)); b1(e, 0x69); b1(e, 0xc0 | (d & 7) << 3 | (s & 7)); b4(e, u32(r)); break; /* imul d, s, imm32 */
	case 8: b1(e, 0x48 | (d >> 3)); b1(e, 0xff); b1(e, 0xc0 | pick(r, 2) << 3 | (d & 7)); break;       /* inc/dec */
	case 9:                                                    /* push s; pop d */
		if (s >= 8) b1(e, 0x41);
		b1(e, 0x50 + (s & 7));
		if (d >= 8) b1(e, 0x41);
		b1(e, 0x58 + (d & 7)); break;
	case 10: b1(e, 0x48 | ((d >> 3) << 2) | ((s >> 3) << 1)); b1(e, 0x8d); b1(e, 0x84 | (d & 7) << 3); b1(e, (uint8_t)(pick(r, 4) << 6 | (s & 7) << 3 | RBX)); b4(e, u32(r) & 0xfff); break; /* lea d, [rbx+s*k+d32] */
	case 11: { static const uint8_t mx[] = { 0xb6, 0xb7, 0xbe, 0xbf }; b1(e, 0x48 | ((d >> 3) << 2) | (s >> 3)); b1(e, 0x0f); b1(e, mx[pick(r, 4)]); b1(e, 0xc0 | (d & 7) << 3 | (s & 7)); break; }
	case 12: b1(e, 0x40 | (d >> 3)); b1(e, 0x0f); b1(e, 0x90 + pick(r, 16)); b1(e, 0xc0 | (d & 7)); break; /* setcc */
	case 13: b1(e, 0x48 | ((d >> 3) << 2) | (s >> 3)); b1(e, 0x0f); b1(e, 0x40 + pick(r, 16)); b1(e, 0xc0 | (d & 7) << 3 | (s & 7)); break; /* cmovcc */
	case 14: b1(e, 0xeb); b1(e, 2); b1(e, u8(r)); b1(e, u8(r)); break;            /* jmp over two bytes never run */
	case 15: b1(e, 0x70 + pick(r, 16)); b1(e, 0); break;                          /* jcc +0 */
	case 16: b1(e, 0x48 | (d >> 3)); b1(e, 0x0f); b1(e, 0xba); b1(e, 0xc0 | (4 + pick(r, 4)) << 3 | (d & 7)); b1(e, u8(r)); break; /* bt* r, imm8 */
	case 17: b1(e, 0x48 | ((d >> 3) << 2) | (s >> 3)); b1(e, 0x0f); b1(e, 0xbc + pick(r, 2)); b1(e, 0xc0 | (d & 7) << 3 | (s & 7)); break; /* bsf/bsr */
	case 18:                                                   /* lock cmpxchg/xadd [rbx+d8], s */
		if (coin(r, 2)) b1(e, 0xf0);
		b1(e, 0x48 | ((s >> 3) << 2)); b1(e, 0x0f); b1(e, coin(r, 2) ? 0xb1 : 0xc1); b1(e, 0x43 | (s & 7) << 3); b1(e, (uint8_t)disp); break;
	case 19: {                                                 /* (rep) string op on the data area */
		static const uint8_t so[] = { 0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad, 0xa6, 0xa7, 0xae, 0xaf };
		mov_imm64(e, RSI, IMG + O_DATA + (u8(r) & 0xf8));
		mov_imm64(e, RDI, IMG + O_DATA + 0x800 + (u8(r) & 0xf8));
		mov_imm32(e, RCX, u8(r) & 0x3f);
		b1(e, coin(r, 4) ? 0xfd : 0xfc);                   /* std / cld */
		uint8_t p = (uint8_t[]){ 0, 0xf3, 0xf2 }[pick(r, 3)];
		if (p) b1(e, p);
		if (coin(r, 2)) b1(e, 0x48);
		b1(e, so[pick(r, sizeof so)]);
		b1(e, 0xfc); break;
	}
	case 20: b1(e, 0x48); b1(e, 0x99); break;                                    /* cqo */
	case 21: b1(e, 0xe8); b4(e, 0); if (d >= 8) b1(e, 0x41); b1(e, 0x58 + (d & 7)); break;  /* call next; pop d */
	case 22: b1(e, 0x48 | (d >> 3)); b1(e, 0x0f); b1(e, 0xc8 + (d & 7)); break;  /* bswap */
	default: { static const uint8_t one[] = { 0x9e, 0x9f, 0xf8, 0xf9, 0xf5, 0x90, 0x98, 0x99 }; b1(e, one[pick(r, sizeof one)]); break; }
	}
}

/* ---- body: system instructions with boundary operands ------------------ */
static void sys_insn(struct rd *r, struct em *e, struct fuzz_case *c)
{
	uint64_t v = boundary(r);
	bool t = false;
	switch (pick(r, 40)) {
	case 0: case 1: {                                           /* mov crN, rax */
		static const uint8_t crs[] = { 0xc0, 0xd0, 0xd8, 0xe0 };  /* cr0 cr2 cr3 cr4 (modrm reg) */
		mov_imm64(e, RAX, v);
		if (coin(r, 4)) { b1(e, 0x44); b1(e, 0x0f); b1(e, 0x22); b1(e, 0xc0); }   /* mov cr8, rax */
		else { b1(e, 0x0f); b1(e, 0x22); b1(e, crs[pick(r, 4)]); }
		break;
	}
	case 2: b1(e, 0x0f); b1(e, 0x20); b1(e, 0xc0 | (uint8_t[]){ 0, 2, 3, 4 }[pick(r, 4)] << 3); break; /* mov rax, crN */
	case 3: case 4: wrmsr_seq(e, msr_pick(r, &t), v); break;
	case 5: mov_imm32(e, RCX, msr_pick(r, &t)); b1(e, 0x0f); b1(e, 0x32); break;                     /* rdmsr */
	case 6: case 7: {                                           /* lgdt / lidt from [rbx] = limit, base */
		mov_imm32(e, RAX, u8(r) ? (uint32_t)(u8(r) | u8(r) << 8) : 0xfff);
		b1(e, 0x66); b1(e, 0x89); b1(e, 0x03);                  /* mov [rbx], ax */
		mov_imm64(e, RAX, v);
		b1(e, 0x48); b1(e, 0x89); b1(e, 0x43); b1(e, 0x02);     /* mov [rbx+2], rax */
		b1(e, 0x0f); b1(e, 0x01); b1(e, coin(r, 2) ? 0x13 : 0x1b);   /* lgdt/lidt [rbx] */
		break;
	}
	case 8: mov_imm32(e, RAX, u8(r)); b1(e, 0x0f); b1(e, 0x00); b1(e, coin(r, 2) ? 0xd8 : 0xd0); break; /* ltr/lldt ax */
	case 9: mov_imm32(e, RAX, u8(r)); b1(e, 0x8e); b1(e, 0xc0 | (uint8_t[]){ 0, 2, 3, 4, 5 }[pick(r, 5)] << 3); break; /* mov sreg, ax */
	case 10: mov_imm64(e, RAX, v); b1(e, 0x0f); b1(e, 0x01); b1(e, 0x38); break;                    /* invlpg [rax] */
	case 11: case 12: mov_imm64(e, RAX, v); b1(e, 0x48); b1(e, 0x8b); b1(e, 0x00); break;          /* mov rax, [rax] */
	case 13: mov_imm64(e, RAX, v); b1(e, 0x48); b1(e, 0x89); b1(e, 0x08); break;                    /* mov [rax], rcx */
	case 14: case 15: {                                         /* write a hostile entry into a live table, then use it */
		static const uint32_t tbl[] = { O_PML4, O_PDPT, O_PD, O_PT, O_XTBL, 0 };
		unsigned k = pick(r, 6);
		uint64_t slot = k < 5 ? IMG + tbl[k] + 8 * pick(r, 512) : 0x3000 + 8 * (1 + pick(r, 511));
		mov_imm64(e, RAX, slot);
		mov_imm64(e, RCX, hostile_pte(r));
		b1(e, 0x48); b1(e, 0x89); b1(e, 0x08);                  /* mov [rax], rcx */
		if (coin(r, 2)) { b1(e, 0x0f); b1(e, 0x20); b1(e, 0xd8); b1(e, 0x0f); b1(e, 0x22); b1(e, 0xd8); } /* reload cr3 */
		break;
	}
	case 16: b1(e, (uint8_t[]){ 0xfa, 0xfb, 0xf4, 0xcc, 0xf1 }[pick(r, 5)]); break;              /* cli sti hlt int3 int1 */
	case 17: b1(e, 0xcd); b1(e, u8(r)); break;                                                     /* int n */
	case 18: b1(e, 0x0f); b1(e, 0x0b); break;                                                      /* ud2 */
	case 19: mov_imm64(e, RAX, v); b1(e, 0x50); b1(e, 0x9d); break;                                /* push rax; popf */
	case 20: b1(e, 0x9c); b1(e, 0x58); break;                                                      /* pushf; pop rax */
	case 21: {                                                  /* in/out on a chosen port */
		static const uint16_t ports[] = { 0xe9, 0x3f8, 0x3fd, 0x80, 0x608, 0x20, 0x21, 0xcf8, 0x70, 0x71 };
		uint16_t p = coin(r, 4) ? (uint16_t)u32(r) : ports[pick(r, sizeof ports / sizeof ports[0])];
		if (p == 0x608 || p == 0x70 || p == 0x71)
			t = true;
		b1(e, 0x66); b1(e, 0xba); b1(e, (uint8_t)p); b1(e, (uint8_t)(p >> 8));   /* mov dx, p */
		b1(e, (uint8_t[]){ 0xec, 0xed, 0xee, 0xef }[pick(r, 4)]);                 /* in/out al/eax, dx */
		break;
	}
	case 22: case 23: {                                         /* rep outs/ins with boundary buffers */
		b1(e, 0x66); b1(e, 0xba); b1(e, 0xe9); b1(e, 0x00);     /* mov dx, 0xe9 */
		mov_imm64(e, RSI, coin(r, 2) ? v : IMG + O_DATA);
		mov_imm64(e, RDI, coin(r, 2) ? v : IMG + O_DATA + 0x400);
		mov_imm32(e, RCX, u8(r) & 0x1f);
		if (coin(r, 3)) {                                       /* the string op in a MOV-SS shadow */
			mov_imm32(e, RAX, 0x10);
			b1(e, 0x8e); b1(e, 0xd0);                           /* mov ss, ax */
		}
		b1(e, 0xf3); b1(e, (uint8_t[]){ 0x6c, 0x6d, 0x6e, 0x6f }[pick(r, 4)]);
		break;
	}
	case 24: mov_imm32(e, RAX, (uint32_t)v); b1(e, 0x0f); b1(e, 0xa2); t = true; break;            /* cpuid */
	case 25: b1(e, 0x0f); b1(e, (uint8_t[]){ 0x31, 0x33 }[pick(r, 2)]); t = true; break;           /* rdtsc rdpmc */
	case 26: b1(e, 0x0f); b1(e, 0x01); b1(e, 0xf9); t = true; break;                               /* rdtscp */
	case 27: {                                                  /* monitor mwait wbinvd invd clts swapgs vmcall vmmcall */
		static const uint8_t op[][3] = { { 0x0f, 0x01, 0xc8 }, { 0x0f, 0x01, 0xc9 }, { 0x0f, 0x09, 0x90 },
			{ 0x0f, 0x08, 0x90 }, { 0x0f, 0x06, 0x90 }, { 0x0f, 0x01, 0xf8 }, { 0x0f, 0x01, 0xc1 },
			{ 0x0f, 0x01, 0xd9 } };
		unsigned k = pick(r, 8);
		if (k == 0) mov_imm64(e, RAX, v);                         /* monitor: address in rax */
		bn(e, op[k], 3);
		if (k >= 6) t = true;                                    /* a hypercall is the VMM's to answer */
		break;
	}
	case 28: mov_imm32(e, RAX, (uint32_t)v); b1(e, 0x0f); b1(e, 0x01); b1(e, 0xf0); break;         /* lmsw ax */
	case 29: b1(e, 0x0f); b1(e, 0x01); b1(e, (uint8_t[]){ 0x03, 0x0b, 0xe0 }[pick(r, 3)]); break;  /* sgdt/sidt [rbx], smsw eax */
	case 30: b1(e, 0x0f); b1(e, 0x05); break;                                                      /* syscall */
	case 31: b1(e, 0x48); b1(e, 0x0f); b1(e, 0x07); break;                                         /* sysretq */
	case 32: {                                                  /* iretq through a crafted frame */
		mov_imm64(e, RAX, coin(r, 2) ? 0x10 : (uint64_t)(u8(r) & 0x3f)); b1(e, 0x50);   /* ss */
		mov_imm64(e, RAX, coin(r, 2) ? IMG + O_KSTK - 0x100 : v); b1(e, 0x50);           /* rsp */
		mov_imm64(e, RAX, 0x2 | (u32(r) & 0x3f7fd5)); b1(e, 0x50);                        /* rflags */
		mov_imm64(e, RAX, coin(r, 2) ? 0x08 : (uint64_t)(u8(r) & 0x3f)); b1(e, 0x50);   /* cs */
		if (coin(r, 2)) {                                       /* rip: the next instruction */
			b1(e, 0x48); b1(e, 0x8d); b1(e, 0x05); b4(e, 3);    /* lea rax, [rip + 3] */
		} else {
			mov_imm64(e, RAX, v);                               /* rip: a boundary value */
		}
		b1(e, 0x50);
		b1(e, 0x48); b1(e, 0xcf);                               /* iretq */
		break;
	}
	case 33: mov_imm64(e, RAX, v); b1(e, 0x0f); b1(e, 0x23); b1(e, 0xf8 | 0); break;               /* mov dr7, rax */
	case 34: b1(e, 0x48); b1(e, 0xff); b1(e, 0x2b); break;                                         /* jmp far [rbx] (m16:64) */
	case 35: mov_imm64(e, RAX, v); b1(e, 0xff); b1(e, 0xe0); break;                                /* jmp rax: a wild jump */
	case 36: b1(e, 0x8e); b1(e, 0xd0); b1(e, 0xf4); break;                                         /* mov ss, ax; hlt */
	case 37: mov_imm64(e, RSP, coin(r, 2) ? v : IMG + O_KSTK); break;                              /* a hostile stack */
	default: valid_insn(r, e); break;
	}
	if (t)
		c->diffable = false;
}

/* ---- prologue: descriptors, tables, timer, CPL 3 ------------------------ */
static void build_tables(struct rd *r, uint8_t *img, struct fuzz_case *c)
{
	/* GDT: null, kernel code 0x08, kernel data 0x10, user data 0x18, user
	 * code 0x20, TSS 0x28 (16 bytes); sometimes one descriptor damaged */
	uint64_t gdt[7] = { 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull, 0x00cff2000000ffffull,
			    0x00affa000000ffffull, 0, 0 };
	uint64_t tss = IMG + O_TSS;
	gdt[5] = 0x67 | (tss & 0xffffff) << 16 | 0x89ull << 40 | ((tss >> 24) & 0xff) << 56;
	gdt[6] = tss >> 32;
	if (coin(r, 4)) {
		unsigned k = 1 + pick(r, 5);
		gdt[k] ^= 1ull << (40 + pick(r, 16));             /* access byte / flags bit flipped */
	}
	memcpy(img + O_GDT, gdt, sizeof gdt);

	/* handler stubs: print the vector; exit with it, or drop the error code and IRETQ */
	bool iret_all = coin(r, 2);
	for (unsigned v = 0; v < 256; v++) {
		uint8_t *s = img + O_HAND + 16 * v;
		unsigned k = 0;
		s[k++] = 0xb0; s[k++] = (uint8_t)v;              /* mov al, v */
		s[k++] = 0xe6; s[k++] = 0xe9;                    /* out 0xe9, al */
		bool errc = v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
		if (iret_all || v >= 32) {
			if (errc) { s[k++] = 0x48; s[k++] = 0x83; s[k++] = 0xc4; s[k++] = 0x08; }  /* add rsp, 8 */
			s[k++] = 0x48; s[k++] = 0xcf;                /* iretq */
		} else {
			s[k++] = 0xe6; s[k++] = 0xf4;                /* out 0xf4, al: exit with the vector */
			s[k++] = 0xf4;                               /* hlt */
		}
	}
	/* IDT: every gate to its stub; some random: absent, DPL 3, IST, trap type, odd selector or target */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t off = IMG + O_HAND + 16 * v;
		uint16_t sel = 0x08;
		uint8_t ist = 0, attr = 0x8e;
		if (coin(r, 16)) {
			switch (pick(r, 6)) {
			case 0: attr &= 0x7f; break;                     /* not present */
			case 1: attr |= 0x60; break;                     /* DPL 3 */
			case 2: ist = (uint8_t)(1 + pick(r, 7)); break;  /* IST 1..7 (3..7 are zero: a bad stack) */
			case 3: attr = 0x8f; break;                      /* trap gate */
			case 4: sel = (uint16_t)(u8(r) & 0x3f); break;
			default: off = boundary(r); break;
			}
		}
		uint8_t *g = img + O_IDT + 16 * v;
		memset(g, 0, 16);
		g[0] = (uint8_t)off; g[1] = (uint8_t)(off >> 8);
		g[2] = (uint8_t)sel; g[3] = (uint8_t)(sel >> 8);
		g[4] = ist; g[5] = attr;
		g[6] = (uint8_t)(off >> 16); g[7] = (uint8_t)(off >> 24);
		uint32_t hi = (uint32_t)(off >> 32);
		memcpy(g + 8, &hi, 4);
	}
	if (c->user)                                              /* INT 0x80 style gate open to CPL 3 */
		img[O_IDT + 16 * 0x80 + 5] |= 0x60;
	/* TSS: RSP0 and two IST stacks; sometimes a hostile RSP0 */
	put64(img, O_TSS + 4, coin(r, 8) ? boundary(r) : IMG + O_KSTK);
	put64(img, O_TSS + 0x24, IMG + O_IST1);
	put64(img, O_TSS + 0x2c, IMG + O_IST2);
	img[O_TSS + 0x66] = 0x68;                                  /* no I/O bitmap */

	/* own page tables: the image's 2 MiB in 4K pages, RAM above in a 2M
	 * page, everything user-accessible (CPL 3 runs the same code); then a
	 * few hostile entries where nothing essential lives */
	put64(img, O_PML4, IMG + O_PDPT + 0x27);
	put64(img, O_PDPT, IMG + O_PD + 0x27);
	put64(img, O_PD, IMG + O_PT + 0x27);
	put64(img, O_PD + 8, 0x200000 | 0xa7);
	for (unsigned i = 0; i < 512; i++)
		put64(img, O_PT + 8 * i, (uint64_t)i << 12 | 0x67);
	for (unsigned i = 0; i < 512; i++)
		put64(img, O_XTBL + 8 * i, hostile_pte(r));
	unsigned nh = pick(r, 6);
	for (unsigned k = 0; k < nh; k++) {
		switch (pick(r, 4)) {
		case 0: put64(img, O_PML4 + 8 * (1 + pick(r, 511)), hostile_pte(r)); break;
		case 1: put64(img, O_PDPT + 8 * (1 + pick(r, 511)), hostile_pte(r)); break;
		case 2: put64(img, O_PD + 8 * (2 + pick(r, 510)), hostile_pte(r)); break;
		default: put64(img, O_PT + 8 * (0x40 + pick(r, 0xc0)), hostile_pte(r)); break;  /* below the image */
		}
	}
}

static void prologue(struct rd *r, struct em *e, struct fuzz_case *c)
{
	uint8_t *img = e->img;
	/* descriptor-table pointers in the data area: GDTR at +0, IDTR at +16 */
	uint16_t gl = 7 * 8 - 1, il = 256 * 16 - 1;
	uint64_t gb = IMG + O_GDT, ib = IMG + O_IDT;
	memcpy(img + O_DATA, &gl, 2); memcpy(img + O_DATA + 2, &gb, 8);
	memcpy(img + O_DATA + 16, &il, 2); memcpy(img + O_DATA + 18, &ib, 8);

	mov_imm64(e, RAX, IMG + O_DATA);
	b1(e, 0x0f); b1(e, 0x01); b1(e, 0x10);                    /* lgdt [rax] */
	b1(e, 0x0f); b1(e, 0x01); b1(e, 0x58); b1(e, 0x10);       /* lidt [rax+16] */
	mov_imm64(e, RSP, IMG + O_KSTK);
	mov_imm32(e, RAX, 0x10);
	b1(e, 0x8e); b1(e, 0xd8); b1(e, 0x8e); b1(e, 0xc0); b1(e, 0x8e); b1(e, 0xd0);   /* mov ds/es/ss, ax */
	b1(e, 0x6a); b1(e, 0x08);                                 /* push 0x08 */
	b1(e, 0xe8); b4(e, 0);                                    /* call next (pushes its address) */
	b1(e, 0x48); b1(e, 0x83); b1(e, 0x04); b1(e, 0x24); b1(e, 7);   /* add qword [rsp], 7 */
	b1(e, 0x48); b1(e, 0xcb);                                 /* retfq: CS reloaded from the new GDT */
	mov_imm32(e, RAX, 0x28);
	b1(e, 0x0f); b1(e, 0x00); b1(e, 0xd8);                    /* ltr ax */
	if (c->own_tables) {
		mov_imm64(e, RAX, IMG + O_PML4);
		b1(e, 0x0f); b1(e, 0x22); b1(e, 0xd8);                /* mov cr3, rax */
	}
	if (c->timer) {                                           /* x2APIC on; timer vector 0x20, periodic or one-shot */
		mov_imm32(e, RCX, 0x1b);
		b1(e, 0x0f); b1(e, 0x32);                             /* rdmsr */
		b1(e, 0x0d); b4(e, 0xc00);                            /* or eax, 0xc00 (EN | EXTD) */
		b1(e, 0x0f); b1(e, 0x30);                             /* wrmsr */
		wrmsr_seq(e, 0x83e, pick(r, 12));
		wrmsr_seq(e, 0x832, 0x20 | (coin(r, 2) ? 1u << 17 : 0));
		wrmsr_seq(e, 0x838, 1 + (u32(r) & 0xfff));
	}
	/* registers: rbx the data pointer, the rest boundary values */
	for (unsigned g = 0; g < 16; g++)
		if (g != RSP && g != RBX && coin(r, 2))
			mov_imm64(e, g, boundary(r));
	mov_imm64(e, RBX, IMG + O_DPTR);
	if (c->user) {                                            /* iretq to CPL 3 */
		uint64_t fl = 0x2 | (coin(r, 2) ? 0x200 : 0) | (coin(r, 3) ? 0x3000 : 0);
		b1(e, 0x6a); b1(e, 0x1b);                             /* push ss 0x1b */
		mov_imm64(e, RAX, IMG + O_USTK); b1(e, 0x50);         /* push rsp */
		mov_imm64(e, RAX, fl); b1(e, 0x50);                   /* push rflags */
		b1(e, 0x6a); b1(e, 0x23);                             /* push cs 0x23 */
		b1(e, 0xe8); b4(e, 0);                                /* call next */
		b1(e, 0x48); b1(e, 0x83); b1(e, 0x04); b1(e, 0x24); b1(e, 7);   /* add qword [rsp], 7 */
		b1(e, 0x48); b1(e, 0xcf);                             /* iretq */
	} else if (c->timer && coin(r, 2)) {
		b1(e, 0xfb);                                          /* sti */
	}
}

void fuzz_gen(const uint8_t *data, size_t n, struct fuzz_case *c)
{
	static uint8_t img[FUZZ_IMAGE_SIZE];
	struct rd r = { data, n, 0 };
	memset(c, 0, sizeof *c);
	memset(img, 0, sizeof img);
	uint8_t h = u8(&r);
	c->body = (enum fuzz_body)(h % FUZZ_BODY_KINDS);
	c->user = (h >> 2) & 1;
	c->timer = ((h >> 3) & 3) == 0;
	c->own_tables = (h >> 5) & 1 || c->user;
	c->diffable = c->body != FUZZ_BODY_BYTES && !c->timer;

	build_tables(&r, img, c);
	struct em e = { img, O_CODE, CODE_END };
	prologue(&r, &e, c);
	unsigned count = 1 + pick(&r, 64);
	for (unsigned k = 0; k < count && e.pos < CODE_END - 64; k++) {
		switch (c->body) {
		case FUZZ_BODY_BYTES: b1(&e, u8(&r)); break;
		case FUZZ_BODY_VALID: valid_insn(&r, &e); break;
		default: sys_insn(&r, &e, c); break;
		}
	}
	if (c->body == FUZZ_BODY_BYTES)                           /* the rest of the input, raw */
		while (r.i < r.n && e.pos < CODE_END - 64)
			b1(&e, u8(&r));
	e.end = O_HAND;
	exit_seq(&e, 0);
	b1(&e, 0xf4);
	c->elf_len = vl_test_mini_elf(c->elf, IMG, img, FUZZ_IMAGE_SIZE, PF_RWX);
	snprintf(c->desc, sizeof c->desc, "body %s, %u steps, %s%s%s, %zu input bytes", fuzz_body_name[c->body], count,
		 c->user ? "cpl3" : "cpl0", c->timer ? ", timer" : "", c->own_tables ? ", own tables" : "", n);
}
