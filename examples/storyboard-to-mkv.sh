#!/usr/bin/env bash
# A storyboard rendered to one Matroska file with chapters. see2aivideosrc reads the storyboard
# (shots=FILE: a JSON array of shots, each a request in the service's field names), generates the
# shots ahead of playback (max-parallel at a time) and plays them as one gapless stream. Before its
# first buffer it sends a table of contents with one chapter per shot (the shot's "play" title, else
# its prompt), which matroskamux writes into the file's Chapters.
#
# Usage: storyboard-to-mkv.sh OUTDIR [STORYBOARD.json]
# Writes OUTDIR/storyboard.mkv (H.264 + Opus). The default storyboard is storyboard.json next to
# this script: four 4 s 480p shots. The element's request properties (duration, resolution, ...)
# are the defaults of every field a shot leaves out.
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
out=${1:?usage: storyboard-to-mkv.sh OUTDIR [STORYBOARD.json]}
board=${2:-$(dirname "$0")/storyboard.json}
mkdir -p "$out"

# -e: on Ctrl-C, end the file properly (matroskamux writes its index and duration at the end).
gst-launch-1.0 -e \
  see2aivideosrc name=s shots="$board" duration=4 resolution=480p \
  s.video '!' videoconvert '!' x264enc speed-preset=ultrafast '!' mux. \
  s.audio '!' audioconvert '!' audioresample '!' opusenc '!' mux. \
  matroskamux name=mux '!' filesink location="$out/storyboard.mkv"

echo "Wrote $out/storyboard.mkv"
