#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Camel provider "SMTP with tracking" (msgtrk-smtp) without the GUI.

camel-send (tests/evolution/camel-send.c) loads the built provider with
camel_provider_load(), configures a transport service with CamelNetworkSettings and sends
one message, as Evolution does. Against:
  - msgtrk-relay (tests/relay/relay_harness.py) with msgtrkd on a private bus
    (tools/msgtrkd_session.py, a real gnome-keyring): a tracked message leaves with ENVID
    and MTRK (the relay keeps a tracking record for the ENVID, which exists only for
    MAIL FROM … ENVID=… MTRK=…), msgtrkd knows it and heard Committed; an untracked
    message leaves plain; STARTTLS against the relay, with the certificate question going
    to the session's trust prompt (accept → sent, reject → a clear error, nothing sent);
  - smtp_test_server.py: a server without DSN/MTRK (plain MAIL FROM; a tracked message is
    sent and msgtrkd says "Sent — no tracking offered by …", DESIGN's honesty rule), a
    DSN-only server (ENVID/RET/NOTIFY/ORCPT, no MTRK), a server that drops the connection
    after MAIL (a clear error; msgtrkd records the tracked message as aborted), STARTTLS +
    AUTH PLAIN (good and wrong password), implicit TLS, STARTTLS required but not offered,
    data injected after the 220 to STARTTLS, a refused RCPT, an over-long reply line, SIZE
    and 8BITMIME, dot-stuffing, and that neither X-Msgtrk-Track nor Bcc goes out;
  - msgtrkd unreachable / keyring locked: a tracked message is not sent at all and the
    error says why and that the message stays in the Outbox.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "relay"))
sys.path.insert(0, HERE)

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
ARGS, REST = parser.parse_known_args()
BUILD = os.path.abspath(ARGS.build_dir)

import msgtrkd_session  # noqa: E402
import relay_harness  # noqa: E402
from smtp_test_server import SmtpTestServer  # noqa: E402

CAMEL_SEND = os.path.join(BUILD, "tests", "evolution", "camel-send")
PROVIDER = os.path.join(BUILD, "plugin", "evolution", "libcamelmsgtrk.so")
RELAY = os.path.join(BUILD, "server", "relay", "msgtrk-relay")
PROTOCOL = "msgtrk-smtp"
SENDER = "alice@sender.example"
RCPT = "bob@example.org"
ERR = "msgtrk-camel-error-quark"
# MsgtrkCamelError codes (plugin/evolution/msgtrk-camel-transport.h)
TRACKING_UNAVAILABLE, CONNECTION_LOST, REFUSED, PROTOCOL_ERROR, SECURITY, TOO_BIG = range(6)
SEND_TIMEOUT = 60
TMP = tempfile.mkdtemp(prefix="evo-provider-")
PKI = os.path.join(TMP, "pki")
SESSION = None
RELAY_PLAIN = None
RELAY_TLS = None
COUNTER = [0]


def message(subject="Hello", body="Hello.\r\n", extra_headers=""):
    """An RFC 5322 file; returns (path, Message-ID without brackets)."""
    COUNTER[0] += 1
    mid = "evo-test-%d@sender.example" % COUNTER[0]
    path = os.path.join(TMP, "msg-%d.eml" % COUNTER[0])
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("From: Alice <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s\r\n%s"
                % (SENDER, RCPT, subject, mid, extra_headers, body))
    return path, mid


class Result:
    def __init__(self, proc):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.error = None  # (domain, code, text)
        for line in self.out.splitlines():
            if line.startswith("ERROR "):
                head, _, text = line[6:].partition(": ")
                domain, _, code = head.rpartition(" ")
                self.error = (domain, int(code), text)

    def __repr__(self):
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.code, self.out, self.err)


def camel_send(port, path, track=False, security="none", user=None, mechanism=None,
               password=None, trust="reject", rcpts=(RCPT,), env=None, provider=PROVIDER,
               extra_env=None):
    args = [CAMEL_SEND] + (["--provider", provider] if provider else [])
    args += ["--protocol", PROTOCOL, "--host", "127.0.0.1",
            "--port", str(port), "--security", security, "--trust", trust, "--from", SENDER]
    for p in ([path] if isinstance(path, str) else path):
        args += ["--message", p]
    for r in rcpts:
        args += ["--to", r]
    if track:
        args.append("--track")
    if user:
        args += ["--user", user, "--mechanism", mechanism or "PLAIN"]
    e = dict(env if env is not None else SESSION.env)
    e.pop("G_MESSAGES_DEBUG", None)
    e["LC_ALL"] = "C.UTF-8"
    e["LANGUAGE"] = ""
    e["TMPDIR"] = TMP  # camel-send's Camel data directory
    if password is not None:
        e["MSGTRK_TEST_PASSWORD"] = password
    e.update(extra_env or {})
    proc = subprocess.run(args, env=e, capture_output=True, text=True, timeout=SEND_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return Result(proc)


def status(mid):
    """(envid, state, summary) msgtrkd has for a Message-ID."""
    _, envid, state, summary = SESSION.get_status([mid])[0]
    return envid, state, summary


def setUpModule():
    global SESSION, RELAY_PLAIN, RELAY_TLS
    subprocess.run(["sh", os.path.join(ROOT, "tests", "make-test-ca.sh"), PKI], check=True)
    os.chmod(PKI, 0o755)
    SESSION = msgtrkd_session.Session(BUILD, "evolution", keyring=True,
                                      daemon_args=["--idle-exit", "600"]).start()
    routes = {"example.org": "local:", "sender.example": "local:"}
    RELAY_PLAIN = relay_harness.Relay(RELAY, TMP, "relay", "submit.demo.test", routes)
    RELAY_PLAIN.start()
    RELAY_TLS = relay_harness.Relay(RELAY, TMP, "relay-tls", "submit-tls.demo.test", routes,
                                    tls={"certificate": os.path.join(PKI, "server.pem"),
                                         "key": os.path.join(PKI, "server.key")})
    RELAY_TLS.start()


def tearDownModule():
    for r in (RELAY_PLAIN, RELAY_TLS):
        if r is not None:
            r.cleanup()
    if SESSION is not None:
        SESSION.cleanup()


class RelayTest(unittest.TestCase):
    """Against msgtrk-relay, with msgtrkd."""

    def test_00_found_through_eds_extra_prefixes(self):
        # The layout of an installed prefix; Camel adds it to the system providers.
        prefix = os.path.join(TMP, "prefix")
        pdir = os.path.join(prefix, "lib", "evolution-data-server", "camel-providers")
        os.makedirs(pdir, exist_ok=True)
        for name in ("libcamelmsgtrk.so", "libcamelmsgtrk.urls"):
            if not os.path.exists(os.path.join(pdir, name)):
                os.symlink(os.path.join(os.path.dirname(PROVIDER), name),
                           os.path.join(pdir, name))
        path, mid = message("Found by Camel")
        r = camel_send(RELAY_PLAIN.port, path, track=True, provider=None,
                       extra_env={"EDS_EXTRA_PREFIXES": prefix})
        self.assertEqual(r.code, 0, r)
        self.assertIn("PROVIDERS %s=yes smtp=yes" % PROTOCOL, r.out)
        self.assertTrue(status(mid)[0].startswith("mtrk."))

    def test_01_tracked_through_relay(self):
        path, mid = message("Tracked through the relay")
        r = camel_send(RELAY_PLAIN.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        self.assertIn("SENT", r.out)
        self.assertIn("MARK-AFTER yes", r.out)  # the message object keeps its mark
        envid, state, summary = status(mid)
        self.assertTrue(envid.startswith("mtrk."), (envid, SESSION.log()))
        # The relay keeps a tracking record only for MAIL FROM with ENVID and MTRK=B.
        record = relay_harness.wait_for("the relay's tracking record",
                                        lambda: RELAY_PLAIN.track_record(envid), 30)
        self.assertIn(envid, record)
        route = SESSION.get_route(envid)
        self.assertNotEqual(route["state"], "sending", route)  # Committed arrived
        self.assertEqual(route["tracking"], "mtqp", route)
        self.assertIn("MTRK", route["offered"].split())
        self.assertIn("DSN", route["offered"].split())
        self.assertEqual(route["submission_host"], "127.0.0.1")
        self.assertEqual(route["subject"], "Tracked through the relay")
        mail = RELAY_PLAIN.wait_mail(RCPT)
        text = b"\n".join(mail).decode("utf-8", "replace")
        self.assertIn("Tracked through the relay", text)
        self.assertNotIn("X-Msgtrk-Track", text)

    def test_02_untracked_through_relay(self):
        path, mid = message("Untracked through the relay")
        r = camel_send(RELAY_PLAIN.port, path)
        self.assertEqual(r.code, 0, r)
        self.assertIn("MARK-AFTER no", r.out)
        self.assertEqual(status(mid)[0], "")  # msgtrkd never heard of it
        relay_harness.wait_for("the untracked message",
                               lambda: any(b"Untracked through the relay" in m
                                           for m in RELAY_PLAIN.wait_mail(RCPT)), 30)

    def test_03_starttls_relay_trusted(self):
        path, mid = message("Over STARTTLS")
        r = camel_send(RELAY_TLS.port, path, track=True, security="starttls", trust="accept")
        self.assertEqual(r.code, 0, r)
        # The test CA is unknown to the system: Camel asked the session, as Evolution would.
        self.assertIn("TRUST-PROMPT", r.out)
        envid = status(mid)[0]
        relay_harness.wait_for("the TLS relay's tracking record",
                               lambda: RELAY_TLS.track_record(envid), 30)

    def test_04_starttls_relay_rejected(self):
        path, mid = message("Certificate rejected")
        r = camel_send(RELAY_TLS.port, path, track=True, security="starttls", trust="reject")
        self.assertEqual(r.code, 1, r)
        self.assertIn("TRUST-PROMPT", r.out)
        self.assertEqual(r.error[:2], (ERR, SECURITY), r)
        self.assertIn("Could not secure the connection", r.error[2])
        self.assertEqual(status(mid)[0], "")  # connect fails before Prepare

    def test_05_tracking_unavailable(self):
        path, mid = message("msgtrkd is gone")
        self.assertEqual(SESSION.stop_daemon(), 0, SESSION.log())
        try:
            server = SmtpTestServer(keywords=["DSN", "MTRK"])
            try:
                r = camel_send(server.port, path, track=True)
            finally:
                server.stop()
        finally:
            SESSION.start_daemon()
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, TRACKING_UNAVAILABLE), r)
        self.assertIn("could not be reached", r.error[2])
        self.assertIn("It was not sent", r.error[2])
        self.assertIn("untick “Track this message”", r.error[2])
        self.assertNotIn("MAIL", server.verbs())  # nothing was sent

    def test_06_keyring_unavailable(self):
        bare = msgtrkd_session.Session(BUILD, "nokeyring", keyring=False,
                                       daemon_args=["--idle-exit", "600"]).start()
        try:
            server = SmtpTestServer(keywords=["DSN", "MTRK"])
            try:
                path, _ = message("Keyring locked")
                r = camel_send(server.port, path, track=True, env=bare.env)
            finally:
                server.stop()
        finally:
            bare.cleanup()
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, TRACKING_UNAVAILABLE), r)
        self.assertIn("keyring", r.error[2])
        self.assertNotIn("MAIL", server.verbs())


class ScriptedServerTest(unittest.TestCase):
    """Against smtp_test_server.py."""

    def server(self, **kw):
        s = SmtpTestServer(**kw)
        self.addCleanup(s.stop)
        return s

    def test_10_plain_server_untracked(self):
        s = self.server(keywords=["PIPELINING"])
        path, _ = message("Plain")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(s.lines("MAIL"), ["MAIL FROM:<%s>" % SENDER])
        self.assertEqual(s.lines("RCPT"), ["RCPT TO:<%s>" % RCPT])

    def test_11_plain_server_tracked_is_honest(self):
        s = self.server(keywords=["PIPELINING", "8BITMIME"])
        path, mid = message("No tracking offered")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(s.lines("MAIL"), ["MAIL FROM:<%s>" % SENDER])  # no DSN, no MTRK
        envid, state, summary = status(mid)
        self.assertEqual(state, "untracked", SESSION.log())
        self.assertEqual(summary, "Sent — no tracking offered by 127.0.0.1")
        self.assertNotIn("X-Msgtrk-Track", s.messages()[0].data)

    def test_12_dsn_only_server(self):
        s = self.server(keywords=["DSN"])
        path, mid = message("DSN only")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        envid = status(mid)[0]
        mail = s.lines("MAIL")[0]
        self.assertIn(" ENVID=%s" % envid, mail)
        self.assertIn(" RET=HDRS", mail)
        self.assertNotIn("MTRK=", mail)
        rcpt = s.lines("RCPT")[0]
        self.assertIn("NOTIFY=SUCCESS,FAILURE,DELAY", rcpt)
        self.assertIn("ORCPT=rfc822;%s" % RCPT, rcpt)

    def test_12b_dsn_options_from_settings(self):
        """org.msgtrk's dsn-ret and dsn-notify (the preferences page) reach MAIL and RCPT."""
        conf = os.path.join(TMP, "dsn-settings-config")
        os.makedirs(os.path.join(conf, "glib-2.0", "settings"), exist_ok=True)
        with open(os.path.join(conf, "glib-2.0", "settings", "keyfile"), "w") as f:
            f.write("[org/msgtrk]\ndsn-ret='full'\ndsn-notify=['failure', 'delay']\n")
        s = self.server(keywords=["DSN"])
        path, mid = message("DSN options")
        r = camel_send(s.port, path, track=True,
                       extra_env={"GSETTINGS_BACKEND": "keyfile", "XDG_CONFIG_HOME": conf})
        self.assertEqual(r.code, 0, r)
        self.assertIn(" RET=FULL", s.lines("MAIL")[0])
        rcpt = s.lines("RCPT")[0]
        self.assertIn("NOTIFY=FAILURE,DELAY", rcpt)
        self.assertNotIn("SUCCESS", rcpt)

    def test_13_mtrk_server_parameters(self):
        s = self.server(keywords=["DSN", "MTRK", "SIZE 100000"])
        path, mid = message("Both")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        mail = s.lines("MAIL")[0]
        self.assertRegex(mail, r" MTRK=[A-Za-z0-9+/]{27}=(:\d+)?( |$)")
        self.assertRegex(mail, r" SIZE=\d+$")
        self.assertEqual(status(mid)[1] != "sending", True)

    def test_14_content_track(self):
        """Harrison (docs/harrison.md): the composer's mark becomes Content-Track: <key>,
        the key msgtrkd gives for the message; the mark never leaves; untracked, nothing."""
        s = self.server(keywords=["DSN", "MTRK"])
        path, mid = message("Route please", extra_headers="X-Msgtrk-Content-Track: yes\r\n")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        envid = status(mid)[0]
        key = SESSION.call("RequestContentTrack", "(s)", (envid,), "(s)")[0]
        data = s.messages()[0].data
        self.assertIn("Content-Track: %s" % key, data)
        self.assertNotIn("X-Msgtrk-Content-Track", data)
        path, _ = message("Route, untracked", extra_headers="X-Msgtrk-Content-Track: yes\r\n")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 0, r)
        self.assertNotIn("Content-Track", s.messages()[1].data)

    def test_20_drop_after_mail(self):
        s = self.server(keywords=["DSN", "MTRK"], drop_after="MAIL")
        path, mid = message("Dropped")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, CONNECTION_LOST), r)
        self.assertIn("closed the connection during MAIL FROM", r.error[2])
        self.assertEqual(status(mid)[1], "aborted")  # msgtrkd heard Aborted

    def test_21_drop_after_mail_untracked(self):
        s = self.server(keywords=[], drop_after="MAIL")
        path, _ = message("Dropped plain")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, CONNECTION_LOST), r)

    def test_22_refused_rcpt(self):
        s = self.server(refuse={"RCPT": "550 5.1.1 <bob@example.org>: no such user"})
        path, _ = message("Refused")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, REFUSED), r)
        self.assertIn("refused RCPT TO:<bob@example.org>: 550 5.1.1", r.error[2])
        self.assertIn("no such user", r.error[2])

    def test_24_outbox_flush_after_a_refusal(self):
        # Evolution sends its Outbox on one connection: a refused message must not spoil
        # the next one (RSET between them).
        s = self.server(keywords=["DSN", "MTRK"],
                        refuse={"RCPT": "550 5.1.1 no such user"}, refuse_times={"RCPT": 1})
        first, mid1 = message("Refused first")
        second, mid2 = message("Sent second")
        r = camel_send(s.port, [first, second], track=True)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, REFUSED), r)
        self.assertEqual(r.out.count("SENT"), 1, r)
        self.assertEqual(s.verbs(), ["EHLO", "MAIL", "RCPT", "RSET", "MAIL", "RCPT", "DATA",
                                     "QUIT"])
        self.assertEqual(status(mid1)[1], "aborted")
        self.assertNotIn(status(mid2)[1], ("aborted", "sending", ""))
        self.assertIn("Sent second", s.messages()[0].data)

    def test_23_overlong_reply_line(self):
        s = self.server(long_reply_to="EHLO")
        path, _ = message("Long line")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, PROTOCOL_ERROR), r)
        self.assertIn("longer than 2048", r.error[2])

    def test_25_reply_line_limit(self):
        # MSGTRK_CAMEL_REPLY_LINE_MAX octets (CRLF excluded) pass; one more is refused.
        limit = 2048
        ok = self.server(greeting=["x" * (limit - 4)])  # "220 " + text = limit octets
        path, _ = message("Line at the limit")
        r = camel_send(ok.port, path)
        self.assertEqual(r.code, 0, r)
        bad = self.server(greeting=["x" * (limit - 3)])
        r = camel_send(bad.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, PROTOCOL_ERROR), r)
        self.assertIn("longer than 2048 octets to the greeting", r.error[2])

    def test_26_reply_lines_limit(self):
        # MSGTRK_CAMEL_REPLY_LINES_MAX lines in one reply pass; one more is refused.
        limit = 128
        ok = self.server(greeting=["line %d" % i for i in range(limit)])
        path, _ = message("Lines at the limit")
        r = camel_send(ok.port, path)
        self.assertEqual(r.code, 0, r)
        bad = self.server(greeting=["line %d" % i for i in range(limit + 1)])
        r = camel_send(bad.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, PROTOCOL_ERROR), r)
        self.assertIn("more than 128 lines", r.error[2])

    def test_27_not_smtp(self):
        s = self.server(greeting=None, refuse={"EHLO": "hello there"})
        path, _ = message("Garbage")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, PROTOCOL_ERROR), r)
        self.assertIn("not an SMTP reply", r.error[2])

    def test_30_starttls_auth_plain(self):
        s = self.server(keywords=["STARTTLS"], cert=(os.path.join(PKI, "server.pem"),
                                                     os.path.join(PKI, "server.key")),
                        user="alice", password="s3cret pass", require_auth=True)
        path, _ = message("Authenticated")
        r = camel_send(s.port, path, security="starttls", trust="accept", user="alice",
                       password="s3cret pass")
        self.assertEqual(r.code, 0, r)
        self.assertEqual(s.auth_results, [("alice", True)])
        with s.lock:
            auth = [tls for tls, line in s.commands if line.startswith("AUTH")]
            mail = [tls for tls, line in s.commands if line.startswith("MAIL")]
        self.assertEqual(auth, [True])  # AUTH only after STARTTLS
        self.assertEqual(mail, [True])
        self.assertNotIn("s3cret", r.out + r.err)

    def test_31_auth_wrong_password(self):
        s = self.server(keywords=["STARTTLS"], cert=(os.path.join(PKI, "server.pem"),
                                                     os.path.join(PKI, "server.key")),
                        user="alice", password="right", require_auth=True)
        path, _ = message("Wrong password")
        r = camel_send(s.port, path, security="starttls", trust="accept", user="alice",
                       password="wrong")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[0], "camel-service-error-quark", r)
        self.assertEqual(s.auth_results, [("alice", False)])
        self.assertNotIn("MAIL", s.verbs())

    def test_36_sasl_rounds_limit(self):
        # MSGTRK_CAMEL_SASL_ROUNDS_MAX questions are answered; one more ends the exchange.
        limit = 10
        for rounds, code in ((limit, 0), (limit + 1, 1)):
            s = self.server(user="alice", password="pw", auth_extra_rounds=rounds)
            path, _ = message("SASL rounds %d" % rounds)
            r = camel_send(s.port, path, user="alice", password="pw")
            self.assertEqual(r.code, code, r)
            if code:
                self.assertEqual(r.error[:2], (ERR, PROTOCOL_ERROR), r)
                self.assertIn("more than 10 SASL questions", r.error[2])

    def test_37_mechanism_none(self):
        s = self.server(keywords=[])
        path, _ = message("Mechanism none")
        r = camel_send(s.port, path, user="alice", mechanism="none", password="x")
        self.assertEqual(r.code, 0, r)
        self.assertNotIn("AUTH", s.verbs())

    def test_32_auth_not_offered(self):
        s = self.server(keywords=[])
        path, _ = message("No AUTH")
        r = camel_send(s.port, path, user="alice", password="x")
        self.assertEqual(r.code, 1, r)
        self.assertIn("does not offer PLAIN authentication", r.error[2])
        self.assertNotIn("MAIL", s.verbs())

    def test_33_implicit_tls(self):
        s = self.server(cert=(os.path.join(PKI, "server.pem"), os.path.join(PKI, "server.key")),
                        implicit_tls=True)
        path, _ = message("Implicit TLS")
        r = camel_send(s.port, path, security="tls", trust="accept")
        self.assertEqual(r.code, 0, r)
        self.assertTrue(all(tls for tls, _ in s.commands))

    def test_34_starttls_required_not_offered(self):
        s = self.server(keywords=["PIPELINING"])
        path, _ = message("Stripped STARTTLS")
        r = camel_send(s.port, path, security="starttls", trust="accept")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, SECURITY), r)
        self.assertIn("does not offer STARTTLS", r.error[2])
        self.assertNotIn("MAIL", s.verbs())

    def test_35_starttls_injection(self):
        s = self.server(keywords=["STARTTLS"], cert=(os.path.join(PKI, "server.pem"),
                                                     os.path.join(PKI, "server.key")),
                        inject_after_starttls=b"250 injected\r\n")
        path, _ = message("Injected")
        r = camel_send(s.port, path, security="starttls", trust="accept")
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, SECURITY), r)
        self.assertIn("before the TLS handshake", r.error[2])

    def test_40_size_too_big(self):
        s = self.server(keywords=["SIZE 200"])
        path, _ = message("Big", body="x" * 300 + "\r\n")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, TOO_BIG), r)
        self.assertNotIn("MAIL", s.verbs())

    def test_41_8bitmime_dots_bcc_and_mark(self):
        s = self.server(keywords=["8BITMIME"])
        body = "Grüße.\r\n.a line with a leading dot\r\n"
        path, _ = message("Eight bit", body=body,
                          extra_headers="Bcc: hidden@example.org\r\nMIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n")
        r = camel_send(s.port, path, rcpts=(RCPT, "hidden@example.org"))
        self.assertEqual(r.code, 0, r)
        self.assertEqual(s.lines("MAIL"), ["MAIL FROM:<%s> BODY=8BITMIME" % SENDER])
        self.assertEqual(len(s.lines("RCPT")), 2)
        data = s.messages()[0].data
        self.assertIn(".a line with a leading dot", data)  # unstuffed by the server
        self.assertIn("Grüße", data)
        self.assertNotIn("Bcc", data)
        self.assertNotIn("X-Msgtrk-Track", data)

    def test_42_8bit_without_8bitmime_is_reencoded(self):
        s = self.server(keywords=[])
        body = "Grüße.\r\n"
        path, _ = message("Seven bit", body=body,
                          extra_headers="MIME-Version: 1.0\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Content-Transfer-Encoding: 8bit\r\n")
        r = camel_send(s.port, path)
        self.assertEqual(r.code, 0, r)
        data = s.messages()[0].data
        self.assertTrue(all(ord(c) < 128 for c in data), data)
        self.assertEqual(s.lines("MAIL"), ["MAIL FROM:<%s>" % SENDER])


class TrueRecordTest(unittest.TestCase):
    """msgtrkd ends up with a true record of what happened to a send, whatever the server's
    text (long, not UTF-8) or the connection did (session 21 review)."""

    def server(self, **kw):
        s = SmtpTestServer(**kw)
        self.addCleanup(s.stop)
        return s

    def test_60_long_refusal_still_aborted(self):
        # A multi-line 550 of 5 x 1000 octets (each line within REPLY_LINE_MAX): the send
        # fails, and msgtrkd must hear Aborted, whatever the length of the server's text.
        lines = ["550-5.7.1 " + "p" * 990] * 4 + ["550 5.7.1 " + "q" * 990]
        s = self.server(keywords=["DSN", "MTRK"], refuse={"RCPT": "\r\n".join(lines)})
        path, mid = message("Refused at length")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(r.error[:2], (ERR, REFUSED), r)
        self.assertEqual(status(mid)[1], "aborted", r.err)

    def test_61_long_subject_can_be_tracked(self):
        # The subject is only for display in msgtrkd: a long (folded) one must not make a
        # tracked message impossible to send tracked.
        words = ["word%03d" % i for i in range(140)]  # 1,119 octets once unfolded
        folded = "\r\n ".join(" ".join(words[i:i + 8]) for i in range(0, len(words), 8))
        path, mid = message(folded)
        r = camel_send(self.server(keywords=["DSN", "MTRK"]).port, path, track=True)
        self.assertEqual(r.code, 0, r)
        self.assertTrue(status(mid)[0].startswith("mtrk."), r)

    def test_62_reply_lost_after_data_is_not_not_sent(self):
        # The server queued the message and the connection broke before its reply to the
        # final dot: the message may well be on its way. msgtrkd must not record it as
        # "Not sent" (aborted), which the next Prepare of the same Message-ID forgets.
        s = self.server(keywords=["DSN", "MTRK"], drop_after="DATA-END")
        path, mid = message("Reply lost")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 1, r)
        self.assertEqual(len(s.messages()), 1)  # the server has it
        self.assertNotEqual(status(mid)[1], "aborted", r)
        # Recorded as sent with no reply (MTQP tracking then tells what became of it).
        self.assertEqual(status(mid)[1], "in-transit", r)

    def test_63_non_utf8_final_reply_still_committed(self):
        # A server's reply to the final dot in Latin-1 (not UTF-8): the message is out, and
        # msgtrkd must hear Committed (else it stays "sending", never tracked).
        s = self.server(keywords=["DSN", "MTRK"],
                        data_end_reply=b"250 2.0.0 Ok: Nachricht \xfcbernommen")
        path, mid = message("Latin-1 reply")
        r = camel_send(s.port, path, track=True)
        self.assertEqual(r.code, 0, r)
        self.assertIn("SENT", r.out)
        self.assertNotIn(status(mid)[1], ("sending", ""), r)
        self.assertNotIn("CRITICAL", r.err)  # no assertion failure in Evolution's process


if __name__ == "__main__":
    try:
        unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
    finally:
        import shutil
        shutil.rmtree(TMP, ignore_errors=True)
