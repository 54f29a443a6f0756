#!/usr/bin/env python3
"""Flash of a firmware's code, by the source file of the crate it came from.

    python3 scripts/flash_by_source.py ELF [--lines FILE] [--top N]
    python3 scripts/flash_by_source.py --areas ELF

LTO inlines the crate's functions into their callers, so a symbol's size
says little about whose code it is. This reads the ELF's line table
(llvm-dwarfdump or objdump, whichever is installed) and, for every range
of code, its chain of inlined calls (addr2line -i). A range is the
crate's when any frame of the chain is in the crate's src/ (the innermost
such frame names the file: `core` or `heapless` code inlined into the
driver counts as the driver's); otherwise it goes to the outermost
frame's owner: the program itself (`device/`), the Rust library
(`core`, `compiler_builtins`), or another crate. Prints one line per
file of the crate and per other owner; with --lines, the crate's bytes
per source line of FILE (a path ending, e.g. src/driver.rs), the largest
first, --top N of them (default 25). With --areas, one line: the crate's
bytes in each of AREAS, in that order (the footprint table's columns).

Code only: `.rodata` is left out (the footprint table counts it in the
whole firmware), so the sum is the `.text` size less padding and the
code the line table does not cover."""

import collections
import pathlib
import re
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
CRATE_SRC = str(REPO / "src") + "/"
# The writer stack's parts, by the crate's files (a path prefix under
# src/); a file in none of them is "other".
AREAS = [
    ("table", ("src/table/", "src/bytes.rs", "src/lib.rs")),
    ("config", ("src/config/",)),
    ("reply", ("src/wire/reply.rs",)),
    ("node", ("src/moves/node.rs", "src/moves/records.rs", "src/moves/messages.rs",
              "src/moves/shared.rs", "src/moves/records_buf.rs", "src/moves/mod.rs")),
    ("image", ("src/moves/image.rs",)),
    ("driver", ("src/driver.rs",)),
    ("wire", ("src/wire/peer.rs", "src/wire/mod.rs")),
]


def fail(message):
    sys.exit(f"flash_by_source.py: {message}")


def line_rows(elf):
    """(address, end of sequence) rows of the line table, sorted."""
    rows = []
    if shutil.which("llvm-dwarfdump"):
        out = run(["llvm-dwarfdump", "--debug-line", elf])
        for line in out.splitlines():
            m = re.match(r"0x([0-9a-f]{16})\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s*(.*)", line)
            if m:
                rows.append((int(m.group(1), 16), "end_sequence" in m.group(2)))
    elif shutil.which("objdump"):
        out = run(["objdump", "--dwarf=decodedline", elf])
        for line in out.splitlines():
            # An end of sequence has "-" for its line number.
            parts = line.split()
            if len(parts) >= 3 and parts[2].startswith("0x"):
                rows.append((int(parts[2], 16), parts[1] == "-"))
    else:
        fail("needs llvm-dwarfdump or objdump")
    if not rows:
        fail(f"{elf} has no line table (build it with debug info)")
    return rows


def run(argv, stdin=None):
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"{argv[0]}: {e}")


def text_ranges(elf):
    """(start, end) of the ELF's executable sections."""
    out = run(["readelf", "-SW", elf])
    ranges = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)"
                     r"\s+\S+\s+(\S*)", line)
        if m and "X" in m.group(4):
            start, size = int(m.group(2), 16), int(m.group(3), 16)
            ranges.append((start, start + size))
    return ranges


def owner(frames):
    """Where a range's bytes go: ('crate', file) or ('other', owner)."""
    for _, path, _ in frames:
        if path.startswith(CRATE_SRC):
            return ("crate", path[len(str(REPO)) + 1:])
    path = frames[-1][1] if frames else "?"
    if "/device" in path and str(REPO) in path:
        return ("other", "the program (" + path[len(str(REPO)) + 1:].split("/src/")[0] + ")")
    m = re.search(r"/(library|lib)/([\w-]+)/", path) or re.search(r"registry/src/[^/]+/([\w-]+)-[\d.]+/", path)
    if m:
        return ("other", m.group(m.lastindex))
    return ("other", "unknown" if path in ("??", "?", "") else path)


def main():
    args = sys.argv[1:]
    areas = "--areas" in args
    if areas:
        args.remove("--areas")
    if not args:
        fail("usage: flash_by_source.py [--areas] ELF [--lines FILE] [--top N]")
    elf, lines_of, top = args[0], None, 25
    if "--lines" in args:
        lines_of = args[args.index("--lines") + 1]
    if "--top" in args:
        top = int(args[args.index("--top") + 1])
    texts = text_ranges(elf)
    # An end of sequence before a start at the same address.
    rows = sorted(set(line_rows(elf)), key=lambda r: (r[0], not r[1]))
    spans = []
    for (start, end_seq), (nxt, _) in zip(rows, rows[1:]):
        if end_seq or nxt <= start:
            continue
        if any(lo <= start < hi for lo, hi in texts):
            spans.append((start, nxt))
    starts = [s for s, _ in spans]
    stacks = inline_chains(elf, starts)
    by_owner = collections.Counter()
    by_line = collections.Counter()
    for (start, end) in spans:
        frames = stacks.get(start, [])
        kind, name = owner(frames)
        by_owner[(kind, name)] += end - start
        if lines_of and kind == "crate":
            for function, path, line in frames:
                if path.startswith(CRATE_SRC):
                    if path.endswith(lines_of):
                        by_line[f"{lines_of}:{line} {short(function)}"] += end - start
                    break
    crate = sorted(((n, b) for (k, n), b in by_owner.items() if k == "crate"), key=lambda x: -x[1])
    if areas:
        sums = collections.Counter()
        for name, size in crate:
            area = next((a for a, prefixes in AREAS if name.startswith(prefixes)), "other")
            sums[area] += size
        print(" ".join(str(sums[a]) for a, _ in AREAS + [("other", ())]))
        return
    other = sorted(((n, b) for (k, n), b in by_owner.items() if k == "other"), key=lambda x: -x[1])
    print(f"{'bytes':>7}  the crate's code, by file")
    for name, size in crate:
        print(f"{size:7d}  {name}")
    print(f"{sum(b for _, b in crate):7d}  the crate in all")
    print(f"{'bytes':>7}  the rest")
    for name, size in other:
        print(f"{size:7d}  {name}")
    if lines_of:
        print(f"{'bytes':>7}  the largest lines of {lines_of}")
        for name, size in by_line.most_common(top):
            print(f"{size:7d}  {name}")


def short(function):
    return re.sub(r"<[^<>]*>", "", function)


def inline_chains(elf, addresses):
    """address -> [(function, file, line)], innermost first; one addr2line
    run, with -a so each address's chain is delimited."""
    tool = "addr2line" if shutil.which("addr2line") else "llvm-addr2line"
    if not shutil.which(tool):
        fail("needs addr2line (binutils) or llvm-addr2line")
    stdin = "".join(f"0x{a:x}\n" for a in addresses)
    out = run([tool, "-e", elf, "-a", "-i", "-f", "-C"], stdin).splitlines()
    result, current, i = {}, None, 0
    while i < len(out):
        line = out[i]
        if re.fullmatch(r"0x[0-9a-f]+", line):
            current = int(line, 16)
            result[current] = []
            i += 1
            continue
        if current is None or i + 1 >= len(out):
            break
        path, _, lineno = out[i + 1].rpartition(":")
        result[current].append((line, path, lineno.split()[0] if lineno else "?"))
        i += 2
    return result


if __name__ == "__main__":
    main()
