#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# run-fuzz.sh TARGET SEED_DIR: a short libFuzzer run (MSGTRK_FUZZ_SECONDS, default 20 s).
# New inputs go to a scratch directory; the seed corpus in the source tree is read only.
set -eu
target=$1 seeds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
"$target" -max_total_time="${MSGTRK_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 -max_len=65536 \
  -timeout=10 -artifact_prefix="$work/" -print_final_stats=1 "$work/corpus" "$seeds"
