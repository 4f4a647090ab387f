#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-tags.py: the status tags are a small fixed set, cleaned up, told apart at a
glance (issue 8, item 16).

What: Claws starts with a tagsrc that an older plugin left (status tags made of summaries,
"✉ Failed 1/2, 1 delivered", "✉ Delivered 1/1") next to the user's own tag. Four tracked
messages go out: to a recipient delivered, one failed, one delayed, and one to the first two
(a mixed summary). Checks: the outdated status tags are gone from tagsrc, the user's tag is
kept; every status tag is one of the fixed set, none carries counts; Delivered, Failed and
Delayed have their own symbols (✔, ✖, ◷). Screenshot of the Sent folder. Skips (77) like
the other e2e tests. Also: a StatusChanged of a message Claws never saw (Prepare called
by another client) makes no new ListStatus fetch (the signal names the Message-ID; the
plugin's debug line per fetch is counted).
"""

import os
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

PREFIX = "\u2709 "
OLD = ["\u2709 Failed 1/2, 1 delivered", "\u2709 Delivered 1/1"]
MINE = "my own tag"
WANT = {"delivered": PREFIX + "\u2714 Delivered", "failed": PREFIX + "\u2716 Failed",
        "delayed": PREFIX + "\u25f7 Delayed"}
MESSAGES = [("Tags delivered", "alice@example.net", "delivered"),
            ("Tags failed", "bob@gone.example", "failed"),
            ("Tags delayed", "carol@slow.example", "delayed"),
            ("Tags mixed", "alice@example.net, bob@gone.example", "failed")]
# A message prepared outside Claws, and how long after its signal no fetch may start (s):
# past the plugin's MTC_RESCAN_DELAY_MS (0.5 s) and the fetch itself.
STRAY_MID = "stray.tags@demo.test"
STRAY_WAIT = 3.0
FETCH_LINE = "ListStatus: "


def tags(run):
    try:
        with open(os.path.join(run.cfg, "tagsrc"), encoding="utf-8") as f:
            return [ln.split("\t", 1)[1].rstrip("\n") for ln in f if "\t" in ln]
    except FileNotFoundError:
        return []


def fetches(run):
    """How many whole ListStatus fetches the plugin finished (its debug line per fetch)."""
    return sum(1 for ln in run.claws_log().splitlines()
               if "msgtrk-claws-DEBUG" in ln and FETCH_LINE in ln)


def check_stray_signal(run):
    """A message Claws never saw (prepared by another client) signals StatusChanged: the
    signal names its Message-ID, so the plugin places it without fetching ListStatus again."""
    h.wait_for("the plugin's first ListStatus fetch", lambda: fetches(run) >= 1)
    run.open_folder("sent")   # a shown Sent folder is what a new look would be for
    time.sleep(STRAY_WAIT)
    before = fetches(run)
    signals = run.claws_log().count("StatusChanged ")
    run.gdbus("Prepare", h.SENDER, "['%s']" % h.RECIPIENT, STRAY_MID, "Tags stray",
              "localhost")
    h.wait_for("the plugin to handle the stray StatusChanged",
               lambda: run.claws_log().count("StatusChanged ") > signals)
    time.sleep(STRAY_WAIT)
    if fetches(run) != before:
        raise AssertionError("a StatusChanged of a message Claws did not know made the plugin "
                             "fetch ListStatus again (%d fetches, %d before)"
                             % (fetches(run), before))
    h.log("a stray StatusChanged placed from its Message-ID, no new ListStatus")


def scenario(run):
    run.start_session()
    h.write_claws_config(run.cfg, run.mail, run.plugin, run.submit.relay.port)
    with open(os.path.join(run.cfg, "tagsrc"), "w", encoding="utf-8") as f:
        f.write("max_id 3\n1\t%s\n2\t%s\n3\t%s\n" % (OLD[0], OLD[1], MINE))
    run.launch_claws()
    h.wait_for("the outdated status tags to be removed",
               lambda: not any(t in tags(run) for t in OLD))
    if MINE not in tags(run):
        raise AssertionError("the user's own tag was removed: %r" % tags(run))
    h.log("outdated status tags removed, the user's tag kept")
    check_stray_signal(run)

    for subject, to, _ in MESSAGES:
        compose = run.compose(subject, ("Hello,", "which tag for this one?"), to=to)
        run.send(compose)
        run.wait_closed(compose)
    for subject, _, state in MESSAGES:
        h.wait_for("msgtrkd to see %r %s" % (subject, state),
                   lambda: run.find_message(subject, state), h.DELIVERY_TIMEOUT, 1.0)
    for state, text in WANT.items():
        h.wait_for("the tag %r" % text, lambda: text in tags(run), 20)
    run.open_folder("sent")
    time.sleep(1.0)
    run.shot("tags-sent-folder.png")
    ours = [t for t in tags(run) if t.startswith(PREFIX)]
    allowed = set(WANT.values()) | {PREFIX + "\u22ef Sending\u2026",
                                    PREFIX + "\u279c In transit"}
    extra = [t for t in ours if t not in allowed]
    if extra or any("/" in t for t in ours):
        raise AssertionError("status tags outside the fixed set: %r" % extra)
    return "status tags: a fixed set with symbols, outdated ones removed (%d now)" % len(ours)


if __name__ == "__main__":
    sys.exit(h.main("tags", scenario))
