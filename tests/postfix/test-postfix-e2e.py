#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-e2e.py: one tracked message through a whole Postfix site, end to end.

  test-postfix-e2e.py --build-dir BUILD   (a build with introspection)

What: the site of tracking_harness.configure_site() (a private Postfix; next hops
answering 250, 451 and 550; local(8) with an alias) with Postfix authenticating through a
private Dovecot auth service (configure_sasl(): relaying only after AUTH) and the real
msgtrk-submit-front (with TLS keys: AUTH only after STARTTLS), msgtrk-postfix-follower
and mtqpd, as nobody; the real msgtrkd in a throw-away session (tools/msgtrkd_session.py)
told where mtqpd is.
1. The mail-client path: Prepare, then STARTTLS, AUTH PLAIN and MAIL/RCPT with the
   parameters MsgtrkEnvelope builds from the front's EHLO (ENVID, RET=HDRS, MTRK=B;
   NOTIFY=SUCCESS,FAILURE and ORCPT on each RCPT) to a local mailbox, the 250 sink, the
   451 sink, the 550 sink and an alias (of a local mailbox and a local(8) user), then
   Committed. msgtrkd, asking mtqpd, shows each recipient's real Postfix outcome: the
   mailbox and the alias delivered, the 250 sink relayed with its reply, the 451 sink
   delayed with its text, the 550 sink failed with its text.
   A plain SMTP client (envelope by hand): an xtext ENVID, recipients in mixed case,
   without a domain, in UTF-8 (SMTPUTF8), an ORCPT other than the RCPT address: TRACK
   answers each once with Postfix's outcome and the client's original recipient.
   Then the 451 sink takes mail: at Postfix's retry msgtrkd shows that recipient
   relayed. An alias with a member that bounces: failed with the 550. `msgtrk show`
   prints the same; the DSNs Postfix sent the sender, handed to
   msgtrkd with `msgtrk ingest`, agree with mtqpd's answers.
2. The DSN parameters reached Postfix: the queue file of the message still deferred
   (postcat) holds the ENVID, RET=HDRS, the 451 recipient's NOTIFY and its ORCPT (a record
   Postfix writes only when the client gave ORCPT); the DSNs Postfix sends the sender
   (success for the mailbox, the sink and the alias; failure for the 550) carry the
   ENVID, each recipient's ORCPT as Original-Recipient, and headers only (RET=HDRS).
3. 100 recipients in one tracked message (70 to the 250 sink, in two deliveries; 30 to
   local mailboxes; mixed): msgtrkd's route and mtqpd's TRACK answer have every
   recipient's outcome exactly once, none missing, none duplicated.
No AUTH data in any log.
Limits: tracking_harness.WAIT per awaited state. Skips (77) unless root with Postfix,
dovecot-core, dbus-run-session, gnome-keyring-daemon and msgtrkd built.
Never: touch /etc/postfix or /etc/dovecot, or leave a process or directory behind.
"""

import base64
import calendar
import email
import email.policy
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tools"))
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, LIFETIME, Daemons, LineClient, PrivateDovecot,  # noqa: E402
                              configure_sasl, configure_site, dovecot_skip_reason,
                              recipients, settle, site_state_dir, stop_site, track, wait_for)

USER = "alice@test.example"
PASSWORD = "Corr3ct-h0rse-battery"
SENDER = "sender@test.example"
MAILBOX = "alice@test.example"
OK = "x@ok.test.example"
TMP = "y@tmp.test.example"
PERM = "z@perm.test.example"
ALIAS = "team@local.test.example"  # alice@test.example, nobody@local.test.example
MIXED = "mixed@local.test.example"  # alice@test.example, z2@perm.test.example (550)
# msgtrkd's state and Postfix's diagnostic texts (each in one of the recipient's hops or
# their evidence) per recipient: the alias's are its members' (virtual(8) for alice,
# local(8) for nobody).
WANT = {MAILBOX: ("delivered", ["X-Postfix; delivered to maildir"]),
        OK: ("relayed", ["smtp; 250 2.0.0 Ok: queued as SINK1"]),
        TMP: ("delayed", ["smtp; 451 4.3.0 try again later"]),
        PERM: ("failed", ["smtp; 550 5.1.1 no such user here"]),
        ALIAS: ("delivered", ["X-Postfix; delivered to maildir",
                              "X-Postfix; delivered to mailbox"])}
MANY = 100
# 70 to the sink (more than Postfix's default_destination_recipient_limit, 50: two
# deliveries), 30 to local mailboxes, interleaved.
LOCAL_USERS = ["u%d@test.example" % i for i in range(30)]
MANY_RCPTS = [LOCAL_USERS[i // 3] if i % 3 == 2 and i // 3 < 30 else "x%d@ok.test.example" % i
              for i in range(MANY)]


def session_skip_reason():
    for tool in ("dbus-run-session", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            return "%s is not installed (tools/deps.sh test)" % tool
    return None


def b64(s):
    return base64.b64encode(s.encode()).decode()


def login(fport, ca):
    """A session through the front: EHLO, STARTTLS, EHLO, AUTH PLAIN. The client and the
    EHLO reply in TLS (raw)."""
    c = LineClient(fport)
    c.reply()
    c.cmd("EHLO client.test.example")
    code, text = c.cmd("STARTTLS")
    if code != 220:
        raise pi.PostfixError("STARTTLS: %r" % text)
    c.starttls(ca)
    code, ehlo = c.cmd("EHLO client.test.example")
    code, text = c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
    if code != 235:
        raise pi.PostfixError("AUTH PLAIN: %r" % text)
    return c, ehlo


def send_tracked(t, Msgtrk, session, c, ehlo, rcpts, mid, what):
    """A message as a mail client sends it: Prepare, the envelope MsgtrkEnvelope builds
    from the front's EHLO (RET=HDRS, NOTIFY=SUCCESS,FAILURE), Committed. Returns (ENVID,
    Postfix's queue id)."""
    envid, authenticator, timeout = session.prepare(SENDER, rcpts, "<%s>" % mid, what, pi.MX)
    caps = Msgtrk.SmtpCapabilities.parse_data(ehlo.encode())
    env = Msgtrk.Envelope.new(envid)
    env.set_authenticator(authenticator)
    env.set_mtrk_timeout(timeout)
    env.set_ret(Msgtrk.DsnRet.HDRS)
    env.set_notify(Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE)
    mail = "MAIL FROM:" + env.build_mail_from_arg(caps, SENDER)
    t.check("%s: the client's MAIL has ENVID, RET=HDRS and MTRK" % what,
            "ENVID=" in mail and "RET=HDRS" in mail and "MTRK=" in mail, mail)
    code, text = c.cmd(mail)
    t.equal("%s: MAIL with MTRK after AUTH in TLS: 250" % what, code, 250)
    bad = []
    for r in rcpts:
        rcpt = "RCPT TO:" + env.build_rcpt_to_arg(caps, r)
        code, text = c.cmd(rcpt)
        if code != 250 or "NOTIFY=SUCCESS,FAILURE" not in rcpt or "ORCPT=rfc822;" not in rcpt:
            bad.append((rcpt, text))
    t.check("%s: each RCPT (NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ADDRESS): 250" % what,
            not bad, repr(bad[:3]))
    code, reply = c.data(("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\n"
                          "BODY-NOT-IN-DSN\r\n" % (SENDER, ", ".join(rcpts), what, mid))
                         .encode())
    t.equal("%s: DATA: Postfix's 250" % what, code, 250)
    reply = reply.strip()
    keywords = [line[4:] for line in ehlo.replace("\r", "").split("\n")[1:] if line]
    session.committed(envid, keywords, reply)
    return envid, reply.split("queued as ")[-1]


def check_route(t, session, envid, log_tail):
    """Item 1: msgtrkd's per-recipient states and Postfix's texts."""
    def settled():
        session.pump(0.2)
        route = session.get_route(envid)
        got = {r["address"]: r["state"] for r in route["recipients"]}
        return route if got == {r: w[0] for r, w in WANT.items()} else None
    route = None
    try:
        route = wait_for("msgtrkd to show Postfix's outcomes", settled)
    except pi.PostfixError as e:
        route = session.get_route(envid)
        t.check("msgtrkd settles on Postfix's outcomes", False, "%s: %r\n%s"
                % (e, route, log_tail()))
    by = {r["address"]: r for r in route["recipients"]}
    for rcpt, (state, texts) in WANT.items():
        r = by.get(rcpt, {})
        hops = r.get("hops") or []
        pieces = [e for h in hops for e in (h.get("evidence") or [h])]
        t.equal("msgtrkd: %s %s" % (rcpt, state), r.get("state"), state)
        t.check("msgtrkd: %s from mtqpd only" % rcpt,
                pieces and all(p.get("source") == "mtqp" for p in pieces), repr(hops))
        for text in texts:
            t.check("msgtrkd: %s with Postfix's text %r" % (rcpt, text),
                    any(p.get("diagnostic") == text for p in pieces), repr(hops))
    tmp = (by.get(TMP, {}).get("hops") or [{}])[-1]

    def unix(iso):
        return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")) if iso else None
    t.check("msgtrkd: %s will be retried until arrival + Postfix's maximal_queue_lifetime"
            % TMP, tmp.get("arrival") and unix(tmp.get("will_retry_until"))
            == unix(tmp.get("arrival")) + LIFETIME, repr(tmp))


def postcat(pf, qid):
    r = subprocess.run(["/usr/sbin/postcat", "-c", pf.conf, "-q", qid], env=pi.CLEAN_ENV,
                       capture_output=True, text=True, timeout=15)
    return r.stdout if r.returncode == 0 else None


def queue_recipients(text):
    """{recipient: {attribute: value}} from postcat's envelope records: the per-recipient
    attributes (notify_flags, dsn_orig_rcpt) come before the recipient's
    original_recipient record."""
    out, pending = {}, {}
    for line in text.splitlines():
        if line.startswith("named_attribute: ") and "=" in line:
            k, v = line[len("named_attribute: "):].split("=", 1)
            if k in ("notify_flags", "dsn_orig_rcpt"):
                pending[k] = v
        elif line.startswith("original_recipient: "):
            out[line.split(": ", 1)[1].strip()] = pending
            pending = {}
    return out


def check_queue_file(t, pf, qid, envid):
    """Item 2a: the message (still deferred for the 451 recipient) as Postfix keeps it:
    postcat's envelope records."""
    text = wait_for("postcat of %s" % qid, lambda: postcat(pf, qid), 15)
    env = text.split("*** MESSAGE CONTENTS", 1)[0]
    t.check("Postfix's queue file: the client's ENVID",
            "named_attribute: envelope_id=%s\n" % envid in env, env)
    t.check("Postfix's queue file: RET=HDRS (ret_flags=2)",
            "named_attribute: ret_flags=2\n" in env, env)
    rcpts = queue_recipients(env)
    for r in WANT:
        # NOTIFY=SUCCESS,FAILURE is 6 (dsn_mask.h); dsn_orig_rcpt is written only for a
        # client's ORCPT (Postfix's own original_recipient is a separate record).
        t.equal("Postfix's queue file: %s with the client's NOTIFY and ORCPT" % r,
                rcpts.get(r), {"notify_flags": "6", "dsn_orig_rcpt": "rfc822;" + r})
    t.check("Postfix's queue file: no MTRK= (the front took it off)", "MTRK=" not in text,
            text)


def dsn_entries(pf):
    """[(Original-Envelope-Id, returned content type, whole DSN, {field: value})] per
    recipient of every DSN in the sender's Maildir."""
    out = []
    for path in pi.maildir_files(os.path.join(pf.mail, "sender", "Maildir")):
        msg = email.message_from_binary_file(open(path, "rb"), policy=email.policy.compat32)
        if msg.get_content_type() != "multipart/report":
            continue
        parts = msg.get_payload()
        status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
        if not status:
            continue
        blocks = status[0].get_payload()
        per_msg = blocks[0]
        returned = parts[2].get_content_type() if len(parts) > 2 else None
        for b in blocks[1:]:
            out.append((per_msg.get("Original-Envelope-Id"), returned, msg.as_string(),
                        {k.lower(): v for k, v in b.items()}))
    return out


def check_dsns(t, pf, envid):
    """Item 2b: the DSNs Postfix sends for NOTIFY=SUCCESS,FAILURE."""
    want = {MAILBOX: ("delivered",), OK: ("relayed",), ALIAS: ("expanded", "delivered"),
            PERM: ("failed",)}

    # The DSN entries by Original-Recipient, once all the notified ones are there.
    def all_there():
        by = {}
        for e in dsn_entries(pf):
            orcpt = e[3].get("original-recipient", "")
            by.setdefault(orcpt, []).append(e)
        return by if all("rfc822;" + r in by for r in want) else None
    by = settle("the DSNs for NOTIFY=SUCCESS,FAILURE", all_there) and all_there() or {}
    if not t.check("DSNs for every notified recipient, by its ORCPT (Original-Recipient "
                   "rfc822;ADDRESS, as the client gave it)", bool(by),
                   repr([e[3] for e in dsn_entries(pf)])):
        return
    for r, actions in want.items():
        entries = by["rfc822;" + r]
        e = entries[0]
        t.check("DSN for %s: action %s" % (r, "/".join(actions)),
                e[3].get("action") in actions, repr(e[3]))
        t.equal("DSN for %s: the client's ENVID" % r, e[0], envid)
        t.check("DSN for %s: headers only (RET=HDRS)" % r,
                e[1] == "text/rfc822-headers" and "BODY-NOT-IN-DSN" not in e[2], repr(e[1]))
    t.check("no DSN for %s (no NOTIFY=DELAY)" % TMP, "rfc822;" + TMP not in by)
    t.check("no DSN for the alias's members (not asked for)",
            "rfc822;nobody@local.test.example" not in by)


def track_entries(lines):
    """[{field: value}] per recipient block of a TRACK answer, in order."""
    return [e for es in recipients(lines).values() for e in es]


def check_plain(t, c, mport):
    """1b. A plain SMTP client's envelope, written by hand: an xtext ENVID, RET=FULL,
    SMTPUTF8; recipients in mixed case, without a domain (Postfix completes it: its log
    says to= and orig_to=), in UTF-8; an xtext ORCPT that is not the RCPT address;
    NOTIFY=NEVER. TRACK (by the ENVID's xtext form, PROTOCOL-NOTES) answers each with
    Postfix's outcome and the client's original recipient."""
    envid_x = "e2e+2Bplain@test.example"
    code, text = c.cmd("MAIL FROM:<%s> RET=FULL SMTPUTF8 ENVID=%s MTRK=%s"
                       % (SENDER, envid_x, AUTH))
    t.equal("plain client: MAIL with SMTPUTF8, RET=FULL, an xtext ENVID and MTRK", code, 250)
    # (RCPT, its parameters, Final-Recipient, Original-Recipient, Action)
    want = [("Alice@TEST.Example", "NOTIFY=NEVER ORCPT=rfc822;Alice.Orig+2Btag@elsewhere.example",
             "Alice@TEST.Example", "Alice.Orig+tag@elsewhere.example", "delivered"),
            ("alice", "NOTIFY=FAILURE", "alice@test.example", "alice", "delivered"),
            ("j\u00f6rg@test.example", "", "j\u00f6rg@test.example",
             "j\u00f6rg@test.example", "delivered"),
            ("X@Ok.Test.Example", "", "X@Ok.Test.Example", "X@Ok.Test.Example", "relayed")]
    bad = []
    for r, params, *_ in want:
        code, text = c.cmd(("RCPT TO:<%s> %s" % (r, params)).strip())
        if code != 250:
            bad.append(text)
    t.check("plain client: each RCPT 250", not bad, repr(bad))
    code, text = c.data(b"Message-ID: <e2e-plain@test.example>\r\nSubject: plain\r\n\r\nhi\r\n")
    t.equal("plain client: DATA", code, 250)
    lines = []

    def settled():
        lines[:] = track(mport, envid_x) or []
        return len(track_entries(lines)) >= len(want)
    settle("TRACK of the plain client's message", settled)
    got = sorted((e.get("final-recipient"), e.get("original-recipient"), e.get("action"))
                 for e in track_entries(lines))
    t.equal("plain client: TRACK by the xtext ENVID, each recipient's outcome once, with "
            "the client's ORCPT as Original-Recipient", got,
            sorted(("rfc822; " + f, "rfc822; " + o, a) for _, _, f, o, a in want))


def check_retry(t, session, pf, tmp_sink, envid):
    """1c. The 451 sink takes the mail at Postfix's next retry: msgtrkd's delayed
    recipient becomes relayed with the sink's reply, and Postfix's success DSN for it
    (NOTIFY=SUCCESS) carries its ORCPT and the ENVID."""
    tmp_sink.reply = "250 2.1.5 ok now"

    def relayed():
        session.pump(0.2)
        r = [x for x in session.get_route(envid)["recipients"] if x["address"] == TMP]
        return r and r[0]["state"] == "relayed" and r[0]
    r = settle("msgtrkd: %s relayed after the retry" % TMP, relayed) and relayed() or {}
    t.equal("msgtrkd: %s relayed at Postfix's retry (was stuck at delayed: the parsed-"
            "report cache served a replaced row by its reused id)" % TMP, r.get("state"),
            "relayed")
    hops = r.get("hops") or [{}]
    t.check("msgtrkd: %s with the sink's 250 now" % TMP,
            hops[-1].get("diagnostic") == "smtp; 250 2.0.0 Ok: queued as SINK1", repr(hops))
    others = {x["address"]: x["state"] for x in session.get_route(envid)["recipients"]}
    t.equal("msgtrkd: the others unchanged", others,
            dict({a: w[0] for a, w in WANT.items()}, **{TMP: "relayed"}))

    def dsn():
        return [e for e in dsn_entries(pf) if e[3].get("original-recipient") == "rfc822;" + TMP]
    e = settle("the success DSN for " + TMP, dsn) and dsn() or []
    t.check("DSN for %s: relayed, with its ORCPT and the ENVID" % TMP,
            e and e[0][3].get("action") == "relayed" and e[0][0] == envid,
            repr([x[3] for x in e]))


def check_cli(t, session, pf, envid):
    """1d. The CLI: `msgtrk show` prints each recipient's state with Postfix's text; the
    DSNs Postfix sent for this message, handed over with `msgtrk ingest` (as a mail client
    does with the DSNs it receives), agree with mtqpd's answers: the same states, no hop in
    conflict (the alias's "expanded" beside its members' "delivered" included)."""
    want = dict({a: w[0] for a, w in WANT.items()}, **{TMP: "relayed"})
    r = session.cli("show", envid)
    show = r.stdout.decode(errors="replace")
    heads = {"delivered": "DELIVERED", "relayed": "RELAYED (NO FURTHER TRACKING)",
             "failed": "FAILED"}
    missing = [a for a, st in want.items() if "%s — %s\n" % (a, heads[st]) not in show]
    t.check("msgtrk show: each recipient with its state", r.returncode == 0 and not missing,
            "%r\n%s" % (missing, show))
    t.check("msgtrk show: Postfix's texts", all(x in show for x in (
        "550 5.1.1 no such user here", "250 2.0.0 Ok: queued as SINK1",
        "delivered to maildir")), show)
    dsns = [f for f in pi.maildir_files(os.path.join(pf.mail, "sender", "Maildir"))
            if envid.encode() in open(f, "rb").read()]
    results = [session.cli("ingest", f) for f in dsns]
    t.check("msgtrk ingest: Postfix's %d DSNs of the message taken" % len(dsns),
            dsns and all(x.returncode == 0 for x in results),
            repr([(x.returncode, x.stdout, x.stderr) for x in results]))
    session.pump(0.5)
    route = session.get_route(envid)
    got = {x["address"]: x["state"] for x in route["recipients"]}
    t.equal("msgtrkd with Postfix's DSNs too: the same states", got, want)
    dsn_hops = {x["address"]: [h for h in x.get("hops") or []
                               if "dsn" in (h.get("sources") or [h.get("source")])]
                for x in route["recipients"]}
    t.check("msgtrkd: the DSNs' hops beside mtqpd's (mailbox, sink, alias, 550)",
            all(dsn_hops.get(a) for a in (MAILBOX, OK, ALIAS, PERM, TMP)), repr(dsn_hops))
    # The alias too: Postfix's DSN says "expanded" for it, its log (so mtqpd) says
    # "delivered" for each member: the expansion and its members' deliveries agree
    # (docs/route-merge.md, "Conflict"; on ab7d24a msgtrkd called it a conflict).
    conflicts = [(x["address"], h) for x in route["recipients"] for h in x.get("hops") or []
                 if h.get("conflict")]
    t.check("msgtrkd: no hop where the DSN and mtqpd disagree (the alias's expanded and "
            "its members' delivered included)", not conflicts, repr(conflicts))
    alias_hops = [h for x in route["recipients"] if x["address"] == ALIAS
                  for h in x.get("hops") or []
                  if {"dsn", "mtqp"} <= set(h.get("sources") or [])]
    t.check("msgtrkd: the alias's DSN (expanded) and mtqpd's answer are one hop",
            len(alias_hops) == 1 and "expanded" in
            [e.get("action") for e in alias_hops[0].get("evidence") or []], repr(alias_hops))


def check_mixed_alias(t, session, envid):
    """1e. An alias one of whose members bounces (550 at the sink): msgtrkd says failed,
    with the sink's text, and keeps the delivered member's word beside it."""
    def settled():
        session.pump(0.2)
        r = session.get_route(envid)["recipients"]
        pieces = [e for h in r[0].get("hops") or [] for e in (h.get("evidence") or [h])]
        return r[0]["state"] == "failed" and len(pieces) >= 2 and r[0]
    r = settle("msgtrkd: the alias with a bounced member", settled) and settled() \
        or session.get_route(envid)["recipients"][0]
    pieces = [e for h in r.get("hops") or [] for e in (h.get("evidence") or [h])]
    t.equal("msgtrkd: %s (a member bounced) failed" % MIXED, r.get("state"), "failed")
    t.check("msgtrkd: %s with the 550 and the other member's delivery" % MIXED,
            sorted((p.get("action"), p.get("diagnostic")) for p in pieces) == [
                ("delivered", "X-Postfix; delivered to maildir"),
                ("failed", "smtp; 550 5.1.1 no such user here")], repr(pieces))


def check_many_msgtrkd(t, session, envid):
    """Item 3 through msgtrkd: the 100 recipients' routes, each with Postfix's outcome
    once."""
    want = {r: "delivered" if r in LOCAL_USERS else "relayed" for r in MANY_RCPTS}

    def settled():
        session.pump(0.2)
        route = session.get_route(envid)
        got = {r["address"]: r["state"] for r in route["recipients"]}
        return route if got == want else None
    route = settle("msgtrkd to show the 100 outcomes", settled) and settled() \
        or session.get_route(envid)
    got = [r["address"] for r in route["recipients"]]
    t.check("msgtrkd, 100 recipients: each once", sorted(got) == sorted(MANY_RCPTS),
            "%d addresses, %d distinct" % (len(got), len(set(got))))
    wrong = [(r["address"], r["state"]) for r in route["recipients"]
             if r["state"] != want.get(r["address"])]
    t.check("msgtrkd, 100 recipients: sink relayed, mailboxes delivered", not wrong,
            repr(wrong[:5]))
    hops = [(r["address"], len(r.get("hops") or []),
             len(((r.get("hops") or [{}])[0]).get("evidence") or [None]))
            for r in route["recipients"]]
    t.check("msgtrkd, 100 recipients: one mtqpd answer per recipient (none duplicated)",
            all(n == 1 and e == 1 for _, n, e in hops), repr([x for x in hops
                                                               if x[1:] != (1, 1)][:5]))


def check_many(t, c, mport):
    """Item 3: 100 recipients, each outcome once (mtqpd's TRACK answer)."""
    envid = "e2e-100@test.example"
    code, text = c.cmd("MAIL FROM:<%s> ENVID=%s MTRK=%s" % (SENDER, envid, AUTH))
    t.equal("100 recipients: MAIL with MTRK", code, 250)
    replies = c.pipelined(["RCPT TO:<%s>" % r for r in MANY_RCPTS], MANY)
    t.check("100 recipients: each RCPT 250", all(code == 250 for code, _ in replies),
            repr([x for x in replies if x[0] != 250][:3]))
    code, text = c.data(b"Message-ID: <e2e-100@test.example>\r\nSubject: many\r\n\r\nhi\r\n")
    t.equal("100 recipients: DATA 250", code, 250)
    answer = []

    def complete():
        lines = track(mport, envid)
        answer[:] = [lines]
        r = recipients(lines)
        return r if set(MANY_RCPTS) <= set(r) else None
    settle("TRACK with all 100 outcomes", complete)
    lines = answer[0] if answer else None
    r = recipients(lines)
    missing = sorted(set(MANY_RCPTS) - set(r))
    extra = sorted(set(r) - set(MANY_RCPTS))
    dup = sorted(a for a, e in r.items() if len(e) != 1)
    t.check("100 recipients: every outcome answered (none missing)", not missing,
            "%d missing: %s" % (len(missing), missing[:5]))
    t.check("100 recipients: none duplicated, none unknown", not dup and not extra,
            "dup %s extra %s" % (dup[:5], extra[:5]))
    t.equal("100 recipients: 100 recipient blocks",
            sum(len(e) for e in r.values()), MANY)
    wrong = [(a, e[0].get("action")) for a, e in r.items()
             if e[0].get("action") != ("delivered" if a in LOCAL_USERS else "relayed")]
    t.check("100 recipients: sink relayed, mailboxes delivered", not wrong, repr(wrong[:5]))


def main():
    a = pi.test_args(dovecot_skip_reason, session_skip_reason)
    b = a.build_dir
    if not os.access(os.path.join(b, "helper", "msgtrkd", "msgtrkd"), os.X_OK):
        print("1..0 # SKIP msgtrkd is not built")
        return 77
    import demonet
    Msgtrk = demonet.setup_gi(b)  # re-executes once with the library path set
    import msgtrkd_session
    pi.raise_on_terminate()
    started = time.monotonic()
    front_exe = os.path.join(b, "server", "postfix", "msgtrk-submit-front")
    follower_exe = os.path.join(b, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(b, "server", "mtqpd", "mtqpd")
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    dc = None
    sinks = []
    daemons = Daemons(pf.base)
    session = None
    try:
        sinks = configure_site(pf)
        with open(os.path.join(pf.conf, "vmailbox"), "a") as f:
            f.write("j\u00f6rg@test.example joerg/Maildir/\n")
            for u in LOCAL_USERS:
                f.write("%s %s/Maildir/\n" % (u, u.split("@")[0]))
        with open(os.path.join(pf.conf, "aliases"), "a") as f:
            f.write("%s alice@test.example, z2@perm.test.example\n" % MIXED.split("@")[0])
        dc = PrivateDovecot(pf.base, {USER: PASSWORD})
        dc.start()
        configure_sasl(pf, dc)
        pf.start()
        state, _ = site_state_dir(pf)
        pki = os.path.join(pf.base, "pki")
        subprocess.run(["sh", os.path.join(SOURCE_ROOT, "tests", "make-test-ca.sh"), pki],
                       check=True, stdout=subprocess.DEVNULL)
        start = daemons.start
        fport = start(front_exe, "front",
                      "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                      "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                      "tls_certificate=%s/server.pem\ntls_key=%s/server.key\n"
                      % (pf.port, state, pki, pki), os.path.join(pf.base, "front.port"))
        start(follower_exe, "follower",
              "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=%s\nuser=nobody\n"
              "postfix_config_directory=%s\npoll_interval=50\n" % (pf.log, state, pi.MX,
                                                                    pf.conf))
        mport = start(mtqpd_exe, "mtqpd",
                      "[mtqpd]\nhostname=%s\nstate_dir=%s\nuser=nobody\nlisten=127.0.0.1:0\n"
                      % (pi.MX, state), os.path.join(pf.base, "mtqpd.port"))
        session = msgtrkd_session.Session(
            b, "postfix-e2e", keyring=True, debug=False,
            daemon_args=["--mtqp-override", "%s=127.0.0.1:%d" % (pi.MX, mport)]
            + msgtrkd_session.FAST_POLL_ARGS)
        session.start()

        c, ehlo = login(fport, os.path.join(pki, "ca.pem"))
        t.check("EHLO in TLS through the front: Postfix's AUTH and DSN, and MTRK",
                "AUTH PLAIN" in ehlo and "DSN" in ehlo and "MTRK" in ehlo, ehlo)
        envid, qid = send_tracked(t, Msgtrk, session, c, ehlo, list(WANT),
                                  "e2e-1@test.example", "five destinations")
        try:
            line = wait_for("Postfix's client= line of " + qid,
                            lambda: [x for x in open(pf.log).read().splitlines()
                                     if "%s: client=" % qid in x])
            t.check("Postfix authenticated the message (sasl_username)",
                    "sasl_username=" + USER in line[0], line[0])
        except pi.PostfixError as e:
            t.check("Postfix authenticated the message", False, str(e))

        # 3 in the same session: its outcomes come while 1's settle. Once through
        # msgtrkd, once with a known secret through TRACK (every answer block counted).
        many_envid, _ = send_tracked(t, Msgtrk, session, c, ehlo, MANY_RCPTS,
                                     "e2e-many@test.example", "100 recipients")
        check_many(t, c, mport)
        check_plain(t, c, mport)
        mixed_envid, _ = send_tracked(t, Msgtrk, session, c, ehlo, [MIXED],
                                      "e2e-mixed@test.example", "an alias, one member bounces")
        c.cmd("QUIT")
        c.close()
        check_route(t, session, envid, lambda: pf.maillog()[-2000:])
        check_many_msgtrkd(t, session, many_envid)
        check_mixed_alias(t, session, mixed_envid)
        check_queue_file(t, pf, qid, envid)
        check_dsns(t, pf, envid)
        check_retry(t, session, pf, sinks[1], envid)
        check_cli(t, session, pf, envid)
        t.equal("msgtrkd exits 0", session.stop_daemon(), 0)
        for dm in daemons:
            t.equal("%s exits 0 on SIGTERM" % os.path.basename(dm.log), dm.stop(), 0)
        secrets = [PASSWORD, b64("\0%s\0%s" % (USER, PASSWORD))]
        logs = {os.path.basename(d.log): open(d.log, errors="replace").read() for d in daemons}
        logs["maillog"] = open(pf.log, errors="replace").read()
        logs["dovecot"] = dc.read_log()
        logs["msgtrkd"] = session.log()
        leaked = ["%s in %s" % (x, name) for name, text in logs.items() for x in secrets
                  if x in text]
        t.check("no AUTH data in any log (front, follower, mtqpd, Postfix, Dovecot, msgtrkd)",
                not leaked, ", ".join(leaked))
    except (pi.PostfixError, msgtrkd_session.SessionError, OSError,
            subprocess.SubprocessError) as e:
        t.check("no exception", False, repr(e))
    finally:
        if session is not None:
            if t.failures:
                print("# msgtrkd:\n# " + session.log()[-3000:].replace("\n", "\n# "))
            session.cleanup()
        stop_site(t, pf, sinks, daemons, dc)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
