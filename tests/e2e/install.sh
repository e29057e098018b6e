#!/usr/bin/env bash
# install.sh — `make install DESTDIR=... PREFIX=/usr` lays out bin/, share/
# virtlab/ (guest, profiles), share/man/man1/virtlab.1 and the bash
# completion; the installed binary, run from / with no VIRTLAB_* variables,
# finds its profiles and guest under its prefix and stores into the user's
# data directory (not the current one); `report` reads it back; the man page
# renders and carries every subcommand's --help; the completion completes
# subcommands, options and names (issue 16 item 8).
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v make >/dev/null || { echo "make not installed"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# install what this test run built (the sanitized build under make test)
case $V in build/san/*) mk="SAN=1" ;; bin/virtlab|./bin/virtlab) mk="" ;; *) echo "cannot tell the build of $V"; exit 77 ;; esac
make -s install $mk DESTDIR="$T/stage" PREFIX=/usr >"$T/make.out" 2>&1 || { cat "$T/make.out"; bad "make install"; exit 1; }
P="$T/stage/usr"
for f in bin/virtlab share/virtlab/guest.elf share/virtlab/profiles/zen4.ini share/virtlab/profiles/p4.ini \
	share/man/man1/virtlab.1 share/bash-completion/completions/virtlab; do
	[ -f "$P/$f" ] || bad "not installed: $f"
done
[ -x "$P/bin/virtlab" ] || bad "installed binary not executable"

# run from /, nothing from the source tree's environment
export -n VIRTLAB_PROFILES VIRTLAB_GUEST VIRTLAB_DB
unset VIRTLAB_PROFILES VIRTLAB_GUEST VIRTLAB_DB XDG_DATA_HOME
export HOME="$T/home"
mkdir "$HOME"
(cd / && "$P/bin/virtlab" run --engine svm --workload cpuid --iterations 200 --format json) >"$T/run.json" 2>"$T/err" ||
	{ bad "installed run from /: status $?"; cat "$T/err"; }
python3 - "$T/run.json" "$P" <<'PY' || bad "installed run did not use the installed profiles and guest"
import json, sys, hashlib
d = json.load(open(sys.argv[1])); p = sys.argv[2]
assert d["status"] == "ok", d["status"]
assert d["profile_path"] == p + "/share/virtlab/profiles/zen4.ini", d["profile_path"]
assert d["guest_sha256"] == hashlib.sha256(open(p + "/share/virtlab/guest.elf", "rb").read()).hexdigest()
PY
[ -f "$HOME/.local/share/virtlab/virtlab.db" ] || bad "default database not in ~/.local/share/virtlab"
(cd / && "$P/bin/virtlab" report --iterations 200) >"$T/rep" 2>&1 || { bad "installed report"; cat "$T/rep"; }
grep -q "^cpuid " "$T/rep" || bad "report lacks the run"
(cd / && "$P/bin/virtlab" list profiles) | grep -q "^p4 " || bad "list profiles from the installed prefix"

# the man page: renders, and holds every subcommand's help
if command -v man >/dev/null; then
	MANWIDTH=120 man -l "$P/share/man/man1/virtlab.1" >"$T/man.txt" 2>"$T/man.err" || bad "man page does not render"
	for c in $("$V" --help | awk '/^  [a-z][a-z0-9-]* / { print $1 }'); do
		first=$("$V" "$c" --help | head -1 | sed 's/  */ /g')
		tr -s ' ' <"$T/man.txt" | grep -qF -- "${first:0:60}" || bad "man page lacks 'virtlab $c --help': ${first:0:60}"
	done
fi

# bash completion
out=$(bash -c 'source "$1"; t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _virtlab; echo "${COMPREPLY[*]}"; }
	t "$2" ma; t "$2" run --work; t "$2" run --engine sv; t "$2" matrix --workloads cpuid,sysc' _ \
	"$P/share/bash-completion/completions/virtlab" "$P/bin/virtlab")
[ "$out" = "$(printf 'matrix\n--workload\nsvm\ncpuid,syscall')" ] || { bad "completion"; echo "$out"; }
exit $fail
