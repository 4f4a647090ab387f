#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# test-store-crash.py: kill -9 the store at random moments; nothing committed may be lost.
#
# Runs `store-crash-writer write DB roundN` ROUNDS times, each killed with SIGKILL after a
# random 5–200 ms. Every ENVID the writer printed was committed before it was printed.
# Odd rounds use `write-batch` (8 messages per store batch, prefix batchN): the check also
# requires every message of a batch round in the store to be whole (all or nothing).
# After each kill, `store-crash-writer check DB` reopens the store (WAL recovery) and checks
# every ENVID committed so far, in all rounds: message, report bytes (against SHA-256),
# snapshot, event, and PRAGMA integrity_check. Output is TAP.
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROUNDS = 20
MIN_MS, MAX_MS = 5, 200


def main():
    writer = sys.argv[1]
    seed = int(os.environ.get('MSGTRK_CRASH_SEED', str(int(time.time()))))
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix='msgtrk-crash-')
    db = os.path.join(tmp, 'msgtrk', 'msgtrk.db')
    committed = []
    failed = 0
    print('1..%d' % (ROUNDS + 1))
    print('# seed %d (set MSGTRK_CRASH_SEED to repeat)' % seed)
    try:
        for r in range(ROUNDS):
            delay = rng.uniform(MIN_MS, MAX_MS) / 1000.0
            mode, prefix = ('write-batch', 'batch%d' % r) if r % 2 else ('write', 'round%d' % r)
            proc = subprocess.Popen([writer, mode, db, prefix],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            text = out.decode('ascii', 'replace')
            lines = text.split('\n')
            # Only whole lines count: a line is printed after its commit, in one write.
            new = [line for line in lines[:-1] if line]
            committed.extend(new)
            if proc.returncode != -signal.SIGKILL:
                print('# writer ended by itself (%s): %s' % (proc.returncode,
                                                            err.decode('utf-8', 'replace')))
            check = subprocess.run([writer, 'check', db],
                                   input=('\n'.join(committed) + '\n').encode('ascii'),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            ok = check.returncode == 0
            if not ok:
                failed += 1
            print('%s %d - round %d (%s): killed after %.0f ms, %d new, %d committed in all'
                  % ('ok' if ok else 'not ok', r + 1, r, mode, delay * 1000, len(new),
                     len(committed)))
            if not ok:
                for line in (check.stdout + check.stderr).decode('utf-8', 'replace').splitlines():
                    print('#   ' + line)
        # The test means something only if messages were committed and then killed.
        enough = len(committed) > 0
        print('%s %d - some messages were committed (%d)'
              % ('ok' if enough else 'not ok', ROUNDS + 1, len(committed)))
        if not enough:
            failed += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
