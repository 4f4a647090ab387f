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
build directory. Set-up (Xvfb, the private bus, the fake msgtrkd, screenshots):
viewer_harness.py. Exit 77 (skip) without Xvfb, ImageMagick or xdotool.

With --route FILE --name NAME: only the offline map of that route (GetRoute's JSON of a
real run, served by the fake as the demo message's), checked for the outline and the
delivered and in-transit arcs, saved as NAME.png (test-viewer-map-demo.py).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import viewer_harness as vh  # noqa: E402
from viewer_harness import Tap  # noqa: E402

ENVID = "mtrk.Q1x7vB2k@example.org"
TITLE = "Quarterly numbers — Delivery map"
MAX_VISIBLE_TILES = 64  # VIEWER_MAP_MAX_VISIBLE_TILES
MIN_UNIQUE_COLOURS = 200
# How long the map may take to show what a screenshot waits for.
MAP_READY_TIMEOUT = 20


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--xml", required=True)
    ap.add_argument("--mmdb", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--route", help="serve this route JSON as the demo message's")
    ap.add_argument("--name", default="viewer-map", help="the offline screenshot's name")
    opts = ap.parse_args(argv)

    tool = vh.missing_tool()
    if tool is not None:
        return vh.skip("%s is not installed" % tool)

    t = Tap()
    with vh.ViewerSession(opts, "msgtrk-map-test-", fake="map", route=opts.route) as s:
        run(s, opts, t)
    return t.done()


def run(s, opts, t):
    tiles = s.spawn(["/usr/bin/python3", os.path.join(HERE, "tile-server.py"),
                     "--lifetime", "280"], stdout=subprocess.PIPE, text=True)
    port = int(tiles.stdout.readline().split()[1])

    def tile_stats():
        with urllib.request.urlopen("http://127.0.0.1:%d/stats" % port, timeout=10) as f:
            return json.load(f)

    env = dict(s.env, XDG_CACHE_HOME=s.path("cache"), GTK_THEME="Adwaita",
               MSGTRK_GEOIP_DATABASE=opts.mmdb,
               MSGTRK_MAP_TILE_URL="http://127.0.0.1:%d/ok/{z}/{x}/{y}.png" % port)

    def shot_map(name, online, ready):
        """Opens the map; screenshots until ready(path) or MAP_READY_TIMEOUT; keeps the
        last and returns its path."""
        viewer = s.spawn([opts.viewer, ENVID], log=name + ".log", stdout=None,
                         env=dict(env, MSGTRK_MAP_ONLINE="1" if online else "0"))
        wid = s.wait_window(TITLE)
        t.ok(wid is not None, "%s: window appears" % name)
        if wid is None:
            return None
        s.key(wid, "alt+m")
        end = time.monotonic() + MAP_READY_TIMEOUT
        while True:
            time.sleep(1.0)
            path = s.capture(name + ".png")
            if ready(path) or time.monotonic() > end:
                break
        s.keep(name + ".png")
        print("# screenshot: %s" % s.shots[-1])
        vh.stop(viewer)
        s.print_log(name + ".log", lines=20, label=name)
        return path

    # --- offline (the default): outline and arcs, nothing asked of the tile server --
    offline_colours = (("#EDEBE0", "land (world outline)"), ("#2EC27E", "delivered arc"),
                       ("#3584E4", "in-transit arc"), ("#E5A50A", "delayed arc"))
    if opts.route:
        # the demo's route: the delayed recipient stays at the submission server
        offline_colours = offline_colours[:3]
    shot = shot_map(opts.name, False,
                    lambda p: all(c in vh.histogram(p, env) for c, _ in offline_colours))
    if shot is not None:
        n = vh.unique_colours(shot, env)
        t.ok(n > MIN_UNIQUE_COLOURS, "offline: screenshot not blank (%d colours)" % n)
        hist = vh.histogram(shot, env)
        # Land of the outline, and arcs in the diagram's delivered / in-transit /
        # delayed colours (viewer-diagram.c).
        for colour, what in offline_colours:
            t.ok(colour in hist, "offline: %s colour present" % what)
        t.ok(tile_stats()["hits"] == {}, "offline: the tile server was asked nothing")

    if opts.route:
        return

    # --- online: only visible tiles, our User-Agent, a disk cache ------------------
    cache = s.path(os.path.join("cache", "msgtrk", "tiles"))

    def cached_files():
        return sum(len(files) for _, _, files in os.walk(cache))

    # Ready when the visible tiles are fetched and cached (then drawn within a frame).
    shot = shot_map("viewer-map-online", True,
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


if __name__ == "__main__":
    sys.exit(main())
