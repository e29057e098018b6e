#!/usr/bin/env bash
# footprint.sh — the process footprint of the guest's process-level
# workloads (workloads/footprint.h): forkwait/ctxsw/pgfault map and touch
# the host twin's measured footprint by default (their RESULT says so), the
# other workloads none; fp_pages=0 gives the footprint-free process; a larger
# process makes fork dearer in the model (page tables to copy and free); the
# default is the twin's footprint as measured now on this host (VmRSS/4 KiB
# and regions, within a generous margin: other hosts' libraries differ);
# bad values are a guest usage error (failed run, one ERROR line).
set -u
cd "$(dirname "$0")/../.."
VIRTLAB=${VIRTLAB:-bin/virtlab}
[ -x "$VIRTLAB" ] || { echo "no CLI at $VIRTLAB"; exit 77; }
command -v python3 >/dev/null || { echo "needs python3"; exit 77; }
fail=0
bad() { echo "FAIL $*"; fail=1; }
hdr=workloads/footprint.h
def() { sed -n "s/^#define $1 *\([0-9]*\).*/\1/p" $hdr; }

gr() {   # gr ARGS...: the guest_results[0] dict and cycles_per_iter of a run, as "cpi key=value ..."
	"$VIRTLAB" run --no-db --format json "$@" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d["status"] != "ok": print("STATUS", d["status"], d["reason"]); sys.exit(0)
g = d["guest_results"][0]
print(d["cycles_per_iter"], " ".join("%s=%s" % (k, v) for k, v in g.items()))'
}
for w in forkwait ctxsw pgfault; do
	W=$(echo $w | tr a-z A-Z)
	out=$(gr --workload $w --iterations 20)
	echo "$w default: $out"
	[[ $out == *" fp_pages=$(def WL_FP_${W}_PAGES) fp_regions=$(def WL_FP_${W}_REGIONS)"* ]] || bad "$w: default footprint not in RESULT"
done
out=$(gr --workload syscall --iterations 100)
[[ $out == *fp_pages* ]] && bad "syscall got a footprint: $out"

a=$(gr --workload forkwait --iterations 20 --params fp_pages=0)
b=$(gr --workload forkwait --iterations 20)
echo "forkwait fp_pages=0: $a"
[[ $a == *fp_pages* ]] && bad "fp_pages=0 still set up a footprint"
awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { exit !(b > a * 1.2) }' || bad "fork of a real-sized process not dearer in the model: $a vs $b"

# the default is the twin's footprint on this host (as `run --engine host` runs it)
if [ -x build/host/vl-twin ]; then
	for w in forkwait ctxsw pgfault; do
		W=$(echo $w | tr a-z A-Z)
		fp=$(build/host/vl-twin $w 20 PAPI_TOT_CYC PAPI_TOT_INS PAPI_TLB_DM | grep '^FOOTPRINT')
		rss=$(echo "$fp" | sed 's/.*vmrss_kb=\([0-9]*\).*/\1/'); reg=$(echo "$fp" | sed 's/.*regions=\([0-9]*\).*/\1/')
		echo "$w twin now: $fp; default $(def WL_FP_${W}_PAGES) pages, $(def WL_FP_${W}_REGIONS) regions"
		awk -v p=$((rss / 4)) -v d="$(def WL_FP_${W}_PAGES)" 'BEGIN { exit !(p > d / 2 && p < d * 2) }' || bad "$w: twin has $((rss / 4)) pages, default $(def WL_FP_${W}_PAGES)"
		[ $((reg - $(def WL_FP_${W}_REGIONS))) -le 8 ] && [ $(($(def WL_FP_${W}_REGIONS) - reg)) -le 8 ] || bad "$w: twin has $reg regions"
	done
fi

for p in "fp_regions=0" "fp_regions=41" "fp_pages=65537" "fp_pages=2 fp_regions=3" "fp_pages=x"; do
	err=$("$VIRTLAB" run --workload forkwait --iterations 2 --no-db --params "$p" 2>&1 >/dev/null); rc=$?
	echo "$p: status $rc: $err"
	[ $rc -eq 1 ] && [[ $err == *"ERROR "*fp_* ]] || bad "$p: expected a failed run with the guest's ERROR line"
done
exit $fail
