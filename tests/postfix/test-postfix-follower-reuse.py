#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-follower-reuse.py: short queue ids reused around messages without a client
line, against the follower's check at a message's header line (cleanup's "message-id=",
postfix_registration_start: a registration that arrived more than
POSTFIX_REGISTRATION_REUSE_AFTER, 3 h, before the line is an earlier message's). Cases
from a review of the first version of that check (session 19), which noted each
registration's own header line and failed them; here with real time stamps.

  test-postfix-follower-reuse.py FOLLOWER

- "late-reg": the front writes QID.reg after Postfix's 250 (no pending file: no XFORWARD
  and no single Message-ID), so the follower reads the message's header line before the
  file exists; a bounce notification that gets the queue id four hours later does not
  take the registration: its deferral is not in the tracked record.
- "backlog": the follower stopped while a bounce notification and then a tracked message
  (registration written by the front) used the queue id: the bounce's header line, older
  than the registration, leaves it alone; the tracked message's delivery is recorded.
  (The bounce's own delivery line, read after the later registration exists, is applied
  to it when the recipient is one of its: the limit docs/postfix-follower.md names.)
- "window": in the first registration_wait seconds after a start, an earlier message's
  header line under the queue id is held, then let go: the later message's registration
  stays.
- "replay": the saved position kept before an earlier message's header line under the
  queue id (an unregistered line waits registration_wait); read again after a restart, it
  leaves the later message's registration alone: its next delivery is recorded.
- "stale-held": an earlier (untracked) message's delivery line, held waiting for a
  registration, and the queue id reused at once by a tracked message bound from its
  ident: fenced off at the new message's header line, never in the new record.
- "malformed": an unreadable QID.reg and a header line of its queue id: left alone
  (warned), later lines go on (before, a retry that never ended).
- "ahead": a header line time-stamped a day ahead of the clock (a follower in another
  time zone than Postfix's log): not compared, warned once; the registration stays.
- "tz-skew": the log written in a time zone nine hours ahead of the follower's, read
  after the follower was stopped (no stamp ahead of the clock any more): the newest line
  against the file's modification time at the start says so (warned), and the message's
  own header line, nine hours "after" its arrival, leaves its registration alone.
- "split-bind": the ident path's real timing: the tracked message bound at its client
  line in a pass before its header line is read; the earlier message's held line is
  fenced off at the client line.
- "torn-fence": a tracked message's own line held because its record cannot be read,
  then a bounce notification's header line under the queue id (within 3 h: the
  registration stays current): the held line is not fenced off, and applies once the
  record reads again.
- "torn-reuse": the same held line, then a new message with another ident under the
  queue id (its client line sets the registration aside): the held line is fenced off,
  never applied to the new message's registration.
- "torn-narrow": the same held line fenced off by an untracked message's client line,
  then a later fence under the queue id (another message's client line while a line
  waits for a registration) and a tracked message's registration current when the record
  reads again: the later fence does not narrow the first, the held line is never applied
  to the tracked message's record.
As root, the follower runs as nobody (the servers refuse to run as root).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import read_log, register, settle  # noqa: E402
from follower_logfile import (BOUNCE_DEFER, CLIENT, HEADER, LINE, REMOVED,  # noqa: E402
                              record_path, run, stamp, stop, wait_file)

BOB_SENT = ("Dec 04 21:38:14 mx postfix/virtual[23030]: %s: to=<bob@test.example>, "
            "relay=virtual, delay=0.04, delays=0.01/0.01/0/0.02, dsn=2.0.0, "
            "status=sent (delivered to maildir)\n")
BOB_BOUNCED = ("Dec 04 21:35:31 mx postfix/virtual[23030]: %s: to=<bob@test.example>, "
               "relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=5.1.1, status=bounced "
               "(unknown user)\n")
BOB_DEFER = ("Dec 04 21:35:30 mx postfix/virtual[23030]: %s: to=<bob@test.example>, "
             "relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=4.2.2, status=deferred "
             "(maildir delivery failed: Disk quota exceeded)\n")


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="follower-reuse-")
    started = time.monotonic()
    t = pi.Checker()
    check = t.check

    def sentinel(state, regs, log, qid, envid, now, timeout=5):
        """A registered message's line: every line before it has been walked."""
        register(regs, qid, envid, ["alice@test.example"], now)
        with open(log, "a") as f:
            f.write(LINE % qid)
        return wait_file(record_path(state, envid), timeout)

    def torn_first(name, qid, ident, envid):
        """A follower @name; a tracked message (@ident, @envid) under @qid delivered to
        alice, its record stored, then torn (unreadable). Its follower's set-up, the
        record's path and the record's intact bytes."""
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=10\n")
        register(regs, None, envid, ["alice@test.example", "bob@test.example"], now, ident)
        rec = record_path(state, envid)
        with open(log, "a") as f:
            f.write(CLIENT % (qid, ", orig_queue_id=" + ident))
            f.write(HEADER % (stamp(now), 23021, qid, envid))
            f.write(LINE % qid)
        check("%s: first state stored" % name, wait_file(rec, 5))
        intact = open(rec, "rb").read()
        with open(rec, "wb") as f:
            f.write(b"garbage\n")
        return proc, state, regs, log, out, rec, intact

    def restart(name, out):
        conf = os.path.join(tmp, name + ".conf")
        proc = subprocess.Popen([exe, "--config", conf, "--verbose"],
                                stdout=open(out, "a"), stderr=subprocess.STDOUT)
        settle(name + " restarted",
               lambda: proc.poll() is not None or read_log(out).count("Started") >= 2, 20)
        return proc

    try:
        now = int(time.time())
        then = now - 4 * 3600

        name = "late-reg"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=2\n")
        qid = "DDDDDD030"
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then), 23021, qid, ""))  # message-id=<>
        check("late-reg: the header line walked",
              sentinel(state, regs, log, "EEEEEE030", "s30@test.example", now))
        register(regs, qid, "late-reg@test.example", ["alice@test.example"], then)
        with open(log, "a") as f:
            f.write(LINE % qid)
            f.write(REMOVED % qid)
        rec = record_path(state, "late-reg@test.example")
        check("late-reg: the tracked message delivered",
              settle("delivered", lambda: "Action: delivered" in read_log(rec), 5))
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now), 23041, qid, "20261204213600.%s@mx" % qid))
            f.write(BOUNCE_DEFER % qid)
        check("late-reg: later lines walked",
              sentinel(state, regs, log, "EEEEEE031", "s31@test.example", now))
        text = read_log(rec)
        check("late-reg: a bounce notification under the reused queue id not applied to "
              "the tracked message's record",
              "Action: delivered" in text and "Disk quota" not in text, text)
        stop(proc)

        name = "backlog"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=1\n")
        stop(proc)
        qid = "DDDDDD032"
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then - 600), 23041, qid, "20261204213510.%s@mx" % qid))
            f.write(BOB_DEFER % qid)
            f.write(REMOVED % qid)
            f.write(CLIENT % (qid, ""))
            f.write(HEADER % (stamp(then), 23021, qid, "backlog@test.example"))
            f.write(LINE % qid)
        register(regs, qid, "backlog@test.example", ["alice@test.example", "bob@test.example"],
                 then)
        proc = restart(name, out)
        rec = record_path(state, "backlog@test.example")
        check("backlog: later lines walked",
              sentinel(state, regs, log, "EEEEEE032", "s32@test.example", now))
        text = read_log(rec)
        check("backlog: the tracked message's own delivery recorded",
              "Action: delivered" in text, text + repr(os.listdir(regs)))
        check("backlog: the tracked message's registration kept",
              os.path.exists(os.path.join(regs, qid + ".reg")), repr(os.listdir(regs)))
        stop(proc)

        name = "window"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=30\n")
        qid = "DDDDDD037"
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then - 600), 23041, qid, "20261204213510.%s@mx" % qid))
            f.write(REMOVED % qid)
        check("window: the earlier header line walked",
              sentinel(state, regs, log, "EEEEEE037", "s37@test.example", now))
        register(regs, qid, "window@test.example", ["alice@test.example"], then)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then), 23021, qid, "window@test.example"))
            f.write(LINE % qid)
        rec = record_path(state, "window@test.example")
        check("window: the tracked message's delivery recorded",
              settle("delivered", lambda: "Action: delivered" in read_log(rec), 5),
              repr(os.listdir(regs)) + read_log(out)[-600:])
        stop(proc)

        name = "replay"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=30\n")
        qid = "DDDDDD033"
        with open(log, "a") as f:
            f.write(LINE % "FFFFFF033")  # unregistered: held 30 s, keeps the saved position
            f.write(HEADER % (stamp(then - 600), 23041, qid, "20261204213510.%s@mx" % qid))
            f.write(REMOVED % qid)
        check("replay: the earlier header line walked",
              sentinel(state, regs, log, "EEEEEE033", "s33@test.example", now))
        register(regs, qid, "replay@test.example", ["alice@test.example", "bob@test.example"],
                 then)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(then), 23021, qid, "replay@test.example"))
            f.write(LINE % qid)
        rec = record_path(state, "replay@test.example")
        check("replay: the tracked message's first delivery recorded",
              settle("delivered", lambda: "Action: delivered" in read_log(rec), 5))
        stop(proc)
        proc = restart(name, out)
        with open(log, "a") as f:
            f.write(BOB_SENT % qid)
        check("replay: later lines walked",
              sentinel(state, regs, log, "EEEEEE034", "s34@test.example", now, 10))
        settle("bob delivered", lambda: read_log(rec).count("Action: delivered") >= 2, 4)
        check("replay: the tracked message's registration survives the restart",
              os.path.exists(os.path.join(regs, qid + ".reg")), repr(os.listdir(regs)))
        check("replay: its delivery after the restart recorded",
              read_log(rec).count("Action: delivered") >= 2, read_log(rec))
        stop(proc)

        name = "stale-held"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=5\n")
        qid = "DDDDDD035"
        ident = "msgtrk-" + "0" * 31 + "5"
        register(regs, None, "stale@test.example", ["alice@test.example", "bob@test.example"],
                 now, ident)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now - 60), 23041, qid, "20261204213510.%s@mx" % qid))
            f.write(BOB_DEFER % qid)
            f.write(REMOVED % qid)
            f.write(CLIENT % (qid, ", orig_queue_id=" + ident))
            f.write(HEADER % (stamp(now), 23021, qid, "stale@test.example"))
            f.write(LINE % qid)
        rec = record_path(state, "stale@test.example")
        settle("delivered", lambda: "Action: delivered" in read_log(rec), 5)
        check("stale-held: later lines walked",
              sentinel(state, regs, log, "EEEEEE035", "s35@test.example", now))
        settle("the earlier line dropped", lambda: "a line held for a registration dropped"
               in read_log(out), 10)
        text = read_log(rec)
        check("stale-held: the tracked message delivered", "Action: delivered" in text, text)
        check("stale-held: the earlier message's held deferral dropped, not in the tracked "
              "record", "Disk quota" not in text
              and "a line held for a registration dropped" in read_log(out),
              text + read_log(out)[-600:])
        stop(proc)

        name = "malformed"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=1\n")
        with open(os.path.join(regs, "DDDDDD036.reg"), "w") as f:
            f.write("MSGTRK-POSTFIX-REG 1\nQueue-Id: DDDDDD036\nFuture-Field: x\n")
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now), 23041, "DDDDDD036", "m@test.example"))
        check("malformed: a later registered message's line still applied",
              sentinel(state, regs, log, "EEEEEE036", "s36@test.example", now),
              read_log(out)[-600:])
        check("malformed: left alone, warned",
              os.path.exists(os.path.join(regs, "DDDDDD036.reg"))
              and "DDDDDD036.reg: left alone" in read_log(out), read_log(out)[-600:])
        stop(proc)

        name = "ahead"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=1\n")
        qid = "DDDDDD038"
        register(regs, qid, "ahead@test.example", ["alice@test.example"], then)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now + 86400), 23041, qid, "x@mx"))
            f.write(HEADER % (stamp(now + 86400), 23041, "DDDDDD039", "y@mx"))
        check("ahead: later lines walked",
              sentinel(state, regs, log, "EEEEEE038", "s38@test.example", now))
        check("ahead: a header line ahead of the clock not compared: the registration stays",
              os.path.exists(os.path.join(regs, qid + ".reg")), repr(os.listdir(regs)))
        check("ahead: warned once",
              read_log(out).count("time stamps are ahead of this clock") == 1,
              read_log(out)[-600:])
        stop(proc)
        name = "tz-skew"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=1\n")
        stop(proc)
        qid = "DDDDDD051"
        ahead = 9 * 3600
        arrival = now - 12 * 3600
        register(regs, qid, "tz@test.example", ["alice@test.example"], arrival)
        with open(log, "a") as f:
            f.write(HEADER % (stamp(arrival + ahead), 23021, qid, "tz@test.example"))
            f.write(LINE % qid)
            f.write(HEADER % (stamp(arrival + 600 + ahead), 23021, "DDDDDD0FF", "z@mx"))
        os.utime(log, (arrival + 600, arrival + 600))
        proc = restart(name, out)
        rec = record_path(state, "tz@test.example")
        check("tz-skew: later lines walked",
              sentinel(state, regs, log, "EEEEEE051", "s51@test.example", now))
        check("tz-skew: the stamps found off the file's time at the start, warned",
              "stamped +32400 s off the file's modification time" in read_log(out),
              read_log(out)[-800:])
        check("tz-skew: the message's own header line left its registration alone",
              os.path.exists(os.path.join(regs, qid + ".reg"))
              and "Action: delivered" in read_log(rec), repr(os.listdir(regs)))
        stop(proc)

        name = "split-bind"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=5\n")
        qid = "DDDDDD052"
        ident = "msgtrk-" + "0" * 30 + "52"
        with open(log, "a") as f:
            # The earlier, untracked message: its deferral held for a registration.
            f.write(HEADER % (stamp(now - 60), 23041, qid, "earlier.%s@mx" % qid))
            f.write(BOB_DEFER % qid)
            f.write(REMOVED % qid)
            # The tracked message's client line (at its first RCPT).
            f.write(CLIENT % (qid, ", orig_queue_id=" + ident))
        # Its pending registration at the 354; bound by the follower at the client line.
        register(regs, None, "split@test.example", ["alice@test.example", "bob@test.example"],
                 now, ident)
        reg = os.path.join(regs, qid + ".reg")
        check("split-bind: the tracked message bound at its client line",
              wait_file(reg, 5), repr(os.listdir(regs)))
        # Its header line and delivery in later passes.
        with open(log, "a") as f:
            f.write(HEADER % (stamp(now), 23021, qid, "split@test.example"))
            f.write(LINE % qid)
        rec = record_path(state, "split@test.example")
        check("split-bind: later lines walked",
              sentinel(state, regs, log, "EEEEEE052", "s52@test.example", now))
        settle("the earlier line dropped", lambda: "a line held for a registration dropped"
               in read_log(out), 10)
        text = read_log(rec)
        check("split-bind: the earlier message's held deferral dropped, not in the tracked "
              "record", "Action: delivered" in text and "Disk quota" not in text
              and "a line held for a registration dropped" in read_log(out), text)
        stop(proc)

        name = "torn-fence"
        proc, state, regs, log, out = run(exe, tmp, name, "registration_wait=10\n")
        qid = "DDDDDD054"
        register(regs, qid, "tornfence@test.example",
                 ["alice@test.example", "bob@test.example"], now)
        rec = record_path(state, "tornfence@test.example")
        with open(log, "a") as f:
            f.write(LINE % qid)
        check("torn-fence: first state stored", wait_file(rec, 5))
        intact = open(rec, "rb").read()
        with open(rec, "wb") as f:
            f.write(b"garbage\n")
        with open(log, "a") as f:
            f.write(BOB_BOUNCED % qid)  # the tracked message's own line: held
            f.write(REMOVED % qid)
            # The queue id reused at once by a bounce notification (no client line).
            f.write(HEADER % (stamp(now), 23041, qid, "bounce.%s@mx" % qid))
        check("torn-fence: later lines walked",
              sentinel(state, regs, log, "EEEEEE054", "s54@test.example", now))
        with open(rec, "wb") as f:
            f.write(intact)  # the record reads again well within registration_wait
        check("torn-fence: the tracked message's own held line applied once its record "
              "reads again (its registration is still current)",
              settle("bob", lambda: "Action: failed" in read_log(rec), 10),
              read_log(rec) + read_log(out)[-800:])
        stop(proc)
        name = "torn-reuse"
        qid = "DDDDDD055"
        second = "msgtrk-" + "0" * 30 + "56"
        proc, state, regs, log, out, rec, intact = torn_first(
            name, qid, "msgtrk-" + "0" * 30 + "55", "torn-first@test.example")
        register(regs, None, "torn-second@test.example",
                 ["alice@test.example", "bob@test.example"], now, second)
        with open(log, "a") as f:
            f.write(BOB_BOUNCED % qid)  # the first message's line: held, record unreadable
            f.write(REMOVED % qid)
            f.write(CLIENT % (qid, ", orig_queue_id=" + second))
            f.write(HEADER % (stamp(now), 23022, qid, "torn-second@test.example"))
            f.write(LINE % qid)
        rec2 = record_path(state, "torn-second@test.example")
        check("torn-reuse: later lines walked",
              sentinel(state, regs, log, "EEEEEE055", "s55@test.example", now))
        with open(rec, "wb") as f:
            f.write(intact)
        check("torn-reuse: the first message's held line fenced off by the second's client "
              "line", settle("dropped", lambda: "a line held for a registration dropped"
                             in read_log(out), 10), read_log(out)[-800:])
        text = read_log(rec2)
        check("torn-reuse: not in the second message's record",
              "Action: delivered" in text and "unknown user" not in text, text)
        stop(proc)

        name = "torn-narrow"
        qid = "DDDDDD057"
        fourth = "msgtrk-" + "0" * 30 + "58"
        proc, state, regs, log, out, rec, intact = torn_first(
            name, qid, "msgtrk-" + "0" * 30 + "57", "narrow-first@test.example")
        register(regs, None, "narrow-fourth@test.example",
                 ["alice@test.example", "bob@test.example"], now, fourth)
        with open(log, "a") as f:
            f.write(BOB_BOUNCED % qid)  # the first message's line: held, record unreadable
            f.write(REMOVED % qid)
            # An untracked message: its client line sets the first's registration aside
            # (the held line fenced off); its delivery line waits for a registration.
            f.write(CLIENT % (qid, ""))
            f.write(HEADER % (stamp(now), 23022, qid, "narrow-untracked@test.example"))
            f.write(BOB_DEFER % qid)
            f.write(REMOVED % qid)
            # Another untracked message's client line: a new fence (nothing set aside),
            # which must not narrow the first.
            f.write(CLIENT % (qid, ""))
            f.write(REMOVED % qid)
            # A tracked message: its registration current when the held line is retried.
            f.write(CLIENT % (qid, ", orig_queue_id=" + fourth))
            f.write(HEADER % (stamp(now), 23023, qid, "narrow-fourth@test.example"))
            f.write(LINE % qid)
        rec4 = record_path(state, "narrow-fourth@test.example")
        check("torn-narrow: later lines walked",
              sentinel(state, regs, log, "EEEEEE057", "s57@test.example", now))
        with open(rec, "wb") as f:
            f.write(intact)
        check("torn-narrow: the held line still fenced off after a later fence",
              settle("dropped", lambda: "a line held for a registration dropped"
                     in read_log(out), 15), read_log(out)[-800:])
        text = read_log(rec4)
        check("torn-narrow: not in the fourth message's record",
              "Action: delivered" in text and "unknown user" not in text
              and "Disk quota" not in text, text)
        stop(proc)
    finally:
        if not t.failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# kept " + tmp)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
