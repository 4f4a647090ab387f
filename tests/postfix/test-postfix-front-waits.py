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
  (t) TLS sessions run in the front's own pool, at most max_tls_sessions at once: with
      max_tls_sessions=2, two STARTTLS sessions held in TLS; a third client's STARTTLS
      gets "454 4.3.2 ... too many TLS sessions" and it goes on in clear text (EHLO 250),
      the log names max_tls_sessions; after one TLS session ends, its STARTTLS works.
      Meanwhile a clear-text message passes. Implicit TLS with max_tls_sessions=2: two
      clients greeted over TLS, a third closed at once without a handshake (logged), one
      after a TLS session ended greeted. max_tls_sessions 10000 (the bound) starts,
      10001 and 0 are refused at start. Each front exits 0 on SIGTERM.
How: the front as root (user=nobody) or the caller, io_threads 1, on a free loopback port.
Limits: none beyond Python 3 and the built front.
"""

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front,  # noqa: E402
                            start_front_conf, test_setup, test_teardown)
from tracking_harness import AUTH, wait_for, wait_log  # noqa: E402

MID_WAITERS = 8
# A's release wakes the waiters at once; then each message is a round trip through the
# front (ASan: several times slower) and the Python upstream: wide for a loaded 2-CPU
# machine, far below pending_claim_wait (30 s), which a waiter not woken would wait.
WAKE_WITHIN = 10


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def wait_held(state, mid):
    """Until the tracked message holding @mid has its pending registration by Message-ID
    under @state (written once mid_acquire gave it the Message-ID): then it holds @mid."""
    pending = os.path.join(state, "postfix-registrations",
                           hashlib.sha256(mid.encode()).hexdigest() + ".pending")
    wait_for("the pending registration of <%s>" % mid, lambda: os.path.exists(pending), 10)


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


def tls_client(port, ca):
    """An implicit TLS client of 127.0.0.1:@port: its TLS socket and the greeting's code,
    or (None, 0) when the front closed without a handshake."""
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError):
        raw.close()
        return None, 0
    line = sock.makefile("rb").readline()
    return sock, int(line[:3]) if line[:3].isdigit() else 0


def check_tls_cap(t, exe, base, source_root, up):
    """(t): max_tls_sessions, STARTTLS and implicit TLS (see the top)."""
    ca = os.path.join(base, "pki", "ca.pem")
    proc, port = start_front(exe, base, "front-tls", up, source_root,
                             "max_tls_sessions=2\ntls_auth_only=no\n")
    procs = [proc]
    held = []
    for i in range(2):
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.test.example\r\n")
        code = c.starttls(ca)
        ehlo, _ = c.cmd(b"EHLO client.test.example\r\n")
        t.check("(t) STARTTLS session %d of max_tls_sessions=2: 220, EHLO in TLS 250" % (i + 1),
                code == 220 and ehlo == 250, "%d %d" % (code, ehlo))
        held.append(c)
    third = Client(port)
    third.reply()
    third.cmd(b"EHLO client.test.example\r\n")
    code, text = third.cmd(b"STARTTLS\r\n")
    t.check("(t) the third STARTTLS: 454 4.3.2 too many TLS sessions",
            code == 454 and b"4.3.2" in text and b"too many TLS sessions" in text, repr(text))
    code, _ = third.cmd(b"EHLO client.test.example\r\n")
    t.equal("(t) that client goes on in clear text: EHLO 250", code, 250)
    code, _ = third.cmd(b"MAIL FROM:<s@test.example>\r\n")
    third.cmd(b"RCPT TO:<r@ok.test.example>\r\n")
    third.cmd(b"DATA\r\n")
    code, _ = third.cmd(b"Subject: clear\r\n\r\nhi\r\n.\r\n")
    t.equal("(t) a clear-text message passes meanwhile", code, 250)
    want = "STARTTLS refused (454): max_tls_sessions (2)"
    log = wait_log(os.path.join(base, "front-tls.log"), want)
    t.check("(t) the refusal logged with the key's name", want in log, log[-500:])
    code, _ = held[0].cmd(b"QUIT\r\n")
    held[0].sock.close()
    ok = False
    deadline = time.monotonic() + 5
    while not ok and time.monotonic() < deadline:
        time.sleep(0.2)
        code, _ = third.cmd(b"RSET\r\n")
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.test.example\r\n")
        code, _ = c.cmd(b"STARTTLS\r\n")
        c.sock.close()
        ok = code == 220
    t.check("(t) after one TLS session ended, STARTTLS works again", ok)
    third.sock.close()
    held[1].sock.close()

    # Implicit TLS.
    conf = open(os.path.join(base, "front-tls.conf")).read()
    conf = conf.replace("front-tls", "front-465") + "implicit_tls=yes\n"
    os.makedirs(os.path.join(base, "front-465", "postfix-registrations"))
    if os.geteuid() == 0:
        import pwd
        nobody = pwd.getpwnam("nobody")
        for d in ("front-465", os.path.join("front-465", "postfix-registrations")):
            os.chown(os.path.join(base, d), nobody.pw_uid, nobody.pw_gid)
    proc, port = start_front_conf(exe, base, "front-465", conf)
    procs.append(proc)
    held = [tls_client(port, ca) for _ in range(2)]
    t.check("(t) implicit TLS: two sessions (max_tls_sessions=2) greeted over TLS",
            all(code == 220 for _, code in held), repr([c for _, c in held]))
    sock, code = tls_client(port, ca)
    t.check("(t) implicit TLS: the third closed at once, no handshake", sock is None,
            repr(code))
    want = "closed without a reply: max_tls_sessions (2)"
    log = wait_log(os.path.join(base, "front-465.log"), want)
    t.check("(t) implicit TLS: its close logged with the key's name", want in log, log[-500:])
    held[0][0].close()
    ok = False
    deadline = time.monotonic() + 5
    while not ok and time.monotonic() < deadline:
        time.sleep(0.2)
        sock, code = tls_client(port, ca)
        ok = code == 220
        if sock is not None:
            sock.close()
    t.check("(t) implicit TLS: after one session ended, a new one is greeted", ok)
    held[1][0].close()

    for value, starts in (("10000", True), ("10001", False), ("0", False)):
        path = os.path.join(base, "front-bound.conf")
        with open(path, "w") as f:
            f.write(conf.replace("max_tls_sessions=2", "max_tls_sessions=" + value))
        if starts:
            p, _ = start_front_conf(exe, base, "front-bound", open(path).read())
            procs.append(p)
            t.check("(t) max_tls_sessions=%s (POSTFIX_FRONT_MAX_MAX_TLS_SESSIONS): starts"
                    % value, p.poll() is None)
        else:
            r = subprocess.run([exe, "--config", path, "--port-file",
                                os.path.join(base, "none.port")],
                               capture_output=True, text=True, timeout=30)
            t.check("(t) max_tls_sessions=%s: refused at start" % value,
                    r.returncode != 0 and "max_tls_sessions" in r.stderr + r.stdout,
                    r.stderr + r.stdout)
    # Each exits 0 on SIGTERM (in the ASan tree: nothing leaked, e.g. OpenSSL's per-thread
    # state of the TLS pool's threads).
    for name, p in zip(("front-tls", "front-465", "front-bound"), procs):
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        t.check("(t) %s exits 0 on SIGTERM" % name, rc == 0,
                "%r: %s" % (rc, open(os.path.join(base, name + ".log")).read()[-1500:]))
    return procs


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
        wait_held(os.path.join(base, "front"), mid)
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
        wait_held(os.path.join(base, "front"), mid)
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

        procs += check_tls_cap(t, exe, base, source_root, up)
    except (OSError, RuntimeError) as e:
        t.check("no harness error", False, repr(e))
    finally:
        if t.failures:
            for name in ("front", "front-tls", "front-465"):
                try:
                    print("# %s log:\n# " % name + open(os.path.join(base, name + ".log"))
                          .read()[-3000:].replace("\n", "\n# "))
                except OSError:
                    pass
        test_teardown(procs, base, t.failures)
    print("1..%d" % t.count)
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
