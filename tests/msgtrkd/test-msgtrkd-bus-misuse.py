#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-msgtrkd-bus-misuse.py: msgtrkd's D-Bus API as a buggy client or another process on
the session bus would use it (session 21 review).

What: the real msgtrkd on a private bus, file keyring, no demo network, no typelib.
Checks:
  1. two ImportUrl calls of one link in flight at once (a double click): both answer the
     ENVID, and the secret of the message stays in the keyring (ExportUrl gives the link);
  2. Aborted for a message already sent (Committed): refused, the record stays sent, and
     a new Prepare of its Message-ID does not forget it;
  3. Aborted for a message tracked from a link: refused, its secret stays;
  4. a run still in flight (a server that never greets) when its next poll is due: no busy
     loop of the poll timer.
Output: TAP.
"""
import argparse
import base64
import os
import socket
import sys
import urllib.parse

from msgtrkd_harness import Session, Tap, remote_error  # noqa: E402
import msgtrkd_harness as harness  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

SENDER = "me@example.org"


def call_async(s, method, signature, args, reply, results, key):
    def done(conn, res):
        try:
            results[key] = conn.call_finish(res).unpack()
        except GLib.Error as exc:
            results[key] = exc
    s.conn.call(harness.BUS_NAME, harness.OBJECT_PATH, harness.INTERFACE, method,
                GLib.Variant(signature, tuple(args)), GLib.VariantType(reply),
                Gio.DBusCallFlags.NO_AUTO_START, 30000, None, done)


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--msgtrkd", default=None)
    opts = ap.parse_args()
    t = Tap()
    s = Session(opts.build_dir, "review", msgtrkd=opts.msgtrkd, keyring=False,
                daemon_args=["--keyring", "file", "--idle-exit", "600",
                             "--poll-schedule", "3600", "--first-poll", "3600"])
    try:
        s.start()

        # --- 1: one link imported twice at once ------------------------------------
        secret = base64.b64encode(os.urandom(32)).decode()
        envid = "mtrk.doubleclick0001@example.com"
        url = "mtqp://127.0.0.1:1/track/%s/%s" % (urllib.parse.quote(envid, safe=""),
                                                   urllib.parse.quote(secret, safe=""))
        results = {}
        call_async(s, "ImportUrl", "(s)", (url,), "(s)", results, 1)
        call_async(s, "ImportUrl", "(s)", (url,), "(s)", results, 2)
        s.wait_for("both imports", lambda: len(results) == 2)
        s.pump(0.5)
        t.ok(results[1] == (envid,) and results[2] == (envid,),
             "two imports of one link in flight: both answer the ENVID", results)
        try:
            exported = s.export_url(envid)
            kept = secret in urllib.parse.unquote(exported)
            why = exported
        except GLib.Error as exc:
            kept, why = False, exc.message
        t.ok(kept, "after two imports of one link, its secret is still in the keyring", why)

        # --- 2: Aborted after Committed --------------------------------------------
        e2, _, _ = s.prepare(SENDER, ["bob@example.net"], "<sent@example.org>", "Sent",
                             "smtp.example.org")
        s.committed(e2, ["PIPELINING", "DSN"], "250 2.0.0 queued as ABC")
        try:
            s.aborted(e2, "late error from the plugin")
            refused = False
        except GLib.Error as exc:
            refused = remote_error(exc) == "org.msgtrk.Tracker1.Error.InvalidArgument"
        route = s.get_route(e2)
        t.ok(refused and route["tracking"] == "dsn",
             "Aborted for a message already sent is refused; it stays sent",
             (refused, route["tracking"], route["state"], route["summary"]))
        # The same Message-ID prepared again (the user sends a copy): the sent record stays.
        s.prepare(SENDER, ["bob@example.net"], "<sent@example.org>", "Sent again",
                  "smtp.example.org")
        t.ok(s.get_status([e2])[0][1] == e2,
             "a sent message is still known after a new Prepare of its Message-ID",
             s.get_status([e2]))

        # --- 3: Aborted for a message tracked from a link -------------------------
        secret3 = base64.b64encode(os.urandom(32)).decode()
        e3 = "mtrk.delegated0003@example.com"
        url3 = "mtqp://127.0.0.1:1/track/%s/%s" % (urllib.parse.quote(e3, safe=""),
                                                    urllib.parse.quote(secret3, safe=""))
        s.import_url(url3)
        try:
            s.aborted(e3, "")
        except GLib.Error:
            pass
        try:
            kept = secret3 in urllib.parse.unquote(s.export_url(e3))
            why = ""
        except GLib.Error as exc:
            kept, why = False, exc.message
        route = s.get_route(e3)
        t.ok(kept and route["tracking"] == "delegated",
             "Aborted for a message tracked from a link keeps its record and secret",
             (route["tracking"], why))

        # --- 4: a run still in flight when its next poll is due -------------------------
        # A server that accepts and never greets keeps the run in flight (read timeout
        # 60 s) past its next poll (schedule 1 s here; 60 s by default after Track).
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url6 = "mtqp://127.0.0.1:%d/track/%s/%s" % (
            silent.getsockname()[1], urllib.parse.quote("mtrk.silent0006@example.com", safe=""),
            urllib.parse.quote(base64.b64encode(os.urandom(32)).decode(), safe=""))
        s.stop_daemon()
        s.daemon_args = ["--keyring", "file", "--idle-exit", "600", "--poll-schedule", "1"]
        s.start_daemon()
        s.import_url(url6)
        s.pump(1.5)
        before = cpu_ticks(s.daemon.pid)
        s.pump(3)
        spent = cpu_ticks(s.daemon.pid) - before
        log = open(s.log_path, errors="replace").read()
        t.ok(spent < 30 and log.count("next poll in 0 s") < 10,
             "no busy loop while a run outlasts its next poll time",
             "%d CPU ticks in 3 s, %d timer firings" % (spent, log.count("next poll in 0 s")))
        silent.close()

        code = s.stop_daemon()
        t.ok(code == 0, "msgtrkd exits 0 on SIGTERM", s.log()[-3000:])
    except Exception as exc:  # noqa: BLE001
        t.ok(False, "no exception", "%r\n%s" % (exc, s.log()[-5000:]))
    finally:
        s.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
