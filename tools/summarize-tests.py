#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sum meson's testlog.json files into the one summary line CI reads.

usage: summarize-tests.py [--extra-failed N] TESTLOG.json...
Prints per-test failures first (each with the lines of its output that say what failed,
and its last lines: what a reader of CI's output needs to tell a flaky test from a bug),
then, as the very last line:
    N passed, N failed, N skipped
Exit status 1 when anything failed.
"""
import json
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}
# What a failed test's output shows of itself: its lines that say what failed (TAP's
# "not ok", GLib's assertion messages, Python's traceback and exception, a sanitizer's
# report), at most FAILED_LINES_MAX, then its last TAIL_LINES lines.
FAILED_MARKS = ("not ok", "ERROR:", "Traceback", "Error:", "Exception", "assertion",
                "AddressSanitizer", "LeakSanitizer", "runtime error:")
FAILED_LINES_MAX = 20
TAIL_LINES = 12
LINE_MAX = 300


def show_failure(path, name, output):
    """The lines of a failed test's @output worth seeing in CI's own output."""
    lines = output.splitlines()
    marked = [x for x in lines if any(m in x for m in FAILED_MARKS)][:FAILED_LINES_MAX]
    for x in marked:
        print(f"summary: {path}: {name}: | {x[:LINE_MAX]}")
    for x in lines[-TAIL_LINES:]:
        print(f"summary: {path}: {name}: $ {x[:LINE_MAX]}")


def main(argv):
    extra_failed = 0
    paths = []
    it = iter(argv)
    for a in it:
        if a == "--extra-failed":
            extra_failed = int(next(it))
        else:
            paths.append(a)
    passed = failed = skipped = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except OSError as e:
            print(f"summary: cannot read {path}: {e}")
            failed += 1
            continue
        for line in lines:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            result = rec.get("result", "ERROR")
            name = rec.get("name", "?")
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped += 1
            else:
                failed += 1
                print(f"summary: {path}: {name}: {result}")
                show_failure(path, name, (rec.get("stdout") or "") + (rec.get("stderr") or ""))
    failed += extra_failed
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
