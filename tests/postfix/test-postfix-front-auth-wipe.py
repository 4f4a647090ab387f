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
NOOP (the session goes on), then the front's writable private memory is searched for the
secret through /proc/PID/mem (copies_in_memory: nothing written to disk; mappings over
MAPPING_MAX, ASan's shadow, skipped). A line with a NUL (500 on the command line, 501 on
a response): nothing of it either, what follows the NUL included (on 63f710a that tail was
left on the session's stack by ld.so's lazy binding, which saves the vector registers the
line reader's memcpy had left it in: the programs are now linked with -z now). Needs root
(ptrace access to the front, which runs as nobody). Skips (77) without the front. A
scripted upstream, no Postfix.
"""

import base64
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front, test_setup  # noqa: E402


# Writable private mappings larger than this are not read: ASan's shadow memory (terabytes
# of address space, mapped read-write) is no heap. (A core written by gcore of an ASan
# build filled the disk: 73 GB.)
MAPPING_MAX = 1 << 30
CHUNK = 1 << 20


def copies_in_memory(pid, secret):
    """How many copies of @secret the writable private mappings of process @pid hold (its
    heap, anonymous mappings, stacks, data), read from /proc/PID/mem: nothing is written
    to disk (a core file of it would be a file holding the secret)."""
    found = 0
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            perms = fields[1]
            if not perms.startswith("rw") or perms[3] != "p" or end - start > MAPPING_MAX:
                continue
            tail = b""
            at = start
            while at < end:
                n = min(CHUNK, end - at)
                try:
                    mem.seek(at)
                    chunk = mem.read(n)
                except (OSError, ValueError):
                    chunk = b""
                if not chunk:
                    break
                window = tail + chunk
                found += window.count(secret)
                # The last len(secret) - 1 octets again with the next chunk (a copy across
                # the boundary), never a match counted twice (too short for one).
                tail = window[-(len(secret) - 1):] if len(secret) > 1 else b""
                at += len(chunk)
    return found


def main():
    setup = test_setup("msgtrk-front-auth-wipe-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    plain = b"U0VDUkVUU0VDUkVUcGFzc3dvcmQxMjM0NTY3ODkwU0VDUkVU"
    xoauth2 = base64.b64encode(os.urandom(5850))  # 7,800 octets, no repeats
    # A NUL in the line: refused (500 on the command line; on a response, 501 and the
    # exchange ended upstream with "*"), and wiped whole, past the NUL too.
    tail = b"TAILSECRETafterTheNul0987654321TAIL"
    for label, lines, want, secret in (
            ("AUTH PLAIN <initial response>", [b"AUTH PLAIN " + plain], 235, plain),
            ("AUTH XOAUTH2 <7,800-octet token>", [b"AUTH XOAUTH2 " + xoauth2], 235, xoauth2),
            ("AUTH PLAIN <initial response with a NUL>",
             [b"AUTH PLAIN " + plain + b"\0" + tail], 500, tail),
            ("AUTH PLAIN, a response with a NUL", [b"AUTH PLAIN", plain + b"\0" + tail], 501,
             tail)):
        up = PostfixLike()
        name = "front-%d-%d" % (len(lines), len(lines[-1]))
        proc, port = start_front(exe, base, name, up, source_root, "tls_auth_only=no\n")
        try:
            c = Client(port)
            c.reply()
            c.cmd(b"EHLO client.example\r\n")
            for line in lines:
                code, _ = c.cmd(line + b"\r\n")
            t.equal("%s: %d" % (label, want), code, want)
            if want == 501:
                t.check("%s: nothing of it passed upstream (the exchange ended with *)"
                        % label, not any(tail in x for x in up.lines) and b"*\r\n" in up.lines,
                        repr(up.lines[-3:]))
            t.equal("%s: the session goes on" % label, c.cmd(b"NOOP\r\n")[0], 250)
            t.equal("%s: no copy of the secret left in the front's memory after the exchange"
                    % label, copies_in_memory(proc.pid, secret), 0)
            c.sock.close()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    if not t.failures:
        shutil.rmtree(base, ignore_errors=True)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
