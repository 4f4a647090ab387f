#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-keyring.py: a tracked send from Claws Mail when the keyring is unavailable.

msgtrkd runs on a session bus WITHOUT any Secret Service, so its Prepare fails with
org.msgtrk.Tracker1.Error.KeyringUnavailable. Composing with Track ticked and sending must
show the plugin's dialog offering "Send untracked" / "Keep in Queue" (found by its title
with xdotool, screenshot). Keep in Queue: the message is in the Queue folder (its MH file,
marked for tracking) and NOT at the relay. Then Message ▸ Send queued tracked messages
sends the kept message again: the same dialog, this time Send untracked: the relay gets it
without ENVID/MTRK (no tracking record; the final hop's copy arrives), the queue is empty,
msgtrkd knows nothing of it, and its Sent row is tagged "Sent untracked". Never a silent
untracked send, never a lost message. Set-up: claws_harness.py. Skips (77) like the other
e2e tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked without a keyring"


def scenario(run):
    run.start_all(keyring=False)
    if run.has_owner("org.freedesktop.secrets"):
        raise AssertionError("a Secret Service is on the bus: the scenario needs none")
    # The condition itself: msgtrkd's Prepare fails with KeyringUnavailable.
    try:
        run.gdbus("Prepare", h.SENDER, "['%s']" % h.RECIPIENT, "probe.1@laptop.demo.test",
                  "probe", "127.0.0.1")
        raise AssertionError("Prepare succeeded without a keyring")
    except AssertionError as e:
        if "org.msgtrk.Tracker1.Error.KeyringUnavailable" not in str(e):
            raise
    h.log("msgtrkd: Prepare fails with KeyringUnavailable")

    compose = run.compose(SUBJECT, ("Hello Alice,", "the keyring is away today."))
    run.send(compose)
    dlg = run.dialog()
    h.log("the plugin asks: Send untracked or Keep in Queue")
    run.shot("keyring-unavailable-dialog.png")
    # The first button (focused) is Keep in Queue.
    run.keys(dlg, "Return")
    h.wait_for("the dialog to close", lambda: dlg not in run.windows(h.DIALOG_TITLE))
    run.wait_closed(compose)
    queued = h.wait_for("the message in the Queue folder",
                        lambda: run.folder_has("queue", SUBJECT))
    if h.TRACK_MARK not in queued[0]:
        raise AssertionError("the kept message is not marked for a tracked send")
    time.sleep(2.0)
    if run.delivered_to(h.RECIPIENT, SUBJECT) or run.tracking_records():
        raise AssertionError("Keep in Queue, yet the message reached the relay")
    if run.folder_has("sent", SUBJECT):
        raise AssertionError("Keep in Queue, yet the message is in Sent")
    h.log("kept: in the Queue folder (marked), not at the relay")
    run.open_folder("queue")
    run.shot("keyring-kept-in-queue.png")

    # Again, from the queue: this time Send untracked.
    run.message_menu("send-tracked")
    dlg = run.dialog()
    run.shot("keyring-unavailable-dialog-2.png")
    run.keys(dlg, "alt+u")
    h.wait_for("the dialog to close", lambda: dlg not in run.windows(h.DIALOG_TITLE))
    h.wait_for("the untracked message at the final hop",
               lambda: run.delivered_to(h.RECIPIENT, SUBJECT), h.DELIVERY_TIMEOUT)
    if run.tracking_records():
        raise AssertionError("the relay kept a tracking record: ENVID/MTRK were sent")
    # The relay logs "from=<…> to=<…> accepted (tracked)" for a message with MTRK.
    accepted = [line for line in run.submit.relay.log().splitlines()
                if "to=<%s> accepted" % h.RECIPIENT in line]
    if len(accepted) != 1 or "(tracked)" in accepted[0]:
        raise AssertionError("the submission relay's log: %r" % accepted)
    run.wait_sent(SUBJECT)
    if run.find_message(SUBJECT) is not None:
        raise AssertionError("msgtrkd recorded a message the user sent untracked")
    h.wait_for("the Sent untracked tag", lambda: run.tag_known("Sent untracked"), 10)
    run.show_sent("keyring-sent-untracked.png")
    return "keyring unavailable: the user chose; kept, then sent untracked, shown so"


if __name__ == "__main__":
    sys.exit(h.main("keyring", scenario, keyring=False))
