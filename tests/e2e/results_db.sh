#!/usr/bin/env bash
# results_db.sh — `run --db` stores what it printed (the JSON object is the
# oracle, compared with what the sqlite3 CLI reads back); a refused run
# writes nothing; a database of schema v1 (made here with the sqlite3 CLI)
# is migrated; real bt and pv runs rewritten as a v3 file migrate to the
# kinds (exit, callout, hypercall) the writer gives them; a foreign SQLite file and random bytes are refused by every
# subcommand with one line, exit status 2, and keep every byte; a run
# SIGKILLed inside its store transaction leaves no rows.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need sqlite3 python3
q() { sqlite3 "$1" "$2"; }

# ---- a run is stored as printed
"$V" run --workload cpuid --iterations 500 --db "$T/a.db" --tag first --format json >"$T/run.json" || bad "run --db failed"
python3 - "$T/run.json" "$T/a.db" <<'PY' || fail=1
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
row = db.execute("select id, engine, mmu, workload, profile, iterations, status, cycles_per_iter, tag, model from run").fetchall()
assert len(row) == 1, row
rid, *rest = row[0]
want = [r["engine"], r["mmu"], r["workload"], r["profile"], r["iterations"], r["status"], r["cycles_per_iter"], "first", 1]
assert list(rest) == want, (rest, want)
ev = dict(db.execute("select name, value from event where run_id = ?", (rid,)).fetchall())
assert ev == r["events"], "events differ"
cy = dict(db.execute("select category, value from cycles where run_id = ?", (rid,)).fetchall())
assert cy == {k: v for k, v in r["cycles"].items() if k != "total"}, "cycles differ"
ex = {n: {"code": c, "count": k, "cycles": y} for n, c, k, y in db.execute("select name, code, count, cycles from exit_reason where run_id = ?", (rid,))}
assert ex == r["exits"], "exits differ"
print("stored run matches its JSON:", r["workload"], r["cycles_per_iter"])
PY
commit=$("$V" version | sed -n 's/.*commit \([0-9a-f]*\).*/\1/p')
[ "$(q "$T/a.db" 'select git_commit from run')" = "$commit" ] || bad "git_commit is not the binary's ($commit)"
[ "$(q "$T/a.db" 'pragma journal_mode')" = wal ] || bad "not WAL"
[ "$(q "$T/a.db" 'pragma user_version')" = 5 ] || bad "user_version"
[ -n "$(q "$T/a.db" 'select host_cpu from run')" ] || bad "host_cpu empty"

# ---- a refused run writes nothing (and creates no database)
"$V" run --engine vmware --workload cpuid --db "$T/never.db" 2>/dev/null; [ $? -eq 2 ] || bad "refused run status"
[ ! -e "$T/never.db" ] || bad "refused run created a database"
"$V" run --engine native --mmu nested --workload cpuid --db "$T/a.db" 2>/dev/null
[ "$(q "$T/a.db" 'select count(*) from run')" = 1 ] || bad "refused run stored a row"

# ---- foreign files are refused by every subcommand and left alone
sqlite3 "$T/foreign.db" "create table customers(id integer primary key, name text); insert into customers values (1, 'ada');"
head -c 8192 /dev/urandom >"$T/random.bin"
printf 'SQLite format 3\000' >"$T/fake.db"; head -c 4000 /dev/urandom >>"$T/fake.db"
for f in foreign.db random.bin fake.db; do
	cp "$T/$f" "$T/$f.orig"
	for args in "run --workload cpuid" "matrix --workloads cpuid" "report" "plot --out $T/p" "export" "compare a b"; do
		# shellcheck disable=SC2086
		"$V" $args --db "$T/$f" >/dev/null 2>"$T/err"; rc=$?
		[ $rc -eq 2 ] || bad "$args on $f: status $rc"
		[ "$(wc -l <"$T/err")" -eq 1 ] || { bad "$args on $f: not one line"; cat "$T/err"; }
		cmp -s "$T/$f" "$T/$f.orig" || bad "$args modified $f"
	done
	echo "$f: $(cat "$T/err")"
done
grep -q "not a virtlab" <("$V" report --db "$T/foreign.db" 2>&1) || bad "foreign.db reason"
grep -q "not an SQLite database" <("$V" report --db "$T/random.bin" 2>&1) || bad "random.bin reason"

# ---- a v1 database (the first schema) is migrated and keeps its runs
sqlite3 "$T/v1.db" <<'SQL'
CREATE TABLE run (id INTEGER PRIMARY KEY, engine TEXT NOT NULL, mmu TEXT NOT NULL, workload TEXT NOT NULL,
 profile TEXT NOT NULL, params TEXT NOT NULL DEFAULT '', iterations INTEGER NOT NULL,
 status TEXT NOT NULL CHECK (status IN ('ok','failed','timeout','refused')), reason TEXT NOT NULL DEFAULT '',
 guest_exit INTEGER, model INTEGER NOT NULL CHECK (model IN (0,1)), cycles_per_iter REAL,
 total_instructions INTEGER, total_cycles INTEGER, host_seconds REAL, host_mips REAL,
 started REAL NOT NULL, ended REAL NOT NULL, git_commit TEXT NOT NULL, git_dirty INTEGER NOT NULL,
 virtlab_version TEXT NOT NULL, compiler TEXT NOT NULL, host_name TEXT NOT NULL, host_cpu TEXT NOT NULL,
 host_kernel TEXT NOT NULL, host_pmu INTEGER NOT NULL, host_kvm INTEGER NOT NULL,
 host_notes TEXT NOT NULL DEFAULT '', console_tail TEXT);
CREATE TABLE event (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, name TEXT NOT NULL,
 value INTEGER NOT NULL, unit TEXT NOT NULL DEFAULT 'count', PRIMARY KEY (run_id, name)) WITHOUT ROWID;
CREATE TABLE cycles (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, category TEXT NOT NULL,
 value INTEGER NOT NULL, unit TEXT NOT NULL DEFAULT 'cycles', PRIMARY KEY (run_id, category)) WITHOUT ROWID;
CREATE TABLE exit_reason (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, name TEXT NOT NULL,
 code INTEGER NOT NULL, count INTEGER NOT NULL, cycles INTEGER NOT NULL, PRIMARY KEY (run_id, code, name)) WITHOUT ROWID;
CREATE TABLE sample (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, metric TEXT NOT NULL,
 seq INTEGER NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, PRIMARY KEY (run_id, metric, seq)) WITHOUT ROWID;
CREATE TABLE guest_result (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
 workload TEXT NOT NULL, iters INTEGER NOT NULL, cycles INTEGER NOT NULL, extra TEXT NOT NULL DEFAULT '',
 PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
INSERT INTO run VALUES (1, 'native', 'native', 'cpuid', 'zen4', '', 1000, 'ok', '', 0, 1, 321.5, 1, 1, 0.1, 1.0,
 1600000000, 1600000001, 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef', 0, '0.0.1', 'gcc', 'h', 'cpu', 'Linux', 0, 0, '', NULL);
INSERT INTO cycles VALUES (1, 'guest', 321500, 'cycles');
PRAGMA user_version = 1;
PRAGMA application_id = 1447838018;
SQL
out=$("$V" report --db "$T/v1.db") || bad "report on a v1 database: status $?"
echo "$out" | grep -q "cpuid *321.5" || { bad "v1 run not reported"; echo "$out"; }
[ "$(q "$T/v1.db" 'pragma user_version')" = 5 ] || bad "v1 not migrated"
"$V" run --workload cpuid --iterations 100 --db "$T/v1.db" --tag after >/dev/null || bad "run into migrated db"
[ "$(q "$T/v1.db" "select count(*) from run where tag = 'after'")" = 1 ] || bad "no tagged run after migration"

# ---- v3 -> v4 on real bt and pv runs: the migration's rule gives every
# row the kind the writer gives it (the engines' own slot classification)
for c in "bt shadow" "pv shadow" "native native"; do
	set -- $c
	for w in syscall ptemod ctxsw; do
		"$V" run --engine $1 --mmu $2 --workload $w --iterations 50 --db "$T/k.db" >/dev/null || bad "run $c $w"
	done
done
kinds() { q "$1" "select group_concat(r.engine || ':' || e.name || '=' || e.kind, ' ') from
	(select * from exit_reason order by run_id, code, name) e join run r on r.id = e.run_id"; }
want=$(kinds "$T/k.db")
echo "$want" | grep -q "bt:SYSRET=callout" && echo "$want" | grep -q "bt:TRAP_SYSCALL=exit" &&
	echo "$want" | grep -q "pv:iret=hypercall" && echo "$want" | grep -q "pv:SYSCALL=exit" ||
	bad "new runs' kinds: $want"
cp "$T/k.db" "$T/k3.db"
sqlite3 "$T/k3.db" >/dev/null <<'SQL' || bad "rewriting as v3"
PRAGMA journal_mode = DELETE;
DROP VIEW metric;
DROP TABLE value_cycles;
CREATE TABLE er3 (run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE, name TEXT NOT NULL,
  code INTEGER NOT NULL, count INTEGER NOT NULL, cycles INTEGER NOT NULL, PRIMARY KEY (run_id, code, name)) WITHOUT ROWID;
INSERT INTO er3 SELECT run_id, name, code, count, cycles FROM exit_reason;
DROP TABLE exit_reason;
ALTER TABLE er3 RENAME TO exit_reason;
CREATE VIEW metric(run_id, kind, name, code, value, unit) AS
  SELECT id, 'cycles_per_iter', 'cycles_per_iter', NULL, cycles_per_iter, 'cycles' FROM run WHERE cycles_per_iter IS NOT NULL
  UNION ALL SELECT run_id, 'cycles', category, NULL, value, unit FROM cycles
  UNION ALL SELECT run_id, 'event', name, NULL, value, unit FROM event
  UNION ALL SELECT run_id, 'exit_count', name, code, count, 'count' FROM exit_reason
  UNION ALL SELECT run_id, 'exit_cycles', name, code, cycles, 'cycles' FROM exit_reason;
PRAGMA user_version = 3;
SQL
"$V" report --db "$T/k3.db" --entries >/dev/null || bad "report on the v3 copy"
[ "$(q "$T/k3.db" 'pragma user_version')" = 5 ] || bad "v3 copy not migrated"
got=$(kinds "$T/k3.db")
[ "$got" = "$want" ] || { bad "migrated kinds differ from the writer's"; echo "writer:   $want"; echo "migrated: $got"; }

# ---- SIGKILL inside the store transaction leaves nothing behind
before=$(q "$T/a.db" 'select count(*) from run')
VIRTLAB_TEST_STORE_HOOK="$T/hook" "$V" run --workload syscall --iterations 100 --db "$T/a.db" --tag killed >/dev/null &
pid=$!
for _ in $(seq 1 300); do [ -e "$T/hook" ] && break; sleep 0.05; done
[ -e "$T/hook" ] || bad "store hook never reached"
kill -9 $pid; wait $pid 2>/dev/null
[ "$(q "$T/a.db" 'select count(*) from run')" = "$before" ] || bad "killed run left a run row"
[ "$(q "$T/a.db" "select count(*) from event where run_id not in (select id from run)")" = 0 ] || bad "orphan event rows"
[ "$(q "$T/a.db" 'pragma integrity_check')" = ok ] || bad "integrity after kill"
"$V" run --workload syscall --iterations 100 --db "$T/a.db" --tag after-kill >/dev/null || bad "run after kill"
[ "$(q "$T/a.db" 'select count(*) from run')" = $((before + 1)) ] || bad "run after kill not stored"
exit $fail
