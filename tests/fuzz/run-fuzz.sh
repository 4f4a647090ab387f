#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# run-fuzz.sh TARGET SEED_DIR: a short libFuzzer run (MSGTRK_FUZZ_SECONDS, default 20 s).
# New inputs go to a scratch directory; the seed corpus in the source tree is read only.
# When the run fails, each input libFuzzer kept (crash-*, leak-*, timeout-*, oom-*) is
# printed in base64 (the test log keeps it: `base64 -d` it into tests/fuzz/corpus/ to make
# it a regression input) and copied to MSGTRK_FUZZ_ARTIFACTS if that is set. A failure
# exits 1 (libFuzzer's own default, 77, would read as a skip to meson).
set -eu
target=$1 seeds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
status=0
"$target" -max_total_time="${MSGTRK_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -max_len=65536 \
  -timeout=10 -error_exitcode=1 -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seeds" ||
  status=$?
if [ "$status" -ne 0 ]; then
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -f "$f" ] || continue
    echo "run-fuzz.sh: input kept by libFuzzer, $(wc -c < "$f") octets, base64:" >&2
    base64 "$f" >&2
    if [ -n "${MSGTRK_FUZZ_ARTIFACTS:-}" ]; then
      mkdir -p "$MSGTRK_FUZZ_ARTIFACTS"
      cp "$f" "$MSGTRK_FUZZ_ARTIFACTS/$(basename "$target")-$(basename "$f")"
    fi
  done
fi
exit "$status"
