#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test.sh: the README's test command. Installs what it needs, then builds and runs the whole
# suite three times:
#   _build/test         gcc, warnings as errors, introspection on (GIR, Python, install check)
#   _build/test-asan    gcc, ASan+UBSan, warnings as errors, introspection off
#   _build/test-fuzz    clang, libFuzzer targets, a short fuzz run of each (suite 'fuzz')
# The last line is "N passed, N failed, N skipped", summed from meson's testlog.json files.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash tools/deps.sh test || { echo "dependency installation failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

jobs=$(nproc)
build_failures=0
logs=()

run_build() { # dir, test args..., -- setup args...
  local dir=$1; shift
  local test_args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do test_args+=("$1"); shift; done
  shift
  echo "=== $dir: meson setup $*"
  rm -f "$dir/meson-logs/testlog.json"
  if ! meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 &&
     ! { rm -rf "$dir" && meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; }; then
    cat "$dir.setup.log"; echo "=== $dir: setup FAILED"; build_failures=$((build_failures + 1)); return
  fi
  if ! meson compile -C "$dir" >"$dir.build.log" 2>&1; then
    tail -n 60 "$dir.build.log"; echo "=== $dir: build FAILED"; build_failures=$((build_failures + 1)); return
  fi
  echo "=== $dir: meson test ${test_args[*]}"
  meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$jobs" "${test_args[@]}" \
    >"$dir.test.log" 2>&1
  grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):' "$dir.test.log" || true
  grep -E ' (FAIL|TIMEOUT|ERROR) ' "$dir.test.log" | head -n 40 || true
  if [ -f "$dir/meson-logs/testlog.json" ]; then
    logs+=("$dir/meson-logs/testlog.json")
  else
    build_failures=$((build_failures + 1))
  fi
}

mkdir -p _build
run_build _build/test -- --werror -Dintrospection=true -Dbuildtype=debugoptimized
run_build _build/test-asan --no-suite install -- --werror -Dintrospection=false \
  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
MSGTRK_FUZZ_ARTIFACTS="$root/.ci/artifacts/fuzz" CC=clang run_build _build/test-fuzz --suite fuzz -- -Dintrospection=false -Dfuzz=true \
  -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link \
  -Dbuildtype=debugoptimized

mkdir -p .ci/artifacts
for d in _build/test _build/test-asan _build/test-fuzz; do
  [ -f "$d/meson-logs/testlog.txt" ] && cp "$d/meson-logs/testlog.txt" ".ci/artifacts/$(basename "$d")-testlog.txt"
done
python3 tools/summarize-tests.py --extra-failed "$build_failures" "${logs[@]}"
