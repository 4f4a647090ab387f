#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-pg-e2e.py: the PostgreSQL store backend with real processes and a real
PostgreSQL 15 (pgharness.py: initdb + pg_ctl as nobody, unix socket only).

  test-pg-e2e.py SCENARIO BUILD_EXES...

Scenarios:
  race          two processes per ENVID (seed-record, different B) start together, for
                RACE_ENVIDS ENVIDs: exactly one wins each ENVID (the first-owner rule is
                atomic in SQL across processes), the loser is refused (exit 3).
  two-mtqpd     two mtqpd instances on one database answer the same record; PostgreSQL
                stopped: both answer -TEMP (never -ERR, never a crash); restarted: both
                answer the record again (reconnect with backoff); both exit 0 on SIGTERM;
                no log shows a secret, B or the database password.
  relay-nodes   two msgtrk-relay nodes on one database: a message relayed a -> b is
                tracked by one mtqpd on the database, which answers both nodes' records
                (one record per (ENVID, node)); a second sender with the owner's
                ENVID and another B through node b is refused (the owner's record is
                served; the hijacker gets the answer of an unknown ENVID).
  pipelined     one client writes PIPE_BATCH (mtqpd's MTQPD_TRACK_BATCH) TRACKs, then
                PIPE_BATCH + 1, mixed known / unknown / wrong-secret / overlong ENVIDs,
                with COMMENT, a malformed TRACK and QUIT among them, in one write: every
                command gets its own answer, in request order (RFC 3887 pipelining), and
                the lookups share statements (at most a quarter as many statements as
                lookups: a session's pipelined TRACKs go to the store together).
  frozen        PostgreSQL stopped with SIGSTOP after mtqpd connected (a server that
                cannot answer; statement_timeout cannot fire): TRACK answered -TEMP within
                FROZEN_ANSWER_MAX_S; SIGTERM with a TRACK waiting for the store: exit 0
                within FROZEN_STOP_MAX_S; no libpq notice written raw to stderr.
Exit 0 pass, 1 fail, 77 skip (no PostgreSQL).
"""

import base64
import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "relay"))
import pgharness  # noqa: E402
from relay_harness import demonet, mtqp_track, read_answer  # noqa: E402

SECRET_RAW = bytes(range(32))
HIJACK_RAW = bytes(range(100, 132))
PASSWORD = "pg-pass-never-logged"
RACE_ENVIDS = 20
RECOVERY_TIMEOUT = 45
# mtqpd-session.c MTQPD_TRACK_BATCH: pipelined TRACKs handed to the store together.
PIPE_BATCH = 64


def b64(data):
    return base64.b64encode(data).decode("ascii")


def auth(raw):
    return b64(hashlib.sha1(raw).digest())


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def wait_for(what, predicate, timeout=30.0, interval=0.1):
    return demonet.wait_for(what, predicate, timeout, interval, Failure)


def chown_nobody(path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam("nobody")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def store_group(pg, tmp):
    """The [store] lines, with a password file readable by the service user only."""
    pw_file = os.path.join(tmp, "pg.password")
    with open(pw_file, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(pw_file, 0o600)
    chown_nobody(pw_file)
    return ["[store]", "backend=postgresql", "conninfo=%s" % pg.conninfo,
            "password_file=%s" % pw_file, "pool_size=2"]


class Mtqpd:
    def __init__(self, exe, tmp, name, store_lines):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, "mtqpd.log")
        conf = ["[mtqpd]", "hostname=%s.test" % name, "state_dir=%s" % self.dir,
                "listen=127.0.0.1:1"]
        if os.geteuid() == 0:
            conf.append("user=nobody")
        with open(os.path.join(self.dir, "mtqpd.conf"), "w") as f:
            f.write("\n".join(conf + [""] + store_lines) + "\n")
        port_file = os.path.join(self.dir, "port")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([exe, "--config", os.path.join(self.dir, "mtqpd.conf"),
                                      "--listen", "127.0.0.1:0", "--port-file", port_file,
                                      "--verbose"], stdout=log, stderr=log)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise Failure("%s exited at start-up:\n%s" % (name, self.log()))
            if os.path.exists(port_file):
                text = open(port_file).read()
                return text if text.endswith("\n") else None
            return None
        self.port = int(wait_for("%s to start" % name, ready, 20, 0.05))

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def track(self, envid, secret_raw):
        """One TRACK: (first line, whole answer)."""
        return mtqp_track(self.port, envid, secret_raw, timeout=20)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=30)
        check(status == 0, "mtqpd exited with %d:\n%s" % (status, self.log()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def check_logs_clean(texts):
    for text in texts:
        for what, value in (("A", b64(SECRET_RAW)), ("B", auth(SECRET_RAW)),
                            ("hijacker's B", auth(HIJACK_RAW)), ("password", PASSWORD)):
            check(value not in text, "a log shows the %s:\n%s" % (what, text))


def seed(seed_exe, conf, envid, authenticator, expires, action="delivered"):
    env = dict(os.environ, MSGTRK_SEED_STORE_CONF=conf)
    return subprocess.Popen([seed_exe, "/nonexistent", envid, authenticator, str(expires),
                             "--rcpt", "user@example.net,%s,2.0.0" % action],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def write_store_conf(pg, tmp):
    path = os.path.join(tmp, "store.conf")
    with open(path, "w") as f:
        f.write("\n".join(store_group(pg, tmp)) + "\n")
    return path


def scenario_race(pg, tmp, seed_exe):
    conf = write_store_conf(pg, tmp)
    if os.geteuid() == 0:
        # seed-record runs as root here: the password file must be root's own.
        os.chown(os.path.join(tmp, "pg.password"), 0, 0)
    far = int(time.time()) + 3600
    # The schema first, so that the race is between writers, not migrations.
    p = seed(seed_exe, conf, "mtrk.warmup@example.com", auth(SECRET_RAW), far)
    check(p.wait(60) == 0, "warm-up put failed: %s" % p.stderr.read().decode())
    procs = []
    for i in range(RACE_ENVIDS):
        envid = "mtrk.race%d@example.com" % i
        procs.append((envid, seed(seed_exe, conf, envid, auth(SECRET_RAW), far),
                      seed(seed_exe, conf, envid, auth(HIJACK_RAW), far)))
    for envid, a, b in procs:
        sa, sb = a.wait(60), b.wait(60)
        check(sorted((sa, sb)) == [0, 3],
              "%s: exit statuses %d and %d, expected one winner (0) and one refused (3): %s %s"
              % (envid, sa, sb, a.stderr.read().decode(), b.stderr.read().decode()))
    rows = pg.psql("SELECT count(*) FROM msgtrk_record WHERE envid::text LIKE '%'")
    check(rows == str(RACE_ENVIDS + 1), "rows: %s" % rows)


def scenario_two_mtqpd(pg, tmp, seed_exe, mtqpd_exe):
    conf = write_store_conf(pg, tmp)
    if os.geteuid() == 0:
        os.chown(os.path.join(tmp, "pg.password"), 0, 0)
    envid = "mtrk.shared@example.com"
    p = seed(seed_exe, conf, envid, auth(SECRET_RAW), int(time.time()) + 3600)
    check(p.wait(60) == 0, "seed failed: %s" % p.stderr.read().decode())
    store_lines = store_group(pg, tmp)
    servers = [Mtqpd(mtqpd_exe, tmp, "m%d" % i, store_lines) for i in (1, 2)]
    try:
        for m in servers:
            first, whole = m.track(envid, SECRET_RAW)
            check(first.startswith("+OK+") and "Action: delivered" in whole,
                  "TRACK before the restart: %s\n%s" % (whole, m.log()))
            wrong, _ = m.track(envid, HIJACK_RAW)
            check(wrong.startswith("-ERR"), "wrong secret: %s" % wrong)

        pg.stop()
        for m in servers:
            for _ in range(3):
                first, _ = m.track(envid, SECRET_RAW)
                check(first.startswith("-TEMP"), "TRACK with PostgreSQL down: %r" % first)
            check(m.proc.poll() is None, "mtqpd died:\n" + m.log())
        pg.start()
        for m in servers:
            wait_for("TRACK to succeed after the restart",
                     lambda m=m: m.track(envid, SECRET_RAW)[0].startswith("+OK+"),
                     RECOVERY_TIMEOUT, 0.5)
        for m in servers:
            m.stop()
        for m in servers:
            # The default workers on PostgreSQL as on files (a worker does not wait for
            # the database): MTQPD_WORKERS_PER_CPU (2) per CPU, 4 to 32; and the
            # coalescing count at exit.
            workers = max(4, min(32, 2 * len(os.sched_getaffinity(0))))
            check("workers %d)" % workers in m.log(), "mtqpd's default workers on PostgreSQL:\n"
                  + m.log())
            check("TRACK lookups: " in m.log(), "no lookup count at exit:\n" + m.log())
        check_logs_clean([m.log() for m in servers])
        check(any("reachable again" in m.log() for m in servers),
              "no reconnection logged:\n" + servers[0].log())
    finally:
        for m in servers:
            m.kill()


def scenario_relay_nodes(pg, tmp, relay_exe, mtqpd_exe):
    from relay_harness import Relay, make_body, send_message

    store_lines = store_group(pg, tmp)
    envid = "mtrk.owner@sender.example"
    b = Relay(relay_exe, tmp, "b", "b.test", {"example.org": "local:", "sender.example": "local:"})
    relays = [b]

    def with_store(relay):
        with open(relay.conf_path, "a") as f:
            f.write("\n" + "\n".join(store_lines + ["node=node-%s" % relay.name]) + "\n")
    try:
        with_store(b)
        b.start()
        a = Relay(relay_exe, tmp, "a", "a.test", {"example.org": b.route()})
        relays.append(a)
        with_store(a)
        a.start()
        code, text = send_message(a.port, "alice@sender.example", ["bob@example.org"],
                                  make_body("owner"),
                                  "ENVID=%s MTRK=%s:3600 RET=HDRS" % (envid, auth(SECRET_RAW)),
                                  "NOTIFY=NEVER")
        check(code == 250, "DATA at a: %s" % text)
        b.wait_mail("bob@example.org")
        m = Mtqpd(mtqpd_exe, tmp, "m", store_lines)
        try:
            # Each node keeps its own record of the ENVID: b "delivered", a "transferred"
            # (to b) once b said 250; the answer holds both parts.
            def both_parts():
                whole = m.track(envid, SECRET_RAW)[1]
                return (re.search(r"Reporting-MTA: dns; ?b\.test", whole)
                        and re.search(r"Reporting-MTA: dns; ?a\.test", whole)
                        and re.search(r"Action: delivered", whole)
                        and re.search(r"Action: (transferred|relayed)", whole))
            wait_for("mtqpd to answer both nodes' records of the message relayed a -> b",
                     both_parts, 30, 0.3)
            rows = pg.psql("SELECT string_agg (node, ',' ORDER BY node) FROM msgtrk_record "
                           "WHERE envid = convert_to ('%s', 'UTF8')" % envid)
            check(rows == "node-a,node-b", "records of the ENVID by node: %r" % rows)
            # The takeover attempt at the other node.
            code, text = send_message(b.port, "mallory@sender.example", ["eve@example.org"],
                                      make_body("hijack"),
                                      "ENVID=%s MTRK=%s:3600 RET=HDRS" % (envid,
                                                                         auth(HIJACK_RAW)),
                                      "NOTIFY=NEVER")
            check(code == 250, "DATA at b: %s" % text)
            b.wait_mail("eve@example.org")
            wait_for("node b to refuse the takeover", lambda: "record is kept" in b.log(), 20)
            first, whole = m.track(envid, SECRET_RAW)
            check(first.startswith("+OK+") and "bob@example.org" in whole
                  and "eve@example.org" not in whole and both_parts(),
                  "the owner's TRACK:\n" + whole)
            hijack, _ = m.track(envid, HIJACK_RAW)
            unknown, _ = m.track("mtrk.unknown@sender.example", HIJACK_RAW)
            check(hijack == unknown and hijack.startswith("-ERR"),
                  "hijacker %r vs unknown %r" % (hijack, unknown))
            m.stop()
        finally:
            m.kill()
        for r in relays:
            r.stop()
        check_logs_clean([r.log() for r in relays] + [m.log()])
        check(not os.listdir(os.path.join(b.state_dir, "tracking"))
              if os.path.isdir(os.path.join(b.state_dir, "tracking")) else True,
              "node b wrote tracking files although its store is PostgreSQL")
    except Failure:
        for r in relays:
            print("--- %s log:\n%s" % (r.name, r.log()), file=sys.stderr)
        raise
    finally:
        for r in relays:
            r.cleanup()


def scenario_pipelined(pg, tmp, seed_exe, mtqpd_exe):
    conf = write_store_conf(pg, tmp)
    if os.geteuid() == 0:
        os.chown(os.path.join(tmp, "pg.password"), 0, 0)
    known = ["mtrk.pipe%d@example.com" % i for i in range(4)]
    far = int(time.time()) + 3600
    for envid in known:
        p = seed(seed_exe, conf, envid, auth(SECRET_RAW), far)
        check(p.wait(60) == 0, "seed failed: %s" % p.stderr.read().decode())
    a = base64.b64encode(SECRET_RAW).decode()
    wrong = base64.b64encode(HIJACK_RAW).decode()
    kinds = [("TRACK %s %s" % (known[0], a), ("found", known[0])),
             ("TRACK mtrk.nosuch@example.com %s" % a, ("notfound",)),
             ("TRACK %s %s" % (known[1], wrong), ("notfound",)),
             ("TRACK %s %s" % (known[2], a), ("found", known[2])),
             ("TRACK %s %s" % ("x" * 101, a), ("notfound",)),
             ("track %s %s" % (known[3], a), ("found", known[3])),
             ("TRACK %s %s" % (known[1], a), ("found", known[1]))]
    commands = [kinds[i % len(kinds)] for i in range(PIPE_BATCH)]
    commands.append(("COMMENT between the batches", ("ok",)))
    commands += [kinds[(i + 3) % len(kinds)] for i in range(PIPE_BATCH + 1)]
    commands.append(("TRACK %s" % known[0], ("bad",)))
    commands.append(("TRACK %s %s" % (known[2], a), ("found", known[2])))
    commands.append(("QUIT", ("bye",)))
    tracks = sum(1 for line, _ in commands if line.upper().startswith("TRACK ")
                 and len(line.split()) == 3 and len(line.split()[1]) <= 100)

    m = Mtqpd(mtqpd_exe, tmp, "m1", store_group(pg, tmp))
    try:
        with socket.create_connection(("127.0.0.1", m.port), timeout=20) as conn:
            f = conn.makefile("rb")
            f.readline()
            conn.sendall("".join(line + "\r\n" for line, _ in commands).encode())
            for i, (line, expect) in enumerate(commands):
                got = read_answer(f)
                what = "command %d (%s): %r" % (i, line.split()[0], got[:3])
                if expect[0] == "found":
                    check(got[0].startswith("+OK+")
                          and "Original-Envelope-Id: %s" % expect[1] in got, what
                          + " is not the answer of " + expect[1])
                elif expect[0] == "notfound":
                    check(got[0].startswith("-ERR/notfound"), what)
                elif expect[0] == "ok":
                    check(got[0] == "+OK", what)
                elif expect[0] == "bad":
                    check(got[0].startswith("-BAD/syntax"), what)
                else:
                    check(got[0] == "+OK Bye", what)
        m.stop()
        log = m.log()
        found = re.search(r"TRACK lookups: (\d+) answered by (\d+) statements", log)
        check(found is not None, "no lookup count at exit:\n" + log)
        lookups, statements = int(found.group(1)), int(found.group(2))
        check(lookups == tracks, "%d lookups for %d TRACKs" % (lookups, tracks))
        check(statements * 4 <= lookups, "pipelined TRACKs did not share statements: %d "
              "lookups answered by %d statements" % (lookups, statements))
        check_logs_clean([log])
    finally:
        m.kill()

# A database that stops answering (a stalled host, a hung storage, a partition after the
# connection was made) must not hold a TRACK for good: -TEMP within this many seconds
# (track-store-pg.c: PG_CLIENT_TIMEOUT_MS is 6 s, PG_POOL_WAIT_SECONDS 10 s).
FROZEN_ANSWER_MAX_S = 20
# ... nor mtqpd's exit on SIGTERM with a lookup in flight (pg_free: within one
# PG_CLIENT_TIMEOUT_MS), with room for a loaded machine.
FROZEN_STOP_MAX_S = 15


def pg_pids(pg):
    """The cluster's processes (the postmaster this test started and its children)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def scenario_frozen(pg, tmp, seed_exe, mtqpd_exe):
    conf = write_store_conf(pg, tmp)
    if os.geteuid() == 0:
        os.chown(os.path.join(tmp, "pg.password"), 0, 0)
    envid = "mtrk.frozen@example.com"
    p = seed(seed_exe, conf, envid, auth(SECRET_RAW), int(time.time()) + 3600)
    check(p.wait(60) == 0, "seed failed: %s" % p.stderr.read().decode())
    m = Mtqpd(mtqpd_exe, tmp, "m1", store_group(pg, tmp))
    pids = []
    try:
        for _ in range(4):  # every connection of the pool made and in use
            first, _ = m.track(envid, SECRET_RAW)
            check(first.startswith("+OK+"), "TRACK before the freeze: %r\n%s"
                  % (first, m.log()))
        pids = pg_pids(pg)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        start = time.monotonic()
        try:
            first, _ = mtqp_track(m.port, envid, SECRET_RAW, timeout=FROZEN_ANSWER_MAX_S)
        except OSError as e:
            first = "no answer (%s)" % e
        elapsed = time.monotonic() - start
        check(first.startswith("-TEMP"),
              "TRACK with PostgreSQL frozen: %s after %.1f s (expected -TEMP within %d s)\n%s"
              % (first, elapsed, FROZEN_ANSWER_MAX_S, m.log()))
        # Still frozen: a TRACK left waiting for the store, then SIGTERM.
        with socket.create_connection(("127.0.0.1", m.port), timeout=FROZEN_ANSWER_MAX_S) as c:
            greeting = c.makefile("rb").readline()
            check(greeting.startswith(b"+OK"), "mtqpd's greeting: %r" % greeting)
            c.sendall(("TRACK %s %s\r\n" % (envid, b64(SECRET_RAW))).encode("ascii"))
            start = time.monotonic()
            m.proc.send_signal(signal.SIGTERM)
            try:
                status = m.proc.wait(timeout=FROZEN_STOP_MAX_S)
            except subprocess.TimeoutExpired:
                status = "still running"
            elapsed = time.monotonic() - start
        check(status == 0, "mtqpd on SIGTERM with PostgreSQL frozen: %s after %.1f s "
              "(expected exit 0 within %d s)\n%s"
              % (status, elapsed, FROZEN_STOP_MAX_S, m.log()))
        # libpq's notices (a new connection's migration check) go to the debug log, not
        # raw to stderr (libpq's default).
        check(re.search(r"^NOTICE:", m.log(), re.M) is None,
              "libpq notices on stderr:\n%s" % m.log())
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        m.kill()


def main():
    name = sys.argv[1]
    if not pgharness.available():
        print("SKIP: PostgreSQL 15 is not installed (tools/deps.sh test)")
        return pgharness.SKIP
    tmp = tempfile.mkdtemp(prefix="pg-e2e-")
    os.chmod(tmp, 0o755)
    pg = pgharness.PgServer()
    try:
        pg.start()
        if name == "race":
            scenario_race(pg, tmp, sys.argv[2])
        elif name == "two-mtqpd":
            scenario_two_mtqpd(pg, tmp, sys.argv[2], sys.argv[3])
        elif name == "pipelined":
            scenario_pipelined(pg, tmp, sys.argv[2], sys.argv[3])
        elif name == "frozen":
            scenario_frozen(pg, tmp, sys.argv[2], sys.argv[3])
        elif name == "relay-nodes":
            scenario_relay_nodes(pg, tmp, sys.argv[2], sys.argv[3])
        else:
            raise SystemExit("unknown scenario %s" % name)
        print("ok: %s" % name)
        return 0
    except Failure as e:
        print("FAIL: %s: %s" % (name, e), file=sys.stderr)
        try:
            print("--- PostgreSQL log:\n" + open(pg.log).read()[-4000:], file=sys.stderr)
        except OSError:
            pass
        return 1
    finally:
        pg.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
