#!/usr/bin/env bash
# cli_workloads.sh — every workload of workloads.def runs natively with status
# ok (exit 0), and a guest stopped by --max-instructions reports "timeout".
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
fail=0
for w in $(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def); do
	out=$("$V" run --engine native --workload "$w" --iterations 20 --image "$G" --no-db --format csv 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || ! echo "$out" | grep -q ",ok,"; then echo "FAIL: native $w (status $rc): $out" | head -3; fail=1
	else echo "ok: native $w"; fi
done
out=$("$V" run --engine native --workload compute --image "$G" --max-instructions 10000 --no-db --format json 2>/dev/null)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q '"status":"timeout"' || { echo "FAIL: timeout run gave status $rc: $out" | head -c 300; fail=1; }
out=$("$V" bench --iterations 20000 --workloads compute --no-qemu --format json) || { echo "FAIL: bench"; fail=1; }
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["mips"] > 0; print("bench mips", d["mips"])' || fail=1
exit $fail
