#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-viewer-map-screenshot.py: the viewer's map view under Xvfb (TAP).

Runs msgtrk-viewer against fake-map-msgtrkd.py (the demo message, its hops with addresses
of the test GeoIP database written by mmdb-writer.py) and a local tile server
(tile-server.py), switches to the map with Alt+M and checks:
  - offline (online maps off, the default): the map shows the outline and the route's arcs
    in the diagram's colours, and the tile server is never asked anything;
  - online (MSGTRK_MAP_ONLINE=1): tiles are asked, with our User-Agent, only for the
    visible area (at most VIEWER_MAP_MAX_VISIBLE_TILES), and cached under XDG_CACHE_HOME.
Screenshots go to <source>/.ci/artifacts/ (viewer-map.png, viewer-map-online.png) and the
build directory. Exit 77 (skip) without Xvfb, ImageMagick or xdotool.

With --route FILE --name NAME: only the offline map of that route (GetRoute's JSON of a
real run, served by the fake as the demo message's), checked for the outline and the
delivered and in-transit arcs, saved as NAME.png (test-viewer-map-demo.py).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from testbus import PrivateBus, Tap, wait_for  # noqa: E402

ENVID = "mtrk.Q1x7vB2k@example.org"
TITLE = "Quarterly numbers — Delivery map"
MAX_VISIBLE_TILES = 64  # VIEWER_MAP_MAX_VISIBLE_TILES
MIN_UNIQUE_COLOURS = 200


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


def wait_window(env, name, timeout=30):
    try:
        r = subprocess.run(["xdotool", "search", "--sync", "--name", name], env=env,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    ids = r.stdout.split()
    return ids[0] if ids else None


def histogram(path, env):
    r = subprocess.run(["convert", path, "-format", "%c", "histogram:info:-"], env=env,
                       capture_output=True, text=True, timeout=60)
    return r.stdout.upper()


def unique_colours(path, env):
    r = subprocess.run(["identify", "-format", "%k", path], env=env, capture_output=True,
                       text=True, timeout=60)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return 0


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--xml", required=True)
    ap.add_argument("--mmdb", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--route", help="serve this route JSON as the demo message's")
    ap.add_argument("--name", default="viewer-map", help="the offline screenshot's name")
    opts = ap.parse_args()

    for tool in ("Xvfb", "xdotool", "import", "identify", "convert", "dbus-daemon"):
        if shutil.which(tool) is None:
            print("1..0 # SKIP %s is not installed" % tool)
            return 77

    t = Tap()
    tmp = tempfile.mkdtemp(prefix="msgtrk-map-test-")
    artifacts = os.path.join(opts.source_root, ".ci", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    os.makedirs(opts.out_dir, exist_ok=True)
    xvfb, display = start_xvfb()
    bus = PrivateBus()
    fake = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake-map-msgtrkd.py"),
                             "--xml", opts.xml, "--record", os.path.join(tmp, "calls.jsonl")]
                            + (["--route", opts.route] if opts.route else []),
                            env=bus.env(), stdout=subprocess.PIPE, text=True)
    tiles = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "tile-server.py"),
                              "--lifetime", "280"], stdout=subprocess.PIPE, text=True)
    viewer = None
    try:
        if fake.stdout.readline().strip() != "ready":
            raise RuntimeError("fake msgtrkd did not start")
        port = int(tiles.stdout.readline().split()[1])

        def tile_stats():
            with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=10) as f:
                return json.load(f)

        runtime = os.path.join(tmp, "runtime")
        os.mkdir(runtime, 0o700)
        env = bus.env({"DISPLAY": display, "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
                       "GTK_A11Y": "none", "TZ": "UTC", "LC_ALL": "C.UTF-8", "LANGUAGE": "",
                       "GSETTINGS_BACKEND": "memory", "HOME": tmp, "XDG_RUNTIME_DIR": runtime,
                       "XDG_CACHE_HOME": os.path.join(tmp, "cache"), "GTK_THEME": "Adwaita",
                       "MSGTRK_GEOIP_DATABASE": opts.mmdb,
                       "MSGTRK_MAP_TILE_URL": "http://127.0.0.1:%d/ok/{z}/{x}/{y}.png" % port,
                       "G_DEBUG": "", "MALLOC_CHECK_": ""})

        def run(name, online, ready):
            """Opens the map; screenshots until ready(path) or 20 s; returns the last."""
            nonlocal viewer
            log = os.path.join(tmp, name + ".log")
            viewer = subprocess.Popen([opts.viewer, ENVID],
                                      env=dict(env, MSGTRK_MAP_ONLINE="1" if online else "0"),
                                      stderr=open(log, "w"))
            wid = wait_window(env, TITLE)
            t.ok(wid is not None, "%s: window appears" % name)
            if wid is None:
                return None
            subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, timeout=20)
            subprocess.run(["xdotool", "key", "--window", wid, "alt+m"], env=env, timeout=20)
            path = os.path.join(tmp, name + ".png")
            end = time.monotonic() + 20
            while True:
                time.sleep(1.0)
                subprocess.run(["import", "-window", "root", path], env=env, check=True,
                               timeout=60)
                if ready(path) or time.monotonic() > end:
                    break
            for dest in (artifacts, opts.out_dir):
                shutil.copy(path, os.path.join(dest, name + ".png"))
            print("# screenshot: %s" % os.path.join(artifacts, name + ".png"))
            stop(viewer)
            viewer = None
            with open(log, encoding="utf-8", errors="replace") as f:
                for line in f.read().splitlines()[:20]:
                    print("# %s: %s" % (name, line))
            return path

        # --- offline (the default): outline and arcs, nothing asked of the tile server --
        offline_colours = (("#EDEBE0", "land (world outline)"), ("#2EC27E", "delivered arc"),
                           ("#3584E4", "in-transit arc"), ("#E5A50A", "delayed arc"))
        if opts.route:
            # the demo's route: the delayed recipient stays at the submission server
            offline_colours = offline_colours[:3]
        shot = run(opts.name, False,
                   lambda p: all(c in histogram(p, env) for c, _ in offline_colours))
        if shot is not None:
            n = unique_colours(shot, env)
            t.ok(n > MIN_UNIQUE_COLOURS, "offline: screenshot not blank (%d colours)" % n)
            hist = histogram(shot, env)
            # Land of the outline, and arcs in the diagram's delivered / in-transit /
            # delayed colours (viewer-diagram.c).
            for colour, what in offline_colours:
                t.ok(colour in hist, "offline: %s colour present" % what)
            t.ok(tile_stats()["hits"] == {}, "offline: the tile server was asked nothing")

        if opts.route:
            return t.done()

        # --- online: only visible tiles, our User-Agent, a disk cache ------------------
        cache = os.path.join(tmp, "cache", "msgtrk", "tiles")

        def cached_files():
            return sum(len(files) for _, _, files in os.walk(cache))

        # Ready when the visible tiles are fetched and cached (then drawn within a frame).
        shot = run("viewer-map-online", True,
                   lambda p: 0 < 2 * len(tile_stats()["hits"]) <= cached_files())
        if shot is not None:
            stats = tile_stats()
            n = sum(stats["hits"].values())
            t.ok(0 < n <= MAX_VISIBLE_TILES, "online: %d tiles asked (visible area only)" % n,
                 json.dumps(stats["hits"]))
            t.ok(max(stats["hits"].values() or [0]) == 1, "online: no tile asked twice")
            t.ok(all(ua.startswith("msgtrk-viewer/") for ua in stats["user_agents"]),
                 "online: our User-Agent")
            cached = cached_files()
            t.ok(cached > 0, "online: tiles cached under XDG_CACHE_HOME (%d files)" % cached)
    finally:
        stop(viewer)
        stop(tiles)
        stop(fake)
        bus.close()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
