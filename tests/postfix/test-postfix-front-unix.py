#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-front-unix.py: the front's upstream on a unix socket, and Postfix restarts.

  test-postfix-front-unix.py --build-dir BUILD

What: docs/postfix-site.md, "The upstream on a unix socket instead", run as written: its
master.cf block, read from the page, appended to a private Postfix
(tracking_harness.configure_site(), with a private Dovecot for the block's SASL lines);
a front with the page's `upstream=unix:...` (the queue directory the private one), started
as the page's systemd drop-in starts it: as nobody with the supplementary group postdrop
and CAP_NET_BIND_SERVICE as an ambient capability (setpriv), never root, on a port below
1024 with a TLS key readable by its group. Checks: `postfix check` and `postfix start`
take the block; a client (from 127.0.0.2) does STARTTLS, authenticates and sends a
tracked message (MTRK, ENVID) through the front: 250 with a queue id, the registration
written (bound by the real follower), and Postfix logs the client's address 127.0.0.2
(XCLIENT admitted over the unix socket by smtpd_authorized_xclient_hosts=127.0.0.1; the
name stays localhost: the front sends no NAME=); a front whose socket is in private/, or
in public/ without the group (started as root, dropping to nobody), gives 421 and logs
"Permission denied". Then Postfix stopped and started while a unix front and a loopback
TCP front (both with warm connections, upstream_pool=2) run: while down every session
gets 421 and never a 250; right after `postfix start`, and after a stop and start with no
session in between (both pools full of connections to the old Postfix), every session
gets 250 and its message is registered (no dead warm connection handed to a client).
Limits: tracking_harness.WAIT. Skips (77) unless root with Postfix, dovecot-core and
setpriv (util-linux).
Never: touch /etc/postfix, /var/spool/postfix or /etc/dovecot; leave a process behind.
"""

import base64
import grp
import os
import pwd
import re
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402
from tracking_harness import (AUTH, Daemon, Daemons, LineClient, wait_log,  # noqa: E402
                              PrivateDovecot, configure_site, dovecot_skip_reason, settle,
                              site_state_dir, stop_site, wait_for)

USER = "alice@test.example"
PASSWORD = "Corr3ct-h0rse-battery"
CLIENT_ADDR = "127.0.0.2"  # not the front's 127.0.0.1: Postfix must log this one
DOC_QUEUE = "/var/spool/postfix"
SETPRIV = "/usr/bin/setpriv"
PRIVILEGED_PORTS = (600, 1000)  # where the front as nobody listens (CAP_NET_BIND_SERVICE)
SESSIONS_AFTER_START = 3  # more than upstream_pool (2): warm ones and direct ones


def doc_blocks():
    """docs/postfix-site.md's unix-socket instructions: (the master.cf lines, the
    front's settings, the systemd drop-in's settings), as the page writes them."""
    text = open(os.path.join(SOURCE_ROOT, "docs", "postfix-site.md")).read()
    section = text.split("### The upstream on a unix socket instead", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    master = [x for x in blocks if x.startswith("# master.cf")][0]
    front = [x for x in blocks if x.startswith("# msgtrk-submit-front.conf")][0]
    unit = [x for x in blocks if x.startswith("# systemctl edit msgtrk-submit-front")][0]
    master = [x for x in master.splitlines() if not x.startswith("#")]

    def settings(block):
        return dict(x.split("=", 1) for x in block.splitlines() if "=" in x and x[0] != "#")
    return master, settings(front), settings(unit)


def setpriv_reason():
    return None if os.access(SETPRIV, os.X_OK) else "setpriv (util-linux) is missing"


def client(port):
    """A LineClient connected from CLIENT_ADDR."""
    c = LineClient.__new__(LineClient)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                      source_address=(CLIENT_ADDR, 0))
    c.file = c.sock.makefile("rb")
    return c


def b64(s):
    return base64.b64encode(s.encode()).decode()


def send(port, envid, auth, ca=None):
    """One session sending a tracked message to alice (with @ca: in STARTTLS, the front
    checked against it; with @auth: after AUTH PLAIN): the codes seen in order (the
    greeting's first; 0 when the front closed the connection) and the queue id of a 250
    to the data (or None)."""
    codes = []
    qid = None
    try:
        c = client(port)
    except OSError as e:
        return ["connect: %s" % e], None
    try:
        code, text = c.reply()
        codes.append(code)
        if code != 220:
            return codes, None
        steps = ["EHLO client.test.example"]
        if ca:
            for s in steps + ["STARTTLS"]:
                code, text = c.cmd(s)
                codes.append(code)
                if code // 100 != 2:  # e.g. 421 to EHLO: the front closes, nothing more
                    return codes, None
            c.starttls(ca)
        if auth:
            steps.append("AUTH PLAIN " + b64("\0%s\0%s" % (USER, PASSWORD)))
        steps += ["MAIL FROM:<%s> ENVID=%s MTRK=%s" % (USER, envid, AUTH),
                  "RCPT TO:<alice@test.example>"]
        for s in steps:
            code, text = c.cmd(s)
            codes.append(code)
            if code // 100 not in (2, 3):
                return codes, None
        code, text = c.data(b"Subject: %s\r\n\r\nhi\r\n" % envid.encode())
        codes.append(code)
        if code == 250 and "queued as " in text:
            qid = text.strip().split("queued as ")[-1]
        c.cmd("QUIT")
    except OSError as e:
        codes.append("error: %s" % e)
    finally:
        c.close()
    return codes, qid


def privileged_port():
    """A port below 1024 free on 127.0.0.1 (bound and released here, as root)."""
    for port in range(PRIVILEGED_PORTS[0], PRIVILEGED_PORTS[1]):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise pi.PostfixError("no free port in %d..%d" % PRIVILEGED_PORTS)


def established(pid):
    """How many established sockets (TCP and unix) process @pid has: with no client
    session, its warm upstream connections."""
    out = subprocess.run(["ss", "-Hntxp", "state", "established"], capture_output=True,
                         text=True, timeout=30).stdout
    return sum(1 for x in out.splitlines() if "pid=%d," % pid in x)


def main():
    a = pi.test_args(dovecot_skip_reason, setpriv_reason)
    b = a.build_dir
    front_exe = os.path.join(b, "server", "postfix", "msgtrk-submit-front")
    follower_exe = os.path.join(b, "server", "postfix", "msgtrk-postfix-follower")
    pi.raise_on_terminate()
    started = time.monotonic()
    t = pi.Checker()
    pf = pi.PrivatePostfix()
    dc = None
    sinks = []
    daemons = Daemons(pf.base)
    try:
        master, front_doc, unit = doc_blocks()
        sinks = configure_site(pf)
        dc = PrivateDovecot(pf.base, {USER: PASSWORD})
        dc.start()
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            # The SASL backend of the block's smtpd_sasl_auth_enable=yes; the loopback
            # TCP smtpd (the second front's) admits the front's XCLIENT too.
            f.write("smtpd_sasl_type = dovecot\nsmtpd_sasl_path = %s\n"
                    "smtpd_authorized_xclient_hosts = 127.0.0.1\n" % dc.socket)
        with open(os.path.join(pf.conf, "master.cf"), "a") as f:
            f.write("\n".join(master) + "\n")
        r = pf.postfix("check")
        t.check("postfix check takes the page's master.cf block", r.returncode == 0
                and b"warning" not in r.stdout, r.stdout.decode(errors="replace"))
        try:
            pf.start()
            t.check("postfix start takes it", True)
        except pi.PostfixError as e:
            t.check("postfix start takes it", False, str(e))
            raise
        upstream = front_doc["upstream"].replace(DOC_QUEUE, pf.queue)
        sock = upstream[len("unix:"):]
        t.check("Postfix made the socket the page names (%s)" % sock,
                settle("the socket", lambda: os.path.exists(sock), 10), sock)
        state, regs = site_state_dir(pf)

        def front(name, up, as_unit=False, listen_port=0, tls=""):
            """A front started as root dropping to nobody (the default unit), or with
            as_unit as the page's drop-in starts it (its User, Group, SupplementaryGroups
            and AmbientCapabilities, by setpriv), with the settings @tls."""
            conf = ("[front]\nlisten=127.0.0.1:%d\nhostname=submit.test.example\n"
                    "upstream=%s\nstate_dir=%s\nuser=nobody\nupstream_pool=2\n%s"
                    % (listen_port, up, state, tls))
            if not as_unit:
                return daemons.start(front_exe, name, conf,
                                     os.path.join(pf.base, name + ".port"))
            with open(os.path.join(pf.base, name + ".conf"), "w") as f:
                f.write(conf)
            port_file = os.path.join(state, name + ".port")  # nobody's directory
            cap = "+" + unit["AmbientCapabilities"].lower().replace("cap_", "")
            d = Daemon([SETPRIV, "--reuid=nobody", "--regid=nogroup",
                        "--groups=" + unit["SupplementaryGroups"], "--inh-caps=" + cap,
                        "--ambient-caps=" + cap, front_exe, "--config",
                        os.path.join(pf.base, name + ".conf"), "--verbose", "--port-file",
                        port_file], os.path.join(pf.base, name + ".log"))
            d.start()
            daemons.append(d)
            wait_for(name + "'s port", lambda: os.path.exists(port_file)
                     and open(port_file).read().endswith("\n"))
            return int(open(port_file).read())

        t.equal("the page's drop-in: User, SupplementaryGroups, AmbientCapabilities",
                (unit.get("User"), unit.get("SupplementaryGroups"),
                 unit.get("AmbientCapabilities")),
                ("msgtrk", "postdrop", "CAP_NET_BIND_SERVICE"))
        # The page's TLS key for the front's user: group-readable, its group the user's.
        pki = os.path.join(pf.base, "pki")
        subprocess.run(["sh", os.path.join(SOURCE_ROOT, "tests", "make-test-ca.sh"), pki],
                       check=True, timeout=60)
        os.chmod(pki, 0o755)
        os.chmod(os.path.join(pki, "server.pem"), 0o644)
        os.chown(os.path.join(pki, "server.key"), 0, grp.getgrnam("nogroup").gr_gid)
        os.chmod(os.path.join(pki, "server.key"), 0o640)
        ca = os.path.join(pki, "ca.pem")
        uport = front("front-unix", upstream, as_unit=True, listen_port=privileged_port(),
                      tls="tls_certificate=%s/server.pem\ntls_key=%s/server.key\n"
                      % (pki, pki))
        t.check("the front as nobody listens on port %d (< 1024)" % uport, uport < 1024)
        status = open("/proc/%d/status" % daemons[-1].proc.pid).read()
        ids = {k: v.split() for k, v in re.findall(r"^(Uid|Gid|Groups):\s*(.*)$", status, re.M)}
        t.check("... as nobody, with the group postdrop, never root",
                ids.get("Uid", [""])[0] == str(pwd.getpwnam("nobody").pw_uid)
                and str(grp.getgrnam("postdrop").gr_gid) in ids.get("Groups", [])
                and "0" not in ids.get("Uid", []) + ids.get("Gid", []), repr(ids))
        tport = front("front-tcp", "127.0.0.1:%d" % pf.port)
        daemons.start(follower_exe, "follower",
                      "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\n"
                      "user=nobody\npostfix_config_directory=%s\npoll_interval=50\n"
                      % (pf.log, state, pf.conf))

        def registered(qid):
            return settle("the registration of " + qid,
                          lambda: os.path.exists(os.path.join(regs, qid + ".reg")), 10)

        # 1. A tracked message through the unix socket, as the page sets it up.
        codes, qid = send(uport, "unix1@test.example", auth=True, ca=ca)
        t.check("unix upstream: STARTTLS, AUTH, MAIL with MTRK, RCPT, DATA: 250 with a "
                "queue id", qid is not None
                and codes == [220, 250, 220, 250, 235, 250, 250, 250], repr(codes))
        if qid:
            t.check("unix upstream: the registration of %s written" % qid, registered(qid))
            rt = open(os.path.join(regs, qid + ".reg")).read() if registered(qid) else ""
            t.check("... with its ENVID", "Envid: unix1@test.example" in rt, rt)
            settle("smtpd's client line", lambda: (qid + ": client=") in open(pf.log).read())
            lines = [x for x in open(pf.log).read().splitlines() if qid + ": client=" in x]
            # The address is the client's; the name stays the one Postfix gave the
            # socket's peer, "localhost" (the front sends no NAME=).
            t.check("Postfix logs the real client's address (XCLIENT over the unix socket "
                    "admitted)", len(lines) == 1 and "postfix/submission/smtpd" in lines[0]
                    and re.search(r"client=[^ ,]*\[%s\]" % re.escape(CLIENT_ADDR), lines[0]),
                    repr(lines))
        t.check("the front: \"XCLIENT accepted\" over the unix socket",
                "XCLIENT accepted" in wait_log(os.path.join(pf.base, "front-unix.log"),
                                               "XCLIENT accepted"))

        # 2. Closed to the front: private/ (even with postdrop), public/ without postdrop
        #    (the front started as root keeps only nobody's own group).
        for fname, path, as_unit in (
                ("front-private", os.path.join(pf.queue, "private", "rewrite"), True),
                ("front-public-root", sock, False)):
            port = front(fname, "unix:" + path, as_unit)
            codes, qid = send(port, "denied@test.example", auth=True)
            log = wait_log(os.path.join(pf.base, fname + ".log"), "Permission denied")
            t.check("%s: 421 to the client, \"Permission denied\" logged" % fname,
                    codes == [421] and "Permission denied" in log, repr(codes) + log[-500:])

        fronts = (("unix", uport, True, ca), ("tcp", tport, False, None))

        def down(label):
            for name, port, auth, tls_ca in fronts:
                for i in range(2):
                    codes, qid = send(port, "down-%s-%d@test.example" % (name, i), auth,
                                      tls_ca)
                    t.check("Postfix down (%s), %s front, session %d: 421, no 250"
                            % (label, name, i), 421 in codes and qid is None
                            and codes[-1] == 421, repr(codes))

        def up(label, tag):
            for name, port, auth, tls_ca in fronts:
                for i in range(SESSIONS_AFTER_START):
                    codes, qid = send(port, "%s-%s-%d@test.example" % (tag, name, i), auth,
                                      tls_ca)
                    t.check("%s, %s front, session %d: 250 with a queue id"
                            % (label, name, i), qid is not None, repr(codes))
                    if qid:
                        t.check("... and registered (%s)" % qid, registered(qid))

        # 3. Postfix stopped under running fronts, sessions while down, started again.
        pf.stop()
        down("stopped")
        pf.start()
        up("right after postfix start", "up1")
        # 4. Stopped and started with no session in between: the warm connections made
        #    before the stop are dead (Postfix's smtpd processes are gone).
        for (name, port, auth, tls_ca), d in zip(fronts, daemons[:2]):
            t.check("%s front: its 2 warm connections open before the stop" % name,
                    settle("the pool", lambda: established(d.proc.pid) == 2, 10),
                    "%d" % established(d.proc.pid))
        pf.stop()
        pf.start()
        up("after a stop and start with no session between", "up2")

        for d in daemons:
            t.equal("%s exits 0 on SIGTERM" % os.path.basename(d.log), d.stop(), 0)
    except (pi.PostfixError, OSError, subprocess.SubprocessError, IndexError) as e:
        t.check("no exception", False, repr(e))
    finally:
        stop_site(t, pf, sinks, daemons, dc)
    return t.done(started)


if __name__ == "__main__":
    sys.exit(main())
