#!/usr/bin/env bash
# Installs what tinbao needs, checks the sources (scripts/check-*.sh), builds tinbao with warnings
# as errors, and runs every test with ctest,
# in an ASan+UBSan build (unit tests, and the integration tests against a real redis-server,
# redis-sentinel, the SMTP server and the provider fakes on loopback), and the unit tests and the
# end-to-end pair again in the release build that is packaged,
# and runs every fuzz target for a bounded time (a crash or sanitizer report fails the run);
# builds the Debian package, checks it with lintian, installs it, checks and purges it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's start, in seconds since the script began: where CI time goes, read off its log.
phase() { echo "test.sh: [${SECONDS}s] $*"; }
phase "installing the packages"
bash scripts/install-deps.sh

# Guards on the sources, before anything is built: they are quick, and what they say is plain.
bash scripts/check-format.sh     # the C++ lines of the last commit(s) follow .clang-format
bash scripts/check-co-return.sh  # no `co_return co_await` (g++ 12 miscompiles it)
bash scripts/check-layers.sh     # includes run one way: common <- model <- ... <- app

phase "building ci"
bash scripts/build.sh ci

# The release build runs its unit tests and the end-to-end pair (Redis, SQLite); every
# integration test runs once, in the asan build below, where a memory error also fails it.
phase "testing ci"
ctest --preset ci --output-on-failure --timeout 300 -j2 -LE integration
ctest --preset ci --output-on-failure --timeout 300 -j2 -R '^integration[.]end_to_end(_sqlite)?$'

# The Debian package, made from the ci tree (nothing is compiled again) and checked by lintian,
# then installed, checked (tinbaod --check, man, systemd-analyze verify) and purged, once.
phase "the Debian package"
DEB_BUILD_OPTIONS=noautodbgsym bash scripts/build-deb.sh build/ci
bash scripts/check-deb.sh

# The asan preset: AddressSanitizer and UndefinedBehaviorSanitizer, and the libFuzzer targets.
phase "building asan"
bash scripts/build.sh asan

# The libFuzzer targets of tests/fuzz, built by the asan preset against its sanitized libraries
# (compiled once, with libFuzzer's coverage): the parsers that read outside bytes. Each target
# runs for a bounded time (the template engine 20 s, every other 10 s) from its seed corpus
# tests/fuzz/corpus/<name>/; a crash or sanitizer report fails. Two run at once (a target is one
# process on one core), and every one runs even after a failure.
phase "fuzzing"
fuzz=build/asan/tests/fuzz
fuzz_one() {
  local target=$1 name=${1%_fuzz} seconds=10
  [ "$name" = template ] && seconds=20
  mkdir -p "$fuzz/corpus/$name"
  local seeds=()
  [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
  # Progress lines go to $fuzz/<target>.log; the summary is shown, all of it on failure.
  if ! "$fuzz/$target" -max_total_time=$seconds -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$fuzz/$target-" -print_final_stats=1 \
      "$fuzz/corpus/$name" "${seeds[@]}" </dev/null >"$fuzz/$target.log" 2>&1; then
    cat "$fuzz/$target.log"
    echo "test.sh: $target found a crash (artifact in $fuzz/)" >&2
    return 1
  fi
  echo "$target: $(grep -E '^stat::number_of_executed_units' "$fuzz/$target.log" | awk '{print $2}') runs in ${seconds} s, no crash"
}
running=0
fuzz_failed=0
while read -r target; do
  if [ $running -ge 2 ]; then
    wait -n || fuzz_failed=1
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done <"$fuzz/fuzz-targets.txt"
while [ $running -gt 0 ]; do
  wait -n || fuzz_failed=1
  running=$((running - 1))
done
[ $fuzz_failed = 0 ] || exit 1

# The same suite with AddressSanitizer and UndefinedBehaviorSanitizer (the daemon under test in
# the integration tests is the sanitized one too). Last, so its summary closes the output.
phase "testing asan"
ctest --preset asan --output-on-failure --timeout 300 -j2
phase "done"
