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
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (HarnessError, Relay, ScriptedHop, SyncTrace,  # noqa: E402
                           clean_up, report_failure, send_tracked, wait_for)

MESSAGES = 40
RELAY_QUEUE_STOCK_SIZE = 32  # relay-queue.h
JOURNAL_CREATION = 2         # durable-group.c: the journal file, then its directory


def main():
    exe = sys.argv[1]
    if shutil.which("strace") is None:
        print("SKIP: strace not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="relay-track-fsyncs-")
    sink = ScriptedHop(name="sink", keywords=("PIPELINING",))
    a = None
    out = os.path.join(tmp, "strace.out")
    try:
        a = Relay(exe, tmp, "a", "a.test", {"example.org": "smtp:127.0.0.1:%d" % sink.port})
        a.start()
        st = SyncTrace(a.proc.pid, out)
        if st.failed is not None:
            print("SKIP: strace cannot attach: %s" % st.failed)
            return 77
        send_tracked(a.port, MESSAGES, "tf")
        wait_for("every message delivered", lambda: len(sink.received()) >= MESSAGES, timeout=60)
        wait_for("the queue to empty", lambda: a.queue_files() == [], timeout=60)
        tracking = os.path.join(a.state_dir, "tracking")
        wait_for("every tracking record", lambda: len(
            [n for n in os.listdir(tracking) if n.endswith(".trk")]) >= MESSAGES, timeout=60)
        time.sleep(0.5)
        calls = st.calls()
        limit = 2 * MESSAGES + MESSAGES // RELAY_QUEUE_STOCK_SIZE + 1 + JOURNAL_CREATION
        if calls == 0 or calls > limit:
            raise HarnessError("%d syncs for %d tracked messages delivered; want 1..%d"
                               % (calls, MESSAGES, limit))
        a.kill9()
        print("ok: %d syncs for %d tracked messages delivered (%.2f each)"
              % (calls, MESSAGES, calls / MESSAGES))
        return 0
    except (HarnessError, OSError, subprocess.SubprocessError) as e:
        return report_failure(e, a)
    finally:
        sink.close()
        clean_up(tmp, a)


if __name__ == "__main__":
    sys.exit(main())
