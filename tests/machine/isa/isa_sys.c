/* isa_sys.c — harvest program for the decoder test (never run): the
 * system instructions of DESIGN.md's ISA as kernel C writes them (inline
 * asm with compiler-chosen operands): MOV CR/DR, LGDT/LIDT/LTR/SGDT/SIDT/
 * SLDT/STR/SMSW/LMSW, RDMSR/WRMSR, CPUID, RDTSC(P), RDPMC, IN/OUT and
 * INS/OUTS, CLI/STI, PUSHF/POPF, HLT, INVLPG, SWAPGS, SYSRETQ, IRETQ, INT
 * n/INT3/UD2, VMCALL/VMMCALL, MONITOR/MWAIT, XSETBV, CLTS, WBINVD, segment
 * register moves, and the region marker. */
#include <stdint.h>

uint64_t rd_cr0(void) { uint64_t v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
uint64_t rd_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
uint64_t rd_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
uint64_t rd_cr4(void) { uint64_t v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
uint64_t rd_cr8(void) { uint64_t v; __asm__ volatile("mov %%cr8, %0" : "=r"(v)); return v; }
void wr_cr0(uint64_t v) { __asm__ volatile("mov %0, %%cr0" ::"r"(v)); }
void wr_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
void wr_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" ::"r"(v)); }
void wr_cr8(uint64_t v) { __asm__ volatile("mov %0, %%cr8" ::"r"(v)); }
uint64_t rd_dr7(void) { uint64_t v; __asm__ volatile("mov %%dr7, %0" : "=r"(v)); return v; }
void wr_dr0(uint64_t v) { __asm__ volatile("mov %0, %%dr0" ::"r"(v)); }
void clts(void) { __asm__ volatile("clts"); }
uint16_t smsw(void) { uint16_t v; __asm__ volatile("smsw %0" : "=r"(v)); return v; }
void lmsw(uint16_t v) { __asm__ volatile("lmsw %0" ::"r"(v)); }

struct __attribute__((packed)) dtr { uint16_t limit; uint64_t base; };
void lgdt(const struct dtr *d) { __asm__ volatile("lgdt %0" ::"m"(*d)); }
void lidt(const struct dtr *d) { __asm__ volatile("lidt %0" ::"m"(*d)); }
void sgdt(struct dtr *d) { __asm__ volatile("sgdt %0" : "=m"(*d)); }
void sidt(struct dtr *d) { __asm__ volatile("sidt %0" : "=m"(*d)); }
void ltr(uint16_t s) { __asm__ volatile("ltr %0" ::"r"(s)); }
void lldt(uint16_t s) { __asm__ volatile("lldt %0" ::"r"(s)); }
uint16_t str_(void) { uint16_t v; __asm__ volatile("str %0" : "=r"(v)); return v; }
uint16_t sldt(void) { uint16_t v; __asm__ volatile("sldt %0" : "=r"(v)); return v; }
void str_mem(uint16_t *p) { __asm__ volatile("str %0" : "=m"(*p)); }
uint16_t rd_cs(void) { uint16_t v; __asm__ volatile("mov %%cs, %0" : "=r"(v)); return v; }
uint16_t rd_ss(void) { uint16_t v; __asm__ volatile("mov %%ss, %0" : "=r"(v)); return v; }
void wr_ds(uint16_t v) { __asm__ volatile("mov %0, %%ds" ::"r"(v)); }
void wr_ss_mem(const uint16_t *p) { __asm__ volatile("mov %0, %%ss" ::"m"(*p)); }
void wr_es(uint16_t v) { __asm__ volatile("mov %0, %%es" ::"r"(v)); }
void push_pop_fs(void) { __asm__ volatile("push %fs\n\tpop %fs\n\tpush %gs\n\tpop %gs"); }

uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return lo | (uint64_t)hi << 32;
}
void wrmsr(uint32_t msr, uint64_t v) { __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))); }
void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
uint64_t rdtsc(void) { uint32_t lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return lo | (uint64_t)hi << 32; }
uint64_t rdtscp(uint32_t *aux)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(*aux));
	return lo | (uint64_t)hi << 32;
}
uint64_t rdpmc(uint32_t c) { uint32_t lo, hi; __asm__ volatile("rdpmc" : "=a"(lo), "=d"(hi) : "c"(c)); return lo | (uint64_t)hi << 32; }
void xsetbv(uint32_t idx, uint64_t v) { __asm__ volatile("xsetbv" ::"c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))); }

uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
uint8_t inb_e9(void) { uint8_t v; __asm__ volatile("inb $0xe9, %0" : "=a"(v)); return v; }
void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
void outb_f4(uint8_t v) { __asm__ volatile("outb %0, $0xf4" ::"a"(v)); }
void outl_imm(uint32_t v) { __asm__ volatile("outl %0, $0x80" ::"a"(v)); }
void insb(uint16_t p, void *d, uint64_t n) { __asm__ volatile("rep insb" : "+D"(d), "+c"(n) : "d"(p) : "memory"); }
void insl(uint16_t p, void *d, uint64_t n) { __asm__ volatile("rep insl" : "+D"(d), "+c"(n) : "d"(p) : "memory"); }
void outsb(uint16_t p, const void *s, uint64_t n) { __asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"(p)); }
void outsw(uint16_t p, const void *s, uint64_t n) { __asm__ volatile("rep outsw" : "+S"(s), "+c"(n) : "d"(p)); }

void cli(void) { __asm__ volatile("cli" ::: "memory"); }
void sti(void) { __asm__ volatile("sti" ::: "memory"); }
void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
void hlt(void) { __asm__ volatile("hlt"); }
uint64_t save_fl(void) { uint64_t f; __asm__ volatile("pushfq; popq %0" : "=r"(f)); return f; }
void restore_fl(uint64_t f) { __asm__ volatile("pushq %0; popfq" ::"g"(f) : "memory", "cc"); }
void invlpg(const void *va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
void invlpg_off(const char *va) { __asm__ volatile("invlpg %0" ::"m"(va[4096])); }
void wbinvd(void) { __asm__ volatile("wbinvd"); }
void swapgs(void) { __asm__ volatile("swapgs"); }
uint64_t gs_read(void) { uint64_t v; __asm__ volatile("mov %%gs:8, %0" : "=r"(v)); return v; }
void fs_write(uint64_t v) { __asm__ volatile("mov %0, %%fs:0x10" ::"r"(v)); }
void sysretq(void) { __asm__ volatile("swapgs; sysretq"); }
void iretq(void) { __asm__ volatile("iretq"); }
void syscall0(void) { __asm__ volatile("syscall" ::: "rcx", "r11", "memory"); }
void int80(void) { __asm__ volatile("int $0x80"); }
void int3(void) { __asm__ volatile("int3"); }
void ud2(void) { __asm__ volatile("ud2"); }
long vmcall(long nr, long a) { long r; __asm__ volatile("vmcall" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }
long vmmcall(long nr, long a) { long r; __asm__ volatile("vmmcall" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }
void monitor_mwait(const void *p) { __asm__ volatile("monitor; mwait" ::"a"(p), "c"(0), "d"(0)); }
void pause_(void) { __asm__ volatile("pause"); }
void clflush(const void *p) { __asm__ volatile("clflush (%0)" ::"r"(p)); }
void fences(void) { __asm__ volatile("lfence; sfence; mfence" ::: "memory"); }
void prefetch(const void *p) { __builtin_prefetch(p, 0, 3); __builtin_prefetch(p, 1, 0); __builtin_prefetch((const char *)p + 64, 0, 1); }
void retf(void) { __asm__ volatile("lretq"); }
void leave_enter(void) { __asm__ volatile("enter $16, $0; leave; enter $8, $1; leave"); }
void xlat_(const uint8_t *t) { __asm__ volatile("xlatb" ::"b"(t) : "rax"); }
void string_ops(void *d, const void *s, uint64_t n)
{
	__asm__ volatile("cld; rep movsb; std; rep stosq; cld; repe cmpsb; repne scasw; lodsl; movsq; stosb"
			 : "+D"(d), "+S"(s), "+c"(n) : "a"(0) : "memory", "cc");
}
/* the region marker (include/virtlab/guest_abi.h: nopl VL_MARK_DISP(kind, region)(%rax)) */
void marker(void) { __asm__ volatile("nopl 0x564c0107(%rax)"); }
