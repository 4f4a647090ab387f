#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-viewer-screenshot.py: msgtrk-viewer under Xvfb against the fake msgtrkd.

Opens the delivery map of a message with delivered, delayed and failed recipients and a
broken link, once from the command line (light theme) and once D-Bus activated through the
"show" action (dark theme, GTK_THEME=Adwaita:dark); checks the window title, that the
screenshots are not blank (unique colours) and show the status colours, that the dark one
is darker, that "show" twice keeps one window, that F5 calls Track and refetches, and
that Escape closes; that the viewer calls MarkViewed once it shows the message; that a
click on a hop (bob's delayed DSN hop) opens its details popover (the screenshot changes
under the hop; Escape closes the popover, not the window), kept as viewer-hop-details.png.
Screenshots go to <source>/.ci/artifacts/ and the build directory.
Exit 77 (skip) without Xvfb, ImageMagick or xdotool.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from testbus import FakeDaemon, PrivateBus, Tap, wait_for  # noqa: E402

ENVID = "mtrk.Q1x7vB2k@example.org"
MSGID = "20261123090000.4711@example.org"
TITLE = "Quarterly numbers — Delivery map"
LINKED_TITLE = "Tracked from a link (subject unknown) — Delivery map"
MIN_UNIQUE_COLOURS = 200
# viewer-layout.h geometry: the box of column c, row r of the diagram
NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 192, 74, 40, 26, 20
# pixels that must change when the details popover opens (it is several lines of text)
MIN_POPOVER_PIXELS = 3000


def node_centre(column, row):
    return (MARGIN + column * (NODE_W + COL_GAP) + NODE_W // 2,
            MARGIN + row * (NODE_H + ROW_GAP) + NODE_H // 2)


def diagram_origin(log_path):
    """The diagram's place in the window's surface, from the viewer's debug log."""
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.search(r"diagram origin at (-?\d+),(-?\d+) of the window", line)
                if m:
                    return int(m.group(1)), int(m.group(2))
    except OSError:
        pass
    return None


def pixels_changed(a, b, env):
    r = subprocess.run(["compare", "-metric", "AE", a, b, "null:"], env=env,
                       capture_output=True, text=True, timeout=60)
    try:
        return int(float(r.stderr.strip().split()[0]))
    except (ValueError, IndexError):
        return -1


def start_xvfb():
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24",
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
        raise RuntimeError("Xvfb did not report a display")
    return proc, ":" + data.decode().strip()


def find_windows(env, name):
    r = subprocess.run(["xdotool", "search", "--name", name], env=env, capture_output=True,
                       text=True, timeout=20)
    return [w for w in r.stdout.split() if w]


def wait_window(env, name, timeout=30):
    try:
        r = subprocess.run(["xdotool", "search", "--sync", "--name", name], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    ids = r.stdout.split()
    return ids[0] if ids else None


def unique_colours(path, env):
    r = subprocess.run(["identify", "-format", "%k", path], env=env, capture_output=True,
                       text=True, timeout=60)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return 0


def histogram(path, env):
    r = subprocess.run(["convert", path, "-format", "%c", "histogram:info:-"], env=env,
                       capture_output=True, text=True, timeout=60)
    return r.stdout.upper()


def mean_brightness(path, env, geometry):
    r = subprocess.run(["convert", path, "-crop", geometry, "-colorspace", "Gray", "-format",
                        "%[fx:mean]", "info:"], env=env, capture_output=True, text=True,
                       timeout=60)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return -1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--xml", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--out-dir", required=True)
    opts = ap.parse_args()

    for tool in ("Xvfb", "xdotool", "import", "identify", "convert", "dbus-daemon", "gdbus"):
        if shutil.which(tool) is None:
            print("skipping: %s is not installed" % tool)
            return 77

    t = Tap()
    tmp = tempfile.mkdtemp(prefix="msgtrk-viewer-test-")
    artifacts = os.path.join(opts.source_root, ".ci", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    os.makedirs(opts.out_dir, exist_ok=True)
    xvfb, display = start_xvfb()
    bus = PrivateBus()
    fake = FakeDaemon(bus, opts.xml, os.path.join(tmp, "calls.jsonl"))
    runtime = os.path.join(tmp, "runtime")
    os.mkdir(runtime, 0o700)
    env = bus.env({"DISPLAY": display, "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
                   "GTK_A11Y": "none", "TZ": "UTC", "LC_ALL": "C.UTF-8", "LANGUAGE": "",
                   "GSETTINGS_BACKEND": "memory", "HOME": tmp, "XDG_RUNTIME_DIR": runtime,
                   "G_DEBUG": "", "MALLOC_CHECK_": ""})
    viewer = None
    shots = []

    def shoot(name):
        path = os.path.join(tmp, name)
        subprocess.run(["import", "-window", "root", path], env=env, check=True, timeout=60)
        for dest in (artifacts, opts.out_dir):
            shutil.copy(path, os.path.join(dest, name))
        shots.append(os.path.join(artifacts, name))
        return path

    def stop(proc):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    try:
        # --- light theme, from the command line --------------------------------------
        light_log = open(os.path.join(tmp, "viewer-light.log"), "w")
        # (GLib writes debug messages to stdout)
        viewer = subprocess.Popen([opts.viewer, ENVID],
                                  env=dict(env, GTK_THEME="Adwaita",
                                           G_MESSAGES_DEBUG="msgtrk-viewer"),
                                  stdout=light_log, stderr=light_log)
        wid = wait_window(env, TITLE)
        t.ok(wid is not None, "light: window appears with the message's title")
        if wid is not None:
            name = subprocess.run(["xdotool", "getwindowname", wid], env=env, capture_output=True,
                                  text=True).stdout.strip()
            t.ok(name == TITLE, "light: window title", name)
            # Shown: msgtrkd may withdraw the message's notification (MarkViewed).
            t.ok(wait_for(lambda: {"method": "MarkViewed", "args": [ENVID]} in fake.calls()),
                 "the viewer says it showed the message (MarkViewed)", fake.calls())
            time.sleep(1.5)
            light = shoot("viewer-light.png")
            n = unique_colours(light, env)
            t.ok(n > MIN_UNIQUE_COLOURS, "light: screenshot not blank (%d colours)" % n)
            hist = histogram(light, env)
            for colour, what in (("#26A269", "delivered badge"), ("#C01C28", "failed badge"),
                                 ("#E5A50A", "delayed badge")):
                t.ok(colour in hist, "light: %s colour present" % what)

            # "show" for the same message (by Message-ID) keeps one window
            subprocess.run([opts.viewer, "<%s>" % MSGID], env=env, timeout=30)
            time.sleep(0.5)
            t.ok(len(find_windows(env, TITLE)) == 1, "show twice: still one window")

            # a click on a hop opens its details (issue 8 item 17)
            origin = diagram_origin(os.path.join(tmp, "viewer-light.log"))
            t.ok(origin is not None, "the viewer logs where its diagram is")
            if origin is not None:
                geo = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid], env=env,
                                     capture_output=True, text=True).stdout
                g = dict(line.split("=", 1) for line in geo.split() if "=" in line)
                cx, cy = node_centre(2, 1)  # bob's second hop: the DSN saying "delayed"
                x = int(g.get("X", "0")) + origin[0] + cx
                y = int(g.get("Y", "0")) + origin[1] + cy
                before = shoot("viewer-before-click.png")
                subprocess.run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"],
                               env=env, timeout=20)
                time.sleep(1.5)
                after = shoot("viewer-hop-details.png")
                n = pixels_changed(before, after, env)
                t.ok(n > MIN_POPOVER_PIXELS, "a click on a hop opens its details (%d px)" % n)
                with open(os.path.join(tmp, "viewer-light.log"), errors="replace") as f:
                    log = f.read()
                t.ok("details of node" in log and "(mx.example.com)" in log,
                     "the details are those of the hop clicked")
                subprocess.run(["xdotool", "key", "Escape"], env=env, timeout=20)
                time.sleep(1.0)
                closed = shoot("viewer-after-escape.png")
                n = pixels_changed(before, closed, env)
                t.ok(len(find_windows(env, TITLE)) == 1 and 0 <= n < MIN_POPOVER_PIXELS,
                     "Escape closes the details, not the window (%d px differ)" % n)

            # F5 calls Track; the StatusChanged the fake then emits makes it refetch
            routes_before = len([c for c in fake.calls() if c["method"] == "GetRoute"])
            subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, timeout=20)
            subprocess.run(["xdotool", "key", "--window", wid, "F5"], env=env, timeout=20)
            t.ok(wait_for(lambda: {"method": "Track", "args": [ENVID]} in fake.calls()),
                 "F5 calls Track")
            t.ok(wait_for(lambda: len([c for c in fake.calls() if c["method"] == "GetRoute"])
                          > routes_before), "StatusChanged makes the viewer refetch the route")

            # Escape closes the window (and the application with it)
            subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, timeout=20)
            subprocess.run(["xdotool", "key", "--window", wid, "Escape"], env=env, timeout=20)
            t.ok(wait_for(lambda: not find_windows(env, TITLE)), "Escape closes the window")
        stop(viewer)
        viewer = None

        # --- dark theme, D-Bus activated: --gapplication-service + action "show" -------
        dark_log = open(os.path.join(tmp, "viewer-dark.log"), "w")
        viewer = subprocess.Popen([opts.viewer, "--gapplication-service"],
                                  env=dict(env, GTK_THEME="Adwaita:dark",
                                           G_MESSAGES_DEBUG="msgtrk-viewer"),
                                  stdout=dark_log, stderr=dark_log)

        def viewer_on_bus():
            r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                                "--object-path", "/org/freedesktop/DBus", "--method",
                                "org.freedesktop.DBus.NameHasOwner", "org.msgtrk.Viewer"],
                               env=env, capture_output=True, text=True)
            return "true" in r.stdout

        t.ok(wait_for(viewer_on_bus, timeout=20), "service: org.msgtrk.Viewer on the bus")
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Viewer",
                            "--object-path", "/org/msgtrk/Viewer", "--method",
                            "org.freedesktop.Application.ActivateAction", "show",
                            "[<'%s'>]" % ENVID, "{}"], env=env, capture_output=True, text=True,
                           timeout=30)
        t.ok(r.returncode == 0, "service: ActivateAction show", r.stderr)
        wid = wait_window(env, TITLE)
        t.ok(wid is not None, "dark: window appears after the show action")
        if wid is not None:
            time.sleep(1.5)
            dark = shoot("viewer-dark.png")
            n = unique_colours(dark, env)
            t.ok(n > MIN_UNIQUE_COLOURS, "dark: screenshot not blank (%d colours)" % n)
            geo = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid], env=env,
                                 capture_output=True, text=True).stdout
            g = dict(line.split("=", 1) for line in geo.split() if "=" in line)
            crop = "%sx%s+%s+%s" % (g.get("WIDTH", "1200"), g.get("HEIGHT", "760"),
                                    g.get("X", "0"), g.get("Y", "0"))
            lb = mean_brightness(os.path.join(tmp, "viewer-light.png"), env, crop)
            db = mean_brightness(dark, env, crop)
            t.ok(0 <= db < lb, "dark theme is darker (%.2f < %.2f)" % (db, lb))
            hist = histogram(dark, env)
            t.ok("#C01C28" in hist and "#26A269" in hist, "dark: status colours present")

        # a message tracked from a link says so (issue 8 item 18)
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Viewer",
                            "--object-path", "/org/msgtrk/Viewer", "--method",
                            "org.freedesktop.Application.ActivateAction", "show",
                            "[<'linked@example.com'>]", "{}"], env=env, capture_output=True,
                           text=True, timeout=30)
        wid = wait_window(env, re.escape(LINKED_TITLE))  # xdotool takes a regex
        t.ok(wid is not None, "a link's window is titled 'Tracked from a link', not '(no subject)'")
        if wid is not None:
            time.sleep(1.0)
            shoot("viewer-linked.png")

        # why tracking is stuck (issue 8 item 7): the Problem row
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Viewer",
                            "--object-path", "/org/msgtrk/Viewer", "--method",
                            "org.freedesktop.Application.ActivateAction", "show",
                            "[<'problems@example.org'>]", "{}"], env=env, capture_output=True,
                           text=True, timeout=30)
        wid = wait_window(env, "Problems — Delivery map")
        t.ok(wid is not None, "a stuck message's window opens")
        if wid is not None:
            time.sleep(1.0)
            shoot("viewer-problems.png")
            with open(os.path.join(tmp, "viewer-dark.log"), errors="replace") as f:
                log = f.read()
            t.ok("problem shown: Warning: smtp.example.org: offered STARTTLS before" in log,
                 "the window says why tracking is stuck", log[-2000:])
    finally:
        stop(viewer)
        fake.close()
        bus.close()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        for log in ("viewer-light.log", "viewer-dark.log"):
            p = os.path.join(tmp, log)
            if os.path.exists(p) and os.path.getsize(p) > 0:
                with open(p, encoding="utf-8", errors="replace") as f:
                    for line in f.read().splitlines()[:30]:
                        print("# %s: %s" % (log, line))
        shutil.rmtree(tmp, ignore_errors=True)
    for s in shots:
        print("# screenshot: %s" % s)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
