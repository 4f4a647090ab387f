#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-dsn.py: real DSNs from a real Postfix, read with libmsgtrk.

A private Postfix instance (`postfix -c CONFDIR`, its own queue, data and mail directories
under one temporary directory; the system's /etc/postfix is never written) listens on
127.0.0.1:<free port> as mx.test.example. Messages go in over SMTP with ENVID, RET=HDRS,
NOTIFY=SUCCESS,FAILURE,DELAY and ORCPT built by MsgtrkEnvelope:

  alice@test.example        virtual Maildir          -> "delivered" 2.0.0
  nobody@test.example       unknown virtual user     -> "failed"    5.1.1
  carol@slow.test.example   next hop: a dead port    -> "delayed"   4.4.1
  alice@test.example        ENVID and ORCPT needing xtext (checks Postfix decodes them)
  dave@legacy.test.example  next hop without DSN (a tiny SMTP server here) -> "relayed"

The DSNs land in sender@test.example's Maildir; they are parsed with
msgtrk_report_parse_entity(), their returned headers with msgtrk_trace_parse_headers(),
and the three tracked recipients go through MsgtrkStatus. The DSNs are kept as fixtures
for other tests: <build>/tests/postfix/dsn-{delivered,failed,delayed,relayed,xtext}.eml and
<source>/.ci/artifacts/postfix/.

Limits: needs root (Postfix's master runs as root) and the postfix package; otherwise it
exits 77 (skip). The whole run is bounded (START_TIMEOUT, DSN_TIMEOUT, STOP_TIMEOUT).
It must never touch the system Postfix instance or leave a Postfix process or its files
behind, also on failure or SIGTERM.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postfix_instance import (MX, Checker, PostfixError, PrivatePostfix,  # noqa: E402
                              SmtpClient, maildir_files, raise_on_terminate, skip_reason,
                              wait_for_dsns)

SKIP = 77

SENDER = "sender@test.example"
DELIVERED = "alice@test.example"
FAILED = "nobody@test.example"
DELAYED = "carol@slow.test.example"
RELAYED = "dave@legacy.test.example"
# ENVID and ORCPT with characters that xtext must encode ('+', '=', space).
XTEXT_ENVID = "mtrk.xtext test+plus=eq@test.example"
XTEXT_ORCPT = "alice+work@test.example"

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
ARGS = parser.parse_args()
SOURCE_ROOT = os.environ.get(
    "MSGTRK_SOURCE_ROOT",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


if skip_reason() is not None:
    skip(skip_reason())


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import demonet  # noqa: E402

Msgtrk = demonet.setup_gi(ARGS.build_dir)  # re-executes once with the library path set
from gi.repository import GLib  # noqa: E402


TestFailure = PostfixError


def make_message(recipient, message_id, subject):
    date = GLib.DateTime.new_now_utc().format("%a, %d %b %Y %H:%M:%S +0000")
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "A message for msgtrk's Postfix DSN test.\r\n"
            % (SENDER, recipient, subject, date, message_id)).encode("ascii")


def send_all(port):
    """Sends one message per case; returns {case: (envid, message_id, recipient)}."""
    sent = {}
    smtp = SmtpClient(port)
    ehlo = smtp.command("EHLO client.test.example", 250)
    caps = Msgtrk.SmtpCapabilities.parse_data(ehlo)
    if not caps.has("DSN"):
        raise TestFailure("Postfix does not offer DSN: %r" % ehlo)
    notify = (Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE | Msgtrk.DsnNotify.DELAY)
    for case, rcpt in (("delivered", DELIVERED), ("failed", FAILED), ("delayed", DELAYED),
                       ("relayed", RELAYED)):
        envid = Msgtrk.envid_generate("test.example")
        env = Msgtrk.Envelope.new(envid)
        env.set_ret(Msgtrk.DsnRet.HDRS)
        env.set_notify(notify)
        mail_arg = env.build_mail_from_arg(caps, SENDER)
        rcpt_arg = env.build_rcpt_to_arg(caps, rcpt)
        for want in ("ENVID=" + envid, "RET=HDRS"):
            if want not in mail_arg:
                raise TestFailure("MAIL FROM argument lacks %s: %s" % (want, mail_arg))
        for want in ("NOTIFY=SUCCESS,FAILURE,DELAY", "ORCPT=rfc822;" + rcpt):
            if want not in rcpt_arg:
                raise TestFailure("RCPT TO argument lacks %s: %s" % (want, rcpt_arg))
        smtp.command("MAIL FROM:" + mail_arg, 250)
        smtp.command("RCPT TO:" + rcpt_arg, 250)
        message_id = "<%s.%s>" % (case, envid)
        smtp.data(make_message(rcpt, message_id, "msgtrk postfix test: " + case))
        sent[case] = (envid, message_id, rcpt)
    # The xtext case: the envelope is written by hand, with xtext made by libmsgtrk.
    smtp.command("MAIL FROM:<%s> RET=HDRS ENVID=%s"
                 % (SENDER, Msgtrk.xtext_encode(XTEXT_ENVID)), 250)
    smtp.command("RCPT TO:<%s> NOTIFY=SUCCESS ORCPT=rfc822;%s"
                 % (DELIVERED, Msgtrk.xtext_encode(XTEXT_ORCPT)), 250)
    message_id = "<xtext.%d@test.example>" % os.getpid()
    smtp.data(make_message(DELIVERED, message_id, "msgtrk postfix test: xtext"))
    sent["xtext"] = (XTEXT_ENVID, message_id, DELIVERED)
    smtp.close()
    return sent


def check_gi_ownership():
    """PyGObject (3.42) takes a (transfer full) GPtrArray of objects element by element and
    then frees the array, whose free function unrefs the elements a second time: the
    reports are gone before Python sees them. Refuse to run into that use-after-free."""
    owns = Msgtrk.Report.parse_entity.get_caller_owns()
    if int(owns) != 1:  # GI_TRANSFER_CONTAINER
        raise TestFailure(
            "msgtrk_report_parse_entity() is annotated (transfer full) on a GPtrArray that "
            "frees its reports itself; from Python the reports are freed twice. It needs "
            "\"Returns: (transfer container) (element-type MsgtrkReport)\" (as "
            "msgtrk_trace_parse_headers() has) in lib/msgtrk-report-mime.c")


def parse_dsn(raw):
    reports = Msgtrk.Report.parse_entity(GLib.Bytes.new(raw))
    dsns = [r for r in reports if r.get_kind() == Msgtrk.ReportKind.DELIVERY_STATUS]
    if len(dsns) != 1:
        raise TestFailure("expected one delivery-status report, got %d" % len(dsns))
    return dsns[0]


EXPECT = {
    # case: (Action, Status check, recipient)
    "delivered": (Msgtrk.Action.DELIVERED, lambda s: s == "2.0.0", DELIVERED),
    "failed": (Msgtrk.Action.FAILED, lambda s: s == "5.1.1", FAILED),
    "delayed": (Msgtrk.Action.DELAYED, lambda s: s is not None and s.startswith("4."), DELAYED),
    "xtext": (Msgtrk.Action.DELIVERED, lambda s: s == "2.0.0", DELIVERED),
    "relayed": (Msgtrk.Action.RELAYED, lambda s: s is not None and s.startswith("2."), RELAYED),
}


def check_dsns(c, sent, files):
    by_case = {}
    envids = {v[0]: k for k, v in sent.items()}
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        report = parse_dsn(raw)
        case = envids.get(report.get_envid())
        if not c.check("DSN %s matched to a sent message by Original-Envelope-Id"
                       % os.path.basename(path), case is not None,
                       "Original-Envelope-Id %r" % report.get_envid()):
            continue
        if not c.check("one DSN for %s" % case, case not in by_case):
            continue
        by_case[case] = (raw, report)

    for case, (raw, report) in sorted(by_case.items()):
        envid, message_id, rcpt = sent[case]
        action, status_ok, final = EXPECT[case]
        c.equal("%s: Original-Envelope-Id (written xtext-decoded)" % case,
                report.get_envid(), envid)
        c.equal("%s: Reporting-MTA" % case,
                (report.get_reporting_mta_type(), report.get_reporting_mta()), ("dns", MX))
        c.check("%s: X-Postfix-Queue-ID" % case,
                bool(report.get_field("X-Postfix-Queue-ID")))
        c.check("%s: Arrival-Date" % case, report.get_arrival_date() is not None)
        c.check("%s: LF line ends in the Maildir file" % case, b"\r\n" not in raw)
        rcpts = report.get_recipients()
        if not c.equal("%s: one recipient block" % case, len(rcpts), 1):
            continue
        rr = rcpts[0]
        c.equal("%s: Action" % case, rr.get_action(), action)
        c.check("%s: Status" % case, status_ok(rr.get_status()), "got %r" % rr.get_status())
        c.equal("%s: Final-Recipient" % case,
                (rr.get_final_recipient_type(), rr.get_final_recipient()), ("rfc822", final))
        c.equal("%s: Original-Recipient (ORCPT, xtext-decoded)" % case,
                rr.get_original_recipient(), XTEXT_ORCPT if case == "xtext" else rcpt)
        c.check("%s: Diagnostic-Code" % case, bool(rr.get_diagnostic_code()))
        if case == "delayed":
            c.check("delayed: Will-Retry-Until", rr.get_will_retry_until() is not None)
        if case == "relayed":
            c.equal("relayed: Remote-MTA (the next hop without DSN)", rr.get_remote_mta(),
                    "127.0.0.1")
        headers = report.get_returned_headers()
        if not c.check("%s: returned headers (RET=HDRS)" % case, headers is not None):
            continue
        c.check("%s: no body returned" % case, "A message for msgtrk" not in headers)
        c.equal("%s: Message-ID of the returned headers" % case,
                report.get_original_message_id(), message_id)
        hops = Msgtrk.trace_parse_headers(headers.encode("utf-8"))
        if c.check("%s: Received: chain gives at least one hop" % case, len(hops) >= 1):
            last = hops[-1]
            c.equal("%s: last hop by" % case, last.get_by_host(), MX)
            c.equal("%s: last hop from (HELO)" % case, last.get_from_helo(),
                    "client.test.example")
            c.check("%s: last hop has a date and an id" % case,
                    last.get_date() is not None and bool(last.get_id()))
    return by_case


def check_status(c, sent, by_case, dead_port):
    rcpts = [sent[k][2] for k in ("delivered", "failed", "delayed")]
    status = Msgtrk.Status.new(rcpts)
    for case in ("delivered", "failed", "delayed"):
        if case in by_case:
            status.add_report(by_case[case][1], None)
    want = {DELIVERED: "delivered", FAILED: "failed", DELAYED: "delayed"}
    got = {r: Msgtrk.recipient_state_to_string(status.get_recipient_state(r)) for r in rcpts}
    c.equal("MsgtrkStatus: per-recipient states", got, want)
    c.equal("MsgtrkStatus: overall", status.get_overall(), Msgtrk.RecipientState.FAILED)
    c.equal("MsgtrkStatus: summary", status.format_summary(),
            "Failed 1/3, 1 delayed, 1 delivered")
    c.check("MsgtrkStatus: not final while one is delayed", not status.is_final())
    rr = status.get_recipient_report(DELAYED)
    # Postfix folds long Diagnostic-Code lines; unfolding keeps the white space.
    diagnostic = " ".join((rr.get_diagnostic_code() or "").split()) if rr else "no entry"
    c.check("MsgtrkStatus: the delayed entry says where it is stuck",
            "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused" % dead_port in diagnostic,
            diagnostic)


def classify_raw(sent, files):
    """{case: raw DSN} by the Original-Envelope-Id line, without libmsgtrk: the fixtures
    are saved even when the checks below fail."""
    envids = {v[0]: k for k, v in sent.items()}
    found = {}
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        for line in raw.split(b"\n"):
            if line.lower().startswith(b"original-envelope-id:"):
                case = envids.get(line.split(b":", 1)[1].strip().decode("ascii", "replace"))
                if case is not None:
                    found[case] = raw
                break
    return found


def save_artifacts(raw_by_case):
    dirs = [os.path.join(os.path.abspath(ARGS.build_dir), "tests", "postfix"),
            os.path.join(SOURCE_ROOT, ".ci", "artifacts", "postfix")]
    for d in dirs:
        try:
            os.makedirs(d, exist_ok=True)
            for case, raw in raw_by_case.items():
                with open(os.path.join(d, "dsn-%s.eml" % case), "wb") as f:
                    f.write(raw)
        except OSError as e:
            print("# could not save the DSNs in %s: %s" % (d, e))
    print("# DSNs saved in: " + ", ".join(dirs))


def main():
    raise_on_terminate()
    started = time.monotonic()
    pf = PrivatePostfix()
    c = Checker()
    try:
        pf.configure()
        pf.start()
        print("# private Postfix on 127.0.0.1:%d (dead next hop :%d) in %s"
              % (pf.port, pf.dead_port, pf.base))
        sent = send_all(pf.port)
        files = wait_for_dsns(pf, len(sent))
        c.check("delivered message in alice's Maildir",
                len(maildir_files(os.path.join(pf.mail, "alice", "Maildir"))) == 2)
        c.equal("the next hop without DSN got the relayed message", len(pf.legacy.received), 1)
        save_artifacts(classify_raw(sent, files))
        check_gi_ownership()
        by_case = check_dsns(c, sent, files)
        c.equal("a DSN for every case", sorted(by_case), sorted(sent))
        check_status(c, sent, by_case, pf.dead_port)
    except (TestFailure, OSError, subprocess.SubprocessError, GLib.Error) as e:
        c.check("run", False, str(e))
    finally:
        if c.failures:
            print("# Postfix log (end):")
            for line in pf.maillog().splitlines():
                print("#   " + line)
        pf.cleanup()
    return c.done(started)


if __name__ == "__main__":
    sys.exit(main())
