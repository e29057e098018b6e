/* embed.S — the user program ELF image, linked into the kernel's .rodata. */
	.section .rodata
	.balign 16
	.globl user_elf_start, user_elf_end
user_elf_start:
	.incbin USER_ELF
user_elf_end:

	.section .note.GNU-stack, "", @progbits
