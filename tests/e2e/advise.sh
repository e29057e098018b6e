#!/usr/bin/env bash
# advise.sh — `virtlab advise`: bad input is one line, status 2, and stores
# nothing; on an empty database every row is undecided (missing named,
# status 1); --run runs exactly the missing configurations, after which the
# best configuration and margin equal a hand computation from `report --format
# csv`; a second --run runs nothing; --mix and the mode map.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3
# Candidates are named (--engines svm) so the counts below do not depend on which engines the registry has.
DB="$T/a.db"

usage() {   # args...: status 2, one line on stderr, no database created
	"$V" advise --db "$DB" "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 2 ] || bad "advise $*: status $rc (want 2)"
	[ "$(wc -l <"$T/err")" -eq 1 ] || { bad "advise $*: not one line"; cat "$T/err"; }
	[ ! -e "$DB" ] || { bad "advise $*: created the database"; rm -f "$DB"*; }
}
usage --mix "forkwait=x"
usage --mix "forkwait=-1,compute=1"
usage --mix "forkwait=0"
usage --mix "nosuch=1"
usage --mix ""
usage --workloads nosuch
usage --profile nosuch
usage --engines nosuch
usage --all --profile zen4
usage --mix cpuid=1 --workloads cpuid
usage -j 0

"$V" advise --db "$DB" --workloads cpuid >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ ! -e "$DB" ] || bad "advise without --run on a missing database: status $rc (want 2, nothing created)"
"$V" matrix --engines native --workloads cpuid,ptemod --db "$DB" >/dev/null || bad "native matrix"
"$V" advise --db "$DB" --engines svm --workloads cpuid,ptemod >"$T/out"; rc=$?
[ $rc -eq 1 ] || bad "native runs only: status $rc (want 1)"
grep -q "missing: svm/shadow, svm/nested" "$T/out" || { bad "missing not named"; cat "$T/out"; }
grep -q "undecided" "$T/out" || bad "no undecided row"

"$V" advise --db "$DB" --engines svm --workloads cpuid,ptemod --run -j 2 --format json >"$T/json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || { bad "--run: status $rc"; cat "$T/err"; }
n=$(sqlite3 "$DB" "select count(*) from run")
[ "$n" -eq 6 ] || bad "--run: $n runs stored (want 6: the 2 native + svm/shadow, svm/nested x cpuid, ptemod)"
# hand computation from the report's numbers
"$V" report --db "$DB" --format csv >"$T/csv"
for w in cpuid ptemod; do
	want=$(awk -F, -v w=$w 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == w { s = $col["svm/shadow"]; n = $col["svm/nested"];
			  if (n + 0 < s + 0) printf "svm/nested %.6f", (s - n) / n; else printf "svm/shadow %.6f", (n - s) / s }' "$T/csv")
	got=$(python3 -c "import json,sys
for r in json.load(open('$T/json')):
    if r['workload'] == '$w': print(r['best'], '%.6f' % r['margin'])")
	[ "$got" = "$want" ] || bad "$w: advise says '$got', the report gives '$want'"
done
"$V" advise --db "$DB" --engines svm --workloads cpuid,ptemod --run >/dev/null 2>"$T/err" || bad "second --run failed"
n=$(sqlite3 "$DB" "select count(*) from run")
[ "$n" -eq 6 ] || bad "second --run stored more runs ($n)"
grep -q "running" "$T/err" && bad "second --run ran something"

# a mix needs native runs: --run runs them too
"$V" advise --db "$DB" --engines svm --mix cpuid=0.5,ptemod=0.5 --run --map "$T/map" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || { bad "--mix --run: status $rc"; cat "$T/out" "$T/err"; }
grep -qE "^zen4 +mix +svm/" "$T/out" || { bad "mix row"; cat "$T/out"; }
[ "$(sqlite3 "$DB" "select count(*) from run where engine = 'native'")" -eq 2 ] || bad "the mix re-ran native runs"
rm -f "$DB"*
"$V" advise --db "$DB" --engines svm --mix cpuid=1 --run >/dev/null 2>&1 || bad "--mix --run on a fresh database"
[ "$(sqlite3 "$DB" "select count(*) from run where engine = 'native'")" -eq 1 ] || bad "--mix --run did not run native"
# --run matches what is missing structurally (engine, mmu, workload, profile,
# iterations), not by the text of the missing list: with svm/nested on cpuid
# stored, --workloads in,cpuid runs exactly svm/shadow x {in, cpuid} and
# svm/nested x in, once each (the workload "in" is a word of many texts)
rm -f "$DB"*
"$V" run --engine svm --mmu nested --workload cpuid --db "$DB" >/dev/null || bad "svm/nested cpuid"
"$V" advise --db "$DB" --engines svm --workloads in,cpuid --run >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || { bad "structural --run: status $rc"; cat "$T/err"; }
got=$(sqlite3 "$DB" "select group_concat(c, ' ') from (select engine || '/' || mmu || ':' || workload || '=' || count(*) as c
	from run group by engine, mmu, workload order by engine, mmu, workload)")
[ "$got" = "svm/nested:cpuid=1 svm/nested:in=1 svm/shadow:cpuid=1 svm/shadow:in=1" ] ||
	bad "structural --run stored '$got'"
[ -s "$T/map/modemap.png" ] && [ -s "$T/map/modemap.pdf" ] || bad "mode map not drawn"
exit $fail
