#!/usr/bin/env python3
"""Where the bytes of a Redis AOF go, by command: reads the AOF files of a run kept with
`bench/run.py --keep` (Redis 7's appendonlydir: its incremental files, in the manifest's order)
and prints, per command, how many were written, their bytes (RESP framing included) and the
bytes per event. With --events N the per-event column divides by N (the run's accepted events);
--args also splits each command's bytes into its name, its key and the rest of its arguments.

Usage: bench/aof_by_command.py <run directory or appendonlydir> [--events N] [--args]
"""

import argparse
import os
import sys


def aof_files(where):
    d = where
    if os.path.isdir(os.path.join(where, "appendonlydir")):
        d = os.path.join(where, "appendonlydir")
    manifests = [f for f in os.listdir(d) if f.endswith(".manifest")]
    if not manifests:
        raise SystemExit("aof_by_command: no AOF manifest in " + d)
    files = []
    with open(os.path.join(d, manifests[0])) as f:
        for line in f:
            parts = line.split()
            kv = dict(zip(parts[0::2], parts[1::2]))
            # The base file (an RDB or AOF snapshot) is what a rewrite left, not this run's
            # appends: only the incremental files count.
            if kv.get("type") == "i":
                files.append(os.path.join(d, kv["file"]))
    return files


def commands(data):
    """Yields (name, key, total bytes, name bytes, key bytes) per RESP array in data."""
    i, n = 0, len(data)
    while i < n:
        start = i
        if data[i:i + 1] != b"*":
            raise SystemExit("aof_by_command: not a RESP array at byte %d" % i)
        eol = data.index(b"\r\n", i)
        count = int(data[i + 1:eol])
        i = eol + 2
        header = i - start
        args = []
        for _ in range(count):
            eol = data.index(b"\r\n", i)
            length = int(data[i + 1:eol])
            head = eol + 2 - i
            args.append((data[eol + 2:eol + 2 + length], head + length + 2))
            i = eol + 2 + length + 2
        name = args[0][0].decode(errors="replace").upper() if args else ""
        key = args[1][0] if len(args) > 1 else b""
        yield (name, key, i - start, header + (args[0][1] if args else 0),
               args[1][1] if len(args) > 1 else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("where")
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--args", action="store_true")
    a = ap.parse_args()
    stats = {}
    total = 0
    for path in aof_files(a.where):
        with open(path, "rb") as f:
            data = f.read()
        for name, key, size, name_bytes, key_bytes in commands(data):
            s = stats.setdefault(name, [0, 0, 0, 0])
            s[0] += 1
            s[1] += size
            s[2] += name_bytes
            s[3] += key_bytes
            total += size
    per = a.events or 1
    print("%-12s %10s %12s %10s%s" % ("command", "count", "bytes", "B/event",
                                       "   (name+framing, key, rest) B/event" if a.args else ""))
    for name, (count, size, nb, kb) in sorted(stats.items(), key=lambda x: -x[1][1]):
        extra = ("   (%d, %d, %d)" % (round(nb / per), round(kb / per),
                                       round((size - nb - kb) / per))) if a.args else ""
        print("%-12s %10d %12d %10.0f%s" % (name, count, size, size / per, extra))
    print("%-12s %10s %12d %10.0f" % ("total", "", total, total / per))


if __name__ == "__main__":
    sys.exit(main())
