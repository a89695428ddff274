#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds with warnings as errors, runs every test
# and ends with one line "N passed, M failed" (non-zero exit on any failure).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=${SEE2AI_BUILD_DIR:-build}

"$root/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }
"$root/scripts/build.sh" "$dir" || { echo "0 passed, 1 failed"; exit 1; }

rm -rf "$dir/tests/tmp"
meson test -C "$dir" --print-errorlogs --num-processes 1 "$@"
status=$?

python3 "$root/scripts/test-summary.py" "$dir/meson-logs/testlog.junit.xml" "$dir/meson-logs/testlog.json"
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
