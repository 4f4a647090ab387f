#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-harrison.py: Harrison's Content-Track from Claws Mail (docs/harrison.md).

The demo network's relays run with [harrison] enabled = true (added to each hop's
configuration here, before it starts). In Claws (Xvfb, real msgtrkd, gnome-keyring), Options
▸ Ask relays to report the route (Content-Track) is ticked: the privacy notice appears once
and is closed, tracking turns on by itself, and the message is sent. Checked: the copy at
the final hop carries "Content-Track: <key>", the key msgtrkd gives for the message
(RequestContentTrack), and the queue mark never leaves; each of the three relays sends a
TRACK: mail back to the sender; fetched by Claws from a local mbox (Get from all accounts),
the plugin hands them to msgtrkd, which adds "harrison" hops for the three servers to the
route; the TRACK: mails leave the inbox for the Trash. Set-up: claws_harness.py. Skips (77)
like the other e2e tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Route reported back"
SERVERS = {"submit.demo.test", "relay.example.net", "mx.example.net"}


def enable_harrison():
    """Every demo hop's relay gets [harrison] enabled = true (loopback clients are its own
    users by default)."""
    import demonet
    orig = demonet.Hop.__init__

    def init(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        with open(self.relay.conf, "a") as f:
            f.write("\n[harrison]\nenabled=true\n")
    demonet.Hop.__init__ = init


def harrison_hops(route):
    """The harrison evidence of the route: a merged hop lists every source of its evidence
    and, when there are several, each piece as the hop it would be alone (route-merge.md)."""
    out = []
    for r in route["recipients"]:
        for hop in r["hops"]:
            pieces = hop.get("evidence") or [hop]
            out += [p for p in pieces if p.get("source") == "harrison"]
    return out


def track_mails(run):
    return [m for m in run.sender_dsns() if b"\nSubject: TRACK: " in m.replace(b"\r\n", b"\n")]


def to_mbox(messages):
    out = b""
    for raw in messages:
        out += b"From MAILER-DAEMON Mon Nov 23 09:00:00 2026\n"
        for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out += line + b"\n"
        out += b"\n"
    return out


def scenario(run):
    enable_harrison()
    spool = os.path.join(run.dir, "spool")
    os.makedirs(spool)
    mbox = os.path.join(spool, "sender")
    open(mbox, "wb").close()
    run.start_all(local_mbox=mbox)

    compose = run.compose(SUBJECT, ("Hello Alice,", "which way did this go?"), track=False)
    run.keys(compose, "alt+o")
    time.sleep(0.5)
    run.keys(compose, "Up", "Up")   # the item above "Track this message", the last one
    run.keys(compose, "Return")
    notice = run.window("Notice")
    run.shot("harrison-privacy-notice.png")
    run.keys(notice, "Return")
    h.wait_for("the notice to close", lambda: notice not in run.windows("Notice"))
    run.send(compose)
    run.wait_closed(compose)
    m = run.wait_delivered(SUBJECT)
    envid = m["envid"]
    key = run._gvariant_string(run.gdbus("RequestContentTrack", envid))
    h.log("msgtrkd's key for %s: %s" % (envid, key))
    delivered = run.delivered_to(h.RECIPIENT, SUBJECT)
    if not delivered or ("Content-Track: " + key) not in delivered[0]:
        raise AssertionError("the delivered copy lacks Content-Track: %s:\n%r" % (key, delivered))
    if "X-Msgtrk-Content-Track" in delivered[0]:
        raise AssertionError("the queue mark went out with the message")

    mails = h.wait_for("three TRACK: mails for the sender",
                       lambda: (lambda t: t if len(t) >= 3 else None)(track_mails(run)),
                       h.DELIVERY_TIMEOUT, 1.0)
    h.log("the relays sent %d TRACK: mail(s)" % len(mails))
    if harrison_hops(run.msgtrkd_route(envid)):
        raise AssertionError("harrison hops before Claws fetched any TRACK: mail")
    with open(mbox, "wb") as f:
        f.write(to_mbox(mails))
    run.keys(run.main_win, "ctrl+shift+i")   # Message > Receive > Get from all accounts
    hops = h.wait_for("msgtrkd's route to gain the three servers' harrison hops",
                      lambda: (lambda hs: hs if {x["server"] for x in hs} >= SERVERS else None)(
                          harrison_hops(run.msgtrkd_route(envid))), 30)
    h.log("the route has %d harrison hop(s): %s" % (len(hops), [x["server"] for x in hops]))
    h.wait_for("the TRACK: mails in the Trash, not in the inbox",
               lambda: (len([t for _, t in run.mh_files("trash") if "Subject: TRACK:" in t]) >= 3
                        and not [t for _, t in run.mh_files("inbox") if "Subject: TRACK:" in t]),
               30)
    run.open_folder("inbox")
    time.sleep(1.0)
    run.shot("harrison-inbox.png")
    return "Content-Track from Claws: three TRACK: mails merged as harrison hops, out of the inbox"


if __name__ == "__main__":
    sys.exit(h.main("harrison", scenario))
