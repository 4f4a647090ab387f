#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Harrison's trace reciprocation end to end (docs/harrison.md): the real msgtrkd on a
private bus (file keyring), two real msgtrk-relay hops with [harrison] on, SMTP in between.

  A (a.test, own_networks 127.0.0.0/8) -> B (b.test, all_senders) -> bob's Maildir;
  the sender's domain is local at A, so both TRACK: mails land in A's Maildir.

Covers: RequestContentTrack gives a key of msgtrk's form that is neither the ENVID nor in
it, the same key twice, NotFound for an unknown id; the message sent with that key in
Content-Track comes back as two TRACK: mails; IngestReport of each returns the ENVID and
GetRoute shows "harrison" hops for a.test and b.test, oldest first, with an event per
record; the same mails again add nothing; hostile TRACK: mails (a forged key of the right
form, a key of another form, a record over MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE, a mail over
MSGTRKD_HARRISON_MAX_MESSAGE_SIZE, Received: fields naming no server, a body line that is
not Received:) each give "" and exactly one log line, store nothing, and the daemon lives;
records up to MSGTRKD_HARRISON_MAX_RECORDS are kept and one more is ignored (logged); the
hops survive a restart; msgtrkd exits 0. Output: TAP.
"""
import argparse
import email
import email.policy
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "relay"))

from msgtrkd_harness import Session, Tap, remote_error  # noqa: E402
from relay_harness import Relay, free_port, send_message, wait_for  # noqa: E402

SENDER = "me@sender.example"
BOB = "bob@dest.example"
IGNORED = "A TRACK: mail was ignored"
MAX_RECORDS = 32  # MSGTRKD_HARRISON_MAX_RECORDS


class HRelay(Relay):
    def __init__(self, exe, base_dir, name, hostname, routes, harrison):
        self.harrison = harrison
        super().__init__(exe, base_dir, name, hostname, routes)

    def set_routes(self, routes):
        super().set_routes(routes)
        if getattr(self, "harrison", None) is not None:
            with open(self.conf_path, "a") as f:
                f.write("\n[harrison]\n" + "".join("%s=%s\n" % kv
                                                   for kv in self.harrison.items()))


def track_mails(relay):
    out = []
    for path in relay.mailbox_files(SENDER):
        with open(path, "rb") as f:
            raw = f.read()
        if email.message_from_bytes(raw, policy=email.policy.compat32)["Subject"].startswith(
                "TRACK:"):
            out.append(raw)
    return out


def harrison_hops(route):
    # A merged hop lists every source of its evidence (docs/route-merge.md).
    return [h for r in route["recipients"] for h in r["hops"]
            if "harrison" in h.get("sources", [h["source"]])]


def hostile(key, body):
    return (("From: Mail Delivery System <MAILER-DAEMON@evil.example>\r\nTo: <%s>\r\n"
             "Subject: TRACK: %s\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=us-ascii\r\n\r\n" % (SENDER, key)).encode()
            + body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--msgtrkd", default=None)
    opts = ap.parse_args()
    relay_exe = os.path.join(os.path.abspath(opts.build_dir), "server", "relay", "msgtrk-relay")
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="harrison-e2e-")
    s = Session(opts.build_dir, "harrison", msgtrkd=opts.msgtrkd, keyring=False,
                daemon_args=["--keyring", "file", "--first-poll", "3600", "--idle-exit", "600",
                             "--mtqp-override", "a.test=127.0.0.1:%d" % free_port()])
    relays = []
    try:
        a_port = free_port()
        b = HRelay(relay_exe, tmp, "b", "b.test",
                   {"dest.example": "local:", "sender.example": "smtp:127.0.0.1:%d" % a_port},
                   {"enabled": "true", "own_networks": "10.0.0.0/8", "all_senders": "true"})
        relays.append(b)
        b.start()
        a = HRelay(relay_exe, tmp, "a", "a.test",
                   {"dest.example": b.route(), "sender.example": "local:"},
                   {"enabled": "true", "own_networks": "127.0.0.0/8"})
        relays.append(a)
        a.start(a_port)
        s.start()

        envid, auth, timeout = s.prepare(SENDER, [BOB], "<harrison.1@sender.example>",
                                         "Route please", "a.test")
        key = s.call("RequestContentTrack", "(s)", (envid,), "(s)")[0]
        t.ok(key.startswith("ct1.") and len(key) == 30 and key[4:] not in envid
             and key not in envid, "RequestContentTrack: a key of msgtrk's form, not the ENVID",
             key)
        again = s.call("RequestContentTrack", "(s)", ("<harrison.1@sender.example>",), "(s)")[0]
        t.ok(again == key, "the same key again, also by Message-ID", again)
        try:
            s.call("RequestContentTrack", "(s)", ("mtrk.unknown@sender.example",), "(s)")
            t.ok(False, "RequestContentTrack of an unknown id fails")
        except Exception as exc:  # noqa: BLE001
            t.ok(remote_error(exc) == "org.msgtrk.Tracker1.Error.NotFound",
                 "RequestContentTrack of an unknown id: NotFound", exc)

        body = ("From: %s\r\nTo: %s\r\nSubject: Route please\r\n"
                "Message-ID: <harrison.1@sender.example>\r\nContent-Track: %s\r\n\r\n"
                "The secret body.\r\n" % (SENDER, BOB, key)).encode()
        code, text = send_message(a.port, SENDER, [BOB], body,
                                  "ENVID=%s MTRK=%s:%d" % (envid, auth, timeout))
        t.ok(code == 250, "the relay accepts the message", text)
        s.committed(envid, ["PIPELINING", "DSN", "MTRK"], text)
        mails = wait_for("two TRACK: mails", lambda: (lambda m: m if len(m) >= 2 else None)(
            track_mails(a)), 30)
        t.ok(all(b"The secret body" not in m for m in mails),
             "no TRACK: mail carries the body", mails)

        results = [s.ingest(m) for m in mails]
        t.ok(results == [envid, envid], "IngestReport matches both TRACK: mails by key",
             results)
        route = s.get_route(envid)
        hops = harrison_hops(route)
        servers = [h["server"] for h in hops]
        t.ok(servers == ["a.test", "b.test"], "GetRoute: harrison hops a.test then b.test",
             route)
        t.ok(hops and hops[1]["from_address"] == "127.0.0.1" and hops[1]["arrival"],
             "a hop says where it came from and when", hops)
        events = [e for e in route["events"] if e["source"] == "harrison"]
        t.ok(len(events) == 2 and all("Trace record from" in e["text"] for e in events),
             "one event per trace record", route["events"])
        again_results = [s.ingest(m.replace(b"\n", b"\r\n")) for m in mails]
        route2 = s.get_route(envid)
        t.ok(again_results == [envid, envid] and harrison_hops(route2) == hops
             and len(route2["events"]) == len(route["events"]),
             "the same TRACK: mails again (CRLF) add nothing", route2)

        # Hostile TRACK: mails: each "" and one log line, nothing stored.
        good = mails[0].split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
        received = b"Received: from x.example (x.example [192.0.2.7])\r\n" \
                   b"\tby evil.example with ESMTP id Z; Sat, 05 Dec 2026 00:00:00 +0000\r\n"
        forged = "ct1." + ("a" if key[4] != "a" else "b") + key[5:]
        cases = [
            ("forged key", hostile(forged, good)),
            ("key of another form", hostile("0123456789", good)),
            ("record over the limit", hostile(key, received * (32 * 1024 // len(received) + 1))),
            ("mail over the limit", hostile(key, good + b"X" * (64 * 1024))),
            ("Received: naming no server",
             hostile(key, b"Received: from x.example; Sat, 05 Dec 2026 00:00:00 +0000\r\n")),
            ("a line that is not Received:", hostile(key, good + b"Subject: hi\r\n")),
            ("garbage", hostile(key, b"\x00\xff" * 100)),
        ]
        before = s.log().count(IGNORED)
        for name, raw in cases:
            n = s.log().count(IGNORED)
            got = s.ingest(raw)
            s.wait_for("the log line", lambda: s.log().count(IGNORED) > n, timeout=10)
            t.ok(got == "" and s.log().count(IGNORED) == n + 1,
                 "hostile TRACK: mail (%s): ignored with one log line" % name, got)
        t.ok(s.log().count(IGNORED) == before + len(cases), "one log line each", s.log()[-3000:])
        route3 = s.get_route(envid)
        t.ok(harrison_hops(route3) == hops and len(route3["events"]) == len(route["events"]),
             "hostile mails stored nothing", route3)

        # MSGTRKD_HARRISON_MAX_RECORDS per message: valid records up to it are kept, the
        # next is ignored with one log line (forged records cannot push DSNs out).
        stored = 2
        kept = []
        for i in range(MAX_RECORDS - stored):
            rec = ("Received: from r%d.example (r%d.example [192.0.2.%d])\r\n"
                   "\tby fill%d.example with ESMTP id F%d; Sat, 05 Dec 2026 00:01:00 +0000\r\n"
                   % (i, i, i + 1, i, i)).encode()
            kept.append(s.ingest(hostile(key, rec)))
        t.ok(kept == [envid] * (MAX_RECORDS - stored),
             "trace records up to MSGTRKD_HARRISON_MAX_RECORDS are kept", kept)
        n = s.log().count(IGNORED)
        over = s.ingest(hostile(key, b"Received: from o.example (o.example [192.0.2.99])\r\n"
                                     b"\tby over.example with ESMTP id O; "
                                     b"Sat, 05 Dec 2026 00:02:00 +0000\r\n"))
        s.wait_for("the log line", lambda: s.log().count(IGNORED) > n, timeout=10)
        servers_now = [h["server"] for h in harrison_hops(s.get_route(envid))]
        t.ok(over == "" and "over.example" not in servers_now
             and s.log().count("has %d trace records already" % MAX_RECORDS) == 1,
             "one record past MSGTRKD_HARRISON_MAX_RECORDS is ignored with a log line",
             servers_now)
        hops = harrison_hops(s.get_route(envid))

        s.stop_daemon()
        s.start_daemon()
        t.ok(harrison_hops(s.get_route(envid)) == hops, "the hops survive a restart")
        code = s.stop_daemon()
        t.ok(code == 0, "msgtrkd exits 0 on SIGTERM", s.log()[-3000:])
        for r in relays:
            r.stop()
    except Exception as exc:  # noqa: BLE001
        t.ok(False, "no exception", "%r\n%s\n%s" % (exc, s.log()[-5000:],
                                                  "\n".join(r.log() for r in relays)))
    finally:
        s.cleanup()
        for r in relays:
            r.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
