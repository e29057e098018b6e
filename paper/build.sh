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
: >"$G/entries.tex"
: >"$G/figures.tex"
: >"$G/basis.tex"
for p in "${PL[@]}"; do
	"$V" report --db "$DB" --profile "$p" --commit "$COMMIT" --format latex $ITERARG >"$G/report-$p.tex" || die "report $p failed"
	echo "\\input{gen/report-$p.tex}" >>"$G/tables.tex"
	# VMM entries under their own headings: exits, callouts (bt), hypercalls (pv)
	"$V" report --db "$DB" --profile "$p" --commit "$COMMIT" --entries --format latex $ITERARG >"$G/entries-$p.tex" ||
		die "report --entries $p failed"
	echo "\\input{gen/entries-$p.tex}" >>"$G/entries.tex"
	# what each result rests on: shares of its cycles on sourced, derived, estimated values
	"$V" report --db "$DB" --profile "$p" --commit "$COMMIT" --basis --format latex $ITERARG >"$G/basis-$p.tex" ||
		die "report --basis $p failed"
	"$V" report --db "$DB" --profile "$p" --commit "$COMMIT" --basis --format json $ITERARG >"$G/basis-$p.json" ||
		die "report --basis --format json $p failed"
	echo "\\input{gen/basis-$p.tex}" >>"$G/basis.tex"
	"$V" plot --db "$DB" --profile "$p" --commit "$COMMIT" --out "$G/plots-$p" --size page breakdown exits >"$G/plot-$p.log" 2>&1 ||
		die "plot $p failed (see $G/plot-$p.log)"
	for f in breakdown exits; do
		[ -s "$G/plots-$p/$f.pdf" ] || continue   # exits: none when no configuration exits
		printf '\\begin{figure}[p]\n\\centering\n\\includegraphics[width=\\linewidth]{gen/plots-%s/%s.pdf}\n\\caption{%s on profile %s (\\texttt{virtlab plot %s}).}\n\\end{figure}\n' \
			"$p" "$f" "$( [ $f = breakdown ] && echo 'Cycles per iteration by cost category' || echo 'VMM entries per iteration: VM exits by exit reason, callouts (bt) and hypercalls (pv) by name')" "$p" "$f" >>"$G/figures.tex"
	done
done
"$V" advise --db "$DB" --profile "$PROFILES" --workloads "$WORKLOADS" --format json --map "$G/map" >"$G/advise.json" 2>"$G/advise.err" ||
	die "advise: some decision is missing (see $G/advise.err)"
"$V" list profiles --sources --format json >"$G/sources.json" || die "list profiles failed"
runs=$(sqlite3 "file:$DB?mode=ro" "select count(*) from run where git_commit = '$COMMIT'")
# which of the runs behind the tables are modelled and which measured (real engines)
plist=$(printf "'%s'," "${PL[@]}"); plist=${plist%,}
sqlite3 -separator '|' "file:$DB?mode=ro" "select model, engine, mmu, count(*) from run where git_commit = '$COMMIT'
	and profile in ($plist) and status = 'ok' group by model, engine, mmu order by model, engine, mmu" >"$G/kinds.txt" ||
	die "reading $DB failed"
python3 - "$G" "$COMMIT" "$PROFILES" "$runs" "$DB" <<'PY' || die "macro generation failed"
import json, sys, re, os
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
m("vlFirstProfile", tex(profiles.split(",")[0]))
m("vlDecisions", len(adv))
m("vlDecided", sum(1 for r in adv if r["decided"]))
# wins per configuration, most first: generic over whatever engines and mmus won
wins = {}
for r in adv:
    if r["decided"]:
        wins[r["best"]] = wins.get(r["best"], 0) + 1
m("vlWins", ", ".join("%s %d" % (tex(k), v) for k, v in sorted(wins.items(), key=lambda kv: (-kv[1], kv[0]))) or "none")
mmuwins = {}
for k, v in wins.items():
    mm = k.split("/")[1] if "/" in k else k
    mmuwins[mm] = mmuwins.get(mm, 0) + v
m("vlMmuWins", ", ".join("%s paging %d" % (tex(k), v) for k, v in sorted(mmuwins.items(), key=lambda kv: (-kv[1], kv[0]))) or "none")
decided = [r for r in adv if r["decided"] and r["margin"] is not None]
big = max(decided, key=lambda r: r["margin"]) if decided else {"workload": "--", "profile": "--", "best": "--", "margin": 0,
                                                                "deciding_category": "--"}
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
# Each profile's sources, from its values' provenance notes (the loader's
# `; source:` / `; derived:` / `; estimate:` notes): the SOURCES.md entries
# cited (their titles from profiles/SOURCES.md), the documents a note names
# directly, and how many values are derived or estimated.
titles = {}
for pdir in sorted({os.path.dirname(p["path"]) for p in src["profiles"]}):   # SOURCES.md beside the profiles
    try:
        text = open(os.path.join(pdir, "SOURCES.md"), encoding="utf-8").read()
    except OSError:
        continue
    for entry in re.split(r"\n(?=- \*\*)|\n\s*\n", text):   # one list entry, its lines joined
        entry = " ".join(entry.split())
        mt = re.match(r"- \*\*([A-Z]\d+)(?:\*\*)? — ([^*]*?)(?:\*\*|$)", entry)
        if not mt:
            continue
        t = mt.group(2).strip()
        if mt.group(1)[0] not in "FD":   # "S3** — what (where, when): ...": what, up to the first colon
            t = t.split(": ")[0]
            if len(t) > 70:   # at a word, parentheses closed
                t = t[:t.rfind(" ", 0, 70)]
                while t.count("(") > t.count(")"):
                    t = t[:t.rfind("(")].rstrip()
        titles.setdefault(mt.group(1), t.strip().rstrip(",;:."))
rules = sorted((i for i in titles if i[0] == "D"), key=lambda i: int(i[1:]))
def short(s, n=90):
    s = " ".join(s.split())
    return s if len(s) <= n else s[:s.rfind(" ", 0, n)] + " ..."
def idkey(i):   # F, S first (the oldest series), D (the rules) last, the other letters between
    return ({"F": 0, "S": 1, "D": 3}.get(i[0], 2), i[0], int(i[1:]))
blocks = []
for p in src["profiles"]:
    if p["name"] not in profiles.split(","):
        continue
    cited, direct, nder, nest = {}, {}, 0, 0
    for v in p["values"]:
        note = v.get("note") or ""
        if v["class"] == "estimated":
            nest += 1
        elif v["class"] == "derived":
            nder += 1
        ids = []
        for mref in re.finditer(r"SOURCES\.md ((?:[A-Z]\d+(?:, *|;? *)?)+)", note):
            ids += re.findall(r"[A-Z]\d+", mref.group(1))
        if ids:
            for i in set(ids):
                cited[i] = cited.get(i, 0) + 1
        elif v["class"] == "sourced":
            d = short(re.sub(r"\s*\(SOURCES\.md[^)]*\)", "", note))
            direct[d] = direct.get(d, 0) + 1
    lines = ["\\multicolumn{2}{l}{\\textbf{%s} (%s): %d values} \\\\" % (tex(p["name"]), tex(p["model"]), p["counts"]["total"])]
    for i in sorted(cited, key=idkey):
        lines.append("\\quad %s %s & %d \\\\" % (i, tex(short(titles.get(i, "(not in SOURCES.md)"), 70)), cited[i]))
    for d in sorted(direct, key=lambda d: (-direct[d], d)):
        lines.append("\\quad %s & %d \\\\" % (tex(d), direct[d]))
    if nder:
        lines.append("\\quad derived from other values by the loader's rules (SOURCES.md %s) & %d \\\\"
                     % (rules[0] + "--" + rules[-1] if len(rules) > 1 else "".join(rules) or "derivation rules", nder))
    if nest:
        lines.append("\\quad estimates (each with its reason in the profile) & %d \\\\" % nest)
    blocks.append("\n".join(lines))
open(g + "/citations.tex", "w").write(
    "\\begin{longtable}{p{0.82\\linewidth}r}\n\\caption{Sources of each profile's values, from the provenance notes the profile "
    "loader reads (\\texttt{virtlab list profiles --sources}); a value counts under every entry its note cites (an estimate may cite the figure it starts from), and derived values and estimates also on their own lines.}"
    "\\label{tab:citations}\\\\\n\\toprule\nsource (as each value's note in the profile cites it) & values \\\\\n\\midrule\n\\endfirsthead\n"
    "\\toprule\nsource (continued) & values \\\\\n\\midrule\n\\endhead\n"
    + "\n\\midrule\n".join(blocks) + "\n\\bottomrule\n\\end{longtable}\n")
# modelled and measured: the runs behind the tables
model_runs, measured_runs, measured = 0, 0, []
for line in open(g + "/kinds.txt"):
    mdl, eng, mmu, cnt = line.rstrip("\n").split("|")
    if mdl == "1":
        model_runs += int(cnt)
    else:
        measured_runs += int(cnt)
        measured.append(eng if mmu in ("none", "native") else eng + "/" + mmu)
m("vlModelRuns", model_runs)
m("vlMeasuredRuns", measured_runs)
m("vlMeasuredConfigs", ", ".join(tex(x) for x in measured) if measured else "none")
# what the results rest on (report --basis): of the modelled results the
# tables report, those whose every modelled cycle is attributed to a profile
# value, and on them the share priced by estimated values
basis = []
for p in profiles.split(","):
    for c in json.load(open(g + "/basis-%s.json" % p))["basis"]:
        c["profile"] = p
        basis.append(c)
exact = [c for c in basis if c["attribution"] == "exact"]
m("vlBasisResults", len(basis))
m("vlBasisExact", len(exact))
def where(c):
    return "\\texttt{%s} under %s on %s" % (tex(c["workload"]), tex(c["config"]), tex(c["profile"]))
if exact:
    est = sorted(exact, key=lambda c: (c["shares"]["estimated"], c["profile"], c["workload"], c["config"]))
    sh = [c["shares"]["estimated"] for c in est]
    med = sh[len(sh) // 2] if len(sh) % 2 else (sh[len(sh) // 2 - 1] + sh[len(sh) // 2]) / 2
    tops = [(c["estimated_values"][0]["share"], c) for c in exact if c["estimated_values"]]
    s = ("On the %d whose every modelled cycle is attributed to a profile value, the share priced by estimated "
         "values ranges from %.1f\\%% (%s) to %.1f\\%% (%s), median %.1f\\%%."
         % (len(exact), 100 * sh[0], where(est[0]), 100 * sh[-1], where(est[-1]), 100 * med))
    if tops:
        share, c = max(tops, key=lambda t: (t[0], t[1]["profile"], t[1]["workload"], t[1]["config"]))
        s += (" The single estimated value that weighs most on a result is \\texttt{%s}: %.1f\\%% of the cycles of %s."
              % (tex(c["estimated_values"][0]["field"]), 100 * share, where(c)))
    m("vlBasisSentence", s)
else:
    m("vlBasisSentence", "None of them has every modelled cycle attributed to a profile value (their runs stored no "
      "per-value cycles, or incomplete ones), so no share is stated; the tables show what was stored.")
open(g + "/numbers.tex", "w").write("\n".join(out) + "\n")
PY
cp paper/virtlab.tex "$G/../virtlab.tex"
cd "$OUT" && for pass in 1 2; do
	pdflatex -interaction=nonstopmode -halt-on-error virtlab.tex >latex.log 2>&1 || { tail -20 latex.log >&2; die "pdflatex failed (see $OUT/latex.log)"; }
done
echo "$OUT/virtlab.pdf"
