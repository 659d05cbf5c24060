#!/usr/bin/env bash
# Installs the package that scripts/build-deb.sh made (build/deb/) on this machine the way an
# operator would, checks the installation, then purges it and checks that nothing is left:
#   - apt pulls only packages of Debian's archive;
#   - `tinbaod --check /etc/tinbao/tinbao.yaml` passes on the installed config, the token is
#     private to the service's group, `man tinbaod` opens, `systemd-analyze verify` accepts the
#     unit, and the layout is `cmake --install`'s;
#   - `apt-get purge` leaves no file, folder or state of the package.
# Run as root on a Debian 12 machine where tinbao is not in use: it installs and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
deb=$(ls "$PWD"/build/deb/tinbao_*_*.deb)
fail() { echo "check-deb.sh: $*" >&2; exit 1; }

if dpkg-query -W -f '${Status}' tinbao 2>/dev/null | grep -q installed; then
  apt-get purge -y -q tinbao >/dev/null
fi

# What apt would install, and from where: every package but ours from a Debian archive.
plan=$(apt-get install -s -y "$deb")
others=$(grep '^Inst ' <<<"$plan" | grep -v '^Inst tinbao ' || true)
if grep -v ' Debian[-A-Za-z]*:' <<<"$others" | grep -q .; then
  grep -v ' Debian[-A-Za-z]*:' <<<"$others" >&2
  fail "apt would install the package(s) above from outside Debian"
fi
echo "check-deb.sh: apt pulls $(grep -c . <<<"$others" || true) Debian package(s)"
apt-get install -y -q "$deb" >/dev/null

# The layout (cmake/install.cmake) and the files the package made at installation.
for f in /usr/sbin/tinbaod /usr/bin/tinbaoctl /etc/tinbao/tinbao.yaml \
  /usr/share/tinbao/templates/received.yaml /usr/share/tinbao/templates/samples \
  /usr/share/tinbao/monitoring/alerts.yaml /usr/share/tinbao/monitoring/grafana-dashboard.json \
  /lib/systemd/system/tinbao.service /usr/lib/sysusers.d/tinbao.conf \
  /usr/lib/tmpfiles.d/tinbao.conf /usr/share/man/man8/tinbaod.8.gz \
  /usr/share/man/man1/tinbaoctl.1.gz /usr/share/man/man5/tinbao.yaml.5.gz \
  /usr/share/doc/tinbao/README.md /usr/share/doc/tinbao/docs/operating.md \
  /usr/share/doc/tinbao/copyright /etc/tinbao/local-token /var/lib/tinbao; do
  [[ -e $f ]] || fail "$f is missing after installation"
done
grep -qx /etc/tinbao/tinbao.yaml /var/lib/dpkg/info/tinbao.conffiles ||
  fail "/etc/tinbao/tinbao.yaml is not a conffile"
getent passwd tinbao >/dev/null || fail "no system user tinbao"
[[ $(stat -c '%a %U:%G' /etc/tinbao/local-token) == "640 root:tinbao" ]] ||
  fail "/etc/tinbao/local-token is $(stat -c '%a %U:%G' /etc/tinbao/local-token), not 640 root:tinbao"
[[ $(stat -c '%a %U:%G' /var/lib/tinbao) == "700 tinbao:tinbao" ]] ||
  fail "/var/lib/tinbao is $(stat -c '%a %U:%G' /var/lib/tinbao), not 700 tinbao:tinbao"

tinbaod --check /etc/tinbao/tinbao.yaml >/dev/null || {
  tinbaod --check /etc/tinbao/tinbao.yaml
  fail "tinbaod --check fails on the installed config"
}
# As the service runs it (ExecStartPre=): the user tinbao reads the config and the token.
setpriv --reuid=tinbao --regid=tinbao --init-groups tinbaod --config /etc/tinbao/tinbao.yaml \
  --check >/dev/null || fail "tinbaod --check fails as the user tinbao"
MANPAGER=cat man tinbaod 2>/dev/null | grep -q 'tinbaod --check' || fail "man tinbaod does not open"
MANPAGER=cat man 5 tinbao.yaml 2>/dev/null | grep -q 'local-token' ||
  fail "man 5 tinbao.yaml does not open"
systemd-analyze verify /lib/systemd/system/tinbao.service ||
  fail "systemd-analyze verify refuses the unit"
echo "check-deb.sh: installed; tinbaod --check passes; man tinbaod opens; the unit verifies"

apt-get purge -y -q tinbao >/dev/null
for f in /etc/tinbao /var/lib/tinbao /usr/share/tinbao /usr/share/doc/tinbao /usr/sbin/tinbaod \
  /usr/bin/tinbaoctl /lib/systemd/system/tinbao.service /usr/lib/sysusers.d/tinbao.conf \
  /usr/lib/tmpfiles.d/tinbao.conf /usr/share/man/man8/tinbaod.8.gz \
  /etc/systemd/system/multi-user.target.wants/tinbao.service; do
  [[ ! -e $f ]] || fail "$f is left after purge"
done
! dpkg-query -W tinbao >/dev/null 2>&1 || fail "dpkg still knows tinbao after purge"
echo "check-deb.sh: purged, nothing left (the system user tinbao stays, as Debian keeps system users)"
