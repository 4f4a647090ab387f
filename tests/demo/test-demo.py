#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README demo end to end (tools/demo-helper.py, what `bash tools/demo.sh` runs after
building): the demo network, msgtrkd in a throw-away session with a real keyring, a message
sent the way a mail client does, tracked by msgtrkd and shown by the real `msgtrk` CLI.

Checks (the issue's Must show): `msgtrk show ENVID` prints every recipient with its final
state (alice delivered through three MTQP hops, bob failed, carol delayed, dave relayed,
erin behind an opaque route when the network has her) and hop lines with times; after
`msgtrk ingest` of the DSNs the DSN and Received: trace hops are there; `msgtrk show
--json` gives the same recipients, states, summary and hops as the text. Also: nothing is
left behind (processes, temporary directories), on success and when the demo is stopped
with SIGTERM half-way.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HELPER = os.path.join(ROOT, "tools", "demo-helper.py")
PYTHON = "/usr/bin/python3"
RUN_TIMEOUT = 180

parser = argparse.ArgumentParser()
parser.add_argument("--build-dir", required=True)
ARGS, REST = parser.parse_known_args()

FOUR = {"alice@example.net": "delivered", "bob@gone.example": "failed",
        "carol@slow.example": "delayed", "dave@legacy.example": "relayed"}
OPAQUE_RCPT = "erin@hidden.example"
# The CLI's recipient headings (helper/cli/msgtrk.c state_table, in capitals, C locale).
LABELS = {"unknown": "UNKNOWN", "in-transit": "IN TRANSIT", "delayed": "DELAYED",
          "relayed": "RELAYED", "opaque": "NO TRACKING", "delivered": "DELIVERED",
          "failed": "FAILED", "read": "READ"}
HEADING = re.compile(r"^(\S+@\S+) — (.+)$")
HOP = re.compile(r"^\s+(\d+)\. (.*)$")
TIMED_HOP = re.compile(r"^\s+\d+\. (\S+)  (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+)  (\S+) (\d\.\d{1,3}\.\d{1,3})"
                       r"  \[(mtqp|dsn|trace)\]$")


def env_for_demo():
    env = dict(os.environ, LC_ALL="C.UTF-8", LANGUAGE="", NO_COLOR="1", TZ="UTC")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def parse_show(text):
    """`msgtrk show` text → {address: (heading label, [hop line, …])}, summary line."""
    rcpts, current, summary = {}, None, None
    for line in text.split("\n"):
        if line.startswith("Summary:"):
            summary = line[len("Summary:"):].strip()
        m = HEADING.match(line)
        if m:
            current = m.group(1)
            rcpts[current] = (m.group(2), [])
            continue
        m = HOP.match(line)
        if m and current is not None:
            rcpts[current][1].append(line)
    return rcpts, summary


def leftovers(paths):
    """Processes whose command line or cwd mentions one of paths."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(p in cmd for p in paths):
            found.append("%s %s" % (pid, cmd))
    return found


class DemoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.save = tempfile.mkdtemp(prefix="msgtrk-demo-test-")
        t0 = time.monotonic()
        cls.proc = subprocess.run(
            [PYTHON, HELPER, "--build-dir", os.path.abspath(ARGS.build_dir),
             "--save-dir", cls.save, "--no-gui"],
            env=env_for_demo(), capture_output=True, timeout=RUN_TIMEOUT,
            stdin=subprocess.DEVNULL)
        cls.seconds = time.monotonic() - t0
        cls.out = cls.proc.stdout.decode(errors="replace")
        cls.err = cls.proc.stderr.decode(errors="replace")
        sys.stderr.write("demo ran in %.1f s\n" % cls.seconds)

    def read(self, name):
        with open(os.path.join(self.save, name)) as f:
            return f.read()

    def diag(self):
        return "exit %d\nstdout:\n%s\nstderr:\n%s" % (self.proc.returncode, self.out, self.err)

    def expected(self):
        exp = dict(FOUR)
        if OPAQUE_RCPT in self.out:
            exp[OPAQUE_RCPT] = "opaque"
        return exp

    def test_01_exit_and_sections(self):
        self.assertEqual(self.proc.returncode, 0, self.diag())
        for section in ("== Demo network on 127.0.0.1", "== msgtrkd running",
                        "== Sent a tracked message (Prepare → SMTP → Committed)",
                        "== msgtrk show mtrk.", "msgtrk ingest", "msgtrk show --json",
                        "== Done in"):
            self.assertIn(section, self.out, self.diag())
        self.assertIn("MTRK", re.search(r"offered +(.*)", self.out).group(1))
        self.assertRegex(self.out, r"reply +250 ")
        # No display: the viewer is not opened, its command is named.
        self.assertNotIn("== msgtrk show --gui", self.out)

    def test_02_show_states_and_hops(self):
        """The tracking result (before the DSNs): states and timed MTQP hop lines."""
        text = self.read("show-before-ingest.txt")
        rcpts, summary = parse_show(text)
        exp = self.expected()
        self.assertEqual({r: v[0] for r, v in rcpts.items()},
                         {r: LABELS[s] for r, s in exp.items()}, text)
        alice = [TIMED_HOP.match(h) for h in rcpts["alice@example.net"][1]]
        self.assertTrue(all(alice), rcpts["alice@example.net"][1])
        self.assertEqual([(m.group(1), m.group(3), m.group(5)) for m in alice],
                         [("submit.demo.test", "transferred", "mtqp"),
                          ("relay.example.net", "transferred", "mtqp"),
                          ("mx.example.net", "delivered", "mtqp")], text)
        for rcpt, action, status in (("bob@gone.example", "failed", "5.1.2"),
                                     ("carol@slow.example", "delayed", "4.4.1"),
                                     ("dave@legacy.example", "relayed", "2.1.9")):
            m = TIMED_HOP.match(rcpts[rcpt][1][0])
            self.assertIsNotNone(m, rcpts[rcpt][1])
            self.assertEqual((m.group(1), m.group(3), m.group(4)),
                             ("submit.demo.test", action, status))
        if OPAQUE_RCPT in exp:
            m = TIMED_HOP.match(rcpts[OPAQUE_RCPT][1][0])
            self.assertEqual(m.group(3), "opaque", rcpts[OPAQUE_RCPT][1])
        self.assertTrue(summary.startswith("Failed 1/%d" % len(exp)), summary)
        self.assertIn(text.rstrip("\n").split("\n")[0], self.out)  # printed by the demo

    def test_03_after_ingest(self):
        """The DSNs went through msgtrk ingest: DSN and trace hops, the same end states."""
        self.assertRegex(self.out, r"→ mtrk\.\S+@demo\.test", "no DSN ingested")
        route = json.loads(self.read("show.json"))
        sources = {h["source"] for r in route["recipients"] for h in r["hops"]}
        self.assertEqual(sources, {"mtqp", "dsn", "trace"}, route)
        states = {r["address"]: r["state"] for r in route["recipients"]}
        exp = self.expected()
        for rcpt, state in exp.items():
            if rcpt == OPAQUE_RCPT:
                self.assertIn(states[rcpt], ("opaque", "relayed", "delivered"))
            else:
                self.assertEqual(states[rcpt], state, route)
        alice = [r for r in route["recipients"] if r["address"] == "alice@example.net"][0]
        trace = [h["server"] for h in alice["hops"] if h["source"] == "trace"]
        self.assertEqual(trace, ["submit.demo.test", "relay.example.net", "mx.example.net"])

    def test_04_json_same_as_text(self):
        """msgtrk show --json: the same recipients, states, summary and hops as the text."""
        text = self.read("show.txt")
        route = json.loads(self.read("show.json"))
        rcpts, summary = parse_show(text)
        self.assertEqual(list(rcpts), [r["address"] for r in route["recipients"]])
        self.assertEqual(summary, "%s (%s)" % (route["summary"], route["state"]))
        for r in route["recipients"]:
            label, lines = rcpts[r["address"]]
            self.assertEqual(label, LABELS[r["state"]], r["address"])
            self.assertEqual(len(lines), len(r["hops"]), (r["address"], lines))
            for line, hop in zip(lines, r["hops"]):
                name = hop["reporting_mta"] or hop["server"]
                self.assertIn(name, line)
                if hop["action"] is not None:
                    m = TIMED_HOP.match(line)
                    self.assertIsNotNone(m, line)
                    self.assertEqual((m.group(3), m.group(4), m.group(5)),
                                     (hop["action"], hop["status"], hop["source"]))
        for key in ("envid", "message_id", "subject", "sender", "sent", "tracking",
                    "submission_host", "state", "summary", "final", "events"):
            self.assertIn(key, route)
        self.assertIn(route["envid"], text)
        self.assertEqual(route["subject"], "Quarterly numbers")
        listed = json.loads(self.read("list.json"))
        self.assertEqual([m["envid"] for m in listed], [route["envid"]])

    def test_05_nothing_left_behind(self):
        dirs = [m.group(1) for m in re.finditer(r"\(in (/\S+)\)", self.out)]
        dirs += [os.path.dirname(m.group(1))
                 for m in re.finditer(r"throw-away keyring in (/\S+)\)", self.out)]
        self.assertEqual(len(dirs), 2, self.out)
        for d in dirs:
            self.assertFalse(os.path.exists(d), d)
        self.assertEqual(leftovers(dirs), [])

    def test_06_sigterm_half_way_cleans_up(self):
        proc = subprocess.Popen([PYTHON, HELPER, "--build-dir", os.path.abspath(ARGS.build_dir),
                                 "--no-gui"], env=env_for_demo(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        seen = b""
        try:
            while b"== msgtrkd running" not in seen:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
            self.assertIn(b"== msgtrkd running", seen)
            proc.send_signal(signal.SIGTERM)
            rest, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = (seen + rest).decode(errors="replace")
        self.assertEqual(proc.returncode, 130, err.decode(errors="replace"))
        dirs = [m.group(1) for m in re.finditer(r"\(in (/\S+)\)", text)]
        dirs += [os.path.dirname(m.group(1))
                 for m in re.finditer(r"throw-away keyring in (/\S+)\)", text)]
        self.assertEqual(len(dirs), 2, text)
        for d in dirs:
            self.assertFalse(os.path.exists(d), d)
        self.assertEqual(leftovers(dirs), [])

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.save, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + REST, verbosity=2)
