#!/usr/bin/env bash
# sweep.sh — `virtlab sweep`: an exit-latency sweep of cpuid on svm/nested
# (every iteration exits) gives a curve rising with the value, by exactly
# the exits per iteration times the step; each run stores its derived
# profile in full (profile_version holds the swept value); a second sweep
# of the same id reuses every run; bad input (unknown field, no points,
# out-of-range values through the loader, a field the profile lacks) is one
# line, status 2, and stores nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3
DB="$T/s.db"

usage() {
	"$V" sweep --db "$DB" --workloads cpuid --out "$T/p" "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 2 ] || bad "sweep $*: status $rc (want 2)"
	[ "$(wc -l <"$T/err")" -eq 1 ] || { bad "sweep $*: not one line"; cat "$T/err"; }
	[ ! -e "$DB" ] || { bad "sweep $*: created the database"; rm -f "$DB"*; }
}
usage --param nosuch.key=1,2
usage --param svm.vmexit=1:100:log:0
usage --param svm.vmexit=100:1:lin:3
usage --param svm.vmexit=0:100:log:3
usage --param svm.vmexit=-5,10
usage --param tlb.l1d_entries=0,64
usage --param tlb.l1d_entries=64,5000
usage --param vmx.vmexit=100,200
usage --param cpu.name=1
usage --param svm.vmexit=x
usage
usage --param svm.vmexit=100,200 --engines vtx
usage --param svm.vmexit=100,200 --workloads nosuch

"$V" sweep --db "$DB" --param svm.vmexit=100:1600:log:5 --engines svm/nested --workloads cpuid --format json \
	--out "$T/p" >"$T/json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || { bad "sweep: status $rc"; cat "$T/err"; }
python3 - "$T/json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["values"] == [100, 200, 400, 800, 1600], d["values"]
(c,) = [c for c in d["curves"] if c["config"] == "svm/nested"]
y = c["cycles_per_iter"]
assert all(b > a for a, b in zip(y, y[1:])), ("not rising", y)
# every cpuid iteration exits once: the step in cycles is the step in vmexit
steps = [(b - a) / (vb - va) for a, b, va, vb in zip(y, y[1:], d["values"], d["values"][1:])]
assert all(abs(s - steps[0]) < 1e-9 for s in steps) and steps[0] > 0.999, ("not linear in the exit cost", steps)
PY
[ -s "$T/p/sweep.png" ] && [ -s "$T/p/sweep.pdf" ] || bad "no sweep figure"
n=$(sqlite3 "$DB" "select count(*) from run where tag = 'sweep:zen4:svm.vmexit=100:1600:log:5'")
[ "$n" -eq 5 ] || bad "$n runs stored (want 5)"
t=$(sqlite3 "$DB" "select p.text from run r join profile_version p on p.sha256 = r.profile_sha256 where r.profile = 'zen4:svm.vmexit=400'")
echo "$t" | grep -qE "^vmexit = 400( ;|$)" || bad "derived profile not stored in full"
"$V" sweep --db "$DB" --param svm.vmexit=100:1600:log:5 --engines svm/nested --workloads cpuid --out "$T/p" >/dev/null 2>"$T/err" || bad "second sweep"
grep -q "5 runs (5 reused" "$T/err" || { bad "second sweep ran again"; cat "$T/err"; }
[ "$(sqlite3 "$DB" "select count(*) from run")" -eq 5 ] || bad "second sweep stored runs"
# a plain report of zen4 is untouched by the sweep's derived profiles
"$V" report --db "$DB" >/dev/null 2>&1 && bad "report of zen4 found sweep runs"
exit $fail
