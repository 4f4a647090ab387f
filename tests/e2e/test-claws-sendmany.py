#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-sendmany.py: many tracked sends in a row, and what the Sent rows show (issue 8,
items 2 and 9).

What: SENDS messages are composed with Track ticked and queued (Send later), then
Message > Send queued tracked messages sends them one after the other: the queue -> Sent
handover runs SENDS times back to back while the Sent folder is shown (the path that once
aborted with "corrupted double-linked list"; set MSGTRK_E2E_CLAWS_WRAPPER="valgrind
--error-exitcode=1 ..." to run Claws under valgrind). Two more are sent directly.
Then Message > Track… three times on a Sent row and one more tracked send into the shown
Sent folder (item 2's abort: the plugin freed the list's own reference to the selected
message). Checks: Claws is still alive; each message was delivered exactly once, every MAIL FROM at
the SMTP tap carried ENVID and MTRK; the Queue folder is empty and Sent holds one copy of
each; and, for item 9, whenever msgtrkd's status of a message is past "sending", the
plugin's own status of its Sent row follows within PROMPT seconds and never goes back to
"Sending…" (read from the plugin's time-stamped debug lines, G_MESSAGES_DEBUG=msgtrk-claws:
the StatusChanged it handled, the status it set on each row).
Limits: SENDS, PROMPT below; STEP_TIMEOUT / DELIVERY_TIMEOUT of the harness.
"""

import os
import re
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402

SENDS = int(os.environ.get("MSGTRK_E2E_SENDS", "5"))
DIRECT = 2
# How long the Sent row may lag behind msgtrkd's status (s): the plugin gathers changes
# for MTC_REFLECT_DELAY_MS (0.1 s) and the bus adds little.
PROMPT = 2.0
DEBUG_RE = re.compile(r"msgtrk-claws-DEBUG: (\d+):(\d+):(\d+\.\d+): (.*)$")
SIGNAL_RE = re.compile(r"StatusChanged (\S+) (.*): <(.*)>$")
STATUS_RE = re.compile(r"status of <([^>]*)>: (.*?)( \(no row\)| \(filed\))?$")


def plugin_events(run):
    """The plugin's debug lines: (seconds, 'signal', mid, state, text) for each StatusChanged
    it handled and (seconds, 'status', mid, found-a-row, text) for each status it set."""
    out = []
    for line in run.claws_log().splitlines():
        m = DEBUG_RE.search(line)
        if not m:
            continue
        t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        body = m.group(4)
        sig = SIGNAL_RE.match(body)
        st = STATUS_RE.match(body)
        if sig:
            out.append((t, "signal", sig.group(3), sig.group(1), sig.group(2)))
        elif st:
            out.append((t, "status", st.group(1), st.group(3) != " (no row)", st.group(2)))
    return out


def check_prompt(run, mid):
    """Item 9: every status msgtrkd signalled for the message reaches its Sent row within
    PROMPT s, and once msgtrkd is past "sending" the row never shows "Sending…" again."""
    ev = [e for e in plugin_events(run) if e[2] == mid]
    past_sending = None
    for k, e in enumerate(ev):
        if e[1] == "signal" and e[3] != "sending":
            past_sending = past_sending or e[0]
            later = [f for f in ev[k + 1:] if f[1] == "status" and f[3] and f[4] == e[4]]
            rows = [f for f in ev[:k + 1] if f[1] == "status" and f[3]]
            if not later and not (rows and rows[-1][4] == e[4]):
                raise AssertionError("<%s>: msgtrkd said %r, its Sent row never showed it: %r"
                                     % (mid, e[4], ev))
            if later and later[0][0] - e[0] > PROMPT:
                raise AssertionError("<%s>: the Sent row showed %r %.1f s after msgtrkd said "
                                     "it" % (mid, e[4], later[0][0] - e[0]))
        if e[1] == "status" and past_sending is not None and e[3] and \
                e[4].startswith(("Sending", "sending")):
            raise AssertionError("<%s>: the Sent row went back to %r after msgtrkd had said "
                                 "more: %r" % (mid, e[4], ev))


def scenario(run):
    run.start_session()
    tap = h.SmtpTap(run.submit.relay.port)
    run.start_claws(smtp_port=tap.port, extra_env={"G_MESSAGES_DEBUG": "msgtrk-claws"})
    subjects = ["Send many %d" % i for i in range(SENDS)]
    for s in subjects:
        compose = run.compose(s, ("Hello Alice,", "number %s." % s.split()[-1]))
        run.send_later(compose)
        run.wait_closed(compose)
    h.wait_for("%d marked messages in the Queue folder" % SENDS,
               lambda: sum(h.TRACK_MARK in t for _, t in run.mh_files("queue")) == SENDS)
    run.open_folder("sent")
    run.message_menu("send-tracked")
    direct = ["Send many direct %d" % i for i in range(DIRECT)]
    for s in direct:
        compose = run.compose(s, ("Hello Alice,", "sent at once."))
        run.send(compose)
        run.wait_closed(compose)
    everything = subjects + direct
    h.wait_for("every message in Sent",
               lambda: all(run.folder_has("sent", s) for s in everything), h.DELIVERY_TIMEOUT)
    run.shot("sendmany-sent.png")
    for s in everything:
        m = h.wait_for("msgtrkd to know %r" % s, lambda: run.find_message(s))
        h.wait_for("%r delivered" % s, lambda: run.delivered_to(h.RECIPIENT, s),
                   h.DELIVERY_TIMEOUT, 0.5)
        h.wait_for("msgtrkd to see %r delivered" % s,
                   lambda: run.find_message(s, "delivered"), h.DELIVERY_TIMEOUT, 0.5)
        time.sleep(PROMPT)
        check_prompt(run, m["message_id"])
    time.sleep(2.0)
    for s in everything:
        n = len(run.delivered_to(h.RECIPIENT, s))
        if n != 1:
            raise AssertionError("%r was delivered %d times" % (s, n))
        if len(run.folder_has("sent", s)) != 1:
            raise AssertionError("%r: %d copies in Sent" % (s, len(run.folder_has("sent", s))))
    if run.mh_files("queue"):
        raise AssertionError("the Queue folder is not empty")
    bare = [ln for ln in tap.commands() if not h.tracked_mail_from(ln)]
    if bare or len(tap.commands()) != len(everything):
        raise AssertionError("MAIL FROM commands at the relay: %r" % tap.commands())
    if run.claws.poll() is not None:
        raise AssertionError("Claws Mail died (status %r)" % run.claws.poll())

    # Item 2's abort: Message > Track… on a Sent row, then a tracked send files its copy
    # in the shown Sent folder (the list is rebuilt). The plugin used to drop the list's
    # reference to the selected message: under MALLOC_PERTURB_/MALLOC_CHECK_ (meson test)
    # Claws aborted with "corrupted double-linked list" right after "sent (tracked)".
    run.keys(run.main_win, "Home")
    time.sleep(0.5)
    for _ in range(3):
        run.message_menu("track")
        time.sleep(1.0)
    last = "Send many after Track"
    compose = run.compose(last, ("Hello Alice,", "after Track…"))
    run.send(compose)
    run.wait_closed(compose)
    h.wait_for("%r in Sent" % last, lambda: run.folder_has("sent", last), h.DELIVERY_TIMEOUT)
    h.wait_for("%r delivered" % last, lambda: run.delivered_to(h.RECIPIENT, last),
               h.DELIVERY_TIMEOUT)
    time.sleep(2.0)
    if run.claws.poll() is not None:
        raise AssertionError("Claws Mail died after Track… and a send (status %r): %s"
                             % (run.claws.poll(), run.claws_log()[-300:]))
    if run.mh_files("queue"):
        raise AssertionError("the Queue folder is not empty after the last send")
    run.shot("sendmany-end.png")
    return "%d tracked sends in a row: each once, tracked, its Sent row prompt" % len(everything)


if __name__ == "__main__":
    sys.exit(h.main("sendmany", scenario))
