#!/usr/bin/env bash
# Installs what tinbao needs, builds it with warnings as errors, and runs every test with ctest
# (unit tests, and the end-to-end test against a real redis-server and a fake eSMS on loopback),
# and runs the template fuzzer for a bounded time (a crash or sanitizer report fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh ci

# tests/fuzz is a project of its own: only the render module and the target, built with clang.
cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTINBAO_FUZZ=ON >/dev/null
cmake --build build/fuzz -j2
mkdir -p build/fuzz/corpus
build/fuzz/template_fuzz -max_total_time=60 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus tests/fuzz/corpus

# Last, so its summary closes the output.
ctest --preset ci --output-on-failure --timeout 300 -j2
