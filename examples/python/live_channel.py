#!/usr/bin/python3
# live_channel.py: a live channel of generated shots into HTTP Live Streaming. see2aivideosrc runs
# live (is-live=true) and loops the shot on air (loop=true) until the next one is ready; the
# application appends a shot every few seconds with the element's append-shot action signal, and
# each goes on air at the end of a loop of the one before it (shot-switch=loop-end, the default),
# so the channel never stops and never goes black. Each switch is the element's see2ai-shot bus
# message; this program prints it, and stops (EOS, so the playlist is finished) once the last shot
# has been on air for a moment.
#
# Usage: python3 live_channel.py API_URL OUTDIR [SHOTS] [INTERVAL_S]
# Writes OUTDIR/hls/playlist.m3u8 and OUTDIR/hls/segment-NNNNN.ts (H.264, one-second segments).
# SHOTS (default 3): the shots that go on air, the first one included; SHOTS - 1 are appended,
# one every INTERVAL_S seconds (default 2). Needs python3-gi and gir1.2-gstreamer-1.0 (Debian/Ubuntu
# packages); the key comes from SEE2AI_API_KEY; the plugin must be on GST_PLUGIN_PATH (e.g.
# GST_PLUGIN_PATH=build/gst).
import os
import shutil
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402  (the version must be chosen before the import)

PROMPTS = [
    "a quiet harbour at dawn, boats at anchor",
    "fishermen unloading crates on the quay",
    "gulls circling over the market stalls",
    "the harbour lights coming on at dusk",
    "rain on the harbour at night",
]
LINGER_S = 2  # how long the last shot stays on air before the stream ends


def prompt_of(index):
    return f"{PROMPTS[index % len(PROMPTS)]} (shot {index})"


def build_pipeline(api_url, hls_dir):
    # 4 s 480p shots without sound: the element's request properties are the defaults of every
    # appended shot. zerolatency keeps the encoder from holding frames back, as a live encoder
    # should; hlssink2 cuts a segment at each key frame past its target duration.
    description = (
        f"see2aivideosrc name=src api-url={api_url} is-live=true loop=true duration=4 "
        f"resolution=480p generate-audio=false prompt=\"{prompt_of(0)}\" "
        "src.video ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=24 "
        "! h264parse ! hls.video "
        "hlssink2 name=hls target-duration=1 max-files=0 playlist-length=0 "
        f"playlist-location={hls_dir}/playlist.m3u8 location={hls_dir}/segment-%05d.ts")
    return Gst.parse_launch(description)


class Channel:
    def __init__(self, pipeline, shots, interval_s):
        self.pipeline = pipeline
        self.source = pipeline.get_by_name("src")
        self.shots = shots
        self.interval_s = interval_s
        self.appended = 0  # shots appended so far (shot 0 is the element's own prompt)
        self.on_air = []  # indexes, in the order they went on air
        self.ending = False
        self.failed = False
        self.loop = GLib.MainLoop()

    def append_next(self):
        """Appends one shot; the element generates it ahead while the current one loops."""
        index = self.appended + 1
        shot = Gst.Structure.new_empty("shot")
        shot.set_value("prompt", prompt_of(index))
        shot.set_value("title", f"Shot {index}")
        if not self.source.emit("append-shot", shot):
            print(f"shot {index} refused", file=sys.stderr)
            self.failed = True
            self.loop.quit()
            return GLib.SOURCE_REMOVE
        self.appended += 1
        print(f"appended shot {index}: {prompt_of(index)!r}", flush=True)
        return GLib.SOURCE_CONTINUE if self.appended < self.shots - 1 else GLib.SOURCE_REMOVE

    def end(self):
        """EOS from the source down: the encoder drains and hlssink2 finishes the last segment and
        writes #EXT-X-ENDLIST."""
        self.pipeline.send_event(Gst.Event.new_eos())
        return GLib.SOURCE_REMOVE

    def on_shot(self, structure):
        _, index = structure.get_uint("index")
        _, stream_time = structure.get_uint64("stream-time")
        print(f"on air: shot {index} at {stream_time / Gst.SECOND:.3f} s, task "
              f"{structure.get_string('task-id')}, title {structure.get_string('title')!r}",
              flush=True)
        self.on_air.append(index)
        if len(self.on_air) == self.shots and not self.ending:
            self.ending = True
            GLib.timeout_add_seconds(LINGER_S, self.end)

    def on_message(self, _bus, message):
        if message.type == Gst.MessageType.ELEMENT:
            structure = message.get_structure()
            if structure is not None and structure.get_name() == "see2ai-shot":
                self.on_shot(structure)
        elif message.type == Gst.MessageType.WARNING:
            # A shot that failed is skipped (shot-failure=auto skips when live): the channel goes
            # on with the shot on air.
            warning, _debug = message.parse_warning()
            print(f"warning: {warning.message}", file=sys.stderr)
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"error: {error.message} ({debug})", file=sys.stderr)
            self.failed = True
            self.loop.quit()
        elif message.type == Gst.MessageType.EOS:
            self.loop.quit()

    def run(self):
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)
        self.pipeline.set_state(Gst.State.PLAYING)
        if self.shots > 1:
            GLib.timeout_add(int(self.interval_s * 1000), self.append_next)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)
        bus.remove_signal_watch()
        return not self.failed


def main(argv):
    if len(argv) not in (3, 4, 5):
        print("usage: live_channel.py API_URL OUTDIR [SHOTS] [INTERVAL_S]", file=sys.stderr)
        return 2
    api_url, out = argv[1], argv[2]
    shots = int(argv[3]) if len(argv) > 3 else 3
    interval_s = float(argv[4]) if len(argv) > 4 else 2.0
    if shots < 1 or interval_s <= 0:
        print("SHOTS must be at least 1 and INTERVAL_S positive", file=sys.stderr)
        return 2
    hls_dir = os.path.join(out, "hls")
    shutil.rmtree(hls_dir, ignore_errors=True)
    os.makedirs(hls_dir)
    Gst.init(None)
    channel = Channel(build_pipeline(api_url, hls_dir), shots, interval_s)
    if not channel.run():
        return 1
    print(f"Shots on air: {len(channel.on_air)}")
    print(f"Playlist: {hls_dir}/playlist.m3u8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
