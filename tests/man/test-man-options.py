#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-man-options.py: every installed program's --help and its man page list the same options.

For each PROGRAM=MANPAGE pair: the long options `PROGRAM --help-all` (or `--help` where
there are no groups) prints, and the long options its man page sets in bold (.B, .BR, .BI
lines and \\fB...\\fR), must be the same set, both ways. For msgtrk, each command's
`msgtrk COMMAND --help` counts too, and `msgtrk --help` must name --version. The help
options themselves (--help, --help-all, --help-gapplication) need no man entry; a hidden
option (HIDDEN) may be documented if the program accepts it. TAP output;
a failure names the options missing on each side.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from testbus import Tap  # noqa: E402

HELP_OPTIONS = {"--help", "--help-all", "--help-gapplication"}
# Options of other programs a man page names in bold: PAGE -> options to ignore there.
ELSEWHERE = {"msgtrk-viewer.1": {"--gui"}}  # "msgtrk show --gui"
# Hidden options (G_OPTION_FLAG_HIDDEN) a man page may document: PROGRAM -> options.
HIDDEN = {"mtqpd": {"--idle-timeout-for-tests"}}

ap = argparse.ArgumentParser()
ap.add_argument("pairs", nargs="+", help="PROGRAM=MANPAGE")
opts = ap.parse_args()
ENV = dict(os.environ, LANGUAGE="C", LC_ALL="C.UTF-8", DISPLAY="", WAYLAND_DISPLAY="")
TAP = Tap()
ok = TAP.ok


def run_help(argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=ENV,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def help_options(text):
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", text, re.M))


def man_options(path):
    text = open(path, encoding="utf-8").read().replace("\\-", "-")
    found = set()
    for line in text.splitlines():
        if re.match(r"^\.(B|BR|RB|BI|IB)\s", line):
            try:
                words = shlex.split(line[3:].strip())
            except ValueError:
                words = line[3:].split()
            bold = words[0::2] if line.startswith((".BR", ".BI")) else \
                words[1::2] if line.startswith((".RB", ".IB")) else words
            for w in bold:
                found.update(re.findall(r"^(--[a-z][a-z-]*)", w.strip(",")))
        for m in re.finditer(r"\\fB(--[a-z][a-z-]*)", line):
            found.add(m.group(1))
    return found


for pair in opts.pairs:
    prog, page = pair.split("=", 1)
    name = os.path.basename(prog)
    rc, text = run_help([prog, "--help-all"])
    if "--help-all" not in text or rc != 0:
        rc, text = run_help([prog, "--help"])
    ok(rc == 0, "%s --help works (without a display)" % name, text)
    have = help_options(text)
    if name == "msgtrk":
        commands = re.findall(r"^  ([a-z][a-z-]+) ", text.split("Commands:", 1)[-1], re.M)
        ok("--version" in text, "msgtrk --help names --version", text)
        have.add("--version") if "--version" in text else None
        for cmd in commands:
            rc, sub = run_help([prog, cmd, "--help"])
            have |= help_options(sub)
    have -= HELP_OPTIONS
    documented = man_options(page) - HELP_OPTIONS - ELSEWHERE.get(os.path.basename(page), set())
    for hidden in HIDDEN.get(name, ()):
        rc, _ = run_help([prog, hidden + "=1", "--help"])
        ok(rc == 0, "%s accepts its hidden option %s" % (name, hidden))
        documented.discard(hidden)
    ok(have <= documented, "%s: every --help option is in %s" % (name, os.path.basename(page)),
       "not in the man page: " + ", ".join(sorted(have - documented)))
    ok(documented <= have, "%s: every option of %s is in --help" % (name, os.path.basename(page)),
       "not in --help: " + ", ".join(sorted(documented - have)))
sys.exit(TAP.done())
