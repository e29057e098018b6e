#!/usr/bin/env bash
# cli_trust.sh — results are stored only under what actually ran (issue 16):
# --params cannot override the workload or the iteration count the run is
# stored under (exit 2, one line, nothing stored) (item 2); a run that stops
# early shows its progress while it runs and has no per-iteration figure in
# any format or in the database (item 6); --trace marks where the measured
# region begins and ends, --trace-region measured traces only inside it,
# and tracing changes no counter (item 11); one default format name, CSV
# precision, timestamps, export's name check, --version everywhere, 2e10,
# a directory as an image (item 12).
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3

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

# item 12: consistency
# one name for the default format: table (text still read, for old scripts)
for c in run report compare; do "$V" $c --help | grep -q -- "--format.*table" || bad "$c --help does not call its default format table"; done
"$V" run --workload cpuid --iterations 100 --db "$T/c.db" --tag x >/dev/null
"$V" run --workload syscall --iterations 100 --db "$T/c.db" --tag x >/dev/null
"$V" report --format table --iterations 100 --db "$T/c.db" >/dev/null || bad "report --format table"
"$V" compare tag:x tag:x --format table --db "$T/c.db" >/dev/null || bad "compare --format table"
# CSV numbers: the shortest form that reads back exactly (no 165.88999999999999)
"$V" export --db "$T/c.db" | awk -F, 'NR > 1 && length($NF) > 17 { print; bad = 1 } END { exit bad }' || bad "export csv: long numbers"
# timestamps: the same ISO 8601 UTC form in CSV and JSON
csv_ts=$("$V" export --db "$T/c.db" | awk -F, 'NR == 2 { print $2 }')
"$V" export --db "$T/c.db" --format json | python3 -c '
import json, sys, re
d = json.load(sys.stdin)
assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[k]) for r in d for k in ("started", "ended")), d[0]["started"]
assert d[0]["started"] == sys.argv[1], (d[0]["started"], sys.argv[1])' "$csv_ts" || bad "timestamps differ between csv and json"
# export with an unknown engine (or mmu, workload): usage error naming the valid ones
"$V" export --engine nope --db "$T/c.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown engine 'nope' (valid: native" "$T/err" || bad "export --engine nope: status $rc"
"$V" export --workload nope --db "$T/c.db" >/dev/null 2>&1; [ $? -eq 2 ] || bad "export --workload nope"
"$V" export --engine svm --db "$T/c.db" >/dev/null || bad "export --engine svm (known, no runs)"
# --version on every subcommand
for c in $("$V" --help | awk '/^  [a-z][a-z0-9-]* / { print $1 }'); do
	"$V" $c --version | grep -q "^virtlab [0-9]" || bad "$c --version"
done
# --max-instructions as the help writes it
"$V" run --help | grep -q "default 2e10" || bad "help no longer shows 2e10"
"$V" run --workload cpuid --iterations 10 --max-instructions 2e10 --no-db >/dev/null || bad "--max-instructions 2e10 refused"
"$V" run --workload cpuid --iterations 10 --max-instructions 1.5e-3 --no-db >/dev/null 2>&1; [ $? -eq 2 ] || bad "--max-instructions 1.5e-3 accepted"
# a directory as a guest image
"$V" run --image "$T" --no-db >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "is a directory" "$T/err" || { bad "--image DIR: status $rc"; cat "$T/err"; }

exit $fail
