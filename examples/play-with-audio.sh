#!/usr/bin/env bash
# Generates a 4 second clip with sound and plays it. see2aivideosrc has two pads, `video` and
# `audio`, that appear once the clip is ready; gst-launch links them by name (s.video, s.audio).
#
# Usage: play-with-audio.sh OUTDIR            headless: writes OUTDIR/clip.mkv (H.264 + Opus)
#        play-with-audio.sh OUTDIR display    shows it with autovideosink and autoaudiosink
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment (the element reads both) and the
# plugin on GST_PLUGIN_PATH (e.g. GST_PLUGIN_PATH=build/gst).
set -euo pipefail
out=${1:?usage: play-with-audio.sh OUTDIR [display]}
mode=${2:-file}
mkdir -p "$out"

if [ "$mode" = display ]; then
  video_out=(autovideosink)
  audio_out=(autoaudiosink)
  muxer=()
else
  # Both branches end in one Matroska file: "mux." refers to the element named mux.
  video_out=(x264enc speed-preset=ultrafast '!' mux.)
  audio_out=(opusenc '!' mux.)
  muxer=(matroskamux name=mux '!' filesink location="$out/clip.mkv")
fi

# -e: on Ctrl-C, end the file properly instead of cutting it.
gst-launch-1.0 -e \
  see2aivideosrc name=s prompt="a red fox running through snow" duration=4 resolution=480p \
  s.video '!' videoconvert '!' "${video_out[@]}" \
  s.audio '!' audioconvert '!' audioresample '!' "${audio_out[@]}" \
  "${muxer[@]}"

if [ "$mode" != display ]; then
  echo "Wrote $out/clip.mkv"
fi
