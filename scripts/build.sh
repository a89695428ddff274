#!/usr/bin/env bash
# Configures (once) and builds the project into a build directory (default: build).
# Usage: scripts/build.sh [BUILD_DIR] [extra meson options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
cd "$root"
if [ ! -f "$dir/build.ninja" ]; then
  setup_log=$(mktemp)
  meson setup "$dir" -Dwerror=true "$@" >"$setup_log" 2>&1 || { cat "$setup_log"; exit 1; }
  rm -f "$setup_log"
fi
log="$dir/compile.log"
meson compile -C "$dir" >"$log" 2>&1 || { tail -n 80 "$log"; echo "build failed (full log: $log)"; exit 1; }
