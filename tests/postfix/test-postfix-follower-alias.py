#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-alias.py: msgtrk-postfix-follower and a large alias expansion
against a real Postfix.

  test-postfix-follower-alias.py --build-dir BUILD

local(8) expands an alias of remote addresses into one new message (a derived queue id:
one "to=<alias>, ... forwarded as QID" line for the alias); the follower registers that
queue id as a child of the message (postfix-track.c, child_prepare) with one leg, the
alias; each member's line of the child adds an entry to the message's one record, which
holds MSGTRK_REPORT_MAX_RECIPIENTS (1000) entries.
What:
  1. at the limit: an alias of 1000 members is tracked in full: 1000 entries, each
     member's own outcome, no "not tracked" entry, no overflow line in the follower's log;
  2. one past it: an alias of 1001 members: the alias's recipient gets an entry of its own
     (Action expanded, the field X-Msgtrk-Untracked-Past "1000 recipients", a
     Diagnostic-Code saying those past the limit are not tracked), the
     record holds at most 1000 entries, the members within it have their outcomes, and the
     follower logs the overflow once for the message (not a "record full" warning per
     member past it, as before); no "cannot apply" warnings.
How: tracking_harness.configure_site() (local(8) and aliases), the members' domain to
discard(8); the message submitted straight into Postfix and registered as the front
would (tracking_harness.register); the follower and mtqpd as nobody; the record read
over MTQP. Limits: about 60 s. Skips (77) unless root with Postfix installed.
Never: listens on anything but loopback.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
import tracking_harness as th  # noqa: E402

# POSTFIX_REGISTRATION_MAX_RCPTS (postfix-register.h) = MSGTRK_REPORT_MAX_RECIPIENTS
MAX_RCPTS = 1000
OVERFLOW_LINE = "more recipients than one tracked message holds"


def main():
    a = pi.test_args()
    pi.raise_on_terminate()
    build = a.build_dir
    follower_exe = os.path.join(build, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(build, "server", "mtqpd", "mtqpd")
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    sinks = th.configure_site(pf)
    daemons = th.Daemons(pf.base)
    try:
        with open(os.path.join(pf.conf, "aliases"), "a") as f:
            for name, n in (("list%d" % MAX_RCPTS, MAX_RCPTS),
                            ("list%d" % (MAX_RCPTS + 1), MAX_RCPTS + 1)):
                f.write("%s %s\n" % (name, ", ".join("%s-m%04d@far.test.example" % (name, i)
                                                     for i in range(n))))
        with open(os.path.join(pf.conf, "transport"), "a") as f:
            f.write("far.test.example discard:\n")
        pf.start()
        state, regs = th.site_state_dir(pf)
        follower = th.follower_daemon(follower_exe, pf, state, verbose=False)
        follower.start()
        daemons.append(follower)
        mtqpd, mport = th.start_mtqpd(mtqpd_exe, pf.base, state)
        daemons.append(mtqpd)

        answers = {}
        for n in (MAX_RCPTS, MAX_RCPTS + 1):
            alias = "list%d@local.test.example" % n
            envid = "alias%d@test.example" % n
            arrival = int(time.time())
            qid = th.submit(pf.port, envid, [alias], "alias of %d" % n)
            th.register(regs, qid, envid, [alias], arrival)

            def settled(envid=envid, n=n):
                lines = th.track(mport, envid)
                r = th.recipients(lines)
                done = sum(1 for blocks in r.values() for b in blocks
                           if b.get("action", "").lower() == "delivered")
                return r if done >= min(n, MAX_RCPTS) - 1 else None

            th.settle("the members' outcomes of %s" % alias, settled, 60)
            answers[n] = (alias, th.recipients(th.track(mport, envid)))
        time.sleep(2)  # the last lines of the second, had they changed anything
        # The overflow line: its log thread may write it after the record was read.
        flog = th.wait_log(follower.log, OVERFLOW_LINE)

        alias, r = answers[MAX_RCPTS]
        delivered = [f for f, blocks in r.items()
                     if any(b.get("action", "").lower() == "delivered" for b in blocks)]
        t.check("an alias of %d members (at the limit): each member delivered in the record"
                % MAX_RCPTS, len(delivered) == MAX_RCPTS and alias not in r,
                "%d entries, %d delivered, alias entry: %r"
                % (len(r), len(delivered), r.get(alias)))

        alias, r = answers[MAX_RCPTS + 1]
        own = r.get(alias, [])
        delivered = [f for f, blocks in r.items()
                     if any(b.get("action", "").lower() == "delivered" for b in blocks)]
        t.check("an alias of %d members (one past): its recipient has an entry saying it was "
                "expanded and the members past %d are not tracked" % (MAX_RCPTS + 1, MAX_RCPTS),
                len(own) == 1 and own[0].get("action", "").lower() == "expanded"
                and "not tracked" in own[0].get("diagnostic-code", ""), repr(own))
        t.check("one past: the entry is marked as such (X-Msgtrk-Untracked-Past, the limit "
                "passed) and its diagnostic gives that limit",
                len(own) == 1
                and own[0].get("x-msgtrk-untracked-past") == "%d recipients" % MAX_RCPTS
                and "(%d recipients)" % MAX_RCPTS in own[0].get("diagnostic-code", ""),
                repr(own))
        t.check("one past: the record holds at most %d entries, the others its members' "
                "outcomes" % MAX_RCPTS,
                len(r) <= MAX_RCPTS and len(delivered) >= MAX_RCPTS - 2,
                "%d entries, %d delivered" % (len(r), len(delivered)))
        lines = [x for x in flog.splitlines() if OVERFLOW_LINE in x]
        t.check("the follower logged the overflow once for the message", len(lines) == 1
                and alias in lines[0], "\n".join(lines[:5]))
        t.check("the follower logged no line it could not apply, and no \"record full\" "
                "warning per member past the limit",
                not any(w in flog for w in ("cannot apply", "at most", "is full")),
                "\n".join(x for x in flog.splitlines()
                          if "cannot apply" in x or "at most" in x or "is full" in x)[:2000])
    finally:
        th.stop_site(t, pf, sinks, daemons)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
