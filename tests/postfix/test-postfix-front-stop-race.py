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
Skips (77) without the front; the case above skips without strace. A scripted upstream
(test-postfix-front-review's PostfixLike), no Postfix.

Also (review 10b): a stop while the upstream pool waits for a partial greeting (an
upstream that sends "220-" and stalls, as postscreen's pregreet wait does): the greeting
reads sleep in recv() under SO_RCVTIMEO (idle_timeout, 300 s by default, past systemd's
90 s stop timeout) unless the stop interrupts them. Expected: the front exits within
GREET_STOP_MAX_S.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front,  # noqa: E402
                            start_front_conf, test_setup, wait_traced)
import tracking_harness as th  # noqa: E402

STRACE_DELAY_US = 2000000
GREET_STOP_MAX_S = 5


def greet_stop(t, exe, base):
    """A SIGTERM while the pool (and a client's session) wait for the rest of a partial
    upstream greeting: the front exits within GREET_STOP_MAX_S."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    held = []

    def serve():
        while True:
            try:
                a, _ = ls.accept()
            except OSError:
                return
            held.append(a)
            a.sendall(b"220-up.test the first line of a greeting, the rest stalls\r\n")

    threading.Thread(target=serve, daemon=True).start()
    state = os.path.join(base, "greet")
    reg = os.path.join(state, "postfix-registrations")
    os.makedirs(reg)
    user = ""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for d in (state, reg):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        user = "user=nobody\n"
    proc, port = start_front_conf(exe, base, "greet",
                                  "[front]\nlisten=127.0.0.1:0\nhostname=f.test\n"
                                  "upstream=127.0.0.1:%d\nstate_dir=%s\n%s"
                                  % (ls.getsockname()[1], state, user))
    try:
        th.wait_for("the pool's connections upstream", lambda: len(held) >= 1, 10)
        c = socket.create_connection(("127.0.0.1", port))  # a session waiting too
        time.sleep(1)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(GREET_STOP_MAX_S * 4)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - t0
        t.check("SIGTERM while the upstream's greeting stalls after \"220-\": the front "
                "exits within %d s" % GREET_STOP_MAX_S,
                proc.poll() is not None and took <= GREET_STOP_MAX_S,
                "%s after %.1f s" % ("exited" if proc.poll() is not None else "still running",
                                     took))
        c.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        ls.close()
        for a in held:
            a.close()


def main():
    setup = test_setup("msgtrk-front-stop-race-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    greet_stop(t, exe, base)
    strace = shutil.which("strace")
    if strace is None:
        print("# SKIP the fdatasync window: strace is missing")
        if not t.failures:
            shutil.rmtree(base, ignore_errors=True)
        return t.done(started)
    up = PostfixLike()
    proc, port = start_front(exe, base, "front", up, source_root)
    tracer = None
    try:
        tracer = subprocess.Popen([strace, "-f", "-qq", "-o", "/dev/null",
                                   "-e", "trace=fdatasync,fsync",
                                   "-e", "inject=fdatasync,fsync:delay_exit=%d" % STRACE_DELAY_US,
                                   "-p", str(proc.pid)])
        try:
            wait_traced(proc.pid, tracer)
        except RuntimeError as e:
            t.check("strace traces the front", False, str(e))
            return t.done(started)
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
