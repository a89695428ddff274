#!/usr/bin/env bash
# Image to video: the clip starts on one picture and ends on another (first-frame-url and
# last-frame-url must be http(s) URLs the service can fetch). aspect-ratio stays "adaptive", so
# the clip takes the first picture's shape.
#
# Usage: image-to-video.sh OUTDIR FIRST_IMAGE_URL LAST_IMAGE_URL
# Writes every frame as OUTDIR/frames/frame-NNNNN.png, then OUTDIR/first-frame.png and
# OUTDIR/last-frame.png to compare with the two pictures.
# Needs SEE2AI_API_URL and SEE2AI_API_KEY in the environment and the plugin on GST_PLUGIN_PATH.
set -euo pipefail
usage="usage: image-to-video.sh OUTDIR FIRST_IMAGE_URL LAST_IMAGE_URL"
out=${1:?$usage}
first_url=${2:?$usage}
last_url=${3:?$usage}
rm -rf "$out/frames"
mkdir -p "$out/frames"

# One PNG per frame (compression-level=1: fast, the files are only looked at).
gst-launch-1.0 \
  see2aivideosrc name=s prompt="the first picture slowly turns into the second" \
      first-frame-url="$first_url" last-frame-url="$last_url" \
      duration=4 resolution=480p generate-audio=false \
  s.video '!' videoconvert '!' pngenc compression-level=1 \
      '!' multifilesink location="$out/frames/frame-%05d.png"

frames=("$out"/frames/frame-*.png)
cp "${frames[0]}" "$out/first-frame.png"
cp "${frames[-1]}" "$out/last-frame.png"
echo "Frames: ${#frames[@]}"
echo "First frame: $out/first-frame.png"
echo "Last frame: $out/last-frame.png"
