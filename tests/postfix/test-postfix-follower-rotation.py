#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-rotation.py: msgtrk-postfix-follower stopped while Postfix's log
is rotated, against a real Postfix.

  test-postfix-follower-rotation.py --build-dir BUILD

A private Postfix (postfix_instance.py) with the follower (real binary, as nobody) and
mtqpd (real binary). Each part stops the follower with SIGKILL after a tracked message was
applied, lets Postfix log more tracked messages, rotates, and starts the follower again:
every message logged after the saved position gets its outcome, none twice.

1. `postfix logrotate` (Postfix's own: maillog renamed to maillog.YYYYMMDD-HHMMSS, Postfix
   reloaded, the renamed file gzipped a second later: its inode is gone): the message
   logged before the rotation is read from the .gz, the one after from the new log.
2. copytruncate (logrotate's option: maillog copied to maillog.1, then truncated) and the
   log grown past the saved offset before the follower starts: the message logged before
   the copy is read from maillog.1, the one after from the start of the new content.
Skips (77) unless root with Postfix installed.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (configure_site, follower_daemon, recipients,  # noqa: E402
                              register, settle, site_state_dir, start_mtqpd, stop_site,
                              submit, track, wait_for)


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
        pf.start()

        state, regs = site_state_dir(pf)
        pos_file = os.path.join(state, "postfix-follower.pos")
        follower = follower_daemon(follower_exe, pf, state)
        flog_path = follower.log
        follower.start()
        mtqpd, mport = start_mtqpd(mtqpd_exe, pf.base, state)

        def send(envid, rcpts):
            """Submits and registers a message; waits until Postfix logged it done."""
            qid = submit(pf.port, envid, rcpts, envid)
            register(regs, qid, envid, rcpts, int(time.time()))
            wait_for("%s done in the log" % qid,
                     lambda: os.path.exists(pf.log)
                     and ("%s: removed" % qid) in open(pf.log).read())
            return qid

        def outcomes(envid, n):
            return settle("%d outcomes of %s" % (n, envid),
                          lambda: sum(len(v) for v in recipients(track(mport, envid)).values())
                          >= n)

        def entries(envid):
            return {k: len(v) for k, v in recipients(track(mport, envid)).items()}

        def saved_key():
            try:
                return int(open(pos_file).read().split("\n")[1].split()[0])
            except (OSError, IndexError, ValueError):
                return None

        def stopped_after(envid, rcpts):
            """A tracked message applied, then the follower killed (its position saved)."""
            send(envid, rcpts)
            t.check("%s applied before the stop" % envid, outcomes(envid, len(rcpts)))
            # The position saved in the current log (lines read in the first
            # registration_wait seconds after a start are held that long).
            t.check("%s: the position saved in the current log" % envid,
                    settle("the position in the current log", lambda: saved_key()
                           == os.stat(pf.log).st_ino, timeout=30))
            follower.stop(signal.SIGKILL)

        # 1. postfix logrotate while the follower is down.
        stopped_after("msg1.rotation@test.example", ["alice@test.example"])
        send("msg2.rotation@test.example", ["alice@test.example", "x@ok.test.example"])
        r = pf.postfix("logrotate")
        t.equal("postfix logrotate exits 0", r.returncode, 0)
        rotated = glob.glob(pf.log + ".*")
        t.check("the old log is gzipped, the renamed plain file gone",
                len(rotated) == 1 and rotated[0].endswith(".gz"), repr(rotated))
        send("msg3.rotation@test.example", ["x@ok.test.example"])
        os.chmod(pf.log, 0o644)  # Postfix creates it 0600; the follower runs as nobody
        follower.start()
        t.check("logrotate: the message logged before the rotation (read from the .gz)",
                outcomes("msg2.rotation@test.example", 2))
        t.check("logrotate: the message logged after it (the new log)",
                outcomes("msg3.rotation@test.example", 1))
        time.sleep(0.5)
        t.equal("logrotate: nothing twice (message 1)", entries("msg1.rotation@test.example"),
                {"alice@test.example": 1})
        t.equal("logrotate: nothing twice (message 2)", entries("msg2.rotation@test.example"),
                {"alice@test.example": 1, "x@ok.test.example": 1})
        t.equal("logrotate: nothing twice (message 3)", entries("msg3.rotation@test.example"),
                {"x@ok.test.example": 1})

        # 2. copytruncate while the follower is down, the log grown past the saved offset.
        stopped_after("msg4.rotation@test.example", ["x@ok.test.example"])
        send("msg5.rotation@test.example", ["alice@test.example"])
        saved = int(open(pos_file).read().split("\n")[1].split()[1])
        shutil.copyfile(pf.log, pf.log + ".1")
        with open(pf.log, "r+") as f:
            f.truncate(0)
        send("msg6.rotation@test.example", ["x@ok.test.example", "alice@test.example"])
        n = 0
        while os.path.getsize(pf.log) <= saved + 200:
            with open(pf.log, "a") as f:
                f.write("Dec  5 12:00:00 mx postfix/anvil[1]: statistics: filler %d\n" % n)
            n += 1
        follower.start()
        t.check("copytruncate: the message logged before the copy (read from maillog.1)",
                outcomes("msg5.rotation@test.example", 1))
        t.check("copytruncate: the message at the start of the new content",
                outcomes("msg6.rotation@test.example", 2))
        time.sleep(0.5)
        t.equal("copytruncate: nothing twice (message 4)", entries("msg4.rotation@test.example"),
                {"x@ok.test.example": 1})
        t.equal("copytruncate: nothing twice (message 5)", entries("msg5.rotation@test.example"),
                {"alice@test.example": 1})
        t.equal("copytruncate: nothing twice (message 6)", entries("msg6.rotation@test.example"),
                {"alice@test.example": 1, "x@ok.test.example": 1})

        t.equal("follower exits 0 on SIGTERM", follower.stop(), 0)
        flog = open(flog_path).read()
        t.check("the follower says where it resumed (the .gz)",
                "Resuming in the rotated log %s." % pf.log in flog and ".gz at offset" in flog,
                flog[-600:])
        t.check("the follower says where it resumed (the copy)",
                "Resuming in the rotated log %s.1 at offset" % pf.log in flog, flog[-600:])
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, [d for d in (follower, mtqpd) if d is not None])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
