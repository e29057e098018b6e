#!/usr/bin/env bash
# compare.sh — `virtlab compare BASE HEAD` on runs from `matrix`: identical
# deterministic runs compare equal (exit 0); after the head's stored numbers
# are changed here with the sqlite3 CLI (a regression of known size), every
# changed counter is listed with old, new and relative change, and the
# status is 1; sides by tag, by run ids and by git revision (HEAD, resolved
# with git rev-parse) work; markdown is a table fit for a CI comment; bad
# sides are one line and status 2.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3
DB="$T/c.db"
WL=cpuid,syscall,ptemod
"$V" matrix --workloads $WL --iterations 400 --db "$DB" --tag base >/dev/null || bad "matrix base"
"$V" matrix --workloads $WL --iterations 400 --db "$DB" --tag head >/dev/null || bad "matrix head"
n=$(sqlite3 "$DB" "select count(*) from run where tag = 'base'")

out=$("$V" compare base head --db "$DB"); rc=$?
[ $rc -eq 0 ] || bad "identical sides: status $rc"
echo "$out" | grep -q "0 regressions.* $n of $n paired configurations identical" || { bad "identical summary"; echo "$out"; }

# a 20% regression of cpuid at head, and one changed event
read -r id cpi <<<"$(sqlite3 -separator ' ' "$DB" "select id, cycles_per_iter from run where tag = 'head' and workload = 'cpuid' and engine = 'native'")"
sqlite3 "$DB" "update run set cycles_per_iter = cycles_per_iter * 1.2 where id = $id;
               update event set value = value + 5 where run_id = $id and name = 'guest_instructions';"
old_gi=$(sqlite3 "$DB" "select value - 5 from event where run_id = $id and name = 'guest_instructions'")
out=$("$V" compare tag:base tag:head --db "$DB"); rc=$?
echo "$out"
[ $rc -eq 1 ] || bad "regression: status $rc"
echo "$out" | grep -qE "^regressed:" || bad "no regressed section"
want_new=$(awk -v c="$cpi" 'BEGIN { printf "%.10g", c * 1.2 }')
want_old=$(awk -v c="$cpi" 'BEGIN { printf "%.10g", c }')
echo "$out" | grep -E "native +cpuid .*cycles_per_iter +$want_old -> $want_new +\+20\.00%" >/dev/null || bad "regression line ($want_old -> $want_new +20.00%)"
echo "$out" | grep -E "native +cpuid .*event guest_instructions +$old_gi -> $((old_gi + 5)) " >/dev/null || bad "changed event line"
# below the threshold: no regression
"$V" compare base head --db "$DB" --threshold 25 >/dev/null; [ $? -eq 0 ] || bad "--threshold 25 should pass a 20% change"

# markdown for CI
md=$("$V" compare base head --db "$DB" --format markdown)
echo "$md" | grep -q '^| verdict | configuration | workload | profile | metric | base | head | change | test |$' || bad "markdown header"
echo "$md" | grep -q '^| \*\*regressed\*\* | native | cpuid | zen4 | cycles_per_iter |' || bad "markdown regression row"
"$V" compare base head --db "$DB" --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["regressions"]==1' || bad "json"

# run ids
ids_b=$(sqlite3 "$DB" "select group_concat(id) from run where tag = 'base'")
"$V" compare "id:$ids_b" "id:$id" --db "$DB" >/dev/null; [ $? -eq 1 ] || bad "id: sides"

# git revisions: the runs of the binary's own commit
commit=$("$V" version | sed -n 's/.*commit \([0-9a-f]*\).*/\1/p')
if [ "$(git rev-parse HEAD 2>/dev/null)" = "$commit" ]; then
	"$V" compare HEAD HEAD --db "$DB" >"$T/git.out"; rc=$?
	# the same runs on both sides: no regression, but the doctored run disagrees
	# with its twin of the same commit, which compare calls nondeterminism
	[ $rc -eq 0 ] || bad "compare HEAD HEAD: status $rc"
	grep -q "nondeterminism: .*native cpuid" "$T/git.out" || bad "no nondeterminism warning"
	grep -q "virtlab compare: ${commit:0:10} -> ${commit:0:10}\|HEAD (${commit:0:10})" "$T/git.out" || bad "HEAD not resolved to $commit"
else
	echo "binary built from ${commit:0:10}, tree at $(git rev-parse --short HEAD 2>/dev/null): git revision check skipped"
fi
"$V" compare "${commit:0:12}" tag:base --db "$DB" >/dev/null; rc=$?
[ $rc -le 1 ] || bad "hash prefix side: status $rc"

# bad sides
for args in "nosuchtag head" "base" "id:x head" "base head extra"; do
	# shellcheck disable=SC2086
	"$V" compare $args --db "$DB" >/dev/null 2>"$T/err"; rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] || { bad "compare $args: status $rc"; cat "$T/err"; }
done
exit $fail
