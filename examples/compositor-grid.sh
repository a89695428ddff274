#!/usr/bin/env bash
# A 2x2 grid of four generated clips. The four see2aivideosrc elements submit their requests when
# the pipeline starts, so the four clips are generated at the same time, not one after another.
# `compositor` places the pictures, `audiomixer` mixes the four sound tracks.
#
# Usage: compositor-grid.sh OUTDIR      writes OUTDIR/grid.mkv (640x360 H.264 + Opus)
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
out=${1:?usage: compositor-grid.sh OUTDIR}
mkdir -p "$out"

# Each tile is scaled to 320x180; the pad properties of compositor put tile N in its corner.
tile=(videoscale '!' 'video/x-raw,width=320,height=180')
# The four elements add their pads at the same time, each from its own thread. Linked straight to
# the mixer, gst-launch would request the mixer's pads from those threads at once, and two of them
# can pick the same new pad; an element in between (audioconvert) makes gst-launch link the mixer
# up front.

gst-launch-1.0 -e \
  compositor name=grid \
      sink_1::xpos=320 sink_2::ypos=180 sink_3::xpos=320 sink_3::ypos=180 \
    '!' videoconvert '!' x264enc speed-preset=ultrafast '!' mux. \
  audiomixer name=mix '!' audioconvert '!' opusenc '!' mux. \
  matroskamux name=mux '!' filesink location="$out/grid.mkv" \
  see2aivideosrc name=a prompt="a red fox in the snow" duration=4 resolution=480p \
    a.video '!' "${tile[@]}" '!' grid.sink_0  a.audio '!' audioconvert '!' mix.sink_0 \
  see2aivideosrc name=b prompt="a whale under the sea" duration=4 resolution=480p \
    b.video '!' "${tile[@]}" '!' grid.sink_1  b.audio '!' audioconvert '!' mix.sink_1 \
  see2aivideosrc name=c prompt="rain on a forest lake" duration=4 resolution=480p \
    c.video '!' "${tile[@]}" '!' grid.sink_2  c.audio '!' audioconvert '!' mix.sink_2 \
  see2aivideosrc name=d prompt="a sunrise over the desert" duration=4 resolution=480p \
    d.video '!' "${tile[@]}" '!' grid.sink_3  d.audio '!' audioconvert '!' mix.sink_3

echo "Wrote $out/grid.mkv"
