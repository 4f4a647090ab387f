#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-relay-config.py: msgtrk-relay reads its configuration through the servers' one
bounded reader (server/common/server-config.c).

Cases: a file of exactly SERVER_CONFIG_MAX_SIZE octets starts (and stops on SIGTERM with
status 0); one octet more is refused at start-up with an error naming the file and the
limit; an out-of-range number names its group and key (connection_cache_time and
connection_reuse_max at and one past each bound); a missing file names the file.
Every wait is bounded.

Usage: test-relay-config.py MSGTRK_RELAY
"""

import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time

SERVER_CONFIG_MAX_SIZE = 256 * 1024
TIMEOUT = 20


def config_text(state_dir, size=None, extra="", queue=""):
    text = ("[relay]\nhostname=relay.test\nstate_dir=%s\nlisten=127.0.0.1:0\n"
            "reverse_dns=false\n%s%s\n%s[routes]\n*=local:\n"
            % (state_dir, "user=nobody\n" if os.geteuid() == 0 else "", extra,
               ("[queue]\n%s\n" % queue) if queue else ""))
    if size is not None:
        pad = size - len(text.encode()) - 1
        assert pad > 2
        text += "#" + "x" * (pad - 1) + "\n"
        assert len(text.encode()) == size
    return text


def run_refused(exe, path, expect):
    proc = subprocess.run([exe, "--config", path, "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode == 0:
        sys.exit("FAIL: %s was accepted (expected: %s)" % (path, expect))
    for word in expect:
        if word not in proc.stderr:
            sys.exit("FAIL: the error for %s does not say %r:\n%s" % (path, word, proc.stderr))
    print("ok: refused: %s" % proc.stderr.strip().splitlines()[-1])


def run_accepted(exe, path, tmp):
    port_file = os.path.join(tmp, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)  # the previous run's
    proc = subprocess.Popen([exe, "--config", path, "--listen", "127.0.0.1:0",
                             "--port-file", port_file], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (os.path.exists(port_file) and open(port_file).read().endswith("\n")):
            if proc.poll() is not None:
                sys.exit("FAIL: %s refused:\n%s" % (path, proc.stdout.read()))
            if time.monotonic() > deadline:
                sys.exit("FAIL: the relay did not start with %s" % path)
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if status != 0:
        sys.exit("FAIL: exit status %d after SIGTERM:\n%s" % (status, proc.stdout.read()))
    print("ok: accepted %s" % os.path.basename(path))


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            os.chmod(tmp, 0o755)
            os.chown(state, pw.pw_uid, pw.pw_gid)

        at_limit = os.path.join(tmp, "at-limit.conf")
        with open(at_limit, "w") as f:
            f.write(config_text(state, SERVER_CONFIG_MAX_SIZE))
        run_accepted(exe, at_limit, tmp)

        over = os.path.join(tmp, "over-limit.conf")
        with open(over, "w") as f:
            f.write(config_text(state, SERVER_CONFIG_MAX_SIZE + 1))
        run_refused(exe, over, [over, str(SERVER_CONFIG_MAX_SIZE)])

        bad_number = os.path.join(tmp, "bad-number.conf")
        with open(bad_number, "w") as f:
            f.write(config_text(state, extra="max_recipients=0\n"))
        run_refused(exe, bad_number, ["[relay]", "max_recipients", "1 to 1000"])

        # Sessions kept to next hops: each bound accepted, one past it refused.
        for name, queue in (("reuse-high", "connection_cache_time=300\n"
                                           "connection_reuse_max=100000"),
                            ("reuse-low", "connection_cache_time=0\nconnection_reuse_max=1")):
            path = os.path.join(tmp, name + ".conf")
            with open(path, "w") as f:
                f.write(config_text(state, queue=queue))
            run_accepted(exe, path, tmp)
        for name, queue, expect in (
                ("cache-over", "connection_cache_time=301", "0 to 300"),
                ("reuse-zero", "connection_reuse_max=0", "1 to 100000"),
                ("reuse-over", "connection_reuse_max=100001", "1 to 100000")):
            path = os.path.join(tmp, name + ".conf")
            with open(path, "w") as f:
                f.write(config_text(state, queue=queue))
            run_refused(exe, path, ["[queue]", queue.split("=")[0], expect])

        missing = os.path.join(tmp, "missing.conf")
        run_refused(exe, missing, [missing])
    print("PASS")


if __name__ == "__main__":
    main()
