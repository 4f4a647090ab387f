#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-probes.py: Postfix's address-verification probes are understood by
msgtrk-postfix-follower as probes: never tracked mail, never "not understood".

  test-postfix-follower-probes.py --build-dir BUILD [--save-log FILE]

What: a private Postfix (postfix_instance.py, configure_site: sinks answering 250, 451 and
550, local(8) with an alias, virtual mailboxes, a refused next hop) with
smtpd_recipient_restrictions = reject_unverified_recipient, so that each RCPT sends a
probe through verify(8) (sender double-bounce): its delivery agent logs
status=deliverable or status=undeliverable; then address_verify_negative_cache = no
(status=undeliverable-but-not-cached for the failed ones); and `sendmail -bv` (a probe a
user asks for: the same words, a report mailed back). A tracked message (registered as
the front does) to a mailbox and to the 250 sink in between. The follower and mtqpd are
the real binaries.
Checks: every probe word of verify(8) was logged by this Postfix (the capture is
fixtures/maillog-3.7.11-probes.txt, whose lines test-postfix-log parses as PROBE); the
follower logs no line it does not understand and "0 not understood" at its stop; the
tracked message is answered by mtqpd as Postfix delivered it (probes in between change
nothing); no probe's queue id is in the store (mtqpd knows only the tracked ENVID).
Fails on ab7d24a ("does not understand": 16 lines not understood).
Skips (77) unless root with Postfix installed. Never: touch the system's Postfix.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (Daemons, LineClient, configure_site, follower_daemon,  # noqa: E402
                              read_log, recipients, register, settle, site_state_dir,
                              start_mtqpd, stop_site, submit, track, wait_for)

PROBE_WORDS = ("deliverable", "undeliverable", "undeliverable-but-not-cached")
SENDMAIL = "/usr/sbin/sendmail"


def probe(port, rcpts):
    """One session that sends each of @rcpts as a RCPT (each one a probe, smtpd waits for
    its result up to address_verify_poll_count x address_verify_poll_delay); the codes."""
    c = LineClient(port)
    try:
        c.reply()
        c.cmd("EHLO client.test.example")
        c.cmd("MAIL FROM:<sender@test.example>")
        return [c.cmd("RCPT TO:<%s>" % r)[0] for r in rcpts]
    finally:
        c.cmd("QUIT")
        c.sock.close()


def probe_lines(log):
    """The delivery agents' probe lines of @log: [(queue id, recipient, word)]."""
    return re.findall(r" ([0-9A-F]{6,}): to=<([^>]*)>, .*status=(%s) \("
                      % "|".join(re.escape(w) for w in PROBE_WORDS), log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--save-log")
    a = ap.parse_args()
    reason = pi.skip_reason()
    if reason:
        print("1..0 # SKIP " + reason)
        return 77
    pi.raise_on_terminate()
    t = pi.Checker()
    started = time.monotonic()
    follower_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(a.build_dir, "server", "mtqpd", "mtqpd")
    pf = pi.PrivatePostfix()
    daemons = Daemons(pf.base)
    sinks = []
    try:
        sinks = configure_site(pf)
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_recipient_restrictions = reject_unverified_recipient, "
                    "permit_mynetworks, reject\n"
                    "unverified_recipient_reject_code = 550\n")
        with open(os.path.join(pf.conf, "master.cf"), "a") as f:
            f.write("pickup unix n - n 60 1 pickup\n")
        pf.start()
        state, regs = site_state_dir(pf)
        follower = follower_daemon(follower_exe, pf, state)
        follower.start()
        daemons.append(follower)
        mtqpd, mport = start_mtqpd(mtqpd_exe, pf.base, state)
        daemons.append(mtqpd)

        # Probes by smtpd (reject_unverified_recipient): each RCPT waits for its probe.
        codes = probe(pf.port, ["a@ok.test.example", "b@perm.test.example",
                                "alice@test.example", "nosuch@test.example",
                                "nobody@local.test.example", "team@local.test.example",
                                "c@tmp.test.example", "d@slow.test.example"])
        t.equal("reject_unverified_recipient: the probes' verdicts at RCPT", codes,
                [250, 550, 250, 550, 250, 250, 450, 450])

        # A tracked message among the probes (its recipients verified now).
        envid = "probes.real@test.example"
        arrival = int(time.time())
        qid = submit(pf.port, envid, ["alice@test.example", "a@ok.test.example"], "probes")
        register(regs, qid, envid, ["alice@test.example", "a@ok.test.example"], arrival)

        # A probe a user asks for (sendmail -bv: through pickup, a report mailed back).
        r = subprocess.run([SENDMAIL, "-C", pf.conf, "-bv", "-f", "sender@test.example",
                            "e@ok.test.example", "f@perm.test.example"], env=pi.CLEAN_ENV,
                           capture_output=True, text=True, timeout=30)
        t.equal("sendmail -bv accepted", r.returncode, 0)
        wait_for("the probes of sendmail -bv", lambda: {"e@ok.test.example",
                                                       "f@perm.test.example"}
                 <= {x[1] for x in probe_lines(open(pf.log, errors="replace").read())})

        # Without a negative cache: undeliverable-but-not-cached.
        subprocess.run(["/usr/sbin/postconf", "-c", pf.conf, "-e",
                        "address_verify_negative_cache = no"], env=pi.CLEAN_ENV, check=True)
        pf.postfix("reload")
        time.sleep(1)
        probe(pf.port, ["g@perm.test.example", "nosuch2@test.example"])

        # The delivery agents' lines reach the log through postlogd, perhaps after the
        # verdict reached smtpd: wait for every word (the check says what came).
        settle("every probe word in the log", lambda: {x[2] for x in probe_lines(
            read_log(pf.log))} >= set(PROBE_WORDS))
        log = read_log(pf.log)
        found = probe_lines(log)
        words = {x[2] for x in found}
        t.equal("Postfix logged every probe word of verify(8)", sorted(words),
                sorted(PROBE_WORDS))
        by_user = ("e@ok.test.example", "f@perm.test.example")
        t.check("smtpd's probes were sent by double-bounce, sendmail -bv's by the user",
                all(re.search(r" %s: from=<%s>, size=" % (q, "sender@test\.example"
                                                          if r in by_user else
                                                          "double-bounce@test\.example"), log)
                    for q, r, _ in found), repr(found))

        # The tracked message: mtqpd answers with Postfix's verdicts.
        def rec():
            return recipients(track(mport, envid))
        settle("the tracked message's two verdicts",
               lambda: all(rec().get(x) for x in ("alice@test.example", "a@ok.test.example")))
        got = rec()
        t.equal("tracked: alice delivered", [b.get("action") for b in
                                             got.get("alice@test.example", [])], ["delivered"])
        t.equal("tracked: a@ok relayed", [b.get("action") for b in
                                          got.get("a@ok.test.example", [])], ["relayed"])
        for q, rcpt, word in found:
            t.check("probe %s (%s, %s) has no registration" % (q, rcpt, word),
                    not os.path.exists(os.path.join(regs, q + ".reg")))

        # The follower (polling every 50 ms) has read the whole log by now.
        time.sleep(2)
        t.equal("the follower stops on SIGTERM", follower.stop(), 0)
        flog = open(follower.log, errors="replace").read()
        t.check("no probe line is a line the follower does not understand",
                "does not understand" not in flog, flog[-600:])
        m = re.search(r"(\d+) lines applied, (\d+) not understood", flog)
        t.check("the follower's count: 0 not understood", m is not None and m.group(2) == "0",
                m.group(0) if m else flog[-300:])
        if a.save_log:
            shutil.copy(pf.log, a.save_log)
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
