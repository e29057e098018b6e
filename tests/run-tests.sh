#!/usr/bin/env bash
# run-tests.sh — run every unit test binary and every e2e script; print each
# one's output and a closing "N passed, N failed" line. Exit 1 on any failure.
# Env: VIRTLAB (the CLI under test), TEST_BIN_DIR (unit test binaries), GUEST,
# TEST_FILTER (optional substring to select tests).
set -u
cd "$(dirname "$0")/.."
: "${VIRTLAB:=bin/virtlab}" "${TEST_BIN_DIR:=build/tests}" "${GUEST:=build/guest/guest.elf}"
export VIRTLAB GUEST
export VIRTLAB_PROFILES="$PWD/profiles"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0; fail=0; skip=0; failed=()
run_one() {
	local name=$1; shift
	if [ -n "${TEST_FILTER:-}" ] && [[ $name != *"$TEST_FILTER"* ]]; then return; fi
	echo "=== $name"
	local t0=$SECONDS
	"$@"; local rc=$?
	if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "--- PASS $name ($((SECONDS-t0))s)"
	elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "--- SKIP $name"
	else fail=$((fail+1)); failed+=("$name"); echo "--- FAIL $name (status $rc)"; fi
}
for t in $(find "$TEST_BIN_DIR" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
	run_one "${t#$TEST_BIN_DIR/}" "$t"
done
for s in $(ls tests/e2e/*.sh 2>/dev/null | sort); do
	run_one "$s" bash "$s"
done
echo
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
