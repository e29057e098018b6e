#!/usr/bin/env bash
# cli_trust.sh — results are stored only under what actually ran (issue 16):
# --params cannot override the workload or the iteration count the run is
# stored under (exit 2, one line, nothing stored) (item 2); a run that stops
# early shows its progress while it runs and has no per-iteration figure in
# any format or in the database (item 6); --trace marks where the measured
# region begins and ends, --trace-region measured traces only inside it,
# and tracing changes no counter (item 11).
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# item 2: keys the CLI owns are refused in --params
for p in "workload=syscall" "iters=5" "timer=5000 iters=5" " workload=cpuid"; do
	"$V" run --workload cpuid --params "$p" --db "$T/p.db" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 2 ] || bad "--params '$p': status $rc"
	[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "is set by --" "$T/err" || { bad "--params '$p': message"; cat "$T/err"; }
done
[ -e "$T/p.db" ] && [ "$(sqlite3 "$T/p.db" 'select count(*) from run')" != 0 ] && bad "a refused --params run was stored"
"$V" run --workload cpuid --iterations 50 --params "timer=100000" --no-db >/dev/null || bad "a guest parameter the CLI does not own is refused"

# item 6: a long run that stops at its limit: progress while running, no
# cycles per iteration (it did not run its 1e12 iterations)
"$V" run --workload compute --iterations 1e12 --max-instructions 2.5e8 --progress --db "$T/t.db" --tag long \
	>"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || bad "timeout run: status $rc"
grep -q "^run: [0-9]*s  [0-9.e]* guest instructions ([0-9]* MIPS)  [0-9.e]* modelled cycles  instruction limit 2.50e8 in <= [0-9]*s" "$T/err" ||
	{ bad "no progress lines"; cat "$T/err"; }
grep -q "^cycles/iteration  - (the run did not complete" "$T/out" || { bad "table shows a per-iteration figure"; head -3 "$T/out"; }
grep -q "[0-9]/iter" "$T/out" && bad "per-iteration event rates of an incomplete run"
[ "$(sqlite3 "$T/t.db" "select status, cycles_per_iter is null from run where tag = 'long'")" = "timeout|1" ] || bad "stored figure"
"$V" run --workload compute --iterations 1e9 --max-instructions 1e6 --no-db --format json >"$T/j" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"] == "timeout" and d["cycles_per_iter"] is None, d["cycles_per_iter"]' "$T/j" || bad "json cycles_per_iter of a timeout"
"$V" run --workload compute --iterations 1e9 --max-instructions 1e6 --no-db --format csv 2>/dev/null | tail -1 | grep -q "^native,native,compute,zen4,1000000000,timeout,," || bad "csv cycles_per_iter of a timeout"
# a short run prints no progress (and none without a terminal unless asked)
"$V" run --workload cpuid --iterations 100 --no-db 2>"$T/err" >/dev/null
[ -s "$T/err" ] && bad "progress without --progress and without a terminal"

# item 11: --trace marks the measured region; --trace-region measured traces only inside it
"$V" run --engine svm --mmu nested --workload cpuid --iterations 3 --trace --no-db >"$T/all" || bad "trace run"
"$V" run --engine svm --mmu nested --workload cpuid --iterations 3 --trace-region measured --no-db >"$T/meas" || bad "trace-region run"
b=$(grep -n "^trace: === measured region begins" "$T/all" | cut -d: -f1)
e=$(grep -n "^trace: === measured region ends" "$T/all" | cut -d: -f1)
[ -n "$b" ] && [ -n "$e" ] && [ "$b" -lt "$e" ] || bad "measured region not marked in --trace"
[ "$(grep -c '^trace:' "$T/all")" -gt "$(grep -c '^trace:' "$T/meas")" ] || bad "--trace-region measured traced as much as --trace"
grep '^trace:' "$T/meas" | head -1 | grep -q "=== measured region begins" || bad "--trace-region: a line before the region"
grep '^trace:' "$T/meas" | tail -1 | grep -q "=== measured region ends" || bad "--trace-region: a line after the region"
[ "$(grep -c '^trace: svm exit VMEXIT_CPUID' "$T/meas")" -eq 3 ] || bad "--trace-region measured: not exactly the 3 CPUID exits"
sed -n "${b},${e}p" "$T/all" | grep '^trace:' >"$T/inside"
[ "$(grep '^trace:' "$T/meas")" = "$(cat "$T/inside")" ] || bad "--trace-region measured differs from the region of --trace"
"$V" run --workload cpuid --trace-region boot --no-db >/dev/null 2>"$T/err"; [ $? -eq 2 ] || bad "--trace-region boot accepted"
for f in "" "--trace" "--trace-region measured"; do
	"$V" run --engine svm --mmu nested --workload cpuid --iterations 3 $f --no-db --format json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["cycles"], d["events"])'
done | sort -u | wc -l | grep -qx 1 || bad "tracing changed the counters"

exit $fail
