#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the user reads from the real msgtrkd through the real `msgtrk` CLI (issue 8).

No demo network and no typelib: msgtrkd polls an MTQP port that refuses connections
(--mtqp-override NAME=127.0.0.1:PORT of a closed port), its secrets in the file keyring.
Covers:
- item 7: when tracking fails, `msgtrk show` says why (a "Problems" section), both when
  the first server refuses a message with known recipients and for a link imported with
  no recipients (the route fails as a whole);
- item 18: a message tracked from a link says "Tracked from a link", not "(no subject)",
  and "sent time unknown", not "not sent yet";
- item 21: a send that failed (Aborted) and was retried under the same Message-ID is one
  entry in List and `msgtrk list`, not a "Not sent" one beside it; another sender's
  message with the same Message-ID stays.
Output: TAP.
"""
import argparse
import base64
import os
import socket
import sys
import urllib.parse


from msgtrkd_harness import Session, Tap  # noqa: E402

SENDER = "me@example.org"
PROBLEM_TIMEOUT = 40.0


def closed_port():
    """A loopback TCP port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--msgtrkd", default=None)
    opts = ap.parse_args()
    t = Tap()
    port = closed_port()
    s = Session(opts.build_dir, "ux", msgtrkd=opts.msgtrkd, keyring=False,
                daemon_args=["--keyring", "file", "--first-poll", "1", "--poll-schedule", "1",
                             "--idle-exit", "600",
                             "--mtqp-override", "refuse.test=127.0.0.1:%d" % port])
    try:
        s.start()

        # --- item 21: an aborted send, retried, is one entry ----------------------------
        msgid = "retry.4711@example.org"
        e0, _, _ = s.prepare(SENDER, ["ann@example.net"], "<%s>" % msgid, "Sent before",
                             "smtp.example.org")
        s.committed(e0, ["PIPELINING", "DSN"], "250 2.0.0 queued as AAA")
        e1, _, _ = s.prepare(SENDER, ["ann@example.net"], "<%s>" % msgid, "Retry me",
                             "smtp.example.org")
        s.aborted(e1, "Connection refused by smtp.example.org")
        other, _, _ = s.prepare("me@example.net", ["ann@example.net"], "<%s>" % msgid,
                                "Retry me", "smtp.example.net")
        s.aborted(other, "Connection refused")
        e2, _, _ = s.prepare(SENDER, ["ann@example.net"], "<%s>" % msgid, "Retry me",
                             "smtp.example.org")
        s.committed(e2, ["PIPELINING", "DSN"], "250 2.0.0 queued as ABC")
        listed = [m for m in s.list() if m["message_id"] == msgid]
        mine = [m for m in listed if m["subject"] == "Retry me"]
        t.ok(len(mine) == 1 and mine[0]["envid"] == e2 and mine[0]["state"] != "aborted",
             "retried send (twice, from two accounts): one entry in List, the sent one",
             listed)
        t.ok(any(m["envid"] == e0 for m in listed),
             "a copy sent earlier under the same Message-ID stays", listed)
        r = s.cli("list")
        out = r.stdout.decode()
        rows = [line for line in out.splitlines() if "Retry me" in line]
        t.ok(r.returncode == 0 and len(rows) == 1 and "Not sent" not in rows[0],
             "msgtrk list: one row for the retried message", out)

        # --- item 7: the first server refuses; show says why -------------------------
        e3, _, _ = s.prepare(SENDER, ["bea@example.net"], "<refused@example.org>",
                             "Refused", "refuse.test")
        s.committed(e3, ["PIPELINING", "DSN", "MTRK"], "250 2.0.0 queued as DEF")

        def polled():
            route = s.get_route(e3)
            return route["last_poll"] is not None and route
        route = s.wait_for("the first poll", polled, timeout=PROBLEM_TIMEOUT)
        r = s.cli("show", e3)
        text = r.stdout.decode()
        t.ok(r.returncode == 0 and "Problems" in text and "refuse.test" in text
             and "refused" in text.lower(), "show: a refusing first server says why", text)
        t.ok("Sent:" in text and "not sent yet" not in text, "show: sent time shown", text)
        sent = route["sent"]
        t.ok(sent is not None, "route: sent is set for a committed message", route)

        # --- items 7 and 18: a link to a server that refuses -------------------------
        secret = base64.b64encode(os.urandom(32)).decode()
        url = "mtqp://127.0.0.1:%d/track/%s/%s" % (
            port, urllib.parse.quote("mtrk.linked0001@example.com", safe=""),
            urllib.parse.quote(secret, safe=""))
        e4 = s.import_url(url)

        def failed_event():
            route = s.get_route(e4)
            return any(ev["source"] in ("error", "warning") for ev in route["events"]) and route
        route = s.wait_for("the failed poll of the link", failed_event, timeout=PROBLEM_TIMEOUT)
        t.ok(route["sent"] is None and route["tracking"] == "delegated",
             "route: a link with no report has no sent time", route)
        r = s.cli("show", e4)
        text = r.stdout.decode()
        t.ok(r.returncode == 0 and "Problems" in text and "Tracking failed" in text,
             "show: a link whose server refuses says why", text)
        t.ok("Tracked from a link" in text and "(no subject)" not in text,
             "show: a link says it is tracked from a link", text)
        t.ok("sent time unknown" in text and "not sent yet" not in text,
             "show: a link's sent time is unknown, not 'not sent yet'", text)
        r = s.cli("list")
        rows = [line for line in r.stdout.decode().splitlines() if e4 in line]
        t.ok(len(rows) == 1 and "(tracked from a link)" in rows[0],
             "msgtrk list: a link's subject says it is tracked from a link", r.stdout.decode())
        r = s.cli("show", "--json", e4)
        t.ok(r.returncode == 0 and '"error"' in r.stdout.decode(),
             "show --json: the failure is an event of source error", r.stdout.decode())
        code = s.stop_daemon()
        t.ok(code == 0, "msgtrkd exits 0 on SIGTERM (no leak under ASan)", s.log()[-3000:])
    except Exception as exc:  # noqa: BLE001
        t.ok(False, "no exception", "%r\n%s" % (exc, s.log()))
    finally:
        s.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
