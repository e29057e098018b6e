#!/usr/bin/env bash
# bench.sh — `virtlab bench --quick --format json` is one JSON object with
# `mips`, `peak_rss_kb` and per workload model_mips / tcg_mips / ratio and
# their spread; ratio is tcg_mips / model_mips; without QEMU the TCG fields
# are null with a note and the exit status is still 0; bad options are one
# line on stderr and exit 2. No timing is asserted: only structure and
# consistency (the figures themselves depend on the host and its load).
set -u
V=${VIRTLAB:-bin/virtlab}
cd "$(dirname "$0")/../.."
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# the default workloads, with QEMU TCG when it is installed
"$V" bench --quick --format json --image "$G" >"$T/q.json" 2>"$T/q.err" || bad "bench --quick exited $? ($(head -c 300 "$T/q.err"))"
python3 - "$T/q.json" <<'EOF' || fail=1
import json, math, sys
d = json.load(open(sys.argv[1]))
for k in ("mips", "peak_rss_kb", "reps", "workloads", "tcg", "tcg_note", "engine", "profile"):
    assert k in d, "missing key " + k
assert d["reps"] == 3, d["reps"]
assert d["mips"] > 0 and d["mips"] == d["workloads"]["compute"]["model_mips"], d["mips"]
assert d["peak_rss_kb"] > 1000, d["peak_rss_kb"]
assert sorted(d["workloads"]) == ["compute", "ctxsw", "forkwait", "pgfault"], list(d["workloads"])
for name, w in d["workloads"].items():
    for k in ("insns_per_iter", "model_iterations", "model_mips", "model_mips_min", "model_mips_max",
              "model_mips_samples", "tcg_mips", "tcg_mips_min", "tcg_mips_max", "ratio", "ratio_min", "ratio_max",
              "model_peak_rss_kb", "model_insns_deterministic"):
        assert k in w, name + ": missing key " + k
    assert w["insns_per_iter"] > 0, name
    n1, n2 = w["model_iterations"]
    assert 0 < n1 < n2, (name, n1, n2)
    assert w["model_insns_deterministic"] is True, name
    assert 1 <= len(w["model_mips_samples"]) <= 3, name
    assert 0 < w["model_mips_min"] <= w["model_mips"] <= w["model_mips_max"], name
    if d["tcg"]:
        assert d["tcg_note"] is None
        assert 0 < w["tcg_mips_min"] <= w["tcg_mips"] <= w["tcg_mips_max"], name
        want = w["tcg_mips"] / w["model_mips"]
        assert math.isclose(w["ratio"], want, rel_tol=2e-3), (name, w["ratio"], want)
        assert w["ratio_min"] <= w["ratio"] <= w["ratio_max"], name
    else:
        assert isinstance(d["tcg_note"], str) and d["tcg_note"], d["tcg_note"]
        assert w["tcg_mips"] is None and w["ratio"] is None, name
    print("ok: %-8s model %.1f MIPS, tcg %s, ratio %s" % (name, w["model_mips"], w["tcg_mips"], w["ratio"]))
EOF

# QEMU absent: TCG fields null, a note, exit 0
VIRTLAB_QEMU=/nonexistent/qemu-system-x86_64 "$V" bench --quick --reps 1 --workloads compute --format json --image "$G" \
	>"$T/n.json" 2>"$T/n.err" || bad "bench without QEMU exited $?"
python3 - "$T/n.json" <<'EOF' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tcg"] is False and "not found" in d["tcg_note"], d["tcg_note"]
w = d["workloads"]["compute"]
assert w["tcg_mips"] is None and w["ratio"] is None and w["tcg_iterations"] is None, w
assert d["mips"] > 0
print("ok: without QEMU:", d["tcg_note"])
EOF

# bad usage: one line on stderr, nothing on stdout, exit 2
for args in "--reps 0" "--reps 1000" "--target 0" "--target x" "--workloads nope" "--workloads ," "--format csv" \
	"--iterations 1" "--bogus" "extra" "--profile nope" "--engine qemu-tcg" "--engine vtx --profile zen4"; do
	# shellcheck disable=SC2086
	"$V" bench $args --no-qemu >"$T/o" 2>"$T/e"
	rc=$?
	[ $rc -eq 2 ] || bad "bench $args: exit $rc, not 2"
	[ "$(wc -l <"$T/e")" -eq 1 ] || bad "bench $args: stderr is not one line: $(cat "$T/e")"
	[ ! -s "$T/o" ] || bad "bench $args: wrote to stdout"
done
[ $fail -eq 0 ] && echo "ok: bad options refused"
exit $fail
