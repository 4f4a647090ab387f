#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-e2e.py: real Claws Mail with the msgtrk plugin, end to end.

Claws Mail runs under Xvfb with a pre-seeded account whose SMTP server is the demo
network's submission relay (tools/demonet.py); a private D-Bus session bus carries an
unlocked gnome-keyring and the real msgtrkd (fast polling, --mtqp-override for the demo
hops). xdotool composes a message, ticks Options ▸ Track this message and sends it. Then:
the submission relay got ENVID and MTRK (its tracking record exists), msgtrkd recorded the
message and tracks it to "delivered", the Sent folder's row carries the status tag, and
Message ▸ Track… asks msgtrkd to open the viewer. Screenshots go to
<source>/.ci/artifacts/e2e/. The set-up is tests/e2e/claws_harness.py.

Skips (77) when msgtrkd, the plugin, Xvfb, claws-mail, xdotool, ImageMagick, dbus-daemon
or gnome-keyring-daemon is missing. Never uses fixed ports or displays.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked from Claws"


def scenario(run):
    run.start_all()
    compose = run.compose(SUBJECT, ("Hello Alice,", "this message is tracked.",
                                    "Regards, Sender"), shot="claws-compose-options.png")
    run.send(compose)
    run.wait_closed(compose)
    h.log("sent from Claws")

    # The submission relay got ENVID and MTRK: it keeps a tracking record
    h.wait_for("a tracking record at the submission relay", run.tracking_records)
    h.log("submission relay has a tracking record")

    # msgtrkd recorded it and tracks it to delivered
    m = run.wait_delivered(SUBJECT)
    h.log("msgtrkd: %s %s (%s)" % (m["envid"], m["state"], m["summary"]))
    if m.get("tracking") != "mtqp":
        raise AssertionError("expected MTQP tracking, got %r" % m.get("tracking"))
    # MAIL FROM carried ENVID and MTRK, RCPT carried ORCPT: the relay's record says so
    records = "".join(run.tracking_records())
    for needle in ("Envid: " + m["envid"], "Authenticator: ",
                   "Original-Recipient: rfc822; " + h.RECIPIENT):
        if needle not in records:
            raise AssertionError("the submission relay's tracking record lacks %r" % needle)
    h.log("the submission relay got ENVID %s with MTRK and ORCPT" % m["envid"])

    # The Sent folder's row shows the status (Claws's tag state)
    h.wait_for("a Delivered tag in Claws's tags", lambda: run.tag_known("Delivered"), 20)
    run.show_sent("claws-sent-folder.png")

    # Message > Track… (the plugin's first item at the end of the Message menu)
    before = set(run.windows("msgtrk")) | set(run.windows("Delivery"))
    run.message_menu("track", shot="claws-message-menu.png")
    time.sleep(3.0)
    if os.access(run.viewer, os.X_OK):
        def viewer_up():
            now = set(run.windows("msgtrk")) | set(run.windows("Delivery")) | \
                set(run.windows(SUBJECT))
            return (now - before) or None
        h.wait_for("the viewer window", viewer_up)
        h.log("the viewer is open")
        run.shot("claws-viewer.png")
    else:
        run.shot("claws-viewer.png")
        h.log("viewer not built: Track asked msgtrkd (screenshot shows its answer)")
    return "tracked send from Claws Mail delivered and shown"


if __name__ == "__main__":
    sys.exit(h.main("e2e", scenario))
