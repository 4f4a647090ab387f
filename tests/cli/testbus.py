# SPDX-License-Identifier: GPL-3.0-or-later
"""testbus.py: private D-Bus session buses and the fake msgtrkd, for the CLI and viewer tests.

A PrivateBus is a dbus-daemon of our own with a configuration that has NO service
directories: nothing can be D-Bus activated on it, so an installed msgtrkd is never started
by accident and "msgtrkd is not running" can be tested. Limits: test-only; never touches
the user's session bus.
"""

import os
import subprocess
import sys
import tempfile
import time

def bus_config(directory, services=None):
    """A private session bus's configuration: its socket in directory, eavesdropping
    allowed (dbus-monitor), and no service directory unless services names one."""
    return """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>%s
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
""" % (directory, "\n  <servicedir>%s</servicedir>" % services if services else "")


class PrivateBus:
    """A dbus-daemon with no activatable services; .address is its address."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="msgtrk-bus-")
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(bus_config(self.dir))
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + conf, "--nofork", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon did not start")

    def env(self, extra=None):
        env = dict(os.environ)
        env["DBUS_SESSION_BUS_ADDRESS"] = self.address
        env.pop("DBUS_STARTER_ADDRESS", None)
        if extra:
            env.update(extra)
        return env

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except OSError:
                pass
        os.rmdir(self.dir)


class FakeDaemon:
    """fake-msgtrkd.py on @bus; waits until it owns org.msgtrk.Tracker1."""

    def __init__(self, bus, xml, record):
        here = os.path.dirname(os.path.abspath(__file__))
        self.record = record
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(here, "fake-msgtrkd.py"), "--xml", xml,
             "--record", record],
            env=bus.env(), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("fake msgtrkd did not start")
        self.bus = bus

    def calls(self):
        import json
        if not os.path.exists(self.record):
            return []
        with open(self.record, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def emit(self, envid, state, summary):
        subprocess.run(["gdbus", "call", "--session", "--dest", "org.msgtrk.Tracker1",
                        "--object-path", "/org/msgtrk/Tracker1",
                        "--method", "org.msgtrk.Test.Control.Emit", envid, state, summary],
                       env=self.bus.env(), check=True, stdout=subprocess.DEVNULL)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Tap:
    """Minimal TAP output."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            if diag:
                for line in str(diag).splitlines():
                    print("# " + line)
        sys.stdout.flush()

    def skip_all(self, why):
        print("1..0 # SKIP " + why)
        sys.exit(0)

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()
