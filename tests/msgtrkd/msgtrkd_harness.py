# SPDX-License-Identifier: GPL-3.0-or-later
"""msgtrkd_harness.py: a private session for msgtrkd tests, and the set-up the tests share.

What: the Session implementation lives in tools/msgtrkd_session.py (shared with the README
demo, the real-daemon CLI test and the refresh benchmark); this module re-exports it under
the name the tests import. It adds what only the tests need: the command line and demo
network of a test of the real msgtrkd (demo_network), the sessions of such a test, each
daemon pointed at the network's MTQP servers (DemoSessions), and TAP output (Tap, from
tests/cli/testbus.py).
How: demo_network() must run before anything loads libmsgtrk: it may re-execute the process
with the library path set (tools/demonet.py).
Never: pass a secret on a command line or write one to a file.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))

from msgtrkd_session import *  # noqa: E402,F401,F403
from msgtrkd_session import Session, SessionError, __all__  # noqa: E402,F401
from testbus import Tap  # noqa: E402,F401

ROUTE_TIMEOUT = 90.0  # seconds for a message's route through the demo network to settle


def states(route):
    """GetRoute's recipients as {address: state}."""
    return {r["address"]: r["state"] for r in route["recipients"]}


def demo_network():
    """Parse --build-dir (required) and --msgtrkd (the daemon to test, e.g. from a sanitizer
    build) and make the demo network (not started). Call it first: it may re-execute this
    process. Returns (args, the arguments left for unittest, the DemoNetwork)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--msgtrkd", default=None,
                        help="the daemon to test (e.g. from a sanitizer build)")
    args, rest = parser.parse_known_args()
    import demonet  # (re-executes with the library path set)
    return args, rest, demonet.DemoNetwork(args.build_dir)


class DemoSessions:
    """The msgtrkd sessions of a test against the demo network: each daemon gets
    daemon_args and an --mtqp-override per hop with an MTQP server (plus extra_overrides,
    "host=addr:port" each). Iterating gives the sessions made so far."""

    def __init__(self, args, net, daemon_args, extra_overrides=()):
        self.args = args
        self.net = net
        self.daemon_args = list(daemon_args)
        self.extra_overrides = list(extra_overrides)
        self.sessions = []

    def __iter__(self):
        return iter(self.sessions)

    def overrides(self):
        args = []
        for value in self.extra_overrides:
            args += ["--mtqp-override", value]
        return args + self.net.mtqp_overrides()

    def new(self, name, keyring=True, start=True):
        s = Session(os.path.abspath(self.args.build_dir), name, msgtrkd=self.args.msgtrkd,
                    keyring=keyring, daemon_args=self.overrides() + self.daemon_args)
        self.sessions.append(s)
        return s.start() if start else s

    def wait_route(self, session, envid, expected, timeout=ROUTE_TIMEOUT, before=None):
        """Wait until session's route of envid has the states expected (before(): called
        before each look, e.g. a poll); returns the route. AssertionError, with the logs,
        when it never does."""
        def settled():
            if before is not None:
                before()
            route = session.get_route(envid)
            return route if states(route) == expected else None
        try:
            return session.wait_for("route of %s" % envid, settled, timeout=timeout,
                                    interval=0.5)
        except SessionError:
            raise AssertionError("route never settled: %r\n%s\n%s"
                                 % (session.get_route(envid), session.log(), self.net.logs()))

    def cleanup(self):
        """Every session, then the network."""
        for s in self.sessions:
            s.cleanup()
        self.net.cleanup()
