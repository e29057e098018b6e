#!/usr/bin/env bash
# cli_usage.sh — bad usage and invalid combinations: exit status 2 and exactly
# one line on stderr; unknown names list the valid ones (the oracle for the
# valid names is the source tables: workloads.def, profiles/*.ini, `list`).
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
fail=0
err=$(mktemp); out=$(mktemp); trap 'rm -f "$err" "$out" /tmp/vl_e2e_junk.$$' EXIT

expect2() {  # expect2 "needle" args...   (needle may be empty)
	local needle=$1; shift
	"$V" "$@" >"$out" 2>"$err"; local rc=$?
	local lines; lines=$(wc -l <"$err")
	if [ $rc -ne 2 ] || [ "$lines" -ne 1 ]; then
		echo "FAIL: virtlab $* -> status $rc, $lines stderr lines (want 2, 1):"; cat "$err"; fail=1; return 1
	fi
	if [ -n "$needle" ] && ! grep -qF -- "$needle" "$err"; then
		echo "FAIL: virtlab $*: stderr lacks '$needle':"; cat "$err"; fail=1; return 1
	fi
	return 0
}
expect0() {
	"$V" "$@" >"$out" 2>"$err" || { echo "FAIL: virtlab $* -> status $?"; cat "$err"; fail=1; return 1; }
}

expect2 "" 
expect2 "unknown subcommand 'frobnicate'" frobnicate && grep -q run "$err" && grep -q list "$err" || fail=1
expect2 "--bogus" run --bogus
expect2 "--iterations" run --workload cpuid --iterations abc --no-db
expect2 "--iterations" run --workload cpuid --iterations 0 --no-db
expect2 "--format" run --workload cpuid --format xml --no-db
expect2 "--workload is required" run --no-db
expect2 "unexpected argument" run --workload cpuid stray --no-db
expect2 "" list
expect2 "unknown list" list everything

# unknown engine: every engine of `list engines` is named
expect2 "unknown engine 'vmware'" run --engine vmware --workload cpuid --no-db
expect0 list engines
for e in $(tail -n +2 "$out" | awk '{print $1}'); do
	"$V" run --engine vmware --workload cpuid --no-db 2>&1 | grep -qw -- "$e" || { echo "FAIL: engine $e not listed"; fail=1; }
done

# unknown workload: every name in workloads.def is listed
expect2 "unknown workload 'nosuch'" run --workload nosuch --no-db
for w in $(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def); do
	grep -qw -- "$w" "$err" || { echo "FAIL: workload $w not listed"; fail=1; }
done

# unknown profile: every profiles/*.ini is listed
expect2 "unknown profile 'i486'" run --workload cpuid --profile i486 --no-db
for p in profiles/*.ini; do
	p=$(basename "$p" .ini)
	grep -qw -- "$p" "$err" || { echo "FAIL: profile $p not listed"; fail=1; }
done

# invalid pair / unknown mmu
expect2 "does not pair" run --engine native --mmu shadow --workload cpuid --no-db
expect2 "unknown mmu" run --engine native --mmu telepathy --workload cpuid --no-db

# a corrupt ELF and a missing image
printf '\177ELF\002\001\001 garbage that is no ELF' >/tmp/vl_e2e_junk.$$
expect2 "image" run --workload cpuid --image /tmp/vl_e2e_junk.$$ --no-db
expect2 "" run --workload cpuid --image /nonexistent/guest.elf --no-db
# a well-formed ELF64 whose segment does not fit in guest memory (1 TiB memsz)
python3 - /tmp/vl_e2e_junk.$$ <<'PY'
import struct, sys
eh = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
eh += struct.pack("<HHIQQQIHHHHHH", 2, 0x3e, 1, 0x100000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
ph = struct.pack("<IIQQQQQQ", 1, 5, 0x1000, 0x100000, 0x100000, 16, 1 << 40, 0x1000)
open(sys.argv[1], "wb").write(eh + ph + bytes(0x1000 - 120) + b"\xf4" * 16)
PY
expect2 "image" run --workload cpuid --image /tmp/vl_e2e_junk.$$ --no-db

# every subcommand answers --help with status 0
"$V" --help >"$out" || fail=1
for c in $(sed -n 's/^  \([a-z]\+\) .*/\1/p' "$out"); do
	"$V" "$c" --help >/dev/null 2>"$err" || { echo "FAIL: virtlab $c --help"; fail=1; }
done

# list profiles: model, year and features of each shipped profile
expect0 list profiles
for p in p4 core2 nehalem skylake-sp zen4; do
	grep -qE "^$p +.* (19|20)[0-9][0-9] " "$out" || { echo "FAIL: list profiles lacks $p with a year"; fail=1; }
done
grep -E '^p4 ' "$out" | grep -q vmx || { echo "FAIL: p4 should list vmx"; fail=1; }
grep -E '^zen4 ' "$out" | grep -q npt || { echo "FAIL: zen4 should list npt"; fail=1; }
expect0 list workloads
expect0 list mmus
grep -q '^native' "$out" || { echo "FAIL: list mmus lacks native"; fail=1; }

# --ram-mb: sizes the machine refuses are usage errors (2), not failed runs (1)
for r in 0 1 65536 99999999; do expect2 "--ram-mb" run --workload cpuid --ram-mb $r --no-db; done
exit $fail
