#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-review.py: defects of msgtrk-submit-front found in review (issue 11),
each a check that fails on 5ad7545.

  test-postfix-front-review.py --build-dir BUILD

No Postfix: a scripted upstream (PostfixLike) that reads lines as Postfix's smtp_get()
does (it strips *every* CR before the LF: src/global/smtp_stream.c) and records them.
Checks:
  1. a command verb followed by TAB ("XCLIENT<TAB>LOGIN=...") is not passed upstream
     (Postfix splits commands on any white space: smtpd_token.c; with xclient=false, or a
     client in smtpd_authorized_xclient_hosts, it would log the client in as anyone); nor
     one with white space before the verb (Postfix skips it), or VT, FF or CR after it;
  2. a data line ".<CR><CR><LF>" (end of data for Postfix) does not reach the upstream as
     is (Postfix ends the message there and runs what follows as commands: the front's
     replies then desynchronise);
  3. "<LF>.<CR><LF>" does not end the data (only CRLF "." CRLF does, as the man page says);
     in 2. and 3. the client's replies stay in step (one 250 for its one message);
  4. with TLS configured, AUTH is neither offered nor passed on before STARTTLS
     (docs/postfix-site.md tells the admin to set smtpd_tls_auth_only=no upstream): 538
     5.7.11 (RFC 4954 section 6, "Encryption required for requested authentication
     mechanism"); after STARTTLS it is offered and passed on, over a fresh upstream link
     (RFC 3207 4.2: the old one gets QUIT); with tls_security_level=encrypt, anything but
     EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before STARTTLS gets 530 5.7.0 (RFC 3207 section 4)
     and is not passed on; tls_auth_only=no passes a cleartext AUTH on (the admin's
     choice);
  5. a SIGTERM while the front waits for the reply to a "." that reached the upstream:
     the client gets that reply (the upstream has the message), not 421; a reply later
     than FRONT_STOP_REPLY_WAIT_MS: 421, and the front exits after that wait.
  6. data lines at, one past and far past the front's reader buffer (16,383 octets with
     the CRLF; 16,384, 20,000, 40,000) reach the upstream whole, the message accepted
     (they got "421 4.5.0", temporary: an MTA retried for days; Postfix takes them);
  6b. a command behind the "." in the same write; the end marker split across writes.
  7. AUTH command lines (an XOAUTH2 initial response) and AUTH response lines up to
     12,288 octets (RFC 4954 section 4) pass, whole; one past: 500 here, nothing of it
     passed on ("*" ends the upstream's exchange); other commands keep 1,012; no AUTH
     data logged;
  8. the upstream refusing XCLIENT: the client hears 421 4.3.5 and nothing of its session
     goes upstream (it went on with Postfix taking the front's address for the client's);
  9. an upstream reply line holding a NUL is a bad reply: the client hears 421 4.4.2 (the
     line was cut at the NUL and passed on without its CRLF, out of step);
Skips (77) when the front is not built. Needs to bind loopback ports only.
"""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front, test_setup, test_teardown  # noqa: E402
import tracking_harness as th  # noqa: E402


def ends_of_data(lines):
    """How many of @lines Postfix takes for the end of the data."""
    return sum(1 for x in lines if x.endswith(b"\n") and x.rstrip(b"\r\n").rstrip(b"\r") == b".")


def data_session(port):
    """A client of the front at @port in a transaction's data (EHLO, MAIL, RCPT, DATA
    answered)."""
    c = Client(port)
    c.reply()
    c.cmd(b"EHLO client.example\r\n")
    c.cmd(b"MAIL FROM:<a@example.com>\r\n")
    c.cmd(b"RCPT TO:<b@example.com>\r\n")
    c.cmd(b"DATA\r\n")
    return c


def main():
    setup = test_setup("msgtrk-front-review-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    procs = []
    try:
        up = PostfixLike()
        proc, port = start_front(exe, base, "front", up, source_root)
        procs.append(proc)

        # 1. XCLIENT with a TAB after the verb.
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        before = len(up.lines)
        code, _ = c.cmd(b"XCLIENT\tLOGIN=ceo@example.com\r\n")
        passed = [x for x in up.lines[before:] if x.upper().startswith(b"XCLIENT")]
        t.check("XCLIENT<TAB>LOGIN=... is not passed to the upstream", not passed,
                "upstream got %r, client got %d" % (passed, code))
        for verb in (b"XFORWARD\tIDENT=x", b"BDAT\t0 LAST"):
            before = len(up.lines)
            c.cmd(verb + b"\r\n")
            passed = [x for x in up.lines[before:] if x.startswith(verb.split(b"\t")[0])]
            t.check("%s<TAB>... is not passed to the upstream" % verb.split(b"\t")[0].decode(),
                    not passed, repr(passed))
        # Every separator of Postfix's tokenizer (ISSPACE: SP HT LF VT FF CR; LF ends the
        # line), before the verb too (smtpd_token.c skips leading white space).
        for raw in (b" XCLIENT LOGIN=x", b"\tXCLIENT LOGIN=x", b"XCLIENT\x0bLOGIN=x",
                    b"XCLIENT\x0cLOGIN=x", b"XCLIENT\rLOGIN=x", b"xclient\t\tLOGIN=x",
                    b" \tXFORWARD IDENT=x", b"\x0cBDAT 0 LAST"):
            before = len(up.lines)
            code, _ = c.cmd(raw + b"\r\n")
            verb = raw.split()[0].upper()
            passed = [x for x in up.lines[before:] if x.split() and x.split()[0].upper() == verb]
            t.check("%r is refused here (502), not passed to the upstream" % raw,
                    not passed and code == 502, "client got %d; upstream got %r" % (code, passed))
        # The same split gives MAIL its argument: MTRK= is taken off after a TAB too.
        before = len(up.lines)
        code, _ = c.cmd(b"MAIL\tFROM:<a@example.com> ENVID=e1 MTRK=%s\r\n" % th.AUTH.encode())
        passed = [x for x in up.lines[before:] if x.upper().startswith(b"MAIL")]
        t.check("MAIL<TAB>FROM:... MTRK=: MTRK taken off, the rest passed on",
                code == 250 and passed == [b"MAIL\tFROM:<a@example.com> ENVID=e1\r\n"],
                "client got %d; upstream got %r" % (code, passed))
        c.cmd(b"RSET\r\n")
        # Parameters split by a TAB: the front cannot read them; MTRK= among them is
        # refused here (never passed to Postfix, never an untracked send).
        for raw in (b"MAIL FROM:<a@example.com> ENVID=e2\tMTRK=%s" % th.AUTH.encode(),
                    b"MAIL FROM:<a@example.com>\tMTRK=%s ENVID=e3" % th.AUTH.encode()):
            before = len(up.lines)
            code, _ = c.cmd(raw + b"\r\n")
            passed = [x for x in up.lines[before:] if x.upper().startswith(b"MAIL")]
            t.check("%r: 501 here, nothing passed on" % raw[:40],
                    code == 501 and not passed, "client got %d; upstream got %r"
                    % (code, passed))
        c.sock.close()

        # 2. and 3. The end of the data as Postfix reads it.
        for label, body in (("a '.<CR><CR><LF>' line", b"first\r\n.\r\r\n"),
                            ("'<LF>.<CR><LF>'", b"first\n.\r\n")):
            c = data_session(port)
            before = len(up.lines)
            code, text = c.cmd(b"Subject: s\r\n\r\n" + body
                               + b"MAIL FROM:<smuggled@example.com>\r\n"
                               b"RCPT TO:<victim@example.net>\r\nDATA\r\nsmuggled\r\n.\r\n")
            # A NOOP after it: once the upstream has it, it has had everything before it.
            noop, _ = c.cmd(b"NOOP\r\n")
            th.settle("the NOOP upstream",
                      lambda: any(x.startswith(b"NOOP") for x in up.lines[before:]), 10)
            got = up.lines[before:]
            t.equal("%s: the upstream sees one end of data for the client's one message"
                    % label, ends_of_data(got), 1)
            t.check("%s: the client's replies stay in step (250 to the data, 250 to NOOP)"
                    % label, code == 250 and b"queued as" in text and noop == 250,
                    "data: %d %r, NOOP: %d" % (code, text, noop))
            c.sock.close()

        # 6. Data lines at, one past and far past the reader's buffer (16,383 octets with
        # the CRLF): each reaches the upstream whole (Postfix decides), in one message.
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        long_lines = [b"Subject: " + b"s" * (16383 - 11) + b"\r\n",   # a header, at it
                      b"\r\n",
                      b"a" * (16383 - 2) + b"\r\n",                 # at the limit
                      b"b" * (16384 - 2) + b"\r\n",                 # one past
                      b".." + b"c" * 20000 + b"\r\n",               # stuffed, far past
                      b"d" * 20000 + b"\n",                         # bare LF
                      b"e" * 40000 + b"\r\n"]
        c.cmd(b"MAIL FROM:<a@example.com>\r\n")
        c.cmd(b"RCPT TO:<b@example.com>\r\n")
        c.cmd(b"DATA\r\n")
        before = len(up.lines)
        code, text = c.cmd(b"".join(long_lines) + b".\r\n")
        got = up.lines[before:]
        want = [x if x.endswith(b"\r\n") else x[:-1] + b"\r\n" for x in long_lines] + [b".\r\n"]
        t.check("data lines of 16,383 / 16,384 / 20,000 / 40,000 octets go upstream whole",
                code == 250 and got == want,
                "client got %d %r; upstream got lines of %r octets" % (code, text[:80],
                                                                       [len(x) for x in got]))
        code, _ = c.cmd(b"NOOP\r\n")
        t.equal("after the long lines the session goes on", code, 250)
        c.sock.close()

        # 6b. The body goes by the buffer (docs/postfix-front-io.md, "The message body by
        # the buffer"): a command right behind the "." in the same write stays for the
        # session (answered after the 250, passed on once, after the data); the end
        # marker split across writes at each of its octets still ends the data, once.
        c = data_session(port)
        before = len(up.lines)
        c.sock.sendall(b"Subject: s\r\n\r\nbody one\r\nbody two\r\n.\r\nNOOP\r\n")
        code, text = c.reply()
        noop, _ = c.reply()
        th.settle("the NOOP upstream",
                  lambda: any(x.startswith(b"NOOP") for x in up.lines[before:]), 10)
        got = up.lines[before:]
        t.check("a NOOP behind the '.' in the same write: 250 to the data, then 250 to the "
                "NOOP; upstream: the body, one end of data, then the NOOP once",
                code == 250 and noop == 250
                and got == [b"Subject: s\r\n", b"\r\n", b"body one\r\n", b"body two\r\n",
                            b".\r\n", b"NOOP\r\n"],
                "client: %d %r, %d; upstream: %r" % (code, text[:60], noop, got))
        for cut in (b"\r", b"\r\n", b"\r\n.", b"\r\n.\r"):
            c.cmd(b"MAIL FROM:<a@example.com>\r\n")
            c.cmd(b"RCPT TO:<b@example.com>\r\n")
            c.cmd(b"DATA\r\n")
            before = len(up.lines)
            whole = b"Subject: s\r\n\r\nbody\r\n.\r\n"
            head = whole[:whole.rindex(b"body\r\n") + 4] + cut
            c.sock.sendall(head)
            # A pause so that the front reads the first part alone (nothing to wait for
            # that the test can see; were both read at once, the check would still hold).
            time.sleep(0.2)
            code, text = c.cmd(whole[len(head):])
            got = up.lines[before:]
            t.check("the end marker split after %r: 250, one end of data upstream, the body "
                    "whole" % (b"body" + cut),
                    code == 250 and ends_of_data(got) == 1
                    and got[-2:] == [b"body\r\n", b".\r\n"],
                    "client: %d %r; upstream: %r" % (code, text[:60], got))
        c.sock.close()

        # 7. AUTH lines up to FRONT_AUTH_LINE_MAX (12,288 octets with the CRLF, RFC 4954
        # section 4): the AUTH command (an XOAUTH2 initial response) and a response in the
        # exchange, at the limit and one past; other commands keep their 1,012 (inside
        # TLS: the front may keep AUTH for TLS sessions).
        auth_max, cmd_max = 12288, 1012
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        t.equal("STARTTLS for the AUTH checks",
                c.starttls(os.path.join(base, "pki", "ca.pem")), 220)
        c.cmd(b"EHLO client.example\r\n")
        for n, want in ((auth_max, 235), (auth_max + 1, 500)):
            line = b"AUTH XOAUTH2 " + b"T" * (n - 15) + b"\r\n"
            before = len(up.lines)
            code, text = c.cmd(line)
            passed = [x for x in up.lines[before:] if x.startswith(b"AUTH")]
            t.check("an AUTH XOAUTH2 line of %d octets: %d%s" % (
                        n, want, ", passed on whole" if want == 235 else ", nothing passed on"),
                    code == want and passed == ([line] if want == 235 else []),
                    "client got %r; upstream got lines of %r octets"
                    % (text[:60], [len(x) for x in passed]))
        for n, want in ((auth_max, 235), (auth_max + 1, 500)):
            response = b"R" * (n - 2) + b"\r\n"
            before = len(up.lines)
            code334, _ = c.cmd(b"AUTH LOGIN\r\n")
            code, text = c.cmd(response)
            got = up.lines[before:]
            t.check("an AUTH response line of %d octets: %d%s" % (
                        n, want, ", passed on whole" if want == 235
                        else "; '*' upstream ends Postfix's exchange"),
                    code334 == 334 and code == want
                    and got == [b"AUTH LOGIN\r\n", response if want == 235 else b"*\r\n"],
                    "client got %d then %r; upstream got lines of %r octets"
                    % (code334, text[:60], [len(x) for x in got]))
        for n, want in ((cmd_max, 250), (cmd_max + 1, 500)):
            code, _ = c.cmd(b"NOOP " + b"n" * (n - 7) + b"\r\n")
            t.equal("another command of %d octets" % n, code, want)
        t.equal("the session goes on after them", c.cmd(b"NOOP\r\n")[0], 250)
        front_log = open(os.path.join(base, "front.log"), "rb").read()
        t.check("no AUTH data in the front's log", b"TTTT" not in front_log
                and b"RRRR" not in front_log, front_log[-300:].decode(errors="replace"))
        c.sock.close()

        # 4. AUTH before STARTTLS (the front has TLS).
        c = Client(port)
        c.reply()
        code, ehlo = c.cmd(b"EHLO client.example\r\n")
        t.check("before STARTTLS the EHLO reply offers no AUTH", b"AUTH" not in ehlo,
                ehlo.decode(errors="replace"))
        before = len(up.lines)
        code, _ = c.cmd(b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")
        # RFC 4954 section 6: "538 5.7.11 Encryption required for requested
        # authentication mechanism" (530 is RFC 3207's reply for encrypt, below).
        t.check("before STARTTLS, AUTH is refused here (538 5.7.11), not passed on",
                code == 538 and not any(x.startswith(b"AUTH") for x in up.lines[before:]),
                "client got %d; upstream got %r" % (code, up.lines[before:]))
        t.equal("... the session goes on (MAIL passed on: tls_security_level=may)",
                c.cmd(b"MAIL FROM:<a@example.com>\r\n")[0], 250)
        # STARTTLS: a fresh upstream session, AUTH offered and passed on.
        before = len(up.lines)
        t.equal("STARTTLS: 220", c.starttls(os.path.join(base, "pki", "ca.pem")), 220)
        code, ehlo = c.cmd(b"EHLO client.example\r\n")
        t.check("in TLS the EHLO reply offers AUTH", code == 250 and b"AUTH PLAIN" in ehlo,
                ehlo.decode(errors="replace"))
        # The old link's QUIT is not waited for: the scripted upstream may read it after
        # the new link's lines (two connections), or a moment after the EHLO's reply.
        deadline = time.monotonic() + 5
        while len(up.lines) - before < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        words = [x.split()[0] for x in up.lines[before:]]
        t.check("after STARTTLS: QUIT on the old upstream link, XCLIENT on a new one, "
                "then the EHLO", sorted(words) == [b"EHLO", b"QUIT", b"XCLIENT"]
                and words.index(b"XCLIENT") < words.index(b"EHLO"), repr(up.lines[before:]))
        before = len(up.lines)
        code, _ = c.cmd(b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")
        t.check("in TLS, AUTH is passed on", code == 235 and any(
            x.startswith(b"AUTH") for x in up.lines[before:]), "client got %d" % code)
        c.sock.close()

        # 4b. tls_security_level=encrypt: STARTTLS first.
        upe = PostfixLike()
        proce, porte = start_front(exe, base, "front-encrypt", upe, source_root,
                                   "tls_security_level=encrypt\n")
        procs.append(proce)
        c = Client(porte)
        c.reply()
        code, ehlo = c.cmd(b"EHLO client.example\r\n")
        t.check("encrypt: the EHLO reply offers STARTTLS, no AUTH",
                code == 250 and b"STARTTLS" in ehlo and b"AUTH" not in ehlo,
                ehlo.decode(errors="replace"))
        for cmd in (b"MAIL FROM:<a@example.com>", b"RCPT TO:<b@example.com>", b"DATA",
                    b"AUTH PLAIN AHVzZXIAc2VjcmV0", b"VRFY b", b"HELP"):
            before = len(upe.lines)
            code, text = c.cmd(cmd + b"\r\n")
            t.check("encrypt: %s before STARTTLS: 530 5.7.0, not passed on"
                    % cmd.split()[0].decode(),
                    text.startswith(b"530 5.7.0 Must issue a STARTTLS command first")
                    and len(upe.lines) == before, "%r; upstream got %r"
                    % (text, upe.lines[before:]))
        for cmd in (b"NOOP", b"RSET", b"HELO client.example"):
            t.equal("encrypt: %s before STARTTLS passed on" % cmd.split()[0].decode(),
                    c.cmd(cmd + b"\r\n")[0], 250)
        t.equal("encrypt: STARTTLS with an argument: 501",
                c.cmd(b"STARTTLS now\r\n")[0], 501)
        t.equal("encrypt: STARTTLS after white space (Postfix skips it too)",
                c.starttls(os.path.join(base, "pki", "ca.pem"), b" STARTTLS\r\n"), 220)
        t.equal("encrypt: MAIL in TLS before EHLO: 503 (the client must EHLO again)",
                c.cmd(b"MAIL FROM:<a@example.com>\r\n")[0], 503)
        c.cmd(b"EHLO client.example\r\n")
        t.equal("encrypt: MAIL in TLS passed on", c.cmd(b"MAIL FROM:<a@example.com>\r\n")[0],
                250)
        t.equal("encrypt: QUIT", c.cmd(b"QUIT\r\n")[0], 221)
        c.sock.close()

        # 4c. tls_auth_only=no: the admin's choice, a cleartext AUTH is passed on.
        upn = PostfixLike()
        procn, portn = start_front(exe, base, "front-clear-auth", upn, source_root,
                                   "tls_auth_only=no\n")
        procs.append(procn)
        c = Client(portn)
        c.reply()
        code, ehlo = c.cmd(b"EHLO client.example\r\n")
        t.check("tls_auth_only=no: AUTH offered before STARTTLS", b"AUTH PLAIN" in ehlo,
                ehlo.decode(errors="replace"))
        t.equal("tls_auth_only=no: AUTH passed on", c.cmd(b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n")[0],
                235)
        c.sock.close()
        for label, extra in (("tls_security_level=bogus", "tls_security_level=bogus\n"),
                             ("tls_auth_only=yes without TLS keys", "tls_auth_only=yes\n"),
                             ("implicit_tls=yes without TLS keys", "implicit_tls=yes\n"),
                             ("tls_security_level=encrypt without TLS keys",
                              "tls_security_level=encrypt\n")):
            conf = os.path.join(base, "bad.conf")
            with open(conf, "w") as f:
                f.write("[front]\nlisten=127.0.0.1:0\nupstream=127.0.0.1:1\nstate_dir=%s\n%s"
                        % (base, extra))
            r = subprocess.run([exe, "--config", conf], capture_output=True, text=True,
                               timeout=10)
            t.check("%s refused at start" % label,
                    r.returncode != 0 and extra.split("=")[0] in r.stderr, r.stderr)

        # 5. SIGTERM while the reply to a "." the upstream has is on its way: the client
        # gets it; past FRONT_STOP_REPLY_WAIT_MS (5 s) the link is cut, the client hears
        # 421, the front exits.
        for label, delay in (("0.5 s", 0.5), ("past the 5 s wait", 8.0)):
            up2 = PostfixLike(dot_delay=delay)
            proc2, port2 = start_front(exe, base, "front-stop-%d" % delay, up2, source_root)
            procs.append(proc2)
            c = Client(port2)
            c.reply()
            c.cmd(b"EHLO client.example\r\n")
            c.cmd(b"MAIL FROM:<a@example.com>\r\n")
            c.cmd(b"RCPT TO:<b@example.com>\r\n")
            c.cmd(b"DATA\r\n")
            c.sock.sendall(b"Subject: s\r\n\r\nbody\r\n.\r\n")
            th.wait_for("the '.' upstream", lambda: up2.dots == 1, 10)
            t0 = time.monotonic()
            proc2.send_signal(signal.SIGTERM)
            code, text = c.reply()
            # The 421's time, not the exit's: an ASan build's exit (the leak check) takes a
            # while of its own.
            took = time.monotonic() - t0
            rc = proc2.wait(30)
            if delay < 5:
                t.check("stop while the upstream's reply to the '.' is due (%s): the client "
                        "gets it" % label, up2.dots == 1 and code == 250 and rc == 0,
                        "upstream took %d message(s); the client got %r" % (up2.dots, text))
            else:
                t.check("stop while the upstream's reply to the '.' is due (%s): 421 after "
                        "the wait (before the upstream's reply), the front exits" % label,
                        code == 421 and rc == 0 and 4.5 < took < 7.5,
                        "the client got %r after %.1f s; exit %s" % (text, took, rc))
            c.sock.close()

        # 8. The upstream refuses XCLIENT (smtpd_authorized_xclient_hosts lacks the front):
        # the client hears 421, and nothing of its session reaches the upstream (going on,
        # Postfix would take the front's 127.0.0.1 for the client: permit_mynetworks).
        up3 = PostfixLike(xclient_reply="550 5.7.0 Error: insufficient authorization")
        proc3, port3 = start_front(exe, base, "front-noxclient", up3, source_root)
        procs.append(proc3)
        c = Client(port3)
        greeting, _ = c.reply()
        c.sock.sendall(b"EHLO client.example\r\n")
        code, text = c.reply()
        time.sleep(0.2)
        after = [x for x in up3.lines if not x.upper().startswith(b"XCLIENT")]
        t.check("XCLIENT refused: the client gets 421 4.3.5, nothing else goes upstream",
                greeting == 220 and code == 421 and b"4.3.5" in text
                and all(x.upper().startswith(b"QUIT") for x in after),
                "%d %r; upstream got %r" % (code, text, up3.lines))
        log = th.wait_log(os.path.join(base, "front-noxclient.log"),
                          "smtpd_authorized_xclient_hosts")
        t.check("XCLIENT refused: the log says what to change",
                "smtpd_authorized_xclient_hosts" in log, log[-500:])
        c.sock.close()

        # 9. A NUL in an upstream reply (here XCLIENT's 220): a bad reply, the upstream
        # lost; the client, greeted, hears 421 4.4.2 before anything else.
        up4 = PostfixLike(xclient_reply="220 postfix-like\x00 ESMTP")
        proc4, port4 = start_front(exe, base, "front-nul", up4, source_root)
        procs.append(proc4)
        c = Client(port4)
        greeting, _ = c.reply()
        code, text = c.reply()
        t.check("a NUL in an upstream reply: 421 4.4.2 to the client",
                greeting == 220 and code == 421 and b"4.4.2" in text, "%d %r" % (code, text))
        c.sock.close()
    finally:
        test_teardown(procs, base, t.failures)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
