#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""run-with-pg.py CMD [ARGS...]: run CMD with a private PostgreSQL 15 started for it.

CMD sees MSGTRK_TEST_PG_CONNINFO (a libpq string: unix socket in a temporary directory)
and MSGTRK_TEST_PG_DIR. Exits 77 (skipped) when PostgreSQL is not installed; otherwise
with CMD's status. The cluster is stopped and removed at the end (MSGTRK_KEEP_PG=1 keeps
it for a post-mortem).
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
        return subprocess.run(sys.argv[1:], env=env).returncode
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
