#!/usr/bin/env bash
# bt_workloads.sh — engine bt (binary translation, shadow paging) on the
# guest image:
#   - every workload of `virtlab list workloads` on p4, core2, skylake-sp
#     and zen4 is ok and prints the same guest-visible RESULT lines as native
#     on the same profile (minus the timed fields);
#   - chaining: a warmed loop makes no dispatcher entry — the measured
#     region's dispatcher_entries do not grow with the iteration count
#     (callret, cr8wr, in, cpuid: in-kernel loops; a system call from user
#     mode enters the kernel through the dispatcher each time, by design),
#     and chain links were made;
#   - the callout path: cpuid one CPUID callout per iteration, in one IO
#     callout per iteration; cr8wr none (virtual CR8 inside the TC);
#   - run --trace prints each translation (guest block disassembled), each
#     callout and the adaptation;
#   - adaptive BT: under ptemod the PTE write traces (tracing faults) exactly
#     bt.adapt_threshold times, is then retranslated (an `adaptation` in the
#     trace) and from there on is a PTE_WRITE callout per iteration with no
#     tracing fault in the measured region;
#   - ... and an adapted instruction whose stores stop faulting (forkwait's
#     copy loop) goes back to plain translation after 512 in a row;
#   - interrupts held while the virtual IF is 0 (forkwait's timer ticks);
#   - determinism: two runs give identical counters;
#   - refusals: bt --mmu nested / native / direct exit 2 with one line.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
"$V" list engines | grep -qw bt || { echo "engine bt not registered"; exit 1; }
VIRTLAB="$V" GUEST="$G" python3 - <<'PY'
import json, os, re, subprocess, sys
V, G = os.environ["VIRTLAB"], os.environ["GUEST"]
fails = []

def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)

def run(engine, wl, prof, iters, extra=()):
    cmd = [V, "run", "--engine", engine, "--workload", wl, "--profile", prof, "--iterations", str(iters),
           "--image", G, "--no-db", "--format", "json", "--max-instructions", "400000000"] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    try:
        d = json.loads(p.stdout)
    except Exception:
        d = {"status": "noparse", "reason": (p.stdout + p.stderr)[-300:]}
    d["_rc"] = p.returncode
    return d

TIMED = ("cycles", "pm_ticks")
def visible(d):
    return [{k: v for k, v in r.items() if k not in TIMED} for r in d.get("guest_results", [])]
def ev(d, k):
    return d.get("events", {}).get(k, 0)
def ex(d, k):   # callouts are reported by name under "callouts", apart from exits
    return d.get("callouts", {}).get(k, {}).get("count", 0)

wls = [l.split()[0] for l in subprocess.run([V, "list", "workloads"], capture_output=True, text=True).stdout.splitlines()[1:] if l.strip()]
N = {"syscall": 200, "in": 100, "cr8wr": 200, "callret": 200, "pgfault": 100, "divzero": 100, "ptemod": 100,
     "cpuid": 100, "ctxsw": 100, "forkwait": 5, "compute": 200, "selftest": 1, "sensitive": 1}
for prof in ("p4", "core2", "skylake-sp", "zen4"):
    for wl in wls:
        n = N.get(wl, 50)
        nat, bt = run("native", wl, prof, n), run("bt", wl, prof, n)
        check(bt["status"] == "ok" and bt["_rc"] == 0, f"{prof} bt {wl}: status {bt['status']} {bt.get('reason', '')}")
        check(visible(bt) == visible(nat) and visible(nat), f"{prof} bt {wl}: guest-visible results equal native's")
        check(bt.get("mmu") == "shadow", f"{prof} bt {wl}: default mmu shadow")
        check(ev(bt, "exits") == sum(v["count"] for v in bt.get("exits", {}).values()) and
              ev(bt, "callouts") == sum(v["count"] for n, v in bt.get("callouts", {}).items() if n != "MARKER"),
              f"{prof} bt {wl}: callouts by name sum to the callouts event, the rest are exits")
        if wl == "cpuid":
            check(ex(bt, "CPUID") == n, f"{prof} bt cpuid: one CPUID callout per iteration ({ex(bt, 'CPUID')})")
        if wl == "in":
            check(ex(bt, "IO") == n, f"{prof} bt in: one IO callout per iteration ({ex(bt, 'IO')})")
        if wl == "cr8wr":
            check(ex(bt, "CR_WRITE") == 0 and ev(bt, "callouts") < 20, f"{prof} bt cr8wr: CR8 inside the TC (callouts {ev(bt, 'callouts')})")

# chaining: the measured region's dispatcher entries are warm-up only
for wl in ("callret", "cr8wr", "in", "cpuid"):
    a, b = run("bt", wl, "p4", 200), run("bt", wl, "p4", 400)
    check(ev(a, "dispatcher_entries") == ev(b, "dispatcher_entries"),
          f"bt {wl}: dispatcher entries independent of iterations ({ev(a, 'dispatcher_entries')} vs {ev(b, 'dispatcher_entries')})")
    check(ev(b, "chain_links") > 0, f"bt {wl}: chain links made ({ev(b, 'chain_links')})")
c = run("bt", "callret", "p4", 400)
check(ev(c, "tc_lookups") >= 400 and ev(c, "tc_lookup_misses") <= 2,
      f"bt callret: RETs through the inline lookup ({ev(c, 'tc_lookups')} lookups, {ev(c, 'tc_lookup_misses')} misses)")

# adaptive BT on ptemod
thr = None
for line in open("profiles/p4.ini"):
    m = re.match(r"\s*adapt_threshold\s*=\s*(\d+)", line)
    if m:
        thr = int(m.group(1))
p = subprocess.run([V, "run", "--engine", "bt", "--workload", "ptemod", "--profile", "p4", "--iterations", "20",
                    "--image", G, "--no-db", "--trace"], capture_output=True, text=True, timeout=300)
lines = (p.stdout + p.stderr).splitlines()
tr = [i for i, l in enumerate(lines) if re.search(r"bt: translate 0x[0-9a-f]+: \d+ guest instructions .* bytes of TC at 0x", l)]
check(len(tr) > 0 and re.search(r"bt:   0x[0-9a-f]+: \w+", lines[tr[0] + 1]) is not None,
      f"--trace: each translation with its guest block disassembled ({len(tr)} translations)")
check(any(re.search(r"bt: callout INVLPG at guest rip 0x", l) for l in lines), "--trace: callouts by name with the guest rip")
ad = [i for i, l in enumerate(lines) if "bt: adaptation:" in l]
check(len(ad) == 1, f"ptemod: one adaptation in the trace ({len(ad)})")
if ad:
    rip = re.search(r"guest rip (0x[0-9a-f]+)", lines[ad[0]]).group(1)
    traced = [l for l in lines[:ad[0]] if "traced page-table write" in l]
    after = [l for l in lines[ad[0]:] if "traced page-table write" in l]
    check(thr is not None and f"caused {thr} tracing faults" in lines[ad[0]], f"ptemod: adapted after adapt_threshold={thr} faults: {lines[ad[0]]}")
    check(len(after) == 0, f"ptemod: no traced write after the adaptation ({len(after)})")
    co = [l for l in lines[ad[0]:] if "callout PTE_WRITE" in l and rip in l]
    check(len(co) >= 20, f"ptemod: PTE_WRITE callouts at {rip} take over ({len(co)})")
d = run("bt", "ptemod", "p4", 100)
check(ev(d, "tracing_faults") == 0 and ex(d, "PTE_WRITE") == 100,
      f"ptemod measured region: no tracing fault, one PTE_WRITE callout per iteration ({ev(d, 'tracing_faults')}, {ex(d, 'PTE_WRITE')})")

# an adapted instruction whose stores pass the hardware tables (forkwait's
# copy loop, which also writes a page table) goes back to plain translation
# after more such stores in a row than a page table has entries: not a
# PTE_WRITE callout per copied word (it was ~3700 per iteration)
fw = run("bt", "forkwait", "p4", 100)
check(fw["status"] == "ok" and ex(fw, "PTE_WRITE") < 100 * 100,
      f"forkwait: PTE_WRITE callouts do not take over ordinary stores ({ex(fw, 'PTE_WRITE')} in 100 iterations)")

# interrupts held by the virtual IF: the kernel runs with IF 0, so timer
# interrupts arriving in translated kernel code wait (VL_HOOK_HOLD) and are
# delivered once the guest can take them
f = run("bt", "forkwait", "zen4", 50)
check(f["status"] == "ok" and ev(f, "intr_holds") > 0 and ev(f, "interrupts") > 0,
      f"forkwait: interrupts held by the virtual IF ({ev(f, 'intr_holds')}) and delivered ({ev(f, 'interrupts')})")

# determinism
for wl in ("forkwait", "ptemod", "ctxsw"):
    a, b = run("bt", wl, "zen4", 20), run("bt", wl, "zen4", 20)
    check(a.get("events") == b.get("events") and a.get("cycles") == b.get("cycles") and a.get("exits") == b.get("exits"),
          f"bt {wl}: counters identical across two runs")

# refusals
for mmu in ("nested", "native", "direct"):
    p = subprocess.run([V, "run", "--engine", "bt", "--mmu", mmu, "--workload", "cpuid", "--image", G, "--no-db"],
                       capture_output=True, text=True)
    err = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(err) == 1, f"bt --mmu {mmu}: exit {p.returncode}, {err}")

print(f"{len(fails)} failures")
sys.exit(1 if fails else 0)
PY
