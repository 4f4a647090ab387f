#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""libmsgtrk through GObject introspection: secret, URL and report parsing from Python.

Run by meson with GI_TYPELIB_PATH and LD_LIBRARY_PATH pointing at the build tree.
"""
import base64
import hashlib
import os
import unittest

import gi

gi.require_version("Msgtrk", "1.0")
gi.require_version("GLib", "2.0")
from gi.repository import GLib, Msgtrk  # noqa: E402

SRC = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), ".."))


class SecretTest(unittest.TestCase):
    def test_generate_and_authenticator(self):
        secret = Msgtrk.Secret.generate()
        a_b64 = secret.to_base64()
        raw = base64.b64decode(a_b64, validate=True)
        self.assertEqual(len(raw), Msgtrk.SECRET_SIZE)
        b = secret.compute_authenticator()
        self.assertEqual(len(b), Msgtrk.AUTHENTICATOR_LENGTH)
        # B is SHA-1 over the raw octets of A, not over its base64 text.
        self.assertEqual(b, base64.b64encode(hashlib.sha1(raw).digest()).decode())
        self.assertTrue(secret.matches_authenticator(b))
        self.assertTrue(Msgtrk.verify_secret(a_b64, b))
        self.assertFalse(Msgtrk.verify_secret(a_b64, base64.b64encode(b"\0" * 20).decode()))

    def test_bad_base64(self):
        with self.assertRaises(GLib.Error) as cm:
            Msgtrk.Secret.new_from_base64("not base64!")
        self.assertTrue(cm.exception.matches(Msgtrk.error_quark(), Msgtrk.Error.INVALID_SECRET))


class UrlTest(unittest.TestCase):
    def test_round_trip(self):
        secret = base64.b64encode(bytes(range(32))).decode()
        url = Msgtrk.Url.new("mtqp.example.org", 0, "mtrk.abc@example.org", secret)
        text = url.to_string()
        self.assertTrue(text.startswith("mtqp://mtqp.example.org/track/"))
        back = Msgtrk.Url.parse(text)
        self.assertEqual(back.get_host(), "mtqp.example.org")
        self.assertEqual(back.get_port(), Msgtrk.MTQP_PORT)
        self.assertEqual(back.get_envid(), "mtrk.abc@example.org")
        self.assertEqual(back.get_secret(), secret)

    def test_garbage(self):
        for bad in ["", "http://x/track/a/b", "mtqp://", "mtqp://h/track/only-one"]:
            with self.assertRaises(GLib.Error):
                Msgtrk.Url.parse(bad)


TRACKING = (
    "Original-Envelope-Id: mtrk.py@example.org\r\n"
    "Reporting-MTA: dns; hop1.example.org\r\n"
    "Arrival-Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n"
    "\r\n"
    "Original-Recipient: rfc822; bob@example.net\r\n"
    "Final-Recipient: rfc822; bob@example.net\r\n"
    "Action: transferred\r\n"
    "Status: 2.0.0 (passed on)\r\n"
    "Remote-MTA: dns; hop2.example.net\r\n"
)


class ReportTest(unittest.TestCase):
    def test_parse_fields(self):
        report = Msgtrk.Report.parse_fields(Msgtrk.ReportKind.TRACKING_STATUS, TRACKING.encode())
        self.assertEqual(report.get_envid(), "mtrk.py@example.org")
        self.assertEqual(report.get_reporting_mta(), "hop1.example.org")
        rcpts = report.get_recipients()
        self.assertEqual(len(rcpts), 1)
        self.assertEqual(rcpts[0].get_action(), Msgtrk.Action.TRANSFERRED)
        self.assertEqual(rcpts[0].get_remote_mta(), "hop2.example.net")
        self.assertEqual(rcpts[0].get_status_class(), 2)

    def test_entity_round_trip(self):
        report = Msgtrk.Report.parse_fields(Msgtrk.ReportKind.TRACKING_STATUS, TRACKING.encode())
        entity = Msgtrk.Report.build_tracking_entity([report])
        back = Msgtrk.Report.parse_entity(entity)
        self.assertEqual(len(back), 1)
        self.assertEqual(back[0].get_envid(), "mtrk.py@example.org")

    def test_status_summary(self):
        report = Msgtrk.Report.parse_fields(Msgtrk.ReportKind.TRACKING_STATUS, TRACKING.encode())
        status = Msgtrk.Status.new(["bob@example.net"])
        status.add_report(report, None)
        self.assertEqual(status.get_recipient_state("bob@example.net"),
                         Msgtrk.RecipientState.IN_TRANSIT)

    def test_malformed(self):
        with self.assertRaises(GLib.Error) as cm:
            Msgtrk.Report.parse_fields(Msgtrk.ReportKind.TRACKING_STATUS, b"garbage")
        self.assertTrue(cm.exception.matches(Msgtrk.error_quark(), Msgtrk.Error.PARSE))


if __name__ == "__main__":
    unittest.main(verbosity=2)
