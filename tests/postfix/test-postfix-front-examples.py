#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-examples.py: the shipped msgtrk-submit-front example configurations
(data/config/) load and do what their comments say.

What: each example is started as an admin would copy it, only its paths and addresses
replaced (listen on a free loopback port, the scripted upstream, a temporary state
directory, the test PKI's keys, user=nobody instead of the msgtrk account), once as
written and once with every commented-out line taken in (they are documented as the
defaults, so they must load too). Then:
  1. msgtrk-submit-front.conf (587): STARTTLS and MTRK offered, AUTH not before TLS
     (tls_auth_only), MAIL before STARTTLS 530 (tls_security_level=encrypt); after
     STARTTLS AUTH offered and a tracked MAIL passed on without its MTRK=;
  2. msgtrk-submit-front-submissions.conf (465, for msgtrk-submit-front@.service): TLS
     from the first octet (the certificate checked against the test CA), AUTH and MTRK
     offered, no STARTTLS;
  3. every key of the front's table (postfix-front.c) has a line in
     msgtrk-submit-front.conf and an entry in msgtrk-submit-front(8).
Skips (77) when the front is not built. Needs to bind loopback ports only.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_instance as pi  # noqa: E402
from scripted_front import (Client, PostfixLike, start_front_conf, test_setup,  # noqa: E402
                            test_teardown)
import tracking_harness as th  # noqa: E402


def adapt(text, settings, uncomment):
    """@text with each key of @settings set to its value (the example's line for it, set
    or commented out, replaced; a key the example lacks is an error) and, with
    @uncomment, every other commented-out "key=value" line taken in."""
    out = []
    seen = set()
    for line in text.splitlines():
        m = re.match(r"^#?([a-z_]+)=(.*)$", line)
        if m and m.group(1) in settings:
            line = "%s=%s" % (m.group(1), settings[m.group(1)])
            seen.add(m.group(1))
        elif m and uncomment and line.startswith("#"):
            line = line[1:]
        out.append(line)
    missing = set(settings) - seen
    if missing:
        raise RuntimeError("the example has no line for %s" % ", ".join(sorted(missing)))
    return "\n".join(out) + "\n"


def ehlo_keywords(reply):
    return [x[4:].split()[0].upper() for x in reply.decode().splitlines()[1:] if len(x) > 4]


def main():
    setup = test_setup("msgtrk-front-examples-")
    if setup is None:
        return 77
    exe, source_root, base = setup
    t = pi.Checker()
    started = time.monotonic()
    pki = os.path.join(base, "pki")
    subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"), pki],
                   check=True)
    ca = os.path.join(pki, "ca.pem")
    up = PostfixLike()
    procs = []
    # Every key the front takes (its table in postfix-front.c) has a line in the main
    # example, set or commented out with its default, and an entry in the man page.
    code = open(os.path.join(source_root, "server", "postfix", "postfix-front.c")).read()
    table = re.search(r"known\[\] = \{(.*?)NULL", code, re.S)
    keys = re.findall(r'"([a-z_0-9]+)"', table.group(1)) if table else []
    example = open(os.path.join(source_root, "data", "config",
                                "msgtrk-submit-front.conf")).read()
    man = open(os.path.join(source_root, "data", "man", "msgtrk-submit-front.8")).read()
    t.check("the front's key table found (%d keys)" % len(keys), len(keys) > 20)
    t.equal("every key has a line in msgtrk-submit-front.conf",
            [k for k in keys if not re.search(r"^#?%s=" % k, example, re.M)], [])
    t.equal("every key is in msgtrk-submit-front(8)",
            [k for k in keys if not re.search(r"^\.B[RI]? .*\b%s\b" % k, man, re.M)], [])
    try:
        for example in ("msgtrk-submit-front.conf", "msgtrk-submit-front-submissions.conf"):
            text = open(os.path.join(source_root, "data", "config", example)).read()
            for uncomment in (False, True):
                name = "%s-%s" % (example[:-5], "defaults" if uncomment else "as-shipped")
                state = os.path.join(base, name)
                os.makedirs(os.path.join(state, "postfix-registrations"))
                user = "msgtrk"
                if os.geteuid() == 0:
                    user = "nobody"
                    for d in (state, os.path.join(state, "postfix-registrations")):
                        shutil.chown(d, "nobody", "nogroup")
                settings = {"listen": "127.0.0.1:0", "upstream": "127.0.0.1:%d" % up.port,
                            "state_dir": state, "tls_certificate": pki + "/server.pem",
                            "tls_key": pki + "/server.key", "user": user}
                if uncomment and "#registration_dir=" in text:
                    settings["registration_dir"] = os.path.join(state, "postfix-registrations")
                try:
                    proc, port = start_front_conf(exe, base, name, adapt(text, settings,
                                                                         uncomment))
                except RuntimeError as e:
                    t.check("%s starts" % name, False, str(e))
                    continue
                procs.append(proc)
                t.check("%s starts" % name, True)
                if "implicit_tls=true" in text:
                    ctx = ssl.create_default_context(cafile=ca)
                    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                                                    timeout=10),
                                           server_hostname="localhost")
                    c = Client.__new__(Client)
                    c.sock, c.file = sock, sock.makefile("rb")
                    code, _ = c.reply()
                    _, ehlo = c.cmd(b"EHLO client.example\r\n")
                    kws = ehlo_keywords(ehlo)
                    t.check("%s: implicit TLS, 220, AUTH and MTRK offered, no STARTTLS" % name,
                            code == 220 and "AUTH" in kws and "MTRK" in kws
                            and "STARTTLS" not in kws, ehlo.decode())
                else:
                    c = Client(port)
                    c.reply()
                    _, ehlo = c.cmd(b"EHLO client.example\r\n")
                    kws = ehlo_keywords(ehlo)
                    t.check("%s: STARTTLS and MTRK offered, AUTH not before TLS" % name,
                            "STARTTLS" in kws and "MTRK" in kws and "AUTH" not in kws,
                            ehlo.decode())
                    code, _ = c.cmd(b"MAIL FROM:<a@example.com>\r\n")
                    t.equal("%s: MAIL before STARTTLS refused (encrypt)" % name, code, 530)
                    t.equal("%s: STARTTLS" % name, c.starttls(ca), 220)
                    _, ehlo = c.cmd(b"EHLO client.example\r\n")
                    t.check("%s: AUTH offered in TLS" % name, "AUTH" in ehlo_keywords(ehlo),
                            ehlo.decode())
                before = len(up.lines)
                code, _ = c.cmd(b"MAIL FROM:<a@example.com> ENVID=ex1 MTRK=%s\r\n"
                                % th.AUTH.encode())
                mails = [x for x in up.lines[before:] if x.startswith(b"MAIL")]
                t.check("%s: tracked MAIL passed on without MTRK=" % name,
                        code == 250 and mails == [b"MAIL FROM:<a@example.com> ENVID=ex1\r\n"],
                        "%d %r" % (code, mails))
                c.cmd(b"QUIT\r\n")
                c.sock.close()
    finally:
        test_teardown(procs, base, t.failures)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
