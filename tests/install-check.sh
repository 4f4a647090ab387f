#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# install-check.sh BUILDDIR: `meson install` into a scratch DESTDIR, then check what a user
# of the library sees: pkg-config finds msgtrk-1.0 and Python imports Msgtrk from the
# installed typelib.
set -eu
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
pcdir=$(find "$dest$prefix" -name msgtrk-1.0.pc -printf '%h\n' | head -n 1)
typelibdir=$(find "$dest$prefix" -name Msgtrk-1.0.typelib -printf '%h\n' | head -n 1)
libdir=$(find "$dest$prefix" -name 'libmsgtrk-1.0.so.0' -printf '%h\n' | head -n 1)
test -n "$pcdir" || { echo "msgtrk-1.0.pc not installed"; exit 1; }
test -n "$typelibdir" || { echo "Msgtrk-1.0.typelib not installed"; exit 1; }
test -f "$dest$prefix/include/msgtrk-1.0/msgtrk.h" || { echo "headers not installed"; exit 1; }
test -n "$(find "$dest$prefix" -name Msgtrk-1.0.gir)" || { echo "GIR not installed"; exit 1; }
# The export rule (docs/architecture.md): the internal archive and headers stay in the tree.
test -z "$(find "$dest" -name 'libmsgtrk-internal*' -o -name '*-private.h')" ||
  { echo "internal library or header installed"; exit 1; }

# The installed .pc says prefix=$prefix; a copy of it points into DESTDIR (its Requires,
# GLib and GIO, resolve from the system as usual).
mkdir "$dest/pc"
sed "s|^prefix=.*|prefix=$dest$prefix|" "$pcdir/msgtrk-1.0.pc" > "$dest/pc/msgtrk-1.0.pc"
pc() { PKG_CONFIG_PATH="$dest/pc" pkg-config "$@"; }
ver=$(pc --modversion msgtrk-1.0)
echo "pkg-config --modversion msgtrk-1.0: $ver"
test "$ver" = "$(meson introspect "$build" --projectinfo | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')"

# A program compiled against the installed headers and pkg-config flags.
cat > "$dest/use.c" <<'C'
#include <msgtrk.h>
int main (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsgtrkUrl) url = msgtrk_url_parse ("mtqp://example.org/track/x/AAAAAAAAAAAAAAAAAAAAAA%3D%3D", &error);
  return url ? 0 : 1;
}
C
cflags=$(pc --cflags msgtrk-1.0)
libs=$(pc --libs msgtrk-1.0)
# shellcheck disable=SC2086
cc -o "$dest/use" "$dest/use.c" $cflags $libs
LD_LIBRARY_PATH="$libdir" "$dest/use"

GI_TYPELIB_PATH="$typelibdir" LD_LIBRARY_PATH="$libdir" /usr/bin/python3 -c '
import gi
gi.require_version("Msgtrk", "1.0")
from gi.repository import Msgtrk
print("Python imports Msgtrk from the installed typelib; MTQP port", Msgtrk.MTQP_PORT)
'

# bash completion, and the API reference when gi-docgen built it (doc/meson.build).
test -f "$dest$prefix/share/bash-completion/completions/msgtrk" ||
  test -n "$(find "$dest" -path '*/completions/msgtrk')" || { echo "bash completion not installed"; exit 1; }
if [ -d "$build/doc/msgtrk-1.0" ]; then
  test -f "$dest$prefix/share/doc/msgtrk-1.0/index.html" || { echo "API reference not installed"; exit 1; }
  test -f "$dest$prefix/share/doc/msgtrk-1.0/msgtrk-1.0.devhelp2" || { echo "Devhelp index not installed"; exit 1; }
  echo "API reference installed in $prefix/share/doc/msgtrk-1.0"
fi
