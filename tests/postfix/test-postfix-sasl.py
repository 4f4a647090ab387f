#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-sasl.py: real SASL AUTH through msgtrk-submit-front to a real Postfix.

  test-postfix-sasl.py --build-dir BUILD

What: the site of tracking_harness.configure_site() with Postfix authenticating through a
private Dovecot auth service (PrivateDovecot: passwd-file, its socket at an absolute path
in the test directory, `dovecot -c <test config>`; smtpd_sasl_type = dovecot) and relaying
only for authenticated clients (smtpd_client_restrictions and smtpd_relay_restrictions =
permit_sasl_authenticated, reject, as in docs/postfix-site.md; the front's XCLIENT address
is not in mynetworks). Real msgtrk-submit-front, msgtrk-postfix-follower and mtqpd, as
nobody.
Checks: Postfix's AUTH keyword through the front; relaying refused before AUTH (Postfix's
554); AUTH PLAIN (initial response, and empty 334 then response) and AUTH LOGIN succeed
(235); a wrong password gets Postfix's 535, byte for byte the reply Postfix gives a
direct client; a tracked message from the authenticated client (Postfix logs its
sasl_username) is tracked via mtqpd to Postfix's real verdicts (delivered, relayed,
failed); a front with TLS: AUTH only after STARTTLS (538 before), and with
tls_auth_only=no an AUTH before STARTTLS does not survive it (RFC 3207 4.2: Postfix's
session after TLS is a fresh one, relaying refused); our mail-client path too:
Evolution's provider (tests/evolution/camel-send, msgtrk-smtp, Track ticked) with AUTH
PLAIN through the front (a wrong password: not sent), the real msgtrkd following mtqpd to Postfix's verdicts (skipped when the provider
is not built); no AUTH data (base64 or the password) in any log: the front's, the
follower's, mtqpd's, Postfix's, Dovecot's, msgtrkd's.
Limits: tracking_harness.WAIT. Skips (77) unless root with Postfix and dovecot-core.
Never: touch /etc/postfix or /etc/dovecot, or leave a process behind.
"""

import base64
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, Daemons, LineClient, PrivateDovecot,  # noqa: E402
                              client_line, configure_sasl, configure_site, dovecot_skip_reason, recipients,
                              site_state_dir, stop_site, track, wait_for, wait_log)

USER = "alice@test.example"
PASSWORD = "Corr3ct-h0rse-battery"
WRONG = "wr0ng-staple-guess"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def evolution_part(t, build, base, fport, mport):
    """camel-send (tests/evolution) through the front with AUTH PLAIN and Track ticked:
    msgtrkd (private bus, real keyring) prepares, the provider sends, msgtrkd follows
    mtqpd to Postfix's verdicts. Skipped when the provider is not built."""
    camel_send = os.path.join(build, "tests", "evolution", "camel-send")
    provider = os.path.join(build, "plugin", "evolution", "libcamelmsgtrk.so")
    if not (os.access(camel_send, os.X_OK) and os.path.exists(provider)):
        print("ok # SKIP the Evolution provider is not built")
        return
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools"))
    try:
        import msgtrkd_session
    except ImportError as e:
        print("ok # SKIP msgtrkd_session needs python3-gi: %s" % e)
        return
    session = msgtrkd_session.Session(
        build, "postfix-sasl", keyring=True, debug=False,
        daemon_args=["--mtqp-override", "127.0.0.1=127.0.0.1:%d" % mport]
        + msgtrkd_session.FAST_POLL_ARGS)
    try:
        session.start()
        mid = "evo-sasl@test.example"
        msg = os.path.join(base, "evo.eml")
        with open(msg, "w", newline="") as f:
            f.write("From: Alice <%s>\r\nTo: x@ok.test.example\r\nSubject: from Evolution"
                    "\r\nMessage-ID: <%s>\r\n\r\nHello.\r\n" % (USER, mid))
        rcpts = ["alice@test.example", "x@ok.test.example", "z@perm.test.example"]
        args = [camel_send, "--provider", provider, "--protocol", "msgtrk-smtp", "--host",
                "127.0.0.1", "--port", str(fport), "--security", "none", "--from", USER,
                "--user", USER, "--mechanism", "PLAIN", "--message", msg, "--track"]
        for r in rcpts:
            args += ["--to", r]
        env = dict(session.env, LC_ALL="C.UTF-8", LANGUAGE="", TMPDIR=base)
        env["MSGTRK_TEST_PASSWORD"] = WRONG
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        t.check("Evolution's provider, wrong password: not sent, an authentication error",
                r.returncode != 0 and "SENT" not in r.stdout and "ERROR" in r.stdout
                and "authentication" in r.stdout.lower(), r.stdout + r.stderr)
        env["MSGTRK_TEST_PASSWORD"] = PASSWORD
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if not t.check("Evolution's provider: AUTH PLAIN through the front, sent tracked",
                       r.returncode == 0 and "SENT" in r.stdout, r.stdout + r.stderr):
            return
        envid = session.get_status([mid])[0][1]
        t.check("msgtrkd knows it by an ENVID", envid.startswith("mtrk."), envid)
        want = {"alice@test.example": "delivered", "x@ok.test.example": "relayed",
                "z@perm.test.example": "failed"}

        def settled():
            session.pump(0.2)
            route = session.get_route(envid)
            got = {x["address"]: x["state"] for x in route["recipients"]}
            return got if got == want else None
        try:
            wait_for("msgtrkd to follow mtqpd to Postfix's verdicts", settled)
            t.check("msgtrkd: Postfix's verdicts for the message sent from Evolution", True)
        except pi.PostfixError as e:
            route = session.get_route(envid)
            t.check("msgtrkd: Postfix's verdicts for the message sent from Evolution", False,
                    "%s: %r" % (e, route))
        session.stop_daemon()
        leaked = [x for x in (PASSWORD, b64("\0%s\0%s" % (USER, PASSWORD)))
                  if x in session.log()]
        t.check("no AUTH data in msgtrkd's log", not leaked, repr(leaked))
    finally:
        session.cleanup()


def main():
    a = pi.test_args(dovecot_skip_reason)
    b = a.build_dir
    front_exe = os.path.join(b, "server", "postfix", "msgtrk-submit-front")
    follower_exe = os.path.join(b, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(b, "server", "mtqpd", "mtqpd")
    secrets = [PASSWORD, WRONG, b64("\0%s\0%s" % (USER, PASSWORD)),
               b64("\0%s\0%s" % (USER, WRONG)), b64(PASSWORD), b64(WRONG)]
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    dc = None
    sinks = []
    daemons = Daemons(pf.base)
    try:
        sinks = configure_site(pf)
        dc = PrivateDovecot(pf.base, {USER: PASSWORD})
        dc.start()
        # As docs/postfix-site.md's master.cf: only authenticated clients at all.
        configure_sasl(pf, dc)
        pf.start()
        state, regs = site_state_dir(pf)

        start = daemons.start

        fport = start(front_exe, "front",
                      "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                      "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n" % (pf.port, state),
                      os.path.join(pf.base, "front.port"))
        start(follower_exe, "follower",
              "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\nuser=nobody\n"
              "postfix_config_directory=%s\npoll_interval=50\n" % (pf.log, state, pf.conf))
        mport = start(mtqpd_exe, "mtqpd",
                      "[mtqpd]\nhostname=mx.test.example\nstate_dir=%s\nuser=nobody\n"
                      "listen=127.0.0.1:0\n" % state, os.path.join(pf.base, "mtqpd.port"))

        def session():
            c = LineClient(fport)
            c.reply()
            code, ehlo = c.cmd("EHLO client.test.example")
            return c, ehlo

        # 1. Postfix's AUTH keyword; no relaying before AUTH (Postfix decides).
        c, ehlo = session()
        t.check("EHLO through the front: Postfix's AUTH PLAIN LOGIN, and MTRK",
                "AUTH PLAIN LOGIN" in ehlo and "MTRK" in ehlo, ehlo)
        c.cmd("MAIL FROM:<%s>" % USER)
        code, text = c.cmd("RCPT TO:<x@ok.test.example>")
        t.equal("relaying before AUTH: Postfix's 554", code, 554)
        c.cmd("RSET")

        # 2. Wrong passwords: Postfix's 535, as Postfix gives it to a direct client.
        code, wrong_plain = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, WRONG)))
        t.equal("AUTH PLAIN, wrong password: 535", code, 535)
        code, text = c.cmd("AUTH LOGIN")
        t.equal("AUTH LOGIN: Postfix's 334 Username", code, 334)
        code, text = c.cmd(b64(USER))
        t.equal("AUTH LOGIN: Postfix's 334 Password", code, 334)
        code, wrong_login = c.cmd(b64(WRONG))
        t.equal("AUTH LOGIN, wrong password: 535", code, 535)
        code, text = c.cmd("NOOP")
        t.equal("the session goes on after 535", code, 250)
        c.cmd("QUIT")
        c.close()
        d = LineClient(pf.port)
        d.reply()
        d.cmd("EHLO client.test.example")
        code, direct = d.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, WRONG)))
        d.cmd("QUIT")
        d.close()
        t.check("535 passed through unchanged (as Postfix answers a direct client)",
                direct.startswith("535 5.7.8") and wrong_plain == direct
                and wrong_login == direct, "%r / %r / %r" % (wrong_plain, wrong_login, direct))

        # 3. AUTH PLAIN: initial response, then without one (an empty 334 first).
        c, ehlo = session()
        code, text = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
        t.equal("AUTH PLAIN with an initial response: 235", code, 235)
        c.cmd("QUIT")
        c.close()
        c, ehlo = session()
        code, text = c.cmd("AUTH PLAIN")
        t.equal("AUTH PLAIN without one: Postfix's empty 334", (code, text.strip()),
                (334, "334"))
        code, text = c.cmd(b64("\0%s\0%s" % (USER, PASSWORD)))
        t.equal("AUTH PLAIN response: 235", code, 235)
        c.cmd("QUIT")
        c.close()

        # 4. AUTH LOGIN, then a tracked message from the authenticated client.
        c, ehlo = session()
        c.cmd("AUTH LOGIN")
        c.cmd(b64(USER))
        code, text = c.cmd(b64(PASSWORD))
        t.equal("AUTH LOGIN: 235", code, 235)
        envid = "sasl1@test.example"
        code, text = c.cmd("MAIL FROM:<%s> ENVID=%s MTRK=%s" % (USER, envid, AUTH))
        t.equal("MAIL with MTRK after AUTH: 250", code, 250)
        rcpts = ["alice@test.example", "x@ok.test.example", "z@perm.test.example"]
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>" % r)
            t.equal("RCPT %s (relaying allowed: authenticated)" % r, code, 250)
        code, text = c.data(b"Message-Id: <sasl1@test.example>\r\nSubject: sasl\r\n\r\nhi\r\n")
        t.equal("DATA: Postfix's 250", code, 250)
        qid = text.strip().split("queued as ")[-1]
        c.cmd("QUIT")
        c.close()
        try:
            line = client_line(pf, qid)
            t.check("Postfix authenticated the message (sasl_username)",
                    "sasl_username=" + USER in line, line)
        except pi.PostfixError as e:
            t.check("Postfix authenticated the message", False, str(e))

        def settled():
            r = recipients(track(mport, envid))
            return r if set(rcpts) <= set(r) else None
        try:
            r = wait_for("TRACK with every outcome", settled)
            t.equal("TRACK: alice delivered", r["alice@test.example"][0].get("action"),
                    "delivered")
            t.equal("TRACK: x relayed", r["x@ok.test.example"][0].get("action"), "relayed")
            t.equal("TRACK: z failed with Postfix's text",
                    r["z@perm.test.example"][0].get("diagnostic-code"),
                    "smtp; 550 5.1.1 no such user here")
        except pi.PostfixError as e:
            t.check("TRACK answers", False, str(e))

        # 4b. TLS (RFC 3207 4.2, RFC 4954): a front with TLS keys takes AUTH only in TLS
        # (538 before STARTTLS, nothing passed to Postfix); with tls_auth_only=no a
        # cleartext AUTH succeeds, and after STARTTLS Postfix's session is a fresh one,
        # not authenticated: relaying refused until the client authenticates again.
        pki = os.path.join(pf.base, "pki")
        subprocess.run(["sh", os.path.join(SOURCE_ROOT, "tests", "make-test-ca.sh"), pki],
                       check=True, stdout=subprocess.DEVNULL)
        tls_conf = ("[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                    "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                    "tls_certificate=%s/server.pem\ntls_key=%s/server.key\n"
                    % (pf.port, state, pki, pki))
        tport = start(front_exe, "front-tls", tls_conf, os.path.join(pf.base, "front-tls.port"))
        cport = start(front_exe, "front-clear-auth", tls_conf + "tls_auth_only=no\n",
                      os.path.join(pf.base, "front-clear-auth.port"))
        c = LineClient(tport)
        c.reply()
        code, ehlo = c.cmd("EHLO client.test.example")
        t.check("TLS front: no AUTH before STARTTLS", "AUTH" not in ehlo, ehlo)
        code, text = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
        t.check("TLS front: AUTH before STARTTLS: 538 5.7.11", text.startswith("538 5.7.11"),
                text)
        t.equal("TLS front: STARTTLS", c.cmd("STARTTLS")[0], 220)
        c.starttls(os.path.join(pki, "ca.pem"))
        code, ehlo = c.cmd("EHLO client.test.example")
        t.check("TLS front: Postfix's AUTH offered in TLS", "AUTH PLAIN LOGIN" in ehlo, ehlo)
        code, text = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
        t.equal("TLS front: AUTH PLAIN in TLS: 235", code, 235)
        c.cmd("MAIL FROM:<%s>" % USER)
        t.equal("TLS front: relaying after AUTH in TLS", c.cmd("RCPT TO:<x@ok.test.example>")[0],
                250)
        c.cmd("QUIT")
        c.close()
        c = LineClient(cport)
        c.reply()
        code, ehlo = c.cmd("EHLO client.test.example")
        t.check("tls_auth_only=no: Postfix's AUTH offered before STARTTLS",
                "AUTH PLAIN LOGIN" in ehlo, ehlo)
        code, text = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
        t.equal("tls_auth_only=no: AUTH PLAIN before STARTTLS: 235", code, 235)
        t.equal("tls_auth_only=no: STARTTLS", c.cmd("STARTTLS")[0], 220)
        c.starttls(os.path.join(pki, "ca.pem"))
        c.cmd("EHLO client.test.example")
        c.cmd("MAIL FROM:<%s>" % USER)
        code, text = c.cmd("RCPT TO:<x@ok.test.example>")
        t.check("after STARTTLS Postfix's session is not authenticated: relaying refused",
                code // 100 == 5, text)
        c.cmd("QUIT")
        c.close()

        # 5. Our mail-client path: Evolution's provider (camel-send, msgtrk-smtp) with
        # AUTH PLAIN through the front, tracked by the real msgtrkd over mtqpd.
        evolution_part(t, b, pf.base, fport, mport)

        for dm in daemons:
            t.equal("%s exits 0 on SIGTERM" % os.path.basename(dm.log), dm.stop(), 0)
        logs = {dm.log: open(dm.log, errors="replace").read() for dm in daemons}
        logs[pf.log] = open(pf.log, errors="replace").read()
        logs[dc.log] = dc.read_log()
        leaked = ["%s in %s" % (s, os.path.basename(p)) for p, text in logs.items()
                  for s in secrets if s in text]
        t.check("no AUTH data in any log (front, follower, mtqpd, Postfix, Dovecot)",
                not leaked, ", ".join(leaked))
        # Dovecot's log process writes it, perhaps after the reply: wait for it.
        dlog = wait_log(dc.log, "mismatch")
        t.check("Dovecot checked the passwords (its passwd-file: a mismatch logged)",
                "passwd-file(%s" % USER in dlog and "mismatch" in dlog, dlog[-500:])
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons, dc)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
