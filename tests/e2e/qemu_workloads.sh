#!/usr/bin/env bash
# qemu_workloads.sh — boot the guest image under QEMU TCG for every workload
# (small iteration counts) and the self-tests: each must print its RESULT
# line and exit with status VL_EXIT_OK; a bad workload name and a bad
# parameter must print one ERROR line and exit with VL_EXIT_USAGE.
# Independent of bin/virtlab. Skips (77) only when QEMU is missing.
set -u
cd "$(dirname "$0")/../.."
GUEST=${GUEST:-build/guest/guest.elf}
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
[ -f "$GUEST" ] || { echo "no guest image at $GUEST"; exit 1; }
fail=0
boot() {   # boot "<cmdline>" -> sets OUT, STATUS (guest exit value or -1)
	OUT=$(timeout 60 qemu-system-x86_64 -accel tcg -kernel "$GUEST" -append "$1" -debugcon stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -display none -nodefaults -no-reboot -m 128M 2>&1)
	local rc=$?
	if [ $rc -ge 1 ] && [ $((rc & 1)) -eq 1 ] && [ $rc -lt 124 ]; then STATUS=$((rc >> 1)); else STATUS=-1; fi
}
workloads=$(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def)
[ -n "$workloads" ] || { echo "cannot read workloads.def"; exit 1; }
for w in $workloads; do
	case $w in forkwait|pgfault|ctxsw) n=200 ;; selftest) n=1 ;; *) n=1000 ;; esac
	boot "workload=$w iters=$n"
	line=$(printf '%s\n' "$OUT" | grep "^RESULT workload=$w iters=[0-9]* cycles=[0-9]")
	if [ "$STATUS" -ne 0 ] || [ -z "$line" ] || printf '%s\n' "$OUT" | grep -q '^ERROR'; then
		echo "FAIL $w: status $STATUS"; printf '%s\n' "$OUT" | sed 's/^/  | /'; fail=1
	else
		echo "ok   $w: $line"
	fi
	if [ "$w" != selftest ] && [ "$w" != ctxsw ] && ! printf '%s\n' "$line" | grep -q " iters=$n "; then
		echo "FAIL $w: iters not echoed as $n"; fail=1
	fi
done
for bad in "workload=nosuchworkload iters=10" "workload=syscall iters=abc" "workload=syscall frobnicate=1" "iters=5"; do
	boot "$bad"
	nerr=$(printf '%s\n' "$OUT" | grep -c '^ERROR ')
	if [ "$STATUS" -ne 2 ] || [ "$nerr" -ne 1 ] || printf '%s\n' "$OUT" | grep -q '^RESULT'; then
		echo "FAIL bad command line \"$bad\": status $STATUS, $nerr ERROR lines"; printf '%s\n' "$OUT" | sed 's/^/  | /'; fail=1
	else
		echo "ok   \"$bad\" -> $(printf '%s\n' "$OUT" | grep '^ERROR')"
	fi
done
exit $fail
