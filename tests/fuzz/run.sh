#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, build dir build-fuzz) and runs each one
# for SECONDS (default 120) from its committed corpus plus what earlier runs found
# (build-fuzz/fuzz-work/<target>). A finding stops the run, its reproducer in
# build-fuzz/findings/<target>/. Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(task_output request clip_decoder)
dir=build-fuzz

if [ ! -f "$dir/build.ninja" ]; then
  setup_log=$(mktemp)
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzzing=true >"$setup_log" 2>&1 ||
    { cat "$setup_log"; exit 1; }
  rm -f "$setup_log"
fi
ninja -C "$dir" "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null

for target in "${targets[@]}"; do
  work="$dir/fuzz-work/$target"
  findings="$dir/findings/$target"
  mkdir -p "$work" "$findings"
  cp tests/fuzz/corpus/"$target"/* "$work"/
  echo "== fuzz_$target for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" "$work" \
    2>"$dir/fuzz-$target.log" || { tail -n 60 "$dir/fuzz-$target.log"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$dir/fuzz-$target.log"
done
