#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sum meson's testlog.json files into the one summary line CI reads.

usage: summarize-tests.py [--extra-failed N] TESTLOG.json...
Prints per-test failures first, then, as the very last line:
    N passed, N failed, N skipped
Exit status 1 when anything failed.
"""
import json
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


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
    failed += extra_failed
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
