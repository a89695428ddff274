#!/usr/bin/python3
# contact_sheet.py: a contact sheet of a storyboard: one frame of each shot, two seconds in, with
# its number and chapter title, tiled in one PNG (docs/shots-contact-sheet.png in the README).
# It starts the dev server from a build tree on a free loopback port, plays the storyboard through
# see2aivideosrc into an appsink, and tiles the frames it picked with a second small pipeline
# (appsrc ! pngenc), so the picture is exactly what the element played.
#
# Usage: scripts/contact_sheet.py [STORYBOARD.json] [OUTPUT.png]
#   defaults: examples/storyboard.json, docs/shots-contact-sheet.png
# SEE2AI_BUILD_DIR (default build) names the build tree (its dev server and plugin). Needs
# python3-gi and gir1.2-gstreamer-1.0.
import os
import subprocess
import sys
import tempfile

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402  (the version must be chosen before the import)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TILE_W, TILE_H = 320, 180
GAP = 4  # white pixels between tiles
PER_ROW = 4
PICK_NS = 2 * Gst.SECOND  # how far into its shot the frame is taken
KEY = "contact-sheet-key"


def start_dev_server(build, work):
    server = subprocess.Popen(
        [os.path.join(build, "devserver", "see2ai-devserver"), "--port", "0", "--key",
         f"{KEY}:1000000000", "--latency-ms", "500", "--output-dir", os.path.join(work, "files")],
        stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    prefix = "see2ai-devserver listening on "
    if not line.startswith(prefix):
        server.kill()
        raise RuntimeError(f"the dev server did not start: {line!r}")
    return server, line[len(prefix):].strip()


class Capture:
    """Plays the storyboard and keeps one frame per shot: the first at least PICK_NS into it (the
    shot's last frame when it is shorter)."""

    def __init__(self, storyboard, api_url, work):
        self.pipeline = Gst.parse_launch(
            f"see2aivideosrc name=src api-url={api_url} api-key={KEY} cache-dir={work}/cache "
            f"shots=\"{storyboard}\" duration=4 resolution=480p generate-audio=false "
            "src.video ! videoconvert ! videoscale add-borders=true "
            f"! video/x-raw,width={TILE_W},height={TILE_H},pixel-aspect-ratio=1/1 "
            "! textoverlay name=title valignment=bottom halignment=left shaded-background=true "
            "font-desc=\"Sans Bold 12\" ! videoconvert ! video/x-raw,format=RGB "
            "! appsink name=sink sync=false emit-signals=true")
        self.title = self.pipeline.get_by_name("title")
        self.shots = []  # (index, start_ns), in the order they went on air
        self.picked = {}  # shot index -> RGB bytes
        self.last = {}  # shot index -> its latest frame, for shots shorter than PICK_NS
        self.failed = None
        self.pipeline.get_by_name("sink").connect("new-sample", self.on_sample)

    def on_shot(self, _bus, message):
        """On the streaming thread, before the shot's first buffer leaves the element: the title
        is in place before any frame of the shot reaches the overlay."""
        structure = message.get_structure()
        if structure is None or structure.get_name() != "see2ai-shot":
            return
        _, index = structure.get_uint("index")
        _, start = structure.get_uint64("stream-time")
        self.shots.append((index, start))
        self.title.set_property("text", f"{index + 1}. {structure.get_string('title')}")

    def on_sample(self, sink):
        sample = sink.emit("pull-sample")
        buffer = sample.get_buffer()
        if not self.shots:
            return Gst.FlowReturn.OK
        index, start = self.shots[-1]
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if ok:
            frame = bytes(mapped.data)
            buffer.unmap(mapped)
            self.last[index] = frame
            if index not in self.picked and buffer.pts >= start + PICK_NS:
                self.picked[index] = frame
        return Gst.FlowReturn.OK

    def run(self):
        bus = self.pipeline.get_bus()
        bus.enable_sync_message_emission()
        bus.connect("sync-message::element", self.on_shot)
        self.pipeline.set_state(Gst.State.PLAYING)
        message = bus.timed_pop_filtered(600 * Gst.SECOND,
                                         Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if message is None:
            self.failed = "no end within 10 minutes"
        elif message.type == Gst.MessageType.ERROR:
            self.failed = message.parse_error()[0].message
        self.pipeline.set_state(Gst.State.NULL)
        return [self.picked.get(i, self.last.get(i)) for i, _ in self.shots]


def tile(frames, output):
    """The frames in rows of PER_ROW on white, written as a PNG by pngenc."""
    columns = min(PER_ROW, len(frames))
    rows = (len(frames) + columns - 1) // columns
    width = columns * TILE_W + (columns - 1) * GAP
    height = rows * TILE_H + (rows - 1) * GAP
    stride = (width * 3 + 3) // 4 * 4  # GStreamer's default RGB row stride
    tile_stride = (TILE_W * 3 + 3) // 4 * 4
    sheet = bytearray(b"\xff" * stride * height)
    for n, frame in enumerate(frames):
        x = (n % columns) * (TILE_W + GAP)
        y = (n // columns) * (TILE_H + GAP)
        for row in range(TILE_H):
            at = (y + row) * stride + x * 3
            sheet[at:at + TILE_W * 3] = frame[row * tile_stride:row * tile_stride + TILE_W * 3]
    pipeline = Gst.parse_launch(
        f"appsrc name=in caps=video/x-raw,format=RGB,width={width},height={height},"
        f"framerate=0/1 ! videoconvert ! pngenc ! filesink location=\"{output}\"")
    source = pipeline.get_by_name("in")
    pipeline.set_state(Gst.State.PLAYING)
    source.emit("push-buffer", Gst.Buffer.new_wrapped(bytes(sheet)))
    source.emit("end-of-stream")
    message = pipeline.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if message is None or message.type != Gst.MessageType.EOS:
        raise RuntimeError("writing the PNG failed")


def main(argv):
    storyboard = os.path.abspath(argv[1] if len(argv) > 1 else
                                 os.path.join(ROOT, "examples", "storyboard.json"))
    output = os.path.abspath(argv[2] if len(argv) > 2 else
                             os.path.join(ROOT, "docs", "shots-contact-sheet.png"))
    build = os.path.abspath(os.environ.get("SEE2AI_BUILD_DIR", os.path.join(ROOT, "build")))
    os.environ["GST_PLUGIN_PATH"] = os.path.join(build, "gst") + (
        os.pathsep + os.environ["GST_PLUGIN_PATH"] if os.environ.get("GST_PLUGIN_PATH") else "")
    Gst.init(None)
    with tempfile.TemporaryDirectory(prefix="see2ai-contact-sheet-") as work:
        server, api_url = start_dev_server(build, work)
        try:
            capture = Capture(storyboard, api_url, work)
            frames = capture.run()
        finally:
            server.terminate()
            server.wait()
    if capture.failed:
        print(f"error: {capture.failed}", file=sys.stderr)
        return 1
    if not frames or any(frame is None for frame in frames):
        print("error: a shot left no frame", file=sys.stderr)
        return 1
    tile(frames, output)
    print(f"Wrote {output} ({len(frames)} shots)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (GLib.Error, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
