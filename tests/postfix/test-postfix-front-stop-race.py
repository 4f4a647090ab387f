#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-stop-race.py: a stop of msgtrk-submit-front after the "." of a
tracked message reached the upstream, before the front began to read the reply (review 2,
issue 11). Fails on f661fb0.

  test-postfix-front-stop-race.py --build-dir BUILD

The window: cmd_data writes the data and its "." upstream, then waits for the pending
registration's fdatasync (durable_journal_wait), then reads the reply with the session's
cancellable. A SIGTERM in that window: the read fails at once (fill_socket's
g_cancellable_set_error_if_cancelled, before any recv), session_cancelled's dot_wait is
cleared by that failure, and the client hears "421 Lost the mail system" for a message
the upstream queued: the client sends it again (delivered twice). The window is made
wide here with strace (every fdatasync/fsync of the front delayed by 2 s); on a real disk
it is the fdatasync's time. Expected: the client gets the upstream's 250.
Skips (77) without the front or strace. A scripted upstream (test-postfix-front-review's
PostfixLike), no Postfix.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front, test_setup  # noqa: E402
import tracking_harness as th  # noqa: E402

STRACE_DELAY_US = 2000000


def main():
    strace = shutil.which("strace")
    if strace is None:
        print("1..0 # SKIP strace is missing")
        return 77
    setup = test_setup("msgtrk-front-stop-race-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    up = PostfixLike()
    proc, port = start_front(exe, base, "front", up, source_root)
    tracer = None
    try:
        tracer = subprocess.Popen([strace, "-f", "-qq", "-o", "/dev/null",
                                   "-e", "trace=fdatasync,fsync",
                                   "-e", "inject=fdatasync,fsync:delay_exit=%d" % STRACE_DELAY_US,
                                   "-p", str(proc.pid)])
        time.sleep(1)  # attached
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        code, _ = c.cmd(b"MAIL FROM:<a@example.com> ENVID=race1 MTRK=%s\r\n"
                        % th.AUTH.encode())
        t.equal("MAIL with MTRK", code, 250)
        c.cmd(b"RCPT TO:<b@example.com>\r\n")
        t.equal("DATA", c.cmd(b"DATA\r\n")[0], 354)
        c.sock.sendall(b"Message-ID: <race1@example.com>\r\nSubject: s\r\n\r\nbody\r\n.\r\n")
        th.wait_for("the '.' upstream", lambda: up.dots == 1, 20)
        time.sleep(0.3)  # the front is in the (delayed) fdatasync, the 250 unread
        proc.send_signal(signal.SIGTERM)
        code, text = c.reply()
        proc.wait(30)
        t.check("SIGTERM between the '.' upstream and the read of its reply: the client "
                "gets the upstream's 250 (it queued the message), not 421",
                up.dots == 1 and code == 250, "upstream took %d; the client got %r"
                % (up.dots, text))
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
