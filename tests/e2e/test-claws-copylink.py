#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-copylink.py: Message ▸ Copy tracking link puts the message's mtqp:// link on
the clipboard, and only there.

After a tracked send from Claws Mail (Xvfb, real msgtrkd with an unlocked gnome-keyring,
the demo network), the Sent row is selected and Message ▸ Copy tracking link is chosen:
no dialog opens (the note is in the status bar, screenshot), the PRIMARY selection (what a
middle-click pastes) does not hold the link, and the CLIPBOARD selection (read with xclip)
holds a link that
libmsgtrk's msgtrk_url_parse accepts (called through ctypes) and whose ENVID is the one
msgtrkd gave the message. The link holds the tracking secret: it is compared in memory
only, never printed or written to a file. Set-up: claws_harness.py. Skips (77) like the
other e2e tests, and when xclip is missing.
"""

import os
import subprocess
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SUBJECT = "Tracked, link shared"


def clipboard(run, selection="clipboard"):
    r = subprocess.run(["xclip", "-o", "-selection", selection], env=run.env,
                       capture_output=True, timeout=20)
    return r.stdout.decode("utf-8", "replace") if r.returncode == 0 else ""


def scenario(run):
    run.start_all()
    compose = run.compose(SUBJECT, ("Hello Alice,", "here is a link to follow this."))
    run.send(compose)
    run.wait_closed(compose)
    m = run.wait_delivered(SUBJECT)
    h.log("msgtrkd: %s %s" % (m["envid"], m["state"]))
    if clipboard(run).startswith("mtqp://"):
        raise AssertionError("a link is on the clipboard before it was asked for")

    run.show_sent()
    run.message_menu("copy-link", shot="copylink-message-menu.png")
    url = h.wait_for("an mtqp:// link on the clipboard",
                     lambda: (lambda t: t if t.startswith("mtqp://") else None)(clipboard(run)))
    run.shot("copylink-statusbar.png")
    if run.windows("Notice"):
        raise AssertionError("Copy tracking link opened a dialog (a status-bar note is enough)")
    if "mtqp://" in clipboard(run, "primary"):
        raise AssertionError("the PRIMARY selection holds the tracking link: a middle-click "
                             "pastes the secret")
    envid = h.url_envid(url.strip())
    if envid != m["envid"]:
        raise AssertionError("the link's ENVID is %r, the message's %r" % (envid, m["envid"]))
    h.log("the clipboard holds a valid mtqp:// link (%d characters) for ENVID %s"
          % (len(url.strip()), envid))
    return "Copy tracking link: a valid mtqp:// link for the message's ENVID"


if __name__ == "__main__":
    sys.exit(h.main("copylink", scenario, tools=("xclip",)))
