#!/usr/bin/python3
# see2ai_app.py: the smallest complete Python (PyGObject) application around see2aivideosrc. It
# builds the pipeline in code, links the element's pads when they appear and reports the bus.
#
# Usage: python3 see2ai_app.py [PROMPT]
# Needs python3-gi and gir1.2-gstreamer-1.0 (Debian/Ubuntu packages). The element reads
# SEE2AI_API_URL and SEE2AI_API_KEY from the environment; the plugin must be on GST_PLUGIN_PATH
# (e.g. GST_PLUGIN_PATH=build/gst). Exits 0 once the whole clip has played.
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402  (the version must be chosen before the import)


def add_branch(pipeline, convert_factory, name):
    """A converter and a sink for one kind of stream. fakesink throws the frames away; use
    autovideosink / autoaudiosink to watch and hear the clip."""
    convert = Gst.ElementFactory.make(convert_factory, name)
    sink = Gst.ElementFactory.make("fakesink", None)
    pipeline.add(convert)
    pipeline.add(sink)
    convert.link(sink)


def on_pad_added(_source, pad, pipeline):
    """The "video" and "audio" pads appear only when the clip is ready (the service decides
    whether there is sound), so they are linked here, not when the pipeline is built."""
    convert = pipeline.get_by_name(pad.get_name() + "-convert")
    if convert is not None and pad.link(convert.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
        print(f"cannot link the {pad.get_name()} pad", file=sys.stderr)


def print_element_message(structure):
    """see2ai-task: the task changed state; see2ai-result: the task ended, with what it cost."""
    if structure.get_name() == "see2ai-task":
        print(f"task {structure.get_string('task-id')}: {structure.get_string('state')}")
    elif structure.get_name() == "see2ai-result":
        _, total = structure.get_int64("total-tokens")
        _, input_tokens = structure.get_int64("input-tokens")
        _, output_tokens = structure.get_int64("output-tokens")
        _, from_cache = structure.get_boolean("from-cache")
        # A clip replayed from the local cache costs nothing now; the fields say what it first cost.
        if from_cache:
            print(f"tokens spent: 0 (replayed from the cache; it first cost {total})")
        else:
            print(f"tokens spent: {total} (input {input_tokens}, output {output_tokens})")


def print_error(message):
    """Errors carry details: the HTTP status says what to do (401: another key, 402: more
    balance, 400: fix the property the text names)."""
    error, _debug = message.parse_error()
    print(f"error: {error.message}", file=sys.stderr)
    details = message.parse_error_details()
    if details is not None and details.has_field("http-status-code"):
        print(f"http status: {details.get_uint('http-status-code')[1]}", file=sys.stderr)


def main():
    Gst.init(None)
    prompt = sys.argv[1] if len(sys.argv) > 1 else "a lighthouse on a cliff at dusk"

    source = Gst.ElementFactory.make("see2aivideosrc", "source")
    if source is None:
        print("see2aivideosrc not found: is the plugin on GST_PLUGIN_PATH?", file=sys.stderr)
        return 2
    source.set_property("prompt", prompt)
    source.set_property("duration", 4)
    Gst.util_set_object_arg(source, "resolution", "480p")

    pipeline = Gst.Pipeline.new("see2ai-app")
    pipeline.add(source)
    add_branch(pipeline, "videoconvert", "video-convert")
    add_branch(pipeline, "audioconvert", "audio-convert")
    source.connect("pad-added", on_pad_added, pipeline)

    # The request is submitted on the way to PAUSED; progress messages follow while it runs.
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    wanted = (Gst.MessageType.PROGRESS | Gst.MessageType.ELEMENT | Gst.MessageType.ERROR
              | Gst.MessageType.EOS)
    exit_code = 1
    while True:
        message = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, wanted)
        if message.type == Gst.MessageType.PROGRESS:
            _type, _code, text = message.parse_progress()
            print(f"progress: {text}")
        elif message.type == Gst.MessageType.ELEMENT:
            print_element_message(message.get_structure())
        elif message.type == Gst.MessageType.ERROR:
            print_error(message)
            break
        elif message.type == Gst.MessageType.EOS:
            print("done")
            exit_code = 0
            break
    pipeline.set_state(Gst.State.NULL)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
