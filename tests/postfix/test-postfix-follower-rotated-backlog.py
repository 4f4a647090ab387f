#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-rotated-backlog.py: the start found nothing to compare (the
log at the path empty: a rotation just then), so stamps are compared only once the log
was read to its end. A backlog spanning two rotated files (maillog.2, where the saved
position is, then maillog.1) written in a time zone nine hours ahead of the follower's:
the end of maillog.2 is not the end of the log. The tracked message's own header line
in maillog.1, nine hours "after" its arrival, must leave its registration alone.

  test-postfix-follower-rotated-backlog.py FOLLOWER

From helper-124's review (session 19): a poll that ends a rotated file hands out no line,
and was taken for the end of the log. As root, the follower runs as nobody.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import read_log, register, settle  # noqa: E402
import follower_logfile as fl  # noqa: E402



def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="follower-rotated-")
    t = pi.Checker()
    check = t.check
    started = time.monotonic()
    now = int(time.time())
    name = "rot"
    proc, state, regs, log, out = fl.run(exe, tmp, name, "registration_wait=1\n")
    # A first line, so the saved position has a head to be found by.
    register(regs, "EEEEEE001", "s1@test.example", ["alice@test.example"], now)
    with open(log, "a") as f:
        f.write(fl.LINE % "EEEEEE001")
    check("first line walked",
          fl.wait_file(fl.record_path(state, "s1@test.example"), 5))
    fl.stop(proc)
    # The backlog, written while the follower was stopped, Postfix 9 h ahead.
    ahead = 9 * 3600
    arrival = now - 12 * 3600
    qid = "DDDDDD061"
    with open(log, "a") as f:
        f.write(fl.HEADER % (fl.stamp(arrival - 60 + ahead), 23021, "DDDDDD0F1",
                                 "a@mx"))
    os.rename(log, log + ".2")
    register(regs, qid, "tz@test.example", ["alice@test.example"], arrival)
    with open(log + ".1", "w") as f:
        f.write(fl.HEADER % (fl.stamp(arrival + ahead), 23021, qid, "tz@mx"))
        f.write(fl.LINE % qid)
    open(log, "w").close()  # the rotation just then: nothing to compare at the start
    conf = os.path.join(tmp, name + ".conf")
    proc = subprocess.Popen([exe, "--config", conf, "--verbose"],
                            stdout=open(out, "a"), stderr=subprocess.STDOUT)
    try:
        # Started (the log's own file looked at, still empty), then a line of a registered
        # message in it: every line of the backlog before it has been walked once its
        # record is there.
        check("restarted", settle("restarted", lambda: proc.poll() is not None
                                  or read_log(out).count("Started") >= 2, 20)
              and proc.poll() is None, read_log(out)[-800:])
        register(regs, "EEEEEE002", "s2@test.example", ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(fl.LINE % "EEEEEE002")
        check("the backlog and the log's own file read",
              fl.wait_file(fl.record_path(state, "s2@test.example"), 10),
              read_log(out)[-1500:])
        rec = fl.record_path(state, "tz@test.example")
        check("the message's own header line (backlog, second rotated file) left its "
              "registration alone",
              os.path.exists(os.path.join(regs, qid + ".reg"))
              and "Action: delivered" in read_log(rec),
              repr(os.listdir(regs)) + read_log(out)[-1500:])
    finally:
        fl.stop(proc)
    if not t.failures:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
