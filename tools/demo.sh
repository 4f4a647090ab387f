#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh: the README's demo command. Installs what it needs, builds msgtrk in _build/demo,
# then runs the demo network (tools/demonet.py): msgtrk-relay + mtqpd hops on 127.0.0.1,
# one tracked message sent into it, tracked over MTQP across three hops, its route printed
# per recipient (delivered, failed, delayed, relayed), DSNs read back, everything cleaned up.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/deps.sh demo
if [ ! -f _build/demo/build.ninja ]; then
  meson setup _build/demo -Dintrospection=true >/dev/null
fi
meson compile -C _build/demo >/dev/null
exec /usr/bin/python3 tools/demonet.py --build-dir _build/demo "$@"
