/* multiboot.h — Multiboot v1 loader (platform half; machine/multiboot.c). */
#ifndef VL_MACHINE_MULTIBOOT_H
#define VL_MACHINE_MULTIBOOT_H
#include <stddef.h>
#include <stdint.h>

struct vl_machine;

enum { VL_IMG_ELF64 = 0, VL_IMG_MULTIBOOT = 1 };
/* What kind of image this is: VL_IMG_ELF64 (the virtlab guest ABI),
 * VL_IMG_MULTIBOOT (a Multiboot v1 header in the first 8 KiB), or -1 with
 * a one-line reason naming what is missing (boot sector, bzImage, PE, ELF32
 * without a Multiboot header, unknown). */
int vl_mb_classify(const uint8_t *img, size_t len, char *err, size_t errlen);
/* Validate and load a Multiboot v1 ELF kernel; build the info structure
 * (cmdline is passed to the guest as given), the ACPI tables, and the
 * 32-bit protected-mode entry state. 0, or -1 with a one-line reason and
 * nothing loaded. */
int vl_mb_load(struct vl_machine *m, const uint8_t *img, size_t len, const char *cmdline, char *err, size_t errlen);
#endif
