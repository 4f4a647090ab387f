#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-same-mid.py: two messages with the same Message-ID through the front.

  test-postfix-front-same-mid.py --build-dir BUILD [--fallback]

What: with XFORWARD (Postfix's smtpd_authorized_xforward_hosts has the front, as
postfix_instance sets it), a tracked message's pending registration is named by the
transaction ident the front sent (XFORWARD IDENT), which the follower reads in smtpd's
"client=..., orig_queue_id=" line: messages with the same Message-ID do not matter.
--fallback (smtpd_authorized_xforward_hosts emptied): it is named by its Message-ID, the
front registers the queue id from Postfix's 250 and then removes it; the follower holds
cleanup lines with that Message-ID while it exists (and binds it to the first one only
when no front did within registration_wait), and the front sends no other message with
that Message-ID upstream while the pending registration exists (docs/postfix-site.md,
"Registrations and durability").
How: a private Postfix (tracking_harness.configure_site), msgtrk-submit-front with
pending_claim_wait=CLAIM_WAIT, msgtrk-postfix-follower and mtqpd, all real, as nobody;
pending_claim_wait at its bound (300: starts) and past it (301: refused).
  (c) the follower stopped, a tracked message accepted: with XFORWARD its pending
      registration (by ident) stays until the follower, started, binds it by
      orig_queue_id; in the fallback the front registers the queue id from Postfix's 250
      itself and removes the pending file; a second message with that Message-ID is
      accepted at once; fallback only: a stale pending registration by Message-ID that no
      dead front's journal names (written by hand; a killed front's is an orphan, case
      (f)) makes a message with its Message-ID get 451 after pending_claim_wait, and
      Postfix accepts nothing for it;
  (a) two tracked messages with the same Message-ID in two sessions at once, different
      ENVIDs and recipients: each queue id's registration has its own ENVID, and each
      ENVID's TRACK answer its own recipients;
  (b) a tracked and an untracked message with the same Message-ID at once (either one's
      data sent first): the tracked ENVID is bound to its own queue id, the untracked
      message's queue id to nothing;
  (d) the same one after the other (untracked first), the follower behind: each bound
      right (in the fallback: the follower holds cleanup lines with a Message-ID while
      its pending file exists, and the front names the queue id after the 250);
  (e) XFORWARD only: the front killed -9 after a tracked message's pending registration
      was written, before Postfix had its "." (a stale pending registration): the next
      messages with that Message-ID, tracked and not, are accepted at once and the
      tracked one is bound to its own queue id.
  (f) fallback only: the front killed -9 after a tracked message's pending registration
      by Message-ID was written, before its "."; (f1) its header reached Postfix, (f2)
      none of its data did (Postfix's smtpd stopped, then killed): the restarted front
      replays its journal and leaves the pending registration as an orphan, which the
      follower settles from the log it has read (f1: bound to that message's cleanup
      line; f2: removed); the client's retry (same Message-ID, ENVID, MTRK) and an
      untracked message with that Message-ID (f1: after the retry; f2: before it, so
      it is the one that waits) get 250 within seconds, not 451; the retry
      is bound to its own queue id and TRACK shows Postfix's verdict once; the untracked
      one is bound to nothing (docs/postfix-orphans.md).
Limits: skips (77) unless root with Postfix installed.
"""

import argparse
import hashlib
import os
import pwd
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, Daemons, LineClient, configure_site,  # noqa: E402
                              recipients, settle, track, wait_for, wait_log)

# pending_claim_wait of the fronts of (c) and (e), s; a message that must not wait for it is
# answered within AT_ONCE s (a round trip through the front and Postfix: well under a
# second, but an ASan build on a loaded 2-CPU machine is several times slower), one that
# waits for it in CLAIM_WAIT - CLAIM_EARLY s or more.
CLAIM_WAIT = 4
AT_ONCE = CLAIM_WAIT - 1.5
CLAIM_EARLY = 0.2


def open_data(port, envid, rcpts):
    """A session up to the 354 of DATA: tracked (MTRK, @envid) unless @envid is None."""
    c = LineClient(port)
    c.reply()
    c.cmd("EHLO client.test.example")
    if envid is None:
        c.cmd("MAIL FROM:<sender@test.example>")
    else:
        c.cmd("MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s:86400" % (envid, AUTH))
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    code, _ = c.cmd("DATA")
    return c, code


def body(mid, subject):
    return (b"Message-ID: <%s>\r\nSubject: %s\r\n\r\nhi\r\n.\r\n"
            % (mid.encode(), subject.encode()))


def postfix_children(pf, name):
    """The PIDs of the private Postfix's @name processes (children of its master)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if comm == name and ppid == pf.master_pid:
            pids.append(int(d))
    return pids


def qid_of(text):
    return text.strip().split("queued as ")[-1] if "queued as " in text else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--fallback", action="store_true",
                    help="Postfix refuses XFORWARD: the Message-ID method")
    a = ap.parse_args()
    xforward = not a.fallback
    reason = pi.skip_reason()
    if reason:
        print("1..0 # SKIP " + reason)
        return 77
    b = a.build_dir
    front_exe = os.path.join(b, "server", "postfix", "msgtrk-submit-front")
    follower_exe = os.path.join(b, "server", "postfix", "msgtrk-postfix-follower")
    mtqpd_exe = os.path.join(b, "server", "mtqpd", "mtqpd")
    nobody = pwd.getpwnam("nobody")
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    sinks = []
    daemons = Daemons(pf.base)
    try:
        sinks = configure_site(pf)
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
            if not xforward:
                f.write("smtpd_authorized_xforward_hosts =\n")
        pf.start()
        state = os.path.join(pf.base, "msgtrk")
        regs = os.path.join(state, "postfix-registrations")
        os.makedirs(regs)
        for d in (state, regs):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)

        def cleanup_lines(mid):
            return [ln for ln in open(pf.log).read().splitlines()
                    if "message-id=<%s>" % mid in ln]

        def reg_text(qid):
            p = os.path.join(regs, qid + ".reg")
            return open(p).read() if os.path.exists(p) else ""

        # pending_claim_wait: at its bound (300) the front starts, past it (301) not.
        front_base = ("[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                      "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n" % (pf.port, state))
        bound = daemons.start(front_exe, "front-bound", front_base + "pending_claim_wait=300\n",
                              os.path.join(pf.base, "front-bound.port"))
        t.check("pending_claim_wait=300 (POSTFIX_FRONT_MAX_PENDING_CLAIM_WAIT): the front "
                "starts", bound > 0)
        daemons.pop().stop()
        past = os.path.join(pf.base, "front-past.conf")
        with open(past, "w") as f:
            f.write(front_base + "pending_claim_wait=301\n")
        r = subprocess.run([front_exe, "--config", past], capture_output=True, text=True,
                           timeout=30)
        t.check("pending_claim_wait=301: refused at start", r.returncode != 0
                and "pending_claim_wait" in r.stderr + r.stdout, r.stderr + r.stdout)

        fport = daemons.start(front_exe, "front",
                              "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                              "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                              "pending_claim_wait=%d\n" % (pf.port, state, CLAIM_WAIT),
                              os.path.join(pf.base, "front.port"))
        mport = daemons.start(mtqpd_exe, "mtqpd",
                              "[mtqpd]\nhostname=mx.test.example\nstate_dir=%s\nuser=nobody\n"
                              "listen=127.0.0.1:0\n" % state, os.path.join(pf.base, "mtqpd.port"))

        # (c) No follower yet: the first tracked message's pending registration stays.
        mid = "held@test.example"
        c, code = open_data(fport, "held1@test.example", ["x@ok.test.example"])
        c.sock.sendall(body(mid, "first"))
        code, text = c.reply()
        t.equal("(c) the first message: Postfix's 250", code, 250)
        held_qid = qid_of(text)
        c.close()
        wait_for("its cleanup line", lambda: len(cleanup_lines(mid)) == 1, 10)
        ident_pendings = sorted(n for n in os.listdir(regs)
                                if n.startswith("msgtrk-") and n.endswith(".pending"))
        if xforward:
            t.check("(c) XFORWARD: the pending registration is named by the front's ident",
                    len(ident_pendings) == 1, repr(os.listdir(regs)))
        else:
            settle("the front's own registration", lambda: "held1@test.example"
                   in reg_text(held_qid) and not [n for n in os.listdir(regs)
                                                  if n.endswith(".pending")], 10)
            t.check("(c) fallback: after Postfix's 250 the front registers the queue id "
                    "itself and removes the pending file (no follower running)",
                    "Envid: held1@test.example" in reg_text(held_qid)
                    and not [n for n in os.listdir(regs) if n.endswith(".pending")],
                    repr(os.listdir(regs)))
        c, code = open_data(fport, None, ["y@ok.test.example"])
        t.equal("(c) the second message: 354", code, 354)
        t0 = time.monotonic()
        c.sock.sendall(body(mid, "second"))
        code, text = c.reply()
        waited = time.monotonic() - t0
        t.check("(c) the second message with the same Message-ID is accepted at once",
                code == 250 and waited < AT_ONCE, "%r %.2f" % (text, waited))
        c.close()
        wait_for("its cleanup line", lambda: len(cleanup_lines(mid)) == 2, 10)
        if not xforward:
            # A pending registration by Message-ID that nobody removes and no dead front's
            # journal names (a killed front's is an orphan: case (f)): a message with that
            # Message-ID waits pending_claim_wait, then 451, and Postfix accepts nothing.
            stale_mid = "stale-held@test.example"
            stale = os.path.join(regs, hashlib.sha256(stale_mid.encode()).hexdigest()
                                 + ".pending")
            with open(stale, "w") as f:
                f.write("MSGTRK-POSTFIX-REG 1\nMessage-Id: %s\nEnvid: staleheld\n"
                        "Authenticator: %s\nArrival: %d\nExpires: %d\n"
                        "Rcpt: z@ok.test.example z@ok.test.example -\n"
                        % (stale_mid, AUTH, time.time(), time.time() + 86400))
            c, code = open_data(fport, None, ["z@ok.test.example"])
            t0 = time.monotonic()
            c.sock.sendall(body(stale_mid, "third"))
            code, text = c.reply()
            waited = time.monotonic() - t0
            t.check("(c) a message with the Message-ID of a stale pending registration: "
                    "451 after pending_claim_wait", code == 451
                    and CLAIM_WAIT - CLAIM_EARLY <= waited < CLAIM_WAIT + 8,
                    "%r %.2f" % (text, waited))
            t.check("(c) the 451 says what to do", "try again" in text, text)
            c.close()
            time.sleep(1)
            t.check("(c) Postfix accepted nothing for it (no cleanup line with that "
                    "Message-ID)", not cleanup_lines(stale_mid), repr(cleanup_lines(stale_mid)))
            # The field as Postfix's cleanup reads it too: white space before the colon
            # (Postfix logs it as message-id= all the same), any case.
            c, code = open_data(fport, None, ["z@ok.test.example"])
            t0 = time.monotonic()
            c.sock.sendall(b"message-id \t: <%s>\r\nSubject: spaced\r\n\r\nhi\r\n.\r\n"
                           % stale_mid.encode())
            code, text = c.reply()
            waited = time.monotonic() - t0
            t.check("(c) 'message-id \\t:' is that Message-ID too: 451 after "
                    "pending_claim_wait", code == 451
                    and CLAIM_WAIT - CLAIM_EARLY <= waited < CLAIM_WAIT + 8,
                    "%r %.2f" % (text, waited))
            c.close()
            os.unlink(stale)

        daemons.start(follower_exe, "follower",
                      "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\nuser=nobody\n"
                      "postfix_config_directory=%s\npoll_interval=50\n" % (pf.log, state, pf.conf))
        follower = daemons[-1]
        settle("the held registration bound", lambda: "held1@test.example"
               in reg_text(held_qid), 15)
        t.check("(c) the first message registered under its own queue id (bound by the "
                "follower, started, with XFORWARD; by the front itself in the fallback)",
                "Envid: held1@test.example" in reg_text(held_qid), reg_text(held_qid))
        if xforward:
            ident = ident_pendings[0][:-len(".pending")] if ident_pendings else "none"
            t.check("(c) XFORWARD: smtpd logged the ident with that queue id",
                    any("%s: client=" % held_qid in ln and "orig_queue_id=" + ident in ln
                        for ln in open(pf.log).read().splitlines()), ident)
            t.check("(c) XFORWARD: the follower bound it by orig_queue_id",
                    not os.path.exists(os.path.join(regs, ident + ".pending"))
                    and "%s: the pending registration of orig_queue_id %s bound" % (
                        held_qid, ident) in wait_log(
                            follower.log, "%s: the pending registration of orig_queue_id %s "
                            "bound" % (held_qid, ident)), ident)

        # (a) Two tracked messages, one Message-ID, two sessions at once.
        mid = "twice@test.example"
        ca, code_a = open_data(fport, "twiceA@test.example", ["a1@ok.test.example"])
        cb, code_b = open_data(fport, "twiceB@test.example", ["b1@ok.test.example",
                                                              "b2@ok.test.example"])
        t.check("(a) both sessions at DATA", code_a == 354 and code_b == 354)
        ca.sock.sendall(body(mid, "A"))
        cb.sock.sendall(body(mid, "B"))
        code_a, text_a = ca.reply()
        code_b, text_b = cb.reply()
        ca.close()
        cb.close()
        t.check("(a) both accepted", code_a == 250 and code_b == 250, text_a + text_b)
        qa, qb = qid_of(text_a), qid_of(text_b)
        settle("both bound", lambda: reg_text(qa) and reg_text(qb), 15)
        t.check("(a) A's queue id registered with A's ENVID",
                "Envid: twiceA@test.example" in reg_text(qa), "%s: %s" % (qa, reg_text(qa)))
        t.check("(a) B's queue id registered with B's ENVID",
                "Envid: twiceB@test.example" in reg_text(qb), "%s: %s" % (qb, reg_text(qb)))

        def own(envid, want):
            def f():
                r = recipients(track(mport, envid))
                return r if set(r) == want and all(
                    v and v[0].get("action") == "relayed" for v in r.values()) else None
            try:
                return wait_for("TRACK " + envid, f, 20)
            except pi.PostfixError:
                return recipients(track(mport, envid))
        ra = own("twiceA@test.example", {"a1@ok.test.example"})
        rb = own("twiceB@test.example", {"b1@ok.test.example", "b2@ok.test.example"})
        t.check("(a) TRACK A: its own recipient, relayed (its own queue id's outcome)",
                set(ra) == {"a1@ok.test.example"}
                and ra["a1@ok.test.example"][0].get("action") == "relayed", repr(ra))
        t.check("(a) TRACK B: its own two recipients, relayed",
                set(rb) == {"b1@ok.test.example", "b2@ok.test.example"}
                and all(v[0].get("action") == "relayed" for v in rb.values()), repr(rb))

        # (b) A tracked and an untracked message, one Message-ID, at once: the tracked
        # one's data sent first, then the untracked one's first.
        for n, tracked_first in ((1, True), (2, False)):
            mid = "mixed%d@test.example" % n
            envid = "mixedT%d@test.example" % n
            ct, code_t = open_data(fport, envid, ["t%d@ok.test.example" % n])
            cu, code_u = open_data(fport, None, ["u%d@ok.test.example" % n])
            t.check("(b%d) both sessions at DATA" % n, code_t == 354 and code_u == 354)
            for c in ((ct, cu) if tracked_first else (cu, ct)):
                c.sock.sendall(body(mid, "tracked" if c is ct else "untracked"))
            code_t, text_t = ct.reply()
            code_u, text_u = cu.reply()
            ct.close()
            cu.close()
            t.check("(b%d) both accepted" % n, code_t == 250 and code_u == 250,
                    text_t + text_u)
            qt, qu = qid_of(text_t), qid_of(text_u)
            settle("the tracked one bound", lambda: reg_text(qt), 15)
            rt = own(envid, {"t%d@ok.test.example" % n})
            t.check("(b%d) the tracked ENVID bound to its own queue id" % n,
                    "Envid: " + envid in reg_text(qt), "%s: %s" % (qt, reg_text(qt)))
            t.check("(b%d) the untracked message's queue id not registered" % n,
                    not reg_text(qu), "%s: %s" % (qu, reg_text(qu)))
            t.check("(b%d) TRACK: the tracked recipient only, relayed" % n,
                    set(rt) == {"t%d@ok.test.example" % n}, repr(rt))

        # (d) An untracked message with M accepted, then a tracked one with M, the
        # follower behind (stopped) meanwhile: it reads the untracked message's cleanup
        # line first, while the tracked one's pending registration is on disk.
        mid = "sequential@test.example"
        follower.proc.send_signal(signal.SIGSTOP)
        try:
            cu, code_u = open_data(fport, None, ["ud@ok.test.example"])
            cu.sock.sendall(body(mid, "untracked"))
            code_u, text_u = cu.reply()
            cu.close()
            ct, code_t = open_data(fport, "seqT@test.example", ["td@ok.test.example"])
            ct.sock.sendall(body(mid, "tracked"))
            code_t, text_t = ct.reply()
            ct.close()
        finally:
            follower.proc.send_signal(signal.SIGCONT)
        t.check("(d) both accepted", code_t == 250 and code_u == 250, text_t + text_u)
        qt, qu = qid_of(text_t), qid_of(text_u)
        settle("the tracked one bound", lambda: reg_text(qt), 15)
        t.check("(d) the tracked ENVID bound to its own queue id",
                "Envid: seqT@test.example" in reg_text(qt), "%s: no registration" % qt)
        t.check("(d) the untracked message's queue id not registered", not reg_text(qu),
                "%s: registered, ENVID seqT@test.example %s"
                % (qu, "Envid: seqT@test.example" in reg_text(qu)))
        if xforward:
            # (e) The front killed -9 after a tracked message's pending registration was
            # written (its first 64 KiB of data on their way, no "." ever sent): Postfix
            # accepts nothing, the stale pending registration (by ident) holds up no one,
            # even while it is on disk (the follower stopped meanwhile).
            mid = "stale@test.example"
            follower.proc.send_signal(signal.SIGSTOP)
            # Listed before the DATA: by ident the pending registration is started at
            # Postfix's 354 (it may be on disk before open_data returns).
            before = set(os.listdir(regs))
            c, code = open_data(fport, "staleT@test.example", ["se@ok.test.example"])
            c.sock.sendall(b"Message-ID: <%s>\r\nSubject: s\r\n\r\n" % mid.encode()
                           + b"x" * 998 + b"\r\n" + (b"y" * 998 + b"\r\n") * 80)
            # Its name once renamed in place (not the ".tmp-" file it is written as).
            def pending_new():
                return [n for n in set(os.listdir(regs)) - before
                        if n.endswith(".pending") and not n.startswith(".")]
            settle("the pending registration", pending_new, 10)
            stale = pending_new()
            t.check("(e) the pending registration written before the front died", len(stale) == 1,
                    repr(os.listdir(regs)))
            front = [d for d in daemons if d.log.endswith("front.log")][0]
            front.stop(signal.SIGKILL)
            daemons.remove(front)
            c.close()
            fport = daemons.start(front_exe, "front2",
                                  "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                                  "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                                  "pending_claim_wait=%d\n" % (pf.port, state, CLAIM_WAIT),
                                  os.path.join(pf.base, "front2.port"))
            results = []
            try:
                for envid, rcpt in (("staleT2@test.example", "se2@ok.test.example"),
                                    (None, "su@ok.test.example")):
                    c, code = open_data(fport, envid, [rcpt])
                    t0 = time.monotonic()
                    c.sock.sendall(body(mid, "after the crash"))
                    code, text = c.reply()
                    results.append((code, time.monotonic() - t0, qid_of(text)))
                    c.close()
                t.check("(e) the stale pending registration still on disk meanwhile",
                        all(os.path.exists(os.path.join(regs, n)) for n in stale), repr(stale))
            finally:
                follower.proc.send_signal(signal.SIGCONT)
            t.check("(e) after the crash, a tracked and an untracked message with that "
                    "Message-ID: both accepted at once", all(
                        r[0] == 250 and r[1] < AT_ONCE for r in results), repr(results))
            qt = results[0][2]
            settle("the tracked one bound", lambda: reg_text(qt), 15)
            t.check("(e) the tracked one bound to its own queue id",
                    "Envid: staleT2@test.example" in reg_text(qt), "%s: %s" % (qt, reg_text(qt)))
            t.check("(e) the untracked one's queue id not registered", not reg_text(results[1][2]),
                    reg_text(results[1][2]))
        else:
            # (f) The front killed -9 after a tracked message's pending registration by
            # Message-ID was written, before the ".": (f1) its first 64 KiB (the header)
            # reached Postfix, whose cleanup logged the Message-ID; (f2) none of it did
            # (Postfix's smtpd stopped, then killed with the front). The client retries
            # the same message (Message-ID, ENVID, MTRK) through the restarted front: 250,
            # not 451; tracked once; then an untracked message with that Message-ID:
            # 250, bound to nothing.
            for n, reach in ((1, True), (2, False)):
                mid = "orphan%d@test.example" % n
                envid = "orphanT%d@test.example" % n
                rcpt = "or%d@ok.test.example" % n
                pending = os.path.join(regs, hashlib.sha256(mid.encode()).hexdigest()
                                       + ".pending")
                c, code = open_data(fport, envid, [rcpt])
                stopped = [] if reach else postfix_children(pf, "smtpd")
                for pid in stopped:
                    os.kill(pid, signal.SIGSTOP)
                c.sock.sendall(b"Message-ID: <%s>\r\nSubject: s\r\n\r\n" % mid.encode()
                               + (b"y" * 998 + b"\r\n") * 80)
                settle("the pending registration", lambda: os.path.exists(pending), 10)
                t.check("(f%d) the pending registration by Message-ID written before the "
                        "front died" % n, os.path.exists(pending), repr(os.listdir(regs)))
                if reach:
                    settle("its cleanup line", lambda: cleanup_lines(mid), 10)
                front = [d for d in daemons if "front" in os.path.basename(d.log)
                         and "bound" not in d.log][0]
                front.stop(signal.SIGKILL)
                daemons.remove(front)
                for pid in stopped:
                    os.kill(pid, signal.SIGKILL)
                c.close()
                t.check("(f%d) Postfix's cleanup %s the Message-ID" % (
                    n, "logged" if reach else "never saw"), bool(cleanup_lines(mid)) == reach,
                        repr(cleanup_lines(mid)))
                fport = daemons.start(front_exe, "front-f%d" % n,
                                      "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                                      "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                                      "pending_claim_wait=10\n" % (pf.port, state),
                                      os.path.join(pf.base, "front-f%d.port" % n))
                # (f1) the retry first, then an untracked message; (f2) the other way
                # round (the untracked one waits for the orphan to be settled).
                results = {}
                for e in ((envid, None) if reach else (None, envid)):
                    c, code = open_data(fport, e, [rcpt])
                    t0 = time.monotonic()
                    c.sock.sendall(body(mid, "retry"))
                    code, text = c.reply()
                    results[e] = (code, round(time.monotonic() - t0, 2), qid_of(text))
                    c.close()
                t.check("(f%d) the retry and an untracked message with that Message-ID: "
                        "250 (not 451), each within a few seconds" % n, all(
                            r[0] == 250 and r[1] < 8 for r in results.values()), repr(results))
                print("# (f%d) waits: %r" % (n, results))
                qt, qu = results[envid][2], results[None][2]
                settle("the retry registered", lambda: reg_text(qt), 15)
                t.check("(f%d) the retry registered under its own queue id" % n,
                        "Envid: " + envid in reg_text(qt), "%s: %s" % (qt, reg_text(qt)))
                t.check("(f%d) the untracked message's queue id not registered" % n,
                        not reg_text(qu), "%s: %s" % (qu, reg_text(qu)))
                settle("no pending registration left", lambda: not os.path.exists(pending),
                       15)
                t.check("(f%d) no pending registration of that Message-ID left" % n,
                        not os.path.exists(pending), repr(os.listdir(regs)))
                flog = wait_log(follower.log, "orphaned pending registration of message-id %s"
                                % mid)
                if reach:
                    first = cleanup_lines(mid)[0].split(": message-id=")[0].split()[-1]
                    t.check("(f1) the orphan bound to the first cleanup line with that "
                            "Message-ID, its own (the follower had read it)",
                            "%s: the orphaned pending registration of message-id %s" % (
                                first, mid) in flog and "Envid: " + envid in reg_text(first),
                            first)
                else:
                    t.check("(f2) the orphan removed: none of its data reached Postfix",
                            "orphaned pending registration of message-id %s (ENVID %s) "
                            "removed" % (mid, envid) in flog, flog[-1500:])
                got = {}
                try:
                    got = wait_for("TRACK " + envid, lambda: (lambda r: r if r.get(rcpt) and r[
                        rcpt][0].get("action") == "relayed" else None)(
                            recipients(track(mport, envid))), 20)
                except pi.PostfixError:
                    got = recipients(track(mport, envid))
                t.check("(f%d) TRACK: Postfix's verdict for the recipient, once" % n,
                        set(got) == {rcpt} and len(got[rcpt]) == 1
                        and got[rcpt][0].get("action") == "relayed", repr(got))
    except pi.PostfixError as e:
        t.check("no harness error", False, str(e))
    finally:
        if t.failures:
            print("# maillog tail:\n# " + pf.maillog()[-3000:].replace("\n", "\n# "))
            for d in daemons:
                try:
                    print("# %s:\n# " % d.log + open(d.log).read()[-3000:]
                          .replace("\n", "\n# "))
                except OSError:
                    pass
        for d in daemons:
            d.stop()
        pf.cleanup()
        for s in sinks:
            s.close()
    print("1..%d" % t.count)
    return 1 if t.failures else 0

if __name__ == "__main__":
    sys.exit(main())
