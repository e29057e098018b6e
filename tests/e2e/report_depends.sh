#!/usr/bin/env bash
# report_depends.sh — `report --depends` names, beside each exit reason, the
# handler value the engine charges besides vmm.exit_dispatch: for the
# software VMMs' traps (bt TRAP_*, pv, trap) that of the trap path — a user
# SYSCALL charges the dispatch only, a page fault vmm.exception and the MMU's
# own — never the vendor words' fallback vmm.emulate; hardware exits keep the
# vendor handler (VMEXIT_CPUID -> vmm.cpuid). Text and JSON agree.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need python3
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
DB="$T/d.db"
for c in bt/shadow pv/shadow trap/shadow; do
	"$V" run --engine ${c%/*} --mmu ${c#*/} --workload syscall --iterations 100 --profile zen4 --image "$G" --db "$DB" \
		>/dev/null 2>"$T/err" || bad "run $c: $(cat "$T/err")"
done
"$V" run --engine svm --workload cpuid --iterations 100 --profile zen4 --image "$G" --db "$DB" >/dev/null 2>"$T/err" \
	|| bad "run svm: $(cat "$T/err")"
"$V" report --db "$DB" --profile zen4 --depends >"$T/dep.txt" 2>"$T/err" || bad "report --depends: $(cat "$T/err")"
grep -qE '^syscall +bt/shadow .*exits/iter: TRAP_SYSCALL 1\.00 \[vmm\.exit_dispatch\]' "$T/dep.txt" || bad "bt TRAP_SYSCALL handler"
grep -qE '^syscall +pv/shadow .*exits/iter: SYSCALL 1\.00 \[vmm\.exit_dispatch\]' "$T/dep.txt" || bad "pv SYSCALL handler"
grep -qE '^syscall +trap/shadow .*SYSCALL 1\.00 \[vmm\.exit_dispatch\]' "$T/dep.txt" || bad "trap SYSCALL handler"
grep -qE '^cpuid +svm/nested .*VMEXIT_CPUID 1\.00 \[vmm\.cpuid\]' "$T/dep.txt" || bad "svm CPUID handler"
grep -q 'SYSCALL [0-9.]* \[vmm\.emulate\]' "$T/dep.txt" && bad "a SYSCALL trap still named vmm.emulate"
# each line says what it used: the run's exact per-value cycles ("by value",
# schema v5) when they cover every modelled cycle, else the cost categories
[ "$(grep -cE '^(syscall|cpuid) +[a-z]+/[a-z]+ +by (value:|category)' "$T/dep.txt")" = 4 ] || bad "a line names no basis"
if grep -qE '^cpuid +svm/nested +by value:' "$T/dep.txt"; then
	# exact: svm's hardware VM exit and entry are among the values the CPUID exit costs
	grep -qE '^cpuid +svm/nested +by value:.* svm\.vmexit [0-9.]+% \((sourced|derived|estimated)\)' "$T/dep.txt" \
		|| bad "svm exit values"
else
	# the exit category's fields: the hardware's VM exit/entry for svm, the trap for pv
	grep -qE '^cpuid +svm/nested +by category[^:]*: exit [0-9.]+% \[svm\.vmexit, svm\.vmrun\];' "$T/dep.txt" \
		|| bad "svm exit fields"
fi
if ! grep -qE '^syscall +pv/shadow +by value:' "$T/dep.txt"; then
	grep -qE '^syscall +pv/shadow .*exit [0-9.]+% \[exception\.delivery, insn\.syscall, insn\.iret\]' "$T/dep.txt" \
		|| bad "pv exit fields"
fi
[ $fail -eq 0 ] || cat "$T/dep.txt"
"$V" report --db "$DB" --profile zen4 --depends --format json >"$T/dep.json" 2>"$T/err" || bad "report --depends json: $(cat "$T/err")"
python3 - "$T/dep.json" <<'PY' || bad "report --depends --format json handlers"
import json, sys
d = json.load(open(sys.argv[1]))["depends"]
h = {(c["workload"], c["config"], x["reason"]): x["handler"] for c in d for x in c["exits"]}
want = {("syscall", "bt/shadow", "TRAP_SYSCALL"): "vmm.exit_dispatch",
        ("syscall", "pv/shadow", "SYSCALL"): "vmm.exit_dispatch",
        ("syscall", "trap/shadow", "SYSCALL"): "vmm.exit_dispatch",
        ("cpuid", "svm/nested", "VMEXIT_CPUID"): "vmm.cpuid"}
for k, v in want.items():
    assert h.get(k) == v, (k, h.get(k), v)
for c in d:   # exact per-value cycles: their shares sum to 1; a fallback names no values
    assert c["attribution"] in ("exact", "category"), c["attribution"]
    if c["attribution"] == "exact":
        assert abs(sum(v["share"] for v in c["values"]) - 1) < 1e-4, c
    else:
        assert c["values"] == [], c
PY
# report --basis: per cell the shares by class sum to 1 (JSON and CSV agree)
"$V" report --db "$DB" --profile zen4 --basis --format json >"$T/basis.json" 2>"$T/err" || bad "report --basis json: $(cat "$T/err")"
"$V" report --db "$DB" --profile zen4 --basis --format csv >"$T/basis.csv" 2>"$T/err" || bad "report --basis csv: $(cat "$T/err")"
python3 - "$T/basis.json" "$T/basis.csv" <<'PY' || bad "report --basis shares"
import csv, json, sys
b = json.load(open(sys.argv[1]))["basis"]
assert len(b) == 4, len(b)
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 4
classes = ["sourced", "derived", "estimated", "set", "unpriced", "other", "unattributed"]
assert list(rows[0].keys()) == ["workload", "config", "engine", "mmu", "profile", "run_id", "attribution", "total_cycles"] + classes + ["top_estimated"]
for c, r in zip(b, rows):
    assert c["config"] == r["config"] and c["attribution"] == r["attribution"]
    if c["shares"] is None:
        continue
    assert abs(sum(c["shares"][k] for k in classes) - 1) < 1e-4, c
    assert abs(sum(float(r[k]) for k in classes) - 1) < 1e-9, r
    if c["attribution"] == "exact":
        assert c["shares"]["unattributed"] == 0, c
PY
"$V" report --db "$DB" --profile zen4 --basis --depends >/dev/null 2>&1; [ $? -eq 2 ] || bad "--basis --depends not refused"
exit $fail
