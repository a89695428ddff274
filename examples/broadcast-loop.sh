#!/usr/bin/env bash
# Broadcast-style background plate: one generated clip played in a loop, live, into HTTP Live
# Streaming segments (hlssink2). is-live=true stamps buffers in running time; loop=true starts the
# clip again at its end with continuous timestamps, so the stream never stops on its own.
#
# Usage: broadcast-loop.sh OUTDIR [SECONDS]    (default 20 seconds)
# Writes OUTDIR/hls/playlist.m3u8 and OUTDIR/hls/segment-NNNNN.ts (one-second segments); serve
# OUTDIR/hls with any web server and open playlist.m3u8 in a player.
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
out=${1:?usage: broadcast-loop.sh OUTDIR [SECONDS]}
seconds=${2:-20}
hls="$out/hls"
rm -rf "$hls"
mkdir -p "$hls"

# The run is bounded in stream time: `identity eos-after=N` ends each branch after N buffers (24
# video frames a second; audiobuffersplit cuts the sound into 100 ms buffers, 10 a second), and the
# playlist is closed when both branches have ended. (Ctrl-C with `gst-launch-1.0 -e` cannot end
# it yet: the element does not act on the EOS event gst-launch sends it.)
# `clocksync` paces each branch to the clock: the element pushes a live stream as fast as it is
# taken, and hlssink2 takes it as fast as it can write, so without it the stream runs ahead of
# real time.
gst-launch-1.0 \
  see2aivideosrc name=s prompt="waves rolling onto a quiet beach" duration=4 resolution=480p \
      is-live=true loop=true \
  s.video '!' clocksync '!' identity eos-after=$((seconds * 24)) \
    '!' videoconvert '!' x264enc tune=zerolatency speed-preset=ultrafast key-int-max=24 \
    '!' h264parse '!' hls.video \
  s.audio '!' clocksync '!' audiobuffersplit output-buffer-duration=1/10 \
    '!' identity eos-after=$((seconds * 10)) \
    '!' audioconvert '!' audioresample '!' avenc_aac '!' aacparse '!' hls.audio \
  hlssink2 name=hls target-duration=1 max-files=0 playlist-length=0 \
      playlist-location="$hls/playlist.m3u8" location="$hls/segment-%05d.ts"

segments=("$hls"/segment-*.ts)
echo "Segments: ${#segments[@]}"
echo "Playlist: $hls/playlist.m3u8"
