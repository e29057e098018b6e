#!/usr/bin/env bash
# provenance.sh — every stored run names what produced it (issue 16 item 1):
# a profile changed after the build (no rebuild) is stored with the new
# profile's hash and text, and the git state of the profile's tree at run
# time (uncommitted edit: dirty; committed: the new commit, clean); `run
# --format json` carries profile_sha256 and guest_sha256; `compare` names
# the profile field and both values and marks the counter changes as caused
# by it; two runs of one side with different profiles are not called
# nondeterminism; the stored profile text is itself a loadable profile that
# reproduces the run bit for bit.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
command -v git >/dev/null || { echo "git not installed"; exit 77; }
V=$(realpath "$V")
export VIRTLAB_GUEST=$(realpath "${GUEST:-build/guest/guest.elf}")
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
q() { sqlite3 "$T/r.db" "$1"; }

mkdir "$T/tree"
cp -r profiles "$T/tree/"
export VIRTLAB_PROFILES="$T/tree/profiles"
git -C "$T/tree" init -q
git -C "$T/tree" add .
git -C "$T/tree" -c user.email=t@t -c user.name=t commit -qm profiles
c1=$(git -C "$T/tree" rev-parse HEAD)
run() { "$V" run --engine svm --mmu nested --workload cpuid --iterations 200 --db "$T/r.db" "$@"; }

run --tag a --format json >"$T/a.json" || bad "run a"
python3 - "$T/a.json" "$VIRTLAB_GUEST" <<'PY' || bad "json provenance keys"
import json, sys, hashlib
d = json.load(open(sys.argv[1]))
g = hashlib.sha256(open(sys.argv[2], 'rb').read()).hexdigest()
assert len(d["profile_sha256"]) == 64, d["profile_sha256"]
assert d["guest_sha256"] == g, (d["guest_sha256"], g)
PY
[ "$(q "select profile_commit || ' ' || profile_dirty from run where tag = 'a'")" = "$c1 0" ] || bad "clean tree: $(q "select profile_commit, profile_dirty from run")"
sa=$(q "select profile_sha256 from run where tag = 'a'")
[ "$(q "select sha256 from profile_version where sha256 = '$sa'")" = "$sa" ] || bad "profile text not stored"
[ "$sa" = "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["profile_sha256"])' "$T/a.json")" ] || bad "json hash != stored hash"

# an uncommitted edit to the profile, the binary untouched
sed -i 's/^vmexit = \([0-9]*\)/vmexit = 9\1/' "$T/tree/profiles/zen4.ini"
new=$(grep '^vmexit' "$T/tree/profiles/zen4.ini" | sed 's/^vmexit = \([0-9]*\).*/\1/')
old=${new#9}
run --tag b >/dev/null || bad "run b"
sb=$(q "select profile_sha256 from run where tag = 'b'")
[ -n "$sb" ] && [ "$sb" != "$sa" ] || bad "edited profile stored with the old hash"
[ "$(q "select profile_commit || ' ' || profile_dirty from run where tag = 'b'")" = "$c1 1" ] || bad "edit not marked dirty"
q "select text from profile_version where sha256 = '$sb'" | grep -q "^vmexit = $new ;" || bad "stored text lacks the new value"

out=$("$V" compare tag:a tag:b --db "$T/r.db"); rc=$?
[ $rc -eq 1 ] || bad "compare a b: status $rc (a $old -> $new exit cost is a regression)"
echo "$out" | grep -q "profile svm.vmexit .* $old -> $new" || { bad "compare does not name the field"; echo "$out"; }
echo "$out" | grep -q "different profile or guest: svm.vmexit $old -> $new" || { bad "no attribution summary"; echo "$out"; }
echo "$out" | grep -q "^\* svm/nested .*cycles_per_iter" || { bad "cost change not marked as caused by the input"; echo "$out"; }
"$V" compare tag:a tag:b --db "$T/r.db" --format json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = [e for e in d["entries"] if e["kind"] == "profile"]
assert len(p) == 1 and p[0]["name"] == "svm.vmexit", p
assert d["inputs_changed"] == 1' || bad "compare json"

# the same tag with two profiles: a profile change, not nondeterminism
run --tag a >/dev/null
out=$("$V" compare tag:a tag:b --db "$T/r.db")
echo "$out" | grep -q nondeterminism && bad "different profiles called nondeterminism"
echo "$out" | grep -q "different profiles or guest images" || { bad "no warning about mixed profiles"; echo "$out"; }

# committed: the new commit, clean
git -C "$T/tree" -c user.email=t@t -c user.name=t commit -qam "exit cost"
c2=$(git -C "$T/tree" rev-parse HEAD)
run --tag c >/dev/null
[ "$(q "select profile_commit || ' ' || profile_dirty || ' ' || profile_sha256 from run where tag = 'c'")" = "$c2 0 $sb" ] ||
	bad "committed profile: $(q "select profile_commit, profile_dirty from run where tag = 'c'")"

# the stored text is a loadable profile that reproduces the run exactly
q "select text from profile_version where sha256 = '$sa'" >"$T/saved.ini"
"$V" run --engine svm --mmu nested --workload cpuid --iterations 200 --profile "$T/saved.ini" --no-db --format json >"$T/re.json" || bad "stored profile does not load"
python3 - "$T/a.json" "$T/re.json" <<'PY' || bad "stored profile does not reproduce the run"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["cycles"] == b["cycles"] and a["events"] == b["events"] and a["profile_sha256"] == b["profile_sha256"]
PY
exit $fail
