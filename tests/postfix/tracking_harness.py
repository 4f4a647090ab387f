# SPDX-License-Identifier: GPL-3.0-or-later
"""tracking_harness.py: what the tests of msgtrk in front of Postfix share (tests/postfix).

Sink: a next hop that answers RCPT with a fixed reply (250, 4xx, 5xx) and DATA with 250.
register(): a registration as the submission front writes it (postfix-register.h).
submit(): one message over SMTP, returns Postfix's queue id. track(): one MTQP TRACK.
recipients(): a tracking-status answer per final recipient. Daemon: a started program.
configure_site(): the private Postfix of postfix_instance.py plus the three sinks, a
local(8) mailbox domain and an alias. LineClient: SMTP lines, any reply code
(pipelined groups, STARTTLS).
PrivateDovecot: a Dovecot auth service only, for Postfix's smtpd_sasl_type = dovecot;
configure_sasl(): Postfix relaying only for clients authenticated through it.
PrivateDovecotOAuth2: the same with passdb oauth2 checking HS256 JWTs locally (XOAUTH2,
OAUTHBEARER); jwt_hs256(), xoauth2_response(), oauthbearer_response() make what a client
sends.

Limits: WAIT seconds for anything awaited. Never: leave a process behind (Daemon.stop).
"""

import base64
import grp
import hashlib
import hmac
import json
import os
import pwd
import signal
import socket
import ssl
import subprocess
import threading
import sys
import time

import postfix_instance as pi

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import demonet  # noqa: E402

# The log helpers of every test: a server's line reaches its file after the event (wait).
read_log = demonet.read_log
wait_log = demonet.wait_log

SECRET_RAW = bytes(range(32))
SECRET = base64.b64encode(SECRET_RAW).decode()
AUTH = base64.b64encode(hashlib.sha1(SECRET_RAW).digest()).decode()
WAIT = 40.0
LIFETIME = 7200  # maximal_queue_lifetime = 2h


class Sink:
    """A next hop that answers RCPT with a fixed reply and DATA with @data_reply (on
    @host, any loopback address)."""

    def __init__(self, rcpt_reply, host="127.0.0.1",
                 data_reply="250 2.0.0 Ok: queued as SINK1"):
        self.reply = rcpt_reply
        self.data_reply = data_reply
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            try:
                c.settimeout(10)
                self.session(c.makefile("rwb"))
            except OSError:
                pass
            finally:
                c.close()

    def session(self, f):
        def say(t):
            f.write(t.encode() + b"\r\n")
            f.flush()
        say("220 sink.test.example ESMTP")
        while True:
            line = f.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                say("250-sink.test.example\r\n250 8BITMIME")
            elif verb == b"RCPT":
                say(self.reply)
            elif verb == b"DATA":
                say("354 go ahead")
                while f.readline(65536) not in (b".\r\n", b""):
                    pass
                say(self.data_reply)
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("250 2.0.0 ok")

    def close(self):
        self.stopping = True
        self.thread.join(3)
        self.sock.close()


def xtext(s):
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else "+%02X" % ord(c) for c in s)


def register(reg_dir, qid, envid, rcpts, arrival, ident=None):
    """What the submission front writes after Postfix's 250 (postfix-register.h); with
    @ident, its XFORWARD IDENT. @qid None: the pending registration of @ident, as the
    front writes it before the data (<ident>.pending)."""
    lines = ["MSGTRK-POSTFIX-REG 1"] + (["Queue-Id: " + qid] if qid else []) \
        + (["Ident: " + ident] if ident else []) \
        + ["Envid: " + xtext(envid), "Authenticator: " + AUTH, "Arrival: %d" % arrival,
           "Expires: %d" % (arrival + 86400)]
    for r in rcpts:
        lines.append("Rcpt: %s %s -" % (xtext(r), xtext(r)))
    name = qid + ".reg" if qid else ident + ".pending"
    tmp = os.path.join(reg_dir, ".tmp-" + name)
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, os.path.join(reg_dir, name))


def submit(port, envid, rcpts, subject):
    c = pi.SmtpClient(port)
    c.command("EHLO client.test.example", 250)
    c.command("MAIL FROM:<sender@test.example> ENVID=%s" % xtext(envid), 250)
    for r in rcpts:
        c.command("RCPT TO:<%s>" % r, 250)
    reply = c.data(("Message-Id: <%s>\r\nSubject: %s\r\n\r\nbody\r\n" % (envid, subject))
                   .encode())
    c.close()
    return reply.decode().strip().split("queued as ")[-1]


def track(port, envid, secret=SECRET):
    """One TRACK over MTQP; the answer's lines (unfolded), or None for -ERR."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(("TRACK %s %s\r\n" % (envid, secret)).encode())
        first = f.readline().decode()
        if not first.startswith("+OK+"):
            s.sendall(b"QUIT\r\n")
            return None
        lines = []
        while True:
            line = f.readline().decode().rstrip("\r\n")
            if line == ".":
                break
            if line.startswith(".."):
                line = line[1:]
            if line[:1] in (" ", "\t") and lines:
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        s.sendall(b"QUIT\r\n")
        return lines


def recipients(lines):
    """{final recipient: [{field: value}, ...]} from a tracking-status answer (its
    recipient blocks are separated by blank lines)."""
    out = {}
    block = {}
    for line in (lines or []) + [""]:
        if line.strip() == "":
            if "final-recipient" in block:
                final = block["final-recipient"].split(";", 1)[-1].strip().lower()
                out.setdefault(final, []).append(block)
            block = {}
            continue
        if ":" in line and line[:1] not in (" ", "\t"):
            k, v = line.split(":", 1)
            block[k.strip().lower()] = v.strip()
    return out


class Daemon:
    def __init__(self, args, log):
        self.args = args
        self.log = log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class Daemons(list):
    """The daemons a test started (a list of Daemon), each with its configuration file
    and log in base."""

    def __init__(self, base):
        super().__init__()
        self.base = base

    def start(self, exe, name, conf_text, port_file=None, verbose=True):
        """Write base/name.conf, start exe --config it [--verbose] [--port-file port_file]
        logging to base/name.log; with port_file, wait for it and return the port."""
        conf = os.path.join(self.base, name + ".conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        args = [exe, "--config", conf] + (["--verbose"] if verbose else [])
        if port_file:
            args += ["--port-file", port_file]
        d = Daemon(args, os.path.join(self.base, name + ".log"))
        d.start()
        self.append(d)
        if port_file:
            wait_for(name + "'s port", lambda: os.path.exists(port_file)
                     and open(port_file).read().endswith("\n"))
            return int(open(port_file).read())
        return None


def follower_conf(pf, state):
    """The [follower] of the follower tests: @pf's maillog and Postfix configuration, the
    state directory @state, as nobody, polling every 50 ms."""
    return ("[follower]\nmaillog=%s\nstate_dir=%s\nhostname=mx.test.example\n"
            "user=nobody\npostfix_config_directory=%s\npoll_interval=50\n"
            "registration_wait=10\n" % (pf.log, state, pf.conf))


def follower_daemon(exe, pf, state, verbose=True):
    """msgtrk-postfix-follower (@exe) with follower_conf(), its configuration and log in
    pf.base; its Daemon, not started yet."""
    conf = os.path.join(pf.base, "follower.conf")
    with open(conf, "w") as f:
        f.write(follower_conf(pf, state))
    return Daemon([exe, "--config", conf] + (["--verbose"] if verbose else []),
                  os.path.join(pf.base, "follower.log"))


def start_mtqpd(exe, base, state):
    """mtqpd (@exe) answering from @state on a free loopback port, as nobody, its
    configuration and log in @base; its Daemon and port once it listens."""
    conf = os.path.join(base, "mtqpd.conf")
    with open(conf, "w") as f:
        f.write("[mtqpd]\nhostname=mx.test.example\nstate_dir=%s\nuser=nobody\n"
                "listen=127.0.0.1:0\n" % state)
    port_file = os.path.join(base, "mtqpd.port")
    mtqpd = Daemon([exe, "--config", conf, "--port-file", port_file],
                   os.path.join(base, "mtqpd.log"))
    mtqpd.start()
    wait_for("mtqpd's port", lambda: os.path.exists(port_file)
             and open(port_file).read().endswith("\n"))
    return mtqpd, int(open(port_file).read())


def tap_tail(name, text, tail):
    """The last tail characters of text as TAP comments, headed by name."""
    print("# %s:\n# " % name + text[-tail:].replace("\n", "\n# "))


def stop_site(t, pf, sinks, daemons, dovecot=None):
    """The end of a test of a Postfix site (t: its Checker): after a failure, the tails of
    the maillog, of Dovecot's log and of each daemon's log as TAP comments; then the daemons,
    Postfix (before Dovecot), Dovecot and the sinks stopped."""
    if t.failures:
        tap_tail("maillog tail", pf.maillog(), 3000)
        if dovecot:
            tap_tail("dovecot log", dovecot.read_log(), 2000)
        for d in daemons:
            try:
                tap_tail(d.log, open(d.log).read(), 3000)
            except OSError:
                pass
    for d in daemons:
        d.stop()
    pf.stop()
    if dovecot:
        dovecot.stop()
    pf.cleanup()
    for s in sinks:
        s.close()


def site_state_dir(pf):
    """The servers' state directory in pf.base with its postfix-registrations directory,
    both owned by nobody (the user the servers run as); returns both paths."""
    nobody = pwd.getpwnam("nobody")
    state = os.path.join(pf.base, "msgtrk")
    regs = os.path.join(state, "postfix-registrations")
    os.makedirs(regs)
    for d in (state, regs):
        os.chown(d, nobody.pw_uid, nobody.pw_gid)
    return state, regs


def wait_for(what, pred, timeout=WAIT):
    return demonet.wait_for(what, pred, timeout, 0.2, pi.PostfixError)


def client_line(pf, qid):
    """Postfix's "QID: client=..." line (with sasl_method= and sasl_username= for an
    authenticated message), once its log has it; pi.PostfixError if it does not come."""
    wait_for("Postfix's client= line of %s" % qid,
             lambda: "%s: client=" % qid in read_log(pf.log))
    return [x for x in read_log(pf.log).splitlines() if "%s: client=" % qid in x][0]


def settle(what, pred, timeout=WAIT):
    """wait_for() for a state a t.check() then asserts: a timeout is not an error here (the
    check that follows reports what was seen); True when @pred held in time."""
    try:
        wait_for(what, pred, timeout)
        return True
    except pi.PostfixError:
        return False


def configure_site(pf):
    """Sinks (ok, tmp, perm), local.test.example via local(8), alias team; returns sinks."""
    pf.configure()
    ok, tmp, perm = Sink("250 2.1.5 ok"), Sink("451 4.3.0 try again later"), \
        Sink("550 5.1.1 no such user here")
    with open(os.path.join(pf.conf, "transport"), "a") as f:
        f.write("ok.test.example smtp:[127.0.0.1]:%d\n" % ok.port)
        f.write("tmp.test.example smtp:[127.0.0.1]:%d\n" % tmp.port)
        f.write("perm.test.example smtp:[127.0.0.1]:%d\n" % perm.port)
        f.write("local.test.example local:\n")
    main_cf = os.path.join(pf.conf, "main.cf")
    text = open(main_cf).read()
    text = text.replace("relay_domains = slow.test.example, legacy.test.example",
                        "relay_domains = slow.test.example, legacy.test.example, "
                        "ok.test.example, tmp.test.example, perm.test.example")
    text = text.replace("mydestination = \n", "mydestination = local.test.example\n")
    text = text.replace("alias_maps = \n", "alias_maps = texthash:%s/aliases\n" % pf.conf)
    text += ("mail_spool_directory = %s/spool\nlocal_recipient_maps =\n"
             "maximal_queue_lifetime = %ds\n" % (pf.base, LIFETIME))
    with open(main_cf, "w") as f:
        f.write(text)
    os.mkdir(os.path.join(pf.base, "spool"))
    os.chmod(os.path.join(pf.base, "spool"), 0o1777)
    with open(os.path.join(pf.conf, "aliases"), "w") as f:
        f.write("team alice@test.example, nobody@local.test.example\n")
    with open(os.path.join(pf.conf, "master.cf"), "a") as f:
        f.write("local unix - n n - - local\n")
    # The follower runs as nobody: it must read the log (created here, before Postfix).
    open(pf.log, "w").close()
    os.chmod(pf.log, 0o644)
    return [ok, tmp, perm]


class LineClient:
    """A line-level SMTP client that never raises on a reply code (for the front's tests)."""

    def __init__(self, port, source=None):
        """Connected to 127.0.0.1:@port, from the local address @source when given."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0) if source else None)
        self.port = self.sock.getsockname()[1]
        self.file = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.file.readline(4096)
            if not line:
                return 0, b"".join(lines).decode(errors="replace")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"".join(lines).decode(errors="replace")

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def pipelined(self, lines, n):
        """Send @lines in one write (RFC 2920), then read @n replies: [(code, text)]."""
        self.sock.sendall(b"".join(x.encode() + b"\r\n" for x in lines))
        return [self.reply() for _ in range(n)]

    def starttls(self, ca):
        """After a 220 to STARTTLS: TLS on the same socket, the server checked against @ca."""
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def data(self, body):
        code, text = self.cmd("DATA")
        if code != 354:
            return code, text
        self.sock.sendall(body + b".\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


DOVECOT = "/usr/sbin/dovecot"


def dovecot_skip_reason():
    """Why a private Dovecot auth service cannot run here, or None."""
    if not os.access(DOVECOT, os.X_OK):
        return "Dovecot is not installed (tools/deps.sh test installs dovecot-core)"
    import pwd
    try:
        pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
    except KeyError as e:
        return "a Dovecot system user is missing: %s" % e
    return None


class PrivateDovecot:
    """A Dovecot auth service only (no IMAP/POP), every file under @base: `dovecot -c
    CONF`; a passwd-file of @users ({user: password}); Postfix talks to it on the
    absolute unix socket self.socket (smtpd_sasl_type = dovecot). Never touches /etc/dovecot.
    """

    def __init__(self, base, users):
        self.base = os.path.join(base, "dovecot")
        os.mkdir(self.base, 0o755)
        self.conf = os.path.join(self.base, "dovecot.conf")
        self.socket = os.path.join(self.base, "auth")
        self.log = os.path.join(self.base, "dovecot.log")
        self.pid_file = os.path.join(self.base, "run", "master.pid")
        self.pid = None
        passwd = os.path.join(self.base, "users")
        with open(passwd, "w") as f:
            for u, p in users.items():
                f.write("%s:{PLAIN}%s\n" % (u, p))
        os.chmod(passwd, 0o644)
        with open(self.conf, "w") as f:
            f.write("""base_dir = {b}/run
state_dir = {b}/state
log_path = {b}/dovecot.log
instance_name = msgtrk-test-{port}
protocols =
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {sock} {{
    mode = 0666
  }}
}}
""".format(b=self.base, passwd=passwd, sock=self.socket, port=os.getpid()))

    def start(self):
        # The daemon inherits stdout/stderr: a file, not a pipe (run() would wait for EOF).
        out = os.path.join(self.base, "start.out")
        with open(out, "w") as f:
            r = subprocess.run([DOVECOT, "-c", self.conf], stdin=subprocess.DEVNULL, stdout=f,
                               stderr=subprocess.STDOUT, timeout=20)
        if r.returncode != 0:
            raise pi.PostfixError("dovecot failed (%d): %s" % (r.returncode,
                                                             open(out).read()))
        wait_for("Dovecot's auth socket", lambda: os.path.exists(self.socket)
                 and os.path.exists(self.pid_file))
        self.pid = int(open(self.pid_file).read().strip())

    def stop(self):
        """Stop the master by its PID (its children follow); never raises."""
        if self.pid is None:
            try:
                self.pid = int(open(self.pid_file).read().strip())
            except (OSError, ValueError):
                return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while pi._alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pi._alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def read_log(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""


def configure_sasl(pf, dovecot):
    """Postfix (configured, not started) authenticating through @dovecot (a PrivateDovecot)
    and, as docs/postfix-site.md's master.cf, taking mail and relaying only for
    authenticated clients; the front's loopback address is not in mynetworks and may use
    XCLIENT."""
    main_cf = os.path.join(pf.conf, "main.cf")
    text = open(main_cf).read()
    text = text.replace("mynetworks = 127.0.0.0/8", "mynetworks = 192.0.2.1/32")
    text = text.replace("smtpd_relay_restrictions = permit_mynetworks, reject",
                        "smtpd_relay_restrictions = permit_sasl_authenticated, reject")
    text += ("smtpd_client_restrictions = permit_sasl_authenticated, reject\n"
             "smtpd_authorized_xclient_hosts = 127.0.0.0/8\n"
             "smtpd_sasl_auth_enable = yes\n"
             "smtpd_sasl_type = dovecot\n"
             "smtpd_sasl_path = %s\n" % dovecot.socket)
    with open(main_cf, "w") as f:
        f.write(text)


def jwt_hs256(key, claims, kid=None):
    """A JWT (RFC 7519) of the dict @claims signed HS256 (RFC 7515) with the octets @key:
    base64url header . base64url claims . base64url HMAC-SHA-256, no padding."""
    def b64url(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    header = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signed = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
              + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    return signed + "." + b64url(hmac.new(key, signed.encode(), hashlib.sha256).digest())


def xoauth2_response(user, token):
    """The base64 XOAUTH2 client response (Google's SASL XOAUTH2): user=, auth=Bearer."""
    return base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (user, token))
                            .encode()).decode()


def oauthbearer_response(user, token):
    """The base64 OAUTHBEARER client response (RFC 7628 section 3.1): a GS2 header with
    the authorization identity, then auth=Bearer."""
    return base64.b64encode(("n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, token))
                            .encode()).decode()


class PrivateDovecotOAuth2(PrivateDovecot):
    """PrivateDovecot with mechanisms XOAUTH2 and OAUTHBEARER and passdb oauth2 validating
    tokens locally (Dovecot >= 2.3.11: introspection_mode = local): a JWT signed HS256 with
    @key (octets), no "azp" and no "kid" (Dovecot's defaults), is looked up in a file dict at
    shared/default/HS256/default (base64 of the key); the user is the token's "sub" and must
    be the one the client names. No HTTP and no provider: nothing leaves the machine."""

    def __init__(self, base, key):
        super().__init__(base, {})
        keys = os.path.join(self.base, "oauth2-keys.dict")
        with open(keys, "w") as f:
            f.write("shared/default/HS256/default\n%s\n" % base64.b64encode(key).decode())
        # Read by the auth process (user dovecot): its group only.
        os.chown(keys, 0, grp.getgrnam("dovecot").gr_gid)
        os.chmod(keys, 0o640)
        oauth2 = os.path.join(self.base, "dovecot-oauth2.conf.ext")
        with open(oauth2, "w") as f:
            f.write("introspection_mode = local\n"
                    "local_validation_key_dict = file:%s\n"
                    "username_attribute = sub\n" % keys)
        text = open(self.conf).read()
        before = text
        text = text.replace("auth_mechanisms = plain login\n",
                            "auth_mechanisms = xoauth2 oauthbearer\n")
        start = text.index("passdb {")
        end = text.index("}", start) + 1
        text = (text[:start] + "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer"
                "\n  args = %s\n}" % oauth2 + text[end:])
        # No auth penalty (anvil's delay per address, 2 s doubling to 15 s): every client
        # comes from 127.0.0.1 here, and a test sends refused tokens on purpose.
        text += "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
        if text == before or "xoauth2 oauthbearer\n" not in text:
            raise pi.PostfixError("PrivateDovecot's configuration changed: update "
                                  "PrivateDovecotOAuth2")
        with open(self.conf, "w") as f:
            f.write(text)
