#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test-claws-unload.py: the plugin unloaded while a compose window it decorated is open.

Configuration ▸ Plugins ▸ Unload calls plugin_done() and then g_module_close(). A compose
window opened before carried the plugin's "Ask relays to report the route" action, whose
"toggled" handler was plugin code, and its "✉ Track delivery" check button: ticking the
option after the unload crashed Claws (session 21 review), and "Track this message" still
showed ticked with no hook left to send tracked. Now plugin_done() takes the plugin's
items, actions and check button out of open compose windows, and the module is linked
-z nodelete (a late GTask answer or idle still finds its code). The unload is done here
the way Claws's Unload button does it, plugin_unload(plugin_get_loaded_by_name("msgtrk")),
called from gdb while Claws waits in its main loop; then the compose window's Options
menu is driven (its last items) and Claws must still be running. Skips (77) like the
other e2e tests.
"""

import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import claws_harness as h  # noqa: E402


def unload_plugin(run):
    out = subprocess.run(
        ["gdb", "-p", str(run.claws.pid), "-batch", "-nx",
         "-ex", "call (void) plugin_unload(((void *(*)(const char *)) "
                "plugin_get_loaded_by_name)(\"msgtrk\"))",
         "-ex", "detach"],
        capture_output=True, text=True, timeout=120)
    h.log("gdb: " + " | ".join(ln for ln in out.stdout.splitlines() if ln.strip())[-300:])


def scenario(run):
    if shutil.which("gdb") is None:
        h.skip("no gdb")
    run.start_all()
    compose = run.compose("Unload test", ("Hello Alice,", "the plugin goes away."))
    unload_plugin(run)   # gdb's call returns once plugin_unload() has run
    if run.claws.poll() is not None:
        raise AssertionError("Claws Mail died at the unload (status %r)" % run.claws.poll())
    h.log("plugin unloaded")
    # The Options menu: before, its last two items were the plugin's ("Ask relays to
    # report the route", "Track this message"), and ticking the first after the unload
    # crashed Claws. The screenshot shows the menu without them (and the compose window
    # without "✉ Track delivery").
    run.keys(compose, "alt+o")
    time.sleep(0.5)
    run.keys(compose, "Up")
    run.keys(compose, "Up")
    run.shot("unload-compose-options.png")
    run.keys(compose, "Escape")
    run.keys(compose, "Escape")
    time.sleep(1.0)
    if run.claws.poll() is not None:
        raise AssertionError("Claws Mail died (status %r) with the compose window's Options "
                             "menu after the unload" % run.claws.poll())
    return "plugin unloaded with a compose window open: its items gone, Claws keeps running"


if __name__ == "__main__":
    sys.exit(h.main("unload", scenario))
