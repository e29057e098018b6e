/* marker.S — region markers (test_cpu_marker.c). The same body runs with
 * markers (scenario 0) and without (scenario 1); the host compares the two
 * runs and checks each region's counters against the instructions between
 * its markers:
 *   region 1  10 NOPs, a store (ADD to memory), a load
 *   region 2  3 NOPs with a redundant BEGIN 2 between each
 *   region 3  a #UD (resumed) inside the region: 4 instructions of RESUME, the handler's
 *   region 4  a NOPL with a non-magic displacement (a real NOP, counted) and a
 *             magic marker of an unknown kind (free, changes nothing)
 *   region 5  INT 0x90 to a handler that is just IRETQ
 *   BEGIN 9 (>= VL_MAX_REGIONS) is ignored: the NOP after it stays in region 0
 */
#include "prog.h"

.macro BODY marks
	.if \marks
	MARK_BEGIN 1
	.endif
	.rept 10
	nop
	.endr
	addq $1, cnt(%rip)
	movq cnt(%rip), %rax
	.if \marks
	MARK_END
	MARK_BEGIN 2
	.endif
	nop
	.if \marks
	MARK_BEGIN 2
	.endif
	nop
	.if \marks
	MARK_BEGIN 2
	.endif
	nop
	.if \marks
	MARK_END
	MARK_BEGIN 3
	.endif
	RESUME 1f
	ud2
1:
	.if \marks
	MARK_END
	MARK_BEGIN 4
	.endif
	.byte 0x0f, 0x1f, 0x80
	.long 0x12345678
	.if \marks
	MARK 3, 4
	MARK_END
	MARK_BEGIN 5
	.endif
	int $0x90
	.if \marks
	MARK_END
	MARK_BEGIN 9
	.endif
	nop
	.if \marks
	MARK_END
	.endif
.endm

	.text
	.globl main
main:
	GATE_H 0x90, iret_only, G_INTR
	movq scenario(%rip), %rax
	cmpq $1, %rax
	je unmarked
	BODY 1
	STEP 999
	ret
unmarked:
	BODY 0
	STEP 999
	ret

iret_only:
	iretq

	.data
cnt:
	.quad 0
