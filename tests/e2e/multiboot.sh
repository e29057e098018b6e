#!/usr/bin/env bash
# multiboot.sh — Multiboot v1 guests (the kvm-unit-tests kernels in
# ../shared/kvm-unit-tests): they boot on the native engine in 32-bit
# protected mode and pass; `run --format json` carries console and
# guest_exit; counters are identical run to run; vmexit's cpuid benchmark
# prints its line; images the machine cannot boot and bad Multiboot headers
# (checksum, unknown required flags, a.out kludge, overlapping or out-of-RAM
# segments, entry outside them, command line too long) are refused with one
# line and status 2, and so is a Multiboot kernel under pv; under bt (32-bit
# code translated, engines/bt/README.md) setjmp, rmap_chain and smap pass with
# native's console, deterministically; `suite kvm-unit-tests` reports
# PASS/SKIP (multi-CPU entries: "needs N CPUs") and TAP.
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
K=${KVM_UNIT_TESTS:-../shared/kvm-unit-tests}
[ -r "$K/setjmp.flat" ] || K=/work/shared/kvm-unit-tests
[ -r "$K/setjmp.flat" ] || { echo "no kvm-unit-tests kernels"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for k in setjmp rmap_chain smap; do
	"$V" run --no-db --image "$K/$k.flat" --format json >"$t/$k.a" || fail "$k did not pass"
	"$V" run --no-db --image "$K/$k.flat" --format json >"$t/$k.b" || fail "$k (second run)"
	python3 - "$t/$k.a" "$t/$k.b" <<'PY' || fail "json / determinism for $k"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["status"] == "ok" and a["guest_exit"] == 0, (a["status"], a["reason"])
assert "unexpected failures" not in a["console"] and "FAIL" not in a["console"], a["console"][-300:]
assert a["events"]["guest_instructions"] > 0
for k in ["cycles", "exits", "events", "console", "guest_exit"]:
    assert a[k] == b[k], "run-to-run difference in " + k
PY
done
echo "setjmp, rmap_chain, smap pass on native; console, guest_exit, counters identical twice"

# bt: the 32-bit entry and the compatibility-mode return are translated;
# smap: CR4.SMAP and STAC/CLAC in the deprivileged kernel (18 checks)
for k in setjmp rmap_chain smap; do
	"$V" run --no-db --engine bt --image "$K/$k.flat" --format json >"$t/$k.bt1" || fail "$k did not pass under bt"
	"$V" run --no-db --engine bt --image "$K/$k.flat" --format json >"$t/$k.bt2" || fail "$k under bt (second run)"
	python3 - "$t/$k.bt1" "$t/$k.bt2" "$t/$k.a" <<'PY' || fail "bt: json / determinism / native's console for $k"
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); n = json.load(open(sys.argv[3]))
assert a["status"] == "ok" and a["guest_exit"] == n["guest_exit"], (a["status"], a["reason"])
assert a["console"] == n["console"], "console differs from native's: " + a["console"][-300:]
assert a["events"]["translations"] > 0 and a["callouts"], "no translation under bt"
for k in ["cycles", "exits", "events", "callouts", "console", "guest_exit"]:
    assert a[k] == b[k], "run-to-run difference in " + k
PY
done
echo "setjmp, rmap_chain, smap pass under bt with native's console; counters identical twice"

# refusals: one line, status 2
python3 - "$t" "$K/setjmp.flat" <<'PY'
import struct, sys
d, src = sys.argv[1], open(sys.argv[2], "rb").read()
open(d + "/bootsector.bin", "wb").write(bytes(510) + b"\x55\xaa")
bz = bytearray(1024); bz[0x202:0x206] = b"HdrS"; open(d + "/bzImage", "wb").write(bz)
open(d + "/pe.exe", "wb").write(b"MZ" + bytes(1000))
# a Multiboot header with a broken checksum
k = bytearray(src); off = k.find(struct.pack("<I", 0x1BADB002)); k[off + 8] ^= 1
open(d + "/badsum.flat", "wb").write(k)
# ELF32 without the Multiboot header
k = bytearray(src); k[off:off + 4] = b"\0\0\0\0"; open(d + "/nomb.flat", "wb").write(k)
# two PT_LOAD segments at the same physical address
k = bytearray(src); phoff = struct.unpack_from("<I", k, 28)[0]; n = struct.unpack_from("<H", k, 44)[0]
loads = [phoff + 32 * i for i in range(n) if struct.unpack_from("<I", k, phoff + 32 * i)[0] == 1]
pa = struct.unpack_from("<I", k, loads[0] + 12)[0]
struct.pack_into("<I", k, loads[1] + 12, pa); open(d + "/overlap.flat", "wb").write(k)
# a segment beyond RAM
k = bytearray(src); struct.pack_into("<I", k, loads[0] + 12, 0xf0000000); open(d + "/oor.flat", "wb").write(k)
# a required feature flag the loader does not know (bit 3), checksum kept right
k = bytearray(src); fl = struct.unpack_from("<I", k, off + 4)[0] | 8
struct.pack_into("<II", k, off + 4, fl, (-(0x1BADB002 + fl)) & 0xffffffff); open(d + "/reqflag.flat", "wb").write(k)
# the a.out kludge (flag 16) on an image that is not ELF
k = bytearray(src); fl = struct.unpack_from("<I", k, off + 4)[0] | 0x10000; k[0:4] = b"\0KRN"
struct.pack_into("<II", k, off + 4, fl, (-(0x1BADB002 + fl)) & 0xffffffff); open(d + "/aout.flat", "wb").write(k)
# the entry point outside every loaded segment
k = bytearray(src); struct.pack_into("<I", k, 24, 0x10); open(d + "/entry.flat", "wb").write(k)
PY
check_refused() {  # file, expected text
	out=$("$V" run --no-db --image $1 2>&1); rc=$?
	[ $rc -eq 2 ] || fail "$1: status $rc (expected 2): $out"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$1: more than one line: $out"
	printf '%s\n' "$out" | grep -q "$2" || fail "$1: '$out' does not say '$2'"
	echo "refused: $out"
}
check_refused "$t/bootsector.bin" "real-mode"
check_refused "$t/bzImage" "bzImage"
check_refused "$t/pe.exe" "PE/COFF"
check_refused "$t/badsum.flat" "bad checksum"
check_refused "$t/nomb.flat" "no Multiboot header"
check_refused "$t/overlap.flat" "overlap"
check_refused "$t/oor.flat" "does not fit"
check_refused "$t/reqflag.flat" "required feature flags 0x8"
check_refused "$t/aout.flat" "a.out-kludge"
check_refused "$t/entry.flat" "entry 0x10"
# engines that cannot boot a Multiboot kernel refuse it with the reason
check_refused "$K/setjmp.flat --engine pv" "runs only a paravirtualized guest"
long=$(head -c 5000 /dev/zero | tr '\0' a)
out=$("$V" run --no-db --image "$K/setjmp.flat" --append "$long" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "too long" || fail "long command line: $rc $out"

# the suite runner: upstream's lines and TAP
"$V" suite kvm-unit-tests "$K" --no-db --tests setjmp,vmexit_ipi,smptest >"$t/s" || fail "suite: $(cat "$t/s")"
grep -q "^PASS setjmp \[native/" "$t/s" || fail "suite PASS line: $(cat "$t/s")"
grep -q "^SKIP vmexit_ipi .*(needs 2 CPUs)" "$t/s" || fail "suite SKIP line: $(cat "$t/s")"
grep -q "^SKIP smptest .*(needs 2 CPUs)" "$t/s" || fail "suite SKIP smptest: $(cat "$t/s")"
"$V" suite kvm-unit-tests "$K" --no-db --tap --tests setjmp,vmexit_ipi >"$t/tap" || fail "suite --tap"
grep -q "^TAP version 13" "$t/tap" && grep -q "^ok 1 - " "$t/tap" && grep -q "# SKIP needs 2 CPUs" "$t/tap" &&
	grep -q "^1\.\.2$" "$t/tap" || fail "TAP: $(cat "$t/tap")"
db="$t/r.db"
"$V" suite kvm-unit-tests "$K" --db "$db" --tests setjmp >/dev/null || fail "suite --db"
n=$(sqlite3 "$db" "select count(*) from run where workload='setjmp' and status='ok' and console_tail like '%SUMMARY%'")
[ "$n" = 1 ] || fail "suite run not stored with its console ($n)"
echo "suite: PASS/SKIP lines, TAP, stored run with console"

# every hardware-assist configuration boots the 32-bit entry (paging off:
# unrestricted guest under EPT, the shadow MMU's nonpaging root, NPT as is)
for c in "vtx shadow skylake-sp" "vtx nested skylake-sp" "svm shadow zen4" "svm nested zen4"; do
	set -- $c
	"$V" run --no-db --engine $1 --mmu $2 --profile $3 --image "$K/setjmp.flat" >/dev/null 2>&1 || fail "setjmp on $c"
done
echo "setjmp passes on vtx and svm with shadow and nested paging"

# vmexit lines as data and the exit signature: each suite run of vmexit_cpuid
# stores its cycles per operation (report --tag kvm-unit-tests is the
# exit-cost table); one CPUID exit per operation under vtx and svm, one CPUID
# callout per operation under bt, none native
db="$t/v.db"
"$V" suite kvm-unit-tests "$K" --db "$db" --tests vmexit_cpuid >/dev/null || fail "suite vmexit_cpuid native"
"$V" suite kvm-unit-tests "$K" --db "$db" --engine svm --mmu nested --tests vmexit_cpuid >/dev/null ||
	fail "suite vmexit_cpuid svm"
"$V" suite kvm-unit-tests "$K" --db "$db" --engine vtx --mmu nested --profile skylake-sp --tests vmexit_cpuid >/dev/null ||
	fail "suite vmexit_cpuid vtx"
"$V" suite kvm-unit-tests "$K" --db "$db" --engine bt --tests vmexit_cpuid >/dev/null || fail "suite vmexit_cpuid bt"
python3 - "$db" <<'PY' || fail "vmexit cpuid exit signature"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for rid, eng, mmu in db.execute("select id, engine, mmu from run where workload='vmexit_cpuid' order by id"):
    (cyc,) = db.execute("select cycles from guest_result where run_id=? and workload='cpuid' and extra='unit=cycles/op'",
                        (rid,)).fetchone()
    ex = dict(db.execute("select name, count from exit_reason where run_id=?", (rid,)).fetchall())
    n = sum(v for k, v in ex.items() if "CPUID" in k)
    if eng == "bt":   # callouts from translated code, not exits
        kinds = set(r[0] for r in db.execute("select kind from exit_reason where run_id=? and name='CPUID'", (rid,)))
        assert kinds == {"callout"}, kinds
    if eng == "native":
        assert not ex, ex
        print("native: cpuid %d cycles/op, no exits" % cyc)
        continue
    # vmexit doubles its loop from 64 until 2^30 cycles: ops = 2^(k+1) - 64; the rest are boot CPUIDs
    ops = max(2 ** k - 64 for k in range(7, 40) if 2 ** k - 64 <= n)
    assert 0 <= n - ops < 64, (eng, n, ops)
    print("%s/%s: cpuid %d cycles/op, %d CPUID exits for %d operations" % (eng, mmu, cyc, n, ops))
PY
"$V" report --db "$db" --tag kvm-unit-tests --format csv >"$t/rep" || fail "report"
python3 - "$t/rep" <<'PY' || fail "report of the vmexit table: $(cat "$t/rep")"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head, row = rows[0], next(r for r in rows if r[0] == "vmexit_cpuid")
nat = float(row[head.index("native")])
svm = [float(row[i]) for i, h in enumerate(head) if h.startswith("svm") and "ratio" not in h and row[i]]
assert nat > 0 and svm and svm[0] > nat, (head, row)
print("report (zen4) vmexit_cpuid: native %g, svm %g cycles/op" % (nat, svm[0]))
PY
