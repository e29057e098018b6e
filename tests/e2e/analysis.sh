#!/usr/bin/env bash
# analysis.sh — report, export and plot on a database filled by `matrix`
# (plus a qemu-tcg run where QEMU is installed). Oracles: each report cell
# equals what an independent `run --no-db --format json` of the same
# combination prints (the model is deterministic); the ratio is recomputed
# here; every format parses (python3: csv, json); export's row counts equal
# what the sqlite3 CLI counts in the tables; every figure is a real PNG/PDF.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3 python3
DB="$T/r.db"
"$V" matrix --workloads cpuid,syscall,divzero,compute --iterations 300 -j 2 --db "$DB" >/dev/null || bad "matrix status $?"
if command -v qemu-system-x86_64 >/dev/null; then
	"$V" matrix --engines qemu-tcg --workloads cpuid --iterations 300 --repeats 3 --db "$DB" >/dev/null || bad "qemu-tcg matrix"
	have_qemu=1
else
	have_qemu=0
fi

# ---- report: text, csv, json, markdown
"$V" report --db "$DB" >"$T/rep.txt" || bad "report status $?"
cat "$T/rep.txt"
"$V" report --db "$DB" --format csv >"$T/rep.csv" || bad "report csv"
"$V" report --db "$DB" --format json >"$T/rep.json" || bad "report json"
"$V" report --db "$DB" --format markdown >"$T/rep.md" || bad "report markdown"
for w in cpuid syscall divzero compute; do
	"$V" run --workload $w --iterations 300 --no-db --format json >"$T/$w.json" || bad "run $w"
done
python3 - "$T" "$have_qemu" <<'PY' || fail=1
import csv, json, sys
T, have_qemu = sys.argv[1], sys.argv[2] == "1"
rep = json.load(open(f"{T}/rep.json"))
rows = {r["workload"]: r["cells"] for r in rep["rows"]}
names = [c["name"] for c in rep["configs"]]
assert names[0] == "native", names
assert ("qemu-tcg" in names) == have_qemu, names
for w in ["cpuid", "syscall", "divzero", "compute"]:
    run = json.load(open(f"{T}/{w}.json"))
    cell = rows[w]["native"]
    assert cell["cycles_per_iter"] == run["cycles_per_iter"], (w, cell, run["cycles_per_iter"])
    assert cell["ratio"] == 1
if have_qemu:
    q = rows["cpuid"]["qemu-tcg"]
    assert q["samples"] == 3 and q["cycles_per_iter"] > 0
    # host TSC cycles over modelled cycles is no ratio (issue 16 item 4)
    assert q["ratio"] is None and q["measured"] is True, q
with open(f"{T}/rep.csv") as f:
    table = list(csv.reader(f))
assert table[0][0] == "workload" and len(table[0]) == 1 + 2 * len(names), table[0]
assert [r[0] for r in table[1:]] == [r["workload"] for r in rep["rows"]]
for r in table[1:]:
    assert float(r[1]) == rows[r[0]]["native"]["cycles_per_iter"]
md = open(f"{T}/rep.md").read().splitlines()
tbl = [l for l in md if l.startswith("|")]
assert len(tbl) == 2 + len(rep["rows"]), tbl
assert all(l.count("|") == len(names) + 2 for l in tbl), tbl
print("report: json, csv and markdown agree with independent runs;", len(rep["rows"]), "rows,", names)
PY
grep -q "^cpuid " "$T/rep.txt" || bad "text report lacks cpuid"
"$V" report --db "$DB" --format xml 2>/dev/null; [ $? -eq 2 ] || bad "--format xml not a usage error"
"$V" report --db "$DB" --profile i486 2>"$T/err"; [ $? -eq 2 ] && grep -q "valid: .*zen4" "$T/err" || bad "report --profile i486"
"$V" report --db "$DB" --profile p4 2>/dev/null; [ $? -eq 1 ] || bad "report with no runs: status"

# ---- export: csv rows = metric rows in the tables; json objects = runs
"$V" export --db "$DB" --format csv >"$T/exp.csv" || bad "export csv"
"$V" export --db "$DB" --format json >"$T/exp.json" || bad "export json"
metrics=$(sqlite3 "$DB" "select (select count(*) from metric) + (select count(*) from sample)")
runs=$(sqlite3 "$DB" "select count(*) from run")
python3 - "$T" "$metrics" "$runs" <<'PY' || fail=1
import csv, json, sys
T, metrics, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(f"{T}/exp.csv")))
assert len(rows) == metrics, (len(rows), metrics)
assert len({r["run_id"] for r in rows}) == runs
js = json.load(open(f"{T}/exp.json"))
assert len(js) == runs
for r in js:
    if r["model"]:
        mine = {x["name"]: float(x["value"]) for x in rows if x["run_id"] == str(r["id"]) and x["kind"] == "event"}
        assert mine == {k: float(v) for k, v in r["events"].items()}, r["id"]
    else:
        s = [float(x["value"]) for x in rows if x["run_id"] == str(r["id"]) and x["kind"] == "sample"]
        assert s == r["samples"]["cycles_per_iter"]["values"]
print("export:", len(rows), "csv rows,", len(js), "runs")
PY
"$V" export --db "$DB" --format markdown 2>/dev/null; [ $? -eq 2 ] || bad "export --format markdown not a usage error"
"$V" export --db "$DB" --workload cpuid --latest --format json | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r and all(x["workload"]=="cpuid" for x in r)' || bad "export filters"

# ---- plot
if command -v gnuplot >/dev/null; then
	"$V" plot --db "$DB" --out "$T/plots" >"$T/plot.out" || { bad "plot status $?"; cat "$T/plot.out"; }
	# every run here is of one commit: no history figure (issue 16 item 10), said
	grep -q "history skipped: only one commit" "$T/plot.out" || bad "single-commit history not explained"
	for f in nanobench breakdown; do
		head -c 8 "$T/plots/$f.png" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a" || bad "$f.png is not a PNG"
		head -c 4 "$T/plots/$f.pdf" | grep -q "%PDF" || bad "$f.pdf is not a PDF"
		grep -qx "$T/plots/$f.png" "$T/plot.out" || bad "$f.png not named on output"
		[ -s "$T/plots/$f.dat" ] && [ -s "$T/plots/$f.gp" ] || bad "$f data or script missing"
	done
	# exits only when a configuration has exits (native has none)
	if sqlite3 "$DB" "select count(*) from exit_reason" | grep -qx 0; then
		grep -q "exits skipped" "$T/plot.out" || bad "no-exits case not reported"
	fi
	# the scripts redraw on their own
	(cd "$T/plots" && rm -f nanobench.png && gnuplot nanobench.gp && [ -s nanobench.png ]) || bad "nanobench.gp does not redraw"
else
	echo "gnuplot not installed: plot checks skipped"
fi
"$V" plot --db "$DB" --out "$T/p2" --no-gnuplot --figures nanobench >/dev/null || bad "plot --no-gnuplot"
[ -s "$T/p2/nanobench.dat" ] && [ ! -e "$T/p2/nanobench.png" ] || bad "--no-gnuplot output"
"$V" plot --db "$DB" --figures pie 2>/dev/null; [ $? -eq 2 ] || bad "unknown figure not a usage error"
exit $fail
