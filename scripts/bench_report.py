#!/usr/bin/env python3
"""The ratio table (ours / reference, criterion medians) of the last
`cargo bench` run, as Markdown: printed, and written into BENCHMARKS.md
between its two marker lines with the date of the run, the compiler and
the machine.

    python3 scripts/bench_report.py [CRITERION_DIR [BENCHMARKS_MD]]

CRITERION_DIR defaults to target/criterion (from the current directory);
BENCHMARKS_MD to BENCHMARKS.md at the repository root (the parent of this
script's directory). Re-running replaces the block; without both markers,
in order and once each, the file is left alone and the script fails."""

import datetime
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
DOC = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "BENCHMARKS.md"
BEGIN = "<!-- written by scripts/bench_report.py: do not edit by hand -->"
END = "<!-- end of written block -->"
GROUPS = ["route_hit", "route_miss", "route_hit_mixed", "route_fallback", "write_verdict",
          "construct", "construct_array", "parse", "threads_verdict"]

# The estimates read, for the date of the run.
read = []


def fail(message):
    sys.exit(f"bench_report.py: {message}")


def median_ns(group, impl, param):
    path = ROOT / group / impl / param / "new" / "estimates.json"
    if param == "":
        path = ROOT / group / impl / "new" / "estimates.json"
    if not path.exists():
        return None
    read.append(path)
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
    if not ref.is_dir():
        return []
    found = [p.name for p in ref.iterdir() if p.is_dir() and p.name not in ("new", "base", "change", "report")]
    return sorted(found, key=lambda p: int(p)) if found else [""]


def table():
    lines = ["| case | N | reference | ours (fixed) | ratio | ours (owned / shared) | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for group in GROUPS:
        for p in params(group):
            ref = median_ns(group, "reference", p)
            fixed = median_ns(group, "ours-fixed", p)
            other = median_ns(group, "ours-owned", p) or median_ns(group, "ours-shared", p)
            ratio = lambda ours: f"{ours / ref:.3f}" if ours and ref else "–"
            lines.append(f"| {group} | {p or '64'} | {show(ref)} | {show(fixed)} | {ratio(fixed)} "
                         f"| {show(other)} | {ratio(other)} |")
    if len(lines) == 2:
        fail(f"no criterion results under {ROOT}: run `cargo bench --all-features --benches` first")
    # Thread scaling: time per verdict at 1 thread over time at 2 threads.
    t = "threads_verdict"
    scaling = []
    for impl in ["reference", "ours-shared"]:
        one, two = median_ns(t, impl, "1"), median_ns(t, impl, "2")
        if one and two:
            scaling.append(f"- {impl}: 2 threads give {one / two:.2f}x the verdict throughput of 1")
    return lines + ([""] + scaling if scaling else [])


def command(*args):
    """The output of a command run at the repository root, None if it fails."""
    try:
        return subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def header():
    newest = max(path.stat().st_mtime for path in read)
    date = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc).strftime("%Y-%m-%d")
    cores = command("nproc") or str(os.cpu_count())
    rustc = command("rustc", "--version") or "rustc: unknown version"
    return [f"Run of {date} (UTC), `{rustc}`, on {cores} cores, {cpu_model()}."]


def write(block):
    try:
        text = DOC.read_text()
    except OSError as e:
        fail(f"cannot read {DOC}: {e.strerror}")
    lines = text.split("\n")
    begins = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        fail(f"{DOC} needs the marker lines\n  {BEGIN}\n  {END}\n"
             f"once each, in that order (found {len(begins)} and {len(ends)}); the file is unchanged")
    new = "\n".join(lines[:begins[0] + 1] + block + lines[ends[0]:])
    if new != text:
        tmp = DOC.with_name(DOC.name + ".tmp")
        tmp.write_text(new)
        os.replace(tmp, DOC)


rows = table()
print("\n".join(rows))
write(header() + [""] + rows)
print(f"\n(written into {DOC})")
