#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-nodaemon.py: a tracked send from Claws Mail when msgtrkd is not there at all.

The session bus has no msgtrkd and no service file for it (no activation possible).
Composing with Track ticked and sending shows the plugin's dialog in its other wording
("The tracking helper (msgtrkd) could not be reached", screenshot) with Send untracked /
Keep in Queue. Keep in Queue: the message is in the Queue folder (MH file, marked), not at
the relay, not in Sent, and Claws's log says it was kept. Then msgtrkd starts and
Message ▸ Send queued tracked messages sends the kept message tracked: the relay's tracking
record has msgtrkd's ENVID, it is delivered, the queue is empty. Nothing lost, nothing
sent untracked. Set-up: claws_harness.py. Skips (77) like the other e2e tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked while msgtrkd is away"


def claws_log(run):
    try:
        with open(os.path.join(run.cfg, "claws.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def scenario(run):
    run.start_all(msgtrkd=False)
    if run.has_owner("org.msgtrk.Tracker1"):
        raise AssertionError("msgtrkd is on the bus: the scenario needs none")

    compose = run.compose(SUBJECT, ("Hello Alice,", "nobody tracks this yet."))
    run.send(compose)
    dlg = run.dialog()
    h.log("the plugin asks: Send untracked or Keep in Queue")
    run.shot("nodaemon-dialog.png")
    run.keys(dlg, "Return")   # the first, focused button: Keep in Queue
    h.wait_for("the dialog to close", lambda: dlg not in run.windows(h.DIALOG_TITLE))
    run.wait_closed(compose)
    queued = h.wait_for("the message in the Queue folder",
                        lambda: run.folder_has("queue", SUBJECT))
    if h.TRACK_MARK not in queued[0]:
        raise AssertionError("the kept message is not marked for a tracked send")
    h.wait_for("Claws's log to say the message was kept",
               lambda: "kept in the queue" in claws_log(run), 10)
    time.sleep(2.0)
    if run.delivered_to(h.RECIPIENT, SUBJECT) or run.tracking_records():
        raise AssertionError("Keep in Queue, yet the message reached the relay")
    if run.folder_has("sent", SUBJECT):
        raise AssertionError("Keep in Queue, yet the message is in Sent")
    h.log("kept in the Queue folder (marked), not at the relay")

    # msgtrkd comes (started by hand: there is still no activation), the kept message goes.
    run.start_msgtrkd(extra=["--idle-exit", "600"])
    time.sleep(1.0)
    run.message_menu("send-tracked")
    h.wait_for("a tracking record at the submission relay", run.tracking_records)
    m = run.wait_delivered(SUBJECT)
    if "Envid: " + m["envid"] not in "".join(run.tracking_records()):
        raise AssertionError("the relay's tracking record lacks msgtrkd's ENVID")
    run.wait_sent(SUBJECT)
    h.wait_for("a Delivered tag in Claws's tags", lambda: run.tag_known("Delivered"), 20)
    run.show_sent("nodaemon-sent-later-delivered.png")
    return "msgtrkd not running: kept in the queue, sent tracked once it was there"


if __name__ == "__main__":
    sys.exit(h.main("nodaemon", scenario))
