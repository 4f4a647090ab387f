#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd's secrets and links end to end: the real daemon on a private bus with a real
gnome-keyring, tracking through the demo network (msgtrk-relay + mtqpd on 127.0.0.1).

- One master secret (docs/secret-derivation.md): Prepare stores no keyring item per message,
  the keyring holds one master item, and the A derived from it is the one the servers
  accept (the exported link tracks the message).
- A message of the old scheme (its own keyring item, a store of schema 1) is still tracked
  after the upgrade; a missing master is a clear SecretMissing, and polling stops.
- Links for ENVIDs with "+" and "=" (Exim style): the URL carries the xtext form, TRACK
  too; an imported link is followed to its final states, as is a link of the older form
  that carried the decoded ENVID.
- ExportUrl names the MTQP server found for the message (not the submission host, not the
  override's port), and says so when none has been found yet (NoServerYet).
- A keyring that was never unlocked (no login collection): Prepare fails with a message a
  person can act on, not "Object does not exist at path …/collection/login".
"""
import os
import smtplib
import sqlite3
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
import demonet  # noqa: E402

EXPECTED = dict(NET.FOUR)
CLOSED_PORT = demonet.free_port()
LOCKED_TEXT = "Your keyring is locked or has no default collection; unlock it"
SESSIONS = harness.DemoSessions(ARGS, NET, harness.FAST_POLL_ARGS,
                                ["nomtqp.demo.test=127.0.0.1:%d" % CLOSED_PORT])
new_session = SESSIONS.new


def send(envid, authenticator, timeout=3600):
    return harness.send_tracked(Msgtrk, NET.hops["submit"].relay.port, NET.SENDER,
                                list(EXPECTED), envid, authenticator, timeout,
                                "Quarterly numbers", envid.replace("@", ".demo@"))


def send_raw(envid, authenticator, timeout=3600):
    """SMTP as an MTA with its own ENVID would send it (Msgtrk.Envelope makes only ENVIDs
    that need no escaping): ENVID in its xtext form (RFC 3461), MTRK=B (RFC 3885)."""
    with smtplib.SMTP("127.0.0.1", NET.hops["submit"].relay.port,
                      local_hostname="exim.demo.test", timeout=20) as smtp:
        code, text = smtp.ehlo()
        assert code == 250, text
        code, text = smtp.docmd("MAIL", "FROM:<%s> RET=HDRS ENVID=%s MTRK=%s:%d"
                                % (NET.SENDER, Msgtrk.xtext_encode(envid), authenticator,
                                   timeout))
        assert code == 250, text
        for rcpt in EXPECTED:
            code, text = smtp.docmd("RCPT", "TO:<%s> NOTIFY=SUCCESS,FAILURE,DELAY "
                                    "ORCPT=rfc822;%s" % (rcpt, Msgtrk.xtext_encode(rcpt)))
            assert code in (250, 251), text
        code, text = smtp.data(("From: <%s>\r\nTo: <alice@example.net>\r\n"
                                "Subject: Exim-style ENVID\r\nMessage-ID: <%s>\r\n\r\n"
                                "Hello.\r\n" % (NET.SENDER, envid.replace("@", ".x@"))).encode())
        assert code == 250, text


states = harness.states
wait_route = SESSIONS.wait_route


def secret_tool(session, *args, input_bytes=None):
    """secret-tool in the session (never with a secret in argv); its stdout + stderr."""
    p = subprocess.run(["secret-tool"] + list(args), env=session.env, input=input_bytes,
                       capture_output=True, timeout=30)
    if p.returncode != 0 and args[0] != "clear":
        raise AssertionError("secret-tool %s failed: %s" % (args[0], p.stderr.decode()))
    return (p.stdout + p.stderr).decode(errors="replace")


def store_row(session, sql, params=()):
    db = sqlite3.connect(os.path.join(session.store_dir, "msgtrk.db"))
    try:
        rows = db.execute(sql, params).fetchall()
        db.commit()
        return rows
    finally:
        db.close()


def setUpModule():
    NET.start()


def tearDownModule():
    SESSIONS.cleanup()


class SecretsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = new_session("secrets")
        cls.envids = []
        for i in range(3):
            envid, auth, timeout = cls.s.prepare(NET.SENDER, list(EXPECTED), "",
                                                 "Message %d" % i, "submit.demo.test")
            cls.envids.append((envid, auth, timeout))
        envid, auth, timeout = cls.envids[0]
        keywords, reply = send(envid, auth, timeout)
        cls.s.committed(envid, keywords, reply)
        cls.route = wait_route(cls.s, envid, EXPECTED)

    def test_01_one_master_no_item_per_message(self):
        items = secret_tool(self.s, "search", "--all", "xdg:schema", "org.msgtrk.TrackingSecret")
        self.assertNotIn("attribute.envid", items)
        masters = secret_tool(self.s, "search", "--all", "xdg:schema", "org.msgtrk.MasterSecret")
        self.assertEqual(masters.count("attribute.version = 1"), 1, masters)
        rows = store_row(self.s, "SELECT secret_derived FROM messages")
        self.assertEqual([r[0] for r in rows], [1, 1, 1])
        # Each message its own A: distinct B.
        self.assertEqual(len({e[1] for e in self.envids}), 3)

    def test_02_export_names_found_server_and_derived_a(self):
        envid, auth, _ = self.envids[0]
        url = self.s.export_url(envid)
        # The server that answered (discovered for submit.demo.test), without the port of
        # the local override that reached it.
        self.assertTrue(url.startswith("mtqp://submit.demo.test/track/"), url)
        parsed = Msgtrk.Url.parse(url)
        self.assertEqual(parsed.get_envid(), envid)
        self.assertTrue(Msgtrk.verify_secret(parsed.get_secret(), auth))
        rows = store_row(self.s, "SELECT mtqp_server FROM messages WHERE envid = ?", (envid,))
        self.assertEqual(rows, [("submit.demo.test",)])

    def test_03_export_no_server_yet(self):
        envid, auth, timeout = self.s.prepare(NET.SENDER, ["a@example.net"], "", "nowhere",
                                              "nomtqp.demo.test")
        self.s.committed(envid, ["MTRK", "DSN"], "250 2.0.0 queued")
        with self.assertRaises(GLib.Error) as ctx:
            self.s.export_url(envid)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.NoServerYet")
        self.assertIn("No tracking server has been found for this message yet",
                      ctx.exception.message)
        # Its server is down: still none after a poll.
        self.s.track(envid)
        self.s.wait_for("the failed poll",
                        lambda: any("Tracking failed" in e["text"]
                                    for e in self.s.get_route(envid)["events"]), timeout=30)
        with self.assertRaises(GLib.Error) as ctx:
            self.s.export_url(envid)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.NoServerYet")
        self.s.forget(envid)

    def test_04_exim_style_envid_link(self):
        # RFC 3461 xtext: "exim+id=x@demo.test" travels as "exim+2Bid+3Dx@demo.test".
        for envid, legacy in (("exim+id=x@demo.test", False), ("exim+id=y@demo.test", True)):
            secret = Msgtrk.Secret.generate()
            send_raw(envid, secret.compute_authenticator())
            url = Msgtrk.Url.new("submit.demo.test", 0, envid, secret.to_base64()).to_string()
            if legacy:
                # A link of the older form: the decoded ENVID, percent-encoded.
                url = url.replace(urllib.parse.quote(Msgtrk.xtext_encode(envid), safe=""),
                                  urllib.parse.quote(envid, safe=""))
                self.assertIn("/exim%2Bid%3Dy%40demo.test/", url)
            else:
                self.assertIn("/exim%2B2Bid%2B3Dx%40demo.test/", url)
            got = self.s.import_url(url)
            self.assertEqual(got, envid)
            route = wait_route(self.s, envid, EXPECTED)
            self.assertEqual(route["tracking"], "delegated")
            # Re-exported, the link carries the xtext form again.
            self.assertIn("/exim%2B2Bid%2B3D", self.s.export_url(envid))
        # A link naming an address and port: re-exported as it came, whatever port the
        # daemon's host override reached it on.
        envid = "exim+id=p@demo.test"
        secret = Msgtrk.Secret.generate()
        send_raw(envid, secret.compute_authenticator())
        url = Msgtrk.Url.new("127.0.0.1", NET.hops["submit"].mtqpd.port, envid,
                             secret.to_base64()).to_string()
        self.assertEqual(self.s.import_url(url), envid)
        wait_route(self.s, envid, EXPECTED)
        self.assertEqual(self.s.export_url(envid), url)
        logs = NET.logs()
        self.assertNotIn("not valid xtext", logs)
        self.assertIn("TRACK exim+id=x@demo.test", logs)  # mtqpd logs the decoded ENVID

    def test_05_old_scheme_after_upgrade(self):
        # A store and keyring as msgtrkd left them before the master secret: schema 1, the
        # message's A in a keyring item of its own.
        old = new_session("upgrade")
        secret = Msgtrk.Secret.generate()
        envid = Msgtrk.envid_generate("demo.test")
        keywords, reply = send(envid, secret.compute_authenticator())
        self.assertEqual(old.stop_daemon(), 0, old.log())
        now = int(time.time())
        store_row(old, "ALTER TABLE messages DROP COLUMN secret_derived")
        store_row(old, "ALTER TABLE messages DROP COLUMN mtqp_server")
        for sql in ("DROP INDEX reports_by_key", "DROP INDEX reports_by_envid",
                    "ALTER TABLE reports DROP COLUMN replace_key",
                    "ALTER TABLE reports DROP COLUMN reported_at",
                    "ALTER TABLE reports DROP COLUMN matched"):
            # what schema 2 → 3 adds (one row per answer) and 3 → 4 (how it was matched)
            store_row(old, sql)
        store_row(old, "PRAGMA user_version = 1")
        store_row(old, "INSERT INTO messages (envid, sender, submission_host, tracking, "
                  "offered, server_reply, mtrk_timeout, prepared_at, committed_at, expires_at, "
                  "state, summary, next_poll_at) VALUES (?, ?, 'submit.demo.test', 'mtqp', "
                  "'DSN MTRK', ?, 3600, ?, ?, ?, 'in-transit', 'In transit', ?)",
                  (envid, NET.SENDER, reply, now, now, now + 3600, now + 3600))
        for i, rcpt in enumerate(EXPECTED):
            store_row(old, "INSERT INTO recipients (envid, position, address) "
                      "VALUES (?, ?, ?)", (envid, i, rcpt))
        secret_tool(old, "store", "--label=old msgtrk item", "xdg:schema",
                    "org.msgtrk.TrackingSecret", "envid", envid,
                    input_bytes=secret.to_base64().encode())
        # The upgraded daemon tracks it with its own item.
        old.start_daemon()
        self.assertEqual(store_row(old, "PRAGMA user_version"), [(4,)])
        old.track(envid)
        wait_route(old, envid, EXPECTED)
        url = old.export_url(envid)
        self.assertTrue(Msgtrk.verify_secret(Msgtrk.Url.parse(url).get_secret(),
                                             secret.compute_authenticator()))
        # New messages beside it use the master.
        new, _, _ = old.prepare(NET.SENDER, ["a@example.net"], "", "new", "submit.demo.test")
        rows = store_row(old, "SELECT envid, secret_derived FROM messages ORDER BY envid = ?",
                         (new,))
        self.assertEqual(rows, [(envid, 0), (new, 1)])
        # Forget removes the old item; the master stays.
        old.forget(envid)
        self.assertNotIn(envid, secret_tool(old, "search", "--all", "envid", envid))
        self.assertIn("attribute.version = 1",
                      secret_tool(old, "search", "--all", "xdg:schema", "org.msgtrk.MasterSecret"))
        self.assertEqual(old.stop(), 0, old.log())

    def test_06_master_missing(self):
        envid = self.envids[0][0]
        secret_tool(self.s, "clear", "xdg:schema", "org.msgtrk.MasterSecret", "version", "1")
        self.assertEqual(self.s.stop_daemon(), 0, self.s.log())
        self.s.start_daemon()
        with self.assertRaises(GLib.Error) as ctx:
            self.s.export_url(envid)
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.SecretMissing")
        self.assertIn("no master tracking secret", ctx.exception.message)
        self.s.track(envid)
        self.s.wait_for("polling to stop",
                        lambda: any("secret is missing" in e["text"]
                                    for e in self.s.get_route(envid)["events"]), timeout=30)
        # Never made again behind the user's back by polling.
        masters = secret_tool(self.s, "search", "--all", "xdg:schema", "org.msgtrk.MasterSecret")
        self.assertNotIn("attribute.version", masters)


class LockedKeyringTest(unittest.TestCase):
    def test_never_unlocked_keyring(self):
        s = new_session("nologin", keyring=False)
        s.spawn(["gnome-keyring-daemon", "--foreground", "--components=secrets"], "gkd.log")
        s.wait_for("the keyring", lambda: s.has_owner("org.freedesktop.secrets"))
        with self.assertRaises(GLib.Error) as ctx:
            s.prepare(NET.SENDER, ["a@example.net"], "", "locked", "submit.demo.test")
        self.assertEqual(harness.remote_error(ctx.exception),
                         "org.msgtrk.Tracker1.Error.KeyringUnavailable")
        self.assertIn(LOCKED_TEXT, ctx.exception.message)
        self.assertNotIn("Object does not exist", ctx.exception.message)
        self.assertNotIn("/org/freedesktop/secrets", ctx.exception.message)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
