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
          "relayed": "RELAYED (NO FURTHER TRACKING)", "opaque": "NOT DISCLOSED",
          "delivered": "DELIVERED", "failed": "FAILED", "read": "READ"}
HEADING = re.compile(r"^(\S+@\S+) — (.+)$")
HOP = re.compile(r"^\s+(\d+)\. (.*)$")
DETAIL = re.compile(r"^ {7}(\S.*)$")
# "  N. SERVER  TIME  what it did, in words  [where the evidence came from]"
# (a merged hop names each of its sources: "[tracking server + delivery report]")
_SOURCE = r"(?:tracking server|delivery report|mail headers)"
TIMED_HOP = re.compile(r"^\s+\d+\. (\S+)  (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+)  (.+?)"
                       r"  \[(" + _SOURCE + r"(?: \+ " + _SOURCE + r")*)\]$")
SOURCES = {"tracking server": "mtqp", "delivery report": "dsn", "mail headers": "trace"}
# how `msgtrk show` says each action (helper/common/msgtrk-states.c)
ACTION_WORDS = {"transferred": ("Handed to ", "Passed on to the next server"),
                "relayed": ("Handed to ", "Passed to a server that gives no tracking"),
                "delivered": ("Delivered to the recipient’s mailbox",),
                "expanded": ("Delivered to a mailing list or alias",),
                "failed": ("Could not be delivered",),
                "delayed": ("Delayed: the server keeps trying",),
                "opaque": ("This server does not say more",)}


def said(words, action):
    """Whether the words of a hop line say the action."""
    return words.startswith(ACTION_WORDS.get(action, ("\0",)))


def hop_status(details):
    """The status code of a hop from its detail lines ("status: 5.1.2 (…): …"); a hop
    without one said plain success (2.0.0 is not repeated after the hop's words)."""
    for d in details:
        if d.startswith("status: "):
            return d[len("status: "):].split(" ", 1)[0]
    return "2.0.0"


def server_key(hop):
    """Which server a hop is about (msgtrkd_route_hop_server_key, docs/route-merge.md)."""
    name = hop.get("reporting_mta") or hop.get("server")
    if not name:
        return None
    name = name.split(";", 1)[-1].strip().lower().rstrip(".")
    return name or None


def env_for_demo():
    env = dict(os.environ, LC_ALL="C.UTF-8", LANGUAGE="", NO_COLOR="1", TZ="UTC")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def parse_show(text, details=None):
    """`msgtrk show` text → {address: (heading label, [hop line, …])}, summary line;
    details (a dict), when given, gets {address: [[detail line, …] per hop]}."""
    rcpts, current, summary = {}, None, None
    details = details if details is not None else {}
    for line in text.split("\n"):
        if line.startswith("Status:"):
            summary = line[len("Status:"):].strip()
        m = HEADING.match(line)
        if m:
            current = m.group(1)
            rcpts[current] = (m.group(2), [])
            details[current] = []
            continue
        m = HOP.match(line)
        if m and current is not None:
            rcpts[current][1].append(line)
            details[current].append([])
            continue
        m = DETAIL.match(line)
        if m and current is not None and details[current]:
            details[current][-1].append(m.group(1))
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
        details = {}
        rcpts, summary = parse_show(text, details)
        exp = self.expected()
        self.assertEqual({r: v[0] for r, v in rcpts.items()},
                         {r: LABELS[s] for r, s in exp.items()}, text)
        alice = [TIMED_HOP.match(h) for h in rcpts["alice@example.net"][1]]
        self.assertTrue(all(alice), rcpts["alice@example.net"][1])
        self.assertEqual([(m.group(1), SOURCES[m.group(4)]) for m in alice],
                         [("submit.demo.test", "mtqp"), ("relay.example.net", "mtqp"),
                          ("mx.example.net", "mtqp")], text)
        self.assertEqual([said(m.group(3), a) for m, a in
                          zip(alice, ("transferred", "transferred", "delivered"))],
                         [True, True, True], text)
        for rcpt, action, status in (("bob@gone.example", "failed", "5.1.2"),
                                     ("carol@slow.example", "delayed", "4.4.1"),
                                     ("dave@legacy.example", "relayed", "2.1.9")):
            m = TIMED_HOP.match(rcpts[rcpt][1][0])
            self.assertIsNotNone(m, rcpts[rcpt][1])
            self.assertEqual(m.group(1), "submit.demo.test")
            self.assertTrue(said(m.group(3), action), (action, m.group(3)))
            self.assertEqual(hop_status(details[rcpt][0]), status, details[rcpt][0])
        if OPAQUE_RCPT in exp:
            m = TIMED_HOP.match(rcpts[OPAQUE_RCPT][1][0])
            self.assertTrue(said(m.group(3), "opaque"), rcpts[OPAQUE_RCPT][1])
        self.assertTrue(summary.startswith("Failed 1/%d" % len(exp)), summary)
        self.assertIn(text.rstrip("\n").split("\n")[0], self.out)  # printed by the demo

    def test_03_after_ingest(self):
        """The DSNs went through msgtrk ingest: DSN and trace hops, the same end states."""
        self.assertRegex(self.out, r"→ mtrk\.\S+@demo\.test", "no DSN ingested")
        route = json.loads(self.read("show.json"))
        sources = {x for r in route["recipients"] for h in r["hops"] for x in h["sources"]}
        self.assertEqual(sources, {"mtqp", "dsn", "trace"}, route)
        states = {r["address"]: r["state"] for r in route["recipients"]}
        exp = self.expected()
        for rcpt, state in exp.items():
            if rcpt == OPAQUE_RCPT:
                self.assertIn(states[rcpt], ("opaque", "relayed", "delivered"))
            else:
                self.assertEqual(states[rcpt], state, route)
        alice = [r for r in route["recipients"] if r["address"] == "alice@example.net"][0]
        trace = [h["server"] for h in alice["hops"] if "trace" in h["sources"]]
        self.assertEqual(trace, ["submit.demo.test", "relay.example.net", "mx.example.net"])

    def test_03b_one_route_per_recipient(self):
        """After the DSNs: one hop per server (docs/route-merge.md), each listing its
        sources, its evidence in time order; MTQP and DSN evidence about one server is one
        hop whose state is the later final one."""
        route = json.loads(self.read("show.json"))
        merged_mtqp_dsn = 0
        for r in route["recipients"]:
            keys = [server_key(h) for h in r["hops"]]
            named = [k for k in keys if k is not None]
            self.assertEqual(len(named), len(set(named)), (r["address"], keys))
            for h in r["hops"]:
                self.assertIn(h["source"], h["sources"], h)
                pieces = h.get("evidence", [h])
                self.assertEqual(sorted({p["source"] for p in pieces}), sorted(h["sources"]), h)
                if {"mtqp", "dsn"} <= set(h["sources"]):
                    merged_mtqp_dsn += 1
        # alice: the three MTQP hops, each with its Received: field (the last also with
        # the success DSN)
        alice = [r for r in route["recipients"] if r["address"] == "alice@example.net"][0]
        self.assertEqual(len(alice["hops"]), 3, alice)
        self.assertTrue(all({"mtqp", "trace"} <= set(h["sources"]) for h in alice["hops"]),
                        alice)
        self.assertEqual(alice["hops"][-1]["action"], "delivered", alice)
        # the bounce: the MTQP answer and the DSN of the server that failed are one hop
        self.assertGreaterEqual(merged_mtqp_dsn, 1, route)
        bob = [r for r in route["recipients"] if r["address"] == "bob@gone.example"][0]
        failed = [h for h in bob["hops"] if h["action"] == "failed"]
        self.assertEqual(len(failed), 1, bob)
        self.assertEqual(sorted(set(failed[0]["sources"]) - {"trace"}), ["dsn", "mtqp"], bob)

    def test_04_json_same_as_text(self):
        """msgtrk show --json: the same recipients, states, summary and hops as the text."""
        text = self.read("show.txt")
        route = json.loads(self.read("show.json"))
        details = {}
        rcpts, summary = parse_show(text, details)
        self.assertEqual(list(rcpts), [r["address"] for r in route["recipients"]])
        self.assertEqual(summary, route["summary"])
        for r in route["recipients"]:
            label, lines = rcpts[r["address"]]
            self.assertEqual(label, LABELS[r["state"]], r["address"])
            self.assertEqual(len(lines), len(r["hops"]), (r["address"], lines))
            for line, hop_details, hop in zip(lines, details[r["address"]], r["hops"]):
                name = hop["reporting_mta"] or hop["server"]
                self.assertIn(name, line)
                if hop["action"] is not None:
                    m = TIMED_HOP.match(line)
                    self.assertIsNotNone(m, line)
                    self.assertTrue(said(m.group(3), hop["action"]), (line, hop["action"]))
                    self.assertEqual((hop_status(hop_details),
                                      [SOURCES[x] for x in m.group(4).split(" + ")]),
                                     (hop["status"], hop["sources"]))
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
