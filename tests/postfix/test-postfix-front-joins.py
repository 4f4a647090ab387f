#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-joins.py: the front's count of its pending registration joins.

  test-postfix-front-joins.py --build-dir BUILD

What (msgtrk-submit-front against a scripted upstream that offers XFORWARD with IDENT,
scripted_front.PostfixLike, no Postfix): a tracked message's pending registration by
ident is written by a pool thread from Postfix's 354 on and joined before the first data
octet goes upstream (pending_join_write); at its stop the front logs (info: --verbose)
how many of those joins found the write done and how many waited for it
(docs/postfix-front-io.md, "The pending registration started at the 354").
  (a) --verbose, one tracked message: 250, the upstream got "XFORWARD IDENT=", the
      <ident>.pending file is there after it; after SIGTERM (exit 0) the log has the
      summary line once, its two counts adding up to 1.
  (b) (strace) the slot's link(2) delayed by LINK_DELAY_S: the write is not done when the
      data comes, so the join waits: the summary says 0 found done, 1 waited; the message
      still gets its 250.
  (c) without --verbose: one tracked message, no summary line (info lines are not
      written); with --verbose and only an untracked message: no summary line either
      (no join to count).
  (d) (strace) every fdatasync of the front fails (EIO): the tracked message gets no
      250, and the journal's header names no boot from then on (octets 20 to 55
      zeroed: server/common/durable-group.c), so that a replay after the front's death
      in this same boot restores its pending registrations by ident, as after a power
      cut (docs/durability.md, "No record after the 250 by ident").
How: the front as root (user=nobody) or the caller, io_threads 1, on a free loopback port.
Limits: skips (77) without the front; (b) skips without strace.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front,  # noqa: E402
                            stop_front, test_setup, wait_traced)
import tracking_harness as th  # noqa: E402

LINK_DELAY_S = 1
STOP_MAX_S = 10
SUMMARY = re.compile(r"Pending registration joins before the data went upstream: "
                     r"(\d+) found the write done, (\d+) waited for it")


def tracked_message(port, n):
    """A whole tracked message (ENVID, MTRK, one recipient) on a session of its own; the
    code of the reply to its "." and its text."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO joins%d.example\r\n" % n)
    code, text = c.cmd(b"MAIL FROM:<a@example.com> ENVID=joins%d MTRK=%s\r\n"
                       % (n, th.AUTH.encode()))
    if code != 250:
        return code, text
    c.cmd(b"RCPT TO:<b%d@example.com>\r\n" % n)
    code, text = c.cmd(b"DATA\r\n")
    if code != 354:
        return code, text
    c.sock.sendall(b"Message-ID: <joins%d@example.com>\r\nSubject: s\r\n\r\nbody\r\n.\r\n" % n)
    result = c.reply()
    c.cmd(b"QUIT\r\n")
    c.sock.close()
    return result


def summaries(base, name):
    """The (found done, waited) counts of each summary line in the front @name's log."""
    with open(os.path.join(base, name + ".log"), errors="replace") as f:
        return [(int(m.group(1)), int(m.group(2))) for m in SUMMARY.finditer(f.read())]


def pending_files(reg_dir):
    return [n for n in os.listdir(reg_dir) if n.endswith(".pending")]


def verbose_one(t, exe, base, source_root):
    """Check (a)."""
    up = PostfixLike(unique_qids=True, xforward=True)
    proc, port = start_front(exe, base, "verbose", up, source_root, "io_threads=1\n",
                             args=["--verbose"])
    reg_dir = os.path.join(base, "verbose", "postfix-registrations")
    try:
        code, text = tracked_message(port, 0)
        t.equal("(a) the tracked message gets its 250", code, 250)
        t.check("(a) the upstream got XFORWARD IDENT= (the pending registration by ident)",
                any(x.startswith(b"XFORWARD IDENT=") for x in up.lines),
                repr([x for x in up.lines if x.startswith(b"XFORWARD")]))
        t.check("(a) its <ident>.pending is there for the follower",
                len(pending_files(reg_dir)) == 1, repr(sorted(os.listdir(reg_dir))))
    finally:
        status = stop_front(proc, STOP_MAX_S)
    t.equal("(a) the front exits 0 on SIGTERM", status, 0)
    found = summaries(base, "verbose")
    print("# (a) summary (found done, waited): %r" % found)
    t.check("(a) with --verbose the stop logs the joins' summary once, its counts adding "
            "up to the one tracked message", len(found) == 1 and sum(found[0]) == 1,
            repr(found))


def traced(strace, pid, calls, how):
    """strace attached to the process @pid (all its threads), injecting @how (strace's
    inject= action) into the system calls @calls; once it has attached."""
    tracer = subprocess.Popen([strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + calls,
                               "-e", "inject=%s:%s" % (calls, how), "-p", str(pid)])
    try:
        wait_traced(pid, tracer)
    except BaseException:
        tracer.terminate()
        tracer.wait(10)
        raise
    return tracer


def slow_link(t, exe, base, source_root):
    """Check (b)."""
    strace = shutil.which("strace")
    if strace is None:
        print("# SKIP (b) a slow link of the slot: strace is missing")
        return
    up = PostfixLike(unique_qids=True, xforward=True)
    proc, port = start_front(exe, base, "slow", up, source_root, "io_threads=1\n",
                             args=["--verbose"])
    tracer = None
    try:
        tracer = traced(strace, proc.pid, "link,linkat",
                        "delay_exit=%d" % (LINK_DELAY_S * 1000000))
        began = time.monotonic()
        code, text = tracked_message(port, 1)
        took = time.monotonic() - began
        t.check("(b) with the slot's link delayed %d s the tracked message gets its 250 "
                "after it" % LINK_DELAY_S, code == 250 and took >= LINK_DELAY_S,
                "%d %r in %.2f s" % (code, text, took))
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(10)
        status = stop_front(proc, STOP_MAX_S)
    t.equal("(b) the front exits 0 on SIGTERM", status, 0)
    t.equal("(b) the summary: the one join waited for the write", summaries(base, "slow"),
            [(0, 1)])


def failed_sync(t, exe, base, source_root):
    """Check (d)."""
    strace = shutil.which("strace")
    if strace is None:
        print("# SKIP (d) a failed sync: strace is missing")
        return
    up = PostfixLike(unique_qids=True, xforward=True)
    proc, port = start_front(exe, base, "syncfail", up, source_root, "io_threads=1\n")
    reg_dir = os.path.join(base, "syncfail", "postfix-registrations")
    journals = [n for n in os.listdir(reg_dir) if n.startswith(".journal-")]
    t.equal("(d) the front has one journal", len(journals), 1)
    path = os.path.join(reg_dir, journals[0]) if journals else "/nonexistent"
    with open(path, "rb") as f:
        before = f.read(56)[20:56]
    t.check("(d) its header names this boot", before
            == open("/proc/sys/kernel/random/boot_id", "rb").read()[:36], repr(before))
    tracer = None
    try:
        tracer = traced(strace, proc.pid, "fdatasync", "error=EIO")
        code, text = tracked_message(port, 3)
        t.check("(d) with every fdatasync failing the tracked message gets no 250",
                code != 250, "%d %r" % (code, text))
        with open(path, "rb") as f:
            after = f.read(56)[20:56]
        t.equal("(d) after the failed sync the header names no boot", after, b"\0" * 36)
    finally:
        if tracer is not None:
            tracer.terminate()
            tracer.wait(10)
        stop_front(proc, STOP_MAX_S)


def quiet(t, exe, base, source_root):
    """Check (c)."""
    up = PostfixLike(unique_qids=True, xforward=True)
    proc, port = start_front(exe, base, "quiet", up, source_root, "io_threads=1\n")
    try:
        code, _ = tracked_message(port, 2)
        t.equal("(c) without --verbose the tracked message gets its 250", code, 250)
    finally:
        status = stop_front(proc, STOP_MAX_S)
    t.equal("(c) the front exits 0 on SIGTERM", status, 0)
    t.equal("(c) without --verbose no summary line", summaries(base, "quiet"), [])
    up = PostfixLike(unique_qids=True, xforward=True)
    proc, port = start_front(exe, base, "untracked", up, source_root, "io_threads=1\n",
                             args=["--verbose"])
    try:
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO untracked.example\r\n")
        c.cmd(b"MAIL FROM:<a@example.com>\r\n")
        c.cmd(b"RCPT TO:<b@example.com>\r\n")
        c.cmd(b"DATA\r\n")
        c.sock.sendall(b"Subject: s\r\n\r\nbody\r\n.\r\n")
        t.equal("(c) an untracked message gets its 250", c.reply()[0], 250)
        c.cmd(b"QUIT\r\n")
    finally:
        status = stop_front(proc, STOP_MAX_S)
    t.equal("(c) the front exits 0 on SIGTERM", status, 0)
    t.equal("(c) with --verbose and no tracked message no summary line",
            summaries(base, "untracked"), [])


def main():
    setup = test_setup("msgtrk-front-joins-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    socket.setdefaulttimeout(30)
    verbose_one(t, exe, base, source_root)
    slow_link(t, exe, base, source_root)
    quiet(t, exe, base, source_root)
    if os.path.exists("/proc/sys/kernel/random/boot_id"):
        failed_sync(t, exe, base, source_root)
    else:
        print("# SKIP (d) a failed sync: no /proc/sys/kernel/random/boot_id")
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
