#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-coro.py: msgtrk-submit-front's sessions as coroutines on io_threads
loops (issue 11; docs/postfix-front-io.md, "The front on coroutines"): nothing one session
waits for stalls the others of its loop.

  test-postfix-front-coro.py --build-dir BUILD

With io_threads=1 (all sessions on one loop), then 2:
  1. one client stalls in the middle of a command line and another in the middle of a
     tracked message's data, while CLIENTS other clients each send a whole tracked
     message: every one gets its 250 within PARALLEL_MAX_S, and each 250's queue id has
     its registration on disk (nothing accepted untracked);
  2. (strace) every fdatasync of the front delayed by SYNC_DELAY_S: a tracked message
     waits for its registration's journal sync while another client sends untracked
     messages, each answered within FAST_MAX_S (the sync waits in a pool thread, not in
     the loop);
  2b. (strace) the registration's file calls delayed by FILE_DELAY_S each (pwrite64 of
     the journal record and the pending/QID.reg files, rename, unlink; the fdatasync
     not): the tracked message waits for them while another client's untracked messages
     are each answered within FAST_MAX_S (the registration's file I/O runs in a pool
     thread, never on the loop: docs/durability.md, "Off the loop thread");
  3. a stop (SIGTERM) with sessions parked between commands, in a command line and in a
     message's data: each hears "421 ... Shutting down", the front exits within
     STOP_MAX_S, and the message accepted before it has its registration;
  4. a stop while one session's "." reply is due (DOT_DELAY_S) and others of its loop are
     parked: they hear 421, it gets the upstream's 250 (a session that ended during the
     stop's wait must not block the loop: no g_cancellable_disconnect per session).
io_threads at its bounds: 64 starts, 0 and 65 are refused. In a debug build, no front's
log has the loop's watchdog warning of a resume of STALL_MIN_MS or more (a coroutine that
ran long without parking: a call strace delays; shorter ones are a loaded machine's).
Skips (77) without the front; check 2 skips without strace. A scripted upstream
(scripted_front.PostfixLike), no Postfix.
"""

import os
import re
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
                            stop_front, test_setup, wait_traced)
import tracking_harness as th  # noqa: E402

CLIENTS = 20
PARALLEL_MAX_S = 15
SYNC_DELAY_S = 2
FILE_DELAY_S = 1
FILE_CALLS = "pwrite64,rename,renameat,renameat2,unlink,unlinkat,link,linkat"
FAST_MAX_S = 1.0
STOP_MAX_S = 10
DOT_DELAY_S = 2.0
DOT_REPLY_MAX_S = 4.0  # the reply comes DOT_DELAY_S after the "." (FRONT_STOP_REPLY_WAIT_MS: 5 s)
IO_THREADS_MAX = 64
STALL_MIN_MS = FILE_DELAY_S * 1000 // 2  # a watchdog warning counted as a blocking call


def tracked_message(port, n, results):
    """A whole tracked message (ENVID, MTRK, a Message-ID of its own) on a session of its
    own; (code of the reply to the ".", its text) into @results[n]."""
    try:
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client%d.example\r\n" % n)
        code, text = c.cmd(b"MAIL FROM:<a@example.com> ENVID=coro%d MTRK=%s\r\n"
                           % (n, th.AUTH.encode()))
        if code != 250:
            results[n] = (code, text)
            return
        c.cmd(b"RCPT TO:<b%d@example.com>\r\n" % n)
        if c.cmd(b"DATA\r\n")[0] != 354:
            results[n] = (0, b"no 354")
            return
        c.sock.sendall(b"Message-ID: <coro%d@example.com>\r\nSubject: s\r\n\r\nbody\r\n.\r\n" % n)
        results[n] = c.reply()
        c.cmd(b"QUIT\r\n")
        c.sock.close()
    except OSError as e:
        results[n] = (0, str(e).encode())


def registered(reg_dir, text):
    """Whether the queue id of the 250 @text has its registration in @reg_dir."""
    words = text.decode(errors="replace").split()
    if "as" not in words:
        return False
    qid = words[words.index("as") + 1].strip()
    return os.path.exists(os.path.join(reg_dir, qid + ".reg"))


def stall_in_command(port):
    """A client that sends half a command line and then nothing."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO staller.example\r\n")
    c.sock.sendall(b"MAIL FROM:<stall@exa")
    return c


def tracked_to_data(port, helo, envid):
    """A client through the greeting, EHLO, a tracked MAIL, one RCPT and DATA."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO %s\r\n" % helo)
    c.cmd(b"MAIL FROM:<a@example.com> ENVID=%s MTRK=%s\r\n" % (envid, th.AUTH.encode()))
    c.cmd(b"RCPT TO:<b@example.com>\r\n")
    c.cmd(b"DATA\r\n")
    return c


def stall_in_data(port):
    """A client that sends half a tracked message's data and then nothing."""
    c = tracked_to_data(port, b"staller2.example", b"stall")
    c.sock.sendall(b"Message-ID: <stall@example.com>\r\nSubject: s\r\n\r\nhalf a bo")
    return c


def parallel(t, exe, base, source_root, io_threads):
    """Check 1."""
    label = "io_threads=%d" % io_threads
    up = PostfixLike(unique_qids=True)
    name = "par%d" % io_threads
    proc, port = start_front(exe, base, name, up, source_root,
                             "io_threads=%d\n" % io_threads)
    reg_dir = os.path.join(base, name, "postfix-registrations")
    try:
        s1 = stall_in_command(port)
        s2 = stall_in_data(port)
        results = {}
        began = time.monotonic()
        threads = [threading.Thread(target=tracked_message, args=(port, n, results))
                   for n in range(CLIENTS)]
        for th_ in threads:
            th_.start()
        for th_ in threads:
            th_.join(PARALLEL_MAX_S * 2)
        took = time.monotonic() - began
        ok = [n for n in range(CLIENTS) if results.get(n, (0,))[0] == 250]
        t.check("%s: with one client stalled mid-command and one mid-data, %d clients "
                "each get their tracked message's 250 within %d s"
                % (label, CLIENTS, PARALLEL_MAX_S),
                len(ok) == CLIENTS and took < PARALLEL_MAX_S,
                "%d of %d in %.1f s: %r" % (len(ok), CLIENTS, took,
                                            [results.get(n) for n in range(CLIENTS)
                                             if n not in ok][:3]))
        # (QID.reg comes right after the 250: the pending registration was durable before.)
        th.settle("the registrations", lambda: all(registered(reg_dir, results[n][1])
                                                    for n in ok), 10)
        t.check("%s: each 250's queue id has its registration" % label,
                all(registered(reg_dir, results[n][1]) for n in ok),
                "%s" % sorted(os.listdir(reg_dir))[:10])
        # The stalled ones are still served: the command line completed gets its reply.
        s1.sock.sendall(b"ple.com>\r\n")
        t.equal("%s: the client stalled mid-command is answered once its line ends"
                % label, s1.reply()[0], 250)
        s2.sock.sendall(b"dy\r\n.\r\n")
        code, text = s2.reply()
        th.settle("its registration", lambda: registered(reg_dir, text), 10)
        t.check("%s: the client stalled mid-data gets its 250 and a registration" % label,
                code == 250 and registered(reg_dir, text), text)
    finally:
        stop_front(proc, STOP_MAX_S)


def untracked_message(c, n):
    """One untracked message on the session of @c; the code of the reply to its "."."""
    c.cmd(b"MAIL FROM:<u@example.com>\r\n")
    c.cmd(b"RCPT TO:<v%d@example.com>\r\n" % n)
    c.cmd(b"DATA\r\n")
    c.sock.sendall(b"Subject: u\r\n\r\nbody\r\n.\r\n")
    return c.reply()[0]


def slow_sync(t, exe, base, source_root, calls="fdatasync,fsync", delay_s=SYNC_DELAY_S,
              name="sync", what="its registration's journal sync (%d s)" % SYNC_DELAY_S):
    """Check 2 (and 2b: @calls, the registration's file calls, each delayed by
    @delay_s)."""
    strace = shutil.which("strace")
    if strace is None:
        print("# SKIP a slow %s: strace is missing" % what)
        return
    up = PostfixLike(unique_qids=True)
    proc, port = start_front(exe, base, name, up, source_root, "io_threads=1\n")
    tracer = None
    try:
        tracer = subprocess.Popen([strace, "-f", "-qq", "-o", "/dev/null",
                                   "-e", "trace=" + calls,
                                   "-e", "inject=%s:delay_exit=%d"
                                   % (calls, delay_s * 1000000),
                                   "-p", str(proc.pid)])
        try:
            wait_traced(proc.pid, tracer)
        except RuntimeError as e:
            t.check("strace traces the front", False, str(e))
            return
        other = Client(port)
        other.reply()
        other.cmd(b"EHLO other.example\r\n")
        results = {}
        began = time.monotonic()
        tracked = threading.Thread(target=tracked_message, args=(port, 0, results))
        tracked.start()
        th.wait_for("the tracked message's '.' upstream", lambda: up.dots >= 1, 20)
        times = []
        codes = []
        while tracked.is_alive() and len(codes) < 5:
            t0 = time.monotonic()
            codes.append(untracked_message(other, len(codes)))
            times.append(time.monotonic() - t0)
        tracked.join(30)
        tracked_took = time.monotonic() - began
        t.check("a tracked message waits for %s while another client's untracked "
                "messages are each answered within %.1f s" % (what, FAST_MAX_S),
                results.get(0, (0,))[0] == 250 and tracked_took >= delay_s
                and codes and all(c == 250 for c in codes)
                and max(times) < FAST_MAX_S,
                "tracked %r in %.1f s; untracked %r in %r"
                % (results.get(0), tracked_took, codes, ["%.2f" % x for x in times]))
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(10)
        stop_front(proc, STOP_MAX_S)


def stop_parked(t, exe, base, source_root):
    """Check 3."""
    up = PostfixLike(unique_qids=True)
    proc, port = start_front(exe, base, "stop", up, source_root, "io_threads=1\n")
    reg_dir = os.path.join(base, "stop", "postfix-registrations")
    try:
        results = {}
        tracked_message(port, 0, results)
        th.settle("its registration", lambda: registered(reg_dir, results[0][1]), 10)
        idle = []
        for n in range(5):
            c = Client(port)
            c.reply()
            c.cmd(b"EHLO idle%d.example\r\n" % n)
            idle.append(c)
        s1 = stall_in_command(port)
        s2 = stall_in_data(port)
        time.sleep(0.2)
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        heard = []
        for c in idle + [s1, s2]:
            try:
                code, text = c.reply()
            except OSError as e:
                code, text = 0, str(e).encode()
            heard.append((code, b"Shutting down" in text))
        try:
            proc.wait(STOP_MAX_S)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - began
        t.check("a stop with 7 sessions parked (between commands, mid-command, mid-data): "
                "each hears 421 Shutting down", all(h == (421, True) for h in heard),
                repr(heard))
        t.check("the front exits within %d s of the stop" % STOP_MAX_S,
                proc.poll() == 0 and took < STOP_MAX_S, "%r after %.1f s" % (proc.poll(), took))
        t.check("the message accepted before the stop has its registration",
                results.get(0, (0,))[0] == 250 and registered(reg_dir, results[0][1]),
                repr(results.get(0)))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop_dot_due(t, exe, base, source_root):
    """Check 4: a stop while one session's "." reply is due (the upstream answers after
    DOT_DELAY_S) and others of the same loop are parked between commands: the parked ones
    end at once (421) without holding up the loop, the one whose message the upstream has
    gets the upstream's 250."""
    up = PostfixLike(dot_delay=DOT_DELAY_S, unique_qids=True)
    proc, port = start_front(exe, base, "dotdue", up, source_root, "io_threads=1\n")
    try:
        idle = []
        for n in range(5):
            c = Client(port)
            c.reply()
            c.cmd(b"EHLO idle%d.example\r\n" % n)
            idle.append(c)
        c = tracked_to_data(port, b"due.example", b"due")
        c.sock.sendall(b"Message-ID: <due@example.com>\r\nSubject: s\r\n\r\nbody\r\n.\r\n")
        th.wait_for("the '.' upstream", lambda: up.dots == 1, 20)
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        heard = [x.reply()[0] for x in idle]
        code, text = c.reply()
        took = time.monotonic() - stopped
        proc.wait(STOP_MAX_S)
        t.check("a stop while a '.' reply is due: the sessions parked beside it on its loop "
                "hear 421, it gets the upstream's 250 when it comes (within %.1f s, before "
                "the stop's 5 s wait ends)" % DOT_REPLY_MAX_S,
                heard == [421] * len(idle) and code == 250 and took < DOT_REPLY_MAX_S,
                "%r; %r after %.1f s" % (heard, text, took))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def bounds(t, exe, base, source_root):
    """io_threads at its bounds."""
    up = PostfixLike()
    proc, port = start_front(exe, base, "max", up, source_root,
                             "io_threads=%d\n" % IO_THREADS_MAX)
    try:
        c = Client(port)
        t.equal("io_threads=%d: the front starts and greets" % IO_THREADS_MAX, c.reply()[0], 220)
    finally:
        stop_front(proc, STOP_MAX_S)
    for bad in (0, IO_THREADS_MAX + 1):
        try:
            p, _ = start_front(exe, base, "bad%d" % bad, up, source_root,
                               "io_threads=%d\n" % bad)
            stop_front(p, STOP_MAX_S)
            refused, log = False, ""
        except RuntimeError as e:
            refused, log = True, str(e)
        t.check("io_threads=%d refused" % bad, refused and "io_threads" in log, log[-300:])


def main():
    setup = test_setup("msgtrk-front-coro-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    socket.setdefaulttimeout(30)
    for io_threads in (1, 2):
        parallel(t, exe, base, source_root, io_threads)
    slow_sync(t, exe, base, source_root)
    slow_sync(t, exe, base, source_root, calls=FILE_CALLS, delay_s=FILE_DELAY_S,
              name="files",
              what="its registration's file calls (%d s each)" % FILE_DELAY_S)
    stop_parked(t, exe, base, source_root)
    stop_dot_due(t, exe, base, source_root)
    bounds(t, exe, base, source_root)
    # Debug builds (SERVER_CORO_WATCHDOG) warn of a coroutine that ran long without
    # parking: a blocking call left in a session. Here those are the calls strace delays
    # (FILE_DELAY_S, SYNC_DELAY_S): a resume of STALL_MIN_MS or more. The watchdog times a
    # resume by the clock: a loop thread preempted on a loaded machine (ASan, two CPUs)
    # gets shorter warnings of its own (56 ms seen in par1, no call delayed there).
    stalls = []
    for name in ("par1", "par2", "sync", "files", "stop", "dotdue"):
        path = os.path.join(base, name + ".log")
        if os.path.exists(path):
            for line in open(path, errors="replace"):
                m = re.search(r" ran (\d+) ms without parking", line)
                if m and int(m.group(1)) >= STALL_MIN_MS:
                    stalls.append(line)
                elif m:
                    print("# not counted (below %d ms): %s" % (STALL_MIN_MS, line.strip()))
    t.check("no coroutine ran long without parking (the loop's watchdog)", not stalls,
            "".join(stalls[:3]))
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
