# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd_session.py: a private, throw-away session running the real msgtrkd.

Used by the README demo (tools/demo-helper.py), the msgtrkd tests (through
tests/msgtrkd/msgtrkd_harness.py, which re-exports this module), the real-daemon CLI test
and the refresh benchmark: one implementation of "a bus, a keyring and the daemon".

A Session is one `dbus-run-session` (kept open by a `cat` on its stdin, so the caller owns
its PID and ends it by closing stdin), optionally a real gnome-keyring-daemon unlocked with
a password on stdin (HOME, XDG_RUNTIME_DIR and the XDG dirs are in a temporary directory),
and msgtrkd started directly (not by activation) with --store-dir in the session's
directory. The caller talks to the daemon over its own GDBusConnection to that bus, and
can run the real `msgtrk` CLI in the same session (Session.cli).

send_tracked() is what a mail client with tracking does on the SMTP side after Prepare:
ENVID/NOTIFY/RET/ORCPT and MTRK=B built by MsgtrkEnvelope from the EHLO it got.

Limits: START_TIMEOUT for each process to come up, CALL_TIMEOUT_MS per D-Bus call.
Never: pass a secret on a command line or write one to a file; leave a process behind
(stop() ends everything it started, by PID).
"""

import json
import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time

from gi.repository import Gio, GLib

BUS_NAME = "org.msgtrk.Tracker1"
OBJECT_PATH = "/org/msgtrk/Tracker1"
INTERFACE = "org.msgtrk.Tracker1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
CALL_TIMEOUT_MS = 30000
KEYRING_PASSWORD = b"msgtrk-test-password\n"  # a throw-away keyring's, not a tracking secret

# A daemon that polls at once and then every few seconds, and stays up (demos, tests).
FAST_POLL_ARGS = ["--first-poll", "1", "--poll-schedule", "1,2,3", "--idle-exit", "600"]

__all__ = ["BUS_NAME", "OBJECT_PATH", "INTERFACE", "START_TIMEOUT", "CALL_TIMEOUT_MS",
           "FAST_POLL_ARGS", "Session", "SessionError", "remote_error", "send_tracked"]


class SessionError(Exception):
    pass


def remote_error(error):
    """The D-Bus error name of a GLib.Error from a call, or None."""
    return Gio.DBusError.get_remote_error(error)


def _end(proc, timeout=STOP_TIMEOUT):
    """Waits for a process we started; kills it (by its PID) if it does not go."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Session:
    """A private session bus + (optionally) an unlocked gnome-keyring + msgtrkd.

    debug: run msgtrkd with G_MESSAGES_DEBUG=all (tests); off for demos and benchmarks.
    """

    def __init__(self, build_dir, name, msgtrkd=None, keyring=True, daemon_args=(),
                 base=None, debug=True, verbose=True):
        self.build_dir = os.path.abspath(build_dir)
        self.name = name
        self.msgtrkd = msgtrkd or os.path.join(self.build_dir, "helper", "msgtrkd", "msgtrkd")
        self.cli_exe = os.path.join(self.build_dir, "helper", "cli", "msgtrk")
        self.with_keyring = keyring
        self.daemon_args = list(daemon_args)
        self.verbose = verbose
        self._own_base = base is None
        self.base = base or tempfile.mkdtemp(prefix="msgtrkd-%s-" % name)
        self.home = os.path.join(self.base, "home")
        self.runtime = os.path.join(self.base, "run")
        self.store_dir = os.path.join(self.base, "store")
        self.keyring_dir = os.path.join(self.home, ".local", "share", "keyrings")
        os.makedirs(self.keyring_dir, exist_ok=True)
        os.makedirs(self.runtime, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ)
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.env.update({
            "HOME": self.home,
            "XDG_RUNTIME_DIR": self.runtime,
            "XDG_DATA_HOME": os.path.join(self.home, ".local", "share"),
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "XDG_CACHE_HOME": os.path.join(self.home, ".cache"),
            "XDG_STATE_HOME": os.path.join(self.home, ".local", "state"),
            "GSETTINGS_SCHEMA_DIR": os.path.join(self.build_dir, "data", "gsettings"),
            "GSETTINGS_BACKEND": "memory",
            "NO_AT_BRIDGE": "1",
        })
        if debug:
            self.env["G_MESSAGES_DEBUG"] = "all"
        else:
            self.env.pop("G_MESSAGES_DEBUG", None)
        self.bus = None
        self.keyring = None
        self.daemon = None
        self.conn = None
        self.signals = []
        self.full_signals = []
        self._sub = None
        self.daemon_runs = 0
        self.log_path = None
        self._files = []
        self._extra = []  # other processes started in the session (e.g. the viewer)

    def _open_log(self, name):
        f = open(os.path.join(self.base, name), "ab")
        self._files.append(f)
        return f

    # --- life cycle ---
    def start(self):
        self.bus = subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c",
             'echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._open_log("bus.log"), env=self.env)
        address = self.bus.stdout.readline().decode().strip()
        if not address:
            raise SessionError("dbus-run-session gave no address")
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self._sub = self.conn.signal_subscribe(
            BUS_NAME, INTERFACE, "StatusChanged", OBJECT_PATH, None,
            Gio.DBusSignalFlags.NONE, self._on_signal)
        if self.with_keyring:
            log = self._open_log("keyring.log")
            self.keyring = subprocess.Popen(
                ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                stdin=subprocess.PIPE, stdout=log, stderr=log, env=self.env)
            self.keyring.stdin.write(KEYRING_PASSWORD)
            self.keyring.stdin.close()
            self.wait_for("the keyring", lambda: self.has_owner("org.freedesktop.secrets"))
        self.start_daemon()
        return self

    def start_daemon(self):
        self.daemon_runs += 1
        self.log_path = os.path.join(self.base, "msgtrkd-%d.log" % self.daemon_runs)
        log = self._open_log(os.path.basename(self.log_path))
        args = [self.msgtrkd, "--store-dir", self.store_dir]
        if self.verbose:
            args.append("--verbose")
        args += self.daemon_args
        self.daemon = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=log, env=self.env)

        def up():
            if self.daemon.poll() is not None:
                raise SessionError("msgtrkd exited at start-up (%d):\n%s"
                                   % (self.daemon.returncode, self.log()))
            return self.has_owner(BUS_NAME)
        self.wait_for("msgtrkd on the bus", up)

    def stop_daemon(self):
        """SIGTERM, and the exit status (0 expected: also no leaks under ASan)."""
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
        code = _end(self.daemon)
        self.daemon = None
        if self.conn is not None:
            self.wait_for("msgtrkd to leave the bus", lambda: not self.has_owner(BUS_NAME))
        return code

    def spawn(self, args, log_name, extra_env=None):
        """Starts another process in the session (ended by stop()); returns its Popen."""
        env = dict(self.env)
        env.update(extra_env or {})
        log = self._open_log(log_name)
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env)
        self._extra.append(proc)
        return proc

    def stop(self):
        code = None
        try:
            code = self.stop_daemon()
        finally:
            for proc in self._extra:
                if proc.poll() is None:
                    proc.terminate()
                _end(proc, 10)
            self._extra = []
            if self._sub is not None and self.conn is not None:
                self.conn.signal_unsubscribe(self._sub)
                self._sub = None
            if self.conn is not None:
                try:
                    self.conn.close_sync(None)
                except GLib.Error:
                    pass
                self.conn = None
            if self.keyring is not None:
                if self.keyring.poll() is None:
                    self.keyring.terminate()
                _end(self.keyring, 10)
                self.keyring = None
            if self.bus is not None:
                self.bus.stdin.close()
                self.bus.stdout.close()
                _end(self.bus, 10)
                self.bus = None
            for f in self._files:
                f.close()
            self._files = []
        return code

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self):
        out = ""
        for name in sorted(os.listdir(self.base)):
            if name.endswith(".log"):
                with open(os.path.join(self.base, name), errors="replace") as f:
                    out += "--- %s ---\n%s" % (name, f.read())
        return out

    # --- the real CLI in this session ---
    def cli(self, *args, input_bytes=None, timeout=60, extra_env=None):
        """Runs `msgtrk ARGS…` on this session's bus; returns the CompletedProcess."""
        env = dict(self.env, LC_ALL="C.UTF-8", LANGUAGE="")
        env.pop("G_MESSAGES_DEBUG", None)
        env.update(extra_env or {})
        return subprocess.run([self.cli_exe] + list(args), env=env, input=input_bytes,
                              capture_output=True, timeout=timeout,
                              stdin=None if input_bytes is not None else subprocess.DEVNULL)

    # --- bus helpers ---
    def pump(self, seconds=0.0):
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + seconds
        while True:
            while ctx.iteration(False):
                pass
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)

    def wait_for(self, what, predicate, timeout=START_TIMEOUT, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise SessionError("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(interval)

    def has_owner(self, name):
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "NameHasOwner",
                                    GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                                    Gio.DBusCallFlags.NONE, 5000, None)
        return reply.unpack()[0]

    def _on_signal(self, conn, sender, path, iface, name, params):
        args = params.unpack()
        self.signals.append(args[:3])    # (envid, state, summary)
        self.full_signals.append(args)   # and the Message-ID (since 0.2)

    def call(self, method, signature=None, args=(), reply=None):
        params = GLib.Variant(signature, tuple(args)) if signature else None
        result = self.conn.call_sync(BUS_NAME, OBJECT_PATH, INTERFACE, method, params,
                                     GLib.VariantType(reply) if reply else None,
                                     Gio.DBusCallFlags.NO_AUTO_START, CALL_TIMEOUT_MS, None)
        self.pump()
        return result.unpack() if result is not None else None

    # --- the interface ---
    def prepare(self, sender, recipients, message_id, subject, host):
        return self.call("Prepare", "(sassss)", (sender, recipients, message_id, subject, host),
                         "(ssu)")

    def committed(self, envid, offered, reply):
        return self.call("Committed", "(sass)", (envid, offered, reply))

    def aborted(self, envid, reason):
        return self.call("Aborted", "(ss)", (envid, reason))

    def track(self, ident):
        return self.call("Track", "(s)", (ident,))

    def get_status(self, ids):
        return self.call("GetStatus", "(as)", (ids,), "(a(ssss))")[0]

    def get_route(self, ident):
        return json.loads(self.call("GetRoute", "(s)", (ident,), "(s)")[0])

    def list(self):
        return json.loads(self.call("List", None, (), "(s)")[0])

    def export_url(self, ident):
        return self.call("ExportUrl", "(s)", (ident,), "(s)")[0]

    def import_url(self, url):
        return self.call("ImportUrl", "(s)", (url,), "(s)")[0]

    def ingest(self, raw):
        return self.call("IngestReport", "(ay)", (raw,), "(s)")[0]

    def forget(self, ident):
        return self.call("Forget", "(s)", (ident,))


def send_tracked(Msgtrk, port, sender, recipients, envid, authenticator, timeout,
                 subject, message_id, helo="laptop.demo.test", host="127.0.0.1"):
    """What a mail client plugin does after Prepare: SMTP to host:port with ENVID,
    NOTIFY, RET, ORCPT and MTRK=B (each only if the EHLO offered it). Returns (the EHLO
    keywords, the final reply) for Committed. message_id: without angle brackets."""
    env = Msgtrk.Envelope.new(envid)
    env.set_authenticator(authenticator)
    env.set_mtrk_timeout(timeout)
    env.set_ret(Msgtrk.DsnRet.HDRS)
    env.set_notify(Msgtrk.DsnNotify.SUCCESS | Msgtrk.DsnNotify.FAILURE |
                   Msgtrk.DsnNotify.DELAY)
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=20) as smtp:
        code, text = smtp.ehlo()
        if code != 250:
            raise SessionError("EHLO refused: %d %s" % (code, text))
        # The reply as it was on the wire, for libmsgtrk's EHLO parser.
        lines = text.decode().split("\n")
        reply = "".join("250-%s\r\n" % line for line in lines[:-1]) + "250 %s\r\n" % lines[-1]
        caps = Msgtrk.SmtpCapabilities.parse(reply)
        code, text = smtp.docmd("MAIL", "FROM:" + env.build_mail_from_arg(caps, sender))
        if code != 250:
            raise SessionError("MAIL refused: %d %s" % (code, text.decode()))
        for rcpt in recipients:
            code, text = smtp.docmd("RCPT", "TO:" + env.build_rcpt_to_arg(caps, rcpt))
            if code not in (250, 251):
                raise SessionError("RCPT %s refused: %d %s" % (rcpt, code, text.decode()))
        body = ("From: Sender <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
                "Date: %s\r\n\r\nThe numbers are in.\r\n"
                % (sender, ", ".join(recipients), subject, message_id,
                   time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
        code, text = smtp.data(body.encode())
        if code != 250:
            raise SessionError("DATA refused: %d %s" % (code, text.decode()))
    # Committed takes the keywords (the lines after the greeting line) and the last reply.
    return lines[1:], "%d %s" % (code, text.decode())
