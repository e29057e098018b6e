#!/usr/bin/env bash
# cli_json.sh — `run --format json`: the DESIGN.md keys are present, every
# events.def key is in "events", and two runs give identical counters.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
a=$(mktemp); b=$(mktemp); trap 'rm -f "$a" "$b"' EXIT
"$V" run --engine native --workload cpuid --iterations 200 --image "$G" --no-db --format json >"$a" || { echo "run failed"; cat "$a"; exit 1; }
"$V" run --engine native --workload cpuid --iterations 200 --image "$G" --no-db --format json >"$b" || exit 1
python3 - "$a" "$b" include/virtlab/events.def <<'PY'
import json, re, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
for k in ["engine","mmu","workload","profile","iterations","status","cycles_per_iter","cycles","exits","events","host"]:
    assert k in a, "missing key " + k
for k in ["total","guest","walk","exception","exit","vmm","translate","hypercall"]:
    assert k in a["cycles"], "missing cycles." + k
for k in ["seconds","mips"]:
    assert k in a["host"], "missing host." + k
keys = re.findall(r'^X\(\w+,\s*"(\w+)"', open(sys.argv[3]).read(), re.M)
assert keys and all(k in a["events"] for k in keys), "events keys differ from events.def"
assert a["status"] == "ok", a.get("reason")
assert (a["engine"], a["mmu"], a["workload"], a["profile"], a["iterations"]) == ("native","native","cpuid","zen4",200)
assert a["cycles"]["total"] == sum(v for k, v in a["cycles"].items() if k != "total")
assert abs(a["cycles_per_iter"] - a["cycles"]["total"] / 200) < 1e-6
assert a["events"]["guest_instructions"] > 0
for k in ["cycles","exits","events","cycles_per_iter","total"]:
    assert a[k] == b[k], "run-to-run difference in " + k
print("json ok; cycles/iter", a["cycles_per_iter"])
PY
