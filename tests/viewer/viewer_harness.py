# SPDX-License-Identifier: GPL-3.0-or-later
"""viewer_harness.py: one implementation of "msgtrk-viewer under Xvfb against a fake msgtrkd".

What: shared by the viewer's screenshot tests (test-viewer-screenshot.py,
  test-viewer-map-screenshot.py and, through the latter, test-viewer-map-demo.py): the
  prerequisite check (exit 77), Xvfb on a free display (-displayfd), a private D-Bus session
  bus (tests/cli/testbus.py) with a fake msgtrkd on it (tests/cli/fake-msgtrkd.py or
  fake-map-msgtrkd.py), the viewer's environment (temporary HOME and XDG_RUNTIME_DIR,
  memory GSettings, X11 backend, no accessibility bus), the processes the test starts,
  xdotool and ImageMagick helpers, and the screenshots, kept in <source>/.ci/artifacts/ and
  the build directory under the names the tests give them.
How: `with ViewerSession(opts, "prefix", fake=...) as s:` starts everything; leaving the
  block stops every process started, by its own handle (viewers first, the bus and Xvfb
  last), and removes the temporary directory.
Limits: XVFB_SCREEN; WINDOW_TIMEOUT for a window to appear; PROCESS_STOP_TIMEOUT for a
  process to end on SIGTERM before it is killed.
Never: uses a fixed display or the user's session bus, leaves a process behind.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from testbus import FakeDaemon, PrivateBus, Tap, wait_for  # noqa: E402,F401 (re-exported)

SKIP = 77
XVFB_SCREEN = "1280x800x24"
WINDOW_TIMEOUT = 30
PROCESS_STOP_TIMEOUT = 10
# What every viewer screenshot test needs.
TOOLS = ("Xvfb", "xdotool", "import", "identify", "convert", "dbus-daemon")


def missing_tool(extra=()):
    """The first of TOOLS and @extra that is not installed, or None."""
    for tool in tuple(TOOLS) + tuple(extra):
        if shutil.which(tool) is None:
            return tool
    return None


def skip(why, tap=True):
    """Say why the test is skipped (a TAP plan if @tap) and return the skip exit status."""
    print(("1..0 # SKIP %s" if tap else "skipping: %s") % why, flush=True)
    return SKIP


def start_xvfb():
    """Xvfb on a display it picks itself; returns (process, ":N")."""
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", XVFB_SCREEN,
                             "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    if not data.strip():
        proc.kill()
        proc.wait()
        raise RuntimeError("Xvfb did not report a display")
    return proc, ":" + data.decode().strip()


def stop(proc):
    """SIGTERM, then SIGKILL after PROCESS_STOP_TIMEOUT; nothing if already ended."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=PROCESS_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MapFakeDaemon(FakeDaemon):
    """fake-map-msgtrkd.py (the demo message with addresses the map can place); @route:
    serve that GetRoute JSON as the demo message's route instead."""

    def __init__(self, bus, xml, record, route=None):  # noqa: super().__init__ not wanted
        self.record = record
        self.bus = bus
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "fake-map-msgtrkd.py"), "--xml", xml,
             "--record", record] + (["--route", route] if route else []),
            env=bus.env(), stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            stop(self.proc)
            raise RuntimeError("fake msgtrkd did not start")


def unique_colours(path, env):
    r = subprocess.run(["identify", "-format", "%k", path], env=env, capture_output=True,
                       text=True, timeout=60)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return 0


def histogram(path, env):
    """ImageMagick's colour histogram of @path, upper case (look colours up as #RRGGBB)."""
    r = subprocess.run(["convert", path, "-format", "%c", "histogram:info:-"], env=env,
                       capture_output=True, text=True, timeout=60)
    return r.stdout.upper()


class ViewerSession:
    """Xvfb, a private bus with a fake msgtrkd, a temporary directory, the viewer's
    environment (.env) and the screenshots of one test.

    @opts: the test's arguments (source_root, out_dir, xml); @prefix: of the temporary
    directory; @fake: "cli" (tests/cli/fake-msgtrkd.py) or "map" (fake-map-msgtrkd.py);
    @route: the map fake's --route; @env: more environment for the viewer."""

    def __init__(self, opts, prefix, fake="cli", route=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.artifacts = os.path.join(opts.source_root, ".ci", "artifacts")
        self.out_dir = opts.out_dir
        os.makedirs(self.artifacts, exist_ok=True)
        os.makedirs(self.out_dir, exist_ok=True)
        self.procs = []
        self.shots = []
        self.xvfb = self.bus = self.fake = None
        try:
            self.xvfb, self.display = start_xvfb()
            self.bus = PrivateBus()
            record = os.path.join(self.tmp, "calls.jsonl")
            if fake == "map":
                self.fake = MapFakeDaemon(self.bus, opts.xml, record, route)
            else:
                self.fake = FakeDaemon(self.bus, opts.xml, record)
            runtime = os.path.join(self.tmp, "runtime")
            os.mkdir(runtime, 0o700)
            self.env = self.bus.env({
                "DISPLAY": self.display, "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
                "GTK_A11Y": "none", "TZ": "UTC", "LC_ALL": "C.UTF-8", "LANGUAGE": "",
                "GSETTINGS_BACKEND": "memory", "HOME": self.tmp, "XDG_RUNTIME_DIR": runtime,
                "G_DEBUG": "", "MALLOC_CHECK_": ""})
            self.env.update(env or {})
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def path(self, name):
        return os.path.join(self.tmp, name)

    def spawn(self, argv, log=None, env=None, **kw):
        """Start a process that close() stops; its stdout and stderr go to the temporary
        file @log (GLib writes debug messages to stdout) unless @kw says otherwise."""
        if log is not None:
            with open(self.path(log), "w") as f:
                kw.setdefault("stdout", f)
                kw.setdefault("stderr", f)
                proc = subprocess.Popen(argv, env=env or self.env, **kw)
        else:
            proc = subprocess.Popen(argv, env=env or self.env, **kw)
        self.procs.append(proc)
        return proc

    def read_log(self, name):
        try:
            with open(self.path(name), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def print_log(self, name, lines=30, label=None):
        """The first @lines lines of a temporary log, as TAP comments."""
        for line in self.read_log(name).splitlines()[:lines]:
            print("# %s: %s" % (label or name, line))

    # --- the X display ---
    def xdotool(self, *args, timeout=20):
        return subprocess.run(["xdotool"] + list(args), env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def find_windows(self, name):
        return [w for w in self.xdotool("search", "--name", name).stdout.split() if w]

    def wait_window(self, name, timeout=WINDOW_TIMEOUT):
        """The first window whose title matches @name (a regular expression), or None."""
        try:
            r = self.xdotool("search", "--sync", "--name", name, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        ids = r.stdout.split()
        return ids[0] if ids else None

    def geometry(self, wid):
        """xdotool's X, Y, WIDTH, HEIGHT of window @wid (strings)."""
        out = self.xdotool("getwindowgeometry", "--shell", wid).stdout
        return dict(line.split("=", 1) for line in out.split() if "=" in line)

    def key(self, wid, *keys):
        """Focus @wid, then send it @keys."""
        self.xdotool("windowfocus", "--sync", wid)
        self.xdotool("key", "--window", wid, *keys)

    # --- screenshots ---
    def capture(self, name):
        """The whole screen into the temporary file @name (not kept); returns its path."""
        path = self.path(name)
        subprocess.run(["import", "-window", "root", path], env=self.env, check=True,
                       timeout=60)
        return path

    def keep(self, name):
        """Copy the temporary screenshot @name to .ci/artifacts and the build directory."""
        for dest in (self.artifacts, self.out_dir):
            shutil.copy(self.path(name), os.path.join(dest, name))
        self.shots.append(os.path.join(self.artifacts, name))

    def shoot(self, name):
        """Capture and keep @name; returns the temporary copy's path."""
        path = self.capture(name)
        self.keep(name)
        return path

    def stop_processes(self):
        """Stop every process spawn() started, last started first (their logs stay)."""
        for proc in reversed(self.procs):
            stop(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs = []

    def close(self):
        """Stop every process, the fake, the bus and Xvfb; remove the temporary
        directory."""
        self.stop_processes()
        if self.fake is not None:
            self.fake.close()
            self.fake = None
        if self.bus is not None:
            self.bus.close()
            self.bus = None
        if self.xvfb is not None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(timeout=PROCESS_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()
                self.xvfb.wait()
            self.xvfb = None
        shutil.rmtree(self.tmp, ignore_errors=True)
