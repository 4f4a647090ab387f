# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd_harness.py: a private session for msgtrkd tests.

A Session is one `dbus-run-session` (kept open by a `cat` on its stdin, so the test owns
its PID and ends it by closing stdin), optionally a real gnome-keyring-daemon unlocked
with a password on stdin (HOME and XDG_RUNTIME_DIR are temporary), and msgtrkd started
directly (not by activation) with --store-dir in the session's directory. The test talks
to the daemon over its own GDBusConnection to that bus.

Never: pass a secret on a command line or write one to a file.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from gi.repository import Gio, GLib

BUS_NAME = "org.msgtrk.Tracker1"
OBJECT_PATH = "/org/msgtrk/Tracker1"
INTERFACE = "org.msgtrk.Tracker1"
START_TIMEOUT = 20.0
CALL_TIMEOUT_MS = 30000


class SessionError(Exception):
    pass


def remote_error(error):
    """The D-Bus error name of a GLib.Error from a call, or None."""
    return Gio.DBusError.get_remote_error(error)


class Session:
    def __init__(self, build_dir, name, msgtrkd=None, keyring=True, daemon_args=(),
                 base=None):
        self.build_dir = build_dir
        self.name = name
        self.msgtrkd = msgtrkd or os.path.join(build_dir, "helper", "msgtrkd", "msgtrkd")
        self.with_keyring = keyring
        self.daemon_args = list(daemon_args)
        self.base = base or tempfile.mkdtemp(prefix="msgtrkd-%s-" % name)
        self.home = os.path.join(self.base, "home")
        self.runtime = os.path.join(self.base, "run")
        self.store_dir = os.path.join(self.base, "store")
        self.keyring_dir = os.path.join(self.home, ".local", "share", "keyrings")
        os.makedirs(self.keyring_dir, exist_ok=True)
        os.makedirs(self.runtime, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ)
        self.env.update({
            "HOME": self.home,
            "XDG_RUNTIME_DIR": self.runtime,
            "XDG_DATA_HOME": os.path.join(self.home, ".local", "share"),
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "GSETTINGS_SCHEMA_DIR": os.path.join(build_dir, "data", "gsettings"),
            "GSETTINGS_BACKEND": "memory",
            "G_MESSAGES_DEBUG": "all",
            "NO_AT_BRIDGE": "1",
        })
        self.bus = None
        self.keyring = None
        self.daemon = None
        self.conn = None
        self.signals = []
        self._sub = None
        self.daemon_runs = 0
        self._files = []

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
            self.keyring.stdin.write(b"msgtrk-test-password\n")
            self.keyring.stdin.close()
            self.wait_for("the keyring", lambda: self.has_owner("org.freedesktop.secrets"))
        self.start_daemon()
        return self

    def start_daemon(self):
        self.daemon_runs += 1
        self.log_path = os.path.join(self.base, "msgtrkd-%d.log" % self.daemon_runs)
        log = self._open_log(os.path.basename(self.log_path))
        args = [self.msgtrkd, "--store-dir", self.store_dir, "--verbose"] + self.daemon_args
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
        try:
            code = self.daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            code = self.daemon.wait()
        self.daemon = None
        self.wait_for("msgtrkd to leave the bus", lambda: not self.has_owner(BUS_NAME))
        return code

    def stop(self):
        code = None
        try:
            code = self.stop_daemon()
        finally:
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
                try:
                    self.keyring.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.keyring.kill()
                    self.keyring.wait()
                self.keyring = None
            if self.bus is not None:
                self.bus.stdin.close()
                self.bus.stdout.close()
                try:
                    self.bus.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.bus.kill()
                    self.bus.wait()
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
        self.signals.append(params.unpack())

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
        import json
        return json.loads(self.call("GetRoute", "(s)", (ident,), "(s)")[0])

    def list(self):
        import json
        return json.loads(self.call("List", None, (), "(s)")[0])

    def export_url(self, ident):
        return self.call("ExportUrl", "(s)", (ident,), "(s)")[0]

    def import_url(self, url):
        return self.call("ImportUrl", "(s)", (url,), "(s)")[0]

    def ingest(self, raw):
        return self.call("IngestReport", "(ay)", (raw,), "(s)")[0]

    def forget(self, ident):
        return self.call("Forget", "(s)", (ident,))
