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
     or 3601;
  2. max_connections_per_client (as Postfix's smtpd_client_connection_count_limit): at
     the limit all served, one past "421 4.7.0 HOST Error: too many connections from
     ADDR" and no upstream link taken; another address served meanwhile; a place freed
     when a session ends; on implicit TLS one past told 421 after a short handshake (one
     such handshake per address at a time: another meanwhile, or one that does not
     handshake within POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT, closed without a reply);
     the default 50 at and
     one past; 0 no limit (these with count_loopback_clients=true: the test's clients are
     on loopback); by default loopback clients are not counted (as Postfix exempts
     $mynetworks); a client is its address's network of client_ipv4_prefix_length bits
     (24: 127.0.0.1 and .2 are one client, 127.0.1.1 another) and of
     client_ipv6_prefix_length (84 by default: in a network namespace of the test's own,
     two addresses of one /84 are one client, one of another /84 is not; 128: each
     address alone); the prefix lengths load at 1 and 32 or 128, not at 0 or one past;
     stress (as Postfix's smtpd under stress): with every slot taken (max_connections)
     the clients that owe a command for more than stress_timeout hear 421 and are cut,
     said once in the log and per session, in TLS too (over TLS); the front's own wait
     for the upstream's replies is not counted; with a slot free, or stress_timeout=0,
     they are kept; it loads at 0 and 3600, not 3601;
  3. request_deadline counts only the client's time: a pipelined RCPT that the upstream
     answers after more than the deadline gets its reply, the session goes on.
How: a scripted upstream (scripted_front.PostfixLike), the front on loopback.
Limits: about 50 s. Skips (77) when the front is not built.
Never: binds anything but loopback (the IPv6 addresses are on the loopback of a network
namespace the test makes: unshare --net, root only).
"""

import json
import os
import select
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import wait_log  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front, stop_front,  # noqa: E402
                            test_setup, test_teardown)
from scripted_front import check_bounds as bounds  # noqa: E402

HANDSHAKE_TIMEOUT = 4
# Seconds the scripted upstream of check 6 takes to answer RCPT (request_deadline one less).
RCPT_DELAY = 3
# POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT (postfix-front.h)
REFUSAL_HANDSHAKE = 5
# The stress checks' stress_timeout (seconds).
STRESS_TIMEOUT = 2


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


def session_ended(sock, timeout=10):
    """Whether the front ended the session of @sock (TCP or TLS) within @timeout s: the
    end of the TCP stream, read on a duplicate of the descriptor (TLS records skipped).
    The front closes a client's descriptor only after the session has given back its
    places (per-client count, refusal slot), so the next connection finds them free."""
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    raw.settimeout(timeout)
    try:
        while raw.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    finally:
        raw.close()


# The IPv6 part's client addresses (documentation prefix, on the loopback of the test's
# network namespace): A and B in one /84 (their sixth group's top four bits 0), C in
# another (as the front prints them: inet_ntop's form).
IPV6_A = "2001:db8:1:2:3::a"
IPV6_B = "2001:db8:1:2:3:fff:0:b"
IPV6_C = "2001:db8:1:2:3:1000:0:c"


def limit_refuses(port, first, second, third, host="127.0.0.1"):
    """Sessions from @first and @second held, then one from @third; (the first two's
    codes, the third's code and text). Each session ended (QUIT) and its end seen before
    the return: their places are given back for the next call."""
    held = [Client(port, source=a, host=host) for a in (first, second)]
    codes = [c.reply()[0] for c in held]
    extra = Client(port, source=third, host=host)
    code, text = extra.reply()
    for c in held + [extra]:
        try:
            c.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass  # the refused one: closed after its 421
        session_ended(c.sock)
        c.sock.close()
    return codes, code, text


def pipelined_session(port):
    """EHLO, then MAIL and RCPT in one write, then QUIT: (the MAIL's and RCPT's codes, the
    QUIT's)."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO client.example\r\n")
    c.sock.sendall(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@dest.example>\r\n")
    codes = [c.reply()[0], c.reply()[0]]
    quit_code = c.cmd(b"QUIT\r\n")[0]
    c.sock.close()
    return codes, quit_code


def ipv6_checks(exe, source_root, base):
    """In a network namespace of its own (this process, run under unshare --net): the IPv6
    addresses on its loopback, the front on [::]; [(what, ok, detail)]."""
    out = []
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in (IPV6_A, IPV6_B, IPV6_C):
        subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"],
                       check=True)
    up = PostfixLike()
    procs = []
    try:
        # One session a client. By default (84) A and B are one client, C another; at 128
        # each is alone.
        for name, extra, want in (("v6-default", "", 421),
                                  ("v6-128", "client_ipv6_prefix_length=128\n", 220)):
            proc, port = start_front(exe, base, name, up, source_root,
                                     "upstream_pool=0\nmax_connections_per_client=1\n"
                                     + extra, listen="[::]:0")
            procs.append(proc)
            codes, code, text = limit_refuses(port, IPV6_A, IPV6_C, IPV6_B, host="::1")
            out.append(("%s: A and C (two /84s) served, then B (A's /84) gets %d"
                        % (name, want), codes == [220, 220] and code == want,
                        "%r %d %r" % (codes, code, text)))
            if want != 421:
                continue
            log = wait_log(os.path.join(base, name + ".log"), "too many connections")
            out.append(("%s: the 421 names B, the log A's and B's /84" % name,
                        text == b"421 4.7.0 front.test.example Error: too many connections "
                        b"from " + IPV6_B.encode() + b"\r\n"
                        and "[%s] too many connections from 2001:db8:1:2:3::/84" % IPV6_B
                        in log, "%r\n%s" % (text, log[-600:])))
    finally:
        for p in procs:
            stop_front(p)
    return out


def main():
    if "--ipv6-netns" in sys.argv:
        exe, source_root, base = sys.argv[sys.argv.index("--ipv6-netns") + 1:][:3]
        print(json.dumps(ipv6_checks(exe, source_root, base)))
        return 0
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
        # Check 5 opens 55 upstream links at once: PostfixLike's backlog of 16 would drop
        # SYNs (a retry after 1 s, 3 s, ...).
        up.sock.listen(128)

        def check_bounds(key, cases):
            """@key's bounds (scripted_front.check_bounds), each front in front of @up."""
            procs.extend(bounds(t, lambda name, line: start_front(
                exe, base, name, up, source_root, line), key, cases))

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
        check_bounds("tls_handshake_timeout", ((1, True), (3600, True), (0, False),
                                               (3601, False)))

        # 4. max_connections_per_client: at the limit all are served, one past gets 421
        # (Postfix's words) and no upstream link; another address is served meanwhile;
        # a session ended frees its place.
        proc, pport = start_front(exe, base, "perclient", up, source_root,
                                  "upstream_pool=0\nmax_connections_per_client=2\n"
                                  "count_loopback_clients=true\n")
        procs.append(proc)
        links = sum(1 for x in up.lines if x.startswith(b"XCLIENT"))
        held = [Client(pport), Client(pport)]
        codes = [c.reply()[0] for c in held]
        t.equal("max_connections_per_client=2: two sessions from 127.0.0.1 served", codes,
                [220, 220])
        # The greeting comes before the XCLIENT round trip: an EHLO's reply comes after it.
        for c in held:
            c.cmd(b"EHLO client.example\r\n")
        extra = Client(pport)
        code, text = extra.reply()
        t.check("the third from 127.0.0.1 gets 421 4.7.0 ... too many connections from "
                "127.0.0.1", code == 421 and text.startswith(
                    b"421 4.7.0 front.test.example Error: too many connections from "
                    b"127.0.0.1\r\n"), repr(text))
        t.check("the connection is closed after it", extra.reply()[0] == 0)
        extra.sock.close()
        t.equal("the refused session took no upstream link",
                sum(1 for x in up.lines if x.startswith(b"XCLIENT")) - links, 2)
        other = Client(pport, source="127.0.0.2")
        t.equal("a session from 127.0.0.2 is served meanwhile", other.reply()[0], 220)
        other.sock.close()
        held[0].cmd(b"QUIT\r\n")
        ended = session_ended(held[0].sock)
        held[0].sock.close()
        again = Client(pport)
        code = again.reply()[0]
        t.check("after one ended, 127.0.0.1 is served again", ended and code == 220,
                "ended %r, code %d" % (ended, code))
        again.sock.close()
        held[1].sock.close()

        # 4b. On implicit TLS one past the limit: a short handshake (at most
        # POSTFIX_FRONT_REFUSAL_HANDSHAKE_TIMEOUT), then 421; one such handshake per
        # address at a time, any other past the limit meanwhile closed at once.
        proc, iport = start_front(exe, base, "perclient-tls", up, source_root,
                                  "implicit_tls=true\nupstream_pool=0\n"
                                  "max_connections_per_client=1\n"
                                  "count_loopback_clients=true\n")
        procs.append(proc)
        ctx = ssl.create_default_context(cafile=ca)

        def tls_client():
            c = Client(iport)
            c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
            c.file = c.sock.makefile("rb")
            return c

        first = tls_client()
        t.equal("implicit TLS, max_connections_per_client=1: the first is served",
                first.reply()[0], 220)
        first.cmd(b"EHLO client.example\r\n")
        links = sum(1 for x in up.lines if x.startswith(b"XCLIENT"))
        second = tls_client()
        code, text = second.reply()
        t.check("implicit TLS: one past the limit is told 421 4.7.0 after its handshake",
                code == 421 and b"4.7.0" in text and b"too many connections" in text,
                "%d %r" % (code, text))
        # Its refusal slot given back before the next ones come (they raced it under load).
        ended = session_ended(second.sock)
        second.sock.close()
        # A client past the limit that does not handshake holds the one refusal slot of
        # its address for REFUSAL_HANDSHAKE s at most; another meanwhile is closed at once.
        # Two such clients: which one the front takes first is not fixed (two loops in
        # the -io2 run), so the one closed at once is whichever ends first.
        pair = [socket.create_connection(("127.0.0.1", iport), timeout=15) for _ in range(2)]
        t0 = time.monotonic()
        ready, _, _ = select.select(pair, [], [], REFUSAL_HANDSHAKE)
        quick = time.monotonic() - t0
        try:
            got = ready[0].recv(100) if len(ready) == 1 else b"%d ended" % len(ready)
        except OSError as e:
            got = repr(e).encode()
        t.check("implicit TLS: another past the limit while one's refusal handshake is "
                "under way is closed at once, nothing sent",
                ended and got == b"" and quick < 2,
                "previous ended %r; %r after %.1f s" % (ended, got, quick))
        silent = pair[1] if ready[:1] == pair[:1] else pair[0]
        try:
            got = silent.recv(100)
        except OSError as e:
            got = repr(e).encode()
        held = time.monotonic() - t0
        t.check("implicit TLS: a client past the limit that never handshakes is closed "
                "after %d s, nothing sent" % REFUSAL_HANDSHAKE,
                got == b"" and REFUSAL_HANDSHAKE - 1 <= held <= REFUSAL_HANDSHAKE + 2,
                "%r after %.1f s" % (got, held))
        for x in pair:
            x.close()
        third = tls_client()
        t.equal("implicit TLS: after it, the next one past the limit is told 421 again",
                third.reply()[0], 421)
        third.sock.close()
        t.equal("implicit TLS: those past the limit took no upstream link",
                sum(1 for x in up.lines if x.startswith(b"XCLIENT")) - links, 0)
        first.sock.close()

        # 4c. A client is its address's network: client_ipv4_prefix_length=24 makes
        # 127.0.0.1 and 127.0.0.2 one client (the third from that /24 is refused, the log
        # names the /24), 127.0.1.1 another; the IPv6 part in a network namespace.
        proc, nport = start_front(exe, base, "prefix24", up, source_root,
                                  "upstream_pool=0\nmax_connections_per_client=2\n"
                                  "count_loopback_clients=true\nclient_ipv4_prefix_length=24\n")
        procs.append(proc)
        codes, code, text = limit_refuses(nport, "127.0.0.1", "127.0.0.2", "127.0.0.3")
        t.check("client_ipv4_prefix_length=24: 127.0.0.1 and .2 served, .3 gets 421 (one "
                "client)", codes == [220, 220] and code == 421 and text.startswith(
                    b"421 4.7.0 front.test.example Error: too many connections from "
                    b"127.0.0.3\r\n"), "%r %d %r" % (codes, code, text))
        log = wait_log(os.path.join(base, "prefix24.log"), "too many connections")
        t.check("client_ipv4_prefix_length=24: the log names the client's /24",
                "[127.0.0.3] too many connections from 127.0.0.0/24 "
                "(max_connections_per_client 2)" in log, log[-600:])
        codes, code, text = limit_refuses(nport, "127.0.0.1", "127.0.0.2", "127.0.1.1")
        t.check("client_ipv4_prefix_length=24: 127.0.1.1 served beside them (another /24)",
                codes == [220, 220] and code == 220, "%r %d %r" % (codes, code, text))
        check_bounds("client_ipv4_prefix_length", ((1, True), (32, True), (0, False),
                                                   (33, False)))
        check_bounds("client_ipv6_prefix_length", ((1, True), (128, True), (0, False),
                                                   (129, False)))
        if os.geteuid() != 0:
            print("# the IPv6 part needs root (a network namespace): not run")
        else:
            r = subprocess.run(["unshare", "--net", "--", sys.executable,
                                os.path.abspath(__file__), "--build-dir",
                                sys.argv[sys.argv.index("--build-dir") + 1],
                                "--ipv6-netns", exe, source_root, base],
                               capture_output=True, text=True, timeout=120)
            try:
                results = json.loads(r.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                results = [("the IPv6 part ran (unshare --net)", False,
                            "exit %d\n%s\n%s" % (r.returncode, r.stdout[-800:],
                                                  r.stderr[-1500:]))]
            for what, ok, detail in results:
                t.check(what, ok, detail)

        # 5. The default (50, as Postfix's) at and one past; 0: no limit.
        # By default a loopback client is not counted (a webmail or a local program).
        for name, extra_conf, n, want_last in (("default", "", 51, 421),
                                               ("nolimit", "max_connections_per_client=0\n",
                                                55, 220),
                                               ("loopback", None, 4, 220)):
            conf = ("upstream_pool=0\nmax_connections_per_client=2\n" if extra_conf is None
                    else "upstream_pool=0\ncount_loopback_clients=true\n" + extra_conf)
            proc, dport = start_front(exe, base, name, up, source_root, conf)
            procs.append(proc)
            many = [Client(dport) for _ in range(n)]
            codes = [c.reply()[0] for c in many]
            # Session threads race once accepted: which one is past the limit is not fixed.
            want = sorted([220] * (n - 1) + [want_last])
            t.check("%s: %d sessions from one address at once: %d served, one gets %d"
                    % (name, n, n - 1, want_last), sorted(codes) == want,
                    "codes %r" % [(x, codes.count(x)) for x in sorted(set(codes))])
            for c in many:
                c.sock.close()

        # 7. Stress (as Postfix's smtpd under stress): with every slot taken
        # (max_connections=3), clients that owe a command for more than stress_timeout (2)
        # are told 421 and cut, within about 2 s more; with a slot free nobody is; 0: never.
        for name, stress, cut in (("stress", 2, True), ("stress-off", 0, False)):
            proc, xport = start_front(exe, base, name, up, source_root,
                                      "upstream_pool=0\nmax_connections=3\nidle_timeout=60\n"
                                      "stress_timeout=%d\n" % stress)
            procs.append(proc)
            two = [Client(xport) for _ in range(2)]
            for c in two:
                c.reply()
                c.cmd(b"EHLO client.example\r\n")
            if cut:
                time.sleep(STRESS_TIMEOUT + 2.5)
                t.equal("stress_timeout=2: two of three slots taken, silent for %.1f s: kept"
                        % (STRESS_TIMEOUT + 2.5), [c.cmd(b"NOOP\r\n")[0] for c in two],
                        [250, 250])
            third = Client(xport)
            third.reply()
            # What each hears within STRESS_TIMEOUT + 3 s of the last slot taken (the sweep
            # runs once a second and cuts a wait of more than STRESS_TIMEOUT whole seconds;
            # the third's wait began after its EHLO was sent).
            t0 = time.monotonic()
            third.cmd(b"EHLO client.example\r\n")
            end = t0 + STRESS_TIMEOUT + 3
            got = []
            for c in two + [third]:
                c.sock.settimeout(max(0.1, end - time.monotonic()))
                try:
                    got.append((c.reply(), round(time.monotonic() - t0, 1)))
                except socket.timeout:
                    got.append(("kept", round(time.monotonic() - t0, 1)))
            if cut:
                t.check("stress_timeout=2: every slot taken, the silent clients hear 421 "
                        "4.4.2 timeout exceeded (the two silent since before at once, the "
                        "third after more than 2 s)",
                        all(r != "kept" and r[0] == 421 and b"timeout exceeded" in r[1]
                            for r, _ in got) and got[2][1] >= STRESS_TIMEOUT, repr(got))
                log = wait_log(os.path.join(base, name + ".log"),
                               "no command within stress_timeout (2 s)", 3)
                t.check("stress: said once when the last slot was taken, and each cut logged",
                        log.count("Every session slot is taken (max_connections 3)") == 1
                        and log.count("no command within stress_timeout (2 s)") == 3,
                        log[-1500:])
                again = Client(xport)
                code = again.reply()[0]
                time.sleep(STRESS_TIMEOUT + 2.5)
                t.equal("stress: over, a session alone silent for %.1f s is kept"
                        % (STRESS_TIMEOUT + 2.5), (code, again.cmd(b"NOOP\r\n")[0]),
                        (220, 250))
                again.sock.close()
            else:
                t.check("stress_timeout=0: every slot taken, silent clients are kept",
                        all(r == "kept" for r, _ in got), repr(got))
            for c in two + [third]:
                c.sock.close()
        # In TLS (after STARTTLS, the one slot taken): the 421 comes over TLS (its read
        # cancelled, GnuTLS's session whole).
        proc, tport = start_front(exe, base, "stress-tls", up, source_root,
                                  "upstream_pool=0\nmax_connections=1\nidle_timeout=60\n"
                                  "stress_timeout=%d\n" % STRESS_TIMEOUT)
        procs.append(proc)
        c = Client(tport)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        code = c.starttls(ca)
        t0 = time.monotonic()
        ehlo = c.cmd(b"EHLO client.example\r\n")[0]
        c.sock.settimeout(STRESS_TIMEOUT + 5)
        try:
            r = c.reply()
        except (socket.timeout, ssl.SSLError, OSError) as e:
            r = (0, repr(e).encode())
        took = time.monotonic() - t0
        c.sock.close()
        t.check("stress in TLS: the silent client hears 421 4.4.2 timeout exceeded over TLS "
                "after more than %d s" % STRESS_TIMEOUT,
                (code, ehlo) == (220, 250) and r[0] == 421 and b"timeout exceeded" in r[1]
                and took >= STRESS_TIMEOUT, "%r %r %r after %.1f s" % (code, ehlo, r, took))
        # The front's own time is not the client's: a pipelined RCPT that the upstream
        # answers after RCPT_DELAY (> stress_timeout) s, the one slot taken, is answered
        # and the session goes on.
        slow_stress = PostfixLike(rcpt_delay=RCPT_DELAY)
        proc, pport = start_front(exe, base, "stress-slowup", slow_stress, source_root,
                                  "upstream_pool=0\nmax_connections=1\nstress_timeout=1\n")
        procs.append(proc)
        codes, quit_code = pipelined_session(pport)
        t.check("stress_timeout=1, the one slot taken: a pipelined RCPT answered by the "
                "upstream after %d s gets its 250 and the session goes on" % RCPT_DELAY,
                codes == [250, 250] and quit_code == 221,
                "codes %r, QUIT %r" % (codes, quit_code))
        check_bounds("stress_timeout", ((0, True), (3600, True), (3601, False)))

        # 6. request_deadline counts the client's time, not the upstream's: a pipelining
        # client whose RCPT Postfix answers after more than the deadline is not cut.
        slow = PostfixLike(rcpt_delay=RCPT_DELAY)
        proc, sport = start_front(exe, base, "slowup", slow, source_root,
                                  "upstream_pool=0\nrequest_deadline=%d\n" % (RCPT_DELAY - 1))
        procs.append(proc)
        codes, quit_code = pipelined_session(sport)
        t.check("request_deadline=%d: a pipelined RCPT answered by the upstream after %d s "
                "gets its 250 and the session goes on" % (RCPT_DELAY - 1, RCPT_DELAY),
                codes == [250, 250] and quit_code == 221,
                "codes %r, QUIT %r" % (codes, quit_code))
    finally:
        test_teardown(procs, base, t.failures > 0)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
