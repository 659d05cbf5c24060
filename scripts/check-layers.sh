#!/usr/bin/env bash
# Checks that #include runs one way between the parts of tinbao: a file may include its own
# part and any part on a lower level, never a part on its own level or above. Prints each
# offending file:line. Usage: check-layers.sh [--warn]   (--warn: print, but exit 0)
#
# The levels, lowest first (a part is a folder; "app" is daemon/*.cpp|hpp at the top level:
# main, app, check, tinbaoctl, logging):
#
#   0  common     time, encodings, redact: used by everything, includes nothing of tinbao
#   1  providers  the adapter contract and the adapters: common only, never daemon/
#   2  model      the event and record types and their rules
#   2  io         the event-loop clients (Redis, curl): they implement the providers' HTTP and
#                 mail client interfaces, and need nothing of the daemon's own types
#   3  render     templates, SMS text, phone numbers, Unicode
#   4  config     the config loader; it includes render because it checks the registered SMS
#                 wording and the texts' Unicode when loading
#   5  queue      the queue interface and its Redis and SQLite backends (uses config and io)
#   6  pipeline   planning, attempts, retries, the processor
#   7  http       the API and the server
#   8  app        the composition root and the binaries
#
# Parts on the same level do not include each other (model and io are independent). Test and
# benchmark code (tests/, bench/) may include anything and is not checked.
set -euo pipefail
cd "$(dirname "$0")/.."

warn=0
[[ ${1:-} == --warn ]] && warn=1

dirs=()
for d in common providers daemon; do [[ -d $d ]] && dirs+=("$d"); done

find "${dirs[@]}" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \
    -o -name '*.ipp' \) -print0 | sort -z | WARN=$warn python3 -c '
import os, re, sys

LEVELS = {"common": 0, "providers": 1, "model": 2, "io": 2, "render": 3, "config": 4,
          "queue": 5, "pipeline": 6, "http": 7, "app": 8}

def part(path):
    """The part a repository path belongs to, or None when it is not tinbao code."""
    p = path.split("/")
    if p[0] in ("common", "providers"):
        return p[0]
    if p[0] == "daemon":
        if len(p) == 2:
            return "app"
        return p[1] if p[1] in LEVELS else "daemon/" + p[1]
    return None

include = re.compile(r"^\s*#\s*include\s*\"([^\"]+)\"")
bad = 0
unknown = set()
for raw in sys.stdin.buffer.read().split(b"\0"):
    if not raw:
        continue
    name = raw.decode()
    src = part(name)
    if src not in LEVELS:
        unknown.add(src)
        continue
    with open(name, encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            m = include.match(line)
            if not m:
                continue
            target = m.group(1)
            local = os.path.normpath(os.path.join(os.path.dirname(name), target))
            if os.path.exists(local) and not os.path.exists(target):
                target = local  # a path relative to the including file
            dst = part(target)
            if dst is None or dst == src:
                continue
            if dst not in LEVELS:
                unknown.add(dst)
                continue
            if LEVELS[dst] >= LEVELS[src]:
                where = "above" if LEVELS[dst] > LEVELS[src] else "beside"
                print(f"{name}:{no}: {src} includes \"{m.group(1)}\" ({dst}, {where} it)")
                bad += 1
for u in sorted(unknown):
    print(f"check-layers.sh: {u}/ has no level: add it to the list in scripts/check-layers.sh")
    bad += 1
if bad:
    print(f"check-layers.sh: {bad} include(s) against the layering", file=sys.stderr)
    sys.exit(0 if os.environ.get("WARN") == "1" else 1)
print("check-layers.sh: the includes run one way")
'
