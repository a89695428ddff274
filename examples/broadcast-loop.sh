#!/usr/bin/env bash
# Broadcast-style background plate: one generated clip played in a loop, live, into HTTP Live
# Streaming segments (hlssink2). is-live=true stamps buffers in running time; loop=true starts the
# clip again at its end with continuous timestamps, so the stream never stops on its own.
#
# Usage: broadcast-loop.sh OUTDIR [SECONDS]    runs until Ctrl-C, or for SECONDS
# Writes OUTDIR/hls/playlist.m3u8 and OUTDIR/hls/segment-NNNNN.ts (one-second segments); serve
# OUTDIR/hls with any web server and open playlist.m3u8 in a player.
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
out=${1:?usage: broadcast-loop.sh OUTDIR [SECONDS]}
seconds=${2:-}
hls="$out/hls"
rm -rf "$hls"
mkdir -p "$hls"

# -e: Ctrl-C (SIGINT) sends EOS down the pipeline instead of stopping it at once, so hlssink2
# finishes the last segment and closes the playlist. With SECONDS, `timeout` sends that SIGINT.
bound=()
if [ -n "$seconds" ]; then
  bound=(timeout --foreground --signal=INT "$seconds")
fi
status=0
"${bound[@]}" gst-launch-1.0 -e \
  see2aivideosrc name=s prompt="waves rolling onto a quiet beach" duration=4 resolution=480p \
      is-live=true loop=true \
  s.video '!' videoconvert \
    '!' x264enc tune=zerolatency speed-preset=ultrafast key-int-max=24 '!' h264parse '!' hls.video \
  s.audio '!' audioconvert '!' audioresample '!' avenc_aac '!' aacparse '!' hls.audio \
  hlssink2 name=hls target-duration=1 max-files=0 playlist-length=0 \
      playlist-location="$hls/playlist.m3u8" location="$hls/segment-%05d.ts" || status=$?
# 124: timeout stopped the run, which is how a bounded run ends.
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ]; then
  exit "$status"
fi

# A bound shorter than the start and the generation leaves no segment: count none, not the pattern.
shopt -s nullglob
segments=("$hls"/segment-*.ts)
echo "Segments: ${#segments[@]}"
echo "Playlist: $hls/playlist.m3u8"
