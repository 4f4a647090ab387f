#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-limits.py: msgtrk-submit-front against a scripted upstream: a lone "."
line that is data, and limits at and past them (from the session 20 review).

  test-postfix-front-limits.py --build-dir BUILD

Checks:
  1. a lone "." line after a bare LF ("Subject: a<LF>.<CR><LF>X-Foo: b") is data, as
     the front's header comment says ("a '.' after or before a bare LF is data for
     both"): Postfix must get it (dot-stuffed, "..<CR><LF>"), not an empty line that
     ends the header section early (X-Foo moved into the body). Failed before 81f96ca:
     the parser dropped the dot (msgtrk_dot_parser_feed, DOT_CR state).
  2. POSTFIX_FRONT_REPLY_MAX_LINES (100): an upstream reply of 100 lines is relayed, one
     of 101 is a bad reply (421 4.4.2 to the client); POSTFIX_FRONT_REPLY_LINE_MAX (2048):
     a reply line of 2048 octets (CRLF included) is relayed, one of 2049 is a bad reply.
  3. POSTFIX_FRONT_MAX_ERRORS (20): 19 local errors leave the session open, the 20th
     is followed by 421 4.7.0.
  4. an upstream without DSN: MTRK not offered (it needs ENVID), a MAIL with MTRK= gets
     555 and nothing goes upstream; the front warns once.
  5. FRONT_MESSAGE_ID_MAX (998): a Message-ID field value of 998 octets gets a pending
     registration by Message-ID, one of 999 none.
Skips (77) when the front is not built. Binds loopback ports only.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from scripted_front import Client, PostfixLike, start_front, test_setup, test_teardown  # noqa: E402
from tracking_harness import settle, wait_log  # noqa: E402


class LongEhlo(PostfixLike):
    """PostfixLike whose EHLO reply has self.ehlo_lines lines (one of them long_line
    octets, CRLF included, when set), ending in DSN unless self.dsn is false."""
    ehlo_lines = 100
    dsn = True
    long_line = 0

    def ehlo_reply(self):
        n = self.ehlo_lines
        text = ["250-postfix-like"] + ["250-X-KEYWORD-%d" % i for i in range(n - 2)]
        if self.long_line:
            text.insert(1, "250-X-LONG-" + "k" * (self.long_line - 13))
        text.append("250 DSN" if self.dsn else "250 8BITMIME")
        return "\r\n".join(text)


def main():
    setup = test_setup("msgtrk-front-limits-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    procs = []
    try:
        up = PostfixLike()
        proc, port = start_front(exe, base, "front", up, source_root)
        procs.append(proc)

        # 1. A lone "." after a bare LF is data.
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        c.cmd(b"MAIL FROM:<a@example.com>\r\n")
        c.cmd(b"RCPT TO:<b@example.com>\r\n")
        c.cmd(b"DATA\r\n")
        before = len(up.lines)
        code, _ = c.cmd(b"Subject: a\n.\r\nX-Foo: b\r\n\r\nbody\r\n.\r\n")
        got = up.lines[before:]
        t.check("a lone '.' after a bare LF reaches Postfix as data (\"..\"), the header "
                "section not ended early", code == 250 and b"..\r\n" in got
                and got.index(b"X-Foo: b\r\n") < got.index(b"\r\n"),
                "client got %d; upstream got %r" % (code, got))
        c.sock.close()

        # 2. The upstream's reply: 100 lines (POSTFIX_FRONT_REPLY_MAX_LINES), then 101; a
        # line of 2048 octets (POSTFIX_FRONT_REPLY_LINE_MAX, CRLF included), then 2049.
        cases = [("a reply of %d lines" % n, n, 0, n <= 100, b"X-KEYWORD-%d" % (n - 3))
                 for n in (100, 101)]
        cases += [("a reply line of %d octets" % n, 3, n, n <= 2048,
                   b"X-LONG-" + b"k" * (n - 13) + b"\r\n") for n in (2048, 2049)]
        for i, (what, lines, long_line, ok, sign) in enumerate(cases):
            up2 = LongEhlo()
            up2.ehlo_lines, up2.long_line = lines, long_line
            proc2, port2 = start_front(exe, base, "front-reply-%d" % i, up2, source_root)
            procs.append(proc2)
            c = Client(port2)
            c.reply()
            code, text = c.cmd(b"EHLO client.example\r\n")
            if ok:
                t.check("upstream: %s is relayed" % what, code == 250 and sign in text,
                        "%d %r" % (code, text[-200:]))
            else:
                t.check("upstream: %s is a bad reply: 421 4.4.2" % what,
                        code == 421 and b"4.4.2" in text, "%d %r" % (code, text[-200:]))
            c.sock.close()

        # 3. POSTFIX_FRONT_MAX_ERRORS: local errors (502 to BDAT).
        c = Client(port)
        c.reply()
        c.cmd(b"EHLO client.example\r\n")
        codes = [c.cmd(b"BDAT 1 LAST\r\n")[0] for _ in range(19)]
        c.sock.settimeout(1)
        code, text = c.cmd(b"NOOP\r\n")
        t.check("19 local errors: the session goes on", codes == [502] * 19 and code == 250,
                "%r then %d" % (codes, code))
        code20, _ = c.cmd(b"BDAT 1 LAST\r\n")
        code, text = c.reply()
        t.check("the 20th local error (POSTFIX_FRONT_MAX_ERRORS) is followed by 421 4.7.0",
                code20 == 502 and code == 421 and b"4.7.0" in text, "%d, %d %r"
                % (code20, code, text))
        c.sock.close()

        # 4. An upstream without DSN (Postfix with "dsn" in smtpd_discard_ehlo_keywords):
        # no MTRK offered (it needs ENVID), a MAIL with MTRK= refused here, warned once.
        up4 = LongEhlo()
        up4.ehlo_lines, up4.dsn = 3, False
        proc4, port4 = start_front(exe, base, "front-nodsn", up4, source_root)
        procs.append(proc4)
        for attempt in range(2):
            c = Client(port4)
            c.reply()
            code, text = c.cmd(b"EHLO client.example\r\n")
            t.check("upstream without DSN (session %d): no MTRK, no DSN offered"
                    % (attempt + 1), code == 250 and b"MTRK" not in text
                    and b"DSN" not in text, "%d %r" % (code, text))
            before = len(up4.lines)
            code, text = c.cmd(b"MAIL FROM:<a@example.com> ENVID=e1 "
                               b"MTRK=rlvY7+pTIsTZmG0GaAp4E5L5pkI=\r\n")
            t.check("upstream without DSN: MAIL with MTRK= gets 555, nothing passed on",
                    code == 555 and len(up4.lines) == before, "%d %r" % (code, text))
            c.sock.close()
        log = wait_log(os.path.join(base, "front-nodsn.log"), "does not offer DSN")
        t.check("the missing DSN warned once", log.count("does not offer DSN") == 1,
                log[-800:])

        # 5. FRONT_MESSAGE_ID_MAX (998): a tracked message without XFORWARD IDENT upstream
        # gets a pending registration by Message-ID (written before its data goes
        # upstream, removed after Postfix's 250) when the field's value (after the colon,
        # its space included) has 998 octets; with 999, none.
        up5 = PostfixLike(dot_delay=1.5, unique_qids=True)
        proc5, port5 = start_front(exe, base, "front-mid", up5, source_root)
        procs.append(proc5)
        regs5 = os.path.join(base, "front-mid", "postfix-registrations")
        for n, made in ((998, True), (999, False)):
            c = Client(port5)
            c.reply()
            c.cmd(b"EHLO client.example\r\n")
            c.cmd(b"MAIL FROM:<a@example.com> ENVID=mid%d "
                  b"MTRK=rlvY7+pTIsTZmG0GaAp4E5L5pkI=\r\n" % n)
            c.cmd(b"RCPT TO:<b@example.com>\r\n")
            c.cmd(b"DATA\r\n")
            dots = up5.dots
            value = b" <" + b"m" * (n - 5) + b"@x>"
            c.sock.sendall(b"Message-ID:" + value + b"\r\nSubject: s\r\n\r\nbody\r\n.\r\n")
            # The "." reached the upstream, whose 250 is 1.5 s away: a pending
            # registration by Message-ID, if made, is on disk until then.
            settle("the dot upstream", lambda: up5.dots > dots, 10)
            pending = [f for f in os.listdir(regs5) if f.endswith(".pending")]
            code, _ = c.reply()
            t.check("a Message-ID value of %d octets: %s" % (
                n, "a pending registration made" if made else "no pending registration"),
                len(value) == n and code == 250 and bool(pending) == made,
                "value %d octets, reply %d, pending %r" % (len(value), code, pending))
            c.sock.close()
    finally:
        test_teardown(procs, base, t.failures > 0)
    print("1..%d" % t.count)
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
