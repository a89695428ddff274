#!/usr/bin/python3
# ges_edit_chain.py: an automated editing chain with GStreamer Editing Services (GES). Three shots
# are generated from prompts by see2aivideosrc (as see2ai:// URIs), each trimmed to its best two
# seconds, joined with half-second crossfades, titled, and rendered to an MP4 (H.264 + AAC).
#
# Usage: python3 ges_edit_chain.py OUTPUT.mp4 [PROMPT PROMPT PROMPT]
# Needs python3-gi, gir1.2-gstreamer-1.0 and gir1.2-ges-1.0 (Debian/Ubuntu packages). The element
# reads SEE2AI_API_URL and SEE2AI_API_KEY from the environment; the plugin must be on
# GST_PLUGIN_PATH (e.g. GST_PLUGIN_PATH=build/gst). Each shot is paid once: GES opens every URI
# twice (to learn the clip, then to render it) and the second time plays from the cache.
import sys
import urllib.parse

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstPbutils", "1.0")
gi.require_version("GES", "1.0")
from gi.repository import GES, GLib, Gst, GstPbutils  # noqa: E402

SHOT_SECONDS = 4  # what is generated (the service's shortest clip)
KEEP_SECONDS = 2.0  # what is kept of each shot
SKIP_SECONDS = 1.0  # where the kept part starts in its shot
CROSSFADE_SECONDS = 0.5
TITLE_SECONDS = 1.5
WIDTH, HEIGHT, FPS = 854, 480, 24  # 480p, 16:9, the service's frame rate

DEFAULT_PROMPTS = [
    "a lighthouse on a cliff at dusk",
    "waves breaking on black rocks",
    "the lighthouse beam sweeping over the sea at night",
]


def shot_uri(prompt):
    """The path form of a generate URI: every property as NAME=VALUE, one per path segment. It
    survives tools that cut URIs at '?' (ges-launch-1.0); the query form
    see2ai://generate?prompt=...&duration=4 works everywhere else."""
    return "see2ai://generate/prompt={}/duration={}/resolution=480p/aspect-ratio=16:9".format(
        urllib.parse.quote(prompt, safe=""), SHOT_SECONDS)


def seconds(value):
    return int(value * Gst.SECOND)


def build_timeline(prompts):
    timeline = GES.Timeline.new_audio_video()
    for track in timeline.get_tracks():
        if isinstance(track, GES.VideoTrack):
            track.set_restriction_caps(Gst.Caps.from_string(
                f"video/x-raw,width={WIDTH},height={HEIGHT},framerate={FPS}/1"))
    # Overlapping clips of one layer get a crossfade (video) and a cross-mix (audio).
    timeline.set_auto_transition(True)
    titles = timeline.append_layer()  # the first layer is on top
    shots = timeline.append_layer()

    start = 0.0
    for prompt in prompts:
        # Generates the shot (or finds it in the cache) and learns its length and streams.
        asset = GES.UriClipAsset.request_sync(shot_uri(prompt))
        shots.add_asset(asset, seconds(start), seconds(SKIP_SECONDS), seconds(KEEP_SECONDS),
                        GES.TrackType.UNKNOWN)
        print(f"shot: {prompt!r}: {asset.get_duration() / Gst.SECOND:.2f} s generated, "
              f"{KEEP_SECONDS:.2f} s kept from {SKIP_SECONDS:.2f} s")
        start += KEEP_SECONDS - CROSSFADE_SECONDS

    title = GES.TitleClip()
    title.set_start(0)
    title.set_duration(seconds(TITLE_SECONDS))
    titles.add_clip(title)
    title.set_child_property("text", prompts[0])
    title.set_child_property("valignment", GES.TextVAlign.BOTTOM)
    title.set_child_property("font-desc", "Sans Bold 20")
    return timeline


def mp4_profile():
    container = GstPbutils.EncodingContainerProfile.new(
        "mp4", None, Gst.Caps.from_string("video/quicktime,variant=iso"), None)
    container.add_profile(GstPbutils.EncodingVideoProfile.new(
        Gst.Caps.from_string("video/x-h264"), None, None, 0))
    container.add_profile(GstPbutils.EncodingAudioProfile.new(
        Gst.Caps.from_string("audio/mpeg,mpegversion=4"), None, None, 0))
    return container


def render(timeline, output_path):
    pipeline = GES.Pipeline()
    pipeline.set_timeline(timeline)
    pipeline.set_render_settings(Gst.filename_to_uri(output_path), mp4_profile())
    pipeline.set_mode(GES.PipelineFlags.RENDER)

    loop = GLib.MainLoop()
    failed = []

    def on_message(_bus, message):
        if message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"error: {error.message} ({debug})", file=sys.stderr)
            failed.append(error)
            loop.quit()
        elif message.type == Gst.MessageType.PROGRESS:
            _type, _code, text = message.parse_progress()
            print(f"progress: {text}")

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return not failed


def main(argv):
    if len(argv) not in (2, 5):
        print("usage: ges_edit_chain.py OUTPUT.mp4 [PROMPT PROMPT PROMPT]", file=sys.stderr)
        return 2
    output_path = argv[1]
    prompts = argv[2:] if len(argv) == 5 else DEFAULT_PROMPTS
    Gst.init(None)
    GES.init()
    try:
        timeline = build_timeline(prompts)
    except GLib.Error as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    length = timeline.get_duration() / Gst.SECOND
    if not render(timeline, output_path):
        return 1
    print(f"Wrote {output_path} ({length:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
