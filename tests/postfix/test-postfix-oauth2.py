#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-oauth2.py: real OAuth2 SASL (XOAUTH2, OAUTHBEARER) through
msgtrk-submit-front to a real Postfix and a real Dovecot.

  test-postfix-oauth2.py --build-dir BUILD

What: the site of test-postfix-sasl.py (tracking_harness.configure_site() and
configure_sasl(): relaying only for authenticated clients), but Dovecot's passdb is oauth2
validating bearer tokens locally (PrivateDovecotOAuth2: introspection_mode = local, the
HMAC key in a file dict; no HTTP, no provider): the test signs JWTs (HS256) itself. Postfix
has two smtpd listeners: its default line_length_limit (2048) and one with
line_length_limit = 12288, as docs/postfix-site.md advises for long initial responses; a
front before each. Real msgtrk-submit-front, msgtrk-postfix-follower and mtqpd, as nobody.
Checks: Postfix's AUTH XOAUTH2 OAUTHBEARER through the front; AUTH XOAUTH2 with a valid
token as an initial response, and after an empty 334 as a response line: 235; then a
tracked message (Postfix logs sasl_method=XOAUTH2, mtqpd's TRACK: relayed); a token signed
with the wrong key and an expired one: Dovecot's 334 JSON error challenge (RFC 7628 3.2.2)
passed through, the client's empty line passed on, Postfix's 535, each byte for byte as
Postfix answers a direct client, the session going on; OAUTHBEARER valid (235) and wrong
(334, then %x01, 535); a ~1.6 KB JWT: as an initial response (AUTH line of ~2.3 KB, within
the front's FRONT_AUTH_LINE_MAX) Postfix's listener with line_length_limit 12288 answers 235,
the default one reads 2048 octets of it and answers 535 (the cut base64 refused), passed
through in lockstep (the session goes on); as a response line after an empty 334 it
succeeds on the default one (smtpd_sasl_response_limit); a valid token of another user
("sub") is refused; Dovecot validated locally (its log); no token, no AUTH response and not
the key in the front's, the follower's, mtqpd's or Dovecot's log (Postfix's log aside).
Limits: tracking_harness.WAIT. Skips (77) unless root with Postfix and dovecot-core.
Never: touch /etc/postfix or /etc/dovecot, reach the network, or leave a process behind.
"""

import base64
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, Daemons, LineClient, PrivateDovecotOAuth2,  # noqa: E402
                              client_line, configure_sasl, configure_site, dovecot_skip_reason, jwt_hs256,
                              oauthbearer_response, recipients, site_state_dir, stop_site,
                              track, wait_for, wait_log, xoauth2_response)

USER = "alice@test.example"
KEY = bytes(range(7, 39))   # the site's HMAC key (32 octets)
WRONG_KEY = bytes(range(100, 132))
LONG_PAD = 1100             # octets of padding claim: a JWT of about 1.6 KB


def claims(now, **more):
    c = {"sub": USER, "iat": now - 5, "exp": now + 600}
    c.update(more)
    return c


def main():
    a = pi.test_args(dovecot_skip_reason)
    b = a.build_dir
    front_exe = os.path.join(b, "server", "postfix", "msgtrk-submit-front")
    follower_exe = os.path.join(b, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(b, "server", "mtqpd", "mtqpd")
    now = int(time.time())
    good = jwt_hs256(KEY, claims(now))
    forged = jwt_hs256(WRONG_KEY, claims(now))
    expired = jwt_hs256(KEY, claims(now, iat=now - 1200, exp=now - 600))
    other = jwt_hs256(KEY, claims(now, sub="bob@test.example"))
    long_good = jwt_hs256(KEY, claims(now, pad="p" * LONG_PAD))
    secrets = [good, forged, expired, long_good, other, base64.b64encode(KEY).decode()]
    secrets += [f(USER, tok) for tok in (good, forged, expired, long_good, other)
                for f in (xoauth2_response, oauthbearer_response)]
    secrets += [tok.split(".")[2] for tok in (good, forged, expired, long_good, other)]
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    dc = None
    sinks = []
    daemons = Daemons(pf.base)
    try:
        sinks = configure_site(pf)
        dc = PrivateDovecotOAuth2(pf.base, KEY)
        dc.start()
        configure_sasl(pf, dc)
        # A second smtpd for long initial responses (docs/postfix-site.md, Line lengths).
        long_port = pi.free_port()
        with open(os.path.join(pf.conf, "master.cf"), "a") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd -o line_length_limit=12288\n"
                    % long_port)
        pf.start()
        state, regs = site_state_dir(pf)
        start = daemons.start

        def front_conf(port):
            return ("[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                    "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n" % (port, state))
        fport = start(front_exe, "front", front_conf(pf.port),
                      os.path.join(pf.base, "front.port"))
        lport = start(front_exe, "front-long", front_conf(long_port),
                      os.path.join(pf.base, "front-long.port"))
        start(follower_exe, "follower",
              "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\nuser=nobody\n"
              "postfix_config_directory=%s\npoll_interval=50\n" % (pf.log, state, pf.conf))
        mport = start(mtqpd_exe, "mtqpd",
                      "[mtqpd]\nhostname=mx.test.example\nstate_dir=%s\nuser=nobody\n"
                      "listen=127.0.0.1:0\n" % state, os.path.join(pf.base, "mtqpd.port"))

        def session(port=fport):
            c = LineClient(port)
            c.reply()
            code, ehlo = c.cmd("EHLO client.test.example")
            return c, ehlo

        def failed_auth(c, mech, response, answer):
            """AUTH @mech with a refused token: (334 text, the answer's reply text)."""
            code, challenge = c.cmd("AUTH %s %s" % (mech, response))
            if code != 334:
                return challenge, ""
            return challenge, c.cmd(answer)[1]

        # 1. Postfix's mechanisms through the front.
        c, ehlo = session()
        t.check("EHLO through the front: Postfix's AUTH XOAUTH2 OAUTHBEARER (from Dovecot)",
                "XOAUTH2" in ehlo and "OAUTHBEARER" in ehlo and "MTRK" in ehlo, ehlo)

        # 2. Refused tokens: Dovecot's JSON challenge, the empty line, Postfix's 535.
        refused = {}
        for what, tok in (("signed with the wrong key", forged), ("expired", expired)):
            challenge, final = failed_auth(c, "XOAUTH2", xoauth2_response(USER, tok), "")
            refused[what] = (challenge, final)
            try:
                err = json.loads(base64.b64decode(challenge[4:].strip()))
            except ValueError:
                err = {}
            t.check("XOAUTH2, a token %s: Postfix's 334 with Dovecot's JSON error (401)" % what,
                    challenge.startswith("334 ") and err.get("status") == "401", challenge)
            t.check("XOAUTH2, a token %s: the empty line passed on, Postfix's 535 5.7.8" % what,
                    final.startswith("535 5.7.8"), final)
        challenge, final = failed_auth(c, "XOAUTH2", xoauth2_response(USER, other), "")
        t.check("XOAUTH2, a valid token of another user (sub): 334, then Postfix's 535",
                challenge.startswith("334 ") and final.startswith("535 5.7.8"),
                "%r / %r" % (challenge, final))
        challenge, final = failed_auth(c, "OAUTHBEARER", oauthbearer_response(USER, forged),
                                       "AQ==")
        t.check("OAUTHBEARER, a forged token: 334 then %x01, Postfix's 535 5.7.8",
                challenge.startswith("334 ") and final.startswith("535 5.7.8"),
                "%r / %r" % (challenge, final))
        t.equal("the session goes on after the 535s", c.cmd("NOOP")[0], 250)
        c.cmd("MAIL FROM:<%s>" % USER)
        t.equal("still not authenticated: relaying refused (Postfix's 554)",
                c.cmd("RCPT TO:<x@ok.test.example>")[0], 554)
        c.cmd("QUIT")
        c.close()
        d = LineClient(pf.port)
        d.reply()
        d.cmd("EHLO client.test.example")
        direct = failed_auth(d, "XOAUTH2", xoauth2_response(USER, forged), "")
        d.cmd("QUIT")
        d.close()
        t.check("334 and 535 passed through unchanged (as Postfix answers a direct client)",
                refused["signed with the wrong key"] == direct
                and refused["expired"] == direct, "%r / %r" % (refused, direct))

        # 3. A valid token: initial response, and as a response after an empty 334.
        c, ehlo = session()
        code, text = c.cmd("AUTH XOAUTH2 " + xoauth2_response(USER, good))
        t.equal("XOAUTH2 with a valid token as an initial response: 235", code, 235)
        envid = "oauth1@test.example"
        code, text = c.cmd("MAIL FROM:<%s> ENVID=%s MTRK=%s" % (USER, envid, AUTH))
        t.equal("MAIL with MTRK after XOAUTH2: 250", code, 250)
        code, text = c.cmd("RCPT TO:<x@ok.test.example>")
        t.equal("RCPT x@ok.test.example (relaying allowed: authenticated)", code, 250)
        code, text = c.data(b"Message-Id: <oauth1@test.example>\r\nSubject: oauth\r\n\r\nhi\r\n")
        t.equal("DATA: Postfix's 250", code, 250)
        qid = text.strip().split("queued as ")[-1]
        c.cmd("QUIT")
        c.close()
        try:
            line = client_line(pf, qid)
            t.check("Postfix authenticated the message (sasl_method=XOAUTH2, sasl_username)",
                    "sasl_method=XOAUTH2" in line and "sasl_username=" + USER in line, line)
        except pi.PostfixError as e:
            t.check("Postfix authenticated the message", False, str(e))
        try:
            r = wait_for("TRACK: x relayed", lambda: recipients(track(mport, envid))
                         .get("x@ok.test.example"))
            t.equal("TRACK: the authenticated message relayed", r[0].get("action"), "relayed")
        except pi.PostfixError as e:
            t.check("TRACK answers", False, str(e))

        c, ehlo = session()
        code, text = c.cmd("AUTH XOAUTH2")
        t.equal("XOAUTH2 without an initial response: Postfix's empty 334",
                (code, text.strip()), (334, "334"))
        code, text = c.cmd(xoauth2_response(USER, good))
        t.equal("XOAUTH2 response line with a valid token: 235", code, 235)
        c.cmd("QUIT")
        c.close()
        c, ehlo = session()
        code, text = c.cmd("AUTH OAUTHBEARER " + oauthbearer_response(USER, good))
        t.equal("OAUTHBEARER with a valid token: 235", code, 235)
        c.cmd("QUIT")
        c.close()

        # 4. A long JWT as the initial response: within the front's FRONT_AUTH_LINE_MAX,
        # past Postfix's default line_length_limit.
        long_line = "AUTH XOAUTH2 " + xoauth2_response(USER, long_good)
        t.check("the long JWT: 1.5 to 2 KB, its AUTH line past 2048 and within 12288",
                1500 <= len(long_good) <= 2048 and 2048 < len(long_line) + 2 <= 12288,
                "%d / %d" % (len(long_good), len(long_line)))
        c, ehlo = session(lport)
        code, text = c.cmd(long_line)
        t.equal("long initial response, Postfix with line_length_limit 12288: 235", code, 235)
        c.cmd("MAIL FROM:<%s>" % USER)
        t.equal("long initial response: relaying allowed",
                c.cmd("RCPT TO:<x@ok.test.example>")[0], 250)
        c.cmd("QUIT")
        c.close()
        c, ehlo = session()
        code, text = c.cmd(long_line)
        # Postfix reads 2048 octets of the line and skips the rest (one reply): the cut
        # base64 fails in Dovecot, Postfix answers 535.
        t.check("long initial response, Postfix's default line_length_limit: its 535 (the "
                "line cut at 2048) passed through", text.startswith("535 5.7.8")
                and "Invalid base64" in text, text)
        t.equal("the session goes on in lockstep after it", c.cmd("NOOP")[0], 250)
        code, text = c.cmd("AUTH XOAUTH2")
        t.equal("the long JWT as a response line instead: Postfix's empty 334", code, 334)
        code, text = c.cmd(xoauth2_response(USER, long_good))
        t.equal("the long JWT as a response line, default line_length_limit: 235", code, 235)
        c.cmd("QUIT")
        c.close()

        for dm in daemons:
            t.equal("%s exits 0 on SIGTERM" % os.path.basename(dm.log), dm.stop(), 0)
        logs = {dm.log: open(dm.log, errors="replace").read() for dm in daemons}
        logs[dc.log] = dc.read_log()
        leaked = ["%s... in %s" % (s[:12], os.path.basename(p)) for p, text in logs.items()
                  for s in secrets if s in text]
        t.check("no token, AUTH response or key in any log (fronts, follower, mtqpd, Dovecot)",
                not leaked, ", ".join(leaked))
        # Dovecot's log process writes these, perhaps after the reply: wait for each.
        for needle in ("Incorrect JWT signature", "Token has expired",
                       "did not match 'bob@test.example'"):
            dlog = wait_log(dc.log, needle)
        t.check("Dovecot validated the tokens locally (its log: signature, expiry, user)",
                "Incorrect JWT signature" in dlog and "Token has expired" in dlog
                and "did not match 'bob@test.example'" in dlog,
                dlog[-800:])
    except (pi.PostfixError, OSError, subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons, dc)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
