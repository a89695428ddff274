#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds with warnings as errors, runs every test
# twice (the normal build, then an AddressSanitizer + UndefinedBehaviorSanitizer build) and ends
# with one line "N passed, M failed" over both (non-zero exit on any failure).
# SEE2AI_BUILD_DIR / SEE2AI_ASAN_BUILD_DIR name the two build directories; extra arguments go to
# both `meson test` runs (e.g. a test name).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${SEE2AI_BUILD_DIR:-build}
asan_dir=${SEE2AI_ASAN_BUILD_DIR:-build-asan}

"$root/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }
"$root/scripts/build.sh" "$dir" || { echo "0 passed, 1 failed"; exit 1; }
"$root/scripts/build.sh" "$asan_dir" -Db_sanitize=address,undefined -Db_lundef=false ||
  { echo "0 passed, 1 failed"; exit 1; }

status=0
for build in "$dir" "$asan_dir"; do
  echo "== meson test -C $build"
  rm -rf "$build/tests/tmp"
  meson test -C "$build" --print-errorlogs --num-processes 1 "$@" || status=1
done

python3 "$root/scripts/test-summary.py" \
  "$dir/meson-logs/testlog.junit.xml" "$dir/meson-logs/testlog.json" \
  "$asan_dir/meson-logs/testlog.junit.xml" "$asan_dir/meson-logs/testlog.json"
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
