#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# test-exports.py LIBRARY HEADER... [--module MODULE...]: the export rule of libmsgtrk.
#
# What: libmsgtrk-1.0.so exports exactly the documented public API: every dynamic symbol it
# defines is declared with MSGTRK_AVAILABLE_IN_ALL in an installed header, every such
# declaration is exported, and no internal helper (msgtrk_*_private, msgtrk_tls_*,
# msgtrk_dot_*, the *-private.h helpers) is. Each MODULE (a plugin loaded into a host)
# may only need msgtrk_* symbols that the library exports.
# How: `nm -D --defined-only` on the library, a small parser of the headers (the name before
# the first "(" after the macro; G_DECLARE_*_TYPE gives <prefix>_get_type).
# Limits: ELF and binutils nm only. Prints the count (TAP, one test per check).
# Never: builds anything; it only reads the built files.
import glob
import os
import re
import subprocess
import sys

args = sys.argv[1:]
modules = []
build_root = None
if '--build-root' in args:
    i = args.index('--build-root')
    build_root = args[i + 1]
    del args[i:i + 2]
if '--module' in args:
    i = args.index('--module')
    modules = args[i + 1:]
    args = args[:i]
library, headers = args[0], args[1:]

DECL = re.compile(r'MSGTRK_AVAILABLE_IN_ALL\s+([^;{]*?\))', re.S)
TYPE_DECL = re.compile(r'G_DECLARE_\w+_TYPE\s*\(\s*\w+\s*,\s*(\w+)\s*,')
FUNC_NAME = re.compile(r'\b(\w+)\s*\(')
INTERNAL = re.compile(r'(_private\b|_internal\b)')


def declared_names():
    names = set()
    for path in headers:
        with open(path, encoding='utf-8') as f:
            text = re.sub(r'/\*.*?\*/', ' ', f.read(), flags=re.S)
        text = re.sub(r'^\s*#.*$', ' ', text, flags=re.M)
        for m in DECL.finditer(text):
            decl = m.group(1)
            t = TYPE_DECL.search(decl)
            if t:
                names.add(t.group(1) + '_get_type')
                continue
            f_ = FUNC_NAME.search(decl)
            if f_:
                names.add(f_.group(1))
    return names


def private_names():
    # Every msgtrk_* function named in lib/*-private.h (next to the installed headers).
    names = set()
    for path in glob.glob(os.path.join(os.path.dirname(headers[0]), '*-private.h')):
        with open(path, encoding='utf-8') as f:
            names |= set(re.findall(r'\b(msgtrk_\w+)\s*\(', f.read()))
    return names


def dynamic_symbols(path, defined):
    cmd = ['nm', '-D', '--defined-only' if defined else '--undefined-only', path]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {line.split()[-1].split('@')[0] for line in out.splitlines() if line.strip()}


checks = []
exported = {s for s in dynamic_symbols(library, True) if not s.startswith('_')}
declared = declared_names()
private = private_names()

checks.append(('every exported symbol is declared public', sorted(exported - declared)))
checks.append(('every public declaration is exported', sorted(declared - exported)))
checks.append(('no internal helper is exported',
               sorted(s for s in exported if INTERNAL.search(s) or s in private)))
lib_soname = None
for line in subprocess.run(['readelf', '-d', library], check=True, capture_output=True,
                           text=True).stdout.splitlines():
    if '(SONAME)' in line:
        lib_soname = line.split('[', 1)[1].rstrip(']')
for module in modules:
    name = module.rsplit('/', 1)[-1]
    needed = {s for s in dynamic_symbols(module, False) if s.startswith('msgtrk_')}
    checks.append(('%s needs only the public API' % name, sorted(needed - exported)))
    # A module that uses libmsgtrk must load it (DT_NEEDED): a module may be linked with
    # undefined symbols, which would only fail when the host loads it.
    dynamic = subprocess.run(['readelf', '-d', module], check=True, capture_output=True,
                             text=True).stdout
    linked = lib_soname is not None and '[%s]' % lib_soname in dynamic
    checks.append(('%s links %s' % (name, lib_soname),
                   [] if linked or not needed else ['no DT_NEEDED for the library']))

# No program or module both loads libmsgtrk-1.0.so and carries its own copy of it (the
# static libmsgtrk-internal.a): every GType would be registered twice.
if build_root is not None:
    both = []
    for dirpath, dirnames, filenames in os.walk(build_root):
        dirnames[:] = [d for d in dirnames if not d.endswith('.p') and not d.startswith('meson-')
                       and os.path.join(dirpath, d) != os.path.join(build_root, 'lib')]
        for f in filenames:
            path = os.path.join(dirpath, f)
            if not os.access(path, os.X_OK) or os.path.islink(path):
                continue
            with open(path, 'rb') as fh:
                if fh.read(4) != b'\x7fELF':
                    continue
            dynamic = subprocess.run(['readelf', '-d', path], capture_output=True,
                                     text=True).stdout
            if lib_soname is None or '[%s]' % lib_soname not in dynamic:
                continue
            out = subprocess.run(['nm', '--defined-only', path], capture_output=True,
                                 text=True).stdout
            own = {line.split()[-1] for line in out.splitlines() if line.strip()}
            if own & exported:
                both.append(os.path.relpath(path, build_root))
    checks.append(('no program links both the shared and the internal library', sorted(both)))

print('1..%d' % len(checks))
print('# %d symbols exported, %d declared public' % (len(exported), len(declared)))
failed = False
for n, (name, bad) in enumerate(checks, 1):
    if bad:
        failed = True
        print('not ok %d - %s' % (n, name))
        for s in bad:
            print('#   %s' % s)
    else:
        print('ok %d - %s' % (n, name))
sys.exit(1 if failed else 0)
