#!/usr/bin/env bash
# native_vs_qemu.sh — the same guest image gives the same guest-visible output
# on the machine model (native engine) and on QEMU TCG: every RESULT line's
# keys and values, except the ones that measure time (cycles, pm_ticks).
# This is the check that the model runs the guest as real x86 does.
# Skips (77) without QEMU or a guest image.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
G=${GUEST:-build/guest/guest.elf}
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
fail=0
visible() {   # JSON run result on stdin -> the guest-visible RESULT fields, one per line
	python3 -c '
import json, sys
j = json.load(sys.stdin)
if j["status"] != "ok":
    print("STATUS", j["status"], j.get("reason", "")); sys.exit(0)
for r in j.get("guest_results", []):
    print(" ".join(f"{k}={v}" for k, v in sorted(r.items()) if k not in ("cycles", "pm_ticks")))
'
}
for w in $(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def); do
	case $w in forkwait|pgfault|ctxsw) n=50 ;; selftest) n=1 ;; *) n=300 ;; esac
	a=$("$V" run --engine native --workload "$w" --iterations $n --image "$G" --no-db --format json 2>/dev/null | visible)
	b=$("$V" run --engine qemu-tcg --workload "$w" --iterations $n --image "$G" --no-db --format json 2>/dev/null | visible)
	if [ -z "$a" ] || [ "$a" != "$b" ] || printf '%s' "$a" | grep -q '^STATUS'; then
		echo "FAIL $w"; echo "  native: $a"; echo "  qemu:   $b"; fail=1
	else
		echo "ok   $w: $a"
	fi
done
exit $fail
