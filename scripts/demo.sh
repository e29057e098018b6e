#!/usr/bin/env bash
# demo.sh — what `make demo` does, from a fresh Debian 12 machine to a report:
#   1. the Debian packages virtlab needs (build, tests, plots, QEMU): installed
#      when run as root, else the one apt-get line to run is printed;
#   2. build bin/virtlab and the guest image;
#   3. run the default matrix on the default profile into results/virtlab.db;
#   4. draw the figures into results/plots/ and print the report.
# Env: JOBS (parallel runs and make jobs; default: the number of CPUs).
set -uo pipefail
cd "$(dirname "$0")/.."

# The same list as .ci/run: what `make demo` and then `make test` need.
PKGS="build-essential clang libcapstone-dev libunicorn-dev libinih-dev libsqlite3-dev sqlite3 nettle-dev libcmocka-dev
      libpapi-dev libpfm4-dev gnuplot-nox qemu-system-x86 git python3 parallel"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf '\n== %s\n' "$*"; }

say "packages"
if command -v dpkg-query >/dev/null; then
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		echo "all present"
	elif [ "$(id -u)" = 0 ]; then
		echo "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
			{ echo "demo: apt-get install failed"; exit 1; }
	else
		echo "missing Debian packages:$missing"
		echo "run this once, then \`make demo\` again:"
		echo
		echo "    sudo apt-get install -y --no-install-recommends$missing"
		exit 1
	fi
else
	echo "not a Debian system (no dpkg-query): assuming these are installed: $(echo $PKGS)"
fi

say "build"
make -j"$JOBS" all || { echo "demo: build failed"; exit 1; }

say "matrix (default profile, every valid configuration, -j $JOBS)"
bin/virtlab matrix -j "$JOBS"
matrix_status=$?

say "plots"
bin/virtlab plot || echo "demo: some figures could not be drawn (see above)"

say "report"
bin/virtlab report || exit 1
echo
echo "database: results/virtlab.db    figures: results/plots/    next: make test"
exit $matrix_status
