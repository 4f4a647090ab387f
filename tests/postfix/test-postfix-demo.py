#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-postfix-demo.py: the demo's second command (tools/demo-postfix-helper.py, what
`bash tools/demo-postfix.sh` runs after building) end to end.

  test-postfix-demo.py --build-dir BUILD   (a build with introspection)

What: runs the helper as the demo does and checks that it exits 0; that `msgtrk show`
(the real CLI, talking to the real msgtrkd, which asked mtqpd) prints every recipient
with Postfix's verdict: the local mailbox DELIVERED, the 250 sink RELAYED, the 451 sink
DELAYED and the 550 sink FAILED, each with Postfix's own text ("451 4.3.0 try again
later", "550 5.1.1 no such user here"); that `msgtrk show --json` says the same; that the
demo printed its per-recipient table; and that nothing is left behind (no temporary
directory of its own, no process of its instance).
Limits: RUN_TIMEOUT. Skips (77) unless root with Postfix installed.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import postfix_instance as pi  # noqa: E402

HELPER = os.path.join(ROOT, "tools", "demo-postfix-helper.py")
RUN_TIMEOUT = 180
WANT = {"alice@test.example": ("delivered", "DELIVERED", "delivered to maildir"),
        "x@ok.test.example": ("relayed", "RELAYED (NO FURTHER TRACKING)",
                              "250 2.0.0 Ok: queued as SINK1"),
        "y@tmp.test.example": ("delayed", "DELAYED", "451 4.3.0 try again later"),
        "z@perm.test.example": ("failed", "FAILED", "550 5.1.1 no such user here")}


def temp_dirs(tmp):
    """The demo's temporary directories in @tmp (the demo runs with TMPDIR=@tmp, its own,
    so that the other tests' Postfix instances, running at the same time, are not seen)."""
    return set(glob.glob(os.path.join(tmp, "msgtrk-postfix-*"))) | \
        set(glob.glob(os.path.join(tmp, "msgtrkd-demo-postfix-*")))


def main():
    a = pi.test_args()
    t = pi.Checker()
    tmp = tempfile.mkdtemp(prefix="msgtrk-demo-tmp-")
    os.chmod(tmp, 0o755)  # Postfix's own users reach its instance under it
    with tempfile.TemporaryDirectory(prefix="msgtrk-demo-out-") as out:
        env = dict(os.environ, LC_ALL="C.UTF-8", LANGUAGE="", NO_COLOR="1", TZ="UTC",
                   TMPDIR=tmp)
        env.pop("DISPLAY", None)
        try:
            r = subprocess.run(["/usr/bin/python3", HELPER, "--build-dir", a.build_dir,
                                "--save-dir", out], env=env, capture_output=True,
                               timeout=RUN_TIMEOUT)
            code, stdout = r.returncode, r.stdout.decode(errors="replace")
            stderr = r.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            code, stdout, stderr = -1, (e.stdout or b"").decode(errors="replace"), "timeout"
        if not t.equal("the demo exits 0", code, 0):
            print("# " + (stdout[-3000:] + stderr[-3000:]).replace("\n", "\n# "))
        try:
            show = open(os.path.join(out, "show.txt")).read()
            as_json = json.load(open(os.path.join(out, "show.json")))
        except (OSError, ValueError) as e:
            show, as_json = "", {"recipients": []}
            t.check("the CLI's outputs saved", False, repr(e))
        states = {r["address"]: r["state"] for r in as_json["recipients"]}
        for rcpt, (state, heading, text) in WANT.items():
            t.check("msgtrk show: %s — %s" % (rcpt, heading),
                    "%s — %s\n" % (rcpt, heading) in show, show)
            t.check("msgtrk show: %s with Postfix's text %r" % (rcpt, text),
                    text in show.split("%s — " % rcpt, 1)[-1].split("\n\n", 1)[0], show)
            t.equal("msgtrk show --json: %s" % rcpt, states.get(rcpt), state)
        t.check("the demo prints the per-recipient table",
                "Per recipient: Postfix's verdict as mtqpd answered it" in stdout
                and "smtp; 550 5.1.1 no such user here" in stdout, stdout[-2000:])
    left = temp_dirs(tmp)
    t.check("no temporary directory left behind", not left, repr(left))
    shutil.rmtree(tmp, ignore_errors=True)
    # The servers' command lines name their configuration in the demo's directory.
    base = re.search(r"A private Postfix on 127.0.0.1 \(in (\S+)\)", stdout)
    t.check("the demo says where its instance lives", base is not None, stdout[:500])
    if base:
        procs = subprocess.run(["pgrep", "-af", base.group(1)],
                               capture_output=True).stdout.decode().strip()
        t.check("no process of the demo left", not procs, procs)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
