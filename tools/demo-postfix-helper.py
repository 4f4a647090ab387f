#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""demo-postfix-helper.py: the demo's second command: a message tracked through Postfix.

What: on 127.0.0.1, a private Postfix (every file in a temporary directory, the system's
/etc/postfix untouched: tests/postfix/postfix_instance.py) with three next hops (a sink
answering 250, one answering 451, one answering 550: tests/postfix/tracking_harness.py),
msgtrk-submit-front in front of it, msgtrk-postfix-follower reading its log and mtqpd
answering from the records; msgtrkd in a throw-away session (tools/msgtrkd_session.py)
sends one message the way a mail client does (Prepare → SMTP through the front with ENVID
and MTRK=B → Committed) to a local mailbox, the 250 sink, the 4xx sink and the 5xx sink,
tracks it over MTQP, and the real CLI prints per recipient Postfix's verdict as mtqpd
answered it (`msgtrk show`, then `msgtrk show --json`'s state and diagnostic).
How: tools/demo-postfix.sh builds and installs what is needed, then runs this as root
(Postfix's master runs as root; the msgtrk servers drop to nobody).
Options: --build-dir (with introspection), --save-dir DIR (show.txt, show.json: for the
test), --keep, --verbose.
Limits: DEADLINE seconds for every recipient to reach its state.
Never: touch the system's Postfix; print or store the tracking secret A; leave a process
or a temporary directory behind (unless --keep).
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "postfix"))

import demonet  # noqa: E402

DEADLINE = 60.0
SENDER = "sender@test.example"
SUBJECT = "Through Postfix"
EXPECTED = {
    "alice@test.example": ("delivered", "a local mailbox (Postfix's virtual agent)"),
    "x@ok.test.example": ("relayed", "a next hop answering 250"),
    "y@tmp.test.example": ("delayed", "a next hop answering 451 (Postfix retries)"),
    "z@perm.test.example": ("failed", "a next hop answering 550"),
}


class Demo(demonet.DemoCommand):
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.Msgtrk = demonet.setup_gi(self.build)  # may re-execute with the library path
        import msgtrkd_session
        import postfix_instance
        import tracking_harness
        self.ms, self.pi, self.th = msgtrkd_session, postfix_instance, tracking_harness
        self.pf = None
        self.sinks = []
        self.daemons = []
        self.session = None

    def start_server(self, exe, name, conf_text, port_file=None):
        return self.daemons.start(os.path.join(self.build, exe), name, conf_text, port_file,
                                  verbose=self.args.verbose)

    def run(self):
        t0 = time.monotonic()
        reason = self.pi.skip_reason()
        if reason:
            raise demonet.DemoError(reason)
        pf = self.pf = self.pi.PrivatePostfix()
        self.daemons = self.th.Daemons(pf.base)
        self.sinks = self.th.configure_site(pf)
        with open(os.path.join(pf.conf, "main.cf"), "a") as f:
            f.write("smtpd_authorized_xclient_hosts = 127.0.0.0/8\n")
        pf.start()
        state, regs = self.th.site_state_dir(pf)
        mx = self.pi.MX
        fport = self.start_server(
            "server/postfix/msgtrk-submit-front", "front",
            "[front]\nlisten=127.0.0.1:0\nhostname=submit.test.example\n"
            "upstream=127.0.0.1:%d\nstate_dir=%s\nuser=nobody\n" % (pf.port, state),
            os.path.join(pf.base, "front.port"))
        self.start_server(
            "server/postfix/msgtrk-postfix-follower", "follower",
            "[follower]\nmaillog=%s\nstate_dir=%s\nhostname=%s\nuser=nobody\n"
            "postfix_config_directory=%s\npoll_interval=50\n" % (pf.log, state, mx, pf.conf))
        mport = self.start_server(
            "server/mtqpd/mtqpd", "mtqpd",
            "[mtqpd]\nhostname=%s\nstate_dir=%s\nuser=nobody\nlisten=127.0.0.1:0\n"
            % (mx, state), os.path.join(pf.base, "mtqpd.port"))
        demonet.banner("A private Postfix on 127.0.0.1 (in %s)" % pf.base)
        print("  Postfix smtpd            127.0.0.1:%d  (%s)" % (pf.port, mx))
        print("  msgtrk-submit-front      127.0.0.1:%d  (MTRK added, Postfix decides)" % fport)
        print("  msgtrk-postfix-follower  reading %s" % pf.log)
        print("  mtqpd                    127.0.0.1:%d" % mport)
        for (rcpt, (_, what)) in EXPECTED.items():
            print("  %-22s %s" % (rcpt, what))

        self.start_msgtrkd(self.ms, self.build, "demo-postfix",
                           ["--mtqp-override", "%s=127.0.0.1:%d" % (mx, mport)])
        demonet.banner("msgtrkd running (private D-Bus session, throw-away keyring)")

        recipients = list(EXPECTED)
        envid, keywords, reply = self.send_tracked(self.ms, SENDER, recipients, SUBJECT, mx,
                                                   fport)
        demonet.banner("Sent through msgtrk-submit-front to Postfix (Prepare → SMTP → Committed)")
        print("  ENVID    %s" % envid)
        print("  offered  %s" % " ".join(keywords))
        print("  reply    %s" % reply)

        demonet.banner("msgtrkd asks mtqpd (MTQP), which answers with Postfix's verdicts")
        want = {r: st for r, (st, _) in EXPECTED.items()}
        self.watch(envid, want, t0, DEADLINE, pf.maillog)

        out = self.cli("show", envid)
        demonet.banner("msgtrk show %s" % envid)
        print("".join("  " + line + "\n" for line in out.rstrip("\n").split("\n")), end="")
        as_json = self.cli("show", "--json", envid)
        self.save("show.txt", out)
        self.save("show.json", as_json)
        demonet.banner("Per recipient: Postfix's verdict as mtqpd answered it")
        for r in json.loads(as_json)["recipients"]:
            hops = r.get("hops") or [{}]
            last = hops[-1]
            detail = last.get("diagnostic") or last.get("status") or ""
            print("  %-22s %-10s %s" % (r["address"], r["state"], detail))
        demonet.banner("Done in %.1f s; cleaning up" % (time.monotonic() - t0))
        return 0

    def cleanup(self):
        if self.session is not None:
            self.session.stop() if self.args.keep else self.session.cleanup()
        for d in self.daemons:
            d.stop()
        if self.pf is not None:
            if self.args.keep:
                self.pf.stop()
                print("kept: %s" % self.pf.base)
            else:
                self.pf.cleanup()
        for s in self.sinks:
            s.close()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "_build", "demo"))
    ap.add_argument("--save-dir", help="keep the CLI's outputs here (for the test)")
    ap.add_argument("--verbose", action="store_true", help="the servers' and msgtrkd's --verbose")
    ap.add_argument("--keep", action="store_true", help="leave the temporary directories")
    args = ap.parse_args(argv)
    demo = Demo(args)
    return demo.main("msgtrk demo-postfix", (demo.pi.PostfixError, demo.ms.SessionError, OSError))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
