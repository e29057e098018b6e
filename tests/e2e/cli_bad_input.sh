#!/usr/bin/env bash
# cli_bad_input.sh — bad input to the harness subcommands (report, compare,
# export, plot, advise, sweep, plan, merge, show, list, validate): each bad
# option or argument is exactly one line on stderr, status 2, nothing on
# stdout, and nothing written — no plot directory, no plan shard directory,
# no export file (an existing --out file keeps its bytes), no database.
# Also: a selection name that is a typo (plot --workload/--config, export
# --profile) is bad usage rather than an empty result; merge refuses to
# fold a database into itself.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
case $V in /*) ;; *) V="$PWD/$V" ;; esac
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
DB="$T/r.db"
"$V" run --engine native --workload cpuid --iterations 100 --profile p4 --image "$G" --db "$DB" --tag base >/dev/null \
	|| bad "setup run"
cp "$DB" "$T/pristine.db"
W="$T/w"   # the working directory of each command: must stay empty

# usage ARGS...: status 2, one stderr line, empty stdout, nothing written in $W
usage() {
	rm -rf "$W"; mkdir "$W"
	(cd "$W" && "$V" "$@") >"$T/out" 2>"$T/err"; local rc=$?
	local lines; lines=$(wc -l <"$T/err")
	[ $rc -eq 2 ] || { bad "virtlab $*: status $rc (want 2)"; cat "$T/err"; }
	[ "$lines" -eq 1 ] || { bad "virtlab $*: $lines stderr lines (want 1)"; cat "$T/err"; }
	[ -s "$T/out" ] && bad "virtlab $*: wrote to stdout: $(head -c 200 "$T/out")"
	[ -z "$(ls -A "$W")" ] || bad "virtlab $*: left $(ls -A "$W" | tr '\n' ' ')"
}
D=(--db "$DB")
for c in report compare export plot advise sweep plan merge show list validate; do
	usage $c --no-such-option
	usage $c -Z
done
usage report "${D[@]}" --format xml
usage report "${D[@]}" --iterations 0
usage report "${D[@]}" --profile nosuch
usage report "${D[@]}" --depends --entries
usage report "${D[@]}" --basis --entries
usage report "${D[@]}" stray
usage report --db "$T/missing.db"
usage compare "${D[@]}" base
usage compare "${D[@]}" base base --threshold abc
usage compare "${D[@]}" base base --alpha 2
usage compare "${D[@]}" id:abc base
usage compare "${D[@]}" base base stray
usage export "${D[@]}" --format markdown --out x.csv
usage export "${D[@]}" --ids 5-x --out x.csv
usage export "${D[@]}" --engine nosuch --out x.csv
usage export "${D[@]}" --profile nosuch --out x.csv
usage export "${D[@]}" --out /nonexistent/dir/x.csv
usage export --db "$T/missing.db" --out x.csv
usage plot "${D[@]}" --out pl --size 0x0
usage plot "${D[@]}" --out pl --font 0
usage plot "${D[@]}" --out pl nosuchfigure
usage plot "${D[@]}" --out pl --profile nosuch
usage plot "${D[@]}" --out pl --workload nosuch
usage plot "${D[@]}" --out pl --config nosuch/shadow
usage plot "${D[@]}" --out pl --config native/nosuch
usage plot "${D[@]}" --out pl --commit nosuchrev
usage plot --db "$T/missing.db" --out pl
usage advise "${D[@]}" --format xml --map mp
usage advise "${D[@]}" --mix syscall=abc --map mp
usage advise "${D[@]}" --mix nosuch=1 --map mp
usage advise "${D[@]}" --profile nosuch --map mp
usage advise "${D[@]}" --engines nosuch --map mp
usage sweep "${D[@]}" --no-run --out sw
usage sweep "${D[@]}" --no-run --out sw --param vmm.exit_dispatch=1:2:foo:3
usage sweep "${D[@]}" --no-run --out sw --param nosuch.field=1,2
usage sweep "${D[@]}" --out sw --param vmm.exit_dispatch=1,2 --profile nosuch
usage sweep "${D[@]}" --out sw --param vmm.exit_dispatch=1,2 --engines nosuch
usage plan --shards sh --profile nosuch
usage plan --shards sh --engines nosuch
usage plan --shards sh --workloads nosuch
usage plan --shards sh --iterations 0
usage plan --shards sh --param nosuch.x=1,2
usage plan --shards sh --id x
usage plan --shards sh stray
usage merge out.db
usage merge out.db "$T/missing.db"
usage merge out.db /etc/passwd
usage merge "$DB" "$DB"
usage show profile nosuch
usage show profile p4 --format csv
usage list nosuch
usage list profiles --sources --format xml
usage validate --repeats 0 --db v.db
usage validate --format csv --db v.db
usage validate --workloads nosuch --db v.db
# empty names and numbers that are not numbers
usage export "${D[@]}" --out ""
usage plot "${D[@]}" --out ""
usage plot "${D[@]}" --out pl --metric ""
usage advise "${D[@]}" --map ""
usage sweep "${D[@]}" --no-run --out ""  --param vmm.exit_dispatch=1,2
usage sweep "${D[@]}" --no-run --out sw --param vmm.exit_dispatch=1,2 --id ""
usage sweep "${D[@]}" --no-run --out sw --param vmm.exit_dispatch=1,,2
usage compare "${D[@]}" base base --threshold nan
usage plan --shards sh --profile p4,,zen4
usage plan --shards sh --engines native,
usage sweep "${D[@]}" --no-run --out sw --param vmm.exit_dispatch=1,2 --workloads cpuid,,syscall
usage sweep "${D[@]}" --no-run --out sw --param vmm.exit_dispatch=1,2 --engines ""
usage advise "${D[@]}" --workloads cpuid,,syscall --map mp
usage advise "${D[@]}" --engines vtx, --map mp
usage plot "${D[@]}" --out pl --figures nanobench,,exits
usage validate --workloads cpuid,,syscall --db v.db
# a directory option naming an existing file
usage plot "${D[@]}" --out "$DB"
usage advise "${D[@]}" --map "$DB"
usage sweep "${D[@]}" --no-run --out "$DB" --param vmm.exit_dispatch=1,2
# validate refused (no such twin program, or no such event) creates no database
VIRTLAB_TWIN=/nonexistent usage validate --workloads cpuid --events nosuch_event --db v.db
cmp -s "$DB" "$T/pristine.db" || bad "the database changed"

# an export that fails leaves an existing --out file as it was; one that
# succeeds writes the same bytes as standard output, and no temporary file
mkdir -p "$W" && echo "older export" >"$W/x.csv"
(cd "$W" && "$V" export "${D[@]}" --profile nosuch --out x.csv) 2>/dev/null
[ "$(cat "$W/x.csv")" = "older export" ] || bad "a failed export changed the existing --out file"
(cd "$W" && "$V" export "${D[@]}" --out x.csv) || bad "export --out"
"$V" export "${D[@]}" | cmp -s - "$W/x.csv" || bad "export --out differs from standard output"
[ "$(ls -A "$W")" = "x.csv" ] || bad "export left $(ls -A "$W" | tr '\n' ' ')"
"$V" export "${D[@]}" --format json --out /dev/stdout | python3 -c 'import json,sys; assert len(json.load(sys.stdin)) == 1' \
	|| bad "export --out /dev/stdout"
# a plot with nothing selected (exit 1, not usage) creates no directory either
rm -rf "$W"; mkdir "$W"
(cd "$W" && "$V" plot "${D[@]}" --out pl --profile p4 --tag nosuch --no-gnuplot) >/dev/null 2>&1
[ $? -eq 1 ] || bad "plot of an empty selection: status (want 1)"
[ -z "$(ls -A "$W")" ] || bad "plot of an empty selection created $(ls -A "$W")"
(cd "$W" && "$V" plot "${D[@]}" --out pl --profile p4 --workload cpuid --config native --no-gnuplot) >/dev/null 2>&1 \
	|| bad "plot --workload cpuid --config native"
[ -s "$W/pl/nanobench.dat" ] || bad "plot wrote no nanobench.dat"
# --db defaults to $VIRTLAB_DB in every command (datadir.h), advise and
# sweep too: run from elsewhere, they read the database it names
rm -rf "$W"; mkdir "$W"
for c in "advise --profile p4" "sweep --no-run --param vmm.exit_dispatch=1,2" "report --profile p4"; do
	(cd "$W" && VIRTLAB_DB="$T/nosuch.db" "$V" $c) >/dev/null 2>"$T/err"
	grep -q "nosuch.db" "$T/err" || bad "$c does not default to \$VIRTLAB_DB: $(cat "$T/err")"
done
(cd "$W" && VIRTLAB_DB="$DB" "$V" advise --profile p4 --workloads cpuid --engines vtx --format csv) >"$T/out" 2>/dev/null
grep -q '^p4,cpuid,0,' "$T/out" || bad "advise with VIRTLAB_DB: $(cat "$T/out")"
exit $fail
