#!/usr/bin/env bash
# Installs every Debian 12 package tinbao needs to build, run and test. One list, here only.
# Run as root (or with sudo). Safe to run again: apt-get skips what is already installed.
# `--bench` adds what bench/ compares tinbao with: Kannel (bench/smpp.py, bench/README.md).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git ca-certificates
  # libraries (Boost 1.81, not the default 1.74)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcurl4-openssl-dev libssl-dev libhiredis-dev libspdlog-dev libfmt-dev
  libyaml-cpp-dev libutf8proc-dev libsqlite3-dev libsystemd-dev
  # tinbaod's allocator (many small allocations from many coroutines; see bench/README.md)
  libjemalloc-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # the libFuzzer target (tests/fuzz): clang with its fuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # scripts/check-format.sh: clang-format 14 and git-clang-format
  clang-format
  redis-server redis-tools curl python3 python3-aiosmtpd
  # the throwaway certificates of the SMPP over TLS test (tests/integration/test_smpp_sessions.py)
  openssl
  # the Sentinel failover test (tests/integration/test_sentinel.py); the package is a link to
  # redis-server (the test runs `redis-server --sentinel` without it) and enables a sentinel
  # service on port 26379, which the test does not use
  redis-sentinel
  # the Debian package (scripts/build-deb.sh) and its man pages; promtool for the alert rules
  debhelper lintian go-md2man man-db prometheus
  # the client examples of docs/clients/, run by tests/integration/test_clients.py
  php-cli openjdk-17-jdk-headless mono-mcs
)
# docs/openapi.yaml's validator (tests/openapi, npm) and the fake SMSC of the SMPP tests
# (tests/fakes/smsc, npm): Node.js 18 or later with npm; a machine that has them already
# (another build of Node.js) keeps its own.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
for arg in "$@"; do
  case $arg in
    # bench/smpp.py: Kannel's bearerbox and smsbox (Debian's kannel), against the fake SMSC
    # bench/README.md's profiles of tinbaod: perf (Debian's linux-perf), its sampling profiler
    --bench) PACKAGES+=(kannel linux-perf) ;;
    *) echo "install-deps.sh: unknown argument $arg (only --bench)" >&2; exit 2 ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "install-deps.sh: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps.sh: installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" kannel "* ]] && [[ -d /run/systemd/system ]]; then
    # bench/smpp.py starts its own bearerbox on loopback ports: the packaged service is not wanted.
    systemctl disable --now kannel >/dev/null 2>&1 || true
  fi
fi

# npm packages, exactly as each folder's package-lock.json pins them.
root=$(cd "$(dirname "$0")/.." && pwd)
for dir in tests/openapi tests/fakes/smsc; do
  (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "install-deps.sh: npm packages of $dir installed"
done
