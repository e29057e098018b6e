#!/usr/bin/env bash
# report_trust.sh — what report and the other read commands must not hide
# (issue 16 items 4, 5, 7): a measured column (qemu-tcg) gets no ratio to
# modelled cycles and the table says which columns are modelled and which
# measured (with the profile's clock); a row mixing iteration counts and
# cells made with two versions of a profile are named; an index corruption
# that only integrity_check finds is refused instead of silently dropping a
# cell; report/compare/export/plot read a chmod 444 database in a read-only
# directory and create no file; a read command never creates a database.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
V=$(realpath "$V")
T=$(mktemp -d); trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# item 4: modelled and measured columns
DB="$T/m.db"
"$V" matrix --profile p4 --workloads cpuid,syscall --iterations 200 --db "$DB" >/dev/null || bad "matrix p4"
if command -v qemu-system-x86_64 >/dev/null && "$V" matrix --profile p4 --engines qemu-tcg --workloads cpuid \
	--iterations 200 --repeats 3 --db "$DB" >/dev/null 2>&1; then
	out=$("$V" report --profile p4 --iterations 200 --db "$DB")
	row=$(echo "$out" | grep '^cpuid')
	case "$row" in *"x)") bad "qemu-tcg (last column) has a ratio to modelled cycles: $row";; esac
	echo "$out" | grep -q "qemu-tcg: measured on the host.*no ratio.*p4 CPU's at 3800 MHz" || { bad "no measured/modelled note"; echo "$out"; }
	echo "$out" | grep -Eq "^modelled \(the deterministic model of p4 at 3800 MHz\): native, (bt/shadow, )?vtx/shadow" || { bad "modelled columns not named"; echo "$out"; }
	"$V" report --profile p4 --iterations 200 --db "$DB" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
c = [r for r in d["rows"] if r["workload"] == "cpuid"][0]["cells"]
assert c["qemu-tcg"]["measured"] is True and c["qemu-tcg"]["ratio"] is None, c["qemu-tcg"]
assert c["vtx/shadow"]["measured"] is False and c["vtx/shadow"]["ratio"] > 1' || bad "report json measured/ratio"
else
	echo "(qemu-tcg not available here: measured-column part skipped)"
fi

# item 5: a row that mixes iteration counts says so
"$V" run --engine vtx --mmu shadow --profile p4 --workload ptemod --iterations 30 --db "$DB" >/dev/null
"$V" run --profile p4 --workload ptemod --iterations 40 --db "$DB" >/dev/null
out=$("$V" report --profile p4 --db "$DB")
echo "$out" | grep -q "note: ptemod mixes iteration counts: native 40 vtx/shadow 30" || { bad "mixed counts not named"; echo "$out"; }
# ... and two versions of the profile
cp -r profiles "$T/prof"   # profiles may refer to each other: the whole directory
sed -i 's/^mov_cr3 = \([0-9]*\)/mov_cr3 = 1\1/' "$T/prof/p4.ini"
VIRTLAB_PROFILES="$T/prof" "$V" run --profile p4 --workload cpuid --iterations 200 --db "$DB" >/dev/null || bad "run with edited p4"
out=$("$V" report --profile p4 --iterations 200 --db "$DB")
echo "$out" | grep -q "note: the cells were made with 2 versions of profile p4" || { bad "profile versions not named"; echo "$out"; }

# item 5: an index that misses a row (found by integrity_check, not quick_check)
C="$T/c.db"
"$V" matrix --workloads cpuid,syscall --iterations 100 --db "$C" >/dev/null
sqlite3 "$C" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
sqlite3 "$C" "PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = sql || ' WHERE 0' WHERE name = 'run_by_config';"
sqlite3 "$C" "INSERT INTO run (engine, mmu, workload, profile, params, iterations, status, reason, model, cycles_per_iter,
	started, ended, git_commit, git_dirty, virtlab_version, compiler, host_name, host_cpu, host_kernel, host_pmu, host_kvm)
	SELECT engine, mmu, 'ptemod', profile, params, iterations, status, reason, model, cycles_per_iter, started, ended,
	git_commit, git_dirty, virtlab_version, compiler, host_name, host_cpu, host_kernel, host_pmu, host_kvm FROM run WHERE id = 1;
	PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = replace(sql, ' WHERE 0', '') WHERE name = 'run_by_config';"
[ "$(sqlite3 "$C" 'PRAGMA quick_check')" = ok ] || echo "(note: quick_check already sees this corruption)"
"$V" report --db "$C" --iterations 100 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "corrupt (.*missing from index" "$T/err" || { bad "index corruption: status $rc"; cat "$T/out" "$T/err"; }

# item 7: read-only database in a read-only directory; nothing created
R="$T/ro"
mkdir "$R"
"$V" matrix --workloads cpuid,syscall --iterations 100 --db "$R/r.db" >/dev/null
"$V" matrix --workloads cpuid,syscall --iterations 100 --db "$R/r.db" --tag b >/dev/null
sqlite3 "$R/r.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
rm -f "$R/r.db-wal" "$R/r.db-shm"
chmod 444 "$R/r.db"; chmod 555 "$R"
before=$(ls -lA "$R"; md5sum "$R/r.db")
"$V" report --db "$R/r.db" --iterations 100 >/dev/null || bad "report on a read-only database"
"$V" compare tag:b tag:b --db "$R/r.db" >/dev/null || bad "compare on a read-only database"
"$V" export --db "$R/r.db" >/dev/null || bad "export on a read-only database"
"$V" plot --db "$R/r.db" --out "$T/plots" >/dev/null || bad "plot on a read-only database"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$V" report --db "$R/r.db" --iterations 100 >/dev/null ||
		bad "report as another user on a read-only database"
fi
[ "$before" = "$(ls -lA "$R"; md5sum "$R/r.db")" ] || bad "a read command changed the read-only directory: $(ls -lA "$R")"

# item 7: a read command on a missing database creates nothing
mkdir "$T/fresh"
for c in report export plot "compare a b"; do
	(cd "$T/fresh" && "$V" $c >/dev/null 2>"$T/err"); rc=$?
	[ $rc -eq 2 ] && grep -q "no database at" "$T/err" || { bad "$c on a fresh directory: status $rc"; cat "$T/err"; }
done
[ -z "$(ls -A "$T/fresh")" ] || bad "a read command created $(ls -A "$T/fresh")"
exit $fail
