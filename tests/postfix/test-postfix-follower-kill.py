#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-kill.py: msgtrk-postfix-follower killed with SIGKILL again and
again in the middle of its work, against a real Postfix: no record lost, none doubled.

  test-postfix-follower-kill.py --build-dir BUILD

What: a private Postfix (postfix_instance.py, tracking_harness.configure_site) delivers
MESSAGES registered messages, each to three recipients with three verdicts (virtual(8)
delivered, relayed to the 250 sink, failed at the 550 sink), with the follower stopped:
its log holds the whole batch. Then the follower (real binary, as nobody) is started and
killed with SIGKILL as soon as its first record file appears (records are stored at the
end of each pass over the lines read: postfix-track.h), then at growing random moments while
it works through the batch (KILLS times at most; the TAP comments show how many of the messages had records at each kill), and
started once more to finish. mtqpd (real binary) must then answer every message with
exactly one entry per recipient and Postfix's verdict: a kill between a record and the
saved position re-applies lines (replacing, never adding); a position saved before its
records would lose them.
Limits: MESSAGES, KILLS; every wait polls (tracking_harness.WAIT at most).
Skips (77) unless root with Postfix installed.
"""

import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (configure_site, follower_daemon, recipients,  # noqa: E402
                              register, site_state_dir, start_mtqpd, stop_site, submit,
                              track, wait_for)

MESSAGES = 120
KILLS = 12
# Seconds Postfix gets to reach every final verdict of the batch (see main()).
FINAL_WAIT = 240
RCPTS = ["alice@test.example", "x@ok.test.example", "z@perm.test.example"]
WANT = {"alice@test.example": "delivered", "x@ok.test.example": "relayed",
        "z@perm.test.example": "failed"}


def main():
    a = pi.test_args()
    follower_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(a.build_dir, "server", "mtqpd", "mtqpd")
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    sinks = []
    follower = mtqpd = None
    try:
        sinks = configure_site(pf)
        pf.start()
        state, regs = site_state_dir(pf)
        tracking = os.path.join(state, "tracking")

        # The batch, delivered while no follower runs.
        envids = ["kill-%d@test.example" % i for i in range(MESSAGES)]
        for envid in envids:
            qid = submit(pf.port, envid, RCPTS, "kill")
            register(regs, qid, envid, RCPTS, int(time.time()))

        # Final verdicts only: the sink takes one session at a time, so some deliveries
        # to it are deferred first and retried (minimal_backoff_time 1 s), and each waits
        # while Postfix's cached connections hold the sink: 36 s on a quiet machine, more
        # than 120 once beside the 1000-member alias test (FINAL_WAIT).
        final = {"alice@test.example": "status=sent", "x@ok.test.example": "status=sent",
                 "z@perm.test.example": "status=bounced"}

        def delivered():
            lines = open(pf.log, errors="replace").read().splitlines()
            return all(sum(1 for x in lines if "to=<%s>" % r in x and v in x) >= MESSAGES
                       for r, v in final.items())
        wait_for("Postfix's final verdicts for the whole batch", delivered, FINAL_WAIT)

        follower = follower_daemon(follower_exe, pf, state, verbose=False)

        def done():
            return len([n for n in os.listdir(tracking) if n.endswith(".trk")]) \
                if os.path.isdir(tracking) else 0
        rng = random.Random(1164503337)
        mid_batch = kills = 0
        delay = 0.05
        for k in range(KILLS):
            kills += 1
            follower.start()
            if k == 0:
                # The first kill as soon as a record file appears: the follower stores a
                # pass's records together at the end of the pass (postfix-track.h), so a
                # kill at a fixed delay may land only before the first or after the last
                # pass; this one lands within the batch (a pass stored, or a flush under
                # way, the position not yet saved past them).
                end = time.monotonic() + 60
                while done() == 0 and time.monotonic() < end \
                        and follower.proc.poll() is None:
                    time.sleep(0.001)
            else:
                time.sleep(delay)
            follower.stop(signal.SIGKILL)
            n = done()
            print("# kill %d after %s: %d of %d messages with records"
                  % (k + 1, "the first record" if k == 0 else "%.0f ms" % (delay * 1000),
                     n, MESSAGES))
            if n >= MESSAGES:
                break
            if n > 0:
                mid_batch += 1
            # Later kills later: the follower reads its whole batch again from its saved
            # position at each start, so each run gets a little further.
            delay = delay * 1.3 + rng.uniform(0, 0.05)
        t.check("at least one kill landed in the middle of the batch", mid_batch > 0,
                "no kill found some but not all messages with records")
        follower.start()

        mtqpd, mport = start_mtqpd(mtqpd_exe, pf.base, state)

        # The final verdicts (a deferral before them is applied first: the follower may
        # still be reading the log when mtqpd is asked).
        want = {k: [v] for k, v in WANT.items()}

        def actions(envid):
            return {k: [e.get("action") for e in v]
                    for k, v in recipients(track(mport, envid)).items()}
        wrong = []
        for envid in envids:
            try:
                wait_for("the three outcomes of " + envid, lambda: actions(envid) == want)
            except pi.PostfixError as e:
                wrong.append("%s: %s (%r)" % (envid, e, actions(envid)))
        t.check("after %d kills: every message, one entry per recipient, Postfix's verdict"
                % kills, not wrong, "; ".join(wrong[:5]))
        log = open(os.path.join(pf.base, "follower.log"), errors="replace").read()
        t.check("the follower logged no error", "ERROR" not in log and "CRITICAL" not in log,
                log[-2000:])
    except pi.PostfixError as e:
        t.check("the scenario ran", False, str(e))
    finally:
        stop_site(t, pf, sinks, [d for d in (follower, mtqpd) if d is not None])
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
