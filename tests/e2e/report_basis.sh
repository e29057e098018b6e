#!/usr/bin/env bash
# report_basis.sh — per-value cycles end to end (schema v5, value_cycles):
# every model run stores them, never more than its modelled cycles (the sum
# of its categories; equal where the model attributes every charge: then
# `report --basis` says exact); each value's stored class is the one
# `list profiles --sources` gives it, and a sweep's own value is "set";
# `report --basis` shares sum to 1 in JSON and CSV; export and merge carry
# the rows. (Assertions hold whether or not every charge names its value.)
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need python3 sqlite3
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
DB="$T/b.db"
for c in native/native svm/nested pv/direct; do
	"$V" run --engine ${c%/*} --mmu ${c#*/} --workload cpuid --iterations 100 --profile zen4 --image "$G" --db "$DB" \
		>/dev/null 2>"$T/err" || bad "run $c: $(cat "$T/err")"
done
"$V" sweep --param svm.vmexit=700,900 --profile zen4 --engines svm/nested --workloads cpuid --iterations 50 \
	--db "$DB" --no-report >/dev/null 2>"$T/err" || bad "sweep: $(cat "$T/err")"
q() { sqlite3 "$DB" "$1"; }
[ "$(q "select count(*) from run where model = 1 and status = 'ok'")" = 5 ] || bad "runs stored"
# every model run has per-value rows, their sum within its modelled cycles
q "select r.id, (select count(*) from value_cycles v where v.run_id = r.id),
	(select coalesce(sum(cycles), 0) from value_cycles v where v.run_id = r.id),
	(select sum(value) from cycles c where c.run_id = r.id) from run r where model = 1" >"$T/sums"
while IFS='|' read -r id n sv sc; do
	[ "$n" -gt 0 ] && [ "$sv" -gt 0 ] && [ "$sv" -le "$sc" ] || bad "run $id: $n values, $sv cycles of $sc"
done <"$T/sums"
[ "$(q "select count(*) from value_cycles where class = 'unknown'")" = 0 ] || bad "a class unknown"
# the classes are the profile's (list profiles --sources); the sweep's value is set
"$V" list profiles --sources --format json >"$T/src.json" || bad "list profiles --sources"
q "select r.profile, v.field, v.class from value_cycles v join run r on r.id = v.run_id" >"$T/classes"
python3 - "$T/src.json" "$T/classes" <<'PY' || bad "stored classes are not the profile's"
import json, sys
src = {v["section"] + "." + v["key"]: v["class"] for p in json.load(open(sys.argv[1]))["profiles"] if p["name"] == "zen4"
       for v in p["values"]}
for line in open(sys.argv[2]):
    prof, field, cls = line.rstrip("\n").split("|")
    if field == "(none)":
        assert cls == "unpriced", line
    elif prof == "zen4":
        assert cls == src[field], (line, src[field])
    elif field == "svm.vmexit":   # zen4:svm.vmexit=700 / 900: the swept value has no provenance
        assert cls == "set", line
    else:                         # the sweep's other values: as the file says, or derived from the swept one
        assert cls in (src[field], "set"), (line, src[field])
PY
# report --basis: shares sum to 1; exact exactly where the values cover every cycle
for p in zen4 zen4:svm.vmexit=700; do
	"$V" report --db "$DB" --profile "$p" --basis --format json >"$T/basis.json" 2>"$T/err" || bad "report --basis $p: $(cat "$T/err")"
	"$V" report --db "$DB" --profile "$p" --basis --format csv >"$T/basis.csv" 2>"$T/err" || bad "report --basis csv $p"
	python3 - "$T/basis.json" "$T/basis.csv" "$T/sums" "$p" <<'PY' || bad "report --basis $p shares"
import csv, json, sys
b = json.load(open(sys.argv[1]))["basis"]
rows = list(csv.DictReader(open(sys.argv[2])))
sums = {int(l.split("|")[0]): [int(x) for x in l.split("|")[1:]] for l in open(sys.argv[3])}
assert len(b) == len(rows) == (3 if sys.argv[4] == "zen4" else 1), (len(b), len(rows))
classes = ["sourced", "derived", "estimated", "set", "unpriced", "other", "unattributed"]
for c, r in zip(b, rows):
    n, sv, sc = sums[c["run_id"]]
    assert c["total_cycles"] == sc, (c, sc)
    assert c["attribution"] == ("exact" if sv == sc and c["shares"]["unpriced"] < 1 else "partial"), (c, sv, sc)
    assert abs(sum(c["shares"][k] for k in classes) - 1) < 1e-4, c
    assert abs(sum(float(r[k]) for k in classes) - 1) < 1e-9, r
    assert abs(c["shares"]["unattributed"] - (sc - sv) / sc) < 1e-6, c
PY
done
# export carries them: JSON values sum as the table's rows
"$V" export --db "$DB" --format json >"$T/exp.json" || bad "export json"
python3 - "$T/exp.json" "$T/sums" <<'PY' || bad "export values"
import json, sys
sums = {int(l.split("|")[0]): int(l.split("|")[2]) for l in open(sys.argv[2])}
for r in json.load(open(sys.argv[1])):
    assert sum(v["cycles"] for v in r["values"].values()) == sums[r["id"]], r["id"]
PY
[ "$("$V" export --db "$DB" --format csv | grep -c ',value_cycles,')" = "$(q 'select count(*) from value_cycles')" ] ||
	bad "export csv value_cycles rows"
# merge carries them
"$V" merge "$T/m.db" "$DB" >/dev/null 2>"$T/err" || bad "merge: $(cat "$T/err")"
[ "$(sqlite3 "$T/m.db" "select count(*), sum(cycles), group_concat(distinct class) from value_cycles")" = \
  "$(q "select count(*), sum(cycles), group_concat(distinct class) from value_cycles")" ] || bad "merge lost value_cycles"
exit $fail
