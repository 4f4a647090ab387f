#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-msgtrkd.py: real Postfix DSNs through the real msgtrkd, end to end.

The whole DSN path of a tracked message with an ordinary server (no MTRK, no MTQP):

1. msgtrkd runs in a private session (dbus-run-session, a real gnome-keyring-daemon,
   tests/msgtrkd/msgtrkd_harness.py); a private Postfix (postfix_instance.py) listens on
   127.0.0.1 as mx.test.example.
2. Prepare(sender, recipients, Message-ID, subject, submission host mx.test.example) gives
   ENVID and B; the message goes to Postfix over SMTP with the parameters MsgtrkEnvelope
   builds from Postfix's real EHLO: ENVID, RET=HDRS, NOTIFY, ORCPT, and no MTRK (Postfix
   does not offer it); Committed(ENVID, EHLO keywords, final reply) → tracking "dsn".
3. Every DSN Postfix writes into the sender's Maildir is handed to IngestReport as it is
   (LF line ends): delivered (alice), failed (nobody), delayed (carol, a dead next hop),
   relayed (dave, a next hop without DSN). Each returns the ENVID.
4. GetRoute: the recipients' states come from the DSNs; "dsn" hops carry Reporting-MTA,
   Action, Status, Diagnostic-Code; "trace" hops come from the Received: chain of the
   returned headers (by mx.test.example, from client.test.example). GetStatus, List and
   StatusChanged agree. Ingesting the same DSNs again (also with CRLF line ends, as an IMAP
   client would hand them over) adds no hop, event or signal.
5. A second message: its real DSN with the Original-Envelope-Id field removed (an MTA that
   omits it) still matches, by the Message-ID of the returned headers. A DSN about no
   tracked message gives "".
6. A third message, sent with SMTPUTF8 to a UTF-8 address that bounces: Postfix's bounce
   uses the RFC 6533 types (message/global-delivery-status, message/global-headers); with
   its Original-Envelope-Id removed it still matches by the returned Message-ID.

Limits: needs root, Postfix, gnome-keyring-daemon, dbus-run-session and a build with
introspection; otherwise it exits 77. Bounded by the timeouts of postfix_instance and the
harness. Never leaves a process or a file behind (Postfix and the session are stopped by
PID, their directories removed), also on failure or SIGTERM.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from postfix_instance import (MX, Checker, PostfixError, PrivatePostfix,  # noqa: E402
                              SmtpClient, maildir_files, raise_on_terminate, skip_reason)

SKIP = 77
DSN_TIMEOUT = 60.0

SENDER = "sender@test.example"
ALICE = "alice@test.example"
NOBODY = "nobody@test.example"
CAROL = "carol@slow.test.example"
DAVE = "dave@legacy.test.example"
NOBODY_UTF8 = "n\u00f6body@test.example"  # SMTPUTF8: an unknown user, so a bounce
HELO = "client.test.example"

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
parser.add_argument("--msgtrkd", default=None,
                    help="the daemon to test (e.g. from a sanitizer build)")
ARGS = parser.parse_args()


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


if skip_reason() is not None:
    skip(skip_reason())
for tool in ("gnome-keyring-daemon", "dbus-run-session"):
    if shutil.which(tool) is None:
        skip("%s is not installed (tools/deps.sh test)" % tool)
if not os.access(ARGS.msgtrkd or os.path.join(ARGS.build_dir, "helper", "msgtrkd", "msgtrkd"),
                 os.X_OK):
    skip("msgtrkd is not built")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import demonet  # noqa: E402

Msgtrk = demonet.setup_gi(ARGS.build_dir)  # re-executes once with the library path set
from gi.repository import GLib  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "msgtrkd"))
import msgtrkd_harness as harness  # noqa: E402


def send(port, envid, authenticator, timeout, recipients, message_id, subject):
    """What a mail client plugin does after Prepare, against Postfix's real EHLO. Returns
    (MAIL FROM argument, EHLO keywords, final reply)."""
    smtp = SmtpClient(port)
    try:
        ehlo = smtp.command("EHLO " + HELO, 250)
        caps = Msgtrk.SmtpCapabilities.parse_data(ehlo)
        env = Msgtrk.Envelope.new(envid)
        env.set_authenticator(authenticator)
        env.set_mtrk_timeout(timeout)
        env.set_ret(Msgtrk.DsnRet.HDRS)
        env.set_notify(Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE |
                       Msgtrk.DsnNotify.DELAY)
        mail_arg = env.build_mail_from_arg(caps, SENDER)
        smtp.command("MAIL FROM:" + mail_arg, 250)
        for rcpt in recipients:
            smtp.command("RCPT TO:" + env.build_rcpt_to_arg(caps, rcpt), 250)
        date = GLib.DateTime.new_now_utc().format("%a, %d %b %Y %H:%M:%S +0000")
        message = ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
                   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                   "A message for msgtrk's Postfix + msgtrkd test.\r\n"
                   % (SENDER, ", ".join("<%s>" % r for r in recipients), subject, date,
                      message_id)).encode("ascii")
        reply = smtp.data(message).decode("ascii", "replace").strip()
    finally:
        smtp.close()
    # Committed takes the keywords (the lines after the greeting line, without "250-").
    lines = ehlo.decode("ascii", "replace").replace("\r", "").split("\n")
    keywords = [line[4:] for line in lines[1:] if line]
    return mail_arg, keywords, reply


def send_smtputf8(port, envid, recipient, message_id, subject):
    """An SMTPUTF8 message (RFC 6531) with ENVID, RET=HDRS and a utf-8 ORCPT (RFC 6533),
    written by hand: MsgtrkEnvelope builds ASCII envelopes only."""
    smtp = SmtpClient(port)
    try:
        ehlo = smtp.command("EHLO " + HELO, 250)
        if b"SMTPUTF8" not in ehlo:
            raise PostfixError("Postfix does not offer SMTPUTF8: %r" % ehlo)
        smtp.command("MAIL FROM:<%s> SMTPUTF8 RET=HDRS ENVID=%s"
                     % (SENDER, Msgtrk.xtext_encode(envid)), 250)
        smtp.command("RCPT TO:<%s> NOTIFY=FAILURE ORCPT=utf-8;%s" % (recipient, recipient), 250)
        date = GLib.DateTime.new_now_utc().format("%a, %d %b %Y %H:%M:%S +0000")
        message = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
                   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                   "Gr\u00fc\u00dfe.\r\n"
                   % (SENDER, recipient, subject, date, message_id)).encode("utf-8")
        reply = smtp.data(message).decode("ascii", "replace").strip()
    finally:
        smtp.close()
    lines = ehlo.decode("ascii", "replace").replace("\r", "").split("\n")
    return [line[4:] for line in lines[1:] if line], reply


def recipient_blocks(raw):
    """(ENVID, [(Final-Recipient, Action)]) of a DSN, read with libmsgtrk."""
    reports = Msgtrk.Report.parse_entity(GLib.Bytes.new(raw))
    out = []
    envid = None
    for r in reports:
        if r.get_kind() != Msgtrk.ReportKind.DELIVERY_STATUS:
            continue
        envid = r.get_envid()
        for rr in r.get_recipients():
            out.append((rr.get_final_recipient(), Msgtrk.action_to_string(rr.get_action())))
    return envid, out


def wait_for_dsns(pf, wanted):
    """{path: raw} of the sender's Maildir once the DSNs cover @wanted, a set of
    (ENVID, recipient) pairs."""
    maildir = os.path.join(pf.mail, "sender", "Maildir")
    deadline = time.monotonic() + DSN_TIMEOUT
    while True:
        found = {}
        covered = set()
        for path in maildir_files(maildir):
            with open(path, "rb") as f:
                raw = f.read()
            envid, blocks = recipient_blocks(raw)
            found[path] = raw
            covered |= {(envid, rcpt) for rcpt, _ in blocks}
        if wanted <= covered:
            return found
        if time.monotonic() > deadline:
            raise PostfixError("DSNs missing after %.0f s: %r" % (DSN_TIMEOUT,
                                                                  sorted(wanted - covered)))
        time.sleep(0.2)


def hops_of(route, address, source):
    """The pieces of evidence of @source about @address: msgtrkd merges the evidence about
    one server into one hop (docs/route-merge.md), each piece kept in its "evidence"."""
    for r in route["recipients"]:
        if r["address"] == address:
            return [p for h in r["hops"] for p in h.get("evidence", [h])
                    if p["source"] == source]
    return None


def strip_field(raw, name):
    """@raw without the lines of header field @name (and its folded continuation)."""
    out = []
    skipping = False
    for line in raw.split(b"\n"):
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = line.lower().startswith(name.lower() + b":")
        if not skipping:
            out.append(line)
    return b"\n".join(out)


EXPECT = {
    # recipient: (state, Status check, Diagnostic-Code must contain, Remote-MTA)
    ALICE: ("delivered", lambda s: s == "2.0.0", "delivered to maildir", None),
    NOBODY: ("failed", lambda s: s == "5.1.1", "unknown user", None),
    CAROL: ("delayed", lambda s: s is not None and s.startswith("4."), "Connection refused",
            None),
    DAVE: ("relayed", lambda s: s is not None and s.startswith("2."), "250", "127.0.0.1"),
}
SUMMARY = "Failed 1/4, 1 delayed, 1 relayed, 1 delivered"


def check_route(c, route, envid, message_id):
    c.equal("route: envid", route["envid"], envid)
    c.equal("route: message_id", route["message_id"], message_id.strip("<>"))
    c.equal("route: tracking (DSN offered, no MTRK)", route["tracking"], "dsn")
    c.equal("route: submission_host", route["submission_host"], MX)
    offered = (route["offered"] or "").split()
    c.check("route: offered has DSN and no MTRK", "DSN" in offered and "MTRK" not in offered,
            route["offered"])
    c.equal("route: state", route["state"], "failed")
    c.equal("route: summary", route["summary"], SUMMARY)
    c.equal("route: not final while carol is delayed", route["final"], False)
    c.equal("route: never polled (no MTQP)", (route["last_poll"], route["next_poll"]),
            (None, None))
    c.equal("route: recipients' states from the DSNs",
            {r["address"]: r["state"] for r in route["recipients"]},
            {a: e[0] for a, e in EXPECT.items()})
    for address, (state, status_ok, diagnostic, remote) in EXPECT.items():
        dsn = hops_of(route, address, "dsn")
        if not c.equal("%s: one dsn hop" % address, len(dsn or []), 1):
            continue
        h = dsn[0]
        c.equal("%s: dsn hop reporting_mta and server" % address,
                (h["reporting_mta"], h["server"]), (MX, MX))
        c.equal("%s: dsn hop action" % address, h["action"], state)
        c.check("%s: dsn hop status" % address, status_ok(h["status"]), repr(h["status"]))
        c.check("%s: dsn hop diagnostic" % address,
                diagnostic in " ".join((h["diagnostic"] or "").split()), repr(h["diagnostic"]))
        c.equal("%s: dsn hop remote_mta" % address, h["remote_mta"], remote)
        c.check("%s: dsn hop arrival (Arrival-Date)" % address, h["arrival"] is not None)
        if address == CAROL:
            c.check("carol: dsn hop will_retry_until", h["will_retry_until"] is not None)
        trace = hops_of(route, address, "trace")
        if not c.equal("%s: one trace hop (Postfix's Received: field)" % address,
                       len(trace or []), 1):
            continue
        t = trace[0]
        c.equal("%s: trace hop by" % address, t["server"], MX)
        c.equal("%s: trace hop from (HELO)" % address, t.get("from_host"), HELO)
        c.equal("%s: trace hop from address" % address, t["from_address"], "127.0.0.1")
        c.check("%s: trace hop date" % address, t["arrival"] is not None)
        c.equal("%s: trace hop: no delay for the first hop" % address, t["delay_seconds"],
                None)
        c.equal("%s: trace hop has no DSN fields" % address,
                (t["action"], t["status"], t["reporting_mta"]), (None, None, None))
    dsn_events = [e["text"] for e in route["events"] if e["source"] == "dsn"]
    c.equal("route: one event per DSN recipient block", len(dsn_events), 4)
    c.check("route: events name the reporting MTA",
            all(t.startswith("DSN from %s: " % MX) for t in dsn_events), repr(dsn_events))


def run(c, pf, s):
    c.check("msgtrkd runs with a keyring", s.has_owner("org.freedesktop.secrets"))
    mid1 = "<tracked.%d@test.example>" % os.getpid()
    mid2 = "<noenvid.%d@test.example>" % os.getpid()
    rcpts1 = [ALICE, NOBODY, CAROL, DAVE]
    envid1, auth1, timeout1 = s.prepare(SENDER, rcpts1, mid1, "Postfix and msgtrkd", MX)
    envid2, auth2, timeout2 = s.prepare(SENDER, [ALICE], mid2, "No ENVID comes back", MX)
    c.check("Prepare: an ENVID of the sender's domain", envid1.endswith("@test.example"))
    c.equal("Prepare: state sending", s.get_status([envid1])[0][2], "sending")

    mail_arg, keywords, reply = send(pf.port, envid1, auth1, timeout1, rcpts1, mid1,
                                     "Postfix and msgtrkd")
    c.check("MAIL FROM: ENVID and RET=HDRS", "ENVID=" + envid1 in mail_arg and
            "RET=HDRS" in mail_arg, mail_arg)
    c.check("MAIL FROM: no MTRK (Postfix does not offer it)", "MTRK" not in mail_arg, mail_arg)
    c.check("Postfix's EHLO offers DSN, not MTRK", "DSN" in keywords and
            not any(k.split()[0] == "MTRK" for k in keywords), repr(keywords))
    c.check("final reply: queued", reply.startswith("250"), reply)
    s.committed(envid1, keywords, reply)
    route = s.get_route(envid1)
    c.equal("Committed: tracking dsn", route["tracking"], "dsn")
    c.equal("Committed: waiting for reports",
            (route["state"], route["summary"]),
            ("in-transit", "Sent — waiting for delivery reports"))

    _, keywords2, reply2 = send(pf.port, envid2, auth2, timeout2, [ALICE], mid2,
                                "No ENVID comes back")
    s.committed(envid2, keywords2, reply2)

    mid3 = "<smtputf8.%d@test.example>" % os.getpid()
    envid3, _, _ = s.prepare(SENDER, [NOBODY_UTF8], mid3, "Gr\u00fc\u00dfe", MX)
    keywords3, reply3 = send_smtputf8(pf.port, envid3, NOBODY_UTF8, mid3, "Gr\u00fc\u00dfe")
    s.committed(envid3, keywords3, reply3)

    wanted = ({(envid1, r) for r in rcpts1} | {(envid2, ALICE)}
              | {(envid3, NOBODY_UTF8)})
    dsns = wait_for_dsns(pf, wanted)
    mine = []
    other = None
    utf8 = None
    for path in sorted(dsns):
        envid, blocks = recipient_blocks(dsns[path])
        if envid == envid1:
            mine.append(dsns[path])
        elif envid == envid2:
            other = dsns[path]
        elif envid == envid3:
            utf8 = dsns[path]
    # Postfix sends one notice per kind and queue run: alice's "delivered" and dave's
    # "relayed" are usually two blocks of one success DSN (two DSNs if the deliveries fall
    # in different runs); the bounce and the delay notice are DSNs of their own.
    c.check("DSNs of the first message: success, bounce, delay", 3 <= len(mine) <= 4,
            "%d DSNs" % len(mine))

    # Ingested as they arrived.
    for i, raw in enumerate(mine):
        c.equal("IngestReport DSN %d: matched by Original-Envelope-Id" % (i + 1),
                s.ingest(raw), envid1)
    route = s.get_route(envid1)
    check_route(c, route, envid1, mid1)
    c.equal("GetStatus by ENVID and by Message-ID",
            s.get_status([envid1, mid1]),
            [(envid1, envid1, "failed", SUMMARY), (mid1, envid1, "failed", SUMMARY)])
    listed = [m for m in s.list() if m["envid"] == envid1]
    c.equal("List: state and summary",
            [(m["state"], m["summary"], m["tracking"]) for m in listed],
            [("failed", SUMMARY, "dsn")])
    s.pump(0.2)
    signals = [sig for sig in s.signals if sig[0] == envid1]
    c.check("StatusChanged: the last one is the final summary",
            bool(signals) and signals[-1] == (envid1, "failed", SUMMARY), repr(signals[-3:]))

    # Idempotent: the same DSNs again, as they are and with CRLF line ends.
    n_signals = len(s.signals)
    for i, raw in enumerate(mine):
        c.equal("IngestReport DSN %d again" % (i + 1), s.ingest(raw), envid1)
        c.equal("IngestReport DSN %d with CRLF line ends" % (i + 1),
                s.ingest(raw.replace(b"\n", b"\r\n")), envid1)
    again = s.get_route(envid1)
    c.equal("again: the same hops",
            [r["hops"] for r in again["recipients"]], [r["hops"] for r in route["recipients"]])
    c.equal("again: the same events", again["events"], route["events"])
    c.equal("again: the same state and summary", (again["state"], again["summary"]),
            (route["state"], route["summary"]))
    s.pump(0.2)
    c.equal("again: no StatusChanged", s.signals[n_signals:], [])

    # An MTA that omits Original-Envelope-Id: matched by the returned Message-ID.
    if c.check("a DSN of the second message", other is not None):
        stripped = strip_field(other, b"Original-Envelope-Id")
        c.check("the copy has no Original-Envelope-Id",
                b"original-envelope-id" not in stripped.lower() and len(stripped) < len(other))
        c.equal("IngestReport without Original-Envelope-Id: matched by Message-ID",
                s.ingest(stripped), envid2)
        route2 = s.get_route(envid2)
        c.equal("second message: delivered", (route2["state"], route2["summary"]),
                ("delivered", "Delivered 1/1"))
        c.equal("second message: final", route2["final"], True)
        c.equal("second message: one hop of the MX, from its DSN and its Received: field",
                [sorted(h["sources"]) for h in route2["recipients"][0]["hops"]],
                [["dsn", "trace"]])
        c.equal("the same DSN with its Original-Envelope-Id: the same message",
                s.ingest(other), envid2)
        c.equal("... and no second hop", len(s.get_route(envid2)["recipients"][0]["hops"]), 1)
        c.equal("the first message is untouched", s.get_status([envid1])[0][3], SUMMARY)

    # An SMTPUTF8 bounce (RFC 6533 types) without its ENVID: matched by Message-ID.
    if c.check("an SMTPUTF8 bounce of the third message", utf8 is not None):
        c.check("the bounce uses message/global-delivery-status and message/global-headers",
                b"message/global-delivery-status" in utf8
                and b"message/global-headers" in utf8)
        stripped = strip_field(utf8, b"Original-Envelope-Id")
        c.equal("IngestReport of an SMTPUTF8 bounce without Original-Envelope-Id: matched "
                "by the Message-ID of its message/global-headers", s.ingest(stripped), envid3)
        route3 = s.get_route(envid3)
        c.equal("SMTPUTF8 message: failed", (route3["state"], route3["summary"]),
                ("failed", "Failed 1/1"))
        c.equal("SMTPUTF8 message: the UTF-8 recipient failed",
                [(r["address"], r["state"]) for r in route3["recipients"]],
                [(NOBODY_UTF8, "failed")])
        c.equal("SMTPUTF8 message: one hop from the dsn and the returned headers' trace",
                [sorted(h["sources"]) for h in route3["recipients"][0]["hops"]],
                [["dsn", "trace"]])

    # A DSN about a message msgtrkd does not track.
    unknown = mine[0].replace(envid1.encode(), b"mtrk.unknown@test.example")
    unknown = unknown.replace(mid1.encode(), b"<unknown@test.example>")
    c.equal("IngestReport of a DSN about an untracked message", s.ingest(unknown), "")

    # The store keeps it all across a restart.
    c.equal("msgtrkd stops cleanly", s.stop_daemon(), 0)
    s.start_daemon()
    after = s.get_route(envid1)
    c.equal("after a restart: the same recipients and hops", after["recipients"],
            again["recipients"])


def main():
    raise_on_terminate()
    started = time.monotonic()
    c = Checker()
    pf = PrivatePostfix()
    s = harness.Session(os.path.abspath(ARGS.build_dir), "postfix", msgtrkd=ARGS.msgtrkd,
                        daemon_args=["--idle-exit", "600"])
    try:
        pf.configure()
        pf.start()
        print("# private Postfix on 127.0.0.1:%d in %s; msgtrkd session in %s"
              % (pf.port, pf.base, s.base))
        s.start()
        run(c, pf, s)
        c.equal("msgtrkd exits 0 (no leaks under ASan)", s.stop_daemon(), 0)
    except (PostfixError, harness.SessionError, OSError, subprocess.SubprocessError,
            GLib.Error) as e:
        c.check("run", False, str(e))
    finally:
        if c.failures:
            print("# Postfix log (end):")
            for line in pf.maillog().splitlines():
                print("#   " + line)
            for line in s.log().splitlines()[-80:]:
                print("#   " + line)
        s.cleanup()
        pf.cleanup()
    return c.done(started)


if __name__ == "__main__":
    sys.exit(main())
