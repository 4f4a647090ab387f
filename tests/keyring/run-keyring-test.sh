#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# run-keyring-test.sh MODE PROGRAM [ARGS…]: run a keyring test on a private session bus.
#   live  a real gnome-keyring-daemon with an unlocked login collection
#         (recipe: /work/shared/TESTING-TIPS.md, "A real Secret Service keyring, headless")
#   dead  a bus with no Secret Service and no service files, so nothing can be activated
#   locked  gnome-keyring-daemon whose login collection has an item for locked@example.org
#         and is then locked; with no display it cannot be unlocked
#   nologin gnome-keyring-daemon started without --unlock: no login collection at all
# HOME, XDG_* point into a temporary directory that is removed afterwards. Exit 77 (skip)
# when dbus-run-session or gnome-keyring-daemon is missing.
set -eu
mode=$1; shift

if ! command -v dbus-run-session >/dev/null 2>&1; then
  echo "SKIP: dbus-run-session is not installed (package dbus)" >&2; exit 77
fi
if [ "$mode" != dead ] && ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
  echo "SKIP: gnome-keyring-daemon is not installed (package gnome-keyring)" >&2; exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/msgtrk-keyring-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
export HOME="$tmp/home"
export XDG_DATA_HOME="$HOME/.local/share" XDG_CONFIG_HOME="$HOME/.config"
export XDG_CACHE_HOME="$HOME/.cache" XDG_RUNTIME_DIR="$tmp/run"
mkdir -p "$HOME/.local/share/keyrings" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL || true
export MSGTRK_KEYRING_TEST="$mode"

case "$mode" in
  live)
    dbus-run-session -- sh -c '
      echo any-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
      exec "$@"' keyring-test "$@"
    ;;
  locked)
    command -v secret-tool >/dev/null 2>&1 || {
      echo "SKIP: secret-tool is not installed (package libsecret-tools)" >&2; exit 77; }
    dbus-run-session -- sh -c '
      echo any-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
      printf %s dGVzdA== | secret-tool store --label=locked envid locked@example.org
      secret-tool lock --collection=login
      exec "$@"' keyring-test "$@"
    ;;
  nologin)
    dbus-run-session -- sh -c '
      gnome-keyring-daemon --start --components=secrets </dev/null >/dev/null
      exec "$@"' keyring-test "$@"
    ;;
  dead)
    cat > "$tmp/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
    dbus-run-session --config-file="$tmp/bus.conf" -- "$@"
    ;;
  *)
    echo "usage: $0 live|dead|locked|nologin PROGRAM [ARGS…]" >&2; exit 2
    ;;
esac
