#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-e2e.py: real Claws Mail with the msgtrk plugin, end to end.

Claws Mail runs under Xvfb with a pre-seeded account whose SMTP server is the demo
network's submission relay (tools/demonet.py); a private D-Bus session bus carries an
unlocked gnome-keyring and the real msgtrkd (fast polling, --mtqp-override for the demo
hops). xdotool composes a message, ticks Options ▸ Track this message and sends it. Then:
the submission relay got ENVID and MTRK (its tracking record exists), msgtrkd recorded the
message and tracks it to "delivered", the Sent folder's row carries the status tag, and
Message ▸ Track… asks msgtrkd to open the viewer. Screenshots go to
<source>/.ci/artifacts/e2e/.

Skips (77) when msgtrkd, the plugin, Xvfb, claws-mail, xdotool, ImageMagick, dbus-daemon
or gnome-keyring-daemon is missing. Never uses fixed ports or displays.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
SRC = os.environ.get("MSGTRK_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("MSGTRK_BUILD_ROOT", os.path.join(SRC, "_build", "lead"))
ARTIFACTS = os.path.join(SRC, ".ci", "artifacts", "e2e")
RECIPIENT = "alice@example.net"
SENDER = "sender@demo.test"
SUBJECT = "Tracked from Claws"
STEP_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 90.0

sys.path.insert(0, os.path.join(SRC, "tools"))


def log(msg):
    print("# " + msg, flush=True)


def skip(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(SKIP)


def wait_for(what, pred, timeout=STEP_TIMEOUT, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Run:
    def __init__(self):
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="msgtrk-claws-e2e-")
        os.chmod(self.dir, 0o755)
        self.env = dict(os.environ)
        self.net = None

    def spawn(self, name, argv, env=None, **kw):
        logf = open(os.path.join(self.dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, env=env or self.env, stdout=kw.pop("stdout", logf),
                             stderr=logf, **kw)
        self.procs.append((name, p))
        return p

    def logtext(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def xdo(self, *args, check=True):
        r = subprocess.run(["xdotool"] + list(args), env=self.env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("xdotool %s failed: %s" % (" ".join(args), r.stderr))
        return r.stdout.strip()

    def window(self, name, timeout=STEP_TIMEOUT):
        def find():
            out = self.xdo("search", "--onlyvisible", "--name", name, check=False)
            return out.split()[-1] if out else None
        try:
            return wait_for("a window named %r" % name, find, timeout)
        except AssertionError:
            ids = self.xdo("search", "--onlyvisible", "--name", ".", check=False).split()
            names = [self.xdo("getwindowname", i, check=False) for i in ids]
            self.shot("claws-failure.png")
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
                       capture_output=True)
        log("screenshot " + path)
        return path

    def gdbus(self, method, *args):
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Tracker1",
                            "--object-path", "/org/msgtrk/Tracker1",
                            "--method", "org.msgtrk.Tracker1." + method] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("gdbus %s: %s" % (method, r.stderr))
        return r.stdout

    def cleanup(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.net is not None:
            self.net.stop()
        if os.environ.get("MSGTRK_E2E_KEEP"):
            log("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def demo_network(base):
    """tools/demonet.py's network, started without its GI side (not needed here)."""
    import demonet
    net = demonet.DemoNetwork.__new__(demonet.DemoNetwork)
    net.build_dir = os.path.abspath(BUILD)
    net.Msgtrk = None
    net._own_base = False
    net.base = base
    os.makedirs(base, exist_ok=True)
    net.own(base)
    net.hops = {}
    net.start()
    return net


def write_claws_config(cfg, mail, plugin, smtp_port):
    os.makedirs(cfg)
    for d in ("inbox", "sent", "queue", "draft", "trash"):
        os.makedirs(os.path.join(mail, d))
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

[Plugins_GTK3]
%s
""" % plugin)
    # Track by default off: the test ticks Options > Track this message itself.
    with open(os.path.join(cfg, "msgtrkrc"), "w") as f:
        f.write("[Plugin]\nasked-tags-column=true\n")


def main():
    msgtrkd = os.path.join(BUILD, "helper", "msgtrkd", "msgtrkd")
    plugin = os.path.join(BUILD, "plugin", "claws", "msgtrk.so")
    if not os.access(msgtrkd, os.X_OK):
        skip("msgtrkd is not built yet (%s)" % msgtrkd)
    if not os.path.exists(plugin):
        skip("the Claws Mail plugin is not built (claws-mail development files missing)")
    ldd = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    if "libasan" in ldd or "libubsan" in ldd:
        skip("sanitizer build: an instrumented plugin cannot load into an uninstrumented "
             "claws-mail")
    for tool in ("Xvfb", "claws-mail", "xdotool", "import", "dbus-daemon",
                 "gnome-keyring-daemon", "gdbus"):
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
    for rel in ("server/relay/msgtrk-relay", "server/mtqpd/mtqpd"):
        if not os.access(os.path.join(BUILD, rel), os.X_OK):
            skip("%s is not built" % rel)

    run = Run()
    ok = False
    try:
        ok = scenario(run, msgtrkd, plugin)
    finally:
        if not ok:
            for name in ("msgtrkd", "claws", "keyring", "dbus", "xvfb"):
                text = run.logtext(name)
                if text:
                    sys.stderr.write("--- %s log ---\n%s\n" % (name, text[-6000:]))
            if run.net is not None:
                sys.stderr.write(run.net.logs()[-8000:])
        run.cleanup()
    return 0 if ok else 1


def scenario(run, msgtrkd, plugin):
    d = run.dir
    home = os.path.join(d, "home")
    os.makedirs(os.path.join(home, ".local", "share", "keyrings"))
    run.env.update({
        "HOME": home,
        "XDG_RUNTIME_DIR": os.path.join(d, "run"),
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "NO_AT_BRIDGE": "1",
        "GSETTINGS_BACKEND": "memory",
        "GSETTINGS_SCHEMA_DIR": os.path.join(BUILD, "data", "gsettings"),
        "LD_LIBRARY_PATH": os.path.join(BUILD, "lib") + ":" + os.environ.get("LD_LIBRARY_PATH", ""),
    })
    os.makedirs(run.env["XDG_RUNTIME_DIR"], mode=0o700)

    # X server on a free display
    rfd, wfd = os.pipe()
    run.spawn("xvfb", ["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1280x800x24",
                       "-nolisten", "tcp"], pass_fds=(wfd,))
    os.close(wfd)
    display = b""
    while not display.endswith(b"\n"):
        chunk = os.read(rfd, 64)
        if not chunk:
            raise AssertionError("Xvfb did not start")
        display += chunk
    os.close(rfd)
    run.env["DISPLAY"] = ":" + display.decode().strip()
    log("Xvfb on " + run.env["DISPLAY"])

    # Demo network (submission relay → relay → mx)
    run.net = demo_network(os.path.join(d, "net"))
    submit = run.net.hops["submit"]
    log("submission relay on 127.0.0.1:%d" % submit.relay.port)

    # Private session bus; the viewer is D-Bus activated if it is built.
    services = os.path.join(d, "services")
    os.makedirs(services)
    viewer = os.path.join(BUILD, "helper", "viewer", "msgtrk-viewer")
    if os.access(viewer, os.X_OK):
        with open(os.path.join(services, "org.msgtrk.Viewer.service"), "w") as f:
            f.write("[D-BUS Service]\nName=org.msgtrk.Viewer\nExec=%s --gapplication-service\n"
                    % viewer)
    conf = os.path.join(d, "session.conf")
    with open(conf, "w") as f:
        f.write("""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=%s</listen>
  <auth>EXTERNAL</auth>
  <servicedir>%s</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""" % (d, services))
    bus = run.spawn("dbus", ["dbus-daemon", "--config-file", conf, "--nofork",
                             "--print-address=1"], stdout=subprocess.PIPE)
    addr = bus.stdout.readline().decode().strip()
    if not addr:
        raise AssertionError("dbus-daemon did not start")
    run.env["DBUS_SESSION_BUS_ADDRESS"] = addr

    # Unlocked keyring
    kr = run.spawn("keyring", ["gnome-keyring-daemon", "--foreground", "--unlock",
                               "--components=secrets"], stdin=subprocess.PIPE)
    kr.stdin.write(b"e2e-keyring-password\n")
    kr.stdin.close()
    time.sleep(1.0)

    # msgtrkd with fast polling and the demo hops' MTQP servers
    argv = [msgtrkd, "--store-dir", os.path.join(d, "store"), "--first-poll", "1",
            "--poll-schedule", "1,2,4",
            "--mtqp-override", "127.0.0.1=127.0.0.1:%d" % submit.mtqpd.port]
    for hop in run.net.hops.values():
        if hop.mtqpd is not None:
            argv += ["--mtqp-override", "%s=127.0.0.1:%d" % (hop.hostname, hop.mtqpd.port)]
    run.spawn("msgtrkd", argv)

    def has_owner():
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                            "--object-path", "/org/freedesktop/DBus", "--method",
                            "org.freedesktop.DBus.NameHasOwner", "org.msgtrk.Tracker1"],
                           env=run.env, capture_output=True, text=True)
        return "true" in r.stdout
    wait_for("msgtrkd on the session bus", has_owner)

    # Claws Mail
    cfg = os.path.join(d, "claws")
    mail = os.path.join(d, "Mail")
    write_claws_config(cfg, mail, plugin, submit.relay.port)
    claws = run.spawn("claws", ["claws-mail", "--alternate-config-dir", cfg])
    main_win = run.window("Claws Mail")
    time.sleep(2.0)
    maps = open("/proc/%d/maps" % claws.pid).read()
    if plugin not in maps:
        raise AssertionError("the plugin was not loaded:\n" + run.logtext("claws")[-3000:])
    log("Claws Mail is up with the plugin")

    # Compose
    run.keys(main_win, "ctrl+m")
    compose = run.window("Compose message")
    time.sleep(1.0)
    run.type(compose, RECIPIENT)
    run.keys(compose, "alt+u")
    run.type(compose, SUBJECT)
    run.keys(compose, "Return")
    for line in ("Hello Alice,", "this message is tracked.", "Regards, Sender"):
        run.type(compose, line)
        run.keys(compose, "Return")
    # Options > Track this message (the last item of the Options menu)
    run.keys(compose, "alt+o")
    time.sleep(0.5)
    run.keys(compose, "Up")
    run.shot("claws-compose-options.png")
    run.keys(compose, "Return")
    time.sleep(0.5)
    run.keys(compose, "ctrl+Return")
    wait_for("the compose window to close", lambda: compose not in run.windows("Compose message"))
    log("sent from Claws")

    # The submission relay got ENVID and MTRK: it keeps a tracking record
    tracking = os.path.join(submit.state_dir, "tracking")
    wait_for("a tracking record at the submission relay",
             lambda: any(os.scandir(tracking)) if os.path.isdir(tracking) else False)
    log("submission relay has a tracking record")

    # msgtrkd recorded it and tracks it to delivered
    def delivered():
        msgs = json.loads(eval(run.gdbus("List").strip())[0])
        for m in msgs:
            if m.get("subject") == SUBJECT and m.get("state") == "delivered":
                return m
        return None
    try:
        m = wait_for("msgtrkd to see the message delivered", delivered, DELIVERY_TIMEOUT, 1.0)
    except AssertionError:
        log("msgtrkd List: " + run.gdbus("List"))
        raise
    log("msgtrkd: %s %s (%s)" % (m["envid"], m["state"], m["summary"]))
    if m.get("tracking") != "mtqp":
        raise AssertionError("expected MTQP tracking, got %r" % m.get("tracking"))
    # MAIL FROM carried ENVID and MTRK, RCPT carried ORCPT: the relay's record says so
    records = ""
    for entry in os.scandir(tracking):
        with open(entry.path, errors="replace") as f:
            records += f.read()
    for needle in ("Envid: " + m["envid"], "Authenticator: ",
                   "Original-Recipient: rfc822; " + RECIPIENT):
        if needle not in records:
            raise AssertionError("the submission relay's tracking record lacks %r" % needle)
    log("the submission relay got ENVID %s with MTRK and ORCPT" % m["envid"])

    # The Sent folder's row shows the status (Claws's tag state)
    def tag_set():
        try:
            with open(os.path.join(cfg, "tagsrc"), errors="replace") as f:
                return "Delivered" in f.read()
        except FileNotFoundError:
            return False
    wait_for("a Delivered tag in Claws's tags", tag_set, 20)
    run.keys(main_win, "g")
    chooser = run.window("Select folder")
    run.type(chooser, "sent")
    time.sleep(0.5)
    run.keys(chooser, "Return")
    time.sleep(2.0)
    run.keys(main_win, "Home")
    time.sleep(1.0)
    run.shot("claws-sent-folder.png")

    # Message > Track… (the plugin's first item at the end of the Message menu)
    before = set(run.windows("msgtrk")) | set(run.windows("Delivery"))
    run.keys(main_win, "alt+m")
    time.sleep(0.5)
    for _ in range(4):
        run.keys(main_win, "Up")
    run.shot("claws-message-menu.png")
    run.keys(main_win, "Return")
    time.sleep(3.0)
    if os.access(viewer, os.X_OK):
        def viewer_up():
            now = set(run.windows("msgtrk")) | set(run.windows("Delivery")) | \
                set(run.windows(SUBJECT))
            return (now - before) or None
        wait_for("the viewer window", viewer_up)
        log("the viewer is open")
        run.shot("claws-viewer.png")
    else:
        run.shot("claws-viewer.png")
        log("viewer not built: Track asked msgtrkd (screenshot shows its answer)")
    print("1..1\nok 1 - tracked send from Claws Mail delivered and shown", flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
