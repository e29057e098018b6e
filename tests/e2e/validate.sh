#!/usr/bin/env bash
# validate.sh — `virtlab validate`: identifies this CPU (the JSON's family and
# model equal /proc/cpuinfo's), names the profile it compares with and why,
# prints measured vs modelled in one unit with ratios that are the quotients
# of the printed values, stores host and model rows under its tag; bad
# usage (unknown profile, workload without a twin, --format csv) is exit 2
# with one line and nothing stored.
set -u
cd "$(dirname "$0")/../.."
VIRTLAB=${VIRTLAB:-bin/virtlab}
[ -x "$VIRTLAB" ] || { echo "no CLI at $VIRTLAB"; exit 77; }
[ -x build/host/vl-twin ] || { echo "no host twin program (make twin)"; exit 77; }
command -v python3 >/dev/null && command -v sqlite3 >/dev/null || { echo "needs python3 and sqlite3"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }

"$VIRTLAB" validate --workloads syscall,compute,cpuid --repeats 3 --iterations 500 --db "$T/v.db" --format json >"$T/v.json" 2>"$T/v.err"
rc=$?
cat "$T/v.json"; echo
[ $rc -eq 0 ] || bad "validate: exit status $rc: $(cat "$T/v.err")"
python3 - "$T/v.json" <<'PY' || fail=1
import json, math, sys
d = json.load(open(sys.argv[1]))
def check(c, msg):
    if not c: print("FAIL validate json:", msg); sys.exit(1)
info = {}
for line in open("/proc/cpuinfo"):
    if ":" in line:
        k, v = [x.strip() for x in line.split(":", 1)]
        info.setdefault(k, v)
check(d["host_cpu"]["family"] == int(info["cpu family"]) and d["host_cpu"]["model"] == int(info["model"]), "CPU identity differs from /proc/cpuinfo")
check(d["host_cpu"]["vendor"] == info["vendor_id"], "vendor")
check(d["profile"] and d["profile_reason"] and d["profile_match"] in ("exact", "stand-in"), "profile choice")
check(d["unit"] in ("ns", "cycles"), "unit")
if d["unit"] == "ns":
    check(not d["counters"]["cycles"] and d["counters"]["reason"], "ns without the counters' reason")
check([r["workload"] for r in d["rows"]] == ["syscall", "compute", "cpuid"], "rows")
for r in d["rows"]:
    check(r["status"] == "ok" and r["samples"] == 3, "%s: %s" % (r["workload"], r["reason"]))
    check(r["measured"] > 0 and r["native"] > 0, "%s: values" % r["workload"])
    check(r["measured_min"] <= r["measured"] <= r["measured_max"], "%s: median outside its range" % r["workload"])
    check(math.isclose(r["ratio_native"], r["measured"] / r["native"], rel_tol=1e-4), "%s: ratio" % r["workload"])
    if d["hw_engine"]:
        check(r["hw"] > 0 and math.isclose(r["ratio_hw"], r["measured"] / r["hw"], rel_tol=1e-4), "%s: hw ratio" % r["workload"])
print("ok: profile %s (%s), unit %s" % (d["profile"], d["profile_match"], d["unit"]))
PY
# the modelled value is the model's cycles at the profile's clock (ns) or its cycles
python3 - "$T/v.json" "$T/v.db" <<'PY' || fail=1
import json, sqlite3, sys
d = json.load(open(sys.argv[1])); db = sqlite3.connect(sys.argv[2])
for r in d["rows"]:
    host_id, native_id = r["run_ids"][0], r["run_ids"][1]
    e, m, tag, prof = db.execute("SELECT engine, model, tag, profile FROM run WHERE id=?", (host_id,)).fetchone()
    assert (e, m, tag, prof) == ("host", 0, "validate", d["profile"]), (e, m, tag, prof)
    cpi, = db.execute("SELECT cycles_per_iter FROM run WHERE id=? AND engine='native' AND model=1", (native_id,)).fetchone()
    want = cpi * 1000.0 / d["profile_mhz"] if d["unit"] == "ns" else cpi
    assert abs(want - r["native"]) <= 1e-3 * want, (r["workload"], want, r["native"])
    n, = db.execute("SELECT count(*) FROM sample WHERE run_id=? AND metric='ns_per_iter'", (host_id,)).fetchone()
    assert n == 3, n
print("ok: stored rows match the table")
PY

# the table names the CPU, the profile and the unit
"$VIRTLAB" validate --profile zen5 --workloads syscall --repeats 2 --iterations 200 --no-db >"$T/t.out" 2>/dev/null || bad "validate --profile zen5: exit $?"
cat "$T/t.out"
grep -q '^profile      zen5 (3000 MHz): profile zen5 chosen with --profile' "$T/t.out" || bad "table: profile line"
grep -q '^syscall ' "$T/t.out" || bad "table: no syscall row"

usage() {
	local what=$1; shift
	local err rc
	err=$("$VIRTLAB" validate --db "$T/u.db" "$@" 2>&1 >/dev/null); rc=$?
	echo "$what: status $rc: $err"
	[ $rc -eq 2 ] || bad "$what: exit status $rc, expected 2"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || bad "$what: not one line"
	[ ! -s "$T/u.db" ] || [ "$(sqlite3 "$T/u.db" 'SELECT count(*) FROM run')" = 0 ] || bad "$what: rows stored"
}
usage "unknown profile" --profile i486 --workloads syscall
usage "no twin" --workloads in --repeats 1
usage "no twin after a good one" --workloads syscall,in --repeats 1 --iterations 10
usage "unknown workload" --workloads nosuch
usage "csv" --format csv
exit $fail
