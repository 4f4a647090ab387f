#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-notifications.py: msgtrkd's desktop notifications, seen by a notification server.

The test itself owns org.freedesktop.Notifications on the private session bus (GLib's
GNotification uses that interface when no portal and no org.gtk.Notifications exist) and
records every Notify call. Three tracked messages go through the demo network, one to a
recipient that gets the message, one whose domain fails, one whose next hop is down; the
GSettings key notify-delayed is off (keyfile backend). Expected: one notification
"Delivered: …", one "Delivery failed: …", none for the delayed message; each carries the
message's summary as its body and a default action; no secret in any of them.

Then the default action, both ways a desktop invokes it: the notification server emits
ActionInvoked(id, "default") (GLib's freedesktop backend activates "app.show" with the ENVID),
and org.freedesktop.Application.ActivateAction("show", [ENVID]) on msgtrkd (what GNOME Shell
calls for a GNotification's default action). Each time msgtrkd must activate the viewer's
"show" action with that message: a stand-in owns org.msgtrk.Viewer and records it. Then
MarkViewed (what the viewer calls once it shows the message) withdraws the notification:
CloseNotification with its id; MarkViewed of an unknown message is NotFound.
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import msgtrkd_harness as harness  # noqa: E402

ARGS, REST, NET = harness.demo_network()  # first: may re-execute this process
Msgtrk = NET.Msgtrk
SESSIONS = harness.DemoSessions(ARGS, NET, harness.FAST_POLL_ARGS)

from gi.repository import Gio, GLib  # noqa: E402

NOTIFY_XML = """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="Notify">
      <arg direction="in" type="s"/><arg direction="in" type="u"/>
      <arg direction="in" type="s"/><arg direction="in" type="s"/>
      <arg direction="in" type="s"/><arg direction="in" type="as"/>
      <arg direction="in" type="a{sv}"/><arg direction="in" type="i"/>
      <arg direction="out" type="u"/>
    </method>
    <method name="CloseNotification"><arg direction="in" type="u"/></method>
    <method name="GetCapabilities"><arg direction="out" type="as"/></method>
    <method name="GetServerInformation">
      <arg direction="out" type="s"/><arg direction="out" type="s"/>
      <arg direction="out" type="s"/><arg direction="out" type="s"/>
    </method>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  </interface>
</node>
"""

SESSION = None
NOTES = []      # (summary, body, actions) of every Notify call
NOTE_IDS = {}   # summary -> the id the server gave it
CLOSED = []     # ids of CloseNotification calls
SHOWN = []      # (action, parameters) the stand-in viewer got
SECRETS = []    # base64 A of the messages (kept in memory only)


def on_call(conn, sender, path, iface, method, params, invocation):
    if method == "Notify":
        app, replaces, icon, summary, body, actions, hints, timeout = params.unpack()
        NOTES.append((summary, body, list(actions)))
        NOTE_IDS[summary] = len(NOTES)
        invocation.return_value(GLib.Variant("(u)", (len(NOTES),)))
    elif method == "CloseNotification":
        CLOSED.append(params.unpack()[0])
        invocation.return_value(None)
    elif method == "GetCapabilities":
        invocation.return_value(GLib.Variant("(as)", (["body", "actions"],)))
    elif method == "GetServerInformation":
        invocation.return_value(GLib.Variant("(ssss)", ("fake", "msgtrk", "1", "1.2")))
    else:
        invocation.return_value(None)


VIEWER_XML = """
<node>
  <interface name="org.freedesktop.Application">
    <method name="Activate"><arg direction="in" type="a{sv}"/></method>
    <method name="Open">
      <arg direction="in" type="as"/><arg direction="in" type="a{sv}"/>
    </method>
    <method name="ActivateAction">
      <arg direction="in" type="s"/><arg direction="in" type="av"/>
      <arg direction="in" type="a{sv}"/>
    </method>
  </interface>
</node>
"""


def on_viewer_call(conn, sender, path, iface, method, params, invocation):
    if method == "ActivateAction":
        name, args, platform = params.unpack()
        SHOWN.append((name, list(args)))
    invocation.return_value(None)


def setUpModule():
    global SESSION
    NET.start()
    SESSION = SESSIONS.new("notify", start=False)
    # Settings from a key file, so that the daemon sees notify-delayed=false.
    SESSION.env["GSETTINGS_BACKEND"] = "keyfile"
    settings_dir = os.path.join(SESSION.env["XDG_CONFIG_HOME"], "glib-2.0", "settings")
    os.makedirs(settings_dir, exist_ok=True)
    with open(os.path.join(settings_dir, "keyfile"), "w") as f:
        f.write("[org/msgtrk]\nnotify-delayed=false\n")
    SESSION.start()
    node = Gio.DBusNodeInfo.new_for_xml(NOTIFY_XML)
    SESSION.conn.register_object("/org/freedesktop/Notifications", node.interfaces[0],
                                 on_call, None, None)
    SESSION.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "RequestName",
                           GLib.Variant("(su)", ("org.freedesktop.Notifications", 4)),
                           GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)
    # The stand-in viewer: org.msgtrk.Viewer's "show" action, recorded.
    vnode = Gio.DBusNodeInfo.new_for_xml(VIEWER_XML)
    SESSION.conn.register_object("/org/msgtrk/Viewer", vnode.interfaces[0], on_viewer_call,
                                 None, None)
    SESSION.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "RequestName",
                           GLib.Variant("(su)", ("org.msgtrk.Viewer", 4)),
                           GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, 5000, None)


def tearDownModule():
    SESSIONS.cleanup()


def send(subject, recipient):
    envid, b, timeout = SESSION.prepare(NET.SENDER, [recipient], "", subject,
                                        "submit.demo.test")
    keywords, reply = harness.send_tracked(
        Msgtrk, NET.hops["submit"].relay.port, NET.SENDER, [recipient], envid, b, timeout,
        subject, envid.replace("@", ".n@"))
    SESSION.committed(envid, keywords, reply)
    return envid


class NotificationTest(unittest.TestCase):
    def test_notifications(self):
        cases = {"Note delivered": "alice@example.net", "Note failed": "bob@gone.example",
                 "Note delayed": "carol@slow.example"}
        envids = {subject: send(subject, rcpt) for subject, rcpt in cases.items()}
        want = {"Note delivered": "delivered", "Note failed": "failed",
                "Note delayed": "delayed"}

        def settled():
            states = {s: SESSION.get_route(e)["state"] for s, e in envids.items()}
            return states == want
        SESSION.wait_for("every message in its final state", settled, timeout=60)
        SESSION.wait_for("two notifications", lambda: len(NOTES) >= 2, timeout=20)
        SESSION.pump(2.0)  # a third one, if it were (wrongly) sent, would arrive by now

        summaries = sorted(n[0] for n in NOTES)
        self.assertEqual(summaries, ["Delivered: Note delivered",
                                     "Delivery failed: Note failed"], NOTES)
        for summary, body, actions in NOTES:
            self.assertTrue(body, "a notification without a body: %r" % summary)
            self.assertIn("default", actions)
        # The body is the message's summary, as the status column shows it.
        routes = {n[0]: n[1] for n in NOTES}
        self.assertEqual(routes["Delivered: Note delivered"],
                         SESSION.get_route(envids["Note delivered"])["summary"])
        # No secret in what reaches the desktop (A is only in the keyring).
        for envid in envids.values():
            url = SESSION.export_url(envid)
            secret = url.rsplit("/", 1)[1]
            for n in NOTES:
                self.assertNotIn(secret, repr(n))

        self.check_default_action(envids["Note delivered"], "Delivered: Note delivered")
        self.check_viewed_withdraws(envids["Note failed"], "Delivery failed: Note failed")

    def check_default_action(self, envid, summary):
        # The freedesktop way: the server says the user clicked the notification.
        SESSION.conn.emit_signal(None, "/org/freedesktop/Notifications",
                                 "org.freedesktop.Notifications", "ActionInvoked",
                                 GLib.Variant("(us)", (NOTE_IDS[summary], "default")))
        SESSION.wait_for("the viewer shown by the click", lambda: len(SHOWN) >= 1, timeout=20)
        self.assertEqual(SHOWN[0], ("show", [envid]))
        # The GNOME Shell way: ActivateAction on the notifying application's bus name.
        SESSION.conn.call_sync("org.msgtrk.Tracker1", "/org/msgtrk/Tracker1",
                               "org.freedesktop.Application", "ActivateAction",
                               GLib.Variant("(sava{sv})",
                                            ("show", [GLib.Variant("s", envid)], {})),
                               None, Gio.DBusCallFlags.NO_AUTO_START, 5000, None)
        SESSION.wait_for("the viewer shown by the Shell", lambda: len(SHOWN) >= 2, timeout=20)
        self.assertEqual(SHOWN[1], ("show", [envid]))

    def check_viewed_withdraws(self, envid, summary):
        self.assertNotIn(NOTE_IDS[summary], CLOSED)
        SESSION.call("MarkViewed", "(s)", (envid,))
        SESSION.wait_for("the notification withdrawn",
                         lambda: NOTE_IDS[summary] in CLOSED, timeout=20)
        with self.assertRaises(GLib.Error) as raised:
            SESSION.call("MarkViewed", "(s)", ("nobody@nowhere.example",))
        self.assertIn("Error.NotFound", raised.exception.message)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
