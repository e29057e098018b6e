/* multiboot.c — Multiboot v1 boot (platform half): recognising the image
 * kind, loading an ELF32/ELF64 kernel that carries a Multiboot header, the
 * boot information structure, the ACPI tables in the BIOS area, and the
 * 32-bit protected-mode entry state of the Multiboot specification 0.6.96
 * ("Machine state"): EAX = 0x2BADB002, EBX = the info structure, CS/DS/ES/
 * FS/GS/SS flat 4 GiB (32-bit), CR0.PE = 1, CR0.PG = 0, IF = 0.
 *
 * Every check happens before a byte is copied; each failure is one line.
 * Images the machine cannot boot (a boot sector / 16-bit real-mode kernel,
 * a Linux bzImage, a PE/COFF file) are named and refused. */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "multiboot.h"

#define MB_MAGIC       0x1BADB002u
#define MB_BOOT_MAGIC  0x2BADB002u
#define MB_SEARCH      8192u          /* the header is within the first 8 KiB, 4-byte aligned */
#define MB_KNOWN_REQ   0x7u           /* bits 0-2 of flags 0-15: page-align modules, memory info, video */
#define MB_AOUT_KLUDGE (1u << 16)
#define MB_MAX_SEGS    64

/* Low-MiB layout of the boot structures (the 64-bit guest ABI uses 0x1000-0x8000). */
#define MB_GDT         VL_BOOT_GDT
#define MB_INFO        0x9000ull
#define MB_MMAP        0x9100ull
#define MB_LOADER_NAME 0x9400ull
#define ACPI_BASE      0xf0000ull     /* RSDP first: found by the BIOS-area scan */
#define ACPI_RSDT      (ACPI_BASE + 0x40)
#define ACPI_XSDT      (ACPI_BASE + 0x80)
#define ACPI_FADT      (ACPI_BASE + 0x100)
#define ACPI_DSDT      (ACPI_BASE + 0x200)
#define ACPI_MADT      (ACPI_BASE + 0x300)
#define IOAPIC_BASE    0xfec00000u
#define LAPIC_BASE     0xfee00000u

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of a Multiboot v1 header whose magic matches, or -1. */
static long mb_find(const uint8_t *img, size_t len)
{
	for (size_t off = 0; off + 12 <= len && off < MB_SEARCH; off += 4)
		if (rd32(img + off) == MB_MAGIC)
			return (long)off;
	return -1;
}

int vl_mb_classify(const uint8_t *img, size_t len, char *err, size_t errlen)
{
	long off = mb_find(img, len);
	bool elf = len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;

	if (off >= 0)
		return VL_IMG_MULTIBOOT;
	if (elf) {
		if (len > EI_CLASS && img[EI_CLASS] == ELFCLASS32)
			return vl_errf(err, errlen, "ELF: not a 64-bit image (class 1) and no Multiboot header: no 32-bit "
				      "entry protocol to boot it with (a Multiboot v1 header is needed)");
		return VL_IMG_ELF64;
	}
	if (len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
		return vl_errf(err, errlen, "Linux bzImage: its real-mode setup needs a BIOS and the Linux boot "
			      "protocol, neither is modelled (use a Multiboot or ELF64 image)");
	if (len >= 2 && img[0] == 'M' && img[1] == 'Z')
		return vl_errf(err, errlen, "PE/COFF (MZ) image: UEFI firmware is not modelled (use a Multiboot or "
			      "ELF64 image)");
	if (len >= 512 && img[510] == 0x55 && img[511] == 0xaa)
		return vl_errf(err, errlen, "boot sector (16-bit real-mode code): needs a BIOS and real mode, neither is "
			      "modelled (use a Multiboot or ELF64 image)");
	return vl_errf(err, errlen, "ELF: bad magic (not an ELF file) and no Multiboot header in the first 8 KiB: "
		      "nothing to boot (16-bit real-mode kernels are not modelled)");
}

struct mb_seg {
	uint64_t off, filesz, paddr, memsz;
	bool exec;
};

/* Program headers of an ELF32 or ELF64 image, PT_LOAD only; validated. */
static int mb_elf_segs(const struct vl_machine *m, const uint8_t *img, size_t len, struct mb_seg *sg, size_t *n,
		       uint64_t *entry, char *err, size_t errlen)
{
	bool is64 = img[EI_CLASS] == ELFCLASS64;
	uint64_t phoff, phnum, phentsize;

	if (img[EI_CLASS] != ELFCLASS32 && img[EI_CLASS] != ELFCLASS64)
		return vl_errf(err, errlen, "Multiboot ELF: unknown class %u", img[EI_CLASS]);
	if (img[EI_DATA] != ELFDATA2LSB)
		return vl_errf(err, errlen, "Multiboot ELF: not little-endian");
	if (is64) {
		Elf64_Ehdr eh;
		if (len < sizeof eh)
			return vl_errf(err, errlen, "Multiboot ELF: truncated header");
		memcpy(&eh, img, sizeof eh);
		if (eh.e_machine != EM_X86_64 || eh.e_type != ET_EXEC)
			return vl_errf(err, errlen, "Multiboot ELF64: machine %u type %u (need x86-64 ET_EXEC)", eh.e_machine,
				      eh.e_type);
		phoff = eh.e_phoff; phnum = eh.e_phnum; phentsize = eh.e_phentsize; *entry = eh.e_entry;
		if (phentsize != sizeof(Elf64_Phdr))
			return vl_errf(err, errlen, "Multiboot ELF: program header size %llu", (unsigned long long)phentsize);
	} else {
		Elf32_Ehdr eh;
		if (len < sizeof eh)
			return vl_errf(err, errlen, "Multiboot ELF: truncated header");
		memcpy(&eh, img, sizeof eh);
		if (eh.e_machine != EM_386 || eh.e_type != ET_EXEC)
			return vl_errf(err, errlen, "Multiboot ELF32: machine %u type %u (need i386 ET_EXEC)", eh.e_machine,
				      eh.e_type);
		phoff = eh.e_phoff; phnum = eh.e_phnum; phentsize = eh.e_phentsize; *entry = eh.e_entry;
		if (phentsize != sizeof(Elf32_Phdr))
			return vl_errf(err, errlen, "Multiboot ELF: program header size %llu", (unsigned long long)phentsize);
	}
	if (phnum == 0 || phnum > MB_MAX_SEGS)
		return vl_errf(err, errlen, "Multiboot ELF: %llu program headers (1..%d supported)",
			      (unsigned long long)phnum, MB_MAX_SEGS);
	if (phoff > len || phnum * phentsize > len - phoff)
		return vl_errf(err, errlen, "Multiboot ELF: truncated (program headers beyond end of file)");
	*n = 0;
	bool entry_ok = false;
	for (uint64_t k = 0; k < phnum; k++) {
		struct mb_seg s;
		uint32_t type, flags;
		if (is64) {
			Elf64_Phdr p;
			memcpy(&p, img + phoff + k * phentsize, sizeof p);
			type = p.p_type; flags = p.p_flags;
			s = (struct mb_seg){ p.p_offset, p.p_filesz, p.p_paddr, p.p_memsz, false };
		} else {
			Elf32_Phdr p;
			memcpy(&p, img + phoff + k * phentsize, sizeof p);
			type = p.p_type; flags = p.p_flags;
			s = (struct mb_seg){ p.p_offset, p.p_filesz, p.p_paddr, p.p_memsz, false };
		}
		if (type != PT_LOAD)
			continue;
		s.exec = (flags & PF_X) != 0;
		if (s.filesz > s.memsz)
			return vl_errf(err, errlen, "Multiboot ELF: segment %llu: file size exceeds memory size",
				      (unsigned long long)k);
		if (s.off > len || s.filesz > len - s.off)
			return vl_errf(err, errlen, "Multiboot ELF: truncated (segment %llu data beyond end of file)",
				      (unsigned long long)k);
		if (s.paddr < VL_GUEST_LOAD_MIN)
			return vl_errf(err, errlen, "Multiboot ELF: segment %llu at %#llx overlaps the low MiB (boot "
				      "structures, BIOS area)", (unsigned long long)k, (unsigned long long)s.paddr);
		if (s.paddr > m->ram_size || s.memsz > m->ram_size - s.paddr)
			return vl_errf(err, errlen, "Multiboot ELF: segment %llu [%#llx, +%#llx) does not fit in %llu MiB "
				      "of guest RAM", (unsigned long long)k, (unsigned long long)s.paddr,
				      (unsigned long long)s.memsz, (unsigned long long)(m->ram_size >> 20));
		for (size_t j = 0; j < *n; j++)
			if (s.memsz && sg[j].memsz && s.paddr < sg[j].paddr + sg[j].memsz && sg[j].paddr < s.paddr + s.memsz)
				return vl_errf(err, errlen, "Multiboot ELF: two segments overlap in physical memory "
					      "(at %#llx and %#llx)", (unsigned long long)sg[j].paddr,
					      (unsigned long long)s.paddr);
		if (s.exec && *entry >= s.paddr && *entry < s.paddr + s.memsz)
			entry_ok = true;
		sg[(*n)++] = s;
	}
	if (!*n)
		return vl_errf(err, errlen, "Multiboot ELF: no PT_LOAD segment");
	if (!entry_ok || *entry > 0xffffffffu)
		return vl_errf(err, errlen, "Multiboot ELF: entry %#llx is not inside an executable loaded segment "
			      "below 4 GiB", (unsigned long long)*entry);
	return 0;
}

/* ---- ACPI tables (ACPI 6.x layouts; OEM "VIRTLB") ------------------------------ */
static void acpi_sum(struct vl_machine *m, uint64_t pa, size_t len, size_t at)
{
	uint8_t s = 0;
	m->mem[pa + at] = 0;
	for (size_t k = 0; k < len; k++)
		s = (uint8_t)(s + m->mem[pa + k]);
	m->mem[pa + at] = (uint8_t)(0x100 - s);
}

static void acpi_hdr(struct vl_machine *m, uint64_t pa, const char *sig, uint32_t len, uint8_t rev)
{
	uint8_t *h = m->mem + pa;
	memcpy(h, sig, 4);
	memcpy(h + 4, &len, 4);
	h[8] = rev;
	memcpy(h + 10, "VIRTLB", 6);
	memcpy(h + 16, "VIRTLAB ", 8);
	uint32_t one = 1;
	memcpy(h + 24, &one, 4);            /* OEM revision */
	memcpy(h + 28, "VLAB", 4);          /* creator */
	memcpy(h + 32, &one, 4);
}

static void put32(struct vl_machine *m, uint64_t pa, uint32_t v) { memcpy(m->mem + pa, &v, 4); }
static void put64(struct vl_machine *m, uint64_t pa, uint64_t v) { memcpy(m->mem + pa, &v, 8); }

/* RSDP (revision 2) -> RSDT and XSDT -> FADT (PM timer port) and MADT (one
 * local APIC, one I/O APIC); FADT -> a header-only DSDT. */
static void acpi_build(struct vl_machine *m)
{
	/* FADT, ACPI 1.0 layout (116 bytes): the fields before PM_TMR_LEN are what guests read */
	acpi_hdr(m, ACPI_FADT, "FACP", 116, 1);
	put32(m, ACPI_FADT + 40, (uint32_t)ACPI_DSDT);
	put32(m, ACPI_FADT + 76, VL_PORT_PMTIMER_DEFAULT);   /* PM_TMR_BLK */
	m->mem[ACPI_FADT + 91] = 4;                          /* PM_TMR_LEN; flags TMR_VAL_EXT = 0: 24 bits */
	acpi_sum(m, ACPI_FADT, 116, 9);
	acpi_hdr(m, ACPI_DSDT, "DSDT", 36, 1);
	acpi_sum(m, ACPI_DSDT, 36, 9);
	/* MADT: local APIC address, PCAT_COMPAT, processor local APIC 0, I/O APIC 1 at 0xfec00000 */
	uint32_t madt_len = 36 + 8 + 8 + 12;
	acpi_hdr(m, ACPI_MADT, "APIC", madt_len, 1);
	put32(m, ACPI_MADT + 36, LAPIC_BASE);
	put32(m, ACPI_MADT + 40, 1);
	const uint8_t lapic[8] = { 0, 8, 0, 0, 1, 0, 0, 0 };
	memcpy(m->mem + ACPI_MADT + 44, lapic, 8);
	const uint8_t ioapic[12] = { 1, 12, 1, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0 };
	memcpy(m->mem + ACPI_MADT + 52, ioapic, 12);
	acpi_sum(m, ACPI_MADT, madt_len, 9);
	/* RSDT (32-bit pointers) and XSDT (64-bit) */
	acpi_hdr(m, ACPI_RSDT, "RSDT", 36 + 8, 1);
	put32(m, ACPI_RSDT + 36, (uint32_t)ACPI_FADT);
	put32(m, ACPI_RSDT + 40, (uint32_t)ACPI_MADT);
	acpi_sum(m, ACPI_RSDT, 44, 9);
	acpi_hdr(m, ACPI_XSDT, "XSDT", 36 + 16, 1);
	put64(m, ACPI_XSDT + 36, ACPI_FADT);
	put64(m, ACPI_XSDT + 44, ACPI_MADT);
	acpi_sum(m, ACPI_XSDT, 52, 9);
	/* RSDP: checksum over the first 20 bytes, extended checksum over all 36 */
	uint8_t *r = m->mem + ACPI_BASE;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "VIRTLB", 6);
	r[15] = 2;
	put32(m, ACPI_BASE + 16, (uint32_t)ACPI_RSDT);
	put32(m, ACPI_BASE + 20, 36);
	put64(m, ACPI_BASE + 24, ACPI_XSDT);
	acpi_sum(m, ACPI_BASE, 20, 8);
	acpi_sum(m, ACPI_BASE, 36, 32);
}

/* ---- the info structure and the entry state ----------------------------------- */
static void mb_mmap_ent(struct vl_machine *m, uint64_t *pa, uint64_t base, uint64_t len, uint32_t type)
{
	put32(m, *pa, 20);
	put64(m, *pa + 4, base);
	put64(m, *pa + 12, len);
	put32(m, *pa + 20, type);
	*pa += 24;
}

static void mb_boot_state(struct vl_machine *m, uint64_t entry, const char *cmdline)
{
	struct vl_cpu *c = &m->cpu;
	static const uint64_t gdt[3] = {
		0,
		0x00cf9b000000ffffull,   /* 0x08: flat 32-bit code, DPL 0 */
		0x00cf93000000ffffull,   /* 0x10: flat data, DPL 0 */
	};
	static const char name[] = "virtlab";

	memset(m->mem, 0, VL_GUEST_LOAD_MIN);
	vl_phys_write(m, MB_GDT, gdt, sizeof gdt);
	vl_phys_write(m, VL_BOOT_CMDLINE, cmdline, strlen(cmdline) + 1);
	vl_phys_write(m, MB_LOADER_NAME, name, sizeof name);
	/* memory map as QEMU/SeaBIOS give it: conventional memory, EBDA, BIOS area, RAM above 1 MiB */
	uint64_t pa = MB_MMAP;
	mb_mmap_ent(m, &pa, 0, 0x9fc00, 1);
	mb_mmap_ent(m, &pa, 0x9fc00, 0x400, 2);
	mb_mmap_ent(m, &pa, 0xf0000, 0x10000, 2);
	mb_mmap_ent(m, &pa, VL_GUEST_LOAD_MIN, m->ram_size - VL_GUEST_LOAD_MIN, 1);
	/* flags: mem_lower/upper (0), cmdline (2), mmap (6), boot loader name (9) */
	put32(m, MB_INFO + 0, (1u << 0) | (1u << 2) | (1u << 6) | (1u << 9));
	put32(m, MB_INFO + 4, 639);
	put32(m, MB_INFO + 8, (uint32_t)((m->ram_size - VL_GUEST_LOAD_MIN) >> 10));
	put32(m, MB_INFO + 16, (uint32_t)VL_BOOT_CMDLINE);
	put32(m, MB_INFO + 44, (uint32_t)(pa - MB_MMAP));
	put32(m, MB_INFO + 48, (uint32_t)MB_MMAP);
	put32(m, MB_INFO + 64, (uint32_t)MB_LOADER_NAME);
	acpi_build(m);
	vl_mem_note_write(m, 0, VL_GUEST_LOAD_MIN);

	vl_cpu_reset(m);
	vl_dev_reset(m);
	memset(c->gpr, 0, sizeof(c->gpr));
	c->gpr[VL_RAX] = MB_BOOT_MAGIC;
	c->gpr[VL_RBX] = MB_INFO;
	c->rip = entry;
	c->rflags = 0x2;
	c->cr0 = VL_CR0_PE | (1ull << 4) /* ET */;
	c->cr3 = 0;
	c->cr4 = 0;
	c->efer = 0;
	c->gdtr.base = MB_GDT;
	c->gdtr.limit = sizeof(gdt) - 1;
	c->idtr.base = 0;
	c->idtr.limit = 0;
	for (int s = 0; s < 6; s++)
		c->seg[s] = (struct vl_seg){ .sel = VL_BOOT_DS, .base = 0, .limit = 0xffffffff, .attr = 0xc093 };
	c->seg[VL_CS] = (struct vl_seg){ .sel = VL_BOOT_CS, .base = 0, .limit = 0xffffffff, .attr = 0xc09b };
	c->cpl = 0;
	c->halted = false;
	m->boot_multiboot = true;
	m->state = VL_M_RUNNING;
	vl_tlb_flush_all(m);
}

int vl_mb_load(struct vl_machine *m, const uint8_t *img, size_t len, const char *cmdline, char *err, size_t errlen)
{
	long off = mb_find(img, len);
	struct mb_seg sg[MB_MAX_SEGS];
	size_t n = 0;
	uint64_t entry = 0;

	if (off < 0)
		return vl_errf(err, errlen, "no Multiboot header");
	uint32_t flags = rd32(img + off + 4), sum = rd32(img + off + 8);
	if ((uint32_t)(MB_MAGIC + flags + sum) != 0)
		return vl_errf(err, errlen, "Multiboot header at %#lx: bad checksum (magic + flags + checksum = %#x, "
			      "must be 0)", off, (unsigned)(MB_MAGIC + flags + sum));
	if (flags & 0xffffu & ~MB_KNOWN_REQ)
		return vl_errf(err, errlen, "Multiboot header: required feature flags %#x not supported (known: bits 0-2)",
			      flags & 0xffffu & ~MB_KNOWN_REQ);
	if (strlen(cmdline) >= VL_BOOT_CMDLINE_MAX)
		return vl_errf(err, errlen, "command line too long (%zu bytes, max %d)", strlen(cmdline),
			      VL_BOOT_CMDLINE_MAX - 1);
	if (len < SELFMAG || memcmp(img, ELFMAG, SELFMAG) != 0) {
		if (flags & MB_AOUT_KLUDGE)
			return vl_errf(err, errlen, "Multiboot a.out-kludge image (header address fields): not supported, "
				      "only ELF kernels with a Multiboot header");
		return vl_errf(err, errlen, "Multiboot image is not ELF and sets no a.out-kludge fields");
	}
	if (mb_elf_segs(m, img, len, sg, &n, &entry, err, errlen))
		return -1;
	for (size_t k = 0; k < n; k++) {
		vl_phys_write(m, sg[k].paddr, img + sg[k].off, sg[k].filesz);
		memset(m->mem + sg[k].paddr + sg[k].filesz, 0, sg[k].memsz - sg[k].filesz);
		vl_mem_note_write(m, sg[k].paddr, sg[k].memsz);
	}
	mb_boot_state(m, entry, cmdline);
	return 0;
}
