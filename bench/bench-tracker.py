#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench-tracker.py: the tracker's wall time over the three-hop demo network with latency.

  bench-tracker.py --build-dir BUILD [--delays 0,20,50] [--runs 5]

What it is for: how much the tracker adds to the network's own round trips. It starts the
demo network (tools/demonet.py: real msgtrk-relay and mtqpd processes on 127.0.0.1), sends
one tracked message and waits until every recipient has settled. Then, for each delay D,
it puts one delay proxy (bench/delay-proxy.py, D ms per chunk and direction) in front of
each hop's mtqpd (submit.demo.test -> relay.example.net -> mx.example.net) and measures,
median of --runs:
  per-hop   connect + greeting + TRACK + QUIT of each hop alone (MsgtrkMtqpClient), summed
  tracker   msgtrk_tracker_track_sync() for the message: it must follow the referrals hop
            by hop, so it cannot beat the sum
and prints both and their ratio. Needs an introspection build (the typelib). Run on
demand, never as a test. `tc netem` would be the usual tool: these kernels lack sch_netem.

Never: print the secret (it stays in memory).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--build-dir", required=True)
parser.add_argument("--delays", default="0,20,50", help="comma-separated ms per direction")
parser.add_argument("--runs", type=int, default=5)
ARGS = parser.parse_args()

import demonet  # noqa: E402  (re-executes with the library path set)

CHAIN = ["submit", "relay", "mx"]
EXPECTED = {"alice@example.net": "delivered", "bob@gone.example": "failed",
            "carol@slow.example": "delayed", "dave@legacy.example": "relayed"}


class Proxy:
    def __init__(self, target_port, delay_ms, directory, name):
        self.port_file = os.path.join(directory, "%s-%d.port" % (name, delay_ms))
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "delay-proxy.py"),
             "--target", "127.0.0.1:%d" % target_port, "--delay-ms", str(delay_ms),
             "--port-file", self.port_file], stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise demonet.DemoError("delay-proxy exited")
            try:
                with open(self.port_file) as f:
                    return int(f.read())
            except (FileNotFoundError, ValueError):
                return None
        self.port = demonet.wait_for("the delay proxy", ready, 20)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_client(Msgtrk, net, ports):
    client = Msgtrk.MtqpClient.new()
    client.set_tls_policy(Msgtrk.TlsPolicy.NONE)
    client.set_connect_timeout(10)
    client.set_read_timeout(10)
    client.set_deadline(60)
    for name in CHAIN:
        client.add_host_override(net.hops[name].hostname, "127.0.0.1:%d" % ports[name])
    return client


def measure(Msgtrk, net, envid, secret, ports, runs):
    per_hop, tracker_times = [], []
    for _ in range(runs):
        total = 0.0
        for name in CHAIN:
            client = make_client(Msgtrk, net, ports)
            t0 = time.monotonic()
            answers = client.track_host_sync("127.0.0.1", ports[name], [envid], [secret], None)
            total += time.monotonic() - t0
            if not answers[0].is_success():
                raise demonet.DemoError("%s: %s" % (name, answers[0].get_error().message))
        per_hop.append(total)
        tracker = Msgtrk.Tracker.new(make_client(Msgtrk, net, ports))
        t0 = time.monotonic()
        route = tracker.track_sync(net.hops["submit"].hostname, envid, secret,
                                   list(EXPECTED), None)
        tracker_times.append(time.monotonic() - t0)
        hops = route.get_hops("alice@example.net")
        if len(hops) != 3 or any(h.is_broken() for h in hops):
            raise demonet.DemoError("the tracker did not follow the three hops")
    return statistics.median(per_hop), statistics.median(tracker_times)


def main():
    delays = [int(d) for d in ARGS.delays.split(",")]
    net = demonet.DemoNetwork(ARGS.build_dir)
    Msgtrk = net.Msgtrk
    proxies = []
    tmp = tempfile.mkdtemp(prefix="msgtrk-bench-tracker-")
    try:
        net.start()
        envid, secret = net.send()
        net.track_until(envid, secret, EXPECTED)
        print("tracker over 3 hops (submit -> relay -> mx), delay proxy per hop, "
              "median of %d runs" % ARGS.runs)
        print("  %8s  %22s  %14s  %6s" % ("D (ms)", "sum of hops alone (ms)",
                                        "tracker (ms)", "ratio"))
        for d in delays:
            ports = {}
            for name in CHAIN:
                p = Proxy(net.hops[name].mtqpd.port, d, tmp, name)
                proxies.append(p)
                ports[name] = p.port
            hops, tracked = measure(Msgtrk, net, envid, secret, ports, ARGS.runs)
            print("  %8d  %22.1f  %14.1f  %6.2f" % (d, hops * 1000, tracked * 1000,
                                                   tracked / hops))
            for p in proxies:
                p.stop()
            proxies.clear()
        return 0
    finally:
        for p in proxies:
            p.stop()
        net.cleanup()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main())
