#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-track-fsyncs.py: a tracked message through the relay costs at most two
syncs (issue 10, item 5/7).

  test-relay-track-fsyncs.py MSGTRK_RELAY

What: a relay whose next hop is a sink that answers 250 to everything is traced with
  `strace -f -c -e trace=fsync,fdatasync,syncfs` while one session sends MESSAGES tracked
  messages, until its queue is empty (each delivered, its tracking record written). Per
  message: the fsync of its queue file and one fdatasync of the track store's journal
  (docs/durability.md); plus one directory fsync per RELAY_QUEUE_STOCK_SIZE queue names
  and the journal's creation (a file and a directory fsync, once per process). Before the
  journal, the record cost 2 fsyncs: 3 per message.
Limits: skipped (77) without strace or when tracing is not permitted.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import AUTH, HarnessError, Relay, SmtpClient, make_body, wait_for  # noqa: E402

MESSAGES = 40
RELAY_QUEUE_STOCK_SIZE = 32  # relay-queue.h
JOURNAL_CREATION = 2         # durable-group.c: the journal file, then its directory


class Sink:
    """An SMTP server that accepts every message (250 to all, 354 to DATA)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rwb")

        def say(t):
            f.write(t + b"\r\n")
            f.flush()
        try:
            say(b"220 sink ESMTP")
            while True:
                line = f.readline()
                if not line:
                    break
                v = line[:4].upper()
                if v in (b"EHLO", b"HELO"):
                    say(b"250-sink\r\n250 PIPELINING")
                elif v == b"DATA":
                    say(b"354 go on")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    self.count += 1
                    say(b"250 2.0.0 queued")
                elif v == b"QUIT":
                    say(b"221 bye")
                    break
                else:
                    say(b"250 ok")
        except OSError:
            pass
        c.close()


def main():
    exe = sys.argv[1]
    if shutil.which("strace") is None:
        print("SKIP: strace not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="relay-track-fsyncs-")
    sink = Sink()
    a = None
    out = os.path.join(tmp, "strace.out")
    try:
        a = Relay(exe, tmp, "a", "a.test", {"example.org": "smtp:127.0.0.1:%d" % sink.port})
        a.start()
        st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,syncfs",
                               "-o", out, "-p", str(a.proc.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        if st.poll() is not None:
            print("SKIP: strace cannot attach: %s" % st.stderr.read().decode(errors="replace"))
            return 77
        c = SmtpClient(a.port)
        c.cmd("EHLO fsyncs.test", 250)
        for i in range(MESSAGES):
            c.cmd("MAIL FROM:<alice@sender.example> ENVID=tf%d@sender.example MTRK=%s"
                  % (i, AUTH), 250)
            c.cmd("RCPT TO:<bob@example.org>", 250)
            code, text = c.data(make_body("fsync %d" % i))
            if code != 250:
                raise HarnessError("DATA answered %s" % text)
        c.close()
        wait_for("every message delivered", lambda: sink.count >= MESSAGES, timeout=60)
        wait_for("the queue to empty", lambda: a.queue_files() == [], timeout=60)
        tracking = os.path.join(a.state_dir, "tracking")
        wait_for("every tracking record", lambda: len(
            [n for n in os.listdir(tracking) if n.endswith(".trk")]) >= MESSAGES, timeout=60)
        time.sleep(0.5)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=30)
        calls = 0
        with open(out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                             r"(fsync|fdatasync|syncfs)\s*$", line)
                if m:
                    calls += int(m.group(1))
        limit = 2 * MESSAGES + MESSAGES // RELAY_QUEUE_STOCK_SIZE + 1 + JOURNAL_CREATION
        if calls == 0 or calls > limit:
            raise HarnessError("%d syncs for %d tracked messages delivered; want 1..%d"
                               % (calls, MESSAGES, limit))
        a.kill9()
        print("ok: %d syncs for %d tracked messages delivered (%.2f each)"
              % (calls, MESSAGES, calls / MESSAGES))
        return 0
    except (HarnessError, OSError, socket.error, subprocess.SubprocessError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        if a is not None:
            print("--- log:\n%s" % a.log(), file=sys.stderr)
        return 1
    finally:
        if a is not None:
            a.cleanup()
        sink.sock.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
