#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tracker over the demo network: real msgtrk-relay and mtqpd processes on 127.0.0.1.

End states: delivered through three hops, failed, delayed, relayed (next hop without
MTRK), opaque (a route that hides what lies beyond), and a broken link (a hop's MTQP server is down); also learning the recipients from
the first server, a wrong secret, and a referral loop made with a host override.
"""
import argparse
import os
import smtplib
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
ARGS, REST = parser.parse_known_args()

import demonet  # noqa: E402  (re-executes with the library path set)

NET = None
Msgtrk = None
EXPECTED = demonet.DemoNetwork.EXPECTED


def setUpModule():
    global NET, Msgtrk
    NET = demonet.DemoNetwork(ARGS.build_dir)
    Msgtrk = NET.Msgtrk
    NET.start()


def tearDownModule():
    if NET is not None:
        NET.cleanup()


def state(route, rcpt):
    return Msgtrk.recipient_state_to_string(route.get_status().get_recipient_state(rcpt))


class TrackerNetworkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.envid, cls.secret = NET.send()
        cls.route = NET.track_until(cls.envid, cls.secret, EXPECTED)

    def test_end_states(self):
        got = {r: state(self.route, r) for r in self.route.list_recipients()}
        self.assertEqual(got, EXPECTED, NET.logs())
        self.assertEqual(self.route.get_envid(), self.envid)
        self.assertEqual(self.route.get_status().format_summary(),
                         "Failed 1/5, 1 delayed, 1 relayed, 1 not disclosed, 1 delivered")

    def test_delivered_through_three_hops(self):
        hops = self.route.get_hops("alice@example.net")
        self.assertEqual([h.get_reporting_mta() for h in hops],
                         ["submit.demo.test", "relay.example.net", "mx.example.net"])
        self.assertEqual([h.get_action() for h in hops],
                         [Msgtrk.Action.TRANSFERRED, Msgtrk.Action.TRANSFERRED,
                          Msgtrk.Action.DELIVERED])
        self.assertEqual(hops[0].get_entry().get_remote_mta(), "relay.example.net")
        for h in hops:
            self.assertFalse(h.is_broken())
            self.assertIsNotNone(h.get_arrival_date())

    def test_failed_delayed_relayed(self):
        bob = self.route.get_hops("bob@gone.example")
        self.assertEqual(len(bob), 1)
        self.assertEqual(bob[0].get_entry().get_status(), "5.1.2")
        carol = self.route.get_hops("carol@slow.example")
        self.assertEqual(carol[-1].get_action(), Msgtrk.Action.DELAYED)
        self.assertIsNotNone(carol[-1].get_entry().get_will_retry_until())
        dave = self.route.get_hops("dave@legacy.example")
        self.assertEqual(dave[-1].get_action(), Msgtrk.Action.RELAYED)
        self.assertEqual(dave[-1].get_entry().get_status(), "2.1.9")

    def test_opaque(self):
        erin = self.route.get_hops("erin@hidden.example")
        self.assertEqual(len(erin), 1)
        self.assertEqual(erin[0].get_action(), Msgtrk.Action.OPAQUE)
        self.assertIsNone(erin[0].get_entry().get_remote_mta())

    def test_found_server(self):
        # The server discovery found for the start domain (an override sends the
        # connection elsewhere; the URL port stays the discovered 1038).
        self.assertEqual(self.route.get_found_server(), ("submit.demo.test", 1038))

    def test_each_server_asked_once(self):
        # submit, relay, mx: alice's chain; the others end at submit.
        self.assertEqual(self.route.get_servers_asked(), 3)

    def test_recipients_learnt_from_first_server(self):
        tracker = Msgtrk.Tracker.new(NET.client())
        route = tracker.track_sync("submit.demo.test", self.envid, self.secret, None, None)
        self.assertEqual(sorted(route.list_recipients()), sorted(EXPECTED))
        self.assertEqual(state(route, "alice@example.net"), "delivered")

    def test_wrong_secret(self):
        other = Msgtrk.Secret.generate().to_base64()
        tracker = Msgtrk.Tracker.new(NET.client())
        # Recipients known: every one gets a broken first hop (-ERR), nothing aborts.
        route = tracker.track_sync("submit.demo.test", self.envid, other, list(EXPECTED), None)
        for rcpt in EXPECTED:
            hops = route.get_hops(rcpt)
            self.assertEqual(len(hops), 1)
            self.assertTrue(hops[0].is_broken())
            self.assertTrue(hops[0].get_error().matches(Msgtrk.error_quark(),
                                                        Msgtrk.Error.SERVER_ERR))
            self.assertNotIn(other, hops[0].get_error().message)
        # Recipients unknown: nothing to show, the error itself comes back.
        with self.assertRaises(Exception) as cm:
            tracker.track_sync("submit.demo.test", self.envid, other, None, None)
        self.assertNotIn(other, str(cm.exception))

    def test_referral_loop(self):
        client = NET.client()
        # mx.example.net now reaches submit's MTQP server, which refers back to relay.
        client.add_host_override("mx.example.net",
                                 "127.0.0.1:%d" % NET.hops["submit"].mtqpd.port)
        route = Msgtrk.Tracker.new(client).track_sync(
            "submit.demo.test", self.envid, self.secret, ["alice@example.net"], None)
        hops = route.get_hops("alice@example.net")
        self.assertTrue(hops[-1].is_broken(), [h.get_server() for h in hops])
        self.assertIn("loop", hops[-1].get_error().message.lower())

    def test_exim_style_envid(self):
        # RFC 3461: an ENVID with "+" and "=" travels as xtext (exim+2Bid+3Dz@demo.test) in
        # MAIL FROM and in TRACK; the tracker takes it decoded, mtqpd keys it decoded.
        envid = "exim+id=z@demo.test"
        secret = Msgtrk.Secret.generate()
        with smtplib.SMTP("127.0.0.1", NET.hops["submit"].relay.port,
                          local_hostname="exim.demo.test", timeout=20) as smtp:
            self.assertEqual(smtp.ehlo()[0], 250)
            code, text = smtp.docmd("MAIL", "FROM:<%s> RET=HDRS ENVID=%s MTRK=%s:3600"
                                    % (NET.SENDER, Msgtrk.xtext_encode(envid),
                                       secret.compute_authenticator()))
            self.assertEqual(code, 250, text)
            for rcpt in EXPECTED:
                code, text = smtp.docmd("RCPT", "TO:<%s> NOTIFY=SUCCESS,FAILURE,DELAY" % rcpt)
                self.assertIn(code, (250, 251), text)
            code, text = smtp.data(b"Subject: exim\r\nMessage-ID: <exim.z@demo.test>\r\n\r\nHi\r\n")
            self.assertEqual(code, 250, text)
        route = NET.track_until(envid, secret.to_base64(), EXPECTED)
        got = {r: state(route, r) for r in route.list_recipients()}
        self.assertEqual(got, EXPECTED, NET.logs())
        self.assertEqual(route.get_envid(), envid)
        self.assertEqual([h.get_reporting_mta() for h in route.get_hops("alice@example.net")],
                         ["submit.demo.test", "relay.example.net", "mx.example.net"])
        # The delegation link carries the xtext form and gives the same ENVID back.
        url = Msgtrk.Url.new("submit.demo.test", 0, envid, secret.to_base64())
        self.assertIn("/exim%2B2Bid%2B3Dz%40demo.test/", url.to_string())
        self.assertEqual(Msgtrk.Url.parse(url.to_string()).get_envid(), envid)

    def test_batch_shares_sessions(self):
        # Two more messages: one batch run asks each server once for all of them.
        more = [NET.send(subject="batch %d" % i) for i in range(2)]
        for envid, secret in more:
            NET.track_until(envid, secret, EXPECTED)
        envids = [self.envid] + [e for e, _ in more]
        secrets = [self.secret] + [s for _, s in more]
        routes = Msgtrk.Tracker.new(NET.client()).track_batch_sync(
            "submit.demo.test", envids, secrets, None)
        self.assertEqual(len(routes), 3)
        for route, envid in zip(routes, envids):
            self.assertEqual(route.get_envid(), envid)
            self.assertIsNone(route.get_error())
            got = {r: state(route, r) for r in route.list_recipients()}
            self.assertEqual(got, EXPECTED)
            self.assertEqual(len(route.get_hops("alice@example.net")), 3)
        # submit, relay, mx: three sessions for three messages.
        self.assertEqual(routes[0].get_servers_asked(), 3)

    def test_batch_with_a_wrong_secret(self):
        other = Msgtrk.Secret.generate().to_base64()
        routes = Msgtrk.Tracker.new(NET.client()).track_batch_sync(
            "submit.demo.test", [self.envid, self.envid], [self.secret, other], None)
        self.assertEqual(state(routes[0], "alice@example.net"), "delivered")
        self.assertEqual(list(routes[1].list_recipients()), [])
        self.assertTrue(routes[1].get_error().matches(Msgtrk.error_quark(),
                                                      Msgtrk.Error.SERVER_ERR))

    def test_zz_broken_link_when_a_hop_is_down(self):
        NET.hops["relay"].mtqpd.stop()
        route = NET.track(self.envid, self.secret)
        hops = route.get_hops("alice@example.net")
        self.assertEqual(hops[0].get_reporting_mta(), "submit.demo.test")
        self.assertTrue(hops[-1].is_broken())
        self.assertEqual(hops[-1].get_server(), "relay.example.net")
        self.assertTrue(hops[-1].get_error().matches(Msgtrk.error_quark(),
                                                     Msgtrk.Error.CONNECT))
        # The other recipients are unaffected.
        self.assertEqual(state(route, "bob@gone.example"), "failed")
        # alice's last word is hop 1's "transferred": in transit, not delivered.
        self.assertEqual(state(route, "alice@example.net"), "in-transit")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
