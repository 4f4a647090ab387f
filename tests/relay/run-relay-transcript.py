#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""run-relay-transcript.py: start a real msgtrk-relay and run one SMTP transcript.

  run-relay-transcript.py MSGTRK_RELAY TRANSCRIPT.t

The relay (hostname relay.test.example) gets a temporary configuration and state dir,
listens on 127.0.0.1 port 0, routes example.org and sender.example to local Maildirs and
error.example to "error:5.1.2"; no other domain is routed. After the transcript it is
stopped with SIGTERM and must exit 0.

Directives ("#!" lines):
  #! tls                make a test PKI (tests/make-test-ca.sh) and configure STARTTLS
  #! config KEY=VALUE   a key in [relay] (e.g. offer_mtrk=false, max_recipients=2)
Variables: HOSTNAME, AUTH (a valid MTRK authenticator B).
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import transcript  # noqa: E402
import relay_harness  # noqa: E402

HOSTNAME = "relay.test.example"


def main():
    exe, script = sys.argv[1:3]
    source_root = os.environ.get("MSGTRK_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
    tmp = tempfile.mkdtemp(prefix="relay-test-")
    relay = None
    try:
        extra = {}
        tls = None
        ca_file = None
        with open(script, encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#!"):
                    continue
                d = line[2:].strip().split(None, 1)
                if d[0] == "tls":
                    pki = os.path.join(tmp, "pki")
                    subprocess.run(["sh", os.path.join(source_root, "tests", "make-test-ca.sh"),
                                    pki], check=True)
                    os.chmod(pki, 0o755)
                    tls = {"certificate": os.path.join(pki, "server.pem"),
                           "key": os.path.join(pki, "server.key")}
                    ca_file = os.path.join(pki, "ca.pem")
                elif d[0] == "config":
                    k, v = d[1].split("=", 1)
                    extra[k.strip()] = v.strip()
                else:
                    raise SystemExit("unknown directive %r" % d)
        relay = relay_harness.Relay(exe, tmp, "relay", HOSTNAME,
                                    {"example.org": "local:", "sender.example": "local:",
                                     "error.example": "error:5.1.2 no such domain here"},
                                    relay=extra, tls=tls)
        port = relay.start()
        variables = {"HOSTNAME": HOSTNAME, "AUTH": relay_harness.AUTH}
        try:
            transcript.run_script(script, "127.0.0.1", port, ca_file=ca_file,
                                  server_name="localhost", variables=variables,
                                  log=sys.stdout)
        except transcript.TranscriptError as e:
            print("FAIL: %s" % e, file=sys.stderr)
            print("relay log:\n" + relay.log(), file=sys.stderr)
            return 1
        relay.stop()
        text = relay.log()
        print("relay log:\n" + text)
        return 0
    except relay_harness.HarnessError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        return 1
    finally:
        if relay is not None:
            relay.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
