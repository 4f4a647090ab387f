#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-log-stall.py: msgtrk-submit-front goes on serving while its stderr
(journald's pipe under systemd) is full and nobody reads it (docs/logging.md).

  test-postfix-front-log-stall.py --build-dir BUILD [--io-threads N]

What: the front runs with --verbose (lines per session), its stderr a pipe that the test
fills to the last octet once the front listens, then does not read. SESSIONS clients one
after the other (greeting, EHLO, QUIT): each is served within SESSION_MAX_S (before the
log thread, the first one's log line blocked the loop and no session was served: 0 of 20
on 9cb387a). Then the pipe is read (the queue written out) and the front stopped: at most
SERVER_LOG_QUEUE_MAX_LINES lines came out after the filler before one line counting the
dropped ones, and "Stopped" is the last line (the queue written out at exit).
How: a scripted upstream (scripted_front.PostfixLike), the front on loopback.
Limits: about 10 s. Skips (77) when the front is not built.
Never: binds anything but loopback.
"""

import fcntl
import os
import re
import shutil
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import PostfixLike, start_front, stop_front, test_setup  # noqa: E402

# Sessions logged into the full pipe: about 3 lines each with --verbose, past the queue.
SESSIONS = 2000
SESSION_MAX_S = 3
F_SETPIPE_SZ = 1031
FILLER = b"\0"  # never in a log line: control characters are escaped


def queue_max_lines(source_root):
    """SERVER_LOG_QUEUE_MAX_LINES, read from server-log.h."""
    with open(os.path.join(source_root, "server", "common", "server-log.h")) as f:
        return int(re.search(r"#define SERVER_LOG_QUEUE_MAX_LINES (\d+)", f.read()).group(1))


def fill(fd):
    """Writes FILLER into the pipe @fd until not one more octet fits."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    for n in (512, 64, 1):
        while True:
            try:
                os.write(fd, FILLER * n)
            except BlockingIOError:
                break
    fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def session(port):
    """Greeting, EHLO, QUIT on a new connection; the seconds it took, None if not served."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=SESSION_MAX_S * 2) as s:
            f = s.makefile("rb")
            if not f.readline().startswith(b"220 "):
                return None
            s.sendall(b"EHLO client.example\r\n")
            line = f.readline()
            while line[3:4] == b"-":
                line = f.readline()
            s.sendall(b"QUIT\r\n")
            if not f.readline().startswith(b"221 "):
                return None
    except OSError:
        return None
    return time.monotonic() - t0


def main():
    setup = test_setup("msgtrk-front-log-stall-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    limit = queue_max_lines(source_root)
    up = PostfixLike()
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)  # the least: one page
    proc, port = start_front(exe, base, "stall", up, source_root, "upstream_pool=0\n",
                             output=w, args=["--verbose"])
    got = bytearray()
    try:
        # Its start-up lines are in the pipe already (less than a page); then full.
        fill(w)
        os.close(w)  # the front's copy is the last: the reader sees its exit
        w = -1
        served = []
        for _ in range(SESSIONS):  # until the first one not served in time
            took = session(port)
            if took is None or took >= SESSION_MAX_S:
                break
            served.append(took)
        t.check("stderr full and unread: %d sessions one after the other each served "
                "within %d s" % (SESSIONS, SESSION_MAX_S),
                len(served) == SESSIONS,
                "%d served, then one %s" % (len(served), "not served" if took is None
                                            else "in %.1f s" % took))

        def read_all():
            while True:
                b = os.read(r, 65536)
                if not b:
                    return
                got.extend(b)

        reader = threading.Thread(target=read_all)
        reader.start()
        # The stop's own lines must find room: the queue written out first (its dropped
        # count is the log thread's next line once the pipe is read), else a loaded
        # machine's SIGTERM could come while the queue is still full and its "Signal
        # received" be dropped too (a second count line).
        deadline = time.monotonic() + 30
        while (b" log lines dropped, stderr blocked (" not in got
               and time.monotonic() < deadline):
            time.sleep(0.02)
        status = stop_front(proc)
        reader.join(30)
        t.equal("once read, the front stops (exit 0)", status, 0)
    finally:
        if w >= 0:
            os.close(w)
        stop_front(proc)
    after = bytes(got).rpartition(FILLER)[2].decode(errors="replace").splitlines()
    drops = [i for i, x in enumerate(after) if " log lines dropped, stderr blocked (" in x]
    t.check("at most SERVER_LOG_QUEUE_MAX_LINES (%d) lines were held, then one line counts "
            "the dropped ones (a warning, by level)" % limit,
            len(drops) == 1 and drops[0] <= limit and ": warning: " in after[drops[0]]
            and "info " in after[drops[0]],
            "%d lines after the filler; drop lines at %r: %r"
            % (len(after), drops, [after[i] for i in drops][:2]))
    t.check("the queue is written out at exit: 'Stopped' is the last line",
            bool(after) and after[-1].endswith(": notice: Stopped"), repr(after[-3:]))
    os.close(r)
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
