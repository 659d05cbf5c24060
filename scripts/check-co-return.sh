#!/usr/bin/env bash
# Fails when `co_return co_await …` appears in the C++ sources. g++ 12 destroys the temporaries
# of that form too early (use after free under load); await into a named variable, then
# co_return it. Comments are skipped, so a comment may name the form to explain it.
# Usage: check-co-return.sh (from anywhere in the repository). Prints file:line of each use.
set -euo pipefail
cd "$(dirname "$0")/.."

dirs=()
for d in daemon providers common tests bench; do [[ -d $d ]] && dirs+=("$d"); done

find "${dirs[@]}" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.cc' \) \
    -print0 | sort -z | python3 -c '
import re, sys

# Comments become blanks (line breaks kept, so line numbers stay right); string and character
# literals are kept as they are, so a "//" inside one does not start a comment.
token = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'"'"'(?:\\.|[^'"'"'\\\n])*'"'"'",
                   re.S)
form = re.compile(r"\bco_return\s+co_await\b")

def strip(m):
    t = m.group(0)
    if t.startswith("/"):
        return re.sub(r"[^\n]", " ", t)
    return t

found = 0
for path in sys.stdin.buffer.read().split(b"\0"):
    if not path:
        continue
    name = path.decode()
    with open(name, encoding="utf-8", errors="replace") as f:
        code = token.sub(strip, f.read())
    for m in form.finditer(code):
        line = code.count("\n", 0, m.start()) + 1
        print(f"{name}:{line}: co_return co_await (await into a named variable first)")
        found += 1
if found:
    print(f"check-co-return.sh: {found} use(s) of co_return co_await", file=sys.stderr)
    sys.exit(1)
print("check-co-return.sh: no co_return co_await")
'
