/* mini_elf.c — see mini_elf.h. */
#include <elf.h>
#include <string.h>

#include "mini_elf.h"

size_t vl_test_mini_elf(uint8_t *buf, uint64_t pa, const void *code, size_t len, uint32_t pf)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof *eh);
	size_t off = sizeof *eh + sizeof *ph;
	memset(buf, 0, off);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = pa;
	eh->e_phoff = sizeof *eh;
	eh->e_ehsize = sizeof *eh;
	eh->e_phentsize = sizeof *ph;
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_flags = pf;
	ph->p_offset = off;
	ph->p_vaddr = ph->p_paddr = pa;
	ph->p_filesz = ph->p_memsz = len;
	ph->p_align = 0x1000;
	memcpy(buf + off, code, len);
	return off + len;
}
