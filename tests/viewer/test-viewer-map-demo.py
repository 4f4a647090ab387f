#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-viewer-map-demo.py: the README's map screenshot, of the demo message's real route.

What: runs the README demo (tools/demo-helper.py: the demo network, the real msgtrkd, the
  real CLI, the DSNs ingested) in a private network namespace whose loopback interface
  also carries four addresses of the MaxMind test data (the ranges the test GeoIP database
  of tests/viewer/mmdb-writer.py places: Linköping, London, the United States). Each demo
  hop listens on one of them (MSGTRK_DEMO_ADDRESSES, tools/demonet.py), so msgtrkd's MTQP
  sessions connect to them and the route JSON carries them (server_address). That JSON,
  as `msgtrk show --json` printed it, is then shown by the viewer's map under Xvfb
  (test-viewer-map-screenshot.py's main with --route, in this process; its set-up is
  viewer_harness.py) with the test GeoIP database: the screenshot
  .ci/artifacts/viewer-map-demo.png, which docs/images/viewer-map.png is a copy of.
How: `unshare --net` (root), `ip addr add … dev lo`; nothing leaves the namespace.
Limits: the places are those of the test database, not of real servers.
Never: runs without root or without unshare/ip, or without what the screenshot needs
  (Xvfb, xdotool, ImageMagick, dbus-daemon): exit 77 (skip) before the demo.
Output: TAP (the screenshot script's, after one line for the demo).
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import viewer_harness as vh  # noqa: E402
# hop → address (MaxMind test-data ranges in tests/viewer/mmdb-writer.py)
ADDRESSES = {"submit": "89.160.20.113", "relay": "81.2.69.142", "mx": "216.160.83.58",
             "legacy": "81.2.69.143"}
DEMO_TIMEOUT = 240


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--xml", required=True)
    ap.add_argument("--mmdb", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--out-dir", required=True)
    opts = ap.parse_args()

    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return vh.skip("needs root, unshare and ip (a private network namespace)")
    tool = vh.missing_tool()
    if tool is not None:
        return vh.skip("%s is not installed" % tool)
    tmp = tempfile.mkdtemp(prefix="msgtrk-map-demo-")
    try:
        setup = "ip link set lo up && " + " && ".join(
            "ip addr add %s/32 dev lo" % a for a in ADDRESSES.values())
        env = dict(os.environ, MSGTRK_DEMO_ADDRESSES=",".join(
            "%s=%s" % kv for kv in ADDRESSES.items()))
        r = subprocess.run(
            ["unshare", "--net", "sh", "-c", setup + ' && exec "$@"', "sh",
             "/usr/bin/python3", os.path.join(ROOT, "tools", "demo-helper.py"),
             "--build-dir", opts.build_dir, "--no-gui", "--save-dir", tmp],
            env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT)
        route_path = os.path.join(tmp, "show.json")
        if r.returncode != 0 or not os.path.exists(route_path):
            print("1..1\nnot ok 1 - the demo ran in a private network namespace")
            for line in (r.stdout + r.stderr).splitlines()[-40:]:
                print("# %s" % line)
            return 1
        with open(route_path, encoding="utf-8") as f:
            route = json.load(f)
        placed = sorted({h.get("server_address") for rc in route["recipients"]
                         for h in rc["hops"] if h.get("server_address")})
        print("# the demo's route connected to: %s" % ", ".join(placed))
        if not set(placed) >= {ADDRESSES["submit"], ADDRESSES["relay"], ADDRESSES["mx"]}:
            print("1..1\nnot ok 1 - msgtrkd's route carries the addresses it connected to")
            return 1
        shutil.copy(route_path, os.path.join(opts.out_dir, "viewer-map-demo-route.json"))
        spec = importlib.util.spec_from_file_location(
            "map_screenshot", os.path.join(HERE, "test-viewer-map-screenshot.py"))
        map_screenshot = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(map_screenshot)
        return map_screenshot.main(
            ["--viewer", opts.viewer, "--xml", opts.xml, "--mmdb", opts.mmdb,
             "--source-root", opts.source_root, "--out-dir", opts.out_dir,
             "--route", route_path, "--name", "viewer-map-demo"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
