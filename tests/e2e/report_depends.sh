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
# the exit category's fields: the hardware's VM exit/entry for svm, the trap for pv
grep -qE '^cpuid +svm/nested +exit [0-9.]+% \[svm\.vmexit, svm\.vmrun\];' "$T/dep.txt" || bad "svm exit fields"
grep -qE '^syscall +pv/shadow .*exit [0-9.]+% \[exception\.delivery, insn\.syscall, insn\.iret\]' "$T/dep.txt" \
	|| bad "pv exit fields"
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
PY
exit $fail
