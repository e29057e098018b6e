#!/usr/bin/env bash
# mkman.sh — the man page virtlab(1), generated from the same text as
# `virtlab --help` and every `virtlab SUBCOMMAND --help`, so the two never
# drift. Usage: scripts/mkman.sh BIN VERSION > virtlab.1
set -euo pipefail
BIN=$1
VERSION=$2

# troff-safe text: backslashes, then a leading '.' or '\'' (control lines), hyphens
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/-/\\-/g'; }

main=$("$BIN" --help)
cmds=$(printf '%s\n' "$main" | awk '/^  [a-z][a-z0-9-]* / { print $1 }')

printf '.TH VIRTLAB 1 "" "virtlab %s" "User Commands"\n' "$VERSION"
printf '.SH NAME\nvirtlab \\- x86 virtualization techniques compared on a deterministic machine model\n'
printf '.SH SYNOPSIS\n.nf\n'
printf '%s\n' "$main" | head -1 | sed 's/^usage: //' | esc
printf '.fi\n.SH DESCRIPTION\n'
printf 'Each subcommand prints its options with\n.BR "virtlab SUBCOMMAND \\-\\-help" ;\nthis page collects them.\n'
printf '.SH SUBCOMMANDS\n'
printf '%s\n' "$main" | awk '/^  [a-z][a-z0-9-]* /' | while read -r name desc; do
	printf '.TP\n.B %s\n' "$name"
	printf '%s\n' "$desc" | esc
done
for c in $cmds; do
	printf '.SH "VIRTLAB %s"\n.nf\n' "$(printf '%s' "$c" | tr a-z A-Z)"
	"$BIN" "$c" --help | esc
	printf '.fi\n'
done
printf '.SH EXIT STATUS\n'
printf '%s\n' "$main" | sed -n 's/^Exit status: //p' | esc
cat <<'TXT'
.SH ENVIRONMENT
.TP
.B VIRTLAB_DB
the results database when \-\-db is not given (default: results/virtlab.db of
the source tree virtlab was built in, or ~/.local/share/virtlab/virtlab.db
when installed; $XDG_DATA_HOME is honoured)
.TP
.B VIRTLAB_PROFILES
the directory of CPU profiles (default: the source tree's profiles/, or
PREFIX/share/virtlab/profiles)
.TP
.B VIRTLAB_GUEST
the guest image (default: the source tree's build/guest/guest.elf, or
PREFIX/share/virtlab/guest.elf)
.SH FILES
.TP
.I PREFIX/share/virtlab/
guest image and profiles of an installed virtlab
TXT
