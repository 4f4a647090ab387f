#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# deps.sh [demo|demo-pg|test]: install the Debian 12 packages msgtrk needs to build and run
# the demo ("demo"), the demo on PostgreSQL ("demo-pg") or the whole test suite ("test"). Idempotent: apt runs only when something
# is missing. Needs root (or sudo) when it has to install.
set -euo pipefail

build_pkgs=(
  meson ninja-build pkg-config gcc libc6-dev
  libglib2.0-dev libgmime-3.0-dev libssl-dev openssl
  gobject-introspection libgirepository1.0-dev
  python3 python3-gi
  libsqlite3-dev libsecret-1-dev libjson-glib-dev libgtk-4-dev
  libmaxminddb-dev libcurl4-openssl-dev
  dbus dbus-x11
)
# The demo runs msgtrkd with a throw-away Secret Service keyring (tools/demo-helper.py).
demo_pkgs=(
  gnome-keyring
)
test_pkgs=(
  clang libclang-rt-14-dev llvm
  iproute2 dnsmasq-base procps psmisc strace
  gnome-keyring libsecret-tools sqlite3
  xvfb xauth imagemagick xdotool xclip gdb
  claws-mail libclaws-mail-dev libgtk-3-dev
  evolution evolution-dev evolution-data-server-dev libcamel1.2-dev libebook1.2-dev
  postfix dovecot-core
  postgresql libpq-dev
  desktop-file-utils appstream gi-docgen
)

want=("${build_pkgs[@]}" "${demo_pkgs[@]}")
if [ "${1:-demo}" = test ]; then
  want+=("${test_pkgs[@]}")
fi
if [ "${1:-demo}" = demo-pg ]; then
  want+=(postgresql libpq-dev)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "msgtrk: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "msgtrk: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# postfix: no configuration questions; tests/postfix runs its own private instance, so the
# system one must not be left running (the package's postinst may start it).
want_postfix=0
want_dovecot=0
for p in "${missing[@]}"; do
  [ "$p" = postfix ] && want_postfix=1
  [ "$p" = dovecot-core ] && want_dovecot=1
done
if [ $want_postfix = 1 ]; then
  echo "postfix postfix/main_mailer_type select Local only" | $sudo debconf-set-selections
fi
$sudo apt-get update -q >/dev/null
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
if [ $want_postfix = 1 ]; then
  $sudo postfix stop >/dev/null 2>&1 || true
fi
# dovecot-core: tests/postfix runs a private auth service (dovecot -c <test config>); the
# package's own instance (started by its postinst where services may start) must not run.
if [ $want_dovecot = 1 ]; then
  $sudo dovecot stop >/dev/null 2>&1 || true
fi
