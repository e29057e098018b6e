#!/usr/bin/env bash
# plot_paper.sh — figures for papers (issue 16 item 10): --size column|page|
# WxH gives the PDF that size (3.5 in, 7 in, as asked) with --font points
# and, when narrow, the legend below the plot; figures are selected by name
# (only those files are written); a history of a single commit is not
# drawn (said, not failed), a history of two commits is; bad sizes are
# usage errors.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need gnuplot sqlite3
DB="$T/r.db"
"$V" matrix --workloads cpuid,syscall,ptemod --iterations 200 --db "$DB" >/dev/null || bad "matrix"
# the PDF's page size in points (pdfcairo writes one MediaBox per page)
mediabox() { python3 -c '
import re, sys
m = re.search(rb"/MediaBox \[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", open(sys.argv[1], "rb").read())
print("%.0f %.0f" % (float(m.group(1)), float(m.group(2))))' "$1"; }

"$V" plot nanobench --size column --font 9 --db "$DB" --out "$T/col" >"$T/out" || bad "plot --size column"
[ "$(ls "$T/col" | sort | tr '\n' ' ')" = "nanobench.dat nanobench.gp nanobench.pdf nanobench.png " ] || bad "figure by name wrote: $(ls "$T/col")"
[ "$(mediabox "$T/col/nanobench.pdf" | cut -d' ' -f1)" = 252 ] || bad "column PDF is $(mediabox "$T/col/nanobench.pdf") pt, not 252 wide"
grep -q 'set terminal .*font "sans,9"' "$T/col/nanobench.gp" || bad "--font 9 not in the PDF terminal"
grep -q "^set key below" "$T/col/nanobench.gp" || bad "narrow figure keeps its legend at the side"

"$V" plot --figures nanobench,exits --size page --db "$DB" --out "$T/page" >/dev/null || bad "plot --size page"
[ "$(mediabox "$T/page/exits.pdf" | cut -d' ' -f1)" = 504 ] || bad "page PDF is $(mediabox "$T/page/exits.pdf") pt, not 504 wide"
grep -q "^set key below" "$T/page/nanobench.gp" && bad "a page-wide figure moved its legend below"
[ -e "$T/page/breakdown.gp" ] && bad "breakdown drawn though not selected"

"$V" plot nanobench --size 3.3x2.2 --db "$DB" --out "$T/wxh" >/dev/null || bad "plot --size 3.3x2.2"
case "$(mediabox "$T/wxh/nanobench.pdf")" in 23[78]" "15[89]) ;; *) bad "3.3x2.2 PDF is $(mediabox "$T/wxh/nanobench.pdf") pt, not 237.6 x 158.4";; esac
for sz in 0x2 3.3 huge 3x100; do
	"$V" plot --size "$sz" --db "$DB" --out "$T/x" >/dev/null 2>&1; [ $? -eq 2 ] || bad "--size $sz accepted"
done
"$V" plot --font 0 --db "$DB" --out "$T/x" >/dev/null 2>&1; [ $? -eq 2 ] || bad "--font 0 accepted"
"$V" plot nanobenchh --db "$DB" --out "$T/x" >/dev/null 2>&1; [ $? -eq 2 ] || bad "an unknown figure name accepted"

# history: one commit is no history
"$V" plot history --db "$DB" --out "$T/h1" >"$T/out"; rc=$?
[ $rc -eq 0 ] || bad "history of one commit: status $rc"
grep -q "history skipped: only one commit" "$T/out" || { bad "single-commit history not explained"; cat "$T/out"; }
[ -e "$T/h1/history.png" ] && bad "a history of one commit was drawn"
# ... two commits are
sqlite3 "$DB" "update run set git_commit = '0123456789abcdef0123456789abcdef01234567', started = started - 100 where id <= 3"
"$V" plot history --workload cpuid --db "$DB" --out "$T/h2" >"$T/out" || { bad "history of two commits"; cat "$T/out"; }
[ -s "$T/h2/history.pdf" ] || bad "history of two commits not drawn"
exit $fail
