#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""run-mtqpd-test.py: start a real mtqpd and run one transcript against it.

  run-mtqpd-test.py MTQPD SEED_RECORD TRANSCRIPT.t

The harness makes a temporary directory with a configuration and a state directory,
seeds tracking records with seed-record (through track-store, the one writer of the
format), starts mtqpd on 127.0.0.1 port 0 (--port-file tells the port), runs the
transcript (tests/transcript.py), stops mtqpd with SIGTERM and checks that it exits 0
and that its log never shows a secret.

Directives in the transcript ("#!" lines):
  #! tls               make a test PKI (tests/make-test-ca.sh) and configure STARTTLS
  #! config KEY=VALUE  an extra key in [mtqpd]
  #! idle SECONDS      --idle-timeout-for-tests SECONDS
  #! check NAME        after the transcript, run the check NAME of this file (CHECKS)

Variables for the transcript: SECRET (matches every record but mtrk.other), SECRET2
(matches mtrk.other), WRONG_SECRET (matches none), HOSTNAME.
Records: mtrk.delivered@test.example, mtrk.expired@test.example (expired),
mtrk.dot@test.example (a field whose line starts with '.', a transferred recipient),
mtrk.other@test.example.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import transcript  # noqa: E402

HOSTNAME = "mtqpd.test.example"
SECRET_RAW = bytes(range(32))
SECRET2_RAW = bytes(range(100, 132))
WRONG_RAW = bytes(range(200, 232))


def b64(data):
    return base64.b64encode(data).decode("ascii")


def authenticator(raw):
    # B = base64 (SHA-1 (raw octets of A)), computed independently of libmsgtrk.
    return b64(hashlib.sha1(raw).digest())


def seed(seed_exe, state_dir):
    far = str(int(time.time()) + 86400)
    records = [
        ["mtrk.delivered@test.example", authenticator(SECRET_RAW), far,
         "--arrival-date", "Mon, 1 Jan 2024 15:15:15 +0000",
         "--rcpt", "user1@example.net,delivered,2.0.0"],
        ["mtrk.expired@test.example", authenticator(SECRET_RAW), "1000",
         "--rcpt", "user1@example.net,delivered,2.0.0"],
        ["mtrk.dot@test.example", authenticator(SECRET_RAW), far,
         "--field", ".Dot-Field=starts with a dot",
         "--rcpt", "user2@example.net,transferred,2.0.0,mx2.example.org"],
        ["mtrk.other@test.example", authenticator(SECRET2_RAW), far,
         "--rcpt", "user3@example.net,delayed,4.4.1"],
    ]
    for r in records:
        subprocess.run([seed_exe, state_dir] + r, check=True)


def _connect(port):
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    _read_line(conn)
    return conn


def _read_line(conn):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise AssertionError("EOF while reading a line (got %r)" % data)
        data += chunk
    return data[:-2].decode()


def _read_answer(conn):
    first = _read_line(conn)
    if not first.startswith("+OK+"):
        raise AssertionError("TRACK answered %r" % first)
    while _read_line(conn) != ".":
        pass


EVENTS_PIPELINED = 20000
EVENTS_IDLE = 60
# The other client's TRACK is answered within this (milliseconds here; an ASan build on a
# loaded 2-CPU machine is slower): a worker held by the blocked client would leave it
# unanswered until the socket's timeout (30 s).
EVENTS_OTHER_MAX_S = 10


def check_events(port, variables):
    """Event-driven sessions: a client that pipelines EVENTS_PIPELINED TRACKs (tens of MB
    of answers) and does not read holds no worker (back-pressure: its commands wait);
    EVENTS_IDLE idle connections (more than the workers) hold none either: another client
    is answered at once; then the first client gets every answer, in order. An overlong
    line that arrives in two pieces is refused whole: its tail is not a command."""
    track = ("TRACK mtrk.delivered@test.example %s\r\n" % variables["SECRET"]).encode()
    a = _connect(port)
    a.sendall(track * EVENTS_PIPELINED + b"COMMENT end\r\n")
    time.sleep(1)
    idle = [_connect(port) for _ in range(EVENTS_IDLE)]
    b = _connect(port)
    start = time.monotonic()
    b.sendall(track)
    _read_answer(b)
    elapsed = time.monotonic() - start
    if elapsed > EVENTS_OTHER_MAX_S:
        raise AssertionError("a TRACK beside a blocked client took %.1f s" % elapsed)
    data = b""
    while not data.endswith(b"\r\n+OK\r\n"):
        chunk = a.recv(1 << 20)
        if not chunk:
            raise AssertionError("EOF after %d octets" % len(data))
        data += chunk
    found = data.count(b"+OK+ Tracking information follows\r\n")
    ends = data.count(b"\r\n.\r\n")
    if found != EVENTS_PIPELINED or ends != EVENTS_PIPELINED:
        raise AssertionError("%d answers, %d end markers, expected %d"
                             % (found, ends, EVENTS_PIPELINED))
    c = _connect(port)
    c.sendall(b"x" * 1100)
    time.sleep(0.3)
    c.sendall(b"QUIT\r\n")
    line = _read_line(c)
    if not line.startswith("-BAD/toolong"):
        raise AssertionError("the tail of a split overlong line was answered %r" % line)
    c.sendall(b"COMMENT still here\r\n")
    if _read_line(c) != "+OK":
        raise AssertionError("the session did not go on after the overlong line")
    for conn in idle + [a, b, c]:
        conn.close()
    print("check events: ok (%d pipelined answers, %d idle clients, %.3f s for the other "
          "client's TRACK)" % (found, EVENTS_IDLE, elapsed))


CHECKS = {"events": check_events}


def main():
    mtqpd, seed_exe, script = sys.argv[1:4]
    source_root = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
    tmp = tempfile.mkdtemp(prefix="mtqpd-test-")
    proc = None
    log_path = os.path.join(tmp, "mtqpd.log")
    try:
        directives = []
        with open(script, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#!"):
                    directives.append(line[2:].strip().split(None, 1))

        state_dir = os.path.join(tmp, "state")
        seed(seed_exe, state_dir)
        if os.geteuid() == 0:
            # mtqpd refuses to run as root: it drops to "nobody", which must read the store.
            import pwd
            nobody = pwd.getpwnam("nobody")
            os.chmod(tmp, 0o755)
            for root, dirs, files in os.walk(state_dir):
                for name in [root] + [os.path.join(root, x) for x in files]:
                    os.chown(name, nobody.pw_uid, nobody.pw_gid)
            directives.insert(0, ["config", "user=nobody"])

        conf = ["[mtqpd]", "hostname=%s" % HOSTNAME, "state_dir=%s" % state_dir,
                "listen=127.0.0.1:1"]
        args = [mtqpd, "--config", os.path.join(tmp, "mtqpd.conf"),
                "--listen", "127.0.0.1:0", "--port-file", os.path.join(tmp, "port"),
                "--verbose"]
        ca_file = None
        checks = []
        for d in directives:
            if d[0] == "tls":
                pki = os.path.join(tmp, "pki")
                subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"),
                                pki], check=True)
                conf.append("tls_certificate=%s" % os.path.join(pki, "server.pem"))
                conf.append("tls_key=%s" % os.path.join(pki, "server.key"))
                ca_file = os.path.join(pki, "ca.pem")
            elif d[0] == "config":
                conf.append(d[1])
            elif d[0] == "idle":
                args += ["--idle-timeout-for-tests", d[1]]
            elif d[0] == "check":
                checks.append(CHECKS[d[1]])
            else:
                raise SystemExit("unknown directive %r" % d)
        with open(os.path.join(tmp, "mtqpd.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")

        with open(log_path, "w") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=log)
        port_file = os.path.join(tmp, "port")
        deadline = time.monotonic() + 20
        while not (os.path.exists(port_file) and open(port_file).read().endswith("\n")):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("mtqpd did not start:\n" + open(log_path).read())
            time.sleep(0.05)
        port = int(open(port_file).read())

        variables = {"SECRET": b64(SECRET_RAW), "SECRET2": b64(SECRET2_RAW),
                     "WRONG_SECRET": b64(WRONG_RAW), "HOSTNAME": HOSTNAME}
        try:
            transcript.run_script(script, "127.0.0.1", port, ca_file=ca_file,
                                  server_name="localhost", variables=variables,
                                  log=sys.stdout)
            for check in checks:
                check(port, variables)
        except (transcript.TranscriptError, AssertionError, OSError) as e:
            print("FAIL: %s" % e, file=sys.stderr)
            print("mtqpd log:\n" + open(log_path).read()[-20000:], file=sys.stderr)
            return 1

        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print("FAIL: mtqpd did not stop on SIGTERM", file=sys.stderr)
            return 1
        proc = None
        text = open(log_path).read()
        print("mtqpd log:\n" + text)
        if status != 0:
            print("FAIL: mtqpd exited with status %d" % status, file=sys.stderr)
            return 1
        for name, raw in (("SECRET", SECRET_RAW), ("SECRET2", SECRET2_RAW),
                          ("WRONG_SECRET", WRONG_RAW)):
            if b64(raw) in text or b64(raw)[:16] in text:
                print("FAIL: the log shows %s" % name, file=sys.stderr)
                return 1
        return 0
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
