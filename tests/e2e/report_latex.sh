#!/usr/bin/env bash
# report_latex.sh — `report --format latex`: the report's table as a
# booktabs fragment with the same numbers as the CSV, names from the
# database escaped for LaTeX; with pdflatex present, the fragment compiles
# in a minimal document.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3
DB="$T/l.db"
"$V" matrix --engines native,svm --workloads cpuid,ptemod --iterations 300 --db "$DB" >/dev/null || bad "matrix"
"$V" report --db "$DB" --format latex >"$T/t.tex" || bad "report latex: status $?"
grep -q '^\\begin{tabular}{lrrr}$' "$T/t.tex" || bad "tabular columns"
grep -q '^workload & native & svm/shadow & svm/nested \\\\$' "$T/t.tex" || bad "header row"
# same numbers as the csv (one decimal)
"$V" report --db "$DB" --format csv | awk -F, 'NR > 1 { printf "%s %.1f %.1f %.1f\n", $1, $2, $4, $6 }' >"$T/want"
awk -F' & ' '/^(cpuid|ptemod) / { gsub(/ \([^)]*\)/, ""); gsub(/ \\\\/, ""); print $1, $2, $3, $4 }' "$T/t.tex" >"$T/got"
diff "$T/want" "$T/got" >/dev/null || { bad "latex numbers differ from csv"; diff "$T/want" "$T/got"; }
# a name with LaTeX specials is escaped
sqlite3 "$DB" "update run set profile = 'my_p%f' where workload = 'cpuid'"
"$V" report --db "$DB" --profile 'my_p%f' --format latex >"$T/e.tex" 2>/dev/null
grep -q 'profile my\\_p\\%f' "$T/e.tex" || bad "profile name not escaped"
"$V" report --db "$DB" --format latex --depends >/dev/null 2>&1; [ $? -eq 2 ] || bad "--depends with latex"
if command -v pdflatex >/dev/null && kpsewhich booktabs.sty >/dev/null 2>&1; then
	printf '\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{t.tex}\n\\input{e.tex}\n\\end{document}\n' >"$T/doc.tex"
	(cd "$T" && pdflatex -interaction=nonstopmode -halt-on-error doc.tex >/dev/null) || bad "pdflatex failed on the fragment"
	[ -s "$T/doc.pdf" ] || bad "no PDF"
else
	echo "pdflatex/booktabs not installed: compile check skipped"
fi
exit $fail
