/* loader.c — static ELF64 x86-64 loader and the boot state of
 * include/virtlab/guest_abi.h.
 *
 * Everything in the image is validated before a byte is copied: header
 * class/endianness/version/type/machine, program-header table bounds,
 * every PT_LOAD's file range, its physical range inside RAM and above the
 * reserved low MiB, no two segments overlapping, and the entry inside a
 * loaded executable segment. Each failure is a one-line reason. */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "multiboot.h"

#define LOADER_MAX_FILE (1ull << 30)
#define LOADER_MAX_PHDRS 64

int vl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Validate the image; fills *eh and phdrs (count in *nph). */
static int ld_check(const struct vl_machine *m, const uint8_t *img, size_t len, Elf64_Ehdr *eh,
		    Elf64_Phdr *ph, size_t *nph, char *err, size_t errlen)
{
	bool entry_ok = false;
	size_t nload = 0;

	if (len < sizeof(*eh))
		return vl_errf(err, errlen, "ELF: truncated (%zu bytes, header needs %zu)", len, sizeof(*eh));
	memcpy(eh, img, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return vl_errf(err, errlen, "ELF: bad magic (not an ELF file)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return vl_errf(err, errlen, "ELF: not a 64-bit image (class %u)", eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return vl_errf(err, errlen, "ELF: not little-endian");
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return vl_errf(err, errlen, "ELF: unsupported version");
	if (eh->e_machine != EM_X86_64)
		return vl_errf(err, errlen, "ELF: wrong machine %u (need x86-64)", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return vl_errf(err, errlen, "ELF: type %u is not ET_EXEC (static executable needed)", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return vl_errf(err, errlen, "ELF: program header size %u (expected %zu)", eh->e_phentsize,
			      sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0 || eh->e_phnum > LOADER_MAX_PHDRS)
		return vl_errf(err, errlen, "ELF: %u program headers (1..%d supported)", eh->e_phnum, LOADER_MAX_PHDRS);
	if (eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return vl_errf(err, errlen, "ELF: truncated (program headers beyond end of file)");
	*nph = eh->e_phnum;
	for (size_t i = 0; i < *nph; i++) {
		Elf64_Phdr *p = &ph[i];

		memcpy(p, img + eh->e_phoff + i * sizeof(*p), sizeof(*p));
		if (p->p_type != PT_LOAD)
			continue;
		nload++;
		if (p->p_filesz > p->p_memsz)
			return vl_errf(err, errlen, "ELF: segment %zu: file size %#llx exceeds memory size %#llx", i,
				      (unsigned long long)p->p_filesz, (unsigned long long)p->p_memsz);
		if (p->p_offset > len || p->p_filesz > len - p->p_offset)
			return vl_errf(err, errlen, "ELF: truncated (segment %zu data beyond end of file)", i);
		if (p->p_paddr < VL_GUEST_LOAD_MIN)
			return vl_errf(err, errlen, "ELF: segment %zu at %#llx overlaps the reserved low MiB (load at >= %#llx)",
				      i, (unsigned long long)p->p_paddr, (unsigned long long)VL_GUEST_LOAD_MIN);
		if (p->p_paddr > m->ram_size || p->p_memsz > m->ram_size - p->p_paddr)
			return vl_errf(err, errlen, "ELF: segment %zu [%#llx, +%#llx) does not fit in %llu MiB of guest RAM",
				      i, (unsigned long long)p->p_paddr, (unsigned long long)p->p_memsz,
				      (unsigned long long)(m->ram_size >> 20));
		for (size_t j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];
			if (q->p_type == PT_LOAD && p->p_memsz && q->p_memsz &&
			    p->p_paddr < q->p_paddr + q->p_memsz && q->p_paddr < p->p_paddr + p->p_memsz)
				return vl_errf(err, errlen, "ELF: segments %zu and %zu overlap in physical memory", j, i);
		}
		if ((p->p_flags & PF_X) && eh->e_entry >= p->p_paddr && eh->e_entry < p->p_paddr + p->p_memsz)
			entry_ok = true;
	}
	if (!nload)
		return vl_errf(err, errlen, "ELF: no PT_LOAD segment");
	if (!entry_ok)
		return vl_errf(err, errlen, "ELF: entry %#llx is not inside an executable loaded segment",
			      (unsigned long long)eh->e_entry);
	return 0;
}

/* The boot structures in the low MiB and the register state of guest_abi.h. */
static void ld_boot_state(struct vl_machine *m, uint64_t entry, const char *cmdline)
{
	struct vl_cpu *c = &m->cpu;
	static const uint64_t gdt[3] = {
		0,
		0x00af9b000000ffffull,   /* 0x08: 64-bit code, DPL 0, present, accessed */
		0x00cf93000000ffffull,   /* 0x10: data, read/write, DPL 0, present, accessed */
	};
	size_t cl = strlen(cmdline);

	memset(m->mem, 0, VL_GUEST_LOAD_MIN);
	vl_mem_note_write(m, 0, VL_GUEST_LOAD_MIN);
	vl_phys_write64(m, VL_BOOT_PML4, (VL_BOOT_PML4 + 0x1000) | 0x3);
	vl_phys_write64(m, VL_BOOT_PML4 + 0x1000, (VL_BOOT_PML4 + 0x2000) | 0x3);
	for (uint64_t i = 0; i < 512; i++)
		vl_phys_write64(m, VL_BOOT_PML4 + 0x2000 + i * 8, (i << 21) | 0x83);   /* P|RW|PS */
	vl_phys_write(m, VL_BOOT_GDT, gdt, sizeof(gdt));
	vl_phys_write(m, VL_BOOT_CMDLINE, cmdline, cl + 1);

	vl_cpu_reset(m);
	vl_dev_reset(m);
	memset(c->gpr, 0, sizeof(c->gpr));
	c->gpr[VL_RDI] = VL_BOOT_CMDLINE;
	c->gpr[VL_RSI] = m->ram_size;
	c->gpr[VL_RAX] = VL_BOOT_MAGIC;
	c->gpr[VL_RSP] = VL_BOOT_STACK_TOP;
	c->rip = entry;
	c->rflags = 0x2;
	c->cr0 = VL_CR0_PE | (1ull << 4) /* ET */ | VL_CR0_PG;
	c->cr3 = VL_BOOT_PML4;
	c->cr4 = VL_CR4_PAE;
	c->efer = VL_EFER_SCE | VL_EFER_LME | VL_EFER_LMA | VL_EFER_NXE;
	c->gdtr.base = VL_BOOT_GDT;
	c->gdtr.limit = sizeof(gdt) - 1;
	c->idtr.base = 0;
	c->idtr.limit = 0;
	for (int s = 0; s < 6; s++) {
		c->seg[s] = (struct vl_seg){ .sel = VL_BOOT_DS, .base = 0, .limit = 0xffffffff, .attr = 0xc093 };
	}
	c->seg[VL_CS] = (struct vl_seg){ .sel = VL_BOOT_CS, .base = 0, .limit = 0xffffffff, .attr = 0xa09b };
	c->cpl = 0;
	c->halted = false;
	m->state = VL_M_RUNNING;
	vl_tlb_flush_all(m);
}

int vl_machine_load_elf_mem(struct vl_machine *m, const uint8_t *img, size_t len, const char *cmdline,
			    char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[LOADER_MAX_PHDRS];
	size_t nph = 0;

	if (!cmdline)
		cmdline = "";
	if (img) {
		int kind = vl_mb_classify(img, len, err, errlen);
		if (kind < 0)
			return -1;
		if (kind == VL_IMG_MULTIBOOT)
			return vl_mb_load(m, img, len, cmdline, err, errlen);
	}
	m->boot_multiboot = false;
	if (strlen(cmdline) >= VL_BOOT_CMDLINE_MAX)
		return vl_errf(err, errlen, "command line too long (%zu bytes, max %d)", strlen(cmdline),
			      VL_BOOT_CMDLINE_MAX - 1);
	if (!img)
		return vl_errf(err, errlen, "ELF: no image");
	if (ld_check(m, img, len, &eh, ph, &nph, err, errlen))
		return -1;
	for (size_t i = 0; i < nph; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		vl_phys_write(m, ph[i].p_paddr, img + ph[i].p_offset, ph[i].p_filesz);
		memset(m->mem + ph[i].p_paddr + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
		vl_mem_note_write(m, ph[i].p_paddr, ph[i].p_memsz);
	}
	ld_boot_state(m, eh.e_entry, cmdline);
	return 0;
}

int vl_machine_load_elf(struct vl_machine *m, const char *path, const char *cmdline, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	uint8_t *img = NULL;
	long sz;
	int rc = -1;

	if (!f)
		return vl_errf(err, errlen, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		vl_errf(err, errlen, "%s: cannot determine size", path);
		goto out;
	}
	if ((uint64_t)sz > LOADER_MAX_FILE) {
		vl_errf(err, errlen, "%s: image too large (%ld bytes)", path, sz);
		goto out;
	}
	img = malloc(sz ? (size_t)sz : 1);
	if (!img) {
		vl_errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (fread(img, 1, (size_t)sz, f) != (size_t)sz) {
		vl_errf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (vl_mb_classify(img, (size_t)sz, NULL, 0) == VL_IMG_MULTIBOOT) {
		/* As GRUB and QEMU do, the Multiboot command line starts with the
		 * kernel's name (kvm-unit-tests take it as argv[0]); the basename
		 * keeps runs independent of where the file lies. */
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		char *full = malloc(strlen(base) + strlen(cmdline ? cmdline : "") + 2);
		if (!full) {
			vl_errf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		sprintf(full, "%s%s%s", base, cmdline && *cmdline ? " " : "", cmdline ? cmdline : "");
		rc = vl_machine_load_elf_mem(m, img, (size_t)sz, full, err, errlen);
		free(full);
	} else {
		rc = vl_machine_load_elf_mem(m, img, (size_t)sz, cmdline, err, errlen);
	}
	if (rc && err && errlen) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s: %s", path, err);
		snprintf(err, errlen, "%s", tmp);
	}
out:
	free(img);
	fclose(f);
	return rc;
}

bool vl_image_is_multiboot(const char *path)
{
	uint8_t buf[8192];
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	return vl_mb_classify(buf, n, NULL, 0) == VL_IMG_MULTIBOOT;
}
