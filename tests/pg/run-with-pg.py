#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""run-with-pg.py CMD [ARGS...]: run CMD with a private PostgreSQL 15 started for it.

CMD sees MSGTRK_TEST_PG_CONNINFO (a libpq string: unix socket in a temporary directory)
and MSGTRK_TEST_PG_DIR. Exits 77 (skipped) when PostgreSQL is not installed; otherwise
with CMD's status. The cluster is stopped and removed at the end (MSGTRK_KEEP_PG=1 keeps
it for a post-mortem). CMD killed by a signal: says which, exits 128 + its number. Under
AddressSanitizer (ASAN_OPTIONS set), CMD also runs with detect_stack_use_after_return=1:
the PostgreSQL store hands lookups that live on one thread's stack to another thread
(a batch's leader answering waiting callers), and only that option catches a touch after
the owner returned (it made /store/postgresql-only/lookup-batch fail 6 times in 6 before
batch_done() stopped touching answered callers' lookups; without it, 1 run in ~20
crashed).
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgharness  # noqa: E402


def main():
    if not pgharness.available():
        print("# SKIP PostgreSQL 15 is not installed (tools/deps.sh test)")
        return pgharness.SKIP
    pg = pgharness.PgServer()
    try:
        pg.start()
        env = dict(os.environ, MSGTRK_TEST_PG_CONNINFO=pg.conninfo, MSGTRK_TEST_PG_DIR=pg.dir)
        if "ASAN_OPTIONS" in env and "detect_stack_use_after_return" not in env["ASAN_OPTIONS"]:
            env["ASAN_OPTIONS"] += ":detect_stack_use_after_return=1"
        status = subprocess.run(sys.argv[1:], env=env).returncode
        if status < 0:
            print("run-with-pg.py: %s killed by signal %d" % (sys.argv[1], -status),
                  file=sys.stderr)
            return 128 - status
        return status
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
