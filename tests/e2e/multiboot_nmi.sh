#!/usr/bin/env bash
# multiboot_nmi.sh — kvm-unit-tests' eventinj (self-NMIs through the local
# APIC ICR, a nested NMI held until IRET, NMIs taken with IF = 0, besides
# exceptions and IPIs) passes all 13 checks on native, vtx/nested
# (skylake-sp) and svm/shadow (zen4); the guest takes 4 NMIs in each, and
# under vtx and svm each is one NMI exit (EXCEPTION_NMI type NMI /
# VMEXIT_NMI) followed by an injection. The other MMUs are in suite --matrix.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
K=${KVM_UNIT_TESTS:-../shared/kvm-unit-tests}
[ -r "$K/eventinj.flat" ] || K=/work/shared/kvm-unit-tests
[ -r "$K/eventinj.flat" ] || { echo "no kvm-unit-tests kernels"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for cfg in "native - zen4 -" "vtx nested skylake-sp EXCEPTION_NMI" "svm shadow zen4 VMEXIT_NMI"; do
	set -- $cfg
	mmu=(); [ "$2" != - ] && mmu=(--mmu "$2")
	"$V" run --no-db --image "$K/eventinj.flat" --engine "$1" "${mmu[@]}" --profile "$3" --format json >"$t/out" ||
		fail "eventinj on $1 $2 $3: run failed"
	python3 - "$t/out" "$4" <<'PY' || fail "eventinj on $1 $2 $3"
import json, sys
d = json.load(open(sys.argv[1])); ex = sys.argv[2]
lines = d["console"].splitlines()
assert d["guest_exit"] == 0, d["console"][-400:]
assert sum(l.startswith("PASS: ") for l in lines) == 13, d["console"][-400:]
assert not any(l.startswith("FAIL") for l in lines), d["console"][-400:]
assert lines.count("PASS: NMI") == 2
assert d["events"]["nmis"] == 4, d["events"].get("nmis")
if ex != "-":
    assert d["exits"][ex]["count"] == 4, d["exits"].get(ex)
PY
	what="4 NMIs"; [ "$4" != - ] && what="4 NMIs, 4 $4 exits"
	echo "eventinj: 13/13 PASS on $1 $2 $3 ($what)"
done
