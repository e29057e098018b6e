#!/usr/bin/env bash
# multiboot_engines.sh — the kvm-unit-tests kernels that pass under QEMU TCG
# pass on the model's native, vtx and svm engines with both MMUs (issue 11):
# `suite` on zen4 (native, svm/shadow, svm/nested) and skylake-sp (native,
# vtx/shadow, vtx/nested) for a quick subset — smap (SMEP/SMAP, STAC/CLAC,
# through the shadow MMU and the nested walk), msr/msr64, tsc_adjust,
# syscall, eventinj, idt_test, memory, setjmp, tsc and rmap_chain — each
# with the verdict the profile's CPU gives:
#   zen4:       every one PASS except msr/msr64 (unittests.cfg pins a
#               GenuineIntel CPU model: SKIP) and tsc_adjust (CPUID.7.0:
#               EBX[1] clear on Zen 4: the test skips itself)
#   skylake-sp: every one PASS except syscall (pinned to AuthenticAMD: SKIP)
# and the vendor difference behind those SKIPs: msr on zen4 fails
# (SYSENTER_ESP/EIP keep 32 bits, no IA32_MISC_ENABLE), syscall on
# skylake-sp takes #UD at the compatibility-mode SYSCALL, as the hardware.
# The long kernels (sieve, the vmexit loops: multiboot_vmexit.sh has a
# subset) are left to the full run:
# `virtlab suite kvm-unit-tests DIR --engine E --mmu M --profile P`.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
K=${KVM_UNIT_TESTS:-../shared/kvm-unit-tests}
[ -r "$K/unittests.cfg" ] || K=/work/shared/kvm-unit-tests
[ -r "$K/unittests.cfg" ] || { echo "no kvm-unit-tests kernels"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

TESTS=smap,msr,msr64,tsc_adjust,syscall,eventinj,idt_test,memory,setjmp,tsc,rmap_chain
NTESTS=11

# suite PROFILE ENGINE MMU: checks every verdict against the profile's
suite() {
	local p=$1 e=$2 mm=$3 out="$t/$1-$2-$3"
	"$V" suite kvm-unit-tests "$K" --no-db --engine "$e" --mmu "$mm" --profile "$p" --tests "$TESTS" >"$out" 2>&1
	local n
	n=$(grep -c '^\(PASS\|FAIL\|SKIP\) ' "$out")
	[ "$n" = "$NTESTS" ] || fail "$p $e/$mm: $n verdicts, want $NTESTS: $(cat "$out")"
	while read -r verdict name rest; do
		case "$verdict" in PASS|FAIL|SKIP) ;; *) continue ;; esac
		want=PASS
		case "$p:$name" in
		zen4:msr|zen4:msr64) want=SKIP ;;
		zen4:tsc_adjust) want=SKIP ;;
		skylake-sp:syscall) want=SKIP ;;
		esac
		[ "$verdict" = "$want" ] || fail "$p $e/$mm: $verdict $name $rest (want $want)"
	done <"$out"
	grep -q '^SKIP tsc_adjust .*all of its tests skipped' "$out" || [ "$p" != zen4 ] ||
		fail "$p $e/$mm: tsc_adjust should skip itself (CPUID.7.0:EBX[1] clear)"
	grep -q '^SKIP syscall .*vendor=AuthenticAMD' "$out" || [ "$p" != skylake-sp ] ||
		fail "$p $e/$mm: syscall's SKIP should name the pinned vendor"
}
suite zen4 native native
suite zen4 svm shadow
suite zen4 svm nested
suite skylake-sp native native
suite skylake-sp vtx shadow
suite skylake-sp vtx nested

# The other vendor, run directly: what the SKIPs stand for.
"$V" run --no-db --engine native --profile zen4 --image "$K/msr.flat" --format json >"$t/msr_zen4" 2>/dev/null &&
	fail "msr on zen4 passed (AMD keeps SYSENTER_ESP/EIP bits 31:0 only and has no IA32_MISC_ENABLE)"
grep -q 'FAIL: MSR_IA32_SYSENTER_ESP' "$t/msr_zen4" || fail "msr on zen4: SYSENTER_ESP not reported"
"$V" run --no-db --engine native --profile skylake-sp --image "$K/syscall.flat" --format json >"$t/sc_sky" 2>/dev/null &&
	fail "syscall on skylake-sp passed (Intel: SYSCALL in compatibility mode is #UD)"
grep -q 'Unhandled exception 6 #UD' "$t/sc_sky" || fail "syscall on skylake-sp: no #UD at the 32-bit SYSCALL"
grep -q 'PASS: MSR_\*STAR eager loading' "$t/sc_sky" || fail "syscall on skylake-sp: 64-bit part did not pass"
# trap: its shadow GDT holds kvm-unit-tests' 16512-byte GDT; what it cannot
# run is the 32-bit, paging-off entry: refused (exit 2), saying so
"$V" run --no-db --engine trap --profile skylake-sp --image "$K/tsc.flat" >"$t/trap" 2>&1
rc=$?
[ "$rc" = 2 ] || fail "trap on a Multiboot kernel: exit $rc, want 2 (refused): $(cat "$t/trap")"
grep -q '32-bit protected mode with paging off' "$t/trap" || fail "trap's refusal: $(cat "$t/trap")"
echo "multiboot_engines: 6 configurations x $NTESTS kernels as the profile's CPU; vendor differences shown"
