#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-harrison.py: Content-Track trace records (Harrison) with real msgtrk-relay
processes (server/relay/relay-harrison.c, docs/harrison.md).

  test-relay-harrison.py MSGTRK_RELAY SCENARIO

Scenarios (each starts its own relays on 127.0.0.1 port 0 in a temporary directory):
  chain          A (own_networks 127.0.0.0/8) -> B (all_senders) -> bob: the sender gets
                 two TRACK: mails, Subject "TRACK: <key>", bodies of Received: fields only
                 (A's: A's own line first; B's: B's line, then A's), never the message's
                 body or other headers, from the null reverse path
  off            no [harrison] group: nothing is sent (off by default)
  null-sender    MAIL FROM:<> with Content-Track: nothing sent, one log line
  outside        the client is not in own_networks and all_senders is false: nothing
                 sent, one log line
  rate           max_per_sender=2: two TRACK: mails, the third message logs the limit;
                 another sender still gets one
  bad-key        a key with a space, a key over 64 characters, two Content-Track fields:
                 nothing sent, logged; a key of exactly 64 characters is honoured
  big-header     a header of exactly RELAY_HARRISON_MAX_HEADER_SIZE octets is honoured, one
                 octet more is not (logged)
  bad-config     own_networks that is no network and max_per_sender 0 stop the start
  many-received  a message with RELAY_MAX_RECEIVED (50) Received: fields gets a record of
                 all of them plus the relay's own (51); one more is refused as a loop (554)
                 and gets none
  long-received  40 Received: fields of 1,000 octets and one of 9,000: a record within
                 MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE, the long field left out
"""

import email
import email.policy
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (Failure, HarnessError, Relay, check, free_port,  # noqa: E402
                           run_scenarios, send_message, wait_for)

KEY = "ct1.abcdefghijklmnopqrstuvwxyz"
MAX_HEADER = 64 * 1024  # RELAY_HARRISON_MAX_HEADER_SIZE


class HRelay(Relay):
    """A relay with a [harrison] group (None: no group)."""

    def __init__(self, exe, base_dir, name, hostname, routes, harrison=None, relay=None):
        self.harrison = harrison
        relay_keys = {"max_message_size": "400000"}
        relay_keys.update(relay or {})
        super().__init__(exe, base_dir, name, hostname, routes, relay=relay_keys)

    def set_routes(self, routes):
        super().set_routes(routes)
        if getattr(self, "harrison", None) is not None:
            with open(self.conf_path, "a") as f:
                f.write("\n[harrison]\n" + "".join("%s=%s\n" % kv
                                                   for kv in self.harrison.items()))


def tracked_body(subject, key=KEY, extra_headers=b""):
    return (b"From: me@sender.example\r\nTo: bob@dest.example\r\nSubject: " + subject.encode()
            + b"\r\nMessage-ID: <" + subject.replace(" ", ".").encode() + b"@test>\r\n"
            + (b"Content-Track: " + key.encode() + b"\r\n" if key is not None else b"")
            + extra_headers + b"\r\nSecret body text.\r\n")


def track_mails(relay, address="me@sender.example"):
    out = []
    for path in relay.mailbox_files(address):
        with open(path, "rb") as f:
            raw = f.read()
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        if (msg["Subject"] or "").startswith("TRACK:"):
            out.append((raw, msg))
    return out


def wait_track(relay, count, address="me@sender.example"):
    try:
        return wait_for("%d TRACK: mail(s) for %s" % (count, address),
                        lambda: (lambda m: m if len(m) >= count else None)(
                            track_mails(relay, address)), 30)
    except HarnessError as e:
        raise HarnessError("%s\nlog:\n%s" % (e, relay.log()))


def check_none(relay, address="me@sender.example", wait=1.5):
    time.sleep(wait)
    check(track_mails(relay, address) == [], "a TRACK: mail was sent", relay)


def check_record(raw, msg, first_by, count, relay):
    body = msg.get_payload()
    lines = [l for l in body.replace("\r\n", "\n").split("\n") if l]
    fields = [l for l in lines if not l[0].isspace()]
    check(all(f.startswith("Received:") for f in fields),
          "the record holds more than Received: fields:\n%s" % body, relay)
    check(len(fields) == count, "expected %d Received: fields:\n%s" % (count, body), relay)
    check(("by %s " % first_by) in lines[0] + " " + (lines[1] if len(lines) > 1 else ""),
          "the newest field is not %s's:\n%s" % (first_by, body), relay)
    check(b"Secret body text" not in raw and b"Subject: chain" not in raw
          and b"Message-ID: <chain@test>" not in raw,
          "the body or another header was returned:\n%r" % raw, relay)
    check(msg["Subject"] == "TRACK: " + KEY, "Subject: %r" % msg["Subject"], relay)
    check(msg["Auto-Submitted"] == "auto-replied", "Auto-Submitted missing", relay)
    check(raw.startswith(b"Return-Path: <>\n"), "not from the null reverse path:\n%r" % raw,
          relay)


def scenario_chain(exe, tmp):
    a_port = free_port()
    b = HRelay(exe, tmp, "b", "b.test",
               {"dest.example": "local:", "sender.example": "smtp:127.0.0.1:%d" % a_port},
               harrison={"enabled": "true", "own_networks": "10.0.0.0/8",
                         "all_senders": "true"})
    b.start()
    a = HRelay(exe, tmp, "a", "a.test", {"dest.example": b.route(), "sender.example": "local:"},
               harrison={"enabled": "true", "own_networks": "127.0.0.0/8"})
    a.start(a_port)
    code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                              tracked_body("chain"))
    check(code == 250, "DATA: %s" % text, a)
    b.wait_mail("bob@dest.example")
    mails = wait_track(a, 2)
    by_first = {}
    for raw, msg in mails:
        body = msg.get_payload()
        by_first["b.test" if "by b.test" in body.split("Received:")[1] else "a.test"] = (raw, msg)
    check(set(by_first) == {"a.test", "b.test"}, "records: %r" % list(by_first), a, b)
    check_record(*by_first["a.test"], "a.test", 1, a)
    check_record(*by_first["b.test"], "b.test", 2, b)
    for r in (a, b):
        r.stop()


def scenario_off(exe, tmp):
    a = HRelay(exe, tmp, "a", "a.test", {"dest.example": "local:", "sender.example": "local:"})
    a.start()
    code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                              tracked_body("off"))
    check(code == 250, "DATA: %s" % text, a)
    a.wait_mail("bob@dest.example")
    check_none(a)
    a.stop()


def on_relay(exe, tmp, **extra):
    h = {"enabled": "true"}
    h.update(extra)
    a = HRelay(exe, tmp, "a", "a.test", {"dest.example": "local:", "sender.example": "local:",
                                        "other.example": "local:"}, harrison=h)
    a.start()
    return a


def scenario_null_sender(exe, tmp):
    a = on_relay(exe, tmp)
    code, text = send_message(a.port, "", ["bob@dest.example"], tracked_body("null"))
    check(code == 250, "DATA: %s" % text, a)
    a.wait_mail("bob@dest.example")
    a.wait_log("Content-Track ignored: null reverse path")
    check_none(a)
    a.stop()


def scenario_outside(exe, tmp):
    a = on_relay(exe, tmp, own_networks="10.0.0.0/8;192.0.2.0/24")
    code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                              tracked_body("outside"))
    check(code == 250, "DATA: %s" % text, a)
    a.wait_log("Content-Track ignored: client 127.0.0.1 is not in own_networks")
    check_none(a)
    a.stop()


def scenario_rate(exe, tmp):
    a = on_relay(exe, tmp, max_per_sender="2", window="3600")
    for i in range(3):
        code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                                  tracked_body("rate %d" % i))
        check(code == 250, "DATA: %s" % text, a)
    a.wait_log("is over 2 trace records per 3600 s")
    wait_track(a, 2)
    time.sleep(1.0)
    check(len(track_mails(a)) == 2, "more than max_per_sender TRACK: mails", a)
    # The limit is per reverse path.
    code, text = send_message(a.port, "you@other.example", ["bob@dest.example"],
                              tracked_body("rate other"))
    check(code == 250, "DATA: %s" % text, a)
    wait_track(a, 1, "you@other.example")
    a.stop()


def scenario_bad_key(exe, tmp):
    a = on_relay(exe, tmp)
    for key, extra in (("abc def", b""), ("k" * 65, b""),
                       (KEY, b"Content-Track: " + KEY.encode() + b"\r\n")):
        code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                                  tracked_body("bad", key, extra))
        check(code == 250, "DATA: %s" % text, a)
    # The three lines are logged in the order of the messages (the log thread keeps it).
    log = a.wait_log("Content-Track ignored: more than one field")
    check(log.count("Content-Track ignored: not a valid key") == 2, "bad keys not logged", a)
    check_none(a)
    code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                              tracked_body("ok", "k" * 64))
    check(code == 250, "DATA: %s" % text, a)
    mails = wait_track(a, 1)
    check(mails[0][1]["Subject"] == "TRACK: " + "k" * 64, "64-character key", a)
    a.stop()


def scenario_big_header(exe, tmp):
    a = on_relay(exe, tmp)
    base = tracked_body("big0")
    header_len = base.index(b"\r\n\r\n") + 2  # header lines with their CRLF
    pad = MAX_HEADER - header_len
    for extra in (0, 1):
        lines = []
        left = pad + extra
        # Folded pad lines of at most 900 octets each (CRLF counted).
        first = True
        while left > 0:
            n = min(left, 900)
            text = ("X-Pad: " if first else "\t") + "p" * (n - (9 if first else 3))
            lines.append(text.encode())
            left -= len(text) + 2
            first = False
        body = tracked_body("big%d" % extra, extra_headers=b"\r\n".join(lines) + b"\r\n")
        check(body.index(b"\r\n\r\n") + 2 == MAX_HEADER + extra,
              "header is %d octets" % (body.index(b"\r\n\r\n") + 2), a)
        code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"], body)
        check(code == 250, "DATA: %s" % text, a)
    a.wait_log("header over 65536 octets: no Content-Track reply")
    wait_track(a, 1)
    time.sleep(1.0)
    check(len(track_mails(a)) == 1, "a TRACK: mail for the header past the limit", a)
    a.stop()


def scenario_bad_config(exe, tmp):
    for i, h in enumerate(({"enabled": "true", "own_networks": "not-a-network"},
                           {"enabled": "true", "max_per_sender": "0"},
                           {"enabled": "true", "unknown_key": "1"})):
        r = HRelay(exe, tmp, "bad%d" % i, "bad.test", {"dest.example": "local:"}, harrison=h)
        try:
            r.start()
        except HarnessError as e:
            check("harrison" in str(e), "start-up error does not name [harrison]: %s" % e)
            continue
        r.stop()
        raise Failure("a relay with %r started" % h)


def scenario_many_received(exe, tmp):
    a = on_relay(exe, tmp)
    for n, want in ((50, 250), (51, 554)):
        extra = b"".join(b"Received: from h%d.example by h%d.example; Sat, 05 Dec 2026 "
                         b"00:00:00 +0000\r\n" % (i, i + 1) for i in range(n))
        code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                                  tracked_body("received %d" % n, extra_headers=extra))
        check(code == want, "%d Received: fields: %s" % (n, text), a)
    mails = wait_track(a, 1)
    time.sleep(1.0)
    check(len(track_mails(a)) == 1, "a TRACK: mail for the refused message", a)
    raw, msg = mails[0]
    fields = [l for l in msg.get_payload().replace("\r\n", "\n").split("\n")
              if l.startswith("Received:")]
    check(len(fields) == 51, "expected 51 Received: fields, got %d" % len(fields), a)
    a.stop()


def scenario_long_received(exe, tmp):
    """40 Received: fields of 1,000 octets, then one of 9,000: the TRACK: mail's record
    stays within what a client reads (docs/harrison.md): at most
    MSGTRK_CONTENT_TRACK_MAX_RECORD_SIZE octets, no field over MSGTRK_TRACE_MAX_FIELD_LENGTH,
    the nearest hops kept without a gap (session 20 review: a 40,000-octet record was sent,
    and msgtrkd refused it whole)."""
    a = on_relay(exe, tmp)
    pad = "x" * 900
    extra = b"".join(("Received: from h%d.example (%s) by h%d.example; Sat, 05 Dec 2026 "
                      "00:00:00 +0000\r\n" % (i, pad, i + 1)).encode() for i in range(40))
    # 9,000 octets unfolded, in lines under 998 octets (folded); farther than the rest.
    extra += b"Received: from huge.example (" + b"\r\n\t".join([b"y" * 900] * 10) \
        + b") by h40.example; Sat, 05 Dec 2026 00:00:00 +0000\r\n"
    code, text = send_message(a.port, "me@sender.example", ["bob@dest.example"],
                              tracked_body("long received", extra_headers=extra))
    check(code == 250, "DATA: %s" % text, a)
    raw, msg = wait_track(a, 1)[0]
    record = msg.get_payload().replace("\r\n", "\n")
    fields = [l for l in record.split("\n") if l.startswith("Received:")]
    check(len(record.replace("\n", "\r\n").encode()) <= 32 * 1024,
          "a record of %d octets" % len(record.encode()), a)
    check(all(len(f.encode()) <= 8192 for f in fields), "a field over 8192 octets", a)
    check("huge.example" not in record, "the 9,000-octet field is left out", a)
    hops = [int(f.split("from h", 1)[1].split(".", 1)[0]) for f in fields
             if f.startswith("Received: from h")]
    check(10 < len(hops) < 40 and hops == list(range(len(hops))),
          "the nearest hops kept, no gap: %r" % hops, a)
    a.stop()


SCENARIOS = {
    "many-received": scenario_many_received,
    "long-received": scenario_long_received,
    "chain": scenario_chain,
    "off": scenario_off,
    "null-sender": scenario_null_sender,
    "outside": scenario_outside,
    "rate": scenario_rate,
    "bad-key": scenario_bad_key,
    "big-header": scenario_big_header,
    "bad-config": scenario_bad_config,
}


def main():
    return run_scenarios("relay-harrison-", SCENARIOS, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
