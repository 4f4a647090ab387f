#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-links.py: a delegate finds the links they track again (issue 8, item 18, the
Claws part).

What: Message ▸ Track a link… is given an mtqp:// link for a message this msgtrkd never
sent (a delegated one: a made-up ENVID on the demo submission server, a made-up secret
that is not anyone's); then Message ▸ Tracked links… opens a window that lists it (the
plugin's debug line counts the rows it shows, G_MESSAGES_DEBUG=msgtrk-claws), and msgtrkd
lists the message as delegated. Screenshot of the window. Skips (77) like the other e2e
tests.
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

ENVID = "mtrk.delegated@elsewhere.test"
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8%3D"   # 32 made-up bytes


def scenario(run):
    run.start_session()
    run.start_claws(extra_env={"G_MESSAGES_DEBUG": "msgtrk-claws"})
    url = "mtqp://127.0.0.1:%d/track/%s/%s" % (run.submit.mtqpd.port,
                                               ENVID.replace("@", "%40"), SECRET)
    run.message_menu("import")
    dlg = run.window("Track a link")
    run.type(dlg, url)
    run.keys(dlg, "Return")
    h.wait_for("msgtrkd to follow the link",
               lambda: any(m.get("envid") == ENVID and m.get("tracking") == "delegated"
                           for m in run.msgtrkd_list()))
    for w in run.windows("Error"):   # the viewer may be missing: not this test's business
        run.keys(w, "Return")
    time.sleep(1.0)
    run.message_menu("links")
    win = run.window("Tracked links")
    h.wait_for("the window to list the delegated message",
               lambda: "Tracked links: 1 shown" in run.claws_log())
    run.shot("links-window.png")
    run.keys(win, "Escape")
    return "Message > Tracked links… lists the message followed through a link"


if __name__ == "__main__":
    sys.exit(h.main("links", scenario))
