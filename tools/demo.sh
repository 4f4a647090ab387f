#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh: the README's demo command. Installs what it needs (tools/deps.sh demo), builds
# msgtrk with introspection in _build/demo, then runs tools/demo-helper.py: the demo
# network (msgtrk-relay + mtqpd hops on 127.0.0.1), msgtrkd in a throw-away session (private
# D-Bus, unlocked throw-away gnome-keyring, temporary HOME), one message sent the way a mail
# client does it (Prepare → SMTP with ENVID and MTRK=B → Committed), tracked by msgtrkd, and
# shown with the real CLI: `msgtrk show` (alice delivered through 3 hops, bob failed, carol
# delayed, dave relayed, erin behind an opaque route), the DSNs fed through `msgtrk ingest`,
# `msgtrk show` again, and `msgtrk show --gui` when $DISPLAY is set. Everything it started
# is stopped and its temporary directories removed, whatever happens.
# Options are passed to demo-helper.py: --json, --no-gui, --verbose, --keep.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/deps.sh demo
if [ ! -f _build/demo/build.ninja ]; then
  meson setup _build/demo -Dintrospection=true >/dev/null
fi
meson compile -C _build/demo >/dev/null
exec /usr/bin/python3 tools/demo-helper.py --build-dir _build/demo "$@"
