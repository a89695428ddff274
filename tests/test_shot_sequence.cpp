// The shots of a run without a pipeline: the sequence keeps each shot's playlist slot, runner job
// and chapter in step as shots are appended, and forgets them between runs.
#include <gtest/gtest.h>

#include <string>

#include "clip_playlist.h"
#include "shot_sequence.h"

namespace {

constexpr uint64_t kSecond = 1000000000;

}  // namespace

namespace {

// The runner is never started in these tests: nothing reaches the listener.
class NoListener : public see2ai::ShotRunner::Listener {
 public:
  see2ai::JobEvents &shot_events(size_t) override { return events_; }
  void shot_succeeded(size_t, const see2ai::JobResult &) override {}
  void shot_failed(size_t, const see2ai::ServiceError &) override {}

 private:
  see2ai::JobEvents events_;
};

see2ai::Shot shot_of(const std::string &prompt, int duration) {
  see2ai::Shot shot;
  shot.request.prompt = prompt;
  shot.request.duration = duration;
  return shot;
}

}  // namespace

TEST(ShotSequence, BetweenRunsNothingIsAppended) {
  see2ai::ClipPlaylist playlist;
  see2ai::ShotSequence shots(playlist);
  EXPECT_FALSE(shots.next_index().has_value());
  EXPECT_FALSE(shots.append(shot_of("too early", 4)).has_value());
  EXPECT_EQ(playlist.shot_count(), 0u);
  EXPECT_FALSE(shots.shot(0).request.prompt.has_value());
  EXPECT_TRUE(shots.chapters().empty());
}

TEST(ShotSequence, EveryShotHasAPlaylistSlotAJobAndAChapter) {
  see2ai::ClipPlaylist playlist;
  playlist.start(false, see2ai::ShotFailurePolicy::End);
  see2ai::ShotSequence shots(playlist);
  NoListener listener;
  shots.begin({}, listener, {shot_of("first", 4), shot_of("second", 6)});
  EXPECT_EQ(playlist.shot_count(), 2u);
  EXPECT_EQ(shots.next_index(), 2u);
  EXPECT_EQ(shots.shot(1).request.prompt, "second");

  EXPECT_EQ(shots.append(shot_of("third", 5)), 2u);
  EXPECT_EQ(playlist.shot_count(), 3u);
  EXPECT_EQ(shots.next_index(), 3u);
  auto chapters = shots.chapters();
  ASSERT_EQ(chapters.size(), 3u);
  EXPECT_EQ(chapters[2].title, "third");
  EXPECT_EQ(chapters[2].start_ns, 10 * kSecond);  // planned after 4 s and 6 s

  // The first shot played 3.5 s; the second failed: the third follows the first.
  shots.played(0, 0, 3500000000u);
  shots.skipped(1);
  chapters = shots.chapters();
  ASSERT_EQ(chapters.size(), 2u);
  EXPECT_EQ(chapters[0].stop_ns, 3500000000u);
  EXPECT_EQ(chapters[1].index, 2u);
  EXPECT_EQ(chapters[1].start_ns, 3500000000u);

  shots.end();
  EXPECT_FALSE(shots.next_index().has_value());
  EXPECT_FALSE(shots.append(shot_of("after the run", 4)).has_value());
  shots.end();  // idempotent
}

TEST(ShotSequence, ANewRunForgetsTheLastOnesChapters) {
  see2ai::ClipPlaylist playlist;
  see2ai::ShotSequence shots(playlist);
  NoListener listener;
  playlist.start(false, see2ai::ShotFailurePolicy::End);
  shots.begin({}, listener, {shot_of("old", 4), shot_of("older", 4)});
  shots.end();
  playlist.stop();
  playlist.start(false, see2ai::ShotFailurePolicy::End);
  shots.begin({}, listener, {shot_of("new", 4)});
  const auto chapters = shots.chapters();
  ASSERT_EQ(chapters.size(), 1u);
  EXPECT_EQ(chapters[0].title, "new");
  EXPECT_EQ(playlist.shot_count(), 1u);
}
