#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-pg-demo.py: the README demo on the PostgreSQL store (what tools/demo-pg.sh runs).

What: starts a private PostgreSQL 15 (pgharness.py), runs the demo's own end-to-end checks
(tests/demo/test-demo.py, tests 01 to 05: states, hops, DSNs ingested, JSON, nothing left
behind) with MSGTRK_DEMO_PG_DIR set, so that every relay and mtqpd of tools/demonet.py uses
backend=postgresql; then checks that the records are in the hops' databases (the tracked
message was answered from PostgreSQL, not from files). How: argv is --build-dir DIR.
Limits: skipped (77) without PostgreSQL. Never: touches the system's cluster.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pgharness  # noqa: E402

DEMO_TEST = os.path.join(os.path.dirname(HERE), "demo", "test-demo.py")
DEMO_CASES = ["DemoTest.test_01_exit_and_sections", "DemoTest.test_02_show_states_and_hops",
              "DemoTest.test_03_after_ingest", "DemoTest.test_04_json_same_as_text",
              "DemoTest.test_05_nothing_left_behind"]
# The hops with a tracking-capable relay on the message's path (tools/demonet.py).
TRACKED_HOPS = ["submit", "relay", "mx"]
RUN_TIMEOUT = 400


def rows(pg, db):
    out = subprocess.run([os.path.join(pgharness.PG_BIN, "psql"), "-X", "-A", "-t", "-q",
                          "-h", pg.dir, "-U", "msgtrk", "-d", db, "-c",
                          "SELECT count(*) FROM msgtrk_record"],
                         capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip()) if out.returncode == 0 else -1


def main():
    if not pgharness.available():
        print("SKIP: PostgreSQL 15 is not installed (tools/deps.sh test)")
        return pgharness.SKIP
    pg = pgharness.PgServer()
    try:
        pg.start()
        env = dict(os.environ, MSGTRK_DEMO_PG_DIR=pg.dir)
        r = subprocess.run([sys.executable, DEMO_TEST] + sys.argv[1:] + DEMO_CASES, env=env,
                           timeout=RUN_TIMEOUT)
        if r.returncode != 0:
            print("FAIL: the demo's checks on PostgreSQL (exit %d)" % r.returncode)
            return 1
        counts = {h: rows(pg, "msgtrk_demo_" + h) for h in TRACKED_HOPS}
        print("records per hop database: %r" % counts)
        if any(n < 1 for n in counts.values()):
            print("FAIL: a hop on the message's path stored nothing in PostgreSQL")
            return 1
        print("ok: demo on PostgreSQL")
        return 0
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main())
