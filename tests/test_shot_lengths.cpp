// Where the ready shots of a sequence sit in stream time, for a seek and for the duration, without
// a pipeline: real MP4s rendered at test time, their lengths read with libav.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "clip_renderer.h"
#include "devserver_process.h"
#include "growing_file.h"
#include "shot_lengths.h"

namespace dev = see2ai::dev;
using see2ai::GrowingFile;
using see2ai::ShotLengths;

namespace {

constexpr uint64_t kSecond = 1000000000;

const std::string &scratch_dir() {
  static const std::string dir = see2ai::test::make_temp_dir("shot-lengths");
  return dir;
}

// A whole clip of `frames` pictures at 24 fps, with sound, rendered as `name`.
std::string render(const std::string &name, int frames) {
  dev::RenderSpec spec;
  spec.width = 160;
  spec.height = 90;
  spec.duration_s = frames / 24.0;
  spec.seed_text = name;
  const std::string path = scratch_dir() + "/" + name + ".mp4";
  dev::render_clip(spec, path);
  return path;
}

std::shared_ptr<GrowingFile> whole(const std::string &path) {
  auto file = std::make_shared<GrowingFile>(path);
  file->finish();
  return file;
}

// Three shots of 2 s, 1 s and 3 s.
std::vector<std::shared_ptr<GrowingFile>> three_shots() {
  static const std::vector<std::string> paths = {render("two", 48), render("one", 24),
                                                 render("three", 72)};
  return {whole(paths[0]), whole(paths[1]), whole(paths[2])};
}

}  // namespace

TEST(ShotLengths, ShotsArePlacedEndToEndByTheLengthOfTheirPicture) {
  ShotLengths lengths;
  const auto placed = lengths.place(three_shots());
  ASSERT_EQ(placed.size(), 3u);
  EXPECT_EQ(placed[0].start_ns, 0u);
  EXPECT_EQ(placed[0].length_ns, 2 * kSecond);
  EXPECT_EQ(placed[1].start_ns, 2 * kSecond);
  EXPECT_EQ(placed[1].length_ns, 1 * kSecond);
  EXPECT_EQ(placed[2].start_ns, 3 * kSecond);
  EXPECT_EQ(placed[2].length_ns, 3 * kSecond);
  for (size_t i = 0; i < placed.size(); ++i) EXPECT_EQ(placed[i].shot, i);
}

TEST(ShotLengths, ASeekLandsInTheShotThatHoldsItsTarget) {
  ShotLengths lengths;
  const auto files = three_shots();
  struct Case {
    uint64_t target;
    size_t shot;
    uint64_t start;
  };
  for (const Case &c :
       {Case{0, 0, 0}, Case{2 * kSecond - 1, 0, 0}, Case{2 * kSecond, 1, 2 * kSecond},
        Case{3 * kSecond, 2, 3 * kSecond}, Case{6 * kSecond - 1, 2, 3 * kSecond}}) {
    SCOPED_TRACE(c.target);
    auto landed = lengths.landing(files, c.target);
    ASSERT_TRUE(landed.has_value());
    EXPECT_EQ(landed->shot, c.shot);
    EXPECT_EQ(landed->start_ns, c.start);
    EXPECT_EQ(landed->file, files[c.shot]);
  }
  EXPECT_FALSE(lengths.landing(files, 6 * kSecond).has_value());
  // Only the first shot is on disk: a target past it has nowhere to land yet.
  EXPECT_FALSE(lengths.landing({files[0]}, 2 * kSecond).has_value());
}

TEST(ShotLengths, TheTotalIsKnownOnceEveryShotIsPlaced) {
  ShotLengths lengths;
  const auto files = three_shots();
  EXPECT_EQ(lengths.total(files, 3), static_cast<int64_t>(6 * kSecond));
  EXPECT_EQ(lengths.total(files, 4), -1);  // a fourth shot is not on disk yet
  EXPECT_EQ(lengths.total({files[0], files[1]}, 3), -1);
  EXPECT_EQ(lengths.total({}, 0), -1);
}

TEST(ShotLengths, AShotWhoseLengthCannotBeReadEndsThePlacing) {
  const std::string broken = scratch_dir() + "/broken.mp4";
  {
    std::ofstream out(broken, std::ios::binary | std::ios::trunc);
    out << "this is not an MP4 file, only its name says so";
  }
  ShotLengths lengths;
  const auto files = three_shots();
  const auto placed = lengths.place({files[0], whole(broken), files[2]});
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_FALSE(lengths.landing({files[0], whole(broken), files[2]}, 4 * kSecond).has_value());
  EXPECT_EQ(lengths.total({files[0], whole(broken), files[2]}, 3), -1);
}

TEST(ShotLengths, ALengthIsReadOnceAndForgottenByClear) {
  const std::string path = render("read-once", 36);
  const auto file = whole(path);
  ShotLengths lengths;
  EXPECT_EQ(lengths.total({file}, 1), static_cast<int64_t>(3 * kSecond / 2));
  // The file's bytes are overwritten in place: its remembered length still places it, until the
  // next run.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "no longer an MP4 file";
  }
  EXPECT_EQ(lengths.total({file}, 1), static_cast<int64_t>(3 * kSecond / 2));
  lengths.clear();
  EXPECT_EQ(lengths.total({file}, 1), -1);
}

TEST(ShotLengths, AShotLastsAsLongAsItsPictureElseItsFile) {
  see2ai::ClipInfo info;
  EXPECT_EQ(see2ai::shot_length_ns(info), -1);
  info.duration_ns = 5 * kSecond;
  EXPECT_EQ(see2ai::shot_length_ns(info), static_cast<int64_t>(5 * kSecond));
  info.video = see2ai::VideoStreamInfo{};
  info.video->duration_ns = 4 * kSecond;  // the sound runs on; the shot is trimmed to its picture
  EXPECT_EQ(see2ai::shot_length_ns(info), static_cast<int64_t>(4 * kSecond));
}
