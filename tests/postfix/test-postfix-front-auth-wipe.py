#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-auth-wipe.py: AUTH data left in msgtrk-submit-front's memory after
the exchange (review 2, issue 11). Fails on f661fb0.

  test-postfix-front-auth-wipe.py --build-dir BUILD

msgtrk-submit-front(8) and postfix-front-session.c say AUTH data is wiped ("the reader
wipes what it held"), but the AUTH command line itself, with its initial response (AUTH
PLAIN <base64 of user NUL password>, AUTH XOAUTH2 <token> up to FRONT_AUTH_LINE_MAX), is
read by the session loop with the client reader's wiping off (s->reader.wipe is set only
inside cmd_auth, after the line was consumed), and the loop's line GString grows by
reallocation (the freed smaller buffers keep parts of it). Each check: one AUTH, then a
NOOP (the session goes on), then a core of the front (gcore) is searched for the secret.
Skips (77) without the front or gcore. A scripted upstream, no Postfix.
"""

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front  # noqa: E402


def main():
    build = sys.argv[sys.argv.index("--build-dir") + 1]
    exe = os.path.join(build, "server", "postfix", "msgtrk-submit-front")
    gcore = shutil.which("gcore")
    if not os.access(exe, os.X_OK) or gcore is None:
        print("1..0 # SKIP msgtrk-submit-front or gcore missing")
        return 77
    source_root = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
    t = pi.Checker()
    started = time.monotonic()
    base = tempfile.mkdtemp(prefix="msgtrk-front-auth-wipe-")
    os.chmod(base, 0o755)
    plain = b"U0VDUkVUU0VDUkVUcGFzc3dvcmQxMjM0NTY3ODkwU0VDUkVU"
    xoauth2 = base64.b64encode(os.urandom(5850))  # 7,800 octets, no repeats
    for label, line, secret in (("AUTH PLAIN <initial response>", b"AUTH PLAIN " + plain, plain),
                                ("AUTH XOAUTH2 <7,800-octet token>", b"AUTH XOAUTH2 " + xoauth2,
                                 xoauth2)):
        up = PostfixLike()
        name = "front-%d" % len(line)
        proc, port = start_front(exe, base, name, up, source_root, "tls_auth_only=no\n")
        try:
            c = Client(port)
            c.reply()
            c.cmd(b"EHLO client.example\r\n")
            code, _ = c.cmd(line + b"\r\n")
            t.equal("%s: 235" % label, code, 235)
            t.equal("%s: the session goes on" % label, c.cmd(b"NOOP\r\n")[0], 250)
            core = os.path.join(base, name + ".core")
            subprocess.run([gcore, "-o", core, str(proc.pid)], capture_output=True, timeout=120)
            with open("%s.%d" % (core, proc.pid), "rb") as f:
                data = f.read()
            os.unlink("%s.%d" % (core, proc.pid))
            t.equal("%s: no copy of the secret left in the front's memory after the exchange"
                    % label, data.count(secret), 0)
            c.sock.close()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
