#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-completion.py: the bash completion of msgtrk (data/completion/msgtrk) against msgtrk.

Runs bash --norc with the completion file sourced and drives _msgtrk through COMP_WORDS and
COMP_CWORD, as bash does on Tab. Checks: the commands offered for "msgtrk <Tab>" are exactly
those `msgtrk --help` lists (plus --help and --version); "msgtrk COMMAND --<Tab>" offers
exactly the long options `msgtrk COMMAND --help` prints; a prefix narrows the choice;
"ingest" completes file names; "--timeout <Tab>" offers nothing; "complete -p msgtrk"
names _msgtrk. TAP output.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testbus import Tap  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--cli", required=True)
ap.add_argument("--completion", required=True)
opts = ap.parse_args()

ENV = dict(os.environ, LANGUAGE="C", LC_ALL="C.UTF-8")
TAP = Tap()
ok = TAP.ok


def complete(words, cwd=None):
    """The completions _msgtrk offers when the cursor is at the end of words[-1]."""
    quoted = " ".join("'%s'" % w.replace("'", "'\\''") for w in words)
    script = ('source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE="${COMP_WORDS[*]}"; '
              'COMP_POINT=${#COMP_LINE}; _msgtrk msgtrk "${COMP_WORDS[COMP_CWORD]}" '
              '"${COMP_WORDS[COMP_CWORD-1]}"; printf "%%s\\n" "${COMPREPLY[@]}"'
              % (quoted, len(words) - 1))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", opts.completion],
                       capture_output=True, text=True, timeout=30, env=ENV, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError("bash failed: %s" % r.stderr)
    return sorted(w for w in r.stdout.split("\n") if w)


def help_text(*args):
    r = subprocess.run([opts.cli] + list(args), capture_output=True, text=True, timeout=30,
                       env=ENV)
    return r.stdout


# Commands: the lines "  NAME ARGS   summary" after "Commands:" in msgtrk --help.
top = help_text("--help")
commands = []
in_commands = False
for line in top.splitlines():
    if line.startswith("Commands:"):
        in_commands = True
        continue
    if in_commands:
        m = re.match(r"^  ([a-z][a-z-]*)\b", line)
        if m:
            commands.append(m.group(1))
        elif line.strip() == "":
            if commands:
                break
ok(len(commands) >= 8, "msgtrk --help lists the commands", top)
ok(complete(["msgtrk", ""]) == sorted(commands + ["--help", "--version"]),
   "msgtrk <Tab>: every command, nothing else", (complete(["msgtrk", ""]), commands))
ok(complete(["msgtrk", "ex"]) == ["export-url"], "msgtrk ex<Tab>: export-url")
ok(complete(["msgtrk", "i"]) == ["import-url", "ingest"], "msgtrk i<Tab>: import-url, ingest")

for cmd in commands:
    text = help_text(cmd, "--help")
    options = sorted(set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", text, re.M)))
    options = [o for o in options if o != "--help-all"]
    got = complete(["msgtrk", cmd, "--"])
    ok(got == options, "msgtrk %s --<Tab>: the options of its --help" % cmd, (got, options))

ok(complete(["msgtrk", "show", "--g"]) == ["--gui"], "msgtrk show --g<Tab>: --gui")
ok(complete(["msgtrk", "track", "--timeout", ""]) == [], "msgtrk track --timeout <Tab>: nothing")
ok(complete(["msgtrk", "nosuch", "--"]) == [], "an unknown command: nothing")
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "report.eml"), "w").close()
    open(os.path.join(d, "other.txt"), "w").close()
    ok(complete(["msgtrk", "ingest", "rep"], cwd=d) == ["report.eml"],
       "msgtrk ingest rep<Tab>: the file")
    ok(complete(["msgtrk", "forget", "rep"], cwd=d) == [],
       "msgtrk forget rep<Tab>: no file names for a message id")
r = subprocess.run(["bash", "--norc", "--noprofile", "-c", 'source "$1"; complete -p msgtrk',
                    "bash", opts.completion], capture_output=True, text=True, timeout=30)
ok("-F _msgtrk" in r.stdout and r.stdout.strip().endswith(" msgtrk"),
   "complete -p msgtrk names _msgtrk", r.stdout + r.stderr)
sys.exit(TAP.done())
