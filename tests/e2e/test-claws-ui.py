#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-ui.py: what the plugin offers shows its state (issue 8, item 21, plugin side).

What: (1) the compose window has a visible "✉ Track delivery" check button under the text,
bound to Options ▸ Track this message: ticking the button alone (a mouse click, the menu
untouched) sends the message tracked (ENVID at the relay's tracking record); (2) with
nothing tracked in the Queue folder, Message ▸ Send queued tracked messages is greyed out
(keyboard navigation skips it: Up from the opened menu reaches Track a link…, whose dialog
opens); (3) on a message sent untracked, Track… and Copy tracking link are greyed out
(the plugin's debug line for the opened menu, G_MESSAGES_DEBUG=msgtrk-claws).
Screenshots in .ci/artifacts/e2e. Skips (77) like the other e2e tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

TRACKED = "Tracked by the button"
UNTRACKED = "Not tracked at all"


def click_track_button(run, compose):
    """The check button sits at the right end of the compose window's bottom bar."""
    geo = run.xdo("getwindowgeometry", "--shell", compose)
    size = dict(ln.split("=") for ln in geo.splitlines() if "=" in ln)
    x, y = int(size["WIDTH"]) - 70, int(size["HEIGHT"]) - 12
    run.focus(compose)
    run.xdo("mousemove", "--window", compose, str(x), str(y))
    run.xdo("click", "1")
    time.sleep(0.5)


def scenario(run):
    run.start_session()
    run.start_claws(extra_env={"G_MESSAGES_DEBUG": "msgtrk-claws"})

    # (1) the compose window's own Track button
    compose = run.compose(TRACKED, ("Hello Alice,", "ticked with the button."), track=False)
    click_track_button(run, compose)
    run.shot("ui-compose-track-button.png")
    run.send(compose)
    run.wait_closed(compose)
    m = run.wait_delivered(TRACKED)
    if "Envid: " + m["envid"] not in "".join(run.tracking_records()):
        raise AssertionError("the message ticked with the button was not sent tracked")
    h.log("the compose window's Track button sends tracked")

    # (2) nothing queued: Send queued tracked messages is greyed out
    run.keys(run.main_win, "alt+m")
    time.sleep(0.5)
    run.keys(run.main_win, "Up")
    run.shot("ui-menu-nothing-queued.png")
    run.keys(run.main_win, "Return")
    dlg = run.window("Track a link")
    run.keys(dlg, "Escape")
    h.wait_for("the dialog to close", lambda: not run.windows("Track a link"))
    h.log("Send queued tracked messages is greyed out with nothing queued")

    # (3) an untracked message: Track… and Copy tracking link greyed out
    compose = run.compose(UNTRACKED, ("Hello Alice,", "no tracking here."), track=False)
    run.send(compose)
    run.wait_closed(compose)
    h.wait_for("the untracked message in Sent", lambda: run.folder_has("sent", UNTRACKED))
    run.open_folder("sent")
    time.sleep(2.0)                 # the plugin has asked msgtrkd about the folder
    seen = []
    for key in ("Home", "End"):     # the two rows, whatever their order
        run.keys(run.main_win, key)
        time.sleep(0.5)
        before = run.claws_log().count("menu: Track")
        run.keys(run.main_win, "alt+m")
        time.sleep(0.5)
        run.shot("ui-menu-%s.png" % key.lower())
        run.keys(run.main_win, "Escape")
        h.wait_for("the plugin to set its menu items",
                   lambda: run.claws_log().count("menu: Track") > before, 10)
        seen.append([ln for ln in run.claws_log().splitlines() if "menu: Track" in ln][-1])
    offs = [ln for ln in seen if "menu: Track off" in ln]
    if len(offs) != 1:
        raise AssertionError("Track… on the untracked and the tracked row: %r" % seen)
    h.log("Track… greyed out on the untracked message only")
    return "compose Track button, Send queued tracked and Track… sensitivity by state"


if __name__ == "__main__":
    sys.exit(h.main("ui", scenario))
