#!/usr/bin/env bash
# figures.sh — hostile-guest figures, benchmark style (not a timed test):
# per engine × MMU configuration, cases run, guest instructions executed,
# host crashes (each run in a child process), VMM stops and divergences
# from native. Deterministic: the same CASES and SEED give the same table.
#
#   tests/fuzz/figures.sh [CASES [SEED]]      (defaults 2000 1)
#
# Uses the sanitized build (make SAN=1 test-bins) when present, else the
# plain one: crashes then include ASan/UBSan reports, not only signals.
set -u
cd "$(dirname "$0")/../.."
CASES=${1:-2000}
SEED=${2:-1}
T=build/san/tests/fuzz/fuzz_replay
[ -x "$T" ] || T=build/tests/fuzz/fuzz_replay
if [ ! -x "$T" ]; then
	echo "figures.sh: build the tools first: make SAN=1 test-bins (or make test-bins)" >&2
	exit 2
fi
export VIRTLAB_PROFILES="$PWD/profiles"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "# $T --fork --diff --cases $CASES --seed $SEED   (commit $(git rev-parse --short HEAD 2>/dev/null || echo ?))"
"$T" --fork --diff --cases "$CASES" --seed "$SEED" | grep -v '^DIVERGENCE\|^VMM stop\|^CRASH' || true
