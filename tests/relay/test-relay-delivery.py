#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-delivery.py: delivery scenarios with real msgtrk-relay processes.

  test-relay-delivery.py MSGTRK_RELAY SCENARIO

Scenarios (each starts its own relays on 127.0.0.1 port 0 in a temporary directory):
  chain-mtrk              A -> B -> B's Maildir; A's record: transferred, Remote-MTA b.test;
                          B's record: delivered; the MTRK timeout shrinks along the chain;
                          dot-stuffing and bare LF survive two hops
  chain-no-mtrk           B offers neither MTRK nor DSN: A's record says relayed 2.1.9, and
                          A sends a "relayed" DSN (NOTIFY=SUCCESS)
  error-route             error: route and a 550 from the next hop: failed records with the
                          status and Diagnostic-Code, a FAILURE DSN in the sender's Maildir
                          with text/rfc822-headers
  next-hop-down           delayed record with Will-Retry-Until, a DELAY DSN, then failed
                          4.4.7 when max_queue_lifetime is over, and a FAILURE DSN
  ret-full                RET=FULL returns the whole message (message/rfc822)
  tls-next-hop            B offers STARTTLS with a certificate A's CA file verifies: ESMTPS
  tls-next-hop-untrusted  A's CA file does not verify B: A logs it and delivers without TLS
  restart-resume          a delayed message survives a clean restart and is delivered once
                          the next hop is up
  opaque-route            "smtp:HOST:PORT opaque": A's record says opaque 2.0.0 without
                          Remote-MTA or Diagnostic-Code (B offers MTRK: B still keeps its
                          own record); a 550 behind the opaque route names no Remote-MTA;
                          a hop without DSN gets a "relayed" DSN, never "opaque"
  route-options           bad route options are refused at start-up, naming the route
  forward-orcpt           the NOTIFY and ORCPT given at hop 1 reach hop 2 unchanged (a
                          capturing SMTP server sees the exact RCPT line; a real relay's
                          record shows the Original-Recipient); an ENVID with xtext
                          escapes passes on too
  connection-burst        max_connections=2: 2 clients x 60 back-to-back sessions and 6
                          clients at once all get 220 (live sessions counted; excess
                          connections wait in the backlog for connection_wait)
  mtqpd-connection-burst  (MTQPD as 3rd argument) the same bursts against mtqpd, which
                          shares the listener
  queue-full              [queue] max_messages=2: 250 at the limit, 452 4.3.1 at MAIL and
                          at DATA one past it, accepted again once the queue drains
  envid-takeover          (MTQPD given as 3rd argument) a second message with the same
                          ENVID and another MTRK=B leaves the first sender's record;
                          mtqpd answers the owner and tells the hijacker "unknown"
  ehlo-empty-line         a next hop whose EHLO reply ends in an empty "250 " line
                          (Postfix's smtp-sink) gets the message, with ENVID and MTRK
"""

import email
import email.policy
import os
import re
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (AUTH, Failure, HarnessError, Relay, ScriptedHop,  # noqa: E402
                           SmtpClient, check, field, free_port, make_body, mtqp_track,
                           run_scenarios, send_message, wait_for)


def mtrk_params(envid, timeout=None, ret="HDRS"):
    value = AUTH if timeout is None else "%s:%d" % (AUTH, timeout)
    return "ENVID=%s MTRK=%s RET=%s" % (envid, value, ret)


def expires_of(record):
    return int(re.search(r"^Expires: (\d+)$", record, re.M).group(1))


def parse_mail(raw):
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def dsn_parts(raw):
    """(report-type, delivery-status text, returned part's content type) of a DSN."""
    msg = parse_mail(raw)
    if msg.get_content_type() != "multipart/report":
        raise Failure("not a multipart/report:\n%s" % raw.decode(errors="replace"))
    parts = msg.get_payload()
    status = None
    returned = None
    for p in parts:
        if p.get_content_type() == "message/delivery-status":
            payload = p.get_payload()
            if isinstance(payload, list):  # the email package splits it into blocks
                status = "\n\n".join(str(b) for b in payload)
            else:
                status = payload
        elif p.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            returned = p
    return msg.get_param("report-type"), status, returned


def scenario_chain_mtrk(exe, tmp):
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:", "sender.example": "local:"})
    b.start()
    a = Relay(exe, tmp, "a", "a.test", {"example.org": b.route(), "sender.example": "local:"})
    a.start()
    envid = "mtrk.chain1@sender.example"
    body = make_body("chain", b".leading dot\r\n..two dots\r\nbare LF\nend\r\n")
    code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"], body,
                              mtrk_params(envid, 3600), "NOTIFY=SUCCESS,FAILURE")
    check(code == 250, "DATA: %s" % text, a)

    mails = b.wait_mail("bob@example.org")
    m = mails[0]
    check(b"\n.leading dot\n..two dots\nbare LF\nend\n" in m,
          "dot-stuffing or line ends damaged:\n%r" % m, a, b)
    check(m.count(b"Received: from") == 2, "expected two Received: headers:\n%r" % m, a, b)
    check(b"by b.test with ESMTP" in m and b"by a.test with ESMTP" in m,
          "Received: headers:\n%r" % m, a, b)
    check(m.startswith(b"Return-Path: <alice@sender.example>\nDelivered-To: bob@example.org\n"),
          "Maildir headers:\n%r" % m, a, b)

    rec_a = a.wait_action(envid, "transferred")
    check(field(rec_a, "Remote-MTA") == ["dns; b.test"], "A's Remote-MTA:\n" + rec_a, a)
    check(field(rec_a, "Reporting-MTA") == ["dns; a.test"], "A's Reporting-MTA:\n" + rec_a, a)
    check(field(rec_a, "Original-Envelope-Id") == [envid], rec_a, a)
    check(field(rec_a, "Final-Recipient") == ["rfc822; bob@example.org"], rec_a, a)
    check(AUTH in rec_a, "A's record lacks B:\n" + rec_a, a)
    rec_b = b.wait_action(envid, "delivered")
    check(field(rec_b, "Status") == ["2.0.0"], "B's status:\n" + rec_b, b)
    check(field(rec_b, "Reporting-MTA") == ["dns; b.test"], rec_b, b)
    # the remaining timeout travels: B's record expires no later than A's
    check(expires_of(rec_b) <= expires_of(rec_a) and expires_of(rec_a) - time.time() <= 3600,
          "expiry: A %d, B %d" % (expires_of(rec_a), expires_of(rec_b)), a, b)

    # B offers DSN, so B (not A) sends the SUCCESS DSN, to its own sender.example Maildir.
    dsn = b.wait_mail("alice@sender.example")[0]
    rtype, status, _ = dsn_parts(dsn)
    check(rtype == "delivery-status" and "Action: delivered" in status,
          "B's DSN:\n%r" % dsn, b)
    time.sleep(0.5)
    check(a.mailbox_files("alice@sender.example") == [], "A sent a DSN although B offers DSN", a)
    wait_for("A's queue to empty", lambda: a.queue_files() == [], 20)
    for r in (a, b):
        r.stop()
        check(AUTH not in r.log(), "the log shows the authenticator", r)


def scenario_chain_no_mtrk(exe, tmp):
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"},
              relay={"offer_mtrk": "false", "offer_dsn": "false"})
    b.start()
    a = Relay(exe, tmp, "a", "a.test", {"example.org": b.route(), "sender.example": "local:"})
    a.start()
    envid = "mtrk.nomtrk@sender.example"
    code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                              make_body("no mtrk"), mtrk_params(envid), "NOTIFY=SUCCESS")
    check(code == 250, text, a)
    b.wait_mail("bob@example.org")
    rec = a.wait_action(envid, "relayed")
    check(field(rec, "Status") == ["2.1.9"], "status:\n" + rec, a)
    check(field(rec, "Remote-MTA") == ["dns; b.test"], rec, a)
    check(b.track_record(envid) is None, "B kept a record without MTRK", b)
    dsn = a.wait_mail("alice@sender.example")[0]
    _, status, returned = dsn_parts(dsn)
    check("Action: relayed" in status, "DSN:\n%r" % dsn, a)
    check(returned is not None and returned.get_content_type() == "text/rfc822-headers",
          "returned part", a)
    a.stop()
    b.stop()


def scenario_error_route(exe, tmp):
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"})
    b.start()
    a = Relay(exe, tmp, "a", "a.test",
              {"error.example": "error:5.1.2 this domain does not receive mail",
               "unknown.example": b.route(), "sender.example": "local:"})
    a.start()
    envid = "mtrk.err@sender.example"
    c1, t1 = send_message(a.port, "alice@sender.example",
                          ["x@error.example", "y@unknown.example"], make_body("error route"),
                          mtrk_params(envid))
    check(c1 == 250, t1, a)
    # one DSN per attempt outcome: the error route and the 550 may come in one or two DSNs
    def failed_both():
        rec = a.track_record(envid)
        return rec if rec and len(re.findall(r"^Action: failed", rec, re.M)) == 2 else None
    rec = wait_for("both recipients failed", failed_both, 30)
    statuses = field(rec, "Status")
    check("5.1.2" in statuses, "statuses %r:\n%s" % (statuses, rec), a)
    diags = " | ".join(field(rec, "Diagnostic-Code"))
    check("smtp; 550 5.1.2 this domain does not receive mail" in diags, diags, a)
    check("smtp; 550 5.1.2 Relay access denied" in diags, diags, a)
    check(field(rec, "Remote-MTA") == ["dns; b.test"], rec, a)

    def all_dsns():
        files = a.mailbox_files("alice@sender.example")
        text = b"".join(open(f, "rb").read() for f in files)
        return text if text.count(b"Action: failed") >= 2 else None
    text = wait_for("FAILURE DSNs", all_dsns, 30)
    for raw in a.wait_mail("alice@sender.example"):
        rtype, status, returned = dsn_parts(raw)
        msg = parse_mail(raw)
        check(msg["From"].startswith("Mail Delivery System <MAILER-DAEMON@a.test>"), msg["From"])
        check("Failure" in msg["Subject"], msg["Subject"])
        check("Original-Envelope-Id: " + envid in status, status)
        check("Reporting-MTA: dns; a.test" in status, status)
        check(returned is not None and returned.get_content_type() == "text/rfc822-headers"
              and "Subject: error route" in returned.get_payload(), "returned headers", a)
        check(b"Hello." not in raw, "RET=HDRS returned the body", a)
    check(b"Return-Path: <>" in text, "DSN not from the null sender", a)
    a.stop()
    b.stop()


def scenario_next_hop_down(exe, tmp):
    port = free_port()
    a = Relay(exe, tmp, "a", "a.test",
              {"example.org": "smtp:127.0.0.1:%d" % port, "sender.example": "local:"},
              queue={"max_queue_lifetime": "6", "retry_first": "1", "retry_factor": "1.5",
                     "retry_max_interval": "2"})
    a.start()
    envid = "mtrk.down@sender.example"
    code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                              make_body("down"), mtrk_params(envid),
                              "NOTIFY=DELAY,FAILURE")
    check(code == 250, text, a)
    rec = a.wait_action(envid, "delayed", 20)
    check(len(field(rec, "Will-Retry-Until")) == 1, "no Will-Retry-Until:\n" + rec, a)
    check(len(field(rec, "Last-Attempt-Date")) == 1, "no Last-Attempt-Date:\n" + rec, a)
    check(field(rec, "Status")[0].startswith("4."), rec, a)
    check("127.0.0.1:%d" % port in " ".join(field(rec, "Diagnostic-Code")), rec, a)
    dsn = a.wait_mail("alice@sender.example", 1)[0]
    _, status, _ = dsn_parts(dsn)
    check("Action: delayed" in status and "Will-Retry-Until:" in status, status, a)
    check("Delay" in parse_mail(dsn)["Subject"], "subject", a)

    rec = a.wait_action(envid, "failed", 30)
    check(field(rec, "Status") == ["4.4.7"], "expiry status:\n" + rec, a)
    # Retries: a line each ("action=delayed"), the last one perhaps written by the relay's
    # log thread after the record changed.
    a.wait_log("action=delayed", 2)
    mails = a.wait_mail("alice@sender.example", 2)
    check(len(mails) == 2, "expected exactly one DELAY and one FAILURE DSN", a)
    _, status, _ = dsn_parts([m for m in mails if m != dsn][0])
    check("Action: failed" in status and "Status: 4.4.7" in status, status, a)
    wait_for("the queue to empty", lambda: a.queue_files() == [], 20)
    a.stop()


def scenario_ret_full(exe, tmp):
    a = Relay(exe, tmp, "a", "a.test",
              {"error.example": "error:5.7.1 refused", "sender.example": "local:"})
    a.start()
    code, text = send_message(a.port, "alice@sender.example", ["x@error.example"],
                              make_body("full"), "RET=FULL ENVID=plain.envid", "NOTIFY=FAILURE")
    check(code == 250, text, a)
    raw = a.wait_mail("alice@sender.example")[0]
    _, status, returned = dsn_parts(raw)
    check("Status: 5.7.1" in status and "Original-Envelope-Id: plain.envid" in status, status, a)
    check(returned is not None and returned.get_content_type() == "message/rfc822",
          "RET=FULL part:\n%r" % raw, a)
    check(b"Hello." in raw, "the body is not returned", a)
    check(a.track_record("plain.envid") is None, "a record without MTRK", a)
    a.stop()


def make_pki(tmp):
    source_root = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
    pki = os.path.join(tmp, "pki")
    subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"), pki],
                   check=True)
    os.chmod(pki, 0o755)
    return pki


def scenario_tls(exe, tmp, trusted):
    pki = make_pki(tmp)
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"},
              tls={"certificate": os.path.join(pki, "server.pem"),
                   "key": os.path.join(pki, "server.key")})
    b.start()
    a = Relay(exe, tmp, "a", "a.test", {"example.org": b.route()},
              tls={"ca_file": os.path.join(pki, "ca.pem" if trusted else "other-ca.pem")})
    a.start()
    envid = "mtrk.tls@sender.example"
    code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                              make_body("tls"), mtrk_params(envid))
    check(code == 250, text, a)
    m = b.wait_mail("bob@example.org")[0]
    a.wait_action(envid, "transferred")
    if trusted:
        check(b"by b.test with ESMTPS" in m, "not delivered over TLS:\n%r" % m, a, b)
        check("without TLS" not in a.log(), "A fell back to plain text", a)
    else:
        check(b"by b.test with ESMTP id" in m, "expected plain ESMTP:\n%r" % m, a, b)
        # Logged before the record says "transferred", written by the log thread after.
        a.wait_log("STARTTLS with 127.0.0.1:%d failed" % b.port)
        a.wait_log("delivering without TLS")
    a.stop()
    b.stop()


def scenario_restart_resume(exe, tmp):
    port = free_port()
    a = Relay(exe, tmp, "a", "a.test", {"example.org": "smtp:127.0.0.1:%d" % port},
              queue={"retry_first": "1", "retry_max_interval": "1"})
    a.start()
    envid = "mtrk.resume@sender.example"
    code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                              make_body("resume"), mtrk_params(envid), "NOTIFY=NEVER")
    check(code == 250, text, a)
    a.wait_action(envid, "delayed")
    a.stop()
    check(len(a.queue_files()) == 2, "queue after stop: %r" % a.queue_files(), a)
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"})
    b.start()
    a.set_routes({"example.org": b.route()})
    a.start()
    b.wait_mail("bob@example.org")
    a.wait_action(envid, "transferred")
    wait_for("A's queue to empty", lambda: a.queue_files() == [], 20)
    a.wait_log("resuming delivery")
    time.sleep(1)
    check(len(b.mailbox_files("bob@example.org")) == 1, "delivered more than once", b)
    a.stop()
    b.stop()


def scenario_opaque_route(exe, tmp):
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"})
    b.start()
    legacy = Relay(exe, tmp, "legacy", "legacy.test", {"legacy.example": "local:"},
                   relay={"offer_mtrk": "false", "offer_dsn": "false"})
    legacy.start()
    a = Relay(exe, tmp, "a", "a.test",
              {"example.org": b.route() + " opaque", "unknown.example": b.route() + " opaque",
               "legacy.example": legacy.route() + "   opaque", "sender.example": "local:"})
    a.start()
    envid = "mtrk.opaque@sender.example"
    code, text = send_message(a.port, "alice@sender.example",
                              ["bob@example.org", "y@unknown.example", "dave@legacy.example"],
                              make_body("opaque"), mtrk_params(envid), "NOTIFY=SUCCESS,FAILURE")
    check(code == 250, text, a)
    b.wait_mail("bob@example.org")
    legacy.wait_mail("dave@legacy.example")

    def settled():
        rec = a.track_record(envid)
        return rec if rec and len(re.findall(r"^Action: ", rec, re.M)) == 3 else None
    rec = wait_for("three outcomes in A's record", settled, 30)
    blocks = {field(blk, "Final-Recipient")[0]: blk for blk in rec.split("\n\n")
              if field(blk, "Final-Recipient")}
    bob = blocks["rfc822; bob@example.org"]
    check(field(bob, "Action") == ["opaque"] and field(bob, "Status") == ["2.0.0"],
          "bob:\n" + rec, a)
    dave = blocks["rfc822; dave@legacy.example"]
    check(field(dave, "Action") == ["opaque"] and field(dave, "Status") == ["2.0.0"],
          "dave:\n" + rec, a)
    y = blocks["rfc822; y@unknown.example"]
    check(field(y, "Action") == ["failed"] and field(y, "Status") == ["5.1.2"], "y:\n" + rec, a)
    check(field(rec, "Remote-MTA") == [], "an opaque route names its hop:\n" + rec, a)
    for blk in (bob, dave):
        check(field(blk, "Diagnostic-Code") == [], "a handoff diagnostic:\n" + rec, a)
    check("b.test" not in rec and "legacy.test" not in rec and str(b.port) not in rec,
          "the record shows what lies beyond:\n" + rec, a)
    # B offered MTRK: B got B (the authenticator) and keeps its own record.
    rec_b = b.wait_action(envid, "delivered")
    check(field(rec_b, "Reporting-MTA") == ["dns; b.test"], rec_b, b)

    # DSNs: a FAILURE for y; a SUCCESS "relayed" for dave (legacy has no DSN), no "opaque".
    def dsns():
        files = a.mailbox_files("alice@sender.example")
        text = b"".join(open(f, "rb").read() for f in files)
        return text if b"Action: failed" in text and b"Action: relayed" in text else None
    text = wait_for("A's DSNs", dsns, 30)
    check(b"Action: opaque" not in text, "a DSN with Action: opaque:\n%r" % text, a)
    check(b"Remote-MTA" not in text, "a DSN names the opaque hop:\n%r" % text, a)
    for r in (a, b, legacy):
        r.stop()


def scenario_route_options(exe, tmp):
    for i, value in enumerate(("smtp:127.0.0.1:25 transparent",
                               "smtp:127.0.0.1:25 opaque extra", "smtp:127.0.0.1:25 OPAQUE",
                               "smtp:127.0.0.1:25opaque", "smtp:127.0.0.1:opaque")):
        r = Relay(exe, tmp, "bad%d" % i, "bad.test",
                  {"example.org": value, "sender.example": "local:"})
        try:
            r.start()
        except HarnessError as e:
            check("route for" in str(e) and "opaque" in str(e),
                  "the error does not explain the route syntax: %s" % e)
            continue
        r.stop()
        raise Failure("the relay accepted the route %r" % value)
    ok = Relay(exe, tmp, "ok", "ok.test", {"example.org": "smtp:[::1]:25 opaque"})
    ok.start()
    ok.stop()


def capture_hop(keywords=("DSN", "MTRK", "8BITMIME")):
    """A next hop that offers DSN (and MTRK) and records every command line it gets."""
    return ScriptedHop(name="capture.test", keywords=keywords)


def scenario_forward_orcpt(exe, tmp):
    capture = capture_hop()
    try:
        b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:", "sender.example": "local:"})
        b.start()
        a = Relay(exe, tmp, "a", "a.test",
                  {"example.org": b.route(), "capture.example": "smtp:127.0.0.1:%d" % capture.port,
                   "sender.example": "local:"})
        a.start()
        # An ENVID with an xtext escape (decoded "+"): a relay passes on any valid ENVID.
        envid_wire = "orcpt+2Btest@sender.example"
        envid = "orcpt+test@sender.example"
        c = SmtpClient(a.port)
        try:
            c.cmd("EHLO client.test", 250)
            c.cmd("MAIL FROM:<alice@sender.example> ENVID=%s MTRK=%s RET=HDRS"
                  % (envid_wire, AUTH), 250)
            c.cmd("RCPT TO:<bob@example.org> NOTIFY=SUCCESS,DELAY "
                  "ORCPT=rfc822;Original+2BList+3Dx@Lists.Example.COM", 250)
            c.cmd("RCPT TO:<carol@capture.example> NOTIFY=NEVER "
                  "ORCPT=x-local;LOCAL/carol+20smith", 250)
            c.cmd("RCPT TO:<dan@capture.example> NOTIFY=FAILURE", 250)
            c.cmd("RCPT TO:<erin@capture.example>", 250)
            code, text = c.data(make_body("orcpt"))
        finally:
            c.close()
        check(code == 250, text, a)
    except Exception:
        capture.close()
        raise

    def rcpts():
        got = [l for l in capture.lines if l.upper().startswith("RCPT")]
        return got if len(got) == 3 else None
    try:
        got = wait_for("three RCPT lines at the capturing hop", rcpts, 30)
    finally:
        capture.close()
    expected = [
        "RCPT TO:<carol@capture.example> NOTIFY=NEVER ORCPT=x-local;LOCAL/carol+20smith",
        "RCPT TO:<dan@capture.example> NOTIFY=FAILURE ORCPT=rfc822;dan@capture.example",
        "RCPT TO:<erin@capture.example> ORCPT=rfc822;erin@capture.example",
    ]
    check(got == expected, "RCPT lines at hop 2:\n%s\nexpected:\n%s"
          % ("\n".join(got), "\n".join(expected)), a)
    mail = [l for l in capture.lines if l.upper().startswith("MAIL")]
    check(len(mail) == 1 and (" ENVID=%s " % envid_wire) in mail[0] and " MTRK=" in mail[0],
          "MAIL at hop 2: %r" % mail, a)

    # A real relay as hop 2: its record shows the original recipient, decoded.
    rec_b = b.wait_action(envid, "delivered")
    check(field(rec_b, "Original-Recipient") == ["rfc822; Original+List=x@Lists.Example.COM"],
          "B's record:\n" + rec_b, b)
    # NOTIFY=SUCCESS,DELAY reached B: B (not A) sends the SUCCESS DSN.
    dsn = b.wait_mail("alice@sender.example")[0]
    _, status, _ = dsn_parts(dsn)
    check("Action: delivered" in status
          and "Original-Recipient: rfc822; Original+List=x@Lists.Example.COM" in status,
          "B's DSN:\n%s" % status, b)
    a.stop()
    b.stop()


def scenario_same_envid_twice(exe, tmp):
    """Two copies of one message (same ENVID and B) reach one relay for different
    recipients: its tracking record keeps both recipients, whatever the order."""
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:", "sender.example": "local:"})
    b.start()
    envid = "mtrk.twice1@sender.example"
    for rcpt in ("one@example.org", "two@example.org"):
        code, text = send_message(b.port, "alice@sender.example", [rcpt], make_body(rcpt),
                                  mtrk_params(envid, 3600), "NOTIFY=NEVER")
        check(code == 250, "DATA: %s" % text, b)
        b.wait_mail(rcpt)

    def both():
        rec = b.track_record(envid) or ""
        finals = sorted(field(rec, "Final-Recipient"))
        return rec if finals == ["rfc822; one@example.org", "rfc822; two@example.org"] else None
    rec = wait_for("both recipients in one record", both, 20)
    check(field(rec, "Action") == ["delivered", "delivered"], rec, b)
    b.stop()


def scenario_ehlo_empty_line(exe, tmp):
    """A next hop whose EHLO reply ends with an empty "250 " line (as Postfix's smtp-sink
    writes it) is used, not refused: the message reaches it with ENVID and MTRK."""
    # smtp-sink's reply, its empty last line included
    capture = capture_hop(("PIPELINING", "8BITMIME", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN",
                           "XCLIENT NAME HELO", "DSN", "MTRK", "ENHANCEDSTATUSCODES", ""))
    try:
        a = Relay(exe, tmp, "a", "a.test",
                  {"sink.example": "smtp:127.0.0.1:%d" % capture.port,
                   "sender.example": "local:"})
        a.start()
        envid = "mtrk.sink1@sender.example"
        code, text = send_message(a.port, "alice@sender.example", ["bob@sink.example"],
                                  make_body("sink"), mtrk_params(envid, 3600), "NOTIFY=NEVER")
        check(code == 250, "DATA: %s" % text, a)
        rec = a.wait_action(envid, "transferred")
        check(field(rec, "Remote-MTA") == ["dns; capture.test"], rec, a)
        mail = [l for l in capture.lines if l.upper().startswith("MAIL")]
        check(len(mail) == 1 and " ENVID=%s " % envid in mail[0] and " MTRK=" in mail[0],
              "MAIL at the next hop: %r" % mail, a)
        a.stop()
    finally:
        capture.close()


def start_mtqpd(mtqpd_exe, tmp, state_dir, extra=()):
    """A real mtqpd on the relay's state_dir; returns (process, port)."""
    d = os.path.join(tmp, "mtqpd")
    os.makedirs(d, exist_ok=True)
    conf = ["[mtqpd]", "hostname=mtqp.test", "state_dir=%s" % state_dir, "listen=127.0.0.1:1"]
    conf += list(extra)
    if os.geteuid() == 0:
        conf.append("user=nobody")
    with open(os.path.join(d, "mtqpd.conf"), "w") as f:
        f.write("\n".join(conf) + "\n")
    port_file = os.path.join(d, "port")
    log = open(os.path.join(d, "mtqpd.log"), "w")
    proc = subprocess.Popen([mtqpd_exe, "--config", os.path.join(d, "mtqpd.conf"),
                             "--listen", "127.0.0.1:0", "--port-file", port_file],
                            stdout=log, stderr=log)
    log.close()

    def ready():
        if proc.poll() is not None:
            raise HarnessError("mtqpd exited:\n" + open(os.path.join(d, "mtqpd.log")).read())
        if os.path.exists(port_file):
            text = open(port_file).read()
            return text if text.endswith("\n") else None
        return None
    return proc, int(wait_for("mtqpd to start", ready, 20, 0.05))


def scenario_envid_takeover(exe, tmp, mtqpd_exe):
    """Someone who saw an ENVID sends a message with that ENVID and their own MTRK=B: the
    first sender keeps its record (mtqpd still answers it), the hijacker gets the same
    -ERR as for an unknown ENVID, and the relay's log names no authenticator."""
    import hashlib
    import base64
    from relay_harness import SECRET_RAW
    hijack_raw = bytes(range(100, 132))
    hijack_b = base64.b64encode(hashlib.sha1(hijack_raw).digest()).decode()
    b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:", "sender.example": "local:"})
    b.start()
    envid = "mtrk.owner1@sender.example"
    code, text = send_message(b.port, "alice@sender.example", ["bob@example.org"],
                              make_body("owner"), mtrk_params(envid, 3600), "NOTIFY=NEVER")
    check(code == 250, "DATA: %s" % text, b)
    b.wait_action(envid, "delivered")
    code, text = send_message(b.port, "mallory@sender.example", ["eve@example.org"],
                              make_body("hijack"),
                              "ENVID=%s MTRK=%s:3600 RET=HDRS" % (envid, hijack_b),
                              "NOTIFY=NEVER")
    check(code == 250, "DATA: %s" % text, b)
    b.wait_mail("eve@example.org")
    wait_for("the relay to keep or replace the record",
             lambda: ("record is kept" in b.log() or hijack_b in (b.track_record(envid) or ""))
             or None, 20)
    rec = b.track_record(envid)
    check(AUTH in rec and hijack_b not in rec, "the record changed hands:\n" + rec, b)
    check(field(rec, "Final-Recipient") == ["rfc822; bob@example.org"], rec, b)

    proc, port = start_mtqpd(mtqpd_exe, tmp, b.state_dir)
    try:
        first, whole = mtqp_track(port, envid, SECRET_RAW)
        check(first.startswith("+OK+") and "bob@example.org" in whole
              and "eve@example.org" not in whole, "the owner's TRACK:\n" + whole, b)
        hijack, _ = mtqp_track(port, envid, hijack_raw)
        unknown, _ = mtqp_track(port, "mtrk.unknown@sender.example", hijack_raw)
        check(hijack == unknown and hijack.startswith("-ERR"),
              "the hijacker's answer %r differs from an unknown ENVID's %r" % (hijack, unknown),
              b)
    finally:
        proc.terminate()
        proc.wait(10)
    b.stop()
    check(AUTH not in b.log() and hijack_b not in b.log(), "the log shows an authenticator", b)


def scenario_queue_full(exe, tmp):
    """[queue] max_messages holds while the relay runs: at the limit a message is still
    accepted, one past it gets 452 4.3.1 at MAIL, and at DATA when the queue filled up
    during the transaction. Once the queue drains, messages are accepted again."""
    port = free_port()
    a = Relay(exe, tmp, "a", "a.test", {"example.org": "smtp:127.0.0.1:%d" % port},
              queue={"max_messages": "2", "retry_first": "1", "retry_max_interval": "2"})
    a.start()
    early = SmtpClient(a.port)
    try:
        early.cmd("EHLO client.test", 250)
        early.cmd("MAIL FROM:<alice@sender.example>", 250)
        early.cmd("RCPT TO:<early@example.org> NOTIFY=NEVER", 250)
        for i in (1, 2):  # the second one fills the queue: at the limit
            code, text = send_message(a.port, "alice@sender.example", ["bob%d@example.org" % i],
                                      make_body("q%d" % i), "", "NOTIFY=NEVER")
            check(code == 250, "message %d at the limit: %s" % (i, text), a)
        wait_for("two queued messages",
                 lambda: len([f for f in a.queue_files() if f.endswith(".env")]) == 2 or None, 10)
        code, text = early.cmd("DATA")
        check(code == 452 and text.startswith("452 4.3.1"), "DATA one past the limit: " + text, a)
    finally:
        early.close()
    c = SmtpClient(a.port)
    try:
        c.cmd("EHLO client.test", 250)
        code, text = c.cmd("MAIL FROM:<alice@sender.example>")
        check(code == 452 and text.startswith("452 4.3.1"), "MAIL one past the limit: " + text, a)
    finally:
        c.close()
    check(len([f for f in a.queue_files() if f.endswith(".env")]) == 2, "the queue grew", a)

    # Drain the queue (local delivery now), then messages are accepted again.
    a.stop()
    a.set_routes({"example.org": "local:"})
    a.start()
    wait_for("the queue to drain", lambda: a.queue_files() == [] or None, 20)
    code, text = send_message(a.port, "alice@sender.example", ["bob3@example.org"],
                              make_body("q3"), "", "NOTIFY=NEVER")
    check(code == 250, "after draining: %s" % text, a)
    a.stop()


def short_session(port, hold=0.0, mtqp=False):
    """connect, greeting, EHLO (SMTP), (hold), QUIT; returns the greeting line, "220 ..."
    for a good SMTP greeting, "+OK/MTQP ..." for a good MTQP one."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        f = conn.makefile("rb")
        greeting = f.readline().decode("ascii", "replace").rstrip("\r\n")
        if not greeting.startswith("+OK/MTQP" if mtqp else "220"):
            return greeting
        if not mtqp:
            conn.sendall(b"EHLO burst.test\r\n")
            while True:
                line = f.readline()
                if not line or line[3:4] != b"-":
                    break
        if hold:
            time.sleep(hold)
        conn.sendall(b"QUIT\r\n")
        f.readline()
        return greeting


def run_burst(port, clients, sessions, hold=0.0, mtqp=False):
    """@clients threads, each running @sessions short sessions one after the other;
    returns every greeting that was not the server's positive one."""
    bad = []
    lock = threading.Lock()

    def client():
        for _ in range(sessions):
            try:
                g = short_session(port, hold, mtqp)
            except OSError as e:
                g = "error: %s" % e
            if not g.startswith("+OK/MTQP" if mtqp else "220"):
                with lock:
                    bad.append(g)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return bad


def scenario_connection_burst(exe, tmp):
    """max_connections counts live sessions only, and a connection over the cap waits in
    the listen backlog (connection_wait) instead of getting 421 at once: a burst of short
    sessions, sequential per client and overlapping the server's end of the previous
    one, all get 220, and so do more simultaneous clients than max_connections as long as
    a slot frees within the wait."""
    a = Relay(exe, tmp, "a", "a.test", {"example.org": "local:"},
              relay={"max_connections": "2", "connection_wait": "10"})
    a.start()
    # as many clients as the cap, each 60 sessions back to back: never over the cap
    bad = run_burst(a.port, 2, 60)
    check(bad == [], "sessions refused although at most 2 were live: %r" % bad[:3], a)
    # three times the cap at once, each session held 0.2 s: the excess waits its turn
    bad = run_burst(a.port, 6, 3, 0.2)
    check(bad == [], "a burst over the cap was refused: %r" % bad[:3], a)
    a.stop()


def scenario_mtqpd_connection_burst(exe, tmp, mtqpd_exe):
    """mtqpd shares the listener: the same bursts all get the +OK greeting."""
    state = os.path.join(tmp, "mtqpd-state")
    os.makedirs(state, exist_ok=True)
    if os.geteuid() == 0:
        import pwd
        os.chmod(tmp, 0o755)
        os.chown(state, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    proc, port = start_mtqpd(mtqpd_exe, tmp, state,
                             ["max_connections=2", "connection_wait=10"])
    try:
        bad = run_burst(port, 2, 60, mtqp=True)
        check(bad == [], "sessions refused although at most 2 were live: %r" % bad[:3])
        bad = run_burst(port, 6, 3, 0.2, mtqp=True)
        check(bad == [], "a burst over the cap was refused: %r" % bad[:3])
    finally:
        proc.terminate()
        proc.wait(10)


SCENARIOS = {
    "connection-burst": scenario_connection_burst,
    "queue-full": scenario_queue_full,
    "ehlo-empty-line": scenario_ehlo_empty_line,
    "same-envid-twice": scenario_same_envid_twice,
    "chain-mtrk": scenario_chain_mtrk,
    "chain-no-mtrk": scenario_chain_no_mtrk,
    "error-route": scenario_error_route,
    "next-hop-down": scenario_next_hop_down,
    "ret-full": scenario_ret_full,
    "tls-next-hop": lambda exe, tmp: scenario_tls(exe, tmp, True),
    "tls-next-hop-untrusted": lambda exe, tmp: scenario_tls(exe, tmp, False),
    "restart-resume": scenario_restart_resume,
    "opaque-route": scenario_opaque_route,
    "route-options": scenario_route_options,
    "forward-orcpt": scenario_forward_orcpt,
    "envid-takeover": scenario_envid_takeover,                  # argv[3]: msgtrk-mtqpd
    "mtqpd-connection-burst": scenario_mtqpd_connection_burst,  # argv[3]: msgtrk-mtqpd
}


def main():
    return run_scenarios("relay-delivery-", SCENARIOS, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
