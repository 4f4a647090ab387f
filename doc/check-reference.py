#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""check-reference.py: the libmsgtrk API reference gi-docgen built (doc/meson.build).

Checks that the output directory has index.html, the overview page, the Devhelp index and
one page per class, enumeration, flags type and error domain of Msgtrk-1.0.gir. TAP
output; a failure lists what is missing. (Whether every symbol is documented is
check-since.py's part.)
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET

CORE = "{http://www.gtk.org/introspection/core/1.0}"
GLIB = "{http://www.gtk.org/introspection/glib/1.0}"

ap = argparse.ArgumentParser()
ap.add_argument("--gir", required=True)
ap.add_argument("--docs", required=True)
opts = ap.parse_args()

n = 0
failed = 0


def ok(cond, name, diag=None):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, name))
    if not cond and diag:
        print("# " + str(diag).replace("\n", "\n# "))


ns = ET.parse(opts.gir).getroot().find(CORE + "namespace")
pages = ["index.html", "overview.html", "search.js",
         os.path.basename(os.path.normpath(opts.docs)) + ".devhelp2"]
for cls in ns.findall(CORE + "class"):
    pages.append("class.%s.html" % cls.get("name"))
for enum in ns.findall(CORE + "enumeration"):
    kind = "error" if enum.get(GLIB + "error-domain") else "enum"
    pages.append("%s.%s.html" % (kind, enum.get("name")))
for flags in ns.findall(CORE + "bitfield"):
    pages.append("flags.%s.html" % flags.get("name"))
missing = [p for p in pages if not os.path.isfile(os.path.join(opts.docs, p))]
ok(len(pages) > 20, "the GIR has the public types (%d pages expected)" % len(pages))
ok(not missing, "every page exists", "missing: " + ", ".join(missing))

print("1..%d" % n)
sys.exit(1 if failed else 0)
