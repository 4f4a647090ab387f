#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""check-since.py: every public symbol of Msgtrk-1.0.gir is documented and says since when.

Usage: check-since.py GIR [GI-DOCGEN CONFIG]

g-ir-scanner writes a comment's "Since: 1.0" as version="1.0". Checked: every class,
record (except the class structs G_DECLARE_* makes, which have no comment of their own),
enumeration, flags type, callback, constant, function, constructor, method, virtual method,
property and signal. The failure lists the symbols without a version, by C name. With
gi-docgen, `gi-docgen check` must print no warning either (a symbol without a description);
the failure lists its warnings.
"""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

CORE = "{http://www.gtk.org/introspection/core/1.0}"
GLIB = "{http://www.gtk.org/introspection/glib/1.0}"
C = "{http://www.gtk.org/introspection/c/1.0}"
TYPES = ("class", "record", "enumeration", "bitfield", "callback", "constant", "interface")
MEMBERS = ("function", "constructor", "method", "virtual-method", "property")


def name_of(elem, owner=None):
    cname = elem.get(C + "identifier") or elem.get(C + "type")
    if cname:
        return cname
    if owner is not None:
        sep = "::" if elem.tag == GLIB + "signal" else ":"
        return "%s%s%s" % (owner, sep, elem.get("name"))
    return elem.get("name")


def docgen_warnings(gir, gidocgen, config):
    r = subprocess.run([gidocgen, "check", "--config", config, gir], capture_output=True,
                       text=True, timeout=240)
    lines = [line for line in (r.stdout + r.stderr).splitlines() if "WARNING" in line]
    if r.returncode != 0 and not lines:
        lines = ["gi-docgen check failed: " + (r.stdout + r.stderr).strip()]
    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def main(gir, gidocgen=None, config=None):
    ns = ET.parse(gir).getroot().find(CORE + "namespace")
    missing = []
    checked = 0
    for elem in ns:
        tag = elem.tag
        if tag not in [CORE + t for t in TYPES] + [CORE + "function"]:
            continue
        if elem.get(GLIB + "is-gtype-struct-for"):
            continue
        checked += 1
        if not elem.get("version"):
            missing.append(name_of(elem))
        owner = elem.get(C + "type") or elem.get("name")
        for child in elem:
            if child.tag in [CORE + m for m in MEMBERS] + [GLIB + "signal"]:
                checked += 1
                if not child.get("version"):
                    missing.append(name_of(child, owner))
    status = 0
    if missing:
        print("%d of %d public symbols have no \"Since:\" tag in their comment:" %
              (len(missing), checked))
        for m in missing:
            print("  " + m)
        status = 1
    else:
        print("all %d public symbols have a \"Since:\" tag" % checked)
    if gidocgen:
        warnings = docgen_warnings(gir, gidocgen, config)
        if warnings:
            print("gi-docgen check: %d warnings:" % len(warnings))
            for w in warnings:
                print("  " + w)
            status = 1
        else:
            print("gi-docgen check: no warnings")
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
