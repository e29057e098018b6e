/* guest_abi.h — the contract between the guest image and everything that
 * boots it (the machine's loader, QEMU, the engines, the harness).
 *
 * This header is included by BOTH host code and the freestanding guest, so
 * it holds only macros and plain constants (no host types, no libc).
 * Change a value here and you change a contract that tests, stored results
 * and the guest all rely on: do it deliberately.
 */
#ifndef VIRTLAB_GUEST_ABI_H
#define VIRTLAB_GUEST_ABI_H

/* ---- Boot: the machine's 64-bit entry (ELF e_entry) --------------------
 * The loader enters e_entry (a physical address) with:
 *   - long mode, CPL 0, paging on: the first 1 GiB identity-mapped with
 *     2 MiB pages (P|RW, supervisor), CR4.PAE set, EFER.LME|LMA|NXE|SCE set
 *   - a flat GDT: VL_BOOT_CS (64-bit code, DPL 0), VL_BOOT_DS (data, DPL 0)
 *   - RFLAGS = 0x2 (interrupts off), no IDT loaded (IDTR limit 0)
 *   - RDI = physical address of the NUL-terminated command line
 *   - RSI = size of guest RAM in bytes (RAM is [0, RSI))
 *   - RAX = VL_BOOT_MAGIC (so early code can tell this entry from PVH)
 *   - RSP = VL_BOOT_STACK_TOP (a small stack inside the reserved low MiB)
 * The PVH 32-bit entry (ELF note XEN_ELFNOTE_PHYS32_ENTRY = 18) is what QEMU
 * uses with -kernel; there EBX holds the hvm_start_info physical address
 * and the command line comes from start_info.cmdline_paddr.
 */
#define VL_BOOT_MAGIC        0x564C4142u   /* "VLAB" */
#define VL_BOOT_CS           0x08
#define VL_BOOT_DS           0x10

/* Physical memory [0, 1 MiB) belongs to the loader's boot structures (boot
 * page tables, boot GDT, command line, boot stack). The guest must load its
 * segments (p_paddr) at or above VL_GUEST_LOAD_MIN and may reuse the low MiB
 * once it has its own page tables and stack. */
#define VL_GUEST_LOAD_MIN    0x100000ull
#define VL_BOOT_PML4         0x1000ull     /* boot PML4; PDPT at 0x2000; PD at 0x3000 */
#define VL_BOOT_GDT          0x6000ull
#define VL_BOOT_CMDLINE      0x7000ull
#define VL_BOOT_CMDLINE_MAX  4096
#define VL_BOOT_STACK_TOP    0x80000ull
#define VL_DEFAULT_RAM_MB    128           /* machine and QEMU (-m) default */

/* ---- Guest virtual address layout (as Linux) ---------------------------- */
#define VL_USER_TOP          0x0000800000000000ull  /* user space: [0, this) */
#define VL_MONITOR_BASE      0xffff800000000000ull  /* reserved for the VMM: never touched by the guest */
#define VL_MONITOR_END       0xffff880000000000ull  /* exclusive */
#define VL_DIRECT_MAP        0xffff888000000000ull  /* direct map of all guest RAM */
#define VL_KERNEL_TEXT       0xffffffff80000000ull  /* kernel image, mapped from physical VL_GUEST_LOAD_MIN region */

/* ---- Devices (same ports on the machine and on QEMU) --------------------- */
#define VL_PORT_DEBUGCON     0xE9    /* QEMU -debugcon: bytes written appear on the console */
#define VL_PORT_EXIT         0xF4    /* QEMU isa-debug-exit,iobase=0xf4,iosize=4: write status v;
                                      * QEMU's process exits with (v << 1) | 1, the machine records v */
#define VL_PORT_PMTIMER_DEFAULT 0x608 /* ACPI PM timer (3.579545 MHz, 24-bit) on the machine; the guest
                                      * takes the port from ACPI (FADT PM_TMR_BLK) when tables exist,
                                      * else from the command line "pmtimer=0xNNN", else this default */
#define VL_PMTIMER_HZ        3579545u
#define VL_PORT_UART         0x3F8   /* 16550 UART (COM1): output to the console, as QEMU -serial (Multiboot guests) */
#define VL_PORT_FWCFG_SEL    0x510   /* QEMU fw_cfg selector (16-bit write) */
#define VL_PORT_FWCFG_DATA   0x511   /* QEMU fw_cfg data (byte reads) */

/* Guest exit statuses written to VL_PORT_EXIT. */
#define VL_EXIT_OK           0       /* workload completed, results printed */
#define VL_EXIT_FAIL         1       /* workload ran but a check failed */
#define VL_EXIT_USAGE        2       /* unknown workload / bad parameter on the command line */
#define VL_EXIT_PANIC        3       /* kernel panic (message printed first) */

/* ---- Region markers ------------------------------------------------------
 * A marker is the 7-byte multi-byte NOP `nopl disp32(%rax)`:
 *     0F 1F 80 d0 d1 d2 d3      disp32 = VL_MARK_MAGIC | kind << 8 | region
 * Architecturally a NOP on every x86-64 CPU (so the same image runs on QEMU
 * and real hardware); the machine recognises the magic, charges nothing,
 * never exits on it in any engine, and switches the counter region.
 * Region 0 is "outside any region" (boot, setup); region VL_REGION_MEASURE
 * is the workload's measured loop; other ids are free for sub-phases.
 */
#define VL_MARK_MAGIC        0x564C0000u   /* "VL" in the top 16 bits */
#define VL_MARK_MAGIC_MASK   0xFFFF0000u
#define VL_MARK_BEGIN        1u
#define VL_MARK_END          2u
#define VL_MAX_REGIONS       8
#define VL_REGION_MEASURE    1
#define VL_MARK_DISP(kind, region) (VL_MARK_MAGIC | ((kind) << 8) | (region))

/* Guest-side helpers (assembler string so C and .S can both use them). */
#define VL_MARK_STR_(d)      ".byte 0x0f,0x1f,0x80; .long " #d
#define VL_MARK_STR(d)       VL_MARK_STR_(d)

/* ---- Results on the debug console ---------------------------------------
 * One line per result, space-separated key=value pairs, no spaces in values:
 *   RESULT workload=<name> iters=<n> cycles=<rdtsc delta over the measured region> [key=value ...]
 * Errors:
 *   ERROR <one line of text>
 * Any other console text is informational. The harness parses RESULT lines
 * identically for every engine, including QEMU.
 */
#define VL_RESULT_PREFIX     "RESULT "
#define VL_ERROR_PREFIX      "ERROR "

/* ---- Hypervisor detection (CPUID leaf 0x40000000) ------------------------
 * CPUID.1:ECX[31] set means "running under a hypervisor". Leaf 0x40000000
 * returns EAX = max hypervisor leaf, EBX:ECX:EDX = a 12-byte signature.
 * Only VL_PV_SIGNATURE switches the guest's pv-ops table to hypercalls; the
 * hardware-assist VMMs may announce VL_HVM_SIGNATURE, which changes nothing.
 */
#define VL_CPUID_HV_LEAF     0x40000000u
#define VL_PV_SIGNATURE      "VirtLabPV\0\0\0"   /* 12 bytes */
#define VL_HVM_SIGNATURE     "VirtLabHVM\0\0"    /* 12 bytes */

#endif
