#!/usr/bin/env python3
"""Prints the ratio table (ours / reference, criterion medians) from the
last `cargo bench` run, as Markdown."""

import json
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
OURS = ["ours-fixed", "ours-owned", "ours-shared"]


def median_ns(group, impl, param):
    path = ROOT / group / impl / param / "new" / "estimates.json"
    if param == "":
        path = ROOT / group / impl / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"]


def show(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def params(group):
    ref = ROOT / group / "reference"
    found = [p.name for p in ref.iterdir() if p.is_dir() and p.name not in ("new", "base", "change", "report")]
    return sorted(found, key=lambda p: int(p)) if found else [""]


print("| case | N | reference | ours (fixed) | ratio | ours (owned / shared) | ratio |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for group in ["route_hit", "route_miss", "route_hit_mixed", "route_fallback", "write_verdict", "construct", "construct_array", "parse", "threads_verdict"]:
    if not (ROOT / group).exists():
        continue
    for p in params(group):
        ref = median_ns(group, "reference", p)
        fixed = median_ns(group, "ours-fixed", p)
        other = median_ns(group, "ours-owned", p) or median_ns(group, "ours-shared", p)
        ratio = lambda ours: f"{ours / ref:.3f}" if ours and ref else "–"
        print(f"| {group} | {p or '64'} | {show(ref)} | {show(fixed)} | {ratio(fixed)} | {show(other)} | {ratio(other)} |")

# Thread scaling: time per verdict at 1 thread over time at 2 threads.
t = "threads_verdict"
if (ROOT / t).exists():
    print()
    for impl in ["reference", "ours-shared"]:
        one, two = median_ns(t, impl, "1"), median_ns(t, impl, "2")
        if one and two:
            print(f"- {impl}: 2 threads give {one / two:.2f}x the verdict throughput of 1")
