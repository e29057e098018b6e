# common.sh — the start the e2e scripts share, sourced after `set -u` and
# the cd to the source tree (tests/run-tests.sh runs only tests/e2e/*.sh,
# so this directory is never run as a test):
#   . tests/e2e/lib/common.sh
#   e2e_need sqlite3 python3
# Gives V (the CLI under test, $VIRTLAB or bin/virtlab; exit 77 = skip when
# it is not built), T (a scratch directory removed on exit), fail (0) and
# bad MESSAGE (print a FAIL line, set fail=1).
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# e2e_need CMD...: skip (exit 77) unless every CMD is on PATH
e2e_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "$c not installed"; exit 77; }
	done
}
