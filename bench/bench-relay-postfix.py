#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench-relay-postfix.py: msgtrk-relay beside a private Postfix, both relaying to one sink.

What: acceptance rate (msg/s until the last 250), end-to-end time (from the first connection
  until the sink counted every message) and fsyncs per message of msgtrk-relay and of a
  private Postfix instance on loopback, driven by smtp-source at 1, 10 and 50 sessions and by
  an MTRK-capable client (ENVID + MTRK to the relay; ENVID only to Postfix, which has no
  MTRK), alternating relay and Postfix rounds in one run; prints the ratios relay/Postfix
  next to the goals of issue 10.
How: one smtp-sink (Postfix package) on loopback counts deliveries (its -c counter, read
  from its output); Postfix is tests/postfix/postfix_instance.py's PrivatePostfix with
  relayhost = the sink; msgtrk-relay runs with route "*" = the sink. Each round sends
  --messages messages and waits until the sink has them all. fsyncs: strace -f -c -e
  trace=fsync,fdatasync attached to the relay (and to Postfix's master and its children)
  while --strace-messages messages are sent and delivered.
  CPU per message: the servers' own CPU time (utime + stime from /proc, the relay's threads
  summed by the kernel; Postfix's master, its live children and the children it reaped)
  from the start of a round until the sink has every message and the server's queue is
  empty, divided by the messages; the load generators and the sink are not counted. On a
  shared machine this moves less with the load than the rates do.
Limits: needs root (Postfix, strace), smtp-source, smtp-sink and strace; every wait is
  bounded (ROUND_TIMEOUT). The machine may be shared: the load average is printed.
Never: run as a timed unit test (on demand only: `meson compile -C BUILD bench-relay-postfix-run`
  or run this file with --relay BUILD/server/relay/msgtrk-relay).
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "postfix"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "relay"))

import postfix_instance  # noqa: E402
import relay_harness  # noqa: E402

ROUND_TIMEOUT = 300
SENDER = "bench@source.example"
RCPT = "bench@sink.example"
MTRK_TIMEOUT = 86400


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """smtp-sink on loopback; .count is the number of messages it took."""

    def __init__(self):
        self.port = free_port()
        self.count = 0
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-c", "127.0.0.1:%d" % self.port, "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, daemon=True).start()
        relay_harness.wait_for("smtp-sink", self._listening, 10)

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            buf = (buf + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = max(self.count, int(found[-1]))

    def wait(self, target, timeout=ROUND_TIMEOUT):
        relay_harness.wait_for("the sink to count %d" % target,
                               lambda: self.count >= target, timeout, 0.005)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid, reaped=False):
    """utime + stime of @pid (every thread of it), with @reaped also cutime + cstime (its
    children that exited and were waited for); 0 if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


class BenchPostfix(postfix_instance.PrivatePostfix):
    def __init__(self, sink_port):
        super().__init__()
        self.sink_port = sink_port

    def configure(self):
        super().configure()
        with open(os.path.join(self.conf, "main.cf"), "a") as f:
            f.write("relayhost = [127.0.0.1]:%d\n" % self.sink_port)
            f.write("smtpd_client_connection_count_limit = 0\n")

    def pids(self):
        master = self.read_master_pid()
        out = [master] if master else []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if master and ppid == master:
                out.append(int(entry))
        return out

    def cpu_seconds(self):
        """CPU time of the master, its live children and the children it has reaped."""
        master = self.read_master_pid()
        if not master:
            return 0.0
        total = proc_cpu_seconds(master, reaped=True)
        for pid in self.pids():
            if pid != master:
                total += proc_cpu_seconds(pid)
        return total

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop"):
            d = os.path.join(self.queue, sub)
            for _root, _dirs, files in os.walk(d):
                if files:
                    return False
        return True


class BenchRelay(relay_harness.Relay):
    def start(self, port=0):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        log = open(self.log_path, "a")
        # No --verbose: the per-message lines of a production relay only.
        self.proc = subprocess.Popen(
            [self.exe, "--config", self.conf_path, "--listen", "127.0.0.1:%d" % port,
             "--port-file", self.port_file], stdout=log, stderr=log)
        log.close()
        self.port = int(relay_harness.wait_for(
            "msgtrk-relay to start",
            lambda: open(self.port_file).read() if os.path.exists(self.port_file)
            and open(self.port_file).read().endswith("\n") else None, 20, 0.05))
        return self.port

    def queue_empty(self):
        # empty files are the relay's stock of durable names, not messages
        return self.queue_files() == []

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)


def run_smtp_source(port, sessions, messages):
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "2048",
                    "-f", SENDER, "-t", RCPT, "127.0.0.1:%d" % port],
                   check=True, timeout=ROUND_TIMEOUT, stdout=subprocess.DEVNULL)


_envid_seq = [0]
_envid_lock = threading.Lock()


def next_envid():
    with _envid_lock:
        _envid_seq[0] += 1
        return "bench.%d.%d@source.example" % (os.getpid(), _envid_seq[0])


BODY = (b"Subject: bench\r\nFrom: <" + SENDER.encode() + b">\r\n\r\n"
        + b"".join(b"line %04d of a small message for the relay bench\r\n" % i
                   for i in range(40)) + b".\r\n")


def mtrk_session(port, count, mtrk, errors):
    """One connection sending @count messages with ENVID (and MTRK when @mtrk)."""
    try:
        c = relay_harness.SmtpClient(port, timeout=ROUND_TIMEOUT)
        c.cmd("EHLO bench.example", 250)
        for _ in range(count):
            params = " ENVID=%s" % next_envid()
            if mtrk:
                params += " MTRK=%s:%d" % (relay_harness.AUTH, MTRK_TIMEOUT)
            c.cmd("MAIL FROM:<%s>%s" % (SENDER, params), 250)
            c.cmd("RCPT TO:<%s> NOTIFY=FAILURE" % RCPT, 250)
            c.cmd("DATA", 354)
            c.sock.sendall(BODY)
            code, text = c.reply()
            if code != 250:
                raise relay_harness.SmtpError("DATA: %s" % text)
        c.cmd("QUIT", 221)
        c.sock.close()
    except Exception as e:  # noqa: BLE001 (reported by the caller)
        errors.append(e)


def run_mtrk_client(port, sessions, messages, mtrk):
    errors = []
    per = [messages // sessions + (1 if i < messages % sessions else 0) for i in range(sessions)]
    threads = [threading.Thread(target=mtrk_session, args=(port, n, mtrk, errors))
               for n in per if n > 0]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ROUND_TIMEOUT)
    if errors:
        raise errors[0]


def one_round(sink, port, driver, sessions, messages, mtrk, server=None):
    """msg/s until the last 250, seconds until the sink has every message, and (with
    @server) the server's CPU seconds per message until its queue is empty too."""
    base = sink.count
    cpu0 = server.cpu_seconds() if server else 0.0
    t0 = time.monotonic()
    if driver == "smtp-source":
        run_smtp_source(port, sessions, messages)
    else:
        run_mtrk_client(port, sessions, messages, mtrk)
    accepted = time.monotonic() - t0
    sink.wait(base + messages)
    e2e = time.monotonic() - t0
    cpu = None
    if server:
        relay_harness.wait_for("the queue to empty", server.queue_empty, ROUND_TIMEOUT, 0.005)
        cpu = (server.cpu_seconds() - cpu0) / messages
    return messages / accepted, e2e, cpu


SYNC_CALLS = ("fsync", "fdatasync", "syncfs", "sync", "sync_file_range", "msync")


def count_fsyncs(pids, send, wait_done):
    """Sync calls of @pids (and their new threads/children) while send() runs and until
    wait_done() says everything left the queue: a dict name -> count over SYNC_CALLS
    (fdatasync and syncfs count as an fsync each; the track store's journal uses syncfs
    once per DURABLE_JOURNAL_CAPACITY of records and at a clean stop)."""
    out_path = "/tmp/bench-relay-strace.%d" % os.getpid()
    cmd = ["strace", "-f", "-c", "-e", "trace=" + ",".join(SYNC_CALLS), "-o", out_path]
    for p in pids:
        cmd += ["-p", str(p)]
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let strace attach
    send()
    wait_done()
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    st.wait(timeout=30)
    counts = {}
    with open(out_path) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) in SYNC_CALLS:
                counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    os.unlink(out_path)
    return counts


def format_syncs(counts, n):
    total = sum(counts.values())
    detail = ", ".join("%s %d" % (k, counts[k]) for k in SYNC_CALLS if counts.get(k))
    return "%.2f (%s)" % (total / n, detail or "none")


# server/common/durable-group.h, durable-group.c: a journal's size, its header, and a
# record's head and alignment (the payload is the tracking record's text).
DURABLE_JOURNAL_CAPACITY = 4 * 1024 * 1024
JOURNAL_HEADER_SIZE = 512
RECORD_HEAD_SIZE = 16
RECORD_ALIGN = 8


def records_per_journal(state_dir):
    """How many tracking records fill one track store journal (one syncfs each time it
    is full), from the mean size of the records under @state_dir/tracking; or None."""
    sizes = [os.path.getsize(p) for p in glob.glob(os.path.join(state_dir, "tracking", "*.trk"))]
    if not sizes:
        return None
    payload = sum(sizes) / len(sizes)
    per = RECORD_HEAD_SIZE + -(-payload // RECORD_ALIGN) * RECORD_ALIGN
    return int((DURABLE_JOURNAL_CAPACITY - JOURNAL_HEADER_SIZE) // per)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--relay", required=True, help="path of msgtrk-relay")
    ap.add_argument("--messages", type=int, default=200, help="messages per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case")
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--workers", type=int, default=8, help="relay [queue] workers")
    ap.add_argument("--strace-messages", type=int, default=100)
    ap.add_argument("--relay-before", default=None,
                    help="path of an older msgtrk-relay, run in the same alternating rounds "
                    "(before/after comparisons on a shared machine)")
    args = ap.parse_args()

    for tool in ("smtp-source", "smtp-sink", "strace"):
        if shutil.which(tool) is None:
            print("bench-relay-postfix: %s not found" % tool)
            return 77
    reason = postfix_instance.skip_reason()
    if reason:
        print("bench-relay-postfix: %s" % reason)
        return 77

    sink = Sink()
    pf = BenchPostfix(sink.port)
    base = pf.base
    relay = BenchRelay(os.path.abspath(args.relay), base, "relay", "relay.bench.example",
                       {"*": "smtp:127.0.0.1:%d" % sink.port},
                       relay={"max_message_size": "10240000", "idle_timeout": "300"},
                       queue={"workers": str(args.workers), "retry_first": "1"})
    before = None
    if args.relay_before:
        before = BenchRelay(os.path.abspath(args.relay_before), base, "before",
                            "before.bench.example", {"*": "smtp:127.0.0.1:%d" % sink.port},
                            relay={"max_message_size": "10240000", "idle_timeout": "300"},
                            queue={"workers": str(args.workers), "retry_first": "1"})
    try:
        pf.configure()
        pf.start()
        relay.start()
        if before:
            before.start()
        print("# load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("# %d messages per round, %d rounds, relay workers %d, %d CPUs"
              % (args.messages, args.rounds, args.workers, os.cpu_count()))
        # warm-up (Postfix spawns its processes, the relay its connections)
        for port in (pf.port, relay.port) + ((before.port,) if before else ()):
            one_round(sink, port, "smtp-source", 2, 20, False)

        sessions = [int(s) for s in args.sessions.split(",")]
        cases = [("smtp-source", s, False) for s in sessions] + \
                [("mtrk-client", s, True) for s in sessions]
        results = {}
        for driver, s, mtrk in cases:
            for r in range(args.rounds):
                order = [("postfix", pf.port), ("relay", relay.port)]
                if before:
                    order.append(("before", before.port))
                    order = order[r % 3:] + order[:r % 3]
                elif r % 2:
                    order.reverse()
                for name, port in order:
                    server = {"postfix": pf, "relay": relay, "before": before}[name]
                    results.setdefault((driver, s, name), []).append(
                        one_round(sink, port, driver, s, args.messages,
                                  mtrk and name != "postfix", server))

        def median(xs):
            xs = sorted(xs)
            return xs[len(xs) // 2]

        print("%-12s %4s  %12s %12s %6s  %10s %10s %6s  %9s %9s %6s" % (
            "driver", "sess", "relay msg/s", "pfix msg/s", "ratio",
            "relay e2e", "pfix e2e", "ratio", "relay cpu", "pfix cpu", "ratio"))
        for driver, s, _mtrk in cases:
            rr = results[(driver, s, "relay")]
            pp = results[(driver, s, "postfix")]
            r_rate, p_rate = median([x[0] for x in rr]), median([x[0] for x in pp])
            r_e2e, p_e2e = median([x[1] for x in rr]), median([x[1] for x in pp])
            r_cpu, p_cpu = median([x[2] for x in rr]), median([x[2] for x in pp])
            print("%-12s %4d  %12.1f %12.1f %5.2fx  %9.2fs %9.2fs %5.2fx  %7.0fus %7.0fus %5.2fx"
                  % (driver, s, r_rate, p_rate, r_rate / p_rate, r_e2e, p_e2e, r_e2e / p_e2e,
                     r_cpu * 1e6, p_cpu * 1e6, r_cpu / p_cpu if p_cpu else 0.0))
            if before:
                bb = results[(driver, s, "before")]
                b_rate, b_e2e = median([x[0] for x in bb]), median([x[1] for x in bb])
                b_cpu = median([x[2] for x in bb])
                print("%-12s %4s  %12.1f %12s %5.2fx  %9.2fs %9s %5.2fx  %7.0fus %9s %5.2fx"
                      "   (before)" % ("", "", b_rate, "", b_rate / p_rate, b_e2e, "",
                                       b_e2e / p_e2e, b_cpu * 1e6, "",
                                       b_cpu / p_cpu if p_cpu else 0.0))
        print("# cpu: the server's own CPU time per message (utime + stime, /proc) from the "
              "first connection until the sink has every message and its queue is empty; "
              "median of the rounds")

        n = args.strace_messages
        f_relay_mtrk = count_fsyncs(
            [relay.proc.pid], lambda: one_round(sink, relay.port, "mtrk-client", 10, n, True),
            lambda: relay_harness.wait_for("relay queue empty", relay.queue_empty, 60, 0.05))
        f_relay_plain = count_fsyncs(
            [relay.proc.pid], lambda: one_round(sink, relay.port, "smtp-source", 10, n, False),
            lambda: relay_harness.wait_for("relay queue empty", relay.queue_empty, 60, 0.05))
        f_pf = count_fsyncs(
            pf.pids(), lambda: one_round(sink, pf.port, "smtp-source", 10, n, False),
            lambda: relay_harness.wait_for("postfix queue empty", pf.queue_empty, 60, 0.05))
        print("fsyncs per message (strace -f -c -e trace=%s, %d messages, 10 sessions): "
              "relay tracked (MTRK) %s, relay untracked %s, Postfix %s"
              % (",".join(SYNC_CALLS), n, format_syncs(f_relay_mtrk, n),
                 format_syncs(f_relay_plain, n), format_syncs(f_pf, n)))
        per = records_per_journal(relay.state_dir)
        if per:
            print("syncfs of the track store journal (not in the window above unless it fell "
                  "there): one per %d tracking records = %.4f per tracked message, plus one at "
                  "each clean stop" % (per, 1.0 / per))
        print("# load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        print("# goals (issue 10): acceptance >= 1.0x at 1 session, >= 2x at 10 and 50; "
              "end to end <= 0.8x with MTRK; <= 2 fsyncs per tracked message")
    finally:
        relay.cleanup()
        if before:
            before.cleanup()
        pf.cleanup()
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
