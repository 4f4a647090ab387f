#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh: the README's demo command. Installs what it needs, builds msgtrk in _build/demo,
# and runs the demo: a tracked envelope, then the reports that come back for it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/deps.sh demo
if [ ! -f _build/demo/build.ninja ]; then
  meson setup _build/demo -Dintrospection=false >/dev/null
fi
meson compile -C _build/demo >/dev/null
exec _build/demo/tools/msgtrk-demo
