#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-deadline.py: msgtrk-submit-front's request_deadline and
min_data_rate (as Postfix >= 3.7's smtpd_per_request_deadline and smtpd_min_data_rate)
against a real Postfix.

  test-postfix-front-deadline.py --build-dir BUILD

What (the front with idle_timeout=3, request_deadline=2, min_data_rate=100):
  1. a client that trickles its data below the rate (10 octets every 0.5 s: 20 octets/s,
     each gap far within idle_timeout) is cut near request_deadline + octets/rate with
     "421 4.4.2 HOST Error: timeout exceeded"; Postfix queued nothing of it (no qmgr
     "from=" line for its queue id, the queue empty, no mailbox file), the front logged
     it without content; tracked, no registration of it is left;
  2. a client sending its data at the rate (100 octets a second for 6 s, longer than
     request_deadline and idle_timeout) and one just above it (110 octets a second) are
     accepted and delivered;
  3. a command line trickled an octet every 0.5 s: cut at request_deadline with the same
     421; a session waiting between commands past it: the same;
  4. the settings' bounds: request_deadline 1 and 3600 load, 0 and 3601 do not;
     min_data_rate 1 and 1000000000 load, 0 and 1000000001 do not;
  5. the credit is capped (as Postfix's smtpd_timeout caps smtpd_min_data_rate): data sent
     in a burst (60000 octets: 600 s at the rate) then trickled at 20 octets/s is cut
     within request_deadline + 1 s of the burst, not 600 s later;
  6. under STARTTLS (a scripted upstream, the test PKI): one TLS record of a command line
     trickled an octet every 0.5 s (each gap far within idle_timeout) is cut at
     request_deadline with the same 421; an AUTH response not sent within it: the same
     421, and the front logs the cut (never the response).
How: tests/postfix/postfix_instance.py and tracking_harness.py; the front as root with
user=nobody. Limits: about 60 s. Skips (77) unless root with Postfix installed.
Never: listens on anything but loopback; logs message content.
"""

import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
import tracking_harness as th  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
from scripted_front import (PostfixLike, check_bounds, start_front,  # noqa: E402
                            start_front_conf)

AUTH = th.AUTH
SOURCE_ROOT = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
IDLE = 3
DEADLINE = 2
RATE = 100
FRONT_CONF = ("[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
              "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
              "peername_lookup=false\nupstream_pool=0\n")


def registered(state, envid):
    """Whether a file under @state (a registration, a pending one, a journal) names @envid."""
    for p in glob.glob(os.path.join(state, "**", "*"), recursive=True):
        if os.path.isfile(p) and envid.encode() in open(p, "rb").read():
            return True
    return False


def paced(port, label, chunk, every, seconds, mtrk=""):
    """A message whose data goes @chunk octets every @every s for @seconds s; the reply
    to the "." (or the reply that cut it), and the seconds the data took."""
    c = th.LineClient(port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@test.example>" + mtrk)
    c.cmd("RCPT TO:<alice@test.example>")
    code, text = c.cmd("DATA")
    if code != 354:
        return code, text, 0
    t0 = time.monotonic()
    c.sock.sendall(b"Message-ID: <%s@test.example>\r\nSubject: %s\r\n\r\n"
                   % (label.encode(), label.encode()))
    line = (b"x" * (chunk - 2)) + b"\r\n"
    # The wait between chunks is a read: a cut is seen when it comes, not up to @every late.
    c.sock.settimeout(every)
    while time.monotonic() - t0 < seconds:
        try:
            c.sock.sendall(line)
        except OSError:
            break
        try:
            got = c.sock.recv(1000)
            c.close()
            return int(got[:3] or b"0"), got.decode(errors="replace").strip(), \
                time.monotonic() - t0
        except OSError:
            pass
    c.sock.settimeout(30)
    try:
        c.sock.sendall(b".\r\n")
    except OSError:
        pass
    code, text = c.reply()
    took = time.monotonic() - t0
    c.close()
    return code, text.strip(), took


def maillog(pf):
    with open(pf.log, errors="replace") as f:
        return f.read()


def queue_id_of(log, label):
    m = re.search(r"([0-9A-Za-z]+): message-id=<%s@test\.example>" % re.escape(label), log)
    return m.group(1) if m else None


def tls_trickle(port, ca):
    """STARTTLS, then one record of a NOOP line trickled an octet every 0.5 s: what the
    front said (decrypted) and the seconds from the first octet to it or to the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")

    def rep():
        out = b""
        while True:
            line = f.readline()
            out += line
            if not line or line[3:4] != b"-":
                return out
    rep()
    s.sendall(b"EHLO c.example\r\n")
    rep()
    s.sendall(b"STARTTLS\r\n")
    rep()
    obj_in, obj_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context(cafile=ca).wrap_bio(obj_in, obj_out,
                                                          server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            d = obj_out.read()
            if d:
                s.sendall(d)
            obj_in.write(s.recv(65536))
    d = obj_out.read()
    if d:
        s.sendall(d)
    obj.write(b"NOOP trickled in one record\r\n")
    rec = obj_out.read()
    s.settimeout(0.05)
    t0 = time.monotonic()
    said = b""
    for i in range(len(rec)):
        try:
            s.sendall(rec[i:i + 1])
        except OSError:
            break
        end = time.monotonic() + 0.5
        closed = False
        while time.monotonic() < end:
            try:
                got = s.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                got = b""
            if got == b"":
                closed = True
                break
            obj_in.write(got)
            try:
                said += obj.read(4096)
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
        if closed or said:
            break
    took = time.monotonic() - t0
    s.close()
    return said, took


def main():
    a = pi.test_args()
    pi.raise_on_terminate()
    exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-submit-front")
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    daemons = th.Daemons(pf.base)
    bounds = []
    try:
        pf.configure()
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
        pf.start()
        state, _ = th.site_state_dir(pf)
        conf = FRONT_CONF % (pf.port, state)
        fport = daemons.start(exe, "front", conf + "idle_timeout=%d\nrequest_deadline=%d\n"
                              "min_data_rate=%d\n" % (IDLE, DEADLINE, RATE),
                              os.path.join(pf.base, "front.port"))

        # 1. Data below the rate: cut, nothing queued.
        for label, mtrk in (("slow-untracked", ""),
                            ("slow-tracked", " ENVID=slowdl1 MTRK=%s" % AUTH)):
            code, text, took = paced(fport, label, 10, 0.5, 30, mtrk)
            # At 20 octets/s the deadline moves 0.2 s a second: cut near 2.5 s.
            t.check("%s: data at 20 octets/s (min_data_rate %d) is cut with 421 4.4.2 ... "
                    "timeout exceeded near request_deadline + octets/rate" % (label, RATE),
                    code == 421 and "4.4.2" in text and "timeout exceeded" in text
                    and DEADLINE <= took <= DEADLINE + 2,
                    "%d %r after %.1f s" % (code, text, took))
        # cleanup's message-id lines reach the log through postlogd, perhaps after the 421;
        # then a margin for the absence of qmgr's "from=" line (nothing to wait for).
        th.settle("cleanup's message-id lines", lambda: all(
            queue_id_of(maillog(pf), label) for label in ("slow-untracked", "slow-tracked")))
        time.sleep(2)
        log = maillog(pf)
        for label in ("slow-untracked", "slow-tracked"):
            qid = queue_id_of(log, label)
            t.check("%s: Postfix read part of its data (cleanup logged its Message-ID) "
                    "and queued nothing of it (no qmgr from= line)" % label,
                    qid is not None and ("%s: from=<" % qid) not in log,
                    "queue id %s; %s" % (qid, "\n".join(x for x in log.splitlines()
                                                        if qid and qid in x)))
        q = pf.postfix("flush")
        listing = subprocess.run(["postqueue", "-c", pf.conf, "-p"], env=pi.CLEAN_ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
        t.check("the queue is empty", b"Mail queue is empty" in listing,
                listing.decode(errors="replace") + q.stdout.decode(errors="replace"))
        mails = [p for p in glob.glob(os.path.join(pf.mail, "**", "*"), recursive=True)
                 if os.path.isfile(p) and b"slow-" in open(p, "rb").read()]
        t.check("no mailbox holds a part of them", mails == [], repr(mails))
        t.check("the tracked one left no registration", not registered(state, "slowdl1"))
        front_log = th.wait_log(os.path.join(pf.base, "front.log"),
                                "message data not received within its deadline")
        t.check("the front logged the cut, without content",
                "message data not received within its deadline" in front_log
                and "xxxxxxxx" not in front_log and "slow-" not in front_log,
                "\n".join(x for x in front_log.splitlines() if "deadline" in x))

        # 2. At the rate, and just above it: accepted, though longer than the deadline.
        for label, chunk, mtrk in (("at-rate", RATE, ""), ("above-rate", RATE + 10, ""),
                                   ("at-rate-tracked", RATE, " ENVID=ratedl1 MTRK=%s" % AUTH)):
            code, text, took = paced(fport, label, chunk, 1.0, 6, mtrk)
            t.check("%s: data at %d octets/s for %.0f s (longer than request_deadline and "
                    "idle_timeout) is accepted" % (label, chunk, took),
                    code == 250 and took > DEADLINE + IDLE, "%d %r after %.1f s"
                    % (code, text, took))
        t.check("the tracked one at the rate is registered",
                th.settle("registration", lambda: registered(state, "ratedl1"), 5))
        t.check("the three are delivered",
                th.settle("delivery", lambda: all(
                    any(lb.encode() in open(p, "rb").read()
                        for p in glob.glob(os.path.join(pf.mail, "alice", "Maildir",
                                                        "new", "*")))
                    for lb in ("at-rate@", "above-rate@", "at-rate-tracked@")), 10))

        # 3. A command line trickled, and a wait between commands past the deadline.
        c = th.LineClient(fport)
        c.reply()
        t0 = time.monotonic()
        c.sock.settimeout(0.5)  # the wait between octets is a read (the cut seen at once)
        got = b""
        for ch in b"NOOP trickled one octet at a time\r\n":
            try:
                c.sock.sendall(bytes([ch]))
            except OSError:
                break
            try:
                got = c.sock.recv(1000)
                break
            except OSError:
                pass
        took = time.monotonic() - t0
        c.close()
        t.check("a command line trickled an octet every 0.5 s is cut at request_deadline "
                "with 421 4.4.2 ... timeout exceeded",
                got.startswith(b"421 4.4.2") and b"timeout exceeded" in got
                and DEADLINE - 0.5 <= took <= DEADLINE + 1, "%r after %.1f s" % (got, took))
        c = th.LineClient(fport)
        c.reply()
        c.cmd("EHLO client.example")
        t0 = time.monotonic()
        code, text = c.reply()
        took = time.monotonic() - t0
        c.close()
        t.check("a session silent between commands past request_deadline (below "
                "idle_timeout) is told 421 4.4.2 ... timeout exceeded at it",
                code == 421 and "timeout exceeded" in text and DEADLINE - 0.5 <= took
                <= DEADLINE + 1, "%d %r after %.1f s" % (code, text, took))

        # 5. Credit banked by a burst is capped at request_deadline from the last octets.
        c = th.LineClient(fport)
        c.reply()
        for line in ("EHLO client.example", "MAIL FROM:<sender@test.example>",
                     "RCPT TO:<alice@test.example>", "DATA"):
            code, _ = c.cmd(line)
        t.equal("the burst's DATA", code, 354)
        c.sock.sendall(b"Subject: burst-then-trickle\r\n\r\n" + (b"y" * 998 + b"\r\n") * 60)
        t0 = time.monotonic()
        c.sock.settimeout(0.5)  # the wait between lines is a read (the cut seen at once)
        got = b""
        while time.monotonic() - t0 < 15 and not got:
            try:
                c.sock.sendall(b"z" * 8 + b"\r\n")
                got = c.sock.recv(1000)
                break
            except socket.timeout:
                pass
            except OSError:
                break
        took = time.monotonic() - t0
        c.close()
        t.check("data in a burst (600 s of credit at min_data_rate) then trickled at 20 "
                "octets/s is cut within request_deadline + 1 s of the burst (the credit is "
                "capped)", got.startswith(b"421 4.4.2") and b"timeout exceeded" in got
                and took <= DEADLINE + 1, "%r after %.1f s" % (got, took))

        # 6. Under STARTTLS: a record trickled, an AUTH response withheld.
        up = PostfixLike()
        tls_proc, tport = start_front(exe, pf.base, "tlsfront", up, SOURCE_ROOT,
                                      "idle_timeout=%d\nrequest_deadline=%d\nmin_data_rate=%d\n"
                                      "upstream_pool=0\n" % (IDLE, DEADLINE, RATE))
        bounds.append(tls_proc)
        ca = os.path.join(pf.base, "pki", "ca.pem")
        said, took = tls_trickle(tport, ca)
        t.check("under STARTTLS one record of a command line trickled an octet every 0.5 s "
                "is cut at request_deadline with 421 4.4.2 ... timeout exceeded",
                said.startswith(b"421 4.4.2") and b"timeout exceeded" in said
                and DEADLINE - 0.5 <= took <= DEADLINE + 1, "%r after %.1f s" % (said, took))
        from scripted_front import Client
        c = Client(tport)
        c.reply()
        c.cmd(b"EHLO c.example\r\n")
        c.starttls(ca)
        c.cmd(b"EHLO c.example\r\n")
        code, _ = c.cmd(b"AUTH PLAIN\r\n")
        t0 = time.monotonic()
        code2, text2 = c.reply()
        took = time.monotonic() - t0
        c.sock.close()
        tls_log = th.wait_log(os.path.join(pf.base, "tlsfront.log"),
                              "AUTH response not received within request_deadline")
        t.check("under STARTTLS an AUTH response not sent within request_deadline is told "
                "421 4.4.2 ... timeout exceeded at it, and the cut is logged",
                code == 334 and code2 == 421 and b"timeout exceeded" in text2
                and DEADLINE - 0.5 <= took <= DEADLINE + 1
                and "AUTH response not received within request_deadline" in tls_log,
                "%d, %d %r after %.1f s; %s" % (code, code2, text2, took, tls_log[-1500:]))
        t.check("the TLS trickle's cut is logged",
                tls_log.count("command not received within request_deadline") >= 1, tls_log[-1500:])

        # 4. The settings' bounds.
        for key, cases in (("request_deadline", ((1, True), (3600, True), (0, False),
                                                 (3601, False))),
                           ("min_data_rate", ((1, True), (1000000000, True), (0, False),
                                              (1000000001, False)))):
            bounds.extend(check_bounds(t, lambda name, line: start_front_conf(
                exe, pf.base, name, conf + line), key, cases))
    finally:
        for d in daemons:
            d.stop()
        for p in bounds:
            p.terminate()
            p.wait(10)
        if t.failures:
            th.tap_tail("front", open(os.path.join(pf.base, "front.log"),
                                      errors="replace").read()
                        if os.path.exists(os.path.join(pf.base, "front.log")) else "", 3000)
            th.tap_tail("maillog", maillog(pf) if os.path.exists(pf.log) else "", 3000)
        pf.cleanup()
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
