// Writes the tiny MP4s of tests/fuzz/corpus/clip_decoder with the dev server's renderer: every
// layout, with and without sound, so the fuzzer starts from each path of the demuxer.
#include <cstdio>
#include <exception>
#include <string>

#include "clip_renderer.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  struct Variant {
    const char *name;
    see2ai::dev::Mp4Layout layout;
    see2ai::dev::AudioTrack audio;
  };
  const Variant variants[] = {
      {"faststart_mono", see2ai::dev::Mp4Layout::Faststart, see2ai::dev::AudioTrack::Mono},
      {"moov_at_end_silent", see2ai::dev::Mp4Layout::MoovAtEnd, see2ai::dev::AudioTrack::None},
      {"fragmented_stereo", see2ai::dev::Mp4Layout::Fragmented, see2ai::dev::AudioTrack::Stereo},
  };
  try {
    for (const Variant &variant : variants) {
      see2ai::dev::RenderSpec spec;
      spec.width = 64;
      spec.height = 64;
      spec.duration_s = 0.25;
      spec.audio = variant.audio;
      spec.sample_rate = 8000;
      spec.layout = variant.layout;
      spec.seed_text = variant.name;
      see2ai::dev::render_clip(spec, dir + "/" + variant.name + ".mp4");
    }
  } catch (const std::exception &error) {
    std::fprintf(stderr, "%s\n", error.what());
    return 1;
  }
  return 0;
}
