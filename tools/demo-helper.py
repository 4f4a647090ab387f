#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""demo-helper.py: the README demo, with the real tracking helper.

What a user of a mail client with tracking gets, end to end, on 127.0.0.1:

 1. the demo network (tools/demonet.py: msgtrk-relay + mtqpd hops) starts;
 2. msgtrkd starts in a throw-away session: a private dbus-run-session, a gnome-keyring
    unlocked with a throw-away password, HOME and the XDG dirs in a temporary directory
    (tools/msgtrkd_session.py), fast polling (--first-poll/--poll-schedule) and
    --mtqp-override for the hops' MTQP servers;
 3. a message is sent the way a mail client does it: Prepare → SMTP with the returned
    ENVID and B (MsgtrkEnvelope) → Committed with the EHLO keywords and the final reply;
 4. msgtrkd tracks it over MTQP until every recipient has settled; `msgtrk show ENVID`
    (the real CLI talking to the real daemon) prints each recipient's hops with times
    and a final state;
 5. the DSNs that came back to the sender's Maildir go through `msgtrk ingest`, and
    `msgtrk show` again shows their Received: trace hops; `msgtrk show --json` gives the
    same as JSON;
 6. with a display ($DISPLAY), `msgtrk show --gui` opens the delivery map viewer.

Everything it started (servers, daemon, keyring, bus, viewer) is stopped and every
temporary directory removed, on success, failure, Ctrl-C or SIGTERM.

Options for tests: --save-dir DIR keeps the CLI's final outputs (show.txt, show.json,
show-before-ingest.txt, list.json); --no-gui never opens the viewer.
Limits: DEADLINE seconds for the whole tracking to settle.
Never: prints or stores the tracking secret A (only msgtrkd and the keyring hold it).
"""

import argparse
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import demonet  # noqa: E402  (DemoNetwork re-executes with the library path set)

DEADLINE = 45.0          # seconds for every recipient to reach its end state
DSN_TIMEOUT = 15.0       # seconds for the DSNs to reach the sender's Maildir
GUI_TIMEOUT = 120.0      # seconds the viewer stays open at most (interactive)
GUI_NONINTERACTIVE = 8.0  # seconds the viewer stays open without a terminal
SUBJECT = "Quarterly numbers"
OPAQUE_RCPT = "erin@hidden.example"
AFTER_OPAQUE = ("opaque", "relayed", "delivered")
FINAL_RCPT = re.compile(rb"^Final-Recipient:\s*rfc822;\s*(\S+?)\s*$", re.I | re.M)


def indent(text, prefix="  "):
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").split("\n"))


class Demo(demonet.DemoCommand):
    def __init__(self, args):
        self.args = args
        self.net = demonet.DemoNetwork(args.build_dir)  # first: may re-execute
        self.Msgtrk = self.net.Msgtrk
        import msgtrkd_session  # needs gi, set up by DemoNetwork
        self.sessions = msgtrkd_session
        self.session = None
        self.expected = dict(demonet.DemoNetwork.EXPECTED)

    def settled_after_ingest(self, got):
        """Whether the states after the DSNs are right: the same as tracked, except that the
        opaque recipient's DSN may say more than MTQP could (relayed, or delivered by the
        last hop): beyond an opaque route nothing is tracked, but DSNs may still come."""
        want = {r: s for r, s in self.expected.items() if r != OPAQUE_RCPT}
        rest = {r: s for r, s in got.items() if r != OPAQUE_RCPT}
        return rest == want and (OPAQUE_RCPT not in self.expected or
                                 got.get(OPAQUE_RCPT) in AFTER_OPAQUE)

    def states(self, route):
        return {r["address"]: r["state"] for r in route["recipients"]}

    def run(self):
        t0 = time.monotonic()
        net = self.net
        net.start()
        demonet.banner("Demo network on 127.0.0.1 (in %s)" % net.base)
        net.print_hops()

        s = self.start_msgtrkd(self.sessions, net.build_dir, "demo", net.mtqp_overrides())
        demonet.banner("msgtrkd running (private D-Bus session, throw-away keyring in %s)" % s.home)

        # Prepare, SMTP with ENVID and MTRK=B as the mail client's own transport does it,
        # Committed with what the server offered and answered.
        recipients = list(self.expected)
        submit = net.hops["submit"]
        envid, keywords, reply = self.send_tracked(self.sessions, net.SENDER, recipients,
                                                   SUBJECT, submit.hostname, submit.relay.port,
                                                   submit.address)
        demonet.banner("Sent a tracked message (Prepare → SMTP → Committed)")
        print("  ENVID    %s" % envid)
        print("  To       %s" % ", ".join(recipients))
        print("  offered  %s" % " ".join(keywords))
        print("  reply    %s" % reply)

        # 4. msgtrkd polls on its own; we only watch its StatusChanged signals.
        demonet.banner("msgtrkd tracks it over MTQP (StatusChanged signals)")
        self.watch(envid, self.expected, t0, DEADLINE, lambda: s.log() + "\n" + net.logs())

        demonet.banner("msgtrk show %s" % envid)
        before = self.cli("show", envid)
        print(indent(before), end="")
        self.save("show-before-ingest.txt", before)

        # 5. DSNs that reached the sender's mailbox → msgtrk ingest.
        def dsns():
            mine = net.sender_mail(envid.encode())
            text = b"".join(data for _, data in mine)
            # Every recipient's DSN: one from each hop that delivered, failed or gave up.
            reported = {m.decode().lower() for m in FINAL_RCPT.findall(text)}
            # (the opaque route's may come or not: beyond it nothing is promised)
            return [path for path, _ in mine] if all(r in reported for r in recipients
                                                     if r != OPAQUE_RCPT) else None
        try:
            files = demonet.wait_for("DSNs in the sender's Maildir", dsns, DSN_TIMEOUT)
        except demonet.DemoError:
            files = dsns() or []
        demonet.banner("DSNs in the sender's Maildir → msgtrk ingest")
        if not files:
            print("  (none arrived)")
        for path in files:
            out = self.cli("ingest", path).strip()
            print("  %s → %s" % (os.path.basename(path)[:40], out))

        demonet.banner("msgtrk show %s (MTQP, DSN and Received: trace hops)" % envid)
        after = self.cli("show", envid)
        print(indent(after), end="")
        self.save("show.txt", after)
        as_json = self.cli("show", "--json", envid)
        self.save("show.json", as_json)
        self.save("list.json", self.cli("list", "--json", check=False))
        parsed = json.loads(as_json)
        if self.args.json:
            demonet.banner("msgtrk show --json %s" % envid)
            print(as_json, end="")
        else:
            print("\n  The same as JSON: msgtrk show --json %s (%d recipients, %d hops,"
                  " %d events)" % (envid, len(parsed["recipients"]),
                                   sum(len(r["hops"]) for r in parsed["recipients"]),
                                   len(parsed.get("events") or [])))

        got = self.states(parsed)
        if not self.settled_after_ingest(got):
            raise demonet.DemoError("unexpected states %r (wanted %r)"
                                    % (got, self.expected))
        if OPAQUE_RCPT in got and got[OPAQUE_RCPT] != "opaque":
            print("  (%s: MTQP stops at the opaque route; a DSN says %s)"
                  % (OPAQUE_RCPT, got[OPAQUE_RCPT]))

        if os.environ.get("DISPLAY") and not self.args.no_gui:
            self.show_gui(envid)
        elif not self.args.no_gui:
            print("\n  (No $DISPLAY: `msgtrk show --gui %s` would open the delivery map.)"
                  % envid)
        demonet.banner("Done in %.1f s; cleaning up" % (time.monotonic() - t0))
        return 0

    def show_gui(self, envid):
        """The viewer in this session (the private bus cannot activate it): start it as a
        service, then `msgtrk show --gui`; keep it open until closed, Enter or a timeout."""
        viewer = os.path.join(self.net.build_dir, "helper", "viewer", "msgtrk-viewer")
        if not os.access(viewer, os.X_OK):
            print("\n  (msgtrk-viewer is not built: no GTK 4; skipping --gui)")
            return
        demonet.banner("msgtrk show --gui %s" % envid)
        proc = self.session.spawn([viewer, "--gapplication-service"], "viewer.log",
                                  {"DISPLAY": os.environ["DISPLAY"]})
        try:
            self.session.wait_for("the viewer on the bus",
                                  lambda: proc.poll() is None and
                                  self.session.has_owner("org.msgtrk.Viewer"))
        except self.sessions.SessionError as e:
            print("  the viewer did not start: %s" % e)
            return
        r = self.session.cli("show", "--gui", envid)
        if r.returncode != 0:
            print("  msgtrk show --gui failed: %s" % r.stderr.decode(errors="replace").strip())
            return
        interactive = sys.stdin.isatty()
        limit = GUI_TIMEOUT if interactive else GUI_NONINTERACTIVE
        if interactive:
            print("  The delivery map is open: close its window or press Enter to finish.",
                  flush=True)
        else:
            print("  The delivery map is open for %.0f s." % limit, flush=True)
        end = time.monotonic() + limit
        import select
        while proc.poll() is None and time.monotonic() < end:
            if interactive:
                ready, _, _ = select.select([sys.stdin], [], [], 0.2)
                if ready:
                    sys.stdin.readline()
                    break
            else:
                time.sleep(0.2)

    def cleanup(self):
        if self.session is not None:
            if self.args.keep:
                self.session.stop()
            else:
                self.session.cleanup()
        if self.args.keep:
            self.net.stop()
            print("kept: %s %s" % (self.net.base, self.session.base if self.session else ""))
        else:
            self.net.cleanup()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "_build", "demo"))
    parser.add_argument("--save-dir", help="keep the CLI's outputs here (for tests)")
    parser.add_argument("--json", action="store_true", help="print msgtrk show --json")
    parser.add_argument("--no-gui", action="store_true", help="never open the viewer")
    parser.add_argument("--verbose", action="store_true", help="msgtrkd --verbose")
    parser.add_argument("--keep", action="store_true",
                        help="leave the temporary directories behind")
    args = parser.parse_args(argv)
    demo = Demo(args)
    return demo.main("msgtrk demo", (demo.sessions.SessionError,))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
