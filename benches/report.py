#!/usr/bin/env python3
"""Turns criterion's results (target/criterion) into the table of docs/benchmarks.md: our figures
next to the host kernel's from the same run, as ratios, with the issue's targets checked."""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target", "criterion")
est = {}
for dirpath, _, files in os.walk(root):
    if dirpath.endswith(os.sep + "new") and "estimates.json" in files and "benchmark.json" in files:
        b = json.load(open(os.path.join(dirpath, "benchmark.json")))
        e = json.load(open(os.path.join(dirpath, "estimates.json")))
        est[(b["group_id"], b["function_id"], b.get("value_str"))] = e["mean"]["point_estimate"]


def ns(g, f, v=None):
    return est.get((g, f, v))


def fmt(t):
    if t is None:
        return "–"
    if t >= 1e6:
        return f"{t / 1e6:.2f} ms"
    if t >= 1e3:
        return f"{t / 1e3:.2f} µs"
    return f"{t:.0f} ns"


def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.3g}×"


def verdict(ok):
    return "–" if ok is None else ("met" if ok else "**missed**")


out = []
out.append("| benchmark | size | vmm | host kernel | vmm ÷ kernel |")
out.append("|---|---|---|---|---|")
for p in ["1", "16", "256", "4096"]:
    core, guest, nat = ns("mlock_munlock_resident", "core", p), ns("mlock_munlock_resident", "guest", p), ns("mlock_munlock_resident", "native", p)
    out.append(f"| mlock+munlock, resident, core API | {p} pages | {fmt(core)} | {fmt(nat)} | {ratio(core, nat)} |")
    out.append(f"| mlock+munlock, resident, guest host calls | {p} pages | {fmt(guest)} | {fmt(nat)} | {ratio(guest, nat)} |")
for a, sizes in [("1", ["1", "16", "256", "4096"]), ("8", ["1", "16", "256", "4096"]), ("1000", ["1", "4096"])]:
    for p in sizes:
        label = f"{p}p x{a}"
        core, nat = ns("shm_lock_unlock", "core", label), ns("shm_lock_unlock", "native", label)
        out.append(f"| SHM_LOCK+SHM_UNLOCK, {a} attacher(s) | {p} pages | {fmt(core)} | {fmt(nat)} | {ratio(core, nat)} |")
for p in ["1", "16", "256", "4096"]:
    out.append(f"| mlock+munlock of a SHM_LOCKed range | {p} pages | {fmt(ns('mlock_of_shm_locked', 'core', p))} | – | – |")
for n in ["1", "64", "1024", "65536"]:
    out.append(f"| mlockall(MCL_CURRENT)+munlockall | {n} entries | {fmt(ns('mlockall_munlockall', 'core', n))} | – | – |")
w, wn = ns("wire_nonresident", "core_from_swap"), ns("wire_nonresident", "native_zero_fill")
out.append(f"| wire a non-resident range, per page | 256 pages | {fmt(w and w / 256)} (from swap) | {fmt(wn and wn / 256)} (zero fill) | {ratio(w, wn)} |")
pi, ev, sg = ns("paging", "guest_page_in"), ns("paging", "evict"), ns("paging", "native_sigsegv_roundtrip")
p1, p16 = ns("paging", "guest_page_in_one_per_fault"), ns("paging", "guest_page_in_ahead_16")
out.append(f"| demand page-in by a guest load, per page, one page per fault | 256 pages | {fmt(p1 and p1 / 256)} | {fmt(sg and sg / 256)} (SIGSEGV round trip) | {ratio(p1, sg)} |")
out.append(f"| demand page-in by a guest load, per page, fault-ahead (default) | 256 pages, sequential | {fmt(pi and pi / 256)} | {fmt(sg and sg / 256)} (SIGSEGV round trip) | {ratio(pi, sg)} |")
out.append(f"| demand page-in by a guest load, per page, fault-ahead 16 forward | 256 pages, sequential | {fmt(p16 and p16 / 256)} | {fmt(sg and sg / 256)} (SIGSEGV round trip) | {ratio(p16, sg)} |")
out.append(f"| eviction, per page | 256 pages | {fmt(ev and ev / 256)} | – | – |")
if ev:
    out.append(f"| pagedaemon reclaim rate | 256 pages | {256 / (ev / 1e9):,.0f} pages/s | – | – |")
for op in ["lookup", "clip_merge", "mlock_one_page"]:
    a, b = ns("map_ops", op, "10"), ns("map_ops", op, "100000")
    out.append(f"| map {op} | 10 → 100000 entries | {fmt(a)} → {fmt(b)} | – | {ratio(b, a)} of the 10-entry cost |")
base = ns("scaling_shared_segment", "mlock_munlock", "1")
for n in ["1", "2", "4", "8"]:
    t = ns("scaling_shared_segment", "mlock_munlock", n)
    rate = None if t is None else int(n) / (t / 1e9)
    out.append(f"| {n} guests mlock+munlock one shared 16-page segment | {n} threads | {'–' if rate is None else f'{rate:,.0f} pairs/s'} | – | – |")
gv, gw = ns("guest_start", "vmm_run_guests"), ns("guest_start", "wasmtime_instantiate")
out.append(f"| guest start+exit, per guest (16 per run) | 1 page touched | {fmt(gv and gv / 16)} | {fmt(gw and gw / 16)} (wasmtime instantiate+call) | {ratio(gv, gw)} |")
print("\n".join(out))

print()
print("| target | measured | |")
print("|---|---|---|")
g1, n1 = ns("mlock_munlock_resident", "guest", "1"), ns("mlock_munlock_resident", "native", "1")
print(f"| guest 1-page mlock+munlock ≤ 0.1× kernel | {ratio(g1, n1)} | {verdict(None if g1 is None or n1 is None else g1 <= 0.1 * n1)} |")
c4, n4 = ns("mlock_munlock_resident", "core", "4096"), ns("mlock_munlock_resident", "native", "4096")
print(f"| 4096-page mlock+munlock ≥ 10× kernel pages/s | {ratio(n4, c4)} | {verdict(None if c4 is None or n4 is None else n4 >= 10 * c4)} |")
s4, sn4 = ns("shm_lock_unlock", "core", "4096p x1"), ns("shm_lock_unlock", "native", "4096p x1")
print(f"| 4096-page SHM_LOCK+SHM_UNLOCK ≥ 4× kernel | {ratio(sn4, s4)} | {verdict(None if s4 is None or sn4 is None else sn4 >= 4 * s4)} |")
for p in ["1", "4096"]:
    one, many = ns("shm_lock_unlock", "core", f"{p}p x1"), ns("shm_lock_unlock", "core", f"{p}p x1000")
    print(f"| {p}-page SHM_LOCK+SHM_UNLOCK with 1000 attachers ≤ 2× with one | {ratio(many, one)} | {verdict(None if one is None or many is None else many <= 2 * one)} |")
worst = None
for p in ["1", "16", "256", "4096"]:
    c8, n8 = ns("shm_lock_unlock", "core", f"{p}p x8"), ns("shm_lock_unlock", "native", f"{p}p x8")
    if c8 is not None and n8:
        worst = max(worst or 0, c8 / n8)
print(f"| SHM_LOCK+SHM_UNLOCK with 8 attachers no slower than the kernel at any size | worst {'–' if worst is None else f'{worst:.3g}×'} | {verdict(None if worst is None else worst <= 1)} |")
rw = ns("mlock_of_shm_locked", "core", "4096")
first = ns("wire_nonresident", "core_from_swap")
print(f"| re-wiring an already-wired 4096-page range ≥ 100× cheaper than its first wiring | first wiring {fmt(first and first * 16)} (scaled from 256 pages) vs {fmt(rw)} | {verdict(None if rw is None or first is None else first * 16 >= 100 * rw)} |")
print(f"| demand page-in no slower than a SIGSEGV round trip (sequential, fault-ahead on) | {ratio(pi, sg)} | {verdict(None if pi is None or sg is None else pi <= sg)} |")
print(f"| demand page-in no slower than a SIGSEGV round trip (one page per fault) | {ratio(p1, sg)} | {verdict(None if p1 is None or sg is None else p1 <= sg)} |")
print(f"| sequential page-in with fault-ahead ≥ 3× faster per page than one fault per page | {ratio(p1, pi)} | {verdict(None if p1 is None or pi is None else p1 >= 3 * pi)} |")
for op in ["lookup", "clip_merge", "mlock_one_page"]:
    a, b = ns("map_ops", op, "10"), ns("map_ops", op, "100000")
    print(f"| map {op} at 100000 entries ≤ 2× at 10 | {ratio(b, a)} | {verdict(None if a is None or b is None else b <= 2 * a)} |")
