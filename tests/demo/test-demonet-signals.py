#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""tools/demonet.py's raise_on_signals(), which the demo and the Postfix tests use so that
SIGTERM (Ctrl-C, meson's timeout) ends a run through its clean-up: in a child Python each
case sends itself the signal and says what became of it.

- A signal whose exception Python lost, in a finalizer ("Exception ignored in ...": the
  demo's SIGTERM test once exited 0 that way) or in a GLib callback (PyGObject prints it),
  is raised again by the next wait_for().
- One that was not lost is not raised a second time (the clean-up's own waits run).
- After the first signal the others are ignored (no second interruption of the clean-up).
- tests/postfix's raise_on_terminate(): the signal is no PostfixError (no test phase takes
  it for a failed step and runs on); the clean-up runs.
"""

import os
import subprocess
import sys
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")

PRELUDE = """
import os, signal, sys
sys.path.insert(0, %r)
import demonet
demonet.raise_on_signals((signal.SIGTERM, signal.SIGHUP), lambda n: KeyboardInterrupt(n))

def waited():
    try:
        demonet.wait_for("nothing", lambda: True, 5)
    except KeyboardInterrupt as e:
        print("raised again", e.args)
        return
    print("wait ran")
""" % TOOLS

LOST = PRELUDE + """
class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # the handler runs here, inside the finalizer

Finalized()  # collected at once
print("went on")
waited()
"""

IN_CALLBACK = PRELUDE + """
from gi.repository import GLib

def callback():
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))  # the handler runs here, inside the GLib callback
    return GLib.SOURCE_REMOVE

GLib.idle_add(callback)
GLib.MainContext.default().iteration(False)  # PyGObject prints the exception
print("went on")
waited()
"""

CAUGHT = PRELUDE + """
try:
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))
    print("not interrupted")
except KeyboardInterrupt as e:
    print("interrupted", e.args)
waited()
"""

ONCE = PRELUDE + """
try:
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))
except KeyboardInterrupt:
    pass
os.kill(os.getpid(), signal.SIGHUP)  # would end the process if not ignored
os.kill(os.getpid(), signal.SIGTERM)
sum(range(1000))
print("second signals ignored")
"""

# tests/postfix's use: meson's SIGTERM is no failed step a phase would catch and go on.
POSTFIX_TESTS = """
import os, signal, sys
sys.path.insert(0, %r)
import postfix_instance as pi
pi.raise_on_terminate()
try:
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))
    except pi.PostfixError:
        print("taken for a failed step")
    except Exception:
        print("taken for an error")
finally:
    print("clean-up ran")
""" % os.path.join(TOOLS, "..", "tests", "postfix")


def run(code):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout, r.stderr


class RaiseOnSignals(unittest.TestCase):
    def test_lost_in_finalizer_raised_again(self):
        rc, out, err = run(LOST)
        self.assertEqual(rc, 0, err)
        self.assertIn("Exception ignored", err)  # Python's own report stays
        self.assertEqual(out.splitlines(), ["went on", "raised again (15,)"], err)

    def test_lost_in_glib_callback_raised_again(self):
        rc, out, err = run(IN_CALLBACK)
        self.assertEqual(rc, 0, err)
        self.assertIn("KeyboardInterrupt", err)  # PyGObject's own report stays
        self.assertEqual(out.splitlines(), ["went on", "raised again (15,)"], err)

    def test_not_lost_not_raised_twice(self):
        rc, out, err = run(CAUGHT)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), ["interrupted (15,)", "wait ran"], err)

    def test_later_signals_ignored(self):
        rc, out, err = run(ONCE)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines(), ["second signals ignored"], err)

    def test_postfix_tests_killed_not_a_failed_step(self):
        rc, out, err = run(POSTFIX_TESTS)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines(), ["clean-up ran"], err)
        self.assertIn("postfix_instance.Killed: killed by signal 15", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
