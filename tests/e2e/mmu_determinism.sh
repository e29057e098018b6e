#!/usr/bin/env bash
# mmu_determinism.sh — the shadow and nested MMU engines are deterministic:
# the same run twice gives bit-identical counters, cycles and exits (only the
# host's wall-clock fields may differ), on the workloads that exercise them
# most (page faults, page-table writes, address-space switches, fork).
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
fails=0
for conf in "vtx shadow skylake-sp" "vtx nested skylake-sp" "svm shadow zen4" "svm nested zen4" "vtx shadow p4"; do
	set -- $conf
	for w in pgfault ptemod ctxsw forkwait; do
		a=$("$V" run --engine $1 --mmu $2 --workload $w --profile $3 --iterations 50 --image "$G" --no-db --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("host",None); print(json.dumps(d, sort_keys=True))')
		b=$("$V" run --engine $1 --mmu $2 --workload $w --profile $3 --iterations 50 --image "$G" --no-db --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("host",None); print(json.dumps(d, sort_keys=True))')
		st=$(printf '%s' "$a" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
		if [ "$a" = "$b" ] && [ "$st" = ok ]; then echo "ok:   $1+$2 $w on $3: two runs identical"
		else echo "FAIL: $1+$2 $w on $3: status $st, runs differ or failed"; fails=$((fails+1)); fi
	done
done
echo "$fails failures"
[ $fails -eq 0 ]
