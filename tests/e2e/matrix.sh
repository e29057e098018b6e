#!/usr/bin/env bash
# matrix.sh — `virtlab matrix`: the plan (every valid engine x mmu x workload;
# refused and unbuilt configurations listed, not run; qemu-* only when named;
# selftest only when named); unknown names -> one line listing the valid ones,
# exit 2; -j 1 and -j 3 store identical results (compared through `export`
# without run ids and times); one plain line per run off a terminal; two
# matrices writing one database at once both land every run; a worker
# SIGKILLed inside its transaction leaves no partial run; a broken guest image
# makes the matrix fail (exit 1), not succeed with nothing.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
q() { sqlite3 "$1" "$2"; }
WL=cpuid,syscall,ptemod,callret
ITERS=200

# ---- the plan
"$V" matrix --dry-run >"$T/plan" || bad "dry run status $?"
models=$("$V" list engines | awk 'NR > 1 && $4 != "real:" {print $1}')   # real engines (qemu-*, host) run only when named
for w in $(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def); do
	if [ "$w" = selftest ]; then
		grep -q " selftest " "$T/plan" && bad "selftest in the default matrix"
	else
		grep -q "^run  native  *$w  *zen4" "$T/plan" || bad "default plan lacks native $w"
	fi
done
grep -q "qemu" "$T/plan" && bad "qemu engines in the default matrix"
# every model engine x mmu appears as run or skip (with a reason) on zen4
for e in $models; do
	for m in $("$V" list engines | awk -v e="$e" '$1 == e {print $3}' | tr , ' '); do
		cfg=$e/$m; [ "$e" = native ] && cfg=native
		grep -qE "^(run  $cfg |skip $cfg \(zen4\): .+)" "$T/plan" || bad "plan says nothing about $cfg"
	done
done
grep -q "^skip vtx/nested (zen4): .*VT-x" "$T/plan" || bad "vtx on AMD not skipped with a reason"
"$V" matrix --dry-run --profile p4 --engines vtx --mmus nested | grep -q "^skip vtx/nested (p4): .*EPT" || bad "EPT on p4 not skipped"
"$V" matrix --dry-run --engines native,qemu-tcg --workloads cpuid | grep -q "^run  qemu-tcg " || bad "named qemu-tcg not planned"
"$V" matrix --dry-run --workloads selftest | grep -q "^run  native  *selftest" || bad "named selftest not planned"

# ---- bad names: one line, the valid names, exit 2
expect2() {
	local needle=$1; shift
	"$V" "$@" >/dev/null 2>"$T/err"; local rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$needle" "$T/err" || { bad "matrix $* -> $rc: $(cat "$T/err")"; }
}
expect2 "unknown engine 'vmware' (valid: native" matrix --engines native,vmware --db "$T/x.db"
expect2 "unknown workload 'nosuch' (valid: syscall" matrix --workloads nosuch --db "$T/x.db"
expect2 "unknown profile 'i486' (valid:" matrix --profile i486 --db "$T/x.db"
expect2 "unknown mmu 'telepathy'" matrix --mmus telepathy --db "$T/x.db"
expect2 "-j" matrix -j 0 --db "$T/x.db"
expect2 "--iterations" matrix --iterations x --db "$T/x.db"
for p in profiles/*.ini; do grep -qw "$(basename "$p" .ini)" <("$V" matrix --profile i486 2>&1) || bad "profile $p not listed"; done
[ ! -e "$T/x.db" ] || bad "bad usage created a database"

# ---- -j 1 and -j 3 store the same results
"$V" matrix --workloads $WL --iterations $ITERS -j 1 --db "$T/j1.db" >"$T/j1.out" || bad "matrix -j 1 status $?"
"$V" matrix --workloads $WL --iterations $ITERS -j 3 --db "$T/j3.db" >"$T/j3.out" || bad "matrix -j 3 status $?"
n=$(grep -c '^run ' <("$V" matrix --dry-run --workloads $WL))
[ "$(q "$T/j1.db" 'select count(*) from run')" = "$n" ] || bad "-j 1 stored $(q "$T/j1.db" 'select count(*) from run') of $n"
[ "$(grep -c '^\[ *[0-9]*/'"$n"'\] ' "$T/j1.out")" = "$n" ] || { bad "expected $n progress lines"; cat "$T/j1.out"; }
grep -q "^matrix: $n runs in .*: $n ok" "$T/j1.out" || bad "summary line"
for j in j1 j3; do
	"$V" export --format csv --db "$T/$j.db" | cut -d, -f1,2 --complement | sort >"$T/$j.csv"
done
[ "$(wc -l <"$T/j1.csv")" -gt "$n" ] || bad "export too short"
cmp -s "$T/j1.csv" "$T/j3.csv" || { bad "-j 1 and -j 3 differ"; diff "$T/j1.csv" "$T/j3.csv" | head; }

# ---- on a terminal: a progress bar redrawn in place (script(1) gives us a tty)
if command -v script >/dev/null; then
	script -qc "$V matrix --engines native --workloads cpuid,syscall --iterations $ITERS --db $T/tty.db" /dev/null >"$T/tty.out" 2>&1
	grep -q $'\r\033\[K\[#*\.*\] 1/2 ' "$T/tty.out" || { bad "no progress bar on a terminal"; cat -v "$T/tty.out"; }
	grep -q $'\[##*\] 2/2 ' "$T/tty.out" || bad "progress bar does not reach 2/2"
	grep -q '^\[ *1/2\] ' "$T/tty.out" && bad "plain progress lines on a terminal"
fi

# ---- two matrices writing one database at once
"$V" matrix --workloads $WL --iterations $ITERS -j 2 --db "$T/both.db" --tag A >"$T/A.out" 2>&1 &
a=$!
"$V" matrix --workloads $WL --iterations $ITERS -j 2 --db "$T/both.db" --tag B >"$T/B.out" 2>&1 &
b=$!
wait $a || { bad "matrix A status $?"; cat "$T/A.out"; }
wait $b || { bad "matrix B status $?"; cat "$T/B.out"; }
[ "$(q "$T/both.db" "select count(*) from run where tag = 'A'")" = "$n" ] || bad "matrix A lost runs"
[ "$(q "$T/both.db" "select count(*) from run where tag = 'B'")" = "$n" ] || bad "matrix B lost runs"

# ---- SIGKILL of the whole matrix while a worker is inside its transaction
VIRTLAB_TEST_STORE_HOOK="$T/hook" setsid "$V" matrix --workloads $WL --iterations $ITERS -j 2 --db "$T/k.db" >/dev/null 2>&1 &
m=$!
for _ in $(seq 1 300); do [ -e "$T/hook" ] && break; sleep 0.05; done
[ -e "$T/hook" ] || bad "store hook never reached"
kill -9 -- -$m; wait $m 2>/dev/null
sleep 0.2
ev=$(grep -c '^X(' include/virtlab/events.def)
runs=$(q "$T/k.db" 'select count(*) from run')
[ "$(q "$T/k.db" 'select count(*) from event')" = $((runs * ev)) ] || bad "partial run after SIGKILL ($runs runs)"
[ "$(q "$T/k.db" 'pragma integrity_check')" = ok ] || bad "integrity after SIGKILL"
echo "after SIGKILL: $runs complete runs, no partial ones"

# ---- a broken guest image: every run refused at run time -> exit 1, nothing stored
head -c 4096 /dev/urandom >"$T/junk.elf"
VIRTLAB_GUEST="$T/junk.elf" "$V" matrix --workloads cpuid --db "$T/junk.db" >"$T/junk.out" 2>&1; rc=$?
[ $rc -eq 1 ] || { bad "broken image: status $rc"; cat "$T/junk.out"; }
[ "$(q "$T/junk.db" 'select count(*) from run')" = 0 ] || bad "broken image stored runs"
exit $fail
