#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test-debs-in-chroot.sh: the Debian packages, built from this tree, installed and used on a
# clean Debian 12.
#
# What: 1. tools/build-debs.sh --lintian (packages in $MSGTRK_BUILD_ROOT/tests/packaging/debs;
#   fails on lintian errors); 2. debootstrap --variant=minbase bookworm into a scratch root
#   from the mirror this machine's apt uses, with the same suites (updates, security);
#   3. installs the packages' Debian dependencies and the demo's (python3-gi, gnome-keyring,
#   dbus), records every path on the root's filesystem, then `apt install ./*.deb` (no
#   services start: policy-rc.d); 4. checks the installed files: `msgtrk --help`,
#   `msgtrk --version`, `mtqpd --version`, `msgtrk-relay --version`, the msgtrk system user,
#   /var/lib/msgtrk, the desktop entry (desktop-file-validate) and the metainfo (appstreamcli);
#   5. runs the README demo (tools/demo-helper.py: relay + mtqpd hops, msgtrkd with a
#   throw-away keyring, the msgtrk CLI) against the *installed* programs and typelib;
#   6. purges the packages and checks that every path they added is gone (the system user
#   stays, as Debian policy wants).
# How: meson test --suite packaging, with CI=true or MSGTRK_TEST_PACKAGING=1; as root.
#   MSGTRK_PACKAGING_CACHE=DIR keeps the debootstrap result as DIR/bookworm-minbase.tar and
#   reuses it (debootstrap itself takes about 25 s here).
# Limits: amd64 host, Debian 12; the scratch root is in $TMPDIR and removed at the end.
# Never: starts services in the root; touches the host's package state beyond installing
#   the packaging tools (tools/build-debs.sh).
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
if [ "${CI:-}" != true ] && [ "${MSGTRK_TEST_PACKAGING:-}" != 1 ]; then
  skip "set CI=true or MSGTRK_TEST_PACKAGING=1 to build and install the Debian packages"
fi
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot)"

src=${MSGTRK_SOURCE_ROOT:?}
out=${MSGTRK_BUILD_ROOT:?}/tests/packaging
debs=$out/debs
mkdir -p "$out"
t0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

# Host tools (debootstrap for the root; the rest comes with tools/build-debs.sh).
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

step "building the packages (tools/build-debs.sh --lintian)"
# Without the test environment of meson (the package build runs its own meson test).
env -u G_TEST_SRCDIR -u G_TEST_BUILDDIR -u MSGTRK_BUILD_ROOT -u MSGTRK_SOURCE_ROOT \
  -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS -u MALLOC_CHECK_ -u G_DEBUG \
  -u MESON_TEST_ITERATION MSGTRK_DEBS_DIR="$debs" bash "$src/tools/build-debs.sh" --lintian
mapfile -t pkgs < <(cd "$debs" && ls *.deb | grep -v -- '-dbgsym_')
names=()
for d in "${pkgs[@]}"; do names+=("${d%%_*}"); done
echo "packages: ${names[*]}"

# The mirror and suites of the host's apt (deb822 .sources or one-line sources.list).
mirror=$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
  /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | grep -E '^(URIs:|deb )' \
  | grep -v security | sed -E 's/^URIs: *//; s/^deb +(\[[^]]*\] +)?//; s/ .*//' | sed -n 1p)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
echo "mirror: $mirror"

work=$(mktemp -d "${TMPDIR:-/tmp}/msgtrk-chroot.XXXXXX")
root=$work/root
cleanup() {
  for m in "$root/dev/pts" "$root/dev/shm" "$root/proc" "$root/sys"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

cache=${MSGTRK_PACKAGING_CACHE:-}
if [ -n "$cache" ] && [ -f "$cache/bookworm-minbase.tar" ]; then
  step "unpacking the cached root ($cache/bookworm-minbase.tar)"
  mkdir -p "$root" && tar -C "$root" -xf "$cache/bookworm-minbase.tar"
else
  step "debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$out/debootstrap.log" 2>&1 \
    || { tail -n 30 "$out/debootstrap.log"; exit 1; }
  if [ -n "$cache" ]; then
    mkdir -p "$cache" && tar -C "$root" -cf "$cache/bookworm-minbase.tar.part" . \
      && mv "$cache/bookworm-minbase.tar.part" "$cache/bookworm-minbase.tar"
  fi
fi

mount -t proc proc "$root/proc"
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"
# The same suites as the host (the packages were built against bookworm-updates/-security).
rm -f "$root/etc/apt/sources.list"
for f in /etc/apt/sources.list /etc/apt/sources.list.d; do
  [ -e "$f" ] && cp -a "$f" "$root/etc/apt/"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
in_root() {
  chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
apt_in_root() { in_root apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }

mkdir -p "$root/tmp/debs"
cp "${pkgs[@]/#/$debs/}" "$root/tmp/debs/"
step "apt-get update; the packages' dependencies and the demo's"
apt_in_root update >/dev/null
# What apt would install with ours, minus ours: installed first, so that the purge check
# below sees only what our packages add.
mapfile -t deps < <(in_root apt-get install -s --no-install-recommends "${pkgs[@]/#//tmp/debs/}" \
  | awk '/^Inst /{print $2}' | grep -vxF -f <(printf '%s\n' "${names[@]}") || true)
apt_in_root install --no-install-recommends "${deps[@]}" python3-gi gnome-keyring dbus \
  desktop-file-utils appstream >"$out/apt-deps.log" 2>&1 || { tail -n 30 "$out/apt-deps.log"; exit 1; }

snapshot() {
  in_root find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
    -o -path /root -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
    -o -path /var/log -o -path /var/tmp \) -prune -o -print | sort
}
snapshot >"$out/before.txt"

step "apt install ./*.deb"
apt_in_root install --no-install-recommends "${pkgs[@]/#//tmp/debs/}" >"$out/apt-ours.log" 2>&1 \
  || { tail -n 30 "$out/apt-ours.log"; exit 1; }
# Only our packages were installed in that step (their dependencies were already there).
newly=$(grep -c '^Setting up ' "$out/apt-ours.log" || true)
[ "$newly" -eq "${#names[@]}" ] || { echo "FAIL: expected ${#names[@]} packages set up, saw $newly"; grep '^Setting up' "$out/apt-ours.log"; exit 1; }

step "checking the installed files"
in_root msgtrk --help >/dev/null
in_root msgtrk --version
in_root mtqpd --version
in_root msgtrk-relay --version
in_root getent passwd msgtrk >/dev/null || { echo "FAIL: no system user msgtrk"; exit 1; }
[ "$(in_root stat -c %U /var/lib/msgtrk)" = msgtrk ] || { echo "FAIL: /var/lib/msgtrk not owned by msgtrk"; exit 1; }
in_root desktop-file-validate /usr/share/applications/org.msgtrk.Viewer.desktop
in_root appstreamcli validate --no-net /usr/share/metainfo/org.msgtrk.Viewer.metainfo.xml >/dev/null
in_root test -f /usr/share/glib-2.0/schemas/gschemas.compiled
in_root test -f /usr/lib/x86_64-linux-gnu/claws-mail/plugins/msgtrk.so
in_root test -f /usr/share/doc/msgtrk-servers/examples/mtqpd.conf
# Each unit's Documentation=file:// link names an installed file.
for doc in $(in_root sh -c 'sed -n "s/^Documentation=//p" /lib/systemd/system/msgtrk*.service \
               /lib/systemd/system/mtqpd.service' | tr ' ' '\n' | sed -n 's|^file://||p'); do
  in_root test -f "$doc" || { echo "FAIL: a unit's Documentation= names $doc, not installed"; exit 1; }
done
in_root test -f /usr/share/doc/msgtrk-1.0/index.html
in_root test -f /usr/share/doc/msgtrk-1.0/class.Tracker.html
in_root test -f /usr/share/bash-completion/completions/msgtrk
in_root python3 -c 'import gi; gi.require_version("Msgtrk", "1.0"); from gi.repository import Msgtrk'

step "the demo from the installed files"
# demo-helper.py takes a build directory; this one holds links to the installed programs
# (its lib/ is empty: the typelib and the library come from the system paths).
demo=$root/opt/msgtrk-demo
mkdir -p "$demo/tools" "$demo/build/lib" "$demo/build/server/relay" "$demo/build/server/mtqpd" \
  "$demo/build/helper/msgtrkd" "$demo/build/helper/cli" "$demo/build/data"
cp "$src/tools/demo-helper.py" "$src/tools/demonet.py" "$src/tools/msgtrkd_session.py" "$demo/tools/"
ln -s /usr/sbin/msgtrk-relay "$demo/build/server/relay/msgtrk-relay"
ln -s /usr/sbin/mtqpd "$demo/build/server/mtqpd/mtqpd"
ln -s /usr/libexec/msgtrkd "$demo/build/helper/msgtrkd/msgtrkd"
ln -s /usr/bin/msgtrk "$demo/build/helper/cli/msgtrk"
ln -s /usr/share/glib-2.0/schemas "$demo/build/data/gsettings"
if ! in_root timeout 300 python3 /opt/msgtrk-demo/tools/demo-helper.py \
     --build-dir /opt/msgtrk-demo/build --no-gui >"$out/demo.log" 2>&1; then
  tail -n 60 "$out/demo.log"; echo "FAIL: the demo from the installed packages"; exit 1
fi
tail -n 25 "$out/demo.log"
rm -rf "$demo"

step "purge"
apt_in_root purge "${names[@]}" >"$out/apt-purge.log" 2>&1 || { tail -n 30 "$out/apt-purge.log"; exit 1; }
snapshot >"$out/after.txt"
if ! diff -u "$out/before.txt" "$out/after.txt" >"$out/purge.diff"; then
  cat "$out/purge.diff"; echo "FAIL: the purge left (+) or removed (-) paths"; exit 1
fi
in_root getent passwd msgtrk >/dev/null || { echo "FAIL: the purge removed the system user"; exit 1; }
step "OK: built, lintian clean of errors, installed, demo ran, purged clean"
