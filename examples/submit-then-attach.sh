#!/usr/bin/env bash
# Submit a generation in one run and pick the result up in another, e.g. after a restart, on
# another machine, or from a job queue. The service keeps the task; its id is all you need.
#
# Run 1 submits (sync=false: the request returns at once with a task id), prints the task id and
# stops. Run 2 attaches with task-id=<id>: it waits for the task, downloads the clip and plays it;
# it submits nothing and is not charged again.
#
# Usage: submit-then-attach.sh OUTDIR      writes OUTDIR/attached.mkv and OUTDIR/attach.log
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
out=${1:?usage: submit-then-attach.sh OUTDIR}
mkdir -p "$out"

# Run 1. `gst-launch-1.0 -m` prints every bus message; the element posts a "see2ai-task" message
# with the task id as soon as the service accepted the request. A coprocess lets us read those
# lines while the pipeline runs, and stop it (Ctrl-C: SIGINT) once the id is known.
coproc submit {
  exec gst-launch-1.0 -m \
    see2aivideosrc name=s sync=false prompt="a paper boat drifting down a river" \
        duration=4 resolution=480p \
    s.video '!' fakesink s.audio '!' fakesink 2>&1
}
# bash unsets submit_PID and the submit array when the coprocess ends: keep copies.
# shellcheck disable=SC2154  # coproc sets submit_PID
submit_pid=$submit_PID
exec {submit_output}<&"${submit[0]}"
task_id=""
while IFS= read -r line <&"$submit_output"; do
  if [[ $line =~ see2ai-task,\ task-id=\(string\)([^,]+), ]]; then
    task_id=${BASH_REMATCH[1]}
    break
  fi
done
kill -INT "$submit_pid" 2>/dev/null || true
wait "$submit_pid" || true
exec {submit_output}<&-
if [ -z "$task_id" ]; then
  echo "run 1 ended without a task id" >&2
  exit 1
fi
echo "Task id: $task_id"

# Run 2: attach. No prompt or other request property is needed: the task has them.
gst-launch-1.0 -m -e \
  see2aivideosrc name=s task-id="$task_id" \
  s.video '!' videoconvert '!' x264enc speed-preset=ultrafast '!' mux. \
  s.audio '!' audioconvert '!' opusenc '!' mux. \
  matroskamux name=mux '!' filesink location="$out/attached.mkv" >"$out/attach.log" 2>&1

# The see2ai-result message carries what the task cost.
tokens=$(grep -o 'see2ai-result, .*total-tokens=(gint64)[0-9]*' "$out/attach.log" |
  grep -o '[0-9]*$' || true)
echo "Attached to $task_id: wrote $out/attached.mkv, total tokens ${tokens:-unknown}"
