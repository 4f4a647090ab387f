#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-queue-file.py: one file per accepted message, and what start-up does with it.

  test-relay-queue-file.py MSGTRK_RELAY

What: relay A accepts tracked messages for a next hop that takes the TCP connection and
  never greets (so no delivery attempt ends) and is killed with SIGKILL after each 250.
  Its queue/ must then hold exactly one file per message, <id>.msg, opening with the
  envelope block (RELAY_QUEUE_ENVELOPE_TAG) whose checksum holds: no separate envelope
  file (docs/relay.md, "Queue files"); empty files (the stock of durable names) aside.
  Planted before the restart: a file whose envelope has RELAY_QUEUE_MAX_ENVELOPE octets
  (delivered) and one with one octet more (removed, never delivered), an .env without its .msg (left by a crash after a delivered
  message's removal), a copy of a queue file with one octet of its message changed (a
  write cut by a crash before its fsync) and an empty file. After a restart with a
  working next hop B every accepted message reaches B's Maildir once, the damaged copy
  never does, and A's queue/ ends empty (no file at all).
Limits: every wait bounded (relay_harness.wait_for).
"""

import glob
import hashlib
import os
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (QUEUE_FREE_TAG, HarnessError, Relay, clean_up,  # noqa: E402
                           report_failure, send_and_kill, wait_for)

MESSAGES = 3
TAG = b"X-Msgtrk-Queue-Envelope: "
RELAY_QUEUE_MAX_ENVELOPE = 16 * 1024 * 1024  # relay-queue.h


def planted(data, old_id, new_id, subject, envelope_size):
    """A valid queue file made from @data (another one), under @new_id, with @subject and
    an envelope padded (an unknown key, ignored) to exactly @envelope_size octets."""
    head, _, rest = data.partition(b"\r\n")
    env_len = int(head[len(TAG):len(TAG) + 10])
    env, body = rest[:env_len], rest[env_len:]
    env = env.replace(b"id=" + old_id, b"id=" + new_id)
    pad = envelope_size - len(env) - len(b"pad=\n")
    env = env.replace(b"[message]\n", b"[message]\npad=" + b"x" * pad + b"\n", 1)
    assert len(env) == envelope_size
    body = body.replace(b"Subject: queue file 0", b"Subject: " + subject)
    rest = env + body
    return (TAG + b"%010d " % envelope_size + hashlib.sha256(rest).hexdigest().encode()
            + b"\r\n" + rest)


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="relay-queue-file-")
    a = b = None
    # A next hop that takes connections (the kernel's backlog) and never says a word.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)
    try:
        b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"})
        b.start()
        a = Relay(exe, tmp, "a", "a.test",
                  {"example.org": "smtp:127.0.0.1:%d" % mute.getsockname()[1]},
                  queue={"retry_first": "1", "retry_max_interval": "1",
                         "command_timeout": "60"})
        for i in range(MESSAGES):
            a.start()
            send_and_kill(a, "qf%d@sender.example" % i, "bob@example.org", "queue file %d" % i,
                          "queue-file.test", "NOTIFY=FAILURE")
        names = [os.path.basename(p) for p in a.queue_files()]
        if len(names) != MESSAGES or not all(n.endswith(".msg") for n in names):
            raise HarnessError("want %d .msg files and nothing else in queue/, got %r"
                               % (MESSAGES, names))
        for p in a.queue_files():
            with open(p, "rb") as f:
                data = f.read()
            head, _, rest = data.partition(b"\r\n")
            if not head.startswith(TAG):
                raise HarnessError("%s does not open with the envelope block: %r" % (p, head))
            if head.split(b" ")[-1].decode() != hashlib.sha256(rest).hexdigest():
                raise HarnessError("%s: the checksum in its head does not hold" % p)
        qdir = os.path.join(a.state_dir, "queue")
        damaged = bytearray(data.replace(b"Subject: queue file", b"Subject: queue filX"))
        with open(os.path.join(qdir, "00000000000000CAFEBABE.msg"), "wb") as f:
            f.write(bytes(damaged).replace(b"id=" + os.path.basename(p)[:-4].encode(),
                                           b"id=00000000000000CAFEBABE"))
        open(os.path.join(qdir, "00000000000000FEEDFACE.msg"), "wb").close()
        for q in a.queue_files():
            with open(q, "rb") as f:
                first = f.read()
            if b"Subject: queue file 0\r\n" in first:
                break
        old_id = os.path.basename(q)[:-4].encode()
        for new_id, subject, size in ((b"00000000000000000A71A7", b"at the limit",
                                       RELAY_QUEUE_MAX_ENVELOPE),
                                      (b"00000000000000000BA57A", b"past the limit",
                                       RELAY_QUEUE_MAX_ENVELOPE + 1)):
            with open(os.path.join(qdir, new_id.decode() + ".msg"), "wb") as f:
                f.write(planted(first, old_id, new_id, subject, size))
        stray = os.path.join(a.state_dir, "queue", "00000000000000DEADBEEF.env")
        with open(stray, "w") as f:
            f.write("[message]\nversion=1\nid=00000000000000DEADBEEF\nsender=\nrecipients=1\n"
                    "[rcpt 0]\naddress=ghost@example.org\n")
        a.set_routes({"example.org": b.route()})
        a.start()
        mails = b.wait_mail("bob@example.org", MESSAGES + 1, 60)
        wait_for("A's queue to empty", lambda: a.queue_files() == [], 30)
        # what remains holds no message: files of done messages marked free for reuse
        for p in glob.glob(os.path.join(qdir, "*")):
            with open(p, "rb") as f:
                if not f.read().startswith(QUEUE_FREE_TAG):
                    raise HarnessError("a file left in queue/ after start-up and delivery: "
                                       "%s" % p)
        subjects = sorted(l for m in mails for l in m.split(b"\n") if l.startswith(b"Subject:"))
        want = sorted([b"Subject: queue file %d" % i for i in range(1, MESSAGES)]
                      + [b"Subject: queue file 0", b"Subject: at the limit"])
        if b"filX" in b"".join(mails) or subjects != want:
            raise HarnessError("delivered %r, want %r" % (subjects, want))
        if any(TAG in m for m in mails):
            raise HarnessError("the envelope block leaked into a delivered message")
        a.stop()
        left = glob.glob(os.path.join(qdir, "*"))
        if left:
            raise HarnessError("files left in queue/ after a clean stop: %r" % left)
        b.stop()
        print("ok: one queue file per message; %d delivered after SIGKILL" % MESSAGES)
        return 0
    except (HarnessError, OSError) as e:
        return report_failure(e, a, b)
    finally:
        mute.close()
        clean_up(tmp, a, b)


if __name__ == "__main__":
    sys.exit(main())
