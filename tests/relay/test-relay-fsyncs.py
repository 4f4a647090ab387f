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
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from relay_harness import (HarnessError, Relay, SyncTrace, clean_up,  # noqa: E402
                           report_failure, send_tracked)

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
        st = SyncTrace(a.proc.pid, out)
        if st.failed is not None:
            print("SKIP: strace cannot attach: %s" % st.failed)
            return 77
        send_tracked(a.port, MESSAGES, "fs")
        time.sleep(0.3)
        calls = st.calls()
        limit = MESSAGES + MESSAGES // RELAY_QUEUE_STOCK_SIZE + 1
        if calls == 0 or calls > limit:
            raise HarnessError("%d fsyncs for %d accepted messages; want 1..%d"
                               % (calls, MESSAGES, limit))
        a.kill9()
        print("ok: %d fsyncs for %d accepted messages" % (calls, MESSAGES))
        return 0
    except (HarnessError, OSError, subprocess.SubprocessError) as e:
        return report_failure(e, a)
    finally:
        mute.close()
        clean_up(tmp, a)


if __name__ == "__main__":
    sys.exit(main())
