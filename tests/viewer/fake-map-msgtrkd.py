#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""fake-map-msgtrkd.py: tests/cli/fake-msgtrkd.py with addresses the map can place.

What: the same fake msgtrkd and the same demo message ("Quarterly numbers"), whose hops
  also carry addresses from the test GeoIP database (tests/viewer/mmdb-writer.py): the
  submission server in Linköping (named by the Received: field of Bob's DSN), the relay in
  London, Alice's MX in Tokyo and Bob's MX in the United States (the address msgtrkd
  connected to, a hop's "server_address" member). Carol's broken link has no address and stays in
  the list beside the map.
Never: used outside tests (see fake-msgtrkd.py).
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "fake_msgtrkd", os.path.join(HERE, "..", "cli", "fake-msgtrkd.py"))
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)

ADDRESSES = {
    "relay.example.net": "81.2.69.142",      # London
    "mx.example.net": "2001:218::25",        # Tokyo
    "mx.example.com": "216.160.83.58",       # United States (no city)
}
for rcpt in fake.ROUTE["recipients"]:
    for hop in rcpt["hops"]:
        name = hop.get("reporting_mta") or hop.get("server")
        if hop["source"] != "trace" and name in ADDRESSES:
            hop["server_address"] = ADDRESSES[name]
        if hop["source"] == "trace" and hop.get("from_host") == "smtp.example.org":
            hop["from_address"] = "89.160.20.113"  # Linköping

# --route FILE: serve FILE (GetRoute's JSON of a real run, e.g. the demo message as
# tests/viewer/test-viewer-map-demo.py captures it) as the demo message's route instead.
if "--route" in sys.argv:
    i = sys.argv.index("--route")
    with open(sys.argv[i + 1], encoding="utf-8") as f:
        fake.ROUTE.clear()
        fake.ROUTE.update(json.load(f))
    del sys.argv[i:i + 2]

if __name__ == "__main__":
    sys.argv[0] = "fake-msgtrkd.py"
    fake.main()
