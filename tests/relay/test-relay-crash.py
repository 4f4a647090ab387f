#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-crash.py: nothing a relay acknowledged is lost when it is killed (SIGKILL).

  test-relay-crash.py MSGTRK_RELAY

Round after round, relay A accepts a message and is killed with SIGKILL the moment its
250 reply to DATA arrives, then restarted. Half the messages go to a local Maildir, half
to next hop B, which is down during the crashes (so they sit in A's queue) and is started
afterwards on the port it had before. At the end every acknowledged message is in a
Maildir, A's queue is empty, and A exits 0 on SIGTERM.
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (HarnessError, Relay, clean_up, report_failure,  # noqa: E402
                           send_and_kill, wait_for)

ROUNDS = 6


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="relay-crash-")
    a = b = None
    try:
        b = Relay(exe, tmp, "b", "b.test", {"example.org": "local:"})
        b_port = b.start()
        b.stop()
        a = Relay(exe, tmp, "a", "a.test",
                  {"example.org": "smtp:127.0.0.1:%d" % b_port, "local.example": "local:"},
                  queue={"retry_first": "1", "retry_max_interval": "1"})
        for i in range(ROUNDS):
            a.start()
            rcpt = "bob@example.org" if i % 2 == 0 else "carol@local.example"
            send_and_kill(a, "mtrk.crash%d@sender.example" % i, rcpt, "crash %d" % i,
                          "crash.test")
        a.start()
        for attempt in range(20):
            try:
                b.start(b_port)
                break
            except HarnessError:
                if attempt == 19:
                    raise
        remote = b.wait_mail("bob@example.org", ROUNDS // 2, 60)
        local = a.wait_mail("carol@local.example", ROUNDS - ROUNDS // 2, 60)
        subjects = sorted(s for m in remote + local
                          for s in [l for l in m.split(b"\n") if l.startswith(b"Subject:")])
        want = sorted(b"Subject: crash %d" % i for i in range(ROUNDS))
        if sorted(set(subjects)) != want:
            raise HarnessError("delivered %r, want %r" % (subjects, want))
        wait_for("A's queue to empty", lambda: a.queue_files() == [], 30)
        tmpdir = os.path.join(a.state_dir, "queue-tmp")
        if os.listdir(tmpdir):
            raise HarnessError("leftovers in queue-tmp: %r" % os.listdir(tmpdir))
        a.stop()
        b.stop()
        print("ok: %d messages survived SIGKILL after 250" % ROUNDS)
        return 0
    except (HarnessError, OSError) as e:
        return report_failure(e, a, b)
    finally:
        clean_up(tmp, a, b)


if __name__ == "__main__":
    sys.exit(main())
