#!/usr/bin/env bash
# paper.sh — `make paper` on a small database: NORUN=1 on an empty database
# names the command of each missing run and exits 2; a normal build runs them
# and produces the PDF, every macro the text uses defined from the database
# (gen/numbers.tex agrees with advise and sweep), the VMM entry tables
# (exits, callouts, hypercalls), the sources table from the profile's
# provenance notes, modelled/measured counts from the database, no ??
# (pdftotext) and no multiply defined labels; NORUN=1 then succeeds
# without running anything.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v pdflatex >/dev/null || { echo "pdflatex not installed (texlive-latex-base)"; exit 77; }
kpsewhich booktabs.sty >/dev/null 2>&1 || { echo "booktabs not installed (texlive-latex-recommended)"; exit 77; }
command -v sqlite3 >/dev/null && git rev-parse HEAD >/dev/null 2>&1 || { echo "needs sqlite3 and a git checkout"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
export VIRTLAB="$V" DB="$T/p.db" PAPER_OUT="$T/out" PAPER_PROFILES=zen4 PAPER_WORKLOADS=cpuid,ptemod \
	PAPER_SWEEP=tlb.walk_ref=2:64:log:3 PAPER_SWEEP_WORKLOADS=ctxsw PAPER_ITER=200
NORUN=1 paper/build.sh >"$T/out1" 2>"$T/err1"; rc=$?
[ $rc -eq 2 ] || bad "NORUN=1 on an empty database: status $rc (want 2)"
# every default configuration of zen4 x 2 workloads (native, svm/shadow, svm/nested, bt/shadow, ...):
# the count stated must be the number of commands listed, at least native + svm's two
nmiss=$(grep -c "^  .* run --engine " "$T/err1")
[ "$nmiss" -ge 6 ] && grep -q "lacks $nmiss runs" "$T/err1" || { bad "missing runs not counted"; cat "$T/err1"; }
grep -q -- "run --engine svm --mmu nested --workload ptemod --profile zen4 --iterations 200 --db $T/p.db" "$T/err1" ||
	bad "missing run not named with its command"
[ ! -e "$T/out/virtlab.pdf" ] || bad "a PDF without the runs"
paper/build.sh >"$T/out2" 2>"$T/err2" || { bad "make paper: status $?"; cat "$T/err2"; tail -20 "$T/out/latex.log"; }
[ -s "$T/out/virtlab.pdf" ] || bad "no PDF"
head -c 5 "$T/out/virtlab.pdf" | grep -q "%PDF-" || bad "not a PDF"
grep -q "undefined" "$T/out/latex.log" && bad "undefined references or macros in the paper"
# the numbers in the text are the tools' numbers
best=$("$V" advise --db "$T/p.db" --profile zen4 --workloads ptemod --format json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['best'])")
grep -qF "\\newcommand{\\vlZenfourPtemodBest}{$best}" "$T/out/gen/numbers.tex" || bad "advise's choice is not the macro's"
grep -q "newcommand{\\\\vlRuns}{[0-9]" "$T/out/gen/numbers.tex" || bad "no run count macro"
# every macro the text uses is generated
for m in $(grep -o '\\vl[A-Za-z]*' paper/virtlab.tex | sort -u); do
	grep -qF "\\newcommand{$m}" "$T/out/gen/numbers.tex" || bad "macro $m not generated"
done
grep -q "multiply defined\|Overfull" "$T/out/latex.log" && bad "multiply defined labels or overfull boxes in the paper"
# the VMM entry tables under their own headings (zen4 runs bt and pv by default), the citations table
for l in tab:report-zen4 tab:exits-zen4 tab:callouts-zen4 tab:hypercalls-zen4 tab:sources tab:citations fig:map fig:sweep; do
	grep -qF "\newlabel{$l}" "$T/out/virtlab.aux" || bad "the paper has no $l"
done
grep -q "texttt{CPUID}" "$T/out/gen/entries-zen4.tex" || bad "bt's CPUID callout not in the entry tables"
# what each result rests on: the basis table, and the methodology's sentence from report --basis
grep -qF "\newlabel{tab:basis-zen4}" "$T/out/virtlab.aux" || bad "the paper has no tab:basis-zen4"
python3 - "$T/out/gen/basis-zen4.json" "$T/out/gen/numbers.tex" <<'PY' || bad "the basis macros are not report --basis's"
import json, re, sys
b = json.load(open(sys.argv[1]))["basis"]
tex = open(sys.argv[2]).read()
assert "\\newcommand{\\vlBasisResults}{%d}" % len(b) in tex, len(b)
exact = [c for c in b if c["attribution"] == "exact"]
assert "\\newcommand{\\vlBasisExact}{%d}" % len(exact) in tex
sent = re.search(r"\\newcommand\{\\vlBasisSentence\}\{(.*)\}$", tex, re.M).group(1)
if exact:
    lo = min(c["shares"]["estimated"] for c in exact)
    hi = max(c["shares"]["estimated"] for c in exact)
    assert ("ranges from %.1f\\%%" % (100 * lo)) in sent and ("to %.1f\\%%" % (100 * hi)) in sent, sent
else:
    assert sent.startswith("None of them"), sent
PY
if command -v pdftotext >/dev/null; then
	pdftotext "$T/out/virtlab.pdf" "$T/pdf.txt" || bad "pdftotext"
	grep -q "??" "$T/pdf.txt" && bad "an unresolved reference (??) in the PDF"
	grep -q "Callouts from translated code" "$T/pdf.txt" && grep -q "Hypercalls (paravirtualization)" "$T/pdf.txt" ||
		bad "the PDF lacks the callout or hypercall table"
fi
# the methodology's sources come from the profile's provenance notes: every
# SOURCES.md entry zen4's values cite is named, and no other
want=$("$V" list profiles --sources --format json | python3 -c "import json, re, sys
ids = set()
for p in json.load(sys.stdin)['profiles']:
    if p['name'] == 'zen4':
        for v in p['values']:
            for m in re.finditer(r'SOURCES\.md ((?:[A-Z]\d+(?:, *|;? *)?)+)', v['note'] or ''):
                ids |= set(re.findall(r'[A-Z]\d+', m.group(1)))
print(' '.join(sorted(ids)))")
got=$(grep -o '^\\quad [A-Z][0-9]* ' "$T/out/gen/citations.tex" | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//')
[ -n "$want" ] && [ "$got" = "$want" ] || bad "citations table names '$got', the profile's notes cite '$want'"
# modelled and measured counts are the database's
mr=$(sqlite3 "$T/p.db" "select count(*) from run where profile = 'zen4' and model = 1 and status = 'ok' and git_commit = (select git_commit from run limit 1)")
grep -qF "\newcommand{\vlModelRuns}{$mr}" "$T/out/gen/numbers.tex" || bad "vlModelRuns is not the database's $mr"
grep -qF "\newcommand{\vlMeasuredConfigs}{none}" "$T/out/gen/numbers.tex" || bad "measured configurations claimed"
n=$(sqlite3 "$T/p.db" "select count(*) from run")
NORUN=1 paper/build.sh >/dev/null 2>"$T/err3" || { bad "NORUN=1 after the runs: status $?"; cat "$T/err3"; }
[ "$(sqlite3 "$T/p.db" "select count(*) from run")" -eq "$n" ] || bad "NORUN=1 ran something"
paper/build.sh >/dev/null 2>&1 || bad "rebuild"
[ "$(sqlite3 "$T/p.db" "select count(*) from run")" -eq "$n" ] || bad "a rebuild at the same commit ran again"
exit $fail
