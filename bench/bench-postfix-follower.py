#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench-postfix-follower.py: how fast msgtrk-postfix-follower turns delivery lines into
tracking records, and how many record files it writes for them.

  bench-postfix-follower.py --build-dir BUILD [--loads 100x10,10x1000] [--rounds 3]
                            [--old EXE] [--headers] [--strace]

What: for each load KxR, K registered messages (registration files written directly in a
temporary registration directory, as the front writes them) of R recipients each, and a
private mail log of K*R Postfix delivery lines (smtp, status=sent, one per recipient,
messages interleaved in groups of 50 lines, as a busy queue manager does). The follower
(BUILD's, and with --old EXE another build such as main's, alternating in every round, the
first one rotating) starts on the empty log; once it saved its first position the whole log is
appended at once and the clock runs until its saved position (STATE_DIR/
postfix-follower.pos, saved only once the records of the lines before it are stored)
reaches the end of the log. Then every record is checked complete (R entries). With
--headers each message's header line (cleanup's "message-id=") comes before its
deliveries, as in a real log: the follower checks the queue id's registration against it
(session 19: one lstat, and a read of each registered queue id's file).
Prints per load and build: lines/s, record files written (IN_MOVED_TO of *.trk in the store's
directory, watched with inotify: each put is a temporary file renamed over the record),
and the same-run ratio new/old of lines/s (medians over the rounds). The inotify count can
fall short when the machine is loaded (seen: about half of the old build's renames in some
rounds); --strace adds one untimed run per build under strace that counts the renames onto
record files exactly.
Needs root (the follower drops to nobody, as in the tests). Never a timed test.
"""
import argparse
import ctypes
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

B = "qUqP5cyxm6YcTAhz05Hph5gvu9M="
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080


class RenameCounter:
    """Counts record files (*.trk) renamed into @path (inotify IN_MOVED_TO), read in a
    thread. IN_MOVED_FROM is watched too: inotify merges an event with the last one queued
    when they are the same (two renames onto one record while the reader lags), and the
    temporary file's MOVED_FROM between them keeps them apart (checked with strace: the
    counts match the rename calls)."""

    def __init__(self, path):
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init()
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init")
        if self.libc.inotify_add_watch(self.fd, path.encode(),
                                       IN_MOVED_FROM | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)
        self.count = 0
        self.overflow = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except OSError:
                return
            i = 0
            while i + 16 <= len(buf):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", buf, i)
                if mask & 0x4000:  # IN_Q_OVERFLOW
                    self.overflow = True
                name = buf[i + 16:i + 16 + length].rstrip(b"\0")
                if mask & IN_MOVED_TO and name.endswith(b".trk"):
                    self.count += 1
                i += 16 + length

    def close(self):
        time.sleep(0.2)
        os.close(self.fd)


def write_registrations(reg_dir, k, r, now):
    for m in range(k):
        qid = "%011X" % (0xB000000000 + m)
        with open(os.path.join(reg_dir, qid + ".reg"), "w") as f:
            f.write("MSGTRK-POSTFIX-REG 1\nQueue-Id: %s\nEnvid: env%d@bench.test.example\n"
                    "Authenticator: %s\nArrival: %d\nExpires: %d\n"
                    % (qid, m, B, now, now + 86400))
            for i in range(r):
                a = "rcpt%d-%d@bench.test.example" % (m, i)
                f.write("Rcpt: %s %s -\n" % (a, a))


def log_lines(k, r, headers=False):
    """K*R delivery lines; the messages' lines interleaved 50 at a time. With @headers,
    each message's header line (cleanup's "message-id=", as Postfix logs it for every
    message before its deliveries) before its first delivery line."""
    out = []
    per = [0] * k
    left = k * r
    while left > 0:
        for m in range(k):
            n = min(50, r - per[m])
            if headers and per[m] == 0:
                out.append("Dec 05 11:59:59 mx postfix/cleanup[99]: %011X: "
                           "message-id=<m%d@bench.test.example>\n" % (0xB000000000 + m, m))
            for i in range(per[m], per[m] + n):
                out.append("Dec 05 12:00:00 mx postfix/smtp[100]: %011X: "
                           "to=<rcpt%d-%d@bench.test.example>, relay=mx.far.example"
                           "[192.0.2.9]:25, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, "
                           "status=sent (250 2.0.0 Ok: queued as 4Z%05d)\n"
                           % (0xB000000000 + m, m, i, i))
            per[m] += n
            left -= n
    return "".join(out)


def wait_for(what, cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    raise SystemExit("timed out waiting for " + what)


def saved_offset(pos):
    try:
        with open(pos) as f:
            lines = f.read().split("\n")
        return int(lines[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def run_once(exe, k, r, text, strace_out=None):
    """One follower run: (seconds, record files written by inotify, overflow). With
    @strace_out, under strace (renames only, --seccomp-bpf) writing to that file: exact
    counts, no timing."""
    base = tempfile.mkdtemp(prefix="bench-follower-")
    os.chmod(base, 0o755)
    try:
        state = os.path.join(base, "state")
        regs = os.path.join(state, "postfix-registrations")
        os.makedirs(os.path.join(state, "tracking"))
        os.makedirs(regs)
        write_registrations(regs, k, r, int(time.time()))
        maillog = os.path.join(base, "maillog")
        open(maillog, "w").close()
        for root, dirs, files in os.walk(state):
            for n in dirs + files:
                shutil.chown(os.path.join(root, n), "nobody")
        shutil.chown(state, "nobody")
        conf = os.path.join(base, "follower.conf")
        with open(conf, "w") as f:
            f.write("[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.bench.example\n"
                    "user=nobody\npostconf=/nonexistent/postconf\nqueue_lifetime=5d\n"
                    "info_log_address_format=external\npoll_interval=10\n"
                    # Every queue id is registered: nothing waits for a registration, and
                    # header lines are not held for a pending one in the first seconds.
                    "registration_wait=0\n"
                    % (maillog, state))
        counter = RenameCounter(os.path.join(state, "tracking"))
        log = open(os.path.join(base, "follower.log"), "w")
        argv = [exe, "--config", conf]
        if strace_out:
            argv = ["strace", "-f", "-qq", "--seccomp-bpf", "-e",
                    "trace=rename,renameat,renameat2", "-o", strace_out] + argv
        p = subprocess.Popen(argv, stdout=log, stderr=log)
        try:
            pos = os.path.join(state, "postfix-follower.pos")
            if not wait_for("the first saved position", lambda: saved_offset(pos) == 0
                            or p.poll() is not None, 30) or p.poll() is not None:
                raise SystemExit("%s did not start: %s" % (exe, open(log.name).read()))
            size = len(text.encode())
            t0 = time.monotonic()
            with open(maillog, "a") as f:
                f.write(text)
            wait_for("the position at the end", lambda: saved_offset(pos) == size, 600)
            elapsed = time.monotonic() - t0
        finally:
            if strace_out:
                # strace's tracee: SIGTERM to the follower, then strace ends with it.
                with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                    for child in f.read().split():
                        os.kill(int(child), 15)
            else:
                p.terminate()
            p.wait(timeout=30)
            counter.close()
        # Every record complete.
        for name in os.listdir(os.path.join(state, "tracking")):
            if name.endswith(".trk"):
                with open(os.path.join(state, "tracking", name)) as f:
                    n = f.read().count("\nFinal-Recipient:")
                if n != r:
                    raise SystemExit("%s: a record with %d entries, not %d" % (exe, n, r))
        return elapsed, counter.count, counter.overflow
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--old", help="another build's msgtrk-postfix-follower (e.g. main's)")
    ap.add_argument("--loads", default="100x10,10x1000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--headers", action="store_true",
                    help="each message's header line (cleanup's message-id=) before its "
                    "deliveries, as Postfix logs it")
    ap.add_argument("--strace", action="store_true",
                    help="one more run per build under strace: exact rename counts")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (the follower drops to nobody)")
        return 77
    exes = [("new", os.path.join(args.build_dir, "server/postfix/msgtrk-postfix-follower"))]
    if args.old:
        exes.append(("old", args.old))
    print("# load average at start: %s" % open("/proc/loadavg").read().strip())
    for load in args.loads.split(","):
        k, r = (int(x) for x in load.split("x"))
        text = log_lines(k, r, args.headers)
        res = {name: [] for name, _ in exes}
        for rnd in range(args.rounds):
            order = exes[rnd % len(exes):] + exes[:rnd % len(exes)]
            for name, exe in order:
                elapsed, writes, overflow = run_once(exe, k, r, text)
                res[name].append((elapsed, writes))
                print("%s round %d %-3s: %d lines in %.3f s = %.0f lines/s, %d record files "
                      "written%s" % (load, rnd + 1, name, k * r, elapsed, k * r / elapsed,
                                     writes, " (inotify overflow: more)" if overflow else ""),
                      flush=True)
        med = {}
        for name, _ in exes:
            t = statistics.median(e for e, _ in res[name])
            w = statistics.median(w for _, w in res[name])
            med[name] = k * r / t
            print("%s %-3s median: %.0f lines/s, %d record files written" % (load, name,
                                                                                med[name], w))
        if "old" in med:
            print("%s ratio new/old lines/s: %.2f" % (load, med["new"] / med["old"]))
        if args.strace:
            for name, exe in exes:
                out = tempfile.mktemp(prefix="bench-follower-strace-")
                run_once(exe, k, r, text, out)
                with open(out) as f:
                    n = sum(1 for x in f if ".trk\")" in x and "= 0" in x)
                os.unlink(out)
                print("%s %-3s strace: %d renames onto record files (exact)" % (load, name, n))
    print("# load average at end: %s" % open("/proc/loadavg").read().strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
