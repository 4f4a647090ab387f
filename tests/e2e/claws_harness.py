# SPDX-License-Identifier: GPL-3.0-or-later
"""claws_harness.py: one implementation of "real Claws Mail with the msgtrk plugin".

Shared by every end-to-end test in tests/e2e/: Xvfb on a free display (-displayfd), the
demo network of reference servers (tools/demonet.py, ports chosen by the kernel), a private
D-Bus session bus (dbus-daemon with our own config and service directory), optionally an
unlocked gnome-keyring and the real msgtrkd (fast polling, --mtqp-override for the demo
hops), and Claws Mail with a pre-seeded configuration (MH mailbox, SMTP account on the
submission relay, the plugin in [Plugins_GTK3]). xdotool drives the UI; ImageMagick takes
screenshots into <source>/.ci/artifacts/e2e/.

Each test calls main(name, scenario): prerequisites are checked first (exit 77 when
msgtrkd, the plugin, Xvfb, claws-mail, xdotool, ImageMagick, dbus-daemon or
gnome-keyring-daemon is missing, or in a sanitizer build), the scenario runs with a
bounded time per step, every process started is ended by its PID, and the logs are
printed when the scenario fails. MSGTRK_E2E_KEEP=1 keeps the temporary directory.

Limits: STEP_TIMEOUT per UI step, DELIVERY_TIMEOUT for tracking to settle.
Never: use fixed ports or displays, print or store a tracking secret (an mtqp:// link is
read from the clipboard into memory only), leave a process behind.
"""

import ast
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
SRC = os.environ.get("MSGTRK_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("MSGTRK_BUILD_ROOT", os.path.join(SRC, "_build", "lead"))
ARTIFACTS = os.path.join(SRC, ".ci", "artifacts", "e2e")
RECIPIENT = "alice@example.net"
SENDER = "sender@demo.test"
STEP_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 90.0
DIALOG_TITLE = "Message tracking unavailable"
TRACK_MARK = "X-Msgtrk-Track: yes"
# The plugin's items, appended in this order at the end of Claws's Message menu (Up from no
# selection goes to the last item; keyboard navigation skips greyed-out items, so
# message_menu() counts only those the plugin's debug line says are sensitive).
MENU_ORDER = ["track", "copy-link", "links", "import", "send-tracked"]
# Where the main window's toolbar Send button is (this configuration, no window manager).
TOOLBAR_SEND = (176, 55)

sys.path.insert(0, os.path.join(SRC, "tools"))
sys.path.insert(0, os.path.join(SRC, "tests", "cli"))  # testbus.py


def log(msg):
    print("# " + msg, flush=True)


def skip(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(SKIP)


def wait_for(what, pred, timeout=STEP_TIMEOUT, interval=0.2, error=AssertionError):
    import demonet
    return demonet.wait_for(what, pred, timeout, interval, error)


def setup_session_env(env, directory, build):
    """A throw-away desktop session in directory for env: HOME (with an empty keyrings
    directory), XDG_RUNTIME_DIR (0700) and the XDG dirs, GSettings in memory with the build's
    schemas, the build's libmsgtrk first on LD_LIBRARY_PATH, no accessibility bus."""
    home = os.path.join(directory, "home")
    os.makedirs(os.path.join(home, ".local", "share", "keyrings"))
    env.update({
        "HOME": home,
        "XDG_RUNTIME_DIR": os.path.join(directory, "run"),
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "NO_AT_BRIDGE": "1",
        "GSETTINGS_BACKEND": "memory",
        "GSETTINGS_SCHEMA_DIR": os.path.join(build, "data", "gsettings"),
        "LD_LIBRARY_PATH": os.path.join(build, "lib") + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
    })
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)


def start_session_bus(spawn, env, directory, services=None, error=AssertionError):
    """A private session bus (dbus-daemon, its socket and configuration in directory;
    services: a directory of .service files it may activate; eavesdropping allowed, for
    dbus-monitor), started with spawn("dbus", argv, stdout=PIPE); sets
    env["DBUS_SESSION_BUS_ADDRESS"]."""
    from testbus import bus_config
    conf = os.path.join(directory, "session.conf")
    with open(conf, "w") as f:
        f.write(bus_config(directory, services))
    bus = spawn("dbus", ["dbus-daemon", "--config-file", conf, "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE)
    addr = bus.stdout.readline().decode().strip()
    if not addr:
        raise error("dbus-daemon did not start")
    env["DBUS_SESSION_BUS_ADDRESS"] = addr


def start_xvfb(spawn, env, error=AssertionError):
    """Xvfb on a display it picks (-displayfd: fixed numbers collide with other runs),
    started with spawn("xvfb", argv, pass_fds=...); sets env["DISPLAY"]."""
    rfd, wfd = os.pipe()
    spawn("xvfb", ["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1280x800x24",
                   "-nolisten", "tcp"], pass_fds=(wfd,))
    os.close(wfd)
    display = b""
    while not display.endswith(b"\n"):
        chunk = os.read(rfd, 64)
        if not chunk:
            raise error("Xvfb did not start")
        display += chunk
    os.close(rfd)
    env["DISPLAY"] = ":" + display.decode().strip()


def demo_network(base):
    """tools/demonet.py's network, started without its GI side (not needed here)."""
    import demonet
    os.makedirs(base, exist_ok=True)
    net = demonet.DemoNetwork(BUILD, base_dir=base, gi=False)
    net.start()
    return net


def write_claws_config(cfg, mail, plugin, smtp_port, local_mbox=None):
    """A Claws configuration without the first-run wizard: an MH mailbox, account 1 sending
    over SMTP to smtp_port (SMTP only), and with local_mbox a second account that fetches
    from that local mbox file (Get from all accounts), filtering on receipt."""
    os.makedirs(cfg)
    for d in ("inbox", "sent", "queue", "draft", "trash"):
        os.makedirs(os.path.join(mail, d), exist_ok=True)   # the bench fills sent first
    with open(os.path.join(cfg, "folderlist.xml"), "w") as f:
        f.write("""<?xml version="1.0" encoding="UTF-8"?>
<folderlist>
  <folder type="mh" name="Mailbox" path="%s" collapsed="0">
    <folderitem type="inbox" name="inbox" path="inbox"/>
    <folderitem type="outbox" name="sent" path="sent"/>
    <folderitem type="queue" name="queue" path="queue"/>
    <folderitem type="draft" name="draft" path="draft"/>
    <folderitem type="trash" name="trash" path="trash"/>
  </folder>
</folderlist>
""" % mail)
    with open(os.path.join(cfg, "accountrc"), "w") as f:
        f.write("""[Account: 1]
config_version=4
account_name=Demo sender
is_default=1
name=Demo Sender
address=%s
protocol=4
smtp_server=127.0.0.1
set_smtpport=1
smtp_port=%d
use_smtp_auth=0
ssl_smtp=0
gen_msgid=1
set_domain=1
domain=laptop.demo.test
""" % (SENDER, smtp_port))
        if local_mbox:
            # protocol 3 is A_LOCAL (prefs_account.h: POP3, IMAP4, NNTP, LOCAL, NONE)
            f.write("""
[Account: 2]
config_version=4
account_name=Local spool
is_default=0
name=Demo Sender
address=%s
protocol=3
local_mbox=%s
use_mail_command=0
smtp_server=127.0.0.1
set_smtpport=1
smtp_port=%d
receive_at_get_all=1
filter_on_receive=1
filterhook_on_receive=1
inbox=#mh/Mailbox/inbox
gen_msgid=1
""" % (SENDER, local_mbox, smtp_port))
    with open(os.path.join(cfg, "clawsrc"), "w") as f:
        f.write("""[Common]
config_version=4
summary_col_show_tags=1
enable_aspell=0
check_while_typing=0
mainwin_x=0
mainwin_y=0
mainwin_width=1270
mainwin_height=780
folderview_width=200
summaryview_width=1050
mainview_width=1050
summary_col_size_subject=220
summary_col_size_tags=220
confirm_on_exit=0
check_on_startup=0
autochk_newmail=0
warn_empty_subj=0
send_dialog_invisible=1
show_trayicon=0
qs_on_exit=0
warn_queued_on_exit=0

[Plugins_GTK3]
%s
""" % plugin)
    # Track by default off: the tests tick Options > Track this message themselves.
    with open(os.path.join(cfg, "msgtrkrc"), "w") as f:
        f.write("[Plugin]\nasked-tags-column=true\n")


class SmtpTap:
    """A TCP proxy between Claws and the submission relay that keeps every MAIL FROM
    command the client sent (the relay does not log them), and can play "relay down"
    (nothing listens: connections are refused) and come back on the same port, and "reply
    lost" (drop_eom_reply: the relay's reply to the end of DATA is not passed on, the
    connection is closed instead: the relay has the message, the client never hears)."""

    def __init__(self, target_port):
        self.target = target_port
        self.mail_from = []          # every MAIL FROM line, in order
        self.drop_eom_reply = False
        self.dropped_eom_replies = 0
        self.lock = threading.Lock()
        self.sock = None
        self.port = 0
        self.up()

    def up(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(16)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def _accept(self, lsock):
        while True:
            try:
                client, _ = lsock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            state = {"eom": False}   # the client's "." is on its way to the relay
            threading.Thread(target=self._pump, args=(client, server, True, state),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, state),
                             daemon=True).start()

    def _pump(self, src, dst, from_client, state):
        buf = b""
        in_data = False
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if not from_client:
                    if state["eom"] and self.drop_eom_reply:
                        with self.lock:
                            self.dropped_eom_replies += 1
                        break   # the reply to the "." is lost: both sides closed
                    dst.sendall(chunk)
                    continue
                # Lines first, then on: the flag is set before the relay can answer.
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.rstrip(b"\r")
                    if in_data:
                        in_data = line != b"."
                        state["eom"] = not in_data
                    elif line.upper() == b"DATA":
                        in_data = True
                    elif line.upper().startswith(b"MAIL FROM:"):
                        state["eom"] = False
                        with self.lock:
                            self.mail_from.append(line.decode("utf-8", "replace"))
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sk in (src, dst):
                try:
                    sk.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    def commands(self):
        with self.lock:
            return list(self.mail_from)


def tracked_mail_from(line):
    """Whether a MAIL FROM line carries the tracking parameters (ENVID and MTRK)."""
    return re.search(r"\sENVID=\S+", line) is not None and \
        re.search(r"\sMTRK=\S+", line) is not None


class Run:
    """One scenario's processes, directories and UI helpers."""

    def __init__(self, name):
        self.name = name
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="msgtrk-claws-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.env = dict(os.environ)
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.net = None
        self.msgtrkd_exe = os.path.join(BUILD, "helper", "msgtrkd", "msgtrkd")
        self.plugin = os.path.join(BUILD, "plugin", "claws", "msgtrk.so")
        self.viewer = os.path.join(BUILD, "helper", "viewer", "msgtrk-viewer")
        self.msgtrkd = None
        self.claws = None
        self.main_win = None
        self.cfg = os.path.join(self.dir, "claws")
        self.mail = os.path.join(self.dir, "Mail")

    # --- processes ---
    def spawn(self, name, argv, env=None, **kw):
        logf = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, env=env or self.env, stdout=kw.pop("stdout", logf),
                             stderr=logf, **kw)
        logf.close()
        self.procs.append((name, p))
        return p

    def logtext(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cleanup(self):
        for name, p in reversed(self.procs):
            self.stop(p)
            for stream in (p.stdin, p.stdout):
                if stream is not None:
                    stream.close()
        if self.net is not None:
            self.net.stop()
        if os.environ.get("MSGTRK_E2E_KEEP"):
            log("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self):
        for name in ("msgtrkd", "claws", "keyring", "dbus", "xvfb"):
            text = self.logtext(name)
            if text:
                sys.stderr.write("--- %s log ---\n%s\n" % (name, text[-6000:]))
        try:
            with open(os.path.join(self.cfg, "claws.log"), errors="replace") as f:
                sys.stderr.write("--- Claws's own log (claws.log) ---\n%s\n" % f.read()[-4000:])
        except FileNotFoundError:
            pass
        if self.net is not None:
            sys.stderr.write(self.net.logs()[-8000:])

    # --- the session ---
    def setup_env(self):
        setup_session_env(self.env, self.dir, BUILD)

    def start_x(self):
        start_xvfb(self.spawn, self.env)
        log("Xvfb on " + self.env["DISPLAY"])

    def start_net(self):
        self.net = demo_network(os.path.join(self.dir, "net"))
        log("submission relay on 127.0.0.1:%d" % self.submit.relay.port)

    @property
    def submit(self):
        return self.net.hops["submit"]

    def start_bus(self, msgtrkd=True):
        """A private session bus. msgtrkd leaves when idle (--idle-exit) and comes back by
        D-Bus activation, as installed; with msgtrkd=False it has no service file, so no
        daemon can appear. The viewer is activatable if built."""
        services = os.path.join(self.dir, "services")
        os.makedirs(services)
        if msgtrkd:
            with open(os.path.join(services, "org.msgtrk.Tracker1.service"), "w") as f:
                f.write("[D-BUS Service]\nName=org.msgtrk.Tracker1\nExec=%s\n"
                        % " ".join(self.msgtrkd_argv()))
        if os.access(self.viewer, os.X_OK):
            with open(os.path.join(services, "org.msgtrk.Viewer.service"), "w") as f:
                f.write("[D-BUS Service]\nName=org.msgtrk.Viewer\nExec=%s "
                        "--gapplication-service\n" % self.viewer)
        start_session_bus(self.spawn, self.env, self.dir, services)

    def start_keyring(self):
        kr = self.spawn("keyring", ["gnome-keyring-daemon", "--foreground", "--unlock",
                                    "--components=secrets"], stdin=subprocess.PIPE)
        kr.stdin.write(b"e2e-keyring-password\n")
        kr.stdin.close()
        wait_for("gnome-keyring on the session bus",
                 lambda: self.has_owner("org.freedesktop.secrets"))

    def has_owner(self, name):
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                            "--object-path", "/org/freedesktop/DBus", "--method",
                            "org.freedesktop.DBus.NameHasOwner", name],
                           env=self.env, capture_output=True, text=True, timeout=30)
        return "true" in r.stdout

    def msgtrkd_argv(self):
        """msgtrkd with fast polling and the demo hops' MTQP servers."""
        argv = [self.msgtrkd_exe, "--store-dir", os.path.join(self.dir, "store"),
                "--first-poll", "1", "--poll-schedule", "1,2,4",
                "--mtqp-override", "127.0.0.1=127.0.0.1:%d" % self.submit.mtqpd.port]
        for hop in self.net.hops.values():
            if hop.mtqpd is not None:
                argv += ["--mtqp-override", "%s=127.0.0.1:%d" % (hop.hostname, hop.mtqpd.port)]
        return argv

    def start_msgtrkd(self, extra=()):
        self.msgtrkd = self.spawn("msgtrkd", self.msgtrkd_argv() + list(extra))
        wait_for("msgtrkd on the session bus", lambda: self.has_owner("org.msgtrk.Tracker1"))

    def start_claws(self, local_mbox=None, smtp_port=None, extra_env=None):
        write_claws_config(self.cfg, self.mail, self.plugin,
                           smtp_port or self.submit.relay.port, local_mbox=local_mbox)
        self.launch_claws(extra_env)

    def launch_claws(self, extra_env=None):
        """Starts Claws on the existing configuration (start_claws writes it)."""
        env = dict(self.env)
        env["G_MESSAGES_DEBUG"] = "msgtrk-claws"   # the plugin's menu and status lines
        env.update(extra_env or {})
        argv = ["claws-mail", "--alternate-config-dir", self.cfg]
        wrapper = os.environ.get("MSGTRK_E2E_CLAWS_WRAPPER")
        if wrapper:   # e.g. "valgrind --error-exitcode=1 --log-file=…": see tests/e2e/README
            argv = wrapper.split() + argv
        # After a kill, what the dead Claws left (its control socket, a helper process it
        # forked) can make a new Claws take it for a running one and exit at once: the
        # socket is removed first, and a start that ends at once is tried again.
        sockdir = os.path.join(self.env["XDG_RUNTIME_DIR"], "claws-mail")
        for attempt in range(3):
            if os.path.isdir(sockdir):
                for name in os.listdir(sockdir):
                    if not name.endswith(".lock"):
                        os.unlink(os.path.join(sockdir, name))
            self.claws = self.spawn("claws", argv, env=env)

            def shown():
                out = self.xdo("search", "--onlyvisible", "--name", "Claws Mail", check=False)
                return out.split()[-1] if out else (self.claws.poll() is not None and "gone")
            w = wait_for("Claws Mail's window", shown,
                         STEP_TIMEOUT * (10 if wrapper else 1))
            if w != "gone":
                self.main_win = w
                break
            if True:
                if attempt == 2:
                    raise AssertionError("Claws Mail did not show its window (exit status %r)"
                                         % self.claws.poll())
                log("Claws Mail exited at start (status %r): again" % self.claws.poll())
                time.sleep(2.0)
        time.sleep(2.0)
        with open("/proc/%d/maps" % self.claws.pid) as f:
            maps = f.read()
        if self.plugin not in maps:
            raise AssertionError("the plugin was not loaded:\n" + self.logtext("claws")[-3000:])
        log("Claws Mail is up with the plugin")

    def start_session(self, keyring=True, msgtrkd=True):
        """Everything but Claws, in the usual order: X, network, bus, keyring, msgtrkd."""
        self.setup_env()
        self.start_x()
        self.start_net()
        self.start_bus(msgtrkd=msgtrkd)
        if keyring:
            self.start_keyring()
        if msgtrkd:
            self.start_msgtrkd()

    def start_all(self, keyring=True, msgtrkd=True, local_mbox=None):
        """start_session(), then Claws."""
        self.start_session(keyring, msgtrkd)
        self.start_claws(local_mbox=local_mbox)

    # --- X ---
    def xdo(self, *args, check=True):
        r = subprocess.run(["xdotool"] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("xdotool %s failed: %s" % (" ".join(args), r.stderr))
        return r.stdout.strip()

    def visible_names(self):
        ids = self.xdo("search", "--onlyvisible", "--name", ".", check=False).split()
        return [self.xdo("getwindowname", i, check=False) for i in ids]

    def window(self, name, timeout=STEP_TIMEOUT):
        def find():
            out = self.xdo("search", "--onlyvisible", "--name", name, check=False)
            return out.split()[-1] if out else None
        try:
            return wait_for("a window named %r" % name, find, timeout)
        except AssertionError:
            names = self.visible_names()
            self.shot("%s-failure.png" % self.name)
            raise AssertionError("no window named %r; visible: %r" % (name, names))

    def windows(self, name):
        out = self.xdo("search", "--onlyvisible", "--name", name, check=False)
        return out.split() if out else []

    def focus(self, wid):
        self.xdo("windowfocus", "--sync", wid)

    def keys(self, wid, *keys):
        self.focus(wid)
        for k in keys:
            self.xdo("key", "--clearmodifiers", k)
            time.sleep(0.15)

    def type(self, wid, text):
        self.focus(wid)
        self.xdo("type", "--delay", "20", text)

    def shot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        subprocess.run(["import", "-window", "root", path], env=self.env, check=False,
                       capture_output=True, timeout=60)
        log("screenshot " + path)
        return path

    # --- Claws ---
    def compose(self, subject, lines, to=RECIPIENT, track=True, shot=None):
        """Opens the composer, fills it, ticks Options > Track this message (the last item
        of the Options menu) if track; returns the compose window."""
        self.keys(self.main_win, "ctrl+m")
        compose = self.window("Compose message")
        time.sleep(1.0)
        self.type(compose, to)
        self.keys(compose, "alt+u")
        self.type(compose, subject)
        self.keys(compose, "Return")
        for line in lines:
            self.type(compose, line)
            self.keys(compose, "Return")
        if track:
            self.keys(compose, "alt+o")
            time.sleep(0.5)
            self.keys(compose, "Up")
            if shot:
                self.shot(shot)
            self.keys(compose, "Return")
            time.sleep(0.5)
        return compose

    def kill_claws(self):
        """A crash: SIGKILL, nothing saved."""
        self.claws.kill()
        self.claws.wait()
        wait_for("Claws's windows to go", lambda: not self.windows("Claws Mail"), 10)
        log("Claws Mail killed (SIGKILL)")

    def claws_send_queue(self, shot=None):
        """Claws's own Send (the toolbar button: Claws's queue sender, procmsg_send_queue).
        The Queue folder is opened first: Claws counts its messages only once scanned."""
        self.open_folder("queue")
        self.focus(self.main_win)
        self.xdo("mousemove", "--window", self.main_win, str(TOOLBAR_SEND[0]),
                 str(TOOLBAR_SEND[1]))
        if shot:
            self.shot(shot)
        self.xdo("click", "1")

    def wait_closed(self, compose):
        wait_for("the compose window to close",
                 lambda: compose not in self.windows("Compose message"))

    def send(self, compose):
        self.keys(compose, "ctrl+Return")

    def send_later(self, compose):
        self.keys(compose, "ctrl+shift+s")

    def open_folder(self, name):
        """View > Go to > Folder… (key g): a chooser with a search field."""
        self.keys(self.main_win, "g")
        chooser = self.window("Select folder")
        self.type(chooser, name)
        time.sleep(0.5)
        self.keys(chooser, "Return")
        time.sleep(2.0)

    def show_sent(self, shot=None):
        """Opens Sent with its first row selected (Home); then the screenshot shot."""
        self.open_folder("sent")
        self.keys(self.main_win, "Home")
        time.sleep(1.0)
        if shot:
            self.shot(shot)

    def wait_sent(self, subject):
        """Waits until the message left the queue and is in Sent; its Sent copies."""
        wait_for("the queue to be empty", lambda: not self.folder_has("queue", subject))
        return wait_for("the message in Sent", lambda: self.folder_has("sent", subject))

    def message_menu(self, item, shot=None):
        """Opens Message and activates one of the plugin's items (MENU_ORDER), counting
        the sensitive ones from the plugin's debug line for the opened menu."""
        before = self.claws_log().count("menu: Track")
        self.keys(self.main_win, "alt+m")
        wait_for("the plugin to set its menu items",
                 lambda: self.claws_log().count("menu: Track") > before, 10, 0.1)
        line = [ln for ln in self.claws_log().splitlines() if "menu: Track" in ln][-1]
        track_on = "menu: Track on" in line
        send_on = "Send queued tracked on" in line
        sensitive = [i for i in MENU_ORDER
                     if (i not in ("track", "copy-link") or track_on)
                     and (i != "send-tracked" or send_on)]
        if item not in sensitive:
            self.keys(self.main_win, "Escape")
            raise AssertionError("Message > %s is greyed out (%s)" % (item, line.strip()))
        time.sleep(0.3)
        for _ in range(len(sensitive) - sensitive.index(item)):
            self.keys(self.main_win, "Up")
        if shot:
            self.shot(shot)
        self.keys(self.main_win, "Return")

    def dialog(self, title=DIALOG_TITLE, timeout=STEP_TIMEOUT):
        return self.window(title, timeout)

    def claws_log(self):
        """Claws's standard output and error."""
        return self.logtext("claws")

    def protocol_log_since(self, since):
        """The lines of claws.log stamped at or after since (a time.time() value)."""
        stamp = time.strftime("[%Y-%m-%d %H:%M:%S]", time.localtime(int(since)))
        return "".join(ln for ln in self.protocol_log().splitlines(True)
                       if ln.startswith("[") and ln[:21] >= stamp)

    def protocol_log(self):
        """Claws's own log file (claws.log: the plugin's log_message lines)."""
        try:
            with open(os.path.join(self.cfg, "claws.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # --- folders ---
    def mh_files(self, folder):
        d = os.path.join(self.mail, folder)
        out = []
        for name in sorted(os.listdir(d), key=lambda n: int(n) if n.isdigit() else 0):
            if name.isdigit():
                with open(os.path.join(d, name), "rb") as f:
                    out.append((name, f.read().decode("utf-8", "replace")))
        return out

    def folder_has(self, folder, subject):
        return [t for _, t in self.mh_files(folder) if "Subject: " + subject in t]

    def tag_known(self, text):
        try:
            with open(os.path.join(self.cfg, "tagsrc"), errors="replace") as f:
                return text in f.read()
        except FileNotFoundError:
            return False

    # --- the network ---
    def tracking_records(self):
        tracking = os.path.join(self.submit.state_dir, "tracking")
        out = []
        if os.path.isdir(tracking):
            for entry in os.scandir(tracking):
                with open(entry.path, errors="replace") as f:
                    out.append(f.read())
        return out

    def delivered_to(self, address, subject):
        """Messages with this Subject in the final hop's Maildir for address."""
        out = []
        for hop in self.net.hops.values():
            base = os.path.join(hop.maildir_root, address)
            for sub in ("new", "cur"):
                d = os.path.join(base, sub)
                if not os.path.isdir(d):
                    continue
                for name in os.listdir(d):
                    with open(os.path.join(d, name), "rb") as f:
                        text = f.read().decode("utf-8", "replace")
                    if "Subject: " + subject in text:
                        out.append(text)
        return out

    def sender_dsns(self):
        """DSNs the demo network delivered to the sender's mailbox (submission hop)."""
        out = []
        d = os.path.join(self.submit.maildir_root, SENDER, "new")
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
        return out

    # --- msgtrkd ---
    def gdbus(self, method, *args):
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Tracker1",
                            "--object-path", "/org/msgtrk/Tracker1",
                            "--method", "org.msgtrk.Tracker1." + method] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("gdbus %s: %s" % (method, r.stderr))
        return r.stdout

    @staticmethod
    def _gvariant_string(out):
        # gdbus prints "('…',)": a Python literal for the plain strings msgtrkd returns.
        return ast.literal_eval(out.strip())[0]

    def msgtrkd_list(self):
        return json.loads(self._gvariant_string(self.gdbus("List")))

    def msgtrkd_route(self, ident):
        return json.loads(self._gvariant_string(self.gdbus("GetRoute", ident)))

    def find_message(self, subject, state=None):
        for m in self.msgtrkd_list():
            if m.get("subject") == subject and (state is None or m.get("state") == state):
                return m
        return None

    def wait_delivered(self, subject):
        try:
            return wait_for("msgtrkd to see %r delivered" % subject,
                            lambda: self.find_message(subject, "delivered"),
                            DELIVERY_TIMEOUT, 1.0)
        except AssertionError:
            log("msgtrkd List: " + self.gdbus("List"))
            raise


def url_envid(url):
    """msgtrk_url_parse from the built libmsgtrk (ctypes): the link's ENVID, or raises.
    The link itself is never printed: errors name only what failed."""
    lib = ctypes.CDLL(os.path.join(BUILD, "lib", "libmsgtrk-1.0.so.0"))
    gobj = ctypes.CDLL("libgobject-2.0.so.0")
    glib = ctypes.CDLL("libglib-2.0.so.0")

    class GError(ctypes.Structure):
        _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int),
                    ("message", ctypes.c_char_p)]
    lib.msgtrk_url_parse.restype = ctypes.c_void_p
    lib.msgtrk_url_parse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(GError))]
    lib.msgtrk_url_get_envid.restype = ctypes.c_char_p
    lib.msgtrk_url_get_envid.argtypes = [ctypes.c_void_p]
    gobj.g_object_unref.argtypes = [ctypes.c_void_p]
    glib.g_error_free.argtypes = [ctypes.POINTER(GError)]
    err = ctypes.POINTER(GError)()
    url_obj = lib.msgtrk_url_parse(url.encode(), ctypes.byref(err))
    if not url_obj:
        why = err.contents.code if err else -1
        if err:
            glib.g_error_free(err)
        raise AssertionError("msgtrk_url_parse refused the clipboard's link (error code %d)"
                             % why)
    envid = lib.msgtrk_url_get_envid(url_obj).decode()
    gobj.g_object_unref(url_obj)
    return envid


def check_prerequisites(keyring=True):
    run_msgtrkd = os.path.join(BUILD, "helper", "msgtrkd", "msgtrkd")
    plugin = os.path.join(BUILD, "plugin", "claws", "msgtrk.so")
    if not os.access(run_msgtrkd, os.X_OK):
        skip("msgtrkd is not built yet (%s)" % run_msgtrkd)
    if not os.path.exists(plugin):
        skip("the Claws Mail plugin is not built (claws-mail development files missing)")
    ldd = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    if "libasan" in ldd or "libubsan" in ldd:
        skip("sanitizer build: an instrumented plugin cannot load into an uninstrumented "
             "claws-mail")
    tools = ["Xvfb", "claws-mail", "xdotool", "import", "dbus-daemon", "gdbus"]
    if keyring:
        tools.append("gnome-keyring-daemon")
    for tool in tools:
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
    for rel in ("server/relay/msgtrk-relay", "server/mtqpd/mtqpd"):
        if not os.access(os.path.join(BUILD, rel), os.X_OK):
            skip("%s is not built" % rel)


def main(name, scenario, keyring=True, tools=()):
    """Runs scenario(run) -> description; prints TAP; returns the exit status."""
    check_prerequisites(keyring)
    for tool in tools:
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
    run = Run(name)
    ok = False
    what = name
    try:
        what = scenario(run)
        ok = True
    except AssertionError as e:
        if "DISPLAY" in run.env:
            run.shot("%s-failure.png" % name)
        print("1..1\nnot ok 1 - %s" % name, flush=True)
        for line in str(e).splitlines():
            print("# " + line, flush=True)
    finally:
        if not ok:
            run.dump_logs()
        run.cleanup()
    if ok:
        print("1..1\nok 1 - %s" % what, flush=True)
    return 0 if ok else 1
