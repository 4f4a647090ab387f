#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""ListStatus (issue 8, item 22): the statuses of everything msgtrkd tracks, paged, for a
client that matches a whole folder itself instead of sending every Message-ID.

What: the real msgtrkd on a private bus, its store seeded with sqlite3 (as
bench/bench-claws-sent.py does) with MSGTRKD_STATUS_PAGE_MAX + 5 messages that have a
Message-ID, two records of one Message-ID (an aborted attempt and its retry) and one
without a Message-ID. Checks: one entry per Message-ID (the record GetStatus gives), in
Message-ID order, none without a Message-ID; pages at the limit (max_count 0, the limit)
and past it (limit + 1 gets the limit); a small page and the cursor; the last page's next
is ""; the whole walk equals what GetStatus says; an `after` past MSGTRKD_MAX_FIELD_LENGTH
is refused.
How: tools/msgtrkd_session.Session (file keyring, no demo network, no typelib).
Output: TAP.
"""
import argparse
import os
import sqlite3
import sys
import time


from msgtrkd_harness import Session, Tap, remote_error  # noqa: E402

PAGE_MAX = 10000          # MSGTRKD_STATUS_PAGE_MAX (helper/msgtrkd/msgtrkd-service.h)
MAX_FIELD_LENGTH = 998    # MSGTRKD_MAX_FIELD_LENGTH (helper/msgtrkd/msgtrkd-tracking.h)
N = PAGE_MAX + 5


def mid(n):
    return "m%06d.list@example.org" % n


def seed(store):
    db = sqlite3.connect(os.path.join(store, "msgtrk.db"))
    now = int(time.time())
    rows = []
    for n in range(N):
        state, summary = ("delivered", "Delivered 1/1") if n % 3 else ("failed", "Failed 1/1")
        rows.append(("e%06d" % n, mid(n), state, summary, now - 3600 + n))
    # One Message-ID sent twice: the aborted attempt is older than the retry.
    rows.append(("dup-old", "dup.list@example.org", "aborted", "Not sent", now - 7200))
    rows.append(("dup-new", "dup.list@example.org", "in-transit", "In transit", now - 60))
    rows.append(("no-mid", None, "delivered", "Delivered 1/1", now - 60))
    with db:
        db.executemany(
            "INSERT INTO messages (envid, message_id, tracking, prepared_at, committed_at, "
            "state, summary, final) VALUES (?, ?, 'mtqp', ?, ?, ?, ?, 1)",
            [(e, m, at, at, st, su) for e, m, st, su, at in rows])
    db.close()


def list_status(s, after, count):
    return s.call("ListStatus", "(su)", (after, count), "(a(ssss)s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--msgtrkd", default=None)
    opts = ap.parse_args()
    t = Tap()
    s = Session(opts.build_dir, "liststatus", msgtrkd=opts.msgtrkd, keyring=False,
                daemon_args=["--keyring", "file", "--idle-exit", "600"])
    try:
        s.start()
        s.stop_daemon()
        seed(s.store_dir)
        s.start_daemon()
        want = sorted([mid(n) for n in range(N)] + ["dup.list@example.org"])

        # At the limit: max_count 0 and max_count PAGE_MAX both give a full page.
        for count in (0, PAGE_MAX):
            page, nxt = list_status(s, "", count)
            t.ok(len(page) == PAGE_MAX and nxt == page[-1][0],
                 "max_count %d: a page of MSGTRKD_STATUS_PAGE_MAX, next = its last id" % count,
                 (len(page), nxt))
        # Past it: PAGE_MAX + 1 is clamped to the limit, never refused.
        page, nxt = list_status(s, "", PAGE_MAX + 1)
        t.ok(len(page) == PAGE_MAX, "max_count past the limit is clamped to it", len(page))
        first = page
        page, nxt = list_status(s, nxt, 0)
        t.ok(nxt == "" and len(page) == len(want) - PAGE_MAX,
             "the second page is the rest, next empty", (len(page), nxt))
        got = first + page
        t.ok([g[0] for g in got] == want,
             "one entry per Message-ID, in Message-ID order, none without one",
             [g[0] for g in got][:5])
        dup = [g for g in got if g[0] == "dup.list@example.org"]
        t.ok(dup == [("dup.list@example.org", "dup-new", "in-transit", "In transit")],
             "of two records of one Message-ID, the newest (as GetStatus)", dup)
        # Every entry is what GetStatus says of that Message-ID.
        ids = [g[0] for g in got]
        status = []
        for i in range(0, len(ids), PAGE_MAX):
            status += s.get_status(ids[i:i + PAGE_MAX])
        t.ok([tuple(x) for x in status] == [tuple(g) for g in got],
             "the walk equals GetStatus for every Message-ID",
             [(a, b) for a, b in zip(status, got) if tuple(a) != tuple(b)][:3])
        # A small page and the cursor.
        page, nxt = list_status(s, "", 3)
        t.ok([p[0] for p in page] == want[:3] and nxt == want[2], "a page of 3", (page, nxt))
        page, nxt = list_status(s, nxt, 3)
        t.ok([p[0] for p in page] == want[3:6], "the page after it", page)
        page, nxt = list_status(s, want[-1], 5)
        t.ok(page == [] and nxt == "", "after the last id: empty, next empty", (page, nxt))
        # MSGTRKD_MAX_FIELD_LENGTH for after: 998 bytes accepted, 999 refused.
        page, nxt = list_status(s, "z" * MAX_FIELD_LENGTH, 0)
        t.ok(page == [] and nxt == "", "after of %d bytes accepted" % MAX_FIELD_LENGTH)
        try:
            list_status(s, "z" * (MAX_FIELD_LENGTH + 1), 0)
            t.ok(False, "after of %d bytes refused" % (MAX_FIELD_LENGTH + 1))
        except Exception as exc:  # noqa: BLE001
            t.ok(remote_error(exc) == "org.msgtrk.Tracker1.Error.InvalidArgument",
                 "after of %d bytes refused" % (MAX_FIELD_LENGTH + 1), exc)
        code = s.stop_daemon()
        t.ok(code == 0, "msgtrkd exits 0 on SIGTERM (no leak under ASan)", s.log()[-3000:])
    except Exception as exc:  # noqa: BLE001
        t.ok(False, "no exception", "%r\n%s" % (exc, s.log()[-3000:]))
    finally:
        s.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
