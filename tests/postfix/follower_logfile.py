#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""follower_logfile.py: what the follower's tests on a log file they write share
(tests/postfix: test-postfix-follower-limits, -reuse, -rotated-backlog).

Postfix 3.7 log line templates (CLIENT, HEADER, LINE, REMOVED, the bounce, alias and
content-filter lines), stamp() for a line's time stamp, and a follower on such a log:
run() starts one (its configuration, state directory, registration directory and a
postconf that answers as told: fake_postconf()), stop() ends it, record_path() and
wait_file() find the record it writes. No Postfix needed; as root the follower runs as
nobody (the servers refuse to run as root).
"""

import hashlib
import os
import pwd
import signal
import subprocess
import time

from tracking_harness import read_log, settle

CLIENT = ("Dec 04 21:35:13 mx postfix/smtpd[23020]: %s: client=localhost[127.0.0.1]%s\n")
REJECT = ("Dec 04 21:35:13 mx postfix/cleanup[23021]: %s: reject: header Subject: reject-me "
          "from localhost[127.0.0.1]; from=<s@test.example> to=<alice@test.example> "
          "proto=ESMTP helo=<c>: 5.7.1 no thanks\n")

CLEANUP = "Dec 04 21:35:13 mx postfix/cleanup[23021]: %s: message-id=<%s>\n"

PICKUP = "Dec 04 21:35:13 mx postfix/pickup[23019]: %s: uid=1000 from=<user@test.example>\n"

LINE = ("Dec 04 21:35:14 mx postfix/virtual[23030]: %s: to=<alice@test.example>, "
        "relay=virtual, delay=0.04, delays=0.01/0.01/0/0.02, dsn=2.0.0, "
        "status=sent (delivered to maildir)\n")

REMOVED = "Dec 04 21:35:15 mx postfix/qmgr[23024]: %s: removed\n"

# A message's header line, as cleanup logs it for every message (the first line of one
# without a client line): time stamp (stamp()), which cleanup process, queue id,
# Message-ID.
HEADER = "%s mx postfix/cleanup[%d]: %s: message-id=<%s>\n"


def stamp(t):
    """@t (unix seconds) as Postfix's maillog_file writes it (local time, no year)."""
    return time.strftime("%b %d %H:%M:%S", time.localtime(t))

# A bounce daemon's notification (Postfix 3.7 logs the notice after the queue file is
# written: its header, qmgr and even a delivery line may come before it).
BOUNCE_NOTE = ("Dec 04 21:36:00 mx postfix/bounce[23040]: %s: sender non-delivery "
               "notification: %s\n")
BOUNCE_QMGR = ("Dec 04 21:36:00 mx postfix/qmgr[23024]: %s: from=<>, size=2336, nrcpt=1 "
               "(queue active)\n")
BOUNCE_DEFER = ("Dec 04 21:36:00 mx postfix/virtual[23030]: %s: to=<alice@test.example>, "
                "relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=4.2.2, status=deferred "
                "(maildir delivery failed: Disk quota exceeded)\n")

# local(8) forwarding an alias (team@local.test.example -> alice@test.example).
FORWARD = ("Dec 04 21:35:14 mx postfix/local[23033]: %s: to=<team@local.test.example>, "
           "relay=local, delay=0.04, delays=0.01/0.01/0/0.02, dsn=2.0.0, "
           "status=sent (forwarded as %s)\n")
MEMBER_SENT = ("Dec 04 21:35:14 mx postfix/virtual[23030]: %s: to=<alice@test.example>, "
               "orig_to=<team@local.test.example>, relay=virtual, delay=0.02, "
               "delays=0.02/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)\n")
MEMBER_BOUNCED = ("Dec 04 21:36:14 mx postfix/virtual[23030]: %s: to=<alice@test.example>, "
                  "orig_to=<team@local.test.example>, relay=virtual, delay=0.02, "
                  "delays=0.02/0/0/0, dsn=5.2.2, status=bounced (mailbox full)\n")


# A content filter's copy (FILTER_PARENT derives BBBBBB222's registration), its qmgr line
# logged before the parent's.
FILTER_PARENT = ("Dec 04 21:35:14 mx postfix/smtp[1]: AAAAAA111: to=<r@far.example>, "
                 "relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, "
                 "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: "
                 "queued as BBBBBB222)\n")
FILTER_DEFERRED = ("Dec 04 21:35:14 mx postfix/qmgr[2]: BBBBBB222: to=<r@far.example>, "
                   "relay=none, delay=0.1, delays=0.1/0/0/0, dsn=4.4.1, status=deferred "
                   "(delivery temporarily suspended: connect to mx.far.example[192.0.2.9]:25: "
                   "Connection refused)\n")
FILTER_SENT = ("Dec 04 21:45:20 mx postfix/smtp[3]: BBBBBB222: to=<r@far.example>, "
               "relay=mx.far.example[192.0.2.9]:25, delay=600, delays=600/0/0.1/0.1, "
               "dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")


# A content filter taking two recipients of AAAAAA111 in one SMTP transaction: both
# parent lines say "queued as BBBBBB222" (one re-injected copy with both recipients).
# The copy's line for b may be logged between the parent's two lines (the copy is queued
# before the filter answers the parent's smtp client, which then logs a, then b).
def filter_leg(rcpt):
    return ("Dec 04 21:35:14 mx postfix/smtp[1]: AAAAAA111: to=<%s>, "
            "relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, "
            "status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: "
            "queued as BBBBBB222)\n" % rcpt)


FILTER_B_BOUNCED = ("Dec 04 21:35:15 mx postfix/smtp[3]: BBBBBB222: to=<b@far.example>, "
                    "relay=mx.far.example[192.0.2.9]:25, delay=1, delays=0/0/0.1/0.1, "
                    "dsn=5.1.1, status=bounced (host mx.far.example[192.0.2.9] said: 550 "
                    "5.1.1 no such user (in reply to RCPT TO command))\n")
FILTER_A_SENT = ("Dec 04 21:35:15 mx postfix/smtp[3]: BBBBBB222: to=<a@far.example>, "
                 "relay=mx.far.example[192.0.2.9]:25, delay=1, delays=0/0/0.1/0.1, "
                 "dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")


def record_blocks(text):
    """{final recipient: its block} of a stored record's text."""
    out = {}
    for block in text.replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if line.lower().startswith("final-recipient:"):
                out[line.split(";", 1)[-1].strip().lower()] = block
    return out


def record_path(state, envid):
    return os.path.join(state, "tracking", hashlib.sha256(envid.encode()).hexdigest() + ".trk")


def wait_file(path, timeout):
    return settle(path, lambda: os.path.exists(path), timeout)


def fake_postconf(tmp, answer, lifetime="2d"):
    """A postconf (as Postfix's: "name = value" lines, or values only with -h; a parameter
    it does not know left out, with a warning on stderr) whose info_log_address_format is
    @answer and maximal_queue_lifetime @lifetime; @answer None: it fails (exit 1);
    "unknown": it does not know info_log_address_format (Postfix < 3.5). Each call is
    appended to the file of the same name + ".calls"."""
    path = os.path.join(tmp, "postconf-%s-%s" % (answer or "fails", lifetime))
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"$*\" >> %s.calls\n" % path)
            if not answer:
                f.write("exit 1\n")
            f.write('h=; skip=\nfor a in "$@"; do\n'
                    '  if [ -n "$skip" ]; then skip=; continue; fi\n'
                    '  v=\n'
                    '  case "$a" in\n'
                    '    -c) skip=1; continue;;\n'
                    '    -h) h=1; continue;;\n'
                    '    -*) continue;;\n'
                    '    maximal_queue_lifetime) v=%s;;\n'
                    '    info_log_address_format) v=%s;;\n'
                    '  esac\n'
                    '  if [ -z "$v" ]; then\n'
                    '    echo "postconf: warning: $a: unknown parameter" >&2\n'
                    '  elif [ -n "$h" ]; then echo "$v"; else echo "$a = $v"; fi\n'
                    'done\n' % (lifetime, "" if answer == "unknown" else answer))
        os.chmod(path, 0o755)
    return path

# A delivery line of about 800 octets (a long remote reply), for max_held_bytes.
LONG_LINE = ("Dec 04 21:35:14 mx postfix/smtp[23030]: %s: to=<alice@test.example>, "
             "relay=mx.far.example[192.0.2.9]:25, delay=0.04, delays=0.01/0.01/0/0.02, "
             "dsn=2.0.0, status=sent (250 2.0.0 " + "x" * 600 + ")\n")


def run(exe, tmp, name, conf_extra, postconf_answer="external", lifetime_conf=True):
    state = os.path.join(tmp, name)
    regs = os.path.join(state, "postfix-registrations")
    os.makedirs(regs)
    log = os.path.join(tmp, name + ".maillog")
    open(log, "w").close()
    if os.geteuid() == 0:
        # The servers refuse to run as root: as nobody, which must read the log and write
        # the state directory.
        nobody = pwd.getpwnam("nobody")
        os.chmod(tmp, 0o755)
        os.chmod(log, 0o644)
        for d in (state, regs):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        conf_extra += "user=nobody\n"
    conf = os.path.join(tmp, name + ".conf")
    with open(conf, "w") as f:
        f.write("[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\n"
                "%spoll_interval=20\npostconf=%s\n%s"
                % (log, state, "queue_lifetime=1d\n" if lifetime_conf else "",
                   fake_postconf(tmp, postconf_answer), conf_extra))
    out = os.path.join(tmp, name + ".out")
    proc = subprocess.Popen([exe, "--config", conf, "--verbose"], stdout=open(out, "w"),
                            stderr=subprocess.STDOUT)
    # Running once it says "Started" (its first poll done: a line written from now on is
    # read within poll_interval), or gone (refused at start); not a guess of 0.3 s.
    settle(name + " started", lambda: proc.poll() is not None or "Started" in read_log(out),
           20)
    return proc, state, regs, log, out


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(10)
