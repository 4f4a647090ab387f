#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-fsyncs.py: an accepted message costs the relay one fsync (issue 10, item 5).

  test-relay-fsyncs.py MSGTRK_RELAY

What: a relay whose next hop takes connections and never greets (no delivery attempt
  ends, so nothing but acceptance writes) is traced with `strace -f -c -e
  trace=fsync,fdatasync,syncfs` while one session sends MESSAGES tracked messages. It may call
  fsync once per message plus one directory fsync per RELAY_QUEUE_STOCK_SIZE new names
  (and one for a partial stock): at most MESSAGES + MESSAGES / STOCK + 1. Before this
  design it was three per message (message file, envelope file, directory).
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
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import AUTH, HarnessError, Relay, SmtpClient, make_body  # noqa: E402

MESSAGES = 40
RELAY_QUEUE_STOCK_SIZE = 32  # relay-queue.h


def main():
    exe = sys.argv[1]
    if shutil.which("strace") is None:
        print("SKIP: strace not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="relay-fsyncs-")
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)
    a = None
    out = os.path.join(tmp, "strace.out")
    try:
        a = Relay(exe, tmp, "a", "a.test",
                  {"example.org": "smtp:127.0.0.1:%d" % mute.getsockname()[1]},
                  queue={"command_timeout": "60", "workers": "1"})
        a.start()
        st = subprocess.Popen(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,syncfs", "-o",
                               out,
                               "-p", str(a.proc.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        if st.poll() is not None:
            print("SKIP: strace cannot attach: %s" % st.stderr.read().decode(errors="replace"))
            return 77
        c = SmtpClient(a.port)
        c.cmd("EHLO fsyncs.test", 250)
        for i in range(MESSAGES):
            c.cmd("MAIL FROM:<alice@sender.example> ENVID=fs%d@sender.example MTRK=%s"
                  % (i, AUTH), 250)
            c.cmd("RCPT TO:<bob@example.org>", 250)
            code, text = c.data(make_body("fsync %d" % i))
            if code != 250:
                raise HarnessError("DATA answered %s" % text)
        c.close()
        time.sleep(0.3)
        st.send_signal(signal.SIGINT)
        st.wait(timeout=30)
        calls = 0
        with open(out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                             r"(fsync|fdatasync|syncfs)\s*$", line)
                if m:
                    calls += int(m.group(1))
        limit = MESSAGES + MESSAGES // RELAY_QUEUE_STOCK_SIZE + 1
        if calls == 0 or calls > limit:
            raise HarnessError("%d fsyncs for %d accepted messages; want 1..%d"
                               % (calls, MESSAGES, limit))
        a.kill9()
        print("ok: %d fsyncs for %d accepted messages" % (calls, MESSAGES))
        return 0
    except (HarnessError, OSError, socket.error, subprocess.SubprocessError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        if a is not None:
            print("--- log:\n%s" % a.log(), file=sys.stderr)
        return 1
    finally:
        if a is not None:
            a.cleanup()
        mute.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
