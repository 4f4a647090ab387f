#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-dsn.py: a DSN that arrives in Claws Mail's inbox is merged by msgtrkd.

A tracked message goes out from Claws Mail (Xvfb, real msgtrkd, gnome-keyring, the demo
network); the final hop's relay sends a real success DSN back, which the demo network
delivers to the sender's Maildir at the submission hop. That DSN is put into a local mbox
file, the spool of a second Claws account ("Local mbox file", protocol A_LOCAL, filtering
on receipt), and Message ▸ Receive ▸ Get from all accounts (Shift+Ctrl+I) fetches it:
Claws's own incorporation moves it into the inbox and runs MAIL_POSTFILTERING_HOOKLIST,
where the plugin hands it to msgtrkd (IngestReport). Checked: the DSN is in the MH inbox,
the spool is emptied, and msgtrkd's route for the message (GetRoute) has gained hops whose
source is "dsn" (it had none before). Set-up: claws_harness.py. Skips (77) like the other
e2e tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked, reported back"


def dsn_hops(node):
    """Every hop object in the route JSON whose source is "dsn"."""
    out = []
    if isinstance(node, dict):
        if node.get("source") == "dsn":
            out.append(node)
        for v in node.values():
            out += dsn_hops(v)
    elif isinstance(node, list):
        for v in node:
            out += dsn_hops(v)
    return out


def to_mbox(messages):
    """mboxrd: a From_ line, LF line ends, ">"-quoted From_ lines, a blank line after."""
    out = b""
    for raw in messages:
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        out += b"From MAILER-DAEMON Mon Nov 23 09:00:00 2026\n"
        for line in lines:
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out += line + b"\n"
        out += b"\n"
    return out


def scenario(run):
    spool = os.path.join(run.dir, "spool")
    os.makedirs(spool)
    mbox = os.path.join(spool, "sender")
    open(mbox, "wb").close()
    run.start_all(local_mbox=mbox)

    compose = run.compose(SUBJECT, ("Hello Alice,", "tell me when you have it."))
    run.send(compose)
    run.wait_closed(compose)
    m = run.wait_delivered(SUBJECT)
    envid = m["envid"]
    dsns = h.wait_for("a DSN for the sender from the demo network",
                      lambda: [d for d in run.sender_dsns() if envid.encode() in d],
                      h.DELIVERY_TIMEOUT, 1.0)
    h.log("the demo network sent %d DSN(s) for %s back to the sender" % (len(dsns), envid))
    before = dsn_hops(run.msgtrkd_route(envid))
    if before:
        raise AssertionError("msgtrkd has DSN hops before Claws fetched any DSN: %r" % before)

    with open(mbox, "wb") as f:
        f.write(to_mbox(dsns))
    run.keys(run.main_win, "ctrl+shift+i")   # Message > Receive > Get from all accounts
    inbox = h.wait_for("the DSN in Claws's inbox",
                       lambda: [t for _, t in run.mh_files("inbox") if envid in t])
    h.log("Claws fetched the DSN into its inbox (%d message(s))" % len(inbox))
    if os.path.getsize(mbox) != 0:
        raise AssertionError("Claws did not empty the spool after fetching")
    hops = h.wait_for("msgtrkd's route to gain DSN hops",
                      lambda: dsn_hops(run.msgtrkd_route(envid)), 20)
    h.log("msgtrkd's route for %s now has %d DSN hop(s)" % (envid, len(hops)))
    run.open_folder("inbox")
    run.keys(run.main_win, "Home")
    time.sleep(1.0)
    run.shot("dsn-inbox.png")
    return "an incoming DSN fetched by Claws is merged into msgtrkd's route"


if __name__ == "__main__":
    sys.exit(h.main("dsn", scenario))
