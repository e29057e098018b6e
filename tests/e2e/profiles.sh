#!/usr/bin/env bash
# profiles.sh — profile values from the command line: the mutated profiles of
# ../shared/repro (and copies made here) are refused with exit 2 and one line
# naming field, value and range; `show profile` prints every value with its
# provenance; `list profiles --sources --format json` is valid JSON whose
# counts and shares add up, one entry per profile; `report --depends` names
# the cost categories of a result and the profile fields charged there.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
fail=0
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT

expect2() {  # expect2 "needle" args...
	local needle=$1; shift
	"$V" "$@" >"$d/out" 2>"$d/err"; local rc=$?
	if [ $rc -ne 2 ] || [ "$(wc -l <"$d/err")" -ne 1 ] || ! grep -qF -- "$needle" "$d/err"; then
		echo "FAIL: virtlab $* -> status $rc (want 2, one line with '$needle'):"; cat "$d/err"; fail=1
	fi
}

# Copies of the repro mutations, so the test runs without ../shared.
sed 's/^l1d_entries = .*/l1d_entries = 0/' profiles/skylake-sp.ini >"$d/l1d0.ini"
sed 's/^l1i_entries = .*/l1i_entries = 0/' profiles/skylake-sp.ini >"$d/l1i0.ini"
sed 's/^l1d_entries = .*/l1d_entries = 18446744073709551615/' profiles/skylake-sp.ini >"$d/l1dhuge.ini"
awk '/^\[vmm\]/{v=1} v && /^cpuid =/{print "cpuid = 18446744073709551615"; v=0; next} {print}' profiles/zen4.ini >"$d/cpuid.ini"
sed 's/^mhz = .*/mhz = 0 ; estimate: zero clock/' profiles/zen4.ini >"$d/mhz0.ini"
sed 's/^walk_ref = \([0-9]*\).*/walk_ref = \1/' profiles/zen4.ini >"$d/noprov.ini"
expect2 "[tlb] l1d_entries = 0 out of range [1, 4096]" run --profile "$d/l1d0.ini" --workload cpuid --iterations 20 --no-db
expect2 "[tlb] l1i_entries = 0 out of range [1, 4096]" run --profile "$d/l1i0.ini" --workload cpuid --iterations 20 --no-db
expect2 "[tlb] l1d_entries = 18446744073709551615 out of range [1, 4096]" run --profile "$d/l1dhuge.ini" --workload cpuid --no-db
expect2 "[vmm] cpuid = 18446744073709551615 out of range [0, 1000000]" run --profile "$d/cpuid.ini" --workload cpuid --no-db
expect2 "[cpu] mhz = 0 out of range [1, 100000]" run --profile "$d/mhz0.ini" --workload cpuid --no-db
expect2 "[tlb] walk_ref: no provenance" run --profile "$d/noprov.ini" --workload cpuid --no-db
expect2 "out of range" show profile "$d/l1d0.ini"
R=../shared/repro
if [ -d "$R" ]; then
	for f in "$R"/profile-*.ini; do
		expect2 "out of range [" run --profile "$f" --workload cpuid --iterations 20 --no-db
	done
else
	echo "note: $R absent; its profiles are covered by the copies above"
fi

# show profile: every line of the file with a value appears with its class
"$V" show profile p4 >"$d/show" || { echo "FAIL: show profile p4"; fail=1; }
nvals=$(grep -cE '^[a-z0-9_]+ *= ' profiles/p4.ini)
nshow=$(grep -cE '^  [a-z0-9_]+ += .* (sourced|derived|estimated|n/a) ' "$d/show")
[ "$nvals" -eq "$nshow" ] || { echo "FAIL: p4.ini has $nvals values, show profile prints $nshow"; fail=1; }
grep -q "^\[vmx\]" "$d/show" && grep -q "vmentry *= 2409 *sourced" "$d/show" || { echo "FAIL: show profile p4 lacks vmx.vmentry 2409 sourced"; fail=1; }
expect2 "unknown profile 'nosuch'" show profile nosuch
expect2 "which profile" show profile
expect2 "unknown item" show engine
expect2 "--format" list profiles --sources --format csv

"$V" show profile zen4 --format json >"$d/one.json" || { echo "FAIL: show --format json"; fail=1; }
"$V" list profiles --sources --format json >"$d/all.json" || { echo "FAIL: list profiles --sources --format json"; fail=1; }
"$V" list profiles --sources >"$d/all.txt" || { echo "FAIL: list profiles --sources"; fail=1; }
python3 - "$d/one.json" "$d/all.json" "$d/all.txt" profiles <<'PY' || fail=1
import json, os, re, sys
one = json.load(open(sys.argv[1])); allp = json.load(open(sys.argv[2])); txt = open(sys.argv[3]).read()
names = sorted(f[:-4] for f in os.listdir(sys.argv[4]) if f.endswith(".ini"))
assert [p["name"] for p in allp["profiles"]] == names, "one entry per profile"
assert allp["rules"], "rules listed"
assert one["name"] == "zen4" and one == [p for p in allp["profiles"] if p["name"] == "zen4"][0]
for p in allp["profiles"]:
    c, s, v = p["counts"], p["shares"], p["values"]
    # n/a: a value the model does not read (`; unused:`), listed but in no share
    assert c["sourced"] + c["derived"] + c["estimated"] == c["total"] == len(v) - c["n/a"], p["name"]
    assert c["n/a"] == sum(1 for x in v if x["class"] == "n/a" and x["provenance"] == "unused")
    assert abs(s["sourced"] + s["derived"] + s["estimated"] - 1) < 1e-5, p["name"]
    for k in ("sourced", "derived", "estimated"):
        assert c[k] == sum(1 for x in v if x["class"] == k)
    for x in v:
        assert x["provenance"] in ("source", "derived", "estimate", "unused") and len(x["note"]) > 3, x
        if x["provenance"] == "derived":
            assert x["rule"], x
    assert "%d values: %d sourced" % (c["total"], c["sourced"]) in txt, p["name"]
print("profiles:", ", ".join("%s %d/%d/%d" % (p["name"], p["counts"]["sourced"], p["counts"]["derived"],
                                               p["counts"]["estimated"]) for p in allp["profiles"]))
PY
# report --depends: a CPUID exit's cycles are in exit (svm.vmexit, svm.vmrun)
# and vmm (vmm.cpuid for that exit reason); native is all guest (insn.*)
G=${GUEST:-build/guest/guest.elf}
if [ -r "$G" ]; then
	for e in native svm; do
		"$V" run --engine $e --workload cpuid --iterations 100 --image "$G" --db "$d/r.db" >/dev/null || { echo "FAIL: run $e"; fail=1; }
	done
	"$V" report --db "$d/r.db" --depends >"$d/dep.txt" || { echo "FAIL: report --depends"; fail=1; }
	# by value (the runs' exact per-value cycles, schema v5) or by category (a model that does not attribute them)
	# (native: the guest's instructions and its TLB only, never a VMM's value)
	grep -qE '^cpuid +native +(by category[^:]*: guest 100.0% \[insn\.\*\]|by value: (insn|tlb)\.[a-z0-9_]+ [0-9.]+% \([a-z]+\))' "$d/dep.txt" \
		&& ! grep -E '^cpuid +native ' "$d/dep.txt" | grep -qE '(vmm|svm|vmx|exception|mmu|bt|pv)\.' \
		|| { echo "FAIL: native cpuid line"; cat "$d/dep.txt"; fail=1; }
	grep -qE '^cpuid +svm/nested +(by category[^:]*: exit [0-9.]+% \[svm\.vmexit, svm\.vmrun\]; vmm [0-9.]+% \[vmm\.exit_dispatch|by value: .*svm\.vmexit [0-9.]+% ).*VMEXIT_CPUID 1\.00 \[vmm\.cpuid\]' "$d/dep.txt" \
		|| { echo "FAIL: svm/nested cpuid line"; cat "$d/dep.txt"; fail=1; }
	grep -q 'vmx\.' "$d/dep.txt" && { echo "FAIL: VT-x fields named for svm runs"; fail=1; }
	"$V" report --db "$d/r.db" --depends --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)["depends"]
assert len(d) == 2, d
for c in d:
    s = sum(x["share"] for x in c["categories"])
    assert abs(s - 1) < 1e-4, (c, s)
svm = [c for c in d if c["config"] == "svm/nested"][0]
assert svm["categories"][0]["category"] == "exit" and svm["exits"][0]["handler"] == "vmm.cpuid", svm
' || { echo "FAIL: report --depends --format json"; fail=1; }
	expect2 "--depends" report --db "$d/r.db" --depends --format csv
else
	echo "note: no guest image; report --depends not exercised"
fi
exit $fail
