#!/usr/bin/env bash
# matrix_signals.sh — Ctrl-C (SIGINT to the matrix) stops it: the running
# workers are stopped, nothing half-stored, the summary names what finished,
# what was stopped and what never started, exit 130; SIGKILL to the matrix
# takes its workers with it (no orphan keeps running) (issue 16 item 9).
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# runs that take far longer than the test waits (started directly, so $! is the matrix)
LONG="matrix --engines native,svm --workloads compute,cpuid --iterations 1e9 -j 2"   # engines named: the counts below must not depend on the registry
reaped() {   # wait up to 20 s for process $1 to end; kill it (and fail) if it does not
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	bad "process $1 did not stop"
	kill -KILL "$1" 2>/dev/null
	return 1
}
wait_workers() {   # until the matrix has forked its two workers
	for _ in $(seq 100); do
		[ "$(ps -o pid= --ppid "$1" | wc -l)" -ge 2 ] && return 0
		sleep 0.1
	done
	return 1
}

"$V" $LONG --db "$T/a.db" >"$T/a.out" 2>&1 &
P=$!
wait_workers $P || bad "no workers"
kids=$(ps -o pid= --ppid $P)
kill -INT $P
reaped $P
wait $P; rc=$?
[ $rc -eq 130 ] || bad "interrupted matrix: status $rc"
grep -q "^matrix: interrupted (Interrupt): 0 of 6 runs finished, 2 stopped while running, 4 not started" "$T/a.out" ||
	{ bad "interruption summary"; cat "$T/a.out"; }
[ "$(grep -c "^  not started: " "$T/a.out")" -eq 4 ] || bad "not-started runs not listed"
grep -q "stopped  interrupted" "$T/a.out" || bad "stopped runs not marked"
for k in $kids; do kill -0 "$k" 2>/dev/null && bad "worker $k still running after Ctrl-C"; done
[ "$(sqlite3 "$T/a.db" 'select count(*) from run')" = 0 ] || bad "stopped runs stored"

"$V" $LONG --db "$T/b.db" >"$T/b.out" 2>&1 &
P=$!
wait_workers $P || bad "no workers (2)"
kids=$(ps -o pid= --ppid $P)
kill -KILL $P
wait $P 2>/dev/null
for _ in $(seq 50); do
	alive=0
	for k in $kids; do kill -0 "$k" 2>/dev/null && alive=1; done
	[ $alive -eq 0 ] && break
	sleep 0.1
done
[ $alive -eq 0 ] || { bad "workers outlive a killed matrix"; kill -KILL $kids 2>/dev/null; }
exit $fail
