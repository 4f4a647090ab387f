# SPDX-License-Identifier: GPL-3.0-or-later
"""postfix_instance.py: a private Postfix instance on loopback, for the tests in tests/postfix.

PrivatePostfix is one Postfix whose every file (configuration, queue, data, Maildirs, log)
lives under one temporary directory (`postfix -c CONFDIR`); the system's /etc/postfix is
never written. It listens on 127.0.0.1:<free port> as mx.test.example and routes:

  *@test.example            virtual Maildirs (sender, alice, postmaster); others bounce
  *@slow.test.example       a bound socket that never listens (connection refused): delayed
  *@legacy.test.example     LegacySmtpServer, a next hop without DSN: relayed

Retries are fast and delay_warning_time is 1s, so a "delayed" DSN comes within seconds.
SmtpClient is a minimal SMTP client that keeps the raw EHLO reply. skip_reason() says why
this machine cannot run the instance (not root, no Postfix, a system user missing).

Limits: START_TIMEOUT, STOP_TIMEOUT, SMTP_TIMEOUT, DSN_TIMEOUT.
Never: touch the system Postfix instance, or leave a Postfix process or its files behind
(cleanup() stops the master by its PID and removes the directory).
"""

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools"))
import demonet  # noqa: E402  (its helpers only: nothing here loads the typelib)

START_TIMEOUT = 20.0
# Starts tried when Postfix's port was taken between free_port() and its bind (another
# process's outgoing connection got it as its ephemeral port): each with a new port.
START_ATTEMPTS = 3
DSN_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SMTP_TIMEOUT = 15.0

MX = "mx.test.example"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "LC_ALL": "C"}


class PostfixError(Exception):
    pass


class Killed(BaseException):
    """SIGTERM (meson's timeout) or SIGINT, from raise_on_terminate(): like
    KeyboardInterrupt, not an Exception, so no test phase's "except PostfixError" (nor a
    settle()) takes it for a failed step and runs on; the test's finally clean-up runs."""


def skip_reason():
    """Why a private Postfix cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: Postfix's master process runs as root (run the suite as root)"
    if not (os.access(POSTFIX, os.X_OK) and os.access(POSTCONF, os.X_OK)):
        return "Postfix is not installed (tools/deps.sh test installs it)"
    try:
        pwd.getpwnam("postfix")
        pwd.getpwnam("nobody")
    except KeyError as e:
        return "a system user is missing: %s" % e
    return None


def raise_on_terminate():
    """SIGTERM (meson's timeout) and SIGINT raise Killed, once: the test's clean-up runs
    and no second signal interrupts it (demonet.raise_on_signals: raised again at the next
    wait_for() if Python lost it)."""
    demonet.raise_on_signals((signal.SIGTERM, signal.SIGINT),
                             lambda signum: Killed("killed by signal %d" % signum))


def test_args(*more_reasons):
    """The command line of a Postfix test (--build-dir); exits 77 with a TAP skip line when
    a private Postfix cannot run here (skip_reason) or one of more_reasons() says why."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    args = ap.parse_args()
    for why in (skip_reason,) + more_reasons:
        reason = why()
        if reason:
            print("1..0 # SKIP " + reason)
            sys.exit(77)
    return args


def _netns_inode():
    return os.stat("/proc/self/ns/net").st_ino


def in_namespace(mark):
    """Whether this is the run reexec_in_namespace(mark, ...) started: the environment's
    mark names this process (unshare execs it: the same pid) and a network namespace that
    is not this one. Never true for a child that inherited the mark, nor for a mark set by
    hand in the host's namespace."""
    pid, _, inode = os.environ.get(mark, "").partition(":")
    return pid == str(os.getpid()) and inode not in ("", str(_netns_inode()))


def reexec_in_namespace(mark, flags):
    """Runs this script again under `unshare FLAGS` (which must include --net), the same
    interpreter options and arguments, with @mark set for in_namespace(). The same pid:
    unshare execs it, so a SIGTERM (meson's timeout) still reaches it. Never returns."""
    env = dict(os.environ)
    env[mark] = "%d:%d" % (os.getpid(), _netns_inode())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare"] + list(flags) + ["--", sys.executable]
               + sys.orig_argv[1:], env)


free_port = demonet.free_port


class LegacySmtpServer:
    """A next hop that offers no DSN: Postfix must report "relayed" after handing over."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(SMTP_TIMEOUT)
                self._session(conn.makefile("rwb"))
            except OSError:
                pass
            finally:
                conn.close()

    def _session(self, f):
        def say(text):
            f.write(text.encode("ascii") + b"\r\n")
            f.flush()
        say("220 legacy.test.example ESMTP")
        while True:
            line = f.readline(1024)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                say("250-legacy.test.example")
                say("250 8BITMIME")  # no DSN, no PIPELINING
            elif verb == b"DATA":
                say("354 go ahead")
                data = b""
                while True:
                    chunk = f.readline(65536)
                    if not chunk or chunk == b".\r\n":
                        break
                    data += chunk
                self.received.append(data)
                say("250 2.0.0 accepted")
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"HELO"):
                say("250 2.0.0 ok")
            else:
                say("502 5.5.2 not here")

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class PrivatePostfix:
    """One Postfix instance whose every file lives under a temporary directory."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="msgtrk-postfix-")
        os.chmod(self.base, 0o755)  # the virtual agent (as nobody) walks through it
        self.conf = os.path.join(self.base, "conf")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.mail = os.path.join(self.base, "mail")
        self.log = os.path.join(self.base, "maillog")
        self.port = None
        self.master_pid = None
        # The "slow" next hop: a bound socket that never listens refuses every connection,
        # and no other process can take its port while we hold it.
        self.dead = socket.socket()
        self.dead.bind(("127.0.0.1", 0))
        self.dead_port = self.dead.getsockname()[1]
        self.legacy = LegacySmtpServer()

    def postfix(self, *args, timeout=STOP_TIMEOUT):
        return subprocess.run([POSTFIX, "-c", self.conf] + list(args), env=CLEAN_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)

    def configure(self):
        for d in (self.conf, self.queue, self.data, self.mail):
            os.mkdir(d, 0o755)
        pf = pwd.getpwnam("postfix")
        nobody = pwd.getpwnam("nobody")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        self.port = free_port()
        main = {
            "compatibility_level": "3.6",
            "meta_directory": "/etc/postfix",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "maillog_file": self.log,
            "maillog_file_prefixes": self.base,
            "syslog_name": "postfix-msgtrk-test",
            "myhostname": MX,
            "mydomain": "test.example",
            "myorigin": "test.example",
            "mydestination": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_peername_lookup": "no",
            # The front binds tracked messages by XFORWARD IDENT (orig_queue_id=), as
            # docs/postfix-site.md asks a site to; a test of the Message-ID fallback
            # empties it.
            "smtpd_authorized_xforward_hosts": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            # Mailboxes: virtual Maildirs owned by nobody, no system users needed.
            "virtual_mailbox_domains": "test.example",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.conf, "vmailbox"),
            "virtual_uid_maps": "static:%d" % nobody.pw_uid,
            "virtual_gid_maps": "static:%d" % nobody.pw_gid,
            # Accept unknown users at RCPT time, so that they bounce (a DSN), not 550.
            "smtpd_reject_unlisted_recipient": "no",
            "relay_domains": "slow.test.example, legacy.test.example",
            "transport_maps": "texthash:" + os.path.join(self.conf, "transport"),
            # Retry fast and warn after one second: the "delayed" DSN.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "delay_warning_time": "1s",
            "smtp_connect_timeout": "5s",
            # postlogd (the maillog_file writer) kills itself when one request takes
            # longer than this (Postfix >= 3.7; default 10s, the least allowed). On a
            # machine that stalls (a CI host paused) it died, Postfix's daemons then
            # blocked sending to its socket and the smtpds on them: the test waited for
            # nothing. An hour: a real hang still ends. (Under a benchmark's load postlogd
            # and the master can deadlock: bench/README.md, "Postfix's log socket".)
            "postlogd_watchdog_timeout": "3600s",
        }
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            for user in ("sender", "alice", "postmaster"):
                f.write("%s@test.example %s/Maildir/\n" % (user, user))
        with open(os.path.join(self.conf, "transport"), "w") as f:
            f.write("slow.test.example smtp:[127.0.0.1]:%d\n" % self.dead_port)
            f.write("legacy.test.example smtp:[127.0.0.1]:%d\n" % self.legacy.port)
        # Only the services this test needs, none chrooted (the chroot would need copies
        # of system files under the queue directory).
        services = [
            "127.0.0.1:%d inet n - n - - smtpd" % self.port,
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 1 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(services) + "\n")

    def start(self):
        for attempt in range(START_ATTEMPTS):
            r = self.postfix("start", timeout=START_TIMEOUT)
            if r.returncode == 0:
                break
            taken = "port %d: Address already in use" % self.port
            if attempt + 1 < START_ATTEMPTS and os.path.exists(self.log) \
                    and taken in open(self.log, errors="replace").read():
                # free_port()'s port taken before Postfix's master bound it: another one,
                # in master.cf (the only place it is written before the start).
                old, self.port = self.port, free_port()
                cf = os.path.join(self.conf, "master.cf")
                text = open(cf).read().replace("127.0.0.1:%d inet" % old,
                                               "127.0.0.1:%d inet" % self.port)
                with open(cf, "w") as f:
                    f.write(text)
                continue
            raise PostfixError("postfix start failed (%d): %s" % (r.returncode, r.stdout.decode(
                errors="replace")))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise PostfixError("Postfix does not listen on 127.0.0.1:%d" % self.port)
                time.sleep(0.1)
        self.master_pid = self.read_master_pid()

    def read_master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Stop the instance and make sure its master is gone; never raises."""
        pid = self.master_pid or self.read_master_pid()
        if os.path.isdir(self.queue):
            try:
                self.postfix("stop")
            except subprocess.TimeoutExpired:
                pass
        if pid is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            try:
                self.postfix("abort")
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        if _alive(pid):
            print("# Postfix master %d did not stop: killing it" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def maillog(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return "(no maillog)"

    def cleanup(self):
        self.stop()
        self.dead.close()
        self.legacy.close()
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class SmtpClient:
    """A minimal SMTP client that keeps the raw EHLO reply (for MsgtrkSmtpCapabilities)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SMTP_TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.expect(220)

    def reply(self):
        lines = []
        while True:
            line = self.file.readline(1024)
            if not line:
                raise PostfixError("the SMTP server closed the connection")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    def expect(self, code, command=None):
        got, text = self.reply()
        if got != code:
            raise PostfixError("%s: expected %d, got %r" % (command or "greeting", code, text))
        return text

    def command(self, line, code):
        # UTF-8 for SMTPUTF8 addresses (RFC 6531); plain commands are ASCII, its subset.
        self.sock.sendall(line.encode("utf-8") + b"\r\n")
        return self.expect(code, line)

    def data(self, message):
        self.command("DATA", 354)
        body = message.replace(b"\r\n.", b"\r\n..")
        self.sock.sendall(body + b".\r\n")
        return self.expect(250, "end of DATA")

    def close(self):
        try:
            self.command("QUIT", 221)
        finally:
            self.file.close()
            self.sock.close()


def maildir_files(maildir):
    """The messages of a Maildir (new, then cur), each sorted by name (delivery order)."""
    files = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            files += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return files


def wait_for_dsns(pf, count, user="sender", timeout=DSN_TIMEOUT):
    """The files of @user's Maildir once there are at least @count."""
    maildir = os.path.join(pf.mail, user, "Maildir")
    deadline = time.monotonic() + timeout
    while True:
        files = maildir_files(maildir)
        if len(files) >= count:
            return files
        if time.monotonic() > deadline:
            raise PostfixError("only %d of %d DSNs arrived in %.0f s" % (len(files), count,
                                                                        timeout))
        time.sleep(0.2)


class Checker:
    """TAP-style checks: "ok N - what" / "not ok N - what: detail"."""

    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, what, ok, detail=""):
        self.count += 1
        if ok:
            print("ok %d - %s" % (self.count, what))
        else:
            self.failures += 1
            print("not ok %d - %s%s" % (self.count, what, (": " + detail) if detail else ""))
        return ok

    def done(self, started=None):
        """Print the TAP plan (and, with started, a time.monotonic() of the start: how many
        checks failed in how long); the exit status (1 after a failed check)."""
        print("1..%d" % self.count)
        if started is not None:
            print("# %d checks, %d failed, %.1f s"
                  % (self.count, self.failures, time.monotonic() - started))
        return 1 if self.failures else 0

    def equal(self, what, got, want):
        return self.check(what, got == want, "got %r, want %r" % (got, want))
