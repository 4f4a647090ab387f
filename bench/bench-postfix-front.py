#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench-postfix-front.py: what msgtrk-submit-front costs in front of a real Postfix.

  bench-postfix-front.py --build-dir BUILD [--sessions 1,10,50] [--messages 400]
                         [--rounds 3] [--size 2000] [--front-option KEY=VALUE]
                         [--tools LOADS] [--steps N] [--old-front EXE]

What: a private Postfix on 127.0.0.1 (tests/postfix/postfix_instance.py; recipients of
bench.test.example go to the discard transport, so delivery costs little) and
msgtrk-submit-front in front of it (as in docs/postfix-site.md: XCLIENT, XFORWARD IDENT,
registrations in a temporary state directory). The same load goes straight into Postfix and through the
front, alternating in each round (the first target alternates between rounds):
  smtp-source   Postfix's own load generator (-s SESSIONS -m MESSAGES -l SIZE), one
                message per connection; msg/s from the wall time
  mtrk client   an asyncio SMTP client, one command per round trip, one message per
                connection: MAIL FROM with ENVID (and MTRK=B:86400 through the front, which
                takes it off and registers the message through its journal, one grouped
                fdatasync, docs/durability.md, run while Postfix writes its queue file:
                each message has a Message-ID; Postfix itself would refuse MTRK=
                with 555, so straight into Postfix the MAIL carries ENVID only); msg/s and
                the median latency per message (connect to the 250 after DATA)
  pipe client   the envid client pipelining MAIL, RCPT and DATA in one write (RFC 2920;
                Postfix and the front offer PIPELINING; ENVID only, nothing registered):
                the front sends the group to Postfix in one write too
  envid client  the same client with ENVID only, also through the front (no MTRK, so no
                registration): the front's mtrk - envid median is what the registration
                itself costs, the rest of the front's + is the extra hop
--steps N: first, per round and target, N sessions one after the other (ENVID only, one
command per round trip, a plain socket client) and the median time of each step
(connect+greeting, EHLO, MAIL, RCPT, DATA, body+250, QUIT): where the front's extra
latency goes. "--tools ''" runs only that.
--upstream-unix: the front talks to Postfix's smtpd on a UNIX-domain socket (a master.cf
"unix" smtpd service, public/frontsmtpd) instead of 127.0.0.1 (docs/postfix-site.md).
--postfix-option KEY=VALUE: a main.cf parameter of the private Postfix, for both targets
(e.g. in_flow_delay=0: no flow-control pauses of cleanup, see bench/README.md).
--perf-stat: each front run also under `perf stat` (task-clock, context switches, system
calls of all the front's threads, per message): exact where /proc's CPU ticks (10 ms) are
coarse, and counts that a loaded machine does not change.
--perf-machine: each run also sampled over the whole machine (perf record -a, by time)
and its CPU per message split by command (the proxy, smtpd, cleanup, the clients...):
what a proxy makes Postfix's processes spend too. --perf-machine-dir DIR keeps the
recordings. Every run prints the machine's CPU per message (/proc/stat, until Postfix
has delivered the run's messages; 10 ms ticks: use 2000 messages or more) and how busy
the CPUs were during the run.
--rate MSG/S: the asyncio clients (mtrk, envid, pipe) in an open loop: message i starts at
i/MSG/S seconds, at most SESSIONS in flight. In the closed loop (the default) each session
sends its next message when the last is done, so at 10 and 50 sessions the median latency
is mostly time queued (sessions / throughput); at a rate both targets sustain it is each
target's own latency per message, the one the goal's "+1 ms" is about.
--tls: the asyncio clients submit as RFC 8314 has it on 587: STARTTLS, then EHLO again,
the certificate checked (the test PKI of tests/make-test-ca.sh, made in the Postfix
directory). Postfix straight terminates that TLS itself (smtpd_tls_security_level=may with
the same keys), the front terminates it and talks to Postfix in clear text over loopback
(as docs/postfix-site.md sets a site up), HAProxy passes it through to Postfix. The
deployed configuration: the TLS handshake moves from Postfix to the front. --tls-max 1.2
keeps the clients at TLS 1.2 (Postfix's smtpd, which leaves Nagle's algorithm on, then
sends no TLS 1.3 session tickets after the handshake: see bench/README.md).
--null-proxy: HAProxy (Debian's haproxy, mode tcp, one thread) between the client and
Postfix as one more target, "haproxy": a proxy that only copies bytes (no SMTP, no XCLIENT,
epoll, no thread per session); its ratio to Postfix straight is the floor any proxy in
front of Postfix pays on this machine, its CPU per message what copying alone costs.
--extra-proxy NAME=EXE (repeatable): one more target NAME, a relay started as
`EXE --port-file FILE --upstream 127.0.0.1:PORT` in front of Postfix (the bench relays
bench/bench-relay-*.c: the front's I/O model against epoll and GIO, docs/postfix-front-io.md);
counted and printed as HAProxy is, with its ratio to Postfix and to HAProxy. It relays
bytes only, so the mtrk client sends it ENVID without MTRK= (use envid-client).
--old-front EXE: a second front (another build, e.g. the one before a change) as a third
target, the three alternating in every round (the first target rotates): its figures,
and the new front's msg/s and CPU against it ("new/old"), measured under the same load.
Per sessions count it prints the median over the rounds for each target and the ratios
(front / Postfix throughput, front - Postfix median latency) against the goal: the front
costs at most 10 % of Postfix's acceptance throughput and at most 1 ms median latency.
With them, the machine's CPU per message (all processes, from /proc/stat) of each target
and how busy the CPUs were; where they were all busy, Postfix straight's figure P sets what
the goal allows any proxy: a proxy adding X per message leaves about P / (P + X) of
Postfix's msg/s, so 90 % allows X <= P / 9 (printed with each proxy's X and its P / (P + X)).
--front-verbose: the (new) front runs with --verbose and, once stopped, its summary of
the pending registration joins is printed (how many found the write started at the 354
done when the data came, how many waited for it: docs/postfix-front-io.md). Verbose, the
front also logs a few info lines per session: use it for that count, not for its CPU.
How: run as root (Postfix's master runs as root, the front drops to nobody); use a
debugoptimized build. On demand only, never a test. The queue is left to drain between
runs so that each starts with an empty queue.
Limits: DRAIN_TIMEOUT, RUN_TIMEOUT per run.
Never: touch the system's Postfix; leave a process or its directory behind.
"""

import argparse
import asyncio
import os
import pwd
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "postfix"))
import postfix_instance as pi  # noqa: E402
from tracking_harness import AUTH, Daemon, wait_for  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
HAPROXY = "/usr/sbin/haproxy"
DRAIN_TIMEOUT = 120.0
RUN_TIMEOUT = 600.0
RCPT = "r@bench.test.example"
SENDER = "bench@test.example"
GOAL_THROUGHPUT = 0.90   # front / Postfix, at least
GOAL_LATENCY_MS = 1.0    # front - Postfix median, at most
# The bench runs in a network namespace of its own (loopback only), where a UNIX datagram
# socket's queue holds UNIX_DGRAM_QLEN datagrams, as on a Debian host (systemd's
# sysctl.d/50-default.conf), not the kernel's own 10 (this build machine has no systemd):
# with 10, postlogd (the maillog_file writer: every Postfix process logs to its datagram
# socket) blocks Postfix's daemons at fifty sessions, and Postfix 3.7's master and
# postlogd can deadlock (bench/README.md, "Postfix's log socket").
UNIX_DGRAM_QLEN = 512
NETNS_MARK = "MSGTRK_BENCH_NETNS"  # pi.in_namespace()
QLEN_SYSCTL = "/proc/sys/net/unix/max_dgram_qlen"
# The namespace's set-up: probed in a throw-away namespace, then made in the bench's own.
NETNS_SETUP = ["sh", "-c", "ip link set lo up && echo %d > %s" % (UNIX_DGRAM_QLEN, QLEN_SYSCTL)]


def own_netns(host_net):
    """Runs the bench again in a network namespace of its own (unshare --net, loopback up,
    net.unix.max_dgram_qlen UNIX_DGRAM_QLEN), unless @host_net or already there (then
    returns a line saying where it runs); where that namespace cannot be made, returns a
    line saying why and the bench stays in the host's."""
    if pi.in_namespace(NETNS_MARK):
        subprocess.run(NETNS_SETUP, check=True)
        return "# a network namespace of its own: net.unix.max_dgram_qlen %d" % UNIX_DGRAM_QLEN
    try:
        with open(QLEN_SYSCTL) as f:
            qlen = f.read().strip()
    except OSError as e:
        qlen = "unknown (%s)" % e.strerror
    if host_net:
        return "# the host's network namespace (--host-net): net.unix.max_dgram_qlen %s" % qlen
    # The namespace's whole set-up tried first, so that a failure leaves the bench here.
    probe = subprocess.run(["unshare", "--net"] + NETNS_SETUP, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    if probe.returncode != 0:
        return ("# no network namespace of its own (%s): the host's net.unix.max_dgram_qlen %s"
                % (probe.stderr.decode(errors="replace").strip()
                   or "unshare --net: exit %d" % probe.returncode, qlen))
    print("# the host's net.unix.max_dgram_qlen: %s" % qlen)
    pi.reexec_in_namespace(NETNS_MARK, ["--net"])


def queue_files(pf):
    n = 0
    for d in ("maildrop", "incoming", "active", "deferred", "hold"):
        for _, _, files in os.walk(os.path.join(pf.queue, d)):
            n += len(files)
    return n


def drain(pf):
    wait_for("Postfix's queue to drain", lambda: queue_files(pf) == 0, DRAIN_TIMEOUT)


def run_smtp_source(port, sessions, messages, size):
    t0 = time.monotonic()
    r = subprocess.run([SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l",
                        str(size), "-f", SENDER, "-t", RCPT, "-M", "client.test.example",
                        "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise pi.PostfixError("smtp-source failed: %s" % r.stdout.decode(errors="replace"))
    return messages / wall, None


async def _reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise pi.PostfixError("connection closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


async def _message(port, mtrk, envid, body, latencies, pipelined=False, tls=None):
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async def cmd(line, want):
            writer.write(line + b"\r\n")
            code = await _reply(reader)
            if code != want:
                raise pi.PostfixError("%r: %d (wanted %d)" % (line, code, want))
        if await _reply(reader) != 220:
            raise pi.PostfixError("no 220")
        await cmd(b"EHLO client.test.example", 250)
        if tls is not None:
            # --tls: as a submission client on 587 (RFC 8314): STARTTLS, EHLO again.
            await cmd(b"STARTTLS", 220)
            await writer.start_tls(tls, server_hostname="localhost")
            await cmd(b"EHLO client.test.example", 250)
        mail = b"MAIL FROM:<" + SENDER.encode() + b"> ENVID=" + envid.encode()
        if mtrk:
            mail += b" MTRK=" + AUTH.encode() + b":86400"
        rcpt = b"RCPT TO:<" + RCPT.encode() + b">"
        if pipelined:
            writer.write(mail + b"\r\n" + rcpt + b"\r\nDATA\r\n")
            codes = [await _reply(reader) for _ in range(3)]
            if codes != [250, 250, 354]:
                raise pi.PostfixError("pipelined MAIL/RCPT/DATA: %r" % codes)
        else:
            await cmd(mail, 250)
            await cmd(rcpt, 250)
            await cmd(b"DATA", 354)
        writer.write(b"Message-ID: <" + envid.encode() + b">\r\n" + body + b".\r\n")
        if await _reply(reader) != 250:
            raise pi.PostfixError("DATA not accepted")
        latencies.append(time.monotonic() - t0)
        writer.write(b"QUIT\r\n")
        await _reply(reader)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def _client(port, mtrk, sessions, messages, size, tag, pipelined, rate, tls):
    body = (b"Subject: bench\r\n\r\n" + (b"x" * 78 + b"\r\n") * max(1, size // 80))
    latencies = []
    counter = iter(range(messages))

    async def worker():
        for i in counter:
            await _message(port, mtrk, "%s-%d@test.example" % (tag, i), body, latencies,
                           pipelined, tls)

    async def open_loop():
        # Message i starts at i / rate s (at most @sessions at once): its latency is the
        # target's own, not time spent queued behind the others as in a closed loop.
        slots = asyncio.Semaphore(sessions)

        async def one(i):
            async with slots:
                await _message(port, mtrk, "%s-%d@test.example" % (tag, i), body,
                               latencies, pipelined, tls)
        tasks = []
        for i in range(messages):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    t0 = time.monotonic()
    if rate:
        await open_loop()
    else:
        await asyncio.gather(*(worker() for _ in range(sessions)))
    wall = time.monotonic() - t0
    return messages / wall, statistics.median(latencies)


def run_client(port, mtrk, sessions, messages, size, tag, pipelined=False, rate=0.0,
               tls=None):
    return asyncio.run(asyncio.wait_for(_client(port, mtrk, sessions, messages, size, tag,
                                                pipelined, rate, tls), RUN_TIMEOUT))


STEPS = ("connect+greeting", "EHLO", "MAIL", "RCPT", "DATA", "body+250", "QUIT")


def _sync_reply(f):
    while True:
        line = f.readline()
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]) if line[:3].isdigit() else 0


def run_steps(port, n, size):
    """--steps: @n sessions one after the other, one plain message each (ENVID only, one
    command per round trip); the median of each step in ms."""
    body = (b"Subject: bench\r\n\r\n" + (b"x" * 78 + b"\r\n") * max(1, size // 80)
            + b".\r\n")
    times = {k: [] for k in STEPS}
    for i in range(n):
        t = [time.monotonic()]
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = sock.makefile("rb")
        _sync_reply(f)
        t.append(time.monotonic())
        for line in (b"EHLO client.test.example",
                     b"MAIL FROM:<" + SENDER.encode() + b"> ENVID=steps-%d" % i,
                     b"RCPT TO:<" + RCPT.encode() + b">", b"DATA", None, b"QUIT"):
            sock.sendall(body if line is None else line + b"\r\n")
            _sync_reply(f)
            t.append(time.monotonic())
        sock.close()
        for k, a, b in zip(STEPS, t, t[1:]):
            times[k].append(b - a)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


# --claim-pending: seconds between two sweeps of the pending registrations by ident.
CLAIM_INTERVAL = 0.02


def claim_pending(regs, stop):
    """What the follower does to the files of the pending registrations it binds: remove
    them (it also writes QID.reg, in its own process; not done here)."""
    while not stop.wait(CLAIM_INTERVAL):
        try:
            names = os.listdir(regs)
        except OSError:
            return
        for n in names:
            if n.startswith("msgtrk-") and n.endswith(".pending"):
                try:
                    os.unlink(os.path.join(regs, n))
                except OSError:
                    pass


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    """utime + stime of process @pid (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, all) seconds of all the machine's CPUs so far, from /proc/stat (host-wide
    in the bench's network namespace too): what every process (clients, Postfix, the
    proxy, the bench) spent, and the time there was."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]  # user .. steal; guest is in user
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / tck, sum(v) / tck  # idle and iowait are not busy


PERF_EVENTS = "task-clock,context-switches,raw_syscalls:sys_enter"
PERF_MACHINE_HZ = 999   # --perf-machine's samples per second and CPU
PERF_MACHINE_TOP = 12   # commands printed per target, the most CPU first


def perf_start(pid):
    return subprocess.Popen(["perf", "stat", "-x", ",", "-e", PERF_EVENTS, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def perf_machine_start(path):
    """Samples of every CPU (all processes and kernel threads) into @path, from now: by
    time (cpu-clock), not by cycles, whose weight changes with the clock rate."""
    return subprocess.Popen(["perf", "record", "-a", "-e", "cpu-clock",
                             "-F", str(PERF_MACHINE_HZ), "-o", path, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def perf_machine_stop(p, path, keep=None):
    """{command: share of the busy samples} of a perf_machine_start()ed recording, ended
    now; None, said why, when perf recorded or reported nothing. The idle task's samples
    ("swapper") are idle time, not counted. The recording is then moved to @keep, or
    removed."""
    p.send_signal(2)
    err = p.communicate(timeout=60)[1].decode(errors="replace").strip()
    if not os.path.exists(path):
        print("# perf record -a recorded nothing: %s" % (err[-300:] or "no reason given"))
        return None
    r = subprocess.run(["perf", "report", "-i", path, "--sort", "comm", "--stdio", "-q"],
                       capture_output=True, timeout=120)
    out = r.stdout.decode(errors="replace")
    if keep:
        shutil.move(path, keep)
    else:
        os.unlink(path)
    if r.returncode != 0:
        print("# perf report failed: %s" % r.stderr.decode(errors="replace").strip()[-300:])
        return None
    shares = {}
    for line in out.splitlines():
        f = line.split(None, 1)
        if len(f) == 2 and f[0].endswith("%"):
            # Postfix's and the kernel's per-CPU threads by their kind (kworker/1:2 -> kworker)
            comm = f[1].strip().split("/")[0]
            if comm != "swapper":
                shares[comm] = shares.get(comm, 0) + float(f[0][:-1]) / 100
    busy = sum(shares.values())
    return {k: v / busy for k, v in shares.items()} if busy else None


def perf_stop(p):
    """{event: value} of a perf_start()ed count, ended now."""
    p.send_signal(2)
    out = p.communicate(timeout=30)[1].decode()
    v = {}
    for line in out.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            v[f[2]] = float(f[0])
    return v


def budget(tool, sessions, proxies, machine):
    """What the throughput goal allows a proxy, from the machine's CPU per message: where
    the runs kept every CPU busy, Postfix straight spent P per message and a proxy that
    adds X leaves about P / (P + X) of Postfix's msg/s, so the goal allows
    X <= P * (1 / GOAL_THROUGHPUT - 1). Printed with each proxy's X and what it predicts
    (docs/postfix-front-io.md, "The machine's CPU per message, by command")."""
    p = machine[(tool, sessions, "postfix")]
    pu = statistics.median(x[0] for x in p)
    line = "machine CPU per message (all processes, median): postfix %.0f us (%.0f %% busy)" % (
        pu, statistics.median(x[1] for x in p) * 100)
    for t in proxies:
        if (tool, sessions, t) in machine:
            m = machine[(tool, sessions, t)]
            xu = statistics.median(x[0] for x in m) - pu
            line += "; %s %+.0f us (%.0f %% busy) -> %.2f" % (
                t, xu, statistics.median(x[1] for x in m) * 100, pu / (pu + xu))
    print("%-11s %8s   %s" % ("", "", line))
    print("%-11s %8s   %.0f %% of Postfix's msg/s allows a proxy %+.0f us per message where"
          " every CPU is busy" % ("", "", GOAL_THROUGHPUT * 100,
                                  pu * (1 / GOAL_THROUGHPUT - 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--tools", default="smtp-source,mtrk-client,envid-client,pipe-client",
                    help="loads to run (comma-separated)")
    ap.add_argument("--sessions", default="1,10,50")
    ap.add_argument("--messages", type=int, default=400, help="messages per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=2000, help="message body bytes")
    ap.add_argument("--steps", type=int, default=0, metavar="N",
                    help="also time each SMTP step over N sessions per target and round")
    ap.add_argument("--upstream-unix", action="store_true",
                    help="the front's upstream is an smtpd on a UNIX-domain socket")
    ap.add_argument("--old-front-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra [front] setting of the old front only ({port}: Postfix's "
                         "TCP port), e.g. upstream=127.0.0.1:{port} with --upstream-unix")
    ap.add_argument("--perf-stat", action="store_true",
                    help="count each front run's CPU, context switches and system calls")
    ap.add_argument("--perf-machine", action="store_true",
                    help="sample the whole machine during each run (perf record -a) and print "
                         "its CPU per message by command (what a proxy makes others spend)")
    ap.add_argument("--perf-machine-dir", metavar="DIR",
                    help="with --perf-machine: keep each run's recording in DIR "
                         "(ROUND-TOOL-SESSIONS-TARGET.data) for perf report --comm ...")
    ap.add_argument("--old-front", metavar="EXE",
                    help="a second msgtrk-submit-front to compare with, alternating")
    ap.add_argument("--null-proxy", action="store_true",
                    help="HAProxy (mode tcp) in front of Postfix as one more target")
    ap.add_argument("--extra-proxy", action="append", default=[], metavar="NAME=EXE",
                    help="one more target: EXE --port-file F --upstream 127.0.0.1:PORT "
                         "(bench/bench-relay-*), repeatable")
    ap.add_argument("--postfix-option", action="append", default=[], metavar="KEY=VALUE",
                    help="a main.cf line of the private Postfix (e.g. in_flow_delay=0)")
    ap.add_argument("--front-option", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra [front] setting (e.g. xclient=false), repeatable")
    ap.add_argument("--tls", action="store_true",
                    help="clients use STARTTLS (Postfix straight and the front with the "
                         "test PKI's keys; HAProxy passes it to Postfix); no smtp-source")
    ap.add_argument("--tls-max", choices=("1.2", "1.3"), default="1.3",
                    help="with --tls: the clients' highest TLS version (1.2: no TLS 1.3 "
                         "session tickets after the handshake, see bench/README.md)")
    ap.add_argument("--rate", type=float, default=0.0, metavar="MSG/S",
                    help="the asyncio clients in an open loop: a message starts every "
                         "1/MSG/S s, at most SESSIONS at once (latency without queueing)")
    ap.add_argument("--state-dir", metavar="DIR", default="/var/tmp",
                    help="the front's state_dir (its registrations) is a new directory under "
                         "DIR (default /var/tmp: apart from Postfix's queue, as "
                         "/var/lib/msgtrk is from /var/spool/postfix on a site); 'beside': "
                         "in the private Postfix's directory, next to its queue")
    ap.add_argument("--claim-pending", action="store_true",
                    help="remove the fronts' msgtrk-*.pending files every %d ms, as the "
                         "follower does once it has bound them (no follower runs; the "
                         "front's slot files are reused only once their pending name is "
                         "gone, bench/README.md)" % int(CLAIM_INTERVAL * 1000))
    ap.add_argument("--front-verbose", action="store_true",
                    help="the front with --verbose; its pending registration joins' "
                         "summary printed after its stop (bench/README.md)")
    ap.add_argument("--front-cpus", metavar="CPUS",
                    help="the fronts and HAProxy on these CPUs (e.g. 1), Postfix and the "
                         "clients on the others: what the front costs Postfix when it has a "
                         "CPU of its own (bench/README.md)")
    ap.add_argument("--host-net", action="store_true",
                    help="run in the host's network namespace (default: one of its own, "
                         "with net.unix.max_dgram_qlen %d, bench/README.md)" % UNIX_DGRAM_QLEN)
    a = ap.parse_args()
    if a.perf_machine_dir:
        a.perf_machine = True
        os.makedirs(a.perf_machine_dir, exist_ok=True)
    if (a.perf_stat or a.perf_machine) and not shutil.which("perf"):
        print("bench-postfix-front: --perf-stat and --perf-machine need perf "
              "(Debian: linux-perf)")
        return 1
    where = own_netns(a.host_net)
    reason = pi.skip_reason()
    if reason or not os.access(SMTP_SOURCE, os.X_OK):
        print("bench-postfix-front: %s" % (reason or "smtp-source (postfix) is missing"))
        return 1
    front_exe = os.path.join(os.path.abspath(a.build_dir), "server", "postfix",
                             "msgtrk-submit-front")
    sessions = [int(x) for x in a.sessions.split(",")]
    tools = [x for x in a.tools.split(",") if x]
    if a.tls and "smtp-source" in tools:
        print("# --tls: smtp-source has no STARTTLS; left out")
        tools.remove("smtp-source")
    pi.raise_on_terminate()  # SIGTERM, SIGINT: Postfix, the fronts and the directories go
    print("load average at the start: %.2f %.2f %.2f" % os.getloadavg())
    print(where)
    extras = {}  # --extra-proxy name -> Daemon
    for spec in a.extra_proxy:
        name, _, exe = spec.partition("=")
        if not exe or not os.access(exe, os.X_OK) or name in (
                "postfix", "front", "old", "haproxy") or name in extras:
            print("bench-postfix-front: --extra-proxy %s: want NAME=EXE, a new name and an "
                  "executable" % spec)
            return 1
        extras[name] = os.path.abspath(exe)
    pf = pi.PrivatePostfix()  # its directory: removed by the clean-up below
    state = None
    claim_stop = threading.Event()
    front = None
    old = None
    haproxy = None
    try:
        pf.configure()
        main_cf = os.path.join(pf.conf, "main.cf")
        text = open(main_cf).read().replace(
            "relay_domains = slow.test.example, legacy.test.example",
            "relay_domains = slow.test.example, legacy.test.example, bench.test.example")
        # As docs/postfix-site.md: XCLIENT and XFORWARD (the tracked messages' IDENT) from
        # the front; --postfix-option smtpd_authorized_xforward_hosts= measures the
        # Message-ID fallback (a later line wins).
        text += "smtpd_authorized_xclient_hosts = 127.0.0.0/8\n"
        text += "smtpd_authorized_xforward_hosts = 127.0.0.0/8\n"
        tls = None
        if a.tls:
            pki = os.path.join(pf.base, "pki")
            subprocess.run(["sh", os.path.join(ROOT, "tests", "make-test-ca.sh"), pki],
                           check=True, capture_output=True)
            tls = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
            if a.tls_max == "1.2":
                tls.maximum_version = ssl.TLSVersion.TLSv1_2
            text += ("smtpd_tls_cert_file = %s/server.pem\nsmtpd_tls_key_file = %s/server.key\n"
                     "smtpd_tls_security_level = may\n" % (pki, pki))
            a.front_option = ["tls_certificate=%s/server.pem" % pki,
                              "tls_key=%s/server.key" % pki] + a.front_option
        text += "".join(o.replace("=", " = ", 1) + "\n" for o in a.postfix_option)
        with open(main_cf, "w") as f:
            f.write(text)
        with open(os.path.join(pf.conf, "transport"), "a") as f:
            f.write("bench.test.example discard:\n")
        # qmgr woken by the master every 300 s, as in Debian's master.cf (the tests' 1 s
        # has the master log "master_wakeup_timer_event: ... Resource temporarily
        # unavailable" under load, the line of the deadlock in bench/README.md).
        master_cf = os.path.join(pf.conf, "master.cf")
        text = open(master_cf).read()
        if "qmgr unix n - n 1 1 qmgr" not in text:
            raise pi.PostfixError("master.cf: no qmgr line to change")
        with open(master_cf, "w") as f:
            f.write(text.replace("qmgr unix n - n 1 1 qmgr", "qmgr unix n - n 300 1 qmgr"))
        if a.upstream_unix:
            with open(os.path.join(pf.conf, "master.cf"), "a") as f:
                f.write("frontsmtpd unix n - n - - smtpd\n")
        if a.tls:
            with open(os.path.join(pf.conf, "master.cf"), "a") as f:
                f.write("tlsmgr unix - - n 1000? 1 tlsmgr\n")
        proxy_cpus = None
        if a.front_cpus:
            proxy_cpus = set(int(x) for x in a.front_cpus.split(","))
            rest = os.sched_getaffinity(0) - proxy_cpus
            if not proxy_cpus or not rest:
                print("bench-postfix-front: --front-cpus %s leaves no CPU for one side"
                      % a.front_cpus)
                return 1
            # Postfix's master and every process it starts, and the clients, inherit this.
            os.sched_setaffinity(0, rest)
            print("# the fronts and HAProxy on CPUs %s; Postfix and the clients on CPUs %s" % (
                ",".join(map(str, sorted(proxy_cpus))), ",".join(map(str, sorted(rest)))))
        pf.start()
        # taskset execs the daemon: its pid stays the one perf and the CPU counts read.
        pin = ["taskset", "-c", a.front_cpus] if proxy_cpus else []
        upstream = "127.0.0.1:%d" % pf.port
        if a.upstream_unix:
            # public/ is for the postdrop group; the front runs as nobody.
            os.chmod(os.path.join(pf.queue, "public"), 0o711)
            upstream = "unix:" + os.path.join(pf.queue, "public", "frontsmtpd")
        nobody = pwd.getpwnam("nobody")
        # Not in the private Postfix's tree by default: ext4 puts a new directory's files
        # in its parent's block group, and without a journal every inode allocation
        # there scans the group's recently removed inodes, Postfix's queue files
        # (bench/README.md, "Where the registrations live").
        beside = a.state_dir == "beside"
        state = (os.path.join(pf.base, "msgtrk") if beside
                 else tempfile.mkdtemp(prefix="bench-front-state-", dir=a.state_dir))
        os.makedirs(os.path.join(state, "postfix-registrations"))
        for d in (state, os.path.join(state, "postfix-registrations")):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        if a.claim_pending:
            claimer = threading.Thread(target=claim_pending, daemon=True,
                                       args=(os.path.join(state, "postfix-registrations"),
                                             claim_stop))
            claimer.start()
        conf = os.path.join(pf.base, "front.conf")
        with open(conf, "w") as f:
            f.write("[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                    "upstream=%s\nstate_dir=%s\nuser=nobody\nmax_connections=200\n"
                    % (upstream, state) + "".join(o + "\n" for o in a.front_option))
        def start_front(exe, name, extra=(), args=()):
            conf = os.path.join(pf.base, name + ".conf")
            text = open(os.path.join(pf.base, "front.conf")).read()
            with open(conf, "w") as f:
                f.write(text + "".join(o.replace("{port}", str(pf.port)) + "\n" for o in extra))
            port_file = os.path.join(pf.base, name + ".port")
            d = Daemon(pin + [exe, "--config", conf, "--port-file", port_file] + list(args),
                       os.path.join(pf.base, name + ".log"))
            d.start()
            wait_for("the %s's port" % name, lambda: os.path.exists(port_file)
                     and open(port_file).read().endswith("\n"))
            return d, int(open(port_file).read())
        front, fport = start_front(front_exe, "front",
                                   args=["--verbose"] if a.front_verbose else [])
        targets = {"postfix": pf.port, "front": fport}
        daemons = {"front": front}
        if a.old_front:
            old, oport = start_front(os.path.abspath(a.old_front), "old", a.old_front_option)
            targets["old"] = oport
            daemons["old"] = old
            print("# old front on 127.0.0.1:%d (%s)" % (oport, os.path.abspath(a.old_front)))
        if a.null_proxy:
            if not os.access(HAPROXY, os.X_OK):
                print("bench-postfix-front: --null-proxy needs haproxy (apt install haproxy)")
                return 1
            hport = pi.free_port()
            hconf = os.path.join(pf.base, "haproxy.cfg")
            with open(hconf, "w") as f:
                f.write("global\n  nbthread 1\n  maxconn 1000\n"
                        "defaults\n  mode tcp\n  timeout connect 5s\n"
                        "  timeout client 60s\n  timeout server 60s\n"
                        "listen smtp\n  bind 127.0.0.1:%d\n  server postfix 127.0.0.1:%d\n"
                        % (hport, pf.port))
            haproxy = Daemon(pin + [HAPROXY, "-db", "-f", hconf], os.path.join(pf.base, "haproxy.log"))
            haproxy.start()
            wait_for("haproxy's port", lambda: port_open(hport))
            targets["haproxy"] = hport
            daemons["haproxy"] = haproxy
        for name, exe in list(extras.items()):
            port_file = os.path.join(pf.base, name + ".port")
            d = Daemon(pin + [exe, "--port-file", port_file, "--upstream",
                              "127.0.0.1:%d" % pf.port], os.path.join(pf.base, name + ".log"))
            extras[name] = d
            d.start()
            wait_for("the %s's port" % name, lambda: os.path.exists(port_file)
                     and open(port_file).read().endswith("\n"))
            targets[name] = int(open(port_file).read())
            daemons[name] = d
            print("# %s on 127.0.0.1:%d (%s)" % (name, targets[name], exe))
        names = list(targets)
        try:
            load = os.getloadavg()
        except OSError:
            load = (0, 0, 0)
        print("# Postfix %s on 127.0.0.1:%d, front on 127.0.0.1:%d (%s); %d CPUs, "
              "load average %.1f %.1f %.1f" % (
                  subprocess.run(["/usr/sbin/postconf", "-h", "mail_version"],
                                 capture_output=True).stdout.decode().strip(), pf.port,
                  fport, front_exe, os.cpu_count(), *load))
        print("# %d messages per run, %d body bytes, %d rounds, targets alternating%s"
              % (a.messages, a.size, a.rounds, "; front: " + ", ".join(a.front_option)
                 if a.front_option else ""))
        steps = {}  # target -> step -> [median ms per round]
        def order(rnd):
            k = rnd % len(names)
            return names[k:] + names[:k]
        for rnd in range(a.rounds if a.steps else 0):
            for target in order(rnd):
                drain(pf)
                for k, v in run_steps(targets[target], a.steps, a.size).items():
                    steps.setdefault(target, {}).setdefault(k, []).append(v)
        if steps:
            print("%-18s" % "step" + "".join(" %22s" % t for t in names)
                  + "   (median ms per round)")
            for k in STEPS:
                print("%-18s" % k + "".join(" %22s" % " / ".join("%.3f" % x for x in steps[t][k])
                                            for t in names))
        if not tools:
            return 0
        results = {}  # (tool, sessions, target) -> [(msg/s, latency)]
        cpus = {}  # (tool, sessions, target) -> [front CPU us per message]
        counts = {}  # (tool, sessions, target) -> [(syscalls, context switches) per message]
        machine = {}  # (tool, sessions, target) -> [(machine CPU us per message, busy share)]
        by_comm = {}  # (tool, sessions, target) -> command -> [machine CPU us per message]
        for rnd in range(a.rounds):
            for s in sessions:
                for tool in tools:
                    for target in order(rnd):
                        drain(pf)
                        d = daemons.get(target)
                        cpu0 = cpu_seconds(d.proc.pid) if d else 0
                        perf = pm = v = shares = None
                        pm_path = os.path.join(pf.base, "perf-machine.data")
                        try:
                            if d and a.perf_stat:
                                perf = perf_start(d.proc.pid)
                            if a.perf_machine:
                                pm = perf_machine_start(pm_path)
                            if perf or pm:
                                time.sleep(0.3)  # perf attached
                            m0 = machine_cpu()
                            if tool == "smtp-source":
                                r = run_smtp_source(targets[target], s, a.messages, a.size)
                            else:
                                r = run_client(targets[target],
                                               target in ("front", "old")
                                               and tool == "mtrk-client", s,
                                               a.messages, a.size,
                                               # one Message-ID per message of the run
                                               # (the front lets one message per
                                               # Message-ID wait for its registration)
                                               "b%d-%d-%s-%s" % (rnd, s, target, tool),
                                               tool == "pipe-client", a.rate, tls)
                            m1 = machine_cpu()
                            us = (cpu_seconds(d.proc.pid) - cpu0) * 1e6 / a.messages if d else 0
                            if perf:
                                v, perf = perf_stop(perf), None
                            # The machine's CPU until Postfix has delivered the run's
                            # messages (a faster target leaves more of them queued at the
                            # end); how busy it was, over the run alone.
                            drain(pf)
                            m2 = machine_cpu()
                            if pm:
                                keep = a.perf_machine_dir and os.path.join(
                                    a.perf_machine_dir,
                                    "%d-%s-%d-%s.data" % (rnd + 1, tool, s, target))
                                shares, pm = perf_machine_stop(pm, pm_path, keep), None
                        finally:
                            for p in (perf, pm):  # after an exception: stopped, not left
                                if p is not None:
                                    p.kill()
                                    p.wait()
                        results.setdefault((tool, s, target), []).append(r)
                        machine_us = (m2[0] - m0[0]) * 1e6 / a.messages
                        busy = (m1[0] - m0[0]) / max(m1[1] - m0[1], 1e-9)
                        machine.setdefault((tool, s, target), []).append((machine_us, busy))
                        if shares:
                            # The samples' shares of that CPU (the recording also spans
                            # its start and stop: few samples).
                            rec = by_comm.setdefault((tool, s, target), {"": []})
                            rec[""].append(machine_us)  # one more round recorded
                            for comm, share in shares.items():
                                rec.setdefault(comm, []).append(share * machine_us)
                        cpu = "  machine %.0f us/msg (%.0f %% busy)" % (machine_us, busy * 100)
                        if d:
                            if v is not None:
                                us = v.get("task-clock", 0) * 1e3 / a.messages
                                cpu += "  %.1f syscalls %.1f cs" % (
                                    v.get("raw_syscalls:sys_enter", 0) / a.messages,
                                    v.get("context-switches", 0) / a.messages)
                                counts.setdefault((tool, s, target), []).append(
                                    (v.get("raw_syscalls:sys_enter", 0) / a.messages,
                                     v.get("context-switches", 0) / a.messages))
                            cpus.setdefault((tool, s, target), []).append(us)
                            cpu = "  %s CPU %.0f us/msg" % (target, us) + cpu
                        print("round %d  %-11s %2d sessions  %-7s %8.1f msg/s%s%s" % (
                            rnd + 1, tool, s, target, r[0],
                            "  median %.2f ms" % (r[1] * 1000) if r[1] is not None else "",
                            cpu), flush=True)
        print()
        print("%-11s %8s %14s %14s %7s %14s %14s %9s %17s" % (
            "tool", "sessions", "postfix msg/s", "front msg/s", "ratio", "postfix ms",
            "front ms", "+ms", "front CPU us/msg"))
        verdict = True
        for tool in tools:
            for s in sessions:
                p = results[(tool, s, "postfix")]
                f = results[(tool, s, "front")]
                pt = statistics.median(x[0] for x in p)
                ft = statistics.median(x[0] for x in f)
                ratio = ft / pt
                line = "%-11s %8d %14.1f %14.1f %7.2f" % (tool, s, pt, ft, ratio)
                # In the open loop every target runs at the arrival rate: no throughput.
                verdict &= bool(a.rate) or ratio >= GOAL_THROUGHPUT
                if p[0][1] is not None:
                    pl = statistics.median(x[1] for x in p) * 1000
                    fl = statistics.median(x[1] for x in f) * 1000
                    line += " %14.2f %14.2f %9.2f" % (pl, fl, fl - pl)
                    if tool not in ("envid-client", "pipe-client"):
                        verdict &= fl - pl <= GOAL_LATENCY_MS
                else:
                    line += " %14s %14s %9s" % ("", "", "")
                line += " %17.0f" % statistics.median(cpus[(tool, s, "front")])
                print(line)
                if "old" in targets:
                    o = results[(tool, s, "old")]
                    ot = statistics.median(x[0] for x in o)
                    line = "%-11s %8s %14s %14.1f %7.2f" % ("  old", "", "", ot, ot / pt)
                    if o[0][1] is not None:
                        ol = statistics.median(x[1] for x in o) * 1000
                        line += " %14s %14.2f %9.2f" % ("", ol, ol - pl)
                    else:
                        line += " %14s %14s %9s" % ("", "", "")
                    oc = statistics.median(cpus[(tool, s, "old")])
                    line += " %17.0f" % oc
                    print(line)
                    print("%-11s %8s %14s %14s %7.2f %39s %17.2f" % (
                        "  new/old", "", "", "", ft / ot, "",
                        statistics.median(cpus[(tool, s, "front")]) / oc))
                proxies = (["haproxy"] if "haproxy" in targets else []) + list(extras)
                ht = (statistics.median(x[0] for x in results[(tool, s, "haproxy")])
                      if "haproxy" in targets else None)
                for name in proxies:
                    h = results[(tool, s, name)]
                    xt = statistics.median(x[0] for x in h)
                    line = "%-11s %8s %14s %14.1f %7.2f" % ("  " + name[:9], "", "", xt,
                                                          xt / pt)
                    if h[0][1] is not None:
                        hl = statistics.median(x[1] for x in h) * 1000
                        line += " %14s %14.2f %9.2f" % ("", hl, hl - pl)
                    else:
                        line += " %14s %14s %9s" % ("", "", "")
                    line += " %17.0f" % statistics.median(cpus[(tool, s, name)])
                    if ht and name != "haproxy":
                        line += "   %s: %.2f of haproxy's msg/s, %.2f of its CPU" % (
                            name, xt / ht, statistics.median(cpus[(tool, s, name)])
                            / statistics.median(cpus[(tool, s, "haproxy")]))
                    print(line)
                # The spread: each round's ratio (its targets ran one after the other, so
                # a machine busy for a while weighs on a round, not on one target).
                print("%-11s %8s   per round, msg/s over Postfix's: %s" % (
                    "", "", "; ".join(
                        "%s %s" % (t, " ".join("%.2f" % (x[0] / y[0]) for x, y in
                                               zip(results[(tool, s, t)], p)))
                        for t in ["front", "old"] + proxies if (tool, s, t) in results)))
                budget(tool, s, ["front", "old"] + proxies, machine)
                for target in ["postfix", "front", "old"] + proxies:
                    if (tool, s, target) in by_comm:
                        c = by_comm[(tool, s, target)]
                        n = len(c[""])  # the rounds recorded
                        # a command absent from a recorded round spent nothing there
                        med = {k: statistics.median(v + [0] * (n - len(v)))
                               for k, v in c.items() if k}
                        top = sorted(med.items(), key=lambda kv: -kv[1])[:PERF_MACHINE_TOP]
                        print("%-11s %8s   %s, machine CPU us/msg by command: %s" % (
                            "", "", target, ", ".join("%s %.0f" % kv for kv in top)))
                for target in ["front", "old"] + proxies if counts else ():
                    if (tool, s, target) in counts:
                        c = counts[(tool, s, target)]
                        print("%-11s %8s   %s: %.1f system calls, %.1f context switches per"
                              " message (median)" % ("", "", target,
                                                     statistics.median(x[0] for x in c),
                                                     statistics.median(x[1] for x in c)))
        if "mtrk-client" in tools and "envid-client" in tools:
            for s in sessions:
                m = statistics.median(x[1] for x in results[("mtrk-client", s, "front")])
                e = statistics.median(x[1] for x in results[("envid-client", s, "front")])
                print("registration cost at %2d sessions (front: mtrk - envid median): "
                      "%.2f ms" % (s, (m - e) * 1000))
        if a.rate:
            print("\ngoal (open loop at %.0f msg/s: <= %.1f ms more median latency; the "
                  "throughput goal needs the closed loop): %s"
                  % (a.rate, GOAL_LATENCY_MS, "met" if verdict else "NOT met"))
        else:
            print("\ngoal (front >= %.0f %% of Postfix's msg/s, <= %.1f ms more median "
                  "latency): %s" % (GOAL_THROUGHPUT * 100, GOAL_LATENCY_MS,
                                    "met" if verdict else "NOT met"))
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
        for name in daemons:
            log = open(os.path.join(pf.base, name + ".log")).read()
            if "refused XCLIENT" in log:
                print("# the %s: Postfix refused XCLIENT (its log: %s)" % (name, log[-300:]))
        return 0
    except Exception:
        # What Postfix and the proxies said before the failure.
        for name in ["maillog", "front.log", "old.log", "haproxy.log"] + [
                n + ".log" for n in extras]:
            path = pf.log if name == "maillog" else os.path.join(pf.base, name)
            if os.path.exists(path):
                print("# the last lines of %s:" % name)
                for line in open(path, errors="replace").read().splitlines()[-40:]:
                    print("#   " + line)
        raise
    finally:
        claim_stop.set()
        if front is not None:
            front.stop()
        if old is not None:
            old.stop()
        # Each front's summary of its pending registration joins (all its runs together),
        # written at its stop: the new front's with --front-verbose (info), an old
        # front's if it logs one without --verbose.
        for name in ("front", "old") if front is not None else ():
            path = os.path.join(pf.base, name + ".log")
            for line in open(path, errors="replace") if os.path.exists(path) else ():
                if "Pending registration joins" in line:
                    print("# the %s: %s" % (name, line.strip()))
        if haproxy is not None:
            haproxy.stop()
        for d in extras.values():
            if isinstance(d, Daemon):
                d.stop()
        pf.cleanup()
        if a.state_dir != "beside" and state is not None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except pi.Killed as e:  # SIGTERM, SIGINT: cleaned up (main's finally)
        print("bench-postfix-front: %s" % e, file=sys.stderr)
        sys.exit(130)
