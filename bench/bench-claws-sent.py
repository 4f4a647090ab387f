#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench-claws-sent.py: opening a 100,000-message Sent folder in Claws Mail, with the
msgtrk plugin loaded and not loaded.

  bench-claws-sent.py --build-dir BUILD [--messages 100000] [--tracked 10000]
                      [--layout spread|newest] [--runs 3] [--timeout 150] [--keep]

What it is for: the issue's benchmark, "open a Sent folder of 100,000 messages with the
plugin loaded and not loaded; print both times and the ratio". It generates an MH Sent
folder (numbered files 1..N, distinct Message-IDs, ordinary headers), seeds the real
msgtrkd's SQLite store with --tracked of those Message-IDs (rows written straight into the
store msgtrkd created, state "delivered", final, so nothing is polled; plus one message in
transit whose next poll is a day away, which keeps msgtrkd's scheduler holding the
service), and runs real
Claws Mail under Xvfb on a private session bus, with a pre-seeded configuration (as
tests/e2e/claws_harness.py writes it, imported) whose [Plugins_GTK3] lists the plugin or not.

Each run starts Claws on a fresh configuration and cache, opens the Sent folder through
Claws's control socket ("select", what `claws-mail --select` sends) and takes, on the
wall clock:
  populated  until summary_show() has finished: the "summaryview.c:NNNN:" line that
             Claws's --debug output prints at its very end (read from Claws's stdout)
  settled    until the statuses are shown and Claws's main loop is free again: the
             control socket is pinged every 20 ms ("statistics", answered from the main
             loop); settled is the latest of: populated, the answer of the last ping that
             took more than SLOW_PING_S, and (plugin) msgtrkd's answer to each GetStatus
             (watched with dbus-monitor --profile on the private bus); it is taken once
             QUIET_S passed with no slow ping and since the last GetStatus answer (the
             plugin asks in batches, one after the other). It includes the plugin's
             folder-watch delay (up to 100 ms before it asks).
  stall      the longest ping after "populated": how long the UI froze at once
for the first open (no .claws_cache: Claws reads all N files) and, after Claws quit and
restarted on the same configuration, the second open (cache on disk). It also counts the
rows that got a tag (Claws's tagsdb file). Medians of --runs,
and the ratios plugin/no plugin. Run on demand, never as a test; the whole run is bounded
by --timeout per open. Cleans up everything it started and its temporary directory
(unless --keep).

Limits: the page cache is warm (the files were just written; dropping caches would touch
the whole machine). Timestamps come from the benchmark's own clock when it reads a line
or an answer: resolution a few ms.
Never: uses fixed displays or ports, touches the user's Claws configuration or keyring.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

STATUS_METHODS = ("GetStatus", "ListStatus")
LOOK_LOG_DOMAIN = "msgtrk-claws-look"   # MTC_LOOK_LOG_DOMAIN in plugin/claws/msgtrk-claws.c
SLOW_PING_S = 0.05    # a ping answered slower than this means the main loop was busy
QUIET_S = 2.0         # the main loop must stay free this long to count as settled
PING_EVERY_S = 0.02
STARTUP_TIMEOUT_S = 60.0
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import claws_harness  # noqa: E402  (the Claws configuration the e2e tests use)

SENT_FOLDER = "#mh/Mailbox/sent"
INBOX_FOLDER = "#mh/Mailbox/inbox"
DOMAIN = "laptop.demo.test"
SENDER = "Demo Sender <sender@demo.test>"

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--build-dir", required=True)
parser.add_argument("--messages", type=int, default=100000)
parser.add_argument("--tracked", type=int, default=10000,
                    help="how many of the messages msgtrkd knows")
parser.add_argument("--layout", choices=("spread", "newest"), default="spread",
                    help="tracked messages: every (N/tracked)th one, or the newest ones")
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--timeout", type=float, default=150.0, help="seconds per folder open")
parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
ARGS = parser.parse_args()


log = claws_harness.log


def message_id(n):
    return "%d.%06x.bench@%s" % (n, (n * 2654435761) & 0xFFFFFF, DOMAIN)


def tracked_numbers():
    n, t = ARGS.messages, min(ARGS.tracked, ARGS.messages)
    if t <= 0:
        return []
    if ARGS.layout == "newest":
        return list(range(n - t + 1, n + 1))
    step = n / t
    return [int(i * step) + 1 for i in range(t)]


# ---- the MH Sent folder ----

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def generate_sent(path, n):
    """N small messages as MH files 1..N, oldest first (one every ~15 minutes)."""
    os.makedirs(path, exist_ok=True)
    start = 1500000000
    body = ("Hello,\n\nthis is message number %d of the benchmark folder.\n"
            "Nothing to see here.\n\n-- \nDemo Sender\n")
    for i in range(1, n + 1):
        t = time.gmtime(start + i * 907)
        date = "%s, %d %s %d %02d:%02d:%02d +0000" % (
            WEEKDAYS[t.tm_wday], t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year,
            t.tm_hour, t.tm_min, t.tm_sec)
        text = ("From: %s\nTo: Recipient %d <rcpt%d@example.net>\nSubject: Report %d on %s\n"
                "Date: %s\nMessage-ID: <%s>\nMIME-Version: 1.0\n"
                "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 7bit\n"
                "User-Agent: Claws Mail 4.1.1 (GTK 3.24.38; x86_64-pc-linux-gnu)\n\n"
                % (SENDER, i % 97, i % 97, i, "project %d" % (i % 13), date, message_id(i))
                + body % i)
        fd = os.open(os.path.join(path, str(i)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, text.encode())
        os.close(fd)


def remove_claws_cache(folder):
    for f in glob.glob(os.path.join(folder, ".claws_*")) + \
            glob.glob(os.path.join(folder, ".mh_*")):
        os.unlink(f)


def write_claws_config(cfg, mail, plugin):
    """The end-to-end tests' configuration (tests/e2e/claws_harness.py), one copy only; the
    SMTP port is never used here."""
    shutil.rmtree(cfg, ignore_errors=True)
    claws_harness.write_claws_config(cfg, mail, plugin or "", 25)


# ---- processes ----

class Bench:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="msgtrk-bench-claws-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.env = dict(os.environ, LC_ALL="C.UTF-8")
        claws_harness.setup_session_env(self.env, self.dir, os.path.abspath(ARGS.build_dir))
        self.monitor_lines = []
        self.monitor_lock = threading.Lock()

    def spawn(self, name, argv, **kw):
        logf = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, env=kw.pop("env", self.env), stdout=kw.pop("stdout", logf),
                             stderr=kw.pop("stderr", logf), **kw)
        self.procs.append((name, p))
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def cleanup(self):
        for _, p in reversed(list(self.procs)):
            self.stop(p)
        with self.monitor_lock, open(os.path.join(self.dir, "dbus-monitor.out"), "w") as f:
            for fields in self.monitor_lines:
                f.write(" ".join(fields) + "\n")
        if ARGS.keep:
            log("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_x(self):
        claws_harness.start_xvfb(self.spawn, self.env, RuntimeError)

    def start_bus(self):
        claws_harness.start_session_bus(self.spawn, self.env, self.dir, error=RuntimeError)

    def has_owner(self, name):
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                            "--object-path", "/org/freedesktop/DBus", "--method",
                            "org.freedesktop.DBus.NameHasOwner", name],
                           env=self.env, capture_output=True, text=True)
        return "true" in r.stdout

    def start_msgtrkd(self, store):
        exe = os.path.join(ARGS.build_dir, "helper", "msgtrkd", "msgtrkd")
        p = self.spawn("msgtrkd", [exe, "--store-dir", store, "--keyring", "file",
                                   "--idle-exit", "86400"])
        wait_for("msgtrkd on the session bus", lambda: self.has_owner("org.msgtrk.Tracker1"),
                 20)
        return p

    def start_monitor(self):
        """dbus-monitor --profile: one line per message, with the bus time stamp."""
        p = self.spawn("dbus-monitor", ["dbus-monitor", "--session", "--profile"],
                       stdout=subprocess.PIPE)

        def reader():
            for raw in p.stdout:
                with self.monitor_lock:
                    self.monitor_lines.append(raw.decode(errors="replace").split())
        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.5)

    def get_status_calls(self, since):
        """(call time, return time or None, caller) of every GetStatus or ListStatus
        after SINCE."""
        with self.monitor_lock:
            lines = list(self.monitor_lines)
        calls = {}
        out = []
        for f in lines:
            # mc TIME SERIAL SENDER DEST PATH IFACE MEMBER / mr TIME SERIAL SENDER DEST REPLY
            if len(f) >= 8 and f[0] == "mc" and f[7] in STATUS_METHODS \
                    and float(f[1]) >= since:
                calls[(f[3], f[2])] = len(out)
                out.append([float(f[1]), None, f[3]])
            elif len(f) >= 6 and f[0] in ("mr", "err"):
                k = (f[4], f[5])
                if k in calls:
                    out[calls[k]][1] = float(f[1])
        return out


def wait_for(what, pred, timeout, interval=0.1):
    return claws_harness.wait_for(what, pred, timeout, interval, RuntimeError)


# ---- the msgtrkd store ----

def seed_store(bench, store):
    """Let msgtrkd create its store, then write the tracked messages' rows into it."""
    p = bench.start_msgtrkd(store)
    bench.stop(p)
    db = sqlite3.connect(os.path.join(store, "msgtrk.db"))
    now = int(time.time())
    rows = []
    rcpts = []
    for n in tracked_numbers():
        envid = "bench%08d" % n
        rows.append((envid, message_id(n), "Report %d" % n, "sender@demo.test",
                     "127.0.0.1", "mtqp", "DSN MTRK", "250 2.0.0 Ok: queued", 86400 * 7,
                     now - 3600, now - 3600, now + 86400 * 6, "delivered", "Delivered 1/1", 1))
        rcpts.append((envid, 0, "rcpt%d@example.net" % (n % 97)))
    # One message still in transit, its next poll a day away: msgtrkd's scheduler holds the
    # service while a poll is scheduled. Without it msgtrkd leaves 10 s after start-up
    # (GApplication's rule for a service nothing held: GetStatus does not hold it).
    rows.append(("benchtransit", "transit.bench@" + DOMAIN, "In transit", "sender@demo.test",
                 "127.0.0.1", "mtqp", "DSN MTRK", "250 2.0.0 Ok: queued", 86400 * 7,
                 now - 60, now - 60, now + 86400 * 6, "in-transit", "In transit", 0))
    rcpts.append(("benchtransit", 0, "rcpt@example.net"))
    with db:
        db.executemany(
            "INSERT INTO messages (envid, message_id, subject, sender, submission_host, "
            "tracking, offered, server_reply, mtrk_timeout, prepared_at, committed_at, "
            "expires_at, state, summary, final, next_poll_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [r + (now + 86400 if r[0] == "benchtransit" else 0,) for r in rows])
        db.executemany("INSERT INTO recipients (envid, position, address) VALUES (?,?,?)",
                       rcpts)
    db.close()


# ---- Claws Mail ----

class Claws:
    def __init__(self, bench, cfg, name):
        self.bench = bench
        self.lines = []           # (time.time(), text) of Claws's stdout (--debug)
        self.lock = threading.Lock()
        self.name = name
        self.after = None       # settle() records the longest stall after this time
        self.stall = 0.0
        self.spawned = time.time()
        # The plugin's one line per finished look at a folder (its log domain only).
        env = dict(bench.env, G_MESSAGES_DEBUG=LOOK_LOG_DOMAIN)
        self.proc = bench.spawn(name, ["claws-mail", "--alternate-config-dir", cfg, "--debug"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        self.sock_dir = os.path.join(bench.env["XDG_RUNTIME_DIR"], "claws-mail")
        threading.Thread(target=self._read, daemon=True).start()
        self.sock = wait_for("Claws's control socket", self._socket, STARTUP_TIMEOUT_S)
        wait_for("Claws to answer", lambda: self.ping(5.0) is not None, STARTUP_TIMEOUT_S)

    def _read(self):
        for raw in self.proc.stdout:
            t = time.time()
            with self.lock:
                self.lines.append((t, raw.decode(errors="replace").rstrip("\n")))

    def _socket(self):
        if self.proc.poll() is not None:
            raise RuntimeError("claws-mail exited (%d)" % self.proc.returncode)
        socks = [p for p in glob.glob(os.path.join(self.sock_dir, "*"))
                 if not p.endswith(".lock")]
        return socks[0] if socks else None

    def send(self, command, reply=False, timeout=10.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(command.encode())
            if not reply:
                return b""
            data = b""
            while not (data.startswith(b".\n") or b"\n.\n" in data):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data
        finally:
            s.close()

    def ping(self, timeout):
        """Seconds the main loop took to answer, or None."""
        t = time.monotonic()
        try:
            self.send("statistics\n", reply=True, timeout=timeout)
        except OSError:
            return None
        return time.monotonic() - t

    def settle(self, since, want_get_status, timeout):
        """Ping until the main loop stayed free QUIET_S; returns the settle time and the
        GetStatus calls seen."""
        last_slow = since
        self.stall = 0.0
        deadline = time.time() + timeout
        while True:
            t0 = time.time()
            lat = self.ping(timeout)
            t1 = time.time()
            if lat is None or lat > SLOW_PING_S:
                last_slow = t1
            if self.after is not None and t0 >= self.after:
                self.stall = max(self.stall, lat if lat is not None else t1 - t0)
            calls = self.bench.get_status_calls(since)
            answered = all(c[1] is not None for c in calls)
            # The plugin asks in batches, each after the previous answer: quiet also
            # after the last answer, or a gap between two batches looks settled.
            last_answer = max([since] + [c[1] for c in calls]) if answered else since
            # With the plugin: its line saying the look at the folder is done (every
            # status shown), after the calls it made for it.
            look = self.look_done(since) if want_get_status else since
            if t1 - last_slow >= QUIET_S and look is not None and answered \
                    and t1 - since >= QUIET_S and t1 - last_answer >= QUIET_S:
                return max([last_slow, look] + [c[1] for c in calls]), calls
            if t1 > deadline:
                raise RuntimeError("Claws did not settle within %.0f s" % timeout)
            time.sleep(max(0.0, PING_EVERY_S - (t1 - t0)))

    def look_done(self, since):
        """Time of the plugin's first "look at … done" line after SINCE, or None."""
        with self.lock:
            for t, text in self.lines:
                if t >= since and "look at %s done" % SENT_FOLDER in text:
                    return t
        return None

    def populated_after(self, since, folder_path):
        """(time, Claws's own TIMING of summary_show in s) at the end of summary_show()
        for the folder opened after SINCE."""
        with self.lock:
            lines = [l for l in self.lines if l[0] >= since]
        end = None
        for t, text in lines:
            if end is None and text.endswith("Scanning folder (%s)..." % folder_path):
                end = 0
            elif end == 0 and text.startswith("summaryview.c:") and text.endswith(":"):
                end = t
            elif end and "TIMING summary_show :" in text:
                m = re.search(r"(\d+)s(\d+)ms", text)
                return end, int(m.group(1)) + int(m.group(2)) / 1000.0
        return None

    def open_folder(self, folder, folder_path, want_get_status, timeout):
        t0 = time.time()
        self.send("select %s\n" % folder)
        pop, claws_timing = wait_for("the folder list to be populated",
                                     lambda: self.populated_after(t0, folder_path), timeout, 0.02)
        self.after = pop
        settled, calls = self.settle(t0, want_get_status, timeout)
        self.after = None
        return {"populated": pop - t0, "settled": max(settled, pop) - t0,
                "summary_show": claws_timing, "stall": self.stall,
                "calls": [(c[0] - t0, (c[1] - t0) if c[1] else None) for c in calls]}

    def quit(self):
        try:
            self.send("exit\n")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        self.bench.stop(self.proc)
        with self.lock, open(os.path.join(self.bench.dir, self.name + ".out"), "w") as f:
            for t, text in self.lines:
                f.write("%.3f %s\n" % (t, text))


def tagged_rows(cfg):
    """Messages of the Sent folder carrying a tag (Claws's tagsdb file, written on exit):
    int32 version, then per message int32 number, tag ids, -1."""
    try:
        with open(os.path.join(cfg, "tagsdb", "#mh", "Mailbox", "sent", ".claws_tags"),
                  "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    words = struct.unpack("<%di" % (len(data) // 4), data[:len(data) // 4 * 4])
    tagged, in_msg, has_tag = 0, False, False
    for w in words[1:]:
        if not in_msg:
            in_msg, has_tag = True, False
        elif w == -1:
            tagged += has_tag
            in_msg = False
        else:
            has_tag = True
    return tagged


def one_run(bench, cfg, mail, plugin, idx):
    name = "claws-%s-%d" % ("plugin" if plugin else "noplugin", idx)
    sent = os.path.join(mail, "sent")
    remove_claws_cache(sent)
    write_claws_config(cfg, mail, plugin)
    result = {}
    for phase in ("first", "second"):
        claws = Claws(bench, cfg, name + "-" + phase)
        try:
            if plugin:
                maps = open("/proc/%d/maps" % claws.proc.pid).read()
                if plugin not in maps:
                    raise RuntimeError("the plugin did not load (see %s.log)" % name)
            # let start-up work (and the plugin's proxy) finish before the clock starts
            started = time.time()
            claws.settle(started, False, STARTUP_TIMEOUT_S)
            early = bench.get_status_calls(started - STARTUP_TIMEOUT_S)
            early = [c for c in early if c[0] >= claws.spawned]
            if early:
                log("%-9s %-6s at start-up: %d status call(s), %.3f s in all"
                    % ("plugin" if plugin else "no plugin", phase, len(early),
                       sum((c[1] or c[0]) - c[0] for c in early)))
            if phase == "first" and os.path.exists(os.path.join(sent, ".claws_cache")):
                log("note: Claws wrote the Sent cache at start-up")
            r = claws.open_folder(SENT_FOLDER, "sent", bool(plugin), ARGS.timeout)
            result[phase] = r
            calls = ", ".join("%.2f→%s" % (c[0], "%.2f" % c[1] if c[1] is not None else "?")
                              for c in r["calls"])
            log("%-9s %-6s populated %7.2f s (summary_show %.2f)  settled %7.2f s  "
                "longest stall after %.2f s  GetStatus [%s]"
                % ("plugin" if plugin else "no plugin", phase, r["populated"],
                   r["summary_show"], r["settled"], r["stall"], calls))
        finally:
            claws.quit()
        if phase == "first":
            result["tagged"] = tagged_rows(cfg)
            log("%d rows of the Sent folder carry a tag" % result["tagged"])
    return result


def main():
    build = ARGS.build_dir
    plugin = os.path.abspath(os.path.join(build, "plugin", "claws", "msgtrk.so"))
    msgtrkd = os.path.join(build, "helper", "msgtrkd", "msgtrkd")
    for path in (plugin, msgtrkd):
        if not os.path.exists(path):
            sys.exit("%s is not built" % path)
    for tool in ("Xvfb", "claws-mail", "dbus-daemon", "dbus-monitor", "gdbus"):
        if shutil.which(tool) is None:
            sys.exit("%s is not installed" % tool)

    bench = Bench()
    try:
        mail = os.path.join(bench.dir, "Mail")
        for d in ("inbox", "queue", "draft", "trash"):
            os.makedirs(os.path.join(mail, d))
        t = time.monotonic()
        generate_sent(os.path.join(mail, "sent"), ARGS.messages)
        log("generated %d messages in %.1f s" % (ARGS.messages, time.monotonic() - t))
        log("load average at the start: %s" % open("/proc/loadavg").read().strip())
        bench.start_x()
        bench.start_bus()
        store = os.path.join(bench.dir, "store")
        t = time.monotonic()
        seed_store(bench, store)
        bench.msgtrkd = bench.start_msgtrkd(store)
        log("msgtrkd knows %d of them (%s), seeded in %.1f s"
            % (len(tracked_numbers()), ARGS.layout, time.monotonic() - t))
        bench.start_monitor()
        cfg = os.path.join(bench.dir, "claws")
        results = {None: [], plugin: []}
        for i in range(ARGS.runs):
            for p in (None, plugin):   # interleaved, so drift hits both alike
                results[p].append(one_run(bench, cfg, mail, p, i))
                if bench.msgtrkd.poll() is not None:
                    raise RuntimeError("msgtrkd left during the run (see msgtrkd.log)")
        log("load average at the end: %s" % open("/proc/loadavg").read().strip())
        print()
        print("Sent folder of %d messages, %d known to msgtrkd (%s); median of %d runs (s):"
              % (ARGS.messages, len(tracked_numbers()), ARGS.layout, ARGS.runs))
        print("%-40s %10s %10s %8s" % ("", "no plugin", "plugin", "ratio"))
        for phase, label in (("first", "first open (no cache)"), ("second", "second open (cache)")):
            for what in ("populated", "settled", "stall"):
                a = statistics.median(r[phase][what] for r in results[None])
                b = statistics.median(r[phase][what] for r in results[plugin])
                print("%-40s %10.2f %10.2f %8s" % ("%s, %s" % (label, what), a, b,
                                                   "%.2f" % (b / a) if a >= 0.01 else "-"))
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
