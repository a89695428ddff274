#!/bin/sh
# Builds the release tree (build-release/) and runs every benchmark case; the table goes
# to stdout and bench/RESULTS.md. Extra arguments go to bench/bench.py (e.g. --runs 7).
set -eu
cd "$(dirname "$0")/.."
if [ ! -d build-release ]; then
  meson setup build-release --buildtype=release -Dwerror=true
fi
ninja -C build-release devserver/see2ai-devserver gst/libgstsee2ai.so bench/see2ai-bench \
  bench/status-load
# Ahead of other work on a shared machine (where allowed: nice only warns otherwise); every
# process of the bench, the references included, inherits the same priority.
exec nice -n -10 python3 bench/bench.py --command "./bench/run.sh${*:+ $*}" "$@"
