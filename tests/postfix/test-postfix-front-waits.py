#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-waits.py: what a front session waits for without holding a thread.

  test-postfix-front-waits.py --build-dir BUILD

What (msgtrk-submit-front against a scripted upstream, scripted_front.py; no XFORWARD
offered, so a tracked message's pending registration is named by its Message-ID):
  (m) a message whose Message-ID is in flight parks (mid_acquire), holding no pool
      thread: a tracked message A holds Message-ID M (its header sent, no "."), then
      MID_WAITERS untracked messages with M send their data and wait; the front's thread
      count does not grow while they wait (before: one pool thread each); A's "." ends
      A (250) and every waiter is woken by A's release and answered 250 within
      WAKE_WITHIN s; a stop (SIGTERM) while another waiter is parked ends its wait (451,
      or 421 when the stop shut its upstream link down first), the front exits.
How: the front as root (user=nobody) or the caller, io_threads 1, on a free loopback port.
Limits: none beyond Python 3 and the built front.
"""

import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front,  # noqa: E402
                            test_setup, test_teardown)
from tracking_harness import AUTH  # noqa: E402

MID_WAITERS = 8
WAKE_WITHIN = 1.5


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def at_data(port, envid):
    """A session at the 354 of DATA, tracked with @envid unless None."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO client.test.example\r\n")
    if envid is None:
        c.cmd(b"MAIL FROM:<s@test.example>\r\n")
    else:
        c.cmd(b"MAIL FROM:<s@test.example> ENVID=%s MTRK=%s:86400\r\n"
              % (envid.encode(), AUTH.encode()))
    c.cmd(b"RCPT TO:<r@ok.test.example>\r\n")
    code, _ = c.cmd(b"DATA\r\n")
    return c, code


def header(mid):
    return b"Message-ID: <%s>\r\nSubject: waits\r\n\r\nhi\r\n" % mid.encode()


def main():
    setup = test_setup("msgtrk-front-waits-")
    if setup is None:
        return 0
    exe, source_root, base = setup
    t = pi.Checker()
    up = PostfixLike(unique_qids=True)
    procs = []
    try:
        proc, port = start_front(exe, base, "front", up, source_root,
                                 "pending_claim_wait=30\nio_threads=1\n")
        procs.append(proc)

        # (m) A holds M; the waiters park.
        mid = "in-flight@test.example"
        a, code = at_data(port, "envA@test.example")
        t.equal("(m) A at DATA", code, 354)
        a.sock.sendall(header(mid))
        time.sleep(0.3)
        waiters = []
        for i in range(MID_WAITERS):
            c, code = at_data(port, None)
            waiters.append((c, code))
        t.check("(m) the waiters at DATA", all(code == 354 for _, code in waiters))
        time.sleep(0.3)
        before = threads(proc.pid)
        for c, _ in waiters:
            c.sock.sendall(header(mid) + b".\r\n")
        time.sleep(1.0)
        during = threads(proc.pid)
        t.check("(m) %d messages waiting for Message-ID <%s> hold no thread (threads %d "
                "before, %d while they wait)" % (MID_WAITERS, mid, before, during),
                during <= before, "%d > %d" % (during, before))
        t0 = time.monotonic()
        code, text = a.cmd(b".\r\n")
        t.equal("(m) A's 250", code, 250)
        replies = [c.reply() for c, _ in waiters]
        took = time.monotonic() - t0
        t.check("(m) every waiter woken by A's release and answered 250 (%.2f s)" % took,
                all(code == 250 for code, _ in replies) and took < WAKE_WITHIN,
                repr(replies))
        for c, _ in waiters:
            c.sock.close()
        a.sock.close()

        # (m) A stop ends a parked wait.
        mid = "stopped@test.example"
        a, code = at_data(port, "envA2@test.example")
        a.sock.sendall(header(mid))
        time.sleep(0.3)
        w, code = at_data(port, None)
        w.sock.sendall(header(mid) + b".\r\n")
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, text = w.reply()
        took = time.monotonic() - t0
        t.check("(m) a stop ends the parked wait: 451 or 421 (%.2f s)" % took,
                code in (421, 451) and took < 3, "%d %r" % (code, text))
        try:
            rc = proc.wait(10)
        except Exception:
            rc = None
        t.check("(m) the front exits after it", rc == 0, repr(rc))
        a.sock.close()
        w.sock.close()
    except (OSError, RuntimeError) as e:
        t.check("no harness error", False, repr(e))
    finally:
        if t.failures:
            print("# front log:\n# " + open(os.path.join(base, "front.log")).read()[-3000:]
                  .replace("\n", "\n# "))
        test_teardown(procs, base, t.failures)
    print("1..%d" % t.count)
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
