/* sysnum.h — system call numbers and error codes shared by the guest kernel
 * and the user programs. SYSCALL: number in RAX, args RDI RSI RDX R10 R8 R9,
 * result in RAX (negative = -errno). */
#ifndef GUEST_SYSNUM_H
#define GUEST_SYSNUM_H
#define SYS_exit    0   /* exit(status) */
#define SYS_getpid  1
#define SYS_yield   2
#define SYS_fork    3   /* child gets 0 */
#define SYS_wait    4   /* wait(long *status) -> pid; status -1 when killed */
#define SYS_write   5   /* write(fd 1|2, buf, len) -> len, to the debug console */
#define SYS_mmap    6   /* mmap(hint ignored, len, prot, flags) anonymous, demand-zero */
#define SYS_munmap  7   /* munmap(addr, len) */
#define SYS_ticks   8   /* APIC timer ticks since boot */
#define SYS_COUNT   9
#define VL_EBADF   9
#define VL_ECHILD 10
#define VL_EAGAIN 11
#define VL_ENOMEM 12
#define VL_EFAULT 14
#define VL_EINVAL 22
#define VL_ENOSYS 38
#define USER_STACK_TOP 0x00007ffffff00000ull
#define USER_STACK_SIZE (1ull << 20)
#define USER_MMAP_BASE 0x0000100000000000ull
#endif
