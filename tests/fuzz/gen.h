/* gen.h — the structure-aware hostile-guest generator of the fuzz harness.
 *
 * Input bytes (from libFuzzer, a corpus file or a seeded PRNG) drive every
 * choice; the output is a complete one-segment ELF64 guest image: a hostile
 * but valid prologue (its own GDT, IDT with random gates, TSS with RSP0/IST,
 * optionally its own page tables with entries pointing beyond memory, into
 * the monitor window or at the APIC page, optionally an armed APIC timer and
 * a drop to CPL 3), then a body of random bytes, random valid instructions,
 * or random system instructions with boundary operands, then the exit port.
 * The same bytes always give the same image (no other input). */
#ifndef VL_FUZZ_GEN_H
#define VL_FUZZ_GEN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_IMAGE_PA   0x100000ull
#define FUZZ_IMAGE_SIZE 0x20000u          /* code, handlers, tables, data, stacks */
#define FUZZ_ELF_MAX    (FUZZ_IMAGE_SIZE + 256)

/* Per-case limits: every engine stops at these at the latest. */
#define FUZZ_MAX_INSNS  20000ull
#define FUZZ_MAX_CYCLES 20000000ull

enum fuzz_body { FUZZ_BODY_BYTES, FUZZ_BODY_VALID, FUZZ_BODY_SYSTEM, FUZZ_BODY_KINDS };

struct fuzz_case {
	uint8_t elf[FUZZ_ELF_MAX];
	size_t elf_len;
	enum fuzz_body body;
	bool user;              /* the body runs at CPL 3 */
	bool timer;             /* the APIC timer is armed */
	bool own_tables;        /* the guest switched to its own page tables */
	/* false when the outcome may legitimately differ between engines: the
	 * body may read time (RDTSC, RDPMC, the PM timer, an armed timer), ask
	 * CPUID (a VMM announces itself), or be raw bytes that could do either */
	bool diffable;
	char desc[160];         /* one line: what the generator chose */
};

/* Build a case from data[0..n). Always succeeds (missing bytes read as 0). */
void fuzz_gen(const uint8_t *data, size_t n, struct fuzz_case *c);

extern const char *const fuzz_body_name[FUZZ_BODY_KINDS];
#endif
