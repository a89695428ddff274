// Storyboards and shots without a pipeline: the file format, the element's request as every
// shot's defaults, the error that names the shot and the field before anything is submitted, and
// the table of contents of a sequence.
#include <gtest/gtest.h>

#include <glib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "shot_chapters.h"
#include "storyboard.h"

using see2ai::GenerationRequest;
using see2ai::Shot;
using see2ai::ShotError;

namespace {

GenerationRequest defaults() {
  GenerationRequest request;
  request.prompt = "the default prompt";
  request.resolution = "480p";
  request.duration = 4;
  request.generate_audio = true;
  return request;
}

// The ShotError parse_storyboard throws for `json`, or a failure when it throws none.
ShotError shot_error_of(const std::string &json) {
  try {
    see2ai::parse_storyboard(json, defaults());
  } catch (const ShotError &error) {
    return error;
  }
  ADD_FAILURE() << "no ShotError for " << json;
  return ShotError(999, "", "none");
}

TEST(Storyboard, ShotsTakeTheirOwnFieldsAndTheDefaultsForTheRest) {
  std::vector<Shot> shots = see2ai::parse_storyboard(
      R"([{"prompt": "a fox wakes", "duration": 6},
          {"resolution": "720p", "generate_audio": false, "play": {"title": "Dawn"}},
          {"prompt": "the fox runs", "video_urls": ["https://example.com/a.mp4"],
           "play": {"continue": true}}])",
      defaults());
  ASSERT_EQ(shots.size(), 3u);
  EXPECT_EQ(*shots[0].request.prompt, "a fox wakes");
  EXPECT_EQ(shots[0].request.duration, 6);
  EXPECT_EQ(shots[0].request.resolution, "480p") << "the element's default";
  EXPECT_EQ(*shots[1].request.prompt, "the default prompt");
  EXPECT_EQ(shots[1].request.resolution, "720p");
  EXPECT_FALSE(shots[1].request.generate_audio);
  EXPECT_EQ(shots[1].play.title, "Dawn");
  EXPECT_FALSE(shots[1].play.continue_previous);
  EXPECT_TRUE(shots[2].play.continue_previous);
  EXPECT_EQ(shots[2].request.video_urls, std::vector<std::string>{"https://example.com/a.mp4"});
}

TEST(Storyboard, TitlesAreThePlayTitleElseThePromptElseTheShotsNumber) {
  Shot shot;
  EXPECT_EQ(see2ai::shot_title(shot, 2), "Shot 3");
  shot.request.prompt = "a fox";
  EXPECT_EQ(see2ai::shot_title(shot, 2), "a fox");
  shot.play.title = "Dawn";
  EXPECT_EQ(see2ai::shot_title(shot, 2), "Dawn");
}

TEST(Storyboard, ABrokenRuleNamesTheShotAndTheField) {
  ShotError error = shot_error_of(R"([{"prompt": "ok"}, {"duration": 99}])");
  EXPECT_EQ(error.index, 1u);
  EXPECT_EQ(error.field, "duration");
  EXPECT_NE(std::string(error.what()).find("shot 1, field \"duration\""), std::string::npos)
      << error.what();
}

TEST(Storyboard, ATypeErrorNamesTheShotAndTheField) {
  ShotError error = shot_error_of(R"([{"prompt": "ok"}, {"prompt": "ok"}, {"watermark": 3}])");
  EXPECT_EQ(error.index, 2u);
  EXPECT_EQ(error.field, "watermark");
}

TEST(Storyboard, AnUnknownFieldIsRefusedRatherThanIgnored) {
  ShotError error = shot_error_of(R"([{"promt": "a typo"}])");
  EXPECT_EQ(error.index, 0u);
  EXPECT_EQ(error.field, "promt");
}

TEST(Storyboard, PlayOptionsAreCheckedToo) {
  EXPECT_EQ(shot_error_of(R"([{"play": {"loop": true}}])").field, "play.loop");
  EXPECT_EQ(shot_error_of(R"([{"play": {"title": 5}}])").field, "play.title");
  EXPECT_EQ(shot_error_of(R"([{"play": 1}])").field, "play");
  EXPECT_EQ(shot_error_of(R"([{}, {"play": {"continue": "yes"}}])").field, "play.continue");
}

TEST(Storyboard, TheFirstShotCannotContinueAnything) {
  ShotError error = shot_error_of(R"([{"play": {"continue": true}}])");
  EXPECT_EQ(error.index, 0u);
  EXPECT_EQ(error.field, "play.continue");
}

TEST(Storyboard, AContinuityShotNeedsRoomForThePreviousClipAmongItsVideos) {
  ShotError error = shot_error_of(
      R"([{}, {"video_urls": ["https://e.com/1.mp4", "https://e.com/2.mp4", "https://e.com/3.mp4"],
               "play": {"continue": true}}])");
  EXPECT_EQ(error.index, 1u);
  EXPECT_EQ(error.field, "video_urls");
  EXPECT_NE(std::string(error.what()).find("continuing the previous shot"), std::string::npos)
      << error.what();
}

TEST(Storyboard, AContinuedRequestCarriesThePreviousClipAsAReferenceVideo) {
  Shot shot;
  shot.request.video_urls = {"https://e.com/own.mp4"};
  GenerationRequest request = see2ai::continued_request(shot, "http://127.0.0.1:1/files/t.mp4");
  EXPECT_EQ(request.video_urls,
            (std::vector<std::string>{"https://e.com/own.mp4", "http://127.0.0.1:1/files/t.mp4"}));
}

TEST(Storyboard, TextThatIsNotAnArrayOfShotsIsRefused) {
  for (const char *text : {"", "{}", "[]", "[1", "\"shots\""}) {
    EXPECT_THROW(see2ai::parse_storyboard(text, defaults()), std::invalid_argument) << text;
  }
  EXPECT_EQ(shot_error_of("[1]").index, 0u);
}

TEST(Storyboard, AFileThatCannotBeReadIsNamed) {
  try {
    see2ai::load_storyboard("/nonexistent/board.json", defaults());
    FAIL() << "no error";
  } catch (const std::invalid_argument &error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/board.json"), std::string::npos);
  }
}

TEST(Storyboard, AFileIsReadWhole) {
  const std::string path = std::string(g_get_tmp_dir()) + "/see2ai-storyboard-test.json";
  {
    std::ofstream out(path);
    out << R"([{"prompt": "one"}, {"prompt": "two"}])";
  }
  std::vector<Shot> shots = see2ai::load_storyboard(path, defaults());
  std::remove(path.c_str());
  ASSERT_EQ(shots.size(), 2u);
  EXPECT_EQ(*shots[1].request.prompt, "two");
}

}  // namespace

namespace {

// ShotChapters: the table of contents of a sequence, planned before the shots play.
TEST(ShotChapters, LaterShotsArePlannedAfterThePlayedOnesAndSkippedOnesLeave) {
  see2ai::ShotChapters chapters;
  constexpr uint64_t kSecond = 1000000000ull;
  chapters.plan(0, "one", see2ai::planned_shot_length_ns(4));
  chapters.plan(1, "two", see2ai::planned_shot_length_ns(-1));
  chapters.plan(2, "three", see2ai::planned_shot_length_ns(6));
  std::vector<see2ai::Chapter> table = chapters.chapters();
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table[1].start_ns, 4 * kSecond);
  EXPECT_EQ(table[1].stop_ns, 9 * kSecond) << "the model decides: planned as 5 s";
  EXPECT_EQ(table[2].stop_ns, 15 * kSecond);
  chapters.played(0, 0, 4 * kSecond + 1000);
  chapters.skipped(1);
  table = chapters.chapters();
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[1].index, 2u);
  EXPECT_EQ(table[1].title, "three");
  EXPECT_EQ(table[1].start_ns, 4 * kSecond + 1000) << "after the real end of the one before";
}

}  // namespace
