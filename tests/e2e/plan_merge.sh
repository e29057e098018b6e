#!/usr/bin/env bash
# plan_merge.sh — `virtlab plan --shards DIR` run through GNU parallel with
# 2 jobs, then `virtlab merge`, gives the same report as the same matrix run
# directly; merging again adds nothing; a foreign file and a newer-schema
# shard are refused (status 2, OUT untouched); plan and matrix --dry-run
# name the same runs (one planner); a sweep plan merged is the
# sweep; the --slurm script runs its Nth command as array task N.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib/common.sh
e2e_need parallel sqlite3
SEL="--workloads cpuid,ptemod,syscall --iterations 300"

"$V" plan --shards "$T/sh" $SEL >"$T/plan" || bad "plan: status $?"
want=$("$V" matrix --dry-run $SEL | grep -c '^run ')
[ "$(wc -l <"$T/plan")" -eq "$want" ] || bad "plan has $(wc -l <"$T/plan") commands, matrix --dry-run $want runs"
# one planner: plan and matrix --dry-run name the same runs, configuration
# by configuration, on profiles that refuse different engines (p4: no EPT,
# no AMD-V; zen4: no VT-x), bt and pv included
"$V" plan --shards "$T/sh2" --profile p4,zen4 --workloads cpuid >"$T/plan2" || bad "plan p4,zen4"
sed -n "s/.* run --engine '\([^']*\)' --mmu '\([^']*\)' .* --profile '\([^']*\)'.*/\1\/\2 \3/p" "$T/plan2" | sort >"$T/pl"
"$V" matrix --dry-run --profile p4,zen4 --workloads cpuid | awk '$1 == "run" { c = $2; if (c == "native") c = "native/native"; print c, $4 }' | sort >"$T/mx"
[ -s "$T/pl" ] && diff "$T/pl" "$T/mx" >/dev/null || { bad "plan and matrix --dry-run differ"; diff "$T/pl" "$T/mx"; }
grep -q "^bt/shadow zen4$" "$T/pl" && grep -q "^pv/shadow p4$" "$T/pl" || bad "plan lacks bt or pv"
(cd / && parallel --will-cite -j 2 <"$T/plan" >/dev/null) || bad "parallel: status $?"
[ "$(ls "$T"/sh/shard-*.db | wc -l)" -eq "$want" ] || bad "not one shard per command"
"$V" merge "$T/m.db" "$T"/sh/shard-*.db >"$T/out" || bad "merge: status $?"
grep -q "^merge: $want runs added" "$T/out" || { bad "merge count"; cat "$T/out"; }
"$V" matrix $SEL --db "$T/d.db" >/dev/null || bad "matrix"
"$V" report --db "$T/m.db" >"$T/r1" && "$V" report --db "$T/d.db" >"$T/r2" || bad "report"
diff "$T/r1" "$T/r2" >/dev/null || { bad "merged report differs from the direct one"; diff "$T/r1" "$T/r2"; }
sum() { sqlite3 "$1" "select count(*), sum(value) from event; select count(*) from cycles; select count(*) from exit_reason; select count(*) from profile_version"; }
[ "$(sum "$T/m.db")" = "$(sum "$T/d.db")" ] || bad "merged metric rows differ from the direct run's"
"$V" merge "$T/m.db" "$T"/sh/shard-*.db >"$T/out" || bad "second merge"
grep -q "^merge: 0 runs added.*($want already there)" "$T/out" || { bad "second merge added runs"; cat "$T/out"; }
before=$(sha256sum <"$T/m.db")
echo "not a database" >"$T/foreign.db"
"$V" merge "$T/m.db" "$T/sh/shard-00001.db" "$T/foreign.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] || bad "foreign shard: status $rc"
cp "$T/sh/shard-00001.db" "$T/newer.db"
sqlite3 "$T/newer.db" "PRAGMA user_version = 999"
"$V" merge "$T/m.db" "$T/newer.db" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || bad "newer shard: status $rc"
[ "$(sha256sum <"$T/m.db")" = "$before" ] || bad "a refused merge changed OUT"
"$V" merge "$T/m.db" >/dev/null 2>&1; [ $? -eq 2 ] || bad "merge without shards"
"$V" plan $SEL >/dev/null 2>&1; [ $? -eq 2 ] || bad "plan without --shards"
"$V" plan --shards "$T/x" --param svm.vmexit=0,5 --engines svm --workloads cpuid >/dev/null 2>&1
[ $? -eq 0 ] || bad "plan sweep with vmexit 0"
"$V" plan --shards "$T/x" --param tlb.l1d_entries=0 --workloads cpuid >/dev/null 2>&1
[ $? -eq 2 ] || bad "plan of an out-of-range sweep value"

# a sweep planned, run, merged: the same curves as the sweep run directly
P="--param svm.vmexit=200,800 --engines svm/nested,svm/shadow --workloads cpuid --iterations 200"
"$V" plan --shards "$T/ss" $P >"$T/splan" || bad "sweep plan"
parallel --will-cite -j 2 <"$T/splan" >/dev/null 2>&1 || bad "sweep parallel"
"$V" merge "$T/sm.db" "$T"/ss/shard-*.db >/dev/null || bad "sweep merge"
"$V" sweep --no-run --db "$T/sm.db" $P --format csv --out "$T/p1" >"$T/s1" 2>/dev/null || bad "sweep --no-run"
"$V" sweep --db "$T/sd.db" $P --format csv --out "$T/p2" >"$T/s2" 2>/dev/null || bad "sweep direct"
cmp -s "$T/s1" "$T/s2" || { bad "planned sweep differs from the direct one"; diff "$T/s1" "$T/s2"; }

# Slurm: array task N runs command N
"$V" plan --shards "$T/sl" --slurm --workloads cpuid --engines native --iterations 100 >"$T/job.sh" || bad "--slurm"
grep -q "^#SBATCH --array=1-1$" "$T/job.sh" || bad "sbatch array line"
(cd "$T" && SLURM_ARRAY_TASK_ID=1 sh job.sh >/dev/null) || bad "array task 1"
[ -s "$T/sl/shard-00001.db" ] || bad "array task wrote no shard"
exit $fail
