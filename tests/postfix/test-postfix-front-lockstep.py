#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-lockstep.py: msgtrk-submit-front stays in step with a real Postfix
where review 9 (issue 11) found it did not.

  test-postfix-front-lockstep.py --build-dir BUILD

What: a private Postfix (smtpd_timeout=5s, standing in for its 300 s) behind the front.
  1. "RSET x", "EHLO" and "HELO" without an argument inside a tracked transaction: Postfix
     answers 501 and keeps the transaction; the front must keep its tracking too: the
     message that follows is accepted *and* registered (review finding 3: it was accepted
     untracked, a silent untracked send); a plain "RSET" (250) still forgets it: a DATA
     after it gets 503 from Postfix, nothing registered;
  2. a client that sends its data one line every 2 s for 14 s (each gap well within
     smtpd_timeout, the whole longer): straight into Postfix and through the front, both
     accepted (review finding 5: the front held the data until 64 KiB or the end, Postfix
     read nothing and answered 421 timeout exceeded), tracked and untracked, and after
     STARTTLS;
  3. the same client sending its header section that slowly, tracked (by XFORWARD IDENT,
     which this Postfix allows): accepted and registered (the front holds a header section
     only to read its Message-ID, which a message tracked by ident does not need).
How: tests/postfix/postfix_instance.py and tracking_harness.py; the front as root with
user=nobody. Limits: about 80 s. Skips (77) unless root with Postfix installed.
Never: listens on anything but loopback.
"""

import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
import tracking_harness as th  # noqa: E402

AUTH = th.AUTH


def registered(state, envid):
    """Whether a file under @state (a registration, a pending one, a journal) names @envid."""
    for p in glob.glob(os.path.join(state, "**", "*"), recursive=True):
        if os.path.isfile(p) and envid.encode() in open(p, "rb").read():
            return True
    return False


def body(subject):
    return (b"Message-ID: <%s@test.example>\r\nSubject: %s\r\n\r\nhello\r\n"
            % (subject.encode(), subject.encode()))


def slow_message(port, label, mtrk="", ca=None, in_header=False):
    """One line every 2 s for 14 s (after STARTTLS with @ca), in the body or (@in_header)
    in the header section; the reply to the "."."""
    c = th.LineClient(port)
    c.reply()
    c.cmd("EHLO client.example")
    if ca is not None:
        c.cmd("STARTTLS")
        c.starttls(ca)
        c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@test.example>" + mtrk)
    c.cmd("RCPT TO:<alice@test.example>")
    code, text = c.cmd("DATA")
    if code != 354:
        return code, text
    c.sock.sendall(b"Message-ID: <slow-%s@test.example>\r\nSubject: slow %s\r\n%s"
                   % (label.encode(), label.encode(), b"" if in_header else b"\r\n"))
    for i in range(7):
        time.sleep(2)
        try:
            c.sock.sendall(b"X-Slow-%d: %d\r\n" % (i, i) if in_header
                           else b"line %d\r\n" % i)
        except OSError as e:
            return 0, "send: %s" % e
    c.sock.sendall(b"\r\nbody\r\n.\r\n" if in_header else b".\r\n")
    code, text = c.reply()
    c.close()
    return code, text.strip()


def main():
    a = pi.test_args()
    pi.raise_on_terminate()
    exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-submit-front")
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    daemons = th.Daemons(pf.base)
    try:
        pf.configure()
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n"
                    "smtpd_authorized_xforward_hosts = 127.0.0.0/8\nsmtpd_timeout = 5s\n")
        pf.start()
        state, _ = th.site_state_dir(pf)
        pki = os.path.join(pf.base, "pki")
        source_root = os.environ.get("MSGTRK_SOURCE_ROOT",
                                     os.path.dirname(os.path.dirname(HERE)))
        subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"), pki],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        fport = daemons.start(exe, "front",
                              "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                              "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                              "peername_lookup=false\nupstream_pool=0\n"
                              "tls_certificate=%s/server.pem\ntls_key=%s/server.key\n"
                              % (pf.port, state, pki, pki),
                              os.path.join(pf.base, "front.port"))

        # 1. A refused RSET / EHLO / HELO keeps Postfix's transaction, and the front's.
        for n, cmdline in enumerate(("RSET x", "EHLO", "HELO")):
            envid = "keep%d" % n
            c = th.LineClient(fport)
            c.reply()
            c.cmd("EHLO client.example")
            m = c.cmd("MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s" % (envid, AUTH))
            r = c.cmd("RCPT TO:<alice@test.example>")
            mid = c.cmd(cmdline)
            code, text = c.data(body("keep-%d" % n))
            c.cmd("QUIT")
            c.close()
            t.check("%r refused inside a tracked transaction: the message is accepted and "
                    "registered" % cmdline,
                    (m[0], r[0], mid[0], code) == (250, 250, 501, 250)
                    and th.settle("registration", lambda: registered(state, envid), 5),
                    "MAIL %d, RCPT %d, %r %d, DATA end %d %r; registered: %s"
                    % (m[0], r[0], cmdline, mid[0], code, text.strip()[-40:],
                       registered(state, envid)))

        # 1b. An accepted RSET forgets the transaction on both sides.
        c = th.LineClient(fport)
        c.reply()
        c.cmd("EHLO client.example")
        c.cmd("MAIL FROM:<sender@test.example> ENVID=gone1 MTRK=%s" % AUTH)
        c.cmd("RCPT TO:<alice@test.example>")
        rs = c.cmd("RSET")
        code, _ = c.cmd("DATA")
        c.cmd("QUIT")
        c.close()
        t.check("an accepted RSET ends the transaction (DATA after it: 503, nothing "
                "registered)", rs[0] == 250 and code == 503 and not registered(state, "gone1"),
                "RSET %d, DATA %d" % (rs[0], code))

        # 2. The slow client: straight into Postfix, then through the front.
        direct = slow_message(pf.port, "direct")
        t.check("a slow client straight into Postfix is accepted (the test's premise)",
                direct[0] == 250, repr(direct))
        front = slow_message(fport, "front")
        t.check("the same slow client through the front is accepted", front[0] == 250,
                repr(front))
        front = slow_message(fport, "tracked", " ENVID=slow1 MTRK=%s" % AUTH)
        t.check("the same slow client, tracked, through the front is accepted and "
                "registered", front[0] == 250
                and th.settle("registration", lambda: registered(state, "slow1"), 5),
                repr(front))
        front = slow_message(fport, "tls", " ENVID=slow2 MTRK=%s" % AUTH,
                             os.path.join(pki, "ca.pem"))
        t.check("the same slow client, tracked, after STARTTLS, through the front is "
                "accepted and registered", front[0] == 250
                and th.settle("registration", lambda: registered(state, "slow2"), 5),
                repr(front))
        # 3. Tracked by ident (XFORWARD IDENT): the header section is not held either.
        front = slow_message(fport, "header", " ENVID=slow3 MTRK=%s" % AUTH, in_header=True)
        t.check("a slow header section (a line every 2 s for 14 s), tracked by ident, "
                "through the front is accepted and registered", front[0] == 250
                and th.settle("registration", lambda: registered(state, "slow3"), 5),
                repr(front))
        t.check("Postfix logged no timeout", "timeout after" not in pf.maillog(),
                "\n".join(x for x in pf.maillog().splitlines() if "timeout" in x))
    finally:
        for d in daemons:
            d.stop()
        if t.failures:
            th.tap_tail("front", open(os.path.join(pf.base, "front.log"),
                                      errors="replace").read()
                        if os.path.exists(os.path.join(pf.base, "front.log")) else "", 3000)
        pf.cleanup()
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
