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

/* ---- Paravirtual hypercall ABI (engines/pv) --------------------------------
 * Entry. The pv engine runs the guest kernel deprivileged at ring 1
 * (engines/hv/README.md: why ring 1). A hypercall is the SYSCALL
 * instruction executed by the kernel at ring 1: the machine really takes
 * it into the monitor at ring 0 (the hardware's LSTAR is the monitor's),
 * and the monitor returns with IRETQ (SYSRET only returns to ring 3), so
 * the hypercall costs the profile's insn.syscall + insn.iret transition
 * plus the monitor's dispatch — as x86-64 Xen PV enters Xen with SYSCALL
 * from its (ring-3) kernel. SYSCALL is the cheapest trap a ring-1 kernel
 * can take (INT 0x82, 32-bit Xen's, pays a full IDT delivery); a user
 * SYSCALL (CPL 3) is the guest's system call, which the monitor bounces to
 * the kernel's registered entry (its LSTAR) — the CPL tells them apart.
 *   RAX = hypercall number, arguments RDI, RSI, RDX, R10, R8 (as x86-64
 *   Xen and Linux); result in RAX (>= 0, or a negative VL_HC_E* code);
 *   RCX and R11 are clobbered (the SYSCALL instruction writes them);
 *   every other register is preserved.
 * A bad number returns -VL_HC_ENOSYS; bad arguments -VL_HC_EINVAL /
 * -VL_HC_EFAULT / -VL_HC_EPERM: the guest gets the error, the host never
 * stops for a hypercall.
 */
#define VL_HC_IRET           0   /* return to user or kernel: RSP -> [rax, r11, rcx, rip, cs, rflags, rsp, ss];
                                  * restores RAX/R11/RCX from the frame, then IRETQ semantics (virtual IF from rflags) */
#define VL_HC_SET_SHARED     1   /* a0 = physical address of this vCPU's shared page (4K aligned); announces the
                                  * pv-ops switch: from here a privileged instruction reaching the VMM is a bug */
#define VL_HC_SET_TRAP_TABLE 2   /* a0 = VA of a 10-byte IDT descriptor (LIDT operand): the guest's IDT = its trap table */
#define VL_HC_SET_GDT        3   /* a0 = VA of a 10-byte GDT descriptor (LGDT operand) */
#define VL_HC_LOAD_TR        4   /* a0 = TSS selector (the kernel stack for traps from user: TSS RSP0) */
#define VL_HC_READ_CR        5   /* a0 = 0, 3, 4 or 8 -> RAX */
#define VL_HC_WRITE_CR       6   /* a0 = 0, 3 (new base pointer), 4 or 8; a1 = value */
#define VL_HC_INVLPG         7   /* a0 = linear address */
#define VL_HC_RDMSR          8   /* a0 = MSR -> RAX */
#define VL_HC_WRMSR          9   /* a0 = MSR, a1 = value */
#define VL_HC_IO             10  /* a0 = port, a1 = size (1, 2, 4) | VL_HC_IO_WRITE, a2 = value -> RAX (IN) */
#define VL_HC_BLOCK          11  /* unmask events and halt until one arrives (safe_halt) */
#define VL_HC_HALT           12  /* halt with the current event mask (halt) */
#define VL_HC_EVENT_UNMASK   13  /* the guest unmasked with VL_PVS_PENDING set: deliver the pending upcall now */
#define VL_HC_MMU_UPDATE     14  /* direct paging: a0 = VA of n struct {u64 ptr, val} (ptr = machine address of the
                                  * 8-byte entry; low 3 bits = command, VL_MMU_NORMAL_PT_UPDATE), a1 = n (1..the batch
                                  * size in VL_PVS_MMU_BATCH), a2 = VA of a u64 receiving the number applied (or 0);
                                  * each entry validated in order, stops at the first refusal (its error returned) */
#define VL_HC_MMUEXT_OP      15  /* direct paging: a0 = VA of n struct {u64 cmd, arg} (VL_MMUEXT_*), a1 = n, a2 as above */
#define VL_HC_MULTICALL      16  /* a0 = VA of n struct {u64 nr, args[5]; i64 result} (nr: MMU_UPDATE or
                                  * MMUEXT_OP only), a1 = n (1..VL_MC_MAX); each result written back; returns 0 */
#define VL_HC_COUNT          17
#define VL_HC_IO_WRITE       0x100

#define VL_HC_EPERM          1   /* direct paging: a frame the guest does not own (beyond its machine RAM) */
#define VL_HC_EACCES         13  /* direct paging: monitor memory, or an entry of the monitor's L4 slots */
#define VL_HC_EFAULT         14
#define VL_HC_EBUSY          16  /* direct paging: unpinning the live root (the one in CR3) */
#define VL_HC_EEXIST         17  /* direct paging: page-type conflict (a writable mapping of a page table,
                                  * a page table used at another level, a typed page that is mapped writable) */
#define VL_HC_EINVAL         22
#define VL_HC_ENOSYS         38

/* ---- Direct paging (mmu/direct; engine pv's default MMU) -------------------
 * Pseudo-physical vs machine: the guest's RAM [0, RSI) is pseudo-physical;
 * its page tables hold MACHINE frames. VL_MMUEXT_GET_P2M writes the
 * physical-to-machine table (u32 machine frame per pseudo frame,
 * VL_PVS_NR_FRAMES entries) at pseudo-physical address arg. Machine frames
 * are a permutation of [0, NR_FRAMES): every frame differs from its pseudo
 * frame, so a missed translation maps the wrong page.
 * Until the first VL_MMUEXT_NEW_BASEPTR the guest runs on a VMM-built copy
 * of its boot tables (boot mode: the domain builder's role); that call
 * validates and pins the guest's first root and starts direct paging.
 * Page types as Xen's: an L1..L4 page may not be mapped writable; a page
 * mapped writable may not become a page table; roots are pinned. */
#define VL_MMU_NORMAL_PT_UPDATE 0
#define VL_MMUEXT_PIN_L4     1   /* arg = machine address of an L4: validate (type) it and pin it */
#define VL_MMUEXT_UNPIN      2   /* arg = machine address of a pinned L4 (not the live one: -EBUSY) */
#define VL_MMUEXT_NEW_BASEPTR 3  /* arg = machine address of a pinned L4: load it (CR3); in boot mode pins it */
#define VL_MMUEXT_INVLPG     4   /* arg = linear address */
#define VL_MMUEXT_TLB_FLUSH  5   /* arg = 0: flush the (non-global) TLB */
#define VL_MMUEXT_GET_P2M    6   /* arg = pseudo-physical address of NR_FRAMES u32 */
#define VL_MMU_BATCH_MAX     512 /* most entries of one MMU_UPDATE / MMUEXT_OP */
#define VL_MC_MAX            16  /* most calls in one MULTICALL */

/* The shared page (one per vCPU, registered with VL_HC_SET_SHARED): byte
 * offsets. The guest reads and writes it with plain memory operations, so
 * CLI / STI / PUSHF / POPF cost no VMM entry (Xen's vcpu_info):
 *   MASK    u8  1 = events masked (the virtual IF is 0); the VMM sets it when
 *               it delivers an upcall through an interrupt gate, and reads it
 *               at every entry;
 *   PENDING u8  1 = an interrupt arrived while masked and is held; after
 *               unmasking, the guest calls VL_HC_EVENT_UNMASK if it is set
 *               (the upcall is then delivered through the guest's IDT);
 *   CR2     u64 the faulting address of the last #PF delivered (no MOV CR2);
 *   TIME    u64 virtual time: the TSC at the VMM's last entry. */
#define VL_PVS_MASK          0x00
#define VL_PVS_PENDING       0x01
#define VL_PVS_CR2           0x08
#define VL_PVS_TIME          0x10
/* Written once by VL_HC_SET_SHARED: MMU_BATCH u32 = the profile's pv.mmu_batch
 * when the MMU is direct paging (0: shadow paging, plain PTE stores);
 * NR_FRAMES u64 = pseudo-physical frames (the p2m's length). */
#define VL_PVS_MMU_BATCH     0x18
#define VL_PVS_NR_FRAMES     0x20

#endif
