#!/usr/bin/env bash
# The main job: installs, builds, starts the local SEE2AI dev server on a free loopback port and
# generates a clip from a prompt through a real gst-launch-1.0 pipeline with see2aivideosrc.
# Leaves out/clip.mp4 (H.264 + AAC) and out/frame.png, then stops the server.
# Usage: scripts/demo.sh ["prompt"] [duration-seconds]
# SEE2AI_BUILD_DIR (default build) and SEE2AI_DEMO_OUT (default out) move the build and the output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prompt=${1:-"a red fox running through snow"}
duration=${2:-5}
build=${SEE2AI_BUILD_DIR:-build}

"$root/scripts/install-deps.sh"
echo "Building..."
"$root/scripts/build.sh" "$build"
case "$build" in /*) ;; *) build="$root/$build" ;; esac

out=${SEE2AI_DEMO_OUT:-$root/out}
mkdir -p "$out/devserver"
rm -f "$out/clip.mp4" "$out/frame.png"
key="demo-key-$(date +%s)"

"$build/devserver/see2ai-devserver" --port 0 --key "$key:1000000000" --latency-ms 4000 \
  --output-dir "$out/devserver" --log "$out/devserver/requests.jsonl" >"$out/devserver.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null' EXIT

url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.:]*' "$out/devserver.log" | head -n1 || true)
  [ -n "$url" ] && break
  kill -0 $server_pid 2>/dev/null || { cat "$out/devserver.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the dev server did not start"; cat "$out/devserver.log"; exit 1; }
echo "Dev server: $url"

export GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export SEE2AI_API_KEY="$key"
gst-launch-1.0 -e \
  see2aivideosrc api-url="$url" prompt="$prompt" duration="$duration" resolution=480p \
      cache-dir="$out/cache" name=src \
  src.video ! tee name=t \
    t. ! queue ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast ! h264parse \
       ! queue ! mux.video_0 \
    t. ! queue ! videorate ! video/x-raw,framerate=1/1 ! videoconvert ! pngenc \
       ! multifilesink location="$out/frame.png" \
  src.audio ! queue ! audioconvert ! audioresample ! avenc_aac ! aacparse ! queue ! mux.audio_0 \
  mp4mux name=mux ! filesink location="$out/clip.mp4"

echo
echo "Clip:  $out/clip.mp4 ($(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out/clip.mp4") s)"
echo "Frame: $out/frame.png"
