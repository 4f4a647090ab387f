#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-lookup-stop.py: msgtrk-submit-front's client name lookup against a
name server that never answers: a stop ends within the front's stop bound, and a lookup
past peername_lookup_timeout is a temporary failure, as Postfix's smtpd has for a name
service that fails for now.

  test-postfix-front-lookup-stop.py --build-dir BUILD

What: the test re-runs itself in a mount and network namespace of its own (as
test-postfix-front-xclient.py: its namespace_files, with "timeout:30 attempts:1" in
resolv.conf) whose name server on 127.0.0.1:53 is a UDP socket of the test that reads
each query and never answers: a PTR lookup of a client blocks for 30 s in the resolver.
A scripted upstream (scripted_front.PostfixLike) records what the front sends it.
  1. A client from 127.0.0.9; once its PTR query reached the name server (the lookup in
     progress, no greeting yet), SIGTERM: the front exits 0 within STOP_BOUND (the
     listener's SERVER_LISTENER_STOP_GRACE_MS and the stop's FRONT_STOP_REPLY_WAIT_MS,
     msgtrk-submit-front(8) SIGNALS) and the client hears "421 4.3.2"; the upstream heard
     nothing of that client.
  2. peername_lookup_timeout=2: a client from 127.0.0.10 gets the upstream's greeting
     after about 2 s, and the upstream's XCLIENT says NAME=[TEMPUNAVAIL]
     REVERSE_NAME=[TEMPUNAVAIL] for it (Postfix's view of a temporary failure:
     test-postfix-front-xclient.py's "PTR SERVFAIL" case); the front logs that it gave
     up; a stop right after (the given-up lookup still in the resolver) within STOP_BOUND.
  3. peername_lookup_timeout at its limit (FRONT_MAX_PEERNAME_LOOKUP_TIMEOUT, 300) is
     taken, past it (301) and 0 are refused.
Fails on ab7d24a (1: the stop waits 30 s for the resolver; 2, 3: no such setting).
Skips (77) unless root with unshare, ip and mount. Never: change the host's files or
leave a process behind.
"""

import importlib.util
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import PostfixLike, start_front, test_setup, test_teardown  # noqa: E402
from tracking_harness import LineClient, wait_for  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "front_xclient", os.path.join(HERE, "test-postfix-front-xclient.py"))
xc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xc)

NS_FLAG = "MSGTRK_TEST_LOOKUP_STOP_NS"
RESOLVER_OPTIONS = "timeout:30 attempts:1"
# msgtrk-submit-front(8): the listener's grace (1 s) and the wait for replies to "." (5 s).
STOP_BOUND = 6.0
TIMEOUT = 2
MAX_TIMEOUT = 300


class SilentNameServer:
    """A UDP socket on 127.0.0.1:53 that reads queries and never answers; the query names
    seen."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.names = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, _ = self.sock.recvfrom(4096)
            except OSError:
                return
            # The question's name: length-prefixed labels after the 12-octet header.
            labels, i = [], 12
            while i < len(data) and data[i] != 0:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode(errors="replace"))
                i += 1 + n
            self.names.append(".".join(labels))

    def asked(self, name):
        return name in self.names


def greeted_within(client, seconds):
    """Whether the front wrote anything to @client within @seconds."""
    return bool(select.select([client.sock], [], [], seconds)[0])


def stop_time(proc):
    """SIGTERM to @proc; (its exit status, seconds it took), or (None, seconds) after
    STOP_BOUND + 10 s (then killed)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(STOP_BOUND + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    return rc, time.monotonic() - t0


def main():
    reason = xc.ns_skip_reason(need_dnsmasq=False)
    if reason:
        print("1..0 # SKIP " + reason)
        return 77
    if os.environ.get(NS_FLAG) != "1":
        xc.enter_namespace(NS_FLAG)
    pi.raise_on_terminate()
    setup = test_setup("msgtrk-front-lookup-stop-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    procs = []
    try:
        xc.namespace_files(base, RESOLVER_OPTIONS)
        ns = SilentNameServer()
        up = PostfixLike()

        # 1. A stop while a lookup hangs.
        proc, port = start_front(exe, base, "front", up, source_root)
        procs.append(proc)
        c = LineClient(port, "127.0.0.9")
        wait_for("the PTR query of 127.0.0.9", lambda: ns.asked("9.0.0.127.in-addr.arpa"), 10)
        t.check("no greeting while the lookup hangs", not greeted_within(c, 1.0))
        rc, took = stop_time(proc)
        t.equal("a stop during a hanging lookup: exit status", rc, 0)
        t.check("a stop during a hanging lookup ends within %.0f s" % STOP_BOUND,
                took <= STOP_BOUND, "took %.1f s" % took)
        code, text = c.reply()
        t.check("the client hears 421 4.3.2", code == 421 and "4.3.2" in text,
                "%d %r" % (code, text))
        c.sock.close()
        t.check("the upstream heard nothing of that client",
                not any(b"127.0.0.9" in x for x in up.lines), repr(up.lines[-5:]))

        # 2. peername_lookup_timeout: a temporary failure.
        proc, port = start_front(exe, base, "front-timeout", up, source_root,
                                 "peername_lookup_timeout=%d\n" % TIMEOUT)
        procs.append(proc)
        t0 = time.monotonic()
        c = LineClient(port, "127.0.0.10")
        code, _ = c.reply()
        waited = time.monotonic() - t0
        t.equal("past peername_lookup_timeout: the greeting", code, 220)
        t.check("the greeting after about %d s" % TIMEOUT, TIMEOUT - 0.5 <= waited <= TIMEOUT + 2,
                "after %.1f s" % waited)
        t.equal("the client's EHLO", c.cmd("EHLO client.example")[0], 250)
        xclient = [x.decode(errors="replace").strip() for x in up.lines
                   if x.startswith(b"XCLIENT") and b"ADDR=127.0.0.10 " in x]
        t.check("XCLIENT: both names temporarily unavailable",
                len(xclient) == 1 and xclient[0].startswith(
                    "XCLIENT NAME=[TEMPUNAVAIL] REVERSE_NAME=[TEMPUNAVAIL] ADDR=127.0.0.10 "),
                repr(xclient))
        c.cmd("QUIT")
        c.sock.close()
        log = open(os.path.join(base, "front-timeout.log")).read()
        t.check("the front logs the lookup given up",
                "[127.0.0.10] client name lookup given up after %d s" % TIMEOUT in log,
                log[-800:])
        rc, took = stop_time(proc)
        t.equal("a stop with a given-up lookup in the resolver: exit status", rc, 0)
        t.check("that stop ends within %.0f s" % STOP_BOUND, took <= STOP_BOUND,
                "took %.1f s" % took)

        # 3. The setting's limits.
        proc, _ = start_front(exe, base, "front-max", up, source_root,
                              "peername_lookup_timeout=%d\n" % MAX_TIMEOUT)
        procs.append(proc)
        t.check("peername_lookup_timeout=%d is taken" % MAX_TIMEOUT, proc.poll() is None)
        for bad in (MAX_TIMEOUT + 1, 0):
            try:
                p, _ = start_front(exe, base, "front-bad-%d" % bad, up, source_root,
                                   "peername_lookup_timeout=%d\n" % bad)
                procs.append(p)
                t.check("peername_lookup_timeout=%d is refused" % bad, False, "it started")
            except RuntimeError as e:
                t.check("peername_lookup_timeout=%d is refused" % bad,
                        "peername_lookup_timeout" in str(e), str(e)[-300:])
    except (pi.PostfixError, OSError, RuntimeError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        test_teardown(procs, base, t.failures > 0)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
