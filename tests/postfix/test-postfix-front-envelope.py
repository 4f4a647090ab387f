#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-envelope.py: the envelope of a tracked message through
msgtrk-submit-front, against a real private Postfix (review 9 of issue 11).

  test-postfix-front-envelope.py --build-dir BUILD

What: the front (xclient=true) before a PrivatePostfix; each check fails on f3f6683.
Checks:
  1. RCPT forms Postfix takes with strict_rfc821_envelopes=no (its default): no angle
     brackets ("RCPT TO:alice@x"), a space after the colon (with or without brackets),
     parameters after a bare address (NOTIFY=, ORCPT=), the verb in lower case: the
     message is accepted (250, one copy) and every recipient registered (with its
     ORCPT); one bracketed and one bare recipient: both registered;
  2. MAIL FROM without brackets (or with a space after the colon) and MTRK=: tracked,
     MTRK= never passed to Postfix (it answered "555 Unsupported option: MTRK=...");
  3. a path the front cannot read with certainty (text after the closing bracket, a
     comment, an unclosed bracket, a quoted local part without brackets) in a tracked
     transaction: 501 5.1.3 (RCPT) / 501 5.1.7 (MAIL) from the front, nothing of it
     passed on, the transaction goes on (RCPT) and its message is accepted with the
     recipients that were; the same MAIL without MTRK is Postfix's to judge (passed on);
  4. the registration's size (POSTFIX_REGISTRATION_MAX_SIZE, less the most its other lines
     take: RCPT_BUDGET octets of "Rcpt:" lines) is counted as recipients are accepted: the
     RCPT that would pass it gets 452 4.5.3 from the front and is not passed on (one octet
     past), one that fills it exactly is accepted, and the message is queued (250) and
     registered with every recipient accepted (it got 451 after Postfix had queued it: a
     copy per retry); the same with every RCPT pipelined in one write;
  5. the pending registration cannot be written (its directory not writable by the front;
     a second front's state_dir on a full 6 MB tmpfs): the client hears 451 4.3.0 with
     the reason, nothing of the message reaches Postfix (its cleanup never logs the
     Message-ID: it was queued and then 451, a copy per retry), the front's log says what
     to check; once writable again the retry is accepted;
  6. an ENVID that is present but invalid (101 characters, bad xtext) with MTRK: 501 with
     the reason ("Bad ENVID parameter"), not "MTRK requires ENVID".
Skips (77) unless root with Postfix installed; check 5's tmpfs needs mount(8).
Never: touch /etc/postfix or /var/spool/postfix; leave a process behind.
"""

import glob
import os
import pwd
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
import tracking_harness as th  # noqa: E402

AUTH = th.AUTH
# POSTFIX_REGISTRATION_MAX_SIZE - POSTFIX_REGISTRATION_HEAD_MAX (postfix-register.h).
RCPT_BUDGET = 256 * 1024 - 8192


def rcpt_line_size(address, orcpt):
    """The octets of a registration's "Rcpt:" line (postfix_registration_format) for
    @address and @orcpt ("type;addr" or None), both without octets xtext encodes."""
    return len("Rcpt: %s %s %s\n" % (address, address, orcpt or "-"))


def body(subject):
    return (b"Message-ID: <%s@test.example>\r\nSubject: %s\r\n\r\nhello\r\n"
            % (subject.encode(), subject.encode()))


def registration(regs, envid):
    """The Rcpt lines of the registration (pending or with its queue id) of @envid, or
    None when there is none."""
    for p in glob.glob(os.path.join(regs, "*")):
        if not os.path.isfile(p):
            continue
        text = open(p, "rb").read().decode(errors="replace")
        if ("\nEnvid: %s\n" % envid) in text:
            return [x[len("Rcpt: "):] for x in text.splitlines() if x.startswith("Rcpt: ")]
    return None


def tracked(fport, envid, mid):
    """A tracked message with Message-ID <@mid@test.example> to alice: (code, text) of
    the end of its data."""
    c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s" % (envid, AUTH))
    c.cmd("RCPT TO:<alice@test.example>")
    code, text = c.data(body(mid))
    c.close()
    return code, text


def session(fport, mail):
    c = th.LineClient(fport)
    c.reply()
    c.cmd("EHLO client.example")
    return c, c.cmd(mail)


def main():
    a = pi.test_args()
    pi.raise_on_terminate()
    exe = os.path.join(a.build_dir, "server", "postfix", "msgtrk-submit-front")
    if not os.path.exists(exe):
        print("1..0 # SKIP msgtrk-submit-front not built")
        return 77
    t = pi.Checker()
    started = time.monotonic()
    pf = pi.PrivatePostfix()
    daemons = th.Daemons(pf.base)
    failed = True
    try:
        pf.configure()
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
        pf.start()
        state, regs = th.site_state_dir(pf)
        fport = daemons.start(exe, "front",
                              "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                              "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                              "peername_lookup=false\n" % (pf.port, state),
                              os.path.join(pf.base, "front.port"))

        # 1. RCPT forms Postfix takes.
        forms = [
            ("RCPT TO:alice@test.example", "alice@test.example alice@test.example -"),
            ("RCPT TO: alice@test.example", "alice@test.example alice@test.example -"),
            ("RCPT TO: <alice@test.example>", "alice@test.example alice@test.example -"),
            ("RCPT TO:alice@test.example NOTIFY=SUCCESS,FAILURE",
             "alice@test.example alice@test.example -"),
            ("rcpt to:alice@test.example ORCPT=rfc822;orig@test.example",
             "alice@test.example alice@test.example rfc822;orig@test.example"),
        ]
        for n, (form, want) in enumerate(forms):
            envid = "form%d" % n
            c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s"
                           % (envid, AUTH))
            r = c.cmd(form)
            code, text = c.data(body(envid))
            c.cmd("QUIT")
            c.close()
            got = registration(regs, envid)
            t.check("%r: accepted (250) and registered" % form,
                    m[0] == 250 and r[0] == 250 and code == 250 and got == [want],
                    "MAIL %d, RCPT %d, end of data %d %r; registration %r"
                    % (m[0], r[0], code, text.strip(), got))
        c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=mixed MTRK=%s" % AUTH)
        r1 = c.cmd("RCPT TO:<alice@test.example>")
        r2 = c.cmd("RCPT TO:sender@test.example")
        code, text = c.data(body("mixed"))
        c.cmd("QUIT")
        c.close()
        got = registration(regs, "mixed")
        t.check("a bracketed and a bare recipient: both registered",
                code == 250 and got is not None and len(got) == 2
                and got[1].startswith("sender@test.example "),
                "RCPT %d %d, end of data %d; registration %r" % (r1[0], r2[0], code, got))

        # 2. MAIL FROM without brackets, with MTRK=.
        for n, mail in enumerate(("MAIL FROM:sender@test.example ENVID=bare%d MTRK=%s",
                                  "MAIL FROM: sender@test.example ENVID=bare%d MTRK=%s",
                                  "mail from: <sender@test.example> ENVID=bare%d MTRK=%s")):
            envid = "bare%d" % n
            c, m = session(fport, mail % (n, AUTH))
            r = c.cmd("RCPT TO:<alice@test.example>")
            code, text = c.data(body(envid))
            c.cmd("QUIT")
            c.close()
            got = registration(regs, envid)
            t.check("%r: tracked, MTRK= not passed to Postfix" % (mail % (n, "...")),
                    m[0] == 250 and "MTRK" not in m[1] and code == 250 and got is not None,
                    "MAIL %d %r, end of data %d; registration %r"
                    % (m[0], m[1].strip(), code, got))

        # 3. What the front cannot read with certainty: refused here, never passed on.
        before = len(open(pf.log, errors="replace").read())
        c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=odd MTRK=%s" % AUTH)
        odd = ["RCPT TO:<alice@test.example>junk", "RCPT TO:alice@test.example(comment)",
               "RCPT TO:<alice@test.example", 'RCPT TO:"odd one"@test.example',
               "RCPT TO:@relay.example:alice@test.example"]
        for form in odd:
            r = c.cmd(form)
            t.check("%r in a tracked transaction: 501 5.1.3 from the front" % form,
                    r[0] == 501 and "5.1.3" in r[1], "got %d %r" % (r[0], r[1].strip()))
        r = c.cmd("RCPT TO:<sender@test.example>")
        code, text = c.data(body("odd"))
        c.cmd("QUIT")
        c.close()
        got = registration(regs, "odd")
        t.check("after those, the transaction goes on: accepted with the recipient given",
                r[0] == 250 and code == 250 and got is not None and len(got) == 1,
                "RCPT %d, end of data %d, registration %r" % (r[0], code, got))
        qid = text.split("queued as ")[-1].strip() if "queued as " in text else "?"
        th.settle("the queue line", lambda: "%s: from=" % qid in open(pf.log).read(), 10)
        queued = [x for x in open(pf.log, errors="replace").read()[before:].splitlines()
                  if "%s: from=" % qid in x]
        t.check("none of them reached Postfix (its queue file has 1 recipient)",
                len(queued) == 1 and "nrcpt=1 " in queued[0], "%r" % queued)
        for mail in ("MAIL FROM:<sender@test.example>junk ENVID=oddm MTRK=%s",
                     "MAIL FROM:sender@test.example(x) ENVID=oddm MTRK=%s",
                     'MAIL FROM:"odd one"@test.example ENVID=oddm MTRK=%s'):
            c, m = session(fport, mail % AUTH)
            r = c.cmd("RCPT TO:<alice@test.example>")
            c.cmd("QUIT")
            c.close()
            t.check("%r: 501 5.1.7 from the front, no transaction" % (mail % "..."),
                    m[0] == 501 and "5.1.7" in m[1] and "MTRK=" not in m[1] and r[0] == 503,
                    "MAIL %d %r, RCPT %d" % (m[0], m[1].strip(), r[0]))
        c, m = session(fport, "MAIL FROM:sender@test.example(x)")
        c.cmd("QUIT")
        c.close()
        t.check("the same MAIL without MTRK is Postfix's to judge (passed on: 250)",
                m[0] == 250, "got %d %r" % (m[0], m[1].strip()))

        # 4. The registration's size at RCPT time.
        c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=big MTRK=%s" % AUTH)
        lines, used = [], 0
        while True:
            local = "r%04d" % len(lines) + "x" * 200
            addr = "%s@test.example" % local
            size = rcpt_line_size(addr, "rfc822;" + addr)
            if used + 2 * size > RCPT_BUDGET:
                break
            lines.append("RCPT TO:<%s> ORCPT=rfc822;%s" % (addr, addr))
            used += size
        got = c.pipelined(lines, len(lines))
        # The last one fills the budget exactly (its ORCPT's length chosen for it).
        addr = "last%s@test.example" % ("y" * 200)
        base = rcpt_line_size(addr, "rfc822;")
        fill = RCPT_BUDGET - used - base
        over = c.cmd("RCPT TO:<%s> ORCPT=rfc822;%s" % (addr, "o" * (fill + 1)))
        exact = c.cmd("RCPT TO:<%s> ORCPT=rfc822;%s" % (addr, "o" * fill))
        more = c.cmd("RCPT TO:<a@test.example>")
        code, text = c.data(body("big"))
        c.cmd("QUIT")
        c.close()
        n = len(lines) + 1
        t.check("%d recipients under the registration's limit: 250 each" % len(lines),
                all(x[0] == 250 for x in got), "%r" % sorted(set(x[0] for x in got)))
        t.check("the RCPT one octet past the registration's limit: 452 4.5.3 here",
                over[0] == 452 and "4.5.3" in over[1], "got %d %r" % (over[0], over[1]))
        t.check("the RCPT that fills it exactly: 250", exact[0] == 250,
                "got %d %r" % (exact[0], exact[1]))
        t.check("one more after it: 452 4.5.3", more[0] == 452, "got %d %r" % more)
        got = registration(regs, "big")
        t.check("the message is queued (250) and registered with its %d recipients" % n,
                code == 250 and got is not None and len(got) == n,
                "end of data %d %r, registration of %s recipients"
                % (code, text.strip(), None if got is None else len(got)))
        # The same pipelined in one write (RFC 2920): the RCPTs in flight are counted.
        c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=bigp MTRK=%s" % AUTH)
        tail = ["RCPT TO:<%s> ORCPT=rfc822;%s" % (addr, "o" * (fill + 1)),
                "RCPT TO:<%s> ORCPT=rfc822;%s" % (addr, "o" * fill),
                "RCPT TO:<a@test.example>"]
        got = c.pipelined(lines + tail, len(lines) + len(tail))
        code, text = c.data(body("bigp"))
        c.cmd("QUIT")
        c.close()
        reg = registration(regs, "bigp")
        t.check("pipelined: 250 to each under the limit, 452 / 250 / 452 to the last three, "
                "queued and registered with %d recipients" % n,
                all(x[0] == 250 for x in got[:len(lines)])
                and [x[0] for x in got[len(lines):]] == [452, 250, 452]
                and code == 250 and reg is not None and len(reg) == n,
                "last three %r, end of data %d, registration of %s recipients"
                % ([x[0] for x in got[len(lines):]], code, None if reg is None else len(reg)))

        # 5. The pending registration cannot be written.
        os.chmod(regs, 0o555)
        code, text = tracked(fport, "ro", "ro-message")
        os.chmod(regs, 0o755)
        time.sleep(1)
        log = open(pf.log, errors="replace").read()
        t.check("registrations not writable: 451 4.3.0 with the reason, before the '.'",
                code == 451 and "4.3.0" in text and "registration" in text,
                "got %d %r" % (code, text.strip()))
        t.check("registrations not writable: nothing of the message reached Postfix",
                "ro-message@test.example" not in log, log[-400:])
        front_log = th.wait_log(os.path.join(pf.base, "front.log"),
                                "check the free space and the permissions of")
        t.check("the front's log says what to check",
                "check the free space and the permissions of" in front_log, front_log[-400:])
        code, text = tracked(fport, "ro", "ro-message")
        t.check("writable again: the retry is accepted", code == 250, "got %d %r" % (code, text))
        mnt = os.path.join(pf.base, "small")
        os.makedirs(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", mnt]).returncode:
            t.check("a 6 MB tmpfs mounted", False)
        else:
            try:
                nobody = pwd.getpwnam("nobody")
                sregs = os.path.join(mnt, "postfix-registrations")
                os.makedirs(sregs)
                for d in (mnt, sregs):
                    os.chown(d, nobody.pw_uid, nobody.pw_gid)
                f2 = daemons.start(exe, "front2",
                                   "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
                                   "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n"
                                   "peername_lookup=false\n" % (pf.port, mnt),
                                   os.path.join(pf.base, "front2.port"))
                subprocess.run(["dd", "if=/dev/zero", "of=%s/fill" % mnt, "bs=64k"],
                               stderr=subprocess.DEVNULL)
                codes = [tracked(f2, "full", "full-message") for _ in range(2)]
                time.sleep(1)
                log = open(pf.log, errors="replace").read()
                t.check("state_dir full: 451 4.3.0 each time, nothing reaches Postfix",
                        all(x[0] == 451 for x in codes)
                        and "full-message@test.example" not in log, "%r" % codes)
                os.unlink(os.path.join(mnt, "fill"))
                code, text = tracked(f2, "full", "full-message")
                t.check("space again: the retry is accepted", code == 250,
                        "got %d %r" % (code, text))
                t.equal("front2 exits 0 on SIGTERM", daemons[-1].stop(), 0)
            finally:
                subprocess.run(["umount", "-l", mnt])

        # 6. ENVID present but invalid.
        for envid, why in (("e" * 101, "101 characters"), ("a+2", "bad xtext"),
                           ("a+ZZb", "bad xtext"), ("a=b", "'=' in xtext")):
            c, m = session(fport, "MAIL FROM:<sender@test.example> ENVID=%s MTRK=%s"
                           % (envid, AUTH))
            c.close()
            t.check("ENVID with %s and MTRK: 501 Bad ENVID parameter" % why,
                    m[0] == 501 and "Bad ENVID parameter" in m[1], "got %d %r" % m)
        t.equal("the front exits 0 on SIGTERM", daemons[0].stop(), 0)
        text = "".join(open(d.log, errors="replace").read() for d in daemons)
        t.check("no sanitizer report in the fronts' logs", "Sanitizer" not in text
                and "runtime error" not in text)
        failed = t.failures > 0
    except pi.PostfixError as e:
        t.check("no error", False, str(e))
    finally:
        for d in daemons:
            d.stop()
        if failed or t.failures:
            for name in ("front.log",):
                p = os.path.join(pf.base, name)
                if os.path.exists(p):
                    th.tap_tail(name, open(p, errors="replace").read(), 3000)
        pf.stop()
        pf.cleanup()
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
