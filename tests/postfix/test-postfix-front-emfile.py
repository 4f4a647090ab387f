#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-emfile.py: the front out of descriptors (EMFILE) keeps its sessions,
says why, and serves again once descriptors are free.

  test-postfix-front-emfile.py --build-dir BUILD [--io-threads N]

What (msgtrk-submit-front against a scripted upstream, scripted_front.py), with SESSIONS
sessions open and the running front's RLIMIT_NOFILE set by prlimit(2):
  A. to the descriptors it holds: OVER clients connect and wait in the backlog (accept
     fails with EMFILE: no greeting in 1 s); the front runs on, every session opened
     before answers NOOP 250, and the log says so once (accept failures are logged at most
     every SERVER_LISTENER_ACCEPT_LOG_INTERVAL_S, with their count and what to do), the
     accept loop backing off (SERVER_LISTENER_ACCEPT_BACKOFF_US) instead of spinning;
  B. to one more: each waiting client is accepted, its upstream link cannot be made, and
     it is told 421 at once (the cause logged);
  C. back to its own: new clients are greeted 220 and a message is taken (250);
  D. the front exits 0 on SIGTERM;
  E. a front started under prlimit(1) with max_connections=E_MAX_CONNECTIONS: with a hard
     limit below the need (2 a session + 32 kept slot files + 64) it warns at start with
     the figures and what to change (LimitNOFILE=); with a hard limit above it raises its
     soft limit to it.
How: the front as root (user=nobody) or the caller, on a free loopback port; its limit set
by prlimit(2) as the front's own user (setpriv(1), util-linux).
Limits: none beyond Python 3 and the built front.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import wait_log  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front,  # noqa: E402
                            start_front_conf, stop_front, test_setup, test_teardown)

SESSIONS = 4
OVER = 3
E_MAX_CONNECTIONS = 200
WAIT = 10.0


def greeted(c, timeout):
    """The code of @c's greeting (one line) within @timeout s, 0 if none came, read from the
    socket itself: after a timeout a socket's makefile() reader may not be read again."""
    c.sock.settimeout(timeout)
    try:
        data = c.sock.recv(512)
    except (socket.timeout, OSError):
        data = b""
    c.sock.settimeout(10)
    return int(data[:3]) if data[:3].isdigit() else 0


def limit_hard(pid):
    """@pid's hard RLIMIT_NOFILE."""
    return int([line.split()[4] for line in open("/proc/%d/limits" % pid)
                if line.startswith("Max open files")][0])


def set_nofile(pid, soft, hard):
    """@pid's RLIMIT_NOFILE set to @soft, @hard (its own). As the front's own user when the
    front dropped root: prlimit(2) on another user's process needs CAP_SYS_RESOURCE, which
    a container may not grant root; the same user may."""
    st = os.stat("/proc/%d" % pid)
    if st.st_uid == os.geteuid():
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        return
    subprocess.run(["setpriv", "--reuid=%d" % st.st_uid, "--regid=%d" % st.st_gid,
                    "--clear-groups", "prlimit", "--pid", str(pid),
                    "--nofile=%d:%d" % (soft, hard)], check=True)


def wait_until(cond, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def check_start_limit(t, exe, base, up):
    """E. At start, the open-files limit against max_connections (front_check_open_files)."""
    state = os.path.join(base, "state-e")
    os.makedirs(os.path.join(state, "postfix-registrations"))
    user = ""
    if os.geteuid() == 0:
        for d in (state, os.path.join(state, "postfix-registrations")):
            shutil.chown(d, "nobody", "nogroup")
        user = "user=nobody\n"
    conf = ("[front]\nlisten=127.0.0.1:0\nhostname=front.test.example\n"
            "upstream=127.0.0.1:%d\nstate_dir=%s\nmax_connections=%d\nupstream_pool=0\n%s"
            % (up.port, state, E_MAX_CONNECTIONS, user))
    # 2 a session, the 32 slot files kept open (POSTFIX_REGISTRATION_SLOT_OPEN), 64 spare
    need = E_MAX_CONNECTIONS * 2 + 32 + 64
    for name, limits in (("front-e1", "100:100"), ("front-e2", "100:%d" % (need + 100))):
        proc, _ = start_front_conf(exe, base, name, conf,
                                   wrapper=("prlimit", "--nofile=" + limits, "--"))
        soft = int([line.split()[3] for line in open("/proc/%d/limits" % proc.pid)
                    if line.startswith("Max open files")][0])
        status = stop_front(proc)
        text = open(os.path.join(base, name + ".log"), errors="replace").read()
        if name == "front-e1":
            t.check("E. hard limit 100, max_connections=%d: the start warns with the need and "
                    "what to change" % E_MAX_CONNECTIONS,
                    "max_connections=%d needs about %d open files, but the limit is 100"
                    % (E_MAX_CONNECTIONS, need) in text and "LimitNOFILE" in text
                    and status == 0, text)
        else:
            t.check("E. hard limit above the need: the soft limit raised to it (%d), no "
                    "warning" % soft, soft == need and "needs about" not in text
                    and status == 0, text)


def main():
    setup = test_setup("msgtrk-front-emfile-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    up = PostfixLike()
    proc, port = start_front(exe, base, "front", up, source_root,
                             "max_connections=100\nupstream_pool=0\n")
    log = os.path.join(base, "front.log")
    procs = [proc]
    try:
        held = []
        for _ in range(SESSIONS):
            c = Client(port)
            c.reply()
            c.cmd(b"EHLO client.test.example\r\n")
            held.append(c)
        fds = len(os.listdir("/proc/%d/fd" % proc.pid))
        hard = limit_hard(proc.pid)

        # A. No descriptor left: the accept fails (EMFILE), the clients wait.
        set_nofile(proc.pid, fds, hard)
        waiting = []
        for _ in range(OVER):
            c = Client(port)
            waiting.append(c)
            t.equal("A. a client over the descriptors waits in the backlog (no greeting in 1 s)",
                    greeted(c, 1.0), 0)
        t.check("A. the front still runs", proc.poll() is None)
        t.equal("A. every session opened before answers NOOP",
                [c.cmd(b"NOOP\r\n")[0] for c in held], [250] * len(held))
        text = wait_log(log, "accept: Too many open files")
        lines = [x for x in text.splitlines() if "accept: Too many open files" in x]
        t.check("A. the log says why and what to do, once over %d s of accepts retried every "
                "100 ms (%d lines)" % (OVER, len(lines)),
                len(lines) == 1 and "LimitNOFILE" in lines[0]
                and "connections wait in the backlog" in lines[0], "\n".join(lines))

        # B. One descriptor more: each waiting client is accepted, but its upstream link
        # cannot be made: 421, at once, and the next.
        set_nofile(proc.pid, fds + 1, hard)
        served = [greeted(c, 2.0) for c in waiting]
        t.equal("B. with a descriptor for the client only, each waiting client is told 421",
                served, [421] * len(waiting))
        for c in waiting:
            c.sock.close()
        # Logged when the 421 is sent: the log thread may write it after the client read it.
        text = wait_log(log, "socket: Too many open files")
        t.check("B. the 421's cause logged (the upstream connect's EMFILE)",
                "cannot connect to the upstream" in text and "socket: Too many open files" in text,
                text[-1500:])
        set_nofile(proc.pid, hard, hard)
        waiting = [Client(port) for _ in range(OVER)]

        for c in held:
            code, _ = c.cmd(b"QUIT\r\n")
            c.sock.close()
        t.equal("C. with the limit back, new clients are greeted",
                [greeted(c, WAIT) for c in waiting], [220] * len(waiting))
        for c in waiting:
            c.cmd(b"QUIT\r\n")
            c.sock.close()
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.test.example\r\n")
        c.cmd(b"MAIL FROM:<s@test.example>\r\n")
        c.cmd(b"RCPT TO:<r@ok.test.example>\r\n")
        c.cmd(b"DATA\r\n")
        code, _ = c.cmd(b"Subject: emfile\r\n\r\nhi\r\n.\r\n")
        t.equal("C. a new client's message is taken", code, 250)
        c.cmd(b"QUIT\r\n")
        c.sock.close()
        t.equal("D. the front exits 0 on SIGTERM", stop_front(proc), 0)
        check_start_limit(t, exe, base, up)
    finally:
        test_teardown(procs, base, t.failures)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
