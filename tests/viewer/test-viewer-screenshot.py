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
Screenshots go to <source>/.ci/artifacts/ and the build directory. Set-up (Xvfb, the
private bus, the fake msgtrkd, screenshots): viewer_harness.py.
Exit 77 (skip) without Xvfb, ImageMagick or xdotool.
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import viewer_harness as vh  # noqa: E402
from viewer_harness import Tap, wait_for  # noqa: E402

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


def diagram_origin(text):
    """The diagram's place in the window's surface, from the viewer's debug log."""
    m = re.search(r"diagram origin at (-?\d+),(-?\d+) of the window", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def pixels_changed(a, b, env):
    r = subprocess.run(["compare", "-metric", "AE", a, b, "null:"], env=env,
                       capture_output=True, text=True, timeout=60)
    try:
        return int(float(r.stderr.strip().split()[0]))
    except (ValueError, IndexError):
        return -1


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

    tool = vh.missing_tool(("gdbus",))
    if tool is not None:
        return vh.skip("%s is not installed" % tool, tap=False)

    t = Tap()
    with vh.ViewerSession(opts, "msgtrk-viewer-test-") as s:
        try:
            run(s, opts, t)
        finally:
            s.stop_processes()
            for log in ("viewer-light.log", "viewer-dark.log"):
                s.print_log(log)
        shots = s.shots
    for shot in shots:
        print("# screenshot: %s" % shot)
    return t.done()


def run(s, opts, t):
    env = s.env
    fake = s.fake

    # --- light theme, from the command line --------------------------------------
    s.spawn([opts.viewer, ENVID], log="viewer-light.log",
            env=dict(env, GTK_THEME="Adwaita", G_MESSAGES_DEBUG="msgtrk-viewer"))
    wid = s.wait_window(TITLE)
    t.ok(wid is not None, "light: window appears with the message's title")
    if wid is not None:
        name = s.xdotool("getwindowname", wid).stdout.strip()
        t.ok(name == TITLE, "light: window title", name)
        # Shown: msgtrkd may withdraw the message's notification (MarkViewed).
        t.ok(wait_for(lambda: {"method": "MarkViewed", "args": [ENVID]} in fake.calls()),
             "the viewer says it showed the message (MarkViewed)", fake.calls())
        time.sleep(1.5)
        light = s.shoot("viewer-light.png")
        n = vh.unique_colours(light, env)
        t.ok(n > MIN_UNIQUE_COLOURS, "light: screenshot not blank (%d colours)" % n)
        hist = vh.histogram(light, env)
        for colour, what in (("#26A269", "delivered badge"), ("#C01C28", "failed badge"),
                             ("#E5A50A", "delayed badge")):
            t.ok(colour in hist, "light: %s colour present" % what)

        # "show" for the same message (by Message-ID) keeps one window
        subprocess.run([opts.viewer, "<%s>" % MSGID], env=env, timeout=30)
        time.sleep(0.5)
        t.ok(len(s.find_windows(TITLE)) == 1, "show twice: still one window")

        # a click on a hop opens its details (issue 8 item 17)
        origin = diagram_origin(s.read_log("viewer-light.log"))
        t.ok(origin is not None, "the viewer logs where its diagram is")
        if origin is not None:
            g = s.geometry(wid)
            cx, cy = node_centre(2, 1)  # bob's second hop: the DSN saying "delayed"
            x = int(g.get("X", "0")) + origin[0] + cx
            y = int(g.get("Y", "0")) + origin[1] + cy
            before = s.shoot("viewer-before-click.png")
            s.xdotool("mousemove", "--sync", str(x), str(y), "click", "1")
            time.sleep(1.5)
            after = s.shoot("viewer-hop-details.png")
            n = pixels_changed(before, after, env)
            t.ok(n > MIN_POPOVER_PIXELS, "a click on a hop opens its details (%d px)" % n)
            log = s.read_log("viewer-light.log")
            t.ok("details of node" in log and "(mx.example.com)" in log,
                 "the details are those of the hop clicked")
            s.xdotool("key", "Escape")
            time.sleep(1.0)
            closed = s.shoot("viewer-after-escape.png")
            n = pixels_changed(before, closed, env)
            t.ok(len(s.find_windows(TITLE)) == 1 and 0 <= n < MIN_POPOVER_PIXELS,
                 "Escape closes the details, not the window (%d px differ)" % n)

        # F5 calls Track; the StatusChanged the fake then emits makes it refetch
        routes_before = len([c for c in fake.calls() if c["method"] == "GetRoute"])
        s.key(wid, "F5")
        t.ok(wait_for(lambda: {"method": "Track", "args": [ENVID]} in fake.calls()),
             "F5 calls Track")
        t.ok(wait_for(lambda: len([c for c in fake.calls() if c["method"] == "GetRoute"])
                      > routes_before), "StatusChanged makes the viewer refetch the route")

        # Escape closes the window (and the application with it)
        s.key(wid, "Escape")
        t.ok(wait_for(lambda: not s.find_windows(TITLE)), "Escape closes the window")
    s.stop_processes()

    # --- dark theme, D-Bus activated: --gapplication-service + action "show" -------
    s.spawn([opts.viewer, "--gapplication-service"], log="viewer-dark.log",
            env=dict(env, GTK_THEME="Adwaita:dark", G_MESSAGES_DEBUG="msgtrk-viewer"))

    def viewer_on_bus():
        r = subprocess.run(["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus",
                            "--object-path", "/org/freedesktop/DBus", "--method",
                            "org.freedesktop.DBus.NameHasOwner", "org.msgtrk.Viewer"],
                           env=env, capture_output=True, text=True)
        return "true" in r.stdout

    def show(ident):
        return subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Viewer",
                               "--object-path", "/org/msgtrk/Viewer", "--method",
                               "org.freedesktop.Application.ActivateAction", "show",
                               "[<'%s'>]" % ident, "{}"], env=env, capture_output=True,
                              text=True, timeout=30)

    t.ok(wait_for(viewer_on_bus, timeout=20), "service: org.msgtrk.Viewer on the bus")
    r = show(ENVID)
    t.ok(r.returncode == 0, "service: ActivateAction show", r.stderr)
    wid = s.wait_window(TITLE)
    t.ok(wid is not None, "dark: window appears after the show action")
    if wid is not None:
        time.sleep(1.5)
        dark = s.shoot("viewer-dark.png")
        n = vh.unique_colours(dark, env)
        t.ok(n > MIN_UNIQUE_COLOURS, "dark: screenshot not blank (%d colours)" % n)
        g = s.geometry(wid)
        crop = "%sx%s+%s+%s" % (g.get("WIDTH", "1200"), g.get("HEIGHT", "760"),
                                g.get("X", "0"), g.get("Y", "0"))
        lb = mean_brightness(s.path("viewer-light.png"), env, crop)
        db = mean_brightness(dark, env, crop)
        t.ok(0 <= db < lb, "dark theme is darker (%.2f < %.2f)" % (db, lb))
        hist = vh.histogram(dark, env)
        t.ok("#C01C28" in hist and "#26A269" in hist, "dark: status colours present")

    # a message tracked from a link says so (issue 8 item 18)
    show("linked@example.com")
    wid = s.wait_window(re.escape(LINKED_TITLE))  # xdotool takes a regex
    t.ok(wid is not None, "a link's window is titled 'Tracked from a link', not '(no subject)'")
    if wid is not None:
        time.sleep(1.0)
        s.shoot("viewer-linked.png")

    # why tracking is stuck (issue 8 item 7): the Problem row
    show("problems@example.org")
    wid = s.wait_window("Problems — Delivery map")
    t.ok(wid is not None, "a stuck message's window opens")
    if wid is not None:
        time.sleep(1.0)
        s.shoot("viewer-problems.png")
        log = s.read_log("viewer-dark.log")
        t.ok("problem shown: Warning: smtp.example.org: offered STARTTLS before" in log,
             "the window says why tracking is stuck", log[-2000:])


if __name__ == "__main__":
    sys.exit(main())
