#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-mdn.py: MDNs (RFC 8098) through the real msgtrkd, with messages tracked through
the demo network (tools/demonet.py: msgtrk-relay + mtqpd hops on 127.0.0.1).

No MTA writes MDNs (mail readers do), so the test builds them as a mail reader sends
them: multipart/report; report-type=disposition-notification with a human-readable part,
the message/disposition-notification part (Reporting-UA, Original-Recipient,
Final-Recipient, Original-Message-ID, Disposition) and, in one case, the returned headers;
CRLF line ends, as an IMAP client hands a message over.

Covers: an MDN "displayed" matched by Original-Message-ID turns that recipient "read" and
the summary says so; ingesting it again changes nothing; "deleted" makes a delayed
recipient "delivered"; an MDN about an unknown message gives ""; an MDN without
Original-Message-ID is matched by its returned headers' Message-ID; a real DSN (from the
demo network) and an MDN ingested before the first MTQP poll, in either order, give the
same state, and the poll afterwards does not change it (docs/status.md precedence).
"""
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "msgtrkd"))

import msgtrkd_harness as harness  # noqa: E402

ARGS, REST, NET = harness.demo_network()  # first: may re-execute this process
Msgtrk = NET.Msgtrk

ALICE = "alice@example.net"
BOB = "bob@gone.example"
CAROL = "carol@slow.example"
# Nothing is polled until the test asks (Track): reports can arrive "before the poll".
DAEMON_ARGS = ["--first-poll", "3600", "--poll-schedule", "1,2,3", "--idle-exit", "600"]
DSN_TIMEOUT = 30.0
SESSION = None
SESSIONS = harness.DemoSessions(ARGS, NET, DAEMON_ARGS)
COUNTER = [0]


def setUpModule():
    global SESSION
    NET.start()
    SESSION = SESSIONS.new("mdn")


def tearDownModule():
    SESSIONS.cleanup()


def build_mdn(message_id, recipient, disposition, subject="Quarterly numbers",
              ua="alice-laptop.example.net; Claws Mail 4.1.1", returned_headers=None,
              with_original_message_id=True):
    """An RFC 8098 MDN as a mail reader sends it back to NET.SENDER. message_id: with <>."""
    COUNTER[0] += 1
    boundary = "=_mdn_%d_%d" % (os.getpid(), COUNTER[0])
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    action = disposition.split(";")[-1].strip()
    fields = ["Reporting-UA: %s" % ua,
              "Original-Recipient: rfc822;%s" % recipient,
              "Final-Recipient: rfc822;%s" % recipient]
    if with_original_message_id:
        fields.append("Original-Message-ID: %s" % message_id)
    fields.append("Disposition: %s" % disposition)
    parts = [
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        "The message sent to %s with subject \"%s\" has been %s.\r\n"
        "This is no guarantee that the message has been read or understood.\r\n"
        % (recipient, subject, action),
        "Content-Type: message/disposition-notification\r\n\r\n" + "\r\n".join(fields) + "\r\n",
    ]
    if returned_headers is not None:
        parts.append("Content-Type: text/rfc822-headers\r\n\r\n" + returned_headers)
    body = "".join("--%s\r\n%s\r\n" % (boundary, p) for p in parts) + "--%s--\r\n" % boundary
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: Disposition notification: %s\r\n"
            "Date: %s\r\nMessage-ID: <mdn.%d.%d@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
            "\tboundary=\"%s\"\r\n\r\n"
            "This is a MIME-encapsulated message.\r\n\r\n"
            % (recipient, NET.SENDER, subject, date, os.getpid(), COUNTER[0], boundary))
    return (head + body).encode("utf-8")


states = harness.states


def poll(envid):
    """Track (poll now) and wait until the poll is done (last_poll has seconds only)."""
    before = SESSION.get_route(envid)["last_poll"]
    if before is not None:
        time.sleep(1.1)
    SESSION.track(envid)
    SESSION.wait_for("the poll of %s" % envid,
                     lambda: SESSION.get_route(envid)["last_poll"] != before, timeout=30)


def wait_route(envid, expected):
    """Polls (Track) until the recipients' states are @expected: the first poll may come
    before the hops have processed the message."""
    return SESSIONS.wait_route(SESSION, envid, expected, before=lambda: poll(envid))


def send_message(recipients, subject):
    """Prepare + SMTP to the demo network's submission hop + Committed; no poll yet.
    Returns (ENVID, Message-ID with <>)."""
    COUNTER[0] += 1
    mid = "mdn-test.%d.%d.%d@demo.test" % (os.getpid(), COUNTER[0], int(time.time()))
    envid, auth, timeout = SESSION.prepare(NET.SENDER, recipients, "<%s>" % mid, subject,
                                           "submit.demo.test")
    keywords, reply = harness.send_tracked(Msgtrk, NET.hops["submit"].relay.port, NET.SENDER,
                                           recipients, envid, auth, timeout, subject, mid)
    SESSION.committed(envid, keywords, reply)
    return envid, "<%s>" % mid


def dsns_of(envid, count=1):
    """The DSNs about @envid in the sender's mailbox at the submission hop."""
    def found():
        out = [data for _, data in NET.sender_mail(envid.encode())]
        return out if len(out) >= count else None
    return SESSION.wait_for("DSNs of %s" % envid, found, timeout=DSN_TIMEOUT, interval=0.2)


def hop_summary(route):
    """What the map shows, without times: per recipient the hops' source/server/action."""
    return {r["address"]: sorted((h["source"], h["server"] or "", h["action"] or "")
                                 for h in r["hops"])
            for r in route["recipients"]}


class MdnTest(unittest.TestCase):
    def test_01_displayed_makes_read(self):
        envid, mid = send_message([ALICE, BOB], "Read receipt")
        wait_route(envid, {ALICE: "delivered", BOB: "failed"})
        before_events = len(SESSION.get_route(envid)["events"])
        mdn = build_mdn(mid, ALICE, "manual-action/MDN-sent-manually; displayed",
                        subject="Read receipt")
        self.assertEqual(SESSION.ingest(mdn), envid)
        route = SESSION.get_route(envid)
        self.assertEqual(states(route), {ALICE: "read", BOB: "failed"})
        self.assertEqual(route["state"], "failed")
        self.assertEqual(route["summary"], "Failed 1/2, 1 delivered, 1 read")
        self.assertEqual(SESSION.get_status([mid])[0],
                         (mid, envid, "failed", "Failed 1/2, 1 delivered, 1 read"))
        mdn_events = [e["text"] for e in route["events"] if e["source"] == "mdn"]
        self.assertEqual(len(mdn_events), 1, route["events"])
        self.assertTrue(mdn_events[0].startswith("MDN from alice-laptop.example.net"),
                        mdn_events)
        self.assertIn("displayed", mdn_events[0])
        self.assertEqual(len(route["events"]), before_events + 1)
        # MDNs add no hops: the map stays the MTQP route.
        alice = [r for r in route["recipients"] if r["address"] == ALICE][0]
        self.assertEqual({h["source"] for h in alice["hops"]}, {"mtqp"})
        # The same MDN again (also with LF line ends, as from a Maildir): nothing new.
        signals = len(SESSION.signals)
        self.assertEqual(SESSION.ingest(mdn), envid)
        self.assertEqual(SESSION.ingest(mdn.replace(b"\r\n", b"\n")), envid)
        again = SESSION.get_route(envid)
        self.assertEqual(again["events"], route["events"])
        self.assertEqual(again["recipients"], route["recipients"])
        SESSION.pump(0.2)
        self.assertEqual(SESSION.signals[signals:], [])

    def test_02_read_all(self):
        envid, mid = send_message([ALICE], "Read by all")
        mdn = build_mdn(mid, ALICE, "manual-action/MDN-sent-manually; displayed")
        self.assertEqual(SESSION.ingest(mdn), envid)
        route = SESSION.get_route(envid)
        self.assertEqual((route["state"], route["summary"], route["final"]),
                         ("read", "Read 1/1", True))
        SESSION.pump(0.2)
        self.assertIn((envid, "read", "Read 1/1"), SESSION.signals)

    def test_03_deleted_is_delivered_at_least(self):
        envid, mid = send_message([CAROL], "Deleted unread")
        wait_route(envid, {CAROL: "delayed"})
        mdn = build_mdn(mid, CAROL, "automatic-action/MDN-sent-automatically; deleted",
                        ua="carol-pc.slow.example; Thunderbird 115.3")
        self.assertEqual(SESSION.ingest(mdn), envid)
        route = SESSION.get_route(envid)
        self.assertEqual(states(route), {CAROL: "delivered"})
        self.assertEqual((route["state"], route["summary"]), ("delivered", "Delivered 1/1"))
        # A later poll (carol's relay still retrying) does not undo the MDN.
        poll(envid)
        self.assertEqual(states(SESSION.get_route(envid)), {CAROL: "delivered"})

    def test_04_unknown_message(self):
        mdn = build_mdn("<never-sent.%d@demo.test>" % os.getpid(), ALICE,
                        "manual-action/MDN-sent-manually; displayed")
        self.assertEqual(SESSION.ingest(mdn), "")
        # An MDN naming nobody's message at all is no report msgtrk can use either way.
        mdn = build_mdn("<x@y>", ALICE, "manual-action/MDN-sent-manually; displayed",
                        with_original_message_id=False)
        self.assertEqual(SESSION.ingest(mdn), "")

    def test_05_matched_by_returned_headers(self):
        envid, mid = send_message([ALICE], "Headers only")
        headers = ("From: Sender <%s>\r\nTo: %s\r\nSubject: Headers only\r\n"
                   "Message-ID: %s\r\n" % (NET.SENDER, ALICE, mid))
        mdn = build_mdn(mid, ALICE, "manual-action/MDN-sent-manually; displayed",
                        returned_headers=headers, with_original_message_id=False)
        self.assertEqual(SESSION.ingest(mdn), envid)
        self.assertEqual(SESSION.get_status([envid])[0][2], "read")

    def test_10_dsn_and_mdn_before_the_poll_in_either_order(self):
        x, x_mid = send_message([ALICE], "Order X")
        y, y_mid = send_message([ALICE], "Order Y")
        x_dsn = dsns_of(x)
        y_dsn = dsns_of(y)
        x_mdn = build_mdn(x_mid, ALICE, "manual-action/MDN-sent-manually; displayed")
        y_mdn = build_mdn(y_mid, ALICE, "manual-action/MDN-sent-manually; displayed")
        for envid in (x, y):
            self.assertIsNone(SESSION.get_route(envid)["last_poll"])

        # X: DSN first, then MDN. Y: MDN first, then DSN.
        for raw in x_dsn:
            self.assertEqual(SESSION.ingest(raw), x)
        self.assertEqual(SESSION.get_status([x])[0][2:], ("delivered", "Delivered 1/1"))
        self.assertEqual(SESSION.ingest(x_mdn), x)
        self.assertEqual(SESSION.ingest(y_mdn), y)
        self.assertEqual(SESSION.get_status([y])[0][2:], ("read", "Read 1/1"))
        for raw in y_dsn:
            self.assertEqual(SESSION.ingest(raw), y)

        rx = SESSION.get_route(x)
        ry = SESSION.get_route(y)
        for route in (rx, ry):
            self.assertIsNone(route["last_poll"], "no poll before the reports")
            self.assertEqual((route["state"], route["summary"], route["final"]),
                             ("read", "Read 1/1", True))
            self.assertEqual(states(route), {ALICE: "read"})
        self.assertEqual(hop_summary(rx), hop_summary(ry))
        alice = rx["recipients"][0]
        self.assertIn("dsn", {x for h in alice["hops"] for x in h["sources"]}, alice)
        self.assertIn("trace", {x for h in alice["hops"] for x in h["sources"]}, alice)

        # The MTQP poll afterwards adds the route, and the state stays. (The DSN came from
        # the last hop, so every hop has its tracking record by now.)
        for envid in (x, y):
            poll(envid)
        rx = SESSION.get_route(x)
        ry = SESSION.get_route(y)
        for route in (rx, ry):
            self.assertEqual((route["state"], route["summary"]), ("read", "Read 1/1"))
            alice = route["recipients"][0]
            self.assertEqual([h["reporting_mta"] for h in alice["hops"]
                              if "mtqp" in h["sources"]],
                             ["submit.demo.test", "relay.example.net", "mx.example.net"])
        self.assertEqual(hop_summary(rx), hop_summary(ry))

    def test_99_daemon_exits_cleanly(self):
        self.assertEqual(SESSION.stop_daemon(), 0, SESSION.log())


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
