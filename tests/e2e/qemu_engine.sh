#!/usr/bin/env bash
# qemu_engine.sh — bin/virtlab's QEMU engines: qemu-tcg runs the cpuid
# workload and reports status ok with a positive cycles_per_iter and its raw
# samples; qemu-kvm on a host whose /dev/kvm cannot run standard guests
# (PVM backend, or no vmx/svm) is refused with exit status 2 and one line.
set -u
cd "$(dirname "$0")/../.."
VIRTLAB=${VIRTLAB:-bin/virtlab}
[ -x "$VIRTLAB" ] || { echo "no CLI at $VIRTLAB"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
fail=0
out=$("$VIRTLAB" run --engine qemu-tcg --workload cpuid --iterations 1000 --no-db --format json 2>&1); rc=$?
echo "$out" | head -c 2000; echo
if [ $rc -ne 0 ]; then echo "FAIL qemu-tcg: exit status $rc"; fail=1; fi
echo "$out" | grep -q '"cycles_per_iter": *{[^}]*"values": *\[ *[0-9]' || { echo "FAIL qemu-tcg: raw samples missing"; fail=1; }
echo "$out" | grep -q '"status": *"ok"' || { echo "FAIL qemu-tcg: status not ok"; fail=1; }
cpi=$(echo "$out" | grep -o '"cycles_per_iter": *[0-9][0-9.eE+]*' | head -1 | sed 's/.*: *//')
if [ -z "$cpi" ] || ! awk -v c="$cpi" 'BEGIN { exit !(c > 0) }'; then echo "FAIL qemu-tcg: no positive cycles_per_iter ($cpi)"; fail=1; fi

# qemu-kvm: refused here unless the host really has hardware-assisted KVM.
if [ -e /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo || [ ! -w /dev/kvm ]; then
	err=$("$VIRTLAB" run --engine qemu-kvm --workload cpuid --iterations 100 --no-db 2>&1 >/dev/null); rc=$?
	echo "qemu-kvm: status $rc: $err"
	[ $rc -eq 2 ] || { echo "FAIL qemu-kvm: expected exit status 2, got $rc"; fail=1; }
	[ -n "$err" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL qemu-kvm: expected one line of reason"; fail=1; }
else
	out=$(timeout 600 "$VIRTLAB" run --engine qemu-kvm --workload cpuid --iterations 1000 --no-db --format json 2>&1); rc=$?
	[ $rc -eq 0 ] && echo "$out" | grep -q '"status": *"ok"' || { echo "FAIL qemu-kvm on a VT-x/AMD-V host: $rc"; fail=1; }
fi
exit $fail
