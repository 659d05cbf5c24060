#!/usr/bin/env bash
# Checks that the C++ lines changed since a base revision follow .clang-format (clang-format 14,
# from Debian). Usage: check-format.sh [BASE]
#
# What is checked: the lines of *.cpp/*.hpp/*.h/*.cc files that differ between BASE and the work
# tree (committed or not), through `git clang-format --diff`. Only changed lines, not whole
# files: much of the code predates the format file, and a one-line fix must not fail on the
# formatting of the lines around it. Reformatting a whole file is its own commit.
#
# BASE, when not given:
#   - the merge base with the branch's upstream (`@{upstream}`), when the branch has one and
#     HEAD has commits not yet on it: what a push would bring;
#   - otherwise HEAD~1: the last commit (a clean CI clone, where HEAD is the upstream, or a
#     branch with no upstream, like a local worktree branch);
#   - in a clone with a single commit (shallow, depth 1) there is nothing to compare with: the
#     check says so and passes (clone with --depth 2 or more to have it).
# Pass BASE explicitly to check a whole branch: `check-format.sh main`.
#
# On failure it prints the diff clang-format wants; `git clang-format BASE` applies it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "check-format.sh: not a git checkout, nothing to compare: skipped"
  exit 0
fi
first() { for c in "$@"; do command -v "$c" && return; done; return 1; }
if ! binary=$(first clang-format-14 clang-format) ||
   ! git_cf=$(first git-clang-format-14 git-clang-format); then
  echo "check-format.sh: clang-format 14 is needed (bash scripts/install-deps.sh)" >&2
  exit 2
fi

base=${1:-}
if [[ -z $base ]]; then
  if upstream=$(git rev-parse --verify -q '@{upstream}' 2>/dev/null) &&
     [[ -n $(git rev-list "$upstream..HEAD") ]]; then
    base=$(git merge-base "$upstream" HEAD)
  elif git rev-parse --verify -q 'HEAD~1' >/dev/null; then
    base=HEAD~1
  else
    echo "check-format.sh: HEAD has no parent here (a shallow clone?): nothing to compare, skipped"
    exit 0
  fi
fi

extensions=cpp,hpp,h,cc
out=$("$git_cf" --binary "$binary" --extensions "$extensions" --diff "$base" -- 2>&1) || true
case $out in
  "" | "no modified files to format" | "clang-format did not modify any files")
    echo "check-format.sh: changed C++ lines since $(git rev-parse --short "$base" 2>/dev/null || echo "$base") are formatted"
    ;;
  *)
    printf '%s\n' "$out"
    echo "check-format.sh: the lines above need formatting (git clang-format $base)" >&2
    exit 1
    ;;
esac
