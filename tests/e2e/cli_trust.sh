#!/usr/bin/env bash
# cli_trust.sh — results are stored only under what actually ran (issue 16):
# --params cannot override the workload or the iteration count the run is
# stored under (exit 2, one line, nothing stored).
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# item 2: keys the CLI owns are refused in --params
for p in "workload=syscall" "iters=5" "timer=5000 iters=5" " workload=cpuid"; do
	"$V" run --workload cpuid --params "$p" --db "$T/p.db" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 2 ] || bad "--params '$p': status $rc"
	[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "is set by --" "$T/err" || { bad "--params '$p': message"; cat "$T/err"; }
done
[ -e "$T/p.db" ] && [ "$(sqlite3 "$T/p.db" 'select count(*) from run')" != 0 ] && bad "a refused --params run was stored"
"$V" run --workload cpuid --iterations 50 --params "timer=100000" --no-db >/dev/null || bad "a guest parameter the CLI does not own is refused"

exit $fail
