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
        except transcript.TranscriptError as e:
            print("FAIL: %s" % e, file=sys.stderr)
            print("mtqpd log:\n" + open(log_path).read(), file=sys.stderr)
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
