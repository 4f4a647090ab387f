#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd end to end: the real daemon on a private bus with a real keyring, tracking a
message sent through the demo network (msgtrk-relay + mtqpd hops on 127.0.0.1).

Covers Prepare → SMTP with the returned ENVID and B → Committed → polling → StatusChanged
and GetRoute (alice delivered through three hops, bob failed, carol delayed, dave
relayed), GetStatus, List, ExportUrl → ImportUrl into a second daemon with its own bus,
keyring and store (delegation), IngestReport (a DSN from the demo network, an unknown
report, garbage), Forget, Aborted, an untracked message, a session without a keyring
(KeyringUnavailable), a restart, and that A appears in no output, log or file.
"""
import base64
import os
import re
import smtplib
import subprocess
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import msgtrkd_harness as harness  # noqa: E402

ARGS, REST, NET = harness.demo_network()  # first: may re-execute this process
Msgtrk = NET.Msgtrk

from gi.repository import GLib  # noqa: E402

EXPECTED = dict(NET.FOUR)
SESSIONS = harness.DemoSessions(ARGS, NET, harness.FAST_POLL_ARGS)
new_session = SESSIONS.new


def send(envid, authenticator, timeout, recipients=None, subject="Quarterly numbers"):
    """What a mail client plugin does: SMTP with ENVID/NOTIFY/RET/ORCPT and MTRK=B."""
    recipients = recipients or list(EXPECTED)
    env = Msgtrk.Envelope.new(envid)
    env.set_authenticator(authenticator)
    env.set_mtrk_timeout(timeout)
    env.set_ret(Msgtrk.DsnRet.HDRS)
    env.set_notify(Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE |
                   Msgtrk.DsnNotify.DELAY)
    submit = NET.hops["submit"]
    with smtplib.SMTP("127.0.0.1", submit.relay.port, local_hostname="laptop.demo.test",
                      timeout=20) as smtp:
        code, text = smtp.ehlo()
        assert code == 250, text
        lines = text.decode().split("\n")
        reply = "".join("250-%s\r\n" % line for line in lines[:-1]) + "250 %s\r\n" % lines[-1]
        caps = Msgtrk.SmtpCapabilities.parse(reply)
        code, text = smtp.docmd("MAIL", "FROM:" + env.build_mail_from_arg(caps, NET.SENDER))
        assert code == 250, text
        for rcpt in recipients:
            code, text = smtp.docmd("RCPT", "TO:" + env.build_rcpt_to_arg(caps, rcpt))
            assert code in (250, 251), text
        body = ("From: Sender <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
                "Date: %s\r\n\r\nThe numbers are in.\r\n"
                % (NET.SENDER, ", ".join(recipients), subject, message_id_of(envid),
                   time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
        code, text = smtp.data(body.encode())
        assert code == 250, text
    keywords = [line for line in lines[1:]]
    return keywords, text.decode()


def message_id_of(envid):
    return envid.replace("@", ".demo@")


states = harness.states
wait_route = SESSIONS.wait_route


def make_dsn(envid, entries, reporting_mta="mx.lists.example", message_id=None,
             returned=None, boundary="dsn-boundary-1", global_types=False):
    """A DSN as Postfix writes it (multipart/report, LF line ends): a text part, a
    delivery-status part with one block per (recipient, action, status) of @entries, and
    the returned message (@returned: bytes of a whole message/rfc822 part) or its
    headers. @global_types: the RFC 6533 message/global-* types of an SMTPUTF8 bounce."""
    ds_type = "message/global-delivery-status" if global_types else "message/delivery-status"
    blocks = []
    for rcpt, action, status in entries:
        blocks.append("Final-Recipient: rfc822; %s\nOriginal-Recipient: rfc822;%s\n"
                      "Action: %s\nStatus: %s\n" % (rcpt, rcpt, action, status))
    mid = message_id or "<dsn-test@demo.test>"
    head = ("From: MAILER-DAEMON@%s (Mail Delivery System)\nTo: %s\n"
            "Subject: Delivery Status Notification\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type = delivery-status;\n"
            "\tboundary=\"%s\"\n\nThis is a MIME-encapsulated message.\n\n"
            "--%s\nContent-Type: text/plain; charset=utf-8\n\nA report.\n\n"
            "--%s\nContent-Type: %s\n\nReporting-MTA: dns; %s\n"
            "Original-Envelope-Id: %s\n\n%s\n"
            % (reporting_mta, NET.SENDER, boundary, boundary, boundary, ds_type,
               reporting_mta, envid, "\n".join(blocks))).encode()
    if returned is None:
        hdr_type = "message/global-headers" if global_types else "text/rfc822-headers"
        tail = ("--%s\nContent-Type: %s\n\nMessage-ID: %s\nFrom: %s\n"
                "Subject: Returned\n\n--%s--\n"
                % (boundary, hdr_type, mid, NET.SENDER, boundary)).encode()
    else:
        msg_type = "message/global" if global_types else "message/rfc822"
        tail = (("--%s\nContent-Type: %s\n\n" % (boundary, msg_type)).encode() + returned
                + ("\n--%s--\n" % boundary).encode())
    return head + tail


def ingest_bytes(session, raw):
    """IngestReport with @raw passed as one GBytes: PyGObject builds an "ay" from Python
    bytes element by element, which takes a minute for 25 MB."""
    from gi.repository import Gio
    array = GLib.Variant.new_from_bytes(GLib.VariantType("ay"), GLib.Bytes.new(raw), True)
    result = session.conn.call_sync(harness.BUS_NAME, harness.OBJECT_PATH, harness.INTERFACE,
                                    "IngestReport", GLib.Variant.new_tuple(array),
                                    GLib.VariantType("(s)"), Gio.DBusCallFlags.NO_AUTO_START,
                                    120000, None)
    session.pump()
    return result.unpack()[0]


def setUpModule():
    NET.start()


def tearDownModule():
    SESSIONS.cleanup()


class MsgtrkdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = new_session("main")
        cls.envid, cls.auth, cls.timeout = cls.s.prepare(
            NET.SENDER, list(EXPECTED) + ["Alice@Example.NET"], "<pending@demo.test>",
            "Quarterly numbers", "submit.demo.test")
        cls.keywords, cls.reply = send(cls.envid, cls.auth, cls.timeout)
        cls.s.committed(cls.envid, cls.keywords, cls.reply)
        cls.route = wait_route(cls.s, cls.envid, EXPECTED)

    # --- Prepare/Committed/polling/GetRoute ---
    def test_01_prepare_result(self):
        self.assertTrue(self.envid.startswith("mtrk.") and self.envid.endswith("@demo.test"))
        self.assertEqual(len(self.auth), 28)
        self.assertEqual(self.timeout, 604800)
        self.assertIn("MTRK", self.keywords)

    def test_02_route_states_and_hops(self):
        route = self.route
        self.assertEqual(route["envid"], self.envid)
        self.assertEqual(route["tracking"], "mtqp")
        self.assertEqual(route["submission_host"], "submit.demo.test")
        self.assertEqual(route["sender"], NET.SENDER)
        self.assertEqual(route["state"], "failed")
        self.assertEqual(route["summary"], "Failed 1/4, 1 delayed, 1 relayed, 1 delivered")
        self.assertFalse(route["final"])
        self.assertIsNotNone(route["sent"])
        self.assertIsNotNone(route["last_poll"])
        for key in ("message_id", "subject", "offered", "next_poll", "events"):
            self.assertIn(key, route)
        alice = [r for r in route["recipients"] if r["address"] == "alice@example.net"][0]
        mtqp = [h for h in alice["hops"] if h["source"] == "mtqp"]
        self.assertEqual([h["reporting_mta"] for h in mtqp],
                         ["submit.demo.test", "relay.example.net", "mx.example.net"])
        self.assertEqual([h["action"] for h in mtqp], ["transferred", "transferred", "delivered"])
        self.assertEqual(mtqp[0]["remote_mta"], "relay.example.net")
        for h in mtqp:
            for key in ("server", "status", "comment", "arrival", "last_attempt",
                        "will_retry_until", "diagnostic", "from_address", "delay_seconds",
                        "error"):
                self.assertIn(key, h)
            self.assertIsNone(h["error"])
            # the address msgtrkd's MTQP session connected to (the demo runs on loopback)
            self.assertRegex(h["server_address"] or "", r"^127\.", h)
            self.assertEqual(h["sources"], ["mtqp"], h)
        bob = [r for r in route["recipients"] if r["address"] == "bob@gone.example"][0]
        self.assertEqual([h["status"] for h in bob["hops"] if h["source"] == "mtqp"], ["5.1.2"])
        dave = [r for r in route["recipients"] if r["address"] == "dave@legacy.example"][0]
        self.assertEqual([h for h in dave["hops"] if h["source"] == "mtqp"][-1]["action"],
                         "relayed")
        texts = [e["text"] for e in route["events"]]
        self.assertTrue(any(t.startswith("Sent to submit.demo.test") for t in texts), texts)
        self.assertTrue(any("Handed to relay.example.net" in t for t in texts), texts)

    def test_03_status_changed_signals(self):
        self.s.wait_for("the final StatusChanged",
                        lambda: (self.envid, "failed",
                                 "Failed 1/4, 1 delayed, 1 relayed, 1 delivered")
                        in self.s.signals)
        mine = [sig for sig in self.s.signals if sig[0] == self.envid]
        self.assertEqual(mine[0][1], "sending")
        # Only changes are signalled: no two identical signals in a row.
        for a, b in zip(mine, mine[1:]):
            self.assertNotEqual(a, b)
        # Each names the message's Message-ID (without <>), so that a client can place a
        # message it has not seen yet without asking again.
        full = [sig for sig in self.s.full_signals if sig[0] == self.envid]
        self.assertEqual(len(full), len(mine))
        self.assertTrue(all(len(sig) == 4 for sig in full), full[:2])
        self.assertEqual(full[-1][3], self.s.get_route(self.envid)["message_id"])
        self.assertNotIn("<", full[-1][3])

    def test_04_get_status_batch(self):
        mid = "<%s>" % message_id_of(self.envid)
        got = self.s.get_status([self.envid, "nobody@nowhere", mid, ""])
        summary = "Failed 1/4, 1 delayed, 1 relayed, 1 delivered"
        self.assertEqual(got[0], (self.envid, self.envid, "failed", summary))
        self.assertEqual(got[1], ("nobody@nowhere", "", "", ""))
        self.assertEqual(got[3], ("", "", "", ""))
        # The Prepare call gave a placeholder Message-ID: look it up with and without <>.
        got = self.s.get_status(["pending@demo.test", "<pending@demo.test>"])
        self.assertEqual([g[1] for g in got], [self.envid, self.envid])

    def test_05_list(self):
        items = self.s.list()
        mine = [m for m in items if m["envid"] == self.envid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["recipients"], list(EXPECTED))  # Alice@Example.NET merged
        for key in ("message_id", "subject", "sent", "tracking", "state", "summary", "final"):
            self.assertIn(key, mine[0])

    def test_06_track_now(self):
        before = self.s.get_route(self.envid)["last_poll"]
        time.sleep(1.1)
        self.s.track(self.envid)
        self.s.wait_for("a new poll",
                        lambda: self.s.get_route(self.envid)["last_poll"] != before,
                        timeout=30)

    def test_07_invalid_arguments(self):
        cases = [
            ("", ["a@b.example"]),
            ("nodomain", ["a@b.example"]),
            ("me@demo.test", []),
            ("me@demo.test", ["not an address"]),
            # libmsgtrk's one mailbox grammar, the one the envelope builders use
            ("me@demo.test", ["a(b)@example.net"]),
            ("me@demo.test", ["a@-b.example"]),
            ("me@demo..test", ["a@b.example"]),
        ]
        for sender, rcpts in cases:
            with self.assertRaises(GLib.Error) as ctx:
                self.s.prepare(sender, rcpts, "", "", "submit.demo.test")
            self.assertEqual(harness.remote_error(ctx.exception),
                             "org.msgtrk.Tracker1.Error.InvalidArgument", (sender, rcpts))
        with self.assertRaises(GLib.Error) as ctx:
            self.s.get_route("unknown@nowhere")
        self.assertEqual(harness.remote_error(ctx.exception), "org.msgtrk.Tracker1.Error.NotFound")

    def test_08_limits(self):
        # MSGTRKD_MAX_RECIPIENTS: 1000 accepted, 1001 refused.
        rcpts = ["r%d@example.net" % i for i in range(1001)]
        envid, _, _ = self.s.prepare(NET.SENDER, rcpts[:1000], "", "", "submit.demo.test")
        self.assertEqual(len(self.s.get_route(envid)["recipients"]), 1000)
        self.s.aborted(envid, "limit test")
        with self.assertRaises(GLib.Error) as ctx:
            self.s.prepare(NET.SENDER, rcpts, "", "", "submit.demo.test")
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.InvalidArgument")
        # MSGTRKD_MAX_STATUS_IDS: 10000 accepted, 10001 refused.
        self.assertEqual(len(self.s.get_status(["x"] * 10000)), 10000)
        with self.assertRaises(GLib.Error) as ctx:
            self.s.get_status(["x"] * 10001)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.InvalidArgument")
        # MSGTRKD_MAX_FIELD_LENGTH for the subject (only shown): 998 bytes kept, a longer
        # one cut at a character boundary (a 3-octet character across the limit goes
        # whole), never refused (the message could not be sent tracked).
        def subject_of(envid):
            return self.s.get_route(envid).get("subject")

        envid, _, _ = self.s.prepare(NET.SENDER, ["a@example.net"], "", "s" * 998,
                                     "submit.demo.test")
        self.assertEqual(subject_of(envid), "s" * 998)
        self.s.aborted(envid, "")
        envid, _, _ = self.s.prepare(NET.SENDER, ["a@example.net"], "", "s" * 997 + "\u4e2d",
                                     "submit.demo.test")
        self.assertEqual(subject_of(envid), "s" * 997)
        self.s.aborted(envid, "")
        # The Message-ID is not cut: 999 bytes refused.
        with self.assertRaises(GLib.Error) as ctx:
            self.s.prepare(NET.SENDER, ["a@example.net"], "<%s@x>" % ("m" * 995), "",
                           "submit.demo.test")
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.InvalidArgument")
        # MSGTRKD_MAX_REPLY_LENGTH: 4096 kept, a longer reply (or reason) cut, never refused
        # (refused, the record stayed "sending").
        def events_of(envid):
            return [e["text"] for e in self.s.get_route(envid)["events"]]

        envid, _, _ = self.s.prepare(NET.SENDER, ["a@example.net"], "", "", "smtp.x.example")
        self.s.committed(envid, [], "r" * 4096)
        self.assertIn("Sent to smtp.x.example (%s)" % ("r" * 4096), events_of(envid))
        self.s.forget(envid)
        envid, _, _ = self.s.prepare(NET.SENDER, ["a@example.net"], "", "", "smtp.x.example")
        self.s.committed(envid, [], "r" * 4096 + "tail")
        self.assertIn("Sent to smtp.x.example (%s)" % ("r" * 4096), events_of(envid))
        self.s.forget(envid)
        envid, _, _ = self.s.prepare(NET.SENDER, ["a@example.net"], "", "", "smtp.x.example")
        self.s.aborted(envid, "550 " + "q" * 10000)
        self.assertEqual(self.s.get_status([envid])[0][2], "aborted")
        self.assertIn("Not sent: 550 " + "q" * 4092, events_of(envid))
        self.s.forget(envid)

    def test_09_option_limits(self):
        # Poll schedule: 32 steps of at most 30 days; one more step or second is refused
        # (exit 2). A valid command line gets as far as the bus (the name is taken: 1).
        def run(*args):
            return subprocess.run([self.s.msgtrkd, "--store-dir", self.s.store_dir] +
                                  list(args), env=self.s.env, capture_output=True,
                                  timeout=30).returncode
        self.assertEqual(run("--poll-schedule", ",".join(["1"] * 32)), 1)
        self.assertEqual(run("--poll-schedule", ",".join(["1"] * 33)), 2)
        self.assertEqual(run("--poll-schedule", "2592000"), 1)
        self.assertEqual(run("--poll-schedule", "2592001"), 2)
        self.assertEqual(run("--poll-schedule", "0"), 2)
        self.assertEqual(run("--poll-schedule", "1,,2"), 2)
        self.assertEqual(run("--keyring", "plaintext"), 2)
        self.assertEqual(run("--mtqp-override", "novalue"), 1)
        self.assertEqual(run("--idle-exit", "0"), 2)

    # --- delegation ---
    def test_10_export_import_delegation(self):
        url = self.s.export_url(self.envid)
        self.assertTrue(url.startswith("mtqp://submit.demo.test/track/"))
        other = new_session("delegate")
        try:
            envid = other.import_url(url)
            self.assertEqual(envid, self.envid)
            route = wait_route(other, envid, EXPECTED)
            self.assertEqual(route["tracking"], "delegated")
            alice = [r for r in route["recipients"] if r["address"] == "alice@example.net"][0]
            self.assertEqual([h["reporting_mta"] for h in alice["hops"] if h["source"] == "mtqp"],
                             ["submit.demo.test", "relay.example.net", "mx.example.net"])
            self.assertEqual(other.import_url(url), envid)  # no duplicate
            self.assertEqual(len(other.list()), 1)
            with self.assertRaises(GLib.Error) as ctx:
                other.import_url("mtqp://host/track/x")
            self.assertEqual(harness.remote_error(ctx.exception),
                             "org.msgtrk.Tracker1.Error.InvalidArgument")
            self.assertEqual(other.stop(), 0, other.log())
        finally:
            other.stop()

    # --- IngestReport ---
    def dsns(self):
        def found():
            mine = [data for _, data in NET.sender_mail(self.envid.encode())]
            return mine if len(mine) >= 2 else None
        return self.s.wait_for("DSNs in the sender's mailbox", found, timeout=30)

    def test_20_ingest_dsn(self):
        for raw in self.dsns():
            self.assertEqual(self.s.ingest(raw), self.envid)
        route = self.s.get_route(self.envid)
        sources = {x for r in route["recipients"] for h in r["hops"] for x in h["sources"]}
        self.assertIn("dsn", sources, route)
        self.assertIn("trace", sources, route)
        bob = [r for r in route["recipients"] if r["address"] == "bob@gone.example"][0]
        self.assertTrue(any("dsn" in h["sources"] and h["action"] == "failed"
                            for h in bob["hops"]), bob)
        self.assertTrue(any(e["source"] == "dsn" and e["text"].startswith("DSN from")
                            for e in route["events"]), route["events"])
        self.assertEqual(states(route), EXPECTED)

    def test_21_ingest_unknown_and_garbage(self):
        raw = self.dsns()[0]
        other = raw.replace(self.envid.encode(), b"mtrk.unknown@else.example")
        other = other.replace(message_id_of(self.envid).encode(), b"unknown@else.example")
        self.assertEqual(self.s.ingest(other), "")
        for garbage in (b"", b"hello\r\n", b"\x00\xff" * 100):
            with self.assertRaises(GLib.Error) as ctx:
                self.s.ingest(garbage)
            self.assertEqual(harness.remote_error(ctx.exception),
                             "org.msgtrk.Tracker1.Error.InvalidArgument")

    def never_sent(self, rcpts, subject):
        """A message committed to the demo submission server but never sent: each poll
        ends in "Tracking failed" (the server does not know it) and polling goes on."""
        envid, _, _ = self.s.prepare(NET.SENDER, rcpts, "", subject, "submit.demo.test")
        self.s.committed(envid, ["DSN", "MTRK"], "250 2.0.0 queued")
        self.s.wait_for("a failed poll of %s" % envid,
                        lambda: any(e["text"].startswith("Tracking failed")
                                    for e in self.s.get_route(envid)["events"]),
                        timeout=30)
        return envid

    def test_22_expanded_is_final(self):
        """Issue 8 item 6: a DSN "expanded" (a list or alias took the message) is final
        for that address: delivered, and the scheduler stops polling the message."""
        envid = self.never_sent(["team@lists.example"], "To the list")
        dsn = make_dsn(envid, [("team@lists.example", "expanded", "2.0.0")])
        self.assertEqual(self.s.ingest(dsn), envid)
        route = self.s.get_route(envid)
        self.assertEqual(states(route), {"team@lists.example": "delivered"}, route)
        self.assertEqual(route["state"], "delivered")
        self.assertTrue(route["final"], route)
        self.assertIsNone(route["next_poll"], route)
        self.assertTrue(any("team@lists.example — Delivered to a mailing list or alias" in e["text"]
                            for e in route["events"]), route["events"])
        polls = len([e for e in route["events"] if e["text"].startswith("Tracking failed")])
        last_poll = route["last_poll"]
        time.sleep(4.5)  # the schedule is 1, 2, 3 s: two more polls if it went on
        route = self.s.get_route(envid)
        self.assertEqual(route["last_poll"], last_poll, route)
        self.assertEqual(len([e for e in route["events"]
                              if e["text"].startswith("Tracking failed")]), polls, route)
        self.s.forget(envid)

    def test_23_delegated_learns_every_recipient(self):
        """Issue 8 item 5: a message tracked through an imported link learns its recipients
        from every report, not only from the first one."""
        envid = self.never_sent(["a1@example.net", "a2@example.net", "a3@example.net"],
                                "Delegated, three DSNs")
        # ExportUrl names only a tracking server that answered (NoServerYet before): the
        # delegate gets a link of the same form to a server that refuses connections.
        secret = base64.b64encode(os.urandom(32)).decode()
        url = "mtqp://127.0.0.1:1/track/%s/%s" % (urllib.parse.quote(envid, safe=""),
                                                   urllib.parse.quote(secret, safe=""))
        other = new_session("delegate-dsns")
        try:
            self.assertEqual(other.import_url(url), envid)
            other.wait_for("a failed poll of the delegate",
                           lambda: any(e["text"].startswith("Tracking failed")
                                       for e in other.get_route(envid)["events"]),
                           timeout=30)
            dsns = [make_dsn(envid, [("a1@example.net", "delivered", "2.0.0")],
                             reporting_mta="mx1.example.net", boundary="b1"),
                    make_dsn(envid, [("a2@example.net", "failed", "5.1.1")],
                             reporting_mta="mx2.example.net", boundary="b2"),
                    make_dsn(envid, [("a3@example.net", "delayed", "4.4.1")],
                             reporting_mta="mx3.example.net", boundary="b3")]
            for dsn in dsns:
                self.assertEqual(other.ingest(dsn), envid)
            route = other.get_route(envid)
            self.assertEqual(states(route), {"a1@example.net": "delivered",
                                             "a2@example.net": "failed",
                                             "a3@example.net": "delayed"}, route)
            self.assertEqual(route["summary"], "Failed 1/3, 1 delayed, 1 delivered")
            self.assertEqual(sorted(other.list()[0]["recipients"]),
                             ["a1@example.net", "a2@example.net", "a3@example.net"])
            self.assertEqual(other.stop(), 0, other.log())
        finally:
            other.stop()
        self.s.forget(envid)

    def test_24_big_bounce(self):
        """Issue 8 item 3: a bounce returning the whole message with a 25 MB attachment
        (a real DSN layout) turns the message Failed, over D-Bus and through the CLI; only
        its report parts are stored."""
        envid, _, _ = self.s.prepare(NET.SENDER, ["big@gone.example"], "<big.1@demo.test>",
                                     "The video", "smtp.dsn-only.example")
        self.s.committed(envid, ["DSN"], "250 2.0.0 queued")
        attachment = base64.encodebytes(bytes(range(256)) * (25 * 1024 * 1024 // 256))
        returned = (b"Message-ID: <big.1@demo.test>\nFrom: <" + NET.SENDER.encode() +
                    b">\nSubject: The video\nMIME-Version: 1.0\n"
                    b"Content-Type: multipart/mixed; boundary=inner\n\n--inner\n"
                    b"Content-Type: text/plain\n\nHere it is.\n--inner\n"
                    b"Content-Type: video/mp4\nContent-Transfer-Encoding: base64\n\n"
                    + attachment + b"\n--inner--\n")
        dsn = make_dsn(envid, [("big@gone.example", "failed", "5.2.2")], returned=returned)
        self.assertGreater(len(dsn), 25 * 1024 * 1024)
        started = time.monotonic()
        self.assertEqual(ingest_bytes(self.s, dsn), envid)
        self.assertLess(time.monotonic() - started, 30)
        route = self.s.get_route(envid)
        self.assertEqual((route["state"], route["summary"]), ("failed", "Failed 1/1"), route)
        self.s.forget(envid)

        # The same through `msgtrk ingest FILE` (a second message, same layout).
        envid2, _, _ = self.s.prepare(NET.SENDER, ["big@gone.example"], "", "The video again",
                                      "smtp.dsn-only.example")
        self.s.committed(envid2, ["DSN"], "250 2.0.0 queued")
        path = os.path.join(self.s.base, "big-bounce.eml")
        with open(path, "wb") as f:
            f.write(make_dsn(envid2, [("big@gone.example", "failed", "5.2.2")],
                             returned=returned))
        done = self.s.cli("ingest", path)
        os.unlink(path)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(envid2.encode(), done.stdout)
        self.assertEqual(self.s.get_route(envid2)["state"], "failed")
        self.s.forget(envid2)

    def report_rows(self, envid):
        """(source, origin) of each stored report row of @envid, read from the store."""
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.s.store_dir, "msgtrk.db"),
                             uri=True, timeout=10)
        try:
            return [tuple(r) for r in db.execute(
                "SELECT source, ifnull(origin, '') FROM reports WHERE envid = ? ORDER BY id",
                (envid,))]
        finally:
            db.close()

    def test_25_one_row_per_answer(self):
        """Issue 8 item 14: each poll of a delayed hop gives a new answer (its
        Last-Attempt-Date moves on); the store keeps one row per hop and set of recipients,
        the newest, not one per poll."""
        before = self.s.get_route(self.envid)["last_poll"]
        polls = [before]

        def more_polls():
            last = self.s.get_route(self.envid)["last_poll"]
            if last != polls[-1]:
                polls.append(last)
            return len(polls) >= 6
        for _ in range(3):
            self.s.track(self.envid)
            time.sleep(1.1)
        self.s.wait_for("five more polls", more_polls, timeout=60, interval=0.5)
        rows = [r for r in self.report_rows(self.envid) if r[0] == "mtqp"]
        per_origin = {}
        for source, origin in rows:
            per_origin[origin] = per_origin.get(origin, 0) + 1
        # Each hop answers about one set of recipients: one row each.
        self.assertEqual(set(per_origin.values()), {1}, per_origin)
        self.assertEqual(states(self.s.get_route(self.envid)), EXPECTED)

    def test_26_report_cap(self):
        """Issue 8 item 14: MSGTRKD_STORE_MAX_REPORTS_PER_MESSAGE (256) distinct reports of
        one message are stored; one more deletes the oldest; the message stays readable."""
        cap = 256
        envid, _, _ = self.s.prepare(NET.SENDER, ["many@x.example"], "", "Many reports",
                                     "smtp.dsn-only.example")
        self.s.committed(envid, ["DSN"], "250 2.0.0 queued")
        for i in range(cap + 1):
            dsn = make_dsn(envid, [("many@x.example", "delayed", "4.4.1")],
                           reporting_mta="mx%d.x.example" % i, boundary="b%d" % i)
            self.assertEqual(ingest_bytes(self.s, dsn), envid)
            if i == cap - 1:
                self.assertEqual(len(self.report_rows(envid)), cap)
        rows = self.report_rows(envid)
        self.assertEqual(len(rows), cap)
        self.assertNotIn(("dsn", "mx0.x.example"), rows)
        self.assertIn(("dsn", "mx%d.x.example" % cap), rows)
        route = self.s.get_route(envid)
        self.assertEqual(states(route), {"many@x.example": "delayed"})
        self.s.forget(envid)

    # --- other life cycles ---
    def test_30_untracked_and_aborted(self):
        envid, auth, timeout = self.s.prepare(NET.SENDER, ["x@example.net"], "", "Plain",
                                              "smtp.plain.example")
        self.s.committed(envid, ["PIPELINING", "8BITMIME"], "250 2.0.0 Ok: queued as ABC")
        route = self.s.get_route(envid)
        self.assertEqual(route["tracking"], "none")
        self.assertEqual(route["state"], "untracked")
        self.assertEqual(route["summary"], "Sent — no tracking offered by smtp.plain.example")
        with self.assertRaises(GLib.Error) as ctx:
            self.s.track(envid)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.NotTrackable")
        envid2, _, _ = self.s.prepare(NET.SENDER, ["y@example.net"], "", "", "submit.demo.test")
        self.s.aborted(envid2, "the user cancelled")
        self.assertEqual(self.s.get_status([envid2])[0][2], "aborted")
        with self.assertRaises(GLib.Error) as ctx:
            self.s.export_url(envid2)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.NotTrackable")

    def test_31_forget(self):
        envid, auth, timeout = self.s.prepare(NET.SENDER, ["z@example.net"], "", "Gone soon",
                                              "submit.demo.test")
        self.s.committed(envid, ["DSN", "MTRK"], "250 ok")
        self.s.forget(envid)
        self.assertEqual(self.s.get_status([envid])[0][1], "")
        with self.assertRaises(GLib.Error) as ctx:
            self.s.forget(envid)
        self.assertEqual(harness.remote_error(ctx.exception), "org.msgtrk.Tracker1.Error.NotFound")

    def test_40_keyring_unavailable(self):
        bare = new_session("nokeyring", keyring=False)
        try:
            with self.assertRaises(GLib.Error) as ctx:
                bare.prepare(NET.SENDER, ["a@example.net"], "", "", "submit.demo.test")
            self.assertEqual(harness.remote_error(ctx.exception),
                             "org.msgtrk.Tracker1.Error.KeyringUnavailable", bare.log())
            self.assertEqual(bare.list(), [])
            self.assertEqual(bare.stop(), 0, bare.log())
        finally:
            bare.stop()

    def test_50_restart_resumes(self):
        before = self.s.get_route(self.envid)
        self.assertEqual(self.s.stop_daemon(), 0, self.s.log())
        self.s.start_daemon()
        after = self.s.get_route(self.envid)
        self.assertEqual(states(after), EXPECTED)
        self.assertEqual(after["summary"], before["summary"])
        alice = [r for r in after["recipients"] if r["address"] == "alice@example.net"][0]
        self.assertEqual(len([h for h in alice["hops"] if "mtqp" in h["sources"]]), 3)
        # Polling resumes from the store (carol is still delayed: not final).
        self.s.wait_for("a poll after the restart",
                        lambda: self.s.get_route(self.envid)["last_poll"] != before["last_poll"],
                        timeout=30)

    # --- batches: all due messages of one server in one MTQP session ---
    def test_60_batch_one_session(self):
        """Several messages due at once for one submission server are polled in one
        session with it (the mtqpd log names each TRACK's peer, client port included: one
        peer = one connection); a message the server does not know gets its own error
        event, the others are unaffected."""
        rcpts = ["alice@example.net", "bob@gone.example"]
        sent = []
        for i in range(5):
            envid, auth, timeout = self.s.prepare(NET.SENDER, rcpts, "", "Batch %d" % i,
                                                  "submit.demo.test")
            sent.append((envid,) + send(envid, auth, timeout, recipients=rcpts,
                                        subject="Batch %d" % i))
        unknown, _, _ = self.s.prepare(NET.SENDER, rcpts, "", "Never sent", "submit.demo.test")
        # Commit all in the same second, so that they fall due together.
        while time.time() % 1.0 > 0.3:
            time.sleep(0.05)
        for envid, keywords, reply in sent:
            self.s.committed(envid, keywords, reply)
        self.s.committed(unknown, ["DSN", "MTRK"], "250 2.0.0 queued")
        for envid, _, _ in sent:
            wait_route(self.s, envid, {"alice@example.net": "delivered",
                                       "bob@gone.example": "failed"})
        self.s.wait_for("the unknown message's error",
                        lambda: any(e["text"].startswith("Tracking failed")
                                    for e in self.s.get_route(unknown)["events"]),
                        timeout=30)
        self.s.forget(unknown)

        def peers(hop, envids):
            found = {}
            for line in NET.hops[hop].mtqpd.log().split("\n"):
                m = re.search(r": (\S+): TRACK (\S+): ", line)
                if m and m.group(2) in envids:
                    found.setdefault(m.group(2), []).append(m.group(1))
            return found
        envids = [e for e, _, _ in sent]

        def all_peers(hop, wanted):
            # mtqpd's log thread writes a TRACK line after its answer may have reached
            # msgtrkd: wait until the log has every one (the assertions say what it holds).
            try:
                self.s.wait_for("%s's TRACK lines" % hop,
                                lambda: len(peers(hop, wanted)) == len(wanted), timeout=10)
            except harness.SessionError:
                pass
            return peers(hop, wanted)
        submit = all_peers("submit", envids + [unknown])
        self.assertEqual(sorted(submit), sorted(envids + [unknown]), submit)
        # The first round: every message in one session. The unknown message stays due
        # (1, 2, 3 s schedule) and may be asked again before Forget reaches the daemon,
        # on a machine under load: only its first TRACK belongs to the round.
        self.assertEqual(len({ps[0] for ps in submit.values()}), 1, submit)
        self.assertEqual([len(submit[e]) for e in envids], [1] * 5, submit)
        # The next hop is asked once per message; whether in one session is the tracker's
        # business (a referral starts its session as soon as its answer is read).
        relay = all_peers("relay", envids)
        self.assertEqual(sorted(relay), sorted(envids), relay)
        self.assertEqual([len(ps) for ps in relay.values()], [1] * 5, relay)

    def test_61_batch_limit(self):
        """MSGTRKD_SCHEDULER_MAX_BATCH (1000) messages due at once for one server: one
        session; one more: two. All are made due together by a restart (the timer then
        finds every one of them due)."""
        limit = 1000
        s = new_session("batch", start=False)
        s.daemon_args = SESSIONS.overrides() + ["--first-poll", "1", "--poll-schedule", "2",
                                       "--idle-exit", "600"]
        s.start()
        try:
            envids = []
            for i in range(limit + 1):
                envid, _, _ = s.prepare(NET.SENDER, ["x@example.net"], "", "", "submit.demo.test")
                s.committed(envid, ["DSN", "MTRK"], "250 2.0.0 queued")
                envids.append(envid)

            def sessions_after_restart(expect):
                # Never sent, so never final: each poll ends in an error event and the next
                # poll is 2 s on. Stop, wait until all are due, restart, count sessions.
                self.assertEqual(s.stop_daemon(), 0, s.log())
                time.sleep(3.5)
                offset = os.path.getsize(NET.hops["submit"].mtqpd.log_path)
                s.start_daemon()
                wanted = set(envids)

                def polled():
                    with open(NET.hops["submit"].mtqpd.log_path, errors="replace") as f:
                        f.seek(offset)
                        found = {}
                        for line in f:
                            m = re.search(r": (\S+): TRACK (\S+): ", line)
                            if m and m.group(2) in wanted:
                                found.setdefault(m.group(2), m.group(1))
                    return found if len(found) == len(wanted) else None
                found = s.wait_for("a poll of every message", polled, timeout=120,
                                   interval=0.5)
                peers = {}
                for envid, peer in found.items():
                    peers[peer] = peers.get(peer, 0) + 1
                self.assertEqual(sorted(peers.values()), expect, peers)

            sessions_after_restart([1, limit])
            s.forget(envids.pop())
            sessions_after_restart([limit])
            self.assertEqual(s.stop(), 0, s.log())
        finally:
            s.stop()

    # --- last: A is nowhere ---
    def test_99_secret_nowhere(self):
        url = self.s.export_url(self.envid)
        secret_b64 = Msgtrk.Url.parse(url).get_secret()
        raw = base64.b64decode(secret_b64)
        needles = [secret_b64.encode(), raw, url.encode()]
        for s in SESSIONS:
            if s.daemon is not None:
                self.assertEqual(s.stop_daemon(), 0, s.log())
        roots = [s.base for s in SESSIONS] + [NET.base]
        checked = 0
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                if os.path.abspath(dirpath).startswith(os.path.join(root, "home", ".local",
                                                                    "share", "keyrings")):
                    continue
                for name in filenames:
                    path = os.path.join(dirpath, name)
                    if not os.path.isfile(path):
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                    checked += 1
                    for needle in needles:
                        self.assertNotIn(needle, data, "the secret is in %s" % path)
        self.assertGreater(checked, 5)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
