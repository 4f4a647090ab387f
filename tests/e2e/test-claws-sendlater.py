#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-sendlater.py: Send later with Track ticked, then the tracked queued send.

Claws Mail (Xvfb) composes a message with Options ▸ Track this message ticked and uses
Message ▸ Send later (Shift+Ctrl+S in the compose window): Claws queues it, the plugin
marks the queued file (X-Msgtrk-Track: yes in the special headers) and nothing reaches
the relay. Then the main window's Message ▸ Send queued tracked messages sends it on the
plugin's SMTP path: the submission relay gets ENVID and MTRK (its tracking record names
msgtrkd's ENVID), msgtrkd tracks the message to delivered, the queue is empty and the
Sent row is tagged Delivered. Set-up: claws_harness.py. Skips (77) like the other e2e
tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked, sent later"


def scenario(run):
    run.start_all()
    compose = run.compose(SUBJECT, ("Hello Alice,", "this one waited in the queue."))
    run.send_later(compose)
    run.wait_closed(compose)
    queued = h.wait_for("the message in the Queue folder, marked",
                        lambda: [t for t in run.folder_has("queue", SUBJECT)
                                 if h.TRACK_MARK in t])
    if not queued[0].startswith(h.TRACK_MARK):
        raise AssertionError("the mark is not the queue file's first line")
    time.sleep(2.0)
    if run.tracking_records() or run.delivered_to(h.RECIPIENT, SUBJECT):
        raise AssertionError("Send later, yet the message reached the relay")
    if run.find_message(SUBJECT) is not None:
        raise AssertionError("msgtrkd heard of the message before it was sent")
    h.log("queued by Send later and marked for tracking")
    run.open_folder("queue")
    run.keys(run.main_win, "Home")
    time.sleep(0.5)
    run.shot("sendlater-queued.png")

    run.message_menu("send-tracked", shot="sendlater-message-menu.png")
    h.wait_for("a tracking record at the submission relay", run.tracking_records)
    m = run.wait_delivered(SUBJECT)
    records = "".join(run.tracking_records())
    for needle in ("Envid: " + m["envid"], "Authenticator: ",
                   "Original-Recipient: rfc822; " + h.RECIPIENT):
        if needle not in records:
            raise AssertionError("the submission relay's tracking record lacks %r" % needle)
    h.log("sent tracked from the queue: ENVID %s, %s" % (m["envid"], m["state"]))
    sent = run.wait_sent(SUBJECT)
    if "X-Msgtrk-Track" in sent[0] or "X-Claws-End-Special-Headers" in sent[0]:
        raise AssertionError("the Sent copy kept the queue's special headers")
    h.wait_for("a Delivered tag in Claws's tags", lambda: run.tag_known("Delivered"), 20)
    run.show_sent("sendlater-sent-delivered.png")
    return "Send later, then Send queued tracked messages: tracked and delivered"


if __name__ == "__main__":
    sys.exit(h.main("sendlater", scenario))
