// Replays the committed fuzz corpora (tests/fuzz/corpus/<target>/) through the fuzz targets'
// entry points, built without libFuzzer: every input that once mattered keeps passing in CI.
#include <glib.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int see2ai_fuzz_task_output(const uint8_t *data, size_t size);
extern "C" int see2ai_fuzz_request(const uint8_t *data, size_t size);
extern "C" int see2ai_fuzz_clip_decoder(const uint8_t *data, size_t size);

namespace {

using FuzzEntry = int (*)(const uint8_t *, size_t);

std::vector<std::string> corpus_files(const std::string &target) {
  const std::string dir = std::string(SEE2AI_FUZZ_CORPUS_DIR) + "/" + target;
  std::vector<std::string> paths;
  GDir *listing = g_dir_open(dir.c_str(), 0, nullptr);
  if (!listing) return paths;
  while (const char *name = g_dir_read_name(listing)) paths.push_back(dir + "/" + name);
  g_dir_close(listing);
  return paths;
}

// Runs every corpus file of `target`; a crash or a broken invariant aborts the binary.
void replay(const std::string &target, FuzzEntry entry) {
  const std::vector<std::string> paths = corpus_files(target);
  ASSERT_FALSE(paths.empty()) << "no corpus for " << target;
  for (const std::string &path : paths) {
    gchar *contents = nullptr;
    gsize length = 0;
    ASSERT_TRUE(g_file_get_contents(path.c_str(), &contents, &length, nullptr)) << path;
    const int result = entry(reinterpret_cast<const uint8_t *>(contents), length);
    g_free(contents);
    EXPECT_EQ(result, 0) << path;
  }
}

}  // namespace

TEST(FuzzReplay, TaskOutputCorpusRunsClean) {
  replay("task_output", see2ai_fuzz_task_output);
}

TEST(FuzzReplay, RequestCorpusRunsClean) {
  replay("request", see2ai_fuzz_request);
}

TEST(FuzzReplay, ClipDecoderCorpusRunsClean) {
  replay("clip_decoder", see2ai_fuzz_clip_decoder);
}
