#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-dos.py: msgtrk-submit-front's bounds on clients that hold a slot
(review 9, finding 6).

  test-postfix-front-dos.py --build-dir BUILD

What:
  1. tls_handshake_timeout bounds the whole TLS handshake (as Postfix's
     smtpd_starttls_timeout): a ClientHello trickled one octet a second (each read well
     within idle_timeout) loses its slot at the deadline, on implicit TLS (465) and after
     STARTTLS; a real handshake still works; the setting loads at 1 and 3600, not at 0
     or 3601.
How: a scripted upstream (scripted_front.PostfixLike), the front on loopback.
Limits: about 30 s. Skips (77) when the front is not built.
Never: binds anything but loopback.
"""

import os
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front, test_setup, test_teardown  # noqa: E402

HANDSHAKE_TIMEOUT = 4


def client_hello():
    """A real ClientHello (Python's ssl over a memory BIO)."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def trickle(sock, limit):
    """Send a ClientHello one octet a second on @sock until the front closes it or @limit
    seconds pass; the seconds the front kept it (None: still open at @limit)."""
    hello = client_hello()
    sock.settimeout(0.05)
    t0 = time.monotonic()
    for i in range(len(hello)):
        if time.monotonic() - t0 > limit:
            return None
        try:
            sock.sendall(hello[i:i + 1])
        except OSError:
            return time.monotonic() - t0
        end = time.monotonic() + 1
        while time.monotonic() < end:
            try:
                if sock.recv(100) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                pass
            except OSError:
                return time.monotonic() - t0
    return None


def main():
    setup = test_setup("msgtrk-front-dos-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    ca = os.path.join(base, "pki", "ca.pem")
    t = pi.Checker()
    started = time.monotonic()
    procs = []
    try:
        up = PostfixLike()
        limits = "idle_timeout=3\nupstream_pool=0\ntls_handshake_timeout=%d\n" % HANDSHAKE_TIMEOUT
        proc, tls_port = start_front(exe, base, "implicit", up, source_root,
                                     "implicit_tls=true\n" + limits)
        procs.append(proc)
        proc, port = start_front(exe, base, "starttls", up, source_root, limits)
        procs.append(proc)

        # 1. Implicit TLS: the trickled ClientHello is cut at the deadline.
        s = socket.create_connection(("127.0.0.1", tls_port))
        held = trickle(s, HANDSHAKE_TIMEOUT + 8)
        s.close()
        t.check("implicit TLS: a ClientHello one octet a second loses its slot at "
                "tls_handshake_timeout (%d s)" % HANDSHAKE_TIMEOUT,
                held is not None and HANDSHAKE_TIMEOUT - 1 <= held <= HANDSHAKE_TIMEOUT + 3,
                "held %s s" % ("> %d" % (HANDSHAKE_TIMEOUT + 8) if held is None
                               else "%.1f" % held))
        ctx = ssl.create_default_context(cafile=ca)
        c = Client(tls_port)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
        c.file = c.sock.makefile("rb")
        code, _ = c.reply()
        t.equal("implicit TLS: a real handshake is greeted", code, 220)
        c.sock.close()

        # 2. STARTTLS: the same after the 220.
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        code, _ = c.cmd(b"STARTTLS\r\n")
        held = trickle(c.sock, HANDSHAKE_TIMEOUT + 8)
        c.sock.close()
        t.check("STARTTLS: a ClientHello one octet a second loses its slot at "
                "tls_handshake_timeout", code == 220 and held is not None
                and HANDSHAKE_TIMEOUT - 1 <= held <= HANDSHAKE_TIMEOUT + 3,
                "STARTTLS %d, held %s" % (code, held))
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        code = c.starttls(ca)
        ehlo, _ = c.cmd(b"EHLO client.example\r\n")
        t.check("STARTTLS: a real handshake goes on", (code, ehlo) == (220, 250),
                "%d %d" % (code, ehlo))
        c.sock.close()

        # 3. The setting's bounds: 1 and 3600 load, 0 and 3601 do not.
        for value, loads in ((1, True), (3600, True), (0, False), (3601, False)):
            try:
                proc, _ = start_front(exe, base, "bound%d" % value, up, source_root,
                                      "tls_handshake_timeout=%d\n" % value)
                procs.append(proc)
                got = True
            except RuntimeError:
                got = False
            t.equal("tls_handshake_timeout=%d loads" % value, got, loads)
    finally:
        test_teardown(procs, base, t.failures > 0)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
