#!/usr/bin/env bash
# run_attribution.sh — `run` says which profile values a result rests on:
# "profile_values" (cycles of each value, its share class) and "provenance"
# (cycles by class) both sum to cycles.total, on a few engines and both
# vendors' profiles; the table prints the cost basis; a real engine's JSON
# has neither key. The output stays valid JSON.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
i=0
for run in "native cpuid zen4 native" "vtx syscall p4 shadow" "svm pgfault zen4 nested" "bt ctxsw p4 shadow" \
	"pv in zen4 direct" "trap syscall p4 shadow"; do
	set -- $run
	i=$((i + 1))
	"$V" run --engine "$1" --mmu "$4" --workload "$2" --profile "$3" --iterations 30 --image "$G" --no-db --format json \
		>"$d/$i.json" || { echo "run $run failed"; cat "$d/$i.json"; exit 1; }
	python3 -m json.tool "$d/$i.json" >/dev/null || { echo "run $run: invalid JSON"; exit 1; }
done
python3 - "$d" "$i" <<'PY' || exit 1
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    r = json.load(open("%s/%d.json" % (d, i)))
    what = "%s/%s %s %s" % (r["engine"], r["mmu"], r["profile"], r["workload"])
    assert r["status"] == "ok", what + ": " + r["reason"]
    total = r["cycles"]["total"]
    pv, prov = r["profile_values"], r["provenance"]
    assert set(prov) == {"sourced", "derived", "estimated", "set", "unpriced", "unknown"}, what + ": provenance keys"
    assert sum(prov.values()) == total, "%s: provenance sums to %d, cycles.total %d" % (what, sum(prov.values()), total)
    assert sum(v["cycles"] for v in pv.values()) == total, what + ": profile_values do not sum to cycles.total"
    c = [v["cycles"] for v in pv.values()]
    assert c == sorted(c, reverse=True) and min(c) > 0, what + ": profile_values not by cycles, descending"
    by = {}
    for k, v in pv.items():
        assert k == "(none)" or ("." in k and v["class"] in ("sourced", "derived", "estimated")), what + ": " + k + " " + v["class"]
        by[v["class"]] = by.get(v["class"], 0) + v["cycles"]
    for cls in ("sourced", "derived", "estimated"):
        assert by.get(cls, 0) == prov[cls], what + ": " + cls
    assert prov["unknown"] == 0 and prov["set"] == 0, what
    print("%-28s %s" % (what, " ".join("%s %.1f%%" % (k, 100.0 * v / total) for k, v in prov.items() if v)))
PY
# a stored run (its classes from the runner, results/db_write.c) has one
# value_cycles row per value of its JSON, same cycles, same class
"$V" run --engine pv --mmu direct --workload pgfault --profile p4 --iterations 30 --image "$G" --db "$d/s.db" --format json \
	>"$d/s.json" || { echo "stored run failed"; exit 1; }
python3 - "$d" <<'PY' || exit 1
import json, sqlite3, sys
d = sys.argv[1]
pv = json.load(open(d + "/s.json"))["profile_values"]
rows = {f: (c, k) for f, c, k in sqlite3.connect(d + "/s.db").execute("SELECT field, cycles, class FROM value_cycles")}
want = {f: (v["cycles"], "unpriced" if f == "(none)" else v["class"]) for f, v in pv.items()}
assert rows == want, "stored value_cycles differ from the run's JSON: %r vs %r" % (rows, want)
PY
# the table: the shares and the estimated values that weigh most
"$V" run --engine vtx --mmu shadow --workload cpuid --profile p4 --iterations 30 --image "$G" --no-db >"$d/t.txt" || exit 1
grep -Eq '^cost basis +[0-9.]+% sourced, [0-9.]+% derived, [0-9.]+% estimated' "$d/t.txt" || { echo "table: no cost basis line"; cat "$d/t.txt"; exit 1; }
grep -q '^  top estimated   ' "$d/t.txt" || { echo "table: no top estimated values"; cat "$d/t.txt"; exit 1; }
# a real engine has no model counters: neither key (skipped where the host engine cannot run)
if "$V" run --engine host --workload syscall --iterations 1000 --no-db --format json >"$d/h.json" 2>/dev/null; then
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert "profile_values" not in r and "provenance" not in r' \
		"$d/h.json" || { echo "host engine: attribution keys in a real run"; exit 1; }
fi
echo "attribution ok"
