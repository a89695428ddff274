// Fuzz target for the media path: the bytes as a finished GrowingFile, demuxed and decoded by
// ClipDecoder through its AVIOContext until the end. Bad media must end in one MediaError.
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

extern "C" {
#include <libavutil/log.h>
}

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "clip_decoder.h"
#include "fuzz_check.h"
#include "growing_file.h"

namespace {

// One scratch file per process, rewritten for every input.
std::string write_input(const uint8_t *data, size_t size) {
  static const std::string path = std::string(g_get_tmp_dir()) + "/see2ai-fuzz-clip-" +
                                  std::to_string(static_cast<long>(getpid())) + ".mp4";
  GError *error = nullptr;
  const bool written = g_file_set_contents(path.c_str(), reinterpret_cast<const char *>(data),
                                           static_cast<gssize>(size), &error);
  if (!written) {
    std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(), error->message);
    std::abort();
  }
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // libav explains every broken input on stderr; millions of runs need quiet.
  static const bool quiet = (av_log_set_level(AV_LOG_QUIET), true);
  (void)quiet;
  const std::string path = write_input(data, size);
  auto file = std::make_shared<see2ai::GrowingFile>(path);
  file->finish();
  try {
    see2ai::ClipDecoder decoder(file, 1);
    const see2ai::ClipInfo &info = decoder.info();
    FUZZ_CHECK(info.video || info.audio);
    while (std::optional<see2ai::DecodedFrame> frame = decoder.next()) {
      FUZZ_CHECK(frame->frame != nullptr);
      FUZZ_CHECK(frame->duration_ns >= 0);
    }
  } catch (const see2ai::MediaError &error) {
    FUZZ_CHECK(error.what()[0] != '\0');
    FUZZ_CHECK(!error.decode || size > 0);
  }
  g_unlink(path.c_str());
  return 0;
}
