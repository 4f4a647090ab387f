#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-limits.py: msgtrk-postfix-follower's holding rules, on a log file
the test writes (real Postfix 3.7 line shapes; no Postfix needed, runs as any user).

  test-postfix-follower-limits.py FOLLOWER

- registration_wait: a delivery line logged before its queue id is registered is held and
  applied once the registration appears within the wait; one registered after the wait
  gets no record.
- a content filter's copy whose first line comes before the parent's line that derives
  its registration, and its last after it, all read in one pass: applied in log order.
- max_held_lines: at the limit (2 unregistered lines held) nothing is dropped early; one
  past it (3) the oldest is dropped early, with one warning.
- max_held_lines counted as the pass goes: 3 lines with max_held_lines=2, the first two
  registered and applied: the third is held, not dropped early;
- max_held_bytes: two unregistered lines of L octets each held with max_held_bytes=2L:
  nothing dropped early; with 2L-1 the oldest is dropped early, with one warning.
- a short queue id used by two messages (Postfix reuses them): a tracked message bound by
  its ident at smtpd's client line, then rejected at the end of data (Postfix discards
  it, the registration stays), then the same queue id for an untracked message (its
  client line without orig_queue_id) and for a tracked one with another ident: the old
  registration is set aside at the new client line, the new messages' delivery lines are
  never applied to the old ENVID, the tracked one's are applied to its own; a client line
  of the registration's own transaction (read again) keeps it; "reread": the follower
  restarted and reading both client lines again ends with the later message's
  registration current; a message submitted locally (pickup's "uid=N from=<...>"
  line, no client line) sets the stale registration aside the same way;
- "noclient": a short queue id reused by messages without a client line (a bounce
  notification under the id of a tracked message bound from its ident four hours before;
  local(8)'s "forwarded as" copy under the id of an earlier message's copy): their lines
  go to no earlier message's record (the registration set aside at the new message's
  header line, cleanup's "message-id="), the second copy is followed in its own; a
  restart reading it all again changes no record (more cases: postfix-follower-reuse);
- "torn": a stored record that cannot be read (torn by a crash, damaged): its line held
  (not applied to an empty record), other messages' lines applied meanwhile; applied
  once the record reads again (its earlier state kept), dropped with a warning past
  registration_wait;
- "leftover" (the Message-ID fallback): a pending file left beside its front's QID.reg
  (the front killed before removing it) is removed, never bound to a later message with
  that Message-ID.
- "orphan": pending registrations by Message-ID of a front that is gone (Orphaned:, the
  mark .orphans, as a journal's replay leaves them) settled within seconds: bound to
  the cleanup line with its Message-ID, or removed when there is none; a later line with
  that Message-ID binds nothing (docs/postfix-orphans.md).
- a bad configuration value (poll_interval past its range) is refused at start (exit 1).
- Postfix's info_log_address_format (asked with postconf; here a script that answers):
  "internal" refused (exit 1, with the reason); postconf that cannot say (fails, or does
  not know the parameter: Postfix < 3.5, whose postconf leaves it out with a warning)
  refused, unless the follower's own info_log_address_format says "external"; any other
  value of that key refused; maximal_queue_lifetime asked in the same call: postconf is
  run once.
As root, the follower runs as nobody (the servers refuse to run as root).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tracking_harness import AUTH, read_log, register, settle, wait_log  # noqa: E402
from follower_logfile import (  # noqa: E402
    CLIENT, REJECT, CLEANUP, PICKUP, LINE, REMOVED, HEADER, stamp, BOUNCE_NOTE,
    BOUNCE_QMGR, BOUNCE_DEFER, FORWARD, MEMBER_SENT, MEMBER_BOUNCED, FILTER_PARENT,
    FILTER_DEFERRED, FILTER_SENT, filter_leg, FILTER_B_BOUNCED, FILTER_A_SENT,
    record_blocks, record_path, wait_file, fake_postconf, LONG_LINE, run, stop)


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="follower-limits-")
    failures = 0
    n = 0

    def check(what, ok, detail=""):
        nonlocal failures, n
        n += 1
        print("%s %d - %s%s" % ("ok" if ok else "not ok", n, what,
                                "" if ok or not detail else ": " + detail))
        if not ok:
            failures += 1

    try:
        # registration_wait
        proc, state, regs, log, out = run(exe, tmp, "wait", "registration_wait=1\n")
        with open(log, "a") as f:
            f.write(LINE % "AAAAAA111")
            f.write(LINE % "BBBBBB222")
        time.sleep(0.3)
        register(regs, "AAAAAA111", "early@test.example", ["alice@test.example"],
                 int(time.time()))
        check("registered within registration_wait: held, then applied",
              wait_file(record_path(state, "early@test.example"), 5))
        time.sleep(1.5)
        register(regs, "BBBBBB222", "late@test.example", ["alice@test.example"],
                 int(time.time()))
        time.sleep(0.5)
        check("registered after registration_wait: no record",
              not os.path.exists(record_path(state, "late@test.example")))
        check("exit 0", stop(proc) == 0)

        # A content filter's copy whose first line (qmgr: deferred) comes before the
        # parent's "queued as" line that derives its registration, its later one (sent)
        # after it, all read in one pass: applied in log order, the record ends delivered
        # (before, the later line went first and the held one overwrote it: "delayed").
        proc, state, regs, log, out = run(exe, tmp, "order", "registration_wait=5\n")
        register(regs, "AAAAAA111", "order@test.example", ["r@far.example"],
                 int(time.time()))
        with open(log, "a") as f:
            f.write(FILTER_DEFERRED + FILTER_PARENT + FILTER_SENT)
        rec = record_path(state, "order@test.example")
        settle("the copy's sent line applied",
               lambda: "192.0.2.9" in read_log(rec) and "Action: delayed" not in read_log(rec), 5)
        time.sleep(0.3)  # 15 polls: a held line applied late would be by now
        text = read_log(rec)
        check("content filter copy: its lines applied in log order (relayed, not delayed)",
              "Action: relayed" in text and "Action: delayed" not in text, text[-600:])
        check("exit 0", stop(proc) == 0)

        # "legs": the copy's line for b logged after the parent's line for a (which
        # derives BBBBBB222 with the leg a only) and before the parent's line for b (which
        # adds the leg b). In one pass ("one"), and with a poll falling between the
        # parent's two lines ("boundary": BBBBBB222.reg exists, leg a only, when the rest
        # is read). b bounced: its entry must say failed, not the interim relayed.
        for variant in ("one", "boundary"):
            proc, state, regs, log, out = run(exe, tmp, "legs-" + variant,
                                              "registration_wait=5\n")
            envid = "legs-%s@test.example" % variant
            register(regs, "AAAAAA111", envid, ["a@far.example", "b@far.example"],
                     int(time.time()))
            with open(log, "a") as f:
                f.write(filter_leg("a@far.example"))
                if variant == "one":
                    f.write(FILTER_B_BOUNCED + filter_leg("b@far.example") + FILTER_A_SENT)
            if variant == "boundary":
                wait_file(os.path.join(regs, "BBBBBB222.reg"), 5)
                with open(log, "a") as f:
                    f.write(FILTER_B_BOUNCED + filter_leg("b@far.example") + FILTER_A_SENT)
            rec = record_path(state, envid)

            def entry(rcpt):
                return record_blocks(read_log(rec)).get(rcpt, "")
            # Both outcomes, well within registration_wait (5 s): the held line applied at
            # the pass after the parent's line, not dropped (then b stays relayed).
            settle("the copy's outcomes", lambda: "mx.far.example" in entry("a@far.example")
                   and "Action: failed" in entry("b@far.example"), 4)
            b = entry("b@far.example")
            check("content filter, two legs (%s): the copy's line for b, logged before the "
                  "parent's leg b, gives b's outcome (failed 5.1.1)" % variant,
                  "Action: failed" in b and "5.1.1" in b, b)
            check("content filter, two legs (%s): a's outcome from the copy" % variant,
                  "Action: relayed" in entry("a@far.example")
                  and "dns; mx.far.example" in entry("a@far.example"), entry("a@far.example"))
            check("exit 0", stop(proc) == 0)

        # max_held_lines at the limit and one past it
        for held, dropped in ((2, False), (3, True)):
            name = "held%d" % held
            proc, state, regs, log, out = run(exe, tmp, name,
                                              "registration_wait=60\nmax_held_lines=2\n")
            with open(log, "a") as f:
                for i in range(held):
                    f.write(LINE % ("CCCCCC%03d" % i))
            if dropped:
                wait_log(out, "dropped early")
            else:
                time.sleep(0.5)  # 25 polls: a line dropped early would be by now
            stop(proc)
            text = open(out).read()
            check("%d lines held with max_held_lines=2: %s" % (
                held, "the oldest dropped early" if dropped else "none dropped"),
                ("dropped early" in text) == dropped, text[-400:])
            if dropped:
                check("one warning for one dropped line", text.count("dropped early") == 1)

        # Over max_held_lines when the pass starts, under it once the registered lines are
        # applied: the unregistered line after them is held, not dropped early (it was,
        # before review 9: the pass decided "over" once, at its start).
        proc, state, regs, log, out = run(exe, tmp, "heldback",
                                          "registration_wait=60\nmax_held_lines=2\n")
        register(regs, "EEEEEE111", "applied@test.example", ["alice@test.example"],
                 int(time.time()))
        with open(log, "a") as f:
            f.write(LINE % "EEEEEE111")
            f.write(LINE % "EEEEEE111")
            f.write(LINE % "CCCCCC000")
        check("heldback: the registered lines applied",
              wait_file(record_path(state, "applied@test.example"), 5))
        time.sleep(0.3)
        stop(proc)
        text = open(out).read()
        check("heldback: 3 lines with max_held_lines=2, 2 of them applied: none dropped early",
              "dropped early" not in text, text[-400:])

        # max_held_bytes at the limit and one octet past it (lines of LONG_LINE's length).
        long_len = len((LONG_LINE % "CCCCCC000").encode()) - 1  # without its LF
        for limit, dropped in ((2 * long_len, False), (2 * long_len - 1, True)):
            name = "bytes%d" % limit
            proc, state, regs, log, out = run(exe, tmp, name,
                                              "registration_wait=60\nmax_held_lines=10\n"
                                              "max_held_bytes=%d\n" % limit)
            with open(log, "a") as f:
                for i in range(2):
                    f.write(LONG_LINE % ("CCCCCC%03d" % i))
            if dropped:
                wait_log(out, "dropped early")
            else:
                time.sleep(0.5)  # 25 polls: a line dropped early would be by now
            stop(proc)
            text = open(out).read()
            check("2 lines of %d octets held with max_held_bytes=%d: %s" % (
                long_len, limit, "the oldest dropped early" if dropped else "none dropped"),
                ("dropped early" in text) == dropped, text[-400:])
            if dropped:
                check("one warning for one line dropped for octets",
                      text.count("dropped early") == 1)

        # A short queue id used by two messages.
        proc, state, regs, log, out = run(exe, tmp, "reuse", "registration_wait=2\n")
        now = int(time.time())
        old_ident = "msgtrk-" + "0" * 31 + "1"
        new_ident = "msgtrk-" + "0" * 31 + "2"
        own_ident = "msgtrk-" + "0" * 31 + "3"
        qid = "DDDDDD001"
        # The tracked message: its client line (orig_queue_id=), its pending registration
        # written at DATA, bound by the follower; then Postfix rejects it at the end of data.
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + old_ident))
        register(regs, None, "rejected@test.example", ["alice@test.example"], now, old_ident)
        reg = os.path.join(regs, qid + ".reg")
        check("reuse: the tracked message's pending registration bound at its client line",
              wait_file(reg, 5) and "Ident: " + old_ident in open(reg).read(),
              repr(os.listdir(regs)))
        with open(log, "a") as f:
            f.write(REJECT % qid)
            # The same queue id, an untracked message (no orig_queue_id), delivered.
            f.write(CLIENT % (qid, ""))
            f.write(LINE % qid)
        deadline = time.monotonic() + 5
        while os.path.exists(reg) and time.monotonic() < deadline:
            time.sleep(0.05)
        check("reuse: an untracked message under the queue id: the stale registration "
              "removed at its client line", not os.path.exists(reg), repr(os.listdir(regs)))
        # Then a tracked one with another ident under the same queue id.
        register(regs, None, "second@test.example", ["alice@test.example"], now, new_ident)
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + new_ident))
            f.write(LINE % qid)
        check("reuse: the next tracked message's line applied to its own ENVID",
              wait_file(record_path(state, "second@test.example"), 5))
        check("reuse: no line of the later messages applied to the rejected one's ENVID",
              not os.path.exists(record_path(state, "rejected@test.example")))
        # A client line of the registration's own transaction (a follower reading it
        # again after a restart) keeps it.
        register(regs, "EEEEEE001", "own@test.example", ["alice@test.example"], now,
                 own_ident)
        with open(log, "a") as f:
            f.write(CLIENT % ("EEEEEE001", ", orig_queue_id=" + own_ident))
            f.write(LINE % "EEEEEE001")
        check("reuse: a client line of the registration's own transaction keeps it",
              wait_file(record_path(state, "own@test.example"), 5)
              and os.path.exists(os.path.join(regs, "EEEEEE001.reg")))
        # A message submitted locally (sendmail: pickup's "uid=N from=<...>" line, no
        # client line) under the queue id of a tracked message rejected at the end of
        # data: the stale registration set aside at pickup's line, its delivery line never
        # applied to the rejected one's ENVID.
        pickup_ident = "msgtrk-" + "0" * 31 + "6"
        qid = "DDDDDD005"
        reg = os.path.join(regs, qid + ".reg")
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + pickup_ident))
        register(regs, None, "rejected2@test.example", ["alice@test.example"], now,
                 pickup_ident)
        check("reuse: (pickup) the tracked message bound at its client line",
              wait_file(reg, 5) and "Ident: " + pickup_ident in open(reg).read(),
              repr(os.listdir(regs)))
        with open(log, "a") as f:
            f.write(REJECT % qid)
            f.write(PICKUP % qid)
            f.write(LINE % qid)
        deadline = time.monotonic() + 5
        while os.path.exists(reg) and time.monotonic() < deadline:
            time.sleep(0.05)
        check("reuse: a message submitted locally under the queue id (pickup's line): the "
              "stale registration set aside", not os.path.exists(reg)
              and os.path.exists(os.path.join(regs, "%s.%s.superseded" % (qid, pickup_ident))),
              repr(os.listdir(regs)))
        # A later line of a registered message shows the pickup message's line was read.
        register(regs, "EEEEEE002", "after-pickup@test.example", ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(LINE % "EEEEEE002")
        check("reuse: (pickup) a later message's line applied",
              wait_file(record_path(state, "after-pickup@test.example"), 5))
        check("reuse: the locally submitted message's delivery not applied to the rejected "
              "one's ENVID", not os.path.exists(record_path(state, "rejected2@test.example")))
        stop(proc)
        text = open(out).read()
        check("reuse: the setting aside logged", "registration set aside" in text, text[-600:])

        # The same queue id reused, then the follower restarted: it reads the log again
        # from its saved position, which an untracked message's delivery line (held
        # registration_wait seconds) keeps before both client lines. The second message's
        # registration must survive the first message's client line read again.
        name = "reread"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=30\n")
        now = int(time.time())
        first = "msgtrk-" + "0" * 31 + "4"
        second = "msgtrk-" + "0" * 31 + "5"
        qid = "DDDDDD002"
        reg = os.path.join(regs, qid + ".reg")
        with open(log, "a") as f:
            f.write(LINE % "FFFFFF000")  # untracked: held, the saved position stays here
        register(regs, None, "first@test.example", ["alice@test.example"], now, first)
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + first))
        check("reread: the first message bound",
              wait_file(reg, 5) and "Ident: " + first in open(reg).read())
        with open(log, "a") as f:
            f.write(REJECT % qid)
        register(regs, None, "reused@test.example", ["alice@test.example"], now, second)
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + second))
            f.write(LINE % qid)
        check("reread: the second message bound and applied",
              wait_file(record_path(state, "reused@test.example"), 5)
              and "Ident: " + second in open(reg).read())
        stop(proc)
        conf = os.path.join(tmp, name + ".conf")
        proc = subprocess.Popen([exe, "--config", conf, "--verbose"],
                                stdout=open(out, "a"), stderr=subprocess.STDOUT)
        # Both client lines read again: the first makes its own registration current
        # (the second's set aside), the second its own again.
        check("reread: both client lines read again after the restart",
              settle("both client lines", lambda: open(out).read().count("current again") >= 2, 10),
              open(out).read()[-800:])
        check("reread: after a restart the second message's registration is still there",
              os.path.exists(reg) and "Ident: " + second in open(reg).read(),
              repr(os.listdir(regs)) + open(out).read()[-800:])
        stop(proc)

        # A short queue id reused by messages without a client line (helper-117's case,
        # session 18): a bounce daemon's notification under the queue id of a tracked
        # message bound from its ident four hours earlier, delivered and removed; and
        # local(8)'s "forwarded as" copy of an alias under the queue id of an earlier
        # tracked message's copy (its derived registration). Their lines go to no earlier
        # message's record, the second copy gets a registration of its own; and a restart
        # that reads all of it again (the saved position kept before it by an untracked
        # line, held 30 s) changes no record.
        name = "noclient"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=30\n")
        now = int(time.time())
        then = now - 4 * 3600
        ident = "msgtrk-" + "0" * 31 + "7"
        qid = "DDDDDD010"
        with open(log, "a") as f:
            f.write(LINE % "FFFFFF010")
        register(regs, None, "bounced-into@test.example", ["alice@test.example"], then, ident)
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + ident))
            f.write(HEADER % (stamp(then), 23021, qid, "tracked@test.example"))
            f.write(LINE % qid)
            f.write(REMOVED % qid)
        old = record_path(state, "bounced-into@test.example")
        check("noclient: the tracked message delivered",
              settle("delivered", lambda: "Action: delivered" in read_log(old), 5))
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now), 23021, qid, "20261204213600.%s@mx.test.example" % qid))
            f.write(BOUNCE_QMGR % qid)
            f.write(BOUNCE_DEFER % qid)
            f.write(BOUNCE_NOTE % ("CCCCCC010", qid))
        register(regs, "AAAAAA010", "alias-first@test.example", ["team@local.test.example"],
                 then)
        register(regs, "AAAAAA011", "alias-second@test.example", ["team@local.test.example"],
                 now)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then), 23022, "BBBBBB010", "first@test.example"))
            f.write(FORWARD % ("AAAAAA010", "BBBBBB010"))
            f.write(MEMBER_SENT % "BBBBBB010")
            f.write(REMOVED % "BBBBBB010")
            f.write(REMOVED % "AAAAAA010")
            f.write(HEADER % (stamp(now), 23022, "BBBBBB010", "second@test.example"))
            f.write(FORWARD % ("AAAAAA011", "BBBBBB010"))
            f.write(MEMBER_BOUNCED % "BBBBBB010")
            f.write(REMOVED % "BBBBBB010")
        # A later line of a registered message: every line before it has been read.
        register(regs, "EEEEEE010", "after-noclient@test.example", ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(LINE % "EEEEEE010")
        check("noclient: a later message's line applied",
              wait_file(record_path(state, "after-noclient@test.example"), 5))
        paths = {e: record_path(state, e) for e in
                 ("bounced-into@test.example", "alias-first@test.example",
                  "alias-second@test.example")}
        settle("the second alias message's member outcome",
               lambda: "Action: failed" in read_log(paths["alias-second@test.example"]), 5)
        text = read_log(old)
        check("noclient: the bounce notification under the reused queue id not applied to "
              "the earlier message's ENVID",
              "Action: delivered" in text and "Disk quota" not in text, text)
        first = read_log(paths["alias-first@test.example"])
        second = read_log(paths["alias-second@test.example"])
        check("noclient: the second alias message's member outcome not applied to the first "
              "message's ENVID",
              "Action: delivered" in first and "Action: failed" not in first, first)
        check("noclient: the second alias message's member outcome in its own record",
              "Action: failed" in second and "mailbox full" in second, second)
        blocks = {e: record_blocks(read_log(p)) for e, p in paths.items()}
        stop(proc)
        text = open(out).read()
        check("noclient: the earlier registrations set aside at the new messages' header "
              "lines, no copy refused as another message's",
              text.count("header line, no client line before it") == 2
              and "registered for another message" not in text, text[-1500:])
        conf = os.path.join(tmp, name + ".conf")
        proc = subprocess.Popen([exe, "--config", conf, "--verbose"],
                                stdout=open(out, "a"), stderr=subprocess.STDOUT)
        register(regs, "EEEEEE011", "after-replay@test.example", ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(LINE % "EEEEEE011")
        check("noclient: the log read again after a restart",
              wait_file(record_path(state, "after-replay@test.example"), 10),
              open(out).read()[-800:])
        stop(proc)
        again = {e: record_blocks(read_log(p)) for e, p in paths.items()}
        check("noclient: reading it all again changed no record", again == blocks,
              repr(again) + " != " + repr(blocks))
        check("noclient: the restart read the header lines again",
              open(out).read().count("header line, no client line before it") >= 3,
              open(out).read()[-1500:])

        # A stored record that cannot be read (torn by a crash until its writer's journal
        # is replayed, or damaged): its line is held, not applied to an empty record
        # (which would lose the earlier recipients' states once the file reads again),
        # and does not hold up other messages' lines; applied once the record reads
        # again within registration_wait, dropped with a warning past it.
        proc, state, regs, log, out = run(exe, tmp, "torn", "registration_wait=4\n")
        now = int(time.time())
        register(regs, "DDDDDD020", "torn@test.example",
                 ["alice@test.example", "bob@test.example"], now)
        register(regs, "DDDDDD021", "damaged@test.example", ["alice@test.example"], now)
        register(regs, "DDDDDD022", "unhindered@test.example", ["alice@test.example"], now)
        torn = record_path(state, "torn@test.example")
        damaged = record_path(state, "damaged@test.example")
        with open(log, "a") as f:
            f.write(LINE % "DDDDDD020")
        check("torn: the first recipient's state stored", wait_file(torn, 5))
        intact = open(torn, "rb").read()
        with open(torn, "wb") as f:
            f.write(b"garbage\n")
        with open(damaged, "wb") as f:
            f.write(b"garbage\n")
        for path in (torn, damaged):
            if os.geteuid() == 0:
                import pwd
                nobody = pwd.getpwnam("nobody")
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        with open(log, "a") as f:
            f.write(LINE.replace("alice@", "bob@").replace("dsn=2.0.0", "dsn=5.1.1")
                    .replace("status=sent (delivered to maildir)",
                             "status=bounced (unknown user)") % "DDDDDD020")
            f.write(LINE % "DDDDDD021")
            f.write(LINE % "DDDDDD022")
        check("torn: a later message's line applied while those lines are held",
              wait_file(record_path(state, "unhindered@test.example"), 3))
        check("torn: the held lines not applied to empty records",
              open(torn, "rb").read() == b"garbage\n"
              and open(damaged, "rb").read() == b"garbage\n")
        with open(torn, "wb") as f:
            f.write(intact)
        check("torn: applied once the record reads again, the earlier state kept",
              settle("bob's outcome", lambda: "Action: failed" in read_log(torn), 5)
              and "Action: delivered" in read_log(torn), read_log(torn))
        check("torn: the damaged record's line dropped past registration_wait, warned",
              settle("the warning", lambda: "this update of it is dropped" in read_log(out), 8)
              and open(damaged, "rb").read() == b"garbage\n", read_log(out)[-800:])
        stop(proc)

        # The Message-ID fallback: the front killed between its journaled QID.reg and the
        # unlink of its pending file (both on disk; recovery waits for the front's
        # restart). The tracked message's cleanup line finds QID.reg and lets the line go;
        # a later untracked message with the same Message-ID (port 25) must not get the
        # leftover pending registration.
        proc, state, regs, log, out = run(exe, tmp, "leftover", "registration_wait=1\n")
        now = int(time.time())
        mid = "leftover@test.example"
        register(regs, "DDDDDD003", "left@test.example", ["alice@test.example"], now)
        body = open(os.path.join(regs, "DDDDDD003.reg")).read()
        pending = body.replace("Queue-Id: DDDDDD003\n", "Message-Id: %s\n" % mid)
        name = hashlib.sha256(mid.encode()).hexdigest() + ".pending"
        with open(os.path.join(regs, ".tmp-" + name), "w") as f:
            f.write(pending)
        os.chmod(os.path.join(regs, ".tmp-" + name), 0o644)
        os.rename(os.path.join(regs, ".tmp-" + name), os.path.join(regs, name))
        with open(log, "a") as f:
            f.write(CLEANUP % ("DDDDDD003", mid))
        check("leftover: the pending file beside its QID.reg removed once the cleanup line "
              "has waited registration_wait",
              settle("the pending file gone",
                     lambda: not os.path.exists(os.path.join(regs, name)), 10),
              repr(os.listdir(regs)))
        # Then the untracked message's cleanup line, and after it a delivery line of the
        # registered message: its record shows that the line before it was read.
        with open(log, "a") as f:
            f.write(CLEANUP % ("DDDDDD004", mid))
            f.write(LINE % "DDDDDD003")
        check("leftover: the registered message's delivery applied",
              wait_file(record_path(state, "left@test.example"), 10))
        check("leftover: an untracked message with the Message-ID not bound to the "
              "registered message's leftover pending registration",
              not os.path.exists(os.path.join(regs, "DDDDDD004.reg")),
              repr(os.listdir(regs)))
        stop(proc)

        # Orphans (docs/postfix-orphans.md): pending registrations by Message-ID of a
        # front that is gone, as its journal's replay leaves them (Orphaned:, the mark).
        # One whose Message-ID has a cleanup line in the log is bound to it at once (not
        # after registration_wait, 60 s here); one without is removed; a later cleanup
        # line with the removed one's Message-ID binds nothing.
        proc, state, regs, log, out = run(exe, tmp, "orphan", "registration_wait=60\n")
        now = int(time.time())
        paths = {}
        for mid, envid in (("orphan1@test.example", "o1@test.example"),
                           ("orphan2@test.example", "o2@test.example")):
            name = hashlib.sha256(mid.encode()).hexdigest() + ".pending"
            paths[mid] = os.path.join(regs, name)
            with open(os.path.join(regs, ".tmp-" + name), "w") as f:
                f.write("MSGTRK-POSTFIX-REG 1\nMessage-Id: %s\nOrphaned: %d\nEnvid: %s\n"
                        "Authenticator: %s\nArrival: %d\nExpires: %d\n"
                        "Rcpt: alice@test.example alice@test.example -\n"
                        % (mid, now, envid, AUTH, now, now + 86400))
            os.chmod(os.path.join(regs, ".tmp-" + name), 0o644)
            os.rename(os.path.join(regs, ".tmp-" + name), paths[mid])
        with open(log, "a") as f:
            f.write(CLEANUP % ("DDDDDD006", "orphan1@test.example"))
            f.write(LINE % "DDDDDD006")
        open(os.path.join(regs, ".orphans"), "w").close()
        t0 = time.monotonic()
        check("orphan: bound to the cleanup line with its Message-ID, its delivery applied",
              wait_file(record_path(state, "o1@test.example"), 10)
              and "Envid: o1@test.example" in open(os.path.join(regs, "DDDDDD006.reg")).read(),
              repr(os.listdir(regs)) + open(out).read()[-800:])
        check("orphan: settled within seconds, not after registration_wait",
              time.monotonic() - t0 < 10)
        check("orphan: one without a cleanup line removed",
              settle("removed", lambda: not os.path.exists(paths["orphan2@test.example"]), 10)
              and not os.path.exists(paths["orphan1@test.example"]),
              repr(os.listdir(regs)))
        check("orphan: the mark taken", not os.path.exists(os.path.join(regs, ".orphans")))
        # The client's retry (the same ENVID, registered by the restarted front under its
        # own queue id), delivered too: one entry for the recipient in the one record.
        register(regs, "DDDDDD008", "o1@test.example", ["alice@test.example"], now + 1)
        register(regs, "EEEEEE003", "after-orphan@test.example", ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(CLEANUP % ("DDDDDD008", "orphan1@test.example"))
            f.write(LINE % "DDDDDD008")
            f.write(CLEANUP % ("DDDDDD007", "orphan2@test.example"))
            f.write(LINE % "DDDDDD007")
            f.write(LINE % "EEEEEE003")
        check("orphan: a later line applied",
              wait_file(record_path(state, "after-orphan@test.example"), 10))
        record = open(record_path(state, "o1@test.example")).read()
        check("orphan: the orphan's and the retry's verdicts, one entry for the recipient",
              record.lower().count("final-recipient:") == 1, record)
        check("orphan: a later message with the removed orphan's Message-ID bound to nothing",
              not os.path.exists(os.path.join(regs, "DDDDDD007.reg"))
              and not os.path.exists(record_path(state, "o2@test.example")),
              repr(os.listdir(regs)))
        stop(proc)

        # a value out of range refuses to start
        proc, state, regs, log, out = run(exe, tmp, "bad", "poll_interval=5\n")
        code = proc.wait(10)
        check("poll_interval below its range: exit 1", code == 1, open(out).read())

        # Postfix's info_log_address_format (and maximal_queue_lifetime), asked with one
        # postconf call.
        for name, answer, extra, refused, lifetime_conf in (
                ("format-internal", "internal", "", True, True),
                ("format-unknown", None, "", True, True),
                ("format-unknown-said", None, "info_log_address_format=external\n", False,
                 True),
                ("format-key-internal", "external", "info_log_address_format=internal\n",
                 True, True),
                ("format-external-lifetime", "external", "", False, False),
                ("format-old", "unknown", "", True, False),
                ("format-old-said", "unknown", "info_log_address_format=external\n", False,
                 False)):
            calls = fake_postconf(tmp, answer) + ".calls"
            if os.path.exists(calls):
                os.unlink(calls)
            proc, state, regs, log, out = run(exe, tmp, name, extra, answer, lifetime_conf)
            if proc.poll() is None:  # started (run() waited for that or for its exit)
                code = stop(proc)
                text = open(out).read()
                check("%s: runs, exit 0 on SIGTERM" % name, not refused and code == 0,
                      text[-300:])
                if not lifetime_conf:
                    check("%s: queue lifetime from postconf (2d)" % name,
                          "queue lifetime 172800 s" in text, text[-300:])
            else:
                code = proc.wait()
                text = open(out).read()
                check("%s: refused at start (exit 1), saying why" % name,
                      refused and code == 1 and "info_log_address_format" in text, text[-300:])
            asked = open(calls).read().splitlines() if os.path.exists(calls) else []
            # The follower's own "internal" is refused before Postfix is asked.
            want = 0 if name == "format-key-internal" else 1
            check("%s: postconf run %s" % (name, "once" if want else "never"),
                  len(asked) == want, repr(asked))
    finally:
        if not failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# kept " + tmp)
    print("1..%d" % n)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
