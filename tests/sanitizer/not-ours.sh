#!/bin/sh
# Stands in (by name, first in PATH of the sanitizer test build) for programs the tests start that
# are not ours: they get the preloaded ASan runtime so the ASan-built plugin loads into them, but
# their own exit-time leaks are not findings (our code's leaks are checked in the test processes).
name=$(basename "$0")
real=$(PATH="${PATH#*:}" command -v "$name") || { echo "$name: not found" >&2; exit 127; }
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" exec "$real" "$@"
