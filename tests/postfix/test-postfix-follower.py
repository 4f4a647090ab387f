#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower.py: Postfix's real verdicts, through msgtrk-postfix-follower, as
mtqpd's TRACK answers.

  test-postfix-follower.py --build-dir BUILD

A private Postfix (postfix_instance.py) on loopback with three sinks (250, 451, 550), a
local(8) mailbox and a local alias. A message to six recipients is submitted over SMTP and
registered as the submission front registers it (a .reg file for the queue id of the
"250 ... queued as" reply). The follower (real binary, as nobody) follows the real maillog;
mtqpd (real binary) answers TRACK with each recipient's outcome and Postfix's own text:
delivered (virtual, local), relayed 2.1.9 with Remote-MTA and the 250 reply, delayed with
the 451 reply and Will-Retry-Until = arrival + maximal_queue_lifetime (read with postconf),
failed with the 550 reply, and the alias expanded to its two targets. Then: the follower
killed with SIGKILL while a second message is delivered, restarted (nothing lost, nothing
duplicated); the log rotated (rename + postfix reload) mid-run, a third message tracked
from the new file; a truncated log read again from its start; unregistered messages never
get a record; lines it does not understand logged once and counted; Postfix restarted.
First, Postfix's port is taken before its start: it starts on another (postfix_instance).
Skips (77) unless root with Postfix installed.
"""

import base64
import email.utils
import glob
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (LIFETIME, SECRET, configure_site,  # noqa: E402
                              follower_daemon, read_log, recipients, register, site_state_dir,
                              start_mtqpd, stop_site, submit, track, wait_for)


def main():
    a = pi.test_args()
    follower_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(a.build_dir, "server", "mtqpd", "mtqpd")
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    sinks = []
    follower = mtqpd = None
    try:
        sinks = configure_site(pf)
        # Its port taken before the start (as another process's outgoing connection may
        # take free_port()'s port as its own): the start tries another one.
        with socket.socket() as squat:
            squat.bind(("127.0.0.1", pf.port))
            squat.listen(1)
            taken = pf.port
            pf.start()
        t.check("Postfix started on another port when its own was taken",
                pf.port != taken and "port %d: Address already in use" % taken
                in read_log(pf.log), "%d %d" % (taken, pf.port))

        state, regs = site_state_dir(pf)
        follower = follower_daemon(follower_exe, pf, state)
        follower.start()
        mtqpd, mport = start_mtqpd(mtqpd_exe, pf.base, state)

        # 1. Six recipients, each a different verdict of Postfix's.
        envid1 = "msg1.follower@test.example"
        rcpts1 = ["alice@test.example", "nobody@local.test.example", "x@ok.test.example",
                  "y@tmp.test.example", "z@perm.test.example", "team@local.test.example"]
        arrival = int(time.time())
        qid1 = submit(pf.port, envid1, rcpts1, "one")
        register(regs, qid1, envid1, rcpts1, arrival)
        t.check("queue id from Postfix's 250", len(qid1) >= 6, qid1)
        unreg = submit(pf.port, "unregistered@test.example", ["alice@test.example"], "un")

        def settled():
            r = recipients(track(mport, envid1))
            return r if len(r.get("alice@test.example", [])) == 2 and "y@tmp.test.example" in r \
                and "z@perm.test.example" in r and "x@ok.test.example" in r \
                and len(r.get("nobody@local.test.example", [])) == 2 else None
        r = wait_for("the six outcomes of message 1", settled)
        alice = {e.get("original-recipient"): e for e in r["alice@test.example"]}
        t.equal("virtual(8) delivery: delivered",
                alice.get("rfc822; alice@test.example", {}).get("action"), "delivered")
        t.equal("virtual(8) diagnostic is Postfix's text",
                alice.get("rfc822; alice@test.example", {}).get("diagnostic-code"),
                "X-Postfix; delivered to maildir")
        t.equal("alias target: delivered, Original-Recipient the alias",
                alice.get("rfc822; team@local.test.example", {}).get("action"), "delivered")
        nob = {e.get("original-recipient"): e for e in r["nobody@local.test.example"]}
        t.equal("local(8) mailbox: delivered",
                nob.get("rfc822; nobody@local.test.example", {}).get("diagnostic-code"),
                "X-Postfix; delivered to mailbox")
        t.equal("alias second target: delivered",
                nob.get("rfc822; team@local.test.example", {}).get("action"), "delivered")
        t.check("the alias itself has no entry left (replaced by its targets)",
                "team@local.test.example" not in r, str(r.get("team@local.test.example")))
        x = r["x@ok.test.example"][0]
        t.equal("smtp 250: relayed", x.get("action"), "relayed")
        t.equal("smtp 250: status 2.1.9", x.get("status"), "2.1.9")
        t.equal("smtp 250: Remote-MTA from relay=", x.get("remote-mta"), "dns; 127.0.0.1")
        t.equal("smtp 250: Postfix's reply as Diagnostic-Code", x.get("diagnostic-code"),
                "smtp; 250 2.0.0 Ok: queued as SINK1")
        y = r["y@tmp.test.example"][0]
        t.equal("smtp 451: delayed", y.get("action"), "delayed")
        t.equal("smtp 451: status", y.get("status"), "4.3.0")
        t.equal("smtp 451: diagnostic", y.get("diagnostic-code"),
                "smtp; 451 4.3.0 try again later")
        until = email.utils.parsedate_to_datetime(y.get("will-retry-until", "")).timestamp() \
            if y.get("will-retry-until") else 0
        t.check("Will-Retry-Until = arrival + maximal_queue_lifetime (postconf)",
                abs(until - (arrival + LIFETIME)) <= 2, "%s vs %d" % (until, arrival + LIFETIME))
        z = r["z@perm.test.example"][0]
        t.equal("smtp 550: failed", z.get("action"), "failed")
        t.equal("smtp 550: status", z.get("status"), "5.1.1")
        t.equal("smtp 550: diagnostic", z.get("diagnostic-code"),
                "smtp; 550 5.1.1 no such user here")
        t.check("an unregistered message gets no record",
                track(mport, "unregistered@test.example") is None, unreg)
        t.check("a wrong secret gets nothing",
                track(mport, envid1, base64.b64encode(bytes(32)).decode()) is None)

        # 2. kill -9 while message 2 is being delivered; restart; nothing lost or doubled.
        envid2 = "msg2.follower@test.example"
        rcpts2 = ["alice@test.example", "x@ok.test.example"]
        follower.stop(signal.SIGKILL)
        qid2 = submit(pf.port, envid2, rcpts2, "two")
        register(regs, qid2, envid2, rcpts2, int(time.time()))
        time.sleep(1.5)
        follower.start()
        r2 = wait_for("message 2 after the restart", lambda: (lambda r: r if len(r) == 2 else
                                                             None)(recipients(track(mport, envid2))))
        t.equal("after kill -9: both outcomes of message 2",
                sorted(r2), ["alice@test.example", "x@ok.test.example"])
        r1 = recipients(track(mport, envid1))
        if not t.equal("after kill -9: message 1 entries not duplicated",
                       sum(len(v) for v in r1.values()), 7):
            print("# " + repr(r1))
        t.equal("after kill -9: one entry per recipient of message 2",
                [len(v) for v in r2.values()], [1, 1])

        # 3. Rotation by rename mid-run (postfix reload reopens the log), then message 3.
        follower.stop(signal.SIGKILL)
        envid3 = "msg3.follower@test.example"
        qid3 = submit(pf.port, envid3, ["alice@test.example"], "three")
        register(regs, qid3, envid3, ["alice@test.example"], int(time.time()))
        # Its delivery logged before the rotation: what the follower reads from the old file.
        wait_for("message 3's delivery in the log", lambda: any(
            "%s: to=<alice@test.example>" % qid3 in x and "status=sent" in x
            for x in read_log(pf.log).splitlines()))
        os.rename(pf.log, pf.log + ".1")
        open(pf.log, "w").close()
        os.chmod(pf.log, 0o644)
        pf.postfix("reload")
        follower.start()  # its saved position is in maillog.1 now
        envid4 = "msg4.follower@test.example"
        qid4 = submit(pf.port, envid4, ["x@ok.test.example"], "four")
        register(regs, qid4, envid4, ["x@ok.test.example"], int(time.time()))
        wait_for("message 3 (rotated file) and 4 (new file)",
                 lambda: track(mport, envid3) and track(mport, envid4))
        t.check("rotation while down: the rest of the old file was read", True)
        wait_for("message 4 in the new log", lambda: qid4 in open(pf.log).read())
        os.rename(pf.log, pf.log + ".2")
        open(pf.log, "w").close()
        os.chmod(pf.log, 0o644)
        pf.postfix("reload")
        envid5 = "msg5.follower@test.example"
        qid5 = submit(pf.port, envid5, ["alice@test.example"], "five")
        register(regs, qid5, envid5, ["alice@test.example"], int(time.time()))
        r5 = wait_for("message 5 after a rotation while running",
                      lambda: recipients(track(mport, envid5)))
        t.equal("rotation while running: delivered", r5["alice@test.example"][0].get("action"),
                "delivered")

        # 4. Truncation (copytruncate): read again from the start, nothing doubled.
        with open(pf.log, "r+") as f:
            f.truncate(0)
        envid6 = "msg6.follower@test.example"
        qid6 = submit(pf.port, envid6, ["alice@test.example"], "six")
        register(regs, qid6, envid6, ["alice@test.example"], int(time.time()))
        r6 = wait_for("message 6 after truncation", lambda: recipients(track(mport, envid6)))
        t.equal("truncation: one entry", len(r6["alice@test.example"]), 1)

        # 5. Lines it does not understand: counted, logged once, never fatal.
        with open(pf.log, "a") as f:
            f.write("garbage that is no log line\n")
            f.write("Dec 04 21:35:14 mx postfix/smtp[1]: ABCDEF123: to=<a@b.example>, "
                    "relay=none, dsn=4.4.1\n")
        # 6. Postfix restarts (stop, start): the same log goes on.
        pf.stop()
        pf.start()
        envid7 = "msg7.follower@test.example"
        qid7 = submit(pf.port, envid7, ["z@perm.test.example"], "seven")
        register(regs, qid7, envid7, ["z@perm.test.example"], int(time.time()))
        r7 = wait_for("message 7 after a Postfix restart and unknown lines",
                      lambda: recipients(track(mport, envid7)))
        t.equal("after Postfix restarted: failed", r7["z@perm.test.example"][0].get("action"),
                "failed")

        t.equal("follower exits 0 on SIGTERM", follower.stop(), 0)
        flog = open(os.path.join(pf.base, "follower.log")).read()
        t.check("the follower never logged a secret", SECRET not in flog)
        t.equal("an unknown line is logged once", flog.count("does not understand"), 1)
        t.check("unknown lines are counted", "2 not understood" in flog, flog[-300:])
        t.check("no position file left behind as temp",
                not glob.glob(os.path.join(state, "*.tmp")))
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, [d for d in (follower, mtqpd) if d is not None])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
