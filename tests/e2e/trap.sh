#!/usr/bin/env bash
# trap.sh — the trap-and-emulate engine and the `sensitive` workload through
# the CLI:
#   - `--engine trap --mmu nested` is refused: one line, exit status 2;
#   - `sensitive` under trap: status failed, exit status 1, the reason names
#     the first divergence (POPF) and counts the rest; every class the
#     workload executes is counted (SLDT never diverges on this monitor);
#   - `sensitive` is ok with identical guest-visible RESULT values on native,
#     vtx (shadow, nested; p4 and skylake-sp) and svm (shadow, nested; zen4),
#     and trap's RESULT line differs from them (the divergence is visible to
#     the guest);
#   - every other workload runs ok under trap with native's RESULT values
#     (p4 and zen4, small iteration counts);
#   - determinism: two trap runs give identical counters.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok:   $*"; }

# ---- refusal
"$V" run --engine trap --mmu nested --workload cpuid --image "$G" --no-db >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "shadow" "$T/err" && ok "trap+nested refused: $(cat "$T/err")" ||
	bad "trap+nested -> $rc: $(cat "$T/err")"

# ---- sensitive under trap: failed, exit 1, the reason
"$V" run --engine trap --workload sensitive --image "$G" --no-db --format json >"$T/trap.json" 2>"$T/trap.err"; rc=$?
[ $rc -eq 1 ] && ok "trap sensitive exit status 1" || bad "trap sensitive exit status $rc"
python3 - "$T/trap.json" <<'PY' || fail=1
import json, re, sys
d = json.load(open(sys.argv[1]))
bad = []
if d["status"] != "failed": bad.append("status " + d["status"])
if not re.fullmatch(r"not virtualizable: POPF at CPL 1 ignored IF 0->1 at rip 0x[0-9a-f]+, 8 more", d["reason"]):
    bad.append("reason: " + d["reason"])
want = {"divergences": 9, "div_popf": 1, "div_pushf": 2, "div_sgdt": 1, "div_sidt": 1, "div_str": 1,
        "div_smsw": 1, "div_seg_read": 2}
ev = d["events"]
for k, v in want.items():
    if ev.get(k, 0) != v: bad.append(f"{k} = {ev.get(k, 0)}, expected {v}")
if ev.get("div_sldt", 0) != 0: bad.append("div_sldt counted")
r = d["guest_results"][0] if d["guest_results"] else {}
for k, v in {"pushf_if": "1", "cs_rpl": "1", "ss_rpl": "1", "sgdt": "foreign", "sidt": "foreign", "str": "0xfff0", "smsw_ts": "0"}.items():
    if r.get(k) != v: bad.append(f"guest saw {k}={r.get(k)}, expected {v} (the divergence must be guest-visible)")
for b in bad: print("FAIL: trap sensitive:", b)
if not bad: print("ok:   trap sensitive: " + d["reason"])
sys.exit(1 if bad else 0)
PY

# ---- sensitive everywhere else: ok, identical RESULT values
visible() {
	python3 -c '
import json, sys
j = json.load(sys.stdin)
if j["status"] != "ok":
    print("STATUS", j["status"], j.get("reason", "")); sys.exit(0)
for r in j.get("guest_results", []):
    print(" ".join(f"{k}={v}" for k, v in sorted(r.items()) if k not in ("cycles", "pm_ticks")))
'
}
ref=$("$V" run --engine native --workload sensitive --image "$G" --no-db --format json | visible)
echo "native: $ref"
printf '%s' "$ref" | grep -q "pushf_if=0 .*sgdt=own .*smsw_ts=1" || bad "native sensitive: $ref"
for cfg in "vtx shadow p4" "vtx shadow skylake-sp" "vtx nested skylake-sp" "svm shadow zen4" "svm nested zen4" "native native p4"; do
	set -- $cfg
	got=$("$V" run --engine "$1" --mmu "$2" --profile "$3" --workload sensitive --image "$G" --no-db --format json | visible)
	[ "$got" = "$ref" ] && ok "$1/$2 on $3: sensitive ok, same RESULT as native" || bad "$1/$2 on $3: $got"
done
got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(f"{k}={v}" for k, v in sorted(d["guest_results"][0].items()) if k not in ("cycles",)))' "$T/trap.json")
[ "$got" != "$ref" ] && ok "trap's RESULT differs: $got" || bad "trap's RESULT equals native's"

# ---- the other workloads under trap
for prof in p4 zen4; do
	for w in $(sed -n 's/^W(\([a-z0-9_]*\),.*/\1/p' include/virtlab/workloads.def); do
		[ "$w" = sensitive ] && continue
		case $w in forkwait|pgfault|ctxsw) n=40 ;; selftest) n=1 ;; *) n=200 ;; esac
		a=$("$V" run --engine native --profile $prof --workload "$w" --iterations $n --image "$G" --no-db --format json | visible)
		b=$("$V" run --engine trap --profile $prof --workload "$w" --iterations $n --image "$G" --no-db --format json | visible)
		if [ -n "$a" ] && [ "$a" = "$b" ] && ! printf '%s' "$b" | grep -q '^STATUS'; then ok "trap $w on $prof: $b"
		else bad "trap $w on $prof: native [$a] trap [$b]"; fi
	done
done

# ---- determinism
for w in sensitive ctxsw; do
	for k in 1 2; do
		"$V" run --engine trap --workload $w --iterations 50 --image "$G" --no-db --format json |
			python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("host", None); print(json.dumps(d, sort_keys=True))' >"$T/det$k"
	done
	cmp -s "$T/det1" "$T/det2" && ok "trap $w: two runs identical" || bad "trap $w: runs differ"
done
exit $fail
