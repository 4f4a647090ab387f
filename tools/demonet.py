#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""demonet.py: a demo network of msgtrk reference servers on 127.0.0.1.

Used by the README demo (tools/demo.sh), the tracker tests and the tracker benchmark.

    submit.demo.test ──> relay.example.net ──> mx.example.net (Maildir)   alice@example.net
         │  (each hop: msgtrk-relay + mtqpd sharing one state_dir)
         ├── gone.example: permanent error 5.1.2                          bob@gone.example
         ├── slow.example: next hop down (connection refused)             carol@slow.example
         ├── legacy.example: next hop without MTRK/DSN (relayed 2.1.9)    dave@legacy.example
         ├── hidden.example: an "opaque" route (a firewall hides the rest)  erin@hidden.example
         └── demo.test: local Maildir (DSNs back to the sender)

Every server listens on port 0 (--port-file tells the port); the MTQP client reaches the
hop names through host overrides (like curl --resolve), so no DNS is involved. Each hop
listens on 127.0.0.1 unless MSGTRK_DEMO_ADDRESSES ("submit=ADDR,relay=ADDR,…", IPv4) gives
it another address of this machine: the map screenshot runs the demo that way in a private
network namespace (tests/viewer/test-viewer-map-demo.py). Secrets are
held in memory only and never printed.

The store: the files backend by default (each hop's state_dir, no database). With a
PostgreSQL socket directory (pg_dir, --pg-dir, or MSGTRK_DEMO_PG_DIR as tools/demo-pg.sh
sets it), every relay and mtqpd uses backend=postgresql instead: one database per hop (each
hop is its own tracking site, and a site keeps one record per ENVID), created here in that
cluster as role msgtrk (trust authentication on the unix socket).

Run as a program, it starts the network, sends one tracked message, tracks it until every
recipient has settled (or a deadline passes), prints the route, and cleans up.
"""

import argparse
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
PG_BIN = os.environ.get("MSGTRK_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_ENV = "MSGTRK_DEMO_PG_DIR"
PSQL_TIMEOUT = 60
# wait_log(): how long a log line may take to reach the file (as MT_FILE_WAIT_MS in
# tests/test-util.h), and how often the file is read meanwhile.
LOG_WAIT = 10.0
LOG_POLL = 0.02


def setup_gi(build_dir):
    """Import Msgtrk from the build tree. The dynamic loader reads LD_LIBRARY_PATH only at
    start-up, so a process without it re-executes itself once with it set. Also used by
    the tests that read the typelib without a demo network (tests/postfix)."""
    libdir = os.path.join(os.path.abspath(build_dir), "lib")
    if os.environ.get("MSGTRK_DEMONET_LIBDIR") != libdir:
        env = dict(os.environ, GI_TYPELIB_PATH=libdir, MSGTRK_DEMONET_LIBDIR=libdir,
                   LD_LIBRARY_PATH=libdir + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    import gi
    gi.require_version("Msgtrk", "1.0")
    from gi.repository import Msgtrk
    return Msgtrk


class DemoError(Exception):
    pass


def wait_for(what, predicate, timeout, interval=0.05, error=DemoError):
    """Poll predicate() until it returns a true value (returned); raise error (an exception
    class) after timeout s. Also the wait of the tests' harnesses (tests/relay)."""
    deadline = time.monotonic() + timeout
    while True:
        check_interrupted()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A TCP port of 127.0.0.1 free a moment ago: for a server to bind (it may be taken
    before then) or a next hop that is down (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port_file(name, proc, port_file, log, timeout=START_TIMEOUT, interval=0.05,
                   error=DemoError):
    """The port a server started as proc wrote to its --port-file (a whole line); error,
    with the server's log (log()), when it exits first or after timeout s."""
    def ready():
        if proc.poll() is not None:
            raise error("%s exited at start-up:\n%s" % (name, log()))
        try:
            with open(port_file) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return text if text.endswith("\n") else None

    return int(wait_for(name + " to start", ready, timeout, interval, error))


def read_log(path):
    """The text of a process's log file; "" before it exists."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_log(path, text, count=1, timeout=LOG_WAIT):
    """The text of the log file @path once it holds @text at least @count times, or as it
    is after @timeout s (the check that follows reports what it holds). A line can reach
    the file after the event it is about has reached the test: the servers write their
    lines in a log thread (server/common/server-log.c), Postfix through postlogd. A test
    that reads a log right after an event waits for the line so (never a fixed sleep);
    tests/test-util.h's mt_file_wait_occurrences() is the C counterpart."""
    deadline = time.monotonic() + timeout
    while True:
        log = read_log(path)
        if log.count(text) >= count or time.monotonic() > deadline:
            return log
        time.sleep(LOG_POLL)


class Server:
    """One process (msgtrk-relay or mtqpd) with its config, log and port file."""

    def __init__(self, exe, directory, name, config_text, extra_args=()):
        self.exe, self.dir, self.name = exe, directory, name
        self.conf = os.path.join(directory, name + ".conf")
        self.log_path = os.path.join(directory, name + ".log")
        self.port_file = os.path.join(directory, name + ".port")
        self.extra_args = list(extra_args)
        with open(self.conf, "w") as f:
            f.write(config_text)
        self.proc = None
        self.port = None

    def start(self, port=0, address="127.0.0.1"):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [self.exe, "--config", self.conf, "--listen", "%s:%d" % (address, port),
                 "--port-file", self.port_file] + self.extra_args,
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.port = wait_port_file(self.name, self.proc, self.port_file, self.log)
        return self.port

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self):
        return read_log(self.log_path)


class Hop:
    """A tracking-capable hop: msgtrk-relay and mtqpd over one state directory."""

    def __init__(self, net, name, hostname, routes, relay_keys=None, mtqpd=True):
        self.name, self.hostname = name, hostname
        self.address = net.addresses.get(name, "127.0.0.1")
        store = net.store_text(name)
        self.dir = os.path.join(net.base, name)
        self.state_dir = os.path.join(self.dir, "state")
        self.maildir_root = os.path.join(self.dir, "maildir")
        for d in (self.dir, self.state_dir, self.maildir_root,
                  os.path.join(self.state_dir, "tracking")):
            os.makedirs(d, exist_ok=True)
            net.own(d)
        user = "user=nobody\n" if os.geteuid() == 0 else ""
        keys = {"hostname": hostname, "state_dir": self.state_dir, "reverse_dns": "false",
                "listen": "127.0.0.1:1"}
        keys.update(relay_keys or {})
        text = "[relay]\n" + "".join("%s=%s\n" % kv for kv in keys.items()) + user
        text += ("\n[queue]\nmaildir_root=%s\nretry_first=2\nretry_factor=2\n"
                 "retry_max_interval=60\nmax_queue_lifetime=259200\nconnect_timeout=3\n"
                 "command_timeout=20\nworkers=2\n" % self.maildir_root)
        text += "\n[routes]\n" + "".join("%s=%s\n" % kv for kv in routes.items())
        text += store
        self.relay = Server(net.exe("server/relay/msgtrk-relay"), self.dir, "relay", text)
        self.mtqpd = None
        if mtqpd:
            mtext = ("[mtqpd]\nhostname=%s\nstate_dir=%s\nlisten=127.0.0.1:1\n%s%s"
                     % (hostname, self.state_dir, user, store))
            # --verbose: mtqpd logs each TRACK (who asked, for which ENVID), which the demo
            # shows and the tests read; a production mtqpd keeps that line off its hot path.
            self.mtqpd = Server(net.exe("server/mtqpd/mtqpd"), self.dir, "mtqpd", mtext,
                                extra_args=("--verbose",))

    def start(self, smtp_port=0):
        self.relay.start(smtp_port, self.address)
        if self.mtqpd:
            self.mtqpd.start(0, self.address)

    def stop(self):
        self.relay.stop()
        if self.mtqpd:
            self.mtqpd.stop()

    @property
    def smtp_route(self):
        return "smtp:%s:%d" % (self.address, self.relay.port)

    def logs(self):
        out = "--- %s relay ---\n%s" % (self.name, self.relay.log())
        if self.mtqpd:
            out += "--- %s mtqpd ---\n%s" % (self.name, self.mtqpd.log())
        return out


class DemoNetwork:
    SENDER = "sender@demo.test"
    RECIPIENTS = ["alice@example.net", "bob@gone.example", "carol@slow.example",
                  "dave@legacy.example", "erin@hidden.example"]
    # The end states MTQP tracks: FOUR, and erin behind the opaque route.
    FOUR = {"alice@example.net": "delivered", "bob@gone.example": "failed",
            "carol@slow.example": "delayed", "dave@legacy.example": "relayed"}
    EXPECTED = dict(FOUR, **{"erin@hidden.example": "opaque"})

    def __init__(self, build_dir, base_dir=None, pg_dir=None, gi=True):
        """gi=False: servers only, without the typelib (no send() or track())."""
        self.build_dir = os.path.abspath(build_dir)
        self.pg_dir = pg_dir or os.environ.get(PG_ENV) or None
        self.Msgtrk = setup_gi(self.build_dir) if gi else None
        self._own_base = base_dir is None
        self.base = base_dir or tempfile.mkdtemp(prefix="msgtrk-demo-")
        self.own(self.base)
        self.hops = {}
        # hop name → the address it listens on (default 127.0.0.1)
        self.addresses = dict(item.split("=", 1) for item in
                              os.environ.get("MSGTRK_DEMO_ADDRESSES", "").split(",") if "=" in item)

    def exe(self, rel):
        path = os.path.join(self.build_dir, rel)
        if not os.access(path, os.X_OK):
            raise DemoError("%s is not built (meson compile -C %s)" % (path, self.build_dir))
        return path

    def store_text(self, hop_name):
        """The [store] group of a hop's relay and mtqpd: empty (files) without PostgreSQL."""
        if not self.pg_dir:
            return ""
        db = "msgtrk_demo_" + hop_name
        exists = subprocess.run(
            [os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-q", "-h", self.pg_dir,
             "-U", "msgtrk", "-d", "postgres", "-c",
             "SELECT 1 FROM pg_database WHERE datname = '%s'" % db],
            capture_output=True, text=True, timeout=PSQL_TIMEOUT)
        if exists.returncode != 0:
            raise DemoError("PostgreSQL at %s: %s" % (self.pg_dir, exists.stderr.strip()))
        if exists.stdout.strip() != "1":
            made = subprocess.run(
                [os.path.join(PG_BIN, "psql"), "-X", "-q", "-h", self.pg_dir, "-U", "msgtrk",
                 "-d", "postgres", "-c", "CREATE DATABASE %s" % db],
                capture_output=True, text=True, timeout=PSQL_TIMEOUT)
            if made.returncode != 0:
                raise DemoError("CREATE DATABASE %s: %s" % (db, made.stderr.strip()))
        return ("\n[store]\nbackend=postgresql\nconninfo=host=%s user=msgtrk dbname=%s\n"
                "pool_size=2\n" % (self.pg_dir, db))

    def own(self, path):
        """When run as root, the servers drop to nobody: let nobody use the directory."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            os.chmod(path, 0o755)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self):
        # Start from the last hop, so that each relay knows its next hop's port; DSNs to
        # the sender's domain go back to the submission hop, whose port is chosen first.
        submit_port = free_port()
        back = "smtp:%s:%d" % (self.addresses.get("submit", "127.0.0.1"), submit_port)
        final = Hop(self, "mx", "mx.example.net",
                    {"example.net": "local:", "demo.test": back, "*": "error:5.1.2 no route"})
        final.start()
        middle = Hop(self, "relay", "relay.example.net",
                     {"example.net": final.smtp_route, "demo.test": back,
                      "*": "error:5.1.2 no route"})
        middle.start()
        legacy = Hop(self, "legacy", "mail.legacy.example",
                     {"legacy.example": "local:", "hidden.example": "local:",
                      "*": "error:5.1.2 no route"},
                     relay_keys={"offer_mtrk": "false", "offer_dsn": "false"}, mtqpd=False)
        legacy.start()
        submit = Hop(self, "submit", "submit.demo.test", {
            "example.net": middle.smtp_route,
            "legacy.example": legacy.smtp_route,
            # Beyond this route nothing is told: the record says "opaque".
            "hidden.example": legacy.smtp_route + " opaque",
            "gone.example": "error:5.1.2 gone.example does not accept mail",
            "slow.example": "smtp:127.0.0.1:%d" % free_port(),
            "demo.test": "local:",
            "*": "error:5.1.2 no route",
        })
        submit.start(submit_port)
        self.hops = {"submit": submit, "relay": middle, "mx": final, "legacy": legacy}

    def stop(self):
        for hop in self.hops.values():
            hop.stop()

    def cleanup(self):
        self.stop()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def logs(self):
        return "".join(h.logs() for h in self.hops.values())

    def sender_mail(self, needle=None):
        """The messages in the sender's Maildir at the submission hop (where DSNs come back),
        by name, as (path, bytes); only those that contain needle (bytes) when given."""
        box = os.path.join(self.hops["submit"].maildir_root, self.SENDER, "new")
        try:
            names = sorted(os.listdir(box))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            path = os.path.join(box, name)
            with open(path, "rb") as f:
                data = f.read()
            if needle is None or needle in data:
                out.append((path, data))
        return out

    def mtqp_overrides(self):
        """msgtrkd's --mtqp-override arguments: every hop's MTQP server by its host name."""
        out = []
        for hop in self.hops.values():
            if hop.mtqpd is not None:
                out += ["--mtqp-override", "%s=%s:%d" % (hop.hostname, hop.address,
                                                           hop.mtqpd.port)]
        return out

    def print_hops(self):
        for hop in self.hops.values():
            print("  %-20s SMTP %-5d %s" % (hop.hostname, hop.relay.port,
                                            "MTQP %d" % hop.mtqpd.port if hop.mtqpd
                                            else "(no MTRK, no DSN, no MTQP)"))

    # The MTQP side
    def client(self):
        Msgtrk = self.Msgtrk
        client = Msgtrk.MtqpClient.new()
        client.set_connect_timeout(5)
        client.set_read_timeout(10)
        client.set_deadline(20)
        for hop in self.hops.values():
            if hop.mtqpd is not None:
                client.add_host_override(hop.hostname, "%s:%d" % (hop.address, hop.mtqpd.port))
        return client

    # The SMTP side: what a mail client with tracking does
    def send(self, subject="Quarterly numbers", recipients=None, timeout_seconds=3600):
        """Send one tracked message to the submission hop; returns (envid, secret_b64)."""
        Msgtrk = self.Msgtrk
        recipients = recipients or self.RECIPIENTS
        secret = Msgtrk.Secret.generate()
        envid = Msgtrk.envid_generate(self.SENDER.split("@")[1])
        env = Msgtrk.Envelope.new(envid)
        env.set_authenticator(secret.compute_authenticator())
        env.set_mtrk_timeout(timeout_seconds)
        env.set_ret(Msgtrk.DsnRet.HDRS)
        env.set_notify(Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE |
                       Msgtrk.DsnNotify.DELAY)
        submit = self.hops["submit"]
        with smtplib.SMTP(submit.address, submit.relay.port, local_hostname="laptop.demo.test",
                          timeout=20) as smtp:
            code, text = smtp.ehlo()
            if code != 250:
                raise DemoError("EHLO refused: %d %s" % (code, text))
            # Rebuild the reply as it was on the wire for libmsgtrk's EHLO parser.
            lines = text.decode().split("\n")
            reply = "".join("250-%s\r\n" % line for line in lines[:-1])
            reply += "250 %s\r\n" % lines[-1]
            caps = Msgtrk.SmtpCapabilities.parse(reply)
            self.offered = caps.to_string()
            code, text = smtp.docmd("MAIL", "FROM:" + env.build_mail_from_arg(caps, self.SENDER))
            if code != 250:
                raise DemoError("MAIL refused: %d %s" % (code, text.decode()))
            for rcpt in recipients:
                code, text = smtp.docmd("RCPT", "TO:" + env.build_rcpt_to_arg(caps, rcpt))
                if code not in (250, 251):
                    raise DemoError("RCPT %s refused: %d %s" % (rcpt, code, text.decode()))
            body = ("From: Sender <%s>\r\nTo: %s\r\nSubject: %s\r\n"
                    "Message-ID: <%s>\r\nDate: %s\r\n\r\nThe numbers are in.\r\n"
                    % (self.SENDER, ", ".join(recipients), subject, envid.replace("@", ".demo@"),
                       time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
            code, text = smtp.data(body.encode())
            if code != 250:
                raise DemoError("DATA refused: %d %s" % (code, text.decode()))
            self.queue_reply = text.decode()
        a = secret.to_base64()
        return envid, a

    def track(self, envid, secret_b64, recipients=None):
        tracker = self.Msgtrk.Tracker.new(self.client())
        return tracker.track_sync(self.hops["submit"].hostname, envid, secret_b64,
                                  recipients or self.RECIPIENTS, None)

    def track_until(self, envid, secret_b64, expected, timeout=45.0, recipients=None):
        """Track repeatedly until every recipient is in its expected state (a dict of
        address → state name) or timeout seconds pass; returns the last route."""
        deadline = time.monotonic() + timeout
        while True:
            route = self.track(envid, secret_b64, recipients)
            status = route.get_status()
            now = {r: self.Msgtrk.recipient_state_to_string(status.get_recipient_state(r))
                   for r in route.list_recipients()}
            if all(now.get(r) == s for r, s in expected.items()):
                return route
            if time.monotonic() > deadline:
                return route
            time.sleep(0.5)


# A signal's exception raised while Python runs a finalizer (a GLib.Variant's __del__, a
# socket's) is printed as "Exception ignored in ..." (sys.unraisablehook) and lost; one
# raised in a GLib callback (msgtrkd_session's StatusChanged handler, run by the main
# loop) is printed by PyGObject (sys.excepthook) and lost too. The run would go on as if
# no signal had come (seen in CI's demo test). raise_on_signals() notices such a loss
# through both hooks, and check_interrupted() raises the exception again: each
# wait_for() poll, the demo's banner() and the end of its run.
_raised = None  # the exception the signal raised
_lost = None  # the same, once Python lost it


def _noting_loss(hook):
    """@hook (one of sys's), first noting that it reports the signal's exception."""
    def noted(*args):
        global _lost
        # unraisablehook(UnraisableHookArgs), excepthook(type, value, traceback)
        value = args[0].exc_value if len(args) == 1 else args[1]
        if _raised is not None and value is _raised:
            _lost = _raised
        hook(*args)
    return noted


def raise_on_signals(signals, exception):
    """Each of @signals raises exception(signum) in the main thread, once: from then on
    they are ignored, so that no second signal interrupts the clean-up the first started.
    An exception Python lost (in a finalizer, a GLib callback) comes again from
    check_interrupted(). Called once per process."""
    def handler(signum, frame):
        global _raised
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        _raised = exception(signum)
        raise _raised
    sys.unraisablehook = _noting_loss(sys.unraisablehook)
    sys.excepthook = _noting_loss(sys.excepthook)
    for s in signals:
        signal.signal(s, handler)


def check_interrupted():
    """The exception of raise_on_signals()'s signal, raised again (once) if Python lost it;
    nothing otherwise."""
    global _lost
    if _lost is not None:
        e, _lost = _lost, None
        raise e


def banner(text):
    check_interrupted()
    print("\n== %s" % text, flush=True)


class DemoCommand:
    """What the README's demo commands share (tools/demo-helper.py, demo-postfix-helper.py):
    the msgtrk CLI in the msgtrkd session, the outputs kept for their tests (--save-dir), and
    the main loop. A subclass sets self.args and self.session and has run() and cleanup()."""

    session = None

    def cli(self, *args, check=True):
        """msgtrk ARGS in the session: its stdout; DemoError when it fails (check)."""
        r = self.session.cli(*args)
        if check and r.returncode != 0:
            raise DemoError("msgtrk %s failed (exit %d): %s"
                            % (" ".join(args), r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def save(self, name, text):
        if self.args.save_dir:
            with open(os.path.join(self.args.save_dir, name), "w") as f:
                f.write(text)

    def start_msgtrkd(self, sessions, build_dir, name, overrides):
        """msgtrkd in a throw-away session (sessions: the msgtrkd_session module), told
        where the MTQP servers are (overrides) and polling at once."""
        self.session = sessions.Session(build_dir, name,
                                        daemon_args=list(overrides) + sessions.FAST_POLL_ARGS,
                                        debug=False, verbose=self.args.verbose)
        self.session.start()
        return self.session

    def send_tracked(self, sessions, sender, recipients, subject, host_name, port,
                     host="127.0.0.1"):
        """What a mail client does: Prepare (msgtrkd makes A, keeps it in the keyring, gives
        ENVID and B), SMTP to host:port with ENVID and MTRK=B, Committed (what the server
        offered and answered). Returns (ENVID, the EHLO keywords, the final reply)."""
        s = self.session
        message_id = "%s@demo.test" % uuid.uuid4().hex[:16]
        envid, authenticator, timeout = s.prepare(sender, recipients, "<%s>" % message_id,
                                                  subject, host_name)
        keywords, reply = sessions.send_tracked(self.Msgtrk, port, sender, recipients, envid,
                                                authenticator, timeout, subject, message_id,
                                                host=host)
        s.committed(envid, keywords, reply)
        return envid, keywords, reply

    def watch(self, envid, want, t0, timeout, logs):
        """Print the session's StatusChanged signals for envid (seconds since t0) until the
        recipients' states are want (a dict); returns the route. DemoError with the states
        and logs() after timeout s."""
        s = self.session
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            s.pump(0.2)
            for sig in s.signals[seen:]:
                if sig[0] == envid:
                    print("  %5.1f s  %-10s %s" % (time.monotonic() - t0, sig[1], sig[2]),
                          flush=True)
            seen = len(s.signals)
            route = s.get_route(envid)
            got = {r["address"]: r["state"] for r in route["recipients"]}
            if got == want:
                return route
            if time.monotonic() > deadline:
                raise DemoError("the route did not settle in %.0f s: %r\n%s"
                                % (timeout, got, logs()))

    def main(self, prog, errors=()):
        """run(), then cleanup() whatever happens. Returns run()'s status; 1 after DemoError
        or one of errors (said on stderr, with the session's log); 130 when interrupted
        (Ctrl-C, SIGTERM, SIGHUP; a Ctrl-C during the cleanup is ignored: it must not
        leave processes behind)."""
        raise_on_signals((signal.SIGTERM, signal.SIGHUP), lambda signum: KeyboardInterrupt())
        try:
            status = self.run()
            check_interrupted()
            return status
        except (DemoError,) + tuple(errors) as e:
            print("\n%s: %s" % (prog, e), file=sys.stderr)
            if self.session is not None:
                print(self.session.log(), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\n%s: interrupted" % prog, file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.cleanup()


def _fmt_date(dt):
    return dt.format("%H:%M:%S") if dt is not None else "        "


def print_route(Msgtrk, route, out=sys.stdout):
    status = route.get_status()
    for rcpt in route.list_recipients():
        state = Msgtrk.recipient_state_to_string(status.get_recipient_state(rcpt))
        out.write("\n  %s — %s\n" % (rcpt, state.upper()))
        for i, hop in enumerate(route.get_hops(rcpt) or [], 1):
            if hop.is_broken():
                out.write("    %d. %-22s  BROKEN LINK: %s\n" % (i, hop.get_server(),
                                                            hop.get_error().message))
                continue
            entry = hop.get_entry()
            when = entry.get_last_attempt_date() or hop.get_arrival_date()
            line = "    %d. %-22s  %s  %-11s %s" % (
                i, hop.get_reporting_mta() or hop.get_server(), _fmt_date(when),
                entry.get_action_text() or "?", entry.get_status() or "")
            if entry.get_status_comment():
                line += " (%s)" % entry.get_status_comment()
            if entry.get_remote_mta():
                line += "  → %s" % entry.get_remote_mta()
            if entry.get_will_retry_until() is not None:
                line += "  retrying until %s" % entry.get_will_retry_until().format("%Y-%m-%d %H:%M")
            if entry.get_diagnostic_code():
                line += "\n       %s" % entry.get_diagnostic_code()
            out.write(line + "\n")
    out.write("\n  Summary: %s\n" % status.format_summary())


def print_dsns(net, timeout=10.0):
    """DSNs back in the sender's mailbox: what any mail client can already get today."""
    Msgtrk = net.Msgtrk
    from gi.repository import GLib
    def dsns():
        mail = net.sender_mail()
        return mail if len(mail) >= 2 else None  # submit's (failed, delayed, relayed), mx's
    try:
        mail = wait_for("DSNs in the sender's mailbox", dsns, timeout)
    except DemoError:
        mail = net.sender_mail()
    print("\n== DSNs in the sender's mailbox (merged with MTQP by the helper)")
    for path, data in mail:
        name = os.path.basename(path)
        try:
            reports = Msgtrk.Report.parse_entity(GLib.Bytes.new(data))
        except GLib.Error as e:
            print("  %s: not a report: %s" % (name, e.message))
            continue
        for report in reports:
            for entry in report.get_recipients():
                print("  DSN from %s: %s %s %s" % (report.get_reporting_mta(),
                                                   entry.get_final_recipient(),
                                                   entry.get_action_text(), entry.get_status()))
            headers = report.get_returned_headers()
            if headers:
                hops = Msgtrk.trace_parse_headers(headers.encode("utf-8"))
                for i, hop in enumerate(hops, 1):
                    print("    Received %d: from %s by %s%s" % (
                        i, hop.get_from_helo() or "?", hop.get_by_host() or "?",
                        " (+%d s)" % hop.get_delay() if hop.has_delay() else ""))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "_build", "demo"))
    parser.add_argument("--keep", action="store_true", help="leave the directory behind")
    parser.add_argument("--pg-dir", help="PostgreSQL socket directory: the PostgreSQL store")
    args = parser.parse_args(argv)

    net = DemoNetwork(args.build_dir, pg_dir=args.pg_dir)
    Msgtrk = net.Msgtrk
    t0 = time.monotonic()
    try:
        net.start()
        print("== Demo network on 127.0.0.1 (%s)" % net.base)
        net.print_hops()
        envid, secret = net.send()
        print("\n== Sent a tracked message")
        print("  ENVID %s" % envid)
        print("  the submission server offered: %s" % net.offered)
        print("  %s" % net.queue_reply)
        expected = DemoNetwork.EXPECTED
        route = net.track_until(envid, secret, expected)
        print("\n== Route (tracked over MTQP from %s, %d servers asked)"
              % (net.hops["submit"].hostname, route.get_servers_asked()))
        print_route(Msgtrk, route)
        status = route.get_status()
        got = {r: Msgtrk.recipient_state_to_string(status.get_recipient_state(r))
               for r in route.list_recipients()}
        if got != expected:
            print("\nmsgtrk-demo: unexpected states %r\n%s" % (got, net.logs()), file=sys.stderr)
            return 1
        print_dsns(net)
        url = Msgtrk.Url.new(net.hops["submit"].hostname, net.hops["submit"].mtqpd.port,
                             envid, secret)
        print("\n  A delegate could track this message with its mtqp:// link "
              "(%d characters; not printed here, it holds the secret)." % len(url.to_string()))
        print("\n== Done in %.1f s" % (time.monotonic() - t0))
        return 0
    finally:
        if args.keep:
            net.stop()
        else:
            net.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
