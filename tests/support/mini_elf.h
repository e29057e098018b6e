/* mini_elf.h — a one-segment static ELF64 image in memory, for tests that
 * boot a few bytes of guest code with vl_machine_load_elf_mem. */
#ifndef VL_TEST_MINI_ELF_H
#define VL_TEST_MINI_ELF_H
#include <stddef.h>
#include <stdint.h>

/* Bytes needed for an image holding `len` bytes of code. */
#define VL_MINI_ELF_SIZE(len) (64 + 56 + (len))

/* Write into buf (VL_MINI_ELF_SIZE(len) bytes) an ET_EXEC x86-64 image with
 * one PT_LOAD of `code` at physical = virtual address pa, entry pa, segment
 * flags pf (PF_R | PF_X ...). Returns the image size. */
size_t vl_test_mini_elf(uint8_t *buf, uint64_t pa, const void *code, size_t len, uint32_t pf);
#endif
