#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-hostile.py: text people outside the site choose, through a real
Postfix's log, msgtrk-postfix-follower and mtqpd's TRACK answers.

  test-postfix-follower-hostile.py --build-dir BUILD

A private Postfix (postfix_instance.py) relays hostile.test.example to a next hop that
answers each recipient with text of an attacker's choosing: a multi-line 450 and 550
longer than Postfix's log record (the line ends cut, without the ")" of its reason), a
450 whose text holds "dsn=2.0.0, relay=…, status=sent (queued as ID)", 8-bit octets and
control characters; its DATA reply holds ") status=bounced (". Recipients with quoted
local parts that hold ", status=sent", ">, relay=local, dsn=2.0.0, status=sent (" and an
escaped quote, and bare ones Postfix logs quoted ("dot.", "a..b"); the Message-ID holds "status=bounced". Each recipient gets the outcome
Postfix logged (status, Remote-MTA, no forged entry, no queue id followed from a reply),
every Diagnostic-Code within POSTFIX_TRACK_MAX_DIAGNOSTIC octets, valid UTF-8.
Then Postfix logs addresses in internal form (info_log_address_format = internal: quoted
local parts unquoted, so an address can hold a whole forged attribute list): the
follower refuses to start.
Skips (77) unless root with Postfix installed.
"""

import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (Daemon, Sink, configure_site, follower_daemon,  # noqa: E402
                              recipients, register, site_state_dir, start_mtqpd, stop_site,
                              track, wait_for, xtext)

MAX_DIAGNOSTIC = 512  # POSTFIX_TRACK_MAX_DIAGNOSTIC
LONG_LINE = b"L" * 400

# The next hop's reply to RCPT, by the recipient's local part.
REPLIES = {
    b"long-deferred": b"\r\n".join([b"450-4.2.0 " + LONG_LINE] * 10 + [b"450 4.2.0 end"]),
    b"long-bounced": b"\r\n".join([b"550-5.1.1 " + LONG_LINE] * 10 + [b"550 5.1.1 end"]),
    b"fake": b"450 4.2.0 busy, dsn=2.0.0, relay=evil.example[192.0.2.66]:25, status=sent "
             b"(queued as BCDF12345)",
    b"eight": b"450 4.2.0 caf\xc3\xa9 bad \xff\xfe ctl \x01\x02 tab\there",
    b'"x>': b"451 4.3.0 not this one",
}
DATA_REPLY = b"250 2.0.0 Ok ) status=bounced (x, dsn=5.0.0, relay=evil.example[192.0.2.66]"


class HostileSink(Sink):
    def session(self, f):
        def say(t):
            f.write(t + b"\r\n")
            f.flush()
        say(b"220 sink.test.example ESMTP")
        while True:
            line = f.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                say(b"250-sink.test.example\r\n250 8BITMIME")
            elif verb == b"RCPT":
                reply = b"250 2.1.5 ok"
                for k, v in REPLIES.items():
                    if line[8:].startswith(b"<" + k):
                        reply = v
                say(reply)
            elif verb == b"DATA":
                say(b"354 go ahead")
                while f.readline(65536) not in (b".\r\n", b""):
                    pass
                say(DATA_REPLY)
            elif verb == b"QUIT":
                say(b"221 2.0.0 bye")
                return
            else:
                say(b"250 2.0.0 ok")


def submit_raw(port, envid, rcpts, message_id):
    s = socket.create_connection(("127.0.0.1", port), timeout=pi.SMTP_TIMEOUT)
    f = s.makefile("rwb")

    def cmd(line, code):
        f.write(line + b"\r\n")
        f.flush()
        while True:
            r = f.readline()
            if r[3:4] != b"-":
                break
        if not r.startswith(code):
            raise pi.PostfixError("%r: %r" % (line, r))
        return r
    f.readline()
    cmd(b"EHLO client.test.example", b"250")
    cmd(b"MAIL FROM:<sender@test.example> ENVID=" + xtext(envid).encode(), b"250")
    for r in rcpts:
        cmd(b"RCPT TO:<" + r.encode() + b">", b"250")
    cmd(b"DATA", b"354")
    reply = cmd(b"Message-ID: " + message_id + b"\r\nSubject: hostile\r\n\r\nbody\r\n.", b"250")
    cmd(b"QUIT", b"221")
    s.close()
    return reply.decode().strip().split("queued as ")[-1]


def main():
    a = pi.test_args()
    follower_exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(a.build_dir, "server", "mtqpd", "mtqpd")
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    sinks = []
    daemons = []
    try:
        sinks = configure_site(pf)
        hostile = HostileSink("unused")
        sinks.append(hostile)
        with open(os.path.join(pf.conf, "transport"), "a") as f:
            f.write("hostile.test.example smtp:[127.0.0.1]:%d\n" % hostile.port)
        main_cf = os.path.join(pf.conf, "main.cf")
        text = open(main_cf).read().replace("perm.test.example\n",
                                            "perm.test.example, hostile.test.example\n")
        with open(main_cf, "w") as f:
            f.write(text)
        pf.start()

        state, regs = site_state_dir(pf)
        follower = follower_daemon(follower_exe, pf, state)
        follower.start()
        daemons.append(follower)
        mtqpd, mport = start_mtqpd(mtqpd_exe, pf.base, state)
        daemons.append(mtqpd)

        h = "@hostile.test.example"
        quoted_sent = '"okfake, status=sent"' + h
        quoted_forge = '"x>, relay=local, dsn=2.0.0, status=sent (y"' + h
        quoted_escape = '"a\\"b>c"' + h
        # Bare local parts that are no dot-atom (a trailing or a doubled dot, as legacy
        # Japanese mobile addresses have): Postfix logs them quoted (to=<"dot."@...>),
        # registered as the client gave them; their entries' Final-Recipient is the form
        # Postfix delivered to, their Original-Recipient the one the client gave.
        undotted = {"dot." + h: '"dot."' + h, "a..b" + h: '"a..b"' + h}
        rcpts = ["long-deferred" + h, "long-bounced" + h, "fake" + h, "eight" + h,
                 quoted_sent, quoted_forge, quoted_escape, "alice@test.example"] + list(undotted)
        envid = "hostile.follower@test.example"
        qid = submit_raw(pf.port, envid, rcpts, b"<m1 status=bounced>, dsn=5.0.0 \xff@x>")
        register(regs, qid, envid, rcpts, int(time.time()))

        keys = [undotted.get(r, r).lower() for r in rcpts]

        def settled():
            r = recipients(track(mport, envid))
            return r if all(k in r for k in keys) else None
        try:
            r = wait_for("an outcome for each of the %d recipients" % len(rcpts), settled)
        except pi.PostfixError:
            r = recipients(track(mport, envid))
        t.check("every recipient has an outcome (lines cut by Postfix included)",
                all(k in r for k in keys), "missing: %s" % [k for k in keys if k not in r])
        t.equal("no entry made of a forged address part", sorted(r), sorted(keys))

        def entry(k):
            return (r.get(k.lower()) or [{}])[0]
        ld = entry("long-deferred" + h)
        t.equal("a 450 longer than Postfix's log record: delayed", ld.get("action"), "delayed")
        t.equal("its status", ld.get("status"), "4.2.0")
        t.check("its diagnostic: the reply as Postfix logged it, cut",
                (ld.get("diagnostic-code") or "").startswith("smtp; 450-4.2.0 LLL"),
                repr((ld.get("diagnostic-code") or "")[:60]))
        lb = entry("long-bounced" + h)
        t.equal("a 550 longer than Postfix's log record: failed", lb.get("action"), "failed")
        t.equal("its status", lb.get("status"), "5.1.1")
        fk = entry("fake" + h)
        t.equal("a reply holding status=sent: delayed as Postfix logged", fk.get("action"),
                "delayed")
        t.equal("its status is dsn=, not the reply's", fk.get("status"), "4.2.0")
        t.equal("its Remote-MTA is relay=, not the reply's", fk.get("remote-mta"),
                "dns; 127.0.0.1")
        t.check("no queue id followed from a reply's \"queued as\"",
                not os.path.exists(os.path.join(regs, "BCDF12345.reg")))
        ei = entry("eight" + h)
        t.equal("8-bit and control octets in a reply: delayed", ei.get("action"), "delayed")
        for k in (quoted_sent, quoted_escape):
            e = entry(k)
            t.equal("quoted local part %s: relayed (its own line)" % k, e.get("action"),
                    "relayed")
            t.equal("quoted local part %s: the DATA reply's text does not change the status"
                    % k, e.get("status"), "2.1.9")
        qf = entry(quoted_forge)
        t.equal("a quoted local part holding a forged attribute list: its own 451",
                qf.get("action"), "delayed")
        t.equal("alice@test.example: delivered", entry("alice@test.example").get("action"),
                "delivered")
        logged = [line for line in open(pf.log, "rb").read().decode("utf-8", "replace")
                  .split("\n") if "status=" in line and ("dot." in line or "a..b" in line)]
        for k, final in undotted.items():
            e = entry(final)
            t.check("%s (logged quoted by Postfix): relayed" % k,
                    e.get("action") == "relayed",
                    "got %r; Postfix logged %r" % (e.get("action"), logged))
            t.equal("%s: its Original-Recipient as the client gave it" % k,
                    e.get("original-recipient"), "rfc822; " + k)
        for k in keys:
            d = entry(k).get("diagnostic-code") or ""
            raw = d.encode("utf-8", "surrogateescape")
            t.check("%s: Diagnostic-Code within %d octets, printable" % (k, MAX_DIAGNOSTIC),
                    len(raw) <= MAX_DIAGNOSTIC and all(c >= " " or c == "\t" for c in d),
                    "%d octets" % len(raw))
        log = open(pf.log, "rb").read()
        t.check("Postfix cut the long lines (no \")\" at their end)",
                any(b"long-deferred" in line and not line.endswith(b")")
                    for line in log.split(b"\n")))
        t.equal("the follower still runs", follower.proc.poll(), None)

        # Addresses in internal form: the follower refuses to start.
        t.equal("follower exits 0 on SIGTERM", follower.stop(), 0)
        subprocess.run([pi.POSTCONF, "-c", pf.conf, "-e", "info_log_address_format=internal"],
                       env=pi.CLEAN_ENV, check=True)
        second = Daemon([follower_exe, "--config", os.path.join(pf.base, "follower.conf")],
                        os.path.join(pf.base, "follower-internal.log"))
        second.start()
        daemons.append(second)
        try:
            code = second.proc.wait(15)
        except subprocess.TimeoutExpired:
            code = None
        flog = open(second.log).read()
        t.check("info_log_address_format = internal: the follower refuses to start",
                code not in (None, 0), "exit %r" % code)
        t.check("and says why", "info_log_address_format" in flog, flog[-300:])
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
