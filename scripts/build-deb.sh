#!/usr/bin/env bash
# Builds the Debian package into build/deb/ and runs lintian on it (an error fails the build).
#   build-deb.sh              configure and build the package from scratch (dpkg-buildflags)
#   build-deb.sh BUILD_DIR    install the binaries of a finished build tree of this checkout
#                             instead (CI passes build/ci, so nothing is compiled a third time)
# The package is built in a copy of the checkout's files (build/deb/src), because dpkg-buildpackage
# writes its results to the parent folder of the source. Needs scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/deb

# The package version is the project's (CMakeLists.txt) and debian/changelog's: they must agree.
project=$(sed -n 's/^project(tinbao VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
changelog=$(dpkg-parsechangelog -l debian/changelog -S Version)
if [[ "$project" != "$changelog" ]]; then
  echo "build-deb.sh: CMakeLists.txt says $project, debian/changelog $changelog" >&2
  exit 1
fi

build_env=()
if [[ $# -ge 1 ]]; then
  tree=$(cd "$1" && pwd)
  # The tree must be of this checkout and up to date, or the package would hold other binaries.
  grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$root" "$tree/CMakeCache.txt" || {
    echo "build-deb.sh: $1 is not a build tree of $root" >&2
    exit 1
  }
  cmake --build "$tree" -j2 --target tinbaod tinbaoctl tinbao_man
  build_env=(TINBAO_BUILD_DIR="$tree")
fi

rm -rf "$out"
mkdir -p "$out/src"
# The checkout's files as they are (committed or not), without build trees.
git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' |
  tar -C "$root" --null -T - -cf - | tar -C "$out/src" -xf -
(cd "$out/src" && env "${build_env[@]}" dpkg-buildpackage -b -us -uc --no-sign >"$out/build.log" 2>&1) || {
  tail -n 40 "$out/build.log"
  echo "build-deb.sh: dpkg-buildpackage failed (log: $out/build.log)" >&2
  exit 1
}
deb=$(ls "$out"/tinbao_"$changelog"_*.deb)
echo "build-deb.sh: $deb"
dpkg-deb --info "$deb" | sed -n 's/^ \(Depends\|Installed-Size\):/  \1:/p'
# lintian: errors fail the build; warnings are shown.
lintian --fail-on error --display-level '>=warning' "$deb"
echo "build-deb.sh: lintian: no errors"
