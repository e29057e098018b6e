#!/usr/bin/env bash
# paper/build.sh — `make paper`: build build/paper/virtlab.pdf from the
# results database. It runs what the paper needs that the database lacks at
# this commit (DB=FILE, default results/virtlab.db), generates the tables
# (report --format latex), figures (advise --map, sweep) and every number
# of the prose (gen/numbers.tex, macros written here from the tools' JSON),
# then runs pdflatex. NORUN=1: only what is stored; a missing run is named
# with the command that makes it, status 2.
# Knobs (tests use them to stay small): PAPER_PROFILES, PAPER_WORKLOADS,
# PAPER_SWEEP (a sweep --param), PAPER_SWEEP_WORKLOADS, PAPER_ITER.
set -u
cd "$(dirname "$0")/.."
V=${VIRTLAB:-bin/virtlab}
DB=${DB:-results/virtlab.db}
OUT=${PAPER_OUT:-build/paper}
PROFILES=${PAPER_PROFILES:-p4,skylake-sp,zen4}
WORKLOADS=${PAPER_WORKLOADS:-syscall,cpuid,pgfault,ptemod,ctxsw,forkwait,compute}
SWEEP=${PAPER_SWEEP:-tlb.walk_ref=2:256:log:8}
SWEEP_WL=${PAPER_SWEEP_WORKLOADS:-ctxsw,ptemod}
SWEEP_PROFILE=${PROFILES##*,}
ITER=${PAPER_ITER:-}
die() { echo "make paper: $*" >&2; exit "${2:-1}"; }
[ -x "$V" ] || die "no $V (run make first)" 2
command -v pdflatex >/dev/null || die "pdflatex not found (apt-get install texlive-latex-base texlive-latex-recommended)" 2
command -v sqlite3 >/dev/null || die "sqlite3 not found" 2
# the commit of the binary that stores the runs (what `run` records), not
# merely HEAD: a binary built before the last commit stores that one
COMMIT=$("$V" version | sed -n 's/.*(commit \([0-9a-f]*\).*/\1/p')
[ ${#COMMIT} -ge 7 ] || die "$V names no git commit: the paper states the commit its runs come from" 2
ITERARG=${ITER:+--iterations $ITER}
SWEEPID="paper-${COMMIT:0:12}-$SWEEP_PROFILE-$SWEEP"

# 1. the runs the paper needs: one per line of `plan`, at this commit
mkdir -p "$OUT/gen" || die "cannot create $OUT"
"$V" plan --shards "$OUT/gen/unused" --profile "$PROFILES" --workloads "$WORKLOADS" $ITERARG >"$OUT/gen/plan" || die "plan failed" 2
rmdir "$OUT/gen/unused" 2>/dev/null
missing=()
while read -r line; do
	eval "set -- $line"
	shift 2; e= m= w= p= i=
	while [ $# -gt 0 ]; do
		case $1 in --engine) e=$2;; --mmu) m=$2;; --workload) w=$2;; --profile) p=$2;; --iterations) i=$2;; esac
		shift
	done
	n=0
	if [ -f "$DB" ]; then
		n=$(sqlite3 "file:$DB?mode=ro" "select count(*) from run where engine='$e' and mmu='$m' and workload='$w'
			and profile='$p' and git_commit='$COMMIT' and status='ok'${i:+ and iterations=$i}" 2>/dev/null) || n=0
	fi
	[ "${n:-0}" -gt 0 ] || missing+=("$V run --engine $e --mmu $m --workload $w --profile $p${i:+ --iterations $i} --db $DB")
done <"$OUT/gen/plan"
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${NORUN:-0}" = 1 ]; then
		echo "make paper: NORUN=1 and $DB lacks ${#missing[@]} runs at commit ${COMMIT:0:12}; make them with:" >&2
		printf '  %s\n' "${missing[@]}" >&2
		exit 2
	fi
	echo "make paper: running ${#missing[@]} missing runs into $DB"
	for c in "${missing[@]}"; do $c >/dev/null || die "failed: $c"; done
fi
sweepargs=(--param "$SWEEP" --profile "$SWEEP_PROFILE" --workloads "$SWEEP_WL" --id "$SWEEPID" --db "$DB" --out "$OUT/gen/sweep" $ITERARG)
if [ "${NORUN:-0}" = 1 ]; then
	"$V" sweep --no-run "${sweepargs[@]}" --format json >"$OUT/gen/sweep.json" 2>"$OUT/gen/sweep.err" ||
		{ echo "make paper: NORUN=1 and $DB lacks the sweep; make it with:" >&2
		  echo "  $V sweep ${sweepargs[*]}" >&2; exit 2; }
else
	"$V" sweep "${sweepargs[@]}" --format json >"$OUT/gen/sweep.json" 2>"$OUT/gen/sweep.err" || die "sweep failed (see $OUT/gen/sweep.err)"
fi

# 2. tables, figures, numbers — read from the database only
G="$OUT/gen"
IFS=, read -ra PL <<<"$PROFILES"
: >"$G/tables.tex"
: >"$G/figures.tex"
for p in "${PL[@]}"; do
	"$V" report --db "$DB" --profile "$p" --commit "$COMMIT" --format latex $ITERARG >"$G/report-$p.tex" || die "report $p failed"
	echo "\\input{gen/report-$p.tex}" >>"$G/tables.tex"
	"$V" plot --db "$DB" --profile "$p" --commit "$COMMIT" --out "$G/plots-$p" --size page breakdown exits >"$G/plot-$p.log" 2>&1 ||
		die "plot $p failed (see $G/plot-$p.log)"
	for f in breakdown exits; do
		[ -s "$G/plots-$p/$f.pdf" ] || continue   # exits: none when no configuration exits
		printf '\\begin{figure}[p]\n\\centering\n\\includegraphics[width=\\linewidth]{gen/plots-%s/%s.pdf}\n\\caption{%s on profile %s (\\texttt{virtlab plot %s}).}\n\\end{figure}\n' \
			"$p" "$f" "$( [ $f = breakdown ] && echo 'Cycles per iteration by cost category' || echo 'VM exits per iteration by exit reason')" "$p" "$f" >>"$G/figures.tex"
	done
done
"$V" advise --db "$DB" --profile "$PROFILES" --workloads "$WORKLOADS" --format json --map "$G/map" >"$G/advise.json" 2>"$G/advise.err" ||
	die "advise: some decision is missing (see $G/advise.err)"
"$V" list profiles --sources --format json >"$G/sources.json" || die "list profiles failed"
runs=$(sqlite3 "file:$DB?mode=ro" "select count(*) from run where git_commit = '$COMMIT'")
python3 - "$G" "$COMMIT" "$PROFILES" "$runs" "$DB" <<'PY' || die "macro generation failed"
import json, sys, re
g, commit, profiles, runs, db = sys.argv[1:6]
adv = json.load(open(g + "/advise.json"))
sw = json.load(open(g + "/sweep.json"))
src = json.load(open(g + "/sources.json"))
def tex(s):
    return re.sub(r"([&%$#_{}])", r"\\\1", str(s))
DIGITS = "Zero One Two Three Four Five Six Seven Eight Nine".split()
def name(*parts):   # macro names: letters only (zen4 -> ZenFour, so zen4 and zen5 differ)
    s = "".join(re.sub(r"[0-9]", lambda d: DIGITS[int(d.group())], p).title().replace("-", "") for p in parts)
    return "vl" + "".join(c for c in s if c.isalpha())
out = []
def m(n, v):
    out.append("\\newcommand{\\%s}{%s}" % (n, v))
m("vlCommit", tex(commit[:12]))
m("vlRuns", runs)
m("vlProfiles", tex(profiles.replace(",", ", ")))
m("vlDecisions", len(adv))
nested = sum(1 for r in adv if r["decided"] and r["best"].endswith("/nested"))
m("vlNestedWins", nested)
m("vlShadowWins", sum(1 for r in adv if r["decided"] and r["best"].endswith("/shadow")))
big = max((r for r in adv if r["decided"] and r["margin"] is not None), key=lambda r: r["margin"])
m("vlBigMarginWorkload", tex(big["workload"])); m("vlBigMarginProfile", tex(big["profile"]))
m("vlBigMarginBest", tex(big["best"])); m("vlBigMarginPct", "%.0f" % (100 * big["margin"]))
m("vlBigMarginCategory", tex(big["deciding_category"]))
for r in adv:
    base = name(r["profile"], r["workload"])
    m(base + "Best", tex(r["best"]))
    m(base + "Margin", "%.1f" % (100 * r["margin"]) if r["margin"] is not None else "--")
m("vlSweepParam", tex(sw["param"])); m("vlSweepBase", tex(sw["base"]))
m("vlSweepValues", len(sw["values"]))
m("vlSweepLo", "%g" % sw["values"][0]); m("vlSweepHi", "%g" % sw["values"][-1])
m("vlCrossovers", len(sw["crossovers"]))
if sw["crossovers"]:
    x = sw["crossovers"][0]
    m("vlCrossWorkload", tex(x["workload"])); m("vlCrossA", tex(x["a"])); m("vlCrossB", tex(x["b"]))
    m("vlCrossValue", "%.1f" % x["value"]); m("vlCrossBelow", tex(x["cheaper_below"] or "neither"))
else:
    for k in ("Workload", "A", "B", "Value", "Below"):
        m("vlCross" + k, "--")
rows = []
for p in src["profiles"]:
    if p["name"] in profiles.split(","):
        c = p["counts"]
        rows.append("%s & %d & %d & %d & %d \\\\" % (tex(p["name"]), c["total"], c["sourced"], c["derived"], c["estimated"]))
open(g + "/sources.tex", "w").write("\\begin{tabular}{lrrrr}\n\\toprule\nprofile & values & sourced & derived & estimated \\\\\n\\midrule\n"
                                    + "\n".join(rows) + "\n\\bottomrule\n\\end{tabular}\n")
open(g + "/numbers.tex", "w").write("\n".join(out) + "\n")
PY
cp paper/virtlab.tex "$G/../virtlab.tex"
cd "$OUT" && for pass in 1 2; do
	pdflatex -interaction=nonstopmode -halt-on-error virtlab.tex >latex.log 2>&1 || { tail -20 latex.log >&2; die "pdflatex failed (see $OUT/latex.log)"; }
done
echo "$OUT/virtlab.pdf"
