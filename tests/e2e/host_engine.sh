#!/usr/bin/env bash
# host_engine.sh — engine `host` (host-native twins, PAPI/libpfm4): every
# twin runs, stores its raw samples, and its JSON marks the row measured;
# counters PAPI cannot count here are marked unavailable with PAPI's reason
# (never a zero, no sample); compute's checksum equals the guest's; kernel-
# only workloads, bogus event names and a missing twin are refused (exit 2,
# one line, nothing stored); a twin killed by a signal is a failed row;
# `list events` lists countable events or says why there are none.
set -u
cd "$(dirname "$0")/../.."
VIRTLAB=${VIRTLAB:-bin/virtlab}
[ -x "$VIRTLAB" ] || { echo "no CLI at $VIRTLAB"; exit 77; }
[ -x build/host/vl-twin ] || { echo "no host twin program (make twin)"; exit 77; }
command -v python3 >/dev/null && command -v sqlite3 >/dev/null || { echo "needs python3 and sqlite3"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }

# Does PAPI count core cycles on this host? (the twin itself says)
if build/host/vl-twin compute 10 PAPI_TOT_CYC | grep -q '^COUNTER PAPI_TOT_CYC '; then pmu=1; else pmu=0; fi
echo "PAPI counts PAPI_TOT_CYC here: $pmu"

for w in syscall pgfault divzero ctxsw forkwait cpuid compute; do
	case $w in forkwait) it=20 ;; cpuid|divzero|pgfault|ctxsw) it=200 ;; *) it=2000 ;; esac
	"$VIRTLAB" run --engine host --workload $w --iterations $it --repeats 3 --db "$T/h.db" --format json >"$T/$w.json" 2>"$T/$w.err"
	rc=$?
	[ $rc -eq 0 ] || { bad "$w: exit status $rc: $(cat "$T/$w.err")"; continue; }
	python3 - "$T/$w.json" "$pmu" "$w" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1])); pmu = sys.argv[2] == "1"; w = sys.argv[3]
def check(c, msg):
    if not c: print("FAIL %s: %s" % (w, msg)); sys.exit(1)
check(d["engine"] == "host" and d["status"] == "ok", "status %s" % d["status"])
check(d["model"] is False and d["measured"] is True, "row not marked measured")
ns = d["samples"].get("ns_per_iter")
check(ns and ns["unit"] == "ns" and len(ns["values"]) == 3 and all(v > 0 for v in ns["values"]), "ns samples %r" % ns)
cy = d["samples"].get("cycles_per_iter")   # TSC ticks, or core cycles where PAPI counts them
check(cy and len(cy["values"]) == 3 and all(v > 0 for v in cy["values"]), "cycles_per_iter samples")
check(cy["unit"] == ("cycles" if pmu else "tsc"), "cycles_per_iter unit %s" % cy["unit"])
check(d["cycles_per_iter"] == sorted(cy["values"])[1], "cycles_per_iter is not the median of its samples")
if pmu:
    check(len(d["samples"]["tsc_per_iter"]["values"]) == 3, "tsc samples")
ev = d["counters"]["events"]
check(set(ev) == {"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_TLB_DM"}, "default events %r" % list(ev))
cyc = ev["PAPI_TOT_CYC"]
if pmu:
    check(cyc["available"] and "PAPI_TOT_CYC_per_iter" in d["samples"], "cycles counted but no samples")
    check(all(v > 0 for v in d["samples"]["PAPI_TOT_CYC_per_iter"]["values"]), "a zero cycle count")
else:
    check(not cyc["available"] and "PAPI" in cyc["reason"], "unavailable counter without PAPI's reason: %r" % cyc)
    check(d["counters"]["available"] is False, "counters.available")
for name, e in ev.items():
    if not e["available"]:
        check(e["reason"] and (name + "_per_iter") not in d["samples"], "%s: unavailable yet a sample (or no reason)" % name)
print("ok %s: median ns/iter %.1f, counters %s" % (w, sorted(ns["values"])[1], "counted" if d["counters"]["available"] else "unavailable: " + cyc["reason"]))
PY
done

# stored: one measured row per twin, 3 raw samples per metric, the reason kept
n=$(sqlite3 "$T/h.db" "SELECT count(*) FROM run WHERE engine='host' AND model=0 AND status='ok'")
[ "$n" = 7 ] || bad "expected 7 stored host rows, got $n"
n=$(sqlite3 "$T/h.db" "SELECT count(*) FROM sample WHERE metric='ns_per_iter'")
[ "$n" = 21 ] || bad "expected 21 ns_per_iter samples, got $n"
n=$(sqlite3 "$T/h.db" "SELECT count(*) FROM event e JOIN run r ON r.id = e.run_id WHERE r.engine='host'")
[ "$n" = 0 ] || bad "a measured row has $n model event rows (zeros would be a false claim)"
if [ $pmu = 0 ]; then
	sqlite3 "$T/h.db" "SELECT host_notes FROM run WHERE engine='host' LIMIT 1" | grep -q 'counter PAPI_TOT_CYC unavailable: PAPI' ||
		bad "the stored row does not say why PAPI_TOT_CYC is unavailable"
fi

# compute: the same kernel (workloads/compute.h) gives the guest's checksum
hc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guest_results"][0]["check"])' "$T/compute.json")
mc=$("$VIRTLAB" run --workload compute --iterations 2000 --no-db --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["guest_results"][0]["check"])')
[ -n "$hc" ] && [ "$hc" = "$mc" ] || bad "compute checksum: host $hc, model $mc"
echo "compute checksum host $hc model $mc"

refused() {   # refused DESCRIPTION NEEDLE ARGS...: exit 2, one line naming NEEDLE, nothing stored
	local what=$1 needle=$2; shift 2
	local before after err rc
	before=$(sqlite3 "$T/h.db" "SELECT count(*) FROM run")
	err=$("$VIRTLAB" run --engine host --db "$T/h.db" "$@" 2>&1 >/dev/null); rc=$?
	after=$(sqlite3 "$T/h.db" "SELECT count(*) FROM run")
	echo "$what: status $rc: $err"
	[ $rc -eq 2 ] || bad "$what: exit status $rc, expected 2"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || bad "$what: not one line"
	case $err in *"$needle"*) ;; *) bad "$what: reason lacks '$needle'" ;; esac
	[ "$before" = "$after" ] || bad "$what: a row was stored"
}
for w in in cr8wr callret ptemod; do refused "kernel-only $w" "no host twin" --workload $w; done
refused "bogus native event" "libpfm4" --workload syscall --events no_such_event_xyz
refused "bogus preset" "PAPI" --workload syscall --events PAPI_NO_SUCH
refused "empty event" "empty event name" --workload syscall --events PAPI_TOT_CYC,
VIRTLAB_TWIN=$T/none refused "missing twin" "not found" --workload syscall
err=$("$VIRTLAB" run --engine native --workload syscall --events PAPI_TOT_CYC --no-db 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [[ $err == *"only engine host"* ]] || bad "--events with a model engine: status $rc: $err"

# a name libpfm4 knows on every x86 host (its generic perf PMU) resolves; a
# software event needs no PMU: one page fault per iteration where PAPI counts it
out=$("$VIRTLAB" run --engine host --workload pgfault --iterations 300 --repeats 2 --events perf::PERF_COUNT_SW_PAGE_FAULTS --no-db --format json 2>&1); rc=$?
[ $rc -eq 0 ] || bad "perf::PERF_COUNT_SW_PAGE_FAULTS: exit $rc: $out"
echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin); e = d["counters"]["events"]["perf::PERF_COUNT_SW_PAGE_FAULTS"]
if e["available"]:
    v = d["samples"]["perf::PERF_COUNT_SW_PAGE_FAULTS_per_iter"]["values"]
    print("page faults per iteration:", v); sys.exit(0 if all(0.99 <= x <= 1.2 for x in v) else 1)
print("software event unavailable here:", e["reason"]); sys.exit(0 if e["reason"] else 1)' || bad "software page-fault event"
# a CPU-specific native name: resolves where libpfm4 knows this CPU, else refused with libpfm4's message
err=$("$VIRTLAB" run --engine host --workload syscall --iterations 10 --repeats 1 --events INST_RETIRED.ANY --no-db 2>&1 >/dev/null); rc=$?
echo "INST_RETIRED.ANY: status $rc ${err:+($err)}"
[ $rc -eq 0 ] || { [ $rc -eq 2 ] && [[ $err == *libpfm4* ]]; } || bad "INST_RETIRED.ANY: status $rc: $err"

# a twin killed by a signal: a failed row with the signal, exit 1
printf '#!/bin/sh\nkill -SEGV $$\n' >"$T/crash"; chmod +x "$T/crash"
err=$(VIRTLAB_TWIN=$T/crash "$VIRTLAB" run --engine host --workload syscall --repeats 2 --db "$T/h.db" 2>&1 >/dev/null); rc=$?
echo "killed twin: status $rc: $err"
[ $rc -eq 1 ] || bad "killed twin: exit status $rc, expected 1"
[[ $err == *"signal 11"* ]] || bad "killed twin: reason lacks the signal"
n=$(sqlite3 "$T/h.db" "SELECT count(*) FROM run WHERE status='failed' AND reason LIKE '%signal 11%' AND cycles_per_iter IS NULL")
[ "$n" = 1 ] || bad "killed twin: expected one failed row without a value, got $n"

# list events: events (name, kind) or, with none from the PMU, PAPI's reason on stderr
"$VIRTLAB" list events >"$T/ev.out" 2>"$T/ev.err"; rc=$?
echo "list events: status $rc, $(wc -l <"$T/ev.out") events; $(cat "$T/ev.err")"
[ $rc -eq 0 ] || bad "list events: exit $rc"
grep -q ' hardware ' "$T/ev.out" || grep -q 'no hardware (PMU) events countable' "$T/ev.err" || bad "list events: no hardware event and no reason"
if [ $pmu = 0 ] && grep -q ' hardware ' "$T/ev.out"; then bad "list events lists a hardware event PAPI cannot count"; fi
exit $fail
