#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# build-debs.sh: builds the Debian packages of msgtrk from this tree.
#
# What: installs Debian's packaging tools (devscripts, debhelper, lintian) and the build
#   dependencies of debian/control, copies the tree (without _build and .git, with any
#   uncommitted changes) to a scratch directory, runs `dpkg-buildpackage -us -uc -b` there
#   and puts the .deb files (and the .buildinfo/.changes) in _build/debs/.
# How: `bash tools/build-debs.sh [--nocheck] [--lintian]`. --nocheck skips the build-time
#   tests (DEB_BUILD_OPTIONS=nocheck); --lintian runs lintian on the result and fails on
#   errors. MSGTRK_DEBS_DIR overrides the output directory.
# Limits: Debian 12 (or later) only; needs root or sudo to install missing packages.
# Never: touches the source tree other than _build/debs; signs anything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${MSGTRK_DEBS_DIR:-$root/_build/debs}
nocheck=0
run_lintian=0
for a in "$@"; do
  case "$a" in
    --nocheck) nocheck=1 ;;
    --lintian) run_lintian=1 ;;
    *) echo "usage: $0 [--nocheck] [--lintian]" >&2; exit 2 ;;
  esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "build-debs: need root or sudo to install packages" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
tools=(devscripts debhelper lintian equivs fakeroot build-essential)
missing=()
for p in "${tools[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-debs: installing ${missing[*]}" >&2
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Build dependencies (mk-build-deps makes and installs a msgtrk-build-deps metapackage).
if ! dpkg-checkbuilddeps "$root/debian/control" >/dev/null 2>&1; then
  echo "build-debs: installing the build dependencies" >&2
  scratch_deps=$(mktemp -d)
  (cd "$scratch_deps" && $sudo mk-build-deps --install --remove \
     --tool 'apt-get -y -q --no-install-recommends' "$root/debian/control" >/dev/null)
  rm -rf "$scratch_deps"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/msgtrk-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/msgtrk"
tar -C "$root" --exclude=./_build --exclude=./.git --exclude='./*.deb' -cf - . \
  | tar -C "$work/msgtrk" -xf -
opts="${DEB_BUILD_OPTIONS:-}"
[ $nocheck = 1 ] && opts="$opts nocheck"
echo "build-debs: dpkg-buildpackage in $work/msgtrk (log: $out/build.log)" >&2
mkdir -p "$out"
rm -f "$out"/*.deb "$out"/*.buildinfo "$out"/*.changes
if ! (cd "$work/msgtrk" && DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b) \
     >"$out/build.log" 2>&1; then
  tail -n 60 "$out/build.log" >&2
  echo "build-debs: dpkg-buildpackage failed; full log in $out/build.log" >&2
  exit 1
fi
cp "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
# dpkg-gensymbols' view of the library as built: to refresh debian/libmsgtrk-1.0-0.symbols
# when the API grows, copy this file there (new symbols are tagged with this version).
(cd "$work/msgtrk" && dpkg-gensymbols -plibmsgtrk-1.0-0 -Pdebian/libmsgtrk-1.0-0 \
   -O"$out/libmsgtrk-1.0-0.symbols.built" -q) || true
grep -q '^\* Build-Depends-Package:' "$out/libmsgtrk-1.0-0.symbols.built" 2>/dev/null \
  || sed -i '1a * Build-Depends-Package: libmsgtrk-1.0-dev' "$out/libmsgtrk-1.0-0.symbols.built" 2>/dev/null \
  || true
ls -1 "$out"/*.deb
if [ $run_lintian = 1 ]; then
  lintian --fail-on error --tag-display-limit 0 "$out"/*.changes | tee "$out/lintian.txt"
fi
