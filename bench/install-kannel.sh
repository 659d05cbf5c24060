#!/usr/bin/env bash
# Installs Debian's Kannel (bearerbox, smsbox) for the side-by-side benchmark (bench/run.py --system kannel)
# and nothing else. The package's own service is not started: the benchmark runs its own
# bearerbox and smsbox on loopback ports with a configuration it writes, then stops them.
# Run as root. Safe to run again.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo "$0" "$@"; fi
  echo "bench/install-kannel.sh: run as root (apt-get needs it)" >&2
  exit 1
fi
if command -v bearerbox >/dev/null 2>&1 && command -v smsbox >/dev/null 2>&1; then
  echo "bench/install-kannel.sh: kannel already installed ($(dpkg-query -W -f '${Version}' kannel))"
  exit 0
fi
# Keep the package's init script from starting Debian's bearerbox during the installation
# (it would listen on 13000 and 13001 on every interface with the sample configuration).
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
trap '[[ $added_policy -eq 1 ]] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 kannel
echo "bench/install-kannel.sh: installed kannel $(dpkg-query -W -f '${Version}' kannel)"
