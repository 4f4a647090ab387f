#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo-pg.sh: the README's demo on the PostgreSQL store. What: the same demo as
# tools/demo.sh (same network, msgtrkd, CLI; same options), except that every msgtrk-relay
# and mtqpd keeps its tracking records in PostgreSQL 15 (backend=postgresql) instead of
# files. How: installs what it needs (tools/deps.sh demo-pg: PostgreSQL and libpq), builds
# in _build/demo (reconfigured once if it was set up before libpq was there), starts a
# private cluster (initdb + pg_ctl in a temporary directory, as nobody when run as root,
# unix socket only, trust authentication for role msgtrk), and runs tools/demo-helper.py
# with MSGTRK_DEMO_PG_DIR set: tools/demonet.py gives each hop its own database there.
# Limits: the cluster lives only for the demo (fsync off). Never: listens on TCP, touches
# the system's own cluster; the cluster and its directory are removed whatever happens.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PG_BIN=${MSGTRK_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CTL_TIMEOUT=60
build=${MSGTRK_DEMO_BUILD_DIR:-_build/demo}

bash tools/deps.sh demo-pg
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dintrospection=true >/dev/null
elif ! grep -q "libpq\.so" "$build/build.ninja"; then
  meson setup --reconfigure "$build" >/dev/null
fi
meson compile -C "$build" >/dev/null

pgdir=$(mktemp -d "${TMPDIR:-/tmp}/msgtrk-demo-pg-XXXXXX")
chmod 755 "$pgdir"
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    local cmd="" a
    for a in "$@"; do cmd+=" $(printf %q "$a")"; done
    su -s /bin/sh nobody -c "$cmd"
  else
    "$@"
  fi
}
cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$pgdir/data" -m immediate -w -t "$PG_CTL_TIMEOUT" stop \
    >/dev/null 2>&1 || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
[ "$(id -u)" -eq 0 ] && chown nobody: "$pgdir"
as_pg "$PG_BIN/initdb" -D "$pgdir/data" -A trust -U msgtrk --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w -t "$PG_CTL_TIMEOUT" \
  -o "-k $pgdir -c listen_addresses='' -c fsync=off" start >/dev/null
echo "== PostgreSQL 15 on the unix socket in $pgdir (every relay and mtqpd stores there)"
status=0
MSGTRK_DEMO_PG_DIR=$pgdir /usr/bin/python3 tools/demo-helper.py --build-dir "$build" "$@" \
  || status=$?
exit "$status"
