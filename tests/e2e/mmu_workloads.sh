#!/usr/bin/env bash
# mmu_workloads.sh — every workload of `virtlab list workloads` under vtx and
# svm with the shadow and nested MMU engines, on every shipped profile whose
# CPU has the features (vtx: features.vmx, +nested: features.ept; svm:
# features.svm, +nested: features.npt; the rest must be refused, status 2):
#   - each run is ok and prints the same guest-visible RESULT lines as the
#     native engine on the same profile (minus the timed fields);
#   - the exit signature a virtualization engineer predicts:
#       syscall, callret, divzero, compute: no per-iteration exit;
#       cr8wr: one CR exit per write without TPR shadow (features.tpr_shadow = 0), none with it;
#       cpuid: one CPUID exit per iteration; in: one I/O exit per iteration;
#       ptemod: shadow >= 1 exit per PTE write (traced write + INVLPG + refill
#               = 3), nested none;
#       pgfault: shadow hidden, tracing and true faults (#PF exits >= 1 per
#               iteration), nested no #PF exit and no nested fault once the
#               guest's memory is populated (256-page batches are recycled);
#       ctxsw: shadow one CR3 exit per switch, all CR3-cache hits; nested none;
#       forkwait: shadow CR3 exits and traced page-table writes; nested no #PF exit.
set -u
cd "$(dirname "$0")/../.."
V=${VIRTLAB:-bin/virtlab}
G=${GUEST:-build/guest/guest.elf}
[ -r "$G" ] || { echo "no guest image at $G"; exit 77; }
[ -x "$V" ] || { echo "no CLI at $V"; exit 77; }
for mmu in shadow nested; do
	"$V" list mmus 2>/dev/null | grep -qw $mmu || { echo "MMU engine $mmu not registered"; exit 1; }
done
VIRTLAB="$V" GUEST="$G" PROFILES="${VIRTLAB_PROFILES:-profiles}" python3 - <<'PY'
import json, os, re, subprocess, sys
V, G, PD = os.environ["VIRTLAB"], os.environ["GUEST"], os.environ["PROFILES"]
fails = []

def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)

def run(engine, mmu, wl, prof, iters):
    cmd = [V, "run", "--engine", engine, "--workload", wl, "--profile", prof, "--iterations", str(iters),
           "--image", G, "--no-db", "--format", "json", "--max-instructions", "400000000"]
    if mmu:
        cmd += ["--mmu", mmu]
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

def exits(d, *names):
    return sum(v["count"] for n, v in d.get("exits", {}).items() if n in names)

TIMER = ("EXTERNAL_INTERRUPT", "MSR_WRITE", "MSR_READ", "HLT", "VMEXIT_INTR", "VMEXIT_MSR", "VMEXIT_HLT")
def other(d, allowed=()):
    return {n: v["count"] for n, v in d.get("exits", {}).items() if n not in TIMER and n not in allowed}

def features(prof):
    f = {}
    for line in open(os.path.join(PD, prof + ".ini")):
        m = re.match(r"\s*(\w+)\s*=\s*(\S+)", line.split(";")[0])
        if m:
            f[m.group(1)] = m.group(2)
    return f

wls = [l.split()[0] for l in subprocess.run([V, "list", "workloads"], capture_output=True, text=True).stdout.splitlines()[1:] if l.strip()]
profs = [l.split()[0] for l in subprocess.run([V, "list", "profiles"], capture_output=True, text=True).stdout.splitlines()[1:] if l.strip()]
check(len(wls) >= 11 and "ptemod" in wls, f"workloads listed: {wls}")
N = {"syscall": 400, "in": 200, "cr8wr": 400, "callret": 400, "pgfault": 300, "divzero": 200, "ptemod": 200,
     "cpuid": 200, "ctxsw": 200, "forkwait": 10, "compute": 400, "selftest": 1}
PF = {"vtx": "EXCEPTION_NMI", "svm": "VMEXIT_EXCP_PF"}
CR3W = {"vtx": ("CR_ACCESS",), "svm": ("VMEXIT_CR3_WRITE",)}

for prof in profs:
    f = features(prof)
    combos = []
    for eng, hw, nest in (("vtx", "vmx", "ept"), ("svm", "svm", "npt")):
        for mmu in ("shadow", "nested"):
            want = f.get(hw) == "1" and (mmu == "shadow" or f.get(nest) == "1")
            if want:
                combos.append((eng, mmu))
            else:
                d = run(eng, mmu, "cpuid", prof, 10)
                check(d["_rc"] == 2 and d.get("status") != "ok",
                      f"{eng}+{mmu} on {prof}: refused, status 2 ({d['_rc']} {d.get('reason', '')[:100]})")
    if not combos:
        continue
    native = {w: run("native", None, w, prof, N.get(w, 100)) for w in wls}
    for eng, mmu in combos:
        tag = f"{eng}+{mmu} on {prof}"
        for w in wls:
            n = N.get(w, 100)
            if native[w].get("status") != "ok":
                # not the MMU's business: e.g. selftest needs the APIC timer, which
                # the machine offers only as x2APIC (features.x2apic)
                print(f"skip: {tag} {w}: native does not finish on {prof} ({native[w].get('reason', '')[:80]})")
                continue
            d = run(eng, mmu, w, prof, n)
            ok = d.get("status") == "ok"
            check(ok, f"{tag} {w}: status ok ({d.get('status')} {d.get('reason', '')[:200]})")
            if not ok:
                continue
            check(visible(d) == visible(native[w]), f"{tag} {w}: guest-visible RESULT equals native")
            it, ev = d["iterations"], d["events"]
            if w in ("syscall", "callret", "divzero", "compute"):
                check(sum(other(d).values()) < it / 4, f"{tag} {w}: no per-iteration exit ({other(d)}, {it} iterations)")
            elif w == "cr8wr":
                cr = exits(d, "CR_ACCESS", "VMEXIT_CR8_WRITE")
                want = it if f.get("tpr_shadow") == "0" else 0
                check(cr == want, f"{tag} cr8wr: {cr} CR exits == {want} (tpr_shadow = {f.get('tpr_shadow')})")
            elif w == "cpuid":
                check(exits(d, "CPUID", "VMEXIT_CPUID") == it, f"{tag} cpuid: one CPUID exit per iteration ({exits(d, 'CPUID', 'VMEXIT_CPUID')})")
                check(not other(d, ("CPUID", "VMEXIT_CPUID")), f"{tag} cpuid: nothing else ({other(d, ('CPUID', 'VMEXIT_CPUID'))})")
            elif w == "in":
                check(exits(d, "IO_INSTRUCTION", "VMEXIT_IOIO") == it, f"{tag} in: one I/O exit per iteration")
            elif w == "ptemod":
                if mmu == "shadow":
                    check(ev["exits"] >= it, f"{tag} ptemod: {ev['exits']} exits >= 1 per PTE write ({it})")
                    check(exits(d, "INVLPG", "VMEXIT_INVLPG") == it, f"{tag} ptemod: one INVLPG exit per iteration")
                    check(ev["tracing_faults"] >= it - 1, f"{tag} ptemod: {ev['tracing_faults']} traced PTE writes (>= {it - 1})")
                    check(ev["hidden_faults"] >= it, f"{tag} ptemod: {ev['hidden_faults']} hidden refills (>= {it})")
                else:
                    check(not other(d), f"{tag} ptemod: no exits under nested ({other(d)})")
            elif w == "pgfault":
                if mmu == "shadow":
                    check(exits(d, PF[eng]) >= it, f"{tag} pgfault: {exits(d, PF[eng])} #PF exits >= {it}")
                    check(ev["page_faults"] >= it, f"{tag} pgfault: {ev['page_faults']} true faults reach the guest (>= {it})")
                    check(ev["hidden_faults"] > 0 and ev["tracing_faults"] > 0,
                          f"{tag} pgfault: hidden {ev['hidden_faults']} and tracing {ev['tracing_faults']} faults")
                    check(ev["hidden_faults"] + ev["tracing_faults"] + ev["page_faults"] == exits(d, PF[eng]),
                          f"{tag} pgfault: every #PF exit is hidden, tracing or true")
                else:
                    check(exits(d, PF[eng]) == 0, f"{tag} pgfault: no #PF exits under nested")
                    check(ev["page_faults"] >= it, f"{tag} pgfault: the guest sees its {ev['page_faults']} faults (>= {it})")
            elif w == "ctxsw":
                if mmu == "shadow":
                    c3 = exits(d, *CR3W[eng])
                    check(c3 >= it, f"{tag} ctxsw: {c3} CR3 exits >= {it} switches")
                    check(ev["cr3_cache_hits"] >= it and ev["cr3_cache_misses"] == 0,
                          f"{tag} ctxsw: CR3 cache hits {ev['cr3_cache_hits']}, misses {ev['cr3_cache_misses']}")
                else:
                    check(sum(other(d).values()) < it / 4, f"{tag} ctxsw: no per-switch exit under nested ({other(d)})")
            elif w == "forkwait":
                if mmu == "shadow":
                    check(exits(d, *CR3W[eng]) > 0 and ev["tracing_faults"] > 0,
                          f"{tag} forkwait: CR3 exits {exits(d, *CR3W[eng])}, traced page-table writes {ev['tracing_faults']}")
                else:
                    check(exits(d, PF[eng]) == 0, f"{tag} forkwait: no #PF exits under nested")
        if mmu == "nested":
            a, b = run(eng, mmu, "pgfault", prof, 256), run(eng, mmu, "pgfault", prof, 1024)
            if a.get("status") == "ok" and b.get("status") == "ok":
                na, nb = a["events"]["nested_faults"], b["events"]["nested_faults"]
                check(na >= 256 and nb - na <= 16,
                      f"{tag} pgfault: nested faults 256 it -> {na}, 1024 it -> {nb}: none once memory is populated")
            else:
                check(False, f"{tag} pgfault 256/1024 runs ok")

print(f"{len(fails)} failures")
sys.exit(1 if fails else 0)
PY
