#!/usr/bin/env bash
# Installs what tinbao needs, builds it with warnings as errors, and runs every test with ctest
# (unit tests, and the end-to-end test against a real redis-server and a fake eSMS on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh ci
ctest --preset ci --output-on-failure --timeout 300 -j2
