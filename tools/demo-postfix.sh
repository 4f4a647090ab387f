#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo-postfix.sh: the demo's optional second command, msgtrk next to a real Postfix.
# Installs what it needs (tools/deps.sh demo, plus the postfix package, whose own
# instance is stopped again: the demo runs a private one), builds msgtrk with
# introspection in _build/demo (shared with tools/demo.sh), then runs
# tools/demo-postfix-helper.py: a private Postfix on 127.0.0.1 with msgtrk-submit-front,
# msgtrk-postfix-follower and mtqpd, one tracked message to a local mailbox and to next
# hops answering 250, 451 and 550, and per recipient Postfix's verdict as an MTQP answer
# through the real msgtrkd and `msgtrk show`. Needs root (Postfix's master runs as root;
# the msgtrk servers drop to nobody). Everything it started is stopped and its temporary
# directories removed, whatever happens. Options go to the helper: --verbose, --keep.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if [ "$(id -u)" -ne 0 ]; then
  echo "msgtrk: the Postfix demo runs a private Postfix instance, which needs root:" >&2
  echo "  sudo bash tools/demo-postfix.sh" >&2
  exit 1
fi
bash tools/deps.sh demo
if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
  echo "msgtrk: installing postfix (its own instance is stopped again)" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends postfix >/dev/null
  postfix stop >/dev/null 2>&1 || true
fi
if [ ! -f _build/demo/build.ninja ]; then
  meson setup _build/demo -Dintrospection=true >/dev/null
fi
meson compile -C _build/demo >/dev/null
exec /usr/bin/python3 tools/demo-postfix-helper.py --build-dir _build/demo "$@"
